/*
 * state.h: the ledger (SQLite; DESIGN.md section 6) and the lock that
 * lets one mutating process at a time write it.  Only state/ touches
 * SQLite.
 *
 * Every row is one instance we asked a provider for (or adopted).  Its
 * owner label is gr-<ledger id>-<uid>.  Every change of a row is written
 * in one transaction together with an event row, so the events are the
 * full history of every transition.
 */
#ifndef GR_STATE_H
#define GR_STATE_H

#include <stdio.h>

#include "../util/util.h"

#define LEDGER_FILE		"ledger.sqlite"
#define LEDGER_LOCK_FILE	"ledger.lock"
#define LEDGER_SCHEMA_VERSION	3

struct ledger;
struct ledger_lock;

enum ledger_kind {
	LEDGER_KIND_FLEET = 0,	/* a slot of a fleet file's group */
	LEDGER_KIND_ADHOC,	/* `provider NAME spinup`; apply leaves it */
};

struct ledger_inst {
	int64_t		 uid;		/* row id; 0 before insert */
	char		*label;		/* gr-<ledger id>-<uid> */
	enum ledger_kind kind;
	char		*fleet;		/* adhoc: NULL */
	char		*group;		/* adhoc: its --name */
	int		 slot;		/* adhoc: 0 */
	char		*provider;
	char		*provider_id;	/* NULL until the provider answers */
	enum inst_state	 state;
	char		*spec_hash;	/* group hash it was made for */
	char		*spec_file;	/* fleet file it came from */
	char		*gpu;
	int		 gpu_count;
	money_t		 max_price;	/* per hour; what the budget reserves */
	money_t		 price;		/* billed per hour; 0 until known */
	char		*region;
	char		*ssh_host;
	int		 ssh_port;
	char		*ssh_user;
	char		*bootstrap_sha256;
	int64_t		 created_ms;	/* intent committed */
	int64_t		 updated_ms;
	int64_t		 billing_start_ms;	/* 0: not billing yet */
	int64_t		 billing_end_ms;	/* 0: not confirmed ended */
	char		*last_error;	/* last failure, for reports */
	char		*end_reason;	/* why it ended ("ttl", "vanished",
					 * "terminated", ...); NULL: not
					 * ended, or not known (schema v1) */
	char		*git_commit;	/* commit the spec was read from,
					 * "+dirty" appended when the file
					 * differed; NULL: not in git */
	char		*ssh_hostkey;	/* "SHA256:..." once first seen */
};

struct ledger_event {
	int64_t		 id;
	int64_t		 uid;
	int64_t		 at_ms;
	enum inst_state	 from, to;
	char		*kind;		/* "spawn-intent", "running", ... */
	char		*detail;	/* owned; may be NULL */
	/* the row's audit fields when the event was written (schema v3;
	 * NULL in events of older ledgers) */
	char		*spec_file;
	char		*spec_hash;
	char		*git_commit;
};

/* ledger.c */
/*
 * Open (creating and migrating when create is true) the ledger in
 * state_dir.  WAL, synchronous=FULL, schema version in user_version.  A
 * ledger made by a newer gpureconcile is refused.  Readers never need the
 * lock.
 */
int	 ledger_open(const char *state_dir, bool create, struct ledger **,
	    struct gr_err *);
void	 ledger_close(struct ledger *);
const char *ledger_id(const struct ledger *);	/* 16 hex digits */
int	 ledger_schema_version(struct ledger *);

/*
 * Commit a spawn intent before the provider call: inserts inst (uid and
 * label are assigned and written back) in state IDLE with an event.
 */
int	 ledger_intent_spawn(struct ledger *, struct ledger_inst *,
	    struct gr_err *);
/*
 * Write every mutable field of inst (by uid) and one event (kind, detail)
 * in one transaction.  The event's from-state is the stored state.
 */
int	 ledger_update(struct ledger *, const struct ledger_inst *,
	    const char *kind, const char *detail, struct gr_err *);
/* Rows not TERMINATED (all rows with include_terminated). */
int	 ledger_list(struct ledger *, bool include_terminated,
	    struct ledger_inst **, size_t *, struct gr_err *);
int	 ledger_get(struct ledger *, int64_t uid, struct ledger_inst *,
	    struct gr_err *);	/* GR_E_NOT_FOUND when absent */
int	 ledger_find_provider_id(struct ledger *, const char *provider,
	    const char *provider_id, struct ledger_inst *, struct gr_err *);
int	 ledger_events(struct ledger *, int64_t uid /* 0: all */,
	    struct ledger_event **, size_t *, struct gr_err *);
/*
 * The audit trail: which commit this process read each spec path from
 * (git_describe; a fleet file or a spec directory; commit NULL: not in
 * git).  From then on a spawn intent records the commit of its spec file
 * (the longest path that is the file or one of its directories), and
 * every event records it for its row's spec file, or the row's own
 * commit when no path covers that file.  Copied; n = 0 clears.
 */
struct ledger_audit {
	const char	*path;
	const char	*commit;
};
void	 ledger_set_audit(struct ledger *, const struct ledger_audit *,
	    size_t);

/* PRAGMA integrity_check plus the ledger's own invariants. */
int	 ledger_check(struct ledger *, struct gr_err *);

/*
 * The whole ledger at one instant, for export and import: its id, when
 * it was made, every row (by uid) and, when asked, every event (by id).
 */
struct ledger_dump {
	char		 ledger_id[17];	/* "": take the target's own */
	int		 schema_version;
	int64_t		 created_ms;	/* meta; 0: unknown */
	struct ledger_inst *insts;	/* owned */
	size_t		*inst_lines;	/* owned; input line of each, or 0 */
	size_t		 ninsts;
	struct ledger_event *events;	/* owned */
	size_t		*event_lines;	/* owned; input line of each, or 0 */
	size_t		 nevents;
	const char	*source;	/* borrowed: input name for errors */
};
/*
 * Read every row (and every event with events) in one read transaction,
 * so a running apply never makes the copy inconsistent.  Needs no lock.
 */
int	 ledger_dump_read(struct ledger *, bool events, struct ledger_dump *,
	    struct gr_err *);
/*
 * Write a dump into the ledger in one transaction (all or nothing).  Rows
 * with a uid keep it, their label, states, times and events, and need an
 * empty ledger, whose id becomes the dump's (so owner labels still match
 * the instances at the providers).  Rows with uid 0 are adopted: each
 * gets a new uid and label and an "imported" event; a provider id
 * already tracked is refused.
 */
int	 ledger_dump_load(struct ledger *, const struct ledger_dump *,
	    struct gr_err *);
void	 ledger_dump_release(struct ledger_dump *);

void	 ledger_inst_release(struct ledger_inst *);
void	 ledger_inst_copy(struct ledger_inst *, const struct ledger_inst *);
void	 ledger_insts_free(struct ledger_inst *, size_t);
void	 ledger_events_free(struct ledger_event *, size_t);
const char *ledger_kind_name(enum ledger_kind);
bool	 ledger_kind_parse(const char *, enum ledger_kind *);

/* jsonl.c */
/*
 * The ledger as JSON lines (DESIGN.md section 6): a "ledger" line with
 * its id and schema version, one "instance" line per row and, with
 * events, one "event" line per event.  Money is integer micro-dollars
 * and a decimal string, times ms since the epoch and ISO 8601.
 */
int	 ledger_jsonl_export(struct ledger *, bool events, FILE *,
	    struct gr_err *);
/*
 * Parse JSON lines from fp (named name in errors, "FILE:LINE: msg") into
 * a dump: either our own export, or another tool's tracked instances
 * (one object per line with at least "provider" and "instance_id" or
 * "id"), which become ad-hoc rows to adopt.  provider_ok, when not NULL,
 * vets each provider name.
 */
int	 ledger_jsonl_parse(FILE *, const char *name,
	    bool (*provider_ok)(const char *), struct ledger_dump *,
	    struct gr_err *);

/* lock.c */
/*
 * Take the exclusive writer lock of state_dir without waiting.  On
 * contention: GR_E_LOCKED with who holds it (pid, command, since when).
 * The lock dies with its process (flock), so kill -9 never leaves it held.
 */
int	 ledger_lock_take(const char *state_dir, const char *what,
	    struct ledger_lock **, struct gr_err *);
void	 ledger_lock_release(struct ledger_lock *);

#endif /* GR_STATE_H */
