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
  - virsh start to the guest's first serial line read through virsh console
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
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_ROOT, 'examples'))
from read_console import read_console  # noqa: E402 (the demo's pty console reader)
QEMU_CONF = '/etc/libvirt/qemu.conf'

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


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


class Daemon:
    """One daemon under test: its URI, process and per-run disk."""

    def __init__(self, label, uri, proc, tmp):
        self.label, self.uri, self.proc, self.tmp = label, uri, proc, tmp

    def virsh(self, *args, check=True):
        r = subprocess.run(['virsh', '-c', self.uri] + list(args), check=False,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and r.returncode != 0:
            sys.exit('%s: virsh %s failed: %s' % (self.label, ' '.join(args), r.stderr.strip()))
        return r

    def timed(self, *args):
        t0 = time.perf_counter()
        self.virsh(*args)
        return time.perf_counter() - t0

    def rss_kib(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_socket(path, proc, what):
    for _ in range(200):
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            sys.exit('%s exited with status %d before creating %s' % (what, proc.returncode, path))
        time.sleep(0.05)
    sys.exit('%s did not create %s' % (what, path))


def start_amber(build, tmp):
    d = os.path.join(tmp, 'amber')
    for sub in ('sock', 'etc', 'run', 'log', 'lib'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    log = open(os.path.join(d, 'virtamberd.log'), 'w')
    proc = subprocess.Popen([os.path.join(build, 'driver/virtamberd'),
                             '--socket-dir', os.path.join(d, 'sock'),
                             '--config-dir', os.path.join(d, 'etc'),
                             '--run-dir', os.path.join(d, 'run'),
                             '--log-dir', os.path.join(d, 'log'),
                             '--state-dir', os.path.join(d, 'lib')],
                            stdout=log, stderr=subprocess.STDOUT)
    sock = os.path.join(d, 'sock/virtamberd-sock')
    wait_socket(sock, proc, 'virtamberd')
    return Daemon('amber', 'amber:///system?socket=' + sock, proc, d)


def start_qemu_driver(tmp):
    if shutil.which('libvirtd') is None:
        sys.exit('libvirtd is missing: apt-get install libvirt-daemon libvirt-daemon-driver-qemu')
    d = os.path.join(tmp, 'qemu')
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, 'libvirtd.conf')
    with open(conf, 'w') as f:
        f.write('unix_sock_dir = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n' % d)
    log = open(os.path.join(d, 'libvirtd.log'), 'w')
    proc = subprocess.Popen(['libvirtd', '-f', conf], stdout=log, stderr=subprocess.STDOUT)
    sock = os.path.join(d, 'libvirt-sock')
    wait_socket(sock, proc, 'libvirtd')
    return Daemon('qemu', 'qemu:///system?socket=' + sock, proc, d)


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


def start_to_first_line(daemon, name, timeout=120.0):
    """Seconds from `virsh start` to the first 'BOOT:' line on virsh console."""
    t0 = time.perf_counter()
    daemon.virsh('start', name)
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


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


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
    wrote_conf = False
    if not os.path.exists(QEMU_CONF):
        os.makedirs(os.path.dirname(QEMU_CONF), exist_ok=True)
        with open(QEMU_CONF, 'w') as f:
            f.write('# written by amber tests/bench/driver_bench.py; removed after\n'
                    'user = "root"\ngroup = "root"\nstdio_handler = "file"\n')
        wrote_conf = True
    daemons = []
    rows = []  # (label, amber, qemu, unit, higher_is_better)
    try:
        if args.only != 'qemu':
            daemons.append(start_amber(args.build, tmp))
        if args.only != 'amber':
            daemons.append(start_qemu_driver(tmp))
        disks = {d.label: make_disk(args.build, tmp, 'bench-' + d.label) for d in daemons}
        for d in daemons:
            xml = os.path.join(tmp, d.label + '-probe.xml')
            with open(xml, 'w') as f:
                f.write(domain_xml(d.label, 'bprobe', disks[d.label]))
            d.virsh('define', xml)

        def row(label, unit, fn, higher=False, runs=args.runs):
            values = {d.label: [] for d in daemons}
            for _ in range(runs):
                for d in daemons:
                    values[d.label].append(fn(d))
            rows.append((label, median(values.get('amber', [])), median(values.get('qemu', [])),
                         unit, higher))
            print('  %-44s done' % label, flush=True)

        def start_row(d):
            disks[d.label] = make_disk(args.build, tmp, 'bench-' + d.label)
            return start_to_first_line(d, 'bprobe')

        row('virsh start -> first serial line', 's', start_row)
        row('virsh list --all (1 domain)', 's', lambda d: d.timed('list', '--all'), runs=5)
        for d in daemons:
            define_many(d, disks[d.label], 99, 'bmany')
        row('virsh list --all (100 domains)', 's', lambda d: d.timed('list', '--all'), runs=5)
        rss = {d.label: d.rss_kib() for d in daemons}
        rows.append(('daemon RSS, 100 domains defined', rss.get('amber'), rss.get('qemu'), 'KiB',
                     False))
        for d in daemons:
            define_many(d, disks[d.label], 900, 'bmore')
        row('virsh list --all (1000 domains)', 's', lambda d: d.timed('list', '--all'), runs=5)
        row('virsh dumpxml', 's', lambda d: d.timed('dumpxml', 'bprobe'), runs=10)
        for d in daemons:
            d.virsh('start', 'bprobe')
        row('virsh domstats (running domain)', 's', lambda d: d.timed('domstats', 'bprobe'),
            runs=10)
        for d in daemons:
            d.virsh('destroy', 'bprobe', check=False)
        row('getVersion round trips, 1 client', 'calls/s', lambda d: rpc_rate(d.uri, 1),
            higher=True)
        row('getVersion round trips, 50 clients', 'calls/s', lambda d: rpc_rate(d.uri, 50),
            higher=True)
    finally:
        for d in daemons:
            try:
                undefine_prefix(d, 'bm')
                undefine_prefix(d, 'bprobe')
            except Exception as exc:  # report and go on stopping the daemons
                print('cleanup on %s: %s' % (d.label, exc))
            d.stop()
        if wrote_conf:
            os.unlink(QEMU_CONF)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print('| row | amber (virtamberd) | qemu (libvirtd) | amber/qemu |')
    print('|---|---|---|---|')
    for label, a, q, unit, higher in rows:
        def fmt(v):
            if v is None:
                return 'n/a'
            if unit == 's':
                return '%.3f s' % v
            return '%.0f %s' % (v, unit)
        ratio = (a / q) if (a is not None and q) else None
        print('| %s | %s | %s | %s%s |' % (label, fmt(a), fmt(q),
                                           'n/a' if ratio is None else '%.2f' % ratio,
                                           ' (higher is better)' if higher else ''))
    if args.keep:
        print('files kept in', tmp)


if __name__ == '__main__':
    main()
