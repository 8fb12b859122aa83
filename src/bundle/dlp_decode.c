/* Streaming base64 / hex / %XX decoders for the DLP stage (see
 * dlp_decode.h for which runs are decoded).
 *
 * Speed matters: every byte of every request body passes through here.
 * Base64 runs are found with a skip scan: a run of >= MIN_RUN alphabet
 * characters must cover position i + MIN_RUN - 1, so when that byte is not
 * in the alphabet the scan jumps past it, and otherwise it walks back only
 * to the last non-alphabet byte.  Ordinary text (words of a few letters)
 * costs a few table lookups per MIN_RUN bytes; only long runs are decoded
 * byte by byte.  Hex runs are a subset of base64-alphabet runs, so they are
 * found inside the long runs.  '%' is found with memchr().
 */
#include "bundle/dlp_decode.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
	C_B64 = 1, /* standard and url-safe base64 alphabet, without '=' */
	C_HEX = 2, /* 0-9 a-f A-F */
	C_URL = 4, /* may appear in a percent-encoded value */
};

/* GNU range designators keep the classifier a constant table. */
static const uint8_t cls[256] = {
	['A'... 'F'] = C_B64 | C_HEX | C_URL,
	['G'... 'Z'] = C_B64 | C_URL,
	['a'... 'f'] = C_B64 | C_HEX | C_URL,
	['g'... 'z'] = C_B64 | C_URL,
	['0'... '9'] = C_B64 | C_HEX | C_URL,
	['+'] = C_B64 | C_URL,
	['/'] = C_B64 | C_URL,
	['-'] = C_B64 | C_URL,
	['_'] = C_B64 | C_URL,
	['.'] = C_URL,
	['~'] = C_URL,
	['='] = C_URL,
	[':'] = C_URL,
	['%'] = C_URL,
};

/* Base64 values of the alphabet (both variants); 0 elsewhere (unused). */
static const uint8_t b64v[256] = {
	['A'] = 0, ['B'] = 1, ['C'] = 2, ['D'] = 3, ['E'] = 4, ['F'] = 5,
	['G'] = 6, ['H'] = 7, ['I'] = 8, ['J'] = 9, ['K'] = 10, ['L'] = 11,
	['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15, ['Q'] = 16,
	['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21,
	['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26,
	['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
	['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36,
	['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
	['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46,
	['v'] = 47, ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51,
	['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55, ['4'] = 56,
	['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61,
	['+'] = 62, ['-'] = 62, ['/'] = 63, ['_'] = 63,
};

#define OUT_MAX 4096

struct dlp_out {
	size_t n;
	uint8_t buf[OUT_MAX];
};

struct dlp_decoder {
	dlp_decode_sink_fn sink;
	void *ctx;

	/* Run finders: [0] base64 alphabet, [1] hex digits. */
	struct dlp_runs {
		size_t run; /* open short run (< MIN_RUN), bytes in carry */
		bool in_long; /* inside a run of >= MIN_RUN */
		uint8_t carry[DLP_DECODE_MIN_RUN];
	} runs[2];

	/* Base64 decoding state inside a long run. */
	unsigned nl;  /* line-break bytes just seen */
	bool nl_lf;   /* ... one of which was '\n' */
	uint32_t b64_acc;
	unsigned b64_bits;

	/* Hex decoding state inside a long run. */
	bool hex_odd;
	uint8_t hex_hi;

	/* URL. */
	bool url_in;
	unsigned url_state; /* 0 normal, 1 after '%', 2 after '%X' */
	uint8_t url_hi;	    /* the X of a pending '%X' */
	size_t tail_n;	    /* last raw bytes, for the look-back */
	uint8_t tail[DLP_DECODE_URL_LOOKBACK];

	struct dlp_out out[DLP_ENC_COUNT];
};

const char *dlp_encoding_name(enum dlp_encoding enc)
{
	static const char *const names[DLP_ENC_COUNT] = {
		[DLP_ENC_PLAIN] = "plain",
		[DLP_ENC_BASE64] = "base64",
		[DLP_ENC_HEX] = "hex",
		[DLP_ENC_URL] = "url",
	};

	return (unsigned)enc < DLP_ENC_COUNT ? names[enc] : "plain";
}

struct dlp_decoder *dlp_decoder_new(dlp_decode_sink_fn sink, void *ctx)
{
	struct dlp_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->sink = sink;
	d->ctx = ctx;
	return d;
}

void dlp_decoder_free(struct dlp_decoder *d)
{
	free(d);
}

static void flush(struct dlp_decoder *d, enum dlp_encoding enc)
{
	struct dlp_out *o = &d->out[enc];

	if (o->n) {
		d->sink(d->ctx, enc, o->buf, o->n);
		o->n = 0;
	}
}

static inline void emit(struct dlp_decoder *d, enum dlp_encoding enc,
			uint8_t c)
{
	struct dlp_out *o = &d->out[enc];

	if (o->n == OUT_MAX)
		flush(d, enc);
	o->buf[o->n++] = c;
}

static inline unsigned hex_value(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* ---- long runs ---- */

enum run_kind { RUN_B64 = 0, RUN_HEX = 1 };

static const uint8_t run_class[2] = {C_B64, C_HEX};

static void long_start(struct dlp_decoder *d, enum run_kind k)
{
	d->runs[k].in_long = true;
	if (k == RUN_B64) {
		d->nl = 0;
		d->nl_lf = false;
		d->b64_acc = 0;
		d->b64_bits = 0;
	} else {
		d->hex_odd = false;
	}
}

static void long_end(struct dlp_decoder *d, enum run_kind k)
{
	emit(d, k == RUN_B64 ? DLP_ENC_BASE64 : DLP_ENC_HEX, '\n');
	d->runs[k].in_long = false;
}

/* A non-alphabet byte inside a long base64 run: true if it is line
 * wrapping (a single "\n" or "\r\n"), false if it ends the run. */
static bool b64_break(struct dlp_decoder *d, uint8_t c)
{
	if (c == '\r' && d->nl == 0) {
		d->nl = 1;
		return true;
	}
	if (c == '\n' && !d->nl_lf) {
		d->nl++;
		d->nl_lf = true;
		return true;
	}
	return false;
}

static inline void b64_byte(struct dlp_decoder *d, uint8_t c)
{
	d->nl = 0;
	d->nl_lf = false;
	d->b64_acc = d->b64_acc << 6 | b64v[c];
	d->b64_bits += 6;
	if (d->b64_bits >= 8) {
		d->b64_bits -= 8;
		emit(d, DLP_ENC_BASE64, (uint8_t)(d->b64_acc >> d->b64_bits));
	}
}

static inline void hex_byte(struct dlp_decoder *d, uint8_t c)
{
	if (d->hex_odd)
		emit(d, DLP_ENC_HEX, (uint8_t)(d->hex_hi << 4 | hex_value(c)));
	else
		d->hex_hi = (uint8_t)hex_value(c);
	d->hex_odd = !d->hex_odd;
}

/* Decode b[i..) until the long run ends; the index after its end. */
static size_t long_span(struct dlp_decoder *d, enum run_kind k,
			const uint8_t *b, size_t i, size_t len)
{
	for (; i < len; i++) {
		uint8_t c = b[i];

		if (__builtin_expect(!(cls[c] & run_class[k]), 0)) {
			if (k == RUN_B64 && b64_break(d, c))
				continue;
			long_end(d, k);
			return i + 1;
		}
		if (k == RUN_B64)
			b64_byte(d, c);
		else
			hex_byte(d, c);
	}
	return len;
}

/* Continue a short run left open by the previous feed; returns where the
 * skip scan resumes (a position after a byte outside the class), or len. */
static size_t carry_resume(struct dlp_decoder *d, enum run_kind k,
			   const uint8_t *b, size_t len)
{
	struct dlp_runs *r = &d->runs[k];
	size_t n = 0;

	while (n < len && r->run + n < DLP_DECODE_MIN_RUN &&
	       (cls[b[n]] & run_class[k]))
		n++;
	if (r->run + n == DLP_DECODE_MIN_RUN) {
		long_start(d, k);
		/* The carried bytes are all in the class. */
		(void)long_span(d, k, r->carry, 0, r->run);
		r->run = 0;
		return long_span(d, k, b, 0, len);
	}
	if (n == len) {
		memcpy(r->carry + r->run, b, n);
		r->run += n;
		return len;
	}
	r->run = 0;
	return n + 1;
}

/* Find the runs of >= MIN_RUN bytes of class k in b and decode them. */
static void runs_feed(struct dlp_decoder *d, enum run_kind k,
		      const uint8_t *b, size_t len)
{
	struct dlp_runs *r = &d->runs[k];
	const uint8_t m = run_class[k];
	size_t i = 0, j, p, t;

	if (r->in_long)
		i = long_span(d, k, b, 0, len);
	else if (r->run > 0)
		i = carry_resume(d, k, b, len);
	/* Invariant: i == 0 with no open run, or b[i - 1] ends a run. */
	while (i < len) {
		if (len - i < DLP_DECODE_MIN_RUN) {
			t = len;
			while (t > i && (cls[b[t - 1]] & m))
				t--;
			memcpy(r->carry, b + t, len - t);
			r->run = len - t;
			return;
		}
		p = i + DLP_DECODE_MIN_RUN - 1;
		if (!(cls[b[p]] & m)) {
			i = p + 1;
			continue;
		}
		j = p;
		while (j > i && (cls[b[j - 1]] & m))
			j--;
		if (j > i) {
			i = j;
			continue;
		}
		long_start(d, k);
		i = long_span(d, k, b, i, len);
	}
}

/* ---- URL ---- */

static void url_end(struct dlp_decoder *d)
{
	if (d->url_state >= 1)
		emit(d, DLP_ENC_URL, '%');
	if (d->url_state == 2)
		emit(d, DLP_ENC_URL, d->url_hi);
	emit(d, DLP_ENC_URL, '\n');
	d->url_state = 0;
	d->url_in = false;
}

/* A '%' at b[k] starts a run: copy the URL characters before it (from
 * this feed, then from the previous one's tail) so that a partly encoded
 * secret is seen whole. */
static void url_start(struct dlp_decoder *d, const uint8_t *b, size_t k)
{
	size_t m = 0, mt = 0;

	while (m < k && m < DLP_DECODE_URL_LOOKBACK && (cls[b[k - m - 1]] & C_URL))
		m++;
	if (m == k)
		while (m + mt < DLP_DECODE_URL_LOOKBACK && mt < d->tail_n &&
		       (cls[d->tail[d->tail_n - mt - 1]] & C_URL))
			mt++;
	for (size_t i = d->tail_n - mt; i < d->tail_n; i++)
		emit(d, DLP_ENC_URL, d->tail[i]);
	for (size_t i = k - m; i < k; i++)
		emit(d, DLP_ENC_URL, b[i]);
	d->url_in = true;
	d->url_state = 0;
}

/* Decode b[i..) until the run ends; the index after its end. */
static size_t url_span(struct dlp_decoder *d, const uint8_t *b, size_t i,
		       size_t len)
{
	uint8_t c;

	for (; i < len; i++) {
		c = b[i];
		if (d->url_state == 1 && (cls[c] & C_HEX)) {
			d->url_hi = c;
			d->url_state = 2;
			continue;
		}
		if (d->url_state == 2 && (cls[c] & C_HEX)) {
			emit(d, DLP_ENC_URL,
			     (uint8_t)(hex_value(d->url_hi) << 4 |
				       hex_value(c)));
			d->url_state = 0;
			continue;
		}
		if (d->url_state >= 1)
			emit(d, DLP_ENC_URL, '%');
		if (d->url_state == 2)
			emit(d, DLP_ENC_URL, d->url_hi);
		d->url_state = 0;
		if (c == '%') {
			d->url_state = 1;
		} else if (cls[c] & C_URL) {
			emit(d, DLP_ENC_URL, c);
		} else {
			url_end(d);
			return i + 1;
		}
	}
	return len;
}

static void tail_keep(struct dlp_decoder *d, const uint8_t *b, size_t len)
{
	size_t keep;

	if (len >= DLP_DECODE_URL_LOOKBACK) {
		memcpy(d->tail, b + len - DLP_DECODE_URL_LOOKBACK,
		       DLP_DECODE_URL_LOOKBACK);
		d->tail_n = DLP_DECODE_URL_LOOKBACK;
		return;
	}
	keep = DLP_DECODE_URL_LOOKBACK - len;
	if (keep > d->tail_n)
		keep = d->tail_n;
	memmove(d->tail, d->tail + d->tail_n - keep, keep);
	memcpy(d->tail + keep, b, len);
	d->tail_n = keep + len;
}

static void url_feed(struct dlp_decoder *d, const uint8_t *b, size_t len)
{
	const uint8_t *pc;
	size_t i = 0;

	while (i < len) {
		if (!d->url_in) {
			pc = memchr(b + i, '%', len - i);
			if (!pc)
				break;
			i = (size_t)(pc - b);
			url_start(d, b, i);
		}
		i = url_span(d, b, i, len);
	}
	tail_keep(d, b, len);
}

void dlp_decoder_feed(struct dlp_decoder *d, const void *buf, size_t len)
{
	if (len == 0)
		return;
	runs_feed(d, RUN_B64, buf, len);
	runs_feed(d, RUN_HEX, buf, len);
	url_feed(d, buf, len);
	for (int e = DLP_ENC_BASE64; e < DLP_ENC_COUNT; e++)
		flush(d, (enum dlp_encoding)e);
}

void dlp_decoder_finish(struct dlp_decoder *d)
{
	for (int k = RUN_B64; k <= RUN_HEX; k++) {
		if (d->runs[k].in_long)
			long_end(d, (enum run_kind)k);
		d->runs[k].run = 0;
	}
	if (d->url_in)
		url_end(d);
	for (int e = DLP_ENC_BASE64; e < DLP_ENC_COUNT; e++)
		flush(d, (enum dlp_encoding)e);
	d->tail_n = 0;
}
