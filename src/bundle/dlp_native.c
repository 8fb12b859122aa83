/* Built-in rules matched in C (see dlp_native.h).
 *
 * Candidates come from the classification pass (dlp_simd.h): a card can
 * only end where a digit is followed by a non-word byte after a chain of
 * >= 13 digits and single separators; a generic secret only where a run
 * of 20 or more base64 characters (the value class) ends.  Both are rare
 * in ordinary text, and each is then matched exactly against the rule's
 * regex, read backwards from its end (every repeat in them is bounded and
 * the parts' character classes are disjoint, so the backward reading is
 * deterministic).
 */
#include "bundle/dlp_native.h"

#include "bundle/dlp_simd.h"

#include <string.h>

#define SECRET_MIN 20 /* the value: [A-Za-z0-9/+_\-]{20,80} */
#define SECRET_MAX 80

static bool is_space(uint8_t c) /* \s */
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_assign(uint8_t c)
{
	return c == ':' || c == '=';
}

static bool is_quote(uint8_t c)
{
	return c == '"' || c == '\'';
}

static bool is_value(uint8_t c);

/* Can a generic secret end before p[to] (a value run ends at to - 1)?
 * b64 is the value mask of the 128 bytes whose last 64 start at p + base
 * (to - base < 64).  False only when the run is too long or what precedes
 * it cannot be [:=]\s{0,4}["']?, as far as p shows (a line of a wrapped
 * base64 blob ends a long run but follows a line break). */
static bool secret_may(const uint8_t *p, size_t base, size_t to,
		       unsigned __int128 b64)
{
	unsigned __int128 x = b64 << (64 - (to - base)); /* run end: bit 127 */
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
	size_t run, j;

	if (~hi)
		run = (size_t)__builtin_clzll(~hi);
	else
		run = 64 + (~lo ? (size_t)__builtin_clzll(~lo) : 64);
	/* A run that fills the window may be longer: count on in p (a line
	 * of a MIME-wrapped blob, 76 bytes, often does). */
	if (run >= 64 + to - base)
		while (run < to && run <= SECRET_MAX &&
		       is_value(p[to - run - 1]))
			run++;
	if (run > SECRET_MAX)
		return false;
	/* One that starts in an earlier feed follows bytes p does not
	 * hold. */
	if (run + 1 > to)
		return true;
	j = to - run - 1;
	if (is_quote(p[j]) && j-- == 0)
		return true;
	for (int k = 0; k < 4 && is_space(p[j]); k++)
		if (j-- == 0)
			return true;
	return is_assign(p[j]);
}

int dlp_native_scan(const struct dlp_piece *pc, const uint8_t *p, bool card,
		    bool secret, dlp_native_fn fn, void *ctx)
{
	for (size_t w = 0; w < DLP_PIECE_BLOCKS / 64; w++) {
		for (uint64_t bm = pc->cands[w]; bm; bm &= bm - 1) {
			size_t blk = 64 * w + (size_t)__builtin_ctzll(bm);
			size_t base = 64 * blk;
			uint64_t ec = card ? pc->card[blk] : 0;
			uint64_t es = secret ? pc->secret[blk] : 0;
			unsigned __int128 b64 =
			    dlp_join(pc->b64[blk],
				     blk ? pc->b64[blk - 1] : pc->b64_before);

			for (uint64_t e = ec | es; e; e &= e - 1) {
				size_t i = (size_t)__builtin_ctzll(e);

				if ((ec >> i & 1) &&
				    fn(ctx, DLP_CHECK_LUHN, base + i))
					return 1;
				if ((es >> i & 1) &&
				    secret_may(p, base, base + i, b64) &&
				    fn(ctx, DLP_CHECK_ENTROPY, base + i + 1))
					return 1;
			}
		}
	}
	return 0;
}

/* ---- exact matching, backwards from the end ---- */

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(uint8_t c)
{
	return is_digit(c) || c == '_' ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static bool is_value(uint8_t c)
{
	return is_word(c) || c == '/' || c == '+' || c == '-';
}

static bool is_name(uint8_t c) /* [A-Za-z0-9_\-] */
{
	return is_word(c) || c == '-';
}

/* "\b(?:[2-6]\d{12,18}|[2-6]\d{3}[ \-]\d{4}[ \-]\d{4}[ \-]\d{1,7}|
 * 3[47]\d{2}[ \-]\d{6}[ \-]\d{5})" ending at win + n (the byte after is
 * not a word byte: the scan checked). */
static bool card_shape(const uint8_t *w, size_t n)
{
	size_t len[4], at[4], ng = 0, i = n;
	bool left[4];

	while (ng < 4) {
		size_t k = 0;

		while (i > 0 && is_digit(w[i - 1]) && k < 20) {
			i--;
			k++;
		}
		len[ng] = k;
		at[ng] = i;
		left[ng] = i == 0 || !is_word(w[i - 1]);
		ng++;
		if (k == 0 || k == 20 || i < 2 || !is_digit(w[i - 2]) ||
		    (w[i - 1] != ' ' && w[i - 1] != '-'))
			break;
		i--;
	}
	if (len[0] >= 13 && len[0] <= 19 && left[0] && w[at[0]] >= '2' &&
	    w[at[0]] <= '6')
		return true;
	if (ng == 4 && len[3] == 4 && len[2] == 4 && len[1] == 4 &&
	    len[0] >= 1 && len[0] <= 7 && left[3] && w[at[3]] >= '2' &&
	    w[at[3]] <= '6')
		return true;
	return ng >= 3 && len[2] == 4 && len[1] == 6 && len[0] == 5 &&
	       left[2] && w[at[2]] == '3' &&
	       (w[at[2] + 1] == '4' || w[at[2] + 1] == '7');
}

static bool keyword_ends_at(const uint8_t *w, size_t j)
{
	static const char *const kw[] = {
	    "api_key",	   "apikey",	 "secret",     "token",
	    "password",	   "passwd",	 "access_key", "accesskey",
	    "private_key", "privatekey", "credential",
	};

	uint8_t last;

	/* Most places end in none of the keywords' last letters. */
	if (j == 0)
		return false;
	last = w[j - 1] | 0x20;
	if (last != 'y' && last != 't' && last != 'n' && last != 'd' &&
	    last != 'l')
		return false;
	for (size_t x = 0; x < sizeof(kw) / sizeof(kw[0]); x++) {
		size_t l = strlen(kw[x]);

		if (l <= j &&
		    strncasecmp((const char *)w + j - l, kw[x], l) == 0)
			return true;
	}
	return false;
}

/* Walk back over at most max bytes of class f from *i; their count. */
static inline __attribute__((always_inline)) size_t
back_over(const uint8_t *w, size_t *i, bool (*f)(uint8_t), size_t max)
{
	size_t k = 0;

	while (*i > 0 && k <= max && f(w[*i - 1])) {
		(*i)--;
		k++;
	}
	return k;
}

/* "(?i:KEYWORDS)[A-Za-z0-9_\-]{0,20}[\"']?\s{0,4}[:=]{1,2}\s{0,4}[\"']?
 * [A-Za-z0-9/+_\-]{20,80}[^A-Za-z0-9/+_\-]" ending at win + n. */
static bool secret_shape(const uint8_t *w, size_t n)
{
	size_t i = n - 1, k, q;

	if (n < 2 || is_value(w[n - 1]))
		return false;
	k = back_over(w, &i, is_value, SECRET_MAX);
	if (k < SECRET_MIN || k > SECRET_MAX || (i > 0 && is_value(w[i - 1])))
		return false;
	(void)back_over(w, &i, is_quote, 0);
	if (back_over(w, &i, is_space, 4) > 4)
		return false;
	k = back_over(w, &i, is_assign, 2);
	if (k < 1 || k > 2)
		return false;
	if (back_over(w, &i, is_space, 4) > 4)
		return false;
	(void)back_over(w, &i, is_quote, 0);
	for (q = i; i + 20 >= q; i--) {
		if (keyword_ends_at(w, i))
			return true;
		if (i == 0 || !is_name(w[i - 1]))
			break;
	}
	return false;
}

bool dlp_native_ok(enum dlp_check check, const uint8_t *win, size_t n)
{
	switch (check) {
	case DLP_CHECK_LUHN:
		return n > 0 && card_shape(win, n) &&
		       dlp_check_ok(check, win, n);
	case DLP_CHECK_ENTROPY:
		return secret_shape(win, n) && dlp_check_ok(check, win, n);
	case DLP_CHECK_NONE:
		break;
	}
	return false;
}
