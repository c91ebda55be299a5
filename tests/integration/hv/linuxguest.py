# SPDX-License-Identifier: GPL-2.0-or-later
"""Builds (or reuses) the Debian-kernel test guest for the Linux tests."""
import os
import subprocess

import vmmlib as v


def build():
    out = os.environ.get('LINUX_GUEST_DIR') or os.path.join(v.GUEST_DIR or '/var/tmp', 'linux')
    script = os.path.join(v.SOURCE_ROOT, 'scripts', 'build-linux-guest.sh')
    if not (os.path.exists(os.path.join(out, 'vmlinuz')) and os.path.exists(os.path.join(out, 'initramfs.gz'))):
        p = subprocess.run([script, out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        v.check(p.returncode == 0, 'building the Linux guest failed (it downloads Debian packages with '
                'apt-get; is the mirror reachable?):\n%s' % p.stdout)
    return os.path.join(out, 'vmlinuz'), os.path.join(out, 'initramfs.gz')


def hardware_kvm():
    return os.path.exists('/sys/module/kvm_intel') or os.path.exists('/sys/module/kvm_amd')
