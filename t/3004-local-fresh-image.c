/*
 * 3004: a local instance's supervisor runs in a fresh image of our own
 * binary, not in a copy-on-write fork of the caller: spawned from a
 * caller that has dirtied ~200 MiB of heap, and rewrites it after the
 * spawn as a daemon's churning heap would, it holds a few MiB, its
 * argv and environment are its own (nothing of the caller's), and it
 * comes up even when the caller's binary has been deleted from disk
 * since it started (an upgrade under a running `watch`).  Every process
 * group the test starts is killed at exit, pass or fail.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define LABEL		"gr-0a1b2c-1"
#define HEAP_MIB	200
#define RSS_MAX_KIB	(32 << 10)
#define ANON_MAX_KIB	(16 << 10)

static pid_t	 groups[16];
static size_t	 ngroups;
static pid_t	 main_pid;

static void
kill_groups(void)
{
	size_t	 i;

	if (getpid() != main_pid)
		return;
	for (i = 0; i < ngroups; i++) {
		(void)kill(-groups[i], SIGKILL);
		(void)kill(groups[i], SIGKILL);
	}
}

static void
track(pid_t pid)
{
	if (pid > 0 && ngroups < sizeof(groups) / sizeof(groups[0]))
		groups[ngroups++] = pid;
}

static void
nap_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static struct provider *
local_new(const char *state)
{
	struct provider_conf	 conf;
	struct provider		*p;
	struct gr_err		 e;
	struct kv		 kv[2];

	kv[0].key = (char *)"gpus";
	kv[0].value = (char *)"none";
	kv[1].key = (char *)"cpu_slots";
	kv[1].value = (char *)"8";
	memset(&conf, 0, sizeof(conf));
	conf.name = "local";
	conf.state_dir = state;
	conf.ledger_id = "0a1b2c";
	conf.options = kv;
	conf.noptions = 2;
	provider_timeouts_default(&conf.timeouts);
	if (provider_new(&conf, &p, &e) == -1)
		bail_out("provider_new local: %s", e.msg);
	return p;
}

static int
spawn(struct provider *p, const char *script, struct instance *out,
    struct gr_err *e)
{
	struct gpu_req		 g;
	struct spawn_req	 r;

	memset(&g, 0, sizeof(g));
	g.type = (char *)GPU_CPU;
	memset(&r, 0, sizeof(r));
	r.label = LABEL;
	r.address = "test.fresh";
	r.gpu = &g;
	r.max_price = MONEY_UNIT;
	r.bootstrap = script;
	r.bootstrap_len = strlen(script);
	memset(out, 0, sizeof(*out));
	gr_err_clear(e);
	return provider_spawn(p, &r, out, e);
}

static pid_t
meta_pid(const char *state, const char *id)
{
	json_error_t	 je;
	json_t		*o;
	char		*path;
	pid_t		 pid = 0;

	path = xasprintf("%s/local/instances/%s/meta.json", state, id);
	o = json_load_file(path, 0, &je);
	free(path);
	if (o != NULL)
		pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	json_decref(o);
	return pid;
}

/* "Key:   N kB" of a /proc file; -1 when absent. */
static long long
proc_kib(pid_t pid, const char *file, const char *key)
{
	char		*path, *text = NULL, *s;
	long long	 v = -1;
	size_t		 klen = strlen(key);

	path = xasprintf("/proc/%ld/%s", (long)pid, file);
	if (file_read(path, 1 << 20, &text, NULL) == 0) {
		for (s = text; s != NULL && *s != '\0'; s = strchr(s, '\n'),
		    s = s != NULL ? s + 1 : NULL)
			if (strncmp(s, key, klen) == 0 && s[klen] == ':') {
				v = strtoll(s + klen + 1, NULL, 10);
				break;
			}
	}
	free(text);
	free(path);
	return v;
}

/* A /proc file with NULs turned into spaces; owned. */
static char *
proc_text(pid_t pid, const char *file)
{
	char	*path, *text = NULL;
	size_t	 len = 0, i;

	path = xasprintf("/proc/%ld/%s", (long)pid, file);
	if (file_read(path, 1 << 20, &text, &len) == -1)
		text = xstrdup("");
	for (i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	free(path);
	return text;
}

static char *
exe_of(pid_t pid)
{
	char	 path[64], b[PATH_MAX];
	ssize_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	n = readlink(path, b, sizeof(b) - 1);
	if (n < 0)
		return xstrdup("");
	b[n] = '\0';
	return xstrdup(b);
}

/* The session id, field 6 of /proc/PID/stat. */
static long
proc_sid(pid_t pid)
{
	char	*s = proc_text(pid, "stat"), *p;
	long	 ppid, pgrp, sid = -1;
	char	 st;

	p = strrchr(s, ')');
	if (p == NULL || sscanf(p + 1, " %c %ld %ld %ld", &st, &ppid, &pgrp,
	    &sid) != 4)
		sid = -1;
	free(s);
	return sid;
}

/*
 * Whether env (NULs as spaces) holds any entry of our own initial
 * environment but LD_LIBRARY_PATH, which it may pass on to load us.
 */
static bool
shares_env(const char *env)
{
	char	*text = NULL, *s, *ent, *all = xasprintf(" %s", env);
	size_t	 len = 0, nshared = 0;
	bool	 shared = false;

	if (file_read("/proc/self/environ", 1 << 20, &text, &len) == -1)
		bail_out("read /proc/self/environ");
	for (s = text; s < text + len; s += strlen(s) + 1) {
		if (*s == '\0' || str_has_prefix(s, "LD_LIBRARY_PATH="))
			continue;
		ent = xasprintf(" %s ", s);
		if (strstr(all, ent) != NULL) {
			if (nshared++ < 3)
				diag("the supervisor has the caller's %.40s",
				    s);
			shared = true;
		}
		free(ent);
	}
	free(text);
	free(all);
	return shared;
}

static bool
wait_file(const char *path, char **text)
{
	int	 i;

	for (i = 0; i < 500; i++) {
		if (file_read(path, 4096, text, NULL) == 0)
			return true;
		nap_ms(20);
	}
	*text = NULL;
	return false;
}

/*
 * From a caller with a big dirty heap: the supervisor is small and its
 * own process.
 */
static void
test_small(const char *state)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	struct stat	 sb;
	unsigned char	*heap;
	size_t		 i, n = (size_t)HEAP_MIB << 20;
	long long	 rss, self_rss;
	char		*s, *path, *mine, *its;
	pid_t		 pid;

	heap = malloc(n);
	if (heap == NULL)
		bail_out("malloc %d MiB", HEAP_MIB);
	for (i = 0; i < n; i += 4096)
		heap[i] = (unsigned char)(i >> 12 | 1);
	self_rss = proc_kib(getpid(), "status", "VmRSS");
	diag("this test's own VmRSS: %lld KiB", self_rss);

	p = local_new(state);
	if (spawn(p, "echo fresh; sleep 300\n", &in, &e) != 0) {
		diag("spawn: %s", e.msg);
		bail_out("cannot spawn a local instance");
	}
	pid = meta_pid(state, in.id);
	track(pid);
	ok(pid > 0, "the instance has a supervisor pid");

	/* let the bootstrap start; the supervisor is idle by then */
	path = xasprintf("%s/local/instances/%s/stdout.log", state, in.id);
	for (i = 0; i < 500; i++) {
		if (stat(path, &sb) == 0 && sb.st_size > 0)
			break;
		nap_ms(20);
	}
	free(path);

	/* a daemon's heap churns: ours rewritten after the spawn */
	for (i = 0; i < n; i += 4096)
		heap[i] = (unsigned char)(i >> 12 | 2);

	rss = proc_kib(pid, "status", "VmRSS");
	diag("supervisor VmRSS: %lld KiB (bound %d KiB), RssAnon %lld KiB, "
	    "Private_Dirty %lld KiB, Pss %lld KiB", rss, RSS_MAX_KIB,
	    proc_kib(pid, "status", "RssAnon"),
	    proc_kib(pid, "smaps_rollup", "Private_Dirty"),
	    proc_kib(pid, "smaps_rollup", "Pss"));
	ok(rss > 0 && rss < RSS_MAX_KIB, "the supervisor's RSS is small "
	    "(%lld KiB) though the caller's heap holds %d MiB", rss, HEAP_MIB);
	rss = proc_kib(pid, "status", "RssAnon");
	ok(rss >= 0 && rss < ANON_MAX_KIB, "and little of it is anonymous "
	    "memory (%lld KiB): none of the caller's heap", rss);

	s = proc_text(pid, "cmdline");
	is_str(s, "gr-supervisor ", "its argv is its own");
	free(s);
	s = proc_text(pid, "comm");
	is_str(s, "gr-supervisor\n", "its name is gr-supervisor");
	free(s);
	mine = exe_of(getpid());
	its = exe_of(pid);
	is_str(its, mine, "it runs our own binary");
	free(mine);
	free(its);
	s = proc_text(pid, "environ");
	ok(!shares_env(s), "none of the caller's environment");
	ok(strstr(s, "GR_INSTANCE_ID=") != NULL,
	    "its environment names the instance");
	free(s);
	is_int(proc_sid(pid), pid, "it leads a session of its own");

	free(heap);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	s = proc_text(pid, "stat");
	ok(*s == '\0' || strstr(s, ") Z ") != NULL, "the supervisor is gone");
	free(s);
	instance_release(&in);
	provider_free(p);
}

/*
 * Child mode: delete our own binary (a copy), then spawn; print the
 * instance id.
 */
static int
deleted_self(const char *exe, const char *state)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;

	if (unlink(exe) == -1) {
		fprintf(stderr, "unlink %s: %s\n", exe, strerror(errno));
		return 2;
	}
	p = local_new(state);
	if (spawn(p, "echo from-a-deleted-binary\n", &in, &e) != 0) {
		fprintf(stderr, "spawn: %s\n", e.msg);
		return 3;
	}
	printf("%s\n", in.id);
	instance_release(&in);
	provider_free(p);
	return 0;
}

static void
test_deleted_binary(const char *tmp)
{
	struct provider	*p;
	struct gr_err	 e;
	char		*copy, *state, *out = NULL, *err = NULL, *text, *its;
	char		*path;
	pid_t		 pid;
	int		 st;

	copy = xasprintf("%s/copy-of-3004", tmp);
	state = xasprintf("%s/deleted", tmp);
	if (test_run(NULL, NULL, "cp /proc/%ld/exe '%s' && mkdir '%s'",
	    (long)getpid(), copy, state) != 0)
		bail_out("cannot copy the test binary");
	st = test_run(&out, &err, "'%s' --deleted-self '%s' '%s'", copy, copy,
	    state);
	is_int(st, 0, "a caller whose binary was deleted spawns");
	if (st != 0)
		diag("stderr: %s", err);
	out[strcspn(out, "\n")] = '\0';
	pid = meta_pid(state, out);
	track(pid);
	ok(pid > 0, "its instance has a supervisor");
	its = exe_of(pid);
	like(its, "copy-of-3004 (deleted)", "which runs the deleted "
	    "binary (%s)", its);
	free(its);
	path = xasprintf("%s/local/instances/%s/exit_status", state, out);
	ok(wait_file(path, &text), "its bootstrap ran to its end");
	is_str(text, "0\n", "with status 0");
	free(text);
	free(path);
	path = xasprintf("%s/local/instances/%s/stdout.log", state, out);
	if (file_read(path, 4096, &text, NULL) == -1)
		text = xstrdup("");
	is_str(text, "from-a-deleted-binary\n", "and printed its line");
	free(text);
	free(path);

	p = local_new(state);
	is_int(provider_terminate(p, out, &e), 0, "terminate it");
	provider_free(p);
	free(out);
	free(err);
	free(state);
	free(copy);
}

/*
 * Run this binary as argv "gr-supervisor" with envp, fd 3 and fd 5 (-1:
 * closed); its stderr into *err.  The exit status, -1 if it did not exit.
 */
static int
as_supervisor(char *const envp[], int fd3, int fd5, char **err)
{
	char *const	 argv[] = { (char *)"gr-supervisor", NULL };
	char		*path = xasprintf("%s/sup.err", test_tmpdir());
	int		 fd, st;
	pid_t		 pid;

	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd == -1 || dup2(fd, 2) == -1 || dup2(fd3, 3) == -1)
			_exit(99);
		if (fd5 != -1 ? dup2(fd5, 5) == -1 : close(5) == -1 &&
		    errno != EBADF)
			_exit(99);
		execve("/proc/self/exe", argv, envp);
		_exit(98);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (file_read(path, 4096, err, NULL) == -1)
		*err = xstrdup("");
	free(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Bytes waiting on a pipe's read end, without blocking. */
static long
pending(int fd)
{
	char	 b[256];
	ssize_t	 n;
	long	 total = 0;

	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	while ((n = read(fd, b, sizeof(b))) > 0)
		total += n;
	return total;
}

/*
 * Only a supervisor that sup_start started becomes one: argv exactly
 * "gr-supervisor", the marker in its environment, a pipe at fd 3 and its
 * arguments at fd 5.
 */
static void
test_not_by_accident(void)
{
	char *const	 none[] = { NULL };
	char *const	 marked[] = { (char *)"GR_LOCAL_SUPERVISOR=1", NULL };
	char		*err;
	int		 p[2], nul, junk;

	if (pipe(p) == -1 || (nul = open("/dev/null", O_RDWR)) == -1)
		bail_out("pipe: %s", strerror(errno));
	is_int(as_supervisor(none, p[1], -1, &err), 42, "argv gr-supervisor "
	    "without the marker runs main as usual");
	free(err);
	is_int(as_supervisor(marked, nul, -1, &err), 127, "with the marker "
	    "but no pipe at fd 3 it refuses");
	like(err, "not started by gpureconcile's local provider",
	    "and says why");
	free(err);
	is_int(pending(p[0]), 0, "nor writes to fd 3");

	junk = memfd_create("junk", 0);
	if (junk == -1 || write(junk, "junk\0", 5) != 5)
		bail_out("memfd: %s", strerror(errno));
	is_int(as_supervisor(marked, p[1], junk, &err), 1, "with garbage "
	    "for arguments it fails");
	is_int(pending(p[0]), 16, "and says so on the pipe, as a handshake "
	    "message");
	free(err);
	is_int(as_supervisor(marked, p[1], -1, &err), 1, "with no arguments "
	    "at all too");
	is_int(pending(p[0]), 16, "on the pipe");
	free(err);
	close(junk);
	close(nul);
	close(p[0]);
	close(p[1]);
}

int
main(int argc, char **argv)
{
	char	*state, *tmp;

	if (strcmp(argv[0], "gr-supervisor") == 0)
		return 42;	/* test_not_by_accident: main ran */
	if (argc == 4 && strcmp(argv[1], "--deleted-self") == 0)
		return deleted_self(argv[2], argv[3]);
	plan_lazy();
	main_pid = getpid();
	atexit(kill_groups);
	tmp = realpath(test_tmpdir(), NULL);
	state = xasprintf("%s/small", tmp);
	if (mkdir(state, 0700) == -1)
		bail_out("mkdir %s", state);
	test_small(state);
	test_deleted_binary(tmp);
	test_not_by_accident();
	free(state);
	free(tmp);
	return done_testing();
}
