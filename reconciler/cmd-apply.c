/*
 * cmd-apply.c: `gpureconcile apply` (and `--once`): converge the fleet to
 * its files.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reconciler.h"

static void
print_summary(struct ctx *c, const struct apply_result *t,
    const struct gr_err *e)
{
	struct ledger_inst	*rows = NULL;
	struct gr_err		 le;
	size_t			 n = 0, i, running = 0, pending = 0,
				 stopping = 0;
	json_t			*o;

	if (ledger_list(c->ledger, false, &rows, &n, &le) == 0) {
		for (i = 0; i < n; i++) {
			if (rows[i].state == INST_RUNNING)
				running++;
			else if (rows[i].state == INST_STOPPING)
				stopping++;
			else
				pending++;
		}
		ledger_insts_free(rows, n);
	}
	if (c->opts->json) {
		o = json_object();
		json_object_set_new(o, "converged",
		    json_boolean(t->converged));
		json_object_set_new(o, "passes", json_integer(
		    (json_int_t)t->passes));
		json_object_set_new(o, "spawned", json_integer(
		    (json_int_t)t->spawned));
		json_object_set_new(o, "terminated", json_integer(
		    (json_int_t)t->terminated));
		json_object_set_new(o, "mutating_calls", json_integer(
		    (json_int_t)t->mutating_calls));
		json_object_set_new(o, "running", json_integer(
		    (json_int_t)running));
		json_object_set_new(o, "pending", json_integer(
		    (json_int_t)pending));
		json_object_set_new(o, "stopping", json_integer(
		    (json_int_t)stopping));
		json_object_set_new(o, "seconds",
		    json_real((double)t->ms / 1000.0));
		if (e->code == GR_OK)
			json_object_set_new(o, "error", json_null());
		else {
			json_t	*je = json_object();

			json_object_set_new(je, "code",
			    json_string(gr_code_name(e->code)));
			json_object_set_new(je, "message", json_string(e->msg));
			json_object_set_new(je, "hint", e->hint[0] ?
			    json_string(e->hint) : json_null());
			json_object_set_new(o, "error", je);
		}
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(o);
		return;
	}
	printf("%s after %zu pass%s in %.1fs: %zu spawned, %zu terminated; "
	    "now %zu running, %zu pending, %zu stopping\n",
	    t->converged ? "converged" : "not converged", t->passes,
	    t->passes == 1 ? "" : "es", (double)t->ms / 1000.0, t->spawned,
	    t->terminated, running, pending, stopping);
}

static int
cmd_apply_exec(struct ctx *c, int argc, char **argv)
{
	struct apply_opts	 ao = { false, 0 };
	struct apply_result	 res;
	struct gr_err		 e;
	int			 rc;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: apply takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	ao.interactive = !c->opts->yes && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO);
	gr_err_clear(&e);
	memset(&res, 0, sizeof(res));
	rc = apply_run(c, &ao, &res, &e);
	if (res.passes > 0)
		print_summary(c, &res, &e);
	return rc == -1 ? report_error(&e) : 0;
}

const struct cmd_entry cmd_apply_entry = {
	.name = "apply",
	.usage = "-f PATH... [--destroy] [--yes] [--json] [--parallel N]",
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
	    "  --destroy       terminate every instance of the fleets in these "
	    "files (as if\n"
	    "                  every group had count: 0); the files stay as "
	    "they are\n"
	    "  --yes, -y       do not ask\n"
	    "  --json          print the outcome as JSON\n"
	    "  --parallel N    provider calls at once (default 8)\n",
	.flags = CMD_NEEDS_SPEC | CMD_NEEDS_LOCK | CMD_NEEDS_LEDGER,
	.exec = cmd_apply_exec,
};
