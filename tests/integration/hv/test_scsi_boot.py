#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS boots the boot-sector probe from a virtio-scsi disk (qcow2,
target 0 LUN 0 on the 1af4:1004 controller): its virtio-scsi driver finds
the LUN with REPORT LUNS / INQUIRY / READ CAPACITY, boots it, and the
probe's int 13h writes land in the image. A second LUN on another target
is listed too. What SeaBIOS prints for the disk on debugcon is compared
with QEMU 7.2 (-device virtio-scsi-pci -device scsi-hd) when installed."""
import os
import re
import shutil
import subprocess

import vmmlib as v

SCSI_LINE = re.compile(r'^(virtio-scsi .*|Searching bios-geometry.*|Booting from Hard Disk.*)$', re.M)


def boot(tmp, tag, scsi):
    log = os.path.join(tmp, 'debugcon-%s.log' % tag)
    extra = ['--debugcon', 'file:' + log, '--no-reboot']
    for disk in scsi:
        extra += ['--scsi', disk]
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', extra=extra)
    rc = vm.wait(120)
    with open(log, 'rb') as f:
        text = f.read().decode('latin-1')
    return rc, vm, text


def scsi_lines(text):
    return [l for l in SCSI_LINE.findall(text) if l.startswith('virtio-scsi ')]


def test():
    tmp = v.workdir('scsi-boot')
    raw = os.path.join(tmp, 'boot.raw')
    v.run(['python3', os.path.join(v.SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'), v.BOOT_BIN, raw, '2'])
    disk = os.path.join(tmp, 'boot.qcow2')
    v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
    other = os.path.join(tmp, 'other.qcow2')
    v.run([v.QEMU_IMG, 'create', '-q', '-f', 'qcow2', other, '4M'])

    rc, vm, text = boot(tmp, 'disk', ['path=%s,format=qcow2,target=0,lun=0,discard=unmap' % disk,
                                      'path=%s,format=qcow2,target=3,lun=1' % other])
    out = vm.output()
    lines = scsi_lines(text)
    v.check(any("product='QEMU HARDDISK'" in l for l in lines),
            'SeaBIOS did not find the virtio-scsi disk: %r\n%s' % (lines, text[-3000:]))
    v.check(any('sectors=4096' in l for l in lines) and any('sectors=8192' in l for l in lines),
            'SeaBIOS did not size both LUNs: %r' % lines)
    v.check('Booting from Hard Disk' in text, 'SeaBIOS did not boot the disk\n' + text[-2000:])
    v.check('BOOT: RESULT PASS' in out, 'probe did not pass\n' + vm.describe())
    v.check(rc == 1, 'exit status %d, want 1\n%s' % (rc, vm.describe()))
    v.qemu_img_check(disk)
    data = v.read_raw(disk, 'qcow2', tmp)
    for lba, want in ((32, b'AMBERBOOTWRITE0'), (33, b'AMBERBOOTWRITE1')):
        got = data[lba * 512:lba * 512 + len(want)]
        v.check(got == want, 'sector %d holds %r, want %r' % (lba, got, want))

    # Read-only: the probe's int 13h write fails.
    rc, vm, text = boot(tmp, 'ro', ['path=%s,format=qcow2,readonly=on' % disk])
    v.check('BOOT: RESULT FAIL' in vm.output(), 'a write to a readonly=on SCSI disk did not fail\n' + vm.describe())

    if not shutil.which(v.QEMU):
        v.log('no %s: QEMU comparison skipped' % v.QEMU)
        return
    qlog = os.path.join(tmp, 'qemu-debugcon.log')
    v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
    cmd = [v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '128', '-display', 'none', '-no-reboot',
           '-nodefaults', '-serial', 'null',
           '-chardev', 'file,id=dbg,path=' + qlog, '-device', 'isa-debugcon,iobase=0x402,chardev=dbg',
           '-device', 'isa-debug-exit,iobase=0x501,iosize=2',
           '-device', 'virtio-scsi-pci,id=scsi0,addr=3',
           '-drive', 'file=%s,format=qcow2,if=none,id=d0' % disk,
           '-device', 'scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0,lun=0,bootindex=0',
           '-drive', 'file=%s,format=qcow2,if=none,id=d1' % other,
           '-device', 'scsi-hd,drive=d1,bus=scsi0.0,scsi-id=3,lun=1']
    try:
        subprocess.run(cmd, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        v.log('QEMU did not finish in 120 s: comparison skipped')
        return
    with open(qlog, 'rb') as f:
        qlines = scsi_lines(f.read().decode('latin-1'))
    v.log('QEMU: %r' % qlines)
    v.log('Amber: %r' % lines)
    v.check(sorted(qlines) == sorted(lines), 'SeaBIOS lines differ:\nQEMU  %r\nAmber %r' % (qlines, lines))


if __name__ == '__main__':
    v.main(test)
