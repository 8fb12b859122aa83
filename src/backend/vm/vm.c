/* The vm backend: the agent in a QEMU microVM with a kernel of its own
 * (DESIGN.md, "Backends"; docs/vm-backend.md).
 *
 * The launcher resolves everything that can fail without a process (the
 * guest kernel, the initramfs, KVM or TCG), then clones the keeper
 * (keeper.c) into new user, mount and network namespaces and speaks the
 * same short protocol with it as the ns launcher with its init: "G", the
 * endpoint listeners ("L"), "B", then "R" with the agent's terminal or "E"
 * with the reason. */
#include "backend/vm/vm.h"

#include "backend/ns/ns.h"
#include "backend/vm/initramfs.h"
#include "backend/vm/relay.h"
#include "backend/vm/virtiofsd.h"
#include "lib/fdpass.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the guest may take to boot, and then to set up (each). */
#define BOOT_TIMEOUT_TCG 120
#define BOOT_TIMEOUT_KVM 30

void vm_console_tail(const char *path, char *buf, size_t n)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *text = NULL;
	struct strbuf sb = STRBUF_INIT;
	size_t len = 0;
	char *end, *line;

	buf[0] = '\0';
	if (read_file(path, &text, &len, 4u << 20, &err) < 0)
		return;
	end = text + len;
	while (end > text &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = '\0';
	/* A panic's own line says more than the trace after it. */
	if ((line = strstr(text, "Kernel panic - ")) ||
	    (line = strstr(text, "Out of memory"))) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (nl && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
	} else {
		line = strrchr(text, '\n');
		line = line ? line + 1 : text;
	}
	term_safe(&sb, line, strlen(line), TERM_SAFE_ONE_LINE);
	snprintf(buf, n, "%s", sb.buf ? sb.buf : "");
	strbuf_release(&sb);
}

int vm_prepare(const char *kernel_path, const char *init_path,
	       enum vm_accel accel, struct vm_prep *out, struct error *err)
{
	_cleanup_free_ char *release = NULL;
	struct strbuf why = STRBUF_INIT;
	struct initramfs_spec spec = {0};
	bool built;
	int r;

	memset(out, 0, sizeof(*out));
	out->cache = vm_cache_dir();
	if (!out->cache)
		return err_set(err, EINVAL,
			       "set HOME or XDG_CACHE_HOME for the vm cache");
	out->init = init_path ? xstrdup(init_path) : helper_path("bottle-init");
	if (!out->init || access(out->init, R_OK) < 0)
		return err_set(err, ENOENT,
			       "bottle-init not found next to bottle (%s)",
			       out->init ? out->init : "?");
	if (kernel_path)
		out->kernel = xstrdup(kernel_path);
	else if ((r = kernel_find("/boot", "/lib/modules", &out->kernel, err)) <
		 0)
		return err_prefix(err, "the guest kernel");
	if ((r = kernel_release(out->kernel, &release, err)) < 0)
		return err_prefix(err, "the guest kernel %s", out->kernel);
	spec.init_path = out->init;
	spec.release = release;
	spec.modules = vm_guest_modules;
	spec.cache_dir = out->cache;
	if ((r = initramfs_get(&spec, &out->initrd, &built, err)) < 0)
		return err_prefix(err, "the initramfs");
	out->qemu = path_find("qemu-system-x86_64");
	if (!out->qemu)
		return err_set(err, ENOENT,
			       "qemu-system-x86_64 not found in PATH (apt-get "
			       "install qemu-system-x86)");
	out->boot.qemu = out->qemu;
	out->boot.kernel = out->kernel;
	out->boot.initrd = out->initrd;
	out->boot.tsc_khz = host_tsc_khz();
	out->boot.accel = accel;
	if (accel == VM_ACCEL_AUTO) {
		out->boot.accel = vm_kvm_works(&out->boot, out->cache, &why)
				      ? VM_ACCEL_KVM
				      : VM_ACCEL_TCG;
		log_info("%s", why.buf);
	}
	strbuf_release(&why);
	return 0;
}

void vm_prep_release(struct vm_prep *p)
{
	free(p->cache);
	free(p->qemu);
	free(p->init);
	free(p->kernel);
	free(p->initrd);
	memset(p, 0, sizeof(*p));
}

static enum vm_accel accel_of(const char *s)
{
	if (s && strcmp(s, "kvm") == 0)
		return VM_ACCEL_KVM;
	if (s && strcmp(s, "tcg") == 0)
		return VM_ACCEL_TCG;
	return VM_ACCEL_AUTO;
}

static int write_maps(pid_t pid, const struct plan *p, struct error *err)
{
	char path[64], map[96];
	const char *files[] = {"uid_map", "gid_map"};
	unsigned ids[] = {(unsigned)p->host_uid, (unsigned)p->host_gid};

	for (int i = 0; i < 2; i++) {
		_cleanup_close_ int fd = -1;
		/* Root stays root (the keeper reads root's state dir, opens
		 * /dev/kvm and /dev/net/tun); the agent's uid inside the
		 * guest is the agent's host uid on the shares; the helpers'
		 * identity is an unprivileged host id. */
		snprintf(map, sizeof(map), "0 0 1\n%u %u 1\n%u %u 1\n",
			 AGENT_UID, ids[i], VM_HELPER_UID, VM_HELPER_HOST_ID);
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write_all(fd, map, strlen(map)) < 0)
			return err_sys(err, errno, "writing %s", path);
	}
	return 0;
}

static int vm_launch(const struct plan *p, const struct launch_hooks *hooks,
		     struct bottle_io *io, struct bottle_proc *out,
		     struct error *err)
{
	struct vm_prep prep;
	const char *test;
	struct vm_launch_ctx x = {.plan = p, .tty = io->tty, .ws = io->ws};
	int sp[2] = {-1, -1}, parent_io[3] = {-1, -1, -1};
	int child_io[3] = {-1, -1, -1}, pidfd = -1, r;
	_cleanup_free_ char *dir = xasprintf("%s/vm", p->run_dir);
	struct clone_args ca = {
	    .flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)&pidfd,
	    .exit_signal = SIGCHLD,
	};
	pid_t pid = -1;

	if (geteuid() != 0)
		return err_set(err, ENOTSUP,
			       "the vm backend needs root for now (its "
			       "virtiofsd maps the agent's uid); use the ns "
			       "backend");
	if ((r = vm_prepare(p->vm_kernel, NULL, accel_of(p->vm_accel), &prep,
			    err)) < 0) {
		vm_prep_release(&prep);
		return r;
	}
	x.boot = prep.boot;
	x.boot.mem_mb = (unsigned)(p->vm_memory >> 20);
	/* BOTTLE_TEST_GUEST=silent: a guest that never answers; =panic: one
	 * whose kernel panics once set up (tests). */
	x.boot.init_args = "ctl";
	if ((test = getenv("BOTTLE_TEST_GUEST")) &&
	    (strcmp(test, "silent") == 0 || strcmp(test, "panic") == 0))
		x.boot.init_args =
		    strcmp(test, "silent") == 0 ? "ctl silent" : "ctl panic";
	x.boot.cpus =
	    p->cpu.value ? (unsigned)((p->cpu.value + 999) / 1000) : 1;
	x.timeout_s =
	    x.boot.accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM : BOOT_TIMEOUT_TCG;
	if (getenv("BOTTLE_VM_TIMEOUT"))
		x.timeout_s = (unsigned)atoi(getenv("BOTTLE_VM_TIMEOUT"));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = err_sys(err, errno, "mkdir %s", dir);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		r = err_sys(err, errno, "socketpair");
		goto out;
	}
	if (!io->tty && (r = ns_make_pipes(parent_io, child_io, err)) < 0)
		goto out;
	x.sock = sp[1];
	memcpy(x.stdio, child_io, sizeof(child_io));
	if (hooks &&
	    (r = hooks->record(hooks->ctx, "process", "keeper", err)) < 0)
		goto out;
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		r = err_sys(err, errno, "creating the vm's namespaces");
		goto out;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sp[0]);
		ns_close3(parent_io);
		vm_keeper_main(&x);
	}
	close(sp[1]);
	sp[1] = -1;
	ns_close3(child_io);
	out->init_pid = pid;
	out->pidfd = pidfd;
	out->init_start = proc_start_time(pid);
	if ((r = write_maps(pid, p, err)) < 0)
		goto fail;
	if ((r = fd_send1(sp[0], "G", 1, -1)) < 0) {
		r = err_sys(err, -r, "starting the vm's keeper");
		goto fail;
	}
	if ((r = ns_start_bundle(sp[0], p, hooks, err)) < 0 ||
	    (r = ns_wait_ready(sp[0], io, "the vm's keeper", err)) < 0)
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
	vm_prep_release(&prep);
	return r;
}

/* `bottle exec`: a relay child is the process the monitor waits on. */
static int vm_exec(const struct exec_req *req, struct bottle_io *io,
		   pid_t *pid_out, struct error *err)
{
	int parent_io[3] = {-1, -1, -1}, child_io[3] = {-1, -1, -1};
	int master = -1, slave = -1, sock, r;
	pid_t pid;

	if (!req->plan)
		return err_set(err, EINVAL, "no plan for the bottle");
	if ((sock = vm_connect(req->plan->run_dir, err)) < 0)
		return sock;
	if (io->tty && (r = ns_open_pty(&io->ws, &master, &slave)) < 0) {
		close(sock);
		return err_sys(err, -r, "opening a pty");
	}
	if (!io->tty && (r = ns_make_pipes(parent_io, child_io, err)) < 0) {
		close(sock);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		struct relay_req rq = {
		    .argv = req->argv,
		    .env = req->env,
		    .cwd = req->cwd,
		    .tty = io->tty,
		    .ws = io->ws,
		    .tty_fd = slave,
		    .in = child_io[0],
		    .out = child_io[1],
		    .err = child_io[2],
		};

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Our copies of the caller's ends would keep the agent's
		 * stdin from ever seeing EOF. */
		ns_close3(parent_io);
		if (master >= 0)
			close(master);
		vm_relay_main(sock, &rq, "exec: ");
	}
	*pid_out = pid;
	if (io->tty) {
		io->pty_master = master;
		master = -1;
	} else {
		ns_io_take_pipes(io, parent_io);
	}
	r = 0;
out:
	close(sock);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	ns_close3(parent_io);
	ns_close3(child_io);
	return r;
}

static int vm_copy_in(const struct exec_req *req, const char *host_path,
		      const char *path, struct error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int sock, r;

	if (!req->plan)
		return err_set(err, EINVAL, "no plan for the bottle");
	fd = open(host_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, errno, "%s", host_path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "%s: not a regular file",
			       host_path);
	if ((sock = vm_connect(req->plan->run_dir, err)) < 0)
		return sock;
	r = vm_relay_copy(sock, fd, path, st.st_mode & 0777, err);
	close(sock);
	return r;
}

static int vm_stop(pid_t init_pid, uint64_t init_start, struct error *err)
{
	return ns_backend.stop(init_pid, init_start, err);
}

static int vm_release(const struct plan *p, struct error *err)
{
	_cleanup_free_ char *sock = xasprintf("%s/" VM_SOCK_NAME, p->run_dir);
	_cleanup_free_ char *dir = xasprintf("%s/vm", p->run_dir);

	(void)err;
	unlink(sock);
	rmdir(dir);
	return 0;
}

static int vm_list_orphans(const char *state_home,
			   bool (*live)(const char *id, void *ctx),
			   void *live_ctx, orphan_fn fn, void *ctx)
{
	/* Everything of a vm bottle dies with its keeper (PR_SET_PDEATHSIG,
	 * namespaces); the keeper dies with its monitor.  Nothing to find. */
	(void)state_home;
	(void)live;
	(void)live_ctx;
	(void)fn;
	(void)ctx;
	return 0;
}

static int vm_remove_orphan(const char *kind, const char *what,
			    struct error *err)
{
	return err_set(err, EINVAL, "unknown vm orphan %s %s", kind, what);
}

static void vm_host_limits(struct host_facts *h)
{
	/* The guest's size is the limit: memory is its RAM, cpus its
	 * vCPUs; pids an rlimit in the guest. */
	h->mem_mech = LIMIT_VM;
	h->cpu_mech = LIMIT_VM;
	h->pids_mech = LIMIT_RLIMIT;
}

const struct backend_ops vm_backend = {
    .name = "vm",
    .probe_host = vm_probe_host,
    .host_limits = vm_host_limits,
    .launch = vm_launch,
    .exec = vm_exec,
    .copy_in = vm_copy_in,
    .stop = vm_stop,
    .release = vm_release,
    .list_orphans = vm_list_orphans,
    .remove_orphan = vm_remove_orphan,
};
