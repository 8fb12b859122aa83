#include "backend/backend.h"

#include "backend/ns/ns.h"
#include "backend/vm/vm.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

const struct backend_ops *const backends[] = {
    &ns_backend,
    &vm_backend,
    NULL,
};

const struct backend_ops *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

void bottle_io_close(struct bottle_io *io)
{
	int *fds[] = {&io->pty_master, &io->in, &io->out, &io->err};
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
