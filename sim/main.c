/*
 * main.c: gpureconcile-sim's command line.  It loads the scenario, starts
 * listening on a loopback address (and only there: this is a pretend
 * cloud with no real accounts behind it, not a service), writes the port
 * it got when asked, and runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

/* Start-up failures: one line and an exit code, not util's abort(). */
static void GR_NORETURN GR_PRINTF(2, 3)
die(int code, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "gpureconcile-sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(code);
}

static void GR_NORETURN
usage(int code)
{
	fprintf(code == 0 ? stdout : stderr,
	    "usage: gpureconcile-sim --listen 127.0.0.1:PORT [--scenario FILE]"
	    " [--seed N]\n"
	    "                        [--time-scale X] [--port-file FILE]"
	    " [-v] [-q]\n"
	    "\n"
	    "Serves Vast.ai at /vast, RunPod at /runpod (REST v2 and\n"
	    "/runpod/graphql), Lambda at /lambda and the control API at\n"
	    "/_sim/.  PORT 0 picks a free port; --port-file writes it.\n"
	    "--time-scale 100 makes a 30 s boot take 0.3 s; 0 freezes\n"
	    "the clock (move it with POST /_sim/advance).  See\n"
	    "sim/README.md.\n");
	exit(code);
}

/* host:port, [v6]:port; loopback addresses only. */
static int
parse_listen(const char *arg, char *host, size_t hlen, int *port)
{
	const char	*colon;
	char		*end;
	long		 p;
	size_t		 n;
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (arg[0] == '[') {
		colon = strstr(arg, "]:");
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - arg - 1);
		if (n >= hlen)
			return -1;
		memcpy(host, arg + 1, n);
		host[n] = '\0';
		colon++;
	} else {
		colon = strrchr(arg, ':');
		if (colon == NULL)
			return -1;
		n = (size_t)(colon - arg);
		if (n >= hlen)
			return -1;
		memcpy(host, arg, n);
		host[n] = '\0';
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 0 ||
	    p > 65535)
		return -1;
	*port = (int)p;
	if (strcmp(host, "localhost") == 0)
		(void)snprintf(host, hlen, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : -2;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ? 0 : -2;
	return -2;
}

static bool
parse_time(json_t *v, int64_t *out)
{
	struct tm	 tm;
	const char	*s, *end;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return false;
	*out = (int64_t)timegm(&tm) * 1000;
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "scenario", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "time-scale", required_argument, NULL, 't' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*listen = NULL, *scen = NULL, *portfile = NULL;
	char		 host[64], err[512], *end, pbuf[16];
	int		 ch, port = 0, bound, sig, verbosity = LOG_LVL_INFO;
	bool		 have_seed = false, have_scale = false;
	unsigned long long seed = 1;
	double		 scale = 1.0;
	int64_t		 start = -1;
	json_t		*root = NULL, *v;
	json_error_t	 je;
	struct sim	 s;
	void		*d;
	sigset_t	 set;

	while ((ch = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen = optarg;
			break;
		case 's':
			scen = optarg;
			break;
		case 'S':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0)
				die(GR_EXIT_USAGE, "--seed: expected a whole "
				    "number");
			have_seed = true;
			break;
		case 't':
			scale = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(scale >= 0) ||
			    scale > 1e6)
				die(GR_EXIT_USAGE, "--time-scale: expected a "
				    "number from 0 to 1000000");
			have_scale = true;
			break;
		case 'p':
			portfile = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity = LOG_LVL_WARN;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("gpureconcile-sim %s\n", GR_VERSION);
			return 0;
		default:
			usage(GR_EXIT_USAGE);
		}
	}
	if (optind != argc || listen == NULL)
		usage(GR_EXIT_USAGE);
	log_init(verbosity, false, "gpureconcile-sim");
	switch (parse_listen(listen, host, sizeof(host), &port)) {
	case 0:
		break;
	case -2:
		die(GR_EXIT_USAGE, "--listen %s: refusing a non-loopback "
		    "address (use 127.0.0.1 or [::1])", listen);
	default:
		fprintf(stderr, "gpureconcile-sim: --listen %s: expected "
		    "HOST:PORT\n", listen);
		return GR_EXIT_USAGE;
	}

	if (scen != NULL) {
		root = json_load_file(scen, JSON_REJECT_DUPLICATES, &je);
		if (root == NULL)
			die(GR_EXIT_DATAERR, "%s:%d:%d: %s", scen, je.line,
			    je.column, je.text);
		if (!have_seed && (v = json_object_get(root, "seed")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				die(GR_EXIT_DATAERR, "%s: \"seed\" must be a "
				    "whole number", scen);
			seed = (unsigned long long)json_integer_value(v);
		}
		if (!have_scale &&
		    (v = json_object_get(root, "time_scale")) != NULL) {
			if (!json_is_number(v) || json_number_value(v) < 0)
				die(GR_EXIT_DATAERR, "%s: \"time_scale\" "
				    "must be >= 0", scen);
			scale = json_number_value(v);
		}
		if ((v = json_object_get(root, "start_time")) != NULL &&
		    !parse_time(v, &start))
			die(GR_EXIT_DATAERR, "%s: \"start_time\" is epoch ms "
			    "or YYYY-MM-DDTHH:MM:SSZ", scen);
	}
	if (start < 0)
		start = clock_now_ms();

	sim_init(&s, seed, scale, start);
	scenario_defaults(&s);
	if (root != NULL && scenario_apply(&s, root, err, sizeof(err)) == -1)
		die(GR_EXIT_DATAERR, "%s: %s", scen, err);
	json_decref(root);

	/* Threads inherit this mask, so only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = http_start(&s, host, port, &bound, err, sizeof(err));
	if (d == NULL)
		die(GR_EXIT_UNAVAILABLE, "%s", err);
	if (portfile != NULL) {
		(void)snprintf(pbuf, sizeof(pbuf), "%d\n", bound);
		if (file_write_atomic(portfile, pbuf, strlen(pbuf), 0644) == -1)
			die(GR_EXIT_IOERR, "write %s: %s", portfile,
			    strerror(errno));
	}
	log_info("gpureconcile-sim %s listening on %s:%d (seed %llu, "
	    "time scale %g)", GR_VERSION, host, bound, seed, scale);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			continue;
		break;
	}
	log_info("signal %d: shutting down", sig);
	http_stop(d);
	sim_release(&s);
	return 0;
}
