/*
 * 6000-sim.h: what the 6xxx tests share: start gpureconcile-sim on a free
 * loopback port (read back through --port-file, so no port races), talk
 * HTTP to it with libcurl, and kill it at exit however the test ends.
 */
#ifndef GR_T_SIM_H
#define GR_T_SIM_H

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../util/util.h"
#include "tap.h"
#include "testlib.h"

#define SIM_MAX	8

struct simproc {
	pid_t	 pid;
	int	 port;
	char	*dir;		/* its own dir under the test tmpdir; owned */
	char	*errlog;	/* its stderr; owned */
};

struct hres {
	long	 status;	/* 0: no reply (connection closed) */
	char	*body;		/* owned */
	char	*headers;	/* raw header block; owned */
	char	*ctype;		/* owned, or NULL */
	json_t	*json;		/* parsed body, or NULL; owned */
	int	 curl_rc;
	double	 secs;
};

static pid_t sim_pids[SIM_MAX];

static inline void
sim_kill_all(void)
{
	int	 i, st;

	for (i = 0; i < SIM_MAX; i++) {
		if (sim_pids[i] <= 0)
			continue;
		(void)kill(sim_pids[i], SIGKILL);
		(void)waitpid(sim_pids[i], &st, 0);
		sim_pids[i] = 0;
	}
}

static inline const char *
sim_bin(void)
{
	const char	*b = getenv("GR_SIM");

	return b != NULL ? b : "build/gpureconcile-sim";
}

/* On a fatal signal: kill the simulators (kill is async-signal-safe),
 * then die of the same signal. */
static void
sim_on_signal(int sig)
{
	int	 i;

	for (i = 0; i < SIM_MAX; i++)
		if (sim_pids[i] > 0)
			(void)kill(sim_pids[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Run argv (argv[0] a path) in the background, stdin /dev/null, stdout
 * and stderr appended to log: a CLI or daemon a test drives beside the
 * sim.  The caller waits for it, or tracks it to be killed.
 */
static inline pid_t
bg_exec(const char *log, char *const argv[])
{
	pid_t	 pid;
	int	 fd;

	fflush(stdout);
	pid = fork();
	if (pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1) {
			dup2(fd, 0);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * Start the sim with a scenario (JSON text, or NULL for the defaults)
 * and extra arguments (split at spaces).  Bails out when it does not
 * come up within 10 s.
 */
static inline void
sim_start(struct simproc *sp, const char *scenario, const char *args)
{
	static int	 seq;
	static bool	 hooked;
	char		*scen = NULL, *pf, *argv[32], *dup = NULL, *t, *save;
	char		*listen = xstrdup("127.0.0.1:0");
	int		 argc = 0, i, fd;
	char		*txt = NULL;

	if (!hooked) {
		struct sigaction	 sa;

		atexit(sim_kill_all);
		/* killed tests must not leave simulators behind either */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = sim_on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		hooked = true;
	}
	memset(sp, 0, sizeof(*sp));
	sp->dir = xasprintf("%s/sim%d", test_tmpdir(), seq++);
	if (mkdir_p(sp->dir, 0755) == -1)
		bail_out("mkdir %s: %s", sp->dir, strerror(errno));
	pf = xasprintf("%s/port", sp->dir);
	sp->errlog = xasprintf("%s/stderr", sp->dir);
	if (scenario != NULL)
		scen = test_write(sp->dir, "scenario.json", scenario);
	argv[argc++] = (char *)sim_bin();
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--port-file";
	argv[argc++] = pf;
	if (scen != NULL) {
		argv[argc++] = "--scenario";
		argv[argc++] = scen;
	}
	if (args != NULL) {
		dup = xstrdup(args);
		for (t = strtok_r(dup, " ", &save); t != NULL && argc < 30;
		    t = strtok_r(NULL, " ", &save))
			argv[argc++] = t;
	}
	argv[argc] = NULL;
	fflush(stdout);
	sp->pid = fork();
	if (sp->pid == -1)
		bail_out("fork: %s", strerror(errno));
	if (sp->pid == 0) {
		fd = open(sp->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd != -1) {
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDWR);
		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < SIM_MAX; i++)
		if (sim_pids[i] == 0) {
			sim_pids[i] = sp->pid;
			break;
		}
	for (i = 0; i < 1000; i++) {
		if (file_read(pf, 64, &txt, NULL) == 0 && strchr(txt, '\n')) {
			sp->port = atoi(txt);
			free(txt);
			break;
		}
		free(txt);
		txt = NULL;
		if (waitpid(sp->pid, NULL, WNOHANG) == sp->pid) {
			char *e = NULL;

			(void)file_read(sp->errlog, 1 << 16, &e, NULL);
			bail_out("gpureconcile-sim exited at start: %s",
			    e != NULL ? e : "?");
		}
		usleep(10000);
	}
	if (sp->port <= 0)
		bail_out("gpureconcile-sim did not write its port file");
	free(pf);
	free(dup);
	free(scen);
	free(listen);
}

/* SIGTERM, then the exit status (or -1). */
static inline int
sim_stop(struct simproc *sp)
{
	int	 st, i;

	if (sp->pid <= 0)
		return -1;
	(void)kill(sp->pid, SIGTERM);
	if (waitpid(sp->pid, &st, 0) != sp->pid)
		return -1;
	for (i = 0; i < SIM_MAX; i++)
		if (sim_pids[i] == sp->pid)
			sim_pids[i] = 0;
	sp->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void
sim_free(struct simproc *sp)
{
	free(sp->dir);
	free(sp->errlog);
}

static inline char *
sim_stderr(struct simproc *sp)
{
	char	*e = NULL;

	if (file_read(sp->errlog, 16 << 20, &e, NULL) == -1)
		return xstrdup("");
	return e;
}

static inline size_t
hres_body_cb(char *p, size_t sz, size_t n, void *arg)
{
	buf_add(arg, p, sz * n);
	return sz * n;
}

static inline void
hres_free(struct hres *h)
{
	free(h->body);
	free(h->headers);
	free(h->ctype);
	json_decref(h->json);
	memset(h, 0, sizeof(*h));
}

/*
 * One request.  path starts with '/'; hdrs is a NULL-terminated list of
 * "Name: value" lines (or NULL); body may be NULL.
 */
static inline void
sim_http(struct simproc *sp, struct hres *h, const char *method,
    const char *path, const char *const *hdrs, const char *body)
{
	CURL			*c = curl_easy_init();
	struct curl_slist	*hl = NULL;
	struct buf		 b = BUF_INIT, hb = BUF_INIT;
	char			*url, *ct = NULL;
	json_error_t		 je;

	memset(h, 0, sizeof(*h));
	url = xasprintf("http://127.0.0.1:%d%s", sp->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hres_body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hres_body_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	for (; hdrs != NULL && *hdrs != NULL; hdrs++)
		hl = curl_slist_append(hl, *hdrs);
	if (body != NULL) {
		hl = curl_slist_append(hl, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	h->curl_rc = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &h->secs);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL)
		h->ctype = xstrdup(ct);
	h->body = buf_detach(&b);
	h->headers = buf_detach(&hb);
	if (h->body[0] != '\0')
		h->json = json_loads(h->body, JSON_DECODE_ANY, &je);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	free(url);
}

/* A header's value (first match, case-insensitive), or NULL; owned. */
static inline char *
hres_header(const struct hres *h, const char *name)
{
	const char	*p = h->headers;
	size_t		 n = strlen(name);
	const char	*e;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			e = strpbrk(p, "\r\n");
			return xstrndup(p, e != NULL ? (size_t)(e - p) :
			    strlen(p));
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* Requests with one auth header (NULL: none). */
static inline void
sim_call(struct simproc *sp, struct hres *h, const char *method,
    const char *path, const char *auth, const char *body)
{
	const char	*hdrs[2] = { auth, NULL };

	sim_http(sp, h, method, path, auth != NULL ? hdrs : NULL, body);
}

/* The control API: the parsed reply (new), bailing on failure. */
static inline json_t *
ctl(struct simproc *sp, const char *method, const char *path,
    const char *body)
{
	struct hres	 h;
	json_t		*j;
	char		*p = xasprintf("/_sim/%s", path);

	sim_http(sp, &h, method, p, NULL, body);
	free(p);
	if (h.json == NULL || h.status >= 300)
		bail_out("control %s %s: %ld %s", method, path, h.status,
		    h.body != NULL ? h.body : "");
	j = json_incref(h.json);
	hres_free(&h);
	return j;
}

static inline void
sim_advance_ms(struct simproc *sp, long long ms)
{
	char	*b = xasprintf("{\"ms\": %lld}", ms);

	json_decref(ctl(sp, "POST", "advance", b));
	free(b);
}

/* A control-API instance view for (provider, id); new. */
static inline json_t *
ctl_inst(struct simproc *sp, const char *prov, const char *id)
{
	char	*p = xasprintf("instances/%s/%s", prov, id);
	json_t	*j = ctl(sp, "GET", p, NULL);

	free(p);
	return j;
}

/* The billing record entry of (provider, id), borrowed from *bill. */
static inline json_t *
bill_of(json_t *bill, const char *prov, const char *id)
{
	size_t	 k;
	json_t	*e;

	json_array_foreach(json_object_get(bill, "instances"), k, e) {
		if (strcmp(json_string_value(json_object_get(e, "provider")),
		    prov) == 0 && strcmp(json_string_value(json_object_get(e,
		    "id")), id) == 0)
			return e;
	}
	return NULL;
}

static inline long long
jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static inline const char *
jstr(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "(null)";
}

/* A path into nested objects/arrays: "a.b.0.c"; borrowed or NULL. */
static inline json_t *
jpath(json_t *o, const char *path)
{
	char	*dup = xstrdup(path), *t, *save;
	char	*end;
	long	 idx;

	for (t = strtok_r(dup, ".", &save); t != NULL && o != NULL;
	    t = strtok_r(NULL, ".", &save)) {
		if (json_is_array(o)) {
			idx = strtol(t, &end, 10);
			o = *end == '\0' ? json_array_get(o, (size_t)idx) :
			    NULL;
		} else
			o = json_object_get(o, t);
	}
	free(dup);
	return o;
}

static inline const char *
jpstr(json_t *o, const char *path)
{
	const char	*s = json_string_value(jpath(o, path));

	return s != NULL ? s : "(null)";
}

/* Rate limits off, so tests are not paced; clock frozen by the caller. */
#define SIM_NO_RL \
	"\"vastai\": {\"rate_limits\": false}, " \
	"\"runpod\": {\"rate_limits\": false}, " \
	"\"lambda\": {\"rate_limits\": false}"

#define AUTH_VAST	"Authorization: Bearer sim-vast-key"
#define AUTH_RUNPOD	"Authorization: Bearer sim-runpod-key"
#define AUTH_LAMBDA	"Authorization: Bearer sim-lambda-key"

#endif /* GR_T_SIM_H */
