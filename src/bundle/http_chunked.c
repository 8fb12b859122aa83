/* Chunked transfer coding (RFC 9112 section 7.1), decoded as a stream.
 * One byte-at-a-time state machine for the framing lines; payload spans
 * are handed out whole. */
#include "bundle/http.h"
#include "bundle/http_int.h"

#include <limits.h>
#include <string.h>

#define CHUNK_SIZE_MAX	  ((uint64_t)1 << 40)
#define CHUNK_LINE_MAX	  4096
#define CHUNK_TRAILER_MAX (16 * 1024)

void http_chunked_init(struct http_chunked *st)
{
	memset(st, 0, sizeof(*st));
	st->state = CHUNK_SIZE;
}

static int fail(struct http_chunked *st, const char *why)
{
	st->state = CHUNK_ERROR;
	st->error = why;
	return -1;
}

/* chunk-size [ chunk-ext ] CRLF, one byte. */
static int size_line_byte(struct http_chunked *st, char c)
{
	if (++st->line_len > CHUNK_LINE_MAX)
		return fail(st, "chunk size line longer than 4 KiB");
	if (st->state == CHUNK_EXT) {
		if (c == '\r')
			st->state = CHUNK_SIZE_LF;
		else if (!hc_is(c, HC_FVAL))
			return fail(st, "malformed chunk extension");
		return 0;
	}
	if (st->state == CHUNK_SIZE_BWS) {
		if (c == ';')
			st->state = CHUNK_EXT;
		else if (c != ' ' && c != '\t')
			return fail(st, "malformed chunk extension");
		return 0;
	}
	if (hc_is(c, HC_HEX)) {
		unsigned d = hc_is(c, HC_DIGIT)
				 ? (unsigned)(c - '0')
				 : (unsigned)(hc_lower(c) - 'a' + 10);
		if (st->remaining > (CHUNK_SIZE_MAX - d) / 16)
			return fail(st, "chunk size larger than 2^40");
		st->remaining = st->remaining * 16 + d;
		st->size_digits++;
		return 0;
	}
	if (st->size_digits == 0)
		return fail(st, "malformed chunk size");
	if (c == '\r')
		st->state = CHUNK_SIZE_LF;
	else if (c == ';')
		st->state = CHUNK_EXT; /* extensions: skipped, bounded */
	else if (c == ' ' || c == '\t')
		st->state = CHUNK_SIZE_BWS;
	else
		return fail(st, "malformed chunk size");
	return 0;
}

/* trailer-section CRLF after the last chunk, one byte. */
static int trailer_byte(struct http_chunked *st, char c)
{
	if (++st->trailer_len > CHUNK_TRAILER_MAX)
		return fail(st, "chunked trailers larger than 16 KiB");
	switch (st->state) {
	case CHUNK_TRAILER_START:
		if (c == '\r')
			st->state = CHUNK_END_LF;
		else if (hc_is(c, HC_TCHAR))
			st->state = CHUNK_TRAILER_NAME;
		else
			return fail(st, "malformed trailer");
		return 0;
	case CHUNK_TRAILER_NAME:
		if (c == ':')
			st->state = CHUNK_TRAILER_VALUE;
		else if (!hc_is(c, HC_TCHAR))
			return fail(st, "malformed trailer");
		return 0;
	case CHUNK_TRAILER_VALUE:
		if (c == '\r')
			st->state = CHUNK_TRAILER_LF;
		else if (!hc_is(c, HC_FVAL))
			return fail(st, "malformed trailer");
		return 0;
	case CHUNK_TRAILER_LF:
		if (c != '\n')
			return fail(st, "bare CR in trailer");
		st->state = CHUNK_TRAILER_START;
		return 0;
	default: /* CHUNK_END_LF */
		if (c != '\n')
			return fail(st, "bare CR after last chunk");
		st->state = CHUNK_DONE;
		st->done = true;
		return 0;
	}
}

/* Everything but payload bytes, one byte. */
static int framing_byte(struct http_chunked *st, char c)
{
	switch (st->state) {
	case CHUNK_SIZE:
	case CHUNK_SIZE_BWS:
	case CHUNK_EXT:
		return size_line_byte(st, c);
	case CHUNK_SIZE_LF:
		if (c != '\n')
			return fail(st, "bare CR in chunk size line");
		st->state = st->remaining ? CHUNK_DATA : CHUNK_TRAILER_START;
		st->line_len = 0;
		st->size_digits = 0;
		return 0;
	case CHUNK_DATA_CR:
		if (c != '\r')
			return fail(st, "chunk data longer than its size");
		st->state = CHUNK_DATA_LF;
		return 0;
	case CHUNK_DATA_LF:
		if (c != '\n')
			return fail(st, "bare CR after chunk data");
		st->state = CHUNK_SIZE;
		return 0;
	default:
		return trailer_byte(st, c);
	}
}

ssize_t http_chunked_feed(struct http_chunked *st, const char *buf, size_t len,
			  void (*on_data)(void *ctx, const char *p, size_t n),
			  void *ctx)
{
	size_t i = 0, take;

	if (st->state == CHUNK_ERROR)
		return -1;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (i < len && st->state != CHUNK_DONE) {
		if (st->state != CHUNK_DATA) {
			if (framing_byte(st, buf[i++]) < 0)
				return -1;
			continue;
		}
		take = len - i;
		if (take > st->remaining)
			take = (size_t)st->remaining;
		if (on_data)
			on_data(ctx, buf + i, take);
		i += take;
		st->remaining -= take;
		st->payload += take;
		if (st->remaining == 0)
			st->state = CHUNK_DATA_CR;
	}
	return (ssize_t)i;
}
