/* The bundle's start-up checks, in a short-lived child of the bundle.
 *
 * Checking or making the bottle's CA needs OpenSSL's key generation, PEM
 * and X.509 code, and checking the manifest's DLP patterns needs
 * Hyperscan's compiler: the stage module (stage.h), whose libraries and
 * heap, once touched, would stay resident in the long-lived bundle, which
 * needs none of it until the agent's first request.  A forked child loads
 * the module and does both instead, reporting each, while the bundle goes
 * on; then, if asked, it makes a spare CA for the user's next bottle
 * (ca_make_spare()) at a lower priority, and exits.  It loads the module
 * only for work that needs it: for a bottle whose CA was there before the
 * bundle started (taken as it is), that has no DLP patterns of its own
 * and finds the next spare made, it reports at once.  Until its last
 * report the child dies with the bundle (PR_SET_PDEATHSIG); the spare it
 * finishes on its own.  A spare left half-made (the machine stopped) is
 * removed by the next maker.  Internal to the bundle.
 */
#ifndef BOTTLE_BUNDLE_STARTUP_CHILD_H
#define BOTTLE_BUNDLE_STARTUP_CHILD_H

#include "bundle/dlp.h"

#include "lib/err.h"

#include <stdbool.h>
#include <sys/types.h>

/* What the child does, in this order. */
struct startup_job {
	const char *ca_dir; /* ca_ensure(ca_dir, id); NULL: taken as it is */
	const char *id;
	const struct dlp_config *dlp; /* dlp_config_check(dlp) */
	const char *spare_home;	      /* ca_make_spare(spare_home), or NULL */
};

struct startup_child {
	pid_t pid;    /* 0: none */
	int pidfd;    /* readable once it exited; -1: none */
	int sock;     /* its reports; -1: none */
	bool checked; /* 'D' read: it only makes the spare now */
};

#define STARTUP_CHILD_INIT                                                     \
	{                                                                      \
		0, -1, -1, false                                               \
	}

/* Fork the child for job (which it copies: fork).  Its reports arrive on
 * ch->sock: read each with startup_child_report() when it is readable.
 * 0, or -errno with err. */
int startup_child_start(const struct startup_job *job, struct startup_child *ch,
			struct error *err) __attribute__((warn_unused_result));

/* The child's next report: 'C' (the CA is there), then 'D' (the DLP
 * configuration is good: the child only makes the spare after that), 'W'
 * when there is none yet, or 0 with the reason in err (the child exits
 * then).  Call it no more after 'D' or 0. */
char startup_child_report(struct startup_child *ch, struct error *err);

/* Reap the child if it exited, without waiting.  True when no child is
 * left. */
bool startup_child_reap(struct startup_child *ch);

/* The bundle stops: a child still checking is killed and reaped; one
 * that only makes the spare is left to finish it (it no longer dies with
 * the bundle), so that stopping never waits for it. */
void startup_child_release(struct startup_child *ch);

#endif
