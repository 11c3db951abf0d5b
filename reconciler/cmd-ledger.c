/*
 * cmd-ledger.c: `gpureconcile ledger export --jsonl [--events] [--output
 * FILE]` and `gpureconcile ledger import [--input FILE]`: the ledger to
 * and from JSON lines (DESIGN.md section 6; the encoding is state/jsonl.c).
 *
 * Export only reads, in one read transaction, so it needs no lock and
 * works beside a running apply.  Import takes the writer lock and loads
 * the whole file in one transaction: our own export only into an empty
 * ledger (which takes the export's ledger id, so the owner labels at the
 * providers still match), another tool's tracked instances into any
 * ledger, as ad-hoc rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reconciler.h"

static bool
provider_known(const char *name)
{
	return provider_ops_find(name) != NULL;
}

static int
ledger_export(struct ctx *c, struct gr_err *e)
{
	struct options	*o = c->opts;
	FILE		*mem;
	char		*buf = NULL;
	size_t		 len = 0;
	int		 rc;

	if (!o->jsonl) {
		gr_err_set(e, GR_E_USAGE, "ledger export: no format given");
		gr_err_hint(e, "pass --jsonl (one JSON object per line)");
		return -1;
	}
	if (o->input != NULL) {
		gr_err_set(e, GR_E_USAGE, "ledger export takes --output, not "
		    "--input");
		return -1;
	}
	if (c->ledger == NULL) {
		gr_err_set(e, GR_E_LEDGER, "ledger export: no ledger in '%s'",
		    c->state_dir);
		gr_err_hint(e, "check --state-dir");
		return -1;
	}
	/* All of it first: a failure leaves no half-written file. */
	if ((mem = open_memstream(&buf, &len)) == NULL)
		fatal("open_memstream");
	rc = ledger_jsonl_export(c->ledger, o->events, mem, e);
	if (fclose(mem) == EOF && rc == 0) {
		gr_err_set(e, GR_E_IO, "ledger export: %s", strerror(errno));
		rc = -1;
	}
	if (rc == 0 && o->output != NULL && strcmp(o->output, "-") != 0) {
		if (file_write_atomic(o->output, buf, len, 0600) == -1) {
			gr_err_set(e, GR_E_IO, "ledger export: cannot write "
			    "'%s': %s", o->output, strerror(errno));
			rc = -1;
		}
	} else if (rc == 0 && fwrite(buf, 1, len, stdout) != len) {
		gr_err_set(e, GR_E_IO, "ledger export: writing to stdout: %s",
		    strerror(errno));
		rc = -1;
	}
	free(buf);
	return rc;
}

static void
import_report(struct ctx *c, const struct ledger_dump *d)
{
	size_t	 i, adopted = 0;
	json_t	*j;

	for (i = 0; i < d->ninsts; i++)
		if (d->insts[i].uid == 0)
			adopted++;
	if (c->opts->json) {
		j = json_object();
		json_object_set_new(j, "ledger_id",
		    json_string(ledger_id(c->ledger)));
		json_object_set_new(j, "instances",
		    json_integer((json_int_t)(d->ninsts - adopted)));
		json_object_set_new(j, "adopted",
		    json_integer((json_int_t)adopted));
		json_object_set_new(j, "events",
		    json_integer((json_int_t)d->nevents));
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(j);
		return;
	}
	if (adopted > 0)
		printf("adopted %zu instance%s as tracked ad-hoc rows "
		    "(ledger %s)\n", adopted, adopted == 1 ? "" : "s",
		    ledger_id(c->ledger));
	else
		printf("imported %zu instance%s and %zu event%s into ledger "
		    "%s\n", d->ninsts, d->ninsts == 1 ? "" : "s", d->nevents,
		    d->nevents == 1 ? "" : "s", ledger_id(c->ledger));
}

static int
ledger_import(struct ctx *c, struct gr_err *e)
{
	struct options		*o = c->opts;
	struct ledger_dump	 d;
	const char		*name;
	FILE			*fp;
	int			 rc = -1;

	if (o->output != NULL || o->events) {
		gr_err_set(e, GR_E_USAGE, "ledger import takes --input, not "
		    "%s", o->output != NULL ? "--output" : "--events");
		gr_err_hint(e, "the file holds whatever the export had");
		return -1;
	}
	if (o->input == NULL || strcmp(o->input, "-") == 0) {
		fp = stdin;
		name = "<stdin>";
	} else if ((fp = fopen(o->input, "r")) == NULL) {
		gr_err_set(e, GR_E_IO, "ledger import: cannot open '%s': %s",
		    o->input, strerror(errno));
		return -1;
	} else
		name = o->input;
	/* The whole file must parse before the ledger is touched. */
	rc = ledger_jsonl_parse(fp, name, provider_known, &d, e);
	if (fp != stdin)
		fclose(fp);
	if (rc == -1) {
		gr_err_hint(e, "nothing was imported");
		return -1;
	}
	rc = -1;
	ledger_close(c->ledger);	/* opened read-only by main */
	c->ledger = NULL;
	if (ctx_lock(c, "ledger import", e) == -1 ||
	    ctx_open_ledger(c, true, e) == -1)
		goto release_dump;
	if (ledger_dump_load(c->ledger, &d, e) == -1)
		goto release_dump;
	import_report(c, &d);
	rc = 0;
release_dump:
	ledger_dump_release(&d);
	return rc;
}

static int
cmd_ledger_exec(struct ctx *c, int argc, char **argv)
{
	static const char *const subs[] = { "export", "import" };
	struct gr_err	 e;
	const char	*s;
	int		 rc;

	gr_err_clear(&e);
	if (argc < 1) {
		fprintf(stderr, "gpureconcile: ledger needs a command: export "
		    "or import\n");
		return GR_EXIT_USAGE;
	}
	if (argc > 1) {
		fprintf(stderr, "gpureconcile: ledger %s: unexpected argument "
		    "'%s'\n", argv[0], argv[1]);
		return GR_EXIT_USAGE;
	}
	if (strcmp(argv[0], "export") == 0)
		rc = ledger_export(c, &e);
	else if (strcmp(argv[0], "import") == 0)
		rc = ledger_import(c, &e);
	else {
		s = str_suggest(argv[0], subs, nitems(subs));
		gr_err_set(&e, GR_E_USAGE, "unknown ledger command '%s'",
		    argv[0]);
		if (s != NULL)
			gr_err_hint(&e, "did you mean '%s'?", s);
		else
			gr_err_hint(&e, "ledger export or ledger import");
		rc = -1;
	}
	return rc == -1 ? report_error(&e) : 0;
}

const struct cmd_entry cmd_ledger_entry = {
	.name = "ledger",
	.usage = "export --jsonl [--events] [--output FILE] | "
	    "import [--input FILE]",
	.summary = "export the ledger as JSON lines, or import it",
	.help =
	    "export writes the ledger as JSON lines (stdout by default): a "
	    "first line\n"
	    "{\"type\":\"ledger\",\"ledger_id\":...,\"schema_version\":...}, "
	    "then one \"instance\"\n"
	    "object per row with every field (money as integer micro-dollars "
	    "and a\n"
	    "decimal string, times as ms and ISO 8601) and, with --events, one "
	    "\"event\"\n"
	    "object per recorded transition.  It only reads: no lock, safe "
	    "beside a\n"
	    "running apply.\n"
	    "\n"
	    "import reads such a file (stdin by default) into an empty ledger, "
	    "keeping\n"
	    "uids, owner labels (the ledger takes the export's id, so the "
	    "instances at\n"
	    "the providers are still recognised), states, billing times and "
	    "events.\n"
	    "It also adopts another tool's tracked instances, one object per "
	    "line with\n"
	    "at least \"provider\" and \"instance_id\" (or \"id\"), into any "
	    "ledger as ad-hoc\n"
	    "rows (group: its \"name\", else imported-ID; state RUNNING "
	    "unless it says),\n"
	    "which 'provider NAME teardown --instance ID' can end.  A bad "
	    "line is\n"
	    "reported as FILE:LINE and nothing is imported.  --json prints "
	    "what was\n"
	    "imported as JSON.\n"
	    "\n"
	    "  --jsonl          one JSON object per line (the format)\n"
	    "  --events         export the events too\n"
	    "  --output FILE    export to FILE (written whole, mode 0600)\n"
	    "  --input FILE     import from FILE\n",
	.flags = CMD_READS_LEDGER,
	.exec = cmd_ledger_exec,
};
