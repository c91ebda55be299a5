#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""USB: the PVH probe's test=usb mode (tests/guest/pvh/usb_probe.c) finds
the PIIX3 UHCI 8086:7020 at 00:01.2, resets it and port 1, enumerates the
usb-tablet on it (device / configuration / string / HID report
descriptors, SET_ADDRESS, SET_CONFIGURATION), sees the interrupt IN
endpoint NAK while idle and prints each report it reads. input-send-event
with QMP's abs/btn events must give the reports of QEMU's usb-tablet. The
same probe runs first under QEMU 7.2 (TCG, -device piix3-usb-uhci,addr=1.2
-device usb-tablet, QMP input-send-event) as the oracle: both must print
the same descriptors and the same reports; usb-mouse and usb-kbd must give
QEMU's descriptors too. Then: input-send-event is refused without a
tablet, a key number reaches the usb-kbd as its boot report, SeaBIOS
still boots with --usb and a tablet and keyboard, initialises the
controller and sets the keyboard up (its debugcon lines)."""
import json
import os
import re
import shutil
import socket

import vmmlib as v


def abs_event(axis, value):
    return {'type': 'abs', 'data': {'axis': axis, 'value': value}}


def btn_event(button, down):
    return {'type': 'btn', 'data': {'down': down, 'button': button}}


# One input-send-event each, and the report the tablet must give for it
# (buttons, X lo/hi, Y lo/hi, wheel; QEMU's wheel-up is +1).
STEPS = [
    ([abs_event('x', 0x1234), abs_event('y', 0x4321), btn_event('left', True)],
     '01 34 12 21 43 00'),
    ([btn_event('left', False), btn_event('wheel-up', True), btn_event('wheel-up', False)],
     '00 34 12 21 43 01'),
    ([abs_event('x', 0x7FFF), abs_event('y', 0), btn_event('right', True)],
     '02 ff 7f 00 00 00'),
    ([btn_event('right', False), btn_event('middle', True), btn_event('wheel-down', True),
      btn_event('wheel-down', False)],
     '04 ff 7f 00 00 ff'),
]
CMDLINE = 'test=usb reports=%d' % len(STEPS)


def usb_lines(vm):
    return [line for line in vm.output().splitlines() if line.startswith('USB ')]


def drive_steps(vm, send, who):
    """Sends each step once the probe waits for it; checks its report."""
    vm.wait_line(r'^USB READY', 180)
    for n, (events, want) in enumerate(STEPS, 1):
        send(events)
        m = vm.wait_line(r'^USB report %d: (.*)$' % n, 60)
        v.check(m.group(1) == want, '%s: report %d is %r, want %r\n%s'
                % (who, n, m.group(1), want, vm.describe()))
    vm.wait_line(r'^USB DONE', 30)
    v.check(vm.wait(30) == 1, '%s: exit status, want 1 (isa-debug-exit 0)\n%s'
            % (who, vm.describe()))


def qemu_oracle(tmp):
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return None
    qmp = os.path.join(tmp, 'qmp.sock')
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                 '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-no-reboot', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                 '-kernel', v.PVH, '-append', CMDLINE,
                 '-device', 'piix3-usb-uhci,id=usb,addr=01.2',
                 '-device', 'usb-tablet,bus=usb.0,port=1',
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
    try:
        vm.wait_line(r'^USB READY', 120)
        s = socket.socket(socket.AF_UNIX)
        s.connect(qmp)
        f = s.makefile('rw')
        f.readline()
        f.write('{"execute":"qmp_capabilities"}\n')
        f.flush()
        f.readline()

        def send(events):
            f.write(json.dumps({'execute': 'input-send-event',
                                'arguments': {'events': events}}) + '\n')
            f.flush()
            reply = json.loads(f.readline())
            v.check(reply.get('return') == {}, 'QEMU input-send-event: %s' % reply)

        drive_steps(vm, send, 'QEMU')
        s.close()
        return usb_lines(vm)
    finally:
        vm.kill()


def amber_run(tmp):
    sock = os.path.join(tmp, 'ctl.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline=CMDLINE, control=sock,
                     extra=['--usb', '--usb-device', 'tablet'])
    try:
        vm.wait_line(r'^USB READY', 180)
        c = v.Control(sock)

        def send(events):
            r = c.cmd('input-send-event', {'events': events})
            v.check(r.get('return') == {}, 'input-send-event %s: %s' % (events, r))

        # Refused before anything reaches the guest: bad axis, value, button.
        for bad in ([abs_event('z', 1)], [abs_event('x', 0x8000)], [btn_event('thumb', True)],
                    [{'type': 'key', 'data': {'down': True,
                                              'key': {'type': 'qcode', 'data': 'hiragana'}}}], []):
            r = c.cmd('input-send-event', {'events': bad})
            v.check(r.get('error', {}).get('class') == 'GenericError',
                    'input-send-event %s: %s' % (bad, r))
        drive_steps(vm, send, 'amber-vmm')
        c.close()
        return usb_lines(vm)
    finally:
        vm.kill()


def descriptors_match(tmp, qemu_device, amber_device):
    """usb-mouse / usb-kbd: the same descriptor lines as QEMU's (no input)."""
    qemu = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                   '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                   '-no-reboot', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                   '-kernel', v.PVH, '-append', 'test=usb reports=0',
                   '-device', 'piix3-usb-uhci,id=usb,addr=01.2',
                   '-device', '%s,bus=usb.0,port=1' % qemu_device], name='qemu')
    try:
        v.check(qemu.wait(120) == 1, 'QEMU %s: exit status\n%s' % (qemu_device, qemu.describe()))
        want = usb_lines(qemu)
    finally:
        qemu.kill()
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=usb reports=0',
                     extra=['--usb', '--usb-device', amber_device])
    try:
        v.check(vm.wait(180) == 1, '%s: exit status\n%s' % (amber_device, vm.describe()))
        got = usb_lines(vm)
    finally:
        vm.kill()
    v.check(got == want and any(line.startswith('USB hid report:') for line in got),
            '%s: amber-vmm and QEMU differ:\n%s' % (amber_device, '\n'.join(
                '%s\n   QEMU: %s' % (a, b) for a, b in zip(got, want) if a != b)))


def keyboard(tmp):
    """A usb-kbd instead: abs events are refused (no tablet to take them);
    key number 0x1E (qnum of 'a') gives the boot report with usage 0x04."""
    sock = os.path.join(tmp, 'ctl2.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=usb reports=1', control=sock,
                     extra=['--usb', '--usb-device', 'keyboard'])
    try:
        vm.wait_line(r'^USB READY', 180)
        c = v.Control(sock)
        r = c.cmd('input-send-event', {'events': [abs_event('x', 5)]})
        v.check('tablet' in r.get('error', {}).get('desc', ''), 'abs without a tablet: %s' % r)
        r = c.cmd('input-send-event', {'events': [
            {'type': 'key', 'data': {'down': True, 'key': {'type': 'number', 'data': 0x1E}}}]})
        v.check(r.get('return') == {}, 'a key to the USB keyboard: %s' % r)
        m = vm.wait_line(r'^USB report 1: (.*)$', 60)
        v.check(m.group(1) == '00 00 04 00 00 00 00 00', 'keyboard report %r\n%s'
                % (m.group(1), vm.describe()))
        v.check(any(line == 'USB string product 4: QEMU USB Keyboard' for line in usb_lines(vm)),
                'keyboard product string\n' + vm.describe())
        c.close()
    finally:
        vm.kill()


def seabios(tmp):
    """SeaBIOS is a real UHCI and HID driver: it must find the controller,
    bring up the usb-kbd on port 2 as its boot keyboard (its streamed TD
    rings link to zeroed TDs: no process error) and go on to boot."""
    log = os.path.join(tmp, 'debugcon.log')
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', serial='none',
                     extra=['--usb', '--usb-device', 'tablet', '--usb-device', 'keyboard',
                            '--debugcon', 'file:' + log])
    try:
        text = v.wait_file_text(vm, log, lambda t: 'UHCI init on dev' in t and
                                ('No bootable device' in t or 'Booting from' in t), 120)
        v.check(re.search(r'UHCI init on dev 00:01\.2 \(io=[0-9a-f]+\)', text) is not None,
                'SeaBIOS did not find the UHCI at 00:01.2\n--- debugcon ---\n%s\n%s'
                % (text[-4000:], vm.describe()))
        v.check('Booting from' in text or 'No bootable device' in text,
                'SeaBIOS did not reach its boot step\n' + text[-4000:])
        v.check('USB keyboard initialized' in text and 'Timeout' not in text,
                'SeaBIOS did not set up the USB keyboard\n--- debugcon ---\n' + text[-4000:])
    finally:
        vm.kill()


def test():
    tmp = v.workdir('usbprobe')
    want = qemu_oracle(tmp)
    got = amber_run(tmp)
    for line in got:
        v.log(line)
    if want is not None:
        v.check(got == want, 'amber-vmm and QEMU differ:\n%s' % '\n'.join(
            '%s\n   QEMU: %s' % (a, b) for a, b in zip(got, want) if a != b) +
            ('\n(%d lines vs %d)' % (len(got), len(want))))
    serial = [line for line in got if line.startswith('USB string serial')]
    v.check(serial == ['USB string serial 10: 28754-0000:00:01.2-1'], 'serial %s' % serial)
    keyboard(tmp)
    if want is not None:
        descriptors_match(tmp, 'usb-mouse', 'mouse')
        descriptors_match(tmp, 'usb-kbd', 'keyboard')
    if os.path.exists(v.SEABIOS):
        seabios(tmp)
    else:
        v.log('no SeaBIOS: boot step skipped')


if __name__ == '__main__':
    v.main(test)
