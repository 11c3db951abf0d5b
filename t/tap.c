/*
 * tap.c: the TAP producer (see tap.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int	 planned = -1;
static int	 ran;
static int	 failed;

void
plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void
plan_lazy(void)
{
	planned = -1;
}

int
done_testing(void)
{
	if (planned < 0)
		printf("1..%d\n", ran);
	else if (planned != ran)
		printf("# planned %d tests but ran %d\n", planned, ran);
	fflush(stdout);
	return failed > 0 || (planned >= 0 && planned != ran) ? 1 : 0;
}

void
skip_all(const char *fmt, ...)
{
	va_list	 ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(0);
}

void
bail_out(const char *fmt, ...)
{
	va_list	 ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

void
diag(const char *fmt, ...)
{
	va_list	 ap;
	char	 line[4096], *p, *nl;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (p = line; p != NULL; p = nl) {
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		if (*p != '\0' || nl != NULL)
			printf("# %s\n", p);
	}
	fflush(stdout);
}

void
skip(int n, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[512];
	int	 i;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	for (i = 0; i < n; i++)
		printf("ok %d # skip %s\n", ++ran, why);
	fflush(stdout);
}

static bool
vok(const char *file, int line, bool c, const char *fmt, va_list ap)
{
	ran++;
	printf("%sok %d - ", c ? "" : "not ", ran);
	vprintf(fmt, ap);
	printf("\n");
	if (!c) {
		failed++;
		printf("#   Failed test at %s line %d.\n", file, line);
	}
	fflush(stdout);
	return c;
}

bool
ok_at(const char *file, int line, bool c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vok(file, line, c, fmt, ap);
	va_end(ap);
	return c;
}

bool
is_int_at(const char *file, int line, long long got, long long want,
    const char *fmt, ...)
{
	va_list	 ap;
	bool	 c = got == want;

	va_start(ap, fmt);
	vok(file, line, c, fmt, ap);
	va_end(ap);
	if (!c)
		diag("         got: %lld\n    expected: %lld", got, want);
	return c;
}

bool
is_str_at(const char *file, int line, const char *got, const char *want,
    const char *fmt, ...)
{
	va_list	 ap;
	bool	 c;

	c = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_start(ap, fmt);
	vok(file, line, c, fmt, ap);
	va_end(ap);
	if (!c)
		diag("         got: '%s'\n    expected: '%s'",
		    got ? got : "(null)", want ? want : "(null)");
	return c;
}

bool
like_at(const char *file, int line, const char *got, const char *want,
    const char *fmt, ...)
{
	va_list	 ap;
	bool	 c;

	c = got != NULL && want != NULL && strstr(got, want) != NULL;
	va_start(ap, fmt);
	vok(file, line, c, fmt, ap);
	va_end(ap);
	if (!c)
		diag("         got: '%s'\n    to contain: '%s'",
		    got ? got : "(null)", want ? want : "(null)");
	return c;
}
