/* Built-in DLP rules matched in C instead of Hyperscan, in streams.
 *
 * Two rules are slow in Hyperscan (a digit class with no literal; short
 * caseless keywords that hit ordinary code) and cheap here: payment-card
 * and generic-secret.  Their regexes stay in dlp_builtin.c (dlp_redact()
 * and the span computation use them); a stream finds the same match ends
 * with a classification pass (dlp_simd.h) that yields candidate ends, and
 * the caller confirms each with dlp_native_ok() on the bytes before it.
 * Internal to the DLP stage.
 */
#ifndef BOTTLE_BUNDLE_DLP_NATIVE_H
#define BOTTLE_BUNDLE_DLP_NATIVE_H

#include "bundle/dlp_builtin.h"
#include "bundle/dlp_simd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The state of one byte stream: masks of the last 64 bytes.  Zeroed at
 * the stream start. */
struct dlp_native {
	uint64_t digit, b64, chain, run; /* run: as dlp_masks.run */
};

/* A candidate: the regex of the rule with check `check` may match ending
 * at p + to (to <= n).  Return nonzero to stop the scan. */
typedef int (*dlp_native_fn)(void *ctx, enum dlp_check check, size_t to);

/* Scan the next n bytes p of the stream for the rules asked for (card:
 * DLP_CHECK_LUHN, secret: DLP_CHECK_ENTROPY); calls fn for each candidate
 * in order.  m is dlp_classify_blocks(p, n, st->b64), or NULL to
 * classify here.
 * Returns nonzero when fn stopped it. */
int dlp_native_scan(struct dlp_native *st, const uint8_t *p, size_t n,
		    const struct dlp_masks *m, bool card, bool secret,
		    dlp_native_fn fn, void *ctx);

/* Does the rule with check `check` match ending at win + n, verifier
 * included?  win[0..n) is the stream before the match end, at least
 * DLP_CHECK_WINDOW bytes unless the stream started later. */
bool dlp_native_ok(enum dlp_check check, const uint8_t *win, size_t n);

#endif
