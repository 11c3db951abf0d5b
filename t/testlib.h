/*
 * testlib.h: helpers shared by the C tests: a private temp dir removed at
 * exit (even when a test fails), paths to the sources and the binary,
 * and running the CLI.
 */
#ifndef GR_TESTLIB_H
#define GR_TESTLIB_H

#include <stddef.h>

#include "tap.h"

/* A fresh directory under $TMPDIR, removed at exit; borrowed. */
const char *test_tmpdir(void);
/* $GR_TOP/rel (the source tree); owned by caller. */
char	*test_src_path(const char *rel);
/* Path of the built gpureconcile binary; borrowed. */
const char *test_bin(void);
/* Write a file under dir (mkdir -p as needed); path owned by caller. */
char	*test_write(const char *dir, const char *rel, const char *text);
/*
 * Run a shell command line; stdout and stderr captured (owned by caller,
 * may be NULL to discard).  Returns the exit status, or -1.
 */
int	 test_run(char **out, char **err, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
