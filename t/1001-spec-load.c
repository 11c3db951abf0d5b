/*
 * 1001: loading fleet files.  Every malformed case in t/data/spec/bad/
 * (NAME.yaml, or a directory NAME/) fails with exactly the diags its
 * NAME.expect lists; the limits too big for a fixture are made in a temp
 * dir; the files in t/data/spec/good/ load to the values they say,
 * field by field.
 *
 * An .expect line is "[FILE:]LINE:COL: TEXT": some diag must be at that
 * line and column (0:0 for the whole file), contain TEXT (where TEXT has
 * " ... ", each part, in order), and, when FILE is given, come from a
 * file of that name.  Lines starting with '#' are comments.  The number
 * of diags must equal the number of lines.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
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

struct want {
	char	*file;		/* base name, or NULL: any */
	int	 line, col;
	char	*text;
};

static void
wants_free(struct want *w, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(w[i].file);
		free(w[i].text);
	}
	free(w);
}

/* One "[FILE:]LINE:COL: TEXT" line into w; false if it does not parse. */
static bool
want_parse(const char *line, struct want *w)
{
	const char	*p = line, *colon;
	char		*end;

	memset(w, 0, sizeof(*w));
	if (*p < '0' || *p > '9') {
		colon = strchr(p, ':');
		if (colon == NULL) {
			return false;
		}
		w->file = xstrndup(p, (size_t)(colon - p));
		p = colon + 1;
	}
	w->line = (int)strtol(p, &end, 10);
	if (end == p || *end != ':') {
		goto bad;
	}
	p = end + 1;
	w->col = (int)strtol(p, &end, 10);
	if (end == p || end[0] != ':' || end[1] != ' ') {
		goto bad;
	}
	w->text = xstrdup(end + 2);
	return true;
bad:
	free(w->file);
	w->file = NULL;
	return false;
}

static struct want *
wants_read(const char *path, size_t *np)
{
	struct want	*w = NULL;
	char		*text, *line, *next;
	size_t		 n = 0;

	if (file_read(path, 1 << 20, &text, NULL) == -1) {
		bail_out("cannot read %s", path);
	}
	for (line = text; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		if (*line == '\0' || *line == '#') {
			continue;
		}
		w = xreallocarray(w, n + 1, sizeof(*w));
		if (!want_parse(line, &w[n])) {
			bail_out("%s: bad line '%s'", path, line);
		}
		n++;
	}
	free(text);
	*np = n;
	return w;
}

/* msg contains each " ... "-separated part of want, in order. */
static bool
text_match(const char *msg, const char *want)
{
	static const char	 sep[] = " ... ";
	const char		*part = want, *end, *at = msg;
	char			*p;

	for (;;) {
		end = strstr(part, sep);
		p = end != NULL ? xstrndup(part, (size_t)(end - part)) :
		    xstrdup(part);
		at = strstr(at, p);
		if (at != NULL) {
			at += strlen(p);
		}
		free(p);
		if (at == NULL) {
			return false;
		}
		if (end == NULL) {
			return true;
		}
		part = end + strlen(sep);
	}
}

static const char *
base_name(const char *path)
{
	const char	*s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/*
 * Load paths; the load must fail with exactly the diags in w, in any
 * order.
 */
static void
check_fails(const char *label, const char *const *paths, size_t npaths,
    const struct want *w, size_t nw)
{
	struct spec		*sp = (struct spec *)1;
	struct spec_diags	 d;
	const struct spec_diag	*x;
	bool			*used, found, all = true;
	size_t			 i, j;
	int			 rc;

	rc = spec_load(paths, npaths, &opts, &sp, &d);
	ok(rc == -1 && sp == NULL, "%s: load fails with no spec", label);
	used = xcalloc(d.n + 1, sizeof(*used));
	for (i = 0; i < nw; i++) {
		found = false;
		for (j = 0; j < d.n && !found; j++) {
			x = &d.v[j];
			if (used[j] || x->line != w[i].line ||
			    x->col != w[i].col ||
			    !text_match(x->msg, w[i].text) ||
			    (w[i].file != NULL &&
			    strcmp(base_name(x->file), w[i].file) != 0)) {
				continue;
			}
			used[j] = true;
			found = true;
		}
		all &= ok(found, "%s: %s%s%d:%d: %s", label,
		    w[i].file != NULL ? w[i].file : "",
		    w[i].file != NULL ? ":" : "", w[i].line, w[i].col,
		    w[i].text);
	}
	all &= is_int((long long)d.n, (long long)nw, "%s: %zu diags", label,
	    nw);
	if (!all) {
		for (j = 0; j < d.n; j++) {
			diag("got %s:%d:%d: %s", d.v[j].file, d.v[j].line,
			    d.v[j].col, d.v[j].msg);
		}
	}
	free(used);
	spec_diags_release(&d);
	spec_free(rc == 0 ? sp : NULL);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The bad/ cases, each NAME.expect with NAME.yaml or the directory NAME. */
static void
bad_cases(void)
{
	char		*dir, **names = NULL, *exp, *path, *label;
	DIR		*d;
	struct dirent	*de;
	struct want	*w;
	struct stat	 st;
	size_t		 n = 0, nw, i, nyaml = 0, nmissing = 0;

	dir = test_src_path("t/data/spec/bad");
	d = opendir(dir);
	if (d == NULL) {
		bail_out("cannot open %s", dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (str_has_suffix(de->d_name, ".expect")) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrndup(de->d_name,
			    strlen(de->d_name) - strlen(".expect"));
		} else if (str_has_suffix(de->d_name, ".yaml")) {
			nyaml++;
			path = xasprintf("%s/%.*s.expect", dir,
			    (int)(strlen(de->d_name) - strlen(".yaml")),
			    de->d_name);
			if (stat(path, &st) == -1) {
				diag("no .expect for bad/%s", de->d_name);
				nmissing++;
			}
			free(path);
		}
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), str_cmp);
	}
	ok(n >= 35, "at least 35 bad cases (%zu)", n);
	ok(nmissing == 0, "each of the %zu bad/*.yaml has an .expect", nyaml);

	for (i = 0; i < n; i++) {
		exp = xasprintf("%s/%s.expect", dir, names[i]);
		path = xasprintf("%s/%s.yaml", dir, names[i]);
		if (stat(path, &st) == -1) {
			free(path);
			path = xasprintf("%s/%s", dir, names[i]);
		}
		label = xasprintf("bad/%s", names[i]);
		w = wants_read(exp, &nw);
		check_fails(label, (const char *const *)&path, 1, w, nw);
		wants_free(w, nw);
		free(label);
		free(path);
		free(exp);
		free(names[i]);
	}
	free(names);
	free(dir);
}

/* Env pairs that bring a fleet_with() file to exactly SPEC_MAX_NODES. */
#define NODES_PAIRS	((SPEC_MAX_NODES - 18) / 2)

static const char group_tail[] =
	"    count: 1\n"
	"    provider: fake\n"
	"    gpu: T4\n"
	"    max_price_per_hour: 0.50\n";

/* A one-group fleet file whose last key is extra. */
static char *
fleet_with(const char *fleet, const char *extra)
{
	return xasprintf("fleet: %s\ngroups:\n  - name: g\n%s%s", fleet,
	    group_tail, extra);
}

/* A made-up case in the temp dir: one path, one wanted diag. */
static void
made_case(const char *label, const char *path, const char *want)
{
	struct want	 w;

	if (!want_parse(want, &w)) {
		bail_out("%s: bad want '%s'", label, want);
	}
	check_fails(label, &path, 1, &w, 1);
	free(w.file);
	free(w.text);
}

/* The limits too large for a fixture, and paths that are not there. */
static void
made_cases(void)
{
	const char	*tmp = test_tmpdir();
	struct buf	 b = BUF_INIT;
	char		*path, *p, *dir, *text;
	size_t		 i;

	/* A file one byte over SPEC_MAX_FILE_BYTES: a long comment. */
	buf_adds(&b, "fleet: big\n#");
	while (b.len < SPEC_MAX_FILE_BYTES) {
		buf_adds(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	}
	b.len = SPEC_MAX_FILE_BYTES;
	buf_adds(&b, "\n");
	path = test_write(tmp, "made/too-big.yaml", buf_str(&b));
	made_case("made/too-big", path, "0:0: file is larger than 1048576 "
	    "bytes");
	free(path);
	buf_reset(&b);

	/*
	 * SPEC_MAX_NODES + 1 nodes: 18 before the env pairs (the maps,
	 * the list and each key and value count), then two per pair.
	 */
	buf_adds(&b, "fleet: nodes\ngroups:\n  - name: g\n");
	buf_adds(&b, group_tail);
	buf_adds(&b, "    env:\n");
	for (i = 0; i < NODES_PAIRS + 1; i++) {
		buf_addf(&b, "      V%zu: x\n", i);
	}
	path = test_write(tmp, "made/nodes.yaml", buf_str(&b));
	made_case("made/nodes", path, "10000:7: more than 20000 YAML nodes");
	free(path);
	buf_reset(&b);

	/* The same with exactly SPEC_MAX_NODES nodes loads. */
	buf_adds(&b, "fleet: nodes\ngroups:\n  - name: g\n");
	buf_adds(&b, group_tail);
	buf_adds(&b, "    env:\n");
	for (i = 0; i < NODES_PAIRS; i++) {
		buf_addf(&b, "      V%zu: x\n", i);
	}
	path = test_write(tmp, "made/nodes-ok.yaml", buf_str(&b));
	{
		struct spec		*sp;
		struct spec_diags	 d;
		const char		*pp = path;

		is_int(spec_load(&pp, 1, &opts, &sp, &d), 0,
		    "made/nodes-ok: 20000 nodes load");
		is_int((long long)(sp != NULL ? sp->fleets[0].groups[0].nenv :
		    0), NODES_PAIRS, "made/nodes-ok: every env kept");
		spec_free(sp);
		spec_diags_release(&d);
	}
	free(path);
	buf_reset(&b);

	/* A bootstrap file one byte over SPEC_MAX_BOOTSTRAP. */
	text = xcalloc(1, SPEC_MAX_BOOTSTRAP + 2);
	memset(text, '#', SPEC_MAX_BOOTSTRAP + 1);
	free(test_write(tmp, "made/boot/big.sh", text));
	p = fleet_with("boot", "    bootstrap: {file: big.sh}\n");
	path = test_write(tmp, "made/boot/fleet.yaml", p);
	made_case("made/bootstrap-too-big", path, "8:23: bootstrap file "
	    "'big.sh' is larger than 262144 bytes");
	free(path);
	free(p);

	/* An inline bootstrap one byte over, as a double-quoted scalar. */
	buf_adds(&b, "    bootstrap: {inline: \"");
	buf_adds(&b, text);
	buf_adds(&b, "\"}\n");
	p = fleet_with("boot", buf_str(&b));
	path = test_write(tmp, "made/inline-big.yaml", p);
	made_case("made/inline-too-big", path, "8:25: inline bootstrap is "
	    "larger than 262144 bytes");
	free(path);
	free(p);
	free(text);
	buf_reset(&b);

	/* SPEC_MAX_FILES + 1 files in one directory. */
	for (i = 0; i <= SPEC_MAX_FILES; i++) {
		p = xasprintf("made/many/f%04zu.yaml", i);
		free(test_write(tmp, p, "fleet: x\n"));
		free(p);
	}
	dir = xasprintf("%s/made/many", tmp);
	made_case("made/too-many-files", dir, "f1000.yaml:0:0: more than "
	    "1000 fleet files");
	free(dir);

	/* A path that does not exist, and one that is not a file. */
	path = xasprintf("%s/made/no-such-dir", tmp);
	p = xasprintf("0:0: fleet path '%s' does not exist", path);
	made_case("made/no-such-path", path, p);
	free(p);
	free(path);
	made_case("made/not-a-file", "/dev/null", "0:0: fleet path "
	    "'/dev/null' is not a file or a directory");
	buf_release(&b);
}

static void
good_full(const struct spec *sp)
{
	const struct fleet_spec	*f;
	const struct group_spec	*g;
	char			*boot;

	f = spec_fleet(sp, "training");
	if (!ok(f != NULL, "good/full: fleet 'training'")) {
		return;
	}
	ok(str_has_suffix(f->file, "/t/data/spec/good/full.yaml") &&
	    f->file[0] == '/', "good/full: fleet file is absolute");
	ok(f->has_budget, "good/full: has a budget");
	is_int(f->max_per_hour, 4 * MONEY_UNIT, "good/full: budget 4.00");
	is_int(f->line, 2, "good/full: fleet line");
	is_int(f->col, 8, "good/full: fleet col");
	is_int((long long)f->ngroups, 2, "good/full: two groups");

	g = spec_group(f, "trainer");
	if (!ok(g != NULL, "good/full: group 'trainer'")) {
		return;
	}
	is_str(g->name, "trainer", "good/full: trainer name");
	is_int(g->count, 2, "good/full: trainer count");
	is_int((long long)g->nproviders, 2, "good/full: trainer 2 providers");
	is_str(g->providers[0], "vastai", "good/full: trainer provider 1");
	is_str(g->providers[1], "runpod", "good/full: trainer provider 2");
	is_str(g->gpu.type, "A100_80GB", "good/full: trainer gpu type");
	is_int(g->gpu.count, 2, "good/full: trainer gpu count");
	is_int(g->gpu.min_vram_gb, 80, "good/full: trainer min_vram_gb");
	is_int(g->max_price, 700000, "good/full: trainer max price");
	is_int(g->disk_gb, 80, "good/full: trainer disk_gb");
	is_str(g->image, "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime",
	    "good/full: trainer image");
	is_int((long long)g->nregions, 2, "good/full: trainer 2 regions");
	is_str(g->regions[0], "US", "good/full: trainer region 1");
	is_str(g->regions[1], "CA", "good/full: trainer region 2");
	ok(g->spot, "good/full: trainer spot");
	is_int(g->ttl_s, 5400, "good/full: trainer ttl 1h30m");
	is_int(g->state, GROUP_STOPPED, "good/full: trainer stopped");
	is_str(g->bootstrap, "#!/bin/sh\necho train\n",
	    "good/full: trainer bootstrap text read at load");
	is_int((long long)g->bootstrap_len, 21,
	    "good/full: trainer bootstrap length");
	is_str(g->bootstrap_src, "bootstrap/trainer.sh",
	    "good/full: trainer bootstrap_src as written");
	is_int((long long)g->nenv, 4, "good/full: trainer 4 env");
	if (g->nenv == 4) {
		is_str(g->env[0].key, "A_FIRST", "good/full: env sorted 1");
		is_str(g->env[0].value, "first", "good/full: env value 1");
		is_str(g->env[1].key, "EMPTY", "good/full: env sorted 2");
		is_str(g->env[1].value, "", "good/full: env empty value");
		is_str(g->env[2].key, "PYTHONUNBUFFERED",
		    "good/full: env sorted 3");
		is_str(g->env[2].value, "1", "good/full: env number as text");
		is_str(g->env[3].key, "WANDB_PROJECT",
		    "good/full: env sorted 4");
	}
	is_int(g->line, 6, "good/full: trainer line");
	is_int(g->col, 5, "good/full: trainer col");
	is_int((long long)strlen(g->hash), 64, "good/full: trainer hashed");
	{
		char	 h[65];

		spec_group_hash(g, h);
		is_str(g->hash, h, "good/full: hash filled at load");
	}

	g = spec_group(f, "eval");
	if (!ok(g != NULL, "good/full: group 'eval'")) {
		return;
	}
	is_int(g->count, 0, "good/full: eval count 0");
	is_int((long long)g->nproviders, 1, "good/full: eval one provider");
	is_str(g->providers[0], "lambda", "good/full: eval provider");
	is_str(g->gpu.type, "RTX_4090", "good/full: eval gpu scalar");
	is_int(g->gpu.count, 1, "good/full: eval gpu count default 1");
	is_int(g->max_price, 350000, "good/full: eval quoted amount");
	boot = "echo hello\nexec sleep infinity\n";
	is_str(g->bootstrap, boot, "good/full: eval inline bootstrap");
	is_int((long long)g->bootstrap_len, (long long)strlen(boot),
	    "good/full: eval inline length");
	is_str(g->bootstrap_src, "inline", "good/full: eval bootstrap_src");
	ok(spec_group(f, "nope") == NULL, "good/full: no group 'nope'");
}

static void
good_minimal(const struct spec *sp)
{
	const struct fleet_spec	*f;
	const struct group_spec	*g;

	f = spec_fleet(sp, "cpu-only");
	if (!ok(f != NULL && f->ngroups == 1, "good/minimal: one group")) {
		return;
	}
	g = &f->groups[0];
	ok(!f->has_budget, "good/minimal: no budget");
	is_int(f->max_per_hour, 0, "good/minimal: no cap");
	is_str(g->name, "w", "good/minimal: flow-style group");
	is_str(g->gpu.type, GPU_CPU, "good/minimal: CPU");
	is_int(g->gpu.count, 0, "good/minimal: CPU has 0 GPUs");
	is_int(g->gpu.min_vram_gb, 0, "good/minimal: min_vram_gb default");
	is_int(g->max_price, 0, "good/minimal: max price 0");
	is_int(g->disk_gb, 20, "good/minimal: disk_gb default 20");
	ok(g->image == NULL, "good/minimal: no image");
	is_int((long long)g->nregions, 0, "good/minimal: anywhere");
	ok(!g->spot, "good/minimal: spot default false");
	is_int(g->ttl_s, 0, "good/minimal: no ttl");
	is_int(g->state, GROUP_RUNNING, "good/minimal: state default");
	ok(g->bootstrap == NULL && g->bootstrap_src == NULL,
	    "good/minimal: no bootstrap");
	is_int((long long)g->nenv, 0, "good/minimal: no env");
}

static void
good_nested(const struct spec *sp)
{
	const struct fleet_spec	*f;
	const struct group_spec	*g;

	f = spec_fleet(sp, "nested");
	if (!ok(f != NULL && f->ngroups == 2, "good/nested: found in sub/")) {
		return;
	}
	g = &f->groups[0];
	is_int(g->gpu.count, 0, "good/nested: {type: CPU} has 0 GPUs");
	is_int(g->max_price, 1, "good/nested: one micro-dollar");
	g = &f->groups[1];
	is_int(g->count, SPEC_MAX_COUNT, "good/nested: count at the limit");
	is_int((long long)g->nproviders, 1, "good/nested: block list");
	is_int(g->gpu.count, 8, "good/nested: 8 GPUs");
	is_int(g->max_price, MONEY_MAX, "good/nested: largest amount");
	is_int(g->disk_gb, 100000, "good/nested: largest disk");
	is_int(g->ttl_s, 365LL * 86400, "good/nested: longest ttl");
}

static void
good_cases(void)
{
	struct spec		*sp = NULL;
	struct spec_diags	 d;
	char			*dir, *real, *p, *file;
	const char		*paths[3];
	size_t			 i;

	dir = test_src_path("t/data/spec/good");
	paths[0] = dir;
	if (!is_int(spec_load(paths, 1, &opts, &sp, &d), 0,
	    "good/: the directory loads")) {
		spec_diags_print(&d, stdout);
		bail_out("good/ does not load");
	}
	is_int((long long)d.n, 0, "good/: no diags");
	is_int((long long)sp->nfleets, 3, "good/: three fleets (hidden "
	    "files and directories skipped)");
	for (i = 0; i + 1 < sp->nfleets; i++) {
		ok(strcmp(sp->fleets[i].name, sp->fleets[i + 1].name) < 0,
		    "good/: fleets sorted by name (%zu)", i);
	}
	real = realpath(dir, NULL);
	is_int((long long)sp->nroots, 1, "good/: one root");
	is_str(sp->roots[0], real, "good/: the root is the realpath");

	file = xasprintf("%s/full.yaml", real);
	ok(spec_covers_file(sp, file), "covers a file in the root");
	free(file);
	file = xasprintf("%s/sub/new.yaml", real);
	ok(spec_covers_file(sp, file), "covers a file in a subdirectory");
	free(file);
	ok(spec_covers_file(sp, real), "covers the root itself");
	file = xasprintf("%s-other/x.yaml", real);
	ok(!spec_covers_file(sp, file), "not a sibling sharing a prefix");
	free(file);
	ok(!spec_covers_file(sp, "/etc/passwd"), "not a file elsewhere");

	good_full(sp);
	good_minimal(sp);
	good_nested(sp);
	ok(spec_fleet(sp, "nope") == NULL, "no fleet 'nope'");
	spec_free(sp);
	spec_diags_release(&d);

	/* The same files named one by one, and a root that is a file. */
	paths[0] = p = xasprintf("%s/full.yaml", dir);
	paths[1] = file = xasprintf("%s/sub/nested.yml", dir);
	paths[2] = p;
	is_int(spec_load(paths, 3, &opts, &sp, &d), 0,
	    "files named one by one load (one of them twice)");
	if (sp != NULL) {
		is_int((long long)sp->nfleets, 2, "a file named twice is "
		    "read once");
		is_int((long long)sp->nroots, 2, "a root named twice is kept "
		    "once");
		is_str(sp->fleets[0].name, "nested", "sorted: nested first");
		free(p);
		p = xasprintf("%s/full.yaml", real);
		ok(spec_covers_file(sp, p), "covers a root file");
		free(p);
		p = xasprintf("%s/minimal.yaml", real);
		ok(!spec_covers_file(sp, p), "not a file beside a root file");
	}
	free(p);
	free(file);
	spec_free(sp);
	spec_diags_release(&d);

	/* An empty directory is a valid spec with no fleets. */
	p = xasprintf("%s/empty-dir", test_tmpdir());
	if (mkdir_p(p, 0755) == -1) {
		bail_out("mkdir %s", p);
	}
	paths[0] = p;
	is_int(spec_load(paths, 1, NULL, &sp, &d), 0, "an empty directory "
	    "loads");
	is_int(sp != NULL ? (long long)sp->nfleets : -1, 0,
	    "an empty directory has no fleets");
	spec_free(sp);
	spec_diags_release(&d);
	free(p);

	/* Without provider names, any provider is accepted. */
	p = xasprintf("fleet: anyprov\ngroups:\n  - {name: g, count: 1, "
	    "provider: my-cloud, gpu: T4, max_price_per_hour: 1}\n");
	file = test_write(test_tmpdir(), "anyprov/f.yaml", p);
	paths[0] = file;
	is_int(spec_load(paths, 1, NULL, &sp, &d), 0, "no opts: provider "
	    "names are not checked");
	spec_free(sp);
	spec_diags_release(&d);
	{
		struct spec_opts	 none = { NULL, 0 };

		is_int(spec_load(paths, 1, &none, &sp, &d), 0,
		    "nproviders 0: provider names are not checked");
		spec_free(sp);
		spec_diags_release(&d);
	}
	free(p);
	free(file);
	free(real);
	free(dir);
}

int
main(void)
{
	plan_lazy();
	bad_cases();
	made_cases();
	good_cases();
	return done_testing();
}
