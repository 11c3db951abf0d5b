/*
 * ledger.c: the ledger (DESIGN.md section 6): one SQLite file per state
 * directory that records every instance we asked a provider for, and
 * every transition each one went through, so that a crash at any point
 * leaves enough behind to find (by owner label) and pay for nothing we
 * forgot.
 *
 * The file is in WAL mode with synchronous=FULL: a committed intent
 * survives a power cut, and readers (status, reports) never block the one
 * writer.  The schema version lives in PRAGMA user_version and moves
 * forward through the migrations table below, one transaction a step.
 *
 * One struct ledger is shared by the executor's threads: the connection
 * is opened SQLITE_OPEN_FULLMUTEX, and l->mu is held across each whole
 * public call, so that one thread's transaction never sees (or ends)
 * another's, and sqlite3_errmsg() still belongs to the call that failed.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "state.h"

#define LEDGER_BUSY_MS	5000	/* wait this long for another writer */
#define LEDGER_ID_LEN	16	/* hex digits: random_hex(8) */

struct ledger {
	sqlite3		*db;		/* owned */
	char		*path;		/* owned: state_dir/LEDGER_FILE */
	char		 id[LEDGER_ID_LEN + 1];
	int		 version;	/* user_version once open */
	pthread_mutex_t	 mu;		/* held across each public call */
	struct ledger_audit *audit;	/* owned; see ledger_set_audit */
	size_t		 naudit;
};

/* A forward migration: run sql, then fn, in one transaction. */
struct migration {
	int		 version;	/* user_version after this step */
	const char	*sql;
	int		(*fn)(struct ledger *, struct gr_err *);
};

static int	 meta_init(struct ledger *, struct gr_err *);

/*
 * Version 1: everything.  Money is INTEGER micro-dollars, times INTEGER
 * ms since the epoch (0: not yet), states and kinds their names, so the
 * file reads well in the sqlite3 shell.  uid is AUTOINCREMENT so that a
 * uid (and so an owner label) is never handed out twice, even if rows
 * were ever deleted.
 */
static const char schema_v1[] =
	"CREATE TABLE meta ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  ledger_id TEXT NOT NULL CHECK (length(ledger_id) = 16),"
	"  created_at INTEGER NOT NULL"		/* ms */
	");"
	"CREATE TABLE instances ("
	"  uid INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  label TEXT UNIQUE,"
	"  kind TEXT NOT NULL CHECK (kind IN ('fleet', 'adhoc')),"
	"  fleet TEXT,"
	"  group_name TEXT NOT NULL,"
	"  slot INTEGER NOT NULL DEFAULT 0,"
	"  provider TEXT NOT NULL,"
	"  provider_id TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('IDLE', 'PENDING',"
	"    'RUNNING', 'STOPPING', 'STOPPED', 'TERMINATED')),"
	"  spec_hash TEXT,"
	"  spec_file TEXT,"
	"  gpu TEXT,"
	"  gpu_count INTEGER NOT NULL DEFAULT 0,"
	"  max_price INTEGER NOT NULL DEFAULT 0,"
	"  price INTEGER NOT NULL DEFAULT 0,"
	"  region TEXT,"
	"  ssh_host TEXT,"
	"  ssh_port INTEGER NOT NULL DEFAULT 0,"
	"  ssh_user TEXT,"
	"  bootstrap_sha256 TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL,"
	"  billing_start_ms INTEGER NOT NULL DEFAULT 0,"
	"  billing_end_ms INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  CHECK (kind = 'adhoc' OR fleet IS NOT NULL)"
	");"
	"CREATE UNIQUE INDEX instances_provider_id"
	"  ON instances (provider, provider_id)"
	"  WHERE provider_id IS NOT NULL;"
	"CREATE INDEX instances_slot"
	"  ON instances (fleet, group_name, slot, uid);"
	"CREATE INDEX instances_live"
	"  ON instances (fleet, group_name, slot, uid)"
	"  WHERE state <> 'TERMINATED';"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  uid INTEGER NOT NULL REFERENCES instances (uid),"
	"  at_ms INTEGER NOT NULL,"
	"  from_state TEXT NOT NULL,"
	"  to_state TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT"
	");"
	"CREATE INDEX events_uid ON events (uid, id);";

/*
 * Version 2: why an instance ended ("ttl", "vanished", "terminated", ...),
 * so that a slot whose instance reached its ttl is not refilled.
 */
static const char schema_v2[] =
	"ALTER TABLE instances ADD COLUMN end_reason TEXT;";

/*
 * Version 3: the audit trail.  A row records the git commit its spec was
 * read from and the SHA-256 fingerprint of its SSH host key once first
 * seen; every event records the spec file, the group's spec hash and the
 * commit at the moment it was written, so that a report can say which
 * commit asked for an instance and what it cost.  Events of older
 * ledgers keep NULL there: what was not recorded is not made up.
 */
static const char schema_v3[] =
	"ALTER TABLE instances ADD COLUMN git_commit TEXT;"
	"ALTER TABLE instances ADD COLUMN ssh_hostkey TEXT;"
	"ALTER TABLE events ADD COLUMN spec_file TEXT;"
	"ALTER TABLE events ADD COLUMN spec_hash TEXT;"
	"ALTER TABLE events ADD COLUMN git_commit TEXT;";

/* In order; entry i takes user_version i to i + 1. */
static const struct migration migrations[] = {
	{ 1, schema_v1, meta_init },
	{ 2, schema_v2, NULL },
	{ 3, schema_v3, NULL },
};
_Static_assert(nitems(migrations) == LEDGER_SCHEMA_VERSION,
    "one migration per schema version");

/*
 * The columns of struct ledger_inst, in the order of enum inst_col: keep
 * the two together.
 */
#define INST_COLS \
	"uid, label, kind, fleet, group_name, slot, provider, provider_id, " \
	"state, spec_hash, spec_file, gpu, gpu_count, max_price, price, " \
	"region, ssh_host, ssh_port, ssh_user, bootstrap_sha256, created_ms, " \
	"updated_ms, billing_start_ms, billing_end_ms, last_error, end_reason, " \
	"git_commit, ssh_hostkey"
enum inst_col {
	C_UID, C_LABEL, C_KIND, C_FLEET, C_GROUP, C_SLOT, C_PROVIDER,
	C_PROVIDER_ID, C_STATE, C_SPEC_HASH, C_SPEC_FILE, C_GPU, C_GPU_COUNT,
	C_MAX_PRICE, C_PRICE, C_REGION, C_SSH_HOST, C_SSH_PORT, C_SSH_USER,
	C_BOOTSTRAP, C_CREATED, C_UPDATED, C_BILL_START, C_BILL_END,
	C_LAST_ERROR, C_END_REASON, C_GIT_COMMIT, C_SSH_HOSTKEY,
};

/* The columns event_read reads, in its order. */
#define EVENT_COLS \
	"id, uid, at_ms, from_state, to_state, kind, detail, spec_file, " \
	"spec_hash, git_commit"

/* Every column a write may set, as named parameters (see bind_inst). */
#define INST_SETS \
	"kind = :kind, fleet = :fleet, group_name = :group, slot = :slot, " \
	"provider = :provider, provider_id = :provider_id, state = :state, " \
	"spec_hash = :spec_hash, spec_file = :spec_file, gpu = :gpu, " \
	"gpu_count = :gpu_count, max_price = :max_price, price = :price, " \
	"region = :region, ssh_host = :ssh_host, ssh_port = :ssh_port, " \
	"ssh_user = :ssh_user, bootstrap_sha256 = :bootstrap_sha256, " \
	"updated_ms = :updated_ms, billing_start_ms = :billing_start_ms, " \
	"billing_end_ms = :billing_end_ms, last_error = :last_error, " \
	"end_reason = :end_reason, git_commit = :git_commit, " \
	"ssh_hostkey = :ssh_hostkey"

/*
 * Errors.  Every SQLite failure becomes one GR_E_LEDGER line naming the
 * file, what we were doing and what SQLite said, with a hint where the
 * user can act.  Call it before any ROLLBACK, which resets errmsg.
 */
static int
db_fail(struct ledger *l, const char *what, struct gr_err *e)
{
	int	 code = sqlite3_errcode(l->db) & 0xff;

	gr_err_set(e, GR_E_LEDGER, "ledger '%s': %s: %s", l->path, what,
	    sqlite3_errmsg(l->db));
	switch (code) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		gr_err_hint(e, "another process kept the ledger busy for "
		    "over %d s; try again when it is done", LEDGER_BUSY_MS /
		    1000);
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		gr_err_hint(e, "the file is damaged or is not a gpureconcile "
		    "ledger; restore it from a backup");
		break;
	case SQLITE_FULL:
		gr_err_hint(e, "the disk is full; free some space");
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		gr_err_hint(e, "check that the state directory and the files "
		    "in it are writable by this user");
		break;
	default:
		break;
	}
	return -1;
}

static int
db_exec(struct ledger *l, const char *sql, const char *what,
    struct gr_err *e)
{
	if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(l, what, e);
	return 0;
}

static int
db_prepare(struct ledger *l, const char *sql, sqlite3_stmt **st,
    const char *what, struct gr_err *e)
{
	if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return db_fail(l, what, e);
	}
	return 0;
}

/* Transactions: every write is BEGIN IMMEDIATE ... COMMIT. */
static int
tx_begin(struct ledger *l, struct gr_err *e)
{
	return db_exec(l, "BEGIN IMMEDIATE", "begin transaction", e);
}

static void
tx_rollback(struct ledger *l)
{
	/* Some errors (BUSY, FULL, IOERR) have already rolled back. */
	if (sqlite3_get_autocommit(l->db) != 0)
		return;
	if (sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		log_warnx("ledger '%s': rollback: %s", l->path,
		    sqlite3_errmsg(l->db));
}

static int
tx_commit(struct ledger *l, struct gr_err *e)
{
	if (db_exec(l, "COMMIT", "commit", e) == -1) {
		tx_rollback(l);
		return -1;
	}
	return 0;
}

/* Binding by name; a name the statement lacks is our bug. */
static int
param(sqlite3_stmt *st, const char *name)
{
	int	 i = sqlite3_bind_parameter_index(st, name);

	if (i == 0)
		BUG("ledger: no parameter %s in '%s'", name, sqlite3_sql(st));
	return i;
}

static int
bind_str(sqlite3_stmt *st, const char *name, const char *v)
{
	int	 i = param(st, name);

	if (v == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static int
bind_i64(sqlite3_stmt *st, const char *name, int64_t v)
{
	return sqlite3_bind_int64(st, param(st, name), v);
}

/* Bind every column of INST_SETS from inst; state comes separately. */
static int
bind_inst(sqlite3_stmt *st, const struct ledger_inst *in,
    enum inst_state state, int64_t updated_ms)
{
	int	 rc = SQLITE_OK;

#define B(x)	do { if (rc == SQLITE_OK) rc = (x); } while (0)
	B(bind_str(st, ":kind", ledger_kind_name(in->kind)));
	B(bind_str(st, ":fleet", in->fleet));
	B(bind_str(st, ":group", in->group));
	B(bind_i64(st, ":slot", in->slot));
	B(bind_str(st, ":provider", in->provider));
	B(bind_str(st, ":provider_id", in->provider_id));
	B(bind_str(st, ":state", inst_state_name(state)));
	B(bind_str(st, ":spec_hash", in->spec_hash));
	B(bind_str(st, ":spec_file", in->spec_file));
	B(bind_str(st, ":gpu", in->gpu));
	B(bind_i64(st, ":gpu_count", in->gpu_count));
	B(bind_i64(st, ":max_price", in->max_price));
	B(bind_i64(st, ":price", in->price));
	B(bind_str(st, ":region", in->region));
	B(bind_str(st, ":ssh_host", in->ssh_host));
	B(bind_i64(st, ":ssh_port", in->ssh_port));
	B(bind_str(st, ":ssh_user", in->ssh_user));
	B(bind_str(st, ":bootstrap_sha256", in->bootstrap_sha256));
	B(bind_i64(st, ":updated_ms", updated_ms));
	B(bind_i64(st, ":billing_start_ms", in->billing_start_ms));
	B(bind_i64(st, ":billing_end_ms", in->billing_end_ms));
	B(bind_str(st, ":last_error", in->last_error));
	B(bind_str(st, ":end_reason", in->end_reason));
	B(bind_str(st, ":git_commit", in->git_commit));
	B(bind_str(st, ":ssh_hostkey", in->ssh_hostkey));
#undef B
	return rc;
}

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char	*s;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	s = sqlite3_column_text(st, i);
	return s == NULL ? NULL : xstrdup((const char *)s);
}

static const char *
col_cstr(sqlite3_stmt *st, int i)
{
	const unsigned char	*s = sqlite3_column_text(st, i);

	return s == NULL ? "" : (const char *)s;
}

/* One row of INST_COLS into *in (overwritten). */
static int
row_read(struct ledger *l, sqlite3_stmt *st, struct ledger_inst *in,
    struct gr_err *e)
{
	memset(in, 0, sizeof(*in));
	in->uid = sqlite3_column_int64(st, C_UID);
	if (!ledger_kind_parse(col_cstr(st, C_KIND), &in->kind)) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': instance uid %lld "
		    "has unknown kind '%s'", l->path, (long long)in->uid,
		    col_cstr(st, C_KIND));
		return -1;
	}
	if (!inst_state_parse(col_cstr(st, C_STATE), &in->state)) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': instance uid %lld "
		    "has unknown state '%s'", l->path, (long long)in->uid,
		    col_cstr(st, C_STATE));
		return -1;
	}
	in->label = col_str(st, C_LABEL);
	in->fleet = col_str(st, C_FLEET);
	in->group = col_str(st, C_GROUP);
	in->slot = sqlite3_column_int(st, C_SLOT);
	in->provider = col_str(st, C_PROVIDER);
	in->provider_id = col_str(st, C_PROVIDER_ID);
	in->spec_hash = col_str(st, C_SPEC_HASH);
	in->spec_file = col_str(st, C_SPEC_FILE);
	in->gpu = col_str(st, C_GPU);
	in->gpu_count = sqlite3_column_int(st, C_GPU_COUNT);
	in->max_price = sqlite3_column_int64(st, C_MAX_PRICE);
	in->price = sqlite3_column_int64(st, C_PRICE);
	in->region = col_str(st, C_REGION);
	in->ssh_host = col_str(st, C_SSH_HOST);
	in->ssh_port = sqlite3_column_int(st, C_SSH_PORT);
	in->ssh_user = col_str(st, C_SSH_USER);
	in->bootstrap_sha256 = col_str(st, C_BOOTSTRAP);
	in->created_ms = sqlite3_column_int64(st, C_CREATED);
	in->updated_ms = sqlite3_column_int64(st, C_UPDATED);
	in->billing_start_ms = sqlite3_column_int64(st, C_BILL_START);
	in->billing_end_ms = sqlite3_column_int64(st, C_BILL_END);
	in->last_error = col_str(st, C_LAST_ERROR);
	in->end_reason = col_str(st, C_END_REASON);
	in->git_commit = col_str(st, C_GIT_COMMIT);
	in->ssh_hostkey = col_str(st, C_SSH_HOSTKEY);
	return 0;
}

static const char *audit_lookup(const struct ledger *, const char *);

/*
 * The commit an event records: the one this process read the row's spec
 * file from, when it read one that covers it (ledger_set_audit); else the
 * commit the row was made from.
 */
static const char *
event_commit(const struct ledger *l, const struct ledger_inst *row)
{
	const char	*c;

	if (l->naudit > 0 && (c = audit_lookup(l, row->spec_file)) != NULL)
		return c;
	return row->git_commit;
}

/*
 * Append one event; the caller holds a write transaction.  The audit
 * fields (spec file, spec hash, commit) are the row's as it is written,
 * the commit as event_commit says.
 */
static int
event_add(struct ledger *l, int64_t uid, int64_t at_ms, enum inst_state from,
    enum inst_state to, const char *kind, const char *detail,
    const struct ledger_inst *row, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "INSERT INTO events (uid, at_ms, from_state, "
	    "to_state, kind, detail, spec_file, spec_hash, git_commit) "
	    "VALUES (:uid, :at, :from, :to, :kind, :detail, :spec_file, "
	    ":spec_hash, :git_commit)", &st, "record event", e) == -1)
		return -1;
	rc = bind_i64(st, ":uid", uid);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":at", at_ms);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":from", inst_state_name(from));
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":to", inst_state_name(to));
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":kind", kind != NULL ? kind : "update");
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":detail", detail);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":spec_file", row->spec_file);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":spec_hash", row->spec_hash);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":git_commit", event_commit(l, row));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "record event", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * The audit table: which commit each spec path was read from in this
 * process.  The longest path that is the spec file itself or one of its
 * parent directories wins.
 */
static const char *
audit_lookup(const struct ledger *l, const char *file)
{
	const struct ledger_audit	*best = NULL;
	size_t				 i, n, bestn = 0;

	if (file == NULL)
		return NULL;
	for (i = 0; i < l->naudit; i++) {
		n = strlen(l->audit[i].path);
		if (strncmp(file, l->audit[i].path, n) != 0 ||
		    (file[n] != '\0' && file[n] != '/' &&
		    (n == 0 || l->audit[i].path[n - 1] != '/')))
			continue;
		if (best == NULL || n > bestn) {
			best = &l->audit[i];
			bestn = n;
		}
	}
	return best != NULL ? best->commit : NULL;
}

static void
audit_free(struct ledger *l)
{
	size_t	 i;

	for (i = 0; i < l->naudit; i++) {
		free((char *)l->audit[i].path);
		free((char *)l->audit[i].commit);
	}
	free(l->audit);
	l->audit = NULL;
	l->naudit = 0;
}


/*
 * Opening, the schema and migrations.
 */

static int
pragma_int(struct ledger *l, const char *sql, const char *what, int *out,
    struct gr_err *e)
{
	sqlite3_stmt	*st;

	if (db_prepare(l, sql, &st, what, e) == -1)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(l, what, e);
		goto finalize;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/* Per-connection settings; WAL also sticks to the file. */
static int
db_setup(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	const char	*mode;

	if (db_prepare(l, "PRAGMA journal_mode = WAL", &st, "set up", e) ==
	    -1)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(l, "set up", e);
		goto finalize;
	}
	mode = col_cstr(st, 0);
	if (strcmp(mode, "wal") != 0) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': cannot use WAL "
		    "journaling (journal mode is '%s')", l->path, mode);
		gr_err_hint(e, "keep the state directory on a local file "
		    "system");
		goto finalize;
	}
	sqlite3_finalize(st);
	if (db_exec(l, "PRAGMA synchronous = FULL", "set up", e) == -1)
		return -1;
	if (db_exec(l, "PRAGMA foreign_keys = ON", "set up", e) == -1)
		return -1;
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/* Migration 1's second half: the ledger id, made once, kept forever. */
static int
meta_init(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	char		 id[LEDGER_ID_LEN + 1];
	int		 rc;

	random_hex(id, LEDGER_ID_LEN / 2);
	if (db_prepare(l, "INSERT INTO meta (one, ledger_id, created_at) "
	    "VALUES (1, :id, :at)", &st, "create ledger id", e) == -1)
		return -1;
	rc = bind_str(st, ":id", id);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":at", clock_now_ms());
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "create ledger id", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * Apply every step above the file's version, one transaction each.  The
 * version is read again inside each transaction: another process may
 * have migrated the file while we waited for it.
 */
static int
migrate(struct ledger *l, struct gr_err *e)
{
	const struct migration	*m;
	struct buf		 sql = BUF_INIT, what = BUF_INIT;
	int			 v;
	size_t			 i;

	for (i = 0; i < nitems(migrations); i++) {
		m = &migrations[i];
		if (tx_begin(l, e) == -1)
			return -1;
		if (pragma_int(l, "PRAGMA user_version",
		    "read schema version", &v, e) == -1)
			goto rollback;
		if (v >= m->version) {
			if (tx_commit(l, e) == -1)
				return -1;
			continue;
		}
		buf_reset(&what);
		buf_addf(&what, "migrate schema to version %d", m->version);
		if (db_exec(l, m->sql, buf_str(&what), e) == -1)
			goto rollback;
		if (m->fn != NULL && m->fn(l, e) == -1)
			goto rollback;
		buf_reset(&sql);
		buf_addf(&sql, "PRAGMA user_version = %d", m->version);
		if (db_exec(l, buf_str(&sql), buf_str(&what), e) == -1)
			goto rollback;
		if (tx_commit(l, e) == -1)
			goto release_sql;
		log_debug("ledger '%s': schema migrated to version %d",
		    l->path, m->version);
	}
	buf_release(&what);
	buf_release(&sql);
	return 0;

rollback:
	tx_rollback(l);
release_sql:
	buf_release(&what);
	buf_release(&sql);
	return -1;
}

static bool
is_ledger_id(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == LEDGER_ID_LEN;
}

static int
meta_read(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "SELECT ledger_id FROM meta WHERE one = 1", &st,
	    "read ledger id", e) == -1)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': no ledger id",
		    l->path);
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		db_fail(l, "read ledger id", e);
		goto finalize;
	}
	if (!is_ledger_id(col_cstr(st, 0))) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': bad ledger id '%s'",
		    l->path, col_cstr(st, 0));
		goto finalize;
	}
	memcpy(l->id, col_cstr(st, 0), sizeof(l->id));
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * Opening with create = false is for readers: it never creates nor
 * migrates.  A file older than this gpureconcile is refused with a hint
 * to run a mutating command (which opens with create = true and
 * migrates), because a reader such as `status` must not write.
 */
int
ledger_open(const char *state_dir, bool create, struct ledger **out,
    struct gr_err *e)
{
	struct ledger	*l;
	struct stat	 sb;
	int		 flags, v;

	*out = NULL;
	if (create && mkdir_p(state_dir, 0700) == -1) {
		gr_err_set(e, GR_E_IO, "ledger in '%s': cannot create the "
		    "directory: %s", state_dir, strerror(errno));
		return -1;
	}
	l = xcalloc(1, sizeof(*l));
	l->path = xasprintf("%s/%s", state_dir, LEDGER_FILE);
	if (!create && stat(l->path, &sb) == -1) {
		if (errno == ENOENT) {
			gr_err_set(e, GR_E_NOT_FOUND, "ledger '%s' does not "
			    "exist", l->path);
			gr_err_hint(e, "check --state-dir; a mutating command "
			    "such as 'gpureconcile apply' creates it");
		} else {
			gr_err_set(e, GR_E_LEDGER, "ledger '%s': %s", l->path,
			    strerror(errno));
		}
		goto free_ledger;
	}
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(l->path, &l->db, flags, NULL) != SQLITE_OK) {
		if (l->db == NULL)
			fatalx("sqlite3_open_v2: out of memory");
		db_fail(l, "open", e);
		goto close_db;
	}
	if (sqlite3_busy_timeout(l->db, LEDGER_BUSY_MS) != SQLITE_OK) {
		db_fail(l, "set busy timeout", e);
		goto close_db;
	}
	/* Look before setting anything: a refused file is left as it was. */
	if (pragma_int(l, "PRAGMA user_version", "read schema version", &v,
	    e) == -1)
		goto close_db;
	if (v > LEDGER_SCHEMA_VERSION) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': schema version %d is "
		    "newer than this gpureconcile knows (%d)", l->path, v,
		    LEDGER_SCHEMA_VERSION);
		gr_err_hint(e, "upgrade gpureconcile (this is %s)",
		    GR_VERSION);
		goto close_db;
	}
	if (v < LEDGER_SCHEMA_VERSION && !create) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': schema version %d is "
		    "older than this gpureconcile's (%d)", l->path, v,
		    LEDGER_SCHEMA_VERSION);
		gr_err_hint(e, "run a mutating command such as 'gpureconcile "
		    "apply' once to upgrade it");
		goto close_db;
	}
	if (db_setup(l, e) == -1)
		goto close_db;
	if (v < LEDGER_SCHEMA_VERSION && migrate(l, e) == -1)
		goto close_db;
	if (meta_read(l, e) == -1)
		goto close_db;
	l->version = LEDGER_SCHEMA_VERSION;
	if (pthread_mutex_init(&l->mu, NULL) != 0)
		fatalx("pthread_mutex_init");
	*out = l;
	return 0;

close_db:
	(void)sqlite3_close_v2(l->db);
free_ledger:
	free(l->path);
	free(l);
	return -1;
}

void
ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	if (sqlite3_close(l->db) != SQLITE_OK)
		BUG("ledger '%s': close: %s", l->path, sqlite3_errmsg(l->db));
	pthread_mutex_destroy(&l->mu);
	audit_free(l);
	free(l->path);
	free(l);
}

const char *
ledger_id(const struct ledger *l)
{
	return l->id;
}

int
ledger_schema_version(struct ledger *l)
{
	return l->version;
}

static void
ledger_lock_mu(struct ledger *l)
{
	if (pthread_mutex_lock(&l->mu) != 0)
		fatalx("ledger: pthread_mutex_lock");
}

static void
ledger_unlock_mu(struct ledger *l)
{
	if (pthread_mutex_unlock(&l->mu) != 0)
		fatalx("ledger: pthread_mutex_unlock");
}

void
ledger_set_audit(struct ledger *l, const struct ledger_audit *v, size_t n)
{
	size_t	 i;

	ledger_lock_mu(l);
	audit_free(l);
	if (n > 0) {
		l->audit = xcalloc(n, sizeof(*l->audit));
		for (i = 0; i < n; i++) {
			l->audit[i].path = xstrdup(v[i].path);
			l->audit[i].commit = v[i].commit != NULL ?
			    xstrdup(v[i].commit) : NULL;
		}
		l->naudit = n;
	}
	ledger_unlock_mu(l);
}

/*
 * Writes.
 */

/* Insert the intent row (no label yet); *uid is its new rowid. */
static int
intent_insert(struct ledger *l, const struct ledger_inst *in, int64_t now,
    int64_t *uid, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "INSERT INTO instances (kind, fleet, group_name, "
	    "slot, provider, provider_id, state, spec_hash, spec_file, gpu, "
	    "gpu_count, max_price, price, region, ssh_host, ssh_port, "
	    "ssh_user, bootstrap_sha256, created_ms, updated_ms, "
	    "billing_start_ms, billing_end_ms, last_error, end_reason, "
	    "git_commit, ssh_hostkey) "
	    "VALUES (:kind, "
	    ":fleet, :group, :slot, :provider, :provider_id, :state, "
	    ":spec_hash, :spec_file, :gpu, :gpu_count, :max_price, :price, "
	    ":region, :ssh_host, :ssh_port, :ssh_user, :bootstrap_sha256, "
	    ":created_ms, :updated_ms, :billing_start_ms, :billing_end_ms, "
	    ":last_error, :end_reason, :git_commit, :ssh_hostkey)", &st,
	    "record spawn intent", e) == -1)
		return -1;
	rc = bind_inst(st, in, INST_IDLE, now);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":created_ms", now);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "record spawn intent", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	*uid = sqlite3_last_insert_rowid(l->db);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/* The label needs the uid, so it is written second, in the same tx. */
static int
label_store(struct ledger *l, int64_t uid, const char *label,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "UPDATE instances SET label = :label WHERE uid = "
	    ":uid", &st, "record owner label", e) == -1)
		return -1;
	rc = bind_str(st, ":label", label);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":uid", uid);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "record owner label", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * Committed (synchronous=FULL) before it returns.  Besides uid and label,
 * the caller's struct gets state IDLE and created_ms = updated_ms, as
 * stored, and, when it has none, the commit ledger_set_audit gives its
 * spec file; on failure it is left as it was.
 */
int
ledger_intent_spawn(struct ledger *l, struct ledger_inst *in,
    struct gr_err *e)
{
	const char	*commit;
	int64_t		 now, uid;
	char		*label;
	bool		 own_commit = false;

	ledger_lock_mu(l);
	now = clock_now_ms();
	if (in->git_commit == NULL && (commit = audit_lookup(l,
	    in->spec_file)) != NULL) {
		in->git_commit = xstrdup(commit);
		own_commit = true;
	}
	if (tx_begin(l, e) == -1)
		goto unlock;
	if (intent_insert(l, in, now, &uid, e) == -1)
		goto rollback;
	label = owner_label(l->id, uid);
	if (label_store(l, uid, label, e) == -1)
		goto free_label;
	if (event_add(l, uid, now, INST_IDLE, INST_IDLE, "spawn-intent", NULL,
	    in, e) == -1)
		goto free_label;
	if (tx_commit(l, e) == -1)
		goto free_label;
	ledger_unlock_mu(l);

	in->uid = uid;
	free(in->label);
	in->label = label;	/* ownership passes to the caller's struct */
	in->state = INST_IDLE;
	in->created_ms = now;
	in->updated_ms = now;
	return 0;

free_label:
	free(label);
rollback:
	tx_rollback(l);
unlock:
	if (own_commit) {
		free(in->git_commit);
		in->git_commit = NULL;
	}
	ledger_unlock_mu(l);
	return -1;
}

/* The stored state of uid, or GR_E_NOT_FOUND. */
static int
state_read(struct ledger *l, int64_t uid, enum inst_state *out,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "SELECT state FROM instances WHERE uid = :uid", &st,
	    "read instance", e) == -1)
		return -1;
	if (bind_i64(st, ":uid", uid) != SQLITE_OK) {
		db_fail(l, "read instance", e);
		goto finalize;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		gr_err_set(e, GR_E_NOT_FOUND, "ledger '%s': no instance with "
		    "uid %lld", l->path, (long long)uid);
		goto finalize;
	}
	if (rc != SQLITE_ROW) {
		db_fail(l, "read instance", e);
		goto finalize;
	}
	if (!inst_state_parse(col_cstr(st, 0), out)) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': instance uid %lld "
		    "has unknown state '%s'", l->path, (long long)uid,
		    col_cstr(st, 0));
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

static int
row_update(struct ledger *l, const struct ledger_inst *in, int64_t now,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "UPDATE instances SET " INST_SETS " WHERE uid = "
	    ":uid", &st, "update instance", e) == -1)
		return -1;
	rc = bind_inst(st, in, in->state, now);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":uid", in->uid);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "update instance", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * The label, uid and created_ms never change; every other field is
 * written as given.  A NULL kind is recorded as "update".
 */
int
ledger_update(struct ledger *l, const struct ledger_inst *in,
    const char *kind, const char *detail, struct gr_err *e)
{
	enum inst_state	 from;
	int64_t		 now;

	ledger_lock_mu(l);
	now = clock_now_ms();
	if (tx_begin(l, e) == -1)
		goto unlock;
	if (state_read(l, in->uid, &from, e) == -1)
		goto rollback;
	if (row_update(l, in, now, e) == -1)
		goto rollback;
	if (event_add(l, in->uid, now, from, in->state, kind, detail, in,
	    e) == -1)
		goto rollback;
	if (tx_commit(l, e) == -1)
		goto unlock;
	ledger_unlock_mu(l);
	return 0;

rollback:
	tx_rollback(l);
unlock:
	ledger_unlock_mu(l);
	return -1;
}

/*
 * Reads.  Each is one statement, so it sees one consistent snapshot.
 */

static int
insts_query(struct ledger *l, sqlite3_stmt *st, struct ledger_inst **out,
    size_t *nout, struct gr_err *e)
{
	struct ledger_inst	*v = NULL;
	size_t			 n = 0;
	int			 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		if (row_read(l, st, &v[n], e) == -1)
			goto free_insts;
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_fail(l, "list instances", e);
		goto free_insts;
	}
	*out = v;
	*nout = n;
	return 0;

free_insts:
	ledger_insts_free(v, n);
	return -1;
}

int
ledger_list(struct ledger *l, bool include_terminated,
    struct ledger_inst **out, size_t *nout, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	*out = NULL;
	*nout = 0;
	ledger_lock_mu(l);
	/* "state <> 'TERMINATED'" as written lets SQLite use instances_live */
	if (db_prepare(l, include_terminated ?
	    "SELECT " INST_COLS " FROM instances "
	    "ORDER BY fleet, group_name, slot, uid" :
	    "SELECT " INST_COLS " FROM instances WHERE state <> 'TERMINATED' "
	    "ORDER BY fleet, group_name, slot, uid", &st, "list instances",
	    e) == -1)
		goto unlock;
	rc = insts_query(l, st, out, nout, e);
	sqlite3_finalize(st);
	ledger_unlock_mu(l);
	return rc;

unlock:
	ledger_unlock_mu(l);
	return -1;
}

/* One row by a query with bound parameters; GR_E_NOT_FOUND if none. */
static int
inst_one(struct ledger *l, sqlite3_stmt *st, const char *what,
    struct ledger_inst *in, struct gr_err *e)
{
	int	 rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		gr_err_set(e, GR_E_NOT_FOUND, "ledger '%s': no instance with "
		    "%s", l->path, what);
		return -1;
	}
	if (rc != SQLITE_ROW)
		return db_fail(l, "read instance", e);
	return row_read(l, st, in, e);
}

int
ledger_get(struct ledger *l, int64_t uid, struct ledger_inst *in,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	char		 what[64];
	int		 rc = -1;

	memset(in, 0, sizeof(*in));	/* overwritten; zero if not found */
	(void)snprintf(what, sizeof(what), "uid %lld", (long long)uid);
	ledger_lock_mu(l);
	if (db_prepare(l, "SELECT " INST_COLS " FROM instances WHERE uid = "
	    ":uid", &st, "read instance", e) == -1)
		goto unlock;
	if (bind_i64(st, ":uid", uid) != SQLITE_OK)
		db_fail(l, "read instance", e);
	else
		rc = inst_one(l, st, what, in, e);
	sqlite3_finalize(st);
unlock:
	ledger_unlock_mu(l);
	return rc;
}

int
ledger_find_provider_id(struct ledger *l, const char *provider,
    const char *provider_id, struct ledger_inst *in, struct gr_err *e)
{
	sqlite3_stmt	*st;
	struct buf	 what = BUF_INIT;
	int		 rc = -1;

	memset(in, 0, sizeof(*in));	/* overwritten; zero if not found */
	buf_addf(&what, "provider id '%s' on %s", provider_id != NULL ?
	    provider_id : "", provider != NULL ? provider : "?");
	ledger_lock_mu(l);
	if (db_prepare(l, "SELECT " INST_COLS " FROM instances WHERE "
	    "provider = :provider AND provider_id = :provider_id", &st,
	    "find instance", e) == -1)
		goto unlock;
	if (bind_str(st, ":provider", provider) != SQLITE_OK ||
	    bind_str(st, ":provider_id", provider_id) != SQLITE_OK)
		db_fail(l, "find instance", e);
	else
		rc = inst_one(l, st, buf_str(&what), in, e);
	sqlite3_finalize(st);
unlock:
	ledger_unlock_mu(l);
	buf_release(&what);
	return rc;
}

static int
event_read(struct ledger *l, sqlite3_stmt *st, struct ledger_event *ev,
    struct gr_err *e)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = sqlite3_column_int64(st, 0);
	ev->uid = sqlite3_column_int64(st, 1);
	ev->at_ms = sqlite3_column_int64(st, 2);
	if (!inst_state_parse(col_cstr(st, 3), &ev->from) ||
	    !inst_state_parse(col_cstr(st, 4), &ev->to)) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': event %lld has an "
		    "unknown state", l->path, (long long)ev->id);
		return -1;
	}
	ev->kind = col_str(st, 5);
	ev->detail = col_str(st, 6);
	ev->spec_file = col_str(st, 7);
	ev->spec_hash = col_str(st, 8);
	ev->git_commit = col_str(st, 9);
	return 0;
}

static int
events_query(struct ledger *l, sqlite3_stmt *st, struct ledger_event **out,
    size_t *nout, struct gr_err *e)
{
	struct ledger_event	*v = NULL;
	size_t			 n = 0;
	int			 rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		if (event_read(l, st, &v[n], e) == -1)
			goto free_events;
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_fail(l, "list events", e);
		goto free_events;
	}
	*out = v;
	*nout = n;
	return 0;

free_events:
	ledger_events_free(v, n);
	return -1;
}

int
ledger_events(struct ledger *l, int64_t uid, struct ledger_event **out,
    size_t *nout, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc = -1;

	*out = NULL;
	*nout = 0;
	ledger_lock_mu(l);
	if (db_prepare(l, uid == 0 ?
	    "SELECT " EVENT_COLS " FROM events ORDER BY id" :
	    "SELECT " EVENT_COLS " FROM events WHERE uid = :uid ORDER BY id",
	    &st, "list events", e) == -1)
		goto unlock;
	if (uid != 0 && bind_i64(st, ":uid", uid) != SQLITE_OK)
		db_fail(l, "list events", e);
	else
		rc = events_query(l, st, out, nout, e);
	sqlite3_finalize(st);
unlock:
	ledger_unlock_mu(l);
	return rc;
}

/*
 * Checks, run inside one read transaction so that they see one snapshot.
 */

static int
check_integrity(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "PRAGMA integrity_check", &st, "integrity check",
	    e) == -1)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		db_fail(l, "integrity check", e);
		goto finalize;
	}
	if (strcmp(col_cstr(st, 0), "ok") != 0) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': integrity check: %s",
		    l->path, col_cstr(st, 0));
		gr_err_hint(e, "the file is damaged; restore it from a backup");
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * This connection is set up as durability needs it.  synchronous and
 * foreign_keys are per connection, so only we can see them.
 */
static int
check_settings(struct ledger *l, struct gr_err *e)
{
	static const struct {
		const char	*sql;
		int		 want;
		const char	*name;
	} settings[] = {
		{ "PRAGMA synchronous", 2, "synchronous is not FULL" },
		{ "PRAGMA foreign_keys", 1, "foreign keys are off" },
	};
	sqlite3_stmt	*st;
	size_t		 i;
	int		 v;

	if (db_prepare(l, "PRAGMA journal_mode", &st, "check settings", e) ==
	    -1)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(l, "check settings", e);
		goto finalize;
	}
	if (strcmp(col_cstr(st, 0), "wal") != 0) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': journal mode is '%s', "
		    "not 'wal'", l->path, col_cstr(st, 0));
		goto finalize;
	}
	sqlite3_finalize(st);
	for (i = 0; i < nitems(settings); i++) {
		if (pragma_int(l, settings[i].sql, "check settings", &v,
		    e) == -1)
			return -1;
		if (v != settings[i].want) {
			gr_err_set(e, GR_E_LEDGER, "ledger '%s': %s", l->path,
			    settings[i].name);
			return -1;
		}
	}
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/* Labels are gr-<ledger id>-<uid>; billing never ends before it starts. */
static int
check_rows(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	char		*want;
	const char	*label, *state;
	int64_t		 uid, start, end;
	int		 rc;

	if (db_prepare(l, "SELECT uid, label, state, billing_start_ms, "
	    "billing_end_ms FROM instances ORDER BY uid", &st,
	    "check instances", e) == -1)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uid = sqlite3_column_int64(st, 0);
		label = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL :
		    col_cstr(st, 1);
		state = col_cstr(st, 2);
		start = sqlite3_column_int64(st, 3);
		end = sqlite3_column_int64(st, 4);
		want = owner_label(l->id, uid);
		if (label == NULL || strcmp(label, want) != 0) {
			gr_err_set(e, GR_E_LEDGER, "ledger '%s': instance uid "
			    "%lld has label '%s', not '%s'", l->path,
			    (long long)uid, label != NULL ? label : "(none)",
			    want);
			gr_err_hint(e, "the ledger was changed outside "
			    "gpureconcile; restore it from a backup");
			free(want);
			goto finalize;
		}
		free(want);
		if (strcmp(state, inst_state_name(INST_TERMINATED)) == 0 &&
		    start != 0 && end != 0 && end < start) {
			gr_err_set(e, GR_E_LEDGER, "ledger '%s': instance uid "
			    "%lld ('%s') stopped billing before it started "
			    "(%lld < %lld)", l->path, (long long)uid, label,
			    (long long)end, (long long)start);
			goto finalize;
		}
	}
	if (rc != SQLITE_DONE) {
		db_fail(l, "check instances", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/* Every event belongs to a row (in case foreign keys were ever off). */
static int
check_events(struct ledger *l, struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "SELECT e.id, e.uid FROM events e LEFT JOIN "
	    "instances i ON i.uid = e.uid WHERE i.uid IS NULL ORDER BY e.id "
	    "LIMIT 1", &st, "check events", e) == -1)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		gr_err_set(e, GR_E_LEDGER, "ledger '%s': event %lld is for "
		    "uid %lld, which has no instance row", l->path,
		    (long long)sqlite3_column_int64(st, 0),
		    (long long)sqlite3_column_int64(st, 1));
		gr_err_hint(e, "the ledger was changed outside gpureconcile; "
		    "restore it from a backup");
		goto finalize;
	}
	if (rc != SQLITE_DONE) {
		db_fail(l, "check events", e);
		goto finalize;
	}
	sqlite3_finalize(st);
	return 0;

finalize:
	sqlite3_finalize(st);
	return -1;
}

/*
 * Two live rows may share a (fleet, group, slot) while one replaces the
 * other, so slots are not checked here.
 */
int
ledger_check(struct ledger *l, struct gr_err *e)
{
	ledger_lock_mu(l);
	if (db_exec(l, "BEGIN", "begin transaction", e) == -1)
		goto unlock;
	if (check_integrity(l, e) == -1 || check_settings(l, e) == -1 ||
	    check_rows(l, e) == -1 || check_events(l, e) == -1)
		goto rollback;
	if (tx_commit(l, e) == -1)
		goto unlock;
	ledger_unlock_mu(l);
	return 0;

rollback:
	tx_rollback(l);
unlock:
	ledger_unlock_mu(l);
	return -1;
}

/*
 * Export and import (jsonl.c turns these into JSON lines and back).
 */

static int
meta_created(struct ledger *l, int64_t *out, struct gr_err *e)
{
	sqlite3_stmt	*st;

	if (db_prepare(l, "SELECT created_at FROM meta WHERE one = 1", &st,
	    "read ledger id", e) == -1)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(l, "read ledger id", e);
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Each statement of the read runs inside one read transaction. */
int
ledger_dump_read(struct ledger *l, bool events, struct ledger_dump *d,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(d, 0, sizeof(*d));
	ledger_lock_mu(l);
	memcpy(d->ledger_id, l->id, sizeof(d->ledger_id));
	d->schema_version = l->version;
	if (db_exec(l, "BEGIN", "begin transaction", e) == -1)
		goto unlock;
	if (meta_created(l, &d->created_ms, e) == -1)
		goto rollback;
	if (db_prepare(l, "SELECT " INST_COLS " FROM instances ORDER BY uid",
	    &st, "list instances", e) == -1)
		goto rollback;
	rc = insts_query(l, st, &d->insts, &d->ninsts, e);
	sqlite3_finalize(st);
	if (rc == -1)
		goto rollback;
	if (events) {
		if (db_prepare(l, "SELECT " EVENT_COLS " FROM events "
		    "ORDER BY id", &st,
		    "list events", e) == -1)
			goto rollback;
		rc = events_query(l, st, &d->events, &d->nevents, e);
		sqlite3_finalize(st);
		if (rc == -1)
			goto rollback;
	}
	if (tx_commit(l, e) == -1)
		goto release_dump;
	ledger_unlock_mu(l);
	return 0;

rollback:
	tx_rollback(l);
release_dump:
	ledger_dump_release(d);
unlock:
	ledger_unlock_mu(l);
	return -1;
}

/* "FILE:LINE: " in front of an error about one input line. */
static void
dump_where(const struct ledger_dump *d, size_t line, struct gr_err *e)
{
	if (line > 0)
		gr_err_prefix(e, "%s:%zu", d->source != NULL ? d->source :
		    "input", line);
}

static int
count_rows(struct ledger *l, const char *sql, int64_t *n, struct gr_err *e)
{
	sqlite3_stmt	*st;

	if (db_prepare(l, sql, &st, "count rows", e) == -1)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(l, "count rows", e);
		sqlite3_finalize(st);
		return -1;
	}
	*n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Insert one row as given; uid 0 lets SQLite choose it (*uid gets it). */
static int
row_insert(struct ledger *l, const struct ledger_inst *in, int64_t *uid,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "INSERT INTO instances (uid, label, kind, fleet, "
	    "group_name, slot, provider, provider_id, state, spec_hash, "
	    "spec_file, gpu, gpu_count, max_price, price, region, ssh_host, "
	    "ssh_port, ssh_user, bootstrap_sha256, created_ms, updated_ms, "
	    "billing_start_ms, billing_end_ms, last_error, end_reason, "
	    "git_commit, ssh_hostkey) "
	    "VALUES (:uid, :label, :kind, "
	    ":fleet, :group, :slot, :provider, :provider_id, :state, "
	    ":spec_hash, :spec_file, :gpu, :gpu_count, :max_price, :price, "
	    ":region, :ssh_host, :ssh_port, :ssh_user, :bootstrap_sha256, "
	    ":created_ms, :updated_ms, :billing_start_ms, :billing_end_ms, "
	    ":last_error, :end_reason, :git_commit, :ssh_hostkey)", &st,
	    "import instance", e) == -1)
		return -1;
	rc = bind_inst(st, in, in->state, in->updated_ms);
	if (rc == SQLITE_OK)
		rc = in->uid != 0 ? bind_i64(st, ":uid", in->uid) :
		    sqlite3_bind_null(st, param(st, ":uid"));
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":label", in->label);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":created_ms", in->created_ms);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "import instance", e);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	*uid = sqlite3_last_insert_rowid(l->db);
	return 0;
}

static int
event_insert(struct ledger *l, const struct ledger_event *ev,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, "INSERT INTO events (id, uid, at_ms, from_state, "
	    "to_state, kind, detail, spec_file, spec_hash, git_commit) "
	    "VALUES (:id, :uid, :at, :from, :to, :kind, :detail, :spec_file, "
	    ":spec_hash, :git_commit)", &st, "import event", e) == -1)
		return -1;
	rc = bind_i64(st, ":id", ev->id);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":uid", ev->uid);
	if (rc == SQLITE_OK)
		rc = bind_i64(st, ":at", ev->at_ms);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":from", inst_state_name(ev->from));
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":to", inst_state_name(ev->to));
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":kind", ev->kind);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":detail", ev->detail);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":spec_file", ev->spec_file);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":spec_hash", ev->spec_hash);
	if (rc == SQLITE_OK)
		rc = bind_str(st, ":git_commit", ev->git_commit);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "import event", e);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
meta_set(struct ledger *l, const char *id, int64_t created_ms,
    struct gr_err *e)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (db_prepare(l, created_ms > 0 ? "UPDATE meta SET ledger_id = :id, "
	    "created_at = :at WHERE one = 1" : "UPDATE meta SET ledger_id = "
	    ":id WHERE one = 1", &st, "set ledger id", e) == -1)
		return -1;
	rc = bind_str(st, ":id", id);
	if (rc == SQLITE_OK && created_ms > 0)
		rc = bind_i64(st, ":at", created_ms);
	if (rc == SQLITE_OK && sqlite3_step(st) != SQLITE_DONE)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		db_fail(l, "set ledger id", e);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* An instance of the dump that keeps its uid (an export of ours). */
static int
load_kept(struct ledger *l, const struct ledger_dump *d, size_t i,
    const char *id, struct gr_err *e)
{
	const struct ledger_inst	*in = &d->insts[i];
	size_t				 line = d->inst_lines != NULL ?
					    d->inst_lines[i] : 0;
	char				*want = owner_label(id, in->uid);
	int64_t				 uid;

	if (in->label == NULL || strcmp(in->label, want) != 0) {
		gr_err_set(e, GR_E_USAGE, "instance uid %lld has label '%s', "
		    "not '%s' (ledger id %s)", (long long)in->uid,
		    in->label != NULL ? in->label : "(none)", want, id);
		dump_where(d, line, e);
		free(want);
		return -1;
	}
	free(want);
	if (row_insert(l, in, &uid, e) == -1) {
		dump_where(d, line, e);
		return -1;
	}
	return 0;
}

/* An instance another tool tracked: a new row of ours, adopted. */
static int
load_adopted(struct ledger *l, const struct ledger_dump *d, size_t i,
    int64_t now, struct gr_err *e)
{
	struct ledger_inst	 in = d->insts[i];	/* shallow */
	size_t			 line = d->inst_lines != NULL ?
				    d->inst_lines[i] : 0;
	sqlite3_stmt		*st;
	int64_t			 uid;
	char			*label, *detail;
	int			 rc;

	if (in.provider_id != NULL) {
		if (db_prepare(l, "SELECT uid FROM instances WHERE provider = "
		    ":p AND provider_id = :id", &st, "find instance", e) == -1)
			return -1;
		rc = bind_str(st, ":p", in.provider);
		if (rc == SQLITE_OK)
			rc = bind_str(st, ":id", in.provider_id);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			gr_err_set(e, GR_E_USAGE, "instance '%s' on %s is "
			    "already tracked (uid %lld)", in.provider_id,
			    in.provider, (long long)sqlite3_column_int64(st,
			    0));
			sqlite3_finalize(st);
			dump_where(d, line, e);
			return -1;
		}
		if (rc != SQLITE_DONE) {
			db_fail(l, "find instance", e);
			sqlite3_finalize(st);
			return -1;
		}
		sqlite3_finalize(st);
	}
	in.uid = 0;
	in.label = NULL;
	in.created_ms = now;
	in.updated_ms = now;
	if (row_insert(l, &in, &uid, e) == -1) {
		dump_where(d, line, e);
		return -1;
	}
	label = owner_label(l->id, uid);
	rc = label_store(l, uid, label, e);
	free(label);
	if (rc == -1)
		return -1;
	/* where it came from, for the audit trail */
	detail = line > 0 ? xasprintf("adopted from %s:%zu", d->source !=
	    NULL ? d->source : "input", line) : NULL;
	rc = event_add(l, uid, now, INST_IDLE, in.state, "imported", detail,
	    &in, e);
	free(detail);
	return rc;
}

int
ledger_dump_load(struct ledger *l, const struct ledger_dump *d,
    struct gr_err *e)
{
	char	 id[LEDGER_ID_LEN + 1];
	bool	 kept = d->nevents > 0;
	int64_t	 now, n;
	size_t	 i;

	for (i = 0; i < d->ninsts; i++)
		if (d->insts[i].uid != 0)
			kept = true;
	if (d->ledger_id[0] != '\0' && !is_ledger_id(d->ledger_id)) {
		gr_err_set(e, GR_E_USAGE, "bad ledger id '%s' (want %d hex "
		    "digits)", d->ledger_id, LEDGER_ID_LEN);
		return -1;
	}
	ledger_lock_mu(l);
	now = clock_now_ms();
	memcpy(id, l->id, sizeof(id));
	if (kept && d->ledger_id[0] != '\0')
		memcpy(id, d->ledger_id, sizeof(id));
	if (tx_begin(l, e) == -1)
		goto unlock;
	if (kept) {
		if (count_rows(l, "SELECT count(*) FROM instances", &n, e) ==
		    -1)
			goto rollback;
		if (n > 0) {
			gr_err_set(e, GR_E_LEDGER, "ledger '%s' already "
			    "tracks %lld instance%s; a ledger export is only "
			    "imported into an empty ledger; nothing was "
			    "imported", l->path, (long long)n, n == 1 ? "" :
			    "s");
			gr_err_hint(e, "import into a new --state-dir");
			goto rollback;
		}
		if (meta_set(l, id, d->created_ms, e) == -1)
			goto rollback;
	}
	for (i = 0; i < d->ninsts; i++) {
		if ((d->insts[i].uid != 0 ? load_kept(l, d, i, id, e) :
		    load_adopted(l, d, i, now, e)) == -1)
			goto rollback;
	}
	for (i = 0; i < d->nevents; i++) {
		if (event_insert(l, &d->events[i], e) == -1) {
			dump_where(d, d->event_lines != NULL ?
			    d->event_lines[i] : 0, e);
			goto rollback;
		}
	}
	if (tx_commit(l, e) == -1)
		goto unlock;
	memcpy(l->id, id, sizeof(l->id));
	ledger_unlock_mu(l);
	return 0;

rollback:
	tx_rollback(l);
unlock:
	ledger_unlock_mu(l);
	return -1;
}

void
ledger_dump_release(struct ledger_dump *d)
{
	if (d == NULL)
		return;
	ledger_insts_free(d->insts, d->ninsts);
	ledger_events_free(d->events, d->nevents);
	free(d->inst_lines);
	free(d->event_lines);
	memset(d, 0, sizeof(*d));
}

/*
 * Ownership helpers.
 */

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

void
ledger_inst_release(struct ledger_inst *in)
{
	if (in == NULL)
		return;
	free(in->label);
	free(in->fleet);
	free(in->group);
	free(in->provider);
	free(in->provider_id);
	free(in->spec_hash);
	free(in->spec_file);
	free(in->gpu);
	free(in->region);
	free(in->ssh_host);
	free(in->ssh_user);
	free(in->bootstrap_sha256);
	free(in->last_error);
	free(in->end_reason);
	free(in->git_commit);
	free(in->ssh_hostkey);
	memset(in, 0, sizeof(*in));
}

/* dst is overwritten, not released: release it first if it owns strings. */
void
ledger_inst_copy(struct ledger_inst *dst, const struct ledger_inst *src)
{
	*dst = *src;
	dst->label = dup_or_null(src->label);
	dst->fleet = dup_or_null(src->fleet);
	dst->group = dup_or_null(src->group);
	dst->provider = dup_or_null(src->provider);
	dst->provider_id = dup_or_null(src->provider_id);
	dst->spec_hash = dup_or_null(src->spec_hash);
	dst->spec_file = dup_or_null(src->spec_file);
	dst->gpu = dup_or_null(src->gpu);
	dst->region = dup_or_null(src->region);
	dst->ssh_host = dup_or_null(src->ssh_host);
	dst->ssh_user = dup_or_null(src->ssh_user);
	dst->bootstrap_sha256 = dup_or_null(src->bootstrap_sha256);
	dst->last_error = dup_or_null(src->last_error);
	dst->end_reason = dup_or_null(src->end_reason);
	dst->git_commit = dup_or_null(src->git_commit);
	dst->ssh_hostkey = dup_or_null(src->ssh_hostkey);
}

void
ledger_insts_free(struct ledger_inst *v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		ledger_inst_release(&v[i]);
	free(v);
}

void
ledger_events_free(struct ledger_event *v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].kind);
		free(v[i].detail);
		free(v[i].spec_file);
		free(v[i].spec_hash);
		free(v[i].git_commit);
	}
	free(v);
}

static const char *const kind_names[] = {
	[LEDGER_KIND_FLEET] = "fleet",
	[LEDGER_KIND_ADHOC] = "adhoc",
};

const char *
ledger_kind_name(enum ledger_kind k)
{
	if ((int)k < 0 || (size_t)k >= nitems(kind_names))
		return "unknown";
	return kind_names[k];
}

bool
ledger_kind_parse(const char *s, enum ledger_kind *out)
{
	size_t	 i;

	for (i = 0; i < nitems(kind_names); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum ledger_kind)i;
			return true;
		}
	}
	return false;
}
