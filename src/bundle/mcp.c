/* JSON-RPC 2.0 and the MCP methods of the supervise server.  See mcp.h.
 *
 * References: JSON-RPC 2.0 (jsonrpc.org/specification); MCP
 * 2025-06-18, "Base Protocol" (lifecycle, transports) and "Server
 * Features: Tools".  We keep no per-session state: every method behaves
 * the same whatever was negotiated, so a request is answered the same way
 * after a bundle restart as before it. */
#include "bundle/mcp.h"

#include "bundle/http.h"

#include "lib/json.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const versions[] = {MCP_VERSION_LATEST, "2025-03-26",
				       "2024-11-05"};

#define SERVER_NAME "bottle-supervise"

struct tool_arg {
	const char *name;
	bool required;
	const char *description;
};

struct tool_def {
	const char *name;
	const char *title;
	const char *description;
	bool blocks; /* waits for the human: the description says how long */
	struct tool_arg args[2];
};

static const struct tool_def tools[MCP_TOOL_COUNT] = {
    [MCP_TOOL_ASK] =
	{"ask_supervisor",
	 "Ask the human supervisor",
	 "Ask the human who supervises this bottle a question and wait for "
	 "the answer. Use it when you are blocked on something only they can "
	 "decide or know: unclear requirements, a choice between approaches "
	 "with real trade-offs, missing access. Without an answer in time the "
	 "result is an error saying so: carry on with your best judgement or "
	 "ask again later. Asking the same question again while it is still "
	 "open waits for the same answer rather than asking twice.",
	 true,
	 {{"question", true,
	   "The question, self-contained: the human may read it much later "
	   "and without your context."},
	  {"context", false,
	   "Optional background: what you tried, the options you see, what "
	   "you would do if nobody answers."}}},
    [MCP_TOOL_APPROVAL] =
	{"request_approval",
	 "Ask the human supervisor for approval",
	 "Ask the human who supervises this bottle to approve an action before "
	 "you take it: anything destructive, irreversible, costly or shared "
	 "(deleting data, migrations, force-pushes, publishing). The result "
	 "starts with APPROVED or DENIED and may carry a note from them; never "
	 "take a denied action, and treat no answer in time (an error result) "
	 "as not approved.",
	 true,
	 {{"action", true,
	   "Exactly what you want to do: the command, the files or the "
	   "target, concretely."},
	  {"reason", false, "Optional: why it is needed."}}},
    [MCP_TOOL_EGRESS] =
	{"request_egress",
	 "Ask the human supervisor for network access",
	 "Ask the human who supervises this bottle to let it reach a network "
	 "host that its egress allowlist blocks (the proxy answered 403 "
	 "\"host not in allowlist\"). If they approve, the host is allowed at "
	 "once, for the rest of this bottle's life: retry your request. One "
	 "host name per request: no IP addresses, no wildcards.",
	 true,
	 {{"host", true,
	   "The host name, with a port if it is not 80 or 443: "
	   "\"api.example.com\" or \"api.example.com:8443\"."},
	  {"reason", true,
	   "Why you need it: what you will fetch from or send to it."}}},
    [MCP_TOOL_REPORT] =
	{"report",
	 "Report progress to the human supervisor",
	 "Leave a short progress note for the human who supervises this "
	 "bottle: what you did, what is next, anything they should know. "
	 "Returns at once; there is no reply.",
	 false,
	 {{"message", true, "The note."}, {NULL, false, NULL}}},
};

const char *mcp_tool_name(enum mcp_tool t)
{
	return (unsigned)t < MCP_TOOL_COUNT ? tools[t].name : "?";
}

int mcp_tool_find(const char *name)
{
	for (int i = 0; name && i < MCP_TOOL_COUNT; i++)
		if (strcmp(name, tools[i].name) == 0)
			return i;
	return -1;
}

bool mcp_version_supported(const char *v, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		if (strlen(versions[i]) == len &&
		    memcmp(v, versions[i], len) == 0)
			return true;
	return false;
}

/* ---- responses ---------------------------------------------------------- */

static void begin_response(struct json_writer *w, struct strbuf *sb,
			   const struct json_value *id)
{
	json_writer_init(w, sb, 0);
	json_writer_begin_object(w);
	json_writer_kv_string(w, "jsonrpc", "2.0");
	json_writer_key(w, "id");
	if (id)
		json_writer_value(w, id);
	else
		json_writer_null(w);
}

static void error_to(struct strbuf *sb, const struct json_value *id, int code,
		     const char *msg)
{
	struct json_writer w;

	begin_response(&w, sb, id);
	json_writer_key(&w, "error");
	json_writer_begin_object(&w);
	json_writer_kv_int64(&w, "code", code);
	json_writer_kv_string(&w, "message", msg);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
}

__attribute__((format(printf, 4, 5))) static void
reply_error(struct mcp_result *out, const struct json_value *id, int code,
	    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->outcome = MCP_REPLY;
	strbuf_reset(&out->reply);
	error_to(&out->reply, id, code, msg);
}

void mcp_error_reply(struct strbuf *out, int code, const char *message)
{
	error_to(out, NULL, code, message);
}

void mcp_call_reply(struct strbuf *out, const char *id, const char *text,
		    bool is_error)
{
	struct json_writer w;

	json_writer_init(&w, out, 0);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "jsonrpc", "2.0");
	json_writer_key(&w, "id");
	json_writer_raw(&w, id);
	json_writer_key(&w, "result");
	json_writer_begin_object(&w);
	json_writer_key(&w, "content");
	json_writer_begin_array(&w);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "type", "text");
	json_writer_kv_string(&w, "text", text);
	json_writer_end_object(&w);
	json_writer_end_array(&w);
	json_writer_kv_bool(&w, "isError", is_error);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
}

void mcp_progress(struct strbuf *out, const char *token, uint64_t progress,
		  const char *message)
{
	struct json_writer w;

	json_writer_init(&w, out, 0);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "jsonrpc", "2.0");
	json_writer_kv_string(&w, "method", "notifications/progress");
	json_writer_key(&w, "params");
	json_writer_begin_object(&w);
	json_writer_key(&w, "progressToken");
	json_writer_raw(&w, token);
	json_writer_kv_uint64(&w, "progress", progress);
	if (message)
		json_writer_kv_string(&w, "message", message);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
}

/* ---- methods ------------------------------------------------------------ */

static void do_initialize(struct mcp_result *out, const struct json_value *id,
			  const struct json_value *params)
{
	const struct json_value *pv = json_obj_get(params, "protocolVersion");
	size_t len;
	const char *v = json_as_string(pv, &len);
	struct json_writer w;

	if (!v) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "initialize: params.protocolVersion must "
			    "be a string, got %s",
			    json_type_name(json_type(pv)));
		return;
	}
	/* Lifecycle, "Version Negotiation": the client's version when we
	 * speak it, else our latest (the client then decides). */
	if (!mcp_version_supported(v, len))
		v = MCP_VERSION_LATEST;
	begin_response(&w, &out->reply, id);
	json_writer_key(&w, "result");
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "protocolVersion", v);
	json_writer_key(&w, "capabilities");
	json_writer_begin_object(&w);
	json_writer_key(&w, "tools");
	json_writer_begin_object(&w);
	json_writer_kv_bool(&w, "listChanged", false);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
	json_writer_key(&w, "serverInfo");
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "name", SERVER_NAME);
	json_writer_kv_string(&w, "title", "bottle supervisor");
	json_writer_kv_string(&w, "version", BOTTLE_VERSION);
	json_writer_end_object(&w);
	json_writer_kv_string(
	    &w, "instructions",
	    "You run inside a bottle, a sandbox watched by a human "
	    "supervisor. These tools reach them: ask_supervisor for "
	    "questions, request_approval before risky actions, "
	    "request_egress when the proxy blocks a host you need, and "
	    "report for progress notes. The first three wait for the "
	    "human, who may take a while.");
	json_writer_end_object(&w);
	json_writer_end_object(&w);
	out->outcome = MCP_REPLY;
	out->initialized = true;
}

static void write_tool(struct json_writer *w, const struct mcp_config *c,
		       const struct tool_def *t)
{
	char desc[1024];

	snprintf(desc, sizeof(desc), "%s", t->description);
	if (t->blocks)
		snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc),
			 " The call waits for the human, at most %u seconds.",
			 c->timeout_s);
	json_writer_begin_object(w);
	json_writer_kv_string(w, "name", t->name);
	json_writer_kv_string(w, "title", t->title);
	json_writer_kv_string(w, "description", desc);
	json_writer_key(w, "inputSchema");
	json_writer_begin_object(w);
	json_writer_kv_string(w, "type", "object");
	json_writer_key(w, "properties");
	json_writer_begin_object(w);
	for (size_t i = 0; i < ARRAY_SIZE(t->args) && t->args[i].name; i++) {
		json_writer_key(w, t->args[i].name);
		json_writer_begin_object(w);
		json_writer_kv_string(w, "type", "string");
		json_writer_kv_string(w, "description", t->args[i].description);
		json_writer_kv_int64(w, "minLength",
				     t->args[i].required ? 1 : 0);
		json_writer_kv_int64(w, "maxLength", MCP_ARG_MAX);
		json_writer_end_object(w);
	}
	json_writer_end_object(w);
	json_writer_key(w, "required");
	json_writer_begin_array(w);
	for (size_t i = 0; i < ARRAY_SIZE(t->args) && t->args[i].name; i++)
		if (t->args[i].required)
			json_writer_string(w, t->args[i].name);
	json_writer_end_array(w);
	json_writer_kv_bool(w, "additionalProperties", false);
	json_writer_end_object(w);
	json_writer_end_object(w);
}

static void do_tools_list(struct mcp_result *out, const struct mcp_config *c,
			  const struct json_value *id,
			  const struct json_value *params)
{
	const struct json_value *cursor = json_obj_get(params, "cursor");
	struct json_writer w;

	if (cursor && json_type(cursor) != JSON_STRING) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "tools/list: params.cursor must be a "
			    "string, got %s",
			    json_type_name(json_type(cursor)));
		return;
	}
	/* One page holds them all; a cursor can only be stale. */
	begin_response(&w, &out->reply, id);
	json_writer_key(&w, "result");
	json_writer_begin_object(&w);
	json_writer_key(&w, "tools");
	json_writer_begin_array(&w);
	for (size_t i = 0; i < MCP_TOOL_COUNT; i++)
		write_tool(&w, c, &tools[i]);
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
	out->outcome = MCP_REPLY;
}

const char *mcp_egress_host(const char *s, size_t n, char *buf, size_t len)
{
	const char *why = NULL;
	char host[256];
	uint16_t port;
	bool is_ip;

	/* Only exact names: an IP or CIDR allow entry would lift the
	 * address rules (policy.h), so a human could open the host's
	 * loopback or a private network unawares; and "*.suffix" is a
	 * whole domain where the agent met one host. */
	if (memchr(s, '/', n))
		return "a host name, not a URL or an address range";
	if (n >= 2 && s[0] == '*' && s[1] == '.')
		return "a wildcard: ask for the one host name you need";
	if (http_authority_parse(s, n, false, host, &port, &is_ip, &why) < 0)
		return why;
	if (is_ip)
		return "an IP address: only host names are granted (and "
		       "their addresses must still pass the loopback and "
		       "private-range checks); an address must be in the "
		       "bottle's egress.allow";
	if (port)
		snprintf(buf, len, "%s:%u", host, port);
	else
		snprintf(buf, len, "%s", host);
	return NULL;
}

/* Check arguments against tool t's table; fill call->args (canonical),
 * subject and detail.  false after replying with an error. */
static bool check_args(struct mcp_result *out, const struct json_value *id,
		       enum mcp_tool t, const struct json_value *args)
{
	const struct tool_def *td = &tools[t];
	const char *val[2] = {NULL, NULL};
	char host[300];
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	for (size_t i = 0; i < json_obj_len(args); i++) {
		const char *key = json_obj_key(args, i, NULL);
		const struct json_value *v = json_obj_value(args, i);
		size_t k, len;
		const char *s;

		for (k = 0; k < 2 && td->args[k].name; k++)
			if (strcmp(key, td->args[k].name) == 0)
				break;
		if (k == 2 || !td->args[k].name) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "%s: unknown argument \"%.64s\" "
				    "(expected %s%s%s)",
				    td->name, key, td->args[0].name,
				    td->args[1].name ? ", " : "",
				    td->args[1].name ? td->args[1].name : "");
			return false;
		}
		if (!(s = json_as_string(v, &len))) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "%s: argument %s must be a string, got %s",
				    td->name, key,
				    json_type_name(json_type(v)));
			return false;
		}
		if (len > MCP_ARG_MAX) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "%s: argument %s is over %u bytes",
				    td->name, key, MCP_ARG_MAX);
			return false;
		}
		if (memchr(s, '\0', len)) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "%s: argument %s holds a NUL character",
				    td->name, key);
			return false;
		}
		val[k] = s;
	}
	for (size_t k = 0; k < 2 && td->args[k].name; k++) {
		if (td->args[k].required && (!val[k] || !*val[k])) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "%s: argument %s is required (a "
				    "non-empty string)",
				    td->name, td->args[k].name);
			return false;
		}
		if (val[k] && !*val[k])
			val[k] = NULL; /* an empty optional one is absent */
	}
	if (t == MCP_TOOL_EGRESS) {
		const char *why =
		    mcp_egress_host(val[0], strlen(val[0]), host, sizeof(host));
		if (why) {
			reply_error(out, id, MCP_INVALID_PARAMS,
				    "request_egress: host \"%.256s\": %s "
				    "(expected a host name, with a port if it "
				    "is not 80 or 443: name[:port])",
				    val[0], why);
			return false;
		}
		val[0] = host;
	}
	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	for (size_t k = 0; k < 2 && td->args[k].name; k++)
		if (val[k])
			json_writer_kv_string(&w, td->args[k].name, val[k]);
	json_writer_end_object(&w);
	out->call.args = strbuf_detach(&sb, NULL);
	out->call.subject = xstrdup(val[0]);
	out->call.detail = val[1] ? xstrdup(val[1]) : NULL;
	return true;
}

static char *to_json(const struct json_value *v)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	json_writer_init(&w, &sb, 0);
	json_writer_value(&w, v);
	return strbuf_detach(&sb, NULL);
}

/* A token or id: a string or an integer. */
static bool is_id(const struct json_value *v)
{
	int64_t i;

	return json_type(v) == JSON_STRING || json_as_int64(v, &i) == 0;
}

/* A string id or token over MCP_ID_MAX bytes: we echo ids in every reply
 * and a token in every keep-alive, so they are bounded. */
static bool id_too_long(const struct json_value *v)
{
	size_t len;

	return json_as_string(v, &len) && len > MCP_ID_MAX;
}

static void do_tools_call(struct mcp_result *out, const struct json_value *id,
			  const struct json_value *params)
{
	const struct json_value *name = json_obj_get(params, "name");
	const struct json_value *args = json_obj_get(params, "arguments");
	const struct json_value *meta = json_obj_get(params, "_meta");
	const struct json_value *token = json_obj_get(meta, "progressToken");
	const char *s = json_as_string(name, NULL);
	int t;

	if (!s) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "tools/call: params.name must be a string, "
			    "got %s",
			    json_type_name(json_type(name)));
		return;
	}
	if ((t = mcp_tool_find(s)) < 0) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "unknown tool \"%.64s\" (tools/list has "
			    "ask_supervisor, request_approval, "
			    "request_egress, report)",
			    s);
		return;
	}
	if (args && json_type(args) != JSON_OBJECT) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "tools/call: params.arguments must be an "
			    "object, got %s",
			    json_type_name(json_type(args)));
		return;
	}
	if ((meta && json_type(meta) != JSON_OBJECT) ||
	    (token && !is_id(token))) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "tools/call: params._meta.progressToken "
			    "must be a string or an integer");
		return;
	}
	if (token && id_too_long(token)) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "tools/call: params._meta.progressToken is over "
			    "%u bytes",
			    MCP_ID_MAX);
		return;
	}
	if (!check_args(out, id, (enum mcp_tool)t, args))
		return;
	out->outcome = MCP_CALL;
	out->call.tool = (enum mcp_tool)t;
	out->call.id = to_json(id);
	out->call.progress_token = token ? to_json(token) : NULL;
}

static void do_ping(struct mcp_result *out, const struct json_value *id)
{
	struct json_writer w;

	begin_response(&w, &out->reply, id);
	json_writer_key(&w, "result");
	json_writer_begin_object(&w);
	json_writer_end_object(&w);
	json_writer_end_object(&w);
	out->outcome = MCP_REPLY;
}

/* One parsed message. */
static void dispatch(struct mcp_result *out, const struct mcp_config *c,
		     const struct json_value *msg)
{
	const struct json_value *ver = json_obj_get(msg, "jsonrpc");
	const struct json_value *id = json_obj_get(msg, "id");
	const struct json_value *method = json_obj_get(msg, "method");
	const struct json_value *params = json_obj_get(msg, "params");
	const char *m = json_as_string(method, NULL);
	size_t vlen;
	const char *v = json_as_string(ver, &vlen);

	if (json_type(msg) == JSON_ARRAY) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "batches are not supported: send one "
			    "JSON-RPC message per request");
		return;
	}
	if (json_type(msg) != JSON_OBJECT) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "expected a JSON-RPC message (an object), "
			    "got %s",
			    json_type_name(json_type(msg)));
		return;
	}
	if (id && !is_id(id)) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "id must be a string or an integer, got %s",
			    json_type_name(json_type(id)));
		return;
	}
	if (id && id_too_long(id)) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "id is over %u bytes", MCP_ID_MAX);
		return;
	}
	if (!v || vlen != 3 || memcmp(v, "2.0", 3) != 0) {
		reply_error(out, id, MCP_INVALID_REQUEST,
			    "jsonrpc must be \"2.0\"");
		return;
	}
	if (!method && !id) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "expected a request (method and id), a "
			    "notification or a response");
		return;
	}
	if (!method &&
	    (json_obj_get(msg, "result") || json_obj_get(msg, "error"))) {
		out->outcome = MCP_ACCEPTED; /* a response: we asked nothing */
		return;
	}
	if (!m) {
		reply_error(out, id, MCP_INVALID_REQUEST,
			    "method must be a string, got %s",
			    json_type_name(json_type(method)));
		return;
	}
	if (params && json_type(params) != JSON_OBJECT) {
		reply_error(out, id, MCP_INVALID_PARAMS,
			    "params must be an object, got %s",
			    json_type_name(json_type(params)));
		return;
	}
	if (!id) {
		/* A notification (initialized, cancelled, ...): never
		 * answered, even when unknown (JSON-RPC 2.0 section 4.1). */
		out->outcome = MCP_ACCEPTED;
		return;
	}
	if (strcmp(m, "initialize") == 0)
		do_initialize(out, id, params);
	else if (strcmp(m, "ping") == 0)
		do_ping(out, id);
	else if (strcmp(m, "tools/list") == 0)
		do_tools_list(out, c, id, params);
	else if (strcmp(m, "tools/call") == 0)
		do_tools_call(out, id, params);
	else
		reply_error(out, id, MCP_METHOD_NOT_FOUND,
			    "method \"%.64s\" not found (this server has "
			    "initialize, ping, tools/list and tools/call)",
			    m);
}

void mcp_handle(const struct mcp_config *c, const char *body, size_t len,
		struct mcp_result *out)
{
	struct json_value *msg = NULL;
	struct error err = ERROR_INIT;

	memset(out, 0, sizeof(*out));
	strbuf_init(&out->reply, 0);
	if (len > MCP_BODY_MAX) {
		reply_error(out, NULL, MCP_INVALID_REQUEST,
			    "message over %u bytes", MCP_BODY_MAX);
		return;
	}
	if (json_parse(body, len, &msg, &err) < 0) {
		reply_error(out, NULL, MCP_PARSE_ERROR, "parse error: %s",
			    err.msg);
		return;
	}
	dispatch(out, c, msg);
	json_value_free(msg);
}

void mcp_result_release(struct mcp_result *r)
{
	strbuf_release(&r->reply);
	free(r->call.id);
	free(r->call.args);
	free(r->call.progress_token);
	free(r->call.subject);
	free(r->call.detail);
	memset(r, 0, sizeof(*r));
}
