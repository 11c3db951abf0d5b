/*
 * control.c: the control API under /_sim/ (no auth; loopback only, which
 * http.c checks).  Tests use it to set the stage and to read the ground
 * truth: the whole state, the billing record, the requests received
 * (never their keys), fault rules, the virtual clock, and instances made,
 * changed or destroyed behind the client's back.  Routes are listed in
 * sim/README.md.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void
cerr(struct sim_resp *resp, int status, const char *msg)
{
	resp_json(resp, status, jpack("{s:s}", "error", msg), NULL);
}

static bool
cbody(struct sim_req *r, struct sim_resp *resp)
{
	if (r->json_bad || !json_is_object(r->json)) {
		cerr(resp, 400, "expected a JSON object body");
		return false;
	}
	return true;
}

static int
cprov(struct sim_resp *resp, const char *name)
{
	int	 p = sim_prov_parse(name);

	if (p < 0)
		cerr(resp, 400, "provider must be vastai, runpod or lambda");
	return p;
}

static json_t *
api_json(struct sim *s, struct sim_inst *i, int64_t now)
{
	switch (i->prov) {
	case SIM_VAST:
		return vast_inst_json(s, i, now);
	case SIM_RUNPOD:
		return runpod_pod_json(s, i, now);
	default:
		return lambda_inst_json(s, i, now);
	}
}

static json_t *
inst_view(struct sim *s, struct sim_inst *i, int64_t now)
{
	json_t	*o = sim_inst_summary(s, i, now);

	if (sim_inst_live(i))
		json_object_set_new(o, "api", api_json(s, i, now));
	json_object_set_new(o, "billed_micros",
	    json_integer(sim_inst_billed(i, now)));
	return o;
}

/* The sku a body names: "sku" (index) or "gpu" and "region". */
static int
body_sku(struct sim *s, int p, json_t *b)
{
	json_t	*v = json_object_get(b, "sku");

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    (size_t)json_integer_value(v) >= s->p[p].nskus)
			return -1;
		return (int)json_integer_value(v);
	}
	return sim_sku_pick(s, p, json_string_value(json_object_get(b, "gpu")),
	    json_string_value(json_object_get(b, "region")));
}

static void
c_create(struct sim_req *r, struct sim_resp *resp)
{
	struct sim		*s = r->sim;
	json_t			*b = r->json, *v;
	int			 p, sku, slot;
	struct sim_inst		*i;
	const struct sim_sku	*u = NULL;
	const char		*ph, *gpu;
	enum sim_phase		 phase = PH_RUNNING;
	size_t			 k;
	int			 gpus;
	money_t			 price, storage;
	bool			 taken;

	if (!cbody(r, resp) || (p = cprov(resp, json_string_value(
	    json_object_get(b, "provider")))) < 0)
		return;
	ph = json_string_value(json_object_get(b, "phase"));
	if (ph != NULL && (!sim_phase_parse(ph, &phase) || phase == PH_GONE)) {
		cerr(resp, 400, "phase: provisioning, starting, running, "
		    "stopping, stopped, interrupted, failed or terminating");
		return;
	}
	sku = body_sku(s, p, b);
	gpu = json_string_value(json_object_get(b, "gpu"));
	if (sku >= 0)
		u = &s->p[p].skus[sku];
	else if (gpu == NULL) {
		cerr(resp, 400, "give \"sku\", or \"gpu\" (and \"price\")");
		return;
	}
	gpus = u != NULL ? (p == SIM_RUNPOD ? 1 : u->count) : 1;
	if (json_is_integer(v = json_object_get(b, "gpus")) &&
	    json_integer_value(v) > 0 && json_integer_value(v) <= 64)
		gpus = (int)json_integer_value(v);
	price = u != NULL ? u->price * (p == SIM_RUNPOD ? gpus : 1) : 0;
	storage = u != NULL ? u->storage : 0;
	if ((v = json_object_get(b, "price")) != NULL &&
	    !json_money(v, &price)) {
		cerr(resp, 400, "price must be an amount such as \"0.40\"");
		return;
	}
	if ((v = json_object_get(b, "storage_price")) != NULL &&
	    !json_money(v, &storage)) {
		cerr(resp, 400, "storage_price must be an amount");
		return;
	}
	i = sim_inst_new(s, p, r->now);
	i->control = true;
	i->sku = sku;
	i->gpu = xstrdup(u != NULL ? u->gpu : gpu);
	i->gpus = gpus;
	i->vram_gb = u != NULL ? u->vram_gb : 0;
	v = json_object_get(b, "region");
	i->region = xstrdup(json_is_string(v) ? json_string_value(v) :
	    u != NULL ? u->region : "sim-1");
	i->price = price;
	i->storage = storage;
	i->interruptible = json_is_true(json_object_get(b, "interruptible"));
	if (i->interruptible)
		i->bid = p == SIM_RUNPOD ? i->price / i->gpus : i->price;
	v = json_object_get(b, "label");
	if (json_is_string(v))
		i->label = xstrdup(json_string_value(v));
	v = json_object_get(b, "image");
	i->image = xstrdup(json_is_string(v) ? json_string_value(v) :
	    "docker.io/library/ubuntu:22.04");
	i->disk_gb = 10;
	if (p == SIM_VAST && u != NULL) {
		for (slot = 0; slot < u->capacity; slot++) {
			taken = false;
			for (k = 0; k < s->ninsts; k++)
				if (s->insts[k] != i &&
				    s->insts[k]->prov == SIM_VAST &&
				    s->insts[k]->ask_id == u->ask_base + slot &&
				    sim_inst_holds(s->insts[k]))
					taken = true;
			if (!taken) {
				i->ask_id = u->ask_base + slot;
				break;
			}
		}
	}
	if (p == SIM_RUNPOD)
		i->extra = jpack("{s:s, s:s}", "cloud", u != NULL &&
		    u->cloud != NULL ? u->cloud : "SECURE", "dc", i->region);
	if (p == SIM_LAMBDA)
		i->extra = jpack("{s:[s], s:[], s:[]}", "ssh_key_names",
		    "default", "fs", "tags");
	sim_inst_set_phase(s, i, phase, r->now);
	sim_tick(s, r->now);
	resp_json(resp, 201, inst_view(s, i, r->now), NULL);
}

static struct sim_inst *
c_inst(struct sim_req *r, struct sim_resp *resp)
{
	int		 p = sim_prov_parse(r->seg[0]);
	struct sim_inst	*i = p >= 0 ? sim_inst_find(r->sim, p, r->seg[1]) :
	    NULL;

	if (i == NULL)
		cerr(resp, 404, "no such live instance");
	return i;
}

static void
c_destroy(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = c_inst(r, resp);

	if (i == NULL)
		return;
	i->interrupt_ms = -1;
	i->reprice_ms = -1;
	sim_inst_set_phase(r->sim, i, PH_GONE, r->now);
	resp_json(resp, 200, inst_view(r->sim, i, r->now), NULL);
}

static void
c_interrupt(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = c_inst(r, resp);

	if (i == NULL)
		return;
	sim_inst_interrupt(r->sim, i, r->now);
	resp_json(resp, 200, inst_view(r->sim, i, r->now), NULL);
}

static void
c_phase(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	enum sim_phase	 ph;
	const char	*name;

	if (!cbody(r, resp) || (i = c_inst(r, resp)) == NULL)
		return;
	name = json_string_value(json_object_get(r->json, "phase"));
	if (name == NULL || !sim_phase_parse(name, &ph)) {
		cerr(resp, 400, "phase: provisioning, starting, running, "
		    "stopping, stopped, interrupted, failed, terminating or "
		    "gone");
		return;
	}
	sim_inst_set_phase(r->sim, i, ph, r->now);
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, inst_view(r->sim, i, r->now), NULL);
}

static void
c_inst_price(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	money_t		 m;

	if (!cbody(r, resp) || (i = c_inst(r, resp)) == NULL)
		return;
	if (!json_money(json_object_get(r->json, "price"), &m)) {
		cerr(resp, 400, "price must be an amount such as \"0.40\"");
		return;
	}
	sim_inst_reprice(r->sim, i, m, r->now);
	resp_json(resp, 200, inst_view(r->sim, i, r->now), NULL);
}

static void
c_inst_get(struct sim_req *r, struct sim_resp *resp)
{
	int		 p = sim_prov_parse(r->seg[0]);
	size_t		 k;

	/* GONE ones too: tests look at what was destroyed */
	for (k = 0; p >= 0 && k < r->sim->ninsts; k++) {
		struct sim_inst *i = r->sim->insts[k];

		if ((int)i->prov == p && strcmp(i->id, r->seg[1]) == 0) {
			resp_json(resp, 200, inst_view(r->sim, i, r->now),
			    NULL);
			return;
		}
	}
	cerr(resp, 404, "no such instance");
}

static void
c_offer_price(struct sim_req *r, struct sim_resp *resp)
{
	int	 p, sku;
	money_t	 m;

	if (!cbody(r, resp) || (p = cprov(resp, json_string_value(
	    json_object_get(r->json, "provider")))) < 0)
		return;
	if ((sku = body_sku(r->sim, p, r->json)) < 0) {
		cerr(resp, 404, "no such offer (give sku, or gpu and region)");
		return;
	}
	if (!json_money(json_object_get(r->json, "price"), &m) ||
	    (p == SIM_LAMBDA && m % 10000 != 0)) {
		cerr(resp, 400, "price must be an amount (lambda: whole "
		    "cents)");
		return;
	}
	r->sim->p[p].skus[sku].price = m;
	resp_json(resp, 200, sim_state_json(r->sim, r->now), NULL);
}

static void
c_capacity(struct sim_req *r, struct sim_resp *resp)
{
	int	 p, sku;
	json_t	*v;

	if (!cbody(r, resp) || (p = cprov(resp, json_string_value(
	    json_object_get(r->json, "provider")))) < 0)
		return;
	if ((sku = body_sku(r->sim, p, r->json)) < 0) {
		cerr(resp, 404, "no such offer (give sku, or gpu and region)");
		return;
	}
	v = json_object_get(r->json, "capacity");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 99999) {
		cerr(resp, 400, "capacity must be 0 to 99999");
		return;
	}
	r->sim->p[p].skus[sku].capacity = (int)json_integer_value(v);
	resp_json(resp, 200, sim_state_json(r->sim, r->now), NULL);
}

static void
c_offer_add(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	struct sim_sku	 u;
	int		 p;
	char		 err[256];
	size_t		 n;

	if (!cbody(r, resp) || (p = cprov(resp, json_string_value(
	    json_object_get(r->json, "provider")))) < 0)
		return;
	if (sku_from_json(s, p, r->json, &u, err, sizeof(err)) == -1) {
		cerr(resp, 400, err);
		return;
	}
	n = s->p[p].nskus;
	if (p == SIM_VAST) {
		u.ask_base = 3000000 + (int64_t)n * 100000;
		if (u.geo == NULL)
			u.geo = xstrdup(u.region);
	}
	if (p == SIM_RUNPOD && u.cloud == NULL)
		u.cloud = xstrdup("SECURE");
	s->p[p].skus = xreallocarray(s->p[p].skus, n + 1,
	    sizeof(*s->p[p].skus));
	s->p[p].skus[n] = u;
	s->p[p].nskus++;
	resp_json(resp, 201, jpack("{s:i}", "sku", (int)n), NULL);
}

static void
c_advance(struct sim_req *r, struct sim_resp *resp)
{
	json_t		*v;
	int64_t		 ms = -1;
	const char	*why;
	char		 iso[32];

	if (!cbody(r, resp))
		return;
	if (json_is_integer(v = json_object_get(r->json, "ms")))
		ms = json_integer_value(v);
	else if (json_is_string(v = json_object_get(r->json, "duration"))) {
		if (!duration_parse(json_string_value(v), &ms, &why)) {
			cerr(resp, 400, why);
			return;
		}
		ms *= 1000;
	}
	if (ms < 0) {
		cerr(resp, 400, "give \"ms\" (>= 0) or \"duration\" (\"90s\")");
		return;
	}
	sim_advance(r->sim, ms);
	r->now = sim_now(r->sim);
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, jpack("{s:I, s:s}", "now_ms", (json_int_t)r->now,
	    "now", time_iso8601(r->now, iso, sizeof(iso))), NULL);
}

static void
c_clock(struct sim_req *r, struct sim_resp *resp)
{
	char	 iso[32];

	resp_json(resp, 200, jpack("{s:I, s:s, s:f}", "now_ms",
	    (json_int_t)r->now, "now", time_iso8601(r->now, iso, sizeof(iso)),
	    "time_scale", r->sim->scale), NULL);
}

static void
c_faults_get(struct sim_req *r, struct sim_resp *resp)
{
	json_t	*arr = json_array();
	size_t	 k;

	for (k = 0; k < r->sim->nfaults; k++)
		json_array_append_new(arr, fault_json(&r->sim->faults[k]));
	resp_json(resp, 200, jpack("{s:o}", "faults", arr), NULL);
}

static void
c_faults_add(struct sim_req *r, struct sim_resp *resp)
{
	json_t	*rules, *ids = json_array(), *e;
	size_t	 k;
	int	 id;
	char	 err[256], msg[320];

	if (r->json_bad || r->json == NULL) {
		json_decref(ids);
		cerr(resp, 400, "expected a rule, a list of rules or "
		    "{\"rules\": [...]}");
		return;
	}
	rules = json_is_array(r->json) ? r->json :
	    json_object_get(r->json, "rules");
	if (rules == NULL) {
		if ((id = fault_add(r->sim, r->json, err, sizeof(err))) < 0) {
			json_decref(ids);
			cerr(resp, 400, err);
			return;
		}
		json_array_append_new(ids, json_integer(id));
	} else {
		json_array_foreach(rules, k, e) {
			if ((id = fault_add(r->sim, e, err, sizeof(err))) < 0) {
				(void)snprintf(msg, sizeof(msg), "rules[%zu]: "
				    "%s (earlier rules were added)", k, err);
				json_decref(ids);
				cerr(resp, 400, msg);
				return;
			}
			json_array_append_new(ids, json_integer(id));
		}
	}
	resp_json(resp, 201, jpack("{s:o}", "ids", ids), NULL);
}

static void
c_faults_clear(struct sim_req *r, struct sim_resp *resp)
{
	fault_clear(r->sim);
	resp_json(resp, 200, jpack("{s:b}", "ok", 1), NULL);
}

static void
c_fault_del(struct sim_req *r, struct sim_resp *resp)
{
	char	*end;
	long	 id = strtol(r->seg[0], &end, 10);

	if (*end != '\0' || !fault_del(r->sim, (int)id)) {
		cerr(resp, 404, "no such fault rule");
		return;
	}
	resp_json(resp, 200, jpack("{s:b}", "ok", 1), NULL);
}

static void
c_requests(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*arr = json_array(), *o;
	const char	*since = req_arg(r, "since"), *pv = req_arg(r,
	    "provider");
	int64_t		 from = since != NULL ? strtoll(since, NULL, 10) : 0;
	int64_t		 seq, first;
	int		 p = pv != NULL ? sim_prov_parse(pv) : -2;

	first = s->log_seq - (int64_t)s->nlog + 1;
	for (seq = first > from + 1 ? first : from + 1; seq <= s->log_seq;
	    seq++) {
		const struct sim_reqlog *l = &s->log[seq % (int64_t)s->log_cap];

		if (p != -2 && l->prov != p)
			continue;
		o = jpack("{s:I, s:s, s:s, s:s, s:o, s:s, s:i, s:o, s:o, s:s,"
		    " s:i, s:o}",
		    "seq", (json_int_t)l->seq,
		    "provider", sim_prov_name(l->prov),
		    "method", l->method,
		    "path", l->path,
		    "op", l->op != NULL ? json_string(l->op) : json_null(),
		    "auth", l->auth,
		    "key_index", l->key,
		    "content_type", l->ctype != NULL ? json_string(l->ctype) :
		    json_null(),
		    "user_agent", l->ua != NULL ? json_string(l->ua) :
		    json_null(),
		    "body", l->body,
		    "status", l->status,
		    "fault", l->fault != NULL ? json_string(l->fault) :
		    json_null());
		json_array_append_new(arr, o);
	}
	resp_json(resp, 200, jpack("{s:I, s:o}", "last_seq",
	    (json_int_t)s->log_seq, "requests", arr), NULL);
}

static void
c_requests_clear(struct sim_req *r, struct sim_resp *resp)
{
	r->sim->nlog = 0;
	resp_json(resp, 200, jpack("{s:I}", "last_seq",
	    (json_int_t)r->sim->log_seq), NULL);
}

static void
c_state(struct sim_req *r, struct sim_resp *resp)
{
	resp_json(resp, 200, sim_state_json(r->sim, r->now), NULL);
}

static void
c_billing(struct sim_req *r, struct sim_resp *resp)
{
	resp_json(resp, 200, sim_billing_json(r->sim, r->now), NULL);
}

static const struct sim_route c_routes[] = {
	{ "GET", "state", "control", "state", c_state },
	{ "GET", "billing", "control", "billing", c_billing },
	{ "GET", "clock", "control", "clock", c_clock },
	{ "POST", "advance", "control", "advance", c_advance },
	{ "GET", "requests", "control", "requests", c_requests },
	{ "DELETE", "requests", "control", "requests", c_requests_clear },
	{ "GET", "faults", "control", "faults", c_faults_get },
	{ "POST", "faults", "control", "faults", c_faults_add },
	{ "DELETE", "faults", "control", "faults", c_faults_clear },
	{ "DELETE", "faults/*", "control", "faults", c_fault_del },
	{ "POST", "instances", "control", "instances", c_create },
	{ "GET", "instances/*/*", "control", "instances", c_inst_get },
	{ "DELETE", "instances/*/*", "control", "instances", c_destroy },
	{ "POST", "instances/*/*/interrupt", "control", "instances",
	  c_interrupt },
	{ "POST", "instances/*/*/phase", "control", "instances", c_phase },
	{ "POST", "instances/*/*/price", "control", "instances",
	  c_inst_price },
	{ "POST", "offers", "control", "offers", c_offer_add },
	{ "POST", "price", "control", "price", c_offer_price },
	{ "POST", "capacity", "control", "capacity", c_capacity },
};

void
control_handle(struct sim *s, struct sim_req *r, struct sim_resp *resp)
{
	const struct sim_route	*e;
	bool			 wrong;

	(void)s;
	e = route_find(r, c_routes, nitems(c_routes), &wrong);
	if (e == NULL) {
		cerr(resp, wrong ? 405 : 404, wrong ? "method not allowed" :
		    "no such control endpoint (see sim/README.md)");
		return;
	}
	r->route = e->route;
	e->handler(r, resp);
}
