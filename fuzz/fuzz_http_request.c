/* libFuzzer harness for the bundle's HTTP parsers: the input as a request
 * head, the bytes after it as a chunked body (split in two at a point the
 * input picks), and the input as a response head.  Checks that every
 * slice lies inside the input and that the decoder's counts add up. */
#include "bundle/http.h"
#include "lib/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *lo, *hi;

static void in_input(struct slice s)
{
	if (s.n && (s.p < lo || s.p + s.n > hi))
		BUG("slice outside the input");
}

static void headers_in_input(const struct http_header *h, size_t n)
{
	size_t i;

	if (n > HTTP_MAX_HEADERS)
		BUG("too many headers");
	for (i = 0; i < n; i++) {
		in_input(h[i].name);
		in_input(h[i].value);
		if (h[i].name.n == 0)
			BUG("empty header name");
		(void)http_header_is_hop_in(h, n, &h[i]);
	}
}

static void on_data(void *ctx, const char *p, size_t n)
{
	uint64_t *total = ctx;

	if (p < lo || p + n > hi || n == 0)
		BUG("payload span outside the input");
	*total += n;
}

static void body(const char *p, size_t n, size_t split)
{
	struct http_chunked st;
	uint64_t total = 0;
	ssize_t a, b = 0;

	http_chunked_init(&st);
	if (split > n)
		split = n;
	a = http_chunked_feed(&st, p, split, on_data, &total);
	if (a >= 0 && !st.done)
		b = http_chunked_feed(&st, p + split, n - split, on_data,
				      &total);
	if (a < 0 || b < 0) {
		if (!st.error)
			BUG("chunked error without a reason");
		return;
	}
	if ((size_t)(a + b) > n || total > (uint64_t)(a + b) ||
	    total != st.payload)
		BUG("chunked counts do not add up");
	if (!st.done && (size_t)(a + b) != n)
		BUG("chunked stopped early");
}

static void request(const char *data, size_t size)
{
	static struct http_request req;
	char path[HTTP_MAX_HEAD];

	if (http_request_parse(data, size, &req) != HTTP_OK)
		return;
	if (req.head_len > size || req.head_len > HTTP_MAX_HEAD ||
	    (req.chunked && req.has_length))
		BUG("request head inconsistent");
	in_input(req.method);
	in_input(req.target);
	in_input(req.host);
	in_input(req.authority);
	if (req.form != TARGET_ABSOLUTE || req.path.p[0] != '/' ||
	    req.path.n != 1)
		in_input(req.path);
	if (strlen(req.hostname) > 253)
		BUG("host name too long");
	headers_in_input(req.headers, req.n_headers);
	http_percent_decode(req.path.p, req.path.n, path);
	body(data + req.head_len, size - req.head_len,
	     size ? (unsigned char)data[size - 1] : 0);
}

static void response(const char *data, size_t size)
{
	static struct http_response resp;
	static const struct slice get = {"GET", 3};

	if (http_response_parse(data, size, &resp) != HTTP_OK)
		return;
	if (resp.head_len > size || resp.status < 100 || resp.status > 599)
		BUG("response head inconsistent");
	in_input(resp.reason);
	headers_in_input(resp.headers, resp.n_headers);
	if (http_response_body(&resp, get) == BODY_CHUNKED)
		body(data + resp.head_len, size - resp.head_len, size / 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so that ASan sees any read past the end. */
	char *p = malloc(size ? size : 1);

	memcpy(p, data, size);
	lo = p;
	hi = p + size;
	request(p, size);
	response(p, size);
	body(p, size, size / 3);
	free(p);
	return 0;
}
