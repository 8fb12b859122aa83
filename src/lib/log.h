/* Logging for the CLI and daemons (OpenBSD log.c conventions):
 * log_warn() appends ": strerror(errno)", log_warnx() does not.
 * die() exits 1 and is for start-up and the launcher only; BUG() is for
 * broken invariants and aborts. */
#ifndef BOTTLE_LOG_H
#define BOTTLE_LOG_H

#include <stdbool.h>

enum log_level { LOG_QUIET = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Whether stderr gets ANSI colour (honours NO_COLOR and isatty). */
bool log_color(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define BUG(...) bug_at(__FILE__, __LINE__, __VA_ARGS__)
void bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#endif
