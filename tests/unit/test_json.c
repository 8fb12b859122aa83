#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/json.h"
#include "lib/util.h"

#include <math.h>

static struct json_value *parse_ok(const char *s)
{
	struct error err = ERROR_INIT;
	struct json_value *v = NULL;
	int r = json_parse(s, strlen(s), &v, &err);

	if (r != 0)
		fail_msg("parsing %s: %s", s, err.msg);
	assert_non_null(v);
	return v;
}

/* Parse, re-serialize compactly, and return the output (caller frees). */
static char *reserialize(const char *s, enum json_writer_flags flags)
{
	struct json_value *v = parse_ok(s);
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	json_writer_init(&w, &sb, flags);
	json_writer_value(&w, v);
	json_value_free(v);
	return strbuf_detach(&sb, NULL);
}

static void writer_compact(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	json_writer_key(&w, "s");
	json_writer_string(&w, "x");
	json_writer_key(&w, "i");
	json_writer_int64(&w, INT64_MIN);
	json_writer_key(&w, "u");
	json_writer_uint64(&w, UINT64_MAX);
	json_writer_key(&w, "d");
	json_writer_double(&w, 0.1);
	json_writer_key(&w, "a");
	json_writer_begin_array(&w);
	json_writer_bool(&w, true);
	json_writer_bool(&w, false);
	json_writer_null(&w);
	json_writer_begin_object(&w);
	json_writer_end_object(&w);
	json_writer_begin_array(&w);
	json_writer_end_array(&w);
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	assert_string_equal(sb.buf, "{\"s\":\"x\",\"i\":-9223372036854775808,"
				    "\"u\":18446744073709551615,\"d\":0.1,"
				    "\"a\":[true,false,null,{},[]]}");
	strbuf_release(&sb);
}

static void writer_pretty(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	(void)state;
	json_writer_init(&w, &sb, JSON_WRITER_PRETTY);
	json_writer_begin_object(&w);
	json_writer_key(&w, "a");
	json_writer_begin_array(&w);
	json_writer_int64(&w, 1);
	json_writer_begin_object(&w);
	json_writer_key(&w, "b");
	json_writer_null(&w);
	json_writer_end_object(&w);
	json_writer_end_array(&w);
	json_writer_key(&w, "e");
	json_writer_begin_array(&w);
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	assert_string_equal(sb.buf, "{\n"
				    "  \"a\": [\n"
				    "    1,\n"
				    "    {\n"
				    "      \"b\": null\n"
				    "    }\n"
				    "  ],\n"
				    "  \"e\": []\n"
				    "}");
	strbuf_release(&sb);
}

static void writer_escapes(void **state)
{
	static const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f"
				 "\xc3\xa9\xf0\x9f\x98\x80"
				 "\xff\xc3(\xed\xa0\x80\xc0\xaf"
				 "\0z";
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct json_value *v;
	struct error err = ERROR_INIT;
	const char *s;
	size_t len;

	(void)state;
	json_writer_init(&w, &sb, 0);
	json_writer_string_len(&w, in, sizeof(in) - 1);
	assert_string_equal(sb.buf,
			    "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f"
			    "\xc3\xa9\xf0\x9f\x98\x80"
			    "\\u00ff\\u00c3(\\u00ed\\u00a0\\u0080\\u00c0\\u00af"
			    "\\u0000z\"");
	/* and what it wrote is valid JSON */
	assert_int_equal(json_parse(sb.buf, sb.len, &v, &err), 0);
	s = json_as_string(v, &len);
	assert_non_null(s);
	assert_int_equal(len, sizeof(in) - 1 + 7); /* 7 bytes became 2 each */
	assert_memory_equal(s, in, 20);
	json_value_free(v);
	strbuf_release(&sb);
}

static void writer_doubles(void **state)
{
	static const struct {
		double d;
		const char *out;
	} cases[] = {
	    {0.1, "0.1"},
	    {-0.0, "-0"},
	    {1e300, "1e+300"},
	    {0.5, "0.5"},
	    {1.0 / 3, "0.3333333333333333"},
	    {5e-324, "4.94065645841247e-324"},
	    {NAN, "null"},
	    {INFINITY, "null"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strbuf sb = STRBUF_INIT;
		struct json_writer w;
		json_writer_init(&w, &sb, 0);
		json_writer_double(&w, cases[i].d);
		assert_string_equal(sb.buf, cases[i].out);
		strbuf_release(&sb);
	}
}

static void round_trip(void **state)
{
	static const char *docs[] = {
	    "{\"a\":[1,2.5,-3.25,1e+300,true,false,null,\"x\"],\"b\":{}}",
	    "[]",
	    "\"\"",
	    "0",
	    "-9223372036854775808",
	    "[[[[{\"k\":[{}]}]]]]",
	    "{\"\\u0000k\":\"\\u0000\"}",
	    "\"\xe2\x82\xac \xf0\x90\x80\x80\"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		char *out = reserialize(docs[i], 0);
		assert_string_equal(out, docs[i]);
		free(out);
	}
}

static void round_trip_whitespace(void **state)
{
	char *out, *pretty;

	(void)state;
	out =
	    reserialize(" \t\r\n{ \"a\" : [ 1 , { } ] , \"b\" : 1.0e2 }\n", 0);
	assert_string_equal(out, "{\"a\":[1,{}],\"b\":100}");
	pretty = reserialize(out, JSON_WRITER_PRETTY);
	free(out);
	out = reserialize(pretty, 0);
	assert_string_equal(out, "{\"a\":[1,{}],\"b\":100}");
	free(out);
	free(pretty);
}

static void string_escapes(void **state)
{
	static const struct {
		const char *json;
		const char *want;
		size_t len;
	} cases[] = {
	    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
	    {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
	    {"\"a\\u0000b\"", "a\0b", 3},
	    /* U+1F600 as a surrogate pair */
	    {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
	    /* highest code point U+10FFFF */
	    {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},
	    /* raw UTF-8 passes through */
	    {"\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4},
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct json_value *v = parse_ok(cases[i].json);
		const char *s = json_as_string(v, &len);
		assert_non_null(s);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(s, cases[i].want, len);
		assert_int_equal(s[len], '\0');
		json_value_free(v);
	}
}

static int parse_err(const char *s, size_t len, struct error *err)
{
	struct json_value *v = (struct json_value *)1;
	int r = json_parse(s, len, &v, err);

	assert_null(v);
	return r;
}

/* depth levels alternating {"k": and [ */
static char *nested(int depth)
{
	struct strbuf sb = STRBUF_INIT;
	int i;

	for (i = 0; i < depth; i++)
		strbuf_addstr(&sb, i % 2 ? "[" : "{\"k\":");
	strbuf_addstr(&sb, "1");
	for (i = depth - 1; i >= 0; i--)
		strbuf_addch(&sb, i % 2 ? ']' : '}');
	return strbuf_detach(&sb, NULL);
}

static void deep_nesting(void **state)
{
	struct error err = ERROR_INIT;
	struct json_value *v;
	char *s;
	int i;

	(void)state;
	/* 64 levels are fine, and the writer can write them back */
	s = nested(JSON_MAX_DEPTH);
	v = parse_ok(s);
	json_value_free(v);
	free(reserialize(s, JSON_WRITER_PRETTY));
	free(s);

	/* 65 are not */
	s = nested(JSON_MAX_DEPTH + 1);
	assert_int_equal(parse_err(s, strlen(s), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nesting deeper than 64"));
	free(s);

	/* nor is a huge unterminated prefix: it fails at the limit without
	 * recursing further */
	for (i = JSON_MAX_DEPTH + 1; i <= 1000000; i *= 10) {
		s = xmalloc((size_t)i);
		memset(s, '[', (size_t)i);
		assert_int_equal(parse_err(s, (size_t)i, &err), -EINVAL);
		assert_string_equal(err.msg, "byte 64: nesting deeper than 64");
		free(s);
	}
}

static void malformed(void **state)
{
	static const char *bad[] = {
	    "",
	    " ",
	    "{",
	    "}",
	    "[",
	    "[1",
	    "[1,",
	    "[1,]",
	    "[,1]",
	    "[1 2]",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{a:1}",
	    "{'a':1}",
	    "{\"a\" 1}",
	    "{1:1}",
	    "{\"a\":1 \"b\":2}",
	    "{\"a\":1,\"a\":2}",
	    "{\"b\":1,\"a\":{},\"c\":[],\"a\":null}",
	    "\"abc",
	    "\"\\\"",
	    "\"\\x\"",
	    "\"\\u12\"",
	    "\"\\u12g4\"",
	    "\"\\ud800\"",
	    "\"\\ud800x\"",
	    "\"\\ud800\\u0041\"",
	    "\"\\udc00\"",
	    "\"\\udc00\\ud800\"",
	    "\"tab\there\"",
	    "\"nl\nhere\"",
	    "\"\xff\"",
	    "\"\xc3\"",
	    "\"\xc0\xaf\"",
	    "\"\xe0\x80\xaf\"",
	    "\"\xed\xa0\x80\"",
	    "\"\xf4\x90\x80\x80\"",
	    "\"\xf8\x88\x80\x80\x80\"",
	    "\xef\xbb\xbf{}", /* BOM */
	    "tru",
	    "truex",
	    "True",
	    "nul",
	    "NaN",
	    "Infinity",
	    "-Infinity",
	    "+1",
	    "-",
	    "01",
	    "-01",
	    "1.",
	    ".5",
	    "1.e5",
	    "1e",
	    "1e+",
	    "0x10",
	    "1e400",
	    "-1e400",
	    "1e99999999999999999999",
	    "1 2",
	    "{} {}",
	    "[]]",
	    "null x",
	    "/* c */ 1",
	    "\v1",
	};
	struct error err = ERROR_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		err_clear(&err);
		if (parse_err(bad[i], strlen(bad[i]), &err) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		if (strncmp(err.msg, "byte ", 5) != 0)
			fail_msg("%s: bad message %s", bad[i], err.msg);
	}
	/* an embedded NUL outside a string, and input without a NUL */
	assert_int_equal(parse_err("[1]\0", 4, &err), -EINVAL);
	assert_int_equal(parse_err("\"a\0\"", 4, &err), -EINVAL);
	{
		struct json_value *v;
		int64_t n;
		assert_int_equal(json_parse("123", 2, &v, &err), 0);
		assert_int_equal(json_as_int64(v, &n), 0);
		assert_int_equal(n, 12);
		json_value_free(v);
	}
}

static void error_messages(void **state)
{
	struct error err = ERROR_INIT;

	(void)state;
	parse_err("[1,2", 4, &err);
	assert_string_equal(err.msg,
			    "byte 4: expected ',' or ']', found end of input");
	parse_err("{\"a\" 1}", 7, &err);
	assert_string_equal(err.msg,
			    "byte 5: expected ':' after the key, found '1'");
	parse_err("{\"x\":1,\"x\":2}", 13, &err);
	assert_string_equal(err.msg, "byte 0: duplicate object key \"x\"");
	parse_err("[\"\\ud800\"]", 10, &err);
	assert_string_equal(err.msg, "byte 2: unpaired high surrogate \\ud800");
	parse_err("\"ab\xff\"", 5, &err);
	assert_string_equal(err.msg, "byte 3: invalid UTF-8 in string");
	parse_err("[] \x01", 4, &err);
	assert_string_equal(err.msg, "byte 3: expected end of input after the "
				     "value, found byte 0x01");
}

static void size_limit(void **state)
{
	struct error err = ERROR_INIT;
	size_t n = JSON_MAX_LEN + 1;
	char *s = xmalloc(n);

	(void)state;
	memset(s, ' ', n);
	s[0] = '1';
	assert_int_equal(parse_err(s, n, &err), -EMSGSIZE);
	free(s);
}

static void numbers(void **state)
{
	static const struct {
		const char *json;
		int r;
		int64_t i;
		double d;
	} cases[] = {
	    {"0", 0, 0, 0},
	    {"-0", 0, 0, -0.0},
	    {"42", 0, 42, 42},
	    {"-42", 0, -42, -42},
	    {"9223372036854775807", 0, INT64_MAX, 9223372036854775807.0},
	    {"-9223372036854775808", 0, INT64_MIN, -9223372036854775808.0},
	    {"9223372036854775808", -ERANGE, 0, 9223372036854775808.0},
	    {"-9223372036854775809", -ERANGE, 0, -9223372036854775808.0},
	    {"18446744073709551616", -ERANGE, 0, 18446744073709551616.0},
	    {"1.5", -ERANGE, 0, 1.5},
	    {"1.5e1", 0, 15, 15},
	    {"1e3", 0, 1000, 1000},
	    {"1E+3", 0, 1000, 1000},
	    {"100e-2", 0, 1, 1},
	    {"1.000", 0, 1, 1},
	    {"0.0e5", 0, 0, 0},
	    {"10.01e1", -ERANGE, 0, 100.1},
	    {"1e-1", -ERANGE, 0, 0.1},
	    {"9007199254740993", 0, 9007199254740993LL, 9007199254740992.0},
	    /* rounds to an integral double but is not an integer */
	    {"1.0000000000000000001", -ERANGE, 0, 1.0},
	    {"1e19", -ERANGE, 0, 1e19},
	    {"922337203685477580.7e1", 0, INT64_MAX, 9223372036854775807.0},
	    {"0.000000000000000000000000000000000001e36", 0, 1, 1},
	    {"1e-400", -ERANGE, 0, 0}, /* underflow is not an error */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct error err = ERROR_INIT;
		struct json_value *v = NULL;
		int64_t n = -1;
		double d;
		int r =
		    json_parse(cases[i].json, strlen(cases[i].json), &v, &err);

		if (r != 0)
			fail_msg("%s: %s", cases[i].json, err.msg);
		assert_int_equal(json_type(v), JSON_NUMBER);
		if (json_as_int64(v, &n) != cases[i].r)
			fail_msg("%s: int64 result", cases[i].json);
		if (cases[i].r == 0 && n != cases[i].i)
			fail_msg("%s: got %lld", cases[i].json, (long long)n);
		assert_int_equal(json_as_double(v, &d), 0);
		if (d != cases[i].d || signbit(d) != signbit(cases[i].d))
			fail_msg("%s: got %g", cases[i].json, d);
		json_value_free(v);
	}
}

static void accessors(void **state)
{
	struct json_value *v =
	    parse_ok("{\"s\":\"str\",\"n\":7,\"b\":true,\"z\":null,"
		     "\"a\":[10,\"x\"],\"o\":{\"in\":false}}");
	const struct json_value *a;
	int64_t n;
	bool b;
	size_t len;

	(void)state;
	assert_int_equal(json_type(v), JSON_OBJECT);
	assert_int_equal(json_obj_len(v), 6);
	assert_string_equal(json_as_string(json_obj_get(v, "s"), &len), "str");
	assert_int_equal(len, 3);
	assert_int_equal(json_as_int64(json_obj_get(v, "n"), &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(json_as_bool(json_obj_get(v, "b"), &b), 0);
	assert_true(b);
	assert_int_equal(json_type(json_obj_get(v, "z")), JSON_NULL);
	assert_int_equal(
	    json_as_bool(json_obj_get(json_obj_get(v, "o"), "in"), &b), 0);
	assert_false(b);

	a = json_obj_get(v, "a");
	assert_int_equal(json_array_len(a), 2);
	assert_int_equal(json_as_int64(json_array_get(a, 0), &n), 0);
	assert_int_equal(n, 10);
	assert_string_equal(json_as_string(json_array_get(a, 1), NULL), "x");
	assert_null(json_array_get(a, 2));

	/* iteration in document order */
	assert_string_equal(json_obj_key(v, 0, &len), "s");
	assert_string_equal(json_obj_key(v, 5, NULL), "o");
	assert_int_equal(json_type(json_obj_value(v, 4)), JSON_ARRAY);
	assert_null(json_obj_key(v, 6, NULL));
	assert_null(json_obj_value(v, 6));

	/* missing keys and wrong types chain to "nothing" */
	assert_null(json_obj_get(v, "missing"));
	assert_int_equal(json_type(json_obj_get(v, "missing")), JSON_NONE);
	assert_null(json_obj_get(json_obj_get(v, "missing"), "x"));
	assert_null(json_obj_get(a, "x"));
	assert_null(json_as_string(json_obj_get(v, "n"), NULL));
	assert_int_equal(json_as_int64(json_obj_get(v, "s"), &n), -EINVAL);
	assert_int_equal(json_as_bool(json_obj_get(v, "z"), &b), -EINVAL);
	assert_int_equal(json_as_bool(NULL, &b), -EINVAL);
	assert_int_equal(json_array_len(v), 0);
	assert_int_equal(json_obj_len(a), 0);
	assert_null(json_array_get(NULL, 0));
	assert_string_equal(json_type_name(JSON_OBJECT), "object");
	json_value_free(v);
	json_value_free(NULL);
}

static void keys_with_nul(void **state)
{
	struct json_value *v = parse_ok("{\"a\\u0000b\":1,\"a\":2}");
	size_t len;
	int64_t n;

	(void)state;
	assert_int_equal(json_as_int64(json_obj_get(v, "a"), &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(json_obj_key(v, 0, &len), "a\0b", 3);
	assert_int_equal(len, 3);
	json_value_free(v);
}

static void big_document(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct json_value *v;
	struct error err = ERROR_INIT;
	int64_t n;
	int i;

	(void)state;
	/* enough members to span several arena chunks and a long string
	 * that gets a chunk of its own */
	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	for (i = 0; i < 20000; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		json_writer_key(&w, key);
		json_writer_int64(&w, i);
	}
	json_writer_key(&w, "long");
	{
		char *s = xmalloc(100000);
		memset(s, 'x', 100000);
		json_writer_string_len(&w, s, 100000);
		free(s);
	}
	json_writer_end_object(&w);
	assert_int_equal(json_parse(sb.buf, sb.len, &v, &err), 0);
	assert_int_equal(json_obj_len(v), 20001);
	assert_int_equal(json_as_int64(json_obj_get(v, "k19999"), &n), 0);
	assert_int_equal(n, 19999);
	json_value_free(v);
	strbuf_release(&sb);
}

static void kv_helpers(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct json_value *v = NULL;
	struct error err = ERROR_INIT;
	char *argv[] = {(char *)"a", (char *)"b c", NULL};
	char **got;
	size_t n;

	(void)state;
	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "s", "x\"y");
	json_writer_kv_string(&w, "null", NULL);
	json_writer_kv_int64(&w, "i", -5);
	json_writer_kv_uint64(&w, "u", 1ull << 40);
	json_writer_kv_bool(&w, "b", true);
	json_writer_kv_strv(&w, "v", argv);
	json_writer_kv_strv(&w, "nv", NULL);
	json_writer_end_object(&w);
	assert_int_equal(json_parse(sb.buf, sb.len, &v, &err), 0);
	got = NULL;
	{
		char *s = json_obj_strdup(v, "s");
		assert_string_equal(s, "x\"y");
		free(s);
	}
	assert_null(json_obj_strdup(v, "null"));
	assert_null(json_obj_strdup(v, "missing"));
	assert_int_equal(json_obj_int64(v, "i"), -5);
	assert_int_equal(json_obj_int64(v, "u"), 1ll << 40);
	assert_int_equal(json_obj_int64(v, "s"), 0); /* mistyped */
	assert_true(json_obj_bool(v, "b"));
	assert_false(json_obj_bool(v, "missing"));
	got = json_obj_strv(v, "v", &n);
	assert_int_equal(n, 2);
	assert_string_equal(got[1], "b c");
	assert_null(got[2]);
	strv_free(got);
	assert_null(json_obj_strv(v, "nv", &n));
	assert_int_equal(n, 0);
	json_value_free(v);
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kv_helpers),
	    cmocka_unit_test(writer_compact),
	    cmocka_unit_test(writer_pretty),
	    cmocka_unit_test(writer_escapes),
	    cmocka_unit_test(writer_doubles),
	    cmocka_unit_test(round_trip),
	    cmocka_unit_test(round_trip_whitespace),
	    cmocka_unit_test(string_escapes),
	    cmocka_unit_test(deep_nesting),
	    cmocka_unit_test(malformed),
	    cmocka_unit_test(error_messages),
	    cmocka_unit_test(size_limit),
	    cmocka_unit_test(numbers),
	    cmocka_unit_test(accessors),
	    cmocka_unit_test(keys_with_nul),
	    cmocka_unit_test(big_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
