/*
 * 6010: kill -9.  The real gpureconcile binary applies a RunPod fleet
 * against gpureconcile-sim (time-scaled, every API request slowed so that
 * a kill lands mid-call) and is SIGKILLed at a random moment, 60 times,
 * across spawns (count up), replacements (an image change) and
 * terminations (count down, --destroy), and restarted each time; every
 * sixth run is left to finish.  Then apply runs until it converges, and
 * the simulator's billing record (its ground truth) must show:
 * - no instance billed without a ledger row: every instance the sim ever
 *   created with our label has the row of that label, and that row
 *   learned its id (nothing was lost track of);
 * - no duplicate: no two instances of one slot ever billed at once, and
 *   exactly the desired count bills at the end;
 * - no orphan: nothing of ours still bills that no live row tracks.
 * About 25 s.
 */
#include <sys/stat.h>
#include <limits.h>
#include <time.h>

#include "../state/state.h"
#include "6000-sim.h"

#define NKILLS		60
#define LATENCY_MS	25	/* real ms per API request */

static struct simproc	 sp;
static char		*dir, *cfg, *fleet, *state, *logpath;

static void
write_fleet(int count, int image)
{
	char	*y = xasprintf(
	    "fleet: k9\n"
	    "groups:\n"
	    "  - name: worker\n"
	    "    count: %d\n"
	    "    provider: runpod\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.80\n"
	    "    image: img:%d\n", count, image);

	free(test_write(fleet, "k9.yaml", y));
	free(y);
}

/* Start an apply; the caller kills or waits. */
static pid_t
apply_start(bool destroy)
{
	char *const	 argv[] = { (char *)test_bin(), "--config", cfg,
	    "--state-dir", state, "apply", "--yes", "-f", fleet,
	    destroy ? "--destroy" : NULL, NULL };

	return bg_exec(logpath, argv);
}

static int
apply_wait(pid_t pid)
{
	int	 st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			bail_out("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Apply (not killed) up to n times until one converges. */
static int
apply_until(int n, bool destroy, int *runs)
{
	int	 rc = -1;

	for (*runs = 0; *runs < n && rc != 0; (*runs)++)
		rc = apply_wait(apply_start(destroy));
	return rc;
}

struct billed {
	int64_t		 slot;		/* -1: no row */
	long long	 start, end;	/* end -1: still billing */
	const char	*id;
};

int
main(void)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL;
	struct billed		*bv;
	struct gr_err		 e;
	json_t			*bill, *bi;
	char			*body;
	size_t			 nrows = 0, i, j, nb = 0;
	size_t			 norow = 0, unknown = 0, live = 0, orphan = 0;
	size_t			 overlap = 0, kills = 0, spawnk = 0, replk = 0;
	size_t			 termk = 0;
	int			 count = 2, image = 1, runs, rc, k;
	uint64_t		 rnd = 0x6010;

	plan_lazy();
	if (access(sim_bin(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s", sim_bin());
	/* RunPod bills from creation, and its create and terminate are
	 * one request each: the tightest windows */
	sim_start(&sp, "{\"providers\": {" SIM_NO_RL "}}",
	    "--time-scale 100 --seed 11");
	body = xasprintf("{\"kind\": \"latency\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"*\", \"ms\": %d}", LATENCY_MS);
	json_decref(ctl(&sp, "POST", "faults", body));
	free(body);
	dir = xstrdup(test_tmpdir());
	state = xasprintf("%s/state", dir);
	fleet = xasprintf("%s/fleet", dir);
	logpath = xasprintf("%s/apply.log", dir);
	free(test_write(dir, "runpod.key", "sim-runpod-key\n"));
	{
		char *kp = xasprintf("%s/runpod.key", dir);

		chmod(kp, 0600);
		free(kp);
	}
	body = xasprintf(
	    "poll_interval: 1s\n"
	    "providers:\n"
	    "  runpod: {base_url: \"http://127.0.0.1:%d/runpod\", "
	    "api_key_file: %s/runpod.key, min_interval_ms: 5, "
	    "timeouts: {spinup: 30s, teardown: 10s, grace: 2s}}\n",
	    sp.port, dir);
	free(test_write(dir, "config.yaml", body));
	free(body);
	cfg = xasprintf("%s/config.yaml", dir);

	write_fleet(count, image);
	for (k = 0; k < NKILLS + NKILLS / 5; k++) {
		bool	 destroy = false, killed = k % 6 != 5;
		pid_t	 pid;
		int	 what;

		/* xorshift: the same schedule every time */
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		what = (int)(rnd % 3);
		if (what == 0) {
			count = count >= 4 ? 4 : count + 1 + (int)(rnd % 2);
			if (count > 4)
				count = 4;
		} else if (what == 1) {
			image++;
		} else if (rnd % 4 == 0) {
			destroy = true;
		} else {
			count = count <= 0 ? 0 : count - 1 - (int)(rnd % 2);
			if (count < 0)
				count = 0;
		}
		write_fleet(count, image);
		pid = apply_start(destroy);
		if (killed) {
			/* 10 ms .. 0.8 s: start-up, the first pass's
			 * calls, confirmations, the wait between passes */
			sleep_ms(10 + (long)((rnd >> 20) % 790));
			(void)kill(pid, SIGKILL);
			kills++;
			if (what == 0)
				spawnk++;
			else if (what == 1)
				replk++;
			else
				termk++;
		}
		{
			long long t0 = (long long)clock_mono_ms();

			rc = apply_wait(pid);
			if (!killed)
				diag("run %d (not killed): exit %d in %lld ms", k,
				    rc, (long long)clock_mono_ms() - t0);
		}
	}
	ok(kills >= 50, "apply was killed with SIGKILL %zu times (%zu while "
	    "spawning, %zu replacing, %zu terminating)", kills, spawnk, replk,
	    termk);

	/* The end: a fleet of 3 of the latest spec, applied to rest. */
	count = 3;
	write_fleet(count, image);
	rc = apply_until(6, false, &runs);
	is_int(rc, 0, "apply converges after the kills (%d runs)", runs);

	gr_err_clear(&e);
	if (ledger_open(state, false, &l, &e) == -1 ||
	    ledger_list(l, true, &rows, &nrows, &e) == -1)
		bail_out("ledger: %s", e.msg);
	ok(ledger_check(l, &e) == 0, "the ledger passes its check%s%s",
	    e.msg[0] != '\0' ? ": " : "", e.msg);
	bill = ctl(&sp, "GET", "billing", NULL);
	bv = xcalloc(json_array_size(json_object_get(bill, "instances")) + 1,
	    sizeof(*bv));
	json_array_foreach(json_object_get(bill, "instances"), i, bi) {
		const char		*id = jstr(bi, "id");
		const char		*label = jstr(bi, "label");
		const struct ledger_inst *r = NULL;
		int64_t			 uid;
		bool			 billing = json_is_null(
		    json_object_get(bi, "end_ms"));

		if (!owner_label_parse(label, ledger_id(l), &uid))
			continue;	/* not ours */
		for (j = 0; j < nrows; j++)
			if (rows[j].uid == uid)
				r = &rows[j];
		bv[nb].id = id;
		bv[nb].start = jint(bi, "created_ms");
		bv[nb].end = billing ? -1 : jint(bi, "end_ms");
		bv[nb].slot = r != NULL ? r->slot : -1;
		nb++;
		if (r == NULL) {
			norow++;
			diag("%s (%s) billed without a ledger row", id, label);
			continue;
		}
		if (r->provider_id == NULL || strcmp(r->provider_id, id) != 0) {
			unknown++;
			diag("%s (%s): its row %lld never learned it (tracks "
			    "%s, %s)", id, label, (long long)r->uid,
			    r->provider_id != NULL ? r->provider_id : "nothing",
			    r->end_reason != NULL ? r->end_reason : "live");
		}
		if (billing) {
			live++;
			if (r->state != INST_RUNNING ||
			    r->slot >= count) {
				orphan++;
				diag("%s still bills; its row is %s, slot %d",
				    id, inst_state_name(r->state), r->slot);
			}
		}
	}
	for (i = 0; i < nb; i++)
		for (j = i + 1; j < nb; j++) {
			long long ei = bv[i].end < 0 ? LLONG_MAX : bv[i].end;
			long long ej = bv[j].end < 0 ? LLONG_MAX : bv[j].end;

			if (bv[i].slot < 0 || bv[i].slot != bv[j].slot ||
			    ei <= bv[j].start || ej <= bv[i].start)
				continue;
			overlap++;
			diag("slot %lld billed %s and %s at once",
			    (long long)bv[i].slot, bv[i].id, bv[j].id);
		}
	ok(nb > (size_t)NKILLS / 2, "the sim created %zu instances of ours",
	    nb);
	is_int((long long)norow, 0, "no instance was billed without a ledger "
	    "row");
	is_int((long long)unknown, 0, "every instance was known to its row "
	    "(none lost track of)");
	is_int((long long)overlap, 0, "no slot ever billed two instances at "
	    "once");
	is_int((long long)live, count, "exactly the %d desired instances "
	    "bill at the end", count);
	is_int((long long)orphan, 0, "no orphan still bills");

	/* And --destroy, killed once more on the way, leaves nothing. */
	(void)kill(apply_start(true), SIGKILL);
	rc = apply_until(4, true, &runs);
	is_int(rc, 0, "--destroy converges (%d runs)", runs);
	json_decref(bill);
	bill = ctl(&sp, "GET", "billing", NULL);
	live = 0;
	json_array_foreach(json_object_get(bill, "instances"), i, bi) {
		int64_t	 uid;

		if (owner_label_parse(jstr(bi, "label"), ledger_id(l), &uid) &&
		    json_is_null(json_object_get(bi, "end_ms")))
			live++;
	}
	is_int((long long)live, 0, "nothing of ours bills after --destroy");
	json_decref(bill);
	free(bv);
	ledger_insts_free(rows, nrows);
	ledger_close(l);
	sim_stop(&sp);
	sim_free(&sp);
	return done_testing();
}
