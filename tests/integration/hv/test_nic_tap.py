#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A NIC on a tap device passed in as a descriptor (--nic
backend=tap,fd=N), for the model given as the first argument: e1000 or
virtio (virtio-net). In a private network namespace (root), a tap device
opened here (IFF_TAP | IFF_NO_PI) goes to amber-vmm; the probe's
test=e1000tap / test=vnettap sends COUNT raw frames (ethertype 0x88B5,
sizes 60..1459) and then checks RX frames the host side sends it through
an AF_PACKET socket, more than its RX ring holds (e1000: 31 descriptors,
virtio-net: 32 buffers; the rest wait in the card and the tap's queue).
The host checks every guest frame (count, length, payload, source MAC),
query-nics the counters, and the same run passes under QEMU 7.2 (TCG,
-netdev tap,fd=N -device e1000 | virtio-net-pci). Skipped (exit 77) where
namespaces are not allowed."""
import os
import select
import shutil
import subprocess
import sys
import time

import netns
import vmmlib as v

COUNT = 20
RX = 80
# model: (probe test, its result prefix, MAC, tap name, QEMU's -device)
MODELS = {'e1000': ('e1000tap', 'E1000TAP', '52:54:00:12:34:58', 'amtap0', 'e1000'),
          'virtio': ('vnettap', 'VNETTAP', '52:54:00:12:34:59', 'amtap1', 'virtio-net-pci')}
MODEL = sys.argv[1] if len(sys.argv) > 1 else 'e1000'
PROBE, PREFIX, MAC, TAP, QEMU_DEVICE = MODELS[MODEL]


def exchange(start, name, wait_ready, wait_done):
    """Runs one VMM (start(fd) -> Proc or Popen wrapper); returns the guest's frames."""
    fd = netns.open_tap(TAP)
    sock = netns.packet_socket(TAP)
    guest = netns.mac_bytes(MAC)
    got = []
    try:
        vm = start(fd)
        os.close(fd)
        wait_ready(vm)
        # Host -> guest, as fast as the socket takes them.
        for seq in range(RX):
            sock.send(netns.frame(guest, netns.HOST_MAC, 'AMBERHOST', seq, netns.frame_size(seq)))
        deadline = time.monotonic() + 60
        while len(got) < COUNT and time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 1)
            if not r:
                continue
            data = sock.recv(65536)
            if data[6:12] == netns.HOST_MAC:
                continue  # our own frames, seen going out
            got.append(data)
        wait_done(vm)
    finally:
        sock.close()
    v.check(len(got) == COUNT, '%s: the host saw %d of %d guest frames' % (name, len(got), COUNT))
    for seq, data in enumerate(got):
        want = netns.frame(b'\xff' * 6, guest, 'AMBERTAP', seq, netns.frame_size(seq))
        v.check(data == want, '%s: guest frame %d: %d bytes %r, want %d bytes %r'
                % (name, seq, len(data), data[:40], len(want), want[:40]))
    return got


def test():
    if not os.path.exists(v.PVH):
        raise v.TestFailure('no probe guest at %s' % v.PVH)
    netns.enter_namespace()
    tmp = v.workdir(MODEL + '-tap')
    control = os.path.join(tmp, 'control.sock')
    cmdline = 'test=%s count=%d rx=%d idle=1' % (PROBE, COUNT, RX)
    state = {}

    def start_amber(fd):
        vm = v.Proc(v.vmm_argv(kernel=v.PVH, cmdline=cmdline, control=control,
                               extra=['--nic', 'model=%s,mac=%s,backend=tap,fd=%d' % (MODEL, MAC, fd)]),
                    name='amber-vmm', pass_fds=(fd,))
        state['vm'] = vm
        return vm

    def done_amber(vm):
        vm.wait_line(PREFIX + r': RESULT PASS|FAIL', 60)
        out = vm.output()
        v.check(PREFIX + ': RESULT PASS' in out, 'amber-vmm: the probe failed\n%s' % vm.describe())
        c = v.Control(control)
        row = c.cmd('query-nics')['return'][0]
        v.check(row['tx_packets'] == COUNT and row['rx_packets'] == RX, 'query-nics: %s' % row)
        want_tx = sum(netns.frame_size(s) for s in range(COUNT))
        want_rx = sum(netns.frame_size(s) for s in range(RX))
        v.check(row['tx_bytes'] == want_tx and row['rx_bytes'] == want_rx,
                'query-nics bytes %s, want tx %d rx %d' % (row, want_tx, want_rx))
        v.check(row['rx_drops'] == 0 and row['rx_errors'] == 0 and row['tx_errors'] == 0,
                'query-nics: frames lost: %s' % row)
        c.cmd('quit')
        c.close()
        v.check(vm.wait(30) == 0, 'amber-vmm exit status after quit\n%s' % vm.describe())

    try:
        exchange(start_amber, 'amber-vmm', lambda vm: vm.wait_line(PREFIX + r': ready', 60), done_amber)
    finally:
        if 'vm' in state:
            state['vm'].kill()
    subprocess.run(['ip', 'link', 'del', TAP], check=False)
    v.log('amber-vmm: %d frames out, %d in, all checked' % (COUNT, RX))

    if not shutil.which(v.QEMU):
        v.log('no %s: the QEMU oracle is skipped' % v.QEMU)
        return

    def start_qemu(fd):
        argv = [v.QEMU, '-machine', 'pc,accel=tcg', '-m', '64M', '-nographic', '-no-reboot',
                '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
                '-device', 'isa-debug-exit,iobase=0x501,iosize=1', '-kernel', v.PVH,
                '-append', 'test=%s count=%d rx=%d' % (PROBE, COUNT, RX),
                '-netdev', 'tap,id=n0,fd=%d' % fd, '-device', '%s,netdev=n0,mac=%s' % (QEMU_DEVICE, MAC)]
        vm = v.Proc(argv, name='qemu', pass_fds=(fd,))
        state['qemu'] = vm
        return vm

    def done_qemu(vm):
        rc = vm.wait(120)
        v.check(PREFIX + ': RESULT PASS' in vm.output() and rc == 1,
                'QEMU: the probe failed (rc %s)\n%s' % (rc, vm.describe()))

    try:
        exchange(start_qemu, 'QEMU', lambda vm: vm.wait_line(PREFIX + r': ready', 120), done_qemu)
    finally:
        if 'qemu' in state:
            state['qemu'].kill()
    v.log('QEMU 7.2: the same exchange passes')


if __name__ == '__main__':
    v.main(test)
