/*
 * 3201: the HTTP layer against a small HTTP server run in this test
 * (libmicrohttpd on 127.0.0.1, port 0): the request that was sent (method,
 * path, body, headers, no key in the URL), the status mapping, reply
 * headers and Retry-After, the size cap, transport failures and their
 * outcome_unknown rule, base URL rules, TLS verification, pacing, threads,
 * and a key that never reaches a log line, even at -vv.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define KEY	"sk-TEST-0123456789abcdef"

/* What the server saw of the last request. */
static pthread_mutex_t	 seen_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char		*method;
	char		*url;
	char		*uri;		/* as sent: path and query */
	char		*headers;	/* "name: value\n", names lowercased */
	char		*body;
	int		 count;		/* requests that reached the handler */
	int		 port;		/* the client's port: its connection */
} seen;

struct req_state {
	char		*uri;
	bool		 started;
	struct buf	 body;
};

static void
seen_reset(void)
{
	pthread_mutex_lock(&seen_mtx);
	free(seen.method);
	free(seen.url);
	free(seen.uri);
	free(seen.headers);
	free(seen.body);
	seen.method = seen.url = seen.uri = seen.headers = seen.body = NULL;
	pthread_mutex_unlock(&seen_mtx);
}

static int
seen_count(void)
{
	int	 n;

	pthread_mutex_lock(&seen_mtx);
	n = seen.count;
	pthread_mutex_unlock(&seen_mtx);
	return n;
}

/* The client port of the last request that reached the handler. */
static int
seen_port(void)
{
	int	 n;

	pthread_mutex_lock(&seen_mtx);
	n = seen.port;
	pthread_mutex_unlock(&seen_mtx);
	return n;
}

static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req_state	*rs = xcalloc(1, sizeof(*rs));

	(void)cls;
	(void)conn;
	rs->uri = xstrdup(uri);
	return rs;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req_state	*rs = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rs == NULL)
		return;
	free(rs->uri);
	buf_release(&rs->body);
	free(rs);
	*con_cls = NULL;
}

static enum MHD_Result
add_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
	struct buf	*b = cls;
	size_t		 i;

	(void)kind;
	for (i = 0; k[i] != '\0'; i++)
		buf_addc(b, (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] + 32 :
		    k[i]));
	buf_addf(b, ": %s\n", v != NULL ? v : "");
	return MHD_YES;
}

static ssize_t
chunks(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t	 n = (uint64_t)(uintptr_t)cls;
	size_t		 k;

	if (pos >= n)
		return MHD_CONTENT_READER_END_OF_STREAM;
	k = n - pos < max ? (size_t)(n - pos) : max;
	memset(buf, 'y', k);
	return (ssize_t)k;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *body,
    const char *ctype, const char *h1, const char *v1)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (ctype != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	if (h1 != NULL)
		MHD_add_response_header(r, h1, v1);
	MHD_add_response_header(r, "X-Custom-Header", "Value 1");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static long
qnum(struct MHD_Connection *conn, const char *name, long dflt)
{
	const char	*v = MHD_lookup_connection_value(conn,
			    MHD_GET_ARGUMENT_KIND, name);

	return v != NULL ? strtol(v, NULL, 10) : dflt;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req_state	*rs = *con_cls;
	struct buf		 h = BUF_INIT;
	struct MHD_Response	*r;
	enum MHD_Result		 ret;
	const char		*ra;
	char			*big, body[128];
	long			 n;

	(void)cls;
	(void)version;
	if (!rs->started) {
		rs->started = true;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		pthread_mutex_lock(&seen_mtx);
		seen.count++;
		seen.port = ci != NULL && ci->client_addr != NULL &&
		    ci->client_addr->sa_family == AF_INET ? ntohs(((const
		    struct sockaddr_in *)(const void *)ci->client_addr)->
		    sin_port) : -1;
		pthread_mutex_unlock(&seen_mtx);
		if (strcmp(url, "/close") == 0)
			return MHD_NO;	/* close without a reply */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		buf_add(&rs->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, &h);
	pthread_mutex_lock(&seen_mtx);
	free(seen.method);
	free(seen.url);
	free(seen.uri);
	free(seen.headers);
	free(seen.body);
	seen.method = xstrdup(method);
	seen.url = xstrdup(url);
	seen.uri = xstrdup(rs->uri);
	seen.headers = buf_detach(&h);
	seen.body = xstrdup(buf_str(&rs->body));
	pthread_mutex_unlock(&seen_mtx);

	if (strncmp(url, "/status/", 8) == 0) {
		n = strtol(url + 8, NULL, 10);
		snprintf(body, sizeof(body), "{\"error\": \"code %ld\",\n"
		    "\"detail\": \"line two\"}", n);
		ra = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
		    "ra");
		return reply(conn, (unsigned int)n, body, "application/json",
		    ra != NULL ? "Retry-After" : NULL, ra);
	}
	if (strcmp(url, "/big") == 0) {
		n = qnum(conn, "n", 10);
		big = xmalloc((size_t)n + 1);
		memset(big, 'x', (size_t)n);
		big[n] = '\0';
		ret = reply(conn, 200, big, "text/plain", NULL, NULL);
		free(big);
		return ret;
	}
	if (strcmp(url, "/chunked") == 0) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
		    chunks, (void *)(uintptr_t)qnum(conn, "n", 10), NULL);
		ret = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (strcmp(url, "/sleep") == 0) {
		usleep((useconds_t)qnum(conn, "ms", 0) * 1000);
		return reply(conn, 200, "{}", "application/json", NULL, NULL);
	}
	if (strcmp(url, "/leak") == 0)
		return reply(conn, (unsigned int)qnum(conn, "st", 200),
		    "{\"msg\": \"bad key " KEY "\"}", "application/json",
		    "X-Echo", "key=" KEY);
	if (strcmp(url, "/redirect") == 0)
		return reply(conn, 302, "", NULL, "Location", "/echo");
	return reply(conn, 200, "{\"ok\": true}",
	    "application/json; charset=utf-8", NULL, NULL);
}

static struct MHD_Daemon *
server_start(unsigned int flags, const char *key_pem, const char *cert_pem,
    int *port)
{
	struct sockaddr_in	 sin;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *info;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (key_pem != NULL)
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
		    MHD_USE_THREAD_PER_CONNECTION | flags, 0, NULL, NULL,
		    handler, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		    MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		    MHD_OPTION_HTTPS_MEM_KEY, key_pem,
		    MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
		    MHD_OPTION_END);
	else
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
		    MHD_USE_THREAD_PER_CONNECTION | flags, 0, NULL, NULL,
		    handler, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		    MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		    MHD_OPTION_END);
	if (d == NULL)
		return NULL;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = info != NULL ? (int)info->port : 0;
	return d;
}

/* A loopback port nothing listens on. */
static int
closed_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		bail_out("closed_port: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A raw server that accepts one connection and closes it at once. */
struct rude {
	int	 fd;
	int	 port;
};

static void *
rude_main(void *arg)
{
	struct rude	*r = arg;
	int		 c;

	c = accept(r->fd, NULL, NULL);
	if (c != -1) {
		usleep(50 * 1000);	/* let the request arrive */
		close(c);
	}
	return NULL;
}

static void
rude_start(struct rude *r, pthread_t *t)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (r->fd == -1 ||
	    bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(r->fd, 4) == -1 ||
	    getsockname(r->fd, (struct sockaddr *)&sin, &len) == -1)
		bail_out("rude server: %s", strerror(errno));
	r->port = ntohs(sin.sin_port);
	pthread_create(t, NULL, rude_main, r);
}

static struct cred	 the_cred = { (char *)KEY, (char *)"env VAST_API_KEY" };

static struct http_client *
client(const char *base, int64_t max_body, int64_t timeout_ms,
    int64_t interval_ms)
{
	struct http_client	*c;
	struct http_opts	 o;
	struct gr_err		 e;

	memset(&o, 0, sizeof(o));
	o.max_body = max_body;
	o.timeout_ms = timeout_ms;
	o.min_interval_ms = interval_ms;
	gr_err_clear(&e);
	if (http_client_new("vastai", base, &the_cred, &o, &c, &e) == -1)
		bail_out("http_client_new %s: %s", base, e.msg);
	return c;
}

static int
do_req(struct http_client *c, const char *method, const char *path,
    const char *body, struct http_resp *r, struct gr_err *e)
{
	struct http_req	 q;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = path;
	q.body = body;
	q.body_len = body != NULL ? strlen(body) : 0;
	gr_err_clear(e);
	return http_do(c, &q, r, e);
}

/* What the server saw of header name ("" when it was not sent). */
static char *
seen_header(const char *name)
{
	char		*want = xasprintf("%s: ", name), *out = NULL;
	const char	*p, *nl;

	pthread_mutex_lock(&seen_mtx);
	for (p = seen.headers; p != NULL && *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		if (strncmp(p, want, strlen(want)) == 0) {
			out = xstrndup(p + strlen(want),
			    (size_t)(nl - p) - strlen(want));
			break;
		}
	}
	pthread_mutex_unlock(&seen_mtx);
	free(want);
	return out != NULL ? out : xstrdup("");
}

static void
test_request_shape(struct http_client *c)
{
	struct http_resp	 r;
	struct gr_err		 e;
	struct http_req		 q;
	char			*h;

	is_int(do_req(c, "POST", "/v0/things?owner=me", "{\"a\": 1}", &r,
	    &e), 0, "POST succeeds");
	is_int(r.status, 200, "POST status 200");
	is_str(r.body, "{\"ok\": true}", "reply body kept");
	is_int((long long)r.len, 12, "reply length");
	is_str(r.content_type, "application/json; charset=utf-8",
	    "content type of the reply");
	is_str(http_resp_header(&r, "x-custom-header"), "Value 1",
	    "reply header found by its lowercase name");
	is_str(http_resp_header(&r, "X-CUSTOM-HEADER"), "Value 1",
	    "reply header lookup ignores case");
	ok(http_resp_header(&r, "nope") == NULL, "absent header is NULL");
	is_int(r.retry_after_ms, -1, "no Retry-After: -1");
	is_str(r.key_source, "env VAST_API_KEY", "reply says where the key "
	    "came from");
	http_resp_release(&r);
	ok(r.body == NULL && r.headers == NULL, "release clears the reply");
	http_resp_release(&r);	/* twice is safe */

	pthread_mutex_lock(&seen_mtx);
	is_str(seen.method, "POST", "server saw POST");
	is_str(seen.url, "/v0/things", "server saw the path");
	is_str(seen.uri, "/v0/things?owner=me", "server saw the query");
	is_str(seen.body, "{\"a\": 1}", "server saw the body");
	ok(strstr(seen.uri, KEY) == NULL, "no key in the URL");
	ok(strstr(seen.uri, "api_key") == NULL, "no api_key parameter");
	pthread_mutex_unlock(&seen_mtx);
	h = seen_header("authorization");
	is_str(h, "Bearer " KEY, "key sent as a Bearer header");
	free(h);
	h = seen_header("user-agent");
	is_str(h, "gpureconcile/" GR_VERSION, "User-Agent names our version");
	free(h);
	h = seen_header("content-type");
	is_str(h, "application/json", "Content-Type defaults to JSON");
	free(h);
	h = seen_header("accept");
	is_str(h, "application/json", "Accept: application/json");
	free(h);

	is_int(do_req(c, "GET", "/v0/list", NULL, &r, &e), 0, "GET succeeds");
	http_resp_release(&r);
	pthread_mutex_lock(&seen_mtx);
	is_str(seen.method, "GET", "server saw GET");
	is_str(seen.body, "", "GET sends no body");
	pthread_mutex_unlock(&seen_mtx);
	h = seen_header("content-type");
	is_str(h, "", "GET sends no Content-Type");
	free(h);

	is_int(do_req(c, "DELETE", "v0/things/7/", NULL, &r, &e), 0,
	    "DELETE succeeds");
	http_resp_release(&r);
	pthread_mutex_lock(&seen_mtx);
	is_str(seen.method, "DELETE", "server saw DELETE");
	is_str(seen.url, "/v0/things/7/", "a path without '/' gets one");
	pthread_mutex_unlock(&seen_mtx);

	is_int(do_req(c, "PUT", "/v0/things/7/", NULL, &r, &e), 0,
	    "PUT without a body succeeds");
	http_resp_release(&r);
	h = seen_header("content-length");
	is_str(h, "0", "PUT without a body says Content-Length: 0");
	free(h);

	memset(&q, 0, sizeof(q));
	q.method = "PATCH";
	q.path = "/v0/things/8";
	q.body = "a=1";
	q.body_len = 3;
	q.content_type = "application/x-www-form-urlencoded";
	gr_err_clear(&e);
	is_int(http_do(c, &q, &r, &e), 0, "PATCH with a form body");
	http_resp_release(&r);
	h = seen_header("content-type");
	is_str(h, "application/x-www-form-urlencoded",
	    "caller's Content-Type is sent");
	free(h);
	pthread_mutex_lock(&seen_mtx);
	is_str(seen.method, "PATCH", "server saw PATCH");
	is_str(seen.body, "a=1", "PATCH body");
	pthread_mutex_unlock(&seen_mtx);

	is_int(do_req(c, "BREW", "/pot", NULL, &r, &e), -1,
	    "an unknown method is refused");
	is_int(e.code, GR_E_INTERNAL, "unknown method: INTERNAL");

	is_int(do_req(c, "GET", "/x/" KEY, NULL, &r, &e), -1,
	    "a path holding the key is refused");
	ok(strstr(e.msg, KEY) == NULL, "that refusal does not show the key");
}

struct status_case {
	int		 status;
	enum gr_code	 code;
	bool		 unknown;
};

static void
test_statuses(struct http_client *c)
{
	static const struct status_case cases[] = {
		{ 200, GR_OK, false },
		{ 201, GR_OK, false },
		{ 204, GR_OK, false },
		{ 400, GR_E_INVALID_SPEC, false },
		{ 401, GR_E_AUTH, false },
		{ 402, GR_E_QUOTA_EXCEEDED, false },
		{ 403, GR_E_AUTH, false },
		{ 404, GR_E_NOT_FOUND, false },
		{ 405, GR_E_INVALID_SPEC, false },
		{ 408, GR_E_TRANSIENT, false },
		{ 409, GR_E_INVALID_SPEC, false },
		{ 410, GR_E_NOT_FOUND, false },
		{ 422, GR_E_INVALID_SPEC, false },
		{ 425, GR_E_TRANSIENT, false },
		{ 429, GR_E_RATE_LIMIT, false },
		{ 500, GR_E_TRANSIENT, true },
		{ 502, GR_E_TRANSIENT, true },
		{ 503, GR_E_TRANSIENT, false },
		{ 504, GR_E_TRANSIENT, true },
	};
	struct http_resp	 r;
	struct gr_err		 e;
	char			 path[64], want[128];
	size_t			 i;
	int			 rc;

	for (i = 0; i < nitems(cases); i++) {
		snprintf(path, sizeof(path), "/status/%d", cases[i].status);
		is_int(do_req(c, "GET", path, NULL, &r, &e), 0,
		    "HTTP %d is a reply, not a transport error",
		    cases[i].status);
		is_int(r.status, cases[i].status, "HTTP %d status read",
		    cases[i].status);
		gr_err_clear(&e);
		rc = http_classify("list instances", &r, &e);
		is_int(rc, cases[i].code == GR_OK ? 0 : -1,
		    "HTTP %d classify returns", cases[i].status);
		is_str(gr_code_name(e.code), gr_code_name(cases[i].code),
		    "HTTP %d maps to %s", cases[i].status,
		    gr_code_name(cases[i].code));
		if (cases[i].code != GR_OK) {
			is_int(e.http_status, cases[i].status,
			    "HTTP %d recorded in the error", cases[i].status);
			ok(e.outcome_unknown == cases[i].unknown,
			    "HTTP %d outcome_unknown is %s", cases[i].status,
			    cases[i].unknown ? "true" : "false");
			snprintf(want, sizeof(want), "list instances: HTTP %d: "
			    "{\"error\": \"code %d\", \"detail\": \"line "
			    "two\"}", cases[i].status, cases[i].status);
			is_str(e.msg, want, "HTTP %d message: what, status, "
			    "body on one line", cases[i].status);
		}
		if (cases[i].status == 401 || cases[i].status == 403)
			like(e.hint, "check the API key in env VAST_API_KEY",
			    "HTTP %d hint names the key's source",
			    cases[i].status);
		http_resp_release(&r);
	}
}

static void
test_retry_after(struct http_client *c)
{
	struct http_resp	 r;
	struct gr_err		 e;
	char			 path[128], date[64];
	time_t			 t;
	struct tm		 tm;

	is_int(do_req(c, "GET", "/status/429?ra=7", NULL, &r, &e), 0,
	    "429 with Retry-After seconds");
	is_int(r.retry_after_ms, 7000, "Retry-After: 7 is 7000 ms");
	gr_err_clear(&e);
	http_classify("spawn", &r, &e);
	is_int(e.code, GR_E_RATE_LIMIT, "429: RATE_LIMIT");
	is_int(e.retry_after_ms, 7000, "429 error carries retry_after_ms");
	like(e.hint, "7000 ms", "429 hint says how long");
	http_resp_release(&r);

	t = time(NULL) + 30;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT",
	    &tm);
	snprintf(path, sizeof(path), "/status/429?ra=%s", date);
	is_int(do_req(c, "GET", path, NULL, &r, &e), 0,
	    "429 with Retry-After as an HTTP date");
	ok(r.retry_after_ms >= 27000 && r.retry_after_ms <= 31000,
	    "Retry-After date 30 s ahead is about 30000 ms (got %lld)",
	    (long long)r.retry_after_ms);
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/status/429?ra=99999", NULL, &r, &e), 0,
	    "429 with a huge Retry-After");
	is_int(r.retry_after_ms, 3600000, "Retry-After clamped to 1 h");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/status/429", NULL, &r, &e), 0,
	    "429 without Retry-After (Vast's plain 429)");
	gr_err_clear(&e);
	http_classify("spawn", &r, &e);
	is_int(e.retry_after_ms, -1, "429 without Retry-After: -1");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/status/503?ra=3", NULL, &r, &e), 0,
	    "503 with Retry-After");
	is_int(r.retry_after_ms, 3000, "Retry-After read on a 503 too");
	http_resp_release(&r);
}

static void
test_parse_retry_after(void)
{
	const int64_t	 now = (int64_t)784111777 * 1000; /* 1994-11-06
							     08:49:37Z */

	is_int(http_parse_retry_after("0", now), 0, "Retry-After 0");
	is_int(http_parse_retry_after("120", now), 120000, "Retry-After 120");
	is_int(http_parse_retry_after(" 5 ", now), 5000,
	    "Retry-After with blanks");
	is_int(http_parse_retry_after("3600", now), 3600000,
	    "Retry-After 3600 is the cap");
	is_int(http_parse_retry_after("3601", now), 3600000,
	    "Retry-After 3601 clamped");
	is_int(http_parse_retry_after("999999999999999999999999", now),
	    3600000, "Retry-After that would overflow clamped");
	is_int(http_parse_retry_after("-5", now), -1, "negative rejected");
	is_int(http_parse_retry_after("1.5", now), -1, "fraction rejected");
	is_int(http_parse_retry_after("soon", now), -1, "word rejected");
	is_int(http_parse_retry_after("", now), -1, "empty rejected");
	is_int(http_parse_retry_after(NULL, now), -1, "NULL rejected");
	is_int(http_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
	    60000, "IMF-fixdate a minute ahead");
	is_int(http_parse_retry_after("Sunday, 06-Nov-94 08:51:37 GMT", now),
	    120000, "RFC 850 date");
	is_int(http_parse_retry_after("Sun Nov  6 08:49:47 1994", now),
	    10000, "asctime date");
	is_int(http_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
	    0, "a date in the past is 0");
	is_int(http_parse_retry_after("Sun, 06 Nov 1994 20:00:00 GMT", now),
	    3600000, "a date hours ahead is clamped");
	is_int(http_parse_retry_after("Sun, 06 Nov 1994 08:50:37 UTC", now),
	    -1, "a zone other than GMT rejected");
	is_int(http_parse_retry_after("Sun, 06 Foo 1994 08:50:37 GMT", now),
	    -1, "a bad month rejected");
	is_int(http_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT x",
	    now), -1, "trailing junk rejected");
}

static void
test_size_cap(const char *base)
{
	struct http_client	*c = client(base, 1024, 0, 0);
	struct http_resp	 r;
	struct gr_err		 e;

	is_int(do_req(c, "GET", "/big?n=1024", NULL, &r, &e), 0,
	    "a reply exactly at the cap is read");
	is_int((long long)r.len, 1024, "all 1024 bytes");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/big?n=4096", NULL, &r, &e), -1,
	    "a reply over the cap (Content-Length) fails");
	is_int(e.code, GR_E_TRANSIENT, "over the cap: TRANSIENT");
	ok(e.outcome_unknown, "over the cap: outcome unknown");
	like(e.msg, "larger than 1024 bytes", "over the cap: message says so");
	is_int(r.status, 0, "over the cap: no status handed back");
	ok(r.body == NULL, "over the cap: no body handed back");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/chunked?n=100000", NULL, &r, &e), -1,
	    "a chunked reply over the cap fails");
	is_int(e.code, GR_E_TRANSIENT, "chunked over the cap: TRANSIENT");
	ok(e.outcome_unknown, "chunked over the cap: outcome unknown");
	like(e.msg, "larger than 1024 bytes", "chunked: message says so");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/chunked?n=1000", NULL, &r, &e), 0,
	    "a chunked reply under the cap is read");
	is_int((long long)r.len, 1000, "chunked: all 1000 bytes");
	http_resp_release(&r);
	http_client_free(c);
}

static void
test_transport(const char *base)
{
	struct http_client	*c;
	struct http_resp	 r;
	struct gr_err		 e;
	struct rude		 rude;
	pthread_t		 t;
	char			*url;
	int			 before;

	/* accepts, reads, closes without a reply; a connection is open
	 * from a first request, so libcurl would like to reuse it */
	c = client(base, 0, 0, 0);
	is_int(do_req(c, "GET", "/echo", NULL, &r, &e), 0,
	    "a first request leaves a connection to reuse");
	http_resp_release(&r);
	before = seen_count();
	is_int(do_req(c, "POST", "/close", "{}", &r, &e), -1,
	    "a server that closes without replying fails");
	is_int(seen_count() - before, 1, "the request reached the server "
	    "once: a POST is never silently sent again");
	is_int(e.code, GR_E_TRANSIENT, "no reply: TRANSIENT");
	ok(e.outcome_unknown, "no reply: outcome unknown");
	is_int(e.http_status, 0, "no reply: no HTTP status");
	like(e.msg, "POST http://127.0.0.1:", "no reply: names the call");
	ok(strstr(e.msg, KEY) == NULL, "no reply: no key in the message");
	http_resp_release(&r);

	/* times out while the server sits on the request */
	http_client_free(c);
	c = client(base, 0, 300, 0);
	is_int(do_req(c, "POST", "/sleep?ms=1500", "{}", &r, &e), -1,
	    "a server slower than timeout_ms fails");
	is_int(e.code, GR_E_TRANSIENT, "timeout: TRANSIENT");
	ok(e.outcome_unknown, "timeout after sending: outcome unknown");
	like(e.msg, "timed out", "timeout: message says so");
	http_resp_release(&r);
	http_client_free(c);

	/* a raw server that accepts and hangs up at once */
	rude_start(&rude, &t);
	url = xasprintf("http://127.0.0.1:%d", rude.port);
	c = client(url, 0, 2000, 0);
	is_int(do_req(c, "POST", "/spawn", "{}", &r, &e), -1,
	    "accept-and-hang-up fails");
	is_int(e.code, GR_E_TRANSIENT, "hang-up: TRANSIENT");
	ok(e.outcome_unknown, "hang-up after connect: outcome unknown");
	http_resp_release(&r);
	http_client_free(c);
	pthread_join(t, NULL);
	close(rude.fd);
	free(url);

	/* nobody listening */
	url = xasprintf("http://127.0.0.1:%d", closed_port());
	c = client(url, 0, 0, 0);
	is_int(do_req(c, "POST", "/spawn", "{}", &r, &e), -1,
	    "connection refused fails");
	is_int(e.code, GR_E_TRANSIENT, "refused: TRANSIENT");
	ok(!e.outcome_unknown, "refused: the request was never sent");
	like(e.msg, "could not connect", "refused: message says so");
	is_str(e.provider, "vastai", "transport error names the provider");
	http_resp_release(&r);
	http_client_free(c);
	free(url);
}

static void
test_urls(void)
{
	static const struct {
		const char	*url;
		bool		 ok;
	} cases[] = {
		{ "https://console.vast.ai", true },
		{ "https://api.runpod.io/v2/", true },
		{ "HTTPS://cloud.lambda.ai", true },
		{ "http://127.0.0.1:8080", true },
		{ "http://127.9.8.7", true },
		{ "http://localhost:9", true },
		{ "http://LOCALHOST", true },
		{ "http://[::1]:8080", true },
		{ "http://console.vast.ai", false },
		{ "http://10.0.0.1:8080", false },
		{ "http://128.0.0.1", false },
		{ "http://127.0.0.1.example.com", false },
		{ "http://localhost.example.com", false },
		{ "http://[::2]", false },
		{ "ftp://127.0.0.1", false },
		{ "file:///etc/passwd", false },
		{ "console.vast.ai", false },
		{ "https://console.vast.ai/?api_key=x", false },
		{ "", false },
	};
	struct http_client	*c;
	struct gr_err		 e;
	size_t			 i;
	int			 rc;

	for (i = 0; i < nitems(cases); i++) {
		gr_err_clear(&e);
		c = NULL;
		rc = http_client_new("vastai", cases[i].url, &the_cred, NULL,
		    &c, &e);
		is_int(rc, cases[i].ok ? 0 : -1, "base_url '%s' %s",
		    cases[i].url, cases[i].ok ? "accepted" : "refused");
		if (!cases[i].ok) {
			is_int(e.code, GR_E_CONFIG, "base_url '%s': CONFIG",
			    cases[i].url);
			ok(e.hint[0] != '\0', "base_url '%s': a hint",
			    cases[i].url);
			ok(c == NULL, "base_url '%s': no client",
			    cases[i].url);
		}
		http_client_free(c);
	}
	gr_err_clear(&e);
	http_client_new("vastai", "http://10.1.2.3", NULL, NULL, &c, &e);
	like(e.hint, "https://", "plain http hint says use https");
	gr_err_clear(&e);
	rc = http_client_new("vastai", "https://me:s3cr3tpw@console.vast.ai",
	    NULL, NULL, &c, &e);
	is_int(rc, -1, "a base_url with a password is refused");
	ok(strstr(e.msg, "s3cr3tpw") == NULL, "and the password is not "
	    "repeated");
	http_client_free(NULL);
	{
		struct cred	 bad = { (char *)"abc\r\nX-Evil: 1",
				    (char *)"test" };

		gr_err_clear(&e);
		c = NULL;
		is_int(http_client_new("vastai", "https://console.vast.ai",
		    &bad, NULL, &c, &e), -1, "a key with CR LF is refused");
		is_int(e.code, GR_E_AUTH, "a key with CR LF: AUTH");
		http_client_free(c);
	}
}

/* TLS: a self-signed certificate must fail verification, as CONFIG. */
static void
test_tls(void)
{
	struct MHD_Daemon	*d;
	struct http_client	*c;
	struct http_resp	 r;
	struct gr_err		 e;
	const char		*dir = test_tmpdir();
	char			*key = NULL, *cert = NULL, *path, *url;
	int			 port, before;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		skip(5, "libmicrohttpd without TLS");
		return;
	}
	if (test_run(NULL, NULL, "cd '%s' && openssl req -x509 -newkey "
	    "rsa:2048 -nodes -keyout tls.key -out tls.crt -days 1 -subj "
	    "/CN=localhost", dir) != 0) {
		skip(5, "openssl cannot make a certificate");
		return;
	}
	path = xasprintf("%s/tls.key", dir);
	file_read(path, 1 << 20, &key, NULL);
	free(path);
	path = xasprintf("%s/tls.crt", dir);
	file_read(path, 1 << 20, &cert, NULL);
	free(path);
	d = server_start(MHD_USE_TLS, key, cert, &port);
	if (d == NULL) {
		skip(5, "TLS server did not start");
		free(key);
		free(cert);
		return;
	}
	url = xasprintf("https://localhost:%d", port);
	c = client(url, 0, 5000, 0);
	before = seen_count();
	is_int(do_req(c, "GET", "/echo", NULL, &r, &e), -1,
	    "a self-signed certificate is not accepted");
	is_int(e.code, GR_E_CONFIG, "unverified TLS: CONFIG");
	ok(!e.outcome_unknown, "unverified TLS: nothing was sent");
	like(e.hint, "CA certificates", "unverified TLS: hint");
	is_int(seen_count(), before, "unverified TLS: no request reached the "
	    "server");
	http_resp_release(&r);
	http_client_free(c);
	MHD_stop_daemon(d);
	free(url);
	free(key);
	free(cert);
}

static void
test_pacing(const char *base)
{
	struct http_client	*c = client(base, 0, 0, 250);
	struct http_resp	 r;
	struct gr_err		 e;
	int64_t			 t0, dt;
	int			 i, fails = 0;

	t0 = clock_mono_ms();
	for (i = 0; i < 3; i++) {
		if (do_req(c, "GET", "/echo", NULL, &r, &e) == -1)
			fails++;
		http_resp_release(&r);
	}
	dt = clock_mono_ms() - t0;
	is_int(fails, 0, "paced requests succeed");
	ok(dt >= 500, "3 requests 250 ms apart take at least 500 ms "
	    "(took %lld)", (long long)dt);
	http_client_free(c);

	c = client(base, 0, 0, 0);
	t0 = clock_mono_ms();
	for (i = 0; i < 3; i++) {
		(void)do_req(c, "GET", "/echo", NULL, &r, &e);
		http_resp_release(&r);
	}
	diag("unpaced: 3 requests in %lld ms",
	    (long long)(clock_mono_ms() - t0));
	http_client_free(c);
}

struct thr {
	struct http_client	*c;
	int			 fails;
};

static void *
thr_main(void *arg)
{
	struct thr		*t = arg;
	struct http_resp	 r;
	struct gr_err		 e;
	int			 i;

	for (i = 0; i < 10; i++) {
		if (do_req(t->c, "POST", "/echo", "{\"n\": 1}", &r, &e) == -1 ||
		    r.status != 200)
			t->fails++;
		http_resp_release(&r);
	}
	return NULL;
}

static void
test_threads(const char *base)
{
	struct http_client	*c = client(base, 0, 0, 0);
	struct thr		 t[4];
	pthread_t		 id[4];
	int			 i, fails = 0, before = seen_count();

	for (i = 0; i < 4; i++) {
		t[i].c = c;
		t[i].fails = 0;
		pthread_create(&id[i], NULL, thr_main, &t[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(id[i], NULL);
		fails += t[i].fails;
	}
	is_int(fails, 0, "4 threads sharing one client: no failures");
	is_int(seen_count() - before, 40, "4 threads: 40 requests served");
	http_client_free(c);
}

static void *
slow_main(void *arg)
{
	struct thr		*t = arg;
	struct http_resp	 r;
	struct gr_err		 e;

	if (do_req(t->c, "GET", "/sleep?ms=300", NULL, &r, &e) == -1 ||
	    r.status != 200)
		t->fails++;
	http_resp_release(&r);
	return NULL;
}

/* Unpaced requests of several threads go at once; paced ones in turn. */
static void
test_concurrency(const char *base)
{
	struct http_client	*c;
	struct thr		 t[4];
	pthread_t		 id[4];
	int64_t			 t0, dt;
	int			 i, k, fails;

	for (k = 0; k < 2; k++) {
		c = client(base, 0, 0, k == 0 ? 0 : 1);
		fails = 0;
		t0 = clock_mono_ms();
		for (i = 0; i < 4; i++) {
			t[i].c = c;
			t[i].fails = 0;
			pthread_create(&id[i], NULL, slow_main, &t[i]);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(id[i], NULL);
			fails += t[i].fails;
		}
		dt = clock_mono_ms() - t0;
		is_int(fails, 0, "%s: 4 slow requests succeed", k == 0 ?
		    "unpaced" : "paced");
		if (k == 0)
			ok(dt < 900, "unpaced: 4 requests of 300 ms from 4 "
			    "threads overlap (%lld ms)", (long long)dt);
		else
			ok(dt >= 1200, "paced: they go one at a time (%lld ms)",
			    (long long)dt);
		http_client_free(c);
	}
}

/*
 * A create (POST, PUT, PATCH) never goes on a reused connection, on any
 * of a client's handles: libcurl silently sends a request again when a
 * reused connection dies before any reply, which would rent twice.  The
 * server notes each request's client port; GETs reuse one connection,
 * a POST after them comes on a new one.  With two handles kept busy at
 * once, the second handle's POST is checked too.
 */
static void
test_create_on_fresh_connection(const char *base)
{
	struct http_client	*c;
	struct http_resp	 r;
	struct gr_err		 e;
	struct thr		 t;
	pthread_t		 id;
	const char		*m[] = { "POST", "PUT", "PATCH" };
	int			 get1, get2, k;

	c = client(base, 0, 0, 0);
	for (k = 0; k < 3; k++) {
		(void)do_req(c, "GET", "/echo", NULL, &r, &e);
		http_resp_release(&r);
		get1 = seen_port();
		(void)do_req(c, "GET", "/echo", NULL, &r, &e);
		http_resp_release(&r);
		get2 = seen_port();
		is_int(get2, get1, "GETs reuse their connection (%d)", get1);
		is_int(do_req(c, m[k], "/echo", "{}", &r, &e), 0, "%s ok",
		    m[k]);
		http_resp_release(&r);
		ok(seen_port() != get2 && seen_port() > 0, "%s: on a new "
		    "connection (%d, not %d)", m[k], seen_port(), get2);
	}
	/* the first handle busy with a slow GET: the POST takes another */
	t.c = c;
	t.fails = 0;
	pthread_create(&id, NULL, slow_main, &t);
	usleep(100 * 1000);
	(void)do_req(c, "GET", "/echo", NULL, &r, &e);
	http_resp_release(&r);
	get1 = seen_port();
	is_int(do_req(c, "POST", "/echo", "{}", &r, &e), 0,
	    "POST beside a busy handle ok");
	http_resp_release(&r);
	ok(seen_port() != get1 && seen_port() > 0, "second handle: POST on "
	    "a new connection (%d, not %d)", seen_port(), get1);
	pthread_join(id, NULL);
	is_int(t.fails, 0, "the slow GET beside it succeeds");
	http_client_free(c);
}

static void
test_redirect_and_leaks(struct http_client *c)
{
	struct http_resp	 r;
	struct gr_err		 e;
	char			*s;
	int			 before = seen_count();

	is_int(do_req(c, "DELETE", "/redirect", NULL, &r, &e), 0,
	    "a redirect is a reply");
	is_int(r.status, 302, "redirect not followed: 302 handed back");
	is_int(seen_count() - before, 1, "redirect not followed: one request");
	gr_err_clear(&e);
	is_int(http_classify("terminate", &r, &e), -1,
	    "a redirect is not success");
	is_int(e.code, GR_E_CONFIG, "redirect: CONFIG");
	like(e.hint, "/echo", "redirect hint shows where it went");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/leak", NULL, &r, &e), 0,
	    "a reply that echoes the key");
	ok(strstr(r.body, KEY) == NULL, "echoed key scrubbed from the body");
	like(r.body, "bad key [redacted]", "body says [redacted] instead");
	is_int((long long)r.len, (long long)strlen(r.body),
	    "scrubbed body length");
	is_str(http_resp_header(&r, "x-echo"), "key=[redacted]",
	    "echoed key scrubbed from a header");
	http_resp_release(&r);

	is_int(do_req(c, "GET", "/leak?st=400", NULL, &r, &e), 0,
	    "an error reply that echoes the key");
	gr_err_clear(&e);
	http_classify("spawn", &r, &e);
	ok(strstr(e.msg, KEY) == NULL, "classify message has no key");
	like(e.msg, "[redacted]", "classify message shows [redacted]");
	http_resp_release(&r);

	/* a reply built elsewhere, quoted by classify: long, multi-line */
	memset(&r, 0, sizeof(r));
	r.status = 500;
	r.body = xmalloc(1001);
	memset(r.body, 'z', 1000);
	r.body[0] = '\n';
	r.body[1000] = '\0';
	r.len = 1000;
	r.retry_after_ms = -1;
	gr_err_clear(&e);
	http_classify("get", &r, &e);
	ok(strlen(e.msg) <= strlen("get: HTTP 500: ") + 200 + 3,
	    "classify quotes at most 200 bytes of the body");
	ok(strchr(e.msg, '\n') == NULL, "classify message is one line");
	like(e.msg, "...", "a cut body ends with ...");
	free(r.body);

	s = http_redact("a KEYx KEY b KEY", 16, "KEY");
	is_str(s, "a [redacted]x [redacted] b [redacted]",
	    "http_redact replaces every occurrence");
	free(s);
	s = http_redact("nothing", 7, NULL);
	is_str(s, "nothing", "http_redact with no secret copies");
	free(s);
	gr_err_clear(&e);
	gr_err_set(&e, GR_E_AUTH, "bad %s here", KEY);
	gr_err_hint(&e, "not %s", KEY);
	http_err_redact(&e, KEY);
	is_str(e.msg, "bad [redacted] here", "http_err_redact: message");
	is_str(e.hint, "not [redacted]", "http_err_redact: hint");
}

static struct buf	 captured = BUF_INIT;

static void
capture(int lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	buf_adds(&captured, msg);
	buf_addc(&captured, '\n');
}

static void
test_trace(const char *base)
{
	struct http_client	*c;
	struct http_resp	 r;
	struct gr_err		 e;
	int			 saved, devnull;

	/* -vv: curl's trace on; keep stderr quiet meanwhile */
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);
	log_init(LOG_LVL_DEBUG + 1, false, "3201");
	log_set_capture(capture, NULL);
	c = client(base, 0, 0, 0);
	(void)do_req(c, "POST", "/echo", "{\"x\": 1}", &r, &e);
	http_resp_release(&r);
	(void)do_req(c, "GET", "/leak", NULL, &r, &e);
	http_resp_release(&r);
	(void)do_req(c, "POST", "/close", "{}", &r, &e);
	http_resp_release(&r);
	http_client_free(c);
	log_set_capture(NULL, NULL);
	log_init(LOG_LVL_INFO, false, "3201");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);

	like(buf_str(&captured), "> POST /echo HTTP/1.1",
	    "-vv traces the request line");
	like(buf_str(&captured), "Authorization: [redacted]",
	    "-vv shows the Authorization header as [redacted]");
	like(buf_str(&captured), "< HTTP/1.1 200",
	    "-vv traces the reply status line");
	like(buf_str(&captured), "X-Echo: key=[redacted]",
	    "-vv scrubs a key echoed in a reply header");
	ok(strstr(buf_str(&captured), KEY) == NULL,
	    "-vv: the key never appears in the log");
	ok(strstr(buf_str(&captured), "Bearer") == NULL,
	    "-vv: not even the Bearer prefix");
	buf_release(&captured);
}

int
main(void)
{
	struct MHD_Daemon	*d;
	struct http_client	*c;
	struct http_resp	 r;
	struct gr_err		 e;
	char			*base;
	int			 port;

	signal(SIGPIPE, SIG_IGN);
	plan_lazy();
	d = server_start(0, NULL, NULL, &port);
	if (d == NULL || port == 0)
		bail_out("cannot start the test HTTP server");
	base = xasprintf("http://127.0.0.1:%d", port);
	c = client(base, 0, 0, 0);

	test_request_shape(c);
	test_statuses(c);
	test_retry_after(c);
	test_parse_retry_after();
	test_redirect_and_leaks(c);
	test_size_cap(base);
	test_transport(base);
	test_urls();
	test_tls();
	test_pacing(base);
	test_threads(base);
	test_concurrency(base);
	test_create_on_fresh_connection(base);
	test_trace(base);

	/* the server goes away under a client that has used it */
	is_int(do_req(c, "GET", "/echo", NULL, &r, &e), 0,
	    "one more request on the first client");
	http_resp_release(&r);
	MHD_stop_daemon(d);
	is_int(do_req(c, "POST", "/spawn", "{}", &r, &e), -1,
	    "after the server stops, the next request fails");
	is_int(e.code, GR_E_TRANSIENT, "server gone: TRANSIENT");
	ok(!e.outcome_unknown, "server gone: refused, so not sent (no "
	    "leftover measurements from the last call)");
	http_resp_release(&r);
	http_client_free(c);
	free(base);
	seen_reset();
	return done_testing();
}
