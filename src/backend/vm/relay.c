/* The client end of a vm bottle's vm.sock.  See relay.h. */
#include "backend/vm/relay.h"

#include "backend/vm/ctl.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

const char *vm_guest_text(const void *p, size_t len, char *buf, size_t n)
{
	struct strbuf sb = STRBUF_INIT;

	term_safe(&sb, p, len > 2048 ? 2048 : len, TERM_SAFE_ONE_LINE);
	snprintf(buf, n, "%s", sb.buf ? sb.buf : "");
	strbuf_release(&sb);
	return buf;
}

int vm_connect(const char *run_dir, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, w;

	w = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" VM_SOCK_NAME,
		     run_dir);
	if (w < 0 || (size_t)w >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG,
			       "%s/" VM_SOCK_NAME ": too long", run_dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "connecting to the vm's keeper at %s",
			       sa.sun_path);
	}
	return fd;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Read the next frame from sock (blocking): 1, or -errno with err. */
static int next_frame(int sock, struct ctl_reader *rd, struct ctl_frame *f,
		      struct error *err)
{
	for (;;) {
		int r = ctl_reader_next(rd, f);
		ssize_t n;

		if (r > 0)
			return 1;
		if (r < 0)
			return err_set(err, EPROTO,
				       "malformed frame from the vm's keeper");
		n = ctl_reader_fill(rd, sock);
		if (n == 0)
			return err_set(err, EPIPE,
				       "the vm went away (its keeper closed "
				       "the connection)");
		if (n < 0 && n != -EAGAIN)
			return err_sys(err, (int)-n, "reading from the vm");
		if (n < 0) {
			struct pollfd p = {sock, POLLIN, 0};
			poll(&p, 1, -1);
		}
	}
}

/* Send EXEC and wait for STARTED: 0, or -errno with the reason. */
static int start(int sock, struct ctl_reader *rd, struct ctl_fields *fl,
		 struct error *err)
{
	struct ctl_frame f;
	char text[512];
	int r;

	if ((r = ctl_send(sock, CTL_EXEC, 0, fl->p, fl->len)) < 0)
		return err_sys(err, -r, "sending the request to the vm");
	if ((r = next_frame(sock, rd, &f, err)) < 0)
		return r;
	if (f.type == CTL_STARTED)
		return 0;
	if (f.type == CTL_FAIL)
		return err_set(
		    err, EIO, "%s",
		    vm_guest_text(f.data, f.len, text, sizeof(text)));
	return err_set(err, EPROTO, "unexpected %s from the vm",
		       ctl_type_name(f.type));
}

static int exec_fields(const struct relay_req *req, struct ctl_fields *fl)
{
	char tty[32];
	int r = 0;

	for (const char *const *a = req->argv; *a && r == 0; a++)
		r = ctl_put(fl, CTL_F_ARG, *a);
	for (const char *const *e = req->env; e && *e && r == 0; e++)
		r = ctl_put(fl, CTL_F_ENV, *e);
	if (r == 0 && req->cwd)
		r = ctl_put(fl, CTL_F_CWD, req->cwd);
	if (r == 0 && req->tty) {
		snprintf(tty, sizeof(tty), "%ux%u", req->ws.ws_row,
			 req->ws.ws_col);
		r = ctl_put(fl, CTL_F_TTY, tty);
	}
	return r;
}

static void send_winsz(int sock, int tty_fd)
{
	struct winsize ws;
	uint8_t b[4];

	if (ioctl(tty_fd, TIOCGWINSZ, &ws) < 0)
		return;
	b[0] = (uint8_t)ws.ws_row;
	b[1] = (uint8_t)(ws.ws_row >> 8);
	b[2] = (uint8_t)ws.ws_col;
	b[3] = (uint8_t)(ws.ws_col >> 8);
	ctl_send(sock, CTL_WINSZ, 0, b, sizeof(b));
}

static int relay_loop(int sock, const struct relay_req *req, int sfd,
		      struct ctl_reader *rd, struct error *err)
{
	int in = req->tty ? req->tty_fd : req->in;
	int out = req->tty ? req->tty_fd : req->out;
	char text[512];
	int errfd = req->tty ? req->tty_fd : req->err;
	uint8_t buf[16384];

	for (;;) {
		struct pollfd p[3] = {{sock, POLLIN, 0},
				      {sfd, POLLIN, 0},
				      {in, in >= 0 ? POLLIN : 0, 0}};
		struct ctl_frame f;
		ssize_t n;
		int r;

		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return err_sys(err, errno, "poll");
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				uint8_t b[4];
				if (si.ssi_signo == SIGWINCH) {
					if (req->tty)
						send_winsz(sock, req->tty_fd);
					continue;
				}
				put_u32(b, si.ssi_signo);
				ctl_send(sock, CTL_SIGNAL, 0, b, 4);
			}
		}
		if (in >= 0 && p[2].revents) {
			n = read(in, buf, sizeof(buf));
			if (n > 0) {
				ctl_send(sock, CTL_STDIN, 0, buf, (size_t)n);
			} else if (n == 0 ||
				   (errno != EAGAIN && errno != EINTR)) {
				if (!req->tty)
					ctl_send(sock, CTL_STDIN, 0, NULL, 0);
				in = -1;
			}
		}
		if (!p[0].revents)
			continue;
		n = ctl_reader_fill(rd, sock);
		if (n == 0)
			return err_set(err, EPIPE,
				       "the vm went away before the process "
				       "exited");
		if (n < 0 && n != -EAGAIN && n != -EINTR)
			return err_sys(err, (int)-n, "reading from the vm");
		while ((r = ctl_reader_next(rd, &f)) > 0) {
			switch (f.type) {
			case CTL_STDOUT:
				if (out >= 0 &&
				    write_all(out, f.data, f.len) < 0)
					out = -1;
				break;
			case CTL_STDERR:
				if (errfd >= 0 &&
				    write_all(errfd, f.data, f.len) < 0)
					errfd = -1;
				break;
			case CTL_EXIT:
				if (f.len != 4)
					return err_set(err, EPROTO,
						       "malformed EXIT");
				return (int)(get_u32(f.data) & 0xff);
			case CTL_FAIL:
				return err_set(err, EIO, "%s",
					       vm_guest_text(f.data, f.len,
							     text,
							     sizeof(text)));
			default:
				break;
			}
		}
		if (r < 0)
			return err_set(err, EPROTO,
				       "malformed frame from the vm's keeper");
	}
}

int vm_relay(int sock, const struct relay_req *req, struct error *err)
{
	struct ctl_fields fl = {0};
	struct ctl_reader rd = CTL_READER_INIT;
	sigset_t set, old;
	int sfd = -1, r;

	sigemptyset(&set);
	for (int s = 0, sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
				  SIGUSR2, SIGWINCH};
	     s < 7; s++)
		sigaddset(&set, sigs[s]);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (exec_fields(req, &fl) < 0) {
		r = err_set(err, E2BIG,
			    "the command and its environment are too large "
			    "(over %d bytes)",
			    CTL_MAX);
		goto out;
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = err_sys(err, errno, "signalfd");
		goto out;
	}
	if ((r = start(sock, &rd, &fl, err)) < 0)
		goto out;
	if (req->tty)
		send_winsz(sock, req->tty_fd);
	r = relay_loop(sock, req, sfd, &rd, err);
out:
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	ctl_fields_release(&fl);
	ctl_reader_release(&rd);
	return r;
}

void vm_relay_main(int sock, struct relay_req *req, const char *prefix)
{
	struct error err = ERROR_INIT;
	int r;

	if (req->tty) {
		struct termios t;

		setsid();
		ioctl(req->tty_fd, TIOCSCTTY, 0);
		ioctl(req->tty_fd, TIOCGWINSZ, &req->ws);
		if (tcgetattr(req->tty_fd, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(req->tty_fd, TCSANOW, &t);
		}
	}
	r = vm_relay(sock, req, &err);
	if (r < 0) {
		dprintf(req->tty ? req->tty_fd : req->err, "bottle: %s%s\r\n",
			prefix, err.msg);
		_exit(125);
	}
	_exit(r);
}

int vm_relay_copy(int sock, int fd, const char *path, unsigned mode,
		  struct error *err)
{
	struct ctl_fields fl = {0};
	struct ctl_reader rd = CTL_READER_INIT;
	struct strbuf msg = STRBUF_INIT;
	struct ctl_frame f;
	uint8_t buf[CTL_MAX];
	char m[16];
	ssize_t n;
	int r;

	snprintf(m, sizeof(m), "%o", mode & 07777);
	if (ctl_put(&fl, CTL_F_COPY, path) < 0 ||
	    ctl_put(&fl, CTL_F_MODE, m) < 0) {
		r = err_set(err, ENAMETOOLONG, "%s: path too long", path);
		goto out;
	}
	if ((r = start(sock, &rd, &fl, err)) < 0)
		goto out;
	/* The guest may refuse early (a read-only path): then the keeper
	 * closes us, and its reason is in what we read next. */
	signal(SIGPIPE, SIG_IGN);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if ((r = ctl_send(sock, CTL_STDIN, 0, buf, (size_t)n)) < 0)
			break;
	if (n < 0) {
		r = err_sys(err, errno, "reading the file");
		goto out;
	}
	if (n == 0)
		ctl_send(sock, CTL_STDIN, 0, NULL, 0);
	while ((r = next_frame(sock, &rd, &f, err)) > 0) {
		if (f.type == CTL_STDERR || f.type == CTL_STDOUT)
			strbuf_add(&msg, f.data, f.len);
		if (f.type == CTL_FAIL) {
			r = err_set(err, EIO, "%s",
				    vm_guest_text(f.data, f.len, (char *)buf,
						  sizeof(buf)));
			break;
		}
		if (f.type != CTL_EXIT)
			continue;
		if (f.len == 4 && get_u32(f.data) == 0) {
			r = 0;
			break;
		}
		while (msg.len && msg.buf[msg.len - 1] == '\n')
			msg.buf[--msg.len] = '\0';
		r = err_set(err, EIO, "in the vm: %s",
			    msg.len ? vm_guest_text(msg.buf, msg.len,
						    (char *)buf, sizeof(buf))
				    : "the copy failed");
		break;
	}
out:
	strbuf_release(&msg);
	ctl_fields_release(&fl);
	ctl_reader_release(&rd);
	return r;
}
