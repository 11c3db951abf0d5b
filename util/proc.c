/*
 * proc.c: run a helper program (git, nvidia-smi, ssh-keygen) without a
 * shell, with a deadline, and collect what it prints.
 *
 * The child gets stdin from /dev/null, no descriptor of ours beyond 0-2,
 * and the environment the caller gives: callers pass a small scrubbed
 * one, so that API keys in our environment never reach a helper.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* Read what is there; 0 at end of file.  Keeps at most max bytes. */
static int
drain_fd(int fd, struct buf *b, size_t max)
{
	char	 tmp[4096];
	ssize_t	 n;

	n = read(fd, tmp, sizeof(tmp));
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (b->len < max)
		buf_add(b, tmp, (size_t)n > max - b->len ? max - b->len :
		    (size_t)n);
	return 1;
}

static void
close_fd(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

int
proc_run(char *const argv[], char *const envp[], int timeout_ms,
    size_t max_out, struct proc_result *res)
{
	posix_spawn_file_actions_t	 fa;
	struct pollfd			 pfd[2];
	int				 op[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int				 err, st = 0;
	int64_t				 deadline, left;
	pid_t				 pid;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out);
	buf_init(&res->err);
	res->status = -1;
	if (pipe2(op, O_CLOEXEC) == -1 || pipe2(ep, O_CLOEXEC) == -1) {
		res->spawn_errno = errno;
		goto close_pipes;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv,
	    envp != NULL ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		res->spawn_errno = err;
		goto close_pipes;
	}
	close_fd(&op[1]);
	close_fd(&ep[1]);
	deadline = clock_mono_ms() + timeout_ms;
	pfd[0].fd = op[0];
	pfd[1].fd = ep[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		left = deadline - clock_mono_ms();
		if (left <= 0) {
			res->timed_out = true;
			(void)kill(pid, SIGKILL);
			break;
		}
		if (poll(pfd, 2, (int)left) == -1 && errno != EINTR)
			break;
		/* poll ignores negative fds */
		if (pfd[0].fd != -1 && pfd[0].revents != 0 &&
		    drain_fd(pfd[0].fd, &res->out, max_out) == 0)
			pfd[0].fd = -1;
		if (pfd[1].fd != -1 && pfd[1].revents != 0 &&
		    drain_fd(pfd[1].fd, &res->err, 4096) == 0)
			pfd[1].fd = -1;
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!res->timed_out) {
		if (WIFEXITED(st))
			res->status = WEXITSTATUS(st);
		else
			res->signal = WTERMSIG(st);
		/* where posix_spawnp cannot report a failed exec */
		if (res->status == 127 && res->out.len == 0)
			res->spawn_errno = ENOENT;
	}

close_pipes:
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	return res->spawn_errno == 0 && !res->timed_out && res->status == 0 ?
	    0 : -1;
}

void
proc_result_release(struct proc_result *res)
{
	buf_release(&res->out);
	buf_release(&res->err);
}
