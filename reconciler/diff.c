/*
 * diff.c: desired (spec) + observed (providers) + tracked (ledger) ->
 * plan.  Pure decision: no provider call but offers (for prices), no
 * ledger write.  `plan` prints it; `apply` executes it.
 *
 * Decisions, in order:
 * 1. every live ledger row is reconciled with what its provider shows
 *    (recorded transitions, confirmed terminations, vanished instances,
 *    spawns whose outcome was lost and found again by label);
 * 2. instances carrying our label without a live row are adopted into
 *    their slot when it is free, or terminated as orphans;
 * 3. each group's slots 0..count-1 are filled: spawn what is missing,
 *    replace what has an old spec hash, terminate surplus and duplicates;
 * 4. instances of fleets or groups no longer in any file are terminated,
 *    but only when their file lies under the paths given (a fleet loaded
 *    from elsewhere is left alone and reported);
 * 5. spawns are gated by the budget as a reservation (DESIGN.md section 7):
 *    pending at max price, running at billed price, stopping until the
 *    end of billing is confirmed.
 */
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

static const char *const kind_names[] = {
	[ACT_KEEP] = "keep",
	[ACT_WAIT] = "wait",
	[ACT_SPAWN] = "spawn",
	[ACT_REPLACE] = "replace",
	[ACT_TERMINATE] = "terminate",
	[ACT_ADOPT] = "adopt",
	[ACT_SYNC] = "record",
	[ACT_ORPHAN] = "orphan",
	[ACT_BLOCKED] = "blocked",
	[ACT_STOP] = "stop",
	[ACT_START] = "start",
	[ACT_EXPIRED] = "expired",
};

const char *
action_kind_name(enum action_kind k)
{
	return (size_t)k < nitems(kind_names) ? kind_names[k] : "?";
}

bool
action_mutates(const struct action *a)
{
	switch (a->kind) {
	case ACT_SPAWN:
	case ACT_REPLACE:
	case ACT_TERMINATE:
	case ACT_ORPHAN:
	case ACT_STOP:
	case ACT_START:
		return true;
	default:
		return false;
	}
}

char *
action_address(const struct action *a)
{
	if (a->fleet == NULL)
		return xasprintf("%s/%s", a->provider != NULL ? a->provider :
		    "?", a->provider_id != NULL ? a->provider_id : "?");
	if (a->slot < 0)
		return xasprintf("%s/%s", a->fleet, a->group);
	return xasprintf("%s/%s/%d", a->fleet, a->group, a->slot);
}

/* A candidate for a slot: a live row, or an adoptable instance. */
struct cand {
	struct tracked		*t;	/* NULL for an adoptable instance */
	const struct untracked	*u;
	struct ledger_inst	 urow;	/* owned: the row of u */
	const char		*fleet, *group;
	int			 slot;
	enum inst_state		 state;	/* best knowledge */
	bool			 fills;	/* occupies its slot after the plan */
	bool			 handled;
	money_t			 reserve;
};

struct planner {
	struct ctx		*c;
	const struct observation *o;
	struct plan		*p;
	struct cand		*cands;
	size_t			 ncands;
	money_t			 global_now;	/* reserved now, all fleets */
	int64_t			 now;
	struct ledger_inst	*hist;		/* every row, when ttl needs it */
	size_t			 nhist;
	bool			 hist_loaded;
};

static struct action *
plan_add(struct plan *p, enum action_kind kind, const char *fleet,
    const char *group, int slot, const char *fmt, ...) GR_PRINTF(6, 7);

static struct action *
plan_add(struct plan *p, enum action_kind kind, const char *fleet,
    const char *group, int slot, const char *fmt, ...)
{
	struct action	*a;
	va_list		 ap;

	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->fleet = fleet != NULL ? xstrdup(fleet) : NULL;
	a->group = group != NULL ? xstrdup(group) : NULL;
	a->slot = slot;
	va_start(ap, fmt);
	a->reason = xvasprintf(fmt, ap);
	va_end(ap);
	if (action_mutates(a))
		p->nchanges++;
	return a;
}

static void
plan_warn(struct plan *p, const char *fmt, ...) GR_PRINTF(2, 3);

static void
plan_warn(struct plan *p, const char *fmt, ...)
{
	va_list	 ap;
	char	*w;
	size_t	 i;

	va_start(ap, fmt);
	w = xvasprintf(fmt, ap);
	va_end(ap);
	for (i = 0; i < p->nwarnings; i++) {
		if (strcmp(p->warnings[i], w) == 0) {
			free(w);
			return;
		}
	}
	p->warnings = xreallocarray(p->warnings, p->nwarnings + 1,
	    sizeof(*p->warnings));
	p->warnings[p->nwarnings++] = w;
}

static struct fleet_money *
fleet_money(struct planner *pl, const char *fleet)
{
	struct plan			*p = pl->p;
	struct fleet_money		*fm;
	const struct fleet_spec		*fs;
	size_t				 i;

	for (i = 0; i < p->nfleets; i++)
		if (strcmp(p->fleets[i].fleet, fleet) == 0)
			return &p->fleets[i];
	p->fleets = xreallocarray(p->fleets, p->nfleets + 1,
	    sizeof(*p->fleets));
	fm = &p->fleets[p->nfleets++];
	memset(fm, 0, sizeof(*fm));
	fm->fleet = xstrdup(fleet);
	fs = pl->c->spec != NULL ? spec_fleet(pl->c->spec, fleet) : NULL;
	if (fs != NULL && fs->has_budget) {
		fm->cap = fs->max_per_hour;
		fm->has_cap = true;
	}
	return fm;
}

/* Fill an action's instance fields from a ledger row. */
static void
action_from_row(struct action *a, const struct ledger_inst *r,
    const struct instance *seen)
{
	a->uid = r->uid;
	a->provider = xstrdup(r->provider);
	if (r->provider_id != NULL)
		a->provider_id = xstrdup(r->provider_id);
	else if (seen != NULL && seen->id != NULL)
		a->provider_id = xstrdup(seen->id);
	a->gpu = xstrdup(r->gpu != NULL ? r->gpu : "?");
	a->gpu_count = r->gpu_count;
	a->price = seen != NULL && seen->price > 0 ? seen->price :
	    r->price > 0 ? r->price : r->max_price;
	if (seen != NULL && !a->has_seen) {
		instance_copy(&a->seen, seen);
		a->has_seen = true;
	}
}

/* What a row reserves now (DESIGN.md section 7). */
money_t
row_reserve(const struct ledger_inst *r, const struct instance *seen)
{
	money_t	 billed = seen != NULL && seen->billing ? seen->price :
	    r->price;

	switch (r->state) {
	case INST_IDLE:
	case INST_PENDING:
		/* the pass that records it running already counts it so */
		if (seen != NULL && seen->billing && seen->state ==
		    INST_RUNNING)
			return seen->price;
		return r->max_price;
	case INST_RUNNING:
	case INST_STOPPED:
	case INST_STOPPING:
		return billed > 0 || r->billing_start_ms > 0 ? billed :
		    r->max_price;
	default:
		return 0;
	}
}

static bool
is_live(enum inst_state s)
{
	return s == INST_IDLE || s == INST_PENDING || s == INST_RUNNING ||
	    s == INST_STOPPED;
}

static bool
group_has_provider(const struct group_spec *gs, const char *name)
{
	size_t	 i;

	for (i = 0; i < gs->nproviders; i++)
		if (strcmp(gs->providers[i], name) == 0)
			return true;
	return false;
}

/*
 * Step 1: reconcile each live row with what its provider shows.  Decides
 * whether the row still fills its slot.
 */
static void
step_rows(struct planner *pl)
{
	const struct observation	*o = pl->o;
	struct plan			*p = pl->p;
	size_t				 i;

	for (i = 0; i < o->ntracked; i++) {
		struct tracked		*t = &o->tracked[i];
		struct ledger_inst	*r = &t->row;
		const struct instance	*in = t->seen;
		struct cand		*cd;
		struct action		*a;
		struct fleet_money	*fm;
		const struct provider_timeouts *to;
		int64_t			 age = pl->now - r->created_ms;
		bool			 gone;

		/*
		 * A spawn whose outcome is unknown was sent at the end of
		 * its call, not at its intent: rate-limit waits, retries
		 * and failovers may come between.  Its grace for showing
		 * up in list counts from the last write of its row (the
		 * spawn-unknown, or a crash's failover), else the window
		 * may be over before the first look, and the slot spawned
		 * twice.
		 */
		if (r->provider_id == NULL && r->updated_ms > r->created_ms)
			age = pl->now - r->updated_ms;

		if (r->kind != LEDGER_KIND_FLEET) {
			/* ad-hoc instances are no fleet's, but they spend
			 * money: they count against the global cap */
			if (t->bucket != BUCKET_MISSING ||
			    r->state == INST_STOPPING)
				pl->global_now += row_reserve(r, in);
			continue;
		}
		to = &config_provider(pl->c->cfg, r->provider)->timeouts;
		pl->cands = xreallocarray(pl->cands, pl->ncands + 1,
		    sizeof(*pl->cands));
		cd = &pl->cands[pl->ncands++];
		memset(cd, 0, sizeof(*cd));
		cd->t = t;
		cd->fleet = r->fleet;
		cd->group = r->group;
		cd->slot = r->slot;
		cd->state = r->state;
		gone = t->bucket != BUCKET_UNKNOWN &&
		    (in == NULL || in->state == INST_TERMINATED);
		/* a confirmed end of billing frees its reservation now */
		cd->reserve = r->state == INST_STOPPING && gone ? 0 :
		    row_reserve(r, in);
		fm = fleet_money(pl, r->fleet);
		fm->before += cd->reserve;
		pl->global_now += cd->reserve;

		if (t->bucket == BUCKET_UNKNOWN) {
			const struct prov_obs *po = observation_provider(o,
			    r->provider);

			if (po != NULL && po->ok)
				/* listed, but this one was not in the list
				 * and get could not tell (observe.c) */
				plan_warn(p, "%s/%s/%d: %s is not in the list "
				    "of '%s' and get failed; left as it is "
				    "this pass", r->fleet, r->group, r->slot,
				    r->provider_id != NULL ? r->provider_id :
				    "?", r->provider);
			else
				plan_warn(p, "provider '%s' could not be "
				    "listed (%s); its instances are left as "
				    "they are this pass", r->provider,
				    po != NULL ? po->err.msg : "?");
			cd->fills = is_live(r->state);
			continue;
		}
		if (r->state == INST_STOPPING) {
			if (gone) {
				a = plan_add(p, ACT_SYNC, r->fleet, r->group,
				    r->slot, "termination confirmed");
				action_from_row(a, r, in);
				a->to = INST_TERMINATED;
				a->billing_end = true;
			} else if (in->state == INST_STOPPING &&
			    pl->now - r->updated_ms < to->teardown_ms) {
				a = plan_add(p, ACT_WAIT, r->fleet, r->group,
				    r->slot, "terminating; waiting for the "
				    "provider to confirm");
				action_from_row(a, r, in);
				a->stopping_wait = true;
			} else if (in->state == INST_STOPPING) {
				a = plan_add(p, ACT_TERMINATE, r->fleet,
				    r->group, r->slot, "termination not "
				    "confirmed after %llds; asking again",
				    (long long)(pl->now - r->updated_ms) /
				    1000);
				action_from_row(a, r, in);
				a->stopping_wait = true;
			} else {
				a = plan_add(p, ACT_TERMINATE, r->fleet,
				    r->group, r->slot, "termination not "
				    "confirmed (provider says %s); retrying",
				    in->status != NULL ? in->status :
				    inst_state_name(in->state));
				action_from_row(a, r, in);
			}
			continue;
		}
		if (!gone) {
			cd->state = in->state;
			cd->fills = true;
			if (r->provider_id == NULL) {
				a = plan_add(p, ACT_ADOPT, r->fleet, r->group,
				    r->slot, "spawn outcome was lost; found "
				    "by its label");
				action_from_row(a, r, in);
				a->to = in->state;
			} else if (in->id != NULL &&
			    strcmp(in->id, r->provider_id) != 0) {
				a = plan_add(p, ACT_ADOPT, r->fleet, r->group,
				    r->slot, "found by its label under id %s, "
				    "not %s", in->id, r->provider_id);
				action_from_row(a, r, in);
				free(a->provider_id);
				a->provider_id = xstrdup(in->id);
				a->to = in->state;
			} else if (in->state != r->state ||
			    (in->billing && r->billing_start_ms == 0) ||
			    (in->billing && in->price != r->price)) {
				a = plan_add(p, ACT_SYNC, r->fleet, r->group,
				    r->slot, "provider says %s",
				    inst_state_name(in->state));
				action_from_row(a, r, in);
				a->to = in->state;
			}
			continue;
		}
		/* Tracked, but gone or not listed. */
		if (in == NULL && age < to->grace_ms) {
			cd->fills = true;
			a = plan_add(p, ACT_WAIT, r->fleet, r->group, r->slot,
			    r->provider_id == NULL ? "spawn outcome unknown; "
			    "waiting for its label to show up" :
			    "not listed yet");
			action_from_row(a, r, in);
			a->pending_alloc = true;
			continue;
		}
		if (r->provider_id == NULL) {
			a = plan_add(p, ACT_SYNC, r->fleet, r->group, r->slot,
			    "spawn never showed up at %s", r->provider);
			action_from_row(a, r, in);
			a->to = INST_TERMINATED;
		} else if (in != NULL) {
			/* the provider still knows it, as ended */
			a = plan_add(p, ACT_TERMINATE, r->fleet, r->group,
			    r->slot, "instance ended on its own (%s); cleaning "
			    "up", in->status != NULL ? in->status : "gone");
			action_from_row(a, r, in);
			/* a failed attempt of its slot (see below) */
			a->counts_failure = true;
		} else {
			a = plan_add(p, ACT_SYNC, r->fleet, r->group, r->slot,
			    "vanished: %s no longer has it", r->provider);
			action_from_row(a, r, in);
			a->to = INST_TERMINATED;
			a->billing_end = true;
			/*
			 * Its slot's attempt failed: instances that die by
			 * themselves (a bad image, a failing host) must not
			 * be rented again at once every pass.
			 */
			a->counts_failure = true;
		}
	}
}

static struct cand *
slot_keeper(struct planner *pl, const char *fleet, const char *group,
    int slot)
{
	size_t	 i;

	for (i = 0; i < pl->ncands; i++) {
		struct cand *cd = &pl->cands[i];

		if (cd->fills && cd->slot == slot &&
		    strcmp(cd->fleet, fleet) == 0 &&
		    strcmp(cd->group, group) == 0)
			return cd;
	}
	return NULL;
}

/* An orphan action for an untracked instance: its own provider and id. */
static void
orphan_from_seen(struct action *a, const struct untracked *u)
{
	a->uid = 0;	/* no row of its own: terminate and confirm only */
	a->provider = xstrdup(u->provider);
	a->provider_id = xstrdup(u->seen->id);
	a->gpu = xstrdup(u->seen->gpu ? u->seen->gpu : "?");
	a->gpu_count = u->seen->gpu_count;
	a->price = u->seen->price;
	instance_copy(&a->seen, u->seen);
	a->has_seen = true;
}

/*
 * Whether the row of an untracked instance's label is that instance's
 * own: a row no longer live (a live row claims its instance in observe,
 * so an untracked one is a twin), on the same provider, that recorded
 * no id or this id.  Only then may the row be adopted back or used to
 * terminate it; otherwise the row's provider id names another instance.
 */
static bool
row_is_its(const struct ledger_inst *row, const struct untracked *u)
{
	return row->state == INST_TERMINATED &&
	    strcmp(row->provider, u->provider) == 0 &&
	    (row->provider_id == NULL ||
	    strcmp(row->provider_id, u->seen->id) == 0);
}

/* Step 2: our label without a live row: adopt into a free slot, or not. */
static void
step_untracked(struct planner *pl)
{
	const struct observation	*o = pl->o;
	struct plan			*p = pl->p;
	struct gr_err			 e;
	size_t				 i;

	for (i = 0; i < o->nuntracked; i++) {
		const struct untracked	*u = &o->untracked[i];
		struct ledger_inst	 row;
		const struct fleet_spec	*fs = NULL;
		const struct group_spec	*gs = NULL;
		struct action		*a;
		struct cand		*cd;

		if (!u->ours) {
			p->nforeign++;
			continue;
		}
		memset(&row, 0, sizeof(row));
		if (pl->c->ledger == NULL || ledger_get(pl->c->ledger, u->uid,
		    &row, &e) == -1 || row.kind != LEDGER_KIND_FLEET) {
			ledger_inst_release(&row);
			a = plan_add(p, ACT_ORPHAN, NULL, NULL, -1, "carries "
			    "this ledger's label '%s' but has no ledger row",
			    u->seen->label);
			orphan_from_seen(a, u);
			pl->global_now += u->seen->price;
			continue;
		}
		if (!row_is_its(&row, u)) {
			/*
			 * A twin: another instance carries this row's label
			 * (a spawn retried, or failed over, after an error
			 * that hid its success), while the row tracks, or
			 * tracked, a different one.  The row is not this
			 * instance's: end the twin by its own id, and leave
			 * the row alone.
			 */
			a = plan_add(p, ACT_ORPHAN, row.fleet, row.group,
			    row.slot, "a second instance with the label of "
			    "row %lld, which tracks %s on %s",
			    (long long)row.uid, row.provider_id != NULL ?
			    row.provider_id : "no instance", row.provider);
			orphan_from_seen(a, u);
			fleet_money(pl, row.fleet)->before += u->seen->price;
			pl->global_now += u->seen->price;
			ledger_inst_release(&row);
			continue;
		}
		if (pl->c->spec != NULL)
			fs = spec_fleet(pl->c->spec, row.fleet);
		if (fs != NULL)
			gs = spec_group(fs, row.group);
		if (gs != NULL && row.slot < gs->count &&
		    slot_keeper(pl, row.fleet, row.group, row.slot) == NULL &&
		    strcmp(row.spec_hash != NULL ? row.spec_hash : "",
		    gs->hash) == 0) {
			a = plan_add(p, ACT_ADOPT, row.fleet, row.group,
			    row.slot, "our instance was marked %s but is "
			    "still there; adopted back into its slot",
			    inst_state_name(row.state));
			action_from_row(a, &row, u->seen);
			a->provider_id = a->provider_id != NULL ?
			    a->provider_id : xstrdup(u->seen->id);
			a->to = u->seen->state;
			pl->cands = xreallocarray(pl->cands, pl->ncands + 1,
			    sizeof(*pl->cands));
			cd = &pl->cands[pl->ncands++];
			memset(cd, 0, sizeof(*cd));
			cd->u = u;
			cd->urow = row;		/* ownership moves */
			cd->fleet = cd->urow.fleet;
			cd->group = cd->urow.group;
			cd->slot = cd->urow.slot;
			cd->state = u->seen->state;
			cd->fills = true;
			/* what the row reserves once adopted: a pending one
			 * its max price (DESIGN.md section 7), not its offer */
			{
				struct ledger_inst as = cd->urow;

				as.state = u->seen->state;
				cd->reserve = row_reserve(&as, u->seen);
			}
			fleet_money(pl, cd->fleet)->before += cd->reserve;
			pl->global_now += cd->reserve;
			continue;
		}
		a = plan_add(p, ACT_ORPHAN, row.fleet, row.group, row.slot,
		    "our instance outside any free slot (its row is %s)",
		    inst_state_name(row.state));
		if (row.provider_id != NULL) {
			/* its own row (row_is_its): the termination is
			 * recorded there, and checked again from it */
			action_from_row(a, &row, u->seen);
		} else {
			/*
			 * A row that never learned its id may be adopted
			 * by another instance with its label in this very
			 * plan (recorded first): through the row this
			 * would terminate that one.  By its own id.
			 */
			orphan_from_seen(a, u);
		}
		a->price = u->seen->price;
		fleet_money(pl, row.fleet)->before += u->seen->price;
		pl->global_now += u->seen->price;
		ledger_inst_release(&row);
	}
}

/* The expected price of a spawn: the cheapest offer within max price. */
static money_t
expected_price(struct planner *pl, const struct group_spec *gs,
    const char **provider, bool *found)
{
	struct offer_list	 ol = { NULL, 0 };
	struct provider		*prov;
	struct gr_err		 e;
	money_t			 price = gs->max_price;
	size_t			 i, k;

	*found = false;
	*provider = gs->providers[0];
	for (i = 0; i < gs->nproviders; i++) {
		if (run_blocked(pl->c->run, gs->providers[i]) != NULL)
			continue;
		*provider = gs->providers[i];
		if (ctx_provider(pl->c, gs->providers[i], &prov, &e) == -1 ||
		    ctx_offers(pl->c, prov, &gs->gpu, &ol, &e) == -1) {
			/* cannot tell: the spawn will find out */
			*found = true;
			offer_list_release(&ol);
			return price;
		}
		for (k = 0; k < ol.n; k++) {
			if (ol.v[k].price <= gs->max_price &&
			    ol.v[k].available > 0) {
				price = ol.v[k].price;
				*provider = gs->providers[i];
				*found = true;
				offer_list_release(&ol);
				return price;
			}
		}
		offer_list_release(&ol);
	}
	return price;
}

/*
 * A tracked instance whose money counts against a cap (a fleet's, or the
 * global one with fleet NULL) but that could not be checked this pass:
 * its provider could not be listed, so what it bills now is unknown (the
 * ledger's price may be stale: prices drift).  Ad-hoc rows are counted
 * at their recorded price, as ever: their provider is often one that no
 * fleet uses, which observe does not list.
 */
static const struct tracked *
unknown_spend(const struct planner *pl, const char *fleet)
{
	size_t	 i;

	for (i = 0; i < pl->o->ntracked; i++) {
		const struct tracked *t = &pl->o->tracked[i];

		if (t->bucket == BUCKET_UNKNOWN &&
		    t->row.kind == LEDGER_KIND_FLEET &&
		    (fleet == NULL || strcmp(t->row.fleet, fleet) == 0))
			return t;
	}
	return NULL;
}

static const char *budget_gate(struct planner *, const struct fleet_spec *,
	    money_t, char *, size_t);

/* Why a spawn for this slot cannot happen now, or NULL. */
static const char *
spawn_gate(struct planner *pl, const struct fleet_spec *fs,
    const struct group_spec *gs, int slot, char *buf, size_t len,
    bool *wait)
{
	struct run_state	*rs = pl->c->run;
	const char		*why;
	size_t			 i, nblocked = 0;

	*wait = false;
	if (rs != NULL) {
		struct slot_state	*ss;
		char			*addr;

		if (rs->no_new_spawns) {
			snprintf(buf, len, "out of time: this run starts no "
			    "more spawns");
			return buf;
		}
		if ((why = run_group_failed(rs, fs->name, gs->name)) != NULL) {
			snprintf(buf, len, "group failed: %s", why);
			return buf;
		}
		for (i = 0; i < gs->nproviders; i++)
			if (run_blocked(rs, gs->providers[i]) != NULL)
				nblocked++;
		if (nblocked == gs->nproviders) {
			snprintf(buf, len, "no usable provider: %s",
			    run_blocked(rs, gs->providers[0]));
			return buf;
		}
		addr = xasprintf("%s/%s/%d", fs->name, gs->name, slot);
		pthread_mutex_lock(&rs->mtx);
		ss = run_slot(rs, addr);
		if (ss->given_up)
			snprintf(buf, len, "gave up after %d attempts: %s",
			    ss->attempts, ss->last.msg);
		else if (ss->next_try_ms > pl->now) {
			snprintf(buf, len, "backing off after %s; next try "
			    "in %llds", ss->last.msg,
			    (long long)(ss->next_try_ms - pl->now + 999) /
			    1000);
			*wait = true;
		} else
			buf[0] = '\0';
		pthread_mutex_unlock(&rs->mtx);
		free(addr);
		if (buf[0] != '\0')
			return buf;
	}
	return budget_gate(pl, fs, gs->max_price, buf, len);
}

/*
 * Whether the caps admit amount more reserved for fleet fs now (a spawn
 * at its max price, a hibernated instance started again); NULL or why
 * not in buf.
 */
static const char *
budget_gate(struct planner *pl, const struct fleet_spec *fs, money_t amount,
    char *buf, size_t len)
{
	struct fleet_money	*fm = fleet_money(pl, fs->name);
	const struct config	*cfg = pl->c->cfg;
	const struct tracked	*t;
	char			 a[32], b[32], cc[32];

	/* a cap whose spend is not known now admits nothing */
	if ((fm->has_cap && (t = unknown_spend(pl, fs->name)) != NULL) ||
	    (cfg->has_budget && (t = unknown_spend(pl, NULL)) != NULL)) {
		snprintf(buf, len, "budget unknown: %s/%s/%d on '%s' could "
		    "not be checked this pass, so what it bills now is not "
		    "known; no spawn against %s until it is", t->row.fleet,
		    t->row.group, t->row.slot, t->row.provider, fm->has_cap &&
		    strcmp(t->row.fleet, fs->name) == 0 ? "the fleet's cap" :
		    "the global cap");
		return buf;
	}
	if (fm->has_cap && fm->before + amount > fm->cap) {
		snprintf(buf, len, "budget-limited: fleet '%s' would reserve "
		    "$%s/h of its $%s/h cap (this slot reserves $%s/h)",
		    fs->name, money_fmt(fm->before + amount, a,
		    sizeof(a)), money_fmt(fm->cap, b, sizeof(b)),
		    money_fmt(amount, cc, sizeof(cc)));
		return buf;
	}
	if (cfg->has_budget &&
	    pl->global_now + amount > cfg->max_per_hour) {
		snprintf(buf, len, "budget-limited: all instances (ad-hoc "
		    "ones too) would reserve $%s/h of the global $%s/h cap",
		    money_fmt(pl->global_now + amount, a, sizeof(a)),
		    money_fmt(cfg->max_per_hour, b, sizeof(b)));
		return buf;
	}
	return NULL;
}

static void
reserve(struct planner *pl, const char *fleet, money_t m)
{
	fleet_money(pl, fleet)->before += m;
	pl->global_now += m;
}

static void
plan_duplicate(struct planner *pl, const struct fleet_spec *fs,
    const struct group_spec *gs, int slot, const struct cand *dup)
{
	const struct ledger_inst *r = dup->t != NULL ? &dup->t->row :
	    &dup->urow;
	const struct instance	*seen = dup->t != NULL ? dup->t->seen :
	    dup->u->seen;
	struct action		*a;

	if (r->provider_id == NULL && seen == NULL)
		a = plan_add(pl->p, ACT_WAIT, fs->name, gs->name, slot,
		    "duplicate in slot, spawn outcome unknown; waiting");
	else
		a = plan_add(pl->p, ACT_TERMINATE, fs->name, gs->name, slot,
		    "duplicate in slot");
	action_from_row(a, r, seen);
}

/*
 * The slot's latest instance when it ended by reaching the group's ttl
 * with the group's current spec, or NULL.  Loads the ledger's history
 * once per plan, only for groups that set a ttl.
 */
static const struct ledger_inst *
slot_expired(struct planner *pl, const char *fleet,
    const struct group_spec *gs, int slot)
{
	const struct ledger_inst	*latest = NULL;
	struct gr_err			 e;
	size_t				 i;

	if (!pl->hist_loaded) {
		pl->hist_loaded = true;
		if (pl->c->ledger == NULL || ledger_list(pl->c->ledger, true,
		    &pl->hist, &pl->nhist, &e) == -1) {
			pl->hist = NULL;
			pl->nhist = 0;
		}
	}
	for (i = 0; i < pl->nhist; i++) {
		const struct ledger_inst *r = &pl->hist[i];

		if (r->kind == LEDGER_KIND_FLEET && r->slot == slot &&
		    strcmp(r->fleet, fleet) == 0 &&
		    strcmp(r->group, gs->name) == 0 &&
		    (latest == NULL || r->uid > latest->uid))
			latest = r;
	}
	if (latest == NULL || latest->state != INST_TERMINATED ||
	    latest->end_reason == NULL ||
	    strcmp(latest->end_reason, "ttl") != 0 ||
	    latest->spec_hash == NULL ||
	    strcmp(latest->spec_hash, gs->hash) != 0)
		return NULL;
	return latest;
}

/*
 * The slot's previous instance, still terminating (not yet confirmed
 * gone) within its teardown timeout, or NULL.
 */
static const struct ledger_inst *
slot_stopping(struct planner *pl, const char *fleet, const char *group,
    int slot)
{
	size_t	 i;

	for (i = 0; i < pl->o->ntracked; i++) {
		const struct tracked	*t = &pl->o->tracked[i];
		const struct ledger_inst *r = &t->row;

		if (r->kind != LEDGER_KIND_FLEET ||
		    r->state != INST_STOPPING || r->slot != slot ||
		    strcmp(r->fleet, fleet) != 0 ||
		    strcmp(r->group, group) != 0)
			continue;
		if (t->bucket == BUCKET_UNKNOWN || (t->seen != NULL &&
		    t->seen->state != INST_TERMINATED && pl->now -
		    r->updated_ms < config_provider(pl->c->cfg,
		    r->provider)->timeouts.teardown_ms))
			return r;
	}
	return NULL;
}

/*
 * Since when a pending instance has been booting: its intent, or, for a
 * hibernated instance started again (it billed before), its last start.
 * Measured from the intent, a restart of an instance older than the
 * spinup timeout was terminated (its disk lost) on its first pass.
 */
static int64_t
pending_since(struct planner *pl, const struct ledger_inst *r)
{
	struct ledger_event	*ev = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	int64_t			 since = r->created_ms;

	if (r->billing_start_ms == 0 || r->uid == 0 || pl->c->ledger == NULL ||
	    ledger_events(pl->c->ledger, r->uid, &ev, &n, &e) == -1)
		return since;
	for (i = 0; i < n; i++)
		if (strcmp(ev[i].kind, "started") == 0 && ev[i].at_ms > since)
			since = ev[i].at_ms;
	ledger_events_free(ev, n);
	return since;
}

/*
 * fm->before doubles as the running reservation while planning; the
 * "before" figure shown to the user is saved first in plan_build.
 */
static void
plan_slot(struct planner *pl, const struct fleet_spec *fs,
    const struct group_spec *gs, int slot)
{
	struct plan		*p = pl->p;
	struct cand		*k = NULL;
	struct action		*a;
	const char		*why, *prov;
	char			 buf[1024], m1[32], m2[32];
	const struct ledger_inst *r;
	const struct instance	*seen;
	const struct provider_timeouts *to;
	size_t			 i;
	bool			 wait;

	/* The keeper: running over pending, then the oldest (cands are in
	 * ledger order, oldest first); every other one is a duplicate. */
	for (i = 0; i < pl->ncands; i++) {
		struct cand	*cd = &pl->cands[i], *dup;

		if (!cd->fills || cd->handled || cd->slot != slot ||
		    strcmp(cd->fleet, fs->name) != 0 ||
		    strcmp(cd->group, gs->name) != 0)
			continue;
		cd->handled = true;
		if (k == NULL) {
			k = cd;
			continue;
		}
		if (k->state != INST_RUNNING && cd->state == INST_RUNNING) {
			dup = k;
			k = cd;
		} else
			dup = cd;
		plan_duplicate(pl, fs, gs, slot, dup);
	}

	if (k == NULL && gs->ttl_s > 0 &&
	    (r = slot_expired(pl, fs->name, gs, slot)) != NULL) {
		a = plan_add(p, ACT_EXPIRED, fs->name, gs->name, slot,
		    "its instance %s ran for its ttl of %s; change the group "
		    "to run it again", r->provider_id != NULL ?
		    r->provider_id : "?", duration_fmt(gs->ttl_s, m1,
		    sizeof(m1)));
		a->provider = xstrdup(r->provider);
		a->gpu = xstrdup(gs->gpu.type);
		a->gpu_count = gs->gpu.count;
		return;
	}
	if (k == NULL && (r = slot_stopping(pl, fs->name, gs->name, slot)) !=
	    NULL) {
		/* replace is terminate, confirm, then spawn: the old one may
		 * still hold the capacity (and the money) */
		a = plan_add(p, ACT_WAIT, fs->name, gs->name, slot,
		    "its previous instance %s is still terminating",
		    r->provider_id != NULL ? r->provider_id : "?");
		a->fs = fs;
		a->gs = gs;
		a->provider = xstrdup(gs->providers[0]);
		a->gpu = xstrdup(gs->gpu.type);
		a->gpu_count = gs->gpu.count;
		a->price = gs->max_price;
		a->stopping_wait = true;
		return;
	}
	if (k == NULL) {
		bool	 found;
		money_t	 price = expected_price(pl, gs, &prov, &found);

		why = spawn_gate(pl, fs, gs, slot, buf, sizeof(buf), &wait);
		a = plan_add(p, why == NULL ? ACT_SPAWN : wait ? ACT_WAIT :
		    ACT_BLOCKED, fs->name, gs->name, slot, "%s%s",
		    why == NULL ? "slot empty" : why, found ? "" :
		    " (no offer within max price right now)");
		a->fs = fs;
		a->gs = gs;
		a->provider = xstrdup(prov);
		a->gpu = xstrdup(gs->gpu.type);
		a->gpu_count = gs->gpu.count;
		a->price = price;
		a->reserve = gs->max_price;
		if (why == NULL)
			reserve(pl, fs->name, gs->max_price);
		return;
	}

	r = k->t != NULL ? &k->t->row : &k->urow;
	seen = k->t != NULL ? k->t->seen : k->u->seen;
	to = &config_provider(pl->c->cfg, r->provider)->timeouts;
	if (k->t != NULL && k->t->bucket == BUCKET_UNKNOWN) {
		a = plan_add(p, ACT_KEEP, fs->name, gs->name, slot,
		    "provider not listed this pass");
	} else if (strcmp(r->spec_hash != NULL ? r->spec_hash : "",
	    gs->hash) != 0 || !group_has_provider(gs, r->provider)) {
		const char *reason = !group_has_provider(gs, r->provider) ?
		    "its provider is no longer in the group's list" :
		    "group spec changed";

		if (r->provider_id == NULL && seen == NULL) {
			a = plan_add(p, ACT_WAIT, fs->name, gs->name, slot,
			    "%s; waiting for the pending spawn first", reason);
		} else {
			bool	 found;
			money_t	 price = expected_price(pl, gs, &prov, &found);
			struct fleet_money *fm = fleet_money(pl, fs->name);

			if (!found) {
				/* never trade a working instance for an
				 * empty slot */
				a = plan_add(p, ACT_BLOCKED, fs->name,
				    gs->name, slot, "%s, but no offer within "
				    "max price for the new spec right now; "
				    "the old instance keeps running", reason);
				action_from_row(a, r, seen);
				return;
			}

			/* The new one spawns once the old one's billing
			 * end is confirmed: it replaces that reservation. */
			fm->before -= k->reserve;
			pl->global_now -= k->reserve;
			why = spawn_gate(pl, fs, gs, slot, buf, sizeof(buf),
			    &wait);
			fm->before += k->reserve;
			pl->global_now += k->reserve;
			if (why != NULL) {
				a = plan_add(p, wait ? ACT_WAIT : ACT_BLOCKED,
				    fs->name, gs->name, slot, "%s; %s", reason,
				    why);
				action_from_row(a, r, seen);
				return;
			}
			a = plan_add(p, ACT_REPLACE, fs->name, gs->name, slot,
			    "%s", reason);
			action_from_row(a, r, seen);
			a->fs = fs;
			a->gs = gs;
			a->reserve = gs->max_price;
			free(a->gpu);
			a->gpu = xstrdup(gs->gpu.type);
			a->gpu_count = gs->gpu.count;
			a->price = price;
			/*
			 * Until its end is confirmed the old one bills what
			 * it bills, which may be more than the new one's max
			 * (a price that drifted up): the slot holds the more
			 * of the two, never less (dst seed 103958).
			 */
			if (gs->max_price > k->reserve)
				reserve(pl, fs->name, gs->max_price -
				    k->reserve);
			(void)prov;
			return;
		}
	} else if ((k->state == INST_IDLE || k->state == INST_PENDING) &&
	    pl->now - pending_since(pl, r) > to->spinup_ms &&
	    (r->provider_id != NULL || seen != NULL)) {
		/* (nothing to clean up before its label shows up) */
		a = plan_add(p, ACT_TERMINATE, fs->name, gs->name, slot,
		    "did not become RUNNING within %llds; cleaning up the "
		    "allocation", (long long)to->spinup_ms / 1000);
		a->counts_failure = true;
	} else if (gs->ttl_s > 0 && k->state == INST_RUNNING &&
	    r->billing_start_ms > 0 &&
	    pl->now - r->billing_start_ms >= gs->ttl_s * 1000) {
		a = plan_add(p, ACT_TERMINATE, fs->name, gs->name, slot,
		    "ttl %s reached", duration_fmt(gs->ttl_s, m1, sizeof(m1)));
		a->end_reason = "ttl";
	} else if (seen != NULL && seen->billing &&
	    seen->price > gs->max_price) {
		a = plan_add(p, ACT_TERMINATE, fs->name, gs->name, slot,
		    "billed $%s/h, above the group's max $%s/h",
		    money_fmt(seen->price, m1, sizeof(m1)),
		    money_fmt(gs->max_price, m2, sizeof(m2)));
		/* the slot's attempt failed: a provider that bills every
		 * new instance above the max is not rented from forever */
		a->counts_failure = true;
		a->gs = gs;
	} else if (gs->state == GROUP_STOPPED && k->state == INST_RUNNING) {
		a = plan_add(p, ACT_STOP, fs->name, gs->name, slot,
		    "group wants state: stopped");
	} else if (gs->state == GROUP_RUNNING && k->state == INST_STOPPED) {
		/*
		 * Started again it is pending, which reserves its max price
		 * (DESIGN.md section 7), not the price it billed before it
		 * stopped: the difference must fit the caps, and spawns
		 * later in this plan see it (dst seed 790).
		 */
		money_t	 more = r->max_price > k->reserve ?
		    r->max_price - k->reserve : 0;

		if ((why = budget_gate(pl, fs, more, buf, sizeof(buf))) !=
		    NULL)
			a = plan_add(p, ACT_BLOCKED, fs->name, gs->name, slot,
			    "group wants state: running; %s", why);
		else {
			a = plan_add(p, ACT_START, fs->name, gs->name, slot,
			    "group wants state: running");
			reserve(pl, fs->name, more);
		}
	} else if (k->state == INST_IDLE || k->state == INST_PENDING) {
		a = plan_add(p, ACT_WAIT, fs->name, gs->name, slot,
		    "pending for %llds",
		    (long long)(pl->now - pending_since(pl, r)) / 1000);
		a->pending_alloc = true;
	} else {
		a = plan_add(p, ACT_KEEP, fs->name, gs->name, slot,
		    "matches its group");
	}
	action_from_row(a, r, seen);
	if (a->provider_id == NULL && seen != NULL)
		a->provider_id = xstrdup(seen->id);
	/* The fleet now lives in another file: remember that one, so that
	 * deleting it later terminates this instance. */
	if (r->spec_file == NULL || strcmp(r->spec_file, fs->file) != 0) {
		a = plan_add(p, ACT_SYNC, fs->name, gs->name, slot,
		    "fleet '%s' is now defined in '%s'", fs->name, fs->file);
		action_from_row(a, r, seen);
		/* what this pass knows, not the row's state before it:
		 * this record is written after the pass's other ones */
		a->to = k->state;
		a->spec_file = xstrdup(fs->file);
	}
}

/* Step 3: every desired slot, then surplus. */
static void
step_slots(struct planner *pl)
{
	const struct spec	*s = pl->c->spec;
	struct plan		*p = pl->p;
	size_t			 f, g, i;
	int			 slot;

	for (f = 0; s != NULL && f < s->nfleets; f++) {
		const struct fleet_spec *fs = &s->fleets[f];

		(void)fleet_money(pl, fs->name);
		for (g = 0; g < fs->ngroups; g++) {
			const struct group_spec *gs = &fs->groups[g];


			for (slot = 0; slot < gs->count; slot++)
				plan_slot(pl, fs, gs, slot);
		}
	}
	/* Step 4: live instances no slot wants. */
	for (i = 0; i < pl->ncands; i++) {
		struct cand		*cd = &pl->cands[i];
		const struct ledger_inst *r;
		const struct instance	*seen;
		const struct fleet_spec	*fs;
		const struct group_spec	*gs = NULL;
		struct action		*a;

		if (!cd->fills || cd->handled)
			continue;
		cd->handled = true;
		r = cd->t != NULL ? &cd->t->row : &cd->urow;
		seen = cd->t != NULL ? cd->t->seen : cd->u->seen;
		fs = s != NULL ? spec_fleet(s, r->fleet) : NULL;
		if (fs != NULL)
			gs = spec_group(fs, r->group);
		if (fs == NULL && s != NULL && r->spec_file != NULL &&
		    !spec_covers_file(s, r->spec_file)) {
			plan_warn(p, "fleet '%s' comes from '%s', outside the "
			    "paths given; its instances are left alone",
			    r->fleet, r->spec_file);
			a = plan_add(p, ACT_KEEP, r->fleet, r->group, r->slot,
			    "fleet not among the paths given");
		} else if (cd->t != NULL && cd->t->bucket == BUCKET_UNKNOWN) {
			a = plan_add(p, ACT_KEEP, r->fleet, r->group, r->slot,
			    "provider not listed this pass");
		} else if (r->provider_id == NULL && seen == NULL) {
			a = plan_add(p, ACT_WAIT, r->fleet, r->group, r->slot,
			    "unwanted, but its spawn outcome is unknown; "
			    "waiting");
		} else if (gs != NULL && pl->c->opts != NULL &&
		    pl->c->opts->destroy) {
			a = plan_add(p, ACT_TERMINATE, r->fleet, r->group,
			    r->slot, "--destroy");
		} else if (gs != NULL) {
			a = plan_add(p, ACT_TERMINATE, r->fleet, r->group,
			    r->slot, "surplus: count is %d", gs->count);
		} else if (fs != NULL) {
			a = plan_add(p, ACT_TERMINATE, r->fleet, r->group,
			    r->slot, "group '%s' is no longer in fleet '%s'",
			    r->group, r->fleet);
		} else {
			a = plan_add(p, ACT_TERMINATE, r->fleet, r->group,
			    r->slot, "fleet '%s' is no longer in any fleet "
			    "file", r->fleet);
		}
		action_from_row(a, r, seen);
	}
}

/* The run's key of an instance operation that is gated, or NULL. */
static const char *
gated_op(const struct action *a)
{
	switch (a->kind) {
	case ACT_TERMINATE:
	case ACT_ORPHAN:
	case ACT_REPLACE:
		return "terminate";
	case ACT_STOP:
		return "stop";
	case ACT_START:
		return "start";
	default:
		return NULL;
	}
}

/*
 * A termination (or a stop, or a start) that keeps failing is retried
 * with backoff, and after the run's attempts, or at once on an error
 * that retrying cannot mend, it is reported (blocked) instead of
 * hammered.
 */
static void
gate_terminations(struct planner *pl)
{
	struct run_state	*rs = pl->c->run;
	struct plan		*p = pl->p;
	size_t			 i;

	if (rs == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		struct action		*a = &p->v[i];
		struct slot_state	*ss;
		const char		*op;
		char			*key, *why = NULL;

		if ((op = gated_op(a)) == NULL || a->provider_id == NULL)
			continue;
		key = xasprintf("%s:%s/%s", op, a->provider, a->provider_id);
		pthread_mutex_lock(&rs->mtx);
		ss = run_slot(rs, key);
		if (ss->given_up) {
			why = xasprintf("%s failed %d time%s: %s", op,
			    ss->attempts, ss->attempts == 1 ? "" : "s",
			    ss->last.msg);
			a->kind = ACT_BLOCKED;
		} else if (ss->next_try_ms > pl->now &&
		    ss->last.code == GR_OK) {
			/* taken a moment ago; the provider lags behind */
			why = xasprintf("termination requested; waiting for "
			    "the provider to show it ending (asking again in "
			    "%llds)", (long long)(ss->next_try_ms - pl->now +
			    999) / 1000);
			a->kind = ACT_WAIT;
			a->stopping_wait = true;
		} else if (ss->next_try_ms > pl->now) {
			why = xasprintf("%s failed (%s); retrying in %llds", op,
			    ss->last.msg, (long long)(ss->next_try_ms -
			    pl->now + 999) / 1000);
			a->kind = ACT_WAIT;
		}
		pthread_mutex_unlock(&rs->mtx);
		free(key);
		if (why != NULL) {
			free(a->reason);
			a->reason = why;
			p->nchanges--;
		}
	}
}

static size_t
plan_count_kind(const struct plan *p, enum action_kind k)
{
	size_t	 i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].kind == k)
			n++;
	return n;
}

/* After: what stays reserved once every action is done. */
static void
compute_after(struct planner *pl)
{
	struct plan	*p = pl->p;
	size_t		 i, j;

	for (i = 0; i < p->n; i++) {
		const struct action	*a = &p->v[i];
		struct fleet_money	*fm;
		money_t			 m = 0;

		if (a->fleet == NULL)
			continue;
		switch (a->kind) {
		case ACT_KEEP:
		case ACT_ADOPT:
		case ACT_STOP:
		case ACT_START:
		case ACT_SPAWN:
		case ACT_REPLACE:
			m = a->price;
			break;
		case ACT_WAIT:
			if (a->uid != 0)
				m = a->price;
			break;
		default:
			break;
		}
		fm = fleet_money(pl, a->fleet);
		fm->after += m;
	}
	p->before = p->after = 0;
	for (j = 0; j < p->nfleets; j++) {
		p->before += p->fleets[j].before;
		p->after += p->fleets[j].after;
	}
}

int
plan_build(struct ctx *c, const struct observation *o, struct plan *p,
    struct gr_err *e)
{
	struct planner	 pl;
	money_t		*saved;
	size_t		 i, nsaved;

	(void)e;
	memset(p, 0, sizeof(*p));
	memset(&pl, 0, sizeof(pl));
	pl.c = c;
	pl.o = o;
	pl.p = p;
	pl.now = o->at_ms;
	step_rows(&pl);
	step_untracked(&pl);
	/* Keep the "before" figures; planning adds reservations to them. */
	for (i = 0; c->spec != NULL && i < c->spec->nfleets; i++)
		(void)fleet_money(&pl, c->spec->fleets[i].name);
	nsaved = p->nfleets;
	saved = xcalloc(nsaved + 1, sizeof(*saved));
	for (i = 0; i < nsaved; i++)
		saved[i] = p->fleets[i].before;
	step_slots(&pl);
	for (i = 0; i < p->nfleets; i++)
		p->fleets[i].before = i < nsaved ? saved[i] : 0;
	free(saved);
	gate_terminations(&pl);
	if (c->spec != NULL && c->spec->nfleets == 0 &&
	    plan_count_kind(p, ACT_TERMINATE) > 0)
		plan_warn(p, "the fleet files define no fleet: %zu instance%s "
		    "from them will be terminated",
		    plan_count_kind(p, ACT_TERMINATE),
		    plan_count_kind(p, ACT_TERMINATE) == 1 ? "" : "s");
	compute_after(&pl);
	for (i = 0; i < pl.ncands; i++)
		ledger_inst_release(&pl.cands[i].urow);
	free(pl.cands);
	ledger_insts_free(pl.hist, pl.nhist);
	return 0;
}

void
plan_release(struct plan *p)
{
	size_t	 i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].fleet);
		free(p->v[i].group);
		free(p->v[i].provider);
		free(p->v[i].provider_id);
		free(p->v[i].gpu);
		free(p->v[i].reason);
		free(p->v[i].spec_file);
		instance_release(&p->v[i].seen);
	}
	free(p->v);
	for (i = 0; i < p->nfleets; i++)
		free(p->fleets[i].fleet);
	free(p->fleets);
	for (i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	memset(p, 0, sizeof(*p));
}
