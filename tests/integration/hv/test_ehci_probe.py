#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""USB 2.0: the PVH probe's test=ehci mode (tests/guest/pvh/ehci_probe.c)
finds ICH9's EHCI1 8086:293a behind `--usb ehci`, takes its ports
(CONFIGFLAG), resets port 1 (the tablet is high speed: enabled by the
reset), enumerates it over the asynchronous schedule (ep0 of 64 bytes, an
interrupt endpoint every 1 ms), sees the interrupt IN endpoint NAK on the
periodic schedule while idle, and reads the reports of an input-send-event
and of a VNC pointer event (absolute coordinates scaled to the screen).
The same probe runs under QEMU 7.2 (TCG, ich9-usb-ehci1 + ich9-usb-uhci1..3
+ usb-tablet) first: the EHCI lines up to READY must match. Then
test=ehcihandoff: the port handed to the companion (PORT_OWNER) shows on
UHCI1 8086:2934, which enumerates the tablet at full speed and reads a
report through its own schedule."""
import json
import os
import shutil
import socket
import time

import rfb
import vmmlib as v

STEP = ([{'type': 'abs', 'data': {'axis': 'x', 'value': 0x1234}},
         {'type': 'abs', 'data': {'axis': 'y', 'value': 0x4321}},
         {'type': 'btn', 'data': {'down': True, 'button': 'left'}}], '01 34 12 21 43 00')


def ehci_lines(vm):
    return [line for line in vm.output().splitlines() if line.startswith('EHCI ')]


def until_ready(lines):
    return lines[:[i for i, line in enumerate(lines) if line == 'EHCI READY'][0] + 1]


def qemu_oracle():
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return None
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                 '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-no-reboot', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                 '-kernel', v.PVH, '-append', 'test=ehci reports=0',
                 '-device', 'ich9-usb-ehci1,id=usb,addr=05.7',
                 '-device', 'ich9-usb-uhci1,masterbus=usb.0,firstport=0,addr=05.0,multifunction=on',
                 '-device', 'ich9-usb-uhci2,masterbus=usb.0,firstport=2,addr=05.1',
                 '-device', 'ich9-usb-uhci3,masterbus=usb.0,firstport=4,addr=05.2',
                 '-device', 'usb-tablet,bus=usb.0,port=1'], name='qemu')
    try:
        v.check(vm.wait(120) == 1, 'QEMU: exit status\n' + vm.describe())
        return until_ready(ehci_lines(vm))
    finally:
        vm.kill()


def amber_ehci(tmp):
    sock = os.path.join(tmp, 'ctl.sock')
    display = 60 + os.getpid() % 30
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=ehci reports=2', control=sock,
                     extra=['--usb', 'ehci,addr=0x5', '--usb-device', 'tablet',
                            '--vga', 'std', '--vnc', '127.0.0.1:%d' % display])
    try:
        vm.wait_line(r'^EHCI READY', 180)
        c = v.Control(sock)
        r = c.cmd('input-send-event', {'events': STEP[0]})
        v.check(r.get('return') == {}, 'input-send-event: %s' % r)
        m = vm.wait_line(r'^EHCI report 1: (.*)$', 60)
        v.check(m.group(1) == STEP[1], 'report 1 %r, want %r\n%s'
                % (m.group(1), STEP[1], vm.describe()))
        cl = rfb.Client('127.0.0.1', 5900 + display)
        x, y = cl.width // 4, cl.height // 2
        cl.pointer(4, x, y)  # the right button, at a quarter and a half
        ax, ay = x * 0x7FFF // cl.width, y * 0x7FFF // cl.height
        want = '02 %02x %02x %02x %02x 00' % (ax & 0xFF, ax >> 8, ay & 0xFF, ay >> 8)
        m = vm.wait_line(r'^EHCI report 2: (.*)$', 60)
        v.check(m.group(1) == want, 'VNC pointer (%d,%d) of %dx%d: report %r, want %r\n%s'
                % (x, y, cl.width, cl.height, m.group(1), want, vm.describe()))
        vm.wait_line(r'^EHCI DONE', 30)
        v.check(vm.wait(30) == 1, 'exit status\n' + vm.describe())
        cl.close()
        c.close()
        return until_ready(ehci_lines(vm))
    finally:
        vm.kill()


def amber_handoff(tmp):
    sock = os.path.join(tmp, 'ctl2.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=ehcihandoff reports=1', control=sock,
                     extra=['--usb', 'ehci', '--usb-device', 'tablet'])
    try:
        vm.wait_line(r'^USB READY', 180)
        c = v.Control(sock)
        r = c.cmd('input-send-event', {'events': STEP[0]})
        v.check(r.get('return') == {}, 'input-send-event: %s' % r)
        m = vm.wait_line(r'^USB report 1: (.*)$', 60)
        v.check(m.group(1) == STEP[1], 'companion report %r\n%s' % (m.group(1), vm.describe()))
        vm.wait_line(r'^USB DONE', 30)
        c.close()
        out = vm.output()
        # Handed over: EHCI port 1 = power + owner + connect change; the
        # companion port connected; full speed (ep0 of 8 bytes).
        v.check('EHCI handed over port1=3002 companion port1=83' in out,
                'hand-over lines\n' + vm.describe())
        v.check('USB uhci 00:3.0 rev 3 class c0300 pin 1' in out.replace('00:03.', '00:3.'),
                'companion identity\n' + vm.describe())
        dev = [line for line in out.splitlines() if line.startswith('USB device:')]
        v.check(dev and dev[0].split()[9] == '08', 'full-speed device descriptor %s' % dev)
    finally:
        vm.kill()


def test():
    tmp = v.workdir('ehciprobe')
    want = qemu_oracle()
    got = amber_ehci(tmp)
    for line in got:
        v.log(line)
    v.check('EHCI endpoint 1 packet 8 interval 4' in got, 'high-speed tablet endpoint %s' % got)
    if want is not None:
        v.check(got == want, 'amber-vmm and QEMU differ:\n%s' % '\n'.join(
            '%s\n   QEMU: %s' % (a, b) for a, b in zip(got, want) if a != b) +
            ('\n(%d lines vs %d)' % (len(got), len(want))))
    amber_handoff(tmp)


if __name__ == '__main__':
    v.main(test)
