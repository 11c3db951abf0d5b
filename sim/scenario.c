/*
 * scenario.c: what the simulated cloud holds before the first request:
 * API keys, each provider's catalog (GPU type, count, VRAM, price,
 * region, capacity), boot delays, rate limits and fault rules.
 *
 * A scenario is a JSON file (format in sim/README.md), read by main.c.
 * Anything it leaves out keeps the default below, so an empty object is
 * the default cloud.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

/* ---- defaults ---- */

struct dsku {
	const char	*gpu;		/* canonical catalog name */
	int		 count;
	const char	*price;
	const char	*storage;
	const char	*min_bid;
	const char	*region;
	const char	*geo;		/* vast */
	const char	*cloud;		/* runpod */
	int		 capacity;
};

static const struct dsku vast_default[] = {
	{ "RTX_4090", 1, "0.40", "0.02", "0.25", "US", "California, US",
	  NULL, 4 },
	{ "RTX_4090", 1, "0.35", "0.02", "0.20", "CA", "Quebec, CA", NULL,
	  2 },
	{ "RTX_3090", 1, "0.22", "0.01", "0.12", "US", "Texas, US", NULL,
	  4 },
	{ "A100_80GB", 1, "1.10", "0.03", "0.70", "US", "Oregon, US", NULL,
	  2 },
	{ "H100_SXM", 1, "2.20", "0.05", "1.40", "US", "Virginia, US",
	  NULL, 2 },
	{ "H100_SXM", 8, "17.00", "0.30", "11.00", "SE", "Stockholm, SE",
	  NULL, 1 },
};

/* runpod prices are per GPU-hour; capacity counts GPUs */
static const struct dsku runpod_default[] = {
	{ "RTX_4090", 8, "0.69", "0.01", "0.35", "US-TX-3", NULL, "SECURE",
	  8 },
	{ "RTX_4090", 4, "0.34", "0.01", "0.20", "EU-RO-1", NULL,
	  "COMMUNITY", 4 },
	{ "A100_80GB", 8, "1.64", "0.01", "0.82", "US-KS-2", NULL, "SECURE",
	  8 },
	{ "H100_SXM", 8, "2.69", "0.01", "1.35", "US-GA-1", NULL, "SECURE",
	  8 },
};

static const struct dsku lambda_default[] = {
	{ "A10", 1, "0.75", NULL, NULL, "us-east-1", NULL, NULL, 2 },
	{ "A10", 1, "0.75", NULL, NULL, "us-west-1", NULL, NULL, 1 },
	{ "A100_40GB", 1, "1.29", NULL, NULL, "us-west-2", NULL, NULL, 2 },
	{ "H100_PCIE", 1, "2.49", NULL, NULL, "us-west-3", NULL, NULL, 1 },
	{ "H100_SXM", 8, "23.92", NULL, NULL, "us-east-3", NULL, NULL, 1 },
	{ "GH200", 1, "1.49", NULL, NULL, "us-east-3", NULL, NULL, 0 },
};

static const char *const default_keys[SIM_PROV__COUNT] = {
	"sim-vast-key", "sim-runpod-key", "sim-lambda-key"
};

static const struct sim_delays default_delays[SIM_PROV__COUNT] = {
	/* provision, start, stop, terminate (virtual ms) */
	{ 5000, 20000, 2000, 0 },
	{ 5000, 15000, 3000, 0 },
	{ 30000, 60000, 0, 10000 },
};

/* PROVIDER-APIS.md 1.4 (vast x-rate-limit) and 3.2 (lambda pacing). */
struct drl {
	const char	*endpoint;
	int64_t		 interval_ms;
	int64_t		 penalty_ms;
	const char	*threshold;
};
static const struct drl vast_rl[] = {
	{ "bundles", 6000, 0, "6.0" },
	{ "asks", 4500, 12000, "4.5" },
	{ "launch_instance", 5000, 0, "5.0" },
	{ "instance_show", 2000, 0, "2.0" },
	{ "instances_v1", 1000, 0, "1.0" },
	{ "instance_put", 1000, 0, "1.0" },
	{ "instance_delete", 3000, 0, "3.0" },
};
static const struct drl lambda_rl[] = {
	{ "*", 1000, 0, NULL },
	{ "launch", 12000, 0, NULL },
};

void
sku_release(struct sim_sku *u)
{
	if (u == NULL)
		return;
	free(u->gpu);
	free(u->type);
	free(u->region);
	free(u->geo);
	free(u->cloud);
	memset(u, 0, sizeof(*u));
}

bool
json_money(json_t *v, money_t *out)
{
	const char	*why;
	double		 d;

	if (json_is_string(v))
		return money_parse(json_string_value(v), out, &why);
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) > MONEY_MAX / MONEY_UNIT)
			return false;
		*out = (money_t)json_integer_value(v) * MONEY_UNIT;
		return true;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!(d >= 0) || d > 1e6)
			return false;
		*out = (money_t)llround(d * 1e6);
		return true;
	}
	if (json_is_object(v) && json_is_integer(json_object_get(v,
	    "micros"))) {
		*out = json_integer_value(json_object_get(v, "micros"));
		return *out >= 0;
	}
	return false;
}

static char *
lambda_type_name(const struct gpu_model *m, int count)
{
	if (m == NULL || m->lambda == NULL)
		return NULL;
	return xasprintf("gpu_%dx_%s", count, m->lambda);
}

static const char *
prov_gpu_name(const struct gpu_model *m, enum sim_prov p)
{
	switch (p) {
	case SIM_VAST:
		return m->vastai;
	case SIM_RUNPOD:
		return m->runpod;
	case SIM_LAMBDA:
		return m->lambda;
	default:
		return NULL;
	}
}

static void
sku_finish(struct sim *s, enum sim_prov p, struct sim_sku *u, size_t idx)
{
	(void)s;
	if (p == SIM_VAST)
		u->ask_base = 3000000 + (int64_t)idx * 100000;
	if (p == SIM_VAST && u->geo == NULL)
		u->geo = xstrdup(u->region);
	if (p == SIM_RUNPOD && u->cloud == NULL)
		u->cloud = xstrdup("SECURE");
}

int
sku_from_json(struct sim *s, enum sim_prov p, json_t *o, struct sim_sku *u,
    char *err, size_t errlen)
{
	const char		*gpu, *pname;
	json_t			*v;

	(void)s;
	memset(u, 0, sizeof(*u));
	if (!json_is_object(o)) {
		(void)snprintf(err, errlen, "an offer must be an object");
		return -1;
	}
	gpu = json_string_value(json_object_get(o, "gpu"));
	if (gpu == NULL) {
		(void)snprintf(err, errlen, "offer lacks \"gpu\"");
		return -1;
	}
	u->model = catalog_find(gpu);
	if (u->model == NULL)
		u->model = catalog_from_provider(sim_prov_name(p), gpu);
	pname = u->model != NULL ? prov_gpu_name(u->model, p) : NULL;
	u->gpu = xstrdup(pname != NULL ? pname : gpu);
	u->count = 1;
	if ((v = json_object_get(o, "count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 64) {
			(void)snprintf(err, errlen, "offer '%s': count must be "
			    "1 to 64", gpu);
			goto fail;
		}
		u->count = (int)json_integer_value(v);
	}
	u->vram_gb = u->model != NULL ? u->model->vram_gb : 0;
	if ((v = json_object_get(o, "vram_gb")) != NULL)
		u->vram_gb = (int)json_integer_value(v);
	if (!json_money(json_object_get(o, "price"), &u->price)) {
		(void)snprintf(err, errlen, "offer '%s': \"price\" must be an "
		    "amount such as \"0.40\"", gpu);
		goto fail;
	}
	if ((v = json_object_get(o, "storage_price")) != NULL &&
	    !json_money(v, &u->storage)) {
		(void)snprintf(err, errlen, "offer '%s': bad storage_price",
		    gpu);
		goto fail;
	}
	if ((v = json_object_get(o, "min_bid")) != NULL &&
	    !json_money(v, &u->min_bid)) {
		(void)snprintf(err, errlen, "offer '%s': bad min_bid", gpu);
		goto fail;
	}
	u->capacity = 1;
	if ((v = json_object_get(o, "capacity")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 99999) {
			(void)snprintf(err, errlen, "offer '%s': capacity must "
			    "be 0 to 99999", gpu);
			goto fail;
		}
		u->capacity = (int)json_integer_value(v);
	}
	v = json_object_get(o, "region");
	u->region = xstrdup(json_is_string(v) ? json_string_value(v) :
	    p == SIM_VAST ? "US" : p == SIM_RUNPOD ? "US-TX-3" : "us-east-1");
	if ((v = json_object_get(o, "geolocation")) != NULL &&
	    json_is_string(v))
		u->geo = xstrdup(json_string_value(v));
	if ((v = json_object_get(o, "cloud")) != NULL && json_is_string(v))
		u->cloud = xstrdup(json_string_value(v));
	if (p == SIM_RUNPOD && u->cloud != NULL &&
	    strcmp(u->cloud, "SECURE") != 0 &&
	    strcmp(u->cloud, "COMMUNITY") != 0) {
		(void)snprintf(err, errlen, "offer '%s': cloud must be SECURE "
		    "or COMMUNITY", gpu);
		goto fail;
	}
	if (p == SIM_LAMBDA) {
		if ((v = json_object_get(o, "type")) != NULL &&
		    json_is_string(v))
			u->type = xstrdup(json_string_value(v));
		else
			u->type = lambda_type_name(u->model, u->count);
		if (u->type == NULL) {
			(void)snprintf(err, errlen, "offer '%s': lambda has no "
			    "such GPU; give \"type\"", gpu);
			goto fail;
		}
		if (u->price % 10000 != 0) {
			(void)snprintf(err, errlen, "offer '%s': lambda prices "
			    "are whole cents", gpu);
			goto fail;
		}
	}
	return 0;
fail:
	sku_release(u);
	return -1;
}

static void
defaults_skus(struct sim *s, enum sim_prov p, const struct dsku *d,
    size_t n)
{
	struct sim_pconf	*c = &s->p[p];
	const struct gpu_model	*m;
	const char		*why, *pn;
	size_t			 k;

	c->skus = xcalloc(n, sizeof(*c->skus));
	c->nskus = n;
	for (k = 0; k < n; k++) {
		struct sim_sku *u = &c->skus[k];

		m = catalog_find(d[k].gpu);
		if (m == NULL)
			BUG("default offer %s not in the catalog", d[k].gpu);
		u->model = m;
		pn = prov_gpu_name(m, p);
		u->gpu = xstrdup(pn != NULL ? pn : m->name);
		u->count = d[k].count;
		u->vram_gb = m->vram_gb;
		if (!money_parse(d[k].price, &u->price, &why))
			BUG("default price %s: %s", d[k].price, why);
		if (d[k].storage != NULL &&
		    !money_parse(d[k].storage, &u->storage, &why))
			BUG("default storage %s", d[k].storage);
		if (d[k].min_bid != NULL &&
		    !money_parse(d[k].min_bid, &u->min_bid, &why))
			BUG("default bid %s", d[k].min_bid);
		u->region = xstrdup(d[k].region);
		if (d[k].geo != NULL)
			u->geo = xstrdup(d[k].geo);
		if (d[k].cloud != NULL)
			u->cloud = xstrdup(d[k].cloud);
		u->capacity = d[k].capacity;
		if (p == SIM_LAMBDA)
			u->type = lambda_type_name(m, u->count);
		sku_finish(s, p, u, k);
	}
}

static void
rl_set(struct sim_pconf *c, const char *ep, int64_t iv, int64_t pen,
    const char *thr)
{
	size_t		 k;
	struct sim_rl	*r = NULL;

	for (k = 0; k < c->nrls; k++)
		if (strcmp(c->rls[k].endpoint, ep) == 0)
			r = &c->rls[k];
	if (r == NULL) {
		c->rls = xreallocarray(c->rls, c->nrls + 1, sizeof(*c->rls));
		r = &c->rls[c->nrls++];
		memset(r, 0, sizeof(*r));
		r->endpoint = xstrdup(ep);
	}
	r->interval_ms = iv;
	r->penalty_ms = pen;
	free(r->threshold);
	r->threshold = thr != NULL ? xstrdup(thr) :
	    xasprintf("%.1f", (double)iv / 1000.0);
}

static void
sshkey_add(struct sim *s, const char *name, const char *pub)
{
	struct sim_pconf	*c = &s->p[SIM_LAMBDA];
	struct sim_sshkey	*k;
	char			 id[33];

	c->sshkeys = xreallocarray(c->sshkeys, c->nsshkeys + 1,
	    sizeof(*c->sshkeys));
	k = &c->sshkeys[c->nsshkeys++];
	sim_rand_id(s, id, sizeof(id), "0123456789abcdef");
	k->id = xstrdup(id);
	k->name = xstrdup(name);
	k->pubkey = xstrdup(pub != NULL ? pub :
	    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPsimulatedkeyonly sim@gr");
}

void
scenario_defaults(struct sim *s)
{
	int	 p;
	size_t	 k;

	for (p = 0; p < SIM_PROV__COUNT; p++) {
		struct sim_pconf *c = &s->p[p];

		c->keys = xcalloc(1, sizeof(*c->keys));
		c->keys[0] = xstrdup(default_keys[p]);
		c->nkeys = 1;
		c->d = default_delays[p];
		c->rl_on = true;
	}
	defaults_skus(s, SIM_VAST, vast_default, nitems(vast_default));
	defaults_skus(s, SIM_RUNPOD, runpod_default, nitems(runpod_default));
	defaults_skus(s, SIM_LAMBDA, lambda_default, nitems(lambda_default));
	for (k = 0; k < nitems(vast_rl); k++)
		rl_set(&s->p[SIM_VAST], vast_rl[k].endpoint,
		    vast_rl[k].interval_ms, vast_rl[k].penalty_ms,
		    vast_rl[k].threshold);
	for (k = 0; k < nitems(lambda_rl); k++)
		rl_set(&s->p[SIM_LAMBDA], lambda_rl[k].endpoint,
		    lambda_rl[k].interval_ms, lambda_rl[k].penalty_ms,
		    lambda_rl[k].threshold);
	s->p[SIM_RUNPOD].win_q[0] = 60;
	s->p[SIM_RUNPOD].win_q[1] = 3000;
	s->p[SIM_RUNPOD].win_q[2] = 50000;
	sshkey_add(s, "default", NULL);
}

/* ---- loading ---- */

static int
get_ms(json_t *o, const char *key, int64_t *out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		(void)snprintf(err, errlen, "\"%s\" must be a whole number of "
		    "milliseconds", key);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
apply_keys(struct sim_pconf *c, json_t *v, char *err, size_t errlen)
{
	size_t	 k;
	json_t	*e;

	if (!json_is_array(v)) {
		(void)snprintf(err, errlen, "\"keys\" must be a list of "
		    "strings");
		return -1;
	}
	json_array_foreach(v, k, e) {
		if (!json_is_string(e) || json_string_length(e) == 0) {
			(void)snprintf(err, errlen, "\"keys\" must be a list "
			    "of non-empty strings");
			return -1;
		}
	}
	for (k = 0; k < c->nkeys; k++)
		free(c->keys[k]);
	free(c->keys);
	c->nkeys = json_array_size(v);
	c->keys = xcalloc(c->nkeys + 1, sizeof(*c->keys));
	json_array_foreach(v, k, e)
		c->keys[k] = xstrdup(json_string_value(e));
	return 0;
}

static int
apply_offers(struct sim *s, enum sim_prov p, json_t *v, char *err,
    size_t errlen)
{
	struct sim_pconf	*c = &s->p[p];
	struct sim_sku		*skus;
	size_t			 k, n;
	json_t			*e;

	if (!json_is_array(v)) {
		(void)snprintf(err, errlen, "\"offers\" must be a list");
		return -1;
	}
	n = json_array_size(v);
	skus = xcalloc(n + 1, sizeof(*skus));
	json_array_foreach(v, k, e) {
		if (sku_from_json(s, p, e, &skus[k], err, errlen) == -1) {
			while (k-- > 0)
				sku_release(&skus[k]);
			free(skus);
			return -1;
		}
		if (p == SIM_VAST && json_object_get(e, "storage_price") ==
		    NULL)
			skus[k].storage = 20000;
		if (p == SIM_RUNPOD && json_object_get(e, "storage_price") ==
		    NULL)
			skus[k].storage = 10000;
		sku_finish(s, p, &skus[k], k);
	}
	for (k = 0; k < c->nskus; k++)
		sku_release(&c->skus[k]);
	free(c->skus);
	c->skus = skus;
	c->nskus = n;
	return 0;
}

static int
apply_rl(struct sim_pconf *c, enum sim_prov p, json_t *v, char *err,
    size_t errlen)
{
	const char	*name;
	json_t		*e;
	int64_t		 iv, pen;
	static const char *const wins[3] = { "minute", "hour", "day" };
	int		 w;

	if (json_is_boolean(v)) {
		c->rl_on = json_is_true(v);
		return 0;
	}
	if (!json_is_object(v)) {
		(void)snprintf(err, errlen, "\"rate_limits\" must be true, "
		    "false or an object");
		return -1;
	}
	c->rl_on = true;
	json_object_foreach(v, name, e) {
		if (strcmp(name, "enabled") == 0) {
			c->rl_on = json_is_true(e);
			continue;
		}
		if (p == SIM_RUNPOD) {
			for (w = 0; w < 3; w++)
				if (strcmp(name, wins[w]) == 0)
					break;
			if (w == 3 || !json_is_integer(e) ||
			    json_integer_value(e) < 0) {
				(void)snprintf(err, errlen, "runpod "
				    "rate_limits: expected minute, hour, day "
				    "quotas");
				return -1;
			}
			c->win_q[w] = json_integer_value(e);
			continue;
		}
		iv = 0;
		pen = 0;
		if (json_is_integer(e))
			iv = json_integer_value(e);
		else if (json_is_object(e)) {
			if (get_ms(e, "interval_ms", &iv, err, errlen) == -1 ||
			    get_ms(e, "penalty_ms", &pen, err, errlen) == -1)
				return -1;
		} else if (!json_is_null(e)) {
			(void)snprintf(err, errlen, "rate limit '%s': expected "
			    "milliseconds or {interval_ms, penalty_ms}", name);
			return -1;
		}
		rl_set(c, name, iv, pen, NULL);
	}
	return 0;
}

static int
apply_provider(struct sim *s, enum sim_prov p, json_t *o, char *err,
    size_t errlen)
{
	struct sim_pconf	*c = &s->p[p];
	json_t			*v, *d, *e;
	size_t			 k;

	if (!json_is_object(o)) {
		(void)snprintf(err, errlen, "%s: expected an object",
		    sim_prov_name(p));
		return -1;
	}
	if ((v = json_object_get(o, "keys")) != NULL &&
	    apply_keys(c, v, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(o, "offers")) != NULL &&
	    apply_offers(s, p, v, err, errlen) == -1)
		return -1;
	if ((d = json_object_get(o, "delays")) != NULL) {
		if (get_ms(d, "provision_ms", &c->d.provision_ms, err,
		    errlen) == -1 ||
		    get_ms(d, "start_ms", &c->d.start_ms, err, errlen) == -1 ||
		    get_ms(d, "stop_ms", &c->d.stop_ms, err, errlen) == -1 ||
		    get_ms(d, "terminate_ms", &c->d.terminate_ms, err,
		    errlen) == -1)
			return -1;
	}
	if ((v = json_object_get(o, "rate_limits")) != NULL &&
	    apply_rl(c, p, v, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(o, "ssh_keys")) != NULL) {
		if (p != SIM_LAMBDA || !json_is_array(v)) {
			(void)snprintf(err, errlen, "\"ssh_keys\" is a list, "
			    "for lambda only");
			return -1;
		}
		for (k = 0; k < c->nsshkeys; k++) {
			free(c->sshkeys[k].id);
			free(c->sshkeys[k].name);
			free(c->sshkeys[k].pubkey);
		}
		c->nsshkeys = 0;
		json_array_foreach(v, k, e) {
			if (json_is_string(e))
				sshkey_add(s, json_string_value(e), NULL);
			else if (json_is_string(json_object_get(e, "name")))
				sshkey_add(s, json_string_value(
				    json_object_get(e, "name")),
				    json_string_value(json_object_get(e,
				    "public_key")));
			else {
				(void)snprintf(err, errlen, "\"ssh_keys\": "
				    "expected names");
				return -1;
			}
		}
	}
	return 0;
}

int
scenario_apply(struct sim *s, json_t *root, char *err, size_t errlen)
{
	json_t		*provs, *v, *e;
	const char	*name;
	int		 p;
	size_t		 k;
	char		 sub[256];

	if (!json_is_object(root)) {
		(void)snprintf(err, errlen, "a scenario is a JSON object");
		return -1;
	}
	provs = json_object_get(root, "providers");
	for (p = 0; p < SIM_PROV__COUNT; p++) {
		v = provs != NULL ? json_object_get(provs, sim_prov_name(p)) :
		    NULL;
		if (v == NULL)
			v = json_object_get(root, sim_prov_name(p));
		if (v == NULL && p == SIM_VAST)
			v = provs != NULL ? json_object_get(provs, "vast") :
			    json_object_get(root, "vast");
		if (v != NULL && apply_provider(s, p, v, sub,
		    sizeof(sub)) == -1) {
			(void)snprintf(err, errlen, "%s: %s", sim_prov_name(p),
			    sub);
			return -1;
		}
	}
	if (provs != NULL) {
		json_object_foreach(provs, name, e) {
			if (sim_prov_parse(name) < 0) {
				(void)snprintf(err, errlen, "unknown provider "
				    "'%s' (vastai, runpod, lambda)", name);
				return -1;
			}
		}
	}
	if ((v = json_object_get(root, "faults")) != NULL) {
		if (!json_is_array(v)) {
			(void)snprintf(err, errlen, "\"faults\" must be a "
			    "list");
			return -1;
		}
		json_array_foreach(v, k, e) {
			if (fault_add(s, e, sub, sizeof(sub)) == -1) {
				(void)snprintf(err, errlen, "faults[%zu]: %s",
				    k, sub);
				return -1;
			}
		}
	}
	return 0;
}
