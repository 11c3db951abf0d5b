/*
 * 2005: the ledger as JSON lines (state/jsonl.c, ledger_dump_*): export
 * with every field set, import into a fresh ledger and export again is
 * byte-identical (same ledger id, uids, labels, states, billing times,
 * events); a ledger export goes only into an empty ledger, changing
 * nothing otherwise; bad lines are reported as FILE:LINE and nothing is
 * imported; another tool's tracked instances become ad-hoc rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

#define T0	1770000000000LL		/* the virtual clock's start */

#define ok_err(c, e, ...)	do {					\
	if (!ok((c), __VA_ARGS__))					\
		diag("error: %s (hint: %s)", (e)->msg, (e)->hint);	\
} while (0)

static struct ledger *
open_new(const char *name)
{
	struct ledger	*l;
	struct gr_err	 e;
	char		*dir = xasprintf("%s/%s", test_tmpdir(), name);

	gr_err_clear(&e);
	if (ledger_open(dir, true, &l, &e) == -1)
		bail_out("ledger_open %s: %s", dir, e.msg);
	free(dir);
	return l;
}

static char *
export_str(struct ledger *l, bool events)
{
	struct gr_err	 e;
	FILE		*fp;
	char		*buf = NULL;
	size_t		 len = 0;

	gr_err_clear(&e);
	fp = open_memstream(&buf, &len);
	if (fp == NULL || ledger_jsonl_export(l, events, fp, &e) == -1)
		bail_out("export: %s", e.msg);
	fclose(fp);
	return buf;
}

static bool
only_fake_and_vastai(const char *p)
{
	return strcmp(p, "fake") == 0 || strcmp(p, "vastai") == 0 ||
	    strcmp(p, "runpod") == 0;
}

/* Parse text (named f.jsonl) and load it into l. */
static int
import_str(struct ledger *l, const char *text, struct gr_err *e)
{
	struct ledger_dump	 d;
	FILE			*fp;
	int			 rc;

	gr_err_clear(e);
	fp = fmemopen((void *)text, strlen(text), "r");
	if (fp == NULL)
		bail_out("fmemopen");
	rc = ledger_jsonl_parse(fp, "f.jsonl", only_fake_and_vastai, &d, e);
	fclose(fp);
	if (rc == -1)
		return -1;
	rc = ledger_dump_load(l, &d, e);
	ledger_dump_release(&d);
	return rc;
}

static size_t
count_rows(struct ledger *l)
{
	struct ledger_inst	*v;
	struct gr_err		 e;
	size_t			 n;

	if (ledger_list(l, true, &v, &n, &e) == -1)
		bail_out("list: %s", e.msg);
	ledger_insts_free(v, n);
	return n;
}

/* A fleet row and an ad-hoc row, every field set, several events. */
static void
fill(struct ledger *l)
{
	struct ledger_inst	 in;
	struct gr_err		 e;

	gr_err_clear(&e);
	memset(&in, 0, sizeof(in));
	in.kind = LEDGER_KIND_FLEET;
	in.fleet = xstrdup("training");
	in.group = xstrdup("trainer");
	in.slot = 3;
	in.provider = xstrdup("vastai");
	in.spec_hash = xstrdup("c0ffee");
	in.spec_file = xstrdup("fleet/training.yaml");
	in.gpu = xstrdup("RTX_4090");
	in.gpu_count = 2;
	in.max_price = 700000;
	in.region = xstrdup("US");
	in.bootstrap_sha256 = xstrdup("ab12");
	if (ledger_intent_spawn(l, &in, &e) == -1)
		bail_out("intent: %s", e.msg);
	clock_advance_ms(1500);
	in.provider_id = xstrdup("123");
	in.state = INST_RUNNING;
	in.price = 456789;
	in.ssh_host = xstrdup("10.0.0.1");
	in.ssh_port = 2222;
	in.ssh_user = xstrdup("root");
	in.billing_start_ms = clock_now_ms();
	in.last_error = xstrdup("a \"quoted\"\nline\twith ü");
	if (ledger_update(l, &in, "running", "detail \"x\"", &e) == -1)
		bail_out("update: %s", e.msg);
	clock_advance_ms(3600 * 1000);
	in.state = INST_TERMINATED;
	in.billing_end_ms = clock_now_ms();
	in.end_reason = xstrdup("ttl");
	if (ledger_update(l, &in, "terminated", NULL, &e) == -1)
		bail_out("update: %s", e.msg);
	ledger_inst_release(&in);

	memset(&in, 0, sizeof(in));
	in.kind = LEDGER_KIND_ADHOC;
	in.group = xstrdup("notebook");
	in.provider = xstrdup("fake");
	in.gpu = xstrdup("A100_80GB");
	in.gpu_count = 1;
	in.max_price = 1234567;
	if (ledger_intent_spawn(l, &in, &e) == -1)
		bail_out("intent: %s", e.msg);
	clock_advance_ms(10);
	in.provider_id = xstrdup("fake-9");
	in.state = INST_PENDING;
	if (ledger_update(l, &in, "pending", NULL, &e) == -1)
		bail_out("update: %s", e.msg);
	ledger_inst_release(&in);
}

static void
test_round_trip(void)
{
	struct ledger		*a, *b, *c;
	struct ledger_event	*ev;
	struct gr_err		 e;
	char			*s1, *s2, *s3, *want;
	size_t			 n;

	a = open_new("a");
	fill(a);
	s1 = export_str(a, true);
	like(s1, "{\"type\":\"ledger\",\"ledger_id\":\"", "the first line "
	    "is the ledger line");
	like(s1, "\"schema_version\":3,", "it gives the schema version");
	like(s1, "\"instances\":2,\"events\":5}", "it counts instances and "
	    "events");
	like(s1, "\"max_price_micros\":700000,\"max_price\":\"0.70\"",
	    "money as micro-dollars and a decimal string");
	like(s1, "\"price_micros\":456789,\"price\":\"0.456789\"",
	    "billed price to the micro-dollar");
	like(s1, "\"billing_start_ms\":1770000001500,\"billing_start\":"
	    "\"2026-02-02T02:40:01Z\"", "times as ms and ISO 8601");
	like(s1, "\"end_reason\":\"ttl\"", "end_reason exported");
	like(s1, "{\"type\":\"event\",\"id\":1,\"uid\":1,", "events follow");

	b = open_new("b");
	clock_advance_ms(60000);	/* the import is later: times kept */
	ok_err(import_str(b, s1, &e) == 0, &e, "import into an empty ledger");
	is_str(ledger_id(b), ledger_id(a), "the ledger takes the export's id");
	s2 = export_str(b, true);
	is_str(s2, s1, "export -> import -> export is byte-identical");
	ok_err(ledger_check(b, &e) == 0, &e, "the imported ledger passes "
	    "ledger_check (labels match its id)");
	if (ledger_events(b, 0, &ev, &n, &e) == -1)
		bail_out("events: %s", e.msg);
	is_int(n, 5, "every event imported");
	is_str(n > 1 ? ev[1].detail : NULL, "detail \"x\"", "event details "
	    "kept");
	ledger_events_free(ev, n);

	/* Not empty: refused, nothing changes. */
	ok(import_str(b, s1, &e) == -1, "a second import is refused");
	is_int(e.code, GR_E_LEDGER, "refused as GR_E_LEDGER");
	like(e.msg, "already tracks 2 instances", "the error says why");
	like(e.hint, "new --state-dir", "with a hint");
	s3 = export_str(b, true);
	is_str(s3, s1, "the refused import changed nothing");
	free(s3);

	/* Without --events: no event lines, a null count. */
	free(s2);
	s2 = export_str(a, false);
	like(s2, "\"instances\":2,\"events\":null}", "without events the "
	    "count is null");
	ok(strstr(s2, "\"type\":\"event\"") == NULL, "and no event lines");
	c = open_new("c");
	ok_err(import_str(c, s2, &e) == 0, &e, "an export without events "
	    "imports");
	s3 = export_str(c, false);
	is_str(s3, s2, "and exports the same again");
	free(s3);

	/* A new row after the import gets the next uid, not a used one. */
	{
		struct ledger_inst	 in;

		memset(&in, 0, sizeof(in));
		in.kind = LEDGER_KIND_ADHOC;
		in.group = xstrdup("later");
		in.provider = xstrdup("fake");
		ok_err(ledger_intent_spawn(c, &in, &e) == 0, &e,
		    "a spawn after the import");
		is_int(in.uid, 3, "takes uid 3");
		want = xasprintf("gr-%s-3", ledger_id(a));
		is_str(in.label, want, "with the imported ledger id in its "
		    "label");
		free(want);
		ledger_inst_release(&in);
	}
	ledger_close(c);
	ledger_close(b);
	ledger_close(a);
	free(s1);
	free(s2);
}

struct bad_case {
	const char	*text;
	const char	*want;		/* substring of the message */
};

#define HDR	"{\"type\":\"ledger\",\"ledger_id\":\"0123456789abcdef\"," \
		"\"schema_version\":2}\n"
#define INST(uid) "{\"type\":\"instance\",\"uid\":" #uid ",\"label\":" \
		"\"gr-0123456789abcdef-" #uid "\",\"kind\":\"adhoc\"," \
		"\"group\":\"g\",\"provider\":\"fake\",\"state\":" \
		"\"RUNNING\",\"created_ms\":1,\"updated_ms\":2}\n"

static const struct bad_case bad_cases[] = {
	{ HDR "\n{not json\n", "f.jsonl:3: not JSON" },
	{ "[1, 2]\n", "f.jsonl:1: expected a JSON object" },
	{ INST(1), "f.jsonl:1: a \"instance\" line before the \"ledger\"" },
	{ HDR "{\"type\":\"blob\"}\n", "f.jsonl:2: unknown type 'blob'" },
	{ HDR HDR, "f.jsonl:2: the \"ledger\" line must come first" },
	{ "{\"type\":\"ledger\",\"ledger_id\":\"xyz\",\"schema_version\":2}\n",
	  "f.jsonl:1: 'ledger_id' is 'xyz', not 16 hex digits" },
	{ "{\"type\":\"ledger\",\"ledger_id\":\"0123456789abcdef\","
	  "\"schema_version\":99}\n", "f.jsonl:1: schema version 99 is newer" },
	{ HDR INST(1) "{\"type\":\"instance\",\"label\":\"x\"}\n",
	  "f.jsonl:3: 'uid' is missing" },
	{ HDR "{\"type\":\"instance\",\"uid\":\"7\"}\n",
	  "f.jsonl:2: 'uid' must be an integer" },
	{ HDR "{\"type\":\"instance\",\"uid\":1,\"label\":\"l\",\"kind\":"
	  "\"adhoc\",\"group\":\"g\",\"provider\":\"fake\",\"state\":"
	  "\"BOOTING\"}\n", "f.jsonl:2: 'state' is 'BOOTING', not a state" },
	{ HDR "{\"type\":\"instance\",\"uid\":1,\"label\":\"l\",\"kind\":"
	  "\"fleet\",\"group\":\"g\"}\n", "f.jsonl:2: 'fleet' is missing" },
	{ HDR INST(1) INST(1), "f.jsonl:3: uid 1 again (first on line 2)" },
	{ HDR INST(1) "{\"type\":\"event\",\"id\":1,\"uid\":9,\"at_ms\":1,"
	  "\"from\":\"IDLE\",\"to\":\"IDLE\",\"kind\":\"k\"}\n",
	  "f.jsonl:3: event 1 is for uid 9, which has no instance line" },
	{ "{\"type\":\"ledger\",\"ledger_id\":\"0123456789abcdef\","
	  "\"schema_version\":2,\"instances\":2}\n" INST(1),
	  "f.jsonl:1: the ledger line promises 2 instances but 1 follows" },
	{ HDR INST(1) "{\"provider\":\"fake\",\"id\":1}\n",
	  "f.jsonl:3: a line without \"type\" in a ledger export" },
	{ "{\"provider\":\"vastai\",\"instance_id\":\"1\"}\n"
	  "{\"provider\":\"vastai\"}\n", "f.jsonl:2: no instance id" },
	{ "{\"provider\":\"lambda\",\"id\":1}\n",
	  "f.jsonl:1: unknown provider 'lambda'" },
	{ "{\"id\":1}\n", "f.jsonl:1: 'provider' is missing" },
	{ "{\"provider\":\"vastai\",\"id\":true}\n",
	  "f.jsonl:1: the instance id must be a string or an integer" },
	{ "{\"provider\":\"vastai\",\"id\":5,\"price_per_hour\":-1}\n",
	  "f.jsonl:1: 'price_per_hour' is -1, not an amount" },
	{ "{\"provider\":\"vastai\",\"id\":5}\n\n"
	  "{\"provider\":\"vastai\",\"instance_id\":\"5\"}\n",
	  "f.jsonl:3: instance '5' on vastai again (first on line 1)" },
};

static void
test_bad_lines(void)
{
	struct ledger	*l = open_new("bad");
	struct gr_err	 e;
	size_t		 i;

	for (i = 0; i < nitems(bad_cases); i++) {
		ok(import_str(l, bad_cases[i].text, &e) == -1, "bad case %zu "
		    "is refused", i);
		is_int(e.code, GR_E_USAGE, "bad case %zu: GR_E_USAGE", i);
		like(e.msg, bad_cases[i].want, "bad case %zu: FILE:LINE and "
		    "why", i);
	}
	is_int(count_rows(l), 0, "nothing was imported by any bad file");

	/* A label that is not gr-<id>-<uid>: no row stays. */
	ok(import_str(l, HDR INST(1) "{\"type\":\"instance\",\"uid\":2,"
	    "\"label\":\"gr-0123456789abcdef-7\",\"kind\":\"adhoc\",\"group\":"
	    "\"g\",\"provider\":\"fake\",\"state\":\"RUNNING\",\"created_ms\":"
	    "1,\"updated_ms\":2}\n", &e) == -1, "a wrong label is refused");
	is_int(e.code, GR_E_USAGE, "a wrong label is a GR_E_USAGE");
	like(e.msg, "f.jsonl:3: instance uid 2 has label "
	    "'gr-0123456789abcdef-7', not 'gr-0123456789abcdef-2'",
	    "the error names the line and both labels");
	is_int(count_rows(l), 0, "all or nothing: line 2's row is gone too");
	ok(strcmp(ledger_id(l), "0123456789abcdef") != 0, "and the ledger "
	    "kept its own id");
	ledger_close(l);
}

static void
test_foreign(void)
{
	struct ledger		*l = open_new("foreign");
	struct ledger_inst	 in;
	struct ledger_event	*ev;
	struct gr_err		 e;
	char			*want;
	size_t			 n;

	fill(l);	/* not empty: adoption does not need an empty ledger */
	ok_err(import_str(l,
	    "{\"provider\":\"vastai\",\"instance_id\":\"555\",\"name\":"
	    "\"jupyter\",\"gpu\":\"RTX_4090\",\"gpu_count\":1,"
	    "\"price_per_hour\":0.5,\"extra\":{\"x\":1}}\n"
	    "\n"
	    "{\"provider\":\"vastai\",\"id\":556}\n"
	    "{\"provider\":\"runpod\",\"id\":\"pod-1\",\"state\":\"stopped\","
	    "\"price\":\"1.25\"}\n", &e) == 0, &e,
	    "another tool's tracked instances are adopted");
	is_int(count_rows(l), 5, "3 rows more");
	ok_err(ledger_check(l, &e) == 0, &e, "the ledger still checks");

	gr_err_clear(&e);
	ok_err(ledger_find_provider_id(l, "vastai", "555", &in, &e) == 0, &e,
	    "found by its instance id");
	is_int(in.kind, LEDGER_KIND_ADHOC, "as an ad-hoc row");
	is_str(in.group, "jupyter", "named by its name");
	is_int(in.state, INST_RUNNING, "RUNNING by default");
	is_int(in.price, 500000, "price_per_hour in micro-dollars");
	is_int(in.billing_start_ms, clock_now_ms(), "billing from the import");
	want = xasprintf("gr-%s-%lld", ledger_id(l), (long long)in.uid);
	is_str(in.label, want, "with a label of this ledger");
	free(want);
	if (ledger_events(l, in.uid, &ev, &n, &e) == -1)
		bail_out("events: %s", e.msg);
	is_int(n, 1, "one event");
	is_str(n > 0 ? ev[0].kind : NULL, "imported", "of kind imported");
	is_str(n > 0 ? ev[0].detail : NULL, "adopted from f.jsonl:1",
	    "naming the file and line it came from");
	ledger_events_free(ev, n);
	ledger_inst_release(&in);

	ok_err(ledger_find_provider_id(l, "vastai", "556", &in, &e) == 0, &e,
	    "an integer id is kept as its digits");
	is_str(in.group, "imported-556", "no name: imported-<id>");
	ledger_inst_release(&in);
	ok_err(ledger_find_provider_id(l, "runpod", "pod-1", &in, &e) == 0, &e,
	    "the third is there");
	is_int(in.state, INST_STOPPED, "state taken from the file, any case");
	is_int(in.price, 1250000, "a price as a decimal string");
	is_int(in.billing_start_ms, 0, "a stopped one is not billing");
	ledger_inst_release(&in);

	/* One already tracked: the whole file is refused. */
	ok(import_str(l, "{\"provider\":\"vastai\",\"id\":900}\n"
	    "{\"provider\":\"vastai\",\"id\":\"123\"}\n", &e) == -1,
	    "a file naming a tracked instance is refused");
	like(e.msg, "f.jsonl:2: instance '123' on vastai is already tracked "
	    "(uid 1)", "the line and the uid are named");
	is_int(count_rows(l), 5, "and line 1 was not imported either");
	ledger_close(l);
}

int
main(void)
{
	plan_lazy();
	clock_use_virtual(T0);
	test_round_trip();
	test_bad_lines();
	test_foreign();
	return done_testing();
}
