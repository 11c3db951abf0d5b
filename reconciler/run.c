/*
 * run.c: memory of one apply run across its passes, so that the
 * taxonomy's retry rules hold: AUTH and QUOTA block a provider, an
 * INVALID_SPEC fails its group, capacity misses are remembered for a few
 * minutes, and each slot backs off exponentially with full jitter and is
 * given up (and reported) after a bounded number of attempts.
 */
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

struct run_miss {
	char	*provider;
	char	*gpu;
	char	*region;
	int64_t	 until_ms;
};

void
run_state_init(struct run_state *rs, uint64_t seed)
{
	memset(rs, 0, sizeof(*rs));
	pthread_mutex_init(&rs->mtx, NULL);
	pthread_mutex_init(&rs->rng_mtx, NULL);
	rs->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
	rs->max_attempts = 3;
	rs->miss_ttl_ms = 5 * 60 * 1000;
}

void
run_state_release(struct run_state *rs)
{
	size_t	 i;

	if (rs == NULL)
		return;
	kv_free(rs->blocked, rs->nblocked);
	free(rs->blocked_code);
	kv_free(rs->failed_groups, rs->nfailed_groups);
	for (i = 0; i < rs->nmisses; i++) {
		free(rs->misses[i].provider);
		free(rs->misses[i].gpu);
		free(rs->misses[i].region);
	}
	free(rs->misses);
	for (i = 0; i < rs->nslots; i++)
		free(rs->slots[i].addr);
	free(rs->slots);
	pthread_mutex_destroy(&rs->rng_mtx);
	pthread_mutex_destroy(&rs->mtx);
}

static void
kv_append(struct kv **v, size_t *n, const char *k, const char *val)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].key = xstrdup(k);
	(*v)[*n].value = xstrdup(val);
	(*n)++;
}

const char *
run_blocked(struct run_state *rs, const char *provider)
{
	const char	*why;

	if (rs == NULL)
		return NULL;
	pthread_mutex_lock(&rs->mtx);
	why = kv_get(rs->blocked, rs->nblocked, provider);
	pthread_mutex_unlock(&rs->mtx);
	return why;
}

void
run_block(struct run_state *rs, const char *provider, enum gr_code code,
    const char *why)
{
	pthread_mutex_lock(&rs->mtx);
	if (kv_get(rs->blocked, rs->nblocked, provider) == NULL) {
		rs->blocked_code = xreallocarray(rs->blocked_code,
		    rs->nblocked + 1, sizeof(*rs->blocked_code));
		rs->blocked_code[rs->nblocked] = code;
		kv_append(&rs->blocked, &rs->nblocked, provider, why);
	}
	pthread_mutex_unlock(&rs->mtx);
}

const char *
run_group_failed(struct run_state *rs, const char *fleet, const char *group)
{
	const char	*why;
	char		*key;

	if (rs == NULL)
		return NULL;
	key = xasprintf("%s/%s", fleet, group);
	pthread_mutex_lock(&rs->mtx);
	why = kv_get(rs->failed_groups, rs->nfailed_groups, key);
	pthread_mutex_unlock(&rs->mtx);
	free(key);
	return why;
}

void
run_fail_group(struct run_state *rs, const char *fleet, const char *group,
    const char *why)
{
	char	*key = xasprintf("%s/%s", fleet, group);

	pthread_mutex_lock(&rs->mtx);
	if (kv_get(rs->failed_groups, rs->nfailed_groups, key) == NULL)
		kv_append(&rs->failed_groups, &rs->nfailed_groups, key, why);
	pthread_mutex_unlock(&rs->mtx);
	free(key);
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

void
run_miss_add(struct run_state *rs, const char *provider, const char *gpu,
    const char *region)
{
	struct run_miss	*m;
	int64_t		 until = clock_now_ms() + rs->miss_ttl_ms;
	size_t		 i;

	pthread_mutex_lock(&rs->mtx);
	for (i = 0; i < rs->nmisses; i++) {
		m = &rs->misses[i];
		if (str_eq(m->provider, provider) && str_eq(m->gpu, gpu) &&
		    str_eq(m->region, region)) {
			m->until_ms = until;
			goto out;
		}
	}
	rs->misses = xreallocarray(rs->misses, rs->nmisses + 1,
	    sizeof(*rs->misses));
	m = &rs->misses[rs->nmisses++];
	m->provider = xstrdup(provider);
	m->gpu = xstrdup(gpu);
	m->region = region != NULL ? xstrdup(region) : NULL;
	m->until_ms = until;
out:
	pthread_mutex_unlock(&rs->mtx);
}

bool
run_miss_active(struct run_state *rs, const char *provider, const char *gpu,
    const char *region)
{
	int64_t	 now = clock_now_ms();
	bool	 hit = false;
	size_t	 i;

	if (rs == NULL)
		return false;
	pthread_mutex_lock(&rs->mtx);
	for (i = 0; i < rs->nmisses && !hit; i++) {
		const struct run_miss *m = &rs->misses[i];

		/* A miss with no offer id covers every offer. */
		hit = str_eq(m->provider, provider) && str_eq(m->gpu, gpu) &&
		    (m->region == NULL || str_eq(m->region, region)) &&
		    m->until_ms > now;
	}
	pthread_mutex_unlock(&rs->mtx);
	return hit;
}

struct slot_state *
run_slot(struct run_state *rs, const char *addr)
{
	struct slot_state	*s;
	size_t			 i;

	for (i = 0; i < rs->nslots; i++)
		if (strcmp(rs->slots[i].addr, addr) == 0)
			return &rs->slots[i];
	rs->slots = xreallocarray(rs->slots, rs->nslots + 1,
	    sizeof(*rs->slots));
	s = &rs->slots[rs->nslots++];
	memset(s, 0, sizeof(*s));
	s->addr = xstrdup(addr);
	gr_err_clear(&s->last);
	return s;
}

static uint64_t
run_rand(struct run_state *rs)
{
	uint64_t	 x;

	/* xorshift64*: deterministic for a given seed */
	/* its own lock: callers may hold mtx while asking for a backoff */
	pthread_mutex_lock(&rs->rng_mtx);
	x = rs->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rs->rng = x;
	pthread_mutex_unlock(&rs->rng_mtx);
	return x * 0x2545f4914f6cdd1dULL;
}

int64_t
run_backoff_ms(struct run_state *rs, int attempt)
{
	int64_t	 cap = 1000;
	int	 i;

	for (i = 1; i < attempt && cap < 5 * 60 * 1000; i++)
		cap *= 2;
	if (cap > 5 * 60 * 1000)
		cap = 5 * 60 * 1000;
	/* no run (the `provider` commands): no jitter to share, half */
	if (rs == NULL)
		return cap / 2;
	/* full jitter: uniform in [0, cap] */
	return (int64_t)(run_rand(rs) % (uint64_t)(cap + 1));
}

int64_t
run_rate_wait_ms(struct run_state *rs, const struct gr_err *e, int n)
{
	int64_t	 ms;

	if (e->retry_after_ms >= 0) {
		ms = e->retry_after_ms;
		if (ms < 1000)
			ms = 1000;
		if (ms > 60000)
			ms = 60000;
		return ms;
	}
	return run_backoff_ms(rs, n);
}
