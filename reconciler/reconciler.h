/*
 * reconciler.h: the core.  It reads the desired state (spec/), the
 * observed state (providers/) and the tracked state (state/), decides a
 * plan, and executes it.  Only this directory includes the other three.
 */
#ifndef GR_RECONCILER_H
#define GR_RECONCILER_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "../util/util.h"
#include "../spec/spec.h"
#include "../providers/provider.h"
#include "../state/state.h"

/* config.c: $XDG_CONFIG_HOME/gpureconcile/config.yaml or --config. */
struct provider_settings {
	char		*name;		/* owned */
	struct kv	*options;	/* owned; passed to the provider */
	size_t		 noptions;
	struct provider_timeouts timeouts;
	int64_t		 heartbeat_ms;	/* watch: health check; default 5 min */
};

struct config {
	char		*path;		/* owned; NULL: no file was read */
	char		*state_dir;	/* owned; NULL: use the default */
	char		**fleet_paths;	/* owned; default -f */
	size_t		 nfleet_paths;
	money_t		 max_per_hour;	/* global cap; 0 with !has_budget */
	bool		 has_budget;
	int		 parallel;	/* provider calls at once; default 8 */
	int64_t		 poll_ms;	/* between passes while waiting */
	/* watch: {resync: 60s, debounce: 100ms, stop_timeout: 30s} */
	int64_t		 resync_ms;	/* full pass at least this often */
	int64_t		 debounce_ms;	/* quiet time before a reload */
	int64_t		 stop_ms;	/* SIGTERM: bound on calls in flight */
	struct provider_settings *providers;	/* owned */
	size_t		 nproviders;
};

int	 config_load(const char *path, bool must_exist, struct config **,
	    struct gr_err *);
void	 config_free(struct config *);
/* The settings for a provider (defaults when the config names none). */
const struct provider_settings *config_provider(const struct config *,
	    const char *name);
char	*config_default_path(void);
char	*state_dir_default(void);

/* What the user asked for on the command line. */
struct options {
	const char	*config_path;
	const char	*state_dir;
	const char	**fleet_paths;	/* borrowed from argv */
	size_t		 nfleet_paths;
	bool		 json;
	bool		 yes;
	bool		 detailed_exitcode;
	bool		 all;
	bool		 destroy;	/* every group's count taken as 0 */
	/* ledger export / import */
	bool		 jsonl;		/* --jsonl */
	bool		 events;	/* --events: export events too */
	const char	*input;		/* --input FILE (default stdin) */
	const char	*output;	/* --output FILE (default stdout) */
	int		 verbose;
	int		 parallel;	/* 0: config */
	/* watch */
	int64_t		 resync_ms;	/* --resync; 0: config */
	int64_t		 debounce_ms;	/* --debounce, with has_debounce */
	bool		 has_debounce;
	bool		 syslog;	/* --syslog */
	/* `provider NAME ...` (the adapter contract) */
	const char	*gpu;		/* --gpu TYPE */
	int		 disk_gb;	/* --disk GB (0: not given) */
	const char	*template_name;	/* --template NAME (an image) */
	money_t		 budget;	/* --budget $/h */
	bool		 has_budget;
	const char	*name;		/* --name NAME (default "adhoc") */
	const char	*instance;	/* --instance ID */
	const char	*remote;	/* --remote PATH */
	const char	*local;		/* --local PATH */
	bool		 check;		/* ssh-info --check */
	/* drift */
	bool		 include_foreign;
	bool		 csv;
	bool		 markdown;
	const char	*since;		/* --since T (as given) */
	const char	*until;		/* --until T */
	bool		 history;	/* status --history */
};

/*
 * run.c: what one apply run remembers between its passes: providers that
 * refused us (AUTH, QUOTA), groups the provider called invalid, recent
 * capacity misses, and each slot's attempts and backoff.
 */
struct slot_state {
	char		*addr;		/* owned: fleet/group/slot */
	int		 attempts;	/* failed spawns (rate limits excluded) */
	int64_t		 next_try_ms;	/* backoff: not before this */
	bool		 given_up;	/* reported with its last error */
	struct gr_err	 last;
};

struct run_state {
	pthread_mutex_t	 mtx;
	struct kv	*blocked;	/* provider -> why */
	size_t		 nblocked;
	enum gr_code	*blocked_code;
	struct kv	*failed_groups;	/* fleet/group -> why */
	size_t		 nfailed_groups;
	struct run_miss	*misses;
	size_t		 nmisses;
	struct slot_state *slots;
	size_t		 nslots;
	uint64_t	 rng;		/* guarded by rng_mtx, not mtx */
	pthread_mutex_t	 rng_mtx;
	int		 max_attempts;	/* per slot per run; default 3 */
	int64_t		 miss_ttl_ms;	/* capacity negative cache; 5 min */
	bool		 no_new_spawns;	/* out of time: finish, start nothing */
	/*
	 * Set (atomically, from a signal handler) when the process must
	 * stop: calls in flight finish, no further job of the plan starts.
	 */
	volatile sig_atomic_t *stop;
	size_t		 mutating_calls;
};

void	 run_state_init(struct run_state *, uint64_t seed);
void	 run_state_release(struct run_state *);
/* The reason a provider is blocked this run, or NULL. */
const char *run_blocked(struct run_state *, const char *provider);
void	 run_block(struct run_state *, const char *provider, enum gr_code,
	    const char *why);
const char *run_group_failed(struct run_state *, const char *fleet,
	    const char *group);
void	 run_fail_group(struct run_state *, const char *fleet,
	    const char *group, const char *why);
/*
 * Capacity misses, per (provider, gpu, offer id): one offer that is gone
 * (a Vast machine rented by someone else) rules out only that offer; a
 * NULL offer id is a miss for every offer of that GPU at that provider.
 */
void	 run_miss_add(struct run_state *, const char *provider,
	    const char *gpu, const char *region);
bool	 run_miss_active(struct run_state *, const char *provider,
	    const char *gpu, const char *region);
/* The slot's state (created on first use); the pointer stays valid
 * until run_state_release only while the mutex is held. */
struct slot_state *run_slot(struct run_state *, const char *addr);
/* Full-jitter exponential backoff for attempt n (1-based): 1 s .. 5 min. */
int64_t	 run_backoff_ms(struct run_state *, int attempt);
/* Wait prescribed by a RATE_LIMIT error: Retry-After clamped to
 * [1 s, 60 s], else jittered backoff. */
int64_t	 run_rate_wait_ms(struct run_state *, const struct gr_err *, int n);

/* context.c: what a command needs, set up once by main. */
struct ctx {
	struct options	*opts;
	struct config	*cfg;
	char		*state_dir;	/* owned */
	struct ledger	*ledger;
	struct ledger_lock *lock;
	struct spec	*spec;
	struct run_state *run;		/* borrowed; NULL: read-only (plan) */
	struct provider	**provs;	/* owned; created on first use */
	size_t		 nprovs;
	pthread_mutex_t	 mtx;		/* guards provs and stats */
	struct offers_cache *offers;	/* offers.c; owned */
};

int	 ctx_init(struct ctx *, struct options *, struct gr_err *);
void	 ctx_release(struct ctx *);
int	 ctx_open_ledger(struct ctx *, bool create, struct gr_err *);
int	 ctx_lock(struct ctx *, const char *what, struct gr_err *);
/* Load -f paths (or the config's); prints diags to stderr on failure. */
int	 ctx_load_spec(struct ctx *, struct gr_err *);
/* Record in the ledger which git commit each spec path was read from. */
void	 ctx_audit_spec(struct ctx *);
/* The same parse into *out, every problem in diags; c->spec untouched. */
int	 ctx_parse_spec(struct ctx *, struct spec **out, struct spec_diags *,
	    struct gr_err *);
/* The live provider by name, created on first use. */
int	 ctx_provider(struct ctx *, const char *name, struct provider **,
	    struct gr_err *);

/*
 * offers.c: provider_offers through a cache of one pass (and at most
 * 10 s): every empty slot of a group is priced, and every spawn picks an
 * offer, with one lookup.  apply flushes it at the start of each pass.
 */
int	 ctx_offers(struct ctx *, struct provider *, const struct gpu_req *,
	    struct offer_list *, struct gr_err *);
/* A spawn rented from (or, all, was refused by) a cached offer. */
void	 ctx_offers_took(struct ctx *, const char *provider,
	    const struct gpu_req *, const char *offer_id, bool all);
void	 ctx_offers_flush(struct ctx *);
void	 ctx_offers_free(struct ctx *);

/* observe.c: one pass's view of the world. */
enum bucket {
	BUCKET_PRESENT = 0,	/* tracked and present at the provider */
	BUCKET_MISSING,		/* tracked, not in the provider's list */
	BUCKET_UNKNOWN,		/* tracked, its provider could not be listed */
	BUCKET_UNTRACKED,	/* our label, no live ledger row */
	BUCKET_FOREIGN,		/* not ours: never touched */
};
const char *bucket_name(enum bucket);

struct tracked {
	struct ledger_inst row;		/* owned copy */
	const struct instance *seen;	/* borrowed from obs; NULL: missing */
	enum bucket	 bucket;
};

struct untracked {
	const struct instance *seen;	/* borrowed */
	const char	*provider;	/* borrowed */
	int64_t		 uid;		/* from the label; 0: foreign */
	bool		 ours;
};

struct prov_obs {
	char		*name;		/* owned */
	struct provider	*p;		/* borrowed from ctx */
	bool		 ok;		/* list succeeded */
	struct gr_err	 err;
	struct instance_list list;
};

struct observation {
	struct prov_obs	*provs;		/* owned */
	size_t		 nprovs;
	struct tracked	*tracked;	/* owned: every live ledger row */
	size_t		 ntracked;
	struct untracked *untracked;	/* owned: ours without row, foreign */
	size_t		 nuntracked;
	int64_t		 at_ms;
};

int	 observe(struct ctx *, struct observation *, struct gr_err *);
void	 observation_release(struct observation *);
const struct prov_obs *observation_provider(const struct observation *,
	    const char *);
/* Whether a tracked instance could not be checked this pass (its provider
 * could not be set up or listed, or get failed); why goes into e. */
bool	 observation_unchecked(const struct observation *, struct gr_err *);

/* diff.c: the plan. */
enum action_kind {
	ACT_KEEP = 0,		/* slot filled by a matching instance */
	ACT_WAIT,		/* pending or stopping: nothing to do yet */
	ACT_SPAWN,		/* slot empty */
	ACT_REPLACE,		/* slot's instance has an old spec */
	ACT_TERMINATE,		/* surplus, removed group, timeout, price */
	ACT_ADOPT,		/* our label found for a row without an id */
	ACT_SYNC,		/* record what the provider says (no call) */
	ACT_ORPHAN,		/* our label, no slot for it: terminate */
	ACT_BLOCKED,		/* would spawn, but budget or provider says no */
	ACT_STOP,		/* group wants state: stopped (hibernation) */
	ACT_START,		/* group wants state: running again */
	ACT_EXPIRED,		/* slot's instance reached its ttl: left empty */
};
const char *action_kind_name(enum action_kind);

struct action {
	enum action_kind kind;
	char		*fleet;		/* owned */
	char		*group;		/* owned */
	int		 slot;		/* -1: none */
	const struct fleet_spec *fs;	/* borrowed from ctx->spec */
	const struct group_spec *gs;	/* borrowed; NULL when not desired */
	char		*provider;	/* owned; spawn: first choice */
	int64_t		 uid;		/* ledger row (0: none) */
	char		*provider_id;	/* owned; NULL: none */
	char		*gpu;		/* owned */
	int		 gpu_count;
	money_t		 price;		/* per hour, for display and budget */
	money_t		 reserve;	/* what the budget reserves */
	enum inst_state	 to;		/* ACT_SYNC: the state to record */
	bool		 billing_end;	/* ACT_SYNC: billing ended now */
	bool		 counts_failure; /* a spinup timeout: the slot failed */
	bool		 pending_alloc;	/* ACT_WAIT on an allocation we made */
	bool		 stopping_wait;	/* ACT_WAIT on an unconfirmed end */
	bool		 has_seen;
	struct instance	 seen;		/* owned copy of what was listed */
	char		*spec_file;	/* owned; ACT_SYNC: the fleet moved */
	const char	*end_reason;	/* static; why this ends it ("ttl") */
	char		*reason;	/* owned; why */
};

struct fleet_money {
	char		*fleet;		/* owned */
	money_t		 before;	/* reserved now */
	money_t		 after;		/* reserved once the plan is done */
	money_t		 cap;		/* 0 with !has_cap */
	bool		 has_cap;
};

struct plan {
	struct action	*v;		/* owned */
	size_t		 n;
	struct fleet_money *fleets;	/* owned */
	size_t		 nfleets;
	money_t		 before, after;
	size_t		 nforeign;
	char		**warnings;	/* owned */
	size_t		 nwarnings;
	size_t		 nchanges;	/* actions that call a provider */
};

int	 plan_build(struct ctx *, const struct observation *, struct plan *,
	    struct gr_err *);
/* What a ledger row reserves against a budget now (seen may be NULL). */
money_t	 row_reserve(const struct ledger_inst *, const struct instance *);
void	 plan_release(struct plan *);
bool	 action_mutates(const struct action *);
void	 plan_print(const struct plan *, FILE *);
void	 plan_print_json(const struct plan *, FILE *);
char	*action_address(const struct action *);	/* owned */

/* exec.c: carry a plan out, provider calls in parallel. */
struct exec_result {
	size_t		 done;		/* actions that succeeded */
	size_t		 failed;
	size_t		 spawned;	/* instances made (or adopted) */
	size_t		 terminated;	/* terminations the provider took */
	enum gr_code	 worst;		/* the code that decides the exit */
	size_t		 mutating_calls;
	size_t		 skipped;	/* not started: the run is stopping */
};
int	 exec_plan(struct ctx *, const struct plan *, struct exec_result *);
/* Copy what a provider reports into a ledger row (billing start: now). */
void	 row_apply_seen(struct ledger_inst *, const struct instance *,
	    int64_t now);
int	 exec_terminate_row(struct ctx *, struct ledger_inst *, const char *,
	    int64_t wait_ms, bool *gone, struct gr_err *);

/* apply.c: repeat passes until converged or out of time. */
struct apply_opts {
	bool		 interactive;	/* ask before the first change */
	int64_t		 deadline_ms;	/* 0: from the timeouts */
};
struct apply_result {
	bool		 converged;
	size_t		 passes;
	size_t		 spawned;	/* instances made, not just decided */
	size_t		 terminated;	/* terminations the provider took */
	size_t		 mutating_calls;
	int64_t		 ms;
};
/* 0 when converged; else -1 with why in the error. */
int	 apply_run(struct ctx *, const struct apply_opts *,
	    struct apply_result *, struct gr_err *);
/*
 * One level-triggered pass, the unit apply and watch both repeat:
 * pass_plan observes and plans (-1 when observing failed), pass_exec
 * carries the plan out.  Uses c->run when set.
 */
struct pass {
	struct observation o;
	struct plan	 p;
	struct exec_result res;
	size_t		 waiting;	/* ACT_WAIT actions */
	size_t		 blocked;	/* ACT_BLOCKED actions */
	bool		 observed, planned;
};
int	 pass_plan(struct ctx *, struct pass *, struct gr_err *);
void	 pass_exec(struct ctx *, struct pass *);
void	 pass_release(struct pass *);

/*
 * watch.c: the daemon (`gpureconcile watch`): one poll loop around the
 * pass above, woken by inotify on the fleet directories, signals and
 * timers.  Returns 0 after SIGTERM or SIGINT, -1 with why on failure.
 */
int	 watch_run(struct ctx *, struct gr_err *);
/*
 * The inotify side, exported for tests: a recursive watch of the fleet
 * roots (and each root's parent, for the root's own name).
 */
#define WATCH_CHANGED	0x01u	/* something a reload must look at */
#define WATCH_OVERFLOW	0x02u	/* the kernel's queue overflowed */
struct watchset;
int	 watchset_new(const char *const *roots, size_t n, struct watchset **,
	    struct gr_err *);
void	 watchset_free(struct watchset *);
int	 watchset_fd(const struct watchset *);
/* Watch what is there now, drop what is gone; the number watched. */
int	 watchset_rescan(struct watchset *);
size_t	 watchset_count(const struct watchset *);
bool	 watchset_watches(const struct watchset *, const char *dir);
/* Read every pending event (non-blocking); WATCH_* flags. */
unsigned int watchset_read(struct watchset *);
/* Interpret a buffer of struct inotify_event; WATCH_* flags. */
unsigned int watchset_feed(struct watchset *, const void *, size_t);

/*
 * pull.c: download an instance's files, from a local directory or over
 * SFTP, safely (the rules are at the top of pull.c).
 */
struct pull_stats {
	size_t		 files;		/* written */
	size_t		 skipped;	/* already identical */
	size_t		 symlinks_skipped;
	size_t		 refused;	/* odd names, files swapped meanwhile */
	size_t		 bytes;
};
int	 pull_local_tree(const char *root, const char *remote,
	    const char *local, int64_t timeout_ms, struct pull_stats *,
	    struct gr_err *);
/* The same over an authenticated connection (ssh_connect). */
int	 pull_ssh_tree(struct ssh_conn *, const char *remote,
	    const char *local, int64_t timeout_ms, struct pull_stats *,
	    struct gr_err *);
/*
 * What pull makes of an entry name as a server listed it (len: the bytes
 * it sent): HOSTILE (empty, ".", "..", a '/' or a NUL inside: no file
 * system holds it; the pull stops), ODD (control characters: skipped).
 */
enum pull_name {
	PULL_NAME_OK = 0,
	PULL_NAME_ODD,
	PULL_NAME_HOSTILE,
};
enum pull_name pull_name_check(const char *name, size_t len);
/* cmd-check.c: what check makes of a linked libssh2 (version as
 * libssh2_version() says; debian_pkg: the Debian package of that version
 * is installed; debian_fixed: at its security update or later;
 * debian_lists: its changelog names the CVEs upstream 1.11.2 fixed). */
enum libssh2_verdict {
	LIBSSH2_OK = 0,		/* upstream with every fix known */
	LIBSSH2_OK_DEBIAN,	/* Debian's security update */
	LIBSSH2_OLD_DEBIAN,	/* a Debian package before it: warn */
	LIBSSH2_DEBIAN_UNLISTED, /* at it, but its changelog does not list
				 * the fixes of 1.11.2: warn */
	LIBSSH2_UNPATCHED_1111,	/* strict kex, CVE-2026-55200 open: warn */
	LIBSSH2_UNKNOWN,	/* older, patches unknown: warn */
};
enum libssh2_verdict libssh2_judge(const char *version, bool debian_pkg,
	    bool debian_fixed, bool debian_lists);
/* The memory listings may hold at once (0: the default, 256 MiB); tests. */
void	 pull_set_held_max(size_t bytes);

/* cmd.c: the command table. */
#define CMD_NEEDS_LEDGER	0x01	/* open (create) the ledger */
#define CMD_NEEDS_LOCK		0x02	/* hold the writer lock */
#define CMD_NEEDS_SPEC		0x04	/* load the fleet files */
#define CMD_READS_LEDGER	0x08	/* open the ledger if it exists */
#define CMD_NEEDS_CONFIG	0x10	/* the config only (check opens the rest) */

struct cmd_entry {
	const char	*name;
	const char	*alias;
	const char	*usage;		/* options after the name */
	const char	*summary;	/* one line */
	const char	*help;		/* paragraphs for `help NAME` */
	int		 flags;
	int		(*exec)(struct ctx *, int argc, char **argv);
};

extern const struct cmd_entry cmd_plan_entry;
extern const struct cmd_entry cmd_apply_entry;
extern const struct cmd_entry cmd_watch_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_drift_entry;
extern const struct cmd_entry cmd_check_entry;
extern const struct cmd_entry cmd_provider_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_ledger_entry;

const struct cmd_entry *cmd_find(const char *);
size_t	 cmd_count(void);
const struct cmd_entry *cmd_at(size_t);
void	 cmd_print_usage(FILE *);
void	 cmd_print_help(const struct cmd_entry *, FILE *);

/* Report an error on stderr and return its exit code. */
int	 report_error(const struct gr_err *);
/* output.c: "2026-11-23T00:00:00Z" or a duration ago ("24h", "7d"). */
bool	 time_arg_parse(const char *, int64_t now, int64_t *ms);
/* A row's billed price times its billed time up to now. */
money_t	 row_cost(const struct ledger_inst *, int64_t now);
/* "fleet/group/slot", or "adhoc/NAME"; owned. */
char	*row_address(const struct ledger_inst *);
/* history.c: `status --history`, the audit trail. */
int	 status_history(struct ctx *);

#endif /* GR_RECONCILER_H */
