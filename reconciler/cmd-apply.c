/*
 * cmd-apply.c: `gpureconcile apply` (and `--once`): converge the fleet to
 * its files.
 */
#include <stdio.h>
#include <unistd.h>

#include "reconciler.h"

static int
cmd_apply_exec(struct ctx *c, int argc, char **argv)
{
	struct apply_opts	 ao = { false, 0 };
	struct gr_err		 e;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: apply takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	ao.interactive = !c->opts->yes && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO);
	gr_err_clear(&e);
	if (apply_run(c, &ao, &e) == -1)
		return report_error(&e);
	return 0;
}

const struct cmd_entry cmd_apply_entry = {
	.name = "apply",
	.usage = "-f PATH... [--yes] [--json] [--parallel N]",
	.summary = "spawn and terminate until the fleet matches its files",
	.help =
	    "Repeats passes (list providers, compare with the fleet files and "
	    "the ledger,\n"
	    "act) until every group has its count of instances with its "
	    "current spec, and\n"
	    "nothing runs that no file asks for.  It spawns what is missing, "
	    "terminates\n"
	    "surplus instances and those of groups or fleets removed from the "
	    "files, and\n"
	    "replaces instances whose group spec changed (terminate, confirm, "
	    "then spawn).\n"
	    "\n"
	    "Every spawn is written to the ledger before the provider is "
	    "called; a\n"
	    "termination counts as done only when the provider no longer "
	    "shows the\n"
	    "instance.  It stops when converged, when nothing more can be "
	    "done (budget,\n"
	    "capacity, credentials), or after the spinup and teardown "
	    "timeouts.\n"
	    "\n"
	    "On a terminal it shows the plan and asks first, unless --yes.  "
	    "`gpureconcile\n"
	    "--once -f DIR` is apply --yes, for cron.  Holds the ledger lock "
	    "while it runs.\n"
	    "\n"
	    "  --yes, -y       do not ask\n"
	    "  --json          print the outcome as JSON\n"
	    "  --parallel N    provider calls at once (default 8)\n",
	.flags = CMD_NEEDS_SPEC | CMD_NEEDS_LOCK | CMD_NEEDS_LEDGER,
	.exec = cmd_apply_exec,
};
