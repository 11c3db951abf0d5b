/*
 * 3102: the fake provider's failure modes: every taxonomy code on every
 * operation, fault counts and order, lost replies (after_apply),
 * Retry-After, capacity and price caps, late list visibility, spot
 * interruptions, foreign instances, price drift, and determinism.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakelib.h"

static int
spawn(struct provider *p, const char *label, const char *gpu,
    const char *max, bool spot, struct instance *out, struct gr_err *e)
{
	return fake_spawn(p, label, gpu, max, spot, NULL, 0, NULL, out, e);
}

/* Spawn and return the new id (owned), or bail out. */
static char *
spawn_id(struct provider *p, const char *label, const char *gpu)
{
	struct instance	 in;
	struct gr_err	 e;
	char		*id;

	if (spawn(p, label, gpu, "100", false, &in, &e) == -1)
		bail_out("spawn %s: %s", label, e.msg);
	id = in.id;
	in.id = NULL;
	instance_release(&in);
	return id;
}

static void
add_fault(struct provider *p, enum prov_op op, enum gr_code code, int times,
    bool after_apply, int64_t retry_after_ms, const char *gpu)
{
	struct fake_fault	 f;

	memset(&f, 0, sizeof(f));
	f.op = op;
	f.code = code;
	f.times = times;
	f.after_apply = after_apply;
	f.retry_after_ms = retry_after_ms;
	f.gpu = gpu;
	fake_fault_add(p, &f);
}

/* Call op on a fresh instance; returns the wrapper's rc, fills e. */
static int
call_op(struct provider *p, enum prov_op op, const char *id,
    struct gr_err *e)
{
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	int			 rc = -1;

	memset(&g, 0, sizeof(g));
	g.type = "RTX_4090";
	g.count = 1;
	switch (op) {
	case PROV_OP_OFFERS:
		rc = provider_offers(p, &g, &ol, e);
		offer_list_release(&ol);
		break;
	case PROV_OP_SPAWN:
		rc = spawn(p, "gr-0a1b2c-999", "RTX_4090", "1", false, &in, e);
		if (rc == 0)
			instance_release(&in);
		break;
	case PROV_OP_TERMINATE:
		rc = provider_terminate(p, id, e);
		break;
	case PROV_OP_LIST:
		rc = provider_list(p, &l, e);
		instance_list_release(&l);
		break;
	case PROV_OP_GET:
		rc = provider_get(p, id, &in, e);
		if (rc == 0)
			instance_release(&in);
		break;
	case PROV_OP_STOP:
		rc = provider_stop(p, id, e);
		break;
	case PROV_OP_START:
		rc = provider_start(p, id, e);
		break;
	default:
		bail_out("op %d", (int)op);
	}
	return rc;
}

static void
test_every_code_every_op(void)
{
	static const enum gr_code codes[] = {
		GR_E_CAPACITY, GR_E_AUTH, GR_E_RATE_LIMIT,
		GR_E_SPOT_INTERRUPTED, GR_E_QUOTA_EXCEEDED, GR_E_INVALID_SPEC,
		GR_E_NOT_FOUND, GR_E_TRANSIENT,
	};
	struct provider	*p;
	struct gr_err	 e;
	char		 label[64], *id;
	size_t		 c;
	int		 op, rc, n = 0;
	uint64_t	 calls;

	clock_use_virtual(T0);
	p = fake_new();
	for (op = 0; op < PROV_OP__COUNT; op++) {
		for (c = 0; c < nitems(codes); c++) {
			(void)snprintf(label, sizeof(label), "gr-0a1b2c-%d",
			    ++n);
			id = spawn_id(p, label, "RTX_4090");
			add_fault(p, (enum prov_op)op, codes[c], 1, false, -1,
			    NULL);
			calls = fake_calls(p, (enum prov_op)op);
			rc = call_op(p, (enum prov_op)op, id, &e);
			if (op == PROV_OP_TERMINATE &&
			    codes[c] == GR_E_NOT_FOUND) {
				is_int(rc, 0, "terminate + injected NOT_FOUND "
				    "is success via the wrapper");
			} else {
				ok(rc == -1 && e.code == codes[c],
				    "%s: injected %s is returned",
				    prov_op_name((enum prov_op)op),
				    gr_code_name(codes[c]));
				is_str(e.provider, "fake", "%s: %s names the "
				    "provider", prov_op_name((enum prov_op)op),
				    gr_code_name(codes[c]));
				like(e.msg, prov_op_name((enum prov_op)op),
				    "%s: %s message names the operation",
				    prov_op_name((enum prov_op)op),
				    gr_code_name(codes[c]));
			}
			is_int(fake_calls(p, (enum prov_op)op), calls + 1,
			    "%s: %s: the faulted call reached the fake",
			    prov_op_name((enum prov_op)op),
			    gr_code_name(codes[c]));
			rc = call_op(p, (enum prov_op)op, id, &e);
			ok(rc == 0 || (op == PROV_OP_GET &&
			    codes[c] == GR_E_SPOT_INTERRUPTED),
			    "%s: %s was used up after once",
			    prov_op_name((enum prov_op)op),
			    gr_code_name(codes[c]));
			free(id);
		}
	}
	provider_free(p);
}

static void
test_counts_order_filter(void)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	int		 i, fails = 0;

	clock_use_virtual(T0);
	p = fake_new();
	add_fault(p, PROV_OP_LIST, GR_E_TRANSIENT, 2, false, -1, NULL);
	add_fault(p, PROV_OP_LIST, GR_E_AUTH, 1, false, -1, NULL);
	is_int(call_op(p, PROV_OP_LIST, NULL, &e), -1, "list fault 1 of 2");
	is_int(e.code, GR_E_TRANSIENT, "first fault added, first used");
	is_int(call_op(p, PROV_OP_LIST, NULL, &e), -1, "list fault 2 of 2");
	is_int(e.code, GR_E_TRANSIENT, "times counts down");
	is_int(call_op(p, PROV_OP_LIST, NULL, &e), -1, "then the next fault");
	is_int(e.code, GR_E_AUTH, "faults are used in the order added");
	like(e.hint, "credentials", "AUTH carries a hint");
	is_int(call_op(p, PROV_OP_LIST, NULL, &e), 0, "then list works");
	is_int(fake_calls(p, PROV_OP_LIST), 4, "four list calls counted");

	add_fault(p, PROV_OP_OFFERS, GR_E_TRANSIENT, -1, false, -1, NULL);
	for (i = 0; i < 20; i++)
		if (call_op(p, PROV_OP_OFFERS, NULL, &e) == -1)
			fails++;
	is_int(fails, 20, "times -1: fails forever");
	fake_faults_clear(p);
	is_int(call_op(p, PROV_OP_OFFERS, NULL, &e), 0,
	    "fake_faults_clear ends it");

	add_fault(p, PROV_OP_SPAWN, GR_E_CAPACITY, 1, false, -1, "A100_80GB");
	is_int(spawn(p, "gr-0a1b2c-1", "RTX_4090", "1", false, &in, &e), 0,
	    "a gpu-filtered fault spares other types");
	instance_release(&in);
	is_int(spawn(p, "gr-0a1b2c-2", "A100_80GB", "5", false, &in, &e), -1,
	    "and hits its own type");
	is_int(e.code, GR_E_CAPACITY, "filtered fault: its code");

	add_fault(p, PROV_OP_SPAWN, GR_E_RATE_LIMIT, 1, false, 1500, NULL);
	is_int(spawn(p, "gr-0a1b2c-3", "RTX_4090", "1", false, &in, &e), -1,
	    "rate limited spawn");
	is_int(e.code, GR_E_RATE_LIMIT, "RATE_LIMIT code");
	is_int(e.retry_after_ms, 1500, "RATE_LIMIT carries retry_after_ms");
	is_int(e.http_status, 429, "RATE_LIMIT as HTTP 429");
	ok(gr_code_retryable(e.code), "RATE_LIMIT is retryable");
	add_fault(p, PROV_OP_LIST, GR_E_TRANSIENT, 1, false, 1500, NULL);
	is_int(call_op(p, PROV_OP_LIST, NULL, &e), -1, "transient list");
	is_int(e.retry_after_ms, -1, "only RATE_LIMIT carries retry_after");
	provider_free(p);
}

static void
test_after_apply(void)
{
	struct provider		*p;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	char			*id;

	clock_use_virtual(T0);
	p = fake_new();
	add_fault(p, PROV_OP_SPAWN, GR_E_TRANSIENT, 1, true, -1, NULL);
	is_int(spawn(p, "gr-0a1b2c-7", "RTX_4090", "1", false, &in, &e), -1,
	    "spawn whose reply is lost");
	is_int(e.code, GR_E_TRANSIENT, "lost reply: the injected code");
	ok(e.outcome_unknown, "lost reply: outcome_unknown");
	ok(in.id == NULL, "lost reply: no instance returned");
	is_int(fake_billing_count(p), 1, "lost reply: yet it exists, billing");
	is_int(provider_list(p, &l, &e), 0, "list after a lost reply");
	li = instance_list_find(&l, "fake-1");
	ok(li != NULL && li->label != NULL &&
	    strcmp(li->label, "gr-0a1b2c-7") == 0,
	    "list shows it with its label");
	instance_list_release(&l);
	is_int(spawn(p, "gr-0a1b2c-7", "RTX_4090", "1", false, &in, &e), 0,
	    "retrying the spawn with the same label");
	is_str(in.id, "fake-1", "the retry finds the instance, no double");
	instance_release(&in);

	id = spawn_id(p, "gr-0a1b2c-8", "RTX_4090");
	add_fault(p, PROV_OP_TERMINATE, GR_E_TRANSIENT, 1, true, -1, NULL);
	is_int(provider_terminate(p, id, &e), -1, "terminate, reply lost");
	ok(e.outcome_unknown, "terminate lost reply: outcome_unknown");
	is_int(provider_get(p, id, &in, &e), -1,
	    "the termination happened anyway");
	is_int(e.code, GR_E_NOT_FOUND, "and get says NOT_FOUND");
	free(id);

	add_fault(p, PROV_OP_LIST, GR_E_TRANSIENT, 1, true, -1, NULL);
	is_int(provider_list(p, &l, &e), -1, "list, reply lost");
	ok(e.outcome_unknown && l.n == 0 && l.v == NULL,
	    "a lost list reply returns nothing");
	provider_free(p);
}

static void
test_capacity_price(void)
{
	struct provider		*p;
	struct instance		 in;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct gr_err		 e;
	char			*a, *b;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_capacity(p, "H100_SXM", 1);
	a = spawn_id(p, "gr-0a1b2c-1", "H100_SXM");
	b = spawn_id(p, "gr-0a1b2c-2", "H100_SXM");
	memset(&g, 0, sizeof(g));
	g.type = "H100_SXM";
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers when full");
	is_int(ol.n, 0, "no offers once every region is full");
	offer_list_release(&ol);
	is_int(spawn(p, "gr-0a1b2c-3", "H100_SXM", "5", false, &in, &e), -1,
	    "spawn when full");
	is_int(e.code, GR_E_CAPACITY, "full: CAPACITY");
	like(e.msg, "no H100_SXM available", "full: message");
	is_int(provider_terminate(p, a, &e), 0, "free one slot");
	is_int(spawn(p, "gr-0a1b2c-3", "H100_SXM", "5", false, &in, &e), 0,
	    "a freed slot can be rented");
	instance_release(&in);
	free(a);
	free(b);

	is_int(spawn(p, "gr-0a1b2c-4", "RTX_4090", "0.40", false, &in, &e),
	    -1, "spawn under a price cap below the price");
	is_int(e.code, GR_E_CAPACITY, "price cap: CAPACITY");
	is_str(e.msg, "spawn 'train/worker/0' on fake: no offer under "
	    "$0.40/h", "price cap: the message");
	like(e.hint, "raise max_price_per_hour", "price cap: the hint");
	fake_set_price(p, "RTX_4090", usd("0.35"));
	is_int(spawn(p, "gr-0a1b2c-4", "RTX_4090", "0.40", false, &in, &e),
	    0, "cheaper now: the spawn goes through");
	is_int(in.price, usd("0.35"), "billed the new price");
	instance_release(&in);

	is_int(spawn(p, "gr-0a1b2c-5", "RTX_409", "1", false, &in, &e), -1,
	    "spawn an unknown gpu type");
	is_int(e.code, GR_E_INVALID_SPEC, "unknown gpu: INVALID_SPEC");
	like(e.hint, "RTX_4090", "unknown gpu: did you mean");
	g.type = "NOPE";
	is_int(provider_offers(p, &g, &ol, &e), -1, "offers for unknown");
	is_int(e.code, GR_E_INVALID_SPEC, "offers unknown: INVALID_SPEC");
	provider_free(p);
}

static void
test_more_refusals(void)
{
	struct provider		*p;
	struct instance		 in;
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct spawn_req	 r;
	struct gr_err		 e;
	char			*id;

	clock_use_virtual(T0);
	p = fake_new();
	memset(&g, 0, sizeof(g));
	memset(&r, 0, sizeof(r));
	r.label = "gr-0a1b2c-1";
	r.gpu = &g;
	r.max_price = usd("100");
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn with no gpu type");
	is_int(e.code, GR_E_INVALID_SPEC, "no gpu type: INVALID_SPEC");
	like(e.msg, "gr-0a1b2c-1", "without an address the label is named");
	g.type = "H100_SXM";
	g.count = 9;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn 9 GPUs");
	is_int(e.code, GR_E_INVALID_SPEC, "9 GPUs: INVALID_SPEC");

	/* an offer that was good when listed and is gone when rented */
	fake_set_capacity(p, "H100_SXM", 1);
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers for H100_SXM");
	r.offer = ol.n > 0 ? &ol.v[0] : NULL;
	is_int(provider_spawn(p, &r, &in, &e), 0, "rent the first offer");
	instance_release(&in);
	r.label = "gr-0a1b2c-2";
	is_int(provider_spawn(p, &r, &in, &e), -1, "rent it again");
	is_int(e.code, GR_E_CAPACITY, "stale offer: CAPACITY");
	like(e.msg, "no longer available", "stale offer: message");
	offer_list_release(&ol);
	r.offer = NULL;

	/* stop and start whose replies are lost still take effect */
	id = spawn_id(p, "gr-0a1b2c-3", "RTX_4090");
	add_fault(p, PROV_OP_STOP, GR_E_TRANSIENT, 1, true, -1, NULL);
	is_int(provider_stop(p, id, &e), -1, "stop, reply lost");
	ok(e.outcome_unknown, "stop lost reply: outcome_unknown");
	is_int(provider_get(p, id, &in, &e), 0, "get after a lost stop");
	is_int(in.state, INST_STOPPED, "the stop happened");
	instance_release(&in);
	add_fault(p, PROV_OP_START, GR_E_TRANSIENT, 1, true, -1, NULL);
	is_int(provider_start(p, id, &e), -1, "start, reply lost");
	is_int(provider_get(p, id, &in, &e), 0, "get after a lost start");
	is_int(in.state, INST_RUNNING, "the start happened");
	instance_release(&in);
	free(id);

	fake_set_billed_price(p, "fake-404", usd("1"));
	fake_add_foreign(p, NULL, NULL);
	is_int(provider_get(p, "fake-3", &in, &e), 0, "a foreign CPU box");
	is_str(in.gpu, GPU_CPU, "foreign without a gpu is CPU");
	ok(in.label == NULL, "foreign without a label");
	instance_release(&in);
	provider_free(p);
}

static void
test_list_delay(void)
{
	struct provider		*p;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	char			*id;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_list_delay_ms(p, 30 * SEC);
	id = spawn_id(p, "gr-0a1b2c-1", "RTX_4090");
	is_int(provider_list(p, &l, &e), 0, "list right after spawn");
	is_int(l.n, 0, "list delay hides the new instance");
	instance_list_release(&l);
	is_int(provider_get(p, id, &in, &e), 0, "get sees it at once");
	instance_release(&in);
	clock_advance_ms(30 * SEC - 1);
	is_int(provider_list(p, &l, &e), 0, "list 1 ms before the delay");
	is_int(l.n, 0, "still hidden");
	instance_list_release(&l);
	clock_advance_ms(1);
	is_int(provider_list(p, &l, &e), 0, "list after the delay");
	is_int(l.n, 1, "visible once the delay has passed");
	instance_list_release(&l);
	free(id);
	provider_free(p);
}

static void
test_spot(void)
{
	struct provider	*p;
	struct instance	 in;
	struct gr_err	 e;
	char		*id;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_price(p, "A10", usd("0.60"));
	is_int(spawn(p, "gr-0a1b2c-1", "A10", "1", true, &in, &e), 0,
	    "spawn a spot instance");
	id = in.id;
	in.id = NULL;
	instance_release(&in);
	clock_advance_ms(30 * MIN);
	is_int(fake_interrupt(p, id), 0, "interrupt it");
	is_int(fake_billing_count(p), 0, "interrupted: billing ended");
	clock_advance_ms(HOUR);
	is_int(fake_billed_total(p), usd("0.30"),
	    "interrupted: billed until the interruption");
	is_int(provider_get(p, id, &in, &e), 0, "the next get");
	is_int(in.state, INST_TERMINATED, "shows it TERMINATED");
	is_str(in.status, "interrupted", "with status interrupted");
	ok(!in.billing, "and not billing");
	instance_release(&in);
	is_int(provider_get(p, id, &in, &e), -1, "a later get");
	is_int(e.code, GR_E_NOT_FOUND, "says NOT_FOUND");
	is_int(fake_interrupt(p, id), -1, "interrupting a gone one fails");
	free(id);

	id = spawn_id(p, "gr-0a1b2c-2", "A10");
	add_fault(p, PROV_OP_GET, GR_E_SPOT_INTERRUPTED, 1, false, -1, NULL);
	is_int(provider_get(p, id, &in, &e), -1, "get with SPOT_INTERRUPTED");
	is_int(e.code, GR_E_SPOT_INTERRUPTED, "SPOT_INTERRUPTED code");
	is_int(provider_get(p, id, &in, &e), -1, "get after that");
	is_int(e.code, GR_E_NOT_FOUND, "the interrupted instance is gone");
	is_int(fake_billing_count(p), 0, "and does not bill");
	free(id);
	provider_free(p);
}

static void
test_foreign_drift(void)
{
	struct provider		*p;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	size_t			 i, nforeign = 0, nours = 0, nnolabel = 0;
	int64_t			 uid;
	char			*id;

	clock_use_virtual(T0);
	p = fake_new();
	fake_add_foreign(p, "someones-notebook", "A100_80GB");
	fake_add_foreign(p, NULL, "RTX_4090");
	id = spawn_id(p, "gr-0a1b2c-1", "RTX_4090");
	is_int(provider_list(p, &l, &e), 0, "list with foreign instances");
	is_int(l.n, 3, "list shows every instance of the account");
	for (i = 0; i < l.n; i++) {
		if (l.v[i].label == NULL)
			nnolabel++;
		else if (owner_label_parse(l.v[i].label, "0a1b2c", &uid))
			nours++;
		else
			nforeign++;
	}
	ok(nours == 1 && nforeign == 1 && nnolabel == 1,
	    "ours by label, one foreign label, one without a label");
	instance_list_release(&l);
	is_int(fake_billing_count(p), 3, "foreign instances bill too");

	/* price drift: billed more than offered, from some moment */
	clock_advance_ms(30 * MIN);
	fake_set_billed_price(p, id, usd("0.60"));
	is_int(provider_get(p, id, &in, &e), 0, "get after the price drift");
	is_int(in.price, usd("0.60"), "get reports the billed price");
	instance_release(&in);
	clock_advance_ms(30 * MIN);
	is_int(fake_instance_billed(p, id), usd("0.54"),
	    "30 min at 0.48 then 30 min at 0.60");
	free(id);
	provider_free(p);
}

/* One scripted run; its observations as text. */
static char *
script(void)
{
	struct provider		*p;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	struct buf		 b = BUF_INIT;
	char			 label[64], mb[32];
	size_t			 i;
	int			 k;

	clock_use_virtual(T0);
	p = fake_new();
	fake_set_boot_ms(p, 45 * SEC);
	fake_set_capacity(p, "T4", 3);
	add_fault(p, PROV_OP_SPAWN, GR_E_CAPACITY, 2, false, -1, NULL);
	add_fault(p, PROV_OP_SPAWN, GR_E_TRANSIENT, 1, true, -1, NULL);
	for (k = 1; k <= 10; k++) {
		(void)snprintf(label, sizeof(label), "gr-0a1b2c-%d", k);
		if (spawn(p, label, k % 2 ? "T4" : "L4", "1", false, &in,
		    &e) == 0) {
			buf_addf(&b, "%s %s %s %s\n", in.id, in.region,
			    inst_state_name(in.state),
			    money_fmt(in.price, mb, sizeof(mb)));
			if (k % 3 == 0)
				(void)provider_terminate(p, in.id, &e);
			instance_release(&in);
		} else
			buf_addf(&b, "%s %s\n", gr_code_name(e.code),
			    e.outcome_unknown ? "lost" : "");
		clock_advance_ms(10 * SEC);
	}
	if (provider_list(p, &l, &e) == 0)
		for (i = 0; i < l.n; i++)
			buf_addf(&b, "%s %s %s\n", l.v[i].id,
			    l.v[i].label, inst_state_name(l.v[i].state));
	instance_list_release(&l);
	buf_addf(&b, "billed %s\n", money_fmt(fake_billed_total(p), mb,
	    sizeof(mb)));
	provider_free(p);
	return buf_detach(&b);
}

static void
test_determinism(void)
{
	char	*a = script(), *b = script();

	ok(a != NULL && b != NULL && strcmp(a, b) == 0,
	    "two fresh fakes driven alike give the same results");
	like(a, "CAPACITY", "the script saw its faults");
	like(a, "fake-1 ", "the script saw ids");
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
		diag("first:\n%s\nsecond:\n%s", a, b);
	free(a);
	free(b);
}

int
main(void)
{
	log_init(0, false, "3102");
	plan_lazy();
	test_every_code_every_op();
	test_counts_order_filter();
	test_after_apply();
	test_capacity_price();
	test_more_refusals();
	test_list_delay();
	test_spot();
	test_foreign_drift();
	test_determinism();
	return done_testing();
}
