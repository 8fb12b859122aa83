/* The ns backend: Linux namespaces, no daemon (DESIGN.md, "Backends"). */
#include "backend/ns/ns.h"

#include "backend/ns/landlock.h"
#include "backend/ns/limits.h"
#include "backend/ns/seccomp.h"

#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

/* Can we create the namespaces a bottle needs?  Try it in a child. */
static int try_unshare(void)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
			      CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0
			  ? 1
			  : 0);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EPERM;
}

static int ns_probe_host(struct strbuf *out, struct error *err)
{
	struct utsname u;
	struct seccomp_prog prog = SECCOMP_PROG_INIT;
	int r = try_unshare(), abi = landlock_abi();

	uname(&u);
	strbuf_addf(out, "kernel: %s %s\n", u.sysname, u.release);
	strbuf_addf(out, "namespaces: %s\n",
		    r == 0 ? "user, mount, pid, net, ipc, uts: ok"
			   : "cannot create a user namespace (check "
			     "kernel.unprivileged_userns_clone / "
			     "user.max_user_namespaces / AppArmor)");
	if (seccomp_prog_build(&prog, err) == 0)
		strbuf_addf(out, "seccomp: ok (filter compiled)\n");
	else
		strbuf_addf(out, "seccomp: unavailable: %s\n", err->msg);
	seccomp_prog_release(&prog);
	if (abi > 0)
		strbuf_addf(out, "landlock: ABI %d\n", abi);
	else
		strbuf_addstr(out, "landlock: not available (mounts still "
				   "confine the filesystem)\n");
	ns_limits_report(out);
	err_clear(err);
	if (r < 0)
		return err_set(err, -r, "user namespaces are not available");
	return 0;
}

static int ns_stop(pid_t init_pid, uint64_t init_start, struct error *err)
{
	int fd = (int)syscall(SYS_pidfd_open, init_pid, 0);

	if (fd < 0 || !proc_alive(init_pid, init_start)) {
		if (fd >= 0)
			close(fd);
		return err_set(err, ESRCH, "the bottle is not running");
	}
	/* Through the pidfd: no race with pid reuse. */
	if (syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "signalling the bottle");
	}
	close(fd);
	return 0;
}

static int ns_release(const struct plan *p, struct error *err)
{
	return ns_cgroup_destroy(p->id, err);
}

static int ns_list_orphans(const char *state_home,
			   bool (*live)(const char *id, void *ctx),
			   void *live_ctx, orphan_fn fn, void *ctx)
{
	return ns_cgroup_orphans(state_home, live, live_ctx, fn, ctx);
}

static int ns_remove_orphan(const char *kind, const char *what,
			    struct error *err)
{
	if (strcmp(kind, "cgroup") != 0)
		return err_set(err, EINVAL, "unknown orphan kind %s", kind);
	/* The recorded path: recomputing it from the id would depend on
	 * the cgroup of whoever runs cleanup (cgroup v2). */
	return ns_cgroup_remove(what, err);
}

const struct backend_ops ns_backend = {
    .name = "ns",
    .probe_host = ns_probe_host,
    .host_limits = ns_limits_detect,
    .launch = ns_launch,
    .exec = ns_exec,
    .copy_in = ns_copy_in,
    .stop = ns_stop,
    .release = ns_release,
    .list_orphans = ns_list_orphans,
    .remove_orphan = ns_remove_orphan,
};
