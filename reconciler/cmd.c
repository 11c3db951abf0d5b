/*
 * cmd.c: the command table and the help text built from it.
 */
#include <stdio.h>
#include <string.h>

#include "reconciler.h"

static const struct cmd_entry *const cmds[] = {
	&cmd_plan_entry,
	&cmd_apply_entry,
	&cmd_watch_entry,
	&cmd_status_entry,
	&cmd_drift_entry,
	&cmd_check_entry,
	&cmd_provider_entry,
	&cmd_ledger_entry,
	&cmd_help_entry,
	&cmd_version_entry,
};

const struct cmd_entry *
cmd_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(cmds); i++) {
		if (strcmp(cmds[i]->name, name) == 0)
			return cmds[i];
		if (cmds[i]->alias != NULL && strcmp(cmds[i]->alias, name) == 0)
			return cmds[i];
	}
	return NULL;
}

size_t
cmd_count(void)
{
	return nitems(cmds);
}

const struct cmd_entry *
cmd_at(size_t i)
{
	return i < nitems(cmds) ? cmds[i] : NULL;
}

void
cmd_print_usage(FILE *fp)
{
	size_t	 i;

	fprintf(fp,
	    "usage: gpureconcile [options] COMMAND [options]\n"
	    "       gpureconcile --once -f DIR\n"
	    "\n"
	    "Keeps rented GPU instances equal to what fleet files say, and "
	    "never lets\n"
	    "an instance bill that no fleet asks for.\n"
	    "\n"
	    "Commands:\n");
	for (i = 0; i < nitems(cmds); i++)
		fprintf(fp, "  %-10s %s\n", cmds[i]->name, cmds[i]->summary);
	fprintf(fp,
	    "\n"
	    "Options for every command:\n"
	    "  -f, --file PATH     fleet file or directory (repeatable)\n"
	    "  --config FILE       config file (default "
	    "$XDG_CONFIG_HOME/gpureconcile/config.yaml)\n"
	    "  --state-dir DIR     ledger and local instances (default "
	    "$XDG_STATE_HOME/gpureconcile)\n"
	    "  --json              results as JSON on stdout\n"
	    "  -y, --yes           do not ask before changing anything\n"
	    "  --once              apply once without asking (for cron)\n"
	    "  -v, --verbose       more detail on stderr (twice: provider "
	    "calls)\n"
	    "  --syslog            diagnostics to syslog instead of stderr "
	    "(for watch)\n"
	    "  -q, --quiet         less detail on stderr\n"
	    "  -h, --help          this text; 'gpureconcile help COMMAND' "
	    "for one command\n"
	    "  --version           print the version\n"
	    "\n"
	    "Exit codes: 0 success, 1 error, 2 changes (plan "
	    "--detailed-exitcode), 64 usage,\n"
	    "65 bad fleet file, 69 capacity or provider unavailable, 74 "
	    "ledger or file I/O,\n"
	    "75 temporary (locked, rate limited, timeout, billing end "
	    "unconfirmed),\n"
	    "77 authentication, 78 bad config.\n");
}

void
cmd_print_help(const struct cmd_entry *ce, FILE *fp)
{
	fprintf(fp, "usage: gpureconcile %s %s\n\n%s\n\n%s", ce->name,
	    ce->usage, ce->summary, ce->help);
	if (ce->alias != NULL)
		fprintf(fp, "\nAlias: %s\n", ce->alias);
}
