/*
 * load.c: fleet files (DESIGN.md section 3) from paths on disk to a
 * validated struct spec.
 *
 * A load runs in three steps.  The paths are expanded into a list of
 * files, sorted per directory.  Each file is read under the size limit
 * and turned by libyaml's event parser (not its document loader) into a
 * small tree of our own, struct ynode; that is where anchors, aliases,
 * tags, the nesting depth and the node count are refused, at the first
 * event that crosses the line, so a billion-laughs file costs nothing.
 * The tree is then checked against field tables, one row per key
 * {key, type, required, default, forces-replace, validator}, and every
 * problem becomes a diag "file:line:col: message".  Only when no file
 * produced one is a spec returned.
 *
 * Decisions DESIGN.md leaves open, written down here:
 * - A structural problem (syntax error, anchor, alias, tag, depth, node
 *   count, a second document) ends the parse of that file with one diag;
 *   every other problem is collected and the checks go on.  Other files
 *   are always checked.
 * - A path given explicitly is loaded whatever its name; inside
 *   directories only *.yaml and *.yml count.  Symlinks are followed; a
 *   file or directory reached twice is read once.
 * - Strings may be plain or quoted.  Integers and booleans must be plain
 *   ("2" is a string, and only true and false are booleans).  Money and
 *   durations are text with one syntax each (money_parse,
 *   duration_parse), plain or quoted.
 * - A bootstrap file is found relative to the directory of the fleet
 *   file as found (not through a symlink's target).
 * - A GPU type has 1..SPEC_MAX_GPUS GPUs per instance; CPU has none.
 * - ttl, when given, must be longer than 0s; regions may be [] (anywhere).
 * - Diags of one file are sorted by line and column; a duplicate fleet
 *   is reported after all files, at its second definition.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spec.h"

#define SPEC_MAX_GPUS	16		/* GPUs per instance */
#define DISK_GB_MAX	100000
#define BIT(i)		(UINT32_C(1) << (i))

/* The YAML tree: only what fleet files use, with where each node starts. */
enum ykind {
	Y_SCALAR,
	Y_SEQ,
	Y_MAP,
};

struct ynode {
	enum ykind	 kind;
	int		 line, col;	/* 1-based */
	char		*s;		/* scalar text, no NUL inside; owned */
	size_t		 len;
	bool		 plain;		/* scalar written without quotes */
	struct ynode	**kids;		/* owned; map: key, value, key, ... */
	size_t		 nkids;
	size_t		 cap;
};

/* One fleet file to load. */
struct found {
	char		*path;		/* as found, for messages; owned */
	char		*abs;		/* realpath; owned */
};

/* What each file said its fleet is called, for the check across files. */
struct seen {
	char		*name;		/* owned; NULL: none found */
	int		 line, col;
};

struct loader {
	const struct spec_opts	*opts;	/* borrowed */
	struct spec_diags	*diags;	/* borrowed; the caller's */
	const char		*path;	/* file being checked; borrowed */
	char			*dir;	/* its directory; owned */
};

/* A value of a known key, after its type was checked. */
enum vtype {
	V_NAME,		/* [a-z0-9][a-z0-9_-]*, at most SPEC_NAME_MAX */
	V_STR,		/* a non-empty scalar, kept as text */
	V_INT,		/* a plain decimal integer */
	V_MONEY,	/* money_parse() */
	V_DURATION,	/* duration_parse() */
	V_BOOL,		/* plain true or false */
	V_STRS,		/* a list of distinct non-empty strings */
	V_SEQ,		/* a list; the validator looks inside */
	V_MAP,		/* a map; the validator looks inside */
	V_NODE,		/* anything; the validator checks it */
};

struct val {
	const struct ynode *n;	/* as written, or the default; borrowed */
	const char	*s;	/* V_NAME, V_STR: the text */
	int64_t		 i;	/* V_INT; V_MONEY micro-USD; V_DURATION s */
	bool		 b;	/* V_BOOL */
};

struct field {
	const char	*key;
	enum vtype	 type;
	bool		 required;
	const char	*def;		/* default, as YAML text; NULL: none */
	bool		 replace;	/* a change replaces the instances */
	void		(*check)(struct loader *, const struct val *, void *);
};

static void	 lerr(struct loader *, const struct ynode *, const char *, ...)
		    GR_PRINTF(3, 4);
static void	 lerr_at(struct loader *, const char *, int, int,
		    const char *, ...) GR_PRINTF(5, 6);
static void	 group_release(struct group_spec *);
static void	 fleet_release(struct fleet_spec *);

/*
 * Diagnostics.
 */

static void
diag_vadd(struct spec_diags *d, const char *file, int line, int col,
    const char *fmt, va_list ap)
{
	struct spec_diag	*x;

	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	x = &d->v[d->n++];
	x->file = xstrdup(file);
	x->line = line;
	x->col = col;
	x->msg = xvasprintf(fmt, ap);
}

/* An error at a node of the file being checked (NULL: the whole file). */
static void
lerr(struct loader *ld, const struct ynode *n, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vadd(ld->diags, ld->path, n != NULL ? n->line : 0,
	    n != NULL ? n->col : 0, fmt, ap);
	va_end(ap);
}

static void
lerr_at(struct loader *ld, const char *file, int line, int col,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vadd(ld->diags, file, line, col, fmt, ap);
	va_end(ap);
}

struct diag_ord {
	struct spec_diag	 d;
	size_t			 i;
};

static int
diag_ord_cmp(const void *a, const void *b)
{
	const struct diag_ord	*x = a, *y = b;

	if (x->d.line != y->d.line) {
		return x->d.line < y->d.line ? -1 : 1;
	}
	if (x->d.col != y->d.col) {
		return x->d.col < y->d.col ? -1 : 1;
	}
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Sort the diags from index first on by position, keeping ties in order. */
static void
diags_sort_from(struct spec_diags *d, size_t first)
{
	struct diag_ord	*o;
	size_t		 i, n = d->n - first;

	if (n < 2) {
		return;
	}
	o = xcalloc(n, sizeof(*o));
	for (i = 0; i < n; i++) {
		o[i].d = d->v[first + i];
		o[i].i = i;
	}
	qsort(o, n, sizeof(*o), diag_ord_cmp);
	for (i = 0; i < n; i++) {
		d->v[first + i] = o[i].d;
	}
	free(o);
}

void
spec_diags_release(struct spec_diags *d)
{
	size_t	 i;

	if (d == NULL) {
		return;
	}
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

void
spec_diags_print(const struct spec_diags *d, FILE *fp)
{
	size_t			 i;
	const struct spec_diag	*x;

	for (i = 0; i < d->n; i++) {
		x = &d->v[i];
		if (x->line > 0) {
			fprintf(fp, "%s:%d:%d: %s\n", x->file, x->line, x->col,
			    x->msg);
		} else {
			fprintf(fp, "%s: %s\n", x->file, x->msg);
		}
	}
}

/*
 * The YAML tree.
 */

static struct ynode *
ynode_new(enum ykind kind, yaml_mark_t m)
{
	struct ynode	*n;

	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (int)m.line + 1;
	n->col = (int)m.column + 1;
	return n;
}

static void
ynode_free(struct ynode *n)
{
	size_t	 i;

	if (n == NULL) {
		return;
	}
	for (i = 0; i < n->nkids; i++) {
		ynode_free(n->kids[i]);
	}
	free(n->kids);
	free(n->s);
	free(n);
}

static void
ynode_push(struct ynode *parent, struct ynode *kid)
{
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap == 0 ? 8 : parent->cap * 2;
		parent->kids = xreallocarray(parent->kids, parent->cap,
		    sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

/* The value of key in map (the first one if written twice), or NULL. */
static const struct ynode *
map_get(const struct ynode *map, const char *key)
{
	size_t	 i;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (strcmp(map->kids[i]->s, key) == 0) {
			return map->kids[i + 1];
		}
	}
	return NULL;
}

/* "!!python/object" for "tag:yaml.org,2002:python/object". */
static char *
tag_show(const char *tag)
{
	static const char	 std[] = "tag:yaml.org,2002:";

	if (str_has_prefix(tag, std)) {
		return xasprintf("!!%s", tag + strlen(std));
	}
	return xstrdup(tag);
}

static void
yaml_error(struct loader *ld, const yaml_parser_t *p, const char *text,
    size_t len)
{
	const char	*problem;
	size_t		 i, off;
	int		 line = 1, col = 1;

	problem = p->problem != NULL ? p->problem : "unknown error";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fatalx("libyaml: out of memory");
	case YAML_READER_ERROR:
		off = p->problem_offset < len ? p->problem_offset : len;
		for (i = 0; i < off; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		if (p->problem_value != -1) {
			lerr_at(ld, ld->path, line, col,
			    "cannot read the file as UTF-8 text: %s "
			    "(byte 0x%02x)", problem,
			    (unsigned int)p->problem_value & 0xffu);
		} else {
			lerr_at(ld, ld->path, line, col,
			    "cannot read the file as UTF-8 text: %s", problem);
		}
		return;
	default:
		break;
	}
	line = (int)p->problem_mark.line + 1;
	col = (int)p->problem_mark.column + 1;
	if (p->context != NULL) {
		lerr_at(ld, ld->path, line, col,
		    "yaml syntax error: %s (%s at line %d)", problem,
		    p->context, (int)p->context_mark.line + 1);
	} else {
		lerr_at(ld, ld->path, line, col, "yaml syntax error: %s",
		    problem);
	}
}

/*
 * The checks every node event passes before it becomes a node: no
 * anchor, no tag, not too many nodes.  On false a diag was added.
 */
static bool
yaml_node_ok(struct loader *ld, const yaml_event_t *ev,
    const yaml_char_t *anchor, const yaml_char_t *tag, size_t *nodes)
{
	char	*t;
	int	 line = (int)ev->start_mark.line + 1;
	int	 col = (int)ev->start_mark.column + 1;

	if (anchor != NULL) {
		lerr_at(ld, ld->path, line, col,
		    "anchor '&%s' is not allowed (hint: anchors and aliases "
		    "are refused; write the value out in full)",
		    (const char *)anchor);
		return false;
	}
	if (tag != NULL) {
		t = tag_show((const char *)tag);
		lerr_at(ld, ld->path, line, col,
		    "tag '%s' is not allowed (hint: remove it; fleet files "
		    "use plain YAML values)", t);
		free(t);
		return false;
	}
	if (++*nodes > SPEC_MAX_NODES) {
		lerr_at(ld, ld->path, line, col,
		    "more than %d YAML nodes in the file (hint: split the "
		    "fleets into several files)", SPEC_MAX_NODES);
		return false;
	}
	return true;
}

static bool
scalar_is_null(const struct ynode *n)
{
	return n->kind == Y_SCALAR && n->plain &&
	    (n->s[0] == '\0' || strcmp(n->s, "~") == 0 ||
	    strcmp(n->s, "null") == 0 || strcmp(n->s, "Null") == 0 ||
	    strcmp(n->s, "NULL") == 0);
}

/*
 * Parse text into a tree, refusing what fleet files never need.
 * Returns the root, or NULL after adding a diag (an empty file too).
 */
static struct ynode *
yaml_tree(struct loader *ld, const char *text, size_t len)
{
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	struct ynode	*stack[SPEC_MAX_DEPTH];
	struct ynode	*root = NULL, *n, *parent;
	size_t		 depth = 0, nodes = 0;
	int		 ndocs = 0;
	bool		 done = false, bad = false;

	if (yaml_parser_initialize(&parser) == 0) {
		fatalx("libyaml: out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	while (!done && !bad) {
		if (yaml_parser_parse(&parser, &ev) == 0) {
			yaml_error(ld, &parser, text, len);
			bad = true;
			break;
		}
		n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				lerr_at(ld, ld->path,
				    (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "more than one YAML document in the file "
				    "(hint: put each fleet in its own file)");
				bad = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			lerr_at(ld, ld->path, (int)ev.start_mark.line + 1,
			    (int)ev.start_mark.column + 1,
			    "alias '*%s' is not allowed (hint: anchors and "
			    "aliases are refused; write the value out in full)",
			    (const char *)ev.data.alias.anchor);
			bad = true;
			break;
		case YAML_SCALAR_EVENT:
			if (!yaml_node_ok(ld, &ev, ev.data.scalar.anchor,
			    ev.data.scalar.tag, &nodes)) {
				bad = true;
				break;
			}
			n = ynode_new(Y_SCALAR, ev.start_mark);
			n->s = xstrndup((const char *)ev.data.scalar.value,
			    ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->plain = ev.data.scalar.style ==
			    YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (!yaml_node_ok(ld, &ev, ev.data.sequence_start.anchor,
			    ev.data.sequence_start.tag, &nodes)) {
				bad = true;
				break;
			}
			n = ynode_new(Y_SEQ, ev.start_mark);
			break;
		case YAML_MAPPING_START_EVENT:
			if (!yaml_node_ok(ld, &ev, ev.data.mapping_start.anchor,
			    ev.data.mapping_start.tag, &nodes)) {
				bad = true;
				break;
			}
			n = ynode_new(Y_MAP, ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth == 0) {
				BUG("yaml_tree: end event at depth 0");
			}
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (n == NULL) {
			continue;
		}

		/* Attach first, so that the tree owns n whatever follows. */
		if (depth == 0) {
			if (root != NULL) {
				BUG("yaml_tree: second root");
			}
			root = n;
		} else {
			parent = stack[depth - 1];
			ynode_push(parent, n);
			if (parent->kind == Y_MAP && parent->nkids % 2 == 1 &&
			    n->kind != Y_SCALAR) {
				lerr(ld, n, "map keys must be strings, got %s",
				    n->kind == Y_MAP ? "a map" : "a list");
				bad = true;
				continue;
			}
		}
		if (n->kind == Y_SCALAR && strlen(n->s) != n->len) {
			lerr(ld, n, "strings must not contain NUL bytes");
			bad = true;
			continue;
		}
		if (n->kind != Y_SCALAR) {
			if (depth == SPEC_MAX_DEPTH) {
				lerr(ld, n, "maps and lists nest deeper than %d "
				    "levels (hint: fleet files need only a few)",
				    SPEC_MAX_DEPTH);
				bad = true;
				continue;
			}
			stack[depth++] = n;
		}
	}
	yaml_parser_delete(&parser);
	if (bad) {
		ynode_free(root);
		return NULL;
	}
	if (root == NULL || scalar_is_null(root)) {
		ynode_free(root);
		lerr(ld, NULL, "empty fleet file (hint: a fleet file starts "
		    "with 'fleet: NAME' and lists its 'groups')");
		return NULL;
	}
	return root;
}

/*
 * What a scalar is, the way YAML would read it, for "got ..." messages.
 */
enum sclass {
	SC_NULL,
	SC_BOOL,
	SC_INT,
	SC_FLOAT,
	SC_STR,
};

static bool
str_in(const char *s, const char *const *set)
{
	for (; *set != NULL; set++) {
		if (strcmp(s, *set) == 0) {
			return true;
		}
	}
	return false;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The booleans of YAML 1.1 and of careless hands; only true and false
 * are ours. */
static const char *const yaml_bools[] = {
	"true", "True", "TRUE", "false", "False", "FALSE",
	"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON",
	"off", "Off", "OFF", "y", "Y", "n", "N", NULL
};

static enum sclass
number_class(const char *s)
{
	static const char *const specials[] = {
		".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL
	};
	const char	*p = s;
	bool		 digits = false, flt = false;

	if (*p == '-' || *p == '+') {
		p++;
	}
	if (str_in(p, specials)) {
		return SC_FLOAT;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b') &&
	    p[2] != '\0') {
		for (p += 2; *p != '\0'; p++) {
			if (!is_digit(*p) && !((*p >= 'a' && *p <= 'f') ||
			    (*p >= 'A' && *p <= 'F'))) {
				return SC_STR;
			}
		}
		return SC_INT;
	}
	for (; is_digit(*p) || *p == '_'; p++) {
		digits = digits || *p != '_';
	}
	if (*p == '.') {
		flt = true;
		for (p++; is_digit(*p) || *p == '_'; p++) {
			digits = digits || *p != '_';
		}
	}
	if (digits && (*p == 'e' || *p == 'E')) {
		flt = true;
		p++;
		if (*p == '-' || *p == '+') {
			p++;
		}
		if (!is_digit(*p)) {
			return SC_STR;
		}
		while (is_digit(*p)) {
			p++;
		}
	}
	if (!digits || *p != '\0') {
		return SC_STR;
	}
	return flt ? SC_FLOAT : SC_INT;
}

static enum sclass
scalar_class(const struct ynode *n)
{
	if (!n->plain) {
		return SC_STR;
	}
	if (scalar_is_null(n)) {
		return SC_NULL;
	}
	if (str_in(n->s, yaml_bools)) {
		return SC_BOOL;
	}
	return number_class(n->s);
}

/* "a map", "a list", "null", "a boolean", "an integer", "a string" */
static const char *
kind_name(const struct ynode *n)
{
	if (n->kind == Y_MAP) {
		return "a map";
	}
	if (n->kind == Y_SEQ) {
		return "a list";
	}
	switch (scalar_class(n)) {
	case SC_NULL:
		return "null";
	case SC_BOOL:
		return "a boolean";
	case SC_INT:
		return "an integer";
	case SC_FLOAT:
		return "a number";
	case SC_STR:
		break;
	}
	return "a string";
}

/*
 * Values: the type column of the field tables.
 */

static const char *const vtype_want[] = {
	[V_NAME] = "a name",
	[V_STR] = "a string",
	[V_INT] = "an integer",
	[V_MONEY] = "an amount such as 0.70",
	[V_DURATION] = "a duration such as 12h",
	[V_BOOL] = "true or false",
	[V_STRS] = "a list of strings",
	[V_SEQ] = "a list",
	[V_MAP] = "a map",
	[V_NODE] = "a value",
};

static bool
name_ok(const char *s)
{
	size_t	 i, len = strlen(s);
	char	 c;

	if (len == 0 || len > SPEC_NAME_MAX) {
		return false;
	}
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || is_digit(c)) {
			continue;
		}
		if (i > 0 && (c == '-' || c == '_')) {
			continue;
		}
		return false;
	}
	return true;
}

static bool
env_name_ok(const char *s)
{
	size_t	 i;
	char	 c;

	if (s[0] == '\0' || is_digit(s[0])) {
		return false;
	}
	for (i = 0; s[i] != '\0'; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    is_digit(c) || c == '_')) {
			return false;
		}
	}
	return true;
}

/*
 * A plain decimal integer: an optional '-', then digits without a
 * leading zero.  Values beyond 10^12 are clamped there; every range we
 * check is far below.
 */
static bool
int_parse(const char *s, int64_t *out)
{
	const char	*p = s;
	int64_t		 v = 0;
	bool		 neg = false;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (!is_digit(*p) || (p[0] == '0' && p[1] != '\0')) {
		return false;
	}
	for (; *p != '\0'; p++) {
		if (!is_digit(*p)) {
			return false;
		}
		if (v < INT64_C(1000000000000)) {
			v = v * 10 + (*p - '0');
		}
	}
	*out = neg ? -v : v;
	return true;
}

static void
wrong_type(struct loader *ld, const char *key, enum vtype t,
    const struct ynode *n)
{
	lerr(ld, n, "'%s' must be %s, got %s", key, vtype_want[t],
	    kind_name(n));
}

/* A list of distinct non-empty strings. */
static bool
strs_ok(struct loader *ld, const char *key, const struct ynode *n)
{
	const struct ynode	*it;
	size_t			 i, j;
	bool			 good = true;

	for (i = 0; i < n->nkids; i++) {
		it = n->kids[i];
		if (it->kind != Y_SCALAR || scalar_is_null(it)) {
			lerr(ld, it, "'%s' item %zu must be a string, got %s",
			    key, i + 1, kind_name(it));
			good = false;
			continue;
		}
		if (it->s[0] == '\0') {
			lerr(ld, it, "'%s' item %zu must not be empty", key,
			    i + 1);
			good = false;
			continue;
		}
		for (j = 0; j < i; j++) {
			if (n->kids[j]->kind == Y_SCALAR &&
			    strcmp(n->kids[j]->s, it->s) == 0) {
				lerr(ld, it, "'%s' lists '%s' twice", key,
				    it->s);
				good = false;
				break;
			}
		}
	}
	return good;
}

/* Check n against type t; on true v holds the value. */
static bool
val_parse(struct loader *ld, const char *key, enum vtype t,
    const struct ynode *n, struct val *v)
{
	const char	*why;
	money_t		 m;

	memset(v, 0, sizeof(*v));
	v->n = n;
	switch (t) {
	case V_NODE:
		return true;
	case V_MAP:
		if (n->kind != Y_MAP) {
			wrong_type(ld, key, t, n);
			return false;
		}
		return true;
	case V_SEQ:
	case V_STRS:
		if (n->kind != Y_SEQ) {
			wrong_type(ld, key, t, n);
			return false;
		}
		return t == V_SEQ || strs_ok(ld, key, n);
	default:
		break;
	}
	if (n->kind != Y_SCALAR || scalar_is_null(n)) {
		wrong_type(ld, key, t, n);
		return false;
	}
	v->s = n->s;
	switch (t) {
	case V_NAME:
		if (!name_ok(n->s)) {
			lerr(ld, n, "bad %s name '%s' (hint: use lowercase "
			    "letters, digits, '-' and '_', starting with a "
			    "letter or digit, at most %d characters)",
			    strcmp(key, "fleet") == 0 ? "fleet" : "group",
			    n->s, SPEC_NAME_MAX);
			return false;
		}
		return true;
	case V_STR:
		if (n->s[0] == '\0') {
			lerr(ld, n, "'%s' must not be empty", key);
			return false;
		}
		return true;
	case V_INT:
		if (!n->plain) {
			lerr(ld, n, "'%s' must be an integer, got a string "
			    "(hint: remove the quotes)", key);
			return false;
		}
		if (scalar_class(n) != SC_INT) {
			wrong_type(ld, key, t, n);
			return false;
		}
		if (!int_parse(n->s, &v->i)) {
			lerr(ld, n, "'%s' must be a plain decimal integer, "
			    "got '%s'", key, n->s);
			return false;
		}
		return true;
	case V_MONEY:
		if (!money_parse(n->s, &m, &why)) {
			lerr(ld, n, "bad amount '%s' for '%s': %s (hint: "
			    "write USD as a plain decimal such as 0.70)",
			    n->s, key, why);
			return false;
		}
		v->i = m;
		return true;
	case V_DURATION:
		if (!duration_parse(n->s, &v->i, &why)) {
			lerr(ld, n, "bad duration '%s' for '%s': %s (hint: "
			    "write such as 90s, 15m, 12h, 7d or 1h30m)",
			    n->s, key, why);
			return false;
		}
		return true;
	case V_BOOL:
		if (n->plain && strcmp(n->s, "true") == 0) {
			v->b = true;
			return true;
		}
		if (n->plain && strcmp(n->s, "false") == 0) {
			v->b = false;
			return true;
		}
		if (n->plain && str_in(n->s, yaml_bools)) {
			lerr(ld, n, "'%s' must be true or false, got '%s' "
			    "(hint: only lowercase true and false are "
			    "booleans here)", key, n->s);
		} else {
			wrong_type(ld, key, t, n);
		}
		return false;
	default:
		BUG("val_parse: type %d", (int)t);
	}
}

/*
 * Maps.
 */

struct keyref {
	const char	*s;
	size_t		 i;
};

static int
keyref_cmp(const void *a, const void *b)
{
	const struct keyref	*x = a, *y = b;
	int			 c = strcmp(x->s, y->s);

	if (c != 0) {
		return c;
	}
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Report keys written more than once in map; returns one flag per pair,
 * set for each repeat (the first one counts).  Caller frees.
 */
static bool *
map_dups(struct loader *ld, const struct ynode *map, const char *what)
{
	struct keyref		*r;
	const struct ynode	*k, *first;
	size_t			 np = map->nkids / 2, i, run = 0;
	bool			*dup;

	dup = xcalloc(np + 1, sizeof(*dup));
	r = xcalloc(np + 1, sizeof(*r));
	for (i = 0; i < np; i++) {
		r[i].s = map->kids[2 * i]->s;
		r[i].i = i;
	}
	qsort(r, np, sizeof(*r), keyref_cmp);
	for (i = 1; i < np; i++) {
		if (strcmp(r[i].s, r[run].s) != 0) {
			run = i;
			continue;
		}
		dup[r[i].i] = true;
		k = map->kids[2 * r[i].i];
		first = map->kids[2 * r[run].i];
		lerr(ld, k, "duplicate key '%s' in %s (first at line %d)",
		    k->s, what, first->line);
	}
	free(r);
	return dup;
}

static void
unknown_key(struct loader *ld, const struct ynode *k, const char *what,
    const struct field *tab, size_t ntab)
{
	const char	*keys[32], *sugg;
	struct buf	 b = BUF_INIT;
	size_t		 i;

	for (i = 0; i < ntab; i++) {
		keys[i] = tab[i].key;
		buf_addf(&b, "%s%s", i > 0 ? ", " : "", tab[i].key);
	}
	sugg = str_suggest(k->s, keys, ntab);
	if (sugg != NULL) {
		lerr(ld, k, "unknown key '%s' in %s (hint: did you mean "
		    "'%s'?)", k->s, what, sugg);
	} else {
		lerr(ld, k, "unknown key '%s' in %s (hint: known keys are %s)",
		    k->s, what, buf_str(&b));
	}
	buf_release(&b);
}

static size_t
field_find(const struct field *tab, size_t ntab, const char *key)
{
	size_t	 i;

	for (i = 0; i < ntab; i++) {
		if (strcmp(tab[i].key, key) == 0) {
			return i;
		}
	}
	return ntab;
}

/*
 * Check map against a field table: each key known and written once,
 * each value of its row's type, required keys present, defaults for the
 * rest; each row's validator stores its value into obj.  what names the
 * map in messages ("group 'trainer'").  Returns a bit per row, set when
 * the key was written.
 */
static uint32_t
map_apply(struct loader *ld, const struct ynode *map, const char *what,
    const struct field *tab, size_t ntab, void *obj)
{
	const struct ynode	*given[32] = { NULL };
	struct ynode		 dflt;
	struct val		 v;
	uint32_t		 mask = 0;
	size_t			 i, f;
	bool			*dup;

	if (ntab > nitems(given)) {
		BUG("map_apply: %zu rows", ntab);
	}
	dup = map_dups(ld, map, what);
	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (dup[i / 2]) {
			continue;
		}
		f = field_find(tab, ntab, map->kids[i]->s);
		if (f == ntab) {
			unknown_key(ld, map->kids[i], what, tab, ntab);
			continue;
		}
		given[f] = map->kids[i + 1];
		mask |= BIT(f);
	}
	free(dup);

	for (f = 0; f < ntab; f++) {
		if (given[f] != NULL) {
			if (val_parse(ld, tab[f].key, tab[f].type, given[f],
			    &v)) {
				tab[f].check(ld, &v, obj);
			}
		} else if (tab[f].def != NULL) {
			memset(&dflt, 0, sizeof(dflt));
			dflt.kind = Y_SCALAR;
			dflt.line = map->line;
			dflt.col = map->col;
			dflt.s = xstrdup(tab[f].def);
			dflt.len = strlen(dflt.s);
			dflt.plain = true;
			if (!val_parse(ld, tab[f].key, tab[f].type, &dflt,
			    &v)) {
				BUG("map_apply: bad default for '%s'",
				    tab[f].key);
			}
			tab[f].check(ld, &v, obj);
			free(dflt.s);
		} else if (tab[f].required) {
			lerr(ld, map, "missing required key '%s' in %s",
			    tab[f].key, what);
		}
	}
	return mask;
}

static char **
strs_copy(const struct ynode *seq, size_t *np)
{
	char	**v;
	size_t	  i;

	v = xcalloc(seq->nkids + 1, sizeof(*v));
	for (i = 0; i < seq->nkids; i++) {
		v[i] = xstrdup(seq->kids[i]->s);
	}
	*np = seq->nkids;
	return v;
}

static void
strs_free(char **v, size_t n)
{
	size_t	 i;

	if (v == NULL) {
		return;
	}
	for (i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
}

static bool
strs_find(char *const *v, size_t n, const char *s)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * The gpu of a group: "RTX_4090", or {type, count, min_vram_gb}.
 */

struct gpu_in {
	const struct ynode	*type;		/* as written */
	const struct ynode	*count;		/* NULL: not written */
	const struct ynode	*vram;
	int64_t			 count_v;
	int64_t			 vram_v;
};

static void
chk_gpu_type(struct loader *ld, const struct val *v, void *obj)
{
	struct gpu_in	*in = obj;

	(void)ld;
	in->type = v->n;
}

static void
chk_gpu_count(struct loader *ld, const struct val *v, void *obj)
{
	struct gpu_in	*in = obj;

	(void)ld;
	in->count = v->n;
	in->count_v = v->i;
}

static void
chk_gpu_vram(struct loader *ld, const struct val *v, void *obj)
{
	struct gpu_in	*in = obj;

	(void)ld;
	in->vram = v->n;
	in->vram_v = v->i;
}

static const struct field gpu_fields[] = {
	{ "type", V_STR, true, NULL, true, chk_gpu_type },
	{ "count", V_INT, false, NULL, true, chk_gpu_count },
	{ "min_vram_gb", V_INT, false, "0", true, chk_gpu_vram },
};

static void
gpu_finish(struct loader *ld, const struct gpu_in *in, struct group_spec *g)
{
	const struct gpu_model	*m;
	const char		*names[64], *sugg;
	struct buf		 b = BUF_INIT;
	size_t			 i, n;
	bool			 cpu;

	if (in->type == NULL) {
		return;		/* already reported */
	}
	m = catalog_find(in->type->s);
	if (m == NULL) {
		n = catalog_count() < nitems(names) ? catalog_count() :
		    nitems(names);
		for (i = 0; i < n; i++) {
			names[i] = catalog_at(i)->name;
			buf_addf(&b, "%s%s", i > 0 ? ", " : "", names[i]);
		}
		sugg = str_suggest(in->type->s, names, n);
		if (sugg != NULL) {
			lerr(ld, in->type, "unknown gpu type '%s' (hint: did "
			    "you mean '%s'?)", in->type->s, sugg);
		} else {
			lerr(ld, in->type, "unknown gpu type '%s' (hint: "
			    "known types are %s)", in->type->s, buf_str(&b));
		}
		buf_release(&b);
		return;
	}
	free(g->gpu.type);
	g->gpu.type = xstrdup(m->name);
	cpu = strcmp(m->name, GPU_CPU) == 0;
	if (cpu) {
		g->gpu.count = 0;
		if (in->count != NULL && in->count_v != 0) {
			lerr(ld, in->count, "gpu type 'CPU' has no GPUs: "
			    "'count' must be 0, got %s (hint: leave 'count' "
			    "out, or name a GPU type)", in->count->s);
		}
	} else if (in->count == NULL) {
		g->gpu.count = 1;
	} else if (in->count_v < 1 || in->count_v > SPEC_MAX_GPUS) {
		lerr(ld, in->count, "gpu 'count' must be between 1 and %d, "
		    "got %s (hint: use gpu type CPU for no GPU)",
		    SPEC_MAX_GPUS, in->count->s);
	} else {
		g->gpu.count = (int)in->count_v;
	}
	if (cpu && in->vram_v != 0) {
		lerr(ld, in->vram, "gpu type 'CPU' has no GPU memory: "
		    "'min_vram_gb' must be 0, got %s", in->vram->s);
	} else if (in->vram_v < 0) {
		lerr(ld, in->vram, "'min_vram_gb' must not be negative, got "
		    "%s", in->vram->s);
	} else if (in->vram_v > m->vram_gb) {
		lerr(ld, in->vram, "'min_vram_gb' is %s but gpu type '%s' "
		    "has %d GB (hint: choose a gpu type with more memory)",
		    in->vram->s, m->name, m->vram_gb);
	} else {
		g->gpu.min_vram_gb = (int)in->vram_v;
	}
}

static void
chk_gpu(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;
	struct gpu_in		 in;

	memset(&in, 0, sizeof(in));
	if (v->n->kind == Y_MAP) {
		map_apply(ld, v->n, "'gpu'", gpu_fields, nitems(gpu_fields),
		    &in);
	} else if (v->n->kind == Y_SCALAR && !scalar_is_null(v->n) &&
	    v->n->s[0] != '\0') {
		in.type = v->n;
	} else {
		lerr(ld, v->n, "'gpu' must be a gpu type such as RTX_4090 or "
		    "a map with 'type', got %s", kind_name(v->n));
		return;
	}
	gpu_finish(ld, &in, g);
}

/*
 * The bootstrap of a group: {file: PATH} or {inline: TEXT}.
 */

struct boot_in {
	const struct ynode	*file;
	const struct ynode	*text;
};

static void
chk_boot_file(struct loader *ld, const struct val *v, void *obj)
{
	struct boot_in	*in = obj;

	(void)ld;
	in->file = v->n;
}

static void
chk_boot_inline(struct loader *ld, const struct val *v, void *obj)
{
	struct boot_in	*in = obj;

	(void)ld;
	in->text = v->n;
}

enum {
	BF_FILE,
	BF_INLINE,
};

static const struct field boot_fields[] = {
	[BF_FILE] = { "file", V_STR, false, NULL, true, chk_boot_file },
	[BF_INLINE] = { "inline", V_STR, false, NULL, true, chk_boot_inline },
};

static void
boot_read(struct loader *ld, const struct ynode *n, struct group_spec *g)
{
	struct stat	 st;
	char		*full, *text = NULL;
	size_t		 len = 0;

	if (n->s[0] == '/') {
		full = xstrdup(n->s);
	} else {
		full = xasprintf("%s/%s", ld->dir, n->s);
	}
	if (stat(full, &st) == -1) {
		if (errno == ENOENT) {
			lerr(ld, n, "bootstrap file '%s' does not exist "
			    "(hint: the path is relative to the fleet "
			    "file's directory)", n->s);
		} else {
			lerr(ld, n, "cannot read bootstrap file '%s': %s",
			    n->s, strerror(errno));
		}
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		lerr(ld, n, "bootstrap file '%s' is not a regular file", n->s);
		goto out;
	}
	if (st.st_size > SPEC_MAX_BOOTSTRAP ||
	    file_read(full, SPEC_MAX_BOOTSTRAP, &text, &len) == -1) {
		if (st.st_size > SPEC_MAX_BOOTSTRAP || errno == EFBIG) {
			lerr(ld, n, "bootstrap file '%s' is larger than %d "
			    "bytes (hint: keep the script small and have it "
			    "fetch the rest)", n->s, SPEC_MAX_BOOTSTRAP);
		} else {
			lerr(ld, n, "cannot read bootstrap file '%s': %s",
			    n->s, strerror(errno));
		}
		goto out;
	}
	free(g->bootstrap);
	free(g->bootstrap_src);
	g->bootstrap = text;		/* ownership moves to g */
	g->bootstrap_len = len;
	g->bootstrap_src = xstrdup(n->s);
out:
	free(full);
}

static void
chk_bootstrap(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;
	struct boot_in		 in;
	uint32_t		 mask;

	memset(&in, 0, sizeof(in));
	mask = map_apply(ld, v->n, "'bootstrap'", boot_fields,
	    nitems(boot_fields), &in);
	if (mask == (BIT(BF_FILE) | BIT(BF_INLINE))) {
		lerr(ld, v->n, "'bootstrap' has both 'file' and 'inline' "
		    "(hint: keep one)");
		return;
	}
	if (mask == 0) {
		lerr(ld, v->n, "'bootstrap' needs 'file' or 'inline' (hint: "
		    "{file: PATH} or {inline: TEXT})");
		return;
	}
	if (in.file != NULL) {
		boot_read(ld, in.file, g);
		return;
	}
	if (in.text == NULL) {
		return;		/* already reported */
	}
	if (in.text->len > SPEC_MAX_BOOTSTRAP) {
		lerr(ld, in.text, "inline bootstrap is larger than %d bytes "
		    "(hint: keep the script small and have it fetch the rest)",
		    SPEC_MAX_BOOTSTRAP);
		return;
	}
	free(g->bootstrap);
	free(g->bootstrap_src);
	g->bootstrap = xstrndup(in.text->s, in.text->len);
	g->bootstrap_len = in.text->len;
	g->bootstrap_src = xstrdup("inline");
}

/*
 * The env of a group: NAME: scalar, stored sorted by name.
 */

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv	*x = a, *y = b;

	return strcmp(x->key, y->key);
}

static void
chk_env(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;
	const struct ynode	*map = v->n, *k, *val;
	size_t			 i;
	bool			*dup;

	dup = map_dups(ld, map, "'env'");
	kv_free(g->env, g->nenv);
	g->env = xcalloc(map->nkids / 2 + 1, sizeof(*g->env));
	g->nenv = 0;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		k = map->kids[i];
		val = map->kids[i + 1];
		if (dup[i / 2]) {
			continue;
		}
		if (!env_name_ok(k->s)) {
			lerr(ld, k, "bad env name '%s' (hint: use letters, "
			    "digits and '_', not starting with a digit)",
			    k->s);
			continue;
		}
		if (val->kind != Y_SCALAR || scalar_is_null(val)) {
			lerr(ld, val, "env '%s' must be a string, number or "
			    "boolean, got %s%s", k->s, kind_name(val),
			    val->kind == Y_SCALAR ? " (hint: write \"\" for "
			    "an empty value)" : "");
			continue;
		}
		g->env[g->nenv].key = xstrdup(k->s);
		g->env[g->nenv].value = xstrndup(val->s, val->len);
		g->nenv++;
	}
	free(dup);
	qsort(g->env, g->nenv, sizeof(*g->env), kv_cmp);
}

/*
 * The other keys of a group.
 */

static void
provider_check(struct loader *ld, const struct ynode *n)
{
	const struct spec_opts	*o = ld->opts;
	const char		*sugg;
	struct buf		 b = BUF_INIT;
	size_t			 i;

	if (o == NULL || o->nproviders == 0) {
		return;
	}
	for (i = 0; i < o->nproviders; i++) {
		if (o->providers[i] != NULL &&
		    strcmp(o->providers[i], n->s) == 0) {
			return;
		}
	}
	sugg = str_suggest(n->s, o->providers, o->nproviders);
	if (sugg != NULL) {
		lerr(ld, n, "unknown provider '%s' (hint: did you mean "
		    "'%s'?)", n->s, sugg);
		return;
	}
	for (i = 0; i < o->nproviders; i++) {
		if (o->providers[i] != NULL) {
			buf_addf(&b, "%s%s", b.len > 0 ? ", " : "",
			    o->providers[i]);
		}
	}
	lerr(ld, n, "unknown provider '%s' (hint: known providers are %s)",
	    n->s, buf_str(&b));
	buf_release(&b);
}

static void
chk_group_name(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	(void)ld;
	g->name = xstrdup(v->s);
}

static void
chk_count(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	if (v->i < 0 || v->i > SPEC_MAX_COUNT) {
		lerr(ld, v->n, "'count' must be between 0 and %d, got %s",
		    SPEC_MAX_COUNT, v->s);
		return;
	}
	g->count = (int)v->i;
}

static void
chk_providers(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;
	size_t			 i;

	if (v->n->nkids == 0) {
		lerr(ld, v->n, "'providers' must not be empty (hint: list "
		    "providers in failover order, such as [vastai, runpod])");
		return;
	}
	for (i = 0; i < v->n->nkids; i++) {
		provider_check(ld, v->n->kids[i]);
	}
	strs_free(g->providers, g->nproviders);
	g->providers = strs_copy(v->n, &g->nproviders);
}

static void
chk_provider(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	provider_check(ld, v->n);
	strs_free(g->providers, g->nproviders);
	g->providers = xcalloc(2, sizeof(*g->providers));
	g->providers[0] = xstrdup(v->s);
	g->nproviders = 1;
}

static void
chk_max_price(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	(void)ld;
	g->max_price = v->i;
}

static void
chk_disk(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	if (v->i < 1 || v->i > DISK_GB_MAX) {
		lerr(ld, v->n, "'disk_gb' must be between 1 and %d, got %s",
		    DISK_GB_MAX, v->s);
		return;
	}
	g->disk_gb = (int)v->i;
}

static void
chk_image(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	(void)ld;
	g->image = xstrdup(v->s);
}

static void
chk_regions(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	(void)ld;
	g->regions = strs_copy(v->n, &g->nregions);
}

static void
chk_spot(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	(void)ld;
	g->spot = v->b;
}

static void
chk_ttl(struct loader *ld, const struct val *v, void *obj)
{
	struct group_spec	*g = obj;

	if (v->i <= 0) {
		lerr(ld, v->n, "'ttl' must be longer than 0s (hint: leave "
		    "'ttl' out for no limit)");
		return;
	}
	g->ttl_s = v->i;
}

static void
chk_state(struct loader *ld, const struct val *v, void *obj)
{
	static const char *const states[] = { "running", "stopped" };
	struct group_spec	*g = obj;
	const char		*sugg;

	if (strcmp(v->s, "running") == 0) {
		g->state = GROUP_RUNNING;
	} else if (strcmp(v->s, "stopped") == 0) {
		g->state = GROUP_STOPPED;
	} else {
		sugg = str_suggest(v->s, states, nitems(states));
		if (sugg != NULL) {
			lerr(ld, v->n, "'state' must be running or stopped, "
			    "got '%s' (hint: did you mean '%s'?)", v->s, sugg);
		} else {
			lerr(ld, v->n, "'state' must be running or stopped, "
			    "got '%s'", v->s);
		}
	}
}

/* The group keys, one row each; GF_* name the rows. */
enum {
	GF_NAME,
	GF_COUNT,
	GF_PROVIDERS,
	GF_PROVIDER,
	GF_GPU,
	GF_MAX_PRICE,
	GF_DISK,
	GF_IMAGE,
	GF_REGIONS,
	GF_SPOT,
	GF_TTL,
	GF_STATE,
	GF_BOOTSTRAP,
	GF_ENV,
};

static const struct field group_fields[] = {
	/* key			type	   req	  default     replace */
	[GF_NAME] =
	{ "name",		V_NAME,	    true, NULL,	      false,
	  chk_group_name },
	[GF_COUNT] =
	{ "count",		V_INT,	    true, NULL,	      false,
	  chk_count },
	[GF_PROVIDERS] =
	{ "providers",		V_STRS,	    false, NULL,      false,
	  chk_providers },
	[GF_PROVIDER] =
	{ "provider",		V_STR,	    false, NULL,      false,
	  chk_provider },
	[GF_GPU] =
	{ "gpu",		V_NODE,	    true, NULL,	      true,
	  chk_gpu },
	[GF_MAX_PRICE] =
	{ "max_price_per_hour",	V_MONEY,    true, NULL,	      false,
	  chk_max_price },
	[GF_DISK] =
	{ "disk_gb",		V_INT,	    false, "20",      true,
	  chk_disk },
	[GF_IMAGE] =
	{ "image",		V_STR,	    false, NULL,      true,
	  chk_image },
	[GF_REGIONS] =
	{ "regions",		V_STRS,	    false, NULL,      true,
	  chk_regions },
	[GF_SPOT] =
	{ "spot",		V_BOOL,	    false, "false",   true,
	  chk_spot },
	[GF_TTL] =
	{ "ttl",		V_DURATION, false, NULL,      false,
	  chk_ttl },
	[GF_STATE] =
	{ "state",		V_STR,	    false, "running", false,
	  chk_state },
	[GF_BOOTSTRAP] =
	{ "bootstrap",		V_MAP,	    false, NULL,      true,
	  chk_bootstrap },
	[GF_ENV] =
	{ "env",		V_MAP,	    false, NULL,      true,
	  chk_env },
};

bool
spec_key_forces_replace(const char *key)
{
	size_t	 f;

	f = field_find(group_fields, nitems(group_fields), key);
	return f < nitems(group_fields) && group_fields[f].replace;
}

static void
group_load(struct loader *ld, const struct ynode *map, size_t idx,
    struct group_spec *g)
{
	const struct ynode	*name;
	char			*what;
	uint32_t		 mask;
	bool			 one, many;

	g->line = map->line;
	g->col = map->col;
	name = map_get(map, "name");
	if (name != NULL && name->kind == Y_SCALAR && name->s[0] != '\0') {
		what = xasprintf("group '%s'", name->s);
	} else {
		what = xasprintf("group %zu", idx + 1);
	}
	mask = map_apply(ld, map, what, group_fields, nitems(group_fields),
	    g);
	one = (mask & BIT(GF_PROVIDER)) != 0;
	many = (mask & BIT(GF_PROVIDERS)) != 0;
	if (one && many) {
		lerr(ld, map_get(map, "provider"), "'provider' and "
		    "'providers' are both given in %s (hint: keep one; "
		    "'providers' takes a list)", what);
	} else if (!one && !many) {
		lerr(ld, map, "missing required key 'providers' in %s (hint: "
		    "'providers: [NAME, ...]' or 'provider: NAME')", what);
	}
	free(what);
}

/*
 * The top level of a file: fleet, budget, groups.
 */

static void
chk_fleet_name(struct loader *ld, const struct val *v, void *obj)
{
	struct fleet_spec	*f = obj;

	(void)ld;
	f->name = xstrdup(v->s);
	f->line = v->n->line;
	f->col = v->n->col;
}

static void
chk_max_per_hour(struct loader *ld, const struct val *v, void *obj)
{
	struct fleet_spec	*f = obj;

	(void)ld;
	f->max_per_hour = v->i;
}

static const struct field budget_fields[] = {
	{ "max_per_hour", V_MONEY, true, NULL, false, chk_max_per_hour },
};

static void
chk_budget(struct loader *ld, const struct val *v, void *obj)
{
	struct fleet_spec	*f = obj;

	f->has_budget = true;
	map_apply(ld, v->n, "'budget'", budget_fields, nitems(budget_fields),
	    f);
}

static void
chk_groups(struct loader *ld, const struct val *v, void *obj)
{
	struct fleet_spec	*f = obj;
	const struct ynode	*it;
	struct group_spec	*g;
	size_t			 i, j;

	if (v->n->nkids == 0) {
		lerr(ld, v->n, "'groups' must not be empty (hint: a fleet "
		    "has at least one group; 'count: 0' keeps it empty)");
		return;
	}
	f->groups = xcalloc(v->n->nkids, sizeof(*f->groups));
	for (i = 0; i < v->n->nkids; i++) {
		it = v->n->kids[i];
		if (it->kind != Y_MAP) {
			lerr(ld, it, "group %zu must be a map, got %s", i + 1,
			    kind_name(it));
			continue;
		}
		g = &f->groups[f->ngroups++];
		group_load(ld, it, i, g);
		if (g->name == NULL) {
			continue;
		}
		for (j = 0; j + 1 < f->ngroups; j++) {
			if (f->groups[j].name != NULL &&
			    strcmp(f->groups[j].name, g->name) == 0) {
				lerr(ld, it, "group '%s' is defined twice "
				    "(first at line %d)", g->name,
				    f->groups[j].line);
				break;
			}
		}
	}
}

static const struct field top_fields[] = {
	{ "fleet", V_NAME, true, NULL, false, chk_fleet_name },
	{ "budget", V_MAP, false, NULL, false, chk_budget },
	{ "groups", V_SEQ, true, NULL, false, chk_groups },
};

/*
 * Check one file.  Returns its fleet, or NULL when the file had an
 * error; *seen gets the fleet's name wherever it could be read.
 */
static struct fleet_spec *
file_load(struct loader *ld, const struct found *fd, struct seen *seen)
{
	struct fleet_spec	*f = NULL;
	struct ynode		*root = NULL;
	char			*text = NULL, *slash;
	size_t			 len = 0, first = ld->diags->n, i;

	ld->path = fd->path;
	free(ld->dir);
	ld->dir = xstrdup(fd->path);
	slash = strrchr(ld->dir, '/');
	if (slash == NULL) {
		free(ld->dir);
		ld->dir = xstrdup(".");
	} else if (slash == ld->dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}

	if (file_read(fd->path, SPEC_MAX_FILE_BYTES, &text, &len) == -1) {
		if (errno == EFBIG) {
			lerr(ld, NULL, "file is larger than %d bytes (hint: "
			    "split the fleets into several files)",
			    SPEC_MAX_FILE_BYTES);
		} else {
			lerr(ld, NULL, "cannot read fleet file: %s",
			    strerror(errno));
		}
		goto out;
	}
	root = yaml_tree(ld, text, len);
	if (root == NULL) {
		goto out;
	}
	if (root->kind != Y_MAP) {
		lerr(ld, root, "the top level must be a map with 'fleet' and "
		    "'groups', got %s", kind_name(root));
		goto out;
	}
	f = xcalloc(1, sizeof(*f));
	map_apply(ld, root, "the top level", top_fields, nitems(top_fields),
	    f);
	if (f->name != NULL) {
		seen->name = xstrdup(f->name);
		seen->line = f->line;
		seen->col = f->col;
	}
	if (ld->diags->n > first) {
		fleet_release(f);
		free(f);
		f = NULL;
		goto out;
	}
	f->file = xstrdup(fd->abs);
	for (i = 0; i < f->ngroups; i++) {
		spec_group_hash(&f->groups[i], f->groups[i].hash);
	}
out:
	diags_sort_from(ld->diags, first);
	ynode_free(root);
	free(text);
	return f;
}

/*
 * Paths to files.
 */

struct walk {
	struct loader	*ld;
	struct found	*v;		/* owned */
	size_t		 n;
	struct dirid {
		dev_t	 dev;
		ino_t	 ino;
	}		*dirs;		/* owned; directories seen */
	size_t		 ndirs;
	bool		 full;		/* SPEC_MAX_FILES reached */
};

static void
walk_add(struct walk *w, const char *path)
{
	char	*abs;
	size_t	 i;

	if (w->full) {
		return;
	}
	abs = realpath(path, NULL);
	if (abs == NULL) {
		lerr_at(w->ld, path, 0, 0, "cannot resolve fleet file: %s",
		    strerror(errno));
		return;
	}
	for (i = 0; i < w->n; i++) {
		if (strcmp(w->v[i].abs, abs) == 0) {
			free(abs);
			return;
		}
	}
	if (w->n == SPEC_MAX_FILES) {
		lerr_at(w->ld, path, 0, 0, "more than %d fleet files (hint: "
		    "load fewer directories at once)", SPEC_MAX_FILES);
		w->full = true;
		free(abs);
		return;
	}
	w->v = xreallocarray(w->v, w->n + 1, sizeof(*w->v));
	w->v[w->n].path = xstrdup(path);
	w->v[w->n].abs = abs;
	w->n++;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
yaml_name(const char *name)
{
	return str_has_suffix(name, ".yaml") || str_has_suffix(name, ".yml");
}

static void
walk_dir(struct walk *w, const char *dir, const struct stat *dst)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		**names = NULL, *path;
	size_t		 n = 0, i;

	for (i = 0; i < w->ndirs; i++) {
		if (w->dirs[i].dev == dst->st_dev &&
		    w->dirs[i].ino == dst->st_ino) {
			return;
		}
	}
	w->dirs = xreallocarray(w->dirs, w->ndirs + 1, sizeof(*w->dirs));
	w->dirs[w->ndirs].dev = dst->st_dev;
	w->dirs[w->ndirs].ino = dst->st_ino;
	w->ndirs++;

	d = opendir(dir);
	if (d == NULL) {
		lerr_at(w->ld, dir, 0, 0, "cannot read directory: %s",
		    strerror(errno));
		return;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			break;
		}
		if (de->d_name[0] == '.') {
			continue;
		}
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		lerr_at(w->ld, dir, 0, 0, "cannot read directory: %s",
		    strerror(errno));
	}
	closedir(d);
	if (n > 0) {
		qsort(names, n, sizeof(*names), name_cmp);
	}

	for (i = 0; i < n && !w->full; i++) {
		if (str_has_suffix(dir, "/")) {
			path = xasprintf("%s%s", dir, names[i]);
		} else {
			path = xasprintf("%s/%s", dir, names[i]);
		}
		if (stat(path, &st) == -1) {
			if (yaml_name(names[i])) {
				lerr_at(w->ld, path, 0, 0, "cannot read fleet "
				    "file: %s", strerror(errno));
			}
		} else if (S_ISDIR(st.st_mode)) {
			walk_dir(w, path, &st);
		} else if (S_ISREG(st.st_mode) && yaml_name(names[i])) {
			walk_add(w, path);
		}
		free(path);
	}
	strs_free(names, n);
}

/*
 * The spec.
 */

static void
group_release(struct group_spec *g)
{
	free(g->name);
	strs_free(g->providers, g->nproviders);
	free(g->gpu.type);
	free(g->image);
	strs_free(g->regions, g->nregions);
	free(g->bootstrap);
	free(g->bootstrap_src);
	kv_free(g->env, g->nenv);
	memset(g, 0, sizeof(*g));
}

static void
fleet_release(struct fleet_spec *f)
{
	size_t	 i;

	if (f == NULL) {
		return;
	}
	for (i = 0; i < f->ngroups; i++) {
		group_release(&f->groups[i]);
	}
	free(f->groups);
	free(f->name);
	free(f->file);
	memset(f, 0, sizeof(*f));
}

void
spec_free(struct spec *sp)
{
	size_t	 i;

	if (sp == NULL) {
		return;
	}
	for (i = 0; i < sp->nfleets; i++) {
		fleet_release(&sp->fleets[i]);
	}
	free(sp->fleets);
	strs_free(sp->roots, sp->nroots);
	free(sp);
}

static int
fleet_cmp(const void *a, const void *b)
{
	const struct fleet_spec	*x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Each repeated fleet name is reported at its second definition. */
static void
fleet_dups(struct loader *ld, const struct found *files,
    const struct seen *seen, size_t n)
{
	size_t	 i, j;

	for (i = 0; i < n; i++) {
		if (seen[i].name == NULL) {
			continue;
		}
		for (j = 0; j < i; j++) {
			if (seen[j].name == NULL ||
			    strcmp(seen[i].name, seen[j].name) != 0) {
				continue;
			}
			lerr_at(ld, files[i].path, seen[i].line, seen[i].col,
			    "fleet '%s' is already defined at %s:%d:%d "
			    "(hint: fleet names are unique across all files)",
			    seen[i].name, files[j].path, seen[j].line,
			    seen[j].col);
			break;
		}
	}
}

int
spec_load(const char *const *paths, size_t npaths,
    const struct spec_opts *opts, struct spec **out,
    struct spec_diags *diags)
{
	struct loader		 ld;
	struct walk		 w;
	struct spec		*sp;
	struct fleet_spec	**fleets = NULL;
	struct seen		*seen = NULL;
	struct stat		 st;
	char			**roots, *abs;
	size_t			 nroots = 0, i, nf = 0;
	int			 rc = -1;

	*out = NULL;
	diags->v = NULL;
	diags->n = 0;
	memset(&ld, 0, sizeof(ld));
	ld.opts = opts;
	ld.diags = diags;
	memset(&w, 0, sizeof(w));
	w.ld = &ld;
	roots = xcalloc(npaths + 1, sizeof(*roots));

	for (i = 0; i < npaths && !w.full; i++) {
		if (stat(paths[i], &st) == -1) {
			if (errno == ENOENT) {
				lerr_at(&ld, paths[i], 0, 0, "fleet path '%s' "
				    "does not exist", paths[i]);
			} else {
				lerr_at(&ld, paths[i], 0, 0, "cannot read "
				    "fleet path '%s': %s", paths[i],
				    strerror(errno));
			}
			continue;
		}
		abs = realpath(paths[i], NULL);
		if (abs == NULL) {
			lerr_at(&ld, paths[i], 0, 0, "cannot resolve fleet "
			    "path '%s': %s", paths[i], strerror(errno));
			continue;
		}
		if (strs_find(roots, nroots, abs)) {
			free(abs);		/* the same root named twice */
			continue;
		}
		roots[nroots++] = abs;
		if (S_ISDIR(st.st_mode)) {
			walk_dir(&w, paths[i], &st);
		} else if (S_ISREG(st.st_mode)) {
			walk_add(&w, paths[i]);
		} else {
			lerr_at(&ld, paths[i], 0, 0, "fleet path '%s' is not "
			    "a file or a directory", paths[i]);
		}
	}

	if (!w.full) {
		fleets = xcalloc(w.n + 1, sizeof(*fleets));
		seen = xcalloc(w.n + 1, sizeof(*seen));
		for (i = 0; i < w.n; i++) {
			fleets[i] = file_load(&ld, &w.v[i], &seen[i]);
		}
		fleet_dups(&ld, w.v, seen, w.n);
	}
	if (diags->n > 0) {
		goto cleanup;
	}

	sp = xcalloc(1, sizeof(*sp));
	sp->fleets = xcalloc(w.n + 1, sizeof(*sp->fleets));
	for (i = 0; i < w.n; i++) {
		sp->fleets[nf++] = *fleets[i];	/* the struct moves to sp */
		free(fleets[i]);
		fleets[i] = NULL;
	}
	sp->nfleets = nf;
	qsort(sp->fleets, sp->nfleets, sizeof(*sp->fleets), fleet_cmp);
	sp->roots = roots;		/* ownership moves to sp */
	sp->nroots = nroots;
	roots = NULL;
	nroots = 0;
	*out = sp;
	rc = 0;

cleanup:
	for (i = 0; i < w.n; i++) {
		if (fleets != NULL && fleets[i] != NULL) {
			fleet_release(fleets[i]);
			free(fleets[i]);
		}
		if (seen != NULL) {
			free(seen[i].name);
		}
		free(w.v[i].path);
		free(w.v[i].abs);
	}
	free(fleets);
	free(seen);
	free(w.v);
	free(w.dirs);
	free(ld.dir);
	strs_free(roots, nroots);
	return rc;
}

const struct fleet_spec *
spec_fleet(const struct spec *sp, const char *name)
{
	size_t	 i;

	for (i = 0; i < sp->nfleets; i++) {
		if (strcmp(sp->fleets[i].name, name) == 0) {
			return &sp->fleets[i];
		}
	}
	return NULL;
}

const struct group_spec *
spec_group(const struct fleet_spec *f, const char *name)
{
	size_t	 i;

	for (i = 0; i < f->ngroups; i++) {
		if (strcmp(f->groups[i].name, name) == 0) {
			return &f->groups[i];
		}
	}
	return NULL;
}

bool
spec_covers_file(const struct spec *sp, const char *file)
{
	const char	*r;
	size_t		 i, len;

	for (i = 0; i < sp->nroots; i++) {
		r = sp->roots[i];
		len = strlen(r);
		if (strcmp(file, r) == 0) {
			return true;
		}
		if (strncmp(file, r, len) != 0) {
			continue;
		}
		if (file[len] == '/' || (len > 0 && r[len - 1] == '/')) {
			return true;
		}
	}
	return false;
}
