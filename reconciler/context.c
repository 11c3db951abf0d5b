/*
 * context.c: the things a command needs (config, ledger, lock, spec,
 * providers), set up once according to the command's flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler.h"

int
ctx_init(struct ctx *c, struct options *o, struct gr_err *e)
{
	char	*cfgpath;
	bool	 explicit_cfg = o->config_path != NULL;
	int	 rc;

	memset(c, 0, sizeof(*c));
	c->opts = o;
	pthread_mutex_init(&c->mtx, NULL);
	cfgpath = explicit_cfg ? xstrdup(o->config_path) :
	    config_default_path();
	rc = config_load(cfgpath, explicit_cfg, &c->cfg, e);
	free(cfgpath);
	if (rc == -1)
		return -1;
	if (o->state_dir != NULL)
		c->state_dir = xstrdup(o->state_dir);
	else if (c->cfg->state_dir != NULL)
		c->state_dir = xstrdup(c->cfg->state_dir);
	else
		c->state_dir = state_dir_default();
	(void)config_provider(c->cfg, "");	/* initialise the defaults */
	return 0;
}

void
ctx_release(struct ctx *c)
{
	size_t	 i;

	for (i = 0; i < c->nprovs; i++)
		provider_free(c->provs[i]);
	free(c->provs);
	ctx_offers_free(c);
	spec_free(c->spec);
	ledger_close(c->ledger);
	ledger_lock_release(c->lock);
	config_free(c->cfg);
	free(c->state_dir);
	pthread_mutex_destroy(&c->mtx);
	memset(c, 0, sizeof(*c));
}

int
ctx_open_ledger(struct ctx *c, bool create, struct gr_err *e)
{
	return ledger_open(c->state_dir, create, &c->ledger, e);
}

int
ctx_lock(struct ctx *c, const char *what, struct gr_err *e)
{
	return ledger_lock_take(c->state_dir, what, &c->lock, e);
}

int
ctx_parse_spec(struct ctx *c, struct spec **out, struct spec_diags *diags,
    struct gr_err *e)
{
	struct spec_opts	 so;
	const char		**paths;
	const char		*names[32];
	size_t			 npaths, i;

	*out = NULL;
	if (c->opts->nfleet_paths > 0) {
		paths = c->opts->fleet_paths;
		npaths = c->opts->nfleet_paths;
	} else if (c->cfg->nfleet_paths > 0) {
		paths = (const char **)c->cfg->fleet_paths;
		npaths = c->cfg->nfleet_paths;
	} else {
		gr_err_set(e, GR_E_USAGE, "no fleet files given");
		gr_err_hint(e, "pass -f DIR (a directory of fleet files) or "
		    "set 'fleets:' in the config");
		return -1;
	}
	so.nproviders = 0;
	for (i = 0; i < provider_ops_count() && i < nitems(names); i++)
		names[so.nproviders++] = provider_ops_at(i)->name;
	so.providers = names;
	if (spec_load(paths, npaths, &so, out, diags) == -1) {
		gr_err_set(e, GR_E_SPEC, "fleet files have %zu error%s; "
		    "nothing was changed", diags->n, diags->n == 1 ? "" : "s");
		return -1;
	}
	if (c->opts->destroy) {
		/* Desired: nothing from these files (spec hashes stay, so
		 * nothing is mistaken for a replacement). */
		for (i = 0; i < (*out)->nfleets; i++)
			for (size_t g = 0; g < (*out)->fleets[i].ngroups; g++)
				(*out)->fleets[i].groups[g].count = 0;
	}
	return 0;
}

/*
 * Tell the ledger which commit each fleet file and spec root was read
 * from, for the audit trail.  One git run or two per path; only writers
 * pay it.  A file in no work tree records no commit.
 */
void
ctx_audit_spec(struct ctx *c)
{
	struct ledger_audit	*v;
	size_t			 n = 0, i, j;
	const char		*path;

	if (c->spec == NULL || c->ledger == NULL)
		return;
	v = xcalloc(c->spec->nfleets + c->spec->nroots, sizeof(*v));
	for (i = 0; i < c->spec->nroots + c->spec->nfleets; i++) {
		path = i < c->spec->nroots ? c->spec->roots[i] :
		    c->spec->fleets[i - c->spec->nroots].file;
		for (j = 0; j < n && strcmp(v[j].path, path) != 0; j++)
			;
		if (j < n)
			continue;	/* several fleets in one file */
		v[n].path = path;
		v[n].commit = git_describe(path);
		if (v[n].commit != NULL)
			log_debug("%s: read from commit %s", path,
			    v[n].commit);
		n++;
	}
	ledger_set_audit(c->ledger, v, n);
	for (i = 0; i < n; i++)
		free((char *)v[i].commit);
	free(v);
}

int
ctx_load_spec(struct ctx *c, struct gr_err *e)
{
	struct spec_diags	 diags = { NULL, 0 };
	int			 rc;

	rc = ctx_parse_spec(c, &c->spec, &diags, e);
	if (rc == -1)
		spec_diags_print(&diags, stderr);
	spec_diags_release(&diags);
	return rc;
}

int
ctx_provider(struct ctx *c, const char *name, struct provider **out,
    struct gr_err *e)
{
	const struct provider_settings	*ps;
	struct provider_conf		 conf;
	struct provider			*p;
	size_t				 i;
	int				 rc = 0;

	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < c->nprovs; i++) {
		if (strcmp(c->provs[i]->name, name) == 0) {
			*out = c->provs[i];
			goto out;
		}
	}
	ps = config_provider(c->cfg, name);
	memset(&conf, 0, sizeof(conf));
	conf.name = name;
	conf.state_dir = c->state_dir;
	conf.ledger_id = c->ledger != NULL ? ledger_id(c->ledger) : "";
	conf.options = ps->options;
	conf.noptions = ps->noptions;
	conf.timeouts = ps->timeouts;
	if (provider_new(&conf, &p, e) == -1) {
		/* name it once: most providers' messages already do */
		if (strstr(e->msg, name) == NULL)
			gr_err_prefix(e, "provider '%s'", name);
		rc = -1;
		goto out;
	}
	c->provs = xreallocarray(c->provs, c->nprovs + 1, sizeof(*c->provs));
	c->provs[c->nprovs++] = p;
	*out = p;
out:
	pthread_mutex_unlock(&c->mtx);
	return rc;
}

int
report_error(const struct gr_err *e)
{
	char	 msg[1024];

	fprintf(stderr, "gpureconcile: %s\n", gr_err_str(e, msg, sizeof(msg)));
	if (log_verbosity() >= LOG_LVL_DEBUG && e->file != NULL)
		fprintf(stderr, "gpureconcile: (%s at %s:%d)\n",
		    gr_code_name(e->code), e->file, e->line);
	return gr_code_exit(e->code);
}
