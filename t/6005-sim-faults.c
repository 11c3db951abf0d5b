/*
 * 6005: seeded fault injection in gpureconcile-sim: errors by status and
 * provider code, custom bodies, rates that repeat for a seed, latency,
 * responses lost after the action (connection closed, or 504), instances
 * late in lists, spot interruptions, price changes, 429 storms, and the
 * skip/count/method/path knobs.
 */
#include "6000-sim.h"

#define FSCEN \
	"{\"start_time\": \"2026-01-01T00:00:00Z\", \"providers\": {" SIM_NO_RL \
	"}}"

static struct simproc sp;

static void
rule(struct simproc *s, const char *json)
{
	json_decref(ctl(s, "POST", "faults", json));
}

static void
clear(struct simproc *s)
{
	json_decref(ctl(s, "DELETE", "faults", NULL));
}

static const char lambda_launch[] = "{\"region_name\": \"us-east-1\", "
    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
    "[\"default\"]}";

static int
count_insts(const char *prov)
{
	json_t	*st = ctl(&sp, "GET", "state", NULL), *e;
	size_t	 k;
	int	 n = 0;

	json_array_foreach(json_object_get(st, "instances"), k, e)
		if (strcmp(jstr(e, "provider"), prov) == 0 &&
		    strcmp(jstr(e, "phase"), "gone") != 0)
			n++;
	json_decref(st);
	return n;
}

static void
test_errors(void)
{
	struct hres	 h;
	json_t		*j;
	int		 n;

	json_decref(ctl(&sp, "DELETE", "requests", NULL));
	rule(&sp, "{\"kind\": \"error\", \"provider\": \"vastai\", "
	    "\"endpoint\": \"list\", \"status\": 503, \"count\": 2}");
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 503, "an injected 503");
	ok(json_is_false(json_object_get(h.json, "success")) &&
	    json_is_string(json_object_get(h.json, "msg")),
	    "in vast's error shape");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 503, "again (count 2)");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 200, "then the rule is spent");
	hres_free(&h);
	j = ctl(&sp, "GET", "faults", NULL);
	is_int(json_integer_value(jpath(j, "faults.0.fired")), 2,
	    "the rule counts what it fired");
	json_decref(j);
	j = ctl(&sp, "GET", "requests?provider=vastai", NULL);
	n = (int)json_array_size(json_object_get(j, "requests"));
	is_str(jpstr(j, "requests.0.fault"), "error", "the request log names "
	    "the fault");
	ok(json_is_null(jpath(j, "requests.2.fault")) && n == 3,
	    "and none on the clean request");
	json_decref(j);
	clear(&sp);

	rule(&sp, "{\"kind\": \"error\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"create\", \"status\": 400, \"code\": "
	    "\"global/quota-exceeded\", \"count\": 1}");
	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, lambda_launch);
	is_int(h.status, 400, "an injected lambda code");
	is_str(jpstr(h.json, "error.code"), "global/quota-exceeded",
	    "with the code asked for");
	is_str(jpstr(h.json, "error.message"), "Quota exceeded.",
	    "and its documented message");
	hres_free(&h);
	is_int(count_insts("lambda"), 0, "an error before acting created "
	    "nothing");
	clear(&sp);

	rule(&sp, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 200, \"msg\": \"Something "
	    "went wrong. Please try again later or contact support.\"}");
	sim_call(&sp, &h, "POST", "/runpod/graphql", AUTH_RUNPOD, "{\"query\": "
	    "\"mutation { podFindAndDeployOnDemand(input: {gpuTypeId: "
	    "\\\"NVIDIA GeForce RTX 4090\\\"}) { id } }\"}");
	is_int(h.status, 200, "an injected GraphQL business error is HTTP 200");
	is_str(jpstr(h.json, "errors.0.path.0"), "podFindAndDeployOnDemand",
	    "with the field's path");
	ok(json_is_null(jpath(h.json, "data.podFindAndDeployOnDemand")),
	    "and null data");
	hres_free(&h);
	clear(&sp);
	rule(&sp, "{\"kind\": \"error\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"status\": 500}");
	sim_call(&sp, &h, "POST", "/runpod/v2/pods", AUTH_RUNPOD, "{\"name\": "
	    "\"x\", \"image\": \"i\", \"gpu\": {\"id\": \"NVIDIA GeForce RTX "
	    "4090\"}}");
	is_int(h.status, 500, "an injected REST 500");
	is_str(h.ctype, "application/problem+json", "as problem+json");
	hres_free(&h);
	clear(&sp);

	rule(&sp, "{\"kind\": \"error\", \"provider\": \"vastai\", "
	    "\"status\": 429, \"body\": \"{\\\"detail\\\": \\\"API requests "
	    "too frequent endpoint threshold=4.5\\\"}\", \"content_type\": "
	    "\"application/json\", \"count\": 1}");
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 429, "a custom-body 429");
	like(jstr(h.json, "detail"), "threshold=4.5", "with the body given");
	hres_free(&h);
	clear(&sp);

	rule(&sp, "{\"kind\": \"error\", \"provider\": \"vastai\", "
	    "\"method\": \"DELETE\", \"status\": 500}");
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 200, "a method-matched rule spares GET");
	hres_free(&h);
	sim_call(&sp, &h, "DELETE", "/vast/api/v0/instances/1/", AUTH_VAST,
	    NULL);
	is_int(h.status, 500, "and hits DELETE");
	hres_free(&h);
	clear(&sp);
	rule(&sp, "{\"kind\": \"error\", \"provider\": \"lambda\", \"path\": "
	    "\"api/v1/ssh-keys\", \"status\": 502, \"skip\": 1, \"count\": 1}");
	sim_call(&sp, &h, "GET", "/lambda/api/v1/ssh-keys", AUTH_LAMBDA, NULL);
	is_int(h.status, 200, "skip 1 lets the first match through");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA, NULL);
	is_int(h.status, 200, "a path-matched rule spares other paths");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/ssh-keys", AUTH_LAMBDA, NULL);
	is_int(h.status, 502, "the second match fails");
	is_str(jpstr(h.json, "error.code"), "provider/internal-unavailable",
	    "a 502 as provider/internal-unavailable");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/ssh-keys", AUTH_LAMBDA, NULL);
	is_int(h.status, 200, "count 1: the third passes");
	hres_free(&h);
	clear(&sp);
}

/* 20 lambda list calls under a 50% error rule: "0" ok, "1" failed. */
static char *
pattern(struct simproc *s)
{
	struct hres	 h;
	char		 out[21];
	int		 k;

	rule(s, "{\"kind\": \"error\", \"provider\": \"lambda\", \"endpoint\": "
	    "\"list\", \"rate\": 0.5, \"status\": 500}");
	for (k = 0; k < 20; k++) {
		sim_call(s, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA,
		    NULL);
		out[k] = h.status == 500 ? '1' : '0';
		hres_free(&h);
	}
	out[20] = '\0';
	clear(s);
	return xstrdup(out);
}

static void
test_determinism(void)
{
	struct simproc	 a, a2, b;
	char		*p1, *p2, *p3;

	sim_start(&a, FSCEN, "--time-scale 0 --seed 42");
	sim_start(&a2, FSCEN, "--time-scale 0 --seed 42");
	sim_start(&b, FSCEN, "--time-scale 0 --seed 43");
	p1 = pattern(&a);
	p2 = pattern(&a2);
	p3 = pattern(&b);
	is_str(p1, p2, "the same seed gives the same faults (%s)", p1);
	ok(strcmp(p1, p3) != 0, "another seed gives others (%s)", p3);
	ok(strchr(p1, '0') != NULL && strchr(p1, '1') != NULL,
	    "a 50%% rate gives both outcomes");
	free(p1);
	free(p2);
	free(p3);
	is_int(sim_stop(&a), 0, "seed-42 sim stops");
	is_int(sim_stop(&a2), 0, "the other seed-42 sim stops");
	sim_free(&a2);
	is_int(sim_stop(&b), 0, "seed-43 sim stops");
	sim_free(&a);
	sim_free(&b);
}

static void
test_latency_and_lost(void)
{
	struct hres	 h;
	json_t		*j;

	rule(&sp, "{\"kind\": \"latency\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"list\", \"ms\": 300, \"count\": 1}");
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	ok(h.secs >= 0.3, "injected latency delays the reply (%.3f s)", h.secs);
	is_int(h.status, 200, "and the reply is still right");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	ok(h.secs < 0.3, "the next call is fast again");
	hres_free(&h);
	clear(&sp);

	json_decref(ctl(&sp, "DELETE", "requests", NULL));
	rule(&sp, "{\"kind\": \"lost\", \"provider\": \"vastai\", "
	    "\"endpoint\": \"create\", \"count\": 1}");
	sim_call(&sp, &h, "PUT", "/vast/api/v0/asks/3000000/", AUTH_VAST,
	    "{\"image\": \"x\", \"label\": \"lost-one\"}");
	is_int(h.status, 0, "a lost reply: no HTTP status at all");
	is_int(h.curl_rc, CURLE_GOT_NOTHING, "the connection closed with "
	    "nothing sent");
	hres_free(&h);
	is_int(count_insts("vastai"), 1, "but the instance was created");
	j = ctl(&sp, "GET", "billing", NULL);
	is_str(jpstr(j, "instances.0.label"), "lost-one", "and it bills");
	json_decref(j);
	j = ctl(&sp, "GET", "requests?provider=vastai", NULL);
	is_int(json_integer_value(jpath(j, "requests.0.status")), 0,
	    "the log shows status 0 for it");
	is_str(jpstr(j, "requests.0.fault"), "lost", "and the lost fault");
	json_decref(j);
	clear(&sp);

	rule(&sp, "{\"kind\": \"lost\", \"mode\": \"504\", \"provider\": "
	    "\"lambda\", \"endpoint\": \"create\", \"count\": 1}");
	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, lambda_launch);
	is_int(h.status, 504, "mode 504: a gateway timeout");
	is_str(h.ctype, "text/html", "as a proxy's HTML page");
	hres_free(&h);
	is_int(count_insts("lambda"), 1, "after the launch was applied");
	clear(&sp);
}

static void
test_late(void)
{
	struct hres	 h;
	char		*id, *p;

	rule(&sp, "{\"kind\": \"late\", \"provider\": \"runpod\", "
	    "\"endpoint\": \"create\", \"ms\": 60000}");
	sim_call(&sp, &h, "POST", "/runpod/v2/pods", AUTH_RUNPOD, "{\"name\": "
	    "\"late\", \"image\": \"i\", \"gpu\": {\"id\": \"NVIDIA GeForce "
	    "RTX 4090\"}}");
	is_int(h.status, 201, "the create succeeds");
	id = xstrdup(jstr(h.json, "id"));
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "pods")), 0,
	    "a late instance is not in the list yet");
	hres_free(&h);
	p = xasprintf("/runpod/v2/pods/%s", id);
	sim_call(&sp, &h, "GET", p, AUTH_RUNPOD, NULL);
	is_int(h.status, 200, "but GET by id finds it");
	hres_free(&h);
	sim_advance_ms(&sp, 60000);
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "pods")), 1,
	    "a minute later it is listed");
	hres_free(&h);
	sim_call(&sp, &h, "DELETE", p, AUTH_RUNPOD, NULL);
	hres_free(&h);
	free(p);
	free(id);
	clear(&sp);
}

static json_t *
bill(const char *prov, const char *id)
{
	json_t	*j = ctl(&sp, "GET", "billing", NULL);
	json_t	*e = json_incref(bill_of(j, prov, id));

	json_decref(j);
	return e;
}

static void
test_spot_and_price(void)
{
	struct hres	 h;
	json_t		*b, *j;
	char		*bid, *od, *p, *lid, *rid;

	rule(&sp, "{\"kind\": \"spot\", \"provider\": \"vastai\", "
	    "\"endpoint\": \"create\", \"ms\": 40000}");
	sim_call(&sp, &h, "PUT", "/vast/api/v0/asks/3000001/", AUTH_VAST,
	    "{\"image\": \"x\", \"price\": 0.30}");
	bid = xasprintf("%lld", jint(h.json, "new_contract"));
	hres_free(&h);
	sim_call(&sp, &h, "PUT", "/vast/api/v0/asks/3000002/", AUTH_VAST,
	    "{\"image\": \"x\"}");
	od = xasprintf("%lld", jint(h.json, "new_contract"));
	hres_free(&h);
	sim_advance_ms(&sp, 30000);
	p = xasprintf("/vast/api/v0/instances/%s/", bid);
	sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
	is_str(jpstr(h.json, "instances.actual_status"), "running",
	    "the bid instance runs at 30 s");
	hres_free(&h);
	sim_advance_ms(&sp, 10000);
	sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
	is_str(jpstr(h.json, "instances.actual_status"), "stopped",
	    "at 40 s it is interrupted: stopped");
	like(jpstr(h.json, "instances.status_msg"), "interrupted",
	    "status_msg says so");
	hres_free(&h);
	free(p);
	b = bill("vastai", bid);
	is_int(jint(b, "rate_now_micros"), 20000, "it bills storage only now");
	is_int((long long)json_array_size(json_object_get(b, "segments")), 3,
	    "storage, GPU, storage");
	json_decref(b);
	p = xasprintf("/vast/api/v0/instances/%s/", od);
	sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
	is_str(jpstr(h.json, "instances.actual_status"), "running",
	    "an on-demand instance is not interrupted by a spot rule");
	hres_free(&h);
	free(p);
	clear(&sp);

	rule(&sp, "{\"kind\": \"spot\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"create\", \"ms\": 120000, \"count\": 1}");
	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-west-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"]}");
	lid = xstrdup(jpstr(h.json, "data.instance_ids.0"));
	hres_free(&h);
	sim_advance_ms(&sp, 120000);
	p = xasprintf("/lambda/api/v1/instances/%s", lid);
	sim_call(&sp, &h, "GET", p, AUTH_LAMBDA, NULL);
	is_str(jpstr(h.json, "data.status"), "preempted", "a lambda instance "
	    "is preempted");
	hres_free(&h);
	free(p);
	b = bill("lambda", lid);
	is_int(jint(b, "rate_now_micros"), 0, "preempted: no longer billed");
	is_int(jint(b, "billed_micros"), 25000, "billed the 2 minutes before: "
	    "$0.025");
	json_decref(b);
	clear(&sp);

	j = ctl(&sp, "POST", "instances", "{\"provider\": \"runpod\", "
	    "\"gpu\": \"RTX_4090\", \"interruptible\": true, \"price\": "
	    "\"0.35\"}");
	rid = xstrdup(jstr(j, "id"));
	json_decref(j);
	p = xasprintf("instances/runpod/%s/interrupt", rid);
	j = ctl(&sp, "POST", p, NULL);
	is_str(jpstr(j, "api.status"), "EXITED", "an interrupted spot pod is "
	    "EXITED");
	is_str(jpstr(j, "api.desiredStatus"), "EXITED", "desired EXITED");
	json_decref(j);
	free(p);

	rule(&sp, "{\"kind\": \"price\", \"provider\": \"lambda\", "
	    "\"endpoint\": \"create\", \"ms\": 600000, \"price\": \"0.99\", "
	    "\"count\": 1}");
	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-west-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"]}");
	free(lid);
	lid = xstrdup(jpstr(h.json, "data.instance_ids.0"));
	hres_free(&h);
	sim_advance_ms(&sp, 1200000);
	b = bill("lambda", lid);
	is_int((long long)json_array_size(json_object_get(b, "segments")), 2,
	    "a price change opens a new billing segment");
	is_int(json_integer_value(jpath(b, "segments.0.rate_micros")), 750000,
	    "first at $0.75");
	is_int(json_integer_value(jpath(b, "segments.1.rate_micros")), 990000,
	    "then at $0.99");
	is_int(jint(b, "billed_micros"), 125000 + 165000, "10 min at each: "
	    "$0.125 + $0.165");
	json_decref(b);
	clear(&sp);
	free(bid);
	free(od);
	free(lid);
	free(rid);
}

static void
test_storms(void)
{
	struct hres	 h;
	char		*ra;
	int		 k;

	rule(&sp, "{\"kind\": \"storm\", \"provider\": \"runpod\", \"length\": "
	    "3, \"retry_after\": 7, \"count\": 1}");
	for (k = 0; k < 3; k++) {
		sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
		is_int(h.status, 429, "storm request %d: 429", k + 1);
		if (k == 0) {
			ra = hres_header(&h, "Retry-After");
			is_str(ra, "7", "runpod storms send Retry-After");
			free(ra);
			is_str(h.ctype, "application/problem+json",
			    "as problem+json");
		}
		hres_free(&h);
	}
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	is_int(h.status, 200, "the storm ends after its length");
	hres_free(&h);
	clear(&sp);

	rule(&sp, "{\"kind\": \"storm\", \"provider\": \"vastai\", \"length\": "
	    "2, \"count\": 1}");
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	is_int(h.status, 429, "a vast storm");
	is_str(h.ctype, "text/plain", "plain text");
	ra = hres_header(&h, "Retry-After");
	ok(ra == NULL, "no Retry-After from vast");
	free(ra);
	hres_free(&h);
	clear(&sp);

	rule(&sp, "{\"kind\": \"storm\", \"provider\": \"lambda\", \"ms\": "
	    "30000, \"count\": 1}");
	for (k = 0; k < 4; k++) {
		sim_call(&sp, &h, "GET", "/lambda/api/v1/instances",
		    AUTH_LAMBDA, NULL);
		if (h.status != 429)
			break;
		hres_free(&h);
	}
	is_int(k, 4, "a timed storm holds while the clock stands still");
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA, NULL);
	is_str(jpstr(h.json, "error.code"), "global/rate-limited",
	    "lambda storms in lambda's shape");
	hres_free(&h);
	sim_advance_ms(&sp, 30000);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA, NULL);
	is_int(h.status, 200, "and ends 30 virtual seconds later");
	hres_free(&h);
	clear(&sp);
}

int
main(void)
{
	plan_lazy();
	sim_start(&sp, FSCEN, "--time-scale 0 --seed 42");
	test_errors();
	test_determinism();
	test_latency_and_lost();
	test_late();
	test_spot_and_price();
	test_storms();
	is_int(sim_stop(&sp), 0, "the sim stops cleanly");
	sim_free(&sp);
	return done_testing();
}
