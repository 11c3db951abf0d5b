/*
 * 6003: the simulated RunPod API: REST v2 pods (create, list, get, patch,
 * actions, delete), its status sequence with runtime null until RUNNING,
 * capacity in GPUs, problem+json errors, the catalog, the RateLimit
 * headers and 429 with Retry-After; and GraphQL for what v2 lacks: both
 * inline literals and $variables, aliases, enums, nested field args,
 * spot pods, business errors as HTTP 200, validation errors as 400.
 */
#include "6000-sim.h"

#define RSCEN \
	"{\"start_time\": \"2026-01-01T00:00:00Z\", \"providers\": {" \
	"\"runpod\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 5000, \"start_ms\": 15000, \"stop_ms\": 3000}, \"offers\": [" \
	"{\"gpu\": \"RTX_4090\", \"count\": 8, \"price\": \"0.69\"," \
	" \"storage_price\": \"0.01\", \"min_bid\": \"0.35\", \"region\":" \
	" \"US-TX-3\", \"cloud\": \"SECURE\", \"capacity\": 4}," \
	"{\"gpu\": \"NVIDIA GeForce RTX 4090\", \"count\": 2, \"price\":" \
	" \"0.34\", \"min_bid\": \"0.20\", \"region\": \"EU-RO-1\"," \
	" \"cloud\": \"COMMUNITY\", \"capacity\": 2}," \
	"{\"gpu\": \"A100_80GB\", \"price\": \"1.64\", \"region\":" \
	" \"US-KS-2\", \"capacity\": 1}]}," \
	"\"vastai\": {\"rate_limits\": false}," \
	"\"lambda\": {\"rate_limits\": false}}}"

#define G4090	"NVIDIA GeForce RTX 4090"

static struct simproc sp;

static json_t *
pod_get(const char *id, long *status)
{
	struct hres	 h;
	char		*p = xasprintf("/runpod/v2/pods/%s", id);
	json_t		*j;

	sim_call(&sp, &h, "GET", p, AUTH_RUNPOD, NULL);
	free(p);
	*status = h.status;
	j = json_incref(h.json);
	hres_free(&h);
	return j;
}

static long
action(const char *id, const char *act, json_t **reply)
{
	struct hres	 h;
	char		*p = xasprintf("/runpod/v2/pods/%s/action", id);
	char		*b = xasprintf("{\"action\": \"%s\"}", act);
	long		 st;

	sim_call(&sp, &h, "POST", p, AUTH_RUNPOD, b);
	st = h.status;
	if (reply != NULL)
		*reply = json_incref(h.json);
	hres_free(&h);
	free(p);
	free(b);
	return st;
}

static char *
v2_create(const char *body, long *status, json_t **reply)
{
	struct hres	 h;
	char		*id = NULL;

	sim_call(&sp, &h, "POST", "/runpod/v2/pods", AUTH_RUNPOD, body);
	*status = h.status;
	if (h.status == 201)
		id = xstrdup(jstr(h.json, "id"));
	if (reply != NULL)
		*reply = json_incref(h.json);
	hres_free(&h);
	return id;
}

static void
test_v2(void)
{
	struct hres	 h;
	json_t		*p, *r;
	long		 st;
	char		*a, *b, *c, *path;
	size_t		 k;
	json_t		*e;
	bool		 has_stop = false;

	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	is_int(h.status, 200, "GET /v2/pods answers 200");
	is_int((long long)json_array_size(json_object_get(h.json, "pods")), 0,
	    "as {\"pods\": []}");
	hres_free(&h);

	a = v2_create("{\"name\": \"gr-1a-1\", \"image\": \"img:1\", \"gpu\": "
	    "{\"id\": \"" G4090 "\", \"count\": 2}, \"cloud\": \"SECURE\", "
	    "\"env\": {\"A\": \"1\"}, \"ports\": [\"22/tcp\", \"8888/http\"], "
	    "\"dataCenterIds\": [\"US-TX-3\"]}", &st, &p);
	is_int(st, 201, "POST /v2/pods answers 201");
	is_str(jstr(p, "status"), "PROVISIONING", "a new pod is PROVISIONING");
	is_str(jstr(p, "desiredStatus"), "RUNNING", "desired RUNNING");
	ok(json_is_null(json_object_get(p, "runtime")), "runtime null");
	ok(json_real_value(json_object_get(p, "cost")) == 1.38,
	    "cost is 2 GPUs x $0.69");
	is_str(jpstr(p, "gpu.id"), G4090, "gpu.id");
	is_int(json_integer_value(jpath(p, "gpu.count")), 2, "gpu.count");
	is_str(jpstr(p, "env.A"), "1", "env as an object");
	is_str(jstr(p, "dataCenterId"), "US-TX-3", "in the data centre");
	json_array_foreach(json_object_get(p, "actions"), k, e)
		if (strcmp(json_string_value(e), "stop") == 0)
			has_stop = true;
	ok(has_stop, "actions lists stop");
	ok(json_is_string(jpath(p, "ssh.proxy.host")), "ssh.proxy is there");
	ok(json_is_null(jpath(p, "ssh.direct")), "ssh.direct is not yet");
	json_decref(p);

	sim_advance_ms(&sp, 5000);
	p = pod_get(a, &st);
	is_str(jstr(p, "status"), "STARTING", "after 5 s: STARTING");
	ok(json_is_null(json_object_get(p, "runtime")), "runtime still null");
	json_decref(p);
	sim_advance_ms(&sp, 15000);
	p = pod_get(a, &st);
	is_str(jstr(p, "status"), "RUNNING", "after 20 s: RUNNING");
	is_int(json_integer_value(jpath(p, "runtime.ports.0.private")), 22,
	    "runtime.ports has ssh");
	ok(json_integer_value(jpath(p, "ssh.direct.port")) > 0,
	    "ssh.direct has a port");
	ok(strlen(jstr(p, "publicIp")) > 0, "publicIp once running");
	json_decref(p);

	sim_call(&sp, &h, "PATCH", "/runpod/v2/pods/nope", AUTH_RUNPOD,
	    "{\"name\": \"x\"}");
	is_int(h.status, 404, "PATCH an unknown pod: 404");
	is_str(h.ctype, "application/problem+json", "as problem+json");
	is_str(jstr(h.json, "detail"), "Pod not found", "detail Pod not found");
	is_int(jint(h.json, "status"), 404, "status in the body");
	is_str(jstr(h.json, "title"), "Not Found", "and a title");
	hres_free(&h);
	path = xasprintf("/runpod/v2/pods/%s", a);
	sim_call(&sp, &h, "PATCH", path, AUTH_RUNPOD, "{\"name\": \"renamed\"}");
	is_str(jstr(h.json, "name"), "renamed", "PATCH renames");
	hres_free(&h);

	is_int(action(a, "stop", &r), 200, "action stop answers the Pod");
	is_str(jstr(r, "desiredStatus"), "EXITED", "desired EXITED at once");
	json_decref(r);
	sim_advance_ms(&sp, 3000);
	p = pod_get(a, &st);
	is_str(jstr(p, "status"), "EXITED", "EXITED after the stop delay");
	ok(json_real_value(json_object_get(p, "cost")) == 0.0,
	    "cost 0.0 when EXITED");
	ok(json_is_null(json_object_get(p, "runtime")), "runtime null again");
	json_decref(p);
	is_int(action(a, "stop", &r), 409, "stop an EXITED pod: 409");
	like(jstr(r, "detail"), "not valid", "saying why");
	json_decref(r);
	is_int(action(a, "explode", NULL), 400, "an unknown action: 400");

	/* capacity counts GPUs: 4 secure RTX 4090s, a holds none now */
	b = v2_create("{\"name\": \"b\", \"image\": \"i\", \"gpu\": {\"id\": "
	    "\"" G4090 "\", \"count\": 3}}", &st, NULL);
	is_int(st, 201, "3 GPUs fit while a is stopped");
	free(v2_create("{\"name\": \"c\", \"image\": \"i\", \"gpu\": {\"id\": "
	    "\"" G4090 "\", \"count\": 2}}", &st, &r));
	is_int(st, 400, "2 more secure GPUs do not: 400");
	is_str(jstr(r, "detail"), "There are no longer any instances available "
	    "with the requested specifications. Please refresh and try again.",
	    "RunPod's own capacity message");
	json_decref(r);
	c = v2_create("{\"name\": \"c\", \"image\": \"i\", \"gpu\": {\"id\": "
	    "\"RTX_4090\", \"count\": 2}, \"cloud\": \"COMMUNITY\"}", &st, NULL);
	is_int(st, 201, "the community cloud has 2 (catalog name accepted)");
	is_int(action(a, "start", &r), 409, "starting a needs 2 free GPUs: 409");
	is_str(jstr(r, "detail"), "There are not enough free GPUs on the host "
	    "machine to start this pod.", "RunPod's own message");
	json_decref(r);
	is_int(action(b, "terminate", NULL), 204, "action terminate: 204");
	is_int(action(a, "start", &r), 200, "now a starts");
	is_str(jstr(r, "status"), "PROVISIONING", "from the beginning");
	json_decref(r);
	free(v2_create("{\"name\": \"d\", \"image\": \"i\", \"gpu\": {\"id\": "
	    "\"NVIDIA Nope\"}}", &st, &r));
	is_int(st, 400, "an unknown GPU type: 400");
	like(jstr(r, "detail"), "does not exist", "saying so");
	json_decref(r);
	free(v2_create("{\"image\": \"i\", \"gpu\": {\"id\": \"" G4090 "\"}}",
	    &st, NULL));
	is_int(st, 400, "no name: 400");
	free(v2_create("{\"name\": \"s\", \"image\": \"i\", \"interruptible\": "
	    "true, \"gpu\": {\"id\": \"" G4090 "\"}}", &st, &r));
	is_int(st, 400, "interruptible through v2: 400");
	like(jstr(r, "detail"), "podRentInterruptable", "pointing at GraphQL");
	json_decref(r);

	sim_call(&sp, &h, "DELETE", path, AUTH_RUNPOD, NULL);
	is_int(h.status, 204, "DELETE answers 204");
	is_str(h.body, "", "with no body");
	hres_free(&h);
	p = pod_get(a, &st);
	is_int(st, 404, "GET after DELETE: 404");
	json_decref(p);
	free(path);

	sim_call(&sp, &h, "GET", "/runpod/v2/pods", NULL, NULL);
	is_int(h.status, 401, "no key: 401");
	is_str(h.ctype, "application/problem+json", "as problem+json");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/pods?api_key=sim-runpod-key",
	    NULL, NULL);
	is_int(h.status, 401, "v2 takes only Bearer, not ?api_key=");
	hres_free(&h);

	sim_call(&sp, &h, "GET", "/runpod/v2/catalog/gpus", AUTH_RUNPOD, NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "gpus")), 2,
	    "the catalog lists each GPU type once");
	ok(json_real_value(jpath(h.json, "gpus.0.securePrice")) == 0.69 &&
	    json_real_value(jpath(h.json, "gpus.0.communityPrice")) == 0.34,
	    "with secure and community prices");
	ok(json_is_array(jpath(h.json, "gpus.0.dataCenters")),
	    "and availability per data centre");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/catalog/gpus/NVIDIA%20A100-SXM4-"
	    "80GB", AUTH_RUNPOD, NULL);
	is_int(h.status, 200, "one GPU type by id");
	is_int(jint(h.json, "memoryInGb"), 80, "its memory");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/catalog/gpus/nope", AUTH_RUNPOD,
	    NULL);
	is_int(h.status, 404, "an unknown GPU type: 404");
	hres_free(&h);
	free(a);
	free(b);
	free(c);
}

static void
gql(struct hres *h, const char *query, const char *vars)
{
	json_t	*b = json_pack("{s:s}", "query", query);
	char	*s;

	if (vars != NULL) {
		json_error_t je;

		json_object_set_new(b, "variables", json_loads(vars, 0, &je));
	}
	s = json_dumps(b, 0);
	sim_call(&sp, h, "POST", "/runpod/graphql", AUTH_RUNPOD, s);
	free(s);
	json_decref(b);
}

static void
test_graphql(void)
{
	struct hres	 h;
	char		*id, *spot, *q;

	/* RPY's inline literals */
	gql(&h, "mutation { podFindAndDeployOnDemand( input: { cloudType: "
	    "ALL, gpuCount: 1, volumeInGb: 40, containerDiskInGb: 40, "
	    "minVcpuCount: 2, minMemoryInGb: 15, gpuTypeId: \"NVIDIA "
	    "A100-SXM4-80GB\", name: \"RunPod Tensorflow\", imageName: "
	    "\"runpod/tensorflow\", dockerArgs: \"\", ports: \"8888/http\", "
	    "volumeMountPath: \"/workspace\", dataCenterId: null, env: [{ key: "
	    "\"JUPYTER_PASSWORD\", value: \"x\" }] } ) { id imageName env "
	    "machineId machine { podHostId } } }", NULL);
	is_int(h.status, 200, "an inline-literal deploy answers 200");
	ok(json_object_get(h.json, "errors") == NULL, "with no errors");
	id = xstrdup(jpstr(h.json, "data.podFindAndDeployOnDemand.id"));
	ok(strlen(id) == 14, "a 14-character pod id");
	is_str(jpstr(h.json, "data.podFindAndDeployOnDemand.env.0"),
	    "JUPYTER_PASSWORD=x", "env comes back as K=V strings");
	like(jpstr(h.json, "data.podFindAndDeployOnDemand.machine.podHostId"),
	    id, "machine.podHostId starts with the pod id");
	ok(jpath(h.json, "data.podFindAndDeployOnDemand.costPerHr") == NULL,
	    "only the fields selected");
	hres_free(&h);

	/* RCTL's variables and alias; capacity is a business error */
	gql(&h, "mutation createPod($input: PodFindAndDeployOnDemandInput!) { "
	    "podFindAndDeployOnDemand(input: $input) { id costPerHr "
	    "desiredStatus lastStatusChange } }", "{\"input\": {\"gpuTypeId\": "
	    "\"NVIDIA A100-SXM4-80GB\", \"gpuCount\": 1, \"cloudType\": "
	    "\"SECURE\", \"name\": \"x\", \"imageName\": \"i\"}}");
	is_int(h.status, 200, "a business error is HTTP 200");
	is_str(jpstr(h.json, "errors.0.message"), "There are no longer any "
	    "instances available with the requested specifications. Please "
	    "refresh and try again.", "the capacity message");
	is_str(jpstr(h.json, "errors.0.path.0"), "podFindAndDeployOnDemand",
	    "its path names the field");
	ok(json_is_null(jpath(h.json, "data.podFindAndDeployOnDemand")),
	    "and data holds null for it");
	hres_free(&h);
	gql(&h, "mutation createPod($input: PodFindAndDeployOnDemandInput!) { "
	    "podFindAndDeployOnDemand(input: $input) { id } }", "{\"input\": "
	    "{\"gpuTypeId\": \"x\", \"bogusField\": 1}}");
	is_int(h.status, 400, "an unknown input field: 400");
	like(jpstr(h.json, "errors.0.message"), "Variable \"$input\" got "
	    "invalid value", "a variable validation message");
	like(jpstr(h.json, "errors.0.message"), "bogusField", "naming it");
	hres_free(&h);
	gql(&h, "query { nothing { id } }", NULL);
	is_int(h.status, 400, "an unknown root field: 400");
	like(jpstr(h.json, "errors.0.message"), "Cannot query field",
	    "GraphQL's message");
	hres_free(&h);
	gql(&h, "mutation { podStop(input: {podId: \"x\"} { id } }", NULL);
	is_int(h.status, 400, "a syntax error: 400");
	like(jpstr(h.json, "errors.0.message"), "Syntax Error", "says so");
	hres_free(&h);

	/* reading pods: runtime null until started, aliases */
	q = xasprintf("query Pod { pod(input: {podId: \"%s\"}) { id "
	    "desiredStatus runtime { ports { ip isIpPublic privatePort "
	    "publicPort PortType: type } } } }", id);
	gql(&h, q, NULL);
	is_str(jpstr(h.json, "data.pod.desiredStatus"), "RUNNING",
	    "desiredStatus RUNNING at once");
	ok(json_is_null(jpath(h.json, "data.pod.runtime")),
	    "runtime null until started");
	hres_free(&h);
	sim_advance_ms(&sp, 20000);
	gql(&h, q, NULL);
	is_int(json_integer_value(jpath(h.json, "data.pod.runtime.ports.0."
	    "privatePort")), 22, "runtime once started");
	is_str(jpstr(h.json, "data.pod.runtime.ports.0.PortType"), "tcp",
	    "an aliased field comes back under its alias");
	ok(json_is_true(jpath(h.json, "data.pod.runtime.ports.0.isIpPublic")),
	    "isIpPublic");
	hres_free(&h);
	free(q);
	gql(&h, "query { pod(input: {podId: \"nope\"}) { id } }", NULL);
	ok(json_is_null(jpath(h.json, "data.pod")), "an unknown pod: null");
	hres_free(&h);
	gql(&h, "query Pods { myself { pods { id name desiredStatus costPerHr "
	    "gpuCount machine { gpuDisplayName } } } }", NULL);
	ok(json_array_size(jpath(h.json, "data.myself.pods")) >= 2,
	    "myself.pods lists the pods");
	hres_free(&h);

	/* spot prices and spot pods */
	gql(&h, "query { gpuTypes(input: {id: \"" G4090 "\"}) { id "
	    "displayName memoryInGb securePrice communitySpotPrice "
	    "lowestPrice(input: {gpuCount: 1}) { minimumBidPrice "
	    "uninterruptablePrice stockStatus } } }", NULL);
	is_int((long long)json_array_size(jpath(h.json, "data.gpuTypes")), 1,
	    "gpuTypes filtered by id is a list of one");
	is_str(jpstr(h.json, "data.gpuTypes.0.displayName"), "RTX 4090",
	    "its display name");
	ok(json_real_value(jpath(h.json, "data.gpuTypes.0.communitySpotPrice"))
	    == 0.20, "the community spot price");
	ok(json_real_value(jpath(h.json, "data.gpuTypes.0.lowestPrice."
	    "uninterruptablePrice")) == 0.69, "lowestPrice computed from its "
	    "input: the cheapest line with a GPU free (community is full)");
	ok(json_is_string(jpath(h.json, "data.gpuTypes.0.lowestPrice."
	    "stockStatus")), "with a stockStatus");
	hres_free(&h);
	gql(&h, "{ gpuTypes { id } }", NULL);
	is_int((long long)json_array_size(jpath(h.json, "data.gpuTypes")), 2,
	    "the shorthand query lists every type");
	hres_free(&h);
	gql(&h, "mutation { podRentInterruptable(input: {bidPerGpu: 0.10, "
	    "gpuTypeId: \"" G4090 "\", cloudType: SECURE, gpuCount: 1, name: "
	    "\"spot\", imageName: \"i\"}) { id } }", NULL);
	like(jpstr(h.json, "errors.0.message"), "bid", "a bid under the floor "
	    "is a business error");
	hres_free(&h);
	gql(&h, "mutation { podRentInterruptable(input: {gpuTypeId: \"" G4090
	    "\", gpuCount: 1}) { id } }", NULL);
	is_int(h.status, 400, "no bidPerGpu: a 400 validation error");
	hres_free(&h);
	gql(&h, "mutation Spot($b: Float = 0.36) { podRentInterruptable(input: "
	    "{bidPerGpu: $b, gpuTypeId: \"" G4090 "\", cloudType: SECURE, "
	    "gpuCount: 1, name: \"spot\", imageName: \"i\"}) { id desiredStatus "
	    "podType costPerHr skipped: id @include(if: false) } }", NULL);
	is_str(jpstr(h.json, "data.podRentInterruptable.podType"),
	    "INTERRUPTABLE", "a spot pod (variable default used)");
	ok(json_real_value(jpath(h.json, "data.podRentInterruptable."
	    "costPerHr")) == 0.36, "billed at the bid");
	ok(jpath(h.json, "data.podRentInterruptable.skipped") == NULL,
	    "@include(if: false) leaves the field out");
	spot = xstrdup(jpstr(h.json, "data.podRentInterruptable.id"));
	hres_free(&h);

	q = xasprintf("mutation { podStop(input: {podId: \"%s\"}) { id "
	    "desiredStatus } }", spot);
	gql(&h, q, NULL);
	is_str(jpstr(h.json, "data.podStop.desiredStatus"), "EXITED",
	    "podStop: EXITED");
	hres_free(&h);
	free(q);
	sim_advance_ms(&sp, 3000);
	q = xasprintf("mutation { podBidResume(input: {podId: \"%s\", "
	    "bidPerGpu: 0.40, gpuCount: 1}) { id desiredStatus costPerHr } }",
	    spot);
	gql(&h, q, NULL);
	is_str(jpstr(h.json, "data.podBidResume.desiredStatus"), "RUNNING",
	    "podBidResume: RUNNING");
	ok(json_real_value(jpath(h.json, "data.podBidResume.costPerHr")) ==
	    0.40, "at the new bid");
	hres_free(&h);
	free(q);
	q = xasprintf("mutation { podStop(input: {podId: \"%s\"}) { id } }",
	    id);
	gql(&h, q, NULL);
	hres_free(&h);
	free(q);
	sim_advance_ms(&sp, 3000);
	q = xasprintf("mutation { podResume(input: {podId: \"%s\", gpuCount: "
	    "1}) { id desiredStatus } }", id);
	gql(&h, q, NULL);
	is_str(jpstr(h.json, "data.podResume.desiredStatus"), "RUNNING",
	    "podResume: RUNNING");
	hres_free(&h);
	free(q);
	q = xasprintf("mutation { podTerminate(input: {podId: \"%s\"}) }", id);
	gql(&h, q, NULL);
	ok(json_object_get(h.json, "errors") == NULL &&
	    json_is_null(jpath(h.json, "data.podTerminate")),
	    "podTerminate answers {\"data\": {\"podTerminate\": null}}");
	hres_free(&h);
	gql(&h, q, NULL);
	is_str(jpstr(h.json, "errors.0.path.0"), "podTerminate", "terminating "
	    "it again: an error whose path names podTerminate");
	hres_free(&h);
	free(q);
	gql(&h, "query A { myself { id } } query B { gpuTypes { id } }", NULL);
	is_int(h.status, 400, "two operations and no operationName: 400");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/runpod/graphql", AUTH_RUNPOD,
	    "{\"query\": \"query A { myself { id } } query B { gpuTypes { id } "
	    "}\", \"operationName\": \"B\"}");
	ok(json_is_array(jpath(h.json, "data.gpuTypes")),
	    "operationName picks the operation");
	hres_free(&h);

	sim_call(&sp, &h, "POST", "/runpod/graphql?api_key=sim-runpod-key",
	    NULL, "{\"query\": \"{ myself { id } }\"}");
	is_int(h.status, 200, "GraphQL accepts ?api_key=");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/runpod/graphql?api_key=bad", NULL,
	    "{\"query\": \"{ myself { id } }\"}");
	is_int(h.status, 401, "a bad key: 401");
	ok(h.json != NULL && json_is_array(json_object_get(h.json, "errors")),
	    "with a JSON body");
	hres_free(&h);
	free(id);
	free(spot);
}

static void
test_rate_limits(void)
{
	struct simproc	 rl;
	struct hres	 h;
	char		*v;
	int		 k;

	sim_start(&rl, "{\"providers\": {\"runpod\": {\"rate_limits\": "
	    "{\"minute\": 3, \"hour\": 100, \"day\": 1000}}}}",
	    "--time-scale 1");
	for (k = 0; k < 3; k++) {
		sim_call(&rl, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
		if (k == 0) {
			v = hres_header(&h, "RateLimit");
			like(v != NULL ? v : "", "\"minute\";r=2;t=",
			    "RateLimit counts down the minute window");
			free(v);
			v = hres_header(&h, "RateLimit-Policy");
			is_str(v, "\"minute\";q=3;w=60, \"hour\";q=100;w=3600,"
			    " \"day\";q=1000;w=86400", "RateLimit-Policy");
			free(v);
		}
		hres_free(&h);
	}
	sim_call(&rl, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	is_int(h.status, 429, "the 4th call in a minute: 429");
	is_str(h.ctype, "application/problem+json", "problem+json");
	is_str(jstr(h.json, "detail"), "rate limit exceeded for the minute "
	    "window", "the documented detail");
	v = hres_header(&h, "Retry-After");
	ok(v != NULL && atoi(v) >= 1 && atoi(v) <= 60, "Retry-After in "
	    "seconds (%s)", v != NULL ? v : "none");
	free(v);
	hres_free(&h);
	is_int(sim_stop(&rl), 0, "the rate-limited sim stops cleanly");
	sim_free(&rl);
}

int
main(void)
{
	plan_lazy();
	sim_start(&sp, RSCEN, "--time-scale 0");
	test_v2();
	test_graphql();
	test_rate_limits();
	is_int(sim_stop(&sp), 0, "the sim stops cleanly");
	sim_free(&sp);
	return done_testing();
}
