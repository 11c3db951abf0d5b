/*
 * 3202: API keys: every source of DESIGN.md section 9 in its order and
 * precedence, the permission refusals, dotenv parsing, the keyring through
 * a fake secret-tool first on PATH (one that answers, one that fails, one
 * that hangs, none at all), and a key that never shows up in an error, a
 * source or a log line.
 */
#include <sys/stat.h>
#include <sys/xattr.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

#define K_FILE		"sk-FILE-0123456789"
#define K_ENV		"sk-ENV-0123456789"
#define K_RING		"sk-RING-0123456789"
#define K_CREDS		"sk-CREDS-0123456789"
#define K_DOT_P		"sk-DOTP-0123456789"
#define K_DOT		"sk-DOT-0123456789"

static const char *const all_keys[] = { K_FILE, K_ENV, K_RING, K_CREDS,
	K_DOT_P, K_DOT };

static char	*top;		/* the temp dir */
static char	*work;		/* the working directory: dotenv files */
static char	*bin_ok, *bin_fail, *bin_hang, *bin_none;
static char	*creds;		/* a credentials directory */
static char	*args_file;	/* what the fake secret-tool was given */
static struct buf logs = BUF_INIT;

static void
capture(int lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	buf_adds(&logs, msg);
	buf_addc(&logs, '\n');
}

/* Write path with exactly this content and mode. */
static void
put(const char *path, const char *text, mode_t mode)
{
	FILE	*f;

	unlink(path);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		bail_out("write %s: %s", path, strerror(errno));
	if (chmod(path, mode) == -1)
		bail_out("chmod %s: %s", path, strerror(errno));
}

static char *
script(const char *dir, const char *body)
{
	char	*path = xasprintf("%s/secret-tool", dir);

	if (mkdir_p(dir, 0755) == -1)
		bail_out("mkdir %s", dir);
	put(path, body, 0755);
	return path;
}

/* No key of ours anywhere in the error, the source or the log. */
static bool
clean(const struct gr_err *e, const struct cred *c)
{
	size_t	 i;

	for (i = 0; i < nitems(all_keys); i++) {
		if (strstr(e->msg, all_keys[i]) != NULL ||
		    strstr(e->hint, all_keys[i]) != NULL ||
		    (c->source != NULL && strstr(c->source, all_keys[i]) !=
		    NULL) || strstr(buf_str(&logs), all_keys[i]) != NULL)
			return false;
	}
	return true;
}

/* Resolve for vastai; check the outcome and that nothing leaked. */
static void
expect(const char *key_file, const char *want_key, const char *want_source,
    const char *what)
{
	struct cred	 c;
	struct gr_err	 e;
	int		 rc;

	gr_err_clear(&e);
	rc = cred_resolve("vastai", key_file, &c, &e);
	is_int(rc, 0, "%s: found", what);
	is_str(c.key, want_key, "%s: the key", what);
	is_str(c.source, want_source, "%s: the source", what);
	ok(clean(&e, &c), "%s: no key in error, source or log", what);
	cred_release(&c);
	ok(c.key == NULL && c.source == NULL, "%s: released", what);
}

/* Resolve and expect GR_E_AUTH; hint must contain want_hint. */
static void
expect_fail(const char *key_file, const char *want_msg,
    const char *want_hint, const char *what)
{
	struct cred	 c;
	struct gr_err	 e;
	int		 rc;

	gr_err_clear(&e);
	rc = cred_resolve("vastai", key_file, &c, &e);
	is_int(rc, -1, "%s: refused", what);
	is_str(gr_code_name(e.code), "AUTH", "%s: AUTH", what);
	like(e.msg, want_msg, "%s: message", what);
	if (want_hint != NULL)
		like(e.hint, want_hint, "%s: hint", what);
	ok(c.key == NULL, "%s: no key handed back", what);
	ok(clean(&e, &c), "%s: no key in error or log", what);
	cred_release(&c);
}

static void
use_path(const char *dir)
{
	setenv("PATH", dir, 1);
}

static void
test_env_var_names(void)
{
	is_str(cred_env_var("vastai"), "VAST_API_KEY", "vastai's variable");
	is_str(cred_env_var("runpod"), "RUNPOD_API_KEY", "runpod's variable");
	is_str(cred_env_var("lambda"), "LAMBDA_API_KEY", "lambda's variable");
	ok(cred_env_var("local") == NULL, "local has no variable");
	ok(cred_env_var("fake") == NULL, "fake has no variable");
	ok(cred_env_var(NULL) == NULL, "NULL provider has no variable");
}

static void
test_key_file(void)
{
	char	*kf = xasprintf("%s/key", top), *src, *p;

	src = xasprintf("--api-key-file %s", kf);
	put(kf, "  " K_FILE "\n\n", 0600);
	setenv("VAST_API_KEY", K_ENV, 1);
	expect(kf, K_FILE, src, "key file before the environment");

	put(kf, K_FILE, 0400);
	expect(kf, K_FILE, src, "key file 0400, no newline");

	put(kf, K_FILE "\n", 0644);
	expect_fail(kf, "group or others have access (mode 0644)", NULL,
	    "world-readable key file");
	p = xasprintf("chmod 600 %s", kf);
	{
		struct cred	 c;
		struct gr_err	 e;

		gr_err_clear(&e);
		cred_resolve("vastai", kf, &c, &e);
		is_str(e.hint, p, "world-readable key file: hint is chmod 600");
		cred_release(&c);
	}
	free(p);
	put(kf, K_FILE "\n", 0640);
	expect_fail(kf, "mode 0640", "chmod 600", "group-readable key file");
	put(kf, K_FILE "\n", 0604);
	expect_fail(kf, "mode 0604", "chmod 600", "other-readable key file");
	put(kf, K_FILE "\n", 0620);
	expect_fail(kf, "mode 0620", "chmod 600", "group-writable key file");

	if (geteuid() == 0) {
		put(kf, K_FILE "\n", 0600);
		if (chown(kf, 65534, 65534) == -1)
			bail_out("chown: %s", strerror(errno));
		expect_fail(kf, "owned by uid 65534, not by you", "chown",
		    "key file owned by someone else");
	} else
		skip(6, "not root: cannot give a file away");

	put(kf, " \n\t\n", 0600);
	expect_fail(kf, "is empty", NULL, "blank key file");
	put(kf, K_FILE "\nsecond line\n", 0600);
	expect_fail(kf, "character an HTTP header cannot carry", NULL,
	    "two-line key file");
	put(kf, "sk-with space\n", 0600);
	expect_fail(kf, "character an HTTP header cannot carry", NULL,
	    "key file with a space inside");

	unlink(kf);
	expect_fail(kf, "No such file", "--api-key-file",
	    "missing key file (no fallback to the environment)");
	expect_fail(top, "not a regular file", NULL, "a directory as key "
	    "file");
	unsetenv("VAST_API_KEY");
	free(src);
	free(kf);
}

static void
test_env(void)
{
	use_path(bin_ok);
	setenv("VAST_API_KEY", K_ENV, 1);
	expect(NULL, K_ENV, "env VAST_API_KEY", "environment before keyring");
	setenv("VAST_API_KEY", " " K_ENV "\n", 1);
	expect(NULL, K_ENV, "env VAST_API_KEY", "environment value trimmed");
	setenv("VAST_API_KEY", "", 1);
	expect(NULL, K_RING, "keyring", "empty variable counts as unset");
	setenv("VAST_API_KEY", "bad\r\nX-Injected: 1", 1);
	expect_fail(NULL, "character an HTTP header cannot carry", NULL,
	    "a variable with CR LF is refused");
	unsetenv("VAST_API_KEY");
}

static void
test_keyring(void)
{
	char	*args = NULL;

	unlink(args_file);
	use_path(bin_ok);
	expect(NULL, K_RING, "keyring", "keyring before credentials dir");
	if (file_read(args_file, 4096, &args, NULL) == -1)
		args = xstrdup("");
	is_str(args, "lookup service vastai username VAST_API_KEY\n",
	    "secret-tool asked for service vastai, user VAST_API_KEY");
	ok(strstr(args, K_RING) == NULL, "no key in secret-tool's argv");
	free(args);

	use_path(bin_fail);
	expect(NULL, K_CREDS, "credentials directory",
	    "a failing secret-tool is skipped");
	use_path(bin_none);
	buf_reset(&logs);
	expect(NULL, K_CREDS, "credentials directory",
	    "no secret-tool at all is skipped");
	ok(strstr(buf_str(&logs), "warning") == NULL &&
	    strstr(buf_str(&logs), "secret-tool not available") != NULL,
	    "an absent secret-tool is only a debug line");
	use_path(bin_hang);
	buf_reset(&logs);
	expect(NULL, K_CREDS, "credentials directory",
	    "a secret-tool that hangs is given up on");
	like(buf_str(&logs), "did not answer", "the hang is reported");
	use_path(bin_none);
}

/* Give fd's file an ACL that lets only uid read; false if unsupported. */
static bool
set_acl(const char *path, uid_t uid, bool other_group)
{
	unsigned char	 b[4 + 5 * 8];
	uint32_t	 v = 2, id;
	uint16_t	 tag, perm;
	size_t		 off = 4;
	struct {
		uint16_t	 tag, perm;
		uint32_t	 id;
	} ents[] = {
		{ 0x01, 4, 0xffffffff },	/* user:: r */
		{ 0x02, 4, 0 },			/* user:uid: r */
		{ 0x04, 0, 0xffffffff },	/* group:: - */
		{ 0x10, 4, 0xffffffff },	/* mask: r */
		{ 0x20, 0, 0xffffffff },	/* other: - */
	};
	size_t		 i;

	ents[1].id = (uint32_t)uid;
	if (other_group)
		ents[2].perm = 4;	/* group:: r as well */
	memcpy(b, &v, 4);
	for (i = 0; i < nitems(ents); i++, off += 8) {
		tag = ents[i].tag;
		perm = ents[i].perm;
		id = ents[i].id;
		memcpy(b + off, &tag, 2);
		memcpy(b + off + 2, &perm, 2);
		memcpy(b + off + 4, &id, 4);
	}
	return setxattr(path, "system.posix_acl_access", b, off, 0) == 0;
}

static void
test_credentials_dir(void)
{
	char	*f = xasprintf("%s/VAST_API_KEY", creds);
	char	*dp = xasprintf("%s/.env.vastai", work);
	struct stat st;

	put(dp, "VAST_API_KEY=" K_DOT_P "\n", 0600);
	use_path(bin_none);
	put(f, K_CREDS "\n", 0400);
	expect(NULL, K_CREDS, "credentials directory",
	    "credentials directory before dotenv");
	put(f, K_CREDS "\n", 0444);
	expect_fail(NULL, "group or others have access (mode 0444)",
	    "chmod 600", "world-readable credential");

	/* systemd's way: 0400, then an ACL for the service's user */
	put(f, K_CREDS "\n", 0400);
	if (set_acl(f, geteuid(), false) && stat(f, &st) == 0 &&
	    (st.st_mode & 0777) == 0440) {
		expect(NULL, K_CREDS, "credentials directory",
		    "credential with systemd's ACL (mode 0440 = mask)");
		put(f, K_CREDS "\n", 0400);
		set_acl(f, geteuid(), true);
		expect_fail(NULL, "mode 0440", NULL,
		    "credential whose ACL lets the group read");
		put(f, K_CREDS "\n", 0400);
		set_acl(f, geteuid() + 1, false);
		expect_fail(NULL, "mode 0440", NULL,
		    "credential whose ACL lets another user read");
	} else
		skip(5 + 5 + 5, "no POSIX ACLs on %s", creds);
	put(f, K_CREDS "\n", 0440);
	expect_fail(NULL, "mode 0440", NULL,
	    "credential readable by its group (no ACL)");
	if (geteuid() == 0) {
		put(f, K_CREDS "\n", 0400);
		if (chown(f, 65534, 65534) == -1)
			bail_out("chown: %s", strerror(errno));
		expect_fail(NULL, "owned by uid 65534", NULL,
		    "credential owned by someone else");
	} else
		skip(5, "not root: cannot give a file away");

	unlink(f);
	expect(NULL, K_DOT_P, "file .env.vastai",
	    "credentials directory without the file is skipped");
	unsetenv("CREDENTIALS_DIRECTORY");
	expect(NULL, K_DOT_P, "file .env.vastai",
	    "no credentials directory is skipped");
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	put(f, K_CREDS "\n", 0400);
	free(dp);
	free(f);
}

struct dot_case {
	const char	*text;
	const char	*key;		/* NULL: not found in this file */
	const char	*what;
};

static void
test_dotenv(void)
{
	static const struct dot_case cases[] = {
		{ "VAST_API_KEY=abc123\n", "abc123", "plain" },
		{ "export VAST_API_KEY=abc123\n", "abc123", "export" },
		{ "  export\tVAST_API_KEY = abc123  \n", "abc123",
		  "blanks around" },
		{ "VAST_API_KEY=\"abc123\" # note\n", "abc123",
		  "double quotes and a comment" },
		{ "VAST_API_KEY='abc#123'\n", "abc#123",
		  "single quotes keep #" },
		{ "VAST_API_KEY=abc123 # note\n", "abc123",
		  "inline comment" },
		{ "VAST_API_KEY=abc#123\n", "abc#123",
		  "# inside a bare value" },
		{ "VAST_API_KEY=\"a\\\"b\"\n", "a\"b", "escaped quote" },
		{ "# VAST_API_KEY=old\nVAST_API_KEY=new\n", "new",
		  "commented line skipped" },
		{ "VAST_API_KEY=first\nVAST_API_KEY=second\n", "second",
		  "the last definition wins" },
		{ "VAST_API_KEY_OLD=x\nVAST_API_KEYS=y\nVAST_API_KEY=k\n", "k",
		  "a longer name is another variable" },
		{ "VAST_API_KEY=k\r\n", "k", "CRLF line ends" },
		{ "OTHER=1\n\n# c\nVAST_API_KEY=k", "k",
		  "no newline at the end" },
		{ "exportVAST_API_KEY=x\n", NULL, "'exportVAR' is not export" },
		{ "VAST_API_KEY=\"unterminated\n", NULL, "unterminated quote" },
		{ "VAST_API_KEY=\n", NULL, "empty value" },
		{ "RUNPOD_API_KEY=x\n", NULL, "another provider's variable" },
	};
	char	*dp = xasprintf("%s/.env.vastai", work);
	char	*d = xasprintf("%s/.env", work);
	char	 what[128];
	size_t	 i;

	unsetenv("CREDENTIALS_DIRECTORY");
	use_path(bin_none);
	put(d, "VAST_API_KEY=" K_DOT "\n", 0600);
	for (i = 0; i < nitems(cases); i++) {
		put(dp, cases[i].text, 0600);
		snprintf(what, sizeof(what), "dotenv %s", cases[i].what);
		if (cases[i].key != NULL)
			expect(NULL, cases[i].key, "file .env.vastai", what);
		else
			expect(NULL, K_DOT, "file .env", what);
	}
	buf_reset(&logs);
	put(dp, "VAST_API_KEY=\"" K_DOT_P "\n", 0600);
	expect(NULL, K_DOT, "file .env", "unterminated quote around a key");
	like(buf_str(&logs), ".env.vastai:1: VAST_API_KEY: unterminated quote",
	    "unterminated quote is reported without the value");

	put(dp, "VAST_API_KEY=" K_DOT_P "\n", 0600);
	expect(NULL, K_DOT_P, "file .env.vastai", ".env.vastai before .env");
	put(dp, "VAST_API_KEY=" K_DOT_P "\n", 0644);
	expect_fail(NULL, "'.env.vastai': group or others have access",
	    "chmod 600 .env.vastai", "world-readable .env.vastai");
	unlink(dp);
	put(d, "VAST_API_KEY=" K_DOT "\n", 0640);
	expect_fail(NULL, "'.env': group or others have access",
	    "chmod 600 .env", "group-readable .env");
	put(d, "VAST_API_KEY=" K_DOT "\n", 0600);
	expect(NULL, K_DOT, "file .env", ".env alone");
	unlink(d);
	if (mkdir(d, 0700) == -1)
		bail_out("mkdir %s", d);
	expect_fail(NULL, "no API key for vastai", "export VAST_API_KEY=...",
	    "a directory named .env is not a dotenv file");
	rmdir(d);
	free(dp);
	free(d);
}

static void
test_nothing(void)
{
	struct cred	 c;
	struct gr_err	 e;

	use_path(bin_none);
	unsetenv("VAST_API_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
	expect_fail(NULL, "no API key for vastai", "export VAST_API_KEY=...",
	    "no key anywhere");
	gr_err_clear(&e);
	is_int(cred_resolve("fake", NULL, &c, &e), -1,
	    "a provider without a variable needs a key file");
	like(e.hint, "--api-key-file", "and the hint says so");
	cred_release(&c);
	cred_release(NULL);
}

int
main(void)
{
	char	*p;

	plan_lazy();
	log_set_capture(capture, NULL);
	top = xstrdup(test_tmpdir());
	work = xasprintf("%s/work", top);
	creds = xasprintf("%s/creds", top);
	args_file = xasprintf("%s/args", top);
	bin_ok = xasprintf("%s/bin-ok", top);
	bin_fail = xasprintf("%s/bin-fail", top);
	bin_hang = xasprintf("%s/bin-hang", top);
	bin_none = xasprintf("%s/bin-none", top);
	if (mkdir_p(work, 0755) == -1 || mkdir_p(creds, 0700) == -1 ||
	    mkdir_p(bin_none, 0755) == -1)
		bail_out("mkdir under %s", top);
	p = xasprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" > '%s'\n"
	    "printf '  %s\\n'\n", args_file, K_RING);
	free(script(bin_ok, p));
	free(p);
	free(script(bin_fail, "#!/bin/sh\necho 'No such secret' >&2\n"
	    "exit 1\n"));
	free(script(bin_hang, "#!/bin/sh\nexec /bin/sleep 30\n"));
	if (chdir(work) == -1)
		bail_out("chdir %s", work);
	unsetenv("VAST_API_KEY");
	setenv("CREDENTIALS_DIRECTORY", creds, 1);

	test_env_var_names();
	test_key_file();
	test_credentials_dir();
	test_env();
	test_keyring();
	test_dotenv();
	test_nothing();

	log_set_capture(NULL, NULL);
	buf_release(&logs);
	free(top);
	free(work);
	free(creds);
	free(args_file);
	free(bin_ok);
	free(bin_fail);
	free(bin_hang);
	free(bin_none);
	return done_testing();
}
