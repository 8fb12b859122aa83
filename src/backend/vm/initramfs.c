/* Guest kernel facts and the initramfs builder.  See initramfs.h. */
#include "backend/vm/initramfs.h"

#include "backend/vm/cpio.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

const char *const vm_guest_modules[] = {
    "virtio_mmio", "virtio_console", "virtio_net",
    "virtiofs",	   "virtio_rng",     NULL,
};

#define MODFILE_MAX (64u << 20)
#define INIT_MAX    (64u << 20)

/* x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header
 * has "HdrS" at 0x202 and, at 0x20e, the offset - 0x200 of a NUL-terminated
 * version string whose first word is the release. */
int kernel_release(const char *path, char **out, struct error *err)
{
	unsigned char hdr[0x210];
	char ver[256];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	unsigned off;

	*out = NULL;
	if (fd < 0)
		return err_sys(err, errno, "guest kernel %s", path);
	n = pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return err_sys(err, errno, "reading guest kernel %s", path);
	if ((size_t)n < sizeof(hdr) || memcmp(hdr + 0x202, "HdrS", 4) != 0)
		return err_set(err, ENOEXEC,
			       "guest kernel %s: not an x86 bzImage (no HdrS "
			       "setup header); expected a kernel such as "
			       "/boot/vmlinuz-*",
			       path);
	off = (unsigned)(hdr[0x20e] | hdr[0x20f] << 8) + 0x200;
	n = pread(fd, ver, sizeof(ver) - 1, off);
	if (n <= 0)
		return err_set(err, ENOEXEC,
			       "guest kernel %s: version string out of range",
			       path);
	ver[n] = '\0';
	ver[strcspn(ver, " ")] = '\0';
	if (!ver[0])
		return err_set(err, ENOEXEC,
			       "guest kernel %s: empty version string", path);
	*out = xstrdup(ver);
	return 0;
}

static bool has_moddep(const char *modules_root, const char *release)
{
	_cleanup_free_ char *p =
	    xasprintf("%s/%s/modules.dep", modules_root, release);
	return access(p, R_OK) == 0;
}

int kernel_find(const char *boot_dir, const char *modules_root, char **out,
		struct error *err)
{
	struct utsname u;
	_cleanup_free_ char *best = NULL;
	DIR *d;
	struct dirent *e;

	*out = NULL;
	if (uname(&u) == 0) {
		char *p = xasprintf("%s/vmlinuz-%s", boot_dir, u.release);
		if (access(p, R_OK) == 0 &&
		    has_moddep(modules_root, u.release)) {
			*out = p;
			return 0;
		}
		free(p);
	}
	d = opendir(boot_dir);
	if (!d)
		return err_sys(err, errno, "looking for a guest kernel in %s",
			       boot_dir);
	while ((e = readdir(d))) {
		const char *rel = e->d_name + strlen("vmlinuz-");
		if (strncmp(e->d_name, "vmlinuz-", 8) != 0 || !*rel ||
		    !has_moddep(modules_root, rel))
			continue;
		if (!best || strverscmp(rel, best) > 0) {
			free(best);
			best = xstrdup(rel);
		}
	}
	closedir(d);
	if (!best)
		return err_set(err, ENOENT,
			       "no guest kernel: expected %s/vmlinuz-RELEASE "
			       "with %s/RELEASE/modules.dep (Debian: apt "
			       "install linux-image-cloud-amd64), or name one "
			       "with --kernel",
			       boot_dir, modules_root);
	*out = xasprintf("%s/vmlinuz-%s", boot_dir, best);
	return 0;
}

/* "kernel/drivers/virtio/virtio-rng.ko" -> "virtio_rng" in buf. */
static void mod_name(const char *path, size_t len, char *buf, size_t bufsz)
{
	const char *base = memrchr(path, '/', len);
	size_t n;

	base = base ? base + 1 : path;
	n = (size_t)(path + len - base);
	const char *ko = memmem(base, n, ".ko", 3);
	if (ko)
		n = (size_t)(ko - base);
	if (n >= bufsz)
		n = bufsz - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = base[i] == '-' ? '_' : base[i];
	buf[n] = '\0';
}

static bool same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if ((*a == '-' ? '_' : *a) != (*b == '-' ? '_' : *b))
			return false;
	return *a == *b;
}

/* The line of text (NUL-terminated copy of lines) naming module name. */
static char *find_line(char *text, const char *name, bool dep_format)
{
	char buf[256];

	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *colon = dep_format ? memchr(line, ':', len) : NULL;
		size_t keylen = colon ? (size_t)(colon - line) : len;

		mod_name(line, keylen, buf, sizeof(buf));
		if (keylen && same_name(buf, name))
			return line;
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static bool strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void add_path(char ***v, size_t *n, size_t *alloc, const char *p,
		     size_t len)
{
	char *s = xstrndup(p, len);
	if (strv_has(*v, *n, s)) {
		free(s);
		return;
	}
	ALLOC_GROW(*v, *n + 2, *alloc);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* Append line's dependencies in reverse (depmod lists them so that the
 * last one is loaded first), then the module itself. */
static int add_with_deps(char *line, char ***v, size_t *n, size_t *alloc,
			 struct error *err)
{
	char *nl = strchr(line, '\n');
	size_t len = nl ? (size_t)(nl - line) : strlen(line);
	char *colon = memchr(line, ':', len);
	char *end = line + len;

	if (!colon || colon == line ||
	    !memmem(line, (size_t)(colon - line), ".ko", 3))
		return err_set(err, EINVAL,
			       "modules.dep: line \"%.*s\": expected "
			       "\"PATH.ko: DEP.ko ...\"",
			       (int)(len > 80 ? 80 : len), line);
	for (char *p = end; p > colon + 1;) {
		char *q = p;
		while (q > colon + 1 && q[-1] == ' ')
			q--;
		char *s = q;
		while (s > colon + 1 && s[-1] != ' ')
			s--;
		if (s < q)
			add_path(v, n, alloc, s, (size_t)(q - s));
		p = s;
	}
	add_path(v, n, alloc, line, (size_t)(colon - line));
	return 0;
}

int kmod_resolve(const char *moddir, const char *const *names, char ***out,
		 struct error *err)
{
	_cleanup_free_ char *dep = NULL, *builtin = NULL, *dep_path = NULL,
			    *builtin_path = NULL;
	char **v = NULL;
	size_t n = 0, alloc = 0;
	int r;

	*out = NULL;
	dep_path = xasprintf("%s/modules.dep", moddir);
	builtin_path = xasprintf("%s/modules.builtin", moddir);
	if ((r = read_file(dep_path, &dep, NULL, MODFILE_MAX, err)) < 0)
		return err_prefix(err, "guest kernel modules");
	if (read_file(builtin_path, &builtin, NULL, MODFILE_MAX, err) < 0)
		builtin = xstrdup(""); /* a kernel without built-ins */
	ALLOC_GROW(v, 1, alloc);
	v[0] = NULL;
	for (; names && *names; names++) {
		char *line = find_line(dep, *names, true);
		if (!line) {
			if (find_line(builtin, *names, false))
				continue;
			strv_free(v);
			return err_set(err, ENOENT,
				       "guest kernel module %s: neither in "
				       "%s nor built in (%s)",
				       *names, dep_path, builtin_path);
		}
		if ((r = add_with_deps(line, &v, &n, &alloc, err)) < 0) {
			strv_free(v);
			return r;
		}
	}
	*out = v;
	return 0;
}

char *vm_cache_dir(void)
{
	const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");

	if (x && x[0] == '/')
		return xasprintf("%s/bottle/vm", x);
	if (h && h[0] == '/')
		return xasprintf("%s/.cache/bottle/vm", h);
	return NULL;
}

/* Compressed modules (CONFIG_MODULE_COMPRESS_*): the suffix after ".ko"
 * and the program that decompresses it. */
static const struct compression {
	const char *suffix, *program, *package;
} compressions[] = {
    {".xz", "xz", "xz-utils"},
    {".zst", "zstd", "zstd"},
    {".gz", "gzip", "gzip"},
};

/* One entry of the archive, in memory until we know whether the cache
 * already has it.  A compressed module's data is the file as it is (what
 * the cache key covers); it is decompressed only when the archive is
 * written. */
struct entry {
	char *name;
	mode_t mode; /* type and permissions */
	unsigned rmajor, rminor;
	char *data;
	size_t len;
	const struct compression *comp; /* NULL: a plain file */
	char *src; /* the file it came from, for messages */
};

struct entries {
	struct entry *v;
	size_t n, alloc;
	/* Every file read, one stat_line() each, taken before reading it;
	 * whether one changed too recently (or has a name) to be indexed. */
	struct strbuf inputs;
	struct timespec t0; /* when collecting began */
	bool unindexable;
};

static void entries_release(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->v[i].name);
		free(es->v[i].data);
		free(es->v[i].src);
	}
	free(es->v);
	strbuf_release(&es->inputs);
}

static struct entry *entries_add(struct entries *es, const char *name,
				 mode_t mode)
{
	ALLOC_GROW(es->v, es->n + 1, es->alloc);
	struct entry *e = &es->v[es->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->mode = mode;
	return e;
}

/* The init must be static: the initramfs carries no libraries. */
static int check_static(const char *path, const char *data, size_t len,
			struct error *err)
{
	const Elf64_Ehdr *eh = (const void *)data;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
	    (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return err_set(err, ENOEXEC,
			       "guest init %s: not a 64-bit ELF executable",
			       path);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return err_set(err, ENOEXEC,
				       "guest init %s is dynamically linked; "
				       "the initramfs has no libraries "
				       "(build it -static, without sanitizers)",
				       path);
	}
	return 0;
}

/* The identity of the file at path, which changes whenever its content
 * can have: "DEV INO SIZE MTIME CTIME PATH", or "- - - - - PATH" if it
 * does not exist.  ctime is set by the kernel on every write, rename and
 * chmod and cannot be set back, so a replaced file differs even if its
 * size and mtime (from a package, say) are the same.  Returns the ctime
 * (0 if none). */
static int64_t stat_line(struct strbuf *sb, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		strbuf_addf(sb, "- - - - - %s", path);
		return 0;
	}
	strbuf_addf(sb, "%llu %llu %lld %lld.%09ld %lld.%09ld %s",
		    (unsigned long long)st.st_dev,
		    (unsigned long long)st.st_ino, (long long)st.st_size,
		    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		    (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, path);
	return (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
}

/* Note path as an input, before reading it.  A file changed less than
 * INITRAMFS_SETTLE_MS before we began could change again within the same
 * timestamp tick after our stat, unseen (git's "racily clean" entries):
 * the index is then not written, and the next launch hashes again. */
static void note_input(struct entries *es, const char *path)
{
	int64_t t0 = (int64_t)es->t0.tv_sec * 1000000000 + es->t0.tv_nsec;
	int64_t ctime = stat_line(&es->inputs, path);

	strbuf_addch(&es->inputs, '\n');
	if (strchr(path, '\n') ||
	    ctime > t0 - (int64_t)INITRAMFS_SETTLE_MS * 1000000)
		es->unindexable = true;
}

/* Module file rel (under moddir) as modules/NN-name.ko. */
static int add_module(struct entries *es, size_t i, const char *moddir,
		      const char *rel, struct error *err)
{
	const char *base = strrchr(rel, '/');
	const char *ko = strstr(base ? base : rel, ".ko");
	const struct compression *comp = NULL;
	char name[300], mod[256];
	struct entry *e;

	for (size_t k = 0; ko && ko[3] && k < ARRAY_SIZE(compressions); k++)
		if (strcmp(ko + 3, compressions[k].suffix) == 0)
			comp = &compressions[k];
	if (!ko || (ko[3] && !comp))
		return err_set(
		    err, ENOTSUP,
		    "guest kernel module %s/%s: expected a .ko file, "
		    "plain or compressed (.ko.xz, .ko.zst, .ko.gz)",
		    moddir, rel);
	mod_name(rel, strlen(rel), mod, sizeof(mod));
	snprintf(name, sizeof(name), "modules/%02zu-%s.ko", i, mod);
	e = entries_add(es, name, S_IFREG | 0644);
	e->src = xasprintf("%s/%s", moddir, rel);
	e->comp = comp;
	note_input(es, e->src);
	return read_file(e->src, &e->data, &e->len, MODFILE_MAX, err);
}

int initramfs_check_init(const char *path, struct error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	if ((r = read_file(path, &data, &len, INIT_MAX, err)) < 0)
		return r;
	return check_static(path, data, len, err);
}

static int collect(const struct initramfs_spec *s, struct entries *es,
		   struct error *err)
{
	const char *root = s->modules_root ? s->modules_root : "/lib/modules";
	_cleanup_free_ char *moddir = xasprintf("%s/%s", root, s->release);
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", moddir);
	_cleanup_free_ char *builtin = xasprintf("%s/modules.builtin", moddir);
	char **mods = NULL;
	struct entry *e;
	int r;

	clock_gettime(CLOCK_REALTIME, &es->t0);
	static const char *const dirs[] = {"dev", "proc", "sys", "modules"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		entries_add(es, dirs[i], S_IFDIR | 0755);
	e = entries_add(es, "dev/console", S_IFCHR | 0600);
	e->rmajor = 5;
	e->rminor = 1;
	e = entries_add(es, "init", S_IFREG | 0755);
	note_input(es, s->init_path);
	if ((r = read_file(s->init_path, &e->data, &e->len, INIT_MAX, err)) <
		0 ||
	    (r = check_static(s->init_path, e->data, e->len, err)) < 0)
		return r;
	if (!s->modules || !s->modules[0])
		return 0;
	note_input(es, dep); /* what kmod_resolve() reads */
	note_input(es, builtin);
	if ((r = kmod_resolve(moddir, s->modules, &mods, err)) < 0)
		return r;
	for (size_t i = 0; mods[i]; i++) {
		if ((r = add_module(es, i, moddir, mods[i], err)) < 0)
			break;
	}
	strv_free(mods);
	return r < 0 ? r : 0;
}

static void hash_entries(const struct entries *es, char hex[65])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		BUG("sha256 unavailable");
	EVP_DigestUpdate(ctx, "bottle-initramfs 1", 19);
	for (size_t i = 0; i < es->n; i++) {
		const struct entry *e = &es->v[i];
		char meta[96];
		/* A compressed module's bytes are not a plain one's. */
		int n =
		    snprintf(meta, sizeof(meta), "%o %u %u %zu%s%s", e->mode,
			     e->rmajor, e->rminor, e->len, e->comp ? " " : "",
			     e->comp ? e->comp->program : "");
		EVP_DigestUpdate(ctx, e->name, strlen(e->name) + 1);
		EVP_DigestUpdate(ctx, meta, (size_t)n + 1);
		if (e->len)
			EVP_DigestUpdate(ctx, e->data, e->len);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* e's data through its decompressor (the bytes that were hashed, not the
 * file again, which may have changed since), as a plain .ko.  The guest
 * kernel could take some compressed modules itself (finit_module with
 * MODULE_INIT_COMPRESSED_FILE, CONFIG_MODULE_DECOMPRESS), but under TCG
 * its decompressor runs emulated, and the archive is built once. */
static int add_decompressed(struct cpio *c, const struct entry *e,
			    struct error *err)
{
	_cleanup_close_ int in = memfd_create("module", MFD_CLOEXEC);
	_cleanup_free_ char *data = NULL;
	const char *const argv[] = {e->comp->program, "-dc", NULL};
	size_t len;
	int r;

	if (in < 0)
		return err_sys(err, errno, "decompressing %s", e->src);
	if ((r = write_all(in, e->data, e->len)) < 0)
		return err_sys(err, -r, "decompressing %s", e->src);
	if (lseek(in, 0, SEEK_SET) < 0)
		return err_sys(err, errno, "decompressing %s", e->src);
	r = run_capture(argv, in, MODFILE_MAX, &data, &len, err);
	if (r == -ENOENT)
		return err_prefix(err, "decompressing %s (apt install %s)",
				  e->src, e->comp->package);
	if (r < 0)
		return err_prefix(err, "decompressing %s", e->src);
	return cpio_add_file(c, e->name, e->mode & 07777, data, len, err);
}

static int write_archive(const struct entries *es, const char *path,
			 struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct cpio c = CPIO_INIT(fd);
	int r = 0;

	if (fd < 0)
		return err_sys(err, errno, "creating %s", tmp);
	for (size_t i = 0; i < es->n && r == 0; i++) {
		const struct entry *e = &es->v[i];
		mode_t perm = e->mode & 07777;
		if (S_ISDIR(e->mode))
			r = cpio_add_dir(&c, e->name, perm, err);
		else if (S_ISCHR(e->mode))
			r = cpio_add_chardev(&c, e->name, perm, e->rmajor,
					     e->rminor, err);
		else if (e->comp)
			r = add_decompressed(&c, e, err);
		else
			r = cpio_add_file(&c, e->name, perm, e->data, e->len,
					  err);
	}
	if (r == 0)
		r = cpio_finish(&c, err);
	if (close(fd) < 0 && r == 0)
		r = err_sys(err, errno, "writing %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = err_sys(err, errno, "renaming %s to %s", tmp, path);
	if (r < 0)
		unlink(tmp);
	return r;
}

#define INDEX_MAGIC "bottle-initramfs-index 1\n"
#define INDEX_MAX   (1u << 20)

/* CACHE_DIR/index-HASH, HASH covering what decides which files are read:
 * the init's path, the release, the modules root and the module names. */
static char *index_path(const struct initramfs_spec *s)
{
	const char *root = s->modules_root ? s->modules_root : "/lib/modules";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen = 0;
	char hex[17];

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		BUG("sha256 unavailable");
	EVP_DigestUpdate(ctx, INDEX_MAGIC, strlen(INDEX_MAGIC) + 1);
	EVP_DigestUpdate(ctx, s->init_path, strlen(s->init_path) + 1);
	EVP_DigestUpdate(ctx, s->release, strlen(s->release) + 1);
	EVP_DigestUpdate(ctx, root, strlen(root) + 1);
	for (const char *const *m = s->modules; m && *m; m++)
		EVP_DigestUpdate(ctx, *m, strlen(*m) + 1);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/index-%s", s->cache_dir, hex);
}

/* The index: the magic, "archive NAME", then the inputs' stat lines. */
int initramfs_lookup(const struct initramfs_spec *s, char **path_out)
{
	struct error err = ERROR_INIT;
	struct strbuf now = STRBUF_INIT;
	_cleanup_free_ char *ipath = index_path(s), *text = NULL;
	char *p, *nl, *archive;
	int r = -ESTALE;

	*path_out = NULL;
	if (read_file(ipath, &text, NULL, INDEX_MAX, &err) < 0)
		return -ENOENT;
	if (!str_has_prefix(text, INDEX_MAGIC "archive "))
		return -ESTALE;
	archive = text + strlen(INDEX_MAGIC "archive ");
	if (!(nl = strchr(archive, '\n')))
		return -ESTALE;
	*nl = '\0';
	if (strchr(archive, '/') || !str_has_prefix(archive, "initramfs-"))
		return -ESTALE;
	for (p = nl + 1; *p; p = nl + 1) {
		const char *path = p;
		if (!(nl = strchr(p, '\n')))
			goto out;
		*nl = '\0';
		for (int field = 0; field < 5 && path; field++)
			if ((path = strchr(path, ' ')))
				path++;
		if (!path)
			goto out;
		strbuf_reset(&now);
		stat_line(&now, path);
		if (strcmp(now.buf, p) != 0)
			goto out;
	}
	*path_out = xasprintf("%s/%s", s->cache_dir, archive);
	if (access(*path_out, R_OK) == 0) {
		r = 0;
	} else {
		free(*path_out);
		*path_out = NULL;
	}
out:
	strbuf_release(&now);
	return r;
}

/* Record es's inputs for archive (a file name in the cache dir), unless
 * one is too fresh to trust.  Failure only costs the next launch a hash. */
static void write_index(const struct initramfs_spec *s,
			const struct entries *es, const char *archive)
{
	struct error err = ERROR_INIT;
	struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *ipath = index_path(s);

	if (es->unindexable) {
		unlink(ipath); /* stale */
		return;
	}
	strbuf_addf(&sb, INDEX_MAGIC "archive %s\n%s", archive, es->inputs.buf);
	if (write_file_replace(ipath, sb.buf, sb.len, 0644, &err) < 0) {
		/* no index: the next launch hashes again */
	}
	strbuf_release(&sb);
}

int initramfs_get(const struct initramfs_spec *s, char **path_out, bool *built,
		  struct error *err)
{
	struct entries es = {.inputs = STRBUF_INIT};
	char hex[65];
	char *path;
	int r;

	*built = false;
	if (initramfs_lookup(s, path_out) == 0)
		return 0;
	if ((r = collect(s, &es, err)) < 0)
		goto out;
	hash_entries(&es, hex);
	path = xasprintf("%s/initramfs-%s.cpio", s->cache_dir, hex);
	if (access(path, R_OK) != 0) {
		if ((r = mkdir_p(s->cache_dir, 0755, err)) < 0 ||
		    (r = write_archive(&es, path, err)) < 0) {
			free(path);
			goto out;
		}
		*built = true;
	}
	write_index(s, &es, strrchr(path, '/') + 1);
	*path_out = path;
out:
	entries_release(&es);
	return r < 0 ? err_prefix(err, "building the guest initramfs") : 0;
}
