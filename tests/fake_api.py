"""What the fake model APIs (fake_anthropic.py, fake_openai.py) share: the
script of turns and the request log (State), the HTTP plumbing of a handler
(Handler: body, JSON and server-sent-event replies, the token check, one log
entry per request) and the server's command line and TLS set-up (main).

Each fake subclasses Handler with its protocol (NAME, server_version,
REQUEST_ID_HEADER, unauthorized(), route()) and calls main() with its class.
The command line, the log format and --ready are described in each fake's
docstring.
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 << 20


class State:
    def __init__(self, turns, log_path, token, exhausted_text):
        self.turns = turns
        self.next_turn = 0
        self.log_path = log_path
        self.token = token
        self.exhausted_text = exhausted_text
        self.lock = threading.Lock()
        self.ids = 0

    def take_turn(self):
        with self.lock:
            i = self.next_turn
            self.next_turn += 1
        if i < len(self.turns):
            return i, self.turns[i]
        return i, {"text": self.exhausted_text}

    def new_id(self, prefix):
        with self.lock:
            self.ids += 1
            return "%s_fake%020d" % (prefix, self.ids)

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock, open(self.log_path, "a") as f:
            f.write(line)


class Handler(BaseHTTPRequestHandler):
    """The protocol-free part of a fake API's request handler."""
    protocol_version = "HTTP/1.1"
    NAME = "fake-api"  # log prefix and "NAME: script exhausted"
    REQUEST_ID_HEADER = "request-id"
    state = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("%s: %s\n" % (self.NAME, fmt % args))

    def read_raw(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n < 0 or n > MAX_BODY:
            n = 0
        return self.rfile.read(n) if n else b""

    def decode_raw(self, raw):
        """The body's bytes as sent, before JSON (e.g. gunzipped)."""
        return raw

    def read_body(self):
        raw = self.read_raw()
        if not raw:
            return None
        text = self.decode_raw(raw).decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(self.REQUEST_ID_HEADER, self.state.new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header(self.REQUEST_ID_HEADER, self.state.new_id("req"))
        self.end_headers()
        for name, data in events:
            chunk = ("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))
            chunk = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def authorized(self):
        tok = self.state.token
        if tok is None:
            return True
        return self.headers.get("Authorization") == "Bearer " + tok

    def take_turn(self, body, entry, is_conversation_turn):
        """For a model request with an object body: the script turn it
        consumes if is_conversation_turn(headers, body), else None (one of
        the agent's auxiliary calls).  Sets entry's kind, turn and status."""
        entry["status"] = 200
        if is_conversation_turn(self.headers, body):
            entry["kind"] = "turn"
            entry["turn"], turn = self.state.take_turn()
            return turn
        entry["kind"] = "aux"
        return None

    def unauthorized(self):
        """Send the API's 401."""
        raise NotImplementedError

    def route(self, path, body, entry):
        """Answer an authorized request; set entry's kind and status."""
        raise NotImplementedError

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
                self.unauthorized()
            else:
                self.route(path, body, entry)
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


def main(handler, description, tls_required):
    """Parse the command line, then serve with handler (a Handler subclass)
    until killed.  HTTPS with --cert/--key (required if tls_required), plain
    HTTP without."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cert", required=tls_required)
    ap.add_argument("--key", required=tls_required)
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--expect-token")
    ap.add_argument("--ready")
    a = ap.parse_args()
    if (a.cert is None) != (a.key is None):
        ap.error("--cert and --key go together")

    handler.state = State(load_script(a.script), a.log, a.expect_token,
                          "%s: script exhausted" % handler.NAME)
    srv = ThreadingHTTPServer((a.host, a.port), handler)
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
