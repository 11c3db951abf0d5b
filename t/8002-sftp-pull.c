/*
 * 8002-sftp-pull: pull over SFTP from a real sshd (a local instance with
 * ssh: true).
 *
 * What a real sshd can serve is what a real file system holds: a file
 * literally named '..', or a name with a '/', cannot be made, so the
 * name rules for those are checked on pull_name_check directly, which the
 * walker applies to every name a server lists.  Against the server: a
 * file named '..foo' and dot files are pulled, a name with a newline is
 * refused (skipped, counted), symlinks in the tree (pointing inside it,
 * out of it, absolute) are skipped and never followed, a symlink named as
 * the remote is refused, a symlinked destination directory is refused, a
 * 64 MiB file arrives with its SHA-256, re-runs skip identical files
 * (size and mtime), the pull timeout gives up cleanly, a pull killed
 * halfway is finished by the next run, and a changed host key stops the
 * pull before anything is written.
 */
#include <limits.h>
#include <openssl/evp.h>

#include <fcntl.h>

#include "sshtest.h"

#define BIG	(64u << 20)

static char *
file_sha256(const char *path)
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned char	 buf[1 << 16], md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;
	char		*hex;
	size_t		 r;
	FILE		*f = fopen(path, "rb");

	if (f == NULL || ctx == NULL)
		return xstrdup("missing");
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, r);
	EVP_DigestFinal_ex(ctx, md, &n);
	fclose(f);
	EVP_MD_CTX_free(ctx);
	hex = xmalloc(2 * n + 1);
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* 64 MiB of xorshift bytes: nothing compresses or repeats. */
static void
write_big(const char *path)
{
	uint64_t	 x = 0x9e3779b97f4a7c15ull, *v;
	size_t		 i, n = BIG / sizeof(*v);
	FILE		*f;

	v = xmalloc(BIG);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = x;
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(v, 1, BIG, f) != BIG || fclose(f) != 0)
		bail_out("write %s", path);
	free(v);
}

static bool
exists(const char *dir, const char *rel)
{
	struct stat	 sb;
	char		*p = xasprintf("%s/%s", dir, rel);
	bool		 yes = lstat(p, &sb) == 0;

	free(p);
	return yes;
}

static off_t
size_of(const char *dir, const char *rel)
{
	struct stat	 sb;
	char		*p = xasprintf("%s/%s", dir, rel);
	off_t		 n = lstat(p, &sb) == 0 ? sb.st_size : -1;

	free(p);
	return n;
}

static int
pull(const struct sshinst *si, const char *remote, const char *local,
    int64_t timeout_ms, struct pull_stats *st, struct gr_err *e)
{
	struct ssh_target	 t;
	struct ssh_conn		*c;
	int			 rc;

	sshtest_target(si, &t);
	gr_err_clear(e);
	memset(st, 0, sizeof(*st));
	if (ssh_connect(&t, &c, e) == -1)
		return -1;
	rc = pull_ssh_tree(c, remote, local, timeout_ms, st, e);
	ssh_close(c);
	return rc;
}

/* A wall clock that is stepped by step_ms right after it is first read. */
struct stepped {
	int64_t	 step_ms;
	int	 calls;
};

static int64_t
stepped_now(void *arg)
{
	struct stepped	*sc = arg;

	return 1700000000000 + (sc->calls++ == 0 ? 0 : sc->step_ms);
}

static void
stepped_sleep(void *arg, int64_t ms)
{
	(void)arg;
	(void)ms;
}

static void
names(void)
{
	is_int(pull_name_check("..", 2), PULL_NAME_HOSTILE, "name '..': "
	    "hostile");
	is_int(pull_name_check(".", 1), PULL_NAME_HOSTILE, "name '.': "
	    "hostile");
	is_int(pull_name_check("", 0), PULL_NAME_HOSTILE, "empty name: "
	    "hostile");
	is_int(pull_name_check("../etc", 6), PULL_NAME_HOSTILE, "name "
	    "'../etc': hostile");
	is_int(pull_name_check("/etc/passwd", 11), PULL_NAME_HOSTILE,
	    "an absolute name: hostile");
	is_int(pull_name_check("a/b", 3), PULL_NAME_HOSTILE, "a name with "
	    "'/': hostile");
	is_int(pull_name_check("ok\0/../x", 8), PULL_NAME_HOSTILE, "a NUL "
	    "inside the name as sent: hostile");
	is_int(pull_name_check("bad\nname", 8), PULL_NAME_ODD, "a newline: "
	    "odd, skipped");
	is_int(pull_name_check("del\x7f", 4), PULL_NAME_ODD, "DEL: odd");
	is_int(pull_name_check("..foo", 5), PULL_NAME_OK, "'..foo' is a "
	    "plain name");
	is_int(pull_name_check("a..b", 4), PULL_NAME_OK, "'a..b' too");
	is_int(pull_name_check(".hidden", 7), PULL_NAME_OK, "dot files too");
	is_int(pull_name_check("caf\xc3\xa9", 5), PULL_NAME_OK, "UTF-8 too");
	{
		char	 longn[NAME_MAX + 2];

		memset(longn, 'a', sizeof(longn) - 1);
		longn[NAME_MAX] = '\0';
		is_int(pull_name_check(longn, NAME_MAX), PULL_NAME_OK,
		    "a name of NAME_MAX bytes is a plain name");
		longn[NAME_MAX] = 'a';
		longn[NAME_MAX + 1] = '\0';
		is_int(pull_name_check(longn, NAME_MAX + 1), PULL_NAME_ODD,
		    "a longer one (no file here can have it) is skipped, "
		    "not a reason to stop the pull");
	}
}

/*
 * A file swapped for a FIFO between its listing and its open (the local
 * source, pulling from this machine): the open must not block forever.
 * One process swaps them by rename as fast as it can while another pulls
 * for 2 s; the puller is killed, and the test fails, if it hangs.
 */
static void
fifo_race(void)
{
	char	*base = xasprintf("%s/race", test_tmpdir());
	char	*src = xasprintf("%s/tree/src", base), *x, *reg, *fifo;
	char	*t1, *t2, *dst = xasprintf("%s/dst", base);
	pid_t	 swapper, puller;
	int64_t	 t0;
	int	 status = 0, i;
	bool	 hung = false;

	if (mkdir_p(src, 0755) == -1 || mkdir_p(dst, 0755) == -1)
		bail_out("mkdir %s", src);
	x = xasprintf("%s/x", src);
	reg = test_write(base, "reg", "data\n");
	fifo = xasprintf("%s/fifo", base);
	t1 = xasprintf("%s/t1", base);
	t2 = xasprintf("%s/t2", base);
	if (mkfifo(fifo, 0644) == -1 || link(reg, x) == -1)
		bail_out("mkfifo");
	swapper = fork();
	if (swapper == 0) {
		for (;;) {
			(void)link(reg, t1);
			(void)rename(t1, x);
			(void)link(fifo, t2);
			(void)rename(t2, x);
		}
	}
	puller = fork();
	if (puller == 0) {
		struct pull_stats	 st;
		struct gr_err		 e;

		t0 = clock_mono_ms();
		while (clock_mono_ms() - t0 < 2000) {
			gr_err_clear(&e);
			(void)pull_local_tree(base, "tree/src", dst, 60000,
			    &st, &e);
		}
		_exit(0);
	}
	for (i = 0; i < 100; i++) {
		if (waitpid(puller, &status, WNOHANG) == puller)
			break;
		clock_sleep_ms(100);
	}
	if (i == 100) {
		hung = true;
		(void)kill(puller, SIGKILL);
		(void)waitpid(puller, &status, 0);
	}
	(void)kill(swapper, SIGKILL);
	(void)waitpid(swapper, NULL, 0);
	ok(!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0, "a file "
	    "swapped for a FIFO after its listing never blocks the pull");
	free(x);
	free(reg);
	free(fifo);
	free(t1);
	free(t2);
	free(src);
	free(dst);
	free(base);
}

int
main(void)
{
	struct sshinst		 si;
	struct pull_stats	 st;
	struct gr_err		 e;
	char			*top, *dst, *p, *want, *got, *outside;
	pid_t			 kid;
	int			 rc, status, i;
	int64_t			 t0;

	plan_lazy();
	names();
	fifo_race();
	if (access(SSHTEST_SSHD, X_OK) == -1) {
		skip(1, "pulls from a real sshd: needs %s (apt-get install "
		    "openssh-server)", SSHTEST_SSHD);
		return done_testing();
	}
	sshtest_init();
	sshtest_spawn(&si, "pull");
	top = xasprintf("%s/out", test_tmpdir());

	/* the tree on the instance */
	outside = test_write(test_tmpdir(), "outside/secret", "secret\n");
	free(test_write(si.dir, "res/a.txt", "alpha\n"));
	free(test_write(si.dir, "res/sub/b.txt", "beta\n"));
	free(test_write(si.dir, "res/..foo", "dots\n"));
	free(test_write(si.dir, "res/.hidden", "hidden\n"));
	free(test_write(si.dir, "res/bad\nname", "odd\n"));
	p = xasprintf("%s/res/abs", si.dir);
	ok(symlink(outside, p) == 0, "an absolute symlink out of the tree");
	free(p);
	p = xasprintf("%s/res/sub/up", si.dir);
	ok(symlink("../../../../outside/secret", p) == 0, "a relative "
	    "symlink out of it");
	free(p);
	p = xasprintf("%s/res/sub/in", si.dir);
	ok(symlink("../a.txt", p) == 0, "a symlink inside it");
	free(p);
	p = xasprintf("%s/res/big.bin", si.dir);
	write_big(p);
	want = file_sha256(p);
	free(p);

	/* the tree */
	dst = xasprintf("%s/tree", top);
	t0 = clock_mono_ms();
	rc = pull(&si, "res", dst, 60000, &st, &e);
	t0 = clock_mono_ms() - t0;
	is_int(rc, 0, "tree: pulled: %s", e.msg);
	diag("64 MiB and 4 small files over SFTP in %lld ms", (long long)t0);
	is_int((long long)st.files, 5, "tree: 5 files written");
	is_int((long long)st.symlinks_skipped, 3, "tree: 3 symlinks skipped");
	is_int((long long)st.refused, 1, "tree: 1 odd name refused");
	ok(exists(dst, "..foo") && exists(dst, ".hidden") &&
	    exists(dst, "sub/b.txt") && exists(dst, "a.txt"), "tree: '..foo', "
	    "dot files and nested files arrive");
	ok(!exists(dst, "abs") && !exists(dst, "sub/up") &&
	    !exists(dst, "sub/in"), "tree: no symlink is recreated or "
	    "followed, in the tree or out of it");
	ok(!exists(dst, "bad\nname"), "tree: the odd name is not written");
	ok(!exists(top, "outside") && !exists(top, "secret"), "tree: nothing "
	    "written beside --local");
	got = xasprintf("%s/big.bin", dst);
	p = file_sha256(got);
	is_str(p, want, "64 MiB file: the same SHA-256");
	free(p);
	free(got);
	ok(!exists(dst, ".big.bin.gr-part"), "no temporary file is left");

	/* re-run: everything identical is skipped */
	rc = pull(&si, "res", dst, 60000, &st, &e);
	ok(rc == 0 && st.files == 0 && st.skipped == 5, "re-run: 5 unchanged, "
	    "none written (%zu, %zu)", st.files, st.skipped);
	free(test_write(si.dir, "res/a.txt", "alpha, longer\n"));
	rc = pull(&si, "res", dst, 60000, &st, &e);
	ok(rc == 0 && st.files == 1, "re-run after a change: 1 written");

	/* what the remote path may be */
	p = xasprintf("%s/dotdot", top);
	rc = pull(&si, "res/../res/a.txt", p, 60000, &st, &e);
	ok(rc == -1 && e.code == GR_E_USAGE && strstr(e.msg, "..") != NULL &&
	    access(p, F_OK) == -1, "a remote path with '..' is refused, "
	    "nothing written");
	free(p);
	p = xasprintf("%s/link", top);
	rc = pull(&si, "res/abs", p, 60000, &st, &e);
	ok(rc == -1 && strstr(e.msg, "symlink") != NULL &&
	    access(p, F_OK) == -1, "an absolute symlink as the remote is "
	    "refused, nothing written");
	free(p);
	p = xasprintf("%s/one/", top);
	rc = pull(&si, "res/sub/b.txt", p, 60000, &st, &e);
	ok(rc == 0 && exists(p, "b.txt"), "a single file into 'dir/'");
	free(p);
	rc = pull(&si, "nope", top, 60000, &st, &e);
	ok(rc == -1 && e.code == GR_E_NOT_FOUND, "a missing remote: "
	    "NOT_FOUND");

	/* a destination directory that is a symlink out: not written */
	p = xasprintf("%s/trap", top);
	if (mkdir_p(p, 0755) == -1)
		bail_out("mkdir %s", p);
	got = xasprintf("%s/sub", p);
	free(outside);
	outside = xasprintf("%s/outside", test_tmpdir());
	ok(symlink(outside, got) == 0, "a destination whose 'sub' is a "
	    "symlink out");
	rc = pull(&si, "res", p, 60000, &st, &e);
	ok(rc == -1 && strstr(e.msg, "not a plain directory") != NULL,
	    "it is refused: %s", e.msg);
	ok(!exists(outside, "b.txt"), "nothing was written through it");
	free(got);
	free(p);

	/* the pull timeout: gives up, says so, leaves no partial file */
	p = xasprintf("%s/timeout", top);
	rc = pull(&si, "res/big.bin", p, 30, &st, &e);
	ok(rc == -1 && e.code == GR_E_TIMEOUT, "a 30 ms pull timeout gives "
	    "up: %s", e.msg);
	like(e.msg, "pull timeout", "and says it was the pull timeout");
	like(e.hint, "again", "and that a re-run finishes");
	ok(!exists(top, "timeout") && !exists(top, ".timeout.gr-part"),
	    "no partial file under either name");
	free(p);

	/* killed halfway, then re-run */
	p = xasprintf("%s/killed", top);
	if (mkdir_p(p, 0755) == -1)
		bail_out("mkdir %s", p);
	kid = fork();
	if (kid == 0) {
		rc = pull(&si, "res/big.bin", p, 60000, &st, &e);
		_exit(rc == 0 ? 0 : 1);
	}
	for (i = 0; i < 400 && size_of(p, ".big.bin.gr-part") < (1 << 20) &&
	    !exists(p, "big.bin"); i++)
		usleep(5000);
	(void)kill(kid, SIGKILL);
	(void)waitpid(kid, &status, 0);
	ok(WIFSIGNALED(status) && size_of(p, ".big.bin.gr-part") > 0 &&
	    !exists(p, "big.bin"), "killed halfway: a partial temporary "
	    "file, no big.bin");
	rc = pull(&si, "res/big.bin", p, 60000, &st, &e);
	ok(rc == 0 && st.files == 1, "the re-run finishes: %s", e.msg);
	got = xasprintf("%s/big.bin", p);
	free(want);
	want = xasprintf("%s/res/big.bin", si.dir);
	{
		char *a = file_sha256(got), *b = file_sha256(want);

		is_str(a, b, "the resumed file has the right SHA-256");
		free(a);
		free(b);
	}
	ok(!exists(p, ".big.bin.gr-part"), "the partial file is gone");
	free(got);
	free(p);

	/* names carrying terminal controls (C1 as UTF-8 and raw) reach the
	 * terminal escaped, in warnings and in errors */
	{
		char	*err_path, *logged = NULL, *esc = xasprintf("%s/esc",
			    si.dir);
		int	 saved, fd;

		if (mkdir_p(esc, 0755) == -1)
			bail_out("mkdir %s", esc);
		free(test_write(esc, "r\x9b", "raw C1 byte\n"));
		got = xasprintf("%s/l\xc2\x9b" "2J", esc);
		if (symlink("r\x9b", got) == -1)
			bail_out("symlink");
		free(got);
		got = xasprintf("%s/c\xc2\x9b" "31m", esc);
		if (mkdir(got, 0755) == -1)
			bail_out("mkdir");
		free(test_write(got, "f", "x\n"));
		free(got);
		p = xasprintf("%s/esc", top);
		err_path = xasprintf("%s/stderr", top);
		fflush(stderr);
		saved = dup(2);
		fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (saved == -1 || fd == -1 || dup2(fd, 2) == -1)
			bail_out("redirect stderr");
		close(fd);
		rc = pull(&si, "esc", p, 60000, &st, &e);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		if (file_read(err_path, 1 << 20, &logged, NULL) == -1)
			logged = xstrdup("");
		ok(rc == 0 && st.symlinks_skipped == 1, "a tree with C1 "
		    "controls in names is pulled: %s", e.msg);
		ok(strstr(logged, "skipped symlink") != NULL &&
		    strstr(logged, "\xc2\x9b") == NULL &&
		    strstr(logged, "l\\xc2\\x9b2J") != NULL, "the warning "
		    "about the symlink shows its name escaped");
		ok(exists(p, "r\x9b"), "a name with a raw C1 byte is still "
		    "pulled (only its display is escaped)");
		free(p);
		/* a plain file where the remote has a directory: an error */
		p = xasprintf("%s/esc2", top);
		if (mkdir_p(p, 0755) == -1)
			bail_out("mkdir %s", p);
		free(test_write(p, "c\xc2\x9b" "31m", "in the way\n"));
		rc = pull(&si, "esc", p, 60000, &st, &e);
		ok(rc == -1 && strstr(e.msg, "not a plain directory") != NULL,
		    "a file in the way of a directory is refused");
		ok(strstr(e.msg, "\xc2\x9b") == NULL && strstr(e.msg,
		    "\\xc2\\x9b31m") != NULL, "the error shows the name's C1 "
		    "control escaped: %s", e.msg);
		free(logged);
		free(err_path);
		free(esc);
		free(p);
	}

	/* a name of NAME_MAX bytes: its temporary name must fit too */
	{
		char	 longname[256], *src = xasprintf("%s/long", si.dir);
		FILE	*fp;

		memset(longname, 'n', 255);
		longname[255] = '\0';
		if (mkdir_p(src, 0755) == -1)
			bail_out("mkdir %s", src);
		p = xasprintf("%s/%s", src, longname);
		if ((fp = fopen(p, "w")) == NULL || fputs("long\n", fp) < 0 ||
		    fclose(fp) != 0)
			bail_out("write %s", p);
		free(p);
		p = xasprintf("%s/long", top);
		rc = pull(&si, "long", p, 60000, &st, &e);
		ok(rc == 0 && st.files == 1 && size_of(p, longname) == 5,
		    "a file with a 255-byte name is pulled: %s", e.msg);
		rc = pull(&si, "long", p, 60000, &st, &e);
		ok(rc == 0 && st.skipped == 1, "and found unchanged on a "
		    "re-run");
		free(src);
		free(p);
	}

	/* the memory listings hold is bounded across the directories being
	 * walked, not per directory only: 40 + 50 names of 200 bytes fit
	 * 16 KiB one directory at a time, not together */
	{
		char	 nm[256], *w = xasprintf("%s/wide", si.dir), *in;
		int	 k;

		in = xasprintf("%s/inner", w);
		if (mkdir_p(in, 0755) == -1)
			bail_out("mkdir %s", in);
		for (k = 0; k < 50; k++) {
			memset(nm, 'w', 200);
			snprintf(nm + 200, sizeof(nm) - 200, "%d", k);
			if (k < 40)
				free(test_write(w, nm, "w\n"));
			free(test_write(in, nm, "i\n"));
		}
		pull_set_held_max(16 * 1024);
		p = xasprintf("%s/wide1", top);
		rc = pull(&si, "wide/inner", p, 60000, &st, &e);
		ok(rc == 0 && st.files == 50, "16 KiB: one directory of 50 "
		    "long names is pulled: %s", e.msg);
		free(p);
		p = xasprintf("%s/wide2", top);
		rc = pull(&si, "wide", p, 60000, &st, &e);
		ok(rc == -1 && e.code == GR_E_IO && strstr(e.msg, "KiB") !=
		    NULL, "over SFTP, a listing inside a listing that "
		    "together pass it is refused: %s", e.msg);
		like(e.hint, "subdirectories", "the hint says what to do");
		gr_err_clear(&e);
		memset(&st, 0, sizeof(st));
		rc = pull_local_tree(si.dir, "wide", p, 60000, &st, &e);
		ok(rc == -1 && e.code == GR_E_IO && strstr(e.msg, "KiB") !=
		    NULL, "and from a local directory: %s", e.msg);
		pull_set_held_max(0);
		rc = pull(&si, "wide", p, 60000, &st, &e);
		ok(rc == 0 && st.files + st.skipped == 90, "with the default "
		    "it is pulled: "
		    "%s", e.msg);
		free(p);
		free(in);
		free(w);
	}

	/* a file bigger than the free space is refused before a byte is
	 * written (a sparse 8 TiB file: a server may claim any size) */
	{
		char	*huge = xasprintf("%s/huge", si.dir);

		if (mkdir_p(huge, 0755) == -1 || test_run(NULL, NULL,
		    "truncate -s 8T '%s/sparse'", huge) != 0)
			bail_out("truncate");
		p = xasprintf("%s/huge", top);
		rc = pull(&si, "huge", p, 10000, &st, &e);
		ok(rc == -1 && e.code == GR_E_IO && strstr(e.msg, "free") !=
		    NULL, "a file bigger than the free space is refused: %s",
		    e.msg);
		ok(!exists(p, "sparse") && !exists(p, ".sparse.gr-part"),
		    "and nothing of it is written");
		free(p);
		free(huge);
	}

	/* a file that grows while it is read is cut at the size it had when
	 * opened, else one growing forever fills the disk until the pull
	 * timeout (a /proc file: size 0, content generated as it is read) */
	p = xasprintf("%s/proc/", top);
	rc = pull(&si, "/proc/self/status", p, 60000, &st, &e);
	ok(rc == 0 && st.files == 1 && size_of(p, "status") == 0,
	    "no more than the size at open is written: %s", e.msg);
	free(p);

	/* the pull timeout is time that passed, not what the wall clock says:
	 * stepped back an hour, it still gives up; stepped forward, it does
	 * not give up early */
	{
		struct stepped		 sc = { -3600 * 1000, 0 };
		struct clock_ops	 ops = { stepped_now, stepped_sleep,
			    &sc };

		p = xasprintf("%s/stepped/", top);
		clock_set(&ops);
		rc = pull(&si, "res/big.bin", p, 30, &st, &e);
		clock_set(NULL);
		ok(rc == -1 && e.code == GR_E_TIMEOUT, "with the wall clock "
		    "stepped back, a 30 ms pull timeout still gives up: %s",
		    e.msg);
		sc.step_ms = 3600 * 1000;
		sc.calls = 0;
		gr_err_clear(&e);
		memset(&st, 0, sizeof(st));
		clock_set(&ops);
		rc = pull_local_tree(si.dir, "res/big.bin", p, 60000, &st, &e);
		clock_set(NULL);
		ok(rc == 0 && st.files == 1, "with it stepped forward an hour, "
		    "a 60 s pull does not give up early: %s", e.msg);
		free(p);
	}

	/* permission bits come along (under the umask): a file kept private
	 * on the instance is not left readable by all here */
	{
		struct stat	 sb;
		char		*sec = test_write(si.dir, "perm/token", "t\n");
		mode_t		 um = umask(022);

		if (chmod(sec, 0600) == -1)
			bail_out("chmod %s", sec);
		free(sec);
		sec = test_write(si.dir, "perm/run.sh", "#!/bin/sh\n");
		if (chmod(sec, 0755) == -1)
			bail_out("chmod %s", sec);
		free(sec);
		p = xasprintf("%s/perm", top);
		rc = pull(&si, "perm", p, 60000, &st, &e);
		got = xasprintf("%s/token", p);
		ok(rc == 0 && stat(got, &sb) == 0 && (sb.st_mode & 0777) ==
		    0600, "a 0600 file stays 0600 over SFTP: %s", e.msg);
		free(got);
		got = xasprintf("%s/run.sh", p);
		ok(stat(got, &sb) == 0 && (sb.st_mode & 0777) == 0755,
		    "a 0755 one stays 0755");
		free(got);
		free(p);
		p = xasprintf("%s/perm-local", top);
		gr_err_clear(&e);
		rc = pull_local_tree(si.dir, "perm", p, 60000, &st, &e);
		got = xasprintf("%s/token", p);
		ok(rc == 0 && stat(got, &sb) == 0 && (sb.st_mode & 0777) ==
		    0600, "and from a local directory: %s", e.msg);
		free(got);
		free(p);
		umask(um);
	}

	/* a changed host key: nothing is read or written */
	sshtest_new_hostkey(&si);
	p = xasprintf("%s/mitm", top);
	rc = pull(&si, "res", p, 60000, &st, &e);
	ok(rc == -1 && e.code == GR_E_AUTH && access(p, F_OK) == -1,
	    "a changed host key stops the pull; nothing written");
	free(p);

	sshtest_stop(&si);
	sshtest_release(&si);
	free(want);
	free(outside);
	free(dst);
	free(top);
	return done_testing();
}
