/* One virtiofsd per shared directory (docs/vm-backend.md, virtiofs).
 * NEEDSWORK: sandboxing it (its own mount namespace with a read-only bind
 * of a read-only share) and watching it during the VM's life. */
#ifndef BOTTLE_VM_VIRTIOFSD_H
#define BOTTLE_VM_VIRTIOFSD_H

#include "lib/err.h"

#include <sys/types.h>

#define VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"

struct virtiofsd {
	pid_t pid;    /* -1: not running */
	char *socket; /* its vhost-user socket (malloc'd) */
};

#define VIRTIOFSD_INIT                                                         \
	{                                                                      \
		-1, NULL                                                       \
	}

/* Start binary (NULL: VIRTIOFSD_PATH) serving directory source on a new
 * socket at socket_path, and wait until it listens.  Returns 0, or -errno
 * with err saying why it did not start (its own last message when it
 * exited); nothing is left running then. */
int virtiofsd_start(struct virtiofsd *d, const char *binary, const char *source,
		    const char *socket_path, struct error *err)
    __attribute__((warn_unused_result));

/* Stop it (SIGTERM, then SIGKILL), reap it, remove the socket; safe on a
 * half-started or stopped one. */
void virtiofsd_stop(struct virtiofsd *d);

#endif
