/* The vm keeper's network, set up for real by forked children in network
 * namespaces of their own (as root): the listeners on the gateway, the tap
 * device, the errors and what they leave behind, and QEMU taking the tap's
 * fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backend/vm/net.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_SKIP 77

/* The child's verdict: a message, or "" when every check passed. */
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			snprintf(msg, n, __VA_ARGS__);                         \
			return 1;                                              \
		}                                                              \
	} while (0)

typedef int (*child_fn)(char *msg, size_t n);

/* Run fn in a forked child with a network namespace of its own; fail with
 * its message if it failed, skip if it said so. */
static void in_net_ns(child_fn fn)
{
	char msg[1024] = "";
	int pfd[2], status;
	ssize_t got;
	pid_t pid;

	if (geteuid() != 0) {
		print_message("not root: needs a network namespace\n");
		skip();
	}
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = 1;

		close(pfd[0]);
		if (unshare(CLONE_NEWNET) < 0)
			snprintf(msg, sizeof(msg), "unshare: %m");
		else
			r = fn(msg, sizeof(msg));
		if (write_all(pfd[1], msg, strlen(msg)) < 0)
			r = 2;
		_exit(r);
	}
	close(pfd[1]);
	got = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	msg[got > 0 ? got : 0] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP) {
		print_message("%s\n", msg);
		skip();
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child: %s (status %#x)", msg, status);
}

static const uint16_t ports[ENDPOINT_COUNT] = {
    [ENDPOINT_PROXY] = PROXY_PORT,
    [ENDPOINT_GIT] = 0,
    [ENDPOINT_SUPERVISE] = SUPERVISE_PORT,
};

/* connect() to VM_GATEWAY:port: 0 or the errno. */
static int connect_gw(uint16_t port, int *out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = inet_addr(VM_GATEWAY)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*out = s;
	if (s < 0)
		return errno;
	return connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
}

static bool cloexec(int fd)
{
	return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/* lo and the tap up, the tap with the gateway/24, nothing else there. */
static int check_links(char *msg, size_t n)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	struct ifreq ifr = {0};
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin;
	int count = 0, other = 0;

	CHECK(ifs, "if_nameindex: %m");
	for (i = ifs; i->if_index; i++) {
		count++;
		other += strcmp(i->if_name, "lo") != 0 &&
			 strcmp(i->if_name, VM_TAP_NAME) != 0;
	}
	if_freenameindex(ifs);
	CHECK(count == 2 && other == 0,
	      "%d interfaces (%d not lo or " VM_TAP_NAME ")", count, other);
	strcpy(ifr.ifr_name, "lo");
	CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP),
	      "lo is not up");
	strcpy(ifr.ifr_name, VM_TAP_NAME);
	CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP),
	      VM_TAP_NAME " is not up");
	CHECK(ioctl(s, SIOCGIFADDR, &ifr) == 0, "SIOCGIFADDR: %m");
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	CHECK(sin.sin_addr.s_addr == inet_addr(VM_GATEWAY),
	      VM_TAP_NAME " has %s", inet_ntoa(sin.sin_addr));
	CHECK(ioctl(s, SIOCGIFNETMASK, &ifr) == 0, "SIOCGIFNETMASK: %m");
	memcpy(&sin, &ifr.ifr_netmask, sizeof(sin));
	CHECK(sin.sin_addr.s_addr == inet_addr("255.255.255.0"),
	      VM_TAP_NAME " has netmask %s", inet_ntoa(sin.sin_addr));
	return 0;
}

static int check_setup(char *msg, size_t n)
{
	struct error err = ERROR_INIT;
	int fds[ENDPOINT_COUNT], tap, c, a, e;
	char b = 0;

	CHECK(vm_net_setup(ports, fds, &tap, &err) == 0, "vm_net_setup: %s",
	      err.msg);
	CHECK(tap >= 0 && cloexec(tap), "tap fd %d", tap);
	{
		struct ifreq ifr = {0};
		CHECK(ioctl(tap, TUNGETIFF, &ifr) == 0, "TUNGETIFF: %m");
		CHECK(strcmp(ifr.ifr_name, VM_TAP_NAME) == 0 &&
			  (ifr.ifr_flags & (IFF_TAP | IFF_TUN | IFF_NO_PI)) ==
			      (IFF_TAP | IFF_NO_PI),
		      "the fd is %s with flags %#x, not a tap without PI",
		      ifr.ifr_name, (unsigned)ifr.ifr_flags);
	}
	CHECK(fds[ENDPOINT_GIT] == -1, "the git endpoint is off, fd %d",
	      fds[ENDPOINT_GIT]);
	if (check_links(msg, n))
		return 1;
	for (int i = 0; i < ENDPOINT_COUNT; i++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);

		if (!ports[i])
			continue;
		CHECK(fds[i] >= 0 && cloexec(fds[i]), "endpoint %d: fd %d", i,
		      fds[i]);
		CHECK(getsockname(fds[i], (struct sockaddr *)&sa, &len) == 0 &&
			  sa.sin_addr.s_addr == inet_addr(VM_GATEWAY) &&
			  ntohs(sa.sin_port) == ports[i],
		      "endpoint %d is not on " VM_GATEWAY ":%u", i, ports[i]);
		e = connect_gw(ports[i], &c);
		CHECK(e == 0, "connecting to " VM_GATEWAY ":%u: %s", ports[i],
		      strerror(e));
		a = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
		CHECK(a >= 0, "accept on " VM_GATEWAY ":%u: %m", ports[i]);
		CHECK(write(c, "x", 1) == 1 && read(a, &b, 1) == 1 && b == 'x',
		      "no byte through " VM_GATEWAY ":%u", ports[i]);
		close(a);
		close(c);
	}
	e = connect_gw(GIT_GATE_PORT, &c);
	close(c);
	CHECK(e == ECONNREFUSED, "the git port (off): %s, not refused",
	      strerror(e));
	return 0;
}

static void test_setup(void **state)
{
	(void)state;
	in_net_ns(check_setup);
}

/* Failures name their step and leave nothing open: the tap of a failed
 * call is gone with its fd. */
static int check_errors(char *msg, size_t n)
{
	struct error err = ERROR_INIT;
	int fds[ENDPOINT_COUNT], fds2[ENDPOINT_COUNT], tap, tap2, r;

	CHECK(vm_net_setup(ports, fds, &tap, &err) == 0, "vm_net_setup: %s",
	      err.msg);
	/* The tap's name is taken while the first one lives. */
	r = vm_net_setup(ports, fds2, &tap2, &err);
	CHECK(r == -EBUSY && strstr(err.msg, "creating the tap device: "
					     "TUNSETIFF " VM_TAP_NAME),
	      "second setup: %d %s", r, err.msg);
	CHECK(tap2 == -1 && fds2[0] == -1 && fds2[1] == -1 && fds2[2] == -1,
	      "fds left after a failure");
	/* Without it, the first listeners hold the ports. */
	close(tap);
	CHECK(if_nametoindex(VM_TAP_NAME) == 0, VM_TAP_NAME " outlived its fd");
	err_clear(&err);
	r = vm_net_setup(ports, fds2, &tap2, &err);
	CHECK(r == -EADDRINUSE &&
		  strstr(err.msg, "listening on " VM_GATEWAY ":8888"),
	      "third setup: %d %s", r, err.msg);
	CHECK(tap2 == -1 && fds2[0] == -1 && fds2[1] == -1 && fds2[2] == -1,
	      "fds left after a failure");
	CHECK(if_nametoindex(VM_TAP_NAME) == 0,
	      VM_TAP_NAME " left after a failure");
	return 0;
}

static void test_errors(void **state)
{
	(void)state;
	in_net_ns(check_errors);
}

/* Run QEMU (stopped, -S) with the tap as -netdev tap,fd=3 and its monitor
 * on stdin: "info network", "quit".  Its output, or NULL. */
static char *qemu_with_tap(int tap, int *status)
{
	static const char in[] = "info network\nquit\n";
	static const char *const argv[] = {
	    "qemu-system-x86_64",
	    "-M",
	    "microvm,x-option-roms=off",
	    "-nodefaults",
	    "-no-user-config",
	    "-display",
	    "none",
	    "-S",
	    "-netdev",
	    "tap,id=n0,fd=3",
	    "-device",
	    "virtio-net-device,netdev=n0",
	    "-monitor",
	    "stdio",
	    NULL,
	};
	int inp[2], outp[2];
	char *out = xcalloc(1, 65536);
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		if (dup2(inp[0], 0) < 0 || dup2(outp[1], 1) < 0 ||
		    dup2(outp[1], 2) < 0 || dup2(tap, 3) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(inp[0]);
	close(outp[1]);
	if (write_all(inp[1], in, sizeof(in) - 1) < 0)
		*status = -1;
	close(inp[1]);
	while (len < 65535 && (got = read(outp[0], out + len, 65535 - len)) > 0)
		len += (size_t)got;
	close(outp[0]);
	if (pid < 0 || waitpid(pid, status, 0) != pid) {
		free(out);
		return NULL;
	}
	return out;
}

static int check_qemu(char *msg, size_t n)
{
	struct error err = ERROR_INIT;
	int fds[ENDPOINT_COUNT], tap, status = 0;
	_cleanup_free_ char *out = NULL;

	CHECK(vm_net_setup(ports, fds, &tap, &err) == 0, "vm_net_setup: %s",
	      err.msg);
	out = qemu_with_tap(tap, &status);
	CHECK(out, "running qemu: %m");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(msg, n, "qemu-system-x86_64 not found");
		return CHILD_SKIP;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "qemu: status %#x: %s", status, out);
	CHECK(strstr(out, "n0: index=0,type=tap,fd=3"), "qemu: %s", out);
	return 0;
}

static void test_qemu_takes_the_tap(void **state)
{
	(void)state;
	in_net_ns(check_qemu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_qemu_takes_the_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
