/* Dropping privileges, in this order (each step depends on the previous):
 *
 *  1. rlimits          while we may still raise them
 *  2. setgroups        drop the host's supplementary groups (where the
 *                      user namespace allows it; unprivileged ones deny it)
 *  3. setresgid/uid    the agent's ids, everywhere
 *  4. capabilities     bounding set, ambient set, then capset() to zero:
 *                      nothing is left to regain through exec
 *  5. NO_NEW_PRIVS     setuid/file-capability binaries gain nothing
 *  6. Landlock         the filesystem view, enforced by the kernel
 *  7. close fds >= 3   no host descriptor crosses into the agent
 *  8. seccomp          last: it may deny syscalls the steps above need
 */
#include "backend/ns/jail.h"

#include "backend/ns/landlock.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int jail_landlock_ruleset(const struct plan *p, int *fd, struct error *err)
{
	struct landlock_path paths[64];
	size_t n = 0;

	*fd = -1;
	if (landlock_abi() <= 0)
		return 0;
	paths[n++] = (struct landlock_path){"/", LL_READ};
	paths[n++] = (struct landlock_path){"/dev", LL_DEV};
	for (size_t i = 0; i < p->n_ops && n < ARRAY_SIZE(paths); i++) {
		const struct setup_op *op = &p->ops[i];
		bool rw = op->type == SETUP_BIND ||
			  (op->type == SETUP_TMPFS &&
			   (strcmp(op->target, "/tmp") == 0 ||
			    strcmp(op->target, "/dev/shm") == 0)) ||
			  op->type == SETUP_MQUEUE;
		if (rw)
			paths[n++] =
			    (struct landlock_path){op->target, LL_WRITE};
	}
	return landlock_build(paths, n, fd, err);
}

/* setrlimit() the limits that use LIMIT_RLIMIT.  Async-signal-safe. */
static int rlimits_apply(const struct plan *p)
{
	struct rlimit rl;

	if (p->memory.mech == LIMIT_RLIMIT) {
		rl.rlim_cur = rl.rlim_max = p->memory.value;
		if (setrlimit(RLIMIT_DATA, &rl) < 0)
			return -errno;
	}
	if (p->pids.mech == LIMIT_RLIMIT) {
		rl.rlim_cur = rl.rlim_max = p->pids.value;
		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			return -errno;
	}
	return 0;
}

int jail_drop_caps(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

int jail_enter(const struct jail *j, const char **step)
{
	int r;

#define STEP(name, expr)                                                       \
	do {                                                                   \
		*step = name;                                                  \
		if ((r = (expr)) < 0)                                          \
			return r == -1 ? -errno : r;                           \
	} while (0)

	if (j->plan)
		STEP("rlimits", rlimits_apply(j->plan));
	if (j->setgroups_allowed)
		STEP("setgroups", setgroups(0, NULL));
	STEP("setresgid", setresgid(AGENT_GID, AGENT_GID, AGENT_GID));
	STEP("setresuid", setresuid(AGENT_UID, AGENT_UID, AGENT_UID));
	if (j->pdeathsig)
		STEP("pdeathsig", prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
	STEP("dropping capabilities", jail_drop_caps());
	STEP("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	if (j->landlock_fd >= 0)
		STEP("landlock", landlock_apply(j->landlock_fd));
	if (j->cwd)
		STEP("chdir", chdir(j->cwd));
	STEP("closing descriptors",
	     (int)syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC));
	STEP("seccomp", seccomp_prog_load(j->seccomp));
#undef STEP
	*step = NULL;
	return 0;
}

int jail_exec(char *const argv[], char *const env[])
{
	extern char **environ;

	/* execvp() searches the PATH of environ, so make it the agent's. */
	environ = (char **)env;
	execvp(argv[0], argv);
	return -errno;
}
