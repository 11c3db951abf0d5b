/*
 * rectest.h: a harness for reconciler tests: a state dir, a config, a
 * fleet directory and one ctx kept across apply runs (so the in-process
 * fake cloud keeps its state), on the virtual clock.
 */
#ifndef GR_RECTEST_H
#define GR_RECTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reconciler/reconciler.h"
#include "testlib.h"

struct env {
	char		*dir;		/* state dir */
	char		*fleetdir;
	char		*cfgpath;
	const char	*paths[1];
	struct options	 o;
	struct ctx	 c;
	struct provider	*fake;
	struct apply_result res;
	struct gr_err	 e;
};

static int env_seq;

#define RECTEST_UNUSED __attribute__((unused))

static RECTEST_UNUSED void
env_open(struct env *v, const char *cfg)
{
	struct gr_err	 e;
	char		*base;

	memset(v, 0, sizeof(*v));
	base = xasprintf("%s/env%d", test_tmpdir(), env_seq++);
	v->dir = xasprintf("%s/state", base);
	v->fleetdir = xasprintf("%s/fleet", base);
	if (mkdir_p(v->fleetdir, 0755) == -1)
		bail_out("mkdir %s", v->fleetdir);
	v->cfgpath = test_write(base, "config.yaml", cfg != NULL ? cfg :
	    "providers:\n  fake: {}\n");
	free(base);
	v->paths[0] = v->fleetdir;
	v->o.state_dir = v->dir;
	v->o.config_path = v->cfgpath;
	v->o.fleet_paths = v->paths;
	v->o.nfleet_paths = 1;
	v->o.yes = true;
	gr_err_clear(&e);
	if (ctx_init(&v->c, &v->o, &e) == -1 ||
	    ctx_lock(&v->c, "test", &e) == -1 ||
	    ctx_open_ledger(&v->c, true, &e) == -1 ||
	    ctx_provider(&v->c, "fake", &v->fake, &e) == -1)
		bail_out("env_open: %s", e.msg);
}

static RECTEST_UNUSED void
env_close(struct env *v)
{
	ctx_release(&v->c);
	free(v->dir);
	free(v->fleetdir);
	free(v->cfgpath);
}

static RECTEST_UNUSED void
env_fleet(struct env *v, const char *name, const char *yaml)
{
	free(test_write(v->fleetdir, name, yaml));
}

static RECTEST_UNUSED void
env_unfleet(struct env *v, const char *name)
{
	char	*p = xasprintf("%s/%s", v->fleetdir, name);

	unlink(p);
	free(p);
}

/* Reload the fleet files and converge; 0 or -1 with v->e set. */
static RECTEST_UNUSED int
env_apply(struct env *v)
{
	struct apply_opts	 ao = { false, 0 };
	struct spec_diags	 d = { NULL, 0 };

	(void)d;
	gr_err_clear(&v->e);
	spec_free(v->c.spec);
	v->c.spec = NULL;
	if (ctx_load_spec(&v->c, &v->e) == -1)
		return -1;
	memset(&v->res, 0, sizeof(v->res));
	return apply_run(&v->c, &ao, &v->res, &v->e);
}

/* Build a plan as `plan` would; caller releases it. */
static RECTEST_UNUSED void
env_plan(struct env *v, struct plan *p)
{
	struct observation	 o;
	struct gr_err		 e;

	spec_free(v->c.spec);
	v->c.spec = NULL;
	if (ctx_load_spec(&v->c, &e) == -1)
		bail_out("env_plan: %s", e.msg);
	if (observe(&v->c, &o, &e) == -1)
		bail_out("env_plan: observe: %s", e.msg);
	plan_build(&v->c, &o, p, &e);
	observation_release(&o);
}

static RECTEST_UNUSED size_t
plan_count(const struct plan *p, enum action_kind k)
{
	size_t	 i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].kind == k)
			n++;
	return n;
}

/* Ledger rows in a state (all states with -1). */
static RECTEST_UNUSED size_t
env_rows(struct env *v, int state)
{
	struct ledger_inst	*rows;
	struct gr_err		 e;
	size_t			 n, i, k = 0;

	if (ledger_list(v->c.ledger, true, &rows, &n, &e) == -1)
		bail_out("ledger_list: %s", e.msg);
	for (i = 0; i < n; i++)
		if (state < 0 || (int)rows[i].state == state)
			k++;
	ledger_insts_free(rows, n);
	return k;
}

/* Instances the fake lists (ours and foreign). */
static RECTEST_UNUSED size_t
env_listed(struct env *v)
{
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	size_t			 n;

	if (provider_list(v->fake, &l, &e) == -1)
		bail_out("list: %s", e.msg);
	n = l.n;
	instance_list_release(&l);
	return n;
}

static RECTEST_UNUSED void
env_fault(struct env *v, enum prov_op op, enum gr_code code, int times,
    bool after_apply)
{
	struct fake_fault	 f;

	memset(&f, 0, sizeof(f));
	f.op = op;
	f.code = code;
	f.times = times;
	f.after_apply = after_apply;
	f.retry_after_ms = -1;
	fake_fault_add(v->fake, &f);
}

#endif
