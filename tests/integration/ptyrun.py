#!/usr/bin/env python3
"""Runs a command on a new pty, the way a user at a terminal would: for the tests of
cairn run -t (t0702). usage: ptyrun.py ROWS COLS SCRIPT -- COMMAND...

SCRIPT is a file of steps, one a line:
  send TEXT      write TEXT (with \\r, \\n and \\x03 escapes) to the terminal
  wait TEXT      read until TEXT has appeared in the output (at most 10 seconds)
  resize R C     set the pty's size to R rows and C columns and send SIGWINCH
  touch PATH     create the file PATH (for a command that waits for it)
All output goes to stdout; the exit status is the command's (1 when a wait timed
out, after killing it)."""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    rows, cols, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    command = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    set_size(fd, rows, cols)
    out = b""
    seen = 0  # what a wait has already matched

    def read_until(text, limit):
        nonlocal out, seen
        end = time.time() + limit
        while text is None or out.find(text, seen) < 0:
            left = end - time.time()
            if left <= 0:
                return text is None
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                return text is None or out.find(text, seen) >= 0
            out += data
        seen = out.find(text, seen) + len(text)
        return True

    ok = True
    with open(script) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            op, _, arg = line.partition(" ")
            text = arg.encode().decode("unicode_escape").encode()
            if op == "send":
                os.write(fd, text)
            elif op == "wait":
                if not read_until(text, 10):
                    sys.stderr.write("ptyrun: timed out waiting for %r\n" % arg)
                    ok = False
                    break
            elif op == "touch":
                open(arg, "a").close()
            elif op == "resize":
                r, c = arg.split()
                set_size(fd, int(r), int(c))
                os.kill(pid, signal.SIGWINCH)
    if not ok:
        os.kill(pid, signal.SIGKILL)
    read_until(None, 10)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status) if ok else 1)


main()
