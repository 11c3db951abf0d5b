/*
 * bench/converge: how long `apply` takes to bring up a big fleet, and how
 * many provider calls it spends doing so.  Starts gpureconcile-sim (RunPod
 * API, 100 ms per request, 30 s boots, capacity for the whole fleet),
 * writes a fleet of N (default 200) RTX 4090 pods and times the real CLI
 * applying it from nothing.  Prints the wall time against one boot time,
 * the provider calls made (from the sim's request counter), by kind, and
 * the calls minimally needed: one offer lookup, N creates, and one list
 * per pass while the pods boot.
 *
 * Everything is time-scaled by --scale S (default 10): the sim's clock
 * runs S times faster, the request latency is 100/S real ms and client
 * pacing 1000/S ms, so every proportion is kept and the run takes 1/S of
 * the time; figures are given in unscaled ("virtual") seconds.  The
 * reconciler's poll interval (1 s, its minimum) is not scaled: it costs
 * up to S virtual seconds per pass.
 *
 * Two modes:
 *   (default)   RunPod's documented example quota (60 requests a
 *               minute, enforced by the sim) and the runpod provider's
 *               client pacing (one request a second); this is what a
 *               real 200-pod apply would see
 *   --no-limits no rate limits, no pacing: what the reconciler's own
 *               concurrency allows
 *
 *   make bench && build/bench/converge [--no-limits] [--count N]
 *       [--scale S] [--parallel P]
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../util/util.h"

static int	 port;
static pid_t	 simpid;

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
body_cb(char *p, size_t sz, size_t n, void *arg)
{
	buf_add(arg, p, sz * n);
	return sz * n;
}

/* A control API request; the parsed reply (new). */
static json_t *
ctl(const char *method, const char *path, const char *body)
{
	CURL			*c = curl_easy_init();
	struct curl_slist	*hl = NULL;
	struct buf		 b = BUF_INIT;
	char			*url;
	json_t			*j;
	json_error_t		 je;
	long			 status = 0;

	url = xasprintf("http://127.0.0.1:%d/_sim/%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body != NULL) {
		hl = curl_slist_append(hl, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c) != CURLE_OK)
		fatalx("control %s %s: no reply", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	j = json_loads(buf_str(&b), JSON_DECODE_ANY, &je);
	if (j == NULL || status >= 300)
		fatalx("control %s %s: %ld %s", method, path, status,
		    buf_str(&b));
	buf_release(&b);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	free(url);
	return j;
}

static void
kill_sim(void)
{
	if (simpid > 0) {
		(void)kill(simpid, SIGTERM);
		(void)waitpid(simpid, NULL, 0);
		simpid = 0;
	}
}

static void
start_sim(const char *sim, const char *dir, const char *scen, int scale)
{
	char	*pf = xasprintf("%s/port", dir), *sf, *txt = NULL, sc[16];
	int	 i, fd;

	sf = xasprintf("%s/scenario.json", dir);
	if (file_write_atomic(sf, scen, strlen(scen), 0644) == -1)
		fatal("write %s", sf);
	snprintf(sc, sizeof(sc), "%d", scale);
	simpid = fork();
	if (simpid == -1)
		fatal("fork");
	if (simpid == 0) {
		fd = open("/dev/null", O_RDWR);
		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(sim, sim, "--listen", "127.0.0.1:0", "--port-file", pf,
		    "--scenario", sf, "--time-scale", sc, "-q", (char *)NULL);
		_exit(127);
	}
	atexit(kill_sim);
	for (i = 0; i < 1000 && port == 0; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 && strchr(txt, '\n'))
			port = atoi(txt);
		free(txt);
		txt = NULL;
		if (port == 0)
			usleep(10000);
	}
	if (port == 0)
		fatalx("gpureconcile-sim did not come up (%s)", sim);
	free(pf);
	free(sf);
}

static void
usage(void)
{
	fprintf(stderr, "usage: converge [--no-limits] [--count N] "
	    "[--scale S] [--parallel P] [gpureconcile [gpureconcile-sim]]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char	*bin = "build/gpureconcile", *sim =
	    "build/gpureconcile-sim";
	char		 tmpl[] = "/tmp/gr-converge.XXXXXX";
	char		*dir, *scen, *cfg, *fleet, *text, *cmd, *q;
	char		 par[32] = "";
	double		 t0, wall;
	json_t		*j, *reqs, *r, *sum = NULL;
	long long	 seq0, seq1;
	size_t		 i, creates = 0, lists = 0, gets = 0, offers = 0;
	size_t		 other = 0, r429 = 0, passes = 0;
	int		 count = 200, scale = 10, parallel = 0, rc, boot_s = 30;
	int		 latency_ms = 100, nargs = 0;
	bool		 limits = true;
	FILE		*fp;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--no-limits") == 0)
			limits = false;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 <
		    (size_t)argc)
			count = atoi(argv[++i]);
		else if (strcmp(argv[i], "--scale") == 0 && i + 1 <
		    (size_t)argc)
			scale = atoi(argv[++i]);
		else if (strcmp(argv[i], "--parallel") == 0 && i + 1 <
		    (size_t)argc)
			parallel = atoi(argv[++i]);
		else if (argv[i][0] == '-')
			usage();
		else if (nargs++ == 0)
			bin = argv[i];
		else
			sim = argv[i];
	}
	if (count < 1 || scale < 1 || scale > 100)
		usage();
	if (getenv("GR_BIN") != NULL && nargs == 0)
		bin = getenv("GR_BIN");
	if (getenv("GR_SIM") != NULL && nargs < 2)
		sim = getenv("GR_SIM");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp");
	dir = tmpl;

	/* One RunPod offer line big enough for the fleet, 30 s boots. */
	scen = xasprintf("{\"providers\": {"
	    "\"vastai\": {\"rate_limits\": false}, "
	    "\"lambda\": {\"rate_limits\": false}, "
	    "\"runpod\": {%s\"delays\": {\"provision_ms\": 5000, "
	    "\"start_ms\": %d, \"stop_ms\": 3000, \"terminate_ms\": 0}, "
	    "\"offers\": [{\"gpu\": \"RTX_4090\", \"count\": 1, \"price\": "
	    "\"0.69\", \"storage_price\": \"0.01\", \"region\": \"US-TX-3\", "
	    "\"cloud\": \"SECURE\", \"capacity\": %d}]}}}",
	    limits ? "" : "\"rate_limits\": false, ", boot_s * 1000 - 5000,
	    count * 2);
	start_sim(sim, dir, scen, scale);
	free(scen);
	q = xasprintf("{\"kind\": \"latency\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"*\", \"ms\": %d}", latency_ms / scale);
	json_decref(ctl("POST", "faults", q));
	free(q);

	text = xasprintf("%s/runpod.key", dir);
	if (file_write_atomic(text, "sim-runpod-key\n", 15, 0600) == -1)
		fatal("write key");
	free(text);
	cfg = xasprintf("%s/config.yaml", dir);
	if (parallel > 0)
		snprintf(par, sizeof(par), "parallel: %d\n", parallel);
	text = xasprintf(
	    "state_dir: %s/state\n"
	    "%s"
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  runpod: {base_url: \"http://127.0.0.1:%d/runpod\", "
	    "api_key_file: %s/runpod.key, min_interval_ms: %d, "
	    "rate_wait_max_ms: %d, "
	    "timeouts: {spinup: 30m, teardown: 5m, grace: 5m}}\n",
	    dir, par, port, dir, limits ? 1000 / scale : 0,
	    limits ? 60000 / scale : 2000);
	if (file_write_atomic(cfg, text, strlen(text), 0644) == -1)
		fatal("write %s", cfg);
	free(text);
	fleet = xasprintf("%s/fleet", dir);
	if (mkdir_p(fleet, 0755) == -1)
		fatal("mkdir %s", fleet);
	text = xasprintf("%s/big.yaml", fleet);
	q = xasprintf("fleet: big\ngroups:\n  - name: worker\n    count: %d\n"
	    "    provider: runpod\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 1.00\n", count);
	if (file_write_atomic(text, q, strlen(q), 0644) == -1)
		fatal("write %s", text);
	free(text);
	free(q);

	j = ctl("GET", "requests?provider=runpod", NULL);
	seq0 = (long long)json_integer_value(json_object_get(j, "last_seq"));
	json_decref(j);
	cmd = xasprintf("'%s' --config '%s' apply --yes --json -f '%s' "
	    "2>'%s/apply.err'", bin, cfg, fleet, dir);
	t0 = now_s();
	fp = popen(cmd, "r");
	if (fp == NULL)
		fatal("popen");
	{
		struct buf	 out = BUF_INIT;
		char		 chunk[4096];
		size_t		 n;
		json_error_t	 je;

		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			buf_add(&out, chunk, n);
		rc = pclose(fp);
		wall = now_s() - t0;
		sum = json_loads(buf_str(&out), 0, &je);
		buf_release(&out);
	}
	free(cmd);
	if (sum != NULL)
		passes = (size_t)json_integer_value(json_object_get(sum,
		    "passes"));

	/* The sim's request log: the last 2000; the counter counts all. */
	j = ctl("GET", "requests", NULL);
	seq1 = (long long)json_integer_value(json_object_get(j, "last_seq"));
	reqs = json_object_get(j, "requests");
	json_array_foreach(reqs, i, r) {
		const char	*m = json_string_value(json_object_get(r,
		    "method"));
		const char	*p = json_string_value(json_object_get(r,
		    "path"));
		long long	 seq = (long long)json_integer_value(
		    json_object_get(r, "seq"));
		long long	 st = (long long)json_integer_value(
		    json_object_get(r, "status"));

		if (seq <= seq0 || p == NULL || m == NULL ||
		    strstr(p, "/runpod") == NULL)
			continue;
		if (st == 429)
			r429++;
		if (strcmp(m, "POST") == 0 && str_has_suffix(p, "/v2/pods"))
			creates++;
		else if (strcmp(m, "GET") == 0 && str_has_suffix(p,
		    "/v2/pods"))
			lists++;
		else if (strcmp(m, "GET") == 0 && strstr(p, "/v2/pods/"))
			gets++;
		else if (strstr(p, "/catalog") != NULL)
			offers++;
		else
			other++;
	}
	json_decref(j);
	j = ctl("GET", "state", NULL);
	{
		size_t	 running = 0;
		json_t	*in;

		json_array_foreach(json_object_get(j, "instances"), i, in) {
			const char *ph = json_string_value(json_object_get(in,
			    "phase"));

			if (ph != NULL && strcmp(ph, "running") == 0)
				running++;
		}
		printf("converge: %d RunPod pods, %s, time scale %d (figures "
		    "in unscaled seconds)\n", count, limits ?
		    "documented limits (60 requests/min quota, 1 request/s "
		    "client pacing)" : "no rate limits, no pacing", scale);
		printf("  apply exit %d, %zu passes, %zu pods running at "
		    "the end\n", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, passes,
		    running);
	}
	json_decref(j);
	printf("  wall time      %8.1f s  (%.2f s real)\n", wall * scale,
	    wall);
	printf("  one boot       %8.1f s  (wall = %.1f boots)\n",
	    (double)boot_s, wall * scale / boot_s);
	printf("  calls made     %8lld    (%zu creates, %zu offer lookups, "
	    "%zu lists, %zu gets, %zu other; %zu answered 429)\n",
	    seq1 - seq0, creates, offers, lists, gets, other, r429);
	printf("  calls needed   %8d    (1 offer lookup, %d creates, 2 "
	    "lists: the empty account, then every pod running)\n",
	    count + 3, count);
	if (limits)
		printf("  quota floor    %8.1f s  (%d calls at 60 a minute, "
		    "then one boot: %.1f s)\n", (double)(count + 3),
		    count + 3, (double)(count + 2 + boot_s));
	json_decref(sum);
	kill_sim();
	{
		char *rm = xasprintf("rm -rf '%s'", dir);

		if (system(rm) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
		free(rm);
	}
	free(cfg);
	free(fleet);
	return 0;
}
