/* Builds the bottle's root from a plan's setup operations (lib/plan.h; the
 * executor is backend/mounts.h) and pivots into it.  Internal to ns. */
#ifndef BOTTLE_NS_MOUNTS_H
#define BOTTLE_NS_MOUNTS_H

#include "lib/err.h"
#include "lib/plan.h"

/* Build the new root from ops and pivot into it.  Runs in the bottle's init
 * process, inside fresh user and mount namespaces where it holds all
 * capabilities.  On return "/" is the bottle's root and the host's tree is
 * no longer reachable.  0 or -errno with err naming the op that failed. */
int ns_mounts_setup(const struct setup_op *ops, const int *src_fds, size_t n,
		    struct error *err);

/* Open every bind source O_PATH (fds[i] for ops[i], -1 where none).  Runs
 * in the init, in its new mount namespace (a bind source must be in the
 * caller's), before it takes the agent's unprivileged ids, so sources
 * resolve with the invoking user's host permissions.  A missing optional
 * source is -1. */
int ns_mounts_open_sources(const struct setup_op *ops, size_t n, int *fds,
			   struct error *err);
void ns_mounts_close_sources(int *fds, size_t n);

#endif
