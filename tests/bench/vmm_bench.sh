#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# amber-vmm vs QEMU+KVM on the same PVH probe guest and the same kind of
# qcow2 disk (64 MiB, cache=writeback, 1 queue), run alternately
# (REPS times, default 3; medians reported):
#   - 4 KiB request rate, read and write, queue depth 1 and 32: the guest's
#     bench mode (tests/guest/pvh/probe.c) prints "BENCH start" / "BENCH done";
#     the host times the two serial lines (count=COUNT requests, default 3000,
#     sequential over 16 MiB; the write run goes first and allocates the
#     clusters the read run then reads);
#   - start-up: process start to the guest's first serial line, and to exit,
#     for the guest's `test=exit` mode (QEMU runs SeaBIOS + its PVH option ROM
#     first with -kernel; amber-vmm enters the PVH entry directly);
#   - memory: peak VmHWM of the VMM process (sampled from /proc/PID/status
#     every 10 ms) with -m 64M, minus nothing: the probe guest touches under
#     2 MiB of its RAM, so VmHWM is essentially VMM overhead (+<2 MiB);
#   - amber-vmm only: PIO exits/s per vCPU with SMP_CPUS vCPUs (default 2)
#     all writing port 0x80 EXITS times (default 20000) at once, the guest's
#     `test=smpexit` mode timed "SMPEXIT start" to "SMPEXIT done": the cost
#     of the vCPU exit path, shared locks included.
#   - virtio-scsi: the same 4 KiB rows through the guest's `test=scsibench`
#     mode on a transitional virtio-scsi controller, target 0 LUN 0 (amber-vmm
#     --scsi; QEMU -device virtio-scsi-pci -device scsi-hd), a fresh qcow2 per
#     rep, in a table of their own after the virtio-blk one.
#   - IDE / boot (ONLY=ide, ONLY=boot, ONLY=ide,boot; also after the full
#     run): the guest's `test=idebench` 4 KiB READ/WRITE DMA EXT rate on the
#     PIIX3 IDE disk (QEMU: -drive if=ide), QD1 only since IDE has no command
#     queueing; and SeaBIOS (the same bios.bin for both, no VGA: QEMU runs
#     with -nodefaults) from process start to the boot-sector probe's first
#     COM1 line, booting a 2 MiB qcow2 from virtio-blk, IDE and virtio-scsi.
#   - e1000 over a tap (ONLY=net; root, in a private network namespace; also
#     after the full run when the host allows namespaces): the guest's
#     `test=e1000bench count=NET_COUNT size=S` sends S-byte frames (S = 60
#     and 1514) as fast as the TX ring takes them (legacy descriptors, TDT
#     every 32); an AF_PACKET reader on the tap's host side counts them and
#     times first to last frame: frames/s and MB/s as the host receives
#     them, and the frames that arrived of NET_COUNT (amber-vmm --nic
#     backend=tap,fd=N vs QEMU -netdev tap,fd=N -device e1000); the same
#     for virtio-net (`test=vnetbench`, a kick every 32 buffers; --nic
#     model=virtio vs -device virtio-net-pci).
# Usage: tests/bench/vmm_bench.sh [AMBER_VMM]
#   (env: REPS, COUNT, WORK, SMP_CPUS, EXITS, NET_COUNT; ONLY=smpexit,
#   ONLY=scsi or ONLY=net runs only those rows)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
vmm=${1:-${AMBER_VMM:-}}
if [ -z "$vmm" ]; then
    for c in "$root/build-guest/hv/amber-vmm" "$root/build/hv/amber-vmm"; do
        [ -x "$c" ] && vmm=$c && break
    done
fi
[ -x "${vmm:-}" ] || { echo "vmm_bench: amber-vmm not found; pass its path" >&2; exit 2; }
work=${WORK:-$(mktemp -d /var/tmp/amber-bench.XXXXXX)}
mkdir -p "$work"
"$root/tests/guest/pvh/build.sh" "$work/pvh.elf"
"$root/tests/guest/bootsector/build.sh" "$work/boot.bin"
export ROOT="$root"
export VMM="$vmm" WORK="$work" REPS="${REPS:-3}" COUNT="${COUNT:-3000}" \
    SMP_CPUS="${SMP_CPUS:-2}" EXITS="${EXITS:-20000}" ONLY="${ONLY:-}" \
    NET_COUNT="${NET_COUNT:-20000}"
exec python3 - <<'PYEOF'
import os, re, statistics, subprocess, threading, time

VMM = os.environ['VMM']; WORK = os.environ['WORK']
REPS = int(os.environ['REPS']); COUNT = int(os.environ['COUNT'])
SMP_CPUS = int(os.environ['SMP_CPUS']); EXITS = int(os.environ['EXITS']); ONLY = os.environ['ONLY']
PVH = os.path.join(WORK, 'pvh.elf')

def amber_argv(disk, cmdline):
    return [VMM, '--name', 'bench', '--memory', '64M', '--cpus', '1', '--serial', 'stdio',
            '--kernel', PVH, '--cmdline', cmdline,
            '--disk', 'path=%s,format=qcow2,cache=writeback,queues=1' % disk]

def qemu_argv(disk, cmdline):
    return ['qemu-system-x86_64', '-machine', 'pc,accel=kvm', '-cpu', 'host,-arch-capabilities',
            '-m', '64M', '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none',
            '-serial', 'stdio', '-net', 'none', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
            '-kernel', PVH, '-append', cmdline,
            '-drive', 'file=%s,if=none,id=d0,format=qcow2,cache=writeback' % disk,
            '-device', 'virtio-blk-pci,drive=d0,num-queues=1']

def run(argv, timeout=600, need='RESULT PASS'):
    """Returns (lines [(t, text)], t_exit, rc, vmhwm_kib); t relative to spawn.
    Fails unless a serial line contains `need`."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []; hwm = [0]; done = threading.Event()
    def sample():
        while not done.is_set():
            try:
                with open('/proc/%d/status' % p.pid) as f:
                    m = re.search(r'VmHWM:\s+(\d+)', f.read())
                    if m: hwm[0] = max(hwm[0], int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.01)
    th = threading.Thread(target=sample, daemon=True); th.start()
    buf = b''
    while True:
        chunk = p.stdout.read1(4096)
        if not chunk: break
        now = time.monotonic() - t0
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            lines.append((now, line.decode('latin-1').strip()))
        if time.monotonic() - t0 > timeout:
            p.kill()
    rc = p.wait(); t_exit = time.monotonic() - t0
    done.set(); th.join()
    err = p.stderr.read().decode('latin-1')
    if not any(need in l for _, l in lines):
        raise SystemExit('run failed (rc %d): %s\n%s\n%s' % (rc, ' '.join(argv),
                         '\n'.join(l for _, l in lines[-15:]), err[-2000:]))
    return lines, t_exit, rc, hwm[0]

def t_of(lines, rx):
    for t, l in lines:
        if re.search(rx, l): return t
    raise SystemExit('no line %r' % rx)

def smp_exit_rate():
    """PIO exits/s per vCPU, every vCPU exiting at once (amber-vmm only)."""
    argv = [VMM, '--name', 'bench', '--memory', '64M', '--cpus', str(SMP_CPUS), '--serial', 'stdio',
            '--kernel', PVH, '--cmdline', 'test=smpexit cpus=%d count=%d' % (SMP_CPUS, EXITS)]
    lines, t_exit, rc, hwm = run(argv)
    return EXITS / (t_of(lines, r'SMPEXIT done') - t_of(lines, r'SMPEXIT start'))

# ---- IDE DMA and SeaBIOS boot rows (ONLY=ide / ONLY=boot) ----
SEABIOS = '/usr/share/seabios/bios.bin'
QEMU_BASE = ['qemu-system-x86_64', '-accel', 'kvm', '-machine', 'pc', '-cpu', 'host,-arch-capabilities',
             '-display', 'none', '-no-reboot', '-serial', 'stdio',
             '-device', 'isa-debug-exit,iobase=0x501,iosize=1']

def ide_amber(disk, cmdline):
    return [VMM, '--name', 'bench', '--memory', '64M', '--cpus', '1', '--serial', 'stdio',
            '--kernel', PVH, '--cmdline', cmdline,
            '--ide', 'bus=0,unit=0,media=disk,path=%s,format=qcow2,cache=writeback' % disk]

def ide_qemu(disk, cmdline):
    return QEMU_BASE + ['-m', '64M', '-nographic', '-monitor', 'none', '-net', 'none',
                        '-kernel', PVH, '-append', cmdline,
                        '-drive', 'file=%s,if=ide,format=qcow2,cache=writeback' % disk]

BOOT_AMBER = {
    'virtio-blk': lambda d: ['--disk', 'path=%s,format=qcow2,cache=writeback,queues=1' % d],
    'IDE': lambda d: ['--ide', 'bus=0,unit=0,media=disk,path=%s,format=qcow2,cache=writeback' % d],
    'virtio-scsi': lambda d: ['--scsi', 'path=%s,format=qcow2,cache=writeback,target=0,lun=0' % d],
}
BOOT_QEMU = {
    'virtio-blk': lambda d: ['-drive', 'file=%s,if=none,id=d0,format=qcow2,cache=writeback' % d,
                             '-device', 'virtio-blk-pci,drive=d0'],
    'IDE': lambda d: ['-drive', 'file=%s,if=ide,format=qcow2,cache=writeback' % d],
    'virtio-scsi': lambda d: ['-device', 'virtio-scsi-pci,id=scsi0',
                              '-drive', 'file=%s,if=none,id=d0,format=qcow2,cache=writeback' % d,
                              '-device', 'scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0,lun=0,bootindex=0'],
}

def boot_argv(v, bus, disk):
    if v == 'amber-vmm':
        return [VMM, '--name', 'bench', '--memory', '128M', '--cpus', '1', '--serial', 'stdio',
                '--firmware', SEABIOS, '--no-reboot'] + BOOT_AMBER[bus](disk)
    return QEMU_BASE + ['-m', '128M', '-nodefaults', '-bios', SEABIOS] + BOOT_QEMU[bus](disk)

def ide_boot_rows(parts):
    rows = {k: {} for k in ('amber-vmm', 'qemu')}
    boot_disk = os.path.join(WORK, 'boot.qcow2')
    if 'boot' in parts:
        raw = os.path.join(WORK, 'boot.raw')
        subprocess.run(['python3', os.path.join(os.environ['ROOT'], 'tests/guest/bootsector/mkdisk.py'),
                        os.path.join(WORK, 'boot.bin'), raw, '2'], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, boot_disk], check=True)
    for rep in range(REPS):
        order = ['amber-vmm', 'qemu'] if rep % 2 == 0 else ['qemu', 'amber-vmm']
        for v in order:
            if 'ide' in parts:
                disk = os.path.join(WORK, 'ide-%s-%d.qcow2' % (v, rep))
                subprocess.run(['qemu-img', 'create', '-f', 'qcow2', disk, '64M'], check=True,
                               stdout=subprocess.DEVNULL)
                for rw in ('write', 'read'):
                    argv = (ide_amber if v == 'amber-vmm' else ide_qemu)(
                        disk, 'test=idebench rw=%s depth=1 count=%d' % (rw, COUNT))
                    lines, t_exit, rc, hwm = run(argv)
                    dt = t_of(lines, r'BENCH done') - t_of(lines, r'BENCH start')
                    rows[v].setdefault('IDE DMA 4K %s QD1 (req/s)' % rw, []).append(COUNT / dt)
                os.unlink(disk)
            if 'boot' in parts:
                for bus in BOOT_AMBER:
                    lines, t_exit, rc, hwm = run(boot_argv(v, bus, boot_disk), need='BOOT: stage1')
                    rows[v].setdefault('SeaBIOS boot, %s (s)' % bus, []).append(
                        t_of(lines, r'BOOT: stage1 loaded by BIOS'))
            print('rep %d %s done (%s)' % (rep + 1, v, '+'.join(sorted(parts))), flush=True)
    print()
    print('%-32s %14s %14s %10s' % ('metric (median of %d)' % REPS, 'amber-vmm', 'qemu+kvm', 'amber/qemu'))
    for m in rows['amber-vmm']:
        a = statistics.median(rows['amber-vmm'][m]); q = statistics.median(rows['qemu'][m])
        fmt = '%14.0f' if 'req/s' in m else '%14.2f'
        print('%-32s %s %s %10.2f' % (m, fmt % a, fmt % q, a / q if q else float('nan')))
    if 'ide' in parts:
        print('(IDE: QD1 only, the controller has no command queueing)')
    if 'boot' in parts:
        print('(boot: process start to "BOOT: stage1 loaded by BIOS" on COM1; lower is better)')

# ---- e1000 over a tap (ONLY=net) ----
def net_rows():
    import ctypes, fcntl, socket, struct
    NET_COUNT = int(os.environ['NET_COUNT'])
    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() != 0 or libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        print('(e1000 rows skipped: no network namespace here)')
        return
    MAC = '52:54:00:12:34:59'
    guest = bytes(int(x, 16) for x in MAC.split(':'))
    def tap():
        fd = os.open('/dev/net/tun', os.O_RDWR)
        fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'ambench0', 0x0002 | 0x1000))  # TUNSETIFF: TAP|NO_PI
        os.set_inheritable(fd, True)
        with open('/proc/sys/net/ipv6/conf/ambench0/disable_ipv6', 'w') as f: f.write('1')
        subprocess.run(['ip', 'link', 'set', 'ambench0', 'up'], check=True)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
        s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
        s.bind(('ambench0', 0x88B5))
        s.settimeout(0.5)
        return fd, s
    def argv(v, fd, size, model):
        cmd = 'test=%s count=%d size=%d' % ('e1000bench' if model == 'e1000' else 'vnetbench',
                                           NET_COUNT, size)
        if v == 'amber-vmm':
            return [VMM, '--name', 'bench', '--memory', '64M', '--cpus', '1', '--serial', 'stdio',
                    '--kernel', PVH, '--cmdline', cmd,
                    '--nic', 'model=%s,mac=%s,backend=tap,fd=%d,romfile=none' % (model, MAC, fd)]
        return ['qemu-system-x86_64', '-machine', 'pc,accel=kvm', '-cpu', 'host,-arch-capabilities',
                '-m', '64M', '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none',
                '-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                '-kernel', PVH, '-append', cmd, '-netdev', 'tap,id=n0,fd=%d' % fd,
                '-device', '%s,netdev=n0,mac=%s,romfile=' %
                ('e1000' if model == 'e1000' else 'virtio-net-pci', MAC)]
    def one(v, size, model):
        fd, sock = tap()
        seen = {'n': 0, 'first': None, 'last': None}
        stop = threading.Event()
        def reader():
            while not stop.is_set():
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break  # the tap went away with the VMM
                if data[6:12] != guest: continue
                now = time.monotonic()
                if seen['first'] is None: seen['first'] = now
                seen['last'] = now; seen['n'] += 1
        th = threading.Thread(target=reader, daemon=True); th.start()
        a = argv(v, fd, size, model)
        t0 = time.monotonic()
        p = subprocess.Popen(a, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             pass_fds=(fd,))
        os.close(fd)
        out, err = p.communicate(timeout=600)
        time.sleep(0.5)
        stop.set(); th.join(); sock.close()  # the tap goes with its last descriptor
        text = out.decode('latin-1')
        if 'BENCH done' not in text:
            raise SystemExit('%s %s bench failed (rc %d):\n%s\n%s' % (v, model, p.returncode, text[-2000:], err.decode()[-2000:]))
        n = seen['n']; dt = (seen['last'] - seen['first']) if n > 1 else float('nan')
        return (n - 1) / dt, (n - 1) * size / dt / 1e6, n
    rows = {k: {} for k in ('amber-vmm', 'qemu')}
    for rep in range(REPS):
        for v in (['amber-vmm', 'qemu'] if rep % 2 == 0 else ['qemu', 'amber-vmm']):
            for model in ('e1000', 'virtio'):
                for size in (60, 1514):
                    pps, mbs, n = one(v, size, model)
                    rows[v].setdefault('%s tap TX %dB (frames/s)' % (model, size), []).append(pps)
                    rows[v].setdefault('%s tap TX %dB (MB/s)' % (model, size), []).append(mbs)
                    rows[v].setdefault('%s tap TX %dB (frames seen)' % (model, size), []).append(n)
            print('rep %d %s e1000+virtio done' % (rep + 1, v), flush=True)
    print()
    print('%-32s %14s %14s %10s' % ('metric (median of %d)' % REPS, 'amber-vmm', 'qemu+kvm', 'amber/qemu'))
    for m in rows['amber-vmm']:
        a = statistics.median(rows['amber-vmm'][m]); q = statistics.median(rows['qemu'][m])
        fmt = '%14.1f' if 'MB/s' in m else '%14.0f'
        print('%-32s %s %s %10.2f' % (m, fmt % a, fmt % q, a / q if q else float('nan')))
    print('(e1000 and virtio-net: %d frames sent per run; host-side AF_PACKET reader, first to last frame)' % NET_COUNT)

if ONLY == 'net':
    net_rows()
    raise SystemExit(0)
# ---- end of the e1000 rows ----

if ONLY and set(ONLY.split(',')) <= {'ide', 'boot'}:
    ide_boot_rows(set(ONLY.split(',')))
    raise SystemExit(0)
# ---- end of the IDE / boot rows ----

if ONLY == 'smpexit':
    rates = []
    for rep in range(REPS):
        rates.append(smp_exit_rate())
        print('rep %d: %.0f PIO exits/s per vCPU' % (rep + 1, rates[-1]), flush=True)
    print('%-32s %14.0f' % ('PIO exits/s per vCPU, %d vCPUs' % SMP_CPUS, statistics.median(rates)))
    raise SystemExit(0)

# ---------------------------------------------------------------- virtio-scsi rows
def amber_scsi_argv(disk, cmdline):
    return [VMM, '--name', 'bench', '--memory', '64M', '--cpus', '1', '--serial', 'stdio',
            '--kernel', PVH, '--cmdline', cmdline,
            '--scsi', 'path=%s,format=qcow2,cache=writeback' % disk]

def qemu_scsi_argv(disk, cmdline):
    return ['qemu-system-x86_64', '-machine', 'pc,accel=kvm', '-cpu', 'host,-arch-capabilities',
            '-m', '64M', '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none',
            '-serial', 'stdio', '-net', 'none', '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
            '-kernel', PVH, '-append', cmdline, '-device', 'virtio-scsi-pci,id=scsi0',
            '-drive', 'file=%s,if=none,id=d0,format=qcow2,cache=writeback' % disk,
            '-device', 'scsi-hd,drive=d0,bus=scsi0.0']

def scsi_rows():
    """4 KiB virtio-scsi write/read at QD1/QD32, amber-vmm and QEMU alternately."""
    vmms = {'amber-vmm': amber_scsi_argv, 'qemu': qemu_scsi_argv}
    r = {k: {} for k in vmms}
    for rep in range(REPS):
        for name in (list(vmms) if rep % 2 == 0 else list(reversed(vmms))):
            disk = os.path.join(WORK, 'scsi-%s-%d.qcow2' % (name, rep))
            subprocess.run(['qemu-img', 'create', '-f', 'qcow2', disk, '64M'], check=True,
                           stdout=subprocess.DEVNULL)
            for rw in ('write', 'read'):
                for depth in (1, 32):
                    lines, t_exit, rc, hwm = run(vmms[name](
                        disk, 'test=scsibench rw=%s depth=%d count=%d' % (rw, depth, COUNT)))
                    dt = t_of(lines, r'BENCH done') - t_of(lines, r'BENCH start')
                    r[name].setdefault('virtio-scsi 4K %s QD%d (req/s)' % (rw, depth), []).append(COUNT / dt)
            os.unlink(disk)
            print('rep %d %s virtio-scsi done' % (rep + 1, name), flush=True)
    print()
    print('%-32s %14s %14s %10s' % ('metric (median of %d)' % REPS, 'amber-vmm', 'qemu+kvm', 'amber/qemu'))
    for m in r['amber-vmm']:
        a = statistics.median(r['amber-vmm'][m]); q = statistics.median(r['qemu'][m])
        print('%-32s %14.0f %14.0f %10.2f' % (m, a, q, a / q if q else float('nan')))

if ONLY == 'scsi':
    scsi_rows()
    raise SystemExit(0)
# ---------------------------------------------------------------- end of virtio-scsi rows

VMMS = {'amber-vmm': amber_argv, 'qemu': qemu_argv}
res = {k: {} for k in VMMS}
def add(v, metric, x): res[v].setdefault(metric, []).append(x)

for rep in range(REPS):
    order = list(VMMS) if rep % 2 == 0 else list(reversed(VMMS))
    for v in order:
        disk = os.path.join(WORK, '%s-%d.qcow2' % (v, rep))
        subprocess.run(['qemu-img', 'create', '-f', 'qcow2', disk, '64M'], check=True, stdout=subprocess.DEVNULL)
        lines, t_exit, rc, hwm = run(VMMS[v](disk, 'test=exit'))
        add(v, 'start -> first serial line (s)', t_of(lines, r'PROBE: amber probe guest starting'))
        add(v, 'start -> exit (s)', t_exit)
        add(v, 'peak VmHWM, -m 64M (MiB)', hwm / 1024)
        for rw in ('write', 'read'):
            for depth in (1, 32):
                lines, t_exit, rc, hwm = run(VMMS[v](disk, 'test=bench rw=%s depth=%d count=%d' % (rw, depth, COUNT)))
                dt = t_of(lines, r'BENCH done') - t_of(lines, r'BENCH start')
                add(v, '4K %s QD%d (req/s)' % (rw, depth), COUNT / dt)
                add(v, 'peak VmHWM, -m 64M (MiB)', hwm / 1024)
        os.unlink(disk)
        print('rep %d %s done' % (rep + 1, v), flush=True)

metrics = list(res['amber-vmm'])
print()
print('%-32s %14s %14s %10s' % ('metric (median of %d)' % REPS, 'amber-vmm', 'qemu+kvm', 'amber/qemu'))
for m in metrics:
    a = statistics.median(res['amber-vmm'][m]) if 'VmHWM' not in m else max(res['amber-vmm'][m])
    q = statistics.median(res['qemu'][m]) if 'VmHWM' not in m else max(res['qemu'][m])
    fmt = '%14.0f' if 'req/s' in m else '%14.2f'
    print('%-32s %s %s %10.2f' % (m, fmt % a, fmt % q, a / q if q else float('nan')))
print('(VmHWM: maximum over all runs, not median)')
rates = [smp_exit_rate() for _ in range(REPS)]
print('%-32s %14.0f %14s' % ('PIO exits/s per vCPU, %d vCPUs' % SMP_CPUS, statistics.median(rates), 'n/a'))
scsi_rows()
ide_boot_rows({'ide', 'boot'})
net_rows()
PYEOF
