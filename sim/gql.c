/*
 * gql.c: the subset of GraphQL that RunPod's clients send
 * (PROVIDER-APIS.md 2.1 and section 4): one or more operations, variable
 * definitions with defaults, inline literals (strings, block strings,
 * numbers, true/false/null, enums, lists, objects), $variables, aliases,
 * nested field arguments, and @include/@skip.  Variables are resolved
 * while parsing, so a field's args are plain JSON.  Fragments are not
 * supported: no RunPod client we know of sends them.
 *
 * gql_project then cuts a full JSON object down to the selection set,
 * under the aliases asked for; a hook computes fields that take
 * arguments (lowestPrice(input: ...)).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum tok {
	T_EOF = 0,
	T_PUNCT,
	T_SPREAD,
	T_NAME,
	T_INT,
	T_FLOAT,
	T_STRING,
	T_ERROR
};

struct lex {
	const char	*p;
	enum tok	 t;
	char		 c;		/* T_PUNCT */
	struct buf	 text;		/* T_NAME, numbers, T_STRING */
	json_t		*vars;		/* borrowed */
	json_t		*defaults;	/* this operation's; owned */
	char		*err;
	size_t		 errlen;
	bool		 failed;
};

static void
lex_fail(struct lex *l, const char *fmt, ...) GR_PRINTF(2, 3);

static void
lex_fail(struct lex *l, const char *fmt, ...)
{
	va_list	 ap;

	if (l->failed)
		return;
	l->failed = true;
	va_start(ap, fmt);
	(void)vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	l->t = T_ERROR;
}

static void
add_utf8(struct buf *b, unsigned long cp)
{
	if (cp < 0x80)
		buf_addc(b, (char)cp);
	else if (cp < 0x800) {
		buf_addc(b, (char)(0xc0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addc(b, (char)(0xe0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

static void
lex_string(struct lex *l)
{
	const char	*p = l->p + 1;
	char		 hex[5];

	buf_reset(&l->text);
	if (strncmp(l->p, "\"\"\"", 3) == 0) {
		p = l->p + 3;
		while (*p != '\0' && strncmp(p, "\"\"\"", 3) != 0) {
			if (strncmp(p, "\\\"\"\"", 4) == 0) {
				buf_adds(&l->text, "\"\"\"");
				p += 4;
			} else
				buf_addc(&l->text, *p++);
		}
		if (*p == '\0') {
			lex_fail(l, "Syntax Error: Unterminated string.");
			return;
		}
		l->p = p + 3;
		l->t = T_STRING;
		return;
	}
	while (*p != '"') {
		if (*p == '\0' || *p == '\n') {
			lex_fail(l, "Syntax Error: Unterminated string.");
			return;
		}
		if (*p != '\\') {
			buf_addc(&l->text, *p++);
			continue;
		}
		p++;
		switch (*p) {
		case '"': case '\\': case '/':
			buf_addc(&l->text, *p);
			break;
		case 'b':
			buf_addc(&l->text, '\b');
			break;
		case 'f':
			buf_addc(&l->text, '\f');
			break;
		case 'n':
			buf_addc(&l->text, '\n');
			break;
		case 'r':
			buf_addc(&l->text, '\r');
			break;
		case 't':
			buf_addc(&l->text, '\t');
			break;
		case 'u':
			if (!isxdigit((unsigned char)p[1]) ||
			    !isxdigit((unsigned char)p[2]) ||
			    !isxdigit((unsigned char)p[3]) ||
			    !isxdigit((unsigned char)p[4])) {
				lex_fail(l, "Syntax Error: Invalid Unicode "
				    "escape sequence.");
				return;
			}
			memcpy(hex, p + 1, 4);
			hex[4] = '\0';
			add_utf8(&l->text, strtoul(hex, NULL, 16));
			p += 4;
			break;
		default:
			lex_fail(l, "Syntax Error: Invalid character escape "
			    "sequence.");
			return;
		}
		p++;
	}
	l->p = p + 1;
	l->t = T_STRING;
}

static void
lex_next(struct lex *l)
{
	const char	*p;

	if (l->failed)
		return;
	for (;;) {
		while (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' ||
		    *l->p == '\r' || *l->p == ',')
			l->p++;
		if (*l->p != '#')
			break;
		while (*l->p != '\0' && *l->p != '\n')
			l->p++;
	}
	p = l->p;
	if (*p == '\0') {
		l->t = T_EOF;
		return;
	}
	if (strncmp(p, "...", 3) == 0) {
		l->t = T_SPREAD;
		l->p += 3;
		return;
	}
	if (strchr("!$()[]{}:=@|&", *p) != NULL) {
		l->t = T_PUNCT;
		l->c = *p;
		l->p++;
		return;
	}
	if (*p == '"') {
		lex_string(l);
		return;
	}
	buf_reset(&l->text);
	if (isalpha((unsigned char)*p) || *p == '_') {
		while (isalnum((unsigned char)*p) || *p == '_')
			buf_addc(&l->text, *p++);
		l->p = p;
		l->t = T_NAME;
		return;
	}
	if (isdigit((unsigned char)*p) || *p == '-') {
		l->t = T_INT;
		if (*p == '-')
			buf_addc(&l->text, *p++);
		while (isdigit((unsigned char)*p))
			buf_addc(&l->text, *p++);
		if (*p == '.') {
			l->t = T_FLOAT;
			buf_addc(&l->text, *p++);
			while (isdigit((unsigned char)*p))
				buf_addc(&l->text, *p++);
		}
		if (*p == 'e' || *p == 'E') {
			l->t = T_FLOAT;
			buf_addc(&l->text, *p++);
			if (*p == '+' || *p == '-')
				buf_addc(&l->text, *p++);
			while (isdigit((unsigned char)*p))
				buf_addc(&l->text, *p++);
		}
		l->p = p;
		return;
	}
	lex_fail(l, "Syntax Error: Unexpected character \"%c\".", *p);
}

static bool
is_punct(struct lex *l, char c)
{
	return l->t == T_PUNCT && l->c == c;
}

static bool
expect(struct lex *l, char c)
{
	if (!is_punct(l, c)) {
		lex_fail(l, "Syntax Error: Expected \"%c\", found %s.", c,
		    l->t == T_EOF ? "<EOF>" : l->t == T_NAME ?
		    buf_str(&l->text) : "another token");
		return false;
	}
	lex_next(l);
	return true;
}

static json_t *parse_value(struct lex *, char **var);

static json_t *
parse_value(struct lex *l, char **var)
{
	json_t		*v, *e;
	char		*key;
	const char	*name;

	if (var != NULL)
		*var = NULL;
	switch (l->t) {
	case T_PUNCT:
		if (l->c == '$') {
			lex_next(l);
			if (l->t != T_NAME) {
				lex_fail(l, "Syntax Error: Expected Name after "
				    "\"$\".");
				return NULL;
			}
			name = buf_str(&l->text);
			if (var != NULL)
				*var = xstrdup(name);
			v = json_object_get(l->vars, name);
			if (v == NULL)
				v = json_object_get(l->defaults, name);
			v = v != NULL ? json_deep_copy(v) : json_null();
			lex_next(l);
			return v;
		}
		if (l->c == '[') {
			lex_next(l);
			v = json_array();
			while (!is_punct(l, ']') && !l->failed) {
				if (l->t == T_EOF) {
					lex_fail(l, "Syntax Error: Expected "
					    "\"]\", found <EOF>.");
					break;
				}
				e = parse_value(l, NULL);
				if (e == NULL)
					break;
				json_array_append_new(v, e);
			}
			if (l->failed) {
				json_decref(v);
				return NULL;
			}
			lex_next(l);
			return v;
		}
		if (l->c == '{') {
			lex_next(l);
			v = json_object();
			while (!is_punct(l, '}') && !l->failed) {
				if (l->t != T_NAME) {
					lex_fail(l, "Syntax Error: Expected "
					    "Name in an input object.");
					break;
				}
				key = xstrdup(buf_str(&l->text));
				lex_next(l);
				if (!expect(l, ':')) {
					free(key);
					break;
				}
				e = parse_value(l, NULL);
				if (e == NULL) {
					free(key);
					break;
				}
				json_object_set_new(v, key, e);
				free(key);
			}
			if (l->failed) {
				json_decref(v);
				return NULL;
			}
			lex_next(l);
			return v;
		}
		break;
	case T_INT:
		v = json_integer(strtoll(buf_str(&l->text), NULL, 10));
		lex_next(l);
		return v;
	case T_FLOAT:
		v = json_real(strtod(buf_str(&l->text), NULL));
		lex_next(l);
		return v;
	case T_STRING:
		v = json_string(buf_str(&l->text));
		if (v == NULL)
			v = json_string("");
		lex_next(l);
		return v;
	case T_NAME:
		name = buf_str(&l->text);
		if (strcmp(name, "true") == 0)
			v = json_true();
		else if (strcmp(name, "false") == 0)
			v = json_false();
		else if (strcmp(name, "null") == 0)
			v = json_null();
		else
			v = json_string(name);	/* an enum value */
		lex_next(l);
		return v;
	default:
		break;
	}
	lex_fail(l, "Syntax Error: Unexpected %s.", l->t == T_EOF ? "<EOF>" :
	    "token");
	return NULL;
}

/* (name: value, ...) into args; variables remembered in argvars. */
static void
parse_args(struct lex *l, json_t *args, json_t *argvars)
{
	char	*name, *var;
	json_t	*v;

	lex_next(l);	/* ( */
	while (!is_punct(l, ')') && !l->failed) {
		if (l->t != T_NAME) {
			lex_fail(l, "Syntax Error: Expected Name, found %s.",
			    l->t == T_EOF ? "<EOF>" : "another token");
			return;
		}
		name = xstrdup(buf_str(&l->text));
		lex_next(l);
		if (!expect(l, ':')) {
			free(name);
			return;
		}
		v = parse_value(l, &var);
		if (v == NULL) {
			free(name);
			free(var);
			return;
		}
		json_object_set_new(args, name, v);
		if (var != NULL && argvars != NULL)
			json_object_set_new(argvars, name, json_string(var));
		free(var);
		free(name);
	}
	lex_next(l);
}

/* @include(if: x) / @skip(if: x): false when the field is left out. */
static bool
parse_directives(struct lex *l)
{
	bool	 keep = true, skip;
	json_t	*args;

	while (is_punct(l, '@') && !l->failed) {
		lex_next(l);
		if (l->t != T_NAME) {
			lex_fail(l, "Syntax Error: Expected directive name.");
			return false;
		}
		skip = strcmp(buf_str(&l->text), "skip") == 0;
		if (!skip && strcmp(buf_str(&l->text), "include") != 0) {
			lex_fail(l, "Unknown directive \"@%s\".",
			    buf_str(&l->text));
			return false;
		}
		lex_next(l);
		args = json_object();
		if (is_punct(l, '('))
			parse_args(l, args, NULL);
		if (json_is_true(json_object_get(args, "if")) == skip)
			keep = false;
		json_decref(args);
	}
	return keep;
}

static void
field_release(struct gql_field *f)
{
	size_t	 k;

	free(f->alias);
	free(f->name);
	json_decref(f->args);
	json_decref(f->argvars);
	for (k = 0; k < f->nsel; k++)
		field_release(&f->sel[k]);
	free(f->sel);
	memset(f, 0, sizeof(*f));
}

static void
parse_selection(struct lex *l, struct gql_field **out, size_t *nout, int depth)
{
	struct gql_field	 f;
	bool			 keep;

	*out = NULL;
	*nout = 0;
	if (depth > 20) {
		lex_fail(l, "Query is nested too deeply.");
		return;
	}
	if (!expect(l, '{'))
		return;
	while (!is_punct(l, '}') && !l->failed) {
		if (l->t == T_SPREAD) {
			lex_fail(l, "Fragments are not supported by "
			    "gpureconcile-sim.");
			return;
		}
		if (l->t != T_NAME) {
			lex_fail(l, "Syntax Error: Expected Name, found %s.",
			    l->t == T_EOF ? "<EOF>" : "another token");
			return;
		}
		memset(&f, 0, sizeof(f));
		f.name = xstrdup(buf_str(&l->text));
		f.args = json_object();
		f.argvars = json_object();
		lex_next(l);
		if (is_punct(l, ':')) {
			lex_next(l);
			if (l->t != T_NAME) {
				lex_fail(l, "Syntax Error: Expected Name after "
				    "alias.");
				field_release(&f);
				return;
			}
			f.alias = f.name;
			f.name = xstrdup(buf_str(&l->text));
			lex_next(l);
		}
		if (is_punct(l, '('))
			parse_args(l, f.args, f.argvars);
		keep = parse_directives(l);
		if (is_punct(l, '{'))
			parse_selection(l, &f.sel, &f.nsel, depth + 1);
		if (l->failed || !keep) {
			field_release(&f);
			continue;
		}
		*out = xreallocarray(*out, *nout + 1, sizeof(**out));
		(*out)[(*nout)++] = f;
	}
	lex_next(l);
}

/* Type references in variable definitions: Name, [Type], Type!. */
static void
skip_type(struct lex *l)
{
	if (is_punct(l, '[')) {
		lex_next(l);
		skip_type(l);
		expect(l, ']');
	} else if (l->t == T_NAME)
		lex_next(l);
	else
		lex_fail(l, "Syntax Error: Expected a type.");
	if (is_punct(l, '!'))
		lex_next(l);
}

static void
parse_vardefs(struct lex *l)
{
	char	*name;
	json_t	*v;

	lex_next(l);	/* ( */
	while (!is_punct(l, ')') && !l->failed) {
		if (!expect(l, '$'))
			return;
		if (l->t != T_NAME) {
			lex_fail(l, "Syntax Error: Expected variable name.");
			return;
		}
		name = xstrdup(buf_str(&l->text));
		lex_next(l);
		if (!expect(l, ':')) {
			free(name);
			return;
		}
		skip_type(l);
		if (is_punct(l, '=')) {
			lex_next(l);
			v = parse_value(l, NULL);
			if (v != NULL)
				json_object_set_new(l->defaults, name, v);
		}
		free(name);
	}
	lex_next(l);
}

void
gql_doc_release(struct gql_doc *d)
{
	size_t	 k;

	if (d == NULL)
		return;
	free(d->op);
	for (k = 0; k < d->nsel; k++)
		field_release(&d->sel[k]);
	free(d->sel);
	memset(d, 0, sizeof(*d));
}

int
gql_parse(const char *src, json_t *variables, const char *opname,
    struct gql_doc *d, char *err, size_t errlen)
{
	struct lex	 l;
	struct gql_doc	 cur;
	char		*name;
	bool		 chosen = false;
	int		 nops = 0;

	memset(d, 0, sizeof(*d));
	memset(&l, 0, sizeof(l));
	l.p = src;
	l.vars = json_is_object(variables) ? variables : NULL;
	l.err = err;
	l.errlen = errlen;
	buf_init(&l.text);
	lex_next(&l);
	while (l.t != T_EOF && !l.failed) {
		memset(&cur, 0, sizeof(cur));
		name = NULL;
		json_decref(l.defaults);
		l.defaults = json_object();
		if (is_punct(&l, '{'))
			cur.op = xstrdup("query");
		else if (l.t == T_NAME && (strcmp(buf_str(&l.text), "query") ==
		    0 || strcmp(buf_str(&l.text), "mutation") == 0)) {
			cur.op = xstrdup(buf_str(&l.text));
			lex_next(&l);
			if (l.t == T_NAME) {
				name = xstrdup(buf_str(&l.text));
				lex_next(&l);
			}
			if (is_punct(&l, '('))
				parse_vardefs(&l);
			(void)parse_directives(&l);
		} else if (l.t == T_NAME && strcmp(buf_str(&l.text),
		    "fragment") == 0) {
			lex_fail(&l, "Fragments are not supported by "
			    "gpureconcile-sim.");
			break;
		} else {
			lex_fail(&l, "Syntax Error: Unexpected %s.",
			    l.t == T_NAME ? buf_str(&l.text) : "token");
			break;
		}
		parse_selection(&l, &cur.sel, &cur.nsel, 0);
		nops++;
		if (!l.failed && !chosen && (opname == NULL ||
		    (name != NULL && strcmp(name, opname) == 0))) {
			*d = cur;
			chosen = true;
		} else
			gql_doc_release(&cur);
		free(name);
	}
	json_decref(l.defaults);
	buf_release(&l.text);
	if (!l.failed && nops > 1 && opname == NULL) {
		gql_doc_release(d);
		(void)snprintf(err, errlen, "Must provide operation name if "
		    "query contains multiple operations.");
		return -1;
	}
	if (!l.failed && !chosen) {
		(void)snprintf(err, errlen, nops == 0 ? "Syntax Error: "
		    "Unexpected <EOF>." : "Unknown operation named \"%s\".",
		    opname != NULL ? opname : "");
		return -1;
	}
	if (l.failed) {
		gql_doc_release(d);
		return -1;
	}
	return 0;
}

json_t *
gql_project(json_t *full, const struct gql_field *sel, size_t nsel,
    gql_hook hook, void *ctx)
{
	json_t			*out = json_object(), *v, *e, *arr;
	const struct gql_field	*f;
	size_t			 k, i;
	bool			 owned;

	for (k = 0; k < nsel; k++) {
		f = &sel[k];
		owned = false;
		v = hook != NULL ? hook(ctx, full, f) : NULL;
		if (v != NULL)
			owned = true;
		else if (strcmp(f->name, "__typename") == 0) {
			v = json_object_get(full, "__type");
			if (v == NULL)
				v = json_null();
		} else
			v = json_object_get(full, f->name);
		if (v == NULL)
			v = json_null();
		if (f->nsel > 0 && json_is_object(v)) {
			e = gql_project(v, f->sel, f->nsel, hook, ctx);
			if (owned)
				json_decref(v);
			v = e;
		} else if (f->nsel > 0 && json_is_array(v)) {
			arr = json_array();
			json_array_foreach(v, i, e) {
				if (json_is_object(e))
					json_array_append_new(arr,
					    gql_project(e, f->sel, f->nsel,
					    hook, ctx));
				else
					json_array_append(arr, e);
			}
			if (owned)
				json_decref(v);
			v = arr;
		} else if (!owned)
			json_incref(v);
		json_object_set_new(out, f->alias != NULL ? f->alias : f->name,
		    v);
	}
	return out;
}
