/* QEMU microvm boots and the KVM probe.  See qemu.h. */
#include "backend/vm/qemu.h"

#include "backend/vm/ctl.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/run.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#define OUTPUT_MAX	    (4u << 20)
#define KVM_PROBE_TIMEOUT_S 10

struct argv {
	char **v;
	size_t n, alloc;
};

static void arg(struct argv *a, char *s)
{
	ALLOC_GROW(a->v, a->n + 2, a->alloc);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void args(struct argv *a, const char *const *list)
{
	for (; *list; list++)
		arg(a, xstrdup(*list));
}

char **vm_qemu_argv(const struct vm_boot *b)
{
	struct argv a = {0};
	struct strbuf cmd = STRBUF_INIT;
	bool kvm = b->accel == VM_ACCEL_KVM;

	arg(&a, xstrdup(b->qemu ? b->qemu : "qemu-system-x86_64"));
	/* microvm: no PCI, no firmware tables beyond ACPI's virtio-mmio
	 * device list, no option ROMs; the kernel is loaded directly.
	 * pic=off: the guest uses the IOAPIC; measured a little faster. */
	arg(&a, xstrdup("-M"));
	arg(&a,
	    b->machine && b->machine[0]
		? xasprintf("microvm,x-option-roms=off,pic=off,%s", b->machine)
		: xstrdup("microvm,x-option-roms=off,pic=off"));
	args(&a, (const char *const[]){"-accel", kvm ? "kvm" : "tcg", NULL});
	/* TCG: every feature it emulates (AVX2 among them since QEMU 7.2);
	 * the default qemu64 model lacks what today's binaries assume (the
	 * Claude Code CLI dies of SIGILL on it). */
	args(&a, (const char *const[]){"-cpu", kvm ? "host" : "max", NULL});
	arg(&a, xstrdup("-m"));
	arg(&a, xasprintf("%u", b->mem_mb ? b->mem_mb : 256));
	arg(&a, xstrdup("-smp"));
	arg(&a, xasprintf("%u", b->cpus ? b->cpus : 1));
	args(&a, (const char *const[]){"-nodefaults", "-no-user-config",
				       "-nographic", "-no-reboot", "-serial",
				       "stdio", "-kernel", b->kernel, "-initrd",
				       b->initrd, NULL});
	/* Modern (virtio 1.0) virtio-mmio instead of microvm's legacy
	 * default: vhost-user devices (virtiofsd) refuse legacy ones
	 * ("virtio legacy devices aren't supported by libvhost-user"). */
	args(&a, (const char *const[]){"-global",
				       "virtio-mmio.force-legacy=false", NULL});
	if (b->n_shares) {
		/* virtiofsd maps the guest's memory: it must be shared. */
		arg(&a, xstrdup("-object"));
		arg(&a, xasprintf("memory-backend-memfd,id=mem,size=%uM,"
				  "share=on",
				  b->mem_mb ? b->mem_mb : 256));
		args(&a, (const char *const[]){"-machine", "memory-backend=mem",
					       NULL});
	}
	for (size_t i = 0; i < b->n_shares; i++) {
		arg(&a, xstrdup("-chardev"));
		arg(&a, xasprintf("socket,id=fs%zu,path=%s", i,
				  b->shares[i].socket));
		arg(&a, xstrdup("-device"));
		arg(&a, xasprintf("vhost-user-fs-device,chardev=fs%zu,tag=%s",
				  i, b->shares[i].tag));
	}
	if (b->control || b->ctl)
		args(&a, (const char *const[]){"-device",
					       "virtio-serial-device", NULL});
	if (b->control)
		args(&a, (const char *const[]){
			     "-chardev", "file,id=ctl,path=/dev/fd/3",
			     "-device", "virtconsole,chardev=ctl", NULL});
	if (b->ctl) {
		/* A bottle's QEMU faces a guest kernel the agent may own:
		 * its own seccomp filter, no setuid, no fork/exec, no
		 * scheduler or resource changes. */
		args(&a, (const char *const[]){
			     "-sandbox",
			     "on,obsolete=deny,elevateprivileges=deny,"
			     "spawn=deny,resourcecontrol=deny",
			     NULL});
		arg(&a, xstrdup("-chardev"));
		arg(&a, xasprintf("socket,id=bctl,fd=%d", b->ctl_fd));
		args(&a, (const char *const[]){
			     "-device",
			     "virtserialport,chardev=bctl,name=" CTL_PORT_NAME,
			     NULL});
	}
	if (b->net) {
		arg(&a, xstrdup("-netdev"));
		arg(&a, xasprintf("tap,id=net0,fd=%d", b->tap_fd));
		args(&a, (const char *const[]){
			     "-device", "virtio-net-device,netdev=net0", NULL});
	}
	/* panic=-1 with -no-reboot: a guest panic ends QEMU at once.
	 * cryptomgr.notests audit=0: no crypto self-tests, no audit
	 * subsystem in a guest that has no use for either; together 0.8 s of
	 * a 3.6 s TCG boot here (docs/vm-backend.md). */
	strbuf_addstr(&cmd,
		      "console=ttyS0 quiet panic=-1 cryptomgr.notests audit=0");
	if (!kvm && b->tsc_khz)
		strbuf_addf(&cmd, " tsc_early_khz=%u", b->tsc_khz);
	if (b->append && b->append[0])
		strbuf_addf(&cmd, " %s", b->append);
	if (b->init_args && b->init_args[0])
		strbuf_addf(&cmd, " -- %s", b->init_args);
	arg(&a, xstrdup("-append"));
	arg(&a, strbuf_detach(&cmd, NULL));
	return a.v;
}

/* Is flag among the words of cpuinfo's (first) "flags" line? */
static bool cpuinfo_flag(const char *cpuinfo, const char *flag)
{
	const char *line = strstr(cpuinfo, "\nflags"), *p;
	size_t len, n = strlen(flag);

	if (!line)
		return false;
	line++;
	len = strcspn(line, "\n");
	for (p = line; (p = memmem(p, len - (size_t)(p - line), flag, n));
	     p += n)
		if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

unsigned tsc_khz_parse_cpuinfo(const char *cpuinfo, bool cpufreq)
{
	const char *p = strstr(cpuinfo, "\ncpu MHz");
	double mhz;

	/* show_cpuinfo() prints the APERF/MPERF estimate, else cpufreq's,
	 * else cpu_khz (arch/x86/kernel/cpu/proc.c, aperfmperf.c). */
	if (cpufreq || cpuinfo_flag(cpuinfo, "aperfmperf"))
		return 0;
	if (!p || !(p = strchr(p, ':')) || sscanf(p + 1, "%lf", &mhz) != 1 ||
	    mhz < 1 || mhz > 100000)
		return 0;
	return (unsigned)(mhz * 1000 + 0.5);
}

unsigned host_tsc_khz_cpuinfo(void)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *info = NULL;

	if (read_file("/proc/cpuinfo", &info, NULL, OUTPUT_MAX, &err) < 0)
		return 0;
	return tsc_khz_parse_cpuinfo(
	    info, access("/sys/devices/system/cpu/cpu0/cpufreq", F_OK) == 0);
}

#if defined(__x86_64__)
#define TSC_WINDOW_NS	  (20 * 1000 * 1000)
#define TSC_PAIR_MAX_NS	  20000 /* 0.1% of the window */
#define TSC_PAIR_ATTEMPTS 64

static uint64_t raw_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A (clock, TSC) pair: the TSC read between two clock reads, the pair with
 * the closest clock reads kept (the others were interrupted). */
static bool tsc_pair(uint64_t *ns, uint64_t *tsc)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < TSC_PAIR_ATTEMPTS; i++) {
		uint64_t a = raw_ns(), t = __rdtsc(), b = raw_ns();
		if (b - a < best) {
			best = b - a;
			*ns = a + (b - a) / 2;
			*tsc = t;
		}
	}
	return best <= TSC_PAIR_MAX_NS;
}

unsigned tsc_khz_measure(void)
{
	struct timespec ts = {0, TSC_WINDOW_NS};
	uint64_t ns0, ns1, tsc0, tsc1, khz;

	if (!tsc_pair(&ns0, &tsc0))
		return 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (!tsc_pair(&ns1, &tsc1) || ns1 <= ns0 || tsc1 <= tsc0)
		return 0;
	/* Cycles per ns is GHz, kHz is that times 1e6; no overflow below
	 * 1.8e13 cycles (an hour at 5 GHz, however long the sleep was). */
	khz = ((tsc1 - tsc0) * 1000000 + (ns1 - ns0) / 2) / (ns1 - ns0);
	return khz >= 100000 && khz <= 100000000 ? (unsigned)khz : 0;
}
#else
unsigned tsc_khz_measure(void)
{
	return 0;
}
#endif

unsigned host_tsc_khz(void)
{
	unsigned khz = host_tsc_khz_cpuinfo();

	return khz ? khz : tsc_khz_measure();
}

void vm_result_release(struct vm_result *r)
{
	free(r->console);
	free(r->report);
	r->console = r->report = NULL;
}

static char *read_memfd(int fd)
{
	struct stat st;
	size_t len;
	char *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return xstrdup("");
	len = (size_t)st.st_size > OUTPUT_MAX ? OUTPUT_MAX : (size_t)st.st_size;
	buf = xmalloc(len + 1);
	n = pread(fd, buf, len, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Wait for pid, SIGKILLing it after timeout_s. */
int vm_run(const struct vm_boot *b, unsigned timeout_s, struct vm_result *res,
	   struct error *err)
{
	char **argv = vm_qemu_argv(b);
	_cleanup_close_ int out = memfd_create("vm-console", MFD_CLOEXEC);
	_cleanup_close_ int ctl = memfd_create("vm-control", MFD_CLOEXEC);
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	uint64_t t0 = now_ns();
	pid_t pid;
	int r;

	memset(res, 0, sizeof(*res));
	if (out < 0 || ctl < 0 || devnull < 0) {
		strv_free(argv);
		return err_sys(err, errno, "starting QEMU");
	}
	pid = fork();
	if (pid < 0) {
		strv_free(argv);
		return err_sys(err, errno, "starting QEMU: fork");
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0 || dup2(ctl, 3) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "bottle: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	strv_free(argv);
	r = wait_killing(pid, timeout_s, &res->status, &res->timed_out);
	res->seconds = (double)(now_ns() - t0) / 1e9;
	if (r < 0)
		return err_sys(err, -r, "waiting for QEMU");
	res->console = read_memfd(out);
	res->report = b->control ? read_memfd(ctl) : NULL;
	return 0;
}

/* The last non-empty line of s, for error messages. */
static void last_line(const char *s, char *buf, size_t bufsz)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	snprintf(buf, bufsz, "%.*s", (int)(end - start), start);
}

int vm_result_check(const struct vm_boot *b, const struct vm_result *res,
		    struct error *err)
{
	bool raw = b->init_args && strcmp(b->init_args, "exit") == 0;
	char last[200];

	last_line(res->console ? res->console : "", last, sizeof(last));
	if (res->timed_out)
		return err_set(err, ETIMEDOUT,
			       "the guest did not power off in time; last "
			       "console line: \"%s\"",
			       last);
	const char *panic = strstr(res->console, "Kernel panic");
	if (panic)
		return err_set(err, EIO, "the guest kernel panicked: \"%.*s\"",
			       (int)strcspn(panic, "\r\n"), panic);
	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0)
		return err_set(err, EIO, "QEMU exited early (%s %d): \"%s\"",
			       WIFEXITED(res->status) ? "status" : "signal",
			       WIFEXITED(res->status) ? WEXITSTATUS(res->status)
						      : WTERMSIG(res->status),
			       last);
	if (raw ? !strstr(res->console, "bottle-init: exit")
		: !(res->report && strstr(res->report, "bottle-init: ok")))
		return err_set(err, EIO,
			       "the guest powered off without the init's "
			       "report (an unbootable kernel or initramfs?); "
			       "last console line: \"%s\"",
			       last);
	return 0;
}

static void stat_key(EVP_MD_CTX *ctx, const char *path)
{
	struct stat st;
	char buf[512];
	int n;

	if (!path || stat(path, &st) < 0)
		n = snprintf(buf, sizeof(buf), "%s -", path ? path : "-");
	else
		n = snprintf(buf, sizeof(buf), "%s %lu %lu %lld %lld.%09ld",
			     path, (unsigned long)st.st_dev,
			     (unsigned long)st.st_ino, (long long)st.st_size,
			     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	EVP_DigestUpdate(ctx, buf, (size_t)n + 1);
}

/* The cache file for this host kernel, QEMU and guest kernel. */
static char *kvm_cache_path(const struct vm_boot *b, const char *cache_dir)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen = 0;
	char hex[17];
	struct utsname u;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		BUG("sha256 unavailable");
	if (uname(&u) == 0) {
		EVP_DigestUpdate(ctx, u.release, strlen(u.release) + 1);
		EVP_DigestUpdate(ctx, u.version, strlen(u.version) + 1);
	}
	/* NEEDSWORK: a QEMU found in PATH is keyed by name only. */
	stat_key(ctx, b->qemu ? b->qemu : "/usr/bin/qemu-system-x86_64");
	stat_key(ctx, b->kernel);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/kvm-%s", cache_dir, hex);
}

int vm_kvm_cached(const struct vm_boot *b, const char *cache_dir,
		  struct strbuf *why)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *path = kvm_cache_path(b, cache_dir);
	_cleanup_free_ char *cached = NULL;

	if (read_file(path, &cached, NULL, 4096, &err) < 0 || !cached[0])
		return -ENOENT;
	cached[strcspn(cached, "\n")] = '\0';
	strbuf_addf(why, "KVM: %s (cached in %s)", cached, path);
	return strncmp(cached, "works", 5) == 0;
}

bool vm_kvm_works(const struct vm_boot *b, const char *cache_dir,
		  struct strbuf *why)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *path = kvm_cache_path(b, cache_dir);
	struct vm_boot probe = *b;
	struct vm_result res;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), cached;
	bool ok;

	if (fd < 0) {
		strbuf_addf(why, "KVM: /dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	if ((cached = vm_kvm_cached(b, cache_dir, why)) >= 0)
		return cached == 1;
	probe.accel = VM_ACCEL_KVM;
	probe.init_args = "exit";
	probe.control = false;
	if (vm_run(&probe, KVM_PROBE_TIMEOUT_S, &res, &err) < 0) {
		strbuf_addf(why, "KVM: not probed: %s", err.msg);
		return false;
	}
	ok = vm_result_check(&probe, &res, &err) == 0;
	_cleanup_free_ char *verdict =
	    ok ? xasprintf("works (a guest booted in %.2f s)", res.seconds)
	       : xasprintf("cannot boot a guest: %s", err.msg);
	vm_result_release(&res);
	strbuf_addf(why, "KVM: %s", verdict);
	if (mkdir_p(cache_dir, 0755, &err) == 0) {
		_cleanup_free_ char *line = xasprintf("%s\n", verdict);
		if (write_file_replace(path, line, strlen(line), 0644, &err) <
		    0) {
			/* uncached: probed again next time */
		}
	}
	return ok;
}
