/*
 * 3001: the local provider's reading of nvidia-smi: the recorded H100
 * output (without and with a header), the catalog mapping, GPUs the
 * catalog does not know, and garbage that must be an error, not a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "../providers/provider.h"
#include "tap.h"
#include "testlib.h"

static char *
fixture(const char *name)
{
	char	*rel, *path, *text;

	rel = xasprintf("t/data/nvidia-smi-h100/%s", name);
	path = test_src_path(rel);
	free(rel);
	if (file_read(path, 1 << 20, &text, NULL) == -1)
		bail_out("read %s", path);
	free(path);
	return text;
}

static void
check_h100(const char *what, const char *csv)
{
	struct local_gpu	*g;
	struct gr_err		 e;
	size_t			 n;
	int			 rc;

	gr_err_clear(&e);
	rc = local_parse_nvsmi(csv, &g, &n, &e);
	is_int(rc, 0, "%s: parses", what);
	if (rc != 0) {
		diag("error: %s", e.msg);
		return;
	}
	is_int((long long)n, 1, "%s: one GPU", what);
	if (n != 1) {
		local_gpus_free(g, n);
		return;
	}
	is_int(g[0].index, 0, "%s: index", what);
	is_str(g[0].uuid, "GPU-e1c90b06-cc23-5cc8-1177-b275b99abc3d",
	    "%s: uuid", what);
	is_str(g[0].name, "NVIDIA H100 80GB HBM3", "%s: raw name kept", what);
	is_int(g[0].mem_mib, 81559, "%s: memory.total in MiB", what);
	ok(g[0].model != NULL, "%s: in the catalog", what);
	if (g[0].model != NULL)
		is_str(g[0].model->name, "H100_SXM", "%s: maps to H100_SXM",
		    what);
	local_gpus_free(g, n);
}

static void
bad(const char *csv, const char *want, const char *what)
{
	struct local_gpu	*g = (struct local_gpu *)1;
	struct gr_err		 e;
	size_t			 n = 99;

	gr_err_clear(&e);
	is_int(local_parse_nvsmi(csv, &g, &n, &e), -1, "%s: rejected", what);
	ok(g == NULL && n == 0, "%s: nothing returned", what);
	is_int(e.code, GR_E_IO, "%s: IO error", what);
	like(e.msg, want, "%s: message says why", what);
}

int
main(void)
{
	struct local_gpu	*g;
	struct gr_err		 e;
	size_t			 n;
	char			*csv;

	plan_lazy();

	csv = fixture("nvidia-smi-query.csv");
	check_h100("recorded --query-gpu output", csv);
	free(csv);
	csv = fixture("nvidia-smi-query-header.csv");
	check_h100("recorded output with header and units", csv);
	free(csv);
	check_h100("exactly the four fields we ask for",
	    "0, GPU-e1c90b06-cc23-5cc8-1177-b275b99abc3d, "
	    "NVIDIA H100 80GB HBM3, 81559\n");
	check_h100("CRLF and blank lines",
	    "\r\n0, GPU-e1c90b06-cc23-5cc8-1177-b275b99abc3d, "
	    "NVIDIA H100 80GB HBM3, 81559\r\n\r\n");

	is_int(local_parse_nvsmi("", &g, &n, &e), 0, "empty output parses");
	is_int((long long)n, 0, "empty output: no GPUs");
	local_gpus_free(g, n);

	is_int(local_parse_nvsmi(
	    "0, GPU-aaaa, NVIDIA GeForce RTX 4090, 24564\n"
	    "1, GPU-bbbb, NVIDIA GeForce RTX 4090, 24564\n"
	    "2, GPU-cccc, NVIDIA Quadro Imaginary 9000, [N/A]\n",
	    &g, &n, &e), 0, "three GPUs parse");
	is_int((long long)n, 3, "three GPUs");
	if (n == 3) {
		is_int(g[1].index, 1, "second index");
		is_str(g[1].model != NULL ? g[1].model->name : "(none)",
		    "RTX_4090", "GeForce RTX 4090 maps to RTX_4090");
		ok(g[2].model == NULL, "an unknown model maps to nothing");
		is_str(g[2].name, "NVIDIA Quadro Imaginary 9000",
		    "an unknown model keeps its raw name");
		is_int(g[2].mem_mib, 0, "[N/A] memory is unknown, not an "
		    "error");
	}
	local_gpus_free(g, n);

	bad("hello world\n", "line 1", "one word");
	bad("0, GPU-x, NVIDIA H100 80GB HBM3\n", "expected index",
	    "three fields");
	bad("x, GPU-x, NVIDIA H100 80GB HBM3, 81559\n", "bad index",
	    "non-numeric index");
	bad("-1, GPU-x, NVIDIA H100 80GB HBM3, 81559\n", "bad index",
	    "negative index");
	bad("0, GPU-x, NVIDIA H100 80GB HBM3, lots\n", "bad memory",
	    "non-numeric memory");
	bad("0, GPU-x, NVIDIA H100 80GB HBM3, 81559\n"
	    "0, GPU-y, NVIDIA H100 80GB HBM3, 81559\n", "line 2",
	    "duplicate index names its line");
	bad("0, , NVIDIA H100 80GB HBM3, 81559\n", "empty uuid",
	    "empty uuid");
	bad("NVIDIA-SMI has failed because it couldn't communicate with the "
	    "NVIDIA driver.\n", "line 1", "the driver-failure sentence");
	bad(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n",
	    "bad index", "only commas");
	return done_testing();
}
