/* Executing setup ops, after bubblewrap's setup-op executor.
 *
 * Each mount is made read-only/nosuid/nodev with mount_setattr(AT_RECURSIVE),
 * which also covers submounts that a plain MS_REMOUNT would leave writable.
 * Bind sources come from descriptors opened beforehand without following
 * symlinks, never from re-resolving the host path.  The callers (ns: inside
 * the bottle's namespaces, after pivoting into a scratch root; vm: the
 * host-side tree in the keeper's mount namespace) say where the host's tree
 * and the new root are.
 */
#include "backend/mounts.h"

#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Set attributes on the mount at path and every mount below it. */
static int setattr_rec(const char *path, uint64_t set)
{
	struct mount_attr a = {.attr_set = set};
	return mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a));
}

static int mkdir_parents(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* out = a + "/" + b; -ENAMETOOLONG rather than a truncated path. */
static int path_join(char *out, size_t n, const char *a, const char *b)
{
	int w = snprintf(out, n, "%s/%s", a, b);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* Create the mount point for a bind of src: a dir or an empty file. */
static int make_mountpoint(const char *dst, bool dir)
{
	struct stat st;
	int r;

	/* Already there, e.g. a file inside a read-only bind we cover. */
	if (lstat(dst, &st) == 0 && S_ISDIR(st.st_mode) == dir)
		return 0;
	r = mkdir_parents(dst, 0755);

	if (r < 0)
		return r;
	if (dir) {
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return -errno;
		return 0;
	}
	r = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (r < 0)
		return errno == EEXIST ? 0 : -errno;
	close(r);
	return 0;
}

static int do_bind(const char *src, const char *dst, uint64_t attrs,
		   bool optional, struct error *err)
{
	struct stat st;
	int r;

	if (stat(src, &st) < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return err_sys(err, errno, "bind source %s", src);
	}
	if ((r = make_mountpoint(dst, S_ISDIR(st.st_mode))) < 0)
		return err_sys(err, -r, "creating mount point %s", dst);
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_sys(err, errno, "bind %s", src);
	if (setattr_rec(dst, attrs) < 0)
		return err_sys(err, errno, "restricting %s", dst);
	return 0;
}

static int do_tmpfs(const struct setup_op *op, const char *dst,
		    struct error *err)
{
	char opts[64];
	unsigned long flags = MS_NOSUID | MS_NODEV;
	int r;

	if (op->flags & SETUP_NOEXEC)
		flags |= MS_NOEXEC;
	if ((r = make_mountpoint(dst, true)) < 0)
		return err_sys(err, -r, "creating %s", dst);
	if (op->size)
		snprintf(opts, sizeof(opts), "mode=%o,size=%llu",
			 (unsigned)op->mode, (unsigned long long)op->size);
	else
		snprintf(opts, sizeof(opts), "mode=%o", (unsigned)op->mode);
	if (mount("tmpfs", dst, "tmpfs", flags, opts) < 0)
		return err_sys(err, errno, "tmpfs");
	return 0;
}

static int do_file(const struct setup_op *op, const char *dst,
		   struct error *err)
{
	int fd, r;

	if ((r = mkdir_parents(dst, 0755)) < 0)
		return err_sys(err, -r, "creating parents");
	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  op->mode);
	if (fd < 0)
		return err_sys(err, errno, "creating");
	r = write_all(fd, op->data, op->data_len);
	close(fd);
	if (r < 0)
		return err_sys(err, -r, "writing");
	return 0;
}

/* Per-entry fallback of do_bind_dir(): bind each entry of src into dst,
 * except the hidden names.  The mount point type comes from d_type; the
 * binds get no attributes here, the plan's recursive remount of the target
 * makes them all read-only, nosuid and nodev in one call. */
static int bind_entry(const char *s, const char *t, unsigned char type,
		      struct error *err)
{
	char link[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (type == DT_UNKNOWN) {
		if (lstat(s, &st) < 0)
			return 0; /* vanished meanwhile */
		type = S_ISDIR(st.st_mode)   ? DT_DIR
		       : S_ISLNK(st.st_mode) ? DT_LNK
					     : DT_REG;
	}
	if (type == DT_LNK) {
		/* Recreate symlinks rather than binding their targets:
		 * cheaper, and the target resolves inside. */
		n = readlink(s, link, sizeof(link) - 1);
		if (n < 0)
			return 0;
		link[n] = '\0';
		if (symlink(link, t) < 0 && errno != EEXIST)
			return err_sys(err, errno, "symlink %s", t);
		return 0;
	}
	if (type == DT_DIR) {
		if (mkdir(t, 0755) < 0 && errno != EEXIST)
			return err_sys(err, errno, "mkdir %s", t);
	} else {
		fd = open(t, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0)
			return err_sys(err, errno, "creating %s", t);
		close(fd);
	}
	if (mount(s, t, NULL, MS_BIND | MS_REC, NULL) < 0 && errno != ENOENT)
		return err_sys(err, errno, "bind %s", s);
	return 0;
}

static bool is_hidden(const struct setup_op *op, const char *name)
{
	for (char **x = op->except; x && *x; x++)
		if (strcmp(*x, name) == 0)
			return true;
	return false;
}

static int bind_entries(const struct setup_op *op, DIR *d, const char *src,
			const char *dst, struct error *err)
{
	struct dirent *e;
	int r = 0;

	while ((e = readdir(d)) && r == 0) {
		char s[PATH_MAX], t[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 || is_hidden(op, e->d_name) ||
		    path_join(s, sizeof(s), src, e->d_name) < 0 ||
		    path_join(t, sizeof(t), dst, e->d_name) < 0 ||
		    lstat(t, &st) == 0) /* generated, or already there */
			continue;
		r = bind_entry(s, t, e->d_type, err);
	}
	return r;
}

/* Whiteouts (0/0 character devices) in dst for the hidden names that
 * exist in src.  remove: take them away again. */
static int whiteouts(const struct setup_op *op, const char *src,
		     const char *dst, bool remove)
{
	for (char **x = op->except; x && *x; x++) {
		char s[PATH_MAX], t[PATH_MAX];
		struct stat st;

		if (path_join(s, sizeof(s), src, *x) < 0 ||
		    path_join(t, sizeof(t), dst, *x) < 0)
			return -ENAMETOOLONG;
		if (remove) {
			if (lstat(t, &st) == 0 && S_ISCHR(st.st_mode) &&
			    st.st_rdev == 0)
				unlink(t);
			continue;
		}
		if (lstat(s, &st) < 0 || lstat(t, &st) == 0)
			continue; /* not on the host, or generated */
		if (mknod(t, S_IFCHR | 0600, 0) < 0)
			return -errno;
	}
	return 0;
}

/* The host's dir src at dst, minus the hidden names, with what the plan
 * already wrote into dst (generated files) on top.  One read-only overlay
 * with dst itself as the upper lower layer: the hidden names are whiteouts
 * there, so inside they are absent, not empty.  That is one mount where
 * binding each entry would be ~140.  Where overlayfs is not available
 * (or a path cannot go into its options) each entry is bound instead.
 * Overlays show no submounts of src; /etc's usual ones (hosts,
 * resolv.conf in containers) are generated anyway. */
static int do_bind_dir(const struct setup_op *op, const char *src,
		       const char *dst, struct error *err)
{
	char opts[2 * PATH_MAX + 32];
	DIR *d;
	int r, n;

	if (mkdir(dst, 0755) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir %s", dst);
	n = snprintf(opts, sizeof(opts), "lowerdir=%s:%s", dst, src);
	if (n > 0 && (size_t)n < sizeof(opts) && !strpbrk(src, ":,\\") &&
	    !strpbrk(dst, ":,\\") && whiteouts(op, src, dst, false) == 0 &&
	    mount("overlay", dst, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
		  opts) == 0)
		return 0;
	whiteouts(op, src, dst, true);
	d = opendir(src);
	if (!d)
		return err_sys(err, errno, "opening %s", src);
	r = bind_entries(op, d, src, dst, err);
	closedir(d);
	return r;
}

static int do_proc(const char *dst, struct error *err)
{
	/* Parts of /proc that act on the host kernel stay read-only. */
	static const char *const ro[] = {"sys", "sysrq-trigger", "irq", "bus",
					 "fs"};
	int r;

	if ((r = make_mountpoint(dst, true)) < 0)
		return err_sys(err, -r, "creating %s", dst);
	if (mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	    0)
		return err_sys(err, errno, "mounting proc");
	for (size_t i = 0; i < ARRAY_SIZE(ro); i++) {
		char p[PATH_MAX];
		if (path_join(p, sizeof(p), dst, ro[i]) < 0 ||
		    access(p, F_OK) < 0)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    setattr_rec(p, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
				       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) <
			0)
			return err_sys(err, errno, "protecting %s", p);
	}
	return 0;
}

static int exec_op(const struct setup_op *op, const char *src, const char *dst,
		   struct error *err)
{
	const uint64_t ro =
	    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	int r;

	switch (op->type) {
	case SETUP_TMPFS:
		return do_tmpfs(op, dst, err);
	case SETUP_DIR:
		if ((r = mkdir_parents(dst, 0755)) < 0 ||
		    (mkdir(dst, op->mode) < 0 && errno != EEXIST))
			return err_sys(err, r < 0 ? -r : errno, "mkdir");
		return 0;
	case SETUP_RO_BIND:
		return do_bind(src, dst, ro, op->flags & SETUP_OPTIONAL, err);
	case SETUP_BIND:
		return do_bind(src, dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
			       op->flags & SETUP_OPTIONAL, err);
	case SETUP_DEV_BIND:
		return do_bind(src, dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
			       false, err);
	case SETUP_RO_BIND_DIR:
		return do_bind_dir(op, src, dst, err);
	case SETUP_FILE:
		return do_file(op, dst, err);
	case SETUP_SYMLINK:
		if ((r = mkdir_parents(dst, 0755)) < 0)
			return err_sys(err, -r, "creating parents");
		if (symlink(op->source, dst) < 0 && errno != EEXIST)
			return err_sys(err, errno, "symlink");
		return 0;
	case SETUP_PROC:
		return do_proc(dst, err);
	case SETUP_DEVPTS:
		if ((r = make_mountpoint(dst, true)) < 0)
			return err_sys(err, -r, "creating");
		if (mount("devpts", dst, "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=620") < 0)
			return err_sys(err, errno, "mounting devpts");
		return 0;
	case SETUP_MQUEUE:
		if ((r = make_mountpoint(dst, true)) < 0)
			return err_sys(err, -r, "creating");
		/* Optional: some kernels lack CONFIG_POSIX_MQUEUE. */
		if (mount("mqueue", dst, "mqueue",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			rmdir(dst);
		return 0;
	case SETUP_REMOUNT_RO: {
		struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
		if (op->flags & SETUP_RECURSIVE)
			r = setattr_rec(dst, ro);
		else
			r = mount_setattr(AT_FDCWD, dst, 0, &a, sizeof(a));
		if (r < 0)
			return err_sys(err, errno, "remount read-only");
		return 0;
	}
	}
	BUG("unknown setup op %d", (int)op->type);
}

bool mounts_op_binds(const struct setup_op *op)
{
	return op->type == SETUP_RO_BIND || op->type == SETUP_BIND ||
	       op->type == SETUP_DEV_BIND;
}

int mounts_open_source(const struct setup_op *op, int *fd, struct error *err)
{
	/* The plan holds canonical paths (the CLI resolved them before
	 * printing it), so a symlink now means someone swapped one in, e.g.
	 * an agent editing a directory it can write between two runs. */
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve =
				   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};

	*fd = -1;
	if (!mounts_op_binds(op))
		return 0;
	*fd =
	    (int)syscall(SYS_openat2, AT_FDCWD, op->source, &how, sizeof(how));
	if (*fd >= 0)
		return 0;
	if (errno == ENOENT && (op->flags & SETUP_OPTIONAL))
		return 0;
	if (errno == ELOOP)
		return err_set(err, ELOOP,
			       "bind source %s: a symlink appeared in its "
			       "path since the plan was made; refusing it",
			       op->source);
	return err_sys(err, errno, "bind source %s", op->source);
}

int mounts_exec(const struct setup_op *op, int src_fd,
		const struct mounts_where *w, struct error *err)
{
	char src[PATH_MAX] = "", dst[PATH_MAX];
	int n, r;

	if (mounts_op_binds(op) && src_fd < 0)
		return 0; /* optional and absent */
	n = snprintf(dst, sizeof(dst), "%s%s", w->dst,
		     strcmp(op->target, "/") == 0 ? "" : op->target);
	if (n < 0 || (size_t)n >= sizeof(dst))
		return err_set(err, ENAMETOOLONG, "setup %s %s: path too long",
			       setup_op_type_name(op->type), op->target);
	/* The host's procfs is at w->src/proc: bind from the pre-opened
	 * descriptor, never re-resolving the host path. */
	if (src_fd >= 0)
		n = snprintf(src, sizeof(src), "%s/proc/self/fd/%d", w->src,
			     src_fd);
	else if (op->source)
		n = snprintf(src, sizeof(src), "%s%s", w->src, op->source);
	if (n < 0 || (size_t)n >= sizeof(src))
		return err_set(err, ENAMETOOLONG, "setup %s %s: path too long",
			       setup_op_type_name(op->type), op->target);
	if ((r = exec_op(op, src, dst, err)) < 0)
		return err_prefix(err, "setup %s %s",
				  setup_op_type_name(op->type), op->target);
	return 0;
}
