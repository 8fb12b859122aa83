#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/gate_policy.h"

#include <string.h>

static void test_glob(void **state)
{
	(void)state;
	assert_true(
	    ref_glob_match("refs/heads/bottle/*", "refs/heads/bottle/x"));
	assert_true(
	    ref_glob_match("refs/heads/bottle/*", "refs/heads/bottle/a/b/c"));
	assert_true(
	    ref_glob_match("refs/heads/bottle/*", "refs/heads/bottle/"));
	assert_false(
	    ref_glob_match("refs/heads/bottle/*", "refs/heads/bottle"));
	assert_false(ref_glob_match("refs/heads/bottle/*", "refs/heads/main"));
	assert_false(
	    ref_glob_match("refs/heads/bottle/*", "refs/heads/bottlex/y"));
	assert_true(ref_glob_match("refs/heads/main", "refs/heads/main"));
	assert_false(ref_glob_match("refs/heads/main", "refs/heads/main2"));
	assert_false(ref_glob_match("refs/heads/main", "refs/heads/mai"));
	assert_true(ref_glob_match("refs/*/bot-*", "refs/heads/bot-1"));
	assert_true(ref_glob_match("refs/*/bot-*", "refs/a/b/bot-"));
	assert_false(ref_glob_match("refs/*/bot-*", "refs/heads/bo-1"));
	assert_true(ref_glob_match("*", ""));
	assert_true(ref_glob_match("**a", "xxa"));
	assert_false(ref_glob_match("", "x"));
	/* '?' and '[' are not special. */
	assert_false(ref_glob_match("refs/heads/?", "refs/heads/x"));
	assert_true(ref_glob_match("refs/heads/[x]", "refs/heads/[x]"));
}

/* A pattern with many stars against a long near-miss stays quick (the
 * matcher backtracks only to the last star). */
static void test_glob_no_blowup(void **state)
{
	char ref[5001];

	(void)state;
	memset(ref, 'a', sizeof(ref) - 1);
	ref[sizeof(ref) - 1] = '\0';
	assert_false(ref_glob_match("*a*a*a*a*a*a*a*a*a*a*a*b", ref));
}

static void test_policy(void **state)
{
	const char *pats[] = {"refs/heads/bottle/*", "refs/tags/v*"};
	struct push_policy p = {pats, 2, false, false};
	char why[256];

	(void)state;
	assert_true(push_allowed(&p, "refs/heads/bottle/x", PUSH_CREATE, false,
				 why, sizeof(why)));
	assert_true(push_allowed(&p, "refs/heads/bottle/x", PUSH_UPDATE, true,
				 why, sizeof(why)));
	assert_false(push_allowed(&p, "refs/heads/main", PUSH_UPDATE, true, why,
				  sizeof(why)));
	assert_string_equal(why, "refs/heads/main: this bottle may not push "
				 "there; allowed: refs/heads/bottle/* "
				 "refs/tags/v*");
	assert_false(push_allowed(&p, "refs/heads/bottle/x", PUSH_UPDATE, false,
				  why, sizeof(why)));
	assert_non_null(strstr(why, "not a fast-forward"));
	assert_false(push_allowed(&p, "refs/heads/bottle/x", PUSH_DELETE, false,
				  why, sizeof(why)));
	assert_non_null(strstr(why, "deleting a ref is not allowed"));
	p.allow_force = p.allow_delete = true;
	assert_true(push_allowed(&p, "refs/heads/bottle/x", PUSH_UPDATE, false,
				 why, sizeof(why)));
	assert_true(push_allowed(&p, "refs/heads/bottle/x", PUSH_DELETE, false,
				 why, sizeof(why)));
	/* Force and delete never reach beyond the patterns. */
	assert_false(push_allowed(&p, "refs/heads/main", PUSH_DELETE, false,
				  why, sizeof(why)));
}

static void test_no_patterns(void **state)
{
	struct push_policy p = {NULL, 0, true, true};
	char why[256], tiny[16];

	(void)state;
	assert_false(push_allowed(&p, "refs/heads/x", PUSH_CREATE, false, why,
				  sizeof(why)));
	assert_string_equal(why, "refs/heads/x: this bottle may not push "
				 "there; allowed: nothing");
	/* A reason that does not fit is cut, never overrun. */
	assert_false(push_allowed(&p, "refs/heads/a-long-name", PUSH_CREATE,
				  false, tiny, sizeof(tiny)));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

/* What the pre-receive hook lets through to `git push`: receive-pack has
 * not checked the names yet, so the hook must. */
static void test_valid(void **state)
{
	static const char *const good_refs[] = {
	    "refs/heads/main", "refs/heads/bottle/x", "refs/tags/v1.2.3",
	    "refs/heads/a_b-c+d,e=f@g", "refs/heads/x.y"};
	static const char *const bad_refs[] = {
	    "refs/heads/bottle/x:refs/heads/main",
	    "refs/heads/bottle/w\n0 +c refs/heads/main",
	    "heads/main",
	    "refs/heads/",
	    "refs//heads",
	    "refs/heads/a..b",
	    "refs/heads/.hidden",
	    "refs/heads/x.lock",
	    "refs/heads/a@{1}",
	    "refs/heads/sp ace",
	    "refs/heads/esc\x1b]0;t\x07",
	    "refs/heads/star*",
	    "refs/heads/q?",
	    "refs/heads/t~1",
	    "refs/heads/c^",
	    "refs/heads/b\\s",
	    "refs/heads/x/",
	    "refs",
	    ""};
	char big[PUSH_REF_MAX + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(good_refs) / sizeof(*good_refs); i++)
		assert_true(push_ref_valid(good_refs[i]));
	for (size_t i = 0; i < sizeof(bad_refs) / sizeof(*bad_refs); i++)
		if (push_ref_valid(bad_refs[i]))
			fail_msg("accepted %s", bad_refs[i]);
	memcpy(big, "refs/heads/", 11);
	memset(big + 11, 'a', sizeof(big) - 12);
	big[sizeof(big) - 1] = '\0';
	assert_false(push_ref_valid(big));
	big[PUSH_REF_MAX] = '\0';
	assert_true(push_ref_valid(big));

	assert_true(push_id_valid("0000000000000000000000000000000000000000"));
	assert_true(push_id_valid("0123456789abcdef0123456789abcdef01234567"));
	assert_true(push_id_valid("0123456789abcdef0123456789abcdef"
				  "0123456789abcdef0123456789abcdef"));
	assert_false(push_id_valid("0"));
	assert_false(push_id_valid("+123456789abcdef0123456789abcdef01234567"));
	assert_false(push_id_valid("0123456789ABCDEF0123456789abcdef01234567"));
	assert_false(push_id_valid("--upload-pack=x"));
	assert_false(push_id_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_glob_no_blowup),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_no_patterns),
	    cmocka_unit_test(test_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
