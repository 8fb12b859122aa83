/* Resource limits for ns bottles: cgroup v2 where delegated, cgroup v1 when
 * root on a v1 host, rlimits as the last resort.  Internal to the ns
 * backend. */
#ifndef BOTTLE_NS_LIMITS_H
#define BOTTLE_NS_LIMITS_H

#include "backend/backend.h"

/* Decide how memory, pids and cpu limits would be enforced here. */
void ns_limits_detect(struct host_facts *h);

/* Human report for `bottle doctor`. */
void ns_limits_report(struct strbuf *out);

/* Create the bottle's cgroup(s) and write the limits.  Each directory is
 * recorded through hooks before mkdir.  No-op when no limit uses cgroups. */
int ns_cgroup_create(const struct plan *p, const struct launch_hooks *hooks,
		     struct error *err);

/* Move pid into the bottle's cgroups. */
int ns_cgroup_attach(const struct plan *p, pid_t pid, struct error *err);

/* Open the cgroup.procs files of bottle id for writing, for `exec` (which
 * must open them before leaving the host's mount namespace).  Fills up to
 * max fds, returns the count or -errno. */
int ns_cgroup_open_procs(const char *id, int *fds, int max);

/* Kill what is left in the cgroup directory dir and remove it; refuses a
 * path that is not on a cgroup filesystem. */
int ns_cgroup_remove(const char *dir, struct error *err);

/* Kill what is left in the bottle's cgroups and remove them. */
int ns_cgroup_destroy(const char *id, struct error *err);

/* Find cgroups of bottles that have no live owner (see limits.c). */
int ns_cgroup_orphans(const char *state_home,
		      bool (*live)(const char *id, void *ctx), void *live_ctx,
		      orphan_fn fn, void *ctx);

#endif
