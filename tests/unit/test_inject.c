/* Rendering credential routes: literal text around ${env:} and ${file:}
 * references, the secrets collected for DLP, and the refusals. */
#include "bundle/inject.h"
#include "lib/secret.h"

#include "lib/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *render(const char *tmpl, char ***sec, size_t *n, struct error *err)
{
	*sec = NULL;
	*n = 0;
	return secret_render(tmpl, sec, n, err);
}

static void free_secrets(char **sec, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(sec[i]);
	free(sec);
}

static void test_render(void **state)
{
	char path[] = "/tmp/test-inject-XXXXXX";
	int fd = mkstemp(path);
	struct error err = ERROR_INIT;
	char **sec;
	size_t n;
	char *v;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "file-secret\n", 12), 12);
	close(fd);
	setenv("TEST_INJECT_A", "env-secret", 1);
	{
		char tmpl[128];
		snprintf(tmpl, sizeof(tmpl),
			 "Bearer ${env:TEST_INJECT_A}/${file:%s}!", path);
		v = render(tmpl, &sec, &n, &err);
	}
	assert_non_null(v);
	assert_string_equal(v, "Bearer env-secret/file-secret!");
	assert_int_equal(n, 2);
	assert_string_equal(sec[0], "env-secret");
	assert_string_equal(sec[1], "file-secret");
	free(v);
	free_secrets(sec, n);

	v = render("no reference", &sec, &n, &err);
	assert_string_equal(v, "no reference");
	assert_int_equal(n, 0);
	free(v);
	free_secrets(sec, n);
	unlink(path);
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {"Bearer ${env:TEST_INJECT_UNSET}",
					  "x ${env:A", "${nope:X}", "${file:}",
					  "${file:/nonexistent/secret}"};
	struct error err = ERROR_INIT;
	char **sec;
	size_t n;

	(void)state;
	unsetenv("TEST_INJECT_UNSET");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&err);
		assert_null(render(bad[i], &sec, &n, &err));
		assert_true(err.msg[0] != '\0');
		free_secrets(sec, n);
	}
	assert_null(render("${env:TEST_INJECT_UNSET}", &sec, &n, &err));
	assert_non_null(strstr(err.msg, "${env:TEST_INJECT_UNSET} is not set"));
	free_secrets(sec, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
