/* newc cpio writer.  See cpio.h. */
#include "backend/vm/cpio.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CPIO_HDR_LEN  110 /* "070701" + 13 fields of 8 hex digits */
#define CPIO_NAME_MAX 4096

static int write_all(struct cpio *c, const void *buf, size_t len,
		     struct error *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(c->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, errno, "writing cpio archive");
		}
		p += n;
		len -= (size_t)n;
		c->off += (uint64_t)n;
	}
	return 0;
}

static int pad4(struct cpio *c, struct error *err)
{
	static const char zero[4];
	size_t n = (4 - (c->off & 3)) & 3;

	return n ? write_all(c, zero, n, err) : 0;
}

static int add_entry(struct cpio *c, const char *name, mode_t mode,
		     unsigned rmajor, unsigned rminor, const void *data,
		     size_t len, struct error *err)
{
	char hdr[CPIO_HDR_LEN + 1];
	size_t namesize = strlen(name) + 1;
	int r;

	if (namesize == 1 || namesize > CPIO_NAME_MAX || name[0] == '/')
		return err_set(err, EINVAL,
			       "cpio entry name \"%.64s\": expected a "
			       "relative path of 1 to %d bytes",
			       name, CPIO_NAME_MAX - 1);
	if (len > UINT32_MAX)
		return err_set(err, EFBIG,
			       "cpio entry %s: %zu bytes, the format holds at "
			       "most 4 GiB",
			       name, len);
	/* ino mode uid gid nlink mtime filesize devmajor devminor
	 * rdevmajor rdevminor namesize check */
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 strcmp(name, "TRAILER!!!") == 0 ? 0 : c->next_ino++,
		 (unsigned)mode, 0u, 0u, 1u, 0u, (unsigned)len, 0u, 0u, rmajor,
		 rminor, (unsigned)namesize, 0u);
	if ((r = write_all(c, hdr, CPIO_HDR_LEN, err)) < 0 ||
	    (r = write_all(c, name, namesize, err)) < 0 ||
	    (r = pad4(c, err)) < 0 || (r = write_all(c, data, len, err)) < 0 ||
	    (r = pad4(c, err)) < 0)
		return r;
	return 0;
}

int cpio_add_dir(struct cpio *c, const char *name, mode_t perm,
		 struct error *err)
{
	return add_entry(c, name, S_IFDIR | (perm & 07777), 0, 0, NULL, 0, err);
}

int cpio_add_file(struct cpio *c, const char *name, mode_t perm,
		  const void *data, size_t len, struct error *err)
{
	return add_entry(c, name, S_IFREG | (perm & 07777), 0, 0, data, len,
			 err);
}

int cpio_add_chardev(struct cpio *c, const char *name, mode_t perm,
		     unsigned major, unsigned minor, struct error *err)
{
	return add_entry(c, name, S_IFCHR | (perm & 07777), major, minor, NULL,
			 0, err);
}

int cpio_finish(struct cpio *c, struct error *err)
{
	return add_entry(c, "TRAILER!!!", 0, 0, 0, NULL, 0, err);
}
