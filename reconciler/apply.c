/*
 * apply.c: converge.  Repeats level-triggered passes (observe, plan,
 * execute) until the fleet matches its files, nothing is left that can
 * be done, or the timeouts of DESIGN.md section 5 run out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler.h"

static bool
confirm(const struct plan *p)
{
	char	 line[64];
	FILE	*tty;

	plan_print(p, stdout);
	fflush(stdout);
	tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return false;
	fprintf(tty, "Apply %zu change%s? [y/N] ", p->nchanges,
	    p->nchanges == 1 ? "" : "s");
	fflush(tty);
	if (fgets(line, sizeof(line), tty) == NULL)
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

/* The longest spinup + teardown of the providers in use, plus slack. */
static int64_t
default_deadline(struct ctx *c, const struct observation *o)
{
	int64_t	 spin = 0, tear = 0;
	size_t	 i;

	for (i = 0; i < o->nprovs; i++) {
		const struct provider_timeouts *t =
		    &config_provider(c->cfg, o->provs[i].name)->timeouts;

		if (t->spinup_ms > spin)
			spin = t->spinup_ms;
		if (t->teardown_ms > tear)
			tear = t->teardown_ms;
	}
	if (spin == 0) {
		struct provider_timeouts t;

		provider_timeouts_default(&t);
		spin = t.spinup_ms;
		tear = t.teardown_ms;
	}
	return spin + tear;
}

/* Why the pass cannot make progress on its blocked slots. */
static enum gr_code
blocked_code(struct ctx *c, const struct plan *p, char *why, size_t len)
{
	struct run_state	*rs = c->run;
	size_t			 i;

	why[0] = '\0';
	for (i = 0; i < rs->nblocked; i++) {
		snprintf(why, len, "provider '%s': %s", rs->blocked[i].key,
		    rs->blocked[i].value);
		return rs->blocked_code[i];
	}
	for (i = 0; i < rs->nslots; i++) {
		if (rs->slots[i].given_up) {
			snprintf(why, len, "%s", rs->slots[i].last.msg);
			return rs->slots[i].last.code;
		}
	}
	for (i = 0; i < p->n; i++) {
		if (p->v[i].kind == ACT_BLOCKED) {
			snprintf(why, len, "%s", p->v[i].reason);
			if (strstr(p->v[i].reason, "out of time") != NULL)
				return GR_E_TIMEOUT;
			return strstr(p->v[i].reason, "budget") != NULL ?
			    GR_E_BUDGET : GR_E_CAPACITY;
		}
	}
	return GR_OK;
}

static void
report_pending(const struct plan *p, int64_t now)
{
	char	 age[32];
	size_t	 i;

	for (i = 0; i < p->n; i++) {
		const struct action	*a = &p->v[i];
		char			*addr;

		if (a->kind != ACT_WAIT || a->uid == 0)
			continue;
		addr = action_address(a);
		log_info("%s: still waiting on %s: %s (%s)", addr, a->provider,
		    a->reason, age_fmt(now, age, sizeof(age)));
		free(addr);
	}
}

void
pass_release(struct pass *ps)
{
	if (ps == NULL)
		return;
	if (ps->planned)
		plan_release(&ps->p);
	if (ps->observed)
		observation_release(&ps->o);
	memset(ps, 0, sizeof(*ps));
}

int
pass_plan(struct ctx *c, struct pass *ps, struct gr_err *e)
{
	size_t	 i;

	memset(ps, 0, sizeof(*ps));
	/* offers are looked up once a pass (offers.c) */
	ctx_offers_flush(c);
	if (observe(c, &ps->o, e) == -1)
		return -1;
	ps->observed = true;
	plan_build(c, &ps->o, &ps->p, e);
	ps->planned = true;
	for (i = 0; i < ps->p.n; i++) {
		if (ps->p.v[i].kind == ACT_WAIT)
			ps->waiting++;
		else if (ps->p.v[i].kind == ACT_BLOCKED)
			ps->blocked++;
	}
	return 0;
}

void
pass_exec(struct ctx *c, struct pass *ps)
{
	size_t	 i;

	for (i = 0; i < ps->p.nwarnings; i++)
		log_warnx("%s", ps->p.warnings[i]);
	(void)exec_plan(c, &ps->p, &ps->res);
}

int
apply_run(struct ctx *c, const struct apply_opts *ao,
    struct apply_result *tally_out, struct gr_err *e)
{
	struct run_state	 rs;
	struct apply_result	 tally;
	struct pass		 ps;
	struct gr_err		 ue;
	int64_t			 start = clock_now_ms(), deadline = 0;
	int64_t			 hard_deadline = 0;
	int64_t			 last_report;
	enum gr_code		 code = GR_OK;
	char			 why[1024] = "";
	bool			 converged = false, first = true;
	size_t			 i;

	memset(&tally, 0, sizeof(tally));
	/* on the virtual clock (tests, the simulation) the same start gives
	 * the same jitter: no pid in the seed */
	run_state_init(&rs, (uint64_t)start ^ (clock_is_virtual() ? 0 :
	    (uint64_t)getpid()));
	c->run = &rs;
	last_report = start;
	for (;;) {
		if (pass_plan(c, &ps, e) == -1) {
			code = e->code;
			snprintf(why, sizeof(why), "%s", e->msg);
			break;
		}
		if (deadline == 0) {
			/*
			 * Past the deadline no new spawn starts, but what is
			 * pending still gets its own spinup timeout (and its
			 * allocation cleaned up), so a run never walks away
			 * from an allocation it made; the hard deadline bounds
			 * that wait.
			 */
			deadline = start + (ao->deadline_ms > 0 ?
			    ao->deadline_ms : default_deadline(c, &ps.o));
			if (deadline < start + 10 * 1000)
				deadline = start + 10 * 1000;
			hard_deadline = deadline + default_deadline(c, &ps.o);
		}
		if (clock_now_ms() >= deadline)
			rs.no_new_spawns = true;
		tally.passes++;
		if (first && ao->interactive && ps.p.nchanges > 0 &&
		    !confirm(&ps.p)) {
			pass_release(&ps);
			gr_err_set(e, GR_E_USAGE, "apply cancelled; nothing was "
			    "changed");
			if (tally_out != NULL)
				*tally_out = tally;
			c->run = NULL;
			run_state_release(&rs);
			return -1;
		}
		first = false;
		pass_exec(c, &ps);
		/* what was done, not what was decided: a failed spawn that is
		 * retried three times spawned nothing */
		tally.spawned += ps.res.spawned;
		tally.terminated += ps.res.terminated;
		tally.mutating_calls += ps.res.mutating_calls;
		if (ps.res.failed > 0 && ps.res.worst != GR_OK) {
			code = ps.res.worst;
		}
		if (ps.p.nchanges == 0 && ps.waiting == 0 &&
		    observation_unchecked(&ps.o, &ue)) {
			/*
			 * Tracked instances that could not be checked are
			 * not converged: try again while there is time if
			 * the provider may answer later, else say why.
			 */
			if (!gr_code_retryable(ue.code) ||
			    clock_now_ms() >= deadline) {
				code = ue.code;
				snprintf(why, sizeof(why), "%s", ue.msg);
				pass_release(&ps);
				break;
			}
			ps.waiting++;
		}
		if (ps.p.nchanges == 0 && ps.waiting == 0) {
			/* nothing left that this run can do */
			if (ps.blocked == 0 && ps.res.failed == 0) {
				converged = true;
				code = GR_OK;
			} else {
				enum gr_code bc = blocked_code(c, &ps.p, why,
				    sizeof(why));

				if (bc != GR_OK)
					code = bc;
				else if (code == GR_OK)
					code = GR_E_INTERNAL;
			}
			pass_release(&ps);
			break;
		}
		if (clock_now_ms() >= deadline) {
			bool	 stopping = false, allocs = false;

			for (i = 0; i < ps.p.n; i++) {
				if (ps.p.v[i].stopping_wait)
					stopping = true;
				else if (ps.p.v[i].pending_alloc ||
				    action_mutates(&ps.p.v[i]))
					allocs = true;
			}
			/*
			 * Past the deadline, stay only for allocations of
			 * ours still pending (each gets its own spinup
			 * timeout and cleanup), up to the hard deadline.
			 */
			if (allocs && clock_now_ms() < hard_deadline)
				goto next_pass;
			if (stopping) {
				fprintf(stderr, "Could not confirm billing "
				    "stopped. Check your provider "
				    "dashboard.\n");
				code = GR_E_UNCONFIRMED;
				snprintf(why, sizeof(why), "termination not "
				    "confirmed before the teardown timeout; "
				    "the next run checks again");
			} else {
				code = GR_E_TIMEOUT;
				snprintf(why, sizeof(why), "not converged "
				    "within the spinup and teardown timeouts");
			}
			pass_release(&ps);
			break;
		}
next_pass:
		if (ps.p.nchanges == 0 || ps.res.done == 0) {
			int64_t	 now = clock_now_ms();
			const struct provider_timeouts *t =
			    &config_provider(c->cfg, "")->timeouts;

			if (now - last_report >= t->pending_report_ms) {
				report_pending(&ps.p, now - start);
				last_report = now;
			}
			clock_sleep_ms(c->cfg->poll_ms);
		}
		pass_release(&ps);
	}
	if (code != GR_OK && why[0] == '\0') {
		/* the last failure explains it */
		for (i = 0; i < rs.nslots; i++)
			if (rs.slots[i].last.code != GR_OK)
				snprintf(why, sizeof(why), "%s",
				    rs.slots[i].last.msg);
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "%s", gr_code_name(code));
	}
	tally.converged = converged;
	tally.ms = clock_now_ms() - start;
	if (tally_out != NULL)
		*tally_out = tally;
	c->run = NULL;
	run_state_release(&rs);
	if (code != GR_OK) {
		gr_err_set(e, code, "apply: %s", why);
		return -1;
	}
	return 0;
}
