#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the Amber Linux test guest from Debian packages:
#   scripts/build-linux-guest.sh [OUTDIR]     (default tests/guest/out/linux)
# Produces OUTDIR/vmlinuz (Debian's cloud kernel) and OUTDIR/initramfs.gz
# (busybox-static, virtio_blk/virtio_pci and their dependencies, the /init of
# tests/guest/linux/init.sh, and the amber-exit helper). Downloads with
# `apt-get download` (needs the Debian mirror); reruns reuse OUTDIR/pkgs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/tests/guest/out/linux}
src=$root/tests/guest/linux
mkdir -p "$out/pkgs"
out=$(cd "$out" && pwd)

die() { echo "build-linux-guest: $*" >&2; exit 1; }

# The cloud metapackage names the real kernel package; resolve it.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 (apt-get update needed?)"
cd "$out/pkgs"
for p in "$kpkg" busybox-static; do
    if ! ls "${p}"_*.deb >/dev/null 2>&1; then
        apt-get download "$p" >/dev/null 2>&1 || die "apt-get download $p failed (no network or mirror?)"
    fi
done
rm -rf "$out/kernel" "$out/busybox" "$out/initramfs"
dpkg-deb -x "$(ls "${kpkg}"_*.deb | head -n1)" "$out/kernel"
dpkg-deb -x "$(ls busybox-static_*.deb | head -n1)" "$out/busybox"

cp "$(ls "$out"/kernel/boot/vmlinuz-* | head -n1)" "$out/vmlinuz"

ir=$out/initramfs
mkdir -p "$ir/bin" "$ir/modules" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/tmp"
cp "$out/busybox/bin/busybox" "$ir/bin/busybox"
cp "$src/init.sh" "$ir/init"
chmod 755 "$ir/init"
${CC:-gcc} -static -O2 -o "$ir/bin/amber-exit" "$src/exitport.c"

# Dependency order of the modules we need (the package ships no
# modules.dep): virtio core, ring, the PCI transport libraries, then the
# drivers. Decompress if the kernel ships .ko.xz / .ko.zst.
moddir=$(ls -d "$out"/kernel/lib/modules/* | head -n1)
: > "$ir/modules.order"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
    f=$(find "$moddir" -name "$m.ko*" | head -n1)
    if [ -z "$f" ]; then
        # Built in (=y) or absent in this kernel version: skip it.
        grep -q "/$m.ko" "$moddir/modules.builtin" 2>/dev/null || echo "build-linux-guest: note: no $m module" >&2
        continue
    fi
    case "$f" in
        *.ko.xz) xz -dc "$f" > "$ir/modules/$m.ko" ;;
        *.ko.zst) zstd -dqc "$f" > "$ir/modules/$m.ko" ;;
        *) cp "$f" "$ir/modules/$m.ko" ;;
    esac
    # Every dependency the module names must already be in the list.
    for dep in $(strings "$ir/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
        grep -qx "$dep" "$ir/modules.order" || die "$m needs $dep, which is not loaded before it"
    done
    echo "$m" >> "$ir/modules.order"
done
grep -qx virtio_blk "$ir/modules.order" || die "virtio_blk module not found"

(cd "$ir" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 > "$out/initramfs.gz"
echo "build-linux-guest: $out/vmlinuz $out/initramfs.gz ($kpkg)"
