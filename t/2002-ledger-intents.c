/*
 * 2002: intents and updates: an intent row (uid, owner label, IDLE, a
 * spawn-intent event) is durable before ledger_intent_spawn returns, even
 * if the process dies before it closes the ledger; updates record their
 * transitions as events; list, get and find; ledger_check catches rows
 * changed behind our back.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

#define T0	1770000000000LL		/* the virtual clock's start */

#define ok_err(c, e, ...)	do {					\
	if (!ok((c), __VA_ARGS__))					\
		diag("error: %s (hint: %s)", (e)->msg, (e)->hint);	\
} while (0)

static void
db_exec_at(const char *dir, const char *sql)
{
	sqlite3	*db;
	char	*path = xasprintf("%s/%s", dir, LEDGER_FILE);

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK || sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bail_out("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
	free(path);
}

static void
inst_init(struct ledger_inst *in, const char *fleet, const char *group,
    int slot)
{
	memset(in, 0, sizeof(*in));
	in->kind = fleet != NULL ? LEDGER_KIND_FLEET : LEDGER_KIND_ADHOC;
	in->fleet = fleet != NULL ? xstrdup(fleet) : NULL;
	in->group = xstrdup(group);
	in->slot = slot;
	in->provider = xstrdup("fake");
	in->state = INST_RUNNING;	/* the intent must say IDLE anyway */
	in->spec_hash = xstrdup("c0ffee");
	in->spec_file = xstrdup("fleet/training.yaml");
	in->gpu = xstrdup("RTX_4090");
	in->gpu_count = 2;
	in->max_price = 700000;
	in->region = xstrdup("US");
	in->bootstrap_sha256 = xstrdup("ab12");
}

static void
set_str(char **p, const char *v)
{
	free(*p);
	*p = v != NULL ? xstrdup(v) : NULL;
}

static void
test_intent(struct ledger *l, int64_t *uidp)
{
	struct ledger_inst	 in, got;
	struct ledger_event	*ev;
	struct gr_err		 e;
	size_t			 n;
	char			*want;

	inst_init(&in, "training", "trainer", 1);
	in.label = xstrdup("stale label the ledger must free");
	gr_err_clear(&e);
	ok_err(ledger_intent_spawn(l, &in, &e) == 0, &e,
	    "intent: ledger_intent_spawn succeeds");
	ok(in.uid > 0, "intent: a uid is assigned");
	want = owner_label(ledger_id(l), in.uid);
	is_str(in.label, want, "intent: label is gr-<ledger id>-<uid>");
	is_int(in.state, INST_IDLE, "intent: caller's state is IDLE");
	is_int(in.created_ms, T0, "intent: created_ms from the clock");

	memset(&got, 0, sizeof(got));
	ok_err(ledger_get(l, in.uid, &got, &e) == 0, &e, "intent: get finds "
	    "the row");
	is_int(got.uid, in.uid, "intent: get uid");
	is_str(got.label, want, "intent: stored label");
	is_int(got.state, INST_IDLE, "intent: stored state is IDLE");
	is_int(got.kind, LEDGER_KIND_FLEET, "intent: stored kind");
	is_str(got.fleet, "training", "intent: stored fleet");
	is_str(got.group, "trainer", "intent: stored group");
	is_int(got.slot, 1, "intent: stored slot");
	is_str(got.provider, "fake", "intent: stored provider");
	ok(got.provider_id == NULL, "intent: no provider id yet");
	is_str(got.spec_hash, "c0ffee", "intent: stored spec hash");
	is_str(got.spec_file, "fleet/training.yaml", "intent: stored file");
	is_str(got.gpu, "RTX_4090", "intent: stored gpu");
	is_int(got.gpu_count, 2, "intent: stored gpu count");
	is_int(got.max_price, 700000, "intent: stored max price");
	is_int(got.price, 0, "intent: no billed price yet");
	is_str(got.region, "US", "intent: stored region");
	is_str(got.bootstrap_sha256, "ab12", "intent: stored bootstrap sum");
	is_int(got.created_ms, T0, "intent: stored created_ms");
	is_int(got.updated_ms, T0, "intent: stored updated_ms");
	is_int(got.billing_start_ms, 0, "intent: not billing");
	ledger_inst_release(&got);

	ok_err(ledger_events(l, in.uid, &ev, &n, &e) == 0, &e,
	    "intent: events are listed");
	is_int(n, 1, "intent: one event");
	if (n == 1) {
		is_str(ev[0].kind, "spawn-intent", "intent: event kind");
		is_int(ev[0].from, INST_IDLE, "intent: event from IDLE");
		is_int(ev[0].to, INST_IDLE, "intent: event to IDLE");
		is_int(ev[0].at_ms, T0, "intent: event time");
		is_int(ev[0].uid, in.uid, "intent: event uid");
	} else {
		skip(5, "no event");
	}
	ledger_events_free(ev, n);
	*uidp = in.uid;
	free(want);
	ledger_inst_release(&in);
}

static void
test_update(struct ledger *l, int64_t uid)
{
	struct ledger_inst	 in, got;
	struct ledger_event	*ev;
	struct gr_err		 e;
	size_t			 n;

	gr_err_clear(&e);
	memset(&in, 0, sizeof(in));
	if (ledger_get(l, uid, &in, &e) == -1)
		bail_out("get %lld: %s", (long long)uid, e.msg);

	clock_advance_ms(1000);
	in.state = INST_PENDING;
	set_str(&in.provider_id, "fake-1");
	set_str(&in.label, "ignored: labels never change");
	in.created_ms = 5;	/* ignored as well */
	ok_err(ledger_update(l, &in, "spawned", "offer 42", &e) == 0, &e,
	    "update: to PENDING");
	clock_advance_ms(1000);
	in.state = INST_RUNNING;
	in.price = 650000;
	in.billing_start_ms = T0 + 2000;
	set_str(&in.ssh_host, "10.0.0.7");
	in.ssh_port = 2222;
	set_str(&in.ssh_user, "root");
	ok_err(ledger_update(l, &in, "running", NULL, &e) == 0, &e,
	    "update: to RUNNING");

	memset(&got, 0, sizeof(got));
	ok_err(ledger_get(l, uid, &got, &e) == 0, &e, "update: get");
	is_int(got.state, INST_RUNNING, "update: state stored");
	is_str(got.provider_id, "fake-1", "update: provider id stored");
	is_int(got.price, 650000, "update: price stored");
	is_int(got.billing_start_ms, T0 + 2000, "update: billing start");
	is_str(got.ssh_host, "10.0.0.7", "update: ssh host");
	is_int(got.ssh_port, 2222, "update: ssh port");
	is_str(got.ssh_user, "root", "update: ssh user");
	is_int(got.updated_ms, T0 + 2000, "update: updated_ms from the clock");
	is_int(got.created_ms, T0, "update: created_ms never changes");
	ok(got.label != NULL && strcmp(got.label, "ignored: labels never "
	    "change") != 0, "update: the label never changes");
	ledger_inst_release(&got);

	ok_err(ledger_events(l, uid, &ev, &n, &e) == 0, &e, "update: events");
	is_int(n, 3, "update: three events");
	if (n == 3) {
		is_str(ev[1].kind, "spawned", "update: 2nd event kind");
		is_int(ev[1].from, INST_IDLE, "update: 2nd event from IDLE");
		is_int(ev[1].to, INST_PENDING, "update: 2nd event to PENDING");
		is_str(ev[1].detail, "offer 42", "update: 2nd event detail");
		is_int(ev[1].at_ms, T0 + 1000, "update: 2nd event time");
		is_int(ev[2].from, INST_PENDING, "update: 3rd from PENDING");
		is_int(ev[2].to, INST_RUNNING, "update: 3rd to RUNNING");
		ok(ev[2].detail == NULL, "update: NULL detail stays NULL");
		ok(ev[0].id < ev[1].id && ev[1].id < ev[2].id,
		    "update: events ordered by id");
	} else {
		skip(9, "wrong number of events");
	}
	ledger_events_free(ev, n);

	ok_err(ledger_find_provider_id(l, "fake", "fake-1", &got, &e) == 0, &e,
	    "find: by provider id");
	is_int(got.uid, uid, "find: the right row");
	ledger_inst_release(&got);
	gr_err_clear(&e);
	ok(ledger_find_provider_id(l, "fake", "nope", &got, &e) == -1 &&
	    e.code == GR_E_NOT_FOUND, "find: unknown id is NOT_FOUND");
	like(e.msg, "'nope'", "find: names the id");
	gr_err_clear(&e);
	ok(ledger_find_provider_id(l, "vastai", "fake-1", &got, &e) == -1 &&
	    e.code == GR_E_NOT_FOUND, "find: same id, other provider");
	gr_err_clear(&e);
	ok(ledger_get(l, 999, &got, &e) == -1 && e.code == GR_E_NOT_FOUND,
	    "get: unknown uid is NOT_FOUND");
	like(e.msg, "uid 999", "get: names the uid");

	in.uid = 999;
	gr_err_clear(&e);
	ok(ledger_update(l, &in, "running", NULL, &e) == -1 &&
	    e.code == GR_E_NOT_FOUND, "update: unknown uid is NOT_FOUND");
	ledger_events(l, 999, &ev, &n, &e);
	is_int(n, 0, "update: no event for an unknown uid");
	ledger_events_free(ev, n);
	ledger_inst_release(&in);
}

/* A write that violates a constraint changes nothing at all. */
static void
test_rollback(struct ledger *l, int64_t uid)
{
	struct ledger_inst	 in, got, *v;
	struct ledger_event	*ev;
	struct gr_err		 e;
	size_t			 n, nbefore, nrows;

	inst_init(&in, "training", "trainer", 0);
	gr_err_clear(&e);
	if (ledger_intent_spawn(l, &in, &e) == -1)
		bail_out("intent: %s", e.msg);
	ledger_events(l, 0, &ev, &nbefore, &e);
	ledger_events_free(ev, nbefore);

	in.state = INST_PENDING;
	set_str(&in.provider_id, "fake-1");	/* taken by uid */
	gr_err_clear(&e);
	ok(ledger_update(l, &in, "spawned", NULL, &e) == -1 &&
	    e.code == GR_E_LEDGER, "rollback: a duplicate provider id is "
	    "refused");
	like(e.msg, "UNIQUE", "rollback: SQLite's reason is kept");
	like(e.msg, "ledger '", "rollback: the message names the ledger");
	memset(&got, 0, sizeof(got));
	ledger_get(l, in.uid, &got, &e);
	is_int(got.state, INST_IDLE, "rollback: the row kept its state");
	ok(got.provider_id == NULL, "rollback: the row kept no provider id");
	ledger_inst_release(&got);
	ledger_events(l, 0, &ev, &n, &e);
	is_int(n, nbefore, "rollback: no event was recorded");
	ledger_events_free(ev, n);
	ok_err(ledger_get(l, uid, &got, &e) == 0, &e, "rollback: the ledger "
	    "still works afterwards");
	ledger_inst_release(&got);
	ledger_inst_release(&in);

	/* A fleet row without a fleet breaks a CHECK: nothing inserted. */
	ledger_list(l, true, &v, &nrows, &e);
	ledger_insts_free(v, nrows);
	inst_init(&in, "x", "trainer", 0);
	set_str(&in.fleet, NULL);
	gr_err_clear(&e);
	ok(ledger_intent_spawn(l, &in, &e) == -1 && e.code == GR_E_LEDGER,
	    "rollback: a fleet intent without a fleet is refused");
	is_int(in.uid, 0, "rollback: no uid was handed back");
	ok(in.label == NULL, "rollback: no label was handed back");
	ledger_list(l, true, &v, &n, &e);
	is_int(n, nrows, "rollback: no row was left behind");
	ledger_insts_free(v, n);
	ledger_events(l, 0, &ev, &n, &e);
	is_int(n, nbefore, "rollback: no event was left behind");
	ledger_events_free(ev, n);
	ledger_inst_release(&in);
}

static void
test_list(struct ledger *l)
{
	static const struct {
		const char	*fleet, *group;
		int		 slot;
	} rows[] = {
		{ "zeta", "a", 0 },
		{ "alpha", "b", 1 },
		{ "alpha", "b", 0 },
		{ "alpha", "a", 3 },
		{ NULL, "scratch", 0 },		/* adhoc */
	};
	struct ledger_inst	 in, *v, copy;
	struct gr_err		 e;
	size_t			 i, n, nall;
	int64_t			 kill_uid = 0;
	bool			 sorted = true, found;

	gr_err_clear(&e);
	for (i = 0; i < nitems(rows); i++) {
		inst_init(&in, rows[i].fleet, rows[i].group, rows[i].slot);
		if (ledger_intent_spawn(l, &in, &e) == -1)
			bail_out("intent: %s", e.msg);
		if (i == 1)
			kill_uid = in.uid;
		ledger_inst_release(&in);
	}
	ok_err(ledger_list(l, false, &v, &n, &e) == 0, &e, "list: works");
	for (i = 1; i < n; i++) {
		const char	*fa = v[i - 1].fleet, *fb = v[i].fleet;
		int		 c;

		if (fa == NULL || fb == NULL)
			c = fa == NULL ? (fb == NULL ? 0 : -1) : 1;
		else
			c = strcmp(fa, fb);
		if (c == 0)
			c = strcmp(v[i - 1].group, v[i].group);
		if (c == 0)
			c = v[i - 1].slot - v[i].slot;
		if (c == 0)
			c = v[i - 1].uid < v[i].uid ? -1 : 1;
		if (c > 0)
			sorted = false;
	}
	ok(sorted, "list: ordered by fleet, group, slot, uid");
	ok(n > 0 && v[0].kind == LEDGER_KIND_ADHOC && v[0].fleet == NULL,
	    "list: the adhoc row (no fleet) comes first");
	memset(&copy, 0, sizeof(copy));
	if (n > 0) {
		ledger_inst_copy(&copy, &v[n - 1]);
		ok(copy.label != v[n - 1].label && copy.label != NULL &&
		    strcmp(copy.label, v[n - 1].label) == 0,
		    "copy: strings are duplicated");
	} else {
		ok(false, "copy: strings are duplicated");
	}
	ledger_insts_free(v, n);
	is_str(copy.fleet, "zeta", "copy: outlives the list");
	ledger_inst_release(&copy);
	ledger_inst_release(&copy);	/* released twice: still fine */
	ledger_inst_release(NULL);
	ledger_insts_free(NULL, 0);
	ledger_events_free(NULL, 0);

	/* Terminate one: gone from the live list, kept in the full one. */
	memset(&in, 0, sizeof(in));
	ledger_get(l, kill_uid, &in, &e);
	in.state = INST_TERMINATED;
	in.billing_start_ms = T0;
	in.billing_end_ms = T0 + 60000;
	ok_err(ledger_update(l, &in, "terminated", "confirmed gone", &e) == 0,
	    &e, "list: terminate a row");
	ledger_inst_release(&in);
	ledger_list(l, false, &v, &n, &e);
	found = false;
	for (i = 0; i < n; i++)
		found |= v[i].uid == kill_uid;
	ok(!found, "list: a TERMINATED row is left out");
	ledger_insts_free(v, n);
	ok_err(ledger_list(l, true, &v, &nall, &e) == 0, &e, "list: all");
	found = false;
	for (i = 0; i < nall; i++)
		found |= v[i].uid == kill_uid &&
		    v[i].state == INST_TERMINATED &&
		    v[i].billing_end_ms == T0 + 60000;
	ok(found, "list: include_terminated shows it");
	is_int(nall, n + 1, "list: exactly one row more with terminated");
	ledger_insts_free(v, nall);
}

/*
 * A crash between the intent and the provider call: a child commits an
 * intent and dies without closing anything, by _exit(0) (no atexit, no
 * close) or by SIGKILL.  It reports the uid through a pipe rather than
 * its exit status, which valgrind's leak check would overwrite.  The
 * intent must be there, IDLE, with its label.
 */
static void
test_crash(const char *dir, bool kill9)
{
	struct ledger		*l = NULL;
	struct ledger_inst	 got;
	struct gr_err		 e;
	const char		*how;
	char			*wal, *want;
	int64_t			 uid = 0;
	pid_t			 pid;
	int			 p[2], status;

	how = kill9 ? "crash (SIGKILL)" : "crash (_exit)";
	if (pipe(p) == -1)
		bail_out("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork");
	if (pid == 0) {
		struct ledger_inst	 in;

		close(p[0]);
		gr_err_clear(&e);
		if (ledger_open(dir, true, &l, &e) == -1)
			_exit(2);
		inst_init(&in, "crash", "victim", kill9 ? 8 : 7);
		if (ledger_intent_spawn(l, &in, &e) == -1)
			_exit(3);
		if (write(p[1], &in.uid, sizeof(in.uid)) !=
		    (ssize_t)sizeof(in.uid))
			_exit(4);
		/* ... and here the provider call would have been made. */
		if (kill9)
			raise(SIGKILL);
		_exit(0);
	}
	close(p[1]);
	ok(read(p[0], &uid, sizeof(uid)) == (ssize_t)sizeof(uid) && uid > 0,
	    "%s: the child committed its intent", how);
	close(p[0]);
	if (waitpid(pid, &status, 0) == -1)
		bail_out("waitpid");
	ok(kill9 ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL :
	    WIFEXITED(status), "%s: the child died that way", how);
	wal = xasprintf("%s/%s-wal", dir, LEDGER_FILE);
	ok(access(wal, F_OK) == 0, "%s: it left its WAL (no clean close)",
	    how);
	free(wal);

	gr_err_clear(&e);
	ok_err(ledger_open(dir, false, &l, &e) == 0, &e,
	    "%s: the ledger reopens", how);
	if (l == NULL)
		bail_out("no ledger");
	memset(&got, 0, sizeof(got));
	ok_err(ledger_get(l, uid, &got, &e) == 0, &e, "%s: the row is there",
	    how);
	want = owner_label(ledger_id(l), uid);
	ok(got.state == INST_IDLE && got.slot == (kill9 ? 8 : 7) &&
	    got.label != NULL && strcmp(got.label, want) == 0,
	    "%s: IDLE, in its slot, with its label", how);
	free(want);
	ledger_inst_release(&got);
	ok_err(ledger_check(l, &e) == 0, &e, "%s: ledger_check passes", how);
	ledger_close(l);
}

static void
test_check(const char *dir, struct ledger *l)
{
	struct gr_err	 e;

	gr_err_clear(&e);
	ok_err(ledger_check(l, &e) == 0, &e, "check: a sound ledger passes");

	db_exec_at(dir, "UPDATE instances SET label = 'gr-0123456789abcdef-1' "
	    "WHERE uid = 1");
	gr_err_clear(&e);
	ok(ledger_check(l, &e) == -1 && e.code == GR_E_LEDGER,
	    "check: a foreign label is caught");
	like(e.msg, "uid 1 ", "check: names the row");
	like(e.msg, "gr-0123456789abcdef-1", "check: shows the bad label");
	db_exec_at(dir, "UPDATE instances SET label = NULL WHERE uid = 1");
	gr_err_clear(&e);
	ok(ledger_check(l, &e) == -1 && e.code == GR_E_LEDGER,
	    "check: a missing label is caught");
	{
		char	*fix, *lab = owner_label(ledger_id(l), 1);

		fix = xasprintf("UPDATE instances SET label = '%s' WHERE "
		    "uid = 1", lab);
		db_exec_at(dir, fix);
		free(fix);
		free(lab);
	}
	gr_err_clear(&e);
	ok_err(ledger_check(l, &e) == 0, &e, "check: passes once repaired");

	db_exec_at(dir, "UPDATE instances SET state = 'TERMINATED', "
	    "billing_start_ms = 2000, billing_end_ms = 1000 WHERE uid = 1");
	gr_err_clear(&e);
	ok(ledger_check(l, &e) == -1 && e.code == GR_E_LEDGER,
	    "check: billing that ends before it starts is caught");
	like(e.msg, "uid 1 ", "check: billing names the row");
	db_exec_at(dir, "UPDATE instances SET billing_end_ms = 0 WHERE "
	    "uid = 1");
	gr_err_clear(&e);
	ok_err(ledger_check(l, &e) == 0, &e, "check: an unknown billing end "
	    "is fine");

	/* The sqlite3 shell has foreign keys off by default. */
	db_exec_at(dir, "INSERT INTO events (uid, at_ms, from_state, "
	    "to_state, kind) VALUES (4242, 1, 'IDLE', 'IDLE', 'forged')");
	gr_err_clear(&e);
	ok(ledger_check(l, &e) == -1 && e.code == GR_E_LEDGER,
	    "check: an event without a row is caught");
	like(e.msg, "4242", "check: names the uid of the stray event");
	db_exec_at(dir, "DELETE FROM events WHERE uid = 4242");
	gr_err_clear(&e);
	ok_err(ledger_check(l, &e) == 0, &e, "check: passes again");
}

int
main(void)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	char		*dir;
	int64_t		 uid = 0;

	plan_lazy();
	clock_use_virtual(T0);
	dir = xasprintf("%s/state", test_tmpdir());
	gr_err_clear(&e);
	if (ledger_open(dir, true, &l, &e) == -1)
		bail_out("ledger_open: %s", e.msg);
	test_intent(l, &uid);
	test_update(l, uid);
	test_rollback(l, uid);
	test_list(l);
	ledger_close(l);
	l = NULL;

	test_crash(dir, false);
	test_crash(dir, true);

	if (ledger_open(dir, true, &l, &e) == -1)
		bail_out("ledger_open: %s", e.msg);
	test_check(dir, l);
	ledger_close(l);
	free(dir);
	return done_testing();
}
