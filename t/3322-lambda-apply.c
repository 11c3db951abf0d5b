/*
 * 3322-lambda-apply: end to end, the real CLI against gpureconcile-sim's
 * Lambda: `apply` of a fleet with `providers: [lambda]` converges, a
 * second apply changes nothing and launches nothing, `apply --destroy`
 * tears it down, and at each step the sim's billing record (its ground
 * truth) holds exactly the instances the ledger has: every billed
 * instance is one the ledger knows, nothing bills that the ledger does
 * not count as live.
 *
 * The sim runs at --time-scale 200 (a 90 s boot takes 0.45 s) with
 * Lambda's own rate limits in sim time (1 request/s, 1 launch per 12 s,
 * so 5 ms and 60 ms real); the config paces above them.  Needs GR_BIN
 * and the sim (GR_SIM), as `make check` exports them.
 */
#include <stdarg.h>

#include "6000-sim.h"

#define KEY	"sk-lambda-E2E-0123456789abcdef"

static const char scenario[] =
    "{\"lambda\": {\"keys\": [\"" KEY "\"],"
    " \"offers\": ["
    "  {\"gpu\": \"A10\", \"count\": 1, \"price\": \"0.75\","
    "   \"region\": \"us-east-1\", \"capacity\": 2},"
    "  {\"gpu\": \"A10\", \"count\": 1, \"price\": \"0.75\","
    "   \"region\": \"us-west-1\", \"capacity\": 2}],"
    " \"ssh_keys\": [\"e2e-key\"]}}";

static char	*cfg, *state, *fleet;

/* gpureconcile with this test's config and state dir. */
static int
gr(char **out, char **err, const char *fmt, ...) TAP_PRINTF(3, 4);

static int
gr(char **out, char **err, const char *fmt, ...)
{
	va_list	 ap;
	char	*args;
	int	 rc;

	va_start(ap, fmt);
	args = xvasprintf(fmt, ap);
	va_end(ap);
	/* the sim's limits are per key: never start right on the last call */
	usleep(100000);
	rc = test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, args);
	free(args);
	return rc;
}

/* The ledger's rows (status --all --json), new. */
static json_t *
ledger_rows(void)
{
	char	*out = NULL, *err = NULL;
	json_t	*j;
	int	 rc = gr(&out, &err, "status --all --json");

	if (rc != 0)
		diag("status: %s", err);
	j = json_loads(out, 0, NULL);
	if (!json_is_array(j))
		bail_out("status --json gave no list: %s", out);
	free(out);
	free(err);
	return j;
}

static json_t *
row_of(json_t *rows, const char *id)
{
	size_t	 i;
	json_t	*r;

	json_array_foreach(rows, i, r) {
		const char *pid = json_string_value(json_object_get(r,
		    "provider_id"));

		if (pid != NULL && strcmp(pid, id) == 0)
			return r;
	}
	return NULL;
}

/*
 * Compare the sim's billing record with the ledger: every billed lambda
 * instance is a ledger row; open billing exactly when the row is live.
 * Returns how many bill now.
 */
static size_t
check_books(struct simproc *sp, const char *when, size_t want_open)
{
	json_t	*bill = ctl(sp, "GET", "billing", NULL), *rows = ledger_rows();
	json_t	*e, *r;
	size_t	 i, nopen = 0, nlive = 0;
	bool	 known = true, agree = true;

	json_array_foreach(json_object_get(bill, "instances"), i, e) {
		const char *id = jstr(e, "id");
		bool open = json_is_null(json_object_get(e, "end_ms"));
		const char *st;

		if (strcmp(jstr(e, "provider"), "lambda") != 0)
			continue;
		if (open)
			nopen++;
		r = row_of(rows, id);
		if (r == NULL) {
			known = false;
			diag("%s: the sim billed %s, the ledger has no row",
			    when, id);
			continue;
		}
		st = jstr(r, "state");
		if (open != (strcmp(st, "TERMINATED") != 0)) {
			agree = false;
			diag("%s: %s bills %s, the ledger says %s", when, id,
			    open ? "still" : "no more", st);
		}
	}
	json_array_foreach(rows, i, r) {
		if (strcmp(jstr(r, "provider"), "lambda") == 0 &&
		    strcmp(jstr(r, "state"), "TERMINATED") != 0)
			nlive++;
	}
	ok(known, "%s: every instance the sim billed is in the ledger", when);
	ok(agree, "%s: billing open exactly for the ledger's live rows",
	    when);
	is_int((long long)nopen, (long long)want_open, "%s: %zu bill now",
	    when, want_open);
	is_int((long long)nlive, (long long)want_open, "%s: the ledger has "
	    "%zu live", when, want_open);
	json_decref(bill);
	json_decref(rows);
	return nopen;
}

/* Launches sent; *ok of them succeeded (NULL: not wanted). */
static size_t
launches(struct simproc *sp, size_t *nok)
{
	json_t	*j = ctl(sp, "GET", "requests?provider=lambda", NULL), *o;
	size_t	 i, n = 0;

	if (nok != NULL)
		*nok = 0;
	json_array_foreach(json_object_get(j, "requests"), i, o) {
		if (strstr(jstr(o, "path"), "/instance-operations/launch") ==
		    NULL)
			continue;
		n++;
		if (nok != NULL && jint(o, "status") == 200)
			(*nok)++;
	}
	json_decref(j);
	return n;
}

static size_t
rate_limited(struct simproc *sp)
{
	json_t	*j = ctl(sp, "GET", "requests?provider=lambda", NULL), *o;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(j, "requests"), i, o)
		if (jint(o, "status") == 429)
			n++;
	json_decref(j);
	return n;
}

int
main(void)
{
	struct simproc	 sp;
	const char	*dir;
	char		*out = NULL, *err = NULL, *text;
	size_t		 before, nok;
	int		 rc;

	if (access(sim_bin(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s (set GR_SIM)", sim_bin());
	if (access(test_bin(), X_OK) == -1)
		skip_all("no gpureconcile at %s (set GR_BIN)", test_bin());
	plan_lazy();
	if (setenv("LAMBDA_API_KEY", KEY, 1) == -1)
		bail_out("setenv");
	sim_start(&sp, scenario, "--time-scale 200 -q");
	dir = test_tmpdir();
	text = xasprintf(
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  lambda:\n"
	    "    base_url: http://127.0.0.1:%d/lambda\n"
	    "    ssh_key_names: e2e-key\n"
	    "    min_interval_ms: 20\n"
	    "    launch_interval_ms: 80\n"
	    "    timeouts: {spinup: 60s, teardown: 60s}\n", sp.port);
	cfg = test_write(dir, "config.yaml", text);
	free(text);
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	free(test_write(dir, "fleet/f.yaml",
	    "fleet: lam\n"
	    "budget: {max_per_hour: 5.00}\n"
	    "groups:\n"
	    "  - name: g\n"
	    "    count: 3\n"
	    "    providers: [lambda]\n"
	    "    gpu: A10\n"
	    "    max_price_per_hour: 1.00\n"
	    "    disk_gb: 10\n"
	    "    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
	    "    bootstrap:\n"
	    "      inline: |\n"
	    "        echo hello from lambda\n"));

	rc = gr(&out, &err, "plan -f '%s'", fleet);
	is_int(rc, 0, "plan: exit 0");
	like(out, "lambda", "plan: the spawns go to lambda");
	free(out);
	free(err);

	rc = gr(&out, &err, "apply -f '%s'", fleet);
	is_int(rc, 0, "apply: converges");
	if (rc != 0)
		diag("apply stderr: %s", err);
	free(out);
	free(err);
	check_books(&sp, "after apply", 3);
	(void)launches(&sp, &nok);
	is_int((long long)nok, 3, "apply: three launches succeeded, one per "
	    "slot (a region that filled up meanwhile answers no, and the "
	    "next offer is tried)");

	before = launches(&sp, NULL);
	rc = gr(&out, &err, "apply -f '%s'", fleet);
	is_int(rc, 0, "apply again: exit 0");
	like(out, "0 spawned, 0 terminated", "apply again: nothing to do");
	free(out);
	free(err);
	is_int((long long)launches(&sp, NULL), (long long)before,
	    "apply again: no launch");
	check_books(&sp, "after the second apply", 3);

	rc = gr(&out, &err, "apply --destroy -f '%s'", fleet);
	is_int(rc, 0, "apply --destroy: exit 0");
	if (rc != 0)
		diag("destroy stderr: %s", err);
	free(out);
	free(err);
	check_books(&sp, "after apply --destroy", 0);
	is_int((long long)rate_limited(&sp), 0, "the sim never had to "
	    "answer 429");

	(void)sim_stop(&sp);
	sim_free(&sp);
	(void)unsetenv("LAMBDA_API_KEY");
	free(cfg);
	free(state);
	free(fleet);
	return done_testing();
}
