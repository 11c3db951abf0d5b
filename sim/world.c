/*
 * world.c: the simulated cloud's state: the virtual clock, instances and
 * their life cycle, capacity, and the billing record that tests treat as
 * ground truth.
 *
 * Billing is a list of segments per instance, each at one hourly rate.
 * A segment opens or closes exactly when a phase change or a price change
 * is scheduled, however late someone looks, so the record does not depend
 * on when requests arrive.  What bills in which phase follows
 * PROVIDER-APIS.md 1.11, 2.5 and 3.4:
 *
 *   vastai  storage from creation; GPU (dph_total) while running; storage
 *           while stopped; nothing once destroyed; per second
 *   runpod  the pod's cost while desiredStatus is RUNNING, runtime or not;
 *           storage while EXITED; nothing once terminated; per second
 *   lambda  the hourly price from launch (booting) to terminate; nothing
 *           while preempted; in 1-minute increments
 *
 * Each segment's length is rounded up to the provider's increment (1 s or
 * 60 s) before it is priced, with money_cost's rounding to the
 * micro-dollar.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim.h"

static const char *const prov_names[SIM_PROV__COUNT] = {
	"vastai", "runpod", "lambda"
};

static const char *const phase_names[PH__COUNT] = {
	"provisioning", "starting", "running", "stopping", "stopped",
	"interrupted", "failed", "terminating", "gone"
};

/* Each provider's own word for a phase, for the state dump. */
static const char *const status_words[SIM_PROV__COUNT][PH__COUNT] = {
	{ "created", "loading", "running", "running", "stopped", "stopped",
	  "exited", "unloaded", "gone" },
	{ "PROVISIONING", "STARTING", "RUNNING", "RUNNING", "EXITED",
	  "EXITED", "ERROR", "TERMINATED", "gone" },
	{ "booting", "booting", "active", "active", "active", "preempted",
	  "unhealthy", "terminating", "terminated" },
};

const char *
sim_prov_name(int p)
{
	return p >= 0 && p < SIM_PROV__COUNT ? prov_names[p] : "control";
}

int
sim_prov_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "vastai") == 0 || strcmp(s, "vast") == 0)
		return SIM_VAST;
	if (strcmp(s, "runpod") == 0)
		return SIM_RUNPOD;
	if (strcmp(s, "lambda") == 0)
		return SIM_LAMBDA;
	return -1;
}

const char *
sim_phase_name(enum sim_phase ph)
{
	return ph < PH__COUNT ? phase_names[ph] : "?";
}

bool
sim_phase_parse(const char *s, enum sim_phase *out)
{
	int	 i;

	for (i = 0; i < PH__COUNT; i++) {
		if (strcmp(phase_names[i], s) == 0) {
			*out = (enum sim_phase)i;
			return true;
		}
	}
	return false;
}

/* splitmix64: small, seedable, the same everywhere. */
uint64_t
sim_rand(uint64_t *s)
{
	uint64_t	 z;

	*s += 0x9e3779b97f4a7c15ULL;
	z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double
sim_rand01(uint64_t *s)
{
	return (double)(sim_rand(s) >> 11) / (double)(1ULL << 53);
}

void
sim_rand_id(struct sim *s, char *out, size_t len, const char *alpha)
{
	size_t	 i, n = strlen(alpha);

	for (i = 0; i + 1 < len; i++)
		out[i] = alpha[sim_rand(&s->id_rng) % n];
	out[len - 1] = '\0';
}

char *
sim_next_ip(struct sim *s)
{
	static const char *const nets[] = { "203.0.113", "198.51.100",
	    "192.0.2" };
	int	 n = s->ip_seq++ % 762;

	return xasprintf("%s.%d", nets[n / 254], n % 254 + 1);
}

void
sim_init(struct sim *s, uint64_t seed, double scale, int64_t start)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mtx, NULL);
	s->seed = seed;
	s->scale = scale;
	s->base_virt = start;
	s->base_mono = clock_mono_ms();
	s->next_vast_id = 7000001;
	s->id_rng = seed ^ 0x5157a11dULL;
	s->next_fault_id = 1;
	s->log_cap = 2000;
	s->log = xcalloc(s->log_cap, sizeof(*s->log));
}

static void
inst_free(struct sim_inst *i)
{
	if (i == NULL)
		return;
	free(i->label);
	free(i->gpu);
	free(i->region);
	free(i->image);
	free(i->onstart);
	json_decref(i->env);
	json_decref(i->extra);
	free(i->segs);
	free(i);
}

static void
reqlog_release(struct sim_reqlog *l)
{
	free(l->method);
	free(l->path);
	free(l->op);
	free(l->auth);
	free(l->ctype);
	free(l->ua);
	free(l->body);
	free(l->fault);
	memset(l, 0, sizeof(*l));
}

static void
pconf_release(struct sim_pconf *p)
{
	size_t	 i;

	for (i = 0; i < p->nkeys; i++)
		free(p->keys[i]);
	free(p->keys);
	for (i = 0; i < p->nskus; i++)
		sku_release(&p->skus[i]);
	free(p->skus);
	for (i = 0; i < p->nrls; i++) {
		free(p->rls[i].endpoint);
		free(p->rls[i].threshold);
		free(p->rls[i].next_ok);
	}
	free(p->rls);
	free(p->win_start);
	free(p->win_used);
	for (i = 0; i < p->nsshkeys; i++) {
		free(p->sshkeys[i].id);
		free(p->sshkeys[i].name);
		free(p->sshkeys[i].pubkey);
	}
	free(p->sshkeys);
	memset(p, 0, sizeof(*p));
}

void
sim_release(struct sim *s)
{
	size_t	 i;

	for (i = 0; i < SIM_PROV__COUNT; i++)
		pconf_release(&s->p[i]);
	for (i = 0; i < s->ninsts; i++)
		inst_free(s->insts[i]);
	free(s->insts);
	fault_clear(s);
	for (i = 0; i < s->log_cap; i++)
		reqlog_release(&s->log[i]);
	free(s->log);
	pthread_mutex_destroy(&s->mtx);
}

/* Virtual now: real elapsed time times the scale, plus advances. */
int64_t
sim_now(struct sim *s)
{
	int64_t	 real = clock_mono_ms() - s->base_mono;

	return s->base_virt + (int64_t)((double)real * s->scale) +
	    s->offset_ms;
}

void
sim_advance(struct sim *s, int64_t ms)
{
	if (ms > 0)
		s->offset_ms += ms;
}

/* ---- billing ---- */

static money_t
rate_for(const struct sim_inst *i, enum sim_phase ph)
{
	switch (i->prov) {
	case SIM_VAST:
		switch (ph) {
		case PH_RUNNING:
		case PH_STOPPING:
			return i->price;
		case PH_PROVISION:
		case PH_STARTING:
		case PH_STOPPED:
		case PH_INTERRUPTED:
		case PH_FAILED:
			return i->storage;
		default:
			return 0;
		}
	case SIM_RUNPOD:
		switch (ph) {
		case PH_PROVISION:
		case PH_STARTING:
		case PH_RUNNING:
		case PH_STOPPING:
		case PH_FAILED:
			return i->price;
		case PH_STOPPED:
		case PH_INTERRUPTED:
			return i->storage;
		default:
			return 0;
		}
	case SIM_LAMBDA:
		switch (ph) {
		case PH_PROVISION:
		case PH_STARTING:
		case PH_RUNNING:
		case PH_STOPPING:
		case PH_STOPPED:
		case PH_FAILED:
			return i->price;
		default:
			return 0;
		}
	default:
		BUG("rate_for: provider %d", (int)i->prov);
	}
}

static int64_t
bill_increment_ms(enum sim_prov p)
{
	return p == SIM_LAMBDA ? 60000 : 1000;
}

money_t
sim_seg_billed(enum sim_prov p, const struct sim_seg *g, int64_t now)
{
	int64_t	 end = g->end_ms >= 0 ? g->end_ms : now;
	int64_t	 dur = end - g->start_ms, inc = bill_increment_ms(p);

	if (dur <= 0)
		return 0;
	dur = (dur + inc - 1) / inc * inc;
	return money_cost(g->rate, dur);
}

money_t
sim_inst_billed(const struct sim_inst *i, int64_t now)
{
	money_t	 sum = 0;
	size_t	 k;

	for (k = 0; k < i->nsegs; k++)
		sum += sim_seg_billed(i->prov, &i->segs[k], now);
	return sum;
}

money_t
sim_inst_rate_now(const struct sim_inst *i)
{
	if (i->nsegs > 0 && i->segs[i->nsegs - 1].end_ms < 0)
		return i->segs[i->nsegs - 1].rate;
	return 0;
}

int64_t
sim_inst_bill_start(const struct sim_inst *i)
{
	return i->nsegs > 0 ? i->segs[0].start_ms : -1;
}

/* Bring the open segment in line with the current phase and price. */
static void
bill_update(struct sim_inst *i, int64_t at)
{
	money_t		 r = rate_for(i, i->phase);
	struct sim_seg	*open = NULL;

	if (i->nsegs > 0 && i->segs[i->nsegs - 1].end_ms < 0)
		open = &i->segs[i->nsegs - 1];
	if (open != NULL && open->rate == r)
		return;
	if (open != NULL) {
		if (open->start_ms >= at)
			i->nsegs--;	/* empty: drop it */
		else
			open->end_ms = at;
	}
	if (r <= 0)
		return;
	i->segs = xreallocarray(i->segs, i->nsegs + 1, sizeof(*i->segs));
	i->segs[i->nsegs].start_ms = at;
	i->segs[i->nsegs].end_ms = -1;
	i->segs[i->nsegs].rate = r;
	i->nsegs++;
}

/* ---- instances ---- */

struct sim_inst *
sim_inst_new(struct sim *s, enum sim_prov p, int64_t now)
{
	struct sim_inst	*i = xcalloc(1, sizeof(*i));

	i->prov = p;
	i->sku = -1;
	i->gpus = 1;
	i->created_ms = now;
	i->phase_ms = now;
	i->next_ms = -1;
	i->started_ms = -1;
	i->visible_ms = now;
	i->interrupt_ms = -1;
	i->reprice_ms = -1;
	i->end_ms = -1;
	i->phase = PH_PROVISION;
	i->env = json_object();
	switch (p) {
	case SIM_VAST:
		i->num_id = s->next_vast_id++;
		(void)snprintf(i->id, sizeof(i->id), "%" PRId64, i->num_id);
		break;
	case SIM_RUNPOD:
		sim_rand_id(s, i->id, 15, SIM_ALNUM);
		break;
	case SIM_LAMBDA:
		sim_rand_id(s, i->id, 33, "0123456789abcdef");
		break;
	default:
		BUG("sim_inst_new: provider %d", (int)p);
	}
	s->insts = xreallocarray(s->insts, s->ninsts + 1, sizeof(*s->insts));
	s->insts[s->ninsts++] = i;
	return i;
}

struct sim_inst *
sim_inst_find(struct sim *s, int p, const char *id)
{
	size_t	 k;

	if (id == NULL)
		return NULL;
	for (k = 0; k < s->ninsts; k++) {
		if ((int)s->insts[k]->prov == p &&
		    s->insts[k]->phase != PH_GONE &&
		    strcmp(s->insts[k]->id, id) == 0)
			return s->insts[k];
	}
	return NULL;
}

bool
sim_inst_live(const struct sim_inst *i)
{
	return i->phase != PH_GONE;
}

bool
sim_inst_holds(const struct sim_inst *i)
{
	switch (i->phase) {
	case PH_PROVISION:
	case PH_STARTING:
	case PH_RUNNING:
	case PH_STOPPING:
	case PH_FAILED:
		return true;
	case PH_STOPPED:
	case PH_INTERRUPTED:
		/* a stopped vast contract keeps its machine (its ask) */
		return i->prov == SIM_VAST;
	default:
		return false;
	}
}

void
sim_inst_set_phase(struct sim *s, struct sim_inst *i, enum sim_phase ph,
    int64_t at)
{
	const struct sim_delays	*d = &s->p[i->prov].d;

	i->phase = ph;
	i->phase_ms = at;
	i->next_ms = -1;
	switch (ph) {
	case PH_PROVISION:
		i->next_ms = at + d->provision_ms;
		break;
	case PH_STARTING:
		i->next_ms = at + d->start_ms;
		break;
	case PH_RUNNING:
		i->started_ms = at;
		i->status_msg[0] = '\0';
		break;
	case PH_STOPPING:
		i->next_ms = at + d->stop_ms;
		break;
	case PH_TERMINATING:
		i->next_ms = at + d->terminate_ms;
		if (i->end_ms < 0)
			i->end_ms = at;
		break;
	case PH_GONE:
		if (i->end_ms < 0)
			i->end_ms = at;
		break;
	default:
		break;
	}
	bill_update(i, at);
}

void
sim_inst_boot(struct sim *s, struct sim_inst *i, int64_t at)
{
	sim_inst_set_phase(s, i, PH_PROVISION, at);
}

void
sim_inst_stop(struct sim *s, struct sim_inst *i, int64_t at)
{
	sim_inst_set_phase(s, i, PH_STOPPING, at);
}

void
sim_inst_terminate(struct sim *s, struct sim_inst *i, int64_t at)
{
	i->interrupt_ms = -1;
	i->reprice_ms = -1;
	sim_inst_set_phase(s, i, PH_TERMINATING, at);
}

void
sim_inst_interrupt(struct sim *s, struct sim_inst *i, int64_t at)
{
	switch (i->phase) {
	case PH_PROVISION:
	case PH_STARTING:
	case PH_RUNNING:
	case PH_STOPPING:
	case PH_FAILED:
		(void)snprintf(i->status_msg, sizeof(i->status_msg),
		    "interrupted: outbid or reclaimed by the host");
		sim_inst_set_phase(s, i, PH_INTERRUPTED, at);
		break;
	default:
		break;
	}
}

void
sim_inst_reprice(struct sim *s, struct sim_inst *i, money_t price,
    int64_t at)
{
	(void)s;
	i->price = price;
	if (i->phase != PH_GONE && i->phase != PH_TERMINATING)
		bill_update(i, at);
}

static void
inst_auto(struct sim *s, struct sim_inst *i, int64_t at)
{
	switch (i->phase) {
	case PH_PROVISION:
		sim_inst_set_phase(s, i, PH_STARTING, at);
		break;
	case PH_STARTING:
		sim_inst_set_phase(s, i, PH_RUNNING, at);
		break;
	case PH_STOPPING:
		sim_inst_set_phase(s, i, PH_STOPPED, at);
		break;
	case PH_TERMINATING:
		sim_inst_set_phase(s, i, PH_GONE, at);
		break;
	default:
		i->next_ms = -1;
		break;
	}
}

/* Run every event due by now, in time order, per instance. */
void
sim_tick(struct sim *s, int64_t now)
{
	size_t		 k;
	struct sim_inst	*i;
	int64_t		 t;

	for (k = 0; k < s->ninsts; k++) {
		i = s->insts[k];
		for (;;) {
			t = -1;
			if (i->next_ms >= 0)
				t = i->next_ms;
			if (i->interrupt_ms >= 0 &&
			    (t < 0 || i->interrupt_ms < t))
				t = i->interrupt_ms;
			if (i->reprice_ms >= 0 && (t < 0 || i->reprice_ms < t))
				t = i->reprice_ms;
			if (t < 0 || t > now)
				break;
			if (t == i->interrupt_ms) {
				i->interrupt_ms = -1;
				sim_inst_interrupt(s, i, t);
			} else if (t == i->reprice_ms) {
				i->reprice_ms = -1;
				sim_inst_reprice(s, i, i->reprice_to, t);
			} else
				inst_auto(s, i, t);
		}
	}
}

/* ---- capacity ---- */

int
sim_sku_used(struct sim *s, enum sim_prov p, int sku)
{
	size_t	 k;
	int	 n = 0;

	for (k = 0; k < s->ninsts; k++) {
		if (s->insts[k]->prov != p || s->insts[k]->sku != sku ||
		    !sim_inst_holds(s->insts[k]))
			continue;
		n += p == SIM_RUNPOD ? s->insts[k]->gpus : 1;
	}
	return n;
}

int
sim_sku_free(struct sim *s, enum sim_prov p, int sku)
{
	int	 f;

	if (sku < 0 || (size_t)sku >= s->p[p].nskus)
		return 0;
	f = s->p[p].skus[sku].capacity - sim_sku_used(s, p, sku);
	return f < 0 ? 0 : f;
}

int
sim_sku_pick(struct sim *s, enum sim_prov p, const char *gpu,
    const char *region)
{
	const struct sim_pconf	*c = &s->p[p];
	const struct gpu_model	*m = NULL;
	size_t			 k;

	if (gpu != NULL)
		m = catalog_find(gpu);
	for (k = 0; k < c->nskus; k++) {
		const struct sim_sku *u = &c->skus[k];

		if (gpu != NULL && strcasecmp(u->gpu, gpu) != 0 &&
		    (m == NULL || u->model != m) &&
		    (u->type == NULL || strcmp(u->type, gpu) != 0))
			continue;
		if (region != NULL && strcmp(u->region, region) != 0)
			continue;
		return (int)k;
	}
	return -1;
}

/* ---- JSON views ---- */

static json_t *
money_json(money_t m)
{
	char	 b[32];

	return json_string(money_fmt(m, b, sizeof(b)));
}

static json_t *
ms_or_null(int64_t ms)
{
	return ms < 0 ? json_null() : json_integer(ms);
}

json_t *
sim_inst_summary(struct sim *s, const struct sim_inst *i, int64_t now)
{
	json_t	*o;

	(void)s;
	o = jpack("{s:s, s:s, s:o, s:s, s:s, s:s, s:i, s:s, s:I, s:o,"
	    " s:I, s:b, s:b, s:I, s:I, s:o, s:i}",
	    "provider", sim_prov_name(i->prov),
	    "id", i->id,
	    "label", i->label != NULL ? json_string(i->label) : json_null(),
	    "phase", sim_phase_name(i->phase),
	    "status", status_words[i->prov][i->phase],
	    "gpu", i->gpu != NULL ? i->gpu : "",
	    "gpus", i->gpus,
	    "region", i->region != NULL ? i->region : "",
	    "price_micros", (json_int_t)i->price,
	    "price", money_json(i->price),
	    "storage_micros", (json_int_t)i->storage,
	    "interruptible", i->interruptible,
	    "control", i->control,
	    "created_ms", (json_int_t)i->created_ms,
	    "visible_ms", (json_int_t)i->visible_ms,
	    "next_ms", ms_or_null(i->next_ms),
	    "sku", i->sku);
	if (i->status_msg[0] != '\0')
		json_object_set_new(o, "status_msg",
		    json_string(i->status_msg));
	(void)now;
	return o;
}

static json_t *
billing_entry(const struct sim_inst *i, int64_t now)
{
	json_t	*segs = json_array(), *o;
	size_t	 k;
	money_t	 billed = sim_inst_billed(i, now);
	money_t	 rate;

	for (k = 0; k < i->nsegs; k++) {
		const struct sim_seg *g = &i->segs[k];

		json_array_append_new(segs, jpack("{s:I, s:o, s:I, s:I}",
		    "start_ms", (json_int_t)g->start_ms,
		    "end_ms", ms_or_null(g->end_ms),
		    "rate_micros", (json_int_t)g->rate,
		    "billed_micros",
		    (json_int_t)sim_seg_billed(i->prov, g, now)));
	}
	/* the rate it bills at now, or the last one it billed at */
	rate = i->nsegs > 0 ? i->segs[i->nsegs - 1].rate : 0;
	o = jpack("{s:s, s:s, s:o, s:s, s:I, s:o, s:o, s:I, s:o,"
	    " s:I, s:I, s:o, s:o}",
	    "provider", sim_prov_name(i->prov),
	    "id", i->id,
	    "label", i->label != NULL ? json_string(i->label) : json_null(),
	    "phase", sim_phase_name(i->phase),
	    "created_ms", (json_int_t)i->created_ms,
	    "start_ms", ms_or_null(sim_inst_bill_start(i)),
	    "end_ms", ms_or_null(i->end_ms),
	    "rate_micros", (json_int_t)rate,
	    "rate", money_json(rate),
	    "rate_now_micros", (json_int_t)sim_inst_rate_now(i),
	    "billed_micros", (json_int_t)billed,
	    "billed", money_json(billed),
	    "segments", segs);
	return o;
}

json_t *
sim_billing_json(struct sim *s, int64_t now)
{
	json_t	*arr = json_array();
	money_t	 total = 0, per[SIM_PROV__COUNT] = { 0 };
	size_t	 k;
	char	 iso[32];

	for (k = 0; k < s->ninsts; k++) {
		const struct sim_inst *i = s->insts[k];
		money_t b = sim_inst_billed(i, now);

		total += b;
		per[i->prov] += b;
		json_array_append_new(arr, billing_entry(i, now));
	}
	return jpack("{s:I, s:s, s:I, s:o, s:{s:I, s:I, s:I}, s:o}",
	    "now_ms", (json_int_t)now,
	    "now", time_iso8601(now, iso, sizeof(iso)),
	    "total_micros", (json_int_t)total,
	    "total", money_json(total),
	    "per_provider_micros",
	    "vastai", (json_int_t)per[SIM_VAST],
	    "runpod", (json_int_t)per[SIM_RUNPOD],
	    "lambda", (json_int_t)per[SIM_LAMBDA],
	    "instances", arr);
}

static json_t *
sku_json(struct sim *s, enum sim_prov p, size_t k)
{
	const struct sim_sku	*u = &s->p[p].skus[k];
	json_t			*o;

	o = jpack("{s:i, s:s, s:i, s:i, s:s, s:I, s:o, s:I, s:I, s:i,"
	    " s:i, s:i}",
	    "sku", (int)k,
	    "gpu", u->gpu,
	    "count", u->count,
	    "vram_gb", u->vram_gb,
	    "region", u->region,
	    "price_micros", (json_int_t)u->price,
	    "price", money_json(u->price),
	    "storage_micros", (json_int_t)u->storage,
	    "min_bid_micros", (json_int_t)u->min_bid,
	    "capacity", u->capacity,
	    "used", sim_sku_used(s, p, (int)k),
	    "free", sim_sku_free(s, p, (int)k));
	if (u->model != NULL)
		json_object_set_new(o, "canonical",
		    json_string(u->model->name));
	if (u->type != NULL)
		json_object_set_new(o, "type", json_string(u->type));
	if (u->cloud != NULL)
		json_object_set_new(o, "cloud", json_string(u->cloud));
	if (u->geo != NULL)
		json_object_set_new(o, "geolocation", json_string(u->geo));
	if (p == SIM_VAST)
		json_object_set_new(o, "ask_base",
		    json_integer((json_int_t)u->ask_base));
	return o;
}

json_t *
sim_state_json(struct sim *s, int64_t now)
{
	json_t	*provs = json_object(), *insts = json_array(), *faults;
	json_t	*pj, *skus, *keys;
	size_t	 k;
	int	 p;
	char	 iso[32];

	for (p = 0; p < SIM_PROV__COUNT; p++) {
		const struct sim_pconf *c = &s->p[p];

		skus = json_array();
		for (k = 0; k < c->nskus; k++)
			json_array_append_new(skus, sku_json(s, p, k));
		keys = json_array();
		for (k = 0; k < c->nsshkeys; k++)
			json_array_append_new(keys, json_string(
			    c->sshkeys[k].name));
		/* the API keys themselves are never shown */
		pj = jpack("{s:o, s:i, s:{s:I, s:I, s:I, s:I}, s:b, s:o}",
		    "skus", skus,
		    "api_keys", (int)c->nkeys,
		    "delays",
		    "provision_ms", (json_int_t)c->d.provision_ms,
		    "start_ms", (json_int_t)c->d.start_ms,
		    "stop_ms", (json_int_t)c->d.stop_ms,
		    "terminate_ms", (json_int_t)c->d.terminate_ms,
		    "rate_limits", c->rl_on,
		    "ssh_keys", keys);
		json_object_set_new(provs, sim_prov_name(p), pj);
	}
	for (k = 0; k < s->ninsts; k++)
		json_array_append_new(insts,
		    sim_inst_summary(s, s->insts[k], now));
	faults = json_array();
	for (k = 0; k < s->nfaults; k++)
		json_array_append_new(faults, fault_json(&s->faults[k]));
	return jpack("{s:I, s:s, s:f, s:I, s:o, s:o, s:o}",
	    "now_ms", (json_int_t)now,
	    "now", time_iso8601(now, iso, sizeof(iso)),
	    "time_scale", s->scale,
	    "seed", (json_int_t)s->seed,
	    "providers", provs,
	    "instances", insts,
	    "faults", faults);
}

json_t *
jpack(const char *fmt, ...)
{
	va_list		 ap;
	json_t		*j;
	json_error_t	 je;

	va_start(ap, fmt);
	j = json_vpack_ex(&je, 0, fmt, ap);
	va_end(ap);
	if (j == NULL)
		BUG("json pack '%s': %s", fmt, je.text);
	return j;
}
