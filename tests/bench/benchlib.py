# SPDX-License-Identifier: GPL-2.0-or-later
"""What the daemon benchmarks share: starting virtamberd and libvirtd in a
temporary directory, timing virsh, medians and the side-by-side table.

Used by driver_bench.py (domains) and storage_bench.py (pools, volumes).
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


class Daemon:
    """One daemon under test: its label ('amber' or 'qemu'), URI and process."""

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
    """build/driver/virtamberd with every path under TMP/amber."""
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


QEMU_CONF = '/etc/libvirt/qemu.conf'


def write_qemu_conf():
    """libvirtd's QEMU driver runs QEMU as libvirt-qemu with its output
    through virtlogd; the bench has neither a virtlogd nor files that user
    may read, so for the bench /etc/libvirt/qemu.conf says user/group root
    and stdio_handler file. A qemu.conf already there (Debian's) is moved
    aside and put back by restore_qemu_conf. Returns what to restore."""
    saved = None
    if os.path.exists(QEMU_CONF):
        saved = QEMU_CONF + '.amber-bench-saved'
        os.replace(QEMU_CONF, saved)
    os.makedirs(os.path.dirname(QEMU_CONF), exist_ok=True)
    with open(QEMU_CONF, 'w') as f:
        f.write('# written by amber tests/bench/benchlib.py; removed after\n'
                'user = "root"\ngroup = "root"\nstdio_handler = "file"\n')
    return saved


def remove_qemu_conf(saved):
    """Removes the bench's qemu.conf and puts back the one it replaced."""
    if os.path.exists(QEMU_CONF):
        os.unlink(QEMU_CONF)
    if saved:
        os.replace(saved, QEMU_CONF)


def start_libvirtd(tmp, needs):
    """Debian's libvirtd (its QEMU and storage drivers) with its sockets under
    TMP/qemu; NEEDS names the package to install when it is missing."""
    if shutil.which('libvirtd') is None:
        sys.exit('libvirtd is missing: apt-get install ' + needs)
    # Its QEMU driver resolves the libvirt-qemu user at start, even when
    # qemu.conf names another (that user comes with libvirt-daemon-system).
    if subprocess.run(['id', 'libvirt-qemu'], capture_output=True).returncode != 0:
        sys.exit('libvirtd needs the libvirt-qemu user: apt-get install libvirt-daemon-system')
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


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Table:
    """Rows measured alternately on each daemon; printed side by side."""

    def __init__(self, daemons):
        self.daemons = daemons
        self.rows = []  # (label, amber, qemu, unit, higher_is_better)

    def measure(self, label, unit, fn, runs, higher=False):
        """fn(daemon, run_index) -> a value; RUNS rounds, amber and qemu in turn."""
        values = {d.label: [] for d in self.daemons}
        for i in range(runs):
            for d in self.daemons:
                values[d.label].append(fn(d, i))
        self.add(label, median(values.get('amber', [])), median(values.get('qemu', [])), unit,
                 higher)
        print('  %-48s done' % label, flush=True)

    def add(self, label, amber, qemu, unit, higher=False):
        self.rows.append((label, amber, qemu, unit, higher))

    def print(self):
        print()
        print('| row | amber (virtamberd) | libvirtd | amber/libvirtd |')
        print('|---|---|---|---|')
        for label, a, q, unit, higher in self.rows:
            def fmt(v):
                if v is None:
                    return 'n/a'
                if unit == 's':
                    return '%.3f s' % v
                if unit == 'ms':
                    return '%.1f ms' % v
                return '%.0f %s' % (v, unit)
            ratio = (a / q) if (a is not None and q) else None
            print('| %s | %s | %s | %s%s |' % (label, fmt(a), fmt(q),
                                               'n/a' if ratio is None else '%.2f' % ratio,
                                               ' (higher is better)' if higher else ''))
