"""Run inside a bottle by supervise.sh: open N connections to the supervise
server, each with a different ask_supervisor call, and read until EXPECT of
them have been answered at once (the ones over the pending limit), then
print those answers and exit, hanging up on the rest while they wait."""
import json
import select
import socket
import sys

n, expect = int(sys.argv[1]), int(sys.argv[2])
socks, bufs = [], {}
for i in range(n):
    body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": "ask_supervisor",
                                  "arguments": {"question": "many %d" % i}}})
    s = socket.create_connection(("127.0.0.1", 7777), timeout=60)
    s.sendall(("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:7777\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (len(body), body)).encode())
    socks.append(s)
    bufs[s] = b""
done = []
while len(done) < expect:
    ready, _, _ = select.select([s for s in socks if s not in done], [], [], 60)
    if not ready:
        print("timed out with %d answers" % len(done))
        sys.exit(1)
    for s in ready:
        data = s.recv(65536)
        if not data:
            print("connection closed without an answer")
            sys.exit(1)
        bufs[s] += data
        head, sep, body = bufs[s].partition(b"\r\n\r\n")
        if sep and body.endswith(b"}"):
            done.append(s)
            print(head.split(b"\r\n")[0].decode(), body.decode())
for s in socks:
    s.close()
