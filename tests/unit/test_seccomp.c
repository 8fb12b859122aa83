/* The ns backend's seccomp filter, exercised for real: every probe runs in
 * a forked child that sets NO_NEW_PRIVS, loads the filter and makes one
 * raw syscall, reporting errno through its exit status.
 *
 * Where the kernel's own answer without the filter is known not to be the
 * filter's (arguments chosen to fail early with EBADF, ENOENT, EFAULT...,
 * or a call that simply succeeds), the probe also runs unfiltered and the
 * test checks the answers differ: that proves the rule, not the kernel's
 * permission checks, produced the error, whether or not we run as root. */
#include "backend/ns/seccomp.h"

#include "lib/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>

#define NOPATH		  "/nonexistent/bottle-seccomp-test"
#define X32_SYSCALL_BIT	  0x40000000L
#define NR_OPEN_TREE_ATTR 467

static struct seccomp_prog prog = SECCOMP_PROG_INIT;

/* Whether the unfiltered run tells us something (see top of file). */
enum control { ANY, DIFFERS };

struct probe {
	const char *what;
	long (*fn)(void);
	int want; /* errno, 0 for success, -signal for killed */
	enum control control;
};

/* Run fn in a child; the result is encoded like probe.want. */
static int run(long (*fn)(void), bool filtered)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit nocore = {0, 0};
		long r;

		setrlimit(RLIMIT_CORE, &nocore);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(254);
		if (filtered && seccomp_prog_load(&prog) < 0)
			_exit(255);
		errno = 0;
		r = fn();
		_exit(r < 0 ? (errno > 0 && errno < 250 ? errno : 253) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static const char *describe(int result, char *buf, size_t size)
{
	if (result < 0)
		snprintf(buf, size, "killed by signal %d", -result);
	else if (result == 0)
		snprintf(buf, size, "success");
	else
		snprintf(buf, size, "%s", strerror(result));
	return buf;
}

static void check(const struct probe *p, size_t n)
{
	char got_s[64], want_s[64];
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		int got = run(p[i].fn, true);

		if (got != p[i].want) {
			print_error(
			    "%s: got %s, want %s\n", p[i].what,
			    describe(got, got_s, sizeof(got_s)),
			    describe(p[i].want, want_s, sizeof(want_s)));
			failed++;
			continue;
		}
		if (p[i].control == DIFFERS && run(p[i].fn, false) == got) {
			print_error("%s: %s without the filter too\n",
				    p[i].what,
				    describe(got, got_s, sizeof(got_s)));
			failed++;
		}
	}
	if (failed)
		fail_msg("%d of %zu probes failed", failed, n);
}

#define CHECK(probes) check(probes, ARRAY_SIZE(probes))

/* Probes: each returns the syscall's result, -1 with errno on failure. */

static int pty(void)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		_exit(252);
	return fd;
}

static long p_mount(void)
{
	return syscall(SYS_mount, NULL, NOPATH, NULL, MS_BIND, NULL);
}
static long p_umount2(void)
{
	return syscall(SYS_umount2, NOPATH, 0);
}
static long p_pivot_root(void)
{
	return syscall(SYS_pivot_root, NOPATH, NOPATH);
}
static long p_chroot(void)
{
	return syscall(SYS_chroot, NOPATH);
}
static long p_move_mount(void)
{
	return syscall(SYS_move_mount, -1, "", -1, "", 0);
}
static long p_open_tree(void)
{
	return syscall(SYS_open_tree, AT_FDCWD, NOPATH, 0);
}
static long p_open_tree_attr(void)
{
	return syscall(NR_OPEN_TREE_ATTR, AT_FDCWD, NOPATH, 0, NULL, 0);
}
static long p_fsopen(void)
{
	return syscall(SYS_fsopen, "bottle-nonexistent-fs", 0);
}
static long p_fsconfig(void)
{
	return syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
}
static long p_fsmount(void)
{
	return syscall(SYS_fsmount, -1, 0, 0);
}
static long p_fspick(void)
{
	return syscall(SYS_fspick, -1, "", 0);
}
static long p_mount_setattr(void)
{
	return syscall(SYS_mount_setattr, -1, "", 0, NULL, 0);
}

static void mount_family_denied(void **state)
{
	static const struct probe probes[] = {
	    {"mount", p_mount, EPERM, DIFFERS},
	    {"umount2", p_umount2, EPERM, DIFFERS},
	    {"pivot_root", p_pivot_root, EPERM, ANY},
	    {"chroot", p_chroot, EPERM, DIFFERS},
	    {"move_mount", p_move_mount, EPERM, ANY},
	    {"open_tree", p_open_tree, EPERM, DIFFERS},
	    {"open_tree_attr", p_open_tree_attr, EPERM, DIFFERS},
	    {"fsopen", p_fsopen, EPERM, ANY},
	    {"fsconfig", p_fsconfig, EPERM, DIFFERS},
	    {"fsmount", p_fsmount, EPERM, ANY},
	    {"fspick", p_fspick, EPERM, ANY},
	    {"mount_setattr", p_mount_setattr, EPERM, ANY},
	};
	(void)state;
	CHECK(probes);
}

static long p_unshare_user(void)
{
	return syscall(SYS_unshare, CLONE_NEWUSER);
}
static long p_unshare_files(void)
{
	return syscall(SYS_unshare, CLONE_FILES);
}
static long p_setns(void)
{
	return syscall(SYS_setns, -1, 0);
}
/* Raw clone(2) with fork semantics; the child, if any, exits at once. */
static long raw_clone(unsigned long flags)
{
	long r = syscall(SYS_clone, flags, 0, NULL, NULL, 0);
	int status;

	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, &status, __WALL);
	return r;
}
static long p_clone_newuser(void)
{
	return raw_clone(CLONE_NEWUSER | SIGCHLD);
}
static long p_clone_newns(void)
{
	return raw_clone(CLONE_NEWNS | SIGCHLD);
}
static long p_clone_newnet(void)
{
	return raw_clone(CLONE_NEWNET | SIGCHLD);
}
static long p_clone_newpid(void)
{
	return raw_clone(CLONE_NEWPID | SIGCHLD);
}
static long p_clone_newcgroup(void)
{
	return raw_clone(CLONE_NEWCGROUP | SIGCHLD);
}
static long p_clone_newuts_ipc(void)
{
	return raw_clone(CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD);
}
/* The kernel reads the low 32 bits only; junk above must not help. */
static long p_clone_newuser_hibits(void)
{
	return raw_clone((1UL << 40) | CLONE_NEWUSER | SIGCHLD);
}
static long p_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0);
}

static void namespaces_denied(void **state)
{
	static const struct probe probes[] = {
	    {"unshare(CLONE_NEWUSER)", p_unshare_user, EPERM, ANY},
	    {"unshare(CLONE_FILES)", p_unshare_files, EPERM, DIFFERS},
	    {"setns", p_setns, EPERM, DIFFERS},
	    {"clone(NEWUSER)", p_clone_newuser, EPERM, ANY},
	    {"clone(NEWNS)", p_clone_newns, EPERM, ANY},
	    {"clone(NEWNET)", p_clone_newnet, EPERM, ANY},
	    {"clone(NEWPID)", p_clone_newpid, EPERM, ANY},
	    {"clone(NEWCGROUP)", p_clone_newcgroup, EPERM, ANY},
	    {"clone(NEWUTS|NEWIPC)", p_clone_newuts_ipc, EPERM, ANY},
	    {"clone(NEWUSER|1<<40)", p_clone_newuser_hibits, EPERM, ANY},
	    {"clone3", p_clone3, ENOSYS, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_ptrace(void)
{
	return syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL);
}
static long p_vm_readv(void)
{
	return syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0);
}
static long p_vm_writev(void)
{
	return syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0);
}
static long p_pidfd_getfd(void)
{
	return syscall(SYS_pidfd_getfd, -1, 0, 0);
}
static long p_kcmp(void)
{
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0, 0);
}

static void process_access_denied(void **state)
{
	static const struct probe probes[] = {
	    {"ptrace(TRACEME)", p_ptrace, EPERM, ANY},
	    {"process_vm_readv", p_vm_readv, EPERM, DIFFERS},
	    {"process_vm_writev", p_vm_writev, EPERM, DIFFERS},
	    {"pidfd_getfd", p_pidfd_getfd, EPERM, DIFFERS},
	    {"kcmp", p_kcmp, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_keyctl(void)
{
	return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
		       KEY_SPEC_SESSION_KEYRING, 0);
}
static long p_add_key(void)
{
	return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
}
static long p_request_key(void)
{
	return syscall(SYS_request_key, NULL, NULL, NULL, 0);
}

static void keyrings_denied(void **state)
{
	static const struct probe probes[] = {
	    {"keyctl", p_keyctl, EPERM, ANY},
	    {"add_key", p_add_key, EPERM, DIFFERS},
	    {"request_key", p_request_key, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_bpf(void)
{
	return syscall(SYS_bpf, 0x7fff, NULL, 0);
}
static long p_perf(void)
{
	return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}
static long p_userfaultfd(void)
{
	return syscall(SYS_userfaultfd, O_CLOEXEC);
}
static long p_io_uring_setup(void)
{
	return syscall(SYS_io_uring_setup, 1, NULL);
}
static long p_io_uring_enter(void)
{
	return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
}
static long p_io_uring_register(void)
{
	return syscall(SYS_io_uring_register, -1, 0, NULL, 0);
}

static void kernel_surface_denied(void **state)
{
	static const struct probe probes[] = {
	    {"bpf", p_bpf, EPERM, ANY},
	    {"perf_event_open", p_perf, EPERM, ANY},
	    {"userfaultfd", p_userfaultfd, EPERM, ANY},
	    {"io_uring_setup", p_io_uring_setup, EPERM, ANY},
	    {"io_uring_enter", p_io_uring_enter, EPERM, DIFFERS},
	    {"io_uring_register", p_io_uring_register, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0, 0, NULL, 0);
}
static long p_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0);
}
static long p_init_module(void)
{
	return syscall(SYS_init_module, NULL, 0, "");
}
static long p_finit_module(void)
{
	return syscall(SYS_finit_module, -1, "", 0);
}
static long p_delete_module(void)
{
	return syscall(SYS_delete_module, "bottle_nonexistent", 0);
}
static long p_reboot(void)
{
	return syscall(SYS_reboot, 0, 0, 0, NULL);
}
static long p_swapon(void)
{
	return syscall(SYS_swapon, NOPATH, 0);
}
static long p_swapoff(void)
{
	return syscall(SYS_swapoff, NOPATH);
}
static long p_acct(void)
{
	return syscall(SYS_acct, NOPATH);
}
static long p_quotactl(void)
{
	return syscall(SYS_quotactl, 0, NULL, 0, NULL);
}
static long p_quotactl_fd(void)
{
	return syscall(SYS_quotactl_fd, -1, 0, 0, NULL);
}
static long p_lookup_dcookie(void)
{
	return syscall(SYS_lookup_dcookie, 0, NULL, 0);
}
static long p_syslog(void)
{
	return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
}
static long p_vhangup(void)
{
	return syscall(SYS_vhangup);
}
static long p_iopl(void)
{
	return syscall(SYS_iopl, 0);
}
static long p_ioperm(void)
{
	return syscall(SYS_ioperm, 0, 0, 0);
}

static void machine_denied(void **state)
{
	static const struct probe probes[] = {
	    {"kexec_load", p_kexec_load, EPERM, ANY},
	    {"kexec_file_load", p_kexec_file_load, EPERM, ANY},
	    {"init_module", p_init_module, EPERM, ANY},
	    {"finit_module", p_finit_module, EPERM, ANY},
	    {"delete_module", p_delete_module, EPERM, ANY},
	    {"reboot", p_reboot, EPERM, ANY},
	    {"swapon", p_swapon, EPERM, ANY},
	    {"swapoff", p_swapoff, EPERM, ANY},
	    {"acct", p_acct, EPERM, ANY},
	    {"quotactl", p_quotactl, EPERM, ANY},
	    {"quotactl_fd", p_quotactl_fd, EPERM, ANY},
	    {"lookup_dcookie", p_lookup_dcookie, EPERM, ANY},
	    {"syslog", p_syslog, EPERM, ANY},
	    {"vhangup", p_vhangup, EPERM, ANY},
	    {"iopl", p_iopl, EPERM, ANY},
	    {"ioperm", p_ioperm, EPERM, ANY},
	};
	(void)state;
	CHECK(probes);
}

static long p_settimeofday(void)
{
	return syscall(SYS_settimeofday, NULL, NULL);
}
static long p_clock_settime(void)
{
	return syscall(SYS_clock_settime, CLOCK_REALTIME, NULL);
}
static long p_adjtimex(void)
{
	return syscall(SYS_adjtimex, NULL);
}
static long p_clock_adjtime(void)
{
	return syscall(SYS_clock_adjtime, CLOCK_REALTIME, NULL);
}

static void clocks_denied(void **state)
{
	static const struct probe probes[] = {
	    {"settimeofday", p_settimeofday, EPERM, ANY},
	    {"clock_settime", p_clock_settime, EPERM, DIFFERS},
	    {"adjtimex", p_adjtimex, EPERM, DIFFERS},
	    {"clock_adjtime", p_clock_adjtime, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_open_by_handle_at(void)
{
	return syscall(SYS_open_by_handle_at, -1, NULL, 0);
}
static long p_name_to_handle_at(void)
{
	return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0);
}

static void file_handles_denied(void **state)
{
	static const struct probe probes[] = {
	    {"open_by_handle_at", p_open_by_handle_at, EPERM, ANY},
	    {"name_to_handle_at", p_name_to_handle_at, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_tiocsti(void)
{
	char c = 'x';
	return syscall(SYS_ioctl, pty(), TIOCSTI, &c);
}
static long p_tiocsti_hibits(void)
{
	char c = 'x';
	return syscall(SYS_ioctl, pty(), (1UL << 32) | TIOCSTI, &c);
}
static long p_tioclinux(void)
{
	char sub = 0;
	return syscall(SYS_ioctl, pty(), TIOCLINUX, &sub);
}

static void tty_injection_denied(void **state)
{
	static const struct probe probes[] = {
	    {"ioctl(TIOCSTI)", p_tiocsti, EPERM, ANY},
	    {"ioctl(TIOCSTI|1<<32)", p_tiocsti_hibits, EPERM, ANY},
	    {"ioctl(TIOCLINUX)", p_tioclinux, EPERM, DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_netlink(void)
{
	return syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
}
static long p_packet(void)
{
	return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0);
}
static long p_unspec(void)
{
	return syscall(SYS_socket, AF_UNSPEC, SOCK_STREAM, 0);
}
static long p_vsock(void)
{
	return syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0);
}
static long p_inet_hibits(void)
{
	return syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0);
}
static long p_inet_raw(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP);
}
static long p_inet_raw_cloexec(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_RAW | SOCK_CLOEXEC,
		       IPPROTO_ICMP);
}
static long p_inet6_raw_nonblock(void)
{
	return syscall(SYS_socket, AF_INET6, SOCK_RAW | SOCK_NONBLOCK,
		       IPPROTO_ICMPV6);
}
static long p_inet_packet(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_PACKET, 0);
}
static long p_socketpair_netlink(void)
{
	int sv[2];
	return syscall(SYS_socketpair, AF_NETLINK, SOCK_RAW, 0, sv);
}

static void sockets_denied(void **state)
{
	static const struct probe probes[] = {
	    {"socket(AF_NETLINK)", p_netlink, EAFNOSUPPORT, DIFFERS},
	    {"socket(AF_PACKET)", p_packet, EAFNOSUPPORT, ANY},
	    {"socket(AF_UNSPEC)", p_unspec, EAFNOSUPPORT, ANY},
	    {"socket(AF_VSOCK)", p_vsock, EAFNOSUPPORT, ANY},
	    {"socket(1<<32|AF_INET)", p_inet_hibits, EAFNOSUPPORT, DIFFERS},
	    {"socket(INET, RAW)", p_inet_raw, EPERM, ANY},
	    {"socket(INET, RAW|CLOEXEC)", p_inet_raw_cloexec, EPERM, ANY},
	    {"socket(INET6, RAW|NONBLOCK)", p_inet6_raw_nonblock, EPERM, ANY},
	    {"socket(INET, PACKET)", p_inet_packet, EPERM, ANY},
	    {"socketpair(AF_NETLINK)", p_socketpair_netlink, EAFNOSUPPORT,
	     DIFFERS},
	};
	(void)state;
	CHECK(probes);
}

static long p_persona_linux32(void)
{
	return syscall(SYS_personality, PER_LINUX32);
}
static long p_persona_norandom(void)
{
	return syscall(SYS_personality, ADDR_NO_RANDOMIZE);
}
static long p_persona_zero(void)
{
	return syscall(SYS_personality, 0);
}
/* The query must succeed and report PER_LINUX. */
static long p_persona_query(void)
{
	long r = syscall(SYS_personality, 0xffffffffUL);

	if (r != 0) {
		errno = r < 0 ? errno : ERANGE;
		return -1;
	}
	return 0;
}

static void personality_filtered(void **state)
{
	static const struct probe probes[] = {
	    {"personality(PER_LINUX32)", p_persona_linux32, EPERM, DIFFERS},
	    {"personality(ADDR_NO_RANDOMIZE)", p_persona_norandom, EPERM,
	     DIFFERS},
	    {"personality(0)", p_persona_zero, 0, ANY},
	    {"personality(query)", p_persona_query, 0, ANY},
	};
	(void)state;
	CHECK(probes);
}

static long p_x32(void)
{
	return syscall(X32_SYSCALL_BIT | SYS_getpid);
}
/* getpid through the i386 entry point. */
static long p_i386(void)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(20L)
			 : "r8", "r9", "r10", "r11", "memory", "cc");
	return ret;
}

static void foreign_abis_killed(void **state)
{
	static const struct probe probes[] = {
	    {"x32 getpid", p_x32, -SIGSYS, DIFFERS},
	    {"i386 getpid", p_i386, -SIGSYS, DIFFERS},
	};
	size_t n = ARRAY_SIZE(probes);

	(void)state;
	/* Kernels booted with ia32_emulation=0 have no i386 entry point. */
	if (run(p_i386, false) != 0) {
		print_message("i386 entry point unavailable; not probed\n");
		n--;
	}
	check(probes, n);
}

static long p_fork(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(7);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
}
static long p_raw_clone_plain(void)
{
	return raw_clone(SIGCHLD) > 0 ? 0 : -1;
}
static void *thread_main(void *arg)
{
	return arg;
}
/* glibc tries clone3 first, gets ENOSYS, and falls back to clone with
 * CLONE_VM|CLONE_THREAD|...: exactly the path the filter relies on. */
static long p_pthread(void)
{
	static int token;
	pthread_t t;
	void *ret = NULL;
	int r = pthread_create(&t, NULL, thread_main, &token);

	if (r != 0) {
		errno = r;
		return -1;
	}
	if (pthread_join(t, &ret) != 0 || ret != &token)
		return -1;
	return 0;
}
static long p_inet_stream(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}
static long p_unix_stream(void)
{
	return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}
static long p_inet6_dgram(void)
{
	return syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0);
}
static long p_socketpair_unix(void)
{
	int sv[2];
	return syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
}
static long p_tiocgwinsz(void)
{
	struct winsize ws;
	return syscall(SYS_ioctl, pty(), TIOCGWINSZ, &ws);
}
static long p_pipe_io(void)
{
	int fds[2];
	char c = 0;

	if (pipe2(fds, O_CLOEXEC) < 0 || write(fds[1], "y", 1) != 1 ||
	    read(fds[0], &c, 1) != 1)
		return -1;
	return c == 'y' ? 0 : -1;
}
/* The filter survives exec, and a dynamically linked program runs. */
static long p_exec(void)
{
	execl("/bin/sh", "sh", "-c", "exec true", (char *)NULL);
	return -1;
}

static void everyday_calls_allowed(void **state)
{
	static const struct probe probes[] = {
	    {"fork", p_fork, 0, ANY},
	    {"clone(SIGCHLD)", p_raw_clone_plain, 0, ANY},
	    {"pthread_create", p_pthread, 0, ANY},
	    {"socket(INET, STREAM)", p_inet_stream, 0, ANY},
	    {"socket(UNIX, STREAM)", p_unix_stream, 0, ANY},
	    {"socket(INET6, DGRAM)", p_inet6_dgram, 0, ANY},
	    {"socketpair(UNIX)", p_socketpair_unix, 0, ANY},
	    {"ioctl(TIOCGWINSZ)", p_tiocgwinsz, 0, ANY},
	    {"pipe read/write", p_pipe_io, 0, ANY},
	    {"exec /bin/sh", p_exec, 0, ANY},
	};
	(void)state;
	CHECK(probes);
}

static void denial_table_is_consistent(void **state)
{
	const struct seccomp_denial *d = seccomp_denials();
	const char *const *names = seccomp_denied_names();
	size_t n = 0;

	(void)state;
	for (; d[n].name; n++) {
		assert_non_null(names[n]);
		assert_string_equal(names[n], d[n].name);
		/* Every name but the one libseccomp 2.5 predates resolves. */
		if (strcmp(d[n].name, "open_tree_attr") != 0)
			assert_true(seccomp_syscall_resolve_name(d[n].name) >=
				    0);
	}
	assert_null(names[n]);
	assert_true(n >= 40);
}

static void release_is_idempotent(void **state)
{
	struct seccomp_prog p = SECCOMP_PROG_INIT;
	struct error err = ERROR_INIT;

	(void)state;
	seccomp_prog_release(&p);
	assert_int_equal(seccomp_prog_build(&p, &err), 0);
	assert_non_null(p.filter);
	assert_int_equal(p.len, prog.len);
	assert_memory_equal(p.filter, prog.filter,
			    p.len * sizeof(struct sock_filter));
	seccomp_prog_release(&p);
	assert_null(p.filter);
	assert_int_equal(p.len, 0);
	seccomp_prog_release(&p);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Not a benchmark gate, just the numbers for the docs; the bound only
 * catches something pathological. */
static void build_cost(void **state)
{
	uint64_t t[100];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct seccomp_prog p = SECCOMP_PROG_INIT;
		struct error err = ERROR_INIT;
		uint64_t t0 = now_ns();

		assert_int_equal(seccomp_prog_build(&p, &err), 0);
		t[i] = now_ns() - t0;
		seccomp_prog_release(&p);
	}
	qsort(t, ARRAY_SIZE(t), sizeof(t[0]), cmp_u64);
	print_message("seccomp_prog_build: median %.1f us (min %.1f, max "
		      "%.1f), %u instructions\n",
		      t[50] / 1e3, t[0] / 1e3, t[99] / 1e3, prog.len);
	assert_true(t[50] < 100 * 1000 * 1000ULL);
	assert_true(prog.len <= BPF_MAXINSNS);
}

static int setup(void **state)
{
	struct error err = ERROR_INIT;

	(void)state;
	if (seccomp_prog_build(&prog, &err) < 0) {
		print_error("seccomp_prog_build: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seccomp_prog_release(&prog);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(denial_table_is_consistent),
	    cmocka_unit_test(release_is_idempotent),
	    cmocka_unit_test(build_cost),
	    cmocka_unit_test(everyday_calls_allowed),
	    cmocka_unit_test(mount_family_denied),
	    cmocka_unit_test(namespaces_denied),
	    cmocka_unit_test(process_access_denied),
	    cmocka_unit_test(keyrings_denied),
	    cmocka_unit_test(kernel_surface_denied),
	    cmocka_unit_test(machine_denied),
	    cmocka_unit_test(clocks_denied),
	    cmocka_unit_test(file_handles_denied),
	    cmocka_unit_test(tty_injection_denied),
	    cmocka_unit_test(sockets_denied),
	    cmocka_unit_test(personality_filtered),
	    cmocka_unit_test(foreign_abis_killed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
