#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job, today: installs what is missing, builds Amber, creates a
# Windows-7-style base image and two linked clones (each under 1 MB at
# birth), writes into one clone through Amber's engine, shows the chain
# with amber-img info / check / map, and cross-checks with qemu-img.
# Then virtamberd runs in the foreground and virsh alone does the rest:
# define a domain on a linked clone, start it (amber-vmm boots SeaBIOS and
# a probe guest), read its serial console, domblkstat, destroy, undefine.
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

DAEMON="$ROOT/build/driver/virtamberd"
BOOT_BIN="$ROOT/build/tests/integration/hv/boot.bin"
echo; echo "--- virtamberd: the same story through virsh ---"
# The daemon runs in the foreground of a directory under $OUT (every path
# moved there), so the demo needs no systemd and leaves the host alone.
D="$OUT/virtamberd"
mkdir -p "$D/sock" "$D/etc" "$D/run" "$D/log" "$D/lib"
"$DAEMON" --socket-dir "$D/sock" --config-dir "$D/etc" --run-dir "$D/run" \
  --log-dir "$D/log" --state-dir "$D/lib" > "$D/virtamberd.log" 2>&1 &
DAEMON_PID=$!
trap 'kill $DAEMON_PID 2>/dev/null; wait $DAEMON_PID 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$D/sock/virtamberd-sock" ] && break; sleep 0.1; done
URI="amber:///system?socket=$D/sock/virtamberd-sock"
V=(virsh -c "$URI")
step "${V[@]}" version
# A storage pool in $OUT/pool holding a small raw "installed disk" with
# the boot-sector probe guest (it stays up after its self-test), and a
# qcow2 linked clone of it made by the daemon (Amber's engine, no
# qemu-img): the disk the VM boots, named by pool and volume.
step "${V[@]}" pool-define-as demo dir --target "$OUT/pool"
step "${V[@]}" pool-build demo
step "${V[@]}" pool-start demo
step python3 "$ROOT/tests/guest/bootsector/mkdisk.py" "$BOOT_BIN" "$OUT/pool/bootdisk.raw" 2 --stay
step "${V[@]}" pool-refresh demo
step "${V[@]}" vol-create-as demo vm-clone.qcow2 2M --format qcow2 \
  --backing-vol bootdisk.raw --backing-vol-format raw
step "${V[@]}" vol-list demo --details
step "${V[@]}" vol-dumpxml vm-clone.qcow2 --pool demo
cat > demo.xml <<XML
<domain type='kvm'>
  <name>demo</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback'/>
      <source pool='demo' volume='vm-clone.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
XML
step "${V[@]}" define demo.xml
step "${V[@]}" list --all
if [ -e /dev/kvm ]; then
  step "${V[@]}" start demo
  # virsh console needs a terminal: read_console.py gives it a pty and
  # detaches once the guest has printed its last line.
  step python3 "$ROOT/examples/read_console.py" "$URI" demo 'BOOT: halted' 120
  step "${V[@]}" dominfo demo
  step "${V[@]}" domblkstat demo vda
  step "${V[@]}" destroy demo
  step "$IMG" check "$OUT/pool/vm-clone.qcow2"
  step qemu-img check "$OUT/pool/vm-clone.qcow2"
else
  echo "no /dev/kvm on this machine: virsh start skipped"
fi
step "${V[@]}" undefine demo
step "${V[@]}" list --all
step "${V[@]}" vol-delete vm-clone.qcow2 --pool demo
step "${V[@]}" pool-destroy demo
step "${V[@]}" pool-undefine demo
echo; echo "demo done: files in $OUT"
