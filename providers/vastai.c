/*
 * vastai.c: Vast.ai over its REST API (PROVIDER-APIS.md section 1), through
 * http.c.  Offers come from the bundles search, an instance is rented from
 * one offer (an "ask": one machine) and is then a contract whose number is
 * the instance id.
 *
 * Options (the provider's section of the config; anything else is an error
 * with a "did you mean"):
 *
 *	base_url	default https://console.vast.ai; a simulator is
 *			http://127.0.0.1:PORT/vast
 *	api_key_file	read the key from this file (cred.c's rules), not
 *			from VAST_API_KEY and the other sources
 *	image		the docker image for groups that name none (Vast
 *			needs one); default DEFAULT_IMAGE below
 *	verified_only	"true" (default) or "false": search only machines
 *			Vast has verified
 *	time_scale	divide the client-side pacing (below) by this; for a
 *			simulator run with --time-scale N, give the same N.
 *			Default 1: the real service's intervals
 *
 * Pacing.  Vast enforces a minimum interval between calls per endpoint and
 * key (section 1.4), answering a plain-text 429 without Retry-After.  We
 * keep one HTTP client per endpoint, each paced at that endpoint's interval
 * (http.c counts from the end of the previous call, so the server always
 * sees at least the interval): bundles 6 s (10 a minute), asks 4.5 s, show
 * 2 s, the v1 list 1 s, manage 1 s, destroy 3 s.  Normal use then never
 * earns a 429.  Another program using the same key can still cause one;
 * then the error carries retry_after_ms from the threshold in the 429's
 * body, or the endpoint's interval or penalty (asks: 12 s) when longer,
 * since retrying sooner only extends the penalty.  Reads (offers, a list
 * page, get) wait and retry a 429 twice here; spawn, stop, start and
 * terminate return RATE_LIMIT to the caller.
 *
 * Status and billing (sections 1.8 and 1.11).  Vast bills storage from
 * creation to destroy and the GPU while actual_status is running (or
 * frozen).  The design counts billing from "running", so:
 *
 *	Vast says			state       billing, at
 *	cur_state unloaded		TERMINATED  no
 *	next_state unloaded		STOPPING    yes, dph_total
 *	actual null (provisioning)	PENDING     no (storage is covered
 *	  or loading			            by the reservation at
 *					            max price)
 *	running				RUNNING     yes, dph_total
 *	running, intended stopped	STOPPED     yes, dph_total (the
 *					            GPU bills until it is
 *					            stopped)
 *	frozen				STOPPED     yes, dph_total
 *	stopped, intended running	PENDING     yes, storage rate (a
 *					            start waiting for its
 *					            GPU)
 *	stopped; exited			STOPPED     yes, storage rate
 *	rebooting, unknown, offline,	RUNNING     yes, dph_total (never
 *	  any other word		            assume it stopped
 *					            costing)
 *
 * "Billing" thus means "Vast charges for it now": a stopped instance still
 * bills, at its storage rate (instance.diskHour, else storage_total_cost),
 * so a forgotten stopped instance shows up as money being spent.  price is
 * the rate billed now; while not billing it is dph_total, what it will
 * bill once running.  status is Vast's own words ("stopped, intended
 * running").
 *
 * Other decisions:
 * - A region is the country code of geolocation ("California, US" is
 *   "US"), as Vast's search filters and the fleet files' regions use.
 * - The catalog gives one Vast name to two models ("A100 SXM4" is the 40
 *   and the 80 GB card); gpu_ram picks the nearer one.
 * - The search asks for gpu_ram of at least 90% of the wanted VRAM (the
 *   group's min_vram_gb, else the catalog's figure), in Vast's MB, since
 *   cards report less than their marketing size (a T4 has 15360 MB).
 * - Types Vast does not rent (CPU, or none in the catalog) have no offers;
 *   spawning one is CAPACITY, so the next provider of the group is tried.
 * - A stale offer (404 or 410, no_such_ask, "no longer available") is
 *   CAPACITY, and the caller moves to the next offer.  With no offer given,
 *   spawn searches itself and tries up to three offers.
 * - Interruptible (spot) bids are not implemented: spawn with spot set is
 *   UNSUPPORTED, and the caps do not claim spot.
 * - The list is v1 (GET /api/v1/instances/, keyset pages of 25 by id,
 *   followed to the end); v0 has no paging and is deprecated.
 * - Ids are contract and ask numbers; anything else is refused before a
 *   call (INVALID_SPEC), so a damaged id is never taken as "already gone".
 * - Env names must be shell identifiers: Vast reads keys starting with
 *   '-' as docker flags.  Bodies are never logged (env may hold secrets).
 *
 * All state after init is read-only but the HTTP clients, which lock
 * themselves, so every op may run on several threads at once.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "provider.h"

#define DEFAULT_BASE_URL	"https://console.vast.ai"
#define DEFAULT_IMAGE		"nvidia/cuda:12.4.1-runtime-ubuntu22.04"
#define DEFAULT_DISK_GB		10
#define OFFERS_LIMIT		200	/* cheapest offers asked for */
#define PAGE_LIMIT		25	/* v1 list: the most per page */
#define MAX_PAGES		4000	/* 100,000 instances */
#define ONSTART_MAX		4096	/* onstart + args, section 1.6 */
#define LABEL_MAX		256
#define SPAWN_TRIES		3	/* offers tried when none given */
#define READ_RETRIES		2	/* 429s a read waits out */
#define VRAM_SLACK_PCT		90
#define DETAIL_MAX		200	/* bytes of the server's words */
#define SSH_USER		"root"

enum vast_ep {
	EP_BUNDLES = 0,
	EP_ASKS,
	EP_SHOW,
	EP_LIST,
	EP_MANAGE,
	EP_DESTROY,
	EP__COUNT
};

/* Documented x-rate-limit values (section 1.4), in ms. */
static const struct {
	int64_t		 interval_ms;
	int64_t		 penalty_ms;	/* blocked after a 429 */
} ep_limits[EP__COUNT] = {
	[EP_BUNDLES] =	{ 6000, 0 },
	[EP_ASKS] =	{ 4500, 12000 },
	[EP_SHOW] =	{ 2000, 0 },
	[EP_LIST] =	{ 1000, 0 },
	[EP_MANAGE] =	{ 1000, 0 },
	[EP_DESTROY] =	{ 3000, 0 },
};

static const char *const option_keys[] = {
	"base_url", "api_key_file", "image", "verified_only", "time_scale",
};

struct vast {
	struct http_client *http[EP__COUNT];	/* owned; one per
						   endpoint */
	char		*image;		/* owned; default image */
	bool		 verified_only;
	double		 time_scale;
};

/* --- small helpers ------------------------------------------------------- */

/*
 * Rounding without libm (the library links none): to the nearest whole
 * number, and up, for values in [0, 9e15].
 */
static int64_t
round_pos(double d)
{
	return (int64_t)(d + 0.5);
}

static int64_t
ceil_pos(double d)
{
	int64_t	 i = (int64_t)d;

	return (double)i < d ? i + 1 : i;
}

/* A JSON number, or a string holding one (Vast sends both). */
static bool
jnum(json_t *v, double *out)
{
	const char	*s;
	char		*end;
	double		 d;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		errno = 0;
		d = strtod(s, &end);
		if (end == s || *end != '\0' || errno != 0)
			return false;
	} else
		return false;
	if (!(d >= -1e300 && d <= 1e300))	/* NaN and the infinities */
		return false;
	*out = d;
	return true;
}

/* A non-empty string member, or NULL (borrowed). */
static const char *
jstr(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL && *s != '\0' ? s : NULL;
}

/* A whole, non-negative id (integer, or a string of digits) as text. */
static char *
jid(json_t *v)
{
	const char	*s;
	double		 d;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return xasprintf("%" PRId64, (int64_t)json_integer_value(v));
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (d >= 0 && d < 9e15 && d == (double)(int64_t)d)
			return xasprintf("%" PRId64, (int64_t)d);
		return NULL;
	}
	s = json_string_value(v);
	if (s == NULL || *s == '\0' || strspn(s, "0123456789") != strlen(s))
		return NULL;
	return xstrdup(s);
}

/* Dollars per hour to micro-dollars; nonsense is 0. */
static money_t
to_money(double d)
{
	if (!(d > 0))
		return 0;
	if (d > (double)MONEY_MAX / MONEY_UNIT)
		return MONEY_MAX;
	return (money_t)round_pos(d * 1e6);
}

/* Contract and ask ids are numbers. */
static bool
id_ok(const char *id)
{
	size_t	 n = id != NULL ? strlen(id) : 0;

	return n > 0 && n <= 20 && strspn(id, "0123456789") == n;
}

static bool
env_name_ok(const char *k)
{
	if (k == NULL || !(isalpha((unsigned char)*k) || *k == '_'))
		return false;
	for (; *k != '\0'; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return false;
	return true;
}

/* Percent-encode s for a query string. */
static void
url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			buf_addc(b, (char)c);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[c >> 4]);
			buf_addc(b, hex[c & 15]);
		}
	}
}

/* "California, US" -> "US"; NULL when empty.  Owned. */
static char *
geo_region(const char *geo)
{
	const char	*c, *end;

	if (geo == NULL)
		return NULL;
	c = strrchr(geo, ',');
	c = c != NULL ? c + 1 : geo;
	while (*c == ' ' || *c == '\t')
		c++;
	end = c + strlen(c);
	while (end > c && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end > c ? xstrndup(c, (size_t)(end - c)) : NULL;
}

/* Is region one the request allows (the reconciler's prefix rule)? */
static bool
region_allowed(const struct spawn_req *req, const char *region)
{
	size_t	 i;

	if (req->nregions == 0)
		return true;
	if (region == NULL)
		return false;
	for (i = 0; i < req->nregions; i++)
		if (strcmp(req->regions[i], region) == 0 ||
		    str_has_prefix(region, req->regions[i]))
			return true;
	return false;
}

/*
 * The catalog model of a Vast gpu_name, the one whose VRAM is nearest to
 * gpu_ram (MB) where the name is shared; NULL when unknown.
 */
static const struct gpu_model *
vast_model(const char *name, double ram_mb)
{
	const struct gpu_model	*m, *best = NULL;
	double			 d, bestd = 0;
	size_t			 i;

	if (name == NULL)
		return NULL;
	if (!(ram_mb > 0))
		return catalog_from_provider("vastai", name);
	for (i = 0; i < catalog_count(); i++) {
		m = catalog_at(i);
		if (m->vastai == NULL || strcasecmp(m->vastai, name) != 0)
			continue;
		d = (double)m->vram_gb * 1024.0 - ram_mb;
		if (d < 0)
			d = -d;
		if (best == NULL || d < bestd) {
			best = m;
			bestd = d;
		}
	}
	return best;
}

/* Scale a documented interval by the time_scale option, rounding up. */
static int64_t
scaled_ms(const struct vast *v, int64_t ms)
{
	int64_t	 d = ceil_pos((double)ms / v->time_scale);

	return d < 1 && ms > 0 ? 1 : d;
}

/* --- talking to Vast ----------------------------------------------------- */

/*
 * The server's words: msg, message, detail or error of a JSON object, else
 * the text; on one line, at most DETAIL_MAX bytes, a leading capital
 * lowered when a lowercase letter follows ("Invalid user key").
 */
static void
reply_words(const struct http_resp *r, json_t *j, struct buf *out)
{
	static const char *const keys[] = { "msg", "message", "detail",
		"error" };
	const char	*s = NULL;
	size_t		 i, n, start = out->len;
	bool		 space = false;

	for (i = 0; j != NULL && s == NULL && i < nitems(keys); i++)
		s = jstr(j, keys[i]);
	if (s == NULL && j == NULL && r->body != NULL && r->body[0] != '<')
		s = r->body;	/* plain text; an HTML page says nothing */
	if (s == NULL)
		return;
	n = strlen(s);
	if (n > DETAIL_MAX) {
		n = DETAIL_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char	 c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			continue;
		}
		if (space && out->len > start)
			buf_addc(out, ' ');
		space = false;
		buf_addc(out, (char)c);
	}
	if (n < strlen(s))
		buf_adds(out, "...");
	if (out->len >= start + 2 && isupper((unsigned char)out->s[start]) &&
	    islower((unsigned char)out->s[start + 1]))
		out->s[start] = (char)tolower((unsigned char)out->s[start]);
}

static bool
has_word(const char *hay, const char *needle)
{
	return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* "threshold=4.5" in a 429's text, as ms; -1 when absent. */
static int64_t
threshold_ms(const char *text)
{
	const char	*p = text != NULL ? strstr(text, "threshold=") : NULL;
	char		*end;
	double		 d;

	if (p == NULL)
		return -1;
	p += strlen("threshold=");
	d = strtod(p, &end);
	if (end == p || !(d > 0) || d > 3600)
		return -1;
	return ceil_pos(d * 1000);
}

/*
 * Turn a reply of status >= 300 (or a 2xx that says success: false) into
 * the taxonomy: http_classify first, then Vast's own bodies (section 1.3).
 * what names the action ("spawn 'f/g/1' on vastai").
 */
static void
vast_fail(const struct vast *v, enum vast_ep ep, const char *what,
    const struct http_resp *r, json_t *j, struct gr_err *e)
{
	struct buf	 words = BUF_INIT;
	const char	*code = j != NULL ? jstr(j, "error") : NULL;
	const char	*src = r->key_source != NULL ? r->key_source :
			    "the configured key";
	const char	*text;
	enum gr_code	 c;
	long		 st = r->status;
	bool		 unknown;
	int64_t		 wait;
	char		 hint[sizeof(e->hint)];

	if (http_classify(what, r, e) == 0) {
		/* a 2xx that failed: nothing acted on, as far as we know */
		gr_err_set(e, GR_E_TRANSIENT, "%s", what);
		e->outcome_unknown = false;
	}
	c = e->code;
	unknown = e->outcome_unknown;
	(void)snprintf(hint, sizeof(hint), "%s", e->hint);
	reply_words(r, j, &words);
	text = buf_str(&words);
	if (st == 429 || (code != NULL && strcmp(code,
	    "rate_limit_exceeded") == 0) || has_word(text, "too frequent"))
		c = GR_E_RATE_LIMIT;
	else if ((code != NULL && strcmp(code, "auth_error") == 0) ||
	    has_word(text, "invalid user key") || st == 401 || st == 403)
		c = GR_E_AUTH;
	else if (ep == EP_ASKS && (st == 404 || st == 410 ||
	    (code != NULL && strcmp(code, "no_such_ask") == 0) ||
	    has_word(text, "no_such_ask") ||
	    has_word(text, "no longer available")))
		c = GR_E_CAPACITY;
	else if (st == 402 || (code != NULL &&
	    (strcmp(code, "missing_billing") == 0 ||
	    strcmp(code, "insufficient_credit") == 0 ||
	    strcmp(code, "insufficient_funds") == 0)) ||
	    has_word(text, "insufficient credit") ||
	    has_word(text, "insufficient funds") ||
	    has_word(text, "credit balance") ||
	    has_word(text, "quota"))
		c = GR_E_QUOTA_EXCEEDED;
	else if (st == 404 || st == 410)
		c = GR_E_NOT_FOUND;
	else if (st == 400 || st == 409 || st == 422 || (code != NULL &&
	    (strcmp(code, "invalid_args") == 0 ||
	    strcmp(code, "invalid_price") == 0 ||
	    strcmp(code, "invalid_request") == 0 ||
	    strcmp(code, "label_too_long") == 0 ||
	    strcmp(code, "no_ssh_key_for_vm") == 0)))
		c = GR_E_INVALID_SPEC;

	if (words.len > 0 && code != NULL && strcasestr(text, code) == NULL)
		gr_err_set(e, c, "%s: %s (HTTP %ld, %s)", what, text, st, code);
	else if (words.len > 0)
		gr_err_set(e, c, "%s: %s (HTTP %ld)", what, text, st);
	else
		gr_err_set(e, c, "%s: HTTP %ld", what, st);
	e->http_status = (int)st;
	e->outcome_unknown = unknown && c == GR_E_TRANSIENT;
	if (hint[0] != '\0')
		gr_err_hint(e, "%s", hint);	/* http_classify's: a 3xx */
	switch (c) {
	case GR_E_AUTH:
		if (st == 403)
			gr_err_hint(e, "check the API key in %s and that it "
			    "may do this (a scoped key may lack the "
			    "permission)", src);
		else
			gr_err_hint(e, "check the API key in %s (export "
			    "VAST_API_KEY=... or set api_key_file)", src);
		break;
	case GR_E_RATE_LIMIT:
		wait = threshold_ms(text);
		if (wait < ep_limits[ep].interval_ms)
			wait = ep_limits[ep].interval_ms;
		if (wait < ep_limits[ep].penalty_ms)
			wait = ep_limits[ep].penalty_ms;
		e->retry_after_ms = scaled_ms(v, wait);
		gr_err_hint(e, "vast.ai limits how often each endpoint is "
		    "called; another program may be using this key");
		break;
	case GR_E_QUOTA_EXCEEDED:
		gr_err_hint(e, "check the account's credit and billing at "
		    "https://cloud.vast.ai/billing/");
		break;
	case GR_E_CAPACITY:
		gr_err_hint(e, "the offer was rented by someone else; the "
		    "next offer is tried");
		break;
	default:
		break;
	}
	buf_release(&words);
}

/* A read changes nothing: its failure never leaves an unknown outcome. */
static void
read_not_unknown(struct gr_err *e)
{
	static const char	 phrase[] =
				    " (the request may have been acted on)";
	char			*p = strstr(e->msg, phrase);

	if (p != NULL)
		memmove(p, p + sizeof(phrase) - 1,
		    strlen(p + sizeof(phrase) - 1) + 1);
	e->outcome_unknown = false;
}

/*
 * One call.  On 0, *out is the reply's JSON (new; NULL when the body was
 * empty).  On -1 e is set; a PUT or DELETE keeps the outcome_unknown of
 * http_do and http_classify (a read has no outcome to lose).  A 2xx whose
 * body is not JSON is TRANSIENT, and outcome_unknown for all but a read.
 */
static int
vast_call(struct vast *v, enum vast_ep ep, const char *method,
    const char *path, json_t *body, const char *what, json_t **out,
    struct gr_err *e)
{
	struct http_req		 req;
	struct http_resp	 resp;
	json_error_t		 je;
	json_t			*j = NULL;
	char			*text = NULL;
	int			 tries = 0, rc = -1;
	bool			 read = strcmp(method, "GET") == 0 ||
				    ep == EP_BUNDLES;

	*out = NULL;
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
	for (;;) {
		if (http_do(v->http[ep], &req, &resp, e) == -1) {
			gr_err_prefix(e, "%s", what);
			if (read)
				read_not_unknown(e);
			goto out;
		}
		json_decref(j);
		j = NULL;
		if (resp.len > 0)
			j = json_loadb(resp.body, resp.len, JSON_DECODE_ANY,
			    &je);
		if (resp.status >= 200 && resp.status < 300 &&
		    (!json_is_object(j) ||
		    !json_is_false(json_object_get(j, "success")))) {
			if (j == NULL && resp.len > 0) {
				gr_err_set(e, GR_E_TRANSIENT, "%s: the reply "
				    "is not JSON (HTTP %ld, %zu bytes)", what,
				    resp.status, resp.len);
				e->http_status = (int)resp.status;
				e->outcome_unknown = !read;
				http_resp_release(&resp);
				goto out;
			}
			http_resp_release(&resp);
			*out = j;
			j = NULL;
			rc = 0;
			goto out;
		}
		vast_fail(v, ep, what, &resp, json_is_object(j) ? j : NULL, e);
		http_resp_release(&resp);
		if (read)
			read_not_unknown(e);
		if (e->code != GR_E_RATE_LIMIT || !read ||
		    tries++ >= READ_RETRIES)
			goto out;
		log_debug("%s: rate limited; waiting %" PRId64 " ms", what,
		    e->retry_after_ms);
		clock_sleep_ms(e->retry_after_ms);
	}
out:
	json_decref(j);
	if (text != NULL) {
		/* spawn bodies carry the group's env */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	return rc;
}

/* --- mapping ------------------------------------------------------------- */

/* The hourly storage rate of an instance row. */
static money_t
storage_rate(json_t *row)
{
	double	 d;

	if (jnum(json_object_get(json_object_get(row, "instance"),
	    "diskHour"), &d) || jnum(json_object_get(row,
	    "storage_total_cost"), &d))
		return to_money(d);
	return 0;
}

/* An instance row (list or show) into *in; -1 when it has no id. */
static int
map_instance(json_t *row, struct instance *in)
{
	const char		*actual, *intended, *cur, *next, *s;
	const struct gpu_model	*m;
	struct buf		 st = BUF_INIT;
	double			 d, ram = 0;
	money_t			 dph = 0;
	char			*id;
	bool			 settled;

	memset(in, 0, sizeof(*in));
	id = jid(json_object_get(row, "id"));
	if (id == NULL)
		return -1;
	in->id = id;
	if ((s = jstr(row, "label")) != NULL)
		in->label = xstrdup(s);
	if (jnum(json_object_get(row, "dph_total"), &d))
		dph = to_money(d);
	actual = jstr(row, "actual_status");
	intended = jstr(row, "intended_status");
	cur = jstr(row, "cur_state");
	next = jstr(row, "next_state");

	in->price = dph;
	settled = true;
	if (cur != NULL && strcmp(cur, "unloaded") == 0) {
		in->state = INST_TERMINATED;
		buf_adds(&st, "destroyed");
	} else if (next != NULL && strcmp(next, "unloaded") == 0) {
		in->state = INST_STOPPING;
		in->billing = true;
		buf_adds(&st, "destroying");
	} else if (actual == NULL || strcmp(actual, "loading") == 0 ||
	    strcmp(actual, "provisioning") == 0 ||
	    strcmp(actual, "created") == 0 ||
	    strcmp(actual, "scheduling") == 0) {
		in->state = INST_PENDING;
		buf_adds(&st, actual != NULL ? actual : "provisioning");
		settled = false;	/* on its way to intended_status */
	} else if (strcmp(actual, "running") == 0) {
		in->state = intended != NULL && strcmp(intended,
		    "stopped") == 0 ? INST_STOPPED : INST_RUNNING;
		in->billing = true;
		buf_adds(&st, actual);
	} else if (strcmp(actual, "frozen") == 0) {
		in->state = INST_STOPPED;
		in->billing = true;
		buf_adds(&st, actual);
	} else if (strcmp(actual, "stopped") == 0 ||
	    strcmp(actual, "exited") == 0) {
		in->state = strcmp(actual, "stopped") == 0 &&
		    intended != NULL && strcmp(intended, "running") == 0 ?
		    INST_PENDING : INST_STOPPED;
		in->billing = true;
		in->price = storage_rate(row);
		buf_adds(&st, actual);
	} else {
		/* rebooting, unknown, offline, or a word we do not know */
		in->state = INST_RUNNING;
		in->billing = true;
		buf_adds(&st, actual);
	}
	if (settled && intended != NULL && actual != NULL &&
	    strcmp(intended, actual) != 0 && in->state != INST_TERMINATED)
		buf_addf(&st, ", intended %s", intended);
	in->status = buf_detach(&st);

	(void)jnum(json_object_get(row, "gpu_ram"), &ram);
	s = jstr(row, "gpu_name");
	m = vast_model(s, ram);
	if (m != NULL)
		in->gpu = xstrdup(m->name);
	else if (s != NULL)
		in->gpu = xstrdup(s);
	if (jnum(json_object_get(row, "num_gpus"), &d) && d >= 0 && d < 1e6)
		in->gpu_count = (int)d;
	in->region = geo_region(jstr(row, "geolocation"));
	s = jstr(row, "ssh_host");
	if (s != NULL && jnum(json_object_get(row, "ssh_port"), &d) &&
	    d > 0 && d < 65536) {
		in->ssh_host = xstrdup(s);
		in->ssh_port = (int)d;
		in->ssh_user = xstrdup(SSH_USER);
	}
	if (jnum(json_object_get(row, "start_date"), &d) && d > 0 &&
	    d < 1e11)
		in->created_ms = round_pos(d * 1000);
	return 0;
}

/* --- offers -------------------------------------------------------------- */

/* The search body for a request (new). */
static json_t *
offers_query(const struct vast *v, const struct gpu_model *m,
    const struct gpu_req *g)
{
	json_t	*q;
	int	 vram = g->min_vram_gb > 0 ? g->min_vram_gb : m->vram_gb;

	q = json_pack("{s:{s:s}, s:{s:i}, s:{s:i}, s:{s:b}, s:{s:b},"
	    " s:{s:b}, s:[[s, s]], s:s, s:i}",
	    "gpu_name", "eq", m->vastai,
	    "num_gpus", "eq", g->count > 0 ? g->count : 1,
	    "gpu_ram", "gte", vram * 1000 * VRAM_SLACK_PCT / 100,
	    "rentable", "eq", 1,
	    "rented", "eq", 0,
	    "external", "eq", 0,
	    "order", "dph_total", "asc",
	    "type", "on-demand",
	    "limit", OFFERS_LIMIT);
	if (q == NULL)
		BUG("offers_query: json_pack");
	if (v->verified_only)
		json_object_set_new(q, "verified", json_pack("{s:b}", "eq", 1));
	return q;
}

/* One offer row into *o; false when it does not fit the request. */
static bool
map_offer(json_t *row, const struct gpu_model *want, int count,
    struct offer *o)
{
	const struct gpu_model	*m;
	const char		*name = jstr(row, "gpu_name");
	double			 d, ram = 0;
	char			*id;

	memset(o, 0, sizeof(*o));
	if (name == NULL || strcasecmp(name, want->vastai) != 0)
		return false;
	if (json_is_true(json_object_get(row, "rented")) ||
	    json_is_false(json_object_get(row, "rentable")))
		return false;
	if (!jnum(json_object_get(row, "num_gpus"), &d) || (int)d != count)
		return false;
	if (!jnum(json_object_get(row, "dph_total"), &d) || !(d > 0))
		return false;
	id = jid(json_object_get(row, "id"));
	if (id == NULL)
		return false;
	o->id = id;
	o->price = to_money(d);
	(void)jnum(json_object_get(row, "gpu_ram"), &ram);
	m = vast_model(name, ram);
	o->gpu = xstrdup(m != NULL ? m->name : want->name);
	o->gpu_count = count;
	o->vram_gb = ram > 0 && ram < 1e9 ? (int)round_pos(ram / 1024.0) :
	    (m != NULL ? m->vram_gb : 0);
	o->region = geo_region(jstr(row, "geolocation"));
	o->available = 1;	/* an ask is one machine */
	o->spot = false;
	return true;
}

/*
 * The model a request names, or NULL when Vast rents no such thing (*out
 * stays empty).  -1 for a name not in the catalog.
 */
static int
want_model(struct provider *p, const char *op, const struct gpu_req *g,
    const struct gpu_model **out, struct gr_err *e)
{
	const struct gpu_model	*m;

	*out = NULL;
	if (g == NULL || g->type == NULL) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s on %s: no gpu type given",
		    op, p->name);
		return -1;
	}
	m = catalog_find(g->type);
	if (m == NULL) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s on %s: unknown gpu type "
		    "'%s'", op, p->name, g->type);
		gr_err_hint(e, "see the GPU names in the README");
		return -1;
	}
	if (m->vastai != NULL && strcmp(m->name, GPU_CPU) != 0)
		*out = m;
	return 0;
}

static int
vast_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	struct vast		*v = p->priv;
	const struct gpu_model	*m;
	json_t			*q, *reply = NULL, *rows, *row;
	struct offer		 o;
	char			*what;
	size_t			 i;
	int			 rc = -1, count;

	memset(out, 0, sizeof(*out));
	if (want_model(p, "offers", g, &m, e) == -1)
		return -1;
	if (m == NULL)
		return 0;	/* nothing of the kind for rent here */
	count = g->count > 0 ? g->count : 1;
	what = xasprintf("offers of %s on %s", g->type, p->name);
	q = offers_query(v, m, g);
	if (vast_call(v, EP_BUNDLES, "POST", "/api/v0/bundles/", q, what,
	    &reply, e) == -1)
		goto out;
	rows = json_object_get(reply, "offers");
	if (!json_is_array(rows)) {
		gr_err_set(e, GR_E_TRANSIENT, "%s: the reply has no offers "
		    "list", what);
		goto out;
	}
	json_array_foreach(rows, i, row) {
		if (!map_offer(row, m, count, &o))
			continue;
		*offer_list_add(out) = o;
	}
	offer_list_sort(out);
	log_debug("%s: %zu offers of %zu rows", what, out->n,
	    json_array_size(rows));
	rc = 0;
out:
	if (rc == -1)
		offer_list_release(out);
	json_decref(q);
	json_decref(reply);
	free(what);
	return rc;
}

/* --- spawn --------------------------------------------------------------- */

/* The create body (new). */
static json_t *
spawn_body(const struct vast *v, const struct spawn_req *req)
{
	json_t	*b, *env;
	size_t	 i;

	env = json_object();
	for (i = 0; i < req->nenv; i++)
		json_object_set_new(env, req->env[i].key,
		    json_string(req->env[i].value != NULL ?
		    req->env[i].value : ""));
	b = json_pack("{s:s, s:s, s:f, s:o, s:o, s:o, s:n, s:s, s:s, s:b,"
	    " s:b}",
	    "client_id", "me",
	    "image", req->image != NULL && *req->image != '\0' ?
	    req->image : v->image,
	    "disk", (double)(req->disk_gb > 0 ? req->disk_gb :
	    DEFAULT_DISK_GB),
	    "label", req->label != NULL ? json_string(req->label) :
	    json_null(),
	    "onstart", req->bootstrap != NULL ?
	    json_stringn(req->bootstrap, req->bootstrap_len) : json_null(),
	    "env", env,
	    "price",
	    "runtype", "ssh_proxy",
	    "target_state", "running",
	    "cancel_unavail", 1,
	    "force", 0);
	if (b == NULL)
		BUG("spawn_body: json_pack");
	return b;
}

/* Valid UTF-8 (what a JSON string can carry)? */
static bool
utf8_ok(const char *s, size_t len)
{
	json_t	*j = json_stringn(s, len);

	json_decref(j);
	return j != NULL;
}

/* What can be refused before any call. */
static int
spawn_check(struct provider *p, const struct spawn_req *req,
    const char *what, struct gr_err *e)
{
	size_t	 i;

	if (req->spot) {
		gr_err_set(e, GR_E_UNSUPPORTED, "%s: interruptible (spot) "
		    "instances are not supported on %s", what, p->name);
		gr_err_hint(e, "set spot: false for this group, or use a "
		    "provider with spot");
		return -1;
	}
	if (req->label != NULL && strlen(req->label) > LABEL_MAX) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s: label is %zu bytes; "
		    "vast takes at most %d", what, strlen(req->label),
		    LABEL_MAX);
		return -1;
	}
	if (req->bootstrap != NULL && req->bootstrap_len > ONSTART_MAX) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s: the bootstrap is %zu "
		    "bytes; vast's onstart holds at most %d", what,
		    req->bootstrap_len, ONSTART_MAX);
		gr_err_hint(e, "fetch the rest from the script (curl ... | "
		    "sh) or bake it into the image");
		return -1;
	}
	if (req->bootstrap != NULL &&
	    (memchr(req->bootstrap, '\0', req->bootstrap_len) != NULL ||
	    !utf8_ok(req->bootstrap, req->bootstrap_len))) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s: the bootstrap is not "
		    "UTF-8 text", what);
		return -1;
	}
	if ((req->image != NULL &&
	    !utf8_ok(req->image, strlen(req->image))) ||
	    (req->label != NULL && !utf8_ok(req->label, strlen(req->label)))) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s: the image or label is "
		    "not UTF-8 text", what);
		return -1;
	}
	for (i = 0; i < req->nenv; i++) {
		if (!env_name_ok(req->env[i].key)) {
			gr_err_set(e, GR_E_INVALID_SPEC, "%s: env name '%s' "
			    "is not a shell identifier", what,
			    req->env[i].key);
			gr_err_hint(e, "use letters, digits and '_' (vast "
			    "reads names starting with '-' as docker "
			    "flags)");
			return -1;
		}
		if (req->env[i].value != NULL && !utf8_ok(req->env[i].value,
		    strlen(req->env[i].value))) {
			gr_err_set(e, GR_E_INVALID_SPEC, "%s: the value of env "
			    "'%s' is not UTF-8 text", what, req->env[i].key);
			return -1;
		}
	}
	return 0;
}

/* Rent one offer.  -1 with CAPACITY when it went stale. */
static int
rent(struct provider *p, const struct spawn_req *req, const struct offer *o,
    const char *what, struct instance *out, struct gr_err *e)
{
	struct vast	*v = p->priv;
	json_t		*body, *reply = NULL;
	char		*path, *id, mb1[32], mb2[32];
	int		 rc = -1;

	if (!id_ok(o->id)) {
		gr_err_set(e, GR_E_INVALID_SPEC, "%s: offer '%s' is not a vast "
		    "ask id", what, o->id != NULL ? o->id : "");
		return -1;
	}
	if (o->price > req->max_price) {
		gr_err_set(e, GR_E_CAPACITY, "%s: no offer under $%s/h (offer "
		    "%s costs $%s/h)", what, money_fmt(req->max_price, mb1,
		    sizeof(mb1)), o->id, money_fmt(o->price, mb2,
		    sizeof(mb2)));
		gr_err_hint(e, "raise max_price_per_hour or add a provider");
		return -1;
	}
	if (!region_allowed(req, o->region)) {
		gr_err_set(e, GR_E_CAPACITY, "%s: offer %s is in region '%s', "
		    "not one the group allows", what, o->id,
		    o->region != NULL ? o->region : "?");
		return -1;
	}
	body = spawn_body(v, req);
	path = xasprintf("/api/v0/asks/%s/", o->id);
	log_debug("%s: renting ask %s at %s/h", what, o->id,
	    money_fmt(o->price, mb1, sizeof(mb1)));
	if (vast_call(v, EP_ASKS, "PUT", path, body, what, &reply, e) == -1)
		goto out;
	id = jid(json_object_get(reply, "new_contract"));
	if (id == NULL) {
		/* acted on or not: only a list by label can tell */
		gr_err_set(e, GR_E_TRANSIENT, "%s: the reply names no "
		    "new_contract", what);
		e->outcome_unknown = true;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->label = req->label != NULL ? xstrdup(req->label) : NULL;
	out->state = INST_PENDING;
	out->billing = false;	/* loading is not yet billing */
	out->price = o->price;
	out->gpu = xstrdup(o->gpu != NULL ? o->gpu : req->gpu->type);
	out->gpu_count = req->gpu->count > 0 ? req->gpu->count : 1;
	out->region = o->region != NULL ? xstrdup(o->region) : NULL;
	out->status = xstrdup("created");
	out->created_ms = clock_now_ms();
	log_debug("%s: contract %s from ask %s", what, id, o->id);
	rc = 0;
out:
	json_decref(body);
	json_decref(reply);
	free(path);
	return rc;
}

static int
vast_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	const struct gpu_model	*m;
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 oe;
	char			*what, mb[32];
	size_t			 i, tried = 0;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	what = xasprintf("spawn '%s' on %s", req->address != NULL ?
	    req->address : req->label != NULL ? req->label : "?", p->name);
	if (spawn_check(p, req, what, e) == -1)
		goto out;
	if (req->offer != NULL) {
		rc = rent(p, req, req->offer, what, out, e);
		goto out;
	}
	if (want_model(p, "spawn", req->gpu, &m, e) == -1)
		goto out;
	if (m == NULL) {
		gr_err_set(e, GR_E_CAPACITY, "%s: vast rents no %s machines",
		    what, req->gpu->type);
		gr_err_hint(e, "add a provider that has them");
		goto out;
	}
	if (vast_offers(p, req->gpu, &ol, e) == -1) {
		gr_err_copy(&oe, e);
		gr_err_set(e, oe.code, "%s: %s", what, oe.msg);
		gr_err_hint(e, "%s", oe.hint);
		e->retry_after_ms = oe.retry_after_ms;
		e->http_status = oe.http_status;
		goto out;
	}
	for (i = 0; i < ol.n && tried < SPAWN_TRIES; i++) {
		if (ol.v[i].price > req->max_price ||
		    !region_allowed(req, ol.v[i].region))
			continue;
		tried++;
		rc = rent(p, req, &ol.v[i], what, out, e);
		if (rc == 0 || e->code != GR_E_CAPACITY)
			goto out;
	}
	if (tried == 0) {
		gr_err_set(e, GR_E_CAPACITY, "%s: no %s offer under $%s/h%s",
		    what, req->gpu->type, money_fmt(req->max_price, mb,
		    sizeof(mb)), req->nregions > 0 ?
		    " in the group's regions" : "");
		gr_err_hint(e, "raise max_price_per_hour, widen regions or "
		    "add a provider");
	}
out:
	offer_list_release(&ol);
	if (rc == -1)
		instance_release(out);
	free(what);
	return rc;
}

/* --- list and get -------------------------------------------------------- */

static int
vast_list(struct provider *p, struct instance_list *out, struct gr_err *e)
{
	struct vast	*v = p->priv;
	struct buf	 path = BUF_INIT;
	json_t		*reply = NULL, *rows, *row, *tokv;
	struct instance	 in;
	char		*what, *token = NULL;
	const char	*next;
	size_t		 i, pages = 0;
	int		 rc = -1;

	memset(out, 0, sizeof(*out));
	what = xasprintf("list on %s", p->name);
	for (;;) {
		if (++pages > MAX_PAGES) {
			gr_err_set(e, GR_E_TRANSIENT, "%s: more than %d pages",
			    what, MAX_PAGES);
			goto out;
		}
		buf_reset(&path);
		buf_addf(&path, "/api/v1/instances/?limit=%d&order_by=",
		    PAGE_LIMIT);
		url_encode(&path, "[{\"col\":\"id\",\"dir\":\"asc\"}]");
		buf_adds(&path, "&select_cols=");
		url_encode(&path, "[\"*\"]");
		if (token != NULL) {
			buf_adds(&path, "&after_token=");
			url_encode(&path, token);
		}
		json_decref(reply);
		reply = NULL;
		if (vast_call(v, EP_LIST, "GET", buf_str(&path), NULL, what,
		    &reply, e) == -1)
			goto out;
		rows = json_object_get(reply, "instances");
		if (!json_is_array(rows)) {
			gr_err_set(e, GR_E_TRANSIENT, "%s: the reply has no "
			    "instances list", what);
			goto out;
		}
		json_array_foreach(rows, i, row) {
			if (map_instance(row, &in) == -1)
				continue;
			if (instance_list_find(out, in.id) != NULL) {
				instance_release(&in);
				continue;
			}
			*instance_list_add(out) = in;
		}
		tokv = json_object_get(reply, "next_token");
		next = json_string_value(tokv);
		if (json_is_integer(tokv) || json_is_real(tokv)) {
			free(token);
			token = jid(tokv);
			if (token == NULL)
				break;
			continue;
		}
		if (next == NULL || *next == '\0')
			break;
		if (token != NULL && strcmp(token, next) == 0) {
			gr_err_set(e, GR_E_TRANSIENT, "%s: the server gave the "
			    "same page token twice", what);
			goto out;
		}
		free(token);
		token = xstrdup(next);
	}
	log_debug("%s: %zu instances in %zu pages", what, out->n, pages);
	rc = 0;
out:
	if (rc == -1)
		instance_list_release(out);
	json_decref(reply);
	buf_release(&path);
	free(token);
	free(what);
	return rc;
}

/* INVALID_SPEC for an id Vast cannot have; 0 when fine. */
static int
check_id(struct provider *p, const char *op, const char *id,
    struct gr_err *e)
{
	if (id_ok(id))
		return 0;
	gr_err_set(e, GR_E_INVALID_SPEC, "%s '%s' on %s: not a vast instance "
	    "id (a contract number)", op, id != NULL ? id : "", p->name);
	return -1;
}

static int
vast_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	struct vast	*v = p->priv;
	json_t		*reply = NULL, *row, *e2;
	char		*what = NULL, *path = NULL, *rid;
	size_t		 i;
	int		 rc = -1;

	memset(out, 0, sizeof(*out));
	if (check_id(p, "get", id, e) == -1)
		return -1;
	what = xasprintf("get '%s' on %s", id, p->name);
	path = xasprintf("/api/v0/instances/%s/?owner=me", id);
	if (vast_call(v, EP_SHOW, "GET", path, NULL, what, &reply, e) == -1)
		goto out;
	row = json_object_get(reply, "instances");
	if (json_is_array(row)) {
		row = NULL;
		json_array_foreach(json_object_get(reply, "instances"), i,
		    e2) {
			rid = jid(json_object_get(e2, "id"));
			row = rid != NULL && strcmp(rid, id) == 0 ? e2 : NULL;
			free(rid);
			if (row != NULL)
				break;
		}
	}
	if (row == NULL || json_is_null(row)) {
		gr_err_set(e, GR_E_NOT_FOUND, "%s: no such instance", what);
		goto out;
	}
	if (!json_is_object(row) || map_instance(row, out) == -1) {
		gr_err_set(e, GR_E_TRANSIENT, "%s: the reply has no instance",
		    what);
		goto out;
	}
	if (strcmp(out->id, id) != 0) {
		gr_err_set(e, GR_E_TRANSIENT, "%s: the reply is about "
		    "instance %s", what, out->id);
		instance_release(out);
		goto out;
	}
	rc = 0;
out:
	json_decref(reply);
	free(path);
	free(what);
	return rc;
}

/* --- terminate, stop, start ---------------------------------------------- */

static int
vast_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	struct vast	*v = p->priv;
	json_t		*body, *reply = NULL;
	char		*what, *path;
	int		 rc;

	if (check_id(p, "terminate", id, e) == -1)
		return -1;
	what = xasprintf("terminate '%s' on %s", id, p->name);
	path = xasprintf("/api/v0/instances/%s/", id);
	body = json_object();
	rc = vast_call(v, EP_DESTROY, "DELETE", path, body, what, &reply, e);
	if (rc == -1 && e->code == GR_E_NOT_FOUND)
		log_debug("%s: already gone", what);
	json_decref(body);
	json_decref(reply);
	free(path);
	free(what);
	return rc;
}

static int
manage(struct provider *p, const char *op, const char *id,
    const char *state, struct gr_err *e)
{
	struct vast	*v = p->priv;
	json_t		*body, *reply = NULL;
	char		*what, *path;
	int		 rc;

	if (check_id(p, op, id, e) == -1)
		return -1;
	what = xasprintf("%s '%s' on %s", op, id, p->name);
	path = xasprintf("/api/v0/instances/%s/", id);
	body = json_pack("{s:s}", "state", state);
	rc = vast_call(v, EP_MANAGE, "PUT", path, body, what, &reply, e);
	json_decref(body);
	json_decref(reply);
	free(path);
	free(what);
	return rc;
}

static int
vast_stop(struct provider *p, const char *id, struct gr_err *e)
{
	return manage(p, "stop", id, "stopped", e);
}

static int
vast_start(struct provider *p, const char *id, struct gr_err *e)
{
	return manage(p, "start", id, "running", e);
}

/* --- life cycle ---------------------------------------------------------- */

static int
opt_bool(const char *key, const char *val, bool *out, struct gr_err *e)
{
	if (strcmp(val, "true") == 0 || strcmp(val, "yes") == 0 ||
	    strcmp(val, "1") == 0)
		*out = true;
	else if (strcmp(val, "false") == 0 || strcmp(val, "no") == 0 ||
	    strcmp(val, "0") == 0)
		*out = false;
	else {
		gr_err_set(e, GR_E_CONFIG, "provider 'vastai': option '%s': "
		    "expected true or false in '%s'", key, val);
		return -1;
	}
	return 0;
}

static int
options_parse(const struct provider_conf *conf, struct vast *v,
    const char **base_url, const char **key_file, struct gr_err *e)
{
	const char	*key, *val;
	char		*end;
	size_t		 i;

	*base_url = DEFAULT_BASE_URL;
	*key_file = NULL;
	if (provider_options_check("vastai", conf, option_keys,
	    nitems(option_keys), e) == -1)
		return -1;
	for (i = 0; i < conf->noptions; i++) {
		key = conf->options[i].key;
		val = conf->options[i].value != NULL ?
		    conf->options[i].value : "";
		if (*val == '\0') {
			gr_err_set(e, GR_E_CONFIG, "provider 'vastai': option "
			    "'%s' is empty", key);
			return -1;
		}
		if (strcmp(key, "base_url") == 0)
			*base_url = val;
		else if (strcmp(key, "api_key_file") == 0)
			*key_file = val;
		else if (strcmp(key, "image") == 0) {
			free(v->image);
			v->image = xstrdup(val);
		} else if (strcmp(key, "verified_only") == 0) {
			if (opt_bool(key, val, &v->verified_only, e) == -1)
				return -1;
		} else if (strcmp(key, "time_scale") == 0) {
			errno = 0;
			v->time_scale = strtod(val, &end);
			if (*end != '\0' || errno != 0 ||
			    !(v->time_scale >= 0.001) ||
			    v->time_scale > 1e6) {
				gr_err_set(e, GR_E_CONFIG, "provider 'vastai': "
				    "option 'time_scale': expected a number "
				    "from 0.001 to 1000000 in '%s'", val);
				return -1;
			}
		}
	}
	return 0;
}

static void
vast_free(struct vast *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < EP__COUNT; i++)
		http_client_free(v->http[i]);
	free(v->image);
	free(v);
}

static int
vast_init(struct provider *p, const struct provider_conf *conf,
    struct gr_err *e)
{
	struct vast		*v;
	struct cred		 cred;
	struct http_opts	 ho;
	const char		*base_url, *key_file;
	size_t			 i;
	int			 rc = -1;

	memset(&cred, 0, sizeof(cred));
	v = xcalloc(1, sizeof(*v));
	v->image = xstrdup(DEFAULT_IMAGE);
	v->verified_only = true;
	v->time_scale = 1;
	if (options_parse(conf, v, &base_url, &key_file, e) == -1)
		goto out;
	if (cred_resolve("vastai", key_file, &cred, e) == -1)
		goto out;
	for (i = 0; i < EP__COUNT; i++) {
		memset(&ho, 0, sizeof(ho));
		ho.min_interval_ms = scaled_ms(v, ep_limits[i].interval_ms);
		if (http_client_new("vastai", base_url, &cred, &ho,
		    &v->http[i], e) == -1)
			goto out;
	}
	p->cred_source = xstrdup(cred.source);
	p->priv = v;
	v = NULL;
	rc = 0;
out:
	cred_release(&cred);
	vast_free(v);
	return rc;
}

static void
vast_fini(struct provider *p)
{
	vast_free(p->priv);
	p->priv = NULL;
}

const struct provider_ops vastai_provider_ops = {
	.name = "vastai",
	.caps = PROV_CAP_GPU | PROV_CAP_HIBERNATION | PROV_CAP_MULTI_REGION,
	.init = vast_init,
	.fini = vast_fini,
	.offers = vast_offers,
	.spawn = vast_spawn,
	.terminate = vast_terminate,
	.list = vast_list,
	.get = vast_get,
	.stop = vast_stop,
	.start = vast_start,
};
