#!/usr/bin/env python3
"""world_echo.py: the "upstream" that tells a test what it really received.

    world_echo.py --port P --cert CRT --key KEY --log FILE --ready FILE

An HTTPS server (HTTP/1.1, keep-alive, Content-Length or chunked request
bodies) that answers every request, whatever its method, with a JSON object
    {"method", "path", "headers", "body_len", "body_sha256"}
and appends the same object as one line to the log.  "headers" maps each
header name as sent to its value; a repeated header's values are joined with
", " so that a test sees duplicates.  Writes the ready file once listening.
Python 3 standard library only.
"""

import argparse
import hashlib
import http.server
import json
import ssl
import threading

LOG_LOCK = threading.Lock()
MAX_BODY = 1 << 30


class BadRequest(Exception):
    pass


def read_chunked(rfile, digest):
    """Read a chunked body (RFC 9112 section 7.1) into digest; return length."""
    total = 0
    while True:
        line = rfile.readline(4096)
        if not line.endswith(b"\n"):
            raise BadRequest("bad chunk size line")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        if size < 0 or total + size > MAX_BODY:
            raise BadRequest("chunk too large")
        if size == 0:
            break
        total += size
        read_exact(rfile, size, digest)
        if rfile.readline(4096) not in (b"\r\n", b"\n"):
            raise BadRequest("missing CRLF after chunk")
    while True:  # trailer section
        line = rfile.readline(4096)
        if line in (b"\r\n", b"\n", b""):
            return total


def read_exact(rfile, n, digest):
    while n > 0:
        data = rfile.read(min(n, 65536))
        if not data:
            raise BadRequest("body truncated")
        digest.update(data)
        n -= len(data)


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "world-echo"

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.echo
        raise AttributeError(name)

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def read_body(self):
        digest = hashlib.sha256()
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise BadRequest("unsupported transfer-encoding")
            return read_chunked(self.rfile, digest), digest.hexdigest()
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise BadRequest("bad content-length") from None
        if n < 0 or n > MAX_BODY:
            raise BadRequest("bad content-length")
        read_exact(self.rfile, n, digest)
        return n, digest.hexdigest()

    def echo(self):
        try:
            body_len, body_sha = self.read_body()
        except BadRequest as e:
            self.send_error(400, str(e))
            self.close_connection = True
            return
        headers = {}
        for k, v in self.headers.items():
            headers[k] = headers[k] + ", " + v if k in headers else v
        rec = {"method": self.command, "path": self.path, "headers": headers,
               "body_len": body_len, "body_sha256": body_sha}
        line = json.dumps(rec, sort_keys=True)
        with LOG_LOCK, open(self.server.log_path, "a") as f:
            f.write(line + "\n")
        out = (line + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The handshake runs here, in the connection's thread, so that a slow
        # or broken client never holds up accept().
        request.settimeout(30)
        tls = self.ctx.wrap_socket(request, server_side=True)
        super().finish_request(tls, client_address)

    def handle_error(self, request, client_address):
        pass  # a client that breaks off is not our problem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()
    srv = TLSServer(("0.0.0.0", a.port), EchoHandler)
    srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.ctx.load_cert_chain(a.cert, a.key)
    srv.log_path = a.log
    open(a.ready, "w").close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
