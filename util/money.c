/*
 * money.c: money is integer micro-dollars so that every sum is exact and
 * reports agree to the cent with the providers' own records.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

bool
money_parse(const char *s, money_t *out, const char **why)
{
	money_t		 whole = 0, frac = 0;
	int		 nfrac = 0;
	const char	*p = s;

	*why = NULL;
	if (*p == '\0') {
		*why = "empty amount";
		return false;
	}
	if (*p == '-' || *p == '+') {
		*why = "amounts have no sign";
		return false;
	}
	if (*p == '$') {
		*why = "write the amount without a currency sign";
		return false;
	}
	if (!isdigit((unsigned char)*p)) {
		*why = "expected digits";
		return false;
	}
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > MONEY_MAX / MONEY_UNIT) {
			*why = "amount too large (at most 1000000)";
			return false;
		}
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p)) {
			*why = "expected digits after '.'";
			return false;
		}
		for (; isdigit((unsigned char)*p); p++) {
			if (++nfrac > 6) {
				*why = "at most 6 decimal places";
				return false;
			}
			frac = frac * 10 + (*p - '0');
		}
		for (int i = nfrac; i < 6; i++)
			frac *= 10;
	}
	if (*p != '\0') {
		*why = "expected a plain decimal such as 0.70";
		return false;
	}
	*out = whole * MONEY_UNIT + frac;
	return true;
}

const char *
money_fmt(money_t m, char *out, size_t len)
{
	money_t	 a = m < 0 ? -m : m;
	money_t	 whole = a / MONEY_UNIT, frac = a % MONEY_UNIT;
	char	 fbuf[8];
	int	 nd = 6;

	(void)snprintf(fbuf, sizeof(fbuf), "%06lld", (long long)frac);
	while (nd > 2 && fbuf[nd - 1] == '0')
		nd--;
	fbuf[nd] = '\0';
	(void)snprintf(out, len, "%s%lld.%s", m < 0 ? "-" : "",
	    (long long)whole, fbuf);
	return out;
}

money_t
money_cost(money_t rate, int64_t ms)
{
	__int128	 v;

	if (ms <= 0 || rate <= 0)
		return 0;
	v = (__int128)rate * ms;
	/* round half up to the micro-dollar */
	return (money_t)((v + 3600000 / 2) / 3600000);
}

double
money_to_double(money_t m)
{
	return (double)m / (double)MONEY_UNIT;
}
