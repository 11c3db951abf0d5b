/*
 * watch.c: the daemon's loop (`gpureconcile watch`).  One poll(2) loop
 * owns everything that can wake it:
 *
 * - an inotify descriptor watching the fleet directories, recursively
 *   (every directory under a root but those whose names start with '.',
 *   which spec/ skips too), plus each root's parent directory, filtered
 *   to the root's own name, so that a root that is a file, or a symlink
 *   swapped to a new target, is seen as well;
 * - a self-pipe written by the signal handlers (SIGHUP, SIGTERM, SIGINT);
 * - its timers, as the poll timeout computed from the next deadline: the
 *   debounced reload, the next pass, the periodic full pass (resync) and
 *   each provider's heartbeat.
 *
 * A pass is the one apply repeats (apply.c pass_plan/pass_exec): watch is
 * a loop around the same observe, plan and execute.  A file event never
 * interrupts a pass: events queue in the kernel and the reload runs once
 * the pass is over.  A burst of events (git checkout, an editor's save by
 * rename, a ConfigMap's ..data swap) is debounced into one reload; a
 * reload rescans the directories first (new subdirectories get watched,
 * gone ones are dropped) and an inotify queue overflow is a full rescan.
 * A reload parses the whole spec into a new one and swaps it in only when
 * it is valid; otherwise every file:line:col error is logged and the
 * desired state in force stays as it was.  A valid one that would end,
 * replace or stop instances is swapped in only once the files have been
 * quiet for settle_ms (git checkout unlinks and creates; a reload can
 * catch a directory empty or a file half-written), and a resync reads
 * the files again too (what inotify cannot report: a symlinked file's
 * target elsewhere, directories past the watch limit).
 *
 * Signals: SIGHUP reloads.  SIGTERM or SIGINT stops: the calls in flight
 * finish and are recorded, no new job of the plan starts, and the loop
 * exits 0; if that takes longer than stop_timeout, or a second SIGTERM
 * or SIGINT comes, the process exits at once (75).  That is safe for the
 * ledger: every change is one SQLite transaction (WAL, synchronous=FULL),
 * and an intent is committed before every provider call, so the next
 * pass heals what was cut short.  We write no other file of our own
 * except the lock file, whose flock the kernel drops.
 *
 * Linux-only (inotify); nothing here is behind an #ifdef.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler.h"

/* IN_MODIFY: a write in progress holds a reload back (the debounce, and
 * the settle time before anything is ended) */
#define WATCH_MASK	(IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | \
			 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
			 IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define WATCH_MAX_DIRS	4096	/* directories watched under the roots */
#define WATCH_BURST_MAX	10	/* a burst delays a reload by at most this
				   many debounce intervals */
#define WATCH_QUICK_MAX	5	/* passes in a row without a pause */
#define WATCH_SETTLE_MS	2000	/* quiet files before a reload may end
				   or replace anything */

/* One watched directory and what events in it count for. */
struct wdir {
	int		 wd;
	char		*path;		/* owned */
	bool		 any;		/* every name counts (a tree dir) */
	char		**names;	/* owned; else only these names */
	size_t		 nnames;
};

struct watchset {
	int		 fd;
	char		**roots;	/* owned */
	size_t		 nroots;
	struct wdir	*v;		/* owned */
	size_t		 n;
	size_t		 overflows;
};

/* Visited directories of one rescan, by inode (symlink loops). */
struct seen {
	dev_t		*dev;
	ino_t		*ino;
	size_t		 n;
};

static void
wdir_release(struct wdir *w)
{
	size_t	 i;

	free(w->path);
	for (i = 0; i < w->nnames; i++)
		free(w->names[i]);
	free(w->names);
}

static struct wdir *
wdirs_find(struct wdir *v, size_t n, int wd)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v[i].wd == wd)
			return &v[i];
	return NULL;
}

/* Watch path; merge roles when its inode is watched already. */
static void
wdirs_add(struct watchset *ws, struct wdir **v, size_t *n, const char *path,
    const char *name)
{
	struct wdir	*w;
	int		 wd;
	size_t		 i;

	if (*n >= WATCH_MAX_DIRS) {
		log_warnx("watch: more than %d directories under the fleet "
		    "paths; '%s' and the rest are not watched (the resync "
		    "still reads them)", WATCH_MAX_DIRS, path);
		return;
	}
	/* a root's parent is filtered to the root's name: no IN_MODIFY
	 * there, or every write to its other files (a log beside the root)
	 * would wake us; IN_MASK_ADD keeps a tree dir's mask whole */
	wd = inotify_add_watch(ws->fd, path, name == NULL ? WATCH_MASK :
	    (WATCH_MASK & ~(uint32_t)IN_MODIFY) | IN_MASK_ADD);
	if (wd == -1) {
		if (errno == ENOSPC)
			log_warnx("watch: '%s': the inotify watch limit is "
			    "reached; its changes are seen only at the next "
			    "resync (hint: raise fs.inotify.max_user_watches, "
			    "e.g. sysctl fs.inotify.max_user_watches=524288)",
			    path);
		else if (errno != ENOENT && errno != ENOTDIR)
			log_warn("watch: '%s'", path);
		return;
	}
	w = wdirs_find(*v, *n, wd);
	if (w == NULL) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		w = &(*v)[(*n)++];
		memset(w, 0, sizeof(*w));
		w->wd = wd;
		w->path = xstrdup(path);
	}
	if (name == NULL) {
		w->any = true;
		return;
	}
	for (i = 0; i < w->nnames; i++)
		if (strcmp(w->names[i], name) == 0)
			return;
	w->names = xreallocarray(w->names, w->nnames + 1, sizeof(*w->names));
	w->names[w->nnames++] = xstrdup(name);
}

static bool
seen_add(struct seen *s, const struct stat *st)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (s->dev[i] == st->st_dev && s->ino[i] == st->st_ino)
			return false;
	s->dev = xreallocarray(s->dev, s->n + 1, sizeof(*s->dev));
	s->ino = xreallocarray(s->ino, s->n + 1, sizeof(*s->ino));
	s->dev[s->n] = st->st_dev;
	s->ino[s->n] = st->st_ino;
	s->n++;
	return true;
}

/* A directory and, recursively, every one under it spec/ would read. */
static void
walk(struct watchset *ws, struct wdir **v, size_t *n, struct seen *s,
    const char *dir, int depth)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		*path;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) || !seen_add(s, &st))
		return;
	wdirs_add(ws, v, n, dir, NULL);
	if (depth > 32)
		return;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* .git, ..data targets: spec/ skips */
		if (de->d_type != DT_DIR && de->d_type != DT_LNK &&
		    de->d_type != DT_UNKNOWN)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		walk(ws, v, n, s, path, depth + 1);
		free(path);
	}
	closedir(d);
}

/* The parent directory of path and its last component; both owned. */
static void
split_path(const char *path, char **parent, char **base)
{
	size_t	 len = strlen(path);
	char	*dup, *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	dup = xstrndup(path, len);
	slash = strrchr(dup, '/');
	if (slash == NULL) {
		*parent = xstrdup(".");
		*base = dup;
		return;
	}
	*base = xstrdup(slash + 1);
	*parent = slash == dup ? xstrdup("/") :
	    xstrndup(dup, (size_t)(slash - dup));
	free(dup);
}

int
watchset_rescan(struct watchset *ws)
{
	struct wdir	*v = NULL;
	struct seen	 s = { NULL, NULL, 0 };
	size_t		 n = 0, i;
	char		*parent, *base;

	for (i = 0; i < ws->nroots; i++) {
		/* the parent, for the root's own name (a file, a symlink
		 * swapped, a directory replaced) */
		split_path(ws->roots[i], &parent, &base);
		wdirs_add(ws, &v, &n, parent, base);
		free(base);
		free(parent);
		walk(ws, &v, &n, &s, ws->roots[i], 0);
	}
	/* watches no longer wanted: let go of them */
	for (i = 0; i < ws->n; i++) {
		if (wdirs_find(v, n, ws->v[i].wd) == NULL)
			(void)inotify_rm_watch(ws->fd, ws->v[i].wd);
		wdir_release(&ws->v[i]);
	}
	free(ws->v);
	ws->v = v;
	ws->n = n;
	free(s.dev);
	free(s.ino);
	return (int)n;
}

int
watchset_new(const char *const *roots, size_t nroots, struct watchset **out,
    struct gr_err *e)
{
	struct watchset	*ws;
	size_t		 i;

	*out = NULL;
	ws = xcalloc(1, sizeof(*ws));
	ws->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ws->fd == -1) {
		gr_err_set(e, GR_E_IO, "watch: inotify: %s", strerror(errno));
		if (errno == EMFILE)
			gr_err_hint(e, "raise fs.inotify.max_user_instances");
		free(ws);
		return -1;
	}
	ws->roots = xcalloc(nroots + 1, sizeof(*ws->roots));
	for (i = 0; i < nroots; i++)
		ws->roots[i] = xstrdup(roots[i]);
	ws->nroots = nroots;
	(void)watchset_rescan(ws);
	*out = ws;
	return 0;
}

void
watchset_free(struct watchset *ws)
{
	size_t	 i;

	if (ws == NULL)
		return;
	for (i = 0; i < ws->n; i++)
		wdir_release(&ws->v[i]);
	free(ws->v);
	for (i = 0; i < ws->nroots; i++)
		free(ws->roots[i]);
	free(ws->roots);
	if (ws->fd != -1)
		close(ws->fd);
	free(ws);
}

int
watchset_fd(const struct watchset *ws)
{
	return ws->fd;
}

size_t
watchset_count(const struct watchset *ws)
{
	return ws->n;
}

bool
watchset_watches(const struct watchset *ws, const char *path)
{
	size_t	 i;

	for (i = 0; i < ws->n; i++)
		if (strcmp(ws->v[i].path, path) == 0)
			return true;
	return false;
}

/* A name spec/ reads as a fleet file (*.yaml, *.yml). */
static bool
fleet_name(const char *name)
{
	return str_has_suffix(name, ".yaml") || str_has_suffix(name, ".yml");
}

unsigned int
watchset_feed(struct watchset *ws, const void *buf, size_t len)
{
	const char		*p = buf, *end = p + len;
	const struct inotify_event *ev;
	struct wdir		*w;
	unsigned int		 flags = 0;
	size_t			 i;

	while (p + sizeof(*ev) <= end) {
		ev = (const struct inotify_event *)(const void *)p;
		p += sizeof(*ev) + ev->len;
		if (ev->mask & IN_Q_OVERFLOW) {
			ws->overflows++;
			flags |= WATCH_CHANGED | WATCH_OVERFLOW;
			continue;
		}
		w = wdirs_find(ws->v, ws->n, ev->wd);
		if (w == NULL)
			continue;
		if (ev->mask & IN_IGNORED) {
			/* its directory is gone (or unwatched): rescan */
			w->wd = -1;
			flags |= WATCH_CHANGED;
			continue;
		}
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
			flags |= WATCH_CHANGED;
			continue;
		}
		if (w->any) {
			/* a write in progress matters only to a fleet file;
			 * a log kept open beside them would reload us on
			 * every line (its close still counts) */
			if (ev->mask == IN_MODIFY &&
			    !fleet_name(ev->len > 0 ? ev->name : ""))
				continue;
			flags |= WATCH_CHANGED;
			continue;
		}
		for (i = 0; ev->len > 0 && i < w->nnames; i++)
			if (strcmp(ev->name, w->names[i]) == 0)
				flags |= WATCH_CHANGED;
	}
	return flags;
}

unsigned int
watchset_read(struct watchset *ws)
{
	char		 buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
			    __attribute__((aligned(__alignof__(
			    struct inotify_event))));
	unsigned int	 flags = 0;
	ssize_t		 n;

	for (;;) {
		n = read(ws->fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		flags |= watchset_feed(ws, buf, (size_t)n);
	}
	return flags;
}

/*
 * The daemon.
 */

static volatile sig_atomic_t	 sig_stop;	/* SIGTERM/SIGINT seen */
static volatile sig_atomic_t	 sig_reload;	/* SIGHUP seen */
static int			 sig_pipe[2] = { -1, -1 };
static unsigned int		 stop_secs = 30;

static void
say(const char *msg)
{
	ssize_t	 n;

	n = write(STDERR_FILENO, msg, strlen(msg));
	(void)n;
}

static void
on_signal(int sig)
{
	int	 saved = errno;
	ssize_t	 n;

	switch (sig) {
	case SIGHUP:
		sig_reload = 1;
		break;
	case SIGALRM:
		say("gpureconcile: watch: calls still in flight at the stop "
		    "timeout; exiting now (the next run heals from the "
		    "ledger's intents)\n");
		_exit(GR_EXIT_TEMPFAIL);
	default:
		if (sig_stop) {
			say("gpureconcile: watch: second signal; exiting now "
			    "(the ledger is consistent: the next run heals "
			    "what was in flight)\n");
			_exit(GR_EXIT_TEMPFAIL);
		}
		sig_stop = 1;
		alarm(stop_secs);	/* the bound on calls in flight */
		break;
	}
	n = write(sig_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

static int
signals_install(struct gr_err *e)
{
	struct sigaction	 sa;
	int			 i;
	static const int	 sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGALRM };

	sig_stop = sig_reload = 0;
	if (sig_pipe[0] == -1) {
		if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
			gr_err_set(e, GR_E_IO, "watch: pipe: %s",
			    strerror(errno));
			return -1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < (int)nitems(sigs); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < (int)nitems(sigs); i++) {
		if (sigaction(sigs[i], &sa, NULL) == -1) {
			gr_err_set(e, GR_E_IO, "watch: sigaction: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void
signals_drain(void)
{
	char	 b[64];

	while (read(sig_pipe[0], b, sizeof(b)) > 0)
		;
}

struct hbeat {
	char		*provider;	/* owned */
	int64_t		 next_ms;
	int		 healthy;	/* -1: not yet known */
};

struct watcher {
	struct ctx	*c;
	struct watchset	*ws;
	struct run_state rs;
	bool		 cycle;		/* passes until converged */
	bool		 cycle_changed;	/* a reload or a change in it */
	size_t		 cycle_calls;	/* mutating calls in this cycle */
	int		 quick;		/* passes in a row without a pause */
	int64_t		 debounce_ms, resync_ms;
	int64_t		 reload_at;	/* 0: none pending */
	int64_t		 burst_start;
	int64_t		 next_pass;	/* 0: none scheduled */
	int64_t		 next_resync;
	int64_t		 last_event;	/* the last file event (0: none) */
	int64_t		 settle_ms;
	bool		 held;		/* a shrinking reload is held back */
	char		 digest[65];	/* of the desired state in force */
	int64_t		 loaded_ms;	/* when it was loaded */
	struct hbeat	*hb;
	size_t		 nhb;
	size_t		 passes, reloads, bad_reloads;
};

static void
log_spec_changes(const struct spec *old, const struct spec *new)
{
	char	 a[65], b[65];
	size_t	 i;

	for (i = 0; i < new->nfleets; i++) {
		const struct fleet_spec	*nf = &new->fleets[i];
		const struct fleet_spec	*of = spec_fleet(old, nf->name);

		if (of == NULL) {
			log_info("%s: fleet added (%s)", nf->name, nf->file);
			continue;
		}
		spec_fleet_digest(of, a);
		spec_fleet_digest(nf, b);
		if (strcmp(a, b) != 0)
			log_info("%s: fleet changed (%s)", nf->name, nf->file);
	}
	for (i = 0; i < old->nfleets; i++)
		if (spec_fleet(new, old->fleets[i].name) == NULL)
			log_info("%s: fleet removed from the files; its "
			    "instances will be terminated",
			    old->fleets[i].name);
}

/*
 * Whether new would end, replace or stop instances that old keeps: a
 * fleet or group gone, a count lowered, a group whose instances would be
 * replaced (its hash), stopped or given a ttl.  What first, into why.
 */
static bool
spec_shrinks(const struct spec *old, const struct spec *new, char *why,
    size_t len)
{
	size_t	 i, g;

	for (i = 0; i < old->nfleets; i++) {
		const struct fleet_spec	*of = &old->fleets[i];
		const struct fleet_spec	*nf = spec_fleet(new, of->name);

		if (nf == NULL) {
			snprintf(why, len, "fleet '%s' is gone from the files",
			    of->name);
			return true;
		}
		for (g = 0; g < of->ngroups; g++) {
			const struct group_spec	*og = &of->groups[g];
			const struct group_spec	*ng = spec_group(nf, og->name);

			if (og->count == 0)
				continue;
			if (ng == NULL)
				snprintf(why, len, "group '%s/%s' is gone from "
				    "the files", of->name, og->name);
			else if (ng->count < og->count)
				snprintf(why, len, "%s/%s: count %d -> %d",
				    of->name, og->name, og->count, ng->count);
			else if (strcmp(ng->hash, og->hash) != 0)
				snprintf(why, len, "%s/%s: its instances would "
				    "be replaced", of->name, og->name);
			else if (ng->state != og->state ||
			    (ng->ttl_s != 0 && (og->ttl_s == 0 ||
			    ng->ttl_s < og->ttl_s)))
				snprintf(why, len, "%s/%s: its instances would "
				    "be stopped or expire sooner", of->name,
				    og->name);
			else
				continue;
			return true;
		}
	}
	return false;
}

/* Parse the whole spec; swap it in only when valid.  True: changed. */
static bool
reload(struct watcher *w, const char *why)
{
	struct spec_diags	 diags = { NULL, 0 };
	struct spec		*ns = NULL;
	struct gr_err		 e;
	char			 d[65], t[32], t2[512];
	size_t			 i;

	w->reloads++;
	(void)watchset_rescan(w->ws);
	gr_err_clear(&e);
	if (ctx_parse_spec(w->c, &ns, &diags, &e) == -1) {
		w->bad_reloads++;
		w->held = false;
		for (i = 0; i < diags.n; i++) {
			const struct spec_diag *dg = &diags.v[i];

			if (dg->line > 0)
				log_warnx("%s:%d:%d: %s", dg->file, dg->line,
				    dg->col, dg->msg);
			else
				log_warnx("%s: %s", dg->file, dg->msg);
		}
		log_warnx("fleet files: reload (%s) failed: %s; the desired "
		    "state loaded at %s stays in force", why, e.msg,
		    time_iso8601(w->loaded_ms, t, sizeof(t)));
		spec_diags_release(&diags);
		return false;
	}
	spec_diags_release(&diags);
	/*
	 * The -f paths stay the same while the daemon runs, but a root that
	 * is a symlink swapped to a new target resolves elsewhere: what the
	 * same path resolved to before is still a path given, so a fleet
	 * its old target held and the new one lacks is ended, not left
	 * alone as a fleet from outside the paths (diff.c step 4).
	 */
	for (i = 0; w->c->spec != NULL && i < w->c->spec->nroots; i++) {
		const char	*r = w->c->spec->roots[i];
		size_t		 k;

		for (k = 0; k < ns->nroots && strcmp(ns->roots[k], r) != 0;
		    k++)
			;
		if (k < ns->nroots)
			continue;
		ns->roots = xreallocarray(ns->roots, ns->nroots + 2,
		    sizeof(*ns->roots));
		ns->roots[ns->nroots++] = xstrdup(r);
		ns->roots[ns->nroots] = NULL;
	}
	spec_digest(ns, d);
	if (strcmp(d, w->digest) != 0 && spec_shrinks(w->c->spec, ns, t2,
	    sizeof(t2))) {
		int64_t	 now = clock_mono_ms();

		/*
		 * A file deleted and created again (git checkout), a
		 * directory emptied for a moment, a file caught half-written
		 * by a reload that another event started: none of these may
		 * end an instance.  Only a desired state that still holds
		 * once the files have been quiet for settle_ms does.
		 */
		if (w->last_event != 0 && now - w->last_event < w->settle_ms) {
			if (!w->held)
				log_info("fleet files: reload (%s): %s; "
				    "waiting until the files have been quiet "
				    "for %llds before acting on it", why, t2,
				    (long long)(w->settle_ms / 1000));
			w->held = true;
			w->reload_at = w->last_event + w->settle_ms;
			spec_free(ns);
			return false;
		}
	}
	w->held = false;
	if (strcmp(d, w->digest) == 0) {
		/* the same desired state, maybe from another commit (a
		 * checkout of equal content): events name the new one */
		ctx_audit_spec(w->c);
		if (strcmp(why, "SIGHUP") == 0)
			log_info("fleet files: reload (%s): desired state "
			    "unchanged", why);
		else
			log_debug("fleet files: reload (%s): desired state "
			    "unchanged", why);
		spec_free(ns);
		return false;
	}
	log_info("fleet files: reloaded (%s): %zu fleet%s", why, ns->nfleets,
	    ns->nfleets == 1 ? "" : "s");
	log_spec_changes(w->c->spec, ns);
	/* between passes: nothing borrows from the old spec now */
	spec_free(w->c->spec);
	w->c->spec = ns;
	memcpy(w->digest, d, sizeof(w->digest));
	w->loaded_ms = clock_now_ms();
	ctx_audit_spec(w->c);	/* events record the commit read from */
	return true;
}

static void
cycle_start(struct watcher *w)
{
	if (w->cycle)
		return;
	run_state_release(&w->rs);
	run_state_init(&w->rs, (uint64_t)clock_mono_ms() ^
	    (uint64_t)getpid());
	w->rs.stop = &sig_stop;
	w->c->run = &w->rs;
	w->cycle = true;
	w->cycle_calls = 0;
	w->quick = 0;
}

static void
cycle_end(struct watcher *w, const struct pass *ps, bool converged)
{
	size_t	 i;

	if (converged) {
		if (w->cycle_changed || w->cycle_calls > 0)
			for (i = 0; i < w->c->spec->nfleets; i++)
				log_info("%s: converged", w->c->spec->fleets[i].
				    name);
	} else {
		for (i = 0; i < ps->p.n; i++) {
			const struct action	*a = &ps->p.v[i];
			char			*addr;

			if (a->kind != ACT_BLOCKED)
				continue;
			addr = action_address(a);
			log_warnx("%s: blocked: %s", addr, a->reason);
			free(addr);
		}
		for (i = 0; i < w->rs.nslots; i++)
			if (w->rs.slots[i].given_up)
				log_warnx("%s: given up until the next resync: "
				    "%s", w->rs.slots[i].addr,
				    w->rs.slots[i].last.msg);
		for (i = 0; i < w->rs.nblocked; i++)
			log_warnx("provider '%s': not used until the next "
			    "resync: %s", w->rs.blocked[i].key,
			    w->rs.blocked[i].value);
	}
	w->cycle = false;
	w->cycle_changed = false;
}

/* One pass; schedules the next one. */
static void
run_pass(struct watcher *w)
{
	struct pass	 ps;
	struct gr_err	 e, ue;
	int64_t		 now;
	bool		 unchecked;

	cycle_start(w);
	w->passes++;
	gr_err_clear(&e);
	if (pass_plan(w->c, &ps, &e) == -1) {
		log_warnx("pass: %s; trying again at the next resync", e.msg);
		w->next_pass = 0;
		w->cycle = false;
		return;
	}
	pass_exec(w->c, &ps);
	w->cycle_calls += ps.res.mutating_calls;
	now = clock_mono_ms();
	unchecked = ps.p.nchanges == 0 && ps.waiting == 0 &&
	    observation_unchecked(&ps.o, &ue);
	if (unchecked)
		log_warnx("pass: %s; trying again at the next resync",
		    ue.msg);
	if (ps.p.nchanges == 0 && ps.waiting == 0) {
		cycle_end(w, &ps, !unchecked && ps.blocked == 0 &&
		    ps.res.failed == 0);
		w->next_pass = 0;
	} else if (ps.p.nchanges > 0 && ps.res.done > 0 &&
	    w->quick < WATCH_QUICK_MAX) {
		w->quick++;
		w->next_pass = now;
	} else {
		w->quick = 0;
		w->next_pass = now + w->c->cfg->poll_ms;
	}
	pass_release(&ps);
}

static void
heartbeats(struct watcher *w, int64_t now)
{
	struct heartbeat	 hb;
	struct gr_err		 e;
	size_t			 i, k;

	/* every provider a pass has set up gets a heartbeat timer */
	for (i = 0; i < w->c->nprovs; i++) {
		const char *name = w->c->provs[i]->name;

		for (k = 0; k < w->nhb; k++)
			if (strcmp(w->hb[k].provider, name) == 0)
				break;
		if (k < w->nhb)
			continue;
		w->hb = xreallocarray(w->hb, w->nhb + 1, sizeof(*w->hb));
		w->hb[w->nhb].provider = xstrdup(name);
		w->hb[w->nhb].next_ms = now +
		    config_provider(w->c->cfg, name)->heartbeat_ms;
		w->hb[w->nhb].healthy = -1;
		w->nhb++;
	}
	for (k = 0; k < w->nhb; k++) {
		struct hbeat	*h = &w->hb[k];
		struct provider	*p;
		int		 ok;

		if (now < h->next_ms)
			continue;
		h->next_ms = now + config_provider(w->c->cfg,
		    h->provider)->heartbeat_ms;
		if (ctx_provider(w->c, h->provider, &p, &e) == -1)
			continue;
		ok = provider_heartbeat(p, &hb, &e) == 0 && hb.healthy;
		if (ok)
			log_debug("provider '%s': heartbeat: %s", h->provider,
			    hb.detail);
		if (ok && h->healthy == 0)
			log_info("provider '%s': healthy again: %s",
			    h->provider, hb.detail);
		else if (!ok && h->healthy != 0)
			log_warnx("provider '%s': heartbeat failed: %s",
			    h->provider, e.code != GR_OK ? e.msg : hb.detail);
		h->healthy = ok;
	}
}

static int64_t
deadline_min(int64_t a, int64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

int
watch_run(struct ctx *c, struct gr_err *e)
{
	struct watcher	 w;
	struct pollfd	 pfd[2];
	const char	**roots;
	size_t		 nroots, i;
	int64_t		 now, next, stop_ms;
	unsigned int	 fl;
	int		 rc = 0, timeout;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.resync_ms = c->opts->resync_ms > 0 ? c->opts->resync_ms :
	    c->cfg->resync_ms;
	w.debounce_ms = c->opts->has_debounce ? c->opts->debounce_ms :
	    c->cfg->debounce_ms;
	w.settle_ms = 2 * WATCH_BURST_MAX * w.debounce_ms;
	if (w.settle_ms < WATCH_SETTLE_MS)
		w.settle_ms = WATCH_SETTLE_MS;
	stop_ms = c->cfg->stop_ms > 0 ? c->cfg->stop_ms : 30 * 1000;
	stop_secs = (unsigned int)((stop_ms + 999) / 1000);
	if (c->opts->nfleet_paths > 0) {
		roots = c->opts->fleet_paths;
		nroots = c->opts->nfleet_paths;
	} else {
		roots = (const char **)c->cfg->fleet_paths;
		nroots = c->cfg->nfleet_paths;
	}
	if (signals_install(e) == -1)
		return -1;
	if (watchset_new(roots, nroots, &w.ws, e) == -1)
		return -1;
	spec_digest(c->spec, w.digest);
	w.loaded_ms = clock_now_ms();
	run_state_init(&w.rs, 1);
	log_info("watch: pid %ld watching %zu director%s for %zu fleet%s; "
	    "full pass every %llds", (long)getpid(), watchset_count(w.ws),
	    watchset_count(w.ws) == 1 ? "y" : "ies", c->spec->nfleets,
	    c->spec->nfleets == 1 ? "" : "s",
	    (long long)(w.resync_ms / 1000));
	now = clock_mono_ms();
	w.next_pass = now;
	/* read the files again once watched: an edit made after they were
	 * first read and before the watches were in place is not lost */
	w.reload_at = now;
	w.cycle_changed = true;		/* say "converged" after the first */
	w.next_resync = now + w.resync_ms;
	for (;;) {
		if (sig_stop)
			break;
		now = clock_mono_ms();
		if (sig_reload) {
			sig_reload = 0;
			w.reload_at = 0;	/* a held one may set it again */
			if (reload(&w, "SIGHUP")) {
				w.cycle = false;
				w.cycle_changed = true;
				w.next_pass = now;
			}
		}
		if (w.reload_at != 0 && now >= w.reload_at) {
			w.reload_at = 0;
			if (reload(&w, "files changed")) {
				w.cycle = false;	/* a fresh run */
				w.cycle_changed = true;
				w.next_pass = now;
			}
		}
		if (now >= w.next_resync) {
			log_debug("watch: resync: full pass");
			w.next_resync = now + w.resync_ms;
			/* the files too: an event inotify cannot give (a
			 * fleet file that is a symlink to a file elsewhere,
			 * a directory past the watch limit) is still seen */
			if (w.reload_at == 0 && reload(&w, "resync"))
				w.cycle_changed = true;
			w.next_pass = now;
			/* a fresh run: slots given up on and blocked
			 * providers are tried again */
			w.cycle = false;
		}
		if (w.next_pass != 0 && now >= w.next_pass && !sig_stop) {
			run_pass(&w);
			/* a pass longer than the resync interval: the next
			 * full pass is a resync after this one, not at once
			 * (passes back to back would only add to the load of
			 * a provider slow to answer) */
			now = clock_mono_ms();
			if (w.next_resync <= now)
				w.next_resync = now + w.resync_ms;
		}
		if (sig_stop)
			break;
		now = clock_mono_ms();
		heartbeats(&w, now);
		now = clock_mono_ms();
		next = deadline_min(w.next_pass, w.next_resync);
		next = deadline_min(next, w.reload_at);
		for (i = 0; i < w.nhb; i++)
			next = deadline_min(next, w.hb[i].next_ms);
		timeout = next <= now ? 0 : next - now > INT_MAX ? INT_MAX :
		    (int)(next - now);
		pfd[0].fd = watchset_fd(w.ws);
		pfd[0].events = POLLIN;
		pfd[1].fd = sig_pipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) == -1) {
			if (errno == EINTR)
				continue;
			gr_err_set(e, GR_E_IO, "watch: poll: %s",
			    strerror(errno));
			rc = -1;
			break;
		}
		if (pfd[1].revents & POLLIN)
			signals_drain();
		if (pfd[0].revents & POLLIN) {
			fl = watchset_read(w.ws);
			now = clock_mono_ms();
			if (fl & WATCH_OVERFLOW)
				log_warnx("watch: inotify queue overflowed; "
				    "rescanning every fleet directory");
			if (fl & WATCH_CHANGED) {
				/* debounce: quiet for debounce_ms, but a
				 * steady stream waits at most a burst max */
				w.last_event = now;
				if (w.reload_at == 0 || w.held)
					w.burst_start = now;
				w.reload_at = now + w.debounce_ms;
				if (w.reload_at > w.burst_start +
				    WATCH_BURST_MAX * w.debounce_ms)
					w.reload_at = w.burst_start +
					    WATCH_BURST_MAX * w.debounce_ms;
				if (fl & WATCH_OVERFLOW)
					w.reload_at = now;
			}
		}
	}
	if (sig_stop) {
		alarm(0);
		log_info("watch: stopping on a signal after %zu pass%s, %zu "
		    "reload%s (%zu refused); calls in flight were finished "
		    "and recorded", w.passes, w.passes == 1 ? "" : "es",
		    w.reloads, w.reloads == 1 ? "" : "s", w.bad_reloads);
	}
	for (i = 0; i < w.nhb; i++)
		free(w.hb[i].provider);
	free(w.hb);
	c->run = NULL;
	run_state_release(&w.rs);
	watchset_free(w.ws);
	return rc;
}
