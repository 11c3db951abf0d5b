/*
 * 3002: local instances are real process trees: the bootstrap runs with
 * the instance's environment and nothing of the caller's fds or secrets;
 * an instance outlives the process that spawned it; terminate leaves no
 * process behind (SIGKILL after stop_grace when TERM is ignored) and
 * keeps the logs; pid reuse and crashed supervisors are told apart;
 * stop/start freeze and thaw the group; threads spawn and terminate at
 * once.  Every process group a test starts is killed at exit, pass or
 * fail.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

#define LABEL	"gr-0a1b2c-1"

static pid_t	 groups[256];
static size_t	 ngroups;
static pid_t	 main_pid;
static char	*state;		/* the state dir, absolute */

/* atexit: no process of ours survives the test, whatever happened. */
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

static int64_t
now_ms(void)
{
	return clock_mono_ms();
}

static char *
inst_file(const char *where, const char *id, const char *file)
{
	return xasprintf("%s/local/%s/%s/%s", state, where, id, file);
}

static json_t *
meta_load(const char *id)	/* new */
{
	json_error_t	 je;
	json_t		*o;
	char		*path = inst_file("instances", id, "meta.json");

	o = json_load_file(path, 0, &je);
	free(path);
	return o;
}

static pid_t
meta_pid(const char *id)
{
	json_t	*o = meta_load(id);
	pid_t	 pid;

	if (o == NULL)
		return 0;
	pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	json_decref(o);
	return pid;
}

/* Field 22 of /proc/PID/stat, read the plain way. */
static long long
proc_start(pid_t pid)
{
	char		 path[64], *s, *p, *tok, *save = NULL;
	long long	 v = -1;
	int		 i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (file_read(path, 4096, &s, NULL) == -1)
		return -1;
	p = strrchr(s, ')');
	for (i = 3, tok = strtok_r(p + 1, " ", &save); tok != NULL;
	    i++, tok = strtok_r(NULL, " ", &save))
		if (i == 22)
			v = atoll(tok);
	free(s);
	return v;
}

static long long
meta_start(const char *id)
{
	json_t		*o = meta_load(id);
	long long	 v;

	if (o == NULL)
		return -2;
	v = json_integer_value(json_object_get(o, "start_time"));
	json_decref(o);
	return v;
}

static void
meta_bump_start(const char *id)
{
	json_t	*o = meta_load(id);
	char	*path = inst_file("instances", id, "meta.json");

	if (o == NULL)
		bail_out("no meta for %s", id);
	json_object_set_new(o, "start_time", json_integer(json_integer_value(
	    json_object_get(o, "start_time")) + 1));
	if (json_dump_file(o, path, 0) == -1)
		bail_out("write %s", path);
	json_decref(o);
	free(path);
}

struct pst {
	char	 state;
	pid_t	 ppid, pgrp, sid;
};

static int
pstat(pid_t pid, struct pst *ps)
{
	char	 path[64], *s, *p;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (file_read(path, 4096, &s, NULL) == -1)
		return -1;
	p = strrchr(s, ')');
	if (p == NULL || sscanf(p + 1, " %c %d %d %d", &ps->state, &ps->ppid,
	    &ps->pgrp, &ps->sid) != 4) {
		free(s);
		return -1;
	}
	free(s);
	return 0;
}

static bool
pid_live(pid_t pid)
{
	struct pst	 ps;

	return pstat(pid, &ps) == 0 && ps.state != 'Z' && ps.state != 'X';
}

/* Live processes whose group or session is pg. */
static int
group_count(pid_t pg)
{
	DIR		*d;
	struct dirent	*de;
	struct pst	 ps;
	int		 n = 0;
	long		 pid;
	char		*end;

	d = opendir("/proc");
	if (d == NULL)
		bail_out("opendir /proc");
	while ((de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (pstat((pid_t)pid, &ps) == -1 || ps.state == 'Z')
			continue;
		if (ps.pgrp == pg || ps.sid == pg)
			n++;
	}
	closedir(d);
	return n;
}

/* A live child of pid, or -1. */
static pid_t
child_of(pid_t parent)
{
	DIR		*d;
	struct dirent	*de;
	struct pst	 ps;
	long		 pid;
	char		*end;
	pid_t		 found = -1;

	d = opendir("/proc");
	if (d == NULL)
		bail_out("opendir /proc");
	while (found == -1 && (de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		if (pstat((pid_t)pid, &ps) == 0 && ps.ppid == parent &&
		    ps.state != 'Z')
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

static bool
wait_group_gone(pid_t pg, long ms)
{
	int64_t	 end = now_ms() + ms;

	while (group_count(pg) > 0) {
		if (now_ms() > end)
			return false;
		nap_ms(10);
	}
	return true;
}

/* Wait until path exists and contains needle. */
static bool
wait_contains(const char *path, const char *needle, long ms)
{
	int64_t	 end = now_ms() + ms;
	char	*s;
	bool	 found;

	for (;;) {
		found = false;
		if (file_read(path, 1 << 20, &s, NULL) == 0) {
			found = strstr(s, needle) != NULL;
			free(s);
		}
		if (found)
			return true;
		if (now_ms() > end)
			return false;
		nap_ms(10);
	}
}

static bool
exists(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0;
}

static struct provider *
local_new(const char *const *opts)
{
	struct provider_conf	 conf;
	struct provider		*p;
	struct gr_err		 e;
	struct kv		 kv[8];
	size_t			 n = 0;

	for (; opts != NULL && opts[0] != NULL && n < 8; opts += 2, n++) {
		kv[n].key = (char *)opts[0];
		kv[n].value = (char *)opts[1];
	}
	memset(&conf, 0, sizeof(conf));
	conf.name = "local";
	conf.state_dir = state;
	conf.ledger_id = "0a1b2c";
	conf.options = kv;
	conf.noptions = n;
	provider_timeouts_default(&conf.timeouts);
	if (provider_new(&conf, &p, &e) == -1)
		bail_out("provider_new local: %s", e.msg);
	return p;
}

static int
spawn_ex(struct provider *p, const char *addr, const char *script,
    const struct kv *env, size_t nenv, struct instance *out,
    struct gr_err *e)
{
	struct gpu_req		 g;
	struct spawn_req	 r;
	int			 rc;

	memset(&g, 0, sizeof(g));
	g.type = (char *)GPU_CPU;
	memset(&r, 0, sizeof(r));
	r.label = LABEL;
	r.address = addr;
	r.gpu = &g;
	r.max_price = MONEY_UNIT;
	r.bootstrap = script;
	r.bootstrap_len = script != NULL ? strlen(script) : 0;
	r.env = env;
	r.nenv = nenv;
	memset(out, 0, sizeof(*out));
	gr_err_clear(e);
	rc = provider_spawn(p, &r, out, e);
	if (rc == 0)
		track(meta_pid(out->id));
	else
		diag("spawn %s: %s: %s", addr, gr_code_name(e->code), e->msg);
	return rc;
}

static int
spawn(struct provider *p, const char *addr, const char *script,
    struct instance *out, struct gr_err *e)
{
	return spawn_ex(p, addr, script, NULL, 0, out, e);
}

static const struct instance *
listed(struct provider *p, struct instance_list *l, const char *id)
{
	struct gr_err	 e;

	instance_list_release(l);
	if (provider_list(p, l, &e) == -1) {
		diag("list: %s", e.msg);
		return NULL;
	}
	return instance_list_find(l, id);
}

/* fds of pid other than 0, 1 and 2. */
static int
extra_fds(pid_t pid)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[320], link[PATH_MAX];
	int		 n = 0;
	ssize_t		 len;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "0") == 0 ||
		    strcmp(de->d_name, "1") == 0 ||
		    strcmp(de->d_name, "2") == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fd/%s", (long)pid,
		    de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = '\0';
		/* valgrind's own, when the test runs under it */
		if (strstr(link, "valgrind") != NULL ||
		    atoi(de->d_name) >= 1000)
			continue;
		diag("fd %s of %ld is open: %s", de->d_name, (long)pid, link);
		n++;
	}
	closedir(d);
	return n;
}

static void
test_env_and_fds(struct provider *p)
{
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	struct kv		 env[] = { { "GREETING", "hello there" } };
	struct pst		 ps;
	char			*out, *err, *made, *bait, *cwd;
	int			 baitfd, hifd, fd;
	pid_t			 pid, bpid;
	bool			 slept;
	int64_t			 t0;

	/* what the CLI holds: a ledger lock, fds without O_CLOEXEC */
	bait = xasprintf("%s/bait.lock", state);
	baitfd = open(bait, O_RDWR | O_CREAT, 0600);
	if (baitfd == -1 || flock(baitfd, LOCK_EX) == -1)
		bail_out("bait lock");
	hifd = dup2(baitfd, 77);
	setenv("VAST_API_KEY", "sekrit", 1);

	t0 = clock_now_ms();
	if (spawn_ex(p, "demo/worker/0",
	    "echo \"addr=[$GR_ADDRESS]\"\n"
	    "echo \"label=[$GR_LABEL]\"\n"
	    "echo \"id=[$GR_INSTANCE_ID]\"\n"
	    "echo \"cvd=[${CUDA_VISIBLE_DEVICES-unset}]\"\n"
	    "echo \"order=[$CUDA_DEVICE_ORDER]\"\n"
	    "echo \"greeting=[$GREETING]\"\n"
	    "echo \"key=[${VAST_API_KEY-unset}]\"\n"
	    "echo \"pwd=[$(pwd)]\"\n"
	    "echo to stderr >&2\n"
	    "echo made > made\n"
	    "exec sleep 300\n", env, 1, &in, &e) == -1)
		bail_out("first spawn failed");
	unsetenv("VAST_API_KEY");
	ok(str_has_prefix(in.id, "loc-") && strlen(in.id) == 16,
	    "id is loc- and 12 hex digits: %s", in.id);
	is_int(in.state, INST_RUNNING, "spawn returns it RUNNING");
	ok(in.billing, "spawn returns it billing");
	is_str(in.label, LABEL, "spawn returns the label");
	is_str(in.gpu, GPU_CPU, "a CPU slot");
	is_int(in.gpu_count, 0, "no GPUs");
	is_int(in.price, 0, "price defaults to 0");
	ok(in.created_ms >= t0 && in.created_ms <= clock_now_ms(),
	    "created_ms is now");

	made = inst_file("instances", in.id, "made");
	ok(wait_contains(made, "made", 5000), "the bootstrap wrote a file "
	    "in its work dir");
	out = inst_file("instances", in.id, "stdout.log");
	err = inst_file("instances", in.id, "stderr.log");
	ok(wait_contains(out, "pwd=", 5000), "stdout.log fills");
	ok(wait_contains(out, "addr=[demo/worker/0]", 0), "GR_ADDRESS seen");
	ok(wait_contains(out, "label=[" LABEL "]", 0), "GR_LABEL seen");
	cwd = xasprintf("id=[%s]", in.id);
	ok(wait_contains(out, cwd, 0), "GR_INSTANCE_ID seen");
	free(cwd);
	ok(wait_contains(out, "cvd=[]", 0), "CUDA_VISIBLE_DEVICES is empty "
	    "on a CPU slot");
	ok(wait_contains(out, "order=[PCI_BUS_ID]", 0), "CUDA_DEVICE_ORDER "
	    "follows nvidia-smi");
	ok(wait_contains(out, "greeting=[hello there]", 0), "the request's "
	    "env is seen");
	ok(wait_contains(out, "key=[unset]", 0), "the caller's API key does "
	    "not leak into the instance");
	cwd = xasprintf("pwd=[%s/local/instances/%s]", state, in.id);
	ok(wait_contains(out, cwd, 0), "runs in its work dir");
	free(cwd);
	ok(wait_contains(err, "to stderr", 5000), "stderr.log has stderr");

	pid = meta_pid(in.id);
	ok(pid > 0 && pid_live(pid), "meta names a live supervisor");
	ok(pstat(pid, &ps) == 0 && ps.sid == pid && ps.pgrp == pid,
	    "the supervisor leads its own session and group");
	ok(ps.ppid != getpid(), "the supervisor is not our child");
	is_int(meta_start(in.id), proc_start(pid), "meta's start_time is "
	    "field 22 of /proc/PID/stat");
	is_int(extra_fds(pid), 0, "no fd >= 3 is open in the supervisor");
	for (t0 = now_ms(), bpid = -1; now_ms() - t0 < 5000; nap_ms(10)) {
		bpid = child_of(pid);
		cwd = xasprintf("/proc/%ld/comm", (long)bpid);
		slept = wait_contains(cwd, "sleep", 0);
		free(cwd);
		if (slept)
			break;
	}
	is_int(extra_fds(bpid), 0, "nor in the bootstrap (exec'd sleep)");
	close(baitfd);
	close(hifd);
	fd = open(bait, O_RDWR | O_CLOEXEC);
	ok(fd != -1 && flock(fd, LOCK_EX | LOCK_NB) == 0, "the caller's "
	    "lock died with the caller's fds, not held by the instance");
	close(fd);
	free(bait);

	li = listed(p, &l, in.id);
	ok(li != NULL, "list shows it");
	if (li != NULL) {
		is_int(li->state, INST_RUNNING, "list: RUNNING");
		ok(li->billing, "list: billing");
		is_str(li->label, LABEL, "list: label");
		is_str(li->status, "running", "list: status");
		is_int(li->created_ms, in.created_ms, "list: created_ms");
	}
	instance_list_release(&l);

	/* terminate: no process left, dir moved with its logs */
	t0 = now_ms();
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	ok(now_ms() - t0 < 5000, "sleep dies on SIGTERM, no wait for KILL");
	is_int(group_count(pid), 0, "no process of the group is left");
	ok(!exists(out), "the instance dir is gone from instances/");
	free(out);
	out = inst_file("terminated", in.id, "stdout.log");
	ok(wait_contains(out, "greeting=", 0), "its logs are kept in "
	    "terminated/");
	ok(listed(p, &l, in.id) == NULL, "list no longer shows it");
	instance_list_release(&l);
	is_int(provider_get(p, in.id, &in, &e), -1, "get after terminate "
	    "fails");
	is_int(e.code, GR_E_NOT_FOUND, "with NOT_FOUND");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate again is "
	    "success");
	instance_release(&in);
	free(out);
	free(err);
	free(made);
}

static void
test_exit_status(struct provider *p)
{
	struct instance		 in, idle;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	char			*st;
	pid_t			 pid;

	if (spawn(p, "demo/worker/1", "echo bye; exit 3\n", &in, &e) == -1)
		bail_out("spawn failed");
	st = inst_file("instances", in.id, "exit_status");
	ok(wait_contains(st, "3\n", 5000), "exit_status records the "
	    "bootstrap's exit");
	li = listed(p, &l, in.id);
	ok(li != NULL && li->state == INST_RUNNING, "after its bootstrap the "
	    "instance idles RUNNING, like a VM");
	ok(pid_live(meta_pid(in.id)), "its supervisor lives on");
	free(st);

	if (spawn(p, "demo/worker/2", NULL, &idle, &e) == -1)
		bail_out("spawn without bootstrap failed");
	li = listed(p, &l, idle.id);
	ok(li != NULL && li->state == INST_RUNNING, "no bootstrap: an idle "
	    "RUNNING instance");
	st = inst_file("instances", idle.id, "exit_status");
	nap_ms(50);
	ok(!exists(st), "no bootstrap, no exit_status");
	free(st);

	pid = meta_pid(idle.id);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate the exited "
	    "bootstrap's instance");
	is_int(provider_terminate(p, idle.id, &e), 0, "terminate the idle "
	    "one");
	ok(pid > 0 && group_count(pid) == 0, "nothing left");
	instance_release(&in);
	instance_release(&idle);
	instance_list_release(&l);
}

/* The CLI spawns and exits; the instance lives on. */
static void
test_survives_caller(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct instance		 in;
	struct gr_err		 e;
	char			 id[64];
	int			 fds[2], st, rc;
	ssize_t			 n;
	pid_t			 child, pid;

	if (pipe(fds) == -1)
		bail_out("pipe");
	fflush(stdout);
	fflush(stderr);
	child = fork();
	if (child == -1)
		bail_out("fork");
	if (child == 0) {
		close(fds[0]);
		rc = spawn(p, "demo/worker/3", "exec sleep 300\n", &in, &e);
		if (rc == 0 && write(fds[1], in.id, strlen(in.id)) == -1)
			rc = -1;
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], id, sizeof(id) - 1);
	close(fds[0]);
	id[n > 0 ? n : 0] = '\0';
	waitpid(child, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child spawned and "
	    "exited");
	pid = meta_pid(id);
	track(pid);
	li = listed(p, &l, id);
	ok(li != NULL && li->state == INST_RUNNING, "the parent lists it "
	    "RUNNING after the spawner exited");
	ok(pid_live(pid), "its supervisor is alive");
	is_int(provider_terminate(p, id, &e), 0, "terminate it");
	is_int(group_count(pid), 0, "nothing of it left");
	instance_list_release(&l);
}

/* A bootstrap that ignores SIGTERM meets SIGKILL after stop_grace. */
static void
test_kill_escalation(void)
{
	static const char *const opts[] = { "gpus", "none", "stop_grace",
	    "1s", NULL };
	struct provider	*p = local_new(opts);
	struct instance	 in;
	struct gr_err	 e;
	char		*out;
	pid_t		 pid;
	int64_t		 t0, dt;

	if (spawn(p, "demo/stubborn/0", "trap '' TERM\necho armed\n"
	    "while :; do sleep 1; done\n", &in, &e) == -1)
		bail_out("spawn failed");
	pid = meta_pid(in.id);
	out = inst_file("instances", in.id, "stdout.log");
	ok(wait_contains(out, "armed", 5000), "the stubborn bootstrap runs");
	t0 = now_ms();
	is_int(provider_terminate(p, in.id, &e), 0, "terminate the stubborn "
	    "one");
	dt = now_ms() - t0;
	ok(dt >= 900 && dt < 8000, "it took the 1 s grace, then SIGKILL "
	    "(%lld ms)", (long long)dt);
	is_int(group_count(pid), 0, "SIGKILL left nothing");
	free(out);
	instance_release(&in);
	provider_free(p);
}

/* The directory terminate moves an instance to, back by secs. */
static void
age_retired(const char *id, int64_t secs)
{
	struct timespec	 ts[2];
	char		*dir = xasprintf("%s/local/terminated/%s", state, id);

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= (time_t)secs;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, dir, ts, AT_SYMLINK_NOFOLLOW) == -1)
		bail_out("utimensat %s: %s", dir, strerror(errno));
	free(dir);
}

static bool
retired(const char *id)
{
	char	*dir = xasprintf("%s/local/terminated/%s", state, id);
	bool	 there = access(dir, F_OK) == 0;

	free(dir);
	return there;
}

/*
 * terminated/ keeps an ended instance's logs for keep_terminated, counted
 * from its end, then the next termination removes them; 0s keeps them
 * forever; what is not ours in there is left alone.
 */
static void
test_keep_terminated(void)
{
	static const char *const opts[] = { "gpus", "none", "cpu_slots", "8",
	    "keep_terminated", "1d", NULL };
	static const char *const forever[] = { "gpus", "none", "cpu_slots",
	    "8", "keep_terminated", "0s", NULL };
	struct provider	*p = local_new(opts), *pf = local_new(forever);
	struct instance	 a, b, c, d;
	struct gr_err	 e;
	struct timespec	 ts[2];
	char		*mine = xasprintf("%s/local/terminated/notes", state);
	char		*live;

	if (spawn(p, "demo/keep/0", "exec sleep 300\n", &a, &e) == -1 ||
	    spawn(p, "demo/keep/1", "exec sleep 300\n", &b, &e) == -1 ||
	    spawn(p, "demo/keep/2", "exec sleep 300\n", &c, &e) == -1)
		bail_out("spawn failed");
	is_int(provider_terminate(p, a.id, &e), 0, "terminate a");
	ok(retired(a.id), "a's directory is kept in terminated/");
	if (mkdir(mine, 0700) == -1)
		bail_out("mkdir %s: %s", mine, strerror(errno));
	/* a ended 2 days ago; notes/ is not an instance of ours */
	age_retired(a.id, 2 * 86400);
	age_retired("notes", 2 * 86400);
	is_int(provider_terminate(pf, b.id, &e), 0, "terminate b with "
	    "keep_terminated 0s");
	ok(retired(a.id), "0s keeps everything: a is still there");
	is_int(provider_terminate(p, c.id, &e), 0, "terminate c with "
	    "keep_terminated 1d");
	ok(!retired(a.id), "a, ended 2 days ago, is removed");
	ok(retired(b.id), "b, just ended, is kept");
	ok(retired(c.id), "c, just ended, is kept");
	ok(access(mine, F_OK) == 0, "a directory that is not an instance's "
	    "is left alone");
	/* one that ran for 2 days: its age counts from its end */
	if (spawn(p, "demo/keep/3", "exec sleep 300\n", &d, &e) == -1)
		bail_out("spawn failed");
	live = xasprintf("%s/local/instances/%s", state, d.id);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 2 * 86400;
	ts[1] = ts[0];
	if (utimensat(AT_FDCWD, live, ts, AT_SYMLINK_NOFOLLOW) == -1)
		bail_out("utimensat %s: %s", live, strerror(errno));
	is_int(provider_terminate(p, d.id, &e), 0, "terminate d, which "
	    "started 2 days ago");
	ok(retired(d.id), "d's logs are kept: its age counts from its end, "
	    "not its start");
	free(live);
	instance_release(&d);
	instance_release(&a);
	instance_release(&b);
	instance_release(&c);
	rmdir(mine);
	free(mine);
	provider_free(p);
	provider_free(pf);
}

static void
test_unknown(struct provider *p)
{
	struct instance	 in;
	struct gr_err	 e;

	is_int(provider_terminate(p, "loc-000000000000", &e), 0,
	    "terminate of an unknown id is success");
	is_int(provider_terminate(p, "../../../etc", &e), 0,
	    "terminate of a malformed id is success too");
	is_int(p->ops->terminate(p, "loc-000000000000", &e), -1,
	    "the op itself says NOT_FOUND");
	is_int(e.code, GR_E_NOT_FOUND, "code NOT_FOUND");
	is_int(provider_get(p, "loc-000000000000", &in, &e), -1,
	    "get of an unknown id fails");
	is_int(e.code, GR_E_NOT_FOUND, "get: NOT_FOUND");
	like(e.msg, "no such instance", "get: says so");
	is_int(provider_stop(p, "loc-000000000000", &e), -1,
	    "stop of an unknown id fails");
	is_int(e.code, GR_E_NOT_FOUND, "stop: NOT_FOUND");
}

/* A pid that now names a stranger: the instance is gone, the stranger
 * is left alone. */
static void
test_pid_reuse(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct instance		 in;
	struct gr_err		 e;
	pid_t			 pid;

	if (spawn(p, "demo/reuse/0", "exec sleep 300\n", &in, &e) == -1)
		bail_out("spawn failed");
	pid = meta_pid(in.id);
	meta_bump_start(in.id);
	li = listed(p, &l, in.id);
	ok(li != NULL, "list still shows the instance");
	if (li != NULL) {
		is_int(li->state, INST_TERMINATED, "start time differs: "
		    "TERMINATED");
		ok(!li->billing, "and not billing");
		is_str(li->status, "exited", "status exited");
	}
	nap_ms(100);
	ok(pid_live(pid), "the stranger with that pid was not killed");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate succeeds");
	ok(pid_live(pid), "and does not kill the stranger either");
	ok(listed(p, &l, in.id) == NULL, "list no longer shows it");
	(void)kill(-pid, SIGKILL);
	ok(wait_group_gone(pid, 5000), "the test cleans up the stranger");
	instance_list_release(&l);
	instance_release(&in);
}

/* A supervisor killed from outside: a crashed machine. */
static void
test_crashed(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct instance		 in, got;
	struct gr_err		 e;
	char			*out;
	pid_t			 pid;
	int64_t			 t0;

	if (spawn(p, "demo/crash/0", "echo up\nsleep 300\n", &in, &e) == -1)
		bail_out("spawn failed");
	pid = meta_pid(in.id);
	out = inst_file("instances", in.id, "stdout.log");
	ok(wait_contains(out, "up", 5000), "the bootstrap runs");
	ok(group_count(pid) >= 2, "supervisor and bootstrap are in the "
	    "group");
	(void)kill(pid, SIGKILL);
	for (t0 = now_ms(); pid_live(pid) && now_ms() - t0 < 5000;)
		nap_ms(5);
	li = listed(p, &l, in.id);
	ok(li != NULL && li->state == INST_TERMINATED && !li->billing,
	    "a killed supervisor lists TERMINATED, not billing");
	if (li != NULL)
		is_str(li->status, "exited", "status exited");
	ok(wait_group_gone(pid, 5000), "the crashed machine's processes "
	    "went with it");
	is_int(provider_get(p, in.id, &got, &e), 0, "get still finds it");
	is_int(got.state, INST_TERMINATED, "get: TERMINATED");
	instance_release(&got);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate succeeds");
	ok(listed(p, &l, in.id) == NULL, "and list forgets it");
	free(out);
	instance_list_release(&l);
	instance_release(&in);
}

static void
test_stop_start(struct provider *p)
{
	struct instance	 in, got;
	struct gr_err	 e;
	struct pst	 ps;
	char		*out;
	pid_t		 pid;

	if (spawn(p, "demo/nap/0", "echo up\nwhile :; do sleep 1; done\n",
	    &in, &e) == -1)
		bail_out("spawn failed");
	ok(provider_has_cap(p, PROV_CAP_HIBERNATION), "local can hibernate");
	pid = meta_pid(in.id);
	out = inst_file("instances", in.id, "stdout.log");
	ok(wait_contains(out, "up", 5000), "the bootstrap runs");
	is_int(provider_stop(p, in.id, &e), 0, "stop");
	is_int(provider_get(p, in.id, &got, &e), 0, "get after stop");
	is_int(got.state, INST_STOPPED, "STOPPED");
	ok(got.billing, "a stopped local instance still holds its slot");
	is_str(got.status, "stopped", "status stopped");
	instance_release(&got);
	ok(pstat(pid, &ps) == 0 && ps.state == 'T', "the supervisor is "
	    "stopped");
	is_int(provider_stop(p, in.id, &e), 0, "stop again is fine");
	is_int(provider_start(p, in.id, &e), 0, "start");
	is_int(provider_get(p, in.id, &got, &e), 0, "get after start");
	is_int(got.state, INST_RUNNING, "RUNNING again");
	instance_release(&got);
	ok(pstat(pid, &ps) == 0 && ps.state != 'T', "the supervisor runs");
	is_int(provider_stop(p, in.id, &e), 0, "stop once more");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate a stopped "
	    "instance");
	is_int(group_count(pid), 0, "nothing left of it");
	free(out);
	instance_release(&in);
}

static void
meta_set_str(const char *id, const char *key, const char *value)
{
	json_t	*o = meta_load(id);
	char	*path = inst_file("instances", id, "meta.json");

	if (o == NULL)
		bail_out("no meta for %s", id);
	json_object_set_new(o, key, json_string(value));
	if (json_dump_file(o, path, 0) == -1)
		bail_out("write %s", path);
	json_decref(o);
	free(path);
}

/* After a reboot pids mean nothing: the instance is gone, nobody is
 * signalled. */
static void
test_rebooted(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct instance		 in;
	struct gr_err		 e;
	pid_t			 pid;

	if (spawn(p, "demo/boot/0", "exec sleep 300\n", &in, &e) == -1)
		bail_out("spawn failed");
	pid = meta_pid(in.id);
	meta_set_str(in.id, "boot_id", "00000000-0000-0000-0000-000000000000");
	li = listed(p, &l, in.id);
	ok(li != NULL && li->state == INST_TERMINATED && !li->billing,
	    "an instance from another boot lists TERMINATED");
	is_int(provider_terminate(p, in.id, &e), 0, "and terminates");
	ok(pid_live(pid), "without signalling the pid it recorded");
	(void)kill(-pid, SIGKILL);
	ok(wait_group_gone(pid, 5000), "the test cleans up");
	instance_list_release(&l);
	instance_release(&in);
}

/* What a crash of the spawner or a damaged file leaves behind. */
static void
test_leftovers(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct instance		 in;
	struct gr_err		 e;
	struct timespec		 old[2] = { { 1000000000, 0 },
	    { 1000000000, 0 } };
	char			*path, *meta;

	/* an unreadable meta.json */
	free(test_write(state, "local/instances/loc-aaaaaaaaaaaa/meta.json",
	    "{ not json"));
	li = listed(p, &l, "loc-aaaaaaaaaaaa");
	ok(li != NULL, "an instance with unreadable meta is listed");
	if (li != NULL) {
		ok(li->label == NULL, "without a label: never ours to touch");
		is_str(li->status, "unreadable", "status unreadable");
		is_int(li->state, INST_RUNNING, "RUNNING: gone is not proven");
	}
	is_int(provider_get(p, "loc-aaaaaaaaaaaa", &in, &e), -1,
	    "get of it fails");
	is_int(e.code, GR_E_IO, "with IO");
	like(e.hint, "loc-aaaaaaaaaaaa", "the hint says where to look");
	is_int(provider_terminate(p, "loc-aaaaaaaaaaaa", &e), -1,
	    "terminate of it fails");
	is_int(e.code, GR_E_IO, "with IO, not a false success");
	path = xasprintf("%s/local/instances/loc-aaaaaaaaaaaa", state);
	rmtree(path);
	free(path);

	/* a dir whose spawn died before writing anything */
	path = xasprintf("%s/local/instances/loc-bbbbbbbbbbbb", state);
	mkdir(path, 0700);
	ok(listed(p, &l, "loc-bbbbbbbbbbbb") == NULL, "a dir without meta "
	    "is not listed");
	is_int(provider_terminate(p, "loc-bbbbbbbbbbbb", &e), 0, "terminate "
	    "of it succeeds");
	ok(!exists(path), "and moves it away");
	free(path);

	/* a meta without pid: a spawn in progress, then a lost one */
	meta = test_write(state, "local/instances/loc-cccccccccccc/meta.json",
	    "{\"id\": \"loc-cccccccccccc\", \"label\": \"" LABEL "\", "
	    "\"address\": \"demo/lost/0\", \"gpu\": \"CPU\", "
	    "\"gpu_count\": 0, \"gpus\": [], \"price\": 0, "
	    "\"created_ms\": 1, \"pid\": 0, \"start_time\": 0, "
	    "\"boot_id\": \"\"}\n");
	li = listed(p, &l, "loc-cccccccccccc");
	ok(li != NULL && li->state == INST_PENDING && !li->billing,
	    "a fresh meta without pid is PENDING");
	if (li != NULL)
		is_str(li->label, LABEL, "with its label, so it can be "
		    "adopted");
	is_int(provider_terminate(p, "loc-cccccccccccc", &e), -1,
	    "terminate while it is spawning fails");
	is_int(e.code, GR_E_TRANSIENT, "TRANSIENT: try again");
	if (utimensat(AT_FDCWD, meta, old, 0) == -1)
		bail_out("utimensat %s", meta);
	li = listed(p, &l, "loc-cccccccccccc");
	ok(li != NULL && li->state == INST_TERMINATED, "an old one is "
	    "TERMINATED");
	if (li != NULL)
		is_str(li->status, "lost", "status lost");
	is_int(provider_terminate(p, "loc-cccccccccccc", &e), 0,
	    "terminate of a lost one succeeds");
	ok(listed(p, &l, "loc-cccccccccccc") == NULL, "and list forgets it");
	free(meta);
	instance_list_release(&l);
}

static void
test_bad_requests(struct provider *p)
{
	struct instance	 in;
	struct gr_err	 e;
	struct kv	 env[] = { { "BAD-NAME", "x" } };
	char		*out;

	is_int(spawn_ex(p, "demo/bad/0", "exec sleep 300\n", env, 1, &in,
	    &e), -1, "an env name with a dash is refused");
	is_int(e.code, GR_E_INVALID_SPEC, "INVALID_SPEC");
	like(e.msg, "BAD-NAME", "naming the variable");

	if (spawn(p, "demo/perl/0", "#!/usr/bin/env perl\n"
	    "print \"perl=$ENV{GR_ADDRESS}\\n\";\n", &in, &e) == -1)
		bail_out("spawn failed");
	out = inst_file("instances", in.id, "stdout.log");
	ok(wait_contains(out, "perl=demo/perl/0", 5000), "a bootstrap with "
	    "#! runs under its interpreter");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate it");
	free(out);
	instance_release(&in);
}

struct targ {
	struct provider	*p;
	const char	*id;
	int		 n;
	int		 rc;
	char		*ids[4];
};

static void *
term_thread(void *arg)
{
	struct targ	*t = arg;
	struct gr_err	 e;

	t->rc = provider_terminate(t->p, t->id, &e);
	return NULL;
}

static void *
spawn_thread(void *arg)
{
	struct targ	*t = arg;
	struct instance	 in;
	struct gr_err	 e;
	int		 i;

	t->rc = 0;
	for (i = 0; i < 4; i++) {
		if (spawn(t->p, "demo/thread/0", "exec sleep 300\n", &in,
		    &e) == -1) {
			t->rc = -1;
			continue;
		}
		t->ids[i] = xstrdup(in.id);
		instance_release(&in);
	}
	return NULL;
}

static void
test_threads(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	struct instance		 in;
	struct gr_err		 e;
	struct targ		 t[4];
	pthread_t		 th[4];
	int			 i, j, bad = 0;
	pid_t			 pid;

	memset(t, 0, sizeof(t));
	for (i = 0; i < 4; i++) {
		t[i].p = p;
		pthread_create(&th[i], NULL, spawn_thread, &t[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++)
		bad += t[i].rc != 0;
	is_int(bad, 0, "4 threads x 4 spawns all succeed");
	is_int(provider_list(p, &l, &e), 0, "list after threaded spawns");
	is_int((long long)l.n, 16, "16 instances listed");
	instance_list_release(&l);
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++) {
			t[j].p = p;
			t[j].id = t[i].ids[j];
		}
		for (j = 0; j < 4; j++)
			pthread_create(&th[j], NULL, term_thread, &t[j]);
		for (j = 0; j < 4; j++)
			pthread_join(th[j], NULL);
		for (j = 0; j < 4; j++)
			bad += t[j].rc != 0;
	}
	is_int(bad, 0, "4 threads terminate 4 instances at once, all "
	    "succeed");
	is_int(provider_list(p, &l, &e), 0, "list after threaded "
	    "terminations");
	is_int((long long)l.n, 0, "none left");
	instance_list_release(&l);
	/* the same id from 4 threads at once */
	if (spawn(p, "demo/thread/1", "exec sleep 300\n", &in, &e) == -1)
		bail_out("spawn failed");
	pid = meta_pid(in.id);
	for (j = 0; j < 4; j++) {
		t[j].id = in.id;
		pthread_create(&th[j], NULL, term_thread, &t[j]);
	}
	for (j = 0; j < 4; j++)
		pthread_join(th[j], NULL);
	ok(t[0].rc == 0 && t[1].rc == 0 && t[2].rc == 0 && t[3].rc == 0,
	    "terminating one instance from 4 threads: all succeed");
	is_int(group_count(pid), 0, "and it is gone");
	instance_release(&in);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			free(t[i].ids[j]);
}

int
main(void)
{
	struct provider		*p;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	static const char *const opts[] = { "gpus", "none", "cpu_slots",
	    "64", NULL };

	plan_lazy();
	main_pid = getpid();
	state = realpath(test_tmpdir(), NULL);
	atexit(kill_groups);
	p = local_new(opts);

	is_int(provider_list(p, &l, &e), 0, "list with no instances works");
	is_int((long long)l.n, 0, "and is empty");
	instance_list_release(&l);

	test_env_and_fds(p);
	test_exit_status(p);
	test_survives_caller(p);
	test_kill_escalation();
	test_keep_terminated();
	test_unknown(p);
	test_pid_reuse(p);
	test_crashed(p);
	test_stop_start(p);
	test_rebooted(p);
	test_leftovers(p);
	test_bad_requests(p);
	test_threads(p);

	is_int(provider_list(p, &l, &e), 0, "list at the end");
	is_int((long long)l.n, 0, "no instance is left");
	instance_list_release(&l);

	provider_free(p);
	free(state);
	return done_testing();
}
