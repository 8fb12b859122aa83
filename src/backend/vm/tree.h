/* A vm bottle's filesystem (docs/vm-backend.md): the plan's setup ops split
 * between the host, which builds the read-only root tree that one virtiofsd
 * serves (tag "root"), the read-write binds, each a virtiofsd of its own,
 * and the guest kernel, which mounts its own proc, devpts, scratch tmpfs and
 * /dev.  The host builds the read-only parts so that the host kernel
 * enforces them: the guest kernel is the agent's. */
#ifndef BOTTLE_VM_TREE_H
#define BOTTLE_VM_TREE_H

#include "lib/err.h"
#include "lib/plan.h"

#include <stdbool.h>
#include <stddef.h>

/* A read-write bind of the plan: a virtiofsd of its own serves source. */
struct vm_share_spec {
	char *tag;     /* "rw0", "rw1", ... in plan order */
	char *source;  /* host path, canonical (virtiofs shares a directory) */
	char *target;  /* where the guest mounts it */
	bool optional; /* a missing source is no error: no share then, and
			* the mount point stays an empty directory */
};

/* Which kernel executes which op.  The guest first mounts the root share
 * on its new root, then the rw shares in order, then executes the guest
 * ops in order: vm_layout_build() refuses a plan where that order would
 * show something else than the plan's own order does (under ns). */
struct vm_layout {
	/* Built on the host into the read-only tree: the plan's own ops,
	 * plus a directory at each rw share's target and a mount point (a
	 * directory; for a dev-bind an empty file) for each guest mount that
	 * no earlier guest tmpfs or share holds. */
	const struct setup_op **host;
	size_t n_host;
	/* Executed by the guest kernel, in plan order: proc, devpts,
	 * mqueue, dev-bind (its source is the guest's own device node),
	 * every tmpfs but "/" that stays writable, and every op on /dev or
	 * under it (symlinks and the remount-ro of /dev included). */
	const struct setup_op **guest;
	size_t n_guest;
	struct vm_share_spec *rw;
	size_t n_rw;
	struct setup_op *made; /* private: the mount points added */
	size_t n_made;
};

#define VM_LAYOUT_INIT                                                         \
	{                                                                      \
		NULL, 0, NULL, 0, NULL, 0, NULL, 0                             \
	}

/* Split p's ops (pure: reads nothing but p).  host and guest point into
 * p's ops (p must outlive *out) and into *out itself.  0, or -EINVAL with
 * err naming the op when the plan's first op is not the tmpfs on "/" or
 * the split would change what the bottle sees (a host op under or over a
 * guest mount or share made before it, a share over or under an earlier
 * guest mount).  *out is set either way; vm_layout_release() it. */
int vm_layout_build(const struct plan *p, struct vm_layout *out,
		    struct error *err) __attribute__((warn_unused_result));

/* Free what vm_layout_build() allocated; safe on VM_LAYOUT_INIT. */
void vm_layout_release(struct vm_layout *l);

/* Execute l's host ops under root, an existing empty directory, in the
 * caller's mount namespace, which the caller made private first (or the
 * mounts propagate to the host).  Runs with the capabilities to mount;
 * each bind source is opened without following symlinks (the plan's paths
 * are canonical) and bound from its descriptor.  Afterwards everything
 * under root is read-only, nosuid and nodev, whatever the plan's remounts
 * say.  0, or -errno with err "setup TYPE TARGET: ..."; nothing stays
 * mounted on root then. */
int vm_tree_build(const struct vm_layout *l, const char *root,
		  struct error *err) __attribute__((warn_unused_result));

#endif
