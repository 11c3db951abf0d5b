/*
 * cmd-help.c: `gpureconcile help [COMMAND]`: the command list, or one
 * command's usage and description.
 */
#include <stdio.h>

#include "reconciler.h"

static int
cmd_help_exec(struct ctx *c, int argc, char **argv)
{
	const struct cmd_entry	*ce;

	(void)c;
	if (argc == 0) {
		cmd_print_usage(stdout);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "gpureconcile: help takes one command name\n");
		return GR_EXIT_USAGE;
	}
	ce = cmd_find(argv[0]);
	if (ce == NULL) {
		fprintf(stderr, "gpureconcile: no help for unknown command "
		    "'%s' (hint: 'gpureconcile help' lists them)\n", argv[0]);
		return GR_EXIT_USAGE;
	}
	cmd_print_help(ce, stdout);
	return 0;
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.usage = "[COMMAND]",
	.summary = "show the commands, or how to use one",
	.help = "Without a COMMAND, lists every command.  With one, shows its "
	    "usage and what it does.\n",
	.flags = 0,
	.exec = cmd_help_exec,
};
