/* The ns backend's Landlock ruleset, applied for real in forked children.
 *
 * The ruleset is built in the test process, as the launcher builds it in
 * the parent; a child sets NO_NEW_PRIVS, applies it and then walks through
 * a list of filesystem operations, exiting with the number of the first
 * one that did not behave, so that the parent can name it. */
#include "backend/ns/landlock.h"

#include "lib/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct dirs {
	char allowed[64]; /* LL_WRITE */
	char other[64];	  /* no rule, except other/file (LL_WRITE) */
};

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void make_file(const char *dir, const char *name)
{
	char p[PATH_MAX];
	int fd;

	path_in(p, sizeof(p), dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
}

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	strcpy(d->allowed, "/tmp/bottle-ll-rw-XXXXXX");
	strcpy(d->other, "/tmp/bottle-ll-no-XXXXXX");
	if (!mkdtemp(d->allowed) || !mkdtemp(d->other)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", d->allowed, d->other);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

/* Expect open() to succeed (want == 0) or fail with errno want. */
static bool try_open(const char *path, int flags, int want)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		return want == 0;
	}
	return errno == want;
}

static bool try_open_in(const char *dir, const char *name, int flags, int want)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return try_open(p, flags, want);
}

static bool can_read_sh(void)
{
	char buf[4];
	int fd = open("/usr/bin/sh", O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && read(fd, buf, sizeof(buf)) == sizeof(buf) &&
		  memcmp(buf, "\177ELF", 4) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static bool can_rename_and_remove(const char *dir)
{
	char a[PATH_MAX], b[PATH_MAX], sub[PATH_MAX];

	path_in(a, sizeof(a), dir, "a");
	path_in(b, sizeof(b), dir, "b");
	path_in(sub, sizeof(sub), dir, "sub");
	return rename(a, b) == 0 && unlink(b) == 0 && mkdir(sub, 0700) == 0 &&
	       rmdir(sub) == 0;
}

/* An ioctl on a device node opened after restriction (IOCTL_DEV). */
static bool can_ioctl_ptmx(void)
{
	unsigned int n;
	int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	bool ok = fd >= 0 && ioctl(fd, TIOCGPTN, &n) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Runs in the restricted child; returns 0 or the failing step. */
static int child_checks(const struct dirs *d)
{
	const int wr = O_WRONLY | O_CREAT | O_TRUNC;

	if (!try_open_in(d->allowed, "a", wr, 0))
		return 1;
	if (!can_rename_and_remove(d->allowed))
		return 2;
	if (!try_open_in(d->other, "new", wr, EACCES))
		return 3;
	if (!can_read_sh())
		return 4;
	if (!try_open("/dev/null", wr, 0))
		return 5;
	if (!try_open_in(d->other, "secret", O_RDONLY, EACCES))
		return 6;
	if (!try_open("/etc/passwd", O_WRONLY, EACCES))
		return 7;
	if (!try_open("/etc/passwd", O_RDONLY, 0))
		return 8;
	/* A rule on a single file: read and write it, nothing next to it. */
	if (!try_open_in(d->other, "file", O_RDWR | O_TRUNC, 0))
		return 9;
	if (!can_ioctl_ptmx())
		return 10;
	if (!try_open("/root", O_RDONLY | O_DIRECTORY, EACCES))
		return 11;
	return 0;
}

static const char *const step_names[] = {
    "ok",
    "create+truncate in the write dir",
    "rename/unlink/mkdir/rmdir in the write dir",
    "create outside every rule is EACCES",
    "read /usr/bin/sh",
    "open /dev/null for writing (O_CREAT|O_TRUNC)",
    "read outside every rule is EACCES",
    "write to a read-only path is EACCES",
    "read /etc/passwd",
    "read+write+truncate a single-file rule",
    "ioctl on a fresh /dev/ptmx",
    "list a directory outside every rule is EACCES",
};

static void restricts_filesystem(void **state)
{
	const struct dirs *d = *state;
	char file[PATH_MAX];
	struct error err = ERROR_INIT;
	int fd = -1, status, r;
	pid_t pid;

	if (landlock_abi() == 0) {
		print_message("Landlock unavailable on this kernel\n");
		skip();
	}
	make_file(d->other, "secret");
	make_file(d->other, "file");
	path_in(file, sizeof(file), d->other, "file");
	const struct landlock_path paths[] = {
	    {"/usr", LL_READ},
	    {"/etc", LL_READ},
	    {"/nonexistent/bottle-landlock", LL_WRITE},
	    {d->allowed, LL_WRITE},
	    {file, LL_WRITE},
	    {"/dev", LL_DEV},
	};

	r = landlock_build(paths, ARRAY_SIZE(paths), &fd, &err);
	if (r < 0)
		fail_msg("landlock_build: %s", err.msg);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(100);
		if (landlock_apply(fd) < 0)
			_exit(101);
		_exit(child_checks(d));
	}
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	r = WEXITSTATUS(status);
	if (r != 0)
		fail_msg("restricted child failed step %d: %s", r,
			 r < (int)ARRAY_SIZE(step_names) ? step_names[r]
							 : "setup");
}

/* Control: without the ruleset the same create succeeds, so the EACCES
 * seen in restricts_filesystem comes from Landlock, not from file modes. */
static void unrestricted_child_can_do_everything(void **state)
{
	const struct dirs *d = *state;
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(try_open_in(d->other, "new2", O_WRONLY | O_CREAT, 0) ? 0
									   : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void empty_ruleset_builds(void **state)
{
	struct error err = ERROR_INIT;
	int fd = 123;

	(void)state;
	if (landlock_abi() == 0) {
		assert_int_equal(landlock_build(NULL, 0, &fd, &err),
				 -EOPNOTSUPP);
		assert_int_equal(fd, -1);
		return;
	}
	assert_int_equal(landlock_build(NULL, 0, &fd, &err), 0);
	assert_true(fd >= 0);
	close(fd);
}

static void access_names(void **state)
{
	(void)state;
	assert_string_equal(landlock_access_name(LL_READ), "read");
	assert_string_equal(landlock_access_name(LL_WRITE), "write");
	assert_string_equal(landlock_access_name(LL_DEV), "dev");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(access_names),
	    cmocka_unit_test(empty_ruleset_builds),
	    cmocka_unit_test(unrestricted_child_can_do_everything),
	    cmocka_unit_test(restricts_filesystem),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
