/*
 * pull.c: download an instance's files when its provider exposes them as
 * a local directory (the `local` provider; SSH/SFTP comes later), with the
 * rules a remote pull needs too:
 * - nothing is written outside --local: names come from readdir (never
 *   '/', never '.' or '..'), every directory is opened relative to its
 *   parent with O_NOFOLLOW, and a symlink in the destination is refused;
 * - the remote path may not contain '..', and no symlink is followed in
 *   the source (symlinks are skipped and counted);
 * - each file is written to a temporary name and renamed when complete;
 * - a file already identical (size and SHA-256) is skipped, so a pull cut
 *   off halfway can be re-run and finishes.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "reconciler.h"

#define PULL_CHUNK	(64 * 1024)

struct pull {
	struct pull_stats *st;
	int64_t		 deadline_ms;
	bool		 progress;
	const char	*what;		/* for messages */
	struct gr_err	*e;
};

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

static bool
fd_sha256(int fd, char out[65])
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned char	 buf[PULL_CHUNK], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	ssize_t		 n;
	bool		 ok = false;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if (lseek(fd, 0, SEEK_SET) == -1)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			goto out;
	if (n == -1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	ok = lseek(fd, 0, SEEK_SET) == 0;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Is dst (in dstdir) already the same as the open source? */
static bool
same_file(int srcfd, const struct stat *ss, int dstdir, const char *name)
{
	struct stat	 ds;
	char		 a[65], b[65];
	int		 fd;
	bool		 same;

	if (fstatat(dstdir, name, &ds, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(ds.st_mode) || ds.st_size != ss->st_size)
		return false;
	fd = openat(dstdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return false;
	same = fd_sha256(fd, a) && fd_sha256(srcfd, b) && strcmp(a, b) == 0;
	close(fd);
	return same;
}

static int
copy_file(struct pull *pl, int srcdir, const char *sname, int dstdir,
    const char *dname)
{
	struct stat	 ss;
	char		 buf[PULL_CHUNK], *tmp;
	ssize_t		 n, w, off;
	int		 in, out, rc = -1;

	in = openat(srcdir, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in == -1 || fstat(in, &ss) == -1) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': read '%s': %s",
		    pl->what, sname, strerror(errno));
		if (in != -1)
			close(in);
		return -1;
	}
	if (same_file(in, &ss, dstdir, dname)) {
		pl->st->skipped++;
		close(in);
		return 0;
	}
	tmp = xasprintf(".%s.gr-part", dname);
	out = openat(dstdir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (out == -1) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': create '%s': %s",
		    pl->what, tmp, strerror(errno));
		goto out_in;
	}
	for (;;) {
		if (clock_now_ms() > pl->deadline_ms) {
			gr_err_set(pl->e, GR_E_TIMEOUT, "pull '%s': timed out "
			    "while copying '%s'", pl->what, sname);
			gr_err_hint(pl->e, "run pull again: files already "
			    "complete are skipped");
			goto out_unlink;
		}
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			gr_err_set(pl->e, GR_E_IO, "pull '%s': read '%s': %s",
			    pl->what, sname, strerror(errno));
			goto out_unlink;
		}
		if (n == 0)
			break;
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
	goto out_tmp;
out_unlink:
	if (out != -1)
		close(out);
	(void)unlinkat(dstdir, tmp, 0);
out_tmp:
	free(tmp);
out_in:
	close(in);
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

static int
copy_tree(struct pull *pl, int srcdir, int dstdir, int depth)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	int		 dup_fd, sfd, dfd, rc = 0;

	if (depth > 64) {
		gr_err_set(pl->e, GR_E_IO, "pull '%s': directories nest more "
		    "than 64 deep", pl->what);
		return -1;
	}
	dup_fd = dup(srcdir);
	if (dup_fd == -1 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd != -1)
			close(dup_fd);
		gr_err_set(pl->e, GR_E_IO, "pull '%s': %s", pl->what,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(srcdir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;
		if (S_ISLNK(st.st_mode)) {
			pl->st->symlinks_skipped++;
			log_warnx("pull '%s': skipped symlink '%s'", pl->what,
			    de->d_name);
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(pl, srcdir, de->d_name, dstdir,
			    de->d_name);
		} else if (S_ISDIR(st.st_mode)) {
			sfd = openat(srcdir, de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd == -1)
				continue;
			dfd = open_dst_dir(pl, dstdir, de->d_name);
			if (dfd == -1)
				rc = -1;
			else {
				rc = copy_tree(pl, sfd, dfd, depth + 1);
				close(dfd);
			}
			close(sfd);
		}
	}
	closedir(d);
	return rc;
}

int
pull_local_tree(const char *root, const char *remote, const char *local,
    int64_t timeout_ms, struct pull_stats *st, struct gr_err *e)
{
	struct pull	 pl;
	struct stat	 sst;
	char		*rem, *comp, *save = NULL, *last = NULL, *slash;
	int		 dir, next, dst = -1, rc = -1;

	memset(st, 0, sizeof(*st));
	pl.st = st;
	pl.deadline_ms = clock_now_ms() + timeout_ms;
	pl.progress = isatty(STDERR_FILENO);
	pl.what = remote;
	pl.e = e;

	dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir == -1) {
		gr_err_set(e, GR_E_NOT_FOUND, "pull: the instance's files at "
		    "'%s' are gone: %s", root, strerror(errno));
		return -1;
	}
	/* Walk the remote path one name at a time, following no link. */
	rem = xstrdup(remote);
	for (comp = strtok_r(rem, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			gr_err_set(e, GR_E_USAGE, "pull: remote path '%s' may "
			    "not contain '..'", remote);
			goto out;
		}
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
	if (last == NULL) {
		/* the whole work dir */
		if (fstat(dir, &sst) == -1)
			goto io;
	} else if (fstatat(dir, last, &sst, AT_SYMLINK_NOFOLLOW) == -1) {
		gr_err_set(e, GR_E_NOT_FOUND, "pull: no '%s' on the instance",
		    remote);
		goto out;
	}
	if (S_ISLNK(sst.st_mode)) {
		gr_err_set(e, GR_E_USAGE, "pull: '%s' is a symlink; symlinks are "
		    "not followed", remote);
		goto out;
	}
	if (S_ISREG(sst.st_mode)) {
		struct stat	 ls;
		const char	*dname;
		char		*parent;

		/* into a directory (as its basename) or as a file; a
		 * --local ending in '/' names a directory, made if missing */
		if (str_has_suffix(local, "/") && mkdir_p(local, 0755) == -1)
			goto io;
		if (stat(local, &ls) == 0 && S_ISDIR(ls.st_mode)) {
			dst = open(local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			dname = last;
		} else {
			parent = xstrdup(local);
			slash = strrchr(parent, '/');
			dname = slash != NULL ? local + (slash - parent) + 1 :
			    local;
			if (slash == parent)
				parent[1] = '\0';
			else if (slash != NULL)
				*slash = '\0';
			else
				strcpy(parent, ".");
			if (mkdir_p(parent, 0755) == 0)
				dst = open(parent, O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC);
			free(parent);
		}
		if (dst == -1 || *dname == '\0')
			goto io;
		rc = copy_file(&pl, dir, last, dst, dname);
	} else if (S_ISDIR(sst.st_mode)) {
		int	 sfd = last == NULL ? dup(dir) : openat(dir, last,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sfd == -1)
			goto io;
		if (mkdir_p(local, 0755) == -1 || (dst = open(local,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			close(sfd);
			goto io;
		}
		rc = copy_tree(&pl, sfd, dst, 0);
		close(sfd);
	} else {
		gr_err_set(e, GR_E_USAGE, "pull: '%s' is not a file or a "
		    "directory", remote);
	}
	pull_progress(&pl, true);
	goto out;
io:
	gr_err_set(e, GR_E_IO, "pull '%s' to '%s': %s", remote, local,
	    strerror(errno));
out:
	if (dst != -1)
		close(dst);
	close(dir);
	free(rem);
	return rc;
}
