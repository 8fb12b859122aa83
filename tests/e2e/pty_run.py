"""Run a command on a terminal (a pty of 80x24) and print what it showed
once it exits; exit with its code.

  pty_run.py [-i LINE]... CMD [ARG...]

Each -i LINE is typed, with a newline (the line discipline hands them
over one at a time)."""
import fcntl
import os
import pty
import struct
import sys
import termios

args, lines = sys.argv[1:], []
while len(args) >= 2 and args[0] == "-i":
    lines.append(args[1])
    args = args[2:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    os.execvp(args[0], args)
os.write(fd, "".join(line + "\n" for line in lines).encode())
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
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
