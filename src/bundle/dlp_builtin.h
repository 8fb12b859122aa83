/* The built-in DLP pattern set (a table in dlp_builtin.c) and the match
 * verifiers some of its rules need.  Internal to the DLP stage. */
#ifndef BOTTLE_BUNDLE_DLP_BUILTIN_H
#define BOTTLE_BUNDLE_DLP_BUILTIN_H

#include "lib/manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a Hyperscan candidate must pass before it counts as a hit. */
enum dlp_check {
	DLP_CHECK_NONE = 0,
	DLP_CHECK_LUHN,	   /* payment card: IIN prefix, length, Luhn sum */
	DLP_CHECK_ENTROPY, /* generic assignment: the value looks random */
};

/* Bytes of context a verifier looks at, ending where the match ends. */
#define DLP_CHECK_WINDOW 128

struct dlp_builtin {
	const char *name;
	const char *category;
	const char *regex; /* Hyperscan syntax; every repeat bounded */
	unsigned flags;	   /* HS_FLAG_* */
	enum dlp_action action;
	enum dlp_check check;
	/* Streams match it in C (dlp_native.h), not with the regex; the
	 * regex still serves dlp_redact() and the span. */
	bool native;
};

extern const struct dlp_builtin dlp_builtin_rules[];
extern const size_t dlp_builtin_count;

/* Does the match ending at win + n pass check c?  win[0..n) is the input
 * before the match end (n <= DLP_CHECK_WINDOW; less at the stream start). */
bool dlp_check_ok(enum dlp_check c, const uint8_t *win, size_t n);

#endif
