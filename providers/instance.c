/*
 * instance.c: ownership helpers for what providers report (instances and
 * offers), shared by every provider and the reconciler.
 */
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

void
instance_release(struct instance *in)
{
	if (in == NULL)
		return;
	free(in->id);
	free(in->label);
	free(in->gpu);
	free(in->region);
	free(in->ssh_host);
	free(in->ssh_user);
	free(in->status);
	free(in->files_root);
	free(in->ssh_key);
	memset(in, 0, sizeof(*in));
}

void
instance_copy(struct instance *dst, const struct instance *src)
{
	*dst = *src;
	dst->id = dup_or_null(src->id);
	dst->label = dup_or_null(src->label);
	dst->gpu = dup_or_null(src->gpu);
	dst->region = dup_or_null(src->region);
	dst->ssh_host = dup_or_null(src->ssh_host);
	dst->ssh_user = dup_or_null(src->ssh_user);
	dst->status = dup_or_null(src->status);
	dst->files_root = dup_or_null(src->files_root);
	dst->ssh_key = dup_or_null(src->ssh_key);
}

/* A host name, an IPv4 address or an IPv6 literal: nothing else. */
static bool
host_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 253 || *s == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:[]%") == n;
}

/* A POSIX portable user name (letters, digits, '.', '_', '-'). */
static bool
user_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 64 || *s == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/*
 * SSH details come from the provider's API, that is from whoever rents
 * the host out; they end up in a printed `ssh -p PORT USER@HOST` line
 * that people paste into a shell, in known_hosts and in the ledger.  A
 * host or user that is not one (spaces, quotes, control characters, a
 * leading '-' that ssh would take for an option) is dropped, with a
 * warning: the instance is still tracked and billed as ever, only its
 * SSH details are not believed.
 */
void
instance_ssh_sanitize(struct instance *in, const char *provider)
{
	if (in->ssh_host != NULL && !host_ok(in->ssh_host)) {
		log_warnx("%s: instance %s: the provider's SSH host is not a "
		    "host name or address; ignored", provider,
		    in->id != NULL ? in->id : "?");
		free(in->ssh_host);
		in->ssh_host = NULL;
		in->ssh_port = 0;
	}
	if (in->ssh_user != NULL && !user_ok(in->ssh_user)) {
		log_warnx("%s: instance %s: the provider's SSH user is not a "
		    "user name; ignored", provider,
		    in->id != NULL ? in->id : "?");
		free(in->ssh_user);
		in->ssh_user = NULL;
	}
	if (in->ssh_port < 0 || in->ssh_port > 65535)
		in->ssh_port = 0;
}

struct instance *
instance_list_add(struct instance_list *l)
{
	struct instance	*in;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	in = &l->v[l->n++];
	memset(in, 0, sizeof(*in));
	return in;
}

void
instance_list_release(struct instance_list *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		instance_release(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct instance *
instance_list_find(const struct instance_list *l, const char *id)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].id != NULL && strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

struct offer *
offer_list_add(struct offer_list *l)
{
	struct offer	*o;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	o = &l->v[l->n++];
	memset(o, 0, sizeof(*o));
	return o;
}

void
offer_list_release(struct offer_list *l)
{
	size_t	 i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].gpu);
		free(l->v[i].region);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
offer_cmp(const void *a, const void *b)
{
	const struct offer	*x = a, *y = b;

	if (x->price != y->price)
		return x->price < y->price ? -1 : 1;
	/* stable tie-break so that choices are deterministic */
	return strcmp(x->id != NULL ? x->id : "", y->id != NULL ? y->id : "");
}

void
offer_list_sort(struct offer_list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), offer_cmp);
}

const char *
kv_get(const struct kv *v, size_t n, const char *key)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	return NULL;
}

int
provider_options_check(const char *provider, const struct provider_conf *conf,
    const char *const *keys, size_t nkeys, struct gr_err *e)
{
	struct buf	 b = BUF_INIT;
	const char	*k, *s;
	size_t		 i, j;

	for (i = 0; i < conf->noptions; i++) {
		k = conf->options[i].key;
		for (j = 0; j < nkeys; j++)
			if (strcmp(k, keys[j]) == 0)
				break;
		if (j == nkeys) {
			gr_err_set(e, GR_E_CONFIG, "provider '%s': unknown "
			    "option '%s'", provider, k);
			s = str_suggest(k, keys, nkeys);
			if (s != NULL) {
				gr_err_hint(e, "did you mean '%s'?", s);
				return -1;
			}
			for (j = 0; j < nkeys; j++)
				buf_addf(&b, "%s%s", j == 0 ? "" : j + 1 ==
				    nkeys ? " and " : ", ", keys[j]);
			gr_err_hint(e, "%s takes %s", provider, buf_str(&b));
			buf_release(&b);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(k, conf->options[j].key) == 0) {
				gr_err_set(e, GR_E_CONFIG, "provider '%s': "
				    "option '%s' is given twice", provider, k);
				return -1;
			}
		}
	}
	return 0;
}
