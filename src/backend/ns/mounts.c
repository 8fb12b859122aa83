/* Building the bottle's root (the executor is backend/mounts.c).
 *
 * The sequence (the order is the security property):
 *  1. make every mount private, so nothing we do propagates to the host;
 *  2. mount a scratch tmpfs on /tmp and pivot into it, keeping the host's
 *     tree at /oldroot (sources) and the new root at /newroot (targets);
 *  3. execute the ops;
 *  4. detach /oldroot and pivot into /newroot.
 */
#include "backend/ns/mounts.h"

#include "backend/mounts.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BASE	"/tmp"
#define OLDROOT "/oldroot"
#define NEWROOT "/newroot"

static int pivot_root(const char *new_root, const char *put_old)
{
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int ns_mounts_open_sources(const struct setup_op *ops, size_t n, int *fds,
			   struct error *err)
{
	int r;

	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n; i++) {
		if ((r = mounts_open_source(&ops[i], &fds[i], err)) < 0) {
			ns_mounts_close_sources(fds, n);
			return r;
		}
	}
	return 0;
}

void ns_mounts_close_sources(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int ns_mounts_setup(const struct setup_op *ops, const int *src_fds, size_t n,
		    struct error *err)
{
	const struct mounts_where w = {.src = OLDROOT, .dst = NEWROOT};
	int r;

	/* 1. Nothing propagates back to the host from here on. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(err, errno, "making mounts private");
	/* 2. Scratch root holding /oldroot and /newroot. */
	if (mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") <
	    0)
		return err_sys(err, errno, "mounting scratch tmpfs");
	if (mkdir(BASE OLDROOT, 0755) < 0 || mkdir(BASE NEWROOT, 0755) < 0)
		return err_sys(err, errno, "scratch dirs");
	if (pivot_root(BASE, BASE OLDROOT) < 0)
		return err_sys(err, errno, "pivot_root to scratch");
	if (chdir("/") < 0)
		return err_sys(err, errno, "chdir /");

	/* 3. The plan's operations, in order. */
	for (size_t i = 0; i < n; i++)
		if ((r = mounts_exec(&ops[i], src_fds[i], &w, err)) < 0)
			return r;

	/* 4. Drop the host's tree and enter the new root. */
	if (umount2(OLDROOT, MNT_DETACH) < 0)
		return err_sys(err, errno, "detaching the host's root");
	if (chdir(NEWROOT) < 0)
		return err_sys(err, errno, "chdir new root");
	if (pivot_root(".", ".") < 0)
		return err_sys(err, errno, "pivot_root to new root");
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(err, errno, "detaching the scratch root");
	if (chdir("/") < 0)
		return err_sys(err, errno, "chdir /");
	return 0;
}
