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
import argparse
import gzip
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_FALLBACK = "gpt-5"
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
        return i, {"text": "fake-openai: script exhausted"}

    def new_id(self, prefix):
        with self.lock:
            self.ids += 1
            return "%s_fake%020d" % (prefix, self.ids)

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock, open(self.log_path, "a") as f:
            f.write(line)


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1"
    state = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-openai: %s\n" % (fmt % args))

    def read_raw(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return raw
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return raw
                if len(raw) + n > MAX_BODY:
                    return raw
                raw += self.rfile.read(n)
                self.rfile.readline(1024)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n < 0 or n > MAX_BODY:
            n = 0
        return self.rfile.read(n) if n else b""

    def read_body(self):
        raw = self.read_raw()
        if not raw:
            return None
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                pass
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
        self.send_header("x-request-id", self.state.new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, status, etype, code, message):
        self.send_json(status, {"error": {"message": message, "type": etype,
                                          "param": None, "code": code}})

    def authorized(self):
        tok = self.state.token
        if tok is None:
            return True
        return self.headers.get("Authorization") == "Bearer " + tok

    def send_sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", self.state.new_id("req"))
        self.end_headers()
        for name, data in events:
            chunk = ("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))
            chunk = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def create_response(self, body, entry):
        if not isinstance(body, dict):
            entry["status"] = 400
            self.send_error_json(400, "invalid_request_error", None,
                                 "body must be a JSON object")
            return
        model = body.get("model") or MODEL_FALLBACK
        if is_conversation_turn(self.headers, body):
            entry["kind"] = "turn"
            entry["turn"], turn = self.state.take_turn()
            items = output_items(self.state, turn)
        else:
            entry["kind"] = "aux"
            items = output_items(self.state, {"text": "Fake"})
        entry["status"] = 200
        resp_id = self.state.new_id("resp")
        if body.get("stream"):
            self.send_sse(sse_events(resp_id, model, items))
        else:
            self.send_json(200, response_obj(resp_id, model, "completed",
                                             items))

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
                self.send_error_json(401, "invalid_request_error",
                                     "invalid_api_key",
                                     "Incorrect API key provided.")
            elif self.command == "POST" and path == "/v1/responses":
                self.create_response(body, entry)
            elif self.command == "GET" and path == "/v1/models":
                entry["kind"], entry["status"] = "models", 200
                self.send_json(200, {"object": "list", "data": [
                    {"id": MODEL_FALLBACK, "object": "model",
                     "created": 0, "owned_by": "fake-openai"}]})
            else:
                entry["status"] = 404
                self.send_error_json(404, "invalid_request_error", None,
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
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--expect-token")
    ap.add_argument("--ready")
    a = ap.parse_args()
    if (a.cert is None) != (a.key is None):
        ap.error("--cert and --key go together")

    Handler.state = State(load_script(a.script), a.log, a.expect_token)
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        ctx.set_alpn_protocols(["http/1.1"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.ready:
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, a.ready)
    srv.serve_forever()


if __name__ == "__main__":
    main()
