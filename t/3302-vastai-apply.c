/*
 * 3302: end to end, the CLI against gpureconcile-sim's Vast.ai: `apply`
 * of a fleet with providers: [vastai] converges, and the sim's billing
 * record (its ground truth) shows exactly the ledger's instances billing,
 * plus a foreign instance nobody touched.  Then a scale-up with faults on
 * (a lost spawn reply, a stale offer, a 500 on list, a 502 on show) still
 * converges with no duplicate and nothing billed that no fleet asked for,
 * a second apply changes nothing, and apply --destroy ends the billing of
 * every instance of ours, and only ours.
 *
 * The sim runs at --time-scale 100 with Vast's rate limits on; the
 * provider's time_scale 100 paces us to match.  Needs GR_BIN; the sim
 * comes from $GR_SIM, else $GR_BUILD/gpureconcile-sim (skipped without).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define KEY	"sim-vast-KEY-e2e-93b1c07d"

static pid_t		 sim_pid, main_pid;
static int		 sim_port;
static struct http_client *ctl_client;
static char		*cfg, *state, *fleet;

static void
kill_sim(void)
{
	int	 st;

	if (getpid() != main_pid || sim_pid <= 0)
		return;
	(void)kill(sim_pid, SIGTERM);
	(void)waitpid(sim_pid, &st, 0);
	sim_pid = 0;
}

static const char *
sim_path(void)
{
	static char	*path;
	const char	*s = getenv("GR_SIM"), *b = getenv("GR_BUILD");

	if (path == NULL)
		path = s != NULL && *s != '\0' ? xstrdup(s) :
		    xasprintf("%s/gpureconcile-sim", b != NULL ? b : "build");
	return path;
}

static void
sim_start(const char *scenario)
{
	struct gr_err	 e;
	char		*dir, *scen, *pf, *errlog, *txt = NULL, *url;
	int		 i, fd;

	dir = xasprintf("%s/sim", test_tmpdir());
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir %s: %s", dir, strerror(errno));
	scen = test_write(dir, "scenario.json", scenario);
	pf = xasprintf("%s/port", dir);
	errlog = xasprintf("%s/stderr", dir);
	fflush(stdout);
	sim_pid = fork();
	if (sim_pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (sim_pid == 0) {
		fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execl(sim_path(), sim_path(), "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--scenario", scen, "--time-scale",
		    "100", "-q", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && sim_port == 0; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 &&
		    strchr(txt, '\n') != NULL)
			sim_port = atoi(txt);
		free(txt);
		txt = NULL;
		if (sim_port == 0 &&
		    waitpid(sim_pid, NULL, WNOHANG) == sim_pid) {
			(void)file_read(errlog, 4096, &txt, NULL);
			bail_out("gpureconcile-sim exited: %s",
			    txt != NULL ? txt : "");
		}
		if (sim_port == 0)
			usleep(10000);
	}
	if (sim_port <= 0)
		bail_out("gpureconcile-sim wrote no port");
	url = xasprintf("http://127.0.0.1:%d", sim_port);
	if (http_client_new("sim", url, NULL, NULL, &ctl_client, &e) == -1)
		bail_out("control client: %s", e.msg);
	free(url);
	free(dir);
	free(scen);
	free(pf);
	free(errlog);
}

static json_t *
ctl(const char *method, const char *path, const char *body)
{
	struct http_req		 req;
	struct http_resp	 r;
	struct gr_err		 e;
	json_t			*j;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	if (http_do(ctl_client, &req, &r, &e) == -1)
		bail_out("%s %s: %s", method, path, e.msg);
	if (r.status >= 300)
		bail_out("%s %s: HTTP %ld: %s", method, path, r.status,
		    r.body);
	j = json_loadb(r.body, r.len, 0, NULL);
	if (j == NULL)
		bail_out("%s %s: not JSON", method, path);
	http_resp_release(&r);
	return j;
}

static void
write_fleet(int count)
{
	char	*y;

	y = xasprintf(
	    "fleet: e2e\n"
	    "budget: {max_per_hour: 5.00}\n"
	    "groups:\n"
	    "  - name: worker\n"
	    "    count: %d\n"
	    "    providers: [vastai]\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.50\n"
	    "    disk_gb: 10\n"
	    "    image: pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\n"
	    "    bootstrap:\n"
	    "      inline: |\n"
	    "        echo \"$GREETING from $(hostname)\"\n"
	    "    env: {GREETING: hello}\n", count);
	free(fleet);
	fleet = test_write(test_tmpdir(), "fleet/e2e.yaml", y);
	free(y);
}

/* Run the CLI; rc, with stdout and stderr (owned) when asked. */
static int
gr(char **out, char **err, const char *args)
{
	return test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, args);
}

/* The ledger's rows (new array), from status --json. */
static json_t *
ledger_rows(void)
{
	char	*out = NULL;
	json_t	*j;

	if (gr(&out, NULL, "status --json") != 0)
		bail_out("status --json failed");
	j = json_loads(out, 0, NULL);
	if (!json_is_array(j))
		bail_out("status --json: not an array: %s", out);
	free(out);
	return j;
}

/*
 * Compare the sim's billing record with the ledger: every instance the
 * sim bills now that carries a gr- label is a live row of the ledger with
 * the same id and label, every live row is billing there, and the foreign
 * instance bills on.  nlive: live rows expected.
 */
static void
check_billing(size_t nlive, const char *when)
{
	json_t		*rows = ledger_rows(), *bill, *insts, *b, *r;
	size_t		 i, j, live = 0, ours_billing = 0, matched = 0;
	bool		 foreign_on = false, stray = false;
	const char	*label, *id;

	bill = ctl("GET", "/_sim/billing", NULL);
	insts = json_object_get(bill, "instances");
	json_array_foreach(rows, j, r) {
		const char *st = json_string_value(json_object_get(r,
		    "state"));

		if (strcmp(st, "TERMINATED") != 0)
			live++;
	}
	json_array_foreach(insts, i, b) {
		if (strcmp(json_string_value(json_object_get(b, "provider")),
		    "vastai") != 0)
			continue;
		label = json_string_value(json_object_get(b, "label"));
		id = json_string_value(json_object_get(b, "id"));
		if (!json_is_null(json_object_get(b, "end_ms")) ||
		    json_integer_value(json_object_get(b,
		    "rate_now_micros")) == 0)
			continue;	/* not billing now */
		if (label != NULL && strcmp(label, "someone-elses-job") == 0) {
			foreign_on = true;
			continue;
		}
		ours_billing++;
		json_array_foreach(rows, j, r) {
			if (strcmp(json_string_value(json_object_get(r,
			    "state")), "TERMINATED") == 0)
				continue;
			if (json_is_string(json_object_get(r,
			    "provider_id")) && strcmp(json_string_value(
			    json_object_get(r, "provider_id")), id) == 0 &&
			    label != NULL && strcmp(json_string_value(
			    json_object_get(r, "label")), label) == 0)
				break;
		}
		if (j < json_array_size(rows))
			matched++;
		else {
			stray = true;
			diag("%s: the sim bills %s (%s), which no live ledger "
			    "row holds", when, id, label != NULL ? label :
			    "no label");
		}
	}
	is_int((long long)live, (long long)nlive, "%s: %zu live ledger rows",
	    when, nlive);
	ok(!stray, "%s: nothing billing at the sim that the ledger does not "
	    "hold", when);
	is_int((long long)matched, (long long)live, "%s: every live ledger "
	    "row is billing at the sim, same id and label", when);
	is_int((long long)ours_billing, (long long)nlive, "%s: the sim bills "
	    "exactly %zu instances of ours", when, nlive);
	ok(foreign_on, "%s: the foreign instance bills on, untouched", when);
	json_decref(bill);
	json_decref(rows);
}

/* Rentals the sim saw (with this status; 0: any). */
static size_t
count_puts_status(long status)
{
	json_t	*j, *r;
	size_t	 i, n = 0;

	j = ctl("GET", "/_sim/requests?provider=vastai", NULL);
	json_array_foreach(json_object_get(j, "requests"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "method")),
		    "PUT") == 0 && strstr(json_string_value(json_object_get(r,
		    "path")), "/asks/") != NULL && (status == 0 ||
		    json_integer_value(json_object_get(r, "status")) ==
		    status))
			n++;
	json_decref(j);
	return n;
}

static size_t
count_puts(void)
{
	return count_puts_status(0);
}

static const char scenario[] =
    "{\"vastai\": {\n"
    "  \"keys\": [\"" KEY "\"],\n"
    "  \"rate_limits\": true,\n"
    "  \"offers\": [\n"
    "    {\"gpu\": \"RTX_4090\", \"price\": \"0.35\", \"region\": \"CA\","
    " \"geolocation\": \"Quebec, CA\", \"capacity\": 4},\n"
    "    {\"gpu\": \"RTX_4090\", \"price\": \"0.40\", \"region\": \"US\","
    " \"geolocation\": \"Texas, US\", \"capacity\": 6},\n"
    "    {\"gpu\": \"RTX_4090\", \"price\": \"0.90\", \"region\": \"US\","
    " \"geolocation\": \"Nevada, US\", \"capacity\": 4}\n"
    "  ]}}\n";

int
main(void)
{
	char	*out = NULL, *err = NULL, *c;
	size_t	 puts_before;
	int	 rc;

	main_pid = getpid();
	if (access(sim_path(), X_OK) != 0)
		skip_all("gpureconcile-sim not built (%s); set GR_SIM",
		    sim_path());
	if (access(test_bin(), X_OK) != 0)
		skip_all("gpureconcile not built (%s); set GR_BIN",
		    test_bin());
	plan_lazy();
	atexit(kill_sim);
	signal(SIGPIPE, SIG_IGN);
	if (chdir(test_tmpdir()) == -1)
		bail_out("chdir: %s", strerror(errno));
	setenv("XDG_CONFIG_HOME", test_tmpdir(), 1);
	setenv("XDG_STATE_HOME", test_tmpdir(), 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("VAST_API_KEY", KEY, 1);
	sim_start(scenario);

	/* someone else's instance in the same account */
	json_decref(ctl("POST", "/_sim/instances", "{\"provider\": "
	    "\"vastai\", \"sku\": 2, \"label\": \"someone-elses-job\", "
	    "\"phase\": \"running\"}"));

	/*
	 * One provider call at a time: two spawns racing for the same
	 * cheapest ask make one of them meet a stale offer, which is
	 * CAPACITY, and the reconciler then skips that offer's whole region
	 * for the rest of the run (run_miss_add), so whether the run
	 * converges would depend on the race.
	 */
	c = xasprintf(
	    "parallel: 1\n"
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  vastai:\n"
	    "    base_url: http://127.0.0.1:%d/vast\n"
	    "    time_scale: 100\n"
	    "    timeouts: {spinup: 60s, teardown: 30s}\n", sim_port);
	cfg = test_write(test_tmpdir(), "config.yaml", c);
	free(c);
	state = xasprintf("%s/state", test_tmpdir());

	/* 1. two instances */
	write_fleet(2);
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply of 2 converges");
	like(out != NULL ? out : "", "converged", "apply says converged");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
	check_billing(2, "after apply of 2");

	/* 2. a second apply changes nothing */
	puts_before = count_puts();
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply again converges");
	is_int((long long)count_puts(), (long long)puts_before,
	    "and rents nothing");
	free(out);
	free(err);

	/* 3. scale to 5 with faults on */
	json_decref(ctl("POST", "/_sim/faults", "{\"rules\": ["
	    "{\"kind\": \"lost\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"create\", \"count\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"create\", \"status\": 410, \"count\": 1, \"skip\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"list\", \"status\": 500, \"count\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"vastai\", \"endpoint\": "
	    "\"show\", \"status\": 502, \"count\": 1}]}"));
	write_fleet(5);
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply of 5 through a lost reply, a stale offer and "
	    "5xx converges");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	like(err != NULL ? err : "", "may or may not have happened",
	    "the lost spawn reply was noticed");
	like(err != NULL ? err : "", "adopted", "and its instance adopted "
	    "by label");
	is_int((long long)count_puts_status(410), 1, "the sim answered one "
	    "rental 410 (a stale offer), and apply moved on");
	free(out);
	free(err);
	json_decref(ctl("DELETE", "/_sim/faults", NULL));
	check_billing(5, "after apply of 5 with faults");

	/* 4. destroy */
	rc = gr(&out, &err, "apply --yes --destroy -f fleet");
	is_int(rc, 0, "apply --destroy converges");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
	check_billing(0, "after apply --destroy");

	http_client_free(ctl_client);
	free(cfg);
	free(state);
	free(fleet);
	return done_testing();
}
