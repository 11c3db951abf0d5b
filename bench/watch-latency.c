/*
 * bench/watch-latency: how long `gpureconcile watch` takes from a fleet
 * file's rename(2) into its watched directory to its first provider
 * call, and what the daemon holds in memory while idle.
 *
 * The daemon runs against gpureconcile-sim (Vast API) through a small TCP
 * relay in this process: the relay notes, on the monotonic clock, when
 * the first bytes of a request after the rename reach it.  That is the
 * moment the provider call went out (the reload, the pass's observe, the
 * list request), measured on one clock in one process, with no parsing
 * in between.  Each edit is an editor's save: write a dot-file beside
 * the fleet file, then rename it over the fleet file, alternating the
 * group's max price so that every edit changes the desired state (a
 * pass follows; nothing is spawned or terminated).  Resync and
 * heartbeats are set to an hour so that nothing else calls out.
 *
 * Two series: the default debounce (100 ms, the quiet time a burst such
 * as a git checkout needs) and --debounce 0ms (the loop itself).  Printed:
 * median, p95, min and max per series, and VmRSS from /proc after idling.
 * Not part of `make check`: figures, not assertions.
 *
 *   make bench && build/bench/watch-latency [EDITS] [build/gpureconcile]
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/util.h"

#define MAX_CONNS	64

static int		 sim_port;
static int64_t		 armed_at;	/* 0: not armed */
static int64_t		 first_req;	/* first request after armed_at */
static int64_t		 last_byte;	/* any traffic, for quiet checks */
static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static pid_t		 kids[2];	/* sim, daemon: killed at exit */

static void
kill_kids(void)
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
}

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
listen_any(int *port)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);
	int			 fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		fatal("bind/listen");
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
connect_sim(void)
{
	struct sockaddr_in	 sa;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)sim_port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The relay: client (the daemon) <-> sim, one pair per connection. */
static void *
relay(void *arg)
{
	struct pollfd	 pfd[1 + 2 * MAX_CONNS];
	int		 lfd = *(int *)arg, peer[1 + 2 * MAX_CONNS];
	char		 buf[65536];
	nfds_t		 n = 1, i;
	ssize_t		 r;

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		for (i = 1; i < n; i++) {
			if (pfd[i].fd == -1 || !(pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r > 0 && i % 2 == 1) {
				/* client to sim: a request going out */
				int64_t	 t = mono_us();

				pthread_mutex_lock(&mtx);
				if (armed_at != 0 && first_req == 0)
					first_req = t;
				last_byte = t;
				pthread_mutex_unlock(&mtx);
			}
			if (r <= 0 || !write_all(pfd[peer[i]].fd, buf,
			    (size_t)r)) {
				close(pfd[i].fd);
				close(pfd[peer[i]].fd);
				pfd[peer[i]].fd = -1;
				pfd[i].fd = -1;
			}
		}
		if (pfd[0].revents & POLLIN) {
			int	 c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int	 s = c == -1 ? -1 : connect_sim();

			if (s == -1 || n + 2 > nitems(pfd)) {
				if (c != -1)
					close(c);
				if (s != -1)
					close(s);
			} else {
				pfd[n].fd = c;	/* odd: client */
				pfd[n].events = POLLIN;
				pfd[n + 1].fd = s;
				pfd[n + 1].events = POLLIN;
				peer[n] = (int)n + 1;
				peer[n + 1] = (int)n;
				n += 2;
			}
		}
	}
	return NULL;
}

static pid_t
spawn(char *const argv[], const char *errlog)
{
	pid_t	 pid = fork();
	int	 fd;

	if (pid == -1)
		fatal("fork");
	if (pid == 0) {
		fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd != -1) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static bool
file_has(const char *path, const char *needle, int ms)
{
	int64_t	 t0 = mono_us();
	char	*t;
	bool	 found;

	for (;;) {
		t = NULL;
		found = file_read(path, 64 << 20, &t, NULL) == 0 &&
		    strstr(t, needle) != NULL;
		free(t);
		if (found || (mono_us() - t0) / 1000 > ms)
			return found;
		usleep(10000);
	}
}

static void
fleet_text(struct buf *b, int i)
{
	buf_reset(b);
	buf_addf(b, "fleet: bench\ngroups:\n  - name: g\n    count: 1\n"
	    "    provider: vastai\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.7%d\n", i % 2);
}

/* Wait until the relay has been quiet for ms. */
static void
quiet(int ms)
{
	int64_t	 last;

	for (;;) {
		usleep(10000);
		pthread_mutex_lock(&mtx);
		last = last_byte;
		pthread_mutex_unlock(&mtx);
		if ((mono_us() - last) / 1000 >= ms)
			return;
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static long
vmrss_kb(pid_t pid)
{
	char	 path[64], *t = NULL, *p;
	long	 kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (file_read(path, 1 << 16, &t, NULL) == -1)
		return -1;
	p = strstr(t, "VmRSS:");
	if (p != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(t);
	return kb;
}

/* One series: start the daemon, n edits, stop it.  Prints a line. */
static void
series(const char *bin, const char *dir, int port, const char *debounce,
    int nedits, bool rss)
{
	char		*cfg = xasprintf("%s/config.yaml", dir);
	char		*state = xasprintf("%s/state", dir);
	char		*fleet = xasprintf("%s/fleet", dir);
	char		*file = xasprintf("%s/fleet/bench.yaml", dir);
	char		*tmp = xasprintf("%s/fleet/.bench.yaml.swp", dir);
	char		*errlog = xasprintf("%s/watch-%s.log", dir, debounce);
	char		*dbarg = xasprintf("%s", debounce);
	struct buf	 b = BUF_INIT;
	int64_t		*lat = xcalloc((size_t)nedits, sizeof(*lat));
	int64_t		 t0, t1;
	char		*argv[16];
	pid_t		 pid;
	int		 i, k = 0, st;
	long		 kb = -1;

	(void)port;
	fleet_text(&b, 0);
	if (mkdir_p(fleet, 0755) == -1 ||
	    file_write_atomic(file, b.s, b.len, 0644) == -1)
		fatal("write %s", file);
	i = 0;
	argv[i++] = (char *)bin;
	argv[i++] = "--config";
	argv[i++] = cfg;
	argv[i++] = "--state-dir";
	argv[i++] = state;
	argv[i++] = "watch";
	argv[i++] = "-f";
	argv[i++] = fleet;
	argv[i++] = "--resync";
	argv[i++] = "1h";
	argv[i++] = "--debounce";
	argv[i++] = dbarg;
	argv[i] = NULL;
	pid = spawn(argv, errlog);
	kids[1] = pid;
	if (!file_has(errlog, "bench: converged", 30000)) {
		kill(pid, SIGKILL);
		fatal("the daemon did not converge; see %s", errlog);
	}
	quiet(300);
	if (rss) {
		sleep(1);
		kb = vmrss_kb(pid);
	}
	for (i = 1; i <= nedits; i++) {
		fleet_text(&b, i);
		if (file_write_atomic(tmp, b.s, b.len, 0644) == -1)
			fatal("write %s", tmp);
		pthread_mutex_lock(&mtx);
		first_req = 0;
		t0 = mono_us();
		armed_at = t0;
		pthread_mutex_unlock(&mtx);
		if (rename(tmp, file) == -1)
			fatal("rename");
		for (t1 = 0; t1 == 0;) {
			usleep(500);
			pthread_mutex_lock(&mtx);
			t1 = first_req;
			pthread_mutex_unlock(&mtx);
			if (t1 == 0 && mono_us() - t0 > 10 * 1000000)
				break;
		}
		pthread_mutex_lock(&mtx);
		armed_at = 0;
		pthread_mutex_unlock(&mtx);
		if (t1 == 0) {
			fprintf(stderr, "edit %d: no provider call within "
			    "10 s\n", i);
			continue;
		}
		lat[k++] = t1 - t0;
		quiet(150);	/* the pass is over */
	}
	kill(pid, SIGTERM);
	kids[1] = 0;
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		fprintf(stderr, "watch exited badly (status %d)\n", st);
	qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
	if (k == 0)
		fatal("no samples");
	printf("debounce %-6s %3d edits: rename -> first provider call: "
	    "median %6.1f ms  p95 %6.1f ms  min %6.1f ms  max %6.1f ms\n",
	    debounce, k, (double)lat[k / 2] / 1000.0,
	    (double)lat[(k * 95 + 99) / 100 - 1] / 1000.0,
	    (double)lat[0] / 1000.0, (double)lat[k - 1] / 1000.0);
	if (rss)
		printf("idle daemon VmRSS: %.1f MiB\n", (double)kb / 1024.0);
	buf_release(&b);
	free(lat);
	free(cfg);
	free(state);
	free(fleet);
	free(file);
	free(tmp);
	free(errlog);
	free(dbarg);
}

int
main(int argc, char **argv)
{
	int		 nedits = argc > 1 ? atoi(argv[1]) : 60;
	const char	*bin = argc > 2 ? argv[2] : "build/gpureconcile";
	const char	*sim = getenv("GR_SIM");
	char		 dir[] = "/tmp/gr-bench-watch.XXXXXX";
	char		*pf, *cfgp, *keyp, *t = NULL, *sargv[12];
	pthread_t	 th;
	pid_t		 spid;
	int		 lfd, port, i;

	if (nedits < 1)
		nedits = 60;
	if (sim == NULL)
		sim = "build/gpureconcile-sim";
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	pf = xasprintf("%s/port", dir);
	i = 0;
	sargv[i++] = (char *)sim;
	sargv[i++] = "--listen";
	sargv[i++] = "127.0.0.1:0";
	sargv[i++] = "--port-file";
	sargv[i++] = pf;
	sargv[i++] = "--time-scale";
	sargv[i++] = "100";
	sargv[i++] = "-q";
	sargv[i] = NULL;
	spid = spawn(sargv, "/dev/null");
	kids[0] = spid;
	atexit(kill_kids);
	for (i = 0; i < 500; i++) {
		if (file_read(pf, 64, &t, NULL) == 0 && strchr(t, '\n'))
			break;
		free(t);
		t = NULL;
		usleep(10000);
	}
	if (t == NULL) {
		kill(spid, SIGKILL);
		fatal("gpureconcile-sim did not start");
	}
	sim_port = atoi(t);
	free(t);
	lfd = listen_any(&port);
	if (pthread_create(&th, NULL, relay, &lfd) != 0)
		fatal("pthread_create");
	keyp = xasprintf("%s/vast.key", dir);
	if (file_write_atomic(keyp, "sim-vast-key\n", 13, 0600) == -1)
		fatal("write key");
	cfgp = xasprintf("%s/config.yaml", dir);
	t = xasprintf("providers:\n  vastai: {base_url: "
	    "\"http://127.0.0.1:%d/vast\", api_key_file: %s, time_scale: 100, "
	    "heartbeat: 1h}\n", port, keyp);
	if (file_write_atomic(cfgp, t, strlen(t), 0644) == -1)
		fatal("write config");
	free(t);
	printf("watch-latency: %d edits per series (save by rename), "
	    "gpureconcile-sim through a relay on 127.0.0.1\n", nedits);
	fflush(stdout);
	series(bin, dir, port, "100ms", nedits, true);
	fflush(stdout);
	series(bin, dir, port, "0ms", nedits, false);
	kill(spid, SIGTERM);
	waitpid(spid, NULL, 0);
	kids[0] = 0;
	rmtree(dir);
	free(pf);
	free(keyp);
	free(cfgp);
	return 0;
}
