/* Probes of the kernel attack surface: syscalls a bottle must refuse.
 *
 * Every operation is tried through attempt(), in a throw-away child: a
 * seccomp filter that kills with SIGSYS is then as visible as one that
 * returns EPERM, and whatever an operation manages to do outside a bottle
 * (join a namespace, become traced, load a map) dies with that child.
 * Arguments are chosen so that an allowed call does no harm: mounts go on
 * a private temporary directory and are undone at once, pivot_root gets a
 * path that does not exist, and so on. */
#include "guest/probes.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/tiocl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

/* Reap a child created by a raw clone, so the attempt exits cleanly. */
static long reap_clone(long pid)
{
	int err = errno;

	if (pid > 0)
		waitpid((pid_t)pid, NULL, __WALL);
	errno = err;
	return pid;
}

/* ---- no-mount ---------------------------------------------------------- */

/* A private empty directory to mount on: /tmp, else home or workspace. */
static bool make_mount_dir(const struct probe_opts *o, char *out, size_t n)
{
	const char *bases[] = {"/tmp", o->home, o->workspace, "/dev/shm"};

	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		if (!bases[i])
			continue;
		snprintf(out, n, "%s/.bottle-probe-mnt-XXXXXX", bases[i]);
		if (mkdtemp(out))
			return true;
	}
	return false;
}

static long try_mount(void *dir)
{
	long ret = mount("none", dir, "tmpfs", 0, NULL);

	if (ret == 0)
		umount2(dir, MNT_DETACH); /* outside a bottle: undo it */
	return ret;
}

/* On a directory that is not a mount point: EPERM without the capability,
 * EINVAL once the kernel gets as far as looking at the mount. */
static long try_umount(void *dir)
{
	return umount2(dir, 0);
}

/* A new root that does not exist: refused with EPERM before the path is
 * looked up, or ENOENT if the caller could pivot. */
static long try_pivot_root(void *arg)
{
	(void)arg;
	return syscall(SYS_pivot_root, "/nonexistent-bottle-probe",
		       "/nonexistent-bottle-probe");
}

static long try_fsopen(void *arg)
{
	(void)arg;
	return syscall(SYS_fsopen, "tmpfs", (long)FSOPEN_CLOEXEC);
}

/* A detached copy of a mount tree; harmless, gone when the fd closes. */
static long try_open_tree(void *dir)
{
	return syscall(SYS_open_tree, (long)AT_FDCWD, dir,
		       OPEN_TREE_CLONE | O_CLOEXEC);
}

void probe_no_mount(const struct probe_opts *opts, struct probe_report *r)
{
	char dir[PATH_MAX];

	if (!make_mount_dir(opts, dir, sizeof(dir))) {
		report_note(r, "no directory to mount on; mount not tried");
	} else {
		expect_denied(r, "mount tmpfs", try_mount, dir, true);
		expect_denied(r, "umount2", try_umount, dir, true);
		expect_denied(r, "open_tree clone", try_open_tree, dir, true);
		rmdir(dir);
	}
	expect_denied(r, "pivot_root", try_pivot_root, NULL, true);
	expect_denied(r, "fsopen", try_fsopen, NULL, true);
}

/* ---- no-unshare -------------------------------------------------------- */

static long try_unshare(void *flags)
{
	return unshare((int)(intptr_t)flags);
}

static long try_clone_newuser(void *arg)
{
	(void)arg;
	/* Raw clone without a new stack: the child resumes here like after
	 * fork() and leaves at once. */
	long pid =
	    syscall(SYS_clone, (long)(CLONE_NEWUSER | SIGCHLD), 0L, 0L, 0L, 0L);
	if (pid == 0)
		_exit(0);
	return reap_clone(pid);
}

/* struct clone_args, version 0 (64 bytes); spelled out to avoid the clash
 * between <linux/sched.h> and <sched.h>.  clone3 takes its flags through
 * memory, where a seccomp filter cannot look, so a filter must refuse the
 * whole call. */
struct probe_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
	    stack_size, tls;
};

static long try_clone3_newuser(void *arg)
{
	struct probe_clone_args ca = {.flags = CLONE_NEWUSER,
				      .exit_signal = SIGCHLD};
	(void)arg;

	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(0);
	return reap_clone(pid);
}

void probe_no_unshare(const struct probe_opts *opts, struct probe_report *r)
{
	(void)opts;
	expect_denied(r, "unshare(CLONE_NEWUSER)", try_unshare,
		      (void *)(intptr_t)CLONE_NEWUSER, true);
	expect_denied(r, "unshare(CLONE_NEWNS)", try_unshare,
		      (void *)(intptr_t)CLONE_NEWNS, true);
	expect_denied(r, "unshare(CLONE_NEWNET)", try_unshare,
		      (void *)(intptr_t)CLONE_NEWNET, true);
	expect_denied(r, "clone(CLONE_NEWUSER)", try_clone_newuser, NULL, true);
	expect_denied(r, "clone3(CLONE_NEWUSER)", try_clone3_newuser, NULL,
		      true);
}

/* ---- no-setns ---------------------------------------------------------- */

struct setns_try {
	const char *path;
	int nstype;
};

/* Joining the namespace we are already in changes nothing, but it needs
 * the same privilege as joining any other. */
static long try_setns(void *arg)
{
	const struct setns_try *t = arg;
	int fd = open(t->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	return setns(fd, t->nstype);
}

void probe_no_setns(const struct probe_opts *opts, struct probe_report *r)
{
	static const struct setns_try tries[] = {
	    {"/proc/self/ns/net", CLONE_NEWNET},
	    {"/proc/self/ns/mnt", CLONE_NEWNS},
	    {"/proc/self/ns/uts", CLONE_NEWUTS},
	};
	(void)opts;

	for (size_t i = 0; i < ARRAY_SIZE(tries); i++)
		expect_denied(r, tries[i].path, try_setns, (void *)&tries[i],
			      true);
}

/* ---- no-ptrace --------------------------------------------------------- */

/* Trace a child of our own: Yama's default scope allows that, so only the
 * sandbox stands in the way. */
static long try_ptrace_child(void *req)
{
	pid_t target = fork();

	if (target < 0)
		return -1;
	if (target == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	long ret = ptrace((int)(intptr_t)req, target, NULL, NULL);
	int err = errno;
	kill(target, SIGKILL);
	waitpid(target, NULL, __WALL);
	errno = err;
	return ret;
}

static long try_traceme(void *arg)
{
	(void)arg;
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

void probe_no_ptrace(const struct probe_opts *opts, struct probe_report *r)
{
	char scope[16];
	(void)opts;

	expect_denied(r, "PTRACE_ATTACH", try_ptrace_child,
		      (void *)(intptr_t)PTRACE_ATTACH, true);
	expect_denied(r, "PTRACE_SEIZE", try_ptrace_child,
		      (void *)(intptr_t)PTRACE_SEIZE, true);
	expect_denied(r, "PTRACE_TRACEME", try_traceme, NULL, true);
	if (read_file("/proc/sys/kernel/yama/ptrace_scope", scope,
		      sizeof(scope)) > 0)
		report_note(r, "yama ptrace_scope %.*s",
			    (int)strcspn(scope, "\n"), scope);
}

/* ---- no-keyctl --------------------------------------------------------- */

static long try_keyctl(void *arg)
{
	(void)arg;
	return syscall(SYS_keyctl, (long)KEYCTL_GET_KEYRING_ID,
		       (long)KEY_SPEC_SESSION_KEYRING, 0L);
}

/* The process keyring dies with the attempt's child. */
static long try_add_key(void *arg)
{
	(void)arg;
	return syscall(SYS_add_key, "user", "bottle-probe", "x", (size_t)1,
		       (long)KEY_SPEC_PROCESS_KEYRING);
}

void probe_no_keyctl(const struct probe_opts *opts, struct probe_report *r)
{
	(void)opts;
	expect_denied(r, "keyctl(GET_KEYRING_ID)", try_keyctl, NULL, true);
	expect_denied(r, "add_key", try_add_key, NULL, true);
}

/* ---- no-bpf ------------------------------------------------------------ */

static long try_bpf_map(void *arg)
{
	union bpf_attr attr;
	(void)arg;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	return syscall(SYS_bpf, (long)BPF_MAP_CREATE, &attr, sizeof(attr));
}

/* The smallest valid program: r0 = 0; exit. */
static long try_bpf_prog(void *arg)
{
	static const struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	union bpf_attr attr;
	(void)arg;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = ARRAY_SIZE(insns);
	attr.license = (uint64_t)(uintptr_t) "GPL";
	return syscall(SYS_bpf, (long)BPF_PROG_LOAD, &attr, sizeof(attr));
}

void probe_no_bpf(const struct probe_opts *opts, struct probe_report *r)
{
	char v[16];
	(void)opts;

	expect_denied(r, "BPF_MAP_CREATE", try_bpf_map, NULL, true);
	expect_denied(r, "BPF_PROG_LOAD", try_bpf_prog, NULL, true);
	if (read_file("/proc/sys/kernel/unprivileged_bpf_disabled", v,
		      sizeof(v)) > 0)
		report_note(r, "unprivileged_bpf_disabled %.*s",
			    (int)strcspn(v, "\n"), v);
}

/* ---- no-misc-syscalls -------------------------------------------------- */

/* A software counter on ourselves, user space only: allowed by the default
 * perf_event_paranoid, so only the sandbox refuses it. */
static long try_perf_event_open(void *arg)
{
	struct perf_event_attr pe;
	(void)arg;

	memset(&pe, 0, sizeof(pe));
	pe.type = PERF_TYPE_SOFTWARE;
	pe.size = sizeof(pe);
	pe.config = PERF_COUNT_SW_DUMMY;
	pe.disabled = 1;
	pe.exclude_kernel = 1;
	pe.exclude_hv = 1;
	return syscall(SYS_perf_event_open, &pe, 0L, -1L, -1L,
		       (long)PERF_FLAG_FD_CLOEXEC);
}

static long try_userfaultfd(void *arg)
{
	(void)arg;
	return syscall(SYS_userfaultfd, (long)O_CLOEXEC);
}

static long try_io_uring_setup(void *arg)
{
	struct io_uring_params p;
	(void)arg;

	memset(&p, 0, sizeof(p));
	return syscall(SYS_io_uring_setup, 1L, &p);
}

void probe_no_misc_syscalls(const struct probe_opts *opts,
			    struct probe_report *r)
{
	(void)opts;
	expect_denied(r, "perf_event_open", try_perf_event_open, NULL, true);
	expect_denied(r, "userfaultfd", try_userfaultfd, NULL, true);
	expect_denied(r, "io_uring_setup", try_io_uring_setup, NULL, true);
}

/* ---- tiocsti ----------------------------------------------------------- */

/* TIOCSTI only works on one's controlling terminal (without
 * CAP_SYS_ADMIN), so a pty that is not ours would refuse it whatever the
 * sandbox does.  We make a fresh pty our controlling terminal in a new
 * session: a successful injection then lands in our own pty, not in the
 * user's terminal.  /dev/tty is the fallback when no pty can be had. */
struct tty_try {
	const char *slave; /* pty slave to make our ctty; NULL: /dev/tty */
	unsigned long req; /* TIOCSTI or TIOCLINUX */
};

static long try_tty_ioctl(void *arg)
{
	const struct tty_try *t = arg;
	char c = t->req == TIOCSTI ? 'x' : TIOCL_GETSHIFTSTATE;
	int fd;

	if (t->slave) {
		if (setsid() < 0)
			_exit(126);
		fd = open(t->slave, O_RDWR | O_CLOEXEC); /* becomes ctty */
	} else {
		fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		_exit(126); /* reported as "no result" */
	return ioctl(fd, t->req, &c);
}

/* Open a pty master and return it, with the slave's path in slave. */
static int open_pty(char *slave, size_t n)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, n)) {
		close(m);
		return -1;
	}
	return m;
}

static bool have_dev_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void probe_tiocsti(const struct probe_opts *opts, struct probe_report *r)
{
	char slave[64];
	struct tty_try sti = {NULL, TIOCSTI}, tiocl = {NULL, TIOCLINUX};
	(void)opts;

	int master = open_pty(slave, sizeof(slave));
	if (master >= 0) {
		sti.slave = tiocl.slave = slave;
		report_note(r, "on a private pty");
	} else if (have_dev_tty()) {
		report_note(r, "no pty (%s); on /dev/tty", errno_name(errno));
	} else {
		report_skip(r, "no pty and no /dev/tty to test on");
		return;
	}
	/* Any failure means nothing was injected: EPERM from seccomp, EIO
	 * from dev.tty.legacy_tiocsti=0, ENOTTY for TIOCLINUX off a VT. */
	expect_denied(r, "TIOCSTI", try_tty_ioctl, &sti, false);
	expect_denied(r, "TIOCLINUX", try_tty_ioctl, &tiocl, false);
	if (master >= 0)
		close(master);
}
