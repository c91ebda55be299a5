#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the boot-sector probe: build.sh OUTPUT.bin (8 sectors, flat binary).
set -eu
here=$(dirname "$0")
out=$1
tmp="$out.o"
${AS:-as} --32 -o "$tmp" "$here/boot.S"
${LD:-ld} -m elf_i386 -Ttext 0x7C00 --oformat binary -e _start -o "$out" "$tmp"
rm -f "$tmp"
size=$(wc -c < "$out")
[ "$size" -eq 4096 ] || { echo "boot.bin is $size bytes, want 4096" >&2; exit 1; }
