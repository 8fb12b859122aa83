/* A process in a vm guest, as seen from a host process: the client end of
 * STATE/run/vm.sock (backend/vm/ctl.h).  The agent, `bottle exec` and
 * `bottle cp` all go through it. */
#ifndef BOTTLE_VM_RELAY_H
#define BOTTLE_VM_RELAY_H

#include "lib/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>

#define VM_SOCK_NAME "vm.sock"

/* Text a guest sent (a FAIL's reason, HELLO's uptime), made safe for a
 * terminal and a log: one line, control bytes escaped, at most n - 1
 * bytes.  Returns buf. */
const char *vm_guest_text(const void *p, size_t len, char *buf, size_t n);

/* Connect to the keeper of the vm bottle whose run dir is run_dir. */
int vm_connect(const char *run_dir, struct error *err);

struct relay_req {
	const char *const *argv;
	const char *const *env;
	const char *cwd; /* NULL: the workspace */
	/* tty: the process gets a pty of this size, and the relay forwards
	 * SIGWINCH from its own controlling terminal (tty_fd); else pipes. */
	bool tty;
	struct winsize ws;
	int tty_fd;	  /* tty: our side (a pty slave, raw) */
	int in, out, err; /* !tty: our stdio for the process's */
};

/* Start req's process over sock and relay until it exits: its exit code
 * (128+N for a signal), or -errno with err (the keeper's or the guest's
 * reason when it could not start: exit 126/127 is the process's own).
 * Signals SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to
 * the caller are forwarded; the caller blocks them first. */
int vm_relay(int sock, const struct relay_req *req, struct error *err);

/* The body of a relay process (the agent's, or `bottle exec`'s): with a
 * tty, take req->tty_fd as our controlling terminal (its SIGWINCH is
 * ours), raw, and its size; run vm_relay(); exit with the process's code,
 * or 125 after printing "bottle: PREFIX<reason>" where the process's
 * output goes. */
void vm_relay_main(int sock, struct relay_req *req, const char *prefix)
    __attribute__((noreturn));

/* Copy host_path's bytes to path in the guest (as the agent, mode of the
 * host file). */
int vm_relay_copy(int sock, int fd, const char *path, unsigned mode,
		  struct error *err);

#endif
