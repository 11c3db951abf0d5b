/*
 * output.c: a plan as text for people and as one JSON document for
 * programs.  Both say the same things.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "reconciler.h"

static char
action_mark(enum action_kind k)
{
	switch (k) {
	case ACT_SPAWN:
		return '+';
	case ACT_REPLACE:
		return '~';
	case ACT_TERMINATE:
	case ACT_ORPHAN:
		return '-';
	case ACT_BLOCKED:
		return '!';
	case ACT_KEEP:
		return '=';
	case ACT_EXPIRED:
		return 'x';
	default:
		return ' ';
	}
}

static const char *
gpu_fmt(const struct action *a, char *buf, size_t len)
{
	if (a->gpu == NULL)
		snprintf(buf, len, "-");
	else if (a->gpu_count > 1)
		snprintf(buf, len, "%dx %s", a->gpu_count, a->gpu);
	else
		snprintf(buf, len, "%s", a->gpu);
	return buf;
}

void
plan_print(const struct plan *p, FILE *fp)
{
	size_t	 i, counts[16] = { 0 };
	char	 m[32], m2[32], m3[32], g[64];

	for (i = 0; i < p->n; i++) {
		const struct action	*a = &p->v[i];
		char			*addr = action_address(a);

		counts[a->kind]++;
		fprintf(fp, "%c %-9s %-28s %-8s %-14s $%s/h  %s%s%s",
		    action_mark(a->kind), action_kind_name(a->kind), addr,
		    a->provider != NULL ? a->provider : "-",
		    gpu_fmt(a, g, sizeof(g)), money_fmt(a->price, m, sizeof(m)),
		    a->reason, a->provider_id != NULL ? " [" : "",
		    a->provider_id != NULL ? a->provider_id : "");
		if (a->provider_id != NULL)
			fputc(']', fp);
		fputc('\n', fp);
		free(addr);
	}
	if (p->n > 0)
		fputc('\n', fp);
	for (i = 0; i < p->nfleets; i++) {
		const struct fleet_money *fm = &p->fleets[i];

		fprintf(fp, "fleet %s: $%s/h -> $%s/h", fm->fleet,
		    money_fmt(fm->before, m, sizeof(m)),
		    money_fmt(fm->after, m2, sizeof(m2)));
		if (fm->has_cap)
			fprintf(fp, " (budget $%s/h)",
			    money_fmt(fm->cap, m3, sizeof(m3)));
		fputc('\n', fp);
	}
	fprintf(fp, "total: $%s/h -> $%s/h; %zu to spawn, %zu to replace, "
	    "%zu to terminate, %zu kept, %zu waiting, %zu blocked",
	    money_fmt(p->before, m, sizeof(m)),
	    money_fmt(p->after, m2, sizeof(m2)), counts[ACT_SPAWN],
	    counts[ACT_REPLACE], counts[ACT_TERMINATE] + counts[ACT_ORPHAN],
	    counts[ACT_KEEP], counts[ACT_WAIT], counts[ACT_BLOCKED]);
	if (counts[ACT_EXPIRED] > 0)
		fprintf(fp, "; %zu expired (ttl)", counts[ACT_EXPIRED]);
	if (p->nforeign > 0)
		fprintf(fp, "; %zu foreign instance%s left alone", p->nforeign,
		    p->nforeign == 1 ? "" : "s");
	fputc('\n', fp);
	if (p->nchanges == 0 && counts[ACT_WAIT] + counts[ACT_BLOCKED] > 0)
		fprintf(fp, "no changes to make now, but the fleet does not "
		    "match its files yet: %zu waiting, %zu blocked\n",
		    counts[ACT_WAIT], counts[ACT_BLOCKED]);
	else if (p->nchanges == 0)
		fprintf(fp, "no changes: the fleet matches its files\n");
	for (i = 0; i < p->nwarnings; i++)
		fprintf(stderr, "warning: %s\n", p->warnings[i]);
}

static json_t *
json_money(money_t m)	/* new */
{
	return json_real(money_to_double(m));
}

void
plan_print_json(const struct plan *p, FILE *fp)
{
	json_t	*root, *acts, *fleets, *warns;
	size_t	 i;

	root = json_object();
	acts = json_array();
	for (i = 0; i < p->n; i++) {
		const struct action	*a = &p->v[i];
		json_t			*o = json_object();
		char			*addr = action_address(a);

		json_object_set_new(o, "action",
		    json_string(action_kind_name(a->kind)));
		json_object_set_new(o, "address", json_string(addr));
		free(addr);
		json_object_set_new(o, "fleet",
		    a->fleet ? json_string(a->fleet) : json_null());
		json_object_set_new(o, "group",
		    a->group ? json_string(a->group) : json_null());
		json_object_set_new(o, "slot",
		    a->slot >= 0 ? json_integer(a->slot) : json_null());
		json_object_set_new(o, "provider",
		    a->provider ? json_string(a->provider) : json_null());
		json_object_set_new(o, "provider_id", a->provider_id ?
		    json_string(a->provider_id) : json_null());
		json_object_set_new(o, "gpu",
		    a->gpu ? json_string(a->gpu) : json_null());
		json_object_set_new(o, "gpu_count", json_integer(a->gpu_count));
		json_object_set_new(o, "price_per_hour", json_money(a->price));
		json_object_set_new(o, "changes", json_boolean(
		    action_mutates(a)));
		json_object_set_new(o, "reason", json_string(a->reason));
		json_array_append_new(acts, o);
	}
	json_object_set_new(root, "actions", acts);
	fleets = json_array();
	for (i = 0; i < p->nfleets; i++) {
		const struct fleet_money	*fm = &p->fleets[i];
		json_t				*o = json_object();

		json_object_set_new(o, "fleet", json_string(fm->fleet));
		json_object_set_new(o, "before_per_hour",
		    json_money(fm->before));
		json_object_set_new(o, "after_per_hour", json_money(fm->after));
		json_object_set_new(o, "budget_per_hour",
		    fm->has_cap ? json_money(fm->cap) : json_null());
		json_array_append_new(fleets, o);
	}
	json_object_set_new(root, "fleets", fleets);
	json_object_set_new(root, "before_per_hour", json_money(p->before));
	json_object_set_new(root, "after_per_hour", json_money(p->after));
	json_object_set_new(root, "changes", json_integer((json_int_t)
	    p->nchanges));
	json_object_set_new(root, "foreign", json_integer((json_int_t)
	    p->nforeign));
	warns = json_array();
	for (i = 0; i < p->nwarnings; i++)
		json_array_append_new(warns, json_string(p->warnings[i]));
	json_object_set_new(root, "warnings", warns);
	json_dumpf(root, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10));
	fputc('\n', fp);
	json_decref(root);
}

/* "2026-11-23T00:00:00Z" or a duration ago ("24h", "7d"). */
bool
time_arg_parse(const char *s, int64_t now, int64_t *out)
{
	struct tm	 tm;
	const char	*why;
	char		*end;
	int64_t		 secs;

	if (duration_parse(s, &secs, &why)) {
		*out = now - secs * 1000;
		return true;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || strcmp(end, "Z") != 0)
		return false;
	*out = (int64_t)timegm(&tm) * 1000;
	return true;
}

money_t
row_cost(const struct ledger_inst *r, int64_t now)
{
	int64_t	 end;

	if (r->billing_start_ms == 0)
		return 0;
	end = r->billing_end_ms > 0 ? r->billing_end_ms : now;
	return money_cost(r->price, end - r->billing_start_ms);
}

char *
row_address(const struct ledger_inst *r)
{
	if (r->kind == LEDGER_KIND_ADHOC)
		return xasprintf("adhoc/%s", r->group);
	return xasprintf("%s/%s/%d", r->fleet, r->group, r->slot);
}
