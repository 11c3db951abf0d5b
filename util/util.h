/*
 * util.h: the base layer every directory may include (and that includes
 * nothing else of ours): memory, growable strings, logging, the error
 * struct and its one code table, money and durations, the clock, the GPU
 * catalog and small helpers.
 *
 * DESIGN.md lists spec/, providers/, state/ and reconciler/; it is silent
 * on where the pieces all of them need belong.  They live here, so that
 * includes still flow one way: reconciler -> {spec, providers, state} ->
 * util.
 */
#ifndef GR_UTIL_H
#define GR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_VERSION	"0.1.0"

#define GR_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#define GR_NORETURN	__attribute__((noreturn))
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* xmalloc.c: allocation that aborts on failure; we are an application. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) GR_PRINTF(1, 2);
char	*xvasprintf(const char *, va_list) GR_PRINTF(1, 0);
void	 fatal(const char *, ...) GR_PRINTF(1, 2) GR_NORETURN;
void	 fatalx(const char *, ...) GR_PRINTF(1, 2) GR_NORETURN;
void	 bug_at(const char *, int, const char *, ...) GR_PRINTF(3, 4)
	    GR_NORETURN;
#define BUG(...)	bug_at(__FILE__, __LINE__, __VA_ARGS__)

/* buf.c: a growable string, always NUL-terminated once used. */
struct buf {
	char	*s;		/* owned; NULL until something is added */
	size_t	 len;
	size_t	 cap;
};
#define BUF_INIT	{ NULL, 0, 0 }
void	 buf_init(struct buf *);
void	 buf_release(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_adds(struct buf *, const char *);
void	 buf_addc(struct buf *, char);
void	 buf_addf(struct buf *, const char *, ...) GR_PRINTF(2, 3);
void	 buf_vaddf(struct buf *, const char *, va_list) GR_PRINTF(2, 0);
const char *buf_str(const struct buf *);	/* "" when empty; borrowed */
char	*buf_detach(struct buf *);		/* caller owns; buf reset */

/* log.c: stderr (or syslog) diagnostics; never log a secret. */
enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};
void	 log_init(int verbosity, bool use_syslog, const char *ident);
int	 log_verbosity(void);
void	 log_warn(const char *, ...) GR_PRINTF(1, 2);	/* adds strerror */
void	 log_warnx(const char *, ...) GR_PRINTF(1, 2);
void	 log_info(const char *, ...) GR_PRINTF(1, 2);
void	 log_debug(const char *, ...) GR_PRINTF(1, 2);
/* A sink for tests: every line goes to fn as well (NULL to remove). */
void	 log_set_capture(void (*fn)(int, const char *, void *), void *);

/* err.c: one error struct, one code table. */
enum gr_code {
	GR_OK = 0,
	/* the provider taxonomy, DESIGN.md section 4 */
	GR_E_CAPACITY,
	GR_E_AUTH,
	GR_E_RATE_LIMIT,
	GR_E_SPOT_INTERRUPTED,
	GR_E_QUOTA_EXCEEDED,
	GR_E_INVALID_SPEC,
	GR_E_NOT_FOUND,
	GR_E_TRANSIENT,
	/* everything that is not a provider's answer */
	GR_E_UNSUPPORTED,	/* the provider lacks the operation */
	GR_E_USAGE,		/* bad command line */
	GR_E_SPEC,		/* fleet files do not parse or validate */
	GR_E_CONFIG,		/* config file is wrong */
	GR_E_LOCKED,		/* another process holds the ledger lock */
	GR_E_LEDGER,		/* the ledger cannot be read or written */
	GR_E_IO,		/* a local file or process operation failed */
	GR_E_TIMEOUT,		/* we gave up waiting */
	GR_E_UNCONFIRMED,	/* billing end could not be confirmed */
	GR_E_BUDGET,		/* a spend cap refused the action */
	GR_E_INTERNAL,
	GR_E__COUNT
};

enum gr_category {
	GR_CAT_NONE = 0,
	GR_CAT_CAPACITY,
	GR_CAT_AUTH,
	GR_CAT_RATE_LIMIT,
	GR_CAT_VALIDATION,
	GR_CAT_NOT_FOUND,
	GR_CAT_TRANSIENT,
	GR_CAT_LOCAL,
};

/* Exit codes (sysexits.h values where one fits). */
#define GR_EXIT_OK		0
#define GR_EXIT_ERROR		1
#define GR_EXIT_CHANGES		2	/* plan --detailed-exitcode, drift */
#define GR_EXIT_USAGE		64
#define GR_EXIT_DATAERR		65
#define GR_EXIT_NOINPUT		66
#define GR_EXIT_UNAVAILABLE	69
#define GR_EXIT_SOFTWARE	70
#define GR_EXIT_IOERR		74
#define GR_EXIT_TEMPFAIL	75
#define GR_EXIT_NOPERM		77
#define GR_EXIT_CONFIG		78

struct gr_err {
	enum gr_code	 code;
	int		 http_status;	/* 0 when not from HTTP */
	int64_t		 retry_after_ms; /* -1 when the provider gave none */
	bool		 outcome_unknown; /* request sent, reply lost */
	char		 provider[32];
	char		 msg[512];
	char		 hint[256];
	const char	*file;		/* where it was set, for -vv */
	int		 line;
};

void	 gr_err_clear(struct gr_err *);
void	 gr_err_set_at(struct gr_err *, const char *, int, enum gr_code,
	    const char *, ...) GR_PRINTF(5, 6);
#define gr_err_set(e, code, ...) \
	gr_err_set_at((e), __FILE__, __LINE__, (code), __VA_ARGS__)
void	 gr_err_hint(struct gr_err *, const char *, ...) GR_PRINTF(2, 3);
void	 gr_err_prefix(struct gr_err *, const char *, ...) GR_PRINTF(2, 3);
void	 gr_err_copy(struct gr_err *, const struct gr_err *);
/* "msg (hint: ...)" into a caller buffer; returns it. */
const char *gr_err_str(const struct gr_err *, char *, size_t);
const char *gr_code_name(enum gr_code);		/* "CAPACITY" */
bool	 gr_code_parse(const char *, enum gr_code *);
enum gr_category gr_code_category(enum gr_code);
const char *gr_category_name(enum gr_category);
bool	 gr_code_retryable(enum gr_code);
int	 gr_code_exit(enum gr_code);

/*
 * money.c: amounts are integer micro-dollars (1e-6 USD), so that sums are
 * exact.  The one syntax: digits, optionally '.' and 1 to 6 digits
 * ("4", "0.70", "1.234567"); no sign, no exponent, no currency sign.
 */
typedef int64_t money_t;
#define MONEY_UNIT	((money_t)1000000)
#define MONEY_MAX	((money_t)1000000 * 1000000)	/* $1M */
bool	 money_parse(const char *, money_t *, const char **why);
/* "0.70", "4.00", "1.234567": at least two decimals. */
const char *money_fmt(money_t, char *, size_t);
/* Cost of running at rate per hour for ms milliseconds, rounded. */
money_t	 money_cost(money_t rate_per_hour, int64_t ms);
double	 money_to_double(money_t);

/*
 * duration.c: one or more <digits><unit> with unit s, m, h or d, largest
 * first ("90s", "15m", "12h", "7d", "1h30m"); at most 365 days.
 */
bool	 duration_parse(const char *, int64_t *secs, const char **why);
const char *duration_fmt(int64_t secs, char *, size_t);
/* "250ms" (at most 60000ms), or a duration as above; in ms. */
bool	 duration_parse_ms(const char *, int64_t *ms, const char **why);

/*
 * clock.c: all time goes through here so that tests and the deterministic
 * simulation can run on a virtual clock.  Milliseconds since the epoch.
 */
struct clock_ops {
	int64_t	(*now_ms)(void *);
	void	(*sleep_ms)(void *, int64_t);
	void	 *arg;
};
int64_t	 clock_now_ms(void);
void	 clock_sleep_ms(int64_t);
void	 clock_set(const struct clock_ops *);	/* NULL: the real clock */
int64_t	 clock_mono_ms(void);	/* real monotonic, for timing calls */
/*
 * A virtual clock: time stands still except when someone sleeps (which
 * advances it at once) or calls clock_advance_ms.  Thread-safe.
 */
void	 clock_use_virtual(int64_t start_ms);
void	 clock_advance_ms(int64_t);
bool	 clock_is_virtual(void);
/* "2026-02-12T10:00:00Z" */
const char *time_iso8601(int64_t ms, char *, size_t);
const char *age_fmt(int64_t ms, char *, size_t);	/* "3h12m" */

/* catalog.c: canonical GPU names and what each provider calls them. */
struct gpu_model {
	const char	*name;		/* canonical: "RTX_4090" */
	int		 vram_gb;
	const char	*vastai;	/* gpu_name in bundles search */
	const char	*runpod;	/* gpuTypeId */
	const char	*lambda;	/* instance type stem, or NULL */
	const char	*nvsmi;		/* substring of nvidia-smi's name */
};
#define GPU_CPU	"CPU"	/* pseudo-type: no GPU, a CPU slot */
const struct gpu_model *catalog_find(const char *name);
const struct gpu_model *catalog_from_provider(const char *provider,
	    const char *provider_name);
const struct gpu_model *catalog_from_nvsmi(const char *nvsmi_name);
size_t	 catalog_count(void);
const struct gpu_model *catalog_at(size_t);

/* What a group asks of each instance's GPUs (spec fills it, providers
 * read it). */
struct gpu_req {
	char		*type;		/* canonical catalog name; owned */
	int		 count;		/* GPUs per instance; 0 for CPU */
	int		 min_vram_gb;	/* 0: the catalog's figure is enough */
};

/*
 * The instance state machine of DESIGN.md section 5, shared by the
 * ledger (what we recorded) and providers (what they report).  IDLE is a
 * ledger row whose spawn intent is committed but whose outcome is not yet
 * known.
 */
enum inst_state {
	INST_IDLE = 0,
	INST_PENDING,
	INST_RUNNING,
	INST_STOPPING,
	INST_STOPPED,
	INST_TERMINATED,
};
const char *inst_state_name(enum inst_state);	/* "RUNNING" */
bool	 inst_state_parse(const char *, enum inst_state *);

/* misc.c */
/* Closest candidate within edit distance 3 (case-insensitive), or NULL. */
const char *str_suggest(const char *, const char *const *, size_t);
bool	 str_has_prefix(const char *, const char *);
bool	 str_has_suffix(const char *, const char *);
/* SHA-256 of data as 64 lowercase hex digits plus NUL. */
void	 sha256_hex(const void *, size_t, char out[65]);
/* n random bytes as 2n hex digits plus NUL (getrandom). */
void	 random_hex(char *out, size_t nbytes);
/* Read a whole file, at most max bytes; -1 and errno on failure. */
int	 file_read(const char *path, size_t max, char **out, size_t *len);
/* Write via temp file + fsync + rename. */
int	 file_write_atomic(const char *path, const void *, size_t, int mode);
int	 mkdir_p(const char *path, int mode);
/* Remove a directory tree; never follows symlinks. */
int	 rmtree(const char *path);

/* proc.c */
struct proc_result {
	struct buf	 out;		/* stdout, at most max_out bytes */
	struct buf	 err;		/* stderr, at most 4 KiB */
	int		 status;	/* exit status; -1: none */
	int		 signal;	/* killed by it; 0: not */
	int		 spawn_errno;	/* could not run it (ENOENT: absent) */
	bool		 timed_out;	/* killed at the deadline */
};
/*
 * Run argv (argv[0] looked up on PATH; no shell) with stdin /dev/null
 * and envp (NULL: ours; pass a scrubbed one) for at most timeout_ms.
 * 0 when it ran and exited 0; release res either way.
 */
int	 proc_run(char *const argv[], char *const envp[], int timeout_ms,
	    size_t max_out, struct proc_result *res);
void	 proc_result_release(struct proc_result *);

/* git.c */
/*
 * The commit checked out in the git work tree that holds path (a file or
 * a directory), with "+dirty" appended when path, or anything under it,
 * differs from that commit; NULL when path is in no work tree, the
 * repository has no commit, or git is absent or refuses it.
 */
char	*git_describe(const char *path);
void	 git_set_program(const char *);	/* tests; NULL: git on PATH */

/*
 * Owner labels: "gr-<ledger id>-<uid>", unique per ledger, so two ledgers
 * sharing one account never touch each other's instances.
 */
char	*owner_label(const char *ledger_id, int64_t uid);
/* If label is this ledger's, set *uid and return true. */
bool	 owner_label_parse(const char *label, const char *ledger_id,
	    int64_t *uid);
/* True for any gr-<hex>-<n> label, whichever ledger made it. */
bool	 owner_label_is_gr(const char *label);

/* kv: an owned key/value pair, for env maps and options. */
struct kv {
	char	*key;
	char	*value;
};
void	 kv_free(struct kv *, size_t);

#endif /* GR_UTIL_H */
