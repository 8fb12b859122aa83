/* HTTP/1.1 message heads, chunked bodies and authorities, as the bundle's
 * proxy reads them from a hostile agent and from upstream servers.
 *
 * Nothing here allocates: every parsed string is a slice into the caller's
 * buffer, valid as long as that buffer is.  The parsers are stateless over
 * the head (call again with more bytes after HTTP_INCOMPLETE; a head is at
 * most 64 KiB) and stateful over chunked bodies (struct http_chunked).
 *
 * Strictness, and why: a proxy that reads a message differently from the
 * server behind it is a request-smuggling hole.  So lines end in CRLF only
 * (a bare LF or a bare CR is an error, never a line end), obs-fold and
 * whitespace before ':' are errors, Transfer-Encoding must be exactly
 * "chunked" (in responses too: the proxy forwards no other coding), and
 * Content-Length together with Transfer-Encoding is an error rather than
 * "TE wins".  A request target may carry obs-text (raw UTF-8 that some
 * clients send) but no '#' and no control characters.
 */
#ifndef BOTTLE_BUNDLE_HTTP_H
#define BOTTLE_BUNDLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct slice {
	const char *p;
	size_t n;
};

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_HEAD	 (64 * 1024) /* a head, bytes, incl. CRLFCRLF */

struct http_header {
	struct slice name, value; /* value without surrounding OWS */
};

enum http_parse {
	HTTP_OK = 0,
	HTTP_INCOMPLETE = -1,
	HTTP_BAD = -2,
	HTTP_TOO_LARGE = -3,
};

enum http_target_form {
	TARGET_ORIGIN,	  /* "/path?query" */
	TARGET_ABSOLUTE,  /* "http://host[:port]/path?query" */
	TARGET_AUTHORITY, /* CONNECT "host:port" */
	TARGET_ASTERISK,  /* OPTIONS "*" */
};

struct http_request {
	struct slice method, target;
	/* Origin-form path+query: the target itself for origin-form, the part
	 * after the authority for absolute-form ("/" when it had none). */
	struct slice path;
	enum http_target_form form;
	/* Absolute-form (scheme "http" or "https", any case; port defaults to
	 * 80/443) or authority-form (CONNECT; scheme empty).  For origin-form
	 * these come from the Host header when there is one, with port 0 if
	 * it names none (the caller knows the scheme). */
	struct slice scheme;
	struct slice authority; /* raw "host[:port]" as sent */
	struct slice host;	/* raw host, without brackets or port */
	uint16_t port;
	char hostname[256]; /* host lowercased, no brackets, no final dot */
	bool host_is_ip;    /* hostname is an IPv4 or IPv6 literal */
	int minor;	    /* HTTP/1.<minor>, 0 or 1 */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	size_t head_len; /* bytes consumed incl. the blank line */
	/* Framing, derived from the headers. */
	bool chunked;
	bool has_length;
	uint64_t content_length;
	bool keep_alive; /* per version and the Connection header */
	bool expect_continue;
	/* Static reason on HTTP_BAD / HTTP_TOO_LARGE, fit for the agent. */
	const char *error;
};

/* Parse a request head from buf[0..len).  HTTP_INCOMPLETE when the head
 * has not ended yet and len < HTTP_MAX_HEAD; HTTP_TOO_LARGE past that, or
 * over HTTP_MAX_HEADERS headers; HTTP_BAD for any malformed or ambiguous
 * head (see the top of this file), req->error saying why.  An incomplete
 * head whose complete lines are already malformed is HTTP_BAD at once.
 * req may hold garbage on entry; on HTTP_OK it is fully set. */
enum http_parse http_request_parse(const char *buf, size_t len,
				   struct http_request *req);

struct http_response {
	int status; /* 100..599 */
	int minor;
	struct slice reason;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	size_t head_len;
	bool chunked, has_length;
	uint64_t content_length;
	bool keep_alive;
	const char *error;
};

/* Parse an upstream response head; same contract as http_request_parse().
 * Whether a body follows depends on the request: see http_response_body(). */
enum http_parse http_response_parse(const char *buf, size_t len,
				    struct http_response *resp);

enum http_body { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

/* RFC 9112 section 6.3: how the body of resp, the answer to a request with
 * this method, is delimited.  HEAD, 1xx, 204, 304 and a 2xx to CONNECT
 * have none. */
enum http_body http_response_body(const struct http_response *resp,
				  struct slice method);

/* Case-insensitive lookup of name among h[0..n); the first match or NULL. */
const struct http_header *http_header_find(const struct http_header *h,
					   size_t n, const char *name);

/* Must a proxy drop h rather than forward it?  True for the hop-by-hop
 * headers (Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization,
 * Proxy-Authenticate, TE, Trailer, Transfer-Encoding, Upgrade) and for any
 * header named in the Connection headers of req (NULL: only the fixed
 * list). */
bool http_header_is_hop(const struct http_request *req_or_null,
			const struct http_header *h);

/* The same, with the message's headers given directly (for responses). */
bool http_header_is_hop_in(const struct http_header *msg, size_t n,
			   const struct http_header *h);

/* Streaming chunked-body decoder (RFC 9112 section 7.1).  A chunk size is
 * at most 2^40, its line (size and extensions) at most 4 KiB; trailers are
 * at most 16 KiB in all, checked for shape and passed through (they are
 * part of the bytes consumed, never handed to on_data). */
enum http_chunked_state {
	CHUNK_SIZE,
	CHUNK_SIZE_BWS,
	CHUNK_EXT,
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START,
	CHUNK_TRAILER_NAME,
	CHUNK_TRAILER_VALUE,
	CHUNK_TRAILER_LF,
	CHUNK_END_LF,
	CHUNK_DONE,
	CHUNK_ERROR,
};

struct http_chunked {
	enum http_chunked_state state;
	uint64_t remaining;   /* data bytes left in this chunk */
	size_t line_len;      /* bytes of the current size line */
	size_t trailer_len;   /* bytes of trailers so far */
	unsigned size_digits; /* hex digits read in this size */
	uint64_t payload;     /* data bytes delivered in all */
	bool done;
	const char *error; /* static reason once feed returned -1 */
};

void http_chunked_init(struct http_chunked *st);

/* Feed raw body bytes.  Payload spans go to on_data (may be NULL).
 * Returns the number of bytes consumed: all of len, or fewer when the body
 * ended inside buf (st->done; the rest is the next message).  -1 on a
 * malformed body, with st->error set; so is every later call. */
ssize_t http_chunked_feed(struct http_chunked *st, const char *buf, size_t len,
			  void (*on_data)(void *ctx, const char *p, size_t n),
			  void *ctx);

/* Parse an authority "host[:port]" or "[v6]:port" (CONNECT target, Host
 * header, allowlist entry).  host is a DNS name (LDH labels plus '_', each
 * 1..63 bytes, no '-' at either end, <= 253 in all, one final dot allowed
 * and dropped), a strict dotted-quad IPv4 address, or a bracketed IPv6
 * address (no zone).  Spellings that a resolver would read as an IPv4
 * address but that are not strict dotted quads ("010.1.1.1", "0x7f.1",
 * "2130706433", "127.1") and names whose last label is numeric are
 * malformed, so that they cannot dodge the IP-literal rule.
 * Writes the host lowercased, without brackets, NUL-terminated into
 * host_out, the port (0 when absent) into *port.  Returns 0, or -1 with a
 * static *error; the outputs are then unspecified. */
int http_authority_parse(const char *s, size_t n, bool require_port,
			 char host_out[256], uint16_t *port, bool *is_ip,
			 const char **error);

/* Percent-decode (RFC 3986) in[0..n) into out, which may be in itself and
 * must hold n bytes.  '+' stays '+'; an invalid escape is copied as is.
 * Returns the decoded length. */
size_t http_percent_decode(const char *in, size_t n, char *out);

#endif
