/* bottle-init: setting the guest up from the host's SETUP frame.
 *
 * The host built the bottle's read-only root (the plan's host-side ops) and
 * serves it as the virtiofs share "root"; each read-write bind is a share
 * of its own.  Here, in order: the clock and the RNG from the host, the
 * hostname, lo and eth0 (VM_GUEST_ADDR, on the link whose other end is the
 * bundle), the root share on /newroot, then the shares and the guest-side
 * ops (proc, tmpfs, devpts, /dev's nodes...) in plan order under it, and
 * finally the switch into /newroot.  The plan's ops are the same data the
 * ns backend executes (lib/plan.h); the host split them. */
#include "backend/vm/ctl.h"
#include "guest/init.h"
#include "lib/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NEWROOT "/newroot"
#define MAX_OPS 128

/* What the jail needs later: the rw places for Landlock, the pids limit. */
static struct setup_op jail_ops[MAX_OPS];
static struct plan jail_plan;

const struct plan *init_jail_plan(void)
{
	return &jail_plan;
}

static int fail(char *msg, unsigned n, const char *what, const char *arg)
{
	snprintf(msg, n, "%s%s%s: %s", what, arg ? " " : "", arg ? arg : "",
		 strerror(errno));
	return -1;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[512];
	size_t len = strlen(path);

	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int if_config(int s, const char *name, const char *addr, int prefix)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (addr) {
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &sin->sin_addr);
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
			return -1;
		sin->sin_addr.s_addr = htonl(prefix ? ~0u << (32 - prefix) : 0);
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
			return -1;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* No IPv6: the link carries IPv4 to the bundle and nothing else (no
 * link-local addresses, no routes). */
static void no_ipv6(void)
{
	static const char *const knobs[] = {
	    "/proc/sys/net/ipv6/conf/all/disable_ipv6",
	    "/proc/sys/net/ipv6/conf/default/disable_ipv6"};

	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) < 0)
			say("bottle-init: %s: %s\n", knobs[i], strerror(errno));
		close(fd);
	}
}

static int network(char *msg, unsigned n)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	no_ipv6();
	if (s < 0)
		return fail(msg, n, "socket", NULL);
	if (if_config(s, "lo", NULL, 0) < 0) {
		close(s);
		return fail(msg, n, "bringing up", "lo");
	}
	r = if_config(s, "eth0", VM_GUEST_ADDR, VM_NET_PREFIX);
	close(s);
	return r < 0 ? fail(msg, n, "configuring", "eth0 (virtio-net)") : 0;
}

/* The host's clock, and entropy for the guest's RNG (a restored snapshot
 * would otherwise repeat both). */
static void clock_and_seed(const char *time_s, const char *seed)
{
	if (time_s) {
		struct timespec ts = {0, 0};
		char *end;
		ts.tv_sec = strtoll(time_s, &end, 10);
		if (*end == '.')
			ts.tv_nsec = strtol(end + 1, NULL, 10);
		clock_settime(CLOCK_REALTIME, &ts);
	}
	if (seed) {
		struct {
			struct rand_pool_info info;
			unsigned char buf[64];
		} p;
		size_t len = strlen(seed) / 2;
		int fd;

		if (len > sizeof(p.buf))
			len = sizeof(p.buf);
		for (size_t i = 0; i < len; i++) {
			unsigned v = 0;
			sscanf(seed + 2 * i, "%2x", &v);
			p.buf[i] = (unsigned char)v;
		}
		p.info.entropy_count = (int)len * 8;
		p.info.buf_size = (int)len;
		fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (ioctl(fd, RNDADDENTROPY, &p) < 0)
				say("bottle-init: seeding the RNG: %s\n",
				    strerror(errno));
			close(fd);
		}
	}
}

static void dst_path(char *out, size_t n, const char *target)
{
	snprintf(out, n, NEWROOT "%s", strcmp(target, "/") == 0 ? "" : target);
}

static int make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

static int setattr_rec(const char *path, uint64_t set, bool rec)
{
	struct mount_attr a = {.attr_set = set};
	return (int)syscall(SYS_mount_setattr, AT_FDCWD, path,
			    rec ? AT_RECURSIVE : 0, &a, sizeof(a));
}

/* One guest-side op of the plan, under NEWROOT. */
static int exec_op(const struct setup_op *op, char *msg, unsigned n)
{
	char dst[512], opts[64], *slash;
	unsigned long fl = MS_NOSUID | MS_NODEV;

	dst_path(dst, sizeof(dst), op->target);
	switch (op->type) {
	case SETUP_TMPFS:
		if (op->flags & SETUP_NOEXEC)
			fl |= MS_NOEXEC;
		if (op->size)
			snprintf(opts, sizeof(opts), "mode=%o,size=%llu",
				 (unsigned)op->mode,
				 (unsigned long long)op->size);
		else
			snprintf(opts, sizeof(opts), "mode=%o",
				 (unsigned)op->mode);
		if (mkdir_p(dst, 0755) < 0 ||
		    mount("tmpfs", dst, "tmpfs", fl, opts) < 0)
			return fail(msg, n, "tmpfs", op->target);
		return 0;
	case SETUP_DIR:
		if (mkdir_p(dst, op->mode) < 0)
			return fail(msg, n, "mkdir", op->target);
		return 0;
	case SETUP_SYMLINK:
		if (symlink(op->source, dst) < 0 && errno != EEXIST)
			return fail(msg, n, "symlink", op->target);
		return 0;
	case SETUP_DEV_BIND:
		/* The guest kernel's own node, from the initramfs's
		 * devtmpfs: the host's device numbers mean nothing here. */
		if ((slash = strrchr(dst, '/')))
			*slash = '\0';
		if (mkdir_p(dst, 0755) < 0)
			return fail(msg, n, "mkdir", dst);
		if (slash)
			*slash = '/';
		if (make_file(dst) < 0 ||
		    mount(op->source, dst, NULL, MS_BIND, NULL) < 0 ||
		    setattr_rec(dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
				false) < 0)
			return fail(msg, n, "dev-bind", op->target);
		return 0;
	case SETUP_DEVPTS:
		if (mkdir_p(dst, 0755) < 0 ||
		    mount("devpts", dst, "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=620") < 0)
			return fail(msg, n, "devpts", op->target);
		return 0;
	case SETUP_MQUEUE:
		/* Optional, as in ns. */
		if (mkdir_p(dst, 0755) == 0 &&
		    mount("mqueue", dst, "mqueue", fl | MS_NOEXEC, NULL) < 0)
			rmdir(dst);
		return 0;
	case SETUP_PROC:
		if (mkdir_p(dst, 0555) < 0 ||
		    mount("proc", dst, "proc", fl | MS_NOEXEC, NULL) < 0)
			return fail(msg, n, "proc", op->target);
		return 0;
	case SETUP_REMOUNT_RO:
		if (setattr_rec(dst,
				MOUNT_ATTR_RDONLY |
				    (op->flags & SETUP_RECURSIVE
					 ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
					 : 0),
				op->flags & SETUP_RECURSIVE) < 0)
			return fail(msg, n, "remount read-only", op->target);
		return 0;
	default:
		errno = EINVAL;
		snprintf(msg, n, "setup op %d for %s is not a guest op",
			 (int)op->type, op->target);
		return -1;
	}
}

static int mount_share(const char *tag, const char *target, char *msg,
		       unsigned n)
{
	char dst[512];
	unsigned long fl = MS_NOSUID | MS_NODEV;

	dst_path(dst, sizeof(dst), target);
	if (strcmp(target, "/") == 0)
		fl |= MS_RDONLY;
	if ((strcmp(target, "/") == 0 && mkdir(NEWROOT, 0755) < 0 &&
	     errno != EEXIST) ||
	    mount(tag, dst, "virtiofs", fl, NULL) < 0)
		return fail(msg, n, "mounting share", tag);
	return 0;
}

static int parse_op(const char *spec, struct setup_op *op)
{
	unsigned type, flags, mode;
	unsigned long long size;

	if (sscanf(spec, "%u %u %o %llu", &type, &flags, &mode, &size) != 4 ||
	    type > SETUP_REMOUNT_RO)
		return -1;
	memset(op, 0, sizeof(*op));
	op->type = (enum setup_op_type)type;
	op->flags = flags;
	op->mode = (mode_t)mode;
	op->size = size;
	return 0;
}

static int switch_root(char *msg, unsigned n)
{
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		return fail(msg, n, "switching to the new root", NULL);
	return 0;
}

/* Fields: T (clock), r (seed), h (hostname), p (pids), then in plan order
 * s TAG + d TARGET, and o "TYPE FLAGS MODE SIZE" [+ S SOURCE] + d TARGET.
 * The root share comes first. */
int init_setup(const unsigned char *fields, unsigned len, char *msg, unsigned n)
{
	const char *str, *time_s = NULL, *seed = NULL, *tag = NULL;
	struct setup_op op = {0};
	enum { NONE, SHARE, OP } pending = NONE;
	size_t off = 0, n_jail = 0;
	bool have_root = false;
	char t;
	int r;

	while ((r = ctl_field_next(fields, len, &off, &t, &str)) > 0) {
		switch (t) {
		case CTL_F_TIME:
			time_s = str;
			break;
		case CTL_F_SEED:
			seed = str;
			break;
		case CTL_F_HOSTNAME:
			if (sethostname(str, strlen(str)) < 0)
				return fail(msg, n, "sethostname", str);
			break;
		case CTL_F_PIDS:
			jail_plan.pids.value = strtoull(str, NULL, 10);
			jail_plan.pids.mech =
			    jail_plan.pids.value ? LIMIT_RLIMIT : LIMIT_NONE;
			break;
		case CTL_F_SHARE:
			tag = str;
			pending = SHARE;
			break;
		case CTL_F_OP:
			if (parse_op(str, &op) < 0) {
				snprintf(msg, n, "bad setup op \"%s\"", str);
				return -1;
			}
			pending = OP;
			break;
		case CTL_F_SOURCE:
			op.source = (char *)str;
			break;
		case CTL_F_TARGET:
			if (str[0] != '/' || strstr(str, "/../") ||
			    (pending == OP && !have_root)) {
				snprintf(msg, n, "bad target \"%s\"", str);
				return -1;
			}
			break;
		default:
			snprintf(msg, n, "unknown setup field '%c'", t);
			return -1;
		}
		if (t != CTL_F_TARGET)
			continue;
		if (pending == SHARE) {
			if (!have_root) {
				clock_and_seed(time_s, seed);
				if (network(msg, n) < 0)
					return -1;
			}
			if (mount_share(tag, str, msg, n) < 0)
				return -1;
			have_root = true;
			if (strcmp(str, "/") != 0 && n_jail < MAX_OPS)
				jail_ops[n_jail++] = (struct setup_op){
				    .type = SETUP_BIND, .target = strdup(str)};
		} else if (pending == OP) {
			op.target = (char *)str;
			if (exec_op(&op, msg, n) < 0)
				return -1;
			if ((op.type == SETUP_TMPFS ||
			     op.type == SETUP_MQUEUE) &&
			    n_jail < MAX_OPS)
				jail_ops[n_jail++] = (struct setup_op){
				    .type = op.type, .target = strdup(str)};
			memset(&op, 0, sizeof(op));
		}
		pending = NONE;
	}
	if (r < 0) {
		snprintf(msg, n, "malformed setup fields");
		return -1;
	}
	if (!have_root) {
		snprintf(msg, n, "no root share in the setup");
		return -1;
	}
	jail_plan.ops = jail_ops;
	jail_plan.n_ops = n_jail;
	return switch_root(msg, n);
}
