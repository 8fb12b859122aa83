/* lib/util.h: term_safe(), what the CLI prints of an agent's text;
 * lib/run.h: helper programs with captured output. */
#include "lib/run.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

static void expect_safe(const char *in, size_t n, unsigned flags,
			const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	term_safe(&sb, in, n, flags);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);
}

#define SAFE(in, flags, want) expect_safe(in, sizeof(in) - 1, flags, want)

static void test_controls(void **state)
{
	(void)state;
	SAFE("plain text, UTF-8 \xc3\xa9\xe2\x82\xac \xf0\x9f\x98\x80", 0,
	     "plain text, UTF-8 \xc3\xa9\xe2\x82\xac \xf0\x9f\x98\x80");
	/* OSC title, OSC 52 clipboard, screen clear, CR, BEL, DEL. */
	SAFE("\x1b]0;pwned\x07", 0, "\\x1b]0;pwned\\x07");
	SAFE("\x1b]52;c;ZXZpbA==\x1b\\", 0, "\\x1b]52;c;ZXZpbA==\\x1b\\");
	SAFE("\x1b[2J\x1b[H", TERM_SAFE_NL | TERM_SAFE_TAB, "\\x1b[2J\\x1b[H");
	SAFE("over\rwrite\x7f\x08", TERM_SAFE_NL, "over\\x0dwrite\\x7f\\x08");
	SAFE("a\x00z", 0, "a\\x00z");
	/* Newlines and tabs: kept, escaped or made spaces. */
	SAFE("a\nb\tc", TERM_SAFE_NL | TERM_SAFE_TAB, "a\nb\tc");
	/* A pty's CRLF is a line end; a lone CR is not. */
	SAFE("a\r\nb\r", TERM_SAFE_NL, "a\nb\\x0d");
	SAFE("a\nb\tc", TERM_SAFE_NL, "a\nb\\x09c");
	SAFE("a\nb\tc", 0, "a\\x0ab\\x09c");
	SAFE("a\r\nb\tc\rd", TERM_SAFE_ONE_LINE, "a b c\\x0dd");
}

static void test_unicode(void **state)
{
	(void)state;
	/* C1 controls: CSI (U+009B) and the 8-bit one alone. */
	SAFE("\xc2\x9b"
	     "2J",
	     0, "\\u009b2J");
	SAFE("\x9b"
	     "2J",
	     0, "\\x9b2J");
	/* Bidi overrides, isolates and marks; separators; invisibles. */
	SAFE("a\xe2\x80\xae"
	     "b",
	     0, "a\\u202eb");
	SAFE("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", 0,
	     "\\u2066\\u2067\\u2068\\u2069");
	SAFE("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", 0, "\\u200e\\u200f\\u061c");
	SAFE("\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\x8b\xef\xbb\xbf", 0,
	     "\\u2028\\u2029\\u200b\\ufeff");
	SAFE("\xf3\xa0\x80\x81", 0, "\\U000e0001");
	/* Joiners stay (emoji, Indic scripts). */
	SAFE("\xe2\x80\x8d", 0, "\xe2\x80\x8d");
	/* Not UTF-8: overlong, surrogate, past U+10FFFF, cut short. */
	SAFE("\xc0\xaf", 0, "\\xc0\\xaf");
	SAFE("\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf");
	SAFE("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	SAFE("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
	SAFE("ok\xe2\x82", 0, "ok\\xe2\\x82");
	/* An overlong ESC is not an ESC. */
	SAFE("\xc0\x9b", 0, "\\xc0\\x9b");
}

static void test_utf8_cut(void **state)
{
	static const char s[] = "ab\xe2\x82\xac"
				"c";

	(void)state;
	assert_int_equal(utf8_cut(s, 6, 10), 6);
	assert_int_equal(utf8_cut(s, 6, 5), 5);
	assert_int_equal(utf8_cut(s, 6, 4), 2);
	assert_int_equal(utf8_cut(s, 6, 3), 2);
	assert_int_equal(utf8_cut(s, 6, 2), 2);
	assert_int_equal(utf8_cut(s, 6, 0), 0);
}

static void test_format_age(void **state)
{
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {{-5, "0s"},      {0, "0s"},      {119, "119s"},
		     {120, "2m"},     {7199, "119m"}, {7200, "2h"},
		     {172799, "47h"}, {172800, "2d"}, {864000, "10d"}};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		format_age(buf, sizeof(buf), cases[i].s);
		assert_string_equal(buf, cases[i].want);
	}
}

static void test_run_capture(void **state)
{
	struct error err = ERROR_INIT;
	const char *const hello[] = {"printf", "hello\n", NULL};
	const char *const fail[] = {"sh", "-c",
				    "echo one >&2; echo oops >&2; "
				    "exit 3",
				    NULL};
	const char *const cat[] = {"cat", NULL};
	const char *const none[] = {"/nonexistent/prog", NULL};
	char *out = NULL;
	size_t len = 0;
	int in = memfd_create("in", MFD_CLOEXEC);

	(void)state;
	assert_int_equal(run_capture(hello, -1, 100, &out, &len, &err), 0);
	assert_string_equal(out, "hello\n");
	assert_int_equal(len, 6);
	free(out);

	/* stdin from a file, from its current offset */
	assert_int_equal(write(in, "xxabc", 5), 5);
	assert_int_equal(lseek(in, 2, SEEK_SET), 2);
	assert_int_equal(run_capture(cat, in, 100, &out, NULL, &err), 0);
	assert_string_equal(out, "abc");
	free(out);
	close(in);

	/* stdin /dev/null: cat ends at once */
	assert_int_equal(run_capture(cat, -1, 100, &out, NULL, &err), 0);
	assert_string_equal(out, "");
	free(out);

	assert_int_equal(run_capture(fail, -1, 100, &out, &len, &err), -EIO);
	assert_null(out);
	assert_string_equal(err.msg, "sh failed (exit 3): oops");

	assert_int_equal(run_capture(none, -1, 100, &out, &len, &err), -ENOENT);
	assert_null(out);
	assert_non_null(strstr(err.msg, "cannot run /nonexistent/prog"));

	assert_int_equal(run_capture(hello, -1, 5, &out, &len, &err), -EFBIG);
	assert_null(out);
	assert_non_null(strstr(err.msg, "printed 6 bytes; expected at most 5"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_unicode),
	    cmocka_unit_test(test_utf8_cut),
	    cmocka_unit_test(test_format_age),
	    cmocka_unit_test(test_run_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
