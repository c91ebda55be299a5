#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVH probe guest drives amber-vmm's PIIX3 IDE controller directly
(test=ide, tests/guest/pvh/ide_probe.c): the primary-master ATA disk
(IDENTIFY, PIO and bus-master DMA in LBA28/LBA48, FLUSH CACHE EXT, reads
past the end, hostile PRD tables: short, past guest RAM, without an end
bit) and the secondary-master ATAPI CD (IDENTIFY PACKET, TEST UNIT READY,
READ CAPACITY, READ(10) over PIO and DMA compared with the image, READ
TOC, an invalid opcode's sense, a short PRD table). Run on a qcow2 and a
raw disk; every check must pass, and the guest's writes must be in the
image as qemu-io and qemu-img convert read it."""
import hashlib
import os

import vmmlib as v

DISK_MB = 64
CD_BLOCKS = 300
SEED = 7
CHECKS = [
    'pci', 'identify-model', 'identify-lba48', 'identify-sectors', 'identify-dma', 'pio-lba28',
    'pio-lba48', 'dma-write-ext', 'dma-read-ext', 'bm-status-clear', 'dma-read-lba28',
    'dma-write-lba28', 'flush-cache-ext', 'read-past-end', 'dma-read-past-end', 'prd-short',
    'prd-short-write', 'prd-off-ram', 'prd-table-off-ram', 'prd-no-eot', 'recover-after-hostile',
    'final-flush', 'atapi-signature', 'atapi-identify', 'atapi-identify-device-aborted',
    'atapi-test-unit-ready', 'atapi-read-capacity', 'atapi-read10-pio', 'atapi-read10-dma',
    'atapi-read-toc', 'atapi-invalid-opcode', 'atapi-read-past-end', 'atapi-prd-short',
    'atapi-recover',
]
CASES = [
    # (name, format, cache)
    ('qcow2-writeback', 'qcow2', 'writeback'),
    ('raw-none', 'raw', 'none'),
]


def make_cd(path):
    """Mirror of cd_block() in ide_probe.c."""
    with open(path, 'wb') as f:
        for n in range(CD_BLOCKS):
            block = bytearray(2048)
            head = ('AMBERCD block=%d' % n).encode()
            block[:len(head)] = head
            for i in range(32, 2048):
                block[i] = (n * 3 + i * 7) & 0xff
            f.write(block)


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def one_case(tmp, name, fmt, cache, cd):
    disk = os.path.join(tmp, 'disk-%s.%s' % (name, fmt))
    if fmt == 'raw':
        with open(disk, 'wb') as f:
            f.truncate(DISK_MB << 20)
    else:
        v.create_image(disk, '%dM' % DISK_MB)
    cd_sum = sha256(cd)
    v.log('== %s' % name)
    extra = ['--ide', 'bus=0,unit=0,media=disk,path=%s,format=%s,cache=%s' % (disk, fmt, cache),
             '--ide', 'bus=1,unit=0,media=cdrom,path=%s,format=raw' % cd]
    vm = v.start_vmm(kernel=v.PVH, memory='64M', extra=extra,
                     cmdline='test=ide seed=%d mem_mb=64 disk_sectors=%d cd_blocks=%d'
                     % (SEED, (DISK_MB << 20) // v.SECTOR, CD_BLOCKS))
    rc = vm.wait(120)
    out = vm.output()
    failed = [l for l in out.splitlines() if l.startswith('IDE FAIL')]
    v.check(not failed, '%s: failed checks %s\n%s' % (name, failed, vm.describe()))
    missing = [c for c in CHECKS if 'IDE ok %s\n' % c not in out + '\n']
    v.check(not missing, '%s: checks not run: %s\n%s' % (name, missing, vm.describe()))
    v.check('PROBE: RESULT PASS ide checks=%d' % len(CHECKS) in out,
            '%s: probe did not pass\n%s' % (name, vm.describe()))
    v.check(rc == 1, '%s: exit status %d, want 1\n%s' % (name, rc, vm.describe()))
    v.check(sha256(cd) == cd_sum, 'the CD image was modified')
    if fmt == 'qcow2':
        v.qemu_img_check(disk)
    # The DMA write of 0x5A bytes at sector 8192, as qemu-io reads it.
    p = v.run(['qemu-io', '-f', fmt, '-r', '-c', 'read -P 0x5a %d 4096' % (8192 * v.SECTOR), disk])
    v.check('read 4096/4096 bytes' in p.stdout and 'verification failed' not in p.stdout,
            'qemu-io: sector 8192.. is not the guest\'s 0x5a DMA write:\n' + p.stdout)
    # Before it: still zeros (nothing written past the request).
    p = v.run(['qemu-io', '-f', fmt, '-r', '-c', 'read -P 0 %d 512' % (8200 * v.SECTOR), disk])
    v.check('verification failed' not in p.stdout, 'qemu-io: sector 8200 written:\n' + p.stdout)
    data = v.read_raw(disk, fmt, tmp)
    for tag, first, count in (('AMBERIDEPIO', 2048, 16), ('AMBERIDEDMA', 4096, 16)):
        for s in range(first, first + count):
            got = data[s * v.SECTOR:(s + 1) * v.SECTOR]
            v.check(got == v.pattern_sector(tag, s, SEED),
                    '%s: sector %d does not hold the %s pattern: %r' % (name, s, tag, got[:40]))
    v.log('== %s ok' % name)


def test():
    tmp = v.workdir('ide-probe')
    cd = os.path.join(tmp, 'cd.img')
    make_cd(cd)
    for name, fmt, cache in CASES:
        one_case(tmp, name, fmt, cache, cd)


if __name__ == '__main__':
    v.main(test)
