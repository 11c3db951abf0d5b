/*
 * 6004: the simulated Lambda Cloud API: instance types keyed by name with
 * the regions that have capacity, launch and its validation and capacity
 * errors, the booting -> active -> terminating -> gone sequence, get,
 * list, rename, restart, terminate, SSH keys, the three Authorization
 * forms, the {"error": {code, message, suggestion}} shape and pacing.
 */
#include "6000-sim.h"

#define LSCEN \
	"{\"start_time\": \"2026-01-01T00:00:00Z\", \"providers\": {" \
	"\"lambda\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 30000, \"start_ms\": 60000, \"terminate_ms\": 10000}, \"offers\": [" \
	"{\"gpu\": \"A10\", \"price\": \"0.75\", \"region\": \"us-east-1\"," \
	" \"capacity\": 1}," \
	"{\"gpu\": \"a10\", \"price\": \"0.75\", \"region\": \"us-west-1\"," \
	" \"capacity\": 1}," \
	"{\"gpu\": \"H100_SXM\", \"count\": 8, \"price\": \"23.92\"," \
	" \"region\": \"us-east-3\", \"capacity\": 0}]}," \
	"\"vastai\": {\"rate_limits\": false}," \
	"\"runpod\": {\"rate_limits\": false}}}"

static struct simproc sp;

static void
post(struct hres *h, const char *path, const char *body)
{
	char	*p = xasprintf("/lambda/api/v1/%s", path);

	sim_call(&sp, h, "POST", p, AUTH_LAMBDA, body);
	free(p);
}

static json_t *
get_inst(const char *id, long *status)
{
	struct hres	 h;
	char		*p = xasprintf("/lambda/api/v1/instances/%s", id);
	json_t		*j;

	sim_call(&sp, &h, "GET", p, AUTH_LAMBDA, NULL);
	free(p);
	*status = h.status;
	j = json_incref(h.status == 200 ? json_object_get(h.json, "data") :
	    h.json);
	hres_free(&h);
	return j;
}

static void
test_types_and_auth(void)
{
	struct hres	 h;
	json_t		*t;
	static const char *const b64[] = {
		"Authorization: Basic c2ltLWxhbWJkYS1rZXk6", NULL
	};
	static const char *const raw[] = {
		"Authorization: Basic sim-lambda-key", NULL
	};

	sim_call(&sp, &h, "GET", "/lambda/api/v1/instance-types", AUTH_LAMBDA,
	    NULL);
	is_int(h.status, 200, "instance-types answers 200");
	t = json_object_get(h.json, "data");
	ok(json_is_object(t), "data is an object keyed by type name");
	is_str(jpstr(t, "gpu_1x_a10.instance_type.name"), "gpu_1x_a10",
	    "gpu_1x_a10 is there, named");
	is_int(json_integer_value(jpath(t, "gpu_1x_a10.instance_type."
	    "price_cents_per_hour")), 75, "priced in cents per hour");
	is_int(json_integer_value(jpath(t, "gpu_1x_a10.instance_type.specs."
	    "gpus")), 1, "with specs");
	is_int((long long)json_array_size(jpath(t, "gpu_1x_a10."
	    "regions_with_capacity_available")), 2, "capacity in two regions");
	is_str(jpstr(t, "gpu_1x_a10.regions_with_capacity_available.0."
	    "description"), "Virginia, USA", "regions have descriptions");
	is_int((long long)json_array_size(jpath(t, "gpu_8x_h100_sxm5."
	    "regions_with_capacity_available")), 0, "a type with no capacity "
	    "is listed with no regions");
	hres_free(&h);

	sim_http(&sp, &h, "GET", "/lambda/api/v1/instances", b64, NULL);
	is_int(h.status, 200, "Basic base64(KEY:) is accepted");
	ok(json_is_array(json_object_get(h.json, "data")), "{\"data\": []}");
	hres_free(&h);
	sim_http(&sp, &h, "GET", "/lambda/api/v1/instances", raw, NULL);
	is_int(h.status, 200, "Basic with the raw key is accepted");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", NULL, NULL);
	is_int(h.status, 401, "no key: 401");
	is_str(jpstr(h.json, "error.code"), "global/invalid-api-key",
	    "code global/invalid-api-key");
	is_str(jpstr(h.json, "error.message"), "API key was invalid, expired, "
	    "or deleted.", "the documented message");
	ok(json_is_string(jpath(h.json, "error.suggestion")), "a suggestion");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances?api_key="
	    "sim-lambda-key", NULL, NULL);
	is_int(h.status, 401, "lambda takes no ?api_key=");
	hres_free(&h);
}

static const char launch_body[] = "{\"region_name\": \"us-east-1\", "
    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
    "[\"default\"], \"file_system_names\": [], \"name\": \"gr-7f-1\", "
    "\"quantity\": 1, \"tags\": [{\"key\": \"gr:fleet\", \"value\": "
    "\"train\"}]}";

static void
launch_err(const char *body, long want, const char *code, const char *what)
{
	struct hres	 h;

	post(&h, "instance-operations/launch", body);
	is_int(h.status, want, "%s: %ld", what, want);
	is_str(jpstr(h.json, "error.code"), code, "%s: %s", what, code);
	hres_free(&h);
}

static void
test_launch(void)
{
	struct hres	 h;
	json_t		*i;
	long		 st;
	char		*id, *p, *q;

	post(&h, "instance-operations/launch", launch_body);
	is_int(h.status, 200, "launch answers 200");
	is_int((long long)json_array_size(jpath(h.json, "data.instance_ids")),
	    1, "with data.instance_ids");
	id = xstrdup(jpstr(h.json, "data.instance_ids.0"));
	is_int((long long)strlen(id), 32, "a 32-hex-digit id");
	hres_free(&h);

	launch_err(launch_body, 400, "instance-operations/launch/"
	    "insufficient-capacity", "a second launch where capacity is gone");
	p = xstrdup(launch_body);
	q = strstr(p, "\"quantity\": 1");
	q[12] = '2';
	launch_err(p, 400, "global/invalid-parameters", "quantity 2");
	post(&h, "instance-operations/launch", p);
	is_str(jpstr(h.json, "error.message"), "Requested too many instances.",
	    "quantity 2 says too many");
	hres_free(&h);
	free(p);
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\"}", 400, "global/invalid-parameters",
	    "no ssh_key_names");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\", \"ssh_key_names\": [\"a\", \"b\"]}", 400,
	    "global/invalid-parameters", "two ssh keys");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\", \"ssh_key_names\": [\"nokey\"]}", 404,
	    "global/object-does-not-exist", "an unknown ssh key");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_9x_nope\", \"ssh_key_names\": [\"default\"]}", 400,
	    "global/invalid-parameters", "an unknown instance type");
	launch_err("{\"region_name\": \"us-east-3\", \"instance_type_name\": "
	    "\"gpu_8x_h100_sxm5\", \"ssh_key_names\": [\"default\"]}", 400,
	    "instance-operations/launch/insufficient-capacity",
	    "a type with no capacity anywhere");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\", \"ssh_key_names\": [\"default\"], \"hostname\": "
	    "\"Bad_Host\"}", 400, "global/invalid-parameters", "a bad hostname");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\", \"ssh_key_names\": [\"default\"], \"tags\": "
	    "[{\"key\": \"Bad\", \"value\": \"x\"}]}", 400,
	    "global/invalid-parameters", "a bad tag key");
	launch_err("{\"region_name\": \"us-west-1\", \"instance_type_name\": "
	    "\"gpu_1x_a10\", \"ssh_key_names\": [\"default\"], "
	    "\"file_system_names\": [\"fs1\"]}", 404,
	    "global/object-does-not-exist", "an unknown file system");

	sim_call(&sp, &h, "GET", "/lambda/api/v1/instance-types", AUTH_LAMBDA,
	    NULL);
	is_int((long long)json_array_size(jpath(h.json, "data.gpu_1x_a10."
	    "regions_with_capacity_available")), 1, "one region left with "
	    "capacity");
	is_str(jpstr(h.json, "data.gpu_1x_a10.regions_with_capacity_available."
	    "0.name"), "us-west-1", "us-west-1");
	hres_free(&h);

	i = get_inst(id, &st);
	is_str(jstr(i, "status"), "booting", "a new instance is booting");
	ok(json_object_get(i, "ip") == NULL, "with no ip yet");
	is_str(jstr(i, "name"), "gr-7f-1", "its name");
	is_str(jpstr(i, "region.name"), "us-east-1", "its region");
	is_str(jpstr(i, "instance_type.name"), "gpu_1x_a10", "its type");
	is_str(jpstr(i, "ssh_key_names.0"), "default", "its ssh key");
	is_str(jpstr(i, "tags.0.key"), "gr:fleet", "its tags");
	ok(json_is_false(jpath(i, "actions.restart.available")),
	    "restart is not available while booting");
	is_str(jpstr(i, "actions.restart.reason_code"), "vm-has-not-launched",
	    "with the documented reason code");
	json_decref(i);
	sim_advance_ms(&sp, 30000);
	i = get_inst(id, &st);
	is_str(jstr(i, "status"), "booting", "still booting at 30 s");
	json_decref(i);
	sim_advance_ms(&sp, 60000);
	i = get_inst(id, &st);
	is_str(jstr(i, "status"), "active", "active at 90 s");
	ok(json_is_string(json_object_get(i, "ip")), "with an ip");
	ok(json_is_true(jpath(i, "actions.terminate.available")),
	    "terminate available");
	json_decref(i);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA,
	    NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "data")), 1,
	    "the list has it");
	hres_free(&h);

	p = xasprintf("instances/%s", id);
	post(&h, p, "{\"name\": \"renamed\"}");
	is_str(jpstr(h.json, "data.name"), "renamed", "POST instances/ID "
	    "renames");
	hres_free(&h);
	q = xasprintf("{\"name\": \"%070d\"}", 0);
	post(&h, p, q);
	is_int(h.status, 400, "a 70-character name: 400");
	hres_free(&h);
	free(q);
	free(p);

	p = xasprintf("{\"instance_ids\": [\"%s\"]}", id);
	post(&h, "instance-operations/restart", p);
	is_str(jpstr(h.json, "data.restarted_instances.0.status"), "booting",
	    "restart: restarted_instances, booting");
	hres_free(&h);
	sim_advance_ms(&sp, 60000);
	i = get_inst(id, &st);
	is_str(jstr(i, "status"), "active", "active again after the restart");
	json_decref(i);

	post(&h, "instance-operations/terminate", p);
	is_int(h.status, 200, "terminate answers 200");
	is_str(jpstr(h.json, "data.terminated_instances.0.status"),
	    "terminating", "terminated_instances with status terminating");
	is_str(jpstr(h.json, "data.terminated_instances.0.id"), id, "the id");
	hres_free(&h);
	i = get_inst(id, &st);
	is_str(jstr(i, "status"), "terminating", "GET shows terminating");
	json_decref(i);
	sim_advance_ms(&sp, 10000);
	i = get_inst(id, &st);
	is_int(st, 404, "gone after the terminate delay: 404");
	is_str(jpstr(i, "error.code"), "global/object-does-not-exist",
	    "global/object-does-not-exist");
	is_str(jpstr(i, "error.message"), "Specified instance does not exist.",
	    "the documented message");
	json_decref(i);
	sim_call(&sp, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA,
	    NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "data")), 0,
	    "and out of the list");
	hres_free(&h);
	post(&h, "instance-operations/terminate", p);
	is_int(h.status, 404, "terminate it again: 404");
	is_str(jpstr(h.json, "error.code"), "global/object-does-not-exist",
	    "object-does-not-exist");
	hres_free(&h);
	post(&h, "instance-operations/terminate", "{\"instance_ids\": []}");
	is_int(h.status, 400, "terminate with no ids: 400");
	hres_free(&h);
	free(p);
	free(id);
}

static void
test_ssh_keys(void)
{
	struct hres	 h;
	char		*p, *id;

	sim_call(&sp, &h, "GET", "/lambda/api/v1/ssh-keys", AUTH_LAMBDA, NULL);
	is_str(jpstr(h.json, "data.0.name"), "default", "the default key");
	hres_free(&h);
	post(&h, "ssh-keys", "{\"name\": \"k2\", \"public_key\": \"ssh-ed25519 "
	    "AAAA k2\"}");
	is_str(jpstr(h.json, "data.public_key"), "ssh-ed25519 AAAA k2",
	    "add a key with its public key");
	ok(jpath(h.json, "data.private_key") == NULL, "no private key back");
	id = xstrdup(jpstr(h.json, "data.id"));
	hres_free(&h);
	post(&h, "ssh-keys", "{\"name\": \"k3\"}");
	ok(json_is_string(jpath(h.json, "data.private_key")),
	    "a generated key comes with its private key");
	hres_free(&h);
	post(&h, "ssh-keys", "{\"name\": \"k3\"}");
	is_int(h.status, 400, "a duplicate name: 400");
	hres_free(&h);
	p = xasprintf("/lambda/api/v1/ssh-keys/%s", id);
	sim_call(&sp, &h, "DELETE", p, AUTH_LAMBDA, NULL);
	is_int(h.status, 200, "delete a key");
	ok(json_is_object(json_object_get(h.json, "data")) &&
	    json_object_size(json_object_get(h.json, "data")) == 0,
	    "answers {\"data\": {}}");
	hres_free(&h);
	sim_call(&sp, &h, "DELETE", p, AUTH_LAMBDA, NULL);
	is_int(h.status, 404, "delete it again: 404");
	hres_free(&h);
	free(p);
	free(id);
}

static void
test_pacing(void)
{
	struct simproc	 rl;
	struct hres	 h;
	char		*ra;

	/* the documented pacing; a frozen clock runs it on real time */
	sim_start(&rl, NULL, "--time-scale 0");
	sim_call(&rl, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA,
	    NULL);
	is_int(h.status, 200, "the first call passes");
	hres_free(&h);
	sim_call(&rl, &h, "GET", "/lambda/api/v1/instances", AUTH_LAMBDA,
	    NULL);
	is_int(h.status, 429, "a second call within 1 s: 429");
	is_str(jpstr(h.json, "error.code"), "global/rate-limited",
	    "in lambda's error shape");
	ra = hres_header(&h, "Retry-After");
	ok(ra == NULL, "with no Retry-After (the spec documents none)");
	free(ra);
	hres_free(&h);
	usleep(1100000);
	sim_call(&rl, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-east-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"]}");
	is_int(h.status, 200, "a launch a second later passes");
	hres_free(&h);
	usleep(1100000);
	sim_call(&rl, &h, "POST", "/lambda/api/v1/instance-operations/launch",
	    AUTH_LAMBDA, "{\"region_name\": \"us-east-1\", "
	    "\"instance_type_name\": \"gpu_1x_a10\", \"ssh_key_names\": "
	    "[\"default\"]}");
	is_int(h.status, 429, "another launch within 12 s: 429");
	hres_free(&h);
	sim_call(&rl, &h, "GET", "/lambda/api/v1/instance-types", AUTH_LAMBDA,
	    NULL);
	is_int(h.status, 200, "a refused launch does not use up the general "
	    "1/s allowance");
	hres_free(&h);
	is_int(sim_stop(&rl), 0, "the paced sim stops cleanly");
	sim_free(&rl);
}

int
main(void)
{
	plan_lazy();
	sim_start(&sp, LSCEN, "--time-scale 0");
	test_types_and_auth();
	test_launch();
	test_ssh_keys();
	test_pacing();
	is_int(sim_stop(&sp), 0, "the sim stops cleanly");
	sim_free(&sp);
	return done_testing();
}
