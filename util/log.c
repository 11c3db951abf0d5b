/*
 * log.c: diagnostics on stderr (or syslog for the daemon).  Lines start
 * with the instance or fleet address the caller puts first.  Never pass a
 * secret here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util.h"

static int	 log_verbose = LOG_LVL_INFO;
static bool	 log_syslog;
static void	(*log_capture)(int, const char *, void *);
static void	*log_capture_arg;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

void
log_init(int verbosity, bool use_syslog, const char *ident)
{
	log_verbose = verbosity;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_verbosity(void)
{
	return log_verbose;
}

void
log_set_capture(void (*fn)(int, const char *, void *), void *arg)
{
	pthread_mutex_lock(&log_mtx);
	log_capture = fn;
	log_capture_arg = arg;
	pthread_mutex_unlock(&log_mtx);
}

static void
log_emit(int lvl, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
	    LOG_DEBUG };
	static const char *const tag[] = { "error: ", "warning: ", "",
	    "debug: " };

	pthread_mutex_lock(&log_mtx);
	if (log_capture != NULL)
		log_capture(lvl, msg, log_capture_arg);
	if (lvl <= log_verbose) {
		if (log_syslog)
			syslog(prio[lvl], "%s", msg);
		else {
			fprintf(stderr, "%s%s\n", tag[lvl], msg);
			fflush(stderr);
		}
	}
	pthread_mutex_unlock(&log_mtx);
}

static void
log_vlog(int lvl, const char *fmt, va_list ap, const char *suffix)
{
	struct buf	 b = BUF_INIT;

	if (lvl > log_verbose && log_capture == NULL)
		return;
	buf_vaddf(&b, fmt, ap);
	if (suffix != NULL)
		buf_addf(&b, ": %s", suffix);
	log_emit(lvl, buf_str(&b));
	buf_release(&b);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	 ebuf[128];
	int	 saved = errno;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_WARN, fmt, ap,
	    strerror_r(saved, ebuf, sizeof(ebuf)));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_WARN, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_DEBUG, fmt, ap, NULL);
	va_end(ap);
}
