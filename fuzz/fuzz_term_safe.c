/* libFuzzer harness for term_safe() (lib/util.h), what the CLI prints of
 * an agent's text: for every flag combination, the output must be valid
 * UTF-8 holding no control character (but the newline and tab the flags
 * keep), no DEL, no C1 control and no bidi or invisible format
 * character; and with nothing to escape it is the input itself. */
#include "lib/strbuf.h"
#include "lib/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The code point at p (valid UTF-8 of len bytes), or -1. */
static int32_t decode(const unsigned char *p, size_t n, size_t *len)
{
	size_t l = p[0] < 0x80		   ? 1
		   : (p[0] & 0xe0) == 0xc0 ? 2
		   : (p[0] & 0xf0) == 0xe0 ? 3
		   : (p[0] & 0xf8) == 0xf0 ? 4
					   : 0;
	int32_t cp;

	if (!l || l > n)
		return -1;
	cp = l == 1 ? p[0] : p[0] & (0x7f >> l);
	for (size_t i = 1; i < l; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((l == 2 && cp < 0x80) || (l == 3 && cp < 0x800) ||
	    (l == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = l;
	return cp;
}

static bool shown_raw(int32_t cp, unsigned flags)
{
	if (cp == '\n')
		return flags & TERM_SAFE_NL;
	if (cp == '\t')
		return flags & TERM_SAFE_TAB;
	return !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
		 cp == 0x200b || cp == 0x200e || cp == 0x200f ||
		 (cp >= 0x2028 && cp <= 0x202e) ||
		 (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
		 (cp >= 0xfff9 && cp <= 0xfffb) ||
		 (cp >= 0xe0000 && cp <= 0xe007f));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (unsigned flags = 0; flags < 8; flags++) {
		struct strbuf sb = STRBUF_INIT;
		const unsigned char *p;
		bool same = true;
		size_t len;

		term_safe(&sb, (const char *)data, size, flags);
		p = (const unsigned char *)sb.buf;
		for (size_t i = 0; i < sb.len; i += len) {
			int32_t cp = decode(p + i, sb.len - i, &len);
			if (cp < 0 ||
			    !shown_raw(cp, flags & ~TERM_SAFE_ONE_LINE))
				abort();
		}
		/* Text with nothing to escape comes out as it went in. */
		for (size_t i = 0; i < size && same; i += len) {
			int32_t cp = decode(data + i, size - i, &len);
			same = cp >= 0 && shown_raw(cp, flags) &&
			       !((flags & TERM_SAFE_ONE_LINE) &&
				 (cp == '\n' || cp == '\t'));
		}
		if (same && (sb.len != size || memcmp(sb.buf, data, size) != 0))
			abort();
		strbuf_release(&sb);
	}
	return 0;
}
