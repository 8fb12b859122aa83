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
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_FALLBACK = "claude-sonnet-4-5"
MAX_BODY = 64 << 20


class State:
    def __init__(self, turns, log_path, token):
        self.turns = turns
        self.next_turn = 0
        self.log_path = log_path
        self.token = token
        self.lock = threading.Lock()
        self.ids = 0

    def take_turn(self):
        with self.lock:
            i = self.next_turn
            self.next_turn += 1
        if i < len(self.turns):
            return i, self.turns[i]
        return i, {"text": "fake-anthropic: script exhausted"}

    def new_id(self, prefix):
        with self.lock:
            self.ids += 1
            return "%s_fake%020d" % (prefix, self.ids)

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock, open(self.log_path, "a") as f:
            f.write(line)


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1"
    state = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-anthropic: %s\n" % (fmt % args))

    def read_body(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n < 0 or n > MAX_BODY:
            n = 0
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self.state.new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, etype, message):
        self.send_json(status, {"type": "error",
                                "error": {"type": etype, "message": message}})

    def authorized(self):
        tok = self.state.token
        if tok is None:
            return True
        if self.headers.get("x-api-key") == tok:
            return True
        return self.headers.get("Authorization") == "Bearer " + tok

    def send_sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", self.state.new_id("req"))
        self.end_headers()
        for name, data in events:
            chunk = ("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))
            chunk = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def messages(self, body, entry):
        if not isinstance(body, dict):
            entry["status"] = 400
            self.send_error_json(400, "invalid_request_error",
                                 "body must be a JSON object")
            return
        model = body.get("model") or MODEL_FALLBACK
        if is_conversation_turn(self.headers, body):
            entry["kind"] = "turn"
            entry["turn"], turn = self.state.take_turn()
            blocks, stop = content_blocks(self.state, turn)
        else:
            entry["kind"] = "aux"
            blocks, stop = [{"type": "text", "text": "Fake"}], "end_turn"
        entry["status"] = 200
        msg_id = self.state.new_id("msg")
        if body.get("stream"):
            self.send_sse(sse_events(msg_id, model, blocks, stop))
        else:
            self.send_json(200, {"id": msg_id, "type": "message",
                                 "role": "assistant", "model": model,
                                 "content": blocks, "stop_reason": stop,
                                 "stop_sequence": None, "usage": usage(5)})

    def handle_any(self):
        path = self.path.split("?", 1)[0]
        body = self.read_body()
        entry = {"time": time.time(), "method": self.command,
                 "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body, "kind": "unknown", "turn": None}
        try:
            if not self.authorized():
                entry["kind"], entry["status"] = "unauthorized", 401
                self.send_error_json(401, "authentication_error",
                                     "invalid x-api-key")
            elif self.command == "POST" and path == "/v1/messages":
                self.messages(body, entry)
            elif (self.command == "POST"
                  and path == "/v1/messages/count_tokens"):
                entry["kind"], entry["status"] = "count_tokens", 200
                self.send_json(200, {"input_tokens": 100})
            elif path == "/api/hello":
                # The interactive first-run connectivity check.
                entry["kind"], entry["status"] = "hello", 200
                self.send_json(200, {"message": "hello"})
            else:
                entry["status"] = 404
                self.send_error_json(404, "not_found_error",
                                     "Not found: %s %s" % (self.command,
                                                           path))
        finally:
            self.state.log(entry)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


def load_script(path):
    with open(path) as f:
        turns = json.load(f)
    if not isinstance(turns, list) or not all(isinstance(t, dict)
                                              for t in turns):
        raise ValueError("%s: want a JSON list of objects" % path)
    return turns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--expect-token")
    ap.add_argument("--ready")
    a = ap.parse_args()

    Handler.state = State(load_script(a.script), a.log, a.expect_token)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.ready:
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, a.ready)
    srv.serve_forever()


if __name__ == "__main__":
    main()
