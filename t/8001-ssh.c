/*
 * 8001-ssh: the SSH client against a real sshd (a local instance with
 * ssh: true): host keys trusted on first use and recorded with their
 * SHA-256 fingerprint (the one ssh-keygen prints), a changed key refused
 * with both fingerprints and how to accept it, ssh-forget, a refused
 * client key, retries with backoff on a closed port, the handshake
 * timeout, reserved endpoints never dialled; then the CLI: ssh-info
 * --check, the fingerprint in the ledger, ssh-forget, and sshd gone with
 * the instance.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <stdarg.h>

#include "sshtest.h"

/* A loopback port that is listening, or closed (listen false). */
static int
loopback_port(bool listening, int *fdp)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (listening && listen(fd, 4) == -1) ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1)
		bail_out("loopback socket: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	if (listening)
		*fdp = fd;
	else
		close(fd);
	return port;
}

/*
 * Processes of a group or session that are not zombies (a container's
 * init may be slow to reap what it inherits).
 */
static int
group_live(pid_t id)
{
	DIR		*d;
	struct dirent	*de;
	char		*path, *text, *p, st;
	long		 pgrp, sid;
	int		 n = 0;

	d = opendir("/proc");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		path = xasprintf("/proc/%s/stat", de->d_name);
		text = NULL;
		if (file_read(path, 4096, &text, NULL) == 0 &&
		    (p = strrchr(text, ')')) != NULL &&
		    sscanf(p + 1, " %c %*d %ld %ld", &st, &pgrp, &sid) == 3 &&
		    st != 'Z' && (pgrp == id || sid == id))
			n++;
		free(text);
		free(path);
	}
	closedir(d);
	return n;
}

/* Live processes whose command line holds an argument equal to arg. */
static int
cmdline_live(const char *arg)
{
	DIR		*d;
	struct dirent	*de;
	char		*path, *text, *p, st;
	size_t		 len, off;
	int		 n = 0;

	d = opendir("/proc");
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		path = xasprintf("/proc/%s/cmdline", de->d_name);
		text = NULL;
		if (file_read(path, 4096, &text, &len) == 0) {
			for (off = 0; off < len; off += strlen(text + off) + 1)
				if (strcmp(text + off, arg) == 0)
					break;
			if (off < len) {
				free(text);
				free(path);
				path = xasprintf("/proc/%s/stat", de->d_name);
				text = NULL;
				if (file_read(path, 4096, &text, NULL) == 0 &&
				    (p = strrchr(text, ')')) != NULL &&
				    sscanf(p + 1, " %c", &st) == 1 && st != 'Z')
					n++;
			}
		}
		free(text);
		free(path);
	}
	closedir(d);
	return n;
}

static char *
slurp(const char *path)
{
	char	*s = NULL;

	if (file_read(path, 1 << 20, &s, NULL) == -1)
		return xstrdup("");
	return s;
}

static void
library_checks(void)
{
	struct sshinst		 si;
	struct ssh_target	 t;
	struct ssh_conn		*c = NULL;
	struct gr_err		 e;
	char			*fp1, *fp2, *known1, *known2, old[64], *other;
	int64_t			 t0;
	int			 lfd = -1, rc;

	sshtest_spawn(&si, "lib");
	sshtest_target(&si, &t);
	fp1 = sshtest_keygen_fp(&si);

	/* first use: recorded, with the fingerprint ssh-keygen prints */
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	is_int(rc, 0, "first connection: %s", e.msg);
	ok(c != NULL && ssh_conn_first_use(c), "first use: the key is new");
	is_str(c != NULL ? ssh_conn_fingerprint(c) : "", fp1,
	    "the fingerprint is OpenSSH's SHA256 one");
	ssh_close(c);
	c = NULL;
	known1 = slurp(si.known);
	like(known1, fp1, "known_hosts records the fingerprint");
	like(known1, si.in.id, "under the instance's id");

	/* again: the same key, nothing new */
	rc = ssh_connect(&t, &c, &e);
	ok(rc == 0 && !ssh_conn_first_use(c), "second connection: the key "
	    "matches, not recorded again");
	ssh_close(c);
	c = NULL;

	/* a rebuilt host: refused, with both fingerprints and the way out */
	sshtest_new_hostkey(&si);
	fp2 = sshtest_keygen_fp(&si);
	ok(strcmp(fp1, fp2) != 0, "the new host key differs");
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && c == NULL && e.code == GR_E_AUTH, "a changed host key "
	    "is refused (AUTH)");
	like(e.msg, fp1, "the error names the recorded fingerprint");
	like(e.msg, fp2, "and the new one");
	other = xasprintf("127.0.0.1:%d", si.in.ssh_port);
	like(e.msg, other, "and host:port");
	free(other);
	like(e.hint, "ssh-forget --instance", "the hint says how to accept "
	    "a rebuilt instance's key");
	known2 = slurp(si.known);
	is_str(known2, known1, "known_hosts is unchanged by the refusal");
	free(known2);

	/* ssh-forget, then the new key is trusted on first use */
	rc = ssh_known_forget(si.known, "local", si.in.id, old, &e);
	ok(rc == 0 && strcmp(old, fp1) == 0, "forget returns the old "
	    "fingerprint");
	rc = ssh_known_forget(si.known, "local", si.in.id, old, &e);
	ok(rc == -1 && e.code == GR_E_NOT_FOUND, "forgetting twice: "
	    "NOT_FOUND");
	rc = ssh_connect(&t, &c, &e);
	ok(rc == 0 && ssh_conn_first_use(c) &&
	    strcmp(ssh_conn_fingerprint(c), fp2) == 0, "after forget the new "
	    "key is recorded: %s", e.msg);
	ssh_close(c);
	c = NULL;

	/* a damaged entry for the instance fails closed, never re-trusts */
	free(known1);
	known1 = slurp(si.known);
	if (test_run(NULL, NULL, "sed -i 's/ SHA256:.*$//' '%s'", si.known) !=
	    0)
		bail_out("sed");
	known2 = slurp(si.known);
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && c == NULL && e.code == GR_E_AUTH, "a truncated "
	    "known_hosts entry is refused (AUTH), not trusted anew: %s", e.msg);
	like(e.msg, "damaged", "the error says the entry is damaged");
	like(e.hint, "ssh-forget", "and how to mend it");
	free(known1);
	known1 = slurp(si.known);
	is_str(known1, known2, "known_hosts is left as it was");
	free(known2);
	gr_err_clear(&e);
	rc = ssh_known_forget(si.known, "local", si.in.id, old, &e);
	ok(rc == 0, "forget removes a damaged entry: %s", e.msg);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == 0 && ssh_conn_first_use(c), "then the key is recorded "
	    "again: %s", e.msg);
	ssh_close(c);
	c = NULL;

	/* two entries for one instance: ambiguous, refused; forget drops both */
	free(known1);
	known1 = slurp(si.known);
	if (test_run(NULL, NULL, "l=$(grep '^local ' '%s') && "
	    "printf '%%s\\n' \"$l\" >> '%s'", si.known, si.known) != 0)
		bail_out("grep");
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && c == NULL && e.code == GR_E_AUTH && strstr(e.msg,
	    "repeated") != NULL, "a repeated entry is refused: %s", e.msg);
	rc = ssh_known_forget(si.known, "local", si.in.id, old, &e);
	ok(rc == 0 && strstr((known2 = slurp(si.known)), si.in.id) == NULL,
	    "forget removes every line for the instance");
	free(known2);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == 0 && ssh_conn_first_use(c), "then trusted on first use");
	ssh_close(c);
	c = NULL;
	free(known1);
	known1 = slurp(si.known);

	/* an instance id that cannot be one known_hosts field is refused,
	 * else its line never matches and every connection is a first use */
	t.instance_id = "two words";
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && c == NULL, "an instance id with a blank is refused");
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && c == NULL, "every time, never trusted on first use "
	    "again");
	ssh_close(c);
	c = NULL;
	t.instance_id = "x\nlocal other 127.0.0.1:1 ssh-ed25519 AAAA SHA256:x";
	rc = ssh_connect(&t, &c, &e);
	known2 = slurp(si.known);
	ok(rc == -1 && strstr(known2, "local other") == NULL, "an id with a "
	    "newline writes no line of its own");
	free(known2);
	ssh_close(c);
	c = NULL;
	sshtest_target(&si, &t);

	/* a client key the instance does not know */
	other = xasprintf("%s/other_key", si.state);
	if (test_run(NULL, NULL, "ssh-keygen -q -t ed25519 -N '' -f '%s'",
	    other) != 0)
		bail_out("ssh-keygen");
	t.key_path = other;
	gr_err_clear(&e);
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && e.code == GR_E_AUTH, "an unknown client key is "
	    "refused (AUTH)");
	like(e.msg, "was not accepted", "and says the key was not accepted");
	ok(strstr(e.msg, "PRIVATE KEY") == NULL, "the key's content is not "
	    "in the error");
	free(other);
	sshtest_target(&si, &t);

	/* a closed port: 1 + 2 retries, backing off 0.5 s then 1 s */
	t.port = loopback_port(false, NULL);
	t.retries = 2;
	t0 = clock_mono_ms();
	rc = ssh_connect(&t, &c, &e);
	t0 = clock_mono_ms() - t0;
	ok(rc == -1 && e.code == GR_E_TRANSIENT, "a closed port: TRANSIENT "
	    "after the retries: %s", e.msg);
	ok(t0 >= 1400 && t0 < 5000, "it retried with backoff (%lld ms)",
	    (long long)t0);

	/* a server that accepts and never speaks: the handshake times out */
	t.port = loopback_port(true, &lfd);
	t.retries = 0;
	t.connect_timeout_ms = 300;
	t0 = clock_mono_ms();
	rc = ssh_connect(&t, &c, &e);
	t0 = clock_mono_ms() - t0;
	ok(rc == -1 && (e.code == GR_E_TIMEOUT || e.code == GR_E_TRANSIENT),
	    "a silent server: the handshake gives up: %s", e.msg);
	ok(t0 < 3000, "within the connect timeout (%lld ms)", (long long)t0);
	close(lfd);

	/* reserved endpoints are never dialled */
	sshtest_target(&si, &t);
	t.host = "ssh1.vast.sim.invalid";
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && e.code == GR_E_UNSUPPORTED, "a .invalid host: "
	    "UNSUPPORTED, not dialled");
	t.host = "203.0.113.7";
	rc = ssh_connect(&t, &c, &e);
	ok(rc == -1 && e.code == GR_E_UNSUPPORTED, "a documentation address: "
	    "UNSUPPORTED, not dialled");

	/*
	 * The supervisor dies (kill -9, as a crash): the next list kills
	 * what is left, sshd and its session included, though the session
	 * runs in a session of its own and its parents die first.
	 */
	{
		struct instance_list	 l = { NULL, 0 };
		int			 n;

		other = xasprintf("%s/ssh2.pid", si.state);
		(void)test_run(NULL, NULL, "ssh -o BatchMode=yes -o "
		    "StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
		    "-i '%s' -p %d '%s@127.0.0.1' 'exec sleep 318.5' "
		    "</dev/null >/dev/null 2>&1 & echo $! > '%s'",
		    si.in.ssh_key, si.in.ssh_port, si.in.ssh_user, other);
		for (n = 0; n < 100 && cmdline_live("318.5") == 0; n++)
			usleep(50000);
		ok(cmdline_live("318.5") == 1, "a command runs over SSH");
		ok(kill(si.sup, SIGKILL) == 0, "the supervisor is killed");
		usleep(200000);
		gr_err_clear(&e);
		rc = provider_list(si.p, &l, &e);
		ok(rc == 0 && l.n == 1 && l.v[0].state == INST_TERMINATED,
		    "list: the instance is gone (TERMINATED)");
		instance_list_release(&l);
		for (n = 0; n < 40 && cmdline_live("318.5") > 0; n++)
			usleep(50000);
		ok(cmdline_live("318.5") == 0, "its SSH session's command "
		    "did not outlive it");
		ok(group_live(si.sup) == 0, "nor did any sshd of its group");
		(void)test_run(NULL, NULL, "kill $(cat '%s') 2>/dev/null",
		    other);
		free(other);
	}

	sshtest_stop(&si);
	sshtest_release(&si);
	free(fp1);
	free(fp2);
	free(known1);
}

static int
cli(char **out, char **err, const char *cfg, const char *state,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
cli(char **out, char **err, const char *cfg, const char *state,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 rc;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	rc = test_run(out, err, "'%s' --config '%s' --state-dir '%s' %s",
	    test_bin(), cfg, state, cmd);
	free(cmd);
	return rc;
}

static void
cli_checks(void)
{
	char		*base, *cfg, *state, *out = NULL, *err = NULL, *id;
	char		*dir, *fp1, *fp2, *p;
	json_t		*j;
	json_error_t	 je;
	pid_t		 sup;
	int		 rc;

	base = xasprintf("%s/cli", test_tmpdir());
	state = xasprintf("%s/state", base);
	cfg = test_write(base, "config.yaml", "providers:\n  local:\n"
	    "    ssh: true\n    cpu_slots: 2\n"
	    "    timeouts: {ssh_connect: 5s, ssh_retries: 1}\n");
	rc = cli(&out, &err, cfg, state, "provider local spinup --gpu CPU "
	    "--disk 1 --template none --name s1 --yes --json");
	j = out != NULL ? json_loads(out, 0, &je) : NULL;
	if (rc != 0 || j == NULL)
		bail_out("spinup: %s", err != NULL ? err : "");
	id = xstrdup(json_string_value(json_object_get(j, "instance_id")));
	json_decref(j);
	free(out);
	free(err);
	dir = xasprintf("%s/local/instances/%s", state, id);
	p = xasprintf("%s/meta.json", dir);
	j = json_load_file(p, 0, &je);
	free(p);
	sup = j != NULL ? (pid_t)json_integer_value(json_object_get(j,
	    "pid")) : 0;
	json_decref(j);
	if (sup > 0 && sshtest_npids < nitems(sshtest_pids))
		sshtest_pids[sshtest_npids++] = sup;

	rc = cli(&out, &err, cfg, state, "provider local ssh-info --instance "
	    "'%s' --check", id);
	is_int(rc, 0, "ssh-info --check: exit 0: %s", err);
	like(out, "check: ok", "ssh-info --check: connected and "
	    "authenticated");
	like(out, "first use", "ssh-info --check: the key was recorded");
	free(out);
	free(err);
	rc = cli(&out, &err, cfg, state, "ledger export --jsonl --events");
	p = xasprintf("\"ssh_hostkey\": \"SHA256:");
	ok(rc == 0 && out != NULL && (strstr(out, "\"ssh_hostkey\":\"SHA256:")
	    != NULL || strstr(out, p) != NULL), "the ledger row has the "
	    "fingerprint");
	like(out, "ssh-hostkey", "and an ssh-hostkey event");
	free(p);
	free(out);
	free(err);

	/* the instance is rebuilt: --check refuses, exit 77, one line */
	{
		struct sshinst	 si;

		memset(&si, 0, sizeof(si));
		si.dir = dir;
		fp1 = sshtest_keygen_fp(&si);
		sshtest_new_hostkey(&si);
		fp2 = sshtest_keygen_fp(&si);
	}
	rc = cli(&out, &err, cfg, state, "provider local ssh-info --instance "
	    "'%s' --check", id);
	is_int(rc, gr_code_exit(GR_E_AUTH), "a changed host key: exit %d",
	    gr_code_exit(GR_E_AUTH));
	like(err, fp1, "the error names the old fingerprint");
	like(err, fp2, "and the new one");
	like(err, "ssh-forget", "and ssh-forget");
	free(out);
	free(err);
	p = xasprintf("%s/got", base);
	rc = cli(&out, &err, cfg, state, "provider local pull --instance "
	    "'%s' --remote meta.json --local '%s'", id, p);
	ok(rc == gr_code_exit(GR_E_AUTH) && access(p, F_OK) == -1,
	    "pull with a changed host key: refused, nothing written");
	free(p);
	free(out);
	free(err);
	rc = cli(&out, &err, cfg, state, "provider local ssh-forget "
	    "--instance '%s'", id);
	ok(rc == 0 && out != NULL && strstr(out, fp1) != NULL, "ssh-forget "
	    "names the key it forgot");
	free(out);
	free(err);
	rc = cli(&out, &err, cfg, state, "provider local ssh-info --instance "
	    "'%s' --check --json", id);
	ok(rc == 0 && out != NULL && strstr(out, fp2) != NULL &&
	    strstr(out, "\"ok\"") != NULL, "after ssh-forget --check records "
	    "the new key");
	free(out);
	free(err);
	rc = cli(&out, &err, cfg, state, "ledger export --jsonl --events");
	ok(rc == 0 && out != NULL && strstr(out, fp2) != NULL, "the ledger "
	    "row now has the new fingerprint");
	free(out);
	free(err);

	/* a session running through sshd (its own session, as sshd makes) */
	p = xasprintf("%s/ssh.pid", base);
	rc = test_run(NULL, NULL, "ssh -o BatchMode=yes -o "
	    "StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "
	    "'%s/local/ssh/id_ed25519' -p \"$(sed -n 's/.*\"ssh_port\": "
	    "\\([0-9]*\\).*/\\1/p' '%s/meta.json')\" \"$(id -un)@127.0.0.1\" "
	    "'exec sleep 317.25' </dev/null >/dev/null 2>&1 & echo $! > '%s'",
	    state, dir, p);
	for (rc = 0; rc < 100 && cmdline_live("317.25") == 0; rc++)
		usleep(50000);
	ok(cmdline_live("317.25") == 1, "a command runs over SSH on the "
	    "instance");
	free(p);

	/* terminate takes sshd and its sessions with it */
	rc = cli(&out, &err, cfg, state, "provider local teardown --instance "
	    "'%s' --yes", id);
	is_int(rc, 0, "teardown: %s", err);
	free(out);
	free(err);
	ok(sup > 0 && group_live(sup) == 0, "no process of the instance's "
	    "group or session is left (sshd included)");
	ok(cmdline_live("317.25") == 0, "the SSH session's command is gone "
	    "too");
	(void)test_run(NULL, NULL, "kill $(cat '%s/ssh.pid') 2>/dev/null",
	    base);
	free(fp1);
	free(fp2);
	free(id);
	free(dir);
	free(cfg);
	free(state);
	free(base);
}

/* ssh: true without sshd: the spawn says what to install, leaves nothing. */
static void
no_sshd(void)
{
	struct provider_conf	 conf;
	struct provider		*p;
	struct spawn_req	 r;
	struct gpu_req		 g;
	struct instance		 in;
	struct instance_list	 l = { NULL, 0 };
	struct gr_err		 e;
	struct kv		 kv[2] = { { "ssh", "true" },
	    { "sshd", "/nonexistent/sbin/sshd" } };
	char			*state = xasprintf("%s/nosshd", test_tmpdir());
	int			 rc;

	memset(&conf, 0, sizeof(conf));
	conf.name = "local";
	conf.state_dir = state;
	conf.ledger_id = "0a1b2c";
	conf.options = kv;
	conf.noptions = 2;
	provider_timeouts_default(&conf.timeouts);
	gr_err_clear(&e);
	if (provider_new(&conf, &p, &e) == -1)
		bail_out("provider_new: %s", e.msg);
	memset(&g, 0, sizeof(g));
	g.type = GPU_CPU;
	memset(&r, 0, sizeof(r));
	r.label = "gr-0a1b2c-9";
	r.address = "t/nosshd/0";
	r.gpu = &g;
	r.max_price = 1000000;
	memset(&in, 0, sizeof(in));
	rc = provider_spawn(p, &r, &in, &e);
	ok(rc == -1 && e.code == GR_E_CONFIG, "ssh: true without sshd: the "
	    "spawn fails (CONFIG): %s", e.msg);
	like(e.hint, "openssh-server", "and says to install openssh-server");
	rc = provider_list(p, &l, &e);
	ok(rc == 0 && l.n == 0, "and leaves no instance");
	instance_list_release(&l);
	instance_release(&in);
	provider_free(p);
	free(state);
}

int
main(void)
{
	sshtest_init();
	plan_lazy();
	no_sshd();
	library_checks();
	cli_checks();
	return done_testing();
}
