#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, today: installs what is missing, builds Amber, creates a
# Windows-7-style base image and two linked clones (each under 1 MB at
# birth), writes into one clone through Amber's engine, shows the chain
# with amber-img info / check / map, and cross-checks with qemu-img.
# Then amber-vmm boots SeaBIOS and a probe guest from a linked clone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

./scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
IMG="$ROOT/build/block/tool/amber-img"

OUT=${DEMO_DIR:-$ROOT/examples/out}
rm -rf "$OUT"; mkdir -p "$OUT"; cd "$OUT"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
size_of() { stat -c %s "$1"; }

step "$IMG" create -f qcow2 win7_base.qcow2 1G
# Fill the first 16 MiB of the base (the "installed system") with a pattern.
step "$IMG" bench -w -c 256 -d 16 -s 64k --pattern=65 win7_base.qcow2
step "$IMG" create -f qcow2 -b win7_base.qcow2 -F qcow2 clone1.qcow2
step "$IMG" create -f qcow2 -b win7_base.qcow2 -F qcow2 clone2.qcow2
echo
for f in win7_base.qcow2 clone1.qcow2 clone2.qcow2; do
  printf '%-16s %9d bytes\n' "$f" "$(size_of "$f")"
done
for f in clone1.qcow2 clone2.qcow2; do
  if [ "$(size_of "$f")" -ge 1048576 ]; then echo "FAIL: $f is not under 1 MB"; exit 1; fi
done

# The clone's own writes: 64 KiB at 1 MiB, over the base's data.
step "$IMG" bench -w -c 16 -d 1 -s 4k -o 1M --pattern=90 clone1.qcow2
step "$IMG" info --backing-chain clone1.qcow2
step "$IMG" check clone1.qcow2
step "$IMG" map clone1.qcow2
step "$IMG" map --output=json clone1.qcow2

echo; echo "--- the oracle: qemu-img on the same files ---"
step qemu-img check clone1.qcow2
step qemu-img compare clone2.qcow2 win7_base.qcow2

VMM="$ROOT/build/hv/amber-vmm"
BOOT_BIN="$ROOT/build/tests/integration/hv/boot.bin"
if [ -x "$VMM" ] && [ -f "$BOOT_BIN" ]; then
  echo; echo "--- amber-vmm: SeaBIOS boots a linked clone on virtio-blk ---"
  # A small raw "installed disk" holding the boot-sector probe guest, and a
  # qcow2 linked clone of it that the VM boots from and writes into.
  step python3 "$ROOT/tests/guest/bootsector/mkdisk.py" "$BOOT_BIN" bootdisk.raw 2
  step "$IMG" create -f qcow2 -b bootdisk.raw -F raw vm-clone.qcow2
  if [ -e /dev/kvm ]; then
    set +e
    step timeout 120 "$VMM" --name demo --memory size=128M --cpus 1 \
      --firmware /usr/share/seabios/bios.bin \
      --disk path=vm-clone.qcow2,format=qcow2,cache=writeback \
      --serial stdio --debugcon file:"$OUT/seabios.log" --no-reboot
    rc=$?
    set -e
    # The probe leaves through isa-debug-exit: status (0 << 1) | 1 = 1 is a pass.
    if [ "$rc" -ne 1 ]; then echo "FAIL: the guest did not pass (exit status $rc)"; exit 1; fi
    echo "guest passed (isa-debug-exit status $rc); SeaBIOS log in $OUT/seabios.log"
    step "$IMG" check vm-clone.qcow2
    step "$IMG" map vm-clone.qcow2
    step qemu-img check vm-clone.qcow2
  else
    echo "no /dev/kvm on this machine: VM start skipped"
  fi
fi
echo; echo "demo done: files in $OUT"
