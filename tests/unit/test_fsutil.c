#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char tmpdir[] = "/tmp/test_fsutil.XXXXXX";

/* A path under the test's temp dir; the caller frees. */
__attribute__((format(printf, 1, 2))) static char *tp(const char *fmt, ...)
{
	char *rel, *p;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&rel, fmt, ap) < 0)
		abort();
	va_end(ap);
	p = xasprintf("%s/%s", tmpdir, rel);
	free(rel);
	return p;
}

static void put(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, content, strlen(content)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void set_mtime(const char *path, time_t t)
{
	const struct timespec ts[2] = {{t, 0}, {t, 123456789}};

	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static struct stat lst(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	return st;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct error err = ERROR_INIT;
	(void)state;
	return rm_rf(tmpdir, &err);
}

static void atomic_write(void **state)
{
	struct error err = ERROR_INIT;
	char *top = tp("aw"), *p = tp("aw/meta.json"), *dir = tp("aw/adir");
	mode_t old = umask(077);
	size_t len;
	char *data;

	(void)state;
	assert_int_equal(mkdir(top, 0700), 0);
	assert_int_equal(write_file_atomic(p, "{\"a\":1}", 7, 0644, &err), 0);
	assert_int_equal(lst(p).st_mode & 07777, 0644); /* umask ignored */
	assert_int_equal(write_file_atomic(p, "new", 3, 0600, &err), 0);
	assert_int_equal(read_file(p, &data, &len, 100, &err), 0);
	assert_int_equal(len, 3);
	assert_string_equal(data, "new");
	free(data);
	assert_int_equal(lst(p).st_mode & 07777, 0600);
	assert_int_equal(write_file_atomic(p, "", 0, 0640, &err), 0);
	assert_int_equal(lst(p).st_size, 0);

	/* renaming over a directory fails, and the temp file goes */
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(write_file_atomic(dir, "x", 1, 0644, &err) < 0);
	assert_non_null(strstr(err.msg, dir));
	assert_int_equal(count_entries(top), 2); /* meta.json, adir */
	free(dir);
	dir = tp("aw/missing/x");
	assert_int_equal(write_file_atomic(dir, "x", 1, 0644, &err), -ENOENT);
	free(dir);

	/* The no-fsync variant has the same replace semantics. */
	assert_int_equal(write_file_replace(p, "fast", 4, 0600, &err), 0);
	assert_int_equal(read_file(p, &data, &len, 100, &err), 0);
	assert_string_equal(data, "fast");
	free(data);
	assert_int_equal(lst(p).st_mode & 07777, 0600);
	dir = tp("aw/adir");
	assert_true(write_file_replace(dir, "x", 1, 0644, &err) < 0);
	assert_int_equal(count_entries(top), 2);
	umask(old);
	free(dir);
	free(p);
	free(top);
}

static void canonical(void **state)
{
	char *top = tp("canon"), *real = tp("canon/real"),
	     *link = tp("canon/l");
	char *want, *got;

	(void)state;
	assert_int_equal(mkdir(top, 0700), 0);
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink("real", link), 0);
	/* An existing path through a symlink. */
	got = canonical_path(link);
	want = realpath(real, NULL);
	assert_string_equal(got, want);
	free(got);
	/* A path that does not exist yet keeps its tail, resolved above. */
	{
		char *p = tp("canon/l/not/yet");
		char *w = xasprintf("%s/not/yet", want);
		got = canonical_path(p);
		assert_string_equal(got, w);
		free(got);
		free(w);
		free(p);
	}
	assert_null(canonical_path("relative/path"));
	free(want);
	free(link);
	free(real);
	free(top);
}

static void read_limits(void **state)
{
	struct error err = ERROR_INIT;
	char *p = tp("hundred"), *data = (char *)1;
	char buf[101];
	size_t len;

	(void)state;
	memset(buf, 'x', 100);
	buf[100] = '\0';
	put(p, buf, 0644);
	assert_int_equal(read_file(p, &data, &len, 99, &err), -EFBIG);
	assert_null(data);
	assert_int_equal(read_file(p, &data, NULL, 100, &err), 0);
	assert_string_equal(data, buf);
	free(data);
	/* size unknown up front: the limit applies while reading */
	assert_int_equal(read_file("/proc/self/status", &data, &len, 10, &err),
			 -EFBIG);
	assert_int_equal(
	    read_file("/proc/self/status", &data, &len, 1 << 20, &err), 0);
	assert_true(len > 10 && strlen(data) == len);
	free(data);
	assert_int_equal(read_file(tmpdir, &data, &len, 10, &err), -EISDIR);
	free(p);
	p = tp("nope");
	assert_int_equal(read_file(p, &data, &len, 10, &err), -ENOENT);
	free(p);
}

static void mkdirs(void **state)
{
	struct error err = ERROR_INIT;
	char *p = tp("m/a/b//c/"), *f = tp("m/file"), *g = tp("m/file/sub");

	(void)state;
	assert_int_equal(mkdir_p(p, 0755, &err), 0);
	assert_true(S_ISDIR(lst(p).st_mode));
	assert_int_equal(mkdir_p(p, 0755, &err), 0);
	put(f, "", 0644);
	assert_int_equal(mkdir_p(g, 0755, &err), -ENOTDIR);
	assert_int_equal(mkdir_p(f, 0755, &err), -ENOTDIR);
	assert_int_equal(mkdir_p("/", 0755, &err), 0);
	free(p);
	free(f);
	free(g);
}

/* src/
 *   .git/objects/ab/cdef	0444, dirs 0555 (as git makes them)
 *   bin/run.sh			0755
 *   data.txt			0640
 *   hard1, sub/hard2		one file, two links
 *   sub/suid			04755
 *   link_rel -> data.txt, link_dangling -> nowhere, link_abs -> /etc,
 *   link_dir -> bin
 *   fifo			skipped
 *   empty/
 */
static void make_tree(const char *root)
{
	static const char *dirs[] = {
	    "",	   ".git", ".git/objects", ".git/objects/ab",
	    "bin", "sub",  "empty"};
	static const char *const links[][2] = {{"link_rel", "data.txt"},
					       {"link_dangling", "nowhere"},
					       {"link_abs", "/etc"},
					       {"link_dir", "bin"}};
	char *p, *q;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		p = xasprintf("%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		free(p);
	}
#define F(rel) (free(p), p = xasprintf("%s/%s", root, rel))
	p = NULL;
	put(F(".git/objects/ab/cdef"), "blob", 0444);
	put(F("bin/run.sh"), "#!/bin/sh\necho hi\n", 0755);
	put(F("data.txt"), "data", 0640);
	put(F("hard1"), "shared", 0600);
	q = xasprintf("%s/sub/hard2", root);
	assert_int_equal(link(p, q), 0);
	free(q);
	put(F("sub/suid"), "", 04755);
	for (i = 0; i < ARRAY_SIZE(links); i++)
		assert_int_equal(symlink(links[i][1], F(links[i][0])), 0);
	assert_int_equal(mkfifo(F("fifo"), 0644), 0);
	/* distinct times everywhere, dirs last, innermost first */
	set_mtime(F("data.txt"), 1000000001);
	set_mtime(F("link_rel"), 1000000002);
	set_mtime(F("link_dangling"), 1000000003);
	set_mtime(F("bin/run.sh"), 1000000004);
	set_mtime(F(".git/objects/ab/cdef"), 1000000005);
	set_mtime(F(".git/objects/ab"), 1000000006);
	assert_int_equal(chmod(p, 0555), 0);
	set_mtime(F(".git/objects"), 1000000007);
	assert_int_equal(chmod(p, 0555), 0);
	set_mtime(F("empty"), 1000000008);
	set_mtime(F("sub"), 1000000009);
	set_mtime(F(""), 1000000010);
#undef F
	free(p);
}

static void check_same(const char *src, const char *dst, const char *rel)
{
	char *a = xasprintf("%s/%s", src, rel),
	     *b = xasprintf("%s/%s", dst, rel);
	struct stat sa = lst(a), sb = lst(b);

	if (sa.st_mode != sb.st_mode)
		fail_msg("%s: mode %o != %o", rel, sa.st_mode, sb.st_mode);
	if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
	    sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)
		fail_msg("%s: mtime differs", rel);
	assert_int_not_equal(sa.st_ino, sb.st_ino);
	if (S_ISREG(sa.st_mode)) {
		char *ca, *cb;
		struct error err = ERROR_INIT;
		assert_int_equal(read_file(a, &ca, NULL, 1 << 20, &err), 0);
		assert_int_equal(read_file(b, &cb, NULL, 1 << 20, &err), 0);
		assert_string_equal(ca, cb);
		free(ca);
		free(cb);
	} else if (S_ISLNK(sa.st_mode)) {
		char la[256] = "", lb[256] = "";
		assert_true(readlink(a, la, sizeof(la) - 1) > 0);
		assert_true(readlink(b, lb, sizeof(lb) - 1) > 0);
		assert_string_equal(la, lb);
	}
	free(a);
	free(b);
}

static void copy_and_remove(void **state)
{
	static const char *rels[] = {
	    "",
	    ".git",
	    ".git/objects",
	    ".git/objects/ab",
	    ".git/objects/ab/cdef",
	    "bin",
	    "bin/run.sh",
	    "data.txt",
	    "hard1",
	    "sub/hard2",
	    "sub/suid",
	    "link_rel",
	    "link_dangling",
	    "link_abs",
	    "link_dir",
	    "empty",
	    "sub",
	};
	struct copy_stats st;
	struct error err = ERROR_INIT;
	char *src = tp("src"), *dst = tp("dst"), *p, *q;
	size_t i;

	(void)state;
	make_tree(src);
	if (copy_tree(src, dst, &st, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	for (i = 0; i < ARRAY_SIZE(rels); i++)
		check_same(src, dst, rels[i]);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.hardlinks, 1);
	assert_int_equal(st.dirs, 7);
	assert_int_equal(st.symlinks, 4);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.bytes, 4 + 18 + 4 + 6);
	assert_true(st.reflinked <= st.files);

	/* hard links stay links, within the copy */
	p = xasprintf("%s/hard1", dst);
	q = xasprintf("%s/sub/hard2", dst);
	assert_int_equal(lst(p).st_ino, lst(q).st_ino);
	assert_int_equal(lst(p).st_nlink, 2);
	free(p);
	free(q);
	p = xasprintf("%s/fifo", dst);
	assert_false(exists(p));
	free(p);

	/* dst must not exist, and an existing one is left alone */
	assert_int_equal(copy_tree(src, dst, NULL, NULL, &err), -EEXIST);
	assert_true(exists(dst));

	/* read-only dirs are no obstacle; a second rm_rf finds nothing */
	assert_int_equal(rm_rf(dst, &err), 0);
	assert_false(exists(dst));
	assert_int_equal(rm_rf(dst, &err), 0);
	assert_int_equal(rm_rf(src, &err), 0);
	assert_false(exists(src));
	free(src);
	free(dst);
}

/* As root, DAC does not stop us: run the removal as an unprivileged user
 * over a tree chowned to it (through copy_opts), so that making read-only
 * directories writable is really exercised. */
static void chown_and_remove_unprivileged(void **state)
{
	struct copy_opts opts = COPY_OPTS_INIT;
	struct error err = ERROR_INIT;
	char *src = tp("src2"), *dst = tp("dst2"), *p;
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	make_tree(src);
	opts.uid = 65534;
	opts.gid = 65534;
	if (copy_tree(src, dst, NULL, &opts, &err) < 0)
		fail_msg("%s", err.msg);
	p = xasprintf("%s/.git/objects/ab", dst);
	assert_int_equal(lst(p).st_uid, 65534);
	assert_int_equal(lst(p).st_mode & 07777, 0555);
	free(p);
	p = xasprintf("%s/link_abs", dst);
	assert_int_equal(lst(p).st_uid, 65534);
	assert_int_equal(lst("/etc").st_uid, 0); /* not followed */
	free(p);
	p = xasprintf("%s/sub/suid", dst); /* chmod after chown keeps it */
	assert_int_equal(lst(p).st_mode & 07777, 04755);
	free(p);
	assert_int_equal(chmod(tmpdir, 0777), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
		    setuid(65534) < 0)
			_exit(2);
		_exit(rm_rf(dst, &err) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(dst));
	assert_int_equal(chmod(tmpdir, 0700), 0);
	assert_int_equal(rm_rf(src, &err), 0);
	free(src);
	free(dst);
}

static void copy_refusals(void **state)
{
	struct error err = ERROR_INIT;
	char *src = tp("self"), *inner = tp("self/copy"), *p;

	(void)state;
	assert_int_equal(mkdir(src, 0755), 0);
	p = xasprintf("%s/f", src);
	put(p, "x", 0644);
	free(p);
	assert_int_equal(copy_tree(src, inner, NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "into itself"));
	assert_false(exists(inner)); /* cleaned up */
	p = tp("self/f");
	assert_int_equal(copy_tree(p, inner, NULL, NULL, &err), -ENOTDIR);
	free(p);
	p = tp("nope");
	assert_int_equal(copy_tree(p, inner, NULL, NULL, &err), -ENOENT);
	free(p);
	assert_int_equal(rm_rf(src, &err), 0);
	free(src);
	free(inner);
}

struct progress {
	int calls;
	uint64_t last_files;
	uint64_t last_ns;
	uint64_t min_gap_ns;
};

static void on_progress(const struct copy_stats *st, void *arg)
{
	struct progress *pr = arg;
	uint64_t now = now_ns();

	assert_true(st->files >= pr->last_files);
	if (pr->calls && now - pr->last_ns < pr->min_gap_ns)
		pr->min_gap_ns = now - pr->last_ns;
	pr->last_files = st->files;
	pr->last_ns = now;
	pr->calls++;
}

static void copy_progress(void **state)
{
	struct progress pr = {.min_gap_ns = UINT64_MAX};
	struct copy_opts opts = COPY_OPTS_INIT;
	struct copy_stats st;
	struct error err = ERROR_INIT;
	char *src = tp("many"), *dst = tp("many2"), *p;
	uint64_t t0;
	int i;

	(void)state;
	assert_int_equal(mkdir(src, 0755), 0);
	for (i = 0; i < 3000; i++) {
		p = xasprintf("%s/f%d", src, i);
		put(p, "content", 0644);
		free(p);
	}
	opts.on_progress = on_progress;
	opts.progress_arg = &pr;
	t0 = now_ns();
	assert_int_equal(copy_tree(src, dst, &st, &opts, &err), 0);
	assert_int_equal(st.files, 3000);
	assert_true((uint64_t)pr.calls <= (now_ns() - t0) / 100000000 + 1);
	if (pr.calls > 1)
		assert_true(pr.min_gap_ns >= 100000000);
	assert_int_equal(rm_rf(src, &err), 0);
	assert_int_equal(rm_rf(dst, &err), 0);
	free(src);
	free(dst);
}

static void rm_rf_symlinks(void **state)
{
	struct error err = ERROR_INIT;
	char *target = tp("target"), *keep = tp("target/keep"),
	     *tree = tp("tree"), *l1 = tp("tree/l"), *l2 = tp("toplink");

	(void)state;
	assert_int_equal(mkdir(target, 0755), 0);
	put(keep, "k", 0644);
	assert_int_equal(mkdir(tree, 0755), 0);
	assert_int_equal(symlink(target, l1), 0);
	assert_int_equal(symlink(target, l2), 0);
	assert_int_equal(rm_rf(tree, &err), 0);
	assert_int_equal(rm_rf(l2, &err), 0); /* the link, not the dir */
	assert_false(exists(tree));
	assert_false(exists(l2));
	assert_true(exists(keep));
	assert_int_equal(rm_rf("/", &err), -EINVAL);
	assert_int_equal(rm_rf("..", &err), -EINVAL);
	assert_int_equal(rm_rf(target, &err), 0);
	free(target);
	free(keep);
	free(tree);
	free(l1);
	free(l2);
}

/* In a child with its own mount namespace: rm_rf must stop at a tmpfs and
 * at a bind mount of the same filesystem (same st_dev, other mount id). */
static int rm_rf_mount_child(void)
{
	struct error err = ERROR_INIT;
	char *tree = tp("mnt"), *sub = tp("mnt/sub"), *f = tp("mnt/sub/f"),
	     *other = tp("other"), *of = tp("other/f");

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 77;
	if (mkdir(tree, 0755) < 0 || mkdir(sub, 0755) < 0 ||
	    mount("tmpfs", sub, "tmpfs", 0, NULL) < 0)
		return 77;
	put(f, "precious", 0644);
	if (rm_rf(tree, &err) != -EXDEV || !exists(f))
		return 1;
	umount(sub);
	if (mkdir(other, 0755) < 0)
		return 1;
	put(of, "precious", 0644);
	if (mount(other, sub, NULL, MS_BIND, NULL) < 0)
		return 77;
	if (lst(other).st_dev != lst(sub).st_dev)
		return 1;
	if (rm_rf(tree, &err) != -EXDEV || !exists(of))
		return 1;
	umount(sub);
	return rm_rf(tree, &err) == 0 && rm_rf(other, &err) == 0 ? 0 : 1;
}

static void rm_rf_stops_at_mounts(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(rm_rf_mount_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The child takes the lock with flags, reports over a pipe, and holds it
 * until the parent writes to the other pipe. */
static pid_t hold_lock(const char *path, int flags, int *release_fd)
{
	int ready[2], release[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(release, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct error err = ERROR_INIT;
		int fd;
		close(ready[0]);
		close(release[1]);
		if (lock_file(path, flags, -1, &fd, &err) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(release[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release_fd = release[1];
	return pid;
}

static void release_lock(pid_t pid, int release_fd)
{
	int status;

	close(release_fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void lock_contention(void **state)
{
	struct error err = ERROR_INIT;
	char *p = tp("lock");
	int fd, rel;
	uint64_t t0;
	pid_t pid;

	(void)state;
	assert_int_equal(lock_file(p, LOCK_SH | LOCK_NB, 0, &fd, &err),
			 -EINVAL);
	assert_int_equal(fd, -1);

	pid = hold_lock(p, LOCK_EX, &rel);
	t0 = now_ns();
	assert_int_equal(lock_file(p, LOCK_EX, 200, &fd, &err), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 200000000);
	assert_true(now_ns() - t0 < 2000000000);
	assert_int_equal(fd, -1);
	assert_int_equal(lock_file(p, LOCK_SH, 0, &fd, &err), -ETIMEDOUT);
	release_lock(pid, rel);
	assert_int_equal(lock_file(p, LOCK_EX, 0, &fd, &err), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	/* shared holders share; an exclusive one waits */
	pid = hold_lock(p, LOCK_SH, &rel);
	assert_int_equal(lock_file(p, LOCK_SH, 0, &fd, &err), 0);
	close(fd);
	assert_int_equal(lock_file(p, LOCK_EX, 50, &fd, &err), -ETIMEDOUT);
	release_lock(pid, rel);
	free(p);
}

static void lock_wait_succeeds(void **state)
{
	struct error err = ERROR_INIT;
	char *p = tp("lock2");
	int fd, rel, status;
	pid_t pid, timer;

	(void)state;
	pid = hold_lock(p, LOCK_EX, &rel);
	/* release after ~150 ms from another process */
	timer = fork();
	assert_true(timer >= 0);
	if (timer == 0) {
		struct timespec ts = {0, 150000000};
		nanosleep(&ts, NULL);
		close(rel);
		_exit(0);
	}
	close(rel);
	assert_int_equal(lock_file(p, LOCK_EX, 5000, &fd, &err), 0);
	close(fd);
	assert_int_equal(waitpid(timer, &status, 0), timer);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(atomic_write),
	    cmocka_unit_test(canonical),
	    cmocka_unit_test(read_limits),
	    cmocka_unit_test(mkdirs),
	    cmocka_unit_test(copy_and_remove),
	    cmocka_unit_test(chown_and_remove_unprivileged),
	    cmocka_unit_test(copy_refusals),
	    cmocka_unit_test(copy_progress),
	    cmocka_unit_test(rm_rf_symlinks),
	    cmocka_unit_test(rm_rf_stops_at_mounts),
	    cmocka_unit_test(lock_contention),
	    cmocka_unit_test(lock_wait_succeeds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
