/*
 * http.c: the HTTP layer, and the only file of ours that uses libcurl.
 * Every provider that talks to a cloud does it through http_do, so the
 * rules of DESIGN.md section 9 and STYLE.md rule 11 are kept in one place:
 *
 * - TLS verification is always on (peer and host, TLS 1.2 at least) and
 *   there is no switch to turn it off.  Plain http:// is accepted only
 *   when the base URL's host is a loopback address (127.0.0.0/8, ::1,
 *   localhost): the simulator.  Loopback hosts never go through a proxy.
 * - Only http and https; redirects are never followed (a redirect could
 *   carry the Authorization header elsewhere), and http_classify treats a
 *   3xx as an error, since a "successful" redirected DELETE would leave an
 *   instance billing.
 * - Connect timeout, total timeout, a low-speed abort (under 1 byte/s for
 *   30 s) and a cap on the reply (Content-Length checked up front, the
 *   bytes counted as they come); a reply over the cap is an error.
 * - One easy handle per client, so connections are reused; a mutex
 *   serialises the calls on one client, so threads may share it.  Except:
 *   POST, PUT and PATCH (Vast rents with a PUT, RunPod and Lambda with a
 *   POST) always open a fresh connection.  libcurl silently sends a
 *   request again when a reused connection dies before any reply, which
 *   is right for an idle connection the server had closed, but would
 *   rent a second instance if the server acted on the first copy and then
 *   dropped the connection.  GET and DELETE keep reusing connections.
 * - Pacing: with min_interval_ms set, a request starts no earlier than
 *   that long after the previous one on the same client *ended*.  Counting
 *   from the end, not the start, means the server has seen the previous
 *   request before the interval begins, whatever the network delay, so a
 *   provider's documented minimum interval is kept on its side too.  Time
 *   is util's clock (clock_now_ms/clock_sleep_ms).  So paced requests go
 *   one at a time; without pacing up to HTTP_HANDLES go at once, each on
 *   a curl handle of its own (bench/converge: 200 creates at 100 ms each
 *   took 20 s one at a time).
 * - The key travels only in "Authorization: Bearer <key>"; a URL that
 *   would contain it is refused.  At -vv (log_verbosity() > LOG_LVL_DEBUG)
 *   a curl debug trace logs request and reply headers with the
 *   Authorization value replaced by "[redacted]", and bodies only as byte
 *   counts (spawn bodies carry the group's env, which may hold secrets).
 *   Any text that reaches a log line or an error is scrubbed of the key
 *   first, and a reply that echoes the key (body or header) has it
 *   replaced before the caller sees it.
 *
 * Transport failures (http_do returns -1) map onto the taxonomy like this:
 *
 * - GR_E_TRANSIENT, outcome_unknown false: the request was certainly not
 *   sent: DNS failure, connection refused or unreachable, a timeout or a
 *   TLS handshake failure before the connection was ready.
 * - GR_E_TRANSIENT, outcome_unknown true: the request was possibly sent,
 *   and the reply is missing or incomplete: a timeout mid-transfer, a
 *   reset or close after sending, an empty reply, a reply over the size
 *   cap (the server acted; we just will not read its answer).
 *   "Possibly sent" is decided from what curl measured, not from the
 *   error code: the connection reached the pre-transfer point
 *   (CURLINFO_PRETRANSFER_TIME_T > 0: connected, TLS done, the request
 *   about to be written), or any request bytes were written
 *   (CURLINFO_REQUEST_SIZE > 0), or any reply header arrived
 *   (CURLINFO_HEADER_SIZE > 0).  Only the codes that cannot happen after
 *   sending (resolve, connect, TLS handshake) are "not sent" regardless.
 *   Erring towards "unknown" costs a list before a retry; erring the
 *   other way could rent a second instance.
 * - GR_E_CONFIG: the server's TLS certificate could not be verified (or
 *   the CA store is unusable).  It is not AUTH (the key was never sent)
 *   and not TRANSIENT: retrying does not fix a wrong base_url, a missing
 *   ca-certificates or a network that intercepts TLS, and a retry loop
 *   would hide a possible interception.  The hint says what to check.
 *   A malformed URL or an unsupported scheme is GR_E_CONFIG too.
 *
 * Retry-After (seconds or an HTTP date, against clock_now_ms) is clamped
 * to [0, 1 h].
 *
 * CURLOPT_NOSIGNAL is set (threads); main() ignores SIGPIPE for us.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "provider.h"

#define HTTP_CONNECT_TIMEOUT_MS	(10 * 1000)
#define HTTP_TIMEOUT_MS		(60 * 1000)
#define HTTP_MAX_BODY		((int64_t)16 << 20)
#define HTTP_LOW_SPEED_BYTES	1L	/* abort below this many bytes/s */
#define HTTP_LOW_SPEED_SECS	30L	/* ... for this long */
#define HTTP_MAX_HEADERS	(256 * 1024)	/* bytes of reply headers */
#define HTTP_RETRY_AFTER_MAX_MS	((int64_t)3600 * 1000)
#define HTTP_QUOTE_MAX		200	/* bytes of a body quoted in errors */
#define HTTP_KEY_IN_URL_MIN	8	/* shorter keys match by chance */
#define HTTP_HANDLES		8	/* unpaced requests at once */

#define REDACTED		"[redacted]"

/* One curl handle: one request at a time, its connections kept. */
struct http_handle {
	CURL		*curl;		/* owned; NULL until first needed */
	char		 errbuf[CURL_ERROR_SIZE];
	bool		 busy;
};

struct http_client {
	pthread_mutex_t	 mtx;		/* guards hs[].busy, last_end_ms */
	pthread_cond_t	 freed;		/* a handle was given back */
	pthread_mutex_t	 pace_mtx;	/* paced: one request at a time */
	struct http_handle hs[HTTP_HANDLES];
	char		*provider;	/* owned */
	char		*base_url;	/* owned; no trailing '/' */
	bool		 loopback;	/* base URL's host is loopback */
	char		*key;		/* owned; NULL: none; wiped on free */
	char		*key_source;	/* owned; NULL when key is NULL */
	struct http_opts opts;		/* defaults filled in */
	int64_t		 last_end_ms;	/* when the last call ended; 0: never */
};

/* State of one transfer, shared with curl's callbacks. */
struct xfer {
	struct http_client *c;
	CURL		*h;		/* the handle doing it */
	char		*errbuf;	/* its error buffer */
	struct buf	 body;
	int64_t		 max_body;
	bool		 too_large;
	struct kv	*headers;	/* owned */
	size_t		 nheaders;
	size_t		 header_bytes;
};

static pthread_once_t	 curl_once = PTHREAD_ONCE_INIT;
static CURLcode		 curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Wipe and free. */
static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Append text to b with every occurrence of secret replaced. */
static void
redact_into(struct buf *b, const char *text, size_t len, const char *secret)
{
	size_t		 klen = secret != NULL ? strlen(secret) : 0;
	const char	*p = text, *end = text + len, *hit;

	if (klen == 0) {
		buf_add(b, text, len);
		return;
	}
	while (p < end) {
		hit = memmem(p, (size_t)(end - p), secret, klen);
		if (hit == NULL) {
			buf_add(b, p, (size_t)(end - p));
			break;
		}
		buf_add(b, p, (size_t)(hit - p));
		buf_adds(b, REDACTED);
		p = hit + klen;
	}
}

char *
http_redact(const char *text, size_t len, const char *secret)
{
	struct buf	 b = BUF_INIT;

	redact_into(&b, text, len, secret);
	if (b.s == NULL)
		return xstrdup("");
	return buf_detach(&b);
}

/* Redact a fixed-size field in place (truncating if it grows). */
static void
redact_field(char *field, size_t size, const char *secret)
{
	char	*r;

	if (strstr(field, secret) == NULL)
		return;
	r = http_redact(field, strlen(field), secret);
	(void)snprintf(field, size, "%s", r);
	free(r);
}

void
http_err_redact(struct gr_err *e, const char *secret)
{
	if (e == NULL || secret == NULL || *secret == '\0')
		return;
	redact_field(e->msg, sizeof(e->msg), secret);
	redact_field(e->hint, sizeof(e->hint), secret);
}

static void
headers_free(struct kv *h, size_t n)
{
	kv_free(h, n);
}

/*
 * Is host (as curl's URL parser gives it: IPv6 in brackets) a loopback
 * address?  Only the literal forms and "localhost": any other name could
 * resolve anywhere.
 */
static bool
host_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 tmp[INET6_ADDRSTRLEN + 2];
	size_t		 len = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (len > 2 && host[0] == '[' && host[len - 1] == ']' &&
	    len - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, len - 2);
		tmp[len - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return false;
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

/* Check base_url against the rules above; sets *loopback. */
static int
check_base_url(const char *base_url, bool *loopback, struct gr_err *e)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL, *user = NULL;
	char		*query = NULL, *frag = NULL;
	int		 rc = -1;

	u = curl_url();
	if (u == NULL)
		fatalx("curl_url: out of memory");
	if (curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		gr_err_set(e, GR_E_CONFIG, "base_url '%s' is not a URL",
		    base_url);
		gr_err_hint(e, "write it as https://HOST[:PORT][/PATH]");
		goto out;
	}
	(void)curl_url_get(u, CURLUPART_USER, &user, 0);
	(void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
	(void)curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	*loopback = host_is_loopback(host);
	if (user != NULL) {
		/* do not echo it: the user part may be a credential */
		gr_err_set(e, GR_E_CONFIG, "base_url for host '%s' carries a "
		    "user name or password", host);
		gr_err_hint(e, "keys go in a key file or the environment, "
		    "never in a URL");
		goto out;
	}
	if (query != NULL || frag != NULL) {
		gr_err_set(e, GR_E_CONFIG, "base_url '%s' has a query or "
		    "fragment", base_url);
		gr_err_hint(e, "give only https://HOST[:PORT][/PATH]");
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		rc = 0;
	else if (strcasecmp(scheme, "http") == 0) {
		if (*loopback)
			rc = 0;
		else {
			gr_err_set(e, GR_E_CONFIG, "base_url '%s': plain http "
			    "is refused for a host that is not loopback",
			    base_url);
			gr_err_hint(e, "use https://; http:// is only for a "
			    "simulator on 127.0.0.1, ::1 or localhost");
		}
	} else {
		gr_err_set(e, GR_E_CONFIG, "base_url '%s': scheme '%s' is not "
		    "http or https", base_url, scheme);
		gr_err_hint(e, "use https://HOST");
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return rc;
}

/* Printable ASCII, no blanks: safe after "Bearer ". */
static bool
key_fits_header(const char *k)
{
	for (; *k != '\0'; k++)
		if ((unsigned char)*k <= 0x20 || (unsigned char)*k >= 0x7f)
			return false;
	return true;
}

int
http_client_new(const char *provider, const char *base_url,
    const struct cred *cred, const struct http_opts *opts,
    struct http_client **out, struct gr_err *e)
{
	struct http_client	*c;
	bool			 loopback = false;
	size_t			 len;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		gr_err_set(e, GR_E_INTERNAL, "%s: curl_global_init: %s",
		    provider, curl_easy_strerror(curl_init_rc));
		return -1;
	}
	if (check_base_url(base_url, &loopback, e) == -1) {
		gr_err_prefix(e, "%s", provider);
		return -1;
	}
	if (cred != NULL && cred->key != NULL && !key_fits_header(cred->key)) {
		/* cred_resolve checks this too; a CR or LF would let the key
		 * add headers of its own */
		gr_err_set(e, GR_E_AUTH, "%s: the API key from %s has a "
		    "character an HTTP header cannot carry", provider,
		    cred->source != NULL ? cred->source : "the caller");
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	if (pthread_mutex_init(&c->mtx, NULL) != 0 ||
	    pthread_mutex_init(&c->pace_mtx, NULL) != 0 ||
	    pthread_cond_init(&c->freed, NULL) != 0)
		fatalx("pthread_mutex_init");
	c->hs[0].curl = curl_easy_init();
	if (c->hs[0].curl == NULL)
		fatalx("curl_easy_init: out of memory");
	c->provider = xstrdup(provider);
	c->base_url = xstrdup(base_url);
	len = strlen(c->base_url);
	while (len > 0 && c->base_url[len - 1] == '/')
		c->base_url[--len] = '\0';
	c->loopback = loopback;
	if (cred != NULL && cred->key != NULL && cred->key[0] != '\0') {
		c->key = xstrdup(cred->key);
		c->key_source = xstrdup(cred->source != NULL ? cred->source :
		    "the configured key");
	}
	c->opts.connect_timeout_ms = HTTP_CONNECT_TIMEOUT_MS;
	c->opts.timeout_ms = HTTP_TIMEOUT_MS;
	c->opts.max_body = HTTP_MAX_BODY;
	if (opts != NULL) {
		if (opts->connect_timeout_ms > 0)
			c->opts.connect_timeout_ms = opts->connect_timeout_ms;
		if (opts->timeout_ms > 0)
			c->opts.timeout_ms = opts->timeout_ms;
		if (opts->max_body > 0)
			c->opts.max_body = opts->max_body;
		if (opts->min_interval_ms > 0)
			c->opts.min_interval_ms = opts->min_interval_ms;
	}
	*out = c;
	return 0;
}

void
http_client_free(struct http_client *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < HTTP_HANDLES; i++)
		if (c->hs[i].curl != NULL)
			curl_easy_cleanup(c->hs[i].curl);
	pthread_cond_destroy(&c->freed);
	pthread_mutex_destroy(&c->pace_mtx);
	pthread_mutex_destroy(&c->mtx);
	free(c->provider);
	free(c->base_url);
	free_secret(c->key);
	free(c->key_source);
	free(c);
}

void
http_resp_release(struct http_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r->content_type);
	headers_free(r->headers, r->nheaders);
	free(r->key_source);
	memset(r, 0, sizeof(*r));
	r->retry_after_ms = -1;
}

const char *
http_resp_header(const struct http_resp *r, const char *name)
{
	size_t	 i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].key, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Case-insensitive month name to 0..11, or -1. */
static int
month_index(const char *m)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	size_t	 i;

	for (i = 0; i < nitems(months); i++)
		if (strcasecmp(m, months[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * The three date forms of RFC 9110 section 5.6.7: IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete RFC 850 form
 * ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37
 * 1994").  Seconds since the epoch, or -1.
 */
static int64_t
parse_http_date(const char *s)
{
	char		 wd[16], mon[4], zone[4];
	int		 d, y, hh, mm, ss, n = 0, mi;
	struct tm	 tm;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%15[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s%n",
	    wd, &d, mon, &y, &hh, &mm, &ss, zone, &n) == 8 && n > 0) {
		/* IMF-fixdate */
	} else if (n = 0, sscanf(s,
	    "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3s%n",
	    wd, &d, mon, &y, &hh, &mm, &ss, zone, &n) == 8 && n > 0) {
		y += y < 70 ? 2000 : 1900;	/* RFC 850's two digits */
	} else if (n = 0, sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d "
	    "%4d%n", wd, mon, &d, &hh, &mm, &ss, &y, &n) == 7 && n > 0) {
		memcpy(zone, "GMT", 4);
	} else
		return -1;
	while (s[n] == ' ' || s[n] == '\t')
		n++;
	if (s[n] != '\0' || strcmp(zone, "GMT") != 0)
		return -1;
	mi = month_index(mon);
	if (mi < 0 || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 ||
	    ss > 60 || hh < 0 || mm < 0 || ss < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mi;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t;
}

int64_t
http_parse_retry_after(const char *v, int64_t now_ms)
{
	const char	*p;
	int64_t		 secs = 0, ms, when;
	size_t		 digits = 0;

	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	for (p = v; isdigit((unsigned char)*p); p++) {
		digits++;
		if (secs < HTTP_RETRY_AFTER_MAX_MS)	/* no overflow */
			secs = secs * 10 + (*p - '0');
	}
	if (digits > 0) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -1;
		if (secs > HTTP_RETRY_AFTER_MAX_MS / 1000)
			return HTTP_RETRY_AFTER_MAX_MS;
		return secs * 1000;
	}
	when = parse_http_date(v);
	if (when < 0)
		return -1;
	ms = when * 1000 - now_ms;
	if (ms < 0)
		return 0;
	if (ms > HTTP_RETRY_AFTER_MAX_MS)
		return HTTP_RETRY_AFTER_MAX_MS;
	return ms;
}

/* curl's write callback: keep the body, up to the cap. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = size * nmemb;

	if ((int64_t)(x->body.len + n) > x->max_body) {
		x->too_large = true;
		return 0;	/* CURLE_WRITE_ERROR: abort */
	}
	buf_add(&x->body, data, n);
	return n;
}

/* curl's header callback: one line at a time, names lowercased. */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = size * nmemb, len = n, i;
	const char	*colon, *v, *vend;
	struct kv	*h;
	char		*name, *joined;

	x->header_bytes += n;
	if (x->header_bytes > HTTP_MAX_HEADERS) {
		x->too_large = true;
		return 0;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response (after a 1xx): forget the last one's */
		headers_free(x->headers, x->nheaders);
		x->headers = NULL;
		x->nheaders = 0;
		return n;
	}
	if (len == 0)
		return n;
	if ((data[0] == ' ' || data[0] == '\t') && x->nheaders > 0) {
		/* obsolete line folding: continue the last value */
		h = &x->headers[x->nheaders - 1];
		for (v = data; v < data + len && (*v == ' ' || *v == '\t'); v++)
			;
		joined = xasprintf("%s %.*s", h->value, (int)(data + len - v),
		    v);
		free(h->value);
		h->value = joined;
		return n;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL || colon == data)
		return n;	/* not a header; ignore it */
	name = xstrndup(data, (size_t)(colon - data));
	for (i = 0; name[i] != '\0'; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	for (v = colon + 1; v < data + len && (*v == ' ' || *v == '\t'); v++)
		;
	for (vend = data + len; vend > v && (vend[-1] == ' ' ||
	    vend[-1] == '\t'); vend--)
		;
	x->headers = xreallocarray(x->headers, x->nheaders + 1,
	    sizeof(*x->headers));
	h = &x->headers[x->nheaders++];
	h->key = name;
	h->value = http_redact(v, (size_t)(vend - v), x->c->key);
	return n;
}

/* Is this request header line one whose value must never be shown? */
static bool
header_is_secret(const char *line, size_t len)
{
	static const char *const secret[] = { "authorization",
	    "proxy-authorization", "cookie" };
	const char	*colon = memchr(line, ':', len);
	size_t		 i, nlen;

	if (colon == NULL)
		return false;
	nlen = (size_t)(colon - line);
	for (i = 0; i < nitems(secret); i++)
		if (nlen == strlen(secret[i]) &&
		    strncasecmp(line, secret[i], nlen) == 0)
			return true;
	return false;
}

/* Log one trace line, the key scrubbed and control bytes shown as '.'. */
static void
trace_line(struct http_client *c, const char *dir, const char *s,
    size_t len)
{
	char	*r, *p;

	r = http_redact(s, len, c->key);
	for (p = r; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '.';
	log_debug("%s: http %s %s", c->provider, dir, r);
	free(r);
}

/* Split a block into lines and trace each; secret header values hidden. */
static void
trace_block(struct http_client *c, const char *dir, const char *data,
    size_t size, bool request)
{
	const char	*p = data, *end = data + size, *nl, *colon;
	size_t		 len;
	char		*masked;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0) {
			if (request && header_is_secret(p, len)) {
				colon = memchr(p, ':', len);
				masked = xasprintf("%.*s: " REDACTED,
				    (int)(colon - p), p);
				trace_line(c, dir, masked, strlen(masked));
				free(masked);
			} else
				trace_line(c, dir, p, len);
		}
		p = nl != NULL ? nl + 1 : end;
	}
}

/* CURLOPT_DEBUGFUNCTION, installed only at -vv. */
static int
on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct http_client	*c = arg;
	char			 line[64];

	(void)h;
	switch (type) {
	case CURLINFO_TEXT:
		trace_block(c, "*", data, size, false);
		break;
	case CURLINFO_HEADER_OUT:
		trace_block(c, ">", data, size, true);
		break;
	case CURLINFO_HEADER_IN:
		trace_block(c, "<", data, size, false);
		break;
	case CURLINFO_DATA_OUT:
	case CURLINFO_DATA_IN:
		(void)snprintf(line, sizeof(line), "%zu bytes of body", size);
		trace_line(c, type == CURLINFO_DATA_OUT ? ">" : "<", line,
		    strlen(line));
		break;
	default:
		break;	/* TLS records: nothing to read there */
	}
	return 0;
}

static void
slist_free_wiped(struct curl_slist *l)
{
	struct curl_slist	*p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static struct curl_slist *
slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist	*n = curl_slist_append(l, s);

	if (n == NULL)
		fatalx("curl_slist_append: out of memory");
	return n;
}

/* Could any of the request have reached the server?  See the top. */
static bool
maybe_sent(CURL *h)
{
	long		 req = 0, hdr = 0;
	curl_off_t	 pre = 0;

	(void)curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req);
	(void)curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &hdr);
	(void)curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre);
	return req > 0 || hdr > 0 || pre > 0;
}

/* Turn a failed transfer into the taxonomy; see the top of the file. */
static void
transport_error(struct http_client *c, const struct http_req *req,
    const char *url, CURLcode rc, const struct xfer *x, struct gr_err *e)
{
	enum gr_code	 code = GR_E_TRANSIENT;
	bool		 unknown = maybe_sent(x->h);
	const char	*what, *hint = NULL;
	char		 detail[CURL_ERROR_SIZE + 4], whatbuf[96];
	int64_t		 elapsed_ms = 0;
	curl_off_t	 total_us = 0;

	(void)curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME_T, &total_us);
	elapsed_ms = (int64_t)(total_us / 1000);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		what = "could not resolve the host";
		unknown = false;
		break;
	case CURLE_COULDNT_CONNECT:
		what = "could not connect";
		unknown = false;
		break;
	case CURLE_SSL_CONNECT_ERROR:
		what = "TLS handshake failed";
		unknown = false;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
		what = "the server's TLS certificate could not be verified";
		code = GR_E_CONFIG;
		unknown = false;
		hint = "check base_url and the system CA certificates "
		    "(ca-certificates); verification is never turned off";
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		what = "bad URL";
		code = GR_E_CONFIG;
		unknown = false;
		hint = "check base_url";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		(void)snprintf(whatbuf, sizeof(whatbuf), "timed out after "
		    "%" PRId64 " ms", elapsed_ms);
		what = whatbuf;
		break;
	case CURLE_GOT_NOTHING:
		what = "connection closed without a reply";
		break;
	case CURLE_SEND_ERROR:
		what = "sending the request failed";
		break;
	case CURLE_RECV_ERROR:
		what = "reading the reply failed";
		break;
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR:
		if (rc == CURLE_FILESIZE_EXCEEDED || x->too_large) {
			(void)snprintf(whatbuf, sizeof(whatbuf), "reply larger "
			    "than %" PRId64 " bytes", x->max_body);
			what = whatbuf;
			unknown = true;
			hint = "raise the provider's max_body setting if this "
			    "reply is expected";
			break;
		}
		what = curl_easy_strerror(rc);
		break;
	case CURLE_OUT_OF_MEMORY:
		fatalx("curl: out of memory");
	default:
		what = curl_easy_strerror(rc);
		break;
	}
	/* curl's own words add the address and the system error */
	detail[0] = '\0';
	if (x->errbuf[0] != '\0') {
		(void)snprintf(detail, sizeof(detail), ": %s", x->errbuf);
		/* "Failed to..." reads "failed to..."; "SSL ..." stays */
		if (islower((unsigned char)detail[3]))
			detail[2] = (char)tolower((unsigned char)detail[2]);
	}
	gr_err_set(e, code, "%s %s: %s%s%s", req->method, url, what,
	    unknown ? " (the request may have been acted on)" : "", detail);
	if (hint != NULL)
		gr_err_hint(e, "%s", hint);
	e->http_status = 0;
	e->retry_after_ms = -1;
	e->outcome_unknown = code == GR_E_TRANSIENT && unknown;
	(void)snprintf(e->provider, sizeof(e->provider), "%s", c->provider);
	http_err_redact(e, c->key);
}

/* Set the options of one request; the handle was reset just before. */
static int
setup(struct http_client *c, const struct http_req *req, const char *url,
    struct curl_slist *hdrs, struct xfer *x, struct gr_err *e)
{
	CURL		*h = x->h;
	CURLcode	 rc = CURLE_OK;
	bool		 has_body = req->body != NULL;
	bool		 post = false;

#define SET(opt, val) do {						\
		if (rc == CURLE_OK)					\
			rc = curl_easy_setopt(h, (opt), (val));		\
	} while (0)

	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)c->opts.timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, HTTP_LOW_SPEED_BYTES);
	SET(CURLOPT_LOW_SPEED_TIME, HTTP_LOW_SPEED_SECS);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->opts.max_body);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_USERAGENT, "gpureconcile/" GR_VERSION);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	if (c->loopback)
		SET(CURLOPT_NOPROXY, "*");
	if (log_verbosity() > LOG_LVL_DEBUG) {
		SET(CURLOPT_DEBUGFUNCTION, on_debug);
		SET(CURLOPT_DEBUGDATA, c);
		SET(CURLOPT_VERBOSE, 1L);
	}

	if (strcmp(req->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
		if (has_body) {
			SET(CURLOPT_CUSTOMREQUEST, "GET");
			post = true;
		}
	} else if (strcmp(req->method, "POST") == 0)
		post = true;
	else if (strcmp(req->method, "PUT") == 0 ||
	    strcmp(req->method, "PATCH") == 0) {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
		post = true;
	} else if (strcmp(req->method, "DELETE") == 0) {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
		post = has_body;
	} else {
		gr_err_set(e, GR_E_INTERNAL, "%s: HTTP method '%s' is not "
		    "supported", c->provider, req->method);
		return -1;
	}
	if (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "DELETE") != 0)
		SET(CURLOPT_FRESH_CONNECT, 1L);	/* see the top */
	if (post) {
		/* POST, PUT and PATCH always carry a body, maybe empty */
		SET(CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(has_body ? req->body_len : 0));
		SET(CURLOPT_POSTFIELDS, has_body ? req->body : "");
	}
#undef SET
	if (rc != CURLE_OK) {
		gr_err_set(e, GR_E_INTERNAL, "%s: curl_easy_setopt: %s",
		    c->provider, curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static struct curl_slist *
build_headers(struct http_client *c, const struct http_req *req)
{
	struct curl_slist	*l = NULL;
	char			*s;

	l = slist_add(l, "Accept: application/json");
	/* no "Expect: 100-continue" round trip on big bodies */
	l = slist_add(l, "Expect:");
	if (req->body != NULL || strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PUT") == 0 ||
	    strcmp(req->method, "PATCH") == 0) {
		s = xasprintf("Content-Type: %s", req->content_type != NULL ?
		    req->content_type : "application/json");
		l = slist_add(l, s);
		free(s);
	}
	if (c->key != NULL) {
		s = xasprintf("Authorization: Bearer %s", c->key);
		l = slist_add(l, s);
		free_secret(s);
	}
	return l;
}

/*
 * Wait until the client's pacing lets the next request go; the caller
 * holds pace_mtx, so paced requests go one at a time.
 */
static void
pace(struct http_client *c)
{
	int64_t	 now, due, last;

	pthread_mutex_lock(&c->mtx);
	last = c->last_end_ms;
	pthread_mutex_unlock(&c->mtx);
	if (c->opts.min_interval_ms <= 0 || last == 0)
		return;
	due = last + c->opts.min_interval_ms;
	now = clock_now_ms();
	if (now < due)
		clock_sleep_ms(due - now);
}

/* Copy what arrived into resp, the key scrubbed from the body. */
static void
fill_resp(struct http_client *c, struct xfer *x, struct http_resp *resp)
{
	struct buf	 clean = BUF_INIT;
	char		*ct = NULL;
	const char	*ra;

	(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE,
	    &resp->status);
	if (c->key != NULL && x->body.len > 0 &&
	    memmem(x->body.s, x->body.len, c->key, strlen(c->key)) != NULL) {
		redact_into(&clean, x->body.s, x->body.len, c->key);
		buf_release(&x->body);
		x->body = clean;
	}
	resp->len = x->body.len;
	resp->body = x->body.s != NULL ? buf_detach(&x->body) : xstrdup("");
	(void)curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL)
		resp->content_type = xstrdup(ct);
	resp->headers = x->headers;
	resp->nheaders = x->nheaders;
	x->headers = NULL;
	x->nheaders = 0;
	ra = http_resp_header(resp, "retry-after");
	resp->retry_after_ms = ra != NULL ?
	    http_parse_retry_after(ra, clock_now_ms()) : -1;
	if (c->key_source != NULL)
		resp->key_source = xstrdup(c->key_source);
}

/* A free handle (made on first need), marked busy; waits for one. */
static struct http_handle *
handle_take(struct http_client *c)
{
	struct http_handle	*hh = NULL;
	size_t			 i;

	pthread_mutex_lock(&c->mtx);
	for (;;) {
		for (i = 0; i < HTTP_HANDLES && hh == NULL; i++) {
			if (c->hs[i].busy)
				continue;
			if (c->hs[i].curl == NULL) {
				c->hs[i].curl = curl_easy_init();
				if (c->hs[i].curl == NULL)
					fatalx("curl_easy_init: out of memory");
			}
			hh = &c->hs[i];
		}
		if (hh != NULL)
			break;
		pthread_cond_wait(&c->freed, &c->mtx);
	}
	hh->busy = true;
	pthread_mutex_unlock(&c->mtx);
	return hh;
}

static void
handle_give(struct http_client *c, struct http_handle *hh)
{
	pthread_mutex_lock(&c->mtx);
	hh->busy = false;
	c->last_end_ms = clock_now_ms();
	pthread_cond_signal(&c->freed);
	pthread_mutex_unlock(&c->mtx);
}

int
http_do(struct http_client *c, const struct http_req *req,
    struct http_resp *resp, struct gr_err *e)
{
	struct http_handle	*hh;
	bool			 paced = c->opts.min_interval_ms > 0;
	struct xfer		 x;
	struct curl_slist	*hdrs = NULL;
	char			*url;
	CURLcode		 rc;
	int64_t			 t0;
	int			 ret = -1;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	memset(&x, 0, sizeof(x));
	x.c = c;
	buf_init(&x.body);
	x.max_body = c->opts.max_body;
	url = xasprintf("%s%s%s", c->base_url,
	    req->path[0] == '/' ? "" : "/", req->path);
	if (c->key != NULL && strlen(c->key) >= HTTP_KEY_IN_URL_MIN &&
	    strstr(url, c->key) != NULL) {
		/* never the URL itself in the message: it holds the key */
		gr_err_set(e, GR_E_INTERNAL, "%s %s: refusing to put the API "
		    "key in a URL", c->provider, req->method);
		free_secret(url);
		return -1;
	}

	if (paced) {
		pthread_mutex_lock(&c->pace_mtx);
		pace(c);
	}
	hh = handle_take(c);
	x.h = hh->curl;
	x.errbuf = hh->errbuf;
	curl_easy_reset(hh->curl);	/* keeps the connection cache */
	hh->errbuf[0] = '\0';
	hdrs = build_headers(c, req);
	if (setup(c, req, url, hdrs, &x, e) == -1)
		goto out;
	t0 = clock_mono_ms();
	rc = curl_easy_perform(hh->curl);
	if (rc != CURLE_OK) {
		transport_error(c, req, url, rc, &x, e);
		log_debug("%s: %s %s: %s", c->provider, req->method, url,
		    e->msg);
		goto out;
	}
	fill_resp(c, &x, resp);
	log_debug("%s: %s %s -> %ld (%" PRId64 " ms, %zu bytes)", c->provider,
	    req->method, url, resp->status, clock_mono_ms() - t0, resp->len);
	ret = 0;
out:
	/* curl keeps pointers to these until the next reset */
	curl_easy_setopt(hh->curl, CURLOPT_HTTPHEADER, NULL);
	slist_free_wiped(hdrs);
	handle_give(c, hh);
	if (paced)
		pthread_mutex_unlock(&c->pace_mtx);
	buf_release(&x.body);
	headers_free(x.headers, x.nheaders);
	free(url);
	return ret;
}

/* The first HTTP_QUOTE_MAX bytes of a body, on one line. */
static void
quote_body(struct buf *b, const char *body, size_t len)
{
	size_t	 i, n = len < HTTP_QUOTE_MAX ? len : HTTP_QUOTE_MAX;
	bool	 space = false;

	/* do not cut a UTF-8 sequence in two */
	if (n < len)
		while (n > 0 && ((unsigned char)body[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++) {
		unsigned char	 ch = (unsigned char)body[i];

		if (ch < 0x20 || ch == 0x7f || ch == ' ') {
			space = true;
			continue;
		}
		if (space && b->len > 0)
			buf_addc(b, ' ');
		space = false;
		buf_addc(b, (char)ch);
	}
	if (n < len)
		buf_adds(b, "...");
}

int
http_classify(const char *what, const struct http_resp *r, struct gr_err *e)
{
	struct buf	 q = BUF_INIT;
	enum gr_code	 code;
	const char	*loc, *src = r->key_source;
	long		 st = r->status;
	bool		 unknown = false;

	if (st >= 100 && st < 300)
		return 0;	/* (curl never hands over a 1xx) */
	quote_body(&q, r->body != NULL ? r->body : "", r->len);
	if (st < 100) {
		code = GR_E_TRANSIENT;	/* no reply at all */
		unknown = true;
	} else if (st >= 300 && st < 400) {
		code = GR_E_CONFIG;
	} else if (st == 401 || st == 403) {
		code = GR_E_AUTH;
	} else if (st == 404 || st == 410) {
		code = GR_E_NOT_FOUND;
	} else if (st == 429) {
		code = GR_E_RATE_LIMIT;
	} else if (st == 402) {
		code = GR_E_QUOTA_EXCEEDED;
	} else if (st == 408 || st == 425) {
		code = GR_E_TRANSIENT;	/* the server did not act on it */
	} else if (st == 503) {
		code = GR_E_TRANSIENT;	/* "unable to handle": not acted on */
	} else if (st >= 500) {
		/* 500, 502, 504...: the server or one behind it may have
		 * acted before failing */
		code = GR_E_TRANSIENT;
		unknown = true;
	} else {
		/* 400, 409, 422 and every other client error: ours to fix,
		 * never to retry blindly */
		code = GR_E_INVALID_SPEC;
	}
	if (q.len > 0)
		gr_err_set(e, code, "%s: HTTP %ld: %s", what, st, buf_str(&q));
	else
		gr_err_set(e, code, "%s: HTTP %ld", what, st);
	switch (st) {
	case 401:
		gr_err_hint(e, "check the API key in %s", src != NULL ? src :
		    "use (none was sent)");
		break;
	case 403:
		gr_err_hint(e, "check the API key in %s and that the account "
		    "may do this", src != NULL ? src : "use (none was sent)");
		break;
	case 402:
		gr_err_hint(e, "check the account's balance and billing");
		break;
	case 429:
		if (r->retry_after_ms >= 0)
			gr_err_hint(e, "the provider asks to retry after "
			    "%" PRId64 " ms", r->retry_after_ms);
		break;
	default:
		if (st < 300 || st >= 400)
			break;
		loc = http_resp_header(r, "location");
		if (loc != NULL)
			gr_err_hint(e, "check base_url; redirects are not "
			    "followed (this one goes to %s)", loc);
		else
			gr_err_hint(e, "check base_url; redirects are not "
			    "followed");
		break;
	}
	e->http_status = (int)st;
	e->retry_after_ms = r->retry_after_ms;
	e->outcome_unknown = unknown;
	buf_release(&q);
	return -1;
}
