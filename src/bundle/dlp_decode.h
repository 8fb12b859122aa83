/* Streaming decoders for the DLP stage: find base64, hex and %XX runs in a
 * raw byte stream and hand their decoded bytes to a sink, so that a secret
 * the agent encoded before sending is scanned in its decoded form too.
 *
 * The decoded output of one encoding is a byte stream of its own: every
 * decoded run is followed by one '\n' (a separator no built-in pattern
 * crosses).  Which runs are decoded:
 *   base64  maximal runs of >= DLP_DECODE_MIN_RUN characters of the standard
 *           or url-safe alphabet (both decode; '=' ends a run), decoded from
 *           the run's first character; a single line break ("\n" or "\r\n")
 *           inside a run does not end it (MIME and PEM line wrapping);
 *   hex     maximal runs of >= DLP_DECODE_MIN_RUN hex digits, in pairs;
 *   url     a run of URL characters that contains a '%', from up to
 *           DLP_DECODE_URL_LOOKBACK bytes before the first '%' to the run's
 *           end, with every %XX decoded and other bytes copied.
 * Runs may cross dlp_decoder_feed() boundaries; the decoder keeps the state.
 * The cost on ordinary text is a look at the caller's byte classification
 * (dlp_simd.h) per 4 KiB, and memchr() for '%'.
 */
#ifndef BOTTLE_BUNDLE_DLP_DECODE_H
#define BOTTLE_BUNDLE_DLP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define DLP_DECODE_MIN_RUN	16
#define DLP_DECODE_URL_LOOKBACK 128

enum dlp_encoding {
	DLP_ENC_PLAIN = 0,
	DLP_ENC_BASE64,
	DLP_ENC_HEX,
	DLP_ENC_URL,
	DLP_ENC_COUNT
};

/* "plain", "base64", "hex", "url": static strings. */
const char *dlp_encoding_name(enum dlp_encoding enc);

/* Receives decoded bytes (enc is never DLP_ENC_PLAIN).  p is only valid
 * during the call. */
typedef void (*dlp_decode_sink_fn)(void *ctx, enum dlp_encoding enc,
				   const uint8_t *p, size_t n);

struct dlp_decoder;

/* A decoder that reports to sink(ctx, ...).  NULL only when out of memory.
 * Free with dlp_decoder_free(). */
struct dlp_decoder *dlp_decoder_new(dlp_decode_sink_fn sink, void *ctx);
void dlp_decoder_free(struct dlp_decoder *d);

/* Decode the next raw bytes.  Every decoded byte that these raw bytes
 * complete has been passed to the sink when this returns (only a hex run
 * shorter than DLP_DECODE_MIN_RUN so far is held back). */
void dlp_decoder_feed(struct dlp_decoder *d, const void *buf, size_t len);

struct dlp_piece; /* dlp_simd.h */
/* The same for the bytes pc classified (pc->n of them at buf): a stream
 * classifies its bytes once for every fast path. */
void dlp_decoder_feed_piece(struct dlp_decoder *d, const void *buf,
			    const struct dlp_piece *pc);

/* End of the raw stream: ends open runs (emitting their separators) and
 * resets the decoder to its initial state. */
void dlp_decoder_finish(struct dlp_decoder *d);
/* Back to the initial state without emitting anything (for a new raw
 * stream after one that was not finished). */
void dlp_decoder_reset(struct dlp_decoder *d);

#endif
