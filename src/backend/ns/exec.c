/* Entering a live ns bottle (`bottle exec`, `bottle probe`, copy-in).
 *
 * The caller joins the init's namespaces with one setns(pidfd, ...) call,
 * which orders the user namespace correctly for both root and unprivileged
 * callers, then forks so that the child is inside the pid namespace.  The
 * child joins the bottle's cgroups, opens its terminal from the bottle's
 * own devpts, and goes through the same jail as the agent.  Until the jail
 * is complete the process is not dumpable, so nothing in the bottle can
 * reach it through /proc (CVE-2019-5736 is the cautionary tale).
 */
#include "backend/ns/jail.h"
#include "backend/ns/limits.h"
#include "backend/ns/ns.h"

#include "lib/fdpass.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define JOIN_FLAGS                                                             \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |           \
	 CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

static int open_init(const struct exec_req *req, struct error *err)
{
	int fd = (int)syscall(SYS_pidfd_open, req->init_pid, 0);

	if (fd < 0)
		return err_sys(err, errno, "bottle init (pid %d)",
			       (int)req->init_pid);
	/* The pidfd pins the process; check it is still the one we
	 * recorded and not a reused pid. */
	if (!proc_alive(req->init_pid, req->init_start)) {
		close(fd);
		return err_set(err, ESRCH, "the bottle is not running");
	}
	return fd;
}

struct exec_child {
	const struct exec_req *req;
	const struct seccomp_prog *prog;
	int sock;
	int cg_fds[4];
	int n_cg;
	int stdio[3];
	bool tty;
	bool as_root; /* decided on the host: inside, root is unmapped */
	struct winsize ws;
};

static void __attribute__((noreturn))
child_fail(int sock, const char *what, int e)
{
	char msg[ERR_MSG_MAX];
	int n = snprintf(msg, sizeof(msg), "E%s: %s", what, strerror(e));

	if (n < 0)
		_exit(126);
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* Before "R" the relay reads the socket; after it, stderr is the
	 * user's.  Say it on both. */
	(void)fd_send1(sock, msg, (size_t)n, -1);
	msg[n] = '\n';
	(void)!write(2, "bottle: ", 8);
	(void)!write(2, msg + 1, (size_t)n);
	_exit(126);
}

static void __attribute__((noreturn)) exec_child_main(struct exec_child *c)
{
	struct error err = ERROR_INIT;
	int master = -1, slave = -1, r;
	const char *step = NULL;
	struct jail j = {
	    .plan = c->req->plan,
	    .seccomp = c->prog,
	    .landlock_fd = -1,
	    .setgroups_allowed = c->as_root,
	    .cwd = c->req->cwd ? c->req->cwd : BOTTLE_WORKDIR,
	    .pdeathsig = true,
	};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* "0" moves the writer itself; the pid would be read in the
	 * bottle's pid namespace. */
	for (int i = 0; i < c->n_cg; i++)
		if (write(c->cg_fds[i], "0", 1) < 0)
			child_fail(c->sock, "joining the bottle's cgroup",
				   errno);
	if (c->req->plan &&
	    jail_landlock_ruleset(c->req->plan, &j.landlock_fd, &err) < 0)
		child_fail(c->sock, "landlock", err.code);
	setsid();
	if (c->tty) {
		if ((r = ns_open_pty(&c->ws, &master, &slave)) < 0)
			child_fail(c->sock, "opening a pty", -r);
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			child_fail(c->sock, "TIOCSCTTY", errno);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
	} else {
		for (int i = 0; i < 3; i++)
			dup2(c->stdio[i], i);
	}
	if (fd_send1(c->sock, "R", 1, master) < 0)
		_exit(126);
	if (master >= 0)
		close(master);
	signal(SIGPIPE, SIG_DFL);
	if ((r = jail_enter(&j, &step)) < 0)
		child_fail(c->sock, step, -r);
	r = jail_exec((char *const *)c->req->argv, (char *const *)c->req->env);
	{
		char msg[512];
		snprintf(msg, sizeof(msg), "bottle: cannot run %s: %s\n",
			 c->req->argv[0], strerror(-r));
		(void)!write(2, msg, strlen(msg));
	}
	_exit(r == -ENOENT ? 127 : 126);
}

int ns_exec(const struct exec_req *req, struct bottle_io *io, pid_t *pid_out,
	    struct error *err)
{
	struct seccomp_prog prog = SECCOMP_PROG_INIT;
	struct exec_child c = {.req = req,
			       .prog = &prog,
			       .tty = io->tty,
			       .as_root = geteuid() == 0,
			       .ws = io->ws,
			       .stdio = {-1, -1, -1}};
	int sp[2] = {-1, -1}, parent_io[3] = {-1, -1, -1}, pidfd = -1, r;
	pid_t pid;

	if ((r = seccomp_prog_build(&prog, err)) < 0)
		return err_prefix(err, "seccomp");
	c.n_cg = req->plan ? ns_cgroup_open_procs(req->plan->id, c.cg_fds,
						  (int)ARRAY_SIZE(c.cg_fds))
			   : 0;
	if (c.n_cg < 0)
		c.n_cg = 0;
	if (req->plan && c.n_cg == 0 &&
	    (req->plan->memory.mech == LIMIT_CGROUP1 ||
	     req->plan->memory.mech == LIMIT_CGROUP2 ||
	     req->plan->pids.mech == LIMIT_CGROUP1 ||
	     req->plan->pids.mech == LIMIT_CGROUP2 ||
	     req->plan->cpu.mech == LIMIT_CGROUP1 ||
	     req->plan->cpu.mech == LIMIT_CGROUP2)) {
		/* Never run a command outside the limits the agent has. */
		r = err_set(err, ENOENT, "cannot join the bottle's cgroups");
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		r = err_sys(err, errno, "socketpair");
		goto out;
	}
	if (!io->tty && (r = ns_make_pipes(parent_io, c.stdio, err)) < 0)
		goto out;
	c.sock = sp[1];
	if ((pidfd = open_init(req, err)) < 0) {
		r = pidfd;
		goto out;
	}

	/* The caller joins the bottle for good (it becomes the command's
	 * relay); joining a pid namespace only affects children, so the
	 * fork below lands inside while fork() still returns a host pid. */
	prctl(PR_SET_DUMPABLE, 0);
	if (setns(pidfd, JOIN_FLAGS) < 0) {
		r = err_sys(err, errno, "entering the bottle's namespaces");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		close(sp[0]);
		exec_child_main(&c);
	}
	close(sp[1]);
	sp[1] = -1;
	ns_close3(c.stdio); /* the child's ends: EOF when it exits */
	if ((r = ns_wait_ready(sp[0], io, "the command", err)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	ns_io_take_pipes(io, parent_io);
	*pid_out = pid;
	r = 0;
out:
	ns_close3(parent_io);
	ns_close3(c.stdio);
	for (int i = 0; i < c.n_cg; i++)
		close(c.cg_fds[i]);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (pidfd >= 0)
		close(pidfd);
	seccomp_prog_release(&prog);
	return r;
}

int ns_copy_in(const struct exec_req *req, const char *host_path,
	       const char *path, struct error *err)
{
	_cleanup_close_ int src = open(host_path, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int pidfd = -1;
	bool as_root = geteuid() == 0;
	int st;
	pid_t pid;

	if (src < 0)
		return err_sys(err, errno, "opening %s", host_path);
	if (path[0] != '/')
		return err_set(err, EINVAL, "%s: expected an absolute path",
			       path);
	if ((pidfd = open_init(req, err)) < 0)
		return pidfd;
	pid = fork();
	if (pid < 0)
		return err_sys(err, errno, "fork");
	if (pid == 0) {
		struct open_how how = {
		    .flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    .mode = 0644,
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
			       RESOLVE_NO_SYMLINKS,
		};
		char buf[65536];
		ssize_t n;
		int dst, root;

		/* The path is the agent's to shape: resolve it as the agent,
		 * with no capabilities, no symlinks and no /proc magic links
		 * (which could lead out of the bottle). */
		prctl(PR_SET_DUMPABLE, 0);
		if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0 ||
		    (as_root && setgroups(0, NULL) < 0) ||
		    setresgid(AGENT_GID, AGENT_GID, AGENT_GID) < 0 ||
		    setresuid(AGENT_UID, AGENT_UID, AGENT_UID) < 0 ||
		    jail_drop_caps() < 0)
			_exit(10);
		root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		dst = (int)syscall(SYS_openat2, root, path + 1, &how,
				   sizeof(how));
		if (dst < 0)
			_exit(11);
		while ((n = read(src, buf, sizeof(buf))) > 0)
			if (write_all(dst, buf, (size_t)n) < 0)
				_exit(12);
		_exit(n < 0 ? 12 : 0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return err_set(err, EIO, "copying into the bottle failed");
	switch (WEXITSTATUS(st)) {
	case 0:
		return 0;
	case 10:
		return err_set(err, EPERM, "cannot enter the bottle");
	case 11:
		return err_set(err, EACCES, "cannot create %s in the bottle",
			       path);
	default:
		return err_set(err, EIO, "copying to %s failed", path);
	}
}
