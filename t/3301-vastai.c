/*
 * 3301: the vastai provider against gpureconcile-sim, through the
 * wrappers: options and the key, offers (the search sent, filtered,
 * cheapest first), spawn and its request (label, onstart, env, Bearer
 * auth), PENDING -> RUNNING over sim time, every status mapped onto a
 * state and billing, list over several pages, get, stop/start,
 * terminate twice, each error of PROVIDER-APIS.md 1.3 onto the taxonomy
 * (injected with the sim's fault rules), lost replies, a stale offer
 * moving on, rate limiting (our pacing keeps a rate-limited sim quiet; an
 * unpaced client earns Vast's plain-text 429), threads, and the key
 * absent from every log line at -vv.
 *
 * The sim comes from $GR_SIM, else $GR_BUILD/gpureconcile-sim; without
 * one the test is skipped.  The main sim runs on a frozen clock moved
 * with POST /_sim/advance, with its rate limits off; a second one runs at
 * --time-scale 20 with Vast's rate limits on.  The sim's request log is
 * where the requests' shapes are read.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define KEY		"sim-vast-KEY-7c1e9b2f40d8aa51"
#define LEDGER		"5eed"
#define NSIMS		2

struct sim {
	pid_t		 pid;
	int		 port;
	char		*base;		/* owned; vastai's base_url */
	char		*dir;		/* owned */
	struct http_client *ctl;	/* owned; the control API */
	int64_t		 seq;		/* request log read */
};

static pid_t	 sim_pids[NSIMS];
static pid_t	 main_pid;

static void
kill_sims(void)
{
	int	 i, st;

	if (getpid() != main_pid)
		return;
	for (i = 0; i < NSIMS; i++) {
		if (sim_pids[i] <= 0)
			continue;
		(void)kill(sim_pids[i], SIGTERM);
		(void)waitpid(sim_pids[i], &st, 0);
		sim_pids[i] = 0;
	}
}

static const char *
sim_path(void)
{
	static char	*path;
	const char	*s = getenv("GR_SIM"), *b = getenv("GR_BUILD");

	if (path != NULL)
		return path;
	if (s != NULL && *s != '\0')
		path = xstrdup(s);
	else
		path = xasprintf("%s/gpureconcile-sim", b != NULL ? b :
		    "build");
	return path;
}

static void
sim_start(struct sim *s, int slot, const char *name, const char *scenario,
    const char *scale)
{
	struct gr_err	 e;
	char		*scen, *pf, *errlog, *txt = NULL;
	int		 i, fd;

	memset(s, 0, sizeof(*s));
	s->dir = xasprintf("%s/%s", test_tmpdir(), name);
	if (mkdir_p(s->dir, 0700) == -1)
		bail_out("mkdir %s: %s", s->dir, strerror(errno));
	scen = test_write(s->dir, "scenario.json", scenario);
	pf = xasprintf("%s/port", s->dir);
	errlog = xasprintf("%s/stderr", s->dir);
	fflush(stdout);
	s->pid = fork();
	if (s->pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (s->pid == 0) {
		fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd != -1) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execl(sim_path(), sim_path(), "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--scenario", scen, "--time-scale",
		    scale, "-q", (char *)NULL);
		_exit(127);
	}
	sim_pids[slot] = s->pid;
	for (i = 0; i < 1000; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 &&
		    strchr(txt, '\n') != NULL) {
			s->port = atoi(txt);
			break;
		}
		free(txt);
		txt = NULL;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			(void)file_read(errlog, 4096, &txt, NULL);
			bail_out("gpureconcile-sim %s exited: %s", name,
			    txt != NULL ? txt : "");
		}
		usleep(10000);
	}
	free(txt);
	if (s->port <= 0)
		bail_out("gpureconcile-sim %s wrote no port", name);
	s->base = xasprintf("http://127.0.0.1:%d/vast", s->port);
	txt = xasprintf("http://127.0.0.1:%d", s->port);
	if (http_client_new("sim", txt, NULL, NULL, &s->ctl, &e) == -1)
		bail_out("control client: %s", e.msg);
	free(txt);
	free(scen);
	free(pf);
	free(errlog);
}

/* A control API call; the reply's JSON (new).  Bails out on failure. */
static json_t *
ctl(struct sim *s, const char *method, const char *path, const char *body)
{
	struct http_req		 req;
	struct http_resp	 r;
	struct gr_err		 e;
	json_t			*j;
	json_error_t		 je;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	if (http_do(s->ctl, &req, &r, &e) == -1)
		bail_out("%s %s: %s", method, path, e.msg);
	if (r.status >= 300)
		bail_out("%s %s: HTTP %ld: %s", method, path, r.status,
		    r.body);
	j = json_loadb(r.body, r.len, 0, &je);
	if (j == NULL)
		bail_out("%s %s: not JSON: %s", method, path, r.body);
	http_resp_release(&r);
	return j;
}

static void
ctl_ok(struct sim *s, const char *method, const char *path,
    const char *body)
{
	json_decref(ctl(s, method, path, body));
}

static void
advance(struct sim *s, int64_t ms)
{
	char	*b = xasprintf("{\"ms\": %lld}", (long long)ms);

	ctl_ok(s, "POST", "/_sim/advance", b);
	free(b);
}

static void
fault(struct sim *s, const char *rule)
{
	ctl_ok(s, "POST", "/_sim/faults", rule);
}

static void
faults_clear(struct sim *s)
{
	ctl_ok(s, "DELETE", "/_sim/faults", NULL);
}

/* The vast requests since the last call (new array). */
static json_t *
requests(struct sim *s)
{
	char	*p = xasprintf("/_sim/requests?provider=vastai&since=%lld",
		    (long long)s->seq);
	json_t	*j = ctl(s, "GET", p, NULL), *arr;

	s->seq = json_integer_value(json_object_get(j, "last_seq"));
	arr = json_incref(json_object_get(j, "requests"));
	json_decref(j);
	free(p);
	return arr;
}

/* Forget the requests so far. */
static void
requests_skip(struct sim *s)
{
	json_decref(requests(s));
}

/* The last request of arr with this method and path prefix (borrowed). */
static json_t *
find_req(json_t *arr, const char *method, const char *prefix)
{
	json_t	*r, *hit = NULL;
	size_t	 i;

	json_array_foreach(arr, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "method")),
		    method) == 0 && str_has_prefix(json_string_value(
		    json_object_get(r, "path")), prefix))
			hit = r;
	}
	return hit;
}

static size_t
count_req(json_t *arr, const char *method, const char *prefix)
{
	json_t	*r;
	size_t	 i, n = 0;

	json_array_foreach(arr, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "method")),
		    method) == 0 && str_has_prefix(json_string_value(
		    json_object_get(r, "path")), prefix))
			n++;
	}
	return n;
}

/* The body of a logged request, parsed (new); NULL when none. */
static json_t *
req_body(json_t *r)
{
	const char	*b = json_string_value(json_object_get(r, "body"));

	return b != NULL && *b != '\0' ? json_loads(b, 0, NULL) : NULL;
}

/* A member of an object by a path of keys ("gpu_name", "eq"). */
static json_t *
dig(json_t *o, const char *k1, const char *k2)
{
	json_t	*v = json_object_get(o, k1);

	return k2 != NULL ? json_object_get(v, k2) : v;
}

/* --- the provider -------------------------------------------------------- */

/* A vastai provider on sim s; extra is "key=value,..." or NULL. */
static int
vp_open(struct sim *s, const char *extra, struct provider **p,
    struct gr_err *e)
{
	struct provider_conf	 conf;
	struct kv		 opts[8];
	char			*dup = NULL, *t, *save = NULL, *eq;
	size_t			 n = 0;
	int			 rc;

	memset(&conf, 0, sizeof(conf));
	conf.name = "vastai";
	conf.state_dir = test_tmpdir();
	conf.ledger_id = LEDGER;
	provider_timeouts_default(&conf.timeouts);
	if (s != NULL) {
		opts[n].key = "base_url";
		opts[n++].value = s->base;
		opts[n].key = "time_scale";
		opts[n++].value = "1000000";
	}
	if (extra != NULL) {
		dup = xstrdup(extra);
		for (t = strtok_r(dup, ",", &save); t != NULL && n < 8;
		    t = strtok_r(NULL, ",", &save)) {
			eq = strchr(t, '=');
			if (eq == NULL)
				continue;
			*eq = '\0';
			if (strcmp(t, "time_scale") == 0 && s != NULL) {
				opts[1].value = eq + 1;
				continue;
			}
			opts[n].key = t;
			opts[n++].value = eq + 1;
		}
	}
	conf.options = opts;
	conf.noptions = n;
	gr_err_clear(e);
	rc = provider_new(&conf, p, e);
	free(dup);
	return rc;
}

static struct provider *
vp(struct sim *s, const char *extra)
{
	struct provider	*p;
	struct gr_err	 e;

	if (vp_open(s, extra, &p, &e) == -1)
		bail_out("vastai provider: %s (%s)", e.msg, e.hint);
	return p;
}

static struct gpu_req	 g4090 = { (char *)"RTX_4090", 1, 0 };

static void
spawn_req_init(struct spawn_req *r, const char *label,
    const struct offer *o)
{
	static const struct kv	 env[] = {
		{ (char *)"GREETING", (char *)"hello world" },
		{ (char *)"WANDB_MODE", (char *)"offline" },
	};
	static const char	 boot[] = "#!/bin/sh\necho started\n";

	memset(r, 0, sizeof(*r));
	r->label = label;
	r->address = "train/worker/0";
	r->gpu = &g4090;
	r->max_price = 500000;	/* $0.50/h */
	r->disk_gb = 20;
	r->image = "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime";
	r->bootstrap = boot;
	r->bootstrap_len = sizeof(boot) - 1;
	r->env = env;
	r->nenv = nitems(env);
	r->offer = o;
}

/* The sim's view of one instance (new), or NULL. */
static json_t *
sim_inst(struct sim *s, const char *id)
{
	struct http_req		 req;
	struct http_resp	 r;
	struct gr_err		 e;
	json_t			*j = NULL;
	char			*path;

	path = xasprintf("/_sim/instances/vastai/%s", id);

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = path;
	if (http_do(s->ctl, &req, &r, &e) == 0 && r.status == 200)
		j = json_loadb(r.body, r.len, 0, NULL);
	http_resp_release(&r);
	free(path);
	return j;
}

/* Make an instance through the control API; its id (owned). */
static char *
sim_make(struct sim *s, int sku, const char *label, const char *phase)
{
	char	*b, *id;
	json_t	*j;

	b = xasprintf("{\"provider\": \"vastai\", \"sku\": %d%s%s%s, "
	    "\"phase\": \"%s\"}", sku, label != NULL ? ", \"label\": \"" : "",
	    label != NULL ? label : "", label != NULL ? "\"" : "", phase);
	j = ctl(s, "POST", "/_sim/instances", b);
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	free(b);
	return id;
}

static void
sim_phase(struct sim *s, const char *id, const char *phase)
{
	char	*path = xasprintf("/_sim/instances/vastai/%s/phase", id);
	char	*b = xasprintf("{\"phase\": \"%s\"}", phase);

	ctl_ok(s, "POST", path, b);
	free(path);
	free(b);
}

/* --- options, the key ---------------------------------------------------- */

static void
test_init(struct sim *s)
{
	struct provider	*p;
	struct gr_err	 e;

	unsetenv("VAST_API_KEY");
	is_int(vp_open(s, NULL, &p, &e), -1, "init without a key fails");
	is_str(gr_code_name(e.code), "AUTH", "no key: AUTH");
	like(e.hint, "export VAST_API_KEY=", "no key: the hint says "
	    "export VAST_API_KEY=...");
	setenv("VAST_API_KEY", KEY, 1);

	is_int(vp_open(s, "base_ur1=x", &p, &e), -1, "an unknown option "
	    "fails");
	is_str(gr_code_name(e.code), "CONFIG", "unknown option: CONFIG");
	like(e.msg, "unknown option 'base_ur1'", "unknown option: named");
	like(e.hint, "did you mean 'base_url'?", "unknown option: did you "
	    "mean");
	is_int(vp_open(s, "verified_only=maybe", &p, &e), -1,
	    "verified_only=maybe fails");
	is_str(gr_code_name(e.code), "CONFIG", "bad verified_only: CONFIG");
	is_int(vp_open(s, "time_scale=0", &p, &e), -1, "time_scale=0 fails");
	is_str(gr_code_name(e.code), "CONFIG", "bad time_scale: CONFIG");
	is_int(vp_open(NULL, "base_url=http://example.com/vast", &p, &e), -1,
	    "plain http to a host that is not loopback fails");
	is_str(gr_code_name(e.code), "CONFIG", "non-loopback http: CONFIG");

	p = vp(s, NULL);
	is_str(p->cred_source, "env VAST_API_KEY", "cred_source says where "
	    "the key came from");
	ok(provider_has_cap(p, PROV_CAP_GPU) &&
	    provider_has_cap(p, PROV_CAP_HIBERNATION) &&
	    provider_has_cap(p, PROV_CAP_MULTI_REGION) &&
	    !provider_has_cap(p, PROV_CAP_SPOT),
	    "caps: gpu, hibernation, multiRegion; not spot");
	provider_free(p);
}

/* --- offers -------------------------------------------------------------- */

static void
test_offers(struct sim *s)
{
	struct provider		*p = vp(s, NULL);
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct gr_err		 e;
	json_t			*rq, *r, *b;
	size_t			 i;
	bool			 sorted = true;

	requests_skip(s);
	is_int(provider_offers(p, &g4090, &ol, &e), 0, "offers of RTX_4090: "
	    "%s", e.msg);
	is_int((long long)ol.n, 12, "12 RTX_4090 asks (10 in US, 2 in CA)");
	for (i = 1; i < ol.n; i++)
		if (ol.v[i].price < ol.v[i - 1].price)
			sorted = false;
	ok(sorted, "cheapest first");
	if (ol.n == 12) {
		is_int(ol.v[0].price, 350000, "cheapest is $0.35, to the "
		    "micro-dollar");
		is_str(ol.v[0].region, "CA", "region is the country code of "
		    "the geolocation");
		is_str(ol.v[0].gpu, "RTX_4090", "gpu is the canonical name");
		is_int(ol.v[0].gpu_count, 1, "1 GPU");
		is_int(ol.v[0].vram_gb, 24, "24 GB");
		is_int(ol.v[0].available, 1, "an ask is one machine");
		is_str(ol.v[0].id, "3100000", "offer id is the ask id");
		is_int(ol.v[11].price, 400000, "dearest is $0.40");
		is_str(ol.v[11].region, "US", "in US");
	}
	offer_list_release(&ol);

	rq = requests(s);
	r = find_req(rq, "POST", "/vast/api/v0/bundles/");
	ok(r != NULL, "offers POSTs /api/v0/bundles/");
	b = req_body(r);
	is_str(json_string_value(json_object_get(r, "auth")), "bearer",
	    "with a Bearer header");
	is_int(json_integer_value(json_object_get(r, "key_index")), 0,
	    "the scenario's key");
	ok(strstr(json_string_value(json_object_get(r, "path")), "api_key") ==
	    NULL, "no api_key in the URL");
	like(json_string_value(json_object_get(r, "user_agent")),
	    "gpureconcile/", "User-Agent gpureconcile/...");
	is_str(json_string_value(json_object_get(r, "content_type")),
	    "application/json", "Content-Type application/json");
	is_str(json_string_value(dig(b, "gpu_name", "eq")), "RTX 4090",
	    "search: gpu_name eq Vast's name");
	is_int(json_integer_value(dig(b, "num_gpus", "eq")), 1,
	    "search: num_gpus eq 1");
	is_int(json_integer_value(dig(b, "gpu_ram", "gte")), 21600,
	    "search: gpu_ram gte 90%% of 24 GB, in MB");
	ok(json_is_true(dig(b, "rentable", "eq")) &&
	    json_is_false(dig(b, "rented", "eq")) &&
	    json_is_true(dig(b, "verified", "eq")),
	    "search: rentable, not rented, verified");
	is_str(json_string_value(json_array_get(json_array_get(
	    json_object_get(b, "order"), 0), 0)), "dph_total",
	    "search: ordered by dph_total");
	is_str(json_string_value(json_object_get(b, "type")), "on-demand",
	    "search: on-demand");
	ok(json_integer_value(json_object_get(b, "limit")) > 0,
	    "search: a limit");
	json_decref(b);
	json_decref(rq);

	/* the 80 GB and the 40 GB A100 share Vast's name */
	memset(&g, 0, sizeof(g));
	g.type = (char *)"A100_80GB";
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of A100_80GB");
	ok(ol.n == 1 && strcmp(ol.v[0].gpu, "A100_80GB") == 0 &&
	    ol.v[0].vram_gb == 80, "only the 80 GB card, named A100_80GB");
	offer_list_release(&ol);
	g.type = (char *)"A100_40GB";
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of A100_40GB");
	ok(ol.n == 2 && strcmp(ol.v[0].gpu, "A100_40GB") == 0 &&
	    strcmp(ol.v[1].gpu, "A100_80GB") == 0,
	    "the 40 GB card (cheaper) and the 80 GB one, each named by its "
	    "gpu_ram");
	offer_list_release(&ol);
	g.min_vram_gb = 60;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of A100_40GB "
	    "with min_vram_gb 60");
	ok(ol.n == 1 && ol.v[0].vram_gb == 80, "min_vram_gb filters on "
	    "gpu_ram");
	offer_list_release(&ol);

	g.type = (char *)"H100_SXM";
	g.count = 8;
	g.min_vram_gb = 0;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of 8 H100_SXM");
	ok(ol.n == 1 && ol.v[0].gpu_count == 8 && ol.v[0].price == 17000000,
	    "one 8-GPU machine at $17.00");
	offer_list_release(&ol);
	g.count = 2;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of 2 H100_SXM");
	ok(ol.n == 1 && ol.v[0].gpu_count == 2 && ol.v[0].price == 4400000,
	    "only the 2-GPU machine: num_gpus must match");
	offer_list_release(&ol);
	/*
	 * No search here comes back empty: gpureconcile-sim built with
	 * SANITIZE=1 aborts on one (qsort of a NULL array in sim/vast.c
	 * rows_sort, undefined even with 0 rows).
	 */

	g.type = (char *)GPU_CPU;
	g.count = 0;
	requests_skip(s);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers of CPU");
	is_int((long long)ol.n, 0, "vast rents no CPU machines");
	rq = requests(s);
	is_int((long long)json_array_size(rq), 0, "and asks nobody");
	json_decref(rq);
	offer_list_release(&ol);

	g.type = (char *)"RTX_9999";
	g.count = 1;
	is_int(provider_offers(p, &g, &ol, &e), -1, "offers of a type the "
	    "catalog lacks fail");
	is_str(gr_code_name(e.code), "INVALID_SPEC", "unknown type: "
	    "INVALID_SPEC");

	provider_free(p);
}

/* --- spawn, boot, get, stop/start, terminate ----------------------------- */

static void
expect_state(struct provider *p, const char *id, enum inst_state st,
    bool billing, money_t price, const char *what)
{
	struct instance	 in;
	struct gr_err	 e;

	memset(&in, 0, sizeof(in));
	if (provider_get(p, id, &in, &e) == -1) {
		ok(false, "%s: get: %s", what, e.msg);
		return;
	}
	ok(in.state == st && in.billing == billing && in.price == price,
	    "%s: %s, %sbilling, $%.6f/h (got %s, %s, %lld: %s)", what,
	    inst_state_name(st), billing ? "" : "not ",
	    (double)price / 1e6, inst_state_name(in.state),
	    in.billing ? "billing" : "not billing", (long long)in.price,
	    in.status != NULL ? in.status : "");
	instance_release(&in);
}

static void
test_lifecycle(struct sim *s)
{
	struct provider		*p = vp(s, NULL);
	struct offer_list	 ol = { NULL, 0 };
	struct spawn_req	 req;
	struct instance		 in;
	struct gr_err		 e;
	json_t			*rq, *r, *b, *si;
	char			*label = owner_label(LEDGER, 1), *id = NULL;

	if (provider_offers(p, &g4090, &ol, &e) == -1 || ol.n == 0)
		bail_out("offers: %s", e.msg);
	requests_skip(s);
	spawn_req_init(&req, label, &ol.v[0]);
	memset(&in, 0, sizeof(in));
	is_int(provider_spawn(p, &req, &in, &e), 0, "spawn on the cheapest "
	    "offer: %s", e.msg);
	ok(in.id != NULL && strspn(in.id, "0123456789") == strlen(in.id),
	    "the instance id is new_contract, a number");
	is_int(in.state, INST_PENDING, "spawn returns PENDING");
	ok(!in.billing, "not billing yet");
	is_int(in.price, 350000, "at the offer's price");
	is_str(in.label, label, "with its owner label");
	is_str(in.region, "CA", "in the offer's region");
	id = xstrdup(in.id != NULL ? in.id : "0");
	instance_release(&in);

	rq = requests(s);
	r = find_req(rq, "PUT", "/vast/api/v0/asks/");
	ok(r != NULL, "spawn PUTs /api/v0/asks/");
	is_str(json_string_value(json_object_get(r, "path")),
	    "/vast/api/v0/asks/3100000/", "the offer's ask id in the path");
	is_str(json_string_value(json_object_get(r, "auth")), "bearer",
	    "spawn: Bearer auth");
	b = req_body(r);
	is_str(json_string_value(json_object_get(b, "label")), label,
	    "body: label is the owner label");
	is_str(json_string_value(json_object_get(b, "onstart")),
	    "#!/bin/sh\necho started\n", "body: onstart is the bootstrap");
	is_str(json_string_value(json_object_get(b, "image")),
	    "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime", "body: image");
	ok(json_number_value(json_object_get(b, "disk")) == 20,
	    "body: disk 20");
	is_str(json_string_value(dig(b, "env", "GREETING")), "hello world",
	    "body: env as an object");
	is_str(json_string_value(json_object_get(b, "client_id")), "me",
	    "body: client_id me");
	ok(json_is_null(json_object_get(b, "price")), "body: price null "
	    "(on-demand)");
	is_str(json_string_value(json_object_get(b, "runtype")), "ssh_proxy",
	    "body: runtype ssh_proxy");
	json_decref(b);
	json_decref(rq);

	si = sim_inst(s, id);
	is_str(json_string_value(json_object_get(si, "label")), label,
	    "the sim holds the instance under the owner label");
	json_decref(si);

	expect_state(p, id, INST_PENDING, false, 350000, "just made "
	    "(actual_status null)");
	advance(s, 5000);
	expect_state(p, id, INST_PENDING, false, 350000, "loading");
	advance(s, 20000);
	expect_state(p, id, INST_RUNNING, true, 350000, "running");
	memset(&in, 0, sizeof(in));
	is_int(provider_get(p, id, &in, &e), 0, "get a running instance");
	ok(in.ssh_host != NULL && strcmp(in.ssh_host,
	    "ssh1.vast.sim.invalid") == 0 && in.ssh_port > 0,
	    "ssh_host and ssh_port from the instance");
	is_str(in.ssh_user, "root", "ssh as root");
	is_str(in.gpu, "RTX_4090", "get: canonical gpu");
	is_int(in.gpu_count, 1, "get: 1 GPU");
	is_str(in.region, "CA", "get: region");
	is_str(in.label, label, "get: label");
	ok(in.created_ms > 0, "get: created_ms from start_date");
	is_str(in.status, "running", "get: Vast's own word");
	instance_release(&in);
	rq = requests(s);
	r = find_req(rq, "GET", "/vast/api/v0/instances/");
	b = json_string(id);
	ok(r != NULL && strstr(json_string_value(json_object_get(r, "path")),
	    json_string_value(b)) != NULL, "get: GET /api/v0/instances/ID/");
	json_decref(b);
	like(json_string_value(json_object_get(r, "path")), "?owner=me",
	    "get: ?owner=me");
	json_decref(rq);

	/* stop and start */
	is_int(provider_stop(p, id, &e), 0, "stop: %s", e.msg);
	rq = requests(s);
	r = find_req(rq, "PUT", "/vast/api/v0/instances/");
	b = req_body(r);
	is_str(json_string_value(json_object_get(b, "state")), "stopped",
	    "stop PUTs {state: stopped}");
	json_decref(b);
	json_decref(rq);
	expect_state(p, id, INST_STOPPED, true, 350000, "stopping (running, "
	    "intended stopped)");
	advance(s, 2000);
	expect_state(p, id, INST_STOPPED, true, 20000, "stopped: storage "
	    "still bills");
	is_int(provider_start(p, id, &e), 0, "start: %s", e.msg);
	rq = requests(s);
	r = find_req(rq, "PUT", "/vast/api/v0/instances/");
	b = req_body(r);
	is_str(json_string_value(json_object_get(b, "state")), "running",
	    "start PUTs {state: running}");
	json_decref(b);
	json_decref(rq);
	expect_state(p, id, INST_PENDING, false, 350000, "starting again");
	advance(s, 25000);
	expect_state(p, id, INST_RUNNING, true, 350000, "running again");

	/* terminate, twice */
	requests_skip(s);
	is_int(provider_terminate(p, id, &e), 0, "terminate: %s", e.msg);
	rq = requests(s);
	r = find_req(rq, "DELETE", "/vast/api/v0/instances/");
	ok(r != NULL && strstr(json_string_value(json_object_get(r, "path")),
	    id) != NULL, "terminate DELETEs /api/v0/instances/ID/");
	json_decref(rq);
	expect_state(p, id, INST_TERMINATED, false, 350000, "being destroyed "
	    "(cur_state unloaded)");
	advance(s, 3000);
	memset(&in, 0, sizeof(in));
	is_int(provider_get(p, id, &in, &e), -1, "get after destroy fails");
	is_str(gr_code_name(e.code), "NOT_FOUND", "gone: NOT_FOUND");
	is_int(provider_terminate(p, id, &e), 0, "terminate again succeeds "
	    "(idempotent)");
	is_int(p->ops->terminate(p, id, &e), -1, "the op itself says the "
	    "second DELETE found nothing");
	is_str(gr_code_name(e.code), "NOT_FOUND", "404 on DELETE: NOT_FOUND");
	rq = requests(s);
	r = find_req(rq, "DELETE", "/vast/api/v0/instances/");
	is_int(json_integer_value(json_object_get(r, "status")), 404,
	    "the sim answered the second DELETE 404");
	json_decref(rq);

	is_int(provider_get(p, "99999999", &in, &e), -1, "get of an id "
	    "nobody has fails");
	is_str(gr_code_name(e.code), "NOT_FOUND", "{\"instances\": null}: "
	    "NOT_FOUND");
	is_int(provider_get(p, "../x", &in, &e), -1, "get of a malformed id "
	    "fails");
	is_str(gr_code_name(e.code), "INVALID_SPEC", "malformed id: "
	    "INVALID_SPEC, no call");
	is_int(provider_terminate(p, "abc", &e), -1, "terminate of a "
	    "malformed id is not taken for done");

	offer_list_release(&ol);
	free(label);
	free(id);
	provider_free(p);
}

/* spawn with no offer given, refusals before any call, a stale offer */
static void
test_spawn_paths(struct sim *s)
{
	struct provider		*p = vp(s, NULL);
	struct offer_list	 ol = { NULL, 0 };
	struct spawn_req	 req;
	struct instance		 in;
	struct gr_err		 e;
	struct offer		 o;
	struct kv		 badenv = { (char *)"-p 22:22", (char *)"1" };
	const char		*us[] = { "US" };
	char			*label = owner_label(LEDGER, 2), *big, *fid;
	json_t			*rq;
	size_t			 i;
	int			 rc;

	memset(&in, 0, sizeof(in));
	spawn_req_init(&req, label, NULL);
	req.regions = us;
	req.nregions = 1;
	is_int(provider_spawn(p, &req, &in, &e), 0, "spawn with no offer "
	    "given: %s", e.msg);
	ok(in.region != NULL && strcmp(in.region, "US") == 0 &&
	    in.price == 400000, "took the cheapest offer in the group's "
	    "region (US, $0.40)");
	instance_release(&in);

	req.regions = NULL;
	req.nregions = 0;
	req.max_price = 300000;
	requests_skip(s);
	is_int(provider_spawn(p, &req, &in, &e), -1, "spawn under every "
	    "offer's price fails");
	is_str(gr_code_name(e.code), "CAPACITY", "no offer under max: "
	    "CAPACITY");
	like(e.msg, "no RTX_4090 offer under $0.30/h", "says so");
	rq = requests(s);
	is_int((long long)count_req(rq, "PUT", "/vast/api/v0/asks/"), 0,
	    "and rents nothing");
	json_decref(rq);

	if (provider_offers(p, &g4090, &ol, &e) == -1 || ol.n < 2)
		bail_out("offers: %s", e.msg);
	spawn_req_init(&req, label, &ol.v[0]);
	req.max_price = ol.v[0].price - 1;
	is_int(provider_spawn(p, &req, &in, &e), -1, "spawn of an offer above "
	    "max_price fails");
	is_str(gr_code_name(e.code), "CAPACITY", "above max: CAPACITY");
	req.max_price = 500000;
	req.spot = true;
	is_int(provider_spawn(p, &req, &in, &e), -1, "spot fails");
	is_str(gr_code_name(e.code), "UNSUPPORTED", "spot: UNSUPPORTED");
	req.spot = false;
	req.env = &badenv;
	req.nenv = 1;
	is_int(provider_spawn(p, &req, &in, &e), -1, "an env name that is a "
	    "docker flag fails");
	is_str(gr_code_name(e.code), "INVALID_SPEC", "bad env name: "
	    "INVALID_SPEC");
	spawn_req_init(&req, label, &ol.v[0]);
	big = xcalloc(1, 5000);
	memset(big, 'x', 4999);
	req.bootstrap = big;
	req.bootstrap_len = 4999;
	is_int(provider_spawn(p, &req, &in, &e), -1, "a bootstrap over 4096 "
	    "bytes fails");
	is_str(gr_code_name(e.code), "INVALID_SPEC", "long onstart: "
	    "INVALID_SPEC");
	free(big);
	o = ol.v[0];
	o.id = (char *)"31x";
	req.bootstrap = NULL;
	req.offer = &o;
	is_int(provider_spawn(p, &req, &in, &e), -1, "an offer id that is "
	    "not a number fails");
	is_str(gr_code_name(e.code), "INVALID_SPEC", "bad offer id: "
	    "INVALID_SPEC");
	rq = requests(s);
	is_int((long long)count_req(rq, "PUT", "/vast/api/v0/asks/"), 0,
	    "none of those refusals called Vast");
	json_decref(rq);

	/* someone rents the cheapest ask between our search and our spawn */
	fid = sim_make(s, 1, "someone-else", "running");
	spawn_req_init(&req, label, &ol.v[0]);
	is_int(provider_spawn(p, &req, &in, &e), -1, "spawn of an ask rented "
	    "meanwhile fails");
	is_str(gr_code_name(e.code), "CAPACITY", "stale offer (410 "
	    "no_such_ask): CAPACITY");
	is_int(e.http_status, 410, "HTTP 410");
	ok(!e.outcome_unknown, "nothing was rented");
	/* the caller's loop: the next offer */
	rc = -1;
	for (i = 1; i < ol.n && rc == -1; i++) {
		req.offer = &ol.v[i];
		rc = provider_spawn(p, &req, &in, &e);
	}
	is_int(rc, 0, "the next offer rents: %s", e.msg);
	is_int((long long)i, 2, "on the first try after the stale one");
	instance_release(&in);
	o = ol.v[0];
	o.id = (char *)"9999999";
	req.offer = &o;
	is_int(provider_spawn(p, &req, &in, &e), -1, "spawn of an ask that "
	    "never existed fails");
	is_str(gr_code_name(e.code), "CAPACITY", "404 no_such_ask: CAPACITY");
	is_int(e.http_status, 404, "HTTP 404");

	offer_list_release(&ol);
	free(fid);
	free(label);
	provider_free(p);
}

/* every status the sim can show, onto state and billing */
static void
test_mapping(struct sim *s)
{
	static const struct {
		const char	*phase;
		enum inst_state	 state;
		bool		 billing;
		bool		 storage;	/* at the storage rate */
		const char	*status;
	} cases[] = {
		{ "provisioning", INST_PENDING, false, false, "provisioning" },
		{ "starting", INST_PENDING, false, false, "loading" },
		{ "running", INST_RUNNING, true, false, "running" },
		{ "stopping", INST_STOPPED, true, false,
		  "running, intended stopped" },
		{ "stopped", INST_STOPPED, true, true, "stopped" },
		{ "interrupted", INST_PENDING, true, true,
		  "stopped, intended running" },
		{ "failed", INST_STOPPED, true, true,
		  "exited, intended running" },
		{ "terminating", INST_TERMINATED, false, false, "destroyed" },
	};
	struct provider		*p = vp(s, NULL);
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*in;
	struct gr_err		 e;
	char			*id;
	size_t			 i;

	id = sim_make(s, 0, "map-me", "running");
	for (i = 0; i < nitems(cases); i++) {
		sim_phase(s, id, cases[i].phase);
		if (provider_list(p, &l, &e) == -1) {
			ok(false, "list: %s", e.msg);
			continue;
		}
		in = instance_list_find(&l, id);
		ok(in != NULL && in->state == cases[i].state &&
		    in->billing == cases[i].billing &&
		    in->price == (cases[i].storage ? 20000 : 400000) &&
		    in->status != NULL &&
		    strcmp(in->status, cases[i].status) == 0,
		    "sim phase %s: %s, %s, status '%s' (got %s, %d, %lld, "
		    "'%s')", cases[i].phase, inst_state_name(cases[i].state),
		    !cases[i].billing ? "not billing" : cases[i].storage ?
		    "billing at the storage rate" : "billing at dph_total",
		    cases[i].status,
		    in != NULL ? inst_state_name(in->state) : "absent",
		    in != NULL ? in->billing : -1,
		    in != NULL ? (long long)in->price : -1,
		    in != NULL && in->status != NULL ? in->status : "");
		instance_list_release(&l);
	}
	sim_phase(s, id, "gone");
	free(id);
	provider_free(p);
}

/* more instances than one page holds, foreign and unlabelled ones too */
static void
test_list_pages(struct sim *s)
{
	struct provider		*p = vp(s, NULL);
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*in;
	struct gr_err		 e;
	json_t			*rq, *r;
	char			*ids[60], lab[32];
	size_t			 i, n = nitems(ids), found = 0, unl = 0;
	bool			 labels_ok = true;

	for (i = 0; i < n; i++) {
		(void)snprintf(lab, sizeof(lab), "foreign-%zu", i);
		ids[i] = sim_make(s, (int)(i % 5), i % 10 == 0 ? NULL : lab,
		    "running");
	}
	requests_skip(s);
	is_int(provider_list(p, &l, &e), 0, "list: %s", e.msg);
	for (i = 0; i < n; i++) {
		in = instance_list_find(&l, ids[i]);
		if (in == NULL)
			continue;
		found++;
		(void)snprintf(lab, sizeof(lab), "foreign-%zu", i);
		if (i % 10 == 0) {
			if (in->label == NULL)
				unl++;
			else
				labels_ok = false;
		} else if (in->label == NULL || strcmp(in->label, lab) != 0)
			labels_ok = false;
	}
	is_int((long long)found, (long long)n, "all %zu instances listed, "
	    "over several pages", n);
	ok(labels_ok && unl == 6, "each with its label; NULL when it has "
	    "none");
	rq = requests(s);
	ok(count_req(rq, "GET", "/vast/api/v1/instances") >= 3,
	    "list followed the pages: %zu GETs of /api/v1/instances",
	    count_req(rq, "GET", "/vast/api/v1/instances"));
	r = find_req(rq, "GET", "/vast/api/v1/instances");
	like(json_string_value(json_object_get(r, "path")), "after_token=",
	    "later pages carry after_token");
	like(json_string_value(json_object_get(r, "path")), "limit=25",
	    "pages of 25");
	json_decref(rq);
	instance_list_release(&l);
	for (i = 0; i < n; i++) {
		sim_phase(s, ids[i], "gone");
		free(ids[i]);
	}
	provider_free(p);
}

/* --- errors -------------------------------------------------------------- */

struct errcase {
	const char	*rule;		/* fault rule, JSON */
	enum prov_op	 op;
	const char	*code;		/* taxonomy name expected */
	int		 http;
	const char	*msg;		/* in the message, or NULL */
	bool		 unknown;	/* outcome_unknown expected */
};

static int
run_op(struct provider *p, enum prov_op op, const char *id,
    const struct offer *o, struct gr_err *e)
{
	struct offer_list	 ol = { NULL, 0 };
	struct instance_list	 l = { NULL, 0 };
	struct instance		 in;
	struct spawn_req	 req;
	char			*label = owner_label(LEDGER, 99);
	int			 rc = -1;

	memset(&in, 0, sizeof(in));
	switch (op) {
	case PROV_OP_OFFERS:
		rc = provider_offers(p, &g4090, &ol, e);
		offer_list_release(&ol);
		break;
	case PROV_OP_SPAWN:
		spawn_req_init(&req, label, o);
		rc = provider_spawn(p, &req, &in, e);
		if (rc == 0)
			(void)provider_terminate(p, in.id, e);
		instance_release(&in);
		break;
	case PROV_OP_LIST:
		rc = provider_list(p, &l, e);
		instance_list_release(&l);
		break;
	case PROV_OP_GET:
		rc = provider_get(p, id, &in, e);
		instance_release(&in);
		break;
	case PROV_OP_TERMINATE:
		rc = p->ops->terminate(p, id, e);
		break;
	case PROV_OP_STOP:
		rc = provider_stop(p, id, e);
		break;
	case PROV_OP_START:
		rc = provider_start(p, id, e);
		break;
	default:
		break;
	}
	free(label);
	return rc;
}

static void
test_errors(struct sim *s)
{
	static const struct errcase cases[] = {
		{ "{\"kind\":\"error\",\"endpoint\":\"offers\",\"status\":401}",
		  PROV_OP_OFFERS, "AUTH", 401, "invalid user key", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"offers\",\"status\":404,"
		  "\"code\":\"auth_error\",\"msg\":\"Invalid user key\"}",
		  PROV_OP_OFFERS, "AUTH", 404, "invalid user key", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"list\",\"status\":403}",
		  PROV_OP_LIST, "AUTH", 403, "permission", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"invalid_args\",\"msg\":\"Invalid image\"}",
		  PROV_OP_SPAWN, "INVALID_SPEC", 400, "invalid image", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"invalid_price\",\"msg\":\"price too low\"}",
		  PROV_OP_SPAWN, "INVALID_SPEC", 400, "invalid_price", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"no_ssh_key_for_vm\",\"msg\":\"add an ssh key\"}",
		  PROV_OP_SPAWN, "INVALID_SPEC", 400, "no_ssh_key_for_vm",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"invalid_request\",\"msg\":\"bad request\"}",
		  PROV_OP_SPAWN, "INVALID_SPEC", 400, "bad request", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"missing_billing\",\"msg\":\"No billing info\"}",
		  PROV_OP_SPAWN, "QUOTA_EXCEEDED", 400, "no billing info",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":400,"
		  "\"code\":\"error\",\"msg\":\"Insufficient credit for this "
		  "instance\"}",
		  PROV_OP_SPAWN, "QUOTA_EXCEEDED", 400, "insufficient credit",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":404,"
		  "\"code\":\"invalid_args\",\"msg\":\"error 404/3603: "
		  "no_such_ask Instance type by id 1 is not available.\"}",
		  PROV_OP_SPAWN, "CAPACITY", 404, "no_such_ask", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":410}",
		  PROV_OP_SPAWN, "CAPACITY", 410, "no longer available",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"manage\",\"status\":400,"
		  "\"code\":\"label_too_long\",\"msg\":\"label too long\"}",
		  PROV_OP_STOP, "INVALID_SPEC", 400, "label too long", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"manage\",\"status\":404}",
		  PROV_OP_START, "NOT_FOUND", 404, "instance not found",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"show\",\"status\":404}",
		  PROV_OP_GET, "NOT_FOUND", 404, "instance not found", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"destroy\","
		  "\"status\":404}",
		  PROV_OP_TERMINATE, "NOT_FOUND", 404, "not found", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"destroy\","
		  "\"status\":400}",
		  PROV_OP_TERMINATE, "INVALID_SPEC", 400, "invalid arguments",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":429,"
		  "\"body\":\"API requests too frequent: endpoint "
		  "threshold=4.5\",\"content_type\":\"text/plain\"}",
		  PROV_OP_SPAWN, "RATE_LIMIT", 429, "too frequent", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"destroy\",\"status\":429,"
		  "\"body\":\"{\\\"detail\\\":\\\"API requests too frequent "
		  "endpoint threshold=3.0\\\"}\",\"content_type\":"
		  "\"application/json\"}",
		  PROV_OP_TERMINATE, "RATE_LIMIT", 429, "too frequent",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"manage\",\"status\":429,"
		  "\"body\":\"{\\\"success\\\":false,\\\"error\\\":"
		  "\\\"rate_limit_exceeded\\\",\\\"msg\\\":"
		  "\\\"slow down\\\"}\","
		  "\"content_type\":\"application/json\"}",
		  PROV_OP_STOP, "RATE_LIMIT", 429, "slow down", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"offers\",\"status\":429,"
		  "\"count\":3,\"body\":\"API requests too frequent\","
		  "\"content_type\":\"text/plain\"}",
		  PROV_OP_OFFERS, "RATE_LIMIT", 429, "too frequent", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"list\",\"status\":302}",
		  PROV_OP_LIST, "CONFIG", 302, "request failed", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"list\",\"status\":500}",
		  PROV_OP_LIST, "TRANSIENT", 500, "internal server error",
		  false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":500}",
		  PROV_OP_SPAWN, "TRANSIENT", 500, "internal server error",
		  true },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":503}",
		  PROV_OP_SPAWN, "TRANSIENT", 503, NULL, false },
		{ "{\"kind\":\"error\",\"endpoint\":\"show\",\"status\":502}",
		  PROV_OP_GET, "TRANSIENT", 502, NULL, false },
		{ "{\"kind\":\"error\",\"endpoint\":\"offers\",\"status\":401,"
		  "\"body\":\"Please log in or sign up\",\"content_type\":"
		  "\"text/html\"}",
		  PROV_OP_OFFERS, "AUTH", 401, "please log in", false },
		{ "{\"kind\":\"error\",\"endpoint\":\"create\",\"status\":200,"
		  "\"body\":\"OK\",\"content_type\":\"text/plain\"}",
		  PROV_OP_SPAWN, "TRANSIENT", 200, "not json", true },
		{ "{\"kind\":\"error\",\"endpoint\":\"destroy\",\"status\":200,"
		  "\"body\":\"{\\\"success\\\":false,\\\"msg\\\":\\\"instance "
		  "is locked\\\"}\",\"content_type\":\"application/json\"}",
		  PROV_OP_TERMINATE, "TRANSIENT", 200, "instance is locked",
		  false },
		{ "{\"kind\":\"lost\",\"endpoint\":\"create\"}",
		  PROV_OP_SPAWN, "TRANSIENT", 0, "may have been acted on",
		  true },
		{ "{\"kind\":\"lost\",\"endpoint\":\"create\","
		  "\"mode\":\"504\"}",
		  PROV_OP_SPAWN, "TRANSIENT", 504, NULL, true },
		{ "{\"kind\":\"lost\",\"endpoint\":\"list\"}",
		  PROV_OP_LIST, "TRANSIENT", 0, "without a reply", false },
		{ "{\"kind\":\"lost\",\"endpoint\":\"destroy\"}",
		  PROV_OP_TERMINATE, "TRANSIENT", 0, "may have been acted on",
		  true },
	};
	struct provider		*p = vp(s, NULL);
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 e;
	char			*id, *what;
	size_t			 i;
	int			 rc;

	id = sim_make(s, 0, "err-target", "running");
	for (i = 0; i < nitems(cases); i++) {
		const struct errcase *c = &cases[i];

		if (c->op == PROV_OP_SPAWN) {
			faults_clear(s);
			if (provider_offers(p, &g4090, &ol, &e) == -1 ||
			    ol.n == 0)
				bail_out("offers: %s", e.msg);
		}
		fault(s, c->rule);
		gr_err_clear(&e);
		rc = run_op(p, c->op, id, ol.n > 0 ? &ol.v[ol.n - 1] : NULL,
		    &e);
		faults_clear(s);
		what = xasprintf("%s, %s", prov_op_name(c->op), c->rule);
		ok(rc == -1 && strcmp(gr_code_name(e.code), c->code) == 0 &&
		    e.http_status == c->http &&
		    e.outcome_unknown == c->unknown &&
		    (c->msg == NULL || strcasestr(e.msg, c->msg) != NULL),
		    "%s -> %s%s (got %s, HTTP %d%s: %s)", what, c->code,
		    c->unknown ? ", outcome unknown" : "",
		    gr_code_name(e.code), e.http_status,
		    e.outcome_unknown ? ", unknown" : "", e.msg);
		ok(e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL &&
		    strstr(e.msg, KEY) == NULL && strstr(e.hint, KEY) == NULL &&
		    (c->unknown || strstr(e.msg, "acted on") == NULL),
		    "%s: one line, no key, 'acted on' only when unknown", what);
		if (strcmp(c->code, "AUTH") == 0)
			like(e.hint, "env VAST_API_KEY", "%s: the hint names "
			    "where the key came from", what);
		if (strcmp(c->code, "CONFIG") == 0)
			like(e.hint, "check base_url", "%s: the hint says to "
			    "check base_url", what);
		if (strcmp(c->code, "RATE_LIMIT") == 0)
			ok(e.retry_after_ms > 0, "%s: a wait to honour",
			    what);
		free(what);
		offer_list_release(&ol);
	}

	/* a lost spawn reply: the instance exists, findable by label */
	{
		struct instance_list	 l = { NULL, 0 };
		struct spawn_req	 req;
		struct instance		 in;
		char			*label = owner_label(LEDGER, 77);
		size_t			 k, n = 0;

		if (provider_offers(p, &g4090, &ol, &e) == -1 || ol.n == 0)
			bail_out("offers: %s", e.msg);
		fault(s, "{\"kind\":\"lost\",\"endpoint\":\"create\"}");
		spawn_req_init(&req, label, &ol.v[0]);
		memset(&in, 0, sizeof(in));
		is_int(provider_spawn(p, &req, &in, &e), -1, "a spawn whose "
		    "reply is lost fails");
		ok(e.outcome_unknown, "with outcome_unknown");
		faults_clear(s);
		is_int(provider_list(p, &l, &e), 0, "list after the lost "
		    "reply");
		for (k = 0; k < l.n; k++)
			if (l.v[k].label != NULL &&
			    strcmp(l.v[k].label, label) == 0) {
				n++;
				(void)provider_terminate(p, l.v[k].id, &e);
			}
		is_int((long long)n, 1, "the instance is there, once, under "
		    "its label");
		instance_list_release(&l);
		offer_list_release(&ol);
		free(label);
	}

	/* a wrong key, through the sim's own 401 */
	{
		struct provider	*bad;

		setenv("VAST_API_KEY", "not-the-key-0000", 1);
		bad = vp(s, NULL);
		setenv("VAST_API_KEY", KEY, 1);
		is_int(provider_offers(bad, &g4090, &ol, &e), -1, "a wrong "
		    "key fails");
		is_str(gr_code_name(e.code), "AUTH", "wrong key: AUTH");
		like(e.msg, "invalid user key", "wrong key: Vast's words");
		like(e.hint, "env VAST_API_KEY", "wrong key: the hint names "
		    "where the key came from");
		ok(strstr(e.msg, "not-the-key") == NULL &&
		    strstr(e.hint, "not-the-key") == NULL,
		    "wrong key: not in the message");
		provider_free(bad);
	}

	/* a reply that echoes the key has it scrubbed */
	fault(s, "{\"kind\":\"error\",\"endpoint\":\"list\",\"status\":400,"
	    "\"body\":\"{\\\"success\\\":false,\\\"error\\\":\\\"invalid_args"
	    "\\\",\\\"msg\\\":\\\"bad key " KEY "\\\"}\",\"content_type\":"
	    "\"application/json\"}");
	{
		struct instance_list	 l = { NULL, 0 };

		is_int(provider_list(p, &l, &e), -1, "a reply echoing the "
		    "key fails");
		ok(strstr(e.msg, KEY) == NULL && strstr(e.msg, "[redacted]") !=
		    NULL, "the key in a reply is [redacted] in the error");
	}
	faults_clear(s);

	/* a 429 on a read is waited out here */
	fault(s, "{\"kind\":\"storm\",\"endpoint\":\"offers\",\"length\":2,"
	    "\"count\":1}");
	requests_skip(s);
	is_int(provider_offers(p, &g4090, &ol, &e), 0, "offers through two "
	    "429s: %s", e.msg);
	{
		json_t	*rq = requests(s), *r;
		size_t	 k, n429 = 0;

		json_array_foreach(rq, k, r)
			if (json_integer_value(json_object_get(r, "status")) ==
			    429)
				n429++;
		is_int((long long)n429, 2, "the sim sent two plain-text 429s "
		    "first");
		r = find_req(rq, "POST", "/vast/api/v0/bundles");
		is_int(json_integer_value(json_object_get(r, "status")), 200,
		    "and the third try got the offers");
		json_decref(rq);
	}
	offer_list_release(&ol);
	faults_clear(s);

	sim_phase(s, id, "gone");
	free(id);
	provider_free(p);
}

/* --- rate limits --------------------------------------------------------- */

static void
test_rate_limits(struct sim *r)
{
	struct provider		*paced, *eager;
	struct offer_list	 ol = { NULL, 0 };
	struct instance_list	 l = { NULL, 0 };
	struct instance		 in;
	struct spawn_req	 req;
	struct gr_err		 e;
	json_t			*rq, *x;
	char			*label = owner_label(LEDGER, 50);
	char			*id = NULL;
	size_t			 i, n429 = 0, nreq;
	bool			 all_ok = true;
	int			 k;

	/* time_scale 20 like the sim: Vast's intervals, 20 times faster */
	paced = vp(r, "time_scale=20");
	requests_skip(r);
	for (k = 0; k < 4; k++) {
		if (provider_offers(paced, &g4090, &ol, &e) == -1) {
			all_ok = false;
			diag("offers: %s", e.msg);
		}
		if (k == 0 && ol.n > 0) {
			spawn_req_init(&req, label, &ol.v[0]);
			memset(&in, 0, sizeof(in));
			if (provider_spawn(paced, &req, &in, &e) == 0)
				id = xstrdup(in.id);
			else {
				all_ok = false;
				diag("spawn: %s", e.msg);
			}
			instance_release(&in);
		}
		offer_list_release(&ol);
		if (provider_list(paced, &l, &e) == -1) {
			all_ok = false;
			diag("list: %s", e.msg);
		}
		instance_list_release(&l);
		if (id != NULL && provider_get(paced, id, &in, &e) == -1) {
			all_ok = false;
			diag("get: %s", e.msg);
		}
		instance_release(&in);
	}
	if (id != NULL) {
		if (provider_stop(paced, id, &e) == -1 ||
		    provider_start(paced, id, &e) == -1 ||
		    provider_terminate(paced, id, &e) == -1) {
			all_ok = false;
			diag("stop/start/terminate: %s", e.msg);
		}
	}
	ok(all_ok, "a burst of every call, paced: all succeed");
	rq = requests(r);
	nreq = json_array_size(rq);
	json_array_foreach(rq, i, x)
		if (json_integer_value(json_object_get(x, "status")) == 429)
			n429++;
	ok(nreq >= 16, "%zu requests reached the rate-limited sim", nreq);
	is_int((long long)n429, 0, "none of them earned a 429");
	json_decref(rq);
	provider_free(paced);

	/* no pacing to speak of: Vast's plain-text 429 comes back */
	eager = vp(r, "time_scale=1000000");
	usleep(400000);		/* past the paced searches' interval */
	(void)provider_offers(eager, &g4090, &ol, &e);
	offer_list_release(&ol);
	is_int(provider_offers(eager, &g4090, &ol, &e), -1, "an unpaced "
	    "second search at once is refused");
	is_str(gr_code_name(e.code), "RATE_LIMIT", "429: RATE_LIMIT");
	is_int(e.http_status, 429, "HTTP 429");
	like(e.msg, "too frequent", "Vast's plain-text words");
	ok(e.retry_after_ms > 0, "a wait to honour, though Vast sends no "
	    "Retry-After");
	rq = requests(r);
	x = find_req(rq, "POST", "/vast/api/v0/bundles");
	is_str(json_string_value(json_object_get(x, "fault")), "ratelimit",
	    "the sim's rate limiter answered");
	json_decref(rq);
	offer_list_release(&ol);
	provider_free(eager);
	free(label);
	free(id);
}

/* --- threads ------------------------------------------------------------- */

struct th_arg {
	struct provider	*p;
	int		 fails;
};

static void *
th_main(void *arg)
{
	struct th_arg		*a = arg;
	struct instance_list	 l = { NULL, 0 };
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 e;
	int			 i;

	for (i = 0; i < 5; i++) {
		if (provider_list(a->p, &l, &e) == -1)
			a->fails++;
		instance_list_release(&l);
		if (provider_offers(a->p, &g4090, &ol, &e) == -1)
			a->fails++;
		offer_list_release(&ol);
	}
	return NULL;
}

static void
test_threads(struct sim *s)
{
	struct provider	*p = vp(s, NULL);
	struct th_arg	 a[4];
	pthread_t	 t[4];
	int		 i, fails = 0;

	for (i = 0; i < 4; i++) {
		a[i].p = p;
		a[i].fails = 0;
		if (pthread_create(&t[i], NULL, th_main, &a[i]) != 0)
			bail_out("pthread_create");
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		fails += a[i].fails;
	}
	is_int(fails, 0, "4 threads sharing one provider: every call "
	    "succeeds");
	provider_free(p);
}

/* --- the key in logs ----------------------------------------------------- */

static struct buf	 captured = BUF_INIT;

static void
capture(int lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	buf_adds(&captured, msg);
	buf_addc(&captured, '\n');
}

static void
test_logs(struct sim *s)
{
	struct provider		*p;
	struct offer_list	 ol = { NULL, 0 };
	struct instance_list	 l = { NULL, 0 };
	struct spawn_req	 req;
	struct instance		 in;
	struct gr_err		 e;
	char			*label = owner_label(LEDGER, 60);
	int			 saved, devnull;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);
	log_init(LOG_LVL_DEBUG + 1, false, "3301");
	log_set_capture(capture, NULL);

	p = vp(s, NULL);
	(void)provider_offers(p, &g4090, &ol, &e);
	memset(&in, 0, sizeof(in));
	if (ol.n > 0) {
		spawn_req_init(&req, label, &ol.v[0]);
		if (provider_spawn(p, &req, &in, &e) == 0) {
			struct instance	 got;

			memset(&got, 0, sizeof(got));
			(void)provider_get(p, in.id, &got, &e);
			instance_release(&got);
			(void)provider_terminate(p, in.id, &e);
		}
	}
	instance_release(&in);
	(void)provider_list(p, &l, &e);
	instance_list_release(&l);
	fault(s, "{\"kind\":\"error\",\"endpoint\":\"offers\",\"status\":"
	    "401}");
	offer_list_release(&ol);
	(void)provider_offers(p, &g4090, &ol, &e);
	faults_clear(s);
	offer_list_release(&ol);
	provider_free(p);
	unsetenv("VAST_API_KEY");
	if (vp_open(s, NULL, &p, &e) == 0)
		provider_free(p);
	setenv("VAST_API_KEY", KEY, 1);

	log_set_capture(NULL, NULL);
	log_init(LOG_LVL_INFO, false, "3301");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);

	like(buf_str(&captured), "PUT /vast/api/v0/asks/", "-vv traced the "
	    "calls");
	like(buf_str(&captured), "Authorization: [redacted]", "-vv shows "
	    "the Authorization header as [redacted]");
	ok(strstr(buf_str(&captured), KEY) == NULL, "-vv: the API key never "
	    "appears in the log");
	ok(strstr(buf_str(&captured), "hello world") == NULL, "-vv: nor the "
	    "env values of a spawn body");
	buf_release(&captured);
	free(label);
}

static const char main_scenario[] =
    "{\"vastai\": {\n"
    "  \"keys\": [\"" KEY "\"],\n"
    "  \"rate_limits\": false,\n"
    "  \"delays\": {\"provision_ms\": 5000, \"start_ms\": 20000,"
    " \"stop_ms\": 2000, \"terminate_ms\": 3000},\n"
    "  \"offers\": [\n"
    "    {\"gpu\": \"RTX_4090\", \"price\": \"0.40\", \"region\": \"US\","
    " \"geolocation\": \"California, US\", \"capacity\": 10,"
    " \"storage_price\": \"0.02\"},\n"
    "    {\"gpu\": \"RTX_4090\", \"price\": \"0.35\", \"region\": \"CA\","
    " \"geolocation\": \"Quebec, CA\", \"capacity\": 2,"
    " \"storage_price\": \"0.02\"},\n"
    "    {\"gpu\": \"A100_80GB\", \"price\": \"1.10\", \"region\": \"US\","
    " \"geolocation\": \"Oregon, US\", \"capacity\": 1},\n"
    "    {\"gpu\": \"A100_40GB\", \"price\": \"0.80\", \"region\": \"US\","
    " \"geolocation\": \"Oregon, US\", \"capacity\": 1},\n"
    "    {\"gpu\": \"H100_SXM\", \"count\": 8, \"price\": \"17.00\","
    " \"region\": \"SE\", \"geolocation\": \"Stockholm, SE\","
    " \"capacity\": 1},\n"
    "    {\"gpu\": \"H100_SXM\", \"count\": 2, \"price\": \"4.40\","
    " \"region\": \"SE\", \"geolocation\": \"Stockholm, SE\","
    " \"capacity\": 1}\n"
    "  ]}}\n";

static const char rl_scenario[] =
    "{\"vastai\": {\n"
    "  \"keys\": [\"" KEY "\"],\n"
    "  \"rate_limits\": true,\n"
    "  \"delays\": {\"provision_ms\": 1000, \"start_ms\": 1000,"
    " \"stop_ms\": 1000, \"terminate_ms\": 0}\n"
    "}}\n";

int
main(void)
{
	struct sim	 s, r;

	main_pid = getpid();
	if (access(sim_path(), X_OK) != 0)
		skip_all("gpureconcile-sim not built (%s); set GR_SIM",
		    sim_path());
	plan_lazy();
	atexit(kill_sims);
	signal(SIGPIPE, SIG_IGN);
	/* no .env of the source tree is read by cred_resolve */
	if (chdir(test_tmpdir()) == -1)
		bail_out("chdir: %s", strerror(errno));
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("VAST_API_KEY", KEY, 1);
	sim_start(&s, 0, "main", main_scenario, "0");
	sim_start(&r, 1, "ratelimit", rl_scenario, "20");

	test_init(&s);
	test_offers(&s);
	test_lifecycle(&s);
	test_spawn_paths(&s);
	test_mapping(&s);
	test_list_pages(&s);
	test_errors(&s);
	test_threads(&s);
	test_logs(&s);
	test_rate_limits(&r);

	http_client_free(s.ctl);
	http_client_free(r.ctl);
	free(s.base);
	free(s.dir);
	free(r.base);
	free(r.dir);
	return done_testing();
}
