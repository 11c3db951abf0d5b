/*
 * observe.c: one pass's view of the world.  Lists every provider that
 * the spec or the ledger mentions (one list per provider per pass, in
 * parallel), and sorts what it sees into the four buckets of DESIGN.md
 * section 6: tracked and present, tracked and missing, ours by label but
 * untracked, and foreign.  Read-only: plan uses it too.
 */
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

static const char *const bucket_names[] = {
	[BUCKET_PRESENT] = "present",
	[BUCKET_MISSING] = "missing",
	[BUCKET_UNKNOWN] = "unknown",
	[BUCKET_UNTRACKED] = "untracked",
	[BUCKET_FOREIGN] = "foreign",
};

const char *
bucket_name(enum bucket b)
{
	return (size_t)b < nitems(bucket_names) ? bucket_names[b] : "?";
}

static void
add_provider_name(struct observation *o, const char *name)
{
	size_t	 i;

	for (i = 0; i < o->nprovs; i++)
		if (strcmp(o->provs[i].name, name) == 0)
			return;
	o->provs = xreallocarray(o->provs, o->nprovs + 1, sizeof(*o->provs));
	memset(&o->provs[o->nprovs], 0, sizeof(*o->provs));
	o->provs[o->nprovs].name = xstrdup(name);
	gr_err_clear(&o->provs[o->nprovs].err);
	o->nprovs++;
}

const struct prov_obs *
observation_provider(const struct observation *o, const char *name)
{
	size_t	 i;

	for (i = 0; i < o->nprovs; i++)
		if (strcmp(o->provs[i].name, name) == 0)
			return &o->provs[i];
	return NULL;
}

struct list_job {
	struct ctx	*c;
	struct prov_obs	*po;
	pthread_t	 tid;
};

static void *
list_one(void *arg)
{
	struct list_job	*j = arg;
	struct prov_obs	*po = j->po;

	int		 tries;

	if (ctx_provider(j->c, po->name, &po->p, &po->err) == -1)
		return NULL;
	/*
	 * The taxonomy's retry rules for a read: a rate limit waits
	 * (Retry-After, clamped) and a transient error backs off, a few
	 * times, before the provider counts as unlisted this pass.
	 */
	for (tries = 1;; tries++) {
		instance_list_release(&po->list);
		if (provider_list(po->p, &po->list, &po->err) == 0) {
			po->ok = true;
			break;
		}
		if (tries >= 4 || (po->err.code != GR_E_RATE_LIMIT &&
		    po->err.code != GR_E_TRANSIENT))
			break;
		clock_sleep_ms(po->err.code == GR_E_RATE_LIMIT ?
		    run_rate_wait_ms(j->c->run, &po->err, tries) :
		    run_backoff_ms(j->c->run, tries));
	}
	return NULL;
}

/* List every provider at once: one list per provider per pass. */
static void
list_all(struct ctx *c, struct observation *o)
{
	struct list_job	*jobs;
	size_t		 i;

	jobs = xcalloc(o->nprovs, sizeof(*jobs));
	for (i = 0; i < o->nprovs; i++) {
		jobs[i].c = c;
		jobs[i].po = &o->provs[i];
		if (o->nprovs == 1 ||
		    pthread_create(&jobs[i].tid, NULL, list_one, &jobs[i]) != 0)
			list_one(&jobs[i]), jobs[i].tid = 0;
	}
	for (i = 0; i < o->nprovs; i++)
		if (jobs[i].tid != 0)
			pthread_join(jobs[i].tid, NULL);
	free(jobs);
}

static const struct instance *
find_by_label(const struct instance_list *l, const char *label)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].label != NULL && strcmp(l->v[i].label, label) == 0)
			return &l->v[i];
	return NULL;
}

/*
 * Whether entry j repeats the id of another entry that is claimed or
 * comes first (a stale ended copy hides nothing): a list may show one
 * instance twice (pages that overlap while the account changes), and
 * the copy, untracked but with our label, would be taken for a twin and
 * terminated.
 */
static bool
listed_before(const struct instance_list *l, const bool *claimed, size_t j)
{
	size_t	 k;

	if (l->v[j].id == NULL)
		return false;
	for (k = 0; k < l->n; k++)
		if (k != j && (claimed[k] || (k < j &&
		    l->v[k].state != INST_TERMINATED)) && l->v[k].id != NULL &&
		    strcmp(l->v[k].id, l->v[j].id) == 0)
			return true;
	return false;
}

/*
 * A tracked instance that list does not show is checked once more with
 * get before it is called missing: lists can lag.  Found ones are kept
 * in po->list so that borrowed pointers stay valid.
 */
static void
confirm_missing(struct prov_obs *po, struct tracked *t)
{
	struct instance	 in;
	struct gr_err	 e;

	memset(&in, 0, sizeof(in));
	if (provider_get(po->p, t->row.provider_id, &in, &e) == -1) {
		/* NOT_FOUND and SPOT_INTERRUPTED answer "gone", as in
		 * exec.c's call_get; anything else cannot tell */
		if (e.code != GR_E_NOT_FOUND && e.code != GR_E_UNSUPPORTED &&
		    e.code != GR_E_SPOT_INTERRUPTED) {
			/* cannot tell: treat like an unlisted provider */
			t->bucket = BUCKET_UNKNOWN;
			log_debug("%s/%s/%d: get %s failed: %s", t->row.fleet,
			    t->row.group, t->row.slot, t->row.provider_id,
			    e.msg);
		}
		instance_release(&in);
		return;
	}
	if (in.label != NULL && t->row.label != NULL &&
	    strcmp(in.label, t->row.label) != 0) {
		/* the id was reused for someone else's instance: ours is gone */
		instance_release(&in);
		return;
	}
	*instance_list_add(&po->list) = in;
}

/*
 * The providers of rows that ended without our seeing the instance gone:
 * a spawn given up as lost, an instance that vanished from list, a spawn
 * that failed (an error may hide a success).  An instance of ours may
 * still be there, with its label; only a list finds it, and the fleet
 * files or the live rows may no longer name that provider.
 */
static void
add_uncertain_providers(struct ctx *c, struct observation *o)
{
	static const char *const uncertain[] = {
		"spawn-lost", "vanished", "spawn-failed",
	};
	struct ledger_inst	*all = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i, k;

	if (c->ledger == NULL ||
	    ledger_list(c->ledger, true, &all, &n, &e) == -1)
		return;		/* the live rows' providers are listed */
	for (i = 0; i < n; i++) {
		if (all[i].state != INST_TERMINATED ||
		    all[i].end_reason == NULL)
			continue;
		for (k = 0; k < nitems(uncertain); k++)
			if (strcmp(all[i].end_reason, uncertain[k]) == 0)
				add_provider_name(o, all[i].provider);
	}
	ledger_insts_free(all, n);
}

int
observe(struct ctx *c, struct observation *o, struct gr_err *e)
{
	const char	*lid = c->ledger != NULL ? ledger_id(c->ledger) : "";
	struct ledger_inst *rows = NULL;
	size_t		 nrows = 0, i, j, g;
	bool		*claimed;

	memset(o, 0, sizeof(*o));
	o->at_ms = clock_now_ms();
	if (c->ledger != NULL &&
	    ledger_list(c->ledger, false, &rows, &nrows, e) == -1)
		return -1;
	if (c->spec != NULL)
		for (i = 0; i < c->spec->nfleets; i++)
			for (g = 0; g < c->spec->fleets[i].ngroups; g++)
				for (j = 0; j < c->spec->fleets[i].groups[g].
				    nproviders; j++)
					add_provider_name(o, c->spec->fleets[i].
					    groups[g].providers[j]);
	for (i = 0; i < nrows; i++)
		if (rows[i].kind == LEDGER_KIND_FLEET)
			add_provider_name(o, rows[i].provider);
	add_uncertain_providers(c, o);
	list_all(c, o);

	/* First pass: get()s may grow lists, so no pointers are kept yet. */
	o->tracked = xcalloc(nrows, sizeof(*o->tracked));
	o->ntracked = nrows;
	for (i = 0; i < nrows; i++) {
		struct tracked	*t = &o->tracked[i];
		struct prov_obs	*po;

		t->row = rows[i];	/* ownership moves */
		po = (struct prov_obs *)observation_provider(o,
		    t->row.provider);
		if (po == NULL || !po->ok) {
			t->bucket = BUCKET_UNKNOWN;
			continue;
		}
		t->bucket = BUCKET_PRESENT;
		if (t->row.provider_id != NULL &&
		    instance_list_find(&po->list, t->row.provider_id) == NULL)
			confirm_missing(po, t);
	}
	free(rows);

	/* Second pass: bind each tracked row to what its provider shows. */
	for (i = 0; i < o->nprovs; i++) {
		struct prov_obs	*po = &o->provs[i];

		if (!po->ok)
			continue;
		claimed = xcalloc(po->list.n + 1, sizeof(*claimed));
		for (j = 0; j < o->ntracked; j++) {
			struct tracked		*t = &o->tracked[j];
			const struct instance	*in;

			if (t->bucket == BUCKET_UNKNOWN ||
			    strcmp(t->row.provider, po->name) != 0)
				continue;
			if (t->row.provider_id != NULL)
				in = instance_list_find(&po->list,
				    t->row.provider_id);
			else	/* a spawn whose outcome we never learned */
				in = find_by_label(&po->list, t->row.label);
			/*
			 * An id now carrying another label is not ours any
			 * more (a provider that reuses ids): ours is gone,
			 * and that one is classified on its own label.
			 */
			if (in != NULL && in->label != NULL &&
			    t->row.label != NULL &&
			    strcmp(in->label, t->row.label) != 0)
				in = NULL;
			/* the label is unique per ledger: it finds ours
			 * again even under another id */
			if (in == NULL && t->row.provider_id != NULL &&
			    t->row.label != NULL)
				in = find_by_label(&po->list, t->row.label);
			if (in != NULL && claimed[in - po->list.v])
				in = NULL;	/* already another row's */
			t->seen = in;
			t->bucket = in != NULL ? BUCKET_PRESENT :
			    BUCKET_MISSING;
			if (in != NULL)
				claimed[in - po->list.v] = true;
		}
		for (j = 0; j < po->list.n; j++) {
			const struct instance	*in = &po->list.v[j];
			struct untracked	*u;
			int64_t			 uid = 0;

			if (claimed[j] || in->state == INST_TERMINATED ||
			    listed_before(&po->list, claimed, j))
				continue;
			o->untracked = xreallocarray(o->untracked,
			    o->nuntracked + 1, sizeof(*o->untracked));
			u = &o->untracked[o->nuntracked++];
			u->seen = in;
			u->provider = po->name;
			u->ours = *lid != '\0' &&
			    owner_label_parse(in->label, lid, &uid);
			u->uid = u->ours ? uid : 0;
		}
		free(claimed);
	}
	return 0;
}

bool
observation_unchecked(const struct observation *o, struct gr_err *e)
{
	const struct tracked	*t;
	const struct prov_obs	*po;
	size_t			 i, n = 0, first = 0;

	for (i = 0; i < o->ntracked; i++) {
		/* ad-hoc rows are not apply's: their provider may be one
		 * that no fleet uses, which observe does not list */
		if (o->tracked[i].bucket != BUCKET_UNKNOWN ||
		    o->tracked[i].row.kind != LEDGER_KIND_FLEET)
			continue;
		if (n++ == 0)
			first = i;
	}
	if (n == 0)
		return false;
	t = &o->tracked[first];
	po = observation_provider(o, t->row.provider);
	if (po != NULL && !po->ok && po->err.code != GR_OK) {
		gr_err_set(e, po->err.code, "%zu tracked instance%s on '%s' "
		    "could not be checked: %s", n, n == 1 ? "" : "s",
		    t->row.provider, po->err.msg);
		if (po->err.hint[0] != '\0')
			gr_err_hint(e, "%s", po->err.hint);
	} else
		gr_err_set(e, GR_E_TRANSIENT, "%zu tracked instance%s on '%s' "
		    "could not be checked: get failed", n, n == 1 ? "" : "s",
		    t->row.provider);
	return true;
}

void
observation_release(struct observation *o)
{
	size_t	 i;

	for (i = 0; i < o->nprovs; i++) {
		free(o->provs[i].name);
		instance_list_release(&o->provs[i].list);
	}
	free(o->provs);
	for (i = 0; i < o->ntracked; i++)
		ledger_inst_release(&o->tracked[i].row);
	free(o->tracked);
	free(o->untracked);
	memset(o, 0, sizeof(*o));
}
