/* Helpers shared by the probes: reports, throw-away children, /proc text. */
#include "guest/probes.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long one attempt() may take.  Every operation tried there is a
 * single syscall (or a handful), so this only matters if something is
 * badly wrong. */
#define ATTEMPT_TIMEOUT_MS 3000

__attribute__((format(printf, 3, 0))) static void
text_vappend(char *buf, size_t n, const char *fmt, va_list ap)
{
	size_t len = strlen(buf);

	if (len + 4 >= n)
		return; /* already full and marked */
	if (len) {
		memcpy(buf + len, "; ", 3);
		len += 2;
	}
	int w = vsnprintf(buf + len, n - len, fmt, ap);
	if (w >= 0 && (size_t)w >= n - len)
		memcpy(buf + n - 4, "...", 4); /* truncated: say so */
}

void report_fail(struct probe_report *r, const char *fmt, ...)
{
	va_list ap;

	r->nfail++;
	va_start(ap, fmt);
	text_vappend(r->fail, sizeof(r->fail), fmt, ap);
	va_end(ap);
}

void report_note(struct probe_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	text_vappend(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

void report_skip(struct probe_report *r, const char *fmt, ...)
{
	va_list ap;

	r->skipped = true;
	va_start(ap, fmt);
	text_vappend(r->skip, sizeof(r->skip), fmt, ap);
	va_end(ap);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wait_timeout(pid_t pid, int *status, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	long sleep_us = 500;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = {0, sleep_us * 1000};
		nanosleep(&ts, NULL);
		if (sleep_us < 20000)
			sleep_us *= 2;
	}
}

void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

struct attempt_msg {
	long ret;
	int err;
};

/* Child side of attempt(): async-signal-safe calls only after fork. */
static __attribute__((noreturn)) void attempt_child(attempt_fn fn, void *arg,
						    int wfd)
{
	struct attempt_msg m;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(ATTEMPT_TIMEOUT_MS / 1000 + 1);
	errno = 0;
	m.ret = fn(arg);
	m.err = m.ret < 0 ? errno : 0;
	if (write(wfd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(127);
	_exit(0);
}

void attempt(attempt_fn fn, void *arg, struct attempt *a)
{
	struct attempt_msg m;
	int fds[2], status;

	memset(a, 0, sizeof(*a));
	if (pipe2(fds, O_CLOEXEC) < 0) {
		a->lost = true;
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		a->lost = true;
		return;
	}
	if (pid == 0)
		attempt_child(fn, arg, fds[1]);
	close(fds[1]);
	if (wait_timeout(pid, &status, ATTEMPT_TIMEOUT_MS) < 0) {
		kill_and_reap(pid);
		a->timedout = true;
	} else if (WIFSIGNALED(status)) {
		a->sig = WTERMSIG(status);
		a->timedout = a->sig == SIGALRM;
	} else if (read(fds[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
		a->ret = m.ret;
		a->err = m.err;
	} else {
		a->lost = true;
	}
	close(fds[0]);
}

bool attempt_denied(const struct attempt *a)
{
	if (a->lost || a->timedout)
		return false;
	if (a->sig)
		return a->sig == SIGSYS;
	return a->ret < 0 &&
	       (a->err == EPERM || a->err == EACCES || a->err == ENOSYS);
}

bool attempt_failed(const struct attempt *a)
{
	return !a->lost && (a->timedout || a->sig || a->ret < 0);
}

const char *attempt_str(const struct attempt *a, char *buf, size_t n)
{
	if (a->lost)
		snprintf(buf, n, "no result (could not run the attempt)");
	else if (a->timedout)
		snprintf(buf, n, "timed out");
	else if (a->sig == SIGSYS)
		snprintf(buf, n, "killed by SIGSYS");
	else if (a->sig)
		snprintf(buf, n, "killed by signal %d", a->sig);
	else if (a->ret < 0)
		snprintf(buf, n, "%s", errno_name(a->err));
	else
		snprintf(buf, n, "succeeded");
	return buf;
}

void expect_denied(struct probe_report *r, const char *what, attempt_fn fn,
		   void *arg, bool strict)
{
	struct attempt a;
	char buf[64];

	attempt(fn, arg, &a);
	attempt_str(&a, buf, sizeof(buf));
	if (attempt_denied(&a) || (!strict && attempt_failed(&a)))
		report_note(r, "%s: %s", what, buf);
	else if (attempt_failed(&a))
		report_fail(r, "%s: unexpected %s (not refused by the sandbox)",
			    what, buf);
	else
		report_fail(r, "%s: %s", what, buf);
}

const char *errno_name(int err)
{
	static char unknown[24];

	switch (err) {
#define E(x)                                                                   \
	case x:                                                                \
		return #x
		E(EPERM);
		E(ENOENT);
		E(ESRCH);
		E(EINTR);
		E(EIO);
		E(ENXIO);
		E(E2BIG);
		E(ENOEXEC);
		E(EBADF);
		E(ECHILD);
		E(EAGAIN);
		E(ENOMEM);
		E(EACCES);
		E(EFAULT);
		E(EBUSY);
		E(EEXIST);
		E(EXDEV);
		E(ENODEV);
		E(ENOTDIR);
		E(EISDIR);
		E(EINVAL);
		E(ENFILE);
		E(EMFILE);
		E(ENOTTY);
		E(ETXTBSY);
		E(EFBIG);
		E(ENOSPC);
		E(EROFS);
		E(EMLINK);
		E(EPIPE);
		E(ENAMETOOLONG);
		E(ENOSYS);
		E(ENOTEMPTY);
		E(ELOOP);
		E(ENOKEY);
		E(ENOTSOCK);
		E(EPROTONOSUPPORT);
		E(ESOCKTNOSUPPORT);
		E(EOPNOTSUPP);
		E(EAFNOSUPPORT);
		E(EADDRINUSE);
		E(EADDRNOTAVAIL);
		E(ENETDOWN);
		E(ENETUNREACH);
		E(ECONNRESET);
		E(ECONNREFUSED);
		E(EHOSTUNREACH);
		E(EINPROGRESS);
		E(ETIMEDOUT);
		E(EDQUOT);
#undef E
	}
	snprintf(unknown, sizeof(unknown), "errno %d", err);
	return unknown;
}

ssize_t read_file(const char *path, char *buf, size_t n)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	while (len + 1 < n) {
		ssize_t got = read(fd, buf + len, n - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

bool status_field(const char *text, const char *key, char *out, size_t n)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n');
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			const char *v = line + klen + 1;
			const char *end = eol ? eol : v + strlen(v);
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			size_t len = (size_t)(end - v);
			if (len >= n)
				len = n - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
		line = eol ? eol + 1 : NULL;
	}
	return false;
}

bool probe_in_vm(void)
{
	const char *b = getenv("BOTTLE_BACKEND");
	return b && strcmp(b, "vm") == 0;
}
