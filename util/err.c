/*
 * err.c: the error struct and the one table that maps each code to its
 * name, category, retry rule and exit code (DESIGN.md section 4).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct {
	const char		*name;
	enum gr_category	 cat;
	bool			 retryable;
	int			 exit;
} codes[GR_E__COUNT] = {
	[GR_OK] =		{ "OK", GR_CAT_NONE, false, GR_EXIT_OK },
	[GR_E_CAPACITY] =	{ "CAPACITY", GR_CAT_CAPACITY, true,
				  GR_EXIT_UNAVAILABLE },
	[GR_E_AUTH] =		{ "AUTH", GR_CAT_AUTH, false, GR_EXIT_NOPERM },
	[GR_E_RATE_LIMIT] =	{ "RATE_LIMIT", GR_CAT_RATE_LIMIT, true,
				  GR_EXIT_TEMPFAIL },
	[GR_E_SPOT_INTERRUPTED] = { "SPOT_INTERRUPTED", GR_CAT_CAPACITY, true,
				  GR_EXIT_UNAVAILABLE },
	[GR_E_QUOTA_EXCEEDED] =	{ "QUOTA_EXCEEDED", GR_CAT_CAPACITY, false,
				  GR_EXIT_UNAVAILABLE },
	[GR_E_INVALID_SPEC] =	{ "INVALID_SPEC", GR_CAT_VALIDATION, false,
				  GR_EXIT_DATAERR },
	[GR_E_NOT_FOUND] =	{ "NOT_FOUND", GR_CAT_NOT_FOUND, false,
				  GR_EXIT_NOINPUT },
	[GR_E_TRANSIENT] =	{ "TRANSIENT", GR_CAT_TRANSIENT, true,
				  GR_EXIT_TEMPFAIL },
	[GR_E_UNSUPPORTED] =	{ "UNSUPPORTED", GR_CAT_VALIDATION, false,
				  GR_EXIT_UNAVAILABLE },
	[GR_E_USAGE] =		{ "USAGE", GR_CAT_LOCAL, false, GR_EXIT_USAGE },
	[GR_E_SPEC] =		{ "SPEC", GR_CAT_VALIDATION, false,
				  GR_EXIT_DATAERR },
	[GR_E_CONFIG] =		{ "CONFIG", GR_CAT_VALIDATION, false,
				  GR_EXIT_CONFIG },
	[GR_E_LOCKED] =		{ "LOCKED", GR_CAT_LOCAL, true,
				  GR_EXIT_TEMPFAIL },
	[GR_E_LEDGER] =		{ "LEDGER", GR_CAT_LOCAL, false,
				  GR_EXIT_IOERR },
	[GR_E_IO] =		{ "IO", GR_CAT_LOCAL, false, GR_EXIT_IOERR },
	[GR_E_TIMEOUT] =	{ "TIMEOUT", GR_CAT_TRANSIENT, true,
				  GR_EXIT_TEMPFAIL },
	[GR_E_UNCONFIRMED] =	{ "UNCONFIRMED", GR_CAT_TRANSIENT, true,
				  GR_EXIT_TEMPFAIL },
	[GR_E_BUDGET] =		{ "BUDGET", GR_CAT_VALIDATION, false,
				  GR_EXIT_ERROR },
	[GR_E_INTERNAL] =	{ "INTERNAL", GR_CAT_LOCAL, false,
				  GR_EXIT_SOFTWARE },
};

static const char *const categories[] = {
	[GR_CAT_NONE] = "none",
	[GR_CAT_CAPACITY] = "capacity",
	[GR_CAT_AUTH] = "auth",
	[GR_CAT_RATE_LIMIT] = "rate_limit",
	[GR_CAT_VALIDATION] = "validation",
	[GR_CAT_NOT_FOUND] = "not_found",
	[GR_CAT_TRANSIENT] = "transient",
	[GR_CAT_LOCAL] = "local",
};

static bool
code_valid(enum gr_code c)
{
	return (int)c >= 0 && c < GR_E__COUNT;
}

void
gr_err_clear(struct gr_err *e)
{
	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	e->retry_after_ms = -1;
}

void
gr_err_set_at(struct gr_err *e, const char *file, int line, enum gr_code code,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 provider[sizeof(e->provider)];
	int	 http;
	int64_t	 ra;

	if (e == NULL)
		return;
	/* Keep what a lower layer already said about the transport. */
	memcpy(provider, e->provider, sizeof(provider));
	http = e->http_status;
	ra = e->retry_after_ms;
	gr_err_clear(e);
	memcpy(e->provider, provider, sizeof(provider));
	e->http_status = http;
	e->retry_after_ms = ra;
	e->code = code;
	e->file = file;
	e->line = line;
	va_start(ap, fmt);
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void
gr_err_hint(struct gr_err *e, const char *fmt, ...)
{
	va_list	 ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(e->hint, sizeof(e->hint), fmt, ap);
	va_end(ap);
}

void
gr_err_prefix(struct gr_err *e, const char *fmt, ...)
{
	struct buf	 b = BUF_INIT;
	va_list		 ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	buf_addf(&b, ": %s", e->msg);
	(void)snprintf(e->msg, sizeof(e->msg), "%s", buf_str(&b));
	buf_release(&b);
}

void
gr_err_copy(struct gr_err *dst, const struct gr_err *src)
{
	if (dst != NULL && src != NULL)
		memcpy(dst, src, sizeof(*dst));
}

const char *
gr_err_str(const struct gr_err *e, char *out, size_t len)
{
	if (e->hint[0] != '\0')
		(void)snprintf(out, len, "%s (hint: %s)", e->msg, e->hint);
	else
		(void)snprintf(out, len, "%s", e->msg);
	return out;
}

const char *
gr_code_name(enum gr_code c)
{
	return code_valid(c) ? codes[c].name : "UNKNOWN";
}

bool
gr_code_parse(const char *s, enum gr_code *out)
{
	size_t	 i;

	for (i = 0; i < nitems(codes); i++) {
		if (strcasecmp(s, codes[i].name) == 0) {
			*out = (enum gr_code)i;
			return true;
		}
	}
	return false;
}

enum gr_category
gr_code_category(enum gr_code c)
{
	return code_valid(c) ? codes[c].cat : GR_CAT_LOCAL;
}

const char *
gr_category_name(enum gr_category c)
{
	if ((int)c < 0 || (size_t)c >= nitems(categories))
		return "unknown";
	return categories[c];
}

bool
gr_code_retryable(enum gr_code c)
{
	return code_valid(c) ? codes[c].retryable : false;
}

int
gr_code_exit(enum gr_code c)
{
	return code_valid(c) ? codes[c].exit : GR_EXIT_SOFTWARE;
}
