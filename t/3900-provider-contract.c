/*
 * 3900-provider-contract: the provider adapter contract's checklist
 * (shared/seeds/000, "Contract Test Checklist"), every line of it, run
 * over every provider in the registry through the real CLI
 * (`gpureconcile provider NAME ...`), parametrically: nothing in here
 * names a provider.  What differs between providers comes from a fixture,
 * t/data/contract/<name>.yaml; a registered provider without one gets a
 * single skip line saying so.
 *
 * A provider may also have variants, t/data/contract/<name>+<variant>.yaml
 * (local+ssh: local instances with a real sshd), each run as a provider
 * of its own named "<name>+<variant>" in the descriptions.
 *
 * A fixture is a YAML mapping of scalars:
 *
 *   config        the config file's body; @TMP@ is this provider's temp dir
 *   gpu, disk, template   what spinup asks for (--gpu, --disk, --template)
 *   budget_below  a --budget under every offer (spinup must refuse it)
 *   ssh           "endpoint": instances have ssh_host/ssh_port;
 *                 "none": both are null
 *   pull          "files": the instance's `files` dir (from spinup --json)
 *                 is what pull reads; "unsupported": pull must say so
 *   pull_skip     why pull's download checks are skipped ("unsupported")
 *   foreign       "second-ledger": a second state dir on the same config
 *                 shares the provider's account, so what it spins up is
 *                 an instance this ledger did not create; "none": no way
 *   foreign_skip  why the foreign-instance checks are skipped ("none")
 *   fault_config  (optional) a config body with @TMP@ and @FAULT@; @FAULT@
 *                 becomes "op:CODE:1" (or ":after_apply"), and the spinup
 *                 + teardown cycle runs once per taxonomy code per step
 *   cloud_state   (with fault_config) the provider's state file, read to
 *                 find instances billing without a live ledger row; the
 *                 fake's JSON format
 *   env           (optional) NAME=value lines, in the environment of every
 *                 command (an API key for a simulated cloud)
 *   setup         (optional) a shell command run first, in @TMP@ (start a
 *                 simulated cloud there); GR_BUILD and GR_TOP are set
 *   vars          (optional) a file setup wrote, of NAME=value lines; each
 *                 @NAME@ in config and fault_config becomes its value
 *                 (the port a simulated cloud got)
 *   requires      (optional) a program that must be executable; without
 *                 it, one skip line says so (sshd for local+ssh)
 *   cleanup       (optional) a shell command run at exit, after every
 *                 instance is torn down (stop the simulated cloud);
 *                 processes left under @TMP@ are killed anyway
 *
 * Per provider it checks, in the checklist's order: info and offers;
 * spinup (text, then --json twice: the same instance, one at the
 * provider); list; ssh-info; an SSH connection (skipped unless ssh_host
 * answers as an SSH server); pull, with '..' refused and symlinks out not
 * followed; teardown and its idempotence; list empty after; the ledger's
 * events IDLE -> PENDING -> RUNNING -> STOPPING -> TERMINATED; the errors
 * (unknown gpu, unknown id, a terminated instance, a budget under every
 * offer); capability-gated cases (stop/start, idempotent spawn,
 * multi-region offers), skipped with the reason when a flag is absent;
 * teardown-all, which must leave an instance of another ledger alone;
 * and, with a fault_config, every taxonomy code injected once at every
 * step (offers, spawn, list, get, terminate) plus a lost spawn reply:
 * each command succeeds or fails with the table's exit code and one line,
 * nothing is left billing without a live ledger row, and a final
 * teardown-all leaves nothing of ours.
 *
 * Every instance is torn down at exit, even when a check fails or the
 * test is killed; processes left under the temp dir (local instances are
 * real processes) are killed.  Needs GR_BIN and GR_TOP (make check).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "../reconciler/reconciler.h"
#include "tap.h"
#include "testlib.h"

#define FAULT_JOBS	10	/* fault scenarios run at once */

/* What one command did. */
struct res {
	char		*cmd;		/* owned; as run by sh */
	int		 rc;		/* exit status; -1: no exit */
	char		*out;		/* owned */
	char		*err;		/* owned */
};

struct fixture {
	struct kv	*kv;		/* owned */
	size_t		 n;
};

/* One provider under test. */
struct prov {
	const struct provider_ops *ops;
	const char	*name;		/* borrowed from ops */
	char		*dir;		/* owned; its temp dir (@TMP@) */
	char		*cfg;		/* owned; config path */
	char		*state;		/* owned; the ledger's state dir */
	char		*state2;	/* owned; the foreign ledger's */
	char		*envp;		/* owned; sh exports, or "" */
	struct kv	*vars;		/* owned; from the setup's vars file */
	size_t		 nvars;
	struct fixture	 fx;
	int		 seq;		/* commands run, for file names */
	struct res	 last;		/* the last command, for diagnostics */
};

/* Every (config, state dir) pair used, torn down at exit. */
struct cleanup_ent {
	char		*name;
	char		*cfg;		/* NULL: post is a command to run */
	char		*state;
	char		*envp;
	char		*post;
};
static struct cleanup_ent *cleanups;
static size_t	 ncleanups;
static pid_t	 main_pid;
static pid_t	 jobs[FAULT_JOBS];	/* running fault scenarios */
static int64_t	 t_start_ms;

static const char *const fixture_keys[] = {
	"config", "gpu", "disk", "template", "budget_below", "ssh", "pull",
	"pull_skip", "foreign", "foreign_skip", "fault_config", "cloud_state",
	"requires",
	"env", "setup", "vars", "cleanup",
};

/* --- small helpers -------------------------------------------------------- */

static char *
replace_all(const char *s, const char *from, const char *to)
{
	struct buf	 b;
	const char	*p;
	size_t		 fl = strlen(from);

	buf_init(&b);
	while ((p = strstr(s, from)) != NULL) {
		buf_add(&b, s, (size_t)(p - s));
		buf_adds(&b, to);
		s = p + fl;
	}
	buf_adds(&b, s);
	return buf_detach(&b);
}

/* The last line of s (without its newline); owned. */
static char *
last_line(const char *s)
{
	size_t	 n = strlen(s);
	size_t	 end, start;

	while (n > 0 && s[n - 1] == '\n')
		n--;
	end = n;
	while (n > 0 && s[n - 1] != '\n')
		n--;
	start = n;
	return xasprintf("%.*s", (int)(end - start), s + start);
}

static size_t
count_prefixed_lines(const char *s, const char *prefix)
{
	size_t		 n = 0;
	const char	*p = s;

	while (*p != '\0') {
		if (str_has_prefix(p, prefix))
			n++;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return n;
}

static void
res_release(struct res *r)
{
	free(r->cmd);
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/*
 * Run a shell command line, stdout and stderr into base.out and base.err
 * (kept, for a look after a failure with GR_TEST_KEEP), stdin from
 * /dev/null (so nothing asks).
 */
static void
run_sh(const char *base, struct res *r, const char *fmt, ...)
    TAP_PRINTF(3, 4);

static void
run_sh(const char *base, struct res *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*full, *of, *ef;
	int	 st;

	res_release(r);
	va_start(ap, fmt);
	r->cmd = xvasprintf(fmt, ap);
	va_end(ap);
	of = xasprintf("%s.out", base);
	ef = xasprintf("%s.err", base);
	full = xasprintf("( %s ) >'%s' 2>'%s' </dev/null", r->cmd, of, ef);
	fflush(stdout);
	st = system(full);
	r->rc = st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
	if (file_read(of, 64 << 20, &r->out, NULL) == -1)
		r->out = xstrdup("");
	if (file_read(ef, 64 << 20, &r->err, NULL) == -1)
		r->err = xstrdup("");
	free(full);
	free(of);
	free(ef);
}

static void
diag_res(const struct res *r)
{
	if (r == NULL || r->cmd == NULL)
		return;
	diag("command: %s", r->cmd);
	diag("exit status: %d", r->rc);
	if (*r->out != '\0')
		diag("stdout:\n%.1500s", r->out);
	if (*r->err != '\0')
		diag("stderr:\n%.1500s", r->err);
}

static const char	*cur_name = "";	/* prefix of every description */
static char		*cur_variant;	/* owned: "local+ssh" */

/* A check about command r: its description gets the provider's name. */
static bool
check_at(const char *file, int line, const struct res *r, bool c,
    const char *fmt, ...) TAP_PRINTF(5, 6);

static bool
check_at(const char *file, int line, const struct res *r, bool c,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 d[512];

	va_start(ap, fmt);
	vsnprintf(d, sizeof(d), fmt, ap);
	va_end(ap);
	ok_at(file, line, c, "%s: %s", cur_name, d);
	if (!c)
		diag_res(r);
	return c;
}
#define CHECK(r, c, ...)	check_at(__FILE__, __LINE__, (r), (c), \
				    __VA_ARGS__)

static void
skipf(const char *what, const char *why)
{
	skip(1, "%s: %s: %s", cur_name, what, why);
}

/* Skip the checks named in whats (NULL-terminated), one line each. */
static void
skipv(const char *const *whats, const char *why)
{
	for (; *whats != NULL; whats++)
		skipf(*whats, why);
}

/* gpureconcile --config CFG --state-dir STATE provider NAME ARGS */
static struct res *
gr(struct prov *pv, const char *state, const char *fmt, ...)
    TAP_PRINTF(3, 4);

static struct res *
gr(struct prov *pv, const char *state, const char *fmt, ...)
{
	va_list	 ap;
	char	*args, *base;

	va_start(ap, fmt);
	args = xvasprintf(fmt, ap);
	va_end(ap);
	base = xasprintf("%s/cmd/%03d", pv->dir, pv->seq++);
	run_sh(base, &pv->last, "%s'%s' --config '%s' --state-dir '%s' "
	    "provider %s %s", pv->envp, test_bin(), pv->cfg, state, pv->name,
	    args);
	free(base);
	free(args);
	return &pv->last;
}

static json_t *
parse_json(const char *s)	/* new; NULL when not JSON */
{
	json_error_t	 je;

	return json_loads(s, JSON_REJECT_DUPLICATES, &je);
}

static const char *
jstr(json_t *o, const char *key)	/* borrowed; NULL unless a string */
{
	return json_string_value(json_object_get(o, key));
}

/* YYYY-MM-DDTHH:MM:SSZ, and not absurdly far from now. */
static bool
iso8601_utc_ok(const char *s, char *why, size_t len)
{
	static const char	 pat[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm		 tm;
	time_t			 t;
	size_t			 i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1) {
		snprintf(why, len, "not of the form YYYY-MM-DDTHH:MM:SSZ");
		return false;
	}
	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != pat[i]) {
			snprintf(why, len, "not of the form "
			    "YYYY-MM-DDTHH:MM:SSZ (at %zu)", i);
			return false;
		}
	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
		snprintf(why, len, "not a date");
		return false;
	}
	t = timegm(&tm);
	if ((int64_t)t * 1000 < t_start_ms - 120000 ||
	    (int64_t)t * 1000 > clock_now_ms() + 120000) {
		snprintf(why, len, "not within two minutes of this test run");
		return false;
	}
	return true;
}

/* --- the fixture ---------------------------------------------------------- */

static const char *
fx_get(const struct prov *pv, const char *key)
{
	return kv_get(pv->fx.kv, pv->fx.n, key);
}

static bool
fx_is(const struct prov *pv, const char *key, const char *val)
{
	const char	*v = fx_get(pv, key);

	return v != NULL && strcmp(v, val) == 0;
}

/* Fixture text key with @TMP@ as tmp and the setup's @NAME@s; owned. */
static char *
fx_text(const struct prov *pv, const char *key, const char *tmp)
{
	char	*t = replace_all(fx_get(pv, key), "@TMP@", tmp), *u;
	size_t	 i;

	for (i = 0; i < pv->nvars; i++) {
		char *at = xasprintf("@%s@", pv->vars[i].key);

		u = replace_all(t, at, pv->vars[i].value);
		free(t);
		free(at);
		t = u;
	}
	return t;
}

/* NAME=value lines (blank lines and # comments skipped); -1: bad line. */
static int
parse_assignments(const char *text, struct kv **out, size_t *n)
{
	char	*copy = xstrdup(text), *line, *save = NULL, *eq;
	int	 rc = 0;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		if (*line == '\0' || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL || eq == line || strchr(eq, '\'') != NULL) {
			rc = -1;
			break;
		}
		*eq = '\0';
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[*n].key = xstrdup(line);
		(*out)[*n].value = xstrdup(eq + 1);
		(*n)++;
	}
	free(copy);
	return rc;
}

/* A mapping of scalars; -1 with why on anything else. */
static int
fixture_load(const char *path, struct fixture *fx, char *why, size_t len)
{
	yaml_parser_t	 yp;
	yaml_event_t	 ev;
	FILE		*f;
	char		*key = NULL;
	int		 depth = 0, rc = -1;
	bool		 done = false;

	memset(fx, 0, sizeof(*fx));
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&yp);
	yaml_parser_set_input_file(&yp, f);
	while (!done) {
		if (!yaml_parser_parse(&yp, &ev)) {
			snprintf(why, len, "line %zu: %s",
			    yp.problem_mark.line + 1, yp.problem);
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
			if (++depth > 1) {
				snprintf(why, len, "line %zu: only scalars may "
				    "be values", ev.start_mark.line + 1);
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_ALIAS_EVENT:
			snprintf(why, len, "line %zu: only scalars may be "
			    "values", ev.start_mark.line + 1);
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			if (key == NULL) {
				key = xstrdup((char *)ev.data.scalar.value);
				break;
			}
			fx->kv = xreallocarray(fx->kv, fx->n + 1,
			    sizeof(*fx->kv));
			fx->kv[fx->n].key = key;
			fx->kv[fx->n].value =
			    xstrdup((char *)ev.data.scalar.value);
			fx->n++;
			key = NULL;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
out:
	free(key);
	yaml_parser_delete(&yp);
	fclose(f);
	return rc;
}

/* --- cleanup -------------------------------------------------------------- */

/* teardown-all at exit on this ledger; or, with cfg NULL, run post. */
static void
cleanup_add(const struct prov *pv, const char *cfg, const char *state,
    const char *post)
{
	struct cleanup_ent *c;

	cleanups = xreallocarray(cleanups, ncleanups + 1, sizeof(*cleanups));
	c = &cleanups[ncleanups++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(pv->name);
	c->envp = xstrdup(pv->envp);
	if (cfg != NULL) {
		c->cfg = xstrdup(cfg);
		c->state = xstrdup(state);
	} else
		c->post = xstrdup(post);
}

/* Live processes whose working directory is under dir. */
static size_t
procs_under(const char *dir, pid_t *out, size_t max)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0, dl = strlen(dir);

	d = opendir("/proc");
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char	 link[64], cwd[4096], *stat = NULL, *p;
		ssize_t	 l;
		long	 pid;

		pid = strtol(de->d_name, &p, 10);
		if (*p != '\0' || pid <= 0 || pid == getpid())
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
		l = readlink(link, cwd, sizeof(cwd) - 1);
		if (l < 0)
			continue;
		cwd[l] = '\0';
		if (strncmp(cwd, dir, dl) != 0 || (cwd[dl] != '\0' &&
		    cwd[dl] != '/' && cwd[dl] != ' '))
			continue;
		snprintf(link, sizeof(link), "/proc/%ld/stat", pid);
		if (file_read(link, 1 << 16, &stat, NULL) == 0) {
			p = strrchr(stat, ')');
			if (p != NULL && (p[2] == 'Z' || p[2] == 'X')) {
				free(stat);
				continue;
			}
		}
		free(stat);
		out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/*
 * At exit, even after a failed check: stop running scenarios, tear down
 * everything of every ledger used, then kill whatever still runs under
 * the temp dir.  Runs before testlib removes the dir (registered after).
 */
static void
cleanup(void)
{
	struct res	 r;
	pid_t		 left[256];
	size_t		 i, n;
	int		 round;

	if (getpid() != main_pid)
		return;
	for (i = 0; i < FAULT_JOBS; i++)
		if (jobs[i] > 0) {
			kill(-jobs[i], SIGKILL);
			waitpid(jobs[i], NULL, 0);
			jobs[i] = 0;
		}
	memset(&r, 0, sizeof(r));
	for (i = 0; i < ncleanups; i++) {
		const struct cleanup_ent *c = &cleanups[i];
		char	*base = xasprintf("%s/cleanup-%zu", test_tmpdir(), i);
		struct stat sb;

		if (c->cfg == NULL)
			run_sh(base, &r, "%s", c->post);
		else if (stat(c->state, &sb) == 0)
			run_sh(base, &r, "%s'%s' --config '%s' --state-dir '%s' "
			    "provider %s teardown-all --yes", c->envp,
			    test_bin(), c->cfg, c->state, c->name);
		free(base);
	}
	res_release(&r);
	for (round = 0; round < 3; round++) {
		n = procs_under(test_tmpdir(), left, nitems(left));
		if (n == 0)
			break;
		printf("# cleanup: killing %zu leftover process%s\n", n,
		    n == 1 ? "" : "es");
		for (i = 0; i < n; i++)
			kill(left[i], SIGKILL);
		usleep(200 * 1000);
	}
	fflush(stdout);
}

/* exit() from a handler is not async-signal-safe, but it is what lets
 * the atexit cleanup tear the instances down when prove kills us. */
static void
on_signal(int sig)
{
	exit(128 + sig);
}

/* --- the ledger and the provider's own state ------------------------------ */

/* The newest ledger row of ad-hoc name at provider; false: none. */
static bool
ledger_row(const char *state, const char *provider, const char *name,
    struct ledger_inst *out, char **lid)
{
	struct ledger		*l;
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	size_t			 n = 0, i;
	bool			 found = false;

	memset(out, 0, sizeof(*out));
	if (lid != NULL)
		*lid = NULL;
	if (ledger_open(state, false, &l, &e) == -1)
		return false;
	if (lid != NULL)
		*lid = xstrdup(ledger_id(l));
	if (ledger_list(l, true, &rows, &n, &e) == 0) {
		for (i = n; i-- > 0 && !found;) {
			if (rows[i].kind == LEDGER_KIND_ADHOC &&
			    strcmp(rows[i].provider, provider) == 0 &&
			    strcmp(rows[i].group, name) == 0) {
				ledger_inst_copy(out, &rows[i]);
				found = true;
			}
		}
	}
	ledger_insts_free(rows, n);
	ledger_close(l);
	return found;
}

/*
 * The events of ad-hoc instance name: each one's from-state is the one
 * before's to-state, and the states it passes through are exactly
 * IDLE, PENDING, RUNNING, STOPPING, TERMINATED.  *trace: what they were.
 */
static bool
events_follow_contract(const char *state, const char *provider,
    const char *name, char **trace)
{
	static const enum inst_state want[] = { INST_IDLE, INST_PENDING,
	    INST_RUNNING, INST_STOPPING, INST_TERMINATED };
	struct ledger		*l;
	struct ledger_inst	 r;
	struct ledger_event	*ev = NULL;
	struct gr_err		 e;
	struct buf		 b;
	size_t			 n = 0, i, k = 0;
	bool			 good = true;
	enum inst_state		 cur;

	buf_init(&b);
	if (!ledger_row(state, provider, name, &r, NULL)) {
		*trace = xstrdup("no ledger row");
		return false;
	}
	if (ledger_open(state, false, &l, &e) == -1 ||
	    ledger_events(l, r.uid, &ev, &n, &e) == -1) {
		*trace = xasprintf("ledger: %s", e.msg);
		ledger_inst_release(&r);
		return false;
	}
	cur = n > 0 ? ev[0].from : INST_IDLE;
	if (n == 0 || cur != want[0])
		good = false;
	for (i = 0; i < n; i++) {
		buf_addf(&b, "%s%s->%s %s", i > 0 ? ", " : "",
		    inst_state_name(ev[i].from), inst_state_name(ev[i].to),
		    ev[i].kind);
		if (ev[i].from != cur)
			good = false;		/* a gap in the chain */
		if (ev[i].to != cur) {
			if (k + 1 >= nitems(want) || ev[i].to != want[k + 1])
				good = false;	/* skipped or wrong state */
			else
				k++;
		}
		cur = ev[i].to;
	}
	if (k != nitems(want) - 1)
		good = false;
	*trace = buf_detach(&b);
	ledger_events_free(ev, n);
	ledger_close(l);
	ledger_inst_release(&r);
	return good;
}

/*
 * Audit the provider's state file (the fake's JSON) against the ledger
 * at state: instances alive there (active, stopped, or ending but not
 * gone) whose label has no live ledger row go into *untracked, and alive
 * ones carrying this ledger's label into *ours.  -1: cannot read.
 */
static int
cloud_audit(const char *cloud, const char *state, struct buf *untracked,
    struct buf *ours, char *why, size_t len)
{
	struct ledger		*l = NULL;
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	json_error_t		 je;
	json_t			*root, *insts, *it;
	size_t			 n = 0, i, j;
	int64_t			 now = clock_now_ms();

	root = json_load_file(cloud, 0, &je);
	if (root == NULL) {
		if (access(cloud, F_OK) == -1)
			return 0;	/* no cloud yet: nothing alive */
		snprintf(why, len, "%s: %s", cloud, je.text);
		return -1;
	}
	if (ledger_open(state, false, &l, &e) == 0 &&
	    ledger_list(l, false, &rows, &n, &e) == -1)
		n = 0;
	insts = json_object_get(root, "instances");
	json_array_foreach(insts, i, it) {
		const char	*label = jstr(it, "label");
		const char	*phase = jstr(it, "phase");
		const char	*id = jstr(it, "id");
		json_int_t	 gone = json_integer_value(json_object_get(it,
		    "gone_ms"));
		bool		 tracked = false;
		int64_t		 uid;

		if (phase == NULL || (strcmp(phase, "ending") == 0 &&
		    gone <= now))
			continue;
		for (j = 0; j < n && label != NULL; j++)
			if (rows[j].label != NULL &&
			    strcmp(rows[j].label, label) == 0)
				tracked = true;
		if (!tracked)
			buf_addf(untracked, "%s(%s, %s) ", id, phase,
			    label != NULL ? label : "no label");
		if (l != NULL && label != NULL &&
		    owner_label_parse(label, ledger_id(l), &uid))
			buf_addf(ours, "%s(%s, %s) ", id, phase, label);
	}
	ledger_insts_free(rows, n);
	ledger_close(l);
	json_decref(root);
	return 0;
}

/* --- SSH ------------------------------------------------------------------ */

/* Does host:port answer with an SSH banner within 3 s? */
static bool
ssh_reachable(const char *host, int port, char *why, size_t len)
{
	struct addrinfo	 hints, *ai = NULL, *a;
	char		 ps[16];
	bool		 up = false;
	int		 rc;

	if (str_has_suffix(host, ".invalid")) {
		snprintf(why, len, "%s is in .invalid, never reachable", host);
		return false;
	}
	if (str_has_prefix(host, "192.0.2.") ||
	    str_has_prefix(host, "198.51.100.") ||
	    str_has_prefix(host, "203.0.113.")) {
		snprintf(why, len, "%s is a documentation address (RFC 5737)",
		    host);
		return false;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	rc = getaddrinfo(host, ps, &hints, &ai);
	if (rc != 0) {
		snprintf(why, len, "%s does not resolve: %s", host,
		    gai_strerror(rc));
		return false;
	}
	for (a = ai; a != NULL && !up; a = a->ai_next) {
		struct pollfd	 pfd;
		int		 fd, err = 0;
		socklen_t	 el = sizeof(err);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK,
		    a->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			up = true;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 3000) == 1 && getsockopt(fd,
			    SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
				up = true;
		}
		if (up) {
			/* an SSH server speaks first ("SSH-2.0-..."); a
			 * proxy that accepts any connection does not */
			char	 banner[8];
			ssize_t	 n = 0;

			pfd.fd = fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 3000) == 1)
				n = read(fd, banner, 4);
			up = n == 4 && memcmp(banner, "SSH-", 4) == 0;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	if (!up)
		snprintf(why, len, "%s:%d does not answer as an SSH server",
		    host, port);
	return up;
}

/* --- the checklist, per provider ------------------------------------------ */

/* spinup's required output (the contract's "Required Outputs"). */
static void
check_required_json(struct prov *pv, const struct res *r, json_t *j,
    const char *what)
{
	json_t		*port = json_object_get(j, "ssh_port");
	json_t		*cost = json_object_get(j, "cost_per_hour");
	const char	*host = jstr(j, "ssh_host");
	const char	*id = jstr(j, "instance_id");
	char		 why[128];
	bool		 sane;

	CHECK(r, id != NULL && *id != '\0', "%s: instance_id is a non-empty "
	    "string", what);
	CHECK(r, jstr(j, "provider") != NULL &&
	    strcmp(jstr(j, "provider"), pv->name) == 0,
	    "%s: provider is \"%s\"", what, pv->name);
	CHECK(r, jstr(j, "gpu") != NULL &&
	    strcmp(jstr(j, "gpu"), fx_get(pv, "gpu")) == 0,
	    "%s: gpu is \"%s\"", what, fx_get(pv, "gpu"));
	if (fx_is(pv, "ssh", "endpoint")) {
		CHECK(r, host != NULL && *host != '\0', "%s: ssh_host is a "
		    "non-empty string", what);
		CHECK(r, json_is_integer(port) && json_integer_value(port) >
		    0 && json_integer_value(port) < 65536,
		    "%s: ssh_port is a port number", what);
	} else {
		CHECK(r, json_is_null(json_object_get(j, "ssh_host")),
		    "%s: ssh_host is null (no SSH endpoint)", what);
		CHECK(r, json_is_null(port), "%s: ssh_port is null (no SSH "
		    "endpoint)", what);
	}
	CHECK(r, json_is_number(cost) && json_number_value(cost) >= 0,
	    "%s: cost_per_hour is a JSON number, not a string", what);
	CHECK(r, jstr(j, "status") != NULL &&
	    strcmp(jstr(j, "status"), "RUNNING") == 0,
	    "%s: status is \"RUNNING\"", what);
	sane = iso8601_utc_ok(jstr(j, "started_at"), why, sizeof(why));
	if (!CHECK(r, sane, "%s: started_at is ISO 8601 UTC "
	    "(YYYY-MM-DDTHH:MM:SSZ)", what))
		diag("started_at %s: %s", jstr(j, "started_at") ?
		    jstr(j, "started_at") : "(missing)", why);
}

/* rc 0 and stdout a JSON value of type want (new ref in *out, or NULL). */
static bool
check_json_out(const struct res *r, json_type want, json_t **out,
    const char *what)
{
	json_t	*j = r->rc == 0 ? parse_json(r->out) : NULL;
	bool	 good = j != NULL && json_typeof(j) == want;

	CHECK(r, good, "%s exits 0 and prints a JSON %s", what,
	    want == JSON_ARRAY ? "array" : "object");
	if (!good) {
		json_decref(j);
		j = NULL;
	}
	*out = j;
	return good;
}

/* The instance of list --json with this id, or NULL (borrowed from a). */
static json_t *
list_find(json_t *a, const char *id)
{
	size_t	 i;
	json_t	*it;

	json_array_foreach(a, i, it)
		if (jstr(it, "instance_id") != NULL && id != NULL &&
		    strcmp(jstr(it, "instance_id"), id) == 0)
			return it;
	return NULL;
}

/* list --json: NULL when it fails (a failed check is reported). */
static json_t *
list_json(struct prov *pv, const char *state, bool all, const char *what)
{
	struct res	*r = gr(pv, state, "list --json%s", all ? " --all" : "");
	json_t		*a;

	check_json_out(r, JSON_ARRAY, &a, what);
	return a;
}

/* Poll list --json until instance id shows status, for up to ms. */
static bool
wait_status(struct prov *pv, const char *id, const char *status,
    int64_t ms)
{
	int64_t	 until = clock_now_ms() + ms;
	bool	 seen = false;

	do {
		struct res	*r = gr(pv, pv->state, "list --json");
		json_t		*a = parse_json(r->out), *it;

		it = a != NULL ? list_find(a, id) : NULL;
		seen = it != NULL && jstr(it, "status") != NULL &&
		    strcmp(jstr(it, "status"), status) == 0;
		json_decref(a);
		if (!seen)
			usleep(200 * 1000);
	} while (!seen && clock_now_ms() < until);
	return seen;
}

/* A failed command says one thing, on its last line, as the CLI does. */
static bool
one_line_error(const struct res *r)
{
	char	*ll = last_line(r->err);
	bool	 good;

	good = str_has_prefix(ll, "gpureconcile: ") && strlen(ll) > 14 &&
	    count_prefixed_lines(r->err, "gpureconcile: ") == 1;
	free(ll);
	return good;
}

static void
check_info(struct prov *pv)
{
	struct res	*r;
	json_t		*j, *caps;
	unsigned int	 b;
	bool		 all = true, match = true;

	r = gr(pv, pv->state, "info");
	for (b = 0; b < PROV_CAP__COUNT; b++)
		if (strstr(r->out, provider_cap_name(b)) == NULL)
			all = false;
	CHECK(r, r->rc == 0 && all, "info exits 0 and names all %d "
	    "capability flags", PROV_CAP__COUNT);
	r = gr(pv, pv->state, "info --json");
	if (!check_json_out(r, JSON_OBJECT, &j, "info --json"))
		return;
	caps = json_object_get(j, "capabilities");
	for (b = 0; b < PROV_CAP__COUNT; b++) {
		json_t	*v = json_object_get(caps, provider_cap_name(b));

		if (!json_is_boolean(v) || json_is_true(v) !=
		    ((pv->ops->caps & (1u << b)) != 0))
			match = false;
	}
	CHECK(r, json_object_size(caps) == PROV_CAP__COUNT && match,
	    "info --json: the %d flags, as the provider declares them",
	    PROV_CAP__COUNT);
	json_decref(j);
}

static void
check_offers(struct prov *pv)
{
	struct res	*r;
	json_t		*a, *it;
	size_t		 i;
	double		 prev = -1;
	bool		 sorted = true, numbers = true;

	r = gr(pv, pv->state, "offers --gpu %s --json", fx_get(pv, "gpu"));
	if (!check_json_out(r, JSON_ARRAY, &a, "offers --gpu --json"))
		return;
	json_array_foreach(a, i, it) {
		json_t	*c = json_object_get(it, "cost_per_hour");

		if (!json_is_number(c)) {
			numbers = false;
			continue;
		}
		if (json_number_value(c) < prev)
			sorted = false;
		prev = json_number_value(c);
	}
	CHECK(r, json_array_size(a) > 0 && numbers, "offers --gpu %s: at "
	    "least one offer, each cost_per_hour a number", fx_get(pv, "gpu"));
	CHECK(r, sorted, "offers --gpu %s: sorted cheapest first",
	    fx_get(pv, "gpu"));
	json_decref(a);
}

/* The spinup arguments of the fixture. */
static char *
spin_args(struct prov *pv, const char *name)
{
	return xasprintf("spinup --gpu '%s' --disk '%s' --template '%s' "
	    "--name '%s' --yes", fx_get(pv, "gpu"), fx_get(pv, "disk"),
	    fx_get(pv, "template"), name);
}

/* spinup --json of name; the instance id (owned) or NULL. */
static char *
spin_json(struct prov *pv, const char *state, const char *name,
    const char *what, json_t **jout)
{
	char		*a = spin_args(pv, name), *id = NULL;
	struct res	*r = gr(pv, state, "%s --json", a);
	json_t		*j;

	free(a);
	if (check_json_out(r, JSON_OBJECT, &j, what) &&
	    jstr(j, "instance_id") != NULL)
		id = xstrdup(jstr(j, "instance_id"));
	if (jout != NULL)
		*jout = j;
	else
		json_decref(j);
	return id;
}

/* spinup (text, then --json twice); the instance's id and files dir. */
static char *
check_spinup(struct prov *pv, char **files)
{
	struct res	*r;
	char		*a, *id = NULL, *p, *id2, *id3;
	json_t		*j, *l;
	size_t		 i;
	static const char *const fields[] = { "instance_id:", "provider:",
	    "gpu:", "cost_per_hour:", "status:", "started_at:" };
	bool		 all = true;

	*files = NULL;
	a = spin_args(pv, "c1");
	r = gr(pv, pv->state, "%s", a);
	free(a);
	for (i = 0; i < nitems(fields); i++)
		if (strstr(r->out, fields[i]) == NULL)
			all = false;
	CHECK(r, r->rc == 0 && all, "spinup exits 0 and prints instance_id, "
	    "provider, gpu, cost_per_hour, status, started_at");
	p = strstr(r->out, "instance_id:");
	if (p != NULL) {
		p += strlen("instance_id:");
		p += strspn(p, " \t");
		id = xasprintf("%.*s", (int)strcspn(p, " \t\n"), p);
	}
	CHECK(r, strstr(r->out, "RUNNING") != NULL, "spinup: the instance "
	    "is RUNNING when spinup returns");
	l = list_json(pv, pv->state, false, "list --json after spinup");
	CHECK(&pv->last, l != NULL && id != NULL && list_find(l, id) !=
	    NULL, "spinup created the instance it printed (%s)",
	    id != NULL ? id : "none");
	json_decref(l);

	/* --json, on the instance that now runs */
	id2 = spin_json(pv, pv->state, "c1", "spinup --json (c1 again)", &j);
	r = &pv->last;
	if (j != NULL) {
		check_required_json(pv, r, j, "spinup --json");
		if (jstr(j, "files") != NULL)
			*files = xstrdup(jstr(j, "files"));
	} else
		skip(8, "%s: spinup --json printed no JSON object",
		    cur_name);
	json_decref(j);
	CHECK(r, id != NULL && id2 != NULL && strcmp(id, id2) == 0,
	    "spinup idempotent: a second spinup of c1 returns the same "
	    "instance");
	id3 = spin_json(pv, pv->state, "c1", "spinup --json (c1, a third "
	    "time)", NULL);
	CHECK(&pv->last, id3 != NULL && id != NULL && strcmp(id, id3) == 0,
	    "spinup idempotent: a third spinup of c1 too");
	l = list_json(pv, pv->state, true, "list --all --json");
	CHECK(&pv->last, l != NULL && json_array_size(l) == 1,
	    "spinup idempotent: the provider has exactly one instance");
	json_decref(l);
	free(id2);
	free(id3);
	return id;
}

static void
check_list_running(struct prov *pv, const char *id)
{
	struct res	*r;
	json_t		*l, *it;

	l = list_json(pv, pv->state, false, "list --json");
	it = l != NULL ? list_find(l, id) : NULL;
	CHECK(&pv->last, it != NULL && json_array_size(l) == 1,
	    "list --json shows the running instance, and only it");
	CHECK(&pv->last, it != NULL && jstr(it, "status") != NULL &&
	    strcmp(jstr(it, "status"), "RUNNING") == 0 &&
	    jstr(it, "name") != NULL && strcmp(jstr(it, "name"), "c1") == 0,
	    "list --json: it is RUNNING, under its name c1");
	json_decref(l);
	r = gr(pv, pv->state, "list");
	CHECK(r, r->rc == 0 && strstr(r->out, id) != NULL &&
	    strstr(r->out, "RUNNING") != NULL,
	    "list (text) shows the running instance");
}

static void
check_ssh(struct prov *pv, const char *id, const char *files)
{
	struct res	*r;
	json_t		*j;
	const char	*host = NULL;
	char		 why[256];
	int		 port = 0;

	r = gr(pv, pv->state, "ssh-info --instance '%s' --json", id);
	if (check_json_out(r, JSON_OBJECT, &j, "ssh-info --json")) {
		CHECK(r, jstr(j, "instance_id") != NULL &&
		    strcmp(jstr(j, "instance_id"), id) == 0,
		    "ssh-info --json names the instance");
		if (fx_is(pv, "ssh", "endpoint")) {
			json_t *jp = json_object_get(j, "ssh_port");

			host = jstr(j, "ssh_host");
			port = (int)json_integer_value(jp);
			CHECK(r, host != NULL && *host != '\0' &&
			    json_is_integer(jp) && port > 0 && port < 65536 &&
			    jstr(j, "ssh_user") != NULL,
			    "ssh-info --json: ssh_host, ssh_port and ssh_user");
		} else {
			struct stat sb;
			const char *f = jstr(j, "files");

			CHECK(r, json_is_null(json_object_get(j, "ssh_host")) &&
			    json_is_null(json_object_get(j, "ssh_port")),
			    "ssh-info --json: no SSH endpoint: host and port "
			    "null");
			CHECK(r, f != NULL && stat(f, &sb) == 0 &&
			    S_ISDIR(sb.st_mode) && files != NULL &&
			    strcmp(f, files) == 0, "ssh-info --json: files is "
			    "the instance's directory, as spinup said");
		}
	} else
		skip(2, "%s: ssh-info printed no JSON", cur_name);
	r = gr(pv, pv->state, "ssh-info --instance '%s'", id);
	CHECK(r, r->rc == 0 && (host != NULL ? strstr(r->out, host) != NULL :
	    files != NULL && strstr(r->out, files) != NULL),
	    "ssh-info (text) gives the %s", host != NULL ? "host" :
	    "files directory");

	/* "SSH connection succeeds with returned details" */
	if (host == NULL) {
		skipf("SSH connection succeeds with returned details",
		    "no SSH endpoint (local has none without ssh: true)");
		skipf("ssh-info --check verifies the host key", "no SSH "
		    "endpoint");
	} else if (!ssh_reachable(host, port, why, sizeof(why))) {
		char *w = xasprintf("no SSH endpoint (the fake's and the "
		    "simulated clouds' reach no host): %s", why);

		skipf("SSH connection succeeds with returned details", w);
		skipf("ssh-info --check verifies the host key", w);
		free(w);
	} else {
		const char *user = jstr(j, "ssh_user");
		const char *key = jstr(j, "ssh_key");

		char *base = xasprintf("%s/cmd/ssh", pv->dir);

		run_sh(base, &pv->last, "ssh -o BatchMode=yes -o "
		    "ConnectTimeout=10 -o StrictHostKeyChecking=accept-new "
		    "-o UserKnownHostsFile='%s/known_hosts' %s%s%s -p %d "
		    "'%s@%s' true", pv->dir, key ? "-i '" : "", key ? key : "",
		    key ? "'" : "", port, user ? user : "root", host);
		free(base);
		CHECK(&pv->last, pv->last.rc == 0, "SSH connection succeeds "
		    "with returned details");
		r = gr(pv, pv->state, "ssh-info --instance '%s' --check", id);
		CHECK(r, r->rc == 0 && strstr(r->out, "SHA256:") != NULL &&
		    strstr(r->out, "check: ok") != NULL, "ssh-info --check "
		    "verifies the host key and authenticates");
	}
	json_decref(j);
}

static void
check_pull(struct prov *pv, const char *id, const char *files)
{
	struct res	*r;
	char		*src, *dst, *got = NULL, *outside, *ldir;
	size_t		 glen = 0;
	struct stat	 sb;
	static const char *const pull_checks[] = {
	    "pull downloads the test file, byte for byte",
	    "pull refuses a remote path with '..'",
	    "pull refuses a symlink that points outside",
	    "pull of a tree skips the symlink out", NULL };
	/* text, a NUL and high bytes: compared byte for byte */
	static const char data[] = "contract test file\n\0\x01\xfe\xff end\n";

	if (fx_is(pv, "pull", "unsupported")) {
		r = gr(pv, pv->state, "pull --instance '%s' --remote x "
		    "--local '%s/pulled'", id, pv->dir);
		CHECK(r, r->rc == gr_code_exit(GR_E_UNSUPPORTED) &&
		    one_line_error(r), "pull says in one line that it is "
		    "unsupported (exit %d)", gr_code_exit(GR_E_UNSUPPORTED));
		skipv(pull_checks, fx_get(pv, "pull_skip") != NULL ?
		    fx_get(pv, "pull_skip") : "pull is unsupported");
		return;
	}
	if (files == NULL) {
		CHECK(&pv->last, false, "spinup --json gave the instance's "
		    "files dir");
		skipv(pull_checks, "no files dir");
		return;
	}
	/* a test file, in a subdirectory of the instance's files */
	src = xasprintf("%s/contract/test.bin", files);
	ldir = xasprintf("%s/contract", files);
	if (mkdir_p(ldir, 0755) == -1 ||
	    file_write_atomic(src, data, sizeof(data) - 1, 0644) == -1)
		bail_out("write %s: %s", src, strerror(errno));
	dst = xasprintf("%s/pulled.bin", pv->dir);
	r = gr(pv, pv->state, "pull --instance '%s' --remote contract/test.bin "
	    "--local '%s'", id, dst);
	if (file_read(dst, 1 << 20, &got, &glen) == -1)
		got = NULL;
	CHECK(r, r->rc == 0 && got != NULL && glen == sizeof(data) - 1 &&
	    memcmp(got, data, glen) == 0,
	    "pull downloads the test file, byte for byte");
	free(got);
	got = NULL;

	/* '..' is refused, and nothing is written */
	free(dst);
	dst = xasprintf("%s/pulled-dotdot", pv->dir);
	r = gr(pv, pv->state, "pull --instance '%s' --remote "
	    "'contract/../contract/test.bin' --local '%s'", id, dst);
	CHECK(r, r->rc == GR_EXIT_USAGE && strstr(r->err, "..") != NULL &&
	    one_line_error(r) && lstat(dst, &sb) == -1,
	    "pull refuses a remote path with '..' (exit 64), writes nothing");

	/* a symlink pointing outside the instance is not followed */
	outside = xasprintf("%s/outside-secret", pv->dir);
	if (file_write_atomic(outside, "secret\n", 7, 0600) == -1)
		bail_out("write %s", outside);
	free(src);
	src = xasprintf("%s/contract/escape", files);
	if (symlink(outside, src) == -1)
		bail_out("symlink %s: %s", src, strerror(errno));
	free(dst);
	dst = xasprintf("%s/pulled-link", pv->dir);
	r = gr(pv, pv->state, "pull --instance '%s' --remote contract/escape "
	    "--local '%s'", id, dst);
	CHECK(r, r->rc != 0 && one_line_error(r) && lstat(dst, &sb) == -1,
	    "pull refuses a symlink that points outside, writes nothing");
	free(dst);
	dst = xasprintf("%s/pulled-tree", pv->dir);
	r = gr(pv, pv->state, "pull --instance '%s' --remote contract "
	    "--local '%s'", id, dst);
	free(got);
	got = xasprintf("%s/escape", dst);
	free(ldir);
	ldir = xasprintf("%s/test.bin", dst);
	CHECK(r, r->rc == 0 && lstat(got, &sb) == -1 && stat(ldir, &sb) == 0,
	    "pull of a tree skips the symlink out and copies the rest");
	free(got);
	free(ldir);
	free(outside);
	free(src);
	free(dst);
}

static void
check_teardown(struct prov *pv, const char *id)
{
	struct res	*r;
	json_t		*j, *l;

	r = gr(pv, pv->state, "teardown --instance '%s' --yes --json", id);
	if (check_json_out(r, JSON_OBJECT, &j, "teardown --json")) {
		CHECK(r, jstr(j, "status") != NULL &&
		    strcmp(jstr(j, "status"), "TERMINATED") == 0 &&
		    json_is_true(json_object_get(j, "billing_stopped")) &&
		    json_is_true(json_object_get(j, "changed")),
		    "teardown: TERMINATED, billing stopped, changed");
		json_decref(j);
	} else
		skip(1, "%s: teardown printed no JSON", cur_name);
	l = list_json(pv, pv->state, true, "list --all --json after teardown");
	CHECK(&pv->last, l != NULL && list_find(l, id) == NULL,
	    "teardown destroys the instance: the provider no longer lists "
	    "it");
	json_decref(l);

	r = gr(pv, pv->state, "teardown --instance '%s' --yes --json", id);
	j = r->rc == 0 ? parse_json(r->out) : NULL;
	CHECK(r, r->rc == 0 && j != NULL &&
	    json_is_false(json_object_get(j, "changed")),
	    "teardown idempotent: a second call exits 0 and changes nothing");
	json_decref(j);
	r = gr(pv, pv->state, "teardown --instance c1 --yes");
	CHECK(r, r->rc == 0, "teardown idempotent: by name too");

	r = gr(pv, pv->state, "list --json");
	l = r->rc == 0 ? parse_json(r->out) : NULL;
	CHECK(r, r->rc == 0 && l != NULL && json_is_array(l) &&
	    json_array_size(l) == 0 && strncmp(r->out, "[]", 2) == 0,
	    "list shows no instances after teardown: []");
	json_decref(l);
	r = gr(pv, pv->state, "list");
	CHECK(r, r->rc == 0 && strstr(r->out, id) == NULL &&
	    strstr(r->out, "no instances") != NULL,
	    "list (text) says there are none");
}

static void
check_errors(struct prov *pv, const char *id)
{
	struct res	*r;
	char		*a, *msg;
	json_t		*l;

	/* pull from a terminated instance */
	r = gr(pv, pv->state, "pull --instance '%s' --remote x --local "
	    "'%s/never'", id, pv->dir);
	msg = xasprintf("Instance %s is terminated. Nothing to download.", id);
	CHECK(r, r->rc == gr_code_exit(GR_E_NOT_FOUND) &&
	    strstr(r->err, msg) != NULL && one_line_error(r),
	    "pull from a terminated instance: exit %d, \"Instance ID is "
	    "terminated. Nothing to download.\"", gr_code_exit(GR_E_NOT_FOUND));
	free(msg);
	r = gr(pv, pv->state, "ssh-info --instance '%s'", id);
	CHECK(r, r->rc == gr_code_exit(GR_E_NOT_FOUND) &&
	    strstr(r->err, id) != NULL && strstr(r->err, "terminated") !=
	    NULL && one_line_error(r),
	    "ssh-info of a terminated instance: exit %d, says it is "
	    "terminated", gr_code_exit(GR_E_NOT_FOUND));

	/* an unknown gpu type: usage, with a suggestion */
	r = gr(pv, pv->state, "spinup --gpu RTX_409 --disk '%s' --template "
	    "'%s' --name e1 --yes", fx_get(pv, "disk"),
	    fx_get(pv, "template"));
	CHECK(r, r->rc == GR_EXIT_USAGE && strstr(r->err, "'RTX_409'") !=
	    NULL && strstr(r->err, "did you mean 'RTX_4090'") != NULL &&
	    one_line_error(r),
	    "spinup of an unknown gpu: exit 64, names it, \"did you mean\"");

	/* teardown of an id nobody has */
	r = gr(pv, pv->state, "teardown --instance no-such-instance-42 --yes");
	CHECK(r, r->rc == gr_code_exit(GR_E_NOT_FOUND) &&
	    strstr(r->err, "no-such-instance-42") != NULL &&
	    strstr(r->err, "hint:") != NULL && one_line_error(r),
	    "teardown of an unknown id: exit 66, names it, with a hint");

	/* a budget under every offer */
	a = spin_args(pv, "e2");
	r = gr(pv, pv->state, "%s --budget '%s'", a, fx_get(pv,
	    "budget_below"));
	free(a);
	CHECK(r, r->rc == gr_code_exit(GR_E_CAPACITY) &&
	    strstr(r->err, "raise --budget") != NULL && one_line_error(r),
	    "spinup with --budget under every offer: exit 69, hint to raise "
	    "--budget");

	/* missing arguments */
	r = gr(pv, pv->state, "spinup --gpu '%s' --yes", fx_get(pv, "gpu"));
	CHECK(r, r->rc == GR_EXIT_USAGE && strstr(r->err, "--disk") != NULL &&
	    strstr(r->err, "--template") != NULL,
	    "spinup without --disk and --template: exit 64, says what it "
	    "needs");

	l = list_json(pv, pv->state, true, "list --all --json after the "
	    "refused spinups");
	CHECK(&pv->last, l != NULL && json_array_size(l) == 0,
	    "the refused spinups rented nothing");
	json_decref(l);
}

/* A provider of this name, as the CLI makes it from the config. */
static struct provider *
provider_open(struct prov *pv, char **why)
{
	struct config			*cfg = NULL;
	const struct provider_settings	*ps;
	struct provider_conf		 conf;
	struct provider			*p = NULL;
	struct ledger			*l = NULL;
	struct gr_err			 e;

	*why = NULL;
	if (config_load(pv->cfg, true, &cfg, &e) == -1 ||
	    ledger_open(pv->state, false, &l, &e) == -1) {
		*why = xstrdup(e.msg);
		config_free(cfg);
		return NULL;
	}
	ps = config_provider(cfg, pv->name);
	memset(&conf, 0, sizeof(conf));
	conf.name = pv->name;
	conf.state_dir = pv->state;
	conf.ledger_id = ledger_id(l);
	conf.options = ps->options;
	conf.noptions = ps->noptions;
	conf.timeouts = ps->timeouts;
	if (provider_new(&conf, &p, &e) == -1) {
		*why = xstrdup(e.msg);
		p = NULL;
	}
	ledger_close(l);
	config_free(cfg);
	return p;
}

/*
 * The capability-gated cases.  The CLI has no stop/start, so those go
 * through the provider interface, on instance hid; the CLI sees the
 * result.  Flags with no operation in provider_ops yet have nothing to
 * test.
 */
static void
check_caps(struct prov *pv, const char *hid)
{
	struct provider	*p;
	struct gr_err	 e;
	struct res	*r;
	char		*why, *label = NULL, *lid = NULL;
	unsigned int	 b;
	json_t		*a, *it;
	size_t		 i, nlabel;
	const char	*first = NULL;
	bool		 two = false;
	struct ledger_inst row;
	static const char *const hib_checks[] = { "hibernation: stop",
	    "hibernation: start", NULL };
	static const char *const idem_checks[] = { "idempotent spawn: the "
	    "same label twice", "idempotent spawn: list shows one", NULL };

	p = provider_open(pv, &why);
	if (!CHECK(&pv->last, p != NULL, "the provider opens in-process from "
	    "the config, for the gated cases")) {
		diag("%s", why);
		free(why);
		skip(5, "%s: stop/start, idempotent spawn, multiRegion: no "
		    "provider in-process", cur_name);
		goto flags;
	}

	/* hibernation: stop, then start again */
	if ((pv->ops->caps & PROV_CAP_HIBERNATION) == 0)
		skipv(hib_checks, "lacks the hibernation flag");
	else if (hid == NULL)
		skipv(hib_checks, "no instance to stop");
	else {
		gr_err_clear(&e);
		CHECK(&pv->last, provider_stop(p, hid, &e) == 0 &&
		    wait_status(pv, hid, "STOPPED", 5000),
		    "hibernation: stop, and list shows it STOPPED");
		if (e.code != GR_OK)
			diag("stop: %s", e.msg);
		gr_err_clear(&e);
		CHECK(&pv->last, provider_start(p, hid, &e) == 0 &&
		    wait_status(pv, hid, "RUNNING", 10000),
		    "hibernation: start, and list shows it RUNNING again");
		if (e.code != GR_OK)
			diag("start: %s", e.msg);
	}

	/* idempotentSpawn: the same label twice gives one instance */
	if ((pv->ops->caps & PROV_CAP_IDEMPOTENT_SPAWN) == 0)
		skipv(idem_checks, "lacks the idempotentSpawn flag");
	else if (!ledger_row(pv->state, pv->name, "t1", &row, &lid)) {
		skipv(idem_checks, "no ledger");
	} else {
		const struct gpu_model	*gm = catalog_find(fx_get(pv, "gpu"));
		struct gpu_req		 g;
		struct spawn_req	 req;
		struct instance		 in1, in2;
		bool			 ok1, ok2;

		ledger_inst_release(&row);
		label = owner_label(lid, 999999);
		memset(&g, 0, sizeof(g));
		g.type = (char *)fx_get(pv, "gpu");
		g.count = gm != NULL && gm->vram_gb > 0 ? 1 : 0;
		memset(&req, 0, sizeof(req));
		req.label = label;
		req.address = "contract/idempotent/0";
		req.gpu = &g;
		req.max_price = MONEY_MAX;
		req.disk_gb = atoi(fx_get(pv, "disk"));
		req.image = fx_get(pv, "template");
		memset(&in1, 0, sizeof(in1));
		memset(&in2, 0, sizeof(in2));
		gr_err_clear(&e);
		ok1 = provider_spawn(p, &req, &in1, &e) == 0;
		if (!ok1)
			diag("spawn: %s", e.msg);
		ok2 = ok1 && provider_spawn(p, &req, &in2, &e) == 0;
		if (ok1 && !ok2)
			diag("second spawn: %s", e.msg);
		CHECK(&pv->last, ok2 && strcmp(in1.id, in2.id) == 0,
		    "idempotent spawn: the same label twice gives the same "
		    "instance");
		a = list_json(pv, pv->state, false, "list --json with an "
		    "orphan");
		nlabel = 0;
		json_array_foreach(a, i, it)
			if (jstr(it, "label") != NULL &&
			    strcmp(jstr(it, "label"), label) == 0)
				nlabel++;
		CHECK(&pv->last, ok1 && nlabel == 1, "idempotent spawn: list shows "
		    "one instance with that label (an orphan of ours)");
		json_decref(a);
		instance_release(&in1);
		instance_release(&in2);
	}

	/* multiRegion: offers from more than one region */
	if ((pv->ops->caps & PROV_CAP_MULTI_REGION) == 0)
		skip(1, "%s: multi-region offers: lacks the multiRegion flag",
		    cur_name);
	else {
		r = gr(pv, pv->state, "offers --gpu '%s' --json",
		    fx_get(pv, "gpu"));
		a = parse_json(r->out);
		json_array_foreach(a, i, it) {
			const char *reg = jstr(it, "region");

			if (reg == NULL)
				continue;
			if (first == NULL)
				first = reg;
			else if (strcmp(first, reg) != 0)
				two = true;
		}
		CHECK(r, two, "multiRegion: offers come from more than one "
		    "region");
		json_decref(a);
	}
	free(label);
	free(lid);
	provider_free(p);

flags:
	/* the flags with no operation in provider_ops to call yet */
	for (b = 0; b < PROV_CAP__COUNT; b++) {
		unsigned int f = 1u << b;

		if (f == PROV_CAP_HIBERNATION || f ==
		    PROV_CAP_IDEMPOTENT_SPAWN || f == PROV_CAP_MULTI_REGION)
			continue;
		if ((pv->ops->caps & f) == 0)
			skip(1, "%s: %s: lacks the flag", cur_name,
			    provider_cap_name(b));
		else
			skip(1, "%s: %s: declared; provider_ops has no %s "
			    "operation to test yet", cur_name,
			    provider_cap_name(b), provider_cap_name(b));
	}
}

static void
check_teardown_all(struct prov *pv)
{
	struct res	*r;
	char		*t1, *t2, *fid = NULL;
	json_t		*l, *it;
	bool		 foreign = fx_is(pv, "foreign", "second-ledger");
	char		*trace;
	bool		 good;

	t1 = spin_json(pv, pv->state, "t1", "spinup --json t1", NULL);
	t2 = spin_json(pv, pv->state, "t2", "spinup --json t2", NULL);
	CHECK(&pv->last, t1 != NULL && t2 != NULL && strcmp(t1, t2) != 0,
	    "two named instances spin up (t1, t2), distinct");
	if (foreign) {
		/* another ledger on the same account */
		fid = spin_json(pv, pv->state2, "foreign", "spinup --json in "
		    "the other ledger", NULL);
		CHECK(&pv->last, fid != NULL, "another ledger (a second state "
		    "dir) spins up an instance in the same account");
	}

	check_caps(pv, t1);

	l = list_json(pv, pv->state, false, "list --json before "
	    "teardown-all");
	CHECK(&pv->last, l != NULL && list_find(l, t1) != NULL &&
	    list_find(l, t2) != NULL && (fid == NULL ||
	    list_find(l, fid) == NULL),
	    "list shows t1 and t2, and not the other ledger's instance");
	json_decref(l);

	r = gr(pv, pv->state, "teardown-all --yes");
	CHECK(r, r->rc == 0, "teardown-all --yes exits 0");
	r = gr(pv, pv->state, "list --json");
	l = r->rc == 0 ? parse_json(r->out) : NULL;
	CHECK(r, l != NULL && json_is_array(l) && json_array_size(l) == 0,
	    "teardown-all destroys all: list --json is []");
	json_decref(l);
	l = list_json(pv, pv->state, true, "list --all --json after "
	    "teardown-all");
	CHECK(&pv->last, l != NULL && list_find(l, t1) == NULL &&
	    list_find(l, t2) == NULL,
	    "teardown-all: the provider no longer lists t1 or t2");
	if (foreign) {
		it = l != NULL ? list_find(l, fid) : NULL;
		CHECK(&pv->last, it != NULL && jstr(it, "status") != NULL &&
		    strcmp(jstr(it, "status"), "RUNNING") == 0 &&
		    json_is_false(json_object_get(it, "ours")),
		    "teardown-all never touches an instance it did not "
		    "create: the other ledger's still RUNNING");
	}
	json_decref(l);
	good = events_follow_contract(pv->state, pv->name, "t2", &trace);
	if (!CHECK(NULL, good, "teardown-all: t2's ledger events follow "
	    "IDLE, PENDING, RUNNING, STOPPING, TERMINATED"))
		diag("events: %s", trace);
	free(trace);

	if (foreign) {
		r = gr(pv, pv->state, "teardown --instance '%s' --yes", fid);
		CHECK(r, r->rc == GR_EXIT_USAGE && strstr(r->err,
		    "not created by this ledger") != NULL &&
		    one_line_error(r), "teardown of another ledger's "
		    "instance: refused, exit 64, says why");
		l = list_json(pv, pv->state2, false, "the other ledger's "
		    "list --json");
		CHECK(&pv->last, l != NULL && list_find(l, fid) != NULL,
		    "the other ledger's instance survived both");
		json_decref(l);
		r = gr(pv, pv->state2, "teardown-all --yes");
		CHECK(r, r->rc == 0, "the other ledger's teardown-all exits 0");
	} else {
		const char *w = fx_get(pv, "foreign_skip") != NULL ?
		    fx_get(pv, "foreign_skip") : "the fixture has no way to "
		    "make an instance of another ledger";

		skipf("another ledger spins up an instance", w);
		skipf("teardown-all never touches an instance it did not "
		    "create", w);
		skipf("teardown of another ledger's instance is refused", w);
		skipf("the other ledger's instance survived both", w);
	}
	free(t1);
	free(t2);
	free(fid);
}

/* --- faults (a fixture with fault_config) --------------------------------- */

struct scenario {
	enum prov_op	 op;
	enum gr_code	 code;
	bool		 after_apply;
	char		*fault;		/* owned; "op:CODE:1[:after_apply]" */
	char		*dir;		/* owned */
	char		*cfg;		/* owned */
	char		*state;		/* owned */
	char		*cloud;		/* owned */
};

static char *
scen_file(const struct scenario *s, const char *name)
{
	return xasprintf("%s/%s", s->dir, name);
}

static void
scen_write(const struct scenario *s, const char *name, const char *text)
{
	char	*p = scen_file(s, name);

	if (file_write_atomic(p, text, strlen(text), 0644) == -1)
		_exit(3);
	free(p);
}

/* The audit, as text: "" when clean. */
static void
scen_audit(const struct scenario *s, const char *name, bool ours_only)
{
	struct buf	 un, ours;
	char		 why[256];

	buf_init(&un);
	buf_init(&ours);
	if (cloud_audit(s->cloud, s->state, &un, &ours, why,
	    sizeof(why)) == -1)
		scen_write(s, name, why);
	else
		scen_write(s, name, ours_only ? buf_str(&ours) : buf_str(&un));
	buf_release(&un);
	buf_release(&ours);
}

/*
 * In a child: spinup, teardown, the audit, teardown-all, the audit
 * again; everything lands in files of the scenario's dir.
 */
static void
scen_run(struct prov *pv, const struct scenario *s)
{
	struct res	 r;
	struct ledger_inst row;
	char		*a, *base, *id = NULL, rc[16];
	json_t		*j;

	memset(&r, 0, sizeof(r));
	a = spin_args(pv, "f");
	base = scen_file(s, "spinup");
	run_sh(base, &r, "%s'%s' --config '%s' --state-dir '%s' provider %s "
	    "%s --json", pv->envp, test_bin(), s->cfg, s->state, pv->name, a);
	free(base);
	free(a);
	snprintf(rc, sizeof(rc), "%d", r.rc);
	scen_write(s, "spinup.rc", rc);
	scen_write(s, "spinup.cmd", r.cmd);
	j = r.rc == 0 ? parse_json(r.out) : NULL;
	if (jstr(j, "instance_id") != NULL)
		id = xstrdup(jstr(j, "instance_id"));
	json_decref(j);
	if (ledger_row(s->state, pv->name, "f", &row, NULL)) {
		scen_write(s, "row", inst_state_name(row.state));
		ledger_inst_release(&row);
	} else
		scen_write(s, "row", "");

	base = scen_file(s, "teardown");
	run_sh(base, &r, "%s'%s' --config '%s' --state-dir '%s' provider %s "
	    "teardown --instance '%s' --yes", pv->envp, test_bin(), s->cfg,
	    s->state, pv->name, id != NULL ? id : "f");
	free(base);
	snprintf(rc, sizeof(rc), "%d", r.rc);
	scen_write(s, "teardown.rc", rc);
	scen_write(s, "teardown.cmd", r.cmd);
	scen_audit(s, "audit1", false);

	base = scen_file(s, "all");
	run_sh(base, &r, "%s'%s' --config '%s' --state-dir '%s' provider %s "
	    "teardown-all --yes", pv->envp, test_bin(), s->cfg, s->state,
	    pv->name);
	free(base);
	snprintf(rc, sizeof(rc), "%d", r.rc);
	scen_write(s, "all.rc", rc);
	scen_write(s, "all.cmd", r.cmd);
	scen_audit(s, "audit2", true);
	res_release(&r);
	free(id);
}

/* The step's result, read back from the scenario's files. */
static void
scen_res(const struct scenario *s, const char *step, struct res *r)
{
	char	*p, *t = NULL;

	res_release(r);
	p = xasprintf("%s/%s.cmd", s->dir, step);
	if (file_read(p, 1 << 16, &r->cmd, NULL) == -1)
		r->cmd = xstrdup("(not run)");
	free(p);
	p = xasprintf("%s/%s.rc", s->dir, step);
	r->rc = file_read(p, 64, &t, NULL) == 0 ? atoi(t) : -2;
	free(t);
	free(p);
	p = xasprintf("%s/%s.out", s->dir, step);
	if (file_read(p, 64 << 20, &r->out, NULL) == -1)
		r->out = xstrdup("");
	free(p);
	p = xasprintf("%s/%s.err", s->dir, step);
	if (file_read(p, 64 << 20, &r->err, NULL) == -1)
		r->err = xstrdup("");
	free(p);
}

static char *
scen_text(const struct scenario *s, const char *name)
{
	char	*p = scen_file(s, name), *t = NULL;

	if (file_read(p, 1 << 20, &t, NULL) == -1)
		t = xstrdup("(missing)");
	free(p);
	return t;
}

/* An outcome the taxonomy allows: success, or the code's exit + 1 line. */
static bool
allowed(const struct res *r, enum gr_code code)
{
	if (r->rc == 0)
		return true;
	return r->rc == gr_code_exit(code) && one_line_error(r);
}

static void
scen_check(const struct scenario *s)
{
	struct res	 r;
	char		*row, *audit;
	bool		 no_row;

	memset(&r, 0, sizeof(r));
	scen_res(s, "spinup", &r);
	CHECK(&r, allowed(&r, s->code), "fault %s: spinup succeeds or exits "
	    "%d with one line", s->fault, gr_code_exit(s->code));
	row = scen_text(s, "row");
	no_row = *row == '\0';
	free(row);
	scen_res(s, "teardown", &r);
	/* nothing was ever rented (no ledger row): "no instance 'f'" */
	CHECK(&r, allowed(&r, s->code) || (no_row && r.rc ==
	    gr_code_exit(GR_E_NOT_FOUND) && one_line_error(&r)),
	    "fault %s: teardown succeeds or exits %d with one line",
	    s->fault, gr_code_exit(s->code));
	audit = scen_text(s, "audit1");
	if (!CHECK(NULL, *audit == '\0', "fault %s: nothing billing without "
	    "a live ledger row after spinup and teardown", s->fault))
		diag("billing without a live ledger row: %s", audit);
	free(audit);
	scen_res(s, "all", &r);
	CHECK(&r, allowed(&r, s->code), "fault %s: teardown-all succeeds or "
	    "exits %d with one line", s->fault, gr_code_exit(s->code));
	audit = scen_text(s, "audit2");
	if (!CHECK(&r, *audit == '\0', "fault %s: after teardown-all nothing "
	    "of ours is left", s->fault))
		diag("left: %s", audit);
	free(audit);
	res_release(&r);
}

static void
check_faults(struct prov *pv)
{
	static const enum prov_op ops[] = { PROV_OP_OFFERS, PROV_OP_SPAWN,
	    PROV_OP_LIST, PROV_OP_GET, PROV_OP_TERMINATE };
	struct scenario	*sc;
	size_t		 n = 0, i, next = 0, done = 0, k;
	enum gr_code	 c;
	int64_t		 t0 = clock_mono_ms();

	if (fx_get(pv, "fault_config") == NULL) {
		skip(1, "%s: injected faults: the fixture has no fault_config",
		    cur_name);
		return;
	}
	if (fx_get(pv, "cloud_state") == NULL)
		bail_out("%s: fault_config needs cloud_state", pv->name);
	sc = xcalloc((GR_E_TRANSIENT - GR_E_CAPACITY + 1) * nitems(ops) + 1,
	    sizeof(*sc));
	for (c = GR_E_CAPACITY; c <= GR_E_TRANSIENT; c++)
		for (i = 0; i < nitems(ops); i++) {
			sc[n].op = ops[i];
			sc[n].code = c;
			n++;
		}
	sc[n].op = PROV_OP_SPAWN;	/* a lost reply */
	sc[n].code = GR_E_TRANSIENT;
	sc[n].after_apply = true;
	n++;
	for (i = 0; i < n; i++) {
		char	*t, *t2;

		sc[i].fault = xasprintf("%s:%s:1%s", prov_op_name(sc[i].op),
		    gr_code_name(sc[i].code), sc[i].after_apply ?
		    ":after_apply" : "");
		sc[i].dir = xasprintf("%s/fault-%02zu", pv->dir, i);
		sc[i].state = xasprintf("%s/state", sc[i].dir);
		if (mkdir_p(sc[i].dir, 0755) == -1)
			bail_out("mkdir %s", sc[i].dir);
		t = fx_text(pv, "fault_config", sc[i].dir);
		t2 = replace_all(t, "@FAULT@", sc[i].fault);
		sc[i].cfg = test_write(sc[i].dir, "config.yaml", t2);
		free(t);
		free(t2);
		sc[i].cloud = replace_all(fx_get(pv, "cloud_state"), "@TMP@",
		    sc[i].dir);
		cleanup_add(pv, sc[i].cfg, sc[i].state, NULL);
	}

	/* run them FAULT_JOBS at a time; the checks come in order after */
	while (done < n) {
		pid_t	 pid;
		int	 st;

		for (k = 0; k < FAULT_JOBS && next < n; k++) {
			if (jobs[k] != 0)
				continue;
			fflush(stdout);
			pid = fork();
			if (pid == -1)
				bail_out("fork: %s", strerror(errno));
			if (pid == 0) {
				setpgid(0, 0);
				scen_run(pv, &sc[next]);
				_exit(0);
			}
			setpgid(pid, pid);
			jobs[k] = pid;
			next++;
		}
		pid = waitpid(-1, &st, 0);
		if (pid == -1)
			bail_out("waitpid: %s", strerror(errno));
		for (k = 0; k < FAULT_JOBS; k++)
			if (jobs[k] == pid) {
				jobs[k] = 0;
				done++;
			}
	}
	diag("%s: %zu fault scenarios in %.1f s", pv->name, n,
	    (double)(clock_mono_ms() - t0) / 1000);
	for (i = 0; i < n; i++) {
		scen_check(&sc[i]);
		free(sc[i].fault);
		free(sc[i].dir);
		free(sc[i].cfg);
		free(sc[i].state);
		free(sc[i].cloud);
	}
	free(sc);
}

/* --- one provider ---------------------------------------------------------- */

static void
run_provider(const struct provider_ops *ops, const char *variant)
{
	struct prov	 pv;
	char		*fxpath, *rel, why[256], *cfgtext, *id, *files = NULL;
	char		*trace, *cmddir, *t;
	struct kv	*env = NULL;
	struct buf	 b;
	size_t		 i, j, nenv = 0;
	int64_t		 t0 = clock_mono_ms();
	bool		 good;
	static const char *const required[] = { "config", "gpu", "disk",
	    "template", "budget_below", "ssh", "pull" };

	memset(&pv, 0, sizeof(pv));
	pv.ops = ops;
	pv.name = ops->name;
	pv.envp = xstrdup("");
	id = NULL;
	free(cur_variant);
	cur_variant = variant == NULL ? NULL : xasprintf("%s+%s", ops->name,
	    variant);
	cur_name = variant == NULL ? ops->name : cur_variant;
	rel = xasprintf("t/data/contract/%s.yaml", cur_name);
	fxpath = test_src_path(rel);
	free(rel);
	if (access(fxpath, F_OK) == -1) {
		skip(1, "%s: no fixture t/data/contract/%s.yaml: write one "
		    "to run the contract checklist on it", ops->name,
		    ops->name);
		free(fxpath);
		return;
	}
	if (fixture_load(fxpath, &pv.fx, why, sizeof(why)) == -1)
		bail_out("%s: %s", fxpath, why);
	for (i = 0; i < pv.fx.n; i++) {
		for (j = 0; j < nitems(fixture_keys); j++)
			if (strcmp(pv.fx.kv[i].key, fixture_keys[j]) == 0)
				break;
		if (j == nitems(fixture_keys))
			bail_out("%s: unknown key '%s'", fxpath,
			    pv.fx.kv[i].key);
	}
	for (i = 0; i < nitems(required); i++)
		if (fx_get(&pv, required[i]) == NULL)
			bail_out("%s: '%s' is required", fxpath, required[i]);
	free(fxpath);
	if (fx_get(&pv, "requires") != NULL &&
	    access(fx_get(&pv, "requires"), X_OK) == -1) {
		skip(1, "%s: the whole checklist: it needs %s, which is not "
		    "installed here", cur_name, fx_get(&pv, "requires"));
		return;
	}

	pv.dir = xasprintf("%s/%s", test_tmpdir(), cur_name);
	pv.state = xasprintf("%s/state", pv.dir);
	pv.state2 = xasprintf("%s/state2", pv.dir);
	cmddir = xasprintf("%s/cmd", pv.dir);
	if (mkdir_p(cmddir, 0755) == -1)
		bail_out("mkdir %s", cmddir);
	free(cmddir);
	diag("provider %s (capabilities 0x%03x)", pv.name, ops->caps);

	/* the environment of every command: "export NAME='value'; " */
	if (fx_get(&pv, "env") != NULL && parse_assignments(fx_get(&pv,
	    "env"), &env, &nenv) == -1)
		bail_out("%s fixture: env: expected NAME=value lines without "
		    "single quotes", pv.name);
	buf_init(&b);
	for (i = 0; i < nenv; i++)
		buf_addf(&b, "export %s='%s'; ", env[i].key,
		    env[i].value);
	free(pv.envp);
	pv.envp = buf_detach(&b);
	kv_free(env, nenv);

	/* the fixture's setup (a simulated cloud); its cleanup at exit */
	pv.cfg = xasprintf("%s/config.yaml", pv.dir);
	if (fx_get(&pv, "cleanup") != NULL) {
		t = fx_text(&pv, "cleanup", pv.dir);
		cfgtext = xasprintf("cd '%s' && %s", pv.dir, t);
		free(t);
		cleanup_add(&pv, NULL, NULL, cfgtext);
		free(cfgtext);
	}
	cleanup_add(&pv, pv.cfg, pv.state, NULL);
	cleanup_add(&pv, pv.cfg, pv.state2, NULL);
	if (fx_get(&pv, "setup") != NULL) {
		char *base = xasprintf("%s/cmd/setup", pv.dir);

		t = fx_text(&pv, "setup", pv.dir);
		run_sh(base, &pv.last, "cd '%s' && %s%s", pv.dir, pv.envp, t);
		free(base);
		free(t);
		if (!CHECK(&pv.last, pv.last.rc == 0, "the fixture's setup "
		    "runs"))
			goto out;
	}
	if (fx_get(&pv, "vars") != NULL) {
		char *vf = fx_text(&pv, "vars", pv.dir), *text = NULL;

		if (file_read(vf, 1 << 20, &text, NULL) == -1 ||
		    parse_assignments(text, &pv.vars, &pv.nvars) == -1)
			bail_out("%s fixture: vars: cannot read NAME=value "
			    "lines from %s", pv.name, vf);
		free(vf);
		free(text);
	}
	cfgtext = fx_text(&pv, "config", pv.dir);
	free(pv.cfg);
	pv.cfg = test_write(pv.dir, "config.yaml", cfgtext);
	free(cfgtext);

	check_info(&pv);
	{
		struct res *r = gr(&pv, pv.state, "list --json");

		CHECK(r, r->rc == 0 && strncmp(r->out, "[]", 2) == 0,
		    "list --json with no instances prints []");
	}
	check_offers(&pv);
	id = check_spinup(&pv, &files);
	if (id == NULL) {
		CHECK(&pv.last, false, "spinup gave an instance id: the "
		    "rest of the checklist needs one");
		goto out;
	}
	check_list_running(&pv, id);
	check_ssh(&pv, id, files);
	check_pull(&pv, id, files);
	check_teardown(&pv, id);
	good = events_follow_contract(pv.state, pv.name, "c1", &trace);
	if (!CHECK(NULL, good, "state machine: c1's ledger events go IDLE, "
	    "PENDING, RUNNING, STOPPING, TERMINATED, in order, each from "
	    "the last"))
		diag("events: %s", trace);
	free(trace);
	check_errors(&pv, id);
	check_teardown_all(&pv);
	check_faults(&pv);
out:
	diag("provider %s: %.1f s", pv.name,
	    (double)(clock_mono_ms() - t0) / 1000);
	free(id);
	free(files);
	res_release(&pv.last);
	kv_free(pv.fx.kv, pv.fx.n);
	kv_free(pv.vars, pv.nvars);
	free(pv.envp);
	free(pv.dir);
	free(pv.cfg);
	free(pv.state);
	free(pv.state2);
}

/* The fixtures named <name>+<variant>.yaml, in name order. */
static void
run_variants(const struct provider_ops *ops)
{
	struct dirent	**de;
	char		*dir, *prefix, *v;
	int		 n, i;

	dir = test_src_path("t/data/contract");
	n = scandir(dir, &de, NULL, alphasort);
	free(dir);
	prefix = xasprintf("%s+", ops->name);
	for (i = 0; i < n; i++) {
		if (str_has_prefix(de[i]->d_name, prefix) &&
		    str_has_suffix(de[i]->d_name, ".yaml")) {
			v = xstrndup(de[i]->d_name + strlen(prefix),
			    strlen(de[i]->d_name) - strlen(prefix) - 5);
			run_provider(ops, v);
			free(v);
		}
		free(de[i]);
	}
	if (n >= 0)
		free(de);
	free(prefix);
}

int
main(void)
{
	char	*xdg;
	size_t	 i;

	if (getenv("GR_BIN") == NULL || getenv("GR_TOP") == NULL)
		skip_all("GR_BIN and GR_TOP are not set (run it by make check)");
	main_pid = getpid();
	t_start_ms = clock_now_ms();
	/* never the user's own config or state */
	xdg = xasprintf("%s/xdg-config", test_tmpdir());
	setenv("XDG_CONFIG_HOME", xdg, 1);
	free(xdg);
	xdg = xasprintf("%s/xdg-state", test_tmpdir());
	setenv("XDG_STATE_HOME", xdg, 1);
	free(xdg);
	atexit(cleanup);		/* after testlib's: runs before it */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	plan_lazy();
	for (i = 0; i < provider_ops_count(); i++) {
		run_provider(provider_ops_at(i), NULL);
		run_variants(provider_ops_at(i));
	}
	return done_testing();
}
