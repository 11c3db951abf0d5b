/*
 * bench/plan-1000: the cost of planning and of a no-op apply for a big
 * fleet.  Writes 10 fleet files of 10 groups x 10 instances (1,000
 * instances) for the fake provider (sharing its cloud through a state
 * file), converges them once, then times the real CLI:
 *
 *   plan        with 1,000 instances tracked and running
 *   apply       a no-op apply on the converged fleet
 *
 * Each is run RUNS times as a child process; we print the median and the
 * worst wall time and the peak RSS (wait4's ru_maxrss).  Not part of
 * `make check`: figures, not assertions.
 *
 *   make bench && build/bench/plan-1000 [build/gpureconcile]
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/util.h"

#define FILES	10
#define GROUPS	10
#define COUNT	10
#define RUNS	5

struct sample {
	double	 secs;
	long	 maxrss_kb;
	int	 status;
};

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sample
run(char *const argv[])
{
	struct sample	 s = { 0, 0, -1 };
	struct rusage	 ru;
	double		 t0 = now_s();
	pid_t		 pid;
	int		 st, fd;

	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) == -1)
		fatal("wait4");
	s.secs = now_s() - t0;
	s.maxrss_kb = ru.ru_maxrss;
	s.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return s;
}

static int
cmp_d(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
measure(const char *name, char *const argv[], int want)
{
	double	 t[RUNS];
	long	 rss = 0;
	int	 i;

	for (i = 0; i < RUNS; i++) {
		struct sample s = run(argv);

		if (s.status != want) {
			fprintf(stderr, "%s: exit %d, wanted %d\n", name,
			    s.status, want);
			exit(1);
		}
		t[i] = s.secs;
		if (s.maxrss_kb > rss)
			rss = s.maxrss_kb;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_d);
	printf("%-22s median %7.3f s   worst %7.3f s   peak RSS %6.1f MiB\n",
	    name, t[RUNS / 2], t[RUNS - 1], (double)rss / 1024.0);
}

int
main(int argc, char **argv)
{
	const char	*bin = argc > 1 ? argv[1] : "build/gpureconcile";
	char		 dir[] = "/tmp/gr-bench.XXXXXX";
	char		*fleets, *state, *cfg, *path;
	struct buf	 b = BUF_INIT;
	struct sample	 s;
	int		 f, g;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	fleets = xasprintf("%s/fleet", dir);
	state = xasprintf("%s/state", dir);
	cfg = xasprintf("%s/config.yaml", dir);
	if (mkdir_p(fleets, 0755) == -1)
		fatal("mkdir");
	for (f = 0; f < FILES; f++) {
		buf_reset(&b);
		buf_addf(&b, "fleet: bench%02d\nbudget: {max_per_hour: "
		    "1000.00}\ngroups:\n", f);
		for (g = 0; g < GROUPS; g++)
			buf_addf(&b, "  - name: g%02d\n    count: %d\n"
			    "    provider: fake\n    gpu: RTX_4090\n"
			    "    max_price_per_hour: 0.70\n"
			    "    image: pytorch/pytorch:2.4.0\n"
			    "    env: {RUN: \"%d\"}\n", g, COUNT, g);
		path = xasprintf("%s/fleet%02d.yaml", fleets, f);
		if (file_write_atomic(path, b.s, b.len, 0644) == -1)
			fatal("write %s", path);
		free(path);
	}
	buf_reset(&b);
	buf_addf(&b, "providers:\n  fake:\n    state_file: %s/fake.json\n"
	    "    capacity: \"RTX_4090:5000\"\n", dir);
	if (file_write_atomic(cfg, b.s, b.len, 0644) == -1)
		fatal("write %s", cfg);
	buf_release(&b);

	{
		char *plan_av[] = { (char *)bin, "--config", cfg, "--state-dir",
		    state, "plan", "-f", fleets, NULL };
		char *apply_av[] = { (char *)bin, "--config", cfg,
		    "--state-dir", state, "apply", "--yes", "-f", fleets,
		    NULL };

		printf("gpureconcile %s: %d files, %d instances, fake "
		    "provider, %d runs each\n", GR_VERSION, FILES,
		    FILES * GROUPS * COUNT, RUNS);
		measure("plan (empty ledger)", plan_av, 0);
		s = run(apply_av);
		if (s.status != 0) {
			fprintf(stderr, "first apply: exit %d\n", s.status);
			return 1;
		}
		printf("%-22s %14.3f s   peak RSS %6.1f MiB\n",
		    "apply (1000 spawns)", s.secs,
		    (double)s.maxrss_kb / 1024.0);
		measure("plan (1000 tracked)", plan_av, 0);
		measure("no-op apply", apply_av, 0);
	}
	rmtree(dir);
	free(fleets);
	free(state);
	free(cfg);
	return 0;
}
