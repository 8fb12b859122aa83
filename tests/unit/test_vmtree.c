/* The vm backend's split of a plan's setup ops (pure, on plan_build()'s
 * plans and on hand-made ones it must refuse) and the host-side tree, built
 * for real by a forked child in a mount namespace of its own (as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backend/vm/tree.h"
#include "lib/fsutil.h"
#include "lib/manifest.h"
#include "lib/plan.h"
#include "lib/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct manifest *parse(const char *yaml)
{
	struct manifest *m = NULL;
	struct error err = ERROR_INIT;
	int r = manifest_parse("t.yaml", "/base", yaml, strlen(yaml), &m, &err);
	if (r < 0)
		fail_msg("manifest: %s", err.msg);
	return m;
}

static struct plan *build(const struct manifest *m, const struct host_facts *h)
{
	const struct agent_def *a = &m->agents[0];
	struct spec s = {
	    .manifest = m,
	    .agent = a,
	    .bottle = manifest_bottle(m, a->bottle),
	    .id = "a-123456",
	    .cwd = "/home/u/proj",
	    .copy_cwd = true,
	};
	struct error err = ERROR_INIT;
	struct plan *p = NULL;

	if (plan_build(&s, h, &p, &err) < 0)
		fail_msg("plan_build: %s", err.msg);
	return p;
}

static const char *const manifest_yaml =
    "agents:\n  a:\n    command: [sh]\n    bottle: b\n"
    "bottles:\n  b:\n    backend: vm\n"
    "    mounts: [\"/opt/node:/opt/node:ro\", {source: /data, target: "
    "/data, mode: rw}]\n";

/* The index of the op of type t at target in list, or -1. */
static int find(const struct setup_op *const *list, size_t n,
		enum setup_op_type t, const char *target)
{
	for (size_t i = 0; i < n; i++)
		if (list[i]->type == t && strcmp(list[i]->target, target) == 0)
			return (int)i;
	return -1;
}

static bool listed(const struct vm_layout *l, const struct setup_op *op)
{
	for (size_t i = 0; i < l->n_host; i++)
		if (l->host[i] == op)
			return true;
	for (size_t i = 0; i < l->n_guest; i++)
		if (l->guest[i] == op)
			return true;
	return false;
}

static void test_split(void **state)
{
	struct host_facts h;
	struct manifest *m = parse(manifest_yaml);
	struct vm_layout l = VM_LAYOUT_INIT;
	struct error err = ERROR_INIT;
	const struct setup_op *const *g, *const *o;
	struct plan *p;
	size_t ng, no;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.uid = h.gid = 1000;
	h.state_home = (char *)"/state";
	h.probe_path = (char *)"/opt/bottle-probe";
	h.usr_links[0] = (char *)"bin=usr/bin";
	p = build(m, &h);
	if (vm_layout_build(p, &l, &err) < 0)
		fail_msg("vm_layout_build: %s", err.msg);
	o = l.host;
	no = l.n_host;
	g = l.guest;
	ng = l.n_guest;

	/* The read-only tree: first the root tmpfs, last its remount. */
	assert_int_equal(find(o, no, SETUP_TMPFS, "/"), 0);
	assert_int_equal(find(o, no, SETUP_REMOUNT_RO, "/"), (int)no - 1);
	assert_true(find(o, no, SETUP_RO_BIND, "/usr") >= 0);
	assert_true(find(o, no, SETUP_SYMLINK, "/bin") >= 0);
	assert_true(find(o, no, SETUP_RO_BIND, "/opt/node") >= 0);
	assert_true(find(o, no, SETUP_FILE, "/run/bottle/prompt.md") < 0);
	assert_true(find(o, no, SETUP_DIR, "/run/bottle") >= 0);
	assert_true(find(o, no, SETUP_SYMLINK, "/var/tmp") >= 0);
	assert_true(find(o, no, SETUP_RO_BIND, BOTTLE_CA_BUNDLE) >= 0);
	/* /etc is a tmpfs too, but one the plan fills and makes read-only:
	 * the host's, in order: tmpfs, files, host entries, remount. */
	assert_true(find(o, no, SETUP_TMPFS, "/etc") >= 0);
	assert_true(find(o, no, SETUP_TMPFS, "/etc") <
		    find(o, no, SETUP_FILE, "/etc/passwd"));
	assert_true(find(o, no, SETUP_FILE, "/etc/passwd") <
		    find(o, no, SETUP_RO_BIND_DIR, "/etc"));
	assert_true(find(o, no, SETUP_RO_BIND_DIR, "/etc") <
		    find(o, no, SETUP_REMOUNT_RO, "/etc"));
	assert_true(find(g, ng, SETUP_TMPFS, "/etc") < 0);

	/* The guest's: /dev and all under it, /proc, the scratch /tmp. */
	assert_int_equal(find(g, ng, SETUP_TMPFS, "/dev"), 0);
	assert_true(find(g, ng, SETUP_DEV_BIND, "/dev/null") > 0);
	assert_true(find(g, ng, SETUP_DEVPTS, "/dev/pts") > 0);
	assert_true(find(g, ng, SETUP_SYMLINK, "/dev/ptmx") > 0);
	assert_true(find(g, ng, SETUP_TMPFS, "/dev/shm") > 0);
	assert_true(find(g, ng, SETUP_MQUEUE, "/dev/mqueue") > 0);
	assert_true(find(g, ng, SETUP_REMOUNT_RO, "/dev") >
		    find(g, ng, SETUP_MQUEUE, "/dev/mqueue"));
	assert_true(find(g, ng, SETUP_PROC, "/proc") >
		    find(g, ng, SETUP_REMOUNT_RO, "/dev"));
	assert_int_equal(find(g, ng, SETUP_TMPFS, "/tmp"), (int)ng - 1);
	for (size_t i = 0; i < ng; i++)
		assert_int_equal(find(o, no, g[i]->type, g[i]->target), -1);

	/* The rw binds, in plan order (the manifest's mounts come first). */
	assert_int_equal(l.n_rw, 3);
	assert_string_equal(l.rw[0].tag, "rw0");
	assert_string_equal(l.rw[0].target, "/data");
	assert_string_equal(l.rw[0].source, "/data");
	assert_string_equal(l.rw[1].tag, "rw1");
	assert_string_equal(l.rw[1].target, BOTTLE_WORKDIR);
	assert_string_equal(l.rw[1].source, "/state/a-123456/workspace");
	assert_string_equal(l.rw[2].tag, "rw2");
	assert_string_equal(l.rw[2].target, AGENT_HOME);
	assert_string_equal(l.rw[2].source, "/state/a-123456/home");
	assert_false(l.rw[2].optional);
	assert_int_equal(find(o, no, SETUP_BIND, AGENT_HOME), -1);

	/* Mount points in the read-only tree: the shares', and the guest
	 * mounts' outside the guest's own /dev. */
	assert_true(find(o, no, SETUP_DIR, "/data") >= 0);
	assert_true(find(o, no, SETUP_DIR, BOTTLE_WORKDIR) >= 0);
	assert_true(find(o, no, SETUP_DIR, "/home") <
		    find(o, no, SETUP_DIR, AGENT_HOME));
	assert_true(find(o, no, SETUP_DIR, "/dev") >= 0);
	assert_true(find(o, no, SETUP_DIR, "/proc") >= 0);
	assert_true(find(o, no, SETUP_DIR, "/tmp") >= 0);
	assert_int_equal(find(o, no, SETUP_DIR, "/dev/pts"), -1);
	assert_int_equal(find(o, no, SETUP_DIR, "/dev/shm"), -1);
	assert_int_equal(find(o, no, SETUP_FILE, "/dev/null"), -1);
	assert_int_equal(l.n_made, 6);

	/* Every plan op is on exactly one side. */
	assert_int_equal(l.n_host - l.n_made + l.n_guest + l.n_rw, p->n_ops);
	for (size_t i = 0; i < p->n_ops; i++)
		assert_true(listed(&l, &p->ops[i]) ==
			    (p->ops[i].type != SETUP_BIND));

	vm_layout_release(&l);
	vm_layout_release(&l); /* safe twice */
	plan_free(p);
	manifest_free(m);
}

/* Splits that would change what the bottle sees are refused. */
static void test_split_refused(void **state)
{
	static const struct {
		struct setup_op ops[3];
		size_t n;
		const char *msg;
	} cases[] = {
	    {{{.type = SETUP_DIR, .target = (char *)"/"}},
	     1,
	     "first setup op must be the tmpfs on /"},
	    /* A ro bind into the guest's scratch /tmp: the guest's tmpfs,
	     * mounted after the tree is built, would hide it. */
	    {{{.type = SETUP_TMPFS, .target = (char *)"/"},
	      {.type = SETUP_TMPFS, .target = (char *)"/tmp"},
	      {.type = SETUP_RO_BIND,
	       .source = (char *)"/usr",
	       .target = (char *)"/tmp/usr"}},
	     3,
	     "setup ro-bind /tmp/usr: overlaps tmpfs /tmp"},
	    /* A share mounted into /tmp after its tmpfs: the guest mounts
	     * the shares first. */
	    {{{.type = SETUP_TMPFS, .target = (char *)"/"},
	      {.type = SETUP_TMPFS, .target = (char *)"/tmp"},
	      {.type = SETUP_BIND,
	       .source = (char *)"/x",
	       .target = (char *)"/tmp/x"}},
	     3,
	     "setup bind /tmp/x: overlaps tmpfs /tmp"},
	    /* A host op over an earlier share would hide it under ns. */
	    {{{.type = SETUP_TMPFS, .target = (char *)"/"},
	      {.type = SETUP_BIND,
	       .source = (char *)"/x",
	       .target = (char *)"/a/b"},
	      {.type = SETUP_RO_BIND,
	       .source = (char *)"/y",
	       .target = (char *)"/a"}},
	     3,
	     "setup ro-bind /a: overlaps bind /a/b"},
	    {{{.type = SETUP_TMPFS, .target = (char *)"/"},
	      {.type = SETUP_BIND,
	       .source = (char *)"/x",
	       .target = (char *)"/a"},
	      {.type = SETUP_REMOUNT_RO, .target = (char *)"/a"}},
	     3,
	     "setup remount-ro /a: overlaps bind /a"},
	    {{{.type = SETUP_TMPFS, .target = (char *)"/"},
	      {.type = SETUP_RO_BIND,
	       .source = (char *)"/x",
	       .target = (char *)"/dev/x"}},
	     2,
	     "cannot be bound under /dev"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct plan p = {.ops = (struct setup_op *)cases[i].ops,
				 .n_ops = cases[i].n};
		struct vm_layout l = VM_LAYOUT_INIT;
		struct error err = ERROR_INIT;

		assert_int_equal(vm_layout_build(&p, &l, &err), -EINVAL);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: %s", i, err.msg);
		vm_layout_release(&l);
	}
}

/* ---- the tree, for real --------------------------------------------- */

struct fixture {
	char dir[64];	     /* the test's temporary directory */
	char root[96];	     /* dir/root: where the tree goes */
	char ca[160];	     /* the plan's CA bundle source */
	struct host_facts h; /* this host's, with state_home in dir */
	struct manifest *m;
	struct plan *p;
	struct vm_layout l;
};

#define CA_TEXT "-----BEGIN CERTIFICATE-----\ntest\n"

static int mounts_under(const char *root, bool unsafe);

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct error err = ERROR_INIT;
	char *run, *ro, *yaml;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vmtree.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	assert_int_equal(mkdir(f->root, 0755), 0);
	host_facts_gather(&f->h);
	free(f->h.state_home);
	f->h.state_home = xasprintf("%s/state", f->dir);
	/* A read-only mount of a directory of ours, a rw one elsewhere. */
	yaml = xasprintf("agents:\n  a:\n    command: [sh]\n    bottle: b\n"
			 "bottles:\n  b:\n    backend: vm\n    mounts: "
			 "[\"%s/ro:/opt/data:ro\", \"%s/rw:/data:rw\"]\n",
			 f->dir, f->dir);
	f->m = parse(yaml);
	free(yaml);
	f->p = build(f->m, &f->h);
	ro = xasprintf("%s/ro", f->dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	free(ro);
	ro = xasprintf("%s/ro/file", f->dir);
	assert_int_equal(write_file_replace(ro, "ro\n", 3, 0644, &err), 0);
	free(ro);
	run = xasprintf("%s/a-123456/run", f->h.state_home);
	assert_int_equal(mkdir_p(run, 0700, &err), 0);
	snprintf(f->ca, sizeof(f->ca), "%s/ca-bundle.crt", run);
	assert_int_equal(
	    write_file_replace(f->ca, CA_TEXT, strlen(CA_TEXT), 0644, &err), 0);
	free(run);
	if (vm_layout_build(f->p, &f->l, &err) < 0)
		fail_msg("vm_layout_build: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;

	vm_layout_release(&f->l);
	plan_free(f->p);
	manifest_free(f->m);
	host_facts_release(&f->h);
	/* Never descend into a tree that leaked to the host's mounts. */
	if (mounts_under(f->dir, false) == 0 && rm_rf(f->dir, &err) < 0)
		print_message("removing %s: %s\n", f->dir, err.msg);
	free(f);
	return 0;
}

/* The child's verdict: a message, or "" when every check passed. */
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			snprintf(msg, n, __VA_ARGS__);                         \
			return 1;                                              \
		}                                                              \
	} while (0)

typedef int (*child_fn)(struct fixture *f, char *msg, size_t n);

/* Run fn in a forked child with a mount namespace of its own (private),
 * and fail with its message if it failed. */
static void in_mount_ns(struct fixture *f, child_fn fn)
{
	char msg[1024] = "";
	int pfd[2], status;
	ssize_t got;
	pid_t pid;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = 1;

		close(pfd[0]);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			snprintf(msg, sizeof(msg), "unshare: %m");
		else
			r = fn(f, msg, sizeof(msg));
		if (write_all(pfd[1], msg, strlen(msg)) < 0)
			r = 2;
		_exit(r);
	}
	close(pfd[1]);
	got = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	msg[got > 0 ? got : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: %s (status %#x)", msg, status);
}

/* How many mounts the caller's table has at root or under it; with
 * unsafe set, how many of them lack ro, nosuid or nodev. */
static int mounts_under(const char *root, bool unsafe)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char line[4096], point[PATH_MAX], opts[256];
	size_t len = strlen(root);
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		char *save = NULL, *o;
		unsigned has = 0;

		if (sscanf(line, "%*s %*s %*s %*s %4095s %255s", point, opts) !=
		    2)
			continue;
		if (strncmp(point, root, len) != 0 ||
		    (point[len] != '\0' && point[len] != '/'))
			continue;
		for (o = strtok_r(opts, ",", &save); o;
		     o = strtok_r(NULL, ",", &save))
			has |= (strcmp(o, "ro") == 0) |
			       (strcmp(o, "nosuid") == 0) << 1 |
			       (strcmp(o, "nodev") == 0) << 2;
		n += !unsafe || has != 7;
	}
	fclose(fp);
	return n;
}

/* Create (and at once remove) path: the errno it failed with, or 0. */
static int try_create(const char *path, bool dir)
{
	int fd;

	if (dir) {
		if (mkdir(path, 0755) < 0)
			return errno;
		rmdir(path);
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	unlink(path);
	return 0;
}

static bool empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return false;
	while ((e = readdir(d)))
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n == 0;
}

static const struct setup_op *plan_op(const struct plan *p,
				      enum setup_op_type t, const char *target)
{
	for (size_t i = 0; i < p->n_ops; i++)
		if (p->ops[i].type == t &&
		    strcmp(p->ops[i].target, target) == 0)
			return &p->ops[i];
	return NULL;
}

static int check_tree(struct fixture *f, char *msg, size_t n)
{
	/* Where a write must fail: the root, host mounts, plain dirs. */
	static const char *const rofs[] = {
	    "",	    "/usr",  "/etc", "/etc/ssl", "/run/bottle", "/tmp",
	    "/dev", "/proc", "/var", "/home",	 "/opt/data"};
	static const char *const guest_mounts[] = {"/dev", "/proc", "/tmp"};
	const struct setup_op *pw = plan_op(f->p, SETUP_FILE, "/etc/passwd");
	struct error err = ERROR_INIT;
	struct stat host, st;
	char path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	int e;

	if (vm_tree_build(&f->l, f->root, &err) < 0)
		CHECK(false, "vm_tree_build: %s", err.msg);

	/* The host's /usr itself, bound. */
	snprintf(path, sizeof(path), "%s/usr", f->root);
	CHECK(stat("/usr", &host) == 0 && stat(path, &st) == 0 &&
		  st.st_dev == host.st_dev && st.st_ino == host.st_ino,
	      "%s is not the host's /usr", path);
	snprintf(path, sizeof(path), "%s/bin/sh", f->root);
	CHECK(access(path, X_OK) == 0, "%s: %m", path);
	/* Generated /etc files, the CA bundle, and no credentials. */
	snprintf(path, sizeof(path), "%s/etc/passwd", f->root);
	CHECK(read_file(path, &data, &len, 1 << 20, &err) == 0, "%s", err.msg);
	e = len == pw->data_len && memcmp(data, pw->data, len) == 0;
	free(data);
	CHECK(e, "%s is not the generated passwd", path);
	snprintf(path, sizeof(path), "%s" BOTTLE_CA_BUNDLE, f->root);
	CHECK(read_file(path, &data, &len, 1 << 20, &err) == 0, "%s", err.msg);
	e = len == strlen(CA_TEXT) && memcmp(data, CA_TEXT, len) == 0;
	free(data);
	CHECK(e, "%s is not the plan's CA bundle", path);
	snprintf(path, sizeof(path), "%s/opt/data/file", f->root);
	CHECK(read_file(path, &data, &len, 1 << 20, &err) == 0, "%s", err.msg);
	e = len == 3 && memcmp(data, "ro\n", 3) == 0;
	free(data);
	CHECK(e, "%s is not the manifest's ro mount", path);
	snprintf(path, sizeof(path), "%s/etc/shadow", f->root);
	CHECK(access("/etc/shadow", F_OK) < 0 || lstat(path, &st) < 0,
	      "%s is visible", path);

	/* Mount points: the shares' and the guest's, empty directories. */
	for (size_t i = 0; i < f->l.n_rw; i++) {
		snprintf(path, sizeof(path), "%s%s", f->root,
			 f->l.rw[i].target);
		CHECK(empty_dir(path), "share mount point %s: not an empty dir",
		      path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(guest_mounts); i++) {
		snprintf(path, sizeof(path), "%s%s", f->root, guest_mounts[i]);
		CHECK(empty_dir(path), "guest mount point %s: not an empty dir",
		      path);
	}

	/* Read-only everywhere, rw mount points included (the guest mounts
	 * the shares over them). */
	CHECK(mounts_under(f->root, false) >= 5, "too few mounts under %s",
	      f->root);
	CHECK(mounts_under(f->root, true) == 0,
	      "a mount under %s is not ro,nosuid,nodev", f->root);
	for (size_t i = 0; i < ARRAY_SIZE(rofs); i++) {
		snprintf(path, sizeof(path), "%s%s/vmtree-probe", f->root,
			 rofs[i]);
		CHECK((e = try_create(path, false)) == EROFS,
		      "creating %s: %s, not EROFS", path, strerror(e));
		CHECK((e = try_create(path, true)) == EROFS,
		      "mkdir %s: %s, not EROFS", path, strerror(e));
	}
	for (size_t i = 0; i < f->l.n_rw; i++) {
		snprintf(path, sizeof(path), "%s%s/x", f->root,
			 f->l.rw[i].target);
		CHECK((e = try_create(path, false)) == EROFS,
		      "creating %s: %s, not EROFS", path, strerror(e));
	}
	snprintf(path, sizeof(path), "%s/etc/passwd", f->root);
	e = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(e < 0 && errno == EROFS, "%s opens for writing", path);
	return 0;
}

static void test_tree(void **state)
{
	struct fixture *f = *state;
	int before;

	if (geteuid() != 0) {
		print_message("not root: the tree needs a mount namespace\n");
		skip();
	}
	before = mounts_under(f->dir, false);
	in_mount_ns(f, check_tree);
	/* Nothing reached the host's mount table, nothing was written. */
	assert_int_equal(mounts_under(f->dir, false), before);
	assert_int_equal(before, 0);
	assert_true(empty_dir(f->root));
}

/* Without the plan's final remount-ro of /, the root tmpfs would stay
 * writable; the tree is read-only all the same. */
static int check_no_final_remount(struct fixture *f, char *msg, size_t n)
{
	struct error err = ERROR_INIT;
	char path[PATH_MAX];
	int e;

	if (vm_tree_build(&f->l, f->root, &err) < 0)
		CHECK(false, "vm_tree_build: %s", err.msg);
	CHECK(mounts_under(f->root, true) == 0,
	      "a mount under %s is not ro,nosuid,nodev", f->root);
	snprintf(path, sizeof(path), "%s/x", f->root);
	CHECK((e = try_create(path, false)) == EROFS,
	      "creating %s: %s, not EROFS", path, strerror(e));
	return 0;
}

static void test_tree_readonly_regardless(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	int r;

	if (geteuid() != 0) {
		print_message("not root: the tree needs a mount namespace\n");
		skip();
	}
	assert_int_equal(f->p->ops[f->p->n_ops - 1].type, SETUP_REMOUNT_RO);
	vm_layout_release(&f->l);
	f->p->n_ops--;
	r = vm_layout_build(f->p, &f->l, &err);
	f->p->n_ops++;
	if (r < 0)
		fail_msg("vm_layout_build: %s", err.msg);
	in_mount_ns(f, check_no_final_remount);
}

/* A failing op: its error, and nothing left mounted on root. */
static int check_failure(struct fixture *f, char *msg, size_t n)
{
	struct error err = ERROR_INIT;
	int r = vm_tree_build(&f->l, f->root, &err);

	CHECK(r < 0, "vm_tree_build succeeded");
	CHECK(strstr(err.msg, "setup ro-bind " BOTTLE_CA_BUNDLE) &&
		  strstr(err.msg, "a symlink appeared"),
	      "unexpected error: %s", err.msg);
	CHECK(mounts_under(f->root, false) == 0, "mounts left on %s", f->root);
	CHECK(empty_dir(f->root), "%s not empty", f->root);
	return 0;
}

static void test_tree_symlinked_source(void **state)
{
	struct fixture *f = *state;
	char run[160], moved[160];

	if (geteuid() != 0) {
		print_message("not root: the tree needs a mount namespace\n");
		skip();
	}
	/* The run dir swapped for a symlink to where it went. */
	snprintf(run, sizeof(run), "%s/state/a-123456/run", f->dir);
	snprintf(moved, sizeof(moved), "%s/elsewhere", f->dir);
	assert_int_equal(rename(run, moved), 0);
	assert_int_equal(symlink(moved, run), 0);
	in_mount_ns(f, check_failure);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_split_refused),
	    cmocka_unit_test_setup_teardown(test_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tree_readonly_regardless,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tree_symlinked_source, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
