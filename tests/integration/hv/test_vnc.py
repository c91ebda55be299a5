#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The VNC server (--vnc) with real clients: Debian's gvnccapture (gtk-vnc)
and a small stdlib RFB client (rfb.py).

1. SeaBIOS + the VGA BIOS boot the boot-sector probe with --vga std --vnc
   127.0.0.1:N; gvnccapture's PNG (kept as an artifact, its path printed)
   is 720x400, opaque, not blank, has the SeaBIOS banner in its top text
   row, and equals the screendump of the same moment pixel for pixel. query-vnc
   reports the address, auth none and a connected client. Hostile clients
   (junk instead of the version, junk messages after the handshake, a
   client that stops mid-message, a flood of random bytes) leave the VMM
   running and a new client served. A second VMM on the same display
   fails to start, naming 127.0.0.1:590N.
2. The PVH probe (test=vga tick=1) sets 1024x768x32 and draws a pattern:
   the RFB client gets a DesktopSize to 1024x768 and then every pixel of
   the pattern; then once a second the guest recolours a 16x16 square and
   the incremental updates must cover only rows 300..315 (the dirty vram
   pages' scan lines, compared), never the whole screen; the frame stays
   equal to the screendump.
3. Input: the PS/2 probe (kbd.S) with --vga std --vnc: KeyEvent 'a' ->
   1E 9E; Shift + 'A' -> 2A 1E 9E AA (the shifted keysym on its key);
   a PointerEvent move (+5, -3) with the left button -> 09 05 03.
4. password=on: only VNC authentication is offered; before
   change-vnc-password nobody gets in; then a wrong password is refused and
   the right one accepted; "" locks everyone out again. query-vnc says
   auth vnc.
"""
import os
import random
import re
import socket
import struct
import subprocess
import time

import rfb
import vmmlib as v
from test_vga import pixel as pattern_pixel, read_ppm, text_rows

WIDTH, HEIGHT = 1024, 768
KBD_BIN = os.path.join(v.GUEST_DIR, 'kbd.bin')
ARTIFACTS = os.environ.get('ARTIFACT_DIR', '')


def free_display():
    """A display number whose port (5900+N) nobody listens on now."""
    for n in range(random.randint(100, 2000), 4000):
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', 5900 + n))
            return n
        except OSError:
            continue
        finally:
            s.close()
    raise v.TestFailure('no free VNC port')


def wait_port(port, vm, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            if vm.p.poll() is not None:
                raise v.TestFailure('amber-vmm exited before listening\n' + vm.describe())
            time.sleep(0.1)
    raise v.TestFailure('nothing listens on %d\n%s' % (port, vm.describe()))


def running(c):
    return c.cmd('query-status').get('return', {}).get('status') == 'running'


def capture(display, path):
    if os.path.exists(path):
        os.unlink(path)
    r = subprocess.run(['gvnccapture', '127.0.0.1:%d' % display, path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    v.check(r.returncode == 0 and os.path.exists(path),
            'gvnccapture failed (%d): %s' % (r.returncode, r.stdout.decode('latin-1')))
    w, h, pixels, alpha = rfb.read_png(path, alpha=True)
    # gtk-vnc takes the padding byte of a depth-32 format as alpha.
    v.check(alpha == 255, '%s is partly transparent (alpha %d)' % (path, alpha))
    return w, h, pixels


def hostile_clients(port, vm, c):
    # Junk instead of the protocol version.
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.recv(12)
    s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n' + bytes(range(256)))
    time.sleep(0.3)
    s.close()
    # A valid handshake, then junk messages (unknown types, absurd lengths).
    # The server may drop the connection at any of them, so a send that
    # meets a closed socket ends the sequence.
    cl = rfb.Client('127.0.0.1', port)
    try:
        cl.send(bytes([6, 0, 0, 0]) + struct.pack('>I', 0xFFFFFFF0))  # ClientCutText, 4 GiB
        cl.send(bytes([2, 0]) + struct.pack('>H', 0xFFFF) + os.urandom(64))  # SetEncodings
        cl.send(bytes([0xEE]) + os.urandom(512))  # unknown message type
        time.sleep(0.3)
    except OSError:
        pass
    cl.close()
    # Stops half-way through a message; the server waits, then drops it.
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.recv(12)
    s.sendall(b'RFB 003.008\n')
    s.recv(64)
    s.sendall(b'\x01')  # security None
    s.recv(4)
    s.sendall(b'\x01')  # ClientInit
    s.sendall(b'\x03\x00\x00')  # a third of a FramebufferUpdateRequest
    # A flood of random bytes on fresh connections.
    rng = random.Random(5)
    for _ in range(20):
        t = socket.create_connection(('127.0.0.1', port), timeout=10)
        try:
            t.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096))))
        except OSError:
            pass
        t.close()
    s.close()
    v.check(vm.p.poll() is None, 'amber-vmm exited after junk on the VNC socket\n' + vm.describe())
    v.check(running(c), 'not running after junk on the VNC socket')


def text_mode(tmp):
    from test_vga import make_boot_disk
    disk = make_boot_disk(tmp)
    display = free_display()
    port = 5900 + display
    sock = os.path.join(tmp, 'ctl-text.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, control=sock,
                     extra=['--vga', 'std', '--vnc', '127.0.0.1:%d' % display])
    try:
        vm.wait_line(r'BOOT: RESULT PASS', 120)
        c = v.Control(sock)
        info = c.cmd('query-vnc').get('return')
        v.check(info == {'enabled': True, 'host': '127.0.0.1', 'service': str(port),
                         'family': 'ipv4', 'auth': 'none', 'clients': []},
                'query-vnc before a client: %s' % info)
        time.sleep(0.5)
        artifact_dir = ARTIFACTS or tmp
        os.makedirs(artifact_dir, exist_ok=True)
        png = os.path.join(artifact_dir, 'vnc-seabios.png')
        w, h, pixels = capture(display, png)
        print('artifact: %s' % png, flush=True)
        v.check((w, h) == (720, 400), 'gvnccapture image is %dx%d, want 720x400' % (w, h))
        v.check(len(set(pixels[i:i + 3] for i in range(0, len(pixels), 3))) > 1,
                'the VNC picture is blank')
        rows = text_rows(w, h, pixels)
        v.log('text rows with content over VNC: %s' % [i for i, lit in enumerate(rows) if lit])
        v.check(rows[0], 'the top text row is background: no SeaBIOS banner over VNC')
        ppm = os.path.join(tmp, 'text.ppm')
        r = c.cmd('screendump', {'filename': ppm})
        v.check(r.get('return') == {}, 'screendump: %s' % r)
        sw, sh, spixels = read_ppm(ppm)
        v.check((sw, sh) == (w, h) and spixels == pixels,
                'the VNC picture differs from the screendump')

        # A connected client is listed.
        cl = rfb.Client('127.0.0.1', port)
        v.check(cl.settle(want_size=(720, 400)) == (720, 400), 'RFB client size')
        v.check(cl.rgb() == spixels, 'the RFB client frame differs from the screendump')
        info = c.cmd('query-vnc').get('return')
        v.check(len(info.get('clients', [])) == 1 and info['clients'][0]['host'] == '127.0.0.1'
                and info['clients'][0]['family'] == 'ipv4'
                and int(info['clients'][0]['service']) == cl.sock.getsockname()[1],
                'query-vnc with a client: %s' % info)
        cl.close()

        hostile_clients(port, vm, c)
        # Still serving.
        w2, h2, pixels2 = capture(display, os.path.join(tmp, 'after-junk.png'))
        v.check((w2, h2, pixels2) == (w, h, pixels), 'the picture after junk clients differs')

        # The port is taken: a second VMM fails to start and says where.
        other = v.start_vmm(kernel=v.PVH, cmdline='test=idle',
                            extra=['--vga', 'std', '--vnc', '127.0.0.1:%d' % display])
        rc = other.wait(30)
        v.check(rc == 1 and '127.0.0.1:%d' % port in other.stderr_text and
                'in use' in other.stderr_text,
                'second VMM on a taken port: rc %s, stderr %r' % (rc, other.stderr_text))
        v.check(running(c), 'not running at the end')
        c.cmd('quit')
        v.check(vm.wait(20) == 0, 'exit status after quit')
        c.close()
    finally:
        vm.kill()


def linear_mode(tmp):
    display = free_display()
    port = 5900 + display
    sock = os.path.join(tmp, 'ctl-dispi.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=vga tick=1', control=sock,
                     extra=['--vga', 'std', '--vnc', '127.0.0.1:%d' % display])
    try:
        vm.wait_line(r'VGA: READY', 60)
        c = v.Control(sock)
        cl = rfb.Client('127.0.0.1', port)
        v.check(cl.settle(quiet=0.3, want_size=(WIDTH, HEIGHT)) == (WIDTH, HEIGHT),
                'RFB client size %dx%d' % (cl.width, cl.height))
        got = cl.rgb()
        tick_rows = range(300, 316)
        for y in range(HEIGHT):
            if y in tick_rows:
                continue  # the square may have been recoloured already
            want = b''.join(pattern_pixel(x, y) for x in range(WIDTH))
            line = got[y * WIDTH * 3:(y + 1) * WIDTH * 3]
            if line != want:
                bad = next(i for i in range(0, len(want), 3) if line[i:i + 3] != want[i:i + 3])
                raise v.TestFailure('VNC pixel %d,%d is %s, want %s' % (
                    bad // 3, y, line[bad:bad + 3].hex(), want[bad:bad + 3].hex()))
        # The ticks: only the square's rows come, never the whole screen.
        first_tick = int(vm.wait_line(r'VGA: tick (\d+)', 30).group(1))
        seen = []
        deadline = time.monotonic() + 12
        cl.request(incremental=True)
        while time.monotonic() < deadline and len(seen) < 3:
            rects = cl.read_update()
            cl.request(incremental=True)
            if rects:
                seen.append(rects)
        v.check(len(seen) >= 3, 'fewer than 3 updates for the ticks: %s' % seen)
        for rects in seen:
            for x, y, w, h, enc in rects:
                v.check(y >= 300 and y + h <= 316 and x >= 200 and x + w <= 216,
                        'an update %dx%d+%d+%d outside the 16x16 square at 200,300 (all: %s)'
                        % (w, h, x, y, seen))
        v.log('tick updates: %s (from tick %d)' % (seen, first_tick))
        # The frame equals the screendump taken between two ticks (right
        # after one; retried when the next came before the comparison).
        ppm = os.path.join(tmp, 'dispi.ppm')
        for attempt in range(6):
            tick = last_tick(vm)
            vm.wait_line(r'VGA: tick %d$' % (tick + 1), 10)
            r = c.cmd('screendump', {'filename': ppm})
            v.check(r.get('return') == {}, 'screendump: %s' % r)
            cl.settle(quiet=0.2)
            _, _, spixels = read_ppm(ppm)
            same = cl.rgb() == spixels
            if last_tick(vm) == tick + 1:
                v.check(same, 'the VNC frame differs from the screendump (tick %d)' % (tick + 1))
                break
        else:
            raise v.TestFailure('no comparison between two ticks in 6 tries')
        v.check('dirty log' not in vm.stderr_text, 'dirty log complaint\n' + vm.describe())
        cl.close()
        c.cmd('quit')
        vm.wait(20)
        c.close()
    finally:
        vm.kill()


def last_tick(vm):
    ticks = re.findall(r'VGA: tick (\d+)', vm.output())
    return int(ticks[-1]) if ticks else 0


def kbd_bytes(vm, kind):
    return re.findall(r'KBD: %s=([0-9A-F]{2})' % kind, vm.output())


def wait_bytes(vm, kind, count, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = kbd_bytes(vm, kind)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    return kbd_bytes(vm, kind)


def input_events(tmp):
    code = open(KBD_BIN, 'rb').read()
    disk = os.path.join(tmp, 'kbd.raw')
    with open(disk, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    display = free_display()
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS,
                     extra=['--vga', 'std', '--vnc', '127.0.0.1:%d' % display])
    try:
        vm.wait_line(r'KBD: READY', 120)
        cl = rfb.Client('127.0.0.1', 5900 + display)
        time.sleep(0.3)
        v.check(kbd_bytes(vm, 'K') == [], 'key bytes before any key\n' + vm.describe())
        cl.key(ord('a'), True)
        time.sleep(0.05)
        cl.key(ord('a'), False)
        want = ['1E', '9E']
        got = wait_bytes(vm, 'K', len(want))
        v.check(got == want, "KeyEvent 'a' gave %s, want %s\n%s" % (got, want, vm.describe()))
        for keysym, down in ((0xFFE1, True), (ord('A'), True), (ord('A'), False), (0xFFE1, False)):
            cl.key(keysym, down)
            time.sleep(0.05)
        want += ['2A', '1E', '9E', 'AA']
        got = wait_bytes(vm, 'K', len(want))
        v.check(got == want, "Shift+'A' gave %s, want %s\n%s" % (got, want, vm.describe()))
        cl.pointer(0, 100, 100)
        time.sleep(0.1)
        cl.pointer(1, 105, 97)
        got = wait_bytes(vm, 'M', 3)
        v.check(got == ['09', '05', '03'], 'mouse packet %s\n%s' % (got, vm.describe()))
        v.check(kbd_bytes(vm, 'K') == want, 'mouse bytes on IRQ 1\n' + vm.describe())
        cl.close()
    finally:
        vm.kill()


def refused(port, password):
    try:
        cl = rfb.Client('127.0.0.1', port, password=password)
    except rfb.RfbError as e:
        return str(e)
    cl.close()
    return None


def password(tmp):
    display = free_display()
    port = 5900 + display
    sock = os.path.join(tmp, 'ctl-pw.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=vga', control=sock,
                     extra=['--vga', 'std', '--vnc', '127.0.0.1:%d,password=on' % display])
    try:
        vm.wait_line(r'VGA: READY', 60)
        c = v.Control(sock)
        v.check(c.cmd('query-vnc').get('return', {}).get('auth') == 'vnc', 'query-vnc auth')
        why = refused(port, None)
        v.check(why is not None and 'not offered' in why, 'no-auth client: %s' % why)
        v.check(refused(port, 'secret') is not None, 'a password got in before one was set')
        r = c.cmd('change-vnc-password', {'password': 'secret'})
        v.check(r.get('return') == {}, 'change-vnc-password: %s' % r)
        v.check(refused(port, 'wrong') is not None, 'a wrong password got in')
        v.check(refused(port, 'secreT') is not None, 'a password differing in case got in')
        cl = rfb.Client('127.0.0.1', port, password='secret')
        v.check(cl.settle(quiet=0.3, want_size=(WIDTH, HEIGHT)) == (WIDTH, HEIGHT),
                'the authenticated client got no 1024x768 frame')
        cl.close()
        r = c.cmd('change-vnc-password', {'password': ''})
        v.check(r.get('return') == {}, 'change-vnc-password "": %s' % r)
        v.check(refused(port, 'secret') is not None, 'the old password got in after ""')
        for bad in ({}, {'password': 5}, {'password': 'x', 'extra': 1}):
            r = c.cmd('change-vnc-password', bad)
            v.check('error' in r, 'change-vnc-password %s: %s' % (bad, r))
        v.check(running(c), 'not running after the password checks')
        c.cmd('quit')
        vm.wait(20)
        c.close()
    finally:
        vm.kill()


def without_vnc(tmp):
    sock = os.path.join(tmp, 'ctl-none.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=idle', control=sock)
    try:
        c = v.Control(sock)
        r = c.cmd('query-vnc')
        v.check(r.get('return') == {'enabled': False}, 'query-vnc without --vnc: %s' % r)
        r = c.cmd('change-vnc-password', {'password': 'x'})
        v.check('error' in r and 'VNC' in r['error'].get('desc', ''),
                'change-vnc-password without --vnc: %s' % r)
        c.cmd('quit')
        vm.wait(20)
        c.close()
    finally:
        vm.kill()
    r = subprocess.run([v.VMM, '--vnc', '127.0.0.1:0', '--kernel', v.PVH], stderr=subprocess.PIPE)
    err = r.stderr.decode('latin-1')
    v.check(r.returncode == 1 and '--vnc' in err and '--vga' in err,
            '--vnc without --vga: rc %d %r' % (r.returncode, err))


def test():
    v.require_seabios()
    if not os.path.exists('/usr/share/seabios/vgabios-stdvga.bin'):
        v.log('no vgabios-stdvga.bin: skipped')
        raise SystemExit(v.SKIP)
    tmp = v.workdir('vnc')
    without_vnc(tmp)
    linear_mode(tmp)
    password(tmp)
    input_events(tmp)
    text_mode(tmp)


if __name__ == '__main__':
    v.main(test)
