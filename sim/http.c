/*
 * http.c: the HTTP side of gpureconcile-sim, on libmicrohttpd.  It finds
 * the API a path belongs to, and runs every request through the same
 * steps: route, authenticate, rate limits, fault rules (storm, error,
 * latency), the handler, then the "lost response" rule.  Handlers run
 * with the one state mutex held; injected latency sleeps without it.
 *
 * One thread per connection, so a slow (latency-injected) reply never
 * holds up another client.  Request lines are logged without their query
 * string, and auth headers only by scheme: an API key never reaches the
 * log.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "sim.h"

#define BODY_MAX	(4 << 20)
#define LOG_BODY_MAX	(64 << 10)

struct conn_ctx {
	struct buf	 body;
	bool		 too_big;
};

static const struct sim_api *const apis[] = {
	&vast_api,
	&runpod_api,
	&lambda_api,
};

/* ---- replies ---- */

void
resp_header(struct sim_resp *r, const char *name, const char *value)
{
	if (r->nhdrs >= nitems(r->hdrs))
		BUG("resp_header: too many headers");
	(void)snprintf(r->hdrs[r->nhdrs].name, sizeof(r->hdrs[0].name), "%s",
	    name);
	(void)snprintf(r->hdrs[r->nhdrs].value, sizeof(r->hdrs[0].value),
	    "%s", value);
	r->nhdrs++;
}

void
resp_json(struct sim_resp *r, int status, json_t *j, const char *ctype)
{
	char	*s;

	r->status = status;
	buf_reset(&r->body);
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		BUG("resp_json: cannot encode");
	buf_adds(&r->body, s);
	free(s);
	json_decref(j);
	(void)snprintf(r->ctype, sizeof(r->ctype), "%s",
	    ctype != NULL ? ctype : "application/json");
}

void
resp_text(struct sim_resp *r, int status, const char *ctype, const char *t)
{
	r->status = status;
	buf_reset(&r->body);
	buf_adds(&r->body, t);
	(void)snprintf(r->ctype, sizeof(r->ctype), "%s", ctype);
}

void
resp_empty(struct sim_resp *r, int status)
{
	r->status = status;
	buf_reset(&r->body);
	r->ctype[0] = '\0';
}

/* ---- requests ---- */

const char *
req_header(struct sim_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
req_arg(struct sim_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

static void
split_path(struct sim_req *r)
{
	char	*p, *save = NULL, *t;

	if (r->npseg >= 0)
		return;
	r->npseg = 0;
	r->segbuf = xstrdup(r->path);
	for (p = r->segbuf; (t = strtok_r(p, "/", &save)) != NULL; p = NULL) {
		if (r->npseg == (int)nitems(r->pseg)) {
			r->npseg = -2;	/* too deep: matches nothing */
			return;
		}
		r->pseg[r->npseg++] = t;
	}
}

bool
req_match(struct sim_req *r, const char *method, const char *pat)
{
	char		 buf[256], *p, *save = NULL, *t;
	int		 n = 0, ncap = 0;
	const char	*cap[8];

	if (method != NULL && strcmp(method, r->method) != 0)
		return false;
	split_path(r);
	if (r->npseg < 0)
		return false;
	(void)snprintf(buf, sizeof(buf), "%s", pat);
	for (p = buf; (t = strtok_r(p, "/", &save)) != NULL; p = NULL) {
		if (n >= r->npseg)
			return false;
		if (strcmp(t, "*") == 0) {
			if (ncap == (int)nitems(cap))
				return false;
			cap[ncap++] = r->pseg[n];
		} else if (strcmp(t, r->pseg[n]) != 0)
			return false;
		n++;
	}
	if (n != r->npseg)
		return false;
	memcpy(r->seg, cap, sizeof(cap[0]) * (size_t)ncap);
	return true;
}

const struct sim_route *
route_find(struct sim_req *r, const struct sim_route *t, size_t n,
    bool *wrong_method)
{
	size_t	 k;

	*wrong_method = false;
	for (k = 0; k < n; k++) {
		if (!req_match(r, NULL, t[k].pat))
			continue;
		if (strcmp(t[k].method, r->method) == 0)
			return &t[k];
		*wrong_method = true;
	}
	return NULL;
}

const char *
req_bearer(struct sim_req *r)
{
	const char	*h = req_header(r, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	r->auth = "bearer";
	return h;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Decode base64; NULL when it is not base64. */
static char *
b64_decode(const char *s)
{
	struct buf	 b = BUF_INIT;
	unsigned int	 acc = 0;
	int		 bits = 0, v;

	for (; *s != '\0' && *s != '='; s++) {
		if ((v = b64val((unsigned char)*s)) < 0) {
			buf_release(&b);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(&b, (char)((acc >> bits) & 0xff));
		}
	}
	return buf_detach(&b);
}

/*
 * Lambda's Basic forms: base64("KEY:") as curl -u KEY: sends it, or the
 * raw key.  The returned key is owned by the request (segbuf-like).
 */
const char *
req_basic(struct sim_req *r)
{
	const char	*h = req_header(r, "Authorization");
	static __thread char keybuf[512];
	char		*dec, *colon;

	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
		return NULL;
	h += 6;
	while (*h == ' ')
		h++;
	r->auth = "basic";
	dec = b64_decode(h);
	if (dec != NULL && (colon = strchr(dec, ':')) != NULL) {
		*colon = '\0';
		(void)snprintf(keybuf, sizeof(keybuf), "%s", dec);
		free(dec);
		return keybuf;
	}
	free(dec);
	return h;
}

int
key_index(struct sim *s, enum sim_prov p, const char *key)
{
	size_t	 k;

	if (key == NULL || *key == '\0')
		return -1;
	for (k = 0; k < s->p[p].nkeys; k++)
		if (strcmp(s->p[p].keys[k], key) == 0)
			return (int)k;
	return -1;
}

/* ---- the request log ---- */

struct argcat {
	struct buf	*b;
	int		 n;
};

static enum MHD_Result
arg_cat(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct argcat	*a = cls;

	(void)kind;
	buf_addc(a->b, a->n++ == 0 ? '?' : '&');
	buf_adds(a->b, key);
	if (value != NULL) {
		buf_addc(a->b, '=');
		buf_adds(a->b, strcmp(key, "api_key") == 0 ? "REDACTED" :
		    value);
	}
	return MHD_YES;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
log_request(struct sim *s, struct sim_req *r, const char *fullpath,
    const struct sim_resp *resp)
{
	struct sim_reqlog	*l;
	struct buf		 p = BUF_INIT;
	struct argcat		 a = { &p, 0 };

	s->log_seq++;
	l = &s->log[s->log_seq % (int64_t)s->log_cap];
	free(l->method);
	free(l->path);
	free(l->op);
	free(l->auth);
	free(l->ctype);
	free(l->ua);
	free(l->body);
	free(l->fault);
	memset(l, 0, sizeof(*l));
	buf_adds(&p, fullpath);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_cat, &a);
	l->seq = s->log_seq;
	l->prov = r->prov;
	l->method = xstrdup(r->method);
	l->path = buf_detach(&p);
	l->op = dup_or_null(r->op);
	l->auth = xstrdup(r->auth != NULL ? r->auth : "none");
	l->key = r->key;
	l->ctype = dup_or_null(req_header(r, "Content-Type"));
	l->ua = dup_or_null(req_header(r, "User-Agent"));
	l->body = xstrndup(r->body != NULL ? r->body : "",
	    r->bodylen > LOG_BODY_MAX ? LOG_BODY_MAX : r->bodylen);
	l->status = resp->drop ? 0 : resp->status;
	l->fault = dup_or_null(r->fault);
	if (s->nlog < s->log_cap)
		s->nlog++;
}

/* ---- the pipeline ---- */

static bool
client_is_loopback(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr		*sa;
	const struct sockaddr_in6	*s6;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return false;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static const char gateway_timeout_html[] =
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n"
    "<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n"
    "</body>\r\n</html>\r\n";

static void
run_api(struct sim *s, const struct sim_api *api, struct sim_req *r,
    struct sim_resp *resp)
{
	struct sim_fault	*f;
	const char		*why;
	int			 wait;
	int64_t			 sleep_ms;

	if (!api->route(r, resp))
		return;
	if (!api->auth(r)) {
		api->unauthorized(r, resp);
		return;
	}
	if ((wait = ratelimit_check(s, r, &why)) > 0) {
		r->fault = "ratelimit";
		api->too_many(r, resp, wait, why);
		return;
	}
	if ((f = fault_take(s, r, FK_STORM)) != NULL) {
		r->fault = "storm";
		api->too_many(r, resp, f->retry_after, NULL);
		return;
	}
	if ((f = fault_take(s, r, FK_ERROR)) != NULL) {
		r->fault = "error";
		if (f->body != NULL)
			resp_text(resp, f->status, f->ctype != NULL ?
			    f->ctype : "text/plain", f->body);
		else if (f->status == 429)
			api->too_many(r, resp, f->retry_after, NULL);
		else if (f->status == 401 && f->code == NULL)
			api->unauthorized(r, resp);
		else
			api->error(r, resp, f->status, f->code, f->msg);
		return;
	}
	if ((f = fault_take(s, r, FK_LATENCY)) != NULL) {
		r->fault = "latency";
		sleep_ms = f->ms;
		pthread_mutex_unlock(&s->mtx);
		clock_sleep_ms(sleep_ms);
		pthread_mutex_lock(&s->mtx);
		r->now = sim_now(s);
		sim_tick(s, r->now);
	}
	r->handler(r, resp);
	if ((f = fault_take(s, r, FK_LOST)) != NULL) {
		r->fault = "lost";
		if (f->reply_504) {
			resp->nhdrs = 0;
			resp_text(resp, f->status, "text/html",
			    gateway_timeout_html);
		} else
			resp->drop = true;
	}
}

static enum MHD_Result
send_resp(struct MHD_Connection *c, struct sim_resp *resp)
{
	struct MHD_Response	*mr;
	enum MHD_Result		 rc;
	size_t			 k;

	mr = MHD_create_response_from_buffer(resp->body.len,
	    resp->body.s != NULL ? resp->body.s : (void *)"",
	    MHD_RESPMEM_MUST_COPY);
	if (mr == NULL)
		return MHD_NO;
	if (resp->ctype[0] != '\0')
		(void)MHD_add_response_header(mr, "Content-Type", resp->ctype);
	for (k = 0; k < resp->nhdrs; k++)
		(void)MHD_add_response_header(mr, resp->hdrs[k].name,
		    resp->hdrs[k].value);
	rc = MHD_queue_response(c, (unsigned int)resp->status, mr);
	MHD_destroy_response(mr);
	return rc;
}

static enum MHD_Result
handle(struct sim *s, struct MHD_Connection *c, const char *url,
    const char *method, struct conn_ctx *cc)
{
	struct sim_req		 r;
	struct sim_resp		 resp;
	const struct sim_api	*api = NULL;
	size_t			 k, plen;
	enum MHD_Result		 rc;
	json_error_t		 je;
	int64_t			 t0 = clock_mono_ms();
	bool			 control = false;

	memset(&r, 0, sizeof(r));
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body);
	resp.status = 500;
	r.sim = s;
	r.conn = c;
	r.method = method;
	r.key = -1;
	r.prov = -1;
	r.npseg = -1;
	r.body = cc->body.s;
	r.bodylen = cc->body.len;
	for (k = 0; k < nitems(apis); k++) {
		plen = strlen(apis[k]->prefix);
		if (strncmp(url, apis[k]->prefix, plen) == 0 &&
		    (url[plen] == '/' || url[plen] == '\0')) {
			api = apis[k];
			r.path = url + plen + (url[plen] == '/');
			r.prov = api->prov;
			break;
		}
	}
	if (api == NULL && (strcmp(url, "/_sim") == 0 ||
	    strncmp(url, "/_sim/", 6) == 0)) {
		control = true;
		r.path = url[5] == '/' ? url + 6 : "";
		r.op = "control";
	}
	if (cc->body.len > 0) {
		r.json = json_loadb(cc->body.s, cc->body.len,
		    JSON_DECODE_ANY, &je);
		r.json_bad = r.json == NULL;
	}

	pthread_mutex_lock(&s->mtx);
	r.now = sim_now(s);
	sim_tick(s, r.now);
	if (cc->too_big)
		resp_text(&resp, 413, "text/plain", "request body too large\n");
	else if (control) {
		if (!client_is_loopback(c))
			resp_text(&resp, 403, "text/plain",
			    "the control API answers loopback only\n");
		else
			control_handle(s, &r, &resp);
	} else if (api != NULL)
		run_api(s, api, &r, &resp);
	else
		resp_text(&resp, 404, "text/plain", "not found: try /vast, "
		    "/runpod, /lambda or /_sim/\n");
	if (!resp.drop && api != NULL && api->decorate != NULL)
		api->decorate(&r, &resp);
	if (!control || strcmp(r.path, "requests") != 0)
		log_request(s, &r, url, &resp);
	pthread_mutex_unlock(&s->mtx);

	if (!control || log_verbosity() >= LOG_LVL_DEBUG)
		log_info("%s %s %s -> %d%s%s (%lld ms)", sim_prov_name(r.prov),
		    method, url, resp.drop ? 0 : resp.status,
		    r.fault != NULL ? " fault=" : "",
		    r.fault != NULL ? r.fault : "",
		    (long long)(clock_mono_ms() - t0));
	if (r.auth != NULL)
		log_debug("%s auth %s, key %s", sim_prov_name(r.prov), r.auth,
		    r.key >= 0 ? "accepted" : "refused");

	rc = resp.drop ? MHD_NO : send_resp(c, &resp);
	buf_release(&resp.body);
	json_decref(r.json);
	free(r.segbuf);
	if (r.ctx_free != NULL)
		r.ctx_free(r.ctx);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct conn_ctx	*cc = *con_cls;

	(void)version;
	if (cc == NULL) {
		cc = xcalloc(1, sizeof(*cc));
		*con_cls = cc;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (cc->body.len + *upload_size > BODY_MAX)
			cc->too_big = true;
		else
			buf_add(&cc->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return handle(cls, c, url, method, cc);
}

static void
on_done(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct conn_ctx	*cc = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (cc == NULL)
		return;
	buf_release(&cc->body);
	free(cc);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct buf	 b = BUF_INIT;

	(void)cls;
	buf_vaddf(&b, fmt, ap);
	while (b.len > 0 && b.s[b.len - 1] == '\n')
		b.s[--b.len] = '\0';
	log_debug("microhttpd: %s", buf_str(&b));
	buf_release(&b);
}

void *
http_start(struct sim *s, const char *host, int port, int *bound, char *err,
    size_t errlen)
{
	struct sockaddr_in	 a4;
	struct sockaddr_in6	 a6;
	struct sockaddr		*sa;
	unsigned int		 flags;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *di;

	flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else {
		(void)snprintf(err, errlen, "bad address '%s'", host);
		return NULL;
	}
	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
	    MHD_OPTION_END);
	if (d == NULL) {
		(void)snprintf(err, errlen, "cannot listen on %s:%d: %s", host,
		    port, strerror(errno));
		return NULL;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*bound = di != NULL ? di->port : port;
	return d;
}

void
http_stop(void *d)
{
	if (d != NULL)
		MHD_stop_daemon(d);
}
