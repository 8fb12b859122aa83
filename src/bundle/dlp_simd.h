/* Byte classification for the DLP stage's fast paths: one pass turns
 * each 64 input bytes into bit masks (bit i is byte i) of the character
 * classes, the runs that the decoders decode and the candidate ends of
 * the rules matched in C, with SSE2, AVX2 or AVX-512BW on x86_64 (picked
 * at run time) and a table elsewhere.  Internal to the DLP stage.
 */
#ifndef BOTTLE_BUNDLE_DLP_SIMD_H
#define BOTTLE_BUNDLE_DLP_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shortest run that the base64 and hex decoders decode and that a
 * generic secret's value is made of (both check). */
#define DLP_RUN 16

/* Bytes classified at a time: small enough for the masks to stay in L1. */
#define DLP_PIECE	 (16 * 1024)
#define DLP_PIECE_BLOCKS (DLP_PIECE / 64)

/* What dlp_classify_piece() finds in the blocks of 64 bytes of a piece,
 * one array per mask (block blk's mask is X[blk]; bit i is byte i of the
 * block; bits past the piece's end are 0):
 *   b64	A-Z a-z 0-9 + / - _ (both base64 alphabets);
 *   hex	0-9 a-f A-F;
 *   run	a run of >= DLP_RUN b64 bytes ends at the byte;
 *   hexrun	a run of >= DLP_RUN hex digits ends at the byte;
 * and the candidates of the rules matched in C (dlp_native.h):
 *   card	a payment card may end right before the byte (a digit, then a
 *		byte that is not \w, after a chain of >= 13 digits and single
 *		separators);
 *   secret	a generic secret's value (a run of >= 20 b64 bytes) ends
 *		right before the byte, which is not b64.
 */
/* A stream's classification state: the masks of its last 64 bytes.
 * Zeroed at the stream start. */
struct dlp_carry {
	uint64_t b64, hex, digit, chain, run;
};

/* The classification of up to DLP_PIECE bytes of a stream. */
struct dlp_piece {
	size_t n;
	uint64_t b64_before; /* b64 mask of the 64 bytes before the piece */
	/* Blocks (bit i of word i / 64 is block i) whose run, hexrun, or card
	 * or secret mask is not 0: most of ordinary text has none. */
	uint64_t runs[DLP_PIECE_BLOCKS / 64], hexruns[DLP_PIECE_BLOCKS / 64],
	    cands[DLP_PIECE_BLOCKS / 64];
	uint64_t b64[DLP_PIECE_BLOCKS], hex[DLP_PIECE_BLOCKS],
	    run[DLP_PIECE_BLOCKS], hexrun[DLP_PIECE_BLOCKS],
	    card[DLP_PIECE_BLOCKS], secret[DLP_PIECE_BLOCKS];
};

/* Classify p[0..n), n <= DLP_PIECE, the next bytes of the stream whose
 * state is *c (updated), into *out: one pass, with SSE2, AVX2 or
 * AVX-512BW on x86_64 (picked at run time), that every fast path over
 * the same bytes shares. */
void dlp_classify_piece(const uint8_t *p, size_t n, struct dlp_carry *c,
			struct dlp_piece *out);

/* The same with the one-pass loop over 64-bit masks that every
 * instruction set has (SSE2 on x86_64): for tests of the vector passes. */
void dlp_classify_piece_ref(const uint8_t *p, size_t n, struct dlp_carry *c,
			    struct dlp_piece *out);

/* Decode whole groups of 4 base64 characters (both alphabets; all of
 * b[0..n) must be in them) from b into o, at most 64 characters: the
 * number of characters decoded (3/4 of them written), 0 when this CPU
 * has no vector decoder. */
size_t dlp_b64_decode(const uint8_t *b, size_t n, uint8_t *o);

/* hi:lo &= hi:lo << s, 1 <= s < 64. */
static inline __attribute__((always_inline)) void
dlp_run_step(uint64_t *hi, uint64_t *lo, unsigned s)
{
	*hi &= *hi << s | *lo >> (64 - s);
	*lo &= *lo << s;
}

/* For each bit i of the upper half of c (c's lower half holds the bits
 * before it): whether bits i-k+1..i are all set, i.e. a run of >= k
 * (1..64) set bits ends at bit i.  Inlined so that a constant k leaves
 * constant shifts. */
static inline __attribute__((always_inline)) uint64_t
dlp_run_ends(unsigned __int128 c, unsigned k)
{
	unsigned have = 1u << (31 - __builtin_clz(k)); /* <= k */
	uint64_t hi = (uint64_t)(c >> 64), lo = (uint64_t)c;

	/* After the step with shift s, the bits mark runs of >= 2s.  Written
	 * out, in 64-bit halves: the compiler keeps a loop, and spills
	 * 128-bit values. */
	if (have > 1)
		dlp_run_step(&hi, &lo, 1);
	if (have > 2)
		dlp_run_step(&hi, &lo, 2);
	if (have > 4)
		dlp_run_step(&hi, &lo, 4);
	if (have > 8)
		dlp_run_step(&hi, &lo, 8);
	if (have > 16)
		dlp_run_step(&hi, &lo, 16);
	if (have > 32)
		dlp_run_step(&hi, &lo, 32);
	if (have < k)
		dlp_run_step(&hi, &lo, k - have);
	return hi;
}

/* hi:lo as one 128-bit mask. */
static inline unsigned __int128 dlp_join(uint64_t hi, uint64_t lo)
{
	return (unsigned __int128)hi << 64 | lo;
}

#endif
