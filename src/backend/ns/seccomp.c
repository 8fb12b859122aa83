/* The ns backend's seccomp filter: compiled in the parent with libseccomp,
 * loaded in the child with one raw syscall (STYLE rule 23).
 *
 * Default ALLOW with a deny list, not an allow list: agents run arbitrary
 * toolchains, and an allow list that misses one syscall breaks them in ways
 * that are hard to diagnose.  What we deny is kernel surface an unprivileged
 * process in a sandbox has no business touching and that has a history of
 * privilege-escalation bugs: namespaces and mounts (reachable again through
 * a nested user namespace), ptrace-like access, keyrings, BPF, perf,
 * userfaultfd, io_uring, module and kexec loading, clock and tty injection.
 * Most of these already fail for a process without capabilities; the
 * filter is the second wall, for when the first has a kernel bug in it.
 *
 * Security notes that apply to several rules:
 *
 * - Arguments the kernel reads as 32-bit (int, unsigned int) are compared
 *   on their low 32 bits only (SCMP_CMP_MASKED_EQ with a 32-bit mask), or
 *   with a 64-bit comparison that also catches junk in the high half.
 *   Comparing all 64 bits with EQ would let a caller dodge the rule by
 *   setting a high bit the kernel then throws away.
 *
 * - Non-native ABIs: the filter is built for x86_64 only, so libseccomp
 *   emits an architecture check that sends i386 (int 0x80) and x32
 *   (syscall numbers with __X32_SYSCALL_BIT) to the bad-arch action, which
 *   we set to KILL_PROCESS.  Without that, every rule below could be
 *   bypassed by entering the kernel through the compat table.
 *
 * - clone3 gets ENOSYS rather than EPERM: its flags live in a struct in
 *   user memory that seccomp cannot read, and ENOSYS makes glibc (2.34+)
 *   fall back to clone(2), whose flags are a register we can inspect.
 *
 * - socket families outside unix/inet/inet6 get EAFNOSUPPORT, not EPERM:
 *   that is what the kernel says for a family it was built without, and
 *   programs probing for netlink or bluetooth take their fallback path on
 *   it instead of reporting a permission problem.
 */
#include "seccomp.h"

#include "lib/util.h"

#include <seccomp.h>

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* open_tree_attr(2) (Linux 6.15) is newer than libseccomp 2.5.4's syscall
 * table; syscalls from 424 on share one number on every architecture. */
#define NR_OPEN_TREE_ATTR 467

enum deny_cond {
	DENY_ALWAYS,	  /* EPERM for any arguments */
	DENY_ENOSYS,	  /* ENOSYS for any arguments */
	DENY_CLONE_NS,	  /* clone(2) with a namespace flag */
	DENY_TTY_INJECT,  /* ioctl(2) TIOCSTI / TIOCLINUX */
	DENY_SOCKET,	  /* socket(2): family and raw-type rules */
	DENY_SOCKETPAIR,  /* socketpair(2): family rule */
	DENY_PERSONALITY, /* personality(2) other than 0 / query */
};

/* The deny list, as data: X(name, nr, cond, when).  nr is 0 to resolve the
 * name through libseccomp, or the number for syscalls it does not know. */
#define DENY_LIST(X)                                                           \
	/* Mounts: a mount namespace of our own can rearrange the view that    \
	 * Landlock and the read-only binds are built on. */                   \
	X(mount, 0, DENY_ALWAYS, NULL)                                         \
	X(umount2, 0, DENY_ALWAYS, NULL)                                       \
	X(pivot_root, 0, DENY_ALWAYS, NULL)                                    \
	X(chroot, 0, DENY_ALWAYS, NULL)                                        \
	X(move_mount, 0, DENY_ALWAYS, NULL)                                    \
	X(open_tree, 0, DENY_ALWAYS, NULL)                                     \
	X(open_tree_attr, NR_OPEN_TREE_ATTR, DENY_ALWAYS, NULL)                \
	X(fsopen, 0, DENY_ALWAYS, NULL)                                        \
	X(fsconfig, 0, DENY_ALWAYS, NULL)                                      \
	X(fsmount, 0, DENY_ALWAYS, NULL)                                       \
	X(fspick, 0, DENY_ALWAYS, NULL)                                        \
	X(mount_setattr, 0, DENY_ALWAYS, NULL)                                 \
	/* Namespaces: a nested user namespace hands out capabilities over     \
	 * fresh namespaces, the door to most container-escape kernel bugs. */ \
	X(unshare, 0, DENY_ALWAYS, NULL)                                       \
	X(setns, 0, DENY_ALWAYS, NULL)                                         \
	X(clone, 0, DENY_CLONE_NS,                                             \
	  "flags include a CLONE_NEW* namespace flag")                         \
	X(clone3, 0, DENY_ENOSYS,                                              \
	  "always, with ENOSYS so that libc falls back to clone")              \
	/* Reaching into other processes. */                                   \
	X(ptrace, 0, DENY_ALWAYS, NULL)                                        \
	X(process_vm_readv, 0, DENY_ALWAYS, NULL)                              \
	X(process_vm_writev, 0, DENY_ALWAYS, NULL)                             \
	X(pidfd_getfd, 0, DENY_ALWAYS, NULL)                                   \
	X(kcmp, 0, DENY_ALWAYS, NULL)                                          \
	/* Kernel keyrings are not namespaced. */                              \
	X(keyctl, 0, DENY_ALWAYS, NULL)                                        \
	X(add_key, 0, DENY_ALWAYS, NULL)                                       \
	X(request_key, 0, DENY_ALWAYS, NULL)                                   \
	/* Large kernel attack surface with a long CVE record. */              \
	X(bpf, 0, DENY_ALWAYS, NULL)                                           \
	X(perf_event_open, 0, DENY_ALWAYS, NULL)                               \
	X(userfaultfd, 0, DENY_ALWAYS, NULL)                                   \
	/* io_uring performs its operations without passing through seccomp,   \
	 * so allowing it would void every other rule here. */                 \
	X(io_uring_setup, 0, DENY_ALWAYS, NULL)                                \
	X(io_uring_enter, 0, DENY_ALWAYS, NULL)                                \
	X(io_uring_register, 0, DENY_ALWAYS, NULL)                             \
	/* The machine itself. */                                              \
	X(kexec_load, 0, DENY_ALWAYS, NULL)                                    \
	X(kexec_file_load, 0, DENY_ALWAYS, NULL)                               \
	X(init_module, 0, DENY_ALWAYS, NULL)                                   \
	X(finit_module, 0, DENY_ALWAYS, NULL)                                  \
	X(delete_module, 0, DENY_ALWAYS, NULL)                                 \
	X(reboot, 0, DENY_ALWAYS, NULL)                                        \
	X(swapon, 0, DENY_ALWAYS, NULL)                                        \
	X(swapoff, 0, DENY_ALWAYS, NULL)                                       \
	X(acct, 0, DENY_ALWAYS, NULL)                                          \
	X(quotactl, 0, DENY_ALWAYS, NULL)                                      \
	X(quotactl_fd, 0, DENY_ALWAYS, NULL)                                   \
	X(lookup_dcookie, 0, DENY_ALWAYS, NULL)                                \
	X(syslog, 0, DENY_ALWAYS, NULL)                                        \
	X(vhangup, 0, DENY_ALWAYS, NULL)                                       \
	X(iopl, 0, DENY_ALWAYS, NULL)                                          \
	X(ioperm, 0, DENY_ALWAYS, NULL)                                        \
	X(settimeofday, 0, DENY_ALWAYS, NULL)                                  \
	X(clock_settime, 0, DENY_ALWAYS, NULL)                                 \
	X(adjtimex, 0, DENY_ALWAYS, NULL)                                      \
	X(clock_adjtime, 0, DENY_ALWAYS, NULL)                                 \
	/* File handles bypass path-based checks (the "shocker" escape). */    \
	X(open_by_handle_at, 0, DENY_ALWAYS, NULL)                             \
	X(name_to_handle_at, 0, DENY_ALWAYS, NULL)                             \
	/* Typing into the controlling terminal of whoever runs bottle. */     \
	X(ioctl, 0, DENY_TTY_INJECT, "cmd TIOCSTI or TIOCLINUX")               \
	X(socket, 0, DENY_SOCKET,                                              \
	  "family not AF_UNIX/AF_INET/AF_INET6 (EAFNOSUPPORT); "               \
	  "SOCK_RAW or SOCK_PACKET on AF_INET/AF_INET6")                       \
	X(socketpair, 0, DENY_SOCKETPAIR,                                      \
	  "family not AF_UNIX/AF_INET/AF_INET6 (EAFNOSUPPORT)")                \
	X(personality, 0, DENY_PERSONALITY,                                    \
	  "any persona but 0; the 0xffffffff query returns 0 (PER_LINUX)")

struct deny_rule {
	const char *name;
	int nr;
	enum deny_cond cond;
};

#define AS_RULE(n, nr, c, w) {#n, nr, c},
static const struct deny_rule deny_rules[] = {DENY_LIST(AS_RULE)};
#undef AS_RULE

#define AS_DENIAL(n, nr, c, w) {#n, w},
static const struct seccomp_denial denials[] = {
    DENY_LIST(AS_DENIAL){NULL, NULL}};
#undef AS_DENIAL

#define AS_NAME(n, nr, c, w) #n,
static const char *const denied_names[] = {DENY_LIST(AS_NAME) NULL};
#undef AS_NAME

#define LOW32 0xffffffffULL

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}
#define _cleanup_scmp_ __attribute__((cleanup(seccomp_releasep)))

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int n,
	       const struct scmp_arg_cmp *cmp)
{
	/* _exact: fail rather than let libseccomp rewrite a rule. */
	return seccomp_rule_add_exact_array(ctx, action, nr, n, cmp);
}

/* clone(2) reads its flags as the low 32 bits of arg0, so each namespace
 * flag is one masked rule.  CLONE_NEWTIME shares its bit with CSIGNAL
 * (the exit signal) in clone(2) and cannot create a namespace there; the
 * rule costs nothing, since no valid signal number has bit 7 set. */
static int add_clone_ns(scmp_filter_ctx ctx, int nr)
{
	static const uint64_t ns_flags[] = {
	    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME,
	};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(ns_flags); i++) {
		struct scmp_arg_cmp c =
		    SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]);
		r = add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ioctl(2)'s cmd is an unsigned int: compare the low 32 bits only. */
static int add_tty_inject(scmp_filter_ctx ctx, int nr)
{
	static const uint64_t cmds[] = {TIOCSTI, TIOCLINUX};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		struct scmp_arg_cmp c =
		    SCMP_A1(SCMP_CMP_MASKED_EQ, LOW32, cmds[i]);
		r = add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Deny every family but AF_UNIX (1), AF_INET (2) and AF_INET6 (10).
 * libseccomp allows one comparison per argument and rule, so the
 * complement is spelled out: 0, 3..9, and anything above 10.  These are
 * 64-bit comparisons on purpose: a value with junk in the high half is
 * above 10 and denied, so the kernel's truncation to int cannot smuggle a
 * family past the rule. */
static int add_socket_family(scmp_filter_ctx ctx, int nr)
{
	uint32_t act = SCMP_ACT_ERRNO(EAFNOSUPPORT);
	struct scmp_arg_cmp c;
	int r;

	c = SCMP_A0(SCMP_CMP_GT, AF_INET6);
	r = add(ctx, act, nr, 1, &c);
	for (uint64_t f = AF_UNSPEC; r == 0 && f < AF_INET6; f++) {
		if (f == AF_UNIX || f == AF_INET)
			continue;
		c = SCMP_A0(SCMP_CMP_EQ, f);
		r = add(ctx, act, nr, 1, &c);
	}
	return r;
}

/* Raw IP sockets, and the obsolete (AF_INET, SOCK_PACKET) which the kernel
 * turns into AF_PACKET.  The type argument carries SOCK_NONBLOCK and
 * SOCK_CLOEXEC in its upper bits; the kernel's SOCK_TYPE_MASK is 0xf. */
static int add_socket_raw(scmp_filter_ctx ctx, int nr)
{
	static const uint64_t families[] = {AF_INET, AF_INET6};
	static const uint64_t types[] = {SOCK_RAW, SOCK_PACKET};
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(types); j++) {
			struct scmp_arg_cmp c[] = {
			    SCMP_A0(SCMP_CMP_EQ, families[i]),
			    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, types[j]),
			};
			r = add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2, c);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Personas flags such as ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC weaken
 * the agent's own hardening; nothing in a sandbox needs them.  Allowing
 * 0 and the 0xffffffff query would take two comparisons on arg0, which
 * libseccomp refuses in one rule, and ALLOW cannot be a rule action when
 * it is the default.  So the query (low 32 bits all ones) is answered by
 * the filter with 0, PER_LINUX, which is what the launcher runs the agent
 * with; the rule is added first, and libseccomp tests a syscall's rules in
 * the order they were added (test_seccomp checks that it still does). */
static int add_personality(scmp_filter_ctx ctx, int nr)
{
	struct scmp_arg_cmp query = SCMP_A0(SCMP_CMP_MASKED_EQ, LOW32, LOW32);
	struct scmp_arg_cmp other = SCMP_A0(SCMP_CMP_NE, 0);
	int r;

	r = add(ctx, SCMP_ACT_ERRNO(0), nr, 1, &query);
	if (r < 0)
		return r;
	return add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &other);
}

static int add_deny_rule(scmp_filter_ctx ctx, const struct deny_rule *d)
{
	int nr = d->nr ? d->nr : seccomp_syscall_resolve_name(d->name);

	if (nr == __NR_SCMP_ERROR)
		return -ENOSYS;
	switch (d->cond) {
	case DENY_ALWAYS:
		return add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0, NULL);
	case DENY_ENOSYS:
		return add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
	case DENY_CLONE_NS:
		return add_clone_ns(ctx, nr);
	case DENY_TTY_INJECT:
		return add_tty_inject(ctx, nr);
	case DENY_SOCKET: {
		int r = add_socket_family(ctx, nr);
		return r < 0 ? r : add_socket_raw(ctx, nr);
	}
	case DENY_SOCKETPAIR:
		return add_socket_family(ctx, nr);
	case DENY_PERSONALITY:
		return add_personality(ctx, nr);
	}
	return -EINVAL;
}

/* libseccomp 2.5 exports BPF only to a file descriptor: go through a memfd
 * and read the program back. */
static int export_to_memory(scmp_filter_ctx ctx, struct seccomp_prog *out,
			    struct error *err)
{
	_cleanup_close_ int fd = memfd_create("bottle-seccomp", MFD_CLOEXEC);
	_cleanup_free_ struct sock_filter *buf = NULL;
	struct stat st;
	size_t size, done = 0;
	int r;

	if (fd < 0)
		return err_sys(err, errno, "memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_sys(err, -r, "seccomp_export_bpf");
	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "fstat memfd");
	size = (size_t)st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return err_set(err, EINVAL, "exported filter has size %zu",
			       size);
	buf = malloc(size);
	if (!buf)
		return err_sys(err, ENOMEM, "allocating filter");
	while (done < size) {
		ssize_t n =
		    pread(fd, (char *)buf + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_sys(err, n < 0 ? errno : EIO,
				       "reading filter");
		done += (size_t)n;
	}
	out->filter = steal_ptr(&buf);
	out->len = (unsigned short)(size / sizeof(struct sock_filter));
	return 0;
}

int seccomp_prog_build(struct seccomp_prog *out, struct error *err)
{
	_cleanup_scmp_ scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	*out = (struct seccomp_prog)SECCOMP_PROG_INIT;
	if (!ctx)
		return err_set(err, ENOMEM, "seccomp_init failed");
	/* i386 and x32 entry points go to this action (see top of file). */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			     SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return err_sys(err, -r, "seccomp: setting bad-arch action");
	for (size_t i = 0; i < ARRAY_SIZE(deny_rules); i++) {
		r = add_deny_rule(ctx, &deny_rules[i]);
		if (r < 0)
			return err_sys(err, -r, "seccomp: rule for %s",
				       deny_rules[i].name);
	}
	r = export_to_memory(ctx, out, err);
	if (r < 0)
		return err_prefix(err, "seccomp");
	return 0;
}

int seccomp_prog_load(const struct seccomp_prog *p)
{
	struct sock_fprog fprog = {
	    .len = p->len,
	    .filter = p->filter,
	};

	/* Async-signal-safe: no allocation, no locks, one syscall. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return -errno;
	return 0;
}

void seccomp_prog_release(struct seccomp_prog *p)
{
	free(p->filter);
	*p = (struct seccomp_prog)SECCOMP_PROG_INIT;
}

const struct seccomp_denial *seccomp_denials(void)
{
	return denials;
}

const char *const *seccomp_denied_names(void)
{
	return denied_names;
}
