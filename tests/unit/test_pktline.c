#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/pktline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pkt-line with payload p (n bytes, NULs allowed) in a buffer of exactly
 * its length, so that ASan sees any read past it. */
static char *pkt(const char *p, size_t n, size_t *len)
{
	char *b = malloc(n + 4 + 1);

	snprintf(b, 5, "%04zx", n + 4);
	memcpy(b + 4, p, n);
	*len = n + 4;
	return b;
}

#define PKT(lit, lenp) pkt(lit, sizeof(lit) - 1, lenp)

static enum pktline_result parse(const char *b, size_t len,
				 struct git_request *req, struct error *err)
{
	char *copy = malloc(len ? len : 1);
	size_t need;
	enum pktline_result r;

	memcpy(copy, b, len);
	r = pktline_parse_request(copy, len, req, &need, err);
	free(copy);
	return r;
}

static void test_upload_pack(void **state)
{
	struct git_request req;
	struct error err = ERROR_INIT;
	size_t len;
	char *b = PKT("git-upload-pack /origin.git\0host=127.0.0.1\0", &len);

	(void)state;
	assert_int_equal(parse(b, len, &req, &err), PKTLINE_OK);
	assert_int_equal(req.service, GIT_UPLOAD_PACK);
	assert_string_equal(req.repo, "origin.git");
	assert_false(req.v2);
	free(b);
}

static void test_receive_pack_v2(void **state)
{
	struct git_request req;
	struct error err = ERROR_INIT;
	size_t len;
	char *b = PKT("git-receive-pack /lib\0host=127.0.0.1:9418\0\0"
		      "object-format=sha1\0version=2\0",
		      &len);

	(void)state;
	assert_int_equal(parse(b, len, &req, &err), PKTLINE_OK);
	assert_int_equal(req.service, GIT_RECEIVE_PACK);
	assert_string_equal(req.repo, "lib");
	assert_true(req.v2);
	assert_string_equal(git_service_name(req.service), "git-receive-pack");
	free(b);
}

static void test_bare_and_newline(void **state)
{
	struct git_request req;
	struct error err = ERROR_INIT;
	size_t len;
	char *b = PKT("git-upload-pack /a.b_c-d\n", &len);

	(void)state;
	assert_int_equal(parse(b, len, &req, &err), PKTLINE_OK);
	assert_string_equal(req.repo, "a.b_c-d");
	free(b);
	b = PKT("git-upload-pack /x\0\0", &len); /* empty host parameter */
	assert_int_equal(parse(b, len, &req, &err), PKTLINE_OK);
	free(b);
}

/* Every prefix of a good line asks for more, and says how much. */
static void test_need_more(void **state)
{
	struct git_request req;
	struct error err = ERROR_INIT;
	size_t len, need;
	char *b = PKT("git-upload-pack /origin.git\0host=h\0", &len);

	(void)state;
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(pktline_parse_request(b, i, &req, &need, &err),
				 PKTLINE_NEED_MORE);
		assert_int_equal(need, i < 4 ? 4 : len);
	}
	/* Bytes after the line are not looked at. */
	b = realloc(b, len + 3);
	memcpy(b + len, "zzz", 3);
	assert_int_equal(pktline_parse_request(b, len + 3, &req, &need, &err),
			 PKTLINE_OK);
	assert_int_equal(need, len);
	free(b);
}

static void expect_bad(const char *b, size_t len, const char *msg_part)
{
	struct git_request req;
	struct error err = ERROR_INIT;

	assert_int_equal(parse(b, len, &req, &err), PKTLINE_BAD);
	if (!strstr(err.msg, msg_part))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg_part);
	assert_string_equal(req.repo, "");
}

static void expect_bad_pkt(const char *p, size_t n, const char *msg_part)
{
	size_t len;
	char *b = pkt(p, n, &len);

	expect_bad(b, len, msg_part);
	free(b);
}

#define BAD(lit, part) expect_bad_pkt(lit, sizeof(lit) - 1, part)

static void test_framing(void **state)
{
	(void)state;
	expect_bad("0000", 4, "special pkt-line");
	expect_bad("0001", 4, "special pkt-line");
	expect_bad("0004", 4, "special pkt-line");
	expect_bad("fff1", 4, "over the limit");
	expect_bad("GET / HTTP/1.1\r\n", 16, "expected a pkt-line");
	expect_bad("00g0xxxxxxxxxxxx", 16, "expected a pkt-line");
}

static void test_services(void **state)
{
	(void)state;
	BAD("git-upload-archive /origin.git\0host=h\0", "is not offered");
	BAD("git-upload-pack\0host=h\0", "expected \"git-upload-pack");
	BAD("upload-pack /origin.git\0", "is not offered");
	BAD("\x01\x02 /x\0", "\"??\" is not offered");
}

static void test_paths(void **state)
{
	(void)state;
	BAD("git-upload-pack /../etc\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /a/b.git\0host=h\0", "expected a repository path");
	BAD("git-upload-pack origin.git\0host=h\0", "expected a repository");
	BAD("git-upload-pack /\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /.git\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /-x\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /~user/x\0host=h\0", "expected a repository");
	BAD("git-upload-pack /a b\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /a\nb\0host=h\0", "expected a repository path");
	BAD("git-upload-pack /x\0\0\0\0", "empty");
}

static void test_name_length(void **state)
{
	char p[128];
	struct git_request req;
	struct error err = ERROR_INIT;
	size_t len, need;
	char *b;

	(void)state;
	memcpy(p, "git-upload-pack /", 17);
	memset(p + 17, 'a', GIT_REPO_MAX);
	b = pkt(p, 17 + GIT_REPO_MAX, &len);
	assert_int_equal(pktline_parse_request(b, len, &req, &need, &err),
			 PKTLINE_OK);
	assert_int_equal(strlen(req.repo), GIT_REPO_MAX);
	free(b);
	p[17 + GIT_REPO_MAX] = 'a';
	expect_bad_pkt(p, 17 + GIT_REPO_MAX + 1, "expected a repository path");
}

static void test_params(void **state)
{
	(void)state;
	BAD("git-upload-pack /x\0host=h", "does not end in a NUL");
	BAD("git-upload-pack /x\0hast=h\0", "expected host=HOST");
	BAD("git-upload-pack /x\0host=h\0junk\0", "expected NUL and extra");
	BAD("git-upload-pack /x\0host=h\0\0version=2", "does not end in a NUL");
	BAD("git-upload-pack /x\0host=h\0\0\0", "empty");
}

static void test_format_error(void **state)
{
	char out[64], small[12];
	size_t n;

	(void)state;
	n = pktline_format_error(out, sizeof(out), "hello");
	assert_int_equal(n, 14);
	assert_memory_equal(out, "000eERR hello\n", 14);
	n = pktline_format_error(small, sizeof(small), "hello");
	assert_int_equal(n, 12);
	assert_memory_equal(small, "000cERR hel\n", 12);
	assert_int_equal(pktline_format_error(small, 8, "x"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_upload_pack),
	    cmocka_unit_test(test_receive_pack_v2),
	    cmocka_unit_test(test_bare_and_newline),
	    cmocka_unit_test(test_need_more),
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_services),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_name_length),
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_format_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
