/* The vm backend's host report.  See host.h. */
#include "backend/vm/host.h"

#include "backend/vm/initramfs.h"
#include "backend/vm/qemu.h"
#include "backend/vm/virtiofsd.h"
#include "lib/fsutil.h"
#include "lib/run.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define QEMU_NAME "qemu-system-x86_64"

/* Keep the first fatal error; the report goes on. */
static void fatal(int *r, struct error *err, const struct error *e)
{
	if (*r == 0) {
		*err = *e;
		*r = -e->code;
	}
}

/* The first line binary --version prints, in buf. */
static int version(const char *binary, char *buf, size_t bufsz,
		   struct error *err)
{
	const char *const argv[] = {binary, "--version", NULL};
	_cleanup_free_ char *out = NULL;
	int r = run_capture(argv, -1, 64 << 10, &out, NULL, err);

	if (r < 0)
		return r;
	snprintf(buf, bufsz, "%.*s", (int)strcspn(out, "\n"), out);
	return 0;
}

static void qemu_line(struct strbuf *out, int *r, struct error *err)
{
	struct error e = ERROR_INIT;
	_cleanup_free_ char *qemu = path_find(QEMU_NAME);
	char ver[256];

	if (!qemu) {
		err_set(&e, ENOENT,
			"%s not found in PATH (apt install qemu-system-x86)",
			QEMU_NAME);
		strbuf_addf(out, "qemu: %s: no vm bottle can start\n", e.msg);
		fatal(r, err, &e);
	} else if (version(qemu, ver, sizeof(ver), &e) < 0) {
		strbuf_addf(out, "qemu: %s does not run: %s\n", qemu, e.msg);
		fatal(r, err, &e);
	} else {
		strbuf_addf(out, "qemu: %s, %s\n", qemu, ver);
	}
}

/* /dev/kvm, then the verdict; returns whether guests will use KVM
 * (1), TCG (0), or it is not known until a launch probes it (-1). */
static int kvm_lines(struct strbuf *out, const char *kernel)
{
	_cleanup_free_ char *cache = vm_cache_dir();
	struct strbuf why = STRBUF_INIT;
	struct vm_boot b = {.kernel = kernel}; /* keyed as a launch keys it */
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), works;

	if (fd < 0) {
		strbuf_addf(out, "/dev/kvm: %s: %s\n", strerror(errno),
			    errno == ENOENT
				? "no KVM here (no kvm module, or a VM without "
				  "nested virtualization)"
				: "not usable by this user (group kvm?)");
		return 0;
	}
	close(fd);
	strbuf_addstr(out, "/dev/kvm: present, opens read-write\n");
	if (!kernel || !cache) {
		strbuf_addstr(out, "KVM: not probed yet: needs a guest kernel "
				   "and a cache directory\n");
		return -1;
	}
	works = vm_kvm_cached(&b, cache, &why);
	if (works < 0)
		strbuf_addstr(out, "KVM: not probed yet: the first vm launch "
				   "probes it (about 10 s)\n");
	else
		strbuf_addf(out, "%s\n", why.buf);
	strbuf_release(&why);
	return works;
}

static void accel_lines(struct strbuf *out, int kvm, int *r, struct error *err)
{
	struct error e = ERROR_INIT;
	unsigned cpuinfo = host_tsc_khz_cpuinfo();
	unsigned khz = cpuinfo ? cpuinfo : tsc_khz_measure();

	if (kvm == 1)
		strbuf_addstr(out, "accelerator: KVM: guests run at "
				   "hardware speed\n");
	else if (kvm == 0)
		strbuf_addstr(out, "accelerator: TCG: guests are emulated, "
				   "a boot takes seconds and the agent runs "
				   "several times slower\n");
	else
		strbuf_addstr(out, "accelerator: KVM if the probe boots a "
				   "guest, else TCG (emulated, several times "
				   "slower)\n");
	if (kvm == 1)
		return; /* kvmclock: no TSC rate needed */
	if (khz) {
		strbuf_addf(out, "TSC rate for TCG guests: %u kHz (%s)\n", khz,
			    cpuinfo ? "/proc/cpuinfo" : "measured");
		return;
	}
	err_set(&e, ENOTSUP,
		"no TSC rate: neither /proc/cpuinfo nor a measurement gives "
		"one, and a TCG guest cannot calibrate its clock without it");
	strbuf_addf(out, "TSC rate for TCG guests: %s\n", e.msg);
	fatal(r, err, &e);
}

/* The guest kernel, its release and modules; the kernel's path (malloc'd)
 * if it is usable, else NULL. */
static char *kernel_lines(struct strbuf *out, int *r, struct error *err)
{
	struct error e = ERROR_INIT;
	_cleanup_free_ char *kernel = NULL, *release = NULL, *moddir = NULL;
	char **mods = NULL;
	size_t n = 0;

	if (kernel_find("/boot", "/lib/modules", &kernel, &e) < 0 ||
	    kernel_release(kernel, &release, &e) < 0) {
		strbuf_addf(out, "guest kernel: none usable: %s\n", e.msg);
		fatal(r, err, &e);
		return NULL;
	}
	moddir = xasprintf("/lib/modules/%s", release);
	if (kmod_resolve(moddir, vm_guest_modules, &mods, &e) < 0) {
		strbuf_addf(out, "guest kernel: %s (release %s): %s\n", kernel,
			    release, e.msg);
		fatal(r, err, &e);
		return NULL;
	}
	while (mods[n])
		n++;
	strv_free(mods);
	strbuf_addf(out,
		    "guest kernel: %s (release %s), modules in %s: %zu files "
		    "for virtio-mmio, console, net, virtiofs and rng\n",
		    kernel, release, moddir, n);
	return steal_ptr(&kernel);
}

static void virtiofsd_line(struct strbuf *out, int *r, struct error *err)
{
	struct error e = ERROR_INIT;
	char ver[256];

	if (access(VIRTIOFSD_PATH, X_OK) < 0) {
		err_sys(&e, errno,
			"virtiofsd: %s (apt install qemu-system-common)",
			VIRTIOFSD_PATH);
		strbuf_addf(out,
			    "%s: the guest cannot see the bottle's files\n",
			    e.msg);
		fatal(r, err, &e);
	} else if (version(VIRTIOFSD_PATH, ver, sizeof(ver), &e) < 0) {
		strbuf_addf(out, "virtiofsd: %s does not run: %s\n",
			    VIRTIOFSD_PATH, e.msg);
		fatal(r, err, &e);
	} else {
		strbuf_addf(out,
			    "virtiofsd: %s, %s: shares the bottle's files "
			    "with the guest\n",
			    VIRTIOFSD_PATH, ver);
	}
}

static void init_line(struct strbuf *out, int *r, struct error *err)
{
	struct error e = ERROR_INIT;
	_cleanup_free_ char *init = helper_path("bottle-init");

	if (!init) {
		err_set(&e, ENOENT,
			"bottle-init not found next to bottle or in "
			"../libexec/bottle (a build or install without it)");
		strbuf_addf(out, "bottle-init: %s\n",
			    e.msg + strlen("bottle-init "));
		fatal(r, err, &e);
	} else if (initramfs_check_init(init, &e) < 0) {
		strbuf_addf(out, "bottle-init: %s\n", e.msg);
		fatal(r, err, &e);
	} else {
		strbuf_addf(
		    out, "bottle-init: %s (static): the guest's PID 1\n", init);
	}
}

int vm_probe_host(struct strbuf *out, struct error *err)
{
	_cleanup_free_ char *kernel = NULL;
	int r = 0, kvm;

	qemu_line(out, &r, err);
	kernel = kernel_lines(out, &r, err);
	kvm = kvm_lines(out, kernel);
	accel_lines(out, kvm, &r, err);
	virtiofsd_line(out, &r, err);
	init_line(out, &r, err);
	return r;
}
