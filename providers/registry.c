/*
 * registry.c: the static table of providers, looked up by name, and the
 * life cycle of a live provider.  Adding a provider is one line here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static const struct provider_ops *const providers[] = {
	&local_provider_ops,
	&fake_provider_ops,
	&runpod_provider_ops,
	&vastai_provider_ops,
	&lambda_provider_ops,
};

static const char *const cap_names[PROV_CAP__COUNT] = {
	"snapshots", "spot", "gpu", "multiRegion", "persistentVolumes",
	"warmVolumes", "hibernation", "costExplorer", "tailscaleNative",
	"idempotentSpawn", "customNetworking",
};

const char *
provider_cap_name(unsigned int bit)
{
	return bit < PROV_CAP__COUNT ? cap_names[bit] : "unknown";
}

const struct provider_ops *
provider_ops_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(providers); i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

size_t
provider_ops_count(void)
{
	return nitems(providers);
}

const struct provider_ops *
provider_ops_at(size_t i)
{
	return i < nitems(providers) ? providers[i] : NULL;
}

int
provider_registry_check(struct gr_err *e)
{
	size_t	 i, j;

	for (i = 0; i < nitems(providers); i++) {
		if (providers[i]->name == NULL || providers[i]->init == NULL ||
		    providers[i]->list == NULL ||
		    providers[i]->terminate == NULL) {
			gr_err_set(e, GR_E_INTERNAL, "provider #%zu lacks a "
			    "name, init, list or terminate", i);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(providers[i]->name,
			    providers[j]->name) == 0) {
				gr_err_set(e, GR_E_INTERNAL, "provider '%s' is "
				    "registered twice", providers[i]->name);
				return -1;
			}
		}
	}
	return 0;
}

void
provider_timeouts_default(struct provider_timeouts *t)
{
	t->spinup_ms = 5 * 60 * 1000;
	t->pending_report_ms = 60 * 1000;
	t->teardown_ms = 2 * 60 * 1000;
	t->ssh_connect_ms = 10 * 1000;
	t->ssh_retries = 3;
	t->pull_ms = 10 * 60 * 1000;
	t->grace_ms = 2 * 60 * 1000;
}

int
provider_new(const struct provider_conf *conf, struct provider **out,
    struct gr_err *e)
{
	const struct provider_ops	*ops;
	struct provider			*p;

	*out = NULL;
	ops = provider_ops_find(conf->name);
	if (ops == NULL) {
		gr_err_set(e, GR_E_CONFIG, "unknown provider '%s'",
		    conf->name);
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->ops = ops;
	p->name = xstrdup(conf->name);
	p->ledger_id = xstrdup(conf->ledger_id != NULL ? conf->ledger_id : "");
	p->timeouts = conf->timeouts;
	if (ops->init(p, conf, e) == -1) {
		snprintf(e->provider, sizeof(e->provider), "%s", p->name);
		free(p->cred_source);
		free(p->ledger_id);
		free(p->name);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void
provider_free(struct provider *p)
{
	if (p == NULL)
		return;
	if (p->ops->fini != NULL)
		p->ops->fini(p);
	free(p->cred_source);
	free(p->ledger_id);
	free(p->name);
	free(p);
}

bool
provider_has_cap(const struct provider *p, unsigned int cap)
{
	return (p->ops->caps & cap) != 0;
}
