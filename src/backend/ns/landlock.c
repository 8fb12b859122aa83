/* Landlock through raw syscalls: Debian 12's glibc has no wrappers, and
 * its <linux/landlock.h> stops at ABI 2, so the rights added later are
 * defined here.
 *
 * Rights per ABI version, all of which we handle when the kernel has them:
 *   1  EXECUTE .. MAKE_SYM (bits 0-12)
 *   2  REFER: rename/link across directories.  Under ABI 1 reparenting is
 *      always denied (EXDEV), which is stricter, not looser.
 *   3  TRUNCATE
 *   4  network (not handled: the agent must reach its local listeners)
 *   5  IOCTL_DEV: ioctl on device files opened after restriction
 *   6  scopes (not handled), 7 logging flags (not used)
 *
 * Files already open when the ruleset is applied (the agent's terminal on
 * stdin/stdout) keep the access they were opened with; Landlock checks at
 * open time.
 */
#include "landlock.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define FS_ABI1                                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |          \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |          \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |      \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |          \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |          \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |        \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)

/* The rights the kernel accepts on a rule for a non-directory. */
#define FS_FILE                                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |          \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |          \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define ACCESS_READ                                                            \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |           \
	 LANDLOCK_ACCESS_FS_READ_DIR)
/* Everything but device ioctls. */
#define ACCESS_WRITE                                                           \
	(FS_ABI1 | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
#define ACCESS_DEV                                                             \
	(ACCESS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE |                         \
	 LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Filesystem rights known to each ABI version. */
static uint64_t fs_rights_for_abi(int abi)
{
	uint64_t r = FS_ABI1;

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return r;
}

static uint64_t access_rights(enum landlock_access a)
{
	switch (a) {
	case LL_READ:
		return ACCESS_READ;
	case LL_WRITE:
		return ACCESS_WRITE;
	case LL_DEV:
		return ACCESS_DEV;
	}
	return 0;
}

int landlock_abi(void)
{
	long r = syscall(__NR_landlock_create_ruleset, NULL, 0,
			 LANDLOCK_CREATE_RULESET_VERSION);

	/* ENOSYS: not built in; EOPNOTSUPP: built in but not enabled. */
	return r < 0 ? 0 : (int)r;
}

const char *landlock_access_name(enum landlock_access access)
{
	switch (access) {
	case LL_READ:
		return "read";
	case LL_WRITE:
		return "write";
	case LL_DEV:
		return "dev";
	}
	return "?";
}

/* Add one rule; 1 if the path does not exist and was skipped. */
static int add_path_rule(int ruleset, const struct landlock_path *p,
			 uint64_t handled, struct error *err)
{
	_cleanup_close_ int fd = open(p->path, O_PATH | O_CLOEXEC);
	struct landlock_path_beneath_attr attr = {0};
	struct stat st;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0)
		return err_sys(err, errno, "opening %s", p->path);
	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "stat %s", p->path);
	attr.parent_fd = fd;
	attr.allowed_access = access_rights(p->access) & handled;
	if (!S_ISDIR(st.st_mode))
		attr.allowed_access &= FS_FILE;
	if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
		    &attr, 0) < 0)
		return err_sys(err, errno, "adding rule for %s", p->path);
	return 0;
}

int landlock_build(const struct landlock_path *paths, size_t n, int *ruleset_fd,
		   struct error *err)
{
	struct landlock_ruleset_attr attr = {0};
	_cleanup_close_ int ruleset = -1;
	int abi = landlock_abi();

	*ruleset_fd = -1;
	if (abi <= 0)
		return err_set(err, EOPNOTSUPP,
			       "landlock: not supported by this kernel "
			       "(or not enabled in lsm=)");
	attr.handled_access_fs = fs_rights_for_abi(abi);
	/* The fd comes back O_CLOEXEC; no flag needed (or accepted). */
	ruleset =
	    (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return err_sys(err, errno, "landlock: creating ruleset");
	for (size_t i = 0; i < n; i++) {
		int r = add_path_rule(ruleset, &paths[i],
				      attr.handled_access_fs, err);
		if (r < 0)
			return err_prefix(err, "landlock");
	}
	*ruleset_fd = steal_fd(&ruleset);
	return 0;
}

int landlock_apply(int ruleset_fd)
{
	if (syscall(__NR_landlock_restrict_self, ruleset_fd, 0) < 0)
		return -errno;
	return 0;
}
