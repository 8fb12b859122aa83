/* The last steps before exec for every process that runs inside an ns
 * bottle as the agent (the agent itself and `bottle exec` commands).
 * Internal to the ns backend. */
#ifndef BOTTLE_NS_JAIL_H
#define BOTTLE_NS_JAIL_H

#include "backend/ns/seccomp.h"
#include "lib/plan.h"

#include <stdbool.h>

struct jail {
	const struct plan *plan;	    /* rlimits; may be NULL */
	const struct seccomp_prog *seccomp; /* compiled in the parent */
	int landlock_fd;		    /* ruleset, or -1 if unsupported */
	bool setgroups_allowed;		    /* false in unprivileged userns */
	const char *cwd;		    /* inside path */
	/* Re-arm SIGKILL-on-parent-death after the uid change, which clears
	 * it (prctl(2)). */
	bool pdeathsig;
};

/* Build the Landlock ruleset mirroring the plan's mounts; must run inside
 * the bottle's mount namespace.  0 with *fd the ruleset, or *fd = -1 when
 * the kernel has no Landlock; -errno with err when a kernel that has it
 * refuses the ruleset (callers fail closed). */
int jail_landlock_ruleset(const struct plan *p, int *fd, struct error *err);

/* Drop everything, in order, and return; the caller execs next.
 * Async-signal-safe.  On failure returns -errno and sets *step to the name
 * of the step that failed. */
int jail_enter(const struct jail *j, const char **step);

/* Empty the bounding, ambient, effective, permitted and inheritable
 * capability sets.  Async-signal-safe; 0 or -errno. */
int jail_drop_caps(void);

/* Exec argv with env, searching PATH from env.  Only returns on failure
 * (-errno). */
int jail_exec(char *const argv[], char *const env[]);

#endif
