/* virtiofsd processes.  See virtiofsd.h. */
#include "backend/vm/virtiofsd.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_WAIT_MS 10000

static void last_message(int fd, char *buf, size_t bufsz)
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

int virtiofsd_spawn(struct virtiofsd *d, const struct virtiofsd_opts *o,
		    struct error *err)
{
	const char *bin = o->binary ? o->binary : VIRTIOFSD_PATH;
	_cleanup_free_ char *src = xasprintf("source=%s", o->source);
	_cleanup_free_ char *sock =
	    xasprintf("--socket-path=%s", o->socket_path);
	const char *const argv[] = {
	    bin,  sock,
	    "-o", src,
	    "-o", o->readonly ? "cache=always" : "cache=auto",
	    "-o", "log_level=warn",
	    NULL};
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	d->pid = -1;
	d->socket = NULL;
	d->source = NULL;
	d->log = memfd_create("virtiofsd", MFD_CLOEXEC);
	if (d->log < 0 || devnull < 0)
		return err_sys(err, errno, "starting virtiofsd");
	unlink(o->socket_path); /* a stale one would look like a listener */
	d->pid = fork();
	if (d->pid < 0)
		return err_sys(err, errno, "starting virtiofsd: fork");
	if (d->pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Not the caller's blocked signals (SIGTERM stops it), nor
		 * its session (a terminal's ^C is not for it). */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
		    dup2(d->log, 2) < 0)
			_exit(127);
		execv(bin, (char *const *)argv);
		dprintf(2, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	d->socket = xstrdup(o->socket_path);
	d->source = xstrdup(o->source);
	return 0;
}

int virtiofsd_wait(struct virtiofsd *d, struct error *err)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	char msg[512];
	struct stat st;
	int status;

	/* It creates the socket, then waits for QEMU on it. */
	for (int waited = 0; waited < START_WAIT_MS; waited += 2) {
		if (stat(d->socket, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = -1;
			last_message(d->log, msg, sizeof(msg));
			err_set(err, EIO,
				"virtiofsd for %s failed to start (exit %d): "
				"%s",
				d->source,
				WIFEXITED(status) ? WEXITSTATUS(status)
						  : 128 + WTERMSIG(status),
				msg);
			virtiofsd_stop(d);
			return -EIO;
		}
		nanosleep(&ts, NULL);
	}
	err_set(err, ETIMEDOUT,
		"virtiofsd for %s did not create %s within %d s", d->source,
		d->socket, START_WAIT_MS / 1000);
	virtiofsd_stop(d);
	return -ETIMEDOUT;
}

int virtiofsd_start(struct virtiofsd *d, const struct virtiofsd_opts *o,
		    struct error *err)
{
	int r = virtiofsd_spawn(d, o, err);

	if (r < 0) {
		virtiofsd_stop(d);
		return r;
	}
	return virtiofsd_wait(d, err);
}

void virtiofsd_stop(struct virtiofsd *d)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
				d->pid = -1;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
	}
	d->pid = -1;
	if (d->socket)
		unlink(d->socket);
	free(d->socket);
	free(d->source);
	d->socket = d->source = NULL;
	if (d->log >= 0)
		close(d->log);
	d->log = -1;
}
