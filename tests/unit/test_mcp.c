/* The supervise server's JSON-RPC handler (bundle/mcp.h), as a pure
 * function: messages in, replies (parsed back and checked) out. */
#include "bundle/mcp.h"

#include "lib/json.h"
#include "lib/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static const struct mcp_config conf = {.timeout_s = 600};

struct reply {
	struct mcp_result res;
	struct json_value *v; /* the reply, parsed, for MCP_REPLY */
};

static void handle(struct reply *r, const char *msg)
{
	struct error err = ERROR_INIT;

	mcp_handle(&conf, msg, strlen(msg), &r->res);
	r->v = NULL;
	if (r->res.outcome == MCP_REPLY &&
	    json_parse(r->res.reply.buf, r->res.reply.len, &r->v, &err) < 0)
		fail_msg("reply is not JSON: %s: %s", err.msg,
			 r->res.reply.buf);
}

static void release(struct reply *r)
{
	json_value_free(r->v);
	mcp_result_release(&r->res);
}

/* msg gets an error reply with code; its message contains needle (or
 * NULL); its id is id_json ("null", "1", "\"a\""). */
static void expect_error(const char *msg, int code, const char *id_json,
			 const char *needle)
{
	struct reply r;
	const struct json_value *e;
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	int64_t got;

	handle(&r, msg);
	if (r.res.outcome != MCP_REPLY)
		fail_msg("%s: expected an error reply", msg);
	e = json_obj_get(r.v, "error");
	assert_int_equal(json_as_int64(json_obj_get(e, "code"), &got), 0);
	if (got != code)
		fail_msg("%s: code %lld, expected %d (%s)", msg, (long long)got,
			 code, r.res.reply.buf);
	if (needle &&
	    !strstr(json_as_string(json_obj_get(e, "message"), NULL), needle))
		fail_msg("%s: message lacks \"%s\": %s", msg, needle,
			 r.res.reply.buf);
	assert_string_equal(json_as_string(json_obj_get(r.v, "jsonrpc"), NULL),
			    "2.0");
	json_writer_init(&w, &sb, 0);
	json_writer_value(&w, json_obj_get(r.v, "id"));
	assert_string_equal(sb.buf, id_json);
	strbuf_release(&sb);
	assert_null(json_obj_get(r.v, "result"));
	release(&r);
}

static void test_jsonrpc_errors(void **state)
{
	(void)state;
	expect_error("", MCP_PARSE_ERROR, "null", "parse error");
	expect_error("{\"jsonrpc\":\"2.0\",", MCP_PARSE_ERROR, "null", NULL);
	expect_error("\xff", MCP_PARSE_ERROR, "null", NULL);
	expect_error("1", MCP_INVALID_REQUEST, "null", "got number");
	expect_error("\"x\"", MCP_INVALID_REQUEST, "null", "got string");
	expect_error("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
		     MCP_INVALID_REQUEST, "null", "batch");
	expect_error("[]", MCP_INVALID_REQUEST, "null", "batch");
	expect_error("{\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST, "1",
		     "jsonrpc");
	expect_error("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "1", "jsonrpc");
	expect_error("{\"jsonrpc\":2,\"id\":\"a\",\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "\"a\"", "jsonrpc");
	/* Ids: a string or an integer, never null, fractional or a
	 * container. */
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "null", "got null");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "null", "id must be");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "null", "got array");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "null", "got bool");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":7}", MCP_INVALID_REQUEST, "7",
		     "method must be a string");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":3}",
		     MCP_INVALID_REQUEST, "7", "got number");
	expect_error("{\"jsonrpc\":\"2.0\"}", MCP_INVALID_REQUEST, "null",
		     NULL);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":"
		     "\"resources/list\"}",
		     MCP_METHOD_NOT_FOUND, "\"x\"", "resources/list");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":-9,\"method\":\"ping\","
		     "\"params\":[1]}",
		     MCP_INVALID_PARAMS, "-9", "params must be an object");
}

static void expect_outcome(const char *msg, enum mcp_outcome o)
{
	struct reply r;

	handle(&r, msg);
	if (r.res.outcome != o)
		fail_msg("%s: outcome %d, expected %d", msg, r.res.outcome, o);
	release(&r);
}

static void test_notifications(void **state)
{
	(void)state;
	expect_outcome("{\"jsonrpc\":\"2.0\",\"method\":"
		       "\"notifications/initialized\"}",
		       MCP_ACCEPTED);
	expect_outcome("{\"jsonrpc\":\"2.0\",\"method\":"
		       "\"notifications/cancelled\",\"params\":{\"requestId\":"
		       "1}}",
		       MCP_ACCEPTED);
	/* Unknown notifications are never answered, not even with an
	 * error. */
	expect_outcome("{\"jsonrpc\":\"2.0\",\"method\":\"no/such\"}",
		       MCP_ACCEPTED);
	expect_outcome("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
		       MCP_ACCEPTED);
	expect_outcome("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,"
		       "\"message\":\"x\"}}",
		       MCP_ACCEPTED);
}

static const char *init_version(const char *asked)
{
	static char got[32];
	char msg[256];
	struct reply r;
	const struct json_value *res;

	snprintf(msg, sizeof(msg),
		 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		 "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{},"
		 "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
		 asked);
	handle(&r, msg);
	assert_int_equal(r.res.outcome, MCP_REPLY);
	assert_true(r.res.initialized);
	res = json_obj_get(r.v, "result");
	assert_non_null(
	    json_obj_get(json_obj_get(res, "capabilities"), "tools"));
	assert_string_equal(
	    json_as_string(
		json_obj_get(json_obj_get(res, "serverInfo"), "name"), NULL),
	    "bottle-supervise");
	snprintf(got, sizeof(got), "%s",
		 json_as_string(json_obj_get(res, "protocolVersion"), NULL));
	release(&r);
	return got;
}

static void test_initialize(void **state)
{
	(void)state;
	assert_string_equal(init_version("2025-06-18"), "2025-06-18");
	assert_string_equal(init_version("2025-03-26"), "2025-03-26");
	assert_string_equal(init_version("2024-11-05"), "2024-11-05");
	assert_string_equal(init_version("2099-01-01"), MCP_VERSION_LATEST);
	assert_string_equal(init_version("2025-06-1"), MCP_VERSION_LATEST);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		     "\"params\":{}}",
		     MCP_INVALID_PARAMS, "0", "protocolVersion");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		     "\"params\":{\"protocolVersion\":20250618}}",
		     MCP_INVALID_PARAMS, "0", "got number");
	assert_true(mcp_version_supported("2024-11-05", 10));
	assert_false(mcp_version_supported("2024-11-0", 9));
}

static void test_ping_and_list(void **state)
{
	struct reply r;
	const struct json_value *tools, *t, *schema;

	(void)state;
	handle(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
	assert_int_equal(r.res.outcome, MCP_REPLY);
	assert_int_equal(json_type(json_obj_get(r.v, "result")), JSON_OBJECT);
	assert_int_equal(json_obj_len(json_obj_get(r.v, "result")), 0);
	release(&r);

	handle(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\","
		   "\"params\":{}}");
	tools = json_obj_get(json_obj_get(r.v, "result"), "tools");
	assert_int_equal(json_array_len(tools), MCP_TOOL_COUNT);
	for (size_t i = 0; i < MCP_TOOL_COUNT; i++) {
		t = json_array_get(tools, i);
		assert_string_equal(
		    json_as_string(json_obj_get(t, "name"), NULL),
		    mcp_tool_name((enum mcp_tool)i));
		assert_true(strlen(json_as_string(
				json_obj_get(t, "description"), NULL)) > 80);
		schema = json_obj_get(t, "inputSchema");
		assert_string_equal(
		    json_as_string(json_obj_get(schema, "type"), NULL),
		    "object");
		assert_true(json_array_len(json_obj_get(schema, "required")) >=
			    1);
	}
	/* The blocking tools say how long they wait. */
	assert_non_null(strstr(
	    json_as_string(
		json_obj_get(json_array_get(tools, 0), "description"), NULL),
	    "600 seconds"));
	release(&r);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\","
		     "\"params\":{\"cursor\":5}}",
		     MCP_INVALID_PARAMS, "2", "cursor");
}

/* A tools/call of tool with arguments (JSON text). */
static void call(struct reply *r, const char *tool, const char *args)
{
	char *msg = xasprintf(
	    "{\"jsonrpc\":\"2.0\",\"id\":\"c-1\",\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
	    tool, args);

	handle(r, msg);
	free(msg);
}

static void expect_call(const char *tool, const char *args,
			const char *canonical)
{
	struct reply r;

	call(&r, tool, args);
	if (r.res.outcome != MCP_CALL)
		fail_msg("%s %s: not a call: %s", tool, args, r.res.reply.buf);
	assert_string_equal(mcp_tool_name(r.res.call.tool), tool);
	assert_string_equal(r.res.call.args, canonical);
	assert_string_equal(r.res.call.id, "\"c-1\"");
	assert_null(r.res.call.progress_token);
	release(&r);
}

static void expect_bad_call(const char *tool, const char *args,
			    const char *needle)
{
	char *msg = xasprintf(
	    "{\"jsonrpc\":\"2.0\",\"id\":\"c-1\",\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
	    tool, args);

	expect_error(msg, MCP_INVALID_PARAMS, "\"c-1\"", needle);
	free(msg);
}

static void test_tools_call(void **state)
{
	(void)state;
	/* Canonical: the tool's keys in its order, empty optional ones
	 * dropped, egress hosts lowercased. */
	expect_call("ask_supervisor", "{\"context\":\"c\",\"question\":\"q?\"}",
		    "{\"question\":\"q?\",\"context\":\"c\"}");
	expect_call("ask_supervisor", "{\"question\":\"q\",\"context\":\"\"}",
		    "{\"question\":\"q\"}");
	expect_call("request_approval", "{\"action\":\"rm -rf /data\"}",
		    "{\"action\":\"rm -rf /data\"}");
	expect_call("request_egress",
		    "{\"host\":\"API.Example.com:8443\",\"reason\":\"r\"}",
		    "{\"host\":\"api.example.com:8443\",\"reason\":\"r\"}");
	expect_call("request_egress",
		    "{\"host\":\"LocalHost.:6379\",\"reason\":\"r\"}",
		    "{\"host\":\"localhost:6379\",\"reason\":\"r\"}");
	expect_call("report", "{\"message\":\"half done \\u00e9\"}",
		    "{\"message\":\"half done \xc3\xa9\"}");

	expect_bad_call("no_such_tool", "{}", "unknown tool");
	expect_bad_call("ask_supervisor", "{}", "question is required");
	expect_bad_call("ask_supervisor", "{\"question\":\"\"}",
			"question is required");
	expect_bad_call("ask_supervisor", "{\"question\":1}", "got number");
	expect_bad_call("ask_supervisor", "{\"question\":null}", "got null");
	expect_bad_call("ask_supervisor", "{\"question\":\"q\",\"x\":\"y\"}",
			"unknown argument \"x\"");
	expect_bad_call("ask_supervisor", "{\"question\":\"a\\u0000b\"}",
			"NUL");
	expect_bad_call("ask_supervisor", "[\"q\"]", "arguments must be");
	expect_bad_call("request_egress", "{\"host\":\"example.com\"}",
			"reason is required");
	expect_bad_call("request_egress",
			"{\"host\":\"http://example.com/\",\"reason\":\"r\"}",
			"not a URL");
	expect_bad_call("request_egress",
			"{\"host\":\"10.0.0.0/8\",\"reason\":\"r\"}",
			"not a URL");
	expect_bad_call("request_egress",
			"{\"host\":\"a b.com\",\"reason\":\"r\"}",
			"expected a host name");
	/* Host names only: an IP or CIDR grant would lift the proxy's
	 * loopback and private-range rules; a wildcard is a whole domain. */
	expect_bad_call("request_egress",
			"{\"host\":\"*.10.0.0.1\",\"reason\":\"r\"}",
			"a wildcard");
	expect_bad_call("request_egress",
			"{\"host\":\"*.Example.com\",\"reason\":\"r\"}",
			"a wildcard");
	expect_bad_call("request_egress",
			"{\"host\":\"127.0.0.1:6379\",\"reason\":\"r\"}",
			"an IP address");
	expect_bad_call("request_egress",
			"{\"host\":\"10.1.2.3\",\"reason\":\"r\"}",
			"an IP address");
	expect_bad_call("request_egress",
			"{\"host\":\"[::1]:8080\",\"reason\":\"r\"}",
			"an IP address");
	expect_bad_call("request_egress",
			"{\"host\":\"[::ffff:127.0.0.1]\",\"reason\":\"r\"}",
			"an IP address");
	expect_bad_call("request_egress", "{\"host\":\"::1\",\"reason\":\"r\"}",
			"expected a host name");
	expect_bad_call("request_egress",
			"{\"host\":\"2130706433:80\",\"reason\":\"r\"}",
			"expected a host name");
	expect_bad_call("request_egress",
			"{\"host\":\"127.1\",\"reason\":\"r\"}",
			"expected a host name");
	expect_bad_call("request_egress",
			"{\"host\":\"fd00::/8\",\"reason\":\"r\"}",
			"address range");
	expect_bad_call("request_egress",
			"{\"host\":\"x.com:99999\",\"reason\":\"r\"}",
			"expected a host name");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		     "\"params\":{\"arguments\":{}}}",
		     MCP_INVALID_PARAMS, "1", "params.name");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}",
		     MCP_INVALID_PARAMS, "1", "params.name");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		     "\"params\":{\"name\":\"report\",\"arguments\":{"
		     "\"message\":\"m\"},\"_meta\":{\"progressToken\":{}}}}",
		     MCP_INVALID_PARAMS, "1", "progressToken");
}

static void test_arg_bounds(void **state)
{
	struct strbuf args = STRBUF_INIT;
	struct reply r;

	(void)state;
	/* Exactly MCP_ARG_MAX bytes is fine; one more is not. */
	strbuf_addstr(&args, "{\"question\":\"");
	for (size_t i = 0; i < MCP_ARG_MAX; i++)
		strbuf_addch(&args, 'a');
	strbuf_addstr(&args, "\"}");
	call(&r, "ask_supervisor", args.buf);
	assert_int_equal(r.res.outcome, MCP_CALL);
	release(&r);
	strbuf_reset(&args);
	strbuf_addstr(&args, "{\"question\":\"");
	for (size_t i = 0; i <= MCP_ARG_MAX; i++)
		strbuf_addch(&args, 'a');
	strbuf_addstr(&args, "\"}");
	expect_bad_call("ask_supervisor", args.buf, "over 16384 bytes");
	strbuf_release(&args);
	/* The whole message is bounded too. */
	{
		char *big = xmalloc(MCP_BODY_MAX + 2);
		memset(big, ' ', MCP_BODY_MAX + 1);
		big[MCP_BODY_MAX + 1] = '\0';
		expect_error(big, MCP_INVALID_REQUEST, "null", "over");
		free(big);
	}
}

static void test_progress_token_and_ids(void **state)
{
	struct reply r;

	(void)state;
	handle(&r, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\","
		   "\"params\":{\"name\":\"request_approval\",\"arguments\":{"
		   "\"action\":\"a\"},\"_meta\":{\"progressToken\":\"tok\"}}}");
	assert_int_equal(r.res.outcome, MCP_CALL);
	assert_string_equal(r.res.call.id, "42");
	assert_string_equal(r.res.call.progress_token, "\"tok\"");
	assert_string_equal(r.res.call.subject, "a");
	assert_null(r.res.call.detail);
	release(&r);
	handle(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"\\u2028\",\"method\":"
		   "\"tools/call\",\"params\":{\"name\":\"report\","
		   "\"arguments\":{\"message\":\"m\"},\"_meta\":{"
		   "\"progressToken\":7}}}");
	assert_int_equal(r.res.outcome, MCP_CALL);
	assert_string_equal(r.res.call.id, "\"\xe2\x80\xa8\"");
	assert_string_equal(r.res.call.progress_token, "7");
	release(&r);
}

/* pre, n bytes of a string, post. */
static char *with_long(const char *pre, size_t n, const char *post)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, pre);
	for (size_t i = 0; i < n; i++)
		strbuf_addch(&sb, 'i');
	strbuf_addstr(&sb, post);
	return strbuf_detach(&sb, NULL);
}

/* Ids and progress tokens are echoed in every reply and keep-alive:
 * MCP_ID_MAX bytes at most. */
static void test_id_and_token_bounds(void **state)
{
	static const char id_pre[] = "{\"jsonrpc\":\"2.0\",\"id\":\"",
			  id_post[] = "\",\"method\":\"ping\"}";
	static const char token_pre[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"report\",\"arguments\":{\"message\":"
	    "\"m\"},\"_meta\":{\"progressToken\":\"";
	static const char token_post[] = "\"}}}";
	struct reply r;
	char *msg;

	(void)state;
	msg = with_long(id_pre, MCP_ID_MAX, id_post);
	handle(&r, msg);
	assert_int_equal(r.res.outcome, MCP_REPLY);
	assert_non_null(json_obj_get(r.v, "result"));
	release(&r);
	free(msg);
	msg = with_long(id_pre, MCP_ID_MAX + 1, id_post);
	expect_error(msg, MCP_INVALID_REQUEST, "null", "id is over 256 bytes");
	free(msg);
	msg = with_long(id_pre, 1u << 19, id_post);
	expect_error(msg, MCP_INVALID_REQUEST, "null", "id is over 256 bytes");
	free(msg);

	msg = with_long(token_pre, MCP_ID_MAX, token_post);
	handle(&r, msg);
	assert_int_equal(r.res.outcome, MCP_CALL);
	assert_int_equal(strlen(r.res.call.progress_token), MCP_ID_MAX + 2);
	release(&r);
	free(msg);
	msg = with_long(token_pre, MCP_ID_MAX + 1, token_post);
	expect_error(msg, MCP_INVALID_PARAMS, "3",
		     "progressToken is over 256 bytes");
	free(msg);
	msg = with_long(token_pre, 1u << 19, token_post);
	expect_error(msg, MCP_INVALID_PARAMS, "3",
		     "progressToken is over 256 bytes");
	free(msg);
}

static void test_replies(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_value *v = NULL;
	struct error err = ERROR_INIT;
	const struct json_value *res;

	(void)state;
	mcp_call_reply(&sb, "\"x\"", "line\n\"quoted\"", true);
	assert_int_equal(json_parse(sb.buf, sb.len, &v, &err), 0);
	assert_string_equal(json_as_string(json_obj_get(v, "id"), NULL), "x");
	res = json_obj_get(v, "result");
	assert_true(json_obj_bool(res, "isError"));
	assert_string_equal(
	    json_as_string(
		json_obj_get(json_array_get(json_obj_get(res, "content"), 0),
			     "text"),
		NULL),
	    "line\n\"quoted\"");
	json_value_free(v);
	strbuf_reset(&sb);
	mcp_progress(&sb, "12", 30, "waiting");
	assert_int_equal(json_parse(sb.buf, sb.len, &v, &err), 0);
	assert_string_equal(json_as_string(json_obj_get(v, "method"), NULL),
			    "notifications/progress");
	assert_int_equal(
	    json_obj_int64(json_obj_get(v, "params"), "progressToken"), 12);
	assert_int_equal(json_obj_int64(json_obj_get(v, "params"), "progress"),
			 30);
	assert_null(json_obj_get(v, "id"));
	json_value_free(v);
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jsonrpc_errors),
	    cmocka_unit_test(test_notifications),
	    cmocka_unit_test(test_initialize),
	    cmocka_unit_test(test_ping_and_list),
	    cmocka_unit_test(test_tools_call),
	    cmocka_unit_test(test_arg_bounds),
	    cmocka_unit_test(test_progress_token_and_ids),
	    cmocka_unit_test(test_id_and_token_bounds),
	    cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
