/* Egress policy: which hosts and ports the agent may reach, which of them
 * are intercepted, and which resolved addresses a connection may go to.
 *
 * Host-level rules match names (exact or "*.suffix") and IP literals;
 * address-level rules deny loopback, private, link-local, metadata and
 * other special ranges after DNS, unless the user named the address (an IP
 * or CIDR allow entry, or a resolve override).  DESIGN.md, "The proxy
 * pipeline", step 2. */
#ifndef BOTTLE_BUNDLE_POLICY_H
#define BOTTLE_BUNDLE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

struct policy;

/* Entries are "host", "*.suffix", "host:port", "*.suffix:port", an IPv4
 * or IPv6 literal ("10.1.2.3", "::1", "[::1]:8080"), or a CIDR
 * ("10.0.0.0/8", "fd00::/8").  An entry without a port allows ports 80 and
 * 443; a CIDR allows every port (it names a network the user trusts).
 * "*.example.com" matches a.example.com and a.b.example.com, not
 * example.com. */
struct policy_config {
	const char *const *allow;
	size_t n_allow;
	const char *const *inspect; /* intercepted if allowed */
	size_t n_inspect;
	/* Hosts with credential routes: intercepted, and implicitly allowed. */
	const char *const *route_hosts;
	size_t n_route_hosts;
	/* Resolve overrides: host name -> IP literal.  The pinned address is
	 * allowed for that host even in a denied range. */
	const char *const *resolve_host;
	const char *const *resolve_addr;
	size_t n_resolve;
};

/* Build a policy from c (copied; c may be freed afterwards).  0, -EINVAL
 * naming the bad entry, or -ENOMEM.  *out is the caller's, for
 * policy_free(). */
int policy_new(const struct policy_config *c, struct policy **out,
	       struct error *err);
void policy_free(struct policy *p);

/* Add one allow entry (syntax as above) at run time.  0, -EINVAL naming
 * the entry, or -ENOMEM; the policy is unchanged on error.  Strings that
 * earlier checks returned stay valid. */
int policy_allow_add(struct policy *p, const char *entry, struct error *err);

enum policy_verdict { POLICY_DENY = 0, POLICY_TUNNEL, POLICY_INTERCEPT };

/* Decide for host:port, host lowercased without brackets and is_ip as
 * http_authority_parse() gives them.  On allow, *rule is the entry that
 * matched (owned by p, valid until policy_free()).  On deny, *reason says
 * why, e.g. "host not in allowlist", "port 22 not allowed for
 * example.com", "IP literals are not allowed"; it is static or in a
 * thread-local buffer valid until this thread's next call. */
enum policy_verdict policy_check_host(const struct policy *p, const char *host,
				      uint16_t port, bool is_ip,
				      const char **rule, const char **reason);

/* The resolve override for host (owned by p), or NULL. */
const char *policy_resolve_override(const struct policy *p, const char *host);

/* May a connection for host go to the resolved address sa (AF_INET or
 * AF_INET6)?  false with reason written into buf[0..len) (e.g. "resolves
 * to a loopback address 127.0.0.1") for addresses in a denied range that
 * the user did not name; IPv4-mapped and NAT64 IPv6 addresses are judged
 * by the IPv4 address they embed. */
bool policy_check_addr(const struct policy *p, const char *host,
		       const struct sockaddr *sa, char *reason, size_t len);

#endif
