/*
 * provider.h: the provider interface (DESIGN.md section 4), the registry,
 * and the wrappers through which the core calls every provider.
 *
 * Rules every provider keeps:
 * - terminate is idempotent: an instance already gone is success;
 * - list returns every instance the account has, each with the owner
 *   label it was created with (NULL when it has none), so the reconciler
 *   can tell ours from foreign;
 * - errors use the taxonomy of util.h (gr_err_set with a GR_E_* code),
 *   one lowercase line naming what failed, and a hint when the user can act;
 * - every op may be called from several threads at once.
 */
#ifndef GR_PROVIDER_H
#define GR_PROVIDER_H

#include <sys/types.h>

#include "../util/util.h"

/* Capability flags: the 11 of the provider seed. */
#define PROV_CAP_SNAPSHOTS		0x0001u
#define PROV_CAP_SPOT			0x0002u
#define PROV_CAP_GPU			0x0004u
#define PROV_CAP_MULTI_REGION		0x0008u
#define PROV_CAP_PERSISTENT_VOLUMES	0x0010u
#define PROV_CAP_WARM_VOLUMES		0x0020u
#define PROV_CAP_HIBERNATION		0x0040u
#define PROV_CAP_COST_EXPLORER		0x0080u
#define PROV_CAP_TAILSCALE_NATIVE	0x0100u
#define PROV_CAP_IDEMPOTENT_SPAWN	0x0200u
#define PROV_CAP_CUSTOM_NETWORKING	0x0400u
#define PROV_CAP__COUNT			11
/* "snapshots", "spot", ... in bit order. */
const char *provider_cap_name(unsigned int bit_index);

/* What a provider reports about one instance. */
struct instance {
	char		*id;		/* provider's id; owned */
	char		*label;		/* owner label; owned; NULL: none */
	enum inst_state	 state;		/* mapped from the provider's status */
	bool		 billing;	/* the provider bills it now */
	money_t		 price;		/* billed per hour */
	char		*gpu;		/* canonical name (or provider's own) */
	int		 gpu_count;
	char		*region;	/* owned; NULL: unknown */
	char		*ssh_host;	/* owned; NULL: not yet known */
	int		 ssh_port;
	char		*ssh_user;	/* owned; NULL: not yet known */
	char		*status;	/* owned; the provider's own word */
	int64_t		 created_ms;	/* 0: unknown */
	char		*files_root;	/* owned; a local directory holding the
					 * instance's files (local provider),
					 * what pull reads when there is no
					 * ssh_host; NULL: none */
	char		*ssh_key;	/* owned; the private key the provider
					 * set up for it; NULL: the config's
					 * ssh_key or ~/.ssh's */
};

struct instance_list {
	struct instance	*v;		/* owned */
	size_t		 n;
};

struct offer {
	char		*id;		/* owned; what spawn needs to rent it */
	char		*gpu;		/* owned; canonical name */
	int		 gpu_count;
	int		 vram_gb;	/* per GPU */
	money_t		 price;		/* per instance-hour */
	char		*region;	/* owned; NULL: unknown */
	int		 available;	/* how many can be rented now */
	bool		 spot;
};

struct offer_list {
	struct offer	*v;		/* owned; cheapest first */
	size_t		 n;
};

struct spawn_req {
	const char	*label;		/* owner label: gr-<ledger id>-<uid> */
	const char	*address;	/* "fleet/group/slot", for messages */
	const struct gpu_req *gpu;
	money_t		 max_price;	/* never rent above this */
	int		 disk_gb;
	const char	*image;		/* NULL: the provider's default */
	const char *const *regions;	/* nregions == 0: anywhere */
	size_t		 nregions;
	bool		 spot;
	const char	*bootstrap;	/* script text; NULL: none */
	size_t		 bootstrap_len;
	const struct kv	*env;
	size_t		 nenv;
	const struct offer *offer;	/* chosen offer; NULL: provider picks */
};

struct provider_timeouts {
	int64_t		 spinup_ms;	/* default 5 min */
	int64_t		 pending_report_ms; /* "still pending" every 60 s */
	int64_t		 teardown_ms;	/* default 2 min */
	int64_t		 ssh_connect_ms; /* default 10 s */
	int		 ssh_retries;	/* default 3 */
	int64_t		 pull_ms;	/* default 10 min */
	int64_t		 grace_ms;	/* fresh spawn may be missing from list */
};

struct provider_conf {
	const char	*name;		/* registry name */
	const char	*state_dir;	/* gpureconcile's state dir */
	const char	*ledger_id;	/* owner labels start gr-<ledger_id>- */
	const struct kv	*options;	/* provider settings from the config */
	size_t		 noptions;
	struct provider_timeouts timeouts;
};

enum prov_op {
	PROV_OP_OFFERS = 0,
	PROV_OP_SPAWN,
	PROV_OP_TERMINATE,
	PROV_OP_LIST,
	PROV_OP_GET,
	PROV_OP_STOP,
	PROV_OP_START,
	PROV_OP__COUNT
};
const char *prov_op_name(enum prov_op);

struct provider;

/* What a heartbeat found: the provider's health and its instances. */
struct heartbeat {
	bool		 healthy;
	size_t		 ninstances;	/* everything the account has */
	size_t		 nours;		/* carrying this ledger's label */
	size_t		 nrunning, npending, nstopping;
	int64_t		 latency_ms;	/* of the list call */
	char		 detail[256];
};

struct provider_ops {
	const char	*name;
	unsigned int	 caps;		/* PROV_CAP_* */
	int	(*init)(struct provider *, const struct provider_conf *,
		    struct gr_err *);
	void	(*fini)(struct provider *);
	int	(*offers)(struct provider *, const struct gpu_req *,
		    struct offer_list *, struct gr_err *);
	int	(*spawn)(struct provider *, const struct spawn_req *,
		    struct instance *, struct gr_err *);
	int	(*terminate)(struct provider *, const char *id,
		    struct gr_err *);
	int	(*list)(struct provider *, struct instance_list *,
		    struct gr_err *);
	int	(*get)(struct provider *, const char *id, struct instance *,
		    struct gr_err *);	/* GR_E_NOT_FOUND when gone */
	int	(*stop)(struct provider *, const char *id, struct gr_err *);
	int	(*start)(struct provider *, const char *id, struct gr_err *);
	/* Lifecycle hooks; NULL gets the wrappers' default (see wrap.c). */
	int	(*startup)(struct provider *, struct gr_err *);
	void	(*shutdown)(struct provider *);
	int	(*heartbeat)(struct provider *, struct heartbeat *,
		    struct gr_err *);
};

/* A live provider: created by provider_new, freed by provider_free. */
struct provider {
	const struct provider_ops *ops;
	char		*name;		/* owned */
	char		*ledger_id;	/* owned */
	struct provider_timeouts timeouts;
	void		*priv;		/* the provider's own state */
	char		*cred_source;	/* owned; where its key came from;
					 * NULL: it needs none */
	/* statistics kept by the wrappers (atomic) */
	uint64_t	 calls[PROV_OP__COUNT];
	uint64_t	 errors[PROV_OP__COUNT];
};

/* instance.c */
void	 instance_release(struct instance *);
void	 instance_copy(struct instance *dst, const struct instance *src);
/* Drop SSH host or user details that are not a host or a user name. */
void	 instance_ssh_sanitize(struct instance *, const char *provider);
/* Append a zeroed instance and return it (owned by the list). */
struct instance *instance_list_add(struct instance_list *);
void	 instance_list_release(struct instance_list *);
const struct instance *instance_list_find(const struct instance_list *,
	    const char *id);
struct offer *offer_list_add(struct offer_list *);
void	 offer_list_release(struct offer_list *);
void	 offer_list_sort(struct offer_list *);	/* cheapest first */
const char *kv_get(const struct kv *, size_t, const char *key);
/*
 * Every provider's first check of its options: each key must be one of
 * keys (else GR_E_CONFIG with a "did you mean", or the list of keys) and
 * given once.
 */
int	 provider_options_check(const char *provider,
	    const struct provider_conf *, const char *const *keys, size_t nkeys,
	    struct gr_err *);

/* registry.c */
const struct provider_ops *provider_ops_find(const char *name);
size_t	 provider_ops_count(void);
const struct provider_ops *provider_ops_at(size_t);
/* Rejects duplicate names; called once at start.  -1 on a bad table. */
int	 provider_registry_check(struct gr_err *);
void	 provider_timeouts_default(struct provider_timeouts *);
int	 provider_new(const struct provider_conf *, struct provider **,
	    struct gr_err *);
void	 provider_free(struct provider *);
bool	 provider_has_cap(const struct provider *, unsigned int);

/*
 * wrap.c: the only way the core calls a provider.  Each wrapper turns an
 * empty slot into GR_E_UNSUPPORTED, logs the call at debug level, times
 * it, counts it, fills in the provider name on errors, and consults the
 * fault-injection hook first.
 */
typedef int (*provider_inject_fn)(struct provider *, enum prov_op,
	    const char *id, struct gr_err *, void *arg);
void	 provider_set_inject(provider_inject_fn, void *arg);
int	 provider_offers(struct provider *, const struct gpu_req *,
	    struct offer_list *, struct gr_err *);
int	 provider_spawn(struct provider *, const struct spawn_req *,
	    struct instance *, struct gr_err *);
int	 provider_terminate(struct provider *, const char *id,
	    struct gr_err *);
int	 provider_list(struct provider *, struct instance_list *,
	    struct gr_err *);
int	 provider_get(struct provider *, const char *id, struct instance *,
	    struct gr_err *);
int	 provider_stop(struct provider *, const char *id, struct gr_err *);
int	 provider_start(struct provider *, const char *id, struct gr_err *);
/*
 * Lifecycle hooks, what `check` and `watch` call.  startup: credentials
 * and reachability (default: one list call succeeds).  shutdown: let go of
 * connections (default: nothing).  heartbeat: a health check and a count
 * of the provider's instances, ours and others (default: one list).
 */
int	 provider_startup(struct provider *, struct gr_err *);
void	 provider_shutdown(struct provider *);
int	 provider_heartbeat(struct provider *, struct heartbeat *,
	    struct gr_err *);

/*
 * bootstrap.c: the provider-facing script of a group, generated once per
 * group: a POSIX sh script that exports the group's env and runs the
 * user's script (whatever its interpreter).  The same input always gives
 * the same bytes; the checksum (SHA-256 of the content) is recorded in
 * the ledger.
 */
struct bootstrap {
	char		*content;	/* owned */
	size_t		 len;
	const char	*format;	/* "sh" */
	char		 checksum[65];
};
int	 bootstrap_generate(const char *script, size_t len,
	    const struct kv *env, size_t nenv, struct bootstrap *,
	    struct gr_err *);
void	 bootstrap_release(struct bootstrap *);

/* The providers; each file exports only its ops (fake adds test knobs). */
extern const struct provider_ops local_provider_ops;	/* local.c */
extern const struct provider_ops fake_provider_ops;	/* fake.c */
extern const struct provider_ops runpod_provider_ops;	/* runpod.c */
extern const struct provider_ops vastai_provider_ops;	/* vastai.c */
extern const struct provider_ops lambda_provider_ops;	/* lambda.c */

/*
 * local.c: the GPUs of this machine, as nvidia-smi reports them or the
 * config declares them.  The parser is exported for tests.
 */
struct local_gpu {
	int		 index;		/* nvidia-smi's index, what
					   CUDA_VISIBLE_DEVICES names */
	char		*uuid;		/* owned; NULL when declared */
	char		*name;		/* owned; nvidia-smi's name, or the
					   canonical one when declared */
	const struct gpu_model *model;	/* NULL: not in the catalog */
	int		 mem_mib;	/* memory.total; 0: unknown */
};
/*
 * Parse the output of nvidia-smi --query-gpu=index,uuid,name,memory.total
 * --format=csv,noheader,nounits (a header line, units and further columns
 * are tolerated).  *gpus is owned by the caller: local_gpus_free.
 */
int	 local_parse_nvsmi(const char *csv, struct local_gpu **gpus,
	    size_t *ngpus, struct gr_err *);
void	 local_gpus_free(struct local_gpu *, size_t);

/*
 * fake.c: knobs for tests and the deterministic simulation.  The fake is
 * in-process and deterministic; all time is clock_now_ms() (util.h), so a
 * virtual clock drives boots and billing.
 */
struct fake_fault {
	enum prov_op	 op;
	enum gr_code	 code;
	int		 times;		/* how many calls fail; -1: forever */
	bool		 after_apply;	/* act, then lose the reply */
	int64_t		 retry_after_ms; /* for RATE_LIMIT; -1: none */
	const char	*gpu;		/* only spawns of this GPU; NULL: all */
};
void	 fake_fault_add(struct provider *, const struct fake_fault *);
void	 fake_faults_clear(struct provider *);
void	 fake_set_capacity(struct provider *, const char *gpu, int n);
void	 fake_set_price(struct provider *, const char *gpu, money_t);
/* What the fake bills when it differs from its offer price (drift). */
void	 fake_set_billed_price(struct provider *, const char *id, money_t);
void	 fake_set_boot_ms(struct provider *, int64_t);
/* New instances stay out of list for this long (late visibility). */
void	 fake_set_list_delay_ms(struct provider *, int64_t);
/* Each call advances the virtual clock by this much (0: none). */
void	 fake_set_latency_ms(struct provider *, int64_t);
/* A spot interruption: the instance is gone, its billing ended. */
int	 fake_interrupt(struct provider *, const char *id);
/* An instance someone else made in the same account. */
void	 fake_add_foreign(struct provider *, const char *label,
	    const char *gpu);
/* Instances whose billing has not ended, and the total billed so far. */
size_t	 fake_billing_count(struct provider *);
money_t	 fake_billed_total(struct provider *);
uint64_t fake_calls(struct provider *, enum prov_op);
/*
 * Added with fake.c: a terminated instance stays STOPPING, and billing,
 * this long before it is gone (0, the default: gone at once).
 */
void	 fake_set_teardown_ms(struct provider *, int64_t);
/*
 * While set, terminations never finish: the instance stays STOPPING and
 * billing (billing end never confirmed).  Clearing it lets the hung ones
 * finish one teardown delay later.
 */
void	 fake_set_teardown_stuck(struct provider *, bool);
/* What one instance has been billed so far (0: unknown id). */
money_t	 fake_instance_billed(struct provider *, const char *id);

/*
 * cred.c: API keys, resolved in the order of DESIGN.md section 9: an
 * explicit key file, the provider's environment variable (VAST_API_KEY,
 * RUNPOD_API_KEY, LAMBDA_API_KEY), the system keyring (secret-tool lookup
 * service <provider> username <VAR>), systemd's $CREDENTIALS_DIRECTORY/<VAR>,
 * then dotenv files (.env.<provider>, .env) in the working directory.  Key
 * files must belong to the user and not be readable by others.  A key is
 * never logged, put in a URL, an error, the ledger or a child's argv.
 */
struct cred {
	char		*key;		/* owned; wiped on release */
	char		*source;	/* owned: "env VAST_API_KEY", "file PATH" */
};
/* The environment variable of a provider ("VAST_API_KEY"), or NULL. */
const char *cred_env_var(const char *provider);
/* key_file may be NULL.  GR_E_AUTH (with a hint) when none is found. */
int	 cred_resolve(const char *provider, const char *key_file,
	    struct cred *, struct gr_err *);
void	 cred_release(struct cred *);

/*
 * http.c: the only user of libcurl.  TLS verification always on; plain
 * http:// only for loopback hosts; connect and total timeouts and a
 * low-speed abort; a cap on the response size; no redirects; connection
 * reuse per client; User-Agent "gpureconcile/<version>"; the key sent as
 * "Authorization: Bearer" and redacted from every trace and error.
 */
struct http_client;

struct http_req {
	const char	*method;	/* "GET", "POST", "PUT", "DELETE" */
	const char	*path;		/* appended to the base URL */
	const char	*body;		/* NULL: none */
	size_t		 body_len;
	const char	*content_type;	/* default application/json */
};

struct http_resp {
	long		 status;	/* 0: no response */
	char		*body;		/* owned; NUL-terminated */
	size_t		 len;
	char		*content_type;	/* owned; NULL: none */
	int64_t		 retry_after_ms; /* -1: none given */
	struct kv	*headers;	/* owned; lowercase names */
	size_t		 nheaders;
	/* Added with http.c: for http_classify's hints. */
	char		*key_source;	/* owned; where the key sent came
					   from ("env VAST_API_KEY"); NULL:
					   none was sent */
};

struct http_opts {
	int64_t		 connect_timeout_ms;	/* default 10 s */
	int64_t		 timeout_ms;		/* default 60 s, whole call */
	int64_t		 max_body;		/* default 16 MiB */
	int64_t		 min_interval_ms;	/* client-side pacing; 0: none */
};

/* base_url like "https://console.vast.ai" or "http://127.0.0.1:8080". */
int	 http_client_new(const char *provider, const char *base_url,
	    const struct cred *, const struct http_opts *,
	    struct http_client **, struct gr_err *);
void	 http_client_free(struct http_client *);
/*
 * Do one request.  Returns 0 whenever a response arrived (any status; the
 * caller maps provider-specific bodies), -1 on transport failure with the
 * taxonomy code set (TRANSIENT, with outcome_unknown when the request may
 * have been sent) and the key redacted from the message.
 */
int	 http_do(struct http_client *, const struct http_req *,
	    struct http_resp *, struct gr_err *);
void	 http_resp_release(struct http_resp *);
const char *http_resp_header(const struct http_resp *, const char *name);
/*
 * The generic mapping of an HTTP status onto the taxonomy: 401/403 AUTH,
 * 404/410 NOT_FOUND, 408/425/5xx TRANSIENT, 429 RATE_LIMIT (with
 * Retry-After, clamped), 400/409/422 INVALID_SPEC, 402 QUOTA_EXCEEDED.
 * Sets e (msg "what failed: HTTP <status>: <short body>") and returns -1
 * for status >= 400; 0 otherwise.  Providers refine it for their bodies.
 * Added with http.c: a 3xx is -1 too (GR_E_CONFIG, "check base_url"):
 * redirects are never followed, and a redirected DELETE taken for success
 * would leave an instance billing.  500, 502, 504 and other 5xx but 503
 * set outcome_unknown (the server, or one behind a gateway, may have
 * acted); 408, 425, 429 and 503 do not.  Other 4xx are INVALID_SPEC.
 */
int	 http_classify(const char *what, const struct http_resp *,
	    struct gr_err *);
/* Parse a Retry-After value (seconds or an HTTP date) into ms; -1. */
int64_t	 http_parse_retry_after(const char *, int64_t now_ms);
/*
 * Added with http.c: scrubbing a secret out of text.  http_redact returns
 * a new string (the caller frees it) with every occurrence of secret
 * replaced by "[redacted]"; http_err_redact does the same to an error's
 * message and hint in place.  A NULL or empty secret changes nothing.
 */
char	*http_redact(const char *text, size_t len, const char *secret);
void	 http_err_redact(struct gr_err *, const char *secret);

/*
 * ssh.c: the only user of libssh2 (see its top comment): connect with a
 * connect timeout and retries, verify the host key against gpureconcile's
 * own known_hosts file (trust on first use, keyed by provider and
 * instance), authenticate with a private key file, and read over SFTP.
 */
struct ssh_target {
	const char	*host;
	int		 port;
	const char	*user;
	const char	*key_path;	/* private key; NULL: none */
	const char	*known_hosts;	/* gpureconcile's own file */
	const char	*provider;	/* the host key is recorded under */
	const char	*instance_id;	/* provider and instance */
	int64_t		 connect_timeout_ms; /* 0: 10 s */
	int		 retries;	/* after the first attempt */
};

enum ssh_ftype {
	SSH_F_REG = 0,
	SSH_F_DIR,
	SSH_F_LINK,
	SSH_F_OTHER,
};

struct ssh_stat {
	enum ssh_ftype	 type;
	uint64_t	 size;
	int64_t		 mtime;		/* seconds */
	unsigned int	 perm;		/* permission bits (0777); 0: not sent */
	bool		 has_size;
	bool		 has_mtime;
};

struct ssh_dirent {
	char		*name;		/* owned; as the server sent it */
	size_t		 name_len;	/* bytes sent (a NUL inside shows) */
	struct ssh_stat	 st;		/* lstat-like: links are links */
};

struct ssh_conn;
struct ssh_file;

const char *ssh_lib_version(void);	/* the linked libssh2, "1.10.0" */
bool	 ssh_lib_has_strict_kex(void);	/* 1.11.1 or later */
/* "SHA256:<base64>" of a public key blob, as OpenSSH prints it. */
void	 ssh_fingerprint_blob(const void *, size_t, char out[64]);
/*
 * Connect, verify the host key and authenticate.  GR_E_AUTH on a changed
 * host key (nothing else is done) or a refused key; TRANSIENT or TIMEOUT
 * when the host cannot be reached after the retries.
 */
int	 ssh_connect(const struct ssh_target *, struct ssh_conn **,
	    struct gr_err *);
const char *ssh_conn_fingerprint(const struct ssh_conn *);
bool	 ssh_conn_first_use(const struct ssh_conn *); /* key just recorded */
void	 ssh_close(struct ssh_conn *);
/* Every later call gives up at deadline_ms (clock_mono_ms); 0: none. */
void	 ssh_set_deadline(struct ssh_conn *, int64_t deadline_ms);
/* Drop the recorded key of an instance; GR_E_NOT_FOUND when none. */
int	 ssh_known_forget(const char *known_hosts, const char *provider,
	    const char *id, char old_fp[64], struct gr_err *);
int	 ssh_sftp_lstat(struct ssh_conn *, const char *path,
	    struct ssh_stat *, struct gr_err *);
/*
 * Every entry of a directory but what the server sends for . and ..;
 * GR_E_IO once the listing would take more than max_bytes of memory
 * (ssh_dirent_cost each) or hold more than a million entries.
 */
int	 ssh_sftp_list(struct ssh_conn *, const char *path, size_t max_bytes,
	    struct ssh_dirent **, size_t *, struct gr_err *);
size_t	 ssh_dirent_cost(size_t name_len);
void	 ssh_dirents_free(struct ssh_dirent *, size_t);
/* Open for reading; st: the open file's attributes. */
int	 ssh_sftp_open(struct ssh_conn *, const char *path,
	    struct ssh_file **, struct ssh_stat *st, struct gr_err *);
ssize_t	 ssh_sftp_read(struct ssh_file *, void *, size_t, struct gr_err *);
void	 ssh_sftp_close(struct ssh_file *);

#endif /* GR_PROVIDER_H */
