#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Makes the raw boot probe disk: mkdisk.py BOOT.bin OUT.raw [MiB] [--stay] [--dma].

Sector 0..7: the probe; sector 16/17: the data tags the probe reads. With
--stay the byte after tag 0 is 'H': the probe halts after its result
instead of leaving through the isa-debug-exit port, so the VM keeps
running until it is stopped. With --dma the byte after that is 'D': the
probe (booted from an IDE disk) also drives the PIIX3 bus master directly.
"""
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ('--stay', '--dma')]
    stay = '--stay' in sys.argv[1:]
    dma = '--dma' in sys.argv[1:]
    boot = open(args[0], 'rb').read()
    mib = int(args[2]) if len(args) > 2 else 2
    disk = bytearray(mib << 20)
    disk[0:len(boot)] = boot
    for i, lba in enumerate((16, 17)):
        tag = b'AMBERBOOTDATA%d' % i
        disk[lba * 512:lba * 512 + len(tag)] = tag
    if stay:
        disk[16 * 512 + 14] = ord('H')
    if dma:
        disk[16 * 512 + 15] = ord('D')
    with open(args[1], 'wb') as f:
        f.write(disk)


if __name__ == '__main__':
    main()
