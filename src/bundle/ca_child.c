/* The bottle's CA in a short-lived child.  See ca_child.h.
 *
 * The child writes one message on a pipe and closes it: "C" when the CA
 * is there, else the reason.  It then makes the spare, if asked, and
 * exits. */
#include "bundle/ca_child.h"

#include "lib/ca.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Below the bottle's own set-up and the agent, which a spare must never
 * slow down: it is for the next bottle. */
#define SPARE_NICE 10

static __attribute__((noreturn)) void child(const char *dir, const char *id,
					    const char *spare_home, int fd,
					    pid_t parent)
{
	struct error err = ERROR_INIT;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (ca_ensure(dir, id, &err) < 0) {
		if (write_all(fd, err.msg, strlen(err.msg)) < 0)
			_exit(1);
		_exit(1);
	}
	if (write_all(fd, "C", 1) < 0)
		_exit(1);
	close(fd);
	if (!spare_home)
		_exit(0);
	if (setpriority(PRIO_PROCESS, 0, SPARE_NICE) < 0)
		log_debug("setpriority: %s", strerror(errno));
	if (ca_make_spare(spare_home, &err) < 0) {
		log_warnx("making a spare CA: %s", err.msg);
		_exit(1);
	}
	_exit(0);
}

/* Read the child's report: "C" or its reason. */
static int read_report(int fd, struct error *err)
{
	char buf[ERR_MSG_MAX];
	ssize_t n;

	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, errno, "reading the CA child's report");
	if (n == 1 && buf[0] == 'C')
		return 0;
	if (n == 0)
		return err_set(err, EIO, "the CA child died");
	buf[n] = '\0';
	return err_set(err, EINVAL, "%s", buf);
}

int ca_child_run(const char *dir, const char *id, const char *spare_home,
		 struct ca_child *ch, struct error *err)
{
	int p[2], r;
	pid_t pid, parent = getpid();

	ch->pid = 0;
	ch->pidfd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[0]);
		child(dir, id, spare_home, p[1], parent);
	}
	close(p[1]);
	ch->pid = pid;
	/* Ours alone to reap, so the pid cannot have been reused yet. */
	ch->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	r = read_report(p[0], err);
	close(p[0]);
	if (r < 0)
		ca_child_reap(ch, true, -1);
	return r;
}

bool ca_child_reap(struct ca_child *ch, bool wait, int grace_ms)
{
	int st = 0;
	pid_t w;

	if (ch->pid <= 0)
		return true;
	if (wait && ch->pidfd >= 0 && grace_ms >= 0) {
		struct pollfd pf = {ch->pidfd, POLLIN, 0};
		if (poll(&pf, 1, grace_ms) == 0) {
			log_warnx("the CA child (pid %d) is still busy: "
				  "killing it",
				  (int)ch->pid);
			kill(ch->pid, SIGKILL);
		}
	}
	do
		w = waitpid(ch->pid, &st, wait ? 0 : WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return false;
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	ch->pid = 0;
	ch->pidfd = -1;
	return true;
}
