/* libFuzzer harness for authority parsing and the egress policy: parse
 * the input as an authority, require the result to be canonical (parsing
 * it again gives the same), then run the host and address checks on it.
 * The input is also tried as an allowlist entry. */
#include "bundle/http.h"
#include "bundle/policy.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct policy *policy(void)
{
	static const char *const allow[] = {
	    "*.example.com", "api.test:8443",	  "10.0.0.0/8",
	    "::1",	     "[2001:db8::1]:443",
	};
	static const char *const inspect[] = {"*.example.com"};
	static const char *const routes[] = {"llm.test"};
	static const char *const rh[] = {"pinned.test"};
	static const char *const ra[] = {"127.0.0.1"};
	static const struct policy_config c = {
	    allow, 5, inspect, 1, routes, 1, rh, ra, 1,
	};
	static struct policy *p;
	struct error err = ERROR_INIT;

	if (!p && policy_new(&c, &p, &err) < 0)
		BUG("policy_new: %s", err.msg);
	return p;
}

static void check_addr(const char *host)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char reason[160];

	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		BUG("IP literal %s does not parse", host);
	if (!policy_check_addr(policy(), host, (struct sockaddr *)&ss, reason,
			       sizeof(reason)) &&
	    !strstr(reason, "resolves to a"))
		BUG("deny without a reason");
}

static void canonical(const char *host, uint16_t port, bool is_ip)
{
	char again[300], host2[256];
	const char *error;
	uint16_t port2;
	bool ip2;
	int n;

	n = snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]" : "%s",
		     host);
	if (port)
		n += snprintf(again + n, sizeof(again) - (size_t)n, ":%u",
			      (unsigned)port);
	if (http_authority_parse(again, (size_t)n, port != 0, host2, &port2,
				 &ip2, &error) < 0)
		BUG("canonical form %s rejected: %s", again, error);
	if (strcmp(host, host2) != 0 || port != port2 || is_ip != ip2)
		BUG("%s is not canonical", again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256], *entry;
	const char *error, *rule, *reason;
	struct error err = ERROR_INIT;
	struct policy_config c = {0};
	struct policy *p;
	uint16_t port;
	bool is_ip;

	if (http_authority_parse((const char *)data, size, false, host, &port,
				 &is_ip, &error) == 0) {
		if (strlen(host) > 253 || strlen(host) == 0)
			BUG("bad host length");
		canonical(host, port, is_ip);
		if (policy_check_host(policy(), host, port ? port : 443, is_ip,
				      &rule, &reason) == POLICY_DENY
			? !reason
			: !rule)
			BUG("verdict without a reason");
		if (is_ip)
			check_addr(host);
	}
	entry = strndup((const char *)data, size);
	c.allow = (const char *const *)&entry;
	c.n_allow = 1;
	if (entry && policy_new(&c, &p, &err) == 0) {
		policy_check_host(p, "a.example.com", 443, false, &rule,
				  &reason);
		policy_free(p);
	}
	free(entry);
	return 0;
}
