/* The bundle's supervisor, run by the monitor (DESIGN.md, "Inside the
 * bundle").  It starts bottle-bundle early, so that the bundle loads its
 * stages while the backend builds the bottle; hands it the bottle-side
 * listeners once they exist; holds those listeners for the bottle's whole
 * life; and restarts the bundle when it dies.  Because the listening
 * sockets stay open here, an agent that connects while the bundle restarts
 * waits in the backlog instead of being refused.
 *
 * The bundle gets a control socket as fd 3: the supervisor sends "L" with
 * the listeners, the bundle answers "R" once it serves them, or an error
 * message before it exits. */
#ifndef BOTTLE_MONITOR_BUNDLE_SUP_H
#define BOTTLE_MONITOR_BUNDLE_SUP_H

#include "lib/err.h"
#include "lib/plan.h"

struct bundle_sup;

/* Record hook: called with ("process", "bundle:PID:START") after each
 * start, so that `bottle cleanup` can find a bundle whose monitor died. */
typedef void (*bundle_sup_record_fn)(void *ctx, const char *what);

/* Start the bundle for plan p; it initializes in the background.  *out is
 * new.  Fails only when the bundle cannot be started at all. */
int bundle_sup_start(const struct plan *p, bundle_sup_record_fn record,
		     void *ctx, struct bundle_sup **out, struct error *err)
    __attribute__((warn_unused_result));

/* Hand the bundle the listeners (one per enum endpoint; taken over, closed
 * on failure too) and wait until it serves them.  On failure the bundle's
 * own reason is in err. */
int bundle_sup_serve(struct bundle_sup *s, int fds[ENDPOINT_COUNT],
		     struct error *err) __attribute__((warn_unused_result));

/* A pidfd that becomes readable when the bundle exits, or -1. */
int bundle_sup_fd(const struct bundle_sup *s);

/* The bundle exited: reap it and start it again on the same listeners
 * (with a back-off when it keeps dying).  Logs what happened. */
void bundle_sup_on_exit(struct bundle_sup *s);

/* Stop the bundle (SIGTERM, then SIGKILL after a grace period), close the
 * listeners and free.  NULL is fine. */
void bundle_sup_free(struct bundle_sup *s);

#endif
