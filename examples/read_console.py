#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""read_console.py URI NAME UNTIL [SECONDS]: runs `virsh -c URI console NAME`
under a pseudo-terminal (virsh console wants a tty), prints what the guest
writes on its serial port until a line contains UNTIL, then detaches.
Exit status 0 when UNTIL was seen, 1 on timeout or when virsh ended first."""
import os
import pty
import select
import signal
import sys
import time


def read_console(uri, name, until, seconds, out=None):
    """Runs `virsh -c URI console NAME` on a pty until UNTIL (bytes) appears,
    SECONDS pass or virsh ends; copies what it reads to OUT (a text stream)
    when given. Returns (time.perf_counter() when UNTIL was seen or None,
    every byte read)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp('virsh', ['virsh', '-c', uri, 'console', name])
    seen = b''
    matched_at = None
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and matched_at is None:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if out is not None:
                out.write(chunk.decode('utf-8', 'replace').replace('\r', ''))
                out.flush()
            if until in seen:
                matched_at = time.perf_counter()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return matched_at, seen


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    uri, name, until = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    matched_at, _ = read_console(uri, name, until, seconds, out=sys.stdout)
    if matched_at is None:
        print('\nread_console: %r not seen within %.0f s' % (until.decode(), seconds),
              file=sys.stderr)
    return 0 if matched_at is not None else 1


if __name__ == '__main__':
    sys.exit(main())
