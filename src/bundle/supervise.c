/* The supervise server: Streamable HTTP in front of mcp.c, and tool calls
 * that wait for the human.  See supervise.h and docs/supervise.md.
 *
 * One struct sv_conn per agent connection (STYLE rule 16):
 *
 *   SC_HEAD     reading a request head (idle timeout before its first
 *               byte, head timeout after)
 *   SC_BODY     reading its body (Content-Length or chunked, at most
 *               MCP_BODY_MAX)
 *   SC_WAIT     a tools/call waits for the human: nothing more is parsed;
 *               an SSE stream gets a keep-alive every keepalive_ms
 *   SC_CLOSING  flushing the last response, then reading until the peer
 *               closes (a lingering close), then free
 *
 * Memory is bounded per connection and in all (STYLE rule 17), since the
 * loop is the proxy's too:
 *   - a connection reads at most INPUT_MAX ahead of what it has parsed (a
 *     head, and what follows until the body is taken out);
 *   - bodies, as they are read, draw on one pool of BODY_POOL bytes for
 *     all connections; a body the pool cannot hold gets 503;
 *   - a connection parses no further request while more than
 *     out_limit() bytes of its answers wait to be read (OUTPUT_POOL shared
 *     out: 256 KiB each when there are few connections, 32 KiB with 256
 *     of them), and resumes once the agent has read them all; an SSE
 *     keep-alive to an agent that does not read is skipped.
 * So 256 connections hold at most about 17 + 16 + 16 MiB.
 *
 * The queue they wait on is supervise_queue.c.
 *
 * Nothing here blocks: the queue's writes are a few hundred bytes to the
 * page cache without fsync, and everything else is the loop's.
 */
#include "bundle/supervise.h"
#include "bundle/supervise_int.h"

#include "bundle/bundle.h"
#include "bundle/http.h"
#include "bundle/mcp.h"

#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/plan.h"
#include "lib/strbuf.h"
#include "lib/superq.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS    256
#define KEEPALIVE_MS 30000
/* Unparsed bytes a connection may have buffered: a head, and a little. */
#define INPUT_MAX (HTTP_MAX_HEAD + 4096)
/* Body bytes all connections together may hold. */
#define BODY_POOL (16u << 20)
/* Unread answers all connections together may hold, give or take one
 * answer each; a connection's share is kept between these two. */
#define OUTPUT_POOL (8u << 20)
#define OUTPUT_MIN  (32u << 10)
#define OUTPUT_MAX  (256u << 10)
/* What a closing connection may still send us before we cut it. */
#define LINGER_MAX (4u << 20)

static const char *const sc_names[] = {"head", "body", "wait", "closing"};

static void conn_free(struct sv_conn *c);
static void body_release(struct sv_conn *c);

/* ---- connection lifetime (as in proxy.c, STYLE rule 18) ----------------- */

static void set_state(struct sv_conn *c, enum sc_state st)
{
	log_debug("supervise conn %p: %s -> %s", (void *)c, sc_names[c->state],
		  sc_names[st]);
	c->state = st;
}

static void conn_hold(struct sv_conn *c)
{
	c->refs++;
}

static void conn_unhold(struct sv_conn *c)
{
	if (--c->refs == 0 && c->closing)
		conn_free(c);
}

static void conn_close(struct sv_conn *c)
{
	c->closing = true;
	if (c->refs == 0)
		conn_free(c);
}

static void arm_timer(struct sv_conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer, &tv);
}

static void conn_free(struct sv_conn *c)
{
	struct supervise *s = c->s;

	if (c->item)
		log_info("supervise: the connection waiting on request %s "
			 "closed; the request stays pending",
			 c->item->id);
	sv_detach(c);
	body_release(c);
	if (c->timer)
		event_free(c->timer);
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->body)
		evbuffer_free(c->body);
	free(c->call_id);
	free(c->token);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	free(c);
}

/* ---- HTTP responses --------------------------------------------------- */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* ---- memory ------------------------------------------------------------ */

/* Take n more body bytes from the pool; false when it lacks them. */
static bool body_reserve(struct sv_conn *c, size_t n)
{
	if (n > c->s->body_left)
		return false;
	c->s->body_left -= n;
	c->reserved += n;
	return true;
}

/* The body is no longer needed: drop it, and give its bytes back. */
static void body_release(struct sv_conn *c)
{
	if (c->body)
		evbuffer_drain(c->body, evbuffer_get_length(c->body));
	c->s->body_left += c->reserved;
	c->reserved = 0;
}

/* The unread answers a connection may hold before it stops parsing. */
static size_t out_limit(const struct supervise *s)
{
	size_t share = OUTPUT_POOL / (s->n_conns ? s->n_conns : 1);

	return share < OUTPUT_MIN   ? OUTPUT_MIN
	       : share > OUTPUT_MAX ? OUTPUT_MAX
				    : share;
}

static bool out_full(struct sv_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) >
	       out_limit(c->s);
}

/* The agent does not read its answers: read and parse nothing more of it
 * until it has read them all (on_write). */
static void conn_pause(struct sv_conn *c)
{
	log_debug("supervise conn %p: %zu bytes unread by the agent; pausing",
		  (void *)c,
		  evbuffer_get_length(bufferevent_get_output(c->bev)));
	c->paused = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* ---- requests and answers ----------------------------------------------- */

/* The request is answered: wait for the next one, or close. */
static void request_done(struct sv_conn *c)
{
	c->body_len = 0;
	c->chunked = c->body_too_large = c->body_busy = c->head_started = false;
	body_release(c);
	free(c->call_id);
	free(c->token);
	c->call_id = c->token = NULL;
	c->sse = false;
	if (!c->keep_alive) {
		/* Flush, send FIN (on_write), and read until the peer closes
		 * too: closing with a body unread would reset the connection
		 * and could destroy the response before the agent reads it.
		 * The head timer bounds a peer that never closes. */
		set_state(c, SC_CLOSING);
		arm_timer(c, c->s->b->limits.head_timeout_ms);
		return;
	}
	set_state(c, SC_HEAD);
	arm_timer(c, c->s->b->limits.idle_timeout_ms);
	/* Pipelined bytes: parse them from the loop, not from here, which
	 * may be an item's callback walking its waiters. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void respond(struct sv_conn *c, int status, const char *headers,
		    const char *ctype, const char *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
			    status_text(status));
	if (ctype)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n%s", len,
			    headers ? headers : "");
	if (c->keep_alive)
		evbuffer_add_printf(out, "Keep-Alive: timeout=%u\r\n\r\n",
				    c->s->b->limits.idle_timeout_ms / 1000);
	else
		evbuffer_add_printf(out, "Connection: close\r\n\r\n");
	evbuffer_add(out, body, len);
	request_done(c);
}

/* An error the agent can read: a JSON-RPC error with id null. */
static void http_error(struct sv_conn *c, int status, const char *headers,
		       int code, const char *msg)
{
	struct strbuf sb = STRBUF_INIT;

	mcp_error_reply(&sb, code, msg);
	respond(c, status, headers, "application/json", sb.buf, sb.len);
	strbuf_release(&sb);
}

static void sse_write(struct sv_conn *c, const char *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->http10) {
		evbuffer_add(out, data, len);
		return;
	}
	evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	evbuffer_add(out, "\r\n", 2);
}

/* A waiting tools/call with an SSE-capable client: answer at once with
 * a stream, so that the client's response-header timeout (undici: 300 s)
 * never fires; keep-alives follow, then the result. */
static void sse_start(struct sv_conn *c)
{
	static const char hello[] = ": waiting for the supervisor\n\n";

	c->sse = true;
	if (c->http10) /* no chunked coding: the end of the stream is EOF */
		c->keep_alive = false;
	evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/event-stream\r\n"
			    "Cache-Control: no-cache\r\n%s%s\r\n",
			    c->http10 ? "" : "Transfer-Encoding: chunked\r\n",
			    c->keep_alive ? "" : "Connection: close\r\n");
	sse_write(c, hello, sizeof(hello) - 1);
}

static void sse_message(struct sv_conn *c, const char *json, size_t len)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "event: message\ndata: ");
	strbuf_add(&sb, json, len);
	strbuf_addstr(&sb, "\n\n");
	sse_write(c, sb.buf, sb.len);
	strbuf_release(&sb);
}

/* The result of a tools/call, by whichever way the client waits. */
static void call_reply(struct sv_conn *c, const char *text, bool is_error)
{
	struct strbuf sb = STRBUF_INIT;

	mcp_call_reply(&sb, c->call_id, text, is_error);
	if (c->sse) {
		sse_message(c, sb.buf, sb.len);
		if (!c->http10)
			evbuffer_add(bufferevent_get_output(c->bev),
				     "0\r\n\r\n", 5);
		request_done(c);
	} else {
		respond(c, 200, NULL, "application/json", sb.buf, sb.len);
	}
	strbuf_release(&sb);
}

void sv_conn_answer(struct sv_conn *c, const char *text, bool is_error)
{
	conn_hold(c);
	call_reply(c, text, is_error);
	conn_unhold(c);
}

/* ---- tools/call ---------------------------------------------------------- */

static void call_report(struct sv_conn *c, const struct mcp_call *call)
{
	struct supervise *s = c->s;
	struct error err = ERROR_INIT;
	int r = superq_report(s->dir, s->b->bottle_id, call->subject, &err);

	if (r == -ENOSPC) {
		call_reply(c,
			   "The note was not recorded: this bottle's "
			   "report log is full.",
			   true);
		return;
	}
	if (r < 0) {
		log_warnx("supervise: %s", err.msg);
		call_reply(c, "The note could not be recorded.", true);
		return;
	}
	call_reply(c, "Noted; the supervisor will see it.", false);
}

/* Queue a new request for call; NULL after answering c with why not. */
static struct sv_item *queue_new(struct sv_conn *c, const struct mcp_call *call)
{
	struct supervise *s = c->s;
	struct superq_req r;
	struct error err = ERROR_INIT;
	struct sv_item *it;
	char msg[200];

	if (s->n_pending >= MAX_PENDING) {
		snprintf(msg, sizeof(msg),
			 "Too many requests (%u) already wait for the "
			 "supervisor; wait for their answers first.",
			 MAX_PENDING);
		call_reply(c, msg, true);
		return NULL;
	}
	if (s->n_requests >= MAX_REQUESTS) {
		snprintf(msg, sizeof(msg),
			 "This bottle has made %u requests to the supervisor, "
			 "the most it may; no more are queued.",
			 MAX_REQUESTS);
		call_reply(c, msg, true);
		return NULL;
	}
	if (superq_submit(s->dir, s->b->bottle_id, mcp_tool_name(call->tool),
			  call->args, &r, &err) < 0) {
		log_warnx("supervise: queueing: %s", err.msg);
		call_reply(
		    c, "The request could not be queued for the supervisor.",
		    true);
		return NULL;
	}
	s->n_requests++;
	it = sv_item_new(s, r.id, call->tool, call->args);
	superq_req_release(&r);
	log_info("supervise: request %s (%s) waits for the supervisor", it->id,
		 mcp_tool_name(it->tool));
	return it;
}

/* A valid tools/call: report at once; otherwise wait on the request (an
 * earlier identical one, or a new one). */
static void call_tool(struct sv_conn *c, struct mcp_call *call)
{
	struct supervise *s = c->s;
	struct sv_item *it;

	c->call_id = steal_ptr(&call->id);
	c->token = steal_ptr(&call->progress_token);
	if (call->tool == MCP_TOOL_REPORT) {
		call_report(c, call);
		return;
	}
	it = sv_item_match(s, call->tool, call->args);
	if (!it && !(it = queue_new(c, call)))
		return;
	if (!it->answered)
		sv_item_arm(it); /* a re-ask waits a whole timeout again */
	set_state(c, SC_WAIT);
	evtimer_del(c->timer);
	c->item = it;
	c->next_waiter = it->waiters;
	it->waiters = c;
	if (it->answered) {
		sv_item_deliver(it);
		return;
	}
	c->waited_ms = c->ticks = 0;
	if (c->accepts_sse) {
		sse_start(c);
		arm_timer(c, s->keepalive_ms);
	}
}

/* An SSE keep-alive: a progress notification when the client asked for
 * them, else a comment. */
static void keepalive(struct sv_conn *c)
{
	static const char comment[] = ": keep-alive\n\n";
	struct strbuf sb = STRBUF_INIT;
	char msg[96];

	c->waited_ms += c->s->keepalive_ms;
	if (out_full(c)) {
		/* The agent does not read: keeping it alive is moot, and
		 * piling up keep-alives would not be bounded. */
	} else if (c->token) {
		snprintf(msg, sizeof(msg),
			 "waiting for the supervisor (%llu s so far)",
			 (unsigned long long)(c->waited_ms / 1000));
		/* progress must grow with each notification: count them. */
		mcp_progress(&sb, c->token, ++c->ticks, msg);
		sse_message(c, sb.buf, sb.len);
		strbuf_release(&sb);
	} else {
		sse_write(c, comment, sizeof(comment) - 1);
	}
	arm_timer(c, c->s->keepalive_ms);
}

/* ---- requests ------------------------------------------------------------ */

static void handle_body(struct sv_conn *c, const char *body, size_t len)
{
	struct mcp_result res;
	char hdr[80], sid[33];
	unsigned char rnd[16];

	mcp_handle(&c->s->mc, body, len, &res);
	switch (res.outcome) {
	case MCP_REPLY:
		hdr[0] = '\0';
		if (res.initialized) {
			/* Any id will do: we keep no per-session state. */
			if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
				memset(rnd, 0x5a, sizeof(rnd));
			for (size_t i = 0; i < sizeof(rnd); i++)
				snprintf(sid + 2 * i, 3, "%02x", rnd[i]);
			snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s\r\n",
				 sid);
		}
		respond(c, 200, hdr, "application/json", res.reply.buf,
			res.reply.len);
		break;
	case MCP_ACCEPTED:
		respond(c, 202, NULL, NULL, "", 0);
		break;
	case MCP_CALL:
		call_tool(c, &res.call);
		break;
	}
	mcp_result_release(&res);
}

static const struct http_header *header(const struct http_request *req,
					const char *name)
{
	return http_header_find(req->headers, req->n_headers, name);
}

static bool value_has(const struct http_header *h, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; h && i + n <= h->value.n; i++)
		if (strncasecmp(h->value.p + i, needle, n) == 0)
			return true;
	return false;
}

/* Origin, if sent, must be where a bottle reaches us: its own loopback, or
 * a vm's gateway (MCP Streamable HTTP, "Security Warning": DNS
 * rebinding). */
static bool origin_ok(const struct http_header *h)
{
	static const char *const ok[] = {"http://127.0.0.1", "http://localhost",
					 "http://[::1]", "http://" VM_GATEWAY};

	if (!h)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		size_t n = strlen(ok[i]);
		if (h->value.n >= n && strncasecmp(h->value.p, ok[i], n) == 0 &&
		    (h->value.n == n || h->value.p[n] == ':'))
			return true;
	}
	return false;
}

static bool session_ok(const struct http_header *h)
{
	if (!h)
		return true;
	if (h->value.n == 0 || h->value.n > 128)
		return false;
	for (size_t i = 0; i < h->value.n; i++)
		if (h->value.p[i] < 0x21 || h->value.p[i] > 0x7e)
			return false;
	return true;
}

/* Route and check a parsed head: NULL when the body is to be read, else
 * the error message, with *status and *allow set. */
static const char *check_head(struct sv_conn *c, const struct http_request *req,
			      int *status, const char **allow)
{
	const struct http_header *ct = header(req, "content-type");
	const char *q = memchr(req->path.p, '?', req->path.n);
	size_t plen = q ? (size_t)(q - req->path.p) : req->path.n;
	bool post = req->method.n == 4 && memcmp(req->method.p, "POST", 4) == 0;

	c->keep_alive = req->keep_alive;
	c->http10 = req->minor == 0;
	c->accepts_sse = value_has(header(req, "accept"), "text/event-stream");
	c->body_len = req->content_length;
	c->chunked = req->chunked;
	*allow = NULL;
	*status = 400;
	if (req->form != TARGET_ORIGIN)
		return "expected an origin-form request for /mcp (this is "
		       "not a proxy)";
	*status = 404;
	if (plen != 4 || memcmp(req->path.p, "/mcp", 4) != 0)
		return "not found: the MCP endpoint is /mcp";
	*status = 405;
	*allow = "Allow: POST\r\n";
	if (!post)
		return "method not allowed: POST JSON-RPC messages to /mcp "
		       "(there is no server-initiated stream)";
	*allow = NULL;
	*status = 403;
	if (!origin_ok(header(req, "origin")))
		return "forbidden Origin: expected http://127.0.0.1, "
		       "http://localhost or http://" VM_GATEWAY;
	/* MCP-Protocol-Version is not checked: we answer every version
	 * alike, and Claude Code sends one newer than ours on its first
	 * request (a 400 makes it retry with an older one). */
	*status = 400;
	if (!session_ok(header(req, "mcp-session-id")))
		return "malformed Mcp-Session-Id";
	*status = 415;
	if (!ct || ct->value.n < 16 ||
	    strncasecmp(ct->value.p, "application/json", 16) != 0 ||
	    (ct->value.n > 16 && ct->value.p[16] != ';' &&
	     ct->value.p[16] != ' '))
		return "expected Content-Type: application/json";
	*status = 413;
	if (req->content_length > MCP_BODY_MAX)
		return "request body over 1 MiB";
	return NULL;
}

static const char busy_msg[] =
    "busy: the bodies of requests on other connections fill the server's "
    "memory for them (16 MiB); retry";

static void chunk_data(void *ctx, const char *p, size_t n)
{
	struct sv_conn *c = ctx;
	size_t have = evbuffer_get_length(c->body);

	if (c->body_too_large || c->body_busy)
		return;
	if (have + n > MCP_BODY_MAX)
		c->body_too_large = true;
	else if (have + n > c->reserved &&
		 !body_reserve(c, have + n - c->reserved))
		c->body_busy = true;
	else
		evbuffer_add(c->body, p, n);
}

/* SC_BODY: the body is complete when this returns true.  Its bytes move
 * out of the input as they come, so the input stays small. */
static bool read_body(struct sv_conn *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	ssize_t used;

	if (!c->chunked) {
		size_t want =
		    (size_t)c->body_len - evbuffer_get_length(c->body);

		evbuffer_remove_buffer(in, c->body,
				       avail < want ? avail : want);
		return evbuffer_get_length(c->body) == c->body_len;
	}
	used =
	    http_chunked_feed(&c->chunk, (const char *)evbuffer_pullup(in, -1),
			      avail, chunk_data, c);
	if (used < 0 || c->body_too_large || c->body_busy) {
		c->keep_alive = false;
		if (c->body_busy)
			http_error(c, 503, "Retry-After: 1\r\n",
				   MCP_SERVER_ERROR, busy_msg);
		else
			http_error(c, c->body_too_large ? 413 : 400, NULL,
				   MCP_INVALID_REQUEST,
				   c->body_too_large ? "request body over 1 MiB"
						     : c->chunk.error);
		return false;
	}
	evbuffer_drain(in, (size_t)used);
	return c->chunk.done;
}

/* Parse what has arrived, request after request, until more is needed
 * or a call waits. */
static void conn_read(struct sv_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct http_request req;
	const char *why, *allow;
	int status;

	if (c->state == SC_CLOSING) { /* lingering: discard, within bounds */
		c->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->lingered > LINGER_MAX)
			conn_close(c);
		return;
	}
	while (!c->closing && (c->state == SC_HEAD || c->state == SC_BODY)) {
		size_t avail = evbuffer_get_length(in);

		if (c->state == SC_HEAD) {
			size_t n =
			    avail < HTTP_MAX_HEAD ? avail : HTTP_MAX_HEAD;
			enum http_parse r;

			if (!avail)
				return;
			if (out_full(c)) {
				conn_pause(c);
				return;
			}
			if (!c->head_started) {
				c->head_started = true;
				arm_timer(c, c->s->b->limits.head_timeout_ms);
			}
			r = http_request_parse(
			    (const char *)evbuffer_pullup(in, (ssize_t)n), n,
			    &req);
			if (r == HTTP_INCOMPLETE)
				return;
			if (r != HTTP_OK) {
				c->keep_alive = false;
				http_error(c, r == HTTP_TOO_LARGE ? 431 : 400,
					   NULL, MCP_INVALID_REQUEST,
					   req.error);
				return;
			}
			if ((why = check_head(c, &req, &status, &allow))) {
				log_debug("supervise conn %p: %.*s: %d %s",
					  (void *)c, (int)req.method.n,
					  req.method.p, status, why);
				/* A body we do not read ends the connection. */
				if (req.chunked || req.content_length ||
				    status == 400 || status == 403)
					c->keep_alive = false;
				evbuffer_drain(in, req.head_len);
				http_error(c, status, allow,
					   MCP_INVALID_REQUEST, why);
				continue;
			}
			if (!req.chunked &&
			    !body_reserve(c, (size_t)req.content_length)) {
				c->keep_alive = false; /* its body is unread */
				evbuffer_drain(in, req.head_len);
				http_error(c, 503, "Retry-After: 1\r\n",
					   MCP_SERVER_ERROR, busy_msg);
				continue;
			}
			if (req.expect_continue &&
			    (req.chunked ||
			     avail - req.head_len < req.content_length))
				evbuffer_add_printf(
				    bufferevent_get_output(c->bev),
				    "HTTP/1.1 100 Continue\r\n\r\n");
			evbuffer_drain(in, req.head_len);
			http_chunked_init(&c->chunk);
			set_state(c, SC_BODY);
			continue;
		}
		if (!read_body(c, in))
			return;
		{
			size_t len = evbuffer_get_length(c->body);
			const char *p = (const char *)evbuffer_pullup(
			    c->body, (ssize_t)len);
			handle_body(c, p ? p : "", len);
			/* Parsed: a call that waits keeps only what it
			 * took out of it. */
			body_release(c);
		}
	}
}

/* ---- connection callbacks ------------------------------------------------ */

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sv_conn *c = arg;

	(void)bev;
	conn_hold(c);
	conn_read(c);
	conn_unhold(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct sv_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->paused) {
		/* The agent has read every answer: go on parsing what it
		 * sent meanwhile (from the loop, as request_done does). */
		c->paused = false;
		bufferevent_enable(bev, EV_READ);
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	}
	if (c->state != SC_CLOSING)
		return;
	if (c->peer_eof) {
		conn_close(c);
	} else if (!c->fin_sent) {
		c->fin_sent = true;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sv_conn *c = arg;

	/* The agent half-closed with our response still going out: send
	 * it, then close. */
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF) &&
	    c->state != SC_WAIT &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->peer_eof = true;
		c->keep_alive = false;
		if (c->state != SC_CLOSING) {
			set_state(c, SC_CLOSING);
			arm_timer(c, c->s->b->limits.head_timeout_ms);
		}
		return;
	}
	/* Otherwise the agent went away (a waiting request stays pending;
	 * conn_free says so). */
	conn_close(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_conn *c = arg;

	(void)fd;
	(void)what;
	conn_hold(c);
	if (c->state == SC_WAIT && c->sse) {
		keepalive(c);
	} else if (c->state != SC_CLOSING && c->head_started) {
		c->keep_alive = false;
		http_error(c, 408, NULL, MCP_INVALID_REQUEST,
			   "the request did not arrive in time");
	} else if (c->state != SC_WAIT) {
		conn_close(c); /* idle, or a peer that does not read */
	}
	conn_unhold(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct supervise *s = arg;
	struct sv_conn *c;
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	if (s->n_conns >= MAX_CONNS) {
		log_warnx("supervise: connection limit (%u) reached; refusing "
			  "one",
			  MAX_CONNS);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	c->bev = bufferevent_socket_new(s->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(s->b->base, on_timer, c);
	c->body = evbuffer_new();
	if (!c->bev || !c->timer || !c->body) {
		if (!c->bev)
			evutil_closesocket(fd);
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	arm_timer(c, s->b->limits.idle_timeout_ms);
}

/* ---- start and stop ------------------------------------------------------ */

static unsigned env_keepalive(void)
{
	const char *e = getenv("BOTTLE_SUPERVISE_KEEPALIVE_MS");
	unsigned long v = e ? strtoul(e, NULL, 10) : 0;

	return v > 0 && v < 3600000 ? (unsigned)v : KEEPALIVE_MS;
}

int supervise_start(struct bundle *b, unsigned timeout_s, int listen_fd,
		    struct error *err)
{
	struct supervise *s = xcalloc(1, sizeof(*s));
	int r;

	b->supervise = s;
	s->b = b;
	s->ino_fd = -1;
	s->mc.timeout_s = timeout_s ? timeout_s : SUPERVISE_TIMEOUT_DEFAULT;
	s->keepalive_ms = env_keepalive();
	s->body_left = BODY_POOL;
	s->dir = superq_dir(b->state_dir);
	if ((r = mkdir_p(s->dir, 0700, err)) < 0 ||
	    (r = sv_queue_watch(s, err)) < 0 ||
	    (r = sv_queue_load(s, err)) < 0) {
		close(listen_fd);
		return err_prefix(err, "supervise");
	}
	/* Answers that came while we loaded are seen by the watch. */
	sv_queue_rescan(s);
	evutil_make_socket_nonblocking(listen_fd);
	s->listener = evconnlistener_new(b->base, on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
	if (!s->listener) {
		close(listen_fd);
		return err_set(err, ENOMEM, "supervise: listener");
	}
	log_info("supervise: serving MCP (timeout %u s)", s->mc.timeout_s);
	return 0;
}

void supervise_stop(struct bundle *b)
{
	struct supervise *s = b->supervise;

	if (!s)
		return;
	if (s->listener)
		evconnlistener_free(s->listener);
	while (s->conns)
		conn_free(s->conns);
	while (s->items)
		sv_item_free(s->items);
	if (s->ino_ev)
		event_free(s->ino_ev);
	if (s->ino_fd >= 0)
		close(s->ino_fd);
	free(s->dir);
	free(s);
	b->supervise = NULL;
}
