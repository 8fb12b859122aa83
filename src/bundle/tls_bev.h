/* TLS over libevent: the bufferevents the proxy puts on the agent's and
 * the upstream's sockets, from the contexts of tls.h.  Kept apart from
 * tls.c so that the proxy never calls OpenSSL itself: both live in the
 * bundle's stage module (stage.h), loaded at first use. */
#ifndef BOTTLE_BUNDLE_TLS_BEV_H
#define BOTTLE_BUNDLE_TLS_BEV_H

#include <event2/util.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;

/* The agent-facing TLS server end with a leaf context from
 * tls_ca_server_ctx(): on the socket fd, or, when under is not NULL, as a
 * filter over that plain bufferevent (for bytes it already holds).  The
 * new bufferevent owns fd or under (BEV_OPT_CLOSE_ON_FREE); on failure
 * (NULL, out of memory) they stay the caller's. */
struct bufferevent *tls_bev_server(struct event_base *base, SSL_CTX *ctx,
				   evutil_socket_t fd,
				   struct bufferevent *under);

/* An upstream TLS client for host (tls_client_ssl_new()), to be connected
 * with bufferevent_socket_connect().  NULL when out of memory or for a
 * host that is neither a DNS name nor an IP literal. */
struct bufferevent *tls_bev_client(struct event_base *base, SSL_CTX *ctx,
				   const char *host);

/* After a failed connect of a tls_bev_client() bufferevent: true when the
 * upstream's certificate did not verify, with the reason in buf (see
 * tls_upstream_error()); else false, with OpenSSL's reason for the
 * failure in buf, or "" when it gave none.  len >= 1. */
bool tls_bev_failure(struct bufferevent *bev, char *buf, size_t len);

#endif
