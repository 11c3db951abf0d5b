/*
 * git.c: which commit a fleet file was read from, for the audit trail.
 *
 * We ask the git program rather than read .git ourselves: worktrees,
 * packed refs, SHA-256 repositories and dirty checks are its business.
 * It runs without a shell, with a deadline, in a scrubbed environment
 * (no API key of ours reaches it), with optional locks off so that it
 * never takes index.lock under a user's own git command, and with the
 * fsmonitor hook off so that reading a commit runs nothing from the
 * repository's config.  git's own refusal of a repository owned by
 * someone else is respected: that file is then "not in git".
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define GIT_TIMEOUT_MS	5000

static char *git_prog = NULL;	/* NULL: "git" on PATH */

void
git_set_program(const char *prog)
{
	free(git_prog);
	git_prog = prog != NULL ? xstrdup(prog) : NULL;
}

/* Run git -C dir ARGS...; its stdout in *out (owned) on exit 0. */
static int
git_run(const char *dir, const char *const *args, char **out)
{
	struct proc_result	 res;
	const char		*path = getenv("PATH");
	const char		*home = getenv("HOME");
	char			*argv[16], *envp[8];
	size_t			 n = 0, m = 0, i;
	int			 rc;

	*out = NULL;
	argv[n++] = git_prog != NULL ? git_prog : (char *)"git";
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)"core.fsmonitor=false";
	argv[n++] = (char *)"-C";
	argv[n++] = (char *)dir;
	for (i = 0; args[i] != NULL && n < nitems(argv) - 1; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	envp[m++] = xasprintf("PATH=%s", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin");
	if (home != NULL)
		envp[m++] = xasprintf("HOME=%s", home);
	envp[m++] = xstrdup("LC_ALL=C");
	envp[m++] = xstrdup("GIT_OPTIONAL_LOCKS=0");
	envp[m++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	envp[m] = NULL;
	rc = proc_run(argv, envp, GIT_TIMEOUT_MS, 1 << 20, &res);
	for (i = 0; i < m; i++)
		free(envp[i]);
	if (rc == 0)
		*out = xstrdup(buf_str(&res.out));
	proc_result_release(&res);
	return rc;
}

static bool
is_object_id(const char *s, size_t n)
{
	size_t	 i;

	if (n != 40 && n != 64)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

char *
git_describe(const char *path)
{
	static const char *const head[] = { "rev-parse", "--verify",
	    "--quiet", "HEAD^{commit}", NULL };
	struct stat	 sb;
	const char	*status[9];
	char		*copy, *dir, *spec = NULL, *out = NULL, *res = NULL;
	size_t		 n;

	copy = xstrdup(path);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		dir = copy;
		spec = xstrdup(":(literal).");
	} else {
		char	*base = xstrdup(path);

		dir = dirname(copy);
		spec = xasprintf(":(literal)%s", basename(base));
		free(base);
	}
	if (git_run(dir, head, &out) == -1)
		goto out;
	n = strcspn(out, "\n");
	if (!is_object_id(out, n))
		goto out;
	res = xstrndup(out, n);
	free(out);
	out = NULL;
	status[0] = "status";
	status[1] = "--porcelain";
	status[2] = "--untracked-files=all";
	status[3] = "--ignore-submodules=dirty";
	status[4] = "--";
	status[5] = spec;
	status[6] = NULL;
	/* a status we cannot get is not called clean */
	if (git_run(dir, status, &out) == -1 || *out != '\0') {
		char	*d = xasprintf("%s+dirty", res);

		free(res);
		res = d;
	}

out:
	free(out);
	free(spec);
	free(copy);
	return res;
}
