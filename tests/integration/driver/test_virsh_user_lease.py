#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`virsh domifaddr --source lease` for <interface type='user'> on amber:///:
the PVH probe guest (tests/guest/pvh, test=e1000) is the domain's <kernel>
and does a real DHCP exchange with libslirp inside amber-vmm; the daemon
must then report the lease libslirp handed out (10.0.2.15/24 by default,
192.168.76.15/24 with libvirt's <ip address='192.168.76.0' prefix='24'/>)
for the interface's MAC, `--source arp` must list nothing for a user
interface (no host ARP entry), and before the guest asked for an address
no lease is listed.
Usage: test_virsh_user_lease.py VIRTAMBERD AMBER_VMM PVH_ELF
(run by /usr/bin/python3)"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402

DAEMON, VMM, PVH = sys.argv[1:4]


def domain(name, mac, ip, cmdline, disk=""):
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{PVH}</kernel>
    <cmdline>{cmdline}</cmdline>
  </os>
  <devices>
    {disk}
    <interface type='user'>
      <mac address='{mac}'/>
      {ip}
      <model type='e1000'/>
      <rom enabled='no'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def wait_lease(daemon, name, want, seconds=120):
    deadline = time.monotonic() + seconds
    out = None
    while time.monotonic() < deadline:
        out = daemon.virsh("domifaddr", name, "--source", "lease")
        if out.returncode == 0 and want in out.stdout:
            return out
        time.sleep(1)
    return out


def test():
    a.require("virsh")
    if not os.path.exists(PVH):
        raise a.TestFailure("no probe guest at %s" % PVH)
    tmp = a.workdir("virsh-user-lease")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    try:
        cases = [("lease1", "52:54:00:4c:01:01", "", "10.0.2.15/24"),
                 ("lease2", "52:54:00:4c:01:02", "<ip address='192.168.76.0' prefix='24'/>",
                  "192.168.76.15/24")]
        for name, mac, ip, want in cases:
            path = os.path.join(tmp, name + ".xml")
            # idle=1 keeps the guest running after the exchange.
            with open(path, "w") as f:
                f.write(domain(name, mac, ip, "test=e1000 idle=1"))
            out = daemon.virsh("define", path)
            a.check(out.returncode == 0, "define %s: %s%s" % (name, out.stdout, out.stderr))
            out = daemon.virsh("start", name)
            a.check(out.returncode == 0, "start %s: %s%s\n%s" % (name, out.stdout, out.stderr,
                                                                 daemon.log_text()))
            out = wait_lease(daemon, name, want)
            a.check(out is not None and out.returncode == 0 and want in out.stdout,
                    "%s: domifaddr --source lease never showed %s: %s%s" %
                    (name, want, out.stdout if out else "", out.stderr if out else ""))
            row = [line for line in out.stdout.splitlines() if want in line]
            a.check(len(row) == 1 and mac in row[0] and "ipv4" in row[0] and "net0" in row[0],
                    "%s: the lease row is not net0 / %s / ipv4 / %s: %s" %
                    (name, mac, want, out.stdout))
            a.log("%s: %s" % (name, row[0].strip()))
            out = daemon.virsh("domifaddr", name, "--source", "arp")
            a.check(out.returncode == 0 and "." not in out.stdout.replace("-", ""),
                    "%s: --source arp lists an address for a user interface: %s%s" %
                    (name, out.stdout, out.stderr))
            out = daemon.virsh("destroy", name)
            a.check(out.returncode == 0, "destroy %s: %s%s" % (name, out.stdout, out.stderr))

        # A guest that never asks: no lease (the VMM reports what it saw, not
        # what the network would give). test=idle sends nothing.
        path = os.path.join(tmp, "quiet.xml")
        with open(path, "w") as f:
            # test=idle stops at the virtio-blk disk, so it gets an empty one.
            image = os.path.join(tmp, "quiet.qcow2")
            a.run(["qemu-img", "create", "-f", "qcow2", image, "16M"], check_rc=True)
            disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                    f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>")
            f.write(domain("quiet", "52:54:00:4c:01:03", "", "test=idle", disk))
        a.check(daemon.virsh("define", path).returncode == 0, "define quiet")
        out = daemon.virsh("start", "quiet")
        a.check(out.returncode == 0, "start quiet: %s%s" % (out.stdout, out.stderr))
        time.sleep(2)
        a.check(daemon.domstate("quiet") == "running", "quiet: %s" % daemon.domstate("quiet"))
        out = daemon.virsh("domifaddr", "quiet", "--source", "lease")
        a.check(out.returncode == 0 and "10.0.2" not in out.stdout,
                "quiet: a lease without DHCP (rc %d): %s%s\n%s" %
                (out.returncode, out.stdout, out.stderr, daemon.log_text()))
        daemon.virsh("destroy", "quiet")
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
