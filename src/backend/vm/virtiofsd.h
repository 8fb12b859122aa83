/* One virtiofsd per shared directory (docs/vm-backend.md, virtiofs).
 *
 * Each runs sandboxed by its own -o sandbox=namespace (new mount, pid and
 * net namespaces, pivoted into the shared directory, seccomp), inside the
 * caller's namespaces: in a vm bottle, the keeper's user namespace (which
 * maps the guest's agent uid to the agent's host uid) and mount namespace
 * (where a read-only share is a read-only mount, so the host kernel
 * refuses writes whatever the guest asks).  It dies with its parent. */
#ifndef BOTTLE_VM_VIRTIOFSD_H
#define BOTTLE_VM_VIRTIOFSD_H

#include "lib/err.h"

#include <stdbool.h>
#include <sys/types.h>

#define VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"

struct virtiofsd {
	pid_t pid;    /* -1: not running */
	char *socket; /* its vhost-user socket (malloc'd) */
	char *source;
	int log;    /* its stderr (a memfd), for the reason it failed */
	bool by_fd; /* given its socket: started once it runs */
};

#define VIRTIOFSD_INIT                                                         \
	{                                                                      \
		-1, NULL, NULL, -1, false                                      \
	}

struct virtiofsd_opts {
	const char *binary; /* NULL: VIRTIOFSD_PATH */
	const char *source; /* the directory shared */
	const char *socket_path;
	/* Nothing changes it behind the guest's back: let the guest cache
	 * (cache=always); else cache=auto. */
	bool readonly;
	/* Not as the caller: in a user namespace of its own whose root is
	 * this uid/gid of the caller's and whose AGENT_UID is the caller's
	 * AGENT_UID, chrooted into the directory root_fd (source is a path
	 * in there), on the listening socket listen_fd (bound at
	 * socket_path).  It then holds no privilege over files of ids it
	 * does not map (host root's among them), what the guest creates as
	 * any uid but the agent's belongs to that unprivileged id, and it
	 * never walks the caller's paths.  0: as the caller. */
	uid_t nest_root;
	int root_fd, listen_fd; /* not taken: the caller closes them */
};

/* Start a virtiofsd serving o->source on a new socket at o->socket_path,
 * and wait until it listens.  Returns 0, or -errno with err saying why it
 * did not start (its own last message when it exited); nothing is left
 * running then. */
int virtiofsd_start(struct virtiofsd *d, const struct virtiofsd_opts *o,
		    struct error *err) __attribute__((warn_unused_result));

/* The two halves of virtiofsd_start(), to start several at once: spawn
 * (0, or -errno with err; virtiofsd_stop() it either way on failure), then
 * wait until it listens (as virtiofsd_start() does). */
int virtiofsd_spawn(struct virtiofsd *d, const struct virtiofsd_opts *o,
		    struct error *err) __attribute__((warn_unused_result));
int virtiofsd_wait(struct virtiofsd *d, struct error *err)
    __attribute__((warn_unused_result));

/* Its last message, when it exited (its stderr is kept). */
void virtiofsd_reason(const struct virtiofsd *d, char *buf, size_t n);

/* Stop it (SIGTERM, then SIGKILL), reap it, remove the socket; safe on a
 * half-started or stopped one. */
void virtiofsd_stop(struct virtiofsd *d);

#endif
