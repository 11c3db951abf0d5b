/*
 * offers.c: one offer lookup per (provider, GPU request) per pass.
 * Planning prices every empty slot and every spawn picks an offer; asked
 * each time, a 200-instance apply made 400 catalog calls, which at a
 * provider's pacing of one request a second is minutes of wall time
 * (bench/converge).  An answer is kept until apply starts its next pass
 * (ctx_offers_flush) and never longer than OFFERS_TTL_MS; failures are
 * not kept.  Capacity that an answer showed and that is gone by the spawn
 * is what the provider says then (CAPACITY), and the run's miss cache
 * keeps that offer out of the next spawns, as before; what this run rents
 * itself is taken off the cached answer (ctx_offers_took), so that the
 * next spawn does not try an ask it just rented (a Vast ask is one
 * machine).
 *
 * Threads: the cache's lock is never held across a provider's call.  A
 * lookup marks its (provider, GPU) entry in flight; lookups of the same
 * key wait for it and take its answer, lookups of any other key go on
 * (one lock across every call let a provider that hangs, down or waiting
 * out a 429, hold up the spawns at every other provider).
 */
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

#define OFFERS_TTL_MS	(10 * 1000)

struct offers_entry {
	char			*provider;
	struct gpu_req		 gpu;
	struct offer_list	 ol;
	int64_t			 at_ms;
	bool			 valid;		/* ol is an answer */
	bool			 busy;		/* a lookup is in flight */
};

struct offers_cache {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 done;		/* a lookup ended */
	struct offers_entry	*v;
	size_t			 n;
};

static void
offer_copy(struct offer *dst, const struct offer *src)
{
	*dst = *src;
	dst->id = src->id != NULL ? xstrdup(src->id) : NULL;
	dst->gpu = src->gpu != NULL ? xstrdup(src->gpu) : NULL;
	dst->region = src->region != NULL ? xstrdup(src->region) : NULL;
}

static void
list_copy(struct offer_list *dst, const struct offer_list *src)
{
	size_t	 i;

	for (i = 0; i < src->n; i++)
		offer_copy(offer_list_add(dst), &src->v[i]);
}

static void
entries_free(struct offers_cache *oc)
{
	size_t	 i;

	for (i = 0; i < oc->n; i++) {
		free(oc->v[i].provider);
		free(oc->v[i].gpu.type);
		offer_list_release(&oc->v[i].ol);
	}
	free(oc->v);
	oc->v = NULL;
	oc->n = 0;
}

static bool
nstr_eq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool
same_req(const struct gpu_req *a, const struct gpu_req *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return nstr_eq(a->type, b->type) && a->count == b->count &&
	    a->min_vram_gb == b->min_vram_gb;
}

/* The entry of (provider, GPU), or NULL; oc->mtx held. */
static struct offers_entry *
entry_find(struct offers_cache *oc, const char *provider,
    const struct gpu_req *g)
{
	size_t	 i;

	for (i = 0; i < oc->n; i++)
		if (strcmp(oc->v[i].provider, provider) == 0 &&
		    same_req(&oc->v[i].gpu, g))
			return &oc->v[i];
	return NULL;
}

/* A new, empty entry; oc->mtx held.  Moves the others (realloc). */
static struct offers_entry *
entry_add(struct offers_cache *oc, const char *provider,
    const struct gpu_req *g)
{
	struct offers_entry	*en;

	oc->v = xreallocarray(oc->v, oc->n + 1, sizeof(*oc->v));
	en = &oc->v[oc->n++];
	memset(en, 0, sizeof(*en));
	en->provider = xstrdup(provider);
	if (g != NULL) {
		en->gpu = *g;
		en->gpu.type = g->type != NULL ? xstrdup(g->type) : NULL;
	}
	return en;
}

int
ctx_offers(struct ctx *c, struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	struct offers_cache	*oc;
	struct offers_entry	*en;
	int64_t			 now;
	int			 rc;

	pthread_mutex_lock(&c->mtx);
	if (c->offers == NULL) {
		c->offers = xcalloc(1, sizeof(*c->offers));
		if (pthread_mutex_init(&c->offers->mtx, NULL) != 0 ||
		    pthread_cond_init(&c->offers->done, NULL) != 0)
			fatalx("pthread_mutex_init");
	}
	oc = c->offers;
	pthread_mutex_unlock(&c->mtx);

	pthread_mutex_lock(&oc->mtx);
	for (;;) {
		now = clock_now_ms();
		en = entry_find(oc, p->name, g);
		if (en != NULL && en->valid && now >= en->at_ms &&
		    now - en->at_ms < OFFERS_TTL_MS) {
			list_copy(out, &en->ol);
			pthread_mutex_unlock(&oc->mtx);
			gr_err_clear(e);
			return 0;
		}
		if (en == NULL || !en->busy)
			break;
		/* the same lookup is in flight: its answer will do */
		pthread_cond_wait(&oc->done, &oc->mtx);
	}
	if (en == NULL)
		en = entry_add(oc, p->name, g);
	en->busy = true;
	pthread_mutex_unlock(&oc->mtx);

	rc = provider_offers(p, g, out, e);

	pthread_mutex_lock(&oc->mtx);
	/* found again: entries move, and a flush may have dropped it */
	en = entry_find(oc, p->name, g);
	if (en == NULL)
		en = entry_add(oc, p->name, g);
	en->busy = false;
	if (rc == 0) {
		offer_list_release(&en->ol);
		list_copy(&en->ol, out);
		en->at_ms = now;
		en->valid = true;
	}
	pthread_cond_broadcast(&oc->done);
	pthread_mutex_unlock(&oc->mtx);
	return rc;
}

void
ctx_offers_took(struct ctx *c, const char *provider, const struct gpu_req *g,
    const char *offer_id, bool all)
{
	struct offers_cache	*oc = c->offers;
	size_t			 i, k;

	if (oc == NULL || offer_id == NULL)
		return;
	pthread_mutex_lock(&oc->mtx);
	for (i = 0; i < oc->n; i++) {
		struct offers_entry *en = &oc->v[i];

		if (strcmp(en->provider, provider) != 0 ||
		    !same_req(&en->gpu, g))
			continue;
		for (k = 0; k < en->ol.n; k++) {
			struct offer *o = &en->ol.v[k];

			if (o->id == NULL || strcmp(o->id, offer_id) != 0)
				continue;
			if (all || o->available <= 1)
				o->available = 0;
			else
				o->available--;
		}
	}
	pthread_mutex_unlock(&oc->mtx);
}

void
ctx_offers_flush(struct ctx *c)
{
	if (c->offers == NULL)
		return;
	pthread_mutex_lock(&c->offers->mtx);
	entries_free(c->offers);
	pthread_mutex_unlock(&c->offers->mtx);
}

void
ctx_offers_free(struct ctx *c)
{
	if (c->offers == NULL)
		return;
	entries_free(c->offers);
	pthread_cond_destroy(&c->offers->done);
	pthread_mutex_destroy(&c->offers->mtx);
	free(c->offers);
	c->offers = NULL;
}
