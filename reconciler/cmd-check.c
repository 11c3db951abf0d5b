/*
 * cmd-check.c: `gpureconcile check`: whether everything apply needs is in
 * place, without changing anything at a provider: the config, the fleet
 * files (the same parse as plan), the state dir and the ledger, and for
 * every provider in use its credentials (where they come from, the key
 * file's permissions), one real authenticated call, and the tools it
 * needs.  Each check prints ok or FAIL; each failure carries a hint.
 * Exits 0 only when apply has what it needs, else with the exit code of
 * the first failing check's error.
 *
 * Decisions written down here:
 * - Providers in use are those the fleet files' groups name, those of
 *   live ledger rows, and, when no fleet file is given, every provider
 *   the config sets up.
 * - A missing SSH client key is a warning, never a failure: only pull and
 *   ssh-info --check need it.  The local provider needs none (without
 *   ssh: true its files are on this machine; with it, it makes its own).
 * - The linked libssh2 (libssh2_version() at run time, not the headers')
 *   is checked against 1.11.2: 1.11.1 has the strict key exchange that
 *   defeats Terrapin (CVE-2023-48795), but every upstream release through
 *   1.11.1 lets a hostile server overflow the heap before authentication
 *   (CVE-2026-55200) or spin the client (CVE-2026-55199); distributions
 *   patch 1.11.1 without changing its version.  Debian backports
 *   fixes without changing the upstream version, so an older libssh2 is
 *   also looked up with dpkg-query: when it is Debian's libssh2-1 at
 *   1.10.0-3+deb12u1 or later (the bookworm security update, whose
 *   changelog lists CVE-2025-15661, CVE-2026-7598, CVE-2026-58050,
 *   CVE-2026-58051, CVE-2026-66032 and CVE-2026-66034, but not Terrapin)
 *   the line is ok and says that Terrapin is mitigated by gpureconcile
 *   offering no cipher or MAC the attack needs; an older package, or a
 *   libssh2 whose patches cannot be known, is a warning.
 * - Setting up the local provider creates <state_dir>/local, as apply
 *   would; nothing else is written.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reconciler.h"

extern char **environ;

struct check {
	char		*name;		/* owned: "credentials", ... */
	char		*subject;	/* owned: a provider, a path */
	bool		 ok;
	bool		 warning;	/* not ok, but apply does not need it */
	char		*detail;	/* owned */
	char		*hint;		/* owned; NULL: none */
	enum gr_code	 code;		/* when failed */
};

struct checks {
	struct check	*v;		/* owned */
	size_t		 n;
};

static struct check *
check_add(struct checks *cs, const char *name, const char *subject, bool ok,
    const char *fmt, ...) GR_PRINTF(5, 6);

static struct check *
check_add(struct checks *cs, const char *name, const char *subject, bool ok,
    const char *fmt, ...)
{
	struct check	*ck;
	struct buf	 b;
	va_list		 ap;

	cs->v = xreallocarray(cs->v, cs->n + 1, sizeof(*cs->v));
	ck = &cs->v[cs->n++];
	memset(ck, 0, sizeof(*ck));
	ck->name = xstrdup(name);
	ck->subject = xstrdup(subject);
	ck->ok = ok;
	ck->code = GR_E_INTERNAL;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	ck->detail = buf_detach(&b);
	buf_release(&b);
	return ck;
}

static void
check_hint(struct check *ck, const char *fmt, ...) GR_PRINTF(2, 3);

static void
check_hint(struct check *ck, const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(ck->hint);
	ck->hint = buf_detach(&b);
	buf_release(&b);
}

/* A failed check from an error: its message, code and hint. */
static struct check *
check_fail(struct checks *cs, const char *name, const char *subject,
    const struct gr_err *e)
{
	struct check	*ck;

	ck = check_add(cs, name, subject, false, "%s", e->msg);
	ck->code = e->code;
	if (e->hint[0] != '\0')
		check_hint(ck, "%s", e->hint);
	return ck;
}

static void
checks_release(struct checks *cs)
{
	size_t	 i;

	for (i = 0; i < cs->n; i++) {
		free(cs->v[i].name);
		free(cs->v[i].subject);
		free(cs->v[i].detail);
		free(cs->v[i].hint);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* Add name to the set v (borrowed strings). */
static void
names_add(const char ***v, size_t *n, const char *name)
{
	size_t	 i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], name) == 0)
			return;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = name;
}

/* The program's path when prog (a name or a path) can be run, else NULL. */
static char *
find_program(const char *prog)
{
	const char	*path, *p, *colon;
	char		*cand;
	size_t		 len;

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	path = getenv("PATH");
	if (path == NULL)
		return NULL;
	for (p = path; ; p = colon + 1) {
		colon = strchr(p, ':');
		len = colon != NULL ? (size_t)(colon - p) : strlen(p);
		cand = xasprintf("%.*s/%s", (int)len, len > 0 ? p : ".",
		    prog);
		if (len == 0) {
			free(cand);
			cand = xasprintf("./%s", prog);
		}
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (colon == NULL)
			return NULL;
	}
}

static void
check_state_dir(struct ctx *c, struct checks *cs)
{
	struct check	*ck;
	struct stat	 st;
	char		*dir, *slash;

	if (stat(c->state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			ck = check_add(cs, "state dir", c->state_dir, false,
			    "not a directory");
			ck->code = GR_E_IO;
			check_hint(ck, "pass --state-dir DIR or set "
			    "state_dir in the config");
		} else if (access(c->state_dir, W_OK | X_OK) == -1) {
			ck = check_add(cs, "state dir", c->state_dir, false,
			    "not writable: %s", strerror(errno));
			ck->code = GR_E_IO;
			check_hint(ck, "chown or chmod u+rwx '%s', or pass "
			    "--state-dir DIR", c->state_dir);
		} else
			check_add(cs, "state dir", c->state_dir, true,
			    "writable");
		return;
	}
	/* Not there yet: apply creates it under the nearest parent. */
	dir = xstrdup(c->state_dir);
	for (;;) {
		slash = strrchr(dir, '/');
		if (slash == NULL) {
			free(dir);
			dir = xstrdup(".");
			break;
		}
		if (slash == dir) {
			dir[1] = '\0';
			break;
		}
		*slash = '\0';
		if (stat(dir, &st) == 0)
			break;
	}
	if (access(dir, W_OK | X_OK) == 0)
		check_add(cs, "state dir", c->state_dir, true,
		    "does not exist yet; apply creates it in %s", dir);
	else {
		ck = check_add(cs, "state dir", c->state_dir, false,
		    "does not exist and cannot be created: %s is not "
		    "writable", dir);
		ck->code = GR_E_IO;
		check_hint(ck, "mkdir -p '%s', or pass --state-dir DIR",
		    c->state_dir);
	}
	free(dir);
}

/* Open the ledger (never creating it), check it, collect its providers. */
static void
check_ledger(struct ctx *c, struct checks *cs, struct ledger_inst **rows,
    size_t *nrows)
{
	struct check	*ck;
	struct gr_err	 e;

	gr_err_clear(&e);
	if (ledger_open(c->state_dir, false, &c->ledger, &e) == -1) {
		c->ledger = NULL;
		if (e.code == GR_E_NOT_FOUND) {
			check_add(cs, "ledger", c->state_dir, true,
			    "none yet (apply creates it)");
			return;
		}
		ck = check_fail(cs, "ledger", c->state_dir, &e);
		if (ck->hint == NULL)
			check_hint(ck, "restore the ledger from a backup, or "
			    "use another --state-dir");
		return;
	}
	if (ledger_check(c->ledger, &e) == -1) {
		ck = check_fail(cs, "ledger", c->state_dir, &e);
		if (ck->hint == NULL)
			check_hint(ck, "restore the ledger from a backup");
		return;
	}
	if (ledger_list(c->ledger, false, rows, nrows, &e) == -1) {
		check_fail(cs, "ledger", c->state_dir, &e);
		return;
	}
	check_add(cs, "ledger", c->state_dir, true, "integrity ok; %zu live "
	    "row%s (id %s)", *nrows, *nrows == 1 ? "" : "s",
	    ledger_id(c->ledger));
}

/* Is source a file holding keys? */
static bool
source_is_file(const char *source)
{
	return strncmp(source, "file ", 5) == 0 ||
	    strncmp(source, "--api-key-file ", 15) == 0 ||
	    strcmp(source, "credentials directory") == 0;
}

/* Does a group of the spec that names provider want a GPU? */
static bool
spec_wants_gpu(const struct spec *s, const char *provider)
{
	size_t	 f, g, i;

	if (s == NULL)
		return false;
	for (f = 0; f < s->nfleets; f++) {
		for (g = 0; g < s->fleets[f].ngroups; g++) {
			const struct group_spec *gs = &s->fleets[f].groups[g];

			if (gs->gpu.count == 0 || gs->gpu.type == NULL ||
			    strcmp(gs->gpu.type, GPU_CPU) == 0)
				continue;
			for (i = 0; i < gs->nproviders; i++)
				if (strcmp(gs->providers[i], provider) == 0)
					return true;
		}
	}
	return false;
}

/*
 * The GPUs the local provider sees (nvidia-smi's, or the config's), and
 * whether every local group's GPU type is among them.
 */
static void
check_local_gpus(struct ctx *c, struct checks *cs, struct provider *p)
{
	struct offer_list	 ol = { NULL, 0 };
	struct check		*ck;
	struct gr_err		 e;
	struct buf		 have;
	const struct spec	*s = c->spec;
	size_t			 i, f, g, k;
	bool			 found, bad = false;

	gr_err_clear(&e);
	if (provider_offers(p, NULL, &ol, &e) == -1) {
		check_fail(cs, "gpus", "local", &e);
		return;
	}
	buf_init(&have);
	for (i = 0; i < ol.n; i++) {
		if (strcmp(ol.v[i].gpu, GPU_CPU) == 0)
			continue;
		buf_addf(&have, "%s%s (%d free)", buf_str(&have)[0] != '\0' ?
		    ", " : "", ol.v[i].gpu, ol.v[i].available);
	}
	for (f = 0; s != NULL && f < s->nfleets; f++) {
		for (g = 0; g < s->fleets[f].ngroups; g++) {
			const struct group_spec *gs = &s->fleets[f].groups[g];

			if (gs->gpu.count == 0 || gs->gpu.type == NULL ||
			    strcmp(gs->gpu.type, GPU_CPU) == 0)
				continue;
			for (found = false, k = 0; k < gs->nproviders; k++)
				if (strcmp(gs->providers[k], "local") == 0)
					found = true;
			if (!found)
				continue;
			for (found = false, i = 0; i < ol.n; i++)
				if (strcmp(ol.v[i].gpu, gs->gpu.type) == 0)
					found = true;
			if (found)
				continue;
			ck = check_add(cs, "gpus", "local", false, "group "
			    "'%s/%s' wants %s, which this machine does not "
			    "have (it has: %s)", s->fleets[f].name, gs->name,
			    gs->gpu.type, buf_str(&have)[0] != '\0' ?
			    buf_str(&have) : "no GPUs");
			ck->code = GR_E_CAPACITY;
			check_hint(ck, "give the group a GPU type this "
			    "machine has, or another provider");
			bad = true;
		}
	}
	if (!bad)
		check_add(cs, "gpus", "local", true, "%s",
		    buf_str(&have)[0] != '\0' ? buf_str(&have) :
		    "no GPUs; CPU slots only");
	buf_release(&have);
	offer_list_release(&ol);
}

static void
check_local_tools(struct ctx *c, struct checks *cs, struct provider *p,
    const struct provider_settings *ps)
{
	struct check	*ck;
	const char	*declared, *prog;
	char		*path;
	bool		 gpu = spec_wants_gpu(c->spec, "local");

	declared = kv_get(ps->options, ps->noptions, "gpus");
	if (declared != NULL) {
		check_add(cs, "tools", "local", true, "GPUs declared in the "
		    "config (%s); nvidia-smi not needed", declared);
		check_local_gpus(c, cs, p);
		return;
	}
	prog = kv_get(ps->options, ps->noptions, "nvidia_smi");
	if (prog == NULL)
		prog = "nvidia-smi";
	path = find_program(prog);
	if (path != NULL) {
		check_add(cs, "tools", "local", true, "nvidia-smi: %s", path);
		free(path);
		check_local_gpus(c, cs, p);
		return;
	}
	if (gpu) {
		ck = check_add(cs, "tools", "local", false, "no %s on PATH, "
		    "and a group asks local for a GPU", prog);
		ck->code = GR_E_CONFIG;
		check_hint(ck, "install the NVIDIA driver (nvidia-smi), or "
		    "declare the GPUs in the config: providers: local: "
		    "{gpus: RTX_4090:1}");
	} else if (c->spec != NULL)
		check_add(cs, "tools", "local", true, "no %s on PATH; fine: "
		    "only CPU groups use local", prog);
	else {
		ck = check_add(cs, "tools", "local", false, "no %s on PATH: "
		    "local can run CPU groups only", prog);
		ck->warning = true;
		check_hint(ck, "install nvidia-smi or declare gpus under "
		    "providers: local: in the config to run GPU groups");
	}
}

static void
check_ssh_key(struct checks *cs, const char *name,
    const struct provider_settings *ps)
{
	static const char *const keys[] = { "id_ed25519", "id_rsa" };
	struct check	*ck;
	const char	*opt, *home;
	char		*path;
	size_t		 i;

	opt = kv_get(ps->options, ps->noptions, "ssh_key");
	if (opt != NULL) {
		if (access(opt, R_OK) == 0) {
			check_add(cs, "ssh key", name, true, "%s (for pull "
			    "and ssh-info --check)", opt);
			return;
		}
		ck = check_add(cs, "ssh key", name, false, "ssh_key '%s': %s",
		    opt, strerror(errno));
		ck->warning = true;
		check_hint(ck, "check the ssh_key option; only pull and "
		    "ssh-info --check need it");
		return;
	}
	home = getenv("HOME");
	for (i = 0; home != NULL && i < nitems(keys); i++) {
		path = xasprintf("%s/.ssh/%s", home, keys[i]);
		if (access(path, R_OK) == 0) {
			check_add(cs, "ssh key", name, true, "%s (for pull "
			    "and ssh-info --check)", path);
			free(path);
			return;
		}
		free(path);
	}
	ck = check_add(cs, "ssh key", name, false, "no SSH client key "
	    "(~/.ssh/id_ed25519 or ~/.ssh/id_rsa) for pulls");
	ck->warning = true;
	check_hint(ck, "ssh-keygen -t ed25519; only pull and ssh-info "
	    "--check need it");
}

/*
 * Run argv (no shell, a deadline, a scrubbed environment) and return
 * what it prints, whole or its first line; NULL when it cannot be run or
 * fails.
 */
static char *
run_out(char *const argv[], bool first_line, size_t max)
{
	static char *const	 envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "LC_ALL=C", NULL };
	struct proc_result	 res;
	char			*out = NULL;

	if (proc_run(argv, envp, 10000, max, &res) == 0) {
		out = xstrdup(buf_str(&res.out));
		if (first_line)
			out[strcspn(out, "\n")] = '\0';
	}
	proc_result_release(&res);
	return out;
}

static char *
run_line(char *const argv[])
{
	return run_out(argv, true, 4096);
}

#define LIBSSH2_FIXED		"1.11.1"	/* strict kex: Terrapin */
#define LIBSSH2_SAFE		"1.11.2"	/* CVE-2026-55200, -55199 */
#define LIBSSH2_DEBIAN_FIXED	"1.10.0-3+deb12u1"
/* what upstream 1.11.2 fixed; a Debian package must list both */
static const char *const libssh2_cves[] = {
	"CVE-2026-55200",	/* heap overflow before authentication */
	"CVE-2026-55199",	/* EXT_INFO spins the CPU past any timeout */
};

/*
 * Does the installed Debian package's changelog name every CVE of
 * libssh2_cves?  *missing gets the first one it does not (borrowed).
 * Debian backports fixes without changing the upstream version, and its
 * changelog is where it says which.
 */
static bool
debian_lists_cves(const char **missing)
{
	static const char *const logs[] = {
		"/usr/share/doc/libssh2-1/changelog.Debian.gz",
		"/usr/share/doc/libssh2-1/changelog.Debian.amd64.gz",
	};
	char	*text = NULL;
	size_t	 i;

	*missing = libssh2_cves[0];
	for (i = 0; i < nitems(logs) && text == NULL; i++) {
		char *const zcat[] = { "zcat", "--", (char *)logs[i], NULL };

		if (access(logs[i], R_OK) == 0)
			text = run_out(zcat, false, 8u << 20);
	}
	if (text == NULL)
		return false;
	for (i = 0; i < nitems(libssh2_cves); i++)
		if (strstr(text, libssh2_cves[i]) == NULL) {
			*missing = libssh2_cves[i];
			free(text);
			return false;
		}
	free(text);
	*missing = NULL;
	return true;
}

/* "1.11.1" as 0x010b01; 0 when it is not three numbers. */
static unsigned long
version_num(const char *v)
{
	unsigned int	 a, b, c;

	if (v == NULL || sscanf(v, "%u.%u.%u", &a, &b, &c) != 3 || a > 255 ||
	    b > 255 || c > 255)
		return 0;
	return ((unsigned long)a << 16) | ((unsigned long)b << 8) | c;
}

enum libssh2_verdict
libssh2_judge(const char *version, bool debian_pkg, bool debian_fixed,
    bool debian_lists)
{
	if (version_num(version) >= version_num(LIBSSH2_SAFE))
		return LIBSSH2_OK;
	/* which revision of a distribution's 1.11.1 has the fixes is not
	 * known here: warn, and say that its security updates may have */
	if (version_num(version) >= version_num(LIBSSH2_FIXED))
		return LIBSSH2_UNPATCHED_1111;
	if (debian_pkg) {
		if (!debian_fixed)
			return LIBSSH2_OLD_DEBIAN;
		return debian_lists ? LIBSSH2_OK_DEBIAN :
		    LIBSSH2_DEBIAN_UNLISTED;
	}
	return LIBSSH2_UNKNOWN;
}

/* Is the linked libssh2 one with the security fixes it needs? */
static void
check_libssh2(struct checks *cs)
{
	struct check	*ck;
	const char	*v = ssh_lib_version();
	char		*pkg, *prefix;
	char *const	 q[] = { "dpkg-query", "-W", "-f", "${Version}",
	    "libssh2-1", NULL };
	const char	*missing = NULL;
	bool		 debian_fixed = false, debian_lists = false;

	/* Debian backports fixes without changing the upstream version */
	pkg = version_num(v) >= version_num(LIBSSH2_FIXED) ? NULL :
	    run_line(q);
	prefix = xasprintf("%s-", v);
	if (pkg != NULL && str_has_prefix(pkg, prefix)) {
		char *const cmp[] = { "dpkg", "--compare-versions", pkg, "ge",
		    LIBSSH2_DEBIAN_FIXED, NULL };
		char *out = run_line(cmp);

		debian_fixed = out != NULL;
		free(out);
		debian_lists = debian_lists_cves(&missing);
	} else {
		free(pkg);
		pkg = NULL;
	}
	free(prefix);
	switch (libssh2_judge(v, pkg != NULL, debian_fixed, debian_lists)) {
	case LIBSSH2_OK:
		check_add(cs, "libssh2", "ssh", true, "%s: has the strict key "
		    "exchange against Terrapin (CVE-2023-48795) and the fixes "
		    "of %s for CVE-2026-55200 and CVE-2026-55199", v,
		    LIBSSH2_SAFE);
		break;
	case LIBSSH2_OK_DEBIAN:
		check_add(cs, "libssh2", "ssh", true, "%s (Debian %s, with the "
		    "security fixes of %s); it lacks %s's strict key exchange "
		    "against Terrapin (CVE-2023-48795), so gpureconcile offers "
		    "only AES-CTR and HMAC-SHA2, which the attack cannot "
		    "exploit", v, pkg, LIBSSH2_DEBIAN_FIXED, LIBSSH2_FIXED);
		break;
	case LIBSSH2_DEBIAN_UNLISTED:
		ck = check_add(cs, "libssh2", "ssh", false, "%s (Debian %s): its "
		    "changelog does not list %s; upstream fixed it and %s in "
		    "%s (a hostile SSH server overflows the client's heap "
		    "before authentication, or spins it), and whether %s is "
		    "affected is not established here", v, pkg, missing,
		    strcmp(missing, libssh2_cves[0]) == 0 ? libssh2_cves[1] :
		    libssh2_cves[0], LIBSSH2_SAFE, v);
		ck->warning = true;
		check_hint(ck, "apt-get update && apt-get install "
		    "--only-upgrade libssh2-1, and see "
		    "https://security-tracker.debian.org/tracker/%s; pull "
		    "and ssh-info --check only from hosts you would trust "
		    "with that", missing);
		break;
	case LIBSSH2_OLD_DEBIAN:
		ck = check_add(cs, "libssh2", "ssh", false, "%s (Debian %s) is "
		    "older than Debian's security update %s", v, pkg,
		    LIBSSH2_DEBIAN_FIXED);
		ck->warning = true;
		check_hint(ck, "apt-get update && apt-get install "
		    "--only-upgrade libssh2-1");
		break;
	case LIBSSH2_UNPATCHED_1111:
		/* strict kex, but a hostile server's packet_length overflows
		 * the heap (CVE-2026-55200) and its EXT_INFO spins the CPU
		 * past any timeout (CVE-2026-55199) */
		ck = check_add(cs, "libssh2", "ssh", false, "%s is older than "
		    "%s: unless its distribution patched it, a hostile SSH "
		    "server can overflow its heap before authentication "
		    "(CVE-2026-55200) or spin it (CVE-2026-55199)", v,
		    LIBSSH2_SAFE);
		ck->warning = true;
		check_hint(ck, "install libssh2 %s or later, or your "
		    "distribution's security updates for it", LIBSSH2_SAFE);
		break;
	case LIBSSH2_UNKNOWN:
		ck = check_add(cs, "libssh2", "ssh", false, "%s is older than "
		    "%s and its distribution's patches cannot be checked: it "
		    "may lack fixes (Terrapin, CVE-2023-48795, is mitigated by "
		    "the ciphers gpureconcile offers)", v, LIBSSH2_SAFE);
		ck->warning = true;
		check_hint(ck, "install libssh2 %s or later, or your "
		    "distribution's security updates for it", LIBSSH2_SAFE);
		break;
	}
	free(pkg);
}

/* Does a provider reach its instances over SSH (pull, ssh-info)? */
static bool
uses_ssh(struct ctx *c, const char *name)
{
	const struct provider_settings	*ps;
	const char			*v;

	if (strcmp(name, "fake") == 0)
		return false;
	if (strcmp(name, "local") != 0)
		return true;
	ps = config_provider(c->cfg, name);
	v = kv_get(ps->options, ps->noptions, "ssh");
	return v != NULL && strcmp(v, "true") == 0;
}

/* Credentials, permissions, one authenticated call, tools. */
static void
check_provider(struct ctx *c, struct checks *cs, const char *name)
{
	const struct provider_settings	*ps;
	struct provider			*p;
	struct check			*ck;
	struct gr_err			 e;
	const char			*var, *base_url, *src;
	int64_t				 t0;

	gr_err_clear(&e);
	if (provider_ops_find(name) == NULL) {
		ck = check_add(cs, "provider", name, false, "no provider "
		    "named '%s'", name);
		ck->code = GR_E_CONFIG;
		check_hint(ck, "see 'gpureconcile help provider' for the "
		    "providers there are");
		return;
	}
	ps = config_provider(c->cfg, name);
	var = cred_env_var(name);
	base_url = kv_get(ps->options, ps->noptions, "base_url");
	if (ctx_provider(c, name, &p, &e) == -1) {
		if (e.code != GR_E_AUTH) {
			check_fail(cs, "setup", name, &e);
			return;
		}
		if (strncmp(e.hint, "chmod", 5) == 0 ||
		    strncmp(e.hint, "chown", 5) == 0)
			check_fail(cs, "key file permissions", name, &e);
		else {
			ck = check_fail(cs, "credentials", name, &e);
			if (ck->hint == NULL && var != NULL)
				check_hint(ck, "export %s=...", var);
		}
		return;
	}
	src = p->cred_source;
	if (src == NULL)
		check_add(cs, "credentials", name, true, "none needed");
	else {
		check_add(cs, "credentials", name, true, "found: %s", src);
		if (source_is_file(src))
			check_add(cs, "key file permissions", name, true,
			    "yours, not readable by group or others");
	}
	t0 = clock_mono_ms();
	if (provider_startup(p, &e) == -1) {
		ck = check_fail(cs, "authenticated call", name, &e);
		if (e.code == GR_E_AUTH) {
			if (var != NULL)
				check_hint(ck, "the key from %s was refused: "
				    "check it, or export %s=... with a valid "
				    "key", src != NULL ? src : "the config",
				    var);
			else
				check_hint(ck, "the key from %s was refused: "
				    "check it", src != NULL ? src :
				    "the config");
		} else if (e.code == GR_E_TRANSIENT ||
		    e.code == GR_E_TIMEOUT) {
			check_hint(ck, "check base_url (%s) and the network: "
			    "is the API reachable from here?",
			    base_url != NULL ? base_url : "the default");
		}
	} else
		check_add(cs, "authenticated call", name, true, "%s%s "
		    "answered in %lld ms", base_url != NULL ? base_url :
		    "the provider", base_url != NULL || src == NULL ? "" :
		    " (its default API)", (long long)(clock_mono_ms() - t0));
	if (strcmp(name, "local") == 0)
		check_local_tools(c, cs, p, ps);
	else if (strcmp(name, "fake") != 0)
		check_ssh_key(cs, name, ps);
	provider_shutdown(p);
}

static void
checks_print(const struct checks *cs, FILE *fp)
{
	const struct check	*ck;
	size_t			 i, nfail = 0, nwarn = 0;

	for (i = 0; i < cs->n; i++) {
		ck = &cs->v[i];
		fprintf(fp, "%-4s  %-20s %-10s %s\n", ck->ok ? "ok" :
		    ck->warning ? "warn" : "FAIL", ck->name, ck->subject,
		    ck->detail);
		if (ck->hint != NULL)
			fprintf(fp, "      hint: %s\n", ck->hint);
		if (ck->warning)
			nwarn++;
		else if (!ck->ok)
			nfail++;
	}
	if (nfail == 0)
		fprintf(fp, "\nall %zu checks passed%s: apply has what it "
		    "needs\n", cs->n, nwarn > 0 ? " (warnings above)" : "");
	else
		fprintf(fp, "\n%zu of %zu checks failed: apply would not "
		    "work\n", nfail, cs->n);
}

static void
checks_print_json(const struct checks *cs, bool ok, FILE *fp)
{
	const struct check	*ck;
	json_t			*root, *arr, *o;
	size_t			 i;

	root = json_object();
	arr = json_array();
	json_object_set_new(root, "ok", json_boolean(ok));
	for (i = 0; i < cs->n; i++) {
		ck = &cs->v[i];
		o = json_object();
		json_object_set_new(o, "name", json_string(ck->name));
		json_object_set_new(o, "subject", json_string(ck->subject));
		json_object_set_new(o, "ok", json_boolean(ck->ok));
		json_object_set_new(o, "warning", json_boolean(ck->warning));
		json_object_set_new(o, "detail", json_string(ck->detail));
		json_object_set_new(o, "hint", ck->hint != NULL ?
		    json_string(ck->hint) : json_null());
		if (!ck->ok && !ck->warning)
			json_object_set_new(o, "code",
			    json_string(gr_code_name(ck->code)));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "checks", arr);
	json_dumpf(root, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	fputc('\n', fp);
	json_decref(root);
}

static int
cmd_check_exec(struct ctx *c, int argc, char **argv)
{
	struct checks		 cs = { NULL, 0 };
	struct ledger_inst	*rows = NULL;
	struct gr_err		 e;
	const char		**names = NULL;
	size_t			 nnames = 0, nrows = 0, i, f, g, k;
	bool			 have_spec;
	int			 rc = GR_EXIT_OK;

	(void)argv;
	if (argc > 0) {
		fprintf(stderr, "gpureconcile: check takes no arguments "
		    "(hint: fleet files go after -f)\n");
		return GR_EXIT_USAGE;
	}
	gr_err_clear(&e);
	if (c->cfg->path != NULL)
		check_add(&cs, "config", c->cfg->path, true, "%zu provider%s "
		    "configured", c->cfg->nproviders,
		    c->cfg->nproviders == 1 ? "" : "s");
	else
		check_add(&cs, "config", "-", true, "no config file; "
		    "defaults");

	have_spec = c->opts->nfleet_paths > 0 || c->cfg->nfleet_paths > 0;
	if (have_spec) {
		/* the same parse as plan; diagnostics go to stderr */
		if (ctx_load_spec(c, &e) == -1) {
			struct check *ck;

			ck = check_fail(&cs, "spec", "fleet files", &e);
			check_hint(ck, "fix the errors printed above as "
			    "file:line:col");
		} else {
			for (f = 0; f < c->spec->nfleets; f++) {
				const struct fleet_spec *fs =
				    &c->spec->fleets[f];

				for (g = 0; g < fs->ngroups; g++)
					for (k = 0; k < fs->groups[g].
					    nproviders; k++)
						names_add(&names, &nnames,
						    fs->groups[g].providers[k]);
			}
			check_add(&cs, "spec", "fleet files", true, "%zu "
			    "fleet%s; every provider named exists",
			    c->spec->nfleets, c->spec->nfleets == 1 ? "" :
			    "s");
		}
	}

	check_state_dir(c, &cs);
	check_ledger(c, &cs, &rows, &nrows);
	for (i = 0; i < nrows; i++)
		names_add(&names, &nnames, rows[i].provider);
	if (!have_spec)
		for (i = 0; i < c->cfg->nproviders; i++)
			names_add(&names, &nnames, c->cfg->providers[i].name);
	if (nnames == 0)
		check_add(&cs, "providers", "-", true, "none in use (give "
		    "-f PATH or configure providers)");
	for (i = 0; i < nnames; i++)
		check_provider(c, &cs, names[i]);
	for (i = 0; i < nnames; i++)
		if (uses_ssh(c, names[i])) {
			check_libssh2(&cs);
			break;
		}

	for (i = 0; i < cs.n; i++) {
		if (!cs.v[i].ok && !cs.v[i].warning) {
			rc = gr_code_exit(cs.v[i].code);
			break;
		}
	}
	if (c->opts->json)
		checks_print_json(&cs, rc == GR_EXIT_OK, stdout);
	else
		checks_print(&cs, stdout);
	free(names);
	ledger_insts_free(rows, nrows);
	checks_release(&cs);
	return rc;
}

const struct cmd_entry cmd_check_entry = {
	.name = "check",
	.usage = "[-f PATH...] [--json]",
	.summary = "check the spec, credentials and tools that apply needs",
	.help =
	    "Checks, without changing anything at a provider, that apply "
	    "has what it needs:\n"
	    "the config, the fleet files (the same parse as plan, errors as "
	    "file:line:col),\n"
	    "the state dir and the ledger, and for every provider in use "
	    "(named by the\n"
	    "fleet files or live ledger rows; every configured one without "
	    "-f): where its\n"
	    "credentials come from, the key file's permissions, one real "
	    "authenticated call,\n"
	    "and the tools it needs (nvidia-smi for local GPU groups; an SSH "
	    "client key for\n"
	    "pulls, a warning only; the linked libssh2 when a provider is "
	    "reached over\n"
	    "SSH).  Each check prints ok, warn or FAIL; each failure a "
	    "hint.\n"
	    "\n"
	    "Exit 0 when everything apply needs is in place; otherwise the "
	    "exit code of the\n"
	    "first failing check (77 credentials, 65 fleet files, 78 config, "
	    "...).\n"
	    "\n"
	    "  --json   {\"ok\": bool, \"checks\": [{\"name\", \"subject\", "
	    "\"ok\", \"detail\", \"hint\"}]}\n",
	.flags = CMD_NEEDS_CONFIG,
	.exec = cmd_check_exec,
};
