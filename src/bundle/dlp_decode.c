/* Streaming base64 / hex / %XX decoders for the DLP stage (see
 * dlp_decode.h for which runs are decoded).
 *
 * Speed matters: every byte of every request body passes through here.
 * Runs are found in the caller's classification (dlp_simd.h), which
 * marks where runs of >= MIN_RUN base64 and hex bytes end, and in which
 * blocks of 64 bytes any do: ordinary text, with none, costs a look at a
 * bitmap per 4 KiB, and only long runs are decoded, one stretch of class
 * bytes at a time.  '%' is found with memchr().
 */
#include "bundle/dlp_decode.h"

#include "bundle/dlp_simd.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stdlib.h>

_Static_assert(DLP_DECODE_MIN_RUN == DLP_RUN, "dlp_simd.h counts the runs");
#include <string.h>

enum {
	C_B64 = 1, /* standard and url-safe base64 alphabet, without '=' */
	C_HEX = 2, /* 0-9 a-f A-F */
	C_URL = 4, /* may appear in a percent-encoded value */
};

/* GNU range designators keep the classifier a constant table. */
static const uint8_t cls[256] = {
    ['A' ... 'F'] = C_B64 | C_HEX | C_URL,
    ['G' ... 'Z'] = C_B64 | C_URL,
    ['a' ... 'f'] = C_B64 | C_HEX | C_URL,
    ['g' ... 'z'] = C_B64 | C_URL,
    ['0' ... '9'] = C_B64 | C_HEX | C_URL,
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
    ['A'] = 0,	['B'] = 1,  ['C'] = 2,	['D'] = 3,  ['E'] = 4,	['F'] = 5,
    ['G'] = 6,	['H'] = 7,  ['I'] = 8,	['J'] = 9,  ['K'] = 10, ['L'] = 11,
    ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17,
    ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29,
    ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35,
    ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53,
    ['2'] = 54, ['3'] = 55, ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59,
    ['8'] = 60, ['9'] = 61, ['+'] = 62, ['-'] = 62, ['/'] = 63, ['_'] = 63,
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
		size_t run;   /* open short run (< MIN_RUN), bytes in carry */
		bool in_long; /* inside a run of >= MIN_RUN */
		uint8_t carry[DLP_DECODE_MIN_RUN];
	} runs[2];

	/* Base64 decoding state inside a long run. */
	unsigned nl; /* line-break bytes just seen */
	bool nl_lf;  /* ... one of which was '\n' */
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

	/* dlp_decoder_feed()'s own classification. */
	struct dlp_carry carry;
	struct dlp_piece *own;
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
	if (d)
		free(d->own);
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

static inline void emit(struct dlp_decoder *d, enum dlp_encoding enc, uint8_t c)
{
	struct dlp_out *o = &d->out[enc];

	if (o->n == OUT_MAX)
		flush(d, enc);
	o->buf[o->n++] = c;
}

/* c is a hex digit: '0'-'9' are 0x3X, 'A'-'F' and 'a'-'f' 0x41-0x46 and
 * 0x61-0x66 (bit 6 set). */
static inline unsigned hex_value(uint8_t c)
{
	return (c & 0xfu) + 9u * (c >> 6);
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

/* The class-k mask of block blk (0 past the last block of len bytes). */
static inline uint64_t block_mask(const struct dlp_piece *m, enum run_kind k,
				  size_t blk, size_t len)
{
	if (blk * 64 >= len)
		return 0;
	return k == RUN_B64 ? m->b64[blk] : m->hex[blk];
}

/* The class-k mask of the 64 bytes from i (bits past len are 0). */
static inline uint64_t mask_at(const struct dlp_piece *m, enum run_kind k,
			       size_t i, size_t len)
{
	unsigned s = i % 64;
	uint64_t lo = block_mask(m, k, i / 64, len) >> s;

	return s ? lo | block_mask(m, k, i / 64 + 1, len) << (64 - s) : lo;
}

/* Room for n more bytes of output without a check per byte. */
static uint8_t *out_room(struct dlp_decoder *d, enum dlp_encoding enc, size_t n)
{
	if (d->out[enc].n + n > OUT_MAX)
		flush(d, enc);
	return d->out[enc].buf + d->out[enc].n;
}

/* Decode b[0..n) (n <= 64, all in the alphabet) into the base64 lane. */
static void b64_stretch(struct dlp_decoder *d, const uint8_t *b, size_t n)
{
	uint8_t *o = out_room(d, DLP_ENC_BASE64, n);
	uint32_t acc = d->b64_acc;
	unsigned bits = d->b64_bits;
	size_t m = 0, i = 0;

	d->nl = 0;
	d->nl_lf = false;
	for (;;) {
		/* Whole groups of 4 characters once aligned (bits == 0). */
		if (bits == 0) {
			size_t k = dlp_b64_decode(b + i, n - i, o + m);

			i += k;
			m += k / 4 * 3;
		}
		if (bits == 0)
			for (; i + 4 <= n; i += 4) {
				acc = (uint32_t)b64v[b[i]] << 18 |
				      (uint32_t)b64v[b[i + 1]] << 12 |
				      (uint32_t)b64v[b[i + 2]] << 6 |
				      b64v[b[i + 3]];
				o[m] = (uint8_t)(acc >> 16);
				o[m + 1] = (uint8_t)(acc >> 8);
				o[m + 2] = (uint8_t)acc;
				m += 3;
			}
		if (i == n)
			break;
		acc = acc << 6 | b64v[b[i++]];
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[m++] = (uint8_t)(acc >> bits);
		}
	}
	d->b64_acc = acc;
	d->b64_bits = bits;
	d->out[DLP_ENC_BASE64].n += m;
}

/* Decode b[0..n) (n <= 64, all hex digits) into the hex lane. */
static void hex_stretch(struct dlp_decoder *d, const uint8_t *b, size_t n)
{
	uint8_t *o = out_room(d, DLP_ENC_HEX, n);
	size_t m = 0, i = 0;

	if (d->hex_odd && n > 0)
		o[m++] = (uint8_t)(d->hex_hi << 4 | hex_value(b[i++]));
	for (; i + 2 <= n; i += 2)
		o[m++] = (uint8_t)(hex_value(b[i]) << 4 | hex_value(b[i + 1]));
	if (n > 0) {
		d->hex_odd = i < n;
		if (i < n)
			d->hex_hi = (uint8_t)hex_value(b[i]);
	}
	d->out[DLP_ENC_HEX].n += m;
}

/* Decode b[i..) until the long run ends; the index after its end. */
static size_t long_span(struct dlp_decoder *d, enum run_kind k,
			const uint8_t *b, const struct dlp_piece *m, size_t i,
			size_t len)
{
	while (i < len) {
		size_t n = len - i < 64 ? len - i : 64;
		uint64_t stop = ~mask_at(m, k, i, len);
		size_t run = stop ? (size_t)__builtin_ctzll(stop) : 64;

		if (run > n)
			run = n;
		if (run > 0) {
			if (k == RUN_B64)
				b64_stretch(d, b + i, run);
			else
				hex_stretch(d, b + i, run);
		}
		i += run;
		if (run == n)
			continue;
		if (k == RUN_B64 && b64_break(d, b[i])) {
			i++;
			continue;
		}
		long_end(d, k);
		return i + 1;
	}
	return len;
}

/* Continue a short run left open by the previous feed; returns where the
 * skip scan resumes (a position after a byte outside the class), or len. */
static size_t carry_resume(struct dlp_decoder *d, enum run_kind k,
			   const uint8_t *b, const struct dlp_piece *m,
			   size_t len)
{
	struct dlp_runs *r = &d->runs[k];
	size_t n = 0;

	while (n < len && r->run + n < DLP_DECODE_MIN_RUN &&
	       (cls[b[n]] & run_class[k]))
		n++;
	if (r->run + n == DLP_DECODE_MIN_RUN) {
		long_start(d, k);
		/* The carried bytes are all in the class. */
		if (k == RUN_B64)
			b64_stretch(d, r->carry, r->run);
		else
			hex_stretch(d, r->carry, r->run);
		r->run = 0;
		return long_span(d, k, b, m, 0, len);
	}
	if (n == len) {
		memcpy(r->carry + r->run, b, n);
		r->run += n;
		return len;
	}
	r->run = 0;
	return n + 1;
}

/* The start of the first run of >= MIN_RUN class-k bytes in b[i..len),
 * given that b[i - 1] (if any) is outside the class; or len, with *tail
 * set to the length of the (shorter) class run that ends at len. */
static size_t find_long(enum run_kind k, const struct dlp_piece *pc, size_t i,
			size_t len, size_t *tail)
{
	const uint64_t *bm = k == RUN_B64 ? pc->runs : pc->hexruns;
	size_t nb = (len + 63) / 64, blk = i / 64, lb = (len - 1) / 64;
	unsigned __int128 two;
	uint64_t hi;

	/* The blocks where runs end (the bitmap skips the others).  No run
	 * crosses b[i - 1], so those that end at or after i start there. */
	while (blk < nb) {
		uint64_t w = bm[blk / 64] >> (blk % 64), ends;

		if (!w) {
			blk = (blk / 64 + 1) * 64;
			continue;
		}
		blk += (size_t)__builtin_ctzll(w);
		if (blk >= nb)
			break;
		ends = k == RUN_B64 ? pc->run[blk] : pc->hexrun[blk];
		if (blk == i / 64)
			ends &= ~0ull << (i % 64);
		if (ends)
			return blk * 64 + (size_t)__builtin_ctzll(ends) + 1 -
			       DLP_DECODE_MIN_RUN;
		blk++;
	}
	/* The run that ends at byte len - 1 (shorter than MIN_RUN, so within
	 * the last two blocks): its last bit shifted up to bit 127. */
	two = dlp_join(block_mask(pc, k, lb, len),
		       lb ? block_mask(pc, k, lb - 1, len) : 0);
	hi = (uint64_t)((two << (63 - (len - 1) % 64)) >> 64);
	*tail = ~hi ? (size_t)__builtin_clzll(~hi) : 64;
	return len;
}

/* Find the runs of >= MIN_RUN bytes of class k in b and decode them. */
static void runs_feed(struct dlp_decoder *d, enum run_kind k, const uint8_t *b,
		      const struct dlp_piece *pc, size_t len)
{
	const struct dlp_piece *m = pc;
	struct dlp_runs *r = &d->runs[k];
	size_t i = 0, t = 0;

	if (r->in_long)
		i = long_span(d, k, b, m, 0, len);
	else if (r->run > 0)
		i = carry_resume(d, k, b, m, len);
	/* Invariant: i == 0 with no open run, or b[i - 1] ends a run. */
	while (i < len) {
		i = find_long(k, pc, i, len, &t);
		if (i == len) {
			memcpy(r->carry, b + len - t, t);
			r->run = t;
			return;
		}
		long_start(d, k);
		i = long_span(d, k, b, m, i, len);
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

	while (m < k && m < DLP_DECODE_URL_LOOKBACK &&
	       (cls[b[k - m - 1]] & C_URL))
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

void dlp_decoder_feed_piece(struct dlp_decoder *d, const void *buf,
			    const struct dlp_piece *pc)
{
	if (pc->n == 0)
		return;
	runs_feed(d, RUN_B64, buf, pc, pc->n);
	runs_feed(d, RUN_HEX, buf, pc, pc->n);
	url_feed(d, buf, pc->n);
	for (int e = DLP_ENC_BASE64; e < DLP_ENC_COUNT; e++)
		flush(d, (enum dlp_encoding)e);
}

void dlp_decoder_feed(struct dlp_decoder *d, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	if (!d->own) /* only when the caller does not classify */
		d->own = xmalloc(sizeof(*d->own));
	for (size_t i = 0, n; i < len; i += n) {
		n = len - i < DLP_PIECE ? len - i : DLP_PIECE;
		dlp_classify_piece(b + i, n, &d->carry, d->own);
		dlp_decoder_feed_piece(d, b + i, d->own);
	}
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
	memset(&d->carry, 0, sizeof(d->carry));
}

void dlp_decoder_reset(struct dlp_decoder *d)
{
	memset(d->runs, 0, sizeof(d->runs));
	d->nl = 0;
	d->nl_lf = false;
	d->b64_acc = 0;
	d->b64_bits = 0;
	d->hex_odd = false;
	d->hex_hi = 0;
	d->url_in = false;
	d->url_state = 0;
	d->url_hi = 0;
	d->tail_n = 0;
	for (int e = 0; e < DLP_ENC_COUNT; e++)
		d->out[e].n = 0;
	memset(&d->carry, 0, sizeof(d->carry));
}
