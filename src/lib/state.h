/* Per-bottle state on the host (DESIGN.md, "state dir"):
 *
 *   $XDG_STATE_HOME/bottle/<id>/
 *     lock        flock()ed around every read-modify-write of meta.json
 *     meta.json   id, agent, backend, cwd, times, status, owner processes
 *                 and every runtime artifact, recorded before it exists
 *     plan.json   the plan the bottle was launched with (exec reuses it)
 *     home/       the agent's persistent home
 *     workspace/  the copy of the user's cwd (copy_cwd)
 *     logs/       monitor and console logs
 *     run/        sockets and generated files; runtime only
 *
 * Every write is atomic (temp file + rename), so a reader sees the old or
 * the new file, never a torn one, and a SIGKILL leaves at worst a stale
 * temp file that `bottle cleanup` removes.
 */
#ifndef BOTTLE_STATE_H
#define BOTTLE_STATE_H

#include "err.h"
#include "plan.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum bottle_status {
	BOTTLE_CREATING = 0, /* state being prepared; no bottle yet */
	BOTTLE_RUNNING,
	BOTTLE_EXITED,	/* the agent exited; exit_code is set */
	BOTTLE_STOPPED, /* stopped by `bottle stop` */
	BOTTLE_FAILED,	/* the launch failed */
	BOTTLE_CRASHED, /* its owner died; found by ls or cleanup */
};

const char *bottle_status_name(enum bottle_status s);

struct artifact {
	char *kind; /* "process", "cgroup", "socket", "dir" */
	char *what; /* role, path... */
};

struct bottle_meta {
	char *id;
	char *agent;
	char *bottle;
	char *backend;
	char *cwd;
	char *manifest; /* path, or NULL for the built-in default */
	bool copy_cwd;
	bool detached;
	bool tty;
	int64_t created; /* unix seconds */
	int64_t started; /* 0 = never */
	int64_t finished;
	enum bottle_status status;
	int exit_code;	   /* -1 = none */
	pid_t monitor_pid; /* the process that owns the bottle */
	uint64_t monitor_start;
	pid_t init_pid;
	uint64_t init_start;
	char **command; /* the command override, NULL-terminated, or NULL */
	struct artifact *artifacts;
	size_t n_artifacts;
};

#define BOTTLE_META_INIT                                                       \
	{                                                                      \
		.exit_code = -1                                                \
	}

int meta_load(const char *state_dir, struct bottle_meta *m, struct error *err)
    __attribute__((warn_unused_result));
/* Atomic write.  Callers hold the lock (see meta_update). */
int meta_save(const char *state_dir, const struct bottle_meta *m,
	      struct error *err) __attribute__((warn_unused_result));
void meta_release(struct bottle_meta *m);
void meta_add_artifact(struct bottle_meta *m, const char *kind,
		       const char *what);

/* Forget the runtime side: owner and init pids, and the artifacts (once
 * they are gone). */
void meta_clear_runtime(struct bottle_meta *m);

/* Lock, load, call fn, save if fn returned 0, unlock. */
int meta_update(const char *state_dir,
		int (*fn)(struct bottle_meta *m, void *ctx), void *ctx,
		struct error *err) __attribute__((warn_unused_result));

/* Is the bottle's owner (monitor) still alive? */
bool meta_owner_alive(const struct bottle_meta *m);

/* Exclusive lock of a state dir; *fd closes to release.  Waits up to 5 s. */
int state_lock(const char *state_dir, int *fd, struct error *err);

/* A fresh id "<agent>-<6 random base32 chars>". */
char *state_new_id(const char *agent);

/* Create the state dir of a new bottle with its home/logs/run subdirs
 * (home owned by the agent's host uid) and meta.json m, atomically: it
 * appears complete or not at all.  -EEXIST if the id is taken. */
int state_create(const struct plan *p, const struct bottle_meta *m,
		 struct error *err);

/* The ids of all bottles under state_home, sorted.  *ids NULL-terminated. */
int state_list(const char *state_home, char ***ids, size_t *n,
	       struct error *err);

/* Resolve a user-supplied id or unique prefix.  -ENOENT "no bottle ..." or
 * -EINVAL "ambiguous ...". */
int state_resolve(const char *state_home, const char *name, char **id,
		  struct error *err);

/* plan.json: the launched plan, for exec and resume. */
int plan_save(const struct plan *p, const char *path, struct error *err);
int plan_load(const char *path, struct plan **out, struct error *err);

#endif
