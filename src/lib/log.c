#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "bottle";
static enum log_level log_level = LOG_WARN;

void log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_level = level;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

bool log_color(void)
{
	const char *nc = getenv("NO_COLOR");
	return !(nc && *nc) && isatty(STDERR_FILENO);
}

__attribute__((format(printf, 3, 0))) static void
vlog(const char *tag, int errnum, const char *fmt, va_list ap)
{
	char buf[2048];
	int n;

	n = snprintf(buf, sizeof(buf), "%s: %s", log_progname, tag);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (errnum) {
		size_t l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, ": %s", strerror(errnum));
	}
	fprintf(stderr, "%s\n", buf);
}

#define LOGFN(name, level, tag, with_errno)                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		if (log_level < level)                                         \
			return;                                                \
		va_start(ap, fmt);                                             \
		vlog(tag, with_errno ? saved : 0, fmt, ap);                    \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOGFN(log_warn, LOG_WARN, "warning: ", 1)
LOGFN(log_warnx, LOG_WARN, "warning: ", 0)
LOGFN(log_info, LOG_INFO, "", 0)
LOGFN(log_debug, LOG_DEBUG, "debug: ", 0)

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("error: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void bug_at(const char *file, int line, const char *fmt, ...)
{
	char tag[256];
	va_list ap;
	snprintf(tag, sizeof(tag), "BUG: %s:%d: ", file, line);
	va_start(ap, fmt);
	vlog(tag, 0, fmt, ap);
	va_end(ap);
	abort();
}
