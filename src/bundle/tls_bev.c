/* TLS over libevent.  See tls_bev.h. */
#include "bundle/tls_bev.h"

#include "bundle/tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdio.h>

struct bufferevent *tls_bev_server(struct event_base *base, SSL_CTX *ctx,
				   evutil_socket_t fd,
				   struct bufferevent *under)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	if (under)
		bev = bufferevent_openssl_filter_new(base, under, ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_openssl_socket_new(base, fd, ssl,
						     BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

struct bufferevent *tls_bev_client(struct event_base *base, SSL_CTX *ctx,
				   const char *host)
{
	SSL *ssl = tls_client_ssl_new(ctx, host);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	return bev;
}

bool tls_bev_failure(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	const char *reason = NULL;

	buf[0] = '\0';
	if (!ssl)
		return false;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		tls_upstream_error(ssl, buf, len);
		return true;
	}
	e = bufferevent_get_openssl_error(bev);
	if (e)
		reason = ERR_reason_error_string(e);
	if (reason)
		snprintf(buf, len, "%s", reason);
	return false;
}
