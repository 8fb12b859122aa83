/* Hyperscan compiles in a forked child, for the DLP stage.
 *
 * Hyperscan's compiler is megabytes of code that, once run, stays
 * resident in the daemon.  The child runs it instead and sends the
 * serialized databases back over a pipe (in memory only: the secrets
 * database never touches the disk); the parent only deserializes.
 * Internal to the DLP stage.
 */
#ifndef BOTTLE_BUNDLE_DLP_COMPILE_H
#define BOTTLE_BUNDLE_DLP_COMPILE_H

#include "lib/err.h"

#include <hs.h>
#include <stddef.h>
#include <sys/types.h>

#define DLP_COMPILE_MAX_DBS 2

/* Runs in the child: fill dbs[0..n) (NULL is allowed: no database) and
 * *extra, or return -errno with err set. */
typedef int (*dlp_compile_fn)(void *ctx, hs_database_t **dbs, size_t n,
			      size_t *extra, struct error *err);

/* Run fn(ctx, ...) in a child and give the parent its n (<=
 * DLP_COMPILE_MAX_DBS) databases (the caller owns them) and *extra.  0;
 * the child's error (its code and message); or -errno with err set when
 * the child cannot be run or dies. */
int dlp_compile_forked(dlp_compile_fn fn, void *ctx, hs_database_t **dbs,
		       size_t n, size_t *extra, struct error *err)
    __attribute__((warn_unused_result));

/* The same in two steps, so that the caller works while the child
 * compiles.  A started job must be finished or cancelled. */
struct dlp_compile_job {
	pid_t pid;
	int fd; /* the reply pipe */
	size_t n;
};

/* Fork the child.  0, or -errno with err set (nothing to finish). */
int dlp_compile_start(dlp_compile_fn fn, void *ctx, size_t n,
		      struct dlp_compile_job *job, struct error *err)
    __attribute__((warn_unused_result));
/* Wait for the child and take its databases, as dlp_compile_forked()
 * does; the child is reaped either way. */
int dlp_compile_finish(struct dlp_compile_job *job, hs_database_t **dbs,
		       size_t *extra, struct error *err)
    __attribute__((warn_unused_result));
/* Kill and reap the child. */
void dlp_compile_cancel(struct dlp_compile_job *job);

#endif
