/* The egress probes: the bundle's proxy is the one way out, and it refuses
 * what it must (DESIGN.md, "The proxy pipeline").  Every request here is
 * answered by the bundle itself, before any upstream connection: hosts that
 * cannot be on an allowlist (.invalid), a TEST-NET address, secrets in a
 * URL.  Nothing leaves the machine. */
#include "guest/probes.h"

#include "lib/plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Where the bundle's endpoints are: the bottle's loopback, or in a vm the
 * gateway of the guest's link (lib/plan.h). */
static const char *endpoint_addr(void)
{
	return probe_in_vm() ? VM_GATEWAY : PROXY_ADDR;
}

/* Send req to the endpoint address's port and read the answer into buf
 * until stop appears, the peer closes or 5 s pass: the bytes read, or
 * -errno from the connect (ECONNREFUSED: nothing listens there). */
static ssize_t exchange(uint16_t port, const char *req, size_t len,
			const char *stop, char *buf, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;

	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, endpoint_addr(), &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return 0;
	}
	while (got < size - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (stop && memmem(buf, got, stop, strlen(stop)))
			break;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Send req to the proxy and read the answer's head: the status (0 when
 * none came) and the X-Bottle-Verdict value into verdict. */
static int ask_proxy(const char *req, size_t len, char *verdict, size_t vlen)
{
	char buf[4096];
	int status = 0;
	const char *v;

	verdict[0] = '\0';
	if (exchange(8888, req, len, "\r\n\r\n", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	v = strcasestr(buf, "\r\nX-Bottle-Verdict: ");
	if (v)
		snprintf(verdict, vlen, "%.*s", (int)strcspn(v + 20, "\r\n"),
			 v + 20);
	return status;
}

static void expect(struct probe_report *r, const char *what, const char *req,
		   int want_status, const char *want_verdict)
{
	char verdict[32];
	int st = ask_proxy(req, strlen(req), verdict, sizeof(verdict));

	if (st == want_status &&
	    (!want_verdict || strcmp(verdict, want_verdict) == 0))
		report_note(r, "%s: %d %s", what, st, verdict);
	else
		report_fail(r, "%s: got %d %s, want %d %s", what, st, verdict,
			    want_status, want_verdict ? want_verdict : "");
}

void probe_egress_proxy(const struct probe_opts *opts, struct probe_report *r)
{
	const char *hp = getenv("HTTPS_PROXY");
	char req[512], key[32], want[64];

	(void)opts;
	snprintf(want, sizeof(want), "http://%s:%u", endpoint_addr(),
		 PROXY_PORT);
	if (!hp || strcmp(hp, want) != 0)
		report_fail(r, "HTTPS_PROXY is %s, want %s", hp ? hp : "unset",
			    want);
	expect(r, "GET to an unlisted host",
	       "GET http://bottle-probe.invalid/ HTTP/1.1\r\n"
	       "Host: bottle-probe.invalid\r\n\r\n",
	       403, "deny");
	expect(r, "CONNECT to an unlisted host",
	       "CONNECT bottle-probe.invalid:443 HTTP/1.1\r\n"
	       "Host: bottle-probe.invalid:443\r\n\r\n",
	       403, "deny");
	expect(r, "an IP literal",
	       "GET http://192.0.2.1/ HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n", 403,
	       "deny");
	/* An AWS-style access key id, built here so that the binary does
	 * not carry one. */
	snprintf(key, sizeof(key), "AKIA%s", "ZQ3VPROBE7KEY2X4");
	snprintf(req, sizeof(req),
		 "GET http://bottle-probe.invalid/?k=%s HTTP/1.1\r\n"
		 "Host: bottle-probe.invalid\r\n\r\n",
		 key);
	expect(r, "a key in the URL", req, 403, "block");
	snprintf(req, sizeof(req),
		 "GET http://bottle-probe.invalid/ HTTP/1.1\r\n"
		 "Host: bottle-probe.invalid\r\nX-Key: %s\r\n\r\n",
		 key);
	expect(r, "a key in a header", req, 403, "block");
	/* The same key, hex-encoded. */
	{
		char hex[80];
		for (size_t i = 0; key[i] && i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)key[i]);
		snprintf(req, sizeof(req),
			 "GET http://bottle-probe.invalid/?h=%s HTTP/1.1\r\n"
			 "Host: bottle-probe.invalid\r\n\r\n",
			 hex);
		expect(r, "a hex-encoded key", req, 403, "block");
	}
	expect(r, "a malformed request", "GET  / HTTP/9\r\n\r\n", 400, NULL);
	/* Credentials the bundle injects are placeholders in here. */
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (eq && strstr(eq, "bottle-placeholder-") &&
		    strncmp(eq + 1, "bottle-placeholder-", 19) != 0)
			report_fail(r,
				    "%.*s mixes a placeholder with other "
				    "text",
				    (int)(eq - *e), *e);
	}
}

/* A git:// request for repo, as a pkt-line. */
static size_t git_request(char *buf, size_t size, const char *repo)
{
	int body = snprintf(buf + 4, size - 4, "git-upload-pack %s%chost=%s%c",
			    repo, 0, endpoint_addr(), 0);

	snprintf(buf, 5, "%04x", body + 4);
	buf[4] = 'g'; /* snprintf's NUL over the body's first byte */
	return (size_t)body + 4;
}

/* The git gate and the supervise server, when the bottle has them, answer
 * bad requests with their own errors: the gate serves declared upstreams
 * only, by name, and the MCP server speaks JSON-RPC. */
void probe_endpoints(const struct probe_opts *opts, struct probe_report *r)
{
	/* Each with the gate's reason: an ERR for another cause (too many
	 * connections, say) is not the policy at work. */
	static const char *const repos[][2] = {
	    {"/bottle-probe-undeclared.git", "no git upstream named"},
	    {"/../../etc/passwd", "expected a repository path"},
	    {"/origin.git/../../x", "expected a repository path"}};
	static const char bad_json[] =
	    "POST /mcp HTTP/1.1\r\nHost: bottle-probe:7777\r\n"
	    "Content-Type: application/json\r\n"
	    "Accept: application/json, text/event-stream\r\n"
	    "Content-Length: 1\r\n\r\n{";
	char req[256], buf[4096];
	ssize_t n;
	int served = 0;

	(void)opts;
	for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		size_t len = git_request(req, sizeof(req), repos[i][0]);
		n = exchange(9418, req, len, NULL, buf, sizeof(buf));
		if (n == -ECONNREFUSED) {
			report_note(r, "git gate: off");
			break;
		}
		if (n >= 8 && memcmp(buf + 4, "ERR ", 4) == 0 &&
		    strstr(buf + 8, repos[i][1]))
			report_note(r, "git gate: %s refused", repos[i][0]);
		else
			report_fail(r,
				    "git gate: %s not refused as it should "
				    "be (%zd bytes: %.60s)",
				    repos[i][0], n, n > 0 ? buf : "");
		served = 1;
	}
	n = exchange(7777, bad_json, sizeof(bad_json) - 1, "-32700", buf,
		     sizeof(buf));
	if (n == -ECONNREFUSED) {
		report_note(r, "supervise: off");
	} else {
		served = 1;
		if (n > 0 && strstr(buf, "-32700"))
			report_note(r, "supervise: bad JSON-RPC gets a parse "
				       "error");
		else
			report_fail(r,
				    "supervise: no parse error for bad "
				    "JSON (%zd bytes)",
				    n);
	}
	if (!served)
		report_skip(r, "neither endpoint is on in this bottle");
}
