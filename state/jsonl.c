/*
 * jsonl.c: the ledger as JSON lines, for `ledger export --jsonl` and
 * `ledger import` (DESIGN.md section 6), and other tools' lists of
 * tracked instances, which import adopts.
 *
 * An export is a "ledger" line (id, schema version, how many instances
 * and events follow, so that a cut-off file is caught), then one
 * "instance" line per row by uid and, with events, one "event" line per
 * event by id.  Integers are the truth (micro-dollars, ms); the decimal
 * strings and ISO 8601 times beside them are for people and other tools,
 * and are ignored on import.  SQLite stays in ledger.c: this file only
 * turns a struct ledger_dump into text and back.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "state.h"

/*
 * Export.
 */

/* new */
static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* new: the time as ISO 8601, null when 0 (not yet) */
static json_t *
iso_or_null(int64_t ms)
{
	char	 t[32];

	if (ms == 0)
		return json_null();
	return json_string(time_iso8601(ms, t, sizeof(t)));
}

/* new */
static json_t *
money_str(money_t m)
{
	char	 b[32];

	return json_string(money_fmt(m, b, sizeof(b)));
}

/* new: one row, every field of struct ledger_inst */
static json_t *
inst_json(const struct ledger_inst *in)
{
	json_t	*o = json_object();

	json_object_set_new(o, "type", json_string("instance"));
	json_object_set_new(o, "uid", json_integer(in->uid));
	json_object_set_new(o, "label", str_or_null(in->label));
	json_object_set_new(o, "kind", json_string(ledger_kind_name(
	    in->kind)));
	json_object_set_new(o, "fleet", str_or_null(in->fleet));
	json_object_set_new(o, "group", str_or_null(in->group));
	json_object_set_new(o, "slot", json_integer(in->slot));
	json_object_set_new(o, "provider", str_or_null(in->provider));
	json_object_set_new(o, "provider_id", str_or_null(in->provider_id));
	json_object_set_new(o, "state", json_string(inst_state_name(
	    in->state)));
	json_object_set_new(o, "spec_hash", str_or_null(in->spec_hash));
	json_object_set_new(o, "spec_file", str_or_null(in->spec_file));
	json_object_set_new(o, "gpu", str_or_null(in->gpu));
	json_object_set_new(o, "gpu_count", json_integer(in->gpu_count));
	json_object_set_new(o, "max_price_micros", json_integer(
	    in->max_price));
	json_object_set_new(o, "max_price", money_str(in->max_price));
	json_object_set_new(o, "price_micros", json_integer(in->price));
	json_object_set_new(o, "price", money_str(in->price));
	json_object_set_new(o, "region", str_or_null(in->region));
	json_object_set_new(o, "ssh_host", str_or_null(in->ssh_host));
	json_object_set_new(o, "ssh_port", json_integer(in->ssh_port));
	json_object_set_new(o, "ssh_user", str_or_null(in->ssh_user));
	json_object_set_new(o, "bootstrap_sha256", str_or_null(
	    in->bootstrap_sha256));
	json_object_set_new(o, "created_ms", json_integer(in->created_ms));
	json_object_set_new(o, "created_at", iso_or_null(in->created_ms));
	json_object_set_new(o, "updated_ms", json_integer(in->updated_ms));
	json_object_set_new(o, "updated_at", iso_or_null(in->updated_ms));
	json_object_set_new(o, "billing_start_ms", json_integer(
	    in->billing_start_ms));
	json_object_set_new(o, "billing_start", iso_or_null(
	    in->billing_start_ms));
	json_object_set_new(o, "billing_end_ms", json_integer(
	    in->billing_end_ms));
	json_object_set_new(o, "billing_end", iso_or_null(
	    in->billing_end_ms));
	json_object_set_new(o, "last_error", str_or_null(in->last_error));
	json_object_set_new(o, "end_reason", str_or_null(in->end_reason));
	json_object_set_new(o, "git_commit", str_or_null(in->git_commit));
	json_object_set_new(o, "ssh_hostkey", str_or_null(in->ssh_hostkey));
	return o;
}

/* new */
static json_t *
event_json(const struct ledger_event *ev)
{
	json_t	*o = json_object();

	json_object_set_new(o, "type", json_string("event"));
	json_object_set_new(o, "id", json_integer(ev->id));
	json_object_set_new(o, "uid", json_integer(ev->uid));
	json_object_set_new(o, "at_ms", json_integer(ev->at_ms));
	json_object_set_new(o, "at", iso_or_null(ev->at_ms));
	json_object_set_new(o, "from", json_string(inst_state_name(
	    ev->from)));
	json_object_set_new(o, "to", json_string(inst_state_name(ev->to)));
	json_object_set_new(o, "kind", str_or_null(ev->kind));
	json_object_set_new(o, "detail", str_or_null(ev->detail));
	json_object_set_new(o, "spec_file", str_or_null(ev->spec_file));
	json_object_set_new(o, "spec_hash", str_or_null(ev->spec_hash));
	json_object_set_new(o, "git_commit", str_or_null(ev->git_commit));
	return o;
}

/* Write o as one line and drop it (o is stolen). */
static int
line_out(FILE *fp, json_t *o, struct gr_err *e)
{
	int	 rc;

	rc = json_dumpf(o, fp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (rc == -1 || fputc('\n', fp) == EOF) {
		gr_err_set(e, GR_E_IO, "ledger export: cannot write the "
		    "output");
		return -1;
	}
	return 0;
}

int
ledger_jsonl_export(struct ledger *l, bool events, FILE *fp,
    struct gr_err *e)
{
	struct ledger_dump	 d;
	json_t			*h;
	size_t			 i;
	int			 rc = -1;

	if (ledger_dump_read(l, events, &d, e) == -1)
		return -1;
	h = json_object();
	json_object_set_new(h, "type", json_string("ledger"));
	json_object_set_new(h, "ledger_id", json_string(d.ledger_id));
	json_object_set_new(h, "schema_version", json_integer(
	    d.schema_version));
	json_object_set_new(h, "created_ms", json_integer(d.created_ms));
	json_object_set_new(h, "created_at", iso_or_null(d.created_ms));
	json_object_set_new(h, "instances", json_integer((json_int_t)
	    d.ninsts));
	json_object_set_new(h, "events", events ? json_integer((json_int_t)
	    d.nevents) : json_null());
	if (line_out(fp, h, e) == -1)
		goto release_dump;
	for (i = 0; i < d.ninsts; i++)
		if (line_out(fp, inst_json(&d.insts[i]), e) == -1)
			goto release_dump;
	for (i = 0; i < d.nevents; i++)
		if (line_out(fp, event_json(&d.events[i]), e) == -1)
			goto release_dump;
	rc = 0;
release_dump:
	ledger_dump_release(&d);
	return rc;
}

/*
 * Import.  Every complaint names the line: "FILE:LINE: message".
 */

struct jline {
	const char	*name;		/* borrowed: the input's name */
	size_t		 line;
	json_t		*o;		/* borrowed */
	struct gr_err	*e;
};

static int
bad(struct jline *j, const char *fmt, ...) GR_PRINTF(2, 3);

static int
bad(struct jline *j, const char *fmt, ...)
{
	struct buf	 b = BUF_INIT;
	va_list		 ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	gr_err_set(j->e, GR_E_USAGE, "%s:%zu: %s", j->name, j->line,
	    buf_str(&b));
	buf_release(&b);
	return -1;
}

/* A string or null (or absent, unless required); *out is new or NULL. */
static int
get_str(struct jline *j, const char *key, bool required, char **out)
{
	json_t	*v = json_object_get(j->o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return bad(j, "'%s' is missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return bad(j, "'%s' must be a string", key);
	if (required && json_string_length(v) == 0)
		return bad(j, "'%s' is empty", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* An integer in [min, max]; absent leaves *out as it is, unless required. */
static int
get_i64(struct jline *j, const char *key, bool required, int64_t min,
    int64_t max, int64_t *out)
{
	json_t	*v = json_object_get(j->o, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			return bad(j, "'%s' is missing", key);
		return 0;
	}
	if (!json_is_integer(v))
		return bad(j, "'%s' must be an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return bad(j, "'%s' is %lld, out of range [%lld, %lld]", key,
		    (long long)json_integer_value(v), (long long)min,
		    (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int
get_int(struct jline *j, const char *key, int min, int max, int *out)
{
	int64_t	 v = *out;

	if (get_i64(j, key, false, min, max, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

/* A state by name ("RUNNING"; any case); absent leaves *out. */
static int
get_state(struct jline *j, const char *key, bool required,
    enum inst_state *out)
{
	char	*s, *p;
	int	 rc = 0;

	if (get_str(j, key, required, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	for (p = s; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (!inst_state_parse(s, out))
		rc = bad(j, "'%s' is '%s', not a state (IDLE, PENDING, "
		    "RUNNING, STOPPING, STOPPED or TERMINATED)", key, s);
	free(s);
	return rc;
}

/*
 * Money: key_micros (an integer) wins; else key as a decimal string
 * ("0.70") or, from other tools, a number of dollars.
 */
static int
get_money(struct jline *j, const char *key, const char *micros_key,
    money_t *out)
{
	json_t		*v;
	const char	*why;
	int64_t		 m = -1;
	double		 d;

	if (micros_key != NULL) {
		if (get_i64(j, micros_key, false, 0, MONEY_MAX, &m) == -1)
			return -1;
		if (m >= 0) {
			*out = m;
			return 0;
		}
	}
	v = json_object_get(j->o, key);
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (!money_parse(json_string_value(v), out, &why))
			return bad(j, "'%s' is '%s': %s", key,
			    json_string_value(v), why);
		return 0;
	}
	if (!json_is_number(v))
		return bad(j, "'%s' must be an amount in dollars", key);
	d = json_number_value(v);
	if (!(d >= 0) || d > (double)(MONEY_MAX / MONEY_UNIT))
		return bad(j, "'%s' is %g, not an amount from 0 to 1000000",
		    key, d);
	*out = (money_t)llround(d * (double)MONEY_UNIT);
	return 0;
}

static int
get_provider(struct jline *j, bool (*provider_ok)(const char *), char **out)
{
	if (get_str(j, "provider", true, out) == -1)
		return -1;
	if (provider_ok != NULL && !provider_ok(*out))
		return bad(j, "unknown provider '%s'", *out);
	return 0;
}

static bool
is_hex16(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == 16;
}

static int
parse_header(struct jline *j, struct ledger_dump *d, int64_t *ninsts,
    int64_t *nevents)
{
	char	*id;
	int64_t	 v = 0;

	if (get_str(j, "ledger_id", true, &id) == -1)
		return -1;
	if (!is_hex16(id)) {
		bad(j, "'ledger_id' is '%s', not 16 hex digits", id);
		free(id);
		return -1;
	}
	memcpy(d->ledger_id, id, sizeof(d->ledger_id));
	free(id);
	if (get_i64(j, "schema_version", true, 1, INT32_MAX, &v) == -1)
		return -1;
	if (v > LEDGER_SCHEMA_VERSION) {
		bad(j, "schema version %lld is newer than this gpureconcile "
		    "knows (%d)", (long long)v, LEDGER_SCHEMA_VERSION);
		gr_err_hint(j->e, "upgrade gpureconcile (this is %s)",
		    GR_VERSION);
		return -1;
	}
	d->schema_version = (int)v;
	if (get_i64(j, "created_ms", false, 0, INT64_MAX, &d->created_ms) ==
	    -1)
		return -1;
	if (get_i64(j, "instances", false, 0, INT64_MAX, ninsts) == -1 ||
	    get_i64(j, "events", false, 0, INT64_MAX, nevents) == -1)
		return -1;
	return 0;
}

/* An "instance" line of our own export: every field, as it was. */
static int
parse_inst(struct jline *j, bool (*provider_ok)(const char *),
    struct ledger_inst *in)
{
	char	*kind = NULL;
	int	 rc = -1;

	if (get_i64(j, "uid", true, 1, INT64_MAX, &in->uid) == -1 ||
	    get_str(j, "label", true, &in->label) == -1 ||
	    get_str(j, "kind", true, &kind) == -1)
		goto free_kind;
	if (!ledger_kind_parse(kind, &in->kind)) {
		bad(j, "'kind' is '%s', not 'fleet' or 'adhoc'", kind);
		goto free_kind;
	}
	if (get_str(j, "fleet", in->kind == LEDGER_KIND_FLEET,
	    &in->fleet) == -1 ||
	    get_str(j, "group", true, &in->group) == -1 ||
	    get_int(j, "slot", 0, INT32_MAX, &in->slot) == -1 ||
	    get_provider(j, provider_ok, &in->provider) == -1 ||
	    get_str(j, "provider_id", false, &in->provider_id) == -1 ||
	    get_state(j, "state", true, &in->state) == -1 ||
	    get_str(j, "spec_hash", false, &in->spec_hash) == -1 ||
	    get_str(j, "spec_file", false, &in->spec_file) == -1 ||
	    get_str(j, "gpu", false, &in->gpu) == -1 ||
	    get_int(j, "gpu_count", 0, INT32_MAX, &in->gpu_count) == -1 ||
	    get_money(j, "max_price", "max_price_micros",
	    &in->max_price) == -1 ||
	    get_money(j, "price", "price_micros", &in->price) == -1 ||
	    get_str(j, "region", false, &in->region) == -1 ||
	    get_str(j, "ssh_host", false, &in->ssh_host) == -1 ||
	    get_int(j, "ssh_port", 0, 65535, &in->ssh_port) == -1 ||
	    get_str(j, "ssh_user", false, &in->ssh_user) == -1 ||
	    get_str(j, "bootstrap_sha256", false,
	    &in->bootstrap_sha256) == -1 ||
	    get_i64(j, "created_ms", true, 0, INT64_MAX,
	    &in->created_ms) == -1 ||
	    get_i64(j, "updated_ms", true, 0, INT64_MAX,
	    &in->updated_ms) == -1 ||
	    get_i64(j, "billing_start_ms", false, 0, INT64_MAX,
	    &in->billing_start_ms) == -1 ||
	    get_i64(j, "billing_end_ms", false, 0, INT64_MAX,
	    &in->billing_end_ms) == -1 ||
	    get_str(j, "last_error", false, &in->last_error) == -1 ||
	    get_str(j, "end_reason", false, &in->end_reason) == -1 ||
	    get_str(j, "git_commit", false, &in->git_commit) == -1 ||
	    get_str(j, "ssh_hostkey", false, &in->ssh_hostkey) == -1)
		goto free_kind;
	rc = 0;
free_kind:
	free(kind);
	return rc;
}

static int
parse_event(struct jline *j, struct ledger_event *ev)
{
	if (get_i64(j, "id", true, 1, INT64_MAX, &ev->id) == -1 ||
	    get_i64(j, "uid", true, 1, INT64_MAX, &ev->uid) == -1 ||
	    get_i64(j, "at_ms", true, 0, INT64_MAX, &ev->at_ms) == -1 ||
	    get_state(j, "from", true, &ev->from) == -1 ||
	    get_state(j, "to", true, &ev->to) == -1 ||
	    get_str(j, "kind", true, &ev->kind) == -1 ||
	    get_str(j, "detail", false, &ev->detail) == -1 ||
	    get_str(j, "spec_file", false, &ev->spec_file) == -1 ||
	    get_str(j, "spec_hash", false, &ev->spec_hash) == -1 ||
	    get_str(j, "git_commit", false, &ev->git_commit) == -1)
		return -1;
	return 0;
}

/*
 * Another tool's tracked instance: {"provider": "vastai", "instance_id":
 * "123"} (or "id": 123), and optionally name, state, gpu, gpu_count,
 * price_per_hour (or price), region and ssh_host/ssh_port/ssh_user.  It
 * becomes an ad-hoc row named after it, RUNNING unless it says
 * otherwise, billing from now when it runs.
 */
static int
parse_foreign(struct jline *j, bool (*provider_ok)(const char *),
    int64_t now, struct ledger_inst *in)
{
	json_t	*v;
	char	*name = NULL;
	int	 rc = -1;

	in->kind = LEDGER_KIND_ADHOC;
	in->state = INST_RUNNING;
	if (get_provider(j, provider_ok, &in->provider) == -1)
		return -1;
	v = json_object_get(j->o, "instance_id");
	if (v == NULL || json_is_null(v))
		v = json_object_get(j->o, "id");
	if (v == NULL || json_is_null(v))
		return bad(j, "no instance id (want \"instance_id\" or "
		    "\"id\")");
	if (json_is_string(v) && json_string_length(v) > 0)
		in->provider_id = xstrdup(json_string_value(v));
	else if (json_is_integer(v))
		in->provider_id = xasprintf("%lld",
		    (long long)json_integer_value(v));
	else
		return bad(j, "the instance id must be a string or an "
		    "integer");
	if (get_str(j, "name", false, &name) == -1)
		return -1;
	in->group = name != NULL ? name : xasprintf("imported-%s",
	    in->provider_id);
	name = NULL;
	if (get_state(j, "state", false, &in->state) == -1 ||
	    get_str(j, "gpu", false, &in->gpu) == -1 ||
	    get_int(j, "gpu_count", 0, INT32_MAX, &in->gpu_count) == -1 ||
	    get_money(j, "price", NULL, &in->price) == -1 ||
	    get_money(j, "price_per_hour", NULL, &in->price) == -1 ||
	    get_str(j, "region", false, &in->region) == -1 ||
	    get_str(j, "ssh_host", false, &in->ssh_host) == -1 ||
	    get_int(j, "ssh_port", 0, 65535, &in->ssh_port) == -1 ||
	    get_str(j, "ssh_user", false, &in->ssh_user) == -1)
		goto out;
	in->max_price = in->price;
	if (in->state == INST_RUNNING || in->state == INST_STOPPING)
		in->billing_start_ms = now;
	rc = 0;
out:
	free(name);
	return rc;
}

struct seen_id {
	int64_t		 id;
	size_t		 line;
};

static int
seen_cmp(const void *a, const void *b)
{
	const struct seen_id	*x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
seen_cmp_id(const void *a, const void *b)
{
	const struct seen_id	*x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorted (id, line) pairs; caller frees. */
static struct seen_id *
seen_sorted(const int64_t *ids, size_t stride, const size_t *lines, size_t n)
{
	struct seen_id	*v = xcalloc(n + 1, sizeof(*v));
	size_t		 i;

	for (i = 0; i < n; i++) {
		v[i].id = *(const int64_t *)((const char *)ids + i * stride);
		v[i].line = lines[i];
	}
	qsort(v, n, sizeof(*v), seen_cmp);
	return v;
}

/* No uid or event id twice; every event's uid has an instance line. */
static int
check_ids(const char *name, struct ledger_dump *d, struct gr_err *e)
{
	struct seen_id	*u, *ev, key;
	size_t		 i;
	int		 rc = -1;

	u = seen_sorted(d->ninsts > 0 ? &d->insts[0].uid : NULL,
	    sizeof(d->insts[0]), d->inst_lines, d->ninsts);
	ev = seen_sorted(d->nevents > 0 ? &d->events[0].id : NULL,
	    sizeof(d->events[0]), d->event_lines, d->nevents);
	for (i = 1; i < d->ninsts; i++) {
		if (u[i].id != 0 && u[i].id == u[i - 1].id) {
			gr_err_set(e, GR_E_USAGE, "%s:%zu: uid %lld again "
			    "(first on line %zu)", name, u[i].line,
			    (long long)u[i].id, u[i - 1].line);
			goto free_sorted;
		}
	}
	for (i = 1; i < d->nevents; i++) {
		if (ev[i].id == ev[i - 1].id) {
			gr_err_set(e, GR_E_USAGE, "%s:%zu: event id %lld "
			    "again (first on line %zu)", name, ev[i].line,
			    (long long)ev[i].id, ev[i - 1].line);
			goto free_sorted;
		}
	}
	for (i = 0; i < d->nevents; i++) {
		key.id = d->events[i].uid;
		key.line = 0;
		if (d->ninsts == 0 || bsearch(&key, u, d->ninsts, sizeof(*u),
		    seen_cmp_id) == NULL) {
			gr_err_set(e, GR_E_USAGE, "%s:%zu: event %lld is for "
			    "uid %lld, which has no instance line", name,
			    d->event_lines[i], (long long)d->events[i].id,
			    (long long)d->events[i].uid);
			goto free_sorted;
		}
	}
	rc = 0;
free_sorted:
	free(ev);
	free(u);
	return rc;
}

/* The same instance twice in another tool's list. */
static int
check_foreign_twice(struct jline *j, const struct ledger_dump *d,
    const struct ledger_inst *in)
{
	size_t	 i;

	for (i = 0; i < d->ninsts; i++)
		if (strcmp(d->insts[i].provider, in->provider) == 0 &&
		    strcmp(d->insts[i].provider_id, in->provider_id) == 0)
			return bad(j, "instance '%s' on %s again (first on "
			    "line %zu)", in->provider_id, in->provider,
			    d->inst_lines[i]);
	return 0;
}

/* A row of an export carries gr-<ledger id>-<uid>, or ledger_check fails. */
static int
check_label(struct jline *j, const struct ledger_dump *d,
    const struct ledger_inst *in)
{
	char	*want = owner_label(d->ledger_id, in->uid);
	int	 rc = 0;

	if (strcmp(in->label, want) != 0)
		rc = bad(j, "instance uid %lld has label '%s', not '%s' "
		    "(ledger id %s)", (long long)in->uid, in->label, want,
		    d->ledger_id);
	free(want);
	return rc;
}

/* One non-blank line into d. */
static int
parse_line(struct jline *j, bool (*provider_ok)(const char *), int64_t now,
    struct ledger_dump *d, bool *header, size_t *nforeign, int64_t *want_i,
    int64_t *want_e)
{
	struct ledger_inst	 in;
	struct ledger_event	 ev;
	const char		*type;
	json_t			*t;

	if (!json_is_object(j->o))
		return bad(j, "expected a JSON object");
	t = json_object_get(j->o, "type");
	if (t != NULL && !json_is_string(t))
		return bad(j, "'type' must be a string");
	type = t != NULL ? json_string_value(t) : NULL;
	if (type != NULL && strcmp(type, "ledger") == 0) {
		if (*header || d->ninsts > 0 || d->nevents > 0)
			return bad(j, "the \"ledger\" line must come first, "
			    "and only once");
		*header = true;
		return parse_header(j, d, want_i, want_e);
	}
	if (type != NULL && strcmp(type, "instance") != 0 &&
	    strcmp(type, "event") != 0)
		return bad(j, "unknown type '%s' (want ledger, instance or "
		    "event)", type);
	if (type != NULL && !*header)
		return bad(j, "a \"%s\" line before the \"ledger\" line (is "
		    "this a 'gpureconcile ledger export --jsonl'?)", type);
	if (type == NULL && *header)
		return bad(j, "a line without \"type\" in a ledger export");
	if (type != NULL && strcmp(type, "event") == 0) {
		memset(&ev, 0, sizeof(ev));
		if (parse_event(j, &ev) == -1) {
			free(ev.kind);
			free(ev.detail);
			free(ev.spec_file);
			free(ev.spec_hash);
			free(ev.git_commit);
			return -1;
		}
		d->events = xreallocarray(d->events, d->nevents + 1,
		    sizeof(*d->events));
		d->event_lines = xreallocarray(d->event_lines, d->nevents + 1,
		    sizeof(*d->event_lines));
		d->events[d->nevents] = ev;
		d->event_lines[d->nevents++] = j->line;
		return 0;
	}
	memset(&in, 0, sizeof(in));
	if ((type != NULL ? parse_inst(j, provider_ok, &in) :
	    parse_foreign(j, provider_ok, now, &in)) == -1 ||
	    (type != NULL && check_label(j, d, &in) == -1) ||
	    (type == NULL && check_foreign_twice(j, d, &in) == -1)) {
		ledger_inst_release(&in);
		return -1;
	}
	if (type == NULL)
		(*nforeign)++;
	d->insts = xreallocarray(d->insts, d->ninsts + 1, sizeof(*d->insts));
	d->inst_lines = xreallocarray(d->inst_lines, d->ninsts + 1,
	    sizeof(*d->inst_lines));
	d->insts[d->ninsts] = in;
	d->inst_lines[d->ninsts++] = j->line;
	return 0;
}

int
ledger_jsonl_parse(FILE *fp, const char *name,
    bool (*provider_ok)(const char *), struct ledger_dump *d,
    struct gr_err *e)
{
	struct jline	 j;
	json_error_t	 je;
	char		*line = NULL;
	size_t		 cap = 0, nforeign = 0, hline = 0;
	ssize_t		 len;
	int64_t		 want_i = -1, want_e = -1, now = clock_now_ms();
	bool		 header = false, blank;
	const char	*p;

	memset(d, 0, sizeof(*d));
	d->source = name;
	j.name = name;
	j.line = 0;
	j.e = e;
	while ((len = getline(&line, &cap, fp)) != -1) {
		j.line++;
		blank = true;
		for (p = line; *p != '\0'; p++)
			if (!isspace((unsigned char)*p))
				blank = false;
		if (blank)
			continue;
		j.o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES,
		    &je);
		if (j.o == NULL) {
			bad(&j, "not JSON: %s (column %d)", je.text,
			    je.column);
			goto release_dump;
		}
		if (!header)
			hline = j.line;
		if (parse_line(&j, provider_ok, now, d, &header, &nforeign,
		    &want_i, &want_e) == -1) {
			json_decref(j.o);
			goto release_dump;
		}
		json_decref(j.o);
	}
	if (ferror(fp)) {
		gr_err_set(e, GR_E_IO, "%s: read error", name);
		goto release_dump;
	}
	if (want_i >= 0 && (size_t)want_i != d->ninsts) {
		gr_err_set(e, GR_E_USAGE, "%s:%zu: the ledger line promises "
		    "%lld instance%s but %zu follow%s", name, hline,
		    (long long)want_i, want_i == 1 ? "" : "s", d->ninsts,
		    d->ninsts == 1 ? "s" : "");
		gr_err_hint(e, "the file looks cut off; export it again");
		goto release_dump;
	}
	if (want_e >= 0 && (size_t)want_e != d->nevents) {
		gr_err_set(e, GR_E_USAGE, "%s:%zu: the ledger line promises "
		    "%lld event%s but %zu follow%s", name, hline,
		    (long long)want_e, want_e == 1 ? "" : "s", d->nevents,
		    d->nevents == 1 ? "s" : "");
		gr_err_hint(e, "the file looks cut off; export it again");
		goto release_dump;
	}
	if (check_ids(name, d, e) == -1)
		goto release_dump;
	free(line);
	return 0;

release_dump:
	free(line);
	ledger_dump_release(d);
	return -1;
}
