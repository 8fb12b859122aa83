/* The proxy pipeline (DESIGN.md, "The proxy pipeline"): one struct conn per
 * agent connection, holding both halves (STYLE rule 16).
 *
 *   CS_HEAD      read a request head from the agent (head timeout)
 *   CS_RESOLVE   policy passed; DNS in flight (never for pinned names)
 *   CS_CONNECT   connecting upstream (plain, or TLS with verification)
 *   CS_TLS       intercept: TLS handshake with the agent, our leaf
 *   CS_SNI       tunnel: waiting for the agent's ClientHello
 *   CS_TUNNEL    relaying bytes both ways
 *   CS_EXCHANGE  forwarding the request body through DLP, and the response
 *   CS_CLOSING   flushing the last bytes to the agent, then free
 *
 * Every state change goes through set_state(), which can trace it.  A
 * connection is never freed while one of its callbacks is on the stack
 * (STYLE rule 18): callbacks hold a reference, and conn_close() only
 * marks it when one does.
 *
 * Backpressure (STYLE rule 17): each stream reads at most
 * limits.buffer_max into its input, and relaying into an output that holds
 * more than that stops reading on the other side until it drains.
 */
#include "bundle/audit.h"
#include "bundle/bundle.h"
#include "bundle/dlp.h"
#include "bundle/http.h"
#include "bundle/inject.h"
#include "bundle/policy.h"
#include "bundle/sni.h"
#include "bundle/tls.h"
#include "bundle/stream.h"

#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ADDRS      8
#define AUDIT_PATH_MAX 512

enum conn_state {
	CS_HEAD,
	CS_RESOLVE,
	CS_CONNECT,
	CS_TLS,
	CS_SNI,
	CS_TUNNEL,
	CS_EXCHANGE,
	CS_CLOSING,
};

static const char *const state_names[] = {
    "head", "resolve", "connect", "tls", "sni", "tunnel", "exchange", "closing",
};

enum conn_mode { MODE_HTTP, MODE_TUNNEL, MODE_INTERCEPT };
static const char *const mode_names[] = {"http", "tunnel", "intercept"};

struct conn {
	struct bundle *b;
	struct conn *next, *prev; /* b->conns */
	struct stream *cli;	  /* the agent's side */
	struct stream *up;	  /* upstream, or NULL */
	enum conn_state state;
	enum conn_mode mode;
	int refs;     /* callbacks on the stack */
	bool closing; /* free when refs drops to 0 */
	bool cli_throttled, up_throttled;
	bool cli_eof;	/* the agent half-closed */
	bool cli_tls;	/* cli is our TLS server end (intercept) */
	bool lingering; /* closing: draining the agent's input */
	size_t drained;
	struct event *timer; /* the head deadline, then the total limit */
	bool timer_is_head;
	uint64_t started, last_io;

	/* Where requests on this connection go. */
	char host[256];
	uint16_t port;
	bool is_ip;
	const char *rule;
	const struct inject_route *route;
	struct sockaddr_storage addrs[MAX_ADDRS];
	int n_addrs, next_addr;
	struct evdns_getaddrinfo_request *dns;
	char up_host[256]; /* what up is connected to */
	uint16_t up_port;
	bool up_connected;

	/* The request being handled. */
	struct http_request req;
	struct evbuffer *out_head; /* rewritten head, sent once connected */
	char method[16];
	char path[AUDIT_PATH_MAX];
	uint64_t req_started, bytes_up, bytes_down;
	bool req_keep_alive;
	bool req_done; /* body forwarded in full */
	enum http_body req_body;
	uint64_t req_left;
	struct http_chunked req_chunk;
	struct dlp_stream *dlp;
	struct dlp_hit hit;
	bool hit_block;
	struct evbuffer *held; /* scanned body bytes held back */

	/* The response. */
	bool resp_head;
	enum http_body resp_body;
	uint64_t resp_left;
	struct http_chunked resp_chunk;
	int status;
	bool resp_keep_alive;
	char reason[160];
	const char *verdict;
	bool audited;
};

static void conn_free(struct conn *c);
static void handle_cli(struct conn *c);
static void handle_up(struct conn *c);
static void start_connect(struct conn *c);

/* ---- lifetime --------------------------------------------------------- */

static void set_state(struct conn *c, enum conn_state s)
{
	log_debug("conn %p: %s -> %s", (void *)c, state_names[c->state],
		  state_names[s]);
	c->state = s;
}

static void conn_hold(struct conn *c)
{
	c->refs++;
}

static void conn_unhold(struct conn *c)
{
	if (--c->refs == 0 && c->closing)
		conn_free(c);
}

static void conn_close(struct conn *c)
{
	c->closing = true;
	if (c->refs == 0)
		conn_free(c);
}

static void audit_request(struct conn *c)
{
	struct audit_event e = {0};

	if (c->audited || !c->method[0])
		return;
	c->audited = true;
	e.method = c->method;
	e.host = c->host[0] ? c->host : NULL;
	e.port = c->port;
	e.path = c->path[0] ? c->path : NULL;
	e.mode = mode_names[c->mode];
	e.verdict = c->verdict ? c->verdict : "allow";
	e.status = c->status;
	e.rule = c->hit.rule ? c->hit.rule : c->rule;
	e.reason = c->reason[0] ? c->reason : NULL;
	e.bytes_up = c->bytes_up;
	e.bytes_down = c->bytes_down;
	e.usec = (now_ns() - c->req_started) / 1000;
	audit_log(c->b->audit, &e);
	c->b->n_requests++;
}

static void drop_up(struct conn *c)
{
	if (c->up)
		stream_free(c->up);
	c->up = NULL;
	c->up_connected = false;
	c->up_host[0] = '\0';
	c->up_throttled = false;
}

static void reset_request(struct conn *c)
{
	if (c->dlp)
		dlp_stream_free(c->dlp);
	c->dlp = NULL;
	if (c->out_head)
		evbuffer_drain(c->out_head, evbuffer_get_length(c->out_head));
	if (c->held)
		evbuffer_drain(c->held, evbuffer_get_length(c->held));
	c->method[0] = c->path[0] = c->reason[0] = '\0';
	c->bytes_up = c->bytes_down = 0;
	c->req_done = c->resp_head = c->audited = c->hit_block = false;
	c->status = 0;
	c->verdict = NULL;
	memset(&c->hit, 0, sizeof(c->hit));
}

static void conn_free(struct conn *c)
{
	audit_request(c);
	if (c->dns)
		evdns_getaddrinfo_cancel(c->dns);
	if (c->timer)
		event_free(c->timer);
	drop_up(c);
	if (c->cli)
		stream_free(c->cli);
	if (c->dlp)
		dlp_stream_free(c->dlp);
	if (c->out_head)
		evbuffer_free(c->out_head);
	if (c->held)
		evbuffer_free(c->held);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->b->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->b->n_conns--;
	free(c);
}

/* ---- answering the agent ---------------------------------------------- */

/* How long a closing connection keeps reading (and discarding) what the
 * agent still sends, so that closing with unread input does not reset
 * the connection before the agent has read our answer. */
#define LINGER_MS  2000
#define LINGER_MAX (1u << 20)

static void linger_or_close(struct conn *c)
{
	struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};

	/* An agent that closed its side already leaves nothing to wait for.
	 * NEEDSWORK: a TLS server end closes without lingering, so unread
	 * input (a body after a 403 block) may reset the connection before
	 * the agent has read the answer. */
	if (c->cli_tls || c->lingering || c->cli_eof) {
		conn_close(c);
		return;
	}
	c->lingering = true;
	shutdown(stream_fd(c->cli), SHUT_WR);
	stream_enable(c->cli, EV_READ);
	evtimer_add(c->timer, &tv);
}

/* Stop handling requests: send what is queued, then close. */
static void close_after_flush(struct conn *c)
{
	drop_up(c);
	set_state(c, CS_CLOSING);
	if (evbuffer_get_length(stream_output(c->cli)) == 0)
		linger_or_close(c);
}

/* Send a short error the agent can read, audit it, close after flushing.
 * verdict: "deny" (policy), "block" (DLP), "error" (everything else). */
static void respond_error(struct conn *c, int status, const char *verdict,
			  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

static void respond_error(struct conn *c, int status, const char *verdict,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->status = status;
	c->verdict = verdict;
	if (strcmp(verdict, "deny") == 0)
		c->b->n_denied++;
	else if (strcmp(verdict, "block") == 0)
		c->b->n_blocked++;
	if (!c->method[0])
		snprintf(c->method, sizeof(c->method), "-");
	audit_request(c);
	audit_flush(c->b->audit); /* refusals are rare and worth seeing now */
	drop_up(c);
	/* Only a connection still in HTTP can carry an answer. */
	if (c->state != CS_TUNNEL && c->state != CS_SNI && c->state != CS_TLS &&
	    !c->resp_head) {
		evbuffer_add_printf(stream_output(c->cli),
				    "HTTP/1.1 %d %s\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: %zu\r\n"
				    "X-Bottle-Verdict: %s\r\n"
				    "Connection: close\r\n\r\n"
				    "bottle: %s\n",
				    status, status_text(status),
				    strlen(c->reason) + 9, verdict, c->reason);
	}
	close_after_flush(c);
}

/* ---- relaying with backpressure ---------------------------------------- */

/* Stop reading from `from` while out, where its bytes go, is full (its
 * write callback turns reading back on). */
static void throttle(struct conn *c, struct stream *from, struct evbuffer *out)
{
	if (evbuffer_get_length(out) < c->b->limits.buffer_max)
		return;
	stream_disable(from, EV_READ);
	if (from == c->cli)
		c->cli_throttled = true;
	else
		c->up_throttled = true;
}

/* Move n bytes of from's input to to's output. */
static void relay(struct conn *c, struct stream *from, struct stream *to,
		  size_t n)
{
	struct evbuffer *out = stream_output(to);

	c->last_io = now_ns();
	evbuffer_remove_buffer(stream_input(from), out, n);
	throttle(c, from, out);
}

static void unthrottle(struct conn *c, struct stream *drained)
{
	if (evbuffer_get_length(stream_output(drained)) >=
	    c->b->limits.buffer_max)
		return;
	if (drained == c->up && c->cli_throttled) {
		c->cli_throttled = false;
		stream_enable(c->cli, EV_READ);
		handle_cli(c);
	} else if (drained == c->cli && c->up_throttled && c->up) {
		c->up_throttled = false;
		stream_enable(c->up, EV_READ);
		handle_up(c);
	}
}

/* ---- request head ------------------------------------------------------ */

static void redact_path(struct conn *c, struct slice path)
{
	size_t n = path.n < sizeof(c->path) - 1 ? path.n : sizeof(c->path) - 1;

	memcpy(c->path, path.p, n);
	c->path[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c->path[i] < 0x20 || c->path[i] == 0x7f)
			c->path[i] = '?';
	if (c->b->dlp)
		dlp_redact(c->b->dlp, c->path, n);
}

/* DLP over the request line, the decoded URL and the headers, before
 * anything leaves (and before injection, so the real token is never what
 * is scanned).  True when blocked; the agent has its 403. */
static bool dlp_head(struct conn *c, const char *head, size_t len)
{
	const struct http_request *r = &c->req;
	_cleanup_free_ char *dec = NULL;
	size_t n;

	if (!c->b->dlp)
		return false;
	if (dlp_scan(c->b->dlp, head, len, &c->hit) == 1)
		goto blocked;
	/* All of it: the target is under 64 KiB (the head's limit). */
	dec = xmalloc(r->target.n + 1);
	n = http_percent_decode(r->target.p, r->target.n, dec);
	if (dlp_scan(c->b->dlp, dec, n, &c->hit) == 1)
		goto blocked;
	memset(&c->hit, 0, sizeof(c->hit));
	return false;
blocked:
	respond_error(c, 403, "block",
		      "blocked: the request carries a secret (%s, %s %s)",
		      c->hit.rule, c->hit.category ? c->hit.category : "secret",
		      c->hit.encoding ? c->hit.encoding : "plain");
	return true;
}

/* The head we send upstream: origin-form, hop-by-hop headers dropped, the
 * route's header replaced by the real credential (intercept only: never
 * in clear text). */
static void build_out_head(struct conn *c)
{
	const struct http_request *r = &c->req;
	struct evbuffer *o = c->out_head;
	const struct inject_route *rt =
	    c->mode == MODE_INTERCEPT ? c->route : NULL;

	evbuffer_add(o, r->method.p, r->method.n);
	evbuffer_add(o, " ", 1);
	evbuffer_add(o, r->path.p, r->path.n);
	evbuffer_add(o, " HTTP/1.1\r\n", 11);
	if (r->form == TARGET_ABSOLUTE)
		evbuffer_add_printf(o, "Host: %.*s\r\n", (int)r->authority.n,
				    r->authority.p);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct http_header *h = &r->headers[i];
		if (http_header_is_hop(r, h))
			continue;
		/* A proxy replaces Host by the target's authority: the
		 * agent's own would reach another site behind the address
		 * that passed policy (domain fronting). */
		if (r->form == TARGET_ABSOLUTE && h->name.n == 4 &&
		    strncasecmp(h->name.p, "host", 4) == 0)
			continue;
		if (rt && h->name.n == strlen(rt->header) &&
		    strncasecmp(h->name.p, rt->header, h->name.n) == 0)
			continue;
		evbuffer_add(o, h->name.p, h->name.n);
		evbuffer_add(o, ": ", 2);
		evbuffer_add(o, h->value.p, h->value.n);
		evbuffer_add(o, "\r\n", 2);
	}
	if (r->chunked)
		evbuffer_add(o, "Transfer-Encoding: chunked\r\n", 28);
	if (!r->keep_alive)
		evbuffer_add(o, "Connection: close\r\n", 19);
	if (rt)
		evbuffer_add_printf(o, "%s: %s\r\n", rt->header, rt->value);
	evbuffer_add(o, "\r\n", 2);
}

/* Policy on the destination: host rules now, addresses after DNS. */
static bool check_host(struct conn *c)
{
	const char *reason = NULL;
	enum policy_verdict v = policy_check_host(
	    c->b->policy, c->host, c->port, c->is_ip, &c->rule, &reason);

	if (v == POLICY_DENY) {
		respond_error(c, 403, "deny", "%s:%u: %s", c->host, c->port,
			      reason ? reason : "not allowed");
		return false;
	}
	if (c->mode == MODE_TUNNEL && v == POLICY_INTERCEPT)
		c->mode = MODE_INTERCEPT;
	c->route = inject_find(c->b->inject, c->host, c->port);
	return true;
}

static void add_addr(struct conn *c, const struct sockaddr *sa, socklen_t len,
		     char *why, size_t why_len)
{
	if (c->n_addrs >= MAX_ADDRS)
		return;
	if (!policy_check_addr(c->b->policy, c->host, sa, why, why_len))
		return;
	memcpy(&c->addrs[c->n_addrs], sa, len);
	((struct sockaddr_in *)&c->addrs[c->n_addrs])->sin_port =
	    htons(c->port);
	c->n_addrs++;
}

static void install_cli_callbacks(struct conn *c);

static void resolved(struct conn *c)
{
	set_state(c, CS_CONNECT);
	c->next_addr = 0;
	if (c->mode == MODE_INTERCEPT && c->req.form == TARGET_AUTHORITY) {
		/* CONNECT to an intercepted host: answer now, handshake with
		 * the agent, connect upstream at its first request. */
		static const char ok[] =
		    "HTTP/1.1 200 Connection established\r\n\r\n";
		SSL_CTX *ctx;
		struct error err = ERROR_INIT;
		/* Loaded at the first intercepted CONNECT. */
		struct tls_ca *ca = bundle_ca(c->b, &err);

		if (!ca) {
			respond_error(c, 502, "error", "%s", err.msg);
			return;
		}
		ctx = tls_ca_server_ctx(ca, c->host, &err);
		if (!ctx) {
			respond_error(c, 502, "error",
				      "minting a certificate "
				      "for %s: %s",
				      c->host, err.msg);
			return;
		}
		/* The answer goes out in the clear, then the stream turns
		 * TLS server end, over whatever the agent sent past the
		 * CONNECT head already. */
		evbuffer_add(stream_output(c->cli), ok, sizeof(ok) - 1);
		if (stream_tls_server(c->cli, ctx) < 0) {
			respond_error(c, 502, "error", "TLS setup failed");
			return;
		}
		c->status = 200;
		c->cli_tls = true;
		set_state(c, CS_TLS);
		install_cli_callbacks(c);
		{
			/* The handshake and the first request inside get the
			 * head deadline (slowloris inside TLS). */
			struct timeval head = {
			    c->b->limits.head_timeout_ms / 1000,
			    (c->b->limits.head_timeout_ms % 1000) * 1000};
			c->timer_is_head = true;
			evtimer_add(c->timer, &head);
		}
		return;
	}
	start_connect(c);
}

static void on_dns(int result, struct evutil_addrinfo *res, void *arg)
{
	struct conn *c = arg;
	char why[160] = "";

	/* Cancelled from conn_free(): c is going away, touch nothing. */
	if (result == EVUTIL_EAI_CANCEL)
		return;
	c->dns = NULL;
	conn_hold(c);
	if (result != 0) {
		respond_error(c, 502, "error", "cannot resolve %s: %s", c->host,
			      evutil_gai_strerror(result));
		goto out;
	}
	for (struct evutil_addrinfo *a = res; a; a = a->ai_next)
		add_addr(c, a->ai_addr, (socklen_t)a->ai_addrlen, why,
			 sizeof(why));
	evutil_freeaddrinfo(res);
	if (!c->n_addrs) {
		respond_error(c, 403, "deny", "%s: %s", c->host,
			      why[0] ? why : "no usable address");
		goto out;
	}
	resolved(c);
out:
	conn_unhold(c);
}

/* Resolve c->host: an override or an IP literal needs no DNS. */
static void resolve(struct conn *c)
{
	const char *pin = policy_resolve_override(c->b->policy, c->host);
	const char *lit = pin ? pin : c->is_ip ? c->host : NULL;
	struct evutil_addrinfo hints = {0};
	char why[160] = "";

	c->n_addrs = 0;
	set_state(c, CS_RESOLVE);
	if (lit) {
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
		struct sockaddr_in s4 = {.sin_family = AF_INET};
		if (inet_pton(AF_INET, lit, &s4.sin_addr) == 1)
			add_addr(c, (struct sockaddr *)&s4, sizeof(s4), why,
				 sizeof(why));
		else if (inet_pton(AF_INET6, lit, &s6.sin6_addr) == 1)
			add_addr(c, (struct sockaddr *)&s6, sizeof(s6), why,
				 sizeof(why));
		if (!c->n_addrs) {
			respond_error(c, 403, "deny", "%s: %s", c->host,
				      why[0] ? why : "bad address");
			return;
		}
		resolved(c);
		return;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	conn_hold(c);
	c->dns = evdns_getaddrinfo(c->b->dns, c->host, NULL, &hints, on_dns, c);
	conn_unhold(c);
}

/* A request head is complete in the agent's input: decide its fate. */
static void on_request(struct conn *c)
{
	struct http_request *r = &c->req;
	struct evbuffer *in = stream_input(c->cli);
	const char *head =
	    (const char *)evbuffer_pullup(in, (ssize_t)r->head_len);
	bool inner = c->mode == MODE_INTERCEPT;
	struct error err = ERROR_INIT;

	reset_request(c);
	c->req_started = now_ns();
	snprintf(c->method, sizeof(c->method), "%.*s",
		 (int)(r->method.n < 15 ? r->method.n : 15), r->method.p);
	/* Built at the first request: without it nothing leaves (and the
	 * path cannot be redacted, so the audit line has none). */
	if (bundle_dlp(c->b, &err) < 0) {
		respond_error(c, 503, "error", "%s", err.msg);
		return;
	}
	redact_path(c, r->form == TARGET_AUTHORITY ? r->target : r->path);
	c->req_keep_alive = r->keep_alive && !c->cli_eof;

	if (inner) {
		/* Inside an intercepted CONNECT: the host is fixed. */
		if (r->form == TARGET_AUTHORITY) {
			respond_error(c, 400, "error",
				      "CONNECT inside CONNECT");
			return;
		}
		/* Origin-form names its host in Host (port 0: none). */
		if ((r->form == TARGET_ABSOLUTE || r->hostname[0]) &&
		    (strcmp(r->hostname, c->host) != 0 ||
		     (r->port != c->port &&
		      (r->form == TARGET_ABSOLUTE || r->port)))) {
			respond_error(c, 403, "deny",
				      "request for %s inside a "
				      "tunnel to %s",
				      r->hostname, c->host);
			return;
		}
		c->next_addr = 0;
	} else if (r->form == TARGET_AUTHORITY) {
		c->mode = MODE_TUNNEL;
		snprintf(c->host, sizeof(c->host), "%s", r->hostname);
		c->port = r->port;
		c->is_ip = r->host_is_ip;
	} else if (r->form == TARGET_ABSOLUTE) {
		if (r->scheme.n != 4) {
			respond_error(c, 400, "error",
				      "https:// through a "
				      "proxy needs CONNECT");
			return;
		}
		c->mode = MODE_HTTP;
		snprintf(c->host, sizeof(c->host), "%s", r->hostname);
		c->port = r->port;
		c->is_ip = r->host_is_ip;
	} else {
		respond_error(c, 400, "error",
			      "this is a proxy: send "
			      "absolute-form requests or CONNECT");
		return;
	}
	/* DLP first: a leak attempt is a block in the audit even when the
	 * host would have been denied anyway. */
	if (dlp_head(c, head, r->head_len))
		return;
	if (!inner && !check_host(c))
		return;
	if (r->form == TARGET_AUTHORITY) {
		/* An upstream kept alive from an earlier plain request must
		 * not carry this tunnel's requests (nor, intercepted, the
		 * injected credential in clear text). */
		drop_up(c);
		evbuffer_drain(in, r->head_len);
		resolve(c);
		return;
	}
	build_out_head(c);
	c->req_body = r->chunked      ? BODY_CHUNKED
		      : r->has_length ? BODY_LENGTH
				      : BODY_NONE;
	c->req_left = r->content_length;
	if (c->req_body == BODY_CHUNKED)
		http_chunked_init(&c->req_chunk);
	if (c->req_body == BODY_LENGTH && c->req_left == 0)
		c->req_body = BODY_NONE;
	c->req_done = c->req_body == BODY_NONE;
	if (!c->req_done && c->b->dlp)
		c->dlp = dlp_stream_new(c->b->dlp);
	evbuffer_drain(in, r->head_len);
	set_state(c, CS_EXCHANGE);
	/* Reuse the upstream connection when it goes to the same place. */
	if (c->up && c->up_connected && strcmp(c->up_host, c->host) == 0 &&
	    c->up_port == c->port) {
		evbuffer_add_buffer(stream_output(c->up), c->out_head);
		handle_cli(c);
		return;
	}
	drop_up(c);
	if (inner)
		start_connect(c); /* addresses passed at CONNECT time */
	else
		resolve(c);
}

static void read_head(struct conn *c)
{
	struct evbuffer *in = stream_input(c->cli);
	size_t len = evbuffer_get_length(in);
	struct evbuffer_ptr end;
	enum http_parse r;
	const char *buf;

	if (!len)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		/* Not complete yet; but lines already there may be bad. */
		if (len > HTTP_MAX_HEAD)
			len = HTTP_MAX_HEAD;
	} else {
		len = (size_t)end.pos + 4;
	}
	buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
	r = http_request_parse(buf, len, &c->req);
	if (r == HTTP_INCOMPLETE)
		return;
	if (r == HTTP_OK) {
		if (c->timer_is_head) {
			struct timeval tv = {
			    c->b->limits.total_timeout_ms / 1000,
			    (c->b->limits.total_timeout_ms % 1000) * 1000};
			c->timer_is_head = false;
			evtimer_add(c->timer, &tv);
		}
		on_request(c);
		return;
	}
	if (!c->method[0])
		snprintf(c->method, sizeof(c->method), "-");
	c->req_started = now_ns();
	if (r == HTTP_TOO_LARGE)
		respond_error(c, 431, "error", "%s",
			      c->req.error ? c->req.error : "head too large");
	else
		respond_error(c, 400, "error", "%s",
			      c->req.error ? c->req.error
					   : "malformed request");
}

/* ---- request body ------------------------------------------------------ */

/* Payload bytes of the body: scanned, and for a chunked body collected in
 * held (a length-delimited body is moved there whole by forward_body). */
static void feed_dlp(void *ctx, const char *p, size_t n)
{
	struct conn *c = ctx;

	if (c->req_body == BODY_CHUNKED)
		evbuffer_add(c->held, p, n);
	if (c->dlp && !c->hit_block &&
	    dlp_stream_feed(c->dlp, p, n, &c->hit) == 1)
		c->hit_block = true;
}

/* Send all but the last keep bytes of held upstream.  A chunked body is
 * re-chunked from its payload: the hold-back then counts payload bytes,
 * not framing (1-byte chunks would otherwise let most of a secret out
 * ahead of the decision), and chunk extensions and trailers, which DLP
 * never sees, are not forwarded. */
static void release_held(struct conn *c, size_t keep)
{
	struct evbuffer *out = stream_output(c->up);
	size_t n = evbuffer_get_length(c->held);
	bool chunked = c->req_body == BODY_CHUNKED;

	if (n > keep) {
		n -= keep;
		if (chunked)
			evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_remove_buffer(c->held, out, n);
		if (chunked)
			evbuffer_add(out, "\r\n", 2);
	}
	if (c->req_done && chunked)
		evbuffer_add(out, "0\r\n\r\n", 5);
	throttle(c, c->cli, out);
}

/* Forward what the agent sent of the body, scanned first.  The last
 * max_span scanned bytes stay behind until the next read is scanned too,
 * so a secret split across reads never leaves even in part. */
static void forward_body(struct conn *c)
{
	struct evbuffer *in = stream_input(c->cli);
	size_t avail = evbuffer_get_length(in), n = 0;
	const char *p;

	if (c->req_done || !avail || !c->up)
		return;
	if (c->req_body == BODY_LENGTH) {
		n = avail < c->req_left ? avail : (size_t)c->req_left;
		p = (const char *)evbuffer_pullup(in, (ssize_t)n);
		feed_dlp(c, p, n);
		c->req_left -= n;
		c->req_done = c->req_left == 0;
		evbuffer_remove_buffer(in, c->held, n);
	} else {
		ssize_t k;
		p = (const char *)evbuffer_pullup(in, (ssize_t)avail);
		k = http_chunked_feed(&c->req_chunk, p, avail, feed_dlp, c);
		if (k < 0) {
			respond_error(c, 400, "error", "bad chunked body: %s",
				      c->req_chunk.error);
			return;
		}
		n = (size_t)k;
		c->req_done = c->req_chunk.done;
		evbuffer_drain(in, n);
	}
	if (c->req_done && c->dlp && !c->hit_block &&
	    dlp_stream_finish(c->dlp, &c->hit) == 1)
		c->hit_block = true;
	if (c->hit_block) {
		respond_error(c, 403, "block",
			      "blocked: the request body carries a secret "
			      "(%s, %s)",
			      c->hit.rule,
			      c->hit.encoding ? c->hit.encoding : "plain");
		return;
	}
	c->bytes_up += n;
	c->last_io = now_ns();
	release_held(c, c->b->dlp && !c->req_done ? dlp_db_max_span(c->b->dlp)
						  : 0);
	if (c->req_done && c->dlp) {
		const struct dlp_hit *h = dlp_stream_logged(c->dlp);
		if (h)
			snprintf(c->reason, sizeof(c->reason), "dlp log: %s",
				 h->rule);
	}
}

/* ---- response ---------------------------------------------------------- */

static void response_done(struct conn *c)
{
	bool again = c->req_keep_alive && c->resp_keep_alive && c->req_done;

	audit_request(c);
	/* An upstream that sent more than its response is not reusable. */
	if (!c->resp_keep_alive || !c->req_done ||
	    (c->up && evbuffer_get_length(stream_input(c->up))))
		drop_up(c);
	if (!again) {
		close_after_flush(c);
		return;
	}
	set_state(c, CS_HEAD);
	read_head(c);
}

static bool read_resp_head(struct conn *c)
{
	struct evbuffer *in = stream_input(c->up);
	struct http_response resp;
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	struct slice m = {c->method, strlen(c->method)};
	size_t len;
	const char *buf;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) >= HTTP_MAX_HEAD)
			respond_error(c, 502, "error",
				      "upstream response "
				      "head too large");
		return false;
	}
	len = (size_t)end.pos + 4;
	buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
	if (http_response_parse(buf, len, &resp) != HTTP_OK) {
		respond_error(c, 502, "error",
			      "malformed upstream response: %s",
			      resp.error ? resp.error : "?");
		return false;
	}
	c->status = resp.status;
	c->bytes_down += len;
	relay(c, c->up, c->cli, len);
	if (resp.status >= 100 && resp.status < 200)
		return true; /* interim: the final head follows */
	c->resp_head = true;
	c->resp_keep_alive = resp.keep_alive;
	c->resp_body = http_response_body(&resp, m);
	c->resp_left = resp.content_length;
	if (c->resp_body == BODY_CHUNKED)
		http_chunked_init(&c->resp_chunk);
	if (c->resp_body == BODY_UNTIL_CLOSE)
		c->resp_keep_alive = false;
	return true;
}

static void forward_response(struct conn *c)
{
	struct evbuffer *in = stream_input(c->up);
	size_t avail;

	while (!c->resp_head) {
		if (!evbuffer_get_length(in) || !read_resp_head(c))
			return;
		if (c->state == CS_CLOSING)
			return;
	}
	avail = evbuffer_get_length(in);
	switch (c->resp_body) {
	case BODY_NONE:
		break;
	case BODY_LENGTH: {
		size_t n = avail < c->resp_left ? avail : (size_t)c->resp_left;
		relay(c, c->up, c->cli, n);
		c->bytes_down += n;
		c->resp_left -= n;
		if (c->resp_left)
			return;
		break;
	}
	case BODY_CHUNKED: {
		const char *p;
		ssize_t k;
		if (!avail)
			return;
		p = (const char *)evbuffer_pullup(in, (ssize_t)avail);
		k = http_chunked_feed(&c->resp_chunk, p, avail, NULL, NULL);
		if (k < 0) {
			respond_error(c, 502, "error", "bad chunked response");
			return;
		}
		relay(c, c->up, c->cli, (size_t)k);
		c->bytes_down += (size_t)k;
		if (!c->resp_chunk.done)
			return;
		break;
	}
	case BODY_UNTIL_CLOSE:
		relay(c, c->up, c->cli, avail);
		c->bytes_down += avail;
		return; /* ends at upstream EOF */
	}
	response_done(c);
}

/* ---- tunnels ----------------------------------------------------------- */

/* A tunnel carries TLS to the host the agent named, nothing else: the
 * ClientHello's SNI must match the CONNECT host (no fronting), and a
 * non-TLS stream would carry plain HTTP past DLP. */
static void check_sni(struct conn *c)
{
	struct evbuffer *in = stream_input(c->cli);
	size_t len = evbuffer_get_length(in);
	char name[256];
	unsigned alpn = 0;
	enum sni_result r;

	if (!len)
		return;
	r = sni_parse(evbuffer_pullup(in, (ssize_t)len), len, name, &alpn);
	switch (r) {
	case SNI_NEED_MORE:
		if (len < TLS_RECORD_MAX + 5)
			return;
		/* fall through */
	case SNI_MALFORMED:
	case SNI_NOT_TLS:
		respond_error(c, 403, "deny", "tunnel to %s: %s", c->host,
			      r == SNI_NOT_TLS ? "not TLS"
					       : "malformed ClientHello");
		return;
	case SNI_FOUND:
		if (strcmp(name, c->host) != 0) {
			respond_error(c, 403, "deny",
				      "tunnel to %s: TLS server name %s "
				      "differs",
				      c->host, name);
			return;
		}
		break;
	case SNI_NONE:
		break;
	}
	set_state(c, CS_TUNNEL);
}

static void pump_tunnel(struct conn *c, struct stream *from)
{
	struct stream *to = from == c->cli ? c->up : c->cli;
	size_t n = evbuffer_get_length(stream_input(from));

	if (!n || !to)
		return;
	if (from == c->cli)
		c->bytes_up += n;
	else
		c->bytes_down += n;
	relay(c, from, to, n);
}

/* ---- event callbacks --------------------------------------------------- */

static void handle_cli(struct conn *c)
{
	switch (c->state) {
	case CS_HEAD:
		read_head(c);
		break;
	case CS_SNI:
		check_sni(c);
		if (c->state == CS_TUNNEL)
			pump_tunnel(c, c->cli);
		break;
	case CS_TUNNEL:
		pump_tunnel(c, c->cli);
		break;
	case CS_EXCHANGE:
		forward_body(c);
		break;
	case CS_CLOSING: {
		struct evbuffer *in = stream_input(c->cli);
		c->drained += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->drained > LINGER_MAX)
			conn_close(c);
		break;
	}
	default:
		/* Not reading now: the input waits under its watermark. */
		break;
	}
}

static void handle_up(struct conn *c)
{
	switch (c->state) {
	case CS_TUNNEL:
	case CS_SNI:
		if (c->state == CS_TUNNEL)
			pump_tunnel(c, c->up);
		break;
	case CS_EXCHANGE:
		forward_response(c);
		break;
	default:
		break;
	}
}

static void cli_read(struct stream *st, void *arg)
{
	struct conn *c = arg;

	(void)st;
	conn_hold(c);
	handle_cli(c);
	conn_unhold(c);
}

static void cli_write(struct stream *st, void *arg)
{
	struct conn *c = arg;

	conn_hold(c);
	c->last_io = now_ns(); /* the agent is reading */
	if (c->state == CS_CLOSING &&
	    evbuffer_get_length(stream_output(st)) == 0)
		linger_or_close(c);
	else
		unthrottle(c, st);
	conn_unhold(c);
}

/* A stream timeout fires per direction; the connection is idle only
 * when no byte moved either way.  True when it was not idle (the timed-out
 * direction is re-armed).
 * NEEDSWORK: last_io moves when we relay or a write leaves the output
 * under buffer_max; an agent reading slower than about buffer_max per
 * idle timeout (~1 KiB/s by default) is cut although bytes still move. */
static bool still_busy(struct conn *c, struct stream *st, short what)
{
	uint64_t idle = (uint64_t)c->b->limits.idle_timeout_ms * 1000000ull;

	if (now_ns() - c->last_io >= idle)
		return false;
	if (what & STREAM_WRITING)
		stream_enable(st, EV_WRITE);
	if ((what & STREAM_READING) &&
	    !(st == c->cli ? c->cli_throttled : c->up_throttled))
		stream_enable(st, EV_READ);
	return true;
}

/* The agent shut its sending side.  A request already read still gets
 * its answer; a tunnel passes the half-close on and keeps relaying the
 * other way. */
static void cli_eof(struct conn *c)
{
	c->cli_eof = true;
	c->req_keep_alive = false;
	if (c->state == CS_TUNNEL && c->up) {
		pump_tunnel(c, c->cli);
		if (!evbuffer_get_length(stream_output(c->up)))
			shutdown(stream_fd(c->up), SHUT_WR);
		return;
	}
	if ((c->state == CS_RESOLVE || c->state == CS_CONNECT ||
	     c->state == CS_EXCHANGE) &&
	    c->req_done && c->req.form != TARGET_AUTHORITY)
		return;
	if (c->state == CS_HEAD) {
		/* Between requests: the last answer may still be queued. */
		close_after_flush(c);
		return;
	}
	if (c->state == CS_EXCHANGE && !c->resp_head)
		snprintf(c->reason, sizeof(c->reason),
			 "the agent closed mid-request");
	conn_close(c);
}

static void cli_event(struct stream *st, short what, void *arg)
{
	struct conn *c = arg;

	conn_hold(c);
	if (what & STREAM_CONNECTED) {
		/* The agent finished our TLS handshake (intercept). */
		audit_request(c);
		set_state(c, CS_HEAD);
		reset_request(c);
		read_head(c);
	} else if (what & STREAM_TIMEOUT) {
		if (still_busy(c, st, what))
			; /* the other direction is moving */
		else if (c->state == CS_HEAD &&
			 !evbuffer_get_length(stream_input(c->cli)))
			conn_close(c); /* an idle keep-alive: just close */
		else if (c->state == CS_HEAD)
			respond_error(c, 408, "error", "idle timeout");
		else {
			snprintf(c->reason, sizeof(c->reason), "idle timeout");
			c->verdict = "error";
			conn_close(c);
		}
	} else if (c->state == CS_TLS) {
		c->audited = false;
		c->status = 0;
		c->verdict = "error";
		snprintf(c->reason, sizeof(c->reason),
			 "TLS handshake with the agent failed");
		conn_close(c);
	} else if (what & STREAM_EOF) {
		stream_disable(st, EV_READ);
		cli_eof(c);
	} else {
		conn_close(c);
	}
	conn_unhold(c);
}

static void install_cli_callbacks(struct conn *c)
{
	struct timeval idle = {c->b->limits.idle_timeout_ms / 1000,
			       (c->b->limits.idle_timeout_ms % 1000) * 1000};

	stream_setcb(c->cli, cli_read, cli_write, cli_event, c);
	/* The write callback after every write under the limit: progress
	 * of a slow reader is I/O (still_busy), and relaying resumes before
	 * the output has run dry. */
	stream_set_marks(c->cli, c->b->limits.buffer_max,
			 c->b->limits.buffer_max);
	stream_set_timeouts(c->cli, &idle, &idle);
	stream_enable(c->cli, EV_READ | EV_WRITE);
}

static void up_read(struct stream *st, void *arg)
{
	struct conn *c = arg;

	(void)st;
	conn_hold(c);
	handle_up(c);
	conn_unhold(c);
}

static void up_write(struct stream *st, void *arg)
{
	struct conn *c = arg;

	conn_hold(c);
	c->last_io = now_ns();
	if (c->cli_eof && c->state == CS_TUNNEL &&
	    !evbuffer_get_length(stream_output(st)))
		shutdown(stream_fd(st), SHUT_WR);
	unthrottle(c, st);
	conn_unhold(c);
}

static void up_connected(struct conn *c)
{
	struct timeval idle = {c->b->limits.idle_timeout_ms / 1000,
			       (c->b->limits.idle_timeout_ms % 1000) * 1000};

	c->up_connected = true;
	{
		int one = 1;
		setsockopt(stream_fd(c->up), IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
	}
	snprintf(c->up_host, sizeof(c->up_host), "%s", c->host);
	c->up_port = c->port;
	stream_set_timeouts(c->up, &idle, &idle);
	if (c->mode == MODE_TUNNEL) {
		evbuffer_add(stream_output(c->cli),
			     "HTTP/1.1 200 Connection established\r\n\r\n", 39);
		c->status = 200;
		set_state(c, CS_SNI);
		check_sni(c);
		if (c->state == CS_TUNNEL)
			pump_tunnel(c, c->cli);
		return;
	}
	set_state(c, CS_EXCHANGE);
	evbuffer_add_buffer(stream_output(c->up), c->out_head);
	forward_body(c);
}

static void up_event(struct stream *st, short what, void *arg)
{
	struct conn *c = arg;

	conn_hold(c);
	if (what & STREAM_CONNECTED) {
		up_connected(c);
	} else if (!c->up_connected) {
		/* Connect or upstream handshake failed: next address. */
		char why[200], r[160];
		int e = EVUTIL_SOCKET_ERROR();
		bool tls = c->mode == MODE_INTERCEPT;
		bool bad_cert = tls && stream_tls_failure(st, r, sizeof(r));

		if (bad_cert)
			snprintf(why, sizeof(why), "%s", r);
		else if (what & STREAM_TIMEOUT)
			snprintf(why, sizeof(why), "connect timed out");
		else if (tls && r[0])
			snprintf(why, sizeof(why), "TLS handshake failed: %s",
				 r);
		else if (e)
			snprintf(why, sizeof(why), "%s",
				 evutil_socket_error_to_string(e));
		else
			snprintf(why, sizeof(why), "connection closed%s",
				 tls ? " during the TLS handshake" : "");
		if (bad_cert) {
			respond_error(c, 502, "error", "%s:%u: %s", c->host,
				      c->port, why);
		} else if (c->next_addr < c->n_addrs) {
			drop_up(c);
			start_connect(c);
		} else {
			respond_error(c, (what & STREAM_TIMEOUT) ? 504 : 502,
				      "error", "%s:%u: %s", c->host, c->port,
				      why);
		}
	} else if ((what & STREAM_TIMEOUT) && still_busy(c, st, what)) {
		; /* the agent's direction is moving */
	} else if (what & (STREAM_EOF | STREAM_ERROR | STREAM_TIMEOUT)) {
		if (c->state == CS_TUNNEL || c->state == CS_SNI) {
			pump_tunnel(c, c->up);
			drop_up(c);
			close_after_flush(c);
		} else if (c->resp_head && c->resp_body == BODY_UNTIL_CLOSE) {
			forward_response(c);
			drop_up(c);
			c->resp_keep_alive = false;
			response_done(c);
		} else if (c->state == CS_EXCHANGE) {
			/* NEEDSWORK: a kept-alive upstream that closed just
			 * as we reused it is a 502 here; a replayable request
			 * could be retried on a new connection instead. */
			if (!c->resp_head)
				respond_error(c, 502, "error",
					      "%s closed the "
					      "connection without a response",
					      c->host);
			else
				conn_close(c); /* truncated mid-body */
		} else {
			drop_up(c); /* idle keep-alive upstream went away */
		}
	}
	conn_unhold(c);
}

/* Connect to the next address that passed policy. */
static void start_connect(struct conn *c)
{
	const struct sockaddr *sa;
	struct timeval tv = {c->b->limits.connect_timeout_ms / 1000,
			     (c->b->limits.connect_timeout_ms % 1000) * 1000};
	socklen_t len;

	if (c->next_addr >= c->n_addrs) {
		respond_error(c, 502, "error", "%s: no address to connect to",
			      c->host);
		return;
	}
	sa = (const struct sockaddr *)&c->addrs[c->next_addr++];
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in);
	if (c->mode == MODE_INTERCEPT) {
		struct error err = ERROR_INIT;
		SSL_CTX *ctx = bundle_client_ctx(c->b, &err);
		if (!ctx) {
			respond_error(c, 502, "error", "TLS setup failed: %s",
				      err.msg);
			return;
		}
		c->up = stream_new(c->b->base, -1);
		if (c->up && stream_tls_client(c->up, ctx, c->host) < 0) {
			stream_free(c->up);
			c->up = NULL;
		}
	} else {
		c->up = stream_new(c->b->base, -1);
	}
	if (!c->up) {
		respond_error(c, 502, "error", "out of memory");
		return;
	}
	set_state(c, CS_CONNECT);
	stream_setcb(c->up, up_read, up_write, up_event, c);
	stream_set_marks(c->up, c->b->limits.buffer_max,
			 c->b->limits.buffer_max);
	stream_set_timeouts(c->up, &tv, &tv);
	stream_enable(c->up, EV_READ | EV_WRITE);
	if (stream_connect(c->up, sa, len) < 0)
		respond_error(c, 502, "error", "out of memory");
}

/* ---- accepting --------------------------------------------------------- */

static void on_total_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	conn_hold(c);
	if (c->state == CS_CLOSING && !c->lingering) {
		/* The answer is queued and the agent does not read it. */
		conn_close(c);
	} else if (c->lingering) {
		conn_close(c);
	} else if (c->timer_is_head) {
		c->req_started = now_ns();
		respond_error(c, 408, "error",
			      "request head not received in "
			      "%u s",
			      c->b->limits.head_timeout_ms / 1000);
	} else {
		snprintf(c->reason, sizeof(c->reason), "connection time limit");
		c->verdict = "error";
		conn_close(c);
	}
	conn_unhold(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct bundle *b = arg;
	struct timeval head = {b->limits.head_timeout_ms / 1000,
			       (b->limits.head_timeout_ms % 1000) * 1000};
	struct conn *c;
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	if (b->n_conns >= b->limits.max_conns) {
		log_warnx("connection limit (%u) reached; refusing one",
			  b->limits.max_conns);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->b = b;
	c->next = b->conns;
	if (b->conns)
		b->conns->prev = c;
	b->conns = c;
	b->n_conns++;
	c->started = now_ns();
	c->out_head = evbuffer_new();
	c->held = evbuffer_new();
	c->cli = stream_new(b->base, fd); /* closes fd on failure */
	c->timer = evtimer_new(b->base, on_total_timeout, c);
	if (!c->cli || !c->out_head || !c->held || !c->timer) {
		conn_free(c);
		return;
	}
	install_cli_callbacks(c);
	/* The head deadline (slowloris); reset per connection only: a slow
	 * keep-alive client is cut by the idle timeout instead. */
	c->timer_is_head = true;
	evtimer_add(c->timer, &head);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* EMFILE and friends: the pending connection stays in the backlog and the
 * listener would report it again at once, spinning the loop.  Pause
 * accepting for a moment; connections being served free descriptors. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct bundle *b = arg;
	struct timeval pause = {0, 100000};

	log_warn("accept (pausing 100 ms)");
	evconnlistener_disable(l);
	event_base_once(b->base, -1, EV_TIMEOUT, on_accept_resume, l, &pause);
}

void proxy_close_all(struct bundle *b)
{
	while (b->conns) {
		snprintf(b->conns->reason, sizeof(b->conns->reason),
			 "the bundle stopped");
		conn_free(b->conns);
	}
}

int proxy_serve(struct bundle *b, int listen_fd, struct error *err)
{
	struct evconnlistener *l;

	evutil_make_socket_nonblocking(listen_fd);
	l = evconnlistener_new(b->base, on_accept, b, LEV_OPT_CLOSE_ON_FREE, -1,
			       listen_fd);
	if (!l) {
		close(listen_fd);
		return err_set(err, ENOMEM, "serving the proxy");
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	b->proxy = l;
	return 0;
}
