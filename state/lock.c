/*
 * lock.c: the writer lock of a state directory (DESIGN.md section 6:
 * one writer process at a time).  It is an flock(2) on ledger.lock, so
 * the kernel drops it when the process dies, however it dies: kill -9
 * never leaves a stale lock behind, and there is no pid file to clean.
 *
 * The file's content only says who holds it ("pid=N what=CMD since=T"),
 * for the message a second process prints; the flock is the lock.
 *
 * The descriptor is O_CLOEXEC, so programs we exec do not inherit the
 * lock; a child forked without exec shares it until it exits.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

#define LOCK_INFO_MAX	512	/* bytes of holder info we read */
#define LOCK_INFO_TRIES	10	/* a new holder may not have written yet */

struct ledger_lock {
	int	 fd;
	char	*path;		/* owned */
};

static void
nap_ms(long ms)
{
	struct timespec	 ts = { 0, ms * 1000000L };

	/* Real time on purpose: a virtual clock must not hurry this. */
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Keep the file (and so the message) one line. */
static void
one_line(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/*
 * Read the holder's line.  Parse "pid=N what=CMD since=T"; what may hold
 * spaces, since never does.
 */
static bool
holder_read(int fd, long *pid, struct buf *what, struct buf *since)
{
	char	 info[LOCK_INFO_MAX], *p, *end, *w, *s;
	ssize_t	 n;

	n = pread(fd, info, sizeof(info) - 1, 0);
	if (n <= 0)
		return false;
	info[n] = '\0';
	info[strcspn(info, "\n")] = '\0';
	if (strncmp(info, "pid=", 4) != 0)
		return false;
	errno = 0;
	*pid = strtol(info + 4, &end, 10);
	if (errno != 0 || end == info + 4 || *pid <= 0)
		return false;
	if (strncmp(end, " what=", 6) != 0)
		return false;
	w = end + 6;
	s = strstr(w, " since=");
	if (s == NULL)
		return false;
	*s = '\0';
	p = s + 7;
	buf_reset(what);
	buf_adds(what, w);
	buf_reset(since);
	buf_adds(since, p);
	return true;
}

static void
locked_err(int fd, const char *state_dir, struct gr_err *e)
{
	struct buf	 what = BUF_INIT, since = BUF_INIT;
	long		 pid = 0;
	int		 i;

	for (i = 0; i < LOCK_INFO_TRIES; i++) {
		if (holder_read(fd, &pid, &what, &since))
			break;
		nap_ms(10);
	}
	if (i < LOCK_INFO_TRIES && strcmp(buf_str(&what), "watch") == 0) {
		/* the daemon: it applies the files by itself */
		gr_err_set(e, GR_E_LOCKED, "ledger in '%s' is held by the "
		    "watch daemon (gpureconcile watch, pid %ld, since %s)",
		    state_dir, pid, buf_str(&since));
		gr_err_hint(e, "the daemon applies every change to the fleet "
		    "files by itself; to run this by hand, stop it first "
		    "(kill %ld, or systemctl stop gpureconcile-watch)", pid);
		buf_release(&since);
		buf_release(&what);
		return;
	}
	if (i < LOCK_INFO_TRIES) {
		gr_err_set(e, GR_E_LOCKED, "ledger in '%s' is locked by pid "
		    "%ld (gpureconcile %s, since %s)", state_dir, pid,
		    buf_str(&what), buf_str(&since));
	} else {
		gr_err_set(e, GR_E_LOCKED, "ledger in '%s' is locked by "
		    "another process", state_dir);
	}
	gr_err_hint(e, "wait for it to finish, or stop it; the lock is "
	    "released when that process exits");
	buf_release(&since);
	buf_release(&what);
}

/* Say who we are: written in place, then cut to length, never empty. */
static int
holder_write(struct ledger_lock *lk, const char *what, struct gr_err *e)
{
	struct buf	 b = BUF_INIT;
	char		 since[32];
	ssize_t		 n;

	buf_addf(&b, "pid=%ld what=", (long)getpid());
	one_line(&b, what != NULL && *what != '\0' ? what : "unknown");
	buf_addf(&b, " since=%s\n", time_iso8601(clock_now_ms(), since,
	    sizeof(since)));
	n = pwrite(lk->fd, b.s, b.len, 0);
	if (n != (ssize_t)b.len || ftruncate(lk->fd, (off_t)b.len) == -1) {
		gr_err_set(e, GR_E_IO, "ledger lock '%s': cannot write: %s",
		    lk->path, n == -1 || n == (ssize_t)b.len ?
		    strerror(errno) : "short write");
		buf_release(&b);
		return -1;
	}
	buf_release(&b);
	return 0;
}

int
ledger_lock_take(const char *state_dir, const char *what,
    struct ledger_lock **out, struct gr_err *e)
{
	struct ledger_lock	*lk;
	int			 rc;

	*out = NULL;
	if (mkdir_p(state_dir, 0700) == -1) {
		gr_err_set(e, GR_E_IO, "ledger in '%s': cannot create the "
		    "directory: %s", state_dir, strerror(errno));
		return -1;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->path = xasprintf("%s/%s", state_dir, LEDGER_LOCK_FILE);
	lk->fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (lk->fd == -1) {
		gr_err_set(e, GR_E_IO, "ledger lock '%s': cannot open: %s",
		    lk->path, strerror(errno));
		goto free_lock;
	}
	do {
		rc = flock(lk->fd, LOCK_EX | LOCK_NB);
	} while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		if (errno == EWOULDBLOCK) {
			locked_err(lk->fd, state_dir, e);
		} else {
			gr_err_set(e, GR_E_IO, "ledger lock '%s': %s",
			    lk->path, strerror(errno));
		}
		goto close_fd;
	}
	if (holder_write(lk, what, e) == -1)
		goto close_fd;
	*out = lk;
	return 0;

close_fd:
	close(lk->fd);
free_lock:
	free(lk->path);
	free(lk);
	return -1;
}

void
ledger_lock_release(struct ledger_lock *lk)
{
	if (lk == NULL)
		return;
	/* Still ours: clear who we were, then let go. */
	if (ftruncate(lk->fd, 0) == -1)
		log_warn("ledger lock '%s': truncate", lk->path);
	close(lk->fd);
	free(lk->path);
	free(lk);
}
