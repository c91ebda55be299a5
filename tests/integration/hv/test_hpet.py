#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The HPET on the real in-kernel PIC and PIT: the probe
(tests/guest/acpi/hpet.c behind start.S) booted by SeaBIOS checks QEMU's
capabilities, the counter, that legacy replacement silences the PIT and
holds back the RTC's IRQ 8 (and that both come back after it), a 1 kHz
periodic timer 0 on IRQ 0, a one-shot timer 1 on IRQ 8 and a level timer's
status bit; the host times the probe's '<' and '>' (100,000,000 counter
ticks apart) against its own clock: one second within 2%. With --hpet off
the block is gone: the probe's capability check reads all-ones."""
import os
import re
import select
import subprocess
import time

import vmmlib as v

HPET_BIN = os.path.join(v.GUEST_DIR, 'hpet.bin')
CHECKS = ['caps', 'counter', 'pit', 'silent', 'periodic', 'oneshot', 'rtcgate', 'pitback',
          'level']


def run(disk, extra):
    argv = v.vmm_argv(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS) + extra
    v.log('$ ' + ' '.join(argv))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf, start, end = b'', None, None
    deadline = time.monotonic() + 120
    try:
        while b'HPET RESULT' not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            data = os.read(p.stdout.fileno(), 4096)
            now = time.monotonic()
            if not data:
                break
            if b'<' in data:
                start = now
            if b'>' in data:
                end = now
            buf += data
        rc = p.wait(30)
        buf += p.stdout.read()  # the rest of the RESULT line (the process has ended)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return buf.decode('latin-1'), rc, start, end


def test():
    v.require_seabios()
    tmp = v.workdir('hpet')
    code = open(HPET_BIN, 'rb').read()
    disk = os.path.join(tmp, 'hpet.raw')
    with open(disk, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))

    text, rc, start, end = run(disk, [])
    v.log(text)
    for name in CHECKS:
        v.check(re.search(r'HPET ok %s\b' % name, text) is not None,
                'check %r did not pass (rc %s):\n%s' % (name, rc, text[-3000:]))
    # isa-debug-exit: status (code << 1) | 1.
    v.check('HPET RESULT PASS' in text and rc == 1, 'probe result (rc %s):\n%s' % (rc, text[-3000:]))
    v.check(start is not None and end is not None, 'no timing marks:\n' + text[-2000:])
    seconds = end - start
    v.log('100,000,000 HPET ticks took %.4f s of host time' % seconds)
    v.check(abs(seconds - 1.0) < 0.02, 'one HPET second took %.4f s' % seconds)

    text, rc, _, _ = run(disk, ['--hpet', 'off'])
    v.check(re.search(r'HPET FAIL caps id=ffffffff', text) is not None and rc == 3,
            '--hpet off: the HPET still answered (rc %s):\n%s' % (rc, text[-3000:]))


if __name__ == '__main__':
    v.main(test)
