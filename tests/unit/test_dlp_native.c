/* The DLP stage's fast paths against their definitions: the rules matched
 * in C (payment-card, generic-secret: dlp_native.h) find exactly the
 * matches of their regexes that pass the verifier, and the decoders'
 * run finding (dlp_simd.h classification) decodes runs at every length
 * and offset around the block size and the minimum run.  Internal
 * headers: these are the parts the streaming API hides. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/dlp_builtin.h"
#include "bundle/dlp_decode.h"
#include "bundle/dlp_native.h"
#include "bundle/dlp_simd.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <hs.h>
#include <stdio.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- native rules = regex + verifier ---- */

struct hits {
	size_t n, alloc;
	uint64_t *v; /* check << 32 | end */
};

static void hit_add(struct hits *h, enum dlp_check check, size_t end)
{
	if (h->n == h->alloc) {
		h->alloc = h->alloc ? 2 * h->alloc : 64;
		h->v = realloc(h->v, h->alloc * sizeof(*h->v));
		assert_non_null(h->v);
	}
	h->v[h->n++] = (uint64_t)check << 32 | end;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

struct ref_ctx {
	const uint8_t *buf;
	const enum dlp_check *checks;
	struct hits *h;
};

/* The verifier sees the DLP_CHECK_WINDOW bytes before the match end, as
 * in a stream. */
static const uint8_t *window(const uint8_t *buf, size_t end, size_t *n)
{
	size_t start = end > DLP_CHECK_WINDOW ? end - DLP_CHECK_WINDOW : 0;

	*n = end - start;
	return buf + start;
}

static int on_ref(unsigned id, unsigned long long from, unsigned long long to,
		  unsigned flags, void *ctx)
{
	struct ref_ctx *r = ctx;
	size_t n;
	const uint8_t *w = window(r->buf, (size_t)to, &n);

	(void)from;
	(void)flags;
	if (dlp_check_ok(r->checks[id], w, n))
		hit_add(r->h, r->checks[id], (size_t)to);
	return 0;
}

struct nat_ctx {
	const uint8_t *buf;
	size_t off;
	struct hits *h;
};

static int on_nat(void *ctx, enum dlp_check check, size_t to)
{
	struct nat_ctx *c = ctx;
	size_t n, end = c->off + to;
	const uint8_t *w = window(c->buf, end, &n);

	if (dlp_native_ok(check, w, n))
		hit_add(c->h, check, end);
	return 0;
}

/* The native scan over buf in feeds of random sizes (each feed in pieces
 * of at most DLP_PIECE bytes, as a stream does). */
static void native_hits(const uint8_t *buf, size_t len, size_t max_feed,
			struct dlp_piece *pc, struct hits *h)
{
	struct dlp_carry carry = {0};
	struct nat_ctx c = {buf, 0, h};

	while (c.off < len) {
		size_t n = 1 + next() % max_feed;

		if (n > len - c.off)
			n = len - c.off;
		if (n > DLP_PIECE)
			n = DLP_PIECE;
		dlp_classify_piece(buf + c.off, n, &carry, pc);
		dlp_native_scan(pc, buf + c.off, true, true, on_nat, &c);
		c.off += n;
	}
}

static void add_digits(struct strbuf *sb, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strbuf_addch(sb, (char)('0' + next() % 10));
}

/* A card number with a valid Luhn sum, in one of the regex's shapes. */
static void add_card(struct strbuf *sb)
{
	uint8_t d[19];
	size_t len = 13 + next() % 7, sum = 0;
	unsigned shape = next() % 3;

	if (shape == 2)
		len = 15;
	d[0] = (uint8_t)(shape == 2 ? 3 : 2 + next() % 5);
	if (shape == 2)
		d[1] = next() % 2 ? 4 : 7;
	for (size_t i = shape == 2 ? 2 : 1; i < len - 1; i++)
		d[i] = (uint8_t)(next() % 10);
	for (size_t i = 0; i < len - 1; i++) {
		unsigned v = d[len - 2 - i];

		if (i % 2 == 0 && (v *= 2) > 9)
			v -= 9;
		sum += v;
	}
	d[len - 1] = (uint8_t)((10 - sum % 10) % 10);
	for (size_t i = 0; i < len; i++) {
		bool sep = (shape == 1 && (i == 4 || i == 8 || i == 12)) ||
			   (shape == 2 && (i == 4 || i == 10));

		if (sep)
			strbuf_addch(sb, next() % 2 ? ' ' : '-');
		strbuf_addch(sb, (char)('0' + d[i]));
	}
}

static void add_value(struct strbuf *sb, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				"tuvwxyz0123456789/+_-";

	for (size_t i = 0; i < n; i++)
		strbuf_addch(sb, a[next() % (sizeof(a) - 1)]);
}

/* Text dense in near-misses of both rules. */
static void gen_native(struct strbuf *sb, size_t len)
{
	static const char *const bits[] = {
	    "api_key", "APIKEY",     "secret",	    "x_token",	  "Password",
	    "passwd",  "access_key", "private-key", "credential", "tokens",
	    " ",       "  ",	     "\n",	    "\t",	  "=",
	    ":",       "==",	     ":=",	    "\"",	  "'",
	    "-",       "_",	     "/",	    "+",	  ".",
	    ",",       "x",	     "é",
	};

	strbuf_reset(sb);
	while (sb->len < len) {
		unsigned k = next() % 8;

		if (k == 0)
			add_card(sb);
		else if (k == 1)
			add_digits(sb, next() % 22);
		else if (k == 2)
			add_value(sb, 14 + next() % 72);
		else
			strbuf_addstr(sb, bits[next() % ARRAY_SIZE(bits)]);
	}
	/* A stream ends with a line break (dlp_stream_finish()). */
	strbuf_addch(sb, '\n');
}

static void native_matches_regex(void **state)
{
	const char *re[2];
	unsigned ids[2] = {0, 1}, flags[2] = {0, 0};
	enum dlp_check checks[2];
	hs_database_t *db = NULL;
	hs_scratch_t *scratch = NULL;
	hs_compile_error_t *ce = NULL;
	struct dlp_piece *pc = xmalloc(sizeof(*pc));
	struct strbuf sb = STRBUF_INIT;
	size_t n = 0, total = 0;

	(void)state;
	for (size_t i = 0; i < dlp_builtin_count; i++) {
		if (!dlp_builtin_rules[i].native)
			continue;
		assert_true(n < 2);
		re[n] = dlp_builtin_rules[i].regex;
		checks[n++] = dlp_builtin_rules[i].check;
	}
	assert_int_equal(n, 2);
	assert_int_equal(
	    hs_compile_multi(re, flags, ids, 2, HS_MODE_BLOCK, NULL, &db, &ce),
	    HS_SUCCESS);
	assert_int_equal(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
	for (int t = 0; t < 3000; t++) {
		struct hits ref = {0}, nat = {0};
		struct ref_ctx rc = {NULL, checks, &ref};
		size_t len =
		    t % 100 == 0 ? 20000 + next() % 20000 : 1 + next() % 700;

		gen_native(&sb, len);
		rc.buf = (const uint8_t *)sb.buf;
		assert_int_equal(hs_scan(db, sb.buf, (unsigned)sb.len, 0,
					 scratch, on_ref, &rc),
				 HS_SUCCESS);
		native_hits((const uint8_t *)sb.buf, sb.len,
			    t % 2 ? sb.len : 1 + next() % 200, pc, &nat);
		if (ref.n) /* v is NULL when n is 0: not for qsort */
			qsort(ref.v, ref.n, sizeof(*ref.v), cmp_u64);
		if (nat.n)
			qsort(nat.v, nat.n, sizeof(*nat.v), cmp_u64);
		if (ref.n != nat.n ||
		    (ref.n && memcmp(ref.v, nat.v, ref.n * sizeof(*ref.v))))
			fail_msg("input %d (%zu bytes): regex %zu hits, "
				 "native %zu",
				 t, sb.len, ref.n, nat.n);
		total += ref.n;
		free(ref.v);
		free(nat.v);
	}
	assert_true(total > 1000); /* the inputs do hit */
	strbuf_release(&sb);
	free(pc);
	hs_free_scratch(scratch);
	hs_free_database(db);
}

/* ---- run finding at every length and offset ---- */

static void collect(void *ctx, enum dlp_encoding enc, const uint8_t *p,
		    size_t n)
{
	struct strbuf *out = ctx;

	strbuf_add(&out[enc], p, n);
}

/* Decode in feeds of step bytes (0: one feed). */
static void decode(const char *in, size_t len, size_t step, struct strbuf *out)
{
	struct dlp_decoder *d = dlp_decoder_new(collect, out);

	assert_non_null(d);
	for (size_t i = 0, k; i < len; i += k) {
		k = step && len - i > step ? step : len - i;
		dlp_decoder_feed(d, in + i, k);
	}
	dlp_decoder_finish(d);
	dlp_decoder_free(d);
}

static unsigned hexval(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static void runs_everywhere(void **state)
{
	static const char hexd[] = "0123456789abcdef";
	char in[256];

	(void)state;
	for (size_t off = 0; off < 140; off++) {
		for (size_t run = 12; run < 72; run++) {
			struct strbuf out[DLP_ENC_COUNT], want = STRBUF_INIT;
			size_t len = off + run + 2;
			size_t steps[] = {0, 1, 7, 64};

			if (run > 20 && run < 60)
				continue;
			/* Text around a hex run (a b64 run too), then a
			 * non-class byte. */
			memset(in, ' ', sizeof(in));
			for (size_t i = 0; i + 1 < off; i++)
				in[i] = i % 3 ? 'w' : ' ';
			for (size_t i = 0; i < run; i++)
				in[off + i] = hexd[(i * 7 + off) % 16];
			in[off + run] = '.';
			in[off + run + 1] = 'x';
			for (size_t i = 0;
			     run >= DLP_DECODE_MIN_RUN && i + 1 < run; i += 2)
				strbuf_addch(&want,
					     (char)(hexval(in[off + i]) << 4 |
						    hexval(in[off + i + 1])));
			if (run >= DLP_DECODE_MIN_RUN)
				strbuf_addch(&want, '\n');
			for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
				for (int e = 0; e < DLP_ENC_COUNT; e++)
					strbuf_init(&out[e], 0);
				decode(in, len, steps[s], out);
				if (out[DLP_ENC_HEX].len != want.len ||
				    memcmp(out[DLP_ENC_HEX].buf, want.buf,
					   want.len))
					fail_msg("hex run of %zu at %zu, "
						 "feeds of %zu: %zu bytes "
						 "decoded, want %zu",
						 run, off, steps[s],
						 out[DLP_ENC_HEX].len,
						 want.len);
				/* The same run as base64: 6 bits a byte. */
				if ((run >= DLP_DECODE_MIN_RUN) !=
				    (out[DLP_ENC_BASE64].len > 0))
					fail_msg("b64 run of %zu at %zu", run,
						 off);
				if (run >= DLP_DECODE_MIN_RUN &&
				    out[DLP_ENC_BASE64].len != run * 6 / 8 + 1)
					fail_msg("b64 run of %zu at %zu: "
						 "%zu bytes",
						 run, off,
						 out[DLP_ENC_BASE64].len);
				for (int e = 0; e < DLP_ENC_COUNT; e++)
					strbuf_release(&out[e]);
			}
			strbuf_release(&want);
		}
	}
}

/* ---- classification: this CPU's passes = the one-pass reference ---- */

static void add_class_text(uint8_t *b, size_t n)
{
	static const char *const pick[] = {"0123456789", "0123456789abcdef",
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ+/_-",
					   " -", "\n\r\t.,;:=\"'%"};

	for (size_t i = 0; i < n;) {
		const char *a = pick[next() % ARRAY_SIZE(pick)];
		size_t run = 1 + next() % (next() % 4 ? 12 : 90), l = strlen(a);

		for (; run > 0 && i < n; run--)
			b[i++] = next() % 50 ? (uint8_t)a[next() % l]
					     : (uint8_t)next();
	}
}

#define PIECE_CMP(f)                                                           \
	do {                                                                   \
		if (memcmp(a->f, b->f, nb * sizeof(a->f[0])))                  \
			fail_msg("%s differs: piece of %zu at %zu", #f, n,     \
				 off);                                         \
	} while (0)

static void classify_same(void **state)
{
	static uint8_t buf[4 * DLP_PIECE];
	struct dlp_piece *a = xmalloc(sizeof(*a)), *b = xmalloc(sizeof(*b));

	(void)state;
	for (int round = 0; round < 40; round++) {
		struct dlp_carry ca = {0}, cb = {0};

		add_class_text(buf, sizeof(buf));
		for (size_t off = 0, n; off < sizeof(buf); off += n) {
			size_t nb;

			n = round % 2 ? DLP_PIECE : 1 + next() % DLP_PIECE;
			if (round % 4 == 3)
				n = 1 + next() % 1200;
			if (n > sizeof(buf) - off)
				n = sizeof(buf) - off;
			nb = (n + 63) / 64;
			dlp_classify_piece(buf + off, n, &ca, a);
			dlp_classify_piece_ref(buf + off, n, &cb, b);
			PIECE_CMP(b64);
			PIECE_CMP(hex);
			PIECE_CMP(run);
			PIECE_CMP(hexrun);
			PIECE_CMP(card);
			PIECE_CMP(secret);
			assert_memory_equal(a->runs, b->runs, sizeof(a->runs));
			assert_memory_equal(a->hexruns, b->hexruns,
					    sizeof(a->hexruns));
			assert_memory_equal(a->cands, b->cands,
					    sizeof(a->cands));
			assert_int_equal(a->b64_before, b->b64_before);
			assert_memory_equal(&ca, &cb, sizeof(ca));
		}
	}
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(native_matches_regex),
	    cmocka_unit_test(runs_everywhere),
	    cmocka_unit_test(classify_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
