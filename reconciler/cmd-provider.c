/*
 * cmd-provider.c: `gpureconcile provider NAME COMMAND`: the provider
 * adapter contract, the same commands for every provider:
 *
 *   spinup --gpu TYPE --disk GB --template NAME [--budget $/h] [--name N]
 *   teardown --instance ID        teardown-all
 *   list [--all]                  offers --gpu TYPE
 *   ssh-info --instance ID [--check]   ssh-forget --instance ID
 *   pull --instance ID --remote P --local P
 *   info
 *
 * Ad-hoc instances are tracked in the ledger under their --name (kind
 * "adhoc"), so apply never touches them and teardown-all never touches
 * what this ledger did not create.  Every transition is a ledger event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reconciler.h"

struct pctx {
	struct ctx	*c;
	struct options	*o;
	const char	*pname;
	const char	*sub;
	struct provider	*p;
	const struct provider_timeouts *to;
};

struct psub {
	const char	*name;
	bool		 mutates;	/* takes the lock, creates the ledger */
	int		(*fn)(struct pctx *);
};

static const char *msg_unconfirmed =
    "Could not confirm billing stopped. Check your provider dashboard.";

static bool
ask(const char *fmt, ...) GR_PRINTF(1, 2);

/* On a terminal without --yes: ask.  Elsewhere: yes. */
static bool
ask(const char *fmt, ...)
{
	va_list	 ap;
	char	 line[64];
	FILE	*tty;

	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return true;
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return false;
	va_start(ap, fmt);
	vfprintf(tty, fmt, ap);
	va_end(ap);
	fprintf(tty, " [y/N] ");
	fflush(tty);
	if (fgets(line, sizeof(line), tty) == NULL)
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

static void
json_out(json_t *j)	/* steals j */
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10));
	putchar('\n');
	json_decref(j);
}

static json_t *
str_or_null(const char *s)	/* new */
{
	return s != NULL ? json_string(s) : json_null();
}

/* The contract's required output for one instance (new). */
static json_t *
contract_json(const char *pname, const struct instance *in,
    const struct ledger_inst *r)
{
	json_t		*o = json_object();
	char		 t[32];
	int64_t		 started = r != NULL && r->billing_start_ms > 0 ?
	    r->billing_start_ms : in->created_ms;

	json_object_set_new(o, "instance_id", json_string(in->id));
	json_object_set_new(o, "provider", json_string(pname));
	json_object_set_new(o, "gpu", str_or_null(in->gpu));
	json_object_set_new(o, "ssh_host", str_or_null(in->ssh_host));
	json_object_set_new(o, "ssh_port", in->ssh_host != NULL ?
	    json_integer(in->ssh_port) : json_null());
	json_object_set_new(o, "cost_per_hour",
	    json_real(money_to_double(in->price)));
	json_object_set_new(o, "status",
	    json_string(inst_state_name(in->state)));
	json_object_set_new(o, "started_at", started > 0 ?
	    json_string(time_iso8601(started, t, sizeof(t))) : json_null());
	json_object_set_new(o, "label", str_or_null(in->label));
	if (r != NULL)
		json_object_set_new(o, "name", json_string(r->kind ==
		    LEDGER_KIND_ADHOC ? r->group : r->fleet));
	if (in->files_root != NULL)
		json_object_set_new(o, "files", json_string(in->files_root));
	return o;
}

static void
contract_text(const char *pname, const struct instance *in,
    const struct ledger_inst *r)
{
	char	 m[32], t[32];
	int64_t	 started = r != NULL && r->billing_start_ms > 0 ?
	    r->billing_start_ms : in->created_ms;

	printf("instance_id:   %s\n", in->id);
	printf("provider:      %s\n", pname);
	printf("gpu:           %s\n", in->gpu != NULL ? in->gpu : "-");
	if (in->ssh_host != NULL)
		printf("ssh:           %s%s%s -p %d\n", in->ssh_user ?
		    in->ssh_user : "", in->ssh_user ? "@" : "", in->ssh_host,
		    in->ssh_port);
	else
		printf("ssh:           none%s%s\n", in->files_root ?
		    "; files in " : "", in->files_root ? in->files_root : "");
	printf("cost_per_hour: %s\n", money_fmt(in->price, m, sizeof(m)));
	printf("status:        %s\n", inst_state_name(in->state));
	printf("started_at:    %s\n", started > 0 ?
	    time_iso8601(started, t, sizeof(t)) : "-");
}

/* Live (or, failing that, the newest) ad-hoc row of this name. */
static bool
find_adhoc(struct pctx *pc, const char *name, bool live_only,
    struct ledger_inst *out)
{
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	ssize_t			 best = -1;

	if (pc->c->ledger == NULL ||
	    ledger_list(pc->c->ledger, true, &rows, &n, &e) == -1)
		return false;
	for (i = 0; i < n; i++) {
		const struct ledger_inst *r = &rows[i];

		if (r->kind != LEDGER_KIND_ADHOC ||
		    strcmp(r->provider, pc->pname) != 0 ||
		    strcmp(r->group, name) != 0)
			continue;
		if (live_only && r->state == INST_TERMINATED)
			continue;
		if (best < 0 || (rows[best].state == INST_TERMINATED &&
		    r->state != INST_TERMINATED) ||
		    (r->state == INST_TERMINATED) ==
		    (rows[best].state == INST_TERMINATED))
			best = (ssize_t)i;
	}
	if (best >= 0)
		ledger_inst_copy(out, &rows[best]);
	ledger_insts_free(rows, n);
	return best >= 0;
}

/* The ledger row an --instance names: a provider id or an ad-hoc name. */
static bool
find_row(struct pctx *pc, const char *ref, struct ledger_inst *out)
{
	struct gr_err	 e;

	memset(out, 0, sizeof(*out));
	if (pc->c->ledger != NULL && ledger_find_provider_id(pc->c->ledger,
	    pc->pname, ref, out, &e) == 0)
		return true;
	ledger_inst_release(out);
	return find_adhoc(pc, ref, false, out);
}

static bool
is_ours(struct pctx *pc, const char *label)
{
	int64_t	 uid;

	return pc->c->ledger != NULL &&
	    owner_label_parse(label, ledger_id(pc->c->ledger), &uid);
}

/*
 * An instance the provider still has, with this ledger's label, that no
 * live row tracks: no row at all (a lost spawn reply), or a row that says
 * TERMINATED (the provider said gone, wrongly).  teardown-all ends them.
 */
static bool
is_orphan(struct pctx *pc, const struct instance *in)
{
	struct ledger_inst	 r;
	struct gr_err		 e;
	bool			 orphan;

	if (in->state == INST_TERMINATED || !is_ours(pc, in->label))
		return false;
	memset(&r, 0, sizeof(r));
	orphan = ledger_find_provider_id(pc->c->ledger, pc->pname, in->id,
	    &r, &e) == -1 || r.state == INST_TERMINATED;
	ledger_inst_release(&r);
	return orphan;
}

/* Is the instance gone (NOT_FOUND, or TERMINATED)?  -1: cannot tell. */
static int
gone_now(struct pctx *pc, const char *id)
{
	struct instance	 in;
	struct gr_err	 e;
	int		 rc;

	memset(&in, 0, sizeof(in));
	if (provider_get(pc->p, id, &in, &e) == -1)
		rc = e.code == GR_E_NOT_FOUND ? 1 : -1;
	else
		rc = in.state == INST_TERMINATED ? 1 : 0;
	instance_release(&in);
	return rc;
}

/* Does the provider show the instance PENDING or RUNNING now? */
static bool
still_up(struct pctx *pc, const char *id)
{
	struct instance	 in;
	struct gr_err	 e;
	bool		 up;

	memset(&in, 0, sizeof(in));
	up = provider_get(pc->p, id, &in, &e) == 0 &&
	    (in.state == INST_PENDING || in.state == INST_RUNNING);
	instance_release(&in);
	return up;
}

static int
fail(struct gr_err *e)
{
	return report_error(e);
}

/*
 * The taxonomy's retry rules for one provider call: a rate limit waits
 * (Retry-After, clamped; it does not use up a try), a transient error
 * backs off, a few times.  A spawn whose reply was lost is never retried:
 * the next spinup looks for its label first.
 */
static bool
retry_wait(struct gr_err *e, int *tries, int *waits)
{
	if (e->code == GR_E_RATE_LIMIT && *waits < 5) {
		clock_sleep_ms(run_rate_wait_ms(NULL, e, ++*waits));
		return true;
	}
	if (e->code == GR_E_TRANSIENT && !e->outcome_unknown && ++*tries < 3) {
		clock_sleep_ms(run_backoff_ms(NULL, *tries));
		return true;
	}
	return false;
}

static int
p_list(struct pctx *pc, struct instance_list *l, struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		instance_list_release(l);
		if (provider_list(pc->p, l, e) == 0)
			return 0;
		if (!retry_wait(e, &tries, &waits))
			return -1;
	}
}

static int
p_offers(struct pctx *pc, const struct gpu_req *gr, struct offer_list *ol,
    struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		offer_list_release(ol);
		if (provider_offers(pc->p, gr, ol, e) == 0)
			return 0;
		if (!retry_wait(e, &tries, &waits))
			return -1;
	}
}

static int
p_spawn(struct pctx *pc, const struct spawn_req *req, struct instance *in,
    struct gr_err *e)
{
	int	 tries = 0, waits = 0;

	for (;;) {
		instance_release(in);
		if (provider_spawn(pc->p, req, in, e) == 0)
			return 0;
		if (e->outcome_unknown || !retry_wait(e, &tries, &waits))
			return -1;
	}
}

/*
 * The config's global cap covers ad-hoc instances too: what every live
 * row reserves (DESIGN.md section 7) plus this one must stay under it.
 */
static bool
global_cap_refuses(struct pctx *pc, money_t want, struct gr_err *e)
{
	const struct config	*cfg = pc->c->cfg;
	struct ledger_inst	*rows = NULL;
	size_t			 n = 0, i;
	money_t			 held = 0;
	char			 m1[32], m2[32], m3[32];

	if (!cfg->has_budget)
		return false;
	if (pc->c->ledger != NULL &&
	    ledger_list(pc->c->ledger, false, &rows, &n, e) == -1)
		return true;
	for (i = 0; i < n; i++)
		held += row_reserve(&rows[i], NULL);
	ledger_insts_free(rows, n);
	if (held + want <= cfg->max_per_hour)
		return false;
	gr_err_set(e, GR_E_BUDGET, "spinup on %s: $%s/h more would cross the "
	    "global budget of $%s/h ($%s/h already reserved)", pc->pname,
	    money_fmt(want, m1, sizeof(m1)),
	    money_fmt(cfg->max_per_hour, m2, sizeof(m2)),
	    money_fmt(held, m3, sizeof(m3)));
	gr_err_hint(e, "lower --budget, end an instance, or raise budget: "
	    "max_per_hour in the config");
	return true;
}

/* spinup ----------------------------------------------------------------- */

/* Wait until RUNNING; on the spinup timeout cancel the allocation. */
static int
spinup_wait(struct pctx *pc, struct ledger_inst *r, struct instance *in,
    struct gr_err *e)
{
	int64_t	 start = r->created_ms, next_report;
	char	 age[32];
	bool	 gone;
	enum gr_code answer = GR_OK;	/* a get that said gone, by error */

	next_report = clock_now_ms() + pc->to->pending_report_ms;
	while (in->state != INST_RUNNING) {
		int64_t now = clock_now_ms();

		if (in->state == INST_TERMINATED) {
			struct gr_err	 te;

			/*
			 * Gone, says the provider (or NOT_FOUND, which may be
			 * wrong): terminate anyway, it is idempotent, and
			 * confirm, so that the row never says TERMINATED of
			 * an instance that is still billing.  Unconfirmed,
			 * the row stays STOPPING for the next run to check.
			 */
			gr_err_clear(&te);
			if (exec_terminate_row(pc->c, r, "ended while booting",
			    pc->to->teardown_ms, &gone, &te) == -1 || !gone)
				fprintf(stderr, "%s\n", msg_unconfirmed);
			/* an error that said so gives its own code */
			if (answer == GR_E_NOT_FOUND)
				gr_err_set(e, GR_E_NOT_FOUND, "spinup '%s' on "
				    "%s: instance %s was not found while "
				    "booting; it was terminated to be sure",
				    r->group, pc->pname, r->provider_id);
			else if (answer == GR_E_SPOT_INTERRUPTED)
				gr_err_set(e, GR_E_SPOT_INTERRUPTED, "spinup "
				    "'%s' on %s: instance %s was interrupted "
				    "while booting", r->group, pc->pname,
				    r->provider_id);
			else
				gr_err_set(e, GR_E_CAPACITY, "spinup '%s' on "
				    "%s: instance %s ended while booting (%s)",
				    r->group, pc->pname, r->provider_id,
				    in->status ? in->status : "gone");
			gr_err_hint(e, "try again, or another GPU type");
			return -1;
		}
		if (now - start >= pc->to->spinup_ms) {
			struct gr_err	 te;

			gr_err_clear(&te);
			if (exec_terminate_row(pc->c, r, "spinup timeout",
			    pc->to->teardown_ms, &gone, &te) == -1 || !gone)
				fprintf(stderr, "%s\n", msg_unconfirmed);
			gr_err_set(e, GR_E_TIMEOUT, "spinup '%s' on %s: %s was "
			    "still %s after %s; the allocation was %s",
			    r->group, pc->pname, r->provider_id,
			    inst_state_name(in->state),
			    age_fmt(now - start, age, sizeof(age)),
			    gone ? "cancelled" : "asked to cancel, "
			    "not yet confirmed");
			gr_err_hint(e, "try another GPU type or provider, or "
			    "raise the provider's timeouts.spinup");
			return -1;
		}
		if (now >= next_report) {
			log_info("%s: still pending after %s (%s)", r->group,
			    age_fmt(now - start, age, sizeof(age)),
			    in->status != NULL ? in->status : "pending");
			next_report = now + pc->to->pending_report_ms;
		}
		clock_sleep_ms(pc->c->cfg->poll_ms < 1000 ?
		    pc->c->cfg->poll_ms : 1000);
		instance_release(in);
		if (provider_get(pc->p, r->provider_id, in, e) == -1) {
			if (e->code != GR_E_NOT_FOUND &&
			    e->code != GR_E_SPOT_INTERRUPTED)
				continue;	/* keep waiting; timeout bounds */
			in->state = INST_TERMINATED;
			answer = e->code;
		}
	}
	row_apply_seen(r, in, clock_now_ms());
	return ledger_update(pc->c->ledger, r, "running", in->status, e);
}

/* An existing ad-hoc instance of this name: return it, or clear it. */
static int
spinup_existing(struct pctx *pc, struct ledger_inst *r, struct instance *in,
    bool *done, struct gr_err *e)
{
	struct instance_list	 l = { NULL, 0 };
	size_t			 i;

	*done = false;
	if (r->provider_id == NULL) {
		/* a spinup whose reply was lost: look for its label */
		if (p_list(pc, &l, e) == -1)
			return -1;
		for (i = 0; i < l.n; i++)
			if (l.v[i].label != NULL &&
			    strcmp(l.v[i].label, r->label) == 0)
				r->provider_id = xstrdup(l.v[i].id);
		instance_list_release(&l);
		if (r->provider_id == NULL) {
			if (clock_now_ms() - r->created_ms < pc->to->grace_ms) {
				gr_err_set(e, GR_E_TRANSIENT, "spinup '%s': an "
				    "earlier spinup's outcome is unknown and "
				    "its label %s is not listed yet", r->group,
				    r->label);
				gr_err_hint(e, "run it again in a minute: it "
				    "will find that instance or start anew");
				return -1;
			}
			r->state = INST_TERMINATED;
			return ledger_update(pc->c->ledger, r, "spawn-lost",
			    "label never showed up", e);
		}
	}
	if (provider_get(pc->p, r->provider_id, in, e) == -1) {
		if (e->code != GR_E_NOT_FOUND)
			return -1;
		gr_err_clear(e);
		in->state = INST_TERMINATED;
	}
	if (in->state == INST_TERMINATED) {
		r->state = INST_TERMINATED;
		r->billing_end_ms = clock_now_ms();
		instance_release(in);
		return ledger_update(pc->c->ledger, r, "vanished",
		    "gone from the provider", e);
	}
	if (in->state == INST_STOPPING) {
		gr_err_set(e, GR_E_TRANSIENT, "spinup '%s': instance %s is "
		    "still terminating", r->group, r->provider_id);
		gr_err_hint(e, "wait for it, or use another --name");
		return -1;
	}
	/* PENDING or RUNNING: this is the instance; create nothing */
	*done = true;
	if (spinup_wait(pc, r, in, e) == -1)
		return -1;
	return 0;
}

static int
sub_spinup(struct pctx *pc)
{
	struct options		*o = pc->o;
	const char		*name = o->name != NULL ? o->name : "adhoc";
	const struct gpu_model	*gm;
	struct gpu_req		 gr;
	struct offer_list	 ol = { NULL, 0 };
	const struct offer	*pick = NULL;
	struct spawn_req	 req;
	struct ledger_inst	 r;
	struct instance		 in;
	struct gr_err		 e, ge;
	char			 m1[32], m2[32];
	size_t			 i;
	bool			 done;
	int			 rc = GR_EXIT_OK;

	if (o->gpu == NULL || o->disk_gb == 0 || o->template_name == NULL) {
		fprintf(stderr, "gpureconcile: spinup needs --gpu TYPE --disk "
		    "GB --template NAME\n");
		return GR_EXIT_USAGE;
	}
	gm = catalog_find(o->gpu);
	if (gm == NULL) {
		const char	*names[64], *s;
		size_t		 n = 0;

		for (i = 0; i < catalog_count() && n < nitems(names); i++)
			names[n++] = catalog_at(i)->name;
		s = str_suggest(o->gpu, names, n);
		gr_err_clear(&e);
		gr_err_set(&e, GR_E_USAGE, "spinup: unknown gpu type '%s'",
		    o->gpu);
		if (s != NULL)
			gr_err_hint(&e, "did you mean '%s'?", s);
		else
			gr_err_hint(&e, "see the GPU names in the README");
		return fail(&e);
	}
	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	gr_err_clear(&e);
	if (find_adhoc(pc, name, true, &r)) {
		if (spinup_existing(pc, &r, &in, &done, &e) == -1)
			goto err;
		if (done)
			goto print;
		ledger_inst_release(&r);
		memset(&r, 0, sizeof(r));
	}

	gr.type = (char *)gm->name;
	gr.count = strcmp(gm->name, GPU_CPU) == 0 ? 0 : 1;
	gr.min_vram_gb = 0;
	if (p_offers(pc, &gr, &ol, &e) == 0) {
		for (i = 0; i < ol.n && pick == NULL; i++)
			if (ol.v[i].available > 0 && (!o->has_budget ||
			    ol.v[i].price <= o->budget))
				pick = &ol.v[i];
		if (pick == NULL) {
			gr_err_set(&e, GR_E_CAPACITY, "spinup '%s' on %s: no %s "
			    "offer%s%s%s", name, pc->pname, gm->name,
			    o->has_budget ? " under $" : " available",
			    o->has_budget ? money_fmt(o->budget, m1,
			    sizeof(m1)) : "", o->has_budget ? "/h" : "");
			gr_err_hint(&e, o->has_budget ? "raise --budget or try "
			    "another GPU type" : "try another GPU type or "
			    "provider");
			goto err;
		}
	} else if (e.code != GR_E_UNSUPPORTED)
		goto err;
	gr_err_clear(&e);
	if (global_cap_refuses(pc, o->has_budget ? o->budget : pick != NULL ?
	    pick->price : 0, &e))
		goto err;
	if (pick != NULL && !o->yes && !ask("Rent %s on %s at $%s/h (offer "
	    "%s)?", gm->name, pc->pname, money_fmt(pick->price, m1,
	    sizeof(m1)), pick->id)) {
		gr_err_set(&e, GR_E_USAGE, "spinup cancelled; nothing was "
		    "rented");
		goto err;
	}

	r.kind = LEDGER_KIND_ADHOC;
	r.group = xstrdup(name);
	r.provider = xstrdup(pc->pname);
	r.state = INST_IDLE;
	r.gpu = xstrdup(gm->name);
	r.gpu_count = gr.count;
	r.max_price = o->has_budget ? o->budget : pick != NULL ? pick->price :
	    0;
	if (ledger_intent_spawn(pc->c->ledger, &r, &e) == -1)
		goto err;
	memset(&req, 0, sizeof(req));
	req.label = r.label;
	req.address = name;
	req.gpu = &gr;
	req.max_price = o->has_budget ? o->budget : pick != NULL ?
	    pick->price : MONEY_MAX;
	req.disk_gb = o->disk_gb;
	req.image = o->template_name;
	req.offer = pick;
	log_info("%s: spinning up %s on %s%s%s", name, gm->name, pc->pname,
	    pick != NULL ? " at $" : "", pick != NULL ? money_fmt(pick->price,
	    m1, sizeof(m1)) : "");
	if (p_spawn(pc, &req, &in, &e) == -1) {
		if (e.outcome_unknown) {
			(void)ledger_update(pc->c->ledger, &r, "spawn-unknown",
			    e.msg, &ge);
			gr_err_hint(&e, "run spinup again: it looks for label "
			    "%s before it rents anything", r.label);
		} else {
			r.state = INST_TERMINATED;
			free(r.last_error);
			r.last_error = xstrdup(e.msg);
			(void)ledger_update(pc->c->ledger, &r, "spawn-failed",
			    e.msg, &ge);
		}
		goto err;
	}
	row_apply_seen(&r, &in, clock_now_ms());
	/*
	 * IDLE -> PENDING: the provider accepted the request.  Even when it
	 * answers RUNNING at once (local), RUNNING is recorded by
	 * spinup_wait as its own event: the contract skips no state.
	 */
	r.state = INST_PENDING;
	if (ledger_update(pc->c->ledger, &r, "spawned", in.status, &e) == -1)
		goto err;
	if (o->has_budget && in.price > o->budget) {
		bool	 gone;

		(void)exec_terminate_row(pc->c, &r, "billed above --budget",
		    pc->to->teardown_ms, &gone, &ge);
		gr_err_set(&e, GR_E_INVALID_SPEC, "spinup '%s' on %s: billed "
		    "$%s/h, above --budget $%s/h; it was terminated", name,
		    pc->pname, money_fmt(in.price, m1, sizeof(m1)),
		    money_fmt(o->budget, m2, sizeof(m2)));
		goto err;
	}
	if (spinup_wait(pc, &r, &in, &e) == -1)
		goto err;
print:
	if (o->json) {
		json_t	*j = contract_json(pc->pname, &in, &r);

		json_object_set_new(j, "name", json_string(name));
		json_out(j);
	} else
		contract_text(pc->pname, &in, &r);
	goto out;
err:
	rc = fail(&e);
out:
	offer_list_release(&ol);
	instance_release(&in);
	ledger_inst_release(&r);
	return rc;
}

/* teardown --------------------------------------------------------------- */

/* Terminate one tracked row and wait for the end of billing. */
static int
teardown_row(struct pctx *pc, struct ledger_inst *r, bool *confirmed,
    struct gr_err *e)
{
	struct instance_list	 l = { NULL, 0 };
	size_t			 i;
	bool			 gone = false;

	*confirmed = false;
	if (r->state == INST_TERMINATED) {
		*confirmed = true;
		return 0;
	}
	if (r->provider_id == NULL) {
		/* its spawn's outcome was lost: find it by label first */
		if (p_list(pc, &l, e) == -1)
			return -1;
		for (i = 0; i < l.n; i++)
			if (l.v[i].label != NULL &&
			    strcmp(l.v[i].label, r->label) == 0 &&
			    l.v[i].state != INST_TERMINATED)
				r->provider_id = xstrdup(l.v[i].id);
		instance_list_release(&l);
		if (r->provider_id == NULL) {
			r->state = INST_TERMINATED;
			*confirmed = true;
			return ledger_update(pc->c->ledger, r, "spawn-lost",
			    "not at the provider; nothing to tear down", e);
		}
	}
	if (exec_terminate_row(pc->c, r, "teardown", pc->to->teardown_ms,
	    &gone, e) == -1)
		return -1;
	if (!gone && still_up(pc, r->provider_id)) {
		/*
		 * Accepted (or answered NOT_FOUND, which counts as done), yet
		 * still PENDING or RUNNING a whole teardown timeout later:
		 * the request was lost.  Ask once more; it is idempotent.
		 */
		log_info("%s: %s on %s still runs; asking again", r->group,
		    r->provider_id, pc->pname);
		if (exec_terminate_row(pc->c, r, "teardown, asked again",
		    pc->to->teardown_ms, &gone, e) == -1)
			return -1;
	}
	*confirmed = gone;
	return 0;
}

static int
sub_teardown(struct pctx *pc)
{
	const char		*ref = pc->o->instance;
	struct ledger_inst	 r;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*in;
	struct gr_err		 e;
	bool			 confirmed, was_terminated;
	int			 rc = GR_EXIT_OK, g;

	if (ref == NULL) {
		fprintf(stderr, "gpureconcile: teardown needs --instance ID\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	memset(&r, 0, sizeof(r));
	if (find_row(pc, ref, &r)) {
		was_terminated = r.state == INST_TERMINATED;
		if (!was_terminated && !pc->o->yes &&
		    !ask("Terminate %s on %s?", r.provider_id != NULL ?
		    r.provider_id : r.label, pc->pname)) {
			gr_err_set(&e, GR_E_USAGE, "teardown cancelled");
			rc = fail(&e);
			goto out;
		}
		if (teardown_row(pc, &r, &confirmed, &e) == -1) {
			rc = fail(&e);
			goto out;
		}
		if (!confirmed) {
			fprintf(stderr, "%s\n", msg_unconfirmed);
			gr_err_set(&e, GR_E_UNCONFIRMED, "teardown %s on %s: "
			    "termination requested but not confirmed within "
			    "%llds; it stays STOPPING and is checked again "
			    "next time", r.provider_id, pc->pname,
			    (long long)pc->to->teardown_ms / 1000);
			rc = fail(&e);
			goto out;
		}
		if (pc->o->json) {
			json_t *j = json_object();

			json_object_set_new(j, "instance_id",
			    str_or_null(r.provider_id));
			json_object_set_new(j, "provider",
			    json_string(pc->pname));
			json_object_set_new(j, "status",
			    json_string("TERMINATED"));
			json_object_set_new(j, "changed",
			    json_boolean(!was_terminated));
			json_object_set_new(j, "billing_stopped",
			    json_true());
			json_out(j);
		} else if (was_terminated)
			printf("%s on %s is already terminated; nothing to "
			    "do\n", r.provider_id ? r.provider_id : ref,
			    pc->pname);
		else
			printf("terminated %s on %s; billing stopped\n",
			    r.provider_id ? r.provider_id : ref, pc->pname);
		goto out;
	}
	/* Not in the ledger: ours by label (an orphan), or not ours. */
	if (p_list(pc, &l, &e) == -1) {
		rc = fail(&e);
		goto out;
	}
	in = instance_list_find(&l, ref);
	if (in == NULL || in->state == INST_TERMINATED) {
		gr_err_set(&e, GR_E_NOT_FOUND, "teardown: no instance '%s' at "
		    "%s, and none by that name in the ledger", ref, pc->pname);
		gr_err_hint(&e, "'gpureconcile provider %s list' shows what "
		    "this ledger has there", pc->pname);
		rc = fail(&e);
		goto out;
	}
	if (!is_ours(pc, in->label)) {
		gr_err_set(&e, GR_E_USAGE, "teardown: instance '%s' at %s was "
		    "not created by this ledger (label %s); gpureconcile only "
		    "tears down what it created", ref, pc->pname,
		    in->label != NULL ? in->label : "none");
		gr_err_hint(&e, "use the provider's own console for it");
		rc = fail(&e);
		goto out;
	}
	if (!pc->o->yes && !ask("Terminate orphan %s on %s?", ref, pc->pname)) {
		gr_err_set(&e, GR_E_USAGE, "teardown cancelled");
		rc = fail(&e);
		goto out;
	}
	if (provider_terminate(pc->p, ref, &e) == -1) {
		rc = fail(&e);
		goto out;
	}
	{
		int64_t	 until = clock_now_ms() + pc->to->teardown_ms;

		while ((g = gone_now(pc, ref)) != 1 && clock_now_ms() < until)
			clock_sleep_ms(1000);
	}
	if (g != 1) {
		fprintf(stderr, "%s\n", msg_unconfirmed);
		gr_err_set(&e, GR_E_UNCONFIRMED, "teardown %s on %s: not "
		    "confirmed gone", ref, pc->pname);
		rc = fail(&e);
		goto out;
	}
	printf("terminated orphan %s on %s; billing stopped\n", ref,
	    pc->pname);
out:
	instance_list_release(&l);
	ledger_inst_release(&r);
	return rc;
}

static int
sub_teardown_all(struct pctx *pc)
{
	struct ledger_inst	*rows = NULL;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e, le;
	size_t			 n = 0, i, nwanted = 0, nfleet = 0, nok = 0;
	size_t			 nunconfirmed = 0, nfailed = 0;
	enum gr_code		 worst = GR_OK;
	json_t			*arr = json_array();
	bool			*orphan;
	int			 rc;

	gr_err_clear(&e);
	if (ledger_list(pc->c->ledger, false, &rows, &n, &e) == -1 ||
	    p_list(pc, &l, &e) == -1) {
		ledger_insts_free(rows, n);
		json_decref(arr);
		return fail(&e);
	}
	for (i = 0; i < n; i++)
		if (strcmp(rows[i].provider, pc->pname) == 0) {
			nwanted++;
			if (rows[i].kind == LEDGER_KIND_FLEET)
				nfleet++;
		}
	/* decided before the rows are torn down, which changes them */
	orphan = xcalloc(l.n + 1, sizeof(*orphan));
	for (i = 0; i < l.n; i++)
		if ((orphan[i] = is_orphan(pc, &l.v[i])))
			nwanted++;
	if (nwanted == 0) {
		if (pc->o->json)
			json_out(arr);
		else {
			json_decref(arr);
			printf("nothing of this ledger's at %s\n", pc->pname);
		}
		free(orphan);
		ledger_insts_free(rows, n);
		instance_list_release(&l);
		return 0;
	}
	if (!pc->o->yes && !ask("Terminate the %zu instance%s this ledger "
	    "created at %s?", nwanted, nwanted == 1 ? "" : "s", pc->pname)) {
		free(orphan);
		ledger_insts_free(rows, n);
		instance_list_release(&l);
		json_decref(arr);
		gr_err_set(&e, GR_E_USAGE, "teardown-all cancelled");
		return fail(&e);
	}
	for (i = 0; i < n; i++) {
		struct ledger_inst	*r = &rows[i];
		bool			 confirmed = false;
		json_t			*o;

		if (strcmp(r->provider, pc->pname) != 0)
			continue;
		gr_err_clear(&le);
		if (teardown_row(pc, r, &confirmed, &le) == -1) {
			nfailed++;
			if (worst == GR_OK)
				worst = le.code;
			log_warnx("%s", le.msg);
		} else if (confirmed)
			nok++;
		else
			nunconfirmed++;
		o = json_object();
		json_object_set_new(o, "instance_id",
		    str_or_null(r->provider_id));
		json_object_set_new(o, "billing_stopped",
		    json_boolean(confirmed));
		json_array_append_new(arr, o);
	}
	for (i = 0; i < l.n; i++) {
		int			 g;
		int64_t			 until;

		if (!orphan[i])
			continue;
		log_info("%s: terminating orphan %s", pc->pname, l.v[i].id);
		if (provider_terminate(pc->p, l.v[i].id, &le) == -1) {
			nfailed++;
			if (worst == GR_OK)
				worst = le.code;
			continue;
		}
		until = clock_now_ms() + pc->to->teardown_ms;
		while ((g = gone_now(pc, l.v[i].id)) != 1 &&
		    clock_now_ms() < until)
			clock_sleep_ms(1000);
		if (g == 1)
			nok++;
		else
			nunconfirmed++;
	}
	if (pc->o->json)
		json_out(arr);
	else {
		json_decref(arr);
		printf("%zu of %zu terminated with billing stopped at %s\n",
		    nok, nwanted, pc->pname);
	}
	if (nfleet > 0)
		fprintf(stderr, "note: %zu of them belonged to fleets; the next "
		    "apply spawns them again unless their files change\n",
		    nfleet);
	free(orphan);
	ledger_insts_free(rows, n);
	instance_list_release(&l);
	if (nfailed > 0) {
		gr_err_set(&e, worst, "teardown-all at %s: %zu of %zu failed",
		    pc->pname, nfailed, nwanted);
		rc = fail(&e);
		if (nunconfirmed > 0)
			fprintf(stderr, "%s\n", msg_unconfirmed);
		return rc;
	}
	if (nunconfirmed > 0) {
		fprintf(stderr, "%s\n", msg_unconfirmed);
		gr_err_set(&e, GR_E_UNCONFIRMED, "teardown-all at %s: %zu "
		    "termination%s not confirmed yet", pc->pname, nunconfirmed,
		    nunconfirmed == 1 ? "" : "s");
		return fail(&e);
	}
	return 0;
}

/* list, offers, info ----------------------------------------------------- */

static int
sub_list(struct pctx *pc)
{
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	json_t			*arr = json_array();
	size_t			 i, shown = 0;
	char			 m[32], t[32];

	gr_err_clear(&e);
	if (p_list(pc, &l, &e) == -1) {
		json_decref(arr);
		return fail(&e);
	}
	if (!pc->o->json)
		printf("%-20s %-11s %-12s %9s  %-20s %s\n", "INSTANCE",
		    "STATUS", "GPU", "$/H", "STARTED", "NAME");
	for (i = 0; i < l.n; i++) {
		const struct instance	*in = &l.v[i];
		struct ledger_inst	 r;
		bool			 ours = is_ours(pc, in->label);
		bool			 has_row;

		if (in->state == INST_TERMINATED || (!ours && !pc->o->all))
			continue;
		memset(&r, 0, sizeof(r));
		has_row = pc->c->ledger != NULL &&
		    ledger_find_provider_id(pc->c->ledger, pc->pname, in->id,
		    &r, &e) == 0;
		shown++;
		if (pc->o->json) {
			json_t *o = contract_json(pc->pname, in, has_row ?
			    &r : NULL);

			json_object_set_new(o, "ours", json_boolean(ours));
			json_array_append_new(arr, o);
		} else {
			char	*name = !has_row ? xstrdup(ours ? "(orphan)" :
			    "(not ours)") : r.kind == LEDGER_KIND_ADHOC ?
			    xstrdup(r.group) : xasprintf("%s/%s/%d", r.fleet,
			    r.group, r.slot);

			printf("%-20s %-11s %-12s %9s  %-20s %s\n", in->id,
			    inst_state_name(in->state), in->gpu ? in->gpu :
			    "-", money_fmt(in->price, m, sizeof(m)),
			    in->created_ms > 0 ? time_iso8601(in->created_ms,
			    t, sizeof(t)) : "-", name);
			free(name);
		}
		ledger_inst_release(&r);
	}
	if (pc->o->json)
		json_out(arr);
	else {
		json_decref(arr);
		if (shown == 0)
			printf("(no instances%s)\n", pc->o->all ? "" :
			    " of this ledger; --all shows others'");
	}
	instance_list_release(&l);
	return 0;
}

static int
sub_offers(struct pctx *pc)
{
	const struct gpu_model	*gm;
	struct gpu_req		 gr;
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 e;
	json_t			*arr;
	size_t			 i;
	char			 m[32];

	if (pc->o->gpu == NULL) {
		fprintf(stderr, "gpureconcile: offers needs --gpu TYPE\n");
		return GR_EXIT_USAGE;
	}
	gm = catalog_find(pc->o->gpu);
	gr_err_clear(&e);
	if (gm == NULL) {
		gr_err_set(&e, GR_E_USAGE, "offers: unknown gpu type '%s'",
		    pc->o->gpu);
		gr_err_hint(&e, "see the GPU names in the README");
		return fail(&e);
	}
	gr.type = (char *)gm->name;
	gr.count = strcmp(gm->name, GPU_CPU) == 0 ? 0 : 1;
	gr.min_vram_gb = 0;
	if (p_offers(pc, &gr, &ol, &e) == -1)
		return fail(&e);
	if (pc->o->json) {
		arr = json_array();
		for (i = 0; i < ol.n; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "offer_id",
			    json_string(ol.v[i].id));
			json_object_set_new(o, "gpu", json_string(ol.v[i].gpu));
			json_object_set_new(o, "gpu_count",
			    json_integer(ol.v[i].gpu_count));
			json_object_set_new(o, "vram_gb",
			    json_integer(ol.v[i].vram_gb));
			json_object_set_new(o, "cost_per_hour",
			    json_real(money_to_double(ol.v[i].price)));
			json_object_set_new(o, "region",
			    str_or_null(ol.v[i].region));
			json_object_set_new(o, "available",
			    json_integer(ol.v[i].available));
			json_object_set_new(o, "spot",
			    json_boolean(ol.v[i].spot));
			json_array_append_new(arr, o);
		}
		json_out(arr);
	} else {
		printf("%-24s %-12s %5s %7s %9s  %-12s %s\n", "OFFER", "GPU",
		    "GPUS", "VRAM", "$/H", "REGION", "AVAILABLE");
		for (i = 0; i < ol.n; i++)
			printf("%-24s %-12s %5d %5dGB %9s  %-12s %d\n",
			    ol.v[i].id, ol.v[i].gpu, ol.v[i].gpu_count,
			    ol.v[i].vram_gb, money_fmt(ol.v[i].price, m,
			    sizeof(m)), ol.v[i].region ? ol.v[i].region : "-",
			    ol.v[i].available);
		if (ol.n == 0)
			printf("(no %s offers at %s now)\n", gm->name,
			    pc->pname);
	}
	offer_list_release(&ol);
	return 0;
}

static int
sub_info(struct pctx *pc)
{
	const struct provider_timeouts	*t = pc->to;
	struct heartbeat		 hb;
	struct gr_err			 e;
	unsigned int			 b;
	char				 d[32];
	bool				 up;
	json_t				*j, *caps, *to;

	gr_err_clear(&e);
	up = provider_startup(pc->p, &e) == 0 &&
	    provider_heartbeat(pc->p, &hb, &e) == 0;
	if (pc->o->json) {
		j = json_object();
		json_object_set_new(j, "provider", json_string(pc->pname));
		caps = json_object();
		for (b = 0; b < PROV_CAP__COUNT; b++)
			json_object_set_new(caps, provider_cap_name(b),
			    json_boolean(provider_has_cap(pc->p, 1u << b)));
		json_object_set_new(j, "capabilities", caps);
		to = json_object();
		json_object_set_new(to, "spinup_s",
		    json_integer(t->spinup_ms / 1000));
		json_object_set_new(to, "pending_report_s",
		    json_integer(t->pending_report_ms / 1000));
		json_object_set_new(to, "teardown_s",
		    json_integer(t->teardown_ms / 1000));
		json_object_set_new(to, "ssh_connect_s",
		    json_integer(t->ssh_connect_ms / 1000));
		json_object_set_new(to, "ssh_retries",
		    json_integer(t->ssh_retries));
		json_object_set_new(to, "pull_s",
		    json_integer(t->pull_ms / 1000));
		json_object_set_new(to, "grace_s",
		    json_integer(t->grace_ms / 1000));
		json_object_set_new(j, "timeouts", to);
		json_object_set_new(j, "credentials",
		    str_or_null(pc->p->cred_source));
		json_object_set_new(j, "healthy", json_boolean(up));
		json_object_set_new(j, "health", json_string(up ? hb.detail :
		    e.msg));
		json_out(j);
	} else {
		printf("provider:     %s\ncapabilities:", pc->pname);
		for (b = 0; b < PROV_CAP__COUNT; b++)
			printf("%s%s%s", b % 4 == 0 ? "\n  " : "  ",
			    provider_has_cap(pc->p, 1u << b) ? "+" : "-",
			    provider_cap_name(b));
		printf("\ntimeouts:     spinup %s", duration_fmt(t->spinup_ms /
		    1000, d, sizeof(d)));
		printf(" (still-pending report every %s)", duration_fmt(
		    t->pending_report_ms / 1000, d, sizeof(d)));
		printf(", teardown %s", duration_fmt(t->teardown_ms / 1000, d,
		    sizeof(d)));
		printf(", ssh connect %s x%d", duration_fmt(t->ssh_connect_ms /
		    1000, d, sizeof(d)), t->ssh_retries);
		printf(", pull %s", duration_fmt(t->pull_ms / 1000, d,
		    sizeof(d)));
		printf(", grace %s\n", duration_fmt(t->grace_ms / 1000, d,
		    sizeof(d)));
		printf("credentials:  %s\n", pc->p->cred_source != NULL ?
		    pc->p->cred_source : "none needed");
		printf("health:       %s: %s\n", up ? "ok" : "failing",
		    up ? hb.detail : e.msg);
	}
	provider_shutdown(pc->p);
	return up ? 0 : gr_code_exit(e.code);
}

/* ssh-info, pull --------------------------------------------------------- */

/* The live instance an --instance names; fills row when tracked. */
static int
resolve_live(struct pctx *pc, const char *ref, struct ledger_inst *r,
    bool *has_row, struct instance *in, struct gr_err *e)
{
	const char	*id = ref;

	*has_row = find_row(pc, ref, r);
	if (*has_row && r->state == INST_TERMINATED) {
		gr_err_set(e, GR_E_NOT_FOUND, "Instance %s is terminated. "
		    "Nothing to download.", r->provider_id != NULL ?
		    r->provider_id : ref);
		return -1;
	}
	if (*has_row && r->provider_id != NULL)
		id = r->provider_id;
	if (provider_get(pc->p, id, in, e) == -1 ||
	    in->state == INST_TERMINATED) {
		if (e->code == GR_E_NOT_FOUND || in->state == INST_TERMINATED)
			gr_err_set(e, GR_E_NOT_FOUND, "Instance %s is "
			    "terminated. Nothing to download.", id);
		return -1;
	}
	if (!*has_row && !is_ours(pc, in->label)) {
		gr_err_set(e, GR_E_USAGE, "instance %s at %s was not created "
		    "by this ledger", id, pc->pname);
		return -1;
	}
	return 0;
}

static char *
ssh_key_path(struct pctx *pc)
{
	const struct provider_settings	*ps;
	const char			*k, *home = getenv("HOME");
	char				*p;

	ps = config_provider(pc->c->cfg, pc->pname);
	k = kv_get(ps->options, ps->noptions, "ssh_key");
	if (k != NULL)
		return xstrdup(k);
	if (home == NULL)
		return NULL;
	p = xasprintf("%s/.ssh/id_ed25519", home);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	p = xasprintf("%s/.ssh/id_rsa", home);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return NULL;
}

/* gpureconcile's own known_hosts file, in the state dir. */
static char *
known_hosts_path(struct pctx *pc)
{
	return xasprintf("%s/known_hosts", pc->c->state_dir);
}

/*
 * The host key's fingerprint goes in the ledger row too, with an event,
 * when it is new or changed there (after ssh-forget).  ssh-info and pull
 * do not hold the writer lock; they take it for this one write, and when
 * an apply holds it the ledger waits for the next connection (the
 * known_hosts file already has the key).
 */
static void
record_hostkey(struct pctx *pc, struct ledger_inst *r, bool has_row,
    const char *fp)
{
	struct ledger_lock	*lk = NULL;
	struct ledger_inst	 now;
	struct gr_err		 e;
	char			*detail;

	if (!has_row || pc->c->ledger == NULL ||
	    (r->ssh_hostkey != NULL && strcmp(r->ssh_hostkey, fp) == 0))
		return;
	gr_err_clear(&e);
	if (ledger_lock_take(pc->c->state_dir, "recording an SSH host key",
	    &lk, &e) == -1) {
		log_debug("%s: host key %s not in the ledger yet: %s",
		    r->provider_id != NULL ? r->provider_id : "?", fp, e.msg);
		return;
	}
	/* the row as it is now, not as it was read before connecting */
	memset(&now, 0, sizeof(now));
	if (ledger_get(pc->c->ledger, r->uid, &now, &e) == 0 &&
	    (now.ssh_hostkey == NULL || strcmp(now.ssh_hostkey, fp) != 0)) {
		detail = now.ssh_hostkey == NULL ? xasprintf("host key %s "
		    "(first use)", fp) : xasprintf("host key %s (was %s)", fp,
		    now.ssh_hostkey);
		free(now.ssh_hostkey);
		now.ssh_hostkey = xstrdup(fp);
		if (ledger_update(pc->c->ledger, &now, "ssh-hostkey", detail,
		    &e) == -1)
			log_warnx("%s: could not record the host key in the "
			    "ledger: %s", now.provider_id != NULL ?
			    now.provider_id : "?", e.msg);
		free(detail);
	}
	ledger_inst_release(&now);
	ledger_lock_release(lk);
}

/* Connect to a live instance's sshd, verified and authenticated. */
static int
ssh_open(struct pctx *pc, const struct instance *in, const char *key,
    struct ssh_conn **conn, struct gr_err *e)
{
	struct ssh_target	 t;
	char			*known;
	int			 rc;

	*conn = NULL;
	if (in->ssh_host == NULL) {
		gr_err_set(e, GR_E_NOT_FOUND, "%s on %s has no SSH endpoint "
		    "yet", in->id, pc->pname);
		gr_err_hint(e, "wait until it is RUNNING, then try again");
		return -1;
	}
	if (mkdir_p(pc->c->state_dir, 0700) == -1) {
		gr_err_set(e, GR_E_IO, "state dir %s: %s", pc->c->state_dir,
		    strerror(errno));
		return -1;
	}
	known = known_hosts_path(pc);
	memset(&t, 0, sizeof(t));
	t.host = in->ssh_host;
	t.port = in->ssh_port > 0 ? in->ssh_port : 22;
	t.user = in->ssh_user != NULL ? in->ssh_user : "root";
	t.key_path = key;
	t.known_hosts = known;
	t.provider = pc->pname;
	t.instance_id = in->id;
	t.connect_timeout_ms = pc->to->ssh_connect_ms;
	t.retries = pc->to->ssh_retries;
	rc = ssh_connect(&t, conn, e);
	free(known);
	return rc;
}

/* The key for an instance: what its provider set up, else the config's. */
static char *
instance_key(struct pctx *pc, const struct instance *in)
{
	return in->ssh_key != NULL ? xstrdup(in->ssh_key) : ssh_key_path(pc);
}

static int
sub_ssh_info(struct pctx *pc)
{
	struct ledger_inst	 r;
	struct instance		 in;
	struct ssh_conn		*conn = NULL;
	struct gr_err		 e, ce;
	char			*key;
	bool			 has_row, checked = false;
	int			 rc = 0;

	if (pc->o->instance == NULL) {
		fprintf(stderr, "gpureconcile: ssh-info needs --instance ID\n");
		return GR_EXIT_USAGE;
	}
	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	gr_err_clear(&e);
	gr_err_clear(&ce);
	if (resolve_live(pc, pc->o->instance, &r, &has_row, &in, &e) == -1) {
		if (e.code == GR_E_NOT_FOUND)
			snprintf(e.msg, sizeof(e.msg), "Instance %s is "
			    "terminated. No SSH details.", pc->o->instance);
		rc = fail(&e);
		goto out;
	}
	key = instance_key(pc, &in);
	if (pc->o->check && in.ssh_host != NULL) {
		checked = true;
		if (ssh_open(pc, &in, key, &conn, &ce) == -1)
			rc = -1;
	}
	if (pc->o->json) {
		json_t *j = json_object();

		json_object_set_new(j, "instance_id", json_string(in.id));
		json_object_set_new(j, "provider", json_string(pc->pname));
		json_object_set_new(j, "ssh_host", str_or_null(in.ssh_host));
		json_object_set_new(j, "ssh_port", in.ssh_host != NULL ?
		    json_integer(in.ssh_port) : json_null());
		json_object_set_new(j, "ssh_user", str_or_null(in.ssh_user));
		json_object_set_new(j, "ssh_key", str_or_null(key));
		json_object_set_new(j, "files", str_or_null(in.files_root));
		if (checked) {
			json_object_set_new(j, "check", json_string(rc == 0 ?
			    "ok" : "failed"));
			json_object_set_new(j, "host_key", conn != NULL ?
			    json_string(ssh_conn_fingerprint(conn)) :
			    json_null());
			json_object_set_new(j, "host_key_new", json_boolean(
			    conn != NULL && ssh_conn_first_use(conn)));
			if (rc == -1)
				json_object_set_new(j, "error",
				    json_string(ce.msg));
		}
		json_out(j);
	} else if (in.ssh_host != NULL) {
		printf("host: %s\nport: %d\nuser: %s\nkey:  %s\n", in.ssh_host,
		    in.ssh_port, in.ssh_user != NULL ? in.ssh_user : "root",
		    key != NULL ? key : "(none found; set ssh_key in the "
		    "config)");
		printf("ssh -p %d %s@%s%s%s\n", in.ssh_port, in.ssh_user ?
		    in.ssh_user : "root", in.ssh_host, key ? " -i " : "",
		    key ? key : "");
		if (conn != NULL)
			printf("host key: %s (%s)\ncheck: ok: connected, host "
			    "key verified, authenticated as %s\n",
			    ssh_conn_fingerprint(conn),
			    ssh_conn_first_use(conn) ? "first use: recorded "
			    "in known_hosts" : "matches known_hosts",
			    in.ssh_user != NULL ? in.ssh_user : "root");
		else if (checked)
			printf("check: failed\n");
	} else {
		printf("%s has no SSH endpoint; its files are in %s\n", in.id,
		    in.files_root != NULL ? in.files_root : "(unknown)");
		if (pc->o->check) {
			gr_err_set(&ce, GR_E_UNSUPPORTED, "ssh-info --check: %s "
			    "on %s has no SSH endpoint", in.id, pc->pname);
			if (strcmp(pc->pname, "local") == 0)
				gr_err_hint(&ce, "set ssh: true in the local "
				    "provider's options for new instances");
			rc = -1;
		}
	}
	if (rc == -1)
		rc = fail(&ce);
	else if (conn != NULL)
		record_hostkey(pc, &r, has_row, ssh_conn_fingerprint(conn));
	ssh_close(conn);
	free(key);
out:
	instance_release(&in);
	ledger_inst_release(&r);
	return rc;
}

/* Forget an instance's recorded host key, to accept a rebuilt one. */
static int
sub_ssh_forget(struct pctx *pc)
{
	struct ledger_inst	 r;
	struct gr_err		 e;
	const char		*id = pc->o->instance;
	char			*known, old[64];
	int			 rc = 0;

	if (id == NULL) {
		fprintf(stderr, "gpureconcile: ssh-forget needs --instance "
		    "ID\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (find_row(pc, id, &r) && r.provider_id != NULL)
		id = r.provider_id;
	known = known_hosts_path(pc);
	if (ssh_known_forget(known, pc->pname, id, old, &e) == -1)
		rc = fail(&e);
	else if (pc->o->json) {
		json_t *j = json_object();

		json_object_set_new(j, "instance_id", json_string(id));
		json_object_set_new(j, "provider", json_string(pc->pname));
		json_object_set_new(j, "forgot", json_string(old));
		json_out(j);
	} else
		printf("forgot host key %s of %s instance %s; the next "
		    "connection records the key it finds\n", old, pc->pname,
		    id);
	free(known);
	ledger_inst_release(&r);
	return rc;
}

static int
sub_pull(struct pctx *pc)
{
	struct ledger_inst	 r;
	struct instance		 in;
	struct pull_stats	 st;
	struct gr_err		 e;
	bool			 has_row;
	int			 rc = 0;

	if (pc->o->instance == NULL || pc->o->remote == NULL ||
	    pc->o->local == NULL) {
		fprintf(stderr, "gpureconcile: pull needs --instance ID "
		    "--remote PATH --local PATH\n");
		return GR_EXIT_USAGE;
	}
	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	gr_err_clear(&e);
	if (resolve_live(pc, pc->o->instance, &r, &has_row, &in, &e) == -1) {
		rc = fail(&e);
		goto out;
	}
	if (in.ssh_host == NULL && in.files_root != NULL) {
		if (pull_local_tree(in.files_root, pc->o->remote, pc->o->local,
		    pc->to->pull_ms, &st, &e) == -1) {
			rc = fail(&e);
			goto out;
		}
	} else {
		struct ssh_conn	*conn;
		char		*key = instance_key(pc, &in);

		rc = ssh_open(pc, &in, key, &conn, &e);
		free(key);
		if (rc == 0) {
			record_hostkey(pc, &r, has_row,
			    ssh_conn_fingerprint(conn));
			rc = pull_ssh_tree(conn, pc->o->remote, pc->o->local,
			    pc->to->pull_ms, &st, &e);
			ssh_close(conn);
		}
		if (rc == -1) {
			rc = fail(&e);
			goto out;
		}
	}
	if (pc->o->json) {
		json_t *j = json_object();

		json_object_set_new(j, "instance_id", json_string(in.id));
		json_object_set_new(j, "files", json_integer((json_int_t)
		    st.files));
		json_object_set_new(j, "unchanged", json_integer((json_int_t)
		    st.skipped));
		json_object_set_new(j, "symlinks_skipped",
		    json_integer((json_int_t)st.symlinks_skipped));
		json_object_set_new(j, "refused", json_integer((json_int_t)
		    st.refused));
		json_object_set_new(j, "bytes", json_integer((json_int_t)
		    st.bytes));
		json_out(j);
	} else
		printf("pulled %zu file%s (%zu bytes) from %s into %s; %zu "
		    "unchanged, %zu symlink%s skipped%s\n", st.files,
		    st.files == 1 ? "" : "s", st.bytes, in.id, pc->o->local,
		    st.skipped, st.symlinks_skipped,
		    st.symlinks_skipped == 1 ? "" : "s", st.refused > 0 ?
		    ", some entries refused (see the warnings)" : "");
out:
	instance_release(&in);
	ledger_inst_release(&r);
	return rc;
}

static const struct psub subs[] = {
	{ "spinup",		true,	sub_spinup },
	{ "teardown",		true,	sub_teardown },
	{ "teardown-all",	true,	sub_teardown_all },
	{ "list",		false,	sub_list },
	{ "offers",		false,	sub_offers },
	{ "ssh-info",		false,	sub_ssh_info },
	{ "pull",		false,	sub_pull },
	{ "ssh-forget",		false,	sub_ssh_forget },
	{ "info",		false,	sub_info },
};

static int
cmd_provider_exec(struct ctx *c, int argc, char **argv)
{
	const struct psub	*ps = NULL;
	struct pctx		 pc;
	struct gr_err		 e;
	const char		*names[nitems(subs)], *s;
	size_t			 i;

	if (argc != 2) {
		fprintf(stderr, "usage: gpureconcile provider NAME COMMAND "
		    "[options] (hint: 'gpureconcile help provider')\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (provider_ops_find(argv[0]) == NULL) {
		const char	*pn[32];
		size_t		 n = 0;

		for (i = 0; i < provider_ops_count() && n < nitems(pn); i++)
			pn[n++] = provider_ops_at(i)->name;
		s = str_suggest(argv[0], pn, n);
		gr_err_set(&e, GR_E_USAGE, "unknown provider '%s'", argv[0]);
		if (s != NULL)
			gr_err_hint(&e, "did you mean '%s'?", s);
		return fail(&e);
	}
	for (i = 0; i < nitems(subs); i++) {
		names[i] = subs[i].name;
		if (strcmp(subs[i].name, argv[1]) == 0)
			ps = &subs[i];
	}
	if (ps == NULL) {
		s = str_suggest(argv[1], names, nitems(subs));
		gr_err_set(&e, GR_E_USAGE, "unknown provider command '%s'",
		    argv[1]);
		if (s != NULL)
			gr_err_hint(&e, "did you mean '%s'?", s);
		else
			gr_err_hint(&e, "see 'gpureconcile help provider'");
		return fail(&e);
	}
	if (ps->mutates) {
		char	*what = xasprintf("provider %s %s", argv[0], argv[1]);
		int	 rc = ctx_lock(c, what, &e);

		free(what);
		if (rc == -1)
			return fail(&e);
		ledger_close(c->ledger);
		c->ledger = NULL;
		if (ctx_open_ledger(c, true, &e) == -1)
			return fail(&e);
	}
	memset(&pc, 0, sizeof(pc));
	pc.c = c;
	pc.o = c->opts;
	pc.pname = argv[0];
	pc.sub = argv[1];
	pc.to = &config_provider(c->cfg, argv[0])->timeouts;
	if (ctx_provider(c, argv[0], &pc.p, &e) == -1)
		return fail(&e);
	return ps->fn(&pc);
}

const struct cmd_entry cmd_provider_entry = {
	.name = "provider",
	.usage = "NAME COMMAND [options]",
	.summary = "drive one provider by hand (the adapter contract)",
	.help =
	    "The same commands for every provider (local, fake, ...):\n"
	    "\n"
	    "  spinup --gpu TYPE --disk GB --template NAME [--budget $/h] "
	    "[--name NAME]\n"
	    "      Rent one ad-hoc instance (cheapest offer, at most --budget),"
	    " track it in\n"
	    "      the ledger under NAME (default \"adhoc\"), wait until it is "
	    "RUNNING and print\n"
	    "      instance_id, provider, gpu, ssh_host, ssh_port, "
	    "cost_per_hour, status,\n"
	    "      started_at.  If NAME is already running, print it and rent "
	    "nothing.  On a\n"
	    "      terminal it shows the price and asks, unless --yes.  "
	    "--template is the\n"
	    "      image to run.  On the spinup timeout the allocation is "
	    "cancelled.\n"
	    "  teardown --instance ID\n"
	    "      Terminate one instance (a provider id or an ad-hoc name) "
	    "and wait until\n"
	    "      the provider confirms it gone.  Already terminated: exit 0."
	    "  Not\n"
	    "      confirmed within the teardown timeout: it says so, stays "
	    "STOPPING and\n"
	    "      exits 75.  Refuses instances this ledger did not create.\n"
	    "  teardown-all\n"
	    "      Terminate every instance THIS LEDGER created at the "
	    "provider (fleet and\n"
	    "      ad-hoc ones, and orphans carrying its label).  It never "
	    "touches an instance\n"
	    "      it did not create, even in the same account.\n"
	    "  list [--all]      this ledger's instances there (--all: "
	    "everyone's)\n"
	    "  offers --gpu TYPE what can be rented now, cheapest first\n"
	    "  ssh-info --instance ID [--check]\n"
	    "      host, port, user and key (the key: the provider's ssh_key "
	    "setting, else\n"
	    "      ~/.ssh/id_ed25519 or id_rsa; local's own with ssh: true); "
	    "local instances\n"
	    "      without sshd show their files' directory instead.  "
	    "--check connects\n"
	    "      (10 s connect timeout, 3 retries), verifies the host key "
	    "against the\n"
	    "      state dir's known_hosts (the first connection records it) "
	    "and\n"
	    "      authenticates, printing the key's SHA256 fingerprint.\n"
	    "  ssh-forget --instance ID\n"
	    "      Forget the recorded host key of an instance that was "
	    "legitimately\n"
	    "      rebuilt; the next connection records the new one.\n"
	    "  pull --instance ID --remote PATH --local PATH\n"
	    "      Download a file or a tree.  Nothing is written outside "
	    "--local, '..' and\n"
	    "      symlinks are refused or skipped, files land under a "
	    "temporary name and\n"
	    "      are renamed when complete, identical files are skipped "
	    "(re-run to\n"
	    "      resume).  Over SFTP for instances with SSH: a changed host "
	    "key aborts\n"
	    "      before anything is read; files identical in size and "
	    "mtime are skipped.\n"
	    "  info              capabilities, timeouts, credentials, health\n"
	    "\n"
	    "Every command takes --json.  Mutating ones hold the ledger "
	    "lock.\n",
	.flags = CMD_READS_LEDGER,
	.exec = cmd_provider_exec,
};
