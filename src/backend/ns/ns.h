/* The ns backend's internal interface between its files. */
#ifndef BOTTLE_NS_NS_H
#define BOTTLE_NS_NS_H

#include "backend/backend.h"

extern const struct backend_ops ns_backend;

int ns_launch(const struct plan *p, const struct launch_hooks *hooks,
	      struct bottle_io *io, struct bottle_proc *out, struct error *err);
int ns_exec(const struct exec_req *req, struct bottle_io *io, pid_t *pid_out,
	    struct error *err);
int ns_copy_in(const struct exec_req *req, const char *host_path,
	       const char *path, struct error *err);

/* Shared by launch and exec: open a pty from the current mount namespace's
 * /dev/ptmx (the bottle's own devpts), sized ws.  0 or -errno. */
int ns_open_pty(const struct winsize *ws, int *master, int *slave);

/* Pipes for the agent's stdio when there is no pty: parent[0] writes its
 * stdin, parent[1]/[2] read its stdout/stderr; child[] are the other ends.
 * All O_CLOEXEC. */
int ns_make_pipes(int parent[3], int child[3], struct error *err);
void ns_close3(int fds[3]);
/* Hand the parent's pipe ends to io (no-op with a pty). */
void ns_io_take_pipes(struct bottle_io *io, int parent[3]);

/* Take the endpoint listeners ("L" + fds) from who is on the other end of
 * sock, have the hooks start the bundle on them, and say "B". */
int ns_start_bundle(int sock, const struct plan *p,
		    const struct launch_hooks *hooks, struct error *err);

/* Wait for "R" (+ the pty master when io->tty) or "E<message>" from who
 * (the init, or an exec'd command) on sock. */
int ns_wait_ready(int sock, struct bottle_io *io, const char *who,
		  struct error *err);

#endif
