/* Byte classification for the DLP stage (see dlp_simd.h). */
#include "bundle/dlp_simd.h"

#include <stdbool.h>
#include <string.h>

/* The character classes of 64 bytes. */
struct cls {
	uint64_t b64, hex, digit;
	uint64_t word; /* A-Z a-z 0-9 _ (regex \w) */
	uint64_t sep;  /* ' ' and '-' */
};

/* A piece's bitmaps, while it is classified. */
struct bits {
	uint64_t runs[DLP_PIECE_BLOCKS / 64], hexruns[DLP_PIECE_BLOCKS / 64],
	    cands[DLP_PIECE_BLOCKS / 64];
};

static inline __attribute__((always_inline)) void
piece_block(const struct cls *r, size_t k, struct dlp_carry *c,
	    struct dlp_piece *out, struct bits *b, size_t blk);

/* The piece loop, inlined into one function per instruction set so that
 * the classes and the state stay in registers. */
#define PIECE_LOOP(classify_full, classify_tail)                               \
	do {                                                                   \
		struct dlp_carry st = *c;                                      \
		struct bits b = {{0}};                                         \
		size_t i = 0;                                                  \
                                                                               \
		for (; i + 64 <= n; i += 64) {                                 \
			struct cls r;                                          \
                                                                               \
			classify_full;                                         \
			piece_block(&r, 64, &st, out, &b, i / 64);             \
		}                                                              \
		if (i < n) {                                                   \
			struct cls r;                                          \
                                                                               \
			classify_tail;                                         \
			piece_block(&r, n - i, &st, out, &b, i / 64);          \
		}                                                              \
		*c = st;                                                       \
		memcpy(out->runs, b.runs, sizeof(b.runs));                     \
		memcpy(out->hexruns, b.hexruns, sizeof(b.hexruns));            \
		memcpy(out->cands, b.cands, sizeof(b.cands));                  \
	} while (0)

#if defined(__x86_64__)
#include <immintrin.h>

/* x <= k, unsigned, per byte. */
#define LE(x, k) _mm_cmpeq_epi8(_mm_min_epu8((x), (k)), (x))

static inline __attribute__((always_inline)) void
classify_sse2(const uint8_t *p, struct cls *m)
{
	const __m128i c20 = _mm_set1_epi8(0x20), ca = _mm_set1_epi8('a'),
		      c0 = _mm_set1_epi8('0'), k25 = _mm_set1_epi8(25),
		      k9 = _mm_set1_epi8(9), k5 = _mm_set1_epi8(5),
		      plus = _mm_set1_epi8('+'), slash = _mm_set1_epi8('/'),
		      dash = _mm_set1_epi8('-'), under = _mm_set1_epi8('_'),
		      space = _mm_set1_epi8(' ');
	struct cls r = {0};

	for (int i = 0; i < 4; i++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * i));
		__m128i lo = _mm_sub_epi8(_mm_or_si128(x, c20), ca);
		__m128i letter = LE(lo, k25),
			digit = LE(_mm_sub_epi8(x, c0), k9);
		__m128i hexl = LE(lo, k5);
		__m128i d = _mm_cmpeq_epi8(x, dash),
			u = _mm_cmpeq_epi8(x, under);
		__m128i word = _mm_or_si128(_mm_or_si128(letter, digit), u);
		__m128i b64 =
		    _mm_or_si128(_mm_or_si128(word, d),
				 _mm_or_si128(_mm_cmpeq_epi8(x, plus),
					      _mm_cmpeq_epi8(x, slash)));
		unsigned s = 16 * (unsigned)i;

		r.b64 |= (uint64_t)(uint16_t)_mm_movemask_epi8(b64) << s;
		r.hex |= (uint64_t)(uint16_t)_mm_movemask_epi8(
			     _mm_or_si128(digit, hexl))
			 << s;
		r.digit |= (uint64_t)(uint16_t)_mm_movemask_epi8(digit) << s;
		r.word |= (uint64_t)(uint16_t)_mm_movemask_epi8(word) << s;
		r.sep |= (uint64_t)(uint16_t)_mm_movemask_epi8(
			     _mm_or_si128(d, _mm_cmpeq_epi8(x, space)))
			 << s;
	}
	*m = r;
}

#define LE256(x, k) _mm256_cmpeq_epi8(_mm256_min_epu8((x), (k)), (x))

__attribute__((target("avx2"))) static inline
    __attribute__((always_inline)) void
    classify_avx2(const uint8_t *p, struct cls *m)
{
	const __m256i c20 = _mm256_set1_epi8(0x20), ca = _mm256_set1_epi8('a'),
		      c0 = _mm256_set1_epi8('0'), k25 = _mm256_set1_epi8(25),
		      k9 = _mm256_set1_epi8(9), k5 = _mm256_set1_epi8(5),
		      plus = _mm256_set1_epi8('+'),
		      slash = _mm256_set1_epi8('/'),
		      dash = _mm256_set1_epi8('-'),
		      under = _mm256_set1_epi8('_'),
		      space = _mm256_set1_epi8(' ');
	struct cls r = {0};

	for (int i = 0; i < 2; i++) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * i));
		__m256i lo = _mm256_sub_epi8(_mm256_or_si256(x, c20), ca);
		__m256i letter = LE256(lo, k25);
		__m256i digit = LE256(_mm256_sub_epi8(x, c0), k9);
		__m256i hexl = LE256(lo, k5);
		__m256i d = _mm256_cmpeq_epi8(x, dash);
		__m256i u = _mm256_cmpeq_epi8(x, under);
		__m256i word =
		    _mm256_or_si256(_mm256_or_si256(letter, digit), u);
		__m256i b64 = _mm256_or_si256(
		    _mm256_or_si256(word, d),
		    _mm256_or_si256(_mm256_cmpeq_epi8(x, plus),
				    _mm256_cmpeq_epi8(x, slash)));
		unsigned s = 32 * (unsigned)i;

		r.b64 |= (uint64_t)(uint32_t)_mm256_movemask_epi8(b64) << s;
		r.hex |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
			     _mm256_or_si256(digit, hexl))
			 << s;
		r.digit |= (uint64_t)(uint32_t)_mm256_movemask_epi8(digit) << s;
		r.word |= (uint64_t)(uint32_t)_mm256_movemask_epi8(word) << s;
		r.sep |= (uint64_t)(uint32_t)_mm256_movemask_epi8(
			     _mm256_or_si256(d, _mm256_cmpeq_epi8(x, space)))
			 << s;
	}
	*m = r;
}

/* 64 bytes in one register, and compares that give bit masks directly;
 * a short block is a masked load (the bytes past n read as 0). */
__attribute__((target("avx512bw"))) static inline
    __attribute__((always_inline)) void
    classify_avx512(const uint8_t *p, size_t n, struct cls *m)
{
	const __m512i c20 = _mm512_set1_epi8(0x20), ca = _mm512_set1_epi8('a'),
		      c0 = _mm512_set1_epi8('0'), k25 = _mm512_set1_epi8(25),
		      k9 = _mm512_set1_epi8(9), k5 = _mm512_set1_epi8(5);
	__m512i x = n >= 64 ? _mm512_loadu_si512(p)
			    : _mm512_maskz_loadu_epi8((1ull << n) - 1, p);
	__m512i lo = _mm512_sub_epi8(_mm512_or_si512(x, c20), ca);
	uint64_t letter = _mm512_cmple_epu8_mask(lo, k25);
	uint64_t digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, c0), k9);
	uint64_t hexl = _mm512_cmple_epu8_mask(lo, k5);
	uint64_t dash = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('-'));
	uint64_t under = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('_'));
	uint64_t plus = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('+'));
	uint64_t slash = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('/'));
	uint64_t space = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(' '));

	m->digit = digit;
	m->hex = digit | hexl;
	m->word = letter | digit | under;
	m->b64 = m->word | dash | plus | slash;
	m->sep = dash | space;
}

/* Base64 (both alphabets) of the 4g characters b[0..4g), g <= 16, into
 * o[0..3g): characters to 6-bit values, then the 4 values of each 32-bit
 * lane into 24 bits (multiply-adds) and the 3 bytes of every lane
 * gathered in order (VBMI byte permute). */
__attribute__((target("avx512bw,avx512vbmi"))) static void
b64_avx512(const uint8_t *b, size_t g, uint8_t *o)
{
	static const uint8_t order[64] = {
	    2,	1,  0,	6,  5,	4,  10, 9,  8,	14, 13, 12, 18, 17, 16, 22,
	    21, 20, 26, 25, 24, 30, 29, 28, 34, 33, 32, 38, 37, 36, 42, 41,
	    40, 46, 45, 44, 50, 49, 48, 54, 53, 52, 58, 57, 56, 62, 61, 60,
	};
	uint64_t in = g == 16 ? ~0ull : (1ull << (4 * g)) - 1;
	__m512i c = _mm512_maskz_loadu_epi8(in, b);
	__m512i v = _mm512_sub_epi8(c, _mm512_set1_epi8('A'));
	uint64_t lower = _mm512_cmpge_epu8_mask(c, _mm512_set1_epi8('a'));
	uint64_t digit = _mm512_cmple_epu8_mask(
	    _mm512_sub_epi8(c, _mm512_set1_epi8('0')), _mm512_set1_epi8(9));
	uint64_t v62 = _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8('+')) |
		       _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8('-'));
	uint64_t v63 = _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8('/')) |
		       _mm512_cmpeq_epi8_mask(c, _mm512_set1_epi8('_'));

	v = _mm512_mask_sub_epi8(v, lower, c, _mm512_set1_epi8('a' - 26));
	v = _mm512_mask_add_epi8(v, digit, c, _mm512_set1_epi8(52 - '0'));
	v = _mm512_mask_mov_epi8(v, v62, _mm512_set1_epi8(62));
	v = _mm512_mask_mov_epi8(v, v63, _mm512_set1_epi8(63));
	v = _mm512_maddubs_epi16(v, _mm512_set1_epi32(0x01400140));
	v = _mm512_madd_epi16(v, _mm512_set1_epi32(0x00011000));
	v = _mm512_permutexvar_epi8(_mm512_loadu_si512(order), v);
	_mm512_mask_storeu_epi8(o, (1ull << (3 * g)) - 1, v);
}

enum { ISA_SSE2, ISA_AVX2, ISA_AVX512 };

static bool have_vbmi(void)
{
	static int have = -1;

	if (have < 0)
		have = __builtin_cpu_supports("avx512vbmi") &&
		       __builtin_cpu_supports("avx512bw");
	return have;
}

size_t dlp_b64_decode(const uint8_t *b, size_t n, uint8_t *o)
{
	size_t g = (n < 64 ? n : 64) / 4;

	if (!have_vbmi() || g == 0)
		return 0;
	b64_avx512(b, g, o);
	return 4 * g;
}

static int isa(void)
{
	static int have = -1;

	if (have < 0)
		have = __builtin_cpu_supports("avx512bw") ? ISA_AVX512
		       : __builtin_cpu_supports("avx2")	  ? ISA_AVX2
							  : ISA_SSE2;
	return have;
}

static const uint8_t *padded(const uint8_t *p, size_t n, uint8_t *pad)
{
	if (n >= 64)
		return p;
	memset(pad, 0, 64);
	memcpy(pad, p, n);
	return pad;
}

static void piece_sse2(const uint8_t *p, size_t n, struct dlp_carry *c,
		       struct dlp_piece *out)
{
	uint8_t pad[64];

	PIECE_LOOP(classify_sse2(p + i, &r),
		   classify_sse2(padded(p + i, n - i, pad), &r));
}

__attribute__((target("avx2"))) static void piece_avx2(const uint8_t *p,
						       size_t n,
						       struct dlp_carry *c,
						       struct dlp_piece *out)
{
	uint8_t pad[64];

	PIECE_LOOP(classify_avx2(p + i, &r),
		   classify_avx2(padded(p + i, n - i, pad), &r));
}

/* The classes piece_avx512() keeps besides those the piece holds. */
struct cls_rest {
	uint64_t digit[DLP_PIECE_BLOCKS], word[DLP_PIECE_BLOCKS],
	    sep[DLP_PIECE_BLOCKS];
};

/* 8 consecutive blocks, one per 64-bit lane: each lane's predecessor
 * (lane 0's is lane 7 of before, the blocks before these). */
#define PREV8(x, before) _mm512_alignr_epi64((x), (before), 7)
/* dlp_run_step() on 8 lanes: x &= x:p << s, where p holds each lane's
 * predecessor (its low bits are not needed: runs are <= 64). */
#define RUN_STEP8(x, p, s)                                                     \
	do {                                                                   \
		(x) = _mm512_ternarylogic_epi64(                               \
		    (x), _mm512_slli_epi64((x), s),                            \
		    _mm512_srli_epi64((p), 64 - s), 0xe0); /* a & (b | c) */   \
		(p) = _mm512_and_si512((p), _mm512_slli_epi64((p), s));        \
	} while (0)

__attribute__((target("avx512bw"))) static inline uint64_t lane7(__m512i v)
{
	return (uint64_t)_mm_extract_epi64(_mm512_extracti32x4_epi32(v, 3), 1);
}

/* piece_block() for the 8 whole blocks from blk, after the blocks whose
 * masks the lanes of the *prev vectors hold (in lane 7). */
__attribute__((target("avx512bw"))) static inline
    __attribute__((always_inline)) void
    piece_8(const struct cls_rest *cl, struct dlp_piece *out, struct bits *b,
	    size_t blk, __m512i *pb64, __m512i *phex, __m512i *pdigit,
	    __m512i *pchain, __m512i *prun, __m512i *pe20)
{
	__m512i b64 = _mm512_loadu_si512(out->b64 + blk);
	__m512i hex = _mm512_loadu_si512(out->hex + blk);
	__m512i digit = _mm512_loadu_si512(cl->digit + blk);
	__m512i word = _mm512_loadu_si512(cl->word + blk);
	__m512i sep = _mm512_loadu_si512(cl->sep + blk);
	__m512i run = b64, p = PREV8(b64, *pb64), hexrun = hex, x, y;
	__m512i prevd, chain, cand, e20, secret;
	unsigned sh = blk % 64;

	RUN_STEP8(run, p, 1);
	RUN_STEP8(run, p, 2);
	RUN_STEP8(run, p, 4);
	RUN_STEP8(run, p, 8);
	p = PREV8(hex, *phex);
	RUN_STEP8(hexrun, p, 1);
	RUN_STEP8(hexrun, p, 2);
	RUN_STEP8(hexrun, p, 4);
	RUN_STEP8(hexrun, p, 8);
	p = PREV8(digit, *pdigit);
	prevd = _mm512_or_si512(_mm512_slli_epi64(digit, 1),
				_mm512_srli_epi64(p, 63));
	/* digit | (sep & prevd); ~word & prevd */
	chain = _mm512_ternarylogic_epi64(digit, sep, prevd, 0xf8);
	cand = _mm512_andnot_si512(word, prevd);
	/* The chain shifted up by one, and its run of >= CARD_MIN_CHAIN
	 * (13 = 8 + 4 + 1, done as 1, 2, 4 and 5). */
	p = PREV8(chain, *pchain);
	x = _mm512_or_si512(_mm512_slli_epi64(chain, 1),
			    _mm512_srli_epi64(p, 63));
	y = _mm512_slli_epi64(p, 1);
	RUN_STEP8(x, y, 1);
	RUN_STEP8(x, y, 2);
	RUN_STEP8(x, y, 4);
	RUN_STEP8(x, y, 5);
	x = _mm512_and_si512(x, cand);
	p = PREV8(run, *prun);
	e20 = _mm512_ternarylogic_epi64(run, _mm512_slli_epi64(run, 4),
					_mm512_srli_epi64(p, 60), 0xe0);
	p = PREV8(e20, *pe20);
	secret =
	    _mm512_andnot_si512(b64, _mm512_or_si512(_mm512_slli_epi64(e20, 1),
						     _mm512_srli_epi64(p, 63)));
	_mm512_storeu_si512(out->run + blk, run);
	_mm512_storeu_si512(out->hexrun + blk, hexrun);
	_mm512_storeu_si512(out->card + blk, x);
	_mm512_storeu_si512(out->secret + blk, secret);
	b->runs[blk / 64] |= (uint64_t)_mm512_test_epi64_mask(run, run) << sh;
	b->hexruns[blk / 64] |= (uint64_t)_mm512_test_epi64_mask(hexrun, hexrun)
				<< sh;
	x = _mm512_or_si512(x, secret);
	b->cands[blk / 64] |= (uint64_t)_mm512_test_epi64_mask(x, x) << sh;
	*pb64 = b64;
	*phex = hex;
	*pdigit = digit;
	*pchain = chain;
	*prun = run;
	*pe20 = e20;
}

__attribute__((target("avx512bw"))) static void
piece_avx512_short(const uint8_t *p, size_t n, struct dlp_carry *c,
		   struct dlp_piece *out)
{
	PIECE_LOOP(classify_avx512(p + i, 64, &r),
		   classify_avx512(p + i, n - i, &r));
}

/* Two passes: the classes of every block (masks stored from the mask
 * registers), then the runs and candidates of 8 whole blocks at a time,
 * one per 64-bit lane, instead of one block at a time in 64-bit
 * registers.  What is left (fewer than 8 blocks, a short last block) goes
 * through piece_block() like the other instruction sets. */
__attribute__((target("avx512bw"))) static void
piece_avx512(const uint8_t *p, size_t n, struct dlp_carry *c,
	     struct dlp_piece *out)
{
	struct cls_rest cl;
	struct bits b = {{0}};
	size_t nb = (n + 63) / 64, g8 = n / 512 * 8, blk;
	__m512i pb64, phex, pdigit, pchain, prun, pe20;

	if (g8 == 0) { /* a short piece (a request head): one pass */
		piece_avx512_short(p, n, c, out);
		return;
	}

	for (blk = 0; blk < nb; blk++) {
		struct cls r;

		classify_avx512(p + 64 * blk, n - 64 * blk, &r);
		out->b64[blk] = r.b64;
		out->hex[blk] = r.hex;
		cl.digit[blk] = r.digit;
		cl.word[blk] = r.word;
		cl.sep[blk] = r.sep;
	}
	if (g8) {
		pb64 = _mm512_set1_epi64((long long)c->b64);
		phex = _mm512_set1_epi64((long long)c->hex);
		pdigit = _mm512_set1_epi64((long long)c->digit);
		pchain = _mm512_set1_epi64((long long)c->chain);
		prun = _mm512_set1_epi64((long long)c->run);
		/* the e20 of the block before: only its bit 63 is used */
		pe20 = _mm512_set1_epi64((long long)(c->run & c->run << 4));
		for (blk = 0; blk < g8; blk += 8)
			piece_8(&cl, out, &b, blk, &pb64, &phex, &pdigit,
				&pchain, &prun, &pe20);
		c->b64 = lane7(pb64);
		c->hex = lane7(phex);
		c->digit = lane7(pdigit);
		c->chain = lane7(pchain);
		c->run = lane7(prun);
	}
	for (blk = g8; blk < nb; blk++) {
		struct cls r = {out->b64[blk], out->hex[blk], cl.digit[blk],
				cl.word[blk], cl.sep[blk]};
		size_t k = n - 64 * blk < 64 ? n - 64 * blk : 64;

		piece_block(&r, k, c, out, &b, blk);
	}
	memcpy(out->runs, b.runs, sizeof(b.runs));
	memcpy(out->hexruns, b.hexruns, sizeof(b.hexruns));
	memcpy(out->cands, b.cands, sizeof(b.cands));
}

static void classify_piece(const uint8_t *p, size_t n, struct dlp_carry *c,
			   struct dlp_piece *out)
{
	if (isa() == ISA_AVX512)
		piece_avx512(p, n, c, out);
	else if (isa() == ISA_AVX2)
		piece_avx2(p, n, c, out);
	else
		piece_sse2(p, n, c, out);
}

#else /* portable */

enum { K_B64 = 1, K_HEX = 2, K_DIGIT = 4, K_WORD = 8, K_SEP = 16 };

static const uint8_t kinds[256] = {
    ['A' ... 'F'] = K_B64 | K_HEX | K_WORD,
    ['G' ... 'Z'] = K_B64 | K_WORD,
    ['a' ... 'f'] = K_B64 | K_HEX | K_WORD,
    ['g' ... 'z'] = K_B64 | K_WORD,
    ['0' ... '9'] = K_B64 | K_HEX | K_DIGIT | K_WORD,
    ['+'] = K_B64,
    ['/'] = K_B64,
    ['-'] = K_B64 | K_SEP,
    ['_'] = K_B64 | K_WORD,
    [' '] = K_SEP,
};

static void classify(const uint8_t *p, size_t n, struct cls *m)
{
	struct cls r = {0};

	for (size_t i = 0; i < n && i < 64; i++) {
		uint8_t k = kinds[p[i]];

		r.b64 |= (uint64_t)(k & K_B64 ? 1 : 0) << i;
		r.hex |= (uint64_t)(k & K_HEX ? 1 : 0) << i;
		r.digit |= (uint64_t)(k & K_DIGIT ? 1 : 0) << i;
		r.word |= (uint64_t)(k & K_WORD ? 1 : 0) << i;
		r.sep |= (uint64_t)(k & K_SEP ? 1 : 0) << i;
	}
	*m = r;
}

static void classify_piece(const uint8_t *p, size_t n, struct dlp_carry *c,
			   struct dlp_piece *out)
{
	PIECE_LOOP(classify(p + i, 64, &r), classify(p + i, n - i, &r));
}

size_t dlp_b64_decode(const uint8_t *b, size_t n, uint8_t *o)
{
	(void)b;
	(void)n;
	(void)o;
	return 0;
}

#endif

/* ---- the piece ---- */

/* A chain of digits and separators this long ends every card match
 * ("4 digits, 4, 4, 1" with separators is 16; 13 bare digits). */
#define CARD_MIN_CHAIN 13
#define SECRET_MIN     20 /* generic-secret's value: [A-Za-z0-9/+_\-]{20,80} */

_Static_assert(SECRET_MIN >= DLP_RUN && SECRET_MIN - DLP_RUN <= DLP_RUN,
	       "generic-secret runs come from the DLP_RUN runs");

/* The masks of the last 64 bytes after k more bytes with masks m. */
static inline uint64_t keep_last(uint64_t prev, uint64_t m, size_t k)
{
	return k >= 64 ? m : prev >> k | m << (64 - k);
}

/* One block, number blk of its piece: k bytes (1..64) with classes r,
 * after the stream state c. */
static inline __attribute__((always_inline)) void
piece_block(const struct cls *r, size_t k, struct dlp_carry *c,
	    struct dlp_piece *out, struct bits *b, size_t blk)
{
	const unsigned d = SECRET_MIN - DLP_RUN;
	uint64_t valid = k == 64 ? ~0ull : (1ull << k) - 1;
	uint64_t run = dlp_run_ends(dlp_join(r->b64, c->b64), DLP_RUN);
	uint64_t prevd = r->digit << 1 | c->digit >> 63;
	uint64_t chain = r->digit | (r->sep & prevd);
	uint64_t cand = prevd & ~r->word & valid, card = 0, hexrun = 0;
	uint64_t e20 = run & (run << d | c->run >> (64 - d));
	uint64_t before = c->run >> 63 & c->run >> (63 - d);
	uint64_t secret = (e20 << 1 | before) & ~r->b64 & valid;
	uint64_t bit = 1ull << (blk % 64);

	/* A hex run is a b64 run: most blocks have neither. */
	if (run)
		hexrun = dlp_run_ends(dlp_join(r->hex, c->hex), DLP_RUN);
	/* A card ends at a digit that a non-word byte follows. */
	if (cand)
		card = dlp_run_ends(dlp_join(chain, c->chain) << 1,
				    CARD_MIN_CHAIN) &
		       cand;
	out->b64[blk] = r->b64;
	out->hex[blk] = r->hex;
	out->run[blk] = run;
	out->hexrun[blk] = hexrun;
	out->card[blk] = card;
	/* Runs of >= SECRET_MIN from those of >= DLP_RUN, and the one that
	 * may end at the byte before the block. */
	out->secret[blk] = secret;
	b->runs[blk / 64] |= run ? bit : 0;
	b->hexruns[blk / 64] |= hexrun ? bit : 0;
	b->cands[blk / 64] |= card | secret ? bit : 0;
	c->chain = keep_last(c->chain, chain, k);
	c->digit = keep_last(c->digit, r->digit, k);
	c->b64 = keep_last(c->b64, r->b64, k);
	c->hex = keep_last(c->hex, r->hex, k);
	c->run = keep_last(c->run, run, k);
}

void dlp_classify_piece(const uint8_t *p, size_t n, struct dlp_carry *c,
			struct dlp_piece *out)
{
	out->n = n;
	out->b64_before = c->b64;
	classify_piece(p, n, c, out);
}

void dlp_classify_piece_ref(const uint8_t *p, size_t n, struct dlp_carry *c,
			    struct dlp_piece *out)
{
	out->n = n;
	out->b64_before = c->b64;
#if defined(__x86_64__)
	piece_sse2(p, n, c, out);
#else
	classify_piece(p, n, c, out);
#endif
}
