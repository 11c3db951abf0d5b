/*
 * fakelib.h: what the fake provider's own tests (t/310x) share: a virtual
 * epoch, a fake made through the registry, amounts, and one spawn helper.
 */
#ifndef GR_T_FAKELIB_H
#define GR_T_FAKELIB_H

#include <string.h>

#include "../providers/provider.h"
#include "tap.h"

#define T0	((int64_t)1767225600000)	/* 2026-01-01T00:00:00Z */
#define SEC	((int64_t)1000)
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)

static inline struct provider *
fake_new(void)
{
	struct provider_conf	 conf;
	struct provider		*p;
	struct gr_err		 e;

	memset(&conf, 0, sizeof(conf));
	conf.name = "fake";
	conf.ledger_id = "0a1b2c";
	provider_timeouts_default(&conf.timeouts);
	if (provider_new(&conf, &p, &e) == -1)
		bail_out("provider_new fake: %s", e.msg);
	return p;
}

static inline money_t
usd(const char *s)
{
	const char	*why;
	money_t		 m;

	if (!money_parse(s, &m, &why))
		bail_out("bad amount %s", s);
	return m;
}

/*
 * Spawn one GPU of type gpu (CPU: a CPU slot) under label at no more than
 * max $/h, optionally spot, in regions, from offer.
 */
static inline int
fake_spawn(struct provider *p, const char *label, const char *gpu,
    const char *max, bool spot, const char *const *regions, size_t nregions,
    const struct offer *offer, struct instance *out, struct gr_err *e)
{
	struct gpu_req		 g;
	struct spawn_req	 r;

	memset(&g, 0, sizeof(g));
	g.type = (char *)gpu;
	g.count = strcmp(gpu, GPU_CPU) == 0 ? 0 : 1;
	memset(&r, 0, sizeof(r));
	r.label = label;
	r.address = "train/worker/0";
	r.gpu = &g;
	r.max_price = usd(max);
	r.spot = spot;
	r.regions = regions;
	r.nregions = nregions;
	r.offer = offer;
	return provider_spawn(p, &r, out, e);
}

#endif
