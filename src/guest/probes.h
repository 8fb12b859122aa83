/* bottle-probe: the sandbox-escape checks that run inside a live bottle.
 *
 * Internal to the bottle-probe program (src/guest/probe.c and
 * src/guest/probes_*.c).  The program is linked statically against libc
 * only, so nothing here may depend on src/lib beyond its header-only parts.
 *
 * A probe is a function that records what it saw in a struct probe_report.
 * The runner (probe.c) calls each probe in a forked child of its own with a
 * timeout, so a probe may be destructive, may crash and may hang without
 * taking the suite down.  The report lives in shared memory, so whatever a
 * probe recorded before dying is still printed. */
#ifndef BOTTLE_GUEST_PROBES_H
#define BOTTLE_GUEST_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the host side told us (see usage in probe.c).  Zero / NULL means
 * "not given". */
struct probe_opts {
	const char *workspace; /* default /workspace */
	const char *home;      /* default $HOME */
	const char *canary;    /* secret value that must not appear inside */
	const char *marker;    /* file name to leave in workspace and home */
	pid_t host_pid;	       /* a host process that must be invisible */
	unsigned long long host_pid_start; /* its starttime, /proc/PID/stat */
	int host_port;			   /* a host 127.0.0.1 TCP listener */
	unsigned long pids_limit;	   /* enforced pids limit */
	unsigned long long memory_limit;   /* enforced memory limit, bytes */
};

#define PROBE_TEXT_MAX 1536

/* One probe's findings.  Failures and notes are "; "-joined; the verdict
 * is FAIL if any failure was recorded, else SKIP if the probe said so,
 * else PASS. */
struct probe_report {
	unsigned nfail;
	bool skipped;
	char fail[PROBE_TEXT_MAX];
	char note[PROBE_TEXT_MAX];
	char skip[256];
};

/* Record a failure (the sandbox let something through). */
void report_fail(struct probe_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), nonnull(1, 2)));
/* Record a detail for the PASS line (what was checked, how it failed). */
void report_note(struct probe_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), nonnull(1, 2)));
/* Mark the whole probe as skipped, with the reason. */
void report_skip(struct probe_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), nonnull(1, 2)));

typedef void (*probe_fn)(const struct probe_opts *opts, struct probe_report *r);

/* The outcome of one operation tried in a throw-away child (attempt()).
 * A seccomp filter may answer with an errno or kill the caller with
 * SIGSYS; running the operation in its own child makes both observable,
 * and anything the operation does succeed in dies with that child. */
struct attempt {
	long ret;      /* return value when the child exited normally */
	int err;       /* errno when ret < 0 */
	int sig;       /* signal that killed the child, 0 if none */
	bool timedout; /* child did not finish in time and was killed */
	bool lost;     /* could not fork, or no result came back */
};

/* The operation: returns a syscall-like result (>= 0 success, < 0 with
 * errno set).  Runs in a forked child; it must not touch stdout. */
typedef long (*attempt_fn)(void *arg);

/* Run fn(arg) in a child with a timeout of a few seconds.  Never fails;
 * problems running the child are reported in a->lost. */
void attempt(attempt_fn fn, void *arg, struct attempt *a)
    __attribute__((nonnull(1, 3)));

/* Whether the attempt was refused the way a sandbox refuses: EPERM,
 * EACCES, ENOSYS (seccomp, missing capability, LSM) or SIGSYS. */
bool attempt_denied(const struct attempt *a);

/* Whether the attempt failed at all (any error, signal or timeout); not
 * when it could not be run. */
bool attempt_failed(const struct attempt *a);

/* "EPERM", "killed by SIGSYS", "succeeded", ... in buf. */
const char *attempt_str(const struct attempt *a, char *buf, size_t n);

/* Check one operation that must be refused: notes "what: EPERM" or records
 * "what: succeeded" / "what: unexpected EINVAL" as a failure.  With strict
 * false, any failure is good enough. */
void expect_denied(struct probe_report *r, const char *what, attempt_fn fn,
		   void *arg, bool strict);

/* Symbolic errno name ("ENOENT"), or "errno N" in a static buffer. */
const char *errno_name(int err);

/* Wait for pid for at most timeout_ms.  Returns 0 with *status filled,
 * or -ETIMEDOUT (the child is still running), or -errno. */
int wait_timeout(pid_t pid, int *status, int timeout_ms);

/* SIGKILL a child and reap it. */
void kill_and_reap(pid_t pid);

/* Read at most n - 1 bytes of path into buf, NUL-terminated.  Returns the
 * length or -errno. */
ssize_t read_file(const char *path, char *buf, size_t n);

/* The value of "Key:" in a /proc status-style text, trimmed, in out.
 * Returns false if the key is absent. */
bool status_field(const char *text, const char *key, char *out, size_t n);

/* Monotonic milliseconds. */
long long now_ms(void);

/* Whether this is a vm bottle's guest (BOTTLE_BACKEND=vm): its kernel is
 * its own and its network one link to the bundle. */
bool probe_in_vm(void);

/* probes_proxy.c */
void probe_egress_proxy(const struct probe_opts *opts, struct probe_report *r);
void probe_endpoints(const struct probe_opts *opts, struct probe_report *r);

/* probes_proc.c */
void probe_pid_ns(const struct probe_opts *opts, struct probe_report *r);
void probe_caps(const struct probe_opts *opts, struct probe_report *r);
void probe_setuid(const struct probe_opts *opts, struct probe_report *r);
void probe_env_secrets(const struct probe_opts *opts, struct probe_report *r);

/* probes_fs.c */
void probe_host_paths(const struct probe_opts *opts, struct probe_report *r);
void probe_ro_system(const struct probe_opts *opts, struct probe_report *r);
void probe_writes_contained(const struct probe_opts *opts,
			    struct probe_report *r);
void probe_sys_absent(const struct probe_opts *opts, struct probe_report *r);

/* probes_syscall.c */
void probe_no_mount(const struct probe_opts *opts, struct probe_report *r);
void probe_no_unshare(const struct probe_opts *opts, struct probe_report *r);
void probe_no_setns(const struct probe_opts *opts, struct probe_report *r);
void probe_no_ptrace(const struct probe_opts *opts, struct probe_report *r);
void probe_no_keyctl(const struct probe_opts *opts, struct probe_report *r);
void probe_no_bpf(const struct probe_opts *opts, struct probe_report *r);
void probe_no_misc_syscalls(const struct probe_opts *opts,
			    struct probe_report *r);
void probe_tiocsti(const struct probe_opts *opts, struct probe_report *r);

/* probes_net.c */
void probe_net_ifaces(const struct probe_opts *opts, struct probe_report *r);
void probe_net_egress(const struct probe_opts *opts, struct probe_report *r);
void probe_vm_gateway(const struct probe_opts *opts, struct probe_report *r);

/* probes_limits.c */
void probe_fork_bomb(const struct probe_opts *opts, struct probe_report *r);
void probe_memory_hog(const struct probe_opts *opts, struct probe_report *r);

#endif
