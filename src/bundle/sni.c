/* ClientHello parsing (RFC 8446 4.1.2, RFC 6066 3, RFC 7301 3.1).
 *
 * The hello is read as a byte stream through the record layer, so a message
 * split over several records (legal, and a known DPI-evasion trick) parses
 * like one in a single record.  Every vector length is checked against the
 * length of its enclosing structure, never against the bytes received so
 * far: a structural error is therefore reported as soon as its bytes
 * arrive, and a truncated but valid prefix can only ever say NEED_MORE.
 */
#include "bundle/sni.h"

#include <stdbool.h>
#include <string.h>

#define REC_HANDSHAKE	22
#define REC_MAX		16384 /* TLSPlaintext.length <= 2^14 */
#define HS_CLIENT_HELLO 1
#define HELLO_MAX	65536 /* real hellos are < 2 KiB; bound the wait */
#define EXT_SERVER_NAME 0
#define EXT_ALPN	16
#define SNI_HOST_NAME	0

enum st { ST_OK, ST_MORE, ST_BAD };

/* A cursor over the handshake payload of a run of records. */
struct rd {
	const uint8_t *buf;
	size_t len;
	size_t pos;	 /* next byte of buf */
	size_t rec_left; /* payload bytes left in the current record */
	enum st st;	 /* sticky: once not ST_OK, every read fails */
};

static bool fail(struct rd *r, enum st st)
{
	if (r->st == ST_OK)
		r->st = st;
	return false;
}

/* Step over the header of the next record. */
static bool next_record(struct rd *r)
{
	const uint8_t *h;
	size_t n;

	if (r->pos < r->len && r->buf[r->pos] != REC_HANDSHAKE)
		return fail(r, ST_BAD); /* e.g. an alert inside the hello */
	if (r->len - r->pos < 5)
		return fail(r, ST_MORE);
	h = r->buf + r->pos;
	n = (size_t)h[3] << 8 | h[4];
	if (h[1] != 3 || n == 0 || n > REC_MAX)
		return fail(r, ST_BAD);
	r->pos += 5;
	r->rec_left = n;
	return true;
}

static bool get_byte(struct rd *r, uint8_t *out)
{
	if (r->st != ST_OK)
		return false;
	if (r->rec_left == 0 && !next_record(r))
		return false;
	if (r->pos >= r->len)
		return fail(r, ST_MORE);
	*out = r->buf[r->pos++];
	r->rec_left--;
	return true;
}

/* Read n (<= 4) bytes as a big-endian number out of a structure that has
 * *left bytes left. */
static bool get_num(struct rd *r, size_t *left, size_t n, size_t *out)
{
	uint8_t b;

	if (n > *left)
		return fail(r, ST_BAD);
	*left -= n;
	*out = 0;
	while (n--) {
		if (!get_byte(r, &b))
			return false;
		*out = *out << 8 | b;
	}
	return true;
}

/* Read n bytes into dst (NULL: skip them). */
static bool get_bytes(struct rd *r, size_t *left, size_t n, uint8_t *dst)
{
	uint8_t b;
	size_t i;

	if (n > *left)
		return fail(r, ST_BAD);
	*left -= n;
	for (i = 0; i < n; i++) {
		if (!get_byte(r, &b))
			return false;
		if (dst)
			dst[i] = b;
	}
	return true;
}

/* Open a vector with an nlen-byte length prefix inside a structure with
 * *left bytes left: *vec gets the vector's length, which must lie within
 * [min, max] and fit in what is left of the parent. */
static bool get_vec(struct rd *r, size_t *left, size_t nlen, size_t min,
		    size_t max, size_t *vec)
{
	if (!get_num(r, left, nlen, vec))
		return false;
	if (*vec < min || *vec > max || *vec > *left)
		return fail(r, ST_BAD);
	*left -= *vec;
	return true;
}

static bool host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* server_name extension: ServerName server_name_list<1..2^16-1>.  Only
 * host_name is defined and other types carry no length we could skip, so
 * the first entry must be a host_name; later entries are skipped. */
static bool parse_sni(struct rd *r, size_t ext, char name[256])
{
	size_t list, type, n, i;
	uint8_t c;

	if (!get_vec(r, &ext, 2, 1, 65535, &list) || ext != 0)
		return fail(r, ST_BAD);
	if (!get_num(r, &list, 1, &type))
		return false;
	if (type != SNI_HOST_NAME)
		return fail(r, ST_BAD);
	if (!get_vec(r, &list, 2, 1, SNI_NAME_MAX, &n))
		return false;
	for (i = 0; i < n; i++) {
		if (!get_byte(r, &c))
			return false;
		if (!host_char(c))
			return fail(r, ST_BAD);
		name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	name[n] = '\0';
	return get_bytes(r, &list, list, NULL);
}

/* ALPN extension: ProtocolName protocol_name_list<2..2^16-1>, each
 * ProtocolName opaque<1..2^8-1>. */
static bool parse_alpn(struct rd *r, size_t ext, unsigned *alpn)
{
	uint8_t proto[255];
	size_t list, n;

	if (!get_vec(r, &ext, 2, 2, 65535, &list) || ext != 0)
		return fail(r, ST_BAD);
	while (list > 0) {
		size_t left;

		if (!get_vec(r, &list, 1, 1, 255, &n))
			return false;
		left = n;
		if (!get_bytes(r, &left, n, proto))
			return false;
		if (n == 8 && memcmp(proto, "http/1.1", 8) == 0)
			*alpn |= SNI_ALPN_HTTP11;
		else if (n == 2 && memcmp(proto, "h2", 2) == 0)
			*alpn |= SNI_ALPN_H2;
	}
	return true;
}

/* Extension extensions<8..2^16-1> (TLS 1.2 allows it to be absent). */
static bool parse_extensions(struct rd *r, size_t *left, char name[256],
			     unsigned *alpn, bool *found)
{
	bool seen_sni = false, seen_alpn = false;
	size_t exts, type, ext;
	bool ok;

	if (!get_vec(r, left, 2, 0, 65535, &exts) || *left != 0)
		return fail(r, ST_BAD);
	while (exts > 0) {
		if (!get_num(r, &exts, 2, &type) ||
		    !get_vec(r, &exts, 2, 0, 65535, &ext))
			return false;
		if (type == EXT_SERVER_NAME) {
			if (seen_sni) /* RFC 8446 4.2: at most one of each */
				return fail(r, ST_BAD);
			seen_sni = *found = true;
			ok = parse_sni(r, ext, name);
		} else if (type == EXT_ALPN) {
			if (seen_alpn)
				return fail(r, ST_BAD);
			seen_alpn = true;
			ok = parse_alpn(r, ext, alpn);
		} else {
			ok = get_bytes(r, &ext, ext, NULL);
		}
		if (!ok)
			return false;
	}
	return true;
}

static bool parse_hello(struct rd *r, char name[256], unsigned *alpn,
			bool *found)
{
	size_t hdr = 4, left, type, v;

	if (!get_num(r, &hdr, 1, &type) || !get_num(r, &hdr, 3, &left))
		return false;
	if (type != HS_CLIENT_HELLO || left > HELLO_MAX)
		return fail(r, ST_BAD);
	/* legacy_version, random, legacy_session_id<0..32> */
	if (!get_bytes(r, &left, 2 + 32, NULL) ||
	    !get_vec(r, &left, 1, 0, 32, &v) || !get_bytes(r, &v, v, NULL))
		return false;
	/* cipher_suites<2..2^16-2>, two bytes each */
	if (!get_vec(r, &left, 2, 2, 65534, &v))
		return false;
	if (v % 2 != 0)
		return fail(r, ST_BAD);
	if (!get_bytes(r, &v, v, NULL))
		return false;
	/* legacy_compression_methods<1..2^8-1> */
	if (!get_vec(r, &left, 1, 1, 255, &v) || !get_bytes(r, &v, v, NULL))
		return false;
	if (left == 0)
		return true;
	return parse_extensions(r, &left, name, alpn, found);
}

enum sni_result sni_parse(const uint8_t *buf, size_t len, char name[256],
			  unsigned *alpn)
{
	struct rd r = {.buf = buf, .len = len};
	bool found = false;

	*alpn = 0;
	name[0] = '\0';
	/* The first record header decides whether this is TLS at all. */
	if ((len >= 1 && buf[0] != REC_HANDSHAKE) ||
	    (len >= 2 && buf[1] != 3) || (len >= 3 && buf[2] > 4))
		return SNI_NOT_TLS;
	if (parse_hello(&r, name, alpn, &found))
		return found ? SNI_FOUND : SNI_NONE;
	return r.st == ST_MORE ? SNI_NEED_MORE : SNI_MALFORMED;
}

const char *sni_result_str(enum sni_result r)
{
	switch (r) {
	case SNI_FOUND:
		return "found";
	case SNI_NONE:
		return "none";
	case SNI_NEED_MORE:
		return "need more";
	case SNI_NOT_TLS:
		return "not TLS";
	case SNI_MALFORMED:
		return "malformed";
	}
	return "?";
}
