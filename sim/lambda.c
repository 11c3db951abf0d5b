/*
 * lambda.c: Lambda Cloud under /lambda (PROVIDER-APIS.md section 3, spec
 * v1.8.3).  Success is {"data": ...}; failure {"error": {code, message,
 * suggestion}}, and clients key on code.  Instance types are an object
 * keyed by name, with the regions that have capacity now; launch answers
 * instance_ids, terminate terminated_instances (status "terminating").
 * There is no stop.  Keys come as Bearer, Basic base64("KEY:") or Basic
 * with the raw key.  Pacing (1 request/s, launch 1 per 12 s) is enforced
 * by fault.c's rate limits with a 429.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct lcode {
	const char	*code;
	int		 status;
	const char	*message;
	const char	*suggestion;
};

/* LOA ApiError* schemas, with their default messages. */
static const struct lcode lcodes[] = {
	{ "global/invalid-api-key", 401,
	  "API key was invalid, expired, or deleted.",
	  "Check your API key or create a new one, then try again." },
	{ "global/account-inactive", 403, "Your account is inactive.",
	  "Make sure you have verified your email address and have a valid "
	  "payment method. Contact Support if problems continue." },
	{ "global/invalid-address", 403, "Your billing address is invalid.",
	  "Make sure your billing address is valid." },
	{ "global/object-does-not-exist", 404,
	  "Specified instance does not exist.", NULL },
	{ "global/invalid-parameters", 400, "Invalid request data.", NULL },
	{ "instance-operations/launch/insufficient-capacity", 400,
	  "Not enough capacity to fulfill launch request.",
	  "Choose an instance type with more availability, or try again "
	  "later." },
	{ "global/quota-exceeded", 400, "Quota exceeded.",
	  "Contact Support to increase your quota." },
	{ "instance-operations/launch/file-system-in-wrong-region", 400,
	  "File system is in a different region.",
	  "Launch the instance in the region of its file system." },
	{ "global/duplicate", 400, "Duplicate value.", NULL },
	{ "global/internal-error", 500, "An internal server error occurred.",
	  NULL },
	{ "provider/internal-unavailable", 503,
	  "The upstream provider is unavailable.",
	  "Try again in a few minutes." },
	{ "global/rate-limited", 429, "Too many requests.",
	  "Pace requests: at most 1 per second, and 1 launch per 12 "
	  "seconds." },
};

static const struct lcode *
lcode_find(const char *code)
{
	size_t	 k;

	for (k = 0; k < nitems(lcodes); k++)
		if (strcmp(lcodes[k].code, code) == 0)
			return &lcodes[k];
	return NULL;
}

static void
lerr(struct sim_resp *resp, int status, const char *code, const char *msg)
{
	const struct lcode	*c = lcode_find(code);
	json_t			*e;

	e = jpack("{s:s, s:s}", "code", code, "message", msg != NULL ? msg :
	    c != NULL ? c->message : "Request failed.");
	if (c != NULL && c->suggestion != NULL)
		json_object_set_new(e, "suggestion",
		    json_string(c->suggestion));
	resp_json(resp, status, jpack("{s:o}", "error", e), NULL);
}

static void
ldata(struct sim_resp *resp, json_t *data)
{
	resp_json(resp, 200, jpack("{s:o}", "data", data), NULL);
}

static bool
l_auth(struct sim_req *r)
{
	const char	*k = req_bearer(r);

	if (k == NULL)
		k = req_basic(r);
	r->key = key_index(r->sim, SIM_LAMBDA, k);
	return r->key >= 0;
}

static void
l_unauthorized(struct sim_req *r, struct sim_resp *resp)
{
	(void)r;
	lerr(resp, 401, "global/invalid-api-key", NULL);
}

static void
l_error(struct sim_req *r, struct sim_resp *resp, int status,
    const char *code, const char *msg)
{
	const char	*dc;

	(void)r;
	switch (status) {
	case 400: dc = "global/invalid-parameters"; break;
	case 401: dc = "global/invalid-api-key"; break;
	case 403: dc = "global/account-inactive"; break;
	case 404: dc = "global/object-does-not-exist"; break;
	case 429: dc = "global/rate-limited"; break;
	case 502: case 503: case 504: dc = "provider/internal-unavailable";
		break;
	default: dc = "global/internal-error"; break;
	}
	lerr(resp, status, code != NULL ? code : dc, msg);
}

static void
l_too_many(struct sim_req *r, struct sim_resp *resp, int wait,
    const char *why)
{
	(void)r;
	(void)wait;
	(void)why;
	/* the spec documents neither body nor Retry-After: send none */
	lerr(resp, 429, "global/rate-limited", NULL);
}

/* ---- JSON views ---- */

static const char *
region_desc(const char *name)
{
	static const struct { const char *n, *d; } rd[] = {
		{ "us-east-1", "Virginia, USA" },
		{ "us-east-2", "Washington DC, USA" },
		{ "us-east-3", "Washington DC, USA" },
		{ "us-west-1", "California, USA" },
		{ "us-west-2", "Arizona, USA" },
		{ "us-west-3", "Utah, USA" },
		{ "us-south-1", "Texas, USA" },
		{ "us-midwest-1", "Illinois, USA" },
		{ "europe-central-1", "Germany" },
		{ "asia-northeast-1", "Tokyo, Japan" },
		{ "asia-south-1", "India" },
		{ "me-west-1", "Israel" },
	};
	size_t	 k;

	for (k = 0; k < nitems(rd); k++)
		if (strcmp(rd[k].n, name) == 0)
			return rd[k].d;
	return name;
}

static json_t *
type_json(const struct sim_sku *u)
{
	char	 gdesc[96], desc[128];
	const char *gname = u->model != NULL && u->model->vastai != NULL ?
	    u->model->vastai : u->gpu;

	(void)snprintf(gdesc, sizeof(gdesc), "%s (%d GB)", gname, u->vram_gb);
	(void)snprintf(desc, sizeof(desc), "%dx %s", u->count, gdesc);
	return jpack("{s:s, s:s, s:s, s:I, s:{s:i, s:i, s:i, s:i}}",
	    "name", u->type,
	    "description", desc,
	    "gpu_description", gdesc,
	    "price_cents_per_hour", (json_int_t)(u->price / 10000),
	    "specs", "vcpus", 30 * u->count, "memory_gib", 200 * u->count,
	    "storage_gib", 512 * u->count, "gpus", u->count);
}

static json_t *
action_json(bool ok, const char *reason_code, const char *desc)
{
	if (ok)
		return jpack("{s:b}", "available", 1);
	return jpack("{s:b, s:s, s:s}", "available", 0, "reason_code",
	    reason_code, "reason_description", desc);
}

static const char *
l_status(const struct sim_inst *i)
{
	switch (i->phase) {
	case PH_PROVISION: case PH_STARTING: return "booting";
	case PH_FAILED: return "unhealthy";
	case PH_INTERRUPTED: return "preempted";
	case PH_TERMINATING: return "terminating";
	case PH_GONE: return "terminated";
	default: return "active";
	}
}

static json_t *
list_or_empty(json_t *x, const char *key)
{
	json_t	*v = json_object_get(x, key);

	return json_is_array(v) ? json_deep_copy(v) : json_array();
}

json_t *
lambda_inst_json(struct sim *s, struct sim_inst *i, int64_t now)
{
	const char		*st = l_status(i);
	const struct sim_sku	*u = NULL;
	struct sim_sku		 tmp;
	json_t			*o, *x, *acts;
	bool			 up = strcmp(st, "active") == 0 ||
	    strcmp(st, "unhealthy") == 0;
	bool			 term = strcmp(st, "terminating") == 0 ||
	    strcmp(st, "terminated") == 0;
	char			*ip;

	(void)now;
	if (i->sku >= 0 && (size_t)i->sku < s->p[SIM_LAMBDA].nskus)
		u = &s->p[SIM_LAMBDA].skus[i->sku];
	if (u == NULL) {
		memset(&tmp, 0, sizeof(tmp));
		tmp.gpu = i->gpu != NULL ? i->gpu : "";
		tmp.type = i->gpu != NULL ? i->gpu : "";
		tmp.count = i->gpus;
		tmp.vram_gb = i->vram_gb;
		tmp.price = i->price;
		u = &tmp;
	}
	if (i->extra == NULL)
		i->extra = json_object();
	x = i->extra;
	if (json_object_get(x, "ip") == NULL) {
		ip = sim_next_ip(s);
		json_object_set_new(x, "ip", json_string(ip));
		free(ip);
	}
	acts = jpack("{s:o, s:o, s:o, s:o, s:o}",
	    "migrate", action_json(false, term ? "vm-is-terminating" :
	    "vm-is-too-old", "Migration is not available."),
	    "rebuild", action_json(false, term ? "vm-is-terminating" :
	    "vm-has-not-launched", "Rebuild is not available."),
	    "restart", action_json(up, term ? "vm-is-terminating" :
	    "vm-has-not-launched", "The instance cannot restart now."),
	    "cold_reboot", action_json(up, term ? "vm-is-terminating" :
	    "vm-has-not-launched", "The instance cannot reboot now."),
	    "terminate", action_json(!term, "vm-is-terminating",
	    "The instance is already terminating."));
	o = jpack("{s:s, s:s, s:{s:s, s:s}, s:o, s:o}",
	    "id", i->id,
	    "status", st,
	    "region", "name", i->region != NULL ? i->region : "",
	    "description", region_desc(i->region != NULL ? i->region : ""),
	    "instance_type", type_json(u),
	    "actions", acts);
	json_object_set_new(o, "ssh_key_names", list_or_empty(x,
	    "ssh_key_names"));
	json_object_set_new(o, "file_system_names", list_or_empty(x, "fs"));
	json_object_set_new(o, "tags", list_or_empty(x, "tags"));
	if (i->label != NULL)
		json_object_set_new(o, "name", json_string(i->label));
	if (json_is_string(json_object_get(x, "hostname")))
		json_object_set(o, "hostname", json_object_get(x, "hostname"));
	if (up) {
		json_object_set(o, "ip", json_object_get(x, "ip"));
		json_object_set_new(o, "private_ip", json_string("10.19.0.2"));
		json_object_set_new(o, "jupyter_token",
		    json_string(i->id + 16));
		json_object_set_new(o, "jupyter_url", jpack(
		    "s++", "https://jupyter-", i->id, ".lambda.sim.invalid"));
	}
	return o;
}

/* ---- handlers ---- */

static bool
lbody(struct sim_req *r, struct sim_resp *resp)
{
	if (r->json_bad || !json_is_object(r->json)) {
		lerr(resp, 400, "global/invalid-parameters", "The request body "
		    "must be a JSON object.");
		return false;
	}
	return true;
}

static void
h_types(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_pconf	*c = &r->sim->p[SIM_LAMBDA];
	json_t			*data = json_object(), *e, *regs;
	size_t			 k;

	for (k = 0; k < c->nskus; k++) {
		const struct sim_sku *u = &c->skus[k];

		e = json_object_get(data, u->type);
		if (e == NULL) {
			e = jpack("{s:o, s:[]}", "instance_type", type_json(u),
			    "regions_with_capacity_available");
			json_object_set_new(data, u->type, e);
		}
		if (sim_sku_free(r->sim, SIM_LAMBDA, (int)k) <= 0)
			continue;
		regs = json_object_get(e, "regions_with_capacity_available");
		json_array_append_new(regs, jpack("{s:s, s:s}", "name",
		    u->region, "description", region_desc(u->region)));
	}
	ldata(resp, data);
}

static const struct sim_sshkey *
sshkey_find(struct sim *s, const char *name)
{
	size_t	 k;

	for (k = 0; k < s->p[SIM_LAMBDA].nsshkeys; k++)
		if (strcmp(s->p[SIM_LAMBDA].sshkeys[k].name, name) == 0)
			return &s->p[SIM_LAMBDA].sshkeys[k];
	return NULL;
}

static bool
hostname_ok(const char *h)
{
	size_t	 n = strlen(h), k;

	if (n == 0 || n > 63 || !(islower((unsigned char)h[0]) ||
	    isdigit((unsigned char)h[0])))
		return false;
	for (k = 1; k < n; k++)
		if (!islower((unsigned char)h[k]) &&
		    !isdigit((unsigned char)h[k]) && h[k] != '-')
			return false;
	return true;
}

static bool
tag_key_ok(const char *k)
{
	size_t	 n = strlen(k), j;

	if (n < 2 || !islower((unsigned char)k[0]))
		return false;
	for (j = 1; j < n; j++)
		if (!islower((unsigned char)k[j]) &&
		    !isdigit((unsigned char)k[j]) && k[j] != '-' &&
		    k[j] != ':')
			return false;
	return true;
}

static void
h_launch(struct sim_req *r, struct sim_resp *resp)
{
	struct sim		*s = r->sim;
	struct sim_pconf	*c = &s->p[SIM_LAMBDA];
	json_t			*b = r->json, *keys, *v, *e, *fs, *tags;
	const char		*region, *type, *name, *host;
	size_t			 k;
	int			 sku = -1;
	bool			 type_known = false, region_known = false;
	struct sim_inst		*i;
	char			 msg[200];

	if (!lbody(r, resp))
		return;
	region = json_string_value(json_object_get(b, "region_name"));
	type = json_string_value(json_object_get(b, "instance_type_name"));
	keys = json_object_get(b, "ssh_key_names");
	if (region == NULL || type == NULL || !json_is_array(keys)) {
		lerr(resp, 400, "global/invalid-parameters", "region_name, "
		    "instance_type_name and ssh_key_names are required.");
		return;
	}
	if (json_array_size(keys) != 1 ||
	    !json_is_string(json_array_get(keys, 0))) {
		lerr(resp, 400, "global/invalid-parameters", "ssh_key_names "
		    "must hold exactly one key name.");
		return;
	}
	if ((v = json_object_get(b, "quantity")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			lerr(resp, 400, "global/invalid-parameters",
			    "quantity: Input should be greater than or equal "
			    "to 1");
			return;
		}
		if (json_integer_value(v) > 1) {
			lerr(resp, 400, "global/invalid-parameters",
			    "Requested too many instances.");
			return;
		}
	}
	v = json_object_get(b, "name");
	if (v != NULL && !json_is_null(v) && (!json_is_string(v) ||
	    json_string_length(v) > 64)) {
		lerr(resp, 400, "global/invalid-parameters", "name: at most "
		    "64 characters.");
		return;
	}
	name = json_string_value(v);
	host = json_string_value(json_object_get(b, "hostname"));
	if (host != NULL && !hostname_ok(host)) {
		lerr(resp, 400, "global/invalid-parameters", "hostname must "
		    "match ^[a-z0-9][0-9a-z-]{0,62}$.");
		return;
	}
	v = json_object_get(b, "user_data");
	if (v != NULL && !json_is_null(v) && (!json_is_string(v) ||
	    json_string_length(v) > 1048576)) {
		lerr(resp, 400, "global/invalid-parameters", "user_data: a "
		    "string of at most 1 MB.");
		return;
	}
	tags = json_object_get(b, "tags");
	if (tags != NULL && !json_is_null(tags)) {
		if (!json_is_array(tags)) {
			lerr(resp, 400, "global/invalid-parameters", "tags: "
			    "expected a list of {key, value}.");
			return;
		}
		json_array_foreach(tags, k, e) {
			if (!json_is_string(json_object_get(e, "key")) ||
			    !tag_key_ok(json_string_value(json_object_get(e,
			    "key"))) || !json_is_string(json_object_get(e,
			    "value"))) {
				lerr(resp, 400, "global/invalid-parameters",
				    "tags: keys must match "
				    "^[a-z][a-z0-9-:]+$.");
				return;
			}
		}
	}
	fs = json_object_get(b, "file_system_names");
	if (json_array_size(fs) > 0) {
		lerr(resp, 404, "global/object-does-not-exist", "Specified "
		    "file system does not exist.");
		return;
	}
	if (sshkey_find(s, json_string_value(json_array_get(keys, 0))) ==
	    NULL) {
		(void)snprintf(msg, sizeof(msg), "Specified SSH key '%s' does "
		    "not exist.", json_string_value(json_array_get(keys, 0)));
		lerr(resp, 404, "global/object-does-not-exist", msg);
		return;
	}
	for (k = 0; k < c->nskus; k++) {
		if (strcmp(c->skus[k].type, type) == 0)
			type_known = true;
		if (strcmp(c->skus[k].region, region) == 0)
			region_known = true;
		if (strcmp(c->skus[k].type, type) != 0 ||
		    strcmp(c->skus[k].region, region) != 0)
			continue;
		if (sim_sku_free(s, SIM_LAMBDA, (int)k) > 0) {
			sku = (int)k;
			break;
		}
	}
	if (!type_known || !region_known) {
		(void)snprintf(msg, sizeof(msg), "%s '%s' does not exist.",
		    !type_known ? "Instance type" : "Region",
		    !type_known ? type : region);
		lerr(resp, 400, "global/invalid-parameters", msg);
		return;
	}
	if (sku < 0) {
		lerr(resp, 400, "instance-operations/launch/"
		    "insufficient-capacity", NULL);
		return;
	}
	i = sim_inst_new(s, SIM_LAMBDA, r->now);
	i->sku = sku;
	i->gpu = xstrdup(c->skus[sku].gpu);
	i->region = xstrdup(region);
	i->gpus = c->skus[sku].count;
	i->vram_gb = c->skus[sku].vram_gb;
	i->price = c->skus[sku].price;
	i->label = name != NULL ? xstrdup(name) : NULL;
	i->extra = jpack("{s:O, s:o, s:o}", "ssh_key_names", keys,
	    "fs", json_array(), "tags", json_is_array(tags) ?
	    json_deep_copy(tags) : json_array());
	if (host != NULL)
		json_object_set_new(i->extra, "hostname", json_string(host));
	v = json_object_get(b, "user_data");
	if (json_is_string(v))
		i->onstart = xstrdup(json_string_value(v));
	sim_inst_boot(s, i, r->now);
	fault_on_create(s, r, i);
	sim_tick(s, r->now);
	ldata(resp, jpack("{s:[s]}", "instance_ids", i->id));
}

/* The instance_ids of a body, all known and live; NULL: resp set. */
static struct sim_inst **
ids_of(struct sim_req *r, struct sim_resp *resp, size_t *n)
{
	json_t		*ids, *e;
	struct sim_inst	**out;
	size_t		 k;

	*n = 0;
	if (!lbody(r, resp))
		return NULL;
	ids = json_object_get(r->json, "instance_ids");
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		lerr(resp, 400, "global/invalid-parameters", "instance_ids: "
		    "expected a non-empty list.");
		return NULL;
	}
	out = xcalloc(json_array_size(ids), sizeof(*out));
	json_array_foreach(ids, k, e) {
		out[k] = sim_inst_find(r->sim, SIM_LAMBDA,
		    json_string_value(e));
		if (out[k] == NULL) {
			free(out);
			lerr(resp, 404, "global/object-does-not-exist", NULL);
			return NULL;
		}
	}
	*n = json_array_size(ids);
	return out;
}

static void
h_terminate(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	**v;
	size_t		  n, k;
	json_t		 *arr;

	if ((v = ids_of(r, resp, &n)) == NULL)
		return;
	arr = json_array();
	for (k = 0; k < n; k++) {
		if (v[k]->phase != PH_TERMINATING)
			sim_inst_terminate(r->sim, v[k], r->now);
		json_array_append_new(arr, lambda_inst_json(r->sim, v[k],
		    r->now));
	}
	free(v);
	sim_tick(r->sim, r->now);
	ldata(resp, jpack("{s:o}", "terminated_instances", arr));
}

static void
h_restart(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	**v;
	size_t		  n, k;
	json_t		 *arr;

	if ((v = ids_of(r, resp, &n)) == NULL)
		return;
	for (k = 0; k < n; k++) {
		if (v[k]->phase != PH_RUNNING && v[k]->phase != PH_FAILED &&
		    v[k]->phase != PH_STOPPED) {
			free(v);
			lerr(resp, 400, "global/invalid-parameters",
			    "Instance cannot be restarted in its current "
			    "state.");
			return;
		}
	}
	arr = json_array();
	for (k = 0; k < n; k++) {
		sim_inst_set_phase(r->sim, v[k], PH_STARTING, r->now);
		json_array_append_new(arr, lambda_inst_json(r->sim, v[k],
		    r->now));
	}
	free(v);
	sim_tick(r->sim, r->now);
	ldata(resp, jpack("{s:o}", "restarted_instances", arr));
}

static void
h_list(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*arr = json_array();
	size_t		 k;

	for (k = 0; k < s->ninsts; k++) {
		struct sim_inst *i = s->insts[k];

		if (i->prov == SIM_LAMBDA && sim_inst_live(i) &&
		    i->visible_ms <= r->now)
			json_array_append_new(arr, lambda_inst_json(s, i,
			    r->now));
	}
	ldata(resp, arr);
}

static void
h_get(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = sim_inst_find(r->sim, SIM_LAMBDA, r->seg[0]);

	if (i == NULL) {
		lerr(resp, 404, "global/object-does-not-exist", NULL);
		return;
	}
	ldata(resp, lambda_inst_json(r->sim, i, r->now));
}

static void
h_rename(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	json_t		*v;

	if (!lbody(r, resp))
		return;
	if ((i = sim_inst_find(r->sim, SIM_LAMBDA, r->seg[0])) == NULL) {
		lerr(resp, 404, "global/object-does-not-exist", NULL);
		return;
	}
	v = json_object_get(r->json, "name");
	if (!json_is_string(v) || json_string_length(v) > 64) {
		lerr(resp, 400, "global/invalid-parameters", "name: a string "
		    "of at most 64 characters.");
		return;
	}
	free(i->label);
	i->label = xstrdup(json_string_value(v));
	ldata(resp, lambda_inst_json(r->sim, i, r->now));
}

static json_t *
sshkey_json(const struct sim_sshkey *k)
{
	return jpack("{s:s, s:s, s:s}", "id", k->id, "name", k->name,
	    "public_key", k->pubkey);
}

static void
h_keys(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_pconf	*c = &r->sim->p[SIM_LAMBDA];
	json_t			*arr = json_array();
	size_t			 k;

	for (k = 0; k < c->nsshkeys; k++)
		json_array_append_new(arr, sshkey_json(&c->sshkeys[k]));
	ldata(resp, arr);
}

static void
h_key_add(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_pconf	*c = &r->sim->p[SIM_LAMBDA];
	struct sim_sshkey	*k;
	const char		*name, *pub;
	char			 id[33], rnd[33];
	json_t			*o;

	if (!lbody(r, resp))
		return;
	name = json_string_value(json_object_get(r->json, "name"));
	pub = json_string_value(json_object_get(r->json, "public_key"));
	if (name == NULL || *name == '\0' || strlen(name) > 64) {
		lerr(resp, 400, "global/invalid-parameters", "name is "
		    "required (at most 64 characters).");
		return;
	}
	if (sshkey_find(r->sim, name) != NULL) {
		lerr(resp, 400, "global/invalid-parameters", "An SSH key with "
		    "this name already exists.");
		return;
	}
	c->sshkeys = xreallocarray(c->sshkeys, c->nsshkeys + 1,
	    sizeof(*c->sshkeys));
	k = &c->sshkeys[c->nsshkeys++];
	sim_rand_id(r->sim, id, sizeof(id), "0123456789abcdef");
	sim_rand_id(r->sim, rnd, sizeof(rnd), "0123456789abcdef");
	k->id = xstrdup(id);
	k->name = xstrdup(name);
	k->pubkey = pub != NULL ? xstrdup(pub) : xasprintf("ssh-ed25519 "
	    "AAAAC3NzaC1lZDI1NTE5AAAAI%s %s", rnd, name);
	o = sshkey_json(k);
	if (pub == NULL)
		json_object_set_new(o, "private_key", jpack("s++",
		    "-----BEGIN OPENSSH PRIVATE KEY-----\nsimulated-", rnd,
		    "\n-----END OPENSSH PRIVATE KEY-----\n"));
	ldata(resp, o);
}

static void
h_key_del(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_pconf	*c = &r->sim->p[SIM_LAMBDA];
	size_t			 k;

	for (k = 0; k < c->nsshkeys; k++) {
		if (strcmp(c->sshkeys[k].id, r->seg[0]) != 0)
			continue;
		free(c->sshkeys[k].id);
		free(c->sshkeys[k].name);
		free(c->sshkeys[k].pubkey);
		memmove(&c->sshkeys[k], &c->sshkeys[k + 1],
		    (c->nsshkeys - k - 1) * sizeof(*c->sshkeys));
		c->nsshkeys--;
		ldata(resp, json_object());
		return;
	}
	lerr(resp, 404, "global/object-does-not-exist", "Specified SSH key "
	    "does not exist.");
}

static const struct sim_route l_routes[] = {
	{ "GET", "api/v1/instance-types", "offers", "instance_types",
	  h_types },
	{ "POST", "api/v1/instance-operations/launch", "create", "launch",
	  h_launch },
	{ "POST", "api/v1/instance-operations/terminate", "destroy",
	  "terminate", h_terminate },
	{ "POST", "api/v1/instance-operations/restart", "manage", "restart",
	  h_restart },
	{ "GET", "api/v1/instances", "list", "instances", h_list },
	{ "GET", "api/v1/instances/*", "show", "instance", h_get },
	{ "POST", "api/v1/instances/*", "manage", "instance", h_rename },
	{ "GET", "api/v1/ssh-keys", "keys", "ssh_keys", h_keys },
	{ "POST", "api/v1/ssh-keys", "keys", "ssh_keys", h_key_add },
	{ "DELETE", "api/v1/ssh-keys/*", "keys", "ssh_keys", h_key_del },
};

static bool
l_route(struct sim_req *r, struct sim_resp *resp)
{
	const struct sim_route	*e;
	bool			 wrong;

	e = route_find(r, l_routes, nitems(l_routes), &wrong);
	if (e == NULL) {
		if (wrong)
			lerr(resp, 405, "global/invalid-parameters", "Method "
			    "not allowed on this path.");
		else
			lerr(resp, 404, "global/object-does-not-exist",
			    "No such API endpoint.");
		return false;
	}
	r->op = e->op;
	r->route = e->route;
	r->handler = e->handler;
	return true;
}

const struct sim_api lambda_api = {
	.prefix = "/lambda",
	.prov = SIM_LAMBDA,
	.route = l_route,
	.auth = l_auth,
	.unauthorized = l_unauthorized,
	.error = l_error,
	.too_many = l_too_many,
	.decorate = NULL,
};
