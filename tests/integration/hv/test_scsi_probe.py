#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVH probe's virtio-scsi mode (test=scsi, tests/guest/pvh/scsi_probe.c)
against amber-vmm's controller on a qcow2 and a raw disk with discard=unmap:
INQUIRY and its VPD pages (LBPU/LBPWS), READ CAPACITY 10/16 (LBPME), WRITE/READ
16, SYNCHRONIZE CACHE, UNMAP, WRITE SAME 16 with UNMAP, an unsupported opcode,
reads past the end, a short buffer (OVERRUN), a bad target, a bad LUN field and
a missing LUN, and a second LUN (target 3 LUN 1). Every check must pass; the data must be in the image as real
qemu-io / qemu-img read it; the UNMAP and WRITE SAME ranges, which qemu-io
filled beforehand, must be given back to the host file. With discard=ignore
nothing is advertised and nothing is freed. With --scsi-queues 2 (queues=2)
the controller offers num_queues 2 and the second request queue (virtqueue
3) serves a WRITE 16 and a READ 16 (check "multiqueue"). The same probe
passes under QEMU 7.2 (TCG, virtio-scsi-pci,num_queues=2 + scsi-hd), which
validates its expectations."""
import json
import os
import re
import shutil
import struct
import subprocess

import vmmlib as v

SEED = 5
SERIAL = 'AMBERSCSI01'
MB = 1 << 20
# Where the probe's UNMAP (8..12 MiB) and WRITE SAME UNMAP (12..16 MiB) land.
FREED = (8 * MB, 16 * MB)
STAMP_LBA, STAMP_BLOCKS = 4096, 128
CONST_LBA, CONST_BLOCKS = 4224, 128
WSPAT_LBA, WSPAT_BLOCKS = 4352, 16
CHECKS = ['unit-ready', 'inquiry', 'vpd-00', 'vpd-80', 'vpd-83', 'vpd-b0', 'vpd-b2', 'vpd-unknown',
          'readcap10', 'readcap16', 'test-unit-ready', 'request-sense', 'report-luns',
          'mode-sense-caching', 'write16', 'read16', 'read10', 'write16-const', 'last-block',
          'sync-cache10', 'unmap', 'unmap-range', 'write-same16-unmap', 'write-same16-reads-zero',
          'write-same16-pattern', 'bad-opcode', 'read-past-end', 'read-straddling-end',
          'write-past-end', 'overrun', 'bad-target', 'bad-lun-format', 'missing-lun-inquiry',
          'missing-lun-tur', 'after-errors']
OK_LINE = re.compile(r'^SCSI ok (\S+)', re.M)


def stamp(lba):
    """Mirror of stamp() in scsi_probe.c."""
    b = bytearray((lba * 7 + SEED + i * 13) & 0xff for i in range(512))
    b[0:4] = struct.pack('<I', lba & 0xffffffff)
    return bytes(b)


def allocated(path):
    return os.stat(path).st_blocks * 512


def qemu_io(disk, fmt, command):
    p = v.run(['qemu-io', '-f', fmt, '-c', command, disk], check_rc=False)
    check_text = p.stdout + p.stderr
    v.check(p.returncode == 0 and 'Pattern verification failed' not in check_text and
            'error' not in check_text.lower(),
            'qemu-io %r on %s: rc %d\n%s' % (command, disk, p.returncode, check_text))


def probe_checks(out, who):
    v.check('SCSI FAIL' not in out, '%s: failed checks:\n%s' % (who, '\n'.join(
        l for l in out.splitlines() if 'SCSI FAIL' in l)))
    names = OK_LINE.findall(out)
    missing = [c for c in CHECKS if c not in names]
    v.check(not missing, '%s: checks missing from the output: %s' % (who, missing))
    v.check('PROBE: RESULT PASS scsi' in out, '%s: no RESULT PASS' % who)
    return names


SECOND = 'second=3:1 second_blocks=8192'  # a 4 MiB LUN 1 on target 3


def run_amber(disk, fmt, discard, second=None):
    spec = 'path=%s,format=%s,cache=writeback,serial=%s' % (disk, fmt, SERIAL)
    if discard:
        spec += ',discard=unmap'
    extra = ['--scsi', spec]
    if second:
        extra += ['--scsi', 'path=%s,format=qcow2,target=3,lun=1' % second]
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=scsi discard=%d serial=%s seed=%d %s'
                     % (int(discard), SERIAL, SEED, SECOND if second else ''), extra=extra)
    rc = vm.wait(120)
    out = vm.output()
    v.check(rc == 1, 'amber-vmm exit status %d, want 1\n%s' % (rc, vm.describe()))
    return out, vm


def multiqueue(tmp):
    disk = os.path.join(tmp, 'mq.qcow2')
    v.create_image(disk, '64M')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=scsi queues=2 serial=%s seed=%d' % (SERIAL, SEED),
                     extra=['--scsi', 'path=%s,format=qcow2,serial=%s' % (disk, SERIAL),
                            '--scsi-queues', '2'])
    rc = vm.wait(120)
    out = vm.output()
    v.check(rc == 1, 'multiqueue: exit status %d, want 1\n%s' % (rc, vm.describe()))
    v.check('SCSI ok multiqueue' in out and 'config num_queues 2 ' in out,
            'multiqueue: the second request queue was not served\n%s' % vm.describe())


def map_data(disk, fmt, start, end):
    """Bytes qemu-img map reports as data in [start, end)."""
    p = v.run([v.QEMU_IMG, 'map', '-f', fmt, '--output=json', disk])
    total = 0
    for e in json.loads(p.stdout):
        lo, hi = max(start, e['start']), min(end, e['start'] + e['length'])
        if hi > lo and e.get('data'):
            total += hi - lo
    return total


def one(tmp, fmt):
    disk = os.path.join(tmp, 'disk.' + fmt)
    if fmt == 'raw':
        with open(disk, 'wb') as f:
            f.truncate(64 * MB)
    else:
        v.create_image(disk, '64M')
    qemu_io(disk, fmt, 'write -P 0x33 %d %d' % (FREED[0], FREED[1] - FREED[0]))
    before = allocated(disk)
    v.check(map_data(disk, fmt, *FREED) == FREED[1] - FREED[0], '%s: qemu-io fill not mapped' % fmt)
    second = os.path.join(tmp, 'second-%s.qcow2' % fmt)
    v.create_image(second, '4M')
    out, vm = run_amber(disk, fmt, True, second)
    probe_checks(out, 'amber-vmm %s' % fmt)
    for c in ('second-report-luns', 'second-readcap16', 'second-write-read', 'second-lun0-inquiry',
              'second-lun0-tur', 'second-gone-sense', 'second-gone-vpd0', 'second-report-luns-lun'):
        v.check(c in OK_LINE.findall(out), '%s: no %s' % (fmt, c))
    got = v.read_raw(second, 'qcow2', tmp)[8 * 512:9 * 512]
    v.check(got == stamp(0x5EC0008), '%s: target 3 LUN 1 block 8 not written: %r' % (fmt, got[:16]))
    v.check('SCSI ok sync-cache16 GOOD' in out, '%s: SYNCHRONIZE CACHE 16 not GOOD\n%s' % (fmt, out))
    after = allocated(disk)
    mapped = map_data(disk, fmt, *FREED)
    v.log('%s: allocated %d -> %d bytes; %d bytes of the freed range still mapped'
          % (fmt, before, after, mapped))
    v.check(before - after >= (FREED[1] - FREED[0]) * 3 // 4,
            '%s: UNMAP/WRITE SAME freed only %d bytes (%d -> %d)' % (fmt, before - after, before, after))
    v.check(mapped == 0, '%s: %d bytes of the unmapped range still hold data' % (fmt, mapped))
    if fmt == 'qcow2':
        v.qemu_img_check(disk)
    # What the guest wrote, as real qemu-io and qemu-img read it.
    qemu_io(disk, fmt, 'read -P 0x5c %d %d' % (CONST_LBA * 512, CONST_BLOCKS * 512))
    qemu_io(disk, fmt, 'read -P 0xa7 %d %d' % (WSPAT_LBA * 512, WSPAT_BLOCKS * 512))
    qemu_io(disk, fmt, 'read -P 0 %d %d' % (FREED[0], FREED[1] - FREED[0]))
    data = v.read_raw(disk, fmt, tmp)
    for lba in list(range(STAMP_LBA, STAMP_LBA + STAMP_BLOCKS)) + [64 * MB // 512 - 1]:
        got = data[lba * 512:(lba + 1) * 512]
        v.check(got == stamp(lba), '%s: block %d does not hold the stamp: %r' % (fmt, lba, got[:16]))


def no_discard(tmp):
    """discard=ignore: no LBPME/LBPU, UNMAP is a no-op and nothing is freed."""
    disk = os.path.join(tmp, 'nodiscard.qcow2')
    v.create_image(disk, '64M')
    qemu_io(disk, 'qcow2', 'write -P 0x33 %d %d' % (FREED[0], 4 * MB))
    out, vm = run_amber(disk, 'qcow2', False)
    probe_checks(out, 'amber-vmm discard=ignore')
    # UNMAP's range (8..12 MiB) keeps its data; WRITE SAME wrote zeros.
    qemu_io(disk, 'qcow2', 'read -P 0x33 %d %d' % (FREED[0], 4 * MB))
    v.check(map_data(disk, 'qcow2', FREED[0], FREED[0] + 4 * MB) == 4 * MB,
            'discard=ignore: UNMAP freed clusters')


def qemu_oracle(tmp):
    if not shutil.which(v.QEMU):
        v.log('no %s: QEMU comparison skipped' % v.QEMU)
        return None
    disk = os.path.join(tmp, 'qemu.qcow2')
    v.create_image(disk, '64M')
    second = os.path.join(tmp, 'qemu-second.qcow2')
    v.create_image(second, '4M')
    cmd = [v.QEMU, '-accel', 'tcg', '-machine', 'pc', '-m', '64', '-display', 'none', '-no-reboot',
           '-nodefaults', '-serial', 'stdio', '-monitor', 'none', '-net', 'none',
           '-device', 'isa-debug-exit,iobase=0x501,iosize=1', '-kernel', v.PVH,
           '-append', 'test=scsi discard=1 serial=%s seed=%d queues=2 %s' % (SERIAL, SEED, SECOND),
           '-device', 'virtio-scsi-pci,id=scsi0,num_queues=2',
           '-drive', 'file=%s,format=qcow2,if=none,id=d0,cache=writeback,discard=unmap' % disk,
           '-device', 'scsi-hd,drive=d0,bus=scsi0.0,serial=%s' % SERIAL,
           '-drive', 'file=%s,format=qcow2,if=none,id=d1' % second,
           '-device', 'scsi-hd,drive=d1,bus=scsi0.0,scsi-id=3,lun=1']
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    out = p.stdout.decode('latin-1')
    names = probe_checks(out, 'QEMU')
    for c in ('second-write-read', 'second-lun0-inquiry', 'second-gone-sense',
              'second-gone-vpd0', 'second-report-luns-lun', 'multiqueue'):
        v.check(c in names, 'QEMU: second LUN check %s missing' % c)
    data = v.read_raw(disk, 'qcow2', tmp)
    v.check(data[STAMP_LBA * 512:(STAMP_LBA + 1) * 512] == stamp(STAMP_LBA), 'QEMU: no stamp')
    return names


def test():
    tmp = v.workdir('scsi-probe')
    errors = []
    for fmt in ('qcow2', 'raw'):
        try:
            one(tmp, fmt)
        except v.TestFailure as e:
            v.log('%s FAILED: %s' % (fmt, e))
            errors.append(fmt)
    for name, fn in (('discard=ignore', no_discard), ('multiqueue', multiqueue),
                     ('qemu', qemu_oracle)):
        try:
            fn(tmp)
        except (v.TestFailure, subprocess.TimeoutExpired) as e:
            v.log('%s FAILED: %s' % (name, e))
            errors.append(name)
    v.check(not errors, 'failed: %s' % errors)


if __name__ == '__main__':
    v.main(test)
