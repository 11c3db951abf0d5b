/*
 * 2003: the writer lock: one holder at a time; a second process is told
 * who holds it (pid, command, since when); release or death of the
 * holder (even SIGKILL) frees it.
 */
#include <sys/file.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

#define ok_err(c, e, ...)	do {					\
	if (!ok((c), __VA_ARGS__))					\
		diag("error: %s (hint: %s)", (e)->msg, (e)->hint);	\
} while (0)

/* What a child tells its parent about its attempt. */
struct attempt {
	int		 rc;
	struct gr_err	 e;
};

static void
write_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(9);
		c += w;
		n -= (size_t)w;
	}
}

static bool
read_all(int fd, void *p, size_t n)
{
	char	*c = p;
	ssize_t	 r;

	while (n > 0) {
		r = read(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		c += r;
		n -= (size_t)r;
	}
	return true;
}

/* Fork a child that tries the lock once, reports, and exits. */
static struct attempt
child_try(const char *dir, const char *what)
{
	struct attempt	 a;
	pid_t		 pid;
	int		 p[2], status;

	memset(&a, 0, sizeof(a));
	if (pipe(p) == -1)
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork");
	if (pid == 0) {
		struct ledger_lock	*lk = NULL;

		close(p[0]);
		gr_err_clear(&a.e);
		a.rc = ledger_lock_take(dir, what, &lk, &a.e);
		write_all(p[1], &a, sizeof(a));
		ledger_lock_release(lk);
		_exit(0);
	}
	close(p[1]);
	if (!read_all(p[0], &a, sizeof(a)))
		bail_out("child sent nothing");
	close(p[0]);
	if (waitpid(pid, &status, 0) == -1)
		bail_out("waitpid");
	return a;
}

static void
test_contention(const char *dir)
{
	struct ledger_lock	*lk = NULL, *lk2 = NULL;
	struct attempt		 a;
	struct gr_err		 e;
	char			*path, *text = NULL, *pidstr;
	size_t			 len;

	gr_err_clear(&e);
	ok_err(ledger_lock_take(dir, "apply", &lk, &e) == 0 && lk != NULL, &e,
	    "take: the first taker gets the lock");
	path = xasprintf("%s/%s", dir, LEDGER_LOCK_FILE);
	ok(file_read(path, 4096, &text, &len) == 0, "take: the lock file "
	    "can be read");
	pidstr = xasprintf("pid=%ld what=apply since=", (long)getpid());
	ok(text != NULL && str_has_prefix(text, pidstr),
	    "take: the file says pid, command and since");
	ok(text != NULL && strchr(text, '\n') == text + len - 1,
	    "take: the file is one line");
	free(text);
	free(pidstr);

	a = child_try(dir, "watch");
	ok(a.rc == -1, "contention: a second process does not get it");
	is_str(gr_code_name(a.e.code), "LOCKED", "contention: LOCKED");
	pidstr = xasprintf("by pid %ld ", (long)getpid());
	like(a.e.msg, pidstr, "contention: names the holder's pid");
	free(pidstr);
	like(a.e.msg, "(gpureconcile apply, since ", "contention: names the "
	    "holder's command");
	like(a.e.msg, dir, "contention: names the state directory");
	like(a.e.hint, "released when that process exits",
	    "contention: the hint says how it ends");
	ok(gr_code_retryable(a.e.code), "contention: LOCKED is retryable");

	gr_err_clear(&e);
	ok(ledger_lock_take(dir, "status", &lk2, &e) == -1 &&
	    e.code == GR_E_LOCKED && lk2 == NULL,
	    "contention: the same process cannot take it twice");

	ledger_lock_release(lk);
	a = child_try(dir, "watch");
	ok_err(a.rc == 0, &a.e, "release: now a child can take it");
	ok(file_read(path, 4096, &text, &len) == 0 && len == 0,
	    "release: the holder's line is cleared");
	free(text);
	ledger_lock_release(NULL);
	free(path);
}

/* A holder killed with SIGKILL leaves the lock free. */
static void
test_kill9(const char *dir)
{
	struct ledger_lock	*lk = NULL;
	struct gr_err		 e;
	pid_t			 pid;
	char			 c, *want;
	int			 p[2], status;

	if (pipe(p) == -1)
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork");
	if (pid == 0) {
		close(p[0]);
		if (ledger_lock_take(dir, "apply --yes", &lk, &e) == -1)
			_exit(1);
		write_all(p[1], "k", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	ok(read_all(p[0], &c, 1), "kill9: the child took the lock");
	close(p[0]);

	gr_err_clear(&e);
	ok(ledger_lock_take(dir, "plan", &lk, &e) == -1 &&
	    e.code == GR_E_LOCKED, "kill9: held while the child lives");
	want = xasprintf("by pid %ld (gpureconcile apply --yes, since",
	    (long)pid);
	like(e.msg, want, "kill9: names the child and its command, spaces "
	    "and all");
	free(want);

	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) == -1)
		bail_out("waitpid");
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "kill9: the child died of SIGKILL");
	gr_err_clear(&e);
	ok_err(ledger_lock_take(dir, "plan", &lk, &e) == 0, &e,
	    "kill9: the lock is free again");
	ledger_lock_release(lk);
}

static void
test_errors(const char *top)
{
	struct ledger_lock	*lk = NULL;
	struct gr_err		 e;
	char			*file, *dir, *text = NULL, *path;
	size_t			 len;

	/* A directory that cannot be made. */
	file = test_write(top, "plainfile", "x\n");
	dir = xasprintf("%s/state", file);
	gr_err_clear(&e);
	ok(ledger_lock_take(dir, "apply", &lk, &e) == -1 && e.code == GR_E_IO,
	    "errors: no state directory is an IO error");
	like(e.msg, "cannot create the directory", "errors: says so");
	free(dir);
	free(file);

	/* A symlink in place of the lock file is not followed. */
	dir = xasprintf("%s/symlinked", top);
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir");
	path = xasprintf("%s/%s", dir, LEDGER_LOCK_FILE);
	if (symlink("/nonexistent/target", path) == -1)
		bail_out("symlink");
	gr_err_clear(&e);
	ok(ledger_lock_take(dir, "apply", &lk, &e) == -1 && e.code == GR_E_IO,
	    "errors: a symlinked lock file is refused");
	like(e.msg, "cannot open", "errors: says it cannot open it");
	free(path);
	free(dir);

	/* A command line with a newline stays one line in the file. */
	dir = xasprintf("%s/newline", top);
	gr_err_clear(&e);
	ok_err(ledger_lock_take(dir, "apply\nforged=1", &lk, &e) == 0, &e,
	    "errors: an odd command name is taken");
	path = xasprintf("%s/%s", dir, LEDGER_LOCK_FILE);
	ok(file_read(path, 4096, &text, &len) == 0 &&
	    strchr(text, '\n') == text + len - 1 &&
	    strstr(text, "what=apply?forged=1 since=") != NULL,
	    "errors: control characters are replaced");
	free(text);
	free(path);
	ledger_lock_release(lk);
	free(dir);

	/* Held by something that never said who it is. */
	dir = xasprintf("%s/silent", top);
	path = test_write(dir, LEDGER_LOCK_FILE, "");
	{
		int	 fd = open(path, O_RDWR | O_CLOEXEC);

		if (fd == -1 || flock(fd, LOCK_EX) == -1)
			bail_out("flock %s", path);
		gr_err_clear(&e);
		ok(ledger_lock_take(dir, "apply", &lk, &e) == -1 &&
		    e.code == GR_E_LOCKED, "errors: a silent holder still "
		    "locks");
		like(e.msg, "locked by another process", "errors: a silent "
		    "holder is 'another process'");
		close(fd);
	}
	free(path);
	free(dir);
}

int
main(void)
{
	char	*dir;

	plan_lazy();
	dir = xasprintf("%s/state", test_tmpdir());
	test_contention(dir);
	test_kill9(dir);
	test_errors(test_tmpdir());
	free(dir);
	return done_testing();
}
