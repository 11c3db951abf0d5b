/*
 * 4002: every taxonomy error handled as DESIGN.md section 4 says, driven
 * through the fake cloud's fault knobs.
 */
#include <unistd.h>

#include "rectest.h"

static const char *fleet2 =
    "fleet: train\n"
    "groups:\n"
    "  - name: worker\n"
    "    count: 2\n"
    "    provider: fake\n"
    "    gpu: RTX_4090\n"
    "    max_price_per_hour: 0.70\n";

static void
start(struct env *v)
{
	env_open(v, NULL);
	env_fleet(v, "train.yaml", fleet2);
}

static void
test_capacity(void)
{
	struct env	 v;

	start(&v);
	fake_set_capacity(v.fake, "RTX_4090", 0);
	is_int(env_apply(&v), -1, "CAPACITY everywhere: apply fails");
	is_int(v.e.code, GR_E_CAPACITY, "CAPACITY: error code");
	is_int(gr_code_exit(v.e.code), 69, "CAPACITY: exit 69");
	is_int((long long)fake_billing_count(v.fake), 0,
	    "CAPACITY: nothing bills");
	is_int((long long)env_rows(&v, INST_RUNNING), 0,
	    "CAPACITY: nothing RUNNING in the ledger");
	ok(env_rows(&v, INST_TERMINATED) > 0,
	    "CAPACITY: failed spawns are recorded as ended");
	ok(fake_calls(v.fake, PROV_OP_SPAWN) <= 2 * 3,
	    "CAPACITY: at most 3 attempts per slot (%llu spawn calls)",
	    (unsigned long long)fake_calls(v.fake, PROV_OP_SPAWN));
	env_close(&v);

	/* capacity that comes back: the retry with backoff succeeds */
	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_CAPACITY, 1, false);
	is_int(env_apply(&v), 0, "CAPACITY once: apply converges");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "CAPACITY once: 2 billing");
	env_close(&v);
}

static void
test_failover(void)
{
	struct env	 v;

	/* the first provider has no capacity: the second one is used */
	env_open(&v, "providers:\n  fake: {}\n  local: {cpu_slots: 4}\n");
	env_fleet(&v, "cpu.yaml",
	    "fleet: cpu\n"
	    "groups:\n"
	    "  - name: w\n"
	    "    count: 1\n"
	    "    providers: [fake, local]\n"
	    "    gpu: CPU\n"
	    "    max_price_per_hour: 0.50\n");
	fake_set_capacity(v.fake, "CPU", 0);
	if (env_apply(&v) == 0) {
		struct ledger_inst	*rows;
		struct gr_err		 e;
		size_t			 n;

		ledger_list(v.c.ledger, false, &rows, &n, &e);
		is_int((long long)n, 1, "failover: one instance");
		is_str(n == 1 ? rows[0].provider : NULL, "local",
		    "failover: it runs on the second provider");
		ledger_insts_free(rows, n);
		env_unfleet(&v, "cpu.yaml");
		is_int(env_apply(&v), 0, "failover: cleaned up");
	} else
		skip(3, "local provider unavailable here: %s", v.e.msg);
	env_close(&v);
}

static void
test_auth_quota_invalid(void)
{
	struct env	 v;

	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_AUTH, -1, false);
	is_int(env_apply(&v), -1, "AUTH: apply fails");
	is_int(v.e.code, GR_E_AUTH, "AUTH: error code");
	is_int(gr_code_exit(v.e.code), 77, "AUTH: exit 77");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 1,
	    "AUTH: the provider is not called again this run");
	env_close(&v);

	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_QUOTA_EXCEEDED, -1, false);
	is_int(env_apply(&v), -1, "QUOTA: apply fails");
	is_int(v.e.code, GR_E_QUOTA_EXCEEDED, "QUOTA: error code");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 1,
	    "QUOTA: the provider is blocked after one refusal");
	env_close(&v);

	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_INVALID_SPEC, -1, false);
	is_int(env_apply(&v), -1, "INVALID_SPEC: apply fails");
	is_int(v.e.code, GR_E_INVALID_SPEC, "INVALID_SPEC: error code");
	is_int(gr_code_exit(v.e.code), 65, "INVALID_SPEC: exit 65");
	ok(fake_calls(v.fake, PROV_OP_SPAWN) <= 2,
	    "INVALID_SPEC: never retried blindly (%llu calls)",
	    (unsigned long long)fake_calls(v.fake, PROV_OP_SPAWN));
	env_close(&v);
}

static void
test_rate_limit_transient(void)
{
	struct env		 v;
	struct fake_fault	 f;
	int64_t			 t0;

	start(&v);
	memset(&f, 0, sizeof(f));
	f.op = PROV_OP_SPAWN;
	f.code = GR_E_RATE_LIMIT;
	f.times = 4;
	f.retry_after_ms = 7000;
	fake_fault_add(v.fake, &f);
	t0 = clock_now_ms();
	is_int(env_apply(&v), 0, "RATE_LIMIT: apply converges");
	ok(clock_now_ms() - t0 >= 4 * 7000,
	    "RATE_LIMIT: Retry-After was honoured (%lld ms waited)",
	    (long long)(clock_now_ms() - t0));
	is_int((long long)fake_billing_count(v.fake), 2,
	    "RATE_LIMIT: 2 billing, attempts not used up");
	env_close(&v);

	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_TRANSIENT, 2, false);
	is_int(env_apply(&v), 0, "TRANSIENT: retried and converged");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "TRANSIENT: 2 billing");
	env_close(&v);

	start(&v);
	env_fault(&v, PROV_OP_LIST, GR_E_TRANSIENT, 1, false);
	is_int(env_apply(&v), 0, "TRANSIENT list: the next pass converges");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "TRANSIENT list: no duplicate spawned");
	env_close(&v);
}

static void
test_lost_reply(void)
{
	struct env	 v;

	start(&v);
	env_fault(&v, PROV_OP_SPAWN, GR_E_TRANSIENT, 1, true);
	is_int(env_apply(&v), 0, "lost spawn reply: apply converges");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "lost spawn reply: exactly 2 instances, no duplicate");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 2,
	    "lost spawn reply: not retried, found by label");
	is_int((long long)env_rows(&v, INST_RUNNING), 2,
	    "lost spawn reply: both rows RUNNING");
	env_close(&v);

	/* late visibility: a fresh spawn missing from list is not re-made */
	start(&v);
	fake_set_list_delay_ms(v.fake, 30000);
	is_int(env_apply(&v), 0, "late visibility: converges");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 2,
	    "late visibility: no duplicate spawn");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "late visibility: 2 billing");
	env_close(&v);
}

static void
test_terminate_paths(void)
{
	struct env	 v;
	struct gr_err	 e;

	/* NOT_FOUND on terminate is success */
	start(&v);
	is_int(env_apply(&v), 0, "setup: 2 running");
	env_fault(&v, PROV_OP_TERMINATE, GR_E_NOT_FOUND, 1, false);
	env_fault(&v, PROV_OP_TERMINATE, GR_E_TRANSIENT, 1, false);
	env_unfleet(&v, "train.yaml");
	is_int(env_apply(&v), 0, "NOT_FOUND and TRANSIENT on terminate: ok");
	is_int((long long)fake_billing_count(v.fake), 0,
	    "terminate faults: nothing bills");
	is_int((long long)env_rows(&v, INST_TERMINATED), 2,
	    "terminate faults: both rows TERMINATED");
	env_close(&v);

	/* a termination that never confirms */
	start(&v);
	is_int(env_apply(&v), 0, "setup: 2 running again");
	fake_set_teardown_stuck(v.fake, true);
	env_unfleet(&v, "train.yaml");
	is_int(env_apply(&v), -1, "stuck termination: apply fails");
	is_int(v.e.code, GR_E_UNCONFIRMED, "stuck: UNCONFIRMED");
	is_int(gr_code_exit(v.e.code), 75, "stuck: exit 75");
	is_int((long long)env_rows(&v, INST_STOPPING), 2,
	    "stuck: rows stay STOPPING");
	fake_set_teardown_stuck(v.fake, false);
	is_int(env_apply(&v), 0, "unstuck: the next run confirms");
	is_int((long long)env_rows(&v, INST_STOPPING), 0, "unstuck: none STOPPING");
	is_int((long long)fake_billing_count(v.fake), 0, "unstuck: nothing bills");
	gr_err_clear(&e);
	is_int(ledger_check(v.c.ledger, &e), 0, "ledger check: %s", e.msg);
	env_close(&v);

	/* AUTH on terminate: reported, not hammered, row stays STOPPING */
	start(&v);
	is_int(env_apply(&v), 0, "setup: 2 running, third time");
	env_fault(&v, PROV_OP_TERMINATE, GR_E_AUTH, -1, false);
	env_unfleet(&v, "train.yaml");
	is_int(env_apply(&v), -1, "AUTH on terminate: apply fails");
	is_int(v.e.code, GR_E_AUTH, "AUTH on terminate: code AUTH");
	is_int((long long)fake_calls(v.fake, PROV_OP_TERMINATE), 2,
	    "AUTH on terminate: one call per instance");
	is_int((long long)env_rows(&v, INST_STOPPING), 2,
	    "AUTH on terminate: rows STOPPING, billing still reserved");
	env_close(&v);
}

static void
test_spot_and_price(void)
{
	struct env		 v;
	struct ledger_inst	*rows;
	size_t			 n;
	struct gr_err		 e;

	start(&v);
	is_int(env_apply(&v), 0, "setup for spot");
	ledger_list(v.c.ledger, false, &rows, &n, &e);
	ok(n == 2 && fake_interrupt(v.fake, rows[0].provider_id) == 0,
	    "spot interruption injected");
	ledger_insts_free(rows, n);
	is_int(env_apply(&v), 0, "SPOT_INTERRUPTED: apply respawns");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "SPOT_INTERRUPTED: back to 2");
	is_int((long long)env_rows(&v, INST_TERMINATED), 1,
	    "SPOT_INTERRUPTED: the lost one is recorded ended");
	env_close(&v);

	start(&v);
	fake_set_price(v.fake, "RTX_4090", 500000);
	is_int(env_apply(&v), 0, "setup for price drift");
	ledger_list(v.c.ledger, false, &rows, &n, &e);
	if (n == 2)
		fake_set_billed_price(v.fake, rows[1].provider_id, 900000);
	ledger_insts_free(rows, n);
	is_int(env_apply(&v), 0, "price drift: the expensive one is replaced");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "price drift: 2 billing after");
	ledger_list(v.c.ledger, true, &rows, &n, &e);
	{
		size_t	 i, over = 0;

		for (i = 0; i < n; i++)
			if (rows[i].state != INST_TERMINATED &&
			    rows[i].price > 700000)
				over++;
		is_int((long long)over, 0,
		    "price drift: nothing live bills above max");
	}
	ledger_insts_free(rows, n);
	env_close(&v);
}

static void
test_spinup_timeout(void)
{
	struct env	 v;

	env_open(&v, "providers:\n  fake:\n    timeouts: {spinup: 2m}\n");
	env_fleet(&v, "train.yaml", fleet2);
	fake_set_boot_ms(v.fake, 3600 * 1000);
	is_int(env_apply(&v), -1, "spinup timeout: apply fails");
	ok(v.e.code == GR_E_TIMEOUT,
	    "spinup timeout: TIMEOUT (%s)", gr_code_name(v.e.code));
	is_int((long long)fake_billing_count(v.fake), 0,
	    "spinup timeout: allocations cleaned up, nothing bills");
	is_int((long long)env_rows(&v, INST_PENDING), 0,
	    "spinup timeout: nothing left PENDING");
	env_close(&v);
}

int
main(void)
{
	plan_lazy();
	log_init(LOG_LVL_ERROR, false, "test");
	clock_use_virtual(1800000000000LL);
	test_capacity();
	test_failover();
	test_auth_quota_invalid();
	test_rate_limit_transient();
	test_lost_reply();
	test_terminate_paths();
	test_spot_and_price();
	test_spinup_timeout();
	return done_testing();
}
