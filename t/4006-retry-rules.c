/*
 * 4006: the retry rules of run.c on their own: full-jitter exponential
 * backoff from about 1 s to a 5 min cap, Retry-After honoured and clamped
 * to [1 s, 60 s], the capacity negative cache and its expiry, and the
 * same jitter for the same seed (the deterministic simulation needs it).
 */
#include <unistd.h>

#include "rectest.h"

static void
test_backoff(void)
{
	struct run_state	 rs;
	int64_t			 v, cap, max;
	int			 n, k, low, high;
	bool			 in_bounds = true;

	run_state_init(&rs, 42);
	for (n = 1; n <= 20; n++) {
		cap = 1000;
		for (k = 1; k < n && cap < 300000; k++)
			cap *= 2;
		if (cap > 300000)
			cap = 300000;
		low = high = 0;
		max = 0;
		for (k = 0; k < 400; k++) {
			v = run_backoff_ms(&rs, n);
			if (v < 0 || v > cap)
				in_bounds = false;
			if (v < cap / 2)
				low++;
			else
				high++;
			if (v > max)
				max = v;
		}
		if (n == 1 || n == 10 || n == 20)
			ok(low > 100 && high > 100, "attempt %d: full jitter "
			    "over [0, %lld] ms (%d low, %d high, max %lld)", n,
			    (long long)cap, low, high, (long long)max);
	}
	ok(in_bounds, "every backoff within [0, min(1 s x 2^(n-1), 5 min)]");
	ok(run_backoff_ms(NULL, 30) == 150000, "no run: half the 5 min cap");
	run_state_release(&rs);
}

static void
test_same_seed_same_jitter(void)
{
	struct run_state	 a, b;
	int			 k;
	bool			 same = true;

	run_state_init(&a, 7);
	run_state_init(&b, 7);
	for (k = 0; k < 100; k++)
		if (run_backoff_ms(&a, 1 + k % 9) != run_backoff_ms(&b,
		    1 + k % 9))
			same = false;
	ok(same, "the same seed gives the same backoffs");
	run_state_release(&a);
	run_state_release(&b);
}

static void
test_retry_after(void)
{
	struct run_state	 rs;
	struct gr_err		 e;
	int64_t			 v;

	run_state_init(&rs, 1);
	gr_err_clear(&e);
	gr_err_set(&e, GR_E_RATE_LIMIT, "slow down");
	e.retry_after_ms = 7000;
	is_int(run_rate_wait_ms(&rs, &e, 1), 7000, "Retry-After 7 s: 7 s");
	e.retry_after_ms = 0;
	is_int(run_rate_wait_ms(&rs, &e, 1), 1000, "Retry-After 0: 1 s");
	e.retry_after_ms = 10 * 60 * 1000;
	is_int(run_rate_wait_ms(&rs, &e, 1), 60000,
	    "Retry-After 10 min: clamped to 60 s");
	e.retry_after_ms = -1;
	v = run_rate_wait_ms(&rs, &e, 3);
	ok(v >= 0 && v <= 4000, "no Retry-After: jittered backoff (%lld ms)",
	    (long long)v);
	run_state_release(&rs);
}

static void
test_miss_cache(void)
{
	struct run_state	 rs;

	run_state_init(&rs, 1);
	ok(rs.miss_ttl_ms == 5 * 60 * 1000, "misses are kept 5 minutes");
	run_miss_add(&rs, "vastai", "RTX_4090", "ask-1");
	ok(run_miss_active(&rs, "vastai", "RTX_4090", "ask-1"),
	    "a missed offer is skipped");
	ok(!run_miss_active(&rs, "vastai", "RTX_4090", "ask-2"),
	    "another offer of that GPU is not");
	ok(!run_miss_active(&rs, "runpod", "RTX_4090", "ask-1"),
	    "nor the same at another provider");
	run_miss_add(&rs, "runpod", "A100_80GB", NULL);
	ok(run_miss_active(&rs, "runpod", "A100_80GB", "any"),
	    "a miss without an offer covers every offer of that GPU");
	ok(!run_miss_active(&rs, "runpod", "RTX_4090", "any"),
	    "but not another GPU");
	clock_advance_ms(5 * 60 * 1000 + 1);
	ok(!run_miss_active(&rs, "vastai", "RTX_4090", "ask-1") &&
	    !run_miss_active(&rs, "runpod", "A100_80GB", "any"),
	    "after 5 minutes they are tried again");
	run_state_release(&rs);
}

int
main(void)
{
	plan_lazy();
	log_init(LOG_LVL_ERROR, false, "test");
	clock_use_virtual(1800000000000LL);
	test_backoff();
	test_same_seed_same_jitter();
	test_retry_after();
	test_miss_cache();
	return done_testing();
}
