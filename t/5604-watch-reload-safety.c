/*
 * 5604: `gpureconcile watch` never ends an instance because of a state
 * its fleet files were in for a moment (against gpureconcile-sim, Vast
 * API, time scale 100):
 * - a fleet file deleted and created again a moment later (git checkout
 *   unlinks and creates), or a directory emptied for a moment, ends
 *   nothing: the shrinking reload waits for the files to settle;
 * - a count lowered for a moment (a file caught half-written) ends
 *   nothing either;
 * - a fleet file that is really removed is acted on, once the files have
 *   been quiet for the settle time (like apply -f on that directory);
 * - a resync reads the files again: an edit inotify cannot see (a fleet
 *   file that is a symlink to a file outside the watched directory) is
 *   applied within one resync;
 * - passes that take longer than the resync interval are not run back
 *   to back;
 * - a root that is a symlink swapped to a target without a fleet ends
 *   that fleet's instances (its file was under the path given).
 * The daemon and the simulator are killed when the test ends, however it
 * ends.
 */
#include "watchtest.h"

static char		*dir, *cfg, *fleet;
static pid_t		 dpid;

static pid_t
daemon_start_at(const char *root, const char *resync)
{
	char	*args = xasprintf("--resync %s --debounce 50ms", resync);
	pid_t	 pid = watch_start(cfg, root, args);

	free(args);
	return pid;
}

static pid_t
daemon_start(const char *resync)
{
	return daemon_start_at(fleet, resync);
}

static void
write_fleet(const char *path, const char *name, int count)
{
	char	*body = xasprintf(
	    "fleet: %s\n"
	    "groups:\n"
	    "  - name: g\n"
	    "    count: %d\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n", name, count);
	FILE	*fp = fopen(path, "w");

	if (fp == NULL || fputs(body, fp) == EOF || fclose(fp) == EOF)
		bail_out("write %s: %s", path, strerror(errno));
	free(body);
}

int
main(void)
{
	char		 ids[256], ids2[256];
	char		*t, *trainf, *outside, *real, *link;
	size_t		 mark;
	int64_t		 took;
	int		 st, i;

	plan_lazy();
	if (access(sim_bin(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s", sim_bin());
	dir = xstrdup(test_tmpdir());
	sim_start(&sp, NULL, "--time-scale 100 --seed 5 -q");
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	outside = xasprintf("%s/outside", dir);
	wlog = xasprintf("%s/watch.log", dir);
	trainf = xasprintf("%s/train.yaml", fleet);
	real = xasprintf("%s/side.yaml", outside);
	link = xasprintf("%s/side.yaml", fleet);
	t = test_write(dir, "vast.key", "sim-vast-key\n");
	chmod(t, 0600);
	free(t);
	t = xasprintf(
	    "poll_interval: 1s\n"
	    "watch: {stop_timeout: 5s}\n"
	    "providers:\n"
	    "  vastai: {base_url: \"http://127.0.0.1:%d/vast\", api_key_file: "
	    "%s/vast.key, time_scale: 100, timeouts: {spinup: 60s, "
	    "teardown: 30s, grace: 5s}}\n", sp.port, dir);
	free(test_write(dir, "config.yaml", t));
	free(t);
	cfg = xasprintf("%s/config.yaml", dir);
	if (mkdir_p(fleet, 0755) == -1 || mkdir_p(outside, 0755) == -1)
		bail_out("mkdir %s", fleet);
	write_fleet(trainf, "train", 2);
	write_fleet(real, "side", 0);
	if (symlink(real, link) == -1)
		bail_out("symlink: %s", strerror(errno));

	dpid = daemon_start("2s");
	ok(wait_running(2, 20000), "watch converges the first spec (2 "
	    "running)");
	ok(wait_log(0, "train: converged", 5000), "and says so");
	running_in("train", ids, sizeof(ids));

	/* 1. deleted, then created again 400 ms later (8 debounces) */
	mark = log_len();
	if (unlink(trainf) == -1)
		bail_out("unlink: %s", strerror(errno));
	usleep(400 * 1000);
	write_fleet(trainf, "train", 2);
	ok(wait_log(mark, "waiting until the files have been quiet", 2000),
	    "a fleet file gone for a moment is noticed, and held back");
	usleep(3500 * 1000);	/* past the settle time and a resync */
	ok(!log_has(mark, "terminat"), "nothing was terminated");
	running_in("train", ids2, sizeof(ids2));
	is_str(ids2, ids, "the same 2 instances run");
	is_int(sim_live(), 2, "the sim bills the same 2");

	/* 2. the whole directory emptied for a moment */
	mark = log_len();
	if (unlink(trainf) == -1 || unlink(link) == -1)
		bail_out("unlink: %s", strerror(errno));
	usleep(400 * 1000);
	write_fleet(trainf, "train", 2);
	if (symlink(real, link) == -1)
		bail_out("symlink: %s", strerror(errno));
	usleep(3500 * 1000);
	ok(!log_has(mark, "terminat"), "an empty directory for a moment "
	    "terminates nothing");
	running_in("train", ids2, sizeof(ids2));
	is_str(ids2, ids, "the same 2 instances run");

	/* 3. a count lowered for a moment (a half-written file) */
	mark = log_len();
	write_fleet(trainf, "train", 0);
	usleep(400 * 1000);
	write_fleet(trainf, "train", 2);
	usleep(3500 * 1000);
	ok(!log_has(mark, "terminat"), "a count lowered for a moment "
	    "terminates nothing");
	running_in("train", ids2, sizeof(ids2));
	is_str(ids2, ids, "the same 2 instances run");

	/* 4. a fleet file that is a symlink to a file outside the watched
	 * directory: an edit of its target is read by the next resync */
	mark = log_len();
	write_fleet(real, "side", 1);
	ok(wait_log(mark, "side: fleet changed", 2000 + 2500), "an edit "
	    "inotify cannot see (a symlinked file's target) is read by the "
	    "next resync");
	ok(wait_running(3, 15000), "and converges (3 running)");

	/* 5. a real removal is acted on once the files are quiet */
	mark = log_len();
	took = now_ms();
	if (unlink(trainf) == -1)
		bail_out("unlink: %s", strerror(errno));
	ok(wait_log(mark, "train: fleet removed", 6000), "a fleet file "
	    "really removed is acted on");
	took = now_ms() - took;
	ok(took >= 1500, "after the files were quiet for the settle time "
	    "(%lld ms)", (long long)took);
	ok(wait_running(1, 15000), "its 2 instances are terminated (1 "
	    "running, of fleet side)");
	is_int(running_in("side", NULL, 0), 1, "the one left is side's");

	kill(dpid, SIGTERM);
	for (i = 0; i < 500 && waitpid(dpid, &st, WNOHANG) == 0; i++)
		usleep(20000);
	track(dpid, false);

	/* 6. passes slower than the resync interval are not run back to
	 * back: the next resync counts from the end of the last pass */
	mark = log_len();
	dpid = daemon_start("1s");
	ok(wait_log(mark, "side: converged", 15000), "restarted with "
	    "--resync 1s, it converges");
	json_decref(ctl(&sp, "POST", "faults", "{\"kind\": \"latency\", "
	    "\"provider\": \"vastai\", \"endpoint\": \"list\", \"ms\": "
	    "1000}"));
	usleep(1500 * 1000);
	json_decref(ctl(&sp, "DELETE", "requests", NULL));
	usleep(8000 * 1000);
	{
		json_t	*rq = ctl(&sp, "GET", "requests", NULL), *r, *arr;
		size_t	 k;
		int	 slow = 0;

		arr = json_is_array(rq) ? rq : json_object_get(rq, "requests");
		json_array_foreach(arr, k, r)
			if (json_is_string(json_object_get(r, "fault")))
				slow++;
		json_decref(rq);
		ok(slow >= 2 && slow <= 5, "with lists taking 1 s and "
		    "--resync 1s, 8 s see %d lists (back to back: 8)", slow);
	}
	json_decref(ctl(&sp, "DELETE", "faults", NULL));
	kill(dpid, SIGTERM);
	for (i = 0; i < 500 && waitpid(dpid, &st, WNOHANG) == 0; i++)
		usleep(20000);
	track(dpid, false);

	/* 7. a root that is a symlink swapped to a release without fleet
	 * swb: swb's instance is ended (its old file was under the path
	 * given), not left alone as a fleet from elsewhere */
	{
		char	*rel1 = xasprintf("%s/rel1", dir);
		char	*rel2 = xasprintf("%s/rel2", dir);
		char	*cur = xasprintf("%s/current", dir);
		char	*curnew = xasprintf("%s/current.new", dir);

		if (mkdir_p(rel1, 0755) == -1 || mkdir_p(rel2, 0755) == -1)
			bail_out("mkdir %s", rel1);
		t = xasprintf("%s/a.yaml", rel1);
		write_fleet(t, "swa", 1);
		free(t);
		t = xasprintf("%s/b.yaml", rel1);
		write_fleet(t, "swb", 1);
		free(t);
		t = xasprintf("%s/a.yaml", rel2);
		write_fleet(t, "swa", 1);
		free(t);
		if (symlink("rel1", cur) == -1)
			bail_out("symlink: %s", strerror(errno));
		mark = log_len();
		dpid = daemon_start_at(cur, "2s");
		ok(wait_log(mark, "swb: converged", 15000), "a daemon on a "
		    "symlinked root converges fleets swa and swb");
		mark = log_len();
		if (symlink("rel2", curnew) == -1 || rename(curnew, cur) == -1)
			bail_out("swap: %s", strerror(errno));
		ok(wait_log(mark, "swb/g/0: terminat", 8000), "the root "
		    "swapped to a release without swb ends swb's instance");
		ok(!log_has(mark, "fleet 'swb' comes from"), "rather than "
		    "leaving it alone as a fleet from outside the paths");
		for (i = 0; i < 200 && running_in("swb", NULL, 0) != 0; i++)
			usleep(50000);
		is_int(running_in("swb", NULL, 0), 0, "swb runs nothing");
		is_int(running_in("swa", NULL, 0), 1, "swa still runs 1");
		kill(dpid, SIGTERM);
		for (i = 0; i < 500 && waitpid(dpid, &st, WNOHANG) == 0; i++)
			usleep(20000);
		track(dpid, false);
		free(rel1);
		free(rel2);
		free(cur);
		free(curnew);
	}

	if (getenv("GR_TEST_VERBOSE") != NULL) {
		t = log_text();
		diag("%s", t);
		free(t);
	}
	free(trainf);
	free(outside);
	free(real);
	free(link);
	sim_stop(&sp);
	sim_free(&sp);
	return done_testing();
}
