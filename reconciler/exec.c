/*
 * exec.c: carry out a plan.  Ledger-only actions (record, adopt) first,
 * then every provider call in parallel on a small pool of threads.
 *
 * Money rules kept here:
 * - a spawn intent is committed to the ledger before the provider call,
 *   with the owner label the instance will carry;
 * - a termination is marked STOPPING before the call, and is TERMINATED
 *   only once get() shows the instance gone (billing end confirmed);
 * - a spawn whose reply was lost is never retried here: the row stays
 *   IDLE and the next pass searches the provider's list for its label;
 * - the billed price is checked against the group's max right after the
 *   spawn; an instance above it is terminated at once.
 */
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

#define MAX_RATE_WAITS		5	/* rate limits per call, not attempts */
#define MAX_TRANSIENT_TRIES	3	/* tries of an idempotent call */
#define MAX_OFFERS_TRIED	3	/* offers per provider per spawn */
/*
 * A termination the provider accepted but does not show ending yet is
 * asked again no sooner than this (see diff.c gate_terminations): some
 * providers show an instance running for a while after they took the
 * request, and a pass that "did something" is followed at once by the
 * next one.
 */
#define TERMINATE_REASK_MS	(10 * 1000)

struct job {
	struct ctx		*c;
	const struct action	*a;
	int			 rc;
	struct gr_err		 err;
	bool			 mutated;	/* a mutating call was made */
	bool			 replaced_old;	/* replace: old one is gone */
	bool			 ran;		/* false: skipped (stopping) */
	struct bootstrap	 bs;		/* the group's generated script */
};

struct pool {
	struct job	*jobs;
	size_t		 njobs;
	size_t		 next;
	pthread_mutex_t	 mtx;
};

void
row_apply_seen(struct ledger_inst *r, const struct instance *in, int64_t now)
{
	if (in->id != NULL && r->provider_id == NULL)
		r->provider_id = xstrdup(in->id);
	if (in->state != INST_TERMINATED)
		r->state = in->state;
	if (in->billing) {
		if (r->billing_start_ms == 0)
			r->billing_start_ms = now;
		if (in->price > 0 || r->price == 0)
			r->price = in->price;
	}
	if (in->region != NULL) {
		free(r->region);
		r->region = xstrdup(in->region);
	}
	if (in->ssh_host != NULL) {
		free(r->ssh_host);
		r->ssh_host = xstrdup(in->ssh_host);
		r->ssh_port = in->ssh_port;
	}
	if (in->ssh_user != NULL) {
		free(r->ssh_user);
		r->ssh_user = xstrdup(in->ssh_user);
	}
}

static void
row_set_error(struct ledger_inst *r, const struct gr_err *e)
{
	char	 msg[1024];

	free(r->last_error);
	r->last_error = e != NULL ? xstrdup(gr_err_str(e, msg, sizeof(msg))) :
	    NULL;
}

static bool
worse(enum gr_code a, enum gr_code b)
{
	/* a non-retryable error decides the exit over a retryable one */
	if (b == GR_OK)
		return a != GR_OK;
	return !gr_code_retryable(a) && gr_code_retryable(b);
}

/*
 * Count a failed attempt at filling a slot: backoff before the next one,
 * and given up (reported) after the run's attempts, or at once when
 * now is set (an error that retrying cannot mend).
 */
static void
note_slot_failure(struct ctx *c, const char *addr, const struct gr_err *e,
    bool now)
{
	struct slot_state	*ss;

	if (c->run == NULL)
		return;
	pthread_mutex_lock(&c->run->mtx);
	ss = run_slot(c->run, addr);
	ss->attempts++;
	gr_err_copy(&ss->last, e);
	ss->next_try_ms = clock_now_ms() + run_backoff_ms(c->run,
	    ss->attempts);
	ss->given_up = ss->attempts >= c->run->max_attempts || now;
	pthread_mutex_unlock(&c->run->mtx);
}

/* Ledger-only: record what a provider said (no provider call). */
static int
exec_record(struct ctx *c, const struct action *a, struct gr_err *e)
{
	struct ledger_inst	 r;
	int64_t			 now = clock_now_ms();
	const char		*kind;
	int			 rc;

	memset(&r, 0, sizeof(r));
	if (ledger_get(c->ledger, a->uid, &r, e) == -1)
		return -1;
	if (a->has_seen) {
		/* an adoption records the id the label was found under */
		if (a->kind == ACT_ADOPT && a->seen.id != NULL &&
		    (r.provider_id == NULL ||
		    strcmp(r.provider_id, a->seen.id) != 0)) {
			free(r.provider_id);
			r.provider_id = xstrdup(a->seen.id);
		}
		row_apply_seen(&r, &a->seen, now);
	}
	if (a->spec_file != NULL) {
		free(r.spec_file);
		r.spec_file = xstrdup(a->spec_file);
	}
	if (a->to == INST_TERMINATED) {
		r.state = INST_TERMINATED;
		if (a->billing_end || r.billing_start_ms > 0)
			r.billing_end_ms = now;
		kind = r.provider_id == NULL ? "spawn-lost" :
		    a->billing_end ? "terminated" : "vanished";
		if (strstr(a->reason, "vanished") != NULL)
			kind = "vanished";
		/* a termination keeps the reason it was started for */
		if (r.end_reason == NULL || strcmp(kind, "terminated") != 0) {
			free(r.end_reason);
			r.end_reason = xstrdup(kind);
		}
	} else {
		r.state = a->to;
		if (a->kind == ACT_ADOPT) {
			/* back from a wrong end (vanished, spawn-lost): it
			 * is live, so its row has no end */
			r.billing_end_ms = 0;
			free(r.end_reason);
			r.end_reason = NULL;
		}
		kind = a->kind == ACT_ADOPT ? "adopted" :
		    a->spec_file != NULL ? "spec-file" :
		    inst_state_name(a->to);
	}
	rc = ledger_update(c->ledger, &r, kind, a->reason, e);
	if (rc == 0 && a->counts_failure && a->fleet != NULL) {
		/* it ended by itself: a failed attempt of its slot */
		struct gr_err	 fe;
		char		*addr = action_address(a);

		gr_err_clear(&fe);
		gr_err_set(&fe, GR_E_CAPACITY, "%s: %s", addr, a->reason);
		note_slot_failure(c, addr, &fe, false);
		free(addr);
	}
	if (rc == 0 && (a->to == INST_TERMINATED || a->kind == ACT_ADOPT ||
	    a->to == INST_RUNNING))
		log_info("%s/%s/%d: %s (%s)", r.fleet, r.group, r.slot,
		    a->kind == ACT_ADOPT ? "adopted" :
		    inst_state_name(r.state), a->reason);
	ledger_inst_release(&r);
	return rc;
}

/*
 * Call an idempotent operation with the taxonomy's retry rules: rate
 * limits wait (Retry-After, clamped) and do not count; transient errors
 * are retried a bounded number of times with backoff.
 */
static int
call_terminate(struct ctx *c, struct provider *p, const char *id,
    struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		if (provider_terminate(p, id, e) == 0)
			return 0;
		if (e->code == GR_E_RATE_LIMIT && waits < MAX_RATE_WAITS) {
			clock_sleep_ms(run_rate_wait_ms(c->run, e, ++waits));
			continue;
		}
		if (gr_code_retryable(e->code) && e->code != GR_E_CAPACITY &&
		    ++tries < MAX_TRANSIENT_TRIES) {
			clock_sleep_ms(run_backoff_ms(c->run, tries));
			continue;
		}
		return -1;
	}
}

/* get() with the same rules; NOT_FOUND is an answer, not a failure. */
static int
call_get(struct ctx *c, struct provider *p, const char *id,
    struct instance *in, struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		instance_release(in);
		if (provider_get(p, id, in, e) == 0)
			return 0;
		if (e->code == GR_E_NOT_FOUND ||
		    e->code == GR_E_SPOT_INTERRUPTED)
			return -1;
		if (e->code == GR_E_RATE_LIMIT && waits < MAX_RATE_WAITS) {
			clock_sleep_ms(run_rate_wait_ms(c->run, e, ++waits));
			continue;
		}
		if (gr_code_retryable(e->code) && ++tries < MAX_TRANSIENT_TRIES) {
			clock_sleep_ms(run_backoff_ms(c->run, tries));
			continue;
		}
		return -1;
	}
}

/*
 * The provider took a termination that is not confirmed yet: the next
 * passes wait a little for it instead of asking again at once.  A taken
 * request also clears earlier failures of this termination.
 */
static void
note_terminate_asked(struct ctx *c, const char *provider, const char *id)
{
	struct slot_state	*ss;
	char			*key;

	if (c->run == NULL || id == NULL)
		return;
	key = xasprintf("terminate:%s/%s", provider, id);
	pthread_mutex_lock(&c->run->mtx);
	ss = run_slot(c->run, key);
	ss->attempts = 0;
	ss->given_up = false;
	gr_err_clear(&ss->last);
	ss->next_try_ms = clock_now_ms() + TERMINATE_REASK_MS;
	pthread_mutex_unlock(&c->run->mtx);
	free(key);
}

/*
 * Terminate the instance of row r: STOPPING first (the intent), then the
 * call, then confirmation, polling get() for up to wait_ms (0: once).
 * Returns 0 when the call was accepted: *gone tells whether the end of
 * billing is confirmed (row TERMINATED) or not yet (row STOPPING, the next
 * pass or run checks again).  -1 on failure (the row stays STOPPING).
 */
int
exec_terminate_row(struct ctx *c, struct ledger_inst *r, const char *reason,
    int64_t wait_ms, bool *gone, struct gr_err *e)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 ge;
	char		 addr[256];
	int64_t		 until = clock_now_ms() + wait_ms;
	bool		 ended = false;

	*gone = false;
	if (r->kind == LEDGER_KIND_ADHOC)
		snprintf(addr, sizeof(addr), "adhoc/%s", r->group);
	else
		snprintf(addr, sizeof(addr), "%s/%s/%d", r->fleet, r->group,
		    r->slot);
	if (ctx_provider(c, r->provider, &p, e) == -1)
		return -1;
	if (r->provider_id == NULL) {
		gr_err_set(e, GR_E_INTERNAL, "terminate '%s': no provider id "
		    "recorded", addr);
		return -1;
	}
	r->state = INST_STOPPING;
	row_set_error(r, NULL);
	if (r->end_reason == NULL)
		r->end_reason = xstrdup("terminated");
	if (ledger_update(c->ledger, r, "terminate-intent", reason, e) == -1)
		return -1;
	log_info("%s: terminating %s on %s (%s)", addr, r->provider_id,
	    r->provider, reason);
	if (call_terminate(c, p, r->provider_id, e) == -1) {
		gr_err_prefix(e, "terminate '%s' (%s on %s)", addr,
		    r->provider_id, r->provider);
		row_set_error(r, e);
		(void)ledger_update(c->ledger, r, "terminate-failed", e->msg,
		    &ge);
		return -1;
	}
	for (;;) {
		memset(&in, 0, sizeof(in));
		if (call_get(c, p, r->provider_id, &in, &ge) == -1)
			ended = ge.code == GR_E_NOT_FOUND ||
			    ge.code == GR_E_SPOT_INTERRUPTED;
		else
			ended = in.state == INST_TERMINATED;
		instance_release(&in);
		if (ended || clock_now_ms() >= until)
			break;
		clock_sleep_ms(c->cfg->poll_ms < 1000 ? c->cfg->poll_ms : 1000);
	}
	if (!ended) {
		note_terminate_asked(c, r->provider, r->provider_id);
		return 0;	/* not yet: the next check confirms */
	}
	r->state = INST_TERMINATED;
	r->billing_end_ms = clock_now_ms();
	if (ledger_update(c->ledger, r, "terminated", "billing end confirmed",
	    e) == -1)
		return -1;
	log_info("%s: terminated %s on %s; billing end confirmed", addr,
	    r->provider_id, r->provider);
	*gone = true;
	return 0;
}

/* Count a failed termination (stop, start) against its instance. */
static void
note_op_failure(struct ctx *c, const char *op, const struct action *a,
    const struct gr_err *e)
{
	struct slot_state	*ss;
	char			*key;

	if (c->run == NULL || a->provider_id == NULL)
		return;
	key = xasprintf("%s:%s/%s", op, a->provider, a->provider_id);
	pthread_mutex_lock(&c->run->mtx);
	ss = run_slot(c->run, key);
	ss->attempts++;
	gr_err_copy(&ss->last, e);
	ss->next_try_ms = clock_now_ms() + run_backoff_ms(c->run,
	    ss->attempts);
	ss->given_up = ss->attempts >= c->run->max_attempts ||
	    !gr_code_retryable(e->code);
	pthread_mutex_unlock(&c->run->mtx);
	free(key);
}


static int
exec_terminate(struct job *j)
{
	struct ctx		*c = j->c;
	const struct action	*a = j->a;
	struct ledger_inst	 r;
	bool			 gone;
	int			 rc;

	memset(&r, 0, sizeof(r));
	if (a->uid == 0 || ledger_get(c->ledger, a->uid, &r, &j->err) == -1) {
		/* an orphan without a row: terminate and confirm only */
		struct provider	*p;
		struct instance	 in;
		struct gr_err	 ge;

		ledger_inst_release(&r);
		gr_err_clear(&j->err);
		if (ctx_provider(c, a->provider, &p, &j->err) == -1)
			return -1;
		log_info("%s/%s: terminating orphan (%s)", a->provider,
		    a->provider_id, a->reason);
		j->mutated = true;
		if (call_terminate(c, p, a->provider_id, &j->err) == -1)
			return -1;
		memset(&in, 0, sizeof(in));
		if (call_get(c, p, a->provider_id, &in, &ge) == 0 &&
		    in.state != INST_TERMINATED) {
			log_warnx("%s/%s: orphan termination not confirmed yet",
			    a->provider, a->provider_id);
			note_terminate_asked(c, a->provider, a->provider_id);
		}
		instance_release(&in);
		return 0;
	}
	if (r.provider_id == NULL && a->provider_id != NULL)
		r.provider_id = xstrdup(a->provider_id);
	free(r.end_reason);
	r.end_reason = xstrdup(a->end_reason != NULL ? a->end_reason :
	    a->kind == ACT_ORPHAN ? "orphan" : "terminated");
	j->mutated = true;
	rc = exec_terminate_row(c, &r, a->reason, 0, &gone, &j->err);
	if (rc == 0 && a->counts_failure) {
		/* a spinup timeout, a price above the group's max, or an
		 * instance that ended by itself */
		struct gr_err	 fe;
		char		*addr = action_address(a);

		gr_err_clear(&fe);
		gr_err_set(&fe, a->has_seen &&
		    a->seen.state == INST_TERMINATED ? GR_E_CAPACITY :
		    a->gs != NULL && a->has_seen && a->seen.billing &&
		    a->seen.price > a->gs->max_price ? GR_E_INVALID_SPEC :
		    GR_E_TIMEOUT, "%s", a->reason);
		note_slot_failure(c, addr, &fe, false);
		free(addr);
	}
	ledger_inst_release(&r);
	return rc;
}

static bool
region_allowed(const struct group_spec *gs, const char *region)
{
	size_t	 i;

	if (gs->nregions == 0)
		return true;
	if (region == NULL)
		return false;
	for (i = 0; i < gs->nregions; i++)
		if (strcmp(gs->regions[i], region) == 0 ||
		    str_has_prefix(region, gs->regions[i]))
			return true;
	return false;
}

/* One spawn call with rate-limit waits and transient retries. */
static int
spawn_call(struct ctx *c, struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		instance_release(out);
		if (provider_spawn(p, req, out, e) == 0)
			return 0;
		if (e->outcome_unknown)
			return -1;	/* never retried before a list */
		if (e->code == GR_E_RATE_LIMIT && waits < MAX_RATE_WAITS) {
			clock_sleep_ms(run_rate_wait_ms(c->run, e, ++waits));
			continue;
		}
		if (e->code == GR_E_TRANSIENT && ++tries < MAX_TRANSIENT_TRIES) {
			clock_sleep_ms(run_backoff_ms(c->run, tries));
			continue;
		}
		return -1;
	}
}

enum spawn_outcome {
	SPAWN_OK,
	SPAWN_NEXT_PROVIDER,	/* this provider cannot; try the next */
	SPAWN_STOP,		/* stop trying this slot this pass */
	SPAWN_UNKNOWN,		/* reply lost: wait for the next list */
};

/* Try one provider: its offers, cheapest first. */
static enum spawn_outcome
spawn_on(struct job *j, struct ledger_inst *r, const char *pname,
    struct instance *out)
{
	struct ctx		*c = j->c;
	const struct action	*a = j->a;
	const struct group_spec	*gs = a->gs;
	struct provider		*p;
	struct offer_list	 ol = { NULL, 0 };
	struct spawn_req	 req;
	struct gr_err		*e = &j->err;
	char			 m[32], addr[256];
	size_t			 i, tried = 0, missed = 0;
	int			 waits = 0;
	bool			 have_offers;

	snprintf(addr, sizeof(addr), "%s/%s/%d", a->fleet, a->group, a->slot);
	if (ctx_provider(c, pname, &p, e) == -1)
		return SPAWN_NEXT_PROVIDER;
	for (;;) {
		if (ctx_offers(c, p, &gs->gpu, &ol, e) == 0)
			break;
		if (e->code == GR_E_RATE_LIMIT && waits++ < MAX_RATE_WAITS) {
			clock_sleep_ms(run_rate_wait_ms(c->run, e, waits));
			continue;
		}
		break;
	}
	have_offers = e->code == GR_OK;
	if (!have_offers && e->code != GR_E_UNSUPPORTED) {
		offer_list_release(&ol);
		goto classify;
	}
	memset(&req, 0, sizeof(req));
	req.label = r->label;
	req.address = addr;
	req.gpu = &gs->gpu;
	req.max_price = gs->max_price;
	req.disk_gb = gs->disk_gb;
	req.image = gs->image;
	req.regions = (const char *const *)gs->regions;
	req.nregions = gs->nregions;
	req.spot = gs->spot;
	req.bootstrap = j->bs.content;
	req.bootstrap_len = j->bs.len;
	req.env = gs->env;
	req.nenv = gs->nenv;
	gr_err_clear(e);
	for (i = 0; !have_offers || i < ol.n; i++) {
		const struct offer *o = have_offers ? &ol.v[i] : NULL;

		if (o != NULL && (o->price > gs->max_price ||
		    !region_allowed(gs, o->region)))
			continue;
		if (o != NULL && o->available <= 0) {
			missed++;	/* priced right, but none free */
			continue;
		}
		if (o != NULL &&
		    run_miss_active(c->run, pname, gs->gpu.type, o->id)) {
			missed++;	/* it said no capacity a moment ago */
			continue;
		}
		if (tried++ == MAX_OFFERS_TRIED)
			break;
		req.offer = o;
		j->mutated = true;
		if (spawn_call(c, p, &req, out, e) == 0) {
			if (o != NULL)
				ctx_offers_took(c, pname, &gs->gpu, o->id,
				    false);
			offer_list_release(&ol);
			return SPAWN_OK;
		}
		if (e->outcome_unknown) {
			if (o != NULL)
				ctx_offers_took(c, pname, &gs->gpu, o->id,
				    false);
			offer_list_release(&ol);
			return SPAWN_UNKNOWN;
		}
		if (o != NULL && (e->code == GR_E_CAPACITY ||
		    e->code == GR_E_SPOT_INTERRUPTED ||
		    e->code == GR_E_NOT_FOUND))
			ctx_offers_took(c, pname, &gs->gpu, o->id, true);
		if (e->code == GR_E_CAPACITY ||
		    e->code == GR_E_SPOT_INTERRUPTED) {
			if (c->run != NULL)
				run_miss_add(c->run, pname, gs->gpu.type,
				    o != NULL ? o->id : NULL);
			if (!have_offers)
				break;
			continue;	/* the next offer */
		}
		if (e->code == GR_E_NOT_FOUND && o != NULL)
			continue;	/* the offer went stale */
		break;
	}
	offer_list_release(&ol);
	if (tried == 0 && e->code == GR_OK && missed > 0) {
		/* not the price: those offers just had no capacity */
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on %s: no capacity: "
		    "no offer of %d %s under $%s/h%s has room now", addr,
		    pname, gs->gpu.count > 0 ? gs->gpu.count : 1,
		    gs->gpu.type,
		    money_fmt(gs->max_price, m, sizeof(m)),
		    gs->nregions > 0 ? " in the group's regions" : "");
		gr_err_hint(e, "run again later, or add a provider");
		if (c->run != NULL)
			run_miss_add(c->run, pname, gs->gpu.type, NULL);
	} else if (tried == 0 && e->code == GR_OK) {
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on %s: no %s offer "
		    "under $%s/h%s", addr, pname, gs->gpu.type,
		    money_fmt(gs->max_price, m, sizeof(m)),
		    gs->nregions > 0 ? " in the group's regions" : "");
		gr_err_hint(e, "raise max_price_per_hour, widen regions or "
		    "add a provider");
		if (c->run != NULL)
			run_miss_add(c->run, pname, gs->gpu.type, NULL);
	}
classify:
	switch (e->code) {
	case GR_E_AUTH:
	case GR_E_QUOTA_EXCEEDED:
		if (c->run != NULL)
			run_block(c->run, pname, e->code, e->msg);
		return SPAWN_NEXT_PROVIDER;
	case GR_E_INVALID_SPEC:
		if (c->run != NULL)
			run_fail_group(c->run, a->fleet, a->group, e->msg);
		return SPAWN_STOP;
	default:
		return SPAWN_NEXT_PROVIDER;
	}
}

static int
exec_spawn(struct job *j)
{
	struct ctx		*c = j->c;
	const struct action	*a = j->a;
	const struct group_spec	*gs = a->gs;
	struct ledger_inst	 r;
	struct instance		 in;
	struct gr_err		 ge;
	enum spawn_outcome	 out = SPAWN_NEXT_PROVIDER;
	char			 m1[32], m2[32];
	char			*addr = action_address(a);
	size_t			 i;
	int			 rc = -1;
	bool			 gone, rate_only;

	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	r.kind = LEDGER_KIND_FLEET;
	r.fleet = xstrdup(a->fleet);
	r.group = xstrdup(a->group);
	r.slot = a->slot;
	r.provider = xstrdup(a->provider);
	r.state = INST_IDLE;
	r.spec_hash = xstrdup(gs->hash);
	r.spec_file = xstrdup(a->fs->file);
	r.gpu = xstrdup(gs->gpu.type);
	r.gpu_count = gs->gpu.count;
	r.max_price = gs->max_price;
	if (gs->bootstrap != NULL) {
		if (bootstrap_generate(gs->bootstrap, gs->bootstrap_len,
		    gs->env, gs->nenv, &j->bs, &j->err) == -1) {
			gr_err_prefix(&j->err, "spawn '%s'", addr);
			goto out;
		}
		r.bootstrap_sha256 = xstrdup(j->bs.checksum);
	}
	if (ledger_intent_spawn(c->ledger, &r, &j->err) == -1)
		goto out;
	for (i = 0; i < gs->nproviders; i++) {
		const char *pname = gs->providers[i];

		if (run_blocked(c->run, pname) != NULL)
			continue;
		if (strcmp(r.provider, pname) != 0) {
			free(r.provider);
			r.provider = xstrdup(pname);
			if (ledger_update(c->ledger, &r, "failover", pname,
			    &ge) == -1) {
				gr_err_copy(&j->err, &ge);
				goto out;
			}
		}
		log_info("%s: spawning %s on %s (%s)", addr, gs->gpu.type,
		    pname, a->reason);
		out = spawn_on(j, &r, pname, &in);
		if (out != SPAWN_NEXT_PROVIDER)
			break;
		log_info("%s: %s: %s", addr, pname, j->err.msg);
	}
	switch (out) {
	case SPAWN_OK:
		break;
	case SPAWN_UNKNOWN:
		/* the row stays IDLE: the next pass lists and searches */
		row_set_error(&r, &j->err);
		(void)ledger_update(c->ledger, &r, "spawn-unknown",
		    "reply lost; will search the provider for the label", &ge);
		log_warnx("%s: spawn on %s may or may not have happened (%s); "
		    "the next pass looks for label %s before anything else",
		    addr, r.provider, j->err.msg, r.label);
		goto out;
	default:
		if (j->err.code == GR_OK)
			gr_err_set(&j->err, GR_E_CAPACITY, "spawn '%s': no "
			    "usable provider", addr);
		rate_only = j->err.code == GR_E_RATE_LIMIT;
		r.state = INST_TERMINATED;
		r.end_reason = xstrdup("spawn-failed");
		row_set_error(&r, &j->err);
		(void)ledger_update(c->ledger, &r, "spawn-failed", j->err.msg,
		    &ge);
		if (!rate_only)
			note_slot_failure(c, addr, &j->err,
			    !gr_code_retryable(j->err.code));
		goto out;
	}

	/*
	 * Spawned: record it before anything else, as PENDING first so the
	 * ledger shows every transition of the state machine (IDLE ->
	 * PENDING -> RUNNING) even when the provider answers RUNNING at
	 * once.
	 */
	row_apply_seen(&r, &in, clock_now_ms());
	{
		enum inst_state	 now_state = r.state;

		r.state = INST_PENDING;
		if (ledger_update(c->ledger, &r, "spawned", in.status,
		    &j->err) == -1)
			goto out;
		if (now_state == INST_RUNNING) {
			r.state = INST_RUNNING;
			if (ledger_update(c->ledger, &r, "running", in.status,
			    &j->err) == -1)
				goto out;
		}
	}
	log_info("%s: %s on %s as %s at $%s/h", addr, inst_state_name(r.state),
	    r.provider, r.provider_id, money_fmt(in.price, m1, sizeof(m1)));
	if (in.price > gs->max_price) {
		char	*why = xasprintf("billed $%s/h, above the group's max "
		    "$%s/h", money_fmt(in.price, m1, sizeof(m1)),
		    money_fmt(gs->max_price, m2, sizeof(m2)));

		log_warnx("%s: %s; terminating it", addr, why);
		(void)exec_terminate_row(c, &r, why, 0, &gone, &ge);
		gr_err_set(&j->err, GR_E_INVALID_SPEC, "spawn '%s' on %s: %s",
		    addr, r.provider, why);
		free(why);
		/* a failed attempt: a provider that bills every instance
		 * above the max is not rented from again every pass */
		note_slot_failure(c, addr, &j->err, false);
		goto out;
	}
	rc = 0;
out:
	instance_release(&in);
	ledger_inst_release(&r);
	free(addr);
	return rc;
}

static int
exec_replace(struct job *j)
{
	struct ledger_inst	 r;
	bool			 gone = false;
	int			 rc;

	memset(&r, 0, sizeof(r));
	if (ledger_get(j->c->ledger, j->a->uid, &r, &j->err) == -1)
		return -1;
	if (r.provider_id == NULL && j->a->provider_id != NULL)
		r.provider_id = xstrdup(j->a->provider_id);
	j->mutated = true;
	rc = exec_terminate_row(j->c, &r, j->a->reason, 0, &gone, &j->err);
	ledger_inst_release(&r);
	if (rc == -1 || !gone)
		return rc;	/* the next pass spawns once it is gone */
	j->replaced_old = true;
	return exec_spawn(j);
}

static int
exec_stop_start(struct job *j, bool stop)
{
	struct ctx		*c = j->c;
	struct ledger_inst	 r;
	struct provider		*p;
	int			 rc;

	memset(&r, 0, sizeof(r));
	if (ledger_get(c->ledger, j->a->uid, &r, &j->err) == -1)
		return -1;
	rc = ctx_provider(c, r.provider, &p, &j->err);
	if (rc == 0) {
		j->mutated = true;
		rc = stop ? provider_stop(p, r.provider_id, &j->err) :
		    provider_start(p, r.provider_id, &j->err);
	}
	if (rc == 0) {
		r.state = stop ? INST_STOPPED : INST_PENDING;
		rc = ledger_update(c->ledger, &r, stop ? "stopped" : "started",
		    j->a->reason, &j->err);
	}
	ledger_inst_release(&r);
	return rc;
}

static void
run_job(struct job *j)
{
	switch (j->a->kind) {
	case ACT_SPAWN:
		j->rc = exec_spawn(j);
		break;
	case ACT_REPLACE:
		j->rc = exec_replace(j);
		if (j->rc == -1 && j->err.code != GR_OK && !j->replaced_old)
			note_op_failure(j->c, "terminate", j->a, &j->err);
		break;
	case ACT_TERMINATE:
	case ACT_ORPHAN:
		j->rc = exec_terminate(j);
		if (j->rc == -1)
			note_op_failure(j->c, "terminate", j->a, &j->err);
		break;
	case ACT_STOP:
	case ACT_START:
		j->rc = exec_stop_start(j, j->a->kind == ACT_STOP);
		if (j->rc == -1)
			note_op_failure(j->c, j->a->kind == ACT_STOP ? "stop" :
			    "start", j->a, &j->err);
		break;
	default:
		j->rc = 0;
		break;
	}
}

static void *
worker(void *arg)
{
	struct pool	*pl = arg;
	size_t		 i;

	for (;;) {
		pthread_mutex_lock(&pl->mtx);
		i = pl->next++;
		pthread_mutex_unlock(&pl->mtx);
		if (i >= pl->njobs)
			return NULL;
		/* stopping (watch got SIGTERM): what runs finishes, nothing
		 * new starts */
		if (pl->jobs[i].c->run != NULL &&
		    pl->jobs[i].c->run->stop != NULL &&
		    *pl->jobs[i].c->run->stop)
			continue;
		pl->jobs[i].ran = true;
		run_job(&pl->jobs[i]);
	}
}

int
exec_plan(struct ctx *c, const struct plan *p, struct exec_result *res)
{
	struct pool	 pl;
	pthread_t	*tids;
	struct gr_err	 e;
	size_t		 i, nthreads;
	int		 par;

	memset(res, 0, sizeof(*res));
	/* Ledger-only actions first, in order. */
	for (i = 0; i < p->n; i++) {
		if (p->v[i].kind != ACT_SYNC && p->v[i].kind != ACT_ADOPT)
			continue;
		gr_err_clear(&e);
		if (exec_record(c, &p->v[i], &e) == -1) {
			res->failed++;
			if (worse(e.code, res->worst))
				res->worst = e.code;
			log_warnx("%s", e.msg);
		} else {
			res->done++;
			if (p->v[i].kind == ACT_ADOPT)
				res->spawned++;	/* a lost reply's instance */
		}
	}
	memset(&pl, 0, sizeof(pl));
	pthread_mutex_init(&pl.mtx, NULL);
	pl.jobs = xcalloc(p->n + 1, sizeof(*pl.jobs));
	for (i = 0; i < p->n; i++) {
		if (!action_mutates(&p->v[i]))
			continue;
		pl.jobs[pl.njobs].c = c;
		pl.jobs[pl.njobs].a = &p->v[i];
		gr_err_clear(&pl.jobs[pl.njobs].err);
		pl.njobs++;
	}
	par = c->opts != NULL && c->opts->parallel > 0 ? c->opts->parallel :
	    c->cfg->parallel;
	nthreads = pl.njobs < (size_t)par ? pl.njobs : (size_t)par;
	tids = xcalloc(nthreads + 1, sizeof(*tids));
	if (nthreads <= 1)
		worker(&pl);
	else {
		for (i = 0; i < nthreads; i++)
			if (pthread_create(&tids[i], NULL, worker, &pl) != 0)
				fatal("pthread_create");
		for (i = 0; i < nthreads; i++)
			pthread_join(tids[i], NULL);
	}
	for (i = 0; i < pl.njobs; i++) {
		struct job *j = &pl.jobs[i];

		bootstrap_release(&j->bs);
		if (!j->ran) {
			res->skipped++;
			continue;
		}
		if (j->mutated)
			res->mutating_calls++;
		/* a replace that terminated the old one may fail to spawn */
		if (j->a->kind == ACT_REPLACE && (j->rc == 0 || j->replaced_old))
			res->terminated++;
		if (j->rc == 0) {
			res->done++;
			if (j->a->kind == ACT_SPAWN || (j->a->kind ==
			    ACT_REPLACE && j->replaced_old))
				res->spawned++;
			else if (j->a->kind == ACT_TERMINATE ||
			    j->a->kind == ACT_ORPHAN)
				res->terminated++;
			continue;
		}
		res->failed++;
		if (worse(j->err.code, res->worst))
			res->worst = j->err.code;
		{
			char	 msg[1024];
			char	*addr = action_address(j->a);

			log_warnx("%s: %s failed: %s", addr,
			    action_kind_name(j->a->kind),
			    gr_err_str(&j->err, msg, sizeof(msg)));
			free(addr);
		}
	}
	free(tids);
	free(pl.jobs);
	pthread_mutex_destroy(&pl.mtx);
	return res->failed > 0 ? -1 : 0;
}
