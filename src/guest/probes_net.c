/* Network probes: net-ifaces, net-egress.
 *
 * The invariant (DESIGN.md): inside a bottle the only reachable endpoints
 * are the ones the bundle put there.  For the ns backend that means a
 * network namespace with nothing but lo.  These probes never send a byte:
 * they create sockets and connect them, and connect to a non-loopback
 * address only when the namespace has no interface but lo and no route,
 * so the kernel can only answer ENETUNREACH locally. */
#include "guest/probes.h"
#include "lib/plan.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define RTF_REJECT_FLAG 0x0200 /* <linux/route.h> RTF_REJECT */

#define NET_TEXT_MAX 65536

/* What the routing view of this namespace looks like. */
struct net_view {
	unsigned non_lo_ifaces;
	unsigned v4_routes;
	unsigned v6_routes; /* usable (not reject) routes on an iface != lo */
	unsigned v6_defaults;
	bool readable;
};

/* /proc/net/route prints each address as the hex of its __be32 read as a
 * host integer, so parsing it back yields s_addr directly. */
static void v4_text(const char *hex, char *out, size_t n)
{
	struct in_addr a = {.s_addr = (uint32_t)strtoul(hex, NULL, 16)};

	if (!inet_ntop(AF_INET, &a, out, (socklen_t)n))
		snprintf(out, n, "%s", hex);
}

/* /proc/net/ipv6_route prints the 16 address bytes in order, in hex. */
static void v6_text(const char *hex, char *out, size_t n)
{
	struct in6_addr a;

	for (int i = 0; i < 16; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &a.s6_addr[i]) != 1) {
			snprintf(out, n, "%s", hex);
			return;
		}
	if (!inet_ntop(AF_INET6, &a, out, (socklen_t)n))
		snprintf(out, n, "%s", hex);
}

/* Skip the first `skip` lines of text; "" if there are no more.  (A
 * namespace without a main routing table prints not even the header.) */
static char *skip_lines(char *text, int skip)
{
	while (skip-- > 0) {
		char *nl = strchr(text, '\n');
		if (!nl)
			return text + strlen(text);
		text = nl + 1;
	}
	return text;
}

/* /proc/net/dev: two header lines, then "  name: counters...". */
/* In a vm, eth0 must be the guest's end of its link: VM_GUEST_ADDR. */
static bool vm_link_ok(struct probe_report *r)
{
	struct ifreq ifr = {0};
	char addr[INET_ADDRSTRLEN] = "?";
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	strcpy(ifr.ifr_name, "eth0");
	ok = fd >= 0 && ioctl(fd, SIOCGIFADDR, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	if (ok)
		inet_ntop(AF_INET,
			  &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr,
			  addr, sizeof(addr));
	ok = ok && !strcmp(addr, VM_GUEST_ADDR);
	if (r && !ok)
		report_fail(r, "eth0 has address %s, want " VM_GUEST_ADDR,
			    addr);
	return ok;
}

static int scan_ifaces(struct net_view *v, struct probe_report *r)
{
	static char text[NET_TEXT_MAX];
	char *save = NULL;

	ssize_t n = read_file("/proc/net/dev", text, sizeof(text));
	if (n < 0)
		return (int)n;
	char *body = skip_lines(text, 2);
	for (char *l = strtok_r(body, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		l += strspn(l, " ");
		size_t len = strcspn(l, ":");
		if (len == 2 && !strncmp(l, "lo", 2))
			continue;
		/* A vm guest's one link, to the bundle (vm_link_ok()). */
		if (probe_in_vm() && len == 4 && !strncmp(l, "eth0", 4) &&
		    vm_link_ok(r))
			continue;
		v->non_lo_ifaces++;
		if (r)
			report_fail(r, "interface %.*s", (int)len, l);
	}
	return 0;
}

/* /proc/net/route lists the main table: one header line, then routes. */
static int scan_v4_routes(struct net_view *v, struct probe_report *r)
{
	static char text[NET_TEXT_MAX];
	char *save = NULL, iface[32], dest[16], addr[INET_ADDRSTRLEN];

	ssize_t n = read_file("/proc/net/route", text, sizeof(text));
	if (n < 0)
		return (int)n;
	char *body = skip_lines(text, 1);
	for (char *l = strtok_r(body, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (sscanf(l, "%31s %15s", iface, dest) != 2)
			continue;
		v4_text(dest, addr, sizeof(addr));
		/* A vm guest's link route, and nothing else. */
		if (probe_in_vm() && !strcmp(iface, "eth0") &&
		    !strcmp(addr, VM_LINK_NET))
			continue;
		v->v4_routes++;
		if (r)
			report_fail(r, "IPv4 route %s%s via %s", addr,
				    strcmp(dest, "00000000") ? ""
							     : " (default)",
				    iface);
	}
	return 0;
}

/* /proc/net/ipv6_route: dest plen src plen nexthop metric refcnt use
 * flags iface.  A fresh namespace shows lo's own routes and a reject
 * route for "everything else"; neither lets a packet out. */
static int scan_v6_routes(struct net_view *v, struct probe_report *r)
{
	static char text[NET_TEXT_MAX];
	char *save = NULL, dest[40], plen[4], iface[32];
	char addr[INET6_ADDRSTRLEN];
	unsigned flags;

	ssize_t n = read_file("/proc/net/ipv6_route", text, sizeof(text));
	if (n == -ENOENT)
		return 0; /* IPv6 disabled: nothing to route */
	if (n < 0)
		return (int)n;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (sscanf(l, "%39s %3s %*s %*s %*s %*s %*s %*s %x %31s", dest,
			   plen, &flags, iface) != 4 ||
		    (flags & RTF_REJECT_FLAG))
			continue;
		bool deflt = !strcmp(plen, "00");
		v->v6_defaults += deflt;
		if (!deflt && !strcmp(iface, "lo"))
			continue;
		v->v6_routes++;
		v6_text(dest, addr, sizeof(addr));
		if (r)
			report_fail(r, "IPv6 %sroute %s/%ld via %s",
				    deflt ? "default " : "", addr,
				    strtol(plen, NULL, 16), iface);
	}
	return 0;
}

/* Fill v; with r, also record every interface and route as a failure.
 * Returns 0 or the first -errno. */
static int net_view_scan(struct net_view *v, struct probe_report *r)
{
	int e;

	memset(v, 0, sizeof(*v));
	if ((e = scan_ifaces(v, r)) < 0 || (e = scan_v4_routes(v, r)) < 0 ||
	    (e = scan_v6_routes(v, r)) < 0)
		return e;
	v->readable = true;
	return 0;
}

/* ---- net-ifaces -------------------------------------------------------- */

struct socket_try {
	const char *what;
	int domain, type, protocol;
};

static long try_socket(void *arg)
{
	const struct socket_try *t = arg;

	return socket(t->domain, t->type | SOCK_CLOEXEC, t->protocol);
}

void probe_net_ifaces(const struct probe_opts *opts, struct probe_report *r)
{
	const struct socket_try tries[] = {
	    {"AF_NETLINK", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},
	    {"AF_PACKET", AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)},
	    {"raw AF_INET", AF_INET, SOCK_RAW, IPPROTO_ICMP},
	    {"raw AF_INET6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6},
	    {"AF_VSOCK", AF_VSOCK, SOCK_STREAM, 0},
	};
	struct net_view v;
	(void)opts;

	int e = net_view_scan(&v, r);
	if (e < 0)
		report_fail(r, "cannot read /proc/net: %s", errno_name(-e));
	else if (!r->nfail)
		report_note(r, probe_in_vm() ? "only lo and the link to the "
					       "bundle (eth0 " VM_GUEST_ADDR
					       "), no other route"
					     : "only lo, no routes");
	/* Any failure will do: a family the kernel lacks is as closed as
	 * one the filter refuses. */
	for (size_t i = 0; i < ARRAY_SIZE(tries); i++)
		expect_denied(r, tries[i].what, try_socket, (void *)&tries[i],
			      false);
}

/* ---- net-egress -------------------------------------------------------- */

/* Nonblocking connect with a timeout.  Returns 0 if connected, else
 * -errno (-ETIMEDOUT when nothing answered).  The socket is closed
 * without sending anything. */
static int connect_timeout(int domain, int type, const struct sockaddr *sa,
			   socklen_t len, int timeout_ms)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len) == 0) {
		close(fd);
		return 0;
	}
	err = errno;
	if (err == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n = poll(&p, 1, timeout_ms);
		if (n == 0)
			err = ETIMEDOUT;
		else if (n < 0 ||
			 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
	}
	close(fd);
	return -err;
}

static void check_host_port(int port, struct probe_report *r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	if (!port) {
		report_note(r, "host port: not given");
		return;
	}
	int e = connect_timeout(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa,
				sizeof(sa), 1000);
	if (e == 0)
		report_fail(r, "127.0.0.1:%d accepted: host loopback reachable",
			    port);
	else
		report_note(r, "127.0.0.1:%d %s", port, errno_name(-e));
}

/* An address that cannot be reached must fail at connect() itself, with
 * ENETUNREACH: the kernel has no route, so no packet is ever built. */
static void expect_unreachable(const char *what, int domain, int type,
			       const struct sockaddr *sa, socklen_t len,
			       struct probe_report *r)
{
	int e = connect_timeout(domain, type, sa, len, 1000);

	/* EADDRNOTAVAIL: no source address to send from (lo down), which
	 * fails just as locally. */
	if (e == -ENETUNREACH || e == -EADDRNOTAVAIL || e == -EAFNOSUPPORT)
		report_note(r, "%s %s", what, errno_name(-e));
	else if (e == 0)
		report_fail(r, "%s connected", what);
	else
		report_fail(r, "%s: %s, want ENETUNREACH", what,
			    errno_name(-e));
}

static void check_public(struct probe_report *r)
{
	struct sockaddr_in sa4 = {.sin_family = AF_INET,
				  .sin_port = htons(443)};
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6,
				   .sin6_port = htons(443)};
	struct net_view v;

	/* Only try where no packet can possibly leave. */
	if (net_view_scan(&v, NULL) < 0) {
		report_fail(r, "cannot read /proc/net; 192.0.2.1 not tried");
		return;
	}
	if (v.v4_routes || v.v6_routes || v.v6_defaults) {
		report_fail(r, "routes exist (see net-ifaces): egress "
			       "possible; 192.0.2.1 not tried");
		return;
	}
	if (v.non_lo_ifaces) {
		report_note(r, "interfaces besides lo; 192.0.2.1 not tried");
		return;
	}
	inet_pton(AF_INET, "192.0.2.1", &sa4.sin_addr); /* TEST-NET-1 */
	inet_pton(AF_INET6, "2001:db8::1", &sa6.sin6_addr);
	expect_unreachable("udp 192.0.2.1", AF_INET, SOCK_DGRAM,
			   (struct sockaddr *)&sa4, sizeof(sa4), r);
	expect_unreachable("tcp 192.0.2.1", AF_INET, SOCK_STREAM,
			   (struct sockaddr *)&sa4, sizeof(sa4), r);
	expect_unreachable("udp [2001:db8::1]", AF_INET6, SOCK_DGRAM,
			   (struct sockaddr *)&sa6, sizeof(sa6), r);
}

/* glibc falls back to 127.0.0.1 without a nameserver line, which inside a
 * bottle is the bottle's own loopback: nothing there. */
static void check_resolv_conf(struct probe_report *r)
{
	static char text[NET_TEXT_MAX];
	char *save = NULL;
	unsigned n = 0;

	ssize_t len = read_file("/etc/resolv.conf", text, sizeof(text));
	if (len < 0) {
		report_note(r, "resolv.conf: %s", errno_name((int)-len));
		return;
	}
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		l += strspn(l, " \t");
		if (!strncmp(l, "nameserver", 10) &&
		    (l[10] == ' ' || l[10] == '\t')) {
			n++;
			report_fail(r, "resolv.conf: %s", l);
		}
	}
	if (!n)
		report_note(r, "resolv.conf: no nameserver");
}

void probe_net_egress(const struct probe_opts *opts, struct probe_report *r)
{
	check_host_port(opts->host_port, r);
	check_public(r);
	check_resolv_conf(r);
}

/* ---- vm-gateway ---------------------------------------------------------- */

/* In a vm the other end of the guest's link is the host side of its tap,
 * in a network namespace of its own: the bundle's listeners are all that
 * answers there. */
void probe_vm_gateway(const struct probe_opts *opts, struct probe_report *r)
{
	static const int closed[] = {1,	   22,	 53,	80,   111,
				     443,  2049, 3128,	5900, 8080,
				     8889, 9999, 22222, 65535};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int e;

	(void)opts;
	if (!probe_in_vm()) {
		report_skip(r, "not a vm bottle");
		return;
	}
	inet_pton(AF_INET, VM_GATEWAY, &sa.sin_addr);
	sa.sin_port = htons(PROXY_PORT);
	e = connect_timeout(AF_INET, SOCK_STREAM, (struct sockaddr *)&sa,
			    sizeof(sa), 2000);
	if (e < 0)
		report_fail(r, "the proxy at " VM_GATEWAY ":%d: %s", PROXY_PORT,
			    errno_name(-e));
	for (size_t i = 0; i < ARRAY_SIZE(closed); i++) {
		sa.sin_port = htons((uint16_t)closed[i]);
		e = connect_timeout(AF_INET, SOCK_STREAM,
				    (struct sockaddr *)&sa, sizeof(sa), 2000);
		if (e == 0)
			report_fail(r, VM_GATEWAY ":%d accepted", closed[i]);
		else if (e != -ECONNREFUSED)
			report_fail(r, VM_GATEWAY ":%d: %s, want ECONNREFUSED",
				    closed[i], errno_name(-e));
	}
	if (!r->nfail)
		report_note(r,
			    "only the bundle answers on " VM_GATEWAY
			    " (%zu other ports refused)",
			    ARRAY_SIZE(closed));
}
