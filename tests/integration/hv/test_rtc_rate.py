#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The RTC periodic interrupt against the host clock: the probe
(tests/guest/bootsector/rtcrate.S) booted by SeaBIOS sets register A's
rate codes 0xF (2 Hz) .. 0x3 (8192 Hz) with PIE, reads register C in its
IRQ 8 handler and prints '<' at the second interrupt and '>' after 2 s
worth more; the host times those two bytes. 2..256 Hz must be within 1%;
faster rates must never run fast (> +1%) and are logged: on this host's
software KVM with 2 shared cores ticks the guest cannot take in time are
lost, as under QEMU TCG. With --rtc driftfix=slew (libvirt's
tickpolicy='catchup') the lost ticks are re-injected as the guest
acknowledges, so every rate must be within 1%."""
import os
import re
import subprocess
import time

import vmmlib as v

RTCRATE_BIN = os.path.join(v.GUEST_DIR, 'rtcrate.bin')


def test():
    tmp = v.workdir('rtcrate')
    code = open(RTCRATE_BIN, 'rb').read()
    disk = os.path.join(tmp, 'rtc.raw')
    with open(disk, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    measure(disk, [], catchup=False)
    measure(disk, ['--rtc', 'driftfix=slew'], catchup=True)


def measure(disk, extra, catchup):
    argv = v.vmm_argv(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS) + extra
    v.log('$ ' + ' '.join(argv))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf, starts, ends = b'', [], []
    deadline = time.monotonic() + 150
    try:
        while b'RTC: END' not in buf and time.monotonic() < deadline:
            data = os.read(p.stdout.fileno(), 4096)
            now = time.monotonic()
            if not data:
                break
            starts += [now] * data.count(b'<')
            ends += [now] * data.count(b'>')
            buf += data
        rc = p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = buf.decode('latin-1')
    v.check(b'RTC: END' in buf and rc == 1, 'probe did not finish (rc %s):\n%s' % (p.poll(), text[-2000:]))
    rates = [int(r, 16) for r in re.findall(r'RTC rate=([0-9A-F])<', text)]
    v.check(rates == list(range(15, 2, -1)) and len(starts) == len(ends) == 13,
            'rates %s, %d/%d marks:\n%s' % (rates, len(starts), len(ends), text[-2000:]))
    for rate, start, end in zip(rates, starts, ends):
        want = 32768 >> (rate - 1)
        got = 2 * want / (end - start)
        err = got / want - 1
        v.log('%s rate 0x%X: %5d Hz set, %9.2f Hz measured (%+.2f%%)'
              % ('catch-up' if catchup else 'plain', rate, want, got, err * 100))
        if want <= 256 or catchup:
            v.check(abs(err) < 0.01, '%d Hz measured %.3f (%+.2f%%)' % (want, got, err * 100))
        else:
            v.check(err < 0.01, '%d Hz ran fast: %.3f' % (want, got))


if __name__ == '__main__':
    v.main(test)
