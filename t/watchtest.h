/*
 * watchtest.h: what the watch daemon's tests against gpureconcile-sim
 * share (t/5602, t/5604): the daemon started in the background with its
 * log in a file and killed with the simulators (at exit and on signals),
 * waits on that log, the ledger's RUNNING rows, and the sim's own count
 * of what bills.  The including test sets sp, state and wlog.
 */
#ifndef GR_T_WATCHTEST_H
#define GR_T_WATCHTEST_H

#include <sys/stat.h>

#include <time.h>

#include "../state/state.h"
#include "6000-sim.h"

static struct simproc	 sp;		/* the sim */
static char		*state;		/* the daemon's state dir */
static char		*wlog;		/* its stdout and stderr */

static inline int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The daemon is killed with the simulators (at exit and on signals). */
static inline void
track(pid_t pid, bool on)
{
	int	 i;

	for (i = 0; i < SIM_MAX; i++) {
		if (on && sim_pids[i] == 0) {
			sim_pids[i] = pid;
			return;
		}
		if (!on && sim_pids[i] == pid)
			sim_pids[i] = 0;
	}
}

/* Run cmd (sh -c; it should exec) in the background, output to wlog. */
static inline pid_t
daemon_spawn(const char *cmd)
{
	char *const	 argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	pid_t		 pid = bg_exec(wlog, argv);

	track(pid, true);
	return pid;
}

/* `gpureconcile watch -f root ARGS` on config and state, in the background. */
static inline pid_t
watch_start(const char *config, const char *root, const char *args)
{
	char	*cmd;
	pid_t	 pid;

	cmd = xasprintf("exec '%s' --config '%s' --state-dir '%s' watch -f "
	    "'%s' %s", test_bin(), config, state, root, args);
	pid = daemon_spawn(cmd);
	free(cmd);
	return pid;
}

static inline char *
log_text(void)
{
	char	*t = NULL;

	if (file_read(wlog, 64 << 20, &t, NULL) == -1)
		return xstrdup("");
	return t;
}

static inline size_t
log_len(void)
{
	struct stat	 st;

	return stat(wlog, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Does the log, from byte from on, contain needle? */
static inline bool
log_has(size_t from, const char *needle)
{
	char	*t = log_text();
	bool	 found = strlen(t) > from && strstr(t + from, needle) != NULL;

	free(t);
	return found;
}

/* Wait up to ms until log_has(from, needle). */
static inline bool
wait_log(size_t from, const char *needle, int ms)
{
	int64_t	 t0 = now_ms();

	for (;;) {
		if (log_has(from, needle))
			return true;
		if (now_ms() - t0 > ms)
			return false;
		usleep(20000);
	}
}

/*
 * RUNNING rows of fleet (NULL: any fleet) in the ledger; their provider
 * ids, comma-separated, into ids when given.  -1: no ledger to read.
 */
static inline int
running_in(const char *fl, char *ids, size_t len)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	int			 k = 0;

	if (ids != NULL)
		ids[0] = '\0';
	if (ledger_open(state, false, &l, &e) == -1)
		return -1;
	if (ledger_list(l, false, &rows, &n, &e) == -1) {
		ledger_close(l);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (rows[i].state != INST_RUNNING || (fl != NULL &&
		    (rows[i].fleet == NULL || strcmp(rows[i].fleet, fl) != 0)))
			continue;
		k++;
		if (ids != NULL && rows[i].provider_id != NULL) {
			strncat(ids, rows[i].provider_id,
			    len - strlen(ids) - 1);
			strncat(ids, ",", len - strlen(ids) - 1);
		}
	}
	ledger_insts_free(rows, n);
	ledger_close(l);
	return k;
}

/* Every row settled at want RUNNING (nothing pending or stopping). */
static inline bool
wait_running(int want, int ms)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	int64_t			 t0 = now_ms();
	size_t			 n, i;
	int			 run, other;

	for (;;) {
		run = other = 0;
		n = 0;
		if (ledger_open(state, false, &l, &e) == 0) {
			if (ledger_list(l, false, &rows, &n, &e) == 0) {
				for (i = 0; i < n; i++) {
					if (rows[i].state == INST_RUNNING)
						run++;
					else
						other++;
				}
				ledger_insts_free(rows, n);
			}
			ledger_close(l);
		}
		if (run == want && other == 0)
			return true;
		if (now_ms() - t0 > ms) {
			diag("waited %d ms: %d running, %d other", ms, run,
			    other);
			return false;
		}
		usleep(50000);
	}
}

/* Instances still billing at the sim (its ground truth). */
static inline int
sim_live(void)
{
	json_t	*bill = ctl(&sp, "GET", "billing", NULL), *bi;
	size_t	 i;
	int	 k = 0;

	json_array_foreach(json_object_get(bill, "instances"), i, bi)
		if (json_is_null(json_object_get(bi, "end_ms")))
			k++;
	json_decref(bill);
	return k;
}

#endif /* GR_T_WATCHTEST_H */
