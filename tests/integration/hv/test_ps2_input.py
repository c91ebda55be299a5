#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""PS/2 input: the input probe (tests/guest/bootsector/kbd.S) booted by
SeaBIOS hooks IRQ 1 and IRQ 12, turns on XLATE and the mouse, and prints
every byte an interrupt brings. send-key on the control socket must then
reach it as translated set 1 scan codes in QMP's order (presses in order,
releases last key first): KEY_A -> 1E 9E; Ctrl+Alt+Delete -> 1D 38 E0 53
E0 D3 B8 9D; Pause -> E1 1D 45 E1 9D C5; mouse-move -> one 3-byte packet
on IRQ 12. Bad keycodes are refused and send nothing. input-send-event
without USB devices reaches the same PS/2 keyboard and mouse. The same probe first
runs under QEMU 7.2 (TCG, pc) with QMP's send-key as the oracle for the
key bytes, when QEMU is here."""
import os
import re
import shutil
import socket
import time

import vmmlib as v

KBD_BIN = os.path.join(v.GUEST_DIR, 'kbd.bin')

# (Linux keycodes, QEMU qcodes, the bytes the guest must see)
SEQUENCES = [
    ([30], ['a'], ['1E', '9E']),
    ([29, 56, 111], ['ctrl', 'alt', 'delete'], ['1D', '38', 'E0', '53', 'E0', 'D3', 'B8', '9D']),
    ([119], ['pause'], ['E1', '1D', '45', 'E1', '9D', 'C5']),
    ([103], ['up'], ['E0', '48', 'E0', 'C8']),
]


def make_disk(tmp):
    code = open(KBD_BIN, 'rb').read()
    v.check(len(code) == 512 and b'KBD: READY' in code, 'kbd.bin is not the probe')
    path = os.path.join(tmp, 'kbd.raw')
    with open(path, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    return path


def bytes_seen(vm, kind):
    return re.findall(r'KBD: %s=([0-9A-F]{2})' % kind, vm.output())


def wait_bytes(vm, kind, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = bytes_seen(vm, kind)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    return bytes_seen(vm, kind)


def qemu_oracle(tmp, disk):
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return
    qmp = os.path.join(tmp, 'qmp.sock')
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                 '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-drive', 'file=%s,format=raw,if=virtio' % disk,
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
    try:
        vm.wait_line(r'KBD: READY', 60)
        s = socket.socket(socket.AF_UNIX)
        s.connect(qmp)
        f = s.makefile('rw')
        f.readline()
        f.write('{"execute":"qmp_capabilities"}\n')
        f.flush()
        f.readline()
        want = []
        for _, qcodes, expect in SEQUENCES:
            keys = ', '.join('{"type":"qcode","data":"%s"}' % q for q in qcodes)
            f.write('{"execute":"send-key","arguments":{"keys":[%s]}}\n' % keys)
            f.flush()
            want += expect
            got = wait_bytes(vm, 'K', len(want), 20)
            v.check(got == want, 'QEMU: keys %s gave %s, want %s\n%s'
                    % (qcodes, got, want, vm.describe()))
        s.close()
        v.check('FAIL' not in vm.output(), 'the probe failed under QEMU\n' + vm.describe())
    finally:
        vm.kill()


def test():
    v.require_seabios()
    tmp = v.workdir('ps2input')
    disk = make_disk(tmp)
    qemu_oracle(tmp, disk)
    sock = os.path.join(tmp, 'ctl.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, control=sock)
    try:
        vm.wait_line(r'KBD: READY', 120)
        c = v.Control(sock)
        time.sleep(0.3)
        v.check(bytes_seen(vm, 'K') == [] and 'FAIL' not in vm.output(),
                'bytes before any key\n' + vm.describe())
        want = []
        for keys, _, expect in SEQUENCES:
            r = c.cmd('send-key', {'keys': keys, 'hold-time': 20})
            v.check(r.get('return') == {}, 'send-key %s: %s' % (keys, r))
            want += expect
            got = wait_bytes(vm, 'K', len(want), 20)
            v.check(got == want, 'keys %s gave %s, want %s\n%s' % (keys, got, want, vm.describe()))
        # The default hold time (100 ms) and several sequences queued at once
        # keep their order.
        for _ in range(3):
            v.check(c.cmd('send-key', {'keys': [48]}).get('return') == {}, 'send-key KEY_B')
        want += ['30', 'B0'] * 3
        got = wait_bytes(vm, 'K', len(want), 20)
        v.check(got == want, 'three KEY_B gave %s, want %s' % (got[-6:], want[-6:]))
        # Refused: no such key, bad arguments; nothing reaches the guest.
        for args in ({'keys': [84]}, {'keys': [30, 100000]}, {'keys': []},
                     {'keys': [30], 'hold-time': -1}, {'keys': ['a']}):
            r = c.cmd('send-key', args)
            v.check(r.get('error', {}).get('class') == 'GenericError', 'send-key %s: %s' % (args, r))
        time.sleep(0.5)
        v.check(bytes_seen(vm, 'K') == want, 'a refused send-key sent bytes\n' + vm.describe())
        # The mouse: right 5, up 3 with the left button -> 09 05 03 on IRQ 12.
        r = c.cmd('mouse-move', {'dx': 5, 'dy': -3, 'buttons': 1})
        v.check(r.get('return') == {}, 'mouse-move: %s' % r)
        got = wait_bytes(vm, 'M', 3, 20)
        v.check(got == ['09', '05', '03'], 'mouse packet %s\n%s' % (got, vm.describe()))
        v.check(bytes_seen(vm, 'K') == want, 'mouse bytes on IRQ 1\n' + vm.describe())
        # input-send-event without USB devices goes to PS/2: key number
        # 0x30 ('b', QEMU's qnum) down and up, then rel motion + a button.
        key = [{'type': 'key', 'data': {'down': d, 'key': {'type': 'number', 'data': 0x30}}}
               for d in (True, False)]
        r = c.cmd('input-send-event', {'events': key})
        v.check(r.get('return') == {}, 'input-send-event key: %s' % r)
        want += ['30', 'B0']
        got = wait_bytes(vm, 'K', len(want), 20)
        v.check(got == want, 'input-send-event key gave %s, want %s' % (got[-2:], want[-2:]))
        r = c.cmd('input-send-event', {'events': [
            {'type': 'rel', 'data': {'axis': 'x', 'value': 7}},
            {'type': 'btn', 'data': {'down': True, 'button': 'right'}}]})
        v.check(r.get('return') == {}, 'input-send-event rel: %s' % r)
        got = wait_bytes(vm, 'M', 6, 20)
        v.check(got[3:] == ['0A', '07', '00'], 'input-send-event mouse packet %s\n%s'
                % (got, vm.describe()))
        r = c.cmd('input-send-event', {'events': [{'type': 'abs', 'data': {'axis': 'x',
                                                                          'value': 1}}]})
        v.check('tablet' in r.get('error', {}).get('desc', ''), 'abs without a tablet: %s' % r)
        v.check(c.cmd('quit').get('return') == {}, 'quit')
        v.check(vm.wait(20) == 0, 'exit status after quit')
        c.close()
    finally:
        vm.kill()


if __name__ == '__main__':
    v.main(test)
