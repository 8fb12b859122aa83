/* The vm backend's host-side pieces that need no QEMU: the newc cpio
 * writer, module resolution, the kernel header, the initramfs cache and
 * the QEMU command line.  tests/e2e/vm_boot.sh boots the real thing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/vm/cpio.h"
#include "backend/vm/initramfs.h"
#include "backend/vm/qemu.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test_vm.XXXXXX";

/* One entry parsed back from an archive. */
struct parsed {
	char name[256];
	unsigned mode, rmajor, rminor, ino;
	const char *data;
	size_t len;
};

static unsigned hex8(const char *p)
{
	char buf[9];
	memcpy(buf, p, 8);
	buf[8] = '\0';
	for (int i = 0; i < 8; i++)
		assert_true(strchr("0123456789ABCDEF", buf[i]) != NULL);
	return (unsigned)strtoul(buf, NULL, 16);
}

/* Parse a whole archive the way the kernel does (init/initramfs.c),
 * checking the magic, the 4-byte alignment of names and data, and that
 * TRAILER!!! ends it exactly. */
static size_t parse_all(const char *buf, size_t len, struct parsed *out,
			size_t max)
{
	size_t off = 0, n = 0;

	for (;;) {
		struct parsed e;
		assert_true(off % 4 == 0);
		assert_true(off + 110 <= len);
		assert_memory_equal(buf + off, "070701", 6);
		e.ino = hex8(buf + off + 6);
		e.mode = hex8(buf + off + 14);
		assert_int_equal(hex8(buf + off + 22), 0); /* uid */
		assert_int_equal(hex8(buf + off + 46), 0); /* mtime */
		e.len = hex8(buf + off + 54);
		e.rmajor = hex8(buf + off + 78);
		e.rminor = hex8(buf + off + 86);
		unsigned namesize = hex8(buf + off + 94);
		assert_true(namesize >= 2 && namesize < sizeof(e.name));
		assert_true(off + 110 + namesize <= len);
		assert_int_equal(buf[off + 110 + namesize - 1], '\0');
		memcpy(e.name, buf + off + 110, namesize);
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		e.data = buf + off;
		assert_true(off + e.len <= len);
		off = (off + e.len + 3) & ~(size_t)3;
		if (strcmp(e.name, "TRAILER!!!") == 0) {
			assert_int_equal(off, len);
			return n;
		}
		assert_true(n < max);
		out[n++] = e;
	}
}

static char *slurp_fd(int fd, size_t *len)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return buf;
}

static void test_cpio_roundtrip(void **state)
{
	struct error err = ERROR_INIT;
	int fd = memfd_create("cpio", 0);
	struct cpio c = CPIO_INIT(fd);
	struct parsed e[8];
	size_t len;

	(void)state;
	assert_int_equal(cpio_add_dir(&c, "dev", 0755, &err), 0);
	assert_int_equal(cpio_add_chardev(&c, "dev/console", 0600, 5, 1, &err),
			 0);
	/* data lengths around the 4-byte padding */
	assert_int_equal(cpio_add_file(&c, "a", 0644, "", 0, &err), 0);
	assert_int_equal(cpio_add_file(&c, "bb", 0755, "x", 1, &err), 0);
	assert_int_equal(cpio_add_file(&c, "ccc", 0600, "xyz", 3, &err), 0);
	assert_int_equal(cpio_add_file(&c, "dddd/e", 0644, "12345", 5, &err),
			 0);
	assert_int_equal(cpio_finish(&c, &err), 0);
	_cleanup_free_ char *buf = slurp_fd(fd, &len);
	assert_int_equal(len, c.off);
	assert_int_equal(parse_all(buf, len, e, 8), 6);
	assert_string_equal(e[0].name, "dev");
	assert_int_equal(e[0].mode, S_IFDIR | 0755);
	assert_string_equal(e[1].name, "dev/console");
	assert_int_equal(e[1].mode, S_IFCHR | 0600);
	assert_int_equal(e[1].rmajor, 5);
	assert_int_equal(e[1].rminor, 1);
	assert_int_equal(e[2].len, 0);
	assert_memory_equal(e[3].data, "x", 1);
	assert_int_equal(e[4].mode, S_IFREG | 0600);
	assert_memory_equal(e[4].data, "xyz", 3);
	assert_string_equal(e[5].name, "dddd/e");
	assert_memory_equal(e[5].data, "12345", 5);
	for (int i = 0; i < 6; i++)
		assert_int_equal(e[i].ino, i + 1); /* distinct inodes */

	/* The system's cpio reads it the same way, where installed. */
	if (system("command -v cpio >/dev/null 2>&1") == 0) {
		_cleanup_free_ char *path = xasprintf("%s/t.cpio", tmpdir);
		_cleanup_free_ char *cmd = xasprintf(
		    "cd %s && cpio -i --quiet --list < t.cpio > list && "
		    "mkdir x && cd x && cpio -idm --quiet ccc dddd/e < "
		    "../t.cpio && [ \"$(cat ccc)\" = xyz ] && "
		    "[ \"$(cat dddd/e)\" = 12345 ]",
		    tmpdir);
		_cleanup_free_ char *list = NULL;
		_cleanup_free_ char *listp = xasprintf("%s/list", tmpdir);
		assert_int_equal(write_file_replace(path, buf, len, 0644, &err),
				 0);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(read_file(listp, &list, NULL, 4096, &err), 0);
		assert_string_equal(list,
				    "dev\ndev/console\na\nbb\nccc\ndddd/e\n");
	}
	close(fd);
}

static void test_cpio_bad_names(void **state)
{
	struct error err = ERROR_INIT;
	int fd = memfd_create("cpio", 0);
	struct cpio c = CPIO_INIT(fd);
	char *longname = xmalloc(5000);

	(void)state;
	memset(longname, 'a', 4999);
	longname[4999] = '\0';
	assert_int_equal(cpio_add_dir(&c, "", 0755, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected a relative path"));
	assert_int_equal(cpio_add_file(&c, "/init", 0755, "", 0, &err),
			 -EINVAL);
	assert_int_equal(cpio_add_file(&c, longname, 0755, "", 0, &err),
			 -EINVAL);
	assert_int_equal(c.off, 0); /* nothing written */
	free(longname);
	close(fd);

	/* a write error is reported, not ignored */
	int ro = open("/dev/null", O_RDONLY);
	struct cpio c2 = CPIO_INIT(ro);
	assert_true(cpio_add_dir(&c2, "dev", 0755, &err) < 0);
	assert_non_null(strstr(err.msg, "writing cpio archive"));
	close(ro);
}

static void put(const char *rel, const char *text)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755, &err), 0);
	assert_int_equal(write_file_replace(p, text, strlen(text), 0644, &err),
			 0);
}

#define MODDEP                                                                 \
	"kernel/fs/fuse/fuse.ko:\n"                                            \
	"kernel/fs/fuse/virtiofs.ko: kernel/drivers/virtio/virtio.ko "         \
	"kernel/drivers/virtio/virtio_ring.ko kernel/fs/fuse/fuse.ko\n"        \
	"kernel/drivers/virtio/virtio.ko: "                                    \
	"kernel/drivers/virtio/virtio_ring.ko\n"                               \
	"kernel/drivers/virtio/virtio_ring.ko:\n"                              \
	"kernel/drivers/virtio/virtio_mmio.ko: "                               \
	"kernel/drivers/virtio/virtio.ko "                                     \
	"kernel/drivers/virtio/virtio_ring.ko\n"                               \
	"kernel/drivers/char/hw_random/virtio-rng.ko: "                        \
	"kernel/drivers/virtio/virtio.ko "                                     \
	"kernel/drivers/virtio/virtio_ring.ko\n"

static void fake_modules(const char *rel)
{
	_cleanup_free_ char *dep = xasprintf("lib/modules/%s/modules.dep", rel);
	_cleanup_free_ char *bi =
	    xasprintf("lib/modules/%s/modules.builtin", rel);
	put(dep, MODDEP);
	put(bi, "kernel/drivers/char/virtio_console.ko\n");
	static const char *const ko[] = {
	    "fs/fuse/fuse.ko",
	    "fs/fuse/virtiofs.ko",
	    "drivers/virtio/virtio.ko",
	    "drivers/virtio/virtio_ring.ko",
	    "drivers/virtio/virtio_mmio.ko",
	    "drivers/char/hw_random/virtio-rng.ko",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ko); i++) {
		_cleanup_free_ char *p =
		    xasprintf("lib/modules/%s/kernel/%s", rel, ko[i]);
		put(p, ko[i]);
	}
}

static void test_kmod_resolve(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *moddir = xasprintf("%s/lib/modules/r1", tmpdir);
	char **v = NULL;

	(void)state;
	fake_modules("r1");
	/* dependencies first (in reverse of modules.dep's list), each once;
	 * the built-in one left out; '-' and '_' alike */
	const char *const names[] = {"virtio_mmio", "virtio_console",
				     "virtiofs",    "virtio-rng",
				     "virtio_rng",  NULL};
	assert_int_equal(kmod_resolve(moddir, names, &v, &err), 0);
	const char *const want[] = {
	    "kernel/drivers/virtio/virtio_ring.ko",
	    "kernel/drivers/virtio/virtio.ko",
	    "kernel/drivers/virtio/virtio_mmio.ko",
	    "kernel/fs/fuse/fuse.ko",
	    "kernel/fs/fuse/virtiofs.ko",
	    "kernel/drivers/char/hw_random/virtio-rng.ko",
	    NULL,
	};
	for (size_t i = 0; want[i]; i++) {
		assert_non_null(v[i]);
		assert_string_equal(v[i], want[i]);
	}
	assert_null(v[ARRAY_SIZE(want) - 1]);
	strv_free(v);

	const char *const missing[] = {"virtio_mmio", "virtio_gpu", NULL};
	assert_int_equal(kmod_resolve(moddir, missing, &v, &err), -ENOENT);
	assert_null(v);
	assert_non_null(strstr(err.msg, "virtio_gpu"));

	/* prefixes do not match: "virtio" is not "virtio_mmio" */
	const char *const prefix[] = {"virtio_mm", NULL};
	assert_int_equal(kmod_resolve(moddir, prefix, &v, &err), -ENOENT);

	put("bad/modules.dep", "garbage line without colon\n");
	_cleanup_free_ char *bad = xasprintf("%s/bad", tmpdir);
	const char *const g[] = {"garbage line without colon", NULL};
	assert_int_equal(kmod_resolve(bad, g, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected"));

	_cleanup_free_ char *none = xasprintf("%s/none", tmpdir);
	assert_int_equal(kmod_resolve(none, names, &v, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "modules.dep"));
}

/* A file with an x86 setup header naming release rel. */
static char *fake_kernel(const char *name, const char *rel)
{
	struct error err = ERROR_INIT;
	char img[0x400] = {0};
	char *p = xasprintf("%s/%s", tmpdir, name);

	memcpy(img + 0x202, "HdrS", 4);
	img[0x20e] = 0x00; /* version at 0x200 + 0x100 */
	img[0x20f] = 0x01;
	snprintf(img + 0x300, 0x100, "%s (debian-kernel@lists) #1 SMP", rel);
	put(name, ""); /* creates the directory */
	assert_int_equal(write_file_replace(p, img, sizeof(img), 0644, &err),
			 0);
	return p;
}

static void test_kernel_release(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *k = fake_kernel("boot/vmlinuz-r1", "r1");
	char *rel = NULL;

	(void)state;
	assert_int_equal(kernel_release(k, &rel, &err), 0);
	assert_string_equal(rel, "r1");
	free(rel);

	put("boot/vmlinuz-bogus", "#!/bin/sh\necho not a kernel\n");
	_cleanup_free_ char *bogus = xasprintf("%s/boot/vmlinuz-bogus", tmpdir);
	assert_int_equal(kernel_release(bogus, &rel, &err), -ENOEXEC);
	assert_null(rel);
	assert_non_null(strstr(err.msg, "not an x86 bzImage"));

	_cleanup_free_ char *missing = xasprintf("%s/nope", tmpdir);
	assert_int_equal(kernel_release(missing, &rel, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
}

static void test_kernel_find(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *boot = xasprintf("%s/kf/boot", tmpdir);
	_cleanup_free_ char *mods = xasprintf("%s/kf/lib/modules", tmpdir);
	char *k = NULL;

	(void)state;
	put("kf/boot/vmlinuz-6.1.0-9-cloud-amd64", "x");
	put("kf/boot/vmlinuz-6.1.0-10-cloud-amd64", "x");
	put("kf/boot/vmlinuz-7.0-nomodules", "x");
	put("kf/lib/modules/6.1.0-9-cloud-amd64/modules.dep", "");
	put("kf/lib/modules/6.1.0-10-cloud-amd64/modules.dep", "");
	/* the newest with modules (version order, not byte order) */
	assert_int_equal(kernel_find(boot, mods, &k, &err), 0);
	assert_non_null(strstr(k, "/vmlinuz-6.1.0-10-cloud-amd64"));
	free(k);

	_cleanup_free_ char *empty = xasprintf("%s/kf/empty", tmpdir);
	put("kf/empty/README", "");
	assert_int_equal(kernel_find(empty, mods, &k, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "linux-image-cloud-amd64"));
}

/* A minimal static ELF: a header with no program headers. */
static char *fake_init(const char *name, bool dynamic)
{
	struct error err = ERROR_INIT;
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
	} img = {0};
	char *p = xasprintf("%s/%s", tmpdir, name);

	memcpy(img.eh.e_ident, ELFMAG, SELFMAG);
	img.eh.e_ident[EI_CLASS] = ELFCLASS64;
	img.eh.e_phentsize = sizeof(Elf64_Phdr);
	img.eh.e_phoff = sizeof(Elf64_Ehdr);
	img.eh.e_phnum = 1;
	img.ph.p_type = dynamic ? PT_INTERP : PT_LOAD;
	assert_int_equal(write_file_replace(p, &img, sizeof(img), 0755, &err),
			 0);
	return p;
}

static void test_initramfs_cache(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *init = fake_init("init-static", false);
	_cleanup_free_ char *dyn = fake_init("init-dynamic", true);
	_cleanup_free_ char *root = xasprintf("%s/lib/modules", tmpdir);
	_cleanup_free_ char *cache = xasprintf("%s/cache", tmpdir);
	const char *const mods[] = {"virtio_mmio", "virtio_console", NULL};
	struct initramfs_spec s = {.init_path = init,
				   .release = "r1",
				   .modules_root = root,
				   .modules = mods,
				   .cache_dir = cache};
	char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	bool built;
	struct parsed e[16];
	size_t len;

	(void)state;
	fake_modules("r1");
	assert_int_equal(initramfs_get(&s, &p1, &built, &err), 0);
	assert_true(built);
	assert_int_equal(initramfs_get(&s, &p2, &built, &err), 0);
	assert_false(built); /* cached */
	assert_string_equal(p1, p2);

	int fd = open(p1, O_RDONLY);
	_cleanup_free_ char *buf = slurp_fd(fd, &len);
	close(fd);
	size_t n = parse_all(buf, len, e, 16);
	assert_int_equal(n, 6 + 3);
	assert_string_equal(e[4].name, "dev/console");
	assert_string_equal(e[5].name, "init");
	assert_int_equal(e[5].mode, S_IFREG | 0755);
	assert_memory_equal(e[5].data, ELFMAG, SELFMAG);
	assert_string_equal(e[6].name, "modules/00-virtio_ring.ko");
	assert_string_equal(e[7].name, "modules/01-virtio.ko");
	assert_string_equal(e[8].name, "modules/02-virtio_mmio.ko");
	assert_int_equal(e[8].len, 29);
	assert_memory_equal(e[8].data, "drivers/virtio/virtio_mmio.ko", 29);

	/* a changed module file means a new archive */
	put("lib/modules/r1/kernel/drivers/virtio/virtio.ko", "changed");
	assert_int_equal(initramfs_get(&s, &p3, &built, &err), 0);
	assert_true(built);
	assert_string_not_equal(p1, p3);
	free(p1);
	free(p2);
	free(p3);

	s.init_path = dyn;
	assert_int_equal(initramfs_get(&s, &p1, &built, &err), -ENOEXEC);
	assert_null(p1);
	assert_non_null(strstr(err.msg, "dynamically linked"));
	s.init_path = "/nonexistent/bottle-init";
	assert_true(initramfs_get(&s, &p1, &built, &err) < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/bottle-init"));
}

/* The stat index: a rebuild-free launch reads no input; anything changed
 * falls back to the full hash. */
static void test_initramfs_index(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *init = fake_init("init-i", false);
	_cleanup_free_ char *root = xasprintf("%s/lib/modules", tmpdir);
	_cleanup_free_ char *cache = xasprintf("%s/icache", tmpdir);
	_cleanup_free_ char *mod =
	    xasprintf("%s/ri/kernel/drivers/virtio/virtio.ko", root);
	_cleanup_free_ char *count = NULL;
	const char *const mods[] = {"virtio_mmio", NULL};
	struct initramfs_spec s = {.init_path = init,
				   .release = "ri",
				   .modules_root = root,
				   .modules = mods,
				   .cache_dir = cache};
	struct timespec settle = {INITRAMFS_SETTLE_MS / 1000,
				  (INITRAMFS_SETTLE_MS % 1000 + 100) * 1000000};
	char *p1 = NULL, *p2 = NULL;
	bool built;

	(void)state;
	fake_modules("ri");
	/* inputs changed just now: built, but not indexed */
	assert_int_equal(initramfs_get(&s, &p1, &built, &err), 0);
	assert_true(built);
	assert_int_equal(initramfs_lookup(&s, &p2), -ENOENT);

	/* once they are older than the settle time: hashed, indexed */
	nanosleep(&settle, NULL);
	assert_int_equal(initramfs_get(&s, &p2, &built, &err), 0);
	assert_false(built);
	assert_string_equal(p1, p2);
	free(p2);
	assert_int_equal(initramfs_lookup(&s, &p2), 0);
	assert_string_equal(p1, p2);
	free(p2);

	/* the index names every input: the init, modules.dep,
	 * modules.builtin and the 3 modules */
	count = xasprintf("cd %s && cat index-* | grep -c ' /' | grep -qx 6",
			  cache);
	assert_int_equal(system(count), 0);

	/* the same content, touched: the index misses, the hash hits */
	assert_int_equal(utimensat(AT_FDCWD, mod, NULL, 0), 0);
	assert_int_equal(initramfs_lookup(&s, &p2), -ESTALE);
	assert_int_equal(initramfs_get(&s, &p2, &built, &err), 0);
	assert_false(built);
	assert_string_equal(p1, p2);
	free(p2);

	/* the content changed: a new archive */
	put("lib/modules/ri/kernel/drivers/virtio/virtio.ko", "changed!");
	assert_int_equal(initramfs_lookup(&s, &p2), -ENOENT);
	assert_int_equal(initramfs_get(&s, &p2, &built, &err), 0);
	assert_true(built);
	assert_string_not_equal(p1, p2);
	free(p1);
	free(p2);

	/* settled again and indexed; then the archive is removed */
	nanosleep(&settle, NULL);
	assert_int_equal(initramfs_get(&s, &p2, &built, &err), 0);
	assert_int_equal(initramfs_lookup(&s, &p1), 0);
	free(p1);
	assert_int_equal(unlink(p2), 0);
	assert_int_equal(initramfs_lookup(&s, &p1), -ESTALE);
	assert_null(p1);
	assert_int_equal(initramfs_get(&s, &p1, &built, &err), 0);
	assert_true(built);
	assert_string_equal(p1, p2);
	free(p1);
	free(p2);

	/* a damaged index is a miss, never a crash */
	static const char *const bad[] = {
	    "",
	    "bottle-initramfs-index 1\n",
	    "bottle-initramfs-index 1\narchive ../../etc/passwd\n",
	    "bottle-initramfs-index 1\narchive initramfs-x.cpio",
	    "bottle-initramfs-index 1\narchive initramfs-x.cpio\n1 2 3\n",
	    "bottle-initramfs-index 1\narchive initramfs-x.cpio\nno newline",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *cmd = xasprintf(
		    "cd %s && for f in index-*; do printf '%%s' '%s' >$f; done",
		    cache, bad[i]);
		assert_int_equal(system(cmd), 0);
		assert_true(initramfs_lookup(&s, &p1) < 0);
		assert_null(p1);
	}
	assert_int_equal(initramfs_get(&s, &p1, &built, &err), 0);
	assert_false(built);
	free(p1);
}

/* A real module of this host's guest kernel, if there is one. */
static char *real_module(void)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *kernel = NULL, *release = NULL, *moddir = NULL;
	const char *const names[] = {"virtio_mmio", NULL};
	char **v = NULL, *p = NULL;

	if (kernel_find("/boot", "/lib/modules", &kernel, &err) < 0 ||
	    kernel_release(kernel, &release, &err) < 0)
		return NULL;
	moddir = xasprintf("/lib/modules/%s", release);
	if (kmod_resolve(moddir, names, &v, &err) == 0 && v[0] &&
	    str_has_suffix(v[0], ".ko"))
		p = xasprintf("%s/%s", moddir, v[0]);
	strv_free(v);
	return p;
}

/* Compressed modules go in decompressed: the archive holds the real
 * module's exact bytes whichever way it was compressed. */
static void test_initramfs_compressed(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *ko = real_module();
	_cleanup_free_ char *init = fake_init("init-z", false);
	_cleanup_free_ char *root = xasprintf("%s/zmod", tmpdir);
	_cleanup_free_ char *cache = xasprintf("%s/zcache", tmpdir);
	_cleanup_free_ char *orig = NULL, *buf = NULL, *cmd = NULL;
	const char *const mods[] = {"virtio_mmio", NULL};
	struct initramfs_spec s = {.init_path = init,
				   .release = "rz",
				   .modules_root = root,
				   .modules = mods,
				   .cache_dir = cache};
	struct parsed e[16];
	size_t olen, len;
	char *p = NULL;
	bool built;

	(void)state;
	if (!ko || system("{ command -v xz && command -v zstd && "
			  "command -v gzip; } >/dev/null") != 0) {
		printf("# no guest kernel module, or no xz, zstd or gzip "
		       "(scripts/deps.sh)\n");
		skip();
	}
	assert_int_equal(read_file(ko, &orig, &olen, 64 << 20, &err), 0);
	put("zmod/rz/modules.dep",
	    "kernel/virtio_ring.ko.xz:\n"
	    "kernel/virtio.ko.zst: kernel/virtio_ring.ko.xz\n"
	    "kernel/virtio_mmio.ko.gz: kernel/virtio.ko.zst "
	    "kernel/virtio_ring.ko.xz\n");
	put("zmod/rz/kernel/README", ""); /* the directory */
	cmd = xasprintf("cd %s/rz/kernel && xz -c %s >virtio_ring.ko.xz && "
			"zstd -q -c %s >virtio.ko.zst && "
			"gzip -c %s >virtio_mmio.ko.gz",
			root, ko, ko, ko);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(initramfs_get(&s, &p, &built, &err), 0);
	assert_true(built);
	int fd = open(p, O_RDONLY);
	buf = slurp_fd(fd, &len);
	close(fd);
	assert_int_equal(parse_all(buf, len, e, 16), 6 + 3);
	assert_string_equal(e[6].name, "modules/00-virtio_ring.ko");
	assert_string_equal(e[7].name, "modules/01-virtio.ko");
	assert_string_equal(e[8].name, "modules/02-virtio_mmio.ko");
	for (int i = 6; i < 9; i++) {
		assert_int_equal(e[i].len, olen);
		assert_memory_equal(e[i].data, orig, olen);
	}
	free(p);

	/* a damaged file: the decompressor's own reason */
	put("zmod/rz/kernel/virtio.ko.zst", "not zstd at all");
	assert_int_equal(initramfs_get(&s, &p, &built, &err), -EIO);
	assert_null(p);
	assert_non_null(strstr(err.msg, "decompressing"));
	assert_non_null(strstr(err.msg, "rz/kernel/virtio.ko.zst"));
	assert_non_null(strstr(err.msg, "zstd failed (exit 1)"));

	/* a compression we do not know */
	put("zmod/rz/modules.dep", "kernel/virtio_mmio.ko.bz2:\n");
	assert_int_equal(initramfs_get(&s, &p, &built, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "virtio_mmio.ko.bz2: expected a .ko"));
}

static bool has(char **v, const char *s)
{
	for (; *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static const char *after(char **v, const char *s)
{
	for (; *v && v[1]; v++)
		if (strcmp(*v, s) == 0)
			return v[1];
	return NULL;
}

static void test_qemu_argv(void **state)
{
	struct vm_boot b = {.kernel = "/k",
			    .initrd = "/i",
			    .accel = VM_ACCEL_TCG,
			    .tsc_khz = 2800000,
			    .init_args = "exit"};
	char **v;

	(void)state;
	v = vm_qemu_argv(&b);
	assert_string_equal(v[0], "qemu-system-x86_64");
	assert_string_equal(after(v, "-accel"), "tcg");
	assert_string_equal(after(v, "-kernel"), "/k");
	assert_string_equal(after(v, "-initrd"), "/i");
	assert_true(has(v, "-nodefaults") && has(v, "-no-user-config") &&
		    has(v, "-no-reboot"));
	assert_false(has(v, "virtconsole,chardev=ctl"));
	assert_string_equal(after(v, "-global"),
			    "virtio-mmio.force-legacy=false");
	assert_string_equal(after(v, "-append"),
			    "console=ttyS0 quiet panic=-1 cryptomgr.notests "
			    "audit=0 tsc_early_khz=2800000 -- exit");
	strv_free(v);

	/* a share: guest RAM becomes shared memory, one vhost-user-fs */
	const struct vm_share sh = {.tag = "share", .socket = "/run/x.sock"};
	b.shares = &sh;
	b.n_shares = 1;
	b.mem_mb = 128;
	v = vm_qemu_argv(&b);
	assert_string_equal(after(v, "-object"),
			    "memory-backend-memfd,id=mem,size=128M,share=on");
	assert_string_equal(after(v, "-machine"), "memory-backend=mem");
	assert_true(has(v, "socket,id=fs0,path=/run/x.sock"));
	assert_true(has(v, "vhost-user-fs-device,chardev=fs0,tag=share"));
	strv_free(v);
	b.shares = NULL;
	b.n_shares = 0;

	b.accel = VM_ACCEL_KVM;
	b.control = true;
	b.init_args = NULL;
	b.append = "cryptomgr.notests";
	b.machine = "rtc=off";
	v = vm_qemu_argv(&b);
	assert_string_equal(after(v, "-accel"), "kvm");
	assert_string_equal(after(v, "-cpu"), "host");
	assert_string_equal(after(v, "-M"),
			    "microvm,x-option-roms=off,pic=off,rtc=off");
	assert_true(has(v, "virtconsole,chardev=ctl"));
	/* KVM has kvmclock: no TSC rate */
	assert_string_equal(after(v, "-append"),
			    "console=ttyS0 quiet panic=-1 cryptomgr.notests "
			    "audit=0 cryptomgr.notests");
	strv_free(v);
}

static void test_tsc_cpuinfo(void **state)
{
	const char *vm = "processor\t: 0\nmodel name\t: Xeon\n"
			 "cpu MHz\t\t: 2793.438\n"
			 "flags\t\t: fpu tsc constant_tsc hypervisor\n";
	const char *metal = "processor\t: 0\ncpu MHz\t\t: 800.012\n"
			    "flags\t\t: fpu tsc aperfmperf constant_tsc\n";
	const char *last = "processor\t: 0\ncpu MHz\t\t: 800.012\n"
			   "flags\t\t: fpu tsc aperfmperf\n";
	const char *like = "processor\t: 0\ncpu MHz\t\t: 2000\n"
			   "flags\t\t: fpu aperfmperfx xaperfmperf\n";

	(void)state;
	assert_int_equal(tsc_khz_parse_cpuinfo(vm, false), 2793438);
	/* a frequency that scales is not the TSC's */
	assert_int_equal(tsc_khz_parse_cpuinfo(vm, true), 0);
	assert_int_equal(tsc_khz_parse_cpuinfo(metal, false), 0);
	assert_int_equal(tsc_khz_parse_cpuinfo(last, false), 0);
	assert_int_equal(tsc_khz_parse_cpuinfo(like, false), 2000000);
	/* no rate, or not a number */
	assert_int_equal(tsc_khz_parse_cpuinfo("processor\t: 0\n", false), 0);
	assert_int_equal(
	    tsc_khz_parse_cpuinfo("processor\t: 0\ncpu MHz\t: fast\n", false),
	    0);
	assert_int_equal(
	    tsc_khz_parse_cpuinfo("processor\t: 0\ncpu MHz\t: 0.0001\n", false),
	    0);
}

/* The measured rate against the kernel's own where cpuinfo has it (within
 * 2%: a correctness check of the arithmetic and the pairing, not of
 * speed); elsewhere a plausible rate. */
static void test_tsc_measure(void **state)
{
	unsigned cpuinfo = host_tsc_khz_cpuinfo();
	unsigned measured = tsc_khz_measure();

	(void)state;
#if defined(__x86_64__)
	assert_true(measured >= 100000 && measured <= 100000000);
	if (cpuinfo) {
		double ratio = (double)measured / cpuinfo;
		printf("# tsc: cpuinfo %u kHz, measured %u kHz (%+.4f%%)\n",
		       cpuinfo, measured, (ratio - 1) * 100);
		assert_true(ratio > 0.98 && ratio < 1.02);
		assert_int_equal(host_tsc_khz(), cpuinfo);
	} else {
		printf("# tsc: cpuinfo has no TSC rate, measured %u kHz\n",
		       measured);
	}
#else
	assert_int_equal(measured, 0);
#endif
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpio_roundtrip),
	    cmocka_unit_test(test_cpio_bad_names),
	    cmocka_unit_test(test_kmod_resolve),
	    cmocka_unit_test(test_kernel_release),
	    cmocka_unit_test(test_kernel_find),
	    cmocka_unit_test(test_initramfs_cache),
	    cmocka_unit_test(test_initramfs_compressed),
	    cmocka_unit_test(test_initramfs_index),
	    cmocka_unit_test(test_qemu_argv),
	    cmocka_unit_test(test_tsc_cpuinfo),
	    cmocka_unit_test(test_tsc_measure),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
