/*
 * 3104-instance-ssh: SSH details a provider reports are believed only
 * when they are a host name or address and a user name; anything else
 * (a space, a quote, a control character, a leading '-' that ssh would
 * read as an option) is dropped before it reaches a printed ssh command
 * line, known_hosts or the ledger, and the instance itself is kept.
 * The wrappers (providers/wrap.c) apply it to what spawn, get and list
 * return, whichever provider answered.
 */
#include <string.h>

#include "../providers/provider.h"
#include "tap.h"

static struct buf	 captured = BUF_INIT;

static void
capture(int lvl, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	buf_adds(&captured, msg);
	buf_addc(&captured, '\n');
}

static void
one(const char *host, const char *user, bool host_kept, bool user_kept,
    const char *what)
{
	struct instance	 in;

	memset(&in, 0, sizeof(in));
	in.id = xstrdup("i-1");
	in.ssh_host = host != NULL ? xstrdup(host) : NULL;
	in.ssh_user = user != NULL ? xstrdup(user) : NULL;
	in.ssh_port = 22;
	instance_ssh_sanitize(&in, "test");
	ok((in.ssh_host != NULL) == host_kept && (in.ssh_user != NULL) ==
	    user_kept, "%s", what);
	if (host_kept && in.ssh_host != NULL)
		is_str(in.ssh_host, host, "%s: the host is as given", what);
	if (!host_kept && host != NULL)
		is_int(in.ssh_port, 0, "%s: and its port goes too", what);
	is_str(in.id, "i-1", "%s: the instance is kept", what);
	instance_release(&in);
}

int
main(void)
{
	plan_lazy();
	log_set_capture(capture, NULL);
	one("203.0.113.7", "root", true, true, "an IPv4 address and root");
	one("ssh4.vast.ai", "ubuntu", true, true, "a host name");
	one("[2001:db8::1]", "user_1.x-y", true, true, "an IPv6 literal");
	one("fe80::1%eth0", "root", true, true, "a zoned IPv6 address");
	one("h.example; rm -rf ~", "root", false, true,
	    "a host with a shell command in it is dropped");
	one("-oProxyCommand=sh", "root", false, true,
	    "a host that ssh would read as an option is dropped");
	one("h\x1b]0;pwned\x07", "root", false, true,
	    "a host with a terminal escape is dropped");
	one("", "root", false, true, "an empty host is dropped");
	one("10.0.0.1", "ro ot", true, false,
	    "a user with a space is dropped");
	one("10.0.0.1", "-l", true, false, "a user that is an option is "
	    "dropped");
	one("10.0.0.1", "r'oot", true, false, "a user with a quote is "
	    "dropped");
	one(NULL, NULL, false, false, "no SSH details: nothing to do");
	like(buf_str(&captured), "test: instance i-1: the provider's SSH host "
	    "is not a host name or address; ignored", "a dropped host is "
	    "logged");
	like(buf_str(&captured), "SSH user is not a user name",
	    "a dropped user is logged");
	log_set_capture(NULL, NULL);
	buf_release(&captured);
	return done_testing();
}
