/*
 * sshtest.h: a real sshd for the SSH tests (8xxx), started the way users
 * get one: a `local` instance with ssh: true, which runs Debian's sshd on
 * a free loopback port the instance's supervisor owns.  Every instance is
 * killed at exit and on SIGTERM, SIGINT and SIGHUP (its process group
 * holds the sshd processes).  Tests skip when sshd is not installed.
 */
#ifndef GR_SSHTEST_H
#define GR_SSHTEST_H

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../reconciler/reconciler.h"
#include "tap.h"
#include "testlib.h"

#define SSHTEST_SSHD	"/usr/sbin/sshd"

struct sshinst {
	char		*state;		/* its state dir */
	char		*dir;		/* the instance's work dir */
	char		*known;		/* a known_hosts file for it */
	struct provider	*p;
	struct instance	 in;
	pid_t		 sup;		/* its supervisor */
};

static pid_t	 sshtest_pids[16];
static size_t	 sshtest_npids;
static pid_t	 sshtest_main;

static void
sshtest_kill(void)
{
	size_t	 i;

	if (getpid() != sshtest_main)
		return;
	for (i = 0; i < sshtest_npids; i++) {
		(void)kill(-sshtest_pids[i], SIGKILL);
		(void)kill(sshtest_pids[i], SIGKILL);
	}
}

static void
sshtest_on_signal(int sig)
{
	sshtest_kill();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Skip the whole test without sshd; else arrange the cleanup. */
static __attribute__((unused)) void
sshtest_init(void)
{
	if (access(SSHTEST_SSHD, X_OK) == -1)
		skip_all("needs %s (apt-get install openssh-server)",
		    SSHTEST_SSHD);
	if (test_run(NULL, NULL, "command -v ssh-keygen >/dev/null") != 0)
		skip_all("needs ssh-keygen (apt-get install openssh-client)");
	sshtest_main = getpid();
	(void)test_tmpdir();	/* its cleanup runs after ours */
	atexit(sshtest_kill);
	signal(SIGTERM, sshtest_on_signal);
	signal(SIGINT, sshtest_on_signal);
	signal(SIGHUP, sshtest_on_signal);
}

/* A running local instance with its own sshd. */
static __attribute__((unused)) void
sshtest_spawn(struct sshinst *si, const char *name)
{
	struct provider_conf	 conf;
	struct spawn_req	 r;
	struct gpu_req		 g;
	struct gr_err		 e;
	struct kv		 kv[2];
	json_t			*meta;
	json_error_t		 je;
	char			*path;

	memset(si, 0, sizeof(*si));
	si->state = xasprintf("%s/%s", test_tmpdir(), name);
	si->known = xasprintf("%s/known_hosts", si->state);
	kv[0].key = "ssh";
	kv[0].value = "true";
	kv[1].key = "cpu_slots";
	kv[1].value = "8";
	memset(&conf, 0, sizeof(conf));
	conf.name = "local";
	conf.state_dir = si->state;
	conf.ledger_id = "0a1b2c";
	conf.options = kv;
	conf.noptions = 2;
	provider_timeouts_default(&conf.timeouts);
	gr_err_clear(&e);
	if (provider_new(&conf, &si->p, &e) == -1)
		bail_out("provider_new local: %s", e.msg);
	memset(&g, 0, sizeof(g));
	g.type = GPU_CPU;
	memset(&r, 0, sizeof(r));
	r.label = "gr-0a1b2c-1";
	r.address = "t/ssh/0";
	r.gpu = &g;
	r.max_price = 1000000;
	r.disk_gb = 1;
	if (provider_spawn(si->p, &r, &si->in, &e) == -1)
		bail_out("spawn a local instance with sshd: %s", e.msg);
	si->dir = xstrdup(si->in.files_root);
	path = xasprintf("%s/meta.json", si->dir);
	meta = json_load_file(path, 0, &je);
	free(path);
	if (meta == NULL)
		bail_out("meta.json of %s: %s", si->in.id, je.text);
	si->sup = (pid_t)json_integer_value(json_object_get(meta, "pid"));
	json_decref(meta);
	if (si->sup > 0 && sshtest_npids < nitems(sshtest_pids))
		sshtest_pids[sshtest_npids++] = si->sup;
	if (si->in.ssh_host == NULL || si->in.ssh_port <= 0 ||
	    si->in.ssh_key == NULL)
		bail_out("instance %s has no SSH endpoint", si->in.id);
}

static __attribute__((unused)) void
sshtest_target(const struct sshinst *si, struct ssh_target *t)
{
	memset(t, 0, sizeof(*t));
	t->host = si->in.ssh_host;
	t->port = si->in.ssh_port;
	t->user = si->in.ssh_user;
	t->key_path = si->in.ssh_key;
	t->known_hosts = si->known;
	t->provider = "local";
	t->instance_id = si->in.id;
	t->connect_timeout_ms = 5000;
	t->retries = 1;
}

/* Give the instance a new host key, as a rebuilt machine has. */
static __attribute__((unused)) void
sshtest_new_hostkey(const struct sshinst *si)
{
	if (test_run(NULL, NULL, "rm -f '%s/ssh_host_ed25519_key' "
	    "'%s/ssh_host_ed25519_key.pub' && ssh-keygen -q -t ed25519 -N '' "
	    "-f '%s/ssh_host_ed25519_key'", si->dir, si->dir, si->dir) != 0)
		bail_out("ssh-keygen a new host key in %s", si->dir);
}

/* What ssh-keygen -l says the instance's host key's fingerprint is. */
static __attribute__((unused)) char *
sshtest_keygen_fp(const struct sshinst *si)
{
	char	*out = NULL, *fp;

	if (test_run(&out, NULL, "ssh-keygen -l -E sha256 -f "
	    "'%s/ssh_host_ed25519_key.pub' | cut -d' ' -f2", si->dir) != 0 ||
	    out == NULL)
		bail_out("ssh-keygen -l");
	out[strcspn(out, "\n")] = '\0';
	fp = xstrdup(out);
	free(out);
	return fp;
}

static __attribute__((unused)) void
sshtest_stop(struct sshinst *si)
{
	struct gr_err	 e;

	gr_err_clear(&e);
	if (si->p != NULL && provider_terminate(si->p, si->in.id, &e) == -1)
		diag("terminate %s: %s", si->in.id, e.msg);
	provider_free(si->p);
	si->p = NULL;
}

static __attribute__((unused)) void
sshtest_release(struct sshinst *si)
{
	instance_release(&si->in);
	free(si->state);
	free(si->dir);
	free(si->known);
}

#endif
