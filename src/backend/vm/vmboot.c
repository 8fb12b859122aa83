/* vmboot: boot the vm backend's guest once and check that its init ran.
 * A development and test tool (not installed) until `backend: vm` is
 * wired into `bottle run`; tests/e2e/vm_boot.sh and bench/launch use it.
 *
 *   vmboot [--kernel PATH] [--init PATH] [--accel auto|kvm|tcg] [--raw]
 *          [--append ARGS] [--machine OPTS] [--share DIR] [--timeout S]
 *          [--print-initrd | --print-argv]
 *
 * --raw boots an initramfs with the init and no modules, and the init
 * powers off at once.  --share DIR serves DIR with virtiofsd and the init
 * mounts it on /share (not with --raw).  --print-argv prints the QEMU command
 * line, one argument per line, instead of running it (bench/launch's vm-raw row
 * runs it bare).  Exit status: 0 when the guest booted to the init
 * and powered off cleanly, 1 when it did not (with the reason), 2 for a
 * usage error. */
#include "backend/vm/initramfs.h"
#include "backend/vm/qemu.h"
#include "backend/vm/virtiofsd.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: vmboot [--kernel PATH] [--init PATH] "
		"[--accel auto|kvm|tcg] [--raw]\n"
		"              [--append ARGS] [--machine OPTS] [--share DIR] "
		"[--timeout S]\n              "
		"[--print-initrd | --print-argv]\n");
	exit(2);
}

struct opts {
	const char *kernel, *init, *append, *machine, *share;
	enum vm_accel accel;
	bool raw, print_initrd, print_argv;
	unsigned timeout;
};

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"kernel", required_argument, NULL, 'k'},
	    {"init", required_argument, NULL, 'i'},
	    {"accel", required_argument, NULL, 'a'},
	    {"raw", no_argument, NULL, 'r'},
	    {"append", required_argument, NULL, 'A'},
	    {"machine", required_argument, NULL, 'M'},
	    {"share", required_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 't'},
	    {"print-initrd", no_argument, NULL, 'P'},
	    {"print-argv", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->init = optarg;
			break;
		case 'r':
			o->raw = true;
			break;
		case 'A':
			o->append = optarg;
			break;
		case 'M':
			o->machine = optarg;
			break;
		case 's':
			o->share = optarg;
			break;
		case 'P':
			o->print_initrd = true;
			break;
		case 'V':
			o->print_argv = true;
			break;
		case 'a':
			if (strcmp(optarg, "auto") == 0)
				o->accel = VM_ACCEL_AUTO;
			else if (strcmp(optarg, "kvm") == 0)
				o->accel = VM_ACCEL_KVM;
			else if (strcmp(optarg, "tcg") == 0)
				o->accel = VM_ACCEL_TCG;
			else {
				fprintf(stderr,
					"vmboot: --accel %s: expected "
					"auto, kvm or tcg\n",
					optarg);
				exit(2);
			}
			break;
		case 't':
			o->timeout = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !o->timeout || o->timeout > 3600) {
				fprintf(stderr,
					"vmboot: --timeout %s: expected "
					"1 to 3600 seconds\n",
					optarg);
				exit(2);
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* bottle-init next to this binary (the build dir, or libexec). */
static char *default_init(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return xstrdup("bottle-init");
	self[n] = '\0';
	return xasprintf("%s/bottle-init", dirname(self));
}

static char share_dir[] = "/tmp/vmboot.XXXXXX";

/* virtiofsd for dir, its socket in a fresh temporary directory. */
static int start_share(const char *dir, struct virtiofsd *fsd,
		       struct vm_share *share, struct error *err)
{
	static char sock[sizeof(share_dir) + 16];

	if (!mkdtemp(share_dir))
		return err_sys(err, errno, "mkdtemp %s", share_dir);
	snprintf(sock, sizeof(sock), "%s/fs.sock", share_dir);
	struct virtiofsd_opts o = {.source = dir, .socket_path = sock};

	if (virtiofsd_start(fsd, &o, err) < 0) {
		rmdir(share_dir);
		return -err->code;
	}
	share->tag = "share";
	share->socket = sock;
	return 0;
}

static void stop_share(struct virtiofsd *fsd)
{
	if (fsd->pid <= 0)
		return;
	virtiofsd_stop(fsd);
	rmdir(share_dir);
}

int main(int argc, char **argv)
{
	struct opts o = {.timeout = 120};
	struct error err = ERROR_INIT;
	struct vm_boot b = {0};
	struct vm_result res;
	struct strbuf why = STRBUF_INIT;
	_cleanup_free_ char *kernel = NULL, *release = NULL, *initrd = NULL,
			    *init = NULL, *cache = vm_cache_dir();
	bool built;
	struct virtiofsd fsd = VIRTIOFSD_INIT;
	struct vm_share share;
	int r;

	parse(argc, argv, &o);
	if (!cache) {
		fprintf(stderr, "vmboot: set HOME or XDG_CACHE_HOME\n");
		return 2;
	}
	init = o.init ? xstrdup(o.init) : default_init();
	if (o.kernel)
		kernel = xstrdup(o.kernel);
	else if (kernel_find("/boot", "/lib/modules", &kernel, &err) < 0)
		goto fail;
	if (kernel_release(kernel, &release, &err) < 0)
		goto fail;
	struct initramfs_spec spec = {
	    .init_path = init,
	    .release = release,
	    .modules = o.raw ? NULL : vm_guest_modules,
	    .cache_dir = cache,
	};
	if (initramfs_get(&spec, &initrd, &built, &err) < 0)
		goto fail;
	if (o.print_initrd) {
		printf("%s\n", initrd);
		return 0;
	}
	b.kernel = kernel;
	b.initrd = initrd;
	b.tsc_khz = host_tsc_khz();
	b.init_args = o.raw ? "exit" : NULL;
	b.control = !o.raw;
	b.append = o.append;
	b.machine = o.machine;
	b.accel = o.accel;
	if (b.accel == VM_ACCEL_AUTO) {
		b.accel =
		    vm_kvm_works(&b, cache, &why) ? VM_ACCEL_KVM : VM_ACCEL_TCG;
		fprintf(stderr, "vmboot: %s\n", why.buf);
	}
	if (o.print_argv) {
		char **v = vm_qemu_argv(&b);
		for (size_t i = 0; v[i]; i++)
			printf("%s\n", v[i]);
		strv_free(v);
		return 0;
	}
	if (o.share && !o.raw && start_share(o.share, &fsd, &share, &err) < 0)
		goto fail;
	if (fsd.pid > 0) {
		b.shares = &share;
		b.n_shares = 1;
		b.init_args = "mount=share:/share";
	}
	r = vm_run(&b, o.timeout, &res, &err);
	stop_share(&fsd);
	if (r < 0)
		goto fail;
	fputs(res.console, stdout);
	if (res.report)
		fputs(res.report, stdout);
	fprintf(stderr, "vmboot: %s, %s, initramfs %s, %.3f s\n", release,
		b.accel == VM_ACCEL_KVM ? "kvm" : "tcg",
		built ? "built" : "cached", res.seconds);
	r = vm_result_check(&b, &res, &err);
	vm_result_release(&res);
	strbuf_release(&why);
	if (r == 0)
		return 0;
fail:
	fprintf(stderr, "vmboot: %s\n", err.msg);
	return 1;
}
