/*
 * duration.c: the one duration syntax of fleet files and config:
 * <digits><unit> pairs, units s/m/h/d, largest unit first, no repeats.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define DURATION_MAX	(365LL * 86400)

bool
duration_parse(const char *s, int64_t *out, const char **why)
{
	static const struct {
		char	 c;
		int64_t	 secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	const char	*p = s;
	int64_t		 total = 0;
	size_t		 next = 0, i;

	*why = NULL;
	if (*p == '\0') {
		*why = "empty duration";
		return false;
	}
	while (*p != '\0') {
		int64_t	 n = 0;

		if (!isdigit((unsigned char)*p)) {
			*why = "expected a number followed by s, m, h or d, "
			    "such as 90s, 15m, 12h or 7d";
			return false;
		}
		for (; isdigit((unsigned char)*p); p++) {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX) {
				*why = "duration too long (at most 365d)";
				return false;
			}
		}
		for (i = next; i < nitems(units); i++)
			if (units[i].c == *p)
				break;
		if (*p == '\0' || i == nitems(units)) {
			*why = *p == '\0' ? "missing unit (s, m, h or d)" :
			    "unknown or out-of-order unit (use d, h, m, s in "
			    "that order)";
			return false;
		}
		total += n * units[i].secs;
		if (total > DURATION_MAX) {
			*why = "duration too long (at most 365d)";
			return false;
		}
		next = i + 1;
		p++;
	}
	*out = total;
	return true;
}

const char *
duration_fmt(int64_t secs, char *out, size_t len)
{
	struct buf	 b = BUF_INIT;
	int64_t		 d, h, m, s;

	if (secs <= 0) {
		(void)snprintf(out, len, "0s");
		return out;
	}
	d = secs / 86400;
	h = secs % 86400 / 3600;
	m = secs % 3600 / 60;
	s = secs % 60;
	if (d > 0)
		buf_addf(&b, "%lldd", (long long)d);
	if (h > 0)
		buf_addf(&b, "%lldh", (long long)h);
	if (m > 0)
		buf_addf(&b, "%lldm", (long long)m);
	if (s > 0)
		buf_addf(&b, "%llds", (long long)s);
	(void)snprintf(out, len, "%s", buf_str(&b));
	buf_release(&b);
	return out;
}

/*
 * Added with watch: a duration in milliseconds, for the daemon's short
 * intervals: "<digits>ms" (up to a minute), or the syntax above.
 */
bool
duration_parse_ms(const char *s, int64_t *ms, const char **why)
{
	int64_t		 secs, n = 0;
	const char	*p = s;

	*why = NULL;
	if (str_has_suffix(s, "ms") && strlen(s) > 2) {
		for (; isdigit((unsigned char)*p); p++) {
			n = n * 10 + (*p - '0');
			if (n > 60 * 1000) {
				*why = "too many milliseconds (at most "
				    "60000ms; use s, m, h or d beyond that)";
				return false;
			}
		}
		if (strcmp(p, "ms") != 0) {
			*why = "expected a number followed by ms, s, m, h or "
			    "d, such as 250ms, 90s or 15m";
			return false;
		}
		*ms = n;
		return true;
	}
	if (!duration_parse(s, &secs, why))
		return false;
	*ms = secs * 1000;
	return true;
}
