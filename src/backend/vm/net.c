/* The keeper's network: lo, a tap device and the bundle's listeners.
 * Plain ioctls: three address and flag calls are all it takes, and they
 * read as the `ip` commands they replace. */
#include "backend/vm/net.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

static void sin_set(struct sockaddr *sa, in_addr_t addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = addr};

	memcpy(sa, &sin, sizeof(sin));
}

static int link_up(int s, const char *name, struct error *err)
{
	struct ifreq ifr = {0};

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "bringing %s up: SIOCGIFFLAGS",
			       name);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return err_sys(err, errno, "bringing %s up", name);
	return 0;
}

static int tap_create(int *tap_fd, struct error *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	_cleanup_close_ int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, errno,
			       "creating the tap device: " TUN_PATH);
	strcpy(ifr.ifr_name, VM_TAP_NAME);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return err_sys(
		    err, errno,
		    "creating the tap device: TUNSETIFF " VM_TAP_NAME);
	*tap_fd = steal_fd(&fd);
	return 0;
}

/* ip addr add VM_GATEWAY/VM_NET_PREFIX dev VM_TAP_NAME */
static int tap_address(int s, struct error *err)
{
	struct ifreq ifr = {0};

	strcpy(ifr.ifr_name, VM_TAP_NAME);
	sin_set(&ifr.ifr_addr, inet_addr(VM_GATEWAY));
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return err_sys(err, errno,
			       "giving " VM_TAP_NAME
			       " the address " VM_GATEWAY);
	sin_set(&ifr.ifr_netmask, htonl(~0u << (32 - VM_NET_PREFIX)));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return err_sys(err, errno,
			       "giving " VM_TAP_NAME " the netmask");
	return 0;
}

static int listen_on(uint16_t port, int *fd, struct error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = inet_addr(VM_GATEWAY)};
	_cleanup_close_ int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (s < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 1024) < 0)
		return err_sys(err, errno, "listening on %s:%u", VM_GATEWAY,
			       port);
	*fd = steal_fd(&s);
	return 0;
}

int vm_net_setup(const uint16_t ports[ENDPOINT_COUNT], int fds[ENDPOINT_COUNT],
		 int *tap_fd, struct error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	*tap_fd = -1;
	for (int e = 0; e < ENDPOINT_COUNT; e++)
		fds[e] = -1;
	if (s < 0)
		return err_sys(err, errno, "socket");
	/* The address must be up before a socket can bind it. */
	if ((r = link_up(s, "lo", err)) < 0 ||
	    (r = tap_create(tap_fd, err)) < 0 ||
	    (r = tap_address(s, err)) < 0 ||
	    (r = link_up(s, VM_TAP_NAME, err)) < 0)
		goto fail;
	for (int e = 0; e < ENDPOINT_COUNT; e++)
		if (ports[e] && (r = listen_on(ports[e], &fds[e], err)) < 0)
			goto fail;
	return 0;
fail:
	for (int e = 0; e < ENDPOINT_COUNT; e++)
		if (fds[e] >= 0)
			close(steal_fd(&fds[e]));
	if (*tap_fd >= 0)
		close(steal_fd(tap_fd));
	return r;
}
