#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Makes the raw boot probe disk: mkdisk.py BOOT.bin OUT.raw [MiB].

Sector 0..7: the probe; sector 16/17: the data tags the probe reads.
"""
import sys


def main():
    boot = open(sys.argv[1], 'rb').read()
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    disk = bytearray(mib << 20)
    disk[0:len(boot)] = boot
    for i, lba in enumerate((16, 17)):
        tag = b'AMBERBOOTDATA%d' % i
        disk[lba * 512:lba * 512 + len(tag)] = tag
    with open(sys.argv[2], 'wb') as f:
        f.write(disk)


if __name__ == '__main__':
    main()
