/* The vm backend's guest kernel and initramfs (docs/vm-backend.md).
 *
 * The initramfs holds /init (the static bottle-init), /dev/console, the
 * empty mount points, and the kernel modules the guest needs that its
 * kernel does not have built in, with their dependencies, as
 * /modules/NN-name.ko in load order (compressed ones, .ko.xz, .ko.zst or
 * .ko.gz, decompressed on the host).  It is built by our own cpio writer
 * and cached as CACHE_DIR/initramfs-<sha256>.cpio, the hash covering every
 * byte that goes in (so it is rebuilt exactly when the init binary, the
 * kernel release or a module file changes). */
#ifndef BOTTLE_VM_INITRAMFS_H
#define BOTTLE_VM_INITRAMFS_H

#include "lib/err.h"

#include <stdbool.h>
#include <stddef.h>

/* The modules a guest needs (by name; '-' and '_' are the same), unless
 * built in: the microVM's virtio-mmio transport, the console and control
 * channel, the network, the shared filesystems, the entropy source. */
extern const char *const vm_guest_modules[];

/* The release string of a bzImage kernel ("6.1.0-56-cloud-amd64"), read
 * from its setup header.  Malloc'd into *out.  -ENOEXEC with err if path
 * is not an x86 bzImage (a clear "unbootable kernel" error), other
 * -errno if it cannot be read. */
int kernel_release(const char *path, char **out, struct error *err)
    __attribute__((warn_unused_result));

/* The default guest kernel: /boot/vmlinuz-$(uname -r) if it and its
 * modules.dep exist, else the newest /boot/vmlinuz-* that has a
 * modules.dep under /lib/modules.
 * boot_dir and modules_root are parameters so tests can point them at a
 * fake tree.  Malloc'd path in *out; -ENOENT with err if none. */
int kernel_find(const char *boot_dir, const char *modules_root, char **out,
		struct error *err) __attribute__((warn_unused_result));

/* Resolve names against moddir's modules.dep and modules.builtin: the
 * module files (relative to moddir) to load, dependencies first, each
 * once; built-in ones are left out.  *out is a NULL-terminated malloc'd
 * vector (strv_free it).  -ENOENT with err naming a module that is
 * neither; -EINVAL for a malformed modules.dep. */
int kmod_resolve(const char *moddir, const char *const *names, char ***out,
		 struct error *err) __attribute__((warn_unused_result));

/* Can path be the guest's init?  A readable 64-bit ELF executable that is
 * statically linked (the initramfs carries no libraries).  0, or -ENOEXEC
 * with err saying which it is not, other -errno if it cannot be read. */
int initramfs_check_init(const char *path, struct error *err)
    __attribute__((warn_unused_result));

struct initramfs_spec {
	const char *init_path;	    /* the static bottle-init */
	const char *release;	    /* kernel release */
	const char *modules_root;   /* NULL: /lib/modules */
	const char *const *modules; /* names, NULL-terminated; NULL: none */
	const char *cache_dir;	    /* where the archives live */
};

/* Make sure the initramfs for spec exists in cache_dir (created if
 * missing) and return its path (malloc'd) in *path_out; *built says
 * whether it was written now.  Concurrent callers are safe: the archive
 * is written to a temporary name and renamed into place.  When
 * initramfs_lookup() finds it, no input is read; else every input is
 * read and hashed, and the index written for next time. */
int initramfs_get(const struct initramfs_spec *spec, char **path_out,
		  bool *built, struct error *err)
    __attribute__((warn_unused_result));

/* The archive for spec from the index of a previous initramfs_get(),
 * without reading any input: 0 with its path (malloc'd) in *path_out if
 * every file it was built from (the init, modules.dep, modules.builtin,
 * the modules) has the same device, inode, size, mtime and ctime as then
 * and the archive is still there; -ENOENT if there is no index, -ESTALE if
 * anything differs.  An index is written only when no input had changed
 * in the INITRAMFS_SETTLE_MS before the build began: a file changed within
 * one timestamp tick of our stat could change again unseen. */
int initramfs_lookup(const struct initramfs_spec *spec, char **path_out)
    __attribute__((warn_unused_result));

#define INITRAMFS_SETTLE_MS 1000

/* $XDG_CACHE_HOME/bottle/vm, else $HOME/.cache/bottle/vm (malloc'd;
 * NULL if neither variable is set to an absolute path). */
char *vm_cache_dir(void);

#endif
