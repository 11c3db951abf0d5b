/*
 * runpod.c: the RunPod provider: pods over REST v2 (PROVIDER-APIS.md
 * section 2.4; REST v1 was retired on 2026-11-15 and GraphQL is only for
 * what v2 lacks, which this provider does not use: see "spot" below).
 *
 * Options (config "providers: runpod:"; an unknown key is GR_E_CONFIG
 * with a did-you-mean):
 *
 *   base_url		REST v2 base, paths "/v2/..." are appended
 *			(default https://api.runpod.io; the simulator is
 *			http://127.0.0.1:PORT/runpod)
 *   api_key_file	a file holding the key (else cred.c's order:
 *			RUNPOD_API_KEY, keyring, credentials dir, dotenv)
 *   cloud_type		SECURE (default, v2's own default), COMMUNITY or
 *			ALL (offers from both; a spawn goes where its
 *			offer is)
 *   image		the image of a group that names none (default
 *			runpod/pytorch:2.8.0-py3.11-cuda12.8.1)
 *   min_interval_ms	client-side pacing between requests (default
 *			1000: the documented example quota is 60 a
 *			minute, so one a second never earns a 429)
 *   rate_wait_max_ms	how long a call may wait for a used-up rate-limit
 *			window before it fails with RATE_LIMIT unsent
 *			(default 2000)
 *   timeout_ms		a whole request (default http.c's 60 s)
 *
 *   graphql_url		GraphQL, only for spot pods (default base_url
 *			with "/graphql": https://api.runpod.io/graphql,
 *			the simulator's http://127.0.0.1:PORT/runpod/graphql)
 *
 * Pods.  A pod's name is its owner label (v2 has no tags).  spawn sends
 * POST /v2/pods with {name, image, gpu:{id,count}, cloud, dataCenterIds,
 * disk, ports:["22/tcp"], env, args}.  The bootstrap travels in the env
 * as GR_BOOTSTRAP and args (the container's command, which v2 calls
 * "args" and GraphQL "dockerArgs") is a fixed sh line that runs the
 * image's own /start.sh in the background when there is one (RunPod's
 * images start sshd there), writes GR_BOOTSTRAP to /root/gr-bootstrap.sh,
 * runs it, keeps its exit status in /root/gr-bootstrap.exit and then
 * idles, like a VM (as local instances do).  Without a bootstrap, args is
 * left out and the image's command runs.
 *
 * There is no idempotency key in v2, so a spawn is sent once: a transport
 * failure after sending keeps e->outcome_unknown, and the reconciler
 * lists and looks for the label before anything else.
 *
 * Offers come from GET /v2/catalog/gpus?include=AVAILABILITY&count=N&
 * cloud=C, one call per cloud of cloud_type: one offer per GPU type, cloud
 * and data centre with stock, priced per GPU times the count, to the
 * micro-dollar.  Both shapes of a GPU type are read: the v2 OpenAPI's
 * (price {secure, community}, memory, maxCount {...}, dataCenters
 * [{id, availability}]) and GraphQL-style names (securePrice,
 * memoryInGb, maxGpuCount, dataCenters [{id, cloud, availableGpuCount}]).
 * A data centre's stock is a count where one is given, else its level:
 * HIGH 4, MEDIUM 2, LOW 1, NONE 0 instances (a level is not a count; these
 * only order and filter).  Without per-data-centre rows there is one
 * offer per cloud with no region.  An offer id is CLOUD/DATACENTER/GPU
 * ("-" for no data centre); spawn rents exactly that.  A spawn without an
 * offer asks the catalog itself and takes the cheapest allowed offer.
 * The price is checked before any create: above max_price, no call.
 *
 * Status and billing (section 2.5: compute bills while desiredStatus is
 * RUNNING, even while runtime is still null; EXITED ends compute billing
 * and keeps storage; cost is 0.0 when EXITED or TERMINATED).  v2's
 * status is read with desiredStatus where the reply has one (else it is
 * derived: EXITED and TERMINATED are their own, anything else RUNNING):
 *
 *   status TERMINATED			TERMINATED, not billing
 *   desired TERMINATED, not yet	STOPPING, billing
 *   status EXITED			STOPPED, not billing: compute has
 *					ended; the volume's storage still
 *					bills (cents a month, which the Pod
 *					does not report), so a stopped pod
 *					is never forgotten: it stays listed
 *					and is ours by its name
 *   desired EXITED, still running	RUNNING, billing: stopping, but it
 *					can be neither used nor started
 *					until it has exited (status says
 *					"RUNNING, desired EXITED")
 *   RUNNING				RUNNING, billing
 *   PROVISIONING, STARTING		PENDING, billing
 *   ERROR				PENDING, billing: the pod still
 *					bills, and a pod that never comes
 *					back is cleaned up by the spinup
 *					timeout
 *   anything else			PENDING, billing while desired RUNNING
 *
 * price is cost ($/h, for the whole pod), else costPerHr.  ssh is the
 * runtime port whose private port is 22 (ip:public), else ssh.direct,
 * else publicIp with portMappings["22"]; the user is root.
 *
 * Errors start from http_classify, then RunPod's problem+json detail
 * (and its errors[] list) names what happened: "no longer any instances
 * available" and the like are CAPACITY (also on a 409 start: "not enough
 * free GPUs"), balance or spend-limit words are QUOTA_EXCEEDED, 404 on a
 * pod is NOT_FOUND but on a collection means base_url is wrong (CONFIG),
 * 429 is RATE_LIMIT with Retry-After.  Every reply's RateLimit header is
 * read: a window with r=0 holds further calls for its t seconds (waiting
 * up to rate_wait_max_ms, else failing RATE_LIMIT without sending).
 *
 * List is one call: GET /v2/pods returns every pod ({"pods":[...]}, no
 * pagination in v2).  stop and start are POST /v2/pods/{id}/action; a 409
 * there (the action does not fit the pod's status) is success when the
 * pod already is where it was asked to go.  terminate is DELETE; 404 is
 * NOT_FOUND, which the wrapper turns into success.
 *
 * Spot: interruptible pods exist only in GraphQL (v2 create refuses them),
 * so a spot spawn asks GraphQL for the floor, gpuTypes(input:{id}) {
 * lowestPrice(input:{gpuCount, secureCloud}) { minimumBidPrice } }, bids
 * exactly that per GPU (refused before the call when the bid times the
 * count is above max_price), and rents with podRentInterruptable, sent
 * with $variables (never inline literals: the env is the user's), in the
 * chosen offer's cloud and data centre, with the same name, env, ports,
 * disk and bootstrap.  Offers stay on-demand (a non-spot group must never
 * pick a spot price).  GraphQL's business errors come back as HTTP 200
 * with "errors": capacity words and a bid under the floor are CAPACITY,
 * "not found" NOT_FOUND, "Something went wrong" TRANSIENT (outcome unknown
 * for the mutation), balance words QUOTA_EXCEEDED, anything else
 * INVALID_SPEC; its HTTP errors map as v2's do.  Spot pods are listed,
 * fetched, stopped, started and terminated through v2 like any pod; an
 * interrupted one shows EXITED (STOPPED, not billing compute) until it is
 * started again or terminated, so it is never forgotten.  CPU pods are
 * not offered.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "provider.h"

#define RP_BASE_URL		"https://api.runpod.io"
#define RP_IMAGE		"runpod/pytorch:2.8.0-py3.11-cuda12.8.1"
#define RP_MIN_INTERVAL_MS	1000
#define RP_RATE_WAIT_MAX_MS	2000
#define RP_OPT_MS_MAX		((int64_t)3600 * 1000)
#define RP_BOOTSTRAP_ENV	"GR_BOOTSTRAP"

#define RP_CLOUD_SECURE		0x1
#define RP_CLOUD_COMMUNITY	0x2

/* The container command that runs the bootstrap; see the top. */
static const char rp_args[] =
    "sh -c '[ -x /start.sh ] && { /start.sh & }; "
    "printf %s \"$" RP_BOOTSTRAP_ENV "\" > /root/gr-bootstrap.sh; "
    "sh /root/gr-bootstrap.sh; echo $? > /root/gr-bootstrap.exit; "
    "exec sleep infinity'";

static const char *const option_keys[] = {
	"base_url", "graphql_url", "api_key_file", "cloud_type", "image",
	"min_interval_ms", "rate_wait_max_ms", "timeout_ms",
};

static const char *const cloud_names[] = { "SECURE", "COMMUNITY", "ALL" };

/* What the provider keeps between calls (p->priv). */
struct rp {
	struct http_client *http;	/* owned; REST v2 */
	struct http_client *gql;	/* owned; GraphQL (spot pods) */
	char		*gql_path;	/* owned; "/graphql" */
	char		*image;		/* owned; the default image */
	unsigned int	 clouds;	/* RP_CLOUD_* of cloud_type */
	int64_t		 rate_wait_max_ms;
	pthread_mutex_t	 mtx;		/* guards the gate below */
	int64_t		 not_before_ms;	/* no request before; 0: none */
	char		 window[16];	/* the window that set it */
};

/* An error in our one shape: "<op> '<subject>' on runpod: <what>". */
static void	 rp_fail_at(const char *, int, struct gr_err *, enum gr_code,
		    const char *, const char *, ...) GR_PRINTF(6, 7);
#define rp_fail(e, code, what, ...) \
	rp_fail_at(__FILE__, __LINE__, (e), (code), (what), __VA_ARGS__)

static void
rp_fail_at(const char *file, int line, struct gr_err *e, enum gr_code code,
    const char *what, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	gr_err_set_at(e, file, line, code, "%s: %s", what, msg);
	free(msg);
}

/* "spawn 'a/b/0' on runpod", "list on runpod"; owned by the caller. */
static char *
rp_what(enum prov_op op, const char *subj)
{
	if (subj != NULL)
		return xasprintf("%s '%s' on runpod", prov_op_name(op), subj);
	return xasprintf("%s on runpod", prov_op_name(op));
}

/* --- small JSON and time helpers ----------------------------------------- */

/* A string member, or NULL (borrowed). */
static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A number member as dollars into micro-dollars; false when absent. */
static bool
jmoney(json_t *o, const char *key, money_t *out)
{
	json_t	*v = json_object_get(o, key);
	double	 d;

	if (!json_is_number(v))
		return false;
	d = json_number_value(v);
	if (!(d >= 0) || d > 1e6)
		return false;
	*out = (money_t)(d * 1e6 + 0.5);	/* d >= 0; no libm */
	return true;
}

static bool
jint(json_t *o, const char *key, int64_t *out)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v) && json_real_value(v) > -9e15 &&
	    json_real_value(v) < 9e15 &&
	    json_real_value(v) == (double)(int64_t)json_real_value(v)) {
		*out = (int64_t)json_real_value(v);
		return true;
	}
	return false;
}

/*
 * RFC 3339 ("2026-06-01T12:00:00Z", with optional fractions of a second
 * and a numeric offset) to ms since the epoch; 0 when it does not parse.
 */
static int64_t
parse_rfc3339(const char *s)
{
	struct tm	 tm;
	int		 y, mo, d, h, mi, sec, n = 0, oh, om;
	int64_t		 ms = 0, scale = 100, off = 0;
	time_t		 t;
	const char	*p;

	if (s == NULL || sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo,
	    &d, &h, &mi, &sec, &n) != 6 || n == 0)
		return 0;
	p = s + n;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') &&
	    sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
		off = ((int64_t)oh * 60 + om) * 60 * 1000;
		if (*p == '+')
			off = -off;
		p += 6;
	} else
		return 0;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || y < 1970)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	return (int64_t)t * 1000 + ms + off;
}

/* The RunPod id of a canonical GPU name, or NULL. */
static const char *
gpu_id_of(const char *canonical)
{
	const struct gpu_model	*m;

	if (canonical == NULL)
		return NULL;
	m = catalog_find(canonical);
	return m != NULL ? m->runpod : NULL;
}

/* --- the rate-limit gate ------------------------------------------------- */

/*
 * Before a request: wait for a used-up window, or fail without sending
 * when the wait is longer than rate_wait_max_ms.
 */
static int
gate_enter(struct rp *r, const char *what, struct gr_err *e)
{
	int64_t	 nb, wait;
	char	 win[sizeof(r->window)];

	pthread_mutex_lock(&r->mtx);
	nb = r->not_before_ms;
	memcpy(win, r->window, sizeof(win));
	pthread_mutex_unlock(&r->mtx);
	if (nb == 0)
		return 0;
	wait = nb - clock_now_ms();
	if (wait <= 0)
		return 0;
	if (wait <= r->rate_wait_max_ms) {
		log_debug("runpod: waiting %" PRId64 " ms for the %s "
		    "rate-limit window", wait, win);
		clock_sleep_ms(wait);
		return 0;
	}
	rp_fail(e, GR_E_RATE_LIMIT, what, "the %s rate-limit window is used "
	    "up; not sent", win);
	gr_err_hint(e, "RunPod asks to wait %" PRId64 " s", (wait + 999) /
	    1000);
	e->retry_after_ms = wait;
	return -1;
}

static void
gate_hold(struct rp *r, int64_t until, const char *window)
{
	pthread_mutex_lock(&r->mtx);
	if (until > r->not_before_ms) {
		r->not_before_ms = until;
		(void)snprintf(r->window, sizeof(r->window), "%s", window);
	}
	pthread_mutex_unlock(&r->mtx);
}

/*
 * After a reply: RateLimit: "minute";r=0;t=12, "hour";r=2800;t=1812, ...
 * A window with nothing left holds requests for its t seconds.  Members
 * that do not parse are skipped.
 */
static void
gate_update(struct rp *r, const struct http_resp *resp)
{
	const char	*h = http_resp_header(resp, "ratelimit"), *p, *q;
	char		 name[16];
	long long	 rem, t;
	size_t		 n;
	bool		 have_r, have_t;

	if (resp->status == 429)
		gate_hold(r, clock_now_ms() + (resp->retry_after_ms >= 0 ?
		    resp->retry_after_ms : 1000), "current");
	if (h == NULL)
		return;
	for (p = h; *p != '\0';) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		name[0] = '\0';
		if (*p == '"' && (q = strchr(p + 1, '"')) != NULL) {
			n = (size_t)(q - p - 1);
			if (n >= sizeof(name))
				n = sizeof(name) - 1;
			memcpy(name, p + 1, n);
			name[n] = '\0';
			p = q + 1;
		}
		have_r = have_t = false;
		rem = t = 0;
		while (*p == ';') {
			p++;
			if (sscanf(p, "r=%lld", &rem) == 1)
				have_r = true;
			else if (sscanf(p, "t=%lld", &t) == 1)
				have_t = true;
			while (*p != '\0' && *p != ';' && *p != ',')
				p++;
		}
		while (*p != '\0' && *p != ',')
			p++;
		if (have_r && have_t && rem <= 0 && t > 0 && t < 86400 * 2)
			gate_hold(r, clock_now_ms() + t * 1000,
			    name[0] != '\0' ? name : "current");
	}
}

/* --- errors -------------------------------------------------------------- */

/* Lowercase a provider's sentence's first letter ("There" -> "there"). */
static void
lower_first(char *s)
{
	if (s[0] != '\0' && isupper((unsigned char)s[0]) &&
	    (s[1] == '\0' || islower((unsigned char)s[1])))
		s[0] = (char)tolower((unsigned char)s[0]);
}

static bool
has_word(const char *text, const char *const *words, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcasestr(text, words[i]) != NULL)
			return true;
	return false;
}

/* What RunPod says when there is nothing to rent (2.1, 2.2). */
static bool
is_capacity(const char *text)
{
	static const char *const words[] = {
		"no longer any instances available",
		"no instances available", "not enough free gpus",
		"no available machines", "out of capacity",
		"insufficient capacity", "no gpus available",
		"could not find any pods",
	};

	return has_word(text, words, nitems(words));
}

/* An account that may not spend more (2.5: credit, spend limit). */
static bool
is_quota(const char *text)
{
	static const char *const words[] = {
		"balance", "insufficient funds", "credit", "spend limit",
		"spending limit", "quota",
	};

	return has_word(text, words, nitems(words));
}

/* What a request is about, for the 404 and 409 rules. */
enum rp_target {
	RP_COLLECTION = 0,	/* /v2/pods, the catalog */
	RP_POD,			/* one pod by id */
};

/*
 * Map a reply of status >= 300 onto the taxonomy: http_classify, then
 * RunPod's problem+json ({title, status, detail, errors[]}).
 */
static void
rp_classify(const char *what, const struct http_resp *resp,
    enum rp_target target, struct gr_err *e)
{
	json_t		*j = NULL, *errs;
	struct buf	 d = BUF_INIT;
	const char	*detail = NULL, *first = NULL;
	char		*msg;
	size_t		 n;
	long		 st = resp->status;

	(void)http_classify(what, resp, e);
	if (resp->body != NULL && resp->len > 0)
		j = json_loadb(resp->body, resp->len, 0, NULL);
	if (json_is_object(j)) {
		detail = jstr(j, "detail");
		if (detail == NULL)
			detail = jstr(j, "message");	/* v1's shape */
		if (detail == NULL)
			detail = jstr(j, "title");
		errs = json_object_get(j, "errors");
		first = json_string_value(json_array_get(errs, 0));
		if (first == NULL)
			first = jstr(json_array_get(errs, 0), "message");
		if (detail == NULL)
			detail = first;	/* GraphQL's {"errors":[...]} */
	}
	if (detail != NULL) {
		/* one sentence, no trailing period (STYLE.md 15) */
		n = strlen(detail);
		while (n > 0 && (detail[n - 1] == '.' || detail[n - 1] == ' '))
			n--;
		buf_add(&d, detail, n);
		if (first != NULL && strcmp(first, detail) != 0)
			buf_addf(&d, " (%s)", first);
		msg = buf_detach(&d);
		lower_first(msg);
		/* only the text: http_classify's hint and flags stay */
		(void)snprintf(e->msg, sizeof(e->msg), "%s: %s (HTTP %ld)",
		    what, msg, st);
		free(msg);
	}
	if (detail != NULL && st >= 400 && st < 500 && st != 429 &&
	    st != 401 && st != 403 && is_capacity(detail)) {
		e->code = GR_E_CAPACITY;
		gr_err_hint(e, "another offer, data centre or provider may "
		    "have room; the reconciler tries them");
	} else if (detail != NULL && st >= 400 && st < 500 && st != 429 &&
	    st != 401 && st != 404 && is_quota(detail)) {
		e->code = GR_E_QUOTA_EXCEEDED;
		gr_err_hint(e, "check the RunPod account's balance and spend "
		    "limit (a pod needs an hour of credit)");
	} else if ((st == 404 || st == 405) && target == RP_COLLECTION) {
		e->code = GR_E_CONFIG;
		gr_err_hint(e, "no such endpoint: check base_url (REST v2 "
		    "paths /v2/... are appended to it)");
	} else if (st == 402)
		gr_err_hint(e, "check the RunPod account's balance and spend "
		    "limit");
	e->outcome_unknown = e->outcome_unknown && st >= 500;
	json_decref(j);
}

/*
 * One request.  On success *out is the reply's JSON (new; NULL for an
 * empty body) and *status its status.  -1: e is set (the transport's or
 * the reply's error, with outcome_unknown kept).
 */
static int
rp_send(struct provider *p, struct http_client *c, const char *what,
    const char *method, const char *path, json_t *body,
    enum rp_target target, json_t **out, long *status, struct gr_err *e)
{
	struct rp		*r = p->priv;
	struct http_req		 req;
	struct http_resp	 resp;
	char			*text = NULL;
	json_error_t		 je;
	int			 rc = -1;

	*out = NULL;
	if (status != NULL)
		*status = 0;
	if (gate_enter(r, what, e) == -1)
		return -1;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL)
			fatalx("json_dumps: out of memory");
		req.body = text;
		req.body_len = strlen(text);
	}
	if (http_do(c, &req, &resp, e) == -1) {
		gr_err_prefix(e, "%s", what);
		goto out;
	}
	gate_update(r, &resp);
	if (status != NULL)
		*status = resp.status;
	if (resp.status >= 300 || resp.status < 100) {
		rp_classify(what, &resp, target, e);
		goto out;
	}
	if (resp.len > 0) {
		*out = json_loadb(resp.body, resp.len, 0, &je);
		if (*out == NULL) {
			rp_fail(e, GR_E_TRANSIENT, what, "HTTP %ld with a "
			    "reply that is not JSON: %s", resp.status,
			    je.text);
			e->http_status = (int)resp.status;
			/* the server did act: what it made is unknown */
			e->outcome_unknown = strcmp(method, "GET") != 0;
			goto out;
		}
	}
	rc = 0;
out:
	http_resp_release(&resp);
	if (text != NULL) {
		/* the body carries the group's env */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	return rc;
}

/* A REST v2 request; see rp_send. */
static int
rp_call(struct provider *p, const char *what, const char *method,
    const char *path, json_t *body, enum rp_target target, json_t **out,
    long *status, struct gr_err *e)
{
	struct rp	*r = p->priv;

	return rp_send(p, r->http, what, method, path, body, target, out,
	    status, e);
}

/*
 * A GraphQL business error (HTTP 200 with "errors", 2.1) onto the
 * taxonomy: RunPod's capacity words and a bid under the floor are
 * CAPACITY, "not found" NOT_FOUND, "Something went wrong" TRANSIENT (and,
 * for a mutation, maybe acted on), balance words QUOTA_EXCEEDED, the rest
 * INVALID_SPEC.
 */
static void
gql_business(const char *what, const char *message, bool mutation,
    struct gr_err *e)
{
	char		*m = xstrdup(message != NULL ? message : "an error "
	    "without a message");
	size_t		 n = strlen(m);
	enum gr_code	 code = GR_E_INVALID_SPEC;

	while (n > 0 && (m[n - 1] == '.' || m[n - 1] == ' '))
		m[--n] = '\0';
	lower_first(m);
	if (is_capacity(m) || strcasestr(m, "minimum bid") != NULL)
		code = GR_E_CAPACITY;
	else if (strcasestr(m, "not found") != NULL)
		code = GR_E_NOT_FOUND;
	else if (strcasestr(m, "something went wrong") != NULL)
		code = GR_E_TRANSIENT;
	else if (is_quota(m))
		code = GR_E_QUOTA_EXCEEDED;
	rp_fail(e, code, what, "%s (GraphQL)", m);
	e->http_status = 200;
	if (code == GR_E_TRANSIENT)
		e->outcome_unknown = mutation;
	if (code == GR_E_CAPACITY)
		gr_err_hint(e, "another offer, data centre or provider may "
		    "have room; the reconciler tries them");
	free(m);
}

/*
 * One GraphQL operation: {"query", "variables"} to graphql_url, the key in
 * the Authorization header only.  *out is data.<field> (new; may be JSON
 * null).  -1 with e set, business errors included.
 */
static int
gql_call(struct provider *p, const char *what, const char *query,
    json_t *vars, const char *field, bool mutation, json_t **out,
    struct gr_err *e)
{
	struct rp	*r = p->priv;
	json_t		*body, *reply = NULL, *errs, *data;
	int		 rc = -1;

	*out = NULL;
	body = json_pack("{s:s, s:O}", "query", query, "variables", vars);
	if (body == NULL)
		BUG("graphql body does not pack");
	if (rp_send(p, r->gql, what, "POST", r->gql_path, body,
	    RP_COLLECTION, &reply, NULL, e) == -1)
		goto out;
	errs = json_object_get(reply, "errors");
	data = json_object_get(json_object_get(reply, "data"), field);
	if (json_array_size(errs) > 0) {
		gql_business(what, jstr(json_array_get(errs, 0), "message"),
		    mutation, e);
		goto out;
	}
	if (data == NULL) {
		rp_fail(e, GR_E_TRANSIENT, what, "the GraphQL reply has no "
		    "data.%s", field);
		e->outcome_unknown = mutation;
		goto out;
	}
	*out = json_incref(data);
	rc = 0;
out:
	json_decref(body);
	json_decref(reply);
	return rc;
}

/* --- pods ---------------------------------------------------------------- */

/* v2 status (and desiredStatus, when given) onto our state machine. */
static void
pod_state(const char *status, const char *desired, enum inst_state *state,
    bool *billing)
{
	if (status == NULL)
		status = "";
	if (desired == NULL) {
		if (strcmp(status, "EXITED") == 0 ||
		    strcmp(status, "TERMINATED") == 0)
			desired = status;
		else
			desired = "RUNNING";
	}
	if (strcmp(status, "TERMINATED") == 0) {
		*state = INST_TERMINATED;
		*billing = false;
	} else if (strcmp(desired, "TERMINATED") == 0) {
		*state = INST_STOPPING;
		*billing = true;
	} else if (strcmp(status, "EXITED") == 0) {
		*state = INST_STOPPED;
		*billing = false;
	} else if (strcmp(status, "RUNNING") == 0) {
		/* desired EXITED too: stopping, not stopped yet */
		*state = INST_RUNNING;
		*billing = true;
	} else {
		/* PROVISIONING, STARTING, ERROR and words not yet known */
		*state = INST_PENDING;
		*billing = strcmp(desired, "RUNNING") == 0;
	}
}

/* ssh host and port from what the Pod says; see the top. */
static void
pod_ssh(json_t *pod, struct instance *out)
{
	json_t		*ports, *pt, *direct, *pm;
	const char	*ip, *type, *user = NULL;
	int64_t		 priv, pub;
	size_t		 i;

	ports = json_object_get(json_object_get(pod, "runtime"), "ports");
	json_array_foreach(ports, i, pt) {
		if (!jint(pt, "private", &priv) &&
		    !jint(pt, "privatePort", &priv))
			continue;
		if (priv != 22)
			continue;
		if (!jint(pt, "public", &pub) && !jint(pt, "publicPort", &pub))
			continue;
		type = jstr(pt, "type");
		ip = jstr(pt, "ip");
		if ((type != NULL && strcmp(type, "tcp") != 0) || ip == NULL ||
		    *ip == '\0' || pub <= 0 || pub > 65535 ||
		    json_is_false(json_object_get(pt, "isIpPublic")))
			continue;
		out->ssh_host = xstrdup(ip);
		out->ssh_port = (int)pub;
		break;
	}
	direct = json_object_get(json_object_get(pod, "ssh"), "direct");
	if (out->ssh_host == NULL && json_is_object(direct) &&
	    (ip = jstr(direct, "host")) != NULL && *ip != '\0' &&
	    jint(direct, "port", &pub) && pub > 0 && pub <= 65535) {
		out->ssh_host = xstrdup(ip);
		out->ssh_port = (int)pub;
	}
	pm = json_object_get(pod, "portMappings");
	if (out->ssh_host == NULL && (ip = jstr(pod, "publicIp")) != NULL &&
	    *ip != '\0' && jint(pm, "22", &pub) && pub > 0 && pub <= 65535) {
		out->ssh_host = xstrdup(ip);
		out->ssh_port = (int)pub;
	}
	if (out->ssh_host == NULL)
		return;
	if (json_is_object(direct))
		user = jstr(direct, "username");
	out->ssh_user = xstrdup(user != NULL && *user != '\0' ? user : "root");
}

/* A v2 Pod into out (zeroed first).  -1 when it has no id. */
static int
pod_to_instance(json_t *pod, struct instance *out)
{
	const struct gpu_model	*m;
	const char		*id = jstr(pod, "id");
	const char		*name = jstr(pod, "name");
	const char		*st = jstr(pod, "status");
	const char		*desired = jstr(pod, "desiredStatus");
	const char		*gid, *dc;
	json_t			*gpu = json_object_get(pod, "gpu");
	int64_t			 n;
	money_t			 price = 0;

	memset(out, 0, sizeof(*out));
	if (id == NULL || *id == '\0')
		return -1;
	out->id = xstrdup(id);
	out->label = name != NULL && *name != '\0' ? xstrdup(name) : NULL;
	pod_state(st, desired, &out->state, &out->billing);
	if (st == NULL)
		out->status = xstrdup(desired != NULL ? desired : "unknown");
	else if (desired != NULL && strcmp(desired, "RUNNING") != 0 &&
	    strcmp(desired, st) != 0)
		out->status = xasprintf("%s, desired %s", st, desired);
	else
		out->status = xstrdup(st);
	if (!jmoney(pod, "cost", &price) && !jmoney(pod, "costPerHr", &price))
		(void)jmoney(pod, "adjustedCostPerHr", &price);
	out->price = price;
	gid = jstr(gpu, "id");
	if (gid != NULL) {
		m = catalog_from_provider("runpod", gid);
		out->gpu = xstrdup(m != NULL ? m->name : gid);
	}
	if (jint(gpu, "count", &n) && n > 0 && n < 1000)
		out->gpu_count = (int)n;
	dc = jstr(pod, "dataCenterId");
	if (dc != NULL && *dc != '\0')
		out->region = xstrdup(dc);
	if (out->state == INST_RUNNING || out->state == INST_STOPPED)
		pod_ssh(pod, out);
	out->created_ms = parse_rfc3339(jstr(pod, "createdAt"));
	return 0;
}

/* --- offers -------------------------------------------------------------- */

static const char *
cloud_word(unsigned int c)
{
	return c == RP_CLOUD_COMMUNITY ? "COMMUNITY" : "SECURE";
}

/* A GPU type's per-GPU price on cloud c, in either shape; false: none. */
static bool
type_price(json_t *t, unsigned int c, money_t *out)
{
	const char	*lc = c == RP_CLOUD_COMMUNITY ? "community" : "secure";
	json_t		*avail = json_object_get(t, lc);

	if (json_is_false(avail))
		return false;	/* v2: not sold on that cloud */
	if (jmoney(json_object_get(t, "price"), lc, out) ||
	    jmoney(t, c == RP_CLOUD_COMMUNITY ? "communityPrice" :
	    "securePrice", out))
		return *out > 0;
	return false;
}

/* The most GPUs one pod of this type may have on cloud c; 0: unknown. */
static int64_t
type_max_count(json_t *t, unsigned int c)
{
	int64_t	 n = 0;

	if (jint(json_object_get(t, "maxCount"), c == RP_CLOUD_COMMUNITY ?
	    "community" : "secure", &n) || jint(t, "maxGpuCount", &n))
		return n;
	return 0;
}

/* Instances of count GPUs a stock entry holds; see the top. */
static int
stock(json_t *o, int count)
{
	const char	*lvl;
	int64_t		 n;

	if (jint(o, "availableGpuCount", &n))
		return n > 0 ? (int)(n / (count > 0 ? count : 1)) : 0;
	lvl = jstr(o, "availability");
	if (lvl == NULL)
		lvl = jstr(o, "stockStatus");
	if (lvl == NULL)
		return -1;	/* not said */
	if (strcasecmp(lvl, "HIGH") == 0)
		return 4;
	if (strcasecmp(lvl, "MEDIUM") == 0)
		return 2;
	if (strcasecmp(lvl, "LOW") == 0)
		return 1;
	return 0;
}

static void
offer_add(struct offer_list *out, const struct gpu_model *m, int count,
    int vram, unsigned int c, const char *dc, money_t per_gpu, int avail)
{
	struct offer	*o = offer_list_add(out);

	o->id = xasprintf("%s/%s/%s", cloud_word(c), dc != NULL ? dc : "-",
	    m->runpod);
	o->gpu = xstrdup(m->name);
	o->gpu_count = count;
	o->vram_gb = vram;
	o->price = per_gpu * count;
	o->region = dc != NULL ? xstrdup(dc) : NULL;
	o->available = avail;
	o->spot = false;
}

/* The offers of one GPU type entry on cloud c. */
static void
type_offers(json_t *t, const struct gpu_model *m, const struct gpu_req *g,
    unsigned int c, struct offer_list *out)
{
	json_t		*dcs = json_object_get(t, "dataCenters"), *d;
	const char	*dcid, *dcc;
	money_t		 per_gpu;
	int64_t		 vram = m->vram_gb, maxc;
	int		 count = g->count > 0 ? g->count : 1, n;
	size_t		 i;

	if (!type_price(t, c, &per_gpu))
		return;
	maxc = type_max_count(t, c);
	if (maxc > 0 && count > maxc)
		return;
	if (!jint(t, "memory", &vram))
		(void)jint(t, "memoryInGb", &vram);
	if (g->min_vram_gb > 0 && vram < g->min_vram_gb)
		return;
	if (json_array_size(dcs) == 0) {
		n = stock(t, count);
		if (n != 0)
			offer_add(out, m, count, (int)vram, c, NULL, per_gpu,
			    n < 0 ? 1 : n);
		return;
	}
	json_array_foreach(dcs, i, d) {
		dcid = jstr(d, "id");
		dcc = jstr(d, "cloud");
		if (dcid == NULL || *dcid == '\0' || strchr(dcid, '/') != NULL)
			continue;
		if (dcc != NULL && strcasecmp(dcc, cloud_word(c)) != 0)
			continue;
		n = stock(d, count);
		if (n == 0)
			continue;
		offer_add(out, m, count, (int)vram, c, dcid, per_gpu,
		    n < 0 ? 1 : n);
	}
}

/* The catalog's offers for g, every cloud of cloud_type. */
static int
fetch_offers(struct provider *p, const struct gpu_req *g, const char *what,
    struct offer_list *out, struct gr_err *e)
{
	struct rp		*r = p->priv;
	const struct gpu_model	*m;
	json_t			*reply, *gpus, *t;
	const char		*tid;
	char			*path;
	unsigned int		 c;
	size_t			 i;
	int			 count = g->count > 0 ? g->count : 1, rc;

	m = catalog_find(g->type);
	if (m == NULL || m->runpod == NULL)
		return 0;	/* nothing RunPod rents: no offers */
	for (c = RP_CLOUD_SECURE; c <= RP_CLOUD_COMMUNITY; c <<= 1) {
		if ((r->clouds & c) == 0)
			continue;
		path = xasprintf("/v2/catalog/gpus?include=AVAILABILITY&"
		    "count=%d&cloud=%s", count, cloud_word(c));
		rc = rp_call(p, what, "GET", path, NULL, RP_COLLECTION, &reply,
		    NULL, e);
		free(path);
		if (rc == -1)
			return -1;
		gpus = json_object_get(reply, "gpus");
		if (!json_is_array(gpus) && json_is_array(reply))
			gpus = reply;
		if (!json_is_array(gpus)) {
			rp_fail(e, GR_E_TRANSIENT, what, "the GPU catalog "
			    "reply has no \"gpus\" list");
			json_decref(reply);
			return -1;
		}
		json_array_foreach(gpus, i, t) {
			tid = jstr(t, "id");
			if (tid != NULL && strcasecmp(tid, m->runpod) == 0)
				type_offers(t, m, g, c, out);
		}
		json_decref(reply);
	}
	return 0;
}

static int
rp_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	char	*what = rp_what(PROV_OP_OFFERS, g != NULL ? g->type : NULL);
	int	 rc = -1;

	if (g == NULL || g->type == NULL)
		rp_fail(e, GR_E_INVALID_SPEC, what, "no gpu type given");
	else
		rc = fetch_offers(p, g, what, out, e);
	free(what);
	return rc;
}

/* --- spawn --------------------------------------------------------------- */

static bool
region_ok(const struct spawn_req *req, const char *region)
{
	size_t	 i;

	if (req->nregions == 0 || req->regions == NULL)
		return true;
	if (region == NULL)
		return false;
	for (i = 0; i < req->nregions; i++)
		if (req->regions[i] != NULL &&
		    (strcasecmp(req->regions[i], region) == 0 ||
		    strncasecmp(region, req->regions[i],
		    strlen(req->regions[i])) == 0))
			return true;
	return false;
}

/* Split an offer id CLOUD/DC/GPU; false when it is not one of ours. */
static bool
offer_parse(const char *id, unsigned int *cloud, char **dc, char **gpu)
{
	const char	*s1, *s2;

	if (id == NULL || (s1 = strchr(id, '/')) == NULL ||
	    (s2 = strchr(s1 + 1, '/')) == NULL || s2[1] == '\0' ||
	    s2 == s1 + 1)
		return false;
	if ((size_t)(s1 - id) == 6 && strncmp(id, "SECURE", 6) == 0)
		*cloud = RP_CLOUD_SECURE;
	else if ((size_t)(s1 - id) == 9 && strncmp(id, "COMMUNITY", 9) == 0)
		*cloud = RP_CLOUD_COMMUNITY;
	else
		return false;
	*dc = (s2 - s1 - 1 == 1 && s1[1] == '-') ? NULL :
	    xstrndup(s1 + 1, (size_t)(s2 - s1 - 1));
	*gpu = xstrdup(s2 + 1);
	return true;
}

/* The chosen offer, or the cheapest one that fits; -1 with e set. */
static int
spawn_pick(struct provider *p, const struct spawn_req *req, const char *what,
    struct offer *pick, struct gr_err *e)
{
	struct offer_list	 ol = { NULL, 0 };
	const struct offer	*best = NULL;
	char			 m[32];
	size_t			 i;
	bool			 priced = false;

	memset(pick, 0, sizeof(*pick));
	/* a spot pod's price is its bid, checked against max in spawn_spot */
	if (req->offer != NULL) {
		if (req->offer->price > req->max_price && !req->spot) {
			rp_fail(e, GR_E_CAPACITY, what, "offer '%s' costs "
			    "$%s/h, above the max", req->offer->id != NULL ?
			    req->offer->id : "?", money_fmt(req->offer->price,
			    m, sizeof(m)));
			gr_err_hint(e, "raise max_price_per_hour");
			return -1;
		}
		pick->id = xstrdup(req->offer->id != NULL ? req->offer->id :
		    "");
		pick->price = req->offer->price;
		pick->region = req->offer->region != NULL ?
		    xstrdup(req->offer->region) : NULL;
		return 0;
	}
	if (fetch_offers(p, req->gpu, what, &ol, e) == -1)
		return -1;
	offer_list_sort(&ol);
	for (i = 0; i < ol.n && best == NULL; i++) {
		if (!region_ok(req, ol.v[i].region))
			continue;
		if (ol.v[i].price > req->max_price && !req->spot)
			continue;
		priced = true;
		if (ol.v[i].available > 0)
			best = &ol.v[i];
	}
	if (best == NULL) {
		rp_fail(e, GR_E_CAPACITY, what, priced ? "no capacity: no %s "
		    "offer under $%s/h has room now" : "no %s offer under "
		    "$%s/h%s", req->gpu->type, money_fmt(req->max_price, m,
		    sizeof(m)), !priced && req->nregions > 0 ?
		    " in the group's regions" : "");
		gr_err_hint(e, priced ? "run again later, or add a provider" :
		    "raise max_price_per_hour, widen regions or add a "
		    "provider");
		offer_list_release(&ol);
		return -1;
	}
	pick->id = xstrdup(best->id);
	pick->price = best->price;
	pick->region = best->region != NULL ? xstrdup(best->region) : NULL;
	offer_list_release(&ol);
	return 0;
}

/* The POST /v2/pods body (new). */
static json_t *
spawn_body(struct rp *r, const struct spawn_req *req, const char *gpu,
    unsigned int cloud, const char *dc)
{
	json_t	*b, *env;
	size_t	 i;

	env = json_object();
	for (i = 0; i < req->nenv; i++)
		if (req->env[i].key != NULL && req->env[i].value != NULL)
			json_object_set_new(env, req->env[i].key,
			    json_string(req->env[i].value));
	if (req->bootstrap != NULL)
		json_object_set_new(env, RP_BOOTSTRAP_ENV,
		    json_stringn(req->bootstrap, req->bootstrap_len));
	b = json_pack("{s:s, s:s, s:{s:s, s:i}, s:s, s:[s], s:o}",
	    "name", req->label,
	    "image", req->image != NULL && *req->image != '\0' ?
	    req->image : r->image,
	    "gpu", "id", gpu, "count", req->gpu->count > 0 ?
	    req->gpu->count : 1,
	    "cloud", cloud_word(cloud),
	    "ports", "22/tcp",
	    "env", env);
	if (b == NULL)
		BUG("spawn body does not pack");
	if (dc != NULL)
		json_object_set_new(b, "dataCenterIds", json_pack("[s]", dc));
	if (req->disk_gb > 0)
		json_object_set_new(b, "disk", json_integer(req->disk_gb));
	if (req->bootstrap != NULL)
		json_object_set_new(b, "args", json_string(rp_args));
	return b;
}

static const char gql_bid[] =
    "query GpuBid($id: String!, $n: Int!, $secure: Boolean!) { "
    "gpuTypes(input: {id: $id}) { id lowestPrice(input: {gpuCount: $n, "
    "secureCloud: $secure}) { minimumBidPrice } } }";

static const char gql_rent[] =
    "mutation Rent($input: PodRentInterruptableInput!) { "
    "podRentInterruptable(input: $input) { id name desiredStatus "
    "costPerHr gpuCount machine { location } } }";

/* The spot floor per GPU of gpu on cloud for count GPUs; -1 with e set. */
static int
spot_bid(struct provider *p, const char *what, const char *gpu, int count,
    unsigned int cloud, money_t *bid, struct gr_err *e)
{
	json_t	*vars, *types = NULL, *t, *lp;
	size_t	 i;
	int	 rc = -1;

	vars = json_pack("{s:s, s:i, s:b}", "id", gpu, "n", count, "secure",
	    cloud == RP_CLOUD_SECURE);
	if (gql_call(p, what, gql_bid, vars, "gpuTypes", false, &types,
	    e) == -1)
		goto out;
	json_array_foreach(types, i, t) {
		if (jstr(t, "id") == NULL ||
		    strcasecmp(jstr(t, "id"), gpu) != 0)
			continue;
		lp = json_object_get(t, "lowestPrice");
		if (jmoney(lp, "minimumBidPrice", bid) && *bid > 0) {
			rc = 0;
			goto out;
		}
	}
	rp_fail(e, GR_E_CAPACITY, what, "no spot %d x %s on %s cloud now",
	    count, gpu, cloud_word(cloud));
	gr_err_hint(e, "RunPod has no bid price for it: none free");
out:
	json_decref(vars);
	json_decref(types);
	return rc;
}

/*
 * A spot pod: GraphQL podRentInterruptable (v2 has none), bidding the
 * floor per GPU, refused before the call when the bid is above max_price.
 * The reply's pod (GraphQL fields) fills out.
 */
static int
spawn_spot(struct provider *p, const struct spawn_req *req,
    const char *what, const char *gpu, unsigned int cloud, const char *dc,
    struct instance *out, struct gr_err *e)
{
	struct rp	*r = p->priv;
	json_t		*input = NULL, *vars = NULL, *env, *pod = NULL;
	money_t		 bid, cost;
	char		 m1[32], m2[32];
	const char	*loc;
	int		 count = req->gpu->count > 0 ? req->gpu->count : 1;
	int		 rc = -1;
	size_t		 i;

	if (spot_bid(p, what, gpu, count, cloud, &bid, e) == -1)
		return -1;
	if (bid * count > req->max_price) {
		rp_fail(e, GR_E_CAPACITY, what, "the spot bid $%s/h is above "
		    "the max $%s/h", money_fmt(bid * count, m1, sizeof(m1)),
		    money_fmt(req->max_price, m2, sizeof(m2)));
		gr_err_hint(e, "raise max_price_per_hour");
		return -1;
	}
	env = json_array();
	for (i = 0; i < req->nenv; i++)
		if (req->env[i].key != NULL && req->env[i].value != NULL)
			json_array_append_new(env, json_pack("{s:s, s:s}",
			    "key", req->env[i].key, "value",
			    req->env[i].value));
	if (req->bootstrap != NULL)
		json_array_append_new(env, json_pack("{s:s, s:s%}", "key",
		    RP_BOOTSTRAP_ENV, "value", req->bootstrap,
		    req->bootstrap_len));
	input = json_pack("{s:s, s:s, s:s, s:i, s:s, s:f, s:s, s:o}",
	    "name", req->label,
	    "imageName", req->image != NULL && *req->image != '\0' ?
	    req->image : r->image,
	    "gpuTypeId", gpu,
	    "gpuCount", count,
	    "cloudType", cloud_word(cloud),
	    "bidPerGpu", money_to_double(bid),
	    "ports", "22/tcp",
	    "env", env);
	if (input == NULL)
		BUG("spot input does not pack");
	if (dc != NULL)
		json_object_set_new(input, "dataCenterId", json_string(dc));
	if (req->disk_gb > 0)
		json_object_set_new(input, "containerDiskInGb",
		    json_integer(req->disk_gb));
	if (req->bootstrap != NULL)
		json_object_set_new(input, "dockerArgs", json_string(rp_args));
	vars = json_pack("{s:O}", "input", input);
	if (gql_call(p, what, gql_rent, vars, "podRentInterruptable", true,
	    &pod, e) == -1)
		goto out;
	if (jstr(pod, "id") == NULL || *jstr(pod, "id") == '\0') {
		rp_fail(e, GR_E_TRANSIENT, what, "the spot pod was rented, "
		    "but the reply has no pod id");
		e->outcome_unknown = true;	/* list finds it by its name */
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(jstr(pod, "id"));
	out->label = xstrdup(req->label);
	pod_state(NULL, jstr(pod, "desiredStatus"), &out->state,
	    &out->billing);
	out->status = xstrdup(jstr(pod, "desiredStatus") != NULL ?
	    jstr(pod, "desiredStatus") : "RUNNING");
	out->price = jmoney(pod, "costPerHr", &cost) ? cost : bid * count;
	out->gpu = xstrdup(req->gpu->type);
	out->gpu_count = count;
	loc = jstr(json_object_get(pod, "machine"), "location");
	if (loc != NULL && *loc != '\0')
		out->region = xstrdup(loc);
	else if (dc != NULL)
		out->region = xstrdup(dc);
	out->created_ms = clock_now_ms();
	rc = 0;
out:
	json_decref(input);
	json_decref(vars);
	json_decref(pod);
	return rc;
}

static int
rp_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	struct rp	*r = p->priv;
	struct offer	 pick;
	json_t		*body = NULL, *reply = NULL;
	const char	*want;
	char		*what, *dc = NULL, *gpu = NULL;
	unsigned int	 cloud = RP_CLOUD_SECURE;
	int		 rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&pick, 0, sizeof(pick));
	what = rp_what(PROV_OP_SPAWN, req->address != NULL ? req->address :
	    req->label);
	if (req->label == NULL || *req->label == '\0') {
		rp_fail(e, GR_E_INVALID_SPEC, what, "no owner label");
		goto out;
	}
	want = req->gpu != NULL ? gpu_id_of(req->gpu->type) : NULL;
	if (want == NULL) {
		rp_fail(e, GR_E_INVALID_SPEC, what, "RunPod has no gpu type "
		    "'%s'", req->gpu != NULL && req->gpu->type != NULL ?
		    req->gpu->type : "");
		goto out;
	}
	if (spawn_pick(p, req, what, &pick, e) == -1)
		goto out;
	if (!offer_parse(pick.id, &cloud, &dc, &gpu) ||
	    strcasecmp(gpu, want) != 0) {
		rp_fail(e, GR_E_INVALID_SPEC, what, "offer '%s' is not a %s "
		    "offer of this provider", pick.id, req->gpu->type);
		goto out;
	}
	if (!region_ok(req, dc)) {
		rp_fail(e, GR_E_INVALID_SPEC, what, "offer '%s' is outside the "
		    "group's regions", pick.id);
		goto out;
	}
	if (req->spot) {
		if (spawn_spot(p, req, what, want, cloud, dc, out, e) == -1)
			goto out;
		log_debug("runpod: spawn '%s': spot pod %s", req->label,
		    out->id);
		rc = 0;
		goto out;
	}
	body = spawn_body(r, req, want, cloud, dc);
	if (rp_call(p, what, "POST", "/v2/pods", body, RP_COLLECTION, &reply,
	    NULL, e) == -1)
		goto out;
	if (pod_to_instance(reply, out) == -1) {
		rp_fail(e, GR_E_TRANSIENT, what, "the pod was created, but the "
		    "reply has no pod id");
		e->outcome_unknown = true;	/* list finds it by its name */
		goto out;
	}
	if (out->label == NULL)
		out->label = xstrdup(req->label);
	if (out->price == 0)
		out->price = pick.price;
	log_debug("runpod: spawn '%s': pod %s, %s", req->label, out->id,
	    out->status != NULL ? out->status : "?");
	rc = 0;
out:
	if (rc == -1)
		instance_release(out);
	json_decref(body);
	json_decref(reply);
	free(pick.id);
	free(pick.region);
	free(dc);
	free(gpu);
	free(what);
	return rc;
}

/* --- list, get, terminate, stop, start ----------------------------------- */

/* Pod ids go into paths: refuse anything that is not a plain word. */
static bool
pod_id_ok(const char *id)
{
	const char	*s;

	if (id == NULL || *id == '\0' || strlen(id) > 64)
		return false;
	for (s = id; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static int
rp_list(struct provider *p, struct instance_list *out, struct gr_err *e)
{
	json_t		*reply, *pods, *pod;
	struct instance	 in;
	char		*what = rp_what(PROV_OP_LIST, NULL);
	size_t		 i;
	int		 rc = -1;

	if (rp_call(p, what, "GET", "/v2/pods", NULL, RP_COLLECTION, &reply,
	    NULL, e) == -1)
		goto out;
	pods = json_object_get(reply, "pods");
	if (!json_is_array(pods) && json_is_array(reply))
		pods = reply;
	if (!json_is_array(pods)) {
		rp_fail(e, GR_E_TRANSIENT, what, "the reply has no \"pods\" "
		    "list");
		json_decref(reply);
		goto out;
	}
	json_array_foreach(pods, i, pod) {
		if (pod_to_instance(pod, &in) == -1) {
			log_warnx("runpod: list: a pod without an id; skipped");
			continue;
		}
		*instance_list_add(out) = in;
	}
	json_decref(reply);
	rc = 0;
out:
	free(what);
	return rc;
}

static int
rp_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	json_t	*reply;
	char	*what = rp_what(PROV_OP_GET, id), *path;
	int	 rc = -1;

	memset(out, 0, sizeof(*out));
	if (!pod_id_ok(id)) {
		rp_fail(e, GR_E_NOT_FOUND, what, "not a RunPod pod id");
		free(what);
		return -1;
	}
	path = xasprintf("/v2/pods/%s", id);
	if (rp_call(p, what, "GET", path, NULL, RP_POD, &reply, NULL,
	    e) == 0) {
		if (pod_to_instance(reply, out) == 0)
			rc = 0;
		else
			rp_fail(e, GR_E_TRANSIENT, what, "the reply is not a "
			    "pod");
		json_decref(reply);
	}
	free(path);
	free(what);
	return rc;
}

static int
rp_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	json_t	*reply;
	char	*what = rp_what(PROV_OP_TERMINATE, id), *path;
	int	 rc;

	if (!pod_id_ok(id)) {
		rp_fail(e, GR_E_NOT_FOUND, what, "not a RunPod pod id");
		free(what);
		return -1;
	}
	path = xasprintf("/v2/pods/%s", id);
	rc = rp_call(p, what, "DELETE", path, NULL, RP_POD, &reply, NULL, e);
	json_decref(reply);
	if (rc == 0)
		log_debug("runpod: terminate %s: asked", id);
	free(path);
	free(what);
	return rc;
}

/* desiredStatus, or what it must be when the reply has none. */
static const char *
pod_desired(json_t *pod)
{
	const char	*d = jstr(pod, "desiredStatus"), *st = jstr(pod,
	    "status");

	if (d != NULL)
		return d;
	if (st != NULL && (strcmp(st, "EXITED") == 0 ||
	    strcmp(st, "TERMINATED") == 0))
		return st;
	return "RUNNING";
}

/*
 * stop or start through POST /v2/pods/{id}/action.  A 409 (the action
 * does not fit the pod's status) is success when the pod already is, or
 * is going, where it was asked to go; a start while the pod is still
 * stopping is TRANSIENT (start it once it has exited); a 409 start for
 * want of GPUs is CAPACITY (rp_classify).
 */
static int
pod_action(struct provider *p, enum prov_op op, const char *id,
    const char *action, struct gr_err *e)
{
	json_t		*body, *reply = NULL, *pod = NULL;
	struct gr_err	 e2;
	const char	*st, *desired;
	char		*what = rp_what(op, id), *path, *gpath;
	long		 code;
	int		 rc = -1;

	if (!pod_id_ok(id)) {
		rp_fail(e, GR_E_NOT_FOUND, what, "not a RunPod pod id");
		free(what);
		return -1;
	}
	path = xasprintf("/v2/pods/%s/action", id);
	gpath = xasprintf("/v2/pods/%s", id);
	body = json_pack("{s:s}", "action", action);
	if (rp_call(p, what, "POST", path, body, RP_POD, &reply, &code,
	    e) == 0)
		rc = 0;
	else if (code == 409 && e->code == GR_E_INVALID_SPEC &&
	    rp_call(p, what, "GET", gpath, NULL, RP_POD, &pod, NULL,
	    &e2) == 0) {
		st = jstr(pod, "status");
		if (st == NULL)
			st = "";
		desired = pod_desired(pod);
		if (op == PROV_OP_STOP && (strcmp(desired, "EXITED") == 0 ||
		    strcmp(st, "EXITED") == 0)) {
			gr_err_clear(e);
			rc = 0;
		} else if (op == PROV_OP_START &&
		    strcmp(desired, "RUNNING") == 0 &&
		    strcmp(st, "EXITED") != 0 &&
		    strcmp(st, "TERMINATED") != 0) {
			gr_err_clear(e);
			rc = 0;
		} else if (op == PROV_OP_START &&
		    strcmp(desired, "EXITED") == 0 &&
		    strcmp(st, "EXITED") != 0) {
			rp_fail(e, GR_E_TRANSIENT, what, "the pod is still "
			    "stopping (%s)", st);
			gr_err_hint(e, "start it once it has exited");
			e->http_status = 409;
		} else
			gr_err_hint(e, "the pod is %s, desired %s", st,
			    desired);
	}
	json_decref(body);
	json_decref(reply);
	json_decref(pod);
	free(gpath);
	free(path);
	free(what);
	return rc;
}

static int
rp_stop(struct provider *p, const char *id, struct gr_err *e)
{
	return pod_action(p, PROV_OP_STOP, id, "stop", e);
}

static int
rp_start(struct provider *p, const char *id, struct gr_err *e)
{
	return pod_action(p, PROV_OP_START, id, "start", e);
}

/* --- init and fini ------------------------------------------------------- */

static bool
parse_ms(const char *v, int64_t *out)
{
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < 0 ||
	    n > RP_OPT_MS_MAX)
		return false;
	*out = n;
	return true;
}

static int
options_check(const struct provider_conf *conf, struct gr_err *e)
{
	return provider_options_check("runpod", conf, option_keys,
	    nitems(option_keys), e);
}

static int
opt_ms(const struct provider_conf *conf, const char *key, int64_t dflt,
    int64_t *out, struct gr_err *e)
{
	const char	*v = kv_get(conf->options, conf->noptions, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!parse_ms(v, out)) {
		gr_err_set(e, GR_E_CONFIG, "provider 'runpod': option %s: '%s' "
		    "is not a number of milliseconds from 0 to %" PRId64, key,
		    v, RP_OPT_MS_MAX);
		return -1;
	}
	return 0;
}

static void
rp_free(struct rp *r)
{
	if (r == NULL)
		return;
	http_client_free(r->http);
	http_client_free(r->gql);
	free(r->gql_path);
	free(r->image);
	pthread_mutex_destroy(&r->mtx);
	free(r);
}

static int
rp_init(struct provider *p, const struct provider_conf *conf,
    struct gr_err *e)
{
	struct rp		*r;
	struct cred		 cred;
	struct http_opts	 ho;
	const char		*base, *v, *s, *gq;
	char			*gurl, *slash;
	int64_t			 iv, tmo;
	size_t			 i, n;
	int			 rc;

	memset(&cred, 0, sizeof(cred));
	if (options_check(conf, e) == -1)
		return -1;
	r = xcalloc(1, sizeof(*r));
	if (pthread_mutex_init(&r->mtx, NULL) != 0)
		fatalx("pthread_mutex_init");
	r->clouds = RP_CLOUD_SECURE;
	if ((v = kv_get(conf->options, conf->noptions, "cloud_type")) != NULL) {
		for (i = 0; i < nitems(cloud_names); i++)
			if (strcmp(v, cloud_names[i]) == 0)
				break;
		if (i == nitems(cloud_names)) {
			gr_err_set(e, GR_E_CONFIG, "provider 'runpod': option "
			    "cloud_type: '%s' is not SECURE, COMMUNITY or ALL",
			    v);
			s = str_suggest(v, cloud_names, nitems(cloud_names));
			if (s != NULL)
				gr_err_hint(e, "did you mean '%s'?", s);
			goto fail;
		}
		r->clouds = i == 0 ? RP_CLOUD_SECURE : i == 1 ?
		    RP_CLOUD_COMMUNITY : RP_CLOUD_SECURE | RP_CLOUD_COMMUNITY;
	}
	v = kv_get(conf->options, conf->noptions, "image");
	if (v != NULL && *v == '\0') {
		gr_err_set(e, GR_E_CONFIG, "provider 'runpod': option image is "
		    "empty");
		goto fail;
	}
	r->image = xstrdup(v != NULL ? v : RP_IMAGE);
	if (opt_ms(conf, "min_interval_ms", RP_MIN_INTERVAL_MS, &iv, e) == -1 ||
	    opt_ms(conf, "rate_wait_max_ms", RP_RATE_WAIT_MAX_MS,
	    &r->rate_wait_max_ms, e) == -1 ||
	    opt_ms(conf, "timeout_ms", 0, &tmo, e) == -1)
		goto fail;
	if (cred_resolve("runpod", kv_get(conf->options, conf->noptions,
	    "api_key_file"), &cred, e) == -1)
		goto fail;
	memset(&ho, 0, sizeof(ho));
	ho.min_interval_ms = iv;
	ho.timeout_ms = tmo;
	base = kv_get(conf->options, conf->noptions, "base_url");
	if (base == NULL)
		base = RP_BASE_URL;
	if (http_client_new("runpod", base, &cred, &ho, &r->http, e) == -1)
		goto fail;
	gq = kv_get(conf->options, conf->noptions, "graphql_url");
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	gurl = gq != NULL ? xstrdup(gq) : xasprintf("%.*s/graphql", (int)n,
	    base);
	n = strlen(gurl);
	while (n > 0 && gurl[n - 1] == '/')
		gurl[--n] = '\0';
	slash = strrchr(gurl, '/');
	if (slash == NULL || slash == gurl || slash[-1] == '/' ||
	    slash[1] == '\0') {
		gr_err_set(e, GR_E_CONFIG, "provider 'runpod': option "
		    "graphql_url: '%s' is not a URL with a path", gurl);
		gr_err_hint(e, "write it as https://api.runpod.io/graphql");
		free(gurl);
		goto fail;
	}
	r->gql_path = xstrdup(slash);
	*slash = '\0';
	rc = http_client_new("runpod", gurl, &cred, &ho, &r->gql, e);
	free(gurl);
	if (rc == -1)
		goto fail;
	p->cred_source = xstrdup(cred.source != NULL ? cred.source :
	    "the configured key");
	cred_release(&cred);
	p->priv = r;
	return 0;
fail:
	cred_release(&cred);
	rp_free(r);
	return -1;
}

static void
rp_fini(struct provider *p)
{
	rp_free(p->priv);
	p->priv = NULL;
}

const struct provider_ops runpod_provider_ops = {
	.name = "runpod",
	.caps = PROV_CAP_GPU | PROV_CAP_SPOT | PROV_CAP_HIBERNATION |
	    PROV_CAP_MULTI_REGION,
	.init = rp_init,
	.fini = rp_fini,
	.offers = rp_offers,
	.spawn = rp_spawn,
	.terminate = rp_terminate,
	.list = rp_list,
	.get = rp_get,
	.stop = rp_stop,
	.start = rp_start,
};
