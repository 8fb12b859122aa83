/* Private to http*.c: character classes and small helpers shared by the
 * head, chunked and authority parsers.  Not part of the bundle's API. */
#ifndef BOTTLE_BUNDLE_HTTP_INT_H
#define BOTTLE_BUNDLE_HTTP_INT_H

#include "bundle/http.h"

/* Bits of http_chars[c].  One table lookup per byte, no locale. */
enum {
	HC_TCHAR = 1,  /* RFC 9110 token character */
	HC_FVAL = 2,   /* field value: HTAB, SP, VCHAR, obs-text */
	HC_TARGET = 4, /* request-target: VCHAR but '#', obs-text */
	HC_HEX = 8,
	HC_DIGIT = 16,
	HC_HOST = 32, /* host name: ALPHA, DIGIT, '-', '_', '.' */
};
extern const unsigned char http_chars[256];

static inline bool hc_is(char c, unsigned cls)
{
	return http_chars[(unsigned char)c] & cls;
}

static inline char hc_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* Is p[0..n) equal to the lowercase literal lit, ignoring ASCII case? */
static inline bool hc_eq_ci(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!lit[i] || hc_lower(p[i]) != lit[i])
			return false;
	return lit[n] == '\0';
}

/* http_authority_parse(), also returning the raw host slice (without
 * brackets and port) into s. */
int http_authority_parse_raw(const char *s, size_t n, bool require_port,
			     char host_out[256], uint16_t *port, bool *is_ip,
			     struct slice *raw_host, const char **error);

#endif
