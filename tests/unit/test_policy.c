#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct policy *make(const char *const *allow, size_t n_allow,
			   const char *const *inspect, size_t n_inspect,
			   const char *const *routes, size_t n_routes)
{
	static const char *const rh[] = {"pinned.example", "Other.Example"};
	static const char *const ra[] = {"10.1.2.3", "fd00::5"};
	struct policy_config c = {
	    .allow = allow,
	    .n_allow = n_allow,
	    .inspect = inspect,
	    .n_inspect = n_inspect,
	    .route_hosts = routes,
	    .n_route_hosts = n_routes,
	    .resolve_host = rh,
	    .resolve_addr = ra,
	    .n_resolve = 2,
	};
	struct error err = ERROR_INIT;
	struct policy *p = NULL;

	if (policy_new(&c, &p, &err) < 0)
		fail_msg("policy_new: %s", err.msg);
	return p;
}

static const char *const allow[] = {
    "*.example.com", "api.test",  "db.test:5432",	"*.wild.test:8080",
    "10.0.0.0/8",    "192.0.2.7", "[2001:db8::1]:8443", "fd12::/16",
};
static const char *const inspect[] = {"api.test", "*.deep.example.com"};
static const char *const routes[] = {"llm.provider", "*.git.host:443"};

static struct policy *std_policy(void)
{
	return make(allow, sizeof(allow) / sizeof(*allow), inspect,
		    sizeof(inspect) / sizeof(*inspect), routes,
		    sizeof(routes) / sizeof(*routes));
}

static enum policy_verdict check(const struct policy *p, const char *host,
				 uint16_t port, bool is_ip, const char **rule,
				 const char **reason)
{
	enum policy_verdict v =
	    policy_check_host(p, host, port, is_ip, rule, reason);

	if (v == POLICY_DENY)
		assert_non_null(*reason);
	else
		assert_non_null(*rule);
	return v;
}

static void host_globs(void **state)
{
	struct policy *p = std_policy();
	const char *rule, *reason;

	(void)state;
	assert_int_equal(check(p, "a.example.com", 443, false, &rule, &reason),
			 POLICY_TUNNEL);
	assert_string_equal(rule, "*.example.com");
	assert_int_equal(check(p, "a.b.example.com", 80, false, &rule, &reason),
			 POLICY_TUNNEL);
	assert_int_equal(check(p, "example.com", 443, false, &rule, &reason),
			 POLICY_DENY);
	assert_string_equal(reason, "host not in allowlist");
	assert_int_equal(check(p, "badexample.com", 443, false, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(
	    check(p, "example.com.evil", 443, false, &rule, &reason),
	    POLICY_DENY);
	assert_int_equal(check(p, "x.api.test", 443, false, &rule, &reason),
			 POLICY_DENY);
	/* inspect */
	assert_int_equal(check(p, "api.test", 443, false, &rule, &reason),
			 POLICY_INTERCEPT);
	assert_string_equal(rule, "api.test");
	assert_int_equal(
	    check(p, "x.deep.example.com", 443, false, &rule, &reason),
	    POLICY_INTERCEPT);
	assert_int_equal(
	    check(p, "deep.example.com", 443, false, &rule, &reason),
	    POLICY_TUNNEL);
	/* Routes are allowed and intercepted. */
	assert_int_equal(check(p, "llm.provider", 443, false, &rule, &reason),
			 POLICY_INTERCEPT);
	assert_string_equal(rule, "llm.provider");
	assert_int_equal(check(p, "a.git.host", 443, false, &rule, &reason),
			 POLICY_INTERCEPT);
	assert_int_equal(check(p, "a.git.host", 80, false, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(check(p, "git.host", 443, false, &rule, &reason),
			 POLICY_DENY);
	policy_free(p);
}

static void host_ports(void **state)
{
	struct policy *p = std_policy();
	const char *rule, *reason;

	(void)state;
	assert_int_equal(check(p, "a.example.com", 22, false, &rule, &reason),
			 POLICY_DENY);
	assert_string_equal(reason, "port 22 not allowed for a.example.com");
	assert_int_equal(check(p, "db.test", 5432, false, &rule, &reason),
			 POLICY_TUNNEL);
	assert_string_equal(rule, "db.test:5432");
	assert_int_equal(check(p, "db.test", 443, false, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(check(p, "x.wild.test", 8080, false, &rule, &reason),
			 POLICY_TUNNEL);
	assert_int_equal(check(p, "x.wild.test", 80, false, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(check(p, "api.test", 8443, false, &rule, &reason),
			 POLICY_DENY);
	policy_free(p);
}

static void host_ip_literals(void **state)
{
	struct policy *p = std_policy();
	const char *rule, *reason;

	(void)state;
	assert_int_equal(check(p, "93.184.216.34", 443, true, &rule, &reason),
			 POLICY_DENY);
	assert_string_equal(reason, "IP literals are not allowed");
	assert_int_equal(check(p, "10.9.8.7", 22, true, &rule, &reason),
			 POLICY_TUNNEL);
	assert_string_equal(rule, "10.0.0.0/8");
	assert_int_equal(check(p, "11.0.0.1", 443, true, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(check(p, "192.0.2.7", 443, true, &rule, &reason),
			 POLICY_TUNNEL);
	assert_int_equal(check(p, "192.0.2.7", 8443, true, &rule, &reason),
			 POLICY_DENY);
	assert_non_null(strstr(reason, "port 8443"));
	assert_int_equal(check(p, "2001:db8::1", 8443, true, &rule, &reason),
			 POLICY_TUNNEL);
	assert_int_equal(check(p, "fd12:3::1", 1, true, &rule, &reason),
			 POLICY_TUNNEL);
	assert_int_equal(check(p, "fd13::1", 443, true, &rule, &reason),
			 POLICY_DENY);
	/* An IP-looking name never matches a name rule and vice versa. */
	assert_int_equal(check(p, "not-an-ip", 443, true, &rule, &reason),
			 POLICY_DENY);
	policy_free(p);
}

static void allow_add(void **state)
{
	struct policy *p = make(NULL, 0, NULL, 0, NULL, 0);
	struct error err = ERROR_INIT;
	const char *rule, *reason;

	(void)state;
	assert_int_equal(check(p, "new.test", 443, false, &rule, &reason),
			 POLICY_DENY);
	assert_int_equal(policy_allow_add(p, "New.Test", &err), 0);
	assert_int_equal(check(p, "new.test", 443, false, &rule, &reason),
			 POLICY_TUNNEL);
	assert_string_equal(rule, "New.Test");
	assert_int_equal(policy_allow_add(p, "bad entry", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad entry"));
	for (int i = 0; i < 40; i++)
		assert_int_equal(policy_allow_add(p, "x.test", &err), 0);
	assert_string_equal(rule, "New.Test"); /* still valid */
	policy_free(p);
}

static void bad_entries(void **state)
{
	static const char *const bads[] = {
	    "",
	    "*.",
	    "*",
	    "a..b",
	    "a.b:0",
	    "a.b:70000",
	    "*.1.2.3.4",
	    "10.0.0.0/33",
	    "::/129",
	    "10.0.0.0/",
	    "x/8",
	    "10.0.0.0/8x",
	    "127.1",
	    "0x7f.1",
	    "a b",
	    "*.*.example",
	    "ex*mple.com",
	    "1.2.3.4/-1",
	};
	struct policy_config c = {0};
	struct error err = ERROR_INIT;
	struct policy *p = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(*bads); i++) {
		c.allow = &bads[i];
		c.n_allow = 1;
		if (policy_new(&c, &p, &err) != -EINVAL)
			fail_msg("accepted \"%s\"", bads[i]);
		assert_non_null(strstr(err.msg, "allow entry"));
	}
	c.n_allow = 0;
	c.inspect = &bads[0];
	c.n_inspect = 1;
	assert_int_equal(policy_new(&c, &p, &err), -EINVAL);
	c.n_inspect = 0;
	const char *h = "a.test", *a = "not-an-ip", *ip = "1.2.3.4";
	c.resolve_host = &h;
	c.resolve_addr = &a;
	c.n_resolve = 1;
	assert_int_equal(policy_new(&c, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not-an-ip"));
	c.resolve_host = &ip;
	c.resolve_addr = &ip;
	assert_int_equal(policy_new(&c, &p, &err), -EINVAL);
}

static struct sockaddr_storage ss;

static const struct sockaddr *sa_of(const char *text)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)&ss;
}

static void denied_ranges(void **state)
{
	static const struct {
		const char *addr, *what;
	} denied[] = {
	    {"0.1.2.3", "unspecified"},
	    {"11.0.0.1", NULL},
	    {"100.64.0.1", "CGNAT"},
	    {"100.127.255.255", "CGNAT"},
	    {"100.128.0.1", NULL},
	    {"127.0.0.1", "loopback"},
	    {"127.255.0.1", "loopback"},
	    {"169.254.169.254", "metadata"},
	    {"169.254.1.1", "link-local"},
	    {"172.15.255.255", NULL},
	    {"172.16.0.1", "private"},
	    {"172.31.255.255", "private"},
	    {"172.32.0.1", NULL},
	    {"192.0.0.8", "IETF"},
	    {"192.0.2.1", "documentation"},
	    {"192.168.1.1", "private"},
	    {"198.18.0.1", "benchmarking"},
	    {"198.19.255.255", "benchmarking"},
	    {"198.20.0.1", NULL},
	    {"198.51.100.1", "documentation"},
	    {"203.0.113.9", "documentation"},
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.255", "multicast"},
	    {"240.0.0.1", "reserved"},
	    {"255.255.255.255", "broadcast"},
	    {"93.184.216.34", NULL},
	    {"::", "unspecified"},
	    {"::1", "loopback"},
	    {"::127.0.0.1", "IPv4-compatible"},
	    {"::ffff:127.0.0.1", "loopback"},
	    {"::ffff:169.254.169.254", "metadata"},
	    {"::ffff:10.1.1.1", "private"},
	    {"::ffff:93.184.216.34", NULL},
	    {"64:ff9b::7f00:1", "loopback"},
	    {"64:ff9b::8.8.8.8", NULL},
	    {"64:ff9b:1::1", "NAT64"},
	    {"fc00::1", "ULA"},
	    {"fdff::1", "ULA"},
	    {"fd00:ec2::254", "metadata"},
	    {"fe80::1", "link-local"},
	    {"febf::1", "link-local"},
	    {"fec0::1", "site-local"},
	    {"ff02::1", "multicast"},
	    {"2001:db8::2", "documentation"},
	    {"2606:4700::1111", NULL},
	};
	struct policy *p = make(NULL, 0, NULL, 0, NULL, 0);
	char reason[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(denied) / sizeof(*denied); i++) {
		bool ok = policy_check_addr(p, "h.test", sa_of(denied[i].addr),
					    reason, sizeof(reason));
		if (ok != !denied[i].what)
			fail_msg("%s: %s", denied[i].addr,
				 ok ? "allowed" : reason);
		if (!ok && (!strstr(reason, denied[i].what) ||
			    !strstr(reason, "resolves to a")))
			fail_msg("%s: reason \"%s\"", denied[i].addr, reason);
	}
	assert_true(!policy_check_addr(p, "h", sa_of("127.0.0.1"), reason,
				       sizeof(reason)));
	assert_string_equal(reason, "resolves to a loopback address 127.0.0.1");
	ss.ss_family = AF_UNIX;
	assert_false(policy_check_addr(p, "h", (struct sockaddr *)&ss, reason,
				       sizeof(reason)));
	policy_free(p);
}

static void named_addresses(void **state)
{
	struct policy *p = std_policy();
	char reason[128];

	(void)state;
	/* CIDR and IP allow entries. */
	assert_true(policy_check_addr(p, "any", sa_of("10.2.3.4"), reason,
				      sizeof(reason)));
	assert_true(policy_check_addr(p, "any", sa_of("::ffff:10.2.3.4"),
				      reason, sizeof(reason)));
	assert_true(policy_check_addr(p, "any", sa_of("192.0.2.7"), reason,
				      sizeof(reason)));
	assert_false(policy_check_addr(p, "any", sa_of("192.0.2.8"), reason,
				       sizeof(reason)));
	assert_true(policy_check_addr(p, "any", sa_of("fd12::9"), reason,
				      sizeof(reason)));
	assert_false(policy_check_addr(p, "any", sa_of("172.16.0.1"), reason,
				       sizeof(reason)));
	/* The resolve override pins an address for its host only. */
	assert_string_equal(policy_resolve_override(p, "pinned.example"),
			    "10.1.2.3");
	assert_string_equal(policy_resolve_override(p, "other.example"),
			    "fd00::5");
	assert_null(policy_resolve_override(p, "pinned.example.x"));
	assert_true(policy_check_addr(p, "other.example", sa_of("fd00::5"),
				      reason, sizeof(reason)));
	assert_false(policy_check_addr(p, "x.example", sa_of("fd00::5"), reason,
				       sizeof(reason)));
	assert_false(policy_check_addr(p, "other.example", sa_of("fd00::6"),
				       reason, sizeof(reason)));
	policy_free(p);
	/* Without the CIDR entry, 10.1.2.3 is only allowed as the pin. */
	p = make(NULL, 0, NULL, 0, NULL, 0);
	assert_true(policy_check_addr(p, "pinned.example", sa_of("10.1.2.3"),
				      reason, sizeof(reason)));
	assert_false(policy_check_addr(p, "evil.example", sa_of("10.1.2.3"),
				       reason, sizeof(reason)));
	policy_free(p);
	policy_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(host_globs),	cmocka_unit_test(host_ports),
	    cmocka_unit_test(host_ip_literals), cmocka_unit_test(allow_add),
	    cmocka_unit_test(bad_entries),	cmocka_unit_test(denied_ranges),
	    cmocka_unit_test(named_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
