/*
 * pull.c: download an instance's files, from a local directory (the
 * `local` provider without sshd) or over SFTP, through one walker that
 * keeps the rules whatever the source:
 * - nothing is written outside --local: every entry name is checked
 *   (pull_name_check: never empty, '.', '..', a '/' or a NUL inside, which
 *   only a hostile server sends and which aborts the pull; names with
 *   control characters, or longer than NAME_MAX, are skipped and counted
 *   as refused), every
 *   destination directory is opened relative to its parent with
 *   O_NOFOLLOW, and a symlink in the destination is refused;
 * - the remote path may not contain '..'; no symlink is followed in the
 *   source: symlinks in the tree are skipped and counted, whether they
 *   point inside it or out, relative or absolute (not recreated: a link
 *   made here could later be followed by whoever reads the download);
 *   a remote path that is itself a symlink is refused;
 * - each file is written to a temporary name (".NAME.gr-part"), made
 *   fresh with O_EXCL, and renamed when complete and synced; a pull that
 *   fails or times out removes its temporary file, and one that was killed
 *   leaves one that the next run replaces;
 * - a file already identical is skipped, so a pull cut off halfway can be
 *   re-run and finishes: from a local directory, same size and SHA-256;
 *   over SFTP, same size and modification time (each file pulled takes
 *   the remote mtime), as hashing would download every file again;
 * - the pull timeout covers the whole pull, every SFTP call included, and
 *   counts monotonic time (a wall clock stepped either way changes
 *   nothing);
 * - what a hostile source can cost is bounded: the listings held at once
 *   (a directory's and its parents') by PULL_HELD_MAX bytes, a file by the
 *   size it had when opened (and refused up front when that passes the
 *   free space), the depth by PULL_DEPTH_MAX;
 * - a file keeps the source's permission bits under the umask (owner rw
 *   always), so one kept private there is not readable by all here;
 * - names are shown escaped (C0, DEL, C1 raw or as UTF-8, bytes that are
 *   not UTF-8), in warnings and in errors alike.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "reconciler.h"

#define PULL_CHUNK	(256 * 1024)
#define PULL_DEPTH_MAX	64
/*
 * The memory the listings of the directories being walked may hold at
 * once (a directory's and its parents'): a hostile server can send
 * endless entries with 4 KiB names, in every one of 64 nested levels.
 */
#define PULL_HELD_MAX	((size_t)256 << 20)

static size_t	 pull_held_max = PULL_HELD_MAX;

void
pull_set_held_max(size_t bytes)
{
	pull_held_max = bytes > 0 ? bytes : PULL_HELD_MAX;
}

enum ent_type {
	ENT_REG = 0,
	ENT_DIR,
	ENT_LINK,
	ENT_OTHER,
};

struct ent {
	char		*name;		/* owned */
	size_t		 name_len;	/* as the source gave it */
	enum ent_type	 type;
	uint64_t	 size;
	int64_t		 mtime;		/* seconds */
	bool		 has_mtime;
	bool		 has_size;
	unsigned int	 perm;		/* 0777 bits; 0: unknown */
};

struct pull;

static char	*path_shown(const char *);

/*
 * A source of files.  rel is a path relative to the remote target ("" is
 * the target itself), made of names that passed pull_name_check.
 */
struct src_ops {
	int	(*top)(struct pull *, struct ent *);
	int	(*list)(struct pull *, const char *rel, struct ent **,
		    size_t *);
	/* st: the open file, not what the listing said */
	int	(*open)(struct pull *, const char *rel, void **fh,
		    struct ent *st);
	ssize_t	(*read)(struct pull *, void *fh, void *buf, size_t);
	void	(*close)(struct pull *, void *fh);
	/* is dname in dstdir already the same as the open file? */
	bool	(*same)(struct pull *, void *fh, const struct ent *st,
		    int dstdir, const char *dname);
	bool	 keep_mtime;		/* give written files the remote mtime */
};

struct pull {
	const struct src_ops *ops;
	struct pull_stats *st;
	int64_t		 deadline_ms;
	int64_t		 timeout_ms;
	bool		 progress;
	const char	*what;		/* the remote path, for messages */
	struct gr_err	*e;
	int64_t		 shown_ms;	/* progress last printed */
	size_t		 held;		/* bytes of listings held now */
	/* local source */
	int		 ldir;		/* the target's parent, or itself */
	const char	*llast;		/* the target in ldir; NULL: ldir */
	/* SFTP source */
	struct ssh_conn	*conn;
	char		*base;		/* owned; the remote target */
	char		*top_name;	/* owned; its last name */
};

static void
ents_free(struct ent *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

enum pull_name
pull_name_check(const char *name, size_t len)
{
	size_t	 i;

	if (len == 0 || strlen(name) != len || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/') != NULL)
		return PULL_NAME_HOSTILE;
	/* no file here can have it: skip it, the rest can still come */
	if (len > NAME_MAX)
		return PULL_NAME_ODD;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] == 0x7f)
			return PULL_NAME_ODD;
	return PULL_NAME_OK;
}

static void
pull_progress(struct pull *pl, bool last)
{
	if (!pl->progress)
		return;
	fprintf(stderr, "\rpulled %zu file%s (%.1f MiB), %zu unchanged%s",
	    pl->st->files, pl->st->files == 1 ? "" : "s",
	    (double)pl->st->bytes / (1024.0 * 1024.0), pl->st->skipped,
	    last ? "\n" : "");
}

static void
timed_out(struct pull *pl, const char *rel)
{
	char	 d[32];

	gr_err_set(pl->e, GR_E_TIMEOUT, "pull '%s': gave up after the pull "
	    "timeout (%s) while copying '%s'", pl->what,
	    duration_fmt(pl->timeout_ms > 0 ? pl->timeout_ms / 1000 : 0, d,
	    sizeof(d)), *rel != '\0' ? rel : pl->what);
	gr_err_hint(pl->e, "run pull again: files already complete are "
	    "skipped (or raise timeouts.pull in the config)");
}

/* Copy what fits of src, always terminated. */
static void
copy_text(char *dst, size_t size, const char *src)
{
	size_t	 n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static char *
rel_join(const char *rel, const char *name)
{
	return *rel == '\0' ? xstrdup(name) : xasprintf("%s/%s", rel, name);
}

/*
 * The local source: a directory of this machine, walked one name at a
 * time with O_NOFOLLOW.
 */

static bool
fd_sha256(int fd, char out[65])
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned char	*buf, md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	ssize_t		 n;
	bool		 ok = false;

	buf = xmalloc(PULL_CHUNK);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if (lseek(fd, 0, SEEK_SET) == -1)
		goto out;
	while ((n = read(fd, buf, PULL_CHUNK)) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
	if (n == -1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	ok = lseek(fd, 0, SEEK_SET) == 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void
stat_to_ent(const struct stat *sb, struct ent *en)
{
	en->type = S_ISREG(sb->st_mode) ? ENT_REG : S_ISDIR(sb->st_mode) ?
	    ENT_DIR : S_ISLNK(sb->st_mode) ? ENT_LINK : ENT_OTHER;
	en->size = (uint64_t)sb->st_size;
	en->mtime = sb->st_mtim.tv_sec;
	en->has_mtime = true;
	en->has_size = true;
	en->perm = (unsigned int)(sb->st_mode & 0777);
}

/* Open rel under the target (flags for the last name), no link followed. */
static int
loc_open_rel(struct pull *pl, const char *rel, int flags)
{
	char	*copy, *comp, *save = NULL, *next;
	int	 dir, fd;

	if (pl->llast == NULL)
		dir = dup(pl->ldir);
	else if (*rel == '\0')
		return openat(pl->ldir, pl->llast, flags | O_NOFOLLOW |
		    O_CLOEXEC);
	else
		dir = openat(pl->ldir, pl->llast, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
	if (dir == -1 || *rel == '\0') {
		if (dir != -1 && (flags & O_DIRECTORY) == 0) {
			close(dir);
			errno = EISDIR;
			return -1;
		}
		return dir;
	}
	copy = xstrdup(rel);
	comp = strtok_r(copy, "/", &save);
	while (comp != NULL) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dir, comp, (next != NULL ? O_RDONLY | O_DIRECTORY :
		    flags) | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		dir = fd;
		if (dir == -1)
			break;
		comp = next;
	}
	free(copy);
	return dir;
}

static int
loc_top(struct pull *pl, struct ent *en)
{
	struct stat	 sb;
	int		 rc;

	rc = pl->llast == NULL ? fstat(pl->ldir, &sb) :
	    fstatat(pl->ldir, pl->llast, &sb, AT_SYMLINK_NOFOLLOW);
	if (rc == -1) {
		gr_err_set(pl->e, GR_E_NOT_FOUND, "pull: no '%s' on the "
		    "instance", pl->what);
		return -1;
	}
	stat_to_ent(&sb, en);
	return 0;
}

static void
listing_too_big(struct pull *pl, const char *rel)
{
	gr_err_set(pl->e, GR_E_IO, "pull '%s': listing '%s' would hold more "
	    "than %zu KiB of names at once", pl->what, *rel != '\0' ? rel :
	    ".", pull_held_max / 1024);
	gr_err_hint(pl->e, "a directory this large is not pulled whole; "
	    "pull its subdirectories one by one");
}

static int
loc_list(struct pull *pl, const char *rel, struct ent **vp, size_t *np)
{
	struct ent	*v = NULL;
	struct dirent	*de;
	struct stat	 sb;
	DIR		*d;
	size_t		 n = 0, cost = 0;
	int		 fd;

	fd = loc_open_rel(pl, rel, O_RDONLY | O_DIRECTORY);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': list '%s': %s",
		    pl->what, rel, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;	/* gone meanwhile */
		cost += ssh_dirent_cost(strlen(de->d_name));
		if (pl->held + cost > pull_held_max) {
			listing_too_big(pl, rel);
			closedir(d);
			ents_free(v, n);
			return -1;
		}
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n].name = xstrdup(de->d_name);
		v[n].name_len = strlen(de->d_name);
		stat_to_ent(&sb, &v[n]);
		n++;
	}
	closedir(d);
	*vp = v;
	*np = n;
	return 0;
}

static int
loc_open(struct pull *pl, const char *rel, void **fh, struct ent *st)
{
	struct stat	 sb;
	int		 fd;

	/* O_NONBLOCK: a file swapped for a FIFO since it was listed must
	 * not block the open (its type is checked next, and refused) */
	fd = loc_open_rel(pl, rel, O_RDONLY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &sb) == -1) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': read '%s': %s",
		    pl->what, *rel != '\0' ? rel : pl->what, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	stat_to_ent(&sb, st);
	*fh = (void *)(intptr_t)fd;
	return 0;
}

static ssize_t
loc_read(struct pull *pl, void *fh, void *buf, size_t len)
{
	ssize_t	 n;

	do
		n = read((int)(intptr_t)fh, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		gr_err_set(pl->e, GR_E_IO, "pull '%s': read: %s", pl->what,
		    strerror(errno));
	return n;
}

static void
loc_close(struct pull *pl, void *fh)
{
	(void)pl;
	close((int)(intptr_t)fh);
}

static bool
loc_same(struct pull *pl, void *fh, const struct ent *st, int dstdir,
    const char *dname)
{
	struct stat	 ds;
	char		 a[65], b[65];
	int		 fd;
	bool		 same;

	(void)pl;
	if (fstatat(dstdir, dname, &ds, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(ds.st_mode) || (uint64_t)ds.st_size != st->size)
		return false;
	fd = openat(dstdir, dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return false;
	same = fd_sha256(fd, a) && fd_sha256((int)(intptr_t)fh, b) &&
	    strcmp(a, b) == 0;
	close(fd);
	return same;
}

static const struct src_ops local_src = {
	.top = loc_top,
	.list = loc_list,
	.open = loc_open,
	.read = loc_read,
	.close = loc_close,
	.same = loc_same,
	.keep_mtime = false,
};

/*
 * The SFTP source.
 */

static char *
sftp_path(struct pull *pl, const char *rel)
{
	if (*rel == '\0')
		return xstrdup(pl->base);
	if (strcmp(pl->base, "/") == 0)
		return xasprintf("/%s", rel);
	return xasprintf("%s/%s", pl->base, rel);
}

static void
ssh_to_ent(const struct ssh_stat *s, struct ent *en)
{
	en->type = s->type == SSH_F_REG ? ENT_REG : s->type == SSH_F_DIR ?
	    ENT_DIR : s->type == SSH_F_LINK ? ENT_LINK : ENT_OTHER;
	en->size = s->size;
	en->mtime = s->mtime;
	en->has_mtime = s->has_mtime;
	en->has_size = s->has_size;
	en->perm = s->perm;
}

static int
sftp_top(struct pull *pl, struct ent *en)
{
	struct ssh_stat	 s;

	if (ssh_sftp_lstat(pl->conn, pl->base, &s, pl->e) == -1) {
		if (pl->e->code == GR_E_NOT_FOUND)
			gr_err_set(pl->e, GR_E_NOT_FOUND, "pull: no '%s' on "
			    "the instance", pl->what);
		return -1;
	}
	ssh_to_ent(&s, en);
	return 0;
}

static int
sftp_list(struct pull *pl, const char *rel, struct ent **vp, size_t *np)
{
	struct ssh_dirent	*d;
	struct ent		*v = NULL;
	size_t			 n, i, k = 0;
	char			*path = sftp_path(pl, rel);
	int			 rc;

	rc = ssh_sftp_list(pl->conn, path, pull_held_max > pl->held ?
	    pull_held_max - pl->held : 0, &d, &n, pl->e);
	free(path);
	if (rc == -1)
		return -1;
	for (i = 0; i < n; i++) {
		/* the directory itself and its parent, as servers send */
		if (d[i].name_len == strlen(d[i].name) &&
		    (strcmp(d[i].name, ".") == 0 ||
		    strcmp(d[i].name, "..") == 0))
			continue;
		v = xreallocarray(v, k + 1, sizeof(*v));
		v[k].name = d[i].name;
		d[i].name = NULL;
		v[k].name_len = d[i].name_len;
		ssh_to_ent(&d[i].st, &v[k]);
		k++;
	}
	ssh_dirents_free(d, n);
	*vp = v;
	*np = k;
	return 0;
}

static int
sftp_open(struct pull *pl, const char *rel, void **fh, struct ent *st)
{
	struct ssh_file	*f;
	struct ssh_stat	 s;
	char		*path = sftp_path(pl, rel);
	int		 rc;

	rc = ssh_sftp_open(pl->conn, path, &f, &s, pl->e);
	free(path);
	if (rc == -1)
		return -1;
	ssh_to_ent(&s, st);
	*fh = f;
	return 0;
}

static ssize_t
sftp_read(struct pull *pl, void *fh, void *buf, size_t len)
{
	return ssh_sftp_read(fh, buf, len, pl->e);
}

static void
sftp_close(struct pull *pl, void *fh)
{
	(void)pl;
	ssh_sftp_close(fh);
}

static bool
sftp_same(struct pull *pl, void *fh, const struct ent *st, int dstdir,
    const char *dname)
{
	struct stat	 ds;

	(void)pl;
	(void)fh;
	return st->has_mtime &&
	    fstatat(dstdir, dname, &ds, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(ds.st_mode) && (uint64_t)ds.st_size == st->size &&
	    ds.st_mtim.tv_sec == st->mtime;
}

static const struct src_ops sftp_src = {
	.top = sftp_top,
	.list = sftp_list,
	.open = sftp_open,
	.read = sftp_read,
	.close = sftp_close,
	.same = sftp_same,
	.keep_mtime = true,
};

/*
 * The walker: the destination side, the same for every source.
 */

/*
 * The temporary name for dname: ".NAME.gr-part", or when that would pass
 * NAME_MAX (a name of 247 bytes or more), ".gr-part-" and a hash of it.
 * Both are the same from one run to the next, so a killed pull's leftover
 * is found and replaced.
 */
static char *
part_name(const char *dname)
{
	char	 hex[65];

	if (strlen(dname) + sizeof(".gr-part") <= NAME_MAX)
		return xasprintf(".%s.gr-part", dname);
	sha256_hex(dname, strlen(dname), hex);
	hex[32] = '\0';
	return xasprintf(".gr-part-%s", hex);
}

static int
copy_file(struct pull *pl, const char *rel, int dstdir, const char *dname)
{
	struct ent	 st;
	struct timespec	 ts[2];
	char		*buf = NULL, *tmp = NULL;
	const char	*shown = *rel != '\0' ? rel : pl->what;
	struct statvfs	 vfs;
	void		*fh;
	uint64_t	 got = 0;
	size_t		 want;
	ssize_t		 n, w, off;
	int		 out = -1, rc = -1;

	if (pl->ops->open(pl, rel, &fh, &st) == -1)
		return -1;
	if (st.type != ENT_REG) {
		/* swapped for something else since it was listed */
		char	*safe = path_shown(shown);

		pl->st->refused++;
		log_warnx("pull '%s': skipped '%s': no longer a plain file",
		    pl->what, safe);
		free(safe);
		rc = 0;
		goto out_src;
	}
	if (pl->ops->same(pl, fh, &st, dstdir, dname)) {
		pl->st->skipped++;
		rc = 0;
		goto out_src;
	}
	/* never start what cannot fit: a server may claim any size */
	if (st.has_size && fstatvfs(dstdir, &vfs) == 0 &&
	    st.size > (uint64_t)vfs.f_bavail * vfs.f_frsize) {
		char	*safe = path_shown(shown);

		gr_err_set(pl->e, GR_E_IO, "pull '%s': '%s' is %.1f MiB but "
		    "only %.1f MiB are free under the destination; not pulled",
		    pl->what, safe, (double)st.size / (1024.0 * 1024.0),
		    (double)vfs.f_bavail * (double)vfs.f_frsize /
		    (1024.0 * 1024.0));
		gr_err_hint(pl->e, "free some space, or pull somewhere else");
		free(safe);
		goto out_src;
	}
	tmp = part_name(dname);
	/* a leftover of a killed pull, or a link planted there: gone */
	(void)unlinkat(dstdir, tmp, 0);
	/* the source's permission bits (under the umask, as scp and sftp
	 * do): a file kept 0600 there is not left readable by all here;
	 * the owner can always read and replace what it pulled */
	out = openat(dstdir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, st.perm != 0 ? (mode_t)(st.perm | 0600) : 0644);
	if (out == -1) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': create '%s': %s",
		    pl->what, tmp, strerror(errno));
		goto out_src;
	}
	buf = xmalloc(PULL_CHUNK);
	for (;;) {
		if (clock_mono_ms() > pl->deadline_ms) {
			timed_out(pl, shown);
			goto out_unlink;
		}
		/* no more than the size it had when opened: a file that
		 * grows forever (or a server that streams forever) would
		 * fill the disk until the pull timeout */
		want = PULL_CHUNK;
		if (st.has_size && st.size - got < want)
			want = st.size - got > 0 ? (size_t)(st.size - got) : 1;
		n = pl->ops->read(pl, fh, buf, want);
		if (n == -1) {
			if (pl->e->code == GR_E_TIMEOUT)
				timed_out(pl, shown);
			goto out_unlink;
		}
		if (n == 0)
			break;
		if (st.has_size && got >= st.size) {
			char	*safe = path_shown(shown);

			log_warnx("pull '%s': '%s' grew while it was pulled; "
			    "kept the %llu bytes it had when opened",
			    pl->what, safe, (unsigned long long)st.size);
			free(safe);
			break;
		}
		got += (uint64_t)n;
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1) {
				gr_err_set(pl->e, GR_E_IO, "pull '%s': write "
				    "'%s': %s", pl->what, dname,
				    strerror(errno));
				goto out_unlink;
			}
		}
		pl->st->bytes += (size_t)n;
		/* a big file shows its bytes go by, once a second */
		if (pl->progress && clock_mono_ms() - pl->shown_ms >= 1000) {
			pl->shown_ms = clock_mono_ms();
			pull_progress(pl, false);
		}
	}
	if (pl->ops->keep_mtime && st.has_mtime) {
		ts[0].tv_sec = ts[1].tv_sec = (time_t)st.mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void)futimens(out, ts);
	}
	if (fsync(out) == -1 || close(out) == -1) {
		out = -1;
		gr_err_set(pl->e, GR_E_IO, "pull '%s': write '%s': %s",
		    pl->what, dname, strerror(errno));
		goto out_unlink;
	}
	out = -1;
	/* renameat replaces a symlink itself; it never follows it */
	if (renameat(dstdir, tmp, dstdir, dname) == -1) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': rename to '%s': %s",
		    pl->what, dname, strerror(errno));
		goto out_unlink;
	}
	pl->st->files++;
	pull_progress(pl, false);
	rc = 0;
	goto out_src;
out_unlink:
	if (out != -1)
		close(out);
	(void)unlinkat(dstdir, tmp, 0);
out_src:
	pl->ops->close(pl, fh);
	free(buf);
	free(tmp);
	return rc;
}

/* Open (making it when missing) a directory under dstdir; never a link. */
static int
open_dst_dir(struct pull *pl, int dstdir, const char *name)
{
	int	 fd;

	if (mkdirat(dstdir, name, 0755) == -1 && errno != EEXIST) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': mkdir '%s': %s",
		    pl->what, name, strerror(errno));
		return -1;
	}
	fd = openat(dstdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		gr_err_set(pl->e, GR_E_IO, "pull '%s': destination '%s' is not "
		    "a plain directory (%s); refusing to write through it",
		    pl->what, name, strerror(errno));
	return fd;
}

/*
 * Length of the valid UTF-8 sequence at p (strict: no overlong forms, no
 * surrogates), 0 when there is none or when it encodes a C1 control
 * (U+0080..U+009F), which terminals obey like ESC sequences.
 */
static size_t
utf8_ok(const unsigned char *p, size_t left)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xc2)
		lo = 0xa0;		/* C2 80..9F: C1 controls */
	else if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n > left || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Text a server chose, made safe for a terminal: control characters (C0,
 * DEL, C1 raw or UTF-8 encoded) and bytes that are not UTF-8 become \xNN,
 * and so does '\\' when bslash (names, so that the escape is unambiguous).
 */
static void
term_safe(struct buf *b, const char *s, size_t len, bool bslash)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		 i, n;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x80 && (n = utf8_ok(p + i, len - i)) > 0) {
			buf_add(b, p + i, n);
			i += n - 1;
		} else if (p[i] < 0x20 || p[i] >= 0x7f ||
		    (bslash && p[i] == '\\'))
			buf_addf(b, "\\x%02x", p[i]);
		else
			buf_addc(b, (char)p[i]);
	}
}

/* Printable, for messages about names and paths a server sent. */
static char *
name_shown(const char *name, size_t len)
{
	struct buf	 b = BUF_INIT;

	term_safe(&b, name, len > 400 ? 400 : len, true);
	if (len > 400)
		buf_adds(&b, "...");
	return buf_detach(&b);
}

static char *
path_shown(const char *rel)
{
	return name_shown(rel, strlen(rel));
}

/* An error about a pull holds server names: no control reaches a tty. */
static void
err_sanitize(struct gr_err *e)
{
	struct buf	 b = BUF_INIT;

	term_safe(&b, e->msg, strlen(e->msg), false);
	copy_text(e->msg, sizeof(e->msg), buf_str(&b));
	buf_reset(&b);
	term_safe(&b, e->hint, strlen(e->hint), false);
	copy_text(e->hint, sizeof(e->hint), buf_str(&b));
	buf_release(&b);
}

static int
walk(struct pull *pl, const char *rel, int dstdir, int depth)
{
	struct ent	*v;
	size_t		 n, i, cost = 0;
	char		*child, *shown;
	int		 dfd, rc = 0;

	if (depth > PULL_DEPTH_MAX) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': directories nest more "
		    "than %d deep", pl->what, PULL_DEPTH_MAX);
		return -1;
	}
	if (pl->ops->list(pl, rel, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++)
		cost += ssh_dirent_cost(v[i].name_len);
	pl->held += cost;
	for (i = 0; rc == 0 && i < n; i++) {
		switch (pull_name_check(v[i].name, v[i].name_len)) {
		case PULL_NAME_HOSTILE:
			shown = name_shown(v[i].name, v[i].name_len);
			gr_err_set(pl->e, GR_E_IO, "pull '%s': the server "
			    "listed an entry named '%s' in '%s', which no "
			    "file system holds; refusing to go on", pl->what,
			    shown, *rel != '\0' ? rel : ".");
			gr_err_hint(pl->e, "the host is broken or hostile; "
			    "what was pulled so far stays under --local");
			free(shown);
			rc = -1;
			continue;
		case PULL_NAME_ODD:
			child = rel_join(rel, v[i].name);
			shown = path_shown(child);
			pl->st->refused++;
			log_warnx("pull '%s': skipped '%s': control "
			    "characters in its name", pl->what, shown);
			free(shown);
			free(child);
			continue;
		case PULL_NAME_OK:
			break;
		}
		child = rel_join(rel, v[i].name);
		switch (v[i].type) {
		case ENT_LINK:
			pl->st->symlinks_skipped++;
			shown = path_shown(child);
			log_warnx("pull '%s': skipped symlink '%s'", pl->what,
			    shown);
			free(shown);
			break;
		case ENT_REG:
			rc = copy_file(pl, child, dstdir, v[i].name);
			break;
		case ENT_DIR:
			dfd = open_dst_dir(pl, dstdir, v[i].name);
			if (dfd == -1)
				rc = -1;
			else {
				rc = walk(pl, child, dfd, depth + 1);
				close(dfd);
			}
			break;
		case ENT_OTHER:
			shown = path_shown(child);
			log_debug("pull '%s': skipped '%s': not a file or a "
			    "directory", pl->what, shown);
			free(shown);
			break;
		}
		free(child);
	}
	ents_free(v, n);
	pl->held -= cost;
	return rc;
}

/* Download the source's target into local: a file or a tree. */
static int
pull_run(struct pull *pl, const char *local, const char *top_name)
{
	struct ent	 top;
	struct stat	 ls;
	const char	*dname, *slash;
	char		*parent;
	int		 dst = -1, rc = -1;

	memset(&top, 0, sizeof(top));
	if (pl->ops->top(pl, &top) == -1)
		return -1;
	if (top.type == ENT_LINK) {
		gr_err_set(pl->e, GR_E_USAGE, "pull: '%s' is a symlink; "
		    "symlinks are not followed", pl->what);
		return -1;
	}
	if (top.type == ENT_REG) {
		/* into a directory (as its basename) or as a file; a
		 * --local ending in '/' names a directory, made if missing */
		if (str_has_suffix(local, "/") && mkdir_p(local, 0755) == -1)
			goto io;
		if (stat(local, &ls) == 0 && S_ISDIR(ls.st_mode)) {
			dst = open(local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			dname = top_name;
		} else {
			parent = xstrdup(local);
			slash = strrchr(local, '/');
			dname = slash != NULL ? slash + 1 : local;
			if (slash == local)
				parent[1] = '\0';
			else if (slash != NULL)
				parent[slash - local] = '\0';
			else
				strcpy(parent, ".");
			if (mkdir_p(parent, 0755) == 0)
				dst = open(parent, O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC);
			free(parent);
		}
		if (dst == -1 || *dname == '\0')
			goto io;
		rc = copy_file(pl, "", dst, dname);
	} else if (top.type == ENT_DIR) {
		if (mkdir_p(local, 0755) == -1 || (dst = open(local,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			goto io;
		rc = walk(pl, "", dst, 0);
	} else {
		gr_err_set(pl->e, GR_E_USAGE, "pull: '%s' is not a file or a "
		    "directory", pl->what);
	}
	pull_progress(pl, true);
	goto out;
io:
	gr_err_set(pl->e, GR_E_IO, "pull '%s' to '%s': %s", pl->what, local,
	    strerror(errno));
out:
	if (dst != -1)
		close(dst);
	return rc;
}

static void
pull_init(struct pull *pl, const struct src_ops *ops, const char *remote,
    int64_t timeout_ms, struct pull_stats *st, struct gr_err *e)
{
	memset(pl, 0, sizeof(*pl));
	memset(st, 0, sizeof(*st));
	pl->ops = ops;
	pl->st = st;
	pl->timeout_ms = timeout_ms;
	pl->deadline_ms = clock_mono_ms() + timeout_ms;
	pl->progress = isatty(STDERR_FILENO);
	pl->shown_ms = clock_mono_ms();
	pl->what = remote;
	pl->e = e;
	pl->ldir = -1;
}

/* '..' anywhere in the remote path is refused. */
static bool
remote_has_dotdot(const char *remote, struct gr_err *e)
{
	char	*rem, *comp, *save = NULL;
	bool	 bad = false;

	rem = xstrdup(remote);
	for (comp = strtok_r(rem, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save))
		if (strcmp(comp, "..") == 0)
			bad = true;
	free(rem);
	if (bad)
		gr_err_set(e, GR_E_USAGE, "pull: remote path '%s' may not "
		    "contain '..'", remote);
	return bad;
}

int
pull_local_tree(const char *root, const char *remote, const char *local,
    int64_t timeout_ms, struct pull_stats *st, struct gr_err *e)
{
	struct pull	 pl;
	char		*rem, *comp, *save = NULL, *last = NULL;
	int		 dir, next, rc = -1;

	pull_init(&pl, &local_src, remote, timeout_ms, st, e);
	if (remote_has_dotdot(remote, e))
		return -1;
	dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir == -1) {
		gr_err_set(e, GR_E_NOT_FOUND, "pull: the instance's files at "
		    "'%s' are gone: %s", root, strerror(errno));
		return -1;
	}
	/* walk the remote path one name at a time, following no link */
	rem = xstrdup(remote);
	for (comp = strtok_r(rem, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (last != NULL) {
			next = openat(dir, last, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (next == -1) {
				gr_err_set(e, GR_E_NOT_FOUND, "pull: '%s' in "
				    "'%s' is not a directory (symlinks are "
				    "not followed): %s", last, remote,
				    strerror(errno));
				goto out;
			}
			close(dir);
			dir = next;
		}
		last = comp;
	}
	pl.ldir = dir;
	pl.llast = last;
	rc = pull_run(&pl, local, last != NULL ? last : "files");
out:
	if (rc == -1)
		err_sanitize(e);
	close(dir);
	free(rem);
	return rc;
}

int
pull_ssh_tree(struct ssh_conn *conn, const char *remote, const char *local,
    int64_t timeout_ms, struct pull_stats *st, struct gr_err *e)
{
	struct pull	 pl;
	const char	*slash;
	size_t		 len;
	int		 rc;

	pull_init(&pl, &sftp_src, remote, timeout_ms, st, e);
	if (remote_has_dotdot(remote, e))
		return -1;
	/* the target without trailing slashes; "" is the login dir */
	len = strlen(remote);
	while (len > 1 && remote[len - 1] == '/')
		len--;
	pl.base = len == 0 ? xstrdup(".") : xstrndup(remote, len);
	slash = strrchr(pl.base, '/');
	pl.top_name = xstrdup(slash != NULL && slash[1] != '\0' ? slash + 1 :
	    strcmp(pl.base, ".") == 0 || strcmp(pl.base, "/") == 0 ? "files" :
	    pl.base);
	pl.conn = conn;
	ssh_set_deadline(conn, pl.deadline_ms);
	rc = pull_run(&pl, local, pl.top_name);
	ssh_set_deadline(conn, 0);
	if (rc == -1 && e->code == GR_E_TIMEOUT &&
	    strstr(e->msg, "pull timeout") == NULL)
		timed_out(&pl, "");
	if (rc == -1)
		err_sanitize(e);
	free(pl.base);
	free(pl.top_name);
	return rc;
}
