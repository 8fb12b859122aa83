/* The egress probes: the bundle's proxy is the one way out, and it refuses
 * what it must (DESIGN.md, "The proxy pipeline").  Every request here is
 * answered by the bundle itself, before any upstream connection: hosts that
 * cannot be on an allowlist (.invalid), a TEST-NET address, secrets in a
 * URL.  Nothing leaves the machine. */
#include "guest/probes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_URL "http://127.0.0.1:8888"

/* Send req to the proxy and read the answer's head: the status (0 when
 * none came) and the X-Bottle-Verdict value into verdict. */
static int ask_proxy(const char *req, size_t len, char *verdict, size_t vlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(8888),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[4096];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;
	const char *v;

	verdict[0] = '\0';
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return 0;
	}
	while (got < sizeof(buf) - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	close(fd);
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
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
	char req[512], key[32];

	(void)opts;
	if (!hp || strcmp(hp, PROXY_URL) != 0)
		report_fail(r, "HTTPS_PROXY is %s, want " PROXY_URL,
			    hp ? hp : "unset");
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
