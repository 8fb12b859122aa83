/* Executes a plan's setup operations (lib/plan.h), one at a time, on the
 * host's kernel: the ns backend builds the bottle's root with it, the vm
 * backend the read-only tree it serves to its guest.  The caller has made
 * its mount namespace private (nothing may propagate to the host). */
#ifndef BOTTLE_BACKEND_MOUNTS_H
#define BOTTLE_BACKEND_MOUNTS_H

#include "lib/err.h"
#include "lib/plan.h"

#include <stdbool.h>

/* Where the executor finds an op's paths.  A source is the host path with
 * src in front ("" while the host's tree is "/"; ns: "/oldroot" after its
 * pivot), and that tree's /proc must be the caller's procfs (a bind comes
 * from src/proc/self/fd/N).  A target is the op's path under dst, the new
 * root ("/" is dst itself). */
struct mounts_where {
	const char *src;
	const char *dst;
};

/* The ops that bind a host path: their source is opened first. */
bool mounts_op_binds(const struct setup_op *op);

/* Open op's source O_PATH|O_CLOEXEC without following any symlink (the
 * plan holds canonical paths; a symlink there now was swapped in).  *fd is
 * the descriptor, or -1 for an op that binds nothing or whose optional
 * source does not exist.  0 or -errno with err naming the source; the
 * caller closes *fd once the op ran. */
int mounts_open_source(const struct setup_op *op, int *fd, struct error *err)
    __attribute__((warn_unused_result));

/* Execute op: src_fd is its source from mounts_open_source() (a bind with
 * -1 is an absent optional source and does nothing).  Runs with the
 * capabilities to mount.  0 or -errno with err "setup TYPE TARGET: ...". */
int mounts_exec(const struct setup_op *op, int src_fd,
		const struct mounts_where *w, struct error *err)
    __attribute__((warn_unused_result));

#endif
