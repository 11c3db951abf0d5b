/*
 * 1003: every directory under examples/ that holds fleet files loads
 * without an error, the way a user would load it (the whole directory,
 * with the providers we register).  A fleet file is a *.yaml or *.yml
 * with a top-level "fleet:" line; other YAML there (configs) is not one,
 * but a directory that holds a fleet file must load as a whole.
 */
#include <sys/stat.h>

#include <dirent.h>
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

static size_t	 ndirs;
static size_t	 nfleets;

static bool
is_fleet_file(const char *path)
{
	char	*text;
	bool	 yes;

	if (!str_has_suffix(path, ".yaml") && !str_has_suffix(path, ".yml")) {
		return false;
	}
	if (file_read(path, SPEC_MAX_FILE_BYTES, &text, NULL) == -1) {
		return true;	/* let the load say what is wrong */
	}
	yes = str_has_prefix(text, "fleet:") || strstr(text, "\nfleet:") !=
	    NULL;
	free(text);
	return yes;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_dir(const char *dir, const char *label)
{
	struct spec		*sp = NULL;
	struct spec_diags	 d;
	size_t			 i;

	if (!is_int(spec_load(&dir, 1, &opts, &sp, &d), 0, "%s loads",
	    label)) {
		for (i = 0; i < d.n; i++) {
			diag("%s:%d:%d: %s", d.v[i].file, d.v[i].line,
			    d.v[i].col, d.v[i].msg);
		}
	} else {
		ok(sp->nfleets > 0, "%s has fleets (%zu)", label,
		    sp->nfleets);
		nfleets += sp->nfleets;
	}
	ndirs++;
	spec_free(sp);
	spec_diags_release(&d);
}

/* Load dir if it holds a fleet file itself; then look below it. */
static void
walk(const char *dir, const char *label)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		**names = NULL, *path, *sub;
	size_t		 n = 0, i;
	bool		 holds = false;

	d = opendir(dir);
	if (d == NULL) {
		bail_out("cannot open %s", dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.') {
			continue;
		}
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), str_cmp);
	}
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    is_fleet_file(path)) {
			holds = true;
		}
		free(path);
	}
	if (holds) {
		load_dir(dir, label);
	}
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			sub = xasprintf("%s/%s", label, names[i]);
			walk(path, sub);
			free(sub);
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

int
main(void)
{
	char	*top;

	plan_lazy();
	top = test_src_path("examples");
	walk(top, "examples");
	ok(ndirs > 0, "examples/ holds fleet files (%zu directories)", ndirs);
	ok(nfleets > 0, "examples/ holds fleets (%zu)", nfleets);
	free(top);
	return done_testing();
}
