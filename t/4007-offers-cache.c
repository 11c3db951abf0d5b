/*
 * 4007: the pass's offer cache (reconciler/offers.c) under threads.  A
 * lookup that hangs at one provider (down, timing out, waiting out a
 * 429) must not hold up the spawns that look up offers at another: the
 * cache once held one lock across every provider's call.  Lookups of the
 * same (provider, GPU) at once still share one call.  Two hand-made
 * providers: "slow", whose offers call blocks until the test lets it go,
 * and "quick".  Waits are on the real clock, bounded, and the slow call
 * is always let go, so a failure cannot hang the test.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "rectest.h"

static pthread_mutex_t	 gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 gate_cv = PTHREAD_COND_INITIALIZER;
static bool		 slow_inside;	/* the slow call has started */
static bool		 slow_go;	/* the slow call may return */

static int
slow_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	struct offer	*o;

	(void)p;
	(void)e;
	pthread_mutex_lock(&gate_mtx);
	slow_inside = true;
	pthread_cond_broadcast(&gate_cv);
	while (!slow_go)
		pthread_cond_wait(&gate_cv, &gate_mtx);
	pthread_mutex_unlock(&gate_mtx);
	o = offer_list_add(out);
	o->id = xstrdup("slow-1");
	o->gpu = xstrdup(g->type);
	o->gpu_count = 1;
	o->price = 500000;
	o->available = 1;
	return 0;
}

static int
quick_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	struct offer	*o;

	(void)p;
	(void)e;
	o = offer_list_add(out);
	o->id = xstrdup("quick-1");
	o->gpu = xstrdup(g->type);
	o->gpu_count = 1;
	o->price = 400000;
	o->available = 1;
	return 0;
}

static const struct provider_ops slow_ops = {
	.name = "slow", .offers = slow_offers,
};
static const struct provider_ops quick_ops = {
	.name = "quick", .offers = quick_offers,
};

struct lookup {
	struct ctx		*c;
	struct provider		*p;
	struct gpu_req		 g;
	struct offer_list	 ol;
	struct gr_err		 e;
	int			 rc;
	bool			 done;
};

static void *
lookup_main(void *arg)
{
	struct lookup	*l = arg;

	l->rc = ctx_offers(l->c, l->p, &l->g, &l->ol, &l->e);
	pthread_mutex_lock(&gate_mtx);
	l->done = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mtx);
	return NULL;
}

/* Wait (real time, at most ms) until *flag; whether it came. */
static bool
wait_flag(bool *flag, int ms)
{
	struct timespec	 ts;
	int		 rc = 0;
	bool		 v;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&gate_mtx);
	while (!*flag && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mtx, &ts);
	v = *flag;
	pthread_mutex_unlock(&gate_mtx);
	return v;
}

static void
lookup_start(struct lookup *l, pthread_t *th, struct ctx *c,
    struct provider *p)
{
	memset(l, 0, sizeof(*l));
	l->c = c;
	l->p = p;
	l->g.type = "RTX_4090";
	l->g.count = 1;
	if (pthread_create(th, NULL, lookup_main, l) != 0)
		bail_out("pthread_create");
}

static void
test_other_provider_not_held_up(void)
{
	struct env	 v;
	struct provider	 slow, quick;
	struct lookup	 a, b, a2;
	pthread_t	 ta, tb, ta2;

	env_open(&v, NULL);
	memset(&slow, 0, sizeof(slow));
	memset(&quick, 0, sizeof(quick));
	slow.ops = &slow_ops;
	slow.name = "slow";
	quick.ops = &quick_ops;
	quick.name = "quick";

	lookup_start(&a, &ta, &v.c, &slow);
	ok(wait_flag(&slow_inside, 5000), "the slow provider's lookup hangs");
	lookup_start(&a2, &ta2, &v.c, &slow);
	lookup_start(&b, &tb, &v.c, &quick);
	ok(wait_flag(&b.done, 3000), "a lookup at another provider is not "
	    "held up by it");
	ok(!a.done && !a2.done, "while the slow ones still wait");

	pthread_mutex_lock(&gate_mtx);
	slow_go = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mtx);
	pthread_join(ta, NULL);
	pthread_join(ta2, NULL);
	pthread_join(tb, NULL);

	is_int(b.rc, 0, "quick: its offers");
	ok(b.ol.n == 1 && strcmp(b.ol.v[0].id, "quick-1") == 0,
	    "quick: its own offer");
	is_int(a.rc, 0, "slow: its offers");
	is_int(a2.rc, 0, "slow, asked at once: its offers too");
	ok(a2.ol.n == 1 && strcmp(a2.ol.v[0].id, "slow-1") == 0,
	    "slow, asked at once: the same answer");
	is_int((long long)slow.calls[PROV_OP_OFFERS], 1,
	    "two lookups of one (provider, GPU) at once share one call");

	/* cached: no call; a flush: asked again */
	offer_list_release(&a.ol);
	ok(ctx_offers(&v.c, &slow, &a.g, &a.ol, &a.e) == 0 &&
	    slow.calls[PROV_OP_OFFERS] == 1, "asked again: the cached answer");
	ctx_offers_flush(&v.c);
	offer_list_release(&a.ol);
	ok(ctx_offers(&v.c, &slow, &a.g, &a.ol, &a.e) == 0 &&
	    slow.calls[PROV_OP_OFFERS] == 2, "after a flush: asked again");

	offer_list_release(&a.ol);
	offer_list_release(&a2.ol);
	offer_list_release(&b.ol);
	env_close(&v);
}

int
main(void)
{
	plan_lazy();
	log_init(LOG_LVL_ERROR, false, "test");
	clock_use_virtual(1800000000000LL);
	test_other_provider_not_held_up();
	return done_testing();
}
