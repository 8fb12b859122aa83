/* Byte classification for the DLP stage's fast paths: one call turns 64
 * input bytes into bit masks (bit i is byte i), with SSE2 or AVX2 on
 * x86_64 (AVX2 picked at run time) and a table elsewhere.  Internal to
 * the DLP stage.
 */
#ifndef BOTTLE_BUNDLE_DLP_SIMD_H
#define BOTTLE_BUNDLE_DLP_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dlp_masks {
	uint64_t b64;	/* A-Z a-z 0-9 + / - _ (both base64 alphabets) */
	uint64_t hex;	/* 0-9 a-f A-F */
	uint64_t digit; /* 0-9 */
	uint64_t word;	/* A-Z a-z 0-9 _ (regex \w) */
	uint64_t sep;	/* ' ' and '-' */
};

/* Classify p[0..n), n <= 64; bits n..63 are 0. */
void dlp_classify(const uint8_t *p, size_t n, struct dlp_masks *m);
/* Classify p[0..n) (any n) into m[0..(n + 63) / 64): m[i] is bytes
 * [64i, 64i + 64); the last block's bits past n are 0.  One pass that
 * every fast path over the same bytes shares. */
void dlp_classify_blocks(const uint8_t *p, size_t n, struct dlp_masks *m);

/* For each bit i of the upper half of c (c's lower half holds the bits
 * before it): whether bits i-k+1..i are all set, i.e. a run of >= k
 * (1..64) set bits ends at bit i.  Inlined so that a constant k leaves
 * constant shifts. */
static inline __attribute__((always_inline)) uint64_t
dlp_run_ends(unsigned __int128 c, unsigned k)
{
	unsigned have = 1u << (31 - __builtin_clz(k)); /* <= k */

	/* After the step with shift s, c marks runs of >= 2s (written out:
	 * the compiler keeps a loop). */
	if (have > 1)
		c &= c << 1;
	if (have > 2)
		c &= c << 2;
	if (have > 4)
		c &= c << 4;
	if (have > 8)
		c &= c << 8;
	if (have > 16)
		c &= c << 16;
	if (have > 32)
		c &= c << 32;
	if (have < k)
		c &= c << (k - have);
	return (uint64_t)(c >> 64);
}

/* hi:lo as one 128-bit mask. */
static inline unsigned __int128 dlp_join(uint64_t hi, uint64_t lo)
{
	return (unsigned __int128)hi << 64 | lo;
}

#endif
