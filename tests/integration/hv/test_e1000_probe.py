#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVH probe's test=e1000 (tests/guest/pvh/e1000_probe.c) against
amber-vmm's e1000 on the user-mode network (libslirp): the card's identity,
the EEPROM (EERD and microwire, checksum 0xBABA) holding the MAC given on
the command line, the PHY, then a full DHCP DISCOVER / OFFER / REQUEST /
ACK (the REQUEST with IP and UDP checksum offload, which slirp checks) and
the read-to-clear ICR and statistics. With the default network the guest
must be offered 10.0.2.15 with router 10.0.2.2 and DNS 10.0.2.3; with
net=192.168.76.0/24 (libvirt's <ip> of a user interface) 192.168.76.15 /
.2 / .3. query-nics must count the frames both ways, and a hostfwd rule
must be listening on the host while the VM runs, and query-nics must report
the lease from the DHCP ACK (address, /24, a day). The same probe runs under
QEMU 7.2 (TCG, -netdev user + -device e1000) as the oracle: its E1000
lines must be the same."""
import os
import shutil
import socket

import vmmlib as v

DEFAULT = {'mac': '52:54:00:12:34:56', 'net': None,
           'want': ('10.0.2.15', '10.0.2.2', '10.0.2.3')}
CUSTOM = {'mac': '52:54:00:ab:cd:ef', 'net': '192.168.76.0/24',
          'want': ('192.168.76.15', '192.168.76.2', '192.168.76.3')}
# Lines that must read the same under amber-vmm and QEMU.
SAME = [r'E1000: found .*', r'E1000: eeprom checksum .*', r'E1000: eeprom word 10 .*',
        r'E1000: mac .*', r'E1000: phy id .*', r'E1000: bmsr .*', r'E1000: discover sent .*',
        r'E1000: offer .*', r'E1000: ack .*', r'E1000: icr .*', r'E1000: gprc .*']


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_probe(out, case, who):
    v.check('E1000: RESULT PASS' in out and 'FAIL' not in out, '%s: the probe failed:\n%s' % (who, out))
    v.check('E1000: found 8086:100e rev 3 class 20000 subsystem 11001af4' in out and ' pin 1' in out,
            '%s: PCI identity:\n%s' % (who, out))
    v.check('E1000: mac %s' % case['mac'] in out, '%s: EEPROM MAC is not %s:\n%s' % (who, case['mac'], out))
    v.check('E1000: eeprom checksum baba' in out, '%s: EEPROM checksum' % who)
    offer, router, dns = case['want']
    v.check('E1000: offer %s router %s dns %s' % (offer, router, dns) in out,
            '%s: DHCP offer is not %s router %s dns %s:\n%s' % (who, offer, router, dns, out))
    v.check('E1000: ack %s' % offer in out, '%s: no DHCP ACK for %s' % (who, offer))


def run_amber(case):
    tmp = v.workdir('e1000')
    control = os.path.join(tmp, 'control.sock')
    port = free_port()
    nic = 'model=e1000,mac=%s,backend=user,hostfwd=tcp:127.0.0.1:%d-:22' % (case['mac'], port)
    if case['net']:
        nic += ',net=' + case['net']
    vm = v.start_vmm(kernel=v.PVH, cmdline='test=e1000 idle=1', control=control,
                     extra=['--nic', nic])
    try:
        vm.wait_line(r'E1000: idle|FAIL', 120)
        out = vm.output()
        check_probe(out, case, 'amber-vmm')
        v.check('E1000: status 80080783 (via io 80080783)' in out,
                'STATUS through BAR0 and IOADDR/IODATA:\n%s' % out)
        # The host forward listens while the VM runs.
        with socket.create_connection(('127.0.0.1', port), timeout=5):
            pass
        c = v.Control(control)
        rows = c.cmd('query-nics')['return']
        v.check(len(rows) == 1, 'query-nics: %s' % rows)
        row = rows[0]
        v.check(row['id'] == 'net0' and row['model'] == 'e1000' and row['mac'] == case['mac'],
                'query-nics identity: %s' % row)
        v.check(row['tx_packets'] == 2 and row['rx_packets'] >= 2 and row['tx_bytes'] > 600 and
                row['rx_bytes'] > 600, 'query-nics counters: %s' % row)
        v.check(row['rx_errors'] == 0 and row['tx_errors'] == 0 and row['rx_drops'] == 0 and
                row['tx_drops'] == 0, 'query-nics errors/drops: %s' % row)
        # The lease libslirp handed out, read off the DHCP ACK (a day, /24).
        leases = row.get('leases')
        v.check(isinstance(leases, list) and len(leases) == 1 and
                leases[0]['ip-address'] == case['want'][0] and leases[0]['prefix'] == 24 and
                leases[0]['mac-address'] == case['mac'] and
                86000 < leases[0].get('expires-in', 0) <= 86400,
                'query-nics leases: %s' % leases)
        c.cmd('quit')
        c.close()
        rc = vm.wait(30)
        v.check(rc == 0, 'amber-vmm exit status %d after quit\n%s' % (rc, vm.describe()))
    finally:
        vm.kill()
    return out


def run_qemu(case):
    netdev = 'user,id=n0' + (',net=' + case['net'] if case['net'] else '')
    return v.run_qemu_pvh('test=e1000', ['-netdev', netdev,
                                         '-device', 'e1000,netdev=n0,mac=%s' % case['mac']])


def test():
    if not os.path.exists(v.PVH):
        raise v.TestFailure('no probe guest at %s' % v.PVH)
    for case in (DEFAULT, CUSTOM):
        amber = run_amber(case)
        if not shutil.which(v.QEMU):
            v.log('no %s: the QEMU oracle is skipped' % v.QEMU)
            continue
        qemu = run_qemu(case)
        check_probe(qemu, case, 'QEMU')
        n = v.compare_lines(SAME, amber, qemu)
        v.log('net=%s: amber-vmm and QEMU agree on %d lines' % (case['net'] or 'default', n))


if __name__ == '__main__':
    v.main(test)
