/*
 * cmd-version.c: `gpureconcile version`, the same as --version.
 */
#include <stdio.h>

#include "reconciler.h"

static int
cmd_version_exec(struct ctx *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	printf("gpureconcile %s\n", GR_VERSION);
	return 0;
}

const struct cmd_entry cmd_version_entry = {
	.name = "version",
	.usage = "",
	.summary = "print the version",
	.help = "Prints the version of gpureconcile, as --version does.\n",
	.flags = 0,
	.exec = cmd_version_exec,
};
