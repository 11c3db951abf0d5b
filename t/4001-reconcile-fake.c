/*
 * 4001: the reconciler against the fake cloud: scale up, idempotent
 * re-apply, scale down, replace, delete, budget, orphans, foreign
 * instances and the crash windows around a spawn.
 */
#include <unistd.h>

#include "rectest.h"

static char *
fleet_yaml(int count, const char *image, const char *budget)
{
	return xasprintf(
	    "fleet: train\n"
	    "%s%s%s"
	    "groups:\n"
	    "  - name: worker\n"
	    "    count: %d\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    image: %s\n",
	    budget ? "budget: {max_per_hour: " : "", budget ? budget : "",
	    budget ? "}\n" : "", count, image);
}

static void
set_fleet(struct env *v, int count, const char *image, const char *budget)
{
	char	*y = fleet_yaml(count, image, budget);

	env_fleet(v, "train.yaml", y);
	free(y);
}

static void
test_scale_and_replace(void)
{
	struct env	 v;
	struct plan	 p;
	uint64_t	 spawns, terms;

	env_open(&v, NULL);
	set_fleet(&v, 3, "img:1", "10.00");
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_SPAWN), 3,
	    "plan on an empty fleet spawns 3");
	is_int((long long)p.nchanges, 3, "plan counts 3 changes");
	plan_release(&p);
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 0,
	    "plan made no spawn call");
	is_int((long long)env_rows(&v, -1), 0, "plan wrote no ledger row");

	is_int(env_apply(&v), 0, "apply converges: %s", v.e.msg);
	ok(v.res.converged, "apply says converged");
	is_int((long long)env_rows(&v, INST_RUNNING), 3, "3 rows RUNNING");
	is_int((long long)fake_billing_count(v.fake), 3, "fake bills 3");

	spawns = fake_calls(v.fake, PROV_OP_SPAWN);
	terms = fake_calls(v.fake, PROV_OP_TERMINATE);
	is_int(env_apply(&v), 0, "re-apply on a converged fleet succeeds");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), (long long)spawns,
	    "re-apply made no spawn call");
	is_int((long long)fake_calls(v.fake, PROV_OP_TERMINATE),
	    (long long)terms, "re-apply made no terminate call");
	is_int((long long)v.res.mutating_calls, 0,
	    "re-apply counted no mutating call");
	env_plan(&v, &p);
	is_int((long long)p.nchanges, 0, "plan after converge: no changes");
	is_int((long long)plan_count(&p, ACT_KEEP), 3, "plan keeps 3");
	plan_release(&p);

	set_fleet(&v, 1, "img:1", "10.00");
	is_int(env_apply(&v), 0, "scale down 3 -> 1");
	is_int((long long)env_rows(&v, INST_RUNNING), 1, "1 row RUNNING");
	is_int((long long)env_rows(&v, INST_TERMINATED), 2,
	    "exactly 2 rows TERMINATED");
	is_int((long long)fake_billing_count(v.fake), 1, "fake bills 1");
	{
		struct ledger_inst	*rows;
		size_t			 n, i;
		struct gr_err		 e;
		int			 slot = -1;

		ledger_list(v.c.ledger, false, &rows, &n, &e);
		for (i = 0; i < n; i++)
			slot = rows[i].slot;
		is_int(slot, 0, "slot 0 is the one kept");
		ledger_insts_free(rows, n);
	}

	set_fleet(&v, 1, "img:2", "10.00");
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_REPLACE), 1,
	    "a changed image plans a replace");
	plan_release(&p);
	is_int(env_apply(&v), 0, "replace converges");
	is_int((long long)env_rows(&v, INST_RUNNING), 1,
	    "1 RUNNING after replace");
	is_int((long long)env_rows(&v, INST_TERMINATED), 3,
	    "the old one is TERMINATED");
	is_int((long long)fake_billing_count(v.fake), 1,
	    "fake bills only the new one");

	env_unfleet(&v, "train.yaml");
	is_int(env_apply(&v), 0, "deleting the fleet file converges");
	is_int((long long)env_rows(&v, INST_RUNNING), 0, "nothing RUNNING");
	is_int((long long)fake_billing_count(v.fake), 0, "fake bills nothing");
	{
		struct gr_err	 e;

		gr_err_clear(&e);
		is_int(ledger_check(v.c.ledger, &e), 0,
		    "ledger passes its check: %s", e.msg);
	}
	env_close(&v);
}

static void
test_budget(void)
{
	struct env	 v;
	struct plan	 p;

	env_open(&v, NULL);
	/* 3 x 0.70 reserved is 2.10: a 1.50 cap lets 2 through */
	set_fleet(&v, 3, "img:1", "1.50");
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_SPAWN), 2,
	    "budget: plan spawns 2");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1,
	    "budget: plan shows 1 budget-limited");
	{
		size_t	 i;
		bool	 said = false;

		for (i = 0; i < p.n; i++)
			if (p.v[i].kind == ACT_BLOCKED &&
			    strstr(p.v[i].reason, "budget-limited") != NULL)
				said = true;
		ok(said, "budget: the blocked slot says budget-limited");
	}
	plan_release(&p);
	is_int(env_apply(&v), -1, "budget: apply does not converge");
	is_int(v.e.code, GR_E_BUDGET, "budget: error is BUDGET");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "budget: only 2 billing");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 2,
	    "budget: only 2 spawn calls");
	env_close(&v);

	env_open(&v, "budget: {max_per_hour: 0.80}\nproviders:\n  fake: {}\n");
	set_fleet(&v, 3, "img:1", NULL);
	is_int(env_apply(&v), -1, "global cap: apply stops short");
	is_int((long long)fake_billing_count(v.fake), 1,
	    "global cap 0.80 allows one 0.70 reservation");
	env_close(&v);
}

static void
test_orphans_and_foreign(void)
{
	struct env		 v;
	struct spawn_req	 req;
	struct instance		 in;
	struct gpu_req		 g = { (char *)"RTX_4090", 1, 0 };
	struct gr_err		 e;
	char			*label;

	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	fake_add_foreign(v.fake, "someone-elses-box", "RTX_4090");
	fake_add_foreign(v.fake, "gr-0123456789abcdef-1", "RTX_4090");
	/* our label, but no ledger row: an orphan */
	label = owner_label(ledger_id(v.c.ledger), 999);
	memset(&req, 0, sizeof(req));
	memset(&in, 0, sizeof(in));
	req.label = label;
	req.address = "test";
	req.gpu = &g;
	req.max_price = 700000;
	ok(provider_spawn(v.fake, &req, &in, &e) == 0, "orphan made");
	instance_release(&in);
	is_int(env_apply(&v), 0, "apply with an orphan and foreigners");
	is_int((long long)env_rows(&v, INST_RUNNING), 1, "1 of ours runs");
	is_int((long long)env_listed(&v), 3,
	    "the orphan is gone, both foreign instances are left");
	free(label);
	env_close(&v);
}

static void
test_crash_windows(void)
{
	struct env		 v;
	struct ledger_inst	 r;
	struct spawn_req	 req;
	struct instance		 in;
	struct gpu_req		 g = { (char *)"RTX_4090", 1, 0 };
	struct spec		*s;
	struct gr_err		 e;

	/* Crash after the intent, before the provider call. */
	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	(void)env_plan;
	spec_free(v.c.spec);
	v.c.spec = NULL;
	ctx_load_spec(&v.c, &e);
	s = v.c.spec;
	memset(&r, 0, sizeof(r));
	r.kind = LEDGER_KIND_FLEET;
	r.fleet = xstrdup("train");
	r.group = xstrdup("worker");
	r.slot = 0;
	r.provider = xstrdup("fake");
	r.spec_hash = xstrdup(s->fleets[0].groups[0].hash);
	r.spec_file = xstrdup(s->fleets[0].file);
	r.gpu = xstrdup("RTX_4090");
	r.gpu_count = 1;
	r.max_price = 700000;
	ok(ledger_intent_spawn(v.c.ledger, &r, &e) == 0, "intent committed");
	is_int(env_apply(&v), 0, "apply heals an intent with no call: %s",
	    v.e.msg);
	is_int((long long)fake_billing_count(v.fake), 1,
	    "exactly one instance bills");
	is_int((long long)env_rows(&v, INST_RUNNING), 1, "one RUNNING row");
	{
		struct ledger_inst	 r2;

		memset(&r2, 0, sizeof(r2));
		ledger_get(v.c.ledger, r.uid, &r2, &e);
		is_int(r2.state, INST_TERMINATED,
		    "the stale intent is closed as never spawned");
		ledger_inst_release(&r2);
	}
	ledger_inst_release(&r);
	env_close(&v);

	/* Crash after the provider created it, before we recorded it. */
	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	spec_free(v.c.spec);
	v.c.spec = NULL;
	ctx_load_spec(&v.c, &e);
	s = v.c.spec;
	memset(&r, 0, sizeof(r));
	r.kind = LEDGER_KIND_FLEET;
	r.fleet = xstrdup("train");
	r.group = xstrdup("worker");
	r.provider = xstrdup("fake");
	r.spec_hash = xstrdup(s->fleets[0].groups[0].hash);
	r.spec_file = xstrdup(s->fleets[0].file);
	r.gpu = xstrdup("RTX_4090");
	r.gpu_count = 1;
	r.max_price = 700000;
	ledger_intent_spawn(v.c.ledger, &r, &e);
	memset(&req, 0, sizeof(req));
	memset(&in, 0, sizeof(in));
	req.label = r.label;
	req.address = "train/worker/0";
	req.gpu = &g;
	req.max_price = 700000;
	ok(provider_spawn(v.fake, &req, &in, &e) == 0,
	    "provider made it; we 'crashed' before recording");
	instance_release(&in);
	is_int(env_apply(&v), 0, "apply adopts it by label");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 1,
	    "no second spawn");
	is_int((long long)fake_billing_count(v.fake), 1,
	    "exactly one instance bills");
	{
		struct ledger_inst	 r2;

		memset(&r2, 0, sizeof(r2));
		ledger_get(v.c.ledger, r.uid, &r2, &e);
		is_int(r2.state, INST_RUNNING, "the intent row is adopted");
		ok(r2.provider_id != NULL, "and has its provider id");
		ledger_inst_release(&r2);
	}
	ledger_inst_release(&r);
	env_close(&v);
}

/* Bug found by t/9003: replace spawned before the old end was confirmed. */
static void
test_replace_waits_for_the_old_end(void)
{
	struct env		 v;
	struct plan		 p;
	struct observation	 o;
	struct exec_result	 res;
	struct run_state	 rs;
	struct gr_err		 e;
	size_t			 i;
	bool			 said = false;

	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	is_int(env_apply(&v), 0, "replace-wait: setup");
	fake_set_teardown_ms(v.fake, 30000);
	set_fleet(&v, 1, "img:2", NULL);
	env_plan(&v, &p);
	run_state_init(&rs, 1);
	v.c.run = &rs;
	(void)exec_plan(&v.c, &p, &res);
	plan_release(&p);
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 1,
	    "replace-wait: the first pass only terminates (old still ending)");
	observe(&v.c, &o, &e);
	plan_build(&v.c, &o, &p, &e);
	observation_release(&o);
	is_int((long long)plan_count(&p, ACT_SPAWN), 0,
	    "replace-wait: no spawn while the old one is terminating");
	for (i = 0; i < p.n; i++)
		if (p.v[i].kind == ACT_WAIT &&
		    strstr(p.v[i].reason, "still terminating") != NULL)
			said = true;
	ok(said, "replace-wait: the slot waits for its previous instance");
	plan_release(&p);
	v.c.run = NULL;
	run_state_release(&rs);
	is_int(env_apply(&v), 0, "replace-wait: converges once it is gone");
	is_int((long long)fake_billing_count(v.fake), 1,
	    "replace-wait: one instance bills in the end");
	env_close(&v);
}

/* Found on a real H100: a replace whose new spec has no offer emptied
 * the slot.  It must keep the old instance instead. */
static void
test_replace_needs_an_offer(void)
{
	struct env	 v;
	struct plan	 p;
	char		*y;

	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	is_int(env_apply(&v), 0, "replace-offer: setup");
	fake_set_capacity(v.fake, "A100_80GB", 0);
	y = xstrdup("fleet: train\ngroups:\n  - name: worker\n    count: 1\n"
	    "    provider: fake\n    gpu: A100_80GB\n"
	    "    max_price_per_hour: 5.00\n    image: img:1\n");
	env_fleet(&v, "train.yaml", y);
	free(y);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_REPLACE), 0,
	    "replace-offer: no replace without an offer");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1,
	    "replace-offer: the slot is blocked instead");
	plan_release(&p);
	is_int(env_apply(&v), -1, "replace-offer: apply does not converge");
	is_int((long long)fake_calls(v.fake, PROV_OP_TERMINATE), 0,
	    "replace-offer: the old instance was not terminated");
	is_int((long long)fake_billing_count(v.fake), 1,
	    "replace-offer: the old instance still runs");
	fake_set_capacity(v.fake, "A100_80GB", 5);
	is_int(env_apply(&v), 0, "replace-offer: replaced once offers exist");
	is_int((long long)env_rows(&v, INST_RUNNING), 1,
	    "replace-offer: one RUNNING after");
	env_close(&v);
}

static void
test_ttl(void)
{
	struct env		 v;
	struct plan		 p;
	struct ledger_inst	*rows;
	struct gr_err		 e;
	size_t			 n, i, ttl = 0;
	const char		*y =
	    "fleet: train\ngroups:\n  - name: worker\n    count: 2\n"
	    "    provider: fake\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n    image: img:1\n    ttl: 1h\n";

	env_open(&v, NULL);
	env_fleet(&v, "train.yaml", y);
	is_int(env_apply(&v), 0, "ttl: 2 instances up");
	clock_advance_ms(30 * 60 * 1000);
	is_int(env_apply(&v), 0, "ttl: at 30 minutes nothing changes");
	is_int((long long)fake_calls(v.fake, PROV_OP_TERMINATE), 0,
	    "ttl: no termination before the ttl");
	clock_advance_ms(31 * 60 * 1000);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_TERMINATE), 2,
	    "ttl: after 1h the plan terminates both");
	plan_release(&p);
	is_int(env_apply(&v), 0, "ttl: apply converges");
	is_int((long long)fake_billing_count(v.fake), 0,
	    "ttl: nothing bills after the ttl");
	ledger_list(v.c.ledger, true, &rows, &n, &e);
	for (i = 0; i < n; i++)
		if (rows[i].end_reason != NULL &&
		    strcmp(rows[i].end_reason, "ttl") == 0)
			ttl++;
	ledger_insts_free(rows, n);
	is_int((long long)ttl, 2, "ttl: both rows ended with reason ttl");
	is_int(env_apply(&v), 0, "ttl: a later apply converges too");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 2,
	    "ttl: expired slots are not refilled");
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_EXPIRED), 2,
	    "ttl: plan shows both slots expired");
	is_int((long long)p.nchanges, 0, "ttl: and no change");
	plan_release(&p);
	env_fleet(&v, "train.yaml", "fleet: train\ngroups:\n"
	    "  - name: worker\n    count: 2\n    provider: fake\n"
	    "    gpu: RTX_4090\n    max_price_per_hour: 0.70\n"
	    "    image: img:2\n    ttl: 1h\n");
	is_int(env_apply(&v), 0, "ttl: a changed group runs again");
	is_int((long long)fake_billing_count(v.fake), 2,
	    "ttl: 2 new instances bill");
	env_close(&v);
}

/*
 * A provider that reuses ids: our row's id now names someone else's
 * instance (label differs).  That instance must never be terminated, and
 * ours is found again by its label.
 */
static void
test_reused_id(void)
{
	struct env		 v;
	struct ledger_inst	*rows;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	size_t			 n, i;
	const char		*fid = NULL;

	env_open(&v, NULL);
	set_fleet(&v, 1, "img:1", NULL);
	is_int(env_apply(&v), 0, "reused id: setup");
	fake_add_foreign(v.fake, "someone-else", "RTX_4090");
	provider_list(v.fake, &l, &e);
	for (i = 0; i < l.n; i++)
		if (l.v[i].label != NULL &&
		    strcmp(l.v[i].label, "someone-else") == 0)
			fid = l.v[i].id;
	ok(fid != NULL, "reused id: a foreign instance exists");
	ledger_list(v.c.ledger, false, &rows, &n, &e);
	if (n == 1 && fid != NULL) {
		free(rows[0].provider_id);
		rows[0].provider_id = xstrdup(fid);
		ledger_update(v.c.ledger, &rows[0], "test", "id reused", &e);
	}
	ledger_insts_free(rows, n);
	instance_list_release(&l);
	is_int(env_apply(&v), 0, "reused id: apply converges");
	is_int((long long)fake_calls(v.fake, PROV_OP_TERMINATE), 0,
	    "reused id: nothing was terminated (not the foreign one)");
	is_int((long long)env_listed(&v), 2,
	    "reused id: ours and the foreign one both still run");
	is_int((long long)env_rows(&v, INST_RUNNING), 1,
	    "reused id: one RUNNING row of ours");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 1,
	    "reused id: no second spawn");
	env_close(&v);
}

/* Ad-hoc instances spend money too: the global cap counts them. */
static void
test_global_cap_counts_adhoc(void)
{
	struct env		 v;
	struct plan		 p;
	struct ledger_inst	 r;
	struct spawn_req	 req;
	struct instance		 in;
	struct gpu_req		 g = { (char *)"RTX_4090", 1, 0 };
	struct gr_err		 e;

	env_open(&v, "budget: {max_per_hour: 1.00}\nproviders:\n  fake: {}\n");
	memset(&r, 0, sizeof(r));
	r.kind = LEDGER_KIND_ADHOC;
	r.group = xstrdup("scratch");
	r.provider = xstrdup("fake");
	r.gpu = xstrdup("RTX_4090");
	r.gpu_count = 1;
	r.max_price = 600000;
	ok(ledger_intent_spawn(v.c.ledger, &r, &e) == 0, "adhoc-cap: intent");
	memset(&req, 0, sizeof(req));
	memset(&in, 0, sizeof(in));
	req.label = r.label;
	req.address = "adhoc/scratch";
	req.gpu = &g;
	req.max_price = 600000;
	ok(provider_spawn(v.fake, &req, &in, &e) == 0, "adhoc-cap: spawned");
	r.provider_id = xstrdup(in.id);
	r.state = INST_PENDING;
	ledger_update(v.c.ledger, &r, "spawned", NULL, &e);
	instance_release(&in);
	set_fleet(&v, 1, "img:1", NULL);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1,
	    "adhoc-cap: the fleet's slot is budget-limited by the ad-hoc one");
	is_int((long long)plan_count(&p, ACT_SPAWN), 0,
	    "adhoc-cap: no spawn crosses the global cap");
	plan_release(&p);
	ledger_inst_release(&r);
	env_close(&v);
}

int
main(void)
{
	plan_lazy();
	log_init(LOG_LVL_WARN, false, "test");
	clock_use_virtual(1800000000000LL);
	test_scale_and_replace();
	test_budget();
	test_orphans_and_foreign();
	test_crash_windows();
	test_replace_waits_for_the_old_end();
	test_replace_needs_an_offer();
	test_ttl();
	test_reused_id();
	test_global_cap_counts_adhoc();
	return done_testing();
}
