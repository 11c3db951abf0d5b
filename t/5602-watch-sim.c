/*
 * 5602: `gpureconcile watch` as a daemon against gpureconcile-sim (Vast
 * API, time scale 100).  Started in the background, it must: converge the
 * first spec; hold the lock so that apply names it (plan and status still
 * work); follow an edit in place, an atomic rename and a git checkout of
 * another commit, telling the audit trail which commit it read, and a
 * fleet file in a new subdirectory (then watched too); refuse an
 * invalid edit with file:line:col and change nothing; replace an instance
 * destroyed behind its back within one resync, and end an orphan; reload
 * on SIGHUP; idle near 0% CPU; on SIGTERM finish the call in flight and
 * exit 0; on a second SIGTERM, or past the stop timeout, exit 75 at once,
 * leaving a ledger that passes its integrity check.  The daemon and the
 * simulator are killed when the test ends, however it ends.
 */
#include "watchtest.h"

static char		*dir, *cfg, *cfg2, *fleet, *fleetfile;
static pid_t		 dpid;

static pid_t
daemon_start_cfg(const char *config, const char *extra)
{
	char	*args = xasprintf("--resync 2s --debounce 50ms %s", extra);
	pid_t	 pid = watch_start(config, fleet, args);

	free(args);
	return pid;
}

static pid_t
daemon_start(const char *extra)
{
	return daemon_start_cfg(cfg, extra);
}

/* Wait for the daemon's exit for up to ms: its status, or -1. */
static int
daemon_wait(pid_t pid, int ms, int64_t *took)
{
	int64_t	 t0 = now_ms();
	int	 st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			track(pid, false);
			*took = now_ms() - t0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
			    WTERMSIG(st);
		}
		if (now_ms() - t0 > ms)
			return -1;
		usleep(10000);
	}
}

static bool
daemon_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

static void
write_fleet(const char *path, int count, const char *extra)
{
	char	*body = xasprintf(
	    "fleet: train\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: %d\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n%s", count, extra);

	if (file_write_atomic(path, body, strlen(body), 0644) == -1)
		bail_out("write %s: %s", path, strerror(errno));
	free(body);
}

/* Write in place, as an editor without save-by-rename does. */
static void
write_in_place(const char *path, int count)
{
	char	*body = xasprintf(
	    "fleet: train\n"
	    "groups:\n"
	    "  - name: trainer\n"
	    "    count: %d\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n", count);
	FILE	*fp = fopen(path, "w");

	if (fp == NULL || fputs(body, fp) == EOF || fclose(fp) == EOF)
		bail_out("write %s: %s", path, strerror(errno));
	free(body);
}

static long long
cpu_ticks(pid_t pid)
{
	char		*p, *t = NULL, path[64];
	unsigned long long ut = 0, st = 0;
	int		 i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (file_read(path, 4096, &t, NULL) == -1)
		return -1;
	p = strrchr(t, ')');	/* the name may hold spaces */
	for (i = 0; p != NULL && i < 12; i++)
		p = strchr(p + 1, ' ');	/* to field 14, utime */
	if (p == NULL || sscanf(p + 1, "%llu %llu", &ut, &st) != 2) {
		free(t);
		return -1;
	}
	free(t);
	return (long long)(ut + st);
}

static int
gr(char **out, char **err, const char *args)
{
	return test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s "
	    "</dev/null", test_bin(), cfg, state, args);
}

static int
git(const char *args)
{
	return test_run(NULL, NULL, "cd '%s' && git -c user.name=t -c "
	    "user.email=t@example.invalid -c commit.gpgsign=false %s", fleet,
	    args);
}

int
main(void)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	char		*out = NULL, *err = NULL, *tmp, *a, *t;
	char		 ids[256], ids2[256], *id, *p;
	size_t		 mark;
	long long	 c0, c1;
	int64_t		 took;
	int		 rc;

	plan_lazy();
	if (access(sim_bin(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s", sim_bin());
	if (test_run(NULL, NULL, "git --version >/dev/null 2>&1") != 0)
		skip_all("git is not installed");
	dir = xstrdup(test_tmpdir());	/* removed last, after the kills */
	sim_start(&sp, NULL, "--time-scale 100 --seed 11 -q");
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	fleetfile = xasprintf("%s/train.yaml", fleet);
	wlog = xasprintf("%s/watch.log", dir);
	t = test_write(dir, "vast.key", "sim-vast-key\n");
	chmod(t, 0600);
	free(t);
	t = xasprintf(
	    "poll_interval: 1s\n"
	    "watch: {stop_timeout: 10s}\n"
	    "providers:\n"
	    "  vastai: {base_url: \"http://127.0.0.1:%d/vast\", api_key_file: "
	    "%s/vast.key, time_scale: 100, heartbeat: 1s, timeouts: {spinup: "
	    "60s, teardown: 30s, grace: 5s}}\n", sp.port, dir);
	free(test_write(dir, "config.yaml", t));
	free(t);
	cfg = xasprintf("%s/config.yaml", dir);
	t = xasprintf(
	    "poll_interval: 1s\n"
	    "watch: {stop_timeout: 1s}\n"
	    "providers:\n"
	    "  vastai: {base_url: \"http://127.0.0.1:%d/vast\", api_key_file: "
	    "%s/vast.key, time_scale: 100, heartbeat: 1s, timeouts: {spinup: "
	    "60s, teardown: 30s, grace: 5s}}\n", sp.port, dir);
	free(test_write(dir, "config2.yaml", t));
	free(t);
	cfg2 = xasprintf("%s/config2.yaml", dir);
	if (mkdir_p(fleet, 0755) == -1)
		bail_out("mkdir %s", fleet);
	write_fleet(fleetfile, 1, "");
	/* commits A (count 1) and B (count 1, a comment more, tagged b);
	 * the daemon starts on A */
	if (git("init -q . && git add train.yaml && git -c user.name=t -c "
	    "user.email=t@example.invalid commit -qm one") != 0 ||
	    test_run(NULL, NULL, "echo '# b' >>'%s'", fleetfile) != 0 ||
	    git("commit -qam oneb") != 0 || git("tag b") != 0 ||
	    git("checkout -q HEAD~1") != 0)
		bail_out("git init/commit failed");

	/* 1. start: the first spec converges */
	dpid = daemon_start("-v");
	ok(wait_running(1, 20000), "watch converges the first spec (1 "
	    "running)");
	ok(wait_log(0, "train: converged", 5000), "it logs the fleet "
	    "address when converged");

	/* 2. the lock: apply names the daemon; plan and status read */
	a = xasprintf("apply --yes -f '%s'", fleet);
	rc = gr(&out, &err, a);
	free(a);
	is_int(rc, 75, "apply beside the daemon exits 75 (locked)");
	like(err, "held by the watch daemon", "apply says the watch daemon "
	    "holds the lock");
	t = xasprintf("pid %ld", (long)dpid);
	like(err, t, "and names its pid");
	free(t);
	free(out);
	free(err);
	rc = gr(&out, &err, "status");
	is_int(rc, 0, "status works beside the daemon");
	like(out, "train/trainer/0", "status shows the instance");
	free(out);
	free(err);
	a = xasprintf("plan -f '%s'", fleet);
	rc = gr(&out, &err, a);
	is_int(rc, 0, "plan works beside the daemon");
	like(out, "no changes", "and finds nothing to change");
	free(a);
	free(out);
	free(err);
	a = xasprintf("drift -f '%s'", fleet);
	rc = gr(&out, &err, a);
	is_int(rc, 0, "drift works beside the daemon, and finds none");
	free(a);
	free(out);
	free(err);
	a = xasprintf("check -f '%s'", fleet);
	rc = gr(&out, &err, a);
	is_int(rc, 0, "check works beside the daemon");
	like(out, "integrity ok", "and checks the ledger it holds");
	free(a);
	free(out);
	free(err);

	/* 3. an edit in place that raises count */
	write_in_place(fleetfile, 2);
	ok(wait_running(2, 15000), "an edit in place raising count to 2 "
	    "converges");

	/* 4. an editor's save by rename */
	tmp = xasprintf("%s/.train.yaml.swp", fleet);
	write_in_place(tmp, 3);
	if (rename(tmp, fleetfile) == -1)
		bail_out("rename: %s", strerror(errno));
	free(tmp);
	ok(wait_running(3, 15000), "an atomic rename raising count to 3 "
	    "converges");

	/* 5. git checkout of another commit (count 1) */
	if (git("commit -qam three") != 0)
		bail_out("git commit failed");
	mark = log_len();
	is_int(git("checkout -q b"), 0, "git checkout of another commit "
	    "(count 1)");
	ok(wait_running(1, 15000), "the checkout is seen: back to 1 running");
	ok(wait_log(mark, "train/trainer/2: terminat", 5000), "the "
	    "scale-down logs the instance address");
	is_int(sim_live(), 1, "the sim bills exactly 1 instance");
	{
		struct ledger_event	*ev = NULL;
		size_t			 nev = 0, i, hits = 0;
		char			*sha = NULL;

		if (test_run(&sha, NULL, "cd '%s' && git rev-parse HEAD",
		    fleet) != 0 || sha == NULL || strlen(sha) < 12)
			bail_out("git rev-parse failed");
		if (ledger_open(state, false, &l, &e) == -1 ||
		    ledger_events(l, 0, &ev, &nev, &e) == -1)
			bail_out("ledger events: %s", e.msg);
		for (i = 0; i < nev; i++)
			if (strcmp(ev[i].kind, "terminate-intent") == 0 &&
			    ev[i].git_commit != NULL &&
			    strncmp(ev[i].git_commit, sha, 12) == 0)
				hits++;
		is_int((long long)hits, 2, "the 2 terminations record the "
		    "commit checked out (%.12s), not the one the daemon "
		    "started on: the reload told the audit trail", sha);
		ledger_events_free(ev, nev);
		ledger_close(l);
		l = NULL;
		free(sha);
	}

	/* 6. an invalid edit changes nothing and says where */
	mark = log_len();
	t = xasprintf("%s/broken.yaml", fleet);
	free(test_write(fleet, "broken.yaml",
	    "fleet: other\n"
	    "groups:\n"
	    "  - name: g\n"
	    "    count: lots\n"
	    "    provider: vastai\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"));
	write_in_place(fleetfile, 0);	/* valid alone, but not applied */
	a = xasprintf("%s:4:12:", t);
	ok(wait_log(mark, a, 5000), "the invalid edit is logged as "
	    "file:line:col (%s)", a);
	free(a);
	ok(wait_log(mark, "stays in force", 2000), "and says the desired "
	    "state stays in force");
	usleep(2600 * 1000);	/* a whole resync */
	is_int(running_in(NULL, NULL, 0), 1, "nothing was terminated: 1 running");
	is_int(sim_live(), 1, "the sim still bills 1");
	unlink(t);
	free(t);
	write_in_place(fleetfile, 1);
	usleep(300 * 1000);

	/* 7. destroyed behind our back: replaced within one resync */
	running_in(NULL, ids, sizeof(ids));
	id = xstrndup(ids, strcspn(ids, ","));
	t = xasprintf("instances/vastai/%s", id);
	json_decref(ctl(&sp, "DELETE", t, NULL));
	free(t);
	mark = log_len();
	ok(wait_log(mark, "train/trainer/0: spawning", 2000 + 3000),
	    "an instance destroyed at the provider is replaced within one "
	    "resync (2s)");
	ok(wait_running(1, 10000), "back to 1 running");
	running_in(NULL, ids2, sizeof(ids2));
	ok(strstr(ids2, id) == NULL && ids2[0] != '\0', "with a new "
	    "instance (%s, was %s)", ids2, id);
	free(id);

	/* 7b. an orphan (our label, no ledger row) is ended by a resync */
	if (ledger_open(state, false, &l, &e) == -1)
		bail_out("ledger: %s", e.msg);
	t = owner_label(ledger_id(l), 999);
	ledger_close(l);
	l = NULL;
	a = xasprintf("{\"provider\": \"vastai\", \"gpu\": \"RTX_4090\", "
	    "\"label\": \"%s\"}", t);
	json_decref(ctl(&sp, "POST", "instances", a));
	free(a);
	free(t);
	is_int(sim_live(), 2, "an orphan with our label bills at the sim");
	mark = log_len();
	ok(wait_log(mark, "terminating orphan", 2000 + 3000), "the next "
	    "resync terminates the orphan");
	for (rc = 0; rc < 100 && sim_live() != 1; rc++)
		usleep(50000);
	is_int(sim_live(), 1, "and only the fleet's instance still bills");

	/* 8. SIGHUP reloads */
	mark = log_len();
	kill(dpid, SIGHUP);
	ok(wait_log(mark, "reload (SIGHUP)", 3000), "SIGHUP reloads the fleet "
	    "files");

	/* 8b. a new subdirectory: its files count, and it is watched */
	mark = log_len();
	free(test_write(fleet, "more/extra.yaml",
	    "fleet: extra\ngroups:\n  - name: g\n    count: 0\n"
	    "    provider: vastai\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"));
	ok(wait_log(mark, "extra: fleet added", 3000), "a fleet file in a new "
	    "subdirectory is loaded");
	mark = log_len();
	free(test_write(fleet, "more/extra.yaml",
	    "fleet: extra\ngroups:\n  - name: g\n    count: 0\n"
	    "    provider: vastai\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.71\n"));
	ok(wait_log(mark, "extra: fleet changed", 3000), "and an edit inside "
	    "that subdirectory is seen: it is watched now");

	/* 9. idle: no busy polling */
	usleep(300 * 1000);
	c0 = cpu_ticks(dpid);
	usleep(3000 * 1000);
	c1 = cpu_ticks(dpid);
	ok(c0 >= 0 && c1 >= 0 && (double)(c1 - c0) /
	    (double)sysconf(_SC_CLK_TCK) < 0.05 * 3.0, "idle CPU under 5%% "
	    "(%lld ticks in 3 s, %ld ticks/s)", c1 - c0,
	    sysconf(_SC_CLK_TCK));
	t = log_text();
	for (p = t, rc = 0; (p = strstr(p, "provider 'vastai': heartbeat:")) !=
	    NULL; p++)
		rc++;
	free(t);
	ok(rc >= 3, "the provider's heartbeat runs on its own 1 s interval "
	    "(%d so far)", rc);

	/* 10. SIGTERM during a slow call: it finishes, then exit 0 */
	json_decref(ctl(&sp, "POST", "faults", "{\"kind\": \"latency\", "
	    "\"provider\": \"vastai\", \"endpoint\": \"list\", \"ms\": 1500}"));
	usleep(2500 * 1000);	/* a resync pass is now in a slow list */
	kill(dpid, SIGTERM);
	usleep(400 * 1000);
	ok(daemon_alive(dpid), "after SIGTERM the daemon finishes the call "
	    "in flight first");
	rc = daemon_wait(dpid, 10000, &took);
	is_int(rc, 0, "then exits 0 (after %lld ms)", (long long)took);
	ok(wait_log(0, "watch: stopping", 100), "and says it stopped");

	/* 11. a second SIGTERM exits at once; the ledger is sound */
	mark = log_len();
	json_decref(ctl(&sp, "DELETE", "faults", NULL));
	dpid = daemon_start("");
	ok(wait_log(mark, "train: converged", 15000), "restarted, it "
	    "converges");
	json_decref(ctl(&sp, "POST", "faults", "{\"kind\": \"latency\", "
	    "\"provider\": \"vastai\", \"endpoint\": \"list\", \"ms\": 5000}"));
	usleep(2500 * 1000);
	kill(dpid, SIGTERM);
	usleep(200 * 1000);
	kill(dpid, SIGTERM);
	rc = daemon_wait(dpid, 2000, &took);
	is_int(rc, 75, "a second SIGTERM exits 75 at once (%lld ms), not "
	    "waiting for the 5 s call", (long long)took);
	json_decref(ctl(&sp, "DELETE", "faults", NULL));

	/* 12. calls in flight past the stop timeout: exit at once */
	mark = log_len();
	dpid = daemon_start_cfg(cfg2, "");
	ok(wait_log(mark, "train: converged", 15000), "restarted with "
	    "stop_timeout: 1s, it converges");
	json_decref(ctl(&sp, "POST", "faults", "{\"kind\": \"latency\", "
	    "\"provider\": \"vastai\", \"endpoint\": \"list\", \"ms\": 6000}"));
	usleep(2500 * 1000);
	kill(dpid, SIGTERM);
	rc = daemon_wait(dpid, 4000, &took);
	is_int(rc, 75, "one SIGTERM with a call stuck past the stop timeout "
	    "exits 75");
	ok(took >= 700 && took < 3000, "after about the stop timeout "
	    "(%lld ms)", (long long)took);
	ok(wait_log(mark, "at the stop timeout", 100), "and says why");
	json_decref(ctl(&sp, "DELETE", "faults", NULL));

	rc = ledger_open(state, false, &l, &e);
	if (rc == 0)
		rc = ledger_check(l, &e);
	is_int(rc, 0, "the ledger passes its integrity check (%s)",
	    rc == 0 ? "ok" : e.msg);
	ledger_close(l);
	rc = gr(&out, &err, "status");
	is_int(rc, 0, "status reads it");
	free(out);
	free(err);
	a = xasprintf("apply --yes -f '%s'", fleet);
	rc = gr(&out, &err, a);
	is_int(rc, 0, "and apply takes the lock again and finds it "
	    "converged");
	free(a);
	free(out);
	free(err);

	if (getenv("GR_TEST_VERBOSE") != NULL) {
		t = log_text();
		diag("%s", t);
		free(t);
	}
	sim_stop(&sp);
	sim_free(&sp);
	return done_testing();
}
