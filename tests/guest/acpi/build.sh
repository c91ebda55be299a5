#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds a stage-2 probe behind start.S: build.sh OUTPUT.bin [PROBE.c]
# (default probe.c, the ACPI probe; hpet.c is the HPET probe): a flat
# image whose first sector is the boot sector; lib.c comes from the PVH
# probe.
set -eu
here=$(dirname "$0")
out=$1
probe=${2:-$here/probe.c}
${CC:-gcc} -m32 -march=i686 -ffreestanding -nostdlib -fno-pic -no-pie -fno-stack-protector \
    -mno-sse -mno-mmx -mgeneral-regs-only -fno-tree-loop-distribute-patterns -fno-builtin \
    -O2 -Wall -Wextra -Werror -static -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
    -Wl,-T,"$here/probe.ld" -Wl,--oformat=binary -I"$here/../pvh" \
    -o "$out" "$here/start.S" "$here/../pvh/lib.c" "$probe" -lgcc
size=$(wc -c < "$out")
[ "$size" -le $((32 * 1024)) ] || { echo "$out is $size bytes (at most 32 KiB: one 64 KiB segment from 0x7E00)" >&2; exit 1; }
