/*
 * 2001: the ledger file: created in WAL mode at the current schema
 * version with a ledger id that never changes; a newer schema is
 * refused, an older (empty) one migrated only by a writer; a missing
 * ledger is NOT_FOUND for readers.  The file is inspected through a
 * second sqlite3 connection, as any other process would see it.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../state/state.h"
#include "tap.h"
#include "testlib.h"

/* ok(), and the error when it fails. */
#define ok_err(c, e, ...)	do {					\
	if (!ok((c), __VA_ARGS__))					\
		diag("error: %s (hint: %s)", (e)->msg, (e)->hint);	\
} while (0)

static sqlite3 *
db_open(const char *dir)
{
	sqlite3	*db;
	char	*path = xasprintf("%s/%s", dir, LEDGER_FILE);

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		bail_out("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
	free(path);
	return db;
}

static void
db_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bail_out("%s: %s", sql, sqlite3_errmsg(db));
}

/* First column of the first row as an integer (-1 when no row). */
static long long
db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*st;
	long long	 v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		bail_out("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* First column of the first row; owned by caller; NULL when no row. */
static char *
db_str(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*st;
	char		*v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		bail_out("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static bool
is_hex16(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return false;
	return i == 16;
}

static bool
exists(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == 0;
}

static void
test_create(const char *top)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	struct stat	 sb;
	sqlite3		*db;
	char		*dir, *id, *s;

	dir = xasprintf("%s/new/state", top);
	gr_err_clear(&e);
	ok_err(ledger_open(dir, true, &l, &e) == 0, &e, "create: ledger_open "
	    "makes the ledger");
	if (l == NULL)
		bail_out("no ledger");
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700,
	    "create: the state directory is made 0700");
	is_int(ledger_schema_version(l), LEDGER_SCHEMA_VERSION,
	    "create: ledger_schema_version is current");
	ok(is_hex16(ledger_id(l)), "create: ledger id is 16 hex digits (%s)",
	    ledger_id(l));
	id = xstrdup(ledger_id(l));
	ok_err(ledger_check(l, &e) == 0, &e, "create: a new ledger passes "
	    "ledger_check, which verifies synchronous=FULL, foreign keys "
	    "and WAL on its own connection");

	db = db_open(dir);
	is_int(db_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION,
	    "create: user_version is the current schema version");
	s = db_str(db, "PRAGMA journal_mode");
	is_str(s, "wal", "create: journal_mode is WAL in the file");
	free(s);
	/* synchronous is per connection; ledger_check checks ours. */
	db_exec(db, "PRAGMA synchronous = FULL");
	is_int(db_int(db, "PRAGMA synchronous"), 2,
	    "create: synchronous FULL reads back as 2");
	s = db_str(db, "SELECT ledger_id FROM meta");
	is_str(s, id, "create: meta holds the ledger id");
	free(s);
	ok(db_int(db, "SELECT created_at FROM meta") > 1600000000000LL,
	    "create: meta holds created_at in ms");
	is_int(db_int(db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'table' AND name IN ('meta', 'instances', 'events')"), 3,
	    "create: meta, instances and events exist");
	is_int(db_int(db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'index' AND name IN ('instances_provider_id', 'instances_slot', "
	    "'instances_live', 'events_uid')"), 4,
	    "create: the indexes list and find use exist");
	ok(db_int(db, "SELECT count(*) FROM meta") == 1,
	    "create: meta has one row");
	sqlite3_close(db);

	ledger_close(l);
	l = NULL;
	ok_err(ledger_open(dir, false, &l, &e) == 0, &e, "reopen: read-only "
	    "open works");
	if (l != NULL)
		is_str(ledger_id(l), id, "reopen: ledger id survives");
	else
		ok(false, "reopen: ledger id survives");
	ledger_close(l);
	l = NULL;
	ok_err(ledger_open(dir, true, &l, &e) == 0, &e, "reopen: create=true "
	    "on an existing ledger works");
	if (l != NULL)
		is_str(ledger_id(l), id, "reopen: create=true keeps the id");
	else
		ok(false, "reopen: create=true keeps the id");
	ledger_close(l);

	db = db_open(dir);
	ok(db_int(db, "SELECT count(*) FROM meta") == 1,
	    "reopen: meta still has one row");
	sqlite3_close(db);
	free(id);
	free(dir);
}

static void
test_newer(const char *top)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	sqlite3		*db;
	char		*dir;

	dir = xasprintf("%s/newer", top);
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir %s", dir);
	db = db_open(dir);
	db_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99");
	sqlite3_close(db);

	gr_err_clear(&e);
	ok(ledger_open(dir, true, &l, &e) == -1 && l == NULL,
	    "newer: user_version 99 is refused");
	is_str(gr_code_name(e.code), "LEDGER", "newer: the code is LEDGER");
	like(e.msg, "schema version 99 is newer", "newer: says why");
	like(e.hint, "upgrade gpureconcile", "newer: hints to upgrade");
	gr_err_clear(&e);
	ok(ledger_open(dir, false, &l, &e) == -1 && e.code == GR_E_LEDGER,
	    "newer: refused read-only as well");

	db = db_open(dir);
	is_int(db_int(db, "PRAGMA user_version"), 99,
	    "newer: the file was left alone");
	sqlite3_close(db);
	free(dir);
}

static void
test_v0(const char *top, bool zero_bytes)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	sqlite3		*db;
	char		*dir, *path;
	const char	*what = zero_bytes ? "v0 (empty file)" : "v0";

	dir = xasprintf("%s/%s", top, zero_bytes ? "v0-empty" : "v0");
	if (zero_bytes) {
		path = test_write(dir, LEDGER_FILE, "");
		free(path);
	} else {
		if (mkdir_p(dir, 0700) == -1)
			bail_out("mkdir %s", dir);
		db = db_open(dir);
		db_exec(db, "CREATE TABLE t (x); DROP TABLE t");
		sqlite3_close(db);
	}

	gr_err_clear(&e);
	ok(ledger_open(dir, false, &l, &e) == -1 && e.code == GR_E_LEDGER,
	    "%s: a reader does not migrate", what);
	like(e.msg, "older", "%s: says the schema is older", what);
	like(e.hint, "mutating command", "%s: hints to run a writer", what);
	db = db_open(dir);
	is_int(db_int(db, "SELECT count(*) FROM sqlite_master"), 0,
	    "%s: the reader wrote no schema", what);
	{
		char	*mode = db_str(db, "PRAGMA journal_mode");

		is_str(mode, "delete", "%s: the reader left the journal mode "
		    "alone", what);
		free(mode);
	}
	sqlite3_close(db);

	gr_err_clear(&e);
	ok_err(ledger_open(dir, true, &l, &e) == 0, &e, "%s: a writer "
	    "migrates it", what);
	if (l != NULL) {
		is_int(ledger_schema_version(l), LEDGER_SCHEMA_VERSION,
		    "%s: now the current version", what);
		ok(is_hex16(ledger_id(l)), "%s: and has a ledger id", what);
		ok_err(ledger_check(l, &e) == 0, &e, "%s: migrated ledger "
		    "passes ledger_check", what);
	} else {
		skip(3, "no ledger");
	}
	ledger_close(l);
	db = db_open(dir);
	is_int(db_int(db, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION,
	    "%s: the current user_version in the file", what);
	sqlite3_close(db);
	free(dir);
}

static void
test_missing(const char *top)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	char		*dir, *path;

	dir = xasprintf("%s/missing/state", top);
	gr_err_clear(&e);
	ok(ledger_open(dir, false, &l, &e) == -1 && l == NULL,
	    "missing: read-only open of a missing dir fails");
	is_str(gr_code_name(e.code), "NOT_FOUND", "missing: NOT_FOUND");
	like(e.msg, "does not exist", "missing: says it does not exist");
	like(e.msg, dir, "missing: names the path");
	ok(e.hint[0] != '\0', "missing: has a hint");
	ok(!exists(dir), "missing: the directory was not created");

	/* The directory exists but holds no ledger. */
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir %s", dir);
	gr_err_clear(&e);
	ok(ledger_open(dir, false, &l, &e) == -1 &&
	    e.code == GR_E_NOT_FOUND, "missing: empty dir is NOT_FOUND too");
	path = xasprintf("%s/%s", dir, LEDGER_FILE);
	ok(!exists(path), "missing: no file was created");
	free(path);
	free(dir);
}

static void
test_bad_files(const char *top)
{
	struct ledger	*l = NULL;
	struct gr_err	 e;
	char		*dir, *path;

	/* Not a database at all. */
	dir = xasprintf("%s/garbage", top);
	path = test_write(dir, LEDGER_FILE, "this is not an SQLite file, "
	    "it is some notes somebody kept in the wrong place\n");
	gr_err_clear(&e);
	ok(ledger_open(dir, true, &l, &e) == -1 && e.code == GR_E_LEDGER,
	    "garbage: a non-database file is refused");
	like(e.msg, "not a database", "garbage: SQLite's reason is kept");
	like(e.msg, path, "garbage: the message names the file");
	like(e.hint, "restore", "garbage: hints to restore it");
	free(path);
	free(dir);

	/* A v0 database with a table in the way: the migration fails. */
	dir = xasprintf("%s/clash", top);
	if (mkdir_p(dir, 0700) == -1)
		bail_out("mkdir %s", dir);
	{
		sqlite3	*db = db_open(dir);

		db_exec(db, "CREATE TABLE events (whatever)");
		sqlite3_close(db);
	}
	gr_err_clear(&e);
	ok(ledger_open(dir, true, &l, &e) == -1 && e.code == GR_E_LEDGER,
	    "clash: a failing migration fails the open");
	like(e.msg, "migrate schema to version 1", "clash: says which step");
	{
		sqlite3	*db = db_open(dir);

		is_int(db_int(db, "PRAGMA user_version"), 0,
		    "clash: the failed step was rolled back (version)");
		is_int(db_int(db, "SELECT count(*) FROM sqlite_master WHERE "
		    "name = 'meta'"), 0,
		    "clash: the failed step was rolled back (tables)");
		sqlite3_close(db);
	}
	free(dir);

	/* The directory cannot be made: a file is in the way. */
	path = test_write(top, "afile", "x\n");
	dir = xasprintf("%s/sub", path);
	gr_err_clear(&e);
	ok(ledger_open(dir, true, &l, &e) == -1 && e.code == GR_E_IO,
	    "mkdir: a directory that cannot be made is an IO error");
	like(e.msg, "cannot create the directory", "mkdir: says so");
	free(dir);
	free(path);
}

/*
 * A version-1 ledger (no end_reason, no audit columns) keeps its rows and
 * events through versions 2 and 3.
 */
static void
test_v1(const char *top)
{
	struct ledger		*l = NULL;
	struct ledger_inst	 r, got;
	struct gr_err		 e;
	sqlite3			*db;
	char			*dir = xasprintf("%s/v1", top);

	gr_err_clear(&e);
	if (ledger_open(dir, true, &l, &e) == -1)
		bail_out("v1: open: %s", e.msg);
	memset(&r, 0, sizeof(r));
	r.kind = LEDGER_KIND_ADHOC;
	r.group = xstrdup("old");
	r.provider = xstrdup("fake");
	ok_err(ledger_intent_spawn(l, &r, &e) == 0, &e, "v1: a row to keep");
	ledger_close(l);
	l = NULL;
	db = db_open(dir);
	ok(sqlite3_exec(db, "ALTER TABLE instances DROP COLUMN end_reason;"
	    "ALTER TABLE instances DROP COLUMN git_commit;"
	    "ALTER TABLE instances DROP COLUMN ssh_hostkey;"
	    "ALTER TABLE events DROP COLUMN spec_file;"
	    "ALTER TABLE events DROP COLUMN spec_hash;"
	    "ALTER TABLE events DROP COLUMN git_commit;"
	    "PRAGMA user_version = 1", NULL, NULL, NULL) == SQLITE_OK,
	    "v1: made a version-1 ledger by hand");
	sqlite3_close(db);
	ok(ledger_open(dir, false, &l, &e) == -1 && l == NULL,
	    "v1: a reader refuses the older ledger rather than migrate it");
	like(e.hint, "apply", "v1: the hint says a mutating command migrates");
	gr_err_clear(&e);
	ok_err(ledger_open(dir, true, &l, &e) == 0, &e, "v1: a writer "
	    "migrates it to the current version");
	if (l != NULL) {
		struct ledger_event	*ev = NULL;
		size_t			 nev = 0;

		memset(&got, 0, sizeof(got));
		is_int(ledger_schema_version(l), LEDGER_SCHEMA_VERSION,
		    "v1: now the current version");
		ok_err(ledger_get(l, r.uid, &got, &e) == 0, &e,
		    "v1: the old row survived");
		is_str(got.label, r.label, "v1: with its label");
		ok(got.end_reason == NULL, "v1: end_reason is NULL on old rows");
		free(got.end_reason);
		got.end_reason = xstrdup("ttl");
		got.state = INST_TERMINATED;
		ok_err(ledger_update(l, &got, "expired", NULL, &e) == 0, &e,
		    "v1: end_reason can be written after the migration");
		ledger_inst_release(&got);
		memset(&got, 0, sizeof(got));
		ledger_get(l, r.uid, &got, &e);
		is_str(got.end_reason, "ttl", "v1: and reads back");
		ok(got.git_commit == NULL && got.ssh_hostkey == NULL,
		    "v1: the v3 columns are NULL on old rows");
		ledger_inst_release(&got);
		ok_err(ledger_events(l, r.uid, &ev, &nev, &e) == 0, &e,
		    "v1: events read after the migration");
		is_int(nev, 2, "v1: the old event and the new one");
		if (nev == 2) {
			ok(ev[0].spec_file == NULL && ev[0].git_commit ==
			    NULL, "v1: the old event has no audit fields "
			    "(nothing made up)");
			is_str(ev[1].kind, "expired", "v1: the new event");
		}
		ledger_events_free(ev, nev);
	} else
		skip(7, "no ledger");
	ledger_close(l);
	ledger_inst_release(&r);
	free(dir);
}

int
main(void)
{
	const char	*top = test_tmpdir();

	plan_lazy();
	test_create(top);
	test_newer(top);
	test_v0(top, false);
	test_v0(top, true);
	test_missing(top);
	test_bad_files(top);
	test_v1(top);
	is_str(ledger_kind_name(LEDGER_KIND_FLEET), "fleet", "kind name fleet");
	is_str(ledger_kind_name(LEDGER_KIND_ADHOC), "adhoc", "kind name adhoc");
	{
		enum ledger_kind	 k = LEDGER_KIND_FLEET;

		ok(ledger_kind_parse("adhoc", &k) && k == LEDGER_KIND_ADHOC,
		    "kind parse adhoc");
		ok(!ledger_kind_parse("Fleet", &k), "kind parse is exact");
	}
	return done_testing();
}
