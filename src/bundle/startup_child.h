/* The bundle's start-up checks, in a short-lived child of the bundle.
 *
 * Checking or making the bottle's CA needs OpenSSL's key generation, PEM
 * and X.509 code, and checking the manifest's DLP patterns needs
 * Hyperscan's compiler: the stage module (stage.h), whose libraries and
 * heap, once touched, would stay resident in the long-lived bundle, which
 * needs none of it until the agent's first request.  A forked child loads
 * the module and does both instead, reporting each; then, if asked, it
 * makes a spare CA for the user's next bottle (ca_make_spare()) at a
 * lower priority, and exits.  The child dies with the bundle
 * (PR_SET_PDEATHSIG); a spare it leaves half-made is removed by the next
 * maker.  Internal to the bundle.
 */
#ifndef BOTTLE_BUNDLE_STARTUP_CHILD_H
#define BOTTLE_BUNDLE_STARTUP_CHILD_H

#include "bundle/dlp.h"

#include "lib/err.h"

#include <stdbool.h>
#include <sys/types.h>

/* What the child does, in this order. */
struct startup_job {
	const char *ca_dir; /* ca_ensure(ca_dir, id) */
	const char *id;
	const struct dlp_config *dlp; /* dlp_config_check(dlp) */
	const char *spare_home;	      /* ca_make_spare(spare_home), or NULL */
};

struct startup_child {
	pid_t pid; /* 0: none */
	int pidfd; /* readable once it exited; -1: none */
	int sock;  /* its reports, until the last is read; -1: none */
};

#define STARTUP_CHILD_INIT                                                     \
	{                                                                      \
		0, -1, -1                                                      \
	}

/* Fork the child for job (which it copies: fork) and wait for its CA
 * report: 0 when job->ca_dir holds a valid CA, or -errno with the
 * child's reason in err (the child is reaped then).  On success the child
 * goes on: read its DLP verdict with startup_child_dlp(), reap it with
 * startup_child_reap(). */
int startup_child_run(const struct startup_job *job, struct startup_child *ch,
		      struct error *err) __attribute__((warn_unused_result));

/* Wait for the DLP verdict: 0, or -errno with the reason in err (as
 * dlp_config_check() words it). */
int startup_child_dlp(struct startup_child *ch, struct error *err)
    __attribute__((warn_unused_result));

/* Reap the child if it exited (wait false), or wait for it at most
 * grace_ms, then kill it (wait true).  True when no child is left. */
bool startup_child_reap(struct startup_child *ch, bool wait, int grace_ms);

#endif
