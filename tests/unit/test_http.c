#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct http_request req;
static struct http_response resp;

static enum http_parse preq(const char *s)
{
	return http_request_parse(s, strlen(s), &req);
}

static bool slice_eq(struct slice s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

#define assert_slice(s, lit)                                                   \
	do {                                                                   \
		if (!slice_eq((s), (lit)))                                     \
			fail_msg("%s: got \"%.*s\", want \"%s\"", #s,          \
				 (int)(s).n, (s).p ? (s).p : "", (lit));       \
	} while (0)

/* The request must be rejected, and say why. */
static void bad(const char *s, enum http_parse want, const char *why)
{
	enum http_parse r = preq(s);

	if (r != want)
		fail_msg("%s: got %d, want %d", s, r, want);
	assert_non_null(req.error);
	if (why && !strstr(req.error, why))
		fail_msg("%s: error \"%s\", want \"%s\"", s, req.error, why);
}

static void request_origin(void **state)
{
	static const char head[] = "GET /a/b?c=d HTTP/1.1\r\n"
				   "Host: Example.COM\r\nUser-Agent: t\r\n\r\n";
	char buf[sizeof(head) + 4];

	(void)state;
	strcpy(buf, head);
	strcat(buf, "BODY");
	assert_int_equal(preq(buf), HTTP_OK);
	assert_int_equal(req.head_len, sizeof(head) - 1);
	assert_slice(req.method, "GET");
	assert_slice(req.target, "/a/b?c=d");
	assert_slice(req.path, "/a/b?c=d");
	assert_int_equal(req.form, TARGET_ORIGIN);
	assert_int_equal(req.minor, 1);
	assert_int_equal(req.n_headers, 2);
	assert_slice(req.headers[0].name, "Host");
	assert_slice(req.headers[0].value, "Example.COM");
	assert_string_equal(req.hostname, "example.com");
	assert_int_equal(req.port, 0);
	assert_true(req.keep_alive);
	assert_false(req.chunked);
	assert_false(req.has_length);
}

static void request_absolute(void **state)
{
	(void)state;
	assert_int_equal(preq("GET http://Example.com/x?y HTTP/1.1\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(req.form, TARGET_ABSOLUTE);
	assert_slice(req.scheme, "http");
	assert_slice(req.host, "Example.com");
	assert_string_equal(req.hostname, "example.com");
	assert_int_equal(req.port, 80);
	assert_slice(req.path, "/x?y");

	assert_int_equal(preq("GET HTTPS://a.b:8443 HTTP/1.0\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(req.port, 8443);
	assert_slice(req.path, "/");
	assert_slice(req.authority, "a.b:8443");
	assert_false(req.keep_alive);

	assert_int_equal(preq("GET https://[::1]/ HTTP/1.1\r\n\r\n"), HTTP_OK);
	assert_int_equal(req.port, 443);
	assert_true(req.host_is_ip);
	assert_string_equal(req.hostname, "::1");
	assert_slice(req.host, "::1");

	assert_int_equal(preq("POST http://1.2.3.4:81/p HTTP/1.1\r\n"
			      "Content-Length: 3\r\n\r\nabc"),
			 HTTP_OK);
	assert_true(req.host_is_ip);
	assert_true(req.has_length);
	assert_int_equal(req.content_length, 3);

	bad("GET ftp://a.b/ HTTP/1.1\r\n\r\n", HTTP_BAD, "scheme");
	bad("GET http://u:p@a.b/ HTTP/1.1\r\n\r\n", HTTP_BAD, "userinfo");
	bad("GET http://a.b@evil.com/ HTTP/1.1\r\n\r\n", HTTP_BAD, "userinfo");
	bad("GET http:/a.b/ HTTP/1.1\r\n\r\n", HTTP_BAD, "target");
	bad("GET http:// HTTP/1.1\r\n\r\n", HTTP_BAD, "empty host");
	bad("GET http://a.b?x HTTP/1.1\r\n\r\n", HTTP_BAD, "target");
	bad("GET http://a.b/#frag HTTP/1.1\r\n\r\n", HTTP_BAD, NULL);
	bad("GET http://a.b:0/ HTTP/1.1\r\n\r\n", HTTP_BAD, "port");
	bad("GET http://2130706433/ HTTP/1.1\r\n\r\n", HTTP_BAD, "IPv4");
	bad("GET a.b HTTP/1.1\r\n\r\n", HTTP_BAD, "target");
}

static void request_connect(void **state)
{
	(void)state;
	assert_int_equal(preq("CONNECT api.example.com:443 HTTP/1.1\r\n"
			      "Host: api.example.com:443\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(req.form, TARGET_AUTHORITY);
	assert_string_equal(req.hostname, "api.example.com");
	assert_int_equal(req.port, 443);
	assert_int_equal(req.scheme.n, 0);

	assert_int_equal(preq("CONNECT [2001:DB8::1]:8443 HTTP/1.1\r\n\r\n"),
			 HTTP_OK);
	assert_string_equal(req.hostname, "2001:db8::1");
	assert_true(req.host_is_ip);
	assert_int_equal(req.port, 8443);

	bad("CONNECT example.com HTTP/1.1\r\n\r\n", HTTP_BAD, "port");
	bad("CONNECT /x HTTP/1.1\r\n\r\n", HTTP_BAD, NULL);
	bad("CONNECT http://a.b:443 HTTP/1.1\r\n\r\n", HTTP_BAD, NULL);
	bad("CONNECT [::1:443 HTTP/1.1\r\n\r\n", HTTP_BAD, "IPv6");
}

static void request_line_bad(void **state)
{
	static const char *const lines[] = {
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET /  HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "GET\t/ HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.2\r\n\r\n",
	    "GET / HTTP/2.0\r\n\r\n",
	    "GET / http/1.1\r\n\r\n",
	    "GET / HTTP/1.1x\r\n\r\n",
	    "GET /\r\n\r\n",
	    " GET / HTTP/1.1\r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET /a\x01 HTTP/1.1\r\n\r\n",
	    "GET /a\rb HTTP/1.1\r\n\r\n",
	    "\r\nGET / HTTP/1.1\r\n\r\n",
	    "GET * HTTP/1.1\r\n\r\n",
	    "GET /\x7f HTTP/1.1\r\n\r\n",
	    "GET HTTP/1.1\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		bad(lines[i], HTTP_BAD, NULL);
	bad("GET / HTTP/1.1\n\n", HTTP_BAD, "bare LF");
	bad("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_BAD, "bare LF");
	assert_int_equal(preq("OPTIONS * HTTP/1.1\r\nHost: a.b\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(req.form, TARGET_ASTERISK);
}

static void request_headers_bad(void **state)
{
	(void)state;
	bad("GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_BAD,
	    "whitespace before colon");
	bad("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_BAD,
	    "obs-fold");
	bad("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", HTTP_BAD, "obs-fold");
	bad("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", HTTP_BAD, "header name");
	bad("GET / HTTP/1.1\r\n: a\r\n\r\n", HTTP_BAD, "header name");
	bad("GET / HTTP/1.1\r\nnocolon\r\n\r\n", HTTP_BAD, "header name");
	bad("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
	    "b\r\n\r\n",
	    HTTP_BAD, "header value");
	bad("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", HTTP_BAD,
	    "header value");
	bad("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", HTTP_BAD,
	    "header value");
	bad("GET / HTTP/1.1\r\n\r\n", HTTP_BAD, "missing Host");
	bad("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_BAD,
	    "multiple Host");
	bad("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_BAD, "Host");
	bad("GET / HTTP/1.1\r\nHost: \r\n\r\n", HTTP_BAD, "Host");

	/* HTAB and obs-text in values are fine; OWS is trimmed. */
	assert_int_equal(preq("GET / HTTP/1.1\r\nHost:a\r\n"
			      "X:\t v\tw\xff \t\r\n\r\n"),
			 HTTP_OK);
	assert_slice(req.headers[1].value, "v\tw\xff");
	assert_slice(req.headers[0].value, "a");
	/* HTTP/1.0 needs no Host. */
	assert_int_equal(preq("GET / HTTP/1.0\r\n\r\n"), HTTP_OK);
	assert_false(req.keep_alive);
}

static void request_smuggling(void **state)
{
	(void)state;
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    HTTP_BAD, "both Content-Length and Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n",
	    HTTP_BAD, "both");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	    "Content-Length: 4\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", HTTP_BAD,
	    "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,,3\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 99999999999999999999\r\n\r\n",
	    HTTP_BAD, "Content-Length");
	bad("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	    HTTP_BAD, "unsupported Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n",
	    HTTP_BAD, "unsupported Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTP_BAD, "unsupported Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    HTTP_BAD, "unsupported Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n"
	    "\r\n",
	    HTTP_BAD, "unsupported Transfer-Encoding");
	bad("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n"
	    "\r\n",
	    HTTP_BAD, "whitespace before colon");
	bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_BAD,
	    "HTTP/1.0");

	assert_int_equal(preq("POST / HTTP/1.1\r\nHost: a\r\n"
			      "transfer-encoding: CHUNKED\r\n\r\n"),
			 HTTP_OK);
	assert_true(req.chunked);
	assert_int_equal(preq("POST / HTTP/1.1\r\nHost: a\r\n"
			      "Content-Length: 7, 7\r\ncontent-length: 7\r\n"
			      "\r\n"),
			 HTTP_OK);
	assert_true(req.has_length);
	assert_int_equal(req.content_length, 7);
	assert_int_equal(preq("POST / HTTP/1.1\r\nHost: a\r\n"
			      "Content-Length: 18446744073709551615\r\n\r\n"),
			 HTTP_OK);
	assert_true(req.content_length == UINT64_MAX);
}

static void request_connection(void **state)
{
	(void)state;
	assert_int_equal(preq("GET / HTTP/1.1\r\nHost: a\r\n"
			      "Connection: Upgrade, CLOSE\r\n"
			      "Expect: 100-Continue\r\nX-Foo: 1\r\n"
			      "Upgrade: h2c\r\n\r\n"),
			 HTTP_OK);
	assert_false(req.keep_alive);
	assert_true(req.expect_continue);
	assert_int_equal(preq("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
			      "\r\n"),
			 HTTP_OK);
	assert_true(req.keep_alive);
}

static void request_hop(void **state)
{
	struct http_header x;

	(void)state;
	assert_int_equal(preq("GET / HTTP/1.1\r\nHost: a\r\n"
			      "Connection: keep-alive, X-Secret ,\r\n"
			      "X-Secret: 1\r\nProxy-Authorization: b\r\n"
			      "TE: trailers\r\nAccept: */*\r\n\r\n"),
			 HTTP_OK);
	assert_false(http_header_is_hop(&req, &req.headers[0]));
	assert_true(http_header_is_hop(&req, &req.headers[1]));
	assert_true(http_header_is_hop(&req, &req.headers[2]));
	assert_false(http_header_is_hop(NULL, &req.headers[2]));
	assert_true(http_header_is_hop(NULL, &req.headers[3]));
	assert_true(http_header_is_hop(NULL, &req.headers[4]));
	assert_false(http_header_is_hop(&req, &req.headers[5]));
	x.name = (struct slice){"transfer-ENCODING", 17};
	assert_true(http_header_is_hop(NULL, &x));
	x.name = (struct slice){"Upgrade", 7};
	assert_true(http_header_is_hop(NULL, &x));

	assert_ptr_equal(
	    http_header_find(req.headers, req.n_headers, "x-secret"),
	    &req.headers[2]);
	assert_null(http_header_find(req.headers, req.n_headers, "x-secre"));
}

static void request_limits(void **state)
{
	char *big = malloc(HTTP_MAX_HEAD + 64);
	size_t n, i;

	(void)state;
	/* 100 headers is fine, 101 is not. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)sprintf(big + n, "X-%zu: v\r\n", i);
	strcpy(big + n, "\r\n");
	assert_int_equal(preq(big), HTTP_OK);
	assert_int_equal(req.n_headers, HTTP_MAX_HEADERS);
	sprintf(big + n, "Y: z\r\n\r\n");
	bad(big, HTTP_TOO_LARGE, "too many headers");

	/* A head of exactly 64 KiB is fine, one byte more is not. */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'v', HTTP_MAX_HEAD - n - 4);
	memcpy(big + HTTP_MAX_HEAD - 4, "\r\n\r\n", 5);
	assert_int_equal(preq(big), HTTP_OK);
	assert_int_equal(req.head_len, HTTP_MAX_HEAD);
	memset(big + n, 'v', HTTP_MAX_HEAD - n - 3);
	memcpy(big + HTTP_MAX_HEAD - 3, "\r\n\r\n", 5);
	bad(big, HTTP_TOO_LARGE, "64 KiB");
	/* Never-ending line: incomplete below the limit, too large at it. */
	memset(big, 'a', HTTP_MAX_HEAD);
	assert_int_equal(http_request_parse(big, HTTP_MAX_HEAD - 1, &req),
			 HTTP_INCOMPLETE);
	assert_int_equal(http_request_parse(big, HTTP_MAX_HEAD, &req),
			 HTTP_TOO_LARGE);
	free(big);
}

/* Every prefix of a good request is incomplete, the whole of it is OK;
 * the copy is exactly sized so that ASan sees any overread. */
static void request_incremental(void **state)
{
	static const char *const reqs[] = {
	    "POST http://a.example:8080/up?x=1 HTTP/1.1\r\n"
	    "Host: a.example:8080\r\nContent-Length: 5\r\n"
	    "Connection: keep-alive\r\n\r\n",
	    "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
	    "GET / HTTP/1.0\r\n\r\n",
	};
	size_t i, k, n;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		n = strlen(reqs[i]);
		for (k = 0; k <= n; k++) {
			char *p = malloc(k ? k : 1);
			memcpy(p, reqs[i], k);
			enum http_parse r = http_request_parse(p, k, &req);
			if (r != (k == n ? HTTP_OK : HTTP_INCOMPLETE))
				fail_msg("request %zu at %zu: %d", i, k, r);
			free(p);
		}
		assert_int_equal(req.head_len, n);
	}
}

static enum http_parse presp(const char *s)
{
	return http_response_parse(s, strlen(s), &resp);
}

static const struct slice GET = {"GET", 3}, HEAD = {"HEAD", 4},
			  CONNECT = {"CONNECT", 7};

static void response_parse(void **state)
{
	(void)state;
	assert_int_equal(presp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
			       "\r\nhi"),
			 HTTP_OK);
	assert_int_equal(resp.status, 200);
	assert_slice(resp.reason, "OK");
	assert_int_equal(resp.head_len, strlen("HTTP/1.1 200 OK\r\n"
					       "Content-Length: 2\r\n\r\n"));
	assert_int_equal(http_response_body(&resp, GET), BODY_LENGTH);
	assert_int_equal(http_response_body(&resp, HEAD), BODY_NONE);
	assert_true(resp.keep_alive);

	assert_int_equal(presp("HTTP/1.1 100 Continue\r\n\r\n"), HTTP_OK);
	assert_int_equal(http_response_body(&resp, GET), BODY_NONE);
	assert_int_equal(presp("HTTP/1.1 204\r\n\r\n"), HTTP_OK);
	assert_int_equal(resp.reason.n, 0);
	assert_int_equal(http_response_body(&resp, GET), BODY_NONE);
	assert_int_equal(presp("HTTP/1.1 304 Not Modified\r\n"
			       "Content-Length: 10\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(http_response_body(&resp, GET), BODY_NONE);
	assert_int_equal(presp("HTTP/1.1 200 Connection established\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(http_response_body(&resp, CONNECT), BODY_NONE);
	assert_int_equal(http_response_body(&resp, GET), BODY_UNTIL_CLOSE);
	assert_int_equal(presp("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n"),
			 HTTP_OK);
	assert_false(resp.keep_alive);
	assert_int_equal(http_response_body(&resp, GET), BODY_UNTIL_CLOSE);
	assert_int_equal(presp("HTTP/1.1 404 Not Found\r\n"
			       "Transfer-Encoding: chunked\r\n"
			       "Connection: close\r\n\r\n"),
			 HTTP_OK);
	assert_int_equal(http_response_body(&resp, GET), BODY_CHUNKED);
	assert_false(resp.keep_alive);
	assert_true(http_header_is_hop_in(resp.headers, resp.n_headers,
					  &resp.headers[0]));
	assert_int_equal(presp("HTTP/1.1 200 \r\n\r\n"), HTTP_OK);
	assert_int_equal(presp("HTTP/1.1 200 OK\r\nContent-Le"),
			 HTTP_INCOMPLETE);
}

static void response_bad(void **state)
{
	static const char *const bads[] = {
	    "HTTP/1.1 99 x\r\n\r\n",
	    "HTTP/1.1 600 x\r\n\r\n",
	    "HTTP/1.1 2000 x\r\n\r\n",
	    "HTTP/1.1 20 x\r\n\r\n",
	    "HTTP/1.2 200 OK\r\n\r\n",
	    "HTTP/1.1  200 OK\r\n\r\n",
	    "HTTP/1.1 200 O\x01K\r\n\r\n",
	    "HTTP/1.1 200 OK\n\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
	    "ICY 200 OK\r\n\r\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		if (presp(bads[i]) != HTTP_BAD)
			fail_msg("accepted: %s", bads[i]);
		assert_non_null(resp.error);
	}
}

struct sink {
	char buf[256];
	size_t n;
};

static void on_data(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	assert_true(s->n + n <= sizeof(s->buf));
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

/* Feed body in two parts split at k; return bytes consumed (or -1). */
static ssize_t feed_split(const char *body, size_t n, size_t k, struct sink *s,
			  struct http_chunked *st)
{
	ssize_t a, b;

	memset(s, 0, sizeof(*s));
	http_chunked_init(st);
	a = http_chunked_feed(st, body, k, on_data, s);
	if (a < 0)
		return -1;
	if (st->done)
		return a;
	b = http_chunked_feed(st, body + k, n - k, on_data, s);
	return b < 0 ? -1 : a + b;
}

static void chunked_good(void **state)
{
	static const char body[] = "5;ext=1;q=\"x\"\r\nhello\r\n"
				   "A \t; name\r\n0123456789\r\n"
				   "000\r\nTrailer-A: 1\r\nB:\r\n\r\nNEXT";
	size_t n = sizeof(body) - 1 - 4, k;
	struct http_chunked st;
	struct sink s;

	(void)state;
	for (k = 0; k <= n; k++) {
		ssize_t r = feed_split(body, n + 4, k, &s, &st);
		if (r != (ssize_t)n || !st.done)
			fail_msg("split at %zu: %zd (%s)", k, r,
				 st.error ? st.error : "");
		assert_int_equal(s.n, 15);
		assert_memory_equal(s.buf, "hello0123456789", 15);
		assert_int_equal(st.payload, 15);
	}
	/* Byte by byte. */
	memset(&s, 0, sizeof(s));
	http_chunked_init(&st);
	for (k = 0; k < n; k++)
		assert_int_equal(
		    http_chunked_feed(&st, body + k, 1, on_data, &s), 1);
	assert_true(st.done);
	assert_int_equal(http_chunked_feed(&st, "x", 1, on_data, &s), 0);
	/* Uppercase hex, no trailers. */
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st,
					   "F\r\n0123456789abcde\r\n0\r\n\r\n",
					   25, NULL, NULL),
			 25);
	assert_true(st.done);
}

static void chunked_bad(void **state)
{
	static const char *const bads[] = {
	    "\r\n",
	    "x\r\n",
	    ";x\r\n",
	    "5\nhello\r\n",
	    "5\r\nhelloX\r\n",
	    "5\r\nhello\n",
	    "5\r\nhello\rX",
	    "0x5\r\nhello\r\n",
	    "-1\r\n",
	    "5 x\r\n",
	    "5;a\x01\r\n",
	    "10000000001\r\n",
	    "FFFFFFFFFFFFFFFFFFFF\r\n",
	    "0\r\nbad trailer\r\n\r\n",
	    "0\r\n: v\r\n\r\n",
	    "0\r\nA: \x01\r\n\r\n",
	    "0\r\nA: v\n\r\n",
	    "0\r\n\rX",
	    "0\r\n folded: x\r\n\r\n",
	};
	struct http_chunked st;
	struct sink s;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		n = strlen(bads[i]);
		for (k = 0; k <= n; k++)
			if (feed_split(bads[i], n, k, &s, &st) != -1 ||
			    !st.error)
				fail_msg("accepted %zu at %zu", i, k);
		assert_int_equal(
		    http_chunked_feed(&st, "0\r\n\r\n", 5, NULL, NULL), -1);
	}
	/* Exactly 2^40 is the largest size. */
	http_chunked_init(&st);
	assert_int_equal(
	    http_chunked_feed(&st, "10000000000\r\nab", 15, NULL, NULL), 15);
	assert_true(st.remaining == ((uint64_t)1 << 40) - 2);
}

static void chunked_limits(void **state)
{
	char *b = malloc(20000);
	struct http_chunked st;

	(void)state;
	/* Extensions up to the 4 KiB line limit, not past it. */
	b[0] = '1';
	b[1] = ';';
	memset(b + 2, 'e', 4093);
	memcpy(b + 4095, "\r\nx\r\n", 5);
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st, b, 4100, NULL, NULL), 4100);
	memset(b + 2, 'e', 4094);
	memcpy(b + 4096, "\r\nx\r\n", 5);
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st, b, 4101, NULL, NULL), -1);
	/* Leading zeros count against the line, not the size. */
	memset(b, '0', 4000);
	memcpy(b + 4000, "1\r\nx\r\n", 6);
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st, b, 4006, NULL, NULL), 4006);
	/* Trailers: 16 KiB in all. */
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st, "0\r\n", 3, NULL, NULL), 3);
	memcpy(b, "X: ", 3);
	memset(b + 3, 'v', 16385 - 7);
	memcpy(b + 16385 - 4, "\r\n\r\n", 4);
	assert_int_equal(http_chunked_feed(&st, b, 16385, NULL, NULL), -1);
	http_chunked_init(&st);
	assert_int_equal(http_chunked_feed(&st, "0\r\n", 3, NULL, NULL), 3);
	memcpy(b + 16384 - 4, "\r\n\r\n", 4);
	assert_int_equal(http_chunked_feed(&st, b, 16384, NULL, NULL), 16384);
	assert_true(st.done);
	free(b);
}

static int auth(const char *s, bool require_port, char host[256],
		uint16_t *port, bool *is_ip)
{
	const char *error = NULL;
	int r = http_authority_parse(s, strlen(s), require_port, host, port,
				     is_ip, &error);

	if (r < 0)
		assert_non_null(error);
	return r;
}

static void authority_good(void **state)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
		bool ip;
	} good[] = {
	    {"Example.COM:443", "example.com", 443, false},
	    {"example.com.:80", "example.com", 80, false},
	    {"localhost.", "localhost", 0, false},
	    {"a_b.example.com", "a_b.example.com", 0, false},
	    {"xn--bcher-kva.example:65535", "xn--bcher-kva.example", 65535,
	     false},
	    {"1.2.3.4:1", "1.2.3.4", 1, true},
	    {"0.0.0.0", "0.0.0.0", 0, true},
	    {"255.255.255.255", "255.255.255.255", 0, true},
	    {"[::1]:443", "::1", 443, true},
	    {"[FE80::1]", "fe80::1", 0, true},
	    {"[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80, true},
	    {"a1.b2.c3d", "a1.b2.c3d", 0, false},
	    {"0x7f", NULL, 0, false},
	};
	char host[256];
	uint16_t port;
	bool ip;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r = auth(good[i].in, false, host, &port, &ip);
		if (!good[i].host) {
			assert_int_equal(r, -1);
			continue;
		}
		if (r != 0)
			fail_msg("rejected %s", good[i].in);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		assert_int_equal(ip, good[i].ip);
	}
	/* 63-byte label and 253-byte name are the limits. */
	char name[300];
	memset(name, 'a', 63);
	strcpy(name + 63, ".b");
	assert_int_equal(auth(name, false, host, &port, &ip), 0);
	memset(name, 'a', 64);
	strcpy(name + 64, ".b");
	assert_int_equal(auth(name, false, host, &port, &ip), -1);
	for (i = 0; i < 253; i += 2)
		memcpy(name + i, "a.", 2);
	name[253] = '\0';
	assert_int_equal(auth(name, false, host, &port, &ip), 0);
	name[253] = '.';
	name[254] = '\0';
	assert_int_equal(auth(name, false, host, &port, &ip), 0);
	name[253] = 'a';
	assert_int_equal(auth(name, false, host, &port, &ip), -1);
}

static void authority_bad(void **state)
{
	static const char *const bads[] = {
	    "",
	    ":80",
	    "example.com:",
	    "example.com:0",
	    "example.com:65536",
	    "example.com:80a",
	    "example.com:080",
	    "example.com:+80",
	    "example.com:99999999",
	    "a..b",
	    ".a",
	    "a.b..",
	    "-a.b",
	    "a-.b",
	    "a.b-",
	    "a b",
	    "a/b",
	    "a@b",
	    "*.a.b",
	    "a%2eb",
	    "exa\x01mple",
	    "2130706433",
	    "017700000001",
	    "0x7f000001",
	    "0x7f.1",
	    "0x7f.0.0.1",
	    "010.1.1.1",
	    "127.1",
	    "127.0.1",
	    "1.2.3.4.5",
	    "256.1.1.1",
	    "1.2.3.04",
	    "1.2.3",
	    "01.2.3.4",
	    "0.0.0.0x1",
	    "::1",
	    "[::1",
	    "::1]",
	    "[::1]x",
	    "[::1]:",
	    "[]",
	    "[1.2.3.4]",
	    "[fe80::1%eth0]",
	    "[::g]",
	    "a:b:c",
	    "[::1]:0",
	    "foo.123",
	};
	char host[256];
	uint16_t port;
	bool ip;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		if (auth(bads[i], false, host, &port, &ip) != -1)
			fail_msg("accepted \"%s\"", bads[i]);
	assert_int_equal(auth("example.com", true, host, &port, &ip), -1);
	assert_int_equal(auth("[::1]", true, host, &port, &ip), -1);
}

static void percent_decode(void **state)
{
	char buf[64];
	size_t n;

	(void)state;
	n = http_percent_decode("a%41%2f%2F+%zz%4%", 17, buf);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "aA//+%zz%4%", 11);
	strcpy(buf, "%00x%7e");
	n = http_percent_decode(buf, 7, buf);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "\0x~", 3);
	assert_int_equal(http_percent_decode("%4", 2, buf), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(request_origin),
	    cmocka_unit_test(request_absolute),
	    cmocka_unit_test(request_connect),
	    cmocka_unit_test(request_line_bad),
	    cmocka_unit_test(request_headers_bad),
	    cmocka_unit_test(request_smuggling),
	    cmocka_unit_test(request_connection),
	    cmocka_unit_test(request_hop),
	    cmocka_unit_test(request_limits),
	    cmocka_unit_test(request_incremental),
	    cmocka_unit_test(response_parse),
	    cmocka_unit_test(response_bad),
	    cmocka_unit_test(chunked_good),
	    cmocka_unit_test(chunked_bad),
	    cmocka_unit_test(chunked_limits),
	    cmocka_unit_test(authority_good),
	    cmocka_unit_test(authority_bad),
	    cmocka_unit_test(percent_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
