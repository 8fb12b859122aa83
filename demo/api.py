#!/usr/bin/env python3
"""The demo's stand-in for a real API: HTTPS on the host's 127.0.0.1.

    python3 demo/api.py CERT KEY TOKEN PORTFILE LOG

Answers every request with whether the Authorization header carried the
real token (which only the bundle on the host holds), and logs what it saw.
"""
import http.server
import ssl
import sys

cert, key, token, port_file, log = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        auth = self.headers.get("Authorization", "")
        seen = "the real token" if auth == "Bearer " + token else repr(auth)
        with open(log, "a") as f:
            f.write("%s %s auth=%s\n" % (self.command, self.path, seen))
        body = ("api: hello; your request carried %s\n" % seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = reply


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file, "w") as f:
    f.write("%d\n" % srv.server_address[1])
srv.serve_forever()
