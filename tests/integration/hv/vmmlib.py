# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the amber-vmm integration tests (Python 3 stdlib only).

Environment (set by meson.build): AMBER_VMM, AMBER_IMG (optional), GUEST_DIR
(holding pvh.elf and boot.bin), SOURCE_ROOT (the checkout, for scripts).
Each test makes its own temporary directory; a test fails by raising
(exit 1), is skipped with exit 77.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

VMM = os.environ.get('AMBER_VMM', 'amber-vmm')
AMBER_IMG = os.environ.get('AMBER_IMG', '')
GUEST_DIR = os.environ.get('GUEST_DIR', '')
SOURCE_ROOT = os.environ.get('SOURCE_ROOT',
                             os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))
PVH = os.path.join(GUEST_DIR, 'pvh.elf')
BOOT_BIN = os.path.join(GUEST_DIR, 'boot.bin')
SEABIOS = '/usr/share/seabios/bios.bin'
QEMU = 'qemu-system-x86_64'
QEMU_IMG = 'qemu-img'

# Probe guest layout (tests/guest/pvh/probe.c).
SECTOR = 512
PROBE_BASE = 2048
PROBE_STRIDE = 256
PROBE_SECTORS = 8
LOOP_BASE = 65536

SKIP = 77


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def log(msg):
    print(msg, flush=True)


_workdirs = []


def workdir(name):
    """A temporary directory, removed after a passing test (kept on failure
    or with AMBER_KEEP=1 for inspection)."""
    d = tempfile.mkdtemp(prefix='amber-%s-' % name, dir=os.environ.get('TMPDIR', '/var/tmp'))
    _workdirs.append(d)
    return d


def require_seabios():
    """Exits with SKIP (77) when /dev/kvm cannot be opened or SeaBIOS is missing."""
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        print('SKIPPED: /dev/kvm cannot be opened', flush=True)
        sys.exit(SKIP)
    if not os.access(SEABIOS, os.R_OK):
        print('SKIPPED: no %s' % SEABIOS, flush=True)
        sys.exit(SKIP)


def wait_file_text(vm, path, done, timeout, interval=0.05):
    """The text of `path` (latin-1), re-read until done(text) holds, the VM
    exits or `timeout` seconds pass; the VM is killed afterwards."""
    start = time.monotonic()
    text = ''
    try:
        while time.monotonic() - start < timeout:
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    text = f.read().decode('latin-1')
                if done(text):
                    break
            if vm.p.poll() is not None:
                break
            time.sleep(interval)
    finally:
        vm.kill()
    return text


def run(cmd, check_rc=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check_rc and p.returncode != 0:
        raise TestFailure('%s failed (rc %d): %s%s' % (' '.join(cmd), p.returncode, p.stdout, p.stderr))
    return p


# ---------------------------------------------------------------- images
def create_image(path, size='64M', fmt='qcow2', options=None, backing=None):
    cmd = [QEMU_IMG, 'create', '-f', fmt]
    if backing:
        cmd += ['-b', backing, '-F', 'qcow2']
    if options:
        cmd += ['-o', options]
    cmd += [path]
    if not backing:
        cmd += [size]
    run(cmd)


def qemu_img_check(path, allow_leaks=False):
    p = run([QEMU_IMG, 'check', path], check_rc=False)
    ok = p.returncode == 0 or (allow_leaks and p.returncode == 3)
    check(ok, 'qemu-img check %s: rc %d\n%s%s' % (path, p.returncode, p.stdout, p.stderr))
    return p.stdout


def read_raw(path, fmt, tmpdir):
    """The image's guest-visible contents as bytes (via qemu-img convert)."""
    if fmt == 'raw':
        with open(path, 'rb') as f:
            return f.read()
    out = os.path.join(tmpdir, 'contents.raw')
    run([QEMU_IMG, 'convert', '-f', fmt, '-O', 'raw', path, out])
    with open(out, 'rb') as f:
        data = f.read()
    os.unlink(out)
    return data


def pattern_sector(tag, sector, seed):
    """Mirror of fill_sector() in tests/guest/pvh/probe.c."""
    head = ('%s sector=%d seed=%d' % (tag, sector, seed)).encode()
    buf = bytearray(SECTOR)
    buf[:len(head)] = head
    for i in range(64, SECTOR):
        buf[i] = (sector * 7 + seed + i * 13) & 0xff
    return bytes(buf)


def verify_probe_pattern(data, queues, seed):
    for q in range(queues):
        base = PROBE_BASE + q * PROBE_STRIDE
        for s in range(base, base + PROBE_SECTORS):
            got = data[s * SECTOR:(s + 1) * SECTOR]
            want = pattern_sector('AMBERPROBE', s, seed)
            check(got == want, 'sector %d (queue %d) does not hold the probe pattern: %r'
                  % (s, q, got[:48]))


# ---------------------------------------------------------------- processes
class Proc:
    """A VMM process with stdout (the serial console) collected line by line."""

    def __init__(self, argv, name='vm', stdin=True, env=None, pass_fds=()):
        self.argv = argv
        self.name = name
        self.lines = []       # (monotonic time, text)
        self.stderr_text = ''
        self.cond = threading.Condition()
        self.t_start = time.monotonic()
        log('$ ' + ' '.join(argv))
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                  pass_fds=pass_fds)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read_out(self):
        buf = b''
        while True:
            chunk = self.p.stdout.read1(4096) if hasattr(self.p.stdout, 'read1') else self.p.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                text = line.decode('latin-1').rstrip('\r')
                with self.cond:
                    self.lines.append((time.monotonic(), text))
                    self.cond.notify_all()
        if buf:
            with self.cond:
                self.lines.append((time.monotonic(), buf.decode('latin-1')))
        with self.cond:
            self.cond.notify_all()

    def _read_err(self):
        data = self.p.stderr.read()
        self.stderr_text = data.decode('latin-1', 'replace')

    @property
    def pid(self):
        return self.p.pid

    def output(self):
        with self.cond:
            return '\n'.join(t for _, t in self.lines)

    def wait_line(self, regex, timeout):
        """Waits for a serial line matching regex; returns the match."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for i in range(seen, len(self.lines)):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._t_out.is_alive()):
                    break
                self.cond.wait(min(left, 0.5))
        raise TestFailure('%s: no serial line matching %r within %ds (rc %s)\n--- serial ---\n%s\n'
                          '--- stderr ---\n%s' % (self.name, regex, timeout, self.p.poll(),
                                                  self.output()[-4000:], self.stderr_text[-4000:]))

    def line_time(self, regex):
        rx = re.compile(regex)
        with self.cond:
            for t, text in self.lines:
                if rx.search(text):
                    return t
        return None

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure('%s did not exit within %ds\n--- serial ---\n%s\n--- stderr ---\n%s'
                              % (self.name, timeout, self.output()[-4000:], self.stderr_text[-4000:]))
        self._t_out.join(5)
        self._t_err.join(5)
        return rc

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self._t_out.join(5)
        self._t_err.join(5)

    def describe(self):
        return '--- serial ---\n%s\n--- stderr ---\n%s' % (self.output()[-4000:], self.stderr_text[-4000:])


def disk_arg(path, fmt='qcow2', cache='writeback', queues=1, discard=None, extra=''):
    s = 'path=%s,format=%s,cache=%s,queues=%d' % (path, fmt, cache, queues)
    if discard:
        s += ',discard=%s' % discard
    return s + extra


def vmm_argv(disks=(), kernel=None, cmdline=None, firmware=None, memory='64M', cpus=1,
             control=None, name='t', serial='stdio', extra=()):
    argv = [VMM, '--name', name, '--memory', memory, '--cpus', str(cpus), '--serial', serial]
    if firmware:
        argv += ['--firmware', firmware]
    if kernel:
        argv += ['--kernel', kernel]
    if cmdline is not None:
        argv += ['--cmdline', cmdline]
    for d in disks:
        argv += ['--disk', d]
    if control:
        argv += ['--control', control]
    return argv + list(extra)


def start_vmm(**kw):
    return Proc(vmm_argv(**kw), name='amber-vmm')


def run_probe_vmm(disk, fmt, cache, queues, seed, timeout=120, extra_cmdline='', memory='64M', discard=None):
    """Runs the PVH probe to completion under amber-vmm; asserts it passed."""
    vm = start_vmm(disks=[disk_arg(disk, fmt, cache, queues, discard=discard)], kernel=PVH,
                   cmdline='queues=%d seed=%d %s' % (queues, seed, extra_cmdline), memory=memory)
    rc = vm.wait(timeout)
    out = vm.output()
    check('PROBE: RESULT PASS' in out, 'probe did not pass (%s, cache=%s, queues=%d), rc %d\n%s'
          % (fmt, cache, queues, rc, vm.describe()))
    check(rc == 1, 'amber-vmm exit status %d, want 1 (isa-debug-exit value 0)\n%s' % (rc, vm.describe()))
    return vm


def qemu_argv(disk, fmt='qcow2', queues=1, cache='writeback', kernel=None, cmdline=None, memory='64M',
              discard=None):
    argv = [QEMU, '-machine', 'pc,accel=kvm', '-cpu', 'host,-arch-capabilities', '-m', memory,
            '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
            '-net', 'none', '-device', 'isa-debug-exit,iobase=0x501,iosize=1']
    if kernel:
        argv += ['-kernel', kernel]
    if cmdline is not None:
        argv += ['-append', cmdline]
    drive = 'file=%s,if=none,id=d0,format=%s,cache=%s' % (disk, fmt, cache)
    if discard:
        drive += ',discard=%s' % discard
    argv += ['-drive', drive, '-device', 'virtio-blk-pci,drive=d0,num-queues=%d' % queues]
    return argv


# ---------------------------------------------------------------- control socket
class Control:
    """Line-delimited JSON client for amber-vmm --control."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError as e:
                self.s.close()
                if time.monotonic() > deadline:
                    raise TestFailure('cannot connect to control socket %s: %s' % (path, e))
                time.sleep(0.1)
        self.s.settimeout(timeout)
        self.f = self.s.makefile('rwb')
        self.greeting = None
        self.events = []    # every event seen so far, in order
        self.next_id = 1

    def read_msg(self):
        line = self.f.readline()
        if not line:
            raise TestFailure('control socket closed')
        return json.loads(line)

    def cmd(self, name, args=None):
        """Sends a command with a fresh id; returns its reply (the id must
        come back); events read meanwhile go to self.events."""
        msg = {'execute': name, 'id': self.next_id}
        self.next_id += 1
        if args:
            msg['arguments'] = args
        self.f.write((json.dumps(msg) + '\n').encode())
        self.f.flush()
        while True:
            reply = self.read_msg()
            if 'event' in reply:
                self.events.append(reply)
                continue
            if 'QMP' in reply or 'greeting' in reply:
                self.greeting = reply
                continue
            if reply.get('id') != msg['id']:
                raise TestFailure('reply to %s has id %r, sent %r: %s'
                                  % (name, reply.get('id'), msg['id'], reply))
            return reply

    def wait_event(self, name, timeout=20):
        """The first event called `name`, seen already or read now."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get('event') == name:
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure('no %s event within %ss (saw %s)' % (name, timeout, self.events))
            self.s.settimeout(left)
            try:
                msg = self.read_msg()
            except socket.timeout:
                continue
            if 'event' in msg:
                self.events.append(msg)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def run_qemu_pvh(cmdline, extra, timeout=300):
    """The PVH probe under QEMU 7.2 (TCG, pc) with EXTRA arguments (its
    devices) to completion; asserts exit status 1 (isa-debug-exit 0) and
    returns COM1's text."""
    argv = [QEMU, '-machine', 'pc,accel=tcg', '-m', '64M', '-nographic', '-no-reboot',
            '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
            '-device', 'isa-debug-exit,iobase=0x501,iosize=1', '-kernel', PVH,
            '-append', cmdline] + list(extra)
    log('$ ' + ' '.join(argv))
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    out = p.stdout.decode('latin-1')
    check(p.returncode == 1, 'QEMU exit status %d, want 1\n%s\n%s'
          % (p.returncode, out[-3000:], p.stderr.decode('latin-1')[-2000:]))
    return out


def compare_lines(patterns, ours, theirs, what='amber-vmm and QEMU 7.2'):
    """The first match of each regex in PATTERNS must read the same in both
    outputs (a missing line reads as '(missing RX)'); returns the count."""
    def pick(out):
        lines = []
        for rx in patterns:
            m = re.search(rx, out)
            lines.append(m.group(0).strip() if m else '(missing %s)' % rx)
        return lines
    a, q = pick(ours), pick(theirs)
    diff = ['amber-vmm: %s\n     QEMU: %s' % (x, y) for x, y in zip(a, q) if x != y]
    check(not diff, '%s differ:\n' % what + '\n'.join(diff))
    return len(a)


def main(fn):
    """Runs a test function; maps TestFailure to exit 1, SystemExit passes."""
    try:
        fn()
    except TestFailure as e:
        print('FAIL: %s (work files kept: %s)' % (e, ' '.join(_workdirs)), flush=True)
        sys.exit(1)
    if not os.environ.get('AMBER_KEEP'):
        for d in _workdirs:
            shutil.rmtree(d, ignore_errors=True)
    print('PASS', flush=True)
    sys.exit(0)
