/*
 * 8003-libssh2-check: what `check` makes of the linked libssh2's version.
 * Every upstream release through 1.11.1 lets a hostile server overflow
 * the client's heap before authentication (CVE-2026-55200), 1.11.1's
 * strict key exchange notwithstanding; Debian's bookworm security update
 * is judged by its package version and by what its changelog lists.
 */
#include "../reconciler/reconciler.h"
#include "tap.h"

int
main(void)
{
	plan_lazy();
	is_int(libssh2_judge("1.11.1", false, false, false), LIBSSH2_UNPATCHED_1111,
	    "upstream 1.11.1: a warning (CVE-2026-55200), not ok");
	is_int(libssh2_judge("1.11.1", true, true, false), LIBSSH2_UNPATCHED_1111,
	    "a distribution's 1.11.1: still a warning, its revision unknown");
	is_int(libssh2_judge("1.11.0", false, false, false), LIBSSH2_UNKNOWN,
	    "upstream 1.11.0: a warning");
	is_int(libssh2_judge("1.11.2", false, false, false), LIBSSH2_OK,
	    "1.11.2: ok");
	is_int(libssh2_judge("1.12.0", false, false, false), LIBSSH2_OK,
	    "1.12.0: ok");
	is_int(libssh2_judge("2.0.0", false, false, false), LIBSSH2_OK,
	    "2.0.0: ok");
	is_int(libssh2_judge("1.10.0", true, true, true), LIBSSH2_OK_DEBIAN,
	    "Debian's 1.10.0 whose changelog lists the 1.11.2 fixes: ok");
	is_int(libssh2_judge("1.10.0", true, true, false),
	    LIBSSH2_DEBIAN_UNLISTED, "Debian's 1.10.0 at deb12u1, whose "
	    "changelog does not list CVE-2026-55200: a warning");
	is_int(libssh2_judge("1.10.0", true, false, true), LIBSSH2_OLD_DEBIAN,
	    "Debian's 1.10.0 before its security update: a warning, "
	    "whatever its changelog");
	is_int(libssh2_judge("1.10.0", true, false, false), LIBSSH2_OLD_DEBIAN,
	    "Debian's 1.10.0 before it: a warning");
	is_int(libssh2_judge("1.10.0", false, false, false), LIBSSH2_UNKNOWN,
	    "1.10.0 from elsewhere: a warning");
	is_int(libssh2_judge("garbage", false, false, false), LIBSSH2_UNKNOWN,
	    "a version that does not parse: a warning, never ok");
	is_int(libssh2_judge("1.11.10", false, false, false), LIBSSH2_OK,
	    "versions compare as numbers (1.11.10 > 1.11.2)");
	return done_testing();
}
