/*
 * 6001: gpureconcile-sim's command line and control API: loopback only,
 * the port file, clean shutdown, bad scenarios, the virtual clock, state,
 * control-made and control-destroyed instances, fault rules, offers,
 * the request log (keys redacted) and a log that never shows a key.
 */
#include "6000-sim.h"

static void
test_cli(void)
{
	char	*out = NULL, *err = NULL, *bad;
	int	 rc;

	rc = test_run(&out, &err, "'%s' --listen 0.0.0.0:0", sim_bin());
	ok(rc != 0, "--listen 0.0.0.0 is refused");
	like(err, "non-loopback", "the refusal says why");
	free(out);
	free(err);
	rc = test_run(&out, &err, "'%s' --listen 10.1.2.3:8080", sim_bin());
	ok(rc != 0, "--listen on a private address is refused");
	free(out);
	free(err);
	rc = test_run(&out, &err, "'%s' --listen nonsense", sim_bin());
	is_int(rc, 64, "--listen without a port is a usage error");
	free(out);
	free(err);
	rc = test_run(&out, &err, "'%s'", sim_bin());
	is_int(rc, 64, "no --listen is a usage error");
	free(out);
	free(err);
	bad = test_write(test_tmpdir(), "bad.json", "{\"providers\": "
	    "{\"vastai\": {\"offers\": [{\"gpu\": \"RTX_4090\"}]}}}");
	rc = test_run(&out, &err, "'%s' --listen 127.0.0.1:0 --scenario '%s'",
	    sim_bin(), bad);
	ok(rc != 0, "a scenario offer without a price is refused");
	like(err, "price", "the error names the field");
	free(out);
	free(err);
	free(bad);
	bad = test_write(test_tmpdir(), "bad2.json", "{\"providers\": "
	    "{\"nimbus\": {}}}");
	rc = test_run(&out, &err, "'%s' --listen 127.0.0.1:0 --scenario '%s'",
	    sim_bin(), bad);
	ok(rc != 0, "an unknown provider in a scenario is refused");
	like(err, "nimbus", "the error names it");
	free(out);
	free(err);
	free(bad);
	rc = test_run(&out, &err, "'%s' --version", sim_bin());
	is_int(rc, 0, "--version exits 0");
	like(out, "gpureconcile-sim", "--version names the program");
	free(out);
	free(err);
}

static void
test_control(void)
{
	struct simproc	 sp;
	struct hres	 h;
	json_t		*j, *st, *e;
	long long	 t0;
	char		*id, *p;
	size_t		 k;
	bool		 found;

	sim_start(&sp, "{\"start_time\": \"2026-01-01T00:00:00Z\", "
	    "\"providers\": {" SIM_NO_RL "}}", "--time-scale 0 --seed 9");
	ok(sp.port > 0, "the port file holds the chosen port");

	j = ctl(&sp, "GET", "clock", NULL);
	t0 = jint(j, "now_ms");
	is_int(t0, 1767225600000LL, "start_time sets the virtual clock");
	is_str(jstr(j, "now"), "2026-01-01T00:00:00Z", "clock as ISO 8601");
	json_decref(j);
	sim_advance_ms(&sp, 90000);
	j = ctl(&sp, "GET", "clock", NULL);
	is_int(jint(j, "now_ms"), t0 + 90000, "advance moves it by 90 s");
	json_decref(j);
	json_decref(ctl(&sp, "POST", "advance", "{\"duration\": \"1m\"}"));
	j = ctl(&sp, "GET", "clock", NULL);
	is_int(jint(j, "now_ms"), t0 + 150000, "advance takes a duration");
	json_decref(j);
	sim_call(&sp, &h, "POST", "/_sim/advance", NULL, "{\"ms\": -5}");
	is_int(h.status, 400, "a negative advance is refused");
	hres_free(&h);

	st = ctl(&sp, "GET", "state", NULL);
	ok(json_object_get(jpath(st, "providers"), "vastai") != NULL &&
	    json_object_get(jpath(st, "providers"), "runpod") != NULL &&
	    json_object_get(jpath(st, "providers"), "lambda") != NULL,
	    "state shows all three providers");
	ok(json_array_size(jpath(st, "providers.vastai.skus")) > 0,
	    "the default catalog has vast offers");
	is_int(jint(st, "seed"), 9, "state shows the seed");
	p = json_dumps(st, 0);
	ok(strstr(p, "sim-vast-key") == NULL && strstr(p, "sim-lambda-key") ==
	    NULL, "state never shows an API key");
	free(p);
	json_decref(st);

	/* an orphan made behind the client's back shows up in its list */
	j = ctl(&sp, "POST", "instances", "{\"provider\": \"vastai\", "
	    "\"gpu\": \"RTX_4090\", \"region\": \"US\", \"label\": "
	    "\"gr-abc-7\"}");
	id = xstrdup(jstr(j, "id"));
	is_str(jstr(j, "phase"), "running", "a control instance runs at once");
	is_str(jstr(j, "label"), "gr-abc-7", "with the label asked for");
	is_int(jint(j, "price_micros"), 400000, "at its offer's price");
	json_decref(j);
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances?owner=me", AUTH_VAST,
	    NULL);
	found = false;
	json_array_foreach(json_object_get(h.json, "instances"), k, e)
		if (json_integer_value(json_object_get(e, "id")) == atoll(id))
			found = true;
	ok(found, "the orphan is in vast's list");
	hres_free(&h);
	j = ctl(&sp, "POST", "instances", "{\"provider\": \"lambda\", "
	    "\"gpu\": \"a10\", \"price\": \"0.75\", "
	    "\"label\": \"someone-else\"}");
	is_str(jstr(j, "provider"), "lambda", "a foreign lambda instance too");
	json_decref(j);
	sim_call(&sp, &h, "POST", "/_sim/instances", NULL, "{\"provider\": "
	    "\"vastai\", \"gpu\": \"RTX_4090\", \"price\": \"x\"}");
	is_int(h.status, 400, "a bad control price is refused");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/_sim/instances", NULL, "{\"provider\": "
	    "\"nimbus\", \"gpu\": \"RTX_4090\"}");
	is_int(h.status, 400, "an unknown control provider is refused");
	hres_free(&h);

	sim_advance_ms(&sp, 3600000);
	p = xasprintf("instances/vastai/%s", id);
	j = ctl(&sp, "DELETE", p, NULL);
	is_str(jstr(j, "phase"), "gone", "destroyed behind the back");
	json_decref(j);
	free(p);
	p = xasprintf("/vast/api/v0/instances/%s/", id);
	sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
	ok(json_is_null(json_object_get(h.json, "instances")),
	    "vast show answers null for it");
	hres_free(&h);
	free(p);
	j = ctl(&sp, "GET", "billing", NULL);
	e = bill_of(j, "vastai", id);
	ok(e != NULL, "the billing record keeps it");
	is_int(jint(e, "billed_micros"), 400000, "one hour at $0.40");
	ok(jint(e, "end_ms") == t0 + 150000 + 3600000,
	    "billing ended when it was destroyed");
	json_decref(j);
	free(id);

	/* fault rules */
	j = ctl(&sp, "POST", "faults", "{\"rules\": [{\"kind\": \"error\", "
	    "\"status\": 503, \"provider\": \"vastai\"}, {\"kind\": "
	    "\"latency\", \"ms\": 5}]}");
	is_int((long long)json_array_size(json_object_get(j, "ids")), 2,
	    "two rules added");
	json_decref(j);
	j = ctl(&sp, "GET", "faults", NULL);
	is_int((long long)json_array_size(json_object_get(j, "faults")), 2,
	    "both are listed");
	p = xasprintf("faults/%lld", (long long)json_integer_value(
	    jpath(j, "faults.0.id")));
	json_decref(j);
	json_decref(ctl(&sp, "DELETE", p, NULL));
	free(p);
	j = ctl(&sp, "GET", "faults", NULL);
	is_int((long long)json_array_size(json_object_get(j, "faults")), 1,
	    "one is left after deleting one");
	json_decref(j);
	json_decref(ctl(&sp, "DELETE", "faults", NULL));
	j = ctl(&sp, "GET", "faults", NULL);
	is_int((long long)json_array_size(json_object_get(j, "faults")), 0,
	    "clearing removes them all");
	json_decref(j);
	sim_call(&sp, &h, "POST", "/_sim/faults", NULL, "{\"kind\": \"boom\"}");
	is_int(h.status, 400, "an unknown fault kind is refused");
	like(h.body, "kind", "saying which field");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/_sim/faults", NULL, "{\"kind\": "
	    "\"error\", \"rate\": 2}");
	is_int(h.status, 400, "a rate above 1 is refused");
	hres_free(&h);

	/* offers, capacity and prices */
	j = ctl(&sp, "POST", "offers", "{\"provider\": \"runpod\", \"gpu\": "
	    "\"L4\", \"count\": 2, \"price\": \"0.43\", \"region\": "
	    "\"EU-SE-1\", \"capacity\": 2}");
	is_int(jint(j, "sku"), 4, "an offer added at runtime gets the next "
	    "index");
	json_decref(j);
	sim_call(&sp, &h, "GET", "/runpod/v2/catalog/gpus/NVIDIA%20L4",
	    AUTH_RUNPOD, NULL);
	is_int(h.status, 200, "the new GPU is in RunPod's catalog");
	ok(json_real_value(json_object_get(h.json, "securePrice")) == 0.43,
	    "at its price");
	hres_free(&h);
	json_decref(ctl(&sp, "POST", "capacity", "{\"provider\": \"lambda\", "
	    "\"gpu\": \"GH200\", \"region\": \"us-east-3\", \"capacity\": 3}"));
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instance-types", AUTH_LAMBDA,
	    NULL);
	is_int((long long)json_array_size(jpath(h.json,
	    "data.gpu_1x_gh200.regions_with_capacity_available")), 1,
	    "capacity set at runtime shows in instance-types");
	hres_free(&h);
	json_decref(ctl(&sp, "POST", "price", "{\"provider\": \"lambda\", "
	    "\"gpu\": \"GH200\", \"region\": \"us-east-3\", \"price\": "
	    "\"1.99\"}"));
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instance-types", AUTH_LAMBDA,
	    NULL);
	is_int(json_integer_value(jpath(h.json, "data.gpu_1x_gh200."
	    "instance_type.price_cents_per_hour")), 199,
	    "a price set at runtime shows in instance-types");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/_sim/price", NULL, "{\"provider\": "
	    "\"lambda\", \"sku\": 0, \"price\": \"1.999\"}");
	is_int(h.status, 400, "lambda prices must be whole cents");
	hres_free(&h);

	/* the request log: shapes kept, keys never */
	json_decref(ctl(&sp, "DELETE", "requests", NULL));
	sim_call(&sp, &h, "PUT", "/vast/api/v0/instances/1/?api_key="
	    "sim-vast-key&owner=me", "User-Agent: gr-test/1",
	    "{\"label\": \"x\"}");
	hres_free(&h);
	j = ctl(&sp, "GET", "requests", NULL);
	is_int((long long)json_array_size(json_object_get(j, "requests")), 1,
	    "the log holds the one request since the clear");
	e = jpath(j, "requests.0");
	is_str(jstr(e, "method"), "PUT", "with its method");
	like(jstr(e, "path"), "/vast/api/v0/instances/1/", "its path");
	like(jstr(e, "path"), "api_key=REDACTED", "the query key redacted");
	ok(strstr(jstr(e, "path"), "sim-vast-key") == NULL,
	    "and never shown");
	is_str(jstr(e, "auth"), "query", "how it authenticated");
	is_int(jint(e, "key_index"), 0, "which key it used");
	is_str(jstr(e, "body"), "{\"label\": \"x\"}", "the body as sent");
	is_str(jstr(e, "content_type"), "application/json", "content type");
	is_str(jstr(e, "op"), "manage", "its op class");
	is_int(jint(e, "status"), 404, "and the status it got");
	json_decref(j);

	sim_call(&sp, &h, "GET", "/nowhere", NULL, NULL);
	is_int(h.status, 404, "an unknown prefix is a 404");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/_sim/nothing", NULL, NULL);
	is_int(h.status, 404, "an unknown control path is a 404");
	hres_free(&h);

	is_int(sim_stop(&sp), 0, "SIGTERM shuts it down cleanly (exit 0)");
	sim_free(&sp);
}

static void
test_no_key_in_log(void)
{
	struct simproc	 sp;
	struct hres	 h;
	char		*log;
	static const char *const basic[] = {
		/* base64("sim-lambda-key:") */
		"Authorization: Basic c2ltLWxhbWJkYS1rZXk6", NULL
	};

	sim_start(&sp, "{\"providers\": {" SIM_NO_RL "}}",
	    "-v -v --time-scale 0");
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances?api_key=sim-vast-key",
	    NULL, NULL);
	is_int(h.status, 200, "vast accepts ?api_key=");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances", AUTH_VAST, NULL);
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/runpod/v2/pods", AUTH_RUNPOD, NULL);
	hres_free(&h);
	sim_http(&sp, &h, "GET", "/lambda/api/v1/instances", basic, NULL);
	is_int(h.status, 200, "lambda accepts Basic base64(key:)");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances",
	    "Authorization: Bearer wrong-key-123", NULL);
	hres_free(&h);
	is_int(sim_stop(&sp), 0, "the verbose sim stops cleanly");
	log = sim_stderr(&sp);
	like(log, "debug:", "the log is at debug level");
	like(log, "auth bearer", "it names auth schemes");
	ok(strstr(log, "sim-vast-key") == NULL &&
	    strstr(log, "sim-runpod-key") == NULL &&
	    strstr(log, "sim-lambda-key") == NULL &&
	    strstr(log, "c2ltLWxhbWJkYS1rZXk6") == NULL &&
	    strstr(log, "wrong-key-123") == NULL,
	    "no API key, good or bad, appears in the debug log");
	free(log);
	sim_free(&sp);
}

/* --time-scale 100: lambda's default 90 s boot takes about 0.9 s. */
static void
test_time_scale(void)
{
	struct simproc	 sp;
	struct hres	 h;
	char		*id, *p;
	int64_t		 t0, dt = -1;
	int		 k;

	sim_start(&sp, NULL, "--time-scale 100");
	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-east-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"]}");
	is_int(h.status, 200, "launch on a 100x clock");
	id = xstrdup(jpstr(h.json, "data.instance_ids.0"));
	hres_free(&h);
	t0 = clock_mono_ms();
	p = xasprintf("/lambda/api/v1/instances/%s", id);
	for (k = 0; k < 300; k++) {
		usleep(20000);
		sim_call(&sp, &h, "GET", p, AUTH_LAMBDA, NULL);
		if (h.status == 200 && strcmp(jpstr(h.json, "data.status"),
		    "active") == 0) {
			dt = clock_mono_ms() - t0;
			hres_free(&h);
			break;
		}
		hres_free(&h);
	}
	ok(dt >= 700 && dt < 3000, "the 90 s boot took %lld ms of real time "
	    "(the default pacing, scaled, let the polls through)",
	    (long long)dt);
	free(p);
	free(id);
	is_int(sim_stop(&sp), 0, "the scaled sim stops cleanly");
	sim_free(&sp);
}

int
main(void)
{
	plan_lazy();
	test_cli();
	test_control();
	test_no_key_in_log();
	test_time_scale();
	return done_testing();
}
