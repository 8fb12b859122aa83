#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/sni.h"

#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct bytes {
	uint8_t *p;
	size_t len;
};

static void bytes_free(struct bytes *b)
{
	free(b->p);
	b->p = NULL;
}

/* A real ClientHello: the first flight of an OpenSSL client. */
static struct bytes client_hello(const char *sni, const char *alpn_wire,
				 size_t alpn_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	struct bytes b;
	char *data;
	long n;

	assert_non_null(ssl);
	SSL_set_bio(ssl, rb, wb);
	SSL_set_connect_state(ssl);
	if (sni)
		assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
	if (alpn_wire)
		assert_int_equal(
		    SSL_set_alpn_protos(ssl, (const unsigned char *)alpn_wire,
					(unsigned)alpn_len),
		    0);
	assert_int_equal(SSL_do_handshake(ssl), -1);
	n = BIO_get_mem_data(wb, &data);
	assert_true(n > 50);
	b.len = (size_t)n;
	b.p = malloc(b.len);
	memcpy(b.p, data, b.len);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return b;
}

static enum sni_result parse(const struct bytes *b, size_t len, char *name,
			     unsigned *alpn)
{
	/* a copy of exactly len bytes, so ASan sees any read past len */
	uint8_t *copy = malloc(len ? len : 1);
	enum sni_result r;

	memcpy(copy, b->p, len);
	r = sni_parse(copy, len, name, alpn);
	free(copy);
	return r;
}

static void every_prefix_needs_more(const struct bytes *b)
{
	char name[256];
	unsigned alpn;

	for (size_t i = 0; i < b->len; i++)
		if (parse(b, i, name, &alpn) != SNI_NEED_MORE)
			fail_msg("prefix of %zu/%zu bytes: %s", i, b->len,
				 sni_result_str(parse(b, i, name, &alpn)));
}

static void test_sni_and_alpn(void **state)
{
	struct bytes b =
	    client_hello("Api.Example.COM", "\x02h2\x08http/1.1", 12);
	char name[256];
	unsigned alpn = 99;

	(void)state;
	assert_int_equal(parse(&b, b.len, name, &alpn), SNI_FOUND);
	assert_string_equal(name, "api.example.com");
	assert_int_equal(alpn, SNI_ALPN_HTTP11 | SNI_ALPN_H2);
	every_prefix_needs_more(&b);
	bytes_free(&b);

	b = client_hello("h2only.test", "\x02h2", 3);
	assert_int_equal(parse(&b, b.len, name, &alpn), SNI_FOUND);
	assert_string_equal(name, "h2only.test");
	assert_int_equal(alpn, SNI_ALPN_H2);
	bytes_free(&b);
}

static void test_no_sni(void **state)
{
	struct bytes b = client_hello(NULL, NULL, 0);
	char name[256];
	unsigned alpn = 99;

	(void)state;
	assert_int_equal(parse(&b, b.len, name, &alpn), SNI_NONE);
	assert_int_equal(alpn, 0);
	every_prefix_needs_more(&b);
	bytes_free(&b);

	b = client_hello(NULL, "\x08http/1.1", 9);
	assert_int_equal(parse(&b, b.len, name, &alpn), SNI_NONE);
	assert_int_equal(alpn, SNI_ALPN_HTTP11);
	bytes_free(&b);
}

/* Bytes after the hello (the client may pipeline) do not matter. */
static void test_trailing_bytes(void **state)
{
	struct bytes b = client_hello("x.test", NULL, 0);
	char name[256];
	unsigned alpn;

	(void)state;
	b.p = realloc(b.p, b.len + 10);
	memset(b.p + b.len, 0xee, 10);
	b.len += 10;
	assert_int_equal(parse(&b, b.len, name, &alpn), SNI_FOUND);
	assert_string_equal(name, "x.test");
	bytes_free(&b);
}

/* The same hello re-framed into records of at most frag bytes. */
static struct bytes refragment(const struct bytes *b, size_t frag)
{
	size_t body = b->len - 5, n = (body + frag - 1) / frag, off = 0;
	struct bytes out = {malloc(body + 5 * n), 0};

	while (off < body) {
		size_t k = body - off < frag ? body - off : frag;

		memcpy(out.p + out.len, b->p, 3);
		out.p[out.len + 3] = (uint8_t)(k >> 8);
		out.p[out.len + 4] = (uint8_t)k;
		memcpy(out.p + out.len + 5, b->p + 5 + off, k);
		out.len += 5 + k;
		off += k;
	}
	return out;
}

static void test_fragmented(void **state)
{
	struct bytes b = client_hello("frag.example", "\x08http/1.1", 9);
	size_t frags[] = {1, 7, 100};
	char name[256];
	unsigned alpn;

	(void)state;
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		struct bytes f = refragment(&b, frags[i]);

		assert_int_equal(parse(&f, f.len, name, &alpn), SNI_FOUND);
		assert_string_equal(name, "frag.example");
		assert_int_equal(alpn, SNI_ALPN_HTTP11);
		every_prefix_needs_more(&f);
		/* an alert record in the middle of the hello */
		if (frags[i] == 100) {
			f.p[105] = 21;
			assert_int_equal(parse(&f, f.len, name, &alpn),
					 SNI_MALFORMED);
		}
		bytes_free(&f);
	}
	bytes_free(&b);
}

static void test_not_tls(void **state)
{
	const char *plain[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			       "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
			       "\x80\x2e\x01\x00\x02", "\x16\x02",
			       "\x16\x03\x09"};
	char name[256];
	unsigned alpn;

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_int_equal(sni_parse((const uint8_t *)plain[i],
					   strlen(plain[i]), name, &alpn),
				 SNI_NOT_TLS);
	assert_int_equal(sni_parse((const uint8_t *)"", 0, name, &alpn),
			 SNI_NEED_MORE);
	assert_int_equal(sni_parse(NULL, 0, name, &alpn), SNI_NEED_MORE);
	assert_int_equal(
	    sni_parse((const uint8_t *)"\x16\x03\x01", 3, name, &alpn),
	    SNI_NEED_MORE);
}

/* A hand-built hello: record + handshake header around body. */
static struct bytes wrap(const uint8_t *body, size_t len)
{
	struct bytes b = {malloc(len + 9), len + 9};

	memcpy(b.p, "\x16\x03\x01", 3);
	b.p[3] = (uint8_t)((len + 4) >> 8);
	b.p[4] = (uint8_t)(len + 4);
	b.p[5] = 1;
	b.p[6] = 0;
	b.p[7] = (uint8_t)(len >> 8);
	b.p[8] = (uint8_t)len;
	memcpy(b.p + 9, body, len);
	return b;
}

/* version, random, empty session id, one suite, null compression, then
 * the extensions block ext (with its length prefix). */
static struct bytes hello_with_exts(const uint8_t *ext, size_t len)
{
	uint8_t body[2048] = {3, 3};
	size_t n = 2 + 32;

	body[n++] = 0;				 /* session id */
	memcpy(body + n, "\x00\x02\x13\x01", 4); /* cipher_suites */
	n += 4;
	memcpy(body + n, "\x01\x00", 2); /* compression */
	n += 2;
	memcpy(body + n, ext, len);
	return wrap(body, n + len);
}

static enum sni_result parse_exts(const char *ext, size_t len, char *name)
{
	struct bytes b = hello_with_exts((const uint8_t *)ext, len);
	unsigned alpn;
	enum sni_result r = parse(&b, b.len, name, &alpn);

	bytes_free(&b);
	return r;
}

#define EXTS(s) s, sizeof(s) - 1

static void test_hand_built(void **state)
{
	char name[256], ext[600];
	size_t i;

	(void)state;
	assert_int_equal(parse_exts(EXTS("\x00\x0a\x00\x00\x00\x06\x00\x04\x00"
					 "\x00\x01x"),
				    name),
			 SNI_FOUND);
	assert_string_equal(name, "x");
	/* no extensions block at all (TLS 1.2 allows it) */
	assert_int_equal(parse_exts("", 0, name), SNI_NONE);
	/* empty extensions block */
	assert_int_equal(parse_exts(EXTS("\x00\x00"), name), SNI_NONE);
	/* a byte outside [A-Za-z0-9.-_] */
	assert_int_equal(parse_exts(EXTS("\x00\x0a\x00\x00\x00\x06\x00\x04\x00"
					 "\x00\x01/"),
				    name),
			 SNI_MALFORMED);
	assert_int_equal(parse_exts(EXTS("\x00\x0a\x00\x00\x00\x06\x00\x04\x00"
					 "\x00\x01\x00"),
				    name),
			 SNI_MALFORMED);
	/* empty name, non-host_name type, empty extension */
	assert_int_equal(parse_exts(EXTS("\x00\x09\x00\x00\x00\x05\x00\x03"
					 "\x00\x00\x00"),
				    name),
			 SNI_MALFORMED);
	assert_int_equal(parse_exts(EXTS("\x00\x0a\x00\x00\x00\x06\x00\x04"
					 "\x01\x00\x01x"),
				    name),
			 SNI_MALFORMED);
	assert_int_equal(parse_exts(EXTS("\x00\x04\x00\x00\x00\x00"), name),
			 SNI_MALFORMED);
	/* two server_name extensions */
	assert_int_equal(
	    parse_exts(EXTS("\x00\x14"
			    "\x00\x00\x00\x06\x00\x04\x00\x00\x01x"
			    "\x00\x00\x00\x06\x00\x04\x00\x00\x01y"),
		       name),
	    SNI_MALFORMED);
	/* an inner length overrunning its extension */
	assert_int_equal(parse_exts(EXTS("\x00\x0a\x00\x00\x00\x06\x00\x05\x00"
					 "\x00\x01x"),
				    name),
			 SNI_MALFORMED);
	/* extensions block shorter than the rest of the message */
	assert_int_equal(parse_exts(EXTS("\x00\x00\x00"), name), SNI_MALFORMED);
	/* names of 255 (ok) and 256 (too long) bytes */
	for (i = 255; i <= 256; i++) {
		size_t n = 2 + 2 + 2 + 2 + 1 + 2 + i;

		ext[0] = (char)((n - 2) >> 8), ext[1] = (char)(n - 2);
		memcpy(ext + 2, "\x00\x00", 2);
		ext[4] = (char)((n - 6) >> 8), ext[5] = (char)(n - 6);
		ext[6] = (char)((n - 8) >> 8), ext[7] = (char)(n - 8);
		ext[8] = 0;
		ext[9] = (char)(i >> 8), ext[10] = (char)i;
		memset(ext + 11, 'a', i);
		assert_int_equal(parse_exts(ext, n, name),
				 i == 255 ? SNI_FOUND : SNI_MALFORMED);
		if (i == 255)
			assert_int_equal(strlen(name), 255);
	}
}

static void test_bad_headers(void **state)
{
	char name[256];
	unsigned alpn;

	(void)state;
	/* a ServerHello, a zero-length record, an oversized record */
	assert_int_equal(sni_parse((const uint8_t *)"\x16\x03\x01\x00\x04"
						    "\x02\x00\x00\x00",
				   9, name, &alpn),
			 SNI_MALFORMED);
	assert_int_equal(
	    sni_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, name, &alpn),
	    SNI_MALFORMED);
	assert_int_equal(
	    sni_parse((const uint8_t *)"\x16\x03\x01\x40\x01", 5, name, &alpn),
	    SNI_MALFORMED);
	/* a handshake message longer than any real hello */
	assert_int_equal(sni_parse((const uint8_t *)"\x16\x03\x01\x00\x04"
						    "\x01\x7f\x00\x00",
				   9, name, &alpn),
			 SNI_MALFORMED);
}

/* Garbage and mutated hellos: no crash, no read past len (ASan), and
 * never a claim of success for random bytes. */
static void test_garbage(void **state)
{
	struct bytes b = client_hello("mutate.example", "\x02h2", 3);
	uint64_t x = 0x9e3779b97f4a7c15u;
	uint8_t buf[512];
	char name[256];
	unsigned alpn;
	enum sni_result r;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(x % sizeof(buf));

		for (size_t j = 0; j < len; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		if (i % 2 && len >= 6)
			memcpy(buf, "\x16\x03\x01\x01\xf0\x01", 6);
		r = sni_parse(buf, len, name, &alpn);
		assert_true(r == SNI_MALFORMED || r == SNI_NOT_TLS ||
			    r == SNI_NEED_MORE);
	}
	for (size_t pos = 0; pos < b.len; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			b.p[pos] ^= (uint8_t)(1 << bit);
			r = parse(&b, b.len, name, &alpn);
			if (r == SNI_FOUND)
				assert_true(strlen(name) <= SNI_NAME_MAX);
			b.p[pos] ^= (uint8_t)(1 << bit);
		}
	}
	bytes_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sni_and_alpn),
	    cmocka_unit_test(test_no_sni),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_fragmented),
	    cmocka_unit_test(test_not_tls),
	    cmocka_unit_test(test_hand_built),
	    cmocka_unit_test(test_bad_headers),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
