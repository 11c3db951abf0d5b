/*
 * 5601: watch's inotify side (watch.c watchset_*): which directories it
 * watches (recursively, not .git and other dot directories, plus each
 * root's parent for the root's own name), and which events count: a
 * write, an editor's save by rename, a new subdirectory (watched after
 * the rescan), a removed one, a Kubernetes ConfigMap's ..data symlink
 * swap, a root that is a symlink swapped to a new target, a root that is
 * a file; a write not yet closed (but not in a root's parent, where a
 * log beside the root would wake us for nothing); and an inotify queue
 * overflow, which asks for a full rescan.
 * Also the daemon's settings: durations in ms, and the config's watch
 * section and per-provider heartbeat, with file:line:col errors.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../reconciler/reconciler.h"
#include "tap.h"
#include "testlib.h"

#define FLEET(n) \
	"fleet: f\n" \
	"groups:\n" \
	"  - name: g\n" \
	"    count: " #n "\n" \
	"    provider: fake\n" \
	"    gpu: RTX_4090\n" \
	"    max_price_per_hour: 0.70\n"

/* Wait up to ms for events; the WATCH_* flags they carry. */
static unsigned int
events(struct watchset *ws, int ms)
{
	struct pollfd	 pfd = { watchset_fd(ws), POLLIN, 0 };
	unsigned int	 fl = 0;

	while (poll(&pfd, 1, ms) == 1) {
		fl |= watchset_read(ws);
		ms = 50;	/* the rest of the burst */
	}
	return fl;
}

static int
group_count(const char *root)
{
	struct spec_diags	 d = { NULL, 0 };
	struct spec		*s = NULL;
	const char		*paths[1] = { root };
	int			 n = -1;

	if (spec_load(paths, 1, NULL, &s, &d) == 0)
		n = s->fleets[0].groups[0].count;
	spec_diags_release(&d);
	spec_free(s);
	return n;
}

static void
must(int rc, const char *what)
{
	if (rc == -1)
		bail_out("%s: %s", what, strerror(errno));
}

int
main(void)
{
	struct watchset	*ws = NULL;
	struct gr_err	 e;
	const char	*top = test_tmpdir();
	char		*root, *sub, *p, *q, *cm, *link;
	const char	*roots[1];
	unsigned int	 fl;
	char		 buf[sizeof(struct inotify_event) * 2]
			    __attribute__((aligned(8)));
	struct inotify_event *ev = (struct inotify_event *)(void *)buf;

	plan_lazy();

	/* A tree: root/{a.yaml, sub/b.yaml, .git/objects/} */
	root = xasprintf("%s/fleet", top);
	sub = xasprintf("%s/sub", root);
	free(test_write(root, "a.yaml", FLEET(1)));
	free(test_write(sub, "b.yaml", "# nothing yet\n"));
	free(test_write(root, ".git/objects/x", "blob\n"));
	roots[0] = root;
	is_int(watchset_new(roots, 1, &ws, &e), 0, "watchset_new");
	is_int((long long)watchset_count(ws), 3, "it watches root, root/sub "
	    "and root's parent");
	ok(watchset_watches(ws, root) && watchset_watches(ws, sub),
	    "the root and its subdirectory are watched");
	p = xasprintf("%s/.git", root);
	ok(!watchset_watches(ws, p), ".git is not watched (spec/ skips dot "
	    "names; git's object churn would wake us for nothing)");
	free(p);
	is_int(events(ws, 100), 0, "no events yet");

	free(test_write(sub, "b.yaml", "# a change\n"));
	ok(events(ws, 2000) & WATCH_CHANGED, "a write in a subdirectory "
	    "counts");
	free(test_write(root, ".git/objects/y", "blob\n"));
	is_int(events(ws, 200), 0, "a write under .git does not");
	{
		/* a write still in progress (no close yet) counts: it holds
		 * a reload back until the file is quiet */
		char	*bp = xasprintf("%s/b.yaml", sub);
		int	 fd = open(bp, O_WRONLY | O_APPEND);

		ok(fd != -1 && write(fd, "# more\n", 7) == 7 &&
		    (events(ws, 2000) & WATCH_CHANGED), "a write not yet "
		    "closed counts");
		if (fd != -1)
			close(fd);
		(void)events(ws, 100);
		free(bp);
		/* but not a write to a log kept open among them */
		bp = xasprintf("%s/app.log", sub);
		fd = open(bp, O_WRONLY | O_CREAT, 0644);
		(void)events(ws, 100);	/* its creation */
		ok(fd != -1 && write(fd, "line\n", 5) == 5 &&
		    events(ws, 200) == 0, "a write to a log not yet closed "
		    "does not count");
		if (fd != -1)
			close(fd);
		(void)events(ws, 100);
		unlink(bp);
		(void)events(ws, 100);
		free(bp);
	}

	/* an editor's save by rename */
	p = xasprintf("%s/.a.yaml.swp", root);
	q = xasprintf("%s/a.yaml", root);
	free(test_write(root, ".a.yaml.swp", FLEET(2)));
	(void)events(ws, 100);
	must(rename(p, q), "rename");
	ok(events(ws, 2000) & WATCH_CHANGED, "a save by rename counts");
	free(p);
	free(q);

	/* a new subdirectory: seen, then watched after the rescan */
	p = xasprintf("%s/new", root);
	must(mkdir(p, 0755), "mkdir");
	ok(events(ws, 2000) & WATCH_CHANGED, "a new subdirectory counts");
	ok(!watchset_watches(ws, p), "it is not watched before the rescan");
	is_int(watchset_rescan(ws), 4, "the rescan watches 4 directories");
	ok(watchset_watches(ws, p), "the new subdirectory is watched");
	free(test_write(p, "c.yaml", "# new\n"));
	ok(events(ws, 2000) & WATCH_CHANGED, "a file written in it counts");

	/* a removed subdirectory: seen, then dropped */
	q = xasprintf("%s/c.yaml", p);
	must(unlink(q), "unlink");
	must(rmdir(p), "rmdir");
	ok(events(ws, 2000) & WATCH_CHANGED, "a removed subdirectory counts");
	is_int(watchset_rescan(ws), 3, "the rescan drops it");
	free(q);
	free(p);

	/* overflow: the kernel's queue lost events; rescan everything */
	memset(buf, 0, sizeof(buf));
	ev->wd = -1;
	ev->mask = IN_Q_OVERFLOW;
	ev->len = 0;
	fl = watchset_feed(ws, buf, sizeof(*ev));
	is_int(fl, WATCH_CHANGED | WATCH_OVERFLOW, "IN_Q_OVERFLOW asks for a "
	    "full rescan and reload");
	ev->wd = 99999;
	ev->mask = IN_CLOSE_WRITE;
	is_int(watchset_feed(ws, buf, sizeof(*ev)), 0, "an event for an "
	    "unknown watch is ignored");
	watchset_free(ws);

	/* A ConfigMap volume: fleet.yaml -> ..data/fleet.yaml, ..data ->
	 * ..2026_1; the kubelet swaps ..data by rename */
	cm = xasprintf("%s/cm", top);
	free(test_write(cm, "..2026_1/fleet.yaml", FLEET(1)));
	p = xasprintf("%s/..data", cm);
	must(symlink("..2026_1", p), "symlink");
	q = xasprintf("%s/fleet.yaml", cm);
	must(symlink("..data/fleet.yaml", q), "symlink");
	free(q);
	is_int(group_count(cm), 1, "the ConfigMap reads as count 1");
	roots[0] = cm;
	is_int(watchset_new(roots, 1, &ws, &e), 0, "watch the ConfigMap");
	free(test_write(cm, "..2026_2/fleet.yaml", FLEET(4)));
	q = xasprintf("%s/..data_tmp", cm);
	must(symlink("..2026_2", q), "symlink");
	(void)events(ws, 100);
	must(rename(q, p), "rename");
	ok(events(ws, 2000) & WATCH_CHANGED, "the ..data symlink swap counts");
	is_int(group_count(cm), 4, "and a reload then reads count 4");
	free(q);
	free(p);
	watchset_free(ws);

	/* A root that is a symlink, swapped to another directory */
	free(test_write(top, "rel1/f.yaml", FLEET(1)));
	free(test_write(top, "rel2/f.yaml", FLEET(5)));
	link = xasprintf("%s/current", top);
	must(symlink("rel1", link), "symlink");
	roots[0] = link;
	is_int(watchset_new(roots, 1, &ws, &e), 0, "watch a symlinked root");
	p = xasprintf("%s/current.tmp", top);
	must(symlink("rel2", p), "symlink");
	is_int(events(ws, 200), 0, "a new name beside the root does not "
	    "count");
	must(rename(p, link), "rename");
	ok(events(ws, 2000) & WATCH_CHANGED, "swapping the root symlink "
	    "counts");
	is_int(group_count(link), 5, "and a reload reads the new target");
	free(p);
	watchset_free(ws);

	/* A root that is a file: only its own name counts */
	p = xasprintf("%s/one/fleet.yaml", top);
	free(test_write(top, "one/fleet.yaml", FLEET(1)));
	roots[0] = p;
	is_int(watchset_new(roots, 1, &ws, &e), 0, "watch a file root");
	is_int((long long)watchset_count(ws), 1, "one directory: the file's");
	free(test_write(top, "one/other.yaml", FLEET(2)));
	is_int(events(ws, 200), 0, "another file beside it does not count");
	{
		/* writes to a file beside the root (a log being appended
		 * to) do not even wake the daemon */
		char		*lp = xasprintf("%s/one/app.log", top);
		int		 fd = open(lp, O_WRONLY | O_CREAT, 0644), k;
		struct pollfd	 pfd = { watchset_fd(ws), POLLIN, 0 };

		(void)events(ws, 100);	/* its creation */
		for (k = 0; fd != -1 && k < 5; k++)
			if (write(fd, "line\n", 5) != 5)
				break;
		is_int(poll(&pfd, 1, 200), 0, "writes to a log beside a file "
		    "root do not wake the daemon");
		if (fd != -1)
			close(fd);
		(void)events(ws, 100);
		unlink(lp);
		(void)events(ws, 100);
		free(lp);
	}
	free(test_write(top, "one/fleet.yaml", FLEET(3)));
	ok(events(ws, 2000) & WATCH_CHANGED, "a write to the file counts");
	free(p);
	watchset_free(ws);

	/* durations in ms, for --resync and --debounce */
	{
		const char	*why;
		int64_t		 ms = -1;

		ok(duration_parse_ms("250ms", &ms, &why) && ms == 250,
		    "250ms is 250 ms");
		ok(duration_parse_ms("2s", &ms, &why) && ms == 2000,
		    "2s is 2000 ms");
		ok(duration_parse_ms("0ms", &ms, &why) && ms == 0, "0ms is 0");
		ok(!duration_parse_ms("60001ms", &ms, &why) && why != NULL,
		    "60001ms is refused (%s)", why);
		ok(!duration_parse_ms("ms", &ms, &why), "ms alone is refused");
		ok(!duration_parse_ms("1.5ms", &ms, &why), "1.5ms is refused");
		ok(!duration_parse_ms("10", &ms, &why), "a bare number is "
		    "refused");
	}

	/* the config's watch section and a provider's heartbeat */
	{
		struct config	*c = NULL;
		char		*cp;

		cp = test_write(top, "c1.yaml", "watch: {resync: 5s, debounce: "
		    "50ms, stop_timeout: 10s}\nproviders:\n  fake: "
		    "{heartbeat: 30s}\n");
		is_int(config_load(cp, true, &c, &e), 0, "a config with watch "
		    "settings loads");
		if (c != NULL) {
			is_int(c->resync_ms, 5000, "watch resync");
			is_int(c->debounce_ms, 50, "watch debounce");
			is_int(c->stop_ms, 10000, "watch stop_timeout");
			is_int(config_provider(c, "fake")->heartbeat_ms, 30000,
			    "fake's heartbeat");
			is_int(config_provider(c, "vastai")->heartbeat_ms,
			    300000, "a provider without one: 5 min");
		}
		config_free(c);
		free(cp);
		c = NULL;
		cp = test_write(top, "c2.yaml", "parallel: 2\nwatch:\n  "
		    "resink: 5s\n");
		is_int(config_load(cp, true, &c, &e), -1, "an unknown watch key "
		    "is refused");
		p = xasprintf("%s:3:3: unknown watch key 'resink' (hint: did "
		    "you mean 'resync'?)", cp);
		is_str(e.msg, p, "with file:line:col and a did-you-mean");
		free(p);
		free(cp);
		cp = test_write(top, "c3.yaml", "watch: {debounce: 2x}\n");
		is_int(config_load(cp, true, &c, &e), -1, "a bad debounce is "
		    "refused");
		like(e.msg, "c3.yaml:1:19: 'debounce':", "with where it is");
		free(cp);
	}

	free(link);
	free(cm);
	free(root);
	free(sub);
	return done_testing();
}
