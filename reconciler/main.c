/*
 * main.c: parse the command line, find the command, set up what its
 * flags say it needs (config, spec, lock, ledger), run it, and exit with
 * the code of the error table.
 *
 *   gpureconcile [global options] COMMAND [options]
 *   gpureconcile --once -f DIR        (apply without a prompt, for cron)
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler.h"

enum {
	OPT_CONFIG = 256,
	OPT_STATE_DIR,
	OPT_JSON,
	OPT_DETAILED,
	OPT_ALL,
	OPT_PARALLEL,
	OPT_ONCE,
	OPT_VERSION,
	OPT_DESTROY,
	OPT_JSONL,
	OPT_EVENTS,
	OPT_INPUT,
	OPT_OUTPUT,
	OPT_GPU,
	OPT_DISK,
	OPT_TEMPLATE,
	OPT_BUDGET,
	OPT_NAME,
	OPT_INSTANCE,
	OPT_REMOTE,
	OPT_LOCAL,
	OPT_INCLUDE_FOREIGN,
	OPT_CSV,
	OPT_MARKDOWN,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_HISTORY,
	OPT_RESYNC,
	OPT_DEBOUNCE,
	OPT_SYSLOG,
	OPT_CHECK,
};

static const struct option long_opts[] = {
	{ "file",		required_argument,	NULL, 'f' },
	{ "config",		required_argument,	NULL, OPT_CONFIG },
	{ "state-dir",		required_argument,	NULL, OPT_STATE_DIR },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "yes",		no_argument,		NULL, 'y' },
	{ "detailed-exitcode",	no_argument,		NULL, OPT_DETAILED },
	{ "all",		no_argument,		NULL, OPT_ALL },
	{ "destroy",		no_argument,		NULL, OPT_DESTROY },
	{ "jsonl",		no_argument,		NULL, OPT_JSONL },
	{ "events",		no_argument,		NULL, OPT_EVENTS },
	{ "input",		required_argument,	NULL, OPT_INPUT },
	{ "output",		required_argument,	NULL, OPT_OUTPUT },
	{ "gpu",		required_argument,	NULL, OPT_GPU },
	{ "disk",		required_argument,	NULL, OPT_DISK },
	{ "template",		required_argument,	NULL, OPT_TEMPLATE },
	{ "budget",		required_argument,	NULL, OPT_BUDGET },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "instance",		required_argument,	NULL, OPT_INSTANCE },
	{ "remote",		required_argument,	NULL, OPT_REMOTE },
	{ "local",		required_argument,	NULL, OPT_LOCAL },
	{ "include-foreign",	no_argument,		NULL, OPT_INCLUDE_FOREIGN },
	{ "csv",		no_argument,		NULL, OPT_CSV },
	{ "markdown",		no_argument,		NULL, OPT_MARKDOWN },
	{ "since",		required_argument,	NULL, OPT_SINCE },
	{ "until",		required_argument,	NULL, OPT_UNTIL },
	{ "history",		no_argument,		NULL, OPT_HISTORY },
	{ "check",		no_argument,		NULL, OPT_CHECK },
	{ "parallel",		required_argument,	NULL, OPT_PARALLEL },
	{ "resync",		required_argument,	NULL, OPT_RESYNC },
	{ "debounce",		required_argument,	NULL, OPT_DEBOUNCE },
	{ "syslog",		no_argument,		NULL, OPT_SYSLOG },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "once",		no_argument,		NULL, OPT_ONCE },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ NULL,			0,			NULL, 0 },
};

struct parsed {
	bool	 once;
	bool	 help;
	bool	 version;
};

/* Parse options from argv[*idx]; stop at the first operand if stop. */
static int
parse_opts(int argc, char **argv, struct options *o, struct parsed *pp,
    bool stop)
{
	char	*end;
	long	 v;
	int	 ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, stop ? "+:f:yvqh" : ":f:yvqh",
	    long_opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->fleet_paths = xreallocarray(o->fleet_paths,
			    o->nfleet_paths + 1, sizeof(*o->fleet_paths));
			o->fleet_paths[o->nfleet_paths++] = optarg;
			break;
		case OPT_CONFIG:
			o->config_path = optarg;
			break;
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'y':
			o->yes = true;
			break;
		case OPT_DETAILED:
			o->detailed_exitcode = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_DESTROY:
			o->destroy = true;
			break;
		case OPT_JSONL:
			o->jsonl = true;
			break;
		case OPT_EVENTS:
			o->events = true;
			break;
		case OPT_INPUT:
			o->input = optarg;
			break;
		case OPT_OUTPUT:
			o->output = optarg;
			break;
		case OPT_GPU:
			o->gpu = optarg;
			break;
		case OPT_DISK:
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 100000) {
				fprintf(stderr, "gpureconcile: --disk '%s': "
				    "expected GB from 1 to 100000\n", optarg);
				return -1;
			}
			o->disk_gb = (int)v;
			break;
		case OPT_TEMPLATE:
			o->template_name = optarg;
			break;
		case OPT_BUDGET: {
			const char *why;

			if (!money_parse(optarg, &o->budget, &why)) {
				fprintf(stderr, "gpureconcile: --budget '%s': "
				    "%s\n", optarg, why);
				return -1;
			}
			o->has_budget = true;
			break;
		}
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_INSTANCE:
			o->instance = optarg;
			break;
		case OPT_REMOTE:
			o->remote = optarg;
			break;
		case OPT_LOCAL:
			o->local = optarg;
			break;
		case OPT_INCLUDE_FOREIGN:
			o->include_foreign = true;
			break;
		case OPT_CSV:
			o->csv = true;
			break;
		case OPT_MARKDOWN:
			o->markdown = true;
			break;
		case OPT_SINCE:
			o->since = optarg;
			break;
		case OPT_UNTIL:
			o->until = optarg;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_HISTORY:
			o->history = true;
			break;
		case OPT_PARALLEL:
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 256) {
				fprintf(stderr, "gpureconcile: --parallel '%s': "
				    "expected a number from 1 to 256\n",
				    optarg);
				return -1;
			}
			o->parallel = (int)v;
			break;
		case OPT_RESYNC:
		case OPT_DEBOUNCE: {
			const char	*why;
			int64_t		 ms;

			if (!duration_parse_ms(optarg, &ms, &why) ||
			    (ch == OPT_RESYNC && ms < 100)) {
				fprintf(stderr, "gpureconcile: --%s '%s': %s\n",
				    ch == OPT_RESYNC ? "resync" : "debounce",
				    optarg, why != NULL ? why :
				    "at least 100ms");
				return -1;
			}
			if (ch == OPT_RESYNC)
				o->resync_ms = ms;
			else {
				o->debounce_ms = ms;
				o->has_debounce = true;
			}
			break;
		}
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'q':
			o->verbose--;
			break;
		case OPT_ONCE:
			pp->once = true;
			break;
		case 'h':
			pp->help = true;
			break;
		case OPT_VERSION:
			pp->version = true;
			break;
		case ':':
			fprintf(stderr, "gpureconcile: option '%s' needs a "
			    "value\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "gpureconcile: unknown option '%s' "
			    "(hint: see 'gpureconcile --help')\n",
			    argv[optind - 1]);
			return -1;
		}
	}
	return 0;
}

static int
run_command(const struct cmd_entry *ce, struct options *o, int argc,
    char **argv)
{
	struct ctx	 c;
	struct gr_err	 e;
	int		 rc;

	gr_err_clear(&e);
	if (ce->flags == 0) {
		/* help, version: nothing to set up, a bad config is no bar */
		memset(&c, 0, sizeof(c));
		c.opts = o;
		return ce->exec(&c, argc, argv);
	}
	if (ctx_init(&c, o, &e) == -1) {
		rc = report_error(&e);
		ctx_release(&c);
		return rc;
	}
	/* The spec first: a bad spec must change nothing, not even the
	 * ledger's existence. */
	if ((ce->flags & CMD_NEEDS_SPEC) && ctx_load_spec(&c, &e) == -1)
		goto fail;
	if ((ce->flags & CMD_NEEDS_LOCK) && ctx_lock(&c, ce->name, &e) == -1)
		goto fail;
	if (ce->flags & CMD_NEEDS_LEDGER) {
		if (ctx_open_ledger(&c, true, &e) == -1)
			goto fail;
		if (ce->flags & CMD_NEEDS_SPEC)
			ctx_audit_spec(&c);
	} else if (ce->flags & CMD_READS_LEDGER) {
		if (ctx_open_ledger(&c, false, &e) == -1) {
			if (e.code != GR_E_NOT_FOUND)
				goto fail;
			/* No ledger yet: nothing is tracked. */
			gr_err_clear(&e);
		}
	}
	rc = ce->exec(&c, argc, argv);
	ctx_release(&c);
	return rc;
fail:
	rc = report_error(&e);
	ctx_release(&c);
	return rc;
}

static int
check_stdout(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gpureconcile: writing results");
		return rc == 0 ? GR_EXIT_IOERR : rc;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct options		 o;
	struct parsed		 pp = { false, false, false };
	const struct cmd_entry	*ce;
	struct gr_err		 e;
	const char		*name;
	int			 rc, cargc;
	char			**cargv;

	memset(&o, 0, sizeof(o));
	signal(SIGPIPE, SIG_IGN);
	gr_err_clear(&e);
	if (provider_registry_check(&e) == -1)
		return report_error(&e);
	if (parse_opts(argc, argv, &o, &pp, true) == -1)
		return GR_EXIT_USAGE;
	if (pp.version) {
		printf("gpureconcile %s\n", GR_VERSION);
		return check_stdout(0);
	}
	if (optind >= argc && !pp.once) {
		cmd_print_usage(pp.help ? stdout : stderr);
		free(o.fleet_paths);
		return pp.help ? check_stdout(0) : GR_EXIT_USAGE;
	}
	name = pp.once ? "apply" : argv[optind];
	ce = cmd_find(name);
	if (ce == NULL) {
		const char	*names[32], *s;
		size_t		 i, n = 0;

		for (i = 0; i < cmd_count() && n < nitems(names); i++)
			names[n++] = cmd_at(i)->name;
		s = str_suggest(name, names, n);
		fprintf(stderr, "gpureconcile: unknown command '%s'", name);
		if (s != NULL)
			fprintf(stderr, " (hint: did you mean '%s'?)", s);
		fprintf(stderr, "\n");
		free(o.fleet_paths);
		return GR_EXIT_USAGE;
	}
	/* A daemon reloads on SIGHUP once its loop is up; before that (the
	 * spec, the lock, the ledger) a SIGHUP must not kill it, and the
	 * loop's first reload reads the files anyway. */
	if (strcmp(ce->name, "watch") == 0)
		signal(SIGHUP, SIG_IGN);
	/* The command's own arguments, options anywhere among them. */
	cargc = pp.once ? argc - optind + 1 : argc - optind;
	cargv = xcalloc((size_t)cargc + 1, sizeof(*cargv));
	cargv[0] = (char *)ce->name;
	memcpy(cargv + 1, argv + argc - (cargc - 1),
	    (size_t)(cargc - 1) * sizeof(*cargv));
	optind = 0;	/* glibc: start a fresh scan */
	if (parse_opts(cargc, cargv, &o, &pp, false) == -1) {
		free(cargv);
		free(o.fleet_paths);
		return GR_EXIT_USAGE;
	}
	if (pp.help) {
		cmd_print_help(ce, stdout);
		free(cargv);
		free(o.fleet_paths);
		return check_stdout(0);
	}
	if (pp.once)
		o.yes = true;
	log_init(LOG_LVL_INFO + o.verbose, o.syslog, "gpureconcile");
	rc = run_command(ce, &o, cargc - optind, cargv + optind);
	free(cargv);
	free(o.fleet_paths);
	return check_stdout(rc);
}
