/* TLS on a non-blocking socket.  See tls_io.h. */
#include "bundle/tls_io.h"

#include "bundle/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tls_io {
	SSL *ssl;
	int fd;
	unsigned char *held; /* read off fd before TLS began */
	size_t held_len, held_off;
	unsigned long err; /* the OpenSSL error of the last TLS_IO_ERROR */
};

/* ---- the BIO: the socket itself, held bytes first --------------------- */

static int bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct tls_io *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (t->held_off < t->held_len) {
		n = (ssize_t)(t->held_len - t->held_off);
		if ((size_t)n > len)
			n = (ssize_t)len;
		memcpy(buf, t->held + t->held_off, (size_t)n);
		t->held_off += (size_t)n;
		if (t->held_off == t->held_len) {
			free(t->held);
			t->held = NULL;
			t->held_len = t->held_off = 0;
		}
		*got = (size_t)n;
		return 1;
	}
	n = read(t->fd, buf, len);
	if (n > 0) {
		*got = (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	else if (n == 0)
		errno = 0; /* the peer closed without close_notify */
	*got = 0;
	return 0;
}

static int bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
	struct tls_io *t = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(t->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) {
		*put = (size_t)n;
		return 1;
	}
	if (errno == EAGAIN || errno == EINTR)
		BIO_set_retry_write(b);
	*put = 0;
	return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH; /* writes are never buffered here */
}

static BIO_METHOD *method;

static void method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "bottle socket");

	if (m && (!BIO_meth_set_read_ex(m, bio_read) ||
		  !BIO_meth_set_write_ex(m, bio_write) ||
		  !BIO_meth_set_ctrl(m, bio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	method = m;
}

/* ---- connections ------------------------------------------------------ */

static struct tls_io *io_new(SSL *ssl, int fd)
{
	static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
	struct tls_io *t;
	BIO *bio;

	if (!ssl)
		return NULL;
	if (!CRYPTO_THREAD_run_once(&once, method_init) || !method ||
	    !(t = calloc(1, sizeof(*t)))) {
		SSL_free(ssl);
		return NULL;
	}
	if (!(bio = BIO_new(method))) {
		SSL_free(ssl);
		free(t);
		return NULL;
	}
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio);
	/* A burst of records in one read(2); tls_io_pending() tells the
	 * caller to come back without waiting for the fd. */
	SSL_set_read_ahead(ssl, 1);
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	t->ssl = ssl;
	t->fd = fd;
	return t;
}

struct tls_io *tls_io_server(SSL_CTX *ctx, int fd, const void *held, size_t n)
{
	struct tls_io *t = io_new(SSL_new(ctx), fd);

	if (!t)
		return NULL;
	SSL_set_accept_state(t->ssl);
	if (n) {
		if (!(t->held = malloc(n))) {
			tls_io_free(t);
			return NULL;
		}
		memcpy(t->held, held, n);
		t->held_len = n;
	}
	return t;
}

struct tls_io *tls_io_client(SSL_CTX *ctx, const char *host)
{
	return io_new(tls_client_ssl_new(ctx, host), -1);
}

void tls_io_set_fd(struct tls_io *t, int fd)
{
	t->fd = fd;
}

void tls_io_free(struct tls_io *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* and the BIO */
	free(t->held);
	free(t);
}

/* What an SSL call that returned r <= 0 means; errno is kept for a socket
 * error.  Each call starts with an empty error queue (SSL_get_error()
 * would take an error left by anything else for its own). */
static enum tls_io_result result(struct tls_io *t, int r)
{
	int saved = errno, e = SSL_get_error(t->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_EOF;
	default:
		t->err = ERR_peek_last_error();
		ERR_clear_error();
		errno = e == SSL_ERROR_SYSCALL ? saved : 0;
		return TLS_IO_ERROR;
	}
}

enum tls_io_result tls_io_handshake(struct tls_io *t)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	return r == 1 ? TLS_IO_OK : result(t, r);
}

enum tls_io_result tls_io_read(struct tls_io *t, void *buf, size_t len,
			       size_t *got)
{
	*got = 0;
	ERR_clear_error();
	if (SSL_read_ex(t->ssl, buf, len, got))
		return TLS_IO_OK;
	return result(t, 0);
}

bool tls_io_pending(const struct tls_io *t)
{
	return t->held_off < t->held_len || SSL_has_pending(t->ssl);
}

enum tls_io_result tls_io_write(struct tls_io *t, const void *buf, size_t len)
{
	size_t put;

	ERR_clear_error();
	if (SSL_write_ex(t->ssl, buf, len, &put))
		return TLS_IO_OK;
	return result(t, 0);
}

bool tls_io_failure(const struct tls_io *t, char *buf, size_t len)
{
	const char *reason = NULL;

	buf[0] = '\0';
	if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
		tls_upstream_error(t->ssl, buf, len);
		return true;
	}
	if (t->err)
		reason = ERR_reason_error_string(t->err);
	if (reason)
		snprintf(buf, len, "%s", reason);
	return false;
}
