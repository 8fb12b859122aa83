/* The per-bottle monitor: owns a running bottle's terminal and lifetime.
 *
 * In the foreground (`bottle run`) the monitor is the `bottle` process
 * itself and relays between the user's terminal and the agent.  Detached
 * (`bottle run -d`) it is a daemon that logs the console to the state dir
 * and serves `bottle attach` over a unix socket in run/.  Either way it
 * waits for the bottle's init and returns the agent's exit code.
 */
#ifndef BOTTLE_MONITOR_H
#define BOTTLE_MONITOR_H

#include "backend/backend.h"
#include "monitor/bundle_sup.h"

struct monitor_opts {
	const struct bottle_proc *proc;
	struct bottle_io *io;
	bool foreground;	   /* relay to our own stdin/stdout/stderr */
	const char *attach_path;   /* unix socket to serve, or NULL */
	int console_fd;		   /* append the agent's output here, or -1 */
	struct bundle_sup *bundle; /* restarted when it dies; may be NULL */
};

/* Run until the bottle's init exits; returns the agent's exit code
 * (128+N when killed by signal N). */
int monitor_run(const struct monitor_opts *o);

/* `bottle attach`: connect to a detached bottle's monitor and relay the
 * user's terminal until detach (Ctrl-P Ctrl-Q) or the agent exits.
 * Returns the agent's exit code, or -errno with err. */
int monitor_attach(const char *attach_path, struct error *err);

#endif
