/*
 * fake.c: the fake provider, a complete in-process cloud that is
 * deterministic, for every reconciler test and the deterministic
 * simulation (STYLE.md rule 10).
 *
 * It acts like a real provider, and fails like one: boots take time,
 * billing starts when an instance runs and ends only when it is gone,
 * capacity runs out, prices drift, new instances appear in list late,
 * terminations take time or hang, spot instances are interrupted, and
 * any call can fail with any code of the taxonomy, either before it took
 * effect or after (a lost reply).  The knobs are declared in provider.h;
 * the same settings also come from the config's options, so that tests of
 * the CLI can drive one fake cloud from several processes through a
 * state file.
 *
 * Time: nothing is scheduled.  Each instance keeps the moments at which
 * it changes by itself (boot end, gone), and its state is computed from
 * clock_now_ms() on every call, so a virtual clock moves it exactly.
 *
 * Where a real provider could go either way, the fake does this:
 * - prices are per GPU per hour (per instance for CPU) and the same in
 *   every region; an instance of N GPUs costs N times that.  The default
 *   is $0.02 per GB of VRAM per hour, $0.01 for CPU;
 * - capacity counts instances per type per region; an instance holds its
 *   slot until it is gone, stopped and foreign ones included;
 * - offers lists only regions with capacity left;
 * - spawn never rents above req->max_price, so a max_price of 0 rents
 *   nothing (CAPACITY, "no offer under $0.00/h");
 * - without a chosen offer, spawn takes the cheapest region the request
 *   allows, ties broken by offer id, as offer_list_sort orders them;
 * - a region in a request matches a fake region exactly or by the part
 *   before '-', ignoring case ("US" matches "us-east");
 * - a stopped instance bills nothing (real clouds charge for its disk;
 *   the fake keeps it simple);
 * - get sees a new instance at once; only list lags (list_delay_ms);
 * - an interrupted instance is shown once by get, as TERMINATED with
 *   status "interrupted"; after that get says NOT_FOUND; list never shows
 *   it.  A SPOT_INTERRUPTED fault on get interrupts the instance for real;
 * - a fault's gpu filter applies to spawn only; after_apply on a read
 *   (offers, list, get) changes nothing: the reply is merely lost;
 * - with a state file, the options seed the shared state when it is made
 *   or when they differ from the ones it was seeded with; otherwise the
 *   file wins (so faults are used up once across processes).  Call
 *   counts (fake_calls) are this process's own.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "provider.h"

#define FAKE_CAPACITY		100	/* instances per type and region */
#define FAKE_MAX_GPUS		8	/* GPUs per instance */
#define FAKE_STUCK		INT64_MAX /* a gone_ms that never comes */
#define FAKE_STATE_MAX		(64 * 1024 * 1024)
#define FAKE_STATE_VERSION	1
#define FAKE_MS_MAX		((int64_t)365 * 24 * 3600 * 1000)

static const char *const fake_regions[] = { "us-east", "eu-west" };

enum fake_phase {
	FAKE_ACTIVE = 0,	/* PENDING until up_ms, then RUNNING */
	FAKE_STOPPED,		/* hibernated: STOPPED, not billing */
	FAKE_ENDING,		/* STOPPING until gone_ms, then gone */
};

static const char *const phase_names[] = { "active", "stopped", "ending" };

struct fake_inst {
	char		*id;		/* owned; "fake-N" */
	char		*label;		/* owned; NULL: none */
	char		*gpu;		/* owned; canonical name */
	int		 gpu_count;
	char		*region;	/* owned */
	bool		 spot;
	bool		 foreign;	/* made by fake_add_foreign */
	money_t		 price;		/* billed per hour from up_ms on */
	money_t		 billed;	/* closed billing segments */
	int64_t		 created_ms;
	int64_t		 visible_ms;	/* list shows it from then on */
	enum fake_phase	 phase;
	int64_t		 up_ms;		/* current run bills from; -1: none */
	int64_t		 gone_ms;	/* FAKE_ENDING: gone (billing end) */
	bool		 interrupted;	/* a spot interruption ended it */
	bool		 reported;	/* get has shown the interruption */
};

struct fake_rule {
	enum prov_op	 op;
	enum gr_code	 code;
	int		 times;		/* -1: forever */
	bool		 after_apply;
	int64_t		 retry_after_ms;
	char		*gpu;		/* owned; NULL: any */
};

/* Everything a state file holds. */
struct fake_state {
	char		*seed;		/* owned; options it was set up from */
	int64_t		 next_id;
	int64_t		 boot_ms;
	int64_t		 list_delay_ms;
	int64_t		 teardown_ms;
	int64_t		 latency_ms;
	bool		 stuck;		/* terminations never finish */
	int		*capacity;	/* owned; per catalog entry */
	money_t		*price;		/* owned; per catalog entry, per GPU */
	struct fake_rule *rules;	/* owned; in the order added */
	size_t		 nrules;
	struct fake_inst *insts;	/* owned; in creation order */
	size_t		 ninsts;
};

struct fake {
	pthread_mutex_t	 mu;		/* guards all below but the atomics */
	struct fake_state st;
	char		*state_file;	/* owned; NULL: in memory only */
	char		*lock_path;	/* owned */
	int		 lock_fd;	/* -1: no state file */
	bool		 dirty;		/* this call changed st */
	int64_t		 latency_ms;	/* atomic copy of st.latency_ms */
	uint64_t	 calls[PROV_OP__COUNT];	/* atomic */
};

/* The option keys, in the order the seed lists them. */
static const char *const option_keys[] = {
	"state_file", "boot_ms", "capacity", "price", "faults",
	"list_delay_ms", "teardown_ms", "latency_ms", "teardown_stuck",
};

#define fake_fail(p, e, code, op, subj, ...) \
	fake_fail_at(__FILE__, __LINE__, (p), (e), (code), (op), (subj), \
	    __VA_ARGS__)

static void	 fake_fail_at(const char *, int, struct provider *,
		    struct gr_err *, enum gr_code, enum prov_op, const char *,
		    const char *, ...) GR_PRINTF(8, 9);

/* "spawn 'a/b/0' on fake: <what>", the one shape of our messages. */
static void
fake_fail_at(const char *file, int line, struct provider *p,
    struct gr_err *e, enum gr_code code, enum prov_op op, const char *subj,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*what;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	if (subj != NULL)
		gr_err_set_at(e, file, line, code, "%s '%s' on %s: %s",
		    prov_op_name(op), subj, p->name, what);
	else
		gr_err_set_at(e, file, line, code, "%s on %s: %s",
		    prov_op_name(op), p->name, what);
	free(what);
}

/* --- the catalog, prices and capacity ------------------------------------ */

static bool
catalog_index(const char *gpu, size_t *idx)
{
	size_t	 i;

	if (gpu == NULL)
		return false;
	for (i = 0; i < catalog_count(); i++) {
		if (strcmp(catalog_at(i)->name, gpu) == 0) {
			*idx = i;
			return true;
		}
	}
	return false;
}

static money_t
default_price(const struct gpu_model *m)
{
	if (m->vram_gb == 0)
		return MONEY_UNIT / 100;		/* CPU: $0.01/h */
	return (money_t)m->vram_gb * (MONEY_UNIT / 50);	/* $0.02/GB/h */
}

static const char *
gpu_suggest(const char *gpu)
{
	const char	*names[64];
	size_t		 i, n = 0;

	for (i = 0; i < catalog_count() && n < nitems(names); i++)
		names[n++] = catalog_at(i)->name;
	return str_suggest(gpu, names, n);
}

static bool
region_matches(const char *want, const char *region)
{
	size_t	 n = strlen(want);

	if (strcasecmp(want, region) == 0)
		return true;
	return n > 0 && strncasecmp(want, region, n) == 0 && region[n] == '-';
}

static bool
region_allowed(const struct spawn_req *req, const char *region)
{
	size_t	 i;

	if (req->nregions == 0 || req->regions == NULL)
		return true;
	for (i = 0; i < req->nregions; i++)
		if (req->regions[i] != NULL &&
		    region_matches(req->regions[i], region))
			return true;
	return false;
}

static bool
region_known(const char *region)
{
	size_t	 i;

	for (i = 0; i < nitems(fake_regions); i++)
		if (strcmp(fake_regions[i], region) == 0)
			return true;
	return false;
}

/* --- state --------------------------------------------------------------- */

static void
inst_release(struct fake_inst *fi)
{
	free(fi->id);
	free(fi->label);
	free(fi->gpu);
	free(fi->region);
	memset(fi, 0, sizeof(*fi));
}

static void
rule_release(struct fake_rule *r)
{
	free(r->gpu);
	memset(r, 0, sizeof(*r));
}

static void
rules_clear(struct fake_state *st)
{
	size_t	 i;

	for (i = 0; i < st->nrules; i++)
		rule_release(&st->rules[i]);
	free(st->rules);
	st->rules = NULL;
	st->nrules = 0;
}

/* The settings an option list may change, back to their defaults. */
static void
state_settings_default(struct fake_state *st)
{
	size_t	 i;

	st->boot_ms = 0;
	st->list_delay_ms = 0;
	st->teardown_ms = 0;
	st->latency_ms = 0;
	st->stuck = false;
	for (i = 0; i < catalog_count(); i++) {
		st->capacity[i] = FAKE_CAPACITY;
		st->price[i] = default_price(catalog_at(i));
	}
	rules_clear(st);
}

static void
state_init(struct fake_state *st)
{
	memset(st, 0, sizeof(*st));
	st->next_id = 1;
	st->capacity = xcalloc(catalog_count(), sizeof(*st->capacity));
	st->price = xcalloc(catalog_count(), sizeof(*st->price));
	state_settings_default(st);
}

static void
state_release(struct fake_state *st)
{
	size_t	 i;

	rules_clear(st);
	for (i = 0; i < st->ninsts; i++)
		inst_release(&st->insts[i]);
	free(st->insts);
	free(st->capacity);
	free(st->price);
	free(st->seed);
	memset(st, 0, sizeof(*st));
}

/* Move the settings (not the instances) of src into dst. */
static void
state_take_settings(struct fake_state *dst, struct fake_state *src)
{
	rules_clear(dst);
	dst->boot_ms = src->boot_ms;
	dst->list_delay_ms = src->list_delay_ms;
	dst->teardown_ms = src->teardown_ms;
	dst->latency_ms = src->latency_ms;
	if (dst->stuck && !src->stuck) {
		/* un-sticking from the options releases the hung ones too,
		 * as fake_set_teardown_stuck(false) does */
		int64_t	 now = clock_now_ms();
		size_t	 i;

		for (i = 0; i < dst->ninsts; i++)
			if (dst->insts[i].phase == FAKE_ENDING &&
			    dst->insts[i].gone_ms == FAKE_STUCK)
				dst->insts[i].gone_ms = now + src->teardown_ms;
	}
	dst->stuck = src->stuck;
	memcpy(dst->capacity, src->capacity,
	    catalog_count() * sizeof(*dst->capacity));
	memcpy(dst->price, src->price, catalog_count() * sizeof(*dst->price));
	dst->rules = src->rules;		/* ownership moves */
	dst->nrules = src->nrules;
	src->rules = NULL;
	src->nrules = 0;
}

static struct fake_inst *
inst_find(struct fake *f, const char *id)
{
	size_t	 i;

	if (id == NULL)
		return NULL;
	for (i = 0; i < f->st.ninsts; i++)
		if (strcmp(f->st.insts[i].id, id) == 0)
			return &f->st.insts[i];
	return NULL;
}

static struct fake_inst *
inst_add(struct fake *f, int64_t now)
{
	struct fake_inst	*fi;

	f->st.insts = xreallocarray(f->st.insts, f->st.ninsts + 1,
	    sizeof(*f->st.insts));
	fi = &f->st.insts[f->st.ninsts++];
	memset(fi, 0, sizeof(*fi));
	fi->id = xasprintf("fake-%lld", (long long)f->st.next_id++);
	fi->created_ms = now;
	fi->visible_ms = now;
	fi->up_ms = -1;
	fi->gone_ms = -1;
	f->dirty = true;
	return fi;
}

/* --- what an instance is at a moment (nothing here changes it) ----------- */

static enum inst_state
inst_state_at(const struct fake_inst *fi, int64_t now)
{
	switch (fi->phase) {
	case FAKE_ACTIVE:
		return now < fi->up_ms ? INST_PENDING : INST_RUNNING;
	case FAKE_STOPPED:
		return INST_STOPPED;
	case FAKE_ENDING:
		return now < fi->gone_ms ? INST_STOPPING : INST_TERMINATED;
	}
	BUG("fake: instance %s in phase %d", fi->id, (int)fi->phase);
}

static bool
inst_gone(const struct fake_inst *fi, int64_t now)
{
	return inst_state_at(fi, now) == INST_TERMINATED;
}

static bool
inst_billing(const struct fake_inst *fi, int64_t now)
{
	if (fi->up_ms == -1 || now < fi->up_ms)
		return false;
	return fi->phase != FAKE_ENDING || now < fi->gone_ms;
}

static money_t
inst_billed(const struct fake_inst *fi, int64_t now)
{
	int64_t	 end = now;

	if (fi->up_ms == -1)
		return fi->billed;
	if (fi->phase == FAKE_ENDING && fi->gone_ms < end)
		end = fi->gone_ms;
	if (end <= fi->up_ms)
		return fi->billed;
	return fi->billed + money_cost(fi->price, end - fi->up_ms);
}

/* Close the billing segment now: stop, or a new price from now on. */
static void
inst_bill_close(struct fake_inst *fi, int64_t now, bool reopen)
{
	if (fi->up_ms == -1)
		return;
	if (now <= fi->up_ms) {
		/* still booting: no bill yet, and no run if it stops */
		if (!reopen)
			fi->up_ms = -1;
		return;
	}
	fi->billed += money_cost(fi->price, now - fi->up_ms);
	fi->up_ms = reopen ? now : -1;
}

/* Start ending: STOPPING now, gone after the teardown delay. */
static void
inst_end(struct fake *f, struct fake_inst *fi, int64_t now, bool interrupt)
{
	if (fi->up_ms != -1 && now < fi->up_ms)
		fi->up_ms = -1;		/* a boot that never finished */
	if (interrupt) {
		if (fi->phase != FAKE_ENDING || fi->gone_ms > now)
			fi->gone_ms = now;
		fi->interrupted = true;
	} else if (fi->phase != FAKE_ENDING)
		fi->gone_ms = f->st.stuck ? FAKE_STUCK :
		    now + f->st.teardown_ms;
	fi->phase = FAKE_ENDING;
	f->dirty = true;
}

static const char *
inst_status(const struct fake_inst *fi, enum inst_state s)
{
	switch (s) {
	case INST_PENDING:
		return "booting";
	case INST_RUNNING:
		return "running";
	case INST_STOPPING:
		return "terminating";
	case INST_STOPPED:
		return "stopped";
	case INST_TERMINATED:
		return fi->interrupted ? "interrupted" : "terminated";
	default:
		return "unknown";
	}
}

/* The instance as the provider reports it; out is overwritten. */
static void
inst_view(const struct fake_inst *fi, int64_t now, struct instance *out)
{
	enum inst_state	 s = inst_state_at(fi, now);

	memset(out, 0, sizeof(*out));
	out->id = xstrdup(fi->id);
	out->label = fi->label != NULL ? xstrdup(fi->label) : NULL;
	out->state = s;
	out->billing = inst_billing(fi, now);
	out->price = fi->price;
	out->gpu = xstrdup(fi->gpu);
	out->gpu_count = fi->gpu_count;
	out->region = xstrdup(fi->region);
	if (s == INST_RUNNING) {
		out->ssh_host = xasprintf("%s.fake.invalid", fi->id);
		out->ssh_port = 22;
		out->ssh_user = xstrdup("root");
	}
	out->status = xstrdup(inst_status(fi, s));
	out->created_ms = fi->created_ms;
}

/* Instances of gpu in region that hold a slot now. */
static int
slots_used(struct fake *f, const char *gpu, const char *region, int64_t now)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < f->st.ninsts; i++) {
		const struct fake_inst	*fi = &f->st.insts[i];

		if (strcmp(fi->gpu, gpu) == 0 &&
		    strcmp(fi->region, region) == 0 && !inst_gone(fi, now))
			n++;
	}
	return n;
}

static int
slots_free(struct fake *f, size_t idx, const char *region, int64_t now)
{
	int	 n;

	n = f->st.capacity[idx] - slots_used(f, catalog_at(idx)->name,
	    region, now);
	return n < 0 ? 0 : n;
}

/* --- the state file ------------------------------------------------------ */

struct jin {
	const char	*path;
	struct gr_err	*e;
	bool		 bad;
};

static bool
jin_fail(struct jin *j, const char *where, const char *key, const char *want)
{
	if (!j->bad)
		gr_err_set(j->e, GR_E_IO, "fake state file '%s': %s'%s' is "
		    "missing or not %s", j->path, where, key, want);
	j->bad = true;
	return false;
}

static bool
jin_int(struct jin *j, const char *where, json_t *o, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return jin_fail(j, where, key, "an integer in range");
	*out = json_integer_value(v);
	return true;
}

static bool
jin_bool(struct jin *j, const char *where, json_t *o, const char *key,
    bool *out)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return jin_fail(j, where, key, "true or false");
	*out = json_is_true(v);
	return true;
}

/* An owned copy of a string member; null_ok lets JSON null mean NULL. */
static bool
jin_str(struct jin *j, const char *where, json_t *o, const char *key,
    bool null_ok, char **out)
{
	json_t	*v = json_object_get(o, key);

	*out = NULL;
	if (null_ok && json_is_null(v))
		return true;
	if (!json_is_string(v))
		return jin_fail(j, where, key, "a string");
	*out = xstrdup(json_string_value(v));
	return true;
}

static bool
jin_rule(struct jin *j, json_t *o, struct fake_rule *r)
{
	char	*op = NULL, *code = NULL;
	int64_t	 v;
	size_t	 i;
	bool	 ok = false;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(o))
		return jin_fail(j, "", "faults[]", "an object");
	if (!jin_str(j, "fault ", o, "op", false, &op) ||
	    !jin_str(j, "fault ", o, "code", false, &code))
		goto out;
	for (i = 0; i < PROV_OP__COUNT; i++)
		if (strcmp(op, prov_op_name((enum prov_op)i)) == 0)
			break;
	if (i == PROV_OP__COUNT) {
		jin_fail(j, "fault ", "op", "an operation");
		goto out;
	}
	r->op = (enum prov_op)i;
	if (!gr_code_parse(code, &r->code) || r->code == GR_OK) {
		jin_fail(j, "fault ", "code", "an error code");
		goto out;
	}
	if (!jin_int(j, "fault ", o, "times", -1, INT32_MAX, &v))
		goto out;
	r->times = (int)v;
	if (!jin_bool(j, "fault ", o, "after_apply", &r->after_apply) ||
	    !jin_int(j, "fault ", o, "retry_after_ms", -1, FAKE_MS_MAX,
	    &r->retry_after_ms) ||
	    !jin_str(j, "fault ", o, "gpu", true, &r->gpu))
		goto out;
	ok = true;
out:
	free(op);
	free(code);
	if (!ok)
		rule_release(r);
	return ok;
}

static bool
jin_inst(struct jin *j, json_t *o, struct fake_inst *fi)
{
	char	*phase = NULL;
	int64_t	 v;
	size_t	 i;
	bool	 ok = false;

	memset(fi, 0, sizeof(*fi));
	if (!json_is_object(o))
		return jin_fail(j, "", "instances[]", "an object");
	if (!jin_str(j, "instance ", o, "id", false, &fi->id) ||
	    !jin_str(j, "instance ", o, "label", true, &fi->label) ||
	    !jin_str(j, "instance ", o, "gpu", false, &fi->gpu) ||
	    !jin_int(j, "instance ", o, "gpu_count", 0, FAKE_MAX_GPUS, &v))
		goto out;
	fi->gpu_count = (int)v;
	if (!jin_str(j, "instance ", o, "region", false, &fi->region) ||
	    !jin_bool(j, "instance ", o, "spot", &fi->spot) ||
	    !jin_bool(j, "instance ", o, "foreign", &fi->foreign) ||
	    !jin_int(j, "instance ", o, "price", 0, MONEY_MAX, &fi->price) ||
	    !jin_int(j, "instance ", o, "billed", 0, INT64_MAX,
	    &fi->billed) ||
	    !jin_int(j, "instance ", o, "created_ms", 0, INT64_MAX,
	    &fi->created_ms) ||
	    !jin_int(j, "instance ", o, "visible_ms", 0, INT64_MAX,
	    &fi->visible_ms) ||
	    !jin_str(j, "instance ", o, "phase", false, &phase) ||
	    !jin_int(j, "instance ", o, "up_ms", -1, INT64_MAX, &fi->up_ms) ||
	    !jin_int(j, "instance ", o, "gone_ms", -1, INT64_MAX,
	    &fi->gone_ms) ||
	    !jin_bool(j, "instance ", o, "interrupted", &fi->interrupted) ||
	    !jin_bool(j, "instance ", o, "reported", &fi->reported))
		goto out;
	for (i = 0; i < nitems(phase_names); i++)
		if (strcmp(phase, phase_names[i]) == 0)
			break;
	if (i == nitems(phase_names)) {
		jin_fail(j, "instance ", "phase", "a phase");
		goto out;
	}
	fi->phase = (enum fake_phase)i;
	ok = true;
out:
	free(phase);
	if (!ok)
		inst_release(fi);
	return ok;
}

/* Per-catalog overrides: {"RTX_4090": n, ...}; unknown types are errors. */
static bool
jin_table(struct jin *j, json_t *root, const char *key, int64_t max,
    int *ints, money_t *monies)
{
	json_t		*o = json_object_get(root, key), *v;
	const char	*name;
	size_t		 idx;

	if (!json_is_object(o))
		return jin_fail(j, "", key, "an object");
	json_object_foreach(o, name, v) {
		if (!catalog_index(name, &idx))
			return jin_fail(j, key, name, "a catalog GPU type");
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > max)
			return jin_fail(j, key, name, "an integer in range");
		if (ints != NULL)
			ints[idx] = (int)json_integer_value(v);
		else
			monies[idx] = json_integer_value(v);
	}
	return true;
}

static int
state_from_json(struct fake_state *st, json_t *root, const char *path,
    struct gr_err *e)
{
	struct jin	 j = { path, e, false };
	json_t		*a, *v;
	int64_t		 ver;
	size_t		 i;

	if (!json_is_object(root)) {
		jin_fail(&j, "", "(top)", "an object");
		return -1;
	}
	if (!jin_int(&j, "", root, "version", 0, INT32_MAX, &ver))
		return -1;
	if (ver != FAKE_STATE_VERSION) {
		gr_err_set(e, GR_E_IO, "fake state file '%s': version %lld, "
		    "expected %d", path, (long long)ver, FAKE_STATE_VERSION);
		return -1;
	}
	if (!jin_str(&j, "", root, "seed", true, &st->seed) ||
	    !jin_int(&j, "", root, "next_id", 1, INT64_MAX / 2,
	    &st->next_id) ||
	    !jin_int(&j, "", root, "boot_ms", 0, FAKE_MS_MAX, &st->boot_ms) ||
	    !jin_int(&j, "", root, "list_delay_ms", 0, FAKE_MS_MAX,
	    &st->list_delay_ms) ||
	    !jin_int(&j, "", root, "teardown_ms", 0, FAKE_MS_MAX,
	    &st->teardown_ms) ||
	    !jin_int(&j, "", root, "latency_ms", 0, FAKE_MS_MAX,
	    &st->latency_ms) ||
	    !jin_bool(&j, "", root, "teardown_stuck", &st->stuck) ||
	    !jin_table(&j, root, "capacity", INT32_MAX, st->capacity, NULL) ||
	    !jin_table(&j, root, "price", MONEY_MAX, NULL, st->price))
		return -1;
	a = json_object_get(root, "faults");
	if (!json_is_array(a)) {
		jin_fail(&j, "", "faults", "an array");
		return -1;
	}
	st->rules = xcalloc(json_array_size(a) + 1, sizeof(*st->rules));
	json_array_foreach(a, i, v) {
		if (!jin_rule(&j, v, &st->rules[st->nrules]))
			return -1;
		st->nrules++;
	}
	a = json_object_get(root, "instances");
	if (!json_is_array(a)) {
		jin_fail(&j, "", "instances", "an array");
		return -1;
	}
	st->insts = xcalloc(json_array_size(a) + 1, sizeof(*st->insts));
	json_array_foreach(a, i, v) {
		if (!jin_inst(&j, v, &st->insts[st->ninsts]))
			return -1;
		st->ninsts++;
	}
	return 0;
}

static json_t *	/* new */
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *	/* new */
state_to_json(const struct fake_state *st)
{
	json_t	*root, *cap, *price, *faults, *insts, *o;
	size_t	 i;

	root = json_object();
	json_object_set_new(root, "version", json_integer(FAKE_STATE_VERSION));
	json_object_set_new(root, "seed", json_str_or_null(st->seed));
	json_object_set_new(root, "next_id", json_integer(st->next_id));
	json_object_set_new(root, "boot_ms", json_integer(st->boot_ms));
	json_object_set_new(root, "list_delay_ms",
	    json_integer(st->list_delay_ms));
	json_object_set_new(root, "teardown_ms",
	    json_integer(st->teardown_ms));
	json_object_set_new(root, "latency_ms", json_integer(st->latency_ms));
	json_object_set_new(root, "teardown_stuck", json_boolean(st->stuck));
	/* only what differs from the defaults, so the file stays readable */
	cap = json_object();
	price = json_object();
	for (i = 0; i < catalog_count(); i++) {
		if (st->capacity[i] != FAKE_CAPACITY)
			json_object_set_new(cap, catalog_at(i)->name,
			    json_integer(st->capacity[i]));
		if (st->price[i] != default_price(catalog_at(i)))
			json_object_set_new(price, catalog_at(i)->name,
			    json_integer(st->price[i]));
	}
	json_object_set_new(root, "capacity", cap);
	json_object_set_new(root, "price", price);
	faults = json_array();
	for (i = 0; i < st->nrules; i++) {
		const struct fake_rule	*r = &st->rules[i];

		o = json_object();
		json_object_set_new(o, "op", json_string(prov_op_name(r->op)));
		json_object_set_new(o, "code",
		    json_string(gr_code_name(r->code)));
		json_object_set_new(o, "times", json_integer(r->times));
		json_object_set_new(o, "after_apply",
		    json_boolean(r->after_apply));
		json_object_set_new(o, "retry_after_ms",
		    json_integer(r->retry_after_ms));
		json_object_set_new(o, "gpu", json_str_or_null(r->gpu));
		json_array_append_new(faults, o);
	}
	json_object_set_new(root, "faults", faults);
	insts = json_array();
	for (i = 0; i < st->ninsts; i++) {
		const struct fake_inst	*fi = &st->insts[i];

		o = json_object();
		json_object_set_new(o, "id", json_string(fi->id));
		json_object_set_new(o, "label", json_str_or_null(fi->label));
		json_object_set_new(o, "gpu", json_string(fi->gpu));
		json_object_set_new(o, "gpu_count",
		    json_integer(fi->gpu_count));
		json_object_set_new(o, "region", json_string(fi->region));
		json_object_set_new(o, "spot", json_boolean(fi->spot));
		json_object_set_new(o, "foreign", json_boolean(fi->foreign));
		json_object_set_new(o, "price", json_integer(fi->price));
		json_object_set_new(o, "billed", json_integer(fi->billed));
		json_object_set_new(o, "created_ms",
		    json_integer(fi->created_ms));
		json_object_set_new(o, "visible_ms",
		    json_integer(fi->visible_ms));
		json_object_set_new(o, "phase",
		    json_string(phase_names[fi->phase]));
		json_object_set_new(o, "up_ms", json_integer(fi->up_ms));
		json_object_set_new(o, "gone_ms", json_integer(fi->gone_ms));
		json_object_set_new(o, "interrupted",
		    json_boolean(fi->interrupted));
		json_object_set_new(o, "reported",
		    json_boolean(fi->reported));
		json_array_append_new(insts, o);
	}
	json_object_set_new(root, "instances", insts);
	return root;
}

/* Replace the state with the file's; a missing or empty file keeps ours. */
static int
state_load(struct fake *f, struct gr_err *e)
{
	struct fake_state	 st;
	json_error_t		 je;
	json_t			*root = NULL;
	char			*text = NULL;
	size_t			 len = 0;
	int			 rc = -1;

	if (file_read(f->state_file, FAKE_STATE_MAX, &text, &len) == -1) {
		if (errno == ENOENT) {
			f->dirty = true;
			return 0;
		}
		gr_err_set(e, GR_E_IO, "fake state file '%s': %s",
		    f->state_file, strerror(errno));
		return -1;
	}
	if (len == 0) {
		f->dirty = true;
		rc = 0;
		goto out_text;
	}
	root = json_loadb(text, len, 0, &je);
	if (root == NULL) {
		gr_err_set(e, GR_E_IO, "fake state file '%s': line %d: %s",
		    f->state_file, je.line, je.text);
		goto out_text;
	}
	state_init(&st);
	if (state_from_json(&st, root, f->state_file, e) == -1) {
		state_release(&st);
		goto out_json;
	}
	state_release(&f->st);
	f->st = st;
	__atomic_store_n(&f->latency_ms, f->st.latency_ms, __ATOMIC_RELAXED);
	rc = 0;
out_json:
	json_decref(root);
out_text:
	free(text);
	return rc;
}

static int
state_save(struct fake *f, struct gr_err *e)
{
	json_t	*root;
	char	*text;
	int	 rc = 0;

	root = state_to_json(&f->st);
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		fatalx("fake: cannot serialise the state");
	if (file_write_atomic(f->state_file, text, strlen(text), 0600) == -1) {
		gr_err_set(e, GR_E_IO, "fake state file '%s': %s",
		    f->state_file, strerror(errno));
		rc = -1;
	}
	free(text);
	return rc;
}

/*
 * One call holds the fake from fake_lock to fake_unlock: the mutex and,
 * with a state file, its lock, the file's latest contents going in and
 * any change going out.
 */
static int
fake_lock(struct fake *f, struct gr_err *e)
{
	pthread_mutex_lock(&f->mu);
	f->dirty = false;
	if (f->state_file == NULL)
		return 0;
	if (flock(f->lock_fd, LOCK_EX) == -1) {
		gr_err_set(e, GR_E_IO, "fake state file '%s': lock: %s",
		    f->lock_path, strerror(errno));
		goto fail_mutex;
	}
	if (state_load(f, e) == -1)
		goto fail_flock;
	return 0;

fail_flock:
	(void)flock(f->lock_fd, LOCK_UN);
fail_mutex:
	pthread_mutex_unlock(&f->mu);
	return -1;
}

/* Returns rc, or -1 when saving a successful call's change failed. */
static int
fake_unlock(struct fake *f, int rc, struct gr_err *e)
{
	struct gr_err	 se;

	if (f->state_file != NULL) {
		gr_err_clear(&se);
		if (f->dirty && state_save(f, &se) == -1) {
			if (rc == 0) {
				gr_err_copy(e, &se);
				rc = -1;
			} else
				log_warnx("%s", se.msg);
		}
		(void)flock(f->lock_fd, LOCK_UN);
	}
	f->dirty = false;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* --- faults -------------------------------------------------------------- */

/* Take the first fault for this call (copied to *out, gpu not kept). */
static bool
fault_take(struct fake *f, enum prov_op op, const char *gpu,
    struct fake_rule *out)
{
	struct fake_rule	*r;
	size_t			 i;

	for (i = 0; i < f->st.nrules; i++) {
		r = &f->st.rules[i];
		if (r->op != op || r->times == 0)
			continue;
		if (r->gpu != NULL && (op != PROV_OP_SPAWN || gpu == NULL ||
		    strcmp(r->gpu, gpu) != 0))
			continue;
		*out = *r;
		out->gpu = NULL;
		if (r->times > 0 && --r->times == 0) {
			rule_release(r);
			memmove(r, r + 1, (f->st.nrules - i - 1) * sizeof(*r));
			f->st.nrules--;
		}
		f->dirty = true;
		return true;
	}
	return false;
}

static void
fault_fail(struct provider *p, const struct fake_rule *r, const char *subj,
    struct gr_err *e)
{
	static const struct {
		enum gr_code	 code;
		int		 http;
		const char	*what;
	} texts[] = {
		{ GR_E_CAPACITY, 503, "no capacity left" },
		{ GR_E_AUTH, 401, "api key rejected" },
		{ GR_E_RATE_LIMIT, 429, "too many requests" },
		{ GR_E_SPOT_INTERRUPTED, 0, "spot instance interrupted" },
		{ GR_E_QUOTA_EXCEEDED, 403, "quota exceeded" },
		{ GR_E_INVALID_SPEC, 400, "request rejected as invalid" },
		{ GR_E_NOT_FOUND, 404, "no such instance" },
		{ GR_E_TRANSIENT, 502, "bad gateway" },
	};
	const char	*what = "failed";
	int		 http = 0;
	size_t		 i;

	for (i = 0; i < nitems(texts); i++) {
		if (texts[i].code == r->code) {
			what = texts[i].what;
			http = texts[i].http;
		}
	}
	if (r->after_apply)
		fake_fail(p, e, r->code, r->op, subj, "%s after the request "
		    "was sent; the reply was lost (injected %s)", what,
		    gr_code_name(r->code));
	else
		fake_fail(p, e, r->code, r->op, subj, "%s (injected %s)", what,
		    gr_code_name(r->code));
	e->http_status = r->after_apply ? 0 : http;
	e->retry_after_ms = r->code == GR_E_RATE_LIMIT ? r->retry_after_ms :
	    -1;
	e->outcome_unknown = r->after_apply;
	if (r->code == GR_E_AUTH)
		gr_err_hint(e, "check the credentials of provider '%s'",
		    p->name);
}

/* --- the operations ------------------------------------------------------ */

/* The start of every call: its latency, its count, the lock. */
static int
call_enter(struct provider *p, enum prov_op op, struct gr_err *e)
{
	struct fake	*f = p->priv;
	int64_t		 lat;

	__atomic_add_fetch(&f->calls[op], 1, __ATOMIC_RELAXED);
	lat = __atomic_load_n(&f->latency_ms, __ATOMIC_RELAXED);
	if (lat > 0)
		clock_sleep_ms(lat);
	return fake_lock(f, e);
}

/* The catalog entry a request names, or -1 with INVALID_SPEC. */
static int
req_check(struct provider *p, enum prov_op op, const char *subj,
    const struct gpu_req *g, size_t *idx, struct gr_err *e)
{
	const struct gpu_model	*m;
	const char		*s;

	if (g == NULL || g->type == NULL) {
		fake_fail(p, e, GR_E_INVALID_SPEC, op, subj, "no gpu type "
		    "given");
		return -1;
	}
	if (!catalog_index(g->type, idx)) {
		fake_fail(p, e, GR_E_INVALID_SPEC, op, subj, "unknown gpu "
		    "type '%s'", g->type);
		s = gpu_suggest(g->type);
		if (s != NULL)
			gr_err_hint(e, "did you mean '%s'?", s);
		return -1;
	}
	m = catalog_at(*idx);
	if (g->count < 0 || g->count > FAKE_MAX_GPUS) {
		fake_fail(p, e, GR_E_INVALID_SPEC, op, subj, "%d GPUs per "
		    "instance; the fake has machines of 1 to %d", g->count,
		    FAKE_MAX_GPUS);
		return -1;
	}
	if (g->min_vram_gb > m->vram_gb) {
		fake_fail(p, e, GR_E_INVALID_SPEC, op, subj, "%s has %d GB of "
		    "VRAM, fewer than the %d GB asked for", m->name,
		    m->vram_gb, g->min_vram_gb);
		gr_err_hint(e, "pick a larger gpu type or lower min_vram_gb");
		return -1;
	}
	return 0;
}

static money_t
offer_price(struct fake *f, size_t idx, const struct gpu_req *g)
{
	return f->st.price[idx] * (g->count > 0 ? g->count : 1);
}

static int
fake_offers(struct provider *p, const struct gpu_req *g,
    struct offer_list *out, struct gr_err *e)
{
	struct fake		*f = p->priv;
	const struct gpu_model	*m;
	struct fake_rule	 r;
	struct offer		*o;
	const char		*subj = g != NULL ? g->type : NULL;
	int64_t			 now;
	size_t			 idx, i;
	int			 rc = -1, avail;

	if (call_enter(p, PROV_OP_OFFERS, e) == -1)
		return -1;
	now = clock_now_ms();
	if (fault_take(f, PROV_OP_OFFERS, subj, &r)) {
		fault_fail(p, &r, subj, e);
		goto out;
	}
	if (req_check(p, PROV_OP_OFFERS, subj, g, &idx, e) == -1)
		goto out;
	m = catalog_at(idx);
	for (i = 0; i < nitems(fake_regions); i++) {
		avail = slots_free(f, idx, fake_regions[i], now);
		if (avail == 0)
			continue;
		o = offer_list_add(out);
		o->id = xasprintf("%s@%s", m->name, fake_regions[i]);
		o->gpu = xstrdup(m->name);
		o->gpu_count = g->count;
		o->vram_gb = m->vram_gb;
		o->price = offer_price(f, idx, g);
		o->region = xstrdup(fake_regions[i]);
		o->available = avail;
		o->spot = false;
	}
	rc = 0;
out:
	return fake_unlock(f, rc, e);
}

/* The region a spawn goes to, or NULL with the error set. */
static const char *
spawn_region(struct provider *p, const struct spawn_req *req, size_t idx,
    const char *subj, int64_t now, struct gr_err *e)
{
	struct fake	*f = p->priv;
	const char	*best = NULL, *at, *name = catalog_at(idx)->name;
	size_t		 i, n;
	bool		 allowed = false;

	if (req->offer != NULL) {
		at = req->offer->id != NULL ? strchr(req->offer->id, '@') :
		    NULL;
		n = at != NULL ? (size_t)(at - req->offer->id) : 0;
		if (at == NULL || n != strlen(name) ||
		    strncmp(req->offer->id, name, n) != 0 ||
		    !region_known(at + 1)) {
			fake_fail(p, e, GR_E_INVALID_SPEC, PROV_OP_SPAWN, subj,
			    "offer '%s' is not a %s offer of this provider",
			    req->offer->id != NULL ? req->offer->id : "",
			    name);
			return NULL;
		}
		if (slots_free(f, idx, at + 1, now) == 0) {
			fake_fail(p, e, GR_E_CAPACITY, PROV_OP_SPAWN, subj,
			    "offer '%s' is no longer available",
			    req->offer->id);
			gr_err_hint(e, "list the offers again");
			return NULL;
		}
		return at + 1;
	}
	/*
	 * Prices are the same in every region, so the cheapest is the
	 * first by offer id ("<type>@<region>"), as offer_list_sort has it.
	 */
	for (i = 0; i < nitems(fake_regions); i++) {
		if (!region_allowed(req, fake_regions[i]))
			continue;
		allowed = true;
		if (slots_free(f, idx, fake_regions[i], now) == 0)
			continue;
		if (best == NULL || strcmp(fake_regions[i], best) < 0)
			best = fake_regions[i];
	}
	if (best != NULL)
		return best;
	if (!allowed) {
		fake_fail(p, e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "no region "
		    "matches the %zu asked for", req->nregions);
		gr_err_hint(e, "the fake's regions are us-east and eu-west");
	} else {
		fake_fail(p, e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "no %s "
		    "available", name);
		gr_err_hint(e, "add a provider to the group, or wait for "
		    "capacity");
	}
	return NULL;
}

static int
spawn_apply(struct provider *p, const struct spawn_req *req,
    const char *subj, int64_t now, struct instance *out, struct gr_err *e)
{
	struct fake		*f = p->priv;
	struct fake_inst	*fi;
	const char		*region;
	char			 mbuf[32];
	money_t			 price;
	size_t			 i, idx;

	if (req_check(p, PROV_OP_SPAWN, subj, req->gpu, &idx, e) == -1)
		return -1;
	/* idempotent: the same label gives the same instance */
	if (req->label != NULL) {
		for (i = 0; i < f->st.ninsts; i++) {
			fi = &f->st.insts[i];
			if (fi->label != NULL &&
			    strcmp(fi->label, req->label) == 0 &&
			    !inst_gone(fi, now)) {
				inst_view(fi, now, out);
				return 0;
			}
		}
	}
	region = spawn_region(p, req, idx, subj, now, e);
	if (region == NULL)
		return -1;
	price = offer_price(f, idx, req->gpu);
	if (price > req->max_price) {
		fake_fail(p, e, GR_E_CAPACITY, PROV_OP_SPAWN, subj, "no offer "
		    "under $%s/h", money_fmt(req->max_price, mbuf,
		    sizeof(mbuf)));
		gr_err_hint(e, "raise max_price_per_hour (%s costs $%s/h) or "
		    "add a provider", catalog_at(idx)->name,
		    money_fmt(price, mbuf, sizeof(mbuf)));
		return -1;
	}
	fi = inst_add(f, now);
	fi->label = req->label != NULL ? xstrdup(req->label) : NULL;
	fi->gpu = xstrdup(catalog_at(idx)->name);
	fi->gpu_count = catalog_at(idx)->vram_gb == 0 ? 0 :
	    (req->gpu->count > 0 ? req->gpu->count : 1);
	fi->region = xstrdup(region);
	fi->spot = req->spot;
	fi->price = price;
	fi->visible_ms = now + f->st.list_delay_ms;
	fi->phase = FAKE_ACTIVE;
	fi->up_ms = now + f->st.boot_ms;
	inst_view(fi, now, out);
	return 0;
}

static int
fake_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	struct fake		*f = p->priv;
	struct fake_rule	 r;
	const char		*subj;
	bool			 faulted;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	subj = req->address != NULL ? req->address : req->label;
	if (call_enter(p, PROV_OP_SPAWN, e) == -1)
		return -1;
	faulted = fault_take(f, PROV_OP_SPAWN,
	    req->gpu != NULL ? req->gpu->type : NULL, &r);
	if (faulted && !r.after_apply) {
		fault_fail(p, &r, subj, e);
		goto out;
	}
	rc = spawn_apply(p, req, subj, clock_now_ms(), out, e);
	if (faulted && rc == 0) {
		/* it exists now, but the caller never hears of it */
		instance_release(out);
		fault_fail(p, &r, subj, e);
		rc = -1;
	}
out:
	rc = fake_unlock(f, rc, e);
	if (rc == -1)
		instance_release(out);
	return rc;
}

/*
 * The instance an id-taking call is about, or NULL with NOT_FOUND set.
 * Gone instances are not found.
 */
static struct fake_inst *
live_find(struct provider *p, enum prov_op op, const char *id, int64_t now,
    struct gr_err *e)
{
	struct fake_inst	*fi = inst_find(p->priv, id);

	if (fi == NULL || inst_gone(fi, now)) {
		fake_fail(p, e, GR_E_NOT_FOUND, op, id, "no such instance");
		return NULL;
	}
	return fi;
}

static int
fake_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	struct fake		*f = p->priv;
	struct fake_inst	*fi;
	struct fake_rule	 r;
	bool			 faulted;
	int64_t			 now;
	int			 rc = -1;

	if (call_enter(p, PROV_OP_TERMINATE, e) == -1)
		return -1;
	now = clock_now_ms();
	faulted = fault_take(f, PROV_OP_TERMINATE, NULL, &r);
	if (faulted && !r.after_apply) {
		fault_fail(p, &r, id, e);
		goto out;
	}
	fi = live_find(p, PROV_OP_TERMINATE, id, now, e);
	if (fi == NULL)
		goto out;
	/* terminating twice is fine; the first teardown goes on */
	if (fi->phase != FAKE_ENDING)
		inst_end(f, fi, now, false);
	rc = 0;
	if (faulted) {
		fault_fail(p, &r, id, e);
		rc = -1;
	}
out:
	return fake_unlock(f, rc, e);
}

static int
fake_list(struct provider *p, struct instance_list *out, struct gr_err *e)
{
	struct fake		*f = p->priv;
	const struct fake_inst	*fi;
	struct fake_rule	 r;
	int64_t			 now;
	size_t			 i;
	int			 rc = -1;

	if (call_enter(p, PROV_OP_LIST, e) == -1)
		return -1;
	now = clock_now_ms();
	if (fault_take(f, PROV_OP_LIST, NULL, &r)) {
		fault_fail(p, &r, NULL, e);
		goto out;
	}
	for (i = 0; i < f->st.ninsts; i++) {
		fi = &f->st.insts[i];
		if (inst_gone(fi, now) || now < fi->visible_ms)
			continue;
		inst_view(fi, now, instance_list_add(out));
	}
	rc = 0;
out:
	rc = fake_unlock(f, rc, e);
	if (rc == -1)
		instance_list_release(out);
	return rc;
}

static int
fake_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	struct fake		*f = p->priv;
	struct fake_inst	*fi;
	struct fake_rule	 r;
	int64_t			 now;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	if (call_enter(p, PROV_OP_GET, e) == -1)
		return -1;
	now = clock_now_ms();
	fi = inst_find(f, id);
	if (fault_take(f, PROV_OP_GET, NULL, &r)) {
		/* the provider says it was interrupted: make it so */
		if (r.code == GR_E_SPOT_INTERRUPTED && fi != NULL &&
		    !inst_gone(fi, now)) {
			inst_end(f, fi, now, true);
			fi->reported = true;
		}
		fault_fail(p, &r, id, e);
		goto out;
	}
	if (fi != NULL && inst_gone(fi, now) && fi->interrupted &&
	    !fi->reported) {
		/* shown once as what happened to it, then forgotten */
		fi->reported = true;
		f->dirty = true;
		inst_view(fi, now, out);
		rc = 0;
		goto out;
	}
	if (live_find(p, PROV_OP_GET, id, now, e) == NULL)
		goto out;
	inst_view(fi, now, out);
	rc = 0;
out:
	rc = fake_unlock(f, rc, e);
	if (rc == -1)
		instance_release(out);
	return rc;
}

/* stop and start: the shared part. */
static int
fake_hibernate(struct provider *p, enum prov_op op, const char *id,
    struct gr_err *e)
{
	struct fake		*f = p->priv;
	struct fake_inst	*fi;
	struct fake_rule	 r;
	bool			 faulted;
	int64_t			 now;
	int			 rc = -1;

	if (call_enter(p, op, e) == -1)
		return -1;
	now = clock_now_ms();
	faulted = fault_take(f, op, NULL, &r);
	if (faulted && !r.after_apply) {
		fault_fail(p, &r, id, e);
		goto out;
	}
	fi = live_find(p, op, id, now, e);
	if (fi == NULL)
		goto out;
	if (fi->phase == FAKE_ENDING) {
		fake_fail(p, e, GR_E_INVALID_SPEC, op, id, "the instance is "
		    "being terminated");
		goto out;
	}
	if (op == PROV_OP_STOP && fi->phase == FAKE_ACTIVE) {
		/* a stopped instance bills nothing here; see the top */
		inst_bill_close(fi, now, false);
		fi->phase = FAKE_STOPPED;
		f->dirty = true;
	} else if (op == PROV_OP_START && fi->phase == FAKE_STOPPED) {
		fi->phase = FAKE_ACTIVE;
		fi->up_ms = now + f->st.boot_ms;
		f->dirty = true;
	}
	rc = 0;
	if (faulted) {
		fault_fail(p, &r, id, e);
		rc = -1;
	}
out:
	return fake_unlock(f, rc, e);
}

static int
fake_stop(struct provider *p, const char *id, struct gr_err *e)
{
	return fake_hibernate(p, PROV_OP_STOP, id, e);
}

static int
fake_start(struct provider *p, const char *id, struct gr_err *e)
{
	return fake_hibernate(p, PROV_OP_START, id, e);
}

/* --- options ------------------------------------------------------------- */

static int
opt_fail(struct gr_err *e, const char *key, const char *val,
    const char *why)
{
	gr_err_set(e, GR_E_CONFIG, "provider 'fake': option '%s': %s in "
	    "'%s'", key, why, val);
	return -1;
}

static bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* An item of a list option without the blanks around it (in place). */
static char *
trim(char *s)
{
	char	*end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* "TYPE:VALUE,..." for capacity and price. */
static int
opt_table(const char *key, const char *val, struct fake_state *st,
    struct gr_err *e)
{
	char		*copy, *item, *save = NULL, *colon;
	const char	*why, *s;
	int64_t		 n;
	money_t		 m;
	size_t		 idx;
	int		 rc = -1;

	copy = xstrdup(val);
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		colon = strchr(item, ':');
		if (colon == NULL) {
			opt_fail(e, key, val, "expected TYPE:VALUE");
			goto out;
		}
		*colon = '\0';
		if (!catalog_index(item, &idx)) {
			opt_fail(e, key, val, "unknown gpu type");
			s = gpu_suggest(item);
			if (s != NULL)
				gr_err_hint(e, "did you mean '%s'?", s);
			goto out;
		}
		if (strcmp(key, "capacity") == 0) {
			if (!parse_i64(colon + 1, 0, INT32_MAX, &n)) {
				opt_fail(e, key, val, "expected a count");
				goto out;
			}
			st->capacity[idx] = (int)n;
		} else {
			if (!money_parse(colon + 1, &m, &why)) {
				opt_fail(e, key, val, why);
				goto out;
			}
			st->price[idx] = m;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* "op:CODE:times[:after_apply][:gpu=TYPE][:retry_after_ms=N],..." */
static int
opt_faults(const char *val, struct fake_state *st, struct gr_err *e)
{
	struct fake_rule	 r;
	char			*copy, *item, *save = NULL, *f[8], *p;
	int64_t			 n;
	size_t			 nf, i, idx;
	int			 rc = -1;

	copy = xstrdup(val);
	memset(&r, 0, sizeof(r));
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		memset(&r, 0, sizeof(r));
		r.retry_after_ms = -1;
		for (nf = 0, p = item; nf < nitems(f); nf++) {
			f[nf] = p;
			p = strchr(p, ':');
			if (p == NULL) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (p != NULL || nf < 3) {
			opt_fail(e, "faults", val, "expected "
			    "op:CODE:times[:after_apply]");
			goto out;
		}
		for (i = 0; i < PROV_OP__COUNT; i++)
			if (strcmp(f[0], prov_op_name((enum prov_op)i)) == 0)
				break;
		if (i == PROV_OP__COUNT) {
			opt_fail(e, "faults", val, "unknown operation");
			goto out;
		}
		r.op = (enum prov_op)i;
		if (!gr_code_parse(f[1], &r.code) || r.code == GR_OK) {
			opt_fail(e, "faults", val, "unknown error code");
			goto out;
		}
		if (!parse_i64(f[2], -1, INT32_MAX, &n) || n == 0) {
			opt_fail(e, "faults", val, "times must be -1 or a "
			    "positive count");
			goto out;
		}
		r.times = (int)n;
		for (i = 3; i < nf; i++) {
			if (strcmp(f[i], "after_apply") == 0)
				r.after_apply = true;
			else if (str_has_prefix(f[i], "gpu=") &&
			    catalog_index(f[i] + 4, &idx)) {
				free(r.gpu);
				r.gpu = xstrdup(f[i] + 4);
			} else if (!str_has_prefix(f[i], "retry_after_ms=") ||
			    !parse_i64(f[i] + 15, 0, FAKE_MS_MAX,
			    &r.retry_after_ms)) {
				opt_fail(e, "faults", val, "expected "
				    "after_apply, gpu=TYPE or "
				    "retry_after_ms=N");
				goto out;
			}
		}
		st->rules = xreallocarray(st->rules, st->nrules + 1,
		    sizeof(*st->rules));
		st->rules[st->nrules++] = r;
		memset(&r, 0, sizeof(r));
	}
	rc = 0;
out:
	rule_release(&r);
	free(copy);
	return rc;
}

/*
 * The settings of conf's options over the defaults, into st; the seed
 * (every option but state_file, in a fixed order) into *seed.
 */
static int
options_parse(const struct provider_conf *conf, struct fake_state *st,
    char **seed, struct gr_err *e)
{
	struct buf	 b = BUF_INIT;
	const char	*key, *val;
	int64_t		*msp, n;
	size_t		 j;

	*seed = NULL;
	if (provider_options_check("fake", conf, option_keys,
	    nitems(option_keys), e) == -1)
		return -1;
	for (j = 1; j < nitems(option_keys); j++) {
		key = option_keys[j];
		val = kv_get(conf->options, conf->noptions, key);
		if (val == NULL)
			continue;
		buf_addf(&b, "%s=%s\n", key, val);
		msp = NULL;
		if (strcmp(key, "boot_ms") == 0)
			msp = &st->boot_ms;
		else if (strcmp(key, "list_delay_ms") == 0)
			msp = &st->list_delay_ms;
		else if (strcmp(key, "teardown_ms") == 0)
			msp = &st->teardown_ms;
		else if (strcmp(key, "latency_ms") == 0)
			msp = &st->latency_ms;
		if (msp != NULL) {
			if (!parse_i64(val, 0, FAKE_MS_MAX, msp)) {
				opt_fail(e, key, val, "expected milliseconds");
				goto fail;
			}
		} else if (strcmp(key, "capacity") == 0 ||
		    strcmp(key, "price") == 0) {
			if (opt_table(key, val, st, e) == -1)
				goto fail;
		} else if (strcmp(key, "faults") == 0) {
			if (opt_faults(val, st, e) == -1)
				goto fail;
		} else if (strcmp(key, "teardown_stuck") == 0) {
			if (!parse_i64(val, 0, 1, &n)) {
				opt_fail(e, key, val, "expected 0 or 1");
				goto fail;
			}
			st->stuck = n == 1;
		}
	}
	*seed = buf_detach(&b);
	return 0;

fail:
	buf_release(&b);
	return -1;
}

/* --- life cycle ---------------------------------------------------------- */

static void
fake_free(struct fake *f)
{
	if (f == NULL)
		return;
	if (f->lock_fd != -1)
		close(f->lock_fd);
	state_release(&f->st);
	free(f->state_file);
	free(f->lock_path);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* Set up the shared state file: load it, seed it from the options. */
static int
state_file_open(struct fake *f, struct fake_state *opts, char *seed,
    struct gr_err *e)
{
	int	 rc;

	f->lock_path = xasprintf("%s.lock", f->state_file);
	f->lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f->lock_fd == -1) {
		gr_err_set(e, GR_E_IO, "fake state file '%s': %s",
		    f->lock_path, strerror(errno));
		free(seed);
		return -1;
	}
	if (fake_lock(f, e) == -1) {
		free(seed);
		return -1;
	}
	if (f->st.seed == NULL || strcmp(f->st.seed, seed) != 0) {
		state_take_settings(&f->st, opts);
		free(f->st.seed);
		f->st.seed = seed;
		f->dirty = true;
	} else
		free(seed);
	__atomic_store_n(&f->latency_ms, f->st.latency_ms, __ATOMIC_RELAXED);
	rc = fake_unlock(f, 0, e);
	return rc;
}

static int
fake_init(struct provider *p, const struct provider_conf *conf,
    struct gr_err *e)
{
	struct fake		*f;
	struct fake_state	 opts;
	const char		*sf;
	char			*seed;

	f = xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->lock_fd = -1;
	state_init(&f->st);
	state_init(&opts);
	if (options_parse(conf, &opts, &seed, e) == -1)
		goto fail;
	sf = kv_get(conf->options, conf->noptions, "state_file");
	if (sf != NULL && *sf == '\0') {
		free(seed);
		gr_err_set(e, GR_E_CONFIG, "provider 'fake': option "
		    "'state_file': empty path");
		goto fail;
	}
	if (sf != NULL) {
		f->state_file = xstrdup(sf);
		if (state_file_open(f, &opts, seed, e) == -1)
			goto fail;
	} else {
		state_take_settings(&f->st, &opts);
		f->st.seed = seed;
		f->latency_ms = f->st.latency_ms;
	}
	state_release(&opts);
	p->priv = f;
	return 0;

fail:
	state_release(&opts);
	fake_free(f);
	return -1;
}

static void
fake_fini(struct provider *p)
{
	fake_free(p->priv);
	p->priv = NULL;
}

const struct provider_ops fake_provider_ops = {
	.name = "fake",
	.caps = PROV_CAP_GPU | PROV_CAP_SPOT | PROV_CAP_MULTI_REGION |
	    PROV_CAP_HIBERNATION | PROV_CAP_IDEMPOTENT_SPAWN,
	.init = fake_init,
	.fini = fake_fini,
	.offers = fake_offers,
	.spawn = fake_spawn,
	.terminate = fake_terminate,
	.list = fake_list,
	.get = fake_get,
	.stop = fake_stop,
	.start = fake_start,
};

/* --- knobs --------------------------------------------------------------- */

/* Knobs hold the fake like a call; on a state file error they warn. */
static struct fake *
knob_lock(struct provider *p)
{
	struct fake	*f = p->priv;
	struct gr_err	 e;

	if (p->ops != &fake_provider_ops)
		BUG("fake knob on provider '%s'", p->name);
	gr_err_clear(&e);
	if (fake_lock(f, &e) == -1) {
		log_warnx("%s: %s", p->name, e.msg);
		return NULL;
	}
	return f;
}

static void
knob_unlock(struct provider *p, struct fake *f)
{
	struct gr_err	 e;

	gr_err_clear(&e);
	if (fake_unlock(f, 0, &e) == -1)
		log_warnx("%s: %s", p->name, e.msg);
}

static size_t
knob_gpu(const char *gpu)
{
	size_t	 idx;

	if (!catalog_index(gpu, &idx))
		BUG("fake knob: unknown gpu type '%s'", gpu != NULL ? gpu :
		    "(null)");
	return idx;
}

void
fake_fault_add(struct provider *p, const struct fake_fault *ff)
{
	struct fake		*f;
	struct fake_rule	*r;

	if ((int)ff->op < 0 || ff->op >= PROV_OP__COUNT ||
	    ff->code == GR_OK || (int)ff->code < 0 ||
	    ff->code >= GR_E__COUNT || ff->times == 0 || ff->times < -1)
		BUG("fake_fault_add: bad fault");
	f = knob_lock(p);
	if (f == NULL)
		return;
	f->st.rules = xreallocarray(f->st.rules, f->st.nrules + 1,
	    sizeof(*f->st.rules));
	r = &f->st.rules[f->st.nrules++];
	r->op = ff->op;
	r->code = ff->code;
	r->times = ff->times;
	r->after_apply = ff->after_apply;
	r->retry_after_ms = ff->retry_after_ms;
	r->gpu = ff->gpu != NULL ? xstrdup(ff->gpu) : NULL;
	f->dirty = true;
	knob_unlock(p, f);
}

void
fake_faults_clear(struct provider *p)
{
	struct fake	*f = knob_lock(p);

	if (f == NULL)
		return;
	rules_clear(&f->st);
	f->dirty = true;
	knob_unlock(p, f);
}

void
fake_set_capacity(struct provider *p, const char *gpu, int n)
{
	size_t		 idx = knob_gpu(gpu);
	struct fake	*f = knob_lock(p);

	if (f == NULL)
		return;
	f->st.capacity[idx] = n < 0 ? 0 : n;
	f->dirty = true;
	knob_unlock(p, f);
}

void
fake_set_price(struct provider *p, const char *gpu, money_t m)
{
	size_t		 idx = knob_gpu(gpu);
	struct fake	*f = knob_lock(p);

	if (f == NULL)
		return;
	f->st.price[idx] = m < 0 ? 0 : m;
	f->dirty = true;
	knob_unlock(p, f);
}

void
fake_set_billed_price(struct provider *p, const char *id, money_t m)
{
	struct fake		*f = knob_lock(p);
	struct fake_inst	*fi;
	int64_t			 now;

	if (f == NULL)
		return;
	now = clock_now_ms();
	fi = inst_find(f, id);
	if (fi == NULL || inst_gone(fi, now))
		log_warnx("%s: fake_set_billed_price: no instance '%s'",
		    p->name, id);
	else {
		/* what ran so far stays billed at the old price */
		inst_bill_close(fi, now, true);
		fi->price = m;
		f->dirty = true;
	}
	knob_unlock(p, f);
}

/* A delay setting, given by its offset in struct fake_state. */
static void
knob_ms(struct provider *p, size_t off, int64_t ms)
{
	struct fake	*f = knob_lock(p);

	if (f == NULL)
		return;
	*(int64_t *)((char *)&f->st + off) = ms < 0 ? 0 : ms;
	__atomic_store_n(&f->latency_ms, f->st.latency_ms, __ATOMIC_RELAXED);
	f->dirty = true;
	knob_unlock(p, f);
}

void
fake_set_boot_ms(struct provider *p, int64_t ms)
{
	knob_ms(p, offsetof(struct fake_state, boot_ms), ms);
}

void
fake_set_list_delay_ms(struct provider *p, int64_t ms)
{
	knob_ms(p, offsetof(struct fake_state, list_delay_ms), ms);
}

void
fake_set_latency_ms(struct provider *p, int64_t ms)
{
	knob_ms(p, offsetof(struct fake_state, latency_ms), ms);
}

void
fake_set_teardown_ms(struct provider *p, int64_t ms)
{
	knob_ms(p, offsetof(struct fake_state, teardown_ms), ms);
}

void
fake_set_teardown_stuck(struct provider *p, bool stuck)
{
	struct fake	*f = knob_lock(p);
	int64_t		 now;
	size_t		 i;

	if (f == NULL)
		return;
	now = clock_now_ms();
	f->st.stuck = stuck;
	if (!stuck) {
		/* the hung terminations go on from now */
		for (i = 0; i < f->st.ninsts; i++)
			if (f->st.insts[i].phase == FAKE_ENDING &&
			    f->st.insts[i].gone_ms == FAKE_STUCK)
				f->st.insts[i].gone_ms = now +
				    f->st.teardown_ms;
	}
	f->dirty = true;
	knob_unlock(p, f);
}

int
fake_interrupt(struct provider *p, const char *id)
{
	struct fake		*f = knob_lock(p);
	struct fake_inst	*fi;
	int64_t			 now;
	int			 rc = -1;

	if (f == NULL)
		return -1;
	now = clock_now_ms();
	fi = inst_find(f, id);
	if (fi != NULL && !inst_gone(fi, now)) {
		inst_end(f, fi, now, true);
		rc = 0;
	}
	knob_unlock(p, f);
	return rc;
}

void
fake_add_foreign(struct provider *p, const char *label, const char *gpu)
{
	struct fake		*f = knob_lock(p);
	struct fake_inst	*fi;
	int64_t			 now;
	size_t			 idx;
	bool			 known;

	if (f == NULL)
		return;
	now = clock_now_ms();
	if (gpu == NULL)
		gpu = GPU_CPU;
	known = catalog_index(gpu, &idx);
	fi = inst_add(f, now);
	fi->label = label != NULL ? xstrdup(label) : NULL;
	fi->gpu = xstrdup(gpu);
	fi->gpu_count = known && catalog_at(idx)->vram_gb == 0 ? 0 : 1;
	fi->region = xstrdup(fake_regions[0]);
	fi->foreign = true;
	fi->price = known ? f->st.price[idx] : 0;
	fi->phase = FAKE_ACTIVE;
	fi->up_ms = now;		/* someone's running, billed machine */
	knob_unlock(p, f);
}

size_t
fake_billing_count(struct provider *p)
{
	struct fake	*f = knob_lock(p);
	int64_t		 now;
	size_t		 i, n = 0;

	if (f == NULL)
		return 0;
	now = clock_now_ms();
	for (i = 0; i < f->st.ninsts; i++)
		if (inst_billing(&f->st.insts[i], now))
			n++;
	knob_unlock(p, f);
	return n;
}

money_t
fake_billed_total(struct provider *p)
{
	struct fake	*f = knob_lock(p);
	int64_t		 now;
	money_t		 sum = 0;
	size_t		 i;

	if (f == NULL)
		return 0;
	now = clock_now_ms();
	for (i = 0; i < f->st.ninsts; i++)
		sum += inst_billed(&f->st.insts[i], now);
	knob_unlock(p, f);
	return sum;
}

money_t
fake_instance_billed(struct provider *p, const char *id)
{
	struct fake		*f = knob_lock(p);
	struct fake_inst	*fi;
	money_t			 m = 0;

	if (f == NULL)
		return 0;
	fi = inst_find(f, id);
	if (fi != NULL)
		m = inst_billed(fi, clock_now_ms());
	knob_unlock(p, f);
	return m;
}

uint64_t
fake_calls(struct provider *p, enum prov_op op)
{
	struct fake	*f = p->priv;

	if ((int)op < 0 || op >= PROV_OP__COUNT)
		return 0;
	return __atomic_load_n(&f->calls[op], __ATOMIC_RELAXED);
}
