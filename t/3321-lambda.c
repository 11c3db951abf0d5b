/*
 * 3321-lambda: the lambda provider against gpureconcile-sim, through the
 * wrappers: options, every endpoint's success path and the request it
 * sent (method, path, Bearer key, body fields), offers and capacity per
 * region, the status sequence over sim time (the sim's clock is frozen
 * and moved with POST /_sim/advance), list, get, terminate twice, every
 * error code of PROVIDER-APIS.md 3.2 injected through /_sim/faults and
 * mapped onto the taxonomy, lost replies, client-side pacing (real time
 * against the sim's own limits, and the documented defaults on a
 * recording clock), the sim's billing record against what we launched,
 * and the key in no log line at the most verbose level.
 *
 * The sim comes from $GR_SIM, else $GR_BUILD/gpureconcile-sim; without
 * one the test is skipped.  Its rate limits are set low (20 ms between
 * requests, 100 ms between launches, real time since the clock is
 * frozen) and the providers here pace a little above them, so the test
 * is fast and still proves that paced calls never earn a 429.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define KEY		"sk-lambda-TEST-0123456789abcdef"
#define SSH_KEY		"test-key"
#define LEDGER_ID	"0123456789abcdef"
#define PACE_MS		"25"	/* sim: 20 ms */
#define LAUNCH_PACE_MS	"110"	/* sim: 100 ms */
#define QUIET_US	130000	/* between providers: past both limits */

static const char scenario[] =
    "{\n"
    "  \"time_scale\": 0,\n"
    "  \"lambda\": {\n"
    "    \"keys\": [\"" KEY "\"],\n"
    "    \"offers\": [\n"
    "      {\"gpu\": \"A10\", \"count\": 1, \"price\": \"0.75\",\n"
    "       \"region\": \"us-east-1\", \"capacity\": 2},\n"
    "      {\"gpu\": \"A10\", \"count\": 1, \"price\": \"0.75\",\n"
    "       \"region\": \"us-west-1\", \"capacity\": 1},\n"
    "      {\"gpu\": \"A100_40GB\", \"count\": 1, \"price\": \"1.29\",\n"
    "       \"region\": \"us-west-2\", \"capacity\": 50},\n"
    "      {\"gpu\": \"H100_SXM\", \"count\": 8, \"price\": \"23.92\",\n"
    "       \"region\": \"us-east-3\", \"capacity\": 1},\n"
    "      {\"gpu\": \"GH200\", \"count\": 1, \"price\": \"1.49\",\n"
    "       \"region\": \"us-east-3\", \"capacity\": 0}\n"
    "    ],\n"
    "    \"delays\": {\"provision_ms\": 30000, \"start_ms\": 60000,\n"
    "                 \"terminate_ms\": 10000},\n"
    "    \"rate_limits\": {\"*\": 20, \"launch\": 100},\n"
    "    \"ssh_keys\": [\"" SSH_KEY "\", \"other-key\"]\n"
    "  }\n"
    "}\n";

static pid_t		 sim_pid;
static char		*sim_url;	/* http://127.0.0.1:PORT */
static char		*lambda_url;	/* sim_url + /lambda */
static struct http_client *ctl;		/* the control API; no key */

/* Every instance id we launched (or found after a lost reply). */
static char		*launched[64];
static size_t		 nlaunched;

/* --- the simulator -------------------------------------------------------- */

static void
sim_kill(void)
{
	int	 st;

	if (sim_pid > 0) {
		(void)kill(sim_pid, SIGTERM);
		(void)waitpid(sim_pid, &st, 0);
		sim_pid = 0;
	}
}

static const char *
sim_path(void)
{
	static char	*path;
	const char	*s = getenv("GR_SIM"), *b = getenv("GR_BUILD");

	if (path == NULL)
		path = s != NULL && *s != '\0' ? xstrdup(s) :
		    xasprintf("%s/gpureconcile-sim", b != NULL ? b : "build");
	return path;
}

static void
sim_start(void)
{
	const char	*dir = test_tmpdir();
	char		*scen, *pf, *errf, *txt = NULL;
	int		 i, fd, port = 0;
	struct gr_err	 e;

	scen = test_write(dir, "sim/scenario.json", scenario);
	pf = xasprintf("%s/sim/port", dir);
	errf = xasprintf("%s/sim/stderr", dir);
	fflush(stdout);
	sim_pid = fork();
	if (sim_pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (sim_pid == 0) {
		fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != -1) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execl(sim_path(), sim_path(), "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--scenario", scen, "-q",
		    (char *)NULL);
		_exit(127);
	}
	atexit(sim_kill);
	for (i = 0; i < 1000 && port == 0; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 &&
		    strchr(txt, '\n') != NULL)
			port = atoi(txt);
		free(txt);
		txt = NULL;
		if (port == 0 && waitpid(sim_pid, NULL, WNOHANG) == sim_pid) {
			sim_pid = 0;
			(void)file_read(errf, 1 << 16, &txt, NULL);
			bail_out("gpureconcile-sim exited at start: %s",
			    txt != NULL ? txt : "?");
		}
		if (port == 0)
			usleep(10000);
	}
	if (port <= 0)
		bail_out("gpureconcile-sim wrote no port file");
	sim_url = xasprintf("http://127.0.0.1:%d", port);
	lambda_url = xasprintf("%s/lambda", sim_url);
	if (http_client_new("sim", sim_url, NULL, NULL, &ctl, &e) == -1)
		bail_out("control client: %s", e.msg);
	free(scen);
	free(pf);
	free(errf);
}

/* A control API call; the parsed reply (new), or bail out. */
static json_t *
ctl_call(const char *method, const char *path, const char *body)
{
	struct http_req	 req;
	struct http_resp r;
	struct gr_err	 e;
	json_t		*j;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	if (http_do(ctl, &req, &r, &e) == -1)
		bail_out("%s %s: %s", method, path, e.msg);
	if (r.status >= 300)
		bail_out("%s %s: HTTP %ld: %s", method, path, r.status,
		    r.body);
	j = json_loads(r.body, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		bail_out("%s %s: reply is not JSON: %s", method, path, r.body);
	http_resp_release(&r);
	return j;
}

static void
ctl_do(const char *method, const char *path, const char *body)
{
	json_decref(ctl_call(method, path, body));
}

static void
fault_add(const char *rule)
{
	ctl_do("POST", "/_sim/faults", rule);
}

static void
advance(int64_t ms)
{
	char	*b = xasprintf("{\"ms\": %lld}", (long long)ms);

	ctl_do("POST", "/_sim/advance", b);
	free(b);
}

/* The sequence number of the last request the sim logged. */
static int64_t
mark(void)
{
	json_t	*j = ctl_call("GET", "/_sim/requests?provider=lambda&since="
	    "999999999", NULL);
	int64_t	 seq = json_integer_value(json_object_get(j, "last_seq"));

	json_decref(j);
	return seq;
}

/* Lambda requests logged after seq (new). */
static json_t *
requests_since(int64_t seq)
{
	char	*p = xasprintf("/_sim/requests?provider=lambda&since=%lld",
	    (long long)seq);
	json_t	*j = ctl_call("GET", p, NULL), *a;

	free(p);
	a = json_incref(json_object_get(j, "requests"));
	json_decref(j);
	return a;
}

/* The last request since seq whose path contains frag (new), or NULL. */
static json_t *
last_request(int64_t seq, const char *method, const char *frag)
{
	json_t	*a = requests_since(seq), *o, *hit = NULL;
	size_t	 i;

	json_array_foreach(a, i, o) {
		const char *m = json_string_value(json_object_get(o, "method"));
		const char *p = json_string_value(json_object_get(o, "path"));

		if (m != NULL && p != NULL && strcmp(m, method) == 0 &&
		    strstr(p, frag) != NULL)
			hit = o;
	}
	if (hit != NULL)
		json_incref(hit);
	json_decref(a);
	return hit;
}

static size_t
count_requests(int64_t seq, const char *frag)
{
	json_t	*a = requests_since(seq), *o;
	size_t	 i, n = 0;

	json_array_foreach(a, i, o) {
		const char *p = json_string_value(json_object_get(o, "path"));

		if (p != NULL && strstr(p, frag) != NULL)
			n++;
	}
	json_decref(a);
	return n;
}

/* The request's JSON body (new), or NULL. */
static json_t *
request_body(const json_t *rq)
{
	const char	*b = json_string_value(json_object_get(rq, "body"));

	return b != NULL ? json_loads(b, 0, NULL) : NULL;
}

/* --- the provider --------------------------------------------------------- */

static void
remember(const char *id)
{
	size_t	 i;

	for (i = 0; i < nlaunched; i++)
		if (strcmp(launched[i], id) == 0)
			return;
	if (nlaunched < nitems(launched))
		launched[nlaunched++] = xstrdup(id);
}

/*
 * A lambda provider on the sim, with option pairs (NULL-terminated)
 * after base_url.  -1 with e set when init refuses.
 */
static int
prov_new(struct provider **p, struct gr_err *e, ...)
{
	struct provider_conf	 conf;
	struct kv		 opts[16];
	size_t			 n = 0, i;
	const char		*k;
	va_list			 ap;
	int			 rc;

	opts[n].key = xstrdup("base_url");
	opts[n++].value = xstrdup(lambda_url);
	va_start(ap, e);
	while ((k = va_arg(ap, const char *)) != NULL && n < nitems(opts)) {
		opts[n].key = xstrdup(k);
		opts[n++].value = xstrdup(va_arg(ap, const char *));
	}
	va_end(ap);
	memset(&conf, 0, sizeof(conf));
	conf.name = "lambda";
	conf.state_dir = test_tmpdir();
	conf.ledger_id = LEDGER_ID;
	conf.options = opts;
	conf.noptions = n;
	provider_timeouts_default(&conf.timeouts);
	gr_err_clear(e);
	rc = provider_new(&conf, p, e);
	for (i = 0; i < n; i++) {
		free(opts[i].key);
		free(opts[i].value);
	}
	return rc;
}

/* The usual test provider: paced just above the sim's limits. */
static struct provider *
prov_main(void)
{
	struct provider	*p;
	struct gr_err	 e;

	if (prov_new(&p, &e, "ssh_key_names", SSH_KEY, "min_interval_ms",
	    PACE_MS, "launch_interval_ms", LAUNCH_PACE_MS, NULL) == -1)
		bail_out("lambda provider: %s", e.msg);
	return p;
}

/* Let the sim's per-key limits pass before another client talks. */
static void
quiet(void)
{
	usleep(QUIET_US);
}

static bool
no_key(const struct gr_err *e)
{
	return strstr(e->msg, KEY) == NULL && strstr(e->hint, KEY) == NULL;
}

static struct gpu_req
gpu(const char *type, int count)
{
	struct gpu_req	 g;

	g.type = (char *)type;
	g.count = count;
	g.min_vram_gb = 0;
	return g;
}

/* A spawn request of one A100 (the offer with room for every test). */
static void
spawn_req_init(struct spawn_req *r, const char *label, struct gpu_req *g,
    const struct offer *o)
{
	memset(r, 0, sizeof(*r));
	r->label = label;
	r->address = "t/g/0";
	r->gpu = g;
	r->max_price = 2 * MONEY_UNIT;
	r->offer = o;
}

static int
spawn_a100(struct provider *p, const char *label, struct instance *in,
    struct gr_err *e)
{
	struct gpu_req		 g = gpu("A100_40GB", 1);
	struct spawn_req	 r;
	struct offer		 o;
	int			 rc;

	memset(&o, 0, sizeof(o));
	o.id = "gpu_1x_a100@us-west-2";
	o.region = "us-west-2";
	o.price = 1290000;
	o.available = 1;
	spawn_req_init(&r, label, &g, &o);
	memset(in, 0, sizeof(*in));
	rc = provider_spawn(p, &r, in, e);
	if (rc == 0)
		remember(in->id);
	return rc;
}

/* --- options and init ----------------------------------------------------- */

static void
test_options(void)
{
	struct provider	*p;
	struct gr_err	 e;
	char		*kf;

	is_int(prov_new(&p, &e, "ssh_keys_names", SSH_KEY, NULL), -1,
	    "init: a misspelt option is refused");
	is_int(e.code, GR_E_CONFIG, "init: a misspelt option is CONFIG");
	like(e.msg, "unknown option 'ssh_keys_names'",
	    "init: the message names the option");
	like(e.hint, "did you mean 'ssh_key_names'?",
	    "init: a did-you-mean hint");

	is_int(prov_new(&p, &e, "min_interval_ms", "fast", NULL), -1,
	    "init: min_interval_ms must be a number");
	is_int(e.code, GR_E_CONFIG, "init: a bad interval is CONFIG");
	is_int(prov_new(&p, &e, "launch_interval_ms", "-1", NULL), -1,
	    "init: launch_interval_ms must not be negative");

	is_int(prov_new(&p, &e, "ssh_key_names", "a, b", NULL), -1,
	    "init: two SSH keys are refused (Lambda takes one per launch)");
	like(e.msg, "exactly one", "init: and says Lambda takes one");

	is_int(prov_new(&p, &e, "base_url", "http://cloud.example.com",
	    NULL), -1, "init: plain http to a host that is not loopback");
	is_int(e.code, GR_E_CONFIG, "init: a bad base_url is CONFIG");

	is_int(prov_new(&p, &e, "api_key_file", "/nonexistent/lambda.key",
	    NULL), -1, "init: a key file that is not there");
	is_int(e.code, GR_E_AUTH, "init: a missing key file is AUTH");
	ok(no_key(&e), "init: no key in that error");

	kf = xasprintf("%s/lambda.key", test_tmpdir());
	if (file_write_atomic(kf, KEY "\n", strlen(KEY) + 1, 0600) == -1)
		bail_out("write %s", kf);
	is_int(prov_new(&p, &e, "api_key_file", kf, NULL), 0,
	    "init: a key file");
	like(p->cred_source != NULL ? p->cred_source : "", kf,
	    "init: cred_source names the key file");
	provider_free(p);
	free(kf);

	is_int(prov_new(&p, &e, "ssh_key_names", SSH_KEY, NULL), 0,
	    "init: the defaults, the key from the environment");
	is_str(p->cred_source, "env LAMBDA_API_KEY",
	    "init: cred_source says where the key came from");
	is_int(p->ops->caps, PROV_CAP_GPU | PROV_CAP_MULTI_REGION,
	    "caps: gpu and multiRegion, nothing else");
	is_int(provider_stop(p, "x", &e), -1, "stop: not a Lambda ability");
	is_int(e.code, GR_E_UNSUPPORTED, "stop: UNSUPPORTED");
	is_int(provider_start(p, "x", &e), -1, "start: not a Lambda ability");
	provider_free(p);
}

/* --- offers --------------------------------------------------------------- */

static const struct offer *
find_offer(const struct offer_list *ol, const char *id)
{
	size_t	 i;

	for (i = 0; i < ol->n; i++)
		if (strcmp(ol->v[i].id, id) == 0)
			return &ol->v[i];
	return NULL;
}

static void
test_offers(struct provider *p)
{
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g;
	struct gr_err		 e;
	const struct offer	*o;
	json_t			*rq;
	int64_t			 seq = mark();

	g = gpu("A10", 1);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers A10: ok");
	is_int((long long)ol.n, 2, "offers A10: one per region with room");
	o = find_offer(&ol, "gpu_1x_a10@us-east-1");
	ok(o != NULL, "offers A10: gpu_1x_a10@us-east-1");
	if (o != NULL) {
		is_str(o->gpu, "A10", "offers: the catalog name");
		is_int(o->gpu_count, 1, "offers: gpu_count from the type");
		is_int(o->vram_gb, 24, "offers: vram from the catalog");
		is_int(o->price, 750000, "offers: 75 cents/h as micro-dollars");
		is_str(o->region, "us-east-1", "offers: the region");
		is_int(o->available, 1, "offers: available");
		ok(!o->spot, "offers: Lambda has no spot");
	}
	ok(find_offer(&ol, "gpu_1x_a10@us-west-1") != NULL,
	    "offers A10: gpu_1x_a10@us-west-1");
	offer_list_release(&ol);

	rq = last_request(seq, "GET", "/api/v1/instance-types");
	ok(rq != NULL, "offers: GET /api/v1/instance-types");
	is_str(json_string_value(json_object_get(rq, "path")),
	    "/lambda/api/v1/instance-types", "offers: the path under base_url");
	is_str(json_string_value(json_object_get(rq, "auth")), "bearer",
	    "offers: the key as a Bearer header");
	is_int(json_integer_value(json_object_get(rq, "key_index")), 0,
	    "offers: the sim accepted the key");
	like(json_string_value(json_object_get(rq, "user_agent")),
	    "gpureconcile/", "offers: our User-Agent");
	json_decref(rq);

	g = gpu("H100_SXM", 8);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers 8 x H100_SXM");
	o = find_offer(&ol, "gpu_8x_h100_sxm5@us-east-3");
	ok(o != NULL && ol.n == 1, "offers 8 x H100_SXM: gpu_8x_h100_sxm5");
	if (o != NULL) {
		is_int(o->gpu_count, 8, "offers 8x: 8 GPUs");
		is_int(o->price, 23920000, "offers 8x: the instance's price");
	}
	offer_list_release(&ol);

	g = gpu("H100_SXM", 1);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers 1 x H100_SXM");
	is_int((long long)ol.n, 0, "offers: the count must match the type");
	offer_list_release(&ol);

	g = gpu("GH200", 1);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers GH200");
	ok(ol.n == 1 && ol.v[0].available == 0 && ol.v[0].region == NULL,
	    "offers: a type with room nowhere: one offer, available 0");
	offer_list_release(&ol);

	g = gpu("RTX_4090", 1);
	seq = mark();
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers RTX_4090");
	is_int((long long)ol.n, 0, "offers: Lambda rents no RTX_4090");
	is_int((long long)count_requests(seq, "/api/"), 0,
	    "offers: and asks nothing to know it");
	offer_list_release(&ol);

	g = gpu("RTX_409", 1);
	is_int(provider_offers(p, &g, &ol, &e), -1, "offers: unknown gpu");
	is_int(e.code, GR_E_INVALID_SPEC, "offers: unknown gpu: INVALID_SPEC");
	like(e.hint, "did you mean 'RTX_4090'?", "offers: unknown gpu: hint");
	offer_list_release(&ol);

	g = gpu("A10", 1);
	g.min_vram_gb = 48;
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers: min_vram_gb");
	is_int((long long)ol.n, 0, "offers: an A10 has less than 48 GB");
	offer_list_release(&ol);
}

/* --- a life: spawn, boot, list, get, terminate twice ---------------------- */

static void
test_lifecycle(struct provider *p)
{
	struct gpu_req		 g = gpu("A10", 1);
	struct spawn_req	 r;
	struct instance		 in, got;
	struct instance_list	 il = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	json_t			*rq, *b, *ar;
	const char		*boot = "#!/bin/sh\necho hello\n";
	char			*id = NULL;
	const char		*regions[] = { "us-west" };
	int64_t			 seq = mark();

	spawn_req_init(&r, "gr-" LEDGER_ID "-1", &g, NULL);
	r.regions = regions;
	r.nregions = 1;
	r.bootstrap = boot;
	r.bootstrap_len = strlen(boot);
	r.max_price = MONEY_UNIT;
	is_int(provider_spawn(p, &r, &in, &e), 0,
	    "spawn A10 in us-west*: no offer given, the provider picks");
	if (in.id == NULL)
		bail_out("spawn failed: %s", e.msg);
	id = xstrdup(in.id);
	remember(id);
	is_int((long long)strlen(id), 32, "spawn: Lambda's 32-hex id");
	is_str(in.label, "gr-" LEDGER_ID "-1", "spawn: the owner label");
	is_int(in.state, INST_PENDING, "spawn: PENDING");
	ok(in.billing, "spawn: billing from launch (booting bills)");
	is_int(in.price, 750000, "spawn: the type's price");
	is_str(in.region, "us-west-1", "spawn: the allowed region with room");
	is_str(in.gpu, "A10", "spawn: the catalog name");
	is_int(in.gpu_count, 1, "spawn: one GPU");
	is_str(in.status, "booting", "spawn: status booting");
	is_str(in.ssh_user, "ubuntu", "spawn: ssh user ubuntu");
	is_int(in.ssh_port, 22, "spawn: ssh port 22");
	ok(in.created_ms > 0, "spawn: created_ms");
	instance_release(&in);

	rq = last_request(seq, "GET", "/api/v1/instance-types");
	ok(rq != NULL, "spawn without an offer looks at the instance types "
	    "first");
	json_decref(rq);
	rq = last_request(seq, "POST", "/api/v1/instance-operations/launch");
	ok(rq != NULL, "spawn: POST /api/v1/instance-operations/launch");
	is_str(json_string_value(json_object_get(rq, "auth")), "bearer",
	    "launch: Bearer key");
	like(json_string_value(json_object_get(rq, "content_type")),
	    "application/json", "launch: a JSON body");
	b = request_body(rq);
	is_str(json_string_value(json_object_get(b, "region_name")),
	    "us-west-1", "launch body: region_name");
	is_str(json_string_value(json_object_get(b, "instance_type_name")),
	    "gpu_1x_a10", "launch body: instance_type_name");
	is_str(json_string_value(json_object_get(b, "name")),
	    "gr-" LEDGER_ID "-1", "launch body: name is the owner label");
	ar = json_object_get(b, "ssh_key_names");
	ok(json_array_size(ar) == 1 && json_string_value(json_array_get(ar,
	    0)) != NULL && strcmp(json_string_value(json_array_get(ar, 0)),
	    SSH_KEY) == 0, "launch body: ssh_key_names [\"" SSH_KEY "\"]");
	ok(json_is_array(json_object_get(b, "file_system_names")) &&
	    json_array_size(json_object_get(b, "file_system_names")) == 0,
	    "launch body: file_system_names []");
	is_str(json_string_value(json_object_get(b, "user_data")), boot,
	    "launch body: the bootstrap as user_data");
	ok(json_object_get(b, "quantity") == NULL,
	    "launch body: no quantity (gone from v1.8.3)");
	json_decref(b);
	json_decref(rq);

	/* the status sequence over sim time */
	seq = mark();
	is_int(provider_get(p, id, &got, &e), 0, "get: a new instance");
	is_str(got.status, "booting", "get at 0 s: booting");
	is_int(got.state, INST_PENDING, "get at 0 s: PENDING");
	ok(got.billing, "get at 0 s: billing");
	ok(got.ssh_host == NULL, "get at 0 s: no ip yet");
	is_str(got.label, "gr-" LEDGER_ID "-1", "get: the name is the label");
	is_int(got.price, 750000, "get: the price of its type");
	is_str(got.region, "us-west-1", "get: the region");
	instance_release(&got);
	rq = last_request(seq, "GET", "/api/v1/instances/");
	ok(rq != NULL && strstr(json_string_value(json_object_get(rq,
	    "path")), id) != NULL, "get: GET /api/v1/instances/<id>");
	json_decref(rq);

	advance(30000);
	is_int(provider_get(p, id, &got, &e), 0, "get at 30 s");
	is_str(got.status, "booting", "get at 30 s: still booting");
	is_int(got.state, INST_PENDING, "get at 30 s: PENDING");
	instance_release(&got);

	advance(60000);
	is_int(provider_get(p, id, &got, &e), 0, "get at 90 s");
	is_str(got.status, "active", "get at 90 s: active");
	is_int(got.state, INST_RUNNING, "get at 90 s: RUNNING");
	ok(got.billing, "get at 90 s: billing");
	ok(got.ssh_host != NULL && *got.ssh_host != '\0',
	    "get at 90 s: ssh host is the ip");
	is_int(got.ssh_port, 22, "get: port 22");
	is_str(got.ssh_user, "ubuntu", "get: user ubuntu");
	instance_release(&got);

	seq = mark();
	is_int(provider_list(p, &il, &e), 0, "list");
	li = instance_list_find(&il, id);
	ok(li != NULL, "list: shows the instance");
	if (li != NULL) {
		is_str(li->label, "gr-" LEDGER_ID "-1", "list: label");
		is_int(li->state, INST_RUNNING, "list: RUNNING");
		is_str(li->gpu, "A10", "list: gpu");
	}
	instance_list_release(&il);
	rq = last_request(seq, "GET", "/api/v1/instances");
	is_str(rq != NULL ? json_string_value(json_object_get(rq, "path")) :
	    NULL, "/lambda/api/v1/instances", "list: GET /api/v1/instances");
	json_decref(rq);

	/* terminate, twice */
	seq = mark();
	is_int(provider_terminate(p, id, &e), 0, "terminate");
	rq = last_request(seq, "POST",
	    "/api/v1/instance-operations/terminate");
	ok(rq != NULL, "terminate: POST .../instance-operations/terminate");
	b = request_body(rq);
	ar = json_object_get(b, "instance_ids");
	ok(json_array_size(ar) == 1 && json_string_value(json_array_get(ar,
	    0)) != NULL && strcmp(json_string_value(json_array_get(ar, 0)),
	    id) == 0, "terminate body: instance_ids [id]");
	json_decref(b);
	json_decref(rq);
	is_int(provider_get(p, id, &got, &e), 0, "get while terminating");
	is_str(got.status, "terminating", "get: terminating");
	is_int(got.state, INST_STOPPING, "get: terminating is STOPPING");
	ok(!got.billing, "get: terminating no longer bills");
	instance_release(&got);
	is_int(provider_terminate(p, id, &e), 0,
	    "terminate again while terminating: success");

	advance(10000);
	is_int(provider_get(p, id, &got, &e), -1, "get once gone");
	is_int(e.code, GR_E_NOT_FOUND, "get once gone: NOT_FOUND");
	like(e.msg, "global/object-does-not-exist", "get: names the code");
	is_int(e.http_status, 404, "get once gone: HTTP 404");
	instance_release(&got);
	is_int(provider_terminate(p, id, &e), 0,
	    "terminate once gone: success (the wrapper)");
	is_int(p->ops->terminate(p, id, &e), -1,
	    "terminate once gone: the provider itself says");
	is_int(e.code, GR_E_NOT_FOUND, "... NOT_FOUND");
	is_int(provider_list(p, &il, &e), 0, "list after the end");
	ok(instance_list_find(&il, id) == NULL, "list: the instance is gone");
	instance_list_release(&il);

	is_int(provider_get(p, "../instances", &got, &e), -1,
	    "get: an id that would bend the URL");
	is_int(e.code, GR_E_NOT_FOUND, "get: such an id is NOT_FOUND");
	free(id);
}

/* --- capacity per region, price, and what spawn refuses ------------------- */

static void
test_capacity(struct provider *p)
{
	struct gpu_req		 g = gpu("A10", 1);
	struct spawn_req	 r;
	struct instance		 in;
	struct offer_list	 ol = { NULL, 0 };
	struct offer		 o;
	struct gr_err		 e;
	struct provider		*q;
	const char		*west[] = { "us-west-1" };
	const char		*nowhere[] = { "eu-central" };
	int64_t			 seq;

	/* us-west-1 holds one A10: fill it */
	spawn_req_init(&r, "gr-" LEDGER_ID "-2", &g, NULL);
	r.regions = west;
	r.nregions = 1;
	r.max_price = MONEY_UNIT;
	is_int(provider_spawn(p, &r, &in, &e), 0, "spawn A10 in us-west-1");
	if (in.id != NULL)
		remember(in.id);
	instance_release(&in);
	is_int(provider_offers(p, &g, &ol, &e), 0, "offers with us-west-1 "
	    "full");
	ok(ol.n == 1 && strcmp(ol.v[0].region, "us-east-1") == 0,
	    "offers: only us-east-1 has room now");
	offer_list_release(&ol);

	seq = mark();
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, NULL);
	r.regions = west;
	r.nregions = 1;
	r.max_price = MONEY_UNIT;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn in a full region");
	is_int(e.code, GR_E_CAPACITY, "full region: CAPACITY");
	like(e.msg, "no capacity", "full region: says no capacity");
	is_int((long long)count_requests(seq, "/launch"), 0,
	    "full region: no launch was sent");
	ok(!e.outcome_unknown, "full region: the outcome is known");

	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, NULL);
	r.regions = nowhere;
	r.nregions = 1;
	r.max_price = MONEY_UNIT;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn in no region");
	is_int(e.code, GR_E_CAPACITY, "no allowed region: CAPACITY");
	like(e.hint, "widen", "no allowed region: hint to widen regions");

	/* a stale offer: Lambda itself says no (the launch race of 3.4) */
	memset(&o, 0, sizeof(o));
	o.id = "gpu_1x_a10@us-west-1";
	o.region = "us-west-1";
	o.price = 750000;
	o.available = 1;
	seq = mark();
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, &o);
	r.max_price = MONEY_UNIT;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn from a stale offer");
	is_int(e.code, GR_E_CAPACITY, "stale offer: Lambda's "
	    "insufficient-capacity is CAPACITY");
	like(e.msg, "instance-operations/launch/insufficient-capacity",
	    "stale offer: the code is named");
	is_int(e.http_status, 400, "stale offer: HTTP 400");
	ok(e.hint[0] != '\0', "stale offer: the suggestion is the hint");
	ok(!e.outcome_unknown, "stale offer: a definite refusal");
	is_int((long long)count_requests(seq, "/launch"), 1,
	    "stale offer: one launch, from the offer alone");

	/* above the max price: refused before any request */
	seq = mark();
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, NULL);
	r.max_price = 700000;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn under the price");
	is_int(e.code, GR_E_CAPACITY, "over max price: CAPACITY");
	like(e.msg, "above the max $0.70/h", "over max price: says so");
	is_int((long long)count_requests(seq, "/launch"), 0,
	    "over max price: no launch sent");
	o.id = "gpu_1x_a10@us-east-1";
	o.region = "us-east-1";
	seq = mark();
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, &o);
	r.max_price = 700000;
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn an offer over the "
	    "max");
	is_int((long long)count_requests(seq, "/"), 0,
	    "an offer over the max: no request at all");

	/* offers of another type, a label Lambda cannot hold */
	o.id = "gpu_1x_a100@us-west-2";
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, &o);
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn from another "
	    "type's offer");
	is_int(e.code, GR_E_INVALID_SPEC, "another type's offer: "
	    "INVALID_SPEC");
	spawn_req_init(&r, "gr-0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef-1", &g, NULL);
	is_int(provider_spawn(p, &r, &in, &e), -1, "a label over 64 "
	    "characters");
	is_int(e.code, GR_E_INVALID_SPEC, "a long label: INVALID_SPEC");
	g = gpu("RTX_4090", 1);
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, NULL);
	is_int(provider_spawn(p, &r, &in, &e), -1, "spawn a GPU Lambda lacks");
	is_int(e.code, GR_E_CAPACITY, "a GPU Lambda lacks: CAPACITY");
	is_int((long long)count_requests(seq, "/"), 0,
	    "none of these sent a request");

	/* no SSH key configured: CONFIG at spawn, before any request */
	quiet();
	if (prov_new(&q, &e, "min_interval_ms", PACE_MS, NULL) == -1)
		bail_out("provider: %s", e.msg);
	g = gpu("A10", 1);
	spawn_req_init(&r, "gr-" LEDGER_ID "-3", &g, NULL);
	seq = mark();
	is_int(provider_spawn(q, &r, &in, &e), -1, "spawn without "
	    "ssh_key_names");
	is_int(e.code, GR_E_CONFIG, "no SSH key: CONFIG");
	like(e.hint, "ssh_key_names", "no SSH key: the hint names the option");
	is_int((long long)count_requests(seq, "/"), 0,
	    "no SSH key: nothing sent");
	is_int(provider_startup(q, &e), 0, "startup without an SSH key: "
	    "reads work");
	provider_free(q);
	quiet();
	if (prov_new(&q, &e, "ssh_key_names", "nope", "min_interval_ms",
	    PACE_MS, NULL) == -1)
		bail_out("provider: %s", e.msg);
	is_int(provider_startup(q, &e), -1, "startup: an SSH key the "
	    "account lacks");
	is_int(e.code, GR_E_CONFIG, "startup: a missing SSH key is CONFIG");
	like(e.hint, "'" SSH_KEY "'", "startup: the hint lists the account's "
	    "keys");
	provider_free(q);
	quiet();
	is_int(provider_startup(p, &e), 0, "startup: key and SSH key good");
}

/* --- the error codes of section 3.2 --------------------------------------- */

struct ecase {
	const char	*endpoint;	/* the sim's op class */
	int		 status;
	const char	*code;
	enum prov_op	 op;
	enum gr_code	 want;
	bool		 unknown;	/* outcome_unknown */
	const char	*hint;		/* part of the hint, or NULL */
};

static const struct ecase ecases[] = {
	{ "list", 401, "global/invalid-api-key", PROV_OP_LIST, GR_E_AUTH,
	  false, "env LAMBDA_API_KEY" },
	{ "show", 403, "global/account-inactive", PROV_OP_GET, GR_E_AUTH,
	  false, "the key came from env LAMBDA_API_KEY" },
	{ "create", 403, "global/invalid-address", PROV_OP_SPAWN, GR_E_AUTH,
	  false, "billing address" },
	{ "show", 404, "global/object-does-not-exist", PROV_OP_GET,
	  GR_E_NOT_FOUND, false, NULL },
	{ "create", 404, "global/object-does-not-exist", PROV_OP_SPAWN,
	  GR_E_CONFIG, false, "ssh_key_names" },
	{ "create", 400, "global/invalid-parameters", PROV_OP_SPAWN,
	  GR_E_INVALID_SPEC, false, NULL },
	{ "create", 400, "instance-operations/launch/insufficient-capacity",
	  PROV_OP_SPAWN, GR_E_CAPACITY, false, "try again later" },
	{ "create", 400, "global/quota-exceeded", PROV_OP_SPAWN,
	  GR_E_QUOTA_EXCEEDED, false, "increase your quota" },
	{ "create", 400,
	  "instance-operations/launch/file-system-in-wrong-region",
	  PROV_OP_SPAWN, GR_E_INVALID_SPEC, false, "region of its file" },
	{ "create", 400, "instance-operations/launch/file-systems-not-"
	  "supported", PROV_OP_SPAWN, GR_E_INVALID_SPEC, false, NULL },
	{ "create", 400, "global/duplicate", PROV_OP_SPAWN, GR_E_INVALID_SPEC,
	  false, NULL },
	{ "destroy", 409, "filesystems/filesystem-in-use", PROV_OP_TERMINATE,
	  GR_E_INVALID_SPEC, false, NULL },
	{ "destroy", 400, "ssh-keys/key-in-use", PROV_OP_TERMINATE,
	  GR_E_INVALID_SPEC, false, NULL },
	{ "create", 500, "global/internal-error", PROV_OP_SPAWN,
	  GR_E_TRANSIENT, true, NULL },
	{ "list", 500, "global/internal-error", PROV_OP_LIST, GR_E_TRANSIENT,
	  false, NULL },
	{ "create", 503, "provider/internal-unavailable", PROV_OP_SPAWN,
	  GR_E_TRANSIENT, false, "try again" },
	{ "offers", 502, "provider/internal-unavailable", PROV_OP_OFFERS,
	  GR_E_TRANSIENT, false, NULL },
	{ "destroy", 500, "global/unknown", PROV_OP_TERMINATE, GR_E_TRANSIENT,
	  true, NULL },
	{ "list", 429, "global/rate-limited", PROV_OP_LIST, GR_E_RATE_LIMIT,
	  false, NULL },
	/* a code we have never heard of: the HTTP status decides */
	{ "list", 422, "global/something-new", PROV_OP_LIST,
	  GR_E_INVALID_SPEC, false, NULL },
	{ "offers", 500, "global/something-new", PROV_OP_OFFERS,
	  GR_E_TRANSIENT, false, NULL },
};

/* Run op once; the id it made, if any, is remembered. */
static int
run_op(struct provider *p, enum prov_op op, const char *id,
    struct gr_err *e)
{
	struct offer_list	 ol = { NULL, 0 };
	struct instance_list	 il = { NULL, 0 };
	struct instance		 in;
	struct gpu_req		 g = gpu("A10", 1);
	int			 rc;

	memset(&in, 0, sizeof(in));
	switch (op) {
	case PROV_OP_OFFERS:
		rc = provider_offers(p, &g, &ol, e);
		offer_list_release(&ol);
		return rc;
	case PROV_OP_LIST:
		rc = provider_list(p, &il, e);
		instance_list_release(&il);
		return rc;
	case PROV_OP_GET:
		rc = provider_get(p, id, &in, e);
		instance_release(&in);
		return rc;
	case PROV_OP_TERMINATE:
		/* the raw op: the wrapper would hide NOT_FOUND */
		return p->ops->terminate(p, id, e);
	case PROV_OP_SPAWN:
		rc = spawn_a100(p, "gr-" LEDGER_ID "-90", &in, e);
		instance_release(&in);
		return rc;
	default:
		BUG("run_op %d", (int)op);
	}
}

static void
test_errors(struct provider *p)
{
	struct instance	 in;
	struct gr_err	 e;
	char		*rule, *id;
	size_t		 i;
	const struct ecase *c;

	/* an instance for get and terminate to talk about */
	if (spawn_a100(p, "gr-" LEDGER_ID "-80", &in, &e) == -1)
		bail_out("spawn: %s", e.msg);
	id = xstrdup(in.id);
	instance_release(&in);

	for (i = 0; i < nitems(ecases); i++) {
		c = &ecases[i];
		rule = xasprintf("{\"kind\": \"error\", \"provider\": "
		    "\"lambda\", \"endpoint\": \"%s\", \"status\": %d, "
		    "\"code\": \"%s\", \"count\": 1}", c->endpoint, c->status,
		    c->code);
		fault_add(rule);
		free(rule);
		is_int(run_op(p, c->op, id, &e), -1, "%s %d %s: fails",
		    prov_op_name(c->op), c->status, c->code);
		is_int(e.code, c->want, "%s %d %s: %s", prov_op_name(c->op),
		    c->status, c->code, gr_code_name(c->want));
		is_int(e.http_status, c->status, "%s %d %s: http_status",
		    prov_op_name(c->op), c->status, c->code);
		ok(e.outcome_unknown == c->unknown, "%s %d %s: outcome %s",
		    prov_op_name(c->op), c->status, c->code, c->unknown ?
		    "unknown" : "known");
		like(e.msg, c->code, "%s %d %s: the message names the code",
		    prov_op_name(c->op), c->status, c->code);
		like(e.msg, prov_op_name(c->op), "%s %d %s: what failed first",
		    prov_op_name(c->op), c->status, c->code);
		if (c->hint != NULL)
			like(e.hint, c->hint, "%s %d %s: hint", prov_op_name(
			    c->op), c->status, c->code);
		ok(no_key(&e), "%s %d %s: no key in the error",
		    prov_op_name(c->op), c->status, c->code);
	}
	ctl_do("DELETE", "/_sim/faults", NULL);

	/* a 429 storm: RATE_LIMIT, no Retry-After from Lambda */
	fault_add("{\"kind\": \"storm\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"list\", \"length\": 1, \"count\": 1}");
	is_int(run_op(p, PROV_OP_LIST, NULL, &e), -1, "a 429 storm: list "
	    "fails");
	is_int(e.code, GR_E_RATE_LIMIT, "429: RATE_LIMIT");
	is_int(e.retry_after_ms, -1, "429: no Retry-After given");
	like(e.hint, "1 per second", "429: the suggestion as the hint");
	is_int(run_op(p, PROV_OP_LIST, NULL, &e), 0, "after the storm: list "
	    "works");

	/* a body that is not Lambda's: a gateway's HTML */
	fault_add("{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"offers\", \"status\": 502, \"body\": "
	    "\"<html>Bad Gateway</html>\", \"content_type\": \"text/html\", "
	    "\"count\": 1}");
	is_int(run_op(p, PROV_OP_OFFERS, NULL, &e), -1, "offers: a gateway's "
	    "502");
	is_int(e.code, GR_E_TRANSIENT, "gateway 502: TRANSIENT");
	like(e.msg, "HTTP 502", "gateway 502: the status in the message");
	fault_add("{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"create\", \"status\": 502, \"body\": "
	    "\"<html>Bad Gateway</html>\", \"content_type\": \"text/html\", "
	    "\"count\": 1}");
	is_int(run_op(p, PROV_OP_SPAWN, NULL, &e), -1, "spawn: a gateway's "
	    "502");
	is_int(e.code, GR_E_TRANSIENT, "spawn gateway 502: TRANSIENT");
	ok(e.outcome_unknown, "spawn gateway 502: outcome unknown");

	/* a 200 that is not {"data": ...} */
	fault_add("{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"body\": \"ok\", "
	    "\"count\": 1}");
	is_int(run_op(p, PROV_OP_SPAWN, NULL, &e), -1, "spawn: a 200 that is "
	    "not JSON");
	is_int(e.code, GR_E_TRANSIENT, "spawn, garbled 200: TRANSIENT");
	ok(e.outcome_unknown, "spawn, garbled 200: outcome unknown");
	fault_add("{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"list\", \"status\": 200, \"body\": "
	    "\"{\\\"instances\\\": []}\", \"count\": 1}");
	is_int(run_op(p, PROV_OP_LIST, NULL, &e), -1, "list: a 200 without "
	    "data");
	is_int(e.code, GR_E_TRANSIENT, "list, no data: TRANSIENT");
	ok(!e.outcome_unknown, "list, no data: a read, nothing unknown");
	free(id);
}

/* A launch whose reply is lost: unknown, and the label finds it. */
static void
test_lost(struct provider *p)
{
	struct instance		 in;
	struct instance_list	 il = { NULL, 0 };
	struct gr_err		 e;
	const char		*labels[] = { "gr-" LEDGER_ID "-70",
				    "gr-" LEDGER_ID "-71" };
	const char		*modes[] = { "close", "504" };
	char			*rule;
	size_t			 i, j;
	bool			 found;
	int64_t			 seq;

	for (i = 0; i < nitems(modes); i++) {
		rule = xasprintf("{\"kind\": \"lost\", \"provider\": "
		    "\"lambda\", \"endpoint\": \"create\", \"mode\": \"%s\", "
		    "\"count\": 1}", modes[i]);
		fault_add(rule);
		free(rule);
		seq = mark();
		is_int(spawn_a100(p, labels[i], &in, &e), -1, "a launch whose "
		    "reply is lost (%s)", modes[i]);
		instance_release(&in);
		is_int(e.code, GR_E_TRANSIENT, "lost reply (%s): TRANSIENT",
		    modes[i]);
		ok(e.outcome_unknown, "lost reply (%s): outcome unknown",
		    modes[i]);
		is_int((long long)count_requests(seq, "/launch"), 1,
		    "lost reply (%s): sent once, never again", modes[i]);
		is_int(provider_list(p, &il, &e), 0, "lost reply (%s): list",
		    modes[i]);
		found = false;
		for (j = 0; j < il.n; j++) {
			if (il.v[j].label != NULL &&
			    strcmp(il.v[j].label, labels[i]) == 0) {
				found = true;
				remember(il.v[j].id);
			}
		}
		ok(found, "lost reply (%s): the instance is found by its label",
		    modes[i]);
		instance_list_release(&il);
	}

	/* a lost terminate reply: asking again is safe */
	if (spawn_a100(p, "gr-" LEDGER_ID "-72", &in, &e) == -1)
		bail_out("spawn: %s", e.msg);
	fault_add("{\"kind\": \"lost\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"destroy\", \"count\": 1}");
	is_int(provider_terminate(p, in.id, &e), -1, "terminate, reply lost");
	is_int(e.code, GR_E_TRANSIENT, "terminate, reply lost: TRANSIENT");
	is_int(provider_terminate(p, in.id, &e), 0, "terminate again: ok");
	instance_release(&in);
}

/* unhealthy and preempted, set behind the client's back */
static void
test_odd_states(struct provider *p)
{
	struct instance		 in, got;
	struct instance_list	 il = { NULL, 0 };
	const struct instance	*li;
	struct gr_err		 e;
	char			*path;

	if (spawn_a100(p, "gr-" LEDGER_ID "-60", &in, &e) == -1)
		bail_out("spawn: %s", e.msg);
	path = xasprintf("/_sim/instances/lambda/%s/phase", in.id);
	ctl_do("POST", path, "{\"phase\": \"failed\"}");
	free(path);
	is_int(provider_get(p, in.id, &got, &e), 0, "get an unhealthy one");
	is_str(got.status, "unhealthy", "unhealthy: the status word");
	is_int(got.state, INST_RUNNING, "unhealthy: still RUNNING");
	ok(got.billing, "unhealthy: still billing");
	instance_release(&got);

	path = xasprintf("/_sim/instances/lambda/%s/interrupt", in.id);
	ctl_do("POST", path, NULL);
	free(path);
	is_int(provider_get(p, in.id, &got, &e), 0, "get a preempted one");
	is_str(got.status, "preempted", "preempted: the status word");
	is_int(got.state, INST_TERMINATED, "preempted: TERMINATED");
	ok(!got.billing, "preempted: not billing");
	instance_release(&got);
	is_int(provider_list(p, &il, &e), 0, "list with a preempted one");
	li = instance_list_find(&il, in.id);
	ok(li != NULL && li->state == INST_TERMINATED,
	    "list: a preempted instance shows, TERMINATED");
	instance_list_release(&il);
	is_int(provider_terminate(p, in.id, &e), 0, "terminate a preempted "
	    "one");
	instance_release(&in);
}

/* --- pacing --------------------------------------------------------------- */

/* A clock that records what the HTTP layer asks to sleep. */
static int64_t	 rec_offset, rec_slept, rec_max;

static int64_t
rec_now(void *arg)
{
	struct timespec	 ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    __atomic_load_n(&rec_offset, __ATOMIC_SEQ_CST);
}

static void
rec_sleep(void *arg, int64_t ms)
{
	(void)arg;
	if (ms <= 0)
		return;
	__atomic_add_fetch(&rec_offset, ms, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&rec_slept, ms, __ATOMIC_SEQ_CST);
	if (ms > rec_max)
		rec_max = ms;
	/* really wait a little: past the sim's own (lowered) limits */
	usleep((useconds_t)(ms < 150 ? ms : 150) * 1000);
}

static void
test_pacing(void)
{
	struct provider		*p;
	struct instance_list	 il = { NULL, 0 };
	struct instance		 in;
	struct gr_err		 e;
	struct clock_ops	 rec = { rec_now, rec_sleep, NULL };
	json_t			*a, *o;
	int64_t			 t0, seq;
	size_t			 i, n429 = 0, nrl = 0;
	int			 k, fails = 0;

	/* real time: a burst of lists is spaced by min_interval_ms */
	quiet();
	if (prov_new(&p, &e, "ssh_key_names", SSH_KEY, "min_interval_ms",
	    "60", "launch_interval_ms", "200", NULL) == -1)
		bail_out("provider: %s", e.msg);
	t0 = clock_mono_ms();
	for (k = 0; k < 5; k++) {
		if (provider_list(p, &il, &e) == -1)
			fails++;
		instance_list_release(&il);
	}
	ok(clock_mono_ms() - t0 >= 4 * 60, "pacing: 5 lists take at least "
	    "4 x 60 ms (took %lld ms)", (long long)(clock_mono_ms() - t0));
	is_int(fails, 0, "pacing: and none was refused");
	t0 = clock_mono_ms();
	for (k = 0; k < 3; k++) {
		if (spawn_a100(p, "gr-" LEDGER_ID "-50", &in, &e) == -1)
			fails++;
		instance_release(&in);
	}
	ok(clock_mono_ms() - t0 >= 2 * 200, "pacing: 3 launches take at "
	    "least 2 x 200 ms (took %lld ms)", (long long)(clock_mono_ms() -
	    t0));
	is_int(fails, 0, "pacing: and no launch was refused");
	provider_free(p);

	/* the documented defaults, on a clock that records the waits */
	quiet();
	if (prov_new(&p, &e, "ssh_key_names", SSH_KEY, NULL) == -1)
		bail_out("provider: %s", e.msg);
	clock_set(&rec);
	rec_slept = rec_max = 0;
	(void)provider_list(p, &il, &e);
	instance_list_release(&il);
	(void)provider_list(p, &il, &e);
	instance_list_release(&il);
	ok(rec_slept >= 900 && rec_slept <= 1000, "default pacing: the "
	    "second request waits about 1 s (%lld ms)", (long long)rec_slept);
	(void)spawn_a100(p, "gr-" LEDGER_ID "-51", &in, &e);
	instance_release(&in);
	rec_slept = rec_max = 0;
	is_int(spawn_a100(p, "gr-" LEDGER_ID "-52", &in, &e), 0,
	    "default pacing: a second launch");
	instance_release(&in);
	ok(rec_max >= 11000 && rec_max <= 12000, "default pacing: it waits "
	    "about 12 s after the first (%lld ms)", (long long)rec_max);
	clock_set(NULL);
	provider_free(p);

	/* nothing we sent in pace was ever refused by the sim's limits */
	seq = 0;
	a = requests_since(seq);
	json_array_foreach(a, i, o) {
		const char *f = json_string_value(json_object_get(o, "fault"));

		if (json_integer_value(json_object_get(o, "status")) == 429)
			n429++;
		if (f != NULL && strcmp(f, "ratelimit") == 0)
			nrl++;
	}
	json_decref(a);
	is_int((long long)nrl, 0, "pacing: the sim's rate limits never "
	    "answered 429 in this whole test");
	ok(n429 >= 1, "the only 429s were the injected ones (%zu)", n429);
}

/* --- the key in no log line, at -vv --------------------------------------- */

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
test_logs(void)
{
	struct provider		*p;
	struct instance_list	 il = { NULL, 0 };
	struct offer_list	 ol = { NULL, 0 };
	struct instance		 in, got;
	struct gpu_req		 g = gpu("A10", 1);
	struct gr_err		 e;
	char			*errf, *errtext = NULL;
	int			 fd, saved;

	quiet();
	errf = xasprintf("%s/vv.stderr", test_tmpdir());
	fflush(stderr);
	saved = dup(2);
	fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved == -1 || fd == -1 || dup2(fd, 2) == -1)
		bail_out("redirect stderr: %s", strerror(errno));
	close(fd);
	log_init(LOG_LVL_DEBUG + 1, false, "3321");
	log_set_capture(capture, NULL);

	if (prov_new(&p, &e, "ssh_key_names", SSH_KEY, "min_interval_ms",
	    PACE_MS, "launch_interval_ms", LAUNCH_PACE_MS, NULL) == -1)
		bail_out("provider: %s", e.msg);
	(void)provider_offers(p, &g, &ol, &e);
	offer_list_release(&ol);
	if (spawn_a100(p, "gr-" LEDGER_ID "-40", &in, &e) == 0) {
		(void)provider_get(p, in.id, &got, &e);
		instance_release(&got);
		(void)provider_list(p, &il, &e);
		instance_list_release(&il);
		(void)provider_terminate(p, in.id, &e);
	}
	instance_release(&in);
	fault_add("{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"list\", \"status\": 401, \"count\": 1}");
	(void)provider_list(p, &il, &e);
	instance_list_release(&il);
	provider_free(p);

	log_set_capture(NULL, NULL);
	log_init(LOG_LVL_INFO, false, "3321");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	(void)file_read(errf, 16 << 20, &errtext, NULL);

	like(buf_str(&captured), "> POST /lambda/api/v1/instance-operations/"
	    "launch", "-vv: the requests are traced");
	like(buf_str(&captured), "Authorization: [redacted]",
	    "-vv: the Authorization header is shown redacted");
	ok(strstr(buf_str(&captured), KEY) == NULL,
	    "-vv: the key is in no log line");
	ok(errtext != NULL && strstr(errtext, KEY) == NULL,
	    "-vv: nor on stderr");
	is_int(e.code, GR_E_AUTH, "-vv: the injected 401 was AUTH");
	ok(no_key(&e), "-vv: and its error holds no key");
	free(errtext);
	free(errf);
	buf_release(&captured);
}

/* --- the sim's billing record --------------------------------------------- */

static void
test_billing(struct provider *p)
{
	struct instance_list	 il = { NULL, 0 };
	struct gr_err		 e;
	json_t			*b, *a, *o;
	size_t			 i, j, nlambda = 0, nours = 0, nopen = 0;
	bool			 all_known = true, from_launch = true;

	/* tear down whatever is left, then let it go */
	is_int(provider_list(p, &il, &e), 0, "billing: list what is left");
	for (i = 0; i < il.n; i++) {
		remember(il.v[i].id);
		if (il.v[i].state != INST_TERMINATED &&
		    provider_terminate(p, il.v[i].id, &e) == -1)
			diag("terminate %s: %s", il.v[i].id, e.msg);
	}
	instance_list_release(&il);
	advance(10000);
	is_int(provider_list(p, &il, &e), 0, "billing: list after teardown");
	is_int((long long)il.n, 0, "billing: nothing of ours is left");
	instance_list_release(&il);

	b = ctl_call("GET", "/_sim/billing", NULL);
	a = json_object_get(b, "instances");
	json_array_foreach(a, i, o) {
		const char *prov = json_string_value(json_object_get(o,
		    "provider"));
		const char *id = json_string_value(json_object_get(o, "id"));
		bool known = false;

		if (prov == NULL || strcmp(prov, "lambda") != 0)
			continue;
		nlambda++;
		for (j = 0; id != NULL && j < nlaunched; j++)
			if (strcmp(launched[j], id) == 0)
				known = true;
		if (known)
			nours++;
		else {
			all_known = false;
			diag("billed but never seen: %s", id != NULL ? id :
			    "?");
		}
		if (json_is_null(json_object_get(o, "end_ms")))
			nopen++;
		/* (one ended at the instant it began, on the frozen clock,
		 * has no billed segment and no start) */
		if (!json_is_null(json_object_get(o, "start_ms")) &&
		    json_integer_value(json_object_get(o, "start_ms")) !=
		    json_integer_value(json_object_get(o, "created_ms")))
			from_launch = false;
	}
	ok(nlambda > 0 && all_known, "billing: every instance the sim billed "
	    "is one we launched or found (%zu)", nlambda);
	is_int((long long)nours, (long long)nlaunched, "billing: and every "
	    "one we launched was billed");
	is_int((long long)nopen, 0, "billing: none still bills");
	ok(from_launch, "billing: the sim bills from launch (booting), as "
	    "our mapping assumes");
	json_decref(b);
}

int
main(void)
{
	struct provider	*p;
	const char	*sim;
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	sim = sim_path();
	if (access(sim, X_OK) == -1)
		skip_all("no gpureconcile-sim at %s (set GR_SIM)", sim);
	plan_lazy();
	if (setenv("LAMBDA_API_KEY", KEY, 1) == -1)
		bail_out("setenv");
	sim_start();

	test_options();
	p = prov_main();
	test_offers(p);
	test_lifecycle(p);
	test_capacity(p);
	test_errors(p);
	test_lost(p);
	test_odd_states(p);
	provider_free(p);
	test_pacing();
	test_logs();
	quiet();
	p = prov_main();
	test_billing(p);
	provider_free(p);

	http_client_free(ctl);
	sim_kill();
	for (i = 0; i < nlaunched; i++)
		free(launched[i]);
	free(sim_url);
	free(lambda_url);
	(void)unsetenv("LAMBDA_API_KEY");
	return done_testing();
}
