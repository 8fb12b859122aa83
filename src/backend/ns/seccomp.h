/* The ns backend's seccomp filter (STYLE rule 23).
 *
 * The launcher compiles the filter with libseccomp in the parent, before
 * forking, and the child only loads the finished BPF program as its last
 * step before exec, after PR_SET_NO_NEW_PRIVS.  The filter is a deny list
 * on top of default-allow: the namespace, mount, user-namespace and
 * privilege-escalation surface of the kernel returns EPERM; everything an
 * agent and its tools normally do keeps working.  See seccomp.c for the
 * reasoning behind each rule.
 */
#ifndef BOTTLE_NS_SECCOMP_H
#define BOTTLE_NS_SECCOMP_H

#include "lib/err.h"

#include <linux/filter.h>

/* A compiled filter, layout-compatible with struct sock_fprog's contents.
 * A value type: put it on the stack with SECCOMP_PROG_INIT. */
struct seccomp_prog {
	struct sock_filter *filter; /* owned; len instructions */
	unsigned short len;
};

#define SECCOMP_PROG_INIT                                                      \
	{                                                                      \
		NULL, 0                                                        \
	}

/* Compile the filter into *out (which must be SECCOMP_PROG_INIT or
 * released).  Allocates; call only in the parent.  Returns 0, or -errno with
 * err filled; on error *out is left empty. */
int seccomp_prog_build(struct seccomp_prog *out, struct error *err)
    __attribute__((warn_unused_result, nonnull));

/* Install the filter on the calling thread.  Async-signal-safe: one
 * seccomp(2) call, meant for the child between fork and exec.  The caller
 * must already have set PR_SET_NO_NEW_PRIVS (or hold CAP_SYS_ADMIN).
 * Returns 0 or -errno. */
int seccomp_prog_load(const struct seccomp_prog *p)
    __attribute__((warn_unused_result, nonnull));

/* Free the program; safe on SECCOMP_PROG_INIT and twice in a row. */
void seccomp_prog_release(struct seccomp_prog *p);

/* What the filter denies, for the plan and the docs: one entry per syscall,
 * the array terminated by {NULL, NULL}.  `when` is NULL if the syscall is
 * always denied, else a short description of the arguments that are.
 * Static data; never freed. */
struct seccomp_denial {
	const char *name;
	const char *when;
};
const struct seccomp_denial *seccomp_denials(void);

/* The same syscall names as a NULL-terminated array.  Static data. */
const char *const *seccomp_denied_names(void);

#endif
