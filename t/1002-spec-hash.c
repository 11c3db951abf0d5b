/*
 * 1002: the canonical group hash.  The same group written differently
 * (key order, flow or block style, comments, quoting, defaults spelt
 * out) hashes the same; a change to a key hashes differently exactly
 * when the field table says that key forces a replacement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../spec/spec.h"
#include "../util/util.h"
#include "tap.h"
#include "testlib.h"

static const char *const provs[] = {
	"local", "fake", "vastai", "runpod", "lambda"
};
static const struct spec_opts opts = { provs, nitems(provs) };

/* Load text as a fleet file and return the hash of its first group. */
static char *
hash_of(const char *label, const char *text)
{
	static int		 seq;
	struct spec		*sp;
	struct spec_diags	 d;
	char			*rel, *path, *h = NULL;
	const char		*p;

	rel = xasprintf("h/%03d.yaml", seq++);
	path = test_write(test_tmpdir(), rel, text);
	p = path;
	if (spec_load(&p, 1, &opts, &sp, &d) == -1) {
		diag("%s: does not load:", label);
		spec_diags_print(&d, stdout);
		bail_out("%s: a hash case does not load", label);
	}
	h = xstrdup(sp->fleets[0].groups[0].hash);
	spec_free(sp);
	spec_diags_release(&d);
	free(path);
	free(rel);
	return h;
}

/* The group every case starts from, one key a line. */
static const char *const base[] = {
	"name: g",
	"count: 2",
	"providers: [vastai, runpod]",
	"gpu: {type: A100_80GB, count: 2, min_vram_gb: 40}",
	"max_price_per_hour: 0.70",
	"disk_gb: 80",
	"image: pytorch/pytorch:2.4.0",
	"regions: [US, CA]",
	"spot: false",
	"ttl: 12h",
	"state: running",
	"bootstrap: {inline: \"echo hi\\n\"}",
	"env: {A: \"1\", B: two}",
};

/* A fleet file of base with the line for key replaced by line. */
static char *
fleet_text(const char *key, const char *line)
{
	struct buf	 b = BUF_INIT;
	size_t		 i, klen = key != NULL ? strlen(key) : 0;
	bool		 done = false;

	buf_adds(&b, "fleet: h\ngroups:\n");
	for (i = 0; i < nitems(base); i++) {
		buf_adds(&b, i == 0 ? "  - " : "    ");
		if (key != NULL && strncmp(base[i], key, klen) == 0 &&
		    base[i][klen] == ':') {
			buf_adds(&b, line);
			done = true;
		} else {
			buf_adds(&b, base[i]);
		}
		buf_addc(&b, '\n');
	}
	if (key != NULL && !done) {
		BUG("no line for '%s'", key);
	}
	return buf_detach(&b);
}

/* The base group written every other way we could think of. */
static const char same_group[] =
	"# the same group, written differently\n"
	"groups:\n"
	"- env:\n"
	"    B: \"two\"   # quoted now\n"
	"    A: '1'\n"
	"  bootstrap:\n"
	"    inline: |\n"
	"      echo hi\n"
	"  regions:\n"
	"  - US\n"
	"  - \"CA\"\n"
	"  spot: false\n"
	"  gpu:\n"
	"    min_vram_gb: 40\n"
	"    type: \"A100_80GB\"\n"
	"    count: 2\n"
	"  image: 'pytorch/pytorch:2.4.0'\n"
	"  disk_gb: 80\n"
	"  max_price_per_hour: \"0.70\"\n"
	"  providers:\n"
	"  - vastai\n"
	"  - runpod\n"
	"  count: 2\n"
	"  name: \"g\"\n"
	"  ttl: 12h\n"
	"fleet: \"h\"\n";

struct change {
	const char	*key;
	const char	*line;		/* replaces the key's line in base */
	const char	*what;
};

/* One change to each key; it must change the hash iff forces-replace. */
static const struct change changes[] = {
	{ "name", "name: other", "rename the group" },
	{ "count", "count: 7", "scale the group" },
	{ "providers", "providers: [runpod, vastai]", "reorder providers" },
	{ "providers", "provider: lambda", "one provider instead" },
	{ "gpu", "gpu: {type: H100_SXM, count: 2, min_vram_gb: 40}",
	  "another gpu type" },
	{ "gpu", "gpu: {type: A100_80GB, count: 4, min_vram_gb: 40}",
	  "more gpus" },
	{ "gpu", "gpu: {type: A100_80GB, count: 2, min_vram_gb: 80}",
	  "more vram" },
	{ "max_price_per_hour", "max_price_per_hour: 0.90",
	  "raise the price cap" },
	{ "disk_gb", "disk_gb: 81", "a larger disk" },
	{ "image", "image: pytorch/pytorch:2.5.0", "another image" },
	{ "regions", "regions: [CA, US]", "regions in another order" },
	{ "regions", "regions: [US]", "fewer regions" },
	{ "spot", "spot: true", "spot instead of on-demand" },
	{ "ttl", "ttl: 1d", "a longer ttl" },
	{ "state", "state: stopped", "stop the group" },
	{ "bootstrap", "bootstrap: {inline: \"echo bye\\n\"}",
	  "another bootstrap text" },
	{ "env", "env: {A: \"1\", B: three}", "another env value" },
	{ "env", "env: {A: \"1\", B: two, C: x}", "one more env" },
	{ "env", "env: {A: \"1\", b: two}", "an env name's case" },
};

static void
changes_check(const char *h0)
{
	const struct change	*c;
	char			*text, *h, *label;
	size_t			 i;
	bool			 replace;

	for (i = 0; i < nitems(changes); i++) {
		c = &changes[i];
		label = xasprintf("%s (%s)", c->what, c->key);
		text = fleet_text(c->key, c->line);
		h = hash_of(label, text);
		replace = spec_key_forces_replace(c->key);
		ok(replace == (strcmp(h, h0) != 0), "%s: hash %s", label,
		    replace ? "changes (forces replacement)" :
		    "stays (no replacement)");
		free(h);
		free(text);
		free(label);
	}
}

/* The table's forces-replace column, as DESIGN.md section 3 wants it. */
static void
column_check(void)
{
	static const char *const yes[] = {
		"gpu", "disk_gb", "image", "regions", "spot", "bootstrap",
		"env",
	};
	static const char *const no[] = {
		"name", "count", "providers", "provider",
		"max_price_per_hour", "ttl", "state", "nonsense",
	};
	size_t	 i;

	for (i = 0; i < nitems(yes); i++) {
		ok(spec_key_forces_replace(yes[i]), "'%s' forces replacement",
		    yes[i]);
	}
	for (i = 0; i < nitems(no); i++) {
		ok(!spec_key_forces_replace(no[i]), "'%s' does not force "
		    "replacement", no[i]);
	}
}

/* Spellings of the same gpu and defaults hash alike. */
static void
spellings_check(void)
{
	static const char *const gpus[] = {
		"gpu: T4",
		"gpu: {type: T4}",
		"gpu: {type: T4, count: 1}",
		"gpu: {type: T4, count: 1, min_vram_gb: 0}",
		"gpu: \"T4\"",
	};
	char	*h0, *h, *text;
	size_t	 i;

	text = fleet_text("gpu", gpus[0]);
	h0 = hash_of("gpu: T4", text);
	free(text);
	for (i = 1; i < nitems(gpus); i++) {
		text = fleet_text("gpu", gpus[i]);
		h = hash_of(gpus[i], text);
		is_str(h, h0, "'%s' hashes as 'gpu: T4'", gpus[i]);
		free(h);
		free(text);
	}
	free(h0);

	text = fleet_text("disk_gb", "disk_gb: 20");
	h0 = hash_of("disk_gb: 20", text);
	free(text);
	text = fleet_text("disk_gb", "# (left out)");
	h = hash_of("no disk_gb", text);
	is_str(h, h0, "disk_gb left out hashes as its default 20");
	free(h);
	free(text);
	free(h0);

	text = fleet_text("regions", "regions: []");
	h0 = hash_of("regions: []", text);
	free(text);
	text = fleet_text("regions", "# (left out)");
	h = hash_of("no regions", text);
	is_str(h, h0, "regions: [] hashes as no regions (anywhere)");
	free(h);
	free(text);
	free(h0);
}

/* The bootstrap's text counts, not where it came from. */
static void
bootstrap_check(const char *h0)
{
	char	*path, *text, *h;

	free(test_write(test_tmpdir(), "h/boot/hi.sh", "echo hi\n"));
	free(test_write(test_tmpdir(), "h/boot/bye.sh", "echo bye\n"));
	text = fleet_text("bootstrap", "bootstrap: {file: boot/hi.sh}");
	h = hash_of("bootstrap file", text);
	is_str(h, h0, "a bootstrap file with the same text hashes alike");
	free(h);
	free(text);

	text = fleet_text("bootstrap", "bootstrap: {file: boot/bye.sh}");
	h = hash_of("other bootstrap file", text);
	ok(strcmp(h, h0) != 0, "a bootstrap file with other text hashes "
	    "differently");
	free(h);
	free(text);

	text = fleet_text("bootstrap", "# (left out)");
	h = hash_of("no bootstrap", text);
	ok(strcmp(h, h0) != 0, "no bootstrap hashes differently");
	free(h);
	free(text);

	/* Edit the file in place: the next load sees the new text. */
	path = test_write(test_tmpdir(), "h/boot/hi.sh", "echo hi again\n");
	text = fleet_text("bootstrap", "bootstrap: {file: boot/hi.sh}");
	h = hash_of("edited bootstrap file", text);
	ok(strcmp(h, h0) != 0, "editing the bootstrap file changes the hash");
	free(h);
	free(text);
	free(path);
}

/* spec_group_hash on a struct built by hand: env order does not count. */
static void
by_hand_check(void)
{
	struct kv		 e1[] = {
		{ "A", "1" }, { "B", "2" },
	}, e2[] = {
		{ "B", "2" }, { "A", "1" },
	};
	struct group_spec	 g;
	char			 h1[65], h2[65];
	size_t			 i;
	bool			 hex = true;

	memset(&g, 0, sizeof(g));
	g.gpu.type = "T4";
	g.gpu.count = 1;
	g.disk_gb = 20;
	g.env = e1;
	g.nenv = 2;
	spec_group_hash(&g, h1);
	g.env = e2;
	spec_group_hash(&g, h2);
	is_str(h2, h1, "by hand: env order does not change the hash");
	for (i = 0; i < 64; i++) {
		hex = hex && ((h1[i] >= '0' && h1[i] <= '9') ||
		    (h1[i] >= 'a' && h1[i] <= 'f'));
	}
	ok(hex && h1[64] == '\0', "the hash is 64 lowercase hex digits");

	/* No ambiguity between fields: "ab"+"" is not "a"+"b". */
	g.env = NULL;
	g.nenv = 0;
	g.image = "ab";
	spec_group_hash(&g, h1);
	g.image = "a";
	g.bootstrap = "b";
	g.bootstrap_len = 1;
	spec_group_hash(&g, h2);
	ok(strcmp(h1, h2) != 0, "by hand: fields do not run into each other");
	g.image = NULL;
	g.bootstrap = NULL;
	g.bootstrap_len = 0;
	spec_group_hash(&g, h1);
	g.image = "";
	spec_group_hash(&g, h2);
	ok(strcmp(h1, h2) != 0, "by hand: no image is not an empty image");
}

int
main(void)
{
	char	*text, *h0, *h;

	plan_lazy();
	text = fleet_text(NULL, NULL);
	h0 = hash_of("base", text);
	free(text);

	/*
	 * The canonical form is pinned: the hash of base, worked out by
	 * hand with printf | sha256sum from the form hash.c describes.  If
	 * it changes, every running instance is replaced once on upgrade;
	 * change it only on purpose, with the version line.
	 */
	is_str(h0, "b2dfce0151a1e7d8a06cc81232bceab366a9963ab4571be334a492cf"
	    "84f9fcc9", "the canonical form is stable (v1)");

	h = hash_of("same group", same_group);
	is_str(h, h0, "key order, style, comments and quoting do not count");
	free(h);

	changes_check(h0);
	column_check();
	spellings_check();
	bootstrap_check(h0);
	by_hand_check();
	free(h0);
	return done_testing();
}
