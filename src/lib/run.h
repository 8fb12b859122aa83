/* Running a helper program and capturing what it prints (xz -dc,
 * qemu-system-x86_64 --version).  Not for long-lived children. */
#ifndef BOTTLE_RUN_H
#define BOTTLE_RUN_H

#include "err.h"

#include <stddef.h>

/* Run argv (argv[0] looked up in PATH) with stdin from in (read from its
 * current offset; -1: /dev/null), and wait for
 * it (SIGKILLed after RUN_TIMEOUT_S).  Its stdout, at most max bytes, goes
 * into *out (malloc'd, NUL-terminated; *len excludes the NUL, len may be
 * NULL).  Returns 0 if it exited 0; else -errno with err: -ENOENT (or the
 * exec's errno) if it cannot be run, -EIO with its last line of stderr if
 * it failed or was killed, -EFBIG if it printed more than max.  *out is
 * NULL on error. */
int run_capture(const char *const *argv, int in, size_t max, char **out,
		size_t *len, struct error *err)
    __attribute__((warn_unused_result));

#define RUN_TIMEOUT_S 60

#endif
