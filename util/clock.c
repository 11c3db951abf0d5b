/*
 * clock.c: the one source of time.  Tests and the deterministic
 * simulation install a virtual clock with clock_set().
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "util.h"

static int64_t
real_now_ms(void *arg)
{
	struct timespec	 ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
real_sleep_ms(void *arg, int64_t ms)
{
	struct timespec	 ts;

	(void)arg;
	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const struct clock_ops real_clock = { real_now_ms, real_sleep_ms,
	NULL };
static const struct clock_ops *cur_clock = &real_clock;

int64_t
clock_now_ms(void)
{
	return cur_clock->now_ms(cur_clock->arg);
}

void
clock_sleep_ms(int64_t ms)
{
	cur_clock->sleep_ms(cur_clock->arg, ms);
}

void
clock_set(const struct clock_ops *ops)
{
	cur_clock = ops == NULL ? &real_clock : ops;
}

int64_t
clock_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
time_iso8601(int64_t ms, char *out, size_t len)
{
	time_t		 t = (time_t)(ms / 1000);
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, len, "?");
	return out;
}

const char *
age_fmt(int64_t ms, char *out, size_t len)
{
	int64_t	 s = ms / 1000;

	if (s < 60)
		(void)snprintf(out, len, "%llds", (long long)(s < 0 ? 0 : s));
	else if (s < 3600)
		(void)snprintf(out, len, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		(void)snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		(void)snprintf(out, len, "%lldd%02lldh",
		    (long long)(s / 86400), (long long)(s % 86400 / 3600));
	return out;
}

static int64_t	 vclock_ms;

static int64_t
virt_now_ms(void *arg)
{
	(void)arg;
	return __atomic_load_n(&vclock_ms, __ATOMIC_SEQ_CST);
}

static void
virt_sleep_ms(void *arg, int64_t ms)
{
	(void)arg;
	if (ms > 0)
		__atomic_add_fetch(&vclock_ms, ms, __ATOMIC_SEQ_CST);
}

static const struct clock_ops virt_clock = { virt_now_ms, virt_sleep_ms,
	NULL };

void
clock_use_virtual(int64_t start_ms)
{
	__atomic_store_n(&vclock_ms, start_ms, __ATOMIC_SEQ_CST);
	cur_clock = &virt_clock;
}

void
clock_advance_ms(int64_t ms)
{
	virt_sleep_ms(NULL, ms);
}

/* Any clock but the real one: this one, or one set with clock_set (the
 * deterministic simulation keeps its own in memory its processes share). */
bool
clock_is_virtual(void)
{
	return cur_clock != &real_clock;
}
