/* bottle-init: the control channel's guest end (backend/vm/ctl.h).
 *
 * One loop over the control port, the processes' output and a signalfd
 * for SIGCHLD.  Writes to the port block (the host's keeper always reads);
 * writes to a process's stdin never do: they queue per channel, so a
 * process that does not read cannot stall the link.  Every process runs as
 * the agent, behind the same jail as in an ns bottle (backend/ns/jail.c):
 * its uid, no capabilities, no_new_privs, Landlock, seccomp. */
#include "backend/ns/jail.h"
#include "backend/vm/ctl.h"
#include "guest/init.h"
#include "lib/plan.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHANS    64
#define MAX_ARGS     4096
#define PORT_WAIT_MS 20000

const struct plan *init_jail_plan(void);

struct queue {
	char *p;
	size_t len, cap;
	bool eof; /* close the fd once drained */
};

struct chan {
	uint16_t id;
	pid_t pid; /* 0: free */
	bool tty;
	int in;	      /* stdin write end, or the pty master */
	int out;      /* stdout read end, or the pty master */
	int err;      /* stderr read end, or -1 */
	bool out_eof; /* out needs no more polling (a pty's EIO) */
	struct queue q;
};

bool init_panic_after_setup;
static struct chan chans[MAX_CHANS];
static int port = -1;
static struct seccomp_prog prog = SECCOMP_PROG_INIT;
static int landlock_fd = -1;

static void send_frame(uint8_t type, uint16_t chan, const void *p, size_t n)
{
	if (ctl_send(port, type, chan, p, n) < 0) {
		/* The host is gone: nothing left to serve. */
		say("bottle-init: control port: %s\n", strerror(errno));
		power_off();
	}
}

static void send_fail(uint16_t chan, const char *msg)
{
	send_frame(CTL_FAIL, chan, msg, strlen(msg));
}

/* The virtio-serial port named CTL_PORT_NAME: /dev/vportNpM, found by its
 * name in sysfs; it appears on a workqueue after the host's control
 * message, so wait for it (bounded: TCG is slow). */
static int open_port(void)
{
	struct timespec ts = {0, 5 * 1000 * 1000};

	for (int waited = 0; waited < PORT_WAIT_MS; waited += 5) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char path[300], name[64] = "";
			int fd;
			ssize_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path),
				 "/sys/class/virtio-ports/%s/name", e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, name, sizeof(name) - 1);
			close(fd);
			name[n > 0 ? n : 0] = '\0';
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, CTL_PORT_NAME) != 0)
				continue;
			snprintf(path, sizeof(path), "/dev/%s", e->d_name);
			closedir(d);
			fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
			if (fd < 0)
				say("bottle-init: %s: %s\n", path,
				    strerror(errno));
			return fd;
		}
		if (d)
			closedir(d);
		nanosleep(&ts, NULL);
	}
	say("bottle-init: no virtio-serial port named " CTL_PORT_NAME "\n");
	return -1;
}

static struct chan *chan_find(uint16_t id)
{
	for (int i = 0; i < MAX_CHANS; i++)
		if (chans[i].pid && chans[i].id == id)
			return &chans[i];
	return NULL;
}

static void chan_close(struct chan *c)
{
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0 && c->out != c->in)
		close(c->out);
	if (c->err >= 0)
		close(c->err);
	free(c->q.p);
	memset(c, 0, sizeof(*c));
	c->in = c->out = c->err = -1;
}

static int open_pty(unsigned rows, unsigned cols, int *master, int *slave)
{
	struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
	int unlock = 0, n;
	char name[64];

	*master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0)
		return -1;
	if (ioctl(*master, TIOCSPTLCK, &unlock) < 0 ||
	    ioctl(*master, TIOCGPTN, &n) < 0)
		return -1;
	snprintf(name, sizeof(name), "/dev/pts/%d", n);
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		return -1;
	/* The agent's own terminal, as in ns (tmux, pinentry reopen it). */
	if (fchown(*slave, AGENT_UID, AGENT_GID) < 0)
		return -1;
	if (rows)
		ioctl(*master, TIOCSWINSZ, &ws);
	return 0;
}

/* copy-in, in the jailed child: stdin to path. */
static void __attribute__((noreturn)) copy_main(const char *path, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int fd = open(
	    path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		dprintf(2, "%s: %s\n", path, strerror(errno));
		_exit(1);
	}
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write_all(fd, buf, (size_t)n) < 0) {
			dprintf(2, "writing %s: %s\n", path, strerror(errno));
			_exit(1);
		}
	if (n < 0 || fchmod(fd, mode) < 0 || close(fd) < 0) {
		dprintf(2, "%s: %s\n", path, strerror(errno));
		_exit(1);
	}
	_exit(0);
}

struct exec_spec {
	char *argv[MAX_ARGS + 1], *env[MAX_ARGS + 1];
	size_t argc, envc;
	const char *cwd, *copy;
	mode_t mode;
	bool tty;
	unsigned rows, cols;
};

static int parse_exec(const struct ctl_frame *f, struct exec_spec *s)
{
	size_t off = 0;
	const char *str;
	char t;
	int r;

	memset(s, 0, sizeof(*s));
	s->mode = 0644;
	while ((r = ctl_field_next(f->data, f->len, &off, &t, &str)) > 0) {
		switch (t) {
		case CTL_F_ARG:
			if (s->argc < MAX_ARGS)
				s->argv[s->argc++] = (char *)str;
			break;
		case CTL_F_ENV:
			if (s->envc < MAX_ARGS)
				s->env[s->envc++] = (char *)str;
			break;
		case CTL_F_CWD:
			s->cwd = str;
			break;
		case CTL_F_TTY:
			s->tty = sscanf(str, "%ux%u", &s->rows, &s->cols) == 2;
			break;
		case CTL_F_COPY:
			s->copy = str;
			break;
		case CTL_F_MODE:
			s->mode = (mode_t)strtoul(str, NULL, 8) & 07777;
			break;
		default:
			return -1;
		}
	}
	if (r < 0 || (!s->copy && !s->argc) || (s->copy && s->copy[0] != '/'))
		return -1;
	return 0;
}

static void do_exec(const struct ctl_frame *f)
{
	struct exec_spec *s = calloc(1, sizeof(*s));
	struct chan *c = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int master = -1, slave = -1;
	pid_t pid;

	if (!s || parse_exec(f, s) < 0) {
		send_fail(f->chan, "malformed exec request");
		goto done;
	}
	if (f->chan == 0 || chan_find(f->chan)) {
		send_fail(f->chan, "channel in use");
		goto done;
	}
	for (int i = 0; i < MAX_CHANS && !c; i++)
		if (!chans[i].pid)
			c = &chans[i];
	if (!c) {
		send_fail(f->chan, "too many processes at once");
		goto done;
	}
	if (s->tty && !s->copy ? open_pty(s->rows, s->cols, &master, &slave)
			       : (pipe2(in, O_CLOEXEC) | pipe2(out, O_CLOEXEC) |
				  pipe2(err, O_CLOEXEC))) {
		char msg[128];
		snprintf(msg, sizeof(msg), "pty/pipes: %s", strerror(errno));
		send_fail(f->chan, msg);
		goto close_fds;
	}
	pid = fork();
	if (pid < 0) {
		send_fail(f->chan, "fork failed");
		goto close_fds;
	}
	if (pid == 0) {
		struct jail j = {
		    .plan = init_jail_plan(),
		    .seccomp = &prog,
		    .landlock_fd = landlock_fd,
		    .setgroups_allowed = true,
		    .cwd = s->cwd ? s->cwd : BOTTLE_WORKDIR,
		};
		const char *step = NULL;
		int r;

		sigset_t none;

		/* init blocks SIGCHLD for its signalfd: not for them. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (master >= 0) {
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
			dup2(slave, 1);
			dup2(slave, 2);
		} else {
			dup2(in[0], 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
		}
		signal(SIGPIPE, SIG_DFL);
		/* We are real root here (in ns the init already was the
		 * agent): empty the bounding set while we still may. */
		for (int cap = 0; cap <= 63; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
			    errno == EINVAL)
				break;
		if ((r = jail_enter(&j, &step)) < 0) {
			dprintf(2, "bottle: %s: %s\n", step, strerror(-r));
			_exit(126);
		}
		if (s->copy) {
			/* No exec to drop what init holds (the write end of
			 * our own stdin among it): close it all. */
			syscall(SYS_close_range, 3, ~0U, 0);
			copy_main(s->copy, s->mode);
		}
		s->argv[s->argc] = NULL;
		s->env[s->envc] = NULL;
		r = jail_exec(s->argv, s->env);
		dprintf(2, "bottle: cannot run %s: %s\n", s->argv[0],
			strerror(-r));
		_exit(r == -ENOENT ? 127 : 126);
	}
	c->id = f->chan;
	c->pid = pid;
	c->tty = master >= 0;
	if (c->tty) {
		c->in = c->out = master;
		c->err = -1;
		master = -1;
	} else {
		c->in = in[1];
		c->out = out[0];
		c->err = err[0];
		in[1] = out[0] = err[0] = -1;
	}
	fcntl(c->in, F_SETFL, O_NONBLOCK);
	send_frame(CTL_STARTED, f->chan, NULL, 0);
close_fds:
	for (int i = 0; i < 2; i++) {
		int *fds[] = {&in[i], &out[i], &err[i]};
		for (int k = 0; k < 3; k++)
			if (*fds[k] >= 0)
				close(*fds[k]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
done:
	free(s);
}

static void flush_stdin(struct chan *c)
{
	while (c->q.len) {
		ssize_t n = write(c->in, c->q.p, c->q.len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			c->q.len = 0; /* the reader is gone: drop it */
			break;
		}
		memmove(c->q.p, c->q.p + n, c->q.len - (size_t)n);
		c->q.len -= (size_t)n;
	}
	if (c->q.eof && !c->tty && c->in >= 0) {
		close(c->in);
		c->in = -1;
	}
}

static void on_stdin(struct chan *c, const struct ctl_frame *f)
{
	if (!f->len) {
		c->q.eof = true;
	} else if (c->in >= 0) {
		if (c->q.cap - c->q.len < f->len) {
			size_t cap = c->q.len + f->len + 4096;
			char *p = realloc(c->q.p, cap);
			if (!p)
				return;
			c->q.p = p;
			c->q.cap = cap;
		}
		memcpy(c->q.p + c->q.len, f->data, f->len);
		c->q.len += f->len;
	}
	flush_stdin(c);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void on_frame(const struct ctl_frame *f)
{
	struct chan *c = chan_find(f->chan);

	switch (f->type) {
	case CTL_EXEC:
		do_exec(f);
		return;
	case CTL_POWEROFF:
		/* Everything gone and synced, the host needs no more: it
		 * kills QEMU rather than wait for our kernel's shutdown. */
		kill(-1, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
		sync();
		send_frame(CTL_SYNCED, 0, NULL, 0);
		power_off();
	case CTL_STDIN:
		if (c)
			on_stdin(c, f);
		return;
	case CTL_WINSZ:
		if (c && c->tty && f->len == 4) {
			struct winsize ws = {
			    (unsigned short)(f->data[0] | f->data[1] << 8),
			    (unsigned short)(f->data[2] | f->data[3] << 8), 0,
			    0};
			ioctl(c->out, TIOCSWINSZ, &ws);
		}
		return;
	case CTL_SIGNAL:
		if (c && f->len == 4) {
			int sig = (int)get_u32(f->data);
			if (sig > 0 && sig < 65) {
				kill(-c->pid, sig);
				kill(c->pid, sig);
			}
		}
		return;
	default:
		say("bottle-init: unexpected %s frame on channel %u\n",
		    ctl_type_name(f->type), f->chan);
	}
}

/* Forward what a process wrote; false at EOF. */
static bool pump(struct chan *c, int fd, uint8_t type)
{
	static uint8_t buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false; /* EOF, or EIO: the pty's last slave closed */
	send_frame(type, c->id, buf, (size_t)n);
	return true;
}

/* A process ended: forward what is left of its output, then its status. */
static void finish(struct chan *c, int status)
{
	uint8_t code[4];
	uint32_t v = WIFEXITED(status)	   ? (uint32_t)WEXITSTATUS(status)
		     : WIFSIGNALED(status) ? 128u + (uint32_t)WTERMSIG(status)
					   : 1u;
	int fds[2] = {c->out_eof ? -1 : c->out, c->err};

	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		while (pump(c, fds[i], i ? CTL_STDERR : CTL_STDOUT)) {
			struct pollfd p = {fds[i], POLLIN, 0};
			if (poll(&p, 1, 0) <= 0)
				break;
		}
	}
	code[0] = (uint8_t)v;
	code[1] = (uint8_t)(v >> 8);
	code[2] = (uint8_t)(v >> 16);
	code[3] = (uint8_t)(v >> 24);
	send_frame(CTL_EXIT, c->id, code, 4);
	chan_close(c);
}

static void reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < MAX_CHANS; i++)
			if (chans[i].pid == pid)
				finish(&chans[i], status);
}

static void __attribute__((noreturn)) serve(int sfd, struct ctl_reader *rd)
{
	struct pollfd pfd[2 + 3 * MAX_CHANS];
	struct chan *who[2 + 3 * MAX_CHANS];

	for (;;) {
		struct ctl_frame f;
		nfds_t n = 0;
		int r;

		pfd[n++] = (struct pollfd){port, POLLIN, 0};
		pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
		for (int i = 0; i < MAX_CHANS; i++) {
			struct chan *c = &chans[i];
			if (!c->pid)
				continue;
			if (c->out >= 0 && !c->out_eof) {
				who[n] = c;
				pfd[n++] = (struct pollfd){c->out, POLLIN, 0};
			}
			if (c->err >= 0) {
				who[n] = c;
				pfd[n++] = (struct pollfd){c->err, POLLIN, 0};
			}
			if (c->in >= 0 && c->q.len) {
				who[n] = c;
				pfd[n++] = (struct pollfd){c->in, POLLOUT, 0};
			}
		}
		if (poll(pfd, n, -1) < 0)
			continue;
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			reap();
			continue; /* the channel table changed */
		}
		for (nfds_t i = 2; i < n; i++) {
			struct chan *c = who[i];
			if (!pfd[i].revents || !c->pid)
				continue;
			if (pfd[i].events & POLLOUT) {
				flush_stdin(c);
				continue;
			}
			if (pfd[i].fd == c->err) {
				if (!pump(c, c->err, CTL_STDERR)) {
					close(c->err);
					c->err = -1;
				}
			} else if (!pump(c, c->out, CTL_STDOUT)) {
				/* Nothing more comes; the status will. */
				c->out_eof = true;
			}
		}
		if (!pfd[0].revents)
			continue;
		r = (int)ctl_reader_fill(rd, port);
		if (r <= 0) {
			say("bottle-init: the control port closed\n");
			power_off();
		}
		while ((r = ctl_reader_next(rd, &f)) > 0)
			on_frame(&f);
		if (r < 0) {
			say("bottle-init: malformed frame on the control "
			    "port\n");
			power_off();
		}
	}
}

void init_serve(const char *fail)
{
	struct ctl_reader rd = CTL_READER_INIT;
	struct error err = ERROR_INIT;
	struct ctl_frame f;
	char msg[512], up[64] = "?";
	uint64_t t0, t1;
	sigset_t set;
	int sfd, r, fd;

	if ((port = open_port()) < 0)
		power_off();
	fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, up, sizeof(up) - 1);
		up[n > 0 ? n : 0] = '\0';
		up[strcspn(up, " \n")] = '\0';
		close(fd);
	}
	send_frame(CTL_HELLO, 0, up, strlen(up));
	if (fail) {
		send_fail(0, fail);
		power_off();
	}
	/* SETUP comes first. */
	for (;;) {
		if ((r = ctl_reader_next(&rd, &f)) > 0)
			break;
		if (r < 0 || ctl_reader_fill(&rd, port) <= 0)
			power_off();
	}
	if (f.type != CTL_SETUP) {
		send_fail(0, "expected SETUP first");
		power_off();
	}
	t0 = now_ns();
	if (init_setup(f.data, f.len, msg, sizeof(msg)) < 0) {
		send_fail(0, msg);
		power_off();
	}
	t1 = now_ns();
	if (seccomp_prog_build(&prog, &err) < 0 ||
	    jail_landlock_ruleset(init_jail_plan(), &landlock_fd, &err) < 0) {
		send_fail(0, err.msg);
		power_off();
	}
	snprintf(msg, sizeof(msg), "set up in %.0f ms, jail in %.0f ms",
		 (double)(t1 - t0) / 1e6, (double)(now_ns() - t1) / 1e6);
	for (int i = 0; i < MAX_CHANS; i++)
		chans[i].in = chans[i].out = chans[i].err = -1;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	send_frame(CTL_READY, 0, msg, strlen(msg));
	if (init_panic_after_setup)
		_exit(1);
	/* Frames that came with SETUP. */
	while ((r = ctl_reader_next(&rd, &f)) > 0)
		on_frame(&f);
	serve(sfd, &rd);
}
