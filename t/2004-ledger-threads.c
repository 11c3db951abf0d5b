/*
 * 2004: the executor writes the ledger from several threads at once,
 * through one shared struct ledger; readers list beside them on the
 * shared handle and on their own connections.  Nothing may fail with
 * SQLITE_BUSY, and every row must end with its full event history.
 * Then another connection holding the write lock: a writer waits for it
 * (busy_timeout), and fails with a hint only when it is held too long.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

#define WRITERS		8
#define ROUNDS		40
#define READERS		3

struct shared {
	const char		*dir;
	struct ledger		*l;		/* shared by every writer */
	atomic_bool		 done;
	atomic_int		 failures;
	atomic_int		 reads;
	pthread_mutex_t		 mu;
	char			 first_err[600];
};

struct writer {
	struct shared		*sh;
	int			 n;
};

static void
fail(struct shared *sh, const char *who, const struct gr_err *e)
{
	atomic_fetch_add(&sh->failures, 1);
	pthread_mutex_lock(&sh->mu);
	if (sh->first_err[0] == '\0')
		(void)snprintf(sh->first_err, sizeof(sh->first_err),
		    "%s: %s", who, e->msg);
	pthread_mutex_unlock(&sh->mu);
}

static void *
writer_main(void *arg)
{
	struct writer		*w = arg;
	struct ledger		*l = w->sh->l;
	struct ledger_inst	 in;
	struct gr_err		 e;
	char			 group[16], pid[32];
	int			 i;

	(void)snprintf(group, sizeof(group), "g%d", w->n);
	for (i = 0; i < ROUNDS; i++) {
		memset(&in, 0, sizeof(in));
		in.kind = LEDGER_KIND_FLEET;
		in.fleet = xstrdup("threads");
		in.group = xstrdup(group);
		in.slot = i;
		in.provider = xstrdup("fake");
		in.max_price = 100000 + w->n;
		gr_err_clear(&e);
		if (ledger_intent_spawn(l, &in, &e) == -1) {
			fail(w->sh, "intent", &e);
			ledger_inst_release(&in);
			continue;
		}
		(void)snprintf(pid, sizeof(pid), "p%d-%d", w->n, i);
		in.provider_id = xstrdup(pid);
		in.state = INST_PENDING;
		if (ledger_update(l, &in, "spawned", pid, &e) == -1)
			fail(w->sh, "update pending", &e);
		in.state = INST_RUNNING;
		in.price = in.max_price - 1;
		if (ledger_update(l, &in, "running", NULL, &e) == -1)
			fail(w->sh, "update running", &e);
		ledger_inst_release(&in);
	}
	return NULL;
}

/* Reader 0 shares the writers' handle; the others open their own. */
struct reader {
	struct shared		*sh;
	int			 n;
};

static void *
reader_main(void *arg)
{
	struct reader		*r = arg;
	struct ledger		*l = NULL;
	struct ledger_inst	*v;
	struct ledger_event	*ev;
	struct gr_err		 e;
	size_t			 n;

	gr_err_clear(&e);
	if (r->n == 0)
		l = r->sh->l;
	else if (ledger_open(r->sh->dir, false, &l, &e) == -1) {
		fail(r->sh, "reader open", &e);
		return NULL;
	}
	while (!atomic_load(&r->sh->done)) {
		if (ledger_list(l, false, &v, &n, &e) == -1)
			fail(r->sh, "reader list", &e);
		else
			ledger_insts_free(v, n);
		if (ledger_events(l, 0, &ev, &n, &e) == -1)
			fail(r->sh, "reader events", &e);
		else
			ledger_events_free(ev, n);
		/* integrity_check reads everything: now and then is enough */
		if (atomic_fetch_add(&r->sh->reads, 1) % 16 == 0 &&
		    ledger_check(l, &e) == -1)
			fail(r->sh, "reader check", &e);
	}
	if (r->n != 0)
		ledger_close(l);
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
verify(struct shared *sh)
{
	struct ledger		*l = sh->l;
	struct ledger_inst	*v;
	struct ledger_event	*ev;
	struct gr_err		 e;
	char			**labels;
	size_t			 n, nev, i, j;
	bool			 all_running = true, unique = true;
	bool			 history = true;

	gr_err_clear(&e);
	if (ledger_list(l, true, &v, &n, &e) == -1)
		bail_out("list: %s", e.msg);
	is_int(n, WRITERS * ROUNDS, "threads: every intent made a row");
	labels = xcalloc(n, sizeof(*labels));
	for (i = 0; i < n; i++) {
		if (v[i].state != INST_RUNNING || v[i].provider_id == NULL ||
		    v[i].price != v[i].max_price - 1)
			all_running = false;
		labels[i] = v[i].label;
	}
	ok(all_running, "threads: every row ended RUNNING with its fields");
	qsort(labels, n, sizeof(*labels), cmp_str);
	for (i = 1; i < n; i++)
		if (strcmp(labels[i - 1], labels[i]) == 0)
			unique = false;
	ok(unique, "threads: labels are unique");
	free(labels);

	if (ledger_events(l, 0, &ev, &nev, &e) == -1)
		bail_out("events: %s", e.msg);
	is_int(nev, 3 * WRITERS * ROUNDS, "threads: three events per row");
	/* Per row, in id order: intent, IDLE->PENDING, PENDING->RUNNING. */
	for (i = 0; i < n; i++) {
		int	 seen = 0;

		for (j = 0; j < nev; j++) {
			if (ev[j].uid != v[i].uid)
				continue;
			if ((seen == 0 && (ev[j].to != INST_IDLE ||
			    strcmp(ev[j].kind, "spawn-intent") != 0)) ||
			    (seen == 1 && (ev[j].from != INST_IDLE ||
			    ev[j].to != INST_PENDING)) ||
			    (seen == 2 && (ev[j].from != INST_PENDING ||
			    ev[j].to != INST_RUNNING)))
				history = false;
			seen++;
		}
		if (seen != 3)
			history = false;
	}
	ok(history, "threads: every row has its history in order");
	for (j = 1; j < nev; j++)
		if (ev[j - 1].id >= ev[j].id)
			history = false;
	ok(history, "threads: events come back ordered by id");
	ledger_events_free(ev, nev);
	ledger_insts_free(v, n);
	if (!ok(ledger_check(l, &e) == 0, "threads: ledger_check passes"))
		diag("%s", e.msg);
}

/* An intent made while another connection holds the write lock. */
struct blocked {
	struct ledger		*l;
	atomic_bool		 finished;
	int			 rc;
	struct gr_err		 e;
};

static void *
blocked_main(void *arg)
{
	struct blocked		*b = arg;
	struct ledger_inst	 in;

	memset(&in, 0, sizeof(in));
	in.kind = LEDGER_KIND_ADHOC;
	in.group = xstrdup("blocked");
	in.provider = xstrdup("fake");
	gr_err_clear(&b->e);
	b->rc = ledger_intent_spawn(b->l, &in, &b->e);
	ledger_inst_release(&in);
	atomic_store(&b->finished, true);
	return NULL;
}

static void
nap_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

static void
test_busy(const char *dir, struct ledger *l)
{
	struct blocked	 b;
	pthread_t	 t;
	sqlite3		*db;
	char		*path;

	path = xasprintf("%s/%s", dir, LEDGER_FILE);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL) != SQLITE_OK)
		bail_out("%s: %s", path, sqlite3_errmsg(db));

	memset(&b, 0, sizeof(b));
	b.l = l;
	atomic_init(&b.finished, false);
	if (pthread_create(&t, NULL, blocked_main, &b) != 0)
		bail_out("pthread_create");
	nap_ms(500);
	ok(!atomic_load(&b.finished), "busy: an intent waits while another "
	    "connection writes");
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		bail_out("commit: %s", sqlite3_errmsg(db));
	pthread_join(t, NULL);
	if (!ok(b.rc == 0, "busy: and succeeds once that writer is done"))
		diag("%s", b.e.msg);

	/* Held past the busy timeout: a clear error, nothing half done. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		bail_out("begin: %s", sqlite3_errmsg(db));
	memset(&b, 0, sizeof(b));
	b.l = l;
	blocked_main(&b);
	ok(b.rc == -1 && b.e.code == GR_E_LEDGER, "busy: held past the busy "
	    "timeout, the intent fails");
	like(b.e.msg, "database is locked", "busy: SQLite's reason is kept");
	like(b.e.hint, "busy", "busy: the hint says another process is busy");
	if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		bail_out("rollback: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
	free(path);
	if (!ok(ledger_check(l, &b.e) == 0, "busy: the ledger is sound after"))
		diag("%s", b.e.msg);
}

int
main(void)
{
	struct shared	 sh;
	struct writer	 w[WRITERS];
	struct reader	 r[READERS];
	pthread_t	 wt[WRITERS], rt[READERS];
	struct gr_err	 e;
	char		*dir;
	int		 i;

	plan_lazy();
	dir = xasprintf("%s/state", test_tmpdir());
	memset(&sh, 0, sizeof(sh));
	sh.dir = dir;
	pthread_mutex_init(&sh.mu, NULL);
	atomic_init(&sh.done, false);
	atomic_init(&sh.failures, 0);
	atomic_init(&sh.reads, 0);
	gr_err_clear(&e);
	if (ledger_open(dir, true, &sh.l, &e) == -1)
		bail_out("ledger_open: %s", e.msg);

	for (i = 0; i < READERS; i++) {
		r[i].sh = &sh;
		r[i].n = i;
		if (pthread_create(&rt[i], NULL, reader_main, &r[i]) != 0)
			bail_out("pthread_create");
	}
	for (i = 0; i < WRITERS; i++) {
		w[i].sh = &sh;
		w[i].n = i;
		if (pthread_create(&wt[i], NULL, writer_main, &w[i]) != 0)
			bail_out("pthread_create");
	}
	for (i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	atomic_store(&sh.done, true);
	for (i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);

	if (!is_int(atomic_load(&sh.failures), 0, "threads: no call failed "
	    "(%d writers, %d readers)", WRITERS, READERS))
		diag("first failure: %s", sh.first_err);
	ok(atomic_load(&sh.reads) > 0, "threads: the readers did read");
	verify(&sh);
	test_busy(dir, sh.l);

	ledger_close(sh.l);
	pthread_mutex_destroy(&sh.mu);
	free(dir);
	return done_testing();
}
