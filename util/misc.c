/*
 * misc.c: small helpers: "did you mean", hashing, random ids and file
 * operations that must be crash-safe.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j;
	size_t	*row, prev, tmp, best;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	row = xcalloc(lb + 1, sizeof(*row));
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	best = row[lb];
	free(row);
	return best;
}

const char *
str_suggest(const char *word, const char *const *cands, size_t n)
{
	const char	*best = NULL;
	size_t		 bestd = 4, d, i, limit;

	limit = strlen(word) <= 3 ? 1 : strlen(word) <= 5 ? 2 : 3;
	for (i = 0; i < n; i++) {
		if (cands[i] == NULL)
			continue;
		d = edit_distance(word, cands[i]);
		if (d <= limit && d < bestd) {
			best = cands[i];
			bestd = d;
		}
	}
	return best;
}

bool
str_has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

bool
str_has_suffix(const char *s, const char *x)
{
	size_t	 ls = strlen(s), lx = strlen(x);

	return ls >= lx && strcmp(s + ls - lx, x) == 0;
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		fatalx("sha256 failed");
	for (i = 0; i < mdlen; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

void
random_hex(char *out, size_t nbytes)
{
	unsigned char	 b[64];
	size_t		 i;

	if (nbytes > sizeof(b))
		BUG("random_hex: %zu bytes", nbytes);
	if (getrandom(b, nbytes, 0) != (ssize_t)nbytes)
		fatal("getrandom");
	for (i = 0; i < nbytes; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * nbytes] = '\0';
}

int
file_read(const char *path, size_t max, char **out, size_t *lenp)
{
	struct buf	 b = BUF_INIT;
	char		 tmp[8192];
	ssize_t		 n;
	int		 fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int saved = errno;

			close(fd);
			buf_release(&b);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			close(fd);
			buf_release(&b);
			errno = EFBIG;
			return -1;
		}
		buf_add(&b, tmp, (size_t)n);
	}
	close(fd);
	if (lenp != NULL)
		*lenp = b.len;
	*out = buf_detach(&b);
	return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char		*tmp;
	const char	*p = data;
	ssize_t		 n;
	int		 fd, saved;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1)
		goto fail_free;
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail_close;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail_close;
	if (close(fd) == -1)
		goto fail_unlink;
	if (rename(tmp, path) == -1)
		goto fail_unlink;
	free(tmp);
	return 0;

fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail_unlink:
	saved = errno;
	unlink(tmp);
	errno = saved;
fail_free:
	saved = errno;
	free(tmp);
	errno = saved;
	return -1;
}

int
mkdir_p(const char *path, int mode)
{
	char	*p, *s;

	s = xstrdup(path);
	for (p = s + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, mode) == -1 && errno != EEXIST) {
			int saved = errno;

			free(s);
			errno = saved;
			return -1;
		}
		*p = '/';
	}
	free(s);
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
rmtree_at(int dirfd, const char *name)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, rc = 0;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (rmtree_at(fd, de->d_name) == -1)
			rc = -1;
	}
	closedir(d);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) == -1 &&
	    errno != ENOENT)
		rc = -1;
	return rc;
}

int
rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path);
}

void
kv_free(struct kv *v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

static const char *const state_names[] = {
	[INST_IDLE] = "IDLE",
	[INST_PENDING] = "PENDING",
	[INST_RUNNING] = "RUNNING",
	[INST_STOPPING] = "STOPPING",
	[INST_STOPPED] = "STOPPED",
	[INST_TERMINATED] = "TERMINATED",
};

const char *
inst_state_name(enum inst_state s)
{
	if ((int)s < 0 || (size_t)s >= nitems(state_names))
		return "UNKNOWN";
	return state_names[s];
}

bool
inst_state_parse(const char *s, enum inst_state *out)
{
	size_t	 i;

	for (i = 0; i < nitems(state_names); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum inst_state)i;
			return true;
		}
	}
	return false;
}

char *
owner_label(const char *ledger_id, int64_t uid)
{
	return xasprintf("gr-%s-%lld", ledger_id, (long long)uid);
}

static bool
label_split(const char *label, const char **id, size_t *idlen, int64_t *uid)
{
	const char	*p, *dash;
	char		*end;
	long long	 v;

	if (label == NULL || strncmp(label, "gr-", 3) != 0)
		return false;
	p = label + 3;
	dash = strchr(p, '-');
	if (dash == NULL || dash == p)
		return false;
	for (const char *q = p; q < dash; q++)
		if (!isxdigit((unsigned char)*q))
			return false;
	/* exactly what owner_label writes: no sign, no leading zero */
	if (!isdigit((unsigned char)dash[1]) || dash[1] == '0')
		return false;
	errno = 0;
	v = strtoll(dash + 1, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*id = p;
	*idlen = (size_t)(dash - p);
	*uid = v;
	return true;
}

bool
owner_label_parse(const char *label, const char *ledger_id, int64_t *uid)
{
	const char	*id;
	size_t		 idlen;
	int64_t		 u;

	if (!label_split(label, &id, &idlen, &u))
		return false;
	if (strlen(ledger_id) != idlen || strncmp(id, ledger_id, idlen) != 0)
		return false;
	*uid = u;
	return true;
}

bool
owner_label_is_gr(const char *label)
{
	const char	*id;
	size_t		 idlen;
	int64_t		 u;

	return label_split(label, &id, &idlen, &u);
}
