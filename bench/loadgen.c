/*
 * loadgen: an HTTP/1.1 load generator for bench/proxy.  One thread, one
 * epoll loop, non-blocking sockets, OpenSSL for https.
 *
 *   loadgen [-c CONNS] [-d SECONDS] URL        keep-alive requests over CONNS
 *                                              connections: req/s, p50, p99
 *   loadgen --download URL                     one GET: MB/s
 *   options: --proxy HOST:PORT   CONNECT for https URLs, absolute-form for http
 *            --cacert FILE       trust FILE (twice at most); default: system
 *            --resolve HOST:PORT:ADDR   connect to ADDR (no proxy only)
 *            --header 'Name: value'     add a request header
 *            --timeout SECONDS   idle time before a request is an error (10)
 *            --json              one JSON object on stdout instead of text
 *
 * Every response is checked: status 200, a body framed by Content-Length (or
 * chunked) that arrives whole, and, in the -c mode, the same length as the
 * first one.  Anything else is an error; the connection is replaced.  Exit
 * status: 0 clean run, 1 run with errors, 2 usage or setup failure.
 *
 * The clock for a request starts when its first byte is written and stops
 * at its last body byte; connection setup (TCP, CONNECT, TLS) is not in the
 * latency but is in the elapsed time that req/s divides by.  Requests still
 * in flight at the deadline are neither counted nor errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEAD_MAX	 16384
#define MAX_CONNS	 4096
#define MAX_SHOWN_ERRORS 5

enum conn_state {
	CS_CONNECTING,
	CS_PROXY_REQ,
	CS_PROXY_RESP,
	CS_TLS,
	CS_SEND,
	CS_RECV_HEAD,
	CS_RECV_BODY,
};

enum body_mode { BODY_LENGTH, BODY_CHUNKED, BODY_EOF };
enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER, CH_DONE };

struct conn {
	int fd; /* -1: none */
	SSL *ssl;
	enum conn_state st;
	char head[HEAD_MAX];
	size_t head_len;
	size_t out_off;
	enum body_mode body;
	uint64_t body_left; /* BODY_LENGTH: bytes to go; CH_DATA: chunk bytes */
	uint64_t body_got;
	enum chunk_state ch;
	char line[64]; /* chunk-size or trailer line being read */
	size_t line_len;
	bool close_after;
	uint64_t req_start, last_io;
};

struct opts {
	int conns;
	double duration, timeout;
	bool download, json;
	const char *url, *proxy, *resolve;
	const char *cacert[2];
	int ncacert;
	const char *headers[16];
	int nheaders;
};

struct target {
	bool https;
	char host[256], path[2048];
	int port;
	struct sockaddr_storage addr; /* where TCP connects: origin or proxy */
	socklen_t addrlen;
	char *connect_req, *request; /* CONNECT (proxy+https only) and GET */
	size_t connect_len, request_len;
};

struct stats {
	uint64_t ok, errors, bytes;
	uint32_t *lat_us;
	size_t nlat, caplat;
	int64_t expect_len; /* -1 until the first response */
	char shown[MAX_SHOWN_ERRORS][256];
	int nshown;
};

struct lg {
	struct opts o;
	struct target t;
	SSL_CTX *ctx;
	int ep;
	struct conn *conns;
	struct stats s;
	uint64_t t0, deadline, t_end;
	bool stopping;
	unsigned char scratch[256 * 1024];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn)) static void usage_die(const char *msg)
{
	fprintf(
	    stderr,
	    "loadgen: %s\n"
	    "usage: loadgen [-c CONNS] [-d SECONDS] [--download] [--proxy "
	    "HOST:PORT]\n"
	    "               [--cacert FILE]... [--resolve HOST:PORT:ADDR]\n"
	    "               [--header 'N: v']... [--timeout S] [--json] URL\n",
	    msg);
	exit(2);
}

__attribute__((format(printf, 2, 3))) static void
note_error(struct lg *lg, const char *fmt, ...)
{
	lg->s.errors++;
	if (lg->s.nshown >= MAX_SHOWN_ERRORS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lg->s.shown[lg->s.nshown++], sizeof lg->s.shown[0], fmt, ap);
	va_end(ap);
}

/* ---- setup ---------------------------------------------------------- */

static int resolve_addr(const char *host, int port, struct target *t)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	int rc = getaddrinfo(host, ps, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* "http(s)://host[:port][/path]" into t.  NEEDSWORK: no [IPv6] literals. */
static int parse_url(const char *url, struct target *t)
{
	const char *p;
	if (!strncmp(url, "https://", 8)) {
		t->https = true, t->port = 443, p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		t->https = false, t->port = 80, p = url + 7;
	} else {
		return -1;
	}
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= sizeof t->host)
		return -1;
	memcpy(t->host, p, hl);
	t->host[hl] = '\0';
	p += hl;
	if (*p == ':') {
		char pbuf[8];
		size_t pl = strcspn(++p, "/");
		if (pl == 0 || pl >= sizeof pbuf)
			return -1;
		memcpy(pbuf, p, pl);
		pbuf[pl] = '\0';
		if (parse_port(pbuf, &t->port) < 0)
			return -1;
		p += pl;
	}
	if (strlen(p) >= sizeof t->path - 1)
		return -1;
	snprintf(t->path, sizeof t->path, "%s", *p ? p : "/");
	return 0;
}

static char *xasprintf_or_die(size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *xasprintf_or_die(size_t *len, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(2);
	}
	*len = (size_t)n;
	return s;
}

static void build_requests(struct lg *lg)
{
	struct target *t = &lg->t;
	bool dflt = t->port == (t->https ? 443 : 80);
	char hostport[300], extra[4096] = "";
	snprintf(hostport, sizeof hostport, dflt ? "%s" : "%s:%d", t->host,
		 t->port);
	for (int i = 0; i < lg->o.nheaders; i++) {
		size_t l = strlen(extra);
		snprintf(extra + l, sizeof extra - l, "%s\r\n",
			 lg->o.headers[i]);
	}
	if (lg->o.proxy && t->https)
		t->connect_req = xasprintf_or_die(
		    &t->connect_len,
		    "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", t->host,
		    t->port, t->host, t->port);
	bool absolute = lg->o.proxy && !t->https;
	t->request = xasprintf_or_die(
	    &t->request_len,
	    "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bottle-loadgen\r\n"
	    "Accept: */*\r\n%s\r\n",
	    absolute ? "http://" : "", absolute ? hostport : "", t->path,
	    hostport, extra);
}

static int setup_target(struct lg *lg)
{
	struct target *t = &lg->t;
	if (parse_url(lg->o.url, t) < 0)
		usage_die("bad URL (http(s)://host[:port]/path)");
	if (lg->o.proxy) {
		char h[256];
		const char *colon = strrchr(lg->o.proxy, ':');
		int port;
		if (!colon || colon == lg->o.proxy ||
		    (size_t)(colon - lg->o.proxy) >= sizeof h ||
		    parse_port(colon + 1, &port) < 0)
			usage_die("bad --proxy (HOST:PORT)");
		memcpy(h, lg->o.proxy, (size_t)(colon - lg->o.proxy));
		h[colon - lg->o.proxy] = '\0';
		if (resolve_addr(h, port, t) < 0)
			return -1;
	} else if (lg->o.resolve) {
		char want[300];
		snprintf(want, sizeof want, "%s:%d:", t->host, t->port);
		if (strncmp(lg->o.resolve, want, strlen(want)))
			usage_die(
			    "--resolve does not match the URL's host:port");
		if (resolve_addr(lg->o.resolve + strlen(want), t->port, t) < 0)
			return -1;
	} else if (resolve_addr(t->host, t->port, t) < 0) {
		return -1;
	}
	build_requests(lg);
	return 0;
}

static int setup_tls(struct lg *lg)
{
	if (!lg->t.https)
		return 0;
	lg->ctx = SSL_CTX_new(TLS_client_method());
	if (!lg->ctx)
		return -1;
	SSL_CTX_set_min_proto_version(lg->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(lg->ctx, SSL_VERIFY_PEER, NULL);
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX_set_alpn_protos(lg->ctx, alpn, sizeof alpn - 1);
	if (lg->o.ncacert == 0 && !SSL_CTX_set_default_verify_paths(lg->ctx))
		return -1;
	for (int i = 0; i < lg->o.ncacert; i++) {
		if (!SSL_CTX_load_verify_file(lg->ctx, lg->o.cacert[i])) {
			fprintf(stderr, "loadgen: cannot load CA file %s\n",
				lg->o.cacert[i]);
			return -1;
		}
	}
	return 0;
}

/* ---- connections ---------------------------------------------------- */

static void conn_close(struct lg *lg, struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0) {
		epoll_ctl(lg->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

static int conn_open(struct lg *lg, struct conn *c)
{
	c->fd = socket(lg->t.addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&lg->t.addr, lg->t.addrlen) < 0 &&
	    errno != EINPROGRESS) {
		int e = -errno;
		conn_close(lg, c);
		return e;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
				 .data.ptr = c};
	if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int e = -errno;
		conn_close(lg, c);
		return e;
	}
	c->st = CS_CONNECTING;
	c->head_len = c->out_off = 0;
	c->close_after = false;
	c->last_io = now_ns();
	return 0;
}

/* Raw or TLS I/O: >0 bytes, 0 EOF, -EAGAIN blocked, -EIO failure. */
static ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
	if (!c->ssl) {
		ssize_t r = read(c->fd, buf, n);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? -EAGAIN
								 : -EIO;
		return r;
	}
	size_t got;
	if (SSL_read_ex(c->ssl, buf, n, &got))
		return (ssize_t)got;
	int e = SSL_get_error(c->ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	return e == SSL_ERROR_ZERO_RETURN ? 0 : -EIO;
}

static ssize_t conn_write(struct conn *c, const void *buf, size_t n)
{
	if (!c->ssl) {
		ssize_t r = write(c->fd, buf, n);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? -EAGAIN
								 : -EIO;
		return r;
	}
	size_t put;
	if (SSL_write_ex(c->ssl, buf, n, &put))
		return (ssize_t)put;
	int e = SSL_get_error(c->ssl, 0);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -EAGAIN
								     : -EIO;
}

/* Write buf from c->out_off on: 1 done, 0 blocked, -1 failed. */
static int send_all(struct conn *c, const char *buf, size_t len)
{
	while (c->out_off < len) {
		ssize_t w = conn_write(c, buf + c->out_off, len - c->out_off);
		if (w == -EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->out_off += (size_t)w;
	}
	c->out_off = 0;
	return 1;
}

/* ---- response parsing ----------------------------------------------- */

static const char *find_crlfcrlf(const char *p, size_t n)
{
	return memmem(p, n, "\r\n\r\n", 4);
}

/* Value of header NAME in the head (NUL-terminated), or NULL. */
static const char *header_value(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nl) || l[nl] != ':')
			continue;
		const char *v = l + nl + 1;
		v += strspn(v, " \t");
		*len = strcspn(v, "\r");
		while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
			(*len)--;
		return v;
	}
	return NULL;
}

static int parse_u64(const char *s, size_t n, int base, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d;
		char ch = s[i];
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* Parse the head in c->head (hlen bytes incl. the blank line). */
static int parse_head(struct lg *lg, struct conn *c, size_t hlen)
{
	char save = c->head[hlen];
	c->head[hlen] = '\0';
	int rc = -1;
	size_t vl;
	const char *v;
	if (strncmp(c->head, "HTTP/1.", 7) || strlen(c->head) < 12 ||
	    c->head[8] != ' ') {
		note_error(lg, "bad status line");
		goto out;
	}
	if (strncmp(c->head + 9, "200", 3)) {
		note_error(lg, "status %.3s", c->head + 9);
		goto out;
	}
	c->close_after = c->head[7] == '0';
	if ((v = header_value(c->head, "Connection", &vl)))
		c->close_after = vl == 5 && !strncasecmp(v, "close", 5);
	c->body_got = 0;
	if ((v = header_value(c->head, "Transfer-Encoding", &vl))) {
		if (vl != 7 || strncasecmp(v, "chunked", 7)) {
			note_error(lg, "unsupported transfer-encoding");
			goto out;
		}
		c->body = BODY_CHUNKED, c->ch = CH_SIZE, c->line_len = 0;
	} else if ((v = header_value(c->head, "Content-Length", &vl))) {
		if (parse_u64(v, vl, 10, &c->body_left) < 0) {
			note_error(lg, "bad content-length");
			goto out;
		}
		c->body = BODY_LENGTH;
	} else {
		c->body = BODY_EOF, c->close_after = true;
	}
	rc = 0;
out:
	c->head[hlen] = save;
	return rc;
}

/* Feed chunked-body bytes; returns bytes consumed or -1. */
static ssize_t chunk_feed(struct conn *c, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && c->ch != CH_DONE) {
		if (c->ch == CH_DATA) {
			size_t take =
			    n - i < c->body_left ? n - i : c->body_left;
			c->body_got += take, c->body_left -= take, i += take;
			if (c->body_left == 0)
				c->ch = CH_DATA_CRLF, c->line_len = 0;
			continue;
		}
		char ch = (char)p[i++];
		if (ch != '\n') {
			if (c->line_len >= sizeof c->line - 1)
				return -1;
			c->line[c->line_len++] = ch;
			continue;
		}
		size_t l = c->line_len;
		if (l && c->line[l - 1] == '\r')
			l--;
		c->line_len = 0;
		if (c->ch == CH_DATA_CRLF) {
			if (l)
				return -1;
			c->ch = CH_SIZE;
		} else if (c->ch == CH_SIZE) {
			size_t hl = strcspn(c->line, ";");
			c->line[l] = '\0';
			if (parse_u64(c->line, hl < l ? hl : l, 16,
				      &c->body_left))
				return -1;
			c->ch = c->body_left ? CH_DATA : CH_TRAILER;
		} else if (c->ch == CH_TRAILER && l == 0) {
			c->ch = CH_DONE;
		}
	}
	return (ssize_t)i;
}

/* Feed body bytes: 1 response complete, 0 more wanted, -1 bad framing. */
static int body_feed(struct conn *c, const unsigned char *p, size_t n)
{
	switch (c->body) {
	case BODY_LENGTH:
		if (n > c->body_left)
			return -1; /* bytes beyond Content-Length */
		c->body_left -= n, c->body_got += n;
		return c->body_left == 0;
	case BODY_CHUNKED: {
		ssize_t used = chunk_feed(c, p, n);
		if (used < 0 || (c->ch == CH_DONE && (size_t)used != n))
			return -1;
		return c->ch == CH_DONE;
	}
	case BODY_EOF:
		c->body_got += n;
		return 0;
	}
	return -1;
}

/* ---- the state machine ---------------------------------------------- */

static int record_latency(struct stats *s, uint64_t ns)
{
	if (s->nlat == s->caplat) {
		size_t cap = s->caplat ? s->caplat * 2 : 65536;
		if (cap > SIZE_MAX / sizeof *s->lat_us)
			return -1;
		uint32_t *p = realloc(s->lat_us, cap * sizeof *p);
		if (!p)
			return -1;
		s->lat_us = p, s->caplat = cap;
	}
	uint64_t us = ns / 1000;
	s->lat_us[s->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

/* A whole response arrived: validate, count; 0 or -1 (error noted). */
static int response_done(struct lg *lg, struct conn *c)
{
	uint64_t t = now_ns();
	if (lg->s.expect_len < 0) {
		lg->s.expect_len = (int64_t)c->body_got;
	} else if ((uint64_t)lg->s.expect_len != c->body_got) {
		note_error(lg, "body of %" PRIu64 " bytes, expected %" PRId64,
			   c->body_got, lg->s.expect_len);
		return -1;
	}
	if (lg->deadline && t > lg->deadline)
		return 0; /* finished after the bell: not counted */
	lg->s.ok++;
	lg->s.bytes += c->body_got;
	lg->t_end = t;
	if (record_latency(&lg->s, t - c->req_start) < 0) {
		note_error(lg, "out of memory");
		return -1;
	}
	return 0;
}

static int step_connecting(struct lg *lg, struct conn *c)
{
	if (connect(c->fd, (struct sockaddr *)&lg->t.addr, lg->t.addrlen) < 0 &&
	    errno != EISCONN) {
		if (errno == EALREADY || errno == EINPROGRESS)
			return 0;
		note_error(lg, "connect: %s", strerror(errno));
		return -1;
	}
	c->st = lg->t.connect_req ? CS_PROXY_REQ
		: lg->t.https	  ? CS_TLS
				  : CS_SEND;
	return 1;
}

/* The proxy's answer to CONNECT, read raw: nothing else can follow it
 * before our ClientHello, so reading in bulk never eats TLS bytes. */
static int step_proxy_resp(struct lg *lg, struct conn *c)
{
	ssize_t r = conn_read(c, c->head + c->head_len,
			      sizeof c->head - 1 - c->head_len);
	if (r == -EAGAIN)
		return 0;
	if (r <= 0) {
		note_error(lg, "proxy closed during CONNECT");
		return -1;
	}
	c->head_len += (size_t)r;
	const char *end = find_crlfcrlf(c->head, c->head_len);
	if (!end) {
		if (c->head_len < sizeof c->head - 1)
			return 1;
		note_error(lg, "CONNECT response too long");
		return -1;
	}
	if ((size_t)(end + 4 - c->head) != c->head_len ||
	    strncmp(c->head, "HTTP/1.", 7) || c->head_len < 12 ||
	    strncmp(c->head + 9, "200", 3)) {
		note_error(lg, "CONNECT refused: %.40s", c->head);
		return -1;
	}
	c->head_len = 0;
	c->st = CS_TLS;
	return 1;
}

static int step_tls(struct lg *lg, struct conn *c)
{
	if (!c->ssl) {
		c->ssl = SSL_new(lg->ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) ||
		    !SSL_set_tlsext_host_name(c->ssl, lg->t.host) ||
		    !SSL_set1_host(c->ssl, lg->t.host)) {
			note_error(lg, "SSL_new failed");
			return -1;
		}
		SSL_set_connect_state(c->ssl);
	}
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		c->st = CS_SEND;
		return 1;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	unsigned long le = ERR_get_error();
	long vr = SSL_get_verify_result(c->ssl);
	note_error(lg, "TLS handshake: %s%s%s",
		   le ? ERR_reason_error_string(le) : "failed",
		   vr != X509_V_OK ? ": " : "",
		   vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
	ERR_clear_error();
	return -1;
}

static int step_recv_head(struct lg *lg, struct conn *c)
{
	ssize_t r = conn_read(c, c->head + c->head_len,
			      sizeof c->head - 1 - c->head_len);
	if (r == -EAGAIN)
		return 0;
	if (r <= 0) {
		note_error(lg, "closed before the response head");
		return -1;
	}
	c->head_len += (size_t)r;
	const char *end = find_crlfcrlf(c->head, c->head_len);
	if (!end) {
		if (c->head_len < sizeof c->head - 1)
			return 1;
		note_error(lg, "response head too long");
		return -1;
	}
	size_t hlen = (size_t)(end + 4 - c->head);
	if (parse_head(lg, c, hlen) < 0)
		return -1;
	c->st = CS_RECV_BODY;
	size_t extra = c->head_len - hlen;
	c->head_len = 0;
	int done = body_feed(c, (unsigned char *)c->head + hlen, extra);
	if (done < 0) {
		note_error(lg, "body longer than its framing");
		return -1;
	}
	return done ? 2 : 1;
}

static int step_recv_body(struct lg *lg, struct conn *c)
{
	ssize_t r = conn_read(c, lg->scratch, sizeof lg->scratch);
	if (r == -EAGAIN)
		return 0;
	if (r == 0 && c->body == BODY_EOF)
		return 2;
	if (r <= 0) {
		note_error(lg, "body truncated after %" PRIu64 " bytes",
			   c->body_got);
		return -1;
	}
	int done = body_feed(c, lg->scratch, (size_t)r);
	if (done < 0) {
		note_error(lg, "body longer than its framing");
		return -1;
	}
	return done ? 2 : 1;
}

/* Run one connection until it blocks: 0 blocked or finished, -1 failed
 * (closed; the caller replaces it). */
static int conn_drive(struct lg *lg, struct conn *c)
{
	for (;;) {
		int r = 0;
		switch (c->st) {
		case CS_CONNECTING:
			r = step_connecting(lg, c);
			break;
		case CS_PROXY_REQ:
			r = send_all(c, lg->t.connect_req, lg->t.connect_len);
			if (r < 0) {
				note_error(lg, "proxy write failed");
			} else if (r > 0) {
				c->st = CS_PROXY_RESP;
			}
			break;
		case CS_PROXY_RESP:
			r = step_proxy_resp(lg, c);
			break;
		case CS_TLS:
			r = step_tls(lg, c);
			break;
		case CS_SEND:
			if (lg->stopping)
				return 0;
			if (c->out_off == 0)
				c->req_start = now_ns();
			r = send_all(c, lg->t.request, lg->t.request_len);
			if (r < 0)
				note_error(lg, "request write failed");
			else if (r > 0)
				c->st = CS_RECV_HEAD;
			break;
		case CS_RECV_HEAD:
			r = step_recv_head(lg, c);
			break;
		case CS_RECV_BODY:
			r = step_recv_body(lg, c);
			break;
		}
		if (r > 0)
			c->last_io = now_ns();
		if (r == 2) { /* a response is complete */
			if (response_done(lg, c) < 0)
				r = -1;
			else if (lg->o.download)
				lg->stopping = true;
			if (r == 2 && c->close_after) {
				conn_close(lg, c);
				return lg->stopping	      ? 0
				       : conn_open(lg, c) < 0 ? -1
							      : 0;
			}
			c->st = CS_SEND;
		}
		if (r < 0) {
			conn_close(lg, c);
			return -1;
		}
		if (r == 0)
			return 0;
	}
}

/* ---- main loop and report ------------------------------------------- */

static void conn_replace(struct lg *lg, struct conn *c)
{
	/* Give up on a target that only fails: a bounded number of errors;
	 * a download is one attempt. */
	while (!lg->stopping) {
		if (lg->s.errors >
		    (lg->o.download ? 0 : (uint64_t)lg->o.conns * 100)) {
			lg->stopping = true;
			return;
		}
		int e = conn_open(lg, c);
		if (e == 0) {
			if (conn_drive(lg, c) == 0)
				return;
			continue;
		}
		note_error(lg, "connect: %s", strerror(-e));
	}
}

static void check_timeouts(struct lg *lg, uint64_t t)
{
	uint64_t limit = (uint64_t)(lg->o.timeout * 1e9);
	for (int i = 0; i < lg->o.conns; i++) {
		struct conn *c = &lg->conns[i];
		if (c->fd < 0 || t - c->last_io < limit)
			continue;
		if (c->st == CS_SEND && lg->stopping)
			continue;
		note_error(lg, "timeout (no progress for %.0f s)",
			   lg->o.timeout);
		conn_close(lg, c);
		conn_replace(lg, c);
	}
}

static bool all_idle(struct lg *lg)
{
	for (int i = 0; i < lg->o.conns; i++)
		if (lg->conns[i].fd >= 0 && lg->conns[i].st != CS_SEND)
			return false;
	return true;
}

static void run(struct lg *lg)
{
	lg->t0 = now_ns();
	if (!lg->o.download)
		lg->deadline = lg->t0 + (uint64_t)(lg->o.duration * 1e9);
	for (int i = 0; i < lg->o.conns; i++)
		conn_replace(lg, &lg->conns[i]);
	struct epoll_event evs[64];
	for (;;) {
		uint64_t t = now_ns();
		if (lg->deadline && t >= lg->deadline)
			break;
		if (lg->stopping && all_idle(lg))
			break;
		int ms = 100;
		if (lg->deadline && (lg->deadline - t) / 1000000 < 100)
			ms = (int)((lg->deadline - t) / 1000000) + 1;
		int n = epoll_wait(lg->ep, evs, 64, ms);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd >= 0 && conn_drive(lg, c) < 0)
				conn_replace(lg, c);
		}
		check_timeouts(lg, now_ns());
	}
	if (lg->deadline)
		lg->t_end = lg->deadline;
	else if (lg->t_end == 0)
		lg->t_end = now_ns(); /* nothing arrived */
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const struct stats *s, double p)
{
	if (s->nlat == 0)
		return 0;
	size_t i = (size_t)(p * (double)(s->nlat - 1) + 0.5);
	return s->lat_us[i] / 1000.0;
}

static void report(struct lg *lg)
{
	struct stats *s = &lg->s;
	qsort(s->lat_us, s->nlat, sizeof *s->lat_us, cmp_u32);
	double secs = (double)(lg->t_end - lg->t0) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	double rps = (double)s->ok / secs, mbps = (double)s->bytes / secs / 1e6;
	double p50 = pct_ms(s, 0.50), p99 = pct_ms(s, 0.99);
	for (int i = 0; i < s->nshown; i++)
		fprintf(stderr, "loadgen: error: %s\n", s->shown[i]);
	if (lg->o.json) {
		printf("{\"mode\": \"%s\", \"connections\": %d, \"seconds\": "
		       "%.3f, "
		       "\"requests\": %" PRIu64 ", \"errors\": %" PRIu64
		       ", \"bytes\": %" PRIu64
		       ", \"rps\": %.1f, \"p50_ms\": %.3f, "
		       "\"p99_ms\": %.3f, \"mb_per_s\": %.2f}\n",
		       lg->o.download ? "download" : "load", lg->o.conns, secs,
		       s->ok, s->errors, s->bytes, rps, p50, p99, mbps);
	} else if (lg->o.download) {
		printf("%" PRIu64 " bytes in %.3f s: %.1f MB/s, %" PRIu64
		       " errors\n",
		       s->bytes, secs, mbps, s->errors);
	} else {
		printf("%" PRIu64 " requests in %.2f s over %d connections: "
		       "%.0f req/s, p50 %.3f ms, p99 %.3f ms, %" PRIu64
		       " errors\n",
		       s->ok, secs, lg->o.conns, rps, p50, p99, s->errors);
	}
}

static double parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0) || v > 86400)
		usage_die("bad number of seconds");
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.conns = 32, .duration = 5, .timeout = 10};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		bool has = next != NULL;
		if (!strcmp(a, "--download")) {
			o->download = true;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (a[0] != '-') {
			if (o->url)
				usage_die("one URL only");
			o->url = a;
		} else if (!has) {
			usage_die("missing option argument");
		} else if (!strcmp(a, "-c")) {
			int c;
			if (parse_port(next, &c) < 0 || c > MAX_CONNS)
				usage_die("bad -c (1..4096)");
			o->conns = c, i++;
		} else if (!strcmp(a, "-d")) {
			o->duration = parse_secs(next), i++;
		} else if (!strcmp(a, "--timeout")) {
			o->timeout = parse_secs(next), i++;
		} else if (!strcmp(a, "--proxy")) {
			o->proxy = next, i++;
		} else if (!strcmp(a, "--resolve")) {
			o->resolve = next, i++;
		} else if (!strcmp(a, "--cacert")) {
			if (o->ncacert == 2)
				usage_die("--cacert at most twice");
			o->cacert[o->ncacert++] = next, i++;
		} else if (!strcmp(a, "--header")) {
			if (o->nheaders == 16 || strpbrk(next, "\r\n") ||
			    !strchr(next, ':'))
				usage_die(
				    "bad --header (at most 16, 'Name: value')");
			o->headers[o->nheaders++] = next, i++;
		} else {
			usage_die("unknown option");
		}
	}
	if (!o->url)
		usage_die("no URL");
	if (o->download)
		o->conns = 1;
}

int main(int argc, char **argv)
{
	static struct lg lg; /* big (scratch buffer): not on the stack */
	parse_args(argc, argv, &lg.o);
	signal(SIGPIPE, SIG_IGN);
	lg.s.expect_len = -1;
	if (setup_target(&lg) < 0 || setup_tls(&lg) < 0) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	lg.ep = epoll_create1(EPOLL_CLOEXEC);
	lg.conns = calloc((size_t)lg.o.conns, sizeof *lg.conns);
	if (lg.ep < 0 || !lg.conns) {
		perror("loadgen");
		return 2;
	}
	for (int i = 0; i < lg.o.conns; i++)
		lg.conns[i].fd = -1;
	run(&lg);
	if (lg.o.download && lg.s.ok == 0 && lg.s.errors == 0)
		note_error(&lg, "no response");
	report(&lg);
	for (int i = 0; i < lg.o.conns; i++)
		conn_close(&lg, &lg.conns[i]);
	free(lg.conns);
	free(lg.s.lat_us);
	free(lg.t.request);
	free(lg.t.connect_req);
	SSL_CTX_free(lg.ctx);
	close(lg.ep);
	return lg.s.errors ? 1 : 0;
}
