/* Booting a guest under qemu-system-x86_64 -M microvm, and the KVM probe
 * (docs/vm-backend.md). */
#ifndef BOTTLE_VM_QEMU_H
#define BOTTLE_VM_QEMU_H

#include "lib/err.h"
#include "lib/manifest.h"
#include "lib/strbuf.h"

#include <stdbool.h>

/* enum vm_accel: the manifest's vm.accel. */

/* A directory shared with virtiofs: a running virtiofsd's socket, and
 * the tag the guest mounts it by. */
struct vm_share {
	const char *tag;
	const char *socket;
};

struct vm_boot {
	const char *qemu;      /* NULL: qemu-system-x86_64 from PATH */
	const char *kernel;    /* bzImage */
	const char *initrd;    /* our initramfs */
	enum vm_accel accel;   /* KVM or TCG (not AUTO) */
	unsigned mem_mb;       /* 0: 256 */
	unsigned tsc_khz;      /* TCG: the guest's TSC rate; 0: none */
	const char *init_args; /* after "--" on the kernel command line */
	const char *append;    /* more kernel arguments, or NULL */
	const char *machine;   /* more -M microvm options, or NULL */
	bool control;	       /* add the virtio console (report channel) */
	unsigned cpus;	       /* 0: 1 */
	bool net;	       /* a virtio-net device on the tap at tap_fd */
	int tap_fd;
	bool ctl; /* the control port (CTL_PORT_NAME) on the
		   * connected socket at ctl_fd */
	int ctl_fd;
	const struct vm_share *shares; /* guest RAM becomes shared memory */
	size_t n_shares;
};

/* The QEMU command line for b: NULL-terminated, malloc'd (strv_free).
 * The serial console goes to QEMU's stdout; with b->control, the virtio
 * console is written to /dev/fd/3. */
char **vm_qemu_argv(const struct vm_boot *b);

/* The host's TSC rate in kHz: host_tsc_khz_cpuinfo() where that is the
 * TSC's rate, else tsc_khz_measure(); 0 only if both fail.  Under TCG the
 * guest reads the host's TSC, and without a rate the guest kernel (microvm
 * has no PIT, HPET or PM timer) cannot calibrate it and hangs. */
unsigned host_tsc_khz(void);

/* "cpu MHz" of cpuinfo (the text of /proc/cpuinfo) in kHz, if it is the
 * TSC's rate, else 0.  It is the kernel's calibrated rate only when nothing
 * reports the core's current frequency instead: no cpufreq driver (the
 * caller says whether /sys/devices/system/cpu/cpu0/cpufreq exists) and no
 * "aperfmperf" flag, which is the case in most virtual machines and rarely
 * on bare metal.  Pure, for tests. */
unsigned tsc_khz_parse_cpuinfo(const char *cpuinfo, bool cpufreq);

/* tsc_khz_parse_cpuinfo() of this host, 0 if unknown or not the TSC's. */
unsigned host_tsc_khz_cpuinfo(void);

/* The TSC rate measured: rdtsc against CLOCK_MONOTONIC_RAW over about
 * 20 ms (each end read between two clock reads, the tightest of several
 * pairs kept, so a preemption does not skew it).  0 if no pair was tight
 * enough or the result is implausible, or off x86-64. */
unsigned tsc_khz_measure(void);

struct vm_result {
	int status;	/* QEMU's wait status */
	bool timed_out; /* killed after the timeout */
	char *console;	/* serial output (malloc'd, NUL-terminated) */
	char *report;	/* virtio console output, or NULL */
	double seconds; /* wall time from spawn to exit */
};

void vm_result_release(struct vm_result *r);

/* Boot b and wait for QEMU to exit (SIGKILL after timeout_s).  Returns 0
 * with res filled whatever the guest did, or -errno with err if QEMU could
 * not be started. */
int vm_run(const struct vm_boot *b, unsigned timeout_s, struct vm_result *res,
	   struct error *err) __attribute__((warn_unused_result));

/* Did a run boot to the init and power off cleanly?  A raw boot ("exit")
 * must print "bottle-init: exit"; a full one must report "bottle-init: ok"
 * on the control channel.  Returns 0, or -errno with err naming what went
 * wrong (QEMU's own message, a kernel panic, the timeout...). */
int vm_result_check(const struct vm_boot *b, const struct vm_result *res,
		    struct error *err) __attribute__((warn_unused_result));

/* Can KVM boot a guest here?  /dev/kvm must open, and a raw boot of b
 * (kernel and initrd; accel and init_args are overridden) under KVM must
 * power off cleanly within a few seconds: nested or paravirtual KVM can
 * accept the VM and then never run the guest.  The verdict is cached in
 * cache_dir keyed by the host kernel, QEMU binary and guest kernel; why
 * gets one human line.  Returns true if KVM works. */
bool vm_kvm_works(const struct vm_boot *b, const char *cache_dir,
		  struct strbuf *why);

/* vm_kvm_works()'s cached verdict for b, without probing (and without
 * looking at /dev/kvm): 1 if KVM works, 0 if not, with why's line as
 * vm_kvm_works() gives it; -ENOENT if it has not been probed. */
int vm_kvm_cached(const struct vm_boot *b, const char *cache_dir,
		  struct strbuf *why);

#endif
