"""Run `bottle supervise` on a terminal (a pty), type the lines given as
arguments (the line discipline hands them over one at a time), and print
what it showed once it exits."""
import os
import pty
import sys

pid, fd = pty.fork()
if pid == 0:
    os.execv(os.environ["BOTTLE"], ["bottle", "supervise"])
os.write(fd, "".join(line + "\n" for line in sys.argv[1:]).encode())
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the child is gone
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
