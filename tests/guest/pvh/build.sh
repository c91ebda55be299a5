#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the PVH probe guest: build.sh OUTPUT.elf (sources beside this script).
set -eu
here=$(dirname "$0")
out=$1
${CC:-gcc} -m32 -march=i686 -ffreestanding -nostdlib -fno-pic -no-pie -fno-stack-protector \
    -mno-sse -mno-mmx -mgeneral-regs-only -fno-tree-loop-distribute-patterns -fno-builtin \
    -O2 -Wall -Wextra -Werror -static -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,"$here/pvh.ld" \
    -o "$out" "$here/start.S" "$here/lib.c" "$here/pci.c" "$here/virtio.c" "$here/blk.c" "$here/scsi.c" "$here/scsi_probe.c" "$here/smp.c" "$here/ide.c" "$here/ide_probe.c" "$here/vga_probe.c" "$here/netframe.c" "$here/e1000_probe.c" "$here/virtio_net_probe.c" "$here/usb_probe.c" "$here/ehci_probe.c" "$here/fdc_probe.c" "$here/probe.c" -lgcc
