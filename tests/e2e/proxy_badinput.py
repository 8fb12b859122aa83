#!/usr/bin/env python3
"""Hostile input against the bundle's proxy, from inside a bottle.

Each case must get a clear HTTP error (or a clean close where HTTP cannot
answer) and leave the bundle serving.  Prints "ok - ..." or "FAIL - ...".
"""
import socket
import sys
import time

PROXY = ("127.0.0.1", 8888)
failed = False


def conn(timeout=10):
    s = socket.create_connection(PROXY, timeout=timeout)
    return s


def read_all(s, limit=1 << 20):
    buf = b""
    try:
        while len(buf) < limit:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    return buf


def status(buf):
    try:
        return int(buf.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def check(name, got, want):
    global failed
    if got in want:
        print(f"ok - {name}: {got}")
    else:
        failed = True
        print(f"FAIL - {name}: got {got}, want {want}")


def send_case(name, data, want, shut=False, timeout=10):
    s = conn(timeout)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    check(name, status(read_all(s)), want)
    s.close()


send_case("garbage", b"\x16\x03\x01\x00\xff hello\r\n\r\n", {400})
send_case("bad request line", b"GET  http://origin.test/ HTTP/1.1\r\n\r\n", {400})
send_case("bare LF", b"GET http://origin.test/ HTTP/1.1\nHost: x\n\n\r\n\r\n", {400})
send_case("CL and TE (smuggling)",
          b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n"
          b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400})
send_case("unsupported TE",
          b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n"
          b"Transfer-Encoding: gzip\r\n\r\n", {400, 501})
send_case("origin-form to the proxy", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {400})
send_case("https:// without CONNECT",
          b"GET https://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n", {400})
send_case("CONNECT without port", b"CONNECT origin.test HTTP/1.1\r\n\r\n", {400})
send_case("CONNECT to a decimal IP", b"CONNECT 2130706433:443 HTTP/1.1\r\n\r\n", {400, 403})
send_case("oversize head",
          b"GET http://origin.test/ HTTP/1.1\r\n" + b"X-A: " + b"a" * 70000 + b"\r\n\r\n",
          {431})
send_case("too many headers",
          b"GET http://origin.test/ HTTP/1.1\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n", {431, 400})
send_case("bad chunked body",
          b"POST http://origin.test/1k HTTP/1.1\r\nHost: origin.test\r\n"
          b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", {400})
send_case("half-closed after a full request",
          b"GET http://origin.test/1k HTTP/1.1\r\nHost: origin.test\r\n\r\n", {200}, shut=True)
send_case("half-closed mid-head", b"GET http://origin.test/1k HTTP/1.1\r\nHo", {0}, shut=True)

# Intercepted host whose upstream certificate does not match: a 502 inside
# the tunnel, with the reason.
import ssl
ctx = ssl.create_default_context()
s = conn()
s.sendall(b"CONNECT mismatch.test:443 HTTP/1.1\r\nHost: mismatch.test:443\r\n\r\n")
head = s.recv(4096)
if status(head) == 200:
    t = ctx.wrap_socket(s, server_hostname="mismatch.test")
    t.sendall(b"GET / HTTP/1.1\r\nHost: mismatch.test\r\n\r\n")
    body = read_all(t)
    check("upstream TLS failure is a 502", status(body), {502})
    if b"mismatch" not in body.lower() and b"verif" not in body.lower():
        failed = True
        print("FAIL - the 502 does not say why:", body[:200])
    t.close()
else:
    check("CONNECT mismatch.test", status(head), {200})


# The ClientHello in the same segment as the CONNECT head: the bundle has
# read it with the head, and must take it as the start of the handshake.
def tls_step(obj, s, inb, outb, op):
    while True:
        try:
            r = op()
        except ssl.SSLWantReadError:
            if outb.pending:
                s.sendall(outb.read())
            d = s.recv(65536)
            if not d:
                raise ConnectionError("closed during TLS")
            inb.write(d)
            continue
        if outb.pending:
            s.sendall(outb.read())
        return r


inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
o = ctx.wrap_bio(inb, outb, server_hostname="echo.test")
try:
    o.do_handshake()
except ssl.SSLWantReadError:
    pass
s = conn()
s.sendall(b"CONNECT echo.test:8443 HTTP/1.1\r\nHost: echo.test:8443\r\n\r\n" +
          outb.read())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
inb.write(rest)
try:
    tls_step(o, s, inb, outb, o.do_handshake)
    o.write(b"GET /pipelined HTTP/1.1\r\nHost: echo.test:8443\r\n"
            b"Connection: close\r\n\r\n")
    s.sendall(outb.read())
    body = b""
    while True:
        try:
            d = tls_step(o, s, inb, outb, lambda: o.read(65536))
        except (ConnectionError, ssl.SSLError):
            break
        if not d:
            break
        body += d
    check("ClientHello in the CONNECT's segment", status(body), {200})
except (ConnectionError, ssl.SSLError) as e:
    check("ClientHello in the CONNECT's segment", str(e), {"200"})
s.close()

send_case("DNS failure", b"GET http://nxdomain.wild.test:8443/ HTTP/1.1\r\n\r\n", {502})

# Slowloris: a head that never ends gets a 408 after the head timeout.
s = conn(timeout=30)
s.sendall(b"GET http://origin.test/1k HTTP/1.1\r\n")
t0 = time.time()
for _ in range(20):
    try:
        s.sendall(b"X-Slow: 1\r\n")
    except OSError:
        break
    time.sleep(0.2)
check("slowloris", status(read_all(s)), {408})
s.close()

# Many idle connections, then one that works.
idle = [conn() for _ in range(200)]
s = conn()
s.sendall(b"GET http://origin.test/1k HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
check("a request among 200 idle connections", status(read_all(s)), {200})
for i in idle:
    i.close()

sys.exit(1 if failed else 0)
