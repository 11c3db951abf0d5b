/*
 * 9007: `gpureconcile drift`, the real CLI.
 *
 * Part 1, against gpureconcile-sim (Vast.ai and RunPod; Lambda bills in
 * started minutes, which no ledger of seconds matches to the cent): a
 * fleet is applied, drift says everything is clean and exits 0, and its
 * cost per instance agrees with the simulator's billing record to the
 * cent.  Then every class is made behind apply's back: an orphan with our
 * label and a foreign instance (control API), a price change on a running
 * instance above its group's max, an instance destroyed at the provider
 * (vanished), a termination whose end was never confirmed (a scale-down
 * apply whose every destroy fails leaves the row STOPPING), spec drift
 * and a ttl passed (a changed copy of the fleet, never applied) and a
 * fleet over its budget; drift reports each, exits 2, and
 * changes nothing (the sim's instances and the ledger are as before).
 *
 * Part 2, golden files: a hand-built ledger (virtual clock) on the fake
 * provider, reported with a fixed --since/--until in each output format
 * and compared with t/data/drift/golden.* (GR_REGEN=1 rewrites them).
 */
#include <sys/stat.h>

#include "../providers/provider.h"
#include "../state/state.h"
#include "6000-sim.h"

static struct simproc	 sp;
static char		*dir, *cfg, *fleet, *fleet2, *fleet3, *state;

static int
gr(char **out, char **err, const char *fmt, ...) GR_PRINTF(3, 4);

static int
gr(char **out, char **err, const char *fmt, ...)
{
	va_list	 ap;
	char	*args;
	int	 rc;

	va_start(ap, fmt);
	args = xvasprintf(fmt, ap);
	va_end(ap);
	rc = test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, args);
	free(args);
	return rc;
}

static void
write_key(const char *name, const char *key)
{
	char	*p = test_write(dir, name, key);

	chmod(p, 0600);
	free(p);
}

/* The report's instance line for (provider, id), or the orphan/foreign
 * one with this label; borrowed. */
static json_t *
inst_of(json_t *rep, const char *prov, const char *id, const char *label)
{
	size_t	 k;
	json_t	*o;

	json_array_foreach(json_object_get(rep, "instances"), k, o) {
		if (strcmp(jstr(o, "provider"), prov) != 0)
			continue;
		if (id != NULL && strcmp(jstr(o, "id"), id) == 0)
			return o;
		if (label != NULL && strcmp(jstr(o, "label"), label) == 0)
			return o;
	}
	return NULL;
}

static bool
has_class(json_t *o, const char *cls)
{
	size_t	 k;
	json_t	*c;

	json_array_foreach(json_object_get(o, "classes"), k, c)
		if (strcmp(json_string_value(c), cls) == 0)
			return true;
	return false;
}

static json_t *	/* new */
drift_json(int *rc, const char *fmt, ...) GR_PRINTF(2, 3);

static json_t *	/* new */
drift_json(int *rc, const char *fmt, ...)
{
	va_list	 ap;
	char	*out = NULL, *err = NULL, *extra;
	json_t	*j;

	va_start(ap, fmt);
	extra = xvasprintf(fmt, ap);
	va_end(ap);
	*rc = gr(&out, &err, "drift --json %s", extra);
	free(extra);
	j = json_loads(out != NULL ? out : "", 0, NULL);
	if (j == NULL) {
		diag("drift rc %d:\n%s\n%s", *rc, out, err);
		j = json_object();
	}
	free(out);
	free(err);
	return j;
}

struct live {
	char	*prov, *id, *addr;
};

static size_t
ledger_rows(struct ledger_inst **rows, size_t *n, bool all)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;

	if (ledger_open(state, false, &l, &e) == -1 ||
	    ledger_list(l, all, rows, n, &e) == -1)
		bail_out("ledger: %s", e.msg);
	ledger_close(l);
	return *n;
}

static struct ledger_inst *
row_at(struct ledger_inst *rows, size_t n, const char *group, int slot)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(rows[i].group, group) == 0 && rows[i].slot == slot)
			return &rows[i];
	bail_out("no live row %s/%d", group, slot);
}

static void
part_sim(void)
{
	struct ledger_inst	*rows = NULL, *t0, *t1, *sv;
	struct ledger		*l = NULL;
	struct gr_err		 e;
	char			*out = NULL, *err = NULL, *body, *label, *p;
	json_t			*rep, *bill, *o, *b;
	size_t			 n = 0, i, k;
	int			 rc, runs;
	long long		 worst = 0;

	sim_start(&sp, "{\"providers\": {"
	    "\"vastai\": {\"rate_limits\": false, \"delays\": {"
	    "\"provision_ms\": 0, \"start_ms\": 0, \"stop_ms\": 0, "
	    "\"terminate_ms\": 0}},"
	    "\"runpod\": {\"rate_limits\": false, \"delays\": {"
	    "\"provision_ms\": 0, \"start_ms\": 0, \"stop_ms\": 0, "
	    "\"terminate_ms\": 0}}}}", "--time-scale 1 --seed 9");
	write_key("vast.key", "sim-vast-key\n");
	write_key("runpod.key", "sim-runpod-key\n");
	body = xasprintf(
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  vastai: {base_url: \"http://127.0.0.1:%d/vast\", api_key_file: "
	    "%s/vast.key, time_scale: 100, timeouts: {spinup: 30s, "
	    "teardown: 10s, grace: 5s}}\n"
	    "  runpod: {base_url: \"http://127.0.0.1:%d/runpod\", "
	    "api_key_file: %s/runpod.key, min_interval_ms: 10, "
	    "timeouts: {spinup: 30s, "
	    "teardown: 10s, grace: 5s}}\n", sp.port, dir, sp.port, dir);
	free(test_write(dir, "config.yaml", body));
	free(body);
	free(test_write(fleet, "train.yaml",
	    "fleet: train\n"
	    "budget: {max_per_hour: 50.00}\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: 2\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
	    "  - name: serve\n"
	    "    count: 1\n"
	    "    provider: runpod\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 20.00\n"));
	/* the same fleet, edited but never applied: another image (spec
	 * drift), a ttl long passed, and a budget below what it bills */
	free(test_write(fleet2, "train.yaml",
	    "fleet: train\n"
	    "budget: {max_per_hour: 1.00}\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: 2\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    ttl: 1s\n"
	    "    image: pytorch/pytorch:2.5.0-cuda12.4-cudnn9-runtime\n"
	    "  - name: serve\n"
	    "    count: 1\n"
	    "    provider: runpod\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 20.00\n"));

	/* the fleet scaled down: trainer/1 is to be terminated */
	free(test_write(fleet3, "train.yaml",
	    "fleet: train\n"
	    "budget: {max_per_hour: 50.00}\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: 1\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
	    "  - name: serve\n"
	    "    count: 1\n"
	    "    provider: runpod\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 20.00\n"));

	/* serve is dear ($12/h), so that a second of billing is a third of
	 * a cent: costs that agree to the cent agree to about 2 seconds */
	json_decref(ctl(&sp, "POST", "price", "{\"provider\": \"runpod\", "
	    "\"gpu\": \"RTX_4090\", \"region\": \"US-TX-3\", "
	    "\"price\": \"12.00\"}"));
	rc = -1;
	for (runs = 0; runs < 3 && rc != 0; runs++) {
		free(out);
		free(err);
		rc = gr(&out, &err, "apply --yes -f '%s'", fleet);
	}
	if (!is_int(rc, 0, "sim: the fleet converges"))
		diag("%s\n%s", out, err);
	free(out);
	free(err);
	out = err = NULL;

	rc = gr(&out, &err, "drift -f '%s'", fleet);
	is_int(rc, 0, "sim: drift of a converged fleet exits 0");
	ok(out != NULL && strstr(out, "3 clean, 0 drift") != NULL,
	    "sim: the table says 3 clean, 0 drift");
	if (out == NULL || strstr(out, "3 clean, 0 drift") == NULL)
		diag("%s\n%s", out, err);
	free(out);
	free(err);
	out = err = NULL;

	/*
	 * Cost to the cent.  What is compared: for every instance of ours,
	 * the ledger's cost (the billed price apply recorded, times the time
	 * from the billing start apply recorded to now) against the sim's
	 * own billed_micros for it, and the ledger's price against the rate
	 * the sim bills it at.  Both run on the real clock (--time-scale 1);
	 * the ledger's billing start is the pass that saw the instance
	 * billing (milliseconds after the sim's), and the sim rounds each
	 * segment up to the second: at serve's $12/h a second is a third
	 * of a cent, so agreeing to the cent means agreeing to within about
	 * two seconds (one of them the sim's rounding; the rest, slack for
	 * the moment drift reads the clock and the moment the record is
	 * fetched).  Four seconds of billing make serve cost over a cent.
	 */
	usleep(4000 * 1000);
	rep = drift_json(&rc, "-f '%s'", fleet);
	bill = ctl(&sp, "GET", "billing", NULL);
	k = 0;
	json_array_foreach(json_object_get(rep, "instances"), i, o) {
		long long d;

		b = bill_of(bill, jstr(o, "provider"), jstr(o, "id"));
		if (b == NULL) {
			diag("not in the sim's record: %s %s",
			    jstr(o, "provider"), jstr(o, "id"));
			continue;
		}
		k++;
		d = jint(o, "cost_micros") - jint(b, "billed_micros");
		if (d < 0)
			d = -d;
		if (d > worst)
			worst = d;
		if (jint(o, "price_per_hour_micros") != jint(b, "rate_micros"))
			diag("%s %s: ledger $%s/h, sim %lld micros/h",
			    jstr(o, "provider"), jstr(o, "id"),
			    jstr(o, "price_per_hour"), jint(b, "rate_micros"));
	}
	is_int((long long)k, 3, "sim: all 3 instances are in the sim's record");
	ok(worst < 10000, "sim: every instance's cost agrees with the sim's "
	    "billing record to the cent (worst difference %lld micro-$)",
	    worst);
	ok(jint(jpath(rep, "totals"), "rate_per_hour_micros") > 0,
	    "sim: the burn rate is what the 3 instances bill (%s/h)",
	    jpstr(rep, "totals.rate_per_hour"));
	is_int(jint(jpath(rep, "totals"), "projected_24h_micros"),
	    (long long)money_cost(jint(jpath(rep, "totals"),
	    "rate_per_hour_micros"), 24LL * 3600 * 1000),
	    "sim: the 24 h projection is 24 h at that rate");
	json_decref(bill);
	json_decref(rep);

	/*
	 * A stuck termination: every Vast destroy fails, so the scale-down
	 * apply leaves trainer/1 STOPPING (its terminate intent) and fails;
	 * the instance still bills.
	 */
	json_decref(ctl(&sp, "POST", "faults", "{\"kind\": \"error\", "
	    "\"provider\": \"vastai\", \"endpoint\": \"destroy\", "
	    "\"status\": 403}"));
	rc = gr(&out, &err, "apply --yes -f '%s'", fleet3);
	ok(rc != 0, "sim: the scale-down apply fails when destroy fails "
	    "(exit %d)", rc);
	free(out);
	free(err);
	out = err = NULL;
	json_decref(ctl(&sp, "DELETE", "faults", NULL));

	/* Now every other kind of drift, behind apply's back. */
	ledger_rows(&rows, &n, false);
	t0 = row_at(rows, n, "trainer", 0);
	t1 = row_at(rows, n, "trainer", 1);
	sv = row_at(rows, n, "serve", 0);
	if (ledger_open(state, false, &l, &e) == -1)
		bail_out("ledger: %s", e.msg);
	label = owner_label(ledger_id(l), 999);
	body = xasprintf("{\"provider\": \"vastai\", \"gpu\": \"RTX_4090\", "
	    "\"label\": \"%s\"}", label);
	json_decref(ctl(&sp, "POST", "instances", body));
	free(body);
	json_decref(ctl(&sp, "POST", "instances", "{\"provider\": \"runpod\", "
	    "\"gpu\": \"RTX_4090\", \"label\": \"someone-elses-pod\"}"));
	p = xasprintf("instances/vastai/%s/price", t0->provider_id);
	json_decref(ctl(&sp, "POST", p, "{\"price\": \"1.20\"}"));
	free(p);
	p = xasprintf("instances/runpod/%s", sv->provider_id);
	json_decref(ctl(&sp, "DELETE", p, NULL));
	free(p);
	is_str(inst_state_name(t1->state), "STOPPING", "sim: the failed "
	    "termination left trainer/1 STOPPING in the ledger");
	ledger_close(l);

	rep = drift_json(&rc, "--include-foreign -f '%s'", fleet2);
	is_int(rc, 2, "sim: drift exits 2 when something drifted");
	o = inst_of(rep, "vastai", NULL, label);
	ok(o != NULL && has_class(o, "orphan"), "sim: the instance with our "
	    "label and no row is an orphan");
	ok(o != NULL && jint(o, "unasked_micros") == jint(o, "cost_micros"),
	    "sim: what the orphan cost counts as unasked");
	o = inst_of(rep, "runpod", NULL, "someone-elses-pod");
	ok(o != NULL && has_class(o, "foreign"), "sim: someone else's pod is "
	    "foreign (--include-foreign)");
	o = inst_of(rep, "vastai", t0->provider_id, NULL);
	ok(o != NULL && has_class(o, "price-mismatch"), "sim: billed $1.20/h "
	    "above the group's $0.70 max is a price mismatch");
	ok(o != NULL && has_class(o, "spec-drift") && has_class(o, "expired"),
	    "sim: trainer/0 runs an older image (spec drift) past its ttl "
	    "(expired)");
	o = inst_of(rep, "runpod", sv->provider_id, NULL);
	ok(o != NULL && has_class(o, "vanished"), "sim: the pod destroyed "
	    "behind our back is vanished");
	ok(o != NULL && !has_class(o, "spec-drift"), "sim: serve's spec did "
	    "not change");
	o = inst_of(rep, "vastai", t1->provider_id, NULL);
	ok(o != NULL && has_class(o, "stuck"), "sim: a termination never "
	    "confirmed is stuck");
	ok(json_is_true(json_object_get(jpath(rep, "fleets.0"),
	    "over_budget")), "sim: fleet train bills above its $1.00/h "
	    "budget: over budget");
	is_int(jint(jpath(rep, "counts"), "over-budget"), 1,
	    "sim: one over-budget fleet line");
	ok(jint(jpath(rep, "totals"), "unasked_micros") > 0,
	    "sim: unasked spend is counted ($%s)",
	    jpstr(rep, "totals.unasked"));
	json_decref(rep);

	/* Without --include-foreign the foreign pod is not listed. */
	rep = drift_json(&rc, "-f '%s'", fleet);
	ok(inst_of(rep, "runpod", NULL, "someone-elses-pod") == NULL,
	    "sim: foreign instances only with --include-foreign");
	is_int(jint(jpath(rep, "counts"), "over-budget"), 0,
	    "sim: within the applied fleet's $50/h budget");
	json_decref(rep);

	/* Read-only: the sim still has the orphan and the stuck instance
	 * running, and the ledger rows are as they were. */
	bill = ctl(&sp, "GET", "billing", NULL);
	k = 0;
	json_array_foreach(json_object_get(bill, "instances"), i, o)
		if (json_is_null(json_object_get(o, "end_ms")))
			k++;
	is_int((long long)k, 4, "sim: drift ended nothing (the 2 trainers, "
	    "the orphan and the foreign pod still bill)");
	json_decref(bill);
	ledger_insts_free(rows, n);
	rows = NULL;
	ledger_rows(&rows, &n, false);
	is_int((long long)n, 3, "sim: drift wrote nothing to the ledger");
	ledger_insts_free(rows, n);

	/* Windows: nothing before the ledger existed. */
	rep = drift_json(&rc, "--until 2020-01-01T00:00:00Z -f '%s'",
	    fleet);
	is_int(jint(jpath(rep, "totals"), "cost_micros"), 0,
	    "sim: --until before anything billed costs nothing");
	json_decref(rep);
	rc = gr(&out, &err, "drift --since yesterday");
	is_int(rc, 64, "sim: a bad --since is a usage error");
	ok(err != NULL && strstr(err, "duration ago") != NULL,
	    "sim: and says what is expected");
	free(out);
	free(err);
	free(label);
	sim_stop(&sp);
	sim_free(&sp);

	/* A provider that cannot be listed hides what it runs: an error,
	 * never "clean" (0) nor a mere "drift" (2). */
	out = err = NULL;
	rc = gr(&out, &err, "drift");
	ok(rc != 0 && rc != 2, "sim gone: drift exits with the error's code "
	    "(%d)", rc);
	ok(err != NULL && strstr(err, "not listed") != NULL,
	    "sim gone: and says which provider was not listed");
	if (err == NULL || strstr(err, "not listed") == NULL)
		diag("stderr: %s", err != NULL ? err : "");
	free(out);
	free(err);
}

#define G0	1795132800000LL		/* 2026-11-20T00:00:00Z */
#define HOUR	(3600LL * 1000)

static void
row_new(struct ledger *l, struct ledger_inst *r, const char *fleetname,
    const char *group, int slot, const char *id, const char *price,
    const char *max)
{
	struct gr_err	 e;
	const char	*why;

	memset(r, 0, sizeof(*r));
	r->kind = fleetname != NULL ? LEDGER_KIND_FLEET : LEDGER_KIND_ADHOC;
	r->fleet = fleetname != NULL ? xstrdup(fleetname) : NULL;
	r->group = xstrdup(group);
	r->slot = slot;
	r->provider = xstrdup("fake");
	r->spec_hash = xstrdup("c0ffee");
	/* the audit trail: which commit spawned it (adhoc: none) */
	if (fleetname != NULL)
		r->git_commit = xstrdup(strcmp(group, "serve") == 0 ?
		    "5e7e5e7e5e7e5e7e5e7e5e7e5e7e5e7e5e7e5e7e+dirty" :
		    "7a1b7a1b7a1b7a1b7a1b7a1b7a1b7a1b7a1b7a1b");
	r->gpu_count = 1;
	if (!money_parse(max, &r->max_price, &why))
		BUG("%s", why);
	if (ledger_intent_spawn(l, r, &e) == -1)
		bail_out("intent: %s", e.msg);
	r->provider_id = xstrdup(id);
	r->state = INST_RUNNING;
	if (!money_parse(price, &r->price, &why))
		BUG("%s", why);
	r->billing_start_ms = clock_now_ms();
	if (ledger_update(l, r, "running", NULL, &e) == -1)
		bail_out("update: %s", e.msg);
}

static void
row_end(struct ledger *l, struct ledger_inst *r, enum inst_state st,
    const char *reason)
{
	struct gr_err	 e;

	r->state = st;
	if (st == INST_TERMINATED) {
		r->billing_end_ms = clock_now_ms();
		r->end_reason = xstrdup(reason);
	}
	if (ledger_update(l, r, reason, NULL, &e) == -1)
		bail_out("update: %s", e.msg);
	ledger_inst_release(r);
}

/* text with every occurrence of the ledger id replaced; owned */
static char *
unid(const char *text, const char *lid)
{
	struct buf	 b = BUF_INIT;
	const char	*p = text, *q;

	while ((q = strstr(p, lid)) != NULL) {
		buf_add(&b, p, (size_t)(q - p));
		buf_adds(&b, "LEDGERID");
		p = q + strlen(lid);
	}
	buf_adds(&b, p);
	return buf_detach(&b);
}

static void
part_golden(void)
{
	static const char *const fmts[][2] = {
		{ "", "txt" }, { "--json", "json" }, { "--csv", "csv" },
		{ "--markdown", "md" },
	};
	struct ledger		*l = NULL;
	struct ledger_inst	 r;
	struct gr_err		 e;
	char			*out, *err, *got, *want, *path, *lid;
	char			*sf, *body, *label;
	struct provider_conf	 conf;
	struct provider		*fp;
	struct kv		 opt;
	struct gpu_req		 g;
	struct spawn_req	 sr;
	struct instance		 live, orphan;
	size_t			 i;
	int			 rc;

	free(state);
	state = xasprintf("%s/golden-state", dir);
	sf = xasprintf("%s/golden-fake.json", dir);
	opt.key = "state_file";
	opt.value = sf;
	body = xasprintf("providers:\n  fake: {state_file: %s}\n", sf);
	free(cfg);
	cfg = test_write(dir, "golden.yaml", body);
	free(body);
	clock_use_virtual(G0);
	if (ledger_open(state, true, &l, &e) == -1)
		bail_out("ledger: %s", e.msg);
	lid = xstrdup(ledger_id(l));
	/*
	 * The fake cloud (a state file the CLI shares) holds, from G0+1h,
	 * an instance of a live row (clean, billing now) and one with our
	 * label and no row (an orphan, its cost from its creation).
	 */
	memset(&conf, 0, sizeof(conf));
	conf.name = "fake";
	conf.ledger_id = lid;
	conf.options = &opt;
	conf.noptions = 1;
	provider_timeouts_default(&conf.timeouts);
	if (provider_new(&conf, &fp, &e) == -1)
		bail_out("fake: %s", e.msg);
	memset(&g, 0, sizeof(g));
	g.type = "RTX_4090";
	g.count = 1;
	memset(&sr, 0, sizeof(sr));
	sr.gpu = &g;
	sr.max_price = 700000;
	sr.address = "train/eval/0";
	label = owner_label(lid, 6);
	sr.label = label;
	memset(&live, 0, sizeof(live));
	if (provider_spawn(fp, &sr, &live, &e) == -1)
		bail_out("fake spawn: %s", e.msg);
	free(label);
	label = owner_label(lid, 99);
	sr.label = label;
	sr.address = "train/eval/9";
	memset(&orphan, 0, sizeof(orphan));
	if (provider_spawn(fp, &sr, &orphan, &e) == -1)
		bail_out("fake spawn: %s", e.msg);
	free(label);
	instance_release(&orphan);
	provider_free(fp);
	/* train/trainer/0: billing from G0+1h, gone from the provider */
	clock_advance_ms(HOUR);
	row_new(l, &r, "train", "trainer", 0, "f-1", "0.50", "0.70");
	ledger_inst_release(&r);
	/* train/trainer/1: G0+1h..G0+11h, terminated: clean */
	row_new(l, &r, "train", "trainer", 1, "f-2", "0.40", "0.70");
	/* train/serve/0: G0+1h..G0+4h, ended as vanished */
	{
		struct ledger_inst	 s, u, a;

		row_new(l, &s, "train", "serve", 0, "f-3", "0.80", "0.80");
		/* train/serve/1: G0+1h, STOPPING from G0+20h */
		row_new(l, &u, "train", "serve", 1, "f-4", "0.90", "0.80");
		/* adhoc/dev: billed above its max */
		row_new(l, &a, NULL, "dev", 0, "f-5", "1.00", "0.80");
		ledger_inst_release(&a);
		/* train/eval/0 (uid 6): the live instance, clean */
		row_new(l, &a, "train", "eval", 0, live.id, "0.48", "0.70");
		ledger_inst_release(&a);
		clock_advance_ms(3 * HOUR);
		row_end(l, &s, INST_TERMINATED, "vanished");
		clock_advance_ms(7 * HOUR);
		row_end(l, &r, INST_TERMINATED, "terminated");
		clock_advance_ms(9 * HOUR);
		row_end(l, &u, INST_STOPPING, "terminate-intent");
	}
	ledger_close(l);
	clock_set(NULL);

	for (i = 0; i < nitems(fmts); i++) {
		out = err = NULL;
		rc = gr(&out, &err, "drift %s --since 2026-11-20T00:00:00Z "
		    "--until 2026-11-21T00:00:00Z", fmts[i][0]);
		is_int(rc, 2, "golden %s: exit 2 (drift found)", fmts[i][1]);
		got = unid(out != NULL ? out : "", lid);
		path = xasprintf("%s/t/data/drift/golden.%s",
		    getenv("GR_TOP") != NULL ? getenv("GR_TOP") : ".",
		    fmts[i][1]);
		if (getenv("GR_REGEN") != NULL &&
		    file_write_atomic(path, got, strlen(got), 0644) == -1)
			bail_out("write %s", path);
		want = NULL;
		if (file_read(path, 1 << 20, &want, NULL) == -1)
			want = xstrdup("(missing)");
		if (!is_str(got, want, "golden %s: output matches %s",
		    fmts[i][1], path))
			diag("stderr: %s", err != NULL ? err : "");
		free(got);
		free(want);
		free(path);
		free(out);
		free(err);
	}
	instance_release(&live);
	free(sf);
	free(lid);
}

int
main(void)
{
	plan_lazy();
	dir = xstrdup(test_tmpdir());
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	fleet2 = xasprintf("%s/fleet2", dir);
	fleet3 = xasprintf("%s/fleet3", dir);
	cfg = xasprintf("%s/config.yaml", dir);
	if (access(sim_bin(), X_OK) == -1)
		skip(1, "no gpureconcile-sim at %s", sim_bin());
	else
		part_sim();
	part_golden();
	return done_testing();
}
