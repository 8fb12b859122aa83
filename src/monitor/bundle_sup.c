/* Starting and restarting bottle-bundle.  See bundle_sup.h. */
#include "monitor/bundle_sup.h"

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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a start may take before we call it failed. */
#define READY_TIMEOUT_MS 10000
/* Grace between SIGTERM and SIGKILL on stop. */
#define STOP_GRACE_MS 2000
/* Restarts closer together than this count as a crash loop... */
#define LOOP_WINDOW_NS (10ull * 1000000000ull)
/* ...and after this many in one window we slow down to one per second. */
#define LOOP_MAX 5

struct bundle_sup {
	char **argv;
	char *log_path;
	int fds[ENDPOINT_COUNT]; /* the listeners, at >= 64, O_CLOEXEC */
	pid_t pid;
	int pidfd;
	uint64_t window_start;
	unsigned restarts;
	bundle_sup_record_fn record;
	void *record_ctx;
};

/* Child side of the fork: only async-signal-safe calls from here on
 * (STYLE rule 22).  Listeners become fds 3.., the ready pipe follows. */
static void __attribute__((noreturn))
child(const struct bundle_sup *s, int ready_w, int log_fd, pid_t parent)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (log_fd >= 0)
		dup2(log_fd, STDERR_FILENO);
	for (i = 0; i < ENDPOINT_COUNT; i++)
		if (dup2(s->fds[i], 3 + i) < 0)
			_exit(127);
	if (dup2(ready_w, 3 + ENDPOINT_COUNT) < 0)
		_exit(127);
	syscall(SYS_close_range, 4 + ENDPOINT_COUNT, ~0U, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(s->argv[0], s->argv);
	_exit(127);
}

/* Read the bundle's "R" or its error message from the ready pipe. */
static int wait_ready(int fd, pid_t pid, struct error *err)
{
	char buf[ERR_MSG_MAX];
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t n;
	int st;

	if (poll(&p, 1, READY_TIMEOUT_MS) == 0)
		return err_set(err, ETIMEDOUT,
			       "the bundle did not start within %d s",
			       READY_TIMEOUT_MS / 1000);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n == 1 && buf[0] == 'R')
		return 0;
	if (n > 0) {
		buf[n] = '\0';
		return err_set(err, EIO, "bundle: %s", buf);
	}
	if (waitpid(pid, &st, WNOHANG) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 127)
		return err_set(err, ENOEXEC, "cannot execute %s", "the bundle");
	return err_set(err, EIO, "the bundle exited during start-up");
}

static int spawn(struct bundle_sup *s, struct error *err)
{
	_cleanup_close_ int log_fd = open(
	    s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int pipefd[2], pidfd = -1, r;
	pid_t parent = getpid(), pid;
	char what[64];

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_sys(err, errno, "pipe");
	pid = (pid_t)syscall(SYS_clone3,
			     &(struct clone_args){
				 .flags = CLONE_PIDFD,
				 .pidfd = (uint64_t)(uintptr_t)&pidfd,
				 .exit_signal = SIGCHLD,
			     },
			     sizeof(struct clone_args));
	if (pid < 0) {
		r = err_sys(err, errno, "starting the bundle");
		close(pipefd[0]);
		close(pipefd[1]);
		return r;
	}
	if (pid == 0)
		child(s, pipefd[1], log_fd, parent);
	close(pipefd[1]);
	r = wait_ready(pipefd[0], pid, err);
	close(pipefd[0]);
	if (r < 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		waitpid(pid, NULL, 0);
		close(pidfd);
		return r;
	}
	s->pid = pid;
	s->pidfd = pidfd;
	snprintf(what, sizeof(what), "bundle:%d:%llu", (int)pid,
		 (unsigned long long)proc_start_time(pid));
	if (s->record)
		s->record(s->record_ctx, what);
	return 0;
}

int bundle_sup_start(const struct plan *p, int fds[ENDPOINT_COUNT],
		     bundle_sup_record_fn record, void *ctx,
		     struct bundle_sup **out, struct error *err)
{
	struct bundle_sup *s;
	int i, r;

	if (!p->bundle_path) {
		for (i = 0; i < ENDPOINT_COUNT; i++)
			close(fds[i]);
		return err_set(err, ENOENT,
			       "bottle-bundle is not installed next to bottle");
	}
	s = xcalloc(1, sizeof(*s));
	s->pidfd = -1;
	s->record = record;
	s->record_ctx = ctx;
	for (i = 0; i < ENDPOINT_COUNT; i++) {
		/* High numbers, so the child's dup2 to 3.. clobbers none. */
		s->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
		close(fds[i]);
	}
	s->argv = xcalloc(6, sizeof(char *));
	s->argv[0] = xstrdup(p->bundle_path);
	s->argv[1] = xstrdup("--state");
	s->argv[2] = xstrdup(p->state_dir);
	s->argv[3] = xstrdup("--inherit");
	s->argv[4] = xasprintf("%d", ENDPOINT_COUNT);
	s->log_path = xasprintf("%s/bundle.log", p->log_dir);
	for (i = 0; i < ENDPOINT_COUNT; i++) {
		if (s->fds[i] < 0) {
			r = err_sys(err, errno, "dup");
			bundle_sup_free(s);
			return r;
		}
	}
	if ((r = spawn(s, err)) < 0) {
		bundle_sup_free(s);
		return r;
	}
	s->window_start = now_ns();
	*out = s;
	return 0;
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
			log_warnx("bundle (pid %d) exited with %d",
				  (int)s->pid, WEXITSTATUS(st));
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pidfd = -1;
	s->pid = 0;
}

void bundle_sup_on_exit(struct bundle_sup *s)
{
	struct error err = ERROR_INIT;
	uint64_t now = now_ns();

	reap(s);
	if (now - s->window_start > LOOP_WINDOW_NS) {
		s->window_start = now;
		s->restarts = 0;
	}
	if (++s->restarts > LOOP_MAX) {
		log_warnx("bundle keeps dying: restarting once a second");
		sleep(1);
	}
	if (spawn(s, &err) < 0)
		log_warnx("restarting the bundle: %s", err.msg);
	else
		log_info("bundle restarted (pid %d)", (int)s->pid);
}

void bundle_sup_free(struct bundle_sup *s)
{
	if (!s)
		return;
	if (s->pidfd >= 0) {
		struct pollfd p = {s->pidfd, POLLIN, 0};
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, NULL, 0);
		if (poll(&p, 1, STOP_GRACE_MS) == 0)
			syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL,
				0);
		waitpid(s->pid, NULL, 0);
		close(s->pidfd);
	}
	for (int i = 0; i < ENDPOINT_COUNT; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	strv_free(s->argv);
	free(s->log_path);
	free(s);
}
