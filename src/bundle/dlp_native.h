/* Built-in DLP rules matched in C instead of Hyperscan, in streams.
 *
 * Two rules are slow in Hyperscan (a digit class with no literal; short
 * caseless keywords that hit ordinary code) and cheap here: payment-card
 * and generic-secret.  Their regexes stay in dlp_builtin.c (dlp_redact()
 * and the span computation use them); a stream finds the same match ends
 * in the classification pass (dlp_simd.h), which yields candidate ends,
 * and the caller confirms each with dlp_native_ok() on the bytes before
 * it.
 * Internal to the DLP stage.
 */
#ifndef BOTTLE_BUNDLE_DLP_NATIVE_H
#define BOTTLE_BUNDLE_DLP_NATIVE_H

#include "bundle/dlp_builtin.h"
#include "bundle/dlp_simd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A candidate: the regex of the rule with check `check` may match ending
 * at p + to (to <= n).  Return nonzero to stop the scan. */
typedef int (*dlp_native_fn)(void *ctx, enum dlp_check check, size_t to);

/* Call fn for each candidate in the piece pc = dlp_classify_piece(p, ...)
 * of the rules asked for (card: DLP_CHECK_LUHN, secret:
 * DLP_CHECK_ENTROPY), in order.  Returns nonzero when fn stopped it. */
int dlp_native_scan(const struct dlp_piece *pc, const uint8_t *p, bool card,
		    bool secret, dlp_native_fn fn, void *ctx);

/* Does the rule with check `check` match ending at win + n, verifier
 * included?  win[0..n) is the stream before the match end, at least
 * DLP_CHECK_WINDOW bytes unless the stream started later. */
bool dlp_native_ok(enum dlp_check check, const uint8_t *win, size_t n);

#endif
