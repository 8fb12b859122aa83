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
/* Only the b64 mask (or, if !b64, the hex mask) of p[0..n): cheaper. */
uint64_t dlp_classify_b64(const uint8_t *p, size_t n, bool b64);

/* For each bit i of the upper half of c (c's lower half holds the bits
 * before it): whether bits i-k+1..i are all set, i.e. a run of >= k
 * (1..64) set bits ends at bit i. */
static inline uint64_t dlp_run_ends(unsigned __int128 c, unsigned k)
{
	unsigned have = 1;

	while (2 * have <= k) { /* c: bits ending a run of >= have */
		c &= c << have;
		have *= 2;
	}
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
