/* TLS for the bundle: leaf minting and caching, server and client
 * contexts.  See tls.h.
 *
 * Minting follows sslsplit: one EC key for every leaf of a CA, generated at
 * load, so a miss costs one ECDSA signature and an SSL_CTX, not a keygen.
 * Sharing the key is fine here: every leaf is trusted only by this bottle,
 * which already trusts the CA that signs them.
 *
 * NEEDSWORK: a miss still costs ~0.3-0.7 ms on OpenSSL 3.0, most of it in
 * X509_set_pubkey() (a round trip through the encoder and decoder
 * frameworks, ~0.3 ms; X509_dup() of a template costs the same) and
 * SSL_CTX_new() (~0.2 ms, fetching every algorithm).  The cache makes it
 * once per host per bottle; OpenSSL 3.2's decoder cache removes most of it.
 */
#include "bundle/tls.h"

#include "lib/ca.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_DAYS   30
#define HOST_MAX    255	 /* RFC 1035; also fits any IP literal */
#define BUCKETS	    2048 /* > TLS_CA_CACHE_MAX: chains stay short */
#define SESS_SLOTS  256
#define ALPN_HTTP11 "\x08http/1.1"

/* Extensions shared by every leaf of a CA, built once. */
enum { EXT_BC, EXT_KU, EXT_EKU, EXT_AKI, EXT_COUNT };

struct leaf {
	struct leaf *hnext;	  /* hash chain */
	struct leaf *prev, *next; /* LRU list, most recent first */
	SSL_CTX *ctx;
	char host[];
};

struct tls_ca {
	EVP_PKEY *key;	    /* the CA's */
	X509 *cert;	    /* the CA's */
	EVP_PKEY *leaf_key; /* shared by all leaves */
	X509_EXTENSION *ext[EXT_COUNT];
	struct leaf *bucket[BUCKETS];
	struct leaf *lru_head, *lru_tail;
	size_t n;
};

/* ---- host names ---- */

/* Normalize host into out (HOST_MAX + 1 bytes): IPv6 brackets dropped, an
 * IP literal in inet_ntop form (*is_ip), a DNS name lowercased.  False if
 * host is neither. */
static bool host_normalize(const char *host, char *out, bool *is_ip)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t len = strlen(host), i;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len > HOST_MAX)
		return false;
	memcpy(out, host, len);
	out[len] = '\0';
	*is_ip = true;
	if (inet_pton(AF_INET, out, addr) == 1)
		return inet_ntop(AF_INET, addr, out, HOST_MAX + 1) != NULL;
	if (inet_pton(AF_INET6, out, addr) == 1)
		return inet_ntop(AF_INET6, addr, out, HOST_MAX + 1) != NULL;
	*is_ip = false;
	for (i = 0; i < len; i++) {
		char c = out[i];

		if (c >= 'A' && c <= 'Z')
			out[i] = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			   c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* ---- minting ---- */

static X509_EXTENSION *make_ext(X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, NULL, 0);
	return X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
}

static int make_exts(struct tls_ca *ca)
{
	ca->ext[EXT_BC] =
	    make_ext(ca->cert, NID_basic_constraints, "critical,CA:FALSE");
	ca->ext[EXT_KU] =
	    make_ext(ca->cert, NID_key_usage, "critical,digitalSignature");
	ca->ext[EXT_EKU] = make_ext(ca->cert, NID_ext_key_usage, "serverAuth");
	/* keyid only: the CA has a subjectKeyIdentifier (ca_ensure) */
	ca->ext[EXT_AKI] =
	    make_ext(ca->cert, NID_authority_key_identifier, "keyid:always");
	for (size_t i = 0; i < EXT_COUNT; i++)
		if (!ca->ext[i])
			return -EINVAL;
	return 0;
}

/* subjectAltName with the one DNS name or IP address; critical when the
 * subject is empty (RFC 5280 4.2.1.6). */
static bool add_san(X509 *x, const char *host, bool is_ip, bool critical)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	bool ok = false;

	if (!gens || !gn)
		goto out;
	if (is_ip && (ip = a2i_IPADDRESS(host)))
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	else if (!is_ip && (dns = ASN1_IA5STRING_new()) &&
		 ASN1_STRING_set(dns, host, (int)strlen(host)))
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	else
		goto out;
	ip = NULL;
	dns = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical,
			       X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return ok;
}

/* Validity now-1h .. +LEAF_DAYS, never past the CA's own notAfter. */
static bool set_validity(X509 *x, X509 *ca_cert)
{
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca_cert);

	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), LEAF_DAYS, 0, NULL))
		return false;
	if (ASN1_TIME_compare(X509_get0_notAfter(x), ca_end) > 0)
		return X509_set1_notAfter(x, ca_end) == 1;
	return true;
}

static X509 *mint(struct tls_ca *ca, const char *host, bool is_ip)
{
	/* a CN is at most 64 characters (RFC 5280 ub-common-name) */
	bool with_cn = strlen(host) <= 64;
	X509 *x = X509_new();
	size_t i;

	if (!x || !X509_set_version(x, X509_VERSION_3) ||
	    ca_random_serial(x) < 0 ||
	    (with_cn && !X509_NAME_add_entry_by_txt(
			    X509_get_subject_name(x), "CN", MBSTRING_ASC,
			    (const unsigned char *)host, -1, -1, 0)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !set_validity(x, ca->cert) || !X509_set_pubkey(x, ca->leaf_key))
		goto fail;
	for (i = 0; i < EXT_COUNT; i++)
		if (!X509_add_ext(x, ca->ext[i], -1))
			goto fail;
	if (!add_san(x, host, is_ip, !with_cn) ||
	    !X509_sign(x, ca->key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* ALPN: http/1.1 or nothing.  The proxy speaks HTTP/1.1 to the agent; an
 * h2-only client is told nothing (NOACK) rather than failed, and will
 * either speak HTTP/1.1 anyway or give up with a clear error of its own. */
static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned int n = in[i];

		if (n > inlen - i - 1)
			break;
		if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx_new(struct tls_ca *ca, X509 *leaf)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_use_certificate(ctx, leaf) ||
	    !SSL_CTX_use_PrivateKey(ctx, ca->leaf_key)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
}

/* ---- the CA and its cache ---- */

int tls_ca_load(const char *dir, struct tls_ca **out, struct error *err)
{
	struct tls_ca *ca = calloc(1, sizeof(*ca));
	char why[256];
	int r;

	*out = NULL;
	if (!ca)
		return err_set(err, ENOMEM,
			       "loading the bottle CA: "
			       "out of memory");
	r = ca_load(dir, &ca->key, &ca->cert, err);
	if (r < 0) {
		free(ca);
		return r;
	}
	ca->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!ca->leaf_key || make_exts(ca) < 0) {
		r = err_set(err, ENOMEM, "preparing leaf certificates: %s",
			    ca_ssl_error(why, sizeof(why)));
		tls_ca_free(ca);
		return r;
	}
	*out = ca;
	return 0;
}

void tls_ca_free(struct tls_ca *ca)
{
	struct leaf *l, *next;
	size_t i;

	if (!ca)
		return;
	for (l = ca->lru_head; l; l = next) {
		next = l->next;
		SSL_CTX_free(l->ctx);
		free(l);
	}
	for (i = 0; i < EXT_COUNT; i++)
		X509_EXTENSION_free(ca->ext[i]);
	EVP_PKEY_free(ca->leaf_key);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca);
}

size_t tls_ca_cache_size(const struct tls_ca *ca)
{
	return ca->n;
}

static size_t host_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % BUCKETS;
}

static void lru_unlink(struct tls_ca *ca, struct leaf *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		ca->lru_head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		ca->lru_tail = l->prev;
	l->prev = l->next = NULL;
}

static void lru_push(struct tls_ca *ca, struct leaf *l)
{
	l->next = ca->lru_head;
	if (ca->lru_head)
		ca->lru_head->prev = l;
	ca->lru_head = l;
	if (!ca->lru_tail)
		ca->lru_tail = l;
}

static void evict_oldest(struct tls_ca *ca)
{
	struct leaf *l = ca->lru_tail, **pp;

	lru_unlink(ca, l);
	for (pp = &ca->bucket[host_hash(l->host)]; *pp != l; pp = &(*pp)->hnext)
		;
	*pp = l->hnext;
	SSL_CTX_free(l->ctx);
	free(l);
	ca->n--;
}

static SSL_CTX *cache_insert(struct tls_ca *ca, const char *host, bool is_ip,
			     struct error *err)
{
	size_t len = strlen(host), b = host_hash(host);
	struct leaf *l = malloc(sizeof(*l) + len + 1);
	char why[256];
	X509 *x = NULL;

	if (l)
		x = mint(ca, host, is_ip);
	if (x)
		l->ctx = server_ctx_new(ca, x);
	X509_free(x);
	if (!l || !x || !l->ctx) {
		free(l);
		err_set(err, ENOMEM, "minting a certificate for %s: %s", host,
			ca_ssl_error(why, sizeof(why)));
		return NULL;
	}
	memcpy(l->host, host, len + 1);
	l->prev = l->next = NULL;
	l->hnext = ca->bucket[b];
	ca->bucket[b] = l;
	lru_push(ca, l);
	if (++ca->n > TLS_CA_CACHE_MAX)
		evict_oldest(ca);
	return l->ctx;
}

SSL_CTX *tls_ca_server_ctx(struct tls_ca *ca, const char *host,
			   struct error *err)
{
	char norm[HOST_MAX + 1];
	struct leaf *l;
	bool is_ip;

	if (!host_normalize(host, norm, &is_ip)) {
		/* not echoed: it may be anything the agent sent */
		err_set(err, EINVAL, "not a host name or IP address");
		return NULL;
	}
	for (l = ca->bucket[host_hash(norm)]; l; l = l->hnext) {
		if (strcmp(l->host, norm) == 0) {
			lru_unlink(ca, l);
			lru_push(ca, l);
			return l->ctx;
		}
	}
	return cache_insert(ca, norm, is_ip, err);
}

/* ---- the upstream side ---- */

/* Client sessions by host name, direct-mapped (a collision replaces),
 * hung off the SSL_CTX as ex_data so that SSL_CTX_free() frees it. */
struct sess_cache {
	struct {
		char host[HOST_MAX + 1];
		SSL_SESSION *sess;
	} slot[SESS_SLOTS];
};

static int sess_idx = -1;
static CRYPTO_ONCE sess_once = CRYPTO_ONCE_STATIC_INIT;

static void sess_cache_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			    int idx, long argl, void *argp)
{
	struct sess_cache *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!c)
		return;
	for (size_t i = 0; i < SESS_SLOTS; i++)
		SSL_SESSION_free(c->slot[i].sess);
	free(c);
}

static void sess_idx_init(void)
{
	sess_idx =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sess_cache_free);
}

static size_t sess_slot(const char *host)
{
	return host_hash(host) % SESS_SLOTS;
}

/* New session on a connection that verified its peer: keep it for the
 * next connection to the same name.  Only names (SNI) are keys; returning
 * 1 takes over the caller's reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct sess_cache *c =
	    SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sess_idx);
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i;

	if (!c || !host || strlen(host) > HOST_MAX ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	i = sess_slot(host);
	SSL_SESSION_free(c->slot[i].sess);
	c->slot[i].sess = sess;
	strcpy(c->slot[i].host, host);
	return 1;
}

static void sess_resume(SSL *ssl, const char *host)
{
	struct sess_cache *c =
	    SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sess_idx);
	size_t i = sess_slot(host);

	if (!c || !c->slot[i].sess || strcmp(c->slot[i].host, host) != 0)
		return;
	if (!SSL_SESSION_is_resumable(c->slot[i].sess) ||
	    SSL_set_session(ssl, c->slot[i].sess) != 1 ||
	    SSL_SESSION_get_protocol_version(c->slot[i].sess) ==
		TLS1_3_VERSION) {
		/* TLS 1.3 tickets are single-use (RFC 8446 C.4) */
		SSL_SESSION_free(c->slot[i].sess);
		c->slot[i].sess = NULL;
	}
}

static SSL_CTX *client_ctx_fail(SSL_CTX *ctx, struct error *err,
				const char *what)
{
	char why[256];

	err_set(err, EINVAL, "%s: %s", what, ca_ssl_error(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_client_ctx_new(const char *extra_ca_file, struct error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sess_cache *c;

	if (!ctx || !CRYPTO_THREAD_run_once(&sess_once, sess_idx_init) ||
	    sess_idx < 0)
		return client_ctx_fail(ctx, err, "creating the TLS client");
	c = calloc(1, sizeof(*c));
	if (!c || !SSL_CTX_set_ex_data(ctx, sess_idx, c)) {
		free(c);
		return client_ctx_fail(ctx, err, "creating the TLS client");
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)ALPN_HTTP11,
				    sizeof(ALPN_HTTP11) - 1) != 0)
		return client_ctx_fail(ctx, err, "configuring the TLS client");
	if (!SSL_CTX_set_default_verify_paths(ctx))
		return client_ctx_fail(ctx, err, "loading the system CA store");
	if (extra_ca_file && !SSL_CTX_load_verify_file(ctx, extra_ca_file)) {
		char what[512];

		snprintf(what, sizeof(what), "loading CA file %s",
			 extra_ca_file);
		return client_ctx_fail(ctx, err, what);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(
	    ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	return ctx;
}

void tls_client_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host)
{
	char norm[HOST_MAX + 1];
	bool is_ip;
	SSL *ssl;

	if (!host_normalize(host, norm, &is_ip))
		return NULL;
	ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	SSL_set_connect_state(ssl);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (is_ip) {
		/* RFC 6066 3: literal IP addresses are not permitted in SNI */
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), norm))
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set_tlsext_host_name(ssl, norm) ||
		    !SSL_set1_host(ssl, norm))
			goto fail;
		sess_resume(ssl, norm);
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

const char *tls_upstream_error(SSL *ssl, char *buf, size_t len)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();
	const char *reason;

	if (v == X509_V_ERR_HOSTNAME_MISMATCH)
		snprintf(buf, len, "hostname mismatch");
	else if (v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(buf, len, "IP address mismatch");
	else if (v != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (e && (reason = ERR_reason_error_string(e)))
		snprintf(buf, len, "%s", reason);
	else
		snprintf(buf, len, "TLS handshake failed");
	ERR_clear_error();
	return buf;
}
