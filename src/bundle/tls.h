/* TLS for the bundle: the agent-facing side (leaf certificates minted by
 * the bottle's CA, cached per host) and the upstream side (verifying the
 * real servers).  tls_io.c makes the SSL objects of the proxy's streams
 * from the contexts returned here. */
#ifndef BOTTLE_BUNDLE_TLS_H
#define BOTTLE_BUNDLE_TLS_H

#include "lib/err.h"

#include <openssl/ssl.h>
#include <stddef.h>

/* Plaintext bytes in one TLS record (RFC 8446 5.1). */
#define TLS_RECORD_MAX 16384

/* Most leaf contexts a tls_ca keeps; the least recently used goes first. */
#define TLS_CA_CACHE_MAX 1024

/* The loaded CA (key + cert), one EC P-256 key shared by all its leaves,
 * and the leaf cache.  Not thread-safe: one per event loop. */
struct tls_ca;

/* Load the CA from dir (see ca_load() in lib/ca.h for the checks on
 * ca.key) and generate the shared leaf key.  *out is the caller's, to
 * free with tls_ca_free().  0 or -errno with err; *out NULL on error. */
int tls_ca_load(const char *dir, struct tls_ca **out, struct error *err)
    __attribute__((warn_unused_result));

/* Free the CA, its keys (OpenSSL clears private key material on free) and
 * the cache.  NULL is fine.  SSL objects made from cached contexts stay
 * valid (each holds a reference on its SSL_CTX). */
void tls_ca_free(struct tls_ca *ca);

/* The SSL_CTX for the agent-facing (server) side of a connection to host,
 * a DNS name or an IP literal (IPv6 with or without brackets).  Its leaf
 * has a SAN (DNS or IP) for host, EC P-256 key, is signed by the CA with
 * SHA-256, valid now-1h .. +30 days (never beyond the CA), random serial,
 * extendedKeyUsage serverAuth, AKI.  ALPN selects "http/1.1" only (a client
 * offering only h2 gets no ALPN).  Min TLS 1.2.
 *
 * Minted on first use and cached per host (case-insensitive; LRU, at most
 * TLS_CA_CACHE_MAX entries).  The cache owns the returned ctx: SSL_new()
 * from it right away and never free it; a later call may evict it, which
 * only drops the cache's reference.  NULL with err (-EINVAL for a host that
 * is neither a DNS name of [A-Za-z0-9.-_] nor an IP literal, -ENOMEM). */
SSL_CTX *tls_ca_server_ctx(struct tls_ca *ca, const char *host,
			   struct error *err);

/* Number of cached leaf contexts. */
size_t tls_ca_cache_size(const struct tls_ca *ca);

/* The upstream (client) side, one per bundle: verifies against the system
 * store plus, if extra_ca_file != NULL, the certificates in that PEM file;
 * min TLS 1.2; ALPN "http/1.1"; client sessions cached per host name and
 * resumed by tls_client_ssl_new().  The caller owns it
 * (tls_client_ctx_free()).
 * NULL with err. */
SSL_CTX *tls_client_ctx_new(const char *extra_ca_file, struct error *err);
/* SSL_CTX_free(), for callers that do not call OpenSSL themselves (the
 * bundle proper; see stage.h).  NULL is fine. */
void tls_client_ctx_free(SSL_CTX *ctx);

/* A client SSL (caller owns it: SSL_free) for host (a DNS name, or an IP
 * literal, IPv6 with or without brackets): SNI (not for IP literals),
 * hostname verification (IP address check for literals), SSL_VERIFY_PEER,
 * and a cached session for host if there is one (sessions are kept only
 * from connections that verified their peer and, as OpenSSL has it, were
 * closed with SSL_shutdown()).  NULL on ENOMEM or an unusable host (not a
 * DNS name of [A-Za-z0-9.-_] nor an IP literal). */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host);

/* A human reason for a failed handshake on ssl, for the 502 the agent
 * gets: "certificate verify failed: <reason>", "hostname mismatch", or
 * the OpenSSL error queued by the failure (read it before the queue is
 * cleared), else "TLS handshake failed".  Written into buf (len >= 1);
 * returns buf.  Clears the thread's OpenSSL error queue. */
const char *tls_upstream_error(SSL *ssl, char *buf, size_t len);

#endif
