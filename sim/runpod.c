/*
 * runpod.c: RunPod under /runpod: REST v2 at /runpod/v2/... and, for what
 * v2 lacks (interruptible pods, spot prices), GraphQL at /runpod/graphql
 * (PROVIDER-APIS.md section 2).  REST v1 was retired on 2026-11-15 and is
 * not served.
 *
 * Catalog lines are GPU types in a data centre and cloud; prices are per
 * GPU-hour and capacity counts GPUs, since a pod picks its own gpuCount.
 * A pod bills its cost while desiredStatus is RUNNING, before its runtime
 * exists (section 2.5); runtime is non-null only once it is RUNNING.
 * Stopping a pod gives its GPUs back, so starting it again can fail for
 * capacity.
 *
 * v2 errors are RFC 9457 problem+json and 429s carry Retry-After; every v2
 * reply carries RateLimit and RateLimit-Policy headers.  GraphQL business
 * errors are HTTP 200 with "errors" and a null field in "data".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

static const char no_capacity_msg[] = "There are no longer any instances "
    "available with the requested specifications. Please refresh and try "
    "again.";
static const char no_gpus_msg[] = "There are not enough free GPUs on the "
    "host machine to start this pod.";

static bool
is_gql(const struct sim_req *r)
{
	return r->route != NULL && strcmp(r->route, "graphql") == 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status >= 500 ? "Server Error" : "Error";
	}
}

static void
problem(struct sim_resp *resp, int status, const char *detail)
{
	resp_json(resp, status, jpack("{s:s, s:i, s:s}", "title",
	    reason(status), "status", status, "detail", detail),
	    "application/problem+json");
}

static void
gql_errors(struct sim_resp *resp, int status, const char *msg)
{
	resp_json(resp, status, jpack("{s:[{s:s}]}", "errors", "message", msg),
	    NULL);
}

/* ---- the API hooks ---- */

static bool
rp_auth(struct sim_req *r)
{
	const char	*k = req_bearer(r);

	r->key = key_index(r->sim, SIM_RUNPOD, k);
	/* GraphQL also takes ?api_key= (2.1); REST v2 is Bearer only */
	if (r->key < 0 && is_gql(r) && (k = req_arg(r, "api_key")) != NULL) {
		if (r->auth == NULL)
			r->auth = "query";
		r->key = key_index(r->sim, SIM_RUNPOD, k);
	}
	return r->key >= 0;
}

static void
rp_unauthorized(struct sim_req *r, struct sim_resp *resp)
{
	if (is_gql(r))
		gql_errors(resp, 401, "Unauthorized: the API key is missing "
		    "or invalid");
	else
		problem(resp, 401, "the API key is missing or invalid");
}

static const char *
gql_root_name(struct sim_req *r)
{
	struct gql_doc	*d = r->ctx;

	if (d == NULL || d->nsel == 0)
		return NULL;
	return d->sel[0].alias != NULL ? d->sel[0].alias : d->sel[0].name;
}

static void
rp_error(struct sim_req *r, struct sim_resp *resp, int status,
    const char *code, const char *msg)
{
	const char	*m = msg != NULL ? msg : code != NULL ? code :
	    status >= 500 ? "Something went wrong. Please try again later or "
	    "contact support." : reason(status);
	const char	*root = gql_root_name(r);

	if (!is_gql(r)) {
		problem(resp, status, m);
		return;
	}
	if (status == 200 && root != NULL) {
		resp_json(resp, 200, jpack("{s:[{s:s, s:[s]}], s:{s:n}}",
		    "errors", "message", m, "path", root, "data", root), NULL);
		return;
	}
	gql_errors(resp, status, m);
}

static void
rp_too_many(struct sim_req *r, struct sim_resp *resp, int wait,
    const char *why)
{
	char	 b[96];

	(void)snprintf(b, sizeof(b), "rate limit exceeded for the %s window",
	    why != NULL ? why : "minute");
	if (is_gql(r))
		gql_errors(resp, 429, b);
	else
		problem(resp, 429, b);
	(void)snprintf(b, sizeof(b), "%d", wait < 1 ? 1 : wait);
	resp_header(resp, "Retry-After", b);
}

static void
rp_decorate(struct sim_req *r, struct sim_resp *resp)
{
	ratelimit_headers(r->sim, r, resp);
}

/* ---- pods ---- */

static double
dollars(money_t m)
{
	return money_to_double(m);
}

static const char *
v2_status(const struct sim_inst *i)
{
	switch (i->phase) {
	case PH_PROVISION: return "PROVISIONING";
	case PH_STARTING: return "STARTING";
	case PH_RUNNING: case PH_STOPPING: return "RUNNING";
	case PH_STOPPED: case PH_INTERRUPTED: return "EXITED";
	case PH_FAILED: return "ERROR";
	default: return "TERMINATED";
	}
}

static const char *
desired_status(const struct sim_inst *i)
{
	switch (i->phase) {
	case PH_STOPPING: case PH_STOPPED: case PH_INTERRUPTED:
		return "EXITED";
	case PH_TERMINATING: case PH_GONE:
		return "TERMINATED";
	default:
		return "RUNNING";
	}
}

static const char *
display_name(const char *gpu)
{
	const struct gpu_model	*m = catalog_from_provider("runpod", gpu);

	return m != NULL && m->vastai != NULL ? m->vastai : gpu;
}

static void
pod_extras(struct sim *s, struct sim_inst *i)
{
	char	 mid[13], *ip = sim_next_ip(s);

	sim_rand_id(s, mid, sizeof(mid), SIM_ALNUM);
	if (i->extra == NULL)
		i->extra = json_object();
	json_object_set_new(i->extra, "machineId", json_string(mid));
	json_object_set_new(i->extra, "ip", json_string(ip));
	json_object_set_new(i->extra, "sshPort",
	    json_integer(10000 + (json_int_t)(sim_rand(&s->id_rng) % 50000)));
	if (json_object_get(i->extra, "ports") == NULL)
		json_object_set_new(i->extra, "ports", jpack("[s]", "22/tcp"));
	if (json_object_get(i->extra, "cloud") == NULL)
		json_object_set_new(i->extra, "cloud", json_string("SECURE"));
	if (json_object_get(i->extra, "containerDiskInGb") == NULL)
		json_object_set_new(i->extra, "containerDiskInGb",
		    json_integer(50));
	if (json_object_get(i->extra, "volumeInGb") == NULL)
		json_object_set_new(i->extra, "volumeInGb", json_integer(20));
	if (json_object_get(i->extra, "volumeMountPath") == NULL)
		json_object_set_new(i->extra, "volumeMountPath",
		    json_string("/workspace"));
	free(ip);
}

static json_t *
x_get(struct sim_inst *i, const char *k)
{
	json_t	*v = json_object_get(i->extra, k);

	return v != NULL ? json_incref(v) : json_null();
}

static json_t *
runtime_json(struct sim_inst *i, int64_t now, bool v2)
{
	json_t		*ports, *p;
	const char	*ip = json_string_value(json_object_get(i->extra,
	    "ip"));
	json_int_t	 sp = json_integer_value(json_object_get(i->extra,
	    "sshPort"));

	if (i->phase != PH_RUNNING)
		return json_null();
	ports = json_array();
	if (v2)
		p = jpack("{s:i, s:I, s:s, s:s}", "private", 22, "public", sp,
		    "type", "tcp", "ip", ip);
	else
		p = jpack("{s:s, s:b, s:i, s:I, s:s}", "ip", ip, "isIpPublic",
		    1, "privatePort", 22, "publicPort", sp, "type", "tcp");
	json_array_append_new(ports, p);
	if (v2)
		return jpack("{s:I, s:o}", "uptimeInSeconds",
		    (json_int_t)((now - i->started_ms) / 1000), "ports", ports);
	return jpack("{s:I, s:o, s:[{s:s, s:i, s:i}], s:{s:i, s:i}}",
	    "uptimeInSeconds", (json_int_t)((now - i->started_ms) / 1000),
	    "ports", ports,
	    "gpus", "id", "GPU-00000000-sim", "gpuUtilPercent", 0,
	    "memoryUtilPercent", 0,
	    "container", "cpuPercent", 1, "memoryPercent", 2);
}

static json_t *
actions_json(const struct sim_inst *i)
{
	switch (i->phase) {
	case PH_PROVISION: case PH_STARTING: case PH_RUNNING: case PH_FAILED:
		return jpack("[s, s, s]", "stop", "restart", "terminate");
	case PH_STOPPING:
		return jpack("[s]", "terminate");
	case PH_STOPPED: case PH_INTERRUPTED:
		return jpack("[s, s]", "start", "terminate");
	default:
		return json_array();
	}
}

/* The REST v2 Pod. */
json_t *
runpod_pod_json(struct sim *s, struct sim_inst *i, int64_t now)
{
	json_t		*o, *rt, *ssh, *direct = json_null(), *pm;
	const char	*st = v2_status(i);
	char		 created[32], started[32], user[64], cmd[160];
	const char	*ip;
	json_int_t	 sp;

	if (i->extra == NULL || json_object_get(i->extra, "ip") == NULL)
		pod_extras(s, i);
	ip = json_string_value(json_object_get(i->extra, "ip"));
	sp = json_integer_value(json_object_get(i->extra, "sshPort"));
	rt = runtime_json(i, now, true);
	/* filled before the pack: argument order is unspecified */
	(void)time_iso8601(i->started_ms >= 0 ? i->started_ms : 0, started,
	    sizeof(started));
	(void)snprintf(user, sizeof(user), "%s-%s", i->id, json_string_value(
	    json_object_get(i->extra, "machineId")));
	(void)snprintf(cmd, sizeof(cmd), "ssh %s@ssh.runpod.sim.invalid -i "
	    "~/.ssh/id_ed25519", user);
	if (!json_is_null(rt)) {
		char dcmd[160];

		(void)snprintf(dcmd, sizeof(dcmd), "ssh root@%s -p %lld -i "
		    "~/.ssh/id_ed25519", ip, (long long)sp);
		json_decref(direct);
		direct = jpack("{s:s, s:I, s:s, s:s}", "host", ip, "port", sp,
		    "username", "root", "command", dcmd);
	}
	ssh = jpack("{s:{s:s, s:i, s:s, s:s}, s:o}",
	    "proxy", "host", "ssh.runpod.sim.invalid", "port", 22,
	    "username", user, "command", cmd,
	    "direct", direct);
	pm = json_object();
	if (!json_is_null(rt))
		json_object_set_new(pm, "22", json_integer(sp));
	o = jpack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:O, s:o,"
	    " s:{s:s, s:i, s:s}, s:o, s:O, s:b, s:b}",
	    "id", i->id,
	    "name", i->label != NULL ? i->label : "",
	    "status", st,
	    "desiredStatus", desired_status(i),
	    "actions", actions_json(i),
	    "cost", json_real(strcmp(st, "EXITED") == 0 ||
	    strcmp(st, "TERMINATED") == 0 ? 0.0 : dollars(i->price)),
	    "image", i->image != NULL ? i->image : "",
	    "env", i->env,
	    "ports", x_get(i, "ports"),
	    "gpu", "id", i->gpu != NULL ? i->gpu : "", "count", i->gpus,
	    "displayName", display_name(i->gpu != NULL ? i->gpu : ""),
	    "cloud", x_get(i, "cloud"),
	    "dataCenterId", json_object_get(i->extra, "dc") != NULL ?
	    json_object_get(i->extra, "dc") : json_null(),
	    "interruptible", i->interruptible,
	    "locked", 0);
	json_object_update_new(o, jpack("{s:o, s:o, s:s, s:o, s:s, s:o, s:o,"
	    " s:O, s:i, s:i, s:o, s:o, s:o}",
	    "runtime", rt,
	    "ssh", ssh,
	    "publicIp", json_is_null(rt) ? "" : ip,
	    "portMappings", pm,
	    "createdAt", time_iso8601(i->created_ms, created,
	    sizeof(created)),
	    "startedAt", i->started_ms >= 0 ? json_string(started) :
	    json_null(),
	    "lastStartedAt", i->started_ms >= 0 ? json_string(started) :
	    json_null(),
	    "machineId", json_object_get(i->extra, "machineId"),
	    "vcpuCount", 8 * i->gpus,
	    "memoryInGb", 62 * i->gpus,
	    "containerDiskInGb", x_get(i, "containerDiskInGb"),
	    "volumeInGb", x_get(i, "volumeInGb"),
	    "volumeMountPath", x_get(i, "volumeMountPath")));
	if (i->interruptible)
		json_object_set_new(o, "bidPerGpu",
		    json_real(dollars(i->bid)));
	return o;
}

/* The GraphQL Pod: env as "K=V" strings, ports as a string, runtime. */
static json_t *
gql_pod_json(struct sim *s, struct sim_inst *i, int64_t now)
{
	json_t		*env = json_array(), *v, *ports;
	const char	*k;
	struct buf	 pb = BUF_INIT;
	size_t		 n;
	char		 when[32], lsc[80];

	if (i->extra == NULL || json_object_get(i->extra, "ip") == NULL)
		pod_extras(s, i);
	json_object_foreach(i->env, k, v) {
		char *kv = xasprintf("%s=%s", k, json_string_value(v) != NULL ?
		    json_string_value(v) : "");

		json_array_append_new(env, json_string(kv));
		free(kv);
	}
	ports = json_object_get(i->extra, "ports");
	json_array_foreach(ports, n, v)
		buf_addf(&pb, "%s%s", n > 0 ? "," : "",
		    json_string_value(v) != NULL ? json_string_value(v) : "");
	(void)time_iso8601(i->phase_ms, when, sizeof(when));
	(void)snprintf(lsc, sizeof(lsc), "%s: %s",
	    i->phase == PH_INTERRUPTED ? "Interrupted by the host" :
	    strcmp(desired_status(i), "EXITED") == 0 ? "Exited by user" :
	    "Rented by User", when);
	v = jpack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:i,"
	    " s:O, s:O, s:O, s:s, s:s, s:s, s:O, s:s, s:s}",
	    "__type", "Pod",
	    "id", i->id,
	    "name", i->label != NULL ? i->label : "",
	    "desiredStatus", desired_status(i),
	    "costPerHr", json_real(dollars(i->price)),
	    "adjustedCostPerHr", json_real(dollars(i->price)),
	    "imageName", i->image != NULL ? json_string(i->image) :
	    json_null(),
	    "env", env,
	    "gpuCount", i->gpus,
	    "vcpuCount", 8 * i->gpus,
	    "memoryInGb", 62 * i->gpus,
	    "containerDiskInGb", json_object_get(i->extra, "containerDiskInGb"),
	    "volumeInGb", json_object_get(i->extra, "volumeInGb"),
	    "volumeMountPath", json_object_get(i->extra, "volumeMountPath"),
	    "dockerArgs", json_string_value(json_object_get(i->extra,
	    "dockerArgs")) != NULL ? json_string_value(json_object_get(
	    i->extra, "dockerArgs")) : "",
	    "dockerId", "",
	    "lastStatusChange", lsc,
	    "machineId", json_object_get(i->extra, "machineId"),
	    "podType", i->interruptible ? "INTERRUPTABLE" : "RESERVED",
	    "ports", buf_str(&pb));
	buf_release(&pb);
	json_object_update_new(v, jpack("{s:i, s:I, s:o, s:{s:s, s:s, s:s,"
	    " s:s}, s:b, s:o, s:{s:s, s:s, s:i}}",
	    "port", 22,
	    "uptimeSeconds", (json_int_t)(i->phase == PH_RUNNING ?
	    (now - i->started_ms) / 1000 : 0),
	    "runtime", runtime_json(i, now, false),
	    "machine", "__type", "Machine",
	    "gpuDisplayName", display_name(i->gpu != NULL ? i->gpu : ""),
	    "location", i->region != NULL ? i->region : "",
	    "podHostId", i->id,
	    "interruptible", i->interruptible,
	    "bidPerGpu", i->interruptible ? json_real(dollars(i->bid)) :
	    json_null(),
	    "gpu", "id", i->gpu != NULL ? i->gpu : "",
	    "displayName", display_name(i->gpu != NULL ? i->gpu : ""),
	    "count", i->gpus));
	{
		/* podHostId is "<pod>-<8 digits>" */
		char host[64];

		(void)snprintf(host, sizeof(host), "%s-%08llu", i->id,
		    (unsigned long long)(i->created_ms % 100000000));
		json_object_set_new(json_object_get(v, "machine"),
		    "podHostId", json_string(host));
	}
	return v;
}

static bool
listed(const struct sim_inst *i, int64_t now)
{
	return i->prov == SIM_RUNPOD && sim_inst_live(i) &&
	    i->visible_ms <= now;
}

/*
 * The cheapest line with gpus free for gpu (a RunPod id or a catalog
 * name) in cloud (ALL/SECURE/COMMUNITY), in one of dcs (or anywhere), or
 * in a data centre of country.  spot: only lines that sell spot.
 * -1 none; *known false when no line has that GPU at all.
 */
static int
pick_sku(struct sim *s, const char *gpu, int gpus, const char *cloud,
    json_t *dcs, const char *country, bool spot, bool *known)
{
	struct sim_pconf	*c = &s->p[SIM_RUNPOD];
	const struct gpu_model	*m = catalog_find(gpu);
	size_t			 k, j;
	int			 best = -1;
	json_t			*e;
	bool			 in;

	*known = false;
	for (k = 0; k < c->nskus; k++) {
		const struct sim_sku *u = &c->skus[k];

		if (strcasecmp(u->gpu, gpu) != 0 && (m == NULL ||
		    u->model != m))
			continue;
		*known = true;
		if (cloud != NULL && strcmp(cloud, "ALL") != 0 &&
		    strcmp(cloud, u->cloud) != 0)
			continue;
		if (json_array_size(dcs) > 0) {
			in = false;
			json_array_foreach(dcs, j, e)
				if (json_is_string(e) && strcmp(
				    json_string_value(e), u->region) == 0)
					in = true;
			if (!in)
				continue;
		}
		if (country != NULL && strncasecmp(u->region, country,
		    strlen(country)) != 0)
			continue;
		if (spot && u->min_bid <= 0)
			continue;
		if (gpus > u->count || sim_sku_free(s, SIM_RUNPOD, (int)k) <
		    gpus)
			continue;
		if (best < 0 || u->price < c->skus[best].price)
			best = (int)k;
	}
	return best;
}

static struct sim_inst *
pod_new(struct sim_req *r, int sku, int gpus, const char *name,
    const char *image, money_t bid)
{
	struct sim		*s = r->sim;
	const struct sim_sku	*u = &s->p[SIM_RUNPOD].skus[sku];
	struct sim_inst		*i = sim_inst_new(s, SIM_RUNPOD, r->now);

	i->sku = sku;
	i->gpus = gpus;
	i->gpu = xstrdup(u->gpu);
	i->region = xstrdup(u->region);
	i->vram_gb = u->vram_gb;
	i->label = xstrdup(name != NULL ? name : "");
	i->image = image != NULL ? xstrdup(image) : NULL;
	i->interruptible = bid > 0;
	i->bid = bid;
	i->price = (bid > 0 ? bid : u->price) * gpus;
	i->storage = u->storage;
	i->extra = jpack("{s:s, s:s, s:i, s:i, s:s}", "cloud", u->cloud,
	    "dc", u->region, "containerDiskInGb", 50, "volumeInGb", 20,
	    "volumeMountPath", "/workspace");
	return i;
}

static void
pod_started(struct sim_req *r, struct sim_inst *i)
{
	pod_extras(r->sim, i);
	sim_inst_boot(r->sim, i, r->now);
	fault_on_create(r->sim, r, i);
	sim_tick(r->sim, r->now);
}

/* ---- REST v2 handlers ---- */

static bool
v2_body(struct sim_req *r, struct sim_resp *resp)
{
	if (r->json_bad || !json_is_object(r->json)) {
		problem(resp, 400, "the request body must be a JSON object");
		return false;
	}
	return true;
}

static void
h_v2_list(struct sim_req *r, struct sim_resp *resp)
{
	struct sim	*s = r->sim;
	json_t		*arr = json_array();
	size_t		 k;

	for (k = 0; k < s->ninsts; k++)
		if (listed(s->insts[k], r->now))
			json_array_append_new(arr, runpod_pod_json(s,
			    s->insts[k], r->now));
	resp_json(resp, 200, jpack("{s:o}", "pods", arr), NULL);
}

static void
h_v2_create(struct sim_req *r, struct sim_resp *resp)
{
	json_t		*b = r->json, *gpu, *v, *env;
	const char	*name, *image, *gid, *cloud, *k;
	json_int_t	 count = 1;
	int		 sku;
	bool		 known;
	struct sim_inst	*i;
	char		 msg[200];

	if (!v2_body(r, resp))
		return;
	name = json_string_value(json_object_get(b, "name"));
	image = json_string_value(json_object_get(b, "image"));
	if (name == NULL) {
		problem(resp, 400, "name is required");
		return;
	}
	if (json_is_true(json_object_get(b, "interruptible"))) {
		problem(resp, 400, "interruptible pods cannot be created "
		    "through REST v2; use the GraphQL podRentInterruptable "
		    "mutation");
		return;
	}
	if (image == NULL && json_object_get(b, "templateId") == NULL) {
		problem(resp, 400, "image or templateId is required");
		return;
	}
	gpu = json_object_get(b, "gpu");
	if (!json_is_object(gpu)) {
		problem(resp, 400, json_object_get(b, "cpu") != NULL ?
		    "CPU pods are not available in this simulated cloud" :
		    "gpu {id, count} is required");
		return;
	}
	gid = json_string_value(json_object_get(gpu, "id"));
	if (gid == NULL) {
		problem(resp, 400, "gpu.id is required");
		return;
	}
	if ((v = json_object_get(gpu, "count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 16) {
			problem(resp, 400, "gpu.count must be 1 to 16");
			return;
		}
		count = json_integer_value(v);
	}
	cloud = json_string_value(json_object_get(b, "cloud"));
	if (cloud == NULL)
		cloud = "SECURE";
	if (strcmp(cloud, "SECURE") != 0 && strcmp(cloud, "COMMUNITY") != 0 &&
	    strcmp(cloud, "ALL") != 0) {
		problem(resp, 400, "cloud must be SECURE or COMMUNITY");
		return;
	}
	env = json_object_get(b, "env");
	if (env != NULL && !json_is_object(env)) {
		problem(resp, 400, "env must be an object of strings");
		return;
	}
	json_object_foreach(env, k, v) {
		if (!json_is_string(v)) {
			problem(resp, 400, "env must be an object of strings");
			return;
		}
	}
	sku = pick_sku(r->sim, gid, (int)count, cloud,
	    json_object_get(b, "dataCenterIds"), NULL, false, &known);
	if (!known) {
		(void)snprintf(msg, sizeof(msg), "gpu type '%s' does not "
		    "exist", gid);
		problem(resp, 400, msg);
		return;
	}
	if (sku < 0) {
		problem(resp, 400, no_capacity_msg);
		return;
	}
	i = pod_new(r, sku, (int)count, name, image, 0);
	if (env != NULL)
		json_object_update(i->env, env);
	if (json_is_array(v = json_object_get(b, "ports")))
		json_object_set(i->extra, "ports", v);
	if (json_is_integer(v = json_object_get(b, "containerDiskInGb")))
		json_object_set(i->extra, "containerDiskInGb", v);
	if (json_is_integer(v = json_object_get(b, "volumeInGb")))
		json_object_set(i->extra, "volumeInGb", v);
	pod_started(r, i);
	resp_json(resp, 201, runpod_pod_json(r->sim, i, r->now), NULL);
}

static struct sim_inst *
pod_or_404(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = sim_inst_find(r->sim, SIM_RUNPOD, r->seg[0]);

	if (i == NULL)
		problem(resp, 404, "Pod not found");
	return i;
}

static void
h_v2_get(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = pod_or_404(r, resp);

	if (i != NULL)
		resp_json(resp, 200, runpod_pod_json(r->sim, i, r->now), NULL);
}

static void
h_v2_patch(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	json_t		*v;

	if (!v2_body(r, resp) || (i = pod_or_404(r, resp)) == NULL)
		return;
	if ((v = json_object_get(r->json, "name")) != NULL) {
		if (!json_is_string(v)) {
			problem(resp, 400, "name must be a string");
			return;
		}
		free(i->label);
		i->label = xstrdup(json_string_value(v));
	}
	if (json_is_string(v = json_object_get(r->json, "image"))) {
		free(i->image);
		i->image = xstrdup(json_string_value(v));
	}
	if (json_is_object(v = json_object_get(r->json, "env")))
		json_object_update(i->env, v);
	resp_json(resp, 200, runpod_pod_json(r->sim, i, r->now), NULL);
}

static void
h_v2_delete(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i = pod_or_404(r, resp);

	if (i == NULL)
		return;
	if (i->phase != PH_TERMINATING)
		sim_inst_terminate(r->sim, i, r->now);
	sim_tick(r->sim, r->now);
	resp_empty(resp, 204);
}

/* Start a stopped pod if its GPUs are free; false with why. */
static bool
pod_resume(struct sim_req *r, struct sim_inst *i, const char **why)
{
	if (i->phase != PH_STOPPED && i->phase != PH_INTERRUPTED) {
		*why = NULL;
		return true;
	}
	if (i->sku >= 0 && sim_sku_free(r->sim, SIM_RUNPOD, i->sku) < i->gpus) {
		*why = no_gpus_msg;
		return false;
	}
	sim_inst_boot(r->sim, i, r->now);
	sim_tick(r->sim, r->now);
	return true;
}

static void
h_v2_action(struct sim_req *r, struct sim_resp *resp)
{
	struct sim_inst	*i;
	const char	*a, *why;
	json_t		*acts, *e;
	size_t		 k;
	bool		 ok = false;
	char		 msg[160];

	if (!v2_body(r, resp) || (i = pod_or_404(r, resp)) == NULL)
		return;
	a = json_string_value(json_object_get(r->json, "action"));
	if (a == NULL || (strcmp(a, "start") != 0 && strcmp(a, "stop") != 0 &&
	    strcmp(a, "restart") != 0 && strcmp(a, "terminate") != 0)) {
		problem(resp, 400, "action must be start, stop, restart or "
		    "terminate");
		return;
	}
	acts = actions_json(i);
	json_array_foreach(acts, k, e)
		if (strcmp(json_string_value(e), a) == 0)
			ok = true;
	json_decref(acts);
	if (!ok) {
		(void)snprintf(msg, sizeof(msg), "action '%s' is not valid for "
		    "a pod in status %s", a, v2_status(i));
		problem(resp, 409, msg);
		return;
	}
	if (strcmp(a, "terminate") == 0) {
		sim_inst_terminate(r->sim, i, r->now);
		sim_tick(r->sim, r->now);
		resp_empty(resp, 204);
		return;
	}
	if (strcmp(a, "stop") == 0)
		sim_inst_stop(r->sim, i, r->now);
	else if (strcmp(a, "restart") == 0)
		sim_inst_set_phase(r->sim, i, PH_STARTING, r->now);
	else if (!pod_resume(r, i, &why)) {
		problem(resp, 409, why);
		return;
	}
	sim_tick(r->sim, r->now);
	resp_json(resp, 200, runpod_pod_json(r->sim, i, r->now), NULL);
}

/* One GPU type across its catalog lines, for v2 and GraphQL. */
static json_t *
gpu_type_json(struct sim *s, const char *gpu, bool gql)
{
	struct sim_pconf	*c = &s->p[SIM_RUNPOD];
	json_t			*o, *dcs = json_array();
	size_t			 k;
	money_t			 sec = 0, com = 0, ssec = 0, scom = 0;
	int			 maxc = 0, mem = 0, fr;
	bool			 hs = false, hc = false;

	for (k = 0; k < c->nskus; k++) {
		const struct sim_sku *u = &c->skus[k];
		bool secure = strcmp(u->cloud, "SECURE") == 0;

		if (strcmp(u->gpu, gpu) != 0)
			continue;
		if (u->count > maxc)
			maxc = u->count;
		mem = u->vram_gb;
		if (secure && (!hs || u->price < sec)) {
			sec = u->price;
			ssec = u->min_bid;
		}
		if (!secure && (!hc || u->price < com)) {
			com = u->price;
			scom = u->min_bid;
		}
		hs |= secure;
		hc |= !secure;
		fr = sim_sku_free(s, SIM_RUNPOD, (int)k);
		json_array_append_new(dcs, jpack("{s:s, s:s, s:s, s:i}",
		    "id", u->region, "cloud", u->cloud, "availability",
		    fr >= 8 ? "HIGH" : fr >= 3 ? "MEDIUM" : fr >= 1 ? "LOW" :
		    "NONE", "availableGpuCount", fr));
	}
	o = jpack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:o}",
	    "id", gpu,
	    "displayName", display_name(gpu),
	    "manufacturer", "NVIDIA",
	    "memoryInGb", mem,
	    "maxGpuCount", maxc,
	    "securePrice", hs ? json_real(dollars(sec)) : json_null(),
	    "communityPrice", hc ? json_real(dollars(com)) : json_null(),
	    "secureSpotPrice", hs && ssec > 0 ? json_real(dollars(ssec)) :
	    json_null(),
	    "communitySpotPrice", hc && scom > 0 ? json_real(dollars(scom)) :
	    json_null());
	if (gql) {
		json_decref(dcs);
		json_object_update_new(o, jpack("{s:s, s:b, s:b, s:i, s:n,"
		    " s:n, s:n}",
		    "__type", "GpuType",
		    "secureCloud", hs, "communityCloud", hc,
		    "cudaCores", 16384,
		    "oneMonthPrice", "threeMonthPrice", "oneWeekPrice"));
	} else
		json_object_set_new(o, "dataCenters", dcs);
	return o;
}

static json_t *
gpu_types(struct sim *s, const char *only, bool gql)
{
	struct sim_pconf	*c = &s->p[SIM_RUNPOD];
	json_t			*arr = json_array();
	size_t			 k, j;
	bool			 seen;

	for (k = 0; k < c->nskus; k++) {
		if (only != NULL && strcmp(c->skus[k].gpu, only) != 0)
			continue;
		seen = false;
		for (j = 0; j < k; j++)
			if (strcmp(c->skus[j].gpu, c->skus[k].gpu) == 0)
				seen = true;
		if (!seen)
			json_array_append_new(arr, gpu_type_json(s,
			    c->skus[k].gpu, gql));
	}
	return arr;
}

static void
h_v2_gpus(struct sim_req *r, struct sim_resp *resp)
{
	resp_json(resp, 200, jpack("{s:o}", "gpus", gpu_types(r->sim, NULL,
	    false)), NULL);
}

static void
h_v2_gpu(struct sim_req *r, struct sim_resp *resp)
{
	json_t	*arr = gpu_types(r->sim, r->seg[0], false);

	if (json_array_size(arr) == 0) {
		json_decref(arr);
		problem(resp, 404, "GPU type not found");
		return;
	}
	resp_json(resp, 200, json_incref(json_array_get(arr, 0)), NULL);
	json_decref(arr);
}

/* ---- GraphQL ---- */

struct gql_ctx {
	struct gql_doc	 doc;
	bool		 parsed;
	char		 err[256];
	int		 status;	/* of a parse error */
};

static void
gql_ctx_free(void *p)
{
	struct gql_ctx	*g = p;

	if (g == NULL)
		return;
	gql_doc_release(&g->doc);
	free(g);
}

static const char *const deploy_fields[] = {
	"aiApiId", "allowedCudaVersions", "cloudType", "containerDiskInGb",
	"containerRegistryAuthId", "countryCode", "cudaVersion",
	"dataCenterId", "deployCost", "dockerArgs", "env", "globalNetwork",
	"gpuCount", "gpuTypeId", "gpuTypeIdList", "imageName", "minDisk",
	"minDownload", "minMemoryInGb", "minUpload", "minVcpuCount", "name",
	"networkVolumeId", "port", "ports", "startJupyter", "startSsh",
	"stopAfter", "supportPublicIp", "templateId", "terminateAfter",
	"volumeInGb", "volumeKey", "volumeMountPath", "bidPerGpu",
};

struct gql_op {
	const char	*name;
	bool		 mutation;
	const char	*op;		/* fault class */
	const char	*input_type;	/* NULL: no input */
	const char *const *fields;
	size_t		 nfields;
	bool		 input_required;
};

static const char *const podid_fields[] = { "podId", "incrementVersion" };
static const char *const resume_fields[] = { "podId", "gpuCount",
	"syncMachine", "computeType", "allowedCudaVersions" };
static const char *const bidresume_fields[] = { "podId", "bidPerGpu",
	"gpuCount", "allowedCudaVersions" };
static const char *const filter_fields[] = { "podId" };
static const char *const gputype_fields[] = { "id", "ids" };

static const struct gql_op gql_ops[] = {
	{ "podFindAndDeployOnDemand", true, "create",
	  "PodFindAndDeployOnDemandInput", deploy_fields,
	  nitems(deploy_fields) - 1, true },
	{ "podRentInterruptable", true, "create",
	  "PodRentInterruptableInput", deploy_fields, nitems(deploy_fields),
	  true },
	{ "podStop", true, "manage", "PodStopInput", podid_fields,
	  nitems(podid_fields), true },
	{ "podResume", true, "manage", "PodResumeInput", resume_fields,
	  nitems(resume_fields), true },
	{ "podBidResume", true, "manage", "PodBidResumeInput",
	  bidresume_fields, nitems(bidresume_fields), true },
	{ "podTerminate", true, "destroy", "PodTerminateInput", podid_fields,
	  1, true },
	{ "myself", false, "list", NULL, NULL, 0, false },
	{ "pod", false, "show", "PodFilter", filter_fields,
	  nitems(filter_fields), true },
	{ "gpuTypes", false, "offers", "GpuTypeFilter", gputype_fields,
	  nitems(gputype_fields), false },
};

static const struct gql_op *
gql_op_find(const char *name)
{
	size_t	 k;

	for (k = 0; k < nitems(gql_ops); k++)
		if (strcmp(gql_ops[k].name, name) == 0)
			return &gql_ops[k];
	return NULL;
}

static void
rp_gql_route(struct sim_req *r)
{
	struct gql_ctx		*g = xcalloc(1, sizeof(*g));
	const char		*q, *opname;
	const struct gql_op	*op;

	r->ctx = g;
	r->ctx_free = gql_ctx_free;
	r->op = "graphql";
	g->status = 400;
	if (r->json_bad || !json_is_object(r->json)) {
		(void)snprintf(g->err, sizeof(g->err), "POST body must be a "
		    "JSON object with \"query\"");
		return;
	}
	q = json_string_value(json_object_get(r->json, "query"));
	if (q == NULL) {
		(void)snprintf(g->err, sizeof(g->err), "Must provide query "
		    "string.");
		return;
	}
	opname = json_string_value(json_object_get(r->json, "operationName"));
	if (gql_parse(q, json_object_get(r->json, "variables"), opname,
	    &g->doc, g->err, sizeof(g->err)) == -1)
		return;
	g->parsed = true;
	if (g->doc.nsel > 0 && (op = gql_op_find(g->doc.sel[0].name)) != NULL)
		r->op = op->op;
}

/* Unknown input fields fail validation with HTTP 400 (2.1). */
static bool
gql_validate(struct sim_req *r, struct sim_resp *resp, const struct gql_op *op,
    const struct gql_field *f)
{
	json_t		*in = json_object_get(f->args, "input");
	const char	*k, *var;
	json_t		*v;
	size_t		 j;
	char		 msg[256];

	if (op->input_type == NULL)
		return true;
	if (in == NULL || json_is_null(in)) {
		if (!op->input_required)
			return true;
		(void)snprintf(msg, sizeof(msg), "Field \"%s\" argument "
		    "\"input\" of type \"%s!\" is required, but it was not "
		    "provided.", op->name, op->input_type);
		gql_errors(resp, 400, msg);
		return false;
	}
	if (!json_is_object(in)) {
		(void)snprintf(msg, sizeof(msg), "Expected type \"%s\" to be "
		    "an object.", op->input_type);
		gql_errors(resp, 400, msg);
		return false;
	}
	json_object_foreach(in, k, v) {
		for (j = 0; j < op->nfields; j++)
			if (strcmp(op->fields[j], k) == 0)
				break;
		if (j < op->nfields)
			continue;
		var = json_string_value(json_object_get(f->argvars, "input"));
		if (var != NULL)
			(void)snprintf(msg, sizeof(msg), "Variable \"$%s\" got "
			    "invalid value; Field \"%s\" is not defined by "
			    "type \"%s\".", var, k, op->input_type);
		else
			(void)snprintf(msg, sizeof(msg), "Field \"%s\" is not "
			    "defined by type \"%s\".", k, op->input_type);
		gql_errors(resp, 400, msg);
		return false;
	}
	if (strcmp(op->name, "podRentInterruptable") == 0 &&
	    !json_is_number(json_object_get(in, "bidPerGpu"))) {
		gql_errors(resp, 400, "Field \"PodRentInterruptableInput."
		    "bidPerGpu\" of required type \"Float!\" was not "
		    "provided.");
		return false;
	}
	if (strcmp(op->name, "podBidResume") == 0 &&
	    !json_is_number(json_object_get(in, "bidPerGpu"))) {
		gql_errors(resp, 400, "Field \"PodBidResumeInput.bidPerGpu\" "
		    "of required type \"Float!\" was not provided.");
		return false;
	}
	(void)r;
	return true;
}

/* lowestPrice(input: {gpuCount, secureCloud}) on a GpuType. */
static json_t *
gql_hook_fn(void *ctx, json_t *parent, const struct gql_field *f)
{
	struct sim		*s = ctx;
	struct sim_pconf	*c = &s->p[SIM_RUNPOD];
	json_t			*in, *counts;
	const char		*gpu;
	json_int_t		 n = 1;
	int			 best = -1, fr, total = 0, g;
	size_t			 k;
	json_t			*sc;

	if (strcmp(f->name, "lowestPrice") != 0 || !json_is_string(
	    json_object_get(parent, "__type")) || strcmp(json_string_value(
	    json_object_get(parent, "__type")), "GpuType") != 0)
		return NULL;
	gpu = json_string_value(json_object_get(parent, "id"));
	in = json_object_get(f->args, "input");
	if (json_is_integer(json_object_get(in, "gpuCount")))
		n = json_integer_value(json_object_get(in, "gpuCount"));
	sc = json_object_get(in, "secureCloud");
	for (k = 0; k < c->nskus; k++) {
		const struct sim_sku *u = &c->skus[k];

		if (gpu == NULL || strcmp(u->gpu, gpu) != 0)
			continue;
		if (json_is_boolean(sc) && json_is_true(sc) !=
		    (strcmp(u->cloud, "SECURE") == 0))
			continue;
		fr = sim_sku_free(s, SIM_RUNPOD, (int)k);
		total += fr;
		if (fr < n || n > u->count)
			continue;
		if (best < 0 || u->price < c->skus[best].price)
			best = (int)k;
	}
	counts = json_array();
	for (g = 1; g <= 8; g *= 2)
		if (g <= total)
			json_array_append_new(counts, json_integer(g));
	return jpack("{s:s, s:o, s:o, s:o, s:o, s:i, s:i}",
	    "__type", "LowestPrice",
	    "minimumBidPrice", best >= 0 && c->skus[best].min_bid > 0 ?
	    json_real(dollars(c->skus[best].min_bid)) : json_null(),
	    "uninterruptablePrice", best >= 0 ?
	    json_real(dollars(c->skus[best].price)) : json_null(),
	    "stockStatus", json_string(total >= 8 ? "High" : total >= 3 ?
	    "Medium" : total >= 1 ? "Low" : "None"),
	    "availableGpuCounts", counts,
	    "minMemory", 62,
	    "minVcpu", 8);
}

/* Run one root field; NULL with *err for a business error. */
static json_t *
gql_exec(struct sim_req *r, const struct gql_field *f, const char **err,
    char *ebuf, size_t elen)
{
	struct sim	*s = r->sim;
	json_t		*in = json_object_get(f->args, "input"), *v, *e, *arr;
	const char	*id = json_string_value(json_object_get(in, "podId"));
	const char	*gpu, *why;
	struct sim_inst	*i;
	json_int_t	 n;
	money_t		 bid = 0;
	int		 sku;
	size_t		 k;
	bool		 spot, known;

	*err = NULL;
	if (strcmp(f->name, "myself") == 0) {
		arr = json_array();
		for (k = 0; k < s->ninsts; k++)
			if (listed(s->insts[k], r->now))
				json_array_append_new(arr, gql_pod_json(s,
				    s->insts[k], r->now));
		return jpack("{s:s, s:s, s:s, s:f, s:f, s:o}",
		    "__type", "User", "id", "sim-user",
		    "email", "sim@runpod.sim.invalid",
		    "clientBalance", 1000.0, "spendLimit", 80.0,
		    "pods", arr);
	}
	if (strcmp(f->name, "pod") == 0) {
		i = sim_inst_find(s, SIM_RUNPOD, id);
		return i != NULL ? gql_pod_json(s, i, r->now) : json_null();
	}
	if (strcmp(f->name, "gpuTypes") == 0)
		return gpu_types(s, json_string_value(json_object_get(in,
		    "id")), true);
	if (strcmp(f->name, "podFindAndDeployOnDemand") == 0 ||
	    strcmp(f->name, "podRentInterruptable") == 0) {
		spot = f->name[3] == 'R';
		gpu = json_string_value(json_object_get(in, "gpuTypeId"));
		if (gpu == NULL) {
			v = json_object_get(in, "gpuTypeIdList");
			gpu = json_string_value(json_array_get(v, 0));
		}
		if (gpu == NULL) {
			*err = "gpuTypeId is required";
			return NULL;
		}
		n = 1;
		if (json_is_integer(json_object_get(in, "gpuCount")))
			n = json_integer_value(json_object_get(in, "gpuCount"));
		if (n < 1 || n > 16) {
			*err = "gpuCount must be 1 to 16";
			return NULL;
		}
		if (spot)
			bid = (money_t)llround(json_number_value(
			    json_object_get(in, "bidPerGpu")) * 1e6);
		v = json_object_get(in, "dataCenterId");
		arr = json_array();
		if (json_is_string(v))
			json_array_append(arr, v);
		sku = pick_sku(s, gpu, (int)n, json_string_value(
		    json_object_get(in, "cloudType")), arr, json_string_value(
		    json_object_get(in, "countryCode")), spot, &known);
		json_decref(arr);
		if (!known) {
			(void)snprintf(ebuf, elen, "gpu type %s does not exist",
			    gpu);
			*err = ebuf;
			return NULL;
		}
		if (sku < 0) {
			*err = no_capacity_msg;
			return NULL;
		}
		if (spot && bid < s->p[SIM_RUNPOD].skus[sku].min_bid) {
			char b[32];

			(void)snprintf(ebuf, elen, "Your bid price is below "
			    "the minimum bid price of $%s/hr per GPU.",
			    money_fmt(s->p[SIM_RUNPOD].skus[sku].min_bid, b,
			    sizeof(b)));
			*err = ebuf;
			return NULL;
		}
		i = pod_new(r, sku, (int)n, json_string_value(json_object_get(
		    in, "name")), json_string_value(json_object_get(in,
		    "imageName")), spot ? bid : 0);
		json_array_foreach(json_object_get(in, "env"), k, e) {
			if (json_is_string(json_object_get(e, "key")))
				json_object_set(i->env, json_string_value(
				    json_object_get(e, "key")),
				    json_is_string(json_object_get(e,
				    "value")) ? json_object_get(e, "value") :
				    json_string(""));
		}
		if (json_is_string(v = json_object_get(in, "ports"))) {
			char *dup = xstrdup(json_string_value(v)), *t, *sv;

			arr = json_array();
			for (t = strtok_r(dup, ",", &sv); t != NULL;
			    t = strtok_r(NULL, ",", &sv))
				json_array_append_new(arr, json_string(t));
			json_object_set_new(i->extra, "ports", arr);
			free(dup);
		}
		if (json_is_integer(v = json_object_get(in, "volumeInGb")))
			json_object_set(i->extra, "volumeInGb", v);
		if (json_is_integer(v = json_object_get(in,
		    "containerDiskInGb")))
			json_object_set(i->extra, "containerDiskInGb", v);
		if (json_is_string(v = json_object_get(in, "dockerArgs")))
			json_object_set(i->extra, "dockerArgs", v);
		pod_started(r, i);
		return gql_pod_json(s, i, r->now);
	}
	i = sim_inst_find(s, SIM_RUNPOD, id);
	if (i == NULL) {
		*err = "Pod not found";
		return NULL;
	}
	if (strcmp(f->name, "podTerminate") == 0) {
		if (i->phase != PH_TERMINATING)
			sim_inst_terminate(s, i, r->now);
		sim_tick(s, r->now);
		return json_null();
	}
	if (strcmp(f->name, "podStop") == 0) {
		if (i->phase == PH_PROVISION || i->phase == PH_STARTING ||
		    i->phase == PH_RUNNING || i->phase == PH_FAILED)
			sim_inst_stop(s, i, r->now);
		sim_tick(s, r->now);
		return gql_pod_json(s, i, r->now);
	}
	if (i->phase == PH_TERMINATING) {
		*err = "Pod is terminated";
		return NULL;
	}
	if (strcmp(f->name, "podBidResume") == 0) {
		if (!i->interruptible) {
			*err = "This pod is not interruptible";
			return NULL;
		}
		bid = (money_t)llround(json_number_value(json_object_get(in,
		    "bidPerGpu")) * 1e6);
		if (i->sku >= 0 &&
		    bid < s->p[SIM_RUNPOD].skus[i->sku].min_bid) {
			*err = "Your bid price is below the minimum bid price.";
			return NULL;
		}
		if (i->phase == PH_STOPPED || i->phase == PH_INTERRUPTED) {
			i->bid = bid;
			i->price = bid * i->gpus;
		}
	}
	if (!pod_resume(r, i, &why)) {
		*err = why;
		return NULL;
	}
	return gql_pod_json(s, i, r->now);
}

static void
h_graphql(struct sim_req *r, struct sim_resp *resp)
{
	struct gql_ctx		*g = r->ctx;
	const struct gql_op	*op;
	json_t			*data, *errors, *v, *full;
	const char		*err, *key;
	size_t			 k;
	char			 msg[256], ebuf[200];
	bool			 mut;

	if (!g->parsed) {
		gql_errors(resp, g->status, g->err);
		return;
	}
	mut = strcmp(g->doc.op, "mutation") == 0;
	for (k = 0; k < g->doc.nsel; k++) {
		op = gql_op_find(g->doc.sel[k].name);
		if (op == NULL || op->mutation != mut) {
			(void)snprintf(msg, sizeof(msg), "Cannot query field "
			    "\"%s\" on type \"%s\".", g->doc.sel[k].name,
			    mut ? "Mutation" : "Query");
			gql_errors(resp, 400, msg);
			return;
		}
		if (!gql_validate(r, resp, op, &g->doc.sel[k]))
			return;
	}
	data = json_object();
	errors = json_array();
	for (k = 0; k < g->doc.nsel; k++) {
		const struct gql_field *f = &g->doc.sel[k];

		key = f->alias != NULL ? f->alias : f->name;
		full = gql_exec(r, f, &err, ebuf, sizeof(ebuf));
		if (err != NULL) {
			json_array_append_new(errors, jpack("{s:s, s:[s]}",
			    "message", err, "path", key));
			json_object_set_new(data, key, json_null());
			continue;
		}
		if (json_is_object(full) || json_is_array(full)) {
			if (f->nsel == 0) {
				(void)snprintf(msg, sizeof(msg), "Field \"%s\" "
				    "must have a selection of subfields.",
				    f->name);
				json_decref(full);
				json_decref(data);
				json_decref(errors);
				gql_errors(resp, 400, msg);
				return;
			}
			if (json_is_object(full))
				v = gql_project(full, f->sel, f->nsel,
				    gql_hook_fn, r->sim);
			else {
				size_t j;
				json_t *e;

				v = json_array();
				json_array_foreach(full, j, e)
					json_array_append_new(v, gql_project(e,
					    f->sel, f->nsel, gql_hook_fn,
					    r->sim));
			}
			json_decref(full);
		} else
			v = full;
		json_object_set_new(data, key, v);
	}
	if (json_array_size(errors) > 0)
		resp_json(resp, 200, jpack("{s:o, s:o}", "errors", errors,
		    "data", data), NULL);
	else {
		json_decref(errors);
		resp_json(resp, 200, jpack("{s:o}", "data", data), NULL);
	}
}

static const struct sim_route rp_routes[] = {
	{ "POST", "graphql", "graphql", "graphql", h_graphql },
	{ "GET", "v2/pods", "list", "pods", h_v2_list },
	{ "POST", "v2/pods", "create", "pods", h_v2_create },
	{ "GET", "v2/pods/*", "show", "pod", h_v2_get },
	{ "PATCH", "v2/pods/*", "manage", "pod", h_v2_patch },
	{ "DELETE", "v2/pods/*", "destroy", "pod", h_v2_delete },
	{ "POST", "v2/pods/*/action", "manage", "pod_action", h_v2_action },
	{ "GET", "v2/catalog/gpus", "offers", "catalog", h_v2_gpus },
	{ "GET", "v2/catalog/gpus/*", "offers", "catalog", h_v2_gpu },
};

static bool
rp_route(struct sim_req *r, struct sim_resp *resp)
{
	const struct sim_route	*e;
	bool			 wrong;
	const char		*a;

	e = route_find(r, rp_routes, nitems(rp_routes), &wrong);
	if (e == NULL) {
		if (req_match(r, NULL, "graphql"))
			gql_errors(resp, 405, "GraphQL takes POST");
		else
			problem(resp, wrong ? 405 : 404, wrong ? "method not "
			    "allowed on this path" : "no such endpoint");
		return false;
	}
	r->op = e->op;
	r->route = e->route;
	r->handler = e->handler;
	if (e->handler == h_graphql)
		rp_gql_route(r);
	if (e->handler == h_v2_action && json_is_object(r->json) &&
	    (a = json_string_value(json_object_get(r->json, "action"))) !=
	    NULL && strcmp(a, "terminate") == 0)
		r->op = "destroy";
	return true;
}

const struct sim_api runpod_api = {
	.prefix = "/runpod",
	.prov = SIM_RUNPOD,
	.route = rp_route,
	.auth = rp_auth,
	.unauthorized = rp_unauthorized,
	.error = rp_error,
	.too_many = rp_too_many,
	.decorate = rp_decorate,
};
