/* A vm bottle's one network link (DESIGN.md, "The one network invariant";
 * docs/vm-backend.md): in the keeper's own network namespace, a tap device
 * whose other end is the guest's eth0, the gateway address on it, and the
 * bundle's listening sockets on the gateway.  Nothing routes anywhere
 * else: the namespace has lo and the tap, and no default route. */
#ifndef BOTTLE_VM_NET_H
#define BOTTLE_VM_NET_H

#include "lib/err.h"
#include "lib/plan.h"

#include <stdint.h>

#define VM_TAP_NAME "tap0"

/* In the caller's network namespace, fresh (holding only lo) and its own
 * to configure (CAP_NET_ADMIN over it): bring lo up; create VM_TAP_NAME
 * (IFF_TAP|IFF_NO_PI, not persistent: it lives as long as its fd); give it
 * VM_GATEWAY/VM_NET_PREFIX and bring it up; listen on VM_GATEWAY:ports[e]
 * for each endpoint whose port is not 0 (SOCK_CLOEXEC, SO_REUSEADDR,
 * backlog 1024).
 *
 * On success fds[e] is endpoint e's listener or -1 (off), and *tap_fd the
 * tap's fd; all O_CLOEXEC, all the caller's to close.  The tap fd goes to
 * QEMU as `-netdev tap,fd=N` (without IFF_VNET_HDR, so QEMU runs it
 * without offloads).  Returns 0, or -errno with err naming the step
 * ("creating the tap device: /dev/net/tun: ..."); nothing stays open then
 * (fds[] and *tap_fd are -1), though lo stays up. */
int vm_net_setup(const uint16_t ports[ENDPOINT_COUNT], int fds[ENDPOINT_COUNT],
		 int *tap_fd, struct error *err)
    __attribute__((warn_unused_result));

#endif
