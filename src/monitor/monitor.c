#include "monitor/monitor.h"

#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

/* Attach protocol frames: type byte, 4-byte little-endian length, data. */
enum frame_type { FRAME_DATA = 'd', FRAME_WINSZ = 'w', FRAME_EXIT = 'x' };

#define MAX_CLIENTS 8
#define BUF_SIZE    16384
#define DETACH_1    0x10 /* Ctrl-P */
#define DETACH_2    0x11 /* Ctrl-Q */

struct client {
	int fd;
	unsigned char hdr[5];
	size_t hdr_len;
	size_t want; /* payload bytes left in the current frame */
	enum frame_type type;
	unsigned char winsz[8];
	size_t winsz_len;
};

struct relay {
	const struct monitor_opts *o;
	int listen_fd;
	int sig_fd;
	struct client clients[MAX_CLIENTS];
	bool out_open, err_open;
	/* Input for the agent waits here until its side can take it: a
	 * blocking write to a full pty would stop the output relay too, and
	 * the agent, blocked writing output, would never read.  Sources are
	 * read only while a whole read fits (backpressure). */
	char inq[4 * BUF_SIZE];
	size_t inq_len;
	bool in_eof; /* close the agent's stdin once the queue drains */
};

static int send_frame(int fd, enum frame_type t, const void *data, size_t len)
{
	unsigned char hdr[5] = {
	    (unsigned char)t, (unsigned char)len, (unsigned char)(len >> 8),
	    (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
	int r = write_all(fd, hdr, sizeof(hdr));
	return r < 0 ? r : write_all(fd, data, len);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The agent produced output: to the user, the console log, clients. */
static void fan_out(struct relay *rl, int user_fd, const char *buf, size_t n)
{
	if (rl->o->foreground && write_all(user_fd, buf, n) < 0)
		log_debug("terminal write failed");
	if (rl->o->console_fd >= 0 && write_all(rl->o->console_fd, buf, n) < 0)
		log_debug("console log write failed");
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &rl->clients[i];
		if (c->fd >= 0 && send_frame(c->fd, FRAME_DATA, buf, n) < 0)
			client_close(c);
	}
}

static int input_fd(const struct relay *rl)
{
	return rl->o->io->tty ? rl->o->io->pty_master : rl->o->io->in;
}

static void queue_input(struct relay *rl, const char *buf, size_t n)
{
	if (n > sizeof(rl->inq) - rl->inq_len)
		BUG("input queue overrun");
	memcpy(rl->inq + rl->inq_len, buf, n);
	rl->inq_len += n;
}

static bool inq_has_room(const struct relay *rl)
{
	return sizeof(rl->inq) - rl->inq_len >= BUF_SIZE;
}

static void flush_input(struct relay *rl)
{
	ssize_t w = write(input_fd(rl), rl->inq, rl->inq_len);

	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("agent input closed: %s", strerror(errno));
		rl->inq_len = 0; /* nobody will read it */
		return;
	}
	memmove(rl->inq, rl->inq + w, rl->inq_len - (size_t)w);
	rl->inq_len -= (size_t)w;
}

static void set_winsize(const struct relay *rl, const struct winsize *ws)
{
	if (rl->o->io->tty)
		ioctl(rl->o->io->pty_master, TIOCSWINSZ, ws);
}

static void client_input(struct relay *rl, struct client *c)
{
	unsigned char buf[BUF_SIZE];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	size_t i = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	while (i < (size_t)n) {
		if (c->want == 0) {
			c->hdr[c->hdr_len++] = buf[i++];
			if (c->hdr_len < 5)
				continue;
			c->type = (enum frame_type)c->hdr[0];
			c->want = (size_t)c->hdr[1] | (size_t)c->hdr[2] << 8 |
				  (size_t)c->hdr[3] << 16 |
				  (size_t)c->hdr[4] << 24;
			c->hdr_len = 0;
			c->winsz_len = 0;
			if (c->want > (1u << 20)) {
				client_close(c);
				return;
			}
			continue;
		}
		{
			size_t take =
			    (size_t)n - i < c->want ? (size_t)n - i : c->want;
			if (c->type == FRAME_DATA) {
				queue_input(rl, (const char *)buf + i, take);
			} else if (c->type == FRAME_WINSZ) {
				for (size_t k = 0;
				     k < take &&
				     c->winsz_len < sizeof(c->winsz);
				     k++)
					c->winsz[c->winsz_len++] = buf[i + k];
				if (c->winsz_len == sizeof(c->winsz)) {
					struct winsize ws = {0};
					memcpy(&ws.ws_row, c->winsz, 2);
					memcpy(&ws.ws_col, c->winsz + 2, 2);
					set_winsize(rl, &ws);
				}
			}
			i += take;
			c->want -= take;
		}
	}
}

static void accept_client(struct relay *rl)
{
	/* Non-blocking: a client that stops reading is dropped (its
	 * send fails with EAGAIN) instead of freezing the monitor. */
	int fd =
	    accept4(rl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (rl->clients[i].fd < 0) {
			rl->clients[i].fd = fd;
			return;
		}
	}
	close(fd);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void on_signal(struct relay *rl)
{
	struct signalfd_siginfo si;

	if (read(rl->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		struct winsize ws;
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
			set_winsize(rl, &ws);
		return;
	}
	/* Pass SIGTERM/SIGHUP/SIGINT on to the process we watch (the
	 * bottle's init forwards them to the agent).  SIGINT reaches us only
	 * without a tty: raw mode turns ^C into a byte for the agent.  The
	 * pidfd names our own child, so no pid can have been reused. */
	if (syscall(SYS_pidfd_send_signal, rl->o->proc->pidfd,
		    (int)si.ssi_signo, NULL, 0) < 0)
		log_debug("forwarding signal %u: %s", si.ssi_signo,
			  strerror(errno));
}

static int pump(struct relay *rl, int from, int to_user, bool *open_flag)
{
	char buf[BUF_SIZE];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* EIO on a pty master: every slave is closed. */
		*open_flag = false;
		return 0;
	}
	fan_out(rl, to_user, buf, (size_t)n);
	return 1;
}

static int wait_init(const struct monitor_opts *o)
{
	int st;
	if (waitpid(o->proc->init_pid, &st, 0) < 0)
		return 1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

/* Without its bundle a bottle has no way out and no audit: stop it. */
static void bundle_failed(const struct monitor_opts *o, struct error *err,
			  bool *failed)
{
	*failed = true;
	log_warnx("%s; stopping the bottle (it has no way out without its "
		  "bundle)",
		  err->msg);
	if (syscall(SYS_pidfd_send_signal, o->proc->pidfd, SIGKILL, NULL, 0) <
	    0)
		log_warn("stopping the bottle");
	err_clear(err);
}

int monitor_run(const struct monitor_opts *o)
{
	struct error berr = ERROR_INIT;
	bool bundle_down = false;
	struct relay rl = {.o = o, .listen_fd = -1, .sig_fd = -1};
	struct bottle_io *io = o->io;
	bool init_alive = true, stdin_open = o->foreground;
	sigset_t set;
	int code;

	for (int i = 0; i < MAX_CLIENTS; i++)
		rl.clients[i].fd = -1;
	rl.out_open = true;
	rl.err_open = !io->tty && io->err >= 0;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* A client or pipe going away is an EPIPE to handle, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	rl.sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (o->attach_path) {
		rl.listen_fd = listen_unix(o->attach_path);
		if (rl.listen_fd < 0)
			log_warnx("attach socket %s: %s", o->attach_path,
				  strerror(-rl.listen_fd));
	}

	/* Input goes through the queue; see struct relay. */
	if (input_fd(&rl) >= 0)
		fcntl(input_fd(&rl), F_SETFL,
		      fcntl(input_fd(&rl), F_GETFL) | O_NONBLOCK);
	while (init_alive || rl.out_open || rl.err_open) {
		struct pollfd p[9 + MAX_CLIENTS];
		int n = 0, i_out = -1, i_err = -1, i_in = -1, i_pid = -1,
		    i_sig = -1, i_lis = -1, i_q = -1, i_bun = -1, i_ctl = -1,
		    first_cl;
		bool room = inq_has_room(&rl);

#define ADD(idx, fd_, ev)                                                      \
	do {                                                                   \
		idx = n;                                                       \
		p[n].fd = (fd_);                                               \
		p[n].events = (ev);                                            \
		p[n++].revents = 0;                                            \
	} while (0)
		if (rl.out_open)
			ADD(i_out, io->tty ? io->pty_master : io->out, POLLIN);
		if (rl.err_open)
			ADD(i_err, io->err, POLLIN);
		if (stdin_open && room)
			ADD(i_in, STDIN_FILENO, POLLIN);
		if (rl.inq_len && input_fd(&rl) >= 0)
			ADD(i_q, input_fd(&rl), POLLOUT);
		if (init_alive)
			ADD(i_pid, o->proc->pidfd, POLLIN);
		if (rl.sig_fd >= 0)
			ADD(i_sig, rl.sig_fd, POLLIN);
		if (init_alive && bundle_sup_fd(o->bundle) >= 0)
			ADD(i_bun, bundle_sup_fd(o->bundle), POLLIN);
		if (init_alive && bundle_sup_ctl_fd(o->bundle) >= 0)
			ADD(i_ctl, bundle_sup_ctl_fd(o->bundle), POLLIN);
		if (rl.listen_fd >= 0)
			ADD(i_lis, rl.listen_fd, POLLIN);
		first_cl = n;
		for (int k = 0; room && k < MAX_CLIENTS; k++) {
			if (rl.clients[k].fd < 0)
				continue;
			p[n].fd = rl.clients[k].fd;
			p[n].events = POLLIN;
			p[n++].revents = 0;
		}
#undef ADD
		/* Once init is gone, drain what is buffered, then stop. */
		if (poll(p, (nfds_t)n, init_alive ? -1 : 50) <= 0) {
			if (!init_alive)
				break;
			continue;
		}
		if (i_out >= 0 && p[i_out].revents)
			pump(&rl, p[i_out].fd, STDOUT_FILENO, &rl.out_open);
		if (i_err >= 0 && p[i_err].revents)
			pump(&rl, io->err, STDERR_FILENO, &rl.err_open);
		if (i_q >= 0 && p[i_q].revents)
			flush_input(&rl);
		if (i_in >= 0 && p[i_in].revents) {
			char buf[BUF_SIZE];
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r > 0)
				queue_input(&rl, buf, (size_t)r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				stdin_open = false, rl.in_eof = true;
		}
		if (rl.in_eof && !rl.inq_len && !io->tty && io->in >= 0) {
			close(io->in);
			io->in = -1;
		}
		if (i_pid >= 0 && p[i_pid].revents)
			init_alive = false;
		if (i_sig >= 0 && p[i_sig].revents)
			on_signal(&rl);
		/* The control socket first: a bundle that failed says why
		 * there before its exit shows on the pidfd. */
		if (i_ctl >= 0 && p[i_ctl].revents &&
		    bundle_sup_on_ctl(o->bundle, &berr) < 0)
			bundle_failed(o, &berr, &bundle_down);
		else if (i_bun >= 0 && p[i_bun].revents &&
			 bundle_sup_on_exit(o->bundle, &berr) < 0)
			bundle_failed(o, &berr, &bundle_down);
		/* Clients before accepting: a new client may reuse a closed
		 * one's fd number, and the revents here are for the old. */
		for (int j = first_cl; j < n; j++) {
			for (int k = 0; p[j].revents && k < MAX_CLIENTS; k++)
				if (rl.clients[k].fd == p[j].fd &&
				    inq_has_room(&rl))
					client_input(&rl, &rl.clients[k]);
		}
		if (i_lis >= 0 && p[i_lis].revents)
			accept_client(&rl);
	}
	code = wait_init(o);
	if (bundle_down)
		code = 1; /* not the agent's doing */
	for (int k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &rl.clients[k];
		if (c->fd >= 0) {
			uint32_t v = (uint32_t)code;
			if (send_frame(c->fd, FRAME_EXIT, &v, sizeof(v)) < 0)
				log_debug("client gone");
			client_close(c);
		}
	}
	if (rl.listen_fd >= 0) {
		close(rl.listen_fd);
		unlink(o->attach_path);
	}
	if (rl.sig_fd >= 0)
		close(rl.sig_fd);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return code;
}

/* ---- the attach client -------------------------------------------------- */

static void send_winsize(int fd)
{
	struct winsize ws;
	unsigned char b[8] = {0};

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	memcpy(b, &ws.ws_row, 2);
	memcpy(b + 2, &ws.ws_col, 2);
	if (send_frame(fd, FRAME_WINSZ, b, sizeof(b)) < 0)
		log_debug("winsize send failed");
}

int monitor_attach(const char *attach_path, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1, sfd = -1;
	unsigned char hdr[5];
	size_t hdr_len = 0, want = 0;
	int code = -1, type = 0;
	unsigned char codebuf[4];
	size_t code_len = 0;
	bool prev_ctrl_p = false, stdin_open = true;
	sigset_t set;

	if (strlen(attach_path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "socket path too long");
	strcpy(sa.sun_path, attach_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_sys(err, errno,
			       "connecting to the bottle's monitor");
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	send_winsize(fd);
	for (;;) {
		/* After EOF on our stdin keep relaying output until the
		 * agent exits. */
		struct pollfd p[3] = {
		    {fd, POLLIN, 0},
		    {stdin_open ? STDIN_FILENO : -1, POLLIN, 0},
		    {sfd, POLLIN, 0}};
		unsigned char buf[BUF_SIZE];
		ssize_t n;

		if (poll(p, 3, -1) < 0)
			continue;
		if (p[2].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) > 0)
				send_winsize(fd);
		}
		if (p[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				stdin_open = false;
				continue;
			}
			for (ssize_t i = 0; i < n; i++) {
				if (prev_ctrl_p && buf[i] == DETACH_2) {
					/* Send what came before ^P. */
					if (i > 1 &&
					    send_frame(fd, FRAME_DATA, buf,
						       (size_t)i - 1) < 0)
						break;
					return 0;
				}
				prev_ctrl_p = buf[i] == DETACH_1;
			}
			if (send_frame(fd, FRAME_DATA, buf, (size_t)n) < 0)
				break;
		}
		if (!p[0].revents)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n;) {
			if (want == 0) {
				hdr[hdr_len++] = buf[i++];
				if (hdr_len == 5) {
					type = hdr[0];
					want = (size_t)hdr[1] |
					       (size_t)hdr[2] << 8 |
					       (size_t)hdr[3] << 16 |
					       (size_t)hdr[4] << 24;
					hdr_len = 0;
				}
				continue;
			}
			{
				size_t take = (size_t)(n - i) < want
						  ? (size_t)(n - i)
						  : want;
				if (type == FRAME_DATA &&
				    write_all(STDOUT_FILENO, buf + i, take) < 0)
					return err_sys(err, EIO, "stdout");
				if (type == FRAME_EXIT)
					for (size_t k = 0;
					     k < take && code_len < 4; k++)
						codebuf[code_len++] =
						    buf[i + k];
				i += (ssize_t)take;
				want -= take;
				if (type == FRAME_EXIT && code_len == 4) {
					uint32_t v;
					memcpy(&v, codebuf, 4);
					code = (int)v;
				}
			}
		}
	}
	return code < 0 ? 0 : code;
}
