/*
 * 6002: the simulated Vast.ai API: offer search and its value encodings,
 * create from an offer (and stale offers), launch_instance, the status
 * sequence over virtual time, manage (stop/start/label/reboot/bid), show,
 * v0 and v1 lists with keyset paging, destroy, auth in both forms, and
 * the plain-text 429.
 */
#include "6000-sim.h"

#define VSCEN \
	"{\"start_time\": \"2026-01-01T00:00:00Z\", \"providers\": {" \
	"\"vastai\": {\"rate_limits\": false, \"delays\": {\"provision_ms\":" \
	" 5000, \"start_ms\": 20000, \"stop_ms\": 2000, \"terminate_ms\": 0}," \
	" \"offers\": [" \
	"{\"gpu\": \"RTX_4090\", \"price\": \"0.40\", \"storage_price\":" \
	" \"0.02\", \"min_bid\": \"0.25\", \"region\": \"US\"," \
	" \"geolocation\": \"California, US\", \"capacity\": 2}," \
	"{\"gpu\": \"RTX 4090\", \"price\": \"0.35\", \"region\": \"CA\"," \
	" \"geolocation\": \"Quebec, CA\", \"capacity\": 1}," \
	"{\"gpu\": \"H100_SXM\", \"count\": 8, \"price\": \"17.00\"," \
	" \"region\": \"SE\", \"geolocation\": \"Stockholm, SE\"," \
	" \"capacity\": 1}]}," \
	"\"runpod\": {\"rate_limits\": false}," \
	"\"lambda\": {\"rate_limits\": false}}}"

static struct simproc sp;

static json_t *
search(const char *body)
{
	struct hres	 h;
	json_t		*j;

	sim_call(&sp, &h, "POST", "/vast/api/v0/bundles/", AUTH_VAST, body);
	if (h.status != 200 || h.json == NULL)
		diag("search %s: %ld %s", body, h.status, h.body);
	j = json_incref(json_object_get(h.json, "offers"));
	hres_free(&h);
	return j != NULL ? j : json_array();
}

static json_t *
show(const char *id)
{
	struct hres	 h;
	char		*p = xasprintf("/vast/api/v0/instances/%s/?owner=me", id);
	json_t		*j;

	sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
	free(p);
	j = json_incref(json_object_get(h.json, "instances"));
	hres_free(&h);
	return j;
}

static const char *
actual(json_t *i)
{
	json_t	*a = json_object_get(i, "actual_status");

	return json_is_null(a) ? "null" : jstr(i, "actual_status");
}

static void
test_offers(void)
{
	struct hres	 h;
	json_t		*o;

	sim_call(&sp, &h, "POST", "/vast/api/v0/bundles/", AUTH_VAST,
	    "{\"verified\": {\"eq\": true}, \"external\": {\"eq\": false}, "
	    "\"rentable\": {\"eq\": true}, \"rented\": {\"eq\": false}, "
	    "\"gpu_name\": {\"eq\": \"RTX 4090\"}, \"num_gpus\": {\"eq\": "
	    "\"1\"}, \"order\": [[\"dph_total\", \"asc\"]], \"type\": "
	    "\"on-demand\", \"allocated_storage\": 5.0}");
	is_int(h.status, 200, "bundles search answers 200");
	is_str(h.ctype, "application/json", "Content-Type is exactly "
	    "application/json");
	o = json_object_get(h.json, "offers");
	is_int((long long)json_array_size(o), 3, "3 RTX 4090 asks (2 + 1)");
	is_int(json_integer_value(jpath(o, "0.id")), 3100000,
	    "cheapest first: the Quebec ask");
	ok(json_real_value(jpath(o, "0.dph_total")) == 0.35,
	    "dph_total is the price");
	is_str(jpstr(o, "0.geolocation"), "Quebec, CA", "geolocation text");
	is_int(json_integer_value(jpath(o, "0.gpu_ram")), 24576,
	    "gpu_ram in MB per GPU");
	ok(json_is_true(jpath(o, "0.rentable")) &&
	    json_is_false(jpath(o, "0.rented")), "rentable, not rented");
	hres_free(&h);

	o = search("{\"gpu_ram\": {\"gte\": 24000.0}}");
	is_int((long long)json_array_size(o), 4, "gpu_ram gte (GB x 1000) "
	    "matches every ask");
	json_decref(o);
	o = search("{\"geolocation\": {\"in\": [\"CA\", \"SE\"]}}");
	is_int((long long)json_array_size(o), 2, "geolocation in country "
	    "codes");
	json_decref(o);
	o = search("{\"dph_total\": {\"lte\": \"1.0\"}, \"gpu_name\": "
	    "{\"notin\": [\"RTX 3090\"]}}");
	is_int((long long)json_array_size(o), 3, "dph_total as a string "
	    "number, notin");
	json_decref(o);
	o = search("{\"num_gpus\": {\"gt\": \"4\"}}");
	is_int((long long)json_array_size(o), 1, "num_gpus gt 4: the H100 x8");
	is_str(jpstr(o, "0.gpu_name"), "H100 SXM", "named the Vast way");
	json_decref(o);
	o = search("{\"order\": [[\"dph_total\", \"desc\"]], \"limit\": 1}");
	is_int((long long)json_array_size(o), 1, "limit 1");
	ok(json_real_value(jpath(o, "0.dph_total")) == 17.0, "order desc");
	json_decref(o);
	o = search("{\"type\": \"bid\"}");
	is_int((long long)json_array_size(o), 2, "type bid: only asks with "
	    "a min_bid");
	ok(json_real_value(jpath(o, "0.min_bid")) == 0.25, "min_bid shown");
	json_decref(o);
	o = search("{\"type\": \"interruptible\"}");
	is_int((long long)json_array_size(o), 2, "interruptible means bid");
	json_decref(o);

	sim_call(&sp, &h, "POST", "/vast/api/v0/bundles/", AUTH_VAST,
	    "{\"dph_total\": {\"about\": 1}}");
	is_int(h.status, 400, "an unknown operator is a 400");
	is_str(jstr(h.json, "error"), "invalid_args", "invalid_args");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/bundles?q=%7B%22num_gpus%22"
	    "%3A%7B%22eq%22%3A8%7D%7D", AUTH_VAST, NULL);
	is_int((long long)json_array_size(json_object_get(h.json, "offers")),
	    1, "GET bundles with ?q=");
	hres_free(&h);
	sim_call(&sp, &h, "PUT", "/vast/api/v0/search/asks/", AUTH_VAST,
	    "{\"select_cols\": [\"*\"], \"q\": {\"num_gpus\": {\"eq\": 1}}}");
	is_int((long long)json_array_size(json_object_get(h.json, "offers")),
	    3, "PUT search/asks with q");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/vast/api/v0/bundles", AUTH_VAST, "{}");
	is_int(h.status, 200, "the path without the trailing slash works");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/gpu_names/unique/", AUTH_VAST,
	    NULL);
	is_int((long long)json_array_size(json_object_get(h.json,
	    "gpu_names")), 2, "gpu_names/unique lists each name once");
	hres_free(&h);
}

static void
test_auth(void)
{
	struct hres	 h;

	sim_call(&sp, &h, "GET", "/vast/api/v0/instances?owner=me", NULL,
	    NULL);
	is_int(h.status, 401, "no key: 401");
	ok(json_is_false(json_object_get(h.json, "success")) &&
	    strcmp(jstr(h.json, "error"), "auth_error") == 0 &&
	    strcmp(jstr(h.json, "msg"), "Invalid user key") == 0,
	    "the vast auth error shape");
	hres_free(&h);
	sim_call(&sp, &h, "POST", "/vast/api/v0/bundles/",
	    "Authorization: Bearer nope", "{}");
	is_int(h.status, 401, "a wrong key: 401");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v0/instances?owner=me&api_key="
	    "sim-vast-key", NULL, NULL);
	is_int(h.status, 200, "?api_key= alone is accepted");
	hres_free(&h);
	sim_call(&sp, &h, "PATCH", "/vast/api/v0/instances/", AUTH_VAST, "{}");
	is_int(h.status, 405, "a wrong method is a 405");
	hres_free(&h);
}

static char *
create(const char *ask, const char *body, long *status, json_t **reply)
{
	struct hres	 h;
	char		*p = xasprintf("/vast/api/v0/asks/%s/", ask), *id = NULL;

	sim_call(&sp, &h, "PUT", p, AUTH_VAST, body);
	free(p);
	*status = h.status;
	if (json_is_integer(json_object_get(h.json, "new_contract")))
		id = xasprintf("%lld", jint(h.json, "new_contract"));
	if (reply != NULL)
		*reply = json_incref(h.json);
	hres_free(&h);
	return id;
}

static const char vp_body[] = "{\"client_id\": \"me\", \"image\": "
    "\"pytorch/pytorch:latest\", \"env\": {\"TZ\": \"UTC\", "
    "\"-p 8080:8080\": \"1\"}, \"price\": null, \"disk\": 10.0, "
    "\"label\": \"gr-a1b2-1\", \"extra\": null, \"onstart\": \"echo hi\", "
    "\"image_login\": null, \"python_utf8\": false, \"lang_utf8\": false, "
    "\"use_jupyter_lab\": false, \"jupyter_dir\": null, \"force\": false, "
    "\"cancel_unavail\": false, \"template_hash_id\": null, \"runtype\": "
    "\"ssh_direc ssh_proxy\"}";

static void
test_lifecycle(void)
{
	struct hres	 h;
	json_t		*r, *i, *o;
	long		 st;
	char		*id, *bid, *p, *id2;

	id = create("3100000", vp_body, &st, &r);
	is_int(st, 200, "PUT asks/ID rents the offer");
	ok(json_is_true(json_object_get(r, "success")) &&
	    json_is_integer(json_object_get(r, "new_contract")),
	    "reply {success: true, new_contract: N}");
	ok(json_is_string(json_object_get(r, "instance_api_key")),
	    "with an instance_api_key");
	json_decref(r);
	free(create("3100000", vp_body, &st, &r));
	is_int(st, 410, "renting the same ask again: 410");
	is_str(jstr(r, "error"), "no_such_ask", "error no_such_ask");
	is_int(jint(r, "ask_id"), 3100000, "with the ask_id");
	json_decref(r);
	free(create("9999999", vp_body, &st, &r));
	is_int(st, 404, "an ask that never existed: 404");
	like(jstr(r, "msg"), "no_such_ask", "its msg says no_such_ask");
	json_decref(r);
	free(create("3000000", "{\"client_id\": \"me\"}", &st, &r));
	is_int(st, 400, "no image: 400");
	is_str(jstr(r, "error"), "invalid_args", "invalid_args");
	json_decref(r);
	p = xasprintf("{\"image\": \"x\", \"label\": \"%0300d\"}", 0);
	free(create("3000000", p, &st, &r));
	free(p);
	is_str(jstr(r, "error"), "label_too_long", "a 300-char label is "
	    "label_too_long");
	json_decref(r);
	free(create("3000000", "{\"image\": \"x\", \"price\": 0.10}", &st,
	    &r));
	is_int(st, 400, "a bid under min_bid: 400");
	is_str(jstr(r, "error"), "invalid_price", "invalid_price");
	json_decref(r);

	o = search("{\"gpu_name\": {\"eq\": \"RTX 4090\"}}");
	is_int((long long)json_array_size(o), 2, "a rented ask leaves the "
	    "search");
	json_decref(o);

	/* the status sequence */
	i = show(id);
	is_str(actual(i), "null", "just created: actual_status null");
	is_str(jstr(i, "intended_status"), "running", "intended running");
	ok(json_is_real(json_object_get(i, "start_date")) &&
	    json_real_value(json_object_get(i, "start_date")) == 1767225600.0,
	    "start_date is a number (epoch seconds)");
	is_int((long long)json_array_size(json_object_get(i, "extra_env")), 1,
	    "extra_env holds the env var, not the port flag");
	is_str(jpstr(i, "extra_env.0.0"), "TZ", "extra_env as [[k, v]]");
	is_str(jpstr(i, "extra_env.0.1"), "UTC", "with its value");
	is_str(jstr(i, "label"), "gr-a1b2-1", "the label");
	is_str(jstr(i, "image_uuid"), "pytorch/pytorch:latest", "the image");
	is_str(jstr(i, "onstart"), "echo hi", "the onstart script");
	ok(jpath(i, "ports.22/tcp") == NULL, "no ports before running");
	json_decref(i);
	sim_advance_ms(&sp, 5000);
	i = show(id);
	is_str(actual(i), "loading", "after 5 s: loading");
	json_decref(i);
	sim_advance_ms(&sp, 20000);
	i = show(id);
	is_str(actual(i), "running", "after 25 s: running");
	ok(json_is_string(jpath(i, "ports.22/tcp.0.HostPort")),
	    "ports[22/tcp] while running");
	ok(json_real_value(json_object_get(i, "dph_total")) == 0.35,
	    "dph_total on the instance");
	json_decref(i);

	sim_call(&sp, &h, "GET", "/vast/api/v0/instances?owner=me", AUTH_VAST,
	    NULL);
	is_int(jint(h.json, "instances_found"), 1, "v0 list: instances_found");
	ok(json_is_number(jpath(h.json, "instances.0.start_date")) &&
	    json_is_array(jpath(h.json, "instances.0.extra_env")),
	    "every row has a numeric start_date and an extra_env list");
	hres_free(&h);

	/* manage */
	p = xasprintf("/vast/api/v0/instances/%s/", id);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"state\": \"stopped\"}");
	is_int(h.status, 200, "stop answers 200");
	ok(json_is_true(json_object_get(h.json, "success")), "{success: true}");
	hres_free(&h);
	i = show(id);
	is_str(jstr(i, "intended_status"), "stopped", "stopping: intended "
	    "stopped");
	is_str(actual(i), "running", "still running until it stops");
	json_decref(i);
	sim_advance_ms(&sp, 2000);
	i = show(id);
	is_str(actual(i), "stopped", "then stopped");
	is_str(jstr(i, "cur_state"), "stopped", "cur_state stopped");
	json_decref(i);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"state\": \"running\"}");
	hres_free(&h);
	i = show(id);
	is_str(actual(i), "null", "started again: back to the beginning");
	json_decref(i);
	sim_advance_ms(&sp, 25000);
	i = show(id);
	is_str(actual(i), "running", "and running 25 s later");
	json_decref(i);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"label\": \"renamed\"}");
	hres_free(&h);
	i = show(id);
	is_str(jstr(i, "label"), "renamed", "PUT label renames");
	json_decref(i);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"state\": \"paused\"}");
	is_int(h.status, 400, "an unknown state: 400");
	hres_free(&h);
	sim_call(&sp, &h, "PUT", "/vast/api/v0/instances/1/", AUTH_VAST,
	    "{\"state\": \"stopped\"}");
	is_int(h.status, 404, "manage an unknown instance: 404");
	is_str(jstr(h.json, "error"), "not_found", "not_found");
	hres_free(&h);
	p[0] = '\0';
	free(p);
	p = xasprintf("{\"state\": \"stopped\", \"ids\": [%s]}", id);
	sim_call(&sp, &h, "PUT", "/vast/api/v0/instances/", AUTH_VAST, p);
	is_int(h.status, 200, "bulk PUT instances/ with ids");
	hres_free(&h);
	free(p);
	sim_advance_ms(&sp, 2000);
	i = show(id);
	is_str(actual(i), "stopped", "the bulk stop stopped it");
	json_decref(i);
	p = xasprintf("/vast/api/v0/instances/reboot/%s/", id);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{}");
	is_int(h.status, 400, "reboot of a stopped instance: 400");
	hres_free(&h);
	free(p);

	/* a bid instance */
	bid = create("3000000", "{\"image\": \"x\", \"price\": 0.30}", &st,
	    NULL);
	is_int(st, 200, "a bid at or over min_bid rents");
	i = show(bid);
	ok(json_is_true(json_object_get(i, "is_bid")), "is_bid true");
	ok(json_real_value(json_object_get(i, "dph_total")) == 0.30,
	    "billed at the bid");
	json_decref(i);
	p = xasprintf("/vast/api/v0/instances/bid_price/%s/", bid);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"client_id\": \"me\", "
	    "\"price\": 0.33}");
	is_int(h.status, 200, "bid_price changes the bid");
	hres_free(&h);
	free(p);
	i = show(bid);
	ok(json_real_value(json_object_get(i, "dph_total")) == 0.33,
	    "the new bid is the price");
	json_decref(i);
	p = xasprintf("/vast/api/v0/instances/bid_price/%s/", id);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{\"price\": 0.5}");
	is_int(h.status, 400, "bid_price on an on-demand instance: 400");
	hres_free(&h);
	free(p);
	sim_advance_ms(&sp, 25000);
	p = xasprintf("/vast/api/v0/instances/reboot/%s/", bid);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{}");
	is_int(h.status, 200, "reboot a running instance");
	hres_free(&h);
	free(p);
	i = show(bid);
	is_str(actual(i), "loading", "a reboot goes through loading");
	json_decref(i);
	p = xasprintf("/vast/api/v0/instances/request_logs/%s/", bid);
	sim_call(&sp, &h, "PUT", p, AUTH_VAST, "{}");
	ok(json_is_string(json_object_get(h.json, "result_url")),
	    "request_logs answers a result_url");
	hres_free(&h);
	free(p);

	/* destroy */
	p = xasprintf("/vast/api/v0/instances/%s/", id);
	sim_call(&sp, &h, "DELETE", p, AUTH_VAST, "{}");
	is_int(h.status, 200, "DELETE with VP's {} body");
	ok(json_is_true(json_object_get(h.json, "success")), "success");
	hres_free(&h);
	i = show(id);
	ok(json_is_null(i), "show after destroy: {\"instances\": null}");
	json_decref(i);
	sim_call(&sp, &h, "DELETE", p, AUTH_VAST, NULL);
	is_int(h.status, 404, "destroy again: 404");
	ok(json_is_false(json_object_get(h.json, "success")) &&
	    strcmp(jstr(h.json, "error"), "not_found") == 0 &&
	    strcmp(jstr(h.json, "msg"), "Instance not found") == 0,
	    "the documented not_found body");
	hres_free(&h);
	free(p);
	o = search("{\"gpu_name\": {\"eq\": \"RTX 4090\"}}");
	is_int((long long)json_array_size(o), 2, "the destroyed contract's "
	    "ask is back (bid one still rented)");
	json_decref(o);
	p = xasprintf("{\"instance_ids\": [%s]}", bid);
	sim_call(&sp, &h, "DELETE", "/vast/api/v0/instances/", AUTH_VAST, p);
	is_int(h.status, 200, "bulk DELETE instances/");
	hres_free(&h);
	free(p);
	i = show(bid);
	ok(json_is_null(i), "the bulk delete destroyed it");
	json_decref(i);

	/* launch_instance picks the offer */
	sim_call(&sp, &h, "PUT", "/vast/api/v0/launch_instance/", AUTH_VAST,
	    "{\"gpu_name\": \"RTX_4090\", \"num_gpus\": \"1\", \"region\": "
	    "\"US\", \"image\": \"x\", \"label\": \"launched\"}");
	is_int(h.status, 200, "launch_instance rents the best offer");
	id2 = xasprintf("%lld", jint(h.json, "new_contract"));
	hres_free(&h);
	i = show(id2);
	is_str(jstr(i, "geolocation"), "California, US", "in the region asked");
	json_decref(i);
	sim_call(&sp, &h, "PUT", "/vast/api/v0/launch_instance/", AUTH_VAST,
	    "{\"gpu_name\": \"H100 SXM\", \"num_gpus\": 1, \"image\": \"x\"}");
	is_int(h.status, 404, "launch_instance with no matching offer: 404");
	ok(json_is_string(json_object_get(h.json, "message")),
	    "its failure has error and message");
	hres_free(&h);
	free(id2);
	free(id);
	free(bid);
}

static void
test_v1_pages(void)
{
	struct hres	 h;
	json_t		*j, *e;
	char		*p, *tok = NULL;
	int		 k, pages = 0, rows = 0;
	long long	 last = 0;
	bool		 ascending = true;
	size_t		 n;

	for (k = 0; k < 28; k++) {
		p = xasprintf("{\"provider\": \"vastai\", \"gpu\": \"RTX_4090\","
		    " \"price\": \"0.40\", \"label\": \"pg-%c\"}",
		    k < 27 ? 'a' : 'b');
		json_decref(ctl(&sp, "POST", "instances", p));
		free(p);
	}
	sim_call(&sp, &h, "GET", "/vast/api/v1/instances/?limit=100",
	    AUTH_VAST, NULL);
	is_int(jint(h.json, "instances_found"), 25, "limit is clamped to 25");
	ok(json_is_true(json_object_get(h.json, "success")), "v1 success");
	n = (size_t)jint(h.json, "total_instances");
	ok(n >= 29, "total_instances counts every match");
	is_int(json_integer_value(jpath(h.json, "label_counts.pg-a")), 27,
	    "label_counts by label");
	hres_free(&h);
	do {
		p = xasprintf("/vast/api/v1/instances/?limit=10&order_by="
		    "%%5B%%7B%%22col%%22%%3A%%22id%%22%%2C%%22dir%%22%%3A%%22asc"
		    "%%22%%7D%%5D%s%s", tok != NULL ? "&after_token=" : "",
		    tok != NULL ? tok : "");
		sim_call(&sp, &h, "GET", p, AUTH_VAST, NULL);
		free(p);
		free(tok);
		tok = NULL;
		pages++;
		json_array_foreach(json_object_get(h.json, "instances"), n, e) {
			if (jint(e, "id") <= last)
				ascending = false;
			last = jint(e, "id");
			rows++;
		}
		if (json_is_string(json_object_get(h.json, "next_token")))
			tok = xstrdup(jstr(h.json, "next_token"));
		hres_free(&h);
	} while (tok != NULL && pages < 20);
	ok(pages >= 3, "following next_token takes several pages");
	ok(ascending, "pages continue in id order without repeats");
	j = ctl(&sp, "GET", "state", NULL);
	n = 0;
	json_array_foreach(json_object_get(j, "instances"), k, e)
		if (strcmp(jstr(e, "provider"), "vastai") == 0 &&
		    strcmp(jstr(e, "phase"), "gone") != 0)
			n++;
	is_int(rows, (long long)n, "paging saw every live instance once");
	json_decref(j);
	sim_call(&sp, &h, "GET", "/vast/api/v1/instances/?select_filters="
	    "%7B%22label%22%3A%7B%22eq%22%3A%22pg-b%22%7D%7D", AUTH_VAST, NULL);
	is_int(jint(h.json, "instances_found"), 1, "select_filters on label");
	is_str(jpstr(h.json, "instances.0.label"), "pg-b", "the right row");
	ok(json_is_null(json_object_get(h.json, "next_token")),
	    "one page: next_token null");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v1/instances/?select_filters="
	    "%7B%22dph_total%22%3A%7B%22lte%22%3A1%7D%7D", AUTH_VAST, NULL);
	is_int(h.status, 400, "filtering on the computed dph_total: 400");
	hres_free(&h);
	sim_call(&sp, &h, "GET", "/vast/api/v1/instances/?select_filters=nope",
	    AUTH_VAST, NULL);
	is_int(h.status, 400, "select_filters that is not JSON: 400");
	hres_free(&h);
}

static void
test_rate_limit(void)
{
	struct simproc	 rl;
	struct hres	 h;
	char		*ra;

	/* the default vast limits (asks: 4.5 s apart) on a frozen clock,
	 * which makes them real-time */
	sim_start(&rl, NULL, "--time-scale 0");
	sim_call(&rl, &h, "PUT", "/vast/api/v0/asks/3000000/", AUTH_VAST,
	    "{\"image\": \"x\"}");
	is_int(h.status, 200, "the first create passes");
	hres_free(&h);
	sim_call(&rl, &h, "PUT", "/vast/api/v0/asks/3000001/", AUTH_VAST,
	    "{\"image\": \"x\"}");
	is_int(h.status, 429, "a second create within 4.5 s: 429");
	is_str(h.ctype, "text/plain", "as plain text");
	is_str(h.body, "API requests too frequent: endpoint threshold=4.5",
	    "the documented body");
	ra = hres_header(&h, "Retry-After");
	ok(ra == NULL, "and no Retry-After");
	free(ra);
	hres_free(&h);
	sim_call(&rl, &h, "GET", "/vast/api/v0/instances?owner=me", AUTH_VAST,
	    NULL);
	is_int(h.status, 200, "other endpoints are paced separately");
	hres_free(&h);
	is_int(sim_stop(&rl), 0, "the rate-limited sim stops cleanly");
	sim_free(&rl);
}

int
main(void)
{
	plan_lazy();
	sim_start(&sp, VSCEN, "--time-scale 0");
	test_offers();
	test_auth();
	test_lifecycle();
	test_v1_pages();
	test_rate_limit();
	is_int(sim_stop(&sp), 0, "the sim stops cleanly");
	sim_free(&sp);
	return done_testing();
}
