/* TLS on a non-blocking socket, for stream.h: an SSL over a BIO of our
 * own that reads and writes the fd directly.  Reads ahead (a burst of
 * records costs one read(2)), and can be given bytes already read off the
 * socket before TLS began (a ClientHello that came with the CONNECT).
 *
 * Kept apart from stream.c so that the proxy never calls OpenSSL itself:
 * this lives in the bundle's stage module (stage.h), loaded at first use.
 * Not thread-safe; the error queue is the calling thread's. */
#ifndef BOTTLE_BUNDLE_TLS_IO_H
#define BOTTLE_BUNDLE_TLS_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct tls_io;

enum tls_io_result {
	TLS_IO_OK,
	TLS_IO_WANT_READ,  /* wait until the fd is readable, then retry */
	TLS_IO_WANT_WRITE, /* wait until the fd is writable, then retry */
	TLS_IO_EOF,	   /* the peer's close_notify */
	TLS_IO_ERROR,	   /* see tls_io_failure(); errno for a socket error */
};

/* The agent-facing server end on fd, with a leaf context from
 * tls_ca_server_ctx(); held (n bytes, copied) is what was read off fd
 * before TLS began, read first.  NULL when out of memory. */
struct tls_io *tls_io_server(SSL_CTX *ctx, int fd, const void *held, size_t n);

/* An upstream client end for host (tls_client_ssl_new()); its fd is set
 * once connected (tls_io_set_fd()).  NULL when out of memory or for a
 * host that is neither a DNS name nor an IP literal. */
struct tls_io *tls_io_client(SSL_CTX *ctx, const char *host);
void tls_io_set_fd(struct tls_io *t, int fd);

/* Free t (the fd stays open: it is the caller's).  NULL is fine. */
void tls_io_free(struct tls_io *t);

/* Advance the handshake: TLS_IO_OK once it is done. */
enum tls_io_result tls_io_handshake(struct tls_io *t);

/* Up to len plaintext bytes into buf (*got of them on TLS_IO_OK). */
enum tls_io_result tls_io_read(struct tls_io *t, void *buf, size_t len,
			       size_t *got);

/* Whether bytes read off the socket wait in t, undecrypted or not yet
 * returned by tls_io_read(): reading again needs no readable fd. */
bool tls_io_pending(const struct tls_io *t);

/* len bytes (one record at most: <= 16384) from buf, whole on TLS_IO_OK.
 * After TLS_IO_WANT_*, retry with the same bytes (they may move). */
enum tls_io_result tls_io_write(struct tls_io *t, const void *buf, size_t len);

/* After TLS_IO_ERROR: true when the peer's certificate did not verify,
 * with the reason in buf (tls_upstream_error()); else false, with
 * OpenSSL's reason for the failure in buf, or "" when it gave none.
 * len >= 1. */
bool tls_io_failure(const struct tls_io *t, char *buf, size_t len);

#endif
