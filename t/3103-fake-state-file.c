/*
 * 3103: the fake provider's options and its state file: settings from
 * the config's options, bad options named in GR_E_CONFIG errors, and one
 * fake cloud shared through a state file by several providers, threads
 * and processes.
 */
#include <sys/wait.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define T0	((int64_t)1767225600000)	/* 2026-01-01T00:00:00Z */
#define SEC	((int64_t)1000)
#define MIN	(60 * SEC)

static int
fake_try(const struct kv *opts, size_t n, struct provider **p,
    struct gr_err *e)
{
	struct provider_conf	 conf;

	memset(&conf, 0, sizeof(conf));
	conf.name = "fake";
	conf.ledger_id = "0a1b2c";
	conf.options = opts;
	conf.noptions = n;
	provider_timeouts_default(&conf.timeouts);
	return provider_new(&conf, p, e);
}

static struct provider *
fake_new(const struct kv *opts, size_t n)
{
	struct provider	*p;
	struct gr_err	 e;

	if (fake_try(opts, n, &p, &e) == -1)
		bail_out("provider_new fake: %s", e.msg);
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
spawn(struct provider *p, const char *label, const char *gpu,
    const char *max, struct instance *out, struct gr_err *e)
{
	struct gpu_req		 g;
	struct spawn_req	 r;

	memset(&g, 0, sizeof(g));
	g.type = (char *)gpu;
	g.count = 1;
	memset(&r, 0, sizeof(r));
	r.label = label;
	r.address = "train/worker/0";
	r.gpu = &g;
	r.max_price = usd(max);
	return provider_spawn(p, &r, out, e);
}

static size_t
list_count(struct provider *p)
{
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	size_t			 n;

	if (provider_list(p, &l, &e) == -1) {
		diag("list: %s", e.msg);
		return (size_t)-1;
	}
	n = l.n;
	instance_list_release(&l);
	return n;
}

static void
test_options(void)
{
	struct kv		 opts[] = {
		{ "boot_ms", "60000" },
		{ "capacity", "RTX_4090:1, H100_SXM:0" },
		{ "price", "RTX_4090:0.50,L4:0.3" },
		{ "faults", "spawn:CAPACITY:1, "
		    "terminate:TRANSIENT:1:after_apply,"
		    "list:RATE_LIMIT:1:retry_after_ms=2500,"
		    "spawn:QUOTA_EXCEEDED:1:gpu=A100_80GB" },
		{ "list_delay_ms", "1000" },
		{ "teardown_ms", "5000" },
		{ "latency_ms", "10" },
	};
	struct provider		*p;
	struct instance		 in;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct gr_err		 e;
	char			*id;
	int64_t			 t;

	clock_use_virtual(T0);
	p = fake_new(opts, nitems(opts));
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), -1,
	    "faults option: the first spawn fails");
	is_int(e.code, GR_E_CAPACITY, "faults option: its code");
	t = clock_now_ms();
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "the second spawn works");
	is_int(clock_now_ms() - t, 10, "latency_ms option");
	is_int(in.state, INST_PENDING, "boot_ms option: PENDING");
	instance_release(&in);
	is_int(spawn(p, "gr-0a1b2c-5", "A100_80GB", "5", &in, &e), -1,
	    "faults option with gpu=: its type fails");
	is_int(e.code, GR_E_QUOTA_EXCEEDED, "faults option with gpu=: code");
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "the earlier spawn again");
	is_int(in.price, usd("0.50"), "price option");
	id = in.id;
	in.id = NULL;
	instance_release(&in);
	memset(&g, 0, sizeof(g));
	g.type = "RTX_4090";
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers");
	ok(ol.n == 1 && ol.v[0].available == 1,
	    "capacity option: one slot left, in the other region");
	offer_list_release(&ol);
	g.type = "H100_SXM";
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers for H100_SXM");
	is_int(ol.n, 0, "capacity option: none at all");
	offer_list_release(&ol);
	g.type = "L4";
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers for L4");
	ok(ol.n == 2 && ol.v[0].price == usd("0.30"),
	    "price option for a second type");
	offer_list_release(&ol);
	is_int(list_count(p), (size_t)-1, "faults option: list rate limited");
	is_int(list_count(p), 0, "list_delay_ms option hides it at first");
	clock_advance_ms(60 * SEC);
	is_int(list_count(p), 1, "then it shows");
	is_int(provider_terminate(p, id, &e), -1,
	    "faults option: terminate reply lost");
	ok(e.outcome_unknown, "after_apply from the option");
	is_int(provider_get(p, id, &in, &e), 0, "get during teardown");
	is_int(in.state, INST_STOPPING, "teardown_ms option: STOPPING");
	instance_release(&in);
	clock_advance_ms(5 * SEC);
	is_int(provider_get(p, id, &in, &e), -1, "get after teardown");
	is_int(e.code, GR_E_NOT_FOUND, "gone after teardown_ms");
	free(id);
	provider_free(p);
}

static void
bad_option(const char *key, const char *val, const char *want)
{
	struct kv	 opt = { (char *)key, (char *)val };
	struct provider	*p = NULL;
	struct gr_err	 e;
	int		 rc;

	rc = fake_try(&opt, 1, &p, &e);
	ok(rc == -1 && p == NULL && e.code == GR_E_CONFIG,
	    "%s=%s: GR_E_CONFIG", key, val);
	like(e.msg, want, "%s=%s: the message names it", key, val);
	is_str(e.provider, "fake", "%s=%s: the provider is named", key, val);
	if (rc == 0)
		provider_free(p);
}

static void
test_bad_options(void)
{
	struct kv	 two[] = { { "boot_ms", "1" }, { "boot_ms", "2" } };
	struct kv	 typo = { "boot_sm", "1" };
	struct provider	*p = NULL;
	struct gr_err	 e;

	bad_option("boot_ms", "abc", "'boot_ms'");
	bad_option("boot_ms", "-5", "'boot_ms'");
	bad_option("list_delay_ms", "1s", "'list_delay_ms'");
	bad_option("teardown_ms", "", "'teardown_ms'");
	bad_option("latency_ms", "x", "'latency_ms'");
	bad_option("capacity", "RTX_4090", "'capacity'");
	bad_option("capacity", "NOPE:1", "unknown gpu type");
	bad_option("capacity", "RTX_4090:-1", "'capacity'");
	bad_option("price", "RTX_4090:$1", "'price'");
	bad_option("price", "RTX_4090:0.1234567", "'price'");
	bad_option("faults", "spwn:CAPACITY:1", "unknown operation");
	bad_option("faults", "spawn:NOPE:1", "unknown error code");
	bad_option("faults", "spawn:OK:1", "unknown error code");
	bad_option("faults", "spawn:CAPACITY:0", "times");
	bad_option("faults", "spawn:CAPACITY", "'faults'");
	bad_option("faults", "spawn:CAPACITY:1:bogus", "'faults'");
	bad_option("teardown_stuck", "2", "'teardown_stuck'");
	bad_option("state_file", "", "'state_file'");
	bad_option("boot_sm", "1", "unknown option 'boot_sm'");
	is_int(fake_try(&typo, 1, &p, &e), -1, "a misspelt option");
	like(e.hint, "boot_ms", "a misspelt option: did you mean");
	is_int(fake_try(two, 2, &p, &e), -1, "an option given twice");
	like(e.msg, "twice", "an option given twice: message");
}

static void
test_stuck_option(void)
{
	struct kv	 opt = { "teardown_stuck", "1" };
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;

	clock_use_virtual(T0);
	p = fake_new(&opt, 1);
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "teardown_stuck: spawn");
	is_int(provider_terminate(p, in.id, &e), 0,
	    "teardown_stuck: terminate");
	clock_advance_ms(24 * 60 * MIN);
	is_int(fake_billing_count(p), 1, "teardown_stuck option: still billing "
	    "a day later");
	instance_release(&in);
	provider_free(p);
}

static char *
state_path(const char *name)
{
	return xasprintf("%s/%s", test_tmpdir(), name);
}

static void
test_shared(void)
{
	struct kv		 opt = { "state_file", NULL };
	struct provider		*p1, *p2, *p3;
	struct instance		 in;
	struct gr_err		 e;
	char			*text = NULL;

	clock_use_virtual(T0);
	opt.value = state_path("shared.json");
	p1 = fake_new(&opt, 1);
	p2 = fake_new(&opt, 1);
	ok(access(opt.value, F_OK) == 0, "the state file is made at init");
	is_int(spawn(p1, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "spawn on the first provider");
	is_str(in.id, "fake-1", "it is fake-1");
	instance_release(&in);
	is_int(list_count(p2), 1, "the second provider lists it");
	is_int(spawn(p2, "gr-0a1b2c-2", "RTX_4090", "1", &in, &e), 0,
	    "spawn on the second provider");
	is_str(in.id, "fake-2", "ids continue across providers");
	instance_release(&in);
	is_int(spawn(p2, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "spawn the first label again on the second");
	is_str(in.id, "fake-1", "idempotent across providers");
	instance_release(&in);
	is_int(provider_terminate(p2, "fake-1", &e), 0,
	    "terminate on the second");
	is_int(provider_get(p1, "fake-1", &in, &e), -1, "get on the first");
	is_int(e.code, GR_E_NOT_FOUND, "the first sees it gone");
	fake_set_boot_ms(p1, 30 * SEC);
	is_int(spawn(p2, "gr-0a1b2c-3", "RTX_4090", "1", &in, &e), 0,
	    "spawn after a knob on the other provider");
	is_int(in.state, INST_PENDING, "knobs are shared state too");
	instance_release(&in);
	p3 = fake_new(&opt, 1);
	is_int(list_count(p3), 2, "a provider made later loads the state");
	ok(file_read(opt.value, 1 << 20, &text, NULL) == 0 &&
	    strstr(text, "\"instances\"") != NULL &&
	    strstr(text, "gr-0a1b2c-3") != NULL,
	    "the state file is JSON with the instances");
	free(text);
	provider_free(p3);
	provider_free(p2);
	provider_free(p1);
	free(opt.value);
}

static void
test_seed(void)
{
	struct kv	 opts[] = {
		{ "state_file", NULL },
		{ "faults", "spawn:CAPACITY:1" },
	};
	struct kv	 opts2[] = {
		{ "state_file", NULL },
		{ "faults", "spawn:AUTH:1" },
	};
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;

	clock_use_virtual(T0);
	opts[0].value = opts2[0].value = state_path("seed.json");
	p = fake_new(opts, nitems(opts));
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), -1,
	    "seeded fault fires");
	provider_free(p);
	p = fake_new(opts, nitems(opts));
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", &in, &e), 0,
	    "same options again: the fault stays used up");
	instance_release(&in);
	provider_free(p);
	p = fake_new(opts2, nitems(opts2));
	is_int(spawn(p, "gr-0a1b2c-2", "RTX_4090", "1", &in, &e), -1,
	    "changed options re-seed the settings");
	is_int(e.code, GR_E_AUTH, "with the new fault");
	is_int(list_count(p), 1, "and keep the instances");
	provider_free(p);
	free(opts[0].value);
}

static void
test_bad_file(void)
{
	struct kv	 opt = { "state_file", NULL };
	struct provider	*p = NULL;
	struct gr_err	 e;
	char		*path;

	path = test_write(test_tmpdir(), "bad.json", "{\"version\": 1,");
	opt.value = path;
	is_int(fake_try(&opt, 1, &p, &e), -1, "a corrupt state file");
	is_int(e.code, GR_E_IO, "corrupt: GR_E_IO");
	like(e.msg, "bad.json", "corrupt: names the file");
	free(path);
	path = test_write(test_tmpdir(), "v9.json", "{\"version\": 9}");
	opt.value = path;
	is_int(fake_try(&opt, 1, &p, &e), -1, "a state file of another "
	    "version");
	like(e.msg, "version 9", "other version: says so");
	free(path);
	path = state_path("adir");
	if (mkdir_p(path, 0700) == -1)
		bail_out("mkdir %s", path);
	opt.value = path;
	is_int(fake_try(&opt, 1, &p, &e), -1, "a state file that is a "
	    "directory");
	is_int(e.code, GR_E_IO, "a directory: GR_E_IO");
	free(path);
	path = test_write(test_tmpdir(), "empty.json", "");
	opt.value = path;
	is_int(fake_try(&opt, 1, &p, &e), 0, "an empty file starts afresh");
	provider_free(p);
	free(path);
}

/* Replace the first from with to in a copy of s (owned), or bail out. */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char	*at = strstr(s, from);
	struct buf	 b = BUF_INIT;

	if (at == NULL)
		bail_out("'%s' not in the state file", from);
	buf_add(&b, s, (size_t)(at - s));
	buf_adds(&b, to);
	buf_adds(&b, at + strlen(from));
	return buf_detach(&b);
}

static void
test_round_trip_and_corruption(void)
{
	static const struct {
		const char	*from, *to, *want;
	} cases[] = {
		{ "\"version\": 1", "\"version\": \"1\"", "'version'" },
		{ "\"next_id\": 2", "\"next_id\": 0", "'next_id'" },
		{ "\"teardown_stuck\": false", "\"teardown_stuck\": 0",
		  "'teardown_stuck'" },
		{ "\"T4\": 1", "\"T5\": 1", "'T5'" },
		{ "\"T4\": 1", "\"T4\": -1", "'T4'" },
		{ "\"faults\": [", "\"faults\": 5, \"x\": [", "'faults'" },
		{ "\"instances\": [", "\"instances\": 5, \"x\": [",
		  "'instances'" },
		{ "\"op\": \"spawn\"", "\"op\": \"fly\"", "'op'" },
		{ "\"code\": \"CAPACITY\"", "\"code\": \"OK\"", "'code'" },
		{ "\"times\": 2", "\"times\": -2", "'times'" },
		{ "\"gpu\": \"T4\"", "\"gpu\": 4", "'gpu'" },
		{ "\"gpu_count\": 1", "\"gpu_count\": 99", "'gpu_count'" },
		{ "\"phase\": \"active\"", "\"phase\": \"flying\"",
		  "'phase'" },
		{ "\"label\": \"gr-0a1b2c-1\"", "\"label\": 5", "'label'" },
		{ "\"spot\": false", "\"spot\": null", "'spot'" },
	};
	struct kv		 opt = { "state_file", NULL };
	struct kv		 broken = { "state_file", NULL };
	struct fake_fault	 ff;
	struct provider		*p1, *p2 = NULL;
	struct instance		 in;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct gr_err		 e;
	char			*text = NULL, *bad, *path;
	size_t			 i;

	clock_use_virtual(T0);
	opt.value = state_path("trip.json");
	p1 = fake_new(&opt, 1);
	fake_set_capacity(p1, "T4", 1);
	fake_set_price(p1, "T4", usd("0.11"));
	memset(&ff, 0, sizeof(ff));
	ff.op = PROV_OP_SPAWN;
	ff.code = GR_E_CAPACITY;
	ff.times = 3;
	ff.retry_after_ms = -1;
	ff.gpu = "T4";
	fake_fault_add(p1, &ff);
	fake_faults_clear(p1);
	fake_fault_add(p1, &ff);
	p2 = fake_new(&opt, 1);
	is_int(spawn(p2, "gr-0a1b2c-1", "T4", "1", &in, &e), -1,
	    "a gpu-filtered fault crosses the state file");
	is_int(spawn(p2, "gr-0a1b2c-1", "L4", "1", &in, &e), 0,
	    "and spares other types");
	instance_release(&in);
	memset(&g, 0, sizeof(g));
	g.type = "T4";
	g.count = 1;
	is_int(provider_offers(p2, &g, &ol, &e), 0, "offers via the file");
	ok(ol.n == 2 && ol.v[0].available == 1 &&
	    ol.v[0].price == usd("0.11"),
	    "capacity and price knobs cross the state file");
	offer_list_release(&ol);
	provider_free(p2);
	provider_free(p1);

	/* the file now holds every kind of field; break them one by one */
	if (file_read(opt.value, 1 << 20, &text, NULL) == -1)
		bail_out("read %s", opt.value);
	for (i = 0; i < nitems(cases); i++) {
		bad = replace(text, cases[i].from, cases[i].to);
		path = test_write(test_tmpdir(), "broken.json", bad);
		broken.value = path;
		ok(fake_try(&broken, 1, &p2, &e) == -1 && e.code == GR_E_IO,
		    "state file with %s: GR_E_IO", cases[i].to);
		like(e.msg, cases[i].want, "state file with %s: names it",
		    cases[i].to);
		free(bad);
		free(path);
	}
	free(text);
	free(opt.value);
}

static void
test_save_failure(void)
{
	struct kv	 opt = { "state_file", NULL };
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	char		*dir;

	clock_use_virtual(T0);
	dir = state_path("doomed");
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir %s", dir);
	opt.value = xasprintf("%s/fake.json", dir);
	p = fake_new(&opt, 1);
	rmtree(dir);
	is_int(spawn(p, "gr-0a1b2c-1", "T4", "1", &in, &e), -1,
	    "spawn when the state cannot be saved");
	is_int(e.code, GR_E_IO, "unsaved state: GR_E_IO");
	like(e.msg, "fake.json", "unsaved state: names the file");
	ok(in.id == NULL, "unsaved state: no instance returned");
	fake_set_boot_ms(p, 1);		/* warns, does not crash */
	provider_free(p);
	free(opt.value);
	free(dir);
}

#define NTHREADS	4
#define PER_THREAD	15

struct worker {
	char	*path;
	int	 base;
	int	 failures;
};

static void *
worker_run(void *arg)
{
	struct worker	*w = arg;
	struct kv	 opt = { "state_file", w->path };
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	char		 label[64];
	int		 i;

	if (fake_try(&opt, 1, &p, &e) == -1) {
		w->failures = PER_THREAD;
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		(void)snprintf(label, sizeof(label), "gr-0a1b2c-%d",
		    w->base + i);
		if (spawn(p, label, "T4", "1", &in, &e) == -1)
			w->failures++;
		else
			instance_release(&in);
	}
	provider_free(p);
	return NULL;
}

static void
test_concurrent(void)
{
	struct kv		 opt = { "state_file", NULL };
	struct worker		 w[NTHREADS];
	pthread_t		 th[NTHREADS];
	struct provider		*p;
	struct instance_list	 l = { NULL, 0 };
	struct instance		 in;
	struct gr_err		 e;
	pid_t			 pid;
	int			 i, st, failures = 0;
	size_t			 j, k;
	bool			 unique = true;

	clock_use_virtual(T0);
	opt.value = state_path("busy.json");
	for (i = 0; i < NTHREADS; i++) {
		w[i].path = opt.value;
		w[i].base = 1 + i * PER_THREAD;
		w[i].failures = 0;
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
			bail_out("pthread_create");
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "threads with their own providers: all spawned");

	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork");
	if (pid == 0) {
		struct provider	*cp;

		if (fake_try(&opt, 1, &cp, &e) == -1)
			_exit(1);
		if (spawn(cp, "gr-0a1b2c-1000", "T4", "1", &in, &e) == -1)
			_exit(2);
		instance_release(&in);
		provider_free(cp);
		_exit(0);
	}
	is_int(waitpid(pid, &st, 0), pid, "the child process ran");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the child spawned through the same state file");

	p = fake_new(&opt, 1);
	is_int(provider_list(p, &l, &e), 0, "list the shared cloud");
	is_int(l.n, NTHREADS * PER_THREAD + 1,
	    "every thread's and the child's instances are there");
	for (j = 0; j < l.n; j++)
		for (k = j + 1; k < l.n; k++)
			if (strcmp(l.v[j].id, l.v[k].id) == 0)
				unique = false;
	ok(unique, "no id was handed out twice");
	ok(instance_list_find(&l, "fake-61") != NULL,
	    "the child's instance is fake-61");
	instance_list_release(&l);
	provider_free(p);
	free(opt.value);
}

int
main(void)
{
	log_init(0, false, "3103");
	plan_lazy();
	test_options();
	test_bad_options();
	test_stuck_option();
	test_shared();
	test_seed();
	test_bad_file();
	test_round_trip_and_corruption();
	test_save_failure();
	test_concurrent();
	return done_testing();
}
