/*
 * hash.c: the canonical hash of a group, which tells whether a running
 * instance still matches what its group asks for.
 *
 * It covers exactly the keys whose field-table row says forces-replace
 * (load.c): gpu type, count and min_vram_gb, disk_gb, image, regions in
 * the order given (they are a preference), spot, the bootstrap text and
 * env sorted by name.  It is computed from the parsed values, not the
 * bytes of the file, so formatting, comments, quoting and key order do
 * not change it.  Each value is written as "key LEN:BYTES" so that no
 * two different groups serialize alike; the first line names the form,
 * and changing the form means changing that line (and replacing every
 * instance once, on purpose).
 */
#include <stdlib.h>
#include <string.h>

#include "spec.h"

static void
canon_str(struct buf *b, const char *key, const char *s, size_t len)
{
	if (s == NULL) {
		buf_addf(b, "%s -\n", key);
		return;
	}
	buf_addf(b, "%s %zu:", key, len);
	buf_add(b, s, len);
	buf_addc(b, '\n');
}

static void
canon_int(struct buf *b, const char *key, long long v)
{
	buf_addf(b, "%s %lld\n", key, v);
}

static int
kvp_cmp(const void *a, const void *b)
{
	const struct kv	*x = *(const struct kv *const *)a;
	const struct kv	*y = *(const struct kv *const *)b;

	return strcmp(x->key, y->key);
}

void
spec_group_hash(const struct group_spec *g, char out[65])
{
	struct buf		 b = BUF_INIT;
	const struct kv		**env;
	const char		*t = g->gpu.type;
	size_t			 i;

	buf_adds(&b, "gpureconcile group hash v1\n");
	canon_str(&b, "gpu.type", t, t != NULL ? strlen(t) : 0);
	canon_int(&b, "gpu.count", g->gpu.count);
	canon_int(&b, "gpu.min_vram_gb", g->gpu.min_vram_gb);
	canon_int(&b, "disk_gb", g->disk_gb);
	canon_str(&b, "image", g->image,
	    g->image != NULL ? strlen(g->image) : 0);
	canon_int(&b, "regions", (long long)g->nregions);
	for (i = 0; i < g->nregions; i++) {
		canon_str(&b, "region", g->regions[i], strlen(g->regions[i]));
	}
	canon_int(&b, "spot", g->spot ? 1 : 0);
	canon_str(&b, "bootstrap", g->bootstrap, g->bootstrap_len);

	/* Sorted here too: a caller may build a group_spec by hand. */
	env = xcalloc(g->nenv + 1, sizeof(*env));
	for (i = 0; i < g->nenv; i++) {
		env[i] = &g->env[i];
	}
	if (g->nenv > 1) {
		qsort(env, g->nenv, sizeof(*env), kvp_cmp);
	}
	canon_int(&b, "env", (long long)g->nenv);
	for (i = 0; i < g->nenv; i++) {
		canon_str(&b, "env.key", env[i]->key, strlen(env[i]->key));
		canon_str(&b, "env.value", env[i]->value,
		    strlen(env[i]->value));
	}
	free(env);

	sha256_hex(b.s, b.len, out);
	buf_release(&b);
}

/*
 * The digest of one fleet as the reconciler sees it: every field that a
 * plan reads (not only those that force a replacement), so that a reload
 * can tell an edit that matters from one that does not (a comment, an
 * editor's swap file, a checkout of the same content).
 */
void
spec_fleet_digest(const struct fleet_spec *f, char out[65])
{
	struct buf	 b = BUF_INIT;
	size_t		 i, k;

	buf_adds(&b, "gpureconcile fleet digest v1\n");
	canon_str(&b, "fleet", f->name, strlen(f->name));
	canon_str(&b, "file", f->file, f->file != NULL ? strlen(f->file) : 0);
	canon_int(&b, "budget", f->has_budget ? (long long)f->max_per_hour :
	    -1);
	canon_int(&b, "groups", (long long)f->ngroups);
	for (i = 0; i < f->ngroups; i++) {
		const struct group_spec *g = &f->groups[i];

		canon_str(&b, "group", g->name, strlen(g->name));
		canon_str(&b, "hash", g->hash, strlen(g->hash));
		canon_int(&b, "count", g->count);
		canon_int(&b, "max_price", (long long)g->max_price);
		canon_int(&b, "ttl", (long long)g->ttl_s);
		canon_int(&b, "state", (long long)g->state);
		canon_int(&b, "providers", (long long)g->nproviders);
		for (k = 0; k < g->nproviders; k++)
			canon_str(&b, "provider", g->providers[k],
			    strlen(g->providers[k]));
		canon_str(&b, "bootstrap_src", g->bootstrap_src,
		    g->bootstrap_src != NULL ? strlen(g->bootstrap_src) : 0);
	}
	sha256_hex(b.s, b.len, out);
	buf_release(&b);
}

/* The digest of a whole spec: its fleets' digests, in name order. */
void
spec_digest(const struct spec *s, char out[65])
{
	struct buf	 b = BUF_INIT;
	char		 d[65];
	size_t		 i;

	buf_adds(&b, "gpureconcile spec digest v1\n");
	for (i = 0; s != NULL && i < s->nfleets; i++) {
		spec_fleet_digest(&s->fleets[i], d);
		buf_addf(&b, "%s\n", d);
	}
	sha256_hex(b.s, b.len, out);
	buf_release(&b);
}
