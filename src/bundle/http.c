/* HTTP/1.1 request and response heads (RFC 9112 sections 2-6), strictly.
 * Why strict: see http.h. */
#include "bundle/http.h"
#include "bundle/http_int.h"

#include <string.h>

/* Generated: see the HC_* bits in http_int.h. */
/* clang-format off */
const unsigned char http_chars[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x07, 0x06, 0x03, 0x07, 0x07, 0x07, 0x07, 0x06, 0x06, 0x07, 0x07, 0x06, 0x27, 0x27, 0x06,
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27,
	0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x06, 0x06, 0x06, 0x07, 0x27,
	0x07, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27,
	0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x06, 0x07, 0x06, 0x07, 0x00,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
	0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06,
};
/* clang-format on */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Word-at-a-time tests (Bit Twiddling Hacks): does any byte of w equal 0,
 * or fall below n (n <= 128)?  No false negatives. */
#define ONES	       0x0101010101010101ull
#define HAS_ZERO(w)    (((w)-ONES) & ~(w) & (ONES * 0x80))
#define HAS_LESS(w, n) (((w)-ONES * (n)) & ~(w) & (ONES * 0x80))

/* Index of the first byte of p[i..n) outside cls, or n.  Runs of bytes in
 * 0x21..0x7e (or >= 0x80) other than stop go 8 at a time: header values
 * and targets are the bulk of a head. */
static size_t scan(const char *p, size_t i, size_t n, unsigned cls, char stop)
{
	uint64_t w;

	while (i < n) {
		if (n - i >= 8) {
			memcpy(&w, p + i, 8);
			if (!(HAS_LESS(w, 0x21) | HAS_ZERO(w ^ (ONES * 0x7f)) |
			      HAS_ZERO(w ^ (ONES * (unsigned char)stop)))) {
				i += 8;
				continue;
			}
		}
		if (!hc_is(p[i], cls))
			return i;
		i++;
	}
	return n;
}

/* The line starting at pos ends before *eol (its CR).  Lines end in CRLF:
 * an LF without a CR before it is an error, never a line end, so that we
 * cannot split lines where the server behind us does not. */
static enum http_parse next_line(const char *buf, size_t lim, size_t pos,
				 size_t *eol, const char **error)
{
	const char *lf = memchr(buf + pos, '\n', lim - pos);
	size_t i;

	if (!lf)
		return HTTP_INCOMPLETE;
	i = (size_t)(lf - buf);
	if (i == pos || buf[i - 1] != '\r') {
		*error = "bare LF in message head";
		return HTTP_BAD;
	}
	*eol = i - 1;
	return HTTP_OK;
}

/* One "name: value" line, p[0..n) without its CRLF. */
static enum http_parse parse_header_line(const char *p, size_t n,
					 struct http_header *h,
					 const char **error)
{
	size_t i = 0, end;

	if (is_ows(p[0])) {
		*error = "obs-fold (header line starting with whitespace)";
		return HTTP_BAD;
	}
	while (i < n && hc_is(p[i], HC_TCHAR))
		i++;
	if (i == n || p[i] != ':' || i == 0) {
		*error = (i < n && i > 0 && is_ows(p[i]))
			     ? "whitespace before colon in header"
			     : "invalid header name";
		return HTTP_BAD;
	}
	h->name = (struct slice){p, i};
	for (i++; i < n && is_ows(p[i]); i++)
		;
	h->value.p = p + i;
	end = scan(p, i, n, HC_FVAL, 0x7f);
	if (end != n) {
		*error = "invalid character in header value";
		return HTTP_BAD;
	}
	while (end > i && is_ows(p[end - 1]))
		end--;
	h->value.n = end - i;
	return HTTP_OK;
}

/* Header lines from pos up to and including the blank line. */
static enum http_parse parse_headers(const char *buf, size_t lim, size_t pos,
				     struct http_header *h, size_t *n_out,
				     size_t *head_len, const char **error)
{
	enum http_parse r;
	size_t n = 0, eol;

	for (;;) {
		r = next_line(buf, lim, pos, &eol, error);
		if (r != HTTP_OK)
			return r;
		if (eol == pos)
			break;
		if (n == HTTP_MAX_HEADERS) {
			*error = "too many headers";
			return HTTP_TOO_LARGE;
		}
		r = parse_header_line(buf + pos, eol - pos, &h[n], error);
		if (r != HTTP_OK)
			return r;
		n++;
		pos = eol + 2;
	}
	*n_out = n;
	*head_len = eol + 2;
	return HTTP_OK;
}

/* Next element of a comma-separated list, OWS trimmed; empty elements are
 * returned as such.  false at the end of the list. */
static bool next_list_item(struct slice *list, struct slice *item)
{
	const char *p = list->p, *end = list->p + list->n, *comma;

	if (!list->p)
		return false;
	comma = memchr(p, ',', list->n);
	if (comma) {
		list->n -= (size_t)(comma + 1 - p);
		list->p = comma + 1;
		end = comma;
	} else {
		list->p = NULL;
		list->n = 0;
	}
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;
	*item = (struct slice){p, (size_t)(end - p)};
	return true;
}

/* Content-Length: 1*DIGIT, or a list of identical values (RFC 9112
 * section 6.3 item 5). */
static bool parse_content_length(struct slice v, uint64_t *out)
{
	struct slice item;
	bool first = true;
	uint64_t x;
	size_t i;

	while (next_list_item(&v, &item)) {
		if (item.n == 0)
			return false;
		for (x = 0, i = 0; i < item.n; i++) {
			unsigned d = (unsigned char)item.p[i] - '0';
			if (d > 9 || x > (UINT64_MAX - d) / 10)
				return false;
			x = x * 10 + d;
		}
		if (!first && x != *out)
			return false;
		*out = x;
		first = false;
	}
	return !first;
}

struct framing {
	bool chunked, has_length, keep_alive, expect_continue;
	uint64_t content_length;
};

static enum http_parse framing_header(const struct http_header *h,
				      struct framing *f, bool *close, bool *ka,
				      const char **error)
{
	struct slice list, tok;
	uint64_t v = 0;

	switch (h->name.n) { /* the length first: most headers are no match */
	case 6:
	case 10:
	case 14:
	case 17:
		break;
	default:
		return HTTP_OK;
	}
	if (hc_eq_ci(h->name.p, h->name.n, "content-length")) {
		if (!parse_content_length(h->value, &v) ||
		    (f->has_length && v != f->content_length)) {
			*error = "invalid or conflicting Content-Length";
			return HTTP_BAD;
		}
		f->has_length = true;
		f->content_length = v;
	} else if (hc_eq_ci(h->name.p, h->name.n, "transfer-encoding")) {
		/* A second TE header would make the list "chunked, ...". */
		if (f->chunked ||
		    !hc_eq_ci(h->value.p, h->value.n, "chunked")) {
			*error = "unsupported Transfer-Encoding";
			return HTTP_BAD;
		}
		f->chunked = true;
	} else if (hc_eq_ci(h->name.p, h->name.n, "connection")) {
		list = h->value;
		while (next_list_item(&list, &tok)) {
			*close |= hc_eq_ci(tok.p, tok.n, "close");
			*ka |= hc_eq_ci(tok.p, tok.n, "keep-alive");
		}
	} else if (hc_eq_ci(h->name.p, h->name.n, "expect")) {
		f->expect_continue =
		    hc_eq_ci(h->value.p, h->value.n, "100-continue");
	}
	return HTTP_OK;
}

static enum http_parse derive_framing(const struct http_header *h, size_t n,
				      int minor, struct framing *f,
				      const char **error)
{
	bool close = false, ka = false;
	enum http_parse r;
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++) {
		r = framing_header(&h[i], f, &close, &ka, error);
		if (r != HTTP_OK)
			return r;
	}
	/* RFC 9112 section 6.1: TE with CL is a smuggling attempt more often
	 * than not; TE in HTTP/1.0 is faulty framing. */
	if (f->chunked && f->has_length) {
		*error = "both Content-Length and Transfer-Encoding";
		return HTTP_BAD;
	}
	if (f->chunked && minor == 0) {
		*error = "Transfer-Encoding in an HTTP/1.0 message";
		return HTTP_BAD;
	}
	f->keep_alive = !close && (minor == 1 || ka);
	return HTTP_OK;
}

/* "HTTP/1.0" or "HTTP/1.1" at p[0..8). */
static int parse_version(const char *p)
{
	if (memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

static enum http_parse parse_request_line(const char *p, size_t n,
					  struct http_request *req)
{
	size_t i = 0, j;

	while (i < n && hc_is(p[i], HC_TCHAR))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		goto bad;
	req->method = (struct slice){p, i};
	j = scan(p, ++i, n, HC_TARGET, '#');
	if (j == i || j == n || p[j] != ' ')
		goto bad;
	req->target = (struct slice){p + i, j - i};
	if (n - j - 1 != 8 || (req->minor = parse_version(p + j + 1)) < 0)
		goto bad;
	return HTTP_OK;
bad:
	req->error = "malformed request line";
	return HTTP_BAD;
}

static bool slice_is(struct slice s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static enum http_parse set_authority(struct http_request *req, struct slice a,
				     bool require_port, const char *what)
{
	const char *error;

	if (http_authority_parse_raw(a.p, a.n, require_port, req->hostname,
				     &req->port, &req->host_is_ip, &req->host,
				     &error) < 0) {
		req->error = what ? what : error;
		return HTTP_BAD;
	}
	req->authority = a;
	return HTTP_OK;
}

/* "http[s]://authority[/path][?query]"; no userinfo, no fragment. */
static enum http_parse parse_absolute(struct http_request *req)
{
	struct slice t = req->target, a;
	const char *colon = memchr(t.p, ':', t.n);
	enum http_parse r;
	bool tls;
	size_t i;

	if (!colon || (size_t)(colon - t.p) + 3 > t.n || colon[1] != '/' ||
	    colon[2] != '/') {
		req->error = "malformed request target";
		return HTTP_BAD;
	}
	req->scheme = (struct slice){t.p, (size_t)(colon - t.p)};
	tls = hc_eq_ci(req->scheme.p, req->scheme.n, "https");
	if (!tls && !hc_eq_ci(req->scheme.p, req->scheme.n, "http")) {
		req->error = "unsupported URL scheme";
		return HTTP_BAD;
	}
	a.p = colon + 3;
	for (i = 0; a.p + i < t.p + t.n && a.p[i] != '/' && a.p[i] != '?'; i++)
		if (a.p[i] == '@') {
			req->error = "userinfo in request target";
			return HTTP_BAD;
		}
	a.n = i;
	r = set_authority(req, a, false, NULL);
	if (r != HTTP_OK)
		return r;
	if (!req->port)
		req->port = tls ? 443 : 80;
	req->path.p = a.p + a.n;
	req->path.n = (size_t)(t.p + t.n - req->path.p);
	if (req->path.n == 0) {
		req->path = (struct slice){"/", 1};
	} else if (req->path.p[0] != '/') {
		/* "http://h?q": the origin-form would need a '/' we cannot
		 * slice out of the buffer.  No real client sends it. */
		req->error = "malformed request target";
		return HTTP_BAD;
	}
	return HTTP_OK;
}

static enum http_parse parse_target(struct http_request *req)
{
	struct slice t = req->target;

	if (slice_is(req->method, "CONNECT")) {
		req->form = TARGET_AUTHORITY;
		return set_authority(req, t, true, NULL);
	}
	if (t.p[0] == '/') {
		req->form = TARGET_ORIGIN;
		req->path = t;
		return HTTP_OK;
	}
	if (t.n == 1 && t.p[0] == '*' && slice_is(req->method, "OPTIONS")) {
		req->form = TARGET_ASTERISK;
		req->path = t;
		return HTTP_OK;
	}
	req->form = TARGET_ABSOLUTE;
	return parse_absolute(req);
}

/* RFC 9112 section 3.2: exactly one Host in HTTP/1.1.  For origin-form it
 * names the target; for the other forms a proxy ignores and replaces it. */
static enum http_parse check_host(struct http_request *req)
{
	const struct http_header *host = NULL;
	size_t i;

	for (i = 0; i < req->n_headers; i++) {
		if (!hc_eq_ci(req->headers[i].name.p, req->headers[i].name.n,
			      "host"))
			continue;
		if (host) {
			req->error = "multiple Host headers";
			return HTTP_BAD;
		}
		host = &req->headers[i];
	}
	if (req->form != TARGET_ORIGIN && req->form != TARGET_ASTERISK)
		return HTTP_OK;
	if (!host) {
		if (req->minor == 0)
			return HTTP_OK;
		req->error = "missing Host header";
		return HTTP_BAD;
	}
	return set_authority(req, host->value, false, "invalid Host header");
}

static void request_reset(struct http_request *req)
{
	/* Not the header array: 3 KiB of stores per call for nothing. */
	memset(req, 0, offsetof(struct http_request, headers));
	req->n_headers = 0;
	req->head_len = 0;
	req->chunked = req->has_length = false;
	req->content_length = 0;
	req->keep_alive = req->expect_continue = false;
	req->error = NULL;
}

/* After a complete parse, or HTTP_INCOMPLETE with no room left. */
static enum http_parse incomplete(size_t len, const char **error,
				  const char *too_large)
{
	if (len < HTTP_MAX_HEAD)
		return HTTP_INCOMPLETE;
	*error = too_large;
	return HTTP_TOO_LARGE;
}

enum http_parse http_request_parse(const char *buf, size_t len,
				   struct http_request *req)
{
	size_t lim = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, eol;
	struct framing f;
	enum http_parse r;

	request_reset(req);
	r = next_line(buf, lim, 0, &eol, &req->error);
	if (r == HTTP_OK)
		r = parse_request_line(buf, eol, req);
	if (r == HTTP_OK)
		r = parse_headers(buf, lim, eol + 2, req->headers,
				  &req->n_headers, &req->head_len, &req->error);
	if (r == HTTP_INCOMPLETE)
		return incomplete(len, &req->error,
				  "request head larger than 64 KiB");
	if (r == HTTP_OK)
		r = parse_target(req);
	if (r == HTTP_OK)
		r = check_host(req);
	if (r == HTTP_OK)
		r = derive_framing(req->headers, req->n_headers, req->minor, &f,
				   &req->error);
	if (r != HTTP_OK)
		return r;
	req->chunked = f.chunked;
	req->has_length = f.has_length;
	req->content_length = f.content_length;
	req->keep_alive = f.keep_alive;
	req->expect_continue = f.expect_continue;
	return HTTP_OK;
}

/* "HTTP/1.x SSS reason"; the SP before an empty reason may be missing. */
static enum http_parse parse_status_line(const char *p, size_t n,
					 struct http_response *resp)
{
	size_t i;

	if (n < 12 || (resp->minor = parse_version(p)) < 0 || p[8] != ' ' ||
	    !hc_is(p[9], HC_DIGIT) || !hc_is(p[10], HC_DIGIT) ||
	    !hc_is(p[11], HC_DIGIT) || (n > 12 && p[12] != ' '))
		goto bad;
	resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (resp->status < 100 || resp->status > 599)
		goto bad;
	for (i = 13; i < n; i++)
		if (!hc_is(p[i], HC_FVAL))
			goto bad;
	resp->reason =
	    n > 13 ? (struct slice){p + 13, n - 13} : (struct slice){p + n, 0};
	return HTTP_OK;
bad:
	resp->error = "malformed status line";
	return HTTP_BAD;
}

enum http_parse http_response_parse(const char *buf, size_t len,
				    struct http_response *resp)
{
	size_t lim = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, eol;
	struct framing f;
	enum http_parse r;

	memset(resp, 0, offsetof(struct http_response, headers));
	resp->n_headers = resp->head_len = 0;
	resp->error = NULL;
	r = next_line(buf, lim, 0, &eol, &resp->error);
	if (r == HTTP_OK)
		r = parse_status_line(buf, eol, resp);
	if (r == HTTP_OK)
		r = parse_headers(buf, lim, eol + 2, resp->headers,
				  &resp->n_headers, &resp->head_len,
				  &resp->error);
	if (r == HTTP_INCOMPLETE)
		return incomplete(len, &resp->error,
				  "response head larger than 64 KiB");
	if (r == HTTP_OK)
		r = derive_framing(resp->headers, resp->n_headers, resp->minor,
				   &f, &resp->error);
	if (r != HTTP_OK)
		return r;
	resp->chunked = f.chunked;
	resp->has_length = f.has_length;
	resp->content_length = f.content_length;
	resp->keep_alive = f.keep_alive;
	return HTTP_OK;
}

enum http_body http_response_body(const struct http_response *resp,
				  struct slice method)
{
	if (slice_is(method, "HEAD") || resp->status < 200 ||
	    resp->status == 204 || resp->status == 304)
		return BODY_NONE;
	if (slice_is(method, "CONNECT") && resp->status < 300)
		return BODY_NONE;
	if (resp->chunked)
		return BODY_CHUNKED;
	if (resp->has_length)
		return BODY_LENGTH;
	return BODY_UNTIL_CLOSE;
}

static bool slice_eq_ci(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hc_lower(a[i]) != hc_lower(b[i]))
			return false;
	return true;
}

const struct http_header *http_header_find(const struct http_header *h,
					   size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (h[i].name.n == len && slice_eq_ci(h[i].name.p, name, len))
			return &h[i];
	return NULL;
}

static const char *const hop_headers[] = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
};

bool http_header_is_hop_in(const struct http_header *msg, size_t n,
			   const struct http_header *h)
{
	struct slice list, tok;
	size_t i;

	for (i = 0; i < sizeof(hop_headers) / sizeof(hop_headers[0]); i++)
		if (hc_eq_ci(h->name.p, h->name.n, hop_headers[i]))
			return true;
	for (i = 0; i < n; i++) {
		if (!hc_eq_ci(msg[i].name.p, msg[i].name.n, "connection"))
			continue;
		list = msg[i].value;
		while (next_list_item(&list, &tok))
			if (tok.n == h->name.n &&
			    slice_eq_ci(tok.p, h->name.p, tok.n))
				return true;
	}
	return false;
}

bool http_header_is_hop(const struct http_request *req_or_null,
			const struct http_header *h)
{
	if (!req_or_null)
		return http_header_is_hop_in(NULL, 0, h);
	return http_header_is_hop_in(req_or_null->headers,
				     req_or_null->n_headers, h);
}
