/*
 * vast.c: the Vast.ai API under /vast (PROVIDER-APIS.md section 1).
 *
 * Each catalog line with capacity N is N asks (offers), one per machine,
 * with ids ask_base + slot.  Renting an ask takes it out of the search
 * until the contract is destroyed; renting it again meanwhile is the
 * stale-offer error (410 no_such_ask).  A stopped contract keeps its
 * machine.
 *
 * Quirks kept on purpose (section 4): Bearer or ?api_key=, paths with or
 * without the trailing slash, Content-Type exactly application/json,
 * {"instances": {...}|null} for show, numeric start_date and extra_env as
 * [[k, v], ...] on every row, {"success": true, "new_contract": N}, and a
 * plain-text 429 with no Retry-After.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

#define V1_LIMIT_MAX	25

/* ---- errors ---- */

static void
vast_err(struct sim_resp *resp, int status, const char *code,
    const char *msg)
{
	resp_json(resp, status, jpack("{s:b, s:s, s:s}", "success", 0,
	    "error", code, "msg", msg), NULL);
}

static void
vast_unauthorized(struct sim_req *r, struct sim_resp *resp)
{
	(void)r;
	vast_err(resp, 401, "auth_error", "Invalid user key");
}

static void
vast_error(struct sim_req *r, struct sim_resp *resp, int status,
    const char *code, const char *msg)
{
	const char	*dc, *dm;

	(void)r;
	switch (status) {
	case 400:
		dc = "invalid_args";
		dm = "Invalid arguments";
		break;
	case 401:
		dc = "auth_error";
		dm = "Invalid user key";
		break;
	case 403:
		dc = "forbidden";
		dm = "Your API key lacks the permission for this call";
		break;
	case 404:
		dc = "not_found";
		dm = "Instance not found";
		break;
	case 410:
		dc = "no_such_ask";
		dm = "Instance type is no longer available.";
		break;
	default:
		dc = status >= 500 ? "server_error" : "error";
		dm = status >= 500 ? "Internal server error, try again" :
		    "Request failed";
		break;
	}
	vast_err(resp, status, code != NULL ? code : dc, msg != NULL ? msg :
	    dm);
}

static void
vast_too_many(struct sim_req *r, struct sim_resp *resp, int wait,
    const char *why)
{
	struct buf	 b = BUF_INIT;

	(void)r;
	(void)wait;
	if (why != NULL)
		buf_addf(&b, "API requests too frequent: endpoint threshold=%s",
		    why);
	else
		buf_adds(&b, "API requests too frequent");
	resp_text(resp, 429, "text/plain", buf_str(&b));
	buf_release(&b);
}

static bool
vast_auth(struct sim_req *r)
{
	const char	*k = req_bearer(r);

	r->key = key_index(r->sim, SIM_VAST, k);
	if (r->key < 0 && (k = req_arg(r, "api_key")) != NULL) {
		if (r->auth == NULL)
			r->auth = "query";
		r->key = key_index(r->sim, SIM_VAST, k);
	}
	return r->key >= 0;
}

static bool
body_object(struct sim_req *r, struct sim_resp *resp, bool required)
{
	if (r->json_bad || (r->json != NULL && !json_is_object(r->json))) {
		vast_err(resp, 400, "invalid_args", "request body is not a "
		    "JSON object");
		return false;
	}
	if (required && r->json == NULL) {
		vast_err(resp, 400, "invalid_args", "request body required");
		return false;
	}
	return true;
}

/* ---- values ---- */

static bool
num_of(json_t *v, double *out)
{
	char	*end;

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		*out = strtod(json_string_value(v), &end);
		return end != json_string_value(v) && *end == '\0';
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return true;
	}
	return false;
}

static int64_t
id_of(const char *s)
{
	char	*end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	v = strtoll(s, &end, 10);
	return *end == '\0' ? v : -1;
}

static json_t *
fnum(double d)
{
	return json_real(d);
}

static double
dollars(money_t m)
{
	return money_to_double(m);
}

/* ---- offers ---- */

static json_t *
offer_json(struct sim *s, size_t k, int slot)
{
	const struct sim_sku	*u = &s->p[SIM_VAST].skus[k];
	int64_t			 ask = u->ask_base + slot;
	int			 n = u->count;
	double			 price = dollars(u->price);
	double			 flops = 82.6 * n, dlperf = 70.0 * n;
	json_t			*o, *bd;
	char			 ip[32];

	(void)snprintf(ip, sizeof(ip), "198.18.%d.%d", (int)k % 250,
	    slot % 250 + 1);
	bd = jpack("{s:o, s:o, s:o, s:o, s:o}",
	    "gpuCostPerHour", fnum(dollars(u->price - u->storage)),
	    "diskHour", fnum(dollars(u->storage)),
	    "totalHour", fnum(price),
	    "discountTotalHour", fnum(0),
	    "discountedTotalPerHour", fnum(price));
	o = jpack("{s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:i, s:i, s:s,"
	    " s:i, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:i}",
	    "id", (json_int_t)ask,
	    "ask_contract_id", (json_int_t)ask,
	    "bundle_id", (json_int_t)(ask + 1000000),
	    "machine_id", (json_int_t)(40000 + (int64_t)k * 1000 + slot),
	    "host_id", (json_int_t)(9000 + (int64_t)k),
	    "gpu_name", u->gpu,
	    "num_gpus", n,
	    "gpu_ram", u->vram_gb * 1024,
	    "gpu_total_ram", u->vram_gb * 1024 * n,
	    "gpu_arch", "nvidia",
	    "compute_cap", 890,
	    "cuda_max_good", fnum(12.4),
	    "driver_version", "550.54.14",
	    "total_flops", fnum(flops),
	    "dlperf", fnum(dlperf),
	    "dlperf_per_dphtotal", fnum(price > 0 ? dlperf / price : 0),
	    "flops_per_dphtotal", fnum(price > 0 ? flops / price : 0),
	    "pcie_bw", fnum(25.0),
	    "pci_gen", 4,
	    "bw_nvlink", 0);
	json_object_update_new(o, jpack("{s:i, s:o, s:i, s:s, s:s, s:o,"
	    " s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o}",
	    "cpu_cores", 32,
	    "cpu_cores_effective", fnum(8.0 * n),
	    "cpu_ram", 64 * 1024 * n,
	    "cpu_name", "AMD EPYC 7B13",
	    "cpu_arch", "amd64",
	    "disk_space", fnum(500.0),
	    "disk_bw", fnum(2000.0),
	    "inet_up", fnum(800.0),
	    "inet_down", fnum(900.0),
	    "inet_up_cost", fnum(0),
	    "inet_down_cost", fnum(0),
	    "direct_port_count", fnum(100),
	    "hosting_type", 0,
	    "public_ipaddr", ip,
	    "gpu_frac", fnum(1.0)));
	json_object_update_new(o, jpack("{s:o, s:o, s:o, s:o, s:o, s:o,"
	    " s:o, s:o, s:o, s:o, s:s, s:s, s:b, s:b, s:b, s:s, s:b, s:o,"
	    " s:o, s:o, s:b, s:o, s:o}",
	    "dph_base", fnum(dollars(u->price - u->storage)),
	    "dph_total", fnum(price),
	    "discounted_dph_total", fnum(price),
	    "min_bid", fnum(dollars(u->min_bid)),
	    "storage_cost", fnum(0.15),
	    "storage_total_cost", fnum(dollars(u->storage)),
	    "reliability", fnum(0.995),
	    "reliability2", fnum(0.995),
	    "score", fnum(100.0 + dlperf / (price > 0 ? price : 1)),
	    "duration", fnum(2592000.0),
	    "geolocation", u->geo,
	    "geolocode", u->region,
	    "rentable", 1,
	    "rented", 0,
	    "external", 0,
	    "verification", "verified",
	    "verified", 1,
	    "start_date", fnum((double)(s->base_virt / 1000)),
	    "end_date", fnum((double)(s->base_virt / 1000) + 2592000.0),
	    "is_bid", json_null(),
	    "static_ip", 1,
	    "search", bd,
	    "instance", json_deep_copy(bd)));
	return o;
}

static bool
ask_rented(struct sim *s, int64_t ask)
{
	size_t	 k;

	for (k = 0; k < s->ninsts; k++)
		if (s->insts[k]->prov == SIM_VAST &&
		    s->insts[k]->ask_id == ask &&
		    sim_inst_holds(s->insts[k]))
			return true;
	return false;
}

/* Country code of a geolocation like "California, US". */
static const char *
geo_country(const char *g)
{
	const char	*c = strrchr(g, ',');

	if (c == NULL)
		return g;
	c++;
	while (*c == ' ')
		c++;
	return c;
}

static bool
eq_one(const char *field, json_t *have, json_t *want)
{
	double		 a, b;
	const char	*hs, *ws;

	if (json_is_null(have) || json_is_null(want))
		return json_is_null(have) && json_is_null(want);
	if (json_is_string(have)) {
		hs = json_string_value(have);
		if (json_is_number(want)) {
			return num_of(have, &a) && num_of(want, &b) && a == b;
		}
		ws = json_string_value(want);
		if (ws == NULL)
			return false;
		if (strcmp(field, "geolocation") == 0)
			return strcasecmp(geo_country(hs), ws) == 0 ||
			    strcasecmp(hs, ws) == 0;
		return strcmp(hs, ws) == 0;
	}
	if (json_is_boolean(have)) {
		if (json_is_string(want))
			return strcmp(json_string_value(want),
			    json_is_true(have) ? "true" : "false") == 0;
		return num_of(want, &b) && (b != 0) == json_is_true(have);
	}
	return num_of(have, &a) && num_of(want, &b) && a == b;
}

static int
cmp_vals(json_t *have, json_t *want, int *out)
{
	double	 a, b;

	if (json_is_string(have) && json_is_string(want) &&
	    !num_of(want, &b)) {
		*out = strcmp(json_string_value(have), json_string_value(want));
		return 0;
	}
	if (!num_of(have, &a) || !num_of(want, &b))
		return -1;
	*out = a < b ? -1 : a > b;
	return 0;
}

/*
 * Does row satisfy the Vast-style query {field: {op: value}}?  1 yes,
 * 0 no, -1 a bad query (message in err).  Fields the row lacks are not
 * filtered on; keys in skip are not fields.
 */
static int
query_match(json_t *row, json_t *q, const char *const *skip, size_t nskip,
    char *err, size_t errlen)
{
	const char	*field, *op;
	json_t		*cond, *have, *want, *e;
	size_t		 k, i;
	int		 c;
	bool		 any;

	json_object_foreach(q, field, cond) {
		for (k = 0; k < nskip; k++)
			if (strcmp(skip[k], field) == 0)
				break;
		if (k < nskip)
			continue;
		have = json_object_get(row, field);
		if (have == NULL)
			continue;
		if (!json_is_object(cond)) {
			if (!eq_one(field, have, cond))
				return 0;
			continue;
		}
		json_object_foreach(cond, op, want) {
			if (strcmp(op, "eq") == 0) {
				if (!eq_one(field, have, want))
					return 0;
			} else if (strcmp(op, "neq") == 0) {
				if (eq_one(field, have, want))
					return 0;
			} else if (strcmp(op, "in") == 0 ||
			    strcmp(op, "notin") == 0) {
				if (!json_is_array(want)) {
					(void)snprintf(err, errlen, "%s: '%s' "
					    "takes a list", field, op);
					return -1;
				}
				any = false;
				json_array_foreach(want, i, e)
					if (eq_one(field, have, e))
						any = true;
				if (any != (op[0] == 'i'))
					return 0;
			} else if (strcmp(op, "gt") == 0 ||
			    strcmp(op, "gte") == 0 || strcmp(op, "lt") == 0 ||
			    strcmp(op, "lte") == 0) {
				if (cmp_vals(have, want, &c) == -1)
					return 0;
				if ((strcmp(op, "gt") == 0 && !(c > 0)) ||
				    (strcmp(op, "gte") == 0 && !(c >= 0)) ||
				    (strcmp(op, "lt") == 0 && !(c < 0)) ||
				    (strcmp(op, "lte") == 0 && !(c <= 0)))
					return 0;
			} else {
				(void)snprintf(err, errlen, "%s: unknown "
				    "operator '%s'", field, op);
				return -1;
			}
		}
	}
	return 1;
}

struct sortkey {
	const char	*col;
	bool		 desc;
};

static const struct sortkey *cur_keys;
static size_t cur_nkeys;

static int
row_cmp(const void *a, const void *b)
{
	json_t	*ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
	size_t	 k;
	int	 c;

	for (k = 0; k < cur_nkeys; k++) {
		if (cmp_vals(json_object_get(ra, cur_keys[k].col),
		    json_object_get(rb, cur_keys[k].col), &c) == -1)
			c = 0;
		if (c != 0)
			return cur_keys[k].desc ? -c : c;
	}
	/* ties: by id, ascending, so paging is stable */
	if (cmp_vals(json_object_get(ra, "id"), json_object_get(rb, "id"),
	    &c) == -1)
		return 0;
	return c;
}

/* Sort rows (called with the state mutex held: cur_keys is shared). */
static void
rows_sort(json_t **rows, size_t n, const struct sortkey *keys, size_t nk)
{
	cur_keys = keys;
	cur_nkeys = nk;
	if (n > 1)	/* qsort(NULL, 0, ...) is undefined */
		qsort(rows, n, sizeof(*rows), row_cmp);
	cur_keys = NULL;
	cur_nkeys = 0;
}

static const char *const bundle_skip[] = {
	"order", "type", "limit", "allocated_storage", "disable_bundling",
	"extra_ids", "show_incompatible", "sort_option", "select_cols", "q",
};

static void
search_offers(struct sim_req *r, struct sim_resp *resp, json_t *q)
{
	struct sim	*s = r->sim;
	json_t		**rows = NULL, *arr, *order, *e, *lim;
	size_t		 n = 0, k, nk = 0;
	int		 slot, m;
	struct sortkey	 keys[4];
	const char	*type = NULL;
	char		 err[200];
	double		 limit = 1000;
	bool		 bid;

	if (q != NULL && !json_is_object(q)) {
		vast_err(resp, 400, "invalid_args", "the query must be a "
		    "JSON object");
		return;
	}
	if (q != NULL)
		type = json_string_value(json_object_get(q, "type"));
	if (type != NULL && strcmp(type, "on-demand") != 0 &&
	    strcmp(type, "ondemand") != 0 && strcmp(type, "bid") != 0 &&
	    strcmp(type, "interruptible") != 0 &&
	    strcmp(type, "reserved") != 0) {
		vast_err(resp, 400, "invalid_args", "type must be on-demand, "
		    "bid or reserved");
		return;
	}
	bid = type != NULL && (strcmp(type, "bid") == 0 ||
	    strcmp(type, "interruptible") == 0);
	if (q != NULL && (lim = json_object_get(q, "limit")) != NULL &&
	    (!num_of(lim, &limit) || limit < 0)) {
		vast_err(resp, 400, "invalid_args", "limit must be a number");
		return;
	}
	for (k = 0; k < s->p[SIM_VAST].nskus; k++) {
		const struct sim_sku *u = &s->p[SIM_VAST].skus[k];

		if (bid && u->min_bid <= 0)
			continue;
		for (slot = 0; slot < u->capacity; slot++) {
			if (ask_rented(s, u->ask_base + slot))
				continue;
			e = offer_json(s, k, slot);
			if (bid)
				json_object_set_new(e, "is_bid", json_true());
			m = q != NULL ? query_match(e, q, bundle_skip,
			    nitems(bundle_skip), err, sizeof(err)) : 1;
			if (m == -1) {
				json_decref(e);
				while (n > 0)
					json_decref(rows[--n]);
				free(rows);
				vast_err(resp, 400, "invalid_args", err);
				return;
			}
			if (m == 0) {
				json_decref(e);
				continue;
			}
			rows = xreallocarray(rows, n + 1, sizeof(*rows));
			rows[n++] = e;
		}
	}
	order = q != NULL ? json_object_get(q, "order") : NULL;
	if (json_is_array(order)) {
		json_array_foreach(order, k, e) {
			if (nk == nitems(keys))
				break;
			if (json_is_array(e) &&
			    json_is_string(json_array_get(e, 0))) {
				keys[nk].col = json_string_value(
				    json_array_get(e, 0));
				keys[nk].desc = json_is_string(json_array_get(e,
				    1)) && strcmp(json_string_value(
				    json_array_get(e, 1)), "desc") == 0;
				nk++;
			}
		}
	} else {
		keys[0].col = "score";
		keys[0].desc = true;
		nk = 1;
	}
	rows_sort(rows, n, keys, nk);
	arr = json_array();
	for (k = 0; k < n; k++) {
		if ((double)k < limit)
			json_array_append_new(arr, rows[k]);
		else
			json_decref(rows[k]);
	}
	free(rows);
	resp_json(resp, 200, jpack("{s:o}", "offers", arr), NULL);
}

static void
h_bundles(struct sim_req *r, struct sim_resp *resp)
{
	json_t		*q = NULL;
	json_error_t	 je;
	const char	*qs;

	if (strcmp(r->method, "GET") == 0) {
		qs = req_arg(r, "q");
		if (qs != NULL && (q = json_loads(qs, 0, &je)) == NULL) {
			vast_err(resp, 400, "invalid_args", "q is not JSON");
			return;
		}
		search_offers(r, resp, q);
		json_decref(q);
		return;
	}
	if (!body_object(r, resp, false))
		return;
	search_offers(r, resp, r->json);
}

static void
h_search_asks(struct sim_req *r, struct sim_resp *resp)
{
	if (!body_object(r, resp, false))
		return;
	search_offers(r, resp, r->json != NULL ?
	    json_object_get(r->json, "q") : NULL);
}

/* ---- instances ---- */

static json_t *
extra_env(struct sim_inst *i)
{
	json_t		*arr = json_array(), *v;
	const char	*k;

	json_object_foreach(i->env, k, v) {
		/* docker flags such as "-p 8080:8080" are not env */
		if (k[0] == '-')
			continue;
		json_array_append_new(arr, jpack("[s, O]", k, v));
	}
	return arr;
}

static void inst_extras(struct sim *, struct sim_inst *, json_t *);

json_t *
vast_inst_json(struct sim *s, struct sim_inst *i, int64_t now)
{
	json_t		*o, *actual, *ports, *bd, *x;
	const char	*intended, *cur, *next;
	const struct sim_sku *u = NULL;
	double		 price = dollars(i->price);
	int64_t		 up;

	if (i->extra == NULL)
		inst_extras(s, i, NULL);
	x = i->extra;
	if (i->sku >= 0 && (size_t)i->sku < s->p[SIM_VAST].nskus)
		u = &s->p[SIM_VAST].skus[i->sku];
	intended = "running";
	cur = "running";
	next = "running";
	switch (i->phase) {
	case PH_PROVISION:
		actual = json_null();
		break;
	case PH_STARTING:
		actual = json_string("loading");
		break;
	case PH_RUNNING:
		actual = json_string("running");
		break;
	case PH_STOPPING:
		actual = json_string("running");
		intended = "stopped";
		next = "stopped";
		break;
	case PH_STOPPED:
		actual = json_string("stopped");
		intended = cur = next = "stopped";
		break;
	case PH_INTERRUPTED:
		actual = json_string("stopped");
		cur = "stopped";
		break;
	case PH_FAILED:
		actual = json_string("exited");
		break;
	default:
		actual = json_string("stopped");
		intended = "stopped";
		cur = next = "unloaded";
		break;
	}
	up = i->phase == PH_RUNNING && i->started_ms >= 0 ?
	    now - i->started_ms : 0;
	ports = json_object();
	if (i->phase == PH_RUNNING)
		json_object_set_new(ports, "22/tcp", jpack("[{s:s, s:s}]",
		    "HostIp", "0.0.0.0", "HostPort", json_string_value(
		    json_object_get(x, "host_port"))));
	bd = jpack("{s:o, s:o, s:o, s:o, s:o}",
	    "gpuCostPerHour", fnum(dollars(i->price - i->storage)),
	    "diskHour", fnum(dollars(i->storage)),
	    "totalHour", fnum(price),
	    "discountTotalHour", fnum(0),
	    "discountedTotalPerHour", fnum(price));
	o = jpack("{s:I, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o,"
	    " s:o, s:o, s:o, s:o, s:s}",
	    "id", (json_int_t)i->num_id,
	    "actual_status", actual,
	    "intended_status", intended,
	    "cur_state", cur,
	    "next_state", next,
	    "status_msg", i->status_msg[0] != '\0' ? i->status_msg :
	    i->phase == PH_RUNNING ? "success, running" :
	    i->phase == PH_STARTING ? "Pulling image" : "",
	    "label", i->label != NULL ? json_string(i->label) : json_null(),
	    "image_uuid", i->image != NULL ? i->image : "",
	    "image_runtype", json_string_value(json_object_get(x,
	    "runtype")) != NULL ? json_string_value(json_object_get(x,
	    "runtype")) : "ssh",
	    "image_args", json_is_array(json_object_get(x, "args")) ?
	    json_incref(json_object_get(x, "args")) : json_array(),
	    "extra_env", extra_env(i),
	    "onstart", i->onstart != NULL ? json_string(i->onstart) :
	    json_null(),
	    "template_id", json_null(),
	    "template_hash_id", json_null(),
	    "jupyter_token", json_string_value(json_object_get(x, "token")));
	json_object_update_new(o, jpack("{s:O, s:o, s:s, s:i, s:O, s:O,"
	    " s:O, s:O, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "public_ipaddr", json_object_get(x, "ip"),
	    "local_ipaddrs", json_string("10.0.0.2"),
	    "ssh_host", json_string_value(json_object_get(x, "ssh_host")),
	    "ssh_idx", 1,
	    "ssh_port", json_object_get(x, "ssh_port"),
	    "machine_dir_ssh_port", json_object_get(x, "ssh_port"),
	    "direct_port_start", json_object_get(x, "ssh_port"),
	    "direct_port_end", json_object_get(x, "ssh_port"),
	    "ports", ports,
	    "start_date", fnum((double)i->created_ms / 1000.0),
	    "end_date", i->end_ms >= 0 ?
	    fnum((double)i->end_ms / 1000.0) : json_null(),
	    "uptime_mins", fnum((double)(up / 60000)),
	    "duration", fnum((double)(now - i->created_ms) / 1000.0),
	    "time_remaining", json_string("")));
	json_object_update_new(o, jpack("{s:o, s:o, s:b, s:o, s:o, s:o,"
	    " s:o, s:O, s:o}",
	    "dph_base", fnum(dollars(i->price - i->storage)),
	    "dph_total", fnum(price),
	    "is_bid", i->interruptible,
	    "min_bid", fnum(u != NULL ? dollars(u->min_bid) : 0),
	    "storage_cost", fnum(0.15),
	    "storage_total_cost", fnum(dollars(i->storage)),
	    "search", bd,
	    "instance", bd,
	    "credit_balance", json_null()));
	json_object_update_new(o, jpack("{s:s, s:i, s:i, s:i, s:o, s:o,"
	    " s:i, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "gpu_name", i->gpu != NULL ? i->gpu : "",
	    "num_gpus", i->gpus,
	    "gpu_ram", i->vram_gb * 1024,
	    "gpu_totalram", i->vram_gb * 1024 * i->gpus,
	    "gpu_util", fnum(i->phase == PH_RUNNING ? 12.5 : 0),
	    "gpu_temp", fnum(i->phase == PH_RUNNING ? 45.0 : 0),
	    "cpu_cores", 32,
	    "cpu_cores_effective", fnum(8.0 * i->gpus),
	    "cpu_ram", 64 * 1024 * i->gpus,
	    "cpu_util", fnum(0.5),
	    "mem_usage", fnum(1.2),
	    "mem_limit", fnum(64.0 * i->gpus),
	    "vmem_usage", fnum(0.8),
	    "disk_space", fnum((double)i->disk_gb),
	    "disk_usage", fnum(2.5),
	    "disk_util", fnum(0.1)));
	json_object_update_new(o, jpack("{s:O, s:O, s:s, s:s, s:o, s:o}",
	    "machine_id", json_object_get(x, "machine_id"),
	    "host_id", json_object_get(x, "host_id"),
	    "geolocation", u != NULL ? u->geo : (i->region != NULL ?
	    i->region : ""),
	    "verification", "verified",
	    "reliability2", fnum(0.995),
	    "volume_info", json_null()));
	return o;
}

/* Fill the per-instance extras every row shows. */
static void
inst_extras(struct sim *s, struct sim_inst *i, json_t *body)
{
	char	*ip = sim_next_ip(s), tok[33], port[16];
	int	 p = 20000 + (int)(i->num_id % 40000);
	json_t	*args = body != NULL ? json_object_get(body, "args") : NULL;
	const char *rt = body != NULL ? json_string_value(json_object_get(body,
	    "runtype")) : NULL;

	sim_rand_id(s, tok, sizeof(tok), "0123456789abcdef");
	(void)snprintf(port, sizeof(port), "%d", p + 1);
	i->extra = jpack("{s:s, s:i, s:s, s:s, s:I, s:I, s:s, s:O, s:s}",
	    "ip", ip,
	    "ssh_port", p,
	    "host_port", port,
	    "ssh_host", "ssh1.vast.sim.invalid",
	    "machine_id", (json_int_t)(40000 + (i->ask_id % 100000)),
	    "host_id", (json_int_t)(9000 + i->sku),
	    "token", tok,
	    "args", json_is_array(args) ? args : json_null(),
	    "runtype", rt != NULL ? rt : "ssh");
	free(ip);
}

/* env as a dict, or a docker-flags string "-e K=V -p 8000:8000". */
static bool
parse_env(json_t *v, json_t *out)
{
	const char	*k, *s;
	json_t		*e;
	char		*dup, *tok, *save = NULL, *eq;
	bool		 want_e = false, want_p = false;

	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_object(v)) {
		json_object_foreach(v, k, e) {
			if (json_is_string(e))
				json_object_set(out, k, e);
			else if (json_is_number(e) || json_is_boolean(e)) {
				char *t = json_dumps(e, JSON_ENCODE_ANY);

				json_object_set_new(out, k, json_string(t));
				free(t);
			} else
				return false;
		}
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	dup = xstrdup(s);
	for (tok = strtok_r(dup, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (want_e) {
			eq = strchr(tok, '=');
			if (eq != NULL) {
				*eq = '\0';
				json_object_set_new(out, tok,
				    json_string(eq + 1));
			}
			want_e = false;
		} else if (want_p) {
			char *flag = xasprintf("-p %s", tok);

			json_object_set_new(out, flag, json_string("1"));
			free(flag);
			want_p = false;
		} else if (strcmp(tok, "-e") == 0)
			want_e = true;
		else if (strcmp(tok, "-p") == 0)
			want_p = true;
	}
	free(dup);
	return true;
}

static void
created_reply(struct sim *s, struct sim_resp *resp, struct sim_inst *i)
{
	char	 key[65];

	sim_rand_id(s, key, sizeof(key), "0123456789abcdef");
	resp_json(resp, 200, jpack("{s:b, s:I, s:s}", "success", 1,
	    "new_contract", (json_int_t)i->num_id, "instance_api_key", key),
	    NULL);
}

/* Rent ask (slot of sku k) with the create body; false: resp has why. */
static struct sim_inst *
rent(struct sim_req *r, struct sim_resp *resp, size_t k, int64_t ask,
    json_t *b)
{
	struct sim		*s = r->sim;
	const struct sim_sku	*u = &s->p[SIM_VAST].skus[k];
	struct sim_inst		*i;
	json_t			*v, *env;
	const char		*image, *label, *ts;
	money_t			 bid = 0;
	double			 disk = 10;

	image = json_string_value(json_object_get(b, "image"));
	if (image == NULL || *image == '\0' || strlen(image) > 1024) {
		vast_err(resp, 400, "invalid_args", "image is required (at "
		    "most 1024 characters)");
		return NULL;
	}
	v = json_object_get(b, "label");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		vast_err(resp, 400, "invalid_args", "label must be a string");
		return NULL;
	}
	label = json_string_value(v);
	if (label != NULL && strlen(label) > 256) {
		vast_err(resp, 400, "label_too_long", "label is longer than "
		    "256 characters");
		return NULL;
	}
	if ((v = json_object_get(b, "disk")) != NULL && !json_is_null(v) &&
	    (!num_of(v, &disk) || disk < 8 || disk > 100000)) {
		vast_err(resp, 400, "invalid_args", "disk must be at least 8 "
		    "GB");
		return NULL;
	}
	if ((v = json_object_get(b, "price")) != NULL && !json_is_null(v)) {
		double p;

		if (!num_of(v, &p) || p < 0.001 || p > 128) {
			vast_err(resp, 400, "invalid_price", "price must be "
			    "from 0.001 to 128");
			return NULL;
		}
		bid = (money_t)llround(p * 1e6);
		if (u->min_bid <= 0 || bid < u->min_bid) {
			vast_err(resp, 400, "invalid_price", "bid price is "
			    "below the minimum bid for this offer");
			return NULL;
		}
	}
	ts = json_string_value(json_object_get(b, "target_state"));
	if (ts != NULL && strcmp(ts, "running") != 0 &&
	    strcmp(ts, "stopped") != 0) {
		vast_err(resp, 400, "invalid_args", "target_state must be "
		    "running or stopped");
		return NULL;
	}
	env = json_object();
	if (!parse_env(json_object_get(b, "env"), env)) {
		json_decref(env);
		vast_err(resp, 400, "invalid_args", "env must be an object or "
		    "a string of docker flags");
		return NULL;
	}
	i = sim_inst_new(s, SIM_VAST, r->now);
	json_decref(i->env);
	i->env = env;
	i->sku = (int)k;
	i->ask_id = ask;
	i->gpu = xstrdup(u->gpu);
	i->region = xstrdup(u->region);
	i->gpus = u->count;
	i->vram_gb = u->vram_gb;
	i->interruptible = bid > 0;
	i->bid = bid;
	i->price = bid > 0 ? bid : u->price;
	i->storage = u->storage;
	i->disk_gb = (int)disk;
	i->label = label != NULL ? xstrdup(label) : NULL;
	i->image = xstrdup(image);
	v = json_object_get(b, "onstart");
	if (json_is_string(v))
		i->onstart = xstrdup(json_string_value(v));
	inst_extras(s, i, b);
	if (ts != NULL && strcmp(ts, "stopped") == 0)
		sim_inst_set_phase(s, i, PH_STOPPED, r->now);
	else
		sim_inst_boot(s, i, r->now);
	fault_on_create(s, r, i);
	sim_tick(s, r->now);
	return i;
}

static void
h_create(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	int64_t		 ask = id_of(r->seg[0]);
	size_t		 k;
	struct sim_inst	*i;
	char		 msg[160];

	if (!body_object(r, resp, true))
		return;
	for (k = 0; ask >= 0 && k < s->p[SIM_VAST].nskus; k++) {
		const struct sim_sku *u = &s->p[SIM_VAST].skus[k];

		if (ask < u->ask_base || ask >= u->ask_base + 100000)
			continue;
		if (ask >= u->ask_base + u->capacity ||
		    ask_rented(s, ask)) {
			(void)snprintf(msg, sizeof(msg), "error 410/3603: "
			    "no_such_ask Instance type by id %" PRId64 " is no "
			    "longer available.", ask);
			resp_json(resp, 410, jpack("{s:b, s:s, s:s, s:I}",
			    "success", 0, "error", "no_such_ask", "msg", msg,
			    "ask_id", (json_int_t)ask), NULL);
			return;
		}
		if ((i = rent(r, resp, k, ask, r->json)) != NULL)
			created_reply(s, resp, i);
		return;
	}
	(void)snprintf(msg, sizeof(msg), "error 404/3603: no_such_ask Instance "
	    "type by id %s is not available.", r->seg[0]);
	resp_json(resp, 404, jpack("{s:b, s:s, s:s, s:I}", "success", 0,
	    "error", "invalid_args", "msg", msg, "ask_id",
	    (json_int_t)(ask < 0 ? 0 : ask)), NULL);
}

/* PUT /api/v0/launch_instance/: the server picks the cheapest offer. */
static void
h_launch(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	const char	*gpu, *region;
	double		 n = 1;
	size_t		 k;
	int		 best = -1, slot, best_slot = 0;
	char		 want[64], *p;
	struct sim_inst	*i;

	if (!body_object(r, resp, true))
		return;
	gpu = json_string_value(json_object_get(r->json, "gpu_name"));
	region = json_string_value(json_object_get(r->json, "region"));
	if (gpu == NULL || (json_object_get(r->json, "num_gpus") != NULL &&
	    !num_of(json_object_get(r->json, "num_gpus"), &n))) {
		resp_json(resp, 400, jpack("{s:b, s:s, s:s}", "success", 0,
		    "error", "invalid_args", "message", "gpu_name and "
		    "num_gpus are required"), NULL);
		return;
	}
	(void)snprintf(want, sizeof(want), "%s", gpu);
	for (p = want; *p != '\0'; p++)
		if (*p == '_')
			*p = ' ';
	for (k = 0; k < s->p[SIM_VAST].nskus; k++) {
		const struct sim_sku *u = &s->p[SIM_VAST].skus[k];

		if (strcasecmp(u->gpu, want) != 0 || u->count != (int)n)
			continue;
		if (region != NULL && strcasecmp(region, u->region) != 0 &&
		    strcasecmp(region, geo_country(u->geo)) != 0 &&
		    strcasecmp(region, u->geo) != 0)
			continue;
		for (slot = 0; slot < u->capacity; slot++)
			if (!ask_rented(s, u->ask_base + slot))
				break;
		if (slot == u->capacity)
			continue;
		if (best < 0 || u->price < s->p[SIM_VAST].skus[best].price) {
			best = (int)k;
			best_slot = slot;
		}
	}
	if (best < 0) {
		resp_json(resp, 404, jpack("{s:b, s:s, s:s}", "success", 0,
		    "error", "no_offers", "message", "No offers found matching "
		    "your requirements; none are available right now."), NULL);
		return;
	}
	i = rent(r, resp, (size_t)best, s->p[SIM_VAST].skus[best].ask_base +
	    best_slot, r->json);
	if (i != NULL)
		created_reply(s, resp, i);
}

static bool
listed(struct sim_inst *i, int64_t now)
{
	return i->prov == SIM_VAST && sim_inst_live(i) && i->visible_ms <= now;
}

static void
h_list_v0(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*arr = json_array();
	size_t		 k;

	for (k = 0; k < s->ninsts; k++)
		if (listed(s->insts[k], r->now))
			json_array_append_new(arr, vast_inst_json(s,
			    s->insts[k], r->now));
	resp_json(resp, 200, jpack("{s:I, s:o}", "instances_found",
	    (json_int_t)json_array_size(arr), "instances", arr), NULL);
}

/* Columns v1 refuses to filter on: computed ones (VD show_instances). */
static const char *const v1_computed[] = {
	"dph_total", "dph_base", "duration", "uptime_mins", "time_remaining",
	"storage_total_cost", "credit_balance", "search", "instance",
	"ports", "extra_env", "gpu_util", "cpu_util", "mem_usage",
	"disk_usage", "disk_util", "vmem_usage", "gpu_temp",
};

static json_t *
arg_json(struct sim_req *r, struct sim_resp *resp, const char *name)
{
	const char	*v = req_arg(r, name);
	json_t		*j;
	json_error_t	 je;
	char		 msg[128];

	if (v == NULL)
		return NULL;
	j = json_loads(v, JSON_DECODE_ANY, &je);
	if (j == NULL) {
		(void)snprintf(msg, sizeof(msg), "%s is not valid JSON", name);
		vast_err(resp, 400, "invalid_args", msg);
	}
	return j;
}

static void
h_list_v1(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*filt = NULL, *ord = NULL, *cols = NULL, *e, *arr;
	json_t		*counts, **rows = NULL, *row;
	size_t		 n = 0, k, j, start = 0, nk = 0;
	struct sortkey	 keys[4];
	const char	*tok = req_arg(r, "after_token"), *lim, *col;
	char		 err[200], next[32], *end;
	long		 limit = V1_LIMIT_MAX;
	bool		 by_id = true, bad = false;
	int		 m;

	if ((req_arg(r, "select_filters") != NULL &&
	    (filt = arg_json(r, resp, "select_filters")) == NULL) ||
	    (req_arg(r, "order_by") != NULL &&
	    (ord = arg_json(r, resp, "order_by")) == NULL) ||
	    (req_arg(r, "select_cols") != NULL &&
	    (cols = arg_json(r, resp, "select_cols")) == NULL))
		goto out;
	if ((lim = req_arg(r, "limit")) != NULL) {
		limit = strtol(lim, &end, 10);
		if (*lim == '\0' || *end != '\0' || limit < 1) {
			vast_err(resp, 400, "invalid_args", "limit must be a "
			    "positive number");
			goto out;
		}
		if (limit > V1_LIMIT_MAX)
			limit = V1_LIMIT_MAX;
	}
	if (filt != NULL && !json_is_object(filt)) {
		vast_err(resp, 400, "invalid_args", "select_filters must be "
		    "an object");
		goto out;
	}
	if (filt != NULL) {
		for (k = 0; k < nitems(v1_computed); k++) {
			if (json_object_get(filt, v1_computed[k]) == NULL)
				continue;
			(void)snprintf(err, sizeof(err), "%s is a computed "
			    "column and cannot be filtered on", v1_computed[k]);
			vast_err(resp, 400, "invalid_args", err);
			goto out;
		}
	}
	if (json_is_array(ord)) {
		json_array_foreach(ord, k, e) {
			col = json_string_value(json_object_get(e, "col"));
			if (col == NULL || nk == nitems(keys))
				continue;
			keys[nk].col = col;
			keys[nk].desc = json_is_string(json_object_get(e,
			    "dir")) && strcasecmp(json_string_value(
			    json_object_get(e, "dir")), "desc") == 0;
			if (strcmp(col, "id") != 0 || nk > 0)
				by_id = false;
			nk++;
		}
	}
	if (nk == 0) {
		keys[0].col = "id";
		keys[0].desc = false;
		nk = 1;
	}
	counts = json_object();
	for (k = 0; k < s->ninsts; k++) {
		if (!listed(s->insts[k], r->now))
			continue;
		row = vast_inst_json(s, s->insts[k], r->now);
		m = filt != NULL ? query_match(row, filt, NULL, 0, err,
		    sizeof(err)) : 1;
		if (m != 1) {
			json_decref(row);
			if (m == -1) {
				bad = true;
				break;
			}
			continue;
		}
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n++] = row;
		col = json_string_value(json_object_get(row, "label"));
		json_object_set_new(counts, col != NULL ? col : "",
		    json_integer(json_integer_value(json_object_get(counts,
		    col != NULL ? col : "")) + 1));
	}
	if (bad) {
		json_decref(counts);
		vast_err(resp, 400, "invalid_args", err);
		goto out_rows;
	}
	rows_sort(rows, n, keys, nk);
	if (tok != NULL && *tok != '\0') {
		int64_t	 t = strtoll(tok + 1, &end, 10);

		if ((tok[0] != 'k' && tok[0] != 'o') || *end != '\0' || t < 0) {
			json_decref(counts);
			vast_err(resp, 400, "invalid_args", "bad after_token");
			goto out_rows;
		}
		if (tok[0] == 'o')
			start = (size_t)t;
		else {
			/* keyset: the first row past the last id seen */
			for (start = 0; start < n; start++) {
				int64_t id = json_integer_value(
				    json_object_get(rows[start], "id"));

				if (keys[0].desc ? id < t : id > t)
					break;
			}
		}
	}
	arr = json_array();
	for (k = start; k < n && k < start + (size_t)limit; k++) {
		if (json_is_array(cols) && !(json_array_size(cols) == 1 &&
		    json_is_string(json_array_get(cols, 0)) &&
		    strcmp(json_string_value(json_array_get(cols, 0)), "*") ==
		    0)) {
			json_t *sel = json_object();

			json_object_set(sel, "id", json_object_get(rows[k],
			    "id"));
			json_array_foreach(cols, j, e) {
				if (json_is_string(e) &&
				    json_object_get(rows[k],
				    json_string_value(e)) != NULL)
					json_object_set(sel,
					    json_string_value(e),
					    json_object_get(rows[k],
					    json_string_value(e)));
			}
			json_array_append_new(arr, sel);
		} else
			json_array_append(arr, rows[k]);
	}
	next[0] = '\0';
	if (start + (size_t)limit < n) {
		if (by_id)
			(void)snprintf(next, sizeof(next), "k%" PRId64,
			    (int64_t)json_integer_value(json_object_get(
			    rows[start + (size_t)limit - 1], "id")));
		else
			(void)snprintf(next, sizeof(next), "o%zu",
			    start + (size_t)limit);
	}
	resp_json(resp, 200, jpack("{s:b, s:I, s:I, s:o, s:o, s:o}",
	    "success", 1,
	    "instances_found", (json_int_t)json_array_size(arr),
	    "total_instances", (json_int_t)n,
	    "label_counts", counts,
	    "next_token", next[0] != '\0' ? json_string(next) : json_null(),
	    "instances", arr), NULL);
out_rows:
	for (k = 0; k < n; k++)
		json_decref(rows[k]);
	free(rows);
out:
	json_decref(filt);
	json_decref(ord);
	json_decref(cols);
}

static struct sim_inst *
find_or_404(struct sim_req *r, struct sim_resp *resp, const char *id)
{
	struct sim_inst	*i = sim_inst_find(r->sim, SIM_VAST, id);

	if (i == NULL)
		vast_err(resp, 404, "not_found", "Instance not found");
	return i;
}

static void
h_show(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = sim_inst_find(r->sim, SIM_VAST, r->seg[0]);

	resp_json(resp, 200, jpack("{s:o}", "instances", i != NULL ?
	    vast_inst_json(r->sim, i, r->now) : json_null()), NULL);
}

/* Apply {"state": ..., "label": ...} to one instance; false: resp set. */
static bool
manage_one(struct sim_req *r, struct sim_resp *resp, struct sim_inst *i,
    json_t *b)
{
	struct sim	*s = r->sim;
	json_t		*lv = json_object_get(b, "label");
	const char	*st = json_string_value(json_object_get(b, "state"));

	if (lv != NULL && !json_is_null(lv) && !json_is_string(lv)) {
		vast_err(resp, 400, "invalid_args", "label must be a string");
		return false;
	}
	if (json_is_string(lv) && json_string_length(lv) > 1024) {
		vast_err(resp, 400, "label_too_long", "label is longer than "
		    "1024 characters");
		return false;
	}
	if (st != NULL && strcmp(st, "running") != 0 &&
	    strcmp(st, "stopped") != 0) {
		vast_err(resp, 400, "invalid_args", "state must be running or "
		    "stopped");
		return false;
	}
	if (st == NULL && lv == NULL) {
		vast_err(resp, 400, "invalid_args", "nothing to change: give "
		    "state or label");
		return false;
	}
	if (st != NULL && i->phase == PH_TERMINATING) {
		vast_err(resp, 400, "invalid_args", "instance is being "
		    "destroyed");
		return false;
	}
	if (lv != NULL) {
		free(i->label);
		i->label = json_is_string(lv) ? xstrdup(json_string_value(lv)) :
		    NULL;
	}
	if (st != NULL && strcmp(st, "running") == 0 &&
	    (i->phase == PH_STOPPED || i->phase == PH_INTERRUPTED ||
	    i->phase == PH_FAILED || i->phase == PH_STOPPING))
		sim_inst_boot(s, i, r->now);
	else if (st != NULL && strcmp(st, "stopped") == 0 &&
	    (i->phase == PH_PROVISION || i->phase == PH_STARTING ||
	    i->phase == PH_RUNNING || i->phase == PH_FAILED))
		sim_inst_stop(s, i, r->now);
	sim_tick(s, r->now);
	return true;
}

static void
h_manage(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;

	if (!body_object(r, resp, true))
		return;
	if ((i = find_or_404(r, resp, r->seg[0])) == NULL)
		return;
	if (manage_one(r, resp, i, r->json))
		resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_manage_bulk(struct sim_req *r, struct sim_resp *resp)
{
	json_t		*ids, *e;
	size_t		 k, found = 0;
	struct sim_inst	*i;
	char		 id[32];

	if (!body_object(r, resp, true))
		return;
	ids = json_object_get(r->json, "ids");
	if (!json_is_array(ids)) {
		vast_err(resp, 400, "invalid_args", "ids must be a list");
		return;
	}
	json_array_foreach(ids, k, e) {
		if (json_is_integer(e))
			(void)snprintf(id, sizeof(id), "%lld",
			    (long long)json_integer_value(e));
		else
			(void)snprintf(id, sizeof(id), "%s",
			    json_is_string(e) ? json_string_value(e) : "");
		if ((i = sim_inst_find(r->sim, SIM_VAST, id)) == NULL)
			continue;
		found++;
		if (!manage_one(r, resp, i, r->json))
			return;
	}
	if (found == 0 && json_array_size(ids) > 0) {
		vast_err(resp, 404, "not_found", "Instance not found");
		return;
	}
	resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_reboot(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = find_or_404(r, resp, r->seg[0]);
	bool		 recycle = strcmp(r->pseg[3], "recycle") == 0;

	if (i == NULL)
		return;
	if (i->phase != PH_RUNNING && i->phase != PH_FAILED &&
	    i->phase != PH_STARTING) {
		vast_err(resp, 400, "invalid_args", "instance is not running");
		return;
	}
	/* reboot restarts the container; recycle pulls the image again */
	sim_inst_set_phase(r->sim, i, recycle ? PH_PROVISION : PH_STARTING,
	    r->now);
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_bid_price(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	double		 p;
	money_t		 m, floor = 0;

	if (!body_object(r, resp, true))
		return;
	if ((i = find_or_404(r, resp, r->seg[0])) == NULL)
		return;
	if (!i->interruptible) {
		vast_err(resp, 400, "invalid_args", "not an interruptible "
		    "instance");
		return;
	}
	if (!num_of(json_object_get(r->json, "price"), &p) || p < 0.001 ||
	    p > 128) {
		vast_err(resp, 400, "invalid_price", "price must be from "
		    "0.001 to 128");
		return;
	}
	m = (money_t)llround(p * 1e6);
	if (i->sku >= 0)
		floor = r->sim->p[SIM_VAST].skus[i->sku].min_bid;
	if (m < floor) {
		vast_err(resp, 400, "invalid_price", "bid price is below the "
		    "minimum bid for this machine");
		return;
	}
	i->bid = m;
	sim_inst_reprice(r->sim, i, m, r->now);
	if (i->phase == PH_INTERRUPTED)
		sim_inst_boot(r->sim, i, r->now);
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_request_logs(struct sim_req *r, struct sim_resp *resp)
{
	char	 url[128];

	if (find_or_404(r, resp, r->seg[0]) == NULL)
		return;
	(void)snprintf(url, sizeof(url), "https://logs.vast.sim.invalid/%s.log",
	    r->seg[0]);
	resp_json(resp, 200, jpack("{s:b, s:s}", "success", 1,
	    "result_url", url), NULL);
}

static void
h_destroy(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;

	if (!body_object(r, resp, false))
		return;
	if ((i = find_or_404(r, resp, r->seg[0])) == NULL)
		return;
	if (i->phase != PH_TERMINATING)
		sim_inst_terminate(r->sim, i, r->now);
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_destroy_bulk(struct sim_req *r, struct sim_resp *resp)
{
	json_t		*ids, *e;
	size_t		 k;
	struct sim_inst	*i;
	char		 id[32];

	if (!body_object(r, resp, true))
		return;
	ids = json_object_get(r->json, "instance_ids");
	if (!json_is_array(ids)) {
		vast_err(resp, 400, "invalid_args", "instance_ids must be a "
		    "list");
		return;
	}
	json_array_foreach(ids, k, e) {
		if (json_is_integer(e))
			(void)snprintf(id, sizeof(id), "%lld",
			    (long long)json_integer_value(e));
		else
			(void)snprintf(id, sizeof(id), "%s",
			    json_is_string(e) ? json_string_value(e) : "");
		i = sim_inst_find(r->sim, SIM_VAST, id);
		if (i != NULL && i->phase != PH_TERMINATING)
			sim_inst_terminate(r->sim, i, r->now);
	}
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, jpack("{s:b}", "success", 1), NULL);
}

static void
h_gpu_names(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*arr = json_array(), *e;
	size_t		 k, j;
	bool		 dup;

	for (k = 0; k < s->p[SIM_VAST].nskus; k++) {
		dup = false;
		json_array_foreach(arr, j, e)
			if (strcmp(json_string_value(e),
			    s->p[SIM_VAST].skus[k].gpu) == 0)
				dup = true;
		if (!dup)
			json_array_append_new(arr,
			    json_string(s->p[SIM_VAST].skus[k].gpu));
	}
	resp_json(resp, 200, jpack("{s:o}", "gpu_names", arr), NULL);
}

static const struct sim_route vast_routes[] = {
	{ "POST", "api/v0/bundles", "offers", "bundles", h_bundles },
	{ "GET", "api/v0/bundles", "offers", "bundles", h_bundles },
	{ "PUT", "api/v0/search/asks", "offers", "bundles", h_search_asks },
	{ "PUT", "api/v0/asks/*", "create", "asks", h_create },
	{ "PUT", "api/v0/launch_instance", "create", "launch_instance",
	  h_launch },
	{ "GET", "api/v0/instances", "list", "instances", h_list_v0 },
	{ "PUT", "api/v0/instances", "manage", "instance_put",
	  h_manage_bulk },
	{ "DELETE", "api/v0/instances", "destroy", "instance_delete",
	  h_destroy_bulk },
	{ "PUT", "api/v0/instances/reboot/*", "manage", "instance_put",
	  h_reboot },
	{ "PUT", "api/v0/instances/recycle/*", "manage", "instance_put",
	  h_reboot },
	{ "PUT", "api/v0/instances/bid_price/*", "manage", "instance_put",
	  h_bid_price },
	{ "PUT", "api/v0/instances/request_logs/*", "manage", "instance_put",
	  h_request_logs },
	{ "GET", "api/v0/instances/*", "show", "instance_show", h_show },
	{ "PUT", "api/v0/instances/*", "manage", "instance_put", h_manage },
	{ "DELETE", "api/v0/instances/*", "destroy", "instance_delete",
	  h_destroy },
	{ "GET", "api/v1/instances", "list", "instances_v1", h_list_v1 },
	{ "GET", "api/v0/gpu_names/unique", "other", "gpu_names",
	  h_gpu_names },
};

static bool
vast_route(struct sim_req *r, struct sim_resp *resp)
{
	const struct sim_route	*e;
	bool			 wrong;

	e = route_find(r, vast_routes, nitems(vast_routes), &wrong);
	if (e == NULL) {
		if (wrong)
			vast_err(resp, 405, "method_not_allowed", "method not "
			    "allowed on this path");
		else
			vast_err(resp, 404, "not_found", "no such API "
			    "endpoint");
		return false;
	}
	r->op = e->op;
	r->route = e->route;
	r->handler = e->handler;
	return true;
}

const struct sim_api vast_api = {
	.prefix = "/vast",
	.prov = SIM_VAST,
	.route = vast_route,
	.auth = vast_auth,
	.unauthorized = vast_unauthorized,
	.error = vast_error,
	.too_many = vast_too_many,
	.decorate = NULL,
};
