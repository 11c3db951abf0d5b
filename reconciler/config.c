/*
 * config.c: the user's config file, $XDG_CONFIG_HOME/gpureconcile/
 * config.yaml (or --config).  It is optional; everything has a default.
 *
 *   state_dir: /var/lib/gpureconcile    # default $XDG_STATE_HOME/...
 *   fleets: [/etc/gpureconcile/fleet.d] # used when no -f is given
 *   budget: {max_per_hour: 20.00}       # global cap over every fleet
 *   parallel: 8                         # provider calls at once
 *   poll_interval: 2s                   # between passes while waiting
 *   watch: {resync: 60s, debounce: 100ms, stop_timeout: 30s}
 *   providers:
 *     local:
 *       price_per_hour: 0.00            # any other key goes to the provider
 *       heartbeat: 5m                   # watch's health check of it
 *       timeouts: {spinup: 5m, teardown: 2m, grace: 2m, pull: 10m,
 *                  ssh_connect: 10s, ssh_retries: 3}
 *
 * Errors are "file:line:col: message" and exit 78 (EX_CONFIG).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "reconciler.h"

#define CONFIG_MAX_BYTES	(256 * 1024)
#define CONFIG_HEARTBEAT_MS	(5 * 60 * 1000)	/* a provider's, in watch */

struct cfg_parse {
	const char	*path;
	yaml_document_t	*doc;
	struct gr_err	*e;
	bool		 failed;
};

static bool
cfg_fail(struct cfg_parse *cp, const yaml_node_t *n, const char *fmt, ...)
    GR_PRINTF(3, 4);

static bool
cfg_fail(struct cfg_parse *cp, const yaml_node_t *n, const char *fmt, ...)
{
	struct buf	 b = BUF_INIT;
	va_list		 ap;

	if (cp->failed)
		return false;
	buf_addf(&b, "%s:%zu:%zu: ", cp->path,
	    n != NULL ? n->start_mark.line + 1 : 0,
	    n != NULL ? n->start_mark.column + 1 : 0);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	gr_err_set(cp->e, GR_E_CONFIG, "%s", buf_str(&b));
	buf_release(&b);
	cp->failed = true;
	return false;
}

static const char *
cfg_scalar(struct cfg_parse *cp, yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE) {
		cfg_fail(cp, n, "'%s' must be a single value", key);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static bool
cfg_int(struct cfg_parse *cp, yaml_node_t *n, const char *key, int lo,
    int hi, int *out)
{
	const char	*s = cfg_scalar(cp, n, key);
	char		*end;
	long		 v;

	if (s == NULL)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return cfg_fail(cp, n, "'%s' must be an integer from %d to %d",
		    key, lo, hi);
	*out = (int)v;
	return true;
}

static bool
cfg_duration_ms(struct cfg_parse *cp, yaml_node_t *n, const char *key,
    int64_t *out)
{
	const char	*s = cfg_scalar(cp, n, key), *why;
	int64_t		 secs;

	if (s == NULL)
		return false;
	if (!duration_parse(s, &secs, &why))
		return cfg_fail(cp, n, "'%s': %s", key, why);
	*out = secs * 1000;
	return true;
}

/* A duration that may be given in ms ("250ms"), at least min_ms. */
static bool
cfg_ms(struct cfg_parse *cp, yaml_node_t *n, const char *key, int64_t min_ms,
    int64_t *out)
{
	const char	*s = cfg_scalar(cp, n, key), *why;
	int64_t		 ms;

	if (s == NULL)
		return false;
	if (!duration_parse_ms(s, &ms, &why))
		return cfg_fail(cp, n, "'%s': %s", key, why);
	if (ms < min_ms)
		return cfg_fail(cp, n, "'%s': at least %lldms", key,
		    (long long)min_ms);
	*out = ms;
	return true;
}

/* watch: {resync: 60s, debounce: 100ms, stop_timeout: 30s} */
static bool
cfg_watch(struct cfg_parse *cp, struct config *c, yaml_node_t *map)
{
	static const char *const keys[] = { "resync", "debounce",
		"stop_timeout" };
	yaml_node_pair_t	*pair;

	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(cp, map, "'watch' must be a map (resync, "
		    "debounce, stop_timeout)");
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t	*k = yaml_document_get_node(cp->doc, pair->key);
		yaml_node_t	*v = yaml_document_get_node(cp->doc,
		    pair->value);
		const char	*key = cfg_scalar(cp, k, "key"), *s;

		if (key == NULL)
			return false;
		if (strcmp(key, "resync") == 0)
			cfg_ms(cp, v, key, 100, &c->resync_ms);
		else if (strcmp(key, "debounce") == 0)
			cfg_ms(cp, v, key, 0, &c->debounce_ms);
		else if (strcmp(key, "stop_timeout") == 0)
			cfg_ms(cp, v, key, 1000, &c->stop_ms);
		else {
			s = str_suggest(key, keys, nitems(keys));
			return cfg_fail(cp, k, "unknown watch key '%s'%s%s%s",
			    key, s ? " (hint: did you mean '" : "",
			    s ? s : "", s ? "'?)" : "");
		}
		if (cp->failed)
			return false;
	}
	return true;
}

static bool
cfg_timeouts(struct cfg_parse *cp, yaml_node_t *map,
    struct provider_timeouts *t)
{
	yaml_node_pair_t	*pair;
	static const char *const keys[] = { "spinup", "teardown", "grace",
		"pull", "ssh_connect", "ssh_retries", "pending_report" };

	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(cp, map, "'timeouts' must be a map");
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t	*k = yaml_document_get_node(cp->doc, pair->key);
		yaml_node_t	*v = yaml_document_get_node(cp->doc,
		    pair->value);
		const char	*key = cfg_scalar(cp, k, "key"), *s;

		if (key == NULL)
			return false;
		if (strcmp(key, "spinup") == 0)
			cfg_duration_ms(cp, v, key, &t->spinup_ms);
		else if (strcmp(key, "teardown") == 0)
			cfg_duration_ms(cp, v, key, &t->teardown_ms);
		else if (strcmp(key, "grace") == 0)
			cfg_duration_ms(cp, v, key, &t->grace_ms);
		else if (strcmp(key, "pull") == 0)
			cfg_duration_ms(cp, v, key, &t->pull_ms);
		else if (strcmp(key, "ssh_connect") == 0)
			cfg_duration_ms(cp, v, key, &t->ssh_connect_ms);
		else if (strcmp(key, "pending_report") == 0)
			cfg_duration_ms(cp, v, key, &t->pending_report_ms);
		else if (strcmp(key, "ssh_retries") == 0)
			cfg_int(cp, v, key, 0, 20, &t->ssh_retries);
		else {
			s = str_suggest(key, keys, nitems(keys));
			return cfg_fail(cp, k, "unknown timeout '%s'%s%s%s",
			    key, s ? " (hint: did you mean '" : "",
			    s ? s : "", s ? "'?)" : "");
		}
		if (cp->failed)
			return false;
	}
	return true;
}

static bool
cfg_provider(struct cfg_parse *cp, struct config *c, yaml_node_t *k,
    yaml_node_t *map)
{
	struct provider_settings	*ps;
	yaml_node_pair_t		*pair;
	const char			*name = cfg_scalar(cp, k, "provider");
	size_t				 i;

	if (name == NULL)
		return false;
	if (provider_ops_find(name) == NULL) {
		const char	*names[16];
		const char	*s;
		size_t		 n = 0;

		for (i = 0; i < provider_ops_count() && n < nitems(names); i++)
			names[n++] = provider_ops_at(i)->name;
		s = str_suggest(name, names, n);
		return cfg_fail(cp, k, "unknown provider '%s'%s%s%s", name,
		    s ? " (hint: did you mean '" : "", s ? s : "",
		    s ? "'?)" : "");
	}
	for (i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, name) == 0)
			return cfg_fail(cp, k, "provider '%s' is configured "
			    "twice", name);
	if (map->type != YAML_MAPPING_NODE)
		return cfg_fail(cp, map, "settings of provider '%s' must be a "
		    "map", name);
	c->providers = xreallocarray(c->providers, c->nproviders + 1,
	    sizeof(*c->providers));
	ps = &c->providers[c->nproviders++];
	memset(ps, 0, sizeof(*ps));
	ps->name = xstrdup(name);
	provider_timeouts_default(&ps->timeouts);
	ps->heartbeat_ms = CONFIG_HEARTBEAT_MS;
	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t	*kk = yaml_document_get_node(cp->doc, pair->key);
		yaml_node_t	*v = yaml_document_get_node(cp->doc,
		    pair->value);
		const char	*key = cfg_scalar(cp, kk, "key"), *val;

		if (key == NULL)
			return false;
		if (strcmp(key, "timeouts") == 0) {
			if (!cfg_timeouts(cp, v, &ps->timeouts))
				return false;
			continue;
		}
		if (strcmp(key, "heartbeat") == 0) {
			if (!cfg_ms(cp, v, key, 100, &ps->heartbeat_ms))
				return false;
			continue;
		}
		val = cfg_scalar(cp, v, key);
		if (val == NULL)
			return false;
		ps->options = xreallocarray(ps->options, ps->noptions + 1,
		    sizeof(*ps->options));
		ps->options[ps->noptions].key = xstrdup(key);
		ps->options[ps->noptions].value = xstrdup(val);
		ps->noptions++;
	}
	return true;
}

static bool
cfg_root(struct cfg_parse *cp, struct config *c, yaml_node_t *root)
{
	static const char *const keys[] = { "state_dir", "fleets", "budget",
		"parallel", "poll_interval", "providers", "watch" };
	yaml_node_pair_t	*pair, *pp;
	yaml_node_item_t	*it;

	if (root->type != YAML_MAPPING_NODE)
		return cfg_fail(cp, root, "the config must be a map");
	for (pair = root->data.mapping.pairs.start;
	    pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t	*k = yaml_document_get_node(cp->doc, pair->key);
		yaml_node_t	*v = yaml_document_get_node(cp->doc,
		    pair->value);
		const char	*key = cfg_scalar(cp, k, "key"), *s, *why;

		if (key == NULL)
			return false;
		if (strcmp(key, "state_dir") == 0) {
			if ((s = cfg_scalar(cp, v, key)) == NULL)
				return false;
			free(c->state_dir);
			c->state_dir = xstrdup(s);
		} else if (strcmp(key, "fleets") == 0) {
			if (v->type != YAML_SEQUENCE_NODE)
				return cfg_fail(cp, v, "'fleets' must be a "
				    "list of paths");
			for (it = v->data.sequence.items.start;
			    it < v->data.sequence.items.top; it++) {
				yaml_node_t *n = yaml_document_get_node(cp->doc,
				    *it);

				if ((s = cfg_scalar(cp, n, "fleets")) == NULL)
					return false;
				c->fleet_paths = xreallocarray(c->fleet_paths,
				    c->nfleet_paths + 1,
				    sizeof(*c->fleet_paths));
				c->fleet_paths[c->nfleet_paths++] = xstrdup(s);
			}
		} else if (strcmp(key, "budget") == 0) {
			if (v->type != YAML_MAPPING_NODE)
				return cfg_fail(cp, v, "'budget' must be a map "
				    "with max_per_hour");
			for (pp = v->data.mapping.pairs.start;
			    pp < v->data.mapping.pairs.top; pp++) {
				yaml_node_t *bk = yaml_document_get_node(
				    cp->doc, pp->key);
				yaml_node_t *bv = yaml_document_get_node(
				    cp->doc, pp->value);

				if ((s = cfg_scalar(cp, bk, "key")) == NULL)
					return false;
				if (strcmp(s, "max_per_hour") != 0)
					return cfg_fail(cp, bk, "unknown budget "
					    "key '%s' (hint: the only one is "
					    "max_per_hour)", s);
				if ((s = cfg_scalar(cp, bv, "max_per_hour")) ==
				    NULL)
					return false;
				if (!money_parse(s, &c->max_per_hour, &why))
					return cfg_fail(cp, bv, "'max_per_hour' "
					    "'%s': %s", s, why);
				c->has_budget = true;
			}
		} else if (strcmp(key, "parallel") == 0) {
			if (!cfg_int(cp, v, key, 1, 256, &c->parallel))
				return false;
		} else if (strcmp(key, "poll_interval") == 0) {
			if (!cfg_duration_ms(cp, v, key, &c->poll_ms))
				return false;
		} else if (strcmp(key, "watch") == 0) {
			if (!cfg_watch(cp, c, v))
				return false;
		} else if (strcmp(key, "providers") == 0) {
			if (v->type != YAML_MAPPING_NODE)
				return cfg_fail(cp, v, "'providers' must be a "
				    "map of provider name to settings");
			for (pp = v->data.mapping.pairs.start;
			    pp < v->data.mapping.pairs.top; pp++)
				if (!cfg_provider(cp, c,
				    yaml_document_get_node(cp->doc, pp->key),
				    yaml_document_get_node(cp->doc, pp->value)))
					return false;
		} else {
			s = str_suggest(key, keys, nitems(keys));
			return cfg_fail(cp, k, "unknown key '%s'%s%s%s", key,
			    s ? " (hint: did you mean '" : "", s ? s : "",
			    s ? "'?)" : "");
		}
	}
	return true;
}

static struct config *
config_new(void)
{
	struct config	*c = xcalloc(1, sizeof(*c));

	c->parallel = 8;
	c->poll_ms = 2000;
	c->resync_ms = 60 * 1000;
	c->debounce_ms = 100;
	c->stop_ms = 30 * 1000;
	return c;
}

int
config_load(const char *path, bool must_exist, struct config **out,
    struct gr_err *e)
{
	struct config		*c = config_new();
	struct cfg_parse	 cp;
	yaml_parser_t		 parser;
	yaml_document_t		 doc;
	yaml_node_t		*root;
	char			*text;
	size_t			 len;

	*out = NULL;
	if (path == NULL) {
		*out = c;
		return 0;
	}
	if (file_read(path, CONFIG_MAX_BYTES, &text, &len) == -1) {
		if (errno == ENOENT && !must_exist) {
			*out = c;
			return 0;
		}
		gr_err_set(e, GR_E_CONFIG, "config '%s': %s", path,
		    errno == EFBIG ? "larger than 256 KiB" : strerror(errno));
		config_free(c);
		return -1;
	}
	c->path = xstrdup(path);
	if (!yaml_parser_initialize(&parser))
		fatalx("yaml_parser_initialize");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		gr_err_set(e, GR_E_CONFIG, "%s:%zu:%zu: %s", path,
		    parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1,
		    parser.problem != NULL ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		free(text);
		config_free(c);
		return -1;
	}
	cp.path = path;
	cp.doc = &doc;
	cp.e = e;
	cp.failed = false;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL)
		(void)cfg_root(&cp, c, root);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(text);
	if (cp.failed) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
config_free(struct config *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nproviders; i++) {
		free(c->providers[i].name);
		kv_free(c->providers[i].options, c->providers[i].noptions);
	}
	free(c->providers);
	for (i = 0; i < c->nfleet_paths; i++)
		free(c->fleet_paths[i]);
	free(c->fleet_paths);
	free(c->state_dir);
	free(c->path);
	free(c);
}

const struct provider_settings *
config_provider(const struct config *c, const char *name)
{
	static struct provider_settings	 defaults;
	size_t				 i;

	for (i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, name) == 0)
			return &c->providers[i];
	/* Read-only after the first call; every provider gets the same. */
	if (defaults.timeouts.spinup_ms == 0) {
		provider_timeouts_default(&defaults.timeouts);
		defaults.heartbeat_ms = CONFIG_HEARTBEAT_MS;
	}
	return &defaults;
}

static char *
xdg_path(const char *var, const char *fallback, const char *leaf)
{
	const char	*base = getenv(var), *home;

	if (base != NULL && base[0] == '/')
		return xasprintf("%s/gpureconcile%s", base, leaf);
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		home = "/";
	return xasprintf("%s/%s/gpureconcile%s", home, fallback, leaf);
}

char *
config_default_path(void)
{
	return xdg_path("XDG_CONFIG_HOME", ".config", "/config.yaml");
}

char *
state_dir_default(void)
{
	return xdg_path("XDG_STATE_HOME", ".local/state", "");
}
