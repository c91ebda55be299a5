#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The standard VGA (--vga std) and the screendump control command.

1. SeaBIOS with the VGA BIOS (vgabios-stdvga.bin from the ROM BAR) boots
   the boot-sector probe (kept up with --stay); a screendump after the
   boot is a 720x400 P6 PPM (80x25 text, 9x16 cells) that is not blank and
   whose top text rows hold the SeaBIOS banner (foreground pixels). When
   QEMU 7.2 is here, the same disk under QEMU -vga std gives a screendump
   of the same size whose text rows (the rows of cells holding any
   foreground pixel) are the same as ours.
2. The PVH probe (test=vga) sets 1024x768x32 through DISPI, draws a
   pattern into BAR0 (a KVM memory slot), moves BAR0 and back; the
   screendump must match the pattern pixel for pixel.
3. screendump without --vga is an error reply, not a crash.
The PPMs stay in the test's work directory."""
import os
import shutil
import socket
import subprocess
import time

import vmmlib as v

WIDTH, HEIGHT = 1024, 768


def read_ppm(path):
    data = open(path, 'rb').read()
    fields = []
    pos = 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1
    v.check(fields[0] == b'P6' and fields[3] == b'255', 'not a P6 PPM: %r' % fields)
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos:]
    v.check(len(pixels) == w * h * 3, 'PPM %s: %d bytes of pixels for %dx%d' % (path, len(pixels), w, h))
    return w, h, pixels


def text_rows(w, h, pixels):
    """Which 16-line text rows hold a pixel other than the background
    (the colour of the bottom-right corner) in their scan lines 0-11 (QEMU
    draws the blinking cursor on lines 13-14; amber-vmm draws none)."""
    background = pixels[-3:]
    rows = []
    for row in range(h // 16):
        start = row * 16 * w * 3
        block = pixels[start:start + 12 * w * 3]
        lit = any(block[i:i + 3] != background for i in range(0, len(block), 3))
        rows.append(lit)
    return rows


def screendump(c, path):
    if os.path.exists(path):
        os.unlink(path)
    r = c.cmd('screendump', {'filename': path})
    v.check(r.get('return') == {}, 'screendump: %s' % r)
    return read_ppm(path)


def make_boot_disk(tmp):
    raw = os.path.join(tmp, 'boot.raw')
    v.run(['python3', os.path.join(v.SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'), v.BOOT_BIN,
           raw, '2', '--stay'])
    return raw


def qemu_text_rows(tmp, disk):
    """The text rows QEMU's screendump shows for the same boot, or None."""
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return None
    qmp = os.path.join(tmp, 'qmp.sock')
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-display', 'none',
                 '-vga', 'std', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-drive', 'file=%s,format=raw,if=virtio' % disk,
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
    try:
        vm.wait_line(r'BOOT: RESULT PASS', 90)
        time.sleep(1)
        s = socket.socket(socket.AF_UNIX)
        s.connect(qmp)
        f = s.makefile('rw')
        f.readline()
        path = os.path.join(tmp, 'qemu-text.ppm')
        for cmd in ('{"execute":"qmp_capabilities"}',
                    '{"execute":"screendump","arguments":{"filename":"%s"}}' % path):
            f.write(cmd + '\n')
            f.flush()
            reply = f.readline()
            while '"event"' in reply:
                reply = f.readline()
            v.check('"return"' in reply, 'QEMU: %s' % reply)
        s.close()
        w, h, pixels = read_ppm(path)
        v.log('QEMU screendump %dx%d' % (w, h))
        return w, h, text_rows(w, h, pixels)
    finally:
        vm.kill()


def text_mode(tmp):
    disk = make_boot_disk(tmp)
    oracle = qemu_text_rows(tmp, disk)
    sock = os.path.join(tmp, 'ctl-text.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, control=sock,
                     extra=['--vga', 'std'])
    try:
        vm.wait_line(r'BOOT: RESULT PASS', 120)
        time.sleep(0.5)
        c = v.Control(sock)
        w, h, pixels = screendump(c, os.path.join(tmp, 'text.ppm'))
        v.check((w, h) == (720, 400), 'text-mode screendump is %dx%d, want 720x400' % (w, h))
        v.check(len(set(pixels[i:i + 3] for i in range(0, len(pixels), 3))) > 1,
                'the text-mode screendump is blank')
        rows = text_rows(w, h, pixels)
        v.log('text rows with content: %s' % [i for i, lit in enumerate(rows) if lit])
        v.check(rows[0], 'the top text row is background: no SeaBIOS banner on the screen')
        if oracle is not None:
            v.check((oracle[0], oracle[1]) == (w, h),
                    'QEMU screendump %dx%d, ours %dx%d' % (oracle[0], oracle[1], w, h))
            v.check(oracle[2] == rows, 'text rows differ from QEMU: QEMU %s, ours %s'
                    % ([i for i, lit in enumerate(oracle[2]) if lit],
                       [i for i, lit in enumerate(rows) if lit]))
        # A bad file name is an error reply; the VM keeps running.
        r = c.cmd('screendump', {'filename': os.path.join(tmp, 'no-such-dir', 'x.ppm')})
        v.check('error' in r, 'screendump into a missing directory: %s' % r)
        r = c.cmd('screendump', {'filename': os.path.join(tmp, 'x.png'), 'format': 'png'})
        v.check('error' in r, 'screendump format png: %s' % r)
        v.check(c.cmd('query-status').get('return', {}).get('status') == 'running',
                'not running after screendumps')
        c.cmd('quit')
        v.check(vm.wait(20) == 0, 'exit status after quit')
        c.close()
    finally:
        vm.kill()


def pixel(x, y):
    r = (x * 7 + y) & 0xFF
    g = (y * 3) & 0xFF
    b = (x ^ y) & 0xFF
    return bytes((r, g, b))


def linear_mode(tmp):
    sock = os.path.join(tmp, 'ctl-dispi.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=vga', control=sock, extra=['--vga', 'std'])
    try:
        vm.wait_line(r'VGA: READY', 60)
        out = vm.output()
        v.check('VGA: class 30000 subsystem 11001af4' in out, 'VGA identity\n' + vm.describe())
        v.check('dispi id b0c5 vram 16384 KiB' in out, 'DISPI identity\n' + vm.describe())
        c = v.Control(sock)
        w, h, pixels = screendump(c, os.path.join(tmp, 'dispi.ppm'))
        v.check((w, h) == (WIDTH, HEIGHT), 'DISPI screendump is %dx%d' % (w, h))
        want = b''.join(pixel(x, y) for y in range(HEIGHT) for x in range(WIDTH))
        if pixels != want:
            bad = next(i for i in range(0, len(want), 3) if pixels[i:i + 3] != want[i:i + 3])
            raise v.TestFailure('pixel %d,%d is %s, want %s' % (
                (bad // 3) % WIDTH, (bad // 3) // WIDTH, pixels[bad:bad + 3].hex(),
                want[bad:bad + 3].hex()))
        c.cmd('quit')
        vm.wait(20)
        c.close()
    finally:
        vm.kill()


def no_display(tmp):
    sock = os.path.join(tmp, 'ctl-none.sock')
    disk = os.path.join(tmp, 'idle.raw')
    with open(disk, 'wb') as f:
        f.truncate(1 << 20)
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=idle', control=sock,
                     disks=[v.disk_arg(disk, 'raw')])
    try:
        c = v.Control(sock)
        r = c.cmd('screendump', {'filename': os.path.join(tmp, 'none.ppm')})
        v.check('error' in r and 'display' in r['error'].get('desc', ''),
                'screendump without --vga: %s' % r)
        r = c.cmd('screendump', {})
        v.check('error' in r, 'screendump without a filename: %s' % r)
        c.cmd('quit')
        vm.wait(20)
        c.close()
    finally:
        vm.kill()


def test():
    v.require_seabios()
    if not os.path.exists('/usr/share/seabios/vgabios-stdvga.bin'):
        v.log('no vgabios-stdvga.bin: skipped')
        raise SystemExit(v.SKIP)
    tmp = v.workdir('vga')
    linear_mode(tmp)
    no_display(tmp)
    text_mode(tmp)


if __name__ == '__main__':
    v.main(test)
