/* Egress policy: allow / inspect / route rule sets and the address rule.
 * Rule sets are small (tens of entries), so they are scanned linearly. */
#include "bundle/policy.h"
#include "bundle/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rule_kind { RULE_NAME, RULE_SUFFIX, RULE_NET };

struct rule {
	enum rule_kind kind;
	char *entry; /* as the user wrote it, for audit lines */
	char *name;  /* RULE_NAME: host; RULE_SUFFIX: ".example.com" */
	size_t name_len;
	uint16_t port;	 /* 0: ports 80 and 443 */
	bool any_port;	 /* CIDR entries */
	int family;	 /* RULE_NET: AF_INET or AF_INET6 */
	unsigned prefix; /* RULE_NET: bits */
	uint8_t addr[16];
};

struct rule_set {
	struct rule *v;
	size_t n, alloc;
};

struct override {
	char *host, *addr_str;
	int family;
	uint8_t addr[16];
};

struct policy {
	struct rule_set allow, inspect, route;
	struct override *ovr;
	size_t n_ovr;
};

/* An address as family + bytes; IPv4 in the first 4 bytes. */
struct addr {
	int family;
	uint8_t b[16];
};

static bool addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->b) == 1)
		a->family = AF_INET6;
	return a->family != 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, net, whole) != 0)
		return false;
	return rest == 0 ||
	       ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static void rule_release(struct rule *r)
{
	free(r->entry);
	free(r->name);
}

/* "10.0.0.0/8", "fd00::/8". */
static int parse_cidr(const char *e, const char *slash, struct rule *r,
		      const char **why)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = (size_t)(slash - e);
	unsigned long bits;
	struct addr a;
	char *end;

	*why = "malformed CIDR";
	if (n == 0 || n >= sizeof(buf) || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	memcpy(buf, e, n);
	buf[n] = '\0';
	bits = strtoul(slash + 1, &end, 10);
	if (*end || !addr_parse(buf, &a) ||
	    bits > (a.family == AF_INET ? 32u : 128u))
		return -EINVAL;
	r->kind = RULE_NET;
	r->family = a.family;
	r->prefix = (unsigned)bits;
	r->any_port = true;
	memcpy(r->addr, a.b, sizeof(r->addr));
	return 0;
}

/* Parse entry into r (r->entry already set). */
static int rule_parse(const char *e, struct rule *r, const char **why)
{
	const char *slash = strchr(e, '/');
	bool suffix = e[0] == '*' && e[1] == '.';
	char host[256];
	struct addr a;
	bool is_ip;

	if (slash)
		return parse_cidr(e, slash, r, why);
	if (addr_parse(e, &a)) { /* bare IPv6 "::1" has no authority form */
		is_ip = true;
		strcpy(host, e);
	} else if (http_authority_parse(e + (suffix ? 2 : 0),
					strlen(e) - (suffix ? 2 : 0), false,
					host, &r->port, &is_ip, why) < 0) {
		return -EINVAL;
	}
	if (is_ip) {
		if (suffix || !addr_parse(host, &a)) {
			*why = "a wildcard needs a host name";
			return -EINVAL;
		}
		r->kind = RULE_NET;
		r->family = a.family;
		r->prefix = a.family == AF_INET ? 32 : 128;
		memcpy(r->addr, a.b, sizeof(r->addr));
		return 0;
	}
	r->kind = suffix ? RULE_SUFFIX : RULE_NAME;
	if (asprintf(&r->name, "%s%s", suffix ? "." : "", host) < 0) {
		r->name = NULL;
		*why = "out of memory";
		return -ENOMEM;
	}
	r->name_len = strlen(r->name);
	return 0;
}

static int set_add(struct rule_set *s, const char *entry, const char *what,
		   struct error *err)
{
	struct rule r = {0};
	const char *why = NULL;
	int ret;

	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 8;
		struct rule *v = reallocarray(s->v, na, sizeof(*v));
		if (!v)
			return err_set(err, ENOMEM, "out of memory");
		s->v = v;
		s->alloc = na;
	}
	r.entry = strdup(entry);
	if (!r.entry)
		return err_set(err, ENOMEM, "out of memory");
	ret = rule_parse(entry, &r, &why);
	if (ret < 0) {
		rule_release(&r);
		return err_set(err, -ret, "%s entry \"%s\": %s", what, entry,
			       why);
	}
	s->v[s->n++] = r;
	return 0;
}

static int set_fill(struct rule_set *s, const char *const *v, size_t n,
		    const char *what, struct error *err)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = set_add(s, v[i], what, err)) < 0)
			return r;
	return 0;
}

static int override_add(struct policy *p, const char *host, const char *addr,
			struct error *err)
{
	struct override *o = &p->ovr[p->n_ovr];
	char name[256];
	const char *why;
	uint16_t port;
	struct addr a;
	bool is_ip;

	if (http_authority_parse(host, strlen(host), false, name, &port, &is_ip,
				 &why) < 0 ||
	    port || is_ip)
		return err_set(err, EINVAL, "resolve entry \"%s\": %s", host,
			       port || is_ip ? "not a host name" : why);
	if (!addr_parse(addr, &a))
		return err_set(err, EINVAL,
			       "resolve entry \"%s\": \"%s\" is not an IP "
			       "address",
			       host, addr);
	o->host = strdup(name);
	o->addr_str = strdup(addr);
	p->n_ovr++;
	if (!o->host || !o->addr_str)
		return err_set(err, ENOMEM, "out of memory");
	o->family = a.family;
	memcpy(o->addr, a.b, sizeof(o->addr));
	return 0;
}

int policy_new(const struct policy_config *c, struct policy **out,
	       struct error *err)
{
	struct policy *p = calloc(1, sizeof(*p));
	size_t i;
	int r;

	if (!p)
		return err_set(err, ENOMEM, "out of memory");
	r = set_fill(&p->allow, c->allow, c->n_allow, "allow", err);
	if (r == 0)
		r = set_fill(&p->inspect, c->inspect, c->n_inspect, "inspect",
			     err);
	if (r == 0)
		r = set_fill(&p->route, c->route_hosts, c->n_route_hosts,
			     "route host", err);
	if (r == 0 && c->n_resolve) {
		p->ovr = calloc(c->n_resolve, sizeof(*p->ovr));
		if (!p->ovr)
			r = err_set(err, ENOMEM, "out of memory");
	}
	for (i = 0; r == 0 && i < c->n_resolve; i++)
		r = override_add(p, c->resolve_host[i], c->resolve_addr[i],
				 err);
	if (r < 0) {
		policy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

static void set_release(struct rule_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		rule_release(&s->v[i]);
	free(s->v);
}

void policy_free(struct policy *p)
{
	size_t i;

	if (!p)
		return;
	set_release(&p->allow);
	set_release(&p->inspect);
	set_release(&p->route);
	for (i = 0; i < p->n_ovr; i++) {
		free(p->ovr[i].host);
		free(p->ovr[i].addr_str);
	}
	free(p->ovr);
	free(p);
}

int policy_allow_add(struct policy *p, const char *entry, struct error *err)
{
	return set_add(&p->allow, entry, "allow", err);
}

static bool rule_host_match(const struct rule *r, const char *host, size_t hlen,
			    const struct addr *ip)
{
	switch (r->kind) {
	case RULE_NAME:
		return !ip && hlen == r->name_len &&
		       memcmp(host, r->name, hlen) == 0;
	case RULE_SUFFIX:
		return !ip && hlen > r->name_len &&
		       memcmp(host + hlen - r->name_len, r->name,
			      r->name_len) == 0;
	default:
		return ip && ip->family == r->family &&
		       prefix_match(ip->b, r->addr, r->prefix);
	}
}

static bool rule_port_match(const struct rule *r, uint16_t port)
{
	if (r->any_port)
		return true;
	return r->port ? port == r->port : (port == 80 || port == 443);
}

/* The first rule of s matching host and port; *port_denied when some rule
 * matched the host but none the port. */
static const struct rule *set_match(const struct rule_set *s, const char *host,
				    const struct addr *ip, uint16_t port,
				    bool *port_denied)
{
	size_t i, hlen = strlen(host);

	for (i = 0; i < s->n; i++) {
		if (!rule_host_match(&s->v[i], host, hlen, ip))
			continue;
		if (rule_port_match(&s->v[i], port))
			return &s->v[i];
		*port_denied = true;
	}
	return NULL;
}

/* Whether any rule of s names host, on whatever port: inspect and route
 * rules decide interception by host; the allow rules decide the ports. */
static bool set_has_host(const struct rule_set *s, const char *host,
			 const struct addr *ip)
{
	size_t hlen = strlen(host);

	for (size_t i = 0; i < s->n; i++)
		if (rule_host_match(&s->v[i], host, hlen, ip))
			return true;
	return false;
}

enum policy_verdict policy_check_host(const struct policy *p, const char *host,
				      uint16_t port, bool is_ip,
				      const char **rule, const char **reason)
{
	static _Thread_local char why[320];
	const struct rule *allow, *route;
	bool port_denied = false;
	struct addr a, *ip = NULL;

	*rule = NULL;
	*reason = NULL;
	if (is_ip) {
		if (!addr_parse(host, &a)) {
			*reason = "malformed IP literal";
			return POLICY_DENY;
		}
		ip = &a;
	}
	allow = set_match(&p->allow, host, ip, port, &port_denied);
	route = set_match(&p->route, host, ip, port, &port_denied);
	if (!allow && !route) {
		if (port_denied) {
			snprintf(why, sizeof(why), "port %u not allowed for %s",
				 (unsigned)port, host);
			*reason = why;
		} else {
			*reason = is_ip ? "IP literals are not allowed"
					: "host not in allowlist";
		}
		return POLICY_DENY;
	}
	*rule = allow ? allow->entry : route->entry;
	if (set_has_host(&p->route, host, ip) ||
	    set_has_host(&p->inspect, host, ip))
		return POLICY_INTERCEPT;
	return POLICY_TUNNEL;
}

const char *policy_resolve_override(const struct policy *p, const char *host)
{
	size_t i;

	for (i = 0; i < p->n_ovr; i++)
		if (strcmp(p->ovr[i].host, host) == 0)
			return p->ovr[i].addr_str;
	return NULL;
}

/* Ranges no allowlisted name may resolve to (RFC 6890 and friends), most
 * specific first: the first match names the class in the deny reason. */
struct range {
	uint8_t net[16];
	unsigned bits;
	const char *what;
};

static const struct range v4_denied[] = {
    {{169, 254, 169, 254}, 32, "metadata"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{0}, 8, "unspecified"},
    {{10}, 8, "private"},
    {{100, 64}, 10, "shared (CGNAT)"},
    {{127}, 8, "loopback"},
    {{169, 254}, 16, "link-local"},
    {{172, 16}, 12, "private"},
    {{192, 0, 0}, 24, "IETF protocol"},
    {{192, 0, 2}, 24, "documentation"},
    {{192, 168}, 16, "private"},
    {{198, 18}, 15, "benchmarking"},
    {{198, 51, 100}, 24, "documentation"},
    {{203, 0, 113}, 24, "documentation"},
    {{224}, 4, "multicast"},
    {{240}, 4, "reserved"},
};

static const struct range v6_denied[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02}, 128, "metadata"},
    {{0}, 128, "unspecified"},
    {{[15] = 1}, 128, "loopback"},
    {{0}, 96, "IPv4-compatible"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "local NAT64"},
    {{0xfc}, 7, "private (ULA)"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff}, 8, "multicast"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
};

/* IPv6 prefixes that carry an IPv4 address in their last 32 bits and
 * reach it: IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96). */
static bool embedded_v4(const struct addr *a, struct addr *v4)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};

	if (a->family != AF_INET6 ||
	    (memcmp(a->b, mapped, 12) != 0 && memcmp(a->b, nat64, 12) != 0))
		return false;
	memset(v4, 0, sizeof(*v4));
	v4->family = AF_INET;
	memcpy(v4->b, a->b + 12, 4);
	return true;
}

static const char *denied_class(const struct addr *a)
{
	const struct range *t = a->family == AF_INET ? v4_denied : v6_denied;
	size_t i, n = a->family == AF_INET ? sizeof(v4_denied) / sizeof(*t)
					   : sizeof(v6_denied) / sizeof(*t);

	for (i = 0; i < n; i++)
		if (prefix_match(a->b, t[i].net, t[i].bits))
			return t[i].what;
	return NULL;
}

/* Did the user name this address: an IP/CIDR allow entry, or host's
 * resolve override? */
static bool addr_named(const struct policy *p, const char *host,
		       const struct addr *a)
{
	size_t i;

	for (i = 0; i < p->allow.n; i++)
		if (rule_host_match(&p->allow.v[i], "", 0, a))
			return true;
	for (i = 0; i < p->n_ovr; i++)
		if (p->ovr[i].family == a->family &&
		    memcmp(p->ovr[i].addr, a->b, sizeof(a->b)) == 0 &&
		    strcmp(p->ovr[i].host, host) == 0)
			return true;
	return false;
}

static bool sockaddr_addr(const struct sockaddr *sa, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		memcpy(a->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(a->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		return false;
	return true;
}

bool policy_check_addr(const struct policy *p, const char *host,
		       const struct sockaddr *sa, char *reason, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	struct addr a, v4;
	const char *what;
	bool has_v4;

	if (!sockaddr_addr(sa, &a)) {
		snprintf(reason, len, "unsupported address family %d",
			 sa->sa_family);
		return false;
	}
	has_v4 = embedded_v4(&a, &v4);
	if (addr_named(p, host, &a) || (has_v4 && addr_named(p, host, &v4)))
		return true;
	what = denied_class(has_v4 ? &v4 : &a);
	if (!what)
		return true;
	inet_ntop(a.family, a.b, text, sizeof(text));
	snprintf(reason, len, "resolves to a %s address %s", what, text);
	return false;
}
