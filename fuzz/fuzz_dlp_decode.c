/* libFuzzer harness for the DLP stage: the decoders and the streaming scan
 * over the built-in set plus one literal secret.  The first two bytes seed
 * the feed sizes; the rest is the data.  Properties:
 *  - the decoders' output does not depend on how the input is split;
 *  - neither does the scan's verdict (block or not), nor, when nothing
 *    blocks, whether a log rule matched (payment-card and generic-secret
 *    are matched in C across feeds: dlp_native.c);
 *  - redaction stays inside the buffer.
 */
#include "bundle/dlp.h"
#include "bundle/dlp_decode.h"
#include "lib/log.h"
#include "lib/strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct dlp_db *db;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const secrets[] = {"Tr0ub4dor&3-horse-battery"};
	struct dlp_config c = {true, NULL, 0, secrets, 1, NULL};
	struct error err = ERROR_INIT;

	(void)argc;
	(void)argv;
	if (dlp_db_new(&c, &db, &err) < 0)
		die("%s", err.msg);
	return 0;
}

struct splitter {
	uint32_t state;
};

static size_t next_len(struct splitter *s, size_t left)
{
	s->state = s->state * 1103515245u + 12345u;
	size_t n = 1 + (s->state >> 16) % 97;

	return n < left ? n : left;
}

static void collect(void *ctx, enum dlp_encoding enc, const uint8_t *p,
		    size_t n)
{
	struct strbuf *out = ctx;

	strbuf_add(&out[enc], p, n);
}

static void decode(const uint8_t *p, size_t n, uint32_t seed,
		   struct strbuf *out)
{
	struct dlp_decoder *d = dlp_decoder_new(collect, out);
	struct splitter sp = {seed};

	if (!d)
		abort();
	for (size_t i = 0, k; i < n; i += k) {
		k = seed ? next_len(&sp, n - i) : n;
		dlp_decoder_feed(d, p + i, k);
	}
	dlp_decoder_finish(d);
	dlp_decoder_free(d);
}

static void check_decoders(const uint8_t *p, size_t n, uint32_t seed)
{
	struct strbuf a[DLP_ENC_COUNT], b[DLP_ENC_COUNT];

	for (int e = 0; e < DLP_ENC_COUNT; e++) {
		strbuf_init(&a[e], 0);
		strbuf_init(&b[e], 0);
	}
	decode(p, n, 0, a);
	decode(p, n, seed | 1, b);
	for (int e = 0; e < DLP_ENC_COUNT; e++) {
		if (a[e].len != b[e].len ||
		    memcmp(a[e].buf, b[e].buf, a[e].len))
			abort(); /* split-dependent decoding */
		strbuf_release(&a[e]);
		strbuf_release(&b[e]);
	}
}

/* Scan p in feeds split by seed (0: one feed): 1 when blocked, else 2 when
 * a log rule matched, else 0. */
static int scan_split(const uint8_t *p, size_t n, uint32_t seed)
{
	struct dlp_stream *s = dlp_stream_new(db);
	struct splitter sp = {seed};
	struct dlp_hit hit;
	int r = 0;

	for (size_t i = 0, k; i < n && !r; i += k) {
		k = seed ? next_len(&sp, n - i) : n - i;
		r = dlp_stream_feed(s, p + i, k, &hit);
	}
	if (!r)
		r = dlp_stream_finish(s, &hit);
	if (r && (!hit.rule || !hit.encoding))
		abort();
	if (!r && dlp_stream_logged(s))
		r = 2;
	dlp_stream_free(s);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dlp_hit hit;
	uint32_t seed;
	char *copy;
	int r;

	if (size < 2)
		return 0;
	seed = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	check_decoders(data, size, seed);
	r = scan_split(data, size, 0);
	if ((r == 1) != (dlp_scan(db, data, size, &hit) == 1))
		abort(); /* dlp_scan() and one feed disagree */
	if (r != scan_split(data, size, seed | 1))
		abort(); /* split-dependent verdict */
	copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	dlp_redact(db, copy, size);
	free(copy);
	return 0;
}
