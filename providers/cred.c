/*
 * cred.c: finding a provider's API key, in the order of DESIGN.md
 * section 9; the first source that has one wins:
 *
 *	1. --api-key-file PATH (when given, the only source: a file that
 *	   cannot be used is an error, not a reason to look elsewhere)
 *	2. the environment variable (VAST_API_KEY, RUNPOD_API_KEY,
 *	   LAMBDA_API_KEY); set but empty counts as unset
 *	3. the keyring: secret-tool lookup service <provider> username <VAR>,
 *	   run without a shell; the key comes back on its stdout, never in
 *	   anyone's argv.  No secret-tool, no entry, or no answer within 5 s
 *	   (a locked keyring prompting somewhere) skips this source
 *	4. $CREDENTIALS_DIRECTORY/<VAR> (systemd's LoadCredential=)
 *	5. .env.<provider>, then .env, in the working directory: lines of
 *	   VAR=value or export VAR=value, values bare, 'single' or "double"
 *	   quoted, # comments; the last definition in a file wins
 *
 * A file that holds keys is opened, then checked through its descriptor
 * (so a rename in between cannot swap it) before a byte is read: a
 * regular file, owned by the effective user, with no group or other
 * permission bits.  Otherwise GR_E_AUTH with a chmod/chown hint.  One
 * exception, for the credentials directory, where systemd itself writes
 * each file 0400 and owned by root, then grants the service's user read
 * access with a POSIX ACL (whose mask shows in the group bits as 0440):
 * there the file may be owned by root, and group bits are accepted when
 * the ACL proves they are only that mask, granting nobody but us.
 *
 * A key is trimmed of surrounding blanks and must then be printable ASCII
 * without spaces (it goes into an HTTP header, where CR or LF would let
 * it inject more).  Buffers that held a key are wiped before they are
 * freed.  cred->source says where the key came from, never what it is.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provider.h"

#define CRED_FILE_MAX		(64 * 1024)	/* bytes of a key/dotenv file */
#define CRED_KEYRING_MAX	4096		/* bytes from secret-tool */
#define CRED_KEYRING_WAIT_MS	5000

/* What a file is trusted for. */
enum file_kind {
	FILE_KEY,		/* the whole file is the key */
	FILE_SYSTEMD,		/* a systemd credential (the whole file) */
	FILE_DOTENV,		/* VAR=value lines */
};

static const struct {
	const char	*provider;
	const char	*var;
} env_vars[] = {
	{ "vastai", "VAST_API_KEY" },
	{ "runpod", "RUNPOD_API_KEY" },
	{ "lambda", "LAMBDA_API_KEY" },
};

const char *
cred_env_var(const char *provider)
{
	size_t	 i;

	if (provider == NULL)
		return NULL;
	for (i = 0; i < nitems(env_vars); i++)
		if (strcmp(provider, env_vars[i].provider) == 0)
			return env_vars[i].var;
	return NULL;
}

void
cred_release(struct cred *c)
{
	if (c == NULL)
		return;
	if (c->key != NULL) {
		explicit_bzero(c->key, strlen(c->key));
		free(c->key);
	}
	free(c->source);
	c->key = NULL;
	c->source = NULL;
}

static void
wipe_free(char *p, size_t len)
{
	if (p != NULL) {
		explicit_bzero(p, len);
		free(p);
	}
}

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f';
}

/*
 * Trim s[0..len) and, when something is left, check it and store it as
 * the key.  0: stored; 1: nothing there; -1: e set.
 */
static int
take_key(const char *s, size_t len, const char *source, struct cred *c,
    struct gr_err *e)
{
	size_t	 i;

	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len == 0)
		return 1;
	for (i = 0; i < len; i++) {
		unsigned char	 ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f) {
			gr_err_set(e, GR_E_AUTH, "API key from %s has a "
			    "character an HTTP header cannot carry (at byte "
			    "%zu)", source, i + 1);
			gr_err_hint(e, "a key is one line of printable "
			    "characters");
			return -1;
		}
	}
	c->key = xstrndup(s, len);
	c->source = xstrdup(source);
	return 0;
}

/*
 * May the ACL on fd grant read access only to uid (and the owner)?  True
 * when every named-user entry is uid, there are no named-group entries
 * with any permission, and the owning group has none.
 */
static bool
acl_grants_only(int fd, uid_t uid)
{
	unsigned char	 b[1024];
	ssize_t		 n;
	size_t		 off;
	uint32_t	 version;
	bool		 granted = false;

	n = fgetxattr(fd, "system.posix_acl_access", b, sizeof(b));
	if (n < 4 || (n - 4) % 8 != 0)
		return false;
	memcpy(&version, b, 4);
	if (version != 2)
		return false;
	for (off = 4; off + 8 <= (size_t)n; off += 8) {
		uint16_t	 tag, perm;
		uint32_t	 id;

		memcpy(&tag, b + off, 2);
		memcpy(&perm, b + off + 2, 2);
		memcpy(&id, b + off + 4, 4);
		switch (tag) {
		case 0x02:	/* ACL_USER */
			if (id != (uint32_t)uid)
				return false;
			granted = true;
			break;
		case 0x04:	/* ACL_GROUP_OBJ */
		case 0x08:	/* ACL_GROUP */
		case 0x20:	/* ACL_OTHER */
			if (perm != 0)
				return false;
			break;
		default:	/* ACL_USER_OBJ, ACL_MASK */
			break;
		}
	}
	return granted;
}

/*
 * Open path and check who may read it.  Returns the fd, -2 when the file
 * does not exist (or, for a dotenv file, is not a regular file), -1 with
 * e set when it must not or cannot be used.
 */
static int
open_checked(const char *path, const char *what, enum file_kind kind,
    struct gr_err *e)
{
	struct stat	 st;
	int		 fd, saved;
	uid_t		 me = geteuid();
	bool		 owner_ok, mode_ok;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		saved = errno;
		if (saved == ENOENT && kind != FILE_KEY)
			return -2;
		gr_err_set(e, GR_E_AUTH, "read %s '%s': %s", what, path,
		    strerror(saved));
		if (saved == ENOENT)
			gr_err_hint(e, "check the path given to "
			    "--api-key-file");
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		gr_err_set(e, GR_E_AUTH, "stat %s '%s': %s", what, path,
		    strerror(saved));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (kind == FILE_DOTENV)
			return -2;
		gr_err_set(e, GR_E_AUTH, "refusing to read %s '%s': not a "
		    "regular file", what, path);
		return -1;
	}
	owner_ok = st.st_uid == me || (kind == FILE_SYSTEMD && st.st_uid == 0);
	mode_ok = (st.st_mode & 077) == 0 ||
	    (kind == FILE_SYSTEMD && (st.st_mode & 027) == 0 &&
	    acl_grants_only(fd, me));
	if (!owner_ok) {
		close(fd);
		gr_err_set(e, GR_E_AUTH, "refusing to read %s '%s': owned by "
		    "uid %ld, not by you (uid %ld)", what, path,
		    (long)st.st_uid, (long)me);
		gr_err_hint(e, "chown %ld '%s' && chmod 600 '%s'", (long)me,
		    path, path);
		return -1;
	}
	if (!mode_ok) {
		close(fd);
		gr_err_set(e, GR_E_AUTH, "refusing to read %s '%s': group or "
		    "others have access (mode %04o)", what, path,
		    (unsigned int)(st.st_mode & 07777));
		gr_err_hint(e, "chmod 600 %s", path);
		return -1;
	}
	return fd;
}

/* Read at most max bytes of fd into a fresh buffer (NUL-terminated). */
static int
read_all(int fd, size_t max, const char *what, const char *path, char **out,
    size_t *outlen, struct gr_err *e)
{
	char	*b = xmalloc(max + 1);
	size_t	 len = 0;
	ssize_t	 n;

	for (;;) {
		n = read(fd, b + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			gr_err_set(e, GR_E_AUTH, "read %s '%s': %s", what,
			    path, strerror(errno));
			wipe_free(b, max + 1);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			gr_err_set(e, GR_E_AUTH, "%s '%s' is larger than %zu "
			    "bytes", what, path, max);
			wipe_free(b, max + 1);
			return -1;
		}
	}
	b[len] = '\0';
	*out = b;
	*outlen = max + 1;	/* what to wipe */
	return (int)len;
}

/* A file whose whole content is the key.  0, 1 (absent), -1. */
static int
from_key_file(const char *path, enum file_kind kind, const char *source,
    struct cred *c, struct gr_err *e)
{
	const char	*what = kind == FILE_KEY ? "API key file" :
			    "credential file";
	char		*b;
	size_t		 cap;
	int		 fd, len, r;

	fd = open_checked(path, what, kind, e);
	if (fd == -2)
		return 1;
	if (fd == -1)
		return -1;
	len = read_all(fd, CRED_FILE_MAX, what, path, &b, &cap, e);
	close(fd);
	if (len == -1)
		return -1;
	r = take_key(b, (size_t)len, source, c, e);
	wipe_free(b, cap);
	if (r == 1 && kind == FILE_KEY) {
		gr_err_set(e, GR_E_AUTH, "API key file '%s' is empty", path);
		return -1;
	}
	return r;
}

/*
 * One dotenv line.  If it assigns name, store the value (unquoted) in
 * *val (owned; the caller wipes *vallen bytes) and return true.  The
 * value is built in one allocation, so no realloc leaves copies behind.
 */
static bool
dotenv_line(const char *line, size_t len, const char *name, char **val,
    size_t *vallen, const char *path, int lineno)
{
	const char	*p = line, *end = line + len, *q;
	size_t		 nlen = strlen(name), n = 0, cap;
	char		*v, quote;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return false;
	if (end - p > 7 && strncmp(p, "export", 6) == 0 &&
	    (p[6] == ' ' || p[6] == '\t')) {
		p += 7;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if ((size_t)(end - p) < nlen || strncmp(p, name, nlen) != 0)
		return false;
	p += nlen;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p != '=')
		return false;
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	cap = (size_t)(end - p) + 1;
	v = xmalloc(cap);
	if (p < end && (*p == '"' || *p == '\'')) {
		quote = *p++;
		for (q = p; q < end && *q != quote; q++) {
			if (quote == '"' && *q == '\\' && q + 1 < end) {
				q++;
				v[n++] = *q == 'n' ? '\n' : *q;
			} else
				v[n++] = *q;
		}
		if (q == end) {
			/* never show the value: it may be a key */
			log_warnx("%s:%d: %s: unterminated quote; line "
			    "ignored", path, lineno, name);
			wipe_free(v, cap);
			return false;
		}
	} else {
		/* bare: up to a " #" comment */
		for (q = p; q < end; q++) {
			if (*q == '#' && (q == p || q[-1] == ' ' ||
			    q[-1] == '\t'))
				break;
			v[n++] = *q;
		}
	}
	v[n] = '\0';
	*val = v;
	*vallen = cap;
	return true;
}

/* A dotenv file.  0, 1 (absent or no such variable), -1. */
static int
from_dotenv(const char *path, const char *var, struct cred *c,
    struct gr_err *e)
{
	char		*b, *val = NULL, *v, *source;
	const char	*p, *nl, *end;
	size_t		 cap, vcap = 0, vc;
	int		 fd, len, lineno = 0, r = 1;

	fd = open_checked(path, "dotenv file", FILE_DOTENV, e);
	if (fd == -2)
		return 1;
	if (fd == -1)
		return -1;
	len = read_all(fd, CRED_FILE_MAX, "dotenv file", path, &b, &cap, e);
	close(fd);
	if (len == -1)
		return -1;
	end = b + len;
	for (p = b; p < end; p = nl != NULL ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		lineno++;
		if (!dotenv_line(p, nl != NULL ? (size_t)(nl - p) :
		    (size_t)(end - p), var, &v, &vc, path, lineno))
			continue;
		wipe_free(val, vcap);	/* the last definition wins */
		val = v;
		vcap = vc;
	}
	if (val != NULL) {
		source = xasprintf("file %s", path);
		r = take_key(val, strlen(val), source, c, e);
		free(source);
	}
	wipe_free(val, vcap);
	wipe_free(b, cap);
	return r;
}

/*
 * The keyring through secret-tool.  Every failure to get a key here is
 * "not found": secret-tool missing, no entry, no D-Bus session, a keyring
 * that does not answer.  0 or 1 (never -1 unless the key is malformed).
 */
static int
from_keyring(const char *provider, const char *var, struct cred *c,
    struct gr_err *e)
{
	char		*argv[] = { "secret-tool", "lookup", "service",
			    (char *)provider, "username", (char *)var, NULL };
	char		 b[CRED_KEYRING_MAX + 1];
	struct pollfd	 pfd;
	size_t		 len = 0;
	ssize_t		 n;
	int64_t		 deadline, left;
	int		 fds[2], devnull, status = 0, r = 1;
	bool		 timed_out = false, exited_ok;
	pid_t		 pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("keyring: pipe");
		return 1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	fflush(NULL);
	pid = fork();
	if (pid == -1) {
		log_warn("keyring: fork");
		close(fds[0]);
		close(fds[1]);
		if (devnull != -1)
			close(devnull);
		return 1;
	}
	if (pid == 0) {
		/* only async-signal-safe calls until exec */
		if (dup2(fds[1], STDOUT_FILENO) == -1)
			_exit(127);
		if (devnull != -1) {
			(void)dup2(devnull, STDIN_FILENO);
			(void)dup2(devnull, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	if (devnull != -1)
		close(devnull);

	deadline = clock_mono_ms() + CRED_KEYRING_WAIT_MS;
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		left = deadline - clock_mono_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		n = poll(&pfd, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			timed_out = n == 0;
			break;
		}
		n = read(fds[0], b + len, sizeof(b) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(b) - 1)
			break;	/* more than a key; take what we have */
	}
	close(fds[0]);
	if (timed_out)
		(void)kill(pid, SIGKILL);	/* our own child */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (timed_out)
		log_warnx("keyring: secret-tool did not answer in %d s; "
		    "skipped", CRED_KEYRING_WAIT_MS / 1000);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_debug("keyring: secret-tool not available; skipped");
	else if (!exited_ok)
		log_debug("keyring: no %s entry for service %s", var,
		    provider);
	if (exited_ok && !timed_out)
		r = take_key(b, len, "keyring", c, e);
	explicit_bzero(b, sizeof(b));
	return r;
}

int
cred_resolve(const char *provider, const char *key_file, struct cred *c,
    struct gr_err *e)
{
	const char	*var = cred_env_var(provider), *v;
	char		*path, *source, *dotenv;
	int		 r;

	memset(c, 0, sizeof(*c));
	if (key_file != NULL) {
		source = xasprintf("--api-key-file %s", key_file);
		r = from_key_file(key_file, FILE_KEY, source, c, e);
		free(source);
		return r == 0 ? 0 : -1;
	}
	if (var == NULL) {
		gr_err_set(e, GR_E_AUTH, "no API key for %s", provider);
		gr_err_hint(e, "pass --api-key-file PATH");
		return -1;
	}

	v = getenv(var);
	if (v != NULL) {
		source = xasprintf("env %s", var);
		r = take_key(v, strlen(v), source, c, e);
		free(source);
		if (r != 1)
			return r;
	}

	r = from_keyring(provider, var, c, e);
	if (r != 1)
		return r;

	v = getenv("CREDENTIALS_DIRECTORY");
	if (v != NULL && *v != '\0') {
		path = xasprintf("%s/%s", v, var);
		r = from_key_file(path, FILE_SYSTEMD, "credentials directory",
		    c, e);
		free(path);
		if (r != 1)
			return r;
	}

	dotenv = xasprintf(".env.%s", provider);
	r = from_dotenv(dotenv, var, c, e);
	free(dotenv);
	if (r != 1)
		return r;
	r = from_dotenv(".env", var, c, e);
	if (r != 1)
		return r;

	gr_err_set(e, GR_E_AUTH, "no API key for %s", provider);
	gr_err_hint(e, "export %s=... (or use --api-key-file, the keyring, "
	    "$CREDENTIALS_DIRECTORY/%s or .env.%s)", var, var, provider);
	return -1;
}
