/*
 * dst.c: the deterministic simulation (issue 5, "the proof").
 *
 * The real reconciler core (apply_run: observe, plan, execute; the code
 * the CLI runs) against the fake provider, on a virtual clock, with a
 * schedule drawn from one seed: every taxonomy error at every provider
 * step (before the provider acted, or after it with the reply lost),
 * latency, late visibility in list, spot interruptions, billed prices
 * drifting (above the group's max too), offer prices and capacity
 * changing, terminations that hang for a while, foreign instances
 * appearing, fleet files edited (count up and down, a spec change that
 * forces a replacement, hibernation and back, a file deleted and brought
 * back),
 * budgets, and crashes of the reconciler at random provider calls,
 * before the call or after it (between the call and the ledger commit).
 *
 * Each apply run is a forked child.  The fake's world lives in its state
 * file and the ledger on disk, so a child that _exit()s at a crash point
 * leaves both as a killed process would, and the next child is the
 * restart.  The virtual clock and the trace live in a shared page.
 *
 * Invariants, checked at every spawn call, after every run (crashed or
 * not) and at quiescence (faults off, runs until apply converges):
 * - reserved spend (booting at the row's max price, billing at the billed
 *   price, stopped and ending ones at their price until gone) plus the
 *   spawn never exceeds a fleet's cap or the global cap;
 * - every instance with our label has a ledger row (intents first); once
 *   a run converged, every one older than the grace window has a live row
 *   that tracks it;
 * - at quiescence each group has exactly its count, one instance per
 *   slot, of its current spec; nothing of ours bills that no fleet wants;
 *   foreign instances were never touched;
 * - the ledger passes ledger_check.
 *
 * Same seed, same trace: the trace hash is printed, and --twice checks it.
 * A failing seed prints the command that replays it.
 *
 *   build/dst/dst [--seed N | --seeds A..B] [--tap] [--twice] [-v]
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../reconciler/reconciler.h"

#define T0		((int64_t)1767225600000)	/* 2026-01-01 */
#define SEC		((int64_t)1000)
#define MIN		(60 * SEC)
#define GRACE_MS	(90 * SEC)
#define EXIT_CONVERGED	0
#define EXIT_UNCONVERGED 1
#define EXIT_CRASH	86
#define EXIT_INVARIANT	87
#define NEPOCHS		14
#define NQUIESCE	8

/* --- the seeded PRNG: splitmix64 seeds xoshiro256** -------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed * 0x100000001b3ULL ^ stream;
	int	 i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return n == 0 ? 0 : rng_next(r) % n;
}

static bool
rng_permille(struct rng *r, int pm)
{
	return (int)rng_below(r, 1000) < pm;
}

/* --- what parent and children share ------------------------------------ */

struct shared {
	int64_t		 now_ms;	/* the virtual clock */
	uint64_t	 trace;		/* FNV-1a over every trace line */
	uint64_t	 ncalls;
	uint64_t	 ncrashes;
	uint64_t	 nfaults;
	uint64_t	 nspawns;
	char		 why[2048];	/* an invariant that failed */
};

static struct shared *sh;

static int64_t
sh_now(void *arg)
{
	(void)arg;
	return sh->now_ms;
}

static void
sh_sleep(void *arg, int64_t ms)
{
	(void)arg;
	if (ms > 0)
		sh->now_ms += ms;
}

static const struct clock_ops sh_clock = { sh_now, sh_sleep, NULL };

static int	 verbose;

static void trace(const char *, ...) GR_PRINTF(1, 2);

static void
trace(const char *fmt, ...)
{
	char		 line[1024];
	va_list		 ap;
	size_t		 i;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (i = 0; line[i] != '\0'; i++) {
		sh->trace ^= (unsigned char)line[i];
		sh->trace *= 0x100000001b3ULL;
	}
	sh->trace ^= '\n';
	sh->trace *= 0x100000001b3ULL;
	if (verbose)
		fprintf(stderr, "[%8.1fs] %s\n",
		    (double)(sh->now_ms - T0) / 1000.0, line);
}

static void fail(const char *, ...) GR_PRINTF(1, 2);

/* An invariant broke: say which, and end this child. */
static void
fail(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
	va_end(ap);
	trace("INVARIANT: %s", sh->why);
	fflush(NULL);
	_exit(EXIT_INVARIANT);
}

/* --- the fleet files, as a model --------------------------------------- */

struct gmodel {
	const char	*name;
	int		 count;
	const char	*gpu;
	int		 max_cents;
	int		 image;
	bool		 stopped;	/* state: stopped (hibernation) */
};

struct fmodel {
	const char	*name;
	bool		 present;
	int		 budget_cents;	/* 0: none */
	int		 ngroups;
	struct gmodel	 g[2];
};

struct sim {
	uint64_t	 seed;
	struct rng	 r;
	char		*dir;
	char		*state;		/* state dir */
	char		*fleets;	/* fleet dir */
	char		*cfg;		/* config path */
	char		*world;		/* fake state file */
	int		 global_cents;	/* 0: no global cap */
	int64_t		 boot_ms, teardown_ms, list_delay_ms;
	int		 fault_pm;	/* faults per 1000 calls */
	int		 crash_pm;	/* runs that crash, per 1000 */
	int		 event_pm;	/* world events per 1000 lists */
	struct fmodel	 f[2];
};

static const char *const gpus[] = { "RTX_4090", "A100_40GB" };

static int
default_cents(const char *gpu)
{
	/* the fake's default: $0.02 per GB of VRAM per hour */
	return strcmp(gpu, "RTX_4090") == 0 ? 48 : 80;
}

static void
write_file(const char *path, const char *text)
{
	if (file_write_atomic(path, text, strlen(text), 0644) == -1)
		fatal("write %s", path);
}

static void
write_config(struct sim *s, bool ample)
{
	char	*text, budget[64] = "";

	if (ample)
		snprintf(budget, sizeof(budget), "budget: {max_per_hour: "
		    "1000.00}\n");
	else if (s->global_cents > 0)
		snprintf(budget, sizeof(budget), "budget: {max_per_hour: "
		    "%d.%02d}\n", s->global_cents / 100, s->global_cents % 100);
	text = xasprintf(
	    "state_dir: %s\n"
	    "%s"
	    "parallel: 1\n"
	    "poll_interval: 5s\n"
	    "providers:\n"
	    "  fake:\n"
	    "    state_file: %s\n"
	    "    boot_ms: %lld\n"
	    "    teardown_ms: %lld\n"
	    "    list_delay_ms: %lld\n"
	    "    timeouts: {spinup: 3m, teardown: 90s, grace: %llds}\n",
	    s->state, budget, s->world, (long long)s->boot_ms,
	    (long long)s->teardown_ms, (long long)s->list_delay_ms,
	    (long long)(GRACE_MS / 1000));
	write_file(s->cfg, text);
	free(text);
}

static void
write_fleets(struct sim *s, bool ample)
{
	struct buf	 b;
	char		*path;
	int		 i, g;

	for (i = 0; i < 2; i++) {
		const struct fmodel *f = &s->f[i];

		path = xasprintf("%s/%s.yaml", s->fleets, f->name);
		if (!f->present) {
			unlink(path);
			free(path);
			continue;
		}
		buf_init(&b);
		buf_addf(&b, "fleet: %s\n", f->name);
		if (f->budget_cents > 0 && !ample)
			buf_addf(&b, "budget: {max_per_hour: %d.%02d}\n",
			    f->budget_cents / 100, f->budget_cents % 100);
		buf_addf(&b, "groups:\n");
		for (g = 0; g < f->ngroups; g++) {
			const struct gmodel *m = &f->g[g];

			buf_addf(&b, "  - name: %s\n    count: %d\n"
			    "    provider: fake\n    gpu: %s\n"
			    "    max_price_per_hour: %d.%02d\n"
			    "    image: img:%d\n", m->name, m->count, m->gpu,
			    m->max_cents / 100, m->max_cents % 100, m->image);
			if (m->stopped)
				buf_addf(&b, "    state: stopped\n");
		}
		write_file(path, buf_str(&b));
		buf_release(&b);
		free(path);
	}
}

static void
model_init(struct sim *s)
{
	static const char *const fnames[] = { "alpha", "beta" };
	static const char *const gnames[] = { "train", "serve" };
	int	 i, g;

	for (i = 0; i < 2; i++) {
		struct fmodel *f = &s->f[i];

		f->name = fnames[i];
		f->present = i == 0 || rng_permille(&s->r, 700);
		f->ngroups = 1 + (int)rng_below(&s->r, 2);
		f->budget_cents = rng_permille(&s->r, 500) ?
		    100 + 50 * (int)rng_below(&s->r, 8) : 0;
		for (g = 0; g < f->ngroups; g++) {
			struct gmodel *m = &f->g[g];

			m->name = gnames[g];
			m->count = (int)rng_below(&s->r, 4);
			m->gpu = gpus[rng_below(&s->r, 2)];
			m->max_cents = default_cents(m->gpu) +
			    10 * (int)rng_below(&s->r, 8);
			m->image = 1;
		}
	}
	s->global_cents = rng_permille(&s->r, 500) ?
	    150 + 50 * (int)rng_below(&s->r, 10) : 0;
}

/* One seeded edit of the fleet files. */
static void
model_edit(struct sim *s)
{
	struct fmodel	*f = &s->f[rng_below(&s->r, 2)];
	struct gmodel	*m = &f->g[rng_below(&s->r, (uint64_t)f->ngroups)];
	int		 k = (int)rng_below(&s->r, 8);

	if (!f->present) {
		f->present = true;
		trace("edit: fleet %s file back", f->name);
		return;
	}
	switch (k) {
	case 0:
	case 1:
		m->count += 1 + (int)rng_below(&s->r, 2);
		if (m->count > 5)
			m->count = 5;
		trace("edit: %s/%s count up to %d", f->name, m->name,
		    m->count);
		break;
	case 2:
		m->count -= 1 + (int)rng_below(&s->r, 2);
		if (m->count < 0)
			m->count = 0;
		trace("edit: %s/%s count down to %d", f->name, m->name,
		    m->count);
		break;
	case 3:
		m->image++;
		trace("edit: %s/%s image img:%d (replace)", f->name, m->name,
		    m->image);
		break;
	case 4:
		/* below the offer sometimes: nothing can be rented */
		m->max_cents = default_cents(m->gpu) - 20 +
		    10 * (int)rng_below(&s->r, 10);
		trace("edit: %s/%s max $%d.%02d/h", f->name, m->name,
		    m->max_cents / 100, m->max_cents % 100);
		break;
	case 5:
		f->budget_cents = rng_permille(&s->r, 300) ? 0 :
		    50 + 50 * (int)rng_below(&s->r, 8);
		trace("edit: %s budget %d cents", f->name, f->budget_cents);
		break;
	case 6:
		m->stopped = !m->stopped;
		trace("edit: %s/%s state %s", f->name, m->name, m->stopped ?
		    "stopped" : "running");
		break;
	default:
		if (s->f[0].present && s->f[1].present) {
			f->present = false;
			trace("edit: fleet %s file deleted", f->name);
		}
		break;
	}
}

/* --- the world as the fake's state file has it (a god's view) ---------- */

struct winst {
	char	*id;
	char	*label;
	char	*gpu;
	bool	 foreign;
	money_t	 price;
	int64_t	 created_ms;
	bool	 gone;
	bool	 billing;
	bool	 pending;
	bool	 ending;
	bool	 interrupted;
	bool	 stopped;
};

struct world {
	struct winst	*v;
	size_t		 n;
};

static void
world_release(struct world *w)
{
	size_t	 i;

	for (i = 0; i < w->n; i++) {
		free(w->v[i].id);
		free(w->v[i].label);
		free(w->v[i].gpu);
	}
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static void
world_read(const char *path, struct world *w)
{
	json_error_t	 je;
	json_t		*root, *insts, *o;
	int64_t		 now = sh->now_ms;
	size_t		 i;

	memset(w, 0, sizeof(*w));
	root = json_load_file(path, 0, &je);
	if (root == NULL)
		fail("world file %s: %s", path, je.text);
	insts = json_object_get(root, "instances");
	w->v = xcalloc(json_array_size(insts) + 1, sizeof(*w->v));
	json_array_foreach(insts, i, o) {
		struct winst	*x = &w->v[w->n++];
		const char	*phase = json_string_value(json_object_get(o,
		    "phase"));
		const char	*label = json_string_value(json_object_get(o,
		    "label"));
		int64_t		 up = json_integer_value(json_object_get(o,
		    "up_ms"));
		int64_t		 gone = json_integer_value(json_object_get(o,
		    "gone_ms"));

		x->id = xstrdup(json_string_value(json_object_get(o, "id")));
		x->label = label != NULL ? xstrdup(label) : NULL;
		x->gpu = xstrdup(json_string_value(json_object_get(o, "gpu")));
		x->foreign = json_is_true(json_object_get(o, "foreign"));
		x->price = json_integer_value(json_object_get(o, "price"));
		x->created_ms = json_integer_value(json_object_get(o,
		    "created_ms"));
		x->ending = strcmp(phase, "ending") == 0;
		x->stopped = strcmp(phase, "stopped") == 0;
		x->interrupted = json_is_true(json_object_get(o,
		    "interrupted"));
		x->gone = x->ending && now >= gone;
		x->billing = up != -1 && now >= up && !x->gone;
		x->pending = strcmp(phase, "active") == 0 && (up == -1 ||
		    now < up);
	}
	json_decref(root);
}

/* --- the child: one apply run, with the provider wrapped -------------- */

struct child {
	struct sim		*s;
	struct ctx		*c;
	struct provider		*god;	/* same world, no wrapper */
	struct rng		 r;
	uint64_t		 ncalls;
	uint64_t		 crash_at;	/* 0: no crash this run */
	bool			 crash_after;
	int			 crash_op;	/* -1: count every call */
	uint64_t		 nop;		/* calls of crash_op */
	bool			 quiet;		/* quiescence: no faults */
};

static struct child	*ch;
static struct provider_ops wrapped;

static const char *
uid_of(const char *label, int64_t *uid)
{
	*uid = 0;
	if (label == NULL || ch->c->ledger == NULL ||
	    !owner_label_parse(label, ledger_id(ch->c->ledger), uid))
		return NULL;
	return label;
}

static const struct ledger_inst *
row_by_uid(const struct ledger_inst *rows, size_t n, int64_t uid)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (rows[i].uid == uid)
			return &rows[i];
	return NULL;
}

static void
all_rows(struct ledger_inst **rows, size_t *n)
{
	struct gr_err	 e;

	if (ledger_list(ch->c->ledger, true, rows, n, &e) == -1)
		fail("ledger_list: %s", e.msg);
}

static bool
slot_is(const struct ledger_inst *r, const char *address)
{
	char	 a[256];

	snprintf(a, sizeof(a), "%s/%s/%d", r->fleet, r->group, r->slot);
	return strcmp(a, address) == 0;
}

/*
 * The budget at a spawn: what the world holds of ours, at worst, plus
 * this spawn's max must fit every cap.  A tracked pending instance
 * reserves its row's max price, a billing one its billed price, an ending
 * one until it is gone.
 */
static void
check_budget(const struct spawn_req *req)
{
	const struct config	*cfg = ch->c->cfg;
	const struct fleet_spec	*fs;
	struct ledger_inst	*rows;
	struct world		 w;
	money_t			 fleet_sum = 0, global_sum = 0, rate;
	char			 fleet[128], m1[32], m2[32], m3[32];
	const char		*slash;
	size_t			 nrows, i;
	int64_t			 uid;

	slash = strchr(req->address, '/');
	snprintf(fleet, sizeof(fleet), "%.*s", (int)(slash != NULL ?
	    slash - req->address : (ptrdiff_t)strlen(req->address)),
	    req->address);
	world_read(ch->s->world, &w);
	all_rows(&rows, &nrows);
	for (i = 0; i < w.n; i++) {
		const struct winst	*x = &w.v[i];
		const struct ledger_inst *r;

		if (x->gone || x->foreign || uid_of(x->label, &uid) == NULL)
			continue;
		r = row_by_uid(rows, nrows, uid);
		/*
		 * No twin: a live instance of this very slot that the
		 * ledger does not know as ending.  (One whose termination
		 * the provider refuses may outlive the teardown timeout
		 * and its slot be filled meanwhile: its row is STOPPING.)
		 */
		if (r != NULL && !x->ending && r->kind == LEDGER_KIND_FLEET &&
		    r->state != INST_STOPPING && strcmp(r->label,
		    req->label) != 0 && slot_is(r, req->address))
			fail("duplicate: spawn %s while %s (row %lld, %s) "
			    "still lives in that slot", req->address, x->id,
			    (long long)r->uid, inst_state_name(r->state));
		rate = x->price;
		/* a booting one at worst its row's max price; a stopped or
		 * ending one that bills nothing now at its price */
		if (x->pending && r != NULL && r->state != INST_TERMINATED &&
		    r->max_price > rate)
			rate = r->max_price;
		global_sum += rate;
		if (r != NULL && r->fleet != NULL &&
		    strcmp(r->fleet, fleet) == 0)
			fleet_sum += rate;
	}
	world_release(&w);
	ledger_insts_free(rows, nrows);
	fs = spec_fleet(ch->c->spec, fleet);
	if (fs != NULL && fs->has_budget &&
	    fleet_sum + req->max_price > fs->max_per_hour)
		fail("budget: spawn %s would bring fleet '%s' to $%s/h "
		    "reserved, over its cap $%s/h (held $%s/h)", req->address,
		    fleet, money_fmt(fleet_sum + req->max_price, m1,
		    sizeof(m1)), money_fmt(fs->max_per_hour, m2, sizeof(m2)),
		    money_fmt(fleet_sum, m3, sizeof(m3)));
	if (cfg->has_budget && global_sum + req->max_price > cfg->max_per_hour)
		fail("budget: spawn %s would bring all fleets to $%s/h "
		    "reserved, over the global cap $%s/h", req->address,
		    money_fmt(global_sum + req->max_price, m1, sizeof(m1)),
		    money_fmt(cfg->max_per_hour, m2, sizeof(m2)));
}

/* Our live instances, at random. */
static const struct winst *
pick_ours(struct world *w, bool billing_only)
{
	size_t	 i, n = 0, k;
	int64_t	 uid;

	for (i = 0; i < w->n; i++)
		if (!w->v[i].gone && !w->v[i].ending &&
		    uid_of(w->v[i].label, &uid) != NULL &&
		    (!billing_only || w->v[i].billing))
			n++;
	if (n == 0)
		return NULL;
	k = rng_below(&ch->r, n);
	for (i = 0; i < w->n; i++)
		if (!w->v[i].gone && !w->v[i].ending &&
		    uid_of(w->v[i].label, &uid) != NULL &&
		    (!billing_only || w->v[i].billing) && k-- == 0)
			return &w->v[i];
	return NULL;
}

/* Things the cloud does by itself; drawn at the start of a list. */
static void
world_events(void)
{
	struct world		 w;
	const struct winst	*x;
	int			 k;

	if (!rng_permille(&ch->r, ch->s->event_pm))
		return;
	world_read(ch->s->world, &w);
	k = (int)rng_below(&ch->r, 8);
	switch (k) {
	case 0:
		if ((x = pick_ours(&w, false)) != NULL) {
			trace("event: spot interruption of %s", x->id);
			(void)fake_interrupt(ch->god, x->id);
		}
		break;
	case 1:
	case 2:
		if ((x = pick_ours(&w, true)) != NULL) {
			static const int pct[] = { 80, 110, 150, 300 };
			money_t m = x->price * pct[rng_below(&ch->r, 4)] / 100;

			trace("event: %s now bills %lld micro$/h", x->id,
			    (long long)m);
			fake_set_billed_price(ch->god, x->id, m);
		}
		break;
	case 3: {
		const char	*g = gpus[rng_below(&ch->r, 2)];
		static const int pct[] = { 60, 100, 100, 130, 250 };
		money_t		 m;

		m = (money_t)default_cents(g) * 10000 *
		    pct[rng_below(&ch->r, 5)] / 100;
		trace("event: %s offers now %lld micro$/h", g, (long long)m);
		fake_set_price(ch->god, g, m);
		break;
	}
	case 5: {
		const char	*g = gpus[rng_below(&ch->r, 2)];
		static const int caps[] = { 0, 1, 2, 100 };
		int		 n = caps[rng_below(&ch->r, 4)];

		trace("event: %s capacity now %d a region", g, n);
		fake_set_capacity(ch->god, g, n);
		break;
	}
	case 6: {
		bool	 stuck = rng_permille(&ch->r, 500);

		trace("event: terminations %s", stuck ? "hang" :
		    "finish again");
		fake_set_teardown_stuck(ch->god, stuck);
		break;
	}
	default:
		trace("event: a foreign instance appears");
		fake_add_foreign(ch->god, "someone-else", gpus[rng_below(
		    &ch->r, 2)]);
		break;
	}
	world_release(&w);
}

/*
 * Every code a provider call can fail with.  UNSUPPORTED is not among
 * them: it is what a provider lacking an operation answers every time
 * (wrap.c), not a failure of one call, and the reconciler rightly trusts
 * list alone where get is unsupported.
 */
static const enum gr_code fault_codes[] = {
	GR_E_CAPACITY, GR_E_AUTH, GR_E_RATE_LIMIT, GR_E_SPOT_INTERRUPTED,
	GR_E_QUOTA_EXCEEDED, GR_E_INVALID_SPEC, GR_E_NOT_FOUND,
	GR_E_TRANSIENT, GR_E_TIMEOUT, GR_E_INTERNAL,
};

/* Before every provider call: time, the world, faults, a crash. */
static void
before(enum prov_op op, const char *subj)
{
	struct fake_fault	 f;

	ch->ncalls++;
	sh->ncalls++;
	if (ch->crash_op == -1 || ch->crash_op == (int)op)
		ch->nop++;
	sh->now_ms += (int64_t)rng_below(&ch->r, 1500);	/* latency */
	if (ch->crash_at == ch->nop && !ch->crash_after) {
		trace("CRASH before %s %s", prov_op_name(op),
		    subj != NULL ? subj : "");
		sh->ncrashes++;
		_exit(EXIT_CRASH);
	}
	if (ch->quiet)
		return;
	if (op == PROV_OP_LIST)
		world_events();
	if (!rng_permille(&ch->r, ch->s->fault_pm))
		return;
	memset(&f, 0, sizeof(f));
	f.op = op;
	f.times = 1;
	f.code = fault_codes[rng_below(&ch->r, nitems(fault_codes))];
	/*
	 * NOT_FOUND from get or terminate says "gone": a provider lying
	 * about that is outside the model (nothing could be trusted).
	 */
	if (f.code == GR_E_NOT_FOUND && (op == PROV_OP_GET ||
	    op == PROV_OP_TERMINATE || op == PROV_OP_LIST))
		f.code = GR_E_TRANSIENT;
	f.after_apply = rng_permille(&ch->r, 400);
	f.retry_after_ms = f.code == GR_E_RATE_LIMIT &&
	    rng_permille(&ch->r, 500) ? (int64_t)rng_below(&ch->r, 120000) :
	    -1;
	trace("fault: %s %s: %s%s", prov_op_name(op), subj != NULL ? subj :
	    "", gr_code_name(f.code), f.after_apply ? " after acting" : "");
	sh->nfaults++;
	fake_fault_add(ch->god, &f);
}

static void
after(enum prov_op op, const char *subj, int rc, const struct gr_err *e,
    const char *id)
{
	trace("%s %s -> %s%s%s", prov_op_name(op), subj != NULL ? subj : "",
	    rc == 0 ? "ok" : gr_code_name(e->code), id != NULL ? " " : "",
	    id != NULL ? id : "");
	if (ch->crash_at == ch->nop && ch->crash_after &&
	    (ch->crash_op == -1 || ch->crash_op == (int)op)) {
		trace("CRASH after %s %s, before its ledger commit",
		    prov_op_name(op), subj != NULL ? subj : "");
		sh->ncrashes++;
		_exit(EXIT_CRASH);
	}
}

static int
w_offers(struct provider *p, const struct gpu_req *g, struct offer_list *o,
    struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_OFFERS, g->type);
	rc = fake_provider_ops.offers(p, g, o, e);
	after(PROV_OP_OFFERS, g->type, rc, e, NULL);
	return rc;
}

static int
w_spawn(struct provider *p, const struct spawn_req *req, struct instance *out,
    struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_SPAWN, req->address);
	check_budget(req);
	sh->nspawns++;
	rc = fake_provider_ops.spawn(p, req, out, e);
	after(PROV_OP_SPAWN, req->address, rc, e, rc == 0 ? out->id : NULL);
	return rc;
}

static int
w_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_TERMINATE, id);
	rc = fake_provider_ops.terminate(p, id, e);
	after(PROV_OP_TERMINATE, id, rc, e, NULL);
	return rc;
}

static int
w_stop(struct provider *p, const char *id, struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_STOP, id);
	rc = fake_provider_ops.stop(p, id, e);
	after(PROV_OP_STOP, id, rc, e, NULL);
	return rc;
}

static int
w_start(struct provider *p, const char *id, struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_START, id);
	rc = fake_provider_ops.start(p, id, e);
	after(PROV_OP_START, id, rc, e, NULL);
	return rc;
}

static int
w_list(struct provider *p, struct instance_list *l, struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_LIST, NULL);
	rc = fake_provider_ops.list(p, l, e);
	after(PROV_OP_LIST, NULL, rc, e, NULL);
	return rc;
}

static int
w_get(struct provider *p, const char *id, struct instance *in,
    struct gr_err *e)
{
	int	 rc;

	before(PROV_OP_GET, id);
	rc = fake_provider_ops.get(p, id, in, e);
	after(PROV_OP_GET, id, rc, e, NULL);
	return rc;
}

static struct provider *
open_fake(struct ctx *c)
{
	const struct provider_settings	*ps = config_provider(c->cfg, "fake");
	struct provider_conf		 conf;
	struct provider			*p;
	struct gr_err			 e;

	memset(&conf, 0, sizeof(conf));
	conf.name = "fake";
	conf.state_dir = c->state_dir;
	conf.ledger_id = ledger_id(c->ledger);
	conf.options = ps->options;
	conf.noptions = ps->noptions;
	conf.timeouts = ps->timeouts;
	if (provider_new(&conf, &p, &e) == -1)
		fail("god's fake: %s", e.msg);
	return p;
}

/*
 * After a run: every instance of ours has a ledger row; after a run that
 * converged, every one older than the grace window is tracked by a live
 * row; at quiescence, the fleet is exactly what the files ask for.
 */
static void
check_after(bool converged, bool final)
{
	struct ledger_inst	*rows;
	struct world		 w;
	struct gr_err		 e;
	size_t			 nrows, i, j, nours = 0, nwant = 0;
	int64_t			 uid, now = sh->now_ms;
	const struct spec	*spec = ch->c->spec;

	if (ledger_check(ch->c->ledger, &e) == -1)
		fail("ledger_check: %s", e.msg);
	world_read(ch->s->world, &w);
	all_rows(&rows, &nrows);
	for (i = 0; i < w.n; i++) {
		const struct winst	*x = &w.v[i];
		const struct ledger_inst *r;

		if (x->foreign) {
			if (x->ending)
				fail("foreign instance %s was terminated",
				    x->id);
			continue;
		}
		if (x->gone)
			continue;
		if (uid_of(x->label, &uid) == NULL)
			fail("instance %s carries no label of ours (%s)",
			    x->id, x->label != NULL ? x->label : "none");
		r = row_by_uid(rows, nrows, uid);
		if (r == NULL)
			fail("instance %s (%s) has no ledger row", x->id,
			    x->label);
		if (converged && now - x->created_ms > GRACE_MS &&
		    (r->state == INST_TERMINATED || r->provider_id == NULL ||
		    strcmp(r->provider_id, x->id) != 0))
			fail("converged, but instance %s (%s), %llds old, is "
			    "not tracked by a live row (row %lld is %s, "
			    "tracks %s)", x->id, x->label,
			    (long long)(now - x->created_ms) / 1000,
			    (long long)r->uid, inst_state_name(r->state),
			    r->provider_id != NULL ? r->provider_id : "none");
		if (!final)
			continue;
		nours++;
		{
			const struct fleet_spec	*fs = spec_fleet(spec, r->fleet);
			const struct group_spec	*gs = fs != NULL ?
			    spec_group(fs, r->group) : NULL;

			if (gs == NULL || r->slot >= gs->count)
				fail("converged, but %s bills for %s/%s/%d, "
				    "which no fleet wants", x->id, r->fleet,
				    r->group, r->slot);
			if (x->ending)
				fail("converged, but %s is still ending",
				    x->id);
			if (r->state != (gs->state == GROUP_STOPPED ?
			    INST_STOPPED : INST_RUNNING) ||
			    x->stopped != (gs->state == GROUP_STOPPED))
				fail("converged, but row %lld of %s is %s (the "
				    "provider says %s), its group wants %s",
				    (long long)r->uid, x->id,
				    inst_state_name(r->state), x->stopped ?
				    "stopped" : "not stopped", gs->state ==
				    GROUP_STOPPED ? "stopped" : "running");
			if (strcmp(r->spec_hash, gs->hash) != 0)
				fail("converged, but %s runs an old spec of "
				    "%s/%s", x->id, r->fleet, r->group);
			for (j = 0; j < w.n; j++) {
				const struct ledger_inst *r2;
				int64_t uid2;

				if (j == i || w.v[j].gone ||
				    uid_of(w.v[j].label, &uid2) == NULL ||
				    (r2 = row_by_uid(rows, nrows, uid2)) ==
				    NULL)
					continue;
				if (strcmp(r2->fleet, r->fleet) == 0 &&
				    strcmp(r2->group, r->group) == 0 &&
				    r2->slot == r->slot)
					fail("converged, but slot %s/%s/%d "
					    "has %s and %s", r->fleet,
					    r->group, r->slot, x->id,
					    w.v[j].id);
			}
		}
	}
	if (final) {
		/*
		 * Nothing was lost track of: every instance of ours, ended
		 * or not, that lived longer than the grace window was
		 * known to the row of its label (its id recorded there).
		 * One that was not was found only as an untracked one:
		 * adopted late, or paid for and killed as an orphan.  (A
		 * spot interruption may end one before anyone saw it.)
		 */
		for (i = 0; i < w.n; i++) {
			const struct ledger_inst *r;

			if (w.v[i].foreign || w.v[i].interrupted ||
			    uid_of(w.v[i].label, &uid) ==
			    NULL || (r = row_by_uid(rows, nrows, uid)) == NULL)
				continue;
			if (r->provider_id == NULL)
				fail("instance %s was never known to its row "
				    "%lld (%s)", w.v[i].id, (long long)r->uid,
				    r->end_reason != NULL ? r->end_reason :
				    "live");
			if (r->end_reason != NULL && strcmp(r->end_reason,
			    "orphan") == 0)
				fail("instance %s ended as an orphan (row %lld)",
				    w.v[i].id, (long long)r->uid);
		}
		for (i = 0; i < spec->nfleets; i++)
			for (j = 0; j < spec->fleets[i].ngroups; j++)
				nwant += (size_t)spec->fleets[i].groups[j].
				    count;
		if (nours != nwant)
			fail("converged with %zu instances of ours, the fleet "
			    "files want %zu", nours, nwant);
		for (i = 0; i < nrows; i++) {
			bool found = false;

			if (rows[i].state == INST_TERMINATED)
				continue;
			for (j = 0; j < w.n; j++)
				if (!w.v[j].gone && rows[i].provider_id !=
				    NULL && strcmp(w.v[j].id,
				    rows[i].provider_id) == 0)
					found = true;
			if (!found)
				fail("converged, but live row %lld (%s) has no "
				    "instance", (long long)rows[i].uid,
				    rows[i].provider_id != NULL ?
				    rows[i].provider_id : "no id");
		}
	}
	world_release(&w);
	ledger_insts_free(rows, nrows);
}

static void
child_run(struct sim *s, int epoch, bool quiet, int64_t deadline_ms)
{
	struct options		 o;
	struct ctx		 c;
	struct child		 cc;
	struct provider		*p;
	struct apply_opts	 ao;
	struct apply_result	 res;
	struct gr_err		 e;
	const char		*paths[1];
	int			 rc;

	memset(&cc, 0, sizeof(cc));
	cc.s = s;
	cc.quiet = quiet;
	rng_seed(&cc.r, s->seed, 1000 + (uint64_t)epoch);
	cc.crash_op = -1;
	if (!quiet && rng_permille(&cc.r, s->crash_pm)) {
		/* at any call, or at a spawn or terminate (the windows
		 * between a call and its ledger commit) */
		switch (rng_below(&cc.r, 3)) {
		case 0:
			cc.crash_at = 1 + rng_below(&cc.r, 60);
			break;
		case 1:
			cc.crash_op = PROV_OP_SPAWN;
			cc.crash_at = 1 + rng_below(&cc.r, 4);
			break;
		default:
			cc.crash_op = PROV_OP_TERMINATE;
			cc.crash_at = 1 + rng_below(&cc.r, 3);
			break;
		}
		cc.crash_after = rng_permille(&cc.r, 600);
	}
	if (!verbose)
		(void)freopen("/dev/null", "w", stderr);
	ch = &cc;
	clock_set(&sh_clock);
	log_init(verbose >= 2 ? LOG_LVL_DEBUG : verbose ? LOG_LVL_INFO :
	    LOG_LVL_ERROR - 1, false, "dst");
	memset(&o, 0, sizeof(o));
	paths[0] = s->fleets;
	o.config_path = s->cfg;
	o.state_dir = s->state;
	o.fleet_paths = paths;
	o.nfleet_paths = 1;
	o.yes = true;
	memset(&c, 0, sizeof(c));
	gr_err_clear(&e);
	if (ctx_init(&c, &o, &e) == -1 || ctx_lock(&c, "dst", &e) == -1 ||
	    ctx_open_ledger(&c, true, &e) == -1 ||
	    ctx_load_spec(&c, &e) == -1 ||
	    ctx_provider(&c, "fake", &p, &e) == -1)
		fail("set up: %s", e.msg);
	cc.c = &c;
	cc.god = open_fake(&c);
	wrapped = fake_provider_ops;
	wrapped.offers = w_offers;
	wrapped.spawn = w_spawn;
	wrapped.terminate = w_terminate;
	wrapped.list = w_list;
	wrapped.get = w_get;
	wrapped.stop = w_stop;
	wrapped.start = w_start;
	p->ops = &wrapped;
	if (quiet && epoch == NEPOCHS) {
		/* the cloud at rest: no faults, prices and capacity back to
		 * the defaults, hung terminations let go */
		size_t	 g;

		fake_faults_clear(cc.god);
		for (g = 0; g < nitems(gpus); g++) {
			fake_set_price(cc.god, gpus[g],
			    (money_t)default_cents(gpus[g]) * 10000);
			fake_set_capacity(cc.god, gpus[g], 100);
		}
		fake_set_teardown_stuck(cc.god, false);
	}
	trace("run %d%s (deadline %llds)%s", epoch, quiet ? " quiet" : "",
	    (long long)deadline_ms / 1000, cc.crash_at != 0 ?
	    " (will crash)" : "");
	memset(&ao, 0, sizeof(ao));
	ao.deadline_ms = deadline_ms;
	memset(&res, 0, sizeof(res));
	rc = apply_run(&c, &ao, &res, &e);
	trace("run %d: %s after %zu passes: %s", epoch, rc == 0 ?
	    "converged" : "not converged", res.passes, rc == 0 ? "ok" :
	    gr_code_name(e.code));
	check_after(rc == 0, quiet && rc == 0);
	p->ops = &fake_provider_ops;
	provider_free(cc.god);
	ctx_release(&c);
	fflush(NULL);
	_exit(rc == 0 ? EXIT_CONVERGED : EXIT_UNCONVERGED);
}

/* --- the parent: the schedule ----------------------------------------- */

static int
spawn_child(struct sim *s, int epoch, bool quiet, int64_t deadline_ms)
{
	pid_t	 pid;
	int	 st;

	fflush(NULL);
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid == 0)
		child_run(s, epoch, quiet, deadline_ms);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			fatal("waitpid");
	if (WIFSIGNALED(st)) {
		snprintf(sh->why, sizeof(sh->why), "run %d died of signal %d",
		    epoch, WTERMSIG(st));
		return EXIT_INVARIANT;
	}
	st = WEXITSTATUS(st);
	if (st != EXIT_CONVERGED && st != EXIT_UNCONVERGED &&
	    st != EXIT_CRASH && st != EXIT_INVARIANT) {
		snprintf(sh->why, sizeof(sh->why), "run %d exited %d", epoch,
		    st);
		return EXIT_INVARIANT;
	}
	return st;
}

static void
rm_rf(const char *dir)
{
	char	*cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		log_warnx("could not remove %s", dir);
	free(cmd);
}

static const char *
base_dir(void)
{
	const char	*d = getenv("GR_DST_DIR");

	if (d != NULL && *d != '\0')
		return d;
	/* tmpfs: the ledger's fsyncs cost nothing there */
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	d = getenv("TMPDIR");
	return d != NULL && *d != '\0' ? d : "/tmp";
}

struct outcome {
	bool		 ok;
	uint64_t	 trace;
	char		 why[2048];
	uint64_t	 calls, crashes, faults, spawns;
	int		 runs;
};

static void
run_seed(uint64_t seed, struct outcome *out)
{
	struct sim	 s;
	char		*tmpl;
	int		 epoch, st, q;
	bool		 converged = false;

	memset(out, 0, sizeof(*out));
	memset(sh, 0, sizeof(*sh));
	sh->now_ms = T0;
	sh->trace = 0xcbf29ce484222325ULL;
	memset(&s, 0, sizeof(s));
	s.seed = seed;
	rng_seed(&s.r, seed, 0);
	tmpl = xasprintf("%s/gr-dst.XXXXXX", base_dir());
	if (mkdtemp(tmpl) == NULL)
		fatal("mkdtemp %s", tmpl);
	s.dir = tmpl;
	s.state = xasprintf("%s/state", s.dir);
	s.fleets = xasprintf("%s/fleets", s.dir);
	s.cfg = xasprintf("%s/config.yaml", s.dir);
	s.world = xasprintf("%s/world.json", s.dir);
	if (mkdir_p(s.fleets, 0755) == -1)
		fatal("mkdir %s", s.fleets);
	s.boot_ms = (int64_t)(5 + rng_below(&s.r, 60)) * SEC;
	s.teardown_ms = (int64_t)rng_below(&s.r, 30) * SEC;
	s.list_delay_ms = rng_permille(&s.r, 500) ?
	    (int64_t)rng_below(&s.r, 60) * SEC : 0;
	s.fault_pm = (int)rng_below(&s.r, 150);
	s.crash_pm = 200 + (int)rng_below(&s.r, 500);
	s.event_pm = (int)rng_below(&s.r, 150);
	model_init(&s);
	trace("seed %" PRIu64 ": boot %llds, teardown %llds, list delay %llds, "
	    "faults %d/1000 calls, crashes %d/1000 runs, events %d/1000 passes",
	    seed, (long long)s.boot_ms / 1000, (long long)s.teardown_ms / 1000,
	    (long long)s.list_delay_ms / 1000, s.fault_pm, s.crash_pm,
	    s.event_pm);
	write_config(&s, false);
	write_fleets(&s, false);
	for (epoch = 0; epoch < NEPOCHS; epoch++) {
		if (epoch > 0 && rng_permille(&s.r, 500)) {
			model_edit(&s);
			write_fleets(&s, false);
		}
		st = spawn_child(&s, epoch, false, (int64_t)(10 +
		    rng_below(&s.r, 600)) * SEC);
		out->runs++;
		if (st == EXIT_INVARIANT)
			goto failed;
		/* time passes between runs */
		sh->now_ms += (int64_t)rng_below(&s.r, 240) * SEC;
	}
	/* Quiescence: faults off, prices sane, budgets ample, run to rest. */
	for (q = 0; q < 2; q++)
		if (s.f[q].present)
			for (int g = 0; g < s.f[q].ngroups; g++)
				if (s.f[q].g[g].max_cents <
				    default_cents(s.f[q].g[g].gpu))
					s.f[q].g[g].max_cents =
					    default_cents(s.f[q].g[g].gpu);
	write_config(&s, true);
	write_fleets(&s, true);
	trace("quiescence");
	for (q = 0; q < NQUIESCE && !converged; q++) {
		st = spawn_child(&s, NEPOCHS + q, true, 30 * MIN);
		out->runs++;
		if (st == EXIT_INVARIANT)
			goto failed;
		converged = st == EXIT_CONVERGED;
		sh->now_ms += 5 * MIN;
	}
	if (!converged) {
		snprintf(sh->why, sizeof(sh->why), "no convergence in %d quiet "
		    "runs", NQUIESCE);
		goto failed;
	}
	out->ok = true;
	goto done;
failed:
	snprintf(out->why, sizeof(out->why), "%s", sh->why);
done:
	out->trace = sh->trace;
	out->calls = sh->ncalls;
	out->crashes = sh->ncrashes;
	out->faults = sh->nfaults;
	out->spawns = sh->nspawns;
	if (out->ok || getenv("GR_DST_KEEP") == NULL)
		rm_rf(s.dir);
	else
		fprintf(stderr, "dst: kept %s\n", s.dir);
	free(s.dir);
	free(s.state);
	free(s.fleets);
	free(s.cfg);
	free(s.world);
}

static void
usage(void)
{
	fprintf(stderr, "usage: dst [--seed N | --seeds A..B] [--tap] "
	    "[--twice] [-v]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	uint64_t	 first = 1, last = 1, seed, nfail = 0, n = 0;
	bool		 tap = false, twice = false;
	struct outcome	 o, o2;
	int		 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			first = last = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 "..%" SCNu64, &first,
			    &last) != 2 || last < first)
				usage();
		} else if (strcmp(argv[i], "--tap") == 0)
			tap = true;
		else if (strcmp(argv[i], "--twice") == 0)
			twice = true;
		else if (strcmp(argv[i], "-v") == 0)
			verbose++;
		else if (strcmp(argv[i], "-vv") == 0)
			verbose += 2;
		else
			usage();
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fatal("mmap");
	if (tap)
		printf("1..%" PRIu64 "\n", last - first + 1);
	for (seed = first; seed <= last; seed++) {
		n++;
		run_seed(seed, &o);
		if (o.ok && twice) {
			run_seed(seed, &o2);
			if (!o2.ok || o2.trace != o.trace) {
				o.ok = false;
				snprintf(o.why, sizeof(o.why), "not "
				    "deterministic: trace %016" PRIx64 " then "
				    "%016" PRIx64 "%s%.1000s", o.trace, o2.trace,
				    o2.ok ? "" : "; second run: ", o2.ok ? "" :
				    o2.why);
			}
		}
		if (!o.ok)
			nfail++;
		if (tap)
			printf("%sok %" PRIu64 " - seed %" PRIu64 ": %d runs, "
			    "%" PRIu64 " calls, %" PRIu64 " faults, %" PRIu64
			    " crashes, trace %016" PRIx64 "\n", o.ok ? "" :
			    "not ", n, seed, o.runs, o.calls, o.faults,
			    o.crashes, o.trace);
		else if (o.ok && (verbose || first == last))
			printf("seed %" PRIu64 ": ok: %d runs, %" PRIu64
			    " calls, %" PRIu64 " spawns, %" PRIu64 " faults, %"
			    PRIu64 " crashes, trace %016" PRIx64 "\n", seed,
			    o.runs, o.calls, o.spawns, o.faults, o.crashes,
			    o.trace);
		if (!o.ok) {
			printf("%sseed %" PRIu64 " FAILED: %s\n", tap ? "# " :
			    "", seed, o.why);
			printf("%s  replay: build/dst/dst --seed %" PRIu64
			    " -v\n", tap ? "# " : "", seed);
		}
		fflush(stdout);
	}
	if (!tap && first != last)
		printf("%" PRIu64 " seeds, %" PRIu64 " failed\n", n, nfail);
	return nfail == 0 ? 0 : 1;
}
