/* Launching an ns bottle.
 *
 * Three processes take part:
 *   launcher  (host side; the monitor) clones the init into new user,
 *             mount, pid, net, ipc and uts namespaces, writes its id maps,
 *             puts it in the bottle's cgroups, then lets it go;
 *   init      (PID 1 inside) builds the root, opens the terminal, forks the
 *             agent, then reaps and forwards signals until the agent exits;
 *   agent     drops every privilege (jail.c) and execs the command.
 *
 * They talk over a SOCK_SEQPACKET pair: "G" (launcher: go), "L" + the
 * endpoint listeners (init), "B" (launcher: the bundle serves them),
 * "E<msg>" (init: setup failed), "R" + pty master fd (init: running).
 */
#include "backend/ns/jail.h"
#include "backend/ns/limits.h"
#include "backend/ns/mounts.h"
#include "backend/ns/ns.h"

#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#define NS_FLAGS                                                               \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |           \
	 CLONE_NEWIPC | CLONE_NEWUTS)

/* Grace period between SIGTERM and SIGKILL when stopping. */
#define STOP_GRACE_SEC 10

struct init_ctx {
	const struct plan *plan;
	const struct seccomp_prog *seccomp;
	int *src_fds;
	int sock; /* to the launcher */
	bool tty;
	struct winsize ws;
	int stdio[3]; /* !tty: the agent's ends of its pipes */
	bool unprivileged;
};

/* ---- small helpers shared with exec.c ---------------------------------- */

int ns_open_pty(const struct winsize *ws, int *master, int *slave)
{
	int m, s, unlock = 0;
	char name[64];

	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &s) < 0) {
		int e = errno;
		close(m);
		return -e;
	}
	snprintf(name, sizeof(name), "/dev/pts/%d", s);
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		return -e;
	}
	if (ws && ws->ws_row)
		ioctl(m, TIOCSWINSZ, ws);
	*master = m;
	*slave = s;
	return 0;
}

/* ---- init (PID 1 inside) ------------------------------------------------ */

static void __attribute__((noreturn))
init_fail(struct init_ctx *c, struct error *err)
{
	char msg[ERR_MSG_MAX + 1];
	size_t n = strlen(err->msg);

	msg[0] = 'E';
	memcpy(msg + 1, err->msg, n);
	fd_send1(c->sock, msg, n + 1, -1);
	_exit(125);
}

static int init_wait_go(struct init_ctx *c, struct error *err)
{
	char b = 0;
	ssize_t n = fd_recv1(c->sock, &b, 1, NULL);

	if (n != 1 || b != 'G')
		return err_set(err, EPIPE, "launcher went away");
	return 0;
}

static int init_open_sources(struct init_ctx *c, struct error *err)
{
	/* Still with the invoking user's host ids, so sources resolve with
	 * its permissions (as root the state dir is under /root, mode 0700),
	 * and inside our own copy of the mount namespace, which a bind
	 * source must be in. */
	return ns_mounts_open_sources(c->plan->ops, c->plan->n_ops, c->src_fds,
				      err);
}

static int init_identity(struct init_ctx *c, struct error *err)
{
	/* As root the init starts as host uid 0, which has no mapping in
	 * the bottle: become the agent's ids now (capabilities in the user
	 * namespace stay, since the old uid was not the namespace's root) so
	 * that files on our tmpfs get a mapped owner. */
	if (!c->unprivileged && setgroups(0, NULL) < 0)
		return err_sys(err, errno, "setgroups");
	if (setresgid(AGENT_GID, AGENT_GID, AGENT_GID) < 0)
		return err_sys(err, errno, "setresgid");
	if (setresuid(AGENT_UID, AGENT_UID, AGENT_UID) < 0)
		return err_sys(err, errno, "setresuid");
	/* Changing ids cleared the parent-death signal: arm it again, then
	 * make sure the launcher did not die in between. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return err_sys(err, errno, "PR_SET_PDEATHSIG");
	{
		struct pollfd pf = {c->sock, POLLIN, 0};
		if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR)))
			return err_set(err, EPIPE, "launcher went away");
	}
	/* We stay dumpable: `bottle exec` joins our namespaces through a
	 * pidfd, which needs ptrace-read access to us, and an unprivileged
	 * user has none to a non-dumpable process.  The agent cannot use the
	 * same access: we hold capabilities in the user namespace that it
	 * lacks (ptrace(2), "capabilities subset" rule), seccomp denies it
	 * ptrace, and our environment, argv and descriptors hold nothing of
	 * the host's by the time it runs. */
	return 0;
}

static int init_cgroupns(struct init_ctx *c, struct error *err)
{
	(void)c;
	/* After the launcher moved us into the bottle's cgroups, so that
	 * the namespace's root is the bottle's own cgroup. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		return err_sys(err, errno, "unshare(CLONE_NEWCGROUP)");
	return 0;
}

static int init_uts(struct init_ctx *c, struct error *err)
{
	const char *h = c->plan->hostname;
	if (sethostname(h, strlen(h)) < 0)
		return err_sys(err, errno, "sethostname");
	return 0;
}

static int init_loopback(struct init_ctx *c, struct error *err)
{
	struct ifreq ifr = {0};
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	(void)c;
	if (s < 0)
		return err_sys(err, errno, "socket");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "bringing lo up");
	return 0;
}

/* The bundle's endpoints (DESIGN.md, "The one network invariant"): the
 * listening sockets are made here, in the bottle's network namespace, and
 * handed to the launcher, which serves them from the host side.  A socket
 * stays in the namespace it was created in, so the bottle reaches the
 * bundle through lo and nothing else.  The agent starts only after the
 * launcher says the bundle is up ("B"). */
static int init_endpoints(struct init_ctx *c, struct error *err)
{
	int fds[ENDPOINT_COUNT], r = 0;
	size_t n = 0;
	char b = 0;

	for (int e = 0; e < ENDPOINT_COUNT; e++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(c->plan->ports[e]),
					 .sin_addr.s_addr =
					     htonl(INADDR_LOOPBACK)};
		int one = 1;

		if (!c->plan->ports[e])
			continue;
		fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[n] < 0 ||
		    setsockopt(fds[n], SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0 ||
		    bind(fds[n], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fds[n], 1024) < 0) {
			r = err_sys(err, errno, "listening on %s:%u",
				    PROXY_ADDR, c->plan->ports[e]);
			if (fds[n] >= 0)
				close(fds[n]);
			break;
		}
		n++;
	}
	if (r == 0 && (r = fd_send(c->sock, "L", 1, fds, n)) < 0)
		err_sys(err, -r, "handing the endpoints over");
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	if (r < 0)
		return r;
	if (fd_recv1(c->sock, &b, 1, NULL) != 1 || b != 'B')
		return err_set(err, EPIPE, "the bundle did not start");
	return 0;
}

static int init_mounts(struct init_ctx *c, struct error *err)
{
	int r = ns_mounts_setup(c->plan->ops, c->src_fds, c->plan->n_ops, err);

	/* Descriptors of host paths must not outlive the mounts. */
	ns_mounts_close_sources(c->src_fds, c->plan->n_ops);
	return r;
}

static const struct init_step {
	const char *name;
	int (*fn)(struct init_ctx *c, struct error *err);
} init_steps[] = {
    {"waiting for the launcher", init_wait_go},
    /* First, so that the bundle's answer (and the CA bundle the launcher
     * writes then) is there before the bind sources are opened.  Binding
     * 127.0.0.1 works while lo is still down. */
    {"serving the bundle's endpoints", init_endpoints},
    {"opening bind sources", init_open_sources},
    {"taking the agent's identity", init_identity},
    {"entering a cgroup namespace", init_cgroupns},
    {"setting the hostname", init_uts},
    {"bringing up lo", init_loopback},
    {"building the filesystem", init_mounts},
};

struct agent_args {
	struct init_ctx *c;
	int landlock_fd;
	int slave;
};

static void __attribute__((noreturn)) agent_main(struct agent_args *a)
{
	struct init_ctx *c = a->c;
	struct jail j = {
	    .plan = c->plan,
	    .seccomp = c->seccomp,
	    .landlock_fd = a->landlock_fd,
	    .setgroups_allowed = !c->unprivileged,
	    .cwd = BOTTLE_WORKDIR,
	};
	const char *step = NULL;
	char msg[512];
	int r;

	/* A session of its own, with the pty as controlling terminal, so
	 * that ^C from the user's terminal reaches the agent's group. */
	setsid();
	if (c->tty) {
		if (ioctl(a->slave, TIOCSCTTY, 0) < 0)
			_exit(126);
		dup2(a->slave, 0);
		dup2(a->slave, 1);
		dup2(a->slave, 2);
	} else {
		dup2(c->stdio[0], 0);
		dup2(c->stdio[1], 1);
		dup2(c->stdio[2], 2);
	}
	signal(SIGPIPE, SIG_DFL);
	r = jail_enter(&j, &step);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "bottle: %s: %s\n", step,
			 strerror(-r));
		(void)!write(2, msg, strlen(msg));
		_exit(126);
	}
	r = jail_exec(c->plan->argv, c->plan->env);
	snprintf(msg, sizeof(msg), "bottle: cannot run %s: %s\n",
		 c->plan->argv[0], strerror(-r));
	(void)!write(2, msg, strlen(msg));
	_exit(r == -ENOENT ? 127 : 126);
}

static int status_to_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* PID 1's job once the agent runs: reap every child, forward the
 * launcher's signals to the agent's session, and leave with the agent's
 * status after killing whatever it left behind. */
static void __attribute__((noreturn)) init_reap(pid_t agent)
{
	sigset_t set;
	int code = 1;
	bool stopping = false;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	for (;;) {
		siginfo_t si;
		pid_t pid;
		int st;

		if (sigwaitinfo(&set, &si) < 0)
			continue;
		switch (si.si_signo) {
		case SIGCHLD:
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
				if (pid != agent)
					continue;
				code = status_to_code(st);
				kill(-1, SIGKILL);
				while (waitpid(-1, NULL, 0) > 0)
					;
				_exit(code);
			}
			break;
		case SIGALRM:
			kill(-1, SIGKILL);
			break;
		case SIGTERM:
		case SIGHUP:
			if (!stopping) {
				stopping = true;
				alarm(STOP_GRACE_SEC);
			}
			/* fall through */
		default:
			kill(-agent, si.si_signo);
			kill(agent, si.si_signo);
		}
	}
}

/* The init is a copy of the launcher, so its argv and environment areas
 * (what /proc/1/cmdline and /proc/1/environ show inside the bottle) hold
 * the host's command line and environment, secrets included.  Overwrite
 * both areas in place: clearenv() alone only drops the pointer.  The agent
 * gets the plan's env from jail_exec(). */
static void scrub_host_strings(void)
{
	static const char name[] = "bottle-init";
	unsigned long a[4] = {0};
	char buf[2048], *p;
	int fd, n;

	clearenv();
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* Fields 48-51: arg_start arg_end env_start env_end. */
	for (int field = 2; p && field < 48; field++)
		p = strchr(p + 1, ' ');
	if (!p ||
	    sscanf(p, " %lu %lu %lu %lu", &a[0], &a[1], &a[2], &a[3]) != 4)
		return;
	if (a[3] > a[2])
		memset((void *)a[2], 0, a[3] - a[2]);
	if (a[1] > a[0] + sizeof(name)) {
		memset((void *)a[0], 0, a[1] - a[0]);
		memcpy((void *)a[0], name, sizeof(name));
	}
}

/* PID 1 never execs, so O_CLOEXEC protects nothing here: it still holds
 * whatever the launcher had open (the user's terminal, log files, pipes).
 * Keep only the socket to the launcher (its EOF is our cue) and put the
 * bottle's /dev/null on 0-2. */
static void init_shed_fds(int sock)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (int fd = 0; fd < 3; fd++) {
		if (null >= 0)
			dup2(null, fd);
		else
			close(fd);
	}
	if (sock > 3)
		syscall(SYS_close_range, 3, (unsigned)sock - 1, 0);
	syscall(SYS_close_range, (unsigned)sock + 1, ~0U, 0);
	setsid();
}

static int init_main(void *arg)
{
	struct init_ctx *c = arg;
	struct error err = ERROR_INIT;
	struct agent_args a = {c, -1, -1};
	int master = -1, r;
	sigset_t set;
	pid_t agent;

	prctl(PR_SET_NAME, "bottle-init");
	scrub_host_strings();
	for (size_t i = 0; i < ARRAY_SIZE(init_steps); i++) {
		if ((r = init_steps[i].fn(c, &err)) < 0) {
			err_prefix(&err, "%s", init_steps[i].name);
			init_fail(c, &err);
		}
	}
	if (jail_landlock_ruleset(c->plan, &a.landlock_fd, &err) < 0) {
		err_prefix(&err, "landlock");
		init_fail(c, &err);
	}
	if (c->tty && (r = ns_open_pty(&c->ws, &master, &a.slave)) < 0) {
		err_sys(&err, -r, "opening a pty in the bottle");
		init_fail(c, &err);
	}

	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	agent = fork();
	if (agent < 0) {
		err_sys(&err, errno, "fork");
		init_fail(c, &err);
	}
	if (agent == 0) {
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		close(c->sock);
		if (master >= 0)
			close(master);
		agent_main(&a);
	}
	if (a.slave >= 0)
		close(a.slave);
	for (int i = 0; i < 3; i++)
		if (c->stdio[i] >= 0)
			close(c->stdio[i]);
	if (a.landlock_fd >= 0)
		close(a.landlock_fd);
	if (fd_send1(c->sock, "R", 1, master) < 0)
		_exit(125);
	init_shed_fds(c->sock);
	init_reap(agent);
}

/* ---- launcher side ------------------------------------------------------ */

static int write_proc(pid_t pid, const char *file, const char *val,
		      struct error *err)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "opening %s", path);
	if ((r = write_all(fd, val, strlen(val))) < 0)
		return err_sys(err, -r, "writing %s", path);
	return 0;
}

static int write_id_maps(pid_t pid, const struct plan *p, bool unprivileged,
			 struct error *err)
{
	char map[64];
	int r;

	/* An unprivileged user may map only its own ids, and only after
	 * giving up setgroups (user_namespaces(7)). */
	if (unprivileged && (r = write_proc(pid, "setgroups", "deny", err)) < 0)
		return r;
	snprintf(map, sizeof(map), "%u %u 1\n", AGENT_UID,
		 (unsigned)p->host_uid);
	if ((r = write_proc(pid, "uid_map", map, err)) < 0)
		return r;
	snprintf(map, sizeof(map), "%u %u 1\n", AGENT_GID,
		 (unsigned)p->host_gid);
	return write_proc(pid, "gid_map", map, err);
}

static pid_t clone_init(int *pidfd)
{
	struct clone_args ca = {
	    .flags = NS_FLAGS | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

int ns_make_pipes(int parent[3], int child[3], struct error *err)
{
	for (int i = 0; i < 3; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return err_sys(err, errno, "pipe");
		/* stdin: we write; stdout/stderr: we read. */
		parent[i] = i == 0 ? p[1] : p[0];
		child[i] = i == 0 ? p[0] : p[1];
	}
	return 0;
}

void ns_close3(int fds[3])
{
	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int ns_wait_ready(int sock, struct bottle_io *io, const char *who,
		  struct error *err)
{
	char msg[ERR_MSG_MAX + 2];
	int fd = -1;
	ssize_t n = fd_recv1(sock, msg, sizeof(msg) - 1, &fd);

	if (n <= 0)
		return err_set(err, EPIPE, "%s exited during setup", who);
	msg[n] = '\0';
	if (msg[0] != 'R' || (io->tty && fd < 0)) {
		if (fd >= 0)
			close(fd);
		if (msg[0] == 'E')
			return err_set(err, EIO, "%s", msg + 1);
		return err_set(err, EPROTO, "unexpected message from %s", who);
	}
	if (io->tty)
		io->pty_master = fd;
	else if (fd >= 0)
		close(fd);
	return 0;
}

void ns_io_take_pipes(struct bottle_io *io, int parent[3])
{
	if (io->tty)
		return;
	io->in = parent[0];
	io->out = parent[1];
	io->err = parent[2];
	parent[0] = parent[1] = parent[2] = -1;
}

int ns_start_bundle(int sock, const struct plan *p,
		    const struct launch_hooks *hooks, struct error *err)
{
	char msg[ERR_MSG_MAX + 2];
	int got[ENDPOINT_COUNT], fds[ENDPOINT_COUNT];
	size_t n = 0;
	ssize_t len =
	    fd_recv(sock, msg, sizeof(msg) - 1, got, ENDPOINT_COUNT, &n);
	int r;

	if (len <= 0)
		return err_set(err, EPIPE,
			       "the bottle's init exited during "
			       "setup");
	msg[len] = '\0';
	if (msg[0] != 'L' || endpoints_unpack(p->ports, got, n, fds) < 0) {
		for (size_t i = 0; i < n; i++)
			close(got[i]);
		if (msg[0] == 'E')
			return err_set(err, EIO, "%s", msg + 1);
		return err_set(err, EPROTO, "unexpected message from init");
	}
	if (!hooks || !hooks->endpoints) {
		for (size_t i = 0; i < n; i++)
			close(got[i]);
		r = 0;
	} else if ((r = hooks->endpoints(hooks->ctx, fds, err)) < 0) {
		return r;
	}
	if ((r = fd_send1(sock, "B", 1, -1)) < 0)
		return err_sys(err, -r, "resuming init");
	return 0;
}

int ns_launch(const struct plan *p, const struct launch_hooks *hooks,
	      struct bottle_io *io, struct bottle_proc *out, struct error *err)
{
	struct seccomp_prog prog = SECCOMP_PROG_INIT;
	int sp[2] = {-1, -1}, child_io[3] = {-1, -1, -1};
	int parent_io[3] = {-1, -1, -1}, pidfd = -1, r;
	_cleanup_free_ int *src_fds = xcalloc(p->n_ops, sizeof(int));
	struct init_ctx c = {
	    .plan = p,
	    .seccomp = &prog,
	    .src_fds = src_fds,
	    .tty = io->tty,
	    .ws = io->ws,
	    .stdio = {-1, -1, -1},
	    .unprivileged = geteuid() != 0,
	};
	pid_t pid = -1;

	/* Everything that can fail without a process comes first. */
	if ((r = seccomp_prog_build(&prog, err)) < 0)
		return err_prefix(err, "seccomp");
	for (size_t i = 0; i < p->n_ops; i++)
		src_fds[i] = -1;
	if ((r = ns_cgroup_create(p, hooks, err)) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		r = err_sys(err, errno, "socketpair");
		goto out;
	}
	if (!io->tty && (r = ns_make_pipes(parent_io, child_io, err)) < 0)
		goto out;
	c.sock = sp[1];
	memcpy(c.stdio, child_io, sizeof(child_io));
	if (hooks &&
	    (r = hooks->record(hooks->ctx, "process", "init", err)) < 0)
		goto out;

	pid = clone_init(&pidfd);
	if (pid < 0) {
		r = err_sys(err, errno, "creating the bottle's namespaces");
		goto out;
	}
	if (pid == 0) {
		/* The init dies with its launcher: a SIGKILLed `bottle run`
		 * leaves no bottle behind (the pid namespace goes with its
		 * init).  The launcher is outside our pid namespace, so
		 * getppid() says 0; the socket below tells if it left. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sp[0]);
		ns_close3(parent_io);
		_exit(init_main(&c));
	}
	close(sp[1]);
	sp[1] = -1;
	ns_close3(child_io);

	out->init_pid = pid;
	out->pidfd = pidfd;
	out->init_start = proc_start_time(pid);
	if ((r = write_id_maps(pid, p, c.unprivileged, err)) < 0 ||
	    (r = ns_cgroup_attach(p, pid, err)) < 0)
		goto fail;
	if ((r = fd_send1(sp[0], "G", 1, -1)) < 0) {
		r = err_sys(err, -r, "starting init");
		goto fail;
	}
	if ((r = ns_start_bundle(sp[0], p, hooks, err)) < 0 ||
	    (r = ns_wait_ready(sp[0], io, "the bottle's init", err)) < 0)
		goto fail;
	ns_io_take_pipes(io, parent_io);
	r = 0;
	goto out;
fail:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (pidfd >= 0)
		close(pidfd);
	out->init_pid = 0;
	out->pidfd = -1;
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	ns_close3(child_io);
	ns_close3(parent_io);
	seccomp_prog_release(&prog);
	return r;
}
