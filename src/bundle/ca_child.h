/* The bottle's CA, checked or made in a short-lived child of the bundle.
 *
 * Key generation, PEM and X.509 code and OpenSSL's one-time set-up are a
 * few megabytes of libcrypto pages and heap that, once touched, would
 * stay resident in the long-lived bundle, which needs none of it until
 * the agent's first intercepted CONNECT (bundle_ca() loads the CA then).
 * A forked child runs ca_ensure() instead and reports; then, if asked, it
 * makes a spare CA for the user's next bottle (ca_make_spare()) at a
 * lower priority, and exits.  The child dies with the bundle
 * (PR_SET_PDEATHSIG); a spare it leaves half-made is removed by the next
 * maker.  Internal to the bundle.
 */
#ifndef BOTTLE_BUNDLE_CA_CHILD_H
#define BOTTLE_BUNDLE_CA_CHILD_H

#include "lib/err.h"

#include <stdbool.h>
#include <sys/types.h>

struct ca_child {
	pid_t pid; /* 0: none */
	int pidfd; /* readable once it exited; -1: none */
};

#define CA_CHILD_INIT                                                          \
	{                                                                      \
		0, -1                                                          \
	}

/* Fork the child: ca_ensure(dir, id), report, then with spare_home !=
 * NULL ca_make_spare(spare_home) at nice +10.  Wait for its report: 0
 * when dir holds a valid CA, or -errno with the child's reason in err (the
 * child is reaped then).  On success the child may still be running:
 * reap it with ca_child_reap(). */
int ca_child_run(const char *dir, const char *id, const char *spare_home,
		 struct ca_child *ch, struct error *err)
    __attribute__((warn_unused_result));

/* Reap the child if it exited (wait false), or wait for it at most
 * grace_ms, then kill it (wait true).  True when no child is left. */
bool ca_child_reap(struct ca_child *ch, bool wait, int grace_ms);

#endif
