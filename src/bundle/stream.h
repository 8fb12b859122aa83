/* One side of a proxied connection: a non-blocking socket, plain or TLS
 * (tls_io.h), with an input and an output evbuffer.  What proxy.c reads
 * from and writes to, on the agent's side and upstream.
 *
 * The model is libevent's bufferevent, cut to what the proxy needs and
 * built for its traffic of small request/response exchanges:
 *   - output is written as soon as the callback that queued it returns,
 *     not on the next loop turn; EPOLLOUT is asked for only when the
 *     socket is full (a bufferevent adds and removes it for every write:
 *     two epoll_ctl(2) per write);
 *   - TLS reads ahead: a record costs one read(2), not two (header, then
 *     body), and none is spent to learn that nothing more is there.
 *
 * Callbacks: read after new input, write after output was written and
 * what is left is at most the write low mark, event for the rest
 * (STREAM_* flags).  A stream may be freed from inside its own callbacks.
 * Reading stops by itself while the input holds the read high mark or
 * more, and resumes once the reader drains it below. */
#ifndef BOTTLE_BUNDLE_STREAM_H
#define BOTTLE_BUNDLE_STREAM_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>

struct event_base;
struct evbuffer;
struct stream;

enum {
	STREAM_READING = 0x01,	 /* with EOF, ERROR, TIMEOUT: which way */
	STREAM_WRITING = 0x02,	 /* (none for connect errors) */
	STREAM_EOF = 0x10,	 /* the peer closed its sending side */
	STREAM_ERROR = 0x20,	 /* errno, or stream_tls_failure() */
	STREAM_TIMEOUT = 0x40,	 /* no progress that way for the timeout */
	STREAM_CONNECTED = 0x80, /* connected, TLS handshake done */
};

typedef void (*stream_data_cb)(struct stream *s, void *arg);
typedef void (*stream_event_cb)(struct stream *s, short what, void *arg);

/* A stream on a connected socket fd, or, with fd -1, one to connect with
 * stream_connect().  It owns fd from now on (closed by stream_free(), or
 * here when out of memory: NULL). */
struct stream *stream_new(struct event_base *base, int fd);

/* Close the socket and free the stream; NULL is fine.  From inside one of
 * its callbacks, the rest waits until that returns. */
void stream_free(struct stream *s);

void stream_setcb(struct stream *s, stream_data_cb readcb,
		  stream_data_cb writecb, stream_event_cb eventcb, void *arg);

/* Read high mark (0: none) and write low mark for the write callback. */
void stream_set_marks(struct stream *s, size_t read_high, size_t write_low);

/* Timeouts for each direction (NULL: none), counted while the stream waits
 * that way; a timeout turns that direction off (STREAM_TIMEOUT), and
 * stream_enable() turns it back on. */
void stream_set_timeouts(struct stream *s, const struct timeval *rd,
			 const struct timeval *wr);

/* EV_READ, EV_WRITE: whether the stream reads, and writes its output. */
void stream_enable(struct stream *s, short what);
void stream_disable(struct stream *s, short what);

struct evbuffer *stream_input(struct stream *s);
struct evbuffer *stream_output(struct stream *s);
int stream_fd(const struct stream *s);

/* Become the TLS server end, with a leaf context from tls_ca_server_ctx():
 * what the output holds goes out first in the clear, and what the input
 * holds is the start of the handshake.  STREAM_CONNECTED when the
 * handshake is done.  -1 when out of memory (the stream is unchanged). */
int stream_tls_server(struct stream *s, SSL_CTX *ctx);

/* Speak TLS to host (tls_io_client()) once stream_connect() is done.
 * -1 when out of memory or for an unusable host. */
int stream_tls_client(struct stream *s, SSL_CTX *ctx, const char *host);

/* Connect to sa; STREAM_CONNECTED or STREAM_ERROR (with errno, also
 * for a socket that could not be made) follow, never from inside this
 * call.  -1 when out of memory. */
int stream_connect(struct stream *s, const struct sockaddr *sa, socklen_t len);

/* After STREAM_ERROR on a TLS stream: see tls_io_failure().  false with
 * buf "" for a plain one. */
bool stream_tls_failure(const struct stream *s, char *buf, size_t len);

#endif
