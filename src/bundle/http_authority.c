/* Authorities ("host:port") and percent-decoding.
 *
 * The host check is a security boundary: the allowlist matches names and
 * the policy denies IP literals unless allowed, so every spelling that a
 * resolver would read as an address must either be a canonical literal
 * or be rejected.  glibc's getaddrinfo() reads IPv4 through inet_aton(),
 * which takes "127.1", "0x7f.0.0.1", "017700000001" and "2130706433". */
#include "bundle/http.h"
#include "bundle/http_int.h"

#include <arpa/inet.h>
#include <string.h>

/* "a.b.c.d", each 0..255 without leading zeros. */
static bool is_dotted_quad(const char *s)
{
	unsigned parts = 0, v, digits;
	const char *start;

	for (;;) {
		start = s;
		for (v = 0, digits = 0; hc_is(*s, HC_DIGIT); s++, digits++)
			v = v * 10 + (unsigned)(*s - '0');
		if (digits == 0 || digits > 3 || v > 255 ||
		    (digits > 1 && *start == '0'))
			return false;
		if (++parts == 4)
			return *s == '\0';
		if (*s++ != '.')
			return false;
	}
}

/* Lowercase, check and classify a host name h[0..n) into out. */
static int host_name(const char *h, size_t n, char out[256], bool *is_ip,
		     const char **error)
{
	size_t i, label = 0;
	bool numeric = true;
	struct in_addr a;

	if (n > 0 && h[n - 1] == '.')
		n--; /* the root label: "example.com." is example.com */
	if (n == 0 || n > 253) {
		*error = n ? "host name too long" : "empty host";
		return -1;
	}
	for (i = 0; i < n; i++) {
		char c = h[i];
		if (!hc_is(c, HC_HOST)) {
			*error = "invalid character in host name";
			return -1;
		}
		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				goto bad_label;
			label = 0;
			numeric = true;
		} else {
			if ((label == 0 && c == '-') || ++label > 63)
				goto bad_label;
			numeric &= hc_is(c, HC_DIGIT);
		}
		out[i] = hc_lower(c);
	}
	if (h[n - 1] == '-')
		goto bad_label;
	out[n] = '\0';
	/* A numeric last label makes it an address or nothing (no top-level
	 * domain is numeric); inet_aton() catches the hex forms. */
	*is_ip = numeric;
	if (numeric ? !is_dotted_quad(out) : inet_aton(out, &a) != 0) {
		*error = "IPv4 address not in dotted-quad form";
		return -1;
	}
	return 0;
bad_label:
	*error = "malformed host name label";
	return -1;
}

/* The inside of "[...]": an IPv6 address, no zone identifier. */
static int host_ipv6(const char *h, size_t n, char out[256], const char **error)
{
	struct in6_addr a;
	size_t i;

	if (n < 2 || n > INET6_ADDRSTRLEN - 1)
		goto bad;
	for (i = 0; i < n; i++) {
		if (!hc_is(h[i], HC_HEX) && h[i] != ':' && h[i] != '.')
			goto bad;
		out[i] = hc_lower(h[i]);
	}
	out[n] = '\0';
	if (inet_pton(AF_INET6, out, &a) == 1)
		return 0;
bad:
	*error = "malformed IPv6 address";
	return -1;
}

/* 1..65535, decimal, no sign, no leading zero. */
static int parse_port(const char *p, size_t n, uint16_t *port,
		      const char **error)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5 || p[0] == '0')
		goto bad;
	for (i = 0; i < n; i++) {
		if (!hc_is(p[i], HC_DIGIT))
			goto bad;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	*error = "invalid port";
	return -1;
}

int http_authority_parse_raw(const char *s, size_t n, bool require_port,
			     char host_out[256], uint16_t *port, bool *is_ip,
			     struct slice *raw_host, const char **error)
{
	const char *end = s + n, *sep;
	int r;

	*port = 0;
	*is_ip = false;
	if (n > 0 && s[0] == '[') {
		sep = memchr(s, ']', n);
		if (!sep) {
			*error = "malformed IPv6 address";
			return -1;
		}
		*raw_host = (struct slice){s + 1, (size_t)(sep - s - 1)};
		sep++;
		if (sep < end && *sep != ':') {
			*error = "malformed authority";
			return -1;
		}
		r = host_ipv6(raw_host->p, raw_host->n, host_out, error);
		*is_ip = true;
	} else {
		sep = memchr(s, ':', n);
		*raw_host = (struct slice){s, sep ? (size_t)(sep - s) : n};
		if (sep && memchr(sep + 1, ':', (size_t)(end - sep - 1))) {
			*error = "IPv6 address without brackets";
			return -1;
		}
		r = host_name(s, raw_host->n, host_out, is_ip, error);
		if (!sep)
			sep = end;
	}
	if (r < 0)
		return -1;
	if (sep < end)
		return parse_port(sep + 1, (size_t)(end - sep - 1), port,
				  error);
	if (require_port) {
		*error = "port required";
		return -1;
	}
	return 0;
}

int http_authority_parse(const char *s, size_t n, bool require_port,
			 char host_out[256], uint16_t *port, bool *is_ip,
			 const char **error)
{
	struct slice raw;

	return http_authority_parse_raw(s, n, require_port, host_out, port,
					is_ip, &raw, error);
}

static int hex_value(char c)
{
	if (hc_is(c, HC_DIGIT))
		return c - '0';
	return hc_lower(c) - 'a' + 10;
}

size_t http_percent_decode(const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (in[i] == '%' && i + 2 < n && hc_is(in[i + 1], HC_HEX) &&
		    hc_is(in[i + 2], HC_HEX)) {
			out[o++] = (char)(hex_value(in[i + 1]) * 16 +
					  hex_value(in[i + 2]));
			i += 3;
		} else {
			out[o++] = in[i++];
		}
	}
	return o;
}
