#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/tls.h"
#include "lib/ca.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[] = "/tmp/test_tls.XXXXXX";
static char key_path[64], crt_path[64];
static struct tls_ca *ca;

static char *slurp(const char *path)
{
	struct error err = ERROR_INIT;
	char *s;

	if (read_file(path, &s, NULL, 1 << 20, &err) < 0)
		fail_msg("%s", err.msg);
	return s;
}

static int setup(void **state)
{
	struct error err = ERROR_INIT;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(key_path, sizeof(key_path), "%s/" CA_KEY_FILE, dir);
	snprintf(crt_path, sizeof(crt_path), "%s/" CA_CERT_FILE, dir);
	if (ca_ensure(dir, "test", &err) < 0 || tls_ca_load(dir, &ca, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct error err = ERROR_INIT;

	(void)state;
	tls_ca_free(ca);
	return rm_rf(dir, &err);
}

/* A spare CA is a whole pair made once; a killed maker's temp dir goes;
 * a taker renames it into a bottle's ca/ and it loads as that CA. */
static void test_ca_spare(void **state)
{
	struct error err = ERROR_INIT;
	char home[] = "/tmp/test-spare-XXXXXX", path[256], stale[256];
	struct tls_ca *spare = NULL;
	struct stat st;
	ino_t first;

	(void)state;
	assert_non_null(mkdtemp(home));
	/* A temp dir of a maker that no longer runs (pid 2^22 - 1 is out of
	 * the default pid range). */
	snprintf(stale, sizeof(stale), "%s/" CA_SPARE_DIR ".tmp.4194303", home);
	assert_int_equal(mkdir(stale, 0700), 0);
	assert_int_equal(ca_make_spare(home, &err), 0);
	assert_int_equal(stat(stale, &st), -1);
	snprintf(path, sizeof(path), "%s/" CA_SPARE_DIR "/" CA_KEY_FILE, home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	first = st.st_ino;
	assert_int_equal(ca_make_spare(home, &err), 0); /* kept */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, first);
	snprintf(path, sizeof(path), "%s/" CA_SPARE_DIR, home);
	snprintf(stale, sizeof(stale), "%s/ca", home);
	assert_int_equal(rename(path, stale), 0);
	assert_int_equal(ca_ensure(stale, "b-1", &err), 0);
	assert_int_equal(tls_ca_load(stale, &spare, &err), 0);
	tls_ca_free(spare);
	assert_int_equal(rm_rf(home, &err), 0);
}

static void test_ca_ensure(void **state)
{
	struct error err = ERROR_INIT;
	char sub[80], path[100];
	_cleanup_free_ char *crt1 = NULL, *crt2 = NULL, *crt3 = NULL;
	struct tls_ca *other;
	struct stat st;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/ensure", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(ca_ensure(sub, "b1", &err), 0);
	snprintf(path, sizeof(path), "%s/" CA_KEY_FILE, sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/" CA_CERT_FILE, sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	crt1 = slurp(path);
	/* idempotent: the same CA survives a second call (resume) */
	assert_int_equal(ca_ensure(sub, "b1", &err), 0);
	crt2 = slurp(path);
	assert_string_equal(crt1, crt2);
	/* a pair with a missing half is replaced */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ca_ensure(sub, "b1", &err), 0);
	crt3 = slurp(path);
	assert_string_not_equal(crt1, crt3);

	/* a key others can read is refused, by both sides, and kept */
	snprintf(path, sizeof(path), "%s/" CA_KEY_FILE, sub);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(ca_ensure(sub, "b1", &err), -EACCES);
	assert_non_null(strstr(err.msg, "group or others"));
	assert_int_equal(tls_ca_load(sub, &other, &err), -EACCES);
	assert_null(other);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* so is a symlink in its place */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(key_path, path), 0);
	assert_int_equal(tls_ca_load(sub, &other, &err), -EACCES);
	assert_non_null(strstr(err.msg, "symlink"));
	/* and an id that does not fit a CN */
	assert_int_equal(ca_ensure(sub,
				   "0123456789012345678901234567890123456"
				   "789012345678901234567890",
				   &err),
			 -EINVAL);
}

static X509 *load_ca_cert(void)
{
	FILE *f = fopen(crt_path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* Verify leaf against the CA alone, for a DNS name or an IP. */
static bool verifies(X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *cacert = load_ca_cert();
	X509_VERIFY_PARAM *p;
	bool ok;

	assert_int_equal(X509_STORE_add_cert(store, cacert), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	p = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
	if (host)
		X509_VERIFY_PARAM_set1_host(p, host, 0);
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(p, ip);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cacert);
	return ok;
}

static X509 *leaf_for(const char *host)
{
	struct error err = ERROR_INIT;
	SSL_CTX *ctx = tls_ca_server_ctx(ca, host, &err);

	if (!ctx)
		fail_msg("%s: %s", host, err.msg);
	return SSL_CTX_get0_certificate(ctx);
}

static void test_leaf_verifies(void **state)
{
	struct error err = ERROR_INIT;
	char longname[201];
	X509 *leaf;

	(void)state;
	leaf = leaf_for("Api.Example.com");
	assert_true(verifies(leaf, "api.example.com", NULL));
	assert_false(verifies(leaf, "other.example.com", NULL));
	assert_int_equal(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0),
			 1);
	assert_int_equal(
	    X509_get_ext_by_NID(leaf, NID_authority_key_identifier, -1) >= 0,
	    1);

	leaf = leaf_for("192.0.2.7");
	assert_true(verifies(leaf, NULL, "192.0.2.7"));
	assert_false(verifies(leaf, NULL, "192.0.2.8"));
	leaf = leaf_for("[2001:db8::1]");
	assert_true(verifies(leaf, NULL, "2001:db8:0::1"));

	/* too long for a CN: SAN only */
	memset(longname, 'a', 200);
	longname[200] = '\0';
	longname[63] = longname[127] = '.';
	leaf = leaf_for(longname);
	assert_true(verifies(leaf, longname, NULL));

	/* nothing that could smuggle a second SAN or a wildcard */
	assert_null(tls_ca_server_ctx(ca, "a.test,DNS:evil.test", &err));
	assert_int_equal(err.code, EINVAL);
	assert_null(tls_ca_server_ctx(ca, "*.test", &err));
	assert_null(tls_ca_server_ctx(ca, "", &err));
	assert_null(tls_ca_server_ctx(ca, "a\nb", &err));
}

static void test_cache(void **state)
{
	struct error err = ERROR_INIT;
	SSL_CTX *first, *keep, *c;
	char host[64];
	uint64_t t0, t1;
	size_t i, n = TLS_CA_CACHE_MAX + 100;

	(void)state;
	first = tls_ca_server_ctx(ca, "first.test", &err);
	assert_non_null(first);
	assert_ptr_equal(tls_ca_server_ctx(ca, "FIRST.test", &err), first);
	SSL_CTX_up_ref(first); /* so its address cannot be reused */
	keep = tls_ca_server_ctx(ca, "keep.test", &err);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "h%zu.cache.test", i);
		assert_non_null(tls_ca_server_ctx(ca, host, &err));
		/* recently used entries survive */
		assert_ptr_equal(tls_ca_server_ctx(ca, "keep.test", &err),
				 keep);
	}
	t1 = now_ns();
	print_message("minting: %.1f us/leaf (%zu leaves incl. SSL_CTX)\n",
		      (double)(t1 - t0) / 1e3 / (double)n, n);
	assert_int_equal(tls_ca_cache_size(ca), TLS_CA_CACHE_MAX);
	c = tls_ca_server_ctx(ca, "first.test", &err);
	assert_non_null(c);
	assert_ptr_not_equal(c, first);
	SSL_CTX_free(first);
	assert_int_equal(tls_ca_cache_size(ca), TLS_CA_CACHE_MAX);
}

/* Drive a handshake between client c and server s over a BIO pair. */
static bool handshake(SSL *c, SSL *s)
{
	BIO *cb, *sb;
	int rc = 0, rs = 0;

	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_accept_state(s);
	for (int i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1) {
			rc = SSL_do_handshake(c);
			if (rc <= 0 &&
			    SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				return false;
		}
		if (rs != 1) {
			rs = SSL_do_handshake(s);
			if (rs <= 0 &&
			    SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
				return false;
		}
	}
	return rc == 1 && rs == 1;
}

/* Server says hello; the client's read also takes in TLS 1.3 tickets. */
static void exchange(SSL *c, SSL *s)
{
	char buf[16];

	assert_int_equal(SSL_write(s, "hello", 5), 5);
	assert_int_equal(SSL_read(c, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
}

struct conn {
	SSL *c, *s;
	bool ok;
};

static struct conn connect_to(SSL_CTX *cctx, const char *server_host,
			      const char *client_host)
{
	struct error err = ERROR_INIT;
	SSL_CTX *sctx = tls_ca_server_ctx(ca, server_host, &err);
	struct conn k;

	assert_non_null(sctx);
	k.s = SSL_new(sctx);
	k.c = tls_client_ssl_new(cctx, client_host);
	assert_non_null(k.s);
	assert_non_null(k.c);
	k.ok = handshake(k.c, k.s);
	return k;
}

static void conn_free(struct conn *k)
{
	SSL_free(k->c);
	SSL_free(k->s);
}

static void assert_alpn(SSL *ssl, const char *want)
{
	const unsigned char *p;
	unsigned int n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	if (!want) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, strlen(want));
	assert_memory_equal(p, want, n);
}

static void test_handshake(void **state)
{
	struct error err = ERROR_INIT;
	SSL_CTX *cctx = tls_client_ctx_new(crt_path, &err);
	struct conn k;

	(void)state;
	assert_non_null(cctx);
	k = connect_to(cctx, "api.example.com", "API.example.com");
	assert_true(k.ok);
	assert_alpn(k.c, "http/1.1");
	assert_alpn(k.s, "http/1.1");
	assert_int_equal(SSL_version(k.c), TLS1_3_VERSION);
	assert_false(SSL_session_reused(k.c));
	exchange(k.c, k.s);
	/* a clean close keeps the session resumable */
	assert_int_equal(SSL_shutdown(k.c), 0);
	conn_free(&k);

	/* the second connection to the host resumes the session */
	k = connect_to(cctx, "api.example.com", "api.example.com");
	assert_true(k.ok);
	assert_true(SSL_session_reused(k.c));
	conn_free(&k);

	/* an IP literal: no SNI, IP SAN checked */
	k = connect_to(cctx, "127.0.0.1", "127.0.0.1");
	assert_true(k.ok);
	assert_null(SSL_get_servername(k.s, TLSEXT_NAMETYPE_host_name));
	conn_free(&k);
	SSL_CTX_free(cctx);
}

static void test_h2_only_client(void **state)
{
	struct error err = ERROR_INIT;
	SSL_CTX *cctx = tls_client_ctx_new(crt_path, &err);
	SSL_CTX *sctx = tls_ca_server_ctx(ca, "h2.test", &err);
	SSL *c, *s;

	(void)state;
	assert_non_null(cctx);
	assert_non_null(sctx);
	c = tls_client_ssl_new(cctx, "h2.test");
	s = SSL_new(sctx);
	assert_int_equal(
	    SSL_set_alpn_protos(c, (const unsigned char *)"\x02h2", 3), 0);
	assert_true(handshake(c, s));
	assert_alpn(c, NULL);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
}

static void test_verify_failures(void **state)
{
	struct error err = ERROR_INIT;
	SSL_CTX *cctx = tls_client_ctx_new(NULL, &err);
	char why[256];
	struct conn k;

	(void)state;
	/* the bottle's CA is not in the system store */
	assert_non_null(cctx);
	k = connect_to(cctx, "api.example.com", "api.example.com");
	assert_false(k.ok);
	tls_upstream_error(k.c, why, sizeof(why));
	assert_string_equal(why, "certificate verify failed: unable to get "
				 "local issuer certificate");
	conn_free(&k);
	SSL_CTX_free(cctx);

	cctx = tls_client_ctx_new(crt_path, &err);
	assert_non_null(cctx);
	k = connect_to(cctx, "other.example.com", "api.example.com");
	assert_false(k.ok);
	assert_string_equal(tls_upstream_error(k.c, why, sizeof(why)),
			    "hostname mismatch");
	conn_free(&k);
	k = connect_to(cctx, "127.0.0.2", "127.0.0.1");
	assert_false(k.ok);
	assert_string_equal(tls_upstream_error(k.c, why, sizeof(why)),
			    "IP address mismatch");
	conn_free(&k);
	SSL_CTX_free(cctx);

	assert_null(tls_client_ctx_new("/nonexistent/ca.pem", &err));
	assert_non_null(strstr(err.msg, "/nonexistent/ca.pem"));
	assert_null(tls_client_ssl_new(cctx = tls_client_ctx_new(NULL, &err),
				       "bad host"));
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_ensure),
	    cmocka_unit_test(test_ca_spare),
	    cmocka_unit_test(test_leaf_verifies),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_h2_only_client),
	    cmocka_unit_test(test_verify_failures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
