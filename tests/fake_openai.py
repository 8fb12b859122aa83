#!/usr/bin/env python3
"""A fake OpenAI Responses API for offline tests of the real Codex CLI.

    fake_openai.py --script S.json --log L.jsonl [--cert C --key K]
                   [--host 127.0.0.1] [--port 443] [--expect-token TOKEN]
                   [--ready FILE]

Serves HTTPS when given --cert/--key (the test signs C for api.openai.com
with its own CA), plain HTTP otherwise.  Codex (0.169) speaks only the
Responses API (wire_api "responses"): POST /v1/responses with
"stream": true, answered as server-sent events.

The script is a JSON list of turns, consumed in order, one per model request
of the agent's conversation (see is_conversation_turn):
    {"text": "..."}
    {"tool_call": {"name": "exec_command", "arguments": {"cmd": "..."}}}
    {"tool_call": {"namespace": "mcp__supervise", "name": "request_approval",
                   "arguments": {...}}}
    {"tool_search": {"query": "...", "limit": 8}}
"namespace" is how Codex names an MCP server's tools; "tool_search" answers
a tool_search_call (Codex's client-side search of its deferred tools, MCP
tools included).  A turn may carry a text and one call; the message item
then comes before the call.  Once the script is exhausted every further turn answers the text
"fake-openai: script exhausted".

Every request is appended to the log as one JSON object per line:
    {"time", "method", "path", "headers": {lower-case name: value},
     "body": parsed JSON or raw text or null, "kind", "turn", "status"}
kind is one of "turn" (a script turn was consumed; "turn" is its index),
"aux" (a /v1/responses call that is not a conversation turn, answered with
a short text), "models" (GET /v1/models), "unknown" (404) or
"unauthorized" (401).

--expect-token TOKEN: every request whose Authorization is not
"Bearer TOKEN" gets a 401 with the API's JSON error shape.
--ready FILE: written once the socket listens (tests wait for it).
"""
import gzip
import json
import time

import fake_api

MODEL_FALLBACK = "gpt-5"


def request_kind(headers):
    """Codex labels every model request in x-codex-turn-metadata (a JSON
    object) with request_kind: "turn" for the agent's conversation, others
    (e.g. "prewarm") for its own bookkeeping."""
    raw = headers.get("x-codex-turn-metadata")
    if not raw:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    kind = meta.get("request_kind") if isinstance(meta, dict) else None
    return kind if isinstance(kind, str) else None


def is_conversation_turn(headers, body):
    """Whether a /v1/responses call is a turn of the agent's conversation
    (it consumes a script turn): request_kind "turn" when Codex says, else
    one that offers the model tools."""
    if not isinstance(body, dict):
        return False
    kind = request_kind(headers)
    if kind is not None:
        return kind == "turn"
    tools = body.get("tools")
    return isinstance(tools, list) and len(tools) > 0


def output_items(state, turn):
    """The output items of one scripted turn."""
    items = []
    if isinstance(turn.get("text"), str):
        items.append({"type": "message", "id": state.new_id("msg"),
                      "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text",
                                   "text": turn["text"],
                                   "annotations": []}]})
    tc = turn.get("tool_call")
    if isinstance(tc, dict):
        args = tc.get("arguments", {})
        if not isinstance(args, str):
            args = json.dumps(args)
        item = {"type": "function_call", "id": state.new_id("fc"),
                "status": "completed", "call_id": state.new_id("call"),
                "name": str(tc.get("name", "exec_command")),
                "arguments": args}
        if isinstance(tc.get("namespace"), str):
            item["namespace"] = tc["namespace"]
        items.append(item)
    ts = turn.get("tool_search")
    if isinstance(ts, dict):
        items.append({"type": "tool_search_call", "id": state.new_id("ts"),
                      "status": "completed",
                      "call_id": state.new_id("call"),
                      "execution": "client", "arguments": ts})
    if not items:
        items.append({"type": "message", "id": state.new_id("msg"),
                      "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": "",
                                   "annotations": []}]})
    return items


def usage():
    return {"input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15}


def response_obj(resp_id, model, status, output):
    return {"id": resp_id, "object": "response",
            "created_at": int(time.time()), "status": status,
            "model": model, "output": output,
            "usage": usage() if status == "completed" else None}


def sse_events(resp_id, model, items):
    """The streaming event sequence of the Responses API for these items."""
    seq = iter(range(1 << 30))
    yield "response.created", {
        "type": "response.created", "sequence_number": next(seq),
        "response": response_obj(resp_id, model, "in_progress", [])}
    for i, it in enumerate(items):
        if it["type"] == "message":
            added = dict(it, status="in_progress", content=[])
        elif it["type"] == "function_call":
            added = dict(it, status="in_progress", arguments="")
        else:
            added = dict(it, status="in_progress")
        yield "response.output_item.added", {
            "type": "response.output_item.added",
            "sequence_number": next(seq), "output_index": i, "item": added}
        if it["type"] == "message":
            text = it["content"][0]["text"]
            for j in range(0, len(text), 16):
                yield "response.output_text.delta", {
                    "type": "response.output_text.delta",
                    "sequence_number": next(seq), "item_id": it["id"],
                    "output_index": i, "content_index": 0,
                    "delta": text[j:j + 16]}
        elif it["type"] == "function_call":
            args = it["arguments"]
            for j in range(0, len(args), 16):
                yield "response.function_call_arguments.delta", {
                    "type": "response.function_call_arguments.delta",
                    "sequence_number": next(seq), "item_id": it["id"],
                    "output_index": i, "delta": args[j:j + 16]}
        yield "response.output_item.done", {
            "type": "response.output_item.done",
            "sequence_number": next(seq), "output_index": i, "item": it}
    yield "response.completed", {
        "type": "response.completed", "sequence_number": next(seq),
        "response": response_obj(resp_id, model, "completed", items)}


class Handler(fake_api.Handler):
    NAME = "fake-openai"
    server_version = "fake-openai/1"
    REQUEST_ID_HEADER = "x-request-id"

    def read_raw(self):
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return super().read_raw()
        raw = b""
        while True:
            line = self.rfile.readline(1024)
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return raw
            if n == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return raw
            if len(raw) + n > fake_api.MAX_BODY:
                return raw
            raw += self.rfile.read(n)
            self.rfile.readline(1024)

    def decode_raw(self, raw):
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                return gzip.decompress(raw)
            except (OSError, EOFError):
                pass
        return raw

    def send_error_json(self, status, etype, code, message):
        self.send_json(status, {"error": {"message": message, "type": etype,
                                          "param": None, "code": code}})

    def create_response(self, body, entry):
        if not isinstance(body, dict):
            entry["status"] = 400
            self.send_error_json(400, "invalid_request_error", None,
                                 "body must be a JSON object")
            return
        model = body.get("model") or MODEL_FALLBACK
        turn = self.take_turn(body, entry, is_conversation_turn)
        if turn is None:
            turn = {"text": "Fake"}
        items = output_items(self.state, turn)
        resp_id = self.state.new_id("resp")
        if body.get("stream"):
            self.send_sse(sse_events(resp_id, model, items))
        else:
            self.send_json(200, response_obj(resp_id, model, "completed",
                                             items))

    def unauthorized(self):
        self.send_error_json(401, "invalid_request_error", "invalid_api_key",
                             "Incorrect API key provided.")

    def route(self, path, body, entry):
        if self.command == "POST" and path == "/v1/responses":
            self.create_response(body, entry)
        elif self.command == "GET" and path == "/v1/models":
            entry["kind"], entry["status"] = "models", 200
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL_FALLBACK, "object": "model",
                 "created": 0, "owned_by": "fake-openai"}]})
        else:
            entry["status"] = 404
            self.send_error_json(404, "invalid_request_error", None,
                                 "Not found: %s %s" % (self.command, path))


if __name__ == "__main__":
    fake_api.main(Handler, __doc__.split("\n")[0], tls_required=False)
