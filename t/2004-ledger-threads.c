/*
 * 2004: the executor writes the ledger from several threads at once.
 * Writers share one struct ledger (and a second one, a second
 * connection, to make SQLite's own locking wait); readers list beside
 * them on the shared handle and on their own.  Nothing may fail with
 * SQLITE_BUSY, and every row must end with its full event history.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

#define WRITERS		8
#define ROUNDS		40
#define READERS		3

struct shared {
	const char		*dir;
	struct ledger		*l[2];		/* two connections */
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
	struct ledger		*l = w->sh->l[w->n % 2];
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
		l = r->sh->l[0];
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
		if (ledger_check(l, &e) == -1)
			fail(r->sh, "reader check", &e);
		atomic_fetch_add(&r->sh->reads, 1);
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
	struct ledger		*l = sh->l[0];
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
	if (ledger_open(dir, true, &sh.l[0], &e) == -1 ||
	    ledger_open(dir, true, &sh.l[1], &e) == -1)
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
	    "(%d writers on 2 connections, %d readers)", WRITERS, READERS))
		diag("first failure: %s", sh.first_err);
	ok(atomic_load(&sh.reads) > 0, "threads: the readers did read");
	verify(&sh);

	ledger_close(sh.l[1]);
	ledger_close(sh.l[0]);
	pthread_mutex_destroy(&sh.mu);
	free(dir);
	return done_testing();
}
