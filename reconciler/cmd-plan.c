/*
 * cmd-plan.c: `gpureconcile plan`: what apply would do, and what it would
 * cost.  Read-only: it lists providers and asks for offers (to show
 * prices), never spawns, terminates or writes the ledger.
 */
#include <stdio.h>

#include "reconciler.h"

static int
cmd_plan_exec(struct ctx *c, int argc, char **argv)
{
	struct observation	 o;
	struct plan		 p;
	struct gr_err		 e;
	int			 rc;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: plan takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (observe(c, &o, &e) == -1)
		return report_error(&e);
	plan_build(c, &o, &p, &e);
	if (c->opts->json)
		plan_print_json(&p, stdout);
	else
		plan_print(&p, stdout);
	rc = c->opts->detailed_exitcode && p.nchanges > 0 ? GR_EXIT_CHANGES :
	    GR_EXIT_OK;
	/* A plan that could not check what runs is no "no changes". */
	if (observation_unchecked(&o, &e))
		rc = report_error(&e);
	plan_release(&p);
	observation_release(&o);
	return rc;
}

const struct cmd_entry cmd_plan_entry = {
	.name = "plan",
	.usage = "-f PATH... [--destroy] [--json] [--detailed-exitcode]",
	.summary = "show what apply would change, and what it would cost",
	.help =
	    "Reads the fleet files, lists every provider they or the ledger "
	    "name, and prints\n"
	    "each action apply would take: spawn, replace, terminate, keep "
	    "(and wait or\n"
	    "blocked, with the reason), each with its instance address "
	    "(fleet/group/slot),\n"
	    "provider, GPU and price, then every fleet's $/h before and "
	    "after.  Spawns that\n"
	    "would cross a budget are shown as blocked (budget-limited).\n"
	    "\n"
	    "plan never changes anything: no spawn, no terminate, no ledger "
	    "write.\n"
	    "\n"
	    "  --destroy             plan the removal of every instance of "
	    "these fleets\n"
	    "  --json                one JSON document instead of text\n"
	    "  --detailed-exitcode   exit 0 when nothing would change, 2 when "
	    "something would,\n"
	    "                        1 (or the error table's code) on error\n",
	.flags = CMD_NEEDS_SPEC | CMD_READS_LEDGER,
	.exec = cmd_plan_exec,
};
