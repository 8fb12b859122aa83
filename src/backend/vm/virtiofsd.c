/* virtiofsd processes.  See virtiofsd.h. */
#include "backend/vm/virtiofsd.h"

#include "lib/plan.h"
#include "lib/run.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

/* The child unshared its user namespace: map its 0 to root_id of ours,
 * its AGENT_UID to our AGENT_UID, then let it go on. */
static int map_nested(pid_t pid, uid_t root_id, int ready, int go,
		      struct error *err)
{
	static const char *const files[] = {"uid_map", "gid_map"};
	char map[96], path[64], b = 0;

	if (read(ready, &b, 1) != 1 || b != 'r')
		return err_set(err, EIO,
			       "virtiofsd could not make its user namespace");
	snprintf(map, sizeof(map), "0 %u 1\n%u %u 1\n", (unsigned)root_id,
		 AGENT_UID, AGENT_UID);
	for (size_t i = 0; i < 2; i++) {
		_cleanup_close_ int fd = -1;
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write_all(fd, map, strlen(map)) < 0)
			return err_sys(err, errno, "writing virtiofsd's %s",
				       files[i]);
	}
	if (write(go, "g", 1) != 1)
		return err_sys(err, errno, "starting virtiofsd");
	return 0;
}

int virtiofsd_spawn(struct virtiofsd *d, const struct virtiofsd_opts *o,
		    struct error *err)
{
	const char *bin = o->binary ? o->binary : VIRTIOFSD_PATH;
	bool by_fd = o->nest_root != 0;
	_cleanup_free_ char *src = xasprintf("source=%s", o->source);
	_cleanup_free_ char *sock =
	    by_fd ? xasprintf("--fd=%d", o->listen_fd)
		  : xasprintf("--socket-path=%s", o->socket_path);
	/* --rlimit-nofile=0: in a namespace of its own it could not raise
	 * the hard limit. */
	const char *const argv[] = {bin,
				    sock,
				    "-o",
				    src,
				    "-o",
				    o->readonly ? "cache=always" : "cache=auto",
				    "-o",
				    "log_level=warn",
				    "--rlimit-nofile=0",
				    NULL};
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int ready[2] = {-1, -1}, go[2] = {-1, -1};
	char b = 0;

	d->pid = -1;
	d->socket = NULL;
	d->source = NULL;
	d->log = memfd_create("virtiofsd", MFD_CLOEXEC);
	if (d->log < 0 || devnull < 0)
		return err_sys(err, errno, "starting virtiofsd");
	if (!by_fd)
		unlink(o->socket_path); /* a stale one looks like a listener */
	if (by_fd &&
	    (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)) {
		int e = errno;
		close_pair(ready);
		return err_sys(err, e, "starting virtiofsd: pipe");
	}
	d->pid = fork();
	if (d->pid < 0) {
		int e = errno;
		close_pair(ready);
		close_pair(go);
		return err_sys(err, e, "starting virtiofsd: fork");
	}
	if (d->pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;

		/* Its own user namespace, mapped by the parent (which may
		 * map more than one id); its root there; then its chroot,
		 * entered from the descriptor. */
		if (by_fd &&
		    (unshare(CLONE_NEWUSER) < 0 ||
		     write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1 ||
		     b != 'g' || setresgid(0, 0, 0) < 0 ||
		     setresuid(0, 0, 0) < 0 || fchdir(o->root_fd) < 0 ||
		     chroot(".") < 0 || chdir("/") < 0 ||
		     fcntl(o->listen_fd, F_SETFD, 0) < 0)) {
			dprintf(d->log, "cannot enter its namespace: %s\n",
				strerror(errno));
			_exit(127);
		}

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
	d->by_fd = by_fd;
	if (by_fd) {
		int r = map_nested(d->pid, o->nest_root, ready[0], go[1], err);
		close_pair(ready);
		close_pair(go);
		return r;
	}
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
		pid_t w;

		/* Given its socket, it is as ready as it will be once it
		 * runs: QEMU's connect waits in the backlog. */
		if (!d->by_fd && stat(d->socket, &st) == 0 &&
		    S_ISSOCK(st.st_mode))
			return 0;
		w = waitpid(d->pid, &status, WNOHANG);
		if (w == 0 && d->by_fd)
			return 0;
		if (w == d->pid) {
			d->pid = -1;
			fd_last_line(d->log, msg, sizeof(msg));
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

void virtiofsd_reason(const struct virtiofsd *d, char *buf, size_t n)
{
	buf[0] = '\0';
	if (d->log >= 0)
		fd_last_line(d->log, buf, n);
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
