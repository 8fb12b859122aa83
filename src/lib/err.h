/* Errors as values (STYLE rule 8).
 *
 * A fallible function returns 0 on success or a negative errno, and fills a
 * caller-owned struct error with a human-readable message.  Callers add
 * context on the way up with err_prefix().  Nothing here allocates, so the
 * error path works when memory is exhausted.
 */
#ifndef BOTTLE_ERR_H
#define BOTTLE_ERR_H

#include <errno.h>

#define ERR_MSG_MAX 1024

struct error {
	int code;	       /* positive errno-like value; 0 = no error */
	char msg[ERR_MSG_MAX]; /* "context: context: cause" */
};

#define ERROR_INIT                                                             \
	{                                                                      \
		0,                                                             \
		{                                                              \
			0                                                      \
		}                                                              \
	}

/* Set the error and return -code (code must be > 0).  The message is
 * formatted with printf semantics.  Returns the value to return upward. */
int err_set(struct error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set(), but appends ": strerror(code)". */
int err_sys(struct error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to an already-set error; returns -e->code. */
int err_prefix(struct error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void err_clear(struct error *e);

#endif
