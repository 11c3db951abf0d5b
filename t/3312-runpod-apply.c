/*
 * 3312: end to end, the CLI against gpureconcile-sim's RunPod: `apply` of
 * a fleet with providers: [runpod] (on-demand pods, and a spot group
 * rented through GraphQL) converges, and the sim's billing record
 * (its ground truth) bills exactly the ledger's live pods, plus a foreign
 * pod nobody touches.  A second apply creates nothing.  Scaling up through
 * faults (a lost create reply, a data centre out of GPUs, a 500 on list,
 * a 503 on get) still converges with no twin and nothing billed that no
 * fleet asked for; apply --destroy ends the billing of every pod of ours,
 * and only ours.
 *
 * The sim runs at --time-scale 100 with RunPod's rate limits on.  Needs
 * GR_BIN; the sim is $GR_SIM, else $GR_BUILD/gpureconcile-sim (skipped
 * without one).
 */
#include <sys/prctl.h>
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

#define KEY	"rpk-T3312-e2e-5d4c3b2a1f0e"
#define FOREIGN	"someone-elses-pod"

static pid_t		 sim_pid, main_pid;
static struct http_client *ctl_http;
static char		*cfg, *state;

static void
sim_stop(void)
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
		    xasprintf("%s/gpureconcile-sim", b != NULL && *b != '\0' ?
		    b : "build");
	return path;
}

/* Start the sim; its port. */
static int
sim_start(const char *scenario)
{
	struct gr_err	 e;
	char		*scen, *pf, *log, *txt = NULL, *url;
	int		 i, fd, port = 0;

	scen = test_write(test_tmpdir(), "sim/scenario.json", scenario);
	pf = xasprintf("%s/sim/port", test_tmpdir());
	log = xasprintf("%s/sim/log", test_tmpdir());
	fflush(stdout);
	sim_pid = fork();
	if (sim_pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (sim_pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execl(sim_path(), sim_path(), "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--scenario", scen, "--time-scale",
		    "100", "-q", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && port == 0; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 &&
		    strchr(txt, '\n') != NULL)
			port = atoi(txt);
		free(txt);
		txt = NULL;
		if (port == 0 && waitpid(sim_pid, NULL, WNOHANG) == sim_pid) {
			sim_pid = 0;
			(void)file_read(log, 4096, &txt, NULL);
			bail_out("gpureconcile-sim exited: %s",
			    txt != NULL ? txt : "");
		}
		if (port == 0)
			usleep(10 * 1000);
	}
	if (port <= 0)
		bail_out("gpureconcile-sim wrote no port");
	url = xasprintf("http://127.0.0.1:%d/_sim", port);
	if (http_client_new("sim", url, NULL, NULL, &ctl_http, &e) == -1)
		bail_out("control client: %s", e.msg);
	free(url);
	free(scen);
	free(pf);
	free(log);
	return port;
}

/* A control call that must work; its JSON (new). */
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
	if (http_do(ctl_http, &req, &r, &e) == -1)
		bail_out("sim %s %s: %s", method, path, e.msg);
	if (r.status >= 300)
		bail_out("sim %s %s: HTTP %ld: %s", method, path, r.status,
		    r.body);
	j = json_loadb(r.body, r.len, 0, NULL);
	if (j == NULL)
		bail_out("sim %s %s: not JSON", method, path);
	http_resp_release(&r);
	return j;
}

static void
write_fleet(int count)
{
	char	*y, *f;

	y = xasprintf(
	    "fleet: rp\n"
	    "budget: {max_per_hour: 10.00}\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: %d\n"
	    "    providers: [runpod]\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 1.00\n"
	    "    disk_gb: 20\n"
	    "    image: runpod/pytorch:2.8.0-py3.11-cuda12.8.1\n"
	    "    bootstrap:\n"
	    "      inline: |\n"
	    "        echo \"$GREETING from $(hostname)\"\n"
	    "    env: {GREETING: hello}\n"
	    "  - name: spot\n"
	    "    count: %d\n"
	    "    providers: [runpod]\n"
	    "    spot: true\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 1.00\n"
	    "    disk_gb: 20\n"
	    "    image: runpod/pytorch:2.8.0-py3.11-cuda12.8.1\n",
	    count, count > 0 ? 1 : 0);
	f = test_write(test_tmpdir(), "fleet/rp.yaml", y);
	free(f);
	free(y);
}

static int
gr(char **out, char **err, const char *args)
{
	return test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, args);
}

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

static const char *
sget(json_t *o, const char *k)
{
	const char	*v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

/* Does a live ledger row hold this pod (same id and label)? */
static bool
row_holds(json_t *rows, const char *id, const char *label)
{
	json_t	*r;
	size_t	 i;

	json_array_foreach(rows, i, r)
		if (strcmp(sget(r, "state"), "TERMINATED") != 0 &&
		    strcmp(sget(r, "provider_id"), id) == 0 &&
		    strcmp(sget(r, "label"), label) == 0)
			return true;
	return false;
}

/*
 * The sim's billing record against the ledger: each RunPod pod billing
 * now with a gr- label is a live row with the same id and label, each
 * live row bills there, and the foreign pod bills on.
 */
static void
check_billing(size_t want, const char *when)
{
	json_t		*rows = ledger_rows(), *bill, *b, *r;
	size_t		 i, live = 0, ours = 0, held = 0;
	bool		 foreign = false;
	const char	*label, *id;

	json_array_foreach(rows, i, r)
		if (strcmp(sget(r, "state"), "TERMINATED") != 0)
			live++;
	bill = ctl("GET", "billing", NULL);
	json_array_foreach(json_object_get(bill, "instances"), i, b) {
		if (strcmp(sget(b, "provider"), "runpod") != 0 ||
		    !json_is_null(json_object_get(b, "end_ms")) ||
		    json_integer_value(json_object_get(b,
		    "rate_now_micros")) == 0)
			continue;	/* not billing now */
		label = sget(b, "label");
		id = sget(b, "id");
		if (strcmp(label, FOREIGN) == 0) {
			foreign = true;
			continue;
		}
		ours++;
		if (row_holds(rows, id, label))
			held++;
		else
			diag("%s: the sim bills pod %s (%s), which no live "
			    "ledger row holds", when, id, label);
	}
	is_int((long long)live, (long long)want, "%s: %zu live ledger rows",
	    when, want);
	is_int((long long)ours, (long long)want, "%s: the sim bills exactly "
	    "%zu pods of ours", when, want);
	is_int((long long)held, (long long)ours, "%s: each of them is a live "
	    "ledger row, same id and label", when);
	ok(foreign, "%s: the foreign pod bills on, untouched", when);
	json_decref(bill);
	json_decref(rows);
}

/* Create requests the sim answered (with this status; 0: any). */
static size_t
creates(long status)
{
	json_t	*j = ctl("GET", "requests?provider=runpod", NULL), *r;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(j, "requests"), i, r)
		if (strcmp(sget(r, "method"), "POST") == 0 &&
		    strcmp(sget(r, "path"), "/runpod/v2/pods") == 0 &&
		    (status == 0 || json_integer_value(json_object_get(r,
		    "status")) == status))
			n++;
	json_decref(j);
	return n;
}

/* Spot rentals (GraphQL podRentInterruptable) the sim answered 200. */
static size_t
spot_rentals(void)
{
	json_t	*j = ctl("GET", "requests?provider=runpod", NULL), *r;
	size_t	 i, n = 0;

	json_array_foreach(json_object_get(j, "requests"), i, r)
		if (strcmp(sget(r, "path"), "/runpod/graphql") == 0 &&
		    strstr(sget(r, "body"), "podRentInterruptable") != NULL &&
		    json_integer_value(json_object_get(r, "status")) == 200)
			n++;
	json_decref(j);
	return n;
}

static const char scenario[] =
    "{\"runpod\": {\n"
    "  \"keys\": [\"" KEY "\"],\n"
    "  \"offers\": [\n"
    "    {\"gpu\": \"RTX_4090\", \"count\": 8, \"price\": \"0.69\","
    " \"region\": \"US-TX-3\", \"cloud\": \"SECURE\", \"capacity\": 8,"
    " \"min_bid\": \"0.35\"},\n"
    "    {\"gpu\": \"RTX_4090\", \"count\": 8, \"price\": \"0.69\","
    " \"region\": \"US-KS-2\", \"cloud\": \"SECURE\", \"capacity\": 8,"
    " \"min_bid\": \"0.35\"}\n"
    "  ]}}\n";

int
main(void)
{
	char	*out = NULL, *err = NULL, *c;
	size_t	 before;
	int	 rc, port;

	main_pid = getpid();
	if (access(sim_path(), X_OK) != 0)
		skip_all("no gpureconcile-sim at %s (build it, or set GR_SIM)",
		    sim_path());
	if (access(test_bin(), X_OK) != 0)
		skip_all("no gpureconcile at %s (set GR_BIN)", test_bin());
	plan_lazy();
	signal(SIGPIPE, SIG_IGN);
	if (chdir(test_tmpdir()) == -1)
		bail_out("chdir: %s", strerror(errno));
	setenv("XDG_CONFIG_HOME", test_tmpdir(), 1);
	setenv("XDG_STATE_HOME", test_tmpdir(), 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("RUNPOD_API_KEY", KEY, 1);
	port = sim_start(scenario);
	atexit(sim_stop);

	json_decref(ctl("POST", "instances", "{\"provider\": \"runpod\", "
	    "\"sku\": 0, \"label\": \"" FOREIGN "\", \"phase\": "
	    "\"running\"}"));
	c = xasprintf(
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  runpod:\n"
	    "    base_url: http://127.0.0.1:%d/runpod\n"
	    "    min_interval_ms: 10\n"
	    "    timeouts: {spinup: 60s, teardown: 30s}\n", port);
	cfg = test_write(test_tmpdir(), "config.yaml", c);
	free(c);
	state = xasprintf("%s/state", test_tmpdir());

	/* 1. two pods, and one spot pod */
	write_fleet(2);
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply of 2 converges");
	like(out != NULL ? out : "", "converged", "apply says converged");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
	is_int((long long)spot_rentals(), 1, "the spot group's pod was rented "
	    "through GraphQL");
	check_billing(3, "after apply of 2 + 1 spot");

	/* 2. again: nothing to do */
	before = creates(0);
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply again converges");
	is_int((long long)creates(0), (long long)before, "... and creates "
	    "nothing");
	free(out);
	free(err);

	/* 3. four, through faults */
	json_decref(ctl("POST", "faults", "{\"rules\": ["
	    "{\"kind\": \"lost\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"create\", \"count\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"create\", \"status\": 400, \"msg\": \"There are no longer any "
	    "instances available with the requested specifications. Please "
	    "refresh and try again.\", \"count\": 1, \"skip\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"list\", \"status\": 500, \"count\": 1},"
	    "{\"kind\": \"error\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"show\", \"status\": 503, \"count\": 1}]}"));
	write_fleet(4);
	rc = gr(&out, &err, "apply --yes -f fleet");
	is_int(rc, 0, "apply of 4 through a lost reply, no capacity and 5xx "
	    "converges");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	like(err != NULL ? err : "", "adopted", "the pod of the lost reply "
	    "is adopted by its label");
	is_int((long long)creates(400), 1, "the sim refused one create for "
	    "capacity, and apply went on");
	free(out);
	free(err);
	json_decref(ctl("DELETE", "faults", NULL));
	check_billing(5, "after apply of 4 + 1 spot with faults");

	/* 4. destroy */
	rc = gr(&out, &err, "apply --yes --destroy -f fleet");
	is_int(rc, 0, "apply --destroy converges");
	if (rc != 0)
		diag("stdout: %s\nstderr: %s", out, err);
	free(out);
	free(err);
	check_billing(0, "after apply --destroy");
	sim_stop();
	return done_testing();
}
