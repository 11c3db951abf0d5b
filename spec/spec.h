/*
 * spec.h: fleet files (YAML, DESIGN.md section 3) turned into validated
 * plain structs.  spec/ reads files and nothing else: no provider, no
 * ledger.  A load either yields a whole valid spec or fails with every
 * error found, each as "file:line:col: message".
 */
#ifndef GR_SPEC_H
#define GR_SPEC_H

#include <stdio.h>

#include "../util/util.h"

/* Limits; each is an error with a hint when crossed. */
#define SPEC_MAX_FILE_BYTES	(1024 * 1024)	/* one fleet file */
#define SPEC_MAX_FILES		1000		/* files in one load */
#define SPEC_MAX_DEPTH		16		/* nesting of maps/lists */
#define SPEC_MAX_NODES		20000		/* YAML nodes per file */
#define SPEC_MAX_COUNT		1000		/* instances per group */
#define SPEC_MAX_BOOTSTRAP	(256 * 1024)	/* bootstrap script bytes */
#define SPEC_NAME_MAX		63		/* fleet and group names */

enum group_state {
	GROUP_RUNNING = 0,
	GROUP_STOPPED,
};

struct group_spec {
	char		*name;		/* owned */
	int		 count;		/* slots 0..count-1 */
	char		**providers;	/* owned; failover order */
	size_t		 nproviders;
	struct gpu_req	 gpu;
	money_t		 max_price;	/* per instance-hour */
	int		 disk_gb;
	char		*image;		/* owned; NULL when not given */
	char		**regions;	/* owned; empty: anywhere */
	size_t		 nregions;
	bool		 spot;
	int64_t		 ttl_s;		/* 0: no ttl */
	enum group_state state;
	char		*bootstrap;	/* owned script text; NULL: none */
	size_t		 bootstrap_len;
	char		*bootstrap_src;	/* owned; "inline" or the path */
	struct kv	*env;		/* owned; sorted by key */
	size_t		 nenv;
	char		 hash[65];	/* canonical spec hash (sha256 hex) */
	int		 line, col;	/* where the group starts */
};

struct fleet_spec {
	char		*name;		/* owned; unique across the spec */
	char		*file;		/* owned; absolute path of its file */
	money_t		 max_per_hour;	/* fleet budget cap */
	bool		 has_budget;	/* false: no budget section */
	struct group_spec *groups;	/* owned */
	size_t		 ngroups;
	int		 line, col;
};

struct spec {
	struct fleet_spec *fleets;	/* owned; sorted by name */
	size_t		 nfleets;
	char		**roots;	/* owned; absolute paths given to load */
	size_t		 nroots;
};

struct spec_diag {
	char		*file;		/* owned; as given/found */
	int		 line, col;	/* 1-based; 0 when not applicable */
	char		*msg;		/* owned; may end with "(hint: ...)" */
};

struct spec_diags {
	struct spec_diag *v;		/* owned */
	size_t		 n;
};

/* What the caller knows that spec/ may not include itself. */
struct spec_opts {
	const char *const *providers;	/* registered provider names */
	size_t		 nproviders;	/* 0: do not check provider names */
};

/* load.c */
/*
 * Load every fleet file under paths (files, or directories searched
 * recursively for *.yaml and *.yml, skipping names that start with '.'),
 * in sorted order.  Returns 0 and a new spec, or -1 with every problem in
 * diags (caller releases them).  A path that does not exist is an error.
 * diags is emptied first and *out is NULL on failure; opts may be NULL.
 */
int	 spec_load(const char *const *paths, size_t npaths,
	    const struct spec_opts *, struct spec **out,
	    struct spec_diags *diags);
void	 spec_free(struct spec *);
void	 spec_diags_release(struct spec_diags *);
/* Print "file:line:col: msg" lines to fp. */
void	 spec_diags_print(const struct spec_diags *, FILE *);
const struct fleet_spec *spec_fleet(const struct spec *, const char *);
const struct group_spec *spec_group(const struct fleet_spec *, const char *);
/* True if file (absolute) lies under one of the spec's roots. */
bool	 spec_covers_file(const struct spec *, const char *file);
/*
 * True if key is a group key whose change forces a replacement (the
 * field table's forces-replace column), so that a plan can say why.
 */
bool	 spec_key_forces_replace(const char *key);

/* hash.c */
/*
 * The canonical hash of the fields of a group that force a replacement
 * when changed (gpu, disk, image, regions, spot, bootstrap text, env),
 * independent of formatting, key order and comments.
 */
void	 spec_group_hash(const struct group_spec *, char out[65]);
/*
 * Digests of everything a plan reads from a fleet (or a whole spec), so
 * that watch can tell an edit that changes the desired state from one
 * that does not.
 */
void	 spec_fleet_digest(const struct fleet_spec *, char out[65]);
void	 spec_digest(const struct spec *, char out[65]);

#endif /* GR_SPEC_H */
