/* The supervise server's JSON-RPC 2.0 / MCP layer, as a pure function:
 * the bytes of one POSTed message in, a response (or "no response", or a
 * tool call for the caller to carry out) out.  No I/O, no clock, no
 * globals, so it is unit-tested and fuzzed on its own (fuzz/fuzz_mcp.c);
 * supervise.c does the HTTP and the queue.  docs/supervise.md.
 *
 * Methods: initialize (protocol version negotiation), ping, tools/list,
 * tools/call; notifications and responses from the client are accepted
 * and ignored.  Errors are JSON-RPC errors: -32700 parse error, -32600
 * invalid request (also for batches, which we do not take, and for an id
 * over MCP_ID_MAX bytes), -32601 method
 * not found, -32602 invalid params (unknown tool, bad arguments).
 *
 * The tools and their arguments (each a string of at most MCP_ARG_MAX
 * bytes without NULs; other keys are refused):
 *   ask_supervisor    question, [context]      -> the human's answer
 *   request_approval  action, [reason]         -> approved / denied + note
 *   request_egress    host ("name[:port]": no IP, CIDR or wildcard),
 *                     reason                   -> approved: allowed at once
 *   report            message                  -> returns at once
 */
#ifndef BOTTLE_BUNDLE_MCP_H
#define BOTTLE_BUNDLE_MCP_H

#include "lib/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MCP_BODY_MAX (1u << 20) /* one POST body */
#define MCP_ARG_MAX  (16u << 10)
/* A string id or progress token (echoed in every reply or keep-alive). */
#define MCP_ID_MAX 256u
/* The protocol versions we speak, newest first. */
#define MCP_VERSION_LATEST "2025-06-18"

enum mcp_tool {
	MCP_TOOL_ASK = 0,
	MCP_TOOL_APPROVAL,
	MCP_TOOL_EGRESS,
	MCP_TOOL_REPORT,
	MCP_TOOL_COUNT,
};

/* The tool's name ("ask_supervisor", ...); -1 from mcp_tool_find() for an
 * unknown name. */
const char *mcp_tool_name(enum mcp_tool t);
int mcp_tool_find(const char *name);

/* request_egress's host s[0..n): a host name with an optional port,
 * never an IP literal, a CIDR or a "*.suffix".  NULL with it written
 * canonically (lowercased, "name" or "name:port") into buf[0..len),
 * or why not. */
const char *mcp_egress_host(const char *s, size_t n, char *buf, size_t len);

/* Is v one of the protocol versions we speak? */
bool mcp_version_supported(const char *v, size_t len);

struct mcp_config {
	unsigned timeout_s; /* how long a blocking tool waits; for the text */
};

enum mcp_outcome {
	MCP_REPLY,    /* reply holds a JSON-RPC response (HTTP 200) */
	MCP_ACCEPTED, /* a notification or a response: HTTP 202, no body */
	MCP_CALL,     /* a valid tools/call: carry out call, then answer
		       * with mcp_call_reply() */
};

struct mcp_call {
	enum mcp_tool tool;
	char *id;	      /* the request's id, as JSON text */
	char *args;	      /* the arguments, canonical: a compact JSON
			       * object with the tool's keys in a fixed
			       * order, absent optional ones left out */
	char *progress_token; /* params._meta.progressToken as JSON text,
			       * or NULL */
	/* The main argument (question, action, host, message) and the second
	 * one or NULL, pointing into nothing: copies, NUL-free. */
	char *subject;
	char *detail;
};

struct mcp_result {
	enum mcp_outcome outcome;
	struct strbuf reply; /* MCP_REPLY */
	struct mcp_call call;
	bool initialized; /* the reply answers initialize */
};

/* Handle one message, body[0..len) (any bytes; the caller bounds len).
 * out is overwritten; release it with mcp_result_release().  Never fails:
 * bad input gives a JSON-RPC error reply. */
void mcp_handle(const struct mcp_config *c, const char *body, size_t len,
		struct mcp_result *out);
void mcp_result_release(struct mcp_result *r);

/* Append the response to a tools/call with id (JSON text) to out: one
 * text content item, and isError. */
void mcp_call_reply(struct strbuf *out, const char *id, const char *text,
		    bool is_error);

/* Append a notifications/progress message for token (JSON text). */
void mcp_progress(struct strbuf *out, const char *token, uint64_t progress,
		  const char *message);

/* Append a JSON-RPC error response with id null (for errors found before
 * the body is parsed, such as one too large). */
void mcp_error_reply(struct strbuf *out, int code, const char *message);

#define MCP_PARSE_ERROR	     (-32700)
#define MCP_INVALID_REQUEST  (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS   (-32602)
/* Implementation-defined (JSON-RPC 2.0, 5.1): the server is busy. */
#define MCP_SERVER_ERROR (-32000)

#endif
