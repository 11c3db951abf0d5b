/*
 * 3101: the fake provider's instance life cycle, driven through the
 * wrappers on a virtual clock: boot, billing to the micro-dollar,
 * idempotent spawn, list and get, teardown delays, hung terminations,
 * stop and start, offers and regions, latency and threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakelib.h"

static int
spawn_ex(struct provider *p, const char *label, const char *gpu,
    const char *max, const char *const *regions, size_t nregions,
    const struct offer *offer, struct instance *out, struct gr_err *e)
{
	return fake_spawn(p, label, gpu, max, false, regions, nregions, offer,
	    out, e);
}

static int
spawn(struct provider *p, const char *label, const char *gpu,
    const char *max, struct instance *out, struct gr_err *e)
{
	return spawn_ex(p, label, gpu, max, NULL, 0, NULL, out, e);
}

/* get id and return its state; TERMINATED stands for NOT_FOUND here. */
static enum inst_state
state_of(struct provider *p, const char *id, bool *billing)
{
	struct instance	 in;
	struct gr_err	 e;
	enum inst_state	 s;

	if (provider_get(p, id, &in, &e) == -1) {
		if (e.code != GR_E_NOT_FOUND)
			diag("get %s: %s", id, e.msg);
		if (billing != NULL)
			*billing = false;
		return INST_TERMINATED;
	}
	s = in.state;
	if (billing != NULL)
		*billing = in.billing;
	instance_release(&in);
	return s;
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
test_caps(void)
{
	struct provider	*p = fake_new();

	ok(provider_ops_find("fake") == &fake_provider_ops,
	    "the registry knows the fake");
	ok(provider_has_cap(p, PROV_CAP_GPU) &&
	    provider_has_cap(p, PROV_CAP_SPOT) &&
	    provider_has_cap(p, PROV_CAP_MULTI_REGION) &&
	    provider_has_cap(p, PROV_CAP_HIBERNATION) &&
	    provider_has_cap(p, PROV_CAP_IDEMPOTENT_SPAWN),
	    "caps: gpu, spot, multiRegion, hibernation, idempotentSpawn");
	ok(!provider_has_cap(p, PROV_CAP_SNAPSHOTS), "caps: no snapshots");
	provider_free(p);
}

static void
test_boot_and_list(void)
{
	struct provider		*p;
	struct instance		 in, in2;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	bool			 billing;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_boot_ms(p, 60 * SEC);
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "0.70", &in, &e), 0,
	    "spawn RTX_4090 under $0.70/h");
	is_str(in.id, "fake-1", "the first id is fake-1");
	is_str(in.label, "gr-0a1b2c-1", "spawn returns the label");
	is_int(in.state, INST_PENDING, "a new instance is PENDING");
	ok(!in.billing, "a booting instance does not bill");
	is_int(in.price, usd("0.48"), "default price: 24 GB x $0.02");
	is_str(in.gpu, "RTX_4090", "spawn returns the gpu");
	is_int(in.gpu_count, 1, "spawn returns the gpu count");
	is_str(in.region, "eu-west", "cheapest region, ties by offer id");
	is_str(in.status, "booting", "status while booting");
	ok(in.ssh_host == NULL, "no ssh host while booting");
	is_int(in.created_ms, T0, "created now");
	is_int(fake_billing_count(p), 0, "nothing bills during boot");

	clock_advance_ms(60 * SEC - 1);
	is_int(state_of(p, "fake-1", &billing), INST_PENDING,
	    "still PENDING 1 ms before boot ends");
	clock_advance_ms(1);
	is_int(state_of(p, "fake-1", &billing), INST_RUNNING,
	    "RUNNING when boot ends");
	ok(billing, "billing once RUNNING");
	is_int(fake_billing_count(p), 1, "one instance bills");

	is_int(provider_get(p, "fake-1", &in2, &e), 0, "get a running one");
	is_str(in2.ssh_host, "fake-1.fake.invalid", "ssh host once running");
	is_int(in2.ssh_port, 22, "ssh port");
	is_str(in2.status, "running", "status running");
	instance_release(&in2);

	is_int(provider_list(p, &l, &e), 0, "list");
	is_int(l.n, 1, "list shows one instance");
	li = instance_list_find(&l, "fake-1");
	ok(li != NULL && li->label != NULL &&
	    strcmp(li->label, "gr-0a1b2c-1") == 0,
	    "list shows the owner label");
	instance_list_release(&l);

	/* idempotent spawn */
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "0.70", &in2, &e), 0,
	    "spawn again with the same label");
	is_str(in2.id, "fake-1", "same label: the same instance");
	is_int(in2.state, INST_RUNNING, "and as it is now");
	instance_release(&in2);
	is_int(list_count(p), 1, "idempotent spawn made nothing new");
	is_int(fake_calls(p, PROV_OP_SPAWN), 2, "two spawn calls counted");
	is_int(spawn(p, "gr-0a1b2c-2", "RTX_4090", "0.70", &in2, &e), 0,
	    "spawn under a new label");
	is_str(in2.id, "fake-2", "ids are sequential");
	instance_release(&in2);
	is_int(list_count(p), 2, "two instances listed");

	is_int(provider_get(p, "fake-99", &in2, &e), -1, "get unknown id");
	is_int(e.code, GR_E_NOT_FOUND, "unknown id: NOT_FOUND");
	instance_release(&in);
	provider_free(p);
}

static void
test_billing_terminate(void)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_price(p, "RTX_4090", usd("0.70"));
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "0.70", &in, &e), 0,
	    "spawn at exactly the cap");
	is_int(in.state, INST_RUNNING, "boot 0: RUNNING at once");
	ok(in.billing, "boot 0: billing at once");
	clock_advance_ms(90 * MIN);
	is_int(fake_billed_total(p), usd("1.05"), "$0.70/h for 90 min = 1.05");
	is_int(fake_instance_billed(p, in.id), usd("1.05"),
	    "per-instance bill agrees");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	is_int(state_of(p, in.id, NULL), INST_TERMINATED,
	    "teardown 0: gone at once (get: NOT_FOUND)");
	is_int(list_count(p), 0, "list no longer shows it");
	is_int(fake_billing_count(p), 0, "billing ended");
	clock_advance_ms(HOUR);
	is_int(fake_billed_total(p), usd("1.05"), "no billing after the end");
	is_int(provider_terminate(p, in.id, &e), 0,
	    "terminate again: success via the wrapper");
	is_int(p->ops->terminate(p, in.id, &e), -1,
	    "the raw op says it is gone");
	is_int(e.code, GR_E_NOT_FOUND, "gone: NOT_FOUND from the raw op");
	is_int(provider_terminate(p, "fake-404", &e), 0,
	    "terminate of an unknown id is success too");
	instance_release(&in);

	/* terminated while booting: never bills */
	fake_set_boot_ms(p, 5 * MIN);
	is_int(spawn(p, "gr-0a1b2c-2", "RTX_4090", "0.70", &in, &e), 0,
	    "spawn a slow one");
	clock_advance_ms(MIN);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate during boot");
	clock_advance_ms(HOUR);
	is_int(fake_instance_billed(p, in.id), 0,
	    "terminated during boot: billed nothing");
	instance_release(&in);
	provider_free(p);
}

static void
test_teardown_delay(void)
{
	struct provider		*p;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	bool			 billing;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_price(p, "A100_80GB", usd("1.20"));
	fake_set_teardown_ms(p, 2 * MIN);
	is_int(spawn(p, "gr-0a1b2c-1", "A100_80GB", "2", &in, &e), 0,
	    "spawn A100_80GB");
	clock_advance_ms(10 * MIN);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate with delay");
	is_int(state_of(p, in.id, &billing), INST_STOPPING,
	    "STOPPING during teardown");
	ok(billing, "a STOPPING instance still bills");
	is_int(provider_list(p, &l, &e), 0, "list during teardown");
	ok(l.n == 1 && l.v[0].state == INST_STOPPING,
	    "list shows it STOPPING");
	instance_list_release(&l);
	is_int(provider_terminate(p, in.id, &e), 0,
	    "terminate during teardown is fine");
	clock_advance_ms(2 * MIN - 1);
	is_int(state_of(p, in.id, NULL), INST_STOPPING,
	    "still STOPPING 1 ms before the end");
	is_int(fake_billing_count(p), 1, "and still billing");
	clock_advance_ms(1);
	is_int(state_of(p, in.id, NULL), INST_TERMINATED,
	    "gone when teardown ends");
	clock_advance_ms(HOUR);
	is_int(fake_billed_total(p), usd("0.24"),
	    "billed 10 min + 2 min teardown at $1.20/h");
	instance_release(&in);

	/* a termination that never finishes */
	fake_set_teardown_stuck(p, true);
	is_int(spawn(p, "gr-0a1b2c-2", "A100_80GB", "2", &in, &e), 0,
	    "spawn another");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate it");
	clock_advance_ms(24 * HOUR);
	is_int(state_of(p, in.id, &billing), INST_STOPPING,
	    "stuck: STOPPING a day later");
	ok(billing, "stuck: still billing");
	is_int(fake_instance_billed(p, in.id), usd("28.80"),
	    "stuck: a day at $1.20/h");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate again");
	is_int(state_of(p, in.id, NULL), INST_STOPPING,
	    "terminating again does not help");
	fake_set_teardown_stuck(p, false);
	is_int(state_of(p, in.id, NULL), INST_STOPPING,
	    "unstuck: the teardown delay runs from now");
	clock_advance_ms(2 * MIN);
	is_int(state_of(p, in.id, NULL), INST_TERMINATED,
	    "unstuck: gone after the teardown delay");
	instance_release(&in);
	provider_free(p);
}

static void
test_stop_start(void)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	bool		 billing;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_price(p, "L4", usd("0.40"));
	fake_set_boot_ms(p, 30 * SEC);
	is_int(spawn(p, "gr-0a1b2c-1", "L4", "1", &in, &e), 0, "spawn L4");
	clock_advance_ms(30 * SEC + HOUR);
	is_int(provider_stop(p, in.id, &e), 0, "stop a running instance");
	is_int(state_of(p, in.id, &billing), INST_STOPPED, "STOPPED");
	ok(!billing, "a stopped instance does not bill");
	is_int(list_count(p), 1, "list shows stopped instances");
	clock_advance_ms(HOUR);
	is_int(fake_instance_billed(p, in.id), usd("0.40"),
	    "stopped: billed only the hour it ran");
	is_int(provider_stop(p, in.id, &e), 0, "stop again is a no-op");
	is_int(provider_start(p, in.id, &e), 0, "start");
	is_int(state_of(p, in.id, &billing), INST_PENDING,
	    "started: PENDING while it boots");
	ok(!billing, "not billing while it boots again");
	clock_advance_ms(30 * SEC);
	is_int(state_of(p, in.id, &billing), INST_RUNNING,
	    "RUNNING after the boot");
	ok(billing, "billing again");
	is_int(provider_start(p, in.id, &e), 0, "start a running one: no-op");
	clock_advance_ms(HOUR);
	is_int(fake_instance_billed(p, in.id), usd("0.80"),
	    "two running hours billed");
	is_int(provider_stop(p, "fake-77", &e), -1, "stop an unknown id");
	is_int(e.code, GR_E_NOT_FOUND, "stop unknown: NOT_FOUND");
	fake_set_teardown_ms(p, MIN);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate");
	is_int(provider_start(p, in.id, &e), -1,
	    "start while terminating fails");
	is_int(e.code, GR_E_INVALID_SPEC, "start while terminating: code");
	like(e.msg, "being terminated", "start while terminating: message");
	instance_release(&in);
	provider_free(p);
}

static void
test_offers_regions(void)
{
	struct provider		*p;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct instance		 in;
	struct gr_err		 e;
	static const char *const us[] = { "US" };
	static const char *const mars[] = { "mars" };

	clock_use_virtual(T0);
	p = fake_new();
	memset(&g, 0, sizeof(g));
	g.type = "H100_SXM";
	g.count = 2;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers for 2 x H100_SXM");
	is_int(ol.n, 2, "one offer per region");
	if (ol.n == 2) {
		is_str(ol.v[0].id, "H100_SXM@eu-west", "offer id TYPE@region");
		is_str(ol.v[1].region, "us-east", "second region");
		is_int(ol.v[0].price, usd("3.20"), "2 x 80 GB x $0.02");
		is_int(ol.v[0].available, 100, "default capacity 100");
		is_int(ol.v[0].vram_gb, 80, "offer vram");
		is_int(ol.v[0].gpu_count, 2, "offer gpu count");
	} else
		skip(6, "offers missing");

	is_int(spawn_ex(p, "gr-0a1b2c-1", "RTX_4090", "1", NULL, 0,
	    ol.n == 2 ? &ol.v[1] : NULL, &in, &e), -1,
	    "spawn with an offer of another type");
	is_int(e.code, GR_E_INVALID_SPEC,
	    "offer of another type: INVALID_SPEC");
	offer_list_release(&ol);
	g.type = "RTX_4090";
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers for RTX_4090");
	is_int(spawn_ex(p, "gr-0a1b2c-1", "RTX_4090", "1", NULL, 0,
	    ol.n == 2 ? &ol.v[1] : NULL, &in, &e), 0, "spawn a chosen offer");
	is_str(in.region, "us-east", "the offer's region is honoured");
	instance_release(&in);
	offer_list_release(&ol);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers again");
	ok(ol.n == 2 && ol.v[1].available == 99,
	    "one slot in us-east is taken");
	offer_list_release(&ol);

	is_int(spawn_ex(p, "gr-0a1b2c-2", "RTX_4090", "1", us, 1, NULL, &in,
	    &e), 0, "spawn in regions [US]");
	is_str(in.region, "us-east", "US matches us-east");
	instance_release(&in);
	is_int(spawn_ex(p, "gr-0a1b2c-3", "RTX_4090", "1", mars, 1, NULL, &in,
	    &e), -1, "spawn in regions [mars]");
	is_int(e.code, GR_E_CAPACITY, "no such region: CAPACITY");
	like(e.hint, "us-east", "the hint names the fake's regions");

	is_int(spawn(p, "gr-0a1b2c-4", GPU_CPU, "0.01", &in, &e), 0,
	    "spawn a CPU instance at $0.01/h");
	is_int(in.gpu_count, 0, "CPU instance has no GPUs");
	instance_release(&in);

	g.type = "RTX_4090";
	g.min_vram_gb = 48;
	is_int(provider_offers(p, &g, &ol, &e), -1, "offers for 48 GB 4090");
	is_int(e.code, GR_E_INVALID_SPEC, "too little VRAM: INVALID_SPEC");
	provider_free(p);
}

static void
test_latency(void)
{
	struct provider	*p;
	int64_t		 t;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_latency_ms(p, 250);
	t = clock_now_ms();
	(void)list_count(p);
	(void)list_count(p);
	is_int(clock_now_ms() - t, 500, "latency: each call moves the "
	    "virtual clock");
	fake_set_latency_ms(p, 0);
	t = clock_now_ms();
	(void)list_count(p);
	is_int(clock_now_ms() - t, 0, "latency 0: time stands still");
	provider_free(p);
}

#define NTHREADS	8
#define PER_THREAD	25

struct worker {
	struct provider	*p;
	int		 base;
	int		 failures;
};

static void *
worker_run(void *arg)
{
	struct worker	*w = arg;
	struct instance	 in;
	struct gr_err	 e;
	char		 label[64];
	int		 i;

	for (i = 0; i < PER_THREAD; i++) {
		(void)snprintf(label, sizeof(label), "gr-0a1b2c-%d",
		    w->base + i);
		if (spawn(w->p, label, "RTX_3090", "1", &in, &e) == -1) {
			w->failures++;
			continue;
		}
		if (i % 2 == 0 && provider_terminate(w->p, in.id, &e) == -1)
			w->failures++;
		instance_release(&in);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct provider		*p;
	struct worker		 w[NTHREADS];
	pthread_t		 th[NTHREADS];
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	int			 i, failures = 0;
	size_t			 j, k;
	bool			 unique = true;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_capacity(p, "RTX_3090", 1000);
	for (i = 0; i < NTHREADS; i++) {
		w[i].p = p;
		w[i].base = 1 + i * PER_THREAD;
		w[i].failures = 0;
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0)
			bail_out("pthread_create");
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	is_int(failures, 0, "threads: every call succeeded");
	is_int(fake_calls(p, PROV_OP_SPAWN), NTHREADS * PER_THREAD,
	    "threads: every spawn counted");
	is_int(provider_list(p, &l, &e), 0, "threads: list");
	is_int(l.n, NTHREADS * (PER_THREAD / 2), "threads: the survivors");
	for (j = 0; j < l.n; j++)
		for (k = j + 1; k < l.n; k++)
			if (strcmp(l.v[j].id, l.v[k].id) == 0)
				unique = false;
	ok(unique, "threads: ids are unique");
	instance_list_release(&l);
	provider_free(p);
}

int
main(void)
{
	log_init(0, false, "3101");
	plan_lazy();
	test_caps();
	test_boot_and_list();
	test_billing_terminate();
	test_teardown_delay();
	test_stop_start();
	test_offers_regions();
	test_latency();
	test_threads();
	return done_testing();
}
