#!/usr/bin/env python3
"""A fake Anthropic Messages API for offline tests of the real Claude Code CLI.

    fake_anthropic.py --cert C --key K --script S.json --log L.jsonl
                      [--host 127.0.0.1] [--port 443] [--expect-token TOKEN]
                      [--ready FILE]

Serves HTTPS (the test signs C for api.anthropic.com with its own CA).

The script is a JSON list of turns, consumed in order, one per conversation
turn (see is_conversation_turn: the CLI's request-class header, else "offers
tools"):
    {"text": "..."}
    {"tool_use": {"name": "Bash", "input": {"command": "..."}}}
A turn may carry both; the text block then comes before the tool_use block.
Once the script is exhausted every further turn answers the text
"fake-anthropic: script exhausted".

Every request is appended to the log as one JSON object per line:
    {"time", "method", "path", "headers": {lower-case name: value},
     "body": parsed JSON or raw text or null, "kind", "turn", "status"}
kind is one of "turn" (a script turn was consumed; "turn" is its index),
"aux" (an auxiliary /v1/messages call, answered trivially), "count_tokens",
"hello" (/api/hello, the interactive first run's connectivity check),
"unknown" (404) or "unauthorized" (401).

--expect-token TOKEN: every request whose x-api-key and Authorization
Bearer both differ from TOKEN gets a 401 with the API's JSON error shape.
--ready FILE: written once the socket listens (tests wait for it).
"""
import json

import fake_api

MODEL_FALLBACK = "claude-sonnet-4-5"


# Request classes (header x-claude-code-request-class, CLI 2.1.x) of calls
# that are not a turn of the agent's conversation.
AUX_CLASSES = ("auxiliary", "compaction", "side_reply")


def is_conversation_turn(headers, body):
    """Whether a /v1/messages call is a turn of the agent's conversation (it
    consumes a script turn) or one of the CLI's auxiliary calls (title/topic
    summaries with the small model, compaction, the quota probe).  The CLI
    labels each call with x-claude-code-request-class ("main", "subagent",
    "workflow", "compaction", "auxiliary", "side_reply"); without that
    header, a conversation turn is one that offers the model tools and more
    than one output token."""
    if not isinstance(body, dict):
        return False
    cls = headers.get("x-claude-code-request-class")
    if cls is not None:
        return cls not in AUX_CLASSES
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return False
    max_tokens = body.get("max_tokens")
    return not isinstance(max_tokens, int) or max_tokens > 1


def content_blocks(state, turn):
    """The content blocks of one scripted turn, and its stop reason."""
    blocks = []
    if isinstance(turn.get("text"), str):
        blocks.append({"type": "text", "text": turn["text"]})
    tu = turn.get("tool_use")
    if isinstance(tu, dict):
        blocks.append({"type": "tool_use", "id": state.new_id("toolu"),
                       "name": str(tu.get("name", "Bash")),
                       "input": tu.get("input", {})})
        return blocks, "tool_use"
    if not blocks:
        blocks.append({"type": "text", "text": ""})
    return blocks, "end_turn"


def usage(output_tokens):
    return {"input_tokens": 10, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def sse_events(msg_id, model, blocks, stop_reason):
    """The streaming event sequence of the Messages API for these blocks."""
    yield "message_start", {
        "type": "message_start",
        "message": {"id": msg_id, "type": "message", "role": "assistant",
                    "model": model, "content": [], "stop_reason": None,
                    "stop_sequence": None, "usage": usage(1)}}
    yield "ping", {"type": "ping"}
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            start = {"type": "text", "text": ""}
            text = b["text"]
            deltas = [{"type": "text_delta", "text": text[j:j + 16]}
                      for j in range(0, len(text), 16)]
        else:
            start = {"type": "tool_use", "id": b["id"], "name": b["name"],
                     "input": {}}
            js = json.dumps(b["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta",
                        "partial_json": js[j:j + 16]}
                       for j in range(0, len(js), 16)]
        yield "content_block_start", {"type": "content_block_start",
                                      "index": i, "content_block": start}
        for d in deltas:
            yield "content_block_delta", {"type": "content_block_delta",
                                          "index": i, "delta": d}
        yield "content_block_stop", {"type": "content_block_stop",
                                     "index": i}
    yield "message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": 5}}
    yield "message_stop", {"type": "message_stop"}


class Handler(fake_api.Handler):
    NAME = "fake-anthropic"
    server_version = "fake-anthropic/1"
    REQUEST_ID_HEADER = "request-id"

    def send_error_json(self, status, etype, message):
        self.send_json(status, {"type": "error",
                                "error": {"type": etype, "message": message}})

    def authorized(self):
        tok = self.state.token
        if tok is not None and self.headers.get("x-api-key") == tok:
            return True
        return super().authorized()

    def messages(self, body, entry):
        if not isinstance(body, dict):
            entry["status"] = 400
            self.send_error_json(400, "invalid_request_error",
                                 "body must be a JSON object")
            return
        model = body.get("model") or MODEL_FALLBACK
        turn = self.take_turn(body, entry, is_conversation_turn)
        if turn is not None:
            blocks, stop = content_blocks(self.state, turn)
        else:
            blocks, stop = [{"type": "text", "text": "Fake"}], "end_turn"
        msg_id = self.state.new_id("msg")
        if body.get("stream"):
            self.send_sse(sse_events(msg_id, model, blocks, stop))
        else:
            self.send_json(200, {"id": msg_id, "type": "message",
                                 "role": "assistant", "model": model,
                                 "content": blocks, "stop_reason": stop,
                                 "stop_sequence": None, "usage": usage(5)})

    def unauthorized(self):
        self.send_error_json(401, "authentication_error", "invalid x-api-key")

    def route(self, path, body, entry):
        if self.command == "POST" and path == "/v1/messages":
            self.messages(body, entry)
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            entry["kind"], entry["status"] = "count_tokens", 200
            self.send_json(200, {"input_tokens": 100})
        elif path == "/api/hello":
            # The interactive first-run connectivity check.
            entry["kind"], entry["status"] = "hello", 200
            self.send_json(200, {"message": "hello"})
        else:
            entry["status"] = 404
            self.send_error_json(404, "not_found_error",
                                 "Not found: %s %s" % (self.command, path))


if __name__ == "__main__":
    fake_api.main(Handler, __doc__.split("\n")[0], tls_required=True)
