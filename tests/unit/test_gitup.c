#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/gitup.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The structs hold char *; these literals are never written. */
#define S(lit) ((char *)(lit))

static const char *get(char **env, const char *name)
{
	size_t n = strlen(name);

	for (char **p = env; *p; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

static size_t count_with(char **env, const char *needle)
{
	size_t n = 0;

	for (char **p = env; *p; p++)
		n += strstr(*p, needle) != NULL;
	return n;
}

/* A token: only in BOTTLE_GIT_TOKEN, handed out by a credential helper
 * given through GIT_CONFIG_*, after one that drops the host's helpers. */
static void test_token(void **state)
{
	struct git_upstream u = {.name = S("web"),
				 .url = S("https://git.example:8443/a.git"),
				 .token = S("${env:TEST_GITUP_TOKEN}")};
	struct kv pin = {S("GIT.example"), S("10.1.2.3"), {0, 0}};
	struct error err = ERROR_INIT;
	char **env = NULL;

	(void)state;
	setenv("TEST_GITUP_TOKEN", "s3cret-value", 1);
	setenv("GIT_DIR", "/elsewhere", 1);
	setenv("GIT_CONFIG_COUNT", "7", 1);
	assert_int_equal(gitup_env(&u, &pin, 1, &env, &err), 0);
	unsetenv("GIT_DIR");
	unsetenv("GIT_CONFIG_COUNT");
	assert_string_equal(get(env, GITUP_TOKEN_ENV), "s3cret-value");
	/* ours, and the variable it came from */
	assert_int_equal(count_with(env, "s3cret-value"), 2);
	assert_null(get(env, "GIT_DIR"));
	assert_string_equal(get(env, "GIT_TERMINAL_PROMPT"), "0");
	assert_string_equal(get(env, "GIT_CONFIG_COUNT"), "3");
	assert_string_equal(get(env, "GIT_CONFIG_KEY_0"), "credential.helper");
	assert_string_equal(get(env, "GIT_CONFIG_VALUE_0"), "");
	assert_non_null(
	    strstr(get(env, "GIT_CONFIG_VALUE_1"), "username=x-access-token"));
	assert_string_equal(get(env, "GIT_CONFIG_KEY_2"),
			    "http.curloptResolve");
	assert_string_equal(get(env, "GIT_CONFIG_VALUE_2"),
			    "git.example:8443:10.1.2.3");
	assert_null(get(env, "GIT_SSH_COMMAND"));
	gitup_env_free(env);

	/* A user in the URL: the helper gives only the password. */
	u.url = S("https://me@git.example/a.git");
	assert_int_equal(gitup_env(&u, NULL, 0, &env, &err), 0);
	assert_null(strstr(get(env, "GIT_CONFIG_VALUE_1"), "username"));
	assert_string_equal(get(env, "GIT_CONFIG_COUNT"), "2");
	gitup_env_free(env);

	unsetenv("TEST_GITUP_TOKEN");
	assert_int_equal(gitup_env(&u, NULL, 0, &env, &err), -ENOENT);
	assert_string_equal(err.msg, "token: ${env:TEST_GITUP_TOKEN} is not "
				     "set");
}

static void test_ssh(void **state)
{
	char key[] = "/tmp/test_gitup_key.XXXXXX";
	int fd = mkstemp(key);
	struct git_upstream u = {.name = S("o"),
				 .url = S("git@git.example:me/a.git")};
	struct kv pin = {S("git.example"), S("10.9.9.9"), {0, 0}};
	struct error err = ERROR_INIT;
	_cleanup_free_ char *want = NULL;
	char **env = NULL;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	u.identity = key;
	unsetenv("GIT_SSH_COMMAND");
	assert_int_equal(gitup_env(&u, &pin, 1, &env, &err), 0);
	want = xasprintf("ssh -i '%s' -o IdentitiesOnly=yes -o BatchMode=yes "
			 "-o HostName='10.9.9.9' -o HostKeyAlias='git.example'",
			 key);
	assert_string_equal(get(env, "GIT_SSH_COMMAND"), want);
	assert_null(get(env, "GIT_CONFIG_COUNT"));
	gitup_env_free(env);

	/* The host's own command stays the base, once. */
	setenv("GIT_SSH_COMMAND", "ssh -o UserKnownHostsFile=/kh", 1);
	assert_int_equal(gitup_env(&u, NULL, 0, &env, &err), 0);
	assert_int_equal(count_with(env, "GIT_SSH_COMMAND="), 1);
	assert_true(str_has_prefix(get(env, "GIT_SSH_COMMAND"),
				   "ssh -o UserKnownHostsFile=/kh -i '"));
	gitup_env_free(env);
	unsetenv("GIT_SSH_COMMAND");

	unlink(key);
	assert_int_equal(gitup_env(&u, NULL, 0, &env, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "identity"));
}

static int run_sh(char *cmd)
{
	int r = system(cmd);

	free(cmd);
	return r;
}
#define sh(fmt, a, b) run_sh(xasprintf(fmt, a, b))

/* Real git: a clone into place, then a fetch; a bad URL names the
 * upstream and leaves nothing behind. */
static void test_sync(void **state)
{
	char dir[] = "/tmp/test_gitup.XXXXXX";
	_cleanup_free_ char *up = NULL, *url = NULL, *mirror = NULL;
	struct git_upstream u = {.name = S("origin")};
	struct error err = ERROR_INIT;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	up = xasprintf("%s/up.git", dir);
	url = xasprintf("file://%s", up);
	u.url = url;
	assert_int_equal(
	    sh("git init -q --bare -b main %s && cd %s && t=$(git mktree "
	       "</dev/null) && c=$(git -c user.email=t@t -c user.name=t "
	       "commit-tree -m one $t) && git update-ref refs/heads/main $c",
	       up, up),
	    0);
	assert_int_equal(gitup_sync(dir, &u, 1, NULL, 0, false, &err), 0);
	mirror = gitup_mirror_path(dir, S("origin"));
	assert_int_equal(
	    sh("git -C %s rev-parse -q --verify main >/dev/null%s", mirror, ""),
	    0);
	/* A new branch upstream arrives with the next sync (a fetch). */
	assert_int_equal(sh("git -C %s branch side main%s", up, ""), 0);
	assert_int_equal(gitup_sync(dir, &u, 1, NULL, 0, false, &err), 0);
	assert_int_equal(
	    sh("git -C %s rev-parse -q --verify side >/dev/null%s", mirror, ""),
	    0);

	u.name = S("broken");
	u.url = S("file:///nonexistent/repo.git");
	assert_int_equal(gitup_sync(dir, &u, 1, NULL, 0, false, &err), -EIO);
	assert_string_equal(err.msg, "git upstream broken: cloning "
				     "file:///nonexistent/repo.git failed "
				     "(git exited 128)");
	free(mirror);
	mirror = gitup_mirror_path(dir, S("broken"));
	assert_int_not_equal(stat(mirror, &st), 0);
	assert_int_equal(sh("test ! -e %s.tmp && rm -rf %s", mirror, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_ssh),
	    cmocka_unit_test(test_sync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
