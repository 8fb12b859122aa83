/* Backends: how a bottle is isolated (DESIGN.md, "Backends").  Each is a
 * const struct backend_ops picked by name at run time; launcher logic never
 * #ifdefs on a backend (STYLE rule 4). */
#ifndef BOTTLE_BACKEND_H
#define BOTTLE_BACKEND_H

#include "lib/err.h"
#include "lib/plan.h"
#include "lib/strbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

/* How the agent's stdio is wired.  The caller sets tty and ws; launch and
 * exec fill in the host-side ends. */
struct bottle_io {
	bool tty;	   /* allocate a pty inside the bottle */
	struct winsize ws; /* its initial size */
	int pty_master;	   /* tty: the master, O_CLOEXEC; else -1 */
	int in;		   /* !tty: write end of the agent's stdin */
	int out;	   /* !tty: read end of the agent's stdout */
	int err;	   /* !tty: read end of the agent's stderr */
};

#define BOTTLE_IO_INIT                                                         \
	{                                                                      \
		false, {0, 0, 0, 0}, -1, -1, -1, -1                            \
	}

void bottle_io_close(struct bottle_io *io);

/* A running bottle, as the launcher sees it. */
struct bottle_proc {
	pid_t init_pid;	     /* host pid of the bottle's init */
	uint64_t init_start; /* its start time, to detect pid reuse */
	int pidfd;	     /* pidfd of init, O_CLOEXEC, or -1 */
};

/* What `bottle exec` needs to enter a live bottle. */
struct exec_req {
	pid_t init_pid;
	uint64_t init_start;
	const char *const *argv;
	const char *const *env;	 /* the agent's env */
	const char *cwd;	 /* inside; NULL = the workspace */
	const char *cgroup;	 /* recorded cgroup spec, or NULL */
	const struct plan *plan; /* limits for rlimits; may be NULL */
};

/* Launch records every runtime artifact through this hook before it
 * creates it, so that `bottle cleanup` can find it after a crash. */
struct launch_hooks {
	int (*record)(void *ctx, const char *kind, const char *what,
		      struct error *err);
	/* The bottle-side listening sockets of the bundle's endpoints exist
	 * (fds[i] serves enum endpoint i, -1 for one that is off; the callee
	 * owns them): start the
	 * bundle on them.  Called before the agent starts; a failure aborts
	 * the launch.  May be NULL. */
	int (*endpoints)(void *ctx, int fds[ENDPOINT_COUNT], struct error *err);
	void *ctx;
};

/* Called for each orphaned runtime piece list_orphans() finds. */
typedef void (*orphan_fn)(const char *kind, const char *what, void *ctx);

struct backend_ops {
	const char *name;
	/* Can this host run the backend?  Appends a human report (one line
	 * per fact) to out; returns 0 if usable, else -errno with err. */
	int (*probe_host)(struct strbuf *out, struct error *err);
	/* Fill the host-dependent limit mechanisms into h. */
	void (*host_limits)(struct host_facts *h);
	/* Start the bottle described by p.  Records every runtime artifact
	 * through the record callback *before* creating it. */
	int (*launch)(const struct plan *p, const struct launch_hooks *hooks,
		      struct bottle_io *io, struct bottle_proc *out,
		      struct error *err);
	/* Run a command inside a live bottle; returns its host pid. */
	int (*exec)(const struct exec_req *req, struct bottle_io *io,
		    pid_t *pid_out, struct error *err);
	/* Copy a host file into a live bottle at an inside path. */
	int (*copy_in)(const struct exec_req *req, const char *host_path,
		       const char *path, struct error *err);
	/* Ask the bottle to stop (SIGTERM to its init). */
	int (*stop)(pid_t init_pid, uint64_t init_start, struct error *err);
	/* Remove runtime pieces of bottle id (cgroups...) after it ended. */
	int (*release)(const struct plan *p, struct error *err);
	/* Enumerate runtime pieces whose owner is gone.  live(id) says
	 * whether bottle id still has a live owner. */
	int (*list_orphans)(const char *state_home,
			    bool (*live)(const char *id, void *ctx),
			    void *live_ctx, orphan_fn fn, void *ctx);
	/* Remove one orphan reported by list_orphans(). */
	int (*remove_orphan)(const char *kind, const char *what,
			     struct error *err);
};

/* Look a backend up by name; NULL if unknown. */
const struct backend_ops *backend_find(const char *name);

/* All compiled-in backends, NULL-terminated. */
extern const struct backend_ops *const backends[];

#endif
