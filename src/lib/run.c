/* Helper programs with captured output.  See run.h. */
#include "lib/run.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void fd_last_line(int fd, char *buf, size_t bufsz)
{
	ssize_t n = pread(fd, buf, bufsz - 1, 0);
	char *end, *start;

	buf[n > 0 ? n : 0] = '\0';
	end = buf + strlen(buf);
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	if (start)
		memmove(buf, start + 1, strlen(start + 1) + 1);
}

int wait_killing(pid_t pid, unsigned timeout_s, int *status, bool *killed)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	int r;

	*killed = false;
	if (pfd >= 0) {
		do
			r = poll(&p, 1, (int)(timeout_s * 1000));
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			*killed = true;
			kill(pid, SIGKILL);
		}
		close(pfd);
	}
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int run_capture(const char *const *argv, int in, size_t max, char **out,
		size_t *len, struct error *err)
{
	_cleanup_close_ int o = memfd_create("run-stdout", MFD_CLOEXEC);
	_cleanup_close_ int e = memfd_create("run-stderr", MFD_CLOEXEC);
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int pipefd[2], status, exec_errno = 0, r;
	char msg[512];
	struct stat st;
	bool killed;
	pid_t pid;
	ssize_t n;

	*out = NULL;
	if (len)
		*len = 0;
	if (o < 0 || e < 0 || devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return err_sys(err, errno, "running %s", argv[0]);
	pid = fork();
	if (pid < 0) {
		r = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return err_sys(err, r, "running %s: fork", argv[0]);
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec; an exec
		 * failure goes back over the CLOEXEC pipe. */
		if (dup2(in >= 0 ? in : devnull, 0) >= 0 && dup2(o, 1) >= 0 &&
		    dup2(e, 2) >= 0)
			execvp(argv[0], (char *const *)argv);
		exec_errno = errno;
		if (write(pipefd[1], &exec_errno, sizeof(exec_errno)) < 0) {
			/* the parent sees a failed run anyway */
		}
		_exit(127);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &exec_errno, sizeof(exec_errno));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if ((r = wait_killing(pid, RUN_TIMEOUT_S, &status, &killed)) < 0)
		return err_sys(err, -r, "waiting for %s", argv[0]);
	if (n == (ssize_t)sizeof(exec_errno))
		return err_sys(err, exec_errno, "cannot run %s", argv[0]);
	if (killed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fd_last_line(e, msg, sizeof(msg));
		if (killed)
			return err_set(err, EIO, "%s: killed after %d s: %s",
				       argv[0], RUN_TIMEOUT_S, msg);
		return err_set(err, EIO, "%s failed (%s %d): %s", argv[0],
			       WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status)
						 : WTERMSIG(status),
			       msg);
	}
	if (fstat(o, &st) < 0)
		return err_sys(err, errno, "reading %s's output", argv[0]);
	if ((size_t)st.st_size > max)
		return err_set(err, EFBIG,
			       "%s printed %lld bytes; expected at most %zu",
			       argv[0], (long long)st.st_size, max);
	*out = xmalloc((size_t)st.st_size + 1);
	n = pread(o, *out, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(*out);
		*out = NULL;
		return err_sys(err, n < 0 ? errno : EIO, "reading %s's output",
			       argv[0]);
	}
	(*out)[n] = '\0';
	if (len)
		*len = (size_t)n;
	return 0;
}
