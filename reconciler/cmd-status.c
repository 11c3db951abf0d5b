/*
 * cmd-status.c: `gpureconcile status`: every tracked instance from the
 * ledger alone (no provider is called): state, provider id, price, age
 * and cost so far.  Safe beside a running apply or watch: it only reads.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "reconciler.h"

static void
status_json(const struct ledger_inst *rows, size_t n, int64_t now)
{
	json_t	*arr = json_array();
	char	 t[32];
	size_t	 i;

	for (i = 0; i < n; i++) {
		const struct ledger_inst	*r = &rows[i];
		json_t				*o = json_object();
		char				*addr = row_address(r);

		json_object_set_new(o, "address", json_string(addr));
		free(addr);
		json_object_set_new(o, "kind",
		    json_string(ledger_kind_name(r->kind)));
		json_object_set_new(o, "label", json_string(r->label));
		json_object_set_new(o, "provider", json_string(r->provider));
		json_object_set_new(o, "provider_id", r->provider_id ?
		    json_string(r->provider_id) : json_null());
		json_object_set_new(o, "state",
		    json_string(inst_state_name(r->state)));
		json_object_set_new(o, "gpu", r->gpu ? json_string(r->gpu) :
		    json_null());
		json_object_set_new(o, "gpu_count", json_integer(r->gpu_count));
		json_object_set_new(o, "price_per_hour",
		    json_real(money_to_double(r->price)));
		json_object_set_new(o, "max_price_per_hour",
		    json_real(money_to_double(r->max_price)));
		json_object_set_new(o, "created_at", json_string(
		    time_iso8601(r->created_ms, t, sizeof(t))));
		json_object_set_new(o, "age_seconds",
		    json_integer((now - r->created_ms) / 1000));
		json_object_set_new(o, "billing_start", r->billing_start_ms ?
		    json_string(time_iso8601(r->billing_start_ms, t,
		    sizeof(t))) : json_null());
		json_object_set_new(o, "billing_end", r->billing_end_ms ?
		    json_string(time_iso8601(r->billing_end_ms, t,
		    sizeof(t))) : json_null());
		json_object_set_new(o, "cost",
		    json_real(money_to_double(row_cost(r, now))));
		json_object_set_new(o, "spec_hash", r->spec_hash ?
		    json_string(r->spec_hash) : json_null());
		json_object_set_new(o, "last_error", r->last_error ?
		    json_string(r->last_error) : json_null());
		json_array_append_new(arr, o);
	}
	json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10));
	putchar('\n');
	json_decref(arr);
}

static int
cmd_status_exec(struct ctx *c, int argc, char **argv)
{
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	int64_t			 now = clock_now_ms();
	money_t			 total = 0, rate = 0;
	char			 m1[32], m2[32], age[32];

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: status takes no arguments\n");
		return GR_EXIT_USAGE;
	}
	if (c->opts->history)
		return status_history(c);
	if (c->opts->instance != NULL || c->opts->since != NULL ||
	    c->opts->until != NULL) {
		fprintf(stderr, "gpureconcile: status: --instance, --since and "
		    "--until go with --history\n");
		return GR_EXIT_USAGE;
	}
	if (c->ledger != NULL &&
	    ledger_list(c->ledger, c->opts->all, &rows, &n, &e) == -1)
		return report_error(&e);
	if (c->opts->json) {
		status_json(rows, n, now);
		ledger_insts_free(rows, n);
		return 0;
	}
	if (n == 0) {
		printf("no instances tracked%s\n", c->ledger == NULL ?
		    " (no ledger yet)" : "");
		ledger_insts_free(rows, n);
		return 0;
	}
	printf("%-28s %-10s %-8s %-16s %-14s %9s %8s %10s\n", "ADDRESS",
	    "STATE", "PROVIDER", "ID", "GPU", "$/H", "AGE", "COST");
	for (i = 0; i < n; i++) {
		const struct ledger_inst	*r = &rows[i];
		char				*addr = row_address(r);
		char				 g[48];
		money_t				 cost = row_cost(r, now);

		if (r->gpu_count > 1)
			snprintf(g, sizeof(g), "%dx %s", r->gpu_count,
			    r->gpu ? r->gpu : "?");
		else
			snprintf(g, sizeof(g), "%s", r->gpu ? r->gpu : "?");
		printf("%-28s %-10s %-8s %-16s %-14s %9s %8s %10s\n", addr,
		    inst_state_name(r->state), r->provider,
		    r->provider_id ? r->provider_id : "-", g,
		    money_fmt(r->price, m1, sizeof(m1)),
		    age_fmt(now - r->created_ms, age, sizeof(age)),
		    money_fmt(cost, m2, sizeof(m2)));
		if (r->last_error != NULL && r->state != INST_TERMINATED)
			printf("    last error: %s\n", r->last_error);
		total += cost;
		if (r->billing_start_ms > 0 && r->billing_end_ms == 0)
			rate += r->price;
		free(addr);
	}
	printf("%zu instance%s; burning $%s/h now; $%s spent so far\n", n,
	    n == 1 ? "" : "s", money_fmt(rate, m1, sizeof(m1)),
	    money_fmt(total, m2, sizeof(m2)));
	ledger_insts_free(rows, n);
	return 0;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "[--all] [--json] | --history [--instance X] [--since T] "
	    "[--until T] [--json]",
	.summary = "show tracked instances from the ledger (no provider call)",
	.help =
	    "Prints every instance the ledger tracks: address, state, "
	    "provider and its id,\n"
	    "GPU, billed $/h, age and cost so far (billed price times billed "
	    "time).  It\n"
	    "reads the ledger only: it calls no provider and works beside a "
	    "running apply\n"
	    "or watch.\n"
	    "\n"
	    "  --all    include terminated instances\n"
	    "  --json   a JSON array, one object per instance\n"
	    "\n"
	    "With --history it prints the audit trail instead: every event "
	    "of the ledger\n"
	    "with the spec file, spec hash and git commit it was written "
	    "under, then the\n"
	    "instances grouped by the commit that spawned them with what they "
	    "cost.\n"
	    "  --instance X   one instance (provider id, label or "
	    "fleet/group/slot)\n"
	    "  --since T, --until T   events in a window (2026-11-23T00:00:00Z "
	    "or 24h ago)\n",
	.flags = CMD_READS_LEDGER,
	.exec = cmd_status_exec,
};
