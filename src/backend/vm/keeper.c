/* The keeper: a vm bottle's host-side process (docs/vm-backend.md).
 *
 * The launcher clones it into new user, mount and network namespaces; it
 * is the bottle's "init" as the monitor sees it, and everything else of the
 * bottle's runtime is its child, dying with it (PR_SET_PDEATHSIG): a
 * SIGKILLed keeper leaves no QEMU, no virtiofsd, and its namespaces (the
 * tap device, the root tree's mounts) go with their last process.
 *
 * In order: the network (a tap, the bundle's listeners on the gateway,
 * handed to the launcher as in ns), the read-only root tree and the
 * virtiofsds, QEMU, the guest's HELLO, SETUP, READY, then the agent, whose
 * relay is the keeper's first client.  From there it multiplexes the
 * control link between its clients (the agent, `bottle exec`, `bottle cp`
 * over STATE/run/vm.sock) until the agent exits, then powers the guest off
 * and exits with the agent's code.
 *
 * Writes to the link and to clients never block: each has a queue, so the
 * keeper always reads, and neither the guest nor a client can deadlock it
 * by not reading while it writes. */
#include "backend/vm/vm.h"

#include "backend/ns/ns.h"
#include "backend/vm/ctl.h"
#include "backend/vm/net.h"
#include "backend/vm/relay.h"
#include "backend/vm/tree.h"
#include "backend/vm/virtiofsd.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define MAX_SHARES  16
/* A client (or the link) that lets this much pile up unread is dropped
 * (the link: the guest is wedged; the bottle ends). */
#define QUEUE_MAX	 (16u << 20)
#define POWEROFF_WAIT_MS 5000

struct outq {
	uint8_t *p;
	size_t len, cap;
};

struct client {
	int fd; /* -1: free */
	uint16_t chan;
	bool closing; /* its process ended: close once the queue is out */
	struct ctl_reader rd;
	struct outq q;
};

struct keeper {
	const struct vm_launch_ctx *x;
	const struct plan *p;
	int sock; /* to the launcher */
	int link; /* the control link; QEMU has the other end */
	struct outq linkq;
	pid_t qemu;
	int qemu_pidfd;
	struct virtiofsd fsd[MAX_SHARES];
	size_t n_fsd;
	struct vm_layout layout;
	bool shared[MAX_SHARES]; /* rw share i is served (an optional one
				  * whose source is missing is not) */
	int listener;
	struct client clients[MAX_CLIENTS];
	uint16_t next_chan;
	pid_t agent_relay;
	struct ctl_reader *rd; /* serve()'s, for finish() */
	char *dir;	       /* run_dir/vm: our tmpfs */
};

static void q_push(struct outq *q, uint8_t type, uint16_t chan,
		   const void *data, size_t len)
{
	size_t need = q->len + CTL_HDR + len;

	if (need > q->cap) {
		q->cap = need * 2;
		q->p = xrealloc(q->p, q->cap);
	}
	ctl_header(q->p + q->len, type, chan, (uint32_t)len);
	if (len)
		memcpy(q->p + q->len + CTL_HDR, data, len);
	q->len = need;
}

/* Write what the fd (non-blocking) takes: 0, or -errno when it broke. */
static int q_flush(int fd, struct outq *q)
{
	size_t off = 0;

	while (off < q->len) {
		ssize_t n = write(fd, q->p + off, q->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		off += (size_t)n;
	}
	memmove(q->p, q->p + off, q->len - off);
	q->len -= off;
	return 0;
}

static void __attribute__((noreturn))
keeper_fail(struct keeper *k, struct error *err)
{
	char msg[ERR_MSG_MAX + 1];
	size_t n = strlen(err->msg);

	msg[0] = 'E';
	memcpy(msg + 1, err->msg, n);
	fd_send1(k->sock, msg, n + 1, -1);
	log_warnx("%s", err->msg);
	if (k->qemu > 0)
		kill(k->qemu, SIGKILL);
	for (size_t i = 0; i < k->n_fsd; i++)
		virtiofsd_stop(&k->fsd[i]);
	_exit(125);
}

/* ---- set-up --------------------------------------------------------- */

static int endpoints(struct keeper *k, int *tap, struct error *err)
{
	int fds[ENDPOINT_COUNT], send[ENDPOINT_COUNT], r;
	size_t n = 0;
	char b = 0;

	if ((r = vm_net_setup(k->p->ports, fds, tap, err)) < 0)
		return r;
	for (int e = 0; e < ENDPOINT_COUNT; e++)
		if (fds[e] >= 0)
			send[n++] = fds[e];
	r = fd_send(k->sock, "L", 1, send, n);
	for (size_t i = 0; i < n; i++)
		close(send[i]);
	if (r < 0)
		return err_sys(err, -r, "handing the endpoints over");
	/* The launcher writes the bottle's CA bundle, which the root tree
	 * binds, when the bundle serves them: wait for it. */
	if (fd_recv1(k->sock, &b, 1, NULL) != 1 || b != 'B')
		return err_set(err, EPIPE, "the bundle did not start");
	return 0;
}

/* A read-write share's directory, as ns binds it: opened without
 * following symlinks (the plan's paths are canonical, so a symlink now
 * was swapped in) and bound from the descriptor onto a staging directory
 * that virtiofsd is given instead of the path. */
static int stage_rw(struct keeper *k, const struct vm_share_spec *rw,
		    char **out, struct error *err)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve =
				   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	_cleanup_free_ char *stage = xasprintf("%s/fs/%s", k->dir, rw->tag);
	_cleanup_close_ int fd = -1;
	char proc[64];
	struct stat st;

	fd = (int)syscall(SYS_openat2, AT_FDCWD, rw->source, &how, sizeof(how));
	if (fd < 0 && errno == ELOOP)
		return err_set(err, ELOOP,
			       "%s: a symlink appeared in its path since the "
			       "plan was made; refusing it",
			       rw->source);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, errno, "%s", rw->source);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, ENOTDIR,
			       "%s: the vm backend shares directories; a "
			       "read-write mount of a single file is not "
			       "supported",
			       rw->source);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (mkdir(stage, 0700) < 0 ||
	    mount(proc, stage, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_sys(err, errno, "binding %s", rw->source);
	*out = steal_ptr(&stage);
	return 0;
}

/* A listening unix socket at path (virtiofsd gets it by descriptor). */
static int listen_at(const char *path, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int w = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd;

	if (w < 0 || (size_t)w >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "%s: path too long", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return err_sys(err, e, "listening on %s", path);
	}
	return fd;
}

/* The virtiofsds' root: what running virtiofsd takes (the host's /usr,
 * read-only, and the top-level links or directories into it that the
 * loader is found by; /proc, which it reads before its sandbox mounts its
 * own over it), and room for the shares. */
static int helper_root(const char *fs, struct error *err)
{
	static const char *const tops[] = {"bin", "lib", "lib64", "sbin"};
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY |
					    MOUNT_ATTR_NOSUID |
					    MOUNT_ATTR_NODEV};
	_cleanup_free_ char *usr = xasprintf("%s/usr", fs);
	_cleanup_free_ char *proc = xasprintf("%s/proc", fs);

	/* chmod: whatever the umask, VM_HELPER_UID looks in here. */
	/* A mount of its own: its sandbox changes the propagation of its
	 * "/" and pivots out of it. */
	if (mkdir(fs, 0755) < 0 || chmod(fs, 0755) < 0 ||
	    mount(fs, fs, NULL, MS_BIND, NULL) < 0 || mkdir(usr, 0755) < 0 ||
	    mkdir(proc, 0555) < 0 ||
	    mount("/proc", proc, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount("/usr", usr, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount_setattr(AT_FDCWD, usr, AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		return err_sys(err, errno, "preparing %s", fs);
	for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
		_cleanup_free_ char *host = xasprintf("/%s", tops[i]);
		_cleanup_free_ char *at = xasprintf("%s/%s", fs, tops[i]);
		char link[256];
		ssize_t n = readlink(host, link, sizeof(link) - 1);
		struct stat st;

		if (n > 0) {
			link[n] = '\0';
			if (symlink(link, at) < 0)
				return err_sys(err, errno, "symlink %s", at);
		} else if (stat(host, &st) == 0 && S_ISDIR(st.st_mode) &&
			   (mkdir(at, 0755) < 0 ||
			    mount(host, at, NULL, MS_BIND | MS_REC, NULL) < 0 ||
			    mount_setattr(AT_FDCWD, at, AT_RECURSIVE, &ro,
					  sizeof(ro)) < 0)) {
			return err_sys(err, errno, "binding %s", host);
		}
	}
	return 0;
}

/* The read-only root on a tmpfs of our own (it exists in this mount
 * namespace only), and a virtiofsd per share. */
static int shares(struct keeper *k, struct vm_boot *b, struct vm_share *sh,
		  struct error *err)
{
	/* fs/ is the virtiofsds' chroot: the host's /usr (their binary and
	 * libraries), the shares (root, rw0, ...) and their sockets. */
	_cleanup_free_ char *fs = xasprintf("%s/fs", k->dir);
	_cleanup_free_ char *root = xasprintf("%s/root", fs);
	_cleanup_close_ int fs_fd = -1;
	int r;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(err, errno, "making mounts private");
	if (mount("tmpfs", k->dir, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0700,size=64m") < 0)
		return err_sys(err, errno, "mounting a tmpfs on %s", k->dir);
	if ((r = helper_root(fs, err)) < 0)
		return r;
	if (mkdir(root, 0755) < 0 || chmod(root, 0755) < 0)
		return err_sys(err, errno, "mkdir %s", root);
	fs_fd = open(fs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs_fd < 0)
		return err_sys(err, errno, "%s", fs);
	if ((r = vm_layout_build(k->p, &k->layout, err)) < 0 ||
	    (r = vm_tree_build(&k->layout, root, err)) < 0)
		return err_prefix(err, "building the guest's root");
	if (k->layout.n_rw + 1 > MAX_SHARES)
		return err_set(err, E2BIG, "too many read-write mounts");
	for (size_t i = 0; i <= k->layout.n_rw; i++) {
		const struct vm_share_spec *rw =
		    i ? &k->layout.rw[i - 1] : NULL;
		const char *tag = rw ? rw->tag : "root";
		_cleanup_free_ char *path = xasprintf("%s/%s.sock", fs, tag);
		_cleanup_free_ char *src = xasprintf("/%s", tag);
		_cleanup_free_ char *staged = NULL;
		/* Not as host root: a guest kernel the agent owns asks
		 * virtiofsd for whatever uid it likes. */
		struct virtiofsd_opts o = {.source = src,
					   .socket_path = path,
					   .readonly = !rw,
					   .nest_root = VM_HELPER_UID,
					   .root_fd = fs_fd};

		if (rw && rw->optional && access(rw->source, F_OK) < 0)
			continue;
		if (rw && (r = stage_rw(k, rw, &staged, err)) < 0)
			return r;
		if ((o.listen_fd = listen_at(path, err)) < 0)
			return o.listen_fd;
		/* All started at once, then waited for. */
		r = virtiofsd_spawn(&k->fsd[k->n_fsd], &o, err);
		close(o.listen_fd);
		if (r < 0) {
			virtiofsd_stop(&k->fsd[k->n_fsd]);
			return r;
		}
		if (rw)
			k->shared[i - 1] = true;
		sh[k->n_fsd].tag = tag;
		sh[k->n_fsd].socket = k->fsd[k->n_fsd].socket;
		k->n_fsd++;
	}
	for (size_t i = 0; i < k->n_fsd; i++)
		if ((r = virtiofsd_wait(&k->fsd[i], err)) < 0)
			return r;
	b->shares = sh;
	b->n_shares = k->n_fsd;
	return 0;
}

static int spawn_qemu(struct keeper *k, struct vm_boot *b, int guest_end,
		      struct error *err)
{
	_cleanup_free_ char *con =
	    xasprintf("%s/" VM_CONSOLE_LOG, k->p->log_dir);
	char **argv = vm_qemu_argv(b);
	int log, null, r = 0;
	pid_t pid;

	log = open(con, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (log < 0 || null < 0) {
		r = err_sys(err, errno, "opening %s", con);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Not the keeper's blocked signals, nor its session: a ^C
		 * at the user's terminal is for the agent, not for QEMU. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		/* The two descriptors QEMU is told about by number. */
		fcntl(b->tap_fd, F_SETFD, 0);
		fcntl(guest_end, F_SETFD, 0);
		execvp(argv[0], argv);
		dprintf(2, "bottle: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	k->qemu = pid;
	k->qemu_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
out:
	if (log >= 0)
		close(log);
	if (null >= 0)
		close(null);
	strv_free(argv);
	return r;
}

/* The last line QEMU or the guest kernel wrote: why a boot failed. */
static void console_tail(struct keeper *k, char *buf, size_t n)
{
	_cleanup_free_ char *con =
	    xasprintf("%s/" VM_CONSOLE_LOG, k->p->log_dir);
	vm_console_tail(con, buf, n);
}

/* Has a virtiofsd exited?  Its last message then. */
static bool dead_fsd(struct keeper *k, char *buf, size_t n)
{
	for (size_t i = 0; i < k->n_fsd; i++) {
		if (k->fsd[i].pid <= 0 ||
		    waitpid(k->fsd[i].pid, NULL, WNOHANG) != k->fsd[i].pid)
			continue;
		k->fsd[i].pid = -1;
		virtiofsd_reason(&k->fsd[i], buf, n);
		return true;
	}
	return false;
}

/* Wait for one frame on the link, watching QEMU; the frame's type or
 * -errno with err. */
static int await(struct keeper *k, struct ctl_reader *rd, struct ctl_frame *f,
		 unsigned timeout_s, const char *what, struct error *err)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ull;
	char tail[300];

	for (;;) {
		struct pollfd p[2] = {{k->link, POLLIN, 0},
				      {k->qemu_pidfd, POLLIN, 0}};
		uint64_t now = now_ns();
		int r = ctl_reader_next(rd, f);
		ssize_t n;

		if (r > 0)
			return f->type;
		if (r < 0)
			return err_set(err, EPROTO,
				       "malformed frame from the guest");
		if (now >= deadline) {
			console_tail(k, tail, sizeof(tail));
			return err_set(err, ETIMEDOUT,
				       "the guest did not answer on the "
				       "control channel within %u s (%s); "
				       "last console line: \"%s\"",
				       timeout_s, what, tail);
		}
		if (poll(p, 2, (int)((deadline - now) / 1000000 + 1)) < 0 &&
		    errno != EINTR)
			return err_sys(err, errno, "poll");
		if (p[1].revents) {
			int st = 0;
			waitpid(k->qemu, &st, 0);
			k->qemu = -1;
			if (dead_fsd(k, tail, sizeof(tail)))
				return err_set(err, EIO,
					       "a virtiofsd exited %s: %s",
					       what, tail);
			console_tail(k, tail, sizeof(tail));
			return err_set(
			    err, EIO, "QEMU exited (%s %d) %s: \"%s\"",
			    WIFEXITED(st) ? "status" : "signal",
			    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
			    what, tail);
		}
		if (p[0].revents) {
			n = ctl_reader_fill(rd, k->link);
			if (n == 0) {
				/* QEMU is exiting: say why if we can. */
				usleep(100 * 1000);
				if (dead_fsd(k, tail, sizeof(tail)))
					return err_set(err, EIO,
						       "a virtiofsd exited "
						       "%s: %s",
						       what, tail);
				console_tail(k, tail, sizeof(tail));
				return err_set(err, EPIPE,
					       "the control link closed %s: "
					       "\"%s\"",
					       what, tail);
			}
		}
	}
}

static void put_op(struct ctl_fields *fl, const struct setup_op *op)
{
	char s[96];

	snprintf(s, sizeof(s), "%u %u %o %llu", (unsigned)op->type, op->flags,
		 (unsigned)op->mode, (unsigned long long)op->size);
	ctl_put(fl, CTL_F_OP, s);
	if (op->source)
		ctl_put(fl, CTL_F_SOURCE, op->source);
	ctl_put(fl, CTL_F_TARGET, op->target);
}

/* The guest's side of the plan, in plan order (docs/vm-backend.md). */
static int setup_fields(struct keeper *k, struct ctl_fields *fl,
			struct error *err)
{
	const struct plan *p = k->p;
	struct timespec ts;
	uint8_t seed[32];
	char buf[96];
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, sizeof(buf), "%lld.%09ld", (long long)ts.tv_sec,
		 ts.tv_nsec);
	r |= ctl_put(fl, CTL_F_TIME, buf);
	if (getrandom(seed, sizeof(seed), 0) == sizeof(seed)) {
		for (size_t i = 0; i < sizeof(seed); i++)
			snprintf(buf + 2 * i, 3, "%02x", seed[i]);
		r |= ctl_put(fl, CTL_F_SEED, buf);
	}
	r |= ctl_put(fl, CTL_F_HOSTNAME, p->hostname);
	if (p->pids.value) {
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)p->pids.value);
		r |= ctl_put(fl, CTL_F_PIDS, buf);
	}
	/* The root, the shares, then the guest's ops: vm_layout_build()
	 * made sure that order shows what the plan's own order would. */
	r |= ctl_put(fl, CTL_F_SHARE, "root");
	r |= ctl_put(fl, CTL_F_TARGET, "/");
	for (size_t i = 0; i < k->layout.n_rw; i++) {
		if (!k->shared[i])
			continue;
		r |= ctl_put(fl, CTL_F_SHARE, k->layout.rw[i].tag);
		r |= ctl_put(fl, CTL_F_TARGET, k->layout.rw[i].target);
	}
	for (size_t i = 0; i < k->layout.n_guest && r == 0; i++)
		put_op(fl, k->layout.guest[i]);
	if (r < 0)
		return err_set(err, E2BIG, "the guest's setup is too large");
	return 0;
}

/* ---- the agent ------------------------------------------------------ */

static void __attribute__((noreturn))
agent_relay(struct keeper *k, int fd, bool tty, int slave, int stdio[3])
{
	struct relay_req req = {
	    .argv = (const char *const *)k->p->argv,
	    .env = (const char *const *)k->p->env,
	    .tty = tty,
	    .tty_fd = slave,
	    .in = stdio[0],
	    .out = stdio[1],
	    .err = stdio[2],
	};

	prctl(PR_SET_NAME, "bottle-vm-relay");
	vm_relay_main(fd, &req, "");
}

static struct client *client_add(struct keeper *k, int fd)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &k->clients[i];
		if (c->fd >= 0)
			continue;
		c->fd = fd;
		c->chan = k->next_chan++;
		if (k->next_chan == 0)
			k->next_chan = CTL_AGENT + 1;
		fcntl(fd, F_SETFL, O_NONBLOCK);
		return c;
	}
	return NULL;
}

static void client_close(struct client *c)
{
	close(c->fd);
	ctl_reader_release(&c->rd);
	free(c->q.p);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void __attribute__((noreturn))
finish(struct keeper *k, int code, bool graceful);

/* A client went away (or is dropped) before its process ended: the
 * process loses its terminal, as on a hang-up.  Without the agent's
 * relay the bottle has no one to report to: it ends. */
static void client_drop(struct keeper *k, struct client *c)
{
	uint8_t sig[4] = {SIGHUP, 0, 0, 0};

	if (c->closing) {
		client_close(c);
		return;
	}
	if (c->chan == CTL_AGENT) {
		log_warnx("the agent's terminal relay went away");
		client_close(c);
		finish(k, 125, true);
	}
	q_push(&k->linkq, CTL_SIGNAL, c->chan, sig, 4);
	client_close(c);
}

static int start_agent(struct keeper *k, bool tty, struct winsize *ws,
		       int stdio[3], struct error *err)
{
	int sp[2], master = -1, slave = -1, r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return err_sys(err, errno, "socketpair");
	if (tty && (r = ns_open_pty(ws, &master, &slave)) < 0)
		return err_sys(err, -r, "opening a pty");
	pid = fork();
	if (pid < 0)
		return err_sys(err, errno, "fork");
	if (pid == 0) {
		sigset_t none;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(sp[0]);
		if (master >= 0)
			close(master);
		agent_relay(k, sp[1], tty, slave, stdio);
	}
	k->agent_relay = pid;
	close(sp[1]);
	if (slave >= 0)
		close(slave);
	ns_close3(stdio);
	k->next_chan = CTL_AGENT;
	client_add(k, sp[0]);
	if ((r = fd_send1(k->sock, "R", 1, master)) < 0)
		return err_sys(err, -r, "handing the terminal over");
	if (master >= 0)
		close(master);
	return 0;
}

/* ---- the multiplexer ------------------------------------------------ */

static struct client *client_by_chan(struct keeper *k, uint16_t chan)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (k->clients[i].fd >= 0 && k->clients[i].chan == chan)
			return &k->clients[i];
	return NULL;
}

/* End the vm and exit with code.  graceful: the guest is serving, so it
 * gets to kill its processes and sync first.  Then the agent's relay gets
 * the rest of the agent's output (its queue here, then its own writes),
 * bounded: nothing here blocks. */
static void __attribute__((noreturn))
finish(struct keeper *k, int code, bool graceful)
{
	uint64_t deadline = now_ns() + POWEROFF_WAIT_MS * 1000000ull;
	struct ctl_reader own = CTL_READER_INIT;
	struct ctl_reader *rd = k->rd ? k->rd : &own;
	struct client *agent = NULL;
	struct ctl_frame f;

	for (int i = 0; i < MAX_CLIENTS; i++)
		if (k->clients[i].fd >= 0 && k->clients[i].chan == CTL_AGENT)
			agent = &k->clients[i];
	q_push(&k->linkq, CTL_POWEROFF, 0, NULL, 0);
	fcntl(k->link, F_SETFL, O_NONBLOCK);
	while (graceful && k->qemu > 0 && now_ns() < deadline) {
		struct pollfd p[3] = {
		    {k->link, (short)(POLLIN | (k->linkq.len ? POLLOUT : 0)),
		     0},
		    {k->qemu_pidfd, POLLIN, 0},
		    {agent ? agent->fd : -1,
		     agent && agent->q.len ? POLLOUT : 0, 0}};
		bool synced = false;
		ssize_t n;
		int r;

		if (poll(p, 3, 50) <= 0)
			continue;
		if (p[2].revents && q_flush(agent->fd, &agent->q) < 0)
			agent = NULL;
		if ((p[0].revents & POLLOUT) && q_flush(k->link, &k->linkq) < 0)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = ctl_reader_fill(rd, k->link);
			if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR))
				break;
			while ((r = ctl_reader_next(rd, &f)) > 0)
				synced = synced || f.type == CTL_SYNCED;
			if (synced || r < 0)
				break;
		}
		if (p[1].revents)
			break; /* QEMU is gone */
	}
	if (k->qemu > 0) {
		kill(k->qemu, SIGKILL);
		waitpid(k->qemu, NULL, 0);
	}
	for (size_t i = 0; i < k->n_fsd; i++)
		if (k->fsd[i].pid > 0)
			kill(k->fsd[i].pid, SIGTERM);
	for (size_t i = 0; i < k->n_fsd; i++)
		virtiofsd_stop(&k->fsd[i]);
	/* The agent's last output, then its relay's exit. */
	deadline = now_ns() + POWEROFF_WAIT_MS * 1000000ull;
	while (agent && agent->q.len && now_ns() < deadline) {
		struct pollfd p = {agent->fd, POLLOUT, 0};
		if (poll(&p, 1, 50) > 0 && q_flush(agent->fd, &agent->q) < 0)
			break;
	}
	if (agent)
		shutdown(agent->fd, SHUT_WR);
	while (k->agent_relay > 0 && now_ns() < deadline) {
		if (waitpid(k->agent_relay, NULL, WNOHANG) != 0)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	_exit(code);
}

/* A frame from the guest: to its client. */
static void from_guest(struct keeper *k, const struct ctl_frame *f)
{
	struct client *c = client_by_chan(k, f->chan);

	if (f->chan == 0 && f->type == CTL_HELLO) {
		/* Its kernel rebooted: a panic's reboot that QEMU did not
		 * turn into an exit.  The bottle is gone either way. */
		char tail[300];
		console_tail(k, tail, sizeof(tail));
		log_warnx("the guest rebooted: \"%s\"", tail);
		finish(k, 125, false);
	}
	if (f->chan == 0) {
		char text[512];
		log_warnx("the guest: %s %s", ctl_type_name(f->type),
			  vm_guest_text(f->data, f->len, text, sizeof(text)));
		return;
	}
	if (c) {
		q_push(&c->q, f->type, 0, f->data, f->len);
		if (c->q.len > QUEUE_MAX) {
			log_warnx("dropping a client that does not read");
			client_drop(k, c);
			c = NULL;
		}
	}
	if (f->chan == CTL_AGENT && f->type == CTL_EXIT)
		finish(k, f->len == 4 ? f->data[0] : 1, true);
	if (f->chan == CTL_AGENT && f->type == CTL_FAIL) {
		log_warnx("the agent could not start in the guest");
		finish(k, 125, true);
	}
	/* Its process is done: the client goes once its queue is out. */
	if (c && (f->type == CTL_EXIT || f->type == CTL_FAIL))
		c->closing = true;
}

/* Frames from a client: to the guest on its channel.  False to drop it. */
static bool from_client(struct keeper *k, struct client *c)
{
	struct ctl_frame f;
	ssize_t n = ctl_reader_fill(&c->rd, c->fd);
	int r;

	if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR))
		return false;
	while ((r = ctl_reader_next(&c->rd, &f)) > 0) {
		if (f.type != CTL_EXEC && f.type != CTL_STDIN &&
		    f.type != CTL_WINSZ && f.type != CTL_SIGNAL)
			return false;
		q_push(&k->linkq, f.type, c->chan, f.data, f.len);
	}
	return r == 0;
}

static void on_signal(struct keeper *k, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		uint8_t b[4] = {(uint8_t)si.ssi_signo, 0, 0, 0};
		int st;
		pid_t pid;

		if (si.ssi_signo != SIGCHLD) {
			q_push(&k->linkq, CTL_SIGNAL, CTL_AGENT, b, 4);
			continue;
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			char tail[300];
			if (pid == k->qemu) {
				k->qemu = -1;
				console_tail(k, tail, sizeof(tail));
				log_warnx("QEMU exited (%s %d) before the "
					  "agent: \"%s\"",
					  WIFEXITED(st) ? "status" : "signal",
					  WIFEXITED(st) ? WEXITSTATUS(st)
							: WTERMSIG(st),
					  tail);
				finish(k, 125, false);
			}
			if (pid == k->agent_relay) {
				k->agent_relay = -1;
				log_warnx("the agent's terminal relay exited "
					  "before the agent");
				finish(k, 125, true);
			}
			for (size_t i = 0; i < k->n_fsd; i++)
				if (k->fsd[i].pid == pid) {
					k->fsd[i].pid = -1;
					console_tail(k, tail, sizeof(tail));
					log_warnx("a virtiofsd exited (%s); "
						  "stopping the vm; its "
						  "console: \"%s\"",
						  k->fsd[i].socket, tail);
					finish(k, 125, false);
				}
		}
	}
}

/* The link closed under us: QEMU is exiting (a guest panic, power off);
 * say why, from its console. */
static void __attribute__((noreturn)) link_closed(struct keeper *k)
{
	struct pollfd p = {k->qemu_pidfd, POLLIN, 0};
	char tail[300];
	int st = 0;

	if (k->qemu > 0 && poll(&p, 1, 2000) > 0 &&
	    waitpid(k->qemu, &st, 0) == k->qemu) {
		k->qemu = -1;
		console_tail(k, tail, sizeof(tail));
		log_warnx("the guest stopped: QEMU exited (%s %d): \"%s\"",
			  WIFEXITED(st) ? "status" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), tail);
	} else {
		log_warnx("the control link closed");
	}
	finish(k, 125, false);
}

static void __attribute__((noreturn))
serve(struct keeper *k, int sfd, struct ctl_reader *rd)
{
	struct pollfd pfd[3 + MAX_CLIENTS];
	struct client *who[3 + MAX_CLIENTS];

	fcntl(k->link, F_SETFL, O_NONBLOCK);
	k->rd = rd;
	for (;;) {
		struct ctl_frame f;
		nfds_t n = 0;
		bool full = k->linkq.len > QUEUE_MAX / 2;
		int r;

		pfd[n++] = (struct pollfd){
		    k->link, (short)(POLLIN | (k->linkq.len ? POLLOUT : 0)), 0};
		pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
		pfd[n++] = (struct pollfd){k->listener, POLLIN, 0};
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &k->clients[i];
			if (c->fd < 0)
				continue;
			if (c->closing && !c->q.len) {
				client_close(c);
				continue;
			}
			who[n] = c;
			/* Back-pressure: while the link's queue is long,
			 * clients wait. */
			pfd[n++] = (struct pollfd){
			    c->fd,
			    (short)((full || c->closing ? 0 : POLLIN) |
				    (c->q.len ? POLLOUT : 0)),
			    0};
		}
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			continue;
		if (pfd[1].revents)
			on_signal(k, sfd);
		if (pfd[2].revents & POLLIN) {
			int fd = accept4(k->listener, NULL, NULL,
					 SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0 && !client_add(k, fd))
				close(fd);
		}
		for (nfds_t i = 3; i < n; i++) {
			struct client *c = who[i];
			if (c->fd != pfd[i].fd || !pfd[i].revents)
				continue;
			if ((pfd[i].revents & POLLOUT) &&
			    q_flush(c->fd, &c->q) < 0) {
				client_drop(k, c);
				continue;
			}
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !from_client(k, c))
				client_drop(k, c);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t got = ctl_reader_fill(rd, k->link);
			if (got == 0 ||
			    (got < 0 && got != -EAGAIN && got != -EINTR))
				link_closed(k);
			while ((r = ctl_reader_next(rd, &f)) > 0)
				from_guest(k, &f);
			if (r < 0) {
				log_warnx("malformed frame from the guest");
				finish(k, 125, false);
			}
		}
		if (k->linkq.len && q_flush(k->link, &k->linkq) < 0) {
			log_warnx("writing to the guest: %s", strerror(errno));
			finish(k, 125, false);
		}
		if (k->linkq.len > QUEUE_MAX) {
			log_warnx("the guest stopped reading its control "
				  "channel");
			finish(k, 125, false);
		}
	}
}

static int listen_sock(struct keeper *k, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int w = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" VM_SOCK_NAME,
			 k->p->run_dir);

	if (w < 0 || (size_t)w >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "%s: path too long",
			       k->p->run_dir);
	unlink(sa.sun_path);
	k->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->listener < 0 ||
	    bind(k->listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0600) < 0 || listen(k->listener, 16) < 0)
		return err_sys(err, errno, "listening on %s", sa.sun_path);
	return 0;
}

int vm_keeper_main(const struct vm_launch_ctx *x)
{
	struct keeper k = {.x = x,
			   .p = x->plan,
			   .sock = x->sock,
			   .link = -1,
			   .qemu = -1,
			   .qemu_pidfd = -1,
			   .listener = -1};
	struct vm_boot boot = x->boot;
	struct vm_share sh[MAX_SHARES];
	struct ctl_reader rd = CTL_READER_INIT;
	struct ctl_fields fl = {0};
	struct ctl_frame f;
	struct error err = ERROR_INIT;
	int link[2] = {-1, -1}, stdio[3], sfd, t;
	char b = 0, text[512];
	sigset_t set;

	uint64_t t0 = now_ns(), t_qemu = 0;

	prctl(PR_SET_NAME, "bottle-vm");
	/* A peer gone is an error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	memcpy(stdio, x->stdio, sizeof(stdio));
	for (int i = 0; i < MAX_CLIENTS; i++)
		k.clients[i].fd = -1;
	k.dir = xasprintf("%s/vm", k.p->run_dir);
	/* Signals wait in the signalfd from the start. */
	sigemptyset(&set);
	for (int s = 0, sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				  SIGUSR1, SIGUSR2};
	     s < 7; s++)
		sigaddset(&set, sigs[s]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd_recv1(k.sock, &b, 1, NULL) != 1 || b != 'G')
		_exit(125);
	if (endpoints(&k, &boot.tap_fd, &err) < 0) {
		err_prefix(&err, "the network");
		keeper_fail(&k, &err);
	}
	boot.net = true;
	if (shares(&k, &boot, sh, &err) < 0 || listen_sock(&k, &err) < 0)
		keeper_fail(&k, &err);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, link) < 0) {
		err_sys(&err, errno, "socketpair");
		keeper_fail(&k, &err);
	}
	k.link = link[0];
	boot.ctl = true;
	boot.ctl_fd = link[1];
	t_qemu = now_ns();
	if (spawn_qemu(&k, &boot, link[1], &err) < 0)
		keeper_fail(&k, &err);
	close(link[1]);
	close(boot.tap_fd);
	t = await(&k, &rd, &f, x->timeout_s, "booting", &err);
	if (t > 0 && t != CTL_HELLO)
		err_set(&err, EPROTO, "the guest said %s before HELLO",
			ctl_type_name((uint8_t)t));
	if (t != CTL_HELLO)
		keeper_fail(&k, &err);
	log_info("vm: QEMU started at %.0f ms; the guest's HELLO at %.0f ms "
		 "(%s s of its own time)",
		 (double)(t_qemu - t0) / 1e6, (double)(now_ns() - t0) / 1e6,
		 vm_guest_text(f.data, f.len, text, sizeof(text)));
	if (setup_fields(&k, &fl, &err) < 0)
		keeper_fail(&k, &err);
	ctl_send(k.link, CTL_SETUP, 0, fl.p, fl.len);
	ctl_fields_release(&fl);
	t = await(&k, &rd, &f, x->timeout_s, "setting up", &err);
	if (t == CTL_FAIL)
		err_set(&err, EIO, "setting the guest up: %s",
			vm_guest_text(f.data, f.len, text, sizeof(text)));
	else if (t > 0 && t != CTL_READY)
		err_set(&err, EPROTO, "the guest said %s during set-up",
			ctl_type_name((uint8_t)t));
	if (t != CTL_READY)
		keeper_fail(&k, &err);
	log_info("vm: set up at %.0f ms (the guest: %s)",
		 (double)(now_ns() - t0) / 1e6,
		 vm_guest_text(f.data, f.len, text, sizeof(text)));
	if (start_agent(&k, x->tty, (struct winsize *)&x->ws, stdio, &err) < 0)
		keeper_fail(&k, &err);
	/* From here on the launcher has what it waited for. */
	close(k.sock);
	serve(&k, sfd, &rd);
}
