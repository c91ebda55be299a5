#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS boots the boot-sector probe from the PIIX3 IDE controller: from
an ATA disk (qcow2; the probe's int 13h writes land in the image) and from
an ATAPI CD-ROM (an El Torito no-emulation ISO made here with xorriso), in
the order of the --ide options; booted from the disk the probe also drives
the bus master directly (READ DMA through a PRD table, and a short table
that must not complete). The drives SeaBIOS lists on debugcon
(IDENTIFY model, ATA version, kind) are compared with QEMU 7.2's `pc`
running the same images when qemu-system-x86_64 is installed."""
import os
import re
import shutil
import subprocess

import vmmlib as v

DRIVE_LINE = re.compile(r'^(ata\d-\d: .*|DVD/CD \[.*\]|ATA controller \d at .*)$', re.M)


def make_images(tmp):
    raw = os.path.join(tmp, 'boot.raw')
    v.run(['python3', os.path.join(v.SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'), v.BOOT_BIN, raw, '2', '--dma'])
    disk = os.path.join(tmp, 'boot.qcow2')
    v.run([v.QEMU_IMG, 'convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
    tree = os.path.join(tmp, 'iso')
    os.makedirs(tree, exist_ok=True)
    shutil.copy(v.BOOT_BIN, os.path.join(tree, 'boot.bin'))
    iso = os.path.join(tmp, 'cd.iso')
    v.run(['xorriso', '-as', 'mkisofs', '-quiet', '-o', iso, '-b', 'boot.bin', '-no-emul-boot',
           '-boot-load-size', '8', tree])
    return raw, disk, iso


def boot(tmp, tag, ide):
    log = os.path.join(tmp, 'debugcon-%s.log' % tag)
    extra = ['--debugcon', 'file:' + log, '--no-reboot']
    for drive in ide:
        extra += ['--ide', drive]
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', extra=extra)
    rc = vm.wait(120)
    with open(log, 'rb') as f:
        text = f.read().decode('latin-1')
    return rc, vm, text


def drive_lines(text):
    return DRIVE_LINE.findall(text)


def test():
    if not shutil.which('xorriso'):
        v.log('SKIPPED: no xorriso')
        raise SystemExit(v.SKIP)
    tmp = v.workdir('ide-boot')
    raw, disk, iso = make_images(tmp)
    disk_opt = 'bus=0,unit=0,media=disk,path=%s,format=qcow2,cache=writeback' % disk
    cd_opt = 'bus=1,unit=0,media=cdrom,path=%s,format=raw' % iso

    # Disk first: the hard-disk probe with its int 13h writes.
    rc, vm, text = boot(tmp, 'disk', [disk_opt, cd_opt])
    out = vm.output()
    lines = drive_lines(text)
    v.check('ata0-0: QEMU HARDDISK ATA-7 Hard-Disk (2 MiBytes)' in lines,
            'SeaBIOS did not list the IDE disk: %r\n%s' % (lines, vm.describe()))
    v.check('DVD/CD [ata1-0: QEMU DVD-ROM ATAPI-4 DVD/CD]' in lines,
            'SeaBIOS did not list the ATAPI CD-ROM: %r\n%s' % (lines, vm.describe()))
    v.check('Booting from Hard Disk' in text, 'SeaBIOS did not boot the disk\n' + text[-2000:])
    v.check('BOOT: RESULT PASS' in out and 'cdrom mode' not in out,
            'disk probe did not pass\n' + vm.describe())
    v.check('BOOT: bus-master DMA read ok' in out and 'short PRD table refused' in out,
            'the probe did not check bus-master DMA\n' + vm.describe())
    v.check(rc == 1, 'exit status %d, want 1 (isa-debug-exit value 0)\n%s' % (rc, vm.describe()))
    v.qemu_img_check(disk)
    data = v.read_raw(disk, 'qcow2', tmp)
    for lba, want in ((32, b'AMBERBOOTWRITE0'), (33, b'AMBERBOOTWRITE1')):
        got = data[lba * 512:lba * 512 + len(want)]
        v.check(got == want, 'sector %d holds %r, want %r' % (lba, got, want))

    # CD first: SeaBIOS boots the El Torito image over ATAPI.
    rc, vm, text = boot(tmp, 'cd', [cd_opt, disk_opt])
    out = vm.output()
    v.check('Booting from DVD/CD' in text, 'SeaBIOS did not boot the CD\n' + text[-2000:])
    v.check('BOOT: cdrom mode' in out and 'cdrom read ok (CD001)' in out and 'BOOT: RESULT PASS' in out,
            'CD probe did not pass\n' + vm.describe())
    v.check(rc == 1, 'exit status %d, want 1\n%s' % (rc, vm.describe()))

    # Master disk and slave CD on one channel: each shows its own signature.
    rc, vm, text = boot(tmp, 'slave', [disk_opt, 'bus=0,unit=1,media=cdrom,path=%s' % iso])
    slave_lines = drive_lines(text)
    v.check('ata0-0: QEMU HARDDISK ATA-7 Hard-Disk (2 MiBytes)' in slave_lines and
            'DVD/CD [ata0-1: QEMU DVD-ROM ATAPI-4 DVD/CD]' in slave_lines,
            'SeaBIOS did not find the disk and the slave CD-ROM: %r' % slave_lines)
    v.check(rc == 1 and 'BOOT: RESULT PASS' in vm.output(), 'probe failed\n' + vm.describe())

    # A disk image the guest may not write: the probe's writes fail.
    rc, vm, text = boot(tmp, 'ro', [disk_opt + ',readonly=on'])
    out = vm.output()
    v.check('BOOT: RESULT FAIL int13 AH=43 write error' in out,
            'a write to a readonly=on IDE disk did not fail\n' + vm.describe())

    # The oracle: QEMU 7.2 `pc` (TCG) with the same images.
    if not shutil.which(v.QEMU):
        v.log('no %s: QEMU comparison skipped' % v.QEMU)
        return
    v.run(['python3', os.path.join(v.SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'), v.BOOT_BIN, raw, '2',
           '--dma'])
    qserial = os.path.join(tmp, 'qemu-serial.log')
    qlog = os.path.join(tmp, 'qemu-debugcon.log')
    argv = [v.QEMU, '-machine', 'pc', '-accel', 'tcg', '-m', '128M', '-nographic', '-no-reboot',
            '-display', 'none', '-monitor', 'none', '-serial', 'file:' + qserial, '-net', 'none',
            '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
            '-chardev', 'file,id=dbg,path=' + qlog, '-device', 'isa-debugcon,iobase=0x402,chardev=dbg',
            '-drive', 'file=%s,format=raw,if=ide,index=0' % raw,
            '-drive', 'file=%s,format=raw,if=ide,index=2,media=cdrom' % iso]
    subprocess.run(argv, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(qlog, 'rb') as f:
        qlines = drive_lines(f.read().decode('latin-1'))
    with open(qserial, 'rb') as f:
        qout = f.read().decode('latin-1')
    # The probe itself against the oracle: it passes on QEMU too.
    v.check('BOOT: bus-master DMA read ok' in qout and 'BOOT: RESULT PASS' in qout,
            'the probe fails on QEMU:\n' + qout)
    # SeaBIOS probes the channels in parallel threads: the order varies.
    v.check(sorted(qlines) == sorted(lines), 'SeaBIOS drive lines differ\nqemu:  %r\namber: %r' % (qlines, lines))
    v.log('drive lines match QEMU: %r' % lines)


if __name__ == '__main__':
    v.main(test)
