#include "backend/backend.h"

#include "backend/ns/ns.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

const struct backend_ops *const backends[] = {
    &ns_backend,
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

uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and parens: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* Fields after comm start at 3 (state); starttime is field 22. */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
		   "%*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

bool proc_alive(pid_t pid, uint64_t start)
{
	uint64_t now = proc_start_time(pid);
	return now != 0 && (start == 0 || now == start);
}
