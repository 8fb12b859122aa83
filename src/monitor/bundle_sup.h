/* The bundle's supervisor, run by the monitor (DESIGN.md, "Inside the
 * bundle"): it starts bottle-bundle on the bottle-side listeners, holds
 * those listeners for the bottle's whole life, and restarts the bundle when
 * it dies.  Because the listening sockets stay open here, an agent that
 * connects while the bundle restarts waits in the backlog instead of being
 * refused. */
#ifndef BOTTLE_MONITOR_BUNDLE_SUP_H
#define BOTTLE_MONITOR_BUNDLE_SUP_H

#include "lib/err.h"
#include "lib/plan.h"

struct bundle_sup;

/* Record hook: called with ("process", "bundle:PID:START") after each
 * start, so that `bottle cleanup` can find a bundle whose monitor died. */
typedef void (*bundle_sup_record_fn)(void *ctx, const char *what);

/* Start the bundle for plan p serving fds (one per enum endpoint; taken
 * over, closed on failure too) and wait until it says it is ready.  On
 * failure the bundle's own reason is in err.  *out is new. */
int bundle_sup_start(const struct plan *p, int fds[ENDPOINT_COUNT],
		     bundle_sup_record_fn record, void *ctx,
		     struct bundle_sup **out, struct error *err)
    __attribute__((warn_unused_result));

/* A pidfd that becomes readable when the bundle exits, or -1. */
int bundle_sup_fd(const struct bundle_sup *s);

/* The bundle exited: reap it and start it again (with a back-off when it
 * keeps dying).  Logs what happened. */
void bundle_sup_on_exit(struct bundle_sup *s);

/* Stop the bundle (SIGTERM, then SIGKILL after a grace period), close the
 * listeners and free.  NULL is fine. */
void bundle_sup_free(struct bundle_sup *s);

#endif
