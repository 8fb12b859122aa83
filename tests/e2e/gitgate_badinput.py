#!/usr/bin/env python3
"""Hostile input against the bundle's git gate, from inside a bottle.

Each case must get a git "ERR" pkt-line naming the problem (or a clean
close where there is nobody to answer) and leave the gate serving.
Prints "ok - ..." or "FAIL - ...".  The gate's head timeout is expected to
be short (BOTTLE_HEAD_TIMEOUT_MS) so that the silent client is answered.
"""
import hashlib
import socket
import sys

GATE = ("127.0.0.1", 9418)
failed = False


def pkt(payload):
    return b"%04x" % (len(payload) + 4) + payload


def read_all(s, limit=1 << 16):
    buf = b""
    try:
        while len(buf) < limit:
            d = s.recv(4096)
            if not d:
                break
            buf += d
    except (socket.timeout, ConnectionResetError):
        pass
    return buf


def check(name, ok, detail):
    global failed
    if ok:
        print(f"ok - {name}: {detail}")
    else:
        failed = True
        print(f"FAIL - {name}: {detail}")


def case(name, data, want, shut=True, timeout=20):
    s = socket.create_connection(GATE, timeout=timeout)
    if data:
        s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    got = read_all(s)
    s.close()
    check(name, want in got, repr(got[:160]))


case("HTTP instead of git", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     b"ERR bottle: expected a pkt-line")
case("a flush packet", b"0000", b"ERR bottle: expected a request")
case("a length over the limit", b"ffff" + b"x" * 100, b"over the limit")
case("bad hex", b"zzzzgit-upload-pack /origin.git\0", b"expected a pkt-line")
case("upload-archive", pkt(b"git-upload-archive /web.git\0host=x\0"),
     b"is not offered")
case("path traversal", pkt(b"git-upload-pack /../../etc\0host=x\0"),
     b"expected a repository path")
case("an absolute path", pkt(b"git-upload-pack /tmp/x.git\0host=x\0"),
     b"expected a repository path")
case("an undeclared name", pkt(b"git-receive-pack /nope.git\0host=x\0"),
     b'no git upstream named "nope.git"')
case("a host without NUL", pkt(b"git-upload-pack /web.git\0host=x"),
     b"does not end in a NUL")
case("binary garbage", pkt(bytes(range(1, 200))), b"ERR bottle:")
# A request cut short: the client leaves, nobody to answer; then one that
# says nothing at all gets the head timeout's answer.
s = socket.create_connection(GATE, timeout=20)
s.sendall(b"0032git-upl")
s.close()
case("a client that says nothing", b"", b"no git request within",
     shut=False)
case("half a request, then silence", b"0032git-upload-pack /we",
     b"no git request within", shut=False)


def read_pkts(s):
    """The pkt-line payloads up to a flush."""
    out, buf = [], b""
    while True:
        while len(buf) < 4:
            d = s.recv(65536)
            if not d:
                return out
            buf += d
        n = int(buf[:4], 16)
        if n == 0:
            return out
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                return out
            buf += d
        out.append(buf[4:n])
        buf = buf[n:]


def funny_push(name, ref):
    """A push whose ref name git's own client would never send: one that
    would turn the refspec the gate forwards into another (":"), or add a
    line of the agent's choosing to what the hook reads ("\n").  It must
    be refused; the caller checks the upstream's main did not move.  The
    commit pushed is argv[1] when given: the caller's commit C whose tree
    holds, at refs/heads/bottle/x, a gitlink to a commit on top of main, so
    that "C:refs/heads/bottle/x:refs/heads/main" forwarded as a refspec
    would move main."""
    s = socket.create_connection(GATE, timeout=20)
    s.sendall(pkt(b"git-receive-pack /local.git\0host=127.0.0.1\0"))
    refs = {}
    for p in read_pkts(s):
        sha, _, rest = p.partition(b" ")
        refs[rest.split(b"\0")[0].strip()] = sha
    main = refs.get(b"refs/heads/main")
    other = next((v for k, v in refs.items() if v != main), None)
    if not main or not other:
        check(name, False, f"no two commits advertised: {refs!r}"[:160])
        return
    new = sys.argv[1].encode() if len(sys.argv) > 1 else other
    ref = ref.replace(b"SHA", new)
    cmd = b"0" * 40 + b" " + new + b" " + ref + b"\0report-status"
    empty = b"PACK" + (2).to_bytes(4, "big") + (0).to_bytes(4, "big")
    s.sendall(pkt(cmd) + b"0000" + empty + hashlib.sha1(empty).digest())
    got = read_all(s)
    s.close()
    check(name, b"unpack ok" in got and b"ng " in got and b"ok refs/" not in got,
          repr(got[:160]))


funny_push("a ref name with a colon (refspec injection)",
           b"refs/heads/bottle/x:refs/heads/main")
funny_push("a ref name with a line break (hook input injection)",
           b"refs/heads/bottle/w\n" + b"0" * 40 + b" SHA refs/heads/main")

# More connections than the gate serves at once: the extra ones are told,
# and the gate serves again once they are gone.
socks = [socket.create_connection(GATE, timeout=20) for _ in range(40)]
told = 0
for s in socks:
    s.settimeout(0.5)
    try:
        if b"too many git connections" in s.recv(4096):
            told += 1
    except socket.timeout:
        pass
for s in socks:
    s.close()
check("40 connections at once", told >= 8, f"{told} told to try again")

# A well-formed request still works: the ref advertisement comes back.
s = socket.create_connection(GATE, timeout=20)
s.sendall(pkt(b"git-upload-pack /web.git\0host=127.0.0.1\0"))
got = s.recv(4096)
s.close()
check("the gate still serves", b"refs/heads/main" in got or b"HEAD" in got,
      repr(got[:80]))
sys.exit(1 if failed else 0)
