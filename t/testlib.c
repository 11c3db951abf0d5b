/*
 * testlib.c: see testlib.h.
 */
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/util.h"
#include "testlib.h"

static char	*tmpdir;
static pid_t	 tmpdir_owner;

static void
test_cleanup(void)
{
	if (tmpdir != NULL && getpid() == tmpdir_owner &&
	    getenv("GR_TEST_KEEP") == NULL)
		rmtree(tmpdir);
}

const char *
test_tmpdir(void)
{
	const char	*base;
	char		*t;

	if (tmpdir != NULL)
		return tmpdir;
	base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	t = xasprintf("%s/gr-test.XXXXXX", base);
	if (mkdtemp(t) == NULL)
		bail_out("mkdtemp %s: %s", t, strerror(errno));
	tmpdir = t;
	tmpdir_owner = getpid();
	atexit(test_cleanup);
	return tmpdir;
}

char *
test_src_path(const char *rel)
{
	const char	*top = getenv("GR_TOP");

	return xasprintf("%s/%s", top != NULL ? top : ".", rel);
}

const char *
test_bin(void)
{
	const char	*b = getenv("GR_BIN");

	return b != NULL ? b : "build/gpureconcile";
}

char *
test_write(const char *dir, const char *rel, const char *text)
{
	char	*path, *slash;

	path = xasprintf("%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_p(path, 0755) == -1)
		bail_out("mkdir %s: %s", path, strerror(errno));
	*slash = '/';
	if (file_write_atomic(path, text, strlen(text), 0644) == -1)
		bail_out("write %s: %s", path, strerror(errno));
	return path;
}

int
test_run(char **out, char **err, const char *fmt, ...)
{
	va_list		 ap;
	char		*cmd, *full, *ofile, *efile;
	const char	*dir = test_tmpdir();
	static int	 seq;
	int		 st;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	ofile = xasprintf("%s/.run%d.out", dir, seq);
	efile = xasprintf("%s/.run%d.err", dir, seq);
	seq++;
	full = xasprintf("( %s ) >'%s' 2>'%s' </dev/null", cmd, ofile, efile);
	fflush(stdout);
	st = system(full);
	if (out != NULL) {
		if (file_read(ofile, 64 << 20, out, NULL) == -1)
			*out = xstrdup("");
	}
	if (err != NULL) {
		if (file_read(efile, 64 << 20, err, NULL) == -1)
			*err = xstrdup("");
	}
	unlink(ofile);
	unlink(efile);
	free(full);
	free(cmd);
	free(ofile);
	free(efile);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}
