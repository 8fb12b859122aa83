/* The bundle's start-up checks in a short-lived child.  See
 * startup_child.h.
 *
 * The child sends one message per check on a SOCK_SEQPACKET socket: "C"
 * when the CA is there and "D" when the DLP configuration is good, else
 * the reason, after which it exits.  Then it makes the spare, if asked,
 * and exits. */
#include "bundle/startup_child.h"

#include "bundle/stage.h"

#include "lib/ca.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Below the bottle's own set-up and the agent, which a spare must never
 * slow down: it is for the next bottle. */
#define SPARE_NICE 10

/* Send the verdict r: ok, or err's message.  Exits unless r is 0. */
static void say(int fd, int r, const char *ok, const struct error *err)
{
	const char *msg = r < 0 ? err->msg : ok;

	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0 || r < 0)
		_exit(1);
}

static __attribute__((noreturn)) void child(const struct startup_job *job,
					    int fd, pid_t parent)
{
	struct error err = ERROR_INIT;
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if ((r = stage_load(&err)) == 0)
		r = ca_ensure(job->ca_dir, job->id, &err);
	say(fd, r, "C", &err);
	say(fd, dlp_config_check(job->dlp, &err), "D", &err);
	close(fd);
	if (!job->spare_home)
		_exit(0);
	if (setpriority(PRIO_PROCESS, 0, SPARE_NICE) < 0)
		log_debug("setpriority: %s", strerror(errno));
	if (ca_make_spare(job->spare_home, &err) < 0) {
		log_warnx("making a spare CA: %s", err.msg);
		_exit(1);
	}
	_exit(0);
}

/* Read the child's next report: want, or its reason. */
static int read_report(int fd, char want, struct error *err)
{
	char buf[ERR_MSG_MAX];
	ssize_t n;

	do
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, errno,
			       "reading the start-up child's "
			       "report");
	if (n == 1 && buf[0] == want)
		return 0;
	if (n == 0)
		return err_set(err, EIO, "the start-up child died");
	buf[n] = '\0';
	return err_set(err, EINVAL, "%s", buf);
}

int startup_child_run(const struct startup_job *job, struct startup_child *ch,
		      struct error *err)
{
	int sp[2], r;
	pid_t pid, parent = getpid();

	*ch = (struct startup_child)STARTUP_CHILD_INIT;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return err_sys(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	if (pid == 0) {
		close(sp[0]);
		child(job, sp[1], parent);
	}
	close(sp[1]);
	ch->pid = pid;
	ch->sock = sp[0];
	/* Ours alone to reap, so the pid cannot have been reused yet. */
	ch->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if ((r = read_report(ch->sock, 'C', err)) < 0)
		startup_child_reap(ch, true, -1);
	return r;
}

int startup_child_dlp(struct startup_child *ch, struct error *err)
{
	int r;

	if (ch->sock < 0)
		return err_set(err, EIO, "the start-up child is gone");
	r = read_report(ch->sock, 'D', err);
	close(ch->sock);
	ch->sock = -1;
	return r;
}

bool startup_child_reap(struct startup_child *ch, bool wait, int grace_ms)
{
	int st = 0;
	pid_t w;

	if (ch->sock >= 0 && wait) {
		close(ch->sock);
		ch->sock = -1;
	}
	if (ch->pid <= 0)
		return true;
	if (wait && ch->pidfd >= 0 && grace_ms >= 0) {
		struct pollfd pf = {ch->pidfd, POLLIN, 0};
		if (poll(&pf, 1, grace_ms) == 0) {
			log_warnx("the start-up child (pid %d) is still busy: "
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
