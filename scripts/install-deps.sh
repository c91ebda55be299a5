#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs with apt-get everything Amber's build, tests, demo and benchmarks
# need on Debian 12. Idempotent: when every package is present it only
# checks and returns (well under a second).
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ meson ninja-build pkg-config git
  zlib1g-dev libzstd-dev liburing-dev libssl-dev
  libgtest-dev libgmock-dev googletest
  # JSON (amber-img output, the VMM control protocol)
  nlohmann-json3-dev
  # the VNC server of amber-vmm (--vnc); gvnccapture (gvncviewer) is its
  # test client
  libvncserver-dev gvncviewer
  # libvirt XML (xml/) and libvirt's RelaxNG schemas (/usr/share/libvirt/schemas)
  libxml2-dev libvirt0
  # test oracles and peers: qemu-img / qemu-io, QEMU, SeaBIOS
  qemu-utils qemu-system-x86 seabios
  # probe guests (gcc -m32, as, ld) and the Linux guest builder
  gcc-multilib binutils cpio xz-utils gzip
  # El Torito CD images (IDE/ATAPI boot tests), iasl/acpiexec (ACPI tables)
  xorriso acpica-tools
  # the libvirt-compatible daemon: real clients as test peers, enum headers
  libvirt-clients python3-libvirt libvirt-dev
  # virt-install and virt-manager against the daemon, under a virtual X
  # server; screenshots through python3-gi's Gdk (gtk3 comes with
  # virt-manager), window titles through xwininfo
  virt-manager virtinst xvfb x11-utils python3-gi gir1.2-gtk-3.0
  # virt-manager's widgets read and driven through AT-SPI (its Storage tab):
  # the accessibility bus and registry, python3-gi's Atspi, a session D-Bus
  at-spi2-core gir1.2-atspi-2.0 dbus-daemon
  # amber-vmm's user-mode networking (--nic backend=user) and the option
  # ROM the e1000 carries; iproute2 for the tap tests (ip netns, ip tuntap)
  libslirp-dev ipxe-qemu iproute2
  # test scripts
  python3 util-linux procps
  # lint tests (format, tidy)
  clang-format clang-tidy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
