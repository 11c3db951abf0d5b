/*
 * 4005: what the deterministic simulation (dst/) and bench/converge
 * found, kept as regressions.
 */
#include <unistd.h>

#include "rectest.h"

static money_t
usd_amount(const char *s)
{
	money_t		 m;
	const char	*why;

	if (!money_parse(s, &m, &why))
		bail_out("bad amount %s", s);
	return m;
}

static void
set_fleet(struct env *v, int count, const char *budget)
{
	char	*y = xasprintf(
	    "fleet: train\n"
	    "budget: {max_per_hour: %s}\n"
	    "groups:\n"
	    "  - name: worker\n"
	    "    count: %d\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n", budget, count);

	env_fleet(v, "train.yaml", y);
	free(y);
}

/*
 * dst seeds 777 and 862: a pass whose list failed reserved the tracked
 * instances at the ledger's price, which was stale (the billed price had
 * drifted up), and spawned past the cap.  A cap whose spend cannot be
 * checked now admits no spawn.
 */
static void
test_unlisted_spend_admits_no_spawn(const char *cfg, const char *budget)
{
	struct env		 v;
	struct ledger_inst	*rows;
	struct plan		 p;
	struct gr_err		 e;
	size_t			 n;
	uint64_t		 spawns;

	env_open(&v, cfg);
	set_fleet(&v, 1, budget);
	is_int(env_apply(&v), 0, "one instance running");
	ledger_list(v.c.ledger, false, &rows, &n, &e);
	ok(n == 1, "one live row");
	/* it bills $0.69/h now (under its max); the ledger still says
	 * $0.48/h, and 0.48 + 0.70 fits the $1.20/h cap */
	if (n == 1)
		fake_set_billed_price(v.fake, rows[0].provider_id, 690000);
	ledger_insts_free(rows, n);

	set_fleet(&v, 2, budget);
	env_fault(&v, PROV_OP_LIST, GR_E_AUTH, 1, false);
	spawns = fake_calls(v.fake, PROV_OP_SPAWN);
	ok(env_apply(&v) == -1, "apply with the list refused fails");
	is_int((long long)v.e.code, GR_E_AUTH, "and says why: %s", v.e.msg);
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN),
	    (long long)spawns, "no spawn while the spend is unknown");
	is_int((long long)fake_billing_count(v.fake), 1, "still one billing");

	env_fault(&v, PROV_OP_LIST, GR_E_AUTH, 1, false);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_SPAWN), 0,
	    "plan: no spawn while the list fails");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1, "plan: blocked");
	ok(p.n > 0 && strstr(p.v[p.n - 1].reason, "budget unknown") != NULL,
	    "plan says the budget is unknown: %s", p.n > 0 ?
	    p.v[p.n - 1].reason : "");
	plan_release(&p);

	/* listed again, the real price blocks it: 0.69 + 0.70 > 1.20 */
	ok(env_apply(&v) == -1, "listed: apply is budget-limited");
	is_int((long long)v.e.code, GR_E_BUDGET, "BUDGET: %s", v.e.msg);
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN),
	    (long long)spawns, "still no spawn");
	env_close(&v);
}

/*
 * bench/converge: planning priced every empty slot with an offer lookup,
 * and every spawn looked again: 2 calls per instance, at a provider's
 * pacing of one request a second.  Now one lookup per pass.
 */
static void
test_one_offer_lookup_per_pass(void)
{
	struct env	 v;
	char		*y;

	env_open(&v, NULL);
	y = xasprintf("fleet: big\ngroups:\n  - name: w\n    count: 12\n"
	    "    provider: fake\n    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n");
	env_fleet(&v, "big.yaml", y);
	free(y);
	is_int(env_apply(&v), 0, "12 instances come up");
	is_int((long long)fake_billing_count(v.fake), 12, "12 billing");
	is_int((long long)fake_calls(v.fake, PROV_OP_OFFERS), 1,
	    "with one offer lookup (not 2 per instance)");
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN), 12,
	    "and 12 spawns");
	env_close(&v);
}

/*
 * dst: an instance not in the list (late visibility) whose get failed
 * was reported as "provider 'fake' could not be listed ()".
 */
static void
test_unchecked_one_says_why(void)
{
	struct env	 v;
	struct plan	 p;
	size_t		 i;
	bool		 found = false, wrong = false;

	env_open(&v, NULL);
	fake_set_list_delay_ms(v.fake, 10 * 60 * 1000);
	set_fleet(&v, 1, "10.00");
	is_int(env_apply(&v), 0, "an instance that list does not show yet");
	env_fault(&v, PROV_OP_GET, GR_E_TRANSIENT, 1, false);
	env_plan(&v, &p);
	for (i = 0; i < p.nwarnings; i++) {
		if (strstr(p.warnings[i], "is not in the list of 'fake' and "
		    "get failed") != NULL)
			found = true;
		if (strstr(p.warnings[i], "could not be listed") != NULL)
			wrong = true;
	}
	ok(found && !wrong, "the plan says the get failed, not the list: %s",
	    p.nwarnings > 0 ? p.warnings[0] : "(no warning)");
	plan_release(&p);
	env_close(&v);
}

static void
set_hib(struct env *v, const char *cap, const char *state, int nb)
{
	char	*y = xasprintf(
	    "fleet: hib\n"
	    "budget: {max_per_hour: %s}\n"
	    "groups:\n"
	    "  - name: a\n"
	    "    count: 2\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n"
	    "    state: %s\n"
	    "  - name: b\n"
	    "    count: %d\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n", cap, state, nb);

	env_fleet(v, "hib.yaml", y);
	free(y);
}

/*
 * dst seed 790: a hibernated instance reserves the price it billed; the
 * plan that started it again did not add what a pending one reserves
 * (its max price), so a spawn in the same plan went past the cap.
 */
static void
test_start_reserves_max(void)
{
	struct env	 v;
	struct plan	 p;
	uint64_t	 spawns;

	env_open(&v, NULL);
	set_hib(&v, "1.90", "running", 0);
	is_int(env_apply(&v), 0, "2 running at $0.48/h");
	set_hib(&v, "1.90", "stopped", 0);
	is_int(env_apply(&v), 0, "hibernated");
	is_int((long long)env_rows(&v, INST_STOPPED), 2, "2 STOPPED rows");
	/* started: 2 x 0.70 pending; b's spawn would make it 2.10 */
	set_hib(&v, "1.90", "running", 1);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_START), 2, "plan starts both");
	is_int((long long)plan_count(&p, ACT_SPAWN), 0,
	    "and spawns nothing: 0.96 + 0.44 + 0.70 > 1.90");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1, "b/0 is blocked");
	ok(p.after <= usd_amount("1.90"), "what the plan reserves fits the cap");
	plan_release(&p);
	/* once they run again they reserve what they bill: b fits then */
	spawns = fake_calls(v.fake, PROV_OP_SPAWN);
	is_int(env_apply(&v), 0, "apply converges: %s", v.e.msg);
	is_int((long long)fake_calls(v.fake, PROV_OP_SPAWN),
	    (long long)spawns + 1, "b spawned once the two were running");
	is_int((long long)fake_billing_count(v.fake), 3, "3 billing");
	env_close(&v);

	/* a start that does not fit is blocked too */
	env_open(&v, NULL);
	set_hib(&v, "1.20", "running", 0);
	is_int(env_apply(&v), 0, "2 running");
	set_hib(&v, "1.20", "stopped", 0);
	is_int(env_apply(&v), 0, "hibernated");
	set_hib(&v, "1.20", "running", 0);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_START), 1,
	    "one start fits (0.96 + 0.22)");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1,
	    "the other is budget-limited (1.18 + 0.22 > 1.20)");
	plan_release(&p);
	env_close(&v);
}

static void
set_repl(struct env *v, const char *max_a, int image, int nb)
{
	char	*y = xasprintf(
	    "fleet: repl\n"
	    "budget: {max_per_hour: 1.30}\n"
	    "groups:\n"
	    "  - name: a\n"
	    "    count: 1\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: %s\n"
	    "    image: img:%d\n"
	    "  - name: b\n"
	    "    count: %d\n"
	    "    provider: fake\n"
	    "    gpu: RTX_4090\n"
	    "    max_price_per_hour: 0.70\n", max_a, image, nb);

	env_fleet(v, "repl.yaml", y);
	free(y);
}

/*
 * dst seed 103958: a replacement made its slot reserve the new max price
 * at once, less than the old instance, which bills until its end is
 * confirmed; a spawn later in the same plan went past the cap.
 */
static void
test_replace_holds_the_old_price(void)
{
	struct env		 v;
	struct plan		 p;
	struct ledger_inst	*rows;
	struct gr_err		 e;
	size_t			 n;

	env_open(&v, NULL);
	set_repl(&v, "0.70", 1, 0);
	is_int(env_apply(&v), 0, "a/0 running at $0.48/h");
	ledger_list(v.c.ledger, false, &rows, &n, &e);
	if (n == 1)	/* under its max: kept */
		fake_set_billed_price(v.fake, rows[0].provider_id, 690000);
	ledger_insts_free(rows, n);
	is_int(env_apply(&v), 0, "now billed $0.69/h, still under its max");
	/* a new image at a max of 0.50; b wants 0.70: 0.69 + 0.70 > 1.30 */
	set_repl(&v, "0.50", 2, 1);
	env_plan(&v, &p);
	is_int((long long)plan_count(&p, ACT_REPLACE), 1, "a/0 is replaced");
	is_int((long long)plan_count(&p, ACT_SPAWN), 0,
	    "b/0 is not spawned while a/0's old instance bills $0.69/h");
	is_int((long long)plan_count(&p, ACT_BLOCKED), 1, "b/0 is blocked");
	plan_release(&p);
	env_close(&v);
}

/* The kind of the first action of fleet f in p, or -1. */
static int
fleet_action(const struct plan *p, const char *f, const char **why)
{
	size_t	 i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].fleet != NULL && strcmp(p->v[i].fleet, f) == 0) {
			*why = p->v[i].reason;
			return (int)p->v[i].kind;
		}
	*why = "";
	return -1;
}

/*
 * A provider that cannot be listed blocks only the caps its instances
 * count against: fleet 'a' (capped) has one on the fake, which cannot be
 * listed; fleet 'b' (no cap) and fleet 'c' (a cap of its own) spawn on
 * another provider as ever.  Under a global cap, every spawn waits.
 */
static void
test_unknown_spend_blocks_only_its_caps(bool global)
{
	struct env	 v;
	struct plan	 p;
	const char	*wb, *wc, *tag = global ? "global cap" :
			    "no global cap";
	int		 ka, kb, kc;
	size_t		 i;
	char		*cfg;

	cfg = xasprintf("%sproviders:\n  fake: {}\n  local: {cpu_slots: "
	    "4}\n", global ? "budget: {max_per_hour: 100.00}\n" : "");
	env_open(&v, cfg);
	free(cfg);
	env_fleet(&v, "a.yaml", "fleet: a\nbudget: {max_per_hour: 5.00}\n"
	    "groups:\n  - name: w\n    count: 1\n    provider: fake\n"
	    "    gpu: RTX_4090\n    max_price_per_hour: 0.70\n");
	is_int(env_apply(&v), 0, "%s: fleet a runs on the fake", tag);
	env_fleet(&v, "b.yaml", "fleet: b\n"
	    "groups:\n  - name: w\n    count: 1\n    provider: local\n"
	    "    gpu: CPU\n    max_price_per_hour: 0.50\n");
	env_fleet(&v, "c.yaml", "fleet: c\nbudget: {max_per_hour: 2.00}\n"
	    "groups:\n  - name: w\n    count: 1\n    provider: local\n"
	    "    gpu: CPU\n    max_price_per_hour: 0.50\n");
	/* a second slot of a: its own cap cannot be checked */
	env_fleet(&v, "a.yaml", "fleet: a\nbudget: {max_per_hour: 5.00}\n"
	    "groups:\n  - name: w\n    count: 2\n    provider: fake\n"
	    "    gpu: RTX_4090\n    max_price_per_hour: 0.70\n");
	env_fault(&v, PROV_OP_LIST, GR_E_TRANSIENT, -1, false);
	env_plan(&v, &p);
	for (i = 0, ka = -1; i < p.n; i++)
		if (strcmp(p.v[i].fleet, "a") == 0 && p.v[i].slot == 1)
			ka = (int)p.v[i].kind;
	is_int(ka, ACT_BLOCKED, "%s: fleet a's new slot waits (its spend "
	    "is unknown)", tag);
	kb = fleet_action(&p, "b", &wb);
	kc = fleet_action(&p, "c", &wc);
	if (global) {
		is_int(kb, ACT_BLOCKED, "%s: fleet b (no cap of its own) "
		    "waits: %s", tag, wb);
		like(wb, "budget unknown", "%s: b says why", tag);
		is_int(kc, ACT_BLOCKED, "%s: fleet c waits too: %s", tag, wc);
	} else {
		is_int(kb, ACT_SPAWN, "%s: fleet b (no cap) spawns on local: "
		    "%s", tag, wb);
		is_int(kc, ACT_SPAWN, "%s: fleet c (its own cap) spawns on "
		    "local: %s", tag, wc);
	}
	plan_release(&p);
	env_close(&v);
}

int
main(void)
{
	plan_lazy();
	log_init(LOG_LVL_ERROR, false, "test");
	clock_use_virtual(1800000000000LL);
	/* the fleet's cap */
	test_unlisted_spend_admits_no_spawn(NULL, "1.20");
	/* the global cap (the fleet's is ample) */
	test_unlisted_spend_admits_no_spawn("budget: {max_per_hour: 1.20}\n"
	    "providers:\n  fake: {}\n", "100.00");
	test_one_offer_lookup_per_pass();
	test_unchecked_one_says_why();
	test_start_reserves_max();
	test_replace_holds_the_old_price();
	test_unknown_spend_blocks_only_its_caps(false);
	test_unknown_spend_blocks_only_its_caps(true);
	return done_testing();
}
