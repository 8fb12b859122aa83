#include "fsutil.h"

#include "log.h"
#include "strbuf.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_closedir_ __attribute__((cleanup(closedirp)))

/* Open the directory holding path's last component, and return that
 * component (caller frees).  Trailing slashes are ignored; "/", "." and
 * ".." have no usable last component. */
static int open_parent(const char *path, int *dfd, char **base,
		       struct error *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t n = strlen(p);
	const char *dir = ".", *b = p;
	char *slash;
	int fd;

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	slash = strrchr(p, '/');
	if (slash) {
		*slash = '\0';
		b = slash + 1;
		dir = slash == p ? "/" : p;
	}
	if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
		return err_set(err, EINVAL, "%s: no last path component", path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "opening %s", dir);
	*dfd = fd;
	*base = xstrdup(b);
	return 0;
}

/* ---- write_file_atomic, read_file, mkdir_p ---- */

static int write_file_rename(const char *path, const void *data, size_t len,
			     mode_t mode, bool durable, struct error *err)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	_cleanup_free_ char *base = NULL, *tmp = NULL;
	int r;

	r = open_parent(path, &dfd, &base, err);
	if (r < 0)
		return r;
	tmp = xasprintf(".%s.tmp.%d", base, (int)getpid());
	/* a leftover of a crashed process that had our pid */
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, errno, "creating temp file for %s", path);
	r = write_all(fd, data, len);
	if (r < 0) {
		err_sys(err, -r, "writing %s", path);
		goto fail;
	}
	if (fchmod(fd, mode) < 0 || (durable && fsync(fd) < 0) ||
	    close(steal_fd(&fd)) < 0) {
		r = err_sys(err, errno, "writing %s", path);
		goto fail;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		r = err_sys(err, errno, "renaming temp file to %s", path);
		goto fail;
	}
	/* make the rename durable; some filesystems cannot fsync dirs */
	if (durable && fsync(dfd) < 0 && errno != EINVAL)
		return err_sys(err, errno, "syncing directory of %s", path);
	return 0;
fail:
	(void)unlinkat(dfd, tmp, 0);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct error *err)
{
	return write_file_rename(path, data, len, mode, true, err);
}

int write_file_replace(const char *path, const void *data, size_t len,
		       mode_t mode, struct error *err)
{
	return write_file_rename(path, data, len, mode, false, err);
}

char *canonical_path(const char *path)
{
	_cleanup_free_ char *head = NULL;
	char *real, *slash, *out;

	if (!path || path[0] != '/')
		return NULL;
	real = realpath(path, NULL);
	if (real)
		return real;
	head = xstrdup(path);
	slash = strrchr(head, '/');
	if (slash == head)
		return xstrdup(path); /* "/x" with no /x: nothing to resolve */
	*slash = '\0';
	real = canonical_path(head);
	out = xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, slash + 1);
	free(real);
	return out;
}

/* name in dir, else in dir/../libexec/bottle, if executable. */
static char *find_sibling(const char *dir, const char *name)
{
	_cleanup_free_ char *here = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *lx =
	    xasprintf("%s/../libexec/bottle/%s", dir, name);
	char *p;

	if (access(here, X_OK) == 0)
		return canonical_path(here);
	p = canonical_path(lx);
	if (p && access(p, X_OK) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

char *helper_path(const char *name)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return find_sibling(self, name);
}

int read_file(const char *path, char **out, size_t *len, size_t max,
	      struct error *err)
{
	_cleanup_close_ int fd = -1;
	struct strbuf sb = STRBUF_INIT;
	size_t cap = max < SIZE_MAX ? max + 1 : max; /* read one past max */
	struct stat st;
	ssize_t n;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, errno, "opening %s", path);
	if (S_ISDIR(st.st_mode))
		return err_set(err, EISDIR, "%s: is a directory", path);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		goto too_big;
	strbuf_grow(&sb, S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096);
	for (;;) {
		size_t want = sb.alloc - sb.len - 1;
		if (want == 0) {
			strbuf_grow(&sb, sb.alloc);
			continue;
		}
		if (want > cap - sb.len)
			want = cap - sb.len;
		n = read(fd, sb.buf + sb.len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			strbuf_release(&sb);
			return err_sys(err, errno, "reading %s", path);
		}
		if (n == 0)
			break;
		sb.len += (size_t)n;
		if (sb.len > max) {
			strbuf_release(&sb);
			goto too_big;
		}
	}
	sb.buf[sb.len] = '\0';
	*out = strbuf_detach(&sb, len);
	return 0;
too_big:
	return err_set(err, EFBIG, "%s: larger than the limit of %zu bytes",
		       path, max);
}

int mkdir_p(const char *path, mode_t mode, struct error *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	char *s = p, c;
	struct stat st;

	if (!*p)
		return err_set(err, EINVAL, "mkdir: empty path");
	do {
		s += strspn(s, "/");
		s += strcspn(s, "/");
		c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0) {
			if (errno != EEXIST)
				return err_sys(err, errno, "creating %s", p);
			if (stat(p, &st) < 0)
				return err_sys(err, errno, "checking %s", p);
			if (!S_ISDIR(st.st_mode))
				return err_set(
				    err, ENOTDIR,
				    "%s: exists and is not a directory", p);
		}
		*s = c;
	} while (c);
	return 0;
}

/* ---- rm_rf ---- */

/* Identifies a mount: st_dev alone does not tell bind mounts of one
 * filesystem apart, the mount id does (0 if the kernel lacks it). */
struct mount_key {
	dev_t dev;
	uint64_t mnt_id;
};

static int mount_key_at(int dfd, const char *name, int flags,
			struct mount_key *k, mode_t *mode)
{
	struct statx stx;

	if (statx(dfd, name, flags | AT_SYMLINK_NOFOLLOW,
		  STATX_TYPE | STATX_MODE | STATX_MNT_ID, &stx) < 0)
		return -errno;
	k->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	k->mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
	if (mode)
		*mode = stx.stx_mode;
	return 0;
}

static bool same_mount(const struct mount_key *a, const struct mount_key *b)
{
	return a->dev == b->dev && a->mnt_id == b->mnt_id;
}

struct rm_ctx {
	struct mount_key root;
	struct strbuf path; /* of the entry at hand, for messages */
	struct error *err;
};

static int rm_dir_contents(struct rm_ctx *c, int pfd, const char *name);

/* Remove the entry name in directory dfd (its path is in c->path). */
static int rm_entry(struct rm_ctx *c, int dfd, const char *name, bool is_dir)
{
	int r;

	if (!is_dir) {
		if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
			return 0;
		if (errno != EISDIR)
			return err_sys(c->err, errno, "removing %s",
				       c->path.buf);
	}
	r = rm_dir_contents(c, dfd, name);
	if (r < 0)
		return r;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_sys(c->err, errno, "removing %s", c->path.buf);
	return 0;
}

/* Open directory name in pfd for removing its contents: on the root's
 * mount, readable and writable by us (chmod u+rwx if not). */
static int rm_open_dir(struct rm_ctx *c, int pfd, const char *name)
{
	struct mount_key k;
	struct stat st;
	mode_t mode;
	int fd, r;

	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		/* Check before the chmod that this is still a directory of
		 * our mount; AT_SYMLINK_NOFOLLOW keeps a symlink swapped in
		 * since from redirecting the chmod. */
		r = mount_key_at(pfd, name, 0, &k, &mode);
		if (r < 0)
			return err_sys(c->err, -r, "checking %s", c->path.buf);
		if (!S_ISDIR(mode) || !same_mount(&k, &c->root))
			return err_set(c->err, EXDEV,
				       "%s: refusing to cross into another "
				       "mount",
				       c->path.buf);
		if (fchmodat(pfd, name, S_IRWXU, AT_SYMLINK_NOFOLLOW) < 0)
			return err_sys(c->err, errno, "making %s writable",
				       c->path.buf);
		fd = openat(pfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(c->err, errno, "opening %s", c->path.buf);
	r = mount_key_at(fd, "", AT_EMPTY_PATH, &k, NULL);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return err_sys(c->err, -r, "checking %s", c->path.buf);
	}
	if (!same_mount(&k, &c->root)) {
		close(fd);
		return err_set(c->err, EXDEV,
			       "%s: refusing to cross into another mount",
			       c->path.buf);
	}
	if ((st.st_mode & S_IRWXU) != S_IRWXU &&
	    fchmod(fd, (st.st_mode & 07777) | S_IRWXU) < 0) {
		close(fd);
		return err_sys(c->err, errno, "making %s writable",
			       c->path.buf);
	}
	return fd;
}

static int rm_dir_contents(struct rm_ctx *c, int pfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	size_t plen = c->path.len;
	struct dirent *e;
	int fd, r;

	fd = rm_open_dir(c, pfd, name);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(c->err, errno, "reading %s", c->path.buf);
	}
	/* Deleting entries while reading the directory is fine on Linux:
	 * each entry is still returned at most once. */
	while ((errno = 0, e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		strbuf_addf(&c->path, "/%s", e->d_name);
		r = rm_entry(c, fd, e->d_name, e->d_type == DT_DIR);
		c->path.len = plen;
		c->path.buf[plen] = '\0';
		if (r < 0)
			return r;
	}
	if (errno)
		return err_sys(c->err, errno, "reading %s", c->path.buf);
	return 0;
}

/* rm -rf of name in pfd, for rm_rf() and for undoing a failed copy. */
static int rm_rf_at(int pfd, const char *name, const char *path,
		    struct error *err)
{
	struct rm_ctx c = {.path = STRBUF_INIT, .err = err};
	mode_t mode;
	int r;

	r = mount_key_at(pfd, name, 0, &c.root, &mode);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_sys(err, -r, "checking %s", path);
	strbuf_addstr(&c.path, path);
	r = rm_entry(&c, pfd, name, S_ISDIR(mode));
	strbuf_release(&c.path);
	return r;
}

int rm_rf(const char *path, struct error *err)
{
	_cleanup_close_ int pfd = -1;
	_cleanup_free_ char *base = NULL;
	int r;

	r = open_parent(path, &pfd, &base, err);
	if (r == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return rm_rf_at(pfd, base, path, err);
}

/* ---- copy_tree ---- */

/* Files with more than one link, by (dev, ino), with the path of their
 * first copy relative to the destination root.  Open addressing. */
struct link_entry {
	dev_t dev;
	ino_t ino;
	char *rel;
};

struct link_table {
	struct link_entry *v;
	size_t n, cap; /* cap is 0 or a power of two */
};

static size_t link_slot(const struct link_table *t, dev_t dev, ino_t ino)
{
	uint64_t h =
	    ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 20) & (t->cap - 1);

	while (t->v[i].rel && (t->v[i].dev != dev || t->v[i].ino != ino))
		i = (i + 1) & (t->cap - 1);
	return i;
}

static const char *link_find(const struct link_table *t, dev_t dev, ino_t ino)
{
	return t->cap ? t->v[link_slot(t, dev, ino)].rel : NULL;
}

static void link_add(struct link_table *t, dev_t dev, ino_t ino,
		     const char *rel)
{
	size_t i;

	if (st_mult(t->n + 1, 2) > t->cap) {
		struct link_table old = *t;
		t->cap = t->cap ? st_mult(t->cap, 2) : 64;
		t->v = xcalloc(t->cap, sizeof(*t->v));
		for (i = 0; i < old.cap; i++)
			if (old.v[i].rel)
				t->v[link_slot(t, old.v[i].dev, old.v[i].ino)] =
				    old.v[i];
		free(old.v);
	}
	i = link_slot(t, dev, ino);
	t->v[i] = (struct link_entry){dev, ino, xstrdup(rel)};
	t->n++;
}

static void link_table_release(struct link_table *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		free(t->v[i].rel);
	free(t->v);
}

#define COPY_BUF_SIZE (128 * 1024)
#define PROGRESS_NS   (100 * 1000 * 1000ull)

struct copy_ctx {
	const struct copy_opts *opts;
	struct copy_stats *st;
	const char *src;   /* for messages */
	int dst_root;	   /* target of hard links' relative paths */
	dev_t dst_dev;	   /* the destination root, to refuse copying */
	ino_t dst_ino;	   /* a tree into itself */
	struct strbuf rel; /* of the entry at hand, relative to the roots */
	struct link_table links;
	char *buf;	/* for the read/write fallback */
	bool try_clone; /* cleared once the fs says it cannot */
	uint64_t last_progress;
	struct error *err;
};

static int copy_fail(struct copy_ctx *c, int code, const char *what)
{
	return err_sys(c->err, code, "%s %s/%s", what, c->src, c->rel.buf);
}

static bool want_chown(const struct copy_ctx *c)
{
	return c->opts->uid != (uid_t)-1 || c->opts->gid != (gid_t)-1;
}

static void maybe_progress(struct copy_ctx *c)
{
	uint64_t now;

	if (!c->opts->on_progress)
		return;
	now = now_ns();
	if (now - c->last_progress < PROGRESS_NS)
		return;
	c->last_progress = now;
	c->opts->on_progress(c->st, c->opts->progress_arg);
}

/* Owner first: chown clears setuid/setgid bits, chmod puts them back. */
static int set_meta_fd(struct copy_ctx *c, int fd, const struct stat *st)
{
	const struct timespec ts[2] = {st->st_atim, st->st_mtim};

	if (want_chown(c) && fchown(fd, c->opts->uid, c->opts->gid) < 0)
		return copy_fail(c, errno, "changing owner of");
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return copy_fail(c, errno, "changing mode of");
	if (futimens(fd, ts) < 0)
		return copy_fail(c, errno, "setting times of");
	return 0;
}

static int copy_rw(struct copy_ctx *c, int in, int out)
{
	ssize_t n;
	int r;

	if (!c->buf)
		c->buf = xmalloc(COPY_BUF_SIZE);
	for (;;) {
		n = read(in, c->buf, COPY_BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return copy_fail(c, errno, "reading");
		if (n == 0)
			return 0;
		r = write_all(out, c->buf, (size_t)n);
		if (r < 0)
			return copy_fail(c, -r, "writing");
		c->st->bytes += (uint64_t)n;
	}
}

static int copy_data(struct copy_ctx *c, int in, int out, off_t size)
{
	uint64_t done = 0;
	ssize_t n;

	if (c->try_clone && size > 0) {
		if (ioctl(out, FICLONE, in) == 0) {
			c->st->reflinked++;
			c->st->bytes += (uint64_t)size;
			return 0;
		}
		if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL)
			c->try_clone = false;
	}
	/* Files that claim to be empty may be pseudo files whose content
	 * copy_file_range cannot see: read them. */
	if (size == 0)
		return copy_rw(c, in, out);
	for (;;) {
		n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
		if (n > 0) {
			done += (uint64_t)n;
			c->st->bytes += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (done == 0 &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		     errno == EOPNOTSUPP || errno == EBADF))
			return copy_rw(c, in, out);
		return copy_fail(c, errno, "copying");
	}
}

static int copy_reg(struct copy_ctx *c, int sdir, int ddir, const char *name)
{
	_cleanup_close_ int in = -1, out = -1;
	const char *first = NULL;
	struct stat st;
	int r;

	/* O_NONBLOCK: should a fifo have been swapped in since the
	 * fstatat(), opening it must not hang. */
	in = openat(sdir, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return copy_fail(c, errno, "opening");
	if (!S_ISREG(st.st_mode))
		return err_set(c->err, EAGAIN, "%s/%s: changed during the copy",
			       c->src, c->rel.buf);
	if (st.st_nlink > 1) {
		first = link_find(&c->links, st.st_dev, st.st_ino);
		/* should linkat fail (say, the first copy's directory is not
		 * searchable), a second copy of the content does */
		if (first && linkat(c->dst_root, first, ddir, name, 0) == 0) {
			c->st->hardlinks++;
			return 0;
		}
	}
	out =
	    openat(ddir, name,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return copy_fail(c, errno, "creating copy of");
	r = copy_data(c, in, out, st.st_size);
	if (r == 0)
		r = set_meta_fd(c, out, &st);
	if (r < 0)
		return r;
	if (close(steal_fd(&out)) < 0)
		return copy_fail(c, errno, "writing");
	if (st.st_nlink > 1 && !first)
		link_add(&c->links, st.st_dev, st.st_ino, c->rel.buf);
	c->st->files++;
	return 0;
}

static int copy_symlink(struct copy_ctx *c, int sdir, int ddir,
			const char *name, const struct stat *st)
{
	const struct timespec ts[2] = {st->st_atim, st->st_mtim};
	size_t size = (size_t)st->st_size + 1;
	_cleanup_free_ char *target = NULL;
	ssize_t n;

	/* st_size is the target's length, but may be 0 (procfs) or stale */
	for (;;) {
		target = xrealloc(target, size);
		n = readlinkat(sdir, name, target, size);
		if (n < 0)
			return copy_fail(c, errno, "reading link");
		if ((size_t)n < size)
			break;
		size = st_mult(size, 2);
	}
	target[n] = '\0';
	if (symlinkat(target, ddir, name) < 0)
		return copy_fail(c, errno, "creating link");
	if (want_chown(c) && fchownat(ddir, name, c->opts->uid, c->opts->gid,
				      AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, "changing owner of link");
	if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, "setting times of link");
	c->st->symlinks++;
	return 0;
}

static int copy_dir_contents(struct copy_ctx *c, DIR *sd, int ddir);

/* Copy the open source directory sfd (consumed) into the new, open ddir,
 * and give ddir its metadata after its contents, which may need it
 * writable and change its mtime. */
static int copy_dir_fd(struct copy_ctx *c, int sfd, int ddir)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct stat st;
	int r;

	if (fstat(sfd, &st) < 0) {
		close(sfd);
		return copy_fail(c, errno, "checking");
	}
	if (st.st_dev == c->dst_dev && st.st_ino == c->dst_ino) {
		close(sfd);
		return err_set(c->err, EINVAL,
			       "%s/%s: refusing to copy a tree into itself",
			       c->src, c->rel.buf);
	}
	d = fdopendir(sfd);
	if (!d) {
		close(sfd);
		return copy_fail(c, errno, "reading");
	}
	r = copy_dir_contents(c, d, ddir);
	if (r < 0)
		return r;
	r = set_meta_fd(c, ddir, &st);
	if (r < 0)
		return r;
	c->st->dirs++;
	return 0;
}

static int copy_subdir(struct copy_ctx *c, int sdir, int ddir, const char *name)
{
	_cleanup_close_ int out = -1;
	int in;

	if (mkdirat(ddir, name, 0700) < 0)
		return copy_fail(c, errno, "creating copy of");
	out =
	    openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0)
		return copy_fail(c, errno, "opening copy of");
	in =
	    openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return copy_fail(c, errno, "opening");
	return copy_dir_fd(c, in, out);
}

static int copy_entry(struct copy_ctx *c, int sdir, int ddir, const char *name)
{
	struct stat st;

	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, "checking");
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		return copy_subdir(c, sdir, ddir, name);
	case S_IFREG:
		return copy_reg(c, sdir, ddir, name);
	case S_IFLNK:
		return copy_symlink(c, sdir, ddir, name, &st);
	default: /* sockets, fifos, devices */
		c->st->skipped++;
		return 0;
	}
}

static int copy_dir_contents(struct copy_ctx *c, DIR *sd, int ddir)
{
	size_t rlen = c->rel.len;
	struct dirent *e;
	int r;

	while ((errno = 0, e = readdir(sd))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (rlen)
			strbuf_addch(&c->rel, '/');
		strbuf_addstr(&c->rel, e->d_name);
		r = copy_entry(c, dirfd(sd), ddir, e->d_name);
		c->rel.len = rlen;
		c->rel.buf[rlen] = '\0';
		if (r < 0)
			return r;
		maybe_progress(c);
	}
	if (errno)
		return copy_fail(c, errno, "reading");
	return 0;
}

int copy_tree(const char *src, const char *dst, struct copy_stats *stats,
	      const struct copy_opts *opts, struct error *err)
{
	static const struct copy_opts defaults = COPY_OPTS_INIT;
	struct copy_stats local = COPY_STATS_INIT;
	_cleanup_close_ int pfd = -1, out = -1;
	_cleanup_free_ char *base = NULL;
	struct copy_ctx c = {
	    .opts = opts ? opts : &defaults,
	    .st = stats ? stats : &local,
	    .src = src,
	    .rel = STRBUF_INIT,
	    .try_clone = true,
	    .last_progress = now_ns(),
	    .err = err,
	};
	struct error ignored = ERROR_INIT;
	struct stat st;
	int in, r;

	*c.st = (struct copy_stats)COPY_STATS_INIT;
	in = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, errno, "opening %s", src);
	r = open_parent(dst, &pfd, &base, err);
	if (r < 0) {
		close(in);
		return r;
	}
	if (mkdirat(pfd, base, 0700) < 0) {
		close(in);
		return err_sys(err, errno, "creating %s", dst);
	}
	out =
	    openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0 || fstat(out, &st) < 0) {
		close(in);
		r = err_sys(err, errno, "opening %s", dst);
		goto fail;
	}
	c.dst_root = out;
	c.dst_dev = st.st_dev;
	c.dst_ino = st.st_ino;
	r = copy_dir_fd(&c, in, out);
fail:
	strbuf_release(&c.rel);
	link_table_release(&c.links);
	free(c.buf);
	if (r < 0 && rm_rf_at(pfd, base, dst, &ignored) < 0)
		log_warnx("cleaning up after the failed copy: %s", ignored.msg);
	return r;
}

/* ---- lock_file ---- */

int lock_file(const char *path, int flags, int timeout_ms, int *fd_out,
	      struct error *err)
{
	_cleanup_close_ int fd = -1;
	uint64_t deadline, now;
	long sleep_ms = 1, left_ms;
	struct timespec ts;

	*fd_out = -1;
	if (flags != LOCK_SH && flags != LOCK_EX)
		return err_set(err, EINVAL, "lock_file: bad flags %d", flags);
	fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return err_sys(err, errno, "opening lock file %s", path);
	deadline =
	    now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;
	for (;;) {
		if (flock(fd, flags | (timeout_ms < 0 ? 0 : LOCK_NB)) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return err_sys(err, errno, "locking %s", path);
		now = now_ns();
		if (now >= deadline)
			return err_set(err, ETIMEDOUT,
				       "%s: still locked by another process "
				       "after %d ms",
				       path, timeout_ms);
		/* back off from 1 ms to 50 ms, never past the deadline */
		left_ms = (long)((deadline - now + 999999) / 1000000);
		ts.tv_sec = 0;
		ts.tv_nsec =
		    (sleep_ms < left_ms ? sleep_ms : left_ms) * 1000000;
		nanosleep(&ts, NULL);
		if (sleep_ms < 50)
			sleep_ms *= 2;
	}
	*fd_out = steal_fd(&fd);
	return 0;
}
