/* bottle-init: PID 1 of a vm bottle's guest (DESIGN.md, Backends, vm).
 *
 * Built -static: the initramfs holds nothing else it could load libraries
 * from.  The kernel runs it as /init with the arguments after "--" on its
 * command line.  It does one of three things, then powers the VM off (a
 * PID 1 that exits would panic the guest):
 *
 *   bottle-init exit   print one line on the console and power off at once
 *                      (the raw boot: bench/launch's vm-raw row, the KVM
 *                      probe);
 *   bottle-init ctl    a bottle: mount /proc, /sys and /dev, load the
 *                      modules, then serve the control channel on the
 *                      virtio-serial port (init_serve.c): set up the
 *                      network and the root the host describes, run the
 *                      processes it asks for, power off when told;
 *   bottle-init [mount=TAG:/PATH]...
 *                      (vmboot) mount, load the modules, mount the
 *                      virtiofs shares, and write a report on the virtio
 *                      console (hvc0).
 *
 * Only what the kernel gives us is used: no /etc, no libraries, no
 * environment worth reading.  Every failure is reported on the console and
 * still ends in a power off, so the host always sees QEMU exit. */
#include "guest/init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MODULE_DIR "/modules"
#define REPORT_DEV "/dev/hvc0"
/* hvc0 appears when the host's virtio-serial control message adding the
 * console port has been handled, on a kernel workqueue after the module
 * loaded; wait for it, bounded (TCG is slow). */
#define REPORT_WAIT_MS 20000

static int console_fd = 2;

void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (write(console_fd, buf, (size_t)n) < 0) {
		/* nowhere else to say it */
	}
}

void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Only reached if reboot() failed; exiting would panic the guest,
	 * which also ends the VM (the host runs QEMU with -no-reboot). */
	say("bottle-init: power off failed: %s\n", strerror(errno));
	_exit(1);
}

struct mount_op {
	const char *type, *target;
	unsigned long flags;
};

static const struct mount_op mounts[] = {
    {"proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
    {"sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC},
    {"devtmpfs", "/dev", MS_NOSUID | MS_NOEXEC},
};

static int do_mounts(void)
{
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		const struct mount_op *m = &mounts[i];
		if (mkdir(m->target, 0755) < 0 && errno != EEXIST) {
			say("bottle-init: mkdir %s: %s\n", m->target,
			    strerror(errno));
			return -1;
		}
		if (mount(m->type, m->target, m->type, m->flags, NULL) < 0) {
			say("bottle-init: mount %s on %s: %s\n", m->type,
			    m->target, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* "mount=TAG:PATH": mount the virtiofs share TAG on PATH and say how
 * many entries its top holds. */
static int mount_share(const char *spec)
{
	char tag[64], path[256];
	const char *colon = strchr(spec, ':');
	DIR *d;
	int n = 0;

	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(tag) ||
	    colon[1] != '/' || strlen(colon + 1) >= sizeof(path)) {
		say("bottle-init: mount=%s: expected mount=TAG:/PATH\n", spec);
		return -1;
	}
	snprintf(tag, sizeof(tag), "%.*s", (int)(colon - spec), spec);
	snprintf(path, sizeof(path), "%s", colon + 1);
	if ((mkdir(path, 0755) < 0 && errno != EEXIST) ||
	    mount(tag, path, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0) {
		say("bottle-init: mount %s on %s: %s\n", tag, path,
		    strerror(errno));
		return -1;
	}
	if (!(d = opendir(path))) {
		say("bottle-init: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (readdir(d))
		n++;
	closedir(d);
	say("bottle-init: mounted %s on %s: %d entries\n", tag, path, n - 2);
	return 0;
}

static int select_ko(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && strcmp(d->d_name + n - 3, ".ko") == 0;
}

/* Load every MODULE_DIR/NN-name.ko in name order: the initramfs builder
 * numbered them so that dependencies come first. */
static int load_modules(int *loaded)
{
	struct dirent **names = NULL;
	int n, rc = 0;

	*loaded = 0;
	n = scandir(MODULE_DIR, &names, select_ko, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -1;
	for (int i = 0; i < n; i++) {
		char path[512];
		int fd;

		snprintf(path, sizeof(path), MODULE_DIR "/%s",
			 names[i]->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
			if (errno != EEXIST) {
				say("bottle-init: loading %s: %s\n", path,
				    strerror(errno));
				rc = -1;
			}
		} else {
			(*loaded)++;
		}
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int open_report(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int waited = 0; waited < REPORT_WAIT_MS; waited += 10) {
		int fd = open(REPORT_DEV, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != ENOENT && errno != ENXIO && errno != ENODEV)
			break;
		nanosleep(&ts, NULL);
	}
	say("bottle-init: %s: %s\n", REPORT_DEV, strerror(errno));
	return -1;
}

static void report(int loaded, int mods_ok)
{
	char up[64] = "?";
	int fd = open("/proc/uptime", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, up, sizeof(up) - 1);
		up[n > 0 ? n : 0] = '\0';
		up[strcspn(up, " \n")] = '\0';
		close(fd);
	}
	int out = open_report();
	if (out < 0)
		return;
	dprintf(out, "bottle-init: %s modules=%d uptime=%s\n",
		mods_ok ? "ok" : "error", loaded, up);
	close(out);
}

int main(int argc, char **argv)
{
	int loaded = 0, mods_ok;

	/* The kernel opened /dev/console (from the initramfs) as 0, 1, 2. */
	prctl(PR_SET_NAME, "bottle-init");
	if (getpid() != 1) {
		fprintf(stderr, "bottle-init: must run as PID 1 in a guest\n");
		return 2;
	}
	/* The kernel passes the command line's words it does not know
	 * ("nokaslr" on a kernel booted without its decompressor) to init
	 * too, ahead of those after "--": look at every argument. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "exit") == 0) {
			say("bottle-init: exit\n");
			power_off();
		}
	}
	if (do_mounts() < 0)
		power_off();
	mods_ok = load_modules(&loaded) == 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "silent") == 0) /* tests: never answer */
			for (;;)
				pause();
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "panic") == 0) /* tests: die once set up */
			init_panic_after_setup = true;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "ctl") == 0)
			init_serve(mods_ok ? NULL
					   : "loading the modules failed "
					     "(see the console log)");
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "mount=", 6) == 0 &&
		    mount_share(argv[i] + 6) < 0)
			mods_ok = 0;
	report(loaded, mods_ok);
	power_off();
}
