/* One side of a proxied connection.  See stream.h.
 *
 * Three events drive a stream: rev and wev on the socket, and later, an
 * event without a socket that is made active (event_active(): no system
 * call) for work queued from outside the stream's own callbacks: writing
 * what a callback queued, reading what TLS already holds, a connect that
 * failed at once.  It runs in the same loop turn, once the callback that
 * queued it has returned.  update() puts rev and wev into the epoll set
 * exactly when the stream must wait that way. */
#include "bundle/stream.h"

#include "bundle/tls.h"
#include "bundle/tls_io.h"

#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_MAX (64 * 1024) /* per read(2) when no high mark is lower */

enum { LATER_READ = 1, LATER_WRITE = 2, LATER_ERROR = 4 };

struct stream {
	struct event_base *base;
	int fd;
	struct event *rev, *wev, *later;
	struct evbuffer *in, *out;
	struct evbuffer *clear; /* sent in the clear before TLS begins */
	struct tls_io *tls;

	stream_data_cb readcb, writecb;
	stream_event_cb eventcb;
	void *arg;
	size_t read_high, write_low;
	struct timeval rtv, wtv;
	bool has_rtv, has_wtv;
	short enabled; /* EV_READ, EV_WRITE */

	unsigned later_what; /* LATER_* */
	int later_errno;
	bool connecting;
	bool handshaking;
	bool hs_write;	    /* the handshake waits for writable */
	bool read_closed;   /* EOF or an error: nothing more to read */
	bool read_full;	    /* reading stopped at the high mark */
	bool write_blocked; /* the output waits for writable */
	bool read_wants_write, write_wants_read; /* TLS, rarely */
	size_t wlen; /* a TLS write of this many bytes is to be retried */
	int busy;    /* handlers on the stack */
	bool dead;   /* freed from a callback: destroy on the way out */
};

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_later(evutil_socket_t fd, short what, void *arg);

/* ---- events ------------------------------------------------------------ */

static bool input_full(const struct stream *s)
{
	return s->read_high && evbuffer_get_length(s->in) >= s->read_high;
}

static void set_event(struct event *ev, bool on, const struct timeval *tv)
{
	bool pending = event_pending(ev, EV_READ | EV_WRITE, NULL);

	if (on && !pending)
		event_add(ev, tv);
	else if (!on && pending)
		event_del(ev);
}

/* Wait on the socket for what the stream needs next, and nothing else. */
static void update(struct stream *s)
{
	bool r = false, w = false;

	if (s->dead || !s->rev)
		return;
	if (s->connecting) {
		w = s->enabled & EV_WRITE;
	} else if (s->handshaking) {
		bool hw =
		    s->hs_write || (s->clear && evbuffer_get_length(s->clear));
		w = hw && (s->enabled & EV_WRITE);
		r = !hw && (s->enabled & EV_READ);
	} else {
		r = ((s->enabled & EV_READ) && !s->read_closed &&
		     !input_full(s)) ||
		    s->write_wants_read;
		w = (s->write_blocked && (s->enabled & EV_WRITE)) ||
		    s->read_wants_write;
	}
	set_event(s->rev, r, s->has_rtv ? &s->rtv : NULL);
	set_event(s->wev, w, s->has_wtv ? &s->wtv : NULL);
}

static void later(struct stream *s, unsigned what)
{
	if (!s->later_what)
		event_active(s->later, EV_TIMEOUT, 0);
	s->later_what |= what;
}

/* Also for a stream half made (stream_new()). */
static void destroy(struct stream *s)
{
	if (s->rev)
		event_free(s->rev);
	if (s->wev)
		event_free(s->wev);
	if (s->later)
		event_free(s->later);
	if (s->in)
		evbuffer_free(s->in);
	if (s->out)
		evbuffer_free(s->out);
	if (s->clear)
		evbuffer_free(s->clear);
	tls_io_free(s->tls);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

static void enter(struct stream *s)
{
	s->busy++;
}

static void leave(struct stream *s)
{
	if (--s->busy == 0 && s->dead)
		destroy(s);
}

/* Tell the owner; false when it freed the stream meanwhile. */
static bool report(struct stream *s, short what, int err)
{
	if (s->eventcb) {
		errno = err;
		s->eventcb(s, what, s->arg);
	}
	return !s->dead;
}

/* Nothing more either way: an error. */
static void fail(struct stream *s, short what, int err)
{
	s->enabled = 0;
	s->read_closed = true;
	s->write_blocked = s->read_wants_write = s->write_wants_read = false;
	update(s);
	report(s, what | STREAM_ERROR, err);
}

/* ---- reading ----------------------------------------------------------- */

static size_t room(const struct stream *s)
{
	size_t have = evbuffer_get_length(s->in);

	if (!s->read_high)
		return READ_MAX;
	if (have >= s->read_high)
		return 0;
	return s->read_high - have < READ_MAX ? s->read_high - have : READ_MAX;
}

/* How a read ended; what it added is in the input. */
enum read_end { READ_AGAIN, READ_EOF, READ_ERROR /* errno */ };

/* Plain: one readv(2) into the input. */
static enum read_end read_plain(struct stream *s, size_t max)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int nv = evbuffer_reserve_space(s->in, (ssize_t)max, v, 2);
	size_t left;
	ssize_t n;

	if (nv < 1) {
		errno = ENOMEM;
		return READ_ERROR;
	}
	/* The extents may be larger than asked for: no more than max. */
	left = max;
	for (int i = 0; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	n = readv(s->fd, iov, nv);
	if (n == 0)
		return READ_EOF;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? READ_AGAIN
							 : READ_ERROR;
	left = (size_t)n;
	for (int i = 0; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(s->in, v, v[nv - 1].iov_len ? nv : 1);
	return READ_AGAIN;
}

/* TLS: records until nothing is buffered, or the input is full. */
static enum read_end read_tls(struct stream *s)
{
	size_t max;

	while ((max = room(s))) {
		struct evbuffer_iovec v;
		size_t got;
		enum tls_io_result r;

		if (max > TLS_RECORD_MAX)
			max = TLS_RECORD_MAX;
		if (evbuffer_reserve_space(s->in, (ssize_t)max, &v, 1) < 1) {
			errno = ENOMEM;
			return READ_ERROR;
		}
		r = tls_io_read(s->tls, v.iov_base,
				v.iov_len < max ? v.iov_len : max, &got);
		if (r == TLS_IO_OK) {
			v.iov_len = got;
			evbuffer_commit_space(s->in, &v, 1);
			if (!tls_io_pending(s->tls))
				break;
			continue;
		}
		if (r == TLS_IO_WANT_WRITE)
			s->read_wants_write = true;
		else if (r == TLS_IO_EOF)
			return READ_EOF;
		else if (r == TLS_IO_ERROR)
			return READ_ERROR;
		break;
	}
	return READ_AGAIN;
}

static void do_read(struct stream *s)
{
	size_t before = evbuffer_get_length(s->in);
	size_t max = room(s);
	enum read_end r = READ_AGAIN;
	int err = 0;

	if (!(s->enabled & EV_READ) || s->read_closed || s->handshaking ||
	    s->connecting)
		return;
	if (max)
		r = s->tls ? read_tls(s) : read_plain(s, max);
	if (r == READ_ERROR)
		err = errno;
	s->read_full = input_full(s);
	update(s);
	/* What came before an end is the owner's first. */
	if (evbuffer_get_length(s->in) > before && s->readcb) {
		s->readcb(s, s->arg);
		if (s->dead)
			return;
	}
	if (r == READ_EOF) {
		s->read_closed = true;
		s->enabled &= ~EV_READ;
		update(s);
		report(s, STREAM_READING | STREAM_EOF, 0);
	} else if (r == READ_ERROR) {
		fail(s, STREAM_READING, err);
	}
}

/* ---- writing ----------------------------------------------------------- */

static void do_write(struct stream *s)
{
	bool wrote = false;
	int err = 0;

	if (!(s->enabled & EV_WRITE) || s->connecting || s->handshaking)
		return;
	s->write_blocked = false;
	while (evbuffer_get_length(s->out)) {
		if (s->tls) {
			size_t n = s->wlen;
			const void *p;
			enum tls_io_result r;

			/* Up to a record's worth made one piece: a response
			 * head and its body go as one record, one segment and
			 * one wake-up of the reader. */
			if (!n) {
				n = evbuffer_get_length(s->out);
				if (n > TLS_RECORD_MAX)
					n = TLS_RECORD_MAX;
			}
			p = evbuffer_pullup(s->out, (ssize_t)n);
			if (!p) {
				err = ENOMEM;
				break;
			}
			r = tls_io_write(s->tls, p, n);
			if (r == TLS_IO_OK) {
				evbuffer_drain(s->out, n);
				s->wlen = 0;
				wrote = true;
				continue;
			}
			s->wlen = n;
			if (r == TLS_IO_WANT_WRITE)
				s->write_blocked = true;
			else if (r == TLS_IO_WANT_READ)
				s->write_wants_read = true;
			else if (r == TLS_IO_EOF || !(err = errno))
				err = EPIPE;
			break;
		} else {
			int n = evbuffer_write(s->out, s->fd);

			if (n > 0) {
				wrote = true;
				/* Short: the socket is full (or the output has
				 * more pieces than one writev(2) takes). */
				s->write_blocked =
				    evbuffer_get_length(s->out) > 0;
				break;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				s->write_blocked = true;
			else
				err = n < 0 ? errno : EPIPE;
			break;
		}
	}
	if (err) {
		fail(s, STREAM_WRITING, err);
		return;
	}
	update(s);
	if (wrote && evbuffer_get_length(s->out) <= s->write_low && s->writecb)
		s->writecb(s, s->arg);
}

/* ---- connecting and the handshake ---------------------------------------- */

static void handshake(struct stream *s)
{
	enum tls_io_result r;

	if (s->clear && evbuffer_get_length(s->clear)) {
		int n = evbuffer_write(s->clear, s->fd);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fail(s, 0, errno);
			return;
		}
		if (evbuffer_get_length(s->clear)) {
			update(s);
			return;
		}
	}
	r = tls_io_handshake(s->tls);
	if (r == TLS_IO_WANT_READ || r == TLS_IO_WANT_WRITE) {
		s->hs_write = r == TLS_IO_WANT_WRITE;
		update(s);
		return;
	}
	if (r != TLS_IO_OK) {
		fail(s, 0, r == TLS_IO_EOF ? 0 : errno);
		return;
	}
	s->handshaking = false;
	update(s);
	if (!report(s, STREAM_CONNECTED, 0))
		return;
	/* What came with the handshake's last flight, and what the owner
	 * queued meanwhile. */
	if (tls_io_pending(s->tls))
		later(s, LATER_READ);
	if (evbuffer_get_length(s->out))
		later(s, LATER_WRITE);
}

static void connected(struct stream *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		s->connecting = false;
		fail(s, 0, err);
		return;
	}
	s->connecting = false;
	if (s->tls) {
		tls_io_set_fd(s->tls, s->fd);
		s->handshaking = true;
		handshake(s);
		return;
	}
	update(s);
	if (report(s, STREAM_CONNECTED, 0) && evbuffer_get_length(s->out))
		do_write(s);
}

/* ---- the handlers ------------------------------------------------------ */

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	enter(s);
	if (what & EV_TIMEOUT) {
		s->enabled &= ~EV_READ;
		update(s);
		report(s, STREAM_READING | STREAM_TIMEOUT, ETIMEDOUT);
	} else if (s->handshaking) {
		handshake(s);
	} else {
		if (s->write_wants_read) {
			s->write_wants_read = false;
			do_write(s);
		}
		if (!s->dead)
			do_read(s);
	}
	leave(s);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;

	(void)fd;
	enter(s);
	if (what & EV_TIMEOUT) {
		s->enabled &= ~EV_WRITE;
		update(s);
		report(s, STREAM_WRITING | STREAM_TIMEOUT, ETIMEDOUT);
	} else if (s->connecting) {
		connected(s);
	} else if (s->handshaking) {
		handshake(s);
	} else {
		if (s->read_wants_write) {
			s->read_wants_write = false;
			do_read(s);
		}
		if (!s->dead)
			do_write(s);
	}
	leave(s);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	unsigned w = s->later_what;

	(void)fd;
	(void)what;
	s->later_what = 0;
	enter(s);
	if (w & LATER_ERROR) {
		fail(s, 0, s->later_errno);
	} else {
		if (w & LATER_READ) {
			if (s->handshaking)
				handshake(s);
			else
				do_read(s);
		}
		if ((w & LATER_WRITE) && !s->dead)
			do_write(s);
	}
	leave(s);
}

/* Input drained below the high mark: read again. */
static void in_cb(struct evbuffer *b, const struct evbuffer_cb_info *info,
		  void *arg)
{
	struct stream *s = arg;

	(void)b;
	if (!info->n_deleted || !s->read_full || input_full(s))
		return;
	s->read_full = false;
	update(s);
	if (s->tls && !s->handshaking && tls_io_pending(s->tls))
		later(s, LATER_READ);
}

/* Output queued: write it once the caller's callback has returned. */
static void out_cb(struct evbuffer *b, const struct evbuffer_cb_info *info,
		   void *arg)
{
	struct stream *s = arg;

	(void)b;
	if (info->n_added && !s->write_blocked && !s->write_wants_read)
		later(s, LATER_WRITE);
}

/* ---- the interface ----------------------------------------------------- */

static int make_events(struct stream *s)
{
	s->rev = event_new(s->base, s->fd, EV_READ | EV_PERSIST, on_read, s);
	s->wev = event_new(s->base, s->fd, EV_WRITE | EV_PERSIST, on_write, s);
	return s->rev && s->wev ? 0 : -1;
}

struct stream *stream_new(struct event_base *base, int fd)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	s->base = base;
	s->fd = fd;
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	s->later = event_new(base, -1, 0, on_later, s);
	if (!s->in || !s->out || !s->later || (fd >= 0 && make_events(s)) ||
	    !evbuffer_add_cb(s->in, in_cb, s) ||
	    !evbuffer_add_cb(s->out, out_cb, s)) {
		destroy(s);
		return NULL;
	}
	return s;
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (!s->busy) {
		destroy(s);
		return;
	}
	s->dead = true;
	if (s->rev)
		event_del(s->rev);
	if (s->wev)
		event_del(s->wev);
	event_del(s->later);
}

void stream_setcb(struct stream *s, stream_data_cb readcb,
		  stream_data_cb writecb, stream_event_cb eventcb, void *arg)
{
	s->readcb = readcb;
	s->writecb = writecb;
	s->eventcb = eventcb;
	s->arg = arg;
}

void stream_set_marks(struct stream *s, size_t read_high, size_t write_low)
{
	s->read_high = read_high;
	s->write_low = write_low;
	s->read_full = input_full(s);
	update(s);
}

/* A pending event's timeout changes only when it is added again. */
static void retime(struct event *ev, const struct timeval *tv)
{
	if (ev && event_pending(ev, EV_READ | EV_WRITE, NULL))
		event_add(ev, tv);
}

void stream_set_timeouts(struct stream *s, const struct timeval *rd,
			 const struct timeval *wr)
{
	s->has_rtv = rd != NULL;
	s->has_wtv = wr != NULL;
	if (rd)
		s->rtv = *rd;
	if (wr)
		s->wtv = *wr;
	retime(s->rev, rd);
	retime(s->wev, wr);
}

void stream_enable(struct stream *s, short what)
{
	s->enabled |= what & (EV_READ | EV_WRITE);
	update(s);
	if ((what & EV_READ) && s->tls && !s->handshaking &&
	    tls_io_pending(s->tls))
		later(s, LATER_READ);
	if ((what & EV_WRITE) && evbuffer_get_length(s->out) &&
	    !s->write_blocked)
		later(s, LATER_WRITE);
}

void stream_disable(struct stream *s, short what)
{
	s->enabled &= ~(what & (EV_READ | EV_WRITE));
	update(s);
}

struct evbuffer *stream_input(struct stream *s)
{
	return s->in;
}

struct evbuffer *stream_output(struct stream *s)
{
	return s->out;
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

int stream_tls_server(struct stream *s, SSL_CTX *ctx)
{
	size_t n = evbuffer_get_length(s->in);
	const void *held = n ? evbuffer_pullup(s->in, (ssize_t)n) : NULL;
	struct tls_io *t;

	if (n && !held)
		return -1;
	if (evbuffer_get_length(s->out) && !s->clear &&
	    !(s->clear = evbuffer_new()))
		return -1;
	if (!(t = tls_io_server(ctx, s->fd, held, n)))
		return -1;
	evbuffer_drain(s->in, n);
	if (s->clear)
		evbuffer_add_buffer(s->clear, s->out);
	s->tls = t;
	s->handshaking = true;
	s->hs_write = s->write_blocked = false;
	s->read_full = false;
	later(s, LATER_READ);
	return 0;
}

int stream_tls_client(struct stream *s, SSL_CTX *ctx, const char *host)
{
	struct tls_io *t = tls_io_client(ctx, host);

	if (!t)
		return -1;
	s->tls = t;
	return 0;
}

int stream_connect(struct stream *s, const struct sockaddr *sa, socklen_t len)
{
	int fd =
	    socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   IPPROTO_TCP);

	if (fd < 0) {
		/* As a failed connect: the owner may try another address
		 * (EAFNOSUPPORT for IPv6 on a host without it). */
		s->later_errno = errno;
		later(s, LATER_ERROR);
		return 0;
	}
	s->fd = fd;
	if (make_events(s) < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS &&
	    errno != EINTR) {
		s->later_errno = errno;
		later(s, LATER_ERROR);
		return 0;
	}
	/* Done or not, writable says so (SO_ERROR). */
	s->connecting = true;
	update(s);
	return 0;
}

bool stream_tls_failure(const struct stream *s, char *buf, size_t len)
{
	if (!s->tls) {
		buf[0] = '\0';
		return false;
	}
	return tls_io_failure(s->tls, buf, len);
}
