/*
 * 9004: end to end against gpureconcile-sim: one fleet across Vast.ai,
 * RunPod and Lambda, applied by the real CLI with faults on (errors, a
 * lost create reply, a 429 storm, late visibility, a failed terminate),
 * re-applied as cron would until it converges; then the simulator's own
 * billing record is compared with the ledger: every billed instance is in
 * the ledger, exactly the desired ones still bill, an orphan carrying our
 * label is ended, a foreign instance is left alone, and --destroy ends
 * every one of ours.
 */
#include <sys/stat.h>

#include "../state/state.h"
#include "6000-sim.h"

static struct simproc	 sp;
static char		*dir, *cfg, *fleet, *state;

static int
gr(char **out, char **err, const char *args)
{
	return test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, args);
}

/* Apply as cron would, up to n times, until one converges (exit 0). */
static int
apply_until(int n, int *runs)
{
	char	*out = NULL, *err = NULL, *a;
	int	 rc = -1;

	a = xasprintf("apply --yes -f '%s'", fleet);
	for (*runs = 0; *runs < n && rc != 0; (*runs)++) {
		free(out);
		free(err);
		rc = gr(&out, &err, a);
	}
	if (rc != 0)
		diag("last apply (rc %d):\n%s\n%s", rc, out, err);
	free(out);
	free(err);
	free(a);
	return rc;
}

static void
write_key(const char *name, const char *key)
{
	char	*p = test_write(dir, name, key);

	chmod(p, 0600);
	free(p);
}

struct tally {
	size_t	 billed;	/* instances the sim ever billed */
	size_t	 unknown;	/* billed, ours, but not in the ledger */
	size_t	 live;		/* still billing */
	size_t	 live_untracked; /* still billing without a live row */
	size_t	 foreign_live;
};

static bool
row_for(struct ledger_inst *rows, size_t n, const char *prov,
    const char *id, struct ledger_inst **out)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (rows[i].provider_id != NULL &&
		    strcmp(rows[i].provider, prov) == 0 &&
		    strcmp(rows[i].provider_id, id) == 0) {
			*out = &rows[i];
			return true;
		}
	}
	return false;
}

static void
compare(struct tally *t)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL, *r;
	struct gr_err		 e;
	json_t			*bill, *insts, *bi;
	size_t			 n = 0, i;
	int64_t			 uid;

	memset(t, 0, sizeof(*t));
	if (ledger_open(state, false, &l, &e) == -1 ||
	    ledger_list(l, true, &rows, &n, &e) == -1)
		bail_out("ledger: %s", e.msg);
	bill = ctl(&sp, "GET", "billing", NULL);
	insts = json_object_get(bill, "instances");
	json_array_foreach(insts, i, bi) {
		const char	*prov = jstr(bi, "provider");
		const char	*id = jstr(bi, "id");
		const char	*label = jstr(bi, "label");
		bool		 live = json_is_null(json_object_get(bi,
		    "end_ms"));
		bool		 ours = label != NULL &&
		    owner_label_parse(label, ledger_id(l), &uid);

		if (!ours) {
			if (live)
				t->foreign_live++;
			continue;
		}
		t->billed++;
		if (live)
			t->live++;
		/* the orphan this test made behind our back has no row */
		if (uid == 999) {
			if (live)
				t->live_untracked++;
			continue;
		}
		if (!row_for(rows, n, prov, id, &r)) {
			t->unknown++;
			if (live)
				t->live_untracked++;
			diag("billed but not in the ledger: %s %s (%s)%s",
			    prov, id, label, live ? " STILL BILLING" : "");
			continue;
		}
		if (live && r->state == INST_TERMINATED) {
			t->live_untracked++;
			diag("still billing but TERMINATED in the ledger: "
			    "%s %s", prov, id);
		}
	}
	json_decref(bill);
	ledger_insts_free(rows, n);
	ledger_close(l);
}

static size_t
ledger_running(void)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i, k = 0;

	if (ledger_open(state, false, &l, &e) == -1 ||
	    ledger_list(l, false, &rows, &n, &e) == -1)
		bail_out("ledger: %s", e.msg);
	for (i = 0; i < n; i++)
		if (rows[i].state == INST_RUNNING)
			k++;
	ledger_insts_free(rows, n);
	ledger_close(l);
	return k;
}

int
main(void)
{
	struct tally	 t;
	struct ledger	*l = NULL;
	struct gr_err	 e;
	char		*out = NULL, *err = NULL, *body, *label, *a;
	json_t		*j;
	int		 runs, rc;

	plan_lazy();
	if (access(sim_bin(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s", sim_bin());
	sim_start(&sp, NULL, "--time-scale 100 --seed 7");
	dir = xstrdup(test_tmpdir());
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	write_key("vast.key", "sim-vast-key\n");
	write_key("runpod.key", "sim-runpod-key\n");
	write_key("lambda.key", "sim-lambda-key\n");
	body = xasprintf(
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  vastai: {base_url: \"http://127.0.0.1:%d/vast\", api_key_file: "
	    "%s/vast.key, time_scale: 100, timeouts: {spinup: 60s, "
	    "teardown: 30s, grace: 20s}}\n"
	    "  runpod: {base_url: \"http://127.0.0.1:%d/runpod\", api_key_file: "
	    "%s/runpod.key, min_interval_ms: 10, timeouts: {spinup: 60s, "
	    "teardown: 30s, grace: 20s}}\n"
	    "  lambda: {base_url: \"http://127.0.0.1:%d/lambda\", api_key_file: "
	    "%s/lambda.key, ssh_key_names: default, min_interval_ms: 10, "
	    "launch_interval_ms: 100, timeouts: {spinup: 60s, teardown: 30s, "
	    "grace: 20s}}\n", sp.port, dir, sp.port, dir, sp.port, dir);
	free(test_write(dir, "config.yaml", body));
	free(body);
	cfg = xasprintf("%s/config.yaml", dir);
	free(test_write(fleet, "train.yaml",
	    "fleet: train\n"
	    "budget: {max_per_hour: 20.00}\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: 2\n"
	    "    providers: [vastai, runpod]\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
	    "  - name: serve\n"
	    "    count: 1\n"
	    "    provider: runpod\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.80\n"
	    "  - name: eval\n"
	    "    count: 1\n"
	    "    provider: lambda\n"
	    "    gpu: A10\n"
	    "    max_price_per_hour: 0.80\n"));

	/* Faults on every provider, at the worst moments for money. */
	json_decref(ctl(&sp, "POST", "faults", "{\"rules\": ["
	    "{\"kind\": \"error\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"create\", \"status\": 500, \"count\": 1},"
	    "{\"kind\": \"late\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"create\", \"ms\": 20000, \"count\": 1},"
	    "{\"kind\": \"lost\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"create\", \"count\": 1},"
	    "{\"kind\": \"storm\", \"provider\": \"lambda\", \"endpoint\": "
	    "\"*\", \"length\": 2, \"count\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"list\", \"status\": 502, \"count\": 1}"
	    "]}"));

	rc = apply_until(6, &runs);
	is_int(rc, 0, "the three-cloud fleet converges under faults "
	    "(%d apply runs)", runs);
	is_int((long long)ledger_running(), 4, "the ledger has 4 RUNNING");
	compare(&t);
	is_int((long long)t.unknown, 0, "every instance the sim billed is in "
	    "the ledger");
	is_int((long long)t.live, 4, "exactly the 4 desired instances still "
	    "bill (%zu billed in all)", t.billed);
	is_int((long long)t.live_untracked, 0, "nothing bills that the "
	    "ledger does not track as live");

	/* A re-apply on the converged fleet changes nothing. */
	a = xasprintf("apply --yes --json -f '%s'", fleet);
	rc = gr(&out, &err, a);
	is_int(rc, 0, "re-apply exits 0");
	j = json_loads(out != NULL ? out : "", 0, NULL);
	is_int(j != NULL ? json_integer_value(json_object_get(j,
	    "mutating_calls")) : -1, 0, "re-apply makes no mutating call");
	json_decref(j);
	free(out);
	free(err);
	free(a);

	/* An orphan with our label and a foreign instance, made behind our
	 * back in the same accounts. */
	if (ledger_open(state, false, &l, &e) == -1)
		bail_out("ledger: %s", e.msg);
	label = owner_label(ledger_id(l), 999);
	ledger_close(l);
	body = xasprintf("{\"provider\": \"vastai\", \"gpu\": \"RTX_4090\", "
	    "\"label\": \"%s\"}", label);
	json_decref(ctl(&sp, "POST", "instances", body));
	free(body);
	json_decref(ctl(&sp, "POST", "instances", "{\"provider\": \"runpod\", "
	    "\"gpu\": \"RTX_4090\", \"label\": \"someone-elses-pod\"}"));
	rc = apply_until(3, &runs);
	is_int(rc, 0, "apply with an orphan and a foreign instance converges");
	compare(&t);
	is_int((long long)t.live, 4, "ours: 4 bill");
	is_int((long long)t.live_untracked, 0, "the orphan no longer bills");
	is_int((long long)t.foreign_live, 1, "the foreign instance still "
	    "bills: never touched");

	/* Tear it all down. */
	a = xasprintf("apply --destroy --yes -f '%s'", fleet);
	out = err = NULL;
	rc = -1;
	for (runs = 0; runs < 3 && rc != 0; runs++) {
		free(out);
		free(err);
		out = err = NULL;
		rc = gr(&out, &err, a);
	}
	free(out);
	free(err);
	free(a);
	is_int(rc, 0, "--destroy converges");
	compare(&t);
	is_int((long long)t.live, 0, "nothing of ours bills after --destroy");
	is_int((long long)t.unknown, 0, "and every billed instance is in the "
	    "ledger");
	is_int((long long)t.foreign_live, 1, "the foreign one is still "
	    "there");
	free(label);
	sim_stop(&sp);
	sim_free(&sp);
	return done_testing();
}
