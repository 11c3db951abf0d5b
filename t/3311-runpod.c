/*
 * 3311: the runpod provider against gpureconcile-sim's RunPod (REST v2
 * under /runpod), driven through the wrappers: options and keys, offers,
 * spawn and the request it sends, the status sequence over sim time
 * (frozen clock, moved by POST /_sim/advance), list with a foreign pod,
 * get, stop and start, terminate twice, capacity, every v2 error status
 * of the reference mapped onto the taxonomy (injected through /_sim/
 * faults), lost replies, rate limiting (a 429 with Retry-After, the
 * RateLimit header's used-up window, pacing), and a key that never
 * reaches a log line at the most verbose level.
 *
 * The sim is $GR_SIM, else $GR_BUILD/gpureconcile-sim; without one the
 * test is skipped.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define KEY		"rpk-T3311-9f8e7d6c5b4a3210"
#define LEDGER		"0123abcd"

/* One running sim. */
struct tsim {
	pid_t		 pid;
	int		 port;
	char		*api;		/* http://127.0.0.1:PORT/runpod */
	struct http_client *ctl;	/* .../_sim */
};

static struct tsim	 sims[2];
static struct buf	 logged;	/* every log line, at -vv */
static char		*errfile;	/* our stderr (and the sims') */

static void
capture(int lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	buf_adds(&logged, msg);
	buf_addc(&logged, '\n');
}

static void
sims_kill(void)
{
	size_t	 i;
	int	 st;

	for (i = 0; i < nitems(sims); i++) {
		if (sims[i].pid <= 0)
			continue;
		(void)kill(sims[i].pid, SIGTERM);
		(void)waitpid(sims[i].pid, &st, 0);
		sims[i].pid = 0;
	}
}

static const char *
sim_path(void)
{
	static char	*path;
	const char	*b;

	if (path != NULL)
		return path;
	if ((b = getenv("GR_SIM")) != NULL && *b != '\0')
		path = xstrdup(b);
	else if ((b = getenv("GR_BUILD")) != NULL && *b != '\0')
		path = xasprintf("%s/gpureconcile-sim", b);
	else
		path = xstrdup("build/gpureconcile-sim");
	return path;
}

/* Start a sim with this scenario (JSON), frozen clock. */
static void
sim_start(struct tsim *s, const char *name, const char *scenario)
{
	char	*dir, *scen, *pf, *txt = NULL, *base;
	int	 i, st, fd;

	dir = xasprintf("%s/%s", test_tmpdir(), name);
	if (mkdir_p(dir, 0755) == -1)
		bail_out("mkdir %s: %s", dir, strerror(errno));
	scen = test_write(dir, "scenario.json", scenario);
	pf = xasprintf("%s/port", dir);
	fflush(stdout);
	s->pid = fork();
	if (s->pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (s->pid == 0) {
		/* no pipe of prove's held open; gone when the test is */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(sim_path(), sim_path(), "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--scenario", scen, "--time-scale", "0",
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 &&
		    strchr(txt, '\n') != NULL) {
			s->port = atoi(txt);
			break;
		}
		free(txt);
		txt = NULL;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			bail_out("%s exited before it listened", sim_path());
		}
		usleep(10 * 1000);
	}
	free(txt);
	if (s->port <= 0)
		bail_out("%s did not write %s within 10 s", sim_path(), pf);
	s->api = xasprintf("http://127.0.0.1:%d/runpod", s->port);
	base = xasprintf("http://127.0.0.1:%d/_sim", s->port);
	{
		struct gr_err	 e;

		if (http_client_new("sim", base, NULL, NULL, &s->ctl, &e) == -1)
			bail_out("control client: %s", e.msg);
	}
	free(base);
	free(pf);
	free(scen);
	free(dir);
}

/* A control call; the reply's JSON (new), NULL on failure. */
static json_t *
ctl(struct tsim *s, const char *method, const char *path, const char *body)
{
	struct http_req		 req;
	struct http_resp	 resp;
	struct gr_err		 e;
	json_t			*j = NULL;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.body = body;
	req.body_len = body != NULL ? strlen(body) : 0;
	if (http_do(s->ctl, &req, &resp, &e) == -1) {
		diag("control %s %s: %s", method, path, e.msg);
		return NULL;
	}
	if (resp.status >= 300)
		diag("control %s %s: HTTP %ld: %s", method, path, resp.status,
		    resp.body);
	else
		j = json_loadb(resp.body, resp.len, 0, NULL);
	http_resp_release(&resp);
	return j;
}

static void
ctl_do(struct tsim *s, const char *method, const char *path,
    const char *body)
{
	json_decref(ctl(s, method, path, body));
}

static void
advance(struct tsim *s, int64_t ms)
{
	char	*b = xasprintf("{\"ms\": %lld}", (long long)ms);

	ctl_do(s, "POST", "advance", b);
	free(b);
}

static void
fault(struct tsim *s, const char *rule)
{
	ctl_do(s, "DELETE", "faults", NULL);
	ctl_do(s, "POST", "faults", rule);
}

/* The sequence number of the last request the sim logged. */
static int64_t
req_mark(struct tsim *s)
{
	json_t	*j = ctl(s, "GET", "requests?since=999999999", NULL);
	int64_t	 n = json_integer_value(json_object_get(j, "last_seq"));

	json_decref(j);
	return n;
}

/* RunPod requests since mark (new array). */
static json_t *
reqs_since(struct tsim *s, int64_t mark)
{
	char	*p = xasprintf("requests?provider=runpod&since=%lld",
	    (long long)mark);
	json_t	*j = ctl(s, "GET", p, NULL), *a;

	free(p);
	a = json_incref(json_object_get(j, "requests"));
	json_decref(j);
	return a != NULL ? a : json_array();
}

static const char *
rstr(json_t *r, const char *k)
{
	const char	*v = json_string_value(json_object_get(r, k));

	return v != NULL ? v : "";
}

static struct provider *
rp_new(struct tsim *s, const char *const *kv, struct gr_err *e)
{
	struct provider_conf	 conf;
	struct kv		 opts[16];
	struct provider		*p = NULL;
	size_t			 n = 0, i;

	memset(&conf, 0, sizeof(conf));
	if (s != NULL) {
		opts[n].key = "base_url";
		opts[n++].value = s->api;
		opts[n].key = "min_interval_ms";
		opts[n++].value = "0";
	}
	for (i = 0; kv != NULL && kv[i] != NULL; i += 2) {
		size_t j;

		/* the caller's value wins over the defaults above */
		for (j = 0; j < n; j++)
			if (strcmp(opts[j].key, kv[i]) == 0)
				break;
		opts[j].key = (char *)kv[i];
		opts[j].value = (char *)kv[i + 1];
		if (j == n)
			n++;
	}
	conf.name = "runpod";
	conf.state_dir = test_tmpdir();
	conf.ledger_id = LEDGER;
	conf.options = opts;
	conf.noptions = n;
	provider_timeouts_default(&conf.timeouts);
	gr_err_clear(e);
	if (provider_new(&conf, &p, e) == -1)
		return NULL;
	return p;
}

static const struct kv group_env[] = {
	{ "GREETING", "hello" },
};

static struct gpu_req g4090 = { "RTX_4090", 1, 0 };

static void
spawn_req_init(struct spawn_req *r, const char *label,
    const struct offer *o)
{
	memset(r, 0, sizeof(*r));
	r->label = label;
	r->address = "f/g/0";
	r->gpu = &g4090;
	r->max_price = MONEY_UNIT;	/* $1.00/h */
	r->disk_gb = 20;
	r->image = "runpod/pytorch:2.8.0-py3.11-cuda12.8.1";
	r->bootstrap = "#!/bin/sh\necho hi\n";
	r->bootstrap_len = strlen(r->bootstrap);
	r->env = group_env;
	r->nenv = nitems(group_env);
	r->offer = o;
}

/* --- the checks ---------------------------------------------------------- */

static void
test_options(struct tsim *s)
{
	struct provider	*p;
	struct gr_err	 e;
	char		*kf;
	const char	*bad_opt[] = { "base_ulr", "x", NULL };
	const char	*bad_cloud[] = { "cloud_type", "secure", NULL };
	const char	*bad_ms[] = { "min_interval_ms", "soon", NULL };
	const char	*file_opt[3] = { "api_key_file", NULL, NULL };

	p = rp_new(s, bad_opt, &e);
	ok(p == NULL && e.code == GR_E_CONFIG, "an unknown option is CONFIG");
	like(e.msg, "unknown option 'base_ulr'", "... naming it");
	like(e.hint, "did you mean 'base_url'?", "... with a did-you-mean");
	provider_free(p);
	p = rp_new(s, bad_cloud, &e);
	ok(p == NULL && e.code == GR_E_CONFIG, "cloud_type secure is CONFIG");
	like(e.hint, "did you mean 'SECURE'?", "... suggesting SECURE");
	provider_free(p);
	p = rp_new(s, bad_ms, &e);
	ok(p == NULL && e.code == GR_E_CONFIG, "a bad min_interval_ms is "
	    "CONFIG");
	provider_free(p);

	unsetenv("RUNPOD_API_KEY");
	p = rp_new(s, NULL, &e);
	ok(p == NULL && e.code == GR_E_AUTH, "no key anywhere is AUTH");
	like(e.hint, "export RUNPOD_API_KEY=", "... the hint names the "
	    "variable to set");
	provider_free(p);
	kf = test_write(test_tmpdir(), "rp.key", KEY "\n");
	if (chmod(kf, 0600) == -1)
		bail_out("chmod %s", kf);
	file_opt[1] = kf;
	p = rp_new(s, file_opt, &e);
	ok(p != NULL, "api_key_file gives the key");
	like(p != NULL ? p->cred_source : "", "rp.key", "cred_source names "
	    "the key file");
	provider_free(p);
	free(kf);
	setenv("RUNPOD_API_KEY", KEY, 1);
	p = rp_new(s, NULL, &e);
	ok(p != NULL, "RUNPOD_API_KEY gives the key");
	is_str(p != NULL ? p->cred_source : "", "env RUNPOD_API_KEY",
	    "cred_source says where the key came from");
	ok(p != NULL && provider_has_cap(p, PROV_CAP_HIBERNATION) &&
	    provider_has_cap(p, PROV_CAP_GPU) &&
	    provider_has_cap(p, PROV_CAP_SPOT) &&
	    provider_has_cap(p, PROV_CAP_MULTI_REGION),
	    "caps: gpu, spot, hibernation, multiRegion");
	provider_free(p);
	ok(provider_ops_find("runpod") == &runpod_provider_ops,
	    "runpod is in the registry");
}

static void
test_offers(struct tsim *s, struct provider *p)
{
	struct offer_list	 ol = { NULL, 0 };
	struct gpu_req		 g2 = { "RTX_4090", 2, 0 };
	struct gpu_req		 gh = { "GH200", 1, 0 };
	struct gpu_req		 big = { "RTX_4090", 1, 80 };
	const char		*all[] = { "cloud_type", "ALL", NULL };
	struct provider		*pa;
	struct gr_err		 e;
	json_t			*rq;
	int64_t			 m = req_mark(s);

	ok(provider_offers(p, &g4090, &ol, &e) == 0, "offers RTX_4090");
	is_int(ol.n, 1, "one SECURE offer (the default cloud)");
	if (ol.n == 1) {
		is_str(ol.v[0].gpu, "RTX_4090", "offer gpu is canonical");
		is_int(ol.v[0].price, 690000, "price $0.69/h to the micro");
		is_str(ol.v[0].region, "US-TX-3", "region is the data centre");
		is_int(ol.v[0].available, 8, "8 free");
		is_int(ol.v[0].vram_gb, 24, "24 GB");
		is_str(ol.v[0].id, "SECURE/US-TX-3/NVIDIA GeForce RTX 4090",
		    "offer id CLOUD/DC/GPU");
	}
	offer_list_release(&ol);
	rq = reqs_since(s, m);
	is_int(json_array_size(rq), 1, "one request for offers");
	is_str(rstr(json_array_get(rq, 0), "method"), "GET", "offers: GET");
	is_str(rstr(json_array_get(rq, 0), "path"), "/runpod/v2/catalog/gpus?"
	    "include=AVAILABILITY&count=1&cloud=SECURE",
	    "offers: the v2 catalog with availability for the count");
	is_str(rstr(json_array_get(rq, 0), "auth"), "bearer",
	    "offers: Bearer auth");
	like(rstr(json_array_get(rq, 0), "user_agent"), "gpureconcile/",
	    "offers: our User-Agent");
	json_decref(rq);

	pa = rp_new(s, all, &e);
	ok(pa != NULL && provider_offers(pa, &g2, &ol, &e) == 0,
	    "offers of 2 RTX_4090 on ALL clouds");
	is_int(ol.n, 2, "two offers: secure and community");
	if (ol.n == 2) {
		is_str(ol.v[0].id, "COMMUNITY/EU-RO-1/NVIDIA GeForce RTX 4090",
		    "cheapest first: community");
		is_int(ol.v[0].price, 680000, "per-GPU price times 2");
		is_int(ol.v[0].available, 2, "4 GPUs free: 2 pods of 2");
		is_int(ol.v[1].price, 1380000, "secure: 2 x $0.69");
	}
	offer_list_release(&ol);
	provider_free(pa);

	m = req_mark(s);
	ok(provider_offers(p, &gh, &ol, &e) == 0 && ol.n == 0,
	    "a GPU RunPod has no id for: no offers");
	offer_list_release(&ol);
	rq = reqs_since(s, m);
	is_int(json_array_size(rq), 0, "... and no request");
	json_decref(rq);
	ok(provider_offers(p, &big, &ol, &e) == 0 && ol.n == 0,
	    "min_vram_gb above the type's memory: no offers");
	offer_list_release(&ol);
}

/* The last create request's body (new), or NULL. */
static json_t *
last_create(struct tsim *s, int64_t mark, json_t **reqp)
{
	json_t	*rq = reqs_since(s, mark), *r, *b = NULL;
	size_t	 i;

	json_array_foreach(rq, i, r)
		if (strcmp(rstr(r, "method"), "POST") == 0 &&
		    strcmp(rstr(r, "path"), "/runpod/v2/pods") == 0) {
			json_decref(b);
			b = json_loads(rstr(r, "body"), 0, NULL);
			if (reqp != NULL) {
				json_decref(*reqp);
				*reqp = json_incref(r);
			}
		}
	json_decref(rq);
	return b;
}

static char *
spawn_and_boot(struct tsim *s, struct provider *p)
{
	struct offer_list	 ol = { NULL, 0 };
	struct spawn_req	 req;
	struct instance		 in;
	struct gr_err		 e;
	json_t			*b, *r = NULL;
	const char		*args;
	char			*id = NULL;
	int64_t			 m;

	memset(&in, 0, sizeof(in));
	(void)provider_offers(p, &g4090, &ol, &e);
	m = req_mark(s);
	spawn_req_init(&req, "gr-" LEDGER "-1", ol.n > 0 ? &ol.v[0] : NULL);
	ok(provider_spawn(p, &req, &in, &e) == 0, "spawn from an offer");
	if (in.id != NULL)
		id = xstrdup(in.id);
	is_str(in.label, "gr-" LEDGER "-1", "spawn: the label is the name");
	is_int(in.state, INST_PENDING, "spawn: PENDING (PROVISIONING)");
	ok(in.billing, "spawn: billing from the start (desired RUNNING)");
	is_int(in.price, 690000, "spawn: cost $0.69/h");
	is_str(in.gpu, "RTX_4090", "spawn: canonical gpu");
	is_int(in.gpu_count, 1, "spawn: one GPU");
	is_str(in.region, "US-TX-3", "spawn: the offer's data centre");
	ok(in.ssh_host == NULL, "spawn: no ssh before the runtime exists");
	ok(in.created_ms > 0, "spawn: createdAt parsed");
	instance_release(&in);
	offer_list_release(&ol);

	b = last_create(s, m, &r);
	ok(b != NULL, "spawn sent POST /runpod/v2/pods");
	is_str(rstr(r, "auth"), "bearer", "spawn: Bearer auth");
	is_int(json_integer_value(json_object_get(r, "key_index")), 0,
	    "spawn: the scenario's key");
	like(rstr(r, "content_type"), "application/json", "spawn: JSON body");
	is_int(json_integer_value(json_object_get(r, "status")), 201,
	    "spawn: 201 Created");
	is_str(json_string_value(json_object_get(b, "name")), "gr-" LEDGER
	    "-1", "body: name is the owner label");
	is_str(json_string_value(json_object_get(b, "image")),
	    "runpod/pytorch:2.8.0-py3.11-cuda12.8.1", "body: image");
	is_str(json_string_value(json_object_get(json_object_get(b, "gpu"),
	    "id")), "NVIDIA GeForce RTX 4090", "body: gpu.id is RunPod's id");
	is_int(json_integer_value(json_object_get(json_object_get(b, "gpu"),
	    "count")), 1, "body: gpu.count");
	is_str(json_string_value(json_object_get(b, "cloud")), "SECURE",
	    "body: cloud");
	is_str(json_string_value(json_array_get(json_object_get(b,
	    "dataCenterIds"), 0)), "US-TX-3", "body: dataCenterIds");
	is_int(json_integer_value(json_object_get(b, "disk")), 20,
	    "body: disk");
	is_str(json_string_value(json_array_get(json_object_get(b, "ports"),
	    0)), "22/tcp", "body: ports 22/tcp");
	is_str(json_string_value(json_object_get(json_object_get(b, "env"),
	    "GREETING")), "hello", "body: the group's env");
	is_str(json_string_value(json_object_get(json_object_get(b, "env"),
	    "GR_BOOTSTRAP")), "#!/bin/sh\necho hi\n",
	    "body: the bootstrap in GR_BOOTSTRAP");
	args = json_string_value(json_object_get(b, "args"));
	like(args != NULL ? args : "", "sh /root/gr-bootstrap.sh",
	    "body: args run the bootstrap");
	ok(json_object_get(b, "interruptible") == NULL,
	    "body: no v2-unknown fields");
	json_decref(b);
	json_decref(r);
	return id;
}

static void
test_status_sequence(struct tsim *s, struct provider *p, const char *id)
{
	struct instance	 in;
	struct gr_err	 e;

	ok(provider_get(p, id, &in, &e) == 0, "get a fresh pod");
	is_str(in.status, "PROVISIONING", "get: PROVISIONING");
	is_int(in.state, INST_PENDING, "... is PENDING");
	ok(in.billing, "... and billing");
	instance_release(&in);
	advance(s, 5000);
	ok(provider_get(p, id, &in, &e) == 0 && in.state == INST_PENDING &&
	    in.status != NULL && strcmp(in.status, "STARTING") == 0,
	    "5 s later: STARTING, PENDING");
	ok(in.ssh_host == NULL, "... runtime null: no ssh yet");
	instance_release(&in);
	advance(s, 15000);
	ok(provider_get(p, id, &in, &e) == 0, "get once booted");
	is_str(in.status, "RUNNING", "20 s later: RUNNING");
	is_int(in.state, INST_RUNNING, "... is RUNNING");
	ok(in.billing && in.price == 690000, "... billing $0.69/h");
	ok(in.ssh_host != NULL && in.ssh_port > 0 && in.ssh_port < 65536,
	    "... ssh from the runtime's 22/tcp mapping");
	is_str(in.ssh_user, "root", "... as root");
	instance_release(&in);
}

static void
test_list(struct tsim *s, struct provider *p, const char *id)
{
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*a, *f = NULL;
	struct gr_err		 e;
	json_t			*rq;
	size_t			 i;
	int64_t			 m;

	ctl_do(s, "POST", "instances", "{\"provider\": \"runpod\", \"gpu\": "
	    "\"RTX_4090\", \"region\": \"US-TX-3\", \"label\": "
	    "\"someone-elses-pod\"}");
	m = req_mark(s);
	ok(provider_list(p, &l, &e) == 0, "list");
	a = instance_list_find(&l, id);
	ok(a != NULL, "list has our pod");
	is_str(a != NULL ? a->label : NULL, "gr-" LEDGER "-1",
	    "... with its name as the label");
	ok(a != NULL && a->state == INST_RUNNING && a->billing,
	    "... RUNNING and billing");
	for (i = 0; i < l.n; i++)
		if (l.v[i].label != NULL &&
		    strcmp(l.v[i].label, "someone-elses-pod") == 0)
			f = &l.v[i];
	ok(f != NULL, "list has a pod someone else made");
	ok(f != NULL && !owner_label_is_gr(f->label), "... which is not ours");
	instance_list_release(&l);
	rq = reqs_since(s, m);
	is_int(json_array_size(rq), 1, "list is one request (no pages in v2)");
	is_str(rstr(json_array_get(rq, 0), "path"), "/runpod/v2/pods",
	    "list: GET /v2/pods");
	json_decref(rq);
}

static void
test_stop_start(struct tsim *s, struct provider *p, const char *id)
{
	struct instance	 in;
	struct gr_err	 e;
	json_t		*rq, *b;
	int64_t		 m = req_mark(s);
	char		*cap;

	ok(provider_stop(p, id, &e) == 0, "stop");
	rq = reqs_since(s, m);
	b = json_loads(rstr(json_array_get(rq, 0), "body"), 0, NULL);
	ok(strstr(rstr(json_array_get(rq, 0), "path"), "/action") != NULL &&
	    strcmp(rstr(json_array_get(rq, 0), "method"), "POST") == 0,
	    "stop: POST /v2/pods/ID/action");
	is_str(json_string_value(json_object_get(b, "action")), "stop",
	    "stop: {\"action\":\"stop\"}");
	json_decref(b);
	json_decref(rq);
	ok(provider_get(p, id, &in, &e) == 0 && in.state == INST_RUNNING &&
	    in.billing, "stopping: still RUNNING and billing until it exits");
	is_str(in.status, "RUNNING, desired EXITED", "... saying it is "
	    "stopping");
	instance_release(&in);
	ok(provider_stop(p, id, &e) == 0, "stop while stopping: success");
	ok(provider_start(p, id, &e) == -1 && e.code == GR_E_TRANSIENT,
	    "start while still stopping: TRANSIENT");
	like(e.msg, "still stopping", "... saying why");
	advance(s, 3000);
	ok(provider_get(p, id, &in, &e) == 0, "get a stopped pod");
	is_str(in.status, "EXITED", "stopped: EXITED");
	ok(in.state == INST_STOPPED && !in.billing && in.price == 0,
	    "... STOPPED, compute not billing, cost 0");
	instance_release(&in);
	ok(provider_stop(p, id, &e) == 0, "stop again: the 409 of an EXITED "
	    "pod is success");

	/* no GPU free: start is CAPACITY */
	cap = xasprintf("{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 1}");
	ctl_do(s, "POST", "capacity", cap);
	free(cap);
	ok(provider_start(p, id, &e) == -1 && e.code == GR_E_CAPACITY,
	    "start with no GPU free is CAPACITY");
	like(e.msg, "not enough free GPUs", "... in RunPod's words");
	like(e.msg, "start '", "... naming what failed");
	ctl_do(s, "POST", "capacity", "{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 8}");
	ok(provider_start(p, id, &e) == 0, "start");
	ok(provider_get(p, id, &in, &e) == 0 && in.state == INST_PENDING &&
	    in.billing, "started: PENDING and billing again");
	instance_release(&in);
	ok(provider_start(p, id, &e) == 0, "start again: the 409 of a pod "
	    "already starting is success");
	advance(s, 20000);
	ok(provider_get(p, id, &in, &e) == 0 && in.state == INST_RUNNING,
	    "RUNNING again");
	instance_release(&in);
}

static void
test_terminate(struct tsim *s, struct provider *p, const char *id)
{
	struct instance	 in;
	struct gr_err	 e;
	json_t		*rq;
	int64_t		 m = req_mark(s);

	ok(provider_terminate(p, id, &e) == 0, "terminate");
	rq = reqs_since(s, m);
	is_str(rstr(json_array_get(rq, 0), "method"), "DELETE",
	    "terminate: DELETE");
	like(rstr(json_array_get(rq, 0), "path"), "/runpod/v2/pods/",
	    "terminate: /v2/pods/ID");
	is_int(json_integer_value(json_object_get(json_array_get(rq, 0),
	    "status")), 204, "terminate: 204");
	json_decref(rq);
	ok(provider_get(p, id, &in, &e) == 0, "get while terminating");
	ok(in.state == INST_TERMINATED && !in.billing,
	    "TERMINATED: billing ended");
	instance_release(&in);
	advance(s, 2000);
	ok(provider_get(p, id, &in, &e) == -1 && e.code == GR_E_NOT_FOUND,
	    "gone: get is NOT_FOUND");
	m = req_mark(s);
	ok(provider_terminate(p, id, &e) == 0, "terminate twice: success");
	rq = reqs_since(s, m);
	is_int(json_integer_value(json_object_get(json_array_get(rq, 0),
	    "status")), 404, "... the sim said 404");
	json_decref(rq);
	ok(provider_get(p, "../../v2/pods", &in, &e) == -1 &&
	    e.code == GR_E_NOT_FOUND, "an id that is not a pod id never "
	    "reaches a path");
}

static void
test_capacity(struct tsim *s, struct provider *p)
{
	struct offer_list	 ol = { NULL, 0 };
	struct spawn_req	 req;
	struct instance		 in;
	struct offer		 dear;
	struct gr_err		 e;
	json_t			*rq;
	int64_t			 m;

	(void)provider_offers(p, &g4090, &ol, &e);
	ctl_do(s, "POST", "capacity", "{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 0}");
	spawn_req_init(&req, "gr-" LEDGER "-2", ol.n > 0 ? &ol.v[0] : NULL);
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "a stale offer with no GPUs left: CAPACITY");
	like(e.msg, "no longer any instances available", "... RunPod's words");
	like(e.msg, "spawn 'f/g/0' on runpod: ", "... what failed first");
	ok(!e.outcome_unknown, "... and known not to have made anything");
	spawn_req_init(&req, "gr-" LEDGER "-2", NULL);
	m = req_mark(s);
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "without an offer and no stock: CAPACITY");
	rq = reqs_since(s, m);
	is_int(json_array_size(rq), 1, "... found in the catalog, no create");
	json_decref(rq);
	ctl_do(s, "POST", "capacity", "{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 8}");

	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 400, \"msg\": \"There are "
	    "no instances available with the requested specifications\", "
	    "\"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "'no instances available' is CAPACITY");
	ctl_do(s, "DELETE", "faults", NULL);

	dear = ol.n > 0 ? ol.v[0] : (struct offer){ 0 };
	dear.price = 2 * MONEY_UNIT;
	spawn_req_init(&req, "gr-" LEDGER "-2", &dear);
	m = req_mark(s);
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "an offer above max_price is refused");
	rq = reqs_since(s, m);
	is_int(json_array_size(rq), 0, "... before any request");
	json_decref(rq);
	req.max_price = MONEY_UNIT / 10;
	req.offer = NULL;
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "no offer under max_price: CAPACITY");
	like(e.msg, "no RTX_4090 offer under $0.10/h", "... saying so");
	offer_list_release(&ol);

	spawn_req_init(&req, "gr-" LEDGER "-2", NULL);
	req.gpu = &(struct gpu_req){ "GH200", 1, 0 };
	ok(provider_spawn(p, &req, &in, &e) == -1 &&
	    e.code == GR_E_INVALID_SPEC, "a GPU RunPod has no id for: "
	    "INVALID_SPEC");
}

struct err_case {
	const char	*endpoint;	/* the sim's op class */
	int		 status;
	const char	*msg;		/* NULL: the sim's default */
	enum gr_code	 want;
	bool		 unknown;	/* outcome_unknown on spawn */
	const char	*what;
};

static const struct err_case err_cases[] = {
	{ "create", 400, NULL, GR_E_INVALID_SPEC, false, "400" },
	{ "create", 400, "gpu type 'X' does not exist", GR_E_INVALID_SPEC,
	  false, "400 invalid input" },
	{ "create", 401, NULL, GR_E_AUTH, false, "401" },
	{ "create", 403, "access denied", GR_E_AUTH, false, "403" },
	{ "create", 402, "Payment Required", GR_E_QUOTA_EXCEEDED, false,
	  "402" },
	{ "create", 400, "Insufficient balance: a pod needs an hour of "
	  "credit", GR_E_QUOTA_EXCEEDED, false, "400 balance" },
	{ "create", 403, "spend limit of $80/h reached", GR_E_QUOTA_EXCEEDED,
	  false, "403 spend limit" },
	{ "create", 409, "conflict", GR_E_INVALID_SPEC, false, "409" },
	{ "create", 422, "Request validation failed.", GR_E_INVALID_SPEC,
	  false, "422" },
	{ "create", 429, NULL, GR_E_RATE_LIMIT, false, "429" },
	{ "create", 500, NULL, GR_E_TRANSIENT, true, "500" },
	{ "create", 502, NULL, GR_E_TRANSIENT, true, "502" },
	{ "create", 503, NULL, GR_E_TRANSIENT, false, "503" },
	{ "create", 504, NULL, GR_E_TRANSIENT, true, "504" },
	{ "list", 404, NULL, GR_E_CONFIG, false, "404 on a collection" },
	{ "list", 405, NULL, GR_E_CONFIG, false, "405 on a collection" },
	{ "show", 404, NULL, GR_E_NOT_FOUND, false, "404 on a pod" },
	{ "offers", 401, NULL, GR_E_AUTH, false, "401 on offers" },
	{ "destroy", 500, NULL, GR_E_TRANSIENT, false, "500 on terminate" },
	{ "manage", 409, "action 'stop' is not valid", GR_E_INVALID_SPEC,
	  false, "409 on stop" },
};

static void
test_errors(struct tsim *s, struct provider *p)
{
	struct spawn_req	 req;
	struct instance		 in, in2;
	struct instance_list	 l = { NULL, 0 };
	struct offer_list	 ol = { NULL, 0 };
	struct gr_err		 e;
	char			*rule, *msg;
	const struct err_case	*c;
	size_t			 i;
	int			 rc;

	/* a pod to get, stop and terminate */
	spawn_req_init(&req, "gr-" LEDGER "-3", NULL);
	ok(provider_spawn(p, &req, &in, &e) == 0, "spawn a pod for the "
	    "error cases");
	advance(s, 20000);
	for (i = 0; i < nitems(err_cases); i++) {
		c = &err_cases[i];
		msg = c->msg != NULL ? xasprintf(", \"msg\": \"%s\"", c->msg) :
		    xstrdup("");
		rule = xasprintf("{\"kind\": \"error\", \"provider\": "
		    "\"runpod\", \"endpoint\": \"%s\", \"status\": %d%s, "
		    "\"count\": 1}", c->endpoint, c->status, msg);
		fault(s, rule);
		gr_err_clear(&e);
		if (strcmp(c->endpoint, "create") == 0) {
			struct instance out;

			spawn_req_init(&req, "gr-" LEDGER "-4", NULL);
			rc = provider_spawn(p, &req, &out, &e);
			instance_release(&out);
		} else if (strcmp(c->endpoint, "list") == 0) {
			rc = provider_list(p, &l, &e);
			instance_list_release(&l);
		} else if (strcmp(c->endpoint, "show") == 0) {
			struct instance out;

			rc = provider_get(p, in.id, &out, &e);
			instance_release(&out);
		} else if (strcmp(c->endpoint, "offers") == 0) {
			rc = provider_offers(p, &g4090, &ol, &e);
			offer_list_release(&ol);
		} else if (strcmp(c->endpoint, "manage") == 0) {
			/* the sim's pod is RUNNING: the 409 is the fault's */
			rc = provider_stop(p, in.id, &e);
		} else
			rc = provider_terminate(p, in.id, &e);
		ok(rc == -1 && e.code == c->want, "HTTP %s -> %s (got %s: %s)",
		    c->what, gr_code_name(c->want), gr_code_name(e.code),
		    e.msg);
		if (strcmp(c->endpoint, "create") == 0)
			ok(e.outcome_unknown == c->unknown, "HTTP %s: outcome "
			    "%s", c->what, c->unknown ? "unknown" : "known");
		if (c->status == 401)
			like(e.hint, "env RUNPOD_API_KEY", "HTTP %s: the hint "
			    "names where the key came from", c->what);
		if (c->status == 429)
			ok(e.retry_after_ms == 1000, "HTTP 429: retry_after_ms "
			    "from Retry-After (got %lld)",
			    (long long)e.retry_after_ms);
		if (c->status == 422)
			like(e.msg, "request validation failed (HTTP 422)",
			    "HTTP 422: problem+json detail, lowercased");
		ok(e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL &&
		    strstr(e.msg, KEY) == NULL, "HTTP %s: one line, no key",
		    c->what);
		free(rule);
		free(msg);
		ctl_do(s, "DELETE", "faults", NULL);
		/* a 429 holds the next call for its Retry-After */
		if (c->status == 429)
			usleep(1000 * 1000);
	}

	/* problem+json with its list of validation failures */
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 422, \"content_type\": "
	    "\"application/problem+json\", \"body\": \"{\\\"title\\\": "
	    "\\\"Unprocessable Entity\\\", \\\"status\\\": 422, "
	    "\\\"detail\\\": \\\"Request validation failed.\\\", "
	    "\\\"errors\\\": [\\\"$: additional properties 'bogus' not "
	    "allowed\\\"]}\", \"count\": 1}");
	spawn_req_init(&req, "gr-" LEDGER "-4", NULL);
	ok(provider_spawn(p, &req, &in2, &e) == -1 &&
	    e.code == GR_E_INVALID_SPEC, "422 with errors[]: INVALID_SPEC");
	like(e.msg, "request validation failed ($: additional properties "
	    "'bogus' not allowed) (HTTP 422)", "... naming the first failure");
	instance_release(&in2);

	/* a body that is not problem+json */
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"list\", \"status\": 502, \"body\": "
	    "\"<html>bad gateway</html>\", \"content_type\": \"text/html\", "
	    "\"count\": 1}");
	ok(provider_list(p, &l, &e) == -1 && e.code == GR_E_TRANSIENT,
	    "an HTML 502 is TRANSIENT");
	like(e.msg, "HTTP 502", "... quoting the status");
	instance_list_release(&l);

	/* a 200 with a broken body */
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"list\", \"status\": 200, \"body\": "
	    "\"not json\", \"count\": 1}");
	ok(provider_list(p, &l, &e) == -1 && e.code == GR_E_TRANSIENT,
	    "a 200 that is not JSON is TRANSIENT");
	instance_list_release(&l);
	ctl_do(s, "DELETE", "faults", NULL);
	ok(provider_terminate(p, in.id, &e) == 0, "clean up the error pod");
	instance_release(&in);
}

static void
test_lost(struct tsim *s, struct provider *p)
{
	struct spawn_req	 req;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	const char		*tmo[] = { "timeout_ms", "400", NULL };
	struct provider		*pt;
	size_t			 i, n = 0;

	fault(s, "{\"kind\": \"lost\", \"provider\": \"runpod\", \"endpoint\": "
	    "\"create\", \"count\": 1}");
	spawn_req_init(&req, "gr-" LEDGER "-5", NULL);
	ok(provider_spawn(p, &req, &in, &e) == -1 &&
	    e.code == GR_E_TRANSIENT && e.outcome_unknown,
	    "a create whose reply is lost: TRANSIENT, outcome unknown");
	like(e.msg, "spawn 'f/g/0' on runpod: ", "... what failed first");
	ctl_do(s, "DELETE", "faults", NULL);
	ok(provider_list(p, &l, &e) == 0, "list after the lost reply");
	for (i = 0; i < l.n; i++)
		if (l.v[i].label != NULL &&
		    strcmp(l.v[i].label, "gr-" LEDGER "-5") == 0) {
			n++;
			(void)provider_terminate(p, l.v[i].id, &e);
		}
	is_int(n, 1, "... finds the pod by its label, once");
	instance_list_release(&l);

	fault(s, "{\"kind\": \"latency\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"ms\": 1500, \"count\": 1}");
	pt = rp_new(s, tmo, &e);
	spawn_req_init(&req, "gr-" LEDGER "-6", NULL);
	ok(pt != NULL && provider_spawn(pt, &req, &in, &e) == -1 &&
	    e.code == GR_E_TRANSIENT && e.outcome_unknown,
	    "a create that times out: TRANSIENT, outcome unknown");
	like(e.msg, "timed out", "... saying it timed out");
	provider_free(pt);
	ctl_do(s, "DELETE", "faults", NULL);
	usleep(1200 * 1000);	/* the sim finishes the slow create */
	ok(provider_list(p, &l, &e) == 0, "list after the timeout");
	for (i = 0; i < l.n; i++)
		if (l.v[i].label != NULL &&
		    strcmp(l.v[i].label, "gr-" LEDGER "-6") == 0)
			(void)provider_terminate(p, l.v[i].id, &e);
	instance_list_release(&l);
}

/* The GraphQL requests since mark (new array of their parsed bodies). */
static json_t *
gql_bodies(struct tsim *s, int64_t mark, bool *all_bearer)
{
	json_t	*rq = reqs_since(s, mark), *r, *out = json_array();
	size_t	 i;

	*all_bearer = true;
	json_array_foreach(rq, i, r) {
		if (strcmp(rstr(r, "path"), "/runpod/graphql") != 0)
			continue;
		if (strcmp(rstr(r, "auth"), "bearer") != 0 ||
		    strcmp(rstr(r, "method"), "POST") != 0)
			*all_bearer = false;
		json_array_append_new(out, json_loads(rstr(r, "body"), 0,
		    NULL));
	}
	json_decref(rq);
	return out;
}

static void
test_spot(struct tsim *s, struct provider *p)
{
	struct spawn_req	 req;
	struct instance		 in, got;
	struct instance_list	 l = { NULL, 0 };
	const struct instance	*a;
	struct gr_err		 e;
	json_t			*gq, *in0, *env, *x;
	const char		*q;
	char			*path;
	bool			 bearer, boot = false;
	size_t			 i;
	int64_t			 m = req_mark(s);

	spawn_req_init(&req, "gr-" LEDGER "-7", NULL);
	req.spot = true;
	ok(provider_spawn(p, &req, &in, &e) == 0, "spawn a spot pod");
	is_int(in.state, INST_PENDING, "spot: PENDING");
	ok(in.billing, "spot: billing (desired RUNNING)");
	is_int(in.price, 350000, "spot: billed at the floor bid, $0.35/h");
	is_str(in.label, "gr-" LEDGER "-7", "spot: the label is the name");
	is_str(in.region, "US-TX-3", "spot: the data centre");
	gq = gql_bodies(s, m, &bearer);
	is_int(json_array_size(gq), 2, "spot: two GraphQL requests (the "
	    "floor, the rental)");
	ok(bearer, "spot: POST /runpod/graphql with Bearer, no key in the "
	    "URL");
	q = json_string_value(json_object_get(json_array_get(gq, 0), "query"));
	like(q != NULL ? q : "", "lowestPrice(input: {gpuCount: $n, "
	    "secureCloud: $secure}) { minimumBidPrice }", "spot: asks the "
	    "floor for the count and cloud");
	x = json_object_get(json_array_get(gq, 0), "variables");
	ok(json_integer_value(json_object_get(x, "n")) == 1 &&
	    json_is_true(json_object_get(x, "secure")) &&
	    strcmp(json_string_value(json_object_get(x, "id")),
	    "NVIDIA GeForce RTX 4090") == 0, "spot: ... as variables");
	q = json_string_value(json_object_get(json_array_get(gq, 1), "query"));
	like(q != NULL ? q : "", "podRentInterruptable(input: $input)",
	    "spot: rents with podRentInterruptable");
	in0 = json_object_get(json_object_get(json_array_get(gq, 1),
	    "variables"), "input");
	is_str(json_string_value(json_object_get(in0, "name")), "gr-" LEDGER
	    "-7", "spot input: name is the owner label");
	ok(json_number_value(json_object_get(in0, "bidPerGpu")) == 0.35,
	    "spot input: bidPerGpu is the floor");
	is_str(json_string_value(json_object_get(in0, "gpuTypeId")),
	    "NVIDIA GeForce RTX 4090", "spot input: gpuTypeId");
	is_str(json_string_value(json_object_get(in0, "cloudType")), "SECURE",
	    "spot input: cloudType");
	is_str(json_string_value(json_object_get(in0, "dataCenterId")),
	    "US-TX-3", "spot input: dataCenterId");
	is_str(json_string_value(json_object_get(in0, "ports")), "22/tcp",
	    "spot input: ports");
	like(json_string_value(json_object_get(in0, "dockerArgs")) != NULL ?
	    json_string_value(json_object_get(in0, "dockerArgs")) : "",
	    "gr-bootstrap.sh", "spot input: dockerArgs run the bootstrap");
	env = json_object_get(in0, "env");
	json_array_foreach(env, i, x)
		if (strcmp(rstr(x, "key"), "GR_BOOTSTRAP") == 0 &&
		    strcmp(rstr(x, "value"), "#!/bin/sh\necho hi\n") == 0)
			boot = true;
	ok(boot, "spot input: env as [{key, value}] with the bootstrap");
	json_decref(gq);

	advance(s, 20000);
	ok(provider_list(p, &l, &e) == 0, "list with a spot pod");
	a = in.id != NULL ? instance_list_find(&l, in.id) : NULL;
	ok(a != NULL && a->state == INST_RUNNING && a->billing &&
	    a->price == 350000, "list (v2): the spot pod RUNNING at its bid");
	instance_list_release(&l);

	path = xasprintf("instances/runpod/%s/interrupt", in.id != NULL ?
	    in.id : "none");
	ctl_do(s, "POST", path, "{}");
	free(path);
	ok(provider_get(p, in.id, &got, &e) == 0 &&
	    got.state == INST_STOPPED && !got.billing,
	    "an interrupted spot pod: STOPPED, compute not billing");
	is_str(got.status, "EXITED", "... EXITED");
	instance_release(&got);
	ok(provider_start(p, in.id, &e) == 0, "start the interrupted pod");
	ok(provider_get(p, in.id, &got, &e) == 0 &&
	    got.state == INST_PENDING && got.billing, "... PENDING and billing "
	    "again");
	instance_release(&got);
	ok(provider_terminate(p, in.id, &e) == 0, "terminate the spot pod");
	instance_release(&in);

	/* refusals and GraphQL's errors */
	spawn_req_init(&req, "gr-" LEDGER "-8", NULL);
	req.spot = true;
	req.max_price = MONEY_UNIT / 5;	/* $0.20 < the $0.35 floor */
	m = req_mark(s);
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "a spot bid above max_price: CAPACITY");
	like(e.msg, "the spot bid $0.35/h is above the max $0.20/h",
	    "... saying so");
	gq = gql_bodies(s, m, &bearer);
	is_int(json_array_size(gq), 1, "... the rental never sent");
	json_decref(gq);
	req.max_price = MONEY_UNIT;

	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"msg\": \"There "
	    "are no longer any instances available with the requested "
	    "specifications. Please refresh and try again.\", \"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "GraphQL 200 with a capacity error: CAPACITY");
	like(e.msg, "no longer any instances available with the requested "
	    "specifications. Please refresh and try again (GraphQL)",
	    "... the business error's message");
	is_int(e.http_status, 200, "... over HTTP 200");
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"msg\": "
	    "\"Something went wrong. Please try again later or contact "
	    "support.\", \"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 &&
	    e.code == GR_E_TRANSIENT && e.outcome_unknown,
	    "GraphQL 'Something went wrong' on the rental: TRANSIENT, "
	    "outcome unknown");
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"msg\": \"Your "
	    "bid price is below the minimum bid price of $0.40/hr per GPU.\", "
	    "\"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "GraphQL: a bid under a floor that moved is CAPACITY");
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"msg\": "
	    "\"cloudType must be one of ALL, SECURE, COMMUNITY\", "
	    "\"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 &&
	    e.code == GR_E_INVALID_SPEC, "GraphQL: any other business error "
	    "is INVALID_SPEC");
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 400, \"msg\": "
	    "\"Variable \\\"$input\\\" got invalid value\", \"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 &&
	    e.code == GR_E_INVALID_SPEC, "GraphQL HTTP 400: INVALID_SPEC");
	like(e.msg, "variable \"$input\" got invalid value (HTTP 400)",
	    "... errors[0].message");
	fault(s, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"offers\", \"path\": \"graphql\", "
	    "\"status\": 401, \"count\": 1}");
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_AUTH,
	    "GraphQL HTTP 401: AUTH");
	like(e.hint, "env RUNPOD_API_KEY", "... the hint names the key's "
	    "source");
	ctl_do(s, "DELETE", "faults", NULL);
	ctl_do(s, "POST", "capacity", "{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 0}");
	spawn_req_init(&req, "gr-" LEDGER "-8", &(struct offer){
	    .id = "SECURE/US-TX-3/NVIDIA GeForce RTX 4090", .price = 690000 });
	req.spot = true;
	ok(provider_spawn(p, &req, &in, &e) == -1 && e.code == GR_E_CAPACITY,
	    "no GPU free for spot: CAPACITY");
	like(e.msg, "no spot 1 x NVIDIA GeForce RTX 4090 on SECURE cloud",
	    "... there is no floor to bid");
	ctl_do(s, "POST", "capacity", "{\"provider\": \"runpod\", \"sku\": 0, "
	    "\"capacity\": 8}");
}

static void
test_rate_limits(struct tsim *s, struct tsim *s2)
{
	struct provider		*p, *p0, *p1;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	const char		*nowait[] = { "rate_wait_max_ms", "0", NULL };
	const char		*paced[] = { "min_interval_ms", "300", NULL };
	json_t			*rq;
	int64_t			 t0, m;
	int			 i, okn = 0;

	p = rp_new(s, NULL, &e);
	fault(s, "{\"kind\": \"storm\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"list\", \"length\": 1, \"retry_after\": 1}");
	ok(provider_list(p, &l, &e) == -1 && e.code == GR_E_RATE_LIMIT,
	    "a 429 is RATE_LIMIT");
	is_int(e.http_status, 429, "... HTTP 429");
	is_int(e.retry_after_ms, 1000, "... Retry-After: 1 -> 1000 ms");
	like(e.msg, "rate limit exceeded for the minute window",
	    "... with the problem+json detail");
	instance_list_release(&l);
	ctl_do(s, "DELETE", "faults", NULL);
	t0 = clock_mono_ms();
	ok(provider_list(p, &l, &e) == 0, "the next call waits out the "
	    "Retry-After, then succeeds");
	ok(clock_mono_ms() - t0 >= 900, "... after about a second (%lld ms)",
	    (long long)(clock_mono_ms() - t0));
	instance_list_release(&l);
	provider_free(p);

	/* pacing: min_interval_ms between requests */
	p = rp_new(s, paced, &e);
	t0 = clock_mono_ms();
	for (i = 0; i < 3; i++) {
		(void)provider_list(p, &l, &e);
		instance_list_release(&l);
	}
	ok(clock_mono_ms() - t0 >= 600, "min_interval_ms 300 paces 3 calls "
	    "over 600 ms (%lld ms)", (long long)(clock_mono_ms() - t0));
	provider_free(p);

	/* s2 allows 3 requests a minute */
	p0 = rp_new(s2, nowait, &e);
	m = req_mark(s2);
	for (i = 0; i < 3; i++) {
		okn += provider_list(p0, &l, &e) == 0;
		instance_list_release(&l);
	}
	is_int(okn, 3, "three calls within the minute quota");
	ok(provider_list(p0, &l, &e) == -1 && e.code == GR_E_RATE_LIMIT,
	    "the RateLimit header's used-up window: RATE_LIMIT");
	like(e.msg, "minute rate-limit window is used up; not sent",
	    "... without sending");
	ok(e.retry_after_ms > 0 && e.retry_after_ms <= 61000,
	    "... retry after the window's t (%lld ms)",
	    (long long)e.retry_after_ms);
	rq = reqs_since(s2, m);
	is_int(json_array_size(rq), 3, "... the sim saw three requests");
	json_decref(rq);
	instance_list_release(&l);
	p1 = rp_new(s2, nowait, &e);
	ok(provider_list(p1, &l, &e) == -1 && e.code == GR_E_RATE_LIMIT &&
	    e.http_status == 429 && e.retry_after_ms >= 1000,
	    "over the quota the sim's 429 is RATE_LIMIT with Retry-After");
	instance_list_release(&l);
	provider_free(p0);
	provider_free(p1);
}

static void
test_bad_key(struct tsim *s)
{
	struct provider		*p;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;

	setenv("RUNPOD_API_KEY", "rpk-wrong-key-000000", 1);
	p = rp_new(s, NULL, &e);
	setenv("RUNPOD_API_KEY", KEY, 1);
	ok(p != NULL && provider_list(p, &l, &e) == -1 && e.code == GR_E_AUTH,
	    "a key the sim does not know: AUTH");
	like(e.msg, "the API key is missing or invalid (HTTP 401)",
	    "... in the problem+json's words");
	like(e.hint, "check the API key in env RUNPOD_API_KEY",
	    "... hint names where the key came from");
	ok(strstr(e.msg, "wrong-key") == NULL &&
	    strstr(e.hint, "wrong-key") == NULL, "... and not the key");
	instance_list_release(&l);
	provider_free(p);
}

int
main(void)
{
	struct provider	*p;
	struct gr_err	 e;
	char		*id, *err = NULL;
	int		 saved, fd;

	if (access(sim_path(), X_OK) == -1)
		skip_all("no gpureconcile-sim at %s (build it, or set GR_SIM)",
		    sim_path());
	plan_lazy();
	if (chdir(test_tmpdir()) == -1)	/* no stray .env is read */
		bail_out("chdir %s", test_tmpdir());
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("RUNPOD_API_KEY", KEY, 1);

	/* everything at -vv, into a file, and every line captured */
	errfile = xasprintf("%s/stderr", test_tmpdir());
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || saved == -1)
		bail_out("stderr to %s: %s", errfile, strerror(errno));
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_init(LOG_LVL_DEBUG + 1, false, "3311");
	log_set_capture(capture, NULL);

	sim_start(&sims[0], "main", "{\"providers\": {\"runpod\": {"
	    "\"keys\": [\"" KEY "\"], \"rate_limits\": {\"minute\": 100000,"
	    " \"hour\": 1000000, \"day\": 10000000}, \"delays\": "
	    "{\"provision_ms\": 5000, \"start_ms\": 15000, \"stop_ms\": 3000,"
	    " \"terminate_ms\": 2000}}}}");
	sim_start(&sims[1], "quota", "{\"providers\": {\"runpod\": {"
	    "\"keys\": [\"" KEY "\"], \"rate_limits\": {\"minute\": 3}}}}");
	atexit(sims_kill);

	test_options(&sims[0]);
	p = rp_new(&sims[0], NULL, &e);
	if (p == NULL)
		bail_out("runpod provider: %s", e.msg);
	test_offers(&sims[0], p);
	id = spawn_and_boot(&sims[0], p);
	if (id == NULL)
		bail_out("no pod to go on with");
	test_status_sequence(&sims[0], p, id);
	test_list(&sims[0], p, id);
	test_stop_start(&sims[0], p, id);
	test_terminate(&sims[0], p, id);
	test_capacity(&sims[0], p);
	test_errors(&sims[0], p);
	test_lost(&sims[0], p);
	test_spot(&sims[0], p);
	test_rate_limits(&sims[0], &sims[1]);
	test_bad_key(&sims[0]);
	provider_free(p);
	free(id);

	log_set_capture(NULL, NULL);
	log_init(LOG_LVL_INFO, false, "3311");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	like(buf_str(&logged), "Authorization: [redacted]",
	    "-vv traced the requests' headers");
	like(buf_str(&logged), "runpod: POST http://127.0.0.1:",
	    "-vv logged the calls");
	ok(strstr(buf_str(&logged), KEY) == NULL,
	    "the key is in no log line at -vv");
	(void)file_read(errfile, 64 << 20, &err, NULL);
	ok(err != NULL && strstr(err, KEY) == NULL,
	    "nor anywhere on stderr (ours and the sims')");
	free(err);
	sims_kill();
	buf_release(&logged);
	return done_testing();
}
