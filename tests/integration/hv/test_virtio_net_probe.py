#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVH probe's test=vnet (tests/guest/pvh/virtio_net_probe.c) against
amber-vmm's virtio-net (--nic model=virtio) on the user-mode network
(libslirp): the PCI identity (1af4:1000 rev 0, class 020000, subsystem
1af4:0001, INTA), feature negotiation over the modern interface (MAC,
STATUS, MRG_RXBUF, CTRL_VQ, CTRL_RX, VERSION_1; CSUM where offered), the
MAC and LINK_UP from the config space, two control commands (RX promisc
off: OK; MQ VQ_PAIRS_SET without MQ: ERR) and a full DHCP DISCOVER /
OFFER / REQUEST / ACK (amber-vmm offers CSUM, so its REQUEST's UDP
checksum is completed by the device, which slirp checks). The guest must
be offered 10.0.2.15 / router 10.0.2.2 / DNS 10.0.2.3, query-nics must
count the frames both ways with model "virtio", and the same probe under
QEMU 7.2 (TCG, -netdev user + -device virtio-net-pci) is the oracle: its
VNET lines must be the same (the CSUM line aside: QEMU offers CSUM only
with a vnet_hdr peer). queues=2 must offer MQ and 5 queues."""
import os
import re
import shutil

import vmmlib as v

MAC = '52:54:00:12:34:57'
SAME = [r'VNET: found .*', r'VNET: features ok .*', r'VNET: mac .*', r'VNET: ctrl .*',
        r'VNET: discover sent .*', r'VNET: offer .*', r'VNET: ack .*']


def check_probe(out, who):
    v.check('VNET: RESULT PASS' in out and 'FAIL' not in out, '%s: the probe failed:\n%s' % (who, out))
    v.check('VNET: found 1af4:1000 rev 0 class 20000 subsystem 11af4 pin 1' in out,
            '%s: PCI identity:\n%s' % (who, out))
    v.check('VNET: mac %s status 1 queues 3' % MAC in out, '%s: config space:\n%s' % (who, out))
    v.check('VNET: offer 10.0.2.15 router 10.0.2.2 dns 10.0.2.3' in out,
            '%s: DHCP offer:\n%s' % (who, out))
    v.check('VNET: ack 10.0.2.15' in out, '%s: no DHCP ACK' % who)


def run_amber():
    tmp = v.workdir('vnet')
    control = os.path.join(tmp, 'control.sock')
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=vnet idle=1', control=control,
                     extra=['--nic', 'model=virtio,mac=%s,backend=user' % MAC])
    try:
        vm.wait_line(r'VNET: idle|FAIL', 120)
        out = vm.output()
        check_probe(out, 'amber-vmm')
        v.check('VNET: csum 1' in out, 'amber-vmm does not offer CSUM:\n%s' % out)
        c = v.Control(control)
        rows = c.cmd('query-nics')['return']
        v.check(len(rows) == 1 and rows[0]['model'] == 'virtio' and rows[0]['mac'] == MAC,
                'query-nics identity: %s' % rows)
        row = rows[0]
        v.check(row['tx_packets'] == 2 and row['rx_packets'] >= 2 and row['tx_bytes'] > 600 and
                row['rx_bytes'] > 600, 'query-nics counters: %s' % row)
        v.check(row['rx_errors'] == 0 and row['tx_errors'] == 0 and row['tx_drops'] == 0,
                'query-nics errors/drops: %s' % row)
        c.cmd('quit')
        c.close()
        rc = vm.wait(30)
        v.check(rc == 0, 'amber-vmm exit status %d after quit\n%s' % (rc, vm.describe()))
    finally:
        vm.kill()
    return out


def run_amber_mq():
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=vnet',
                     extra=['--nic', 'model=virtio,mac=%s,backend=user,queues=2' % MAC])
    try:
        vm.wait_line(r'VNET: mac|FAIL', 120)
        out = vm.output()
    finally:
        vm.kill()
    v.check('VNET: features ok (mac status mrg_rxbuf ctrl_vq ctrl_rx version_1) mq 1' in out,
            'queues=2: MQ not offered:\n%s' % out)
    v.check(re.search(r'common num_queues 5\b', out), 'queues=2: not 5 queues:\n%s' % out)


def run_qemu():
    return v.run_qemu_pvh('test=vnet', ['-netdev', 'user,id=n0',
                                        '-device', 'virtio-net-pci,netdev=n0,mac=%s' % MAC])


def test():
    if not os.path.exists(v.PVH):
        raise v.TestFailure('no probe guest at %s' % v.PVH)
    amber = run_amber()
    run_amber_mq()
    if not shutil.which(v.QEMU):
        v.log('no %s: the QEMU oracle is skipped' % v.QEMU)
        return
    qemu = run_qemu()
    check_probe(qemu, 'QEMU')
    v.log('amber-vmm and QEMU agree on %d lines' % v.compare_lines(SAME, amber, qemu))


if __name__ == '__main__':
    v.main(test)
