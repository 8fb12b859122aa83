/* Running a helper program and capturing what it prints (xz -dc,
 * qemu-system-x86_64 --version).  Not for long-lived children. */
#ifndef BOTTLE_RUN_H
#define BOTTLE_RUN_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Run argv (argv[0] looked up in PATH) with stdin from in (read from its
 * current offset; -1: /dev/null), and wait for
 * it (SIGKILLed after RUN_TIMEOUT_S).  Its stdout, at most max bytes, goes
 * into *out (malloc'd, NUL-terminated; *len excludes the NUL, len may be
 * NULL).  Returns 0 if it exited 0; else -errno with err: -ENOENT (or the
 * exec's errno) if it cannot be run, -EIO with its last line of stderr if
 * it failed or was killed, -EFBIG if it printed more than max.  *out is
 * NULL on error. */
/* The last non-empty line of what fd (a memfd, a log) holds from its
 * start, into buf. */
void fd_last_line(int fd, char *buf, size_t bufsz);

/* Wait for child pid, SIGKILLing it after timeout_s (*killed then says
 * so): 0 with its wait status, or -errno. */
int wait_killing(pid_t pid, unsigned timeout_s, int *status, bool *killed);

int run_capture(const char *const *argv, int in, size_t max, char **out,
		size_t *len, struct error *err)
    __attribute__((warn_unused_result));

#define RUN_TIMEOUT_S 60

#endif
