#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ACPI power button: the power-button probe (tests/guest/bootsector/
powerbtn.S) booted by SeaBIOS finds PMBASE, enables ACPI through SMI_CMD
0xB2, enables PWRBTN_EN and an IRQ 9 (SCI) handler and prints READY;
system_powerdown on the control socket must then reach that handler as
PWRBTN_STS (write-1-to-clear), and its S5 (SLP_TYP 0 | SLP_EN) must give
SHUTDOWN guest-shutdown and exit status 0, as QEMU does. A guest that never
set PWRBTN_EN: system_powerdown is answered and nothing else happens (no
interrupt, the VM keeps running). The same probe first runs under QEMU 7.2
(TCG, pc) with QMP's system_powerdown as the oracle, when QEMU is here.

Then the whole path in one guest, as an ACPI OS takes it: the ACPI probe
(tests/guest/acpi, ACPIMODE=1) walks and checks the tables, takes SLP_TYPa
from the DSDT's \\_S5, SMI_CMD/ACPI_ENABLE and the PM1a blocks from the
FADT, waits for the SCI (seen in the PIC's request register) after
system_powerdown and powers off through S5; its "ACPI POWER" lines must
equal QEMU's."""
import os
import shutil
import socket
import subprocess
import time

import vmmlib as v

POWERBTN_BIN = os.path.join(v.GUEST_DIR, 'powerbtn.bin')
ACPI_BIN = os.path.join(v.GUEST_DIR, 'acpi.bin')


def make_disk(tmp, button):
    """A 1 MiB raw disk holding the probe (SeaBIOS skips smaller disks)."""
    code = open(POWERBTN_BIN, 'rb').read()
    v.check(len(code) == 512 and b'PBMODE=1' in code, 'powerbtn.bin is not the probe')
    if not button:
        code = code.replace(b'PBMODE=1', b'PBMODE=0')
    path = os.path.join(tmp, 'pb%d.raw' % button)
    with open(path, 'wb') as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    return path


def qmp_powerdown(qmp):
    """QMP's system_powerdown to the QEMU listening on QMP; returns the open
    socket (closed by the caller once QEMU is done)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(qmp)
    f = s.makefile('rw')
    f.readline()
    for cmd in ('qmp_capabilities', 'system_powerdown'):
        f.write('{"execute":"%s"}\n' % cmd)
        f.flush()
    return s


def qemu_oracle(tmp, disk):
    """The probe under QEMU: READY, POWERBUTTON after system_powerdown, exit 0."""
    if shutil.which(v.QEMU) is None:
        v.log('no %s: oracle step skipped' % v.QEMU)
        return
    qmp = os.path.join(tmp, 'qmp.sock')
    vm = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-nographic',
                 '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-net', 'none',
                 '-drive', 'file=%s,format=raw,if=virtio' % disk,
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
    try:
        vm.wait_line(r'PWRBTN: READY$', 60)
        s = qmp_powerdown(qmp)
        vm.wait_line(r'PWRBTN: POWERBUTTON', 30)
        rc = vm.wait(30)
        s.close()
        v.check(rc == 0, 'QEMU exited %d after the guest S5, not 0' % rc)
        v.check('FAIL' not in vm.output() and 'SPURIOUS' not in vm.output(),
                'the probe failed under QEMU\n' + vm.describe())
    finally:
        vm.kill()


def start(tmp, disk, sock):
    return v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, control=sock)


def button_pressed(tmp):
    disk = make_disk(tmp, True)
    qemu_oracle(tmp, disk)
    sock = os.path.join(tmp, 'ctl1.sock')
    vm = start(tmp, disk, sock)
    try:
        vm.wait_line(r'PWRBTN: READY$', 120)
        c = v.Control(sock)
        time.sleep(0.5)
        v.check('POWERBUTTON' not in vm.output() and 'SPURIOUS' not in vm.output(),
                'an SCI before any press\n' + vm.describe())
        r = c.cmd('system_powerdown')
        v.check(r.get('return') == {}, 'system_powerdown: %s' % r)
        vm.wait_line(r'PWRBTN: POWERBUTTON', 30)
        shutdown = c.wait_event('SHUTDOWN', 30)
        v.check(shutdown.get('data') == {'reason': 'guest-shutdown'},
                'SHUTDOWN after the guest S5: %s' % shutdown)
        rc = vm.wait(30)
        out = vm.output()
        v.check(rc == 0, 'amber-vmm exited %d after the guest S5, not 0 (as QEMU)\n%s'
                % (rc, vm.describe()))
        v.check('FAIL' not in out and 'SPURIOUS' not in out, 'probe failure\n' + vm.describe())
        c.close()
    finally:
        vm.kill()


def button_ignored(tmp):
    disk = make_disk(tmp, False)
    sock = os.path.join(tmp, 'ctl0.sock')
    vm = start(tmp, disk, sock)
    try:
        vm.wait_line(r'PWRBTN: READY nobutton', 120)
        c = v.Control(sock)
        r = c.cmd('system_powerdown')
        v.check(r.get('return') == {}, 'system_powerdown: %s' % r)
        time.sleep(3)
        r = c.cmd('query-status')
        v.check(r.get('return', {}).get('status') == 'running',
                'not running after an ignored power button: %s' % r)
        out = vm.output()
        v.check('POWERBUTTON' not in out and 'SPURIOUS' not in out and 'FAIL' not in out,
                'the guest saw an interrupt it never enabled\n' + vm.describe())
        v.check(not any(e.get('event') == 'SHUTDOWN' for e in c.events),
                'SHUTDOWN without a guest power-off: %s' % c.events)
        # A second press changes nothing either; the host still can end it.
        v.check(c.cmd('system_powerdown').get('return') == {}, 'second system_powerdown')
        v.check(c.cmd('quit').get('return') == {}, 'quit')
        shutdown = c.wait_event('SHUTDOWN', 20)
        v.check(shutdown.get('data') == {'reason': 'host-quit'}, 'SHUTDOWN: %s' % shutdown)
        v.check(vm.wait(20) == 0, 'exit status after quit')
        c.close()
    finally:
        vm.kill()


def acpi_disk(tmp):
    """The ACPI probe in power-button mode on a 2 MiB raw disk."""
    code = open(ACPI_BIN, 'rb').read()
    v.check(code.count(b'ACPIMODE=0') == 1, 'acpi.bin has no ACPIMODE marker')
    code = code.replace(b'ACPIMODE=0', b'ACPIMODE=1')
    path = os.path.join(tmp, 'acpipower.raw')
    with open(path, 'wb') as f:
        f.write(code + bytes((2 << 20) - len(code)))
    return path


def power_lines(out):
    return [line for line in out.splitlines() if line.startswith('ACPI POWER')]


def check_power_run(out, who):
    lines = power_lines(out)
    v.check('ACPI FAIL' not in out and 'ACPI RESULT' not in out,
            '%s: the probe failed (or returned from S5)\n%s' % (who, out))
    v.check(len(lines) == 5 and lines[1] == 'ACPI POWER sci_en=1' and lines[2] == 'ACPI POWER READY'
            and lines[3].startswith('ACPI POWER sci pm1_sts=') and lines[4] == 'ACPI POWER S5',
            '%s: power-button lines %r' % (who, lines))
    return lines


def acpi_walk_then_button(tmp):
    disk = acpi_disk(tmp)
    theirs = None
    if shutil.which(v.QEMU) is not None:
        qmp = os.path.join(tmp, 'qmp2.sock')
        q = v.Proc([v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '128', '-display', 'none',
                    '-monitor', 'none', '-parallel', 'none', '-serial', 'stdio', '-net', 'none',
                    '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                    '-drive', 'file=%s,format=raw' % disk,
                    '-qmp', 'unix:%s,server=on,wait=off' % qmp], name='qemu')
        try:
            q.wait_line(r'ACPI POWER READY$', 60)
            s = qmp_powerdown(qmp)
            rc = q.wait(30)
            s.close()
            v.check(rc == 0, 'QEMU exited %r after the ACPI probe\'s S5, not 0\n%s' % (rc, q.describe()))
            theirs = check_power_run(q.output(), 'qemu')
        finally:
            q.kill()
    sock = os.path.join(tmp, 'ctl2.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, memory='128M',
                     control=sock)
    try:
        vm.wait_line(r'ACPI POWER READY$', 120)
        c = v.Control(sock)
        time.sleep(0.3)
        v.check(len(power_lines(vm.output())) == 3, 'the probe went on before any press\n' + vm.output())
        v.check(c.cmd('system_powerdown').get('return') == {}, 'system_powerdown')
        shutdown = c.wait_event('SHUTDOWN', 30)
        v.check(shutdown.get('data') == {'reason': 'guest-shutdown'}, 'SHUTDOWN: %s' % shutdown)
        rc = vm.wait(30)
        v.check(rc == 0, 'amber-vmm exited %r after the ACPI probe\'s S5\n%s' % (rc, vm.describe()))
        ours = check_power_run(vm.output(), 'amber-vmm')
        c.close()
    finally:
        vm.kill()
    if theirs is not None:
        v.check(ours == theirs, 'ACPI POWER lines differ:\namber %r\nQEMU  %r' % (ours, theirs))


def test():
    tmp = v.workdir('powerbutton')
    button_pressed(tmp)
    button_ignored(tmp)
    acpi_walk_then_button(tmp)


if __name__ == '__main__':
    v.main(test)
