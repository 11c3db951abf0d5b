/*
 * 6006: gpureconcile-sim's billing record, the ground truth later tests
 * compare against to the cent: start, end, rate and billed to the
 * micro-dollar for each provider's rules (vast storage while loading and
 * stopped, runpod billing from creation, lambda's 1-minute increments),
 * per-second rounding, price changes and the totals.
 */
#include "6000-sim.h"

#define T0	1767225600000LL		/* 2026-01-01T00:00:00Z */

#define BSCEN \
	"{\"start_time\": \"2026-01-01T00:00:00Z\", \"providers\": {" \
	"\"vastai\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 5000, \"start_ms\": 20000, \"stop_ms\": 2000, \"terminate_ms\": 0}," \
	" \"offers\": [{\"gpu\": \"RTX_4090\", \"price\": \"0.40\"," \
	" \"storage_price\": \"0.02\", \"region\": \"US\", \"capacity\": 4}]}," \
	"\"runpod\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 5000, \"start_ms\": 15000, \"stop_ms\": 3000, \"terminate_ms\": 0}," \
	" \"offers\": [{\"gpu\": \"RTX_4090\", \"count\": 8, \"price\":" \
	" \"0.69\", \"storage_price\": \"0.01\", \"region\": \"US-TX-3\"," \
	" \"capacity\": 8}]}," \
	"\"lambda\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 30000, \"start_ms\": 60000, \"terminate_ms\": 10000}, \"offers\":" \
	" [{\"gpu\": \"A10\", \"price\": \"0.75\", \"region\": \"us-east-1\"," \
	" \"capacity\": 2}]}}}"

static struct simproc sp;
static long long now_ms = T0;

static void
adv(long long ms)
{
	sim_advance_ms(&sp, ms);
	now_ms += ms;
}

static json_t *
bill(const char *prov, const char *id)
{
	json_t	*j = ctl(&sp, "GET", "billing", NULL);
	json_t	*e = json_incref(bill_of(j, prov, id));

	json_decref(j);
	if (e == NULL)
		bail_out("no billing entry for %s %s", prov, id);
	return e;
}

static void
call(const char *method, const char *path, const char *auth,
    const char *body, long want)
{
	struct hres	 h;

	sim_call(&sp, &h, method, path, auth, body);
	if (h.status != want)
		diag("%s %s: %ld %s", method, path, h.status, h.body);
	hres_free(&h);
}

static void
test_vast(void)
{
	struct hres	 h;
	json_t		*b;
	char		*id, *p;
	long long	 t0 = now_ms, t_run, t_stop, t_end;

	sim_call(&sp, &h, "PUT", "/vast/api/v0/asks/3000000/", AUTH_VAST,
	    "{\"image\": \"x\", \"label\": \"v\"}");
	id = xasprintf("%lld", jint(h.json, "new_contract"));
	hres_free(&h);
	b = bill("vastai", id);
	is_int(jint(b, "start_ms"), t0, "vast: storage bills from creation");
	is_int(jint(b, "rate_now_micros"), 20000, "vast: at the storage rate "
	    "while not running");
	json_decref(b);
	adv(25000);
	t_run = now_ms;
	adv(3600000);
	p = xasprintf("/vast/api/v0/instances/%s/", id);
	call("PUT", p, AUTH_VAST, "{\"state\": \"stopped\"}", 200);
	t_stop = now_ms + 2000;
	adv(3600000);
	call("DELETE", p, AUTH_VAST, "{}", 200);
	t_end = now_ms;
	free(p);
	adv(600000);

	b = bill("vastai", id);
	is_int((long long)json_array_size(json_object_get(b, "segments")), 3,
	    "vast: storage, GPU, storage");
	is_int(json_integer_value(jpath(b, "segments.0.end_ms")), t_run,
	    "vast: GPU billing starts when running, not loading");
	is_int(json_integer_value(jpath(b, "segments.1.rate_micros")), 400000,
	    "vast: GPU at dph_total");
	is_int(json_integer_value(jpath(b, "segments.1.end_ms")), t_stop,
	    "vast: GPU billing ends once stopped");
	is_int(json_integer_value(jpath(b, "segments.0.billed_micros")), 139,
	    "vast: 25 s of storage at $0.02/h = 139 micro-dollars");
	is_int(json_integer_value(jpath(b, "segments.1.billed_micros")),
	    400222, "vast: 1 h 2 s at $0.40/h = $0.400222");
	is_int(json_integer_value(jpath(b, "segments.2.billed_micros")),
	    19989, "vast: 3598 s stopped at $0.02/h = $0.019989");
	is_int(jint(b, "billed_micros"), 139 + 400222 + 19989,
	    "vast: billed is the sum, to the micro-dollar");
	is_int(jint(b, "end_ms"), t_end, "vast: end is the destroy");
	is_int(jint(b, "rate_now_micros"), 0, "vast: nothing bills after");
	is_int(jint(b, "rate_micros"), 20000, "vast: rate is the last one "
	    "billed");
	is_str(jstr(b, "label"), "v", "vast: the label");
	is_str(jstr(b, "billed"), "0.42035", "vast: billed as dollars too");
	json_decref(b);
	free(id);
}

static void
test_runpod(void)
{
	struct hres	 h;
	json_t		*b;
	char		*id, *p;
	long long	 t0 = now_ms;

	sim_call(&sp, &h, "POST", "/runpod/v2/pods", AUTH_RUNPOD, "{\"name\": "
	    "\"r\", \"image\": \"i\", \"gpu\": {\"id\": \"NVIDIA GeForce RTX "
	    "4090\", \"count\": 1}}");
	id = xstrdup(jstr(h.json, "id"));
	hres_free(&h);
	b = bill("runpod", id);
	is_int(jint(b, "rate_now_micros"), 690000, "runpod: the pod's cost "
	    "bills from creation, runtime or not");
	json_decref(b);
	adv(20000 + 3600000);
	p = xasprintf("/runpod/v2/pods/%s/action", id);
	call("POST", p, AUTH_RUNPOD, "{\"action\": \"stop\"}", 200);
	adv(1800000);
	call("POST", p, AUTH_RUNPOD, "{\"action\": \"terminate\"}", 204);
	free(p);
	b = bill("runpod", id);
	is_int(jint(b, "start_ms"), t0, "runpod: start is the create");
	is_int((long long)json_array_size(json_object_get(b, "segments")), 2,
	    "runpod: compute then storage");
	is_int(json_integer_value(jpath(b, "segments.0.billed_micros")),
	    694408, "runpod: 3623 s at $0.69/h = $0.694408");
	is_int(json_integer_value(jpath(b, "segments.1.billed_micros")), 4992,
	    "runpod: 1797 s EXITED at $0.01/h = $0.004992");
	is_int(jint(b, "billed_micros"), 694408 + 4992, "runpod: the sum");
	is_int(jint(b, "end_ms"), now_ms, "runpod: end is the terminate");
	json_decref(b);
	free(id);
}

static void
test_lambda(void)
{
	struct hres	 h;
	json_t		*b;
	char		*id, *body;
	long long	 t0 = now_ms;

	sim_call(&sp, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-east-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"], \"name\": \"l\"}");
	id = xstrdup(jpstr(h.json, "data.instance_ids.0"));
	hres_free(&h);
	adv(30000);
	b = bill("lambda", id);
	is_int(jint(b, "billed_micros"), 12500, "lambda: 30 s of booting "
	    "bills a whole minute ($0.0125)");
	json_decref(b);
	adv(3660000);
	body = xasprintf("{\"instance_ids\": [\"%s\"]}", id);
	call("POST", "/lambda/api/v1/instance-operations/terminate",
	    AUTH_LAMBDA, body, 200);
	free(body);
	adv(10000);
	b = bill("lambda", id);
	is_int(jint(b, "start_ms"), t0, "lambda: billing starts at launch");
	is_int(jint(b, "end_ms"), t0 + 3690000, "lambda: and ends at the "
	    "terminate call");
	is_int(jint(b, "billed_micros"), 775000, "lambda: 61.5 min bills 62 "
	    "minutes at $0.75/h = $0.775");
	is_str(jstr(b, "phase"), "gone", "lambda: gone after terminating");
	json_decref(b);
	free(id);
}

static void
test_control_and_totals(void)
{
	json_t		*j, *b, *e;
	char		*id, *p, *id2;
	money_t		 sum = 0;
	size_t		 k;

	j = ctl(&sp, "POST", "instances", "{\"provider\": \"vastai\", \"gpu\": "
	    "\"RTX_4090\", \"price\": \"0.36\", \"storage_price\": \"0\"}");
	id = xstrdup(jstr(j, "id"));
	json_decref(j);
	adv(1500);
	p = xasprintf("instances/vastai/%s", id);
	json_decref(ctl(&sp, "DELETE", p, NULL));
	free(p);
	b = bill("vastai", id);
	is_int(jint(b, "billed_micros"), 200, "1.5 s bills as 2 s: "
	    "$0.36 x 2 / 3600 = 200 micro-dollars");
	json_decref(b);
	free(id);

	j = ctl(&sp, "POST", "instances", "{\"provider\": \"runpod\", \"gpu\": "
	    "\"RTX_4090\", \"price\": \"1.00\", \"label\": \"orphan\"}");
	id2 = xstrdup(jstr(j, "id"));
	json_decref(j);
	adv(1800000);
	p = xasprintf("instances/runpod/%s/price", id2);
	json_decref(ctl(&sp, "POST", p, "{\"price\": \"2.00\"}"));
	free(p);
	adv(1800000);
	b = bill("runpod", id2);
	is_int(jint(b, "billed_micros"), 1500000, "half an hour at $1 and "
	    "half at $2: $1.50, still running");
	ok(json_is_null(json_object_get(b, "end_ms")), "end is null while it "
	    "runs");
	is_int(jint(b, "rate_micros"), 2000000, "rate is the new price");
	json_decref(b);
	adv(360000);
	b = bill("runpod", id2);
	is_int(jint(b, "billed_micros"), 1700000, "billed so far grows with "
	    "the clock");
	json_decref(b);

	j = ctl(&sp, "GET", "billing", NULL);
	json_array_foreach(json_object_get(j, "instances"), k, e)
		sum += jint(e, "billed_micros");
	is_int(jint(j, "total_micros"), sum, "total_micros is the sum of "
	    "every instance");
	is_int(json_integer_value(jpath(j, "per_provider_micros.lambda")),
	    775000, "per provider, lambda");
	is_int(jint(j, "now_ms"), now_ms, "the record says when it was read");
	is_int((long long)json_array_size(json_object_get(j, "instances")), 5,
	    "every instance ever created is in it");
	json_decref(j);
	free(id2);
}

int
main(void)
{
	plan_lazy();
	sim_start(&sp, BSCEN, "--time-scale 0");
	test_vast();
	test_runpod();
	test_lambda();
	test_control_and_totals();
	is_int(sim_stop(&sp), 0, "the sim stops cleanly");
	sim_free(&sp);
	return done_testing();
}
