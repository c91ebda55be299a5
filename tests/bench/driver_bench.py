#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd against libvirt's own QEMU driver, side by side in one run.

Usage (as root, from the source tree, after a build):
    tests/bench/driver_bench.py [--build DIR] [--runs N] [--keep]

Both daemons are started by this script in the foreground of a temporary
directory and stopped at the end: build/driver/virtamberd (with every path
in the temporary directory) and Debian's libvirtd with the QEMU driver
(libvirt-daemon-driver-qemu; its sockets in the temporary directory, its
domain files where libvirtd keeps them, removed again at the end). The
same boot-sector probe guest on the same kind of qcow2 linked clone runs
under both; the rows alternate amber / qemu so that load on the machine
hits both alike. Rows (median of N runs; lower is better except calls/s):
  - virsh start to the guest's first serial line read through virsh console,
    and the `virsh start` call alone (the daemon's and the VMM's own launch
    cost; the rest is SeaBIOS, which runs the same in both and, on a
    software KVM, takes seconds)
  - virsh list --all with 1, 100 and 1000 defined domains
  - virsh dumpxml, virsh domstats of the running domain
  - RPC round trips per second for virConnectGetVersion, 1 and 50 clients
  - the daemon's RSS with 100 domains defined
libvirtd's QEMU driver needs a user to run QEMU as; the script writes
/etc/libvirt/qemu.conf (user/group root, stdio_handler file) when that file
does not exist and removes it at the end.
"""
import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

from benchlib import (SOURCE_ROOT, Table, median, remove_qemu_conf, run, start_amber,
                      start_libvirtd, write_qemu_conf)

sys.path.insert(0, os.path.join(SOURCE_ROOT, 'examples'))
from read_console import read_console  # noqa: E402 (the demo's pty console reader)

DOMAIN_XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  {cpu}
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
"""


# QEMU on these machines' software KVM aborts setting MSR 0x10a unless
# arch-capabilities is off; amber-vmm does not expose it (and refuses
# <feature policy='disable'> until it can honour it).
CPU_XML = {
    'amber': "<cpu mode='host-passthrough'/>",
    'qemu': "<cpu mode='host-passthrough'><feature policy='disable' name='arch-capabilities'/>"
            "</cpu>",
}


def domain_xml(label, name, disk):
    return DOMAIN_XML.format(name=name, disk=disk, cpu=CPU_XML[label])


def make_disk(build, tmp, name):
    base = os.path.join(tmp, 'base.raw')
    if not os.path.exists(base):
        run([sys.executable, os.path.join(SOURCE_ROOT, 'tests/guest/bootsector/mkdisk.py'),
             os.path.join(build, 'tests/integration/hv/boot.bin'), base, '2'])
    disk = os.path.join(tmp, name + '.qcow2')
    if os.path.exists(disk):
        os.unlink(disk)
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', disk])
    return disk


def start_to_first_line(daemon, name, start_calls, timeout=120.0):
    """Seconds from `virsh start` to the first 'BOOT:' line on virsh console;
    appends the time `virsh start` itself took to START_CALLS."""
    t0 = time.perf_counter()
    daemon.virsh('start', name)
    start_calls.append(time.perf_counter() - t0)
    try:
        matched_at, seen = read_console(daemon.uri, name, b'BOOT:', timeout)
    finally:
        daemon.virsh('destroy', name, check=False)
    if matched_at is None:
        print('  %s: no BOOT: line within %.0f s; console showed %r' % (daemon.label, timeout,
                                                                         seen[-300:]))
        return None
    return matched_at - t0


def rpc_loop(uri, seconds, queue):
    import libvirt  # noqa: E402 (python3-libvirt, Debian's /usr/bin/python3)
    conn = libvirt.open(uri)
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        conn.getVersion()
        n += 1
    conn.close()
    queue.put(n)


def rpc_rate(uri, clients, seconds=2.0):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=rpc_loop, args=(uri, seconds, queue))
             for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def define_many(daemon, disk, count, prefix):
    import libvirt
    conn = libvirt.open(daemon.uri)
    for i in range(count):
        conn.defineXML(domain_xml(daemon.label, '%s%04d' % (prefix, i), disk))
    conn.close()


def undefine_prefix(daemon, prefix):
    import libvirt
    conn = libvirt.open(daemon.uri)
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--build', default=os.path.join(SOURCE_ROOT, 'build'))
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory')
    parser.add_argument('--only', choices=('amber', 'qemu'), help='run one side (to debug it)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('run as root (both daemons serve qemu/amber :///system)')
    tmp = tempfile.mkdtemp(prefix='amber-driver-bench-')
    wrote_conf = write_qemu_conf()
    daemons = []
    table = None
    try:
        if args.only != 'qemu':
            daemons.append(start_amber(args.build, tmp))
        if args.only != 'amber':
            daemons.append(start_libvirtd(tmp, 'libvirt-daemon libvirt-daemon-driver-qemu'))
        table = Table(daemons)
        disks = {d.label: make_disk(args.build, tmp, 'bench-' + d.label) for d in daemons}
        for d in daemons:
            xml = os.path.join(tmp, d.label + '-probe.xml')
            with open(xml, 'w') as f:
                f.write(domain_xml(d.label, 'bprobe', disks[d.label]))
            d.virsh('define', xml)

        start_calls = {d.label: [] for d in daemons}

        def start_row(d, _):
            disks[d.label] = make_disk(args.build, tmp, 'bench-' + d.label)
            return start_to_first_line(d, 'bprobe', start_calls[d.label])

        def timed(*virsh_args):
            return lambda d, _: d.timed(*virsh_args)

        table.measure('virsh start -> first serial line', 's', start_row, args.runs)
        table.add('virsh start (the call: daemon + VMM launch)',
                  median(start_calls.get('amber', [])), median(start_calls.get('qemu', [])), 's')
        table.measure('virsh list --all (1 domain)', 's', timed('list', '--all'), 5)
        for d in daemons:
            define_many(d, disks[d.label], 99, 'bmany')
        table.measure('virsh list --all (100 domains)', 's', timed('list', '--all'), 5)
        rss = {d.label: d.rss_kib() for d in daemons}
        table.add('daemon RSS, 100 domains defined', rss.get('amber'), rss.get('qemu'), 'KiB')
        for d in daemons:
            define_many(d, disks[d.label], 900, 'bmore')
        table.measure('virsh list --all (1000 domains)', 's', timed('list', '--all'), 5)
        table.measure('virsh dumpxml', 's', timed('dumpxml', 'bprobe'), 10)
        for d in daemons:
            d.virsh('start', 'bprobe')
        table.measure('virsh domstats (running domain)', 's', timed('domstats', 'bprobe'), 10)
        for d in daemons:
            d.virsh('destroy', 'bprobe', check=False)
        table.measure('getVersion round trips, 1 client', 'calls/s',
                      lambda d, _: rpc_rate(d.uri, 1), args.runs, higher=True)
        table.measure('getVersion round trips, 50 clients', 'calls/s',
                      lambda d, _: rpc_rate(d.uri, 50), args.runs, higher=True)
    finally:
        for d in daemons:
            try:
                undefine_prefix(d, 'bm')
                undefine_prefix(d, 'bprobe')
            except Exception as exc:  # report and go on stopping the daemons
                print('cleanup on %s: %s' % (d.label, exc))
            d.stop()
        remove_qemu_conf(wrote_conf)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if table:
        table.print()
    if args.keep:
        print('files kept in', tmp)


if __name__ == '__main__':
    main()
