/*
 * local.c: the embedded default provider, which needs no cloud account.
 * An "instance" is a supervised process tree on this machine, pinned to
 * local GPUs when there are any.
 *
 * Everything lives under <state_dir>/local/:
 *
 *	alloc.lock		flock: one allocation at a time, across
 *				processes (a mutex does it across threads)
 *	instances/<id>/		one per instance; also its work directory:
 *	    meta.json		label, address, GPUs, price, created_ms, pid,
 *				the pid's start time and the boot id
 *	    bootstrap.sh	the group's bootstrap (0700)
 *	    stdout.log, stderr.log
 *	    exit_status		the bootstrap's exit status once it has ended
 *				(128 + N when killed by signal N)
 *	terminated/<id>/	where terminate moves an instance; the logs
 *				are kept for the "keep_terminated" option's
 *				time (default 30d; 0s: forever), counted
 *				from the end
 *
 * The root of an instance is its supervisor: a double-forked child of the
 * caller, so that it outlives the CLI and is never the CLI's zombie, in a
 * session of its own whose id (and process-group id) is its pid.  Right
 * after the fork it execs a fresh image of our own binary, so that it
 * holds nothing of the caller's memory (a long-lived `watch` would
 * otherwise pin a copy-on-write image of its old heap per instance).
 * There it runs the bootstrap, records its exit status, then idles like a
 * VM whose startup script has finished, until terminate signals the
 * group.  How it gets there:
 * - It execs "/proc/self/exe" with argv just "gr-supervisor" and an
 *   environment of its own (GR_LOCAL_SUPERVISOR=1, GR_INSTANCE_ID and
 *   LD_LIBRARY_PATH or sanitizer options when the caller has them).
 *   /proc/self/exe is the very binary that forked, of the same version,
 *   even when an upgrade has since replaced or deleted its file (t/3004
 *   deletes it and spawns).  Its name in ps and /proc/PID/comm is
 *   gr-supervisor; exec keeps the pid and the start time that meta.json
 *   pins.
 * - Its entry is a constructor in this file (sup_entry), which runs
 *   before main in whichever binary links it: the CLI, the tests and the
 *   benchmarks alike, with no program to install or find.  A binary that
 *   forks a supervisor calls sup_start, so it holds this object file and
 *   its constructor, and /proc/self/exe is that binary.  The constructor
 *   acts only on argv exactly "gr-supervisor", the marker in the
 *   environment and a pipe at fd 3; otherwise it returns at once.  A
 *   separate gpureconcile-supervisor binary was the other choice; it would
 *   have to be installed, found (PATH, or beside us), kept at our version
 *   across upgrades, and built for every test binary.
 * - What it needs travels by fd, not argv (which ps shows): the handshake
 *   pipe at fd 3, sshd's listening socket at 4, and at 5 a memfd holding
 *   the bootstrap's path and argv, the /bin/sh fallback, the instance's
 *   environment and sshd's path and argv, read and closed at once.  The
 *   forked half (a copy of a possibly multi-threaded caller) makes only
 *   system calls: setsid, chdir, 0-2 to /dev/null and the logs, the fds
 *   to 3-5, close the rest, execve.  A failed step, the exec included,
 *   is reported on the pipe with its errno, as before.
 *
 * A pid names an instance only together with the start time in
 * /proc/PID/stat and the boot id; otherwise it may be a stranger that got
 * the same number.  The kernel keeps a pid number allocated while any
 * process uses it as a process-group or session id, so while members of
 * an instance's group live, its number cannot be reused.
 *
 * Decisions the design leaves open, written down here:
 * - Instances get a clean, VM-like environment: PATH, HOME, USER, LOGNAME,
 *   SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR, LD_LIBRARY_PATH, CUDA_HOME and
 *   CUDA_PATH from the caller, then the group's env, then GR_ADDRESS,
 *   GR_LABEL, GR_INSTANCE_ID, CUDA_VISIBLE_DEVICES and
 *   CUDA_DEVICE_ORDER=PCI_BUS_ID (so CUDA numbers GPUs as nvidia-smi does).
 *   Nothing else leaks from the caller: no API keys.
 * - A bootstrap that starts with "#!" is executed directly (its
 *   interpreter runs it); any other is run by /bin/sh.
 * - vram_gb is memory.total rounded to the nearest GiB (81559 MiB of an
 *   "80GB" H100 is 80), so that min_vram_gb means what the marketing name
 *   says.
 * - A stopped instance (SIGSTOP) keeps its GPUs and bills, as a stopped
 *   process still holds GPU memory.
 * - When list or get finds an instance's supervisor dead (a crashed
 *   machine), whatever is left of its process group is killed: a machine
 *   that crashed takes its processes with it, and nothing keeps running
 *   that reports TERMINATED and bills nothing.
 * - image, regions, spot and disk_gb are ignored: this machine is what it
 *   is.
 * - Unknown options are errors, with a "did you mean".
 * - meta.json is first written without a pid, before the fork: an
 *   instance whose spawner dies mid-spawn still shows its label.  Such a
 *   meta lists PENDING ("spawning") for a minute, then TERMINATED ("lost").
 * - A meta.json that cannot be read lists as RUNNING, unlabelled (never
 *   ours to touch) with status "unreadable": gone is not proven.
 * - The instance's processes are its supervisor's group, session and
 *   children, their descendants, and any process whose environment holds
 *   GR_INSTANCE_ID=<id> (the bootstrap's and SSH sessions' do).  A process
 *   that leaves all of these (a new session, its parents gone, its
 *   environment scrubbed) escapes; containing it would need cgroups.
 * - The supervisor is a fresh image (above), a few MiB whatever the
 *   caller's size: 7.5 MiB RSS, 1.2 MiB of it anonymous, from a caller
 *   with 200 MiB of dirty heap (t/3004), where a plain fork held 207 MiB.
 *
 * SSH (option "ssh: true", off by default so that nothing needs
 * openssh-server): each instance gets a real sshd on 127.0.0.1.  The
 * supervisor binds a free loopback port before it forks and owns the
 * listening socket; for each connection it forks Debian's sshd in inetd
 * mode (sshd -i -e -f <dir>/sshd_config), its stdin and stdout the
 * connection, its log in <dir>/sshd.log.  So there is no race for the
 * port, and every sshd is a child of the supervisor: terminate's kill of
 * the instance's processes (which follows descendants, including those
 * that start a session of their own, as sshd's do) ends them, and each
 * gets SIGTERM should the supervisor die.  The instance dir holds:
 *	ssh_host_ed25519_key[.pub]	its own host key (ssh-keygen)
 *	authorized_keys			the client's public key
 *	sshd_config			UsePAM no, public keys only, no
 *					forwarding of any kind (agent, X11,
 *					TCP, Unix sockets), AllowUsers the
 *					current user, SFTP
 *					starting in the instance dir
 * StrictModes is off because the instance dir may sit under a
 * world-writable /tmp; the instance dir itself is 0700.  The client key
 * is the "ssh_key" option (its ".pub" beside it), else one generated once
 * in <state_dir>/local/ssh/id_ed25519.  sshd runs as the current user;
 * as root it needs /run/sshd (its privilege separation directory), which
 * is made when missing, as Debian's service does.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "provider.h"

#define LOCAL_ID_PREFIX		"loc-"
#define LOCAL_ID_BYTES		6	/* random bytes: 12 hex digits */
#define NVSMI_ARG_QUERY		"--query-gpu=index,uuid,name,memory.total"
#define NVSMI_ARG_FORMAT	"--format=csv,noheader,nounits"
#define NVSMI_TIMEOUT_MS	10000
#define NVSMI_OUT_MAX		(1 << 20)
#define NVSMI_MAX_GPUS		256
#define KEYGEN_TIMEOUT_MS	30000
#define META_MAX		(64 << 10)
#define HANDSHAKE_TIMEOUT_MS	10000
#define LOCK_TIMEOUT_MS		30000
#define KILL_WAIT_MS		5000	/* after SIGKILL */
#define SIGNAL_WAIT_MS		5000	/* for SIGSTOP and SIGCONT to show */
#define SPAWNING_MS		60000	/* a meta without pid is a spawn in
					   progress for this long */
#define DECLARED_MAX		64	/* GPUs of one type in "gpus" */
#define CPU_SLOTS_MAX		65536
#define SUP_HANDSHAKE_FD	3	/* in the supervisor: the pipe, */
#define KEEP_TERMINATED_MS	((int64_t)30 * 24 * 3600 * 1000)	/* 30d */
#define SUP_LISTEN_FD		4	/* sshd's port */
#define SUP_ARGS_FD		5	/* and its arguments until read */
#define ENVIRON_MAX		(256 << 10)

extern char **environ;

struct local {
	char		*dir;		/* <state_dir>/local, absolute; owned */
	char		*inst_dir;	/* owned */
	char		*term_dir;	/* owned */
	char		*lock_path;	/* owned */
	money_t		 price;
	int		 cpu_slots;
	int64_t		 stop_grace_ms;
	int64_t		 keep_terminated_ms;	/* 0: keep forever */
	char		*nvsmi;		/* owned; program to run */
	bool		 nvsmi_explicit; /* the config named it */
	bool		 declared;	/* the config's "gpus" replaces
					   detection */
	bool		 detected;	/* gpus[] is final */
	struct local_gpu *gpus;		/* owned */
	size_t		 ngpus;
	char		 boot_id[64];
	pthread_mutex_t	 mtx;		/* detection and allocation */
	/* SSH */
	bool		 ssh;		/* give each instance an sshd */
	char		*ssh_key;	/* owned; the option; NULL: generated */
	char		*sshd;		/* owned; the sshd program */
};

/* What meta.json holds. */
struct meta {
	char		*id;		/* owned */
	char		*label;		/* owned; NULL: none */
	char		*address;	/* owned */
	char		*gpu;		/* owned; type name */
	int		 gpu_count;
	int		*idx;		/* owned; pinned GPU indices */
	size_t		 nidx;
	money_t		 price;
	int64_t		 created_ms;
	pid_t		 pid;		/* 0: spawn in progress (or lost) */
	unsigned long long start;	/* field 22 of /proc/PID/stat */
	char		 boot_id[64];
	int64_t		 mtime_ms;	/* of the file, real time */
	int		 ssh_port;	/* 0: no sshd */
	char		*ssh_user;	/* owned; NULL: no sshd */
	char		*ssh_key;	/* owned; the client's private key */
};

/* One line of /proc/PID/stat. */
struct pstat {
	pid_t		 pid;
	char		 state;
	pid_t		 ppid;
	pid_t		 pgrp;
	pid_t		 sid;
	unsigned long long start;
};

/* Processes of one instance, each pinned by its start time. */
struct pset {
	struct pstat	*v;		/* owned */
	size_t		 n;
};

enum probe {
	PROBE_RUNNING,
	PROBE_STOPPED,
	PROBE_DEAD,		/* the supervisor is gone: a crashed machine */
	PROBE_SPAWNING,		/* meta without a pid, young */
	PROBE_LOST,		/* meta without a pid, old: a crashed spawn */
};

/* What a spawn asks for, resolved. */
struct want {
	const char	*type;		/* canonical or nvidia-smi name */
	bool		 cpu;
	int		 count;		/* GPUs; 1 slot for CPU */
	int		 min_vram_gb;
};

/* Resources held by live instances. */
struct usage {
	bool		*gpu_used;	/* owned; parallel to local.gpus */
	int		 cpu_used;
};

/*
 * The handshake between spawn and the processes it forks: each message
 * is one write of a few bytes, so atomic on a pipe.
 */
enum sup_kind {
	SUP_FORKED = 1,		/* from the intermediate: the pid */
	SUP_READY,		/* from the supervisor: it is up */
	SUP_FAILED,		/* from either: step and errno */
};

enum sup_step {
	STEP_FORK = 0,
	STEP_SETSID,
	STEP_CHDIR,
	STEP_STDIN,
	STEP_STDOUT,
	STEP_STDERR,
	STEP_FDS,
	STEP_SIGNALS,
	STEP_BOOTSTRAP,
	STEP_EXEC,
	STEP_ARGS,
};

static const char *const step_names[] = {
	[STEP_FORK] = "fork the supervisor",
	[STEP_SETSID] = "start a session",
	[STEP_CHDIR] = "enter its work dir",
	[STEP_STDIN] = "open /dev/null",
	[STEP_STDOUT] = "open stdout.log",
	[STEP_STDERR] = "open stderr.log",
	[STEP_FDS] = "close inherited fds",
	[STEP_SIGNALS] = "set up signals",
	[STEP_BOOTSTRAP] = "fork the bootstrap",
	[STEP_EXEC] = "exec a fresh image of /proc/self/exe",
	[STEP_ARGS] = "read its arguments",
};

struct sup_msg {
	int32_t		 kind;
	int32_t		 step;
	int32_t		 err;
	int32_t		 pid;
};

/*
 * Everything the supervisor needs, prepared before the fork; what its
 * fresh image needs travels in a memfd (args_fd).
 */
struct sup_args {
	const char	*id;		/* the instance's */
	const char	*dir;		/* work dir, absolute */
	const char	*path;		/* what to execve; NULL: idle */
	char *const	*argv;
	const char	*sh_path;	/* fallback when path is not runnable */
	char *const	*sh_argv;
	char *const	*envp;
	unsigned int	 max_fd;	/* when close_range is missing */
	int		 listen_fd;	/* sshd's port; -1: no sshd */
	const char	*sshd_path;
	char *const	*sshd_argv;
};

/* What the forked supervisor needs until its exec; fds at 10 or above. */
struct sup_boot {
	const char	*dir;
	int		 wfd;		/* the handshake pipe */
	int		 listen_fd;	/* -1: no sshd */
	int		 args_fd;	/* the memfd */
	unsigned int	 max_fd;
	char *const	*envp;		/* the supervisor's own */
};

static const char *const option_names[] = {
	"price_per_hour", "gpus", "cpu_slots", "nvidia_smi", "stop_grace",
	"keep_terminated",
	"ssh", "ssh_key", "sshd",
};

static const char *const env_pass[] = {
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ",
	"TMPDIR", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH",
};

/*
 * Small helpers.
 */

static void
sleep_real_ms(int64_t ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int64_t
real_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
req_addr(const struct spawn_req *req)
{
	if (req->address != NULL)
		return req->address;
	return req->label != NULL ? req->label : "?";
}

static char *
trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* A whole decimal number in [min, max]. */
static bool
parse_int(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (!isdigit((unsigned char)*s) && *s != '-')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
id_valid(const char *id)
{
	size_t	 i, plen = strlen(LOCAL_ID_PREFIX);

	if (id == NULL || !str_has_prefix(id, LOCAL_ID_PREFIX) ||
	    strlen(id) != plen + 2 * LOCAL_ID_BYTES)
		return false;
	for (i = plen; id[i] != '\0'; i++)
		if (!isdigit((unsigned char)id[i]) &&
		    (id[i] < 'a' || id[i] > 'f'))
			return false;
	return true;
}

static int
gpu_vram_gb(const struct local_gpu *g)
{
	if (g->mem_mib > 0)
		return (g->mem_mib + 512) / 1024;
	return g->model != NULL ? g->model->vram_gb : 0;
}

/* The name a GPU is offered and requested by. */
static const char *
gpu_type(const struct local_gpu *g)
{
	return g->model != NULL ? g->model->name : g->name;
}

static void
read_boot_id(char *out, size_t len)
{
	char	*s = NULL;

	out[0] = '\0';
	if (file_read("/proc/sys/kernel/random/boot_id", 256, &s,
	    NULL) == -1)
		return;
	(void)snprintf(out, len, "%s", trim(s));
	free(s);
}

/*
 * /proc.
 */

static int
proc_stat(pid_t pid, struct pstat *ps)
{
	char		 path[64], buf[1024], *p, *tok, *save = NULL, *end;
	unsigned long long v;
	ssize_t		 n;
	int		 fd, saved, i;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n == -1 && errno == EINTR);
	saved = errno;
	close(fd);
	if (n <= 0) {
		errno = n == 0 ? ESRCH : saved;
		return -1;
	}
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: parse after the last ')' */
	p = strrchr(buf, ')');
	if (p == NULL)
		goto bad;
	ps->pid = pid;
	/*
	 * Fields from 3 on: state ppid pgrp session ... and starttime, the
	 * 22nd field, in clock ticks since boot.
	 */
	for (i = 3, tok = strtok_r(p + 1, " \n", &save); tok != NULL;
	    i++, tok = strtok_r(NULL, " \n", &save)) {
		if (i == 3) {
			ps->state = tok[0];
			continue;
		}
		if (i != 4 && i != 5 && i != 6 && i != 22)
			continue;
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (errno != 0 || *end != '\0')
			goto bad;
		if (i == 4)
			ps->ppid = (pid_t)v;
		else if (i == 5)
			ps->pgrp = (pid_t)v;
		else if (i == 6)
			ps->sid = (pid_t)v;
		else {
			ps->start = v;
			return 0;
		}
	}
bad:
	errno = EINVAL;
	return -1;
}

static bool
pstat_dead(const struct pstat *ps)
{
	return ps->state == 'Z' || ps->state == 'X' || ps->state == 'x';
}

static bool
pset_has(const struct pset *s, pid_t pid)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].pid == pid)
			return true;
	return false;
}

static void
pset_release(struct pset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Is this the instance's supervisor, alive?  *reused: a stranger's. */
static bool
leader_alive(const struct meta *m, struct pstat *ps, bool *reused)
{
	*reused = false;
	if (m->pid <= 0)
		return false;
	if (proc_stat(m->pid, ps) == -1)
		return false;
	if (ps->start != m->start) {
		*reused = true;
		return false;
	}
	return !pstat_dead(ps);
}

static bool
boot_matches(const struct local *lp, const struct meta *m)
{
	return lp->boot_id[0] == '\0' || m->boot_id[0] == '\0' ||
	    strcmp(lp->boot_id, m->boot_id) == 0;
}

/* Does the process's environment hold GR_INSTANCE_ID=id? */
static bool
environ_tagged(pid_t pid, const char *id)
{
	char	 path[64], *text = NULL, *tag;
	size_t	 len, tlen, off;
	bool	 yes = false;

	(void)snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	if (file_read(path, ENVIRON_MAX, &text, &len) == -1)
		return false;
	tag = xasprintf("GR_INSTANCE_ID=%s", id);
	tlen = strlen(tag);
	for (off = 0; off < len && !yes; off += strnlen(text + off,
	    len - off) + 1)
		yes = len - off > tlen && memcmp(text + off, tag, tlen) == 0 &&
		    text[off + tlen] == '\0';
	free(tag);
	free(text);
	return yes;
}

/*
 * Bring s up to date with the instance's live processes: drop those that
 * died (or whose pid now names another process), add members not seen
 * yet: the supervisor, its process group and session, and its children
 * (orphans it adopted as subreaper), each started no earlier than the
 * supervisor, and the descendants of all these, even those that started
 * a session of their own (sshd's do).  Nothing is added when the
 * supervisor's pid belongs to a stranger: then the instance's group is
 * gone (see the top of the file).
 */
static void
pset_refresh(const struct local *lp, const struct meta *m, struct pset *s)
{
	struct pstat	 ps, lead;
	struct pset	 rest = { NULL, 0 };
	struct dirent	*de;
	DIR		*d;
	size_t		 i, j;
	int		 pass;
	bool		 alive, reused, added;
	long		 pid;
	pid_t		 self = getpid();

	for (i = j = 0; i < s->n; i++) {
		if (proc_stat(s->v[i].pid, &ps) == -1 ||
		    ps.start != s->v[i].start || pstat_dead(&ps))
			continue;
		s->v[j++] = s->v[i];
	}
	s->n = j;
	if (m->pid <= 0 || !boot_matches(lp, m))
		return;
	alive = leader_alive(m, &lead, &reused);
	if (reused)
		return;
	d = opendir("/proc");
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!parse_int(de->d_name, 1, INT_MAX, &pid) ||
		    (pid_t)pid == self || pset_has(s, (pid_t)pid))
			continue;
		if (proc_stat((pid_t)pid, &ps) == -1 || pstat_dead(&ps) ||
		    ps.start < m->start)
			continue;
		if (ps.pid != m->pid && ps.pgrp != m->pid &&
		    ps.sid != m->pid && !(alive && ps.ppid == m->pid)) {
			/* maybe a descendant: decided below */
			rest.v = xreallocarray(rest.v, rest.n + 1,
			    sizeof(*rest.v));
			rest.v[rest.n++] = ps;
			continue;
		}
		s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
		s->v[s->n++] = ps;
	}
	closedir(d);
	/*
	 * Children of members are members, until nothing changes; so are
	 * processes that carry the instance's id in their environment
	 * (the bootstrap's and SSH sessions'), which an escape into a new
	 * session and the loss of the parents in between cannot hide.
	 */
	for (pass = 0; pass < 2; pass++) {
		do {
			added = false;
			for (i = 0; i < rest.n; i++) {
				if (rest.v[i].pid == 0 ||
				    !pset_has(s, rest.v[i].ppid))
					continue;
				s->v = xreallocarray(s->v, s->n + 1,
				    sizeof(*s->v));
				s->v[s->n++] = rest.v[i];
				rest.v[i].pid = 0;
				added = true;
			}
		} while (added);
		for (i = 0; pass == 0 && i < rest.n; i++) {
			if (rest.v[i].pid == 0 ||
			    !environ_tagged(rest.v[i].pid, m->id))
				continue;
			s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
			s->v[s->n++] = rest.v[i];
			rest.v[i].pid = 0;
		}
	}
	pset_release(&rest);
}

/* Signal one process, unless its pid now names another. */
static void
signal_pinned(const struct pstat *ps, int sig)
{
	struct pstat	 now;
	int		 fd;

	fd = pidfd_open(ps->pid, 0);
	if (fd == -1) {
		if (errno != ENOSYS)
			return;		/* gone */
		if (proc_stat(ps->pid, &now) == 0 && now.start == ps->start)
			(void)kill(ps->pid, sig);
		return;
	}
	/* the pidfd pins the process: check it is still the one we saw */
	if (proc_stat(ps->pid, &now) == 0 && now.start == ps->start)
		(void)pidfd_send_signal(fd, sig, NULL, 0);
	close(fd);
}

static void
pset_signal(const struct pset *s, int sig)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		signal_pinned(&s->v[i], sig);
}

/*
 * Signal the instance's processes, then wait up to ms for none to be
 * left, signalling newcomers too.  True when none is left.
 */
static bool
pset_kill_wait(const struct local *lp, const struct meta *m,
    struct pset *s, int sig, int64_t ms)
{
	int64_t	 deadline = clock_mono_ms() + ms, nap = 5;

	for (;;) {
		pset_refresh(lp, m, s);
		if (s->n == 0)
			return true;
		if (sig != 0)
			pset_signal(s, sig);
		if (sig == SIGTERM)
			pset_signal(s, SIGCONT);	/* stopped ones */
		if (clock_mono_ms() >= deadline)
			break;
		sleep_real_ms(nap);
		if (nap < 50)
			nap *= 2;
		/* SIGTERM once; SIGKILL to every newcomer */
		if (sig == SIGTERM)
			sig = 0;
	}
	pset_refresh(lp, m, s);
	return s->n == 0;
}

/* A crashed machine takes its processes with it. */
static void
kill_leftovers(const struct local *lp, const struct meta *m)
{
	struct pset	 s = { NULL, 0 };

	pset_refresh(lp, m, &s);
	if (s.n > 0) {
		log_info("%s: local instance %s: supervisor gone, killing %zu "
		    "leftover process%s", m->address, m->id, s.n,
		    s.n == 1 ? "" : "es");
		if (!pset_kill_wait(lp, m, &s, SIGKILL, KILL_WAIT_MS))
			log_warnx("%s: local instance %s: %zu process%s "
			    "survived SIGKILL", m->address, m->id, s.n,
			    s.n == 1 ? "" : "es");
	}
	pset_release(&s);
}

/*
 * GPUs: parsing nvidia-smi, the "gpus" option, detection.
 */

void
local_gpus_free(struct local_gpu *g, size_t n)
{
	size_t	 i;

	if (g == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(g[i].uuid);
		free(g[i].name);
	}
	free(g);
}

static struct local_gpu *
gpus_add(struct local_gpu **v, size_t *n)
{
	struct local_gpu	*g;

	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	g = &(*v)[(*n)++];
	memset(g, 0, sizeof(*g));
	return g;
}

/* Split line on commas into at most max trimmed fields; the count. */
static size_t
csv_split(char *line, char **f, size_t max)
{
	size_t	 n = 0;
	char	*p = line, *comma;

	while (n < max) {
		comma = strchr(p, ',');
		if (comma != NULL)
			*comma = '\0';
		f[n++] = trim(p);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return n;
}

static bool
nvsmi_mem(char *s, int *out)
{
	long	 v;
	size_t	 len = strlen(s);

	if (strcmp(s, "[N/A]") == 0 || strcmp(s, "[Not Supported]") == 0) {
		*out = 0;
		return true;
	}
	if (len > 4 && strcmp(s + len - 4, " MiB") == 0)
		s[len - 4] = '\0';
	if (!parse_int(s, 0, 100000000L, &v))
		return false;
	*out = (int)v;
	return true;
}

int
local_parse_nvsmi(const char *csv, struct local_gpu **gpusp, size_t *np,
    struct gr_err *e)
{
	struct local_gpu	*gpus = NULL, *g;
	size_t			 n = 0, nf, i, lineno = 0;
	char			*copy, *line, *next, *f[16], *raw = NULL;
	const char		*what;
	long			 idx;
	int			 mem;

	*gpusp = NULL;
	*np = 0;
	copy = xstrdup(csv);
	for (line = copy; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		free(raw);
		raw = xstrdup(trim(line));
		if (*raw == '\0')
			continue;
		nf = csv_split(line, f, nitems(f));
		if (n == 0 && strcmp(f[0], "index") == 0)
			continue;	/* the header of --format=csv */
		what = "expected index, uuid, name, memory.total";
		if (nf < 4)
			goto bad;
		what = "bad index";
		if (!parse_int(f[0], 0, NVSMI_MAX_GPUS - 1, &idx))
			goto bad;
		what = "index listed twice";
		for (i = 0; i < n; i++)
			if (gpus[i].index == (int)idx)
				goto bad;
		what = "empty uuid or name";
		if (*f[1] == '\0' || *f[2] == '\0')
			goto bad;
		what = "bad memory.total";
		if (!nvsmi_mem(f[3], &mem))
			goto bad;
		what = "too many GPUs";
		if (n == NVSMI_MAX_GPUS)
			goto bad;
		g = gpus_add(&gpus, &n);
		g->index = (int)idx;
		g->uuid = xstrdup(f[1]);
		g->name = xstrdup(f[2]);
		g->model = catalog_from_nvsmi(f[2]);
		g->mem_mib = mem;
	}
	free(raw);
	free(copy);
	*gpusp = gpus;
	*np = n;
	return 0;

bad:
	gr_err_set(e, GR_E_IO, "nvidia-smi output line %zu: %s: '%.60s'",
	    lineno, what, raw);
	free(raw);
	free(copy);
	local_gpus_free(gpus, n);
	return -1;
}

/* "TYPE:N[,TYPE:N]" with canonical names; "" or "none": no GPUs. */
static int
parse_declared(const char *spec, struct local_gpu **gpusp, size_t *np,
    struct gr_err *e)
{
	struct local_gpu	*gpus = NULL, *g;
	const struct gpu_model	*model;
	const char		*names[64], *sugg;
	size_t			 n = 0, i, nnames = 0;
	char			*copy, *tok, *save = NULL, *colon, *type;
	long			 count;

	*gpusp = NULL;
	*np = 0;
	copy = xstrdup(spec);
	if (*trim(copy) == '\0' || strcmp(trim(copy), "none") == 0)
		goto done;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		colon = strchr(tok, ':');
		if (colon == NULL) {
			gr_err_set(e, GR_E_CONFIG, "local: option gpus: '%s' "
			    "is not TYPE:COUNT", trim(tok));
			gr_err_hint(e, "write it like gpus: RTX_4090:2");
			goto fail;
		}
		*colon = '\0';
		type = trim(tok);
		model = catalog_find(type);
		if (model == NULL || strcmp(model->name, GPU_CPU) == 0) {
			gr_err_set(e, GR_E_CONFIG, "local: option gpus: "
			    "unknown GPU type '%s'", type);
			for (i = 0; i < catalog_count() &&
			    nnames < nitems(names); i++)
				names[nnames++] = catalog_at(i)->name;
			sugg = str_suggest(type, names, nnames);
			if (sugg != NULL)
				gr_err_hint(e, "did you mean '%s'?", sugg);
			else
				gr_err_hint(e, "use a canonical name such as "
				    "RTX_4090 or H100_SXM");
			goto fail;
		}
		if (!parse_int(trim(colon + 1), 1, DECLARED_MAX, &count)) {
			gr_err_set(e, GR_E_CONFIG, "local: option gpus: bad "
			    "count '%s' for %s (1 to %d)", trim(colon + 1),
			    type, DECLARED_MAX);
			goto fail;
		}
		for (i = 0; i < n; i++) {
			if (gpus[i].model == model) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "gpus: %s is listed twice", type);
				goto fail;
			}
		}
		while (count-- > 0) {
			g = gpus_add(&gpus, &n);
			g->index = (int)(n - 1);
			g->name = xstrdup(model->name);
			g->model = model;
			g->mem_mib = model->vram_gb * 1024;
		}
	}
done:
	free(copy);
	*gpusp = gpus;
	*np = n;
	return 0;

fail:
	free(copy);
	local_gpus_free(gpus, n);
	return -1;
}

/*
 * Environments: of an instance, of the supervisor, of a helper.
 */

struct envv {
	char		**v;		/* owned, NULL-terminated */
	size_t		 n;
};

static bool
env_name_valid(const char *k)
{
	if (!isalpha((unsigned char)*k) && *k != '_')
		return false;
	for (; *k != '\0'; k++)
		if (!isalnum((unsigned char)*k) && *k != '_')
			return false;
	return true;
}

static void
env_put(struct envv *ev, const char *key, const char *value)
{
	size_t	 klen = strlen(key), i;
	char	*s = xasprintf("%s=%s", key, value);

	for (i = 0; i < ev->n; i++) {
		if (strncmp(ev->v[i], key, klen) == 0 &&
		    ev->v[i][klen] == '=') {
			free(ev->v[i]);
			ev->v[i] = s;
			return;
		}
	}
	ev->v = xreallocarray(ev->v, ev->n + 2, sizeof(*ev->v));
	ev->v[ev->n++] = s;
	ev->v[ev->n] = NULL;
}

static void
env_release(struct envv *ev)
{
	size_t	 i;

	for (i = 0; i < ev->n; i++)
		free(ev->v[i]);
	free(ev->v);
	ev->v = NULL;
	ev->n = 0;
}

/*
 * What a helper (nvidia-smi, ssh-keygen) and an instance get of ours:
 * the env_pass variables, a PATH in any case; no API keys.
 */
static void
env_base(struct envv *ev)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < nitems(env_pass); i++) {
		v = getenv(env_pass[i]);
		if (v != NULL)
			env_put(ev, env_pass[i], v);
	}
	if (getenv("PATH") == NULL)
		env_put(ev, "PATH", "/usr/local/bin:/usr/bin:/bin");
}

/* The first non-empty line of s, for messages; borrowed from a static. */
static const char *
first_line(const char *s, char *out, size_t len)
{
	size_t	 n;

	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	n = strcspn(s, "\r\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

/*
 * Run nvidia-smi with our query, no shell, with a timeout; stdout into
 * *out.  *missing: it is not installed.
 */
static int
nvsmi_run(const char *prog, char **out, bool *missing, struct gr_err *e)
{
	struct proc_result	 res;
	struct envv		 ev = { NULL, 0 };
	char *const		 argv[] = { (char *)prog,
	    (char *)NVSMI_ARG_QUERY, (char *)NVSMI_ARG_FORMAT, NULL };
	char			 line[200];
	int			 rc = -1;

	*out = NULL;
	*missing = false;
	env_base(&ev);
	(void)proc_run(argv, ev.v, NVSMI_TIMEOUT_MS, NVSMI_OUT_MAX, &res);
	env_release(&ev);
	if (res.spawn_errno != 0) {
		*missing = res.spawn_errno == ENOENT;
		gr_err_set(e, GR_E_IO, "local: cannot run '%s': %s", prog,
		    strerror(res.spawn_errno));
	} else if (res.timed_out)
		gr_err_set(e, GR_E_TRANSIENT, "local: '%s' did not answer "
		    "within %d s", prog, NVSMI_TIMEOUT_MS / 1000);
	else if (res.signal != 0)
		gr_err_set(e, GR_E_IO, "local: '%s' killed by signal %d",
		    prog, res.signal);
	else if (res.status != 0) {
		/* nvidia-smi prints some failures on stdout */
		first_line(res.err.len > 0 ? buf_str(&res.err) :
		    buf_str(&res.out), line, sizeof(line));
		gr_err_set(e, GR_E_IO, "local: '%s' exited %d%s%s", prog,
		    res.status, *line != '\0' ? ": " : "", line);
	} else {
		*out = xstrdup(buf_str(&res.out));
		rc = 0;
	}
	proc_result_release(&res);
	return rc;
}

/*
 * Fill lp->gpus once (called with lp->mtx held).  Without nvidia-smi
 * there are no GPUs; a default nvidia-smi that fails is logged and means
 * no GPUs; one the config named that fails is an error, tried again next
 * time.
 */
static int
gpus_ensure(struct local *lp, struct gr_err *e)
{
	struct gr_err	 e2;
	char		*out = NULL, ebuf[600];
	bool		 missing;

	if (lp->detected)
		return 0;
	gr_err_clear(&e2);
	if (nvsmi_run(lp->nvsmi, &out, &missing, &e2) == 0 &&
	    local_parse_nvsmi(out, &lp->gpus, &lp->ngpus, &e2) == 0) {
		free(out);
		lp->detected = true;
		log_debug("local: %zu GPU%s from %s", lp->ngpus,
		    lp->ngpus == 1 ? "" : "s", lp->nvsmi);
		return 0;
	}
	free(out);
	if (lp->nvsmi_explicit) {
		gr_err_copy(e, &e2);
		gr_err_hint(e, "check the nvidia_smi option of the local "
		    "provider, or declare the GPUs with its gpus option");
		return -1;
	}
	if (missing)
		log_debug("local: no nvidia-smi on PATH: no GPUs");
	else
		log_warnx("%s; using no GPUs", gr_err_str(&e2, ebuf,
		    sizeof(ebuf)));
	lp->detected = true;
	return 0;
}

/*
 * Options.
 */

static int
local_options(struct local *lp, const struct provider_conf *conf,
    struct gr_err *e)
{
	const char	*k, *v, *why, *sugg;
	size_t		 i;
	long		 n;
	int64_t		 secs;

	for (i = 0; i < conf->noptions; i++) {
		k = conf->options[i].key;
		v = conf->options[i].value != NULL ? conf->options[i].value :
		    "";
		if (strcmp(k, "price_per_hour") == 0) {
			if (!money_parse(v, &lp->price, &why)) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "price_per_hour: '%s': %s", v, why);
				gr_err_hint(e, "write an amount in USD such "
				    "as 0.50");
				return -1;
			}
		} else if (strcmp(k, "gpus") == 0) {
			local_gpus_free(lp->gpus, lp->ngpus);
			lp->gpus = NULL;
			lp->ngpus = 0;
			if (parse_declared(v, &lp->gpus, &lp->ngpus, e) == -1)
				return -1;
			lp->declared = lp->detected = true;
		} else if (strcmp(k, "cpu_slots") == 0) {
			if (!parse_int(v, 0, CPU_SLOTS_MAX, &n)) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "cpu_slots: '%s' is not a whole number "
				    "from 0 to %d", v, CPU_SLOTS_MAX);
				return -1;
			}
			lp->cpu_slots = (int)n;
		} else if (strcmp(k, "nvidia_smi") == 0) {
			if (*v == '\0' || (strchr(v, '/') != NULL &&
			    access(v, X_OK) == -1)) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "nvidia_smi: '%s' is not an executable "
				    "file", v);
				gr_err_hint(e, "give the path of nvidia-smi, "
				    "or remove the option to look it up on "
				    "PATH");
				return -1;
			}
			free(lp->nvsmi);
			lp->nvsmi = xstrdup(v);
			lp->nvsmi_explicit = true;
		} else if (strcmp(k, "stop_grace") == 0) {
			if (!duration_parse(v, &secs, &why)) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "stop_grace: '%s': %s", v, why);
				return -1;
			}
			lp->stop_grace_ms = secs * 1000;
		} else if (strcmp(k, "keep_terminated") == 0) {
			if (!duration_parse(v, &secs, &why)) {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "keep_terminated: '%s': %s", v, why);
				gr_err_hint(e, "a duration such as 30d, or 0s "
				    "to keep ended instances' logs forever");
				return -1;
			}
			lp->keep_terminated_ms = secs * 1000;
		} else if (strcmp(k, "ssh") == 0) {
			if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
				gr_err_set(e, GR_E_CONFIG, "local: option ssh: "
				    "'%s' is not true or false", v);
				return -1;
			}
			lp->ssh = strcmp(v, "true") == 0;
		} else if (strcmp(k, "ssh_key") == 0) {
			if (*v == '\0') {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "ssh_key is empty");
				gr_err_hint(e, "give the path of a private key "
				    "with its .pub beside it, or remove the "
				    "option to use a generated one");
				return -1;
			}
			free(lp->ssh_key);
			lp->ssh_key = xstrdup(v);
		} else if (strcmp(k, "sshd") == 0) {
			if (*v != '/') {
				gr_err_set(e, GR_E_CONFIG, "local: option "
				    "sshd: '%s' is not an absolute path", v);
				gr_err_hint(e, "sshd needs its absolute path, "
				    "such as /usr/sbin/sshd");
				return -1;
			}
			free(lp->sshd);
			lp->sshd = xstrdup(v);
		} else {
			gr_err_set(e, GR_E_CONFIG, "local: unknown option '%s'",
			    k);
			sugg = str_suggest(k, option_names,
			    nitems(option_names));
			if (sugg != NULL)
				gr_err_hint(e, "did you mean '%s'?", sugg);
			else
				gr_err_hint(e, "the local provider knows "
				    "price_per_hour, gpus, cpu_slots, "
				    "nvidia_smi, stop_grace, keep_terminated, "
				    "ssh, ssh_key and sshd");
			return -1;
		}
	}
	return 0;
}

/*
 * meta.json.
 */

static void
meta_release(struct meta *m)
{
	free(m->id);
	free(m->label);
	free(m->address);
	free(m->gpu);
	free(m->idx);
	free(m->ssh_user);
	free(m->ssh_key);
	memset(m, 0, sizeof(*m));
}

static char *
inst_path(const struct local *lp, const char *id, const char *file)
{
	if (file == NULL)
		return xasprintf("%s/%s", lp->inst_dir, id);
	return xasprintf("%s/%s/%s", lp->inst_dir, id, file);
}

static int
meta_write(const struct local *lp, const struct meta *m, struct gr_err *e)
{
	json_t	*o, *a;
	char	*s = NULL, *path = NULL;
	size_t	 i;
	int	 rc = -1;

	o = json_object();
	a = json_array();
	for (i = 0; i < m->nidx; i++)
		json_array_append_new(a, json_integer(m->idx[i]));
	/* first: set_new takes a even when it fails */
	if (json_object_set_new(o, "gpus", a) == -1 ||
	    json_object_set_new(o, "id", json_string(m->id)) == -1 ||
	    json_object_set_new(o, "label", m->label != NULL ?
	    json_string(m->label) : json_null()) == -1 ||
	    json_object_set_new(o, "address", json_string(m->address)) == -1 ||
	    json_object_set_new(o, "gpu", json_string(m->gpu)) == -1 ||
	    json_object_set_new(o, "gpu_count",
	    json_integer(m->gpu_count)) == -1 ||
	    json_object_set_new(o, "price", json_integer(m->price)) == -1 ||
	    json_object_set_new(o, "created_ms",
	    json_integer(m->created_ms)) == -1 ||
	    json_object_set_new(o, "pid", json_integer(m->pid)) == -1 ||
	    json_object_set_new(o, "start_time",
	    json_integer((json_int_t)m->start)) == -1 ||
	    json_object_set_new(o, "boot_id", json_string(m->boot_id)) == -1 ||
	    json_object_set_new(o, "ssh_port", json_integer(m->ssh_port)) ==
	    -1 || json_object_set_new(o, "ssh_user", m->ssh_user != NULL ?
	    json_string(m->ssh_user) : json_null()) == -1 ||
	    json_object_set_new(o, "ssh_key", m->ssh_key != NULL ?
	    json_string(m->ssh_key) : json_null()) == -1) {
		gr_err_set(e, GR_E_INTERNAL, "local: cannot encode the meta "
		    "of %s (label or address not UTF-8?)", m->id);
		goto free_o;
	}
	s = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (s == NULL) {
		gr_err_set(e, GR_E_INTERNAL, "local: cannot encode the meta "
		    "of %s", m->id);
		goto free_o;
	}
	path = inst_path(lp, m->id, "meta.json");
	if (file_write_atomic(path, s, strlen(s), 0600) == -1) {
		gr_err_set(e, GR_E_IO, "local: write %s: %s", path,
		    strerror(errno));
		goto free_o;
	}
	rc = 0;

free_o:
	free(path);
	free(s);
	json_decref(o);
	return rc;
}

static char *
json_str_dup(const json_t *o, const char *key)	/* o borrowed */
{
	const json_t	*v = json_object_get(o, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

/* -1 with errno ENOENT (no such instance) or EINVAL (unreadable). */
static int
meta_read(const struct local *lp, const char *id, struct meta *m)
{
	json_t		*o, *a, *v;
	json_error_t	 jerr;
	struct stat	 st;
	char		*path, *s = NULL, *bid;
	size_t		 len, i;
	int		 saved;

	memset(m, 0, sizeof(*m));
	path = inst_path(lp, id, "meta.json");
	if (file_read(path, META_MAX, &s, &len) == -1 ||
	    stat(path, &st) == -1) {
		saved = errno;
		free(s);
		free(path);
		errno = saved == ENOENT || saved == ENOTDIR ? ENOENT : EINVAL;
		return -1;
	}
	free(path);
	m->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000;
	o = json_loadb(s, len, 0, &jerr);
	free(s);
	if (!json_is_object(o))
		goto bad;
	m->id = json_str_dup(o, "id");
	m->label = json_str_dup(o, "label");
	m->address = json_str_dup(o, "address");
	m->gpu = json_str_dup(o, "gpu");
	if (m->id == NULL || strcmp(m->id, id) != 0 || m->address == NULL ||
	    m->gpu == NULL)
		goto bad;
	m->gpu_count = (int)json_integer_value(json_object_get(o,
	    "gpu_count"));
	m->price = json_integer_value(json_object_get(o, "price"));
	m->created_ms = json_integer_value(json_object_get(o, "created_ms"));
	v = json_object_get(o, "pid");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > INT_MAX)
		goto bad;
	m->pid = (pid_t)json_integer_value(v);
	m->start = (unsigned long long)json_integer_value(json_object_get(o,
	    "start_time"));
	bid = json_str_dup(o, "boot_id");
	(void)snprintf(m->boot_id, sizeof(m->boot_id), "%s",
	    bid != NULL ? bid : "");
	free(bid);
	v = json_object_get(o, "ssh_port");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < 65536) {
		m->ssh_port = (int)json_integer_value(v);
		m->ssh_user = json_str_dup(o, "ssh_user");
		m->ssh_key = json_str_dup(o, "ssh_key");
		if (m->ssh_user == NULL || m->ssh_key == NULL)
			goto bad;
	}
	a = json_object_get(o, "gpus");
	if (json_is_array(a) && json_array_size(a) > 0) {
		m->idx = xcalloc(json_array_size(a), sizeof(*m->idx));
		for (i = 0; i < json_array_size(a); i++)
			m->idx[m->nidx++] = (int)json_integer_value(
			    json_array_get(a, i));
	}
	json_decref(o);
	return 0;

bad:
	json_decref(o);
	meta_release(m);
	errno = EINVAL;
	return -1;
}

/* Where an instance stands, from its meta and /proc. */
static enum probe
meta_probe(const struct local *lp, const struct meta *m)
{
	struct pstat	 ps;
	bool		 reused;

	if (m->pid == 0)
		return real_now_ms() - m->mtime_ms < SPAWNING_MS ?
		    PROBE_SPAWNING : PROBE_LOST;
	if (!boot_matches(lp, m) || !leader_alive(m, &ps, &reused))
		return PROBE_DEAD;
	return ps.state == 'T' ? PROBE_STOPPED : PROBE_RUNNING;
}

static int
ids_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
ids_free(char **ids, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The ids in instances/, sorted; owned by the caller. */
static int
inst_ids(const struct local *lp, char ***idsp, size_t *np,
    struct gr_err *e)
{
	DIR		*d;
	struct dirent	*de;
	char		**ids = NULL;
	size_t		 n = 0;

	*idsp = NULL;
	*np = 0;
	d = opendir(lp->inst_dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		gr_err_set(e, GR_E_IO, "local: read %s: %s", lp->inst_dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!id_valid(de->d_name))
			continue;
		ids = xreallocarray(ids, n + 1, sizeof(*ids));
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), ids_cmp);
	*idsp = ids;
	*np = n;
	return 0;
}

/*
 * Resources: what live instances hold, and picking free ones.
 */

/* Where an instance stands; a crashed one loses its leftovers. */
static enum probe
inst_probe(const struct local *lp, const struct meta *m)
{
	enum probe	 pr = meta_probe(lp, m);

	if (pr == PROBE_DEAD && boot_matches(lp, m))
		kill_leftovers(lp, m);
	return pr;
}

static bool
probe_holds(enum probe pr)
{
	return pr == PROBE_RUNNING || pr == PROBE_STOPPED ||
	    pr == PROBE_SPAWNING;
}

static int
usage_read(const struct local *lp, struct usage *u, struct gr_err *e)
{
	struct meta	 m;
	char		**ids;
	size_t		 n, i, j, k;

	u->gpu_used = xcalloc(lp->ngpus + 1, sizeof(*u->gpu_used));
	u->cpu_used = 0;
	if (inst_ids(lp, &ids, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (meta_read(lp, ids[i], &m) == -1)
			continue;
		if (probe_holds(inst_probe(lp, &m))) {
			if (strcmp(m.gpu, GPU_CPU) == 0)
				u->cpu_used++;
			for (j = 0; j < m.nidx; j++)
				for (k = 0; k < lp->ngpus; k++)
					if (lp->gpus[k].index == m.idx[j])
						u->gpu_used[k] = true;
		}
		meta_release(&m);
	}
	ids_free(ids, n);
	return 0;
}

static void
usage_release(struct usage *u)
{
	free(u->gpu_used);
	u->gpu_used = NULL;
}

static int
want_from_req(const struct spawn_req *req, struct want *w, struct gr_err *e)
{
	memset(w, 0, sizeof(*w));
	w->type = GPU_CPU;
	if (req->gpu != NULL && req->gpu->type != NULL) {
		w->type = req->gpu->type;
		w->count = req->gpu->count;
		w->min_vram_gb = req->gpu->min_vram_gb;
	} else if (req->offer != NULL && req->offer->gpu != NULL) {
		w->type = req->offer->gpu;
		w->count = req->offer->gpu_count;
	}
	w->cpu = strcmp(w->type, GPU_CPU) == 0;
	if (w->cpu) {
		w->count = 1;
		return 0;
	}
	if (w->count < 1) {
		gr_err_set(e, GR_E_INVALID_SPEC, "spawn '%s' on local: %d %s "
		    "GPUs per instance", req_addr(req), w->count, w->type);
		gr_err_hint(e, "ask for at least one GPU, or gpu: CPU");
		return -1;
	}
	return 0;
}

/* "H100_SXM x1, CPU x16", for hints. */
static void
machine_summary(const struct local *lp, struct buf *b)
{
	size_t	 i, j, n;
	bool	 seen;

	for (i = 0; i < lp->ngpus; i++) {
		seen = false;
		for (j = 0; j < i; j++)
			if (strcmp(gpu_type(&lp->gpus[j]),
			    gpu_type(&lp->gpus[i])) == 0)
				seen = true;
		if (seen)
			continue;
		for (n = 0, j = i; j < lp->ngpus; j++)
			if (strcmp(gpu_type(&lp->gpus[j]),
			    gpu_type(&lp->gpus[i])) == 0)
				n++;
		buf_addf(b, "%s x%zu, ", gpu_type(&lp->gpus[i]), n);
	}
	buf_addf(b, "CPU x%d", lp->cpu_slots);
}

/*
 * Choose free GPUs (or a CPU slot) for w; *idxp owned by the caller.
 * GR_E_CAPACITY, saying why, when there are not enough.
 */
static int
alloc_pick(const struct local *lp, const struct spawn_req *req,
    const struct want *w, const struct usage *u, int **idxp, size_t *nidxp,
    struct gr_err *e)
{
	struct buf	 b = BUF_INIT;
	int		 total = 0, big = 0, nfree = 0, maxv = 0;
	size_t		 i;

	*idxp = NULL;
	*nidxp = 0;
	if (w->cpu) {
		if (u->cpu_used < lp->cpu_slots)
			return 0;
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: no free "
		    "CPU slot (%d of %d in use)", req_addr(req), u->cpu_used,
		    lp->cpu_slots);
		gr_err_hint(e, "free an instance, lower the group's count, or "
		    "raise cpu_slots in the local provider's config");
		return -1;
	}
	for (i = 0; i < lp->ngpus; i++) {
		if (strcmp(gpu_type(&lp->gpus[i]), w->type) != 0)
			continue;
		total++;
		if (gpu_vram_gb(&lp->gpus[i]) > maxv)
			maxv = gpu_vram_gb(&lp->gpus[i]);
		if (gpu_vram_gb(&lp->gpus[i]) < w->min_vram_gb)
			continue;
		big++;
		if (!u->gpu_used[i])
			nfree++;
	}
	if (total == 0) {
		machine_summary(lp, &b);
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: no %s on "
		    "this machine", req_addr(req), w->type);
		gr_err_hint(e, "it has %s; declare GPUs with the local "
		    "provider's gpus option (gpus: %s:1) or use another "
		    "provider", buf_str(&b), w->type);
		buf_release(&b);
		return -1;
	}
	if (big == 0) {
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: no %s with "
		    "%d GB (these have %d GB)", req_addr(req), w->type,
		    w->min_vram_gb, maxv);
		gr_err_hint(e, "lower min_vram_gb");
		return -1;
	}
	if (w->count > big) {
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: %d %s per "
		    "instance, this machine has %d", req_addr(req), w->count,
		    w->type, big);
		gr_err_hint(e, "lower the group's gpu count, or declare more "
		    "gpus in the local provider's config");
		return -1;
	}
	if (nfree < w->count) {
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: no free %s "
		    "(%d of %d in use)", req_addr(req), w->type, big - nfree,
		    big);
		gr_err_hint(e, "lower the group's count, free an instance, or "
		    "declare more gpus in the local provider's config");
		return -1;
	}
	*idxp = xcalloc((size_t)w->count, sizeof(**idxp));
	for (i = 0; i < lp->ngpus && *nidxp < (size_t)w->count; i++) {
		if (strcmp(gpu_type(&lp->gpus[i]), w->type) != 0 ||
		    gpu_vram_gb(&lp->gpus[i]) < w->min_vram_gb ||
		    u->gpu_used[i])
			continue;
		(*idxp)[(*nidxp)++] = lp->gpus[i].index;
	}
	return 0;
}

/* flock on alloc.lock, bounded; *fdp is -1 or the locked fd. */
static int
alloc_lock(const struct local *lp, int *fdp, struct gr_err *e)
{
	int64_t	 deadline = clock_mono_ms() + LOCK_TIMEOUT_MS;
	int	 fd;

	*fdp = -1;
	fd = open(lp->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		gr_err_set(e, GR_E_IO, "local: open %s: %s", lp->lock_path,
		    strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			gr_err_set(e, GR_E_IO, "local: lock %s: %s",
			    lp->lock_path, strerror(errno));
			close(fd);
			return -1;
		}
		if (clock_mono_ms() >= deadline) {
			gr_err_set(e, GR_E_TRANSIENT, "local: %s stayed locked "
			    "for %d s", lp->lock_path, LOCK_TIMEOUT_MS / 1000);
			gr_err_hint(e, "another gpureconcile is spawning "
			    "local instances");
			close(fd);
			return -1;
		}
		sleep_real_ms(5);
	}
	*fdp = fd;
	return 0;
}

static void
alloc_unlock(int fd)
{
	if (fd == -1)
		return;
	/* explicit: a forked child may still share the open file */
	(void)flock(fd, LOCK_UN);
	close(fd);
}

static int
env_build(const struct spawn_req *req, const char *id, const char *cvd,
    struct envv *ev, struct gr_err *e)
{
	const char	*eq;
	char		*k;
	size_t		 i;

	env_base(ev);
	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		eq = strchr(environ[i], '=');
		if (!str_has_prefix(environ[i], "LC_") || eq == NULL)
			continue;
		k = xstrndup(environ[i], (size_t)(eq - environ[i]));
		if (env_name_valid(k))
			env_put(ev, k, eq + 1);
		free(k);
	}
	for (i = 0; i < req->nenv; i++) {
		if (req->env[i].key == NULL ||
		    !env_name_valid(req->env[i].key)) {
			gr_err_set(e, GR_E_INVALID_SPEC, "spawn '%s' on local: "
			    "bad environment variable name '%s'",
			    req_addr(req), req->env[i].key != NULL ?
			    req->env[i].key : "");
			gr_err_hint(e, "use letters, digits and _");
			return -1;
		}
		env_put(ev, req->env[i].key, req->env[i].value != NULL ?
		    req->env[i].value : "");
	}
	env_put(ev, "GR_ADDRESS", req->address != NULL ? req->address : "");
	env_put(ev, "GR_LABEL", req->label != NULL ? req->label : "");
	env_put(ev, "GR_INSTANCE_ID", id);
	env_put(ev, "CUDA_VISIBLE_DEVICES", cvd);
	env_put(ev, "CUDA_DEVICE_ORDER", "PCI_BUS_ID");
	return 0;
}

/*
 * The supervisor, in two halves.
 *
 * sup_start forks twice.  The grandchild (sup_child) is a copy of a
 * possibly multi-threaded caller, so it makes system calls only: no
 * malloc, no stdio, never a return into the caller's code.  It starts a
 * session, enters the work dir, points 0-2 at /dev/null and the logs,
 * puts the handshake pipe at fd 3, sshd's port at 4 and its arguments
 * (a memfd) at 5, closes everything else and execs /proc/self/exe as
 * "gr-supervisor".  So the caller's memory is dropped at once.
 *
 * In that fresh image, sup_entry (a constructor: it runs before main,
 * in whichever binary links this file, which is the binary that forked)
 * reads the arguments and sup_loop runs the bootstrap and idles.  Being
 * single-threaded and alone there, it may allocate.
 */

#define SUP_ARGV0		"gr-supervisor"
#define SUP_ENV			"GR_LOCAL_SUPERVISOR"
#define SUP_EXE			"/proc/self/exe"
#define SUP_ARGS_MAGIC		"gr-supervisor arguments 1"
#define SUP_ARGS_MAX		(16 << 20)

static void
sup_on_chld(int sig)
{
	(void)sig;
}

static void
sup_write(int fd, const void *p, size_t n)
{
	ssize_t	 r;

	do
		r = write(fd, p, n);
	while (r == -1 && errno == EINTR);
}

static size_t
sup_utoa(unsigned int v, char *out)
{
	char	 tmp[16];
	size_t	 n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void GR_NORETURN
sup_fail(int wfd, enum sup_step step, int err)
{
	struct sup_msg	 m;

	m.kind = SUP_FAILED;
	m.step = step;
	m.err = err;
	m.pid = getpid();
	sup_write(wfd, &m, sizeof(m));
	_exit(1);
}

/* Make path the fd target; the file is not close-on-exec there. */
static int
sup_redirect(int target, const char *path, int flags)
{
	int	 fd;

	fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	if (dup2(fd, target) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
sup_record(int st)
{
	char		 b[24];
	size_t		 n;
	unsigned int	 code;
	int		 fd;

	code = WIFEXITED(st) ? (unsigned int)WEXITSTATUS(st) :
	    128u + (unsigned int)WTERMSIG(st);
	n = sup_utoa(code, b);
	b[n++] = '\n';
	fd = open("exit_status.tmp", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	sup_write(fd, b, n);
	close(fd);
	(void)rename("exit_status.tmp", "exit_status");
}

/*
 * The caller's half: the supervisor's arguments, a memfd that it reads
 * at fd 5.  A sequence of NUL-terminated strings: the magic, then each
 * field of struct sup_args; a vector is its length, then its strings;
 * "" stands for NULL where a string is optional.
 */

static void
args_str(struct buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	buf_add(b, s, strlen(s) + 1);
}

static void
args_vec(struct buf *b, char *const *v)
{
	char	 num[24];
	size_t	 n = 0, i;

	while (v != NULL && v[n] != NULL)
		n++;
	(void)snprintf(num, sizeof(num), "%zu", n);
	args_str(b, num);
	for (i = 0; i < n; i++)
		args_str(b, v[i]);
}

/* *fdp: a memfd holding a's arguments, close-on-exec, at 10 or above. */
static int
args_fd(const struct sup_args *a, int *fdp)
{
	struct buf	 b = BUF_INIT;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, hi = -1, err = 0;

	*fdp = -1;
	args_str(&b, SUP_ARGS_MAGIC);
	args_str(&b, a->path);
	args_vec(&b, a->argv);
	args_str(&b, a->sh_path);
	args_vec(&b, a->sh_argv);
	args_vec(&b, a->envp);
	args_str(&b, a->listen_fd != -1 ? a->sshd_path : NULL);
	args_vec(&b, a->listen_fd != -1 ? a->sshd_argv : NULL);
	fd = memfd_create("gr-supervisor-args", MFD_CLOEXEC);
	if (fd == -1) {
		err = errno;
		goto out;
	}
	while (off < b.len) {
		n = write(fd, b.s + off, b.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n == -1 ? errno : EIO;
			goto out;
		}
		off += (size_t)n;
	}
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	if (hi == -1)
		err = errno;
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	*fdp = hi;
	errno = err;
	return hi == -1 ? -1 : 0;
}

/* The supervisor's half: read the arguments back. */

struct args_rd {
	const char	*p, *end;
	bool		 bad;
};

static const char *
rd_str(struct args_rd *r)
{
	const char	*s = r->p;

	if (r->bad || r->p >= r->end) {
		r->bad = true;
		return "";
	}
	r->p += strlen(s) + 1;		/* the data ends in a NUL */
	return s;
}

static const char *
rd_opt(struct args_rd *r)
{
	const char	*s = rd_str(r);

	return *s == '\0' ? NULL : s;
}

static char **
rd_vec(struct args_rd *r)
{
	const char	*s = rd_str(r);
	char		**v, *endp;
	unsigned long	 n, i;

	errno = 0;
	n = strtoul(s, &endp, 10);
	if (*s < '0' || *s > '9' || *endp != '\0' || errno != 0 ||
	    n > (unsigned long)(r->end - r->p)) {
		r->bad = true;
		n = 0;
	}
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = (char *)rd_str(r);
	return v;
}

/* Fill a from fd 5 and close it; its strings point into *datap. */
static int
args_read(struct sup_args *a, char **datap)
{
	struct args_rd	 r;
	struct stat	 sb;
	char		*data;
	size_t		 len, off = 0;
	ssize_t		 n;

	*datap = NULL;
	if (fstat(SUP_ARGS_FD, &sb) == -1)
		return -1;
	if (sb.st_size <= 0 || sb.st_size > SUP_ARGS_MAX) {
		errno = EINVAL;
		return -1;
	}
	len = (size_t)sb.st_size;
	data = xmalloc(len + 1);
	while (off < len) {
		n = pread(SUP_ARGS_FD, data + off, len - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EINVAL;
			free(data);
			return -1;
		}
		off += (size_t)n;
	}
	data[len] = '\0';
	close(SUP_ARGS_FD);
	memset(a, 0, sizeof(*a));
	r.p = data;
	r.end = data + len;
	r.bad = data[len - 1] != '\0';
	if (strcmp(rd_str(&r), SUP_ARGS_MAGIC) != 0)
		r.bad = true;
	a->path = rd_opt(&r);
	a->argv = rd_vec(&r);
	a->sh_path = rd_opt(&r);
	a->sh_argv = rd_vec(&r);
	a->envp = rd_vec(&r);
	a->sshd_path = rd_opt(&r);
	a->sshd_argv = rd_vec(&r);
	a->listen_fd = a->sshd_path != NULL ? SUP_LISTEN_FD : -1;
	if (r.bad || r.p != r.end || (a->path != NULL && a->argv[0] == NULL) ||
	    (a->sshd_path != NULL && a->sshd_argv[0] == NULL)) {
		errno = EINVAL;
		*datap = data;
		return -1;
	}
	*datap = data;
	return 0;
}

static void GR_NORETURN
sup_exec_bootstrap(const struct sup_args *a, const sigset_t *none)
{
	static const char msg[] = "local: cannot execute the bootstrap, "
	    "errno ";
	char		 b[16];
	size_t		 n;

	(void)sigprocmask(SIG_SETMASK, none, NULL);
	execve(a->path, a->argv, a->envp);
	if (a->sh_path != NULL && (errno == EACCES || errno == ENOEXEC))
		execve(a->sh_path, a->sh_argv, a->envp);
	n = sup_utoa((unsigned int)errno, b);
	b[n++] = '\n';
	sup_write(2, msg, sizeof(msg) - 1);
	sup_write(2, b, n);
	_exit(127);
}

/* One SSH connection: sshd in inetd mode on it, its log in sshd.log. */
static void GR_NORETURN
sup_exec_sshd(const struct sup_args *a, int conn, const sigset_t *none)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGCHLD, &sa, NULL);
	/* never outlive the instance */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() == 1)
		_exit(1);
	if (dup2(conn, 0) == -1 || dup2(conn, 1) == -1)
		_exit(1);
	(void)sup_redirect(2, "sshd.log", O_WRONLY | O_CREAT | O_APPEND);
	(void)sigprocmask(SIG_SETMASK, none, NULL);
	execve(a->sshd_path, a->sshd_argv, a->envp);
	_exit(127);
}

/* In the fresh image: run the bootstrap, then idle until killed. */
static void GR_NORETURN
sup_loop(const struct sup_args *a, int wfd)
{
	struct sigaction sa;
	struct sup_msg	 m;
	sigset_t	 none, chld;
	struct pollfd	 pfd;
	pid_t		 child = -1, pid;
	int		 sig, st, lfd = a->listen_fd, conn;

	/* default dispositions; only SIGCHLD blocked, for sigsuspend */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sa.sa_handler = sup_on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigemptyset(&none);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigaction(SIGCHLD, &sa, NULL) == -1 ||
	    sigprocmask(SIG_SETMASK, &chld, NULL) == -1)
		sup_fail(wfd, STEP_SIGNALS, errno);

	if (a->path != NULL) {
		child = fork();
		if (child == -1)
			sup_fail(wfd, STEP_BOOTSTRAP, errno);
		if (child == 0)
			sup_exec_bootstrap(a, &none);
	}
	/* the caller may have given up on us: no SIGPIPE */
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	(void)sigaction(SIGPIPE, &sa, NULL);
	m.kind = SUP_READY;
	m.step = 0;
	m.err = 0;
	m.pid = getpid();
	sup_write(wfd, &m, sizeof(m));
	close(wfd);

	/* idle like a VM after its startup script, reaping orphans and
	 * handing each SSH connection to an sshd of its own */
	for (;;) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			if (pid == child)
				sup_record(st);
		if (lfd == -1) {
			(void)sigsuspend(&none);
			continue;
		}
		pfd.fd = lfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (ppoll(&pfd, 1, NULL, &none) <= 0 ||
		    (pfd.revents & POLLIN) == 0)
			continue;
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn == -1)
			continue;
		pid = fork();
		if (pid == 0)
			sup_exec_sshd(a, conn, &none);
		close(conn);
	}
}

/*
 * Before main of any binary that links this file: when this process is a
 * supervisor that sup_child started (argv exactly "gr-supervisor", the
 * marker in its environment, the handshake pipe at fd 3), become it and
 * never return.  glibc passes main's arguments to constructors.
 */
__attribute__((constructor)) static void
sup_entry(int argc, char **argv, char **envp)
{
	static const char msg[] = SUP_ARGV0 ": not started by gpureconcile's "
	    "local provider\n";
	struct sup_args	 a;
	struct stat	 sb;
	char		*data;

	(void)envp;
	if (argc != 1 || argv == NULL || argv[0] == NULL ||
	    strcmp(argv[0], SUP_ARGV0) != 0 || getenv(SUP_ENV) == NULL)
		return;
	if (fstat(SUP_HANDSHAKE_FD, &sb) == -1 || !S_ISFIFO(sb.st_mode) ||
	    fcntl(SUP_HANDSHAKE_FD, F_SETFD, FD_CLOEXEC) == -1) {
		sup_write(2, msg, sizeof(msg) - 1);
		_exit(127);
	}
	(void)prctl(PR_SET_NAME, SUP_ARGV0, 0, 0, 0);
	/* adopt the orphans of the bootstrap: they stay in reach */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		sup_fail(SUP_HANDSHAKE_FD, STEP_SIGNALS, errno);
	if (args_read(&a, &data) == -1)
		sup_fail(SUP_HANDSHAKE_FD, STEP_ARGS, errno);
	if (a.listen_fd != -1 && fcntl(a.listen_fd, F_SETFD, FD_CLOEXEC) ==
	    -1)
		sup_fail(SUP_HANDSHAKE_FD, STEP_FDS, errno);
	sup_loop(&a, SUP_HANDSHAKE_FD);
}

/*
 * The forked half, in a copy of the caller: system calls only.  b's fds
 * are all at 10 or above, so moving them to 3, 4 and 5 clobbers none.
 */
static void GR_NORETURN
sup_child(const struct sup_boot *b)
{
	char *const	 argv[] = { (char *)SUP_ARGV0, NULL };
	int		 wfd = b->wfd, fd;

	if (setsid() == -1)
		sup_fail(wfd, STEP_SETSID, errno);
	if (chdir(b->dir) == -1)
		sup_fail(wfd, STEP_CHDIR, errno);
	if (sup_redirect(0, "/dev/null", O_RDONLY) == -1)
		sup_fail(wfd, STEP_STDIN, errno);
	if (sup_redirect(1, "stdout.log", O_WRONLY | O_CREAT | O_APPEND) ==
	    -1)
		sup_fail(wfd, STEP_STDOUT, errno);
	if (sup_redirect(2, "stderr.log", O_WRONLY | O_CREAT | O_APPEND) ==
	    -1)
		sup_fail(wfd, STEP_STDERR, errno);
	/* dup2 leaves the copies open across exec */
	if (dup2(wfd, SUP_HANDSHAKE_FD) == -1)
		sup_fail(wfd, STEP_FDS, errno);
	wfd = SUP_HANDSHAKE_FD;
	if (dup2(b->args_fd, SUP_ARGS_FD) == -1)
		sup_fail(wfd, STEP_FDS, errno);
	if (b->listen_fd != -1) {
		if (dup2(b->listen_fd, SUP_LISTEN_FD) == -1)
			sup_fail(wfd, STEP_FDS, errno);
	} else
		(void)close(SUP_LISTEN_FD);
	/* the caller's locks and databases must not leak in here */
	if (close_range(SUP_ARGS_FD + 1, ~0u, 0) == -1)
		for (fd = SUP_ARGS_FD + 1; (unsigned int)fd < b->max_fd; fd++)
			(void)close(fd);
	execve(SUP_EXE, argv, b->envp);
	sup_fail(wfd, STEP_EXEC, errno);
}

static void GR_NORETURN
sup_intermediate(const struct sup_boot *b)
{
	struct sup_msg	 m;
	pid_t		 pid;

	pid = _Fork();
	if (pid == 0)
		sup_child(b);
	m.kind = pid == -1 ? SUP_FAILED : SUP_FORKED;
	m.step = STEP_FORK;
	m.err = pid == -1 ? errno : 0;
	m.pid = pid == -1 ? 0 : pid;
	sup_write(b->wfd, &m, sizeof(m));
	_exit(pid == -1 ? 1 : 0);
}

/*
 * The supervisor's own environment: the marker, the instance id (so that
 * terminate finds it by environment too) and what loading our binary
 * again may need; nothing else of ours, no API keys.
 */
static void
sup_env(const struct sup_args *a, struct envv *ev)
{
	static const char *const keep[] = {
		"LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
		"LSAN_OPTIONS",
	};
	const char	*v;
	size_t		 i;

	env_put(ev, SUP_ENV, "1");
	env_put(ev, "GR_INSTANCE_ID", a->id);
	for (i = 0; i < nitems(keep); i++)
		if ((v = getenv(keep[i])) != NULL)
			env_put(ev, keep[i], v);
}

/*
 * Start the supervisor; *pidp is its pid once it is up.  The caller's
 * side of the double fork: the intermediate child is reaped here, so the
 * supervisor is never our zombie.
 */
static int
sup_start(const struct sup_args *a, const struct spawn_req *req,
    pid_t *pidp, struct gr_err *e)
{
	struct sup_boot	 b;
	struct sup_msg	 m;
	struct envv	 ev = { NULL, 0 };
	struct pollfd	 pfd;
	int64_t		 deadline, left;
	pid_t		 mid, forked = 0;
	ssize_t		 n;
	int		 p[2] = { -1, -1 }, rc = -1;
	bool		 done = false, ended = false;

	*pidp = 0;
	memset(&b, 0, sizeof(b));
	b.dir = a->dir;
	b.listen_fd = a->listen_fd;
	b.max_fd = a->max_fd;
	b.wfd = b.args_fd = -1;
	if (args_fd(a, &b.args_fd) == -1) {
		gr_err_set(e, GR_E_IO, "spawn '%s' on local: the supervisor's "
		    "arguments: %s", req_addr(req), strerror(errno));
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1 ||
	    (b.wfd = fcntl(p[1], F_DUPFD_CLOEXEC, 10)) == -1) {
		gr_err_set(e, GR_E_IO, "spawn '%s' on local: pipe: %s",
		    req_addr(req), strerror(errno));
		goto close_fds;
	}
	close(p[1]);
	p[1] = -1;
	sup_env(a, &ev);
	b.envp = ev.v;
	mid = fork();
	if (mid == -1) {
		gr_err_set(e, GR_E_TRANSIENT, "spawn '%s' on local: fork: %s",
		    req_addr(req), strerror(errno));
		goto close_fds;
	}
	if (mid == 0) {
		close(p[0]);
		sup_intermediate(&b);
	}
	close(b.wfd);
	b.wfd = -1;
	close(b.args_fd);
	b.args_fd = -1;
	deadline = clock_mono_ms() + HANDSHAKE_TIMEOUT_MS;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (!done) {
		left = deadline - clock_mono_ms();
		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents == 0)
			continue;
		n = read(p[0], &m, sizeof(m));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m)) {
			ended = n == 0;	/* EOF: both ends gone */
			break;
		}
		switch (m.kind) {
		case SUP_FORKED:
			forked = m.pid;
			break;
		case SUP_READY:
			*pidp = m.pid;
			rc = 0;
			done = true;
			break;
		case SUP_FAILED:
			gr_err_set(e, m.step == STEP_FORK ||
			    m.step == STEP_BOOTSTRAP ? GR_E_TRANSIENT :
			    GR_E_IO, "spawn '%s' on local: the supervisor "
			    "could not %s: %s", req_addr(req),
			    (size_t)m.step < nitems(step_names) ?
			    step_names[m.step] : "start", strerror(m.err));
			done = true;
			break;
		default:
			break;
		}
	}
	while (waitpid(mid, NULL, 0) == -1 && errno == EINTR)
		;
	if (rc == 0 || done)
		goto close_fds;
	if (ended)
		gr_err_set(e, GR_E_IO, "spawn '%s' on local: the supervisor "
		    "ended before it was up", req_addr(req));
	else
		gr_err_set(e, GR_E_TRANSIENT, "spawn '%s' on local: the "
		    "supervisor did not come up within %d s", req_addr(req),
		    HANDSHAKE_TIMEOUT_MS / 1000);
	if (forked > 0) {
		(void)kill(-forked, SIGKILL);
		(void)kill(forked, SIGKILL);
	}
close_fds:
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	if (b.wfd != -1)
		close(b.wfd);
	if (b.args_fd != -1)
		close(b.args_fd);
	env_release(&ev);
	return rc;
}

/*
 * SSH: a host key, the client's key, a config and a port per instance.
 */

/*
 * Run a program (no shell, our env_base environment) to its end, within
 * KEYGEN_TIMEOUT_MS; what it prints is dropped but the first line of its
 * errors, which goes into the message.
 */
static int
run_quiet(char *const argv[], struct gr_err *e)
{
	struct proc_result	 res;
	struct envv		 ev = { NULL, 0 };
	char			 line[200];
	int			 rc = -1;

	env_base(&ev);
	(void)proc_run(argv, ev.v, KEYGEN_TIMEOUT_MS, 4096, &res);
	env_release(&ev);
	if (res.spawn_errno != 0) {
		gr_err_set(e, GR_E_IO, "local: cannot run %s: %s", argv[0],
		    strerror(res.spawn_errno));
		gr_err_hint(e, "apt-get install openssh-client");
	} else if (res.timed_out)
		gr_err_set(e, GR_E_TRANSIENT, "local: %s did not finish "
		    "within %d s", argv[0], KEYGEN_TIMEOUT_MS / 1000);
	else if (res.signal != 0 || res.status != 0) {
		first_line(buf_str(&res.err), line, sizeof(line));
		gr_err_set(e, GR_E_IO, "local: %s failed (status %d)%s%s",
		    argv[0], res.signal != 0 ? 128 + res.signal : res.status,
		    *line != '\0' ? ": " : "", line);
	} else
		rc = 0;
	proc_result_release(&res);
	return rc;
}

static int
keygen(const char *path, const char *comment, struct gr_err *e)
{
	char *const	 argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N",
	    "", "-C", (char *)comment, "-f", (char *)path, NULL };

	return run_quiet(argv, e);
}

/* The client's key (made once when none is configured) and its .pub. */
static int
ssh_client_key(struct local *lp, char **keyp, char **pubp, struct gr_err *e)
{
	char	*key, *pub, *dir = NULL, *text = NULL;
	size_t	 len;

	*keyp = *pubp = NULL;
	if (lp->ssh_key != NULL)
		key = xstrdup(lp->ssh_key);
	else {
		dir = xasprintf("%s/ssh", lp->dir);
		key = xasprintf("%s/id_ed25519", dir);
		if (access(key, F_OK) == -1) {
			if (mkdir_p(dir, 0700) == -1) {
				gr_err_set(e, GR_E_IO, "local: mkdir %s: %s",
				    dir, strerror(errno));
				goto fail;
			}
			if (keygen(key, "gpureconcile local", e) == -1)
				goto fail;
			log_info("local: made the SSH client key %s", key);
		}
	}
	pub = xasprintf("%s.pub", key);
	if (file_read(pub, 16 << 10, &text, &len) == -1) {
		gr_err_set(e, GR_E_CONFIG, "local: the public key %s: %s", pub,
		    strerror(errno));
		gr_err_hint(e, "ssh-keygen -y -f %s > %s", key, pub);
		free(pub);
		goto fail;
	}
	free(pub);
	if (len == 0 || memchr(text, '\0', len) != NULL ||
	    !(str_has_prefix(text, "ssh-") || str_has_prefix(text, "ecdsa-") ||
	    str_has_prefix(text, "sk-"))) {
		gr_err_set(e, GR_E_CONFIG, "local: %s.pub is not an OpenSSH "
		    "public key", key);
		free(text);
		goto fail;
	}
	free(dir);
	*keyp = key;
	*pubp = text;
	return 0;
fail:
	free(dir);
	free(key);
	return -1;
}

/*
 * Make the instance's sshd setup in dir; *lfdp: its listening socket
 * (close-on-exec, at 10 or above), bound to a free loopback port.
 */
static int
ssh_setup(struct local *lp, const struct spawn_req *req, struct meta *m,
    const char *dir, int *lfdp, char **cfgp, struct gr_err *e)
{
	struct sockaddr_in	 sin;
	struct passwd		*pw;
	struct buf		 b = BUF_INIT;
	socklen_t		 sl = sizeof(sin);
	char			*key = NULL, *pub = NULL, *path = NULL;
	char			*comment;
	int			 fd = -1, hi, rc = -1;

	*lfdp = -1;
	*cfgp = NULL;
	if (access(lp->sshd, X_OK) == -1) {
		gr_err_set(e, GR_E_CONFIG, "spawn '%s' on local: option ssh "
		    "is on, but %s cannot be run: %s", req_addr(req), lp->sshd,
		    strerror(errno));
		gr_err_hint(e, "apt-get install openssh-server, or set ssh: "
		    "false");
		return -1;
	}
	if (strpbrk(dir, " \t\n\"'%\\") != NULL) {
		gr_err_set(e, GR_E_CONFIG, "spawn '%s' on local: the state "
		    "dir '%s' holds a space, quote or '%%', which sshd_config "
		    "cannot name", req_addr(req), lp->dir);
		gr_err_hint(e, "use a --state-dir without them for ssh: true");
		return -1;
	}
	pw = getpwuid(geteuid());
	if (pw == NULL || pw->pw_name == NULL) {
		gr_err_set(e, GR_E_CONFIG, "spawn '%s' on local: no user name "
		    "for uid %ld", req_addr(req), (long)geteuid());
		return -1;
	}
	m->ssh_user = xstrdup(pw->pw_name);
	if (geteuid() == 0 && mkdir("/run/sshd", 0755) == 0)
		log_info("local: made /run/sshd, sshd's privilege separation "
		    "directory");
	if (ssh_client_key(lp, &key, &pub, e) == -1)
		goto out;
	m->ssh_key = key;
	key = NULL;

	path = xasprintf("%s/ssh_host_ed25519_key", dir);
	comment = xasprintf("gpureconcile local %s", m->id);
	rc = keygen(path, comment, e);
	free(comment);
	if (rc == -1)
		goto out;
	rc = -1;
	free(path);
	path = xasprintf("%s/authorized_keys", dir);
	if (file_write_atomic(path, pub, strlen(pub), 0600) == -1)
		goto io;
	free(path);
	buf_addf(&b, "# made by gpureconcile for local instance %s\n"
	    "HostKey %s/ssh_host_ed25519_key\n"
	    "AuthorizedKeysFile %s/authorized_keys\n"
	    "AuthenticationMethods publickey\n"
	    "PubkeyAuthentication yes\n"
	    "PasswordAuthentication no\n"
	    "KbdInteractiveAuthentication no\n"
	    "UsePAM no\n"
	    "StrictModes no\n"
	    "PermitRootLogin prohibit-password\n"
	    "AllowUsers %s\n"
	    "PidFile none\n"
	    "SetEnv GR_INSTANCE_ID=%s\n"
	    "PrintMotd no\n"
	    "DisableForwarding yes\n"
	    "Subsystem sftp internal-sftp -d %s\n",
	    m->id, dir, dir, m->ssh_user, m->id, dir);
	path = xasprintf("%s/sshd_config", dir);
	if (file_write_atomic(path, buf_str(&b), b.len, 0600) == -1)
		goto io;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		gr_err_set(e, GR_E_IO, "spawn '%s' on local: a loopback port "
		    "for sshd: %s", req_addr(req), strerror(errno));
		goto out;
	}
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	if (hi == -1)
		goto io;
	close(fd);
	fd = -1;
	m->ssh_port = ntohs(sin.sin_port);
	*lfdp = hi;
	*cfgp = path;
	path = NULL;
	rc = 0;
	goto out;
io:
	gr_err_set(e, GR_E_IO, "spawn '%s' on local: %s: %s", req_addr(req),
	    path != NULL ? path : "sshd setup", strerror(errno));
out:
	if (fd != -1)
		close(fd);
	buf_release(&b);
	free(path);
	free(pub);
	free(key);
	return rc;
}

/*
 * Instances.
 */

static void
inst_fill(const struct local *lp, struct instance *out, const struct meta *m,
    enum probe pr)
{
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(m->id);
	/* its work dir; without sshd, pull reads it directly */
	out->files_root = xasprintf("%s/%s", lp->inst_dir, m->id);
	if (m->ssh_port > 0) {
		/* with sshd, pull goes over SFTP, as from any cloud */
		out->ssh_host = xstrdup("127.0.0.1");
		out->ssh_port = m->ssh_port;
		out->ssh_user = xstrdup(m->ssh_user);
		out->ssh_key = xstrdup(m->ssh_key);
	}
	out->label = m->label != NULL ? xstrdup(m->label) : NULL;
	out->gpu = xstrdup(m->gpu);
	out->gpu_count = m->gpu_count;
	out->price = m->price;
	out->created_ms = m->created_ms;
	switch (pr) {
	case PROBE_RUNNING:
		out->state = INST_RUNNING;
		out->billing = true;
		out->status = xstrdup("running");
		break;
	case PROBE_STOPPED:
		out->state = INST_STOPPED;
		out->billing = true;
		out->status = xstrdup("stopped");
		break;
	case PROBE_SPAWNING:
		out->state = INST_PENDING;
		out->status = xstrdup("spawning");
		break;
	case PROBE_DEAD:
		out->state = INST_TERMINATED;
		out->status = xstrdup("exited");
		break;
	case PROBE_LOST:
		out->state = INST_TERMINATED;
		out->status = xstrdup("lost");
		break;
	}
}

/* Kill what the failed spawn started and forget the instance. */
static void
inst_abandon(const struct local *lp, const struct meta *m, const char *dir)
{
	struct pset	 s = { NULL, 0 };

	if (m->pid > 0 && m->start > 0)
		(void)pset_kill_wait(lp, m, &s, SIGKILL, KILL_WAIT_MS);
	pset_release(&s);
	(void)rmtree(dir);
}

static int
inst_create(struct local *lp, const struct spawn_req *req,
    const struct want *w, int *idx, size_t nidx, struct instance *out,
    struct gr_err *e)
{
	struct meta	 m;
	struct envv	 ev = { NULL, 0 };
	struct sup_args	 a;
	struct pstat	 ps;
	struct rlimit	 rl;
	struct buf	 cvd = BUF_INIT;
	char		 hex[2 * LOCAL_ID_BYTES + 1], *dir = NULL, *cfg = NULL;
	char		*sshd_argv[] = { "sshd", "-i", "-e", "-f", NULL, NULL };
	int		 lfd = -1;
	char		*bpath = NULL, *sh_argv[] = { "sh", "bootstrap.sh",
	    NULL }, *x_argv[] = { "bootstrap.sh", NULL };
	const char	*script = req->bootstrap;
	size_t		 slen = req->bootstrap_len, i;
	pid_t		 pid;
	int		 tries, rc = -1;

	memset(&m, 0, sizeof(m));
	for (tries = 0;; tries++) {
		random_hex(hex, LOCAL_ID_BYTES);
		free(m.id);
		m.id = xasprintf(LOCAL_ID_PREFIX "%s", hex);
		free(dir);
		dir = inst_path(lp, m.id, NULL);
		if (mkdir(dir, 0700) == 0)
			break;
		if (errno != EEXIST || tries == 5) {
			gr_err_set(e, GR_E_IO, "spawn '%s' on local: mkdir "
			    "%s: %s", req_addr(req), dir, strerror(errno));
			goto free_all;
		}
	}
	if (script != NULL && slen == 0)
		slen = strlen(script);
	if (script != NULL) {
		bpath = inst_path(lp, m.id, "bootstrap.sh");
		if (file_write_atomic(bpath, script, slen, 0700) == -1) {
			gr_err_set(e, GR_E_IO, "spawn '%s' on local: write "
			    "%s: %s", req_addr(req), bpath, strerror(errno));
			goto remove_dir;
		}
	}
	m.label = req->label != NULL ? xstrdup(req->label) : NULL;
	m.address = xstrdup(req->address != NULL ? req->address : "");
	m.gpu = xstrdup(w->type);
	m.gpu_count = w->cpu ? 0 : w->count;
	m.idx = idx;
	m.nidx = nidx;
	m.price = lp->price;
	m.created_ms = clock_now_ms();
	(void)snprintf(m.boot_id, sizeof(m.boot_id), "%s", lp->boot_id);
	/* a meta without pid first: a crash from here on stays visible */
	if (meta_write(lp, &m, e) == -1)
		goto remove_dir;
	for (i = 0; i < nidx; i++)
		buf_addf(&cvd, "%s%d", i > 0 ? "," : "", idx[i]);
	if (env_build(req, m.id, buf_str(&cvd), &ev, e) == -1)
		goto remove_dir;

	memset(&a, 0, sizeof(a));
	a.id = m.id;
	a.dir = dir;
	a.envp = ev.v;
	a.listen_fd = -1;
	if (lp->ssh) {
		if (ssh_setup(lp, req, &m, dir, &lfd, &cfg, e) == -1)
			goto remove_dir;
		sshd_argv[4] = cfg;
		a.listen_fd = lfd;
		a.sshd_path = lp->sshd;
		a.sshd_argv = sshd_argv;
	}
	if (script != NULL && slen >= 2 && script[0] == '#' &&
	    script[1] == '!') {
		a.path = bpath;
		a.argv = x_argv;
		a.sh_path = "/bin/sh";
		a.sh_argv = sh_argv;
	} else if (script != NULL) {
		a.path = "/bin/sh";
		a.argv = sh_argv;
	}
	a.max_fd = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < a.max_fd)
		a.max_fd = (unsigned int)rl.rlim_cur;
	rc = sup_start(&a, req, &pid, e);
	if (lfd != -1)
		close(lfd);	/* the supervisor's now */
	if (rc == -1)
		goto remove_dir;
	rc = -1;
	m.pid = pid;
	if (proc_stat(pid, &ps) == -1) {
		gr_err_set(e, GR_E_TRANSIENT, "spawn '%s' on local: the "
		    "supervisor (pid %ld) vanished at once", req_addr(req),
		    (long)pid);
		goto remove_dir;
	}
	m.start = ps.start;
	if (meta_write(lp, &m, e) == -1) {
		inst_abandon(lp, &m, dir);
		goto free_all;
	}
	inst_fill(lp, out, &m, PROBE_RUNNING);
	log_debug("%s: local instance %s up, pid %ld, GPUs '%s'", m.address,
	    m.id, (long)pid, buf_str(&cvd));
	rc = 0;
	goto free_all;

remove_dir:
	inst_abandon(lp, &m, dir);
free_all:
	m.idx = NULL;		/* the caller's */
	meta_release(&m);
	env_release(&ev);
	buf_release(&cvd);
	free(bpath);
	free(cfg);
	free(dir);
	return rc;
}

/*
 * The operations.
 */

static int
local_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct usage	 u = { NULL, 0 };
	struct want	 w;
	char		 pb[32], mb[32];
	int		*idx = NULL, lockfd = -1, rc = -1;
	size_t		 nidx = 0;

	if (want_from_req(req, &w, e) == -1)
		return -1;
	if (lp->price > req->max_price) {
		gr_err_set(e, GR_E_CAPACITY, "spawn '%s' on local: no offer "
		    "under $%s/h", req_addr(req),
		    money_fmt(req->max_price, mb, sizeof(mb)));
		gr_err_hint(e, "local instances cost $%s/h (price_per_hour); "
		    "raise max_price_per_hour or lower price_per_hour",
		    money_fmt(lp->price, pb, sizeof(pb)));
		return -1;
	}
	pthread_mutex_lock(&lp->mtx);
	if (gpus_ensure(lp, e) == -1)
		goto unlock_mtx;
	if (alloc_lock(lp, &lockfd, e) == -1)
		goto unlock_mtx;
	if (usage_read(lp, &u, e) == -1)
		goto unlock;
	if (alloc_pick(lp, req, &w, &u, &idx, &nidx, e) == -1)
		goto unlock;
	rc = inst_create(lp, req, &w, idx, nidx, out, e);
unlock:
	alloc_unlock(lockfd);
unlock_mtx:
	pthread_mutex_unlock(&lp->mtx);
	usage_release(&u);
	free(idx);
	return rc;
}

static int
local_offers(struct provider *p, const struct gpu_req *req,
    struct offer_list *out, struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct usage	 u = { NULL, 0 };
	struct offer	*o;
	const char	*t;
	size_t		 i, j;
	int		 per, nfree, vram, minv, rc = -1;
	bool		 seen;

	minv = req != NULL ? req->min_vram_gb : 0;
	pthread_mutex_lock(&lp->mtx);
	if (gpus_ensure(lp, e) == -1)
		goto unlock;
	if (usage_read(lp, &u, e) == -1)
		goto unlock;
	for (i = 0; i < lp->ngpus; i++) {
		t = gpu_type(&lp->gpus[i]);
		if (req != NULL && req->type != NULL &&
		    strcmp(req->type, t) != 0)
			continue;
		for (seen = false, j = 0; j < i; j++)
			if (strcmp(gpu_type(&lp->gpus[j]), t) == 0)
				seen = true;
		if (seen)
			continue;
		nfree = 0;
		vram = INT_MAX;
		for (j = i; j < lp->ngpus; j++) {
			if (strcmp(gpu_type(&lp->gpus[j]), t) != 0 ||
			    gpu_vram_gb(&lp->gpus[j]) < minv)
				continue;
			if (gpu_vram_gb(&lp->gpus[j]) < vram)
				vram = gpu_vram_gb(&lp->gpus[j]);
			if (!u.gpu_used[j])
				nfree++;
		}
		if (vram == INT_MAX)
			continue;	/* none big enough */
		per = req != NULL && req->type != NULL && req->count > 0 ?
		    req->count : 1;
		o = offer_list_add(out);
		o->id = xstrdup(t);
		o->gpu = xstrdup(t);
		o->gpu_count = per;
		o->vram_gb = vram;
		o->price = lp->price;
		o->available = nfree / per;
	}
	if (req == NULL || req->type == NULL ||
	    strcmp(req->type, GPU_CPU) == 0) {
		o = offer_list_add(out);
		o->id = xstrdup(GPU_CPU);
		o->gpu = xstrdup(GPU_CPU);
		o->price = lp->price;
		o->available = lp->cpu_slots > u.cpu_used ?
		    lp->cpu_slots - u.cpu_used : 0;
	}
	rc = 0;
unlock:
	pthread_mutex_unlock(&lp->mtx);
	usage_release(&u);
	return rc;
}

static int
local_list(struct provider *p, struct instance_list *out, struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct instance	*in;
	struct meta	 m;
	char		**ids;
	size_t		 n, i;

	if (inst_ids(lp, &ids, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (meta_read(lp, ids[i], &m) == -1) {
			if (errno == ENOENT)
				continue;	/* being made or moved */
			log_warnx("local: instance %s: unreadable meta.json",
			    ids[i]);
			in = instance_list_add(out);
			in->id = xstrdup(ids[i]);
			in->gpu = xstrdup("unknown");
			in->state = INST_RUNNING;
			in->billing = true;
			in->status = xstrdup("unreadable");
			continue;
		}
		inst_fill(lp, instance_list_add(out), &m, inst_probe(lp, &m));
		meta_release(&m);
	}
	ids_free(ids, n);
	return 0;
}

/* meta of id, or GR_E_NOT_FOUND. */
static int
inst_lookup(const struct local *lp, const char *op, const char *id,
    struct meta *m, struct gr_err *e)
{
	if (!id_valid(id) || meta_read(lp, id, m) == -1) {
		if (id_valid(id) && errno == EINVAL) {
			gr_err_set(e, GR_E_IO, "%s '%s' on local: its "
			    "meta.json is unreadable", op, id);
			gr_err_hint(e, "look in %s/%s", lp->inst_dir, id);
			return -1;
		}
		gr_err_set(e, GR_E_NOT_FOUND, "%s '%s' on local: no such "
		    "instance", op, id != NULL ? id : "");
		return -1;
	}
	return 0;
}

static int
local_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct meta	 m;

	if (inst_lookup(lp, "get", id, &m, e) == -1)
		return -1;
	inst_fill(lp, out, &m, inst_probe(lp, &m));
	meta_release(&m);
	return 0;
}

/*
 * Remove what terminated/ has kept for longer than keep_terminated: an
 * ended instance's directory is stamped when it is moved there, so its
 * age is how long ago it ended.  Only directories named like our ids
 * (plus the ".MS" of a second retirement) are touched, never followed.
 */
static void
prune_terminated(const struct local *lp)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		*path;
	int64_t		 cutoff;
	size_t		 n;

	if (lp->keep_terminated_ms <= 0 || (d = opendir(lp->term_dir)) ==
	    NULL)
		return;
	cutoff = real_now_ms() - lp->keep_terminated_ms;
	while ((de = readdir(d)) != NULL) {
		n = strlen(LOCAL_ID_PREFIX) + 2 * LOCAL_ID_BYTES;
		if (strncmp(de->d_name, LOCAL_ID_PREFIX,
		    strlen(LOCAL_ID_PREFIX)) != 0 || strlen(de->d_name) < n)
			continue;
		path = xasprintf("%s/%s", lp->term_dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (int64_t)st.st_mtime * 1000 < cutoff) {
			if (rmtree(path) == -1)
				log_warn("local: cannot remove %s", path);
			else
				log_debug("local: removed %s, ended over %lld "
				    "days ago", path, (long long)
				    (lp->keep_terminated_ms / 86400000));
		}
		free(path);
	}
	closedir(d);
}

/*
 * Move an instance's dir to terminated/, keeping its logs, stamped with
 * the time it ended; then prune what has been kept long enough.
 */
static int
inst_retire(const struct local *lp, const char *id, struct gr_err *e)
{
	char	*from, *to;
	int	 rc = 0;

	from = inst_path(lp, id, NULL);
	to = xasprintf("%s/%s", lp->term_dir, id);
	if (rename(from, to) == -1 && (errno == EEXIST ||
	    errno == ENOTEMPTY)) {
		free(to);
		to = xasprintf("%s/%s.%lld", lp->term_dir, id,
		    (long long)real_now_ms());
		(void)rename(from, to);
	}
	if (access(from, F_OK) == 0) {
		gr_err_set(e, GR_E_IO, "terminate '%s' on local: cannot move "
		    "%s to %s: %s", id, from, lp->term_dir, strerror(errno));
		rc = -1;
	} else {
		/* a directory's mtime is its last entry change: set it to
		 * now, so that its age counts from the end */
		(void)utimensat(AT_FDCWD, to, NULL, AT_SYMLINK_NOFOLLOW);
		prune_terminated(lp);
	}
	free(from);
	free(to);
	return rc;
}

static int
local_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct meta	 m;
	struct pset	 s = { NULL, 0 };
	struct stat	 st;
	char		*dir;
	int		 rc = -1;

	if (!id_valid(id)) {
		gr_err_set(e, GR_E_NOT_FOUND, "terminate '%s' on local: no "
		    "such instance", id != NULL ? id : "");
		return -1;
	}
	if (meta_read(lp, id, &m) == -1) {
		if (errno != ENOENT)
			return inst_lookup(lp, "terminate", id, &m, e);
		/* a spawn that died before writing anything */
		dir = inst_path(lp, id, NULL);
		rc = stat(dir, &st);
		free(dir);
		if (rc == 0)
			return inst_retire(lp, id, e);
		gr_err_set(e, GR_E_NOT_FOUND, "terminate '%s' on local: no "
		    "such instance", id);
		return -1;
	}
	if (meta_probe(lp, &m) == PROBE_SPAWNING) {
		gr_err_set(e, GR_E_TRANSIENT, "terminate '%s' on local: still "
		    "being spawned", id);
		goto release;
	}
	if (m.pid > 0 && !pset_kill_wait(lp, &m, &s, SIGTERM,
	    lp->stop_grace_ms)) {
		log_debug("%s: local instance %s: %zu process%s left after "
		    "SIGTERM, sending SIGKILL", m.address, id, s.n,
		    s.n == 1 ? "" : "es");
		if (!pset_kill_wait(lp, &m, &s, SIGKILL, KILL_WAIT_MS)) {
			gr_err_set(e, GR_E_TRANSIENT, "terminate '%s' on "
			    "local: could not confirm %zu process%s of it "
			    "stopped (pid %ld first)", id, s.n,
			    s.n == 1 ? "" : "es", (long)s.v[0].pid);
			gr_err_hint(e, "a process stuck in the kernel dies "
			    "late; the next pass checks again");
			goto release;
		}
	}
	rc = inst_retire(lp, id, e);
release:
	pset_release(&s);
	meta_release(&m);
	return rc;
}

/* SIGSTOP or SIGCONT the instance and wait for its supervisor to show it. */
static int
inst_signal_state(struct provider *p, const char *op, const char *id,
    int sig, struct gr_err *e)
{
	struct local	*lp = p->priv;
	struct meta	 m;
	struct pset	 s = { NULL, 0 };
	struct pstat	 ps;
	int64_t		 deadline;
	enum probe	 pr;
	bool		 reused, want_t = sig == SIGSTOP;
	int		 rc = -1;

	if (inst_lookup(lp, op, id, &m, e) == -1)
		return -1;
	pr = inst_probe(lp, &m);
	if (pr == PROBE_SPAWNING) {
		gr_err_set(e, GR_E_TRANSIENT, "%s '%s' on local: still being "
		    "spawned", op, id);
		goto release;
	}
	if (pr != PROBE_RUNNING && pr != PROBE_STOPPED) {
		gr_err_set(e, GR_E_NOT_FOUND, "%s '%s' on local: the instance "
		    "has exited", op, id);
		goto release;
	}
	deadline = clock_mono_ms() + SIGNAL_WAIT_MS;
	for (;;) {
		pset_refresh(lp, &m, &s);
		pset_signal(&s, sig);
		if (!leader_alive(&m, &ps, &reused)) {
			gr_err_set(e, GR_E_NOT_FOUND, "%s '%s' on local: the "
			    "instance has exited", op, id);
			goto release;
		}
		if ((ps.state == 'T') == want_t)
			break;
		if (clock_mono_ms() >= deadline) {
			gr_err_set(e, GR_E_TRANSIENT, "%s '%s' on local: the "
			    "supervisor (pid %ld) did not %s", op, id,
			    (long)m.pid, want_t ? "stop" : "continue");
			goto release;
		}
		sleep_real_ms(5);
	}
	/* newcomers forked while we were signalling */
	pset_refresh(lp, &m, &s);
	pset_signal(&s, sig);
	rc = 0;
release:
	pset_release(&s);
	meta_release(&m);
	return rc;
}

static int
local_stop(struct provider *p, const char *id, struct gr_err *e)
{
	return inst_signal_state(p, "stop", id, SIGSTOP, e);
}

static int
local_start(struct provider *p, const char *id, struct gr_err *e)
{
	return inst_signal_state(p, "start", id, SIGCONT, e);
}

static void
local_free(struct local *lp)
{
	if (lp == NULL)
		return;
	pthread_mutex_destroy(&lp->mtx);
	local_gpus_free(lp->gpus, lp->ngpus);
	free(lp->nvsmi);
	free(lp->ssh_key);
	free(lp->sshd);
	free(lp->lock_path);
	free(lp->term_dir);
	free(lp->inst_dir);
	free(lp->dir);
	free(lp);
}

static int
local_init(struct provider *p, const struct provider_conf *conf,
    struct gr_err *e)
{
	struct local	*lp;
	char		*dir, *abs;
	long		 ncpu;

	lp = xcalloc(1, sizeof(*lp));
	pthread_mutex_init(&lp->mtx, NULL);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	lp->cpu_slots = ncpu > 0 ? (int)ncpu : 1;
	lp->stop_grace_ms = 10 * 1000;
	lp->keep_terminated_ms = KEEP_TERMINATED_MS;
	lp->nvsmi = xstrdup("nvidia-smi");
	lp->sshd = xstrdup("/usr/sbin/sshd");
	if (local_options(lp, conf, e) == -1)
		goto fail;
	if (conf->state_dir == NULL || *conf->state_dir == '\0') {
		gr_err_set(e, GR_E_CONFIG, "local: no state dir");
		gr_err_hint(e, "pass --state-dir or set XDG_STATE_HOME");
		goto fail;
	}
	dir = xasprintf("%s/local", conf->state_dir);
	lp->inst_dir = xasprintf("%s/instances", dir);
	lp->term_dir = xasprintf("%s/terminated", dir);
	if (mkdir_p(lp->inst_dir, 0700) == -1 ||
	    mkdir_p(lp->term_dir, 0700) == -1) {
		gr_err_set(e, GR_E_IO, "local: mkdir %s: %s", dir,
		    strerror(errno));
		free(dir);
		goto fail;
	}
	/* absolute, so that a later chdir of the caller does not matter */
	abs = realpath(dir, NULL);
	free(dir);
	if (abs == NULL) {
		gr_err_set(e, GR_E_IO, "local: realpath %s/local: %s",
		    conf->state_dir, strerror(errno));
		goto fail;
	}
	lp->dir = xstrdup(abs);
	free(abs);
	free(lp->inst_dir);
	free(lp->term_dir);
	lp->inst_dir = xasprintf("%s/instances", lp->dir);
	lp->term_dir = xasprintf("%s/terminated", lp->dir);
	lp->lock_path = xasprintf("%s/alloc.lock", lp->dir);
	read_boot_id(lp->boot_id, sizeof(lp->boot_id));
	p->priv = lp;
	return 0;

fail:
	local_free(lp);
	return -1;
}

static void
local_fini(struct provider *p)
{
	local_free(p->priv);
	p->priv = NULL;
}

const struct provider_ops local_provider_ops = {
	.name = "local",
	.caps = PROV_CAP_GPU | PROV_CAP_HIBERNATION,
	.init = local_init,
	.fini = local_fini,
	.offers = local_offers,
	.spawn = local_spawn,
	.terminate = local_terminate,
	.list = local_list,
	.get = local_get,
	.stop = local_stop,
	.start = local_start,
};
