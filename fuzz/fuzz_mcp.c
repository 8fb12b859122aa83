/* libFuzzer harness for the supervise server's JSON-RPC handler
 * (bundle/mcp.h): any bytes in; a reply must be one valid JSON-RPC
 * response (jsonrpc "2.0", an id, exactly one of result and error), and a
 * tool call must carry valid JSON (id, canonical arguments, progress token)
 * from which the result and progress messages are valid JSON too. */
#include "bundle/mcp.h"

#include "lib/json.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static struct json_value *must_parse(const char *s, size_t len)
{
	struct json_value *v = NULL;
	struct error err = ERROR_INIT;

	if (!s || json_parse(s, len, &v, &err) < 0)
		__builtin_trap();
	return v;
}

static void check_reply(const struct strbuf *sb)
{
	struct json_value *v = must_parse(sb->buf, sb->len);
	const char *ver = json_as_string(json_obj_get(v, "jsonrpc"), NULL);
	bool res = json_obj_get(v, "result") != NULL;
	bool err = json_obj_get(v, "error") != NULL;

	if (json_type(v) != JSON_OBJECT || !ver || strcmp(ver, "2.0") != 0 ||
	    !json_obj_get(v, "id") || res == err)
		__builtin_trap();
	json_value_free(v);
}

static void check_call(const struct mcp_call *c)
{
	struct json_value *v = must_parse(c->args, strlen(c->args));
	struct strbuf sb = STRBUF_INIT;

	if (json_type(v) != JSON_OBJECT || !c->subject || !*c->subject ||
	    (unsigned)c->tool >= MCP_TOOL_COUNT)
		__builtin_trap();
	json_value_free(v);
	json_value_free(must_parse(c->id, strlen(c->id)));
	mcp_call_reply(&sb, c->id, c->subject, false);
	check_reply(&sb);
	if (c->progress_token) {
		strbuf_reset(&sb);
		mcp_progress(&sb, c->progress_token, 1, c->subject);
		json_value_free(must_parse(sb.buf, sb.len));
	}
	strbuf_release(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mcp_config conf = {.timeout_s = 600};
	struct mcp_result r;

	mcp_handle(&conf, (const char *)data, size, &r);
	switch (r.outcome) {
	case MCP_REPLY:
		check_reply(&r.reply);
		break;
	case MCP_CALL:
		check_call(&r.call);
		break;
	case MCP_ACCEPTED:
		break;
	}
	mcp_result_release(&r);
	return 0;
}
