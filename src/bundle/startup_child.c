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
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Below the bottle's own set-up and the agent: nothing waits for the
 * checks but the rare bottle that has no CA yet (whose set-up then waits
 * for it, leaving the CPU to it), and the spare is for the next bottle. */
#define CHILD_NICE 10

/* Send the verdict r: ok, or err's message.  Exits unless r is 0. */
static void say(int fd, int r, const char *ok, const struct error *err)
{
	const char *msg = r < 0 ? err->msg : ok;

	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0 || r < 0)
		_exit(1);
}

/* Whether the next bottle's CA is made already (ca_make_spare() makes
 * sure; this spares loading the stage module for nothing). */
static bool spare_exists(const char *home)
{
	_cleanup_free_ char *spare = xasprintf("%s/" CA_SPARE_DIR, home);

	return access(spare, F_OK) == 0;
}

static __attribute__((noreturn)) void child(const struct startup_job *job,
					    int fd, pid_t parent)
{
	struct error err = ERROR_INIT;
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	/* None of the bundle's descriptors (the monitor's control socket, the
	 * event loop's) stays open in a child that may outlive it. */
	if (fd > 3)
		syscall(SYS_close_range, 3, fd - 1, 0);
	syscall(SYS_close_range, fd + 1, ~0U, 0);
	if (setpriority(PRIO_PROCESS, 0, CHILD_NICE) < 0)
		log_debug("setpriority: %s", strerror(errno));
	r = 0;
	if (job->ca_dir && (r = stage_load(&err)) == 0)
		r = ca_ensure(job->ca_dir, job->id, &err);
	say(fd, r, "C", &err);
	/* Without patterns of the manifest's nothing needs compiling (the
	 * secrets' lengths the bundle checked). */
	r = 0;
	if (job->dlp->n_custom && (r = stage_load(&err)) == 0)
		r = dlp_config_check(job->dlp, &err);
	say(fd, r, "D", &err);
	close(fd);
	if (!job->spare_home || spare_exists(job->spare_home))
		_exit(0);
	/* Only the spare is left: a bundle that stops now does not wait for
	 * it (startup_child_release()), and the spare is not killed with it. */
	prctl(PR_SET_PDEATHSIG, 0);
	if (stage_load(&err) < 0 || ca_make_spare(job->spare_home, &err) < 0) {
		log_warnx("making a spare CA: %s", err.msg);
		_exit(1);
	}
	_exit(0);
}

char startup_child_report(struct startup_child *ch, struct error *err)
{
	char buf[ERR_MSG_MAX];
	ssize_t n;

	do
		n = recv(ch->sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 'W';
	if (n < 0) {
		err_sys(err, errno, "reading the start-up child's report");
		return 0;
	}
	if (n == 1 && (buf[0] == 'C' || buf[0] == 'D')) {
		ch->checked = buf[0] == 'D';
		return buf[0];
	}
	if (n == 0) {
		err_set(err, EIO, "the start-up child died");
		return 0;
	}
	buf[n] = '\0';
	err_set(err, EINVAL, "%s", buf);
	return 0;
}

int startup_child_start(const struct startup_job *job, struct startup_child *ch,
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
	return 0;
}

bool startup_child_reap(struct startup_child *ch)
{
	pid_t w;

	if (ch->pid <= 0)
		return true;
	do
		w = waitpid(ch->pid, NULL, WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == 0)
		return false;
	/* Its last reports may still wait in ch->sock. */
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	ch->pid = 0;
	ch->pidfd = -1;
	return true;
}

void startup_child_release(struct startup_child *ch)
{
	struct error err = ERROR_INIT;

	while (ch->sock >= 0 && !ch->checked &&
	       startup_child_report(ch, &err) == 'C')
		;
	if (!startup_child_reap(ch)) {
		if (!ch->checked) {
			/* Still checking: of no use to anyone now. */
			kill(ch->pid, SIGKILL);
			while (waitpid(ch->pid, NULL, 0) < 0 && errno == EINTR)
				;
		} else {
			log_debug("the spare CA is still being made (pid %d): "
				  "not waiting",
				  (int)ch->pid);
		}
		if (ch->pidfd >= 0)
			close(ch->pidfd);
	}
	if (ch->sock >= 0)
		close(ch->sock);
	*ch = (struct startup_child)STARTUP_CHILD_INIT;
}
