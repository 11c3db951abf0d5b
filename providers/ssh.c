/*
 * ssh.c: the only user of libssh2.  An SSH client for what the adapter
 * contract promises about an instance: a connection that is checked
 * (ssh-info --check) and SFTP reads for pull.
 *
 * - TCP connect is non-blocking with a poll timeout (10 s by default),
 *   retried (3 times by default) with a doubling backoff from 500 ms; so is
 *   the SSH handshake, which a freshly booted host may refuse for a moment.
 *   Host key mismatches and refused keys are never retried.
 * - Host keys are checked against gpureconcile's own known_hosts file (in
 *   the state dir, never ~/.ssh/known_hosts), keyed by provider and
 *   instance id rather than host:port: cloud providers hand the same
 *   host:port to one renter after another, each with a new key, while one
 *   instance keeps its key.  The first connection to an instance records
 *   its key (trust on first use); a later different key aborts with both
 *   SHA-256 fingerprints and the command that forgets the old one.
 * - The client key is a private key file, tried with its ".pub" beside it
 *   when there is one.  Its content and any passphrase are never logged;
 *   encrypted keys are not supported (use an unencrypted key kept 0600).
 * - A libssh2 older than 1.11.1 lacks the strict key exchange that
 *   defeats the Terrapin attack (CVE-2023-48795); with it, the ciphers and
 *   MACs the attack needs (chacha20-poly1305 and encrypt-then-MAC) are not
 *   offered, which leaves AES-CTR with plain HMAC-SHA2.
 *
 * known_hosts lines (comments start with '#'):
 *	PROVIDER INSTANCE-ID HOST:PORT KEYTYPE BASE64-KEY SHA256:FINGERPRINT
 * A line for the instance that is not a whole entry, or a second line for
 * it, fails closed (never a new first use) until ssh-forget removes them;
 * a provider or id that cannot be one field is refused.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <openssl/evp.h>

#include "provider.h"

#define SSH_BACKOFF_MS		500
#define KNOWN_MAX		(4 << 20)
#define SSH_DIR_MAX		1000000	/* a hostile server's endless list */

struct ssh_conn {
	LIBSSH2_SESSION	*s;
	LIBSSH2_SFTP	*sftp;
	int		 fd;
	char		*where;		/* "host:port", for messages */
	char		 fp[64];	/* "SHA256:..." */
	bool		 first_use;
	int64_t		 deadline_ms;	/* 0: the connect timeout */
	int64_t		 timeout_ms;
};

struct ssh_file {
	struct ssh_conn	*c;
	LIBSSH2_SFTP_HANDLE *h;
	char		*path;
};

/* Copy what fits of src, always terminated. */
static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t	 n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static pthread_once_t	 ssh_once = PTHREAD_ONCE_INIT;
static int		 ssh_init_rc;

static void
ssh_init_once(void)
{
	ssh_init_rc = libssh2_init(0);
}

const char *
ssh_lib_version(void)
{
	return libssh2_version(0);
}

bool
ssh_lib_has_strict_kex(void)
{
	return libssh2_version(0x010b01) != NULL;
}

/* The last libssh2 error, as text (never holds key material). */
static const char *
last_err(LIBSSH2_SESSION *s, int *code)
{
	char	*msg = NULL;
	int	 len = 0, rc;

	rc = libssh2_session_last_error(s, &msg, &len, 0);
	if (code != NULL)
		*code = rc;
	return msg != NULL && *msg != '\0' ? msg : "unknown error";
}

static const char *
hostkey_type_name(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return "ssh-rsa";
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return "ssh-dss";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return "ecdsa-sha2-nistp256";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return "ecdsa-sha2-nistp384";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return "ecdsa-sha2-nistp521";
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return "ssh-ed25519";
	default:
		return "unknown";
	}
}

/* "SHA256:" and unpadded base64 of the key blob's SHA-256, as OpenSSH. */
void
ssh_fingerprint_blob(const void *blob, size_t len, char out[64])
{
	unsigned char	 md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int	 mdlen = 0;
	int		 n;

	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		fatalx("sha256 failed");
	n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	memcpy(out, "SHA256:", 7);
	copy_str(out + 7, 64 - 7, (char *)b64);
}

static char *
b64_encode(const void *p, size_t len)
{
	char	*out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)len);
	return out;
}

/*
 * known_hosts.
 */

struct known {
	char		*text;		/* owned; the file */
	size_t		 len;
	/* the matching line, when found */
	bool		 found;
	size_t		 line_off, line_len;
	char		*key_b64;	/* owned */
	char		 fp[64];
	char		 where[300];
	/* a line for the instance that is not a whole entry, or a second
	 * one: nothing can be trusted, and only ssh-forget mends it */
	int		 damaged_line;	/* 1-based; 0: none */
};

static void
known_release(struct known *k)
{
	free(k->text);
	free(k->key_b64);
	k->text = k->key_b64 = NULL;
}

static int
known_lock(const char *path, int *fdp, struct gr_err *e)
{
	char	*lp = xasprintf("%s.lock", path);
	int	 fd;

	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		gr_err_set(e, GR_E_IO, "known_hosts: lock %s: %s", lp,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		free(lp);
		return -1;
	}
	free(lp);
	*fdp = fd;
	return 0;
}

/*
 * Read the file and find the instance's line.  Fields are split on blanks
 * with no length limit (an RSA-8192 key is longer than any fixed buffer).
 * A line that names the instance but is not a whole entry, or a second
 * line for it, marks the entry damaged: the caller fails closed rather
 * than trusting whatever key it sees.
 */
static int
known_read(const char *path, const char *provider, const char *id,
    struct known *k, struct gr_err *e)
{
	char	*line, *end, *one, *tok, *save, *f[7];
	size_t	 off;
	int	 n, lineno = 0;

	memset(k, 0, sizeof(*k));
	if (file_read(path, KNOWN_MAX, &k->text, &k->len) == -1) {
		if (errno != ENOENT) {
			gr_err_set(e, GR_E_IO, "known_hosts: read %s: %s",
			    path, strerror(errno));
			return -1;
		}
		k->text = xstrdup("");
		k->len = 0;
	}
	for (off = 0; off < k->len; off = (size_t)(end - k->text) + 1) {
		line = k->text + off;
		lineno++;
		end = memchr(line, '\n', k->len - off);
		if (end == NULL)
			end = k->text + k->len;
		if (line[0] == '#' || end == line)
			continue;
		one = xstrndup(line, (size_t)(end - line));
		n = 0;
		save = NULL;
		for (tok = strtok_r(one, " \t\r", &save); tok != NULL && n < 7;
		    tok = strtok_r(NULL, " \t\r", &save))
			f[n++] = tok;
		if (n < 2 || strcmp(f[0], provider) != 0 ||
		    strcmp(f[1], id) != 0) {
			free(one);
			continue;
		}
		if (n != 6 || strncmp(f[5], "SHA256:", 7) != 0 || k->found) {
			if (k->damaged_line == 0)
				k->damaged_line = lineno;
		}
		if (!k->found) {
			k->found = true;
			k->line_off = off;
			k->line_len = (size_t)(end - line) +
			    (end < k->text + k->len);
			if (n == 6) {
				k->key_b64 = xstrdup(f[4]);
				copy_str(k->fp, sizeof(k->fp), f[5]);
				copy_str(k->where, sizeof(k->where), f[2]);
			}
		}
		free(one);
	}
	return 0;
}

static int
known_write(const char *path, struct buf *b, struct gr_err *e)
{
	if (file_write_atomic(path, buf_str(b), b->len, 0600) == -1) {
		gr_err_set(e, GR_E_IO, "known_hosts: write %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * A provider name or instance id is one known_hosts field: a blank or a
 * control character in it would make a line never match again (every
 * connection a first use) or, with a newline, write a line of its own.
 */
static bool
known_field_ok(const char *s)
{
	if (*s == '\0' || *s == '#')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

static int
known_fields_check(const char *provider, const char *id, struct gr_err *e)
{
	if (known_field_ok(provider) && known_field_ok(id))
		return 0;
	gr_err_set(e, GR_E_INTERNAL, "known_hosts: provider '%s' or instance "
	    "id '%s' is empty or holds a blank or a control character; no "
	    "host key can be recorded for it", known_field_ok(provider) ?
	    provider : "(unprintable)", known_field_ok(id) ? id :
	    "(unprintable)");
	return -1;
}

/* Check the session's host key against the file; record it on first use. */
static int
hostkey_verify(struct ssh_conn *c, const struct ssh_target *t,
    struct gr_err *e)
{
	struct known	 k;
	struct buf	 b = BUF_INIT;
	const char	*blob;
	size_t		 len;
	int		 type, lockfd = -1, rc = -1;
	char		*b64 = NULL;

	blob = libssh2_session_hostkey(c->s, &len, &type);
	if (blob == NULL) {
		gr_err_set(e, GR_E_TRANSIENT, "ssh to %s: no host key: %s",
		    c->where, last_err(c->s, NULL));
		return -1;
	}
	ssh_fingerprint_blob(blob, len, c->fp);
	b64 = b64_encode(blob, len);
	if (known_fields_check(t->provider, t->instance_id, e) == -1 ||
	    known_lock(t->known_hosts, &lockfd, e) == -1)
		goto out;
	if (known_read(t->known_hosts, t->provider, t->instance_id, &k, e) ==
	    -1)
		goto out;
	if (k.damaged_line > 0) {
		gr_err_set(e, GR_E_AUTH, "ssh to %s (%s instance %s): %s line "
		    "%d: the recorded host key entry is damaged or repeated; "
		    "refusing to connect", c->where, t->provider,
		    t->instance_id, t->known_hosts, k.damaged_line);
		gr_err_hint(e, "if the file was not tampered with, run "
		    "'gpureconcile provider %s ssh-forget --instance %s' and "
		    "connect again (the next key seen is trusted)",
		    t->provider, t->instance_id);
		goto out_known;
	}
	if (k.found) {
		if (strcmp(k.key_b64, b64) == 0) {
			rc = 0;
			goto out_known;
		}
		gr_err_set(e, GR_E_AUTH, "ssh to %s (%s instance %s): the "
		    "host key changed: recorded %s (at %s), now %s; "
		    "refusing to connect", c->where, t->provider,
		    t->instance_id, k.fp, k.where, c->fp);
		gr_err_hint(e, "someone may be intercepting the connection; "
		    "if the instance was legitimately rebuilt, run "
		    "'gpureconcile provider %s ssh-forget --instance %s' and "
		    "connect again", t->provider, t->instance_id);
		goto out_known;
	}
	if (k.len == 0)
		buf_adds(&b, "# gpureconcile known hosts: PROVIDER INSTANCE "
		    "HOST:PORT KEYTYPE KEY FINGERPRINT\n");
	buf_add(&b, k.text, k.len);
	if (k.len > 0 && k.text[k.len - 1] != '\n')
		buf_addc(&b, '\n');
	buf_addf(&b, "%s %s %s %s %s %s\n", t->provider, t->instance_id,
	    c->where, hostkey_type_name(type), b64, c->fp);
	if (known_write(t->known_hosts, &b, e) == -1)
		goto out_known;
	c->first_use = true;
	log_info("%s instance %s: recorded host key %s (%s) for %s",
	    t->provider, t->instance_id, c->fp, hostkey_type_name(type),
	    c->where);
	rc = 0;
out_known:
	known_release(&k);
out:
	if (lockfd != -1)
		close(lockfd);
	buf_release(&b);
	free(b64);
	return rc;
}

int
ssh_known_forget(const char *known_hosts, const char *provider,
    const char *id, char old_fp[64], struct gr_err *e)
{
	struct known	 k;
	struct buf	 b = BUF_INIT;
	int		 lockfd, rc = -1;

	old_fp[0] = '\0';
	if (known_fields_check(provider, id, e) == -1 ||
	    known_lock(known_hosts, &lockfd, e) == -1)
		return -1;
	/* every line for the instance goes, damaged or repeated ones too */
	for (;;) {
		if (known_read(known_hosts, provider, id, &k, e) == -1)
			goto out;
		if (!k.found)
			break;
		buf_reset(&b);
		buf_add(&b, k.text, k.line_off);
		buf_add(&b, k.text + k.line_off + k.line_len,
		    k.len - k.line_off - k.line_len);
		if (known_write(known_hosts, &b, e) == -1)
			goto out_known;
		if (old_fp[0] == '\0')
			copy_str(old_fp, 64, k.fp[0] != '\0' ? k.fp :
			    "(damaged entry)");
		known_release(&k);
	}
	known_release(&k);
	if (old_fp[0] == '\0') {
		gr_err_set(e, GR_E_NOT_FOUND, "ssh-forget: no host key "
		    "recorded for %s instance %s", provider, id);
		goto out;
	}
	rc = 0;
	goto out;
out_known:
	known_release(&k);
out:
	buf_release(&b);
	close(lockfd);
	return rc;
}

/*
 * Connecting.
 */

static int64_t
now_mono(void)
{
	return clock_mono_ms();
}

static int
tcp_connect(const char *host, int port, int64_t timeout_ms, int *fdp,
    struct gr_err *e)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	struct pollfd	 pfd;
	char		 ps[16];
	int64_t		 deadline = now_mono() + timeout_ms, left;
	int		 fd = -1, err = 0, rc, fl;
	socklen_t	 sl;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0) {
		gr_err_set(e, GR_E_TRANSIENT, "ssh to %s:%d: cannot resolve "
		    "the host: %s", host, port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			for (;;) {
				left = deadline - now_mono();
				if (left <= 0) {
					err = ETIMEDOUT;
					break;
				}
				rc = poll(&pfd, 1, (int)left);
				if (rc == -1 && errno == EINTR)
					continue;
				if (rc <= 0) {
					err = rc == 0 ? ETIMEDOUT : errno;
					break;
				}
				sl = sizeof(err);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				    &sl) == -1)
					err = errno;
				break;
			}
			if (err == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		gr_err_set(e, err == ETIMEDOUT ? GR_E_TIMEOUT :
		    GR_E_TRANSIENT, "ssh to %s:%d: connect: %s%s", host, port,
		    strerror(err), err == ETIMEDOUT ? " (connect timeout)" :
		    "");
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		gr_err_set(e, GR_E_IO, "ssh to %s:%d: fcntl: %s", host, port,
		    strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

#define SSH_CLOSE_MS	2000	/* for goodbyes, even past a deadline */

static void
conn_drop(struct ssh_conn *c)
{
	if (c->s != NULL)
		libssh2_session_set_timeout(c->s, SSH_CLOSE_MS);
	if (c->sftp != NULL)
		libssh2_sftp_shutdown(c->sftp);
	c->sftp = NULL;
	if (c->s != NULL) {
		libssh2_session_disconnect(c->s, "gpureconcile: done");
		libssh2_session_free(c->s);
	}
	c->s = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* One attempt: TCP, handshake.  *retry: worth another attempt. */
static int
connect_once(struct ssh_conn *c, const struct ssh_target *t, bool *retry,
    struct gr_err *e)
{
	int	 rc;

	*retry = true;
	if (tcp_connect(t->host, t->port, c->timeout_ms, &c->fd, e) == -1)
		return -1;
	c->s = libssh2_session_init();
	if (c->s == NULL)
		fatalx("libssh2_session_init: out of memory");
	libssh2_session_set_blocking(c->s, 1);
	libssh2_session_set_timeout(c->s, (long)c->timeout_ms);
	if (!ssh_lib_has_strict_kex()) {
		/* without strict kex: nothing Terrapin can exploit */
		(void)libssh2_session_method_pref(c->s,
		    LIBSSH2_METHOD_CRYPT_CS, "aes256-ctr,aes192-ctr,aes128-ctr");
		(void)libssh2_session_method_pref(c->s,
		    LIBSSH2_METHOD_CRYPT_SC, "aes256-ctr,aes192-ctr,aes128-ctr");
		(void)libssh2_session_method_pref(c->s,
		    LIBSSH2_METHOD_MAC_CS, "hmac-sha2-256,hmac-sha2-512");
		(void)libssh2_session_method_pref(c->s,
		    LIBSSH2_METHOD_MAC_SC, "hmac-sha2-256,hmac-sha2-512");
	}
	rc = libssh2_session_handshake(c->s, c->fd);
	if (rc != 0) {
		gr_err_set(e, rc == LIBSSH2_ERROR_TIMEOUT ? GR_E_TIMEOUT :
		    GR_E_TRANSIENT, "ssh to %s: handshake failed: %s",
		    c->where, last_err(c->s, NULL));
		return -1;
	}
	*retry = false;
	if (hostkey_verify(c, t, e) == -1)
		return -1;
	return 0;
}

static int
auth(struct ssh_conn *c, const struct ssh_target *t, struct gr_err *e)
{
	struct stat	 st;
	char		*pub;
	int		 rc;

	if (t->key_path == NULL) {
		gr_err_set(e, GR_E_AUTH, "ssh to %s: no client key", c->where);
		gr_err_hint(e, "set the provider's ssh_key option, or create "
		    "~/.ssh/id_ed25519 with ssh-keygen -t ed25519");
		return -1;
	}
	if (stat(t->key_path, &st) == -1) {
		gr_err_set(e, GR_E_AUTH, "ssh to %s: client key '%s': %s",
		    c->where, t->key_path, strerror(errno));
		gr_err_hint(e, "check the provider's ssh_key option");
		return -1;
	}
	pub = xasprintf("%s.pub", t->key_path);
	rc = libssh2_userauth_publickey_fromfile_ex(c->s, t->user,
	    (unsigned int)strlen(t->user), access(pub, R_OK) == 0 ? pub : NULL,
	    t->key_path, NULL);
	free(pub);
	if (rc != 0) {
		gr_err_set(e, rc == LIBSSH2_ERROR_TIMEOUT ? GR_E_TIMEOUT :
		    GR_E_AUTH, "ssh to %s as '%s': key '%s' was not accepted: "
		    "%s", c->where, t->user, t->key_path,
		    last_err(c->s, NULL));
		gr_err_hint(e, "the instance must have %s.pub in its "
		    "authorized_keys; encrypted keys are not supported",
		    t->key_path);
		return -1;
	}
	return 0;
}

/*
 * Names and addresses that reach no host by definition: the .invalid
 * domain (RFC 6761) and the documentation networks (RFC 5737, RFC 3849).
 * The simulated clouds hand these out; dialling them would only leak a
 * DNS query or a packet.
 */
static bool
host_reserved(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	size_t		 n = strlen(host);
	uint32_t	 ip;

	while (n > 0 && host[n - 1] == '.')
		n--;
	if ((n >= 8 && strncasecmp(host + n - 8, ".invalid", 8) == 0) ||
	    (n == 7 && strncasecmp(host, "invalid", 7) == 0))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		ip = ntohl(a4.s_addr) & 0xffffff00u;
		return ip == 0xc0000200u || ip == 0xc6336400u ||
		    ip == 0xcb007100u;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return a6.s6_addr[0] == 0x20 && a6.s6_addr[1] == 0x01 &&
		    a6.s6_addr[2] == 0x0d && a6.s6_addr[3] == 0xb8;
	return false;
}

int
ssh_connect(const struct ssh_target *t, struct ssh_conn **out,
    struct gr_err *e)
{
	struct ssh_conn	*c;
	int64_t		 backoff = SSH_BACKOFF_MS;
	int		 attempt;
	bool		 retry;

	*out = NULL;
	if (host_reserved(t->host)) {
		gr_err_set(e, GR_E_UNSUPPORTED, "ssh to %s:%d: the provider "
		    "gave a reserved name or documentation address, which "
		    "reaches no host (RFC 6761, RFC 5737)", t->host, t->port);
		gr_err_hint(e, "a simulated cloud has no SSH endpoint");
		return -1;
	}
	pthread_once(&ssh_once, ssh_init_once);
	if (ssh_init_rc != 0) {
		gr_err_set(e, GR_E_INTERNAL, "libssh2_init failed (%d)",
		    ssh_init_rc);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = t->connect_timeout_ms > 0 ? t->connect_timeout_ms :
	    10000;
	c->where = strchr(t->host, ':') != NULL ?
	    xasprintf("[%s]:%d", t->host, t->port) :
	    xasprintf("%s:%d", t->host, t->port);
	for (attempt = 0;; attempt++) {
		if (connect_once(c, t, &retry, e) == 0)
			break;
		conn_drop(c);
		if (!retry || attempt >= t->retries)
			goto fail;
		log_debug("ssh to %s: %s; retrying in %lld ms (%d of %d)",
		    c->where, e->msg, (long long)backoff, attempt + 1,
		    t->retries);
		clock_sleep_ms(backoff);
		backoff *= 2;
	}
	if (auth(c, t, e) == -1)
		goto fail;
	*out = c;
	return 0;
fail:
	ssh_close(c);
	return -1;
}

const char *
ssh_conn_fingerprint(const struct ssh_conn *c)
{
	return c->fp;
}

bool
ssh_conn_first_use(const struct ssh_conn *c)
{
	return c->first_use;
}

void
ssh_close(struct ssh_conn *c)
{
	if (c == NULL)
		return;
	conn_drop(c);
	free(c->where);
	free(c);
}

void
ssh_set_deadline(struct ssh_conn *c, int64_t deadline_ms)
{
	c->deadline_ms = deadline_ms;
}

/* Before each blocking call: give it what is left of the deadline. */
static bool
arm(struct ssh_conn *c, const char *what, struct gr_err *e)
{
	int64_t	 left;

	if (c->deadline_ms == 0) {
		libssh2_session_set_timeout(c->s, (long)c->timeout_ms);
		return true;
	}
	left = c->deadline_ms - clock_mono_ms();
	if (left <= 0) {
		gr_err_set(e, GR_E_TIMEOUT, "ssh to %s: timed out %s",
		    c->where, what);
		return false;
	}
	libssh2_session_set_timeout(c->s, (long)left);
	return true;
}

/*
 * SFTP.
 */

static void
sftp_err(struct ssh_conn *c, const char *what, const char *path,
    struct gr_err *e)
{
	unsigned long	 fx;
	int		 code;
	const char	*msg = last_err(c->s, &code);

	if (code == LIBSSH2_ERROR_TIMEOUT) {
		gr_err_set(e, GR_E_TIMEOUT, "sftp %s '%s' on %s: timed out",
		    what, path, c->where);
		return;
	}
	if (code == LIBSSH2_ERROR_SFTP_PROTOCOL && c->sftp != NULL) {
		fx = libssh2_sftp_last_error(c->sftp);
		if (fx == LIBSSH2_FX_NO_SUCH_FILE ||
		    fx == LIBSSH2_FX_NO_SUCH_PATH) {
			gr_err_set(e, GR_E_NOT_FOUND, "sftp %s '%s' on %s: no "
			    "such file or directory", what, path, c->where);
			return;
		}
		if (fx == LIBSSH2_FX_PERMISSION_DENIED) {
			gr_err_set(e, GR_E_IO, "sftp %s '%s' on %s: "
			    "permission denied", what, path, c->where);
			return;
		}
		gr_err_set(e, GR_E_IO, "sftp %s '%s' on %s: SFTP status %lu",
		    what, path, c->where, fx);
		return;
	}
	gr_err_set(e, GR_E_TRANSIENT, "sftp %s '%s' on %s: %s", what, path,
	    c->where, msg);
}

static int
sftp_ensure(struct ssh_conn *c, struct gr_err *e)
{
	int	 code;

	if (c->sftp != NULL)
		return 0;
	if (!arm(c, "starting SFTP", e))
		return -1;
	c->sftp = libssh2_sftp_init(c->s);
	if (c->sftp == NULL) {
		const char	*msg = last_err(c->s, &code);

		if (code == LIBSSH2_ERROR_TIMEOUT) {
			gr_err_set(e, GR_E_TIMEOUT, "ssh to %s: timed out "
			    "starting SFTP", c->where);
			return -1;
		}
		gr_err_set(e, GR_E_TRANSIENT, "ssh to %s: cannot start SFTP: "
		    "%s", c->where, msg);
		gr_err_hint(e, "the server needs the sftp subsystem");
		return -1;
	}
	return 0;
}

static void
attrs_to_stat(const LIBSSH2_SFTP_ATTRIBUTES *a, struct ssh_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->type = SSH_F_OTHER;
	if (a->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) {
		st->perm = (unsigned int)(a->permissions & 0777);
		if (LIBSSH2_SFTP_S_ISREG(a->permissions))
			st->type = SSH_F_REG;
		else if (LIBSSH2_SFTP_S_ISDIR(a->permissions))
			st->type = SSH_F_DIR;
		else if (LIBSSH2_SFTP_S_ISLNK(a->permissions))
			st->type = SSH_F_LINK;
	}
	if (a->flags & LIBSSH2_SFTP_ATTR_SIZE)
		st->size = a->filesize;
	if (a->flags & LIBSSH2_SFTP_ATTR_ACMODTIME)
		st->mtime = (int64_t)a->mtime;
	st->has_mtime = (a->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) != 0;
	st->has_size = (a->flags & LIBSSH2_SFTP_ATTR_SIZE) != 0;
}

int
ssh_sftp_lstat(struct ssh_conn *c, const char *path, struct ssh_stat *st,
    struct gr_err *e)
{
	LIBSSH2_SFTP_ATTRIBUTES	 a;

	if (sftp_ensure(c, e) == -1 || !arm(c, "reading attributes", e))
		return -1;
	if (libssh2_sftp_lstat(c->sftp, path, &a) != 0) {
		sftp_err(c, "lstat", path, e);
		return -1;
	}
	attrs_to_stat(&a, st);
	return 0;
}

void
ssh_dirents_free(struct ssh_dirent *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

size_t
ssh_dirent_cost(size_t name_len)
{
	return sizeof(struct ssh_dirent) + name_len + 1;
}

int
ssh_sftp_list(struct ssh_conn *c, const char *path, size_t max_bytes,
    struct ssh_dirent **vp, size_t *np, struct gr_err *e)
{
	LIBSSH2_SFTP_HANDLE	*h;
	LIBSSH2_SFTP_ATTRIBUTES	 a;
	struct ssh_dirent	*v = NULL;
	char			 name[4096];
	size_t			 n = 0, held = 0;
	int			 rc;

	*vp = NULL;
	*np = 0;
	if (sftp_ensure(c, e) == -1 || !arm(c, "opening a directory", e))
		return -1;
	h = libssh2_sftp_opendir(c->sftp, path);
	if (h == NULL) {
		sftp_err(c, "opendir", path, e);
		return -1;
	}
	for (;;) {
		if (!arm(c, "listing a directory", e))
			goto fail;
		rc = libssh2_sftp_readdir_ex(h, name, sizeof(name) - 1, NULL,
		    0, &a);
		if (rc == 0)
			break;
		if (rc < 0) {
			sftp_err(c, "readdir", path, e);
			goto fail;
		}
		if (n >= SSH_DIR_MAX) {
			gr_err_set(e, GR_E_IO, "sftp readdir '%s' on %s: more "
			    "than %d entries", path, c->where, SSH_DIR_MAX);
			goto fail;
		}
		held += ssh_dirent_cost((size_t)rc);
		if (held > max_bytes) {
			gr_err_set(e, GR_E_IO, "sftp readdir '%s' on %s: "
			    "refused after %zu entries: the listing would pass "
			    "the %zu KiB of memory left for it", path,
			    c->where, n, max_bytes / 1024);
			gr_err_hint(e, "a directory this large is not pulled "
			    "whole; pull its subdirectories one by one");
			goto fail;
		}
		v = xreallocarray(v, n + 1, sizeof(*v));
		/* keep the length as sent: an embedded NUL is caught later */
		v[n].name = xmalloc((size_t)rc + 1);
		memcpy(v[n].name, name, (size_t)rc);
		v[n].name[rc] = '\0';
		v[n].name_len = (size_t)rc;
		attrs_to_stat(&a, &v[n].st);
		n++;
	}
	libssh2_sftp_closedir(h);
	*vp = v;
	*np = n;
	return 0;
fail:
	libssh2_session_set_timeout(c->s, SSH_CLOSE_MS);
	libssh2_sftp_closedir(h);
	ssh_dirents_free(v, n);
	return -1;
}

int
ssh_sftp_open(struct ssh_conn *c, const char *path, struct ssh_file **fp,
    struct ssh_stat *st, struct gr_err *e)
{
	LIBSSH2_SFTP_ATTRIBUTES	 a;
	struct ssh_file		*f;

	*fp = NULL;
	if (sftp_ensure(c, e) == -1 || !arm(c, "opening a file", e))
		return -1;
	f = xcalloc(1, sizeof(*f));
	f->c = c;
	f->path = xstrdup(path);
	f->h = libssh2_sftp_open(c->sftp, path, LIBSSH2_FXF_READ, 0);
	if (f->h == NULL) {
		sftp_err(c, "open", path, e);
		goto fail;
	}
	if (libssh2_sftp_fstat(f->h, &a) != 0) {
		sftp_err(c, "fstat", path, e);
		goto fail;
	}
	attrs_to_stat(&a, st);
	*fp = f;
	return 0;
fail:
	ssh_sftp_close(f);
	return -1;
}

ssize_t
ssh_sftp_read(struct ssh_file *f, void *buf, size_t len, struct gr_err *e)
{
	ssize_t	 n;

	if (!arm(f->c, "reading a file", e))
		return -1;
	n = libssh2_sftp_read(f->h, buf, len);
	if (n < 0) {
		sftp_err(f->c, "read", f->path, e);
		return -1;
	}
	return n;
}

void
ssh_sftp_close(struct ssh_file *f)
{
	if (f == NULL)
		return;
	if (f->h != NULL) {
		libssh2_session_set_timeout(f->c->s, SSH_CLOSE_MS);
		libssh2_sftp_close(f->h);
	}
	free(f->path);
	free(f);
}
