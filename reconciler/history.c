/*
 * history.c: `gpureconcile status --history`, the audit trail.
 *
 * Every event of the ledger in order, each with the spec file, the spec
 * hash and the git commit it was written under, then the instances
 * grouped by the commit they were spawned from with what they cost, so
 * that "which commit spawned this and what did it cost" has an answer.
 * Reads the ledger only.
 *
 *   --instance X	one instance: provider id, label or address
 *   --since/--until	events in that window (the commits table counts
 *			the instances those events belong to)
 *   --json		{"events": [...], "commits": [...]}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reconciler.h"

/* One spawning commit and what its instances cost. */
struct by_commit {
	const char	*commit;	/* borrowed from a row; NULL: none */
	const char	*file;		/* a spec file of its instances */
	size_t		 instances;	/* rows the provider made */
	size_t		 failed;	/* spawns that made no instance */
	size_t		 billing;	/* billing now */
	money_t		 rate;		/* their $/h now */
	money_t		 cost;		/* so far */
};

static const struct ledger_inst *
row_by_uid(const struct ledger_inst *rows, size_t n, int64_t uid)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (rows[i].uid == uid)
			return &rows[i];
	return NULL;
}

static bool
row_matches(const struct ledger_inst *r, const char *want)
{
	char	*addr;
	bool	 m;

	if (want == NULL)
		return true;
	if ((r->provider_id != NULL && strcmp(r->provider_id, want) == 0) ||
	    (r->label != NULL && strcmp(r->label, want) == 0))
		return true;
	addr = row_address(r);
	m = strcmp(addr, want) == 0;
	free(addr);
	return m;
}

static bool
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void
commit_add(struct by_commit **v, size_t *n, const struct ledger_inst *r,
    int64_t now)
{
	struct by_commit	*b = NULL;
	size_t			 i;

	for (i = 0; i < *n; i++)
		if (same_str((*v)[i].commit, r->git_commit)) {
			b = &(*v)[i];
			break;
		}
	if (b == NULL) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		b = &(*v)[(*n)++];
		memset(b, 0, sizeof(*b));
		b->commit = r->git_commit;
	}
	if (b->file == NULL)
		b->file = r->spec_file;
	if (r->provider_id == NULL && r->billing_start_ms == 0 &&
	    r->state == INST_TERMINATED) {
		b->failed++;
		return;
	}
	b->instances++;
	if (r->billing_start_ms > 0 && r->billing_end_ms == 0) {
		b->billing++;
		b->rate += r->price;
	}
	b->cost += row_cost(r, now);
}

/* A commit for a table: 12 digits, "+dirty" kept, "-" when none. */
static const char *
short_commit(const char *c, char *out, size_t len)
{
	size_t	 n;

	if (c == NULL)
		return "-";
	n = strcspn(c, "+");
	snprintf(out, len, "%.*s%s", (int)(n < 12 ? n : 12), c, c + n);
	return out;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static void
history_json(const struct ledger_event *ev, size_t nev, const bool *shown,
    const struct ledger_inst *rows, size_t nrows,
    const struct by_commit *bc, size_t nbc)
{
	json_t	*doc = json_object(), *arr = json_array(), *o;
	char	 t[32], *addr;
	size_t	 i;

	for (i = 0; i < nev; i++) {
		const struct ledger_inst *r;

		if (!shown[i])
			continue;
		r = row_by_uid(rows, nrows, ev[i].uid);
		o = json_object();
		json_object_set_new(o, "at", json_string(time_iso8601(
		    ev[i].at_ms, t, sizeof(t))));
		addr = r != NULL ? row_address(r) : NULL;
		json_object_set_new(o, "address", str_or_null(addr));
		free(addr);
		json_object_set_new(o, "label", str_or_null(r != NULL ?
		    r->label : NULL));
		json_object_set_new(o, "provider", str_or_null(r != NULL ?
		    r->provider : NULL));
		json_object_set_new(o, "provider_id", str_or_null(r != NULL ?
		    r->provider_id : NULL));
		json_object_set_new(o, "event", str_or_null(ev[i].kind));
		json_object_set_new(o, "from", json_string(inst_state_name(
		    ev[i].from)));
		json_object_set_new(o, "to", json_string(inst_state_name(
		    ev[i].to)));
		json_object_set_new(o, "detail", str_or_null(ev[i].detail));
		json_object_set_new(o, "spec_file", str_or_null(
		    ev[i].spec_file));
		json_object_set_new(o, "spec_hash", str_or_null(
		    ev[i].spec_hash));
		json_object_set_new(o, "git_commit", str_or_null(
		    ev[i].git_commit));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "events", arr);
	arr = json_array();
	for (i = 0; i < nbc; i++) {
		o = json_object();
		json_object_set_new(o, "git_commit", str_or_null(bc[i].commit));
		json_object_set_new(o, "spec_file", str_or_null(bc[i].file));
		json_object_set_new(o, "instances", json_integer(
		    (json_int_t)bc[i].instances));
		json_object_set_new(o, "failed_spawns", json_integer(
		    (json_int_t)bc[i].failed));
		json_object_set_new(o, "billing_now", json_integer(
		    (json_int_t)bc[i].billing));
		json_object_set_new(o, "burn_per_hour", json_real(
		    money_to_double(bc[i].rate)));
		json_object_set_new(o, "cost", json_real(money_to_double(
		    bc[i].cost)));
		json_object_set_new(o, "cost_micros", json_integer(
		    bc[i].cost));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "commits", arr);
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10));
	putchar('\n');
	json_decref(doc);
}

static void
history_text(const struct ledger_event *ev, size_t nev, const bool *shown,
    size_t nshown, const struct ledger_inst *rows, size_t nrows,
    const struct by_commit *bc, size_t nbc)
{
	char	 t[32], c[40], m1[32], m2[32], *addr;
	size_t	 i;

	if (nshown == 0) {
		printf("no events\n");
		return;
	}
	printf("%-20s %-24s %-17s %-21s %-18s %s\n", "TIME", "ADDRESS",
	    "EVENT", "STATE", "COMMIT", "DETAIL");
	for (i = 0; i < nev; i++) {
		const struct ledger_inst	*r;
		char				 st[32];

		if (!shown[i])
			continue;
		r = row_by_uid(rows, nrows, ev[i].uid);
		addr = r != NULL ? row_address(r) : xstrdup("?");
		if (ev[i].from == ev[i].to)
			snprintf(st, sizeof(st), "%s",
			    inst_state_name(ev[i].to));
		else
			snprintf(st, sizeof(st), "%s->%s",
			    inst_state_name(ev[i].from),
			    inst_state_name(ev[i].to));
		printf("%-20s %-24s %-17s %-21s %-18s %s\n",
		    time_iso8601(ev[i].at_ms, t, sizeof(t)), addr,
		    ev[i].kind != NULL ? ev[i].kind : "-", st,
		    short_commit(ev[i].git_commit, c, sizeof(c)),
		    ev[i].detail != NULL ? ev[i].detail : "");
		free(addr);
	}
	printf("\nby the commit that spawned them:\n");
	printf("%-18s %9s %6s %7s %9s %10s  %s\n", "COMMIT", "INSTANCES",
	    "FAILED", "BILLING", "$/H", "COST", "SPEC FILE");
	for (i = 0; i < nbc; i++)
		printf("%-18s %9zu %6zu %7zu %9s %10s  %s\n",
		    short_commit(bc[i].commit, c, sizeof(c)),
		    bc[i].instances, bc[i].failed, bc[i].billing,
		    money_fmt(bc[i].rate, m1, sizeof(m1)),
		    money_fmt(bc[i].cost, m2, sizeof(m2)),
		    bc[i].file != NULL ? bc[i].file : "-");
}

int
status_history(struct ctx *c)
{
	const struct options	*op = c->opts;
	struct ledger_inst	*rows = NULL;
	struct ledger_event	*ev = NULL;
	struct by_commit	*bc = NULL;
	struct gr_err		 e;
	int64_t			 now = clock_now_ms(), since = 0, until = 0;
	size_t			 nrows = 0, nev = 0, nbc = 0, nshown = 0, i;
	bool			*shown, *counted;
	int			 rc = 0;

	if (op->since != NULL && !time_arg_parse(op->since, now, &since)) {
		fprintf(stderr, "gpureconcile: --since '%s': expected "
		    "2026-11-23T00:00:00Z or a duration ago (24h, 7d)\n",
		    op->since);
		return GR_EXIT_USAGE;
	}
	if (op->until != NULL && !time_arg_parse(op->until, now, &until)) {
		fprintf(stderr, "gpureconcile: --until '%s': expected "
		    "2026-11-23T00:00:00Z or a duration ago (24h, 7d)\n",
		    op->until);
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (c->ledger != NULL &&
	    (ledger_list(c->ledger, true, &rows, &nrows, &e) == -1 ||
	    ledger_events(c->ledger, 0, &ev, &nev, &e) == -1)) {
		ledger_insts_free(rows, nrows);
		return report_error(&e);
	}
	shown = xcalloc(nev + 1, sizeof(*shown));
	counted = xcalloc(nrows + 1, sizeof(*counted));
	for (i = 0; i < nev; i++) {
		const struct ledger_inst *r = row_by_uid(rows, nrows,
		    ev[i].uid);

		if (r == NULL || !row_matches(r, op->instance) ||
		    (since != 0 && ev[i].at_ms < since) ||
		    (until != 0 && ev[i].at_ms >= until))
			continue;
		shown[i] = true;
		nshown++;
		if (!counted[r - rows]) {
			counted[r - rows] = true;
			commit_add(&bc, &nbc, r, now);
		}
	}
	if (op->instance != NULL && nshown == 0 && since == 0 &&
	    until == 0) {
		fprintf(stderr, "gpureconcile: no instance '%s' in the ledger "
		    "(hint: give a provider id, a label or an address such as "
		    "fleet/group/0; `status --all` lists them)\n",
		    op->instance);
		rc = GR_EXIT_NOINPUT;
	} else if (op->json)
		history_json(ev, nev, shown, rows, nrows, bc, nbc);
	else
		history_text(ev, nev, shown, nshown, rows, nrows, bc, nbc);
	free(shown);
	free(counted);
	free(bc);
	ledger_events_free(ev, nev);
	ledger_insts_free(rows, nrows);
	return rc;
}
