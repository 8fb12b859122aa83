/* The bundle's supervisor, run by the monitor (DESIGN.md, "Inside the
 * bundle").  It starts bottle-bundle early, so that the bundle loads its
 * stages while the backend builds the bottle; hands it the bottle-side
 * listeners once they exist; holds those listeners for the bottle's whole
 * life; and restarts the bundle when it dies.  Because the listening
 * sockets stay open here, an agent that connects while the bundle restarts
 * waits in the backlog instead of being refused.
 *
 * The bundle gets a control socket as fd 3: the supervisor sends "L" with
 * the listeners; the bundle answers "C" once the bottle's CA exists (all
 * the bottle itself waits for), then "R" once it serves the listeners, or
 * at any point an error message before it exits. */
#ifndef BOTTLE_MONITOR_BUNDLE_SUP_H
#define BOTTLE_MONITOR_BUNDLE_SUP_H

#include "lib/err.h"
#include "lib/plan.h"

struct bundle_sup;

/* Record hook: called with ("process", "bundle:PID:START") after each
 * start, so that `bottle cleanup` can find a bundle whose monitor died. */
typedef void (*bundle_sup_record_fn)(void *ctx, const char *what);

/* Start the bundle for plan p; it initializes in the background.  *out is
 * new.  Fails only when the bundle cannot be started at all.  With
 * ca_ready, the bottle's CA is there and taken as it is (the caller put
 * its certificate in the bottle's CA bundle): the bundle does not check
 * it at start, only when it first loads it. */
int bundle_sup_start(const struct plan *p, bool ca_ready,
		     bundle_sup_record_fn record, void *ctx,
		     struct bundle_sup **out, struct error *err)
    __attribute__((warn_unused_result));

/* Hand the bundle the listeners (one per enum endpoint; taken over, closed
 * on failure too); with wait_ca, wait until the bottle's CA exists (when
 * the bundle has to make it).  The rest of the bundle's start-up goes on
 * while the agent starts: connections wait in the backlog meanwhile.  On
 * failure the bundle's own reason is in err. */
int bundle_sup_serve(struct bundle_sup *s, int fds[ENDPOINT_COUNT],
		     bool wait_ca, struct error *err)
    __attribute__((warn_unused_result));

/* While the bundle is starting: its control socket, readable when it says
 * "R" or fails; else -1.  Then call bundle_sup_on_ctl(), which returns
 * -errno with the bundle's reason when it failed (the bottle has no way
 * out then and should be stopped). */
int bundle_sup_ctl_fd(const struct bundle_sup *s);
int bundle_sup_on_ctl(struct bundle_sup *s, struct error *err);

/* A pidfd that becomes readable when the bundle exits, or -1. */
int bundle_sup_fd(const struct bundle_sup *s);

/* The bundle exited: reap it and start it again on the same listeners
 * (with a back-off when it keeps dying).  -errno with err when it cannot
 * be brought back (it died during start-up, or its restart failed). */
int bundle_sup_on_exit(struct bundle_sup *s, struct error *err);

/* Ask the bundle to stop (SIGTERM) and return at once, so that the
 * caller tears the rest down while it exits.  NULL is fine. */
void bundle_sup_stop(struct bundle_sup *s);

/* Stop the bundle (SIGTERM unless bundle_sup_stop() sent it, then SIGKILL
 * once a grace period since the SIGTERM is over) and reap it, close the
 * listeners and free.  NULL is fine. */
void bundle_sup_free(struct bundle_sup *s);

#endif
