/*
 * fault.c: seeded fault injection and the providers' own rate limits.
 *
 * A rule matches requests by provider, endpoint (an op class such as
 * "create" or a route name such as "asks"), method and path prefix.  Each
 * rule has its own random stream seeded from --seed and its id, and draws
 * once per matching request, so a given seed and request order always
 * gives the same faults.
 *
 * Rate limits follow PROVIDER-APIS.md: vast and lambda enforce a minimum
 * interval per endpoint and key; runpod counts requests in minute, hour
 * and day windows.  Intervals are virtual time, so --time-scale shortens
 * them as it shortens boots; at --time-scale 0 (a frozen clock) they run
 * on real time instead, or no second call would ever pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

static const char *const kind_names[FK__COUNT] = {
	"error", "latency", "lost", "late", "spot", "price", "storm"
};

const char *
fault_kind_name(enum fault_kind k)
{
	return k < FK__COUNT ? kind_names[k] : "?";
}

void
fault_release(struct sim_fault *f)
{
	if (f == NULL)
		return;
	free(f->endpoint);
	free(f->method);
	free(f->path);
	free(f->code);
	free(f->msg);
	free(f->body);
	free(f->ctype);
	memset(f, 0, sizeof(*f));
}

void
fault_clear(struct sim *s)
{
	size_t	 k;

	for (k = 0; k < s->nfaults; k++)
		fault_release(&s->faults[k]);
	free(s->faults);
	s->faults = NULL;
	s->nfaults = 0;
}

bool
fault_del(struct sim *s, int id)
{
	size_t	 k;

	for (k = 0; k < s->nfaults; k++) {
		if (s->faults[k].id != id)
			continue;
		fault_release(&s->faults[k]);
		memmove(&s->faults[k], &s->faults[k + 1],
		    (s->nfaults - k - 1) * sizeof(*s->faults));
		s->nfaults--;
		return true;
	}
	return false;
}

static char *
opt_str(json_t *o, const char *key)
{
	const char	*v = json_string_value(json_object_get(o, key));

	return v != NULL ? xstrdup(v) : NULL;
}

static bool
opt_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

int
fault_add(struct sim *s, json_t *o, char *err, size_t errlen)
{
	struct sim_fault	 f;
	const char		*kind, *prov, *mode;
	json_t			*v;
	int64_t			 n;
	int			 k;

	memset(&f, 0, sizeof(f));
	if (!json_is_object(o)) {
		(void)snprintf(err, errlen, "a fault rule is an object");
		return -1;
	}
	kind = json_string_value(json_object_get(o, "kind"));
	for (k = 0; kind != NULL && k < FK__COUNT; k++)
		if (strcmp(kind, kind_names[k]) == 0)
			break;
	if (kind == NULL || k == FK__COUNT) {
		(void)snprintf(err, errlen, "\"kind\" must be one of error, "
		    "latency, lost, late, spot, price, storm");
		return -1;
	}
	f.kind = (enum fault_kind)k;
	f.prov = -1;
	prov = json_string_value(json_object_get(o, "provider"));
	if (prov != NULL && strcmp(prov, "*") != 0) {
		f.prov = sim_prov_parse(prov);
		if (f.prov < 0) {
			(void)snprintf(err, errlen, "unknown provider '%s'",
			    prov);
			return -1;
		}
	}
	f.endpoint = opt_str(o, "endpoint");
	if (f.endpoint == NULL)
		f.endpoint = xstrdup("*");
	f.method = opt_str(o, "method");
	f.path = opt_str(o, "path");
	f.code = opt_str(o, "code");
	f.msg = opt_str(o, "msg");
	f.body = opt_str(o, "body");
	f.ctype = opt_str(o, "content_type");
	f.rate = 1.0;
	if ((v = json_object_get(o, "rate")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 1) {
			(void)snprintf(err, errlen, "\"rate\" is a probability "
			    "from 0 to 1");
			goto fail;
		}
		f.rate = json_number_value(v);
	}
	n = 0;
	if (!opt_int(o, "count", 0, 1000000000, &n)) {
		(void)snprintf(err, errlen, "\"count\" must be >= 0");
		goto fail;
	}
	f.count = (int)n;
	n = 0;
	if (!opt_int(o, "skip", 0, 1000000000, &n)) {
		(void)snprintf(err, errlen, "\"skip\" must be >= 0");
		goto fail;
	}
	f.skip = (int)n;
	n = f.kind == FK_STORM ? 429 : f.kind == FK_LOST ? 504 : 500;
	if (!opt_int(o, "status", 100, 599, &n)) {
		(void)snprintf(err, errlen, "\"status\" must be an HTTP "
		    "status");
		goto fail;
	}
	f.status = (int)n;
	if (!opt_int(o, "ms", 0, INT64_C(1) << 50, &f.ms)) {
		(void)snprintf(err, errlen, "\"ms\" must be >= 0");
		goto fail;
	}
	if (f.kind == FK_LATENCY && f.ms > 600000) {
		(void)snprintf(err, errlen, "latency is at most 600000 ms");
		goto fail;
	}
	n = 0;
	if (!opt_int(o, "length", 0, 1000000000, &n)) {
		(void)snprintf(err, errlen, "\"length\" must be >= 0");
		goto fail;
	}
	f.length = (int)n;
	if (f.kind == FK_STORM && f.length == 0 && f.ms == 0)
		f.length = 1;
	n = 1;
	if (!opt_int(o, "retry_after", 0, 86400, &n)) {
		(void)snprintf(err, errlen, "\"retry_after\" is seconds");
		goto fail;
	}
	f.retry_after = (int)n;
	mode = json_string_value(json_object_get(o, "mode"));
	if (mode != NULL && strcmp(mode, "504") != 0 &&
	    strcmp(mode, "close") != 0) {
		(void)snprintf(err, errlen, "\"mode\" is close or 504");
		goto fail;
	}
	f.reply_504 = mode != NULL && strcmp(mode, "504") == 0;
	if ((v = json_object_get(o, "price")) != NULL &&
	    !json_money(v, &f.price)) {
		(void)snprintf(err, errlen, "\"price\" must be an amount");
		goto fail;
	}
	if ((v = json_object_get(o, "factor")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) <= 0) {
			(void)snprintf(err, errlen, "\"factor\" must be > 0");
			goto fail;
		}
		f.factor = json_number_value(v);
	}
	if (f.kind == FK_PRICE && f.price == 0 && f.factor == 0) {
		(void)snprintf(err, errlen, "a price rule needs \"price\" or "
		    "\"factor\"");
		goto fail;
	}
	f.on_demand = json_is_true(json_object_get(o, "on_demand"));
	f.id = s->next_fault_id++;
	f.rng = s->seed * 0x100000001b3ULL + (uint64_t)f.id * 0x9e37ULL;
	s->faults = xreallocarray(s->faults, s->nfaults + 1,
	    sizeof(*s->faults));
	s->faults[s->nfaults++] = f;
	return f.id;
fail:
	fault_release(&f);
	return -1;
}

json_t *
fault_json(const struct sim_fault *f)
{
	json_t	*o;
	char	 b[32];

	o = jpack("{s:i, s:s, s:s, s:s, s:f, s:i, s:i, s:i, s:i}",
	    "id", f->id,
	    "kind", fault_kind_name(f->kind),
	    "provider", f->prov < 0 ? "*" : sim_prov_name(f->prov),
	    "endpoint", f->endpoint,
	    "rate", f->rate,
	    "count", f->count,
	    "skip", f->skip,
	    "seen", f->seen,
	    "fired", f->fired);
	if (f->method != NULL)
		json_object_set_new(o, "method", json_string(f->method));
	if (f->path != NULL)
		json_object_set_new(o, "path", json_string(f->path));
	switch (f->kind) {
	case FK_ERROR:
		json_object_set_new(o, "status", json_integer(f->status));
		if (f->code != NULL)
			json_object_set_new(o, "code", json_string(f->code));
		break;
	case FK_LOST:
		json_object_set_new(o, "mode",
		    json_string(f->reply_504 ? "504" : "close"));
		break;
	case FK_STORM:
		json_object_set_new(o, "length", json_integer(f->length));
		json_object_set_new(o, "ms", json_integer(f->ms));
		break;
	case FK_PRICE:
		json_object_set_new(o, "ms", json_integer(f->ms));
		if (f->price > 0)
			json_object_set_new(o, "price",
			    json_string(money_fmt(f->price, b, sizeof(b))));
		else
			json_object_set_new(o, "factor", json_real(f->factor));
		break;
	default:
		json_object_set_new(o, "ms", json_integer(f->ms));
		break;
	}
	return o;
}

static bool
fault_matches(const struct sim_fault *f, const struct sim_req *r)
{
	if (f->prov >= 0 && f->prov != r->prov)
		return false;
	if (strcmp(f->endpoint, "*") != 0 &&
	    (r->op == NULL || strcmp(f->endpoint, r->op) != 0) &&
	    (r->route == NULL || strcmp(f->endpoint, r->route) != 0))
		return false;
	if (f->method != NULL && strcasecmp(f->method, r->method) != 0)
		return false;
	if (f->path != NULL && !str_has_prefix(r->path, f->path))
		return false;
	return true;
}

/* Count the match and draw; true when the rule fires for this request. */
static bool
fault_draw(struct sim_fault *f)
{
	double	 x;

	f->seen++;
	if (f->seen <= f->skip)
		return false;
	if (f->count > 0 && f->fired >= f->count)
		return false;
	x = sim_rand01(&f->rng);
	if (x >= f->rate)
		return false;
	f->fired++;
	return true;
}

struct sim_fault *
fault_take(struct sim *s, struct sim_req *r, enum fault_kind kind)
{
	size_t			 k;
	struct sim_fault	*f;

	for (k = 0; k < s->nfaults; k++) {
		f = &s->faults[k];
		if (f->kind != kind || !fault_matches(f, r))
			continue;
		if (kind == FK_STORM &&
		    (f->storm_left > 0 || f->storm_until > r->now)) {
			if (f->storm_left > 0)
				f->storm_left--;
			return f;
		}
		if (!fault_draw(f))
			continue;
		if (kind == FK_STORM) {
			f->storm_left = f->length > 0 ? f->length - 1 : 0;
			f->storm_until = f->ms > 0 ? r->now + f->ms : 0;
		}
		return f;
	}
	return NULL;
}

void
fault_on_create(struct sim *s, struct sim_req *r, struct sim_inst *i)
{
	size_t			 k;
	struct sim_fault	*f;
	double			 p;

	if ((f = fault_take(s, r, FK_LATE)) != NULL)
		i->visible_ms = i->created_ms + f->ms;
	for (k = 0; k < s->nfaults; k++) {
		f = &s->faults[k];
		if (f->kind != FK_SPOT || !fault_matches(f, r))
			continue;
		if (!i->interruptible && !f->on_demand &&
		    i->prov != SIM_LAMBDA)
			continue;
		if (!fault_draw(f))
			continue;
		i->interrupt_ms = i->created_ms + f->ms;
		break;
	}
	if ((f = fault_take(s, r, FK_PRICE)) != NULL) {
		i->reprice_ms = i->created_ms + f->ms;
		if (f->price > 0)
			i->reprice_to = f->price;
		else {
			p = (double)i->price * f->factor;
			i->reprice_to = (money_t)llround(p);
		}
	}
}

/* ---- rate limits ---- */

static int64_t
rl_now(struct sim *s)
{
	return s->scale > 0 ? sim_now(s) : clock_mono_ms();
}

/* Milliseconds of rate-limit time as whole seconds a client waits. */
static int
rl_secs(struct sim *s, int64_t ms)
{
	double	 real = s->scale > 0 ? (double)ms / s->scale : (double)ms;
	int	 sec = (int)ceil(real / 1000.0);

	return sec < 1 ? 1 : sec;
}

static const int64_t win_len[3] = { 60000, 3600000, 86400000 };
static const char *const win_name[3] = { "minute", "hour", "day" };

static void
win_roll(struct sim_pconf *c, int key, int64_t now)
{
	int	 w;
	int64_t	 start;

	for (w = 0; w < 3; w++) {
		start = now / win_len[w] * win_len[w];
		if (c->win_start[key * 3 + w] != start) {
			c->win_start[key * 3 + w] = start;
			c->win_used[key * 3 + w] = 0;
		}
	}
}

int
ratelimit_check(struct sim *s, struct sim_req *r, const char **why)
{
	struct sim_pconf	*c = &s->p[r->prov];
	int64_t			 now = rl_now(s), wait = 0;
	size_t			 k;
	int			 w;
	struct sim_rl		*rl;
	static char		 whybuf[128];

	*why = NULL;
	if (!c->rl_on || r->key < 0 || (size_t)r->key >= c->nkeys)
		return 0;
	if (r->prov == SIM_RUNPOD) {
		if (c->win_start == NULL) {
			c->win_start = xcalloc(c->nkeys * 3,
			    sizeof(*c->win_start));
			c->win_used = xcalloc(c->nkeys * 3,
			    sizeof(*c->win_used));
		}
		win_roll(c, r->key, now);
		for (w = 0; w < 3; w++) {
			if (c->win_q[w] > 0 &&
			    c->win_used[r->key * 3 + w] >= c->win_q[w]) {
				*why = win_name[w];
				return rl_secs(s, c->win_start[r->key * 3 + w] +
				    win_len[w] - now);
			}
		}
		for (w = 0; w < 3; w++)
			c->win_used[r->key * 3 + w]++;
		return 0;
	}
	for (k = 0; k < c->nrls; k++) {
		rl = &c->rls[k];
		if (strcmp(rl->endpoint, "*") != 0 && (r->route == NULL ||
		    strcmp(rl->endpoint, r->route) != 0))
			continue;
		if (rl->next_ok == NULL)
			rl->next_ok = xcalloc(c->nkeys, sizeof(*rl->next_ok));
		if (now < rl->next_ok[r->key] &&
		    rl->next_ok[r->key] - now > wait) {
			wait = rl->next_ok[r->key] - now;
			(void)snprintf(whybuf, sizeof(whybuf), "%s",
			    rl->threshold);
			*why = whybuf;
			if (rl->penalty_ms > 0)
				rl->next_ok[r->key] = now + rl->penalty_ms;
		}
	}
	if (wait > 0)
		return rl_secs(s, wait);
	for (k = 0; k < c->nrls; k++) {
		rl = &c->rls[k];
		if (strcmp(rl->endpoint, "*") != 0 && (r->route == NULL ||
		    strcmp(rl->endpoint, r->route) != 0))
			continue;
		rl->next_ok[r->key] = now + rl->interval_ms;
	}
	return 0;
}

/* RunPod's RateLimit and RateLimit-Policy headers (PROVIDER-APIS 2.4). */
void
ratelimit_headers(struct sim *s, struct sim_req *r, struct sim_resp *resp)
{
	struct sim_pconf	*c = &s->p[SIM_RUNPOD];
	struct buf		 lim = BUF_INIT, pol = BUF_INIT;
	int64_t			 now = rl_now(s), left;
	int			 w;

	if (r->prov != SIM_RUNPOD || !c->rl_on || r->key < 0 ||
	    c->win_start == NULL)
		return;
	for (w = 0; w < 3; w++) {
		if (c->win_q[w] <= 0)
			continue;
		left = c->win_q[w] - c->win_used[r->key * 3 + w];
		buf_addf(&lim, "%s\"%s\";r=%lld;t=%d", lim.len ? ", " : "",
		    win_name[w], (long long)(left < 0 ? 0 : left),
		    rl_secs(s, c->win_start[r->key * 3 + w] + win_len[w] -
		    now));
		buf_addf(&pol, "%s\"%s\";q=%lld;w=%lld", pol.len ? ", " : "",
		    win_name[w], (long long)c->win_q[w],
		    (long long)(win_len[w] / 1000));
	}
	if (lim.len > 0) {
		resp_header(resp, "RateLimit", buf_str(&lim));
		resp_header(resp, "RateLimit-Policy", buf_str(&pol));
	}
	buf_release(&lim);
	buf_release(&pol);
}
