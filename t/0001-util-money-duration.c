/*
 * 0001: money and durations: the one syntax of each, exact arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "tap.h"

static void
money_case(const char *in, bool want_ok, money_t want)
{
	money_t		 m = -1;
	const char	*why;
	bool		 r = money_parse(in, &m, &why);

	ok(r == want_ok, "money_parse('%s') %s", in,
	    want_ok ? "accepts" : "rejects");
	if (want_ok && r)
		is_int(m, want, "money_parse('%s') value", in);
	if (!want_ok && !r)
		ok(why != NULL && *why != '\0', "money_parse('%s') says why",
		    in);
}

static void
dur_case(const char *in, bool want_ok, int64_t want)
{
	int64_t		 s = -1;
	const char	*why;
	bool		 r = duration_parse(in, &s, &why);

	ok(r == want_ok, "duration_parse('%s') %s", in,
	    want_ok ? "accepts" : "rejects");
	if (want_ok && r)
		is_int(s, want, "duration_parse('%s') value", in);
}

int
main(void)
{
	char	 b[64];

	plan_lazy();
	money_case("0.70", true, 700000);
	money_case("4", true, 4000000);
	money_case("4.00", true, 4000000);
	money_case("1.234567", true, 1234567);
	money_case("0.0000001", false, 0);
	money_case("-1", false, 0);
	money_case("$4", false, 0);
	money_case("1e3", false, 0);
	money_case("", false, 0);
	money_case("4.", false, 0);
	money_case("99999999", false, 0);
	is_str(money_fmt(700000, b, sizeof(b)), "0.70", "money_fmt 0.70");
	is_str(money_fmt(4000000, b, sizeof(b)), "4.00", "money_fmt 4.00");
	is_str(money_fmt(1234567, b, sizeof(b)), "1.234567",
	    "money_fmt keeps micro-dollars");
	is_str(money_fmt(0, b, sizeof(b)), "0.00", "money_fmt zero");
	is_int(money_cost(700000, 3600000), 700000, "one hour costs the rate");
	is_int(money_cost(700000, 1800000), 350000, "half an hour");
	is_int(money_cost(1000000, 1), 0, "1 ms at $1/h rounds to 0");
	is_int(money_cost(1000000, 2), 1, "2 ms at $1/h rounds to 1 micro");

	dur_case("90s", true, 90);
	dur_case("15m", true, 900);
	dur_case("12h", true, 43200);
	dur_case("7d", true, 604800);
	dur_case("1h30m", true, 5400);
	dur_case("30m1h", false, 0);
	dur_case("1h1h", false, 0);
	dur_case("12", false, 0);
	dur_case("h", false, 0);
	dur_case("1w", false, 0);
	dur_case("400d", false, 0);
	dur_case("", false, 0);
	is_str(duration_fmt(5400, b, sizeof(b)), "1h30m", "duration_fmt");

	ok(catalog_find("RTX_4090") != NULL, "catalog knows RTX_4090");
	ok(catalog_find("rtx_4090") == NULL, "catalog names are exact");
	is_str(catalog_from_nvsmi("NVIDIA H100 80GB HBM3")->name, "H100_SXM",
	    "nvidia-smi H100 80GB HBM3 is H100_SXM");
	is_str(catalog_from_nvsmi("NVIDIA A10")->name, "A10",
	    "nvidia-smi A10 is not A100");
	is_str(catalog_from_provider("runpod", "NVIDIA GeForce RTX 4090")->name,
	    "RTX_4090", "runpod name maps back");
	{
		const char *c[] = { "count", "providers", "gpu" };

		is_str(str_suggest("cuont", c, 3), "count", "did you mean");
		ok(str_suggest("zzzzzz", c, 3) == NULL, "no wild guesses");
	}
	is_int(gr_code_exit(GR_E_SPEC), 65, "bad spec exits 65");
	ok(gr_code_retryable(GR_E_RATE_LIMIT), "rate limit is retryable");
	ok(!gr_code_retryable(GR_E_AUTH), "auth is not retryable");
	is_str(gr_category_name(gr_code_category(GR_E_SPOT_INTERRUPTED)),
	    "capacity", "spot interruption is a capacity error");
	{
		char	 h[65];

		sha256_hex("abc", 3, h);
		is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		    "sha256 of abc");
	}
	{
		int64_t	 uid = 0;

		ok(owner_label_parse("gr-00ab-7", "00ab", &uid) && uid == 7,
		    "owner label parses");
		ok(!owner_label_parse("gr-00ab-007", "00ab", &uid),
		    "owner label with a leading zero is not ours");
		ok(!owner_label_parse("gr-00ab-0", "00ab", &uid),
		    "owner label uid 0 is not ours");
		ok(!owner_label_parse("gr-00ac-7", "00ab", &uid),
		    "another ledger's label is not ours");
		ok(!owner_label_parse("gr-00ab-7x", "00ab", &uid),
		    "trailing junk is not ours");
		ok(owner_label_is_gr("gr-00ac-7") && !owner_label_is_gr("x-1"),
		    "owner_label_is_gr tells gr labels apart");
	}
	return done_testing();
}
