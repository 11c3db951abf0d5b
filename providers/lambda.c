/*
 * lambda.c: Lambda Cloud (PROVIDER-APIS.md section 3), over its REST API
 * v1: instance types with their prices and the regions that have room,
 * launch, list, get and terminate.  Lambda has no stop or start, and no
 * client token for an idempotent launch; the owner label goes into the
 * instance's `name`, which is how a lost launch is found again (by the
 * reconciler listing and searching for the label).
 *
 * Options (the provider's section of the config; all optional but the
 * SSH key, which a launch needs):
 *
 *	base_url		default https://cloud.lambda.ai; /api/v1/...
 *				is appended (the simulator: http://127.0.0.1:
 *				PORT/lambda)
 *	api_key_file		a file holding the key; otherwise the usual
 *				search (LAMBDA_API_KEY, keyring, ...; cred.c)
 *	ssh_key_names		the name of an SSH key already in the Lambda
 *				account, put on every instance.  A comma list
 *				is accepted, but the API takes exactly one key
 *				per launch (3.3), so more than one name is a
 *				config error.  Without it nothing can be
 *				launched: spawn fails with GR_E_CONFIG before
 *				any request (reads, list and terminate work,
 *				so a fleet can still be inspected and torn
 *				down); startup (`check`) also verifies that
 *				the named key exists in the account
 *	file_system_names	comma list of file systems to attach
 *	image_family		a Lambda machine image family, sent as
 *				"image": {"family": ...}; default Lambda's own
 *	min_interval_ms		client-side pacing between any two requests,
 *				default 1000 (Lambda: about 1 request/s)
 *	launch_interval_ms	pacing between two launches, default 12000
 *				(Lambda: 1 launch per 12 s, 3.2).  Tests set
 *				both low against a simulator with matching
 *				limits; 0 turns pacing off
 *
 * An unknown option is GR_E_CONFIG with a "did you mean".
 *
 * Pacing: every request goes through one HTTP client paced by
 * min_interval_ms (counted from the end of the previous request; see
 * http.c), and launches are serialised and spaced by launch_interval_ms
 * on top of that, so normal use never earns a 429.  Nothing is retried
 * here: a 429 is GR_E_RATE_LIMIT (Retry-After kept when given) and the
 * reconciler waits.
 *
 * Status and billing (3.3, 3.4; DESIGN.md section 5):
 *
 *	booting		PENDING, billing: Lambda's billing page says billing
 *			starts at launch "and the instance passes health
 *			checks", which no status names; we count money from
 *			the launch on, so the ledger never under-reports
 *			(the simulator bills from launch too)
 *	active		RUNNING, billing
 *	unhealthy	RUNNING, billing (still rented and charged; the
 *			status word says what is wrong)
 *	terminating	STOPPING, not billing (the reference: billing has
 *			ended), but the reconciler still waits for it to be
 *			gone before it confirms the end
 *	terminated	gone: list leaves it out; get reports TERMINATED
 *	preempted	TERMINATED, not billing (the simulator bills nothing
 *			while preempted); listed, so the slot is respawned
 *	anything else	RUNNING, billing: an unknown word must not make a
 *			billed machine look free
 *
 * Prices are price_cents_per_hour, per instance; the instance's price is
 * that of its type.  SSH: the instance's ip, port 22, user "ubuntu".
 * Lambda's instance object carries no creation time, so created_ms is
 * known only for what spawn returns.
 *
 * Offers: one per instance type and region in
 * regions_with_capacity_available (available 1).  A type that matches
 * the request but has room nowhere gives one offer with no region and
 * available 0, so that the reconciler says "no capacity" rather than "no
 * offer under the price".  GPU names go through the catalog (the type
 * gpu_<N>x_<stem> names the stem and the count); a request's count must
 * match the type's exactly.
 *
 * Errors: the body {"error": {"code", "message", "suggestion"}} is keyed
 * on code (3.2): insufficient capacity is CAPACITY, quota QUOTA_EXCEEDED,
 * an invalid key or an inactive account AUTH (the hint says where the key
 * came from), invalid parameters and the file-system codes INVALID_SPEC,
 * object-does-not-exist NOT_FOUND (but CONFIG from a launch, where it
 * means the SSH key or a file system named in the config), internal
 * errors and "provider/..." codes TRANSIENT; other codes, and bodies
 * that are not Lambda's, fall back on the HTTP status (http_classify):
 * 429 RATE_LIMIT, 5xx TRANSIENT.  The suggestion becomes the hint.  A
 * launch whose reply is lost keeps outcome_unknown, and a launch is never
 * sent twice here.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "provider.h"

#define LAMBDA_BASE_URL		"https://cloud.lambda.ai"
#define LAMBDA_MIN_INTERVAL_MS	1000	/* 3.2: about 1 request/s */
#define LAMBDA_LAUNCH_INTERVAL_MS 12000	/* 3.2: 1 launch per 12 s */
#define LAMBDA_INTERVAL_MAX_MS	600000
#define LAMBDA_SSH_PORT		22
#define LAMBDA_SSH_USER		"ubuntu"
#define LAMBDA_NAME_MAX		64	/* launch's `name` */
#define LAMBDA_USER_DATA_MAX	(1024 * 1024)
#define LAMBDA_ID_MAX		128

#define PATH_TYPES		"/api/v1/instance-types"
#define PATH_INSTANCES		"/api/v1/instances"
#define PATH_LAUNCH		"/api/v1/instance-operations/launch"
#define PATH_TERMINATE		"/api/v1/instance-operations/terminate"
#define PATH_SSH_KEYS		"/api/v1/ssh-keys"

struct lambda {
	struct http_client *http;	/* owned; every request, paced */
	char		**ssh_keys;	/* owned */
	size_t		 nssh_keys;
	char		**fs_names;	/* owned */
	size_t		 nfs_names;
	char		*image_family;	/* owned; NULL: Lambda's default */
	int64_t		 launch_interval_ms;
	pthread_mutex_t	 launch_mtx;	/* one launch at a time */
	int64_t		 last_launch_ms; /* when the last launch ended; 0 */
};

static const char *const option_names[] = {
	"base_url", "api_key_file", "ssh_key_names", "file_system_names",
	"image_family", "min_interval_ms", "launch_interval_ms",
};

/* --- small helpers ------------------------------------------------------- */

static void
strv_free(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Split "a, b,c" into trimmed, non-empty names. */
static void
split_list(const char *s, char ***vp, size_t *np)
{
	const char	*p = s, *end, *a, *b;

	strv_free(*vp, *np);
	*vp = NULL;
	*np = 0;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		a = p;
		b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			*vp = xreallocarray(*vp, *np + 1, sizeof(**vp));
			(*vp)[(*np)++] = xstrndup(a, (size_t)(b - a));
		}
		p = *end == ',' ? end + 1 : end;
	}
}

static bool
parse_ms(const char *s, int64_t *out)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 ||
	    v > LAMBDA_INTERVAL_MAX_MS)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Lambda ids are hex; anything that could bend the URL cannot exist. */
static bool
id_ok(const char *id)
{
	const char	*p;

	if (id == NULL || *id == '\0' || strlen(id) > LAMBDA_ID_MAX)
		return false;
	for (p = id; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			return false;
	return true;
}

/* "gpu_8x_h100_sxm5": count 8, stem "h100_sxm5" (borrowed from name). */
static bool
type_parse(const char *name, int *count, const char **stem)
{
	const char	*p;
	long		 n = 0;

	if (strncmp(name, "gpu_", 4) != 0)
		return false;
	p = name + 4;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p) && n < 1000)
		n = n * 10 + (*p++ - '0');
	if (n < 1 || n >= 1000 || p[0] != 'x' || p[1] != '_' || p[2] == '\0')
		return false;
	*count = (int)n;
	*stem = p + 2;
	return true;
}

/* The catalog entry of a type's stem, or NULL. */
static const struct gpu_model *
type_model(const char *type, int *count)
{
	const char	*stem;

	*count = 0;
	if (type == NULL || !type_parse(type, count, &stem))
		return NULL;
	return catalog_from_provider("lambda", stem);
}

/* A region a request allows: exact, or the request names its prefix. */
static bool
region_allowed(const struct spawn_req *req, const char *region)
{
	size_t	 i;

	if (req->nregions == 0 || req->regions == NULL)
		return true;
	if (region == NULL)
		return false;
	for (i = 0; i < req->nregions; i++) {
		if (req->regions[i] == NULL)
			continue;
		if (strcasecmp(req->regions[i], region) == 0 ||
		    strncasecmp(region, req->regions[i],
		    strlen(req->regions[i])) == 0)
			return true;
	}
	return false;
}

/* Cents per hour (integer or number) to micro-dollars; -1 when bad. */
static money_t
json_cents(const json_t *v)
{
	double	 d;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) > MONEY_MAX / 10000)
			return -1;
		return (money_t)json_integer_value(v) * 10000;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!(d >= 0) || d > (double)(MONEY_MAX / 10000))
			return -1;
		return (money_t)(d * 10000.0 + 0.5);
	}
	return -1;
}

static const char *
jstr(const json_t *o, const char *key)	/* borrowed */
{
	return json_string_value(json_object_get(o, key));
}

/*
 * "spawn 'a/b/0' on lambda" or "list on lambda": how every message of
 * ours starts.  Owned by the caller.
 */
static char *
what_str(enum prov_op op, const char *subj)
{
	if (subj != NULL)
		return xasprintf("%s '%s' on lambda", prov_op_name(op), subj);
	return xasprintf("%s on lambda", prov_op_name(op));
}

#define lambda_fail(e, code, op, subj, ...) \
	lambda_fail_at(__FILE__, __LINE__, (e), (code), (op), (subj), \
	    __VA_ARGS__)

static void	 lambda_fail_at(const char *, int, struct gr_err *,
		    enum gr_code, enum prov_op, const char *, const char *,
		    ...) GR_PRINTF(7, 8);

static void
lambda_fail_at(const char *file, int line, struct gr_err *e,
    enum gr_code code, enum prov_op op, const char *subj, const char *fmt,
    ...)
{
	va_list	 ap;
	char	*what, *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	what = what_str(op, subj);
	gr_err_set_at(e, file, line, code, "%s: %s", what, detail);
	e->http_status = 0;
	e->retry_after_ms = -1;
	free(what);
	free(detail);
}

/*
 * A provider's sentence as part of ours: one line, the first letter
 * lowered when the second is lower case too ("Not enough..." but not
 * "API key..."), no trailing period.
 */
static void
add_sentence(struct buf *b, const char *s)
{
	size_t	 start = b->len, n;

	for (; *s != '\0'; s++)
		buf_addc(b, (unsigned char)*s < 0x20 ? ' ' : *s);
	n = b->len;
	while (n > start && (b->s[n - 1] == '.' || b->s[n - 1] == ' '))
		n--;
	b->len = n;
	if (b->s != NULL)
		b->s[n] = '\0';
	if (n > start + 1 && isupper((unsigned char)b->s[start]) &&
	    islower((unsigned char)b->s[start + 1]))
		b->s[start] = (char)tolower((unsigned char)b->s[start]);
}

/* --- errors: Lambda's codes onto the taxonomy ---------------------------- */

static const struct {
	const char	*code;
	enum gr_code	 gr;
	const char	*hint;		/* when the reply gives no suggestion */
} lambda_codes[] = {
	{ "global/invalid-api-key", GR_E_AUTH, NULL },
	{ "global/account-inactive", GR_E_AUTH,
	  "the Lambda account is inactive; check it in the Lambda dashboard" },
	{ "global/invalid-address", GR_E_AUTH,
	  "fix the account's billing address in the Lambda dashboard" },
	{ "global/object-does-not-exist", GR_E_NOT_FOUND, NULL },
	{ "global/invalid-parameters", GR_E_INVALID_SPEC, NULL },
	{ "instance-operations/launch/insufficient-capacity", GR_E_CAPACITY,
	  "try another region or instance type later, or add a provider" },
	{ "global/quota-exceeded", GR_E_QUOTA_EXCEEDED,
	  "ask Lambda support to raise the account's quota" },
	{ "instance-operations/launch/file-system-in-wrong-region",
	  GR_E_INVALID_SPEC, "file_system_names must be in the launch "
	  "region; limit the group's regions to theirs" },
	{ "instance-operations/launch/file-systems-not-supported",
	  GR_E_INVALID_SPEC, "remove file_system_names for this region" },
	{ "global/duplicate", GR_E_INVALID_SPEC, NULL },
	{ "filesystems/filesystem-in-use", GR_E_INVALID_SPEC, NULL },
	{ "ssh-keys/key-in-use", GR_E_INVALID_SPEC, NULL },
	{ "global/internal-error", GR_E_TRANSIENT, NULL },
	{ "global/unknown", GR_E_TRANSIENT, NULL },
};

/*
 * Turn a reply with status >= 300 (or none) into e.  mutating: the
 * request may have changed something (launch, terminate), which decides
 * outcome_unknown on server errors.
 */
static void
reply_error(struct provider *p, enum prov_op op, const char *subj,
    const struct http_resp *r, bool mutating, struct gr_err *e)
{
	json_t		*root, *err;
	const char	*code = NULL, *msg = NULL, *sugg = NULL, *hint = NULL;
	char		*what = what_str(op, subj);
	struct buf	 m = BUF_INIT, h = BUF_INIT;
	enum gr_code	 gc;
	bool		 known = false, unknown, has_sugg;
	size_t		 i;

	/* the generic mapping first: status, Retry-After, outcome */
	(void)http_classify(what, r, e);
	gc = e->code;
	unknown = e->outcome_unknown;
	root = r->body != NULL ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	err = json_object_get(root, "error");
	if (json_is_object(err)) {
		code = jstr(err, "code");
		msg = jstr(err, "message");
		sugg = jstr(err, "suggestion");
	}
	if (code != NULL && r->status != 429) {
		for (i = 0; i < nitems(lambda_codes); i++) {
			if (strcmp(code, lambda_codes[i].code) != 0)
				continue;
			gc = lambda_codes[i].gr;
			hint = lambda_codes[i].hint;
			known = true;
			break;
		}
		if (op == PROV_OP_SPAWN && gc == GR_E_NOT_FOUND) {
			/* a launch names no instance: what does not exist is
			 * the SSH key or a file system of the config */
			gc = GR_E_CONFIG;
			hint = "check ssh_key_names and file_system_names "
			    "against the Lambda account";
		}
		if (!known && str_has_prefix(code, "provider/")) {
			gc = GR_E_TRANSIENT;	/* upstream of Lambda */
			known = true;
		}
		if (known && gc == GR_E_TRANSIENT)
			unknown = mutating && r->status != 503 &&
			    r->status != 429;
		else if (known)
			unknown = false;	/* a definite refusal */
	}
	if (code == NULL) {
		/* not Lambda's shape (a gateway, a plain 429): keep
		 * http_classify's message, which quotes the body */
		buf_release(&m);
		free(what);
		json_decref(root);
		e->outcome_unknown = unknown && mutating;
		if (gc == GR_E_RATE_LIMIT && e->hint[0] == '\0')
			gr_err_hint(e, "Lambda allows about 1 request/s and 1 "
			    "launch per 12 s; raise min_interval_ms or "
			    "launch_interval_ms if this repeats");
		return;
	}
	buf_addf(&m, "%s: ", what);
	if (msg != NULL && *msg != '\0')
		add_sentence(&m, msg);
	else
		buf_addf(&m, "HTTP %ld", r->status);
	buf_addf(&m, " (%s)", code);
	has_sugg = sugg != NULL && *sugg != '\0';
	if (gc == GR_E_CONFIG) {
		buf_adds(&h, hint);	/* ours: the reply names no option */
	} else if (gc == GR_E_AUTH &&
	    strcmp(code, "global/invalid-api-key") == 0) {
		buf_addf(&h, "check the API key from %s", p->cred_source !=
		    NULL ? p->cred_source : "the configured source");
		if (has_sugg) {
			buf_adds(&h, "; ");
			add_sentence(&h, sugg);
		}
	} else if (gc == GR_E_AUTH) {
		if (has_sugg)
			add_sentence(&h, sugg);
		else if (hint != NULL)
			buf_adds(&h, hint);
		buf_addf(&h, "%sthe key came from %s", h.len > 0 ? "; " : "",
		    p->cred_source != NULL ? p->cred_source : "the config");
	} else if (gc == GR_E_RATE_LIMIT) {
		if (r->retry_after_ms >= 0)
			buf_addf(&h, "Lambda asks to retry after %" PRId64
			    " ms", r->retry_after_ms);
		else if (has_sugg)
			add_sentence(&h, sugg);
		else
			buf_adds(&h, "Lambda allows about 1 request/s and 1 "
			    "launch per 12 s");
	} else if (has_sugg)
		add_sentence(&h, sugg);
	else if (hint != NULL)
		buf_adds(&h, hint);
	gr_err_set(e, gc, "%s", buf_str(&m));
	if (h.len > 0)
		gr_err_hint(e, "%s", buf_str(&h));
	e->http_status = (int)r->status;
	e->retry_after_ms = r->retry_after_ms;
	e->outcome_unknown = unknown && mutating;
	buf_release(&m);
	buf_release(&h);
	free(what);
	json_decref(root);
}

/*
 * One request.  On a 2xx reply with {"data": ...}: 0, *root owned by the
 * caller (json_decref) and *data borrowed from it.  Otherwise -1 with e
 * set; a transport failure keeps the HTTP layer's outcome_unknown, and a
 * mutating request whose 2xx reply cannot be read is outcome_unknown too.
 */
static int
lambda_call(struct provider *p, enum prov_op op, const char *subj,
    const char *method, const char *path, json_t *body, bool mutating,
    json_t **root, json_t **data, struct gr_err *e)
{
	struct lambda	*l = p->priv;
	struct http_req	 req;
	struct http_resp resp;
	char		*text = NULL, *what;
	int		 rc = -1;

	*root = NULL;
	*data = NULL;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL)
			BUG("lambda: cannot encode a request body");
		req.body = text;
		req.body_len = strlen(text);
	}
	if (http_do(l->http, &req, &resp, e) == -1) {
		what = what_str(op, subj);
		gr_err_prefix(e, "%s", what);
		free(what);
		if (!mutating)
			e->outcome_unknown = false;	/* a read acts on nothing */
		goto out;
	}
	if (resp.status < 200 || resp.status >= 300) {
		reply_error(p, op, subj, &resp, mutating, e);
		goto out;
	}
	*root = json_loadb(resp.body, resp.len, 0, NULL);
	*data = json_object_get(*root, "data");
	if (*data == NULL) {
		lambda_fail(e, GR_E_TRANSIENT, op, subj, "%s %s: HTTP %ld "
		    "with a reply that is not Lambda's {\"data\": ...}%s",
		    method, path, resp.status, mutating ? " (the request may "
		    "have been acted on)" : "");
		e->http_status = (int)resp.status;
		e->outcome_unknown = mutating;
		json_decref(*root);
		*root = NULL;
		goto out;
	}
	rc = 0;
out:
	http_resp_release(&resp);
	free(text);
	return rc;
}

/* --- instances ----------------------------------------------------------- */

static void
map_status(const char *status, struct instance *in)
{
	if (strcmp(status, "booting") == 0) {
		in->state = INST_PENDING;
		in->billing = true;
	} else if (strcmp(status, "active") == 0 ||
	    strcmp(status, "unhealthy") == 0) {
		in->state = INST_RUNNING;
		in->billing = true;
	} else if (strcmp(status, "terminating") == 0) {
		in->state = INST_STOPPING;
		in->billing = false;
	} else if (strcmp(status, "terminated") == 0 ||
	    strcmp(status, "preempted") == 0) {
		in->state = INST_TERMINATED;
		in->billing = false;
	} else {
		/* a word we do not know: assume it runs and bills */
		in->state = INST_RUNNING;
		in->billing = true;
	}
}

/* Fill in from an Instance object; -1 when it has no id. */
static int
inst_from_json(const json_t *o, struct instance *in)
{
	const json_t		*it;
	const struct gpu_model	*m;
	const char		*id, *name, *status, *type, *ip, *region;
	int			 count = 0;
	money_t			 price;

	memset(in, 0, sizeof(*in));
	id = jstr(o, "id");
	if (id == NULL || *id == '\0')
		return -1;
	in->id = xstrdup(id);
	name = jstr(o, "name");
	if (name != NULL && *name != '\0')
		in->label = xstrdup(name);
	status = jstr(o, "status");
	in->status = xstrdup(status != NULL ? status : "unknown");
	map_status(in->status, in);
	it = json_object_get(o, "instance_type");
	type = jstr(it, "name");
	m = type_model(type, &count);
	if (m != NULL)
		in->gpu = xstrdup(m->name);
	else if (type != NULL)
		in->gpu = xstrdup(type);
	if (count == 0 && json_is_integer(json_object_get(json_object_get(it,
	    "specs"), "gpus")))
		count = (int)json_integer_value(json_object_get(
		    json_object_get(it, "specs"), "gpus"));
	in->gpu_count = count;
	price = json_cents(json_object_get(it, "price_cents_per_hour"));
	in->price = price > 0 ? price : 0;
	region = jstr(json_object_get(o, "region"), "name");
	if (region != NULL)
		in->region = xstrdup(region);
	ip = jstr(o, "ip");
	if (ip != NULL && *ip != '\0')
		in->ssh_host = xstrdup(ip);
	in->ssh_port = LAMBDA_SSH_PORT;
	in->ssh_user = xstrdup(LAMBDA_SSH_USER);
	return 0;
}

static int
lambda_list(struct provider *p, struct instance_list *out, struct gr_err *e)
{
	json_t		*root, *data, *o;
	struct instance	 in;
	size_t		 i;

	if (lambda_call(p, PROV_OP_LIST, NULL, "GET", PATH_INSTANCES, NULL,
	    false, &root, &data, e) == -1)
		return -1;
	if (!json_is_array(data)) {
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_LIST, NULL, "GET %s: "
		    "\"data\" is not a list", PATH_INSTANCES);
		json_decref(root);
		return -1;
	}
	json_array_foreach(data, i, o) {
		if (inst_from_json(o, &in) == -1) {
			/* never skip a row: it may be a billing machine */
			lambda_fail(e, GR_E_TRANSIENT, PROV_OP_LIST, NULL,
			    "GET %s: instance #%zu has no id", PATH_INSTANCES,
			    i);
			instance_release(&in);
			json_decref(root);
			return -1;
		}
		if (strcmp(in.status, "terminated") == 0) {
			instance_release(&in);	/* gone */
			continue;
		}
		*instance_list_add(out) = in;
	}
	json_decref(root);
	return 0;
}

static int
lambda_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	json_t	*root, *data;
	char	*path;
	int	 rc;

	if (!id_ok(id)) {
		lambda_fail(e, GR_E_NOT_FOUND, PROV_OP_GET, id, "not a Lambda "
		    "instance id");
		return -1;
	}
	path = xasprintf("%s/%s", PATH_INSTANCES, id);
	rc = lambda_call(p, PROV_OP_GET, id, "GET", path, NULL, false, &root,
	    &data, e);
	free(path);
	if (rc == -1)
		return -1;
	if (inst_from_json(data, out) == -1) {
		instance_release(out);
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_GET, id, "the reply "
		    "holds no instance");
		json_decref(root);
		return -1;
	}
	json_decref(root);
	return 0;
}

static int
lambda_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	json_t		*root, *data, *body, *arr, *o;
	const char	*st = NULL;
	size_t		 i;
	bool		 found = false;
	int		 rc;

	if (!id_ok(id)) {
		lambda_fail(e, GR_E_NOT_FOUND, PROV_OP_TERMINATE, id, "not a "
		    "Lambda instance id");
		return -1;
	}
	body = json_pack("{s:[s]}", "instance_ids", id);
	if (body == NULL)
		BUG("lambda: json_pack");
	log_debug("lambda: terminating %s", id);
	rc = lambda_call(p, PROV_OP_TERMINATE, id, "POST", PATH_TERMINATE,
	    body, true, &root, &data, e);
	json_decref(body);
	if (rc == -1)
		return -1;
	arr = json_object_get(data, "terminated_instances");
	json_array_foreach(arr, i, o) {
		if (jstr(o, "id") != NULL && strcmp(jstr(o, "id"), id) == 0) {
			found = true;
			st = jstr(o, "status");
			break;
		}
	}
	if (!found) {
		/* not confirmed: never report a machine stopped that may
		 * still bill; terminate is idempotent, so asking again is
		 * safe */
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_TERMINATE, id, "the "
		    "reply does not list the instance as terminated");
		json_decref(root);
		return -1;
	}
	log_debug("lambda: %s is %s", id, st != NULL ? st : "(no status)");
	json_decref(root);
	return 0;
}

/* --- offers and spawn ---------------------------------------------------- */

/* The catalog entry a request names; -1 with INVALID_SPEC. */
static int
req_model(enum prov_op op, const char *subj, const struct gpu_req *g,
    const struct gpu_model **mp, struct gr_err *e)
{
	const char	*names[64], *s;
	size_t		 i, n = 0;

	*mp = catalog_find(g->type);
	if (*mp != NULL)
		return 0;
	lambda_fail(e, GR_E_INVALID_SPEC, op, subj, "unknown gpu type '%s'",
	    g->type);
	for (i = 0; i < catalog_count() && n < nitems(names); i++)
		names[n++] = catalog_at(i)->name;
	s = str_suggest(g->type, names, n);
	if (s != NULL)
		gr_err_hint(e, "did you mean '%s'?", s);
	return -1;
}

/* Does an instance type (with its catalog entry) fit the request? */
static bool
type_fits(const struct gpu_req *g, const struct gpu_model *m, int count)
{
	if (g == NULL || g->type == NULL)
		return true;
	if (m == NULL || strcmp(m->name, g->type) != 0)
		return false;
	if (count != g->count)
		return false;
	return g->min_vram_gb <= m->vram_gb;
}

static void
offer_fill(struct offer *o, const char *type, const char *region,
    const struct gpu_model *m, int count, money_t price)
{
	o->id = region != NULL ? xasprintf("%s@%s", type, region) :
	    xstrdup(type);
	o->gpu = xstrdup(m != NULL ? m->name : type);
	o->gpu_count = count;
	o->vram_gb = m != NULL ? m->vram_gb : 0;
	o->price = price;
	o->region = region != NULL ? xstrdup(region) : NULL;
	o->available = region != NULL ? 1 : 0;
	o->spot = false;
}

static int
lambda_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	const struct gpu_model	*want = NULL, *m;
	json_t			*root, *data, *v, *regs, *rg;
	const char		*type, *region, *subj;
	money_t			 price;
	size_t			 i, nreg;
	int			 count;

	subj = g != NULL ? g->type : NULL;
	if (g != NULL && g->type != NULL) {
		if (req_model(PROV_OP_OFFERS, subj, g, &want, e) == -1)
			return -1;
		if (want->lambda == NULL || g->count < 1)
			return 0;	/* Lambda rents no such machine */
	}
	if (lambda_call(p, PROV_OP_OFFERS, subj, "GET", PATH_TYPES, NULL,
	    false, &root, &data, e) == -1)
		return -1;
	if (!json_is_object(data)) {
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_OFFERS, subj, "GET %s: "
		    "\"data\" is not an object keyed by type name",
		    PATH_TYPES);
		json_decref(root);
		return -1;
	}
	json_object_foreach(data, type, v) {
		m = type_model(type, &count);
		if (!type_fits(g, m, count))
			continue;
		price = json_cents(json_object_get(json_object_get(v,
		    "instance_type"), "price_cents_per_hour"));
		if (price < 0) {
			log_debug("lambda: instance type %s has no price; "
			    "left out", type);
			continue;
		}
		if (count == 0 && json_is_integer(json_object_get(
		    json_object_get(json_object_get(v, "instance_type"),
		    "specs"), "gpus")))
			count = (int)json_integer_value(json_object_get(
			    json_object_get(json_object_get(v,
			    "instance_type"), "specs"), "gpus"));
		regs = json_object_get(v, "regions_with_capacity_available");
		nreg = 0;
		json_array_foreach(regs, i, rg) {
			region = jstr(rg, "name");
			if (region == NULL || *region == '\0')
				continue;
			offer_fill(offer_list_add(out), type, region, m, count,
			    price);
			nreg++;
		}
		if (nreg == 0)
			offer_fill(offer_list_add(out), type, NULL, m, count,
			    price);
	}
	json_decref(root);
	return 0;
}

/*
 * Where to launch a type: the region of the chosen offer, or else the
 * first region (by name) with room that the request allows, from a fresh
 * look at the instance types.  Sets *region (owned) and *price.
 */
static int
spawn_target(struct provider *p, const struct spawn_req *req,
    const char *subj, const char *type, char **region, money_t *price,
    struct gr_err *e)
{
	const struct offer	*o = req->offer;
	json_t			*root, *data, *v, *regs, *rg;
	const char		*at, *name, *best = NULL;
	size_t			 i, n;
	bool			 any = false;

	*region = NULL;
	if (o != NULL) {
		at = o->id != NULL ? strchr(o->id, '@') : NULL;
		n = at != NULL ? (size_t)(at - o->id) : o->id != NULL ?
		    strlen(o->id) : 0;
		if (n != strlen(type) || strncasecmp(o->id, type, n) != 0) {
			lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj,
			    "offer '%s' is not a %s offer", o->id != NULL ?
			    o->id : "", type);
			return -1;
		}
		if (at == NULL || at[1] == '\0') {
			lambda_fail(e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "no "
			    "capacity: %s has room in no region", type);
			gr_err_hint(e, "run again later, or add a provider");
			return -1;
		}
		if (!region_allowed(req, at + 1)) {
			lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj,
			    "offer '%s' is outside the group's regions", o->id);
			return -1;
		}
		*region = xstrdup(at + 1);
		*price = o->price;
		return 0;
	}
	if (lambda_call(p, PROV_OP_SPAWN, subj, "GET", PATH_TYPES, NULL,
	    false, &root, &data, e) == -1)
		return -1;
	v = json_object_get(data, type);
	if (v == NULL) {
		lambda_fail(e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "Lambda "
		    "offers no instance type %s", type);
		gr_err_hint(e, "pick another gpu type or count, or another "
		    "provider");
		json_decref(root);
		return -1;
	}
	*price = json_cents(json_object_get(json_object_get(v,
	    "instance_type"), "price_cents_per_hour"));
	if (*price < 0) {
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_SPAWN, subj, "instance "
		    "type %s has no price", type);
		json_decref(root);
		return -1;
	}
	regs = json_object_get(v, "regions_with_capacity_available");
	json_array_foreach(regs, i, rg) {
		name = jstr(rg, "name");
		if (name == NULL || *name == '\0')
			continue;
		any = true;
		if (!region_allowed(req, name))
			continue;
		if (best == NULL || strcmp(name, best) < 0)
			best = name;
	}
	if (best == NULL) {
		lambda_fail(e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "no "
		    "capacity: %s has room in no %sregion", type, any ?
		    "allowed " : "");
		gr_err_hint(e, any ? "widen the group's regions, run again "
		    "later, or add a provider" : "run again later, or add a "
		    "provider");
		json_decref(root);
		return -1;
	}
	*region = xstrdup(best);
	json_decref(root);
	return 0;
}

/* POST the launch, paced; the caller holds nothing. */
static int
launch(struct provider *p, const char *subj, json_t *body, json_t **root,
    json_t **data, struct gr_err *e)
{
	struct lambda	*l = p->priv;
	int64_t		 now, due;
	int		 rc;

	pthread_mutex_lock(&l->launch_mtx);
	if (l->launch_interval_ms > 0 && l->last_launch_ms != 0) {
		due = l->last_launch_ms + l->launch_interval_ms;
		now = clock_now_ms();
		if (now < due) {
			log_debug("lambda: next launch in %" PRId64 " ms "
			    "(1 per %" PRId64 " ms)", due - now,
			    l->launch_interval_ms);
			clock_sleep_ms(due - now);
		}
	}
	rc = lambda_call(p, PROV_OP_SPAWN, subj, "POST", PATH_LAUNCH, body,
	    true, root, data, e);
	l->last_launch_ms = clock_now_ms();
	pthread_mutex_unlock(&l->launch_mtx);
	return rc;
}

static int
lambda_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	struct lambda		*l = p->priv;
	const struct gpu_model	*m;
	const char		*subj = req->address != NULL ? req->address :
				    req->label;
	json_t			*body = NULL, *root = NULL, *data, *ids, *a;
	char			*type = NULL, *region = NULL;
	char			 m1[32], m2[32];
	money_t			 price = 0;
	size_t			 i;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	if (l->nssh_keys == 0) {
		lambda_fail(e, GR_E_CONFIG, PROV_OP_SPAWN, subj, "no SSH key "
		    "to launch with");
		gr_err_hint(e, "set ssh_key_names under providers: lambda: in "
		    "the config to a key in the Lambda account");
		return -1;
	}
	if (req->label == NULL || *req->label == '\0' ||
	    strlen(req->label) > LAMBDA_NAME_MAX) {
		lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj, "owner "
		    "label '%s' does not fit Lambda's name (1 to %d "
		    "characters)", req->label != NULL ? req->label : "",
		    LAMBDA_NAME_MAX);
		return -1;
	}
	if (req->gpu == NULL || req->gpu->type == NULL) {
		lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj, "no gpu "
		    "type given");
		return -1;
	}
	if (req_model(PROV_OP_SPAWN, subj, req->gpu, &m, e) == -1)
		return -1;
	if (m->lambda == NULL || req->gpu->count < 1) {
		lambda_fail(e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "Lambda "
		    "rents no %s machines", m->name);
		gr_err_hint(e, "use another provider for this group");
		return -1;
	}
	if (req->gpu->min_vram_gb > m->vram_gb) {
		lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj, "%s has "
		    "%d GB of VRAM, fewer than the %d GB asked for", m->name,
		    m->vram_gb, req->gpu->min_vram_gb);
		return -1;
	}
	if (req->bootstrap != NULL &&
	    req->bootstrap_len > LAMBDA_USER_DATA_MAX) {
		lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj, "the "
		    "bootstrap is %zu bytes; Lambda's user_data takes at most "
		    "%d", req->bootstrap_len, LAMBDA_USER_DATA_MAX);
		return -1;
	}
	type = xasprintf("gpu_%dx_%s", req->gpu->count, m->lambda);
	if (spawn_target(p, req, subj, type, &region, &price, e) == -1)
		goto out;
	if (price > req->max_price) {
		lambda_fail(e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "%s costs "
		    "$%s/h, above the max $%s/h", type, money_fmt(price, m1,
		    sizeof(m1)), money_fmt(req->max_price, m2, sizeof(m2)));
		gr_err_hint(e, "raise max_price_per_hour or add a provider");
		goto out;
	}

	body = json_pack("{s:s, s:s, s:s}", "region_name", region,
	    "instance_type_name", type, "name", req->label);
	if (body == NULL)
		BUG("lambda: json_pack");
	a = json_array();
	for (i = 0; i < l->nssh_keys; i++)
		json_array_append_new(a, json_string(l->ssh_keys[i]));
	json_object_set_new(body, "ssh_key_names", a);
	a = json_array();
	for (i = 0; i < l->nfs_names; i++)
		json_array_append_new(a, json_string(l->fs_names[i]));
	json_object_set_new(body, "file_system_names", a);
	if (l->image_family != NULL)
		json_object_set_new(body, "image", json_pack("{s:s}", "family",
		    l->image_family));
	if (req->bootstrap != NULL && req->bootstrap_len > 0) {
		a = json_stringn(req->bootstrap, req->bootstrap_len);
		if (a == NULL) {
			lambda_fail(e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj,
			    "the bootstrap is not UTF-8 text, which Lambda's "
			    "user_data needs");
			goto out;
		}
		json_object_set_new(body, "user_data", a);
	}
	log_debug("lambda: launching %s in %s as %s", type, region,
	    req->label);
	if (launch(p, subj, body, &root, &data, e) == -1)
		goto out;
	ids = json_object_get(data, "instance_ids");
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_string_value(json_array_get(ids, 0)) == NULL) {
		lambda_fail(e, GR_E_TRANSIENT, PROV_OP_SPAWN, subj, "the "
		    "launch reply has no instance id (the request may have "
		    "been acted on)");
		e->outcome_unknown = true;
		goto out;
	}
	if (json_array_size(ids) > 1)
		log_warnx("%s: lambda launched %zu instances for one request; "
		    "the next pass finds the others by label %s", subj,
		    json_array_size(ids), req->label);
	out->id = xstrdup(json_string_value(json_array_get(ids, 0)));
	out->label = xstrdup(req->label);
	out->state = INST_PENDING;
	out->billing = true;	/* Lambda bills from launch; see the top */
	out->price = price;
	out->gpu = xstrdup(m->name);
	out->gpu_count = req->gpu->count;
	out->region = xstrdup(region);
	out->ssh_port = LAMBDA_SSH_PORT;
	out->ssh_user = xstrdup(LAMBDA_SSH_USER);
	out->status = xstrdup("booting");
	out->created_ms = clock_now_ms();
	rc = 0;
out:
	json_decref(root);
	json_decref(body);
	free(type);
	free(region);
	return rc;
}

/* --- life cycle ---------------------------------------------------------- */

static void
lambda_free(struct lambda *l)
{
	if (l == NULL)
		return;
	http_client_free(l->http);
	strv_free(l->ssh_keys, l->nssh_keys);
	strv_free(l->fs_names, l->nfs_names);
	free(l->image_family);
	pthread_mutex_destroy(&l->launch_mtx);
	free(l);
}

static int
lambda_init(struct provider *p, const struct provider_conf *conf,
    struct gr_err *e)
{
	struct lambda	*l;
	struct http_opts opts;
	struct cred	 cred = { NULL, NULL };
	const char	*k, *v, *base = LAMBDA_BASE_URL, *key_file = NULL, *s;
	size_t		 i;
	int64_t		 ms;

	l = xcalloc(1, sizeof(*l));
	if (pthread_mutex_init(&l->launch_mtx, NULL) != 0)
		fatalx("pthread_mutex_init");
	memset(&opts, 0, sizeof(opts));
	opts.min_interval_ms = LAMBDA_MIN_INTERVAL_MS;
	l->launch_interval_ms = LAMBDA_LAUNCH_INTERVAL_MS;
	for (i = 0; i < conf->noptions; i++) {
		k = conf->options[i].key;
		v = conf->options[i].value != NULL ? conf->options[i].value :
		    "";
		if (strcmp(k, "base_url") == 0)
			base = v;
		else if (strcmp(k, "api_key_file") == 0)
			key_file = v;
		else if (strcmp(k, "ssh_key_names") == 0) {
			split_list(v, &l->ssh_keys, &l->nssh_keys);
			if (l->nssh_keys > 1) {
				gr_err_set(e, GR_E_CONFIG, "lambda: option "
				    "ssh_key_names: '%s' names %zu keys; "
				    "Lambda takes exactly one per launch", v,
				    l->nssh_keys);
				gr_err_hint(e, "keep one key name");
				goto fail;
			}
		} else if (strcmp(k, "file_system_names") == 0)
			split_list(v, &l->fs_names, &l->nfs_names);
		else if (strcmp(k, "image_family") == 0) {
			free(l->image_family);
			l->image_family = *v != '\0' ? xstrdup(v) : NULL;
		} else if (strcmp(k, "min_interval_ms") == 0 ||
		    strcmp(k, "launch_interval_ms") == 0) {
			if (!parse_ms(v, &ms)) {
				gr_err_set(e, GR_E_CONFIG, "lambda: option %s: "
				    "'%s' is not a whole number of "
				    "milliseconds from 0 to %d", k, v,
				    LAMBDA_INTERVAL_MAX_MS);
				goto fail;
			}
			if (strcmp(k, "min_interval_ms") == 0)
				opts.min_interval_ms = ms;
			else
				l->launch_interval_ms = ms;
		} else {
			gr_err_set(e, GR_E_CONFIG, "lambda: unknown option "
			    "'%s'", k);
			s = str_suggest(k, option_names, nitems(option_names));
			if (s != NULL)
				gr_err_hint(e, "did you mean '%s'?", s);
			else
				gr_err_hint(e, "the lambda provider knows "
				    "base_url, api_key_file, ssh_key_names, "
				    "file_system_names, image_family, "
				    "min_interval_ms and launch_interval_ms");
			goto fail;
		}
	}
	if (cred_resolve("lambda", key_file, &cred, e) == -1)
		goto fail;
	if (http_client_new("lambda", base, &cred, &opts, &l->http, e) == -1)
		goto fail;
	p->cred_source = xstrdup(cred.source);
	cred_release(&cred);
	p->priv = l;
	return 0;
fail:
	cred_release(&cred);
	lambda_free(l);
	return -1;
}

static void
lambda_fini(struct provider *p)
{
	lambda_free(p->priv);
	p->priv = NULL;
}

/*
 * What `check` and `watch` call: the key works (one list), and the SSH
 * key a launch would name is in the account.
 */
static int
lambda_startup(struct provider *p, struct gr_err *e)
{
	struct lambda		*l = p->priv;
	struct instance_list	 il = { NULL, 0 };
	json_t			*root, *data, *o;
	struct buf		 known = BUF_INIT;
	size_t			 i, j;
	bool			 found;
	int			 rc;

	rc = provider_list(p, &il, e);
	instance_list_release(&il);
	if (rc == -1 || l->nssh_keys == 0)
		return rc;
	if (lambda_call(p, PROV_OP_LIST, NULL, "GET", PATH_SSH_KEYS, NULL,
	    false, &root, &data, e) == -1)
		return -1;
	for (i = 0; i < l->nssh_keys; i++) {
		found = false;
		buf_reset(&known);
		json_array_foreach(data, j, o) {
			const char *n = jstr(o, "name");

			if (n == NULL)
				continue;
			if (strcmp(n, l->ssh_keys[i]) == 0)
				found = true;
			buf_addf(&known, "%s'%s'", known.len > 0 ? ", " : "",
			    n);
		}
		if (!found) {
			gr_err_set(e, GR_E_CONFIG, "lambda: option "
			    "ssh_key_names: no SSH key '%s' in the Lambda "
			    "account", l->ssh_keys[i]);
			if (known.len > 0)
				gr_err_hint(e, "the account has %s",
				    buf_str(&known));
			else
				gr_err_hint(e, "add one in the Lambda "
				    "dashboard (SSH keys) and name it here");
			rc = -1;
			break;
		}
	}
	buf_release(&known);
	json_decref(root);
	return rc;
}

const struct provider_ops lambda_provider_ops = {
	.name = "lambda",
	.caps = PROV_CAP_GPU | PROV_CAP_MULTI_REGION,
	.init = lambda_init,
	.fini = lambda_fini,
	.offers = lambda_offers,
	.spawn = lambda_spawn,
	.terminate = lambda_terminate,
	.list = lambda_list,
	.get = lambda_get,
	.startup = lambda_startup,
};
