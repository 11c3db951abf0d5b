/*
 * cmd-drift.c: `gpureconcile drift`: a cost audit.  Lists every provider
 * the fleet files or the ledger name (one observe pass), sorts every
 * instance into a drift class (orphan, foreign, vanished, stuck, price
 * mismatch, expired, spec drift, clean; over budget per fleet), and adds
 * up what each instance, group, fleet and provider cost from the ledger:
 * billed price times billed time, clipped to --since/--until.  Read-only:
 * no spawn, no terminate, no ledger write, no lock.  Exit 2 when anything
 * is not clean, so that cron can alert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "reconciler.h"

enum drift_class {
	DC_ORPHAN = 0,
	DC_FOREIGN,
	DC_VANISHED,
	DC_STUCK,
	DC_PRICE,
	DC_OVER_BUDGET,
	DC_EXPIRED,
	DC_SPEC,
	DC__COUNT
};

static const char *const class_names[] = {
	[DC_ORPHAN] = "orphan",
	[DC_FOREIGN] = "foreign",
	[DC_VANISHED] = "vanished",
	[DC_STUCK] = "stuck",
	[DC_PRICE] = "price-mismatch",
	[DC_OVER_BUDGET] = "over-budget",
	[DC_EXPIRED] = "expired",
	[DC_SPEC] = "spec-drift",
};

/* One instance line of the report. */
struct drow {
	char		*provider;	/* owned */
	char		*address;	/* owned; "-" when untracked */
	char		*fleet;		/* owned; NULL: adhoc or untracked */
	char		*group;		/* owned; NULL: untracked */
	char		*id;		/* owned; "-" when unknown */
	char		*label;		/* owned; may be NULL */
	char		*commit;	/* owned; spawned from; NULL: unknown */
	enum inst_state	 state;
	unsigned	 classes;	/* 1 << enum drift_class; 0: clean */
	money_t		 price;		/* billed per hour */
	money_t		 max_price;	/* 0: unknown */
	money_t		 rate;		/* what it bills per hour now */
	money_t		 cost;		/* in the window */
	money_t		 unasked;	/* of cost: nobody asked for it */
	bool		 estimated;	/* cost from the provider (no row) */
};

/* A sum per group, fleet or provider. */
struct dsum {
	char		*name;		/* owned */
	money_t		 cost;
	money_t		 rate;
	money_t		 cap;		/* fleets: budget; 0 with !has_cap */
	bool		 has_cap;
	bool		 over;
};

struct report {
	struct drow	*rows;		/* owned */
	size_t		 nrows;
	struct dsum	*groups, *fleets, *provs;	/* owned */
	struct dsum	*commits;	/* owned; by spawning commit */
	size_t		 ncommits;
	size_t		 ngroups, nfleets, nprovs;
	int64_t		 since_ms;	/* 0: none */
	int64_t		 until_ms;	/* 0: none (now) */
	money_t		 cost, rate, unasked;
	size_t		 counts[DC__COUNT];
	size_t		 nclean;
	size_t		 ndrift;	/* lines that are not clean */
};

/* Billed price times billed time within [lo, hi). */
static money_t
clipped_cost(money_t price, int64_t start, int64_t end, int64_t lo,
    int64_t hi)
{
	if (start == 0)
		return 0;
	if (start < lo)
		start = lo;
	if (end > hi)
		end = hi;
	return end > start ? money_cost(price, end - start) : 0;
}

static struct dsum *
dsum_get(struct dsum **v, size_t *n, const char *name)
{
	size_t	 i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i].name, name) == 0)
			return &(*v)[i];
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	memset(&(*v)[*n], 0, sizeof(**v));
	(*v)[*n].name = xstrdup(name);
	return &(*v)[(*n)++];
}

static struct drow *
row_add(struct report *rp)
{
	struct drow	*d;

	rp->rows = xreallocarray(rp->rows, rp->nrows + 1, sizeof(*rp->rows));
	d = &rp->rows[rp->nrows++];
	memset(d, 0, sizeof(*d));
	return d;
}

/* When the row last entered STOPPING (0: not known). */
static int64_t
stopping_since(struct ctx *c, const struct ledger_inst *r)
{
	struct ledger_event	*ev = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	int64_t			 at = 0;

	if (ledger_events(c->ledger, r->uid, &ev, &n, &e) == -1)
		return r->updated_ms;
	for (i = 0; i < n; i++)
		if (ev[i].to == INST_STOPPING && ev[i].from != INST_STOPPING)
			at = ev[i].at_ms;
	ledger_events_free(ev, n);
	return at != 0 ? at : r->updated_ms;
}

/* Classify one ledger row (live, or ended in the window) and cost it. */
static void
add_ledger_row(struct ctx *c, struct report *rp, const struct ledger_inst *r,
    const struct tracked *t, int64_t now, int64_t lo, int64_t hi)
{
	const struct fleet_spec	*fs = NULL;
	const struct group_spec	*gs = NULL;
	const struct instance	*seen = t != NULL ? t->seen : NULL;
	struct drow		*d;
	int64_t			 end;
	money_t			 billed;

	end = r->billing_end_ms > 0 ? r->billing_end_ms : now;
	if (r->state == INST_TERMINATED) {
		bool vanished = r->end_reason != NULL &&
		    strcmp(r->end_reason, "vanished") == 0 &&
		    r->updated_ms >= lo && r->updated_ms < hi;

		if (!vanished && clipped_cost(r->price, r->billing_start_ms,
		    end, lo, hi) == 0)
			return;		/* nothing to say about it */
	}
	d = row_add(rp);
	d->provider = xstrdup(r->provider);
	d->address = row_address(r);
	if (r->kind != LEDGER_KIND_ADHOC)
		d->fleet = xstrdup(r->fleet);
	d->group = xstrdup(r->group);
	d->id = xstrdup(r->provider_id != NULL ? r->provider_id :
	    seen != NULL && seen->id != NULL ? seen->id : "-");
	d->label = r->label != NULL ? xstrdup(r->label) : NULL;
	d->commit = r->git_commit != NULL ? xstrdup(r->git_commit) : NULL;
	d->state = r->state;
	d->price = r->price;
	d->max_price = r->max_price;
	d->cost = clipped_cost(r->price, r->billing_start_ms, end, lo, hi);
	if (c->spec != NULL && r->kind == LEDGER_KIND_FLEET &&
	    (fs = spec_fleet(c->spec, r->fleet)) != NULL)
		gs = spec_group(fs, r->group);
	if (gs != NULL)
		d->max_price = gs->max_price;

	if (r->state == INST_TERMINATED) {
		if (r->end_reason != NULL &&
		    strcmp(r->end_reason, "vanished") == 0) {
			d->classes |= 1u << DC_VANISHED;
			d->unasked = d->cost;
		}
		return;
	}
	/* What it bills now: the provider's word when it shows it. */
	if (seen != NULL)
		d->rate = seen->billing ? seen->price : 0;
	else if (t == NULL || t->bucket == BUCKET_UNKNOWN)
		d->rate = r->billing_start_ms > 0 && r->billing_end_ms == 0 ?
		    r->price : 0;
	billed = seen != NULL && seen->billing ? seen->price : r->price;

	if (r->state == INST_STOPPING) {
		d->classes |= 1u << DC_STUCK;
		d->unasked = clipped_cost(r->price, stopping_since(c, r), end,
		    lo, hi);
		if (d->unasked > d->cost)
			d->unasked = d->cost;
	} else if (t != NULL && t->bucket == BUCKET_MISSING &&
	    r->provider_id != NULL) {
		d->classes |= 1u << DC_VANISHED;
		d->unasked = d->cost;
	}
	if (r->state == INST_RUNNING && d->max_price > 0 &&
	    billed > d->max_price)
		d->classes |= 1u << DC_PRICE;
	if (gs != NULL && gs->ttl_s > 0 && r->state == INST_RUNNING &&
	    r->billing_start_ms > 0 &&
	    now - r->billing_start_ms >= gs->ttl_s * 1000)
		d->classes |= 1u << DC_EXPIRED;
	if (fs != NULL && r->state != INST_IDLE && r->state != INST_STOPPING &&
	    (gs == NULL || strcmp(r->spec_hash != NULL ? r->spec_hash : "",
	    gs->hash) != 0))
		d->classes |= 1u << DC_SPEC;
}

/* An instance without a ledger row: an orphan of ours, or foreign. */
static void
add_untracked(struct ctx *c, struct report *rp, const struct untracked *u,
    int64_t now, int64_t lo, int64_t hi)
{
	const struct instance	*in = u->seen;
	struct drow		*d;

	if (!u->ours && !c->opts->include_foreign)
		return;
	d = row_add(rp);
	d->provider = xstrdup(u->provider);
	d->address = xstrdup("-");
	d->id = xstrdup(in->id != NULL ? in->id : "-");
	d->label = in->label != NULL ? xstrdup(in->label) : NULL;
	d->state = in->state;
	d->price = in->price;
	d->rate = in->billing ? in->price : 0;
	d->classes = 1u << (u->ours ? DC_ORPHAN : DC_FOREIGN);
	if (u->ours) {
		/* no ledger row: the provider's creation time and price
		 * are all there is */
		d->cost = in->billing && in->created_ms > 0 ?
		    clipped_cost(in->price, in->created_ms, now, lo, hi) : 0;
		d->unasked = d->cost;
		d->estimated = true;
	}
}

static int
drow_cmp(const void *a, const void *b)
{
	const struct drow	*x = a, *y = b;
	int			 r;

	if ((r = strcmp(x->provider, y->provider)) != 0)
		return r;
	if ((r = strcmp(x->address, y->address)) != 0)
		return r;
	return strcmp(x->id, y->id);
}

static int
dsum_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dsum *)a)->name,
	    ((const struct dsum *)b)->name);
}

static void
dsums_sort(struct dsum *v, size_t n)
{
	if (n > 1)		/* none: NULL, which qsort may not get */
		qsort(v, n, sizeof(*v), dsum_cmp);
}

static int
report_build(struct ctx *c, const struct observation *o, struct report *rp,
    int64_t now, struct gr_err *e)
{
	struct ledger_inst	*all = NULL;
	size_t			 n = 0, i, j, k;
	int64_t			 lo = rp->since_ms, hi;

	hi = rp->until_ms != 0 && rp->until_ms < now ? rp->until_ms : now;
	if (c->ledger != NULL &&
	    ledger_list(c->ledger, true, &all, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		const struct tracked *t = NULL;

		for (j = 0; j < o->ntracked; j++)
			if (o->tracked[j].row.uid == all[i].uid)
				t = &o->tracked[j];
		add_ledger_row(c, rp, &all[i], t, now, lo, hi);
	}
	ledger_insts_free(all, n);
	for (i = 0; i < o->nuntracked; i++)
		add_untracked(c, rp, &o->untracked[i], now, lo, hi);
	if (rp->nrows > 1)	/* none: NULL, which qsort may not get */
		qsort(rp->rows, rp->nrows, sizeof(*rp->rows), drow_cmp);

	/* every provider listed shows up, even with nothing on it */
	for (i = 0; i < o->nprovs; i++)
		(void)dsum_get(&rp->provs, &rp->nprovs, o->provs[i].name);
	for (i = 0; i < rp->nrows; i++) {
		struct drow	*d = &rp->rows[i];
		struct dsum	*s;
		char		*gname;

		s = dsum_get(&rp->provs, &rp->nprovs, d->provider);
		s->cost += d->cost;
		s->rate += d->rate;
		if (d->fleet != NULL) {
			s = dsum_get(&rp->fleets, &rp->nfleets, d->fleet);
			s->cost += d->cost;
			s->rate += d->rate;
			gname = xasprintf("%s/%s", d->fleet, d->group);
			s = dsum_get(&rp->groups, &rp->ngroups, gname);
			s->cost += d->cost;
			s->rate += d->rate;
			free(gname);
		}
		if (d->commit != NULL) {
			s = dsum_get(&rp->commits, &rp->ncommits, d->commit);
			s->cost += d->cost;
			s->rate += d->rate;
		}
		if (d->classes & (1u << DC_FOREIGN))
			continue;	/* not ours: not our money */
		rp->cost += d->cost;
		rp->rate += d->rate;
		rp->unasked += d->unasked;
	}
	for (i = 0; c->spec != NULL && i < c->spec->nfleets; i++) {
		const struct fleet_spec	*fs = &c->spec->fleets[i];
		struct dsum		*s;

		s = dsum_get(&rp->fleets, &rp->nfleets, fs->name);
		if (fs->has_budget) {
			s->cap = fs->max_per_hour;
			s->has_cap = true;
			s->over = s->rate > s->cap;
		}
	}
	dsums_sort(rp->provs, rp->nprovs);
	dsums_sort(rp->fleets, rp->nfleets);
	dsums_sort(rp->groups, rp->ngroups);
	dsums_sort(rp->commits, rp->ncommits);
	for (i = 0; i < rp->nrows; i++) {
		if (rp->rows[i].classes == 0)
			rp->nclean++;
		else
			rp->ndrift++;
		for (k = 0; k < DC__COUNT; k++)
			if (rp->rows[i].classes & (1u << k))
				rp->counts[k]++;
	}
	for (i = 0; i < rp->nfleets; i++)
		if (rp->fleets[i].over) {
			rp->counts[DC_OVER_BUDGET]++;
			rp->ndrift++;
		}
	return 0;
}

static void
report_release(struct report *rp)
{
	size_t	 i;

	for (i = 0; i < rp->nrows; i++) {
		free(rp->rows[i].provider);
		free(rp->rows[i].address);
		free(rp->rows[i].fleet);
		free(rp->rows[i].group);
		free(rp->rows[i].id);
		free(rp->rows[i].label);
		free(rp->rows[i].commit);
	}
	free(rp->rows);
	for (i = 0; i < rp->ngroups; i++)
		free(rp->groups[i].name);
	for (i = 0; i < rp->nfleets; i++)
		free(rp->fleets[i].name);
	for (i = 0; i < rp->nprovs; i++)
		free(rp->provs[i].name);
	for (i = 0; i < rp->ncommits; i++)
		free(rp->commits[i].name);
	free(rp->commits);
	free(rp->groups);
	free(rp->fleets);
	free(rp->provs);
}

/* "orphan,price-mismatch" or "clean" into b. */
static const char *
classes_fmt(unsigned classes, struct buf *b)
{
	size_t	 k;

	buf_reset(b);
	for (k = 0; k < DC__COUNT; k++)
		if (classes & (1u << k)) {
			if (b->len > 0)
				buf_addc(b, ',');
			buf_adds(b, class_names[k]);
		}
	if (b->len == 0)
		buf_adds(b, "clean");
	return buf_str(b);
}

static const char *
m(money_t v, char *buf, size_t len)
{
	return money_fmt(v, buf, len);
}

#define PROJ_24H	(24LL * 3600 * 1000)
#define PROJ_30D	(30LL * 24 * 3600 * 1000)

static void
print_table(const struct report *rp, FILE *fp)
{
	struct buf	 b = BUF_INIT;
	char		 m1[32], m2[32], m3[32], m4[32], m5[32];
	size_t		 i;

	fprintf(fp, "%-8s %-24s %-14s %-11s %-22s %9s %9s %12s\n",
	    "PROVIDER", "ADDRESS", "ID", "STATE", "CLASS", "$/H", "MAX $/H",
	    "COST");
	for (i = 0; i < rp->nrows; i++) {
		const struct drow *d = &rp->rows[i];

		fprintf(fp, "%-8s %-24s %-14s %-11s %-22s %9s %9s %12s%s\n",
		    d->provider, d->address, d->id, inst_state_name(d->state),
		    classes_fmt(d->classes, &b), m(d->price, m1, sizeof(m1)),
		    d->max_price > 0 ? m(d->max_price, m2, sizeof(m2)) : "-",
		    m(d->cost, m3, sizeof(m3)), d->estimated ? " (est.)" : "");
	}
	fputc('\n', fp);
	for (i = 0; i < rp->ngroups; i++)
		fprintf(fp, "group %s: $%s/h, cost $%s\n", rp->groups[i].name,
		    m(rp->groups[i].rate, m1, sizeof(m1)),
		    m(rp->groups[i].cost, m2, sizeof(m2)));
	for (i = 0; i < rp->nfleets; i++) {
		const struct dsum *s = &rp->fleets[i];

		fprintf(fp, "fleet %s: $%s/h, cost $%s", s->name,
		    m(s->rate, m1, sizeof(m1)), m(s->cost, m2, sizeof(m2)));
		if (s->has_cap)
			fprintf(fp, " (budget $%s/h)%s",
			    m(s->cap, m3, sizeof(m3)),
			    s->over ? ": over-budget" : "");
		fputc('\n', fp);
	}
	for (i = 0; i < rp->nprovs; i++)
		fprintf(fp, "provider %s: $%s/h, cost $%s\n", rp->provs[i].name,
		    m(rp->provs[i].rate, m1, sizeof(m1)),
		    m(rp->provs[i].cost, m2, sizeof(m2)));
	for (i = 0; i < rp->ncommits; i++)
		fprintf(fp, "spawned from commit %s: $%s/h, cost $%s\n",
		    rp->commits[i].name,
		    m(rp->commits[i].rate, m1, sizeof(m1)),
		    m(rp->commits[i].cost, m2, sizeof(m2)));
	fprintf(fp, "total: cost $%s; burning $%s/h (24h $%s, 30d $%s); "
	    "spent on instances nobody asked for $%s\n",
	    m(rp->cost, m1, sizeof(m1)), m(rp->rate, m2, sizeof(m2)),
	    m(money_cost(rp->rate, PROJ_24H), m3, sizeof(m3)),
	    m(money_cost(rp->rate, PROJ_30D), m4, sizeof(m4)),
	    m(rp->unasked, m5, sizeof(m5)));
	fprintf(fp, "%zu clean, %zu drift\n", rp->nclean, rp->ndrift);
	buf_release(&b);
}

/* Money as exact decimal text and integer micro-dollars. */
static void
json_money(json_t *o, const char *key, money_t v)
{
	char	 buf[32];
	char	*k = xasprintf("%s_micros", key);

	json_object_set_new(o, key, json_string(money_fmt(v, buf,
	    sizeof(buf))));
	json_object_set_new(o, k, json_integer(v));
	free(k);
}

static json_t *	/* new */
dsums_json(const struct dsum *v, size_t n, bool fleet)
{
	json_t	*a = json_array(), *o;
	size_t	 i;

	for (i = 0; i < n; i++) {
		o = json_object();
		json_object_set_new(o, "name", json_string(v[i].name));
		json_money(o, "rate_per_hour", v[i].rate);
		json_money(o, "cost", v[i].cost);
		if (fleet) {
			if (v[i].has_cap)
				json_money(o, "budget_per_hour", v[i].cap);
			else
				json_object_set_new(o, "budget_per_hour",
				    json_null());
			json_object_set_new(o, "over_budget",
			    json_boolean(v[i].over));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static void
print_json(const struct report *rp, FILE *fp)
{
	json_t		*doc = json_object(), *a = json_array(), *o, *cl;
	char		 t[32];
	size_t		 i, k;

	json_object_set_new(doc, "since", rp->since_ms ?
	    json_string(time_iso8601(rp->since_ms, t, sizeof(t))) :
	    json_null());
	json_object_set_new(doc, "until", rp->until_ms ?
	    json_string(time_iso8601(rp->until_ms, t, sizeof(t))) :
	    json_null());
	for (i = 0; i < rp->nrows; i++) {
		const struct drow *d = &rp->rows[i];

		o = json_object();
		json_object_set_new(o, "provider", json_string(d->provider));
		json_object_set_new(o, "address", json_string(d->address));
		json_object_set_new(o, "id", json_string(d->id));
		json_object_set_new(o, "label", d->label != NULL ?
		    json_string(d->label) : json_null());
		json_object_set_new(o, "git_commit", d->commit != NULL ?
		    json_string(d->commit) : json_null());
		json_object_set_new(o, "state",
		    json_string(inst_state_name(d->state)));
		cl = json_array();
		for (k = 0; k < DC__COUNT; k++)
			if (d->classes & (1u << k))
				json_array_append_new(cl,
				    json_string(class_names[k]));
		if (d->classes == 0)
			json_array_append_new(cl, json_string("clean"));
		json_object_set_new(o, "classes", cl);
		json_money(o, "price_per_hour", d->price);
		json_money(o, "max_price_per_hour", d->max_price);
		json_money(o, "rate_per_hour", d->rate);
		json_money(o, "cost", d->cost);
		json_money(o, "unasked", d->unasked);
		json_object_set_new(o, "cost_estimated",
		    json_boolean(d->estimated));
		json_array_append_new(a, o);
	}
	json_object_set_new(doc, "instances", a);
	json_object_set_new(doc, "groups", dsums_json(rp->groups,
	    rp->ngroups, false));
	json_object_set_new(doc, "fleets", dsums_json(rp->fleets,
	    rp->nfleets, true));
	json_object_set_new(doc, "providers", dsums_json(rp->provs,
	    rp->nprovs, false));
	json_object_set_new(doc, "commits", dsums_json(rp->commits,
	    rp->ncommits, false));
	o = json_object();
	json_money(o, "cost", rp->cost);
	json_money(o, "rate_per_hour", rp->rate);
	json_money(o, "projected_24h", money_cost(rp->rate, PROJ_24H));
	json_money(o, "projected_30d", money_cost(rp->rate, PROJ_30D));
	json_money(o, "unasked", rp->unasked);
	json_object_set_new(doc, "totals", o);
	o = json_object();
	json_object_set_new(o, "clean", json_integer((json_int_t)rp->nclean));
	for (k = 0; k < DC__COUNT; k++)
		json_object_set_new(o, class_names[k],
		    json_integer((json_int_t)rp->counts[k]));
	json_object_set_new(doc, "counts", o);
	json_object_set_new(doc, "drift", json_boolean(rp->ndrift > 0));
	json_dumpf(doc, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', fp);
	json_decref(doc);
}

/* CSV field: quoted when it holds a comma, a quote or a newline. */
static void
csv_field(FILE *fp, const char *s, bool last)
{
	if (strpbrk(s, ",\"\n") != NULL) {
		fputc('"', fp);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', fp);
			fputc(*s, fp);
		}
		fputc('"', fp);
	} else
		fputs(s, fp);
	fputc(last ? '\n' : ',', fp);
}

static void
csv_sum(FILE *fp, const char *kind, const char *name, money_t rate,
    money_t cost)
{
	char	 m1[32], m2[32];

	fprintf(fp, "%s,", kind);
	csv_field(fp, name, false);
	fprintf(fp, ",,,,,,%s,%s,,\n", m(rate, m1, sizeof(m1)),
	    m(cost, m2, sizeof(m2)));
}

/*
 * One table: every line has a kind (instance, group, fleet, provider,
 * commit, total), so that a spreadsheet can filter on it.
 */
static void
print_csv(const struct report *rp, FILE *fp)
{
	struct buf	 b = BUF_INIT;
	char		 m1[32], m2[32], m3[32], m4[32], m5[32];
	size_t		 i;

	fputs("kind,name,provider,id,label,state,classes,price_per_hour,"
	    "max_price_per_hour,rate_per_hour,cost,unasked,git_commit\n", fp);
	for (i = 0; i < rp->nrows; i++) {
		const struct drow *d = &rp->rows[i];

		fputs("instance,", fp);
		csv_field(fp, d->address, false);
		csv_field(fp, d->provider, false);
		csv_field(fp, d->id, false);
		csv_field(fp, d->label != NULL ? d->label : "", false);
		csv_field(fp, inst_state_name(d->state), false);
		csv_field(fp, classes_fmt(d->classes, &b), false);
		fprintf(fp, "%s,%s,%s,%s,%s,", m(d->price, m1, sizeof(m1)),
		    m(d->max_price, m2, sizeof(m2)),
		    m(d->rate, m3, sizeof(m3)), m(d->cost, m4, sizeof(m4)),
		    m(d->unasked, m5, sizeof(m5)));
		csv_field(fp, d->commit != NULL ? d->commit : "", true);
	}
	for (i = 0; i < rp->ngroups; i++)
		csv_sum(fp, "group", rp->groups[i].name, rp->groups[i].rate,
		    rp->groups[i].cost);
	for (i = 0; i < rp->nfleets; i++)
		csv_sum(fp, "fleet", rp->fleets[i].name, rp->fleets[i].rate,
		    rp->fleets[i].cost);
	for (i = 0; i < rp->nprovs; i++)
		csv_sum(fp, "provider", rp->provs[i].name, rp->provs[i].rate,
		    rp->provs[i].cost);
	for (i = 0; i < rp->ncommits; i++)
		csv_sum(fp, "commit", rp->commits[i].name,
		    rp->commits[i].rate, rp->commits[i].cost);
	fprintf(fp, "total,,,,,,,,,%s,%s,%s,\n", m(rp->rate, m1, sizeof(m1)),
	    m(rp->cost, m2, sizeof(m2)), m(rp->unasked, m3, sizeof(m3)));
	buf_release(&b);
}

static void
print_markdown(const struct report *rp, FILE *fp)
{
	struct buf	 b = BUF_INIT;
	char		 m1[32], m2[32], m3[32], m4[32];
	size_t		 i;

	fputs("| provider | address | id | state | class | $/h | max $/h | "
	    "cost |\n|---|---|---|---|---|--:|--:|--:|\n", fp);
	for (i = 0; i < rp->nrows; i++) {
		const struct drow *d = &rp->rows[i];

		fprintf(fp, "| %s | %s | %s | %s | %s | %s | %s | %s%s |\n",
		    d->provider, d->address, d->id, inst_state_name(d->state),
		    classes_fmt(d->classes, &b), m(d->price, m1, sizeof(m1)),
		    d->max_price > 0 ? m(d->max_price, m2, sizeof(m2)) : "-",
		    m(d->cost, m3, sizeof(m3)), d->estimated ? " (est.)" : "");
	}
	fputs("\n| total | $/h | cost |\n|---|--:|--:|\n", fp);
	for (i = 0; i < rp->ngroups; i++)
		fprintf(fp, "| group %s | %s | %s |\n", rp->groups[i].name,
		    m(rp->groups[i].rate, m1, sizeof(m1)),
		    m(rp->groups[i].cost, m2, sizeof(m2)));
	for (i = 0; i < rp->nfleets; i++)
		fprintf(fp, "| fleet %s%s | %s | %s |\n", rp->fleets[i].name,
		    rp->fleets[i].over ? " (over-budget)" : "",
		    m(rp->fleets[i].rate, m1, sizeof(m1)),
		    m(rp->fleets[i].cost, m2, sizeof(m2)));
	for (i = 0; i < rp->nprovs; i++)
		fprintf(fp, "| provider %s | %s | %s |\n", rp->provs[i].name,
		    m(rp->provs[i].rate, m1, sizeof(m1)),
		    m(rp->provs[i].cost, m2, sizeof(m2)));
	for (i = 0; i < rp->ncommits; i++)
		fprintf(fp, "| spawned from commit %s | %s | %s |\n",
		    rp->commits[i].name,
		    m(rp->commits[i].rate, m1, sizeof(m1)),
		    m(rp->commits[i].cost, m2, sizeof(m2)));
	fprintf(fp, "| **all** | %s | %s |\n\n", m(rp->rate, m1, sizeof(m1)),
	    m(rp->cost, m2, sizeof(m2)));
	fprintf(fp, "Projected at this rate: $%s in 24 h, $%s in 30 days.  "
	    "Spent on instances nobody asked for: $%s.\n",
	    m(money_cost(rp->rate, PROJ_24H), m1, sizeof(m1)),
	    m(money_cost(rp->rate, PROJ_30D), m3, sizeof(m3)),
	    m(rp->unasked, m4, sizeof(m4)));
	buf_release(&b);
}

static int
cmd_drift_exec(struct ctx *c, int argc, char **argv)
{
	struct options		*op = c->opts;
	struct observation	 o;
	struct report		 rp;
	struct gr_err		 e;
	int64_t			 now = clock_now_ms();
	size_t			 i, nfmt;
	int			 rc;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: drift takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	nfmt = (op->json ? 1 : 0) + (op->csv ? 1 : 0) + (op->markdown ? 1 : 0);
	if (nfmt > 1) {
		fprintf(stderr, "gpureconcile: drift: --json, --csv and "
		    "--markdown exclude each other\n");
		return GR_EXIT_USAGE;
	}
	memset(&rp, 0, sizeof(rp));
	if (op->since != NULL && !time_arg_parse(op->since, now,
	    &rp.since_ms)) {
		fprintf(stderr, "gpureconcile: --since '%s': expected "
		    "2026-11-23T00:00:00Z or a duration ago (24h, 7d)\n",
		    op->since);
		return GR_EXIT_USAGE;
	}
	if (op->until != NULL && !time_arg_parse(op->until, now,
	    &rp.until_ms)) {
		fprintf(stderr, "gpureconcile: --until '%s': expected "
		    "2026-11-23T00:00:00Z or a duration ago (24h, 7d)\n",
		    op->until);
		return GR_EXIT_USAGE;
	}
	if (rp.since_ms != 0 && rp.until_ms != 0 && rp.until_ms <
	    rp.since_ms) {
		fprintf(stderr, "gpureconcile: --until is before --since\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	/* the fleet files are optional: without them, no spec drift,
	 * ttl or budget checks */
	if ((op->nfleet_paths > 0 || c->cfg->nfleet_paths > 0) &&
	    ctx_load_spec(c, &e) == -1)
		return report_error(&e);
	if (observe(c, &o, &e) == -1)
		return report_error(&e);
	if (report_build(c, &o, &rp, now, &e) == -1) {
		rc = report_error(&e);
		report_release(&rp);
		observation_release(&o);
		return rc;
	}
	if (op->json)
		print_json(&rp, stdout);
	else if (op->csv)
		print_csv(&rp, stdout);
	else if (op->markdown)
		print_markdown(&rp, stdout);
	else
		print_table(&rp, stdout);
	rc = rp.ndrift > 0 ? GR_EXIT_CHANGES : GR_EXIT_OK;
	/* a provider that could not be listed hides what it runs */
	for (i = 0; i < o.nprovs; i++)
		if (!o.provs[i].ok) {
			gr_err_copy(&e, &o.provs[i].err);
			if (e.code == GR_OK)
				gr_err_set(&e, GR_E_TRANSIENT, "provider '%s' "
				    "could not be listed", o.provs[i].name);
			gr_err_prefix(&e, "drift: '%s' not listed",
			    o.provs[i].name);
			rc = report_error(&e);
			break;
		}
	report_release(&rp);
	observation_release(&o);
	return rc;
}

const struct cmd_entry cmd_drift_entry = {
	.name = "drift",
	.usage = "[-f PATH...] [--include-foreign] [--since T] [--until T] "
	    "[--json|--csv|--markdown]",
	.summary = "report instances that drifted, and what they cost",
	.help =
	    "Lists every provider the fleet files or the ledger name and "
	    "puts each instance\n"
	    "in a class: orphan (our label, no ledger row), foreign (not "
	    "ours; only with\n"
	    "--include-foreign), vanished (gone from the provider without a "
	    "confirmed\n"
	    "billing end), stuck (termination not confirmed), price-mismatch "
	    "(billed above\n"
	    "its group's max), expired (past its ttl; needs -f), spec-drift "
	    "(made for an\n"
	    "older group spec; needs -f), or clean; a fleet whose billed $/h "
	    "is above its\n"
	    "budget is over-budget (needs -f).\n"
	    "\n"
	    "Costs come from the ledger: billed price times billed time, per "
	    "instance, group,\n"
	    "fleet and provider, with the burn rate now, a 24 h and 30 day "
	    "projection at\n"
	    "that rate, and what instances nobody asked for cost (orphans, "
	    "from the\n"
	    "provider's creation time; stuck terminations, since the "
	    "terminate; vanished\n"
	    "ones).  drift never changes anything and takes no lock.\n"
	    "\n"
	    "  -f PATH             fleet files, for spec-drift, expired and "
	    "over-budget\n"
	    "  --include-foreign   list instances that are not ours too\n"
	    "  --since T           count costs from T: 2026-11-23T00:00:00Z "
	    "(UTC) or a\n"
	    "                      duration ago (24h, 7d, 1h30m)\n"
	    "  --until T           count costs up to T (same forms; default "
	    "now)\n"
	    "  --json              one JSON document (money as text and "
	    "micro-dollars)\n"
	    "  --csv               one CSV table, a kind column per line\n"
	    "  --markdown          Markdown tables\n"
	    "\n"
	    "Exit 0 when everything is clean, 2 when anything drifted, the "
	    "error table's\n"
	    "code when a provider could not be listed.\n",
	.flags = CMD_READS_LEDGER,
	.exec = cmd_drift_exec,
};
