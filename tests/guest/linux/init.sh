#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-or-later
# /init of the Amber Linux test guest: loads the virtio modules, checks
# /dev/vda (host tag in sector 0, write + direct read-back at sector 4096),
# prints LINUX: RESULT PASS|FAIL, leaves through the exit port, then powers off.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "LINUX: init started, kernel $(uname -r)"

result() {
    echo "LINUX: RESULT $*"
    sync
    if [ "$1" = PASS ]; then /bin/amber-exit 0; else /bin/amber-exit 1; fi
    poweroff -f
}

for m in $(cat /modules.order); do
    insmod "/modules/$m.ko" || result FAIL "insmod $m"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || result FAIL "no /dev/vda"
echo "LINUX: /dev/vda is $(cat /sys/block/vda/size) sectors"

tag=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -c 14)
[ "$tag" = "AMBERLINUXDISK" ] || result FAIL "sector 0 tag '$tag'"
echo "LINUX: read ok"

seed=$(sed -n 's/.*amber_seed=\([0-9]*\).*/\1/p' /proc/cmdline)
pattern="AMBERLINUXWRITE seed=${seed:-0}"
printf '%s' "$pattern" > /tmp/w
dd if=/tmp/w of=/dev/vda bs=512 seek=4096 count=1 conv=sync,fsync oflag=direct 2>/dev/null \
    || result FAIL "write"
back=$(dd if=/dev/vda bs=512 skip=4096 count=1 iflag=direct 2>/dev/null | head -c ${#pattern})
[ "$back" = "$pattern" ] || result FAIL "read-back '$back'"
echo "LINUX: write/read ok"
result PASS
