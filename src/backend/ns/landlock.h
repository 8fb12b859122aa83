/* The ns backend's Landlock ruleset: which parts of the filesystem the
 * agent may read, write, or use as devices, enforced by the kernel on top
 * of the mount layout.
 *
 * Like the seccomp filter, the ruleset is built in the parent (it opens
 * every path) and only applied by the child just before exec, after
 * PR_SET_NO_NEW_PRIVS.  Only filesystem rights are handled: network rights
 * and scopes are left alone so that the agent can reach the local
 * listeners of its bundle.
 */
#ifndef BOTTLE_NS_LANDLOCK_H
#define BOTTLE_NS_LANDLOCK_H

#include "lib/err.h"

#include <stddef.h>

enum landlock_access {
	LL_READ,  /* read files, list directories, execute */
	LL_WRITE, /* LL_READ + write, create, remove, rename, truncate */
	LL_DEV,	  /* LL_READ + write files + device ioctls (for /dev) */
};

struct landlock_path {
	const char *path;
	enum landlock_access access;
};

/* The Landlock ABI version of the running kernel, 0 if Landlock is not
 * built in or not enabled (lsm= boot parameter). */
int landlock_abi(void);

/* "read", "write" or "dev", for the plan. */
const char *landlock_access_name(enum landlock_access access);

/* Create a ruleset that handles every filesystem right the running ABI
 * knows, and add one path-beneath rule per entry of paths[n], with the
 * rights of its access class (masked to file rights when the path is not a
 * directory).  Paths that do not exist are skipped.  On success returns 0
 * and stores a new O_CLOEXEC ruleset fd, owned by the caller, in
 * *ruleset_fd.  Returns -EOPNOTSUPP if Landlock is unavailable, or another
 * -errno; err is filled and *ruleset_fd is -1 on any error. */
int landlock_build(const struct landlock_path *paths, size_t n, int *ruleset_fd,
		   struct error *err)
    __attribute__((warn_unused_result, nonnull(3, 4)));

/* Restrict the calling thread (and its future children) to the ruleset.
 * Async-signal-safe: one syscall, meant for the child between fork and
 * exec; the caller must already have set PR_SET_NO_NEW_PRIVS.  Does not
 * close ruleset_fd.  Returns 0 or -errno. */
int landlock_apply(int ruleset_fd) __attribute__((warn_unused_result));

#endif
