"""Run inside a bottle by supervise.sh: try to make the supervise server
buffer without bound, hold on until /tmp/release exists (the test reads
the bundle's memory meanwhile), then finish.

  pipeline MB     one connection: MB megabytes of pipelined tools/list
                  POSTs, never reading the answers while sending; after
                  the release, read every answer and say how many came
  bodies N SIZE   N connections, each sending a head announcing a SIZE
                  byte body and all of it but the last byte; after the
                  release, hang up; says how many got 503 at once

Sending stops when the server stops taking bytes (nothing writable for
3 s): that ends the attempt, it decides no outcome."""
import os
import select
import socket
import sys
import time

ADDR = ("127.0.0.1", 7777)


def head(length):
    return ("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:7777\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % length).encode()


def hold():
    print("held", flush=True)
    while not os.path.exists("/tmp/release"):
        time.sleep(0.1)


def push(pending):
    """pending: {sock: bytes to send}.  Send until all is sent or nothing
    could be sent for 3 s; returns {sock: bytes sent}."""
    sent = {s: 0 for s in pending}
    while any(sent[s] < len(b) for s, b in pending.items()):
        live = [s for s, b in pending.items() if sent[s] < len(b)]
        _, ready, _ = select.select([], live, [], 3)
        if not ready:
            break
        for s in ready:
            try:
                sent[s] += s.send(pending[s][sent[s]:sent[s] + 65536])
            except OSError:  # the server refused and closed
                pending[s] = pending[s][:sent[s]]
    return sent


def pipeline(mb):
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    one = head(len(body)) + body
    n = mb * 1000000 // len(one)
    s = socket.create_connection(ADDR)
    s.setblocking(False)
    sent = push({s: one * n})[s]
    whole = sent // len(one)
    print("sent %d bytes, %d whole requests" % (sent, whole), flush=True)
    hold()
    s.setblocking(True)
    s.settimeout(120)
    buf, answers = b"", 0
    marker = b"HTTP/1.1 200 OK\r\n"
    while answers < whole:
        data = s.recv(1 << 20)
        if not data:
            break
        buf += data
        answers += buf.count(marker)
        buf = buf[buf.rfind(marker) + 1:] if marker in buf else buf[-32:]
    print("answered %d of %d" % (answers, whole), flush=True)
    s.close()


def bodies(n, size):
    socks = [socket.create_connection(ADDR) for _ in range(n)]
    for s in socks:
        s.setblocking(False)
    push({s: head(size) + b" " * (size - 1) for s in socks})
    busy = 0
    for s in socks:
        try:
            if s.recv(65536).startswith(b"HTTP/1.1 503 "):
                busy += 1
        except OSError:
            pass
    print("%d of %d refused with 503" % (busy, n), flush=True)
    hold()
    for s in socks:
        s.close()


if sys.argv[1] == "pipeline":
    pipeline(int(sys.argv[2]))
else:
    bodies(int(sys.argv[2]), int(sys.argv[3]))
