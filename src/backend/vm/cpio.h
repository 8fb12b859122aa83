/* A writer for the kernel's initramfs format: "newc" cpio (magic 070701,
 * ASCII-hex headers, names and data padded to 4 bytes, ended by an entry
 * named TRAILER!!!).  See the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst.
 *
 * Entries are written straight to an fd, in the order given: the kernel
 * unpacks them in that order, so a directory must come before what it
 * holds.  Owner is root, mtime 0 (the archive depends only on its
 * contents), inode numbers count up from 1, one link each. */
#ifndef BOTTLE_VM_CPIO_H
#define BOTTLE_VM_CPIO_H

#include "lib/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cpio {
	int fd;		   /* not owned */
	uint64_t off;	   /* bytes written so far */
	uint32_t next_ino; /* next inode number */
};

#define CPIO_INIT(fd)                                                          \
	{                                                                      \
		(fd), 0, 1                                                     \
	}

/* Add a directory, a regular file (data, len) or a device node.  name is
 * the path inside the archive without a leading "/" (e.g. "dev/console");
 * perm is the permission bits only.  Returns 0 or -errno with err (a name
 * too long or empty, a write error). */
int cpio_add_dir(struct cpio *c, const char *name, mode_t perm,
		 struct error *err) __attribute__((warn_unused_result));
int cpio_add_file(struct cpio *c, const char *name, mode_t perm,
		  const void *data, size_t len, struct error *err)
    __attribute__((warn_unused_result));
int cpio_add_chardev(struct cpio *c, const char *name, mode_t perm,
		     unsigned major, unsigned minor, struct error *err)
    __attribute__((warn_unused_result));

/* Write the TRAILER!!! entry.  The archive is complete after this. */
int cpio_finish(struct cpio *c, struct error *err)
    __attribute__((warn_unused_result));

#endif
