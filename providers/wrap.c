/*
 * wrap.c: the only doors from the core into a provider.  Each turns an
 * empty slot into GR_E_UNSUPPORTED, consults the fault-injection hook,
 * counts and times the call, and stamps the provider's name on errors.
 */
#include <stdio.h>
#include <string.h>

#include "provider.h"

static const char *const op_names[PROV_OP__COUNT] = {
	"offers", "spawn", "terminate", "list", "get", "stop", "start",
};

static provider_inject_fn	 inject_fn;
static void			*inject_arg;

const char *
prov_op_name(enum prov_op op)
{
	return (int)op >= 0 && op < PROV_OP__COUNT ? op_names[op] : "?";
}

void
provider_set_inject(provider_inject_fn fn, void *arg)
{
	inject_fn = fn;
	inject_arg = arg;
}

/* Before the call: NULL slot and injected faults.  0: go ahead. */
static int
wrap_enter(struct provider *p, enum prov_op op, bool has_slot,
    const char *id, struct gr_err *e)
{
	gr_err_clear(e);
	__atomic_add_fetch(&p->calls[op], 1, __ATOMIC_RELAXED);
	if (!has_slot) {
		snprintf(e->provider, sizeof(e->provider), "%s", p->name);
		gr_err_set(e, GR_E_UNSUPPORTED, "%s: provider '%s' cannot %s "
		    "instances", prov_op_name(op), p->name, prov_op_name(op));
		return -1;
	}
	if (inject_fn != NULL && inject_fn(p, op, id, e, inject_arg) == -1) {
		snprintf(e->provider, sizeof(e->provider), "%s", p->name);
		log_debug("%s: %s%s%s: injected %s", p->name, prov_op_name(op),
		    id != NULL ? " " : "", id != NULL ? id : "",
		    gr_code_name(e->code));
		return -1;
	}
	return 0;
}

static int
wrap_leave(struct provider *p, enum prov_op op, const char *id, int rc,
    int64_t t0, struct gr_err *e)
{
	int64_t	 ms = clock_mono_ms() - t0;

	if (rc == -1) {
		__atomic_add_fetch(&p->errors[op], 1, __ATOMIC_RELAXED);
		if (e->code == GR_OK)
			gr_err_set(e, GR_E_INTERNAL, "%s: provider '%s' failed "
			    "without saying why", prov_op_name(op), p->name);
		snprintf(e->provider, sizeof(e->provider), "%s", p->name);
		log_debug("%s: %s%s%s: %s after %lld ms: %s", p->name,
		    prov_op_name(op), id != NULL ? " " : "",
		    id != NULL ? id : "", gr_code_name(e->code),
		    (long long)ms, e->msg);
	} else
		log_debug("%s: %s%s%s: ok in %lld ms", p->name,
		    prov_op_name(op), id != NULL ? " " : "",
		    id != NULL ? id : "", (long long)ms);
	return rc;
}

int
provider_offers(struct provider *p, const struct gpu_req *req,
    struct offer_list *out, struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_OFFERS, p->ops->offers != NULL, NULL, e))
		return -1;
	rc = p->ops->offers(p, req, out, e);
	if (rc == 0)
		offer_list_sort(out);
	return wrap_leave(p, PROV_OP_OFFERS, NULL, rc, t0, e);
}

int
provider_spawn(struct provider *p, const struct spawn_req *req,
    struct instance *out, struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_SPAWN, p->ops->spawn != NULL, req->label,
	    e))
		return -1;
	rc = p->ops->spawn(p, req, out, e);
	if (rc == 0)
		instance_ssh_sanitize(out, p->name);
	return wrap_leave(p, PROV_OP_SPAWN, req->label, rc, t0, e);
}

int
provider_terminate(struct provider *p, const char *id, struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_TERMINATE, p->ops->terminate != NULL, id,
	    e))
		return -1;
	rc = p->ops->terminate(p, id, e);
	/* Idempotent by contract: an instance already gone is success. */
	if (rc == -1 && e->code == GR_E_NOT_FOUND) {
		gr_err_clear(e);
		rc = 0;
	}
	return wrap_leave(p, PROV_OP_TERMINATE, id, rc, t0, e);
}

int
provider_list(struct provider *p, struct instance_list *out,
    struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_LIST, p->ops->list != NULL, NULL, e))
		return -1;
	rc = p->ops->list(p, out, e);
	if (rc == -1)
		instance_list_release(out);
	else
		for (size_t i = 0; i < out->n; i++)
			instance_ssh_sanitize(&out->v[i], p->name);
	return wrap_leave(p, PROV_OP_LIST, NULL, rc, t0, e);
}

int
provider_get(struct provider *p, const char *id, struct instance *out,
    struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_GET, p->ops->get != NULL, id, e))
		return -1;
	rc = p->ops->get(p, id, out, e);
	if (rc == 0)
		instance_ssh_sanitize(out, p->name);
	return wrap_leave(p, PROV_OP_GET, id, rc, t0, e);
}

int
provider_stop(struct provider *p, const char *id, struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_STOP, p->ops->stop != NULL &&
	    provider_has_cap(p, PROV_CAP_HIBERNATION), id, e))
		return -1;
	rc = p->ops->stop(p, id, e);
	return wrap_leave(p, PROV_OP_STOP, id, rc, t0, e);
}

int
provider_start(struct provider *p, const char *id, struct gr_err *e)
{
	int64_t	 t0 = clock_mono_ms();
	int	 rc;

	if (wrap_enter(p, PROV_OP_START, p->ops->start != NULL &&
	    provider_has_cap(p, PROV_CAP_HIBERNATION), id, e))
		return -1;
	rc = p->ops->start(p, id, e);
	return wrap_leave(p, PROV_OP_START, id, rc, t0, e);
}

int
provider_startup(struct provider *p, struct gr_err *e)
{
	struct instance_list	 l = { NULL, 0 };
	int			 rc;

	gr_err_clear(e);
	if (p->ops->startup != NULL)
		rc = p->ops->startup(p, e);
	else {
		/* reachable and authenticated: one real call succeeds */
		rc = provider_list(p, &l, e);
		instance_list_release(&l);
	}
	if (rc == -1) {
		snprintf(e->provider, sizeof(e->provider), "%s", p->name);
		log_debug("%s: startup: %s", p->name, e->msg);
	}
	return rc;
}

void
provider_shutdown(struct provider *p)
{
	if (p->ops->shutdown != NULL)
		p->ops->shutdown(p);
}

int
provider_heartbeat(struct provider *p, struct heartbeat *hb, struct gr_err *e)
{
	struct instance_list	 l = { NULL, 0 };
	int64_t			 t0 = clock_mono_ms(), uid;
	size_t			 i;

	memset(hb, 0, sizeof(*hb));
	gr_err_clear(e);
	if (p->ops->heartbeat != NULL)
		return p->ops->heartbeat(p, hb, e);
	if (provider_list(p, &l, e) == -1) {
		snprintf(hb->detail, sizeof(hb->detail), "%.200s", e->msg);
		return -1;
	}
	hb->latency_ms = clock_mono_ms() - t0;
	for (i = 0; i < l.n; i++) {
		const struct instance *in = &l.v[i];

		if (in->state == INST_TERMINATED)
			continue;
		hb->ninstances++;
		if (*p->ledger_id != '\0' &&
		    owner_label_parse(in->label, p->ledger_id, &uid))
			hb->nours++;
		if (in->state == INST_RUNNING)
			hb->nrunning++;
		else if (in->state == INST_PENDING || in->state == INST_IDLE)
			hb->npending++;
		else if (in->state == INST_STOPPING)
			hb->nstopping++;
	}
	hb->healthy = true;
	snprintf(hb->detail, sizeof(hb->detail), "%zu instance%s (%zu ours), "
	    "list in %lld ms", hb->ninstances, hb->ninstances == 1 ? "" : "s",
	    hb->nours, (long long)hb->latency_ms);
	instance_list_release(&l);
	return 0;
}
