/*
 * 3003: what the local provider can rent out: declared GPUs, CPU slots,
 * GPUs found by a fake nvidia-smi (the recorded H100) or a real one, the
 * price cap, offers, useful CAPACITY errors, allocation that holds
 * across threads, provider objects and processes, and config errors that
 * name the option.  Every process group a test starts is killed at exit.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
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

#define LABEL	"gr-0a1b2c-7"

static pid_t	 groups[256];
static size_t	 ngroups;
static pid_t	 main_pid;
static char	*tmp;		/* the test's dir, absolute */

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
nap_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
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

static void
track(const char *state, const char *id)
{
	pid_t	 pid = meta_pid(state, id);

	if (pid > 0 && ngroups < sizeof(groups) / sizeof(groups[0]))
		groups[ngroups++] = pid;
}

static bool
wait_contains(const char *path, const char *needle, long ms)
{
	int64_t	 end = clock_mono_ms() + ms;
	char	*s;
	bool	 found;

	for (;;) {
		found = false;
		if (file_read(path, 1 << 20, &s, NULL) == 0) {
			found = strstr(s, needle) != NULL;
			free(s);
		}
		if (found || clock_mono_ms() > end)
			return found;
		nap_ms(10);
	}
}

/* Until pid is gone or a zombie (5 s at most). */
static void
wait_dead(pid_t pid)
{
	int64_t	 end = clock_mono_ms() + 5000;
	char	*path = xasprintf("/proc/%ld/stat", (long)pid), *s, *p;
	bool	 dead;

	do {
		dead = true;
		if (file_read(path, 4096, &s, NULL) == 0) {
			p = strrchr(s, ')');
			dead = p != NULL && (p[2] == 'Z' || p[2] == 'X');
			free(s);
		}
		if (!dead)
			nap_ms(5);
	} while (!dead && clock_mono_ms() < end);
	free(path);
}

/* A fresh state dir under the test's dir. */
static char *
new_state(const char *name)
{
	char	*s = xasprintf("%s/%s", tmp, name);

	if (mkdir_p(s, 0700) == -1)
		bail_out("mkdir %s", s);
	return s;
}

/* opts: key, value, ..., NULL.  NULL and *e filled on failure. */
static struct provider *
local_try(const char *state, const char *const *opts, struct gr_err *e)
{
	struct provider_conf	 conf;
	struct provider		*p = NULL;
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
	gr_err_clear(e);
	if (provider_new(&conf, &p, e) == -1)
		return NULL;
	return p;
}

static struct provider *
local_new(const char *state, const char *const *opts)
{
	struct provider	*p;
	struct gr_err	 e;

	p = local_try(state, opts, &e);
	if (p == NULL)
		bail_out("provider_new local: %s", e.msg);
	return p;
}

static money_t
usd(const char *s)
{
	const char	*why;
	money_t		 m;

	if (!money_parse(s, &m, &why))
		bail_out("bad amount %s", s);
	return m;
}

static int
spawn_gpu(struct provider *p, const char *state, const char *addr,
    const char *type, int count, int minv, const char *max,
    struct instance *out, struct gr_err *e)
{
	struct gpu_req		 g;
	struct spawn_req	 r;
	int			 rc;

	memset(&g, 0, sizeof(g));
	g.type = (char *)type;
	g.count = count;
	g.min_vram_gb = minv;
	memset(&r, 0, sizeof(r));
	r.label = LABEL;
	r.address = addr;
	r.gpu = &g;
	r.max_price = usd(max);
	r.bootstrap = "echo \"cvd=[$CUDA_VISIBLE_DEVICES]\"\n"
	    "exec sleep 300\n";
	r.bootstrap_len = strlen(r.bootstrap);
	memset(out, 0, sizeof(*out));
	gr_err_clear(e);
	rc = provider_spawn(p, &r, out, e);
	if (rc == 0)
		track(state, out->id);
	return rc;
}

static int
spawn_cpu(struct provider *p, const char *state, const char *addr,
    struct instance *out, struct gr_err *e)
{
	return spawn_gpu(p, state, addr, GPU_CPU, 0, 0, "1", out, e);
}

/* Once the bootstrap has printed it: is CUDA_VISIBLE_DEVICES want? */
static bool
cvd_is(const char *state, const char *id, const char *want)
{
	char	*path, *needle, *s = NULL;
	bool	 r = false;

	path = xasprintf("%s/local/instances/%s/stdout.log", state, id);
	needle = xasprintf("cvd=[%s]\n", want);
	if (wait_contains(path, "]\n", 5000) &&
	    file_read(path, 1 << 20, &s, NULL) == 0)
		r = strstr(s, needle) != NULL;
	free(s);
	free(path);
	free(needle);
	return r;
}

static const struct offer *
offer_of(const struct offer_list *l, const char *gpu)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].gpu, gpu) == 0)
			return &l->v[i];
	return NULL;
}

/* available of gpu in offers(NULL); -1 when not offered. */
static int
avail(struct provider *p, const char *gpu)
{
	struct offer_list	 l = { NULL, 0 };
	const struct offer	*o;
	struct gr_err		 e;
	int			 n = -1;

	if (provider_offers(p, NULL, &l, &e) == -1) {
		diag("offers: %s", e.msg);
		return -2;
	}
	o = offer_of(&l, gpu);
	if (o != NULL)
		n = o->available;
	offer_list_release(&l);
	return n;
}

static void
config_error(const char *key, const char *value, const char *want,
    const char *what)
{
	const char *const	 opts[] = { key, value, NULL };
	struct provider		*p;
	struct gr_err		 e;
	char			*state = new_state("config");

	p = local_try(state, opts, &e);
	ok(p == NULL, "%s: refused", what);
	is_int(e.code, GR_E_CONFIG, "%s: CONFIG error", what);
	like(e.msg, want, "%s: the message says so", what);
	provider_free(p);
	free(state);
}

static void
test_config(void)
{
	struct gr_err	 e;
	static const char *const typo[] = { "price_per_hr", "1", NULL };

	config_error("price_per_hour", "cheap", "price_per_hour",
	    "a price that is not an amount");
	config_error("price_per_hour", "-1", "price_per_hour",
	    "a negative price");
	config_error("gpus", "RTX_4090", "is not TYPE:COUNT",
	    "gpus without a count");
	config_error("gpus", "RTX_409:1", "unknown GPU type 'RTX_409'",
	    "gpus with an unknown type");
	config_error("gpus", "RTX_4090:0", "bad count", "gpus with count 0");
	config_error("gpus", "CPU:2", "unknown GPU type 'CPU'",
	    "CPU is not a GPU");
	config_error("gpus", "A10:1,A10:2", "listed twice",
	    "a type listed twice");
	config_error("cpu_slots", "-1", "cpu_slots", "negative cpu_slots");
	config_error("cpu_slots", "four", "cpu_slots", "cpu_slots in words");
	config_error("stop_grace", "10", "stop_grace",
	    "stop_grace without a unit");
	config_error("keep_terminated", "forever", "keep_terminated",
	    "keep_terminated that is not a duration");
	config_error("nvidia_smi", "/nonexistent/nvidia-smi", "nvidia_smi",
	    "an nvidia_smi that is not there");
	config_error("price_per_hr", "1", "unknown option 'price_per_hr'",
	    "an unknown option");
	config_error("ssh", "yes", "not true or false", "ssh: yes");
	config_error("sshd", "sshd", "not an absolute path",
	    "a relative sshd");
	config_error("ssh_key", "", "ssh_key is empty", "an empty ssh_key");

	ok(local_try(tmp, typo, &e) == NULL, "the typo again, for its hint");
	like(e.hint, "price_per_hour", "the hint suggests price_per_hour");
	{
		static const char *const o[] = { "gpus", "RTX_409:1", NULL };

		ok(local_try(tmp, o, &e) == NULL, "RTX_409 again, for its "
		    "hint");
		like(e.hint, "RTX_4090", "the hint suggests RTX_4090");
	}
}

static void
test_declared(void)
{
	static const char *const opts[] = { "gpus", "RTX_4090:1",
	    "cpu_slots", "1", NULL };
	char			*state = new_state("declared");
	struct provider		*p = local_new(state, opts);
	struct offer_list	 ol = { NULL, 0 };
	const struct offer	*o;
	struct instance		 gpu, cpu, x;
	struct gr_err		 e;
	pid_t			 pid;

	is_int(provider_offers(p, NULL, &ol, &e), 0, "offers");
	is_int((long long)ol.n, 2, "two offers: RTX_4090 and CPU");
	o = offer_of(&ol, "RTX_4090");
	ok(o != NULL, "RTX_4090 offered");
	if (o != NULL) {
		is_str(o->id, "RTX_4090", "offer id is the type");
		is_int(o->available, 1, "one RTX_4090 available");
		is_int(o->vram_gb, 24, "with the catalog's 24 GB");
		is_int(o->gpu_count, 1, "one GPU per instance");
	}
	o = offer_of(&ol, GPU_CPU);
	ok(o != NULL && o->available == 1 && o->gpu_count == 0,
	    "one CPU slot offered");
	offer_list_release(&ol);

	is_int(spawn_gpu(p, state, "f/g/0", "RTX_4090", 1, 0, "1", &gpu, &e),
	    0, "first RTX_4090 spawn");
	is_str(gpu.gpu, "RTX_4090", "instance gpu");
	is_int(gpu.gpu_count, 1, "instance gpu_count");
	ok(cvd_is(state, gpu.id, "0"), "pinned: CUDA_VISIBLE_DEVICES=0");
	is_int(avail(p, "RTX_4090"), 0, "offers: none available now");

	is_int(spawn_gpu(p, state, "f/g/1", "RTX_4090", 1, 0, "1", &x, &e),
	    -1, "second RTX_4090 spawn fails");
	is_int(e.code, GR_E_CAPACITY, "with CAPACITY");
	is_str(e.msg, "spawn 'f/g/1' on local: no free RTX_4090 (1 of 1 in "
	    "use)", "the message names the slot, type and use");
	like(e.hint, "free an instance", "the hint says what to do");
	ok(gr_code_retryable(e.code), "CAPACITY is retryable");

	is_int(spawn_gpu(p, state, "f/h/0", "H100_SXM", 1, 0, "1", &x, &e),
	    -1, "a type the machine lacks fails");
	is_int(e.code, GR_E_CAPACITY, "with CAPACITY");
	like(e.msg, "no H100_SXM on this machine", "saying the machine has "
	    "none");
	like(e.hint, "RTX_4090 x1", "the hint says what it has");
	like(e.hint, "gpus", "and how to declare GPUs");

	is_int(spawn_gpu(p, state, "f/g/2", "RTX_4090", 2, 0, "1", &x, &e),
	    -1, "two GPUs per instance on a one-GPU machine");
	like(e.msg, "2 RTX_4090 per instance, this machine has 1",
	    "says it can never fit");
	like(e.hint, "lower the group's gpu count", "hint: lower the count");

	is_int(spawn_gpu(p, state, "f/g/3", "RTX_4090", 1, 48, "1", &x, &e),
	    -1, "more VRAM than the GPU has");
	like(e.msg, "no RTX_4090 with 48 GB (these have 24 GB)",
	    "says how much there is");

	is_int(spawn_gpu(p, state, "f/g/4", "RTX_4090", 0, 0, "1", &x, &e),
	    -1, "zero GPUs of a GPU type");
	is_int(e.code, GR_E_INVALID_SPEC, "is INVALID_SPEC");

	is_int(spawn_cpu(p, state, "f/c/0", &cpu, &e), 0, "CPU spawn");
	ok(cvd_is(state, cpu.id, ""), "CPU slot: CUDA_VISIBLE_DEVICES empty");
	is_int(spawn_cpu(p, state, "f/c/1", &x, &e), -1, "second CPU spawn "
	    "with cpu_slots 1");
	is_int(e.code, GR_E_CAPACITY, "CAPACITY");
	is_str(e.msg, "spawn 'f/c/1' on local: no free CPU slot (1 of 1 in "
	    "use)", "the message counts the slots");
	like(e.hint, "cpu_slots", "the hint names cpu_slots");
	is_int(avail(p, GPU_CPU), 0, "offers: no CPU slot left");

	is_int(provider_terminate(p, gpu.id, &e), 0, "terminate the GPU one");
	is_int(avail(p, "RTX_4090"), 1, "the GPU is free again");
	instance_release(&gpu);
	is_int(spawn_gpu(p, state, "f/g/5", "RTX_4090", 1, 0, "1", &gpu, &e),
	    0, "and can be rented again");

	/* a crashed instance frees its GPU */
	pid = meta_pid(state, gpu.id);
	(void)kill(pid, SIGKILL);
	wait_dead(pid);
	is_int(avail(p, "RTX_4090"), 1, "a crashed instance holds no GPU");
	is_int(spawn_gpu(p, state, "f/g/6", "RTX_4090", 1, 0, "1", &x, &e),
	    0, "so the next spawn gets it");
	ok(cvd_is(state, x.id, "0"), "GPU 0 again");
	is_int(provider_terminate(p, x.id, &e), 0, "terminate it");
	is_int(provider_terminate(p, gpu.id, &e), 0, "terminate the crashed "
	    "one");
	is_int(provider_terminate(p, cpu.id, &e), 0, "terminate the CPU one");
	instance_release(&x);
	instance_release(&gpu);
	instance_release(&cpu);
	provider_free(p);
	free(state);
}

static void
test_price(void)
{
	static const char *const opts[] = { "price_per_hour", "0.50",
	    "gpus", "none", NULL };
	char			*state = new_state("price");
	struct provider		*p = local_new(state, opts);
	struct offer_list	 ol = { NULL, 0 };
	struct instance		 in;
	struct gr_err		 e;

	is_int(spawn_gpu(p, state, "f/p/0", GPU_CPU, 0, 0, "0.40", &in, &e),
	    -1, "max price under the local price");
	is_int(e.code, GR_E_CAPACITY, "CAPACITY");
	is_str(e.msg, "spawn 'f/p/0' on local: no offer under $0.40/h",
	    "no offer under the cap");
	like(e.hint, "price_per_hour", "the hint names price_per_hour");
	is_int(spawn_gpu(p, state, "f/p/1", GPU_CPU, 0, 0, "0.50", &in, &e),
	    0, "max price equal to the local price");
	is_int(in.price, 500000, "billed at price_per_hour");
	is_int(provider_offers(p, NULL, &ol, &e), 0, "offers");
	ok(ol.n == 1 && ol.v[0].price == 500000, "offers carry the price");
	offer_list_release(&ol);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	instance_release(&in);
	provider_free(p);
	free(state);
}

struct sarg {
	struct provider	*p;
	const char	*state;
	const char	*type;
	int		 rc;
	enum gr_code	 code;
	char		*id;
};

static void *
spawn_thread(void *arg)
{
	struct sarg	*a = arg;
	struct instance	 in;
	struct gr_err	 e;

	a->rc = spawn_gpu(a->p, a->state, "f/t/0", a->type,
	    strcmp(a->type, GPU_CPU) == 0 ? 0 : 1, 0, "1", &in, &e);
	a->code = e.code;
	if (a->rc == 0) {
		a->id = xstrdup(in.id);
		instance_release(&in);
	}
	return NULL;
}

static void
race(struct provider **ps, const char *state, const char *type,
    const char *what)
{
	struct sarg	 a[4];
	pthread_t	 th[4];
	struct gr_err	 e;
	int		 i, won = 0, full = 0;
	bool		 cvd0 = false, cvd1 = false;

	memset(a, 0, sizeof(a));
	for (i = 0; i < 4; i++) {
		a[i].p = ps[i % 2];
		a[i].state = state;
		a[i].type = type;
		pthread_create(&th[i], NULL, spawn_thread, &a[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++) {
		if (a[i].rc == 0) {
			won++;
			if (strcmp(type, GPU_CPU) != 0) {
				cvd0 |= cvd_is(state, a[i].id, "0");
				cvd1 |= cvd_is(state, a[i].id, "1");
			}
		} else if (a[i].code == GR_E_CAPACITY)
			full++;
	}
	is_int(won, 2, "%s: exactly 2 of 4 spawns succeed", what);
	is_int(full, 2, "%s: the other 2 get CAPACITY", what);
	if (strcmp(type, GPU_CPU) != 0)
		ok(cvd0 && cvd1, "%s: the winners got GPUs 0 and 1", what);
	for (i = 0; i < 4; i++) {
		if (a[i].id != NULL && provider_terminate(ps[0], a[i].id,
		    &e) == -1)
			diag("terminate %s: %s", a[i].id, e.msg);
		free(a[i].id);
	}
}

static void
test_concurrency(void)
{
	static const char *const gopts[] = { "gpus", "RTX_4090:2",
	    "cpu_slots", "2", NULL };
	char			*state = new_state("race");
	struct provider		*ps[2];
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	int			 i, st, won = 0, full = 0, res[2];
	size_t			 j;
	pid_t			 kids[3];
	char			 c;

	ps[0] = ps[1] = local_new(state, gopts);
	race(ps, state, "RTX_4090", "4 threads, 2 GPUs");
	race(ps, state, GPU_CPU, "4 threads, 2 CPU slots");
	ps[1] = local_new(state, gopts);
	race(ps, state, GPU_CPU, "2 providers x 2 threads, 2 CPU slots");
	provider_free(ps[1]);

	/*
	 * 3 processes at once: the flock decides.  Each says how it went
	 * on a pipe: its exit status belongs to valgrind when under it.
	 */
	if (pipe(res) == -1)
		bail_out("pipe");
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 3; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct provider	*cp = local_new(state, gopts);
			struct instance	 in;

			close(res[0]);
			c = spawn_cpu(cp, state, "f/x/0", &in, &e) == 0 ?
			    'y' : e.code == GR_E_CAPACITY ? 'n' : '?';
			if (c == '?')
				diag("child spawn: %s: %s",
				    gr_code_name(e.code), e.msg);
			fflush(stdout);
			if (c == 'y')
				instance_release(&in);
			provider_free(cp);
			if (write(res[1], &c, 1) != 1)
				_exit(1);
			_exit(0);
		}
	}
	close(res[1]);
	for (i = 0; i < 3; i++)
		waitpid(kids[i], &st, 0);
	while (read(res[0], &c, 1) == 1) {
		won += c == 'y';
		full += c == 'n';
	}
	close(res[0]);
	is_int(full, 1, "3 processes, 2 CPU slots: one gets CAPACITY");
	is_int(won, 2, "3 processes, 2 CPU slots: exactly 2 succeed");
	is_int(provider_list(ps[0], &l, &e), 0, "list");
	is_int((long long)l.n, 2, "2 instances exist");
	for (j = 0; j < l.n; j++) {
		track(state, l.v[j].id);
		if (provider_terminate(ps[0], l.v[j].id, &e) == -1)
			diag("terminate: %s", e.msg);
	}
	instance_list_release(&l);
	provider_free(ps[0]);
	free(state);
}

static char *
script(const char *name, const char *body)
{
	char	*path;

	path = test_write(tmp, name, body);
	if (chmod(path, 0755) == -1)
		bail_out("chmod %s", path);
	return path;
}

static void
test_fake_nvsmi(void)
{
	char			*state = new_state("nvsmi");
	char			*fix, *body, *prog, *count;
	const char		*opts[] = { "nvidia_smi", NULL, "cpu_slots",
	    "1", NULL };
	struct provider		*p;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 req;
	const struct offer	*o;
	struct instance		 in, x;
	struct gr_err		 e;
	char			*runs;

	fix = test_src_path("t/data/nvidia-smi-h100/nvidia-smi-query.csv");
	count = xasprintf("%s/nvsmi-runs", tmp);
	body = xasprintf("#!/bin/sh\n"
	    "echo run >> '%s'\n"
	    "[ \"$1\" = --query-gpu=index,uuid,name,memory.total ] &&\n"
	    "[ \"$2\" = --format=csv,noheader,nounits ] && [ $# = 2 ] ||\n"
	    "{ echo \"bad arguments: $*\" >&2; exit 9; }\n"
	    "exec cat '%s'\n", count, fix);
	prog = script("nvidia-smi-h100", body);
	opts[1] = prog;
	p = local_new(state, opts);

	is_int(provider_offers(p, NULL, &ol, &e), 0, "offers with the fake "
	    "nvidia-smi");
	o = offer_of(&ol, "H100_SXM");
	ok(o != NULL, "the recorded H100 is offered as H100_SXM");
	if (o != NULL) {
		is_int(o->available, 1, "one available");
		ok(o->vram_gb == 79 || o->vram_gb == 80, "vram 79/80 GB (%d)",
		    o->vram_gb);
	}
	offer_list_release(&ol);
	memset(&req, 0, sizeof(req));
	req.type = (char *)"H100_SXM";
	req.count = 1;
	req.min_vram_gb = 80;
	is_int(provider_offers(p, &req, &ol, &e), 0, "offers for H100_SXM "
	    "with 80 GB");
	ok(ol.n == 1 && strcmp(ol.v[0].gpu, "H100_SXM") == 0,
	    "only the H100 is offered then");
	offer_list_release(&ol);
	req.type = (char *)"A100_80GB";
	is_int(provider_offers(p, &req, &ol, &e), 0, "offers for a type it "
	    "lacks");
	is_int((long long)ol.n, 0, "nothing offered, no error");
	offer_list_release(&ol);

	is_int(spawn_gpu(p, state, "t/h/0", "H100_SXM", 1, 80, "1", &in, &e),
	    0, "spawn on the H100 asking 80 GB");
	ok(cvd_is(state, in.id, "0"), "pinned: CUDA_VISIBLE_DEVICES=0");
	is_int(spawn_gpu(p, state, "t/h/1", "H100_SXM", 1, 0, "1", &x, &e),
	    -1, "a second H100 spawn fails");
	like(e.msg, "no free H100_SXM (1 of 1 in use)", "CAPACITY, in use");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	instance_release(&in);
	runs = NULL;
	ok(file_read(count, 4096, &runs, NULL) == 0 && runs != NULL &&
	    strcmp(runs, "run\n") == 0, "nvidia-smi ran once for all that");
	free(runs);
	provider_free(p);
	free(body);
	free(prog);

	/* a broken nvidia-smi named in the config is an error */
	prog = script("nvidia-smi-broken", "#!/bin/sh\n"
	    "echo 'NVIDIA-SMI has failed because it could not communicate "
	    "with the NVIDIA driver' >&2\nexit 3\n");
	opts[1] = prog;
	p = local_new(state, opts);
	is_int(provider_offers(p, NULL, &ol, &e), -1, "offers with a failing "
	    "nvidia-smi fail");
	like(e.msg, "exited 3: NVIDIA-SMI has failed", "saying how it "
	    "failed");
	like(e.hint, "nvidia_smi", "the hint names the option");
	is_int(spawn_cpu(p, state, "t/c/0", &x, &e), -1, "so does a spawn");
	provider_free(p);
	free(prog);

	prog = script("nvidia-smi-garbage", "#!/bin/sh\necho garbage\n");
	opts[1] = prog;
	p = local_new(state, opts);
	is_int(provider_offers(p, NULL, &ol, &e), -1, "garbage output is an "
	    "error");
	like(e.msg, "nvidia-smi output line 1", "naming the line");
	provider_free(p);
	free(prog);

	prog = script("nvidia-smi-odd", "#!/bin/sh\n"
	    "echo '0, GPU-1, NVIDIA Imaginary X1, 16384'\n");
	opts[1] = prog;
	p = local_new(state, opts);
	is_int(provider_offers(p, NULL, &ol, &e), 0, "a GPU the catalog "
	    "does not know");
	ok(offer_of(&ol, "NVIDIA Imaginary X1") != NULL, "is offered by its "
	    "raw name");
	offer_list_release(&ol);
	is_int(spawn_gpu(p, state, "t/o/0", "RTX_4090", 1, 0, "1", &x, &e),
	    -1, "and a canonical name does not get it");
	is_int(e.code, GR_E_CAPACITY, "CAPACITY");
	provider_free(p);
	free(prog);
	free(fix);
	free(count);
	free(state);
}

/* No nvidia-smi on PATH: no GPUs, and no error. */
static void
test_no_nvsmi(void)
{
	char			*state = new_state("nonvsmi");
	char			*empty = new_state("emptybin");
	char			*old = xstrdup(getenv("PATH") != NULL ?
	    getenv("PATH") : "/usr/bin:/bin");
	struct provider		*p = local_new(state, NULL);
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 e;

	setenv("PATH", empty, 1);
	is_int(provider_offers(p, NULL, &ol, &e), 0, "offers without "
	    "nvidia-smi work");
	ok(ol.n == 1 && strcmp(ol.v[0].gpu, GPU_CPU) == 0, "only CPU is "
	    "offered");
	ok(ol.n == 1 && ol.v[0].available >= 1, "with the machine's CPUs");
	setenv("PATH", old, 1);
	offer_list_release(&ol);
	provider_free(p);
	free(old);
	free(empty);
	free(state);
}

/* On a machine with NVIDIA GPUs, the real thing. */
static void
test_real_nvsmi(void)
{
	char			*state = new_state("real");
	struct provider		*p;
	struct offer_list	 ol = { NULL, 0 };
	struct instance		 in;
	struct gr_err		 e;
	const struct offer	*o = NULL;
	size_t			 i;

	if (test_run(NULL, NULL, "nvidia-smi -L") != 0) {
		skip(4, "no working nvidia-smi here");
		free(state);
		return;
	}
	p = local_new(state, NULL);
	is_int(provider_offers(p, NULL, &ol, &e), 0, "offers from the real "
	    "nvidia-smi");
	for (i = 0; i < ol.n; i++) {
		diag("offer %s x%d, %d GB, %d available", ol.v[i].gpu,
		    ol.v[i].gpu_count, ol.v[i].vram_gb, ol.v[i].available);
		if (o == NULL && strcmp(ol.v[i].gpu, GPU_CPU) != 0 &&
		    ol.v[i].available > 0)
			o = &ol.v[i];
	}
	ok(o != NULL, "at least one GPU offered");
	if (o == NULL) {
		skip(2, "no GPU offer");
	} else {
		is_int(spawn_gpu(p, state, "r/g/0", o->gpu, 1, 0, "1", &in,
		    &e), 0, "spawn on a real %s", o->gpu);
		ok(in.id != NULL && !cvd_is(state, in.id, ""),
		    "pinned to a GPU");
		if (in.id != NULL)
			(void)provider_terminate(p, in.id, &e);
		instance_release(&in);
	}
	offer_list_release(&ol);
	provider_free(p);
	free(state);
}

int
main(void)
{
	plan_lazy();
	main_pid = getpid();
	tmp = realpath(test_tmpdir(), NULL);
	atexit(kill_groups);

	test_config();
	test_declared();
	test_price();
	test_concurrency();
	test_fake_nvsmi();
	test_no_nvsmi();
	test_real_nvsmi();
	free(tmp);
	return done_testing();
}
