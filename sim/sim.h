/*
 * sim.h: gpureconcile-sim, a simulated cloud on loopback that speaks the
 * Vast.ai, RunPod (REST v2 + GraphQL) and Lambda APIs as PROVIDER-APIS.md
 * describes them, with boot delays, capacity, prices, rate limits, seeded
 * fault injection and its own billing record (DESIGN.md section 10).
 *
 * One process is every provider: each API lives under its own path prefix
 * (/vast, /runpod, /lambda) and the control API under /_sim/.  All state
 * is one struct sim guarded by one mutex; HTTP handlers run with it held.
 * Time is virtual: real time times --time-scale, plus whatever the control
 * API advanced it by.  State changes are computed lazily from timestamps
 * (sim_tick), so billing segments start and end exactly at the scheduled
 * moment, not at the moment someone looked.
 */
#ifndef GR_SIM_H
#define GR_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../util/util.h"

enum sim_prov {
	SIM_VAST = 0,
	SIM_RUNPOD,
	SIM_LAMBDA,
	SIM_PROV__COUNT
};

/*
 * Where an instance is in its life.  Each API maps these onto its own
 * status words (vast.c, runpod.c, lambda.c).
 */
enum sim_phase {
	PH_PROVISION = 0,	/* accepted; no machine yet */
	PH_STARTING,		/* machine found; image loading or booting */
	PH_RUNNING,
	PH_STOPPING,		/* stop asked; still running */
	PH_STOPPED,
	PH_INTERRUPTED,		/* spot instance interrupted (or preempted) */
	PH_FAILED,		/* crashed, unhealthy, error */
	PH_TERMINATING,		/* destroy asked; billing has ended */
	PH_GONE,		/* no longer visible through the API */
	PH__COUNT
};

/* One line of a provider's catalog: a GPU type in a region. */
struct sim_sku {
	char		*gpu;		/* the provider's own name; owned */
	const struct gpu_model *model;	/* catalog entry, or NULL */
	char		*type;		/* lambda instance type name; owned */
	char		*region;	/* owned */
	char		*geo;		/* vast geolocation text; owned */
	char		*cloud;		/* runpod SECURE|COMMUNITY; owned */
	int		 count;		/* GPUs per instance (runpod: max) */
	int		 vram_gb;	/* per GPU */
	money_t		 price;		/* per hour (runpod: per GPU-hour) */
	money_t		 storage;	/* per hour while only storage bills */
	money_t		 min_bid;	/* spot floor (runpod: per GPU); 0 */
	int		 capacity;	/* instances (runpod: GPUs) at once */
	int64_t		 ask_base;	/* vast: ask ids are ask_base + slot */
};

/* A span of time billed at one rate. */
struct sim_seg {
	int64_t		 start_ms;
	int64_t		 end_ms;	/* -1 while open */
	money_t		 rate;		/* per hour */
};

struct sim_inst {
	enum sim_prov	 prov;
	char		 id[40];
	int64_t		 num_id;	/* vast: the contract number */
	char		*label;		/* label / pod name / name; owned */
	int		 sku;		/* index into the provider's skus, -1 */
	int64_t		 ask_id;	/* vast: the ask it rents, 0 none */
	char		*gpu;		/* provider's GPU name; owned */
	char		*region;	/* owned */
	int		 gpus;
	int		 vram_gb;
	money_t		 price;		/* compute rate per hour, whole inst */
	money_t		 storage;	/* storage-only rate per hour */
	bool		 interruptible;	/* spot / bid */
	money_t		 bid;		/* per GPU (runpod) or per hour */
	bool		 control;	/* made through /_sim/, not the API */
	char		*image;		/* owned */
	json_t		*env;		/* object K -> V; owned (new ref) */
	char		*onstart;	/* owned */
	json_t		*extra;		/* provider-specific fields; owned */
	int		 disk_gb;
	enum sim_phase	 phase;
	int64_t		 phase_ms;	/* when phase began */
	int64_t		 next_ms;	/* next automatic transition, or -1 */
	int64_t		 created_ms;
	int64_t		 started_ms;	/* last time it reached RUNNING, -1 */
	int64_t		 visible_ms;	/* hidden from lists until then */
	int64_t		 interrupt_ms;	/* scheduled interruption, or -1 */
	int64_t		 reprice_ms;	/* scheduled price change, or -1 */
	money_t		 reprice_to;
	int64_t		 end_ms;	/* billing ended for good, or -1 */
	char		 status_msg[128];
	struct sim_seg	*segs;		/* owned */
	size_t		 nsegs;
};

struct sim_delays {
	int64_t		 provision_ms;	/* PROVISION -> STARTING */
	int64_t		 start_ms;	/* STARTING -> RUNNING */
	int64_t		 stop_ms;	/* STOPPING -> STOPPED */
	int64_t		 terminate_ms;	/* TERMINATING -> GONE */
};

/* A minimum interval between calls, per key, for a named endpoint. */
struct sim_rl {
	char		*endpoint;	/* route name or "*"; owned */
	int64_t		 interval_ms;	/* in virtual time */
	int64_t		 penalty_ms;	/* blocked this long after a 429 */
	char		*threshold;	/* vast's text in the 429 body; owned */
	int64_t		*next_ok;	/* per key: earliest allowed; owned */
};

struct sim_sshkey {
	char		*id;		/* owned */
	char		*name;		/* owned */
	char		*pubkey;	/* owned */
};

struct sim_pconf {
	char		**keys;		/* API keys accepted; owned */
	size_t		 nkeys;
	struct sim_sku	*skus;		/* owned */
	size_t		 nskus;
	struct sim_delays d;
	bool		 rl_on;
	struct sim_rl	*rls;		/* vast and lambda; owned */
	size_t		 nrls;
	int64_t		 win_q[3];	/* runpod: minute, hour, day quotas */
	int64_t		*win_start;	/* runpod: [key*3+w]; owned */
	int64_t		*win_used;	/* runpod: [key*3+w]; owned */
	struct sim_sshkey *sshkeys;	/* lambda; owned */
	size_t		 nsshkeys;
};

enum fault_kind {
	FK_ERROR = 0,	/* reply with an error before acting */
	FK_LATENCY,	/* sleep (real ms) before acting */
	FK_LOST,	/* act, then drop the connection or reply 504 */
	FK_LATE,	/* a created instance shows up in lists late */
	FK_SPOT,	/* a created instance is interrupted later */
	FK_PRICE,	/* a created instance is billed at a new price later */
	FK_STORM,	/* a run of 429s */
	FK__COUNT
};

struct sim_fault {
	int		 id;
	int		 prov;		/* enum sim_prov, or -1 for all */
	char		*endpoint;	/* op class, route name or "*"; owned */
	char		*method;	/* or NULL for any; owned */
	char		*path;		/* prefix of the API path, or NULL */
	enum fault_kind	 kind;
	double		 rate;		/* probability per matching request */
	int		 count;		/* fire at most this often, 0 no cap */
	int		 skip;		/* let this many matches pass first */
	int		 seen;
	int		 fired;
	int		 status;	/* FK_ERROR */
	char		*code;		/* provider error code; owned */
	char		*msg;		/* owned */
	char		*body;		/* raw body instead; owned */
	char		*ctype;		/* its content type; owned */
	int64_t		 ms;		/* latency, lateness, delay, length */
	int		 length;	/* FK_STORM: requests answered 429 */
	int		 storm_left;
	int64_t		 storm_until;	/* virtual ms */
	int		 retry_after;	/* seconds, runpod 429s */
	bool		 reply_504;	/* FK_LOST: 504 instead of closing */
	money_t		 price;		/* FK_PRICE: new rate, or 0 */
	double		 factor;	/* FK_PRICE: or old rate times this */
	bool		 on_demand;	/* FK_SPOT: also non-spot instances */
	uint64_t	 rng;
};

/* One request as the control API shows it (no key, ever). */
struct sim_reqlog {
	int64_t		 seq;
	int		 prov;		/* -1: control */
	char		*method;
	char		*path;		/* with the query, api_key redacted */
	char		*op;
	char		*auth;		/* "bearer", "basic", "query", "none" */
	int		 key;		/* index of the key used, -1 */
	char		*ctype;
	char		*ua;
	char		*body;		/* at most 64 KiB */
	int		 status;	/* 0: connection closed */
	char		*fault;		/* kind that fired, or NULL */
};

struct sim {
	pthread_mutex_t	 mtx;
	uint64_t	 seed;
	double		 scale;		/* virtual ms per real ms */
	int64_t		 base_virt;
	int64_t		 base_mono;
	int64_t		 offset_ms;	/* advanced through the control API */
	struct sim_pconf p[SIM_PROV__COUNT];
	struct sim_inst	**insts;	/* owned; never shrinks (billing) */
	size_t		 ninsts;
	int64_t		 next_vast_id;
	uint64_t	 id_rng;
	struct sim_fault *faults;	/* owned */
	size_t		 nfaults;
	int		 next_fault_id;
	struct sim_reqlog *log;		/* ring; owned */
	size_t		 nlog;
	size_t		 log_cap;
	int64_t		 log_seq;
	int		 ip_seq;
};

struct sim_resp;

/* An HTTP request while a handler works on it. */
struct sim_req {
	struct sim	*sim;
	void		*conn;		/* struct MHD_Connection */
	const char	*method;
	const char	*path;		/* after the provider prefix */
	const char	*body;
	size_t		 bodylen;
	json_t		*json;		/* parsed body or NULL; owned */
	bool		 json_bad;	/* a body was sent but did not parse */
	int		 prov;
	const char	*op;		/* fault class: offers, create, ... */
	const char	*route;		/* rate-limit name */
	int		 key;		/* index of the accepted key, -1 */
	const char	*auth;
	const char	*seg[8];	/* '*' segments of the matched route */
	const char	*pseg[16];	/* the path split at '/' */
	int		 npseg;		/* -1: not split yet */
	char		*segbuf;	/* owned; backs pseg */
	void		*ctx;		/* route-private; freed by ctx_free */
	void		(*ctx_free)(void *);
	void		(*handler)(struct sim_req *, struct sim_resp *);
	int64_t		 now;
	const char	*fault;		/* kind that fired, for the log */
};

struct sim_hdr {
	char		 name[40];
	char		 value[200];
};

struct sim_resp {
	int		 status;
	struct buf	 body;
	char		 ctype[64];	/* "" for none */
	struct sim_hdr	 hdrs[6];
	size_t		 nhdrs;
	bool		 drop;		/* close without replying */
};

/* One row of an API's routing table. */
struct sim_route {
	const char	*method;
	const char	*pat;		/* "api/v0/instances/ *" style */
	const char	*op;		/* fault class */
	const char	*route;		/* rate-limit and fault name */
	void		(*handler)(struct sim_req *, struct sim_resp *);
};

/* Each API: how to route, authenticate and shape its own errors. */
struct sim_api {
	const char	*prefix;	/* "/vast" */
	enum sim_prov	 prov;
	/* Set req->handler, op and route; false: resp holds a 404/405. */
	bool		(*route)(struct sim_req *, struct sim_resp *);
	/* Set req->key and req->auth; false when no accepted key. */
	bool		(*auth)(struct sim_req *);
	void		(*unauthorized)(struct sim_req *, struct sim_resp *);
	/* An injected error: status, and code/msg when the rule set one. */
	void		(*error)(struct sim_req *, struct sim_resp *, int,
			    const char *code, const char *msg);
	/* 429, with a Retry-After in seconds where the API sends one. */
	void		(*too_many)(struct sim_req *, struct sim_resp *, int,
			    const char *why);
	/* Last touches on every reply (rate-limit headers), or NULL. */
	void		(*decorate)(struct sim_req *, struct sim_resp *);
};

#define SIM_ALNUM	"abcdefghijklmnopqrstuvwxyz0123456789"

/* world.c */
/* json_pack that treats a bad format as a bug (new ref). */
json_t	*jpack(const char *, ...);
void	 sim_init(struct sim *, uint64_t seed, double scale, int64_t start);
void	 sim_release(struct sim *);
int64_t	 sim_now(struct sim *);
void	 sim_advance(struct sim *, int64_t ms);
void	 sim_tick(struct sim *, int64_t now);
const char *sim_prov_name(int);		/* "vastai", "runpod", "lambda" */
int	 sim_prov_parse(const char *);	/* -1 when unknown */
const char *sim_phase_name(enum sim_phase);
bool	 sim_phase_parse(const char *, enum sim_phase *);
struct sim_inst *sim_inst_new(struct sim *, enum sim_prov, int64_t now);
struct sim_inst *sim_inst_find(struct sim *, int prov, const char *id);
/* Visible through the API at all (not GONE). */
bool	 sim_inst_live(const struct sim_inst *);
/* Holds capacity (its sku's GPUs or machine) right now. */
bool	 sim_inst_holds(const struct sim_inst *);
void	 sim_inst_set_phase(struct sim *, struct sim_inst *, enum sim_phase,
	    int64_t at);
void	 sim_inst_boot(struct sim *, struct sim_inst *, int64_t at);
void	 sim_inst_stop(struct sim *, struct sim_inst *, int64_t at);
void	 sim_inst_terminate(struct sim *, struct sim_inst *, int64_t at);
void	 sim_inst_interrupt(struct sim *, struct sim_inst *, int64_t at);
void	 sim_inst_reprice(struct sim *, struct sim_inst *, money_t,
	    int64_t at);
/* Units (instances, or GPUs for runpod) of a sku in use / free now. */
int	 sim_sku_used(struct sim *, enum sim_prov, int sku);
int	 sim_sku_free(struct sim *, enum sim_prov, int sku);
money_t	 sim_inst_billed(const struct sim_inst *, int64_t now);
money_t	 sim_seg_billed(enum sim_prov, const struct sim_seg *, int64_t now);
money_t	 sim_inst_rate_now(const struct sim_inst *);
int64_t	 sim_inst_bill_start(const struct sim_inst *);
uint64_t sim_rand(uint64_t *state);
double	 sim_rand01(uint64_t *state);
void	 sim_rand_id(struct sim *, char *out, size_t len, const char *alpha);
char	*sim_next_ip(struct sim *);
json_t	*sim_billing_json(struct sim *, int64_t now);	/* new */
json_t	*sim_state_json(struct sim *, int64_t now);	/* new */
json_t	*sim_inst_summary(struct sim *, const struct sim_inst *,
	    int64_t now);				/* new */

/* scenario.c */
void	 scenario_defaults(struct sim *);
int	 scenario_apply(struct sim *, json_t *, char *err, size_t);
int	 sku_from_json(struct sim *, enum sim_prov, json_t *, struct sim_sku *,
	    char *err, size_t);
void	 sku_release(struct sim_sku *);
/* "0.40", 0.4 or 400000 micros ({"micros":N}); false when bad. */
bool	 json_money(json_t *, money_t *);

/* fault.c */
int	 fault_add(struct sim *, json_t *, char *err, size_t);	/* id */
bool	 fault_del(struct sim *, int id);
void	 fault_clear(struct sim *);
void	 fault_release(struct sim_fault *);
json_t	*fault_json(const struct sim_fault *);			/* new */
/* Rules consulted by the HTTP layer around a handler. */
struct sim_fault *fault_take(struct sim *, struct sim_req *, enum fault_kind);
/* Rules consulted when an instance is created through the API. */
void	 fault_on_create(struct sim *, struct sim_req *, struct sim_inst *);
const char *fault_kind_name(enum fault_kind);
/* Rate limits: 0 if allowed, else seconds until allowed (>= 1). */
int	 ratelimit_check(struct sim *, struct sim_req *, const char **why);
void	 ratelimit_headers(struct sim *, struct sim_req *, struct sim_resp *);

/* http.c */
void	 resp_json(struct sim_resp *, int status, json_t *, const char *ct);
void	 resp_text(struct sim_resp *, int status, const char *ctype,
	    const char *);
void	 resp_header(struct sim_resp *, const char *, const char *);
void	 resp_empty(struct sim_resp *, int status);
const char *req_header(struct sim_req *, const char *);
const char *req_arg(struct sim_req *, const char *);
/* Match "api/v0/instances/ *" style patterns; captures into req->seg. */
bool	 req_match(struct sim_req *, const char *method, const char *pat);
/* The row matching the request; NULL with *wrong_method when only the
 * method differed. */
const struct sim_route *route_find(struct sim_req *, const struct sim_route *,
	    size_t, bool *wrong_method);
/* The auth header's key by scheme; sets req->auth. */
const char *req_bearer(struct sim_req *);
const char *req_basic(struct sim_req *);
int	 key_index(struct sim *, enum sim_prov, const char *key);
void	*http_start(struct sim *, const char *host, int port, int *bound,
	    char *err, size_t);
void	 http_stop(void *);

/* vast.c, runpod.c, gql.c, lambda.c, control.c */
extern const struct sim_api vast_api;
extern const struct sim_api runpod_api;
extern const struct sim_api lambda_api;
void	 control_handle(struct sim *, struct sim_req *, struct sim_resp *);
json_t	*vast_inst_json(struct sim *, struct sim_inst *, int64_t now);
json_t	*runpod_pod_json(struct sim *, struct sim_inst *, int64_t now);
json_t	*lambda_inst_json(struct sim *, struct sim_inst *, int64_t now);
/* Pick the sku for a control-API instance; -1 none. */
int	 sim_sku_pick(struct sim *, enum sim_prov, const char *gpu,
	    const char *region);

/* gql.c: the small GraphQL subset RunPod clients send. */
struct gql_field {
	char		*alias;		/* or NULL; owned */
	char		*name;		/* owned */
	json_t		*args;		/* object, variables resolved; owned */
	json_t		*argvars;	/* arg name -> "$var" it came from */
	struct gql_field *sel;		/* owned */
	size_t		 nsel;
};
struct gql_doc {
	char		*op;		/* "query" or "mutation"; owned */
	struct gql_field *sel;		/* owned */
	size_t		 nsel;
};
/* 0, or -1 with a GraphQL-style message in err. */
int	 gql_parse(const char *src, json_t *variables, const char *opname,
	    struct gql_doc *, char *err, size_t);
void	 gql_doc_release(struct gql_doc *);
/* Keep only the selected fields of full (aliases honoured); new ref. */
typedef json_t *(*gql_hook)(void *, json_t *full, const struct gql_field *);
json_t	*gql_project(json_t *full, const struct gql_field *sel, size_t nsel,
	    gql_hook, void *);

#endif /* GR_SIM_H */
