/*
 * cmd-watch.c: `gpureconcile watch`: the daemon that keeps the fleet
 * converged (watch.c is its loop).
 */
#include <stdio.h>

#include "reconciler.h"

static int
cmd_watch_exec(struct ctx *c, int argc, char **argv)
{
	struct gr_err	 e;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: watch takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	if (c->opts->destroy) {
		fprintf(stderr, "gpureconcile: watch does not take --destroy "
		    "(hint: run 'gpureconcile apply --destroy' once)\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (watch_run(c, &e) == -1)
		return report_error(&e);
	return 0;
}

const struct cmd_entry cmd_watch_entry = {
	.name = "watch",
	.usage = "-f DIR... [--resync DUR] [--debounce DUR] [--syslog]",
	.summary = "a daemon: keep the fleet converged as its files change",
	.help =
	    "Runs until stopped.  It watches the fleet directories (inotify, "
	    "recursively;\n"
	    "editors' save by rename, git checkout and pull, and symlink swaps "
	    "such as a\n"
	    "Kubernetes ConfigMap's ..data are all seen) and, a moment after a "
	    "burst of\n"
	    "changes, parses the whole spec again.  A valid spec replaces the "
	    "desired state\n"
	    "and a pass (the one apply runs) brings the fleet to it; an "
	    "invalid one is\n"
	    "logged with every file:line:col error and changes nothing.  A "
	    "full pass also\n"
	    "runs every --resync, so an instance ended or changed at the "
	    "provider behind\n"
	    "our back is put back, orphans are ended and stuck terminations "
	    "checked again;\n"
	    "each provider in use gets a heartbeat (its config's heartbeat, "
	    "default 5m).\n"
	    "\n"
	    "It holds the ledger lock while it runs: plan, status, drift and "
	    "check work\n"
	    "beside it; apply says the daemon holds the lock.  One log line "
	    "per decision,\n"
	    "each starting with the instance or fleet address; -v adds "
	    "provider calls.\n"
	    "\n"
	    "Signals: SIGHUP reloads the fleet files (the config is read once, "
	    "at start).\n"
	    "SIGTERM or SIGINT: the provider calls in flight finish and are "
	    "recorded, then\n"
	    "it exits 0; a second signal, or calls still running after the "
	    "stop timeout,\n"
	    "exit 75 at once (the ledger stays consistent; the next run heals "
	    "what was cut\n"
	    "short).  It starts only from a valid spec (else exit 65, like "
	    "apply).\n"
	    "\n"
	    "  --resync DUR     full pass at least this often (default 60s; "
	    "config\n"
	    "                   watch: {resync: 60s})\n"
	    "  --debounce DUR   quiet time after a change before the reload "
	    "(default 100ms;\n"
	    "                   config watch: {debounce: 100ms})\n"
	    "  --syslog         log to syslog (facility daemon) instead of "
	    "stderr\n"
	    "  --parallel N     provider calls at once (default 8)\n"
	    "\n"
	    "Config: watch: {resync: 60s, debounce: 100ms, stop_timeout: 30s}; "
	    "per provider\n"
	    "heartbeat: 5m.  For cron instead, run 'gpureconcile --once -f "
	    "DIR'.\n",
	.flags = CMD_NEEDS_SPEC | CMD_NEEDS_LOCK | CMD_NEEDS_LEDGER,
	.exec = cmd_watch_exec,
};
