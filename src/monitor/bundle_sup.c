/* Starting and restarting bottle-bundle.  See bundle_sup.h. */
#include "monitor/bundle_sup.h"

#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a start may take before we call it failed. */
#define READY_TIMEOUT_MS 10000
/* Grace between SIGTERM and SIGKILL on stop. */
#define STOP_GRACE_MS 2000
#define EXITED_EARLY  "the bundle exited during start-up; see `bottle logs`"
/* Restarts closer together than this count as a crash loop... */
#define LOOP_WINDOW_NS (10ull * 1000000000ull)
/* ...and after this many in one window we slow down to one per second. */
#define LOOP_MAX 5

struct bundle_sup {
	char **argv;
	char *log_path;
	int fds[ENDPOINT_COUNT]; /* the listeners once known, else -1 */
	bool have_fds;
	pid_t pid;
	int pidfd;
	int ctl; /* our end of the bundle's control socket */
	uint64_t window_start;
	unsigned restarts;
	bundle_sup_record_fn record;
	void *record_ctx;
	uint64_t stop_ns; /* when bundle_sup_stop() sent SIGTERM, or 0 */
};

/* Child side of the fork: only async-signal-safe calls from here on
 * (STYLE rule 22).  The control socket becomes fd 3. */
static void __attribute__((noreturn))
child(const struct bundle_sup *s, int ctl, int log_fd, pid_t parent)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (log_fd >= 0)
		dup2(log_fd, STDERR_FILENO);
	if (dup2(ctl, 3) < 0)
		_exit(127);
	syscall(SYS_close_range, 4, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(s->argv[0], s->argv);
	_exit(127);
}

/* The bundle's next message on the control socket: 'C' (its CA is
 * ready), 'R' (it serves the listeners), 'E' with its error message in buf
 * (len >= 2), or 0 at EOF or when nothing is there (MSG_DONTWAIT).  A
 * bundle that exits with our "L" unread makes the kernel report
 * ECONNRESET once, ahead of what it wrote: read past it. */
static char next_msg(int fd, int flags, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, flags);

	if (n < 0 && errno == ECONNRESET)
		n = recv(fd, buf, len - 1, flags);
	if (n <= 0)
		return 0;
	if (n == 1 && (buf[0] == 'C' || buf[0] == 'R'))
		return buf[0];
	buf[n] = '\0';
	return 'E';
}

/* Wait for the bundle's next message and expect want ('C' or 'R'). */
static int wait_msg(struct bundle_sup *s, char want, struct error *err)
{
	char buf[ERR_MSG_MAX], got;
	struct pollfd p = {s->ctl, POLLIN, 0};
	int st;

	if (poll(&p, 1, READY_TIMEOUT_MS) == 0)
		return err_set(err, ETIMEDOUT,
			       "the bundle did not start within %d s",
			       READY_TIMEOUT_MS / 1000);
	got = next_msg(s->ctl, 0, buf, sizeof(buf));
	if (got == want)
		return 0;
	if (got == 'E')
		return err_set(err, EIO, "bundle: %s", buf);
	if (waitpid(s->pid, &st, WNOHANG) == s->pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 127)
		return err_set(err, ENOEXEC, "cannot execute %s", s->argv[0]);
	return err_set(err, EIO, EXITED_EARLY);
}

/* Kill and reap a bundle that failed to start. */
static void kill_bundle(struct bundle_sup *s)
{
	if (s->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		waitpid(s->pid, NULL, 0);
		close(s->pidfd);
	}
	if (s->ctl >= 0)
		close(s->ctl);
	s->pidfd = s->ctl = -1;
	s->pid = 0;
}

static int spawn(struct bundle_sup *s, struct error *err)
{
	_cleanup_close_ int log_fd =
	    open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int sp[2], pidfd = -1, r;
	pid_t parent = getpid(), pid;
	char what[64];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return err_sys(err, errno, "socketpair");
	pid = (pid_t)syscall(SYS_clone3,
			     &(struct clone_args){
				 .flags = CLONE_PIDFD,
				 .pidfd = (uint64_t)(uintptr_t)&pidfd,
				 .exit_signal = SIGCHLD,
			     },
			     sizeof(struct clone_args));
	if (pid < 0) {
		r = err_sys(err, errno, "starting the bundle");
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	if (pid == 0)
		child(s, sp[1], log_fd, parent);
	close(sp[1]);
	s->ctl = sp[0];
	s->pid = pid;
	s->pidfd = pidfd;
	snprintf(what, sizeof(what), "bundle:%d:%llu", (int)pid,
		 (unsigned long long)proc_start_time(pid));
	if (s->record)
		s->record(s->record_ctx, what);
	return 0;
}

/* "L" with the listeners of the endpoints that are on, in enum order. */
static int send_listeners(struct bundle_sup *s)
{
	int on[ENDPOINT_COUNT];
	size_t n = 0;

	for (int i = 0; i < ENDPOINT_COUNT; i++)
		if (s->fds[i] >= 0)
			on[n++] = s->fds[i];
	return fd_send(s->ctl, "L", 1, on, n);
}

/* Give the running bundle the listeners and wait for its CA ("C"); with
 * full, also until it serves them ("R"). */
static int hand_over(struct bundle_sup *s, bool full, struct error *err)
{
	int r = send_listeners(s);

	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		return err_sys(err, -r, "handing the listeners over");
	/* On EPIPE the bundle already died; its message is waiting. */
	if ((r = wait_msg(s, 'C', err)) < 0 || !full)
		return r;
	if ((r = wait_msg(s, 'R', err)) < 0)
		return r;
	close(s->ctl);
	s->ctl = -1;
	return 0;
}

int bundle_sup_start(const struct plan *p, bool ca_ready,
		     bundle_sup_record_fn record, void *ctx,
		     struct bundle_sup **out, struct error *err)
{
	struct bundle_sup *s;
	int r;

	if (!p->bundle_path)
		return err_set(err, ENOENT,
			       "bottle-bundle is not installed next to bottle");
	s = xcalloc(1, sizeof(*s));
	s->pidfd = s->ctl = -1;
	for (int i = 0; i < ENDPOINT_COUNT; i++)
		s->fds[i] = -1;
	s->record = record;
	s->record_ctx = ctx;
	s->argv = xcalloc(7, sizeof(char *));
	s->argv[0] = xstrdup(p->bundle_path);
	s->argv[1] = xstrdup("--state");
	s->argv[2] = xstrdup(p->state_dir);
	s->argv[3] = xstrdup("--control");
	s->argv[4] = xstrdup("3");
	if (ca_ready)
		s->argv[5] = xstrdup("--ca-ready");
	s->log_path = xasprintf("%s/bundle.log", p->log_dir);
	if ((r = spawn(s, err)) < 0) {
		bundle_sup_free(s);
		return r;
	}
	s->window_start = now_ns();
	*out = s;
	return 0;
}

int bundle_sup_serve(struct bundle_sup *s, int fds[ENDPOINT_COUNT],
		     bool wait_ca, struct error *err)
{
	int i, r = 0;

	for (i = 0; i < ENDPOINT_COUNT; i++) {
		s->fds[i] = fds[i];
		fds[i] = -1;
	}
	s->have_fds = true;
	if (s->pidfd < 0)
		return err_set(err, ESRCH, "the bundle is not running");
	if (!wait_ca) {
		r = send_listeners(s);
		/* A bundle already gone says why on the control socket. */
		return r == -EPIPE || r == -ECONNRESET || r >= 0
			   ? 0
			   : err_sys(err, -r, "handing the listeners over");
	}
	if ((r = hand_over(s, false, err)) < 0)
		kill_bundle(s);
	return r;
}

int bundle_sup_ctl_fd(const struct bundle_sup *s)
{
	return s ? s->ctl : -1;
}

int bundle_sup_on_ctl(struct bundle_sup *s, struct error *err)
{
	char buf[ERR_MSG_MAX];

	switch (next_msg(s->ctl, 0, buf, sizeof(buf))) {
	case 'C':
		return 0; /* its CA is ready; "R" follows */
	case 'R':
		close(s->ctl);
		s->ctl = -1;
		return 0;
	case 'E':
		err_set(err, EIO, "bundle: %s", buf);
		break;
	default:
		err_set(err, EIO, EXITED_EARLY);
	}
	kill_bundle(s);
	return -EIO;
}

int bundle_sup_fd(const struct bundle_sup *s)
{
	return s ? s->pidfd : -1;
}

static void reap(struct bundle_sup *s)
{
	int st = 0;

	if (s->pid > 0 && waitpid(s->pid, &st, 0) == s->pid) {
		if (WIFSIGNALED(st))
			log_warnx("bundle (pid %d) killed by signal %d",
				  (int)s->pid, WTERMSIG(st));
		else
			log_warnx("bundle (pid %d) exited with %d", (int)s->pid,
				  WEXITSTATUS(st));
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->ctl >= 0)
		close(s->ctl);
	s->pidfd = s->ctl = -1;
	s->pid = 0;
}

int bundle_sup_on_exit(struct bundle_sup *s, struct error *err)
{
	uint64_t now = now_ns();
	bool starting = s->ctl >= 0;

	if (starting) {
		/* It died before it served: a restart would die the same way.
		 * Its reason may still wait on the control socket, behind a
		 * "C" already handled or not. */
		char buf[ERR_MSG_MAX], got;

		while ((got = next_msg(s->ctl, MSG_DONTWAIT, buf,
				       sizeof(buf))) == 'C' ||
		       got == 'R')
			;
		if (got == 'E')
			err_set(err, EIO, "bundle: %s", buf);
		else
			err_set(err, EIO, EXITED_EARLY);
		reap(s);
		return -EIO;
	}
	reap(s);
	if (now - s->window_start > LOOP_WINDOW_NS) {
		s->window_start = now;
		s->restarts = 0;
	}
	if (++s->restarts > LOOP_MAX) {
		log_warnx("bundle keeps dying: restarting once a second");
		sleep(1);
	}
	if (spawn(s, err) < 0 || (s->have_fds && hand_over(s, true, err) < 0)) {
		kill_bundle(s);
		return -EIO;
	}
	log_info("bundle restarted (pid %d)", (int)s->pid);
	return 0;
}

void bundle_sup_stop(struct bundle_sup *s)
{
	if (!s || s->pidfd < 0 || s->stop_ns)
		return;
	syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, NULL, 0);
	s->stop_ns = now_ns();
}

void bundle_sup_free(struct bundle_sup *s)
{
	if (!s)
		return;
	if (s->pidfd >= 0) {
		struct pollfd p = {s->pidfd, POLLIN, 0};
		uint64_t waited;
		int left;

		bundle_sup_stop(s);
		waited = (now_ns() - s->stop_ns) / 1000000u;
		left = waited < STOP_GRACE_MS ? STOP_GRACE_MS - (int)waited : 0;
		if (poll(&p, 1, left) == 0)
			syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL,
				0);
		waitpid(s->pid, NULL, 0);
		close(s->pidfd);
	}
	if (s->ctl >= 0)
		close(s->ctl);
	for (int i = 0; i < ENDPOINT_COUNT; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	strv_free(s->argv);
	free(s->log_path);
	free(s);
}
