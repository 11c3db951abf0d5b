/*
 * 4004: pull from an instance's files (the local provider's way), with the
 * rules a remote pull needs: nothing written outside --local, no '..', no
 * symlink followed on either side, temp name then rename, identical files
 * skipped so an interrupted pull can be re-run.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectest.h"

static char *
slurp(const char *path)
{
	char	*s;

	if (file_read(path, 1 << 20, &s, NULL) == -1)
		return NULL;
	return s;
}

int
main(void)
{
	const char		*top = test_tmpdir();
	char			*root, *dst, *p, *s;
	struct pull_stats	 st;
	struct gr_err		 e;
	struct stat		 sb;
	int			 rc;

	plan_lazy();
	root = xasprintf("%s/inst", top);
	free(test_write(root, "out.txt", "hello\n"));
	free(test_write(root, "results/a/log.txt", "epoch 1\n"));
	free(test_write(root, "results/b.bin", "xyz"));
	p = xasprintf("%s/secret", top);
	free(test_write(top, "secret", "outside the instance\n"));
	s = xasprintf("%s/results/escape", root);
	ok(symlink(p, s) == 0, "an absolute symlink out of the tree");
	free(s);
	s = xasprintf("%s/results/up", root);
	ok(symlink("../../secret", s) == 0, "a relative symlink out of it");
	free(s);
	free(p);

	/* a file into a path, a directory, and a dir given with '/' */
	dst = xasprintf("%s/d1/got.txt", top);
	gr_err_clear(&e);
	rc = pull_local_tree(root, "out.txt", dst, 60000, &st, &e);
	is_int(rc, 0, "file to a path: %s", e.msg);
	s = slurp(dst);
	is_str(s, "hello\n", "file to a path: content");
	free(s);
	free(dst);
	dst = xasprintf("%s/d2/", top);
	rc = pull_local_tree(root, "/out.txt", dst, 60000, &st, &e);
	is_int(rc, 0, "file into 'dir/' (made): %s", e.msg);
	free(dst);
	dst = xasprintf("%s/d2/out.txt", top);
	s = slurp(dst);
	is_str(s, "hello\n", "file into 'dir/': keeps its name");
	free(s);
	free(dst);

	/* a tree: symlinks skipped, nothing outside written */
	dst = xasprintf("%s/tree", top);
	rc = pull_local_tree(root, "results", dst, 60000, &st, &e);
	is_int(rc, 0, "tree: %s", e.msg);
	is_int((long long)st.files, 2, "tree: 2 files");
	is_int((long long)st.symlinks_skipped, 2, "tree: 2 symlinks skipped");
	p = xasprintf("%s/a/log.txt", dst);
	s = slurp(p);
	is_str(s, "epoch 1\n", "tree: nested file");
	free(s);
	free(p);
	p = xasprintf("%s/escape", dst);
	ok(lstat(p, &sb) == -1 && errno == ENOENT, "tree: no symlink copied");
	free(p);

	/* resume: identical files are skipped */
	rc = pull_local_tree(root, "results", dst, 60000, &st, &e);
	is_int(rc, 0, "re-run: ok");
	is_int((long long)st.files, 0, "re-run: nothing written");
	is_int((long long)st.skipped, 2, "re-run: 2 unchanged");
	free(test_write(root, "results/b.bin", "xyzw"));
	rc = pull_local_tree(root, "results", dst, 60000, &st, &e);
	is_int((long long)st.files, 1, "re-run after a change: 1 written");

	/* '..' refused, a symlink as the remote refused */
	rc = pull_local_tree(root, "results/../../secret", dst, 60000, &st,
	    &e);
	ok(rc == -1 && strstr(e.msg, "..") != NULL, "'..' is refused");
	rc = pull_local_tree(root, "results/escape", dst, 60000, &st, &e);
	ok(rc == -1, "a symlink named as remote is refused: %s", e.msg);
	rc = pull_local_tree(root, "nope.txt", dst, 60000, &st, &e);
	ok(rc == -1 && e.code == GR_E_NOT_FOUND, "a missing remote: NOT_FOUND");

	/* a destination directory that is a symlink out: not written */
	p = xasprintf("%s/tree2", top);
	ok(mkdir(p, 0755) == 0, "a second tree");
	s = xasprintf("%s/a", p);
	ok(symlink(top, s) == 0, "its 'a' is a symlink out");
	free(s);
	rc = pull_local_tree(root, "results", p, 60000, &st, &e);
	ok(rc == -1 && strstr(e.msg, "not a plain directory") != NULL,
	    "a symlinked destination directory is refused: %s", e.msg);
	s = xasprintf("%s/log.txt", top);
	ok(access(s, F_OK) == -1, "nothing was written through it");
	free(s);
	free(p);

	/* a timeout mid-pull leaves no partial file under the real name */
	rc = pull_local_tree(root, "out.txt", dst, -1, &st, &e);
	ok(rc == -1 && e.code == GR_E_TIMEOUT, "an expired pull times out");
	like(e.hint, "again", "and says to run it again");
	free(dst);
	free(root);
	return done_testing();
}
