#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ACPI tables amber-vmm hands SeaBIOS through etc/table-loader, seen
by the ACPI probe guest (tests/guest/acpi) booted from a raw disk: RSDP in
the BIOS area, every checksum, one LAPIC per vCPU (1 and 2 vCPUs), the
FADT's PM addresses where SeaBIOS put PMBASE, PCI0's _UID per machine
type; and the same probe under QEMU 7.2 (-machine pc / pc-i440fx-5.1,
TCG) must report the same tables (HPET included; --hpet off drops it), the
same FADT, MADT entries, _UID and DSDT device IDs (less FWCF). SeaBIOS's debugcon must show it used the
loader (PM base moved to 0x600) and built no tables of its own."""
import os
import re
import shutil

import vmmlib as v

ACPI_BIN = os.path.join(v.GUEST_DIR, 'acpi.bin')
TIMEOUT = 60


def make_disk(path):
    image = open(ACPI_BIN, 'rb').read()
    disk = bytearray(2 << 20)  # SeaBIOS refuses disks under 1 MiB
    disk[:len(image)] = image
    with open(path, 'wb') as f:
        f.write(disk)


def parse(out, who):
    v.check('ACPI RESULT PASS' in out, '%s: the probe did not pass\n%s' % (who, out))
    facts = {'tables': {}, 'madt': [], 'fadt': []}
    for line in out.splitlines():
        m = re.match(r'TABLE sig=(\S+) len=(\d+) rev=(\d+) csum=(\S+)', line)
        if m:
            facts['tables'][m.group(1)] = (int(m.group(2)), int(m.group(3)))
        if re.match(r'(MADT|LAPIC|IOAPIC|ISO|NMI) ', line):
            facts['madt'].append(line)
        if re.match(r'(FADT|FACS|PMBASE|PMTMR) ', line):
            facts['fadt'].append(line)
        if line.startswith('DSDT hids='):
            facts['hids'] = [h for h in line[len('DSDT hids='):].split(',') if h]
        m = re.match(r'DSDT pci0_uid=(\d+)', line)
        if m:
            facts['uid'] = int(m.group(1))
        m = re.match(r'RSDP addr=0x([0-9a-f]+) rev=(\d+) oem=(.{6})', line)
        if m:
            facts['rsdp'] = (int(m.group(1), 16), int(m.group(2)), m.group(3))
    v.check('rsdp' in facts and 'uid' in facts and 'hids' in facts, '%s: no RSDP or PCI0 _UID line\n%s' % (who, out))
    addr, rev, oem = facts['rsdp']
    v.check(0xE0000 <= addr < 0x100000 and rev == 0 and oem == 'BOCHS ',
            '%s: RSDP %r' % (who, facts['rsdp']))
    return facts


def run_amber(disk, cpus, machine, debugcon=None, hpet=True):
    extra = ['--machine', machine] if machine else []
    if not hpet:
        extra += ['--hpet', 'off']
    if debugcon:
        extra += ['--debugcon', 'file:' + debugcon]
    vm = v.start_vmm(disks=['path=%s,format=raw' % disk], firmware=v.SEABIOS, memory='128M',
                     cpus=cpus, extra=extra)
    rc = vm.wait(TIMEOUT)
    out = vm.output()
    v.check(rc == 1, 'amber-vmm --cpus %d: exit status %r, want 1\n%s' % (cpus, rc, vm.describe()))
    facts = parse(out, 'amber-vmm --cpus %d' % cpus)
    lapics = sum(1 for line in facts['madt'] if line.startswith('LAPIC '))
    v.check(lapics == cpus, 'amber-vmm: %d LAPIC entries for %d vCPUs' % (lapics, cpus))
    want = ['APIC', 'DSDT', 'FACP', 'HPET', 'RSDT', 'WAET'] if hpet else \
        ['APIC', 'DSDT', 'FACP', 'RSDT', 'WAET']
    v.check(sorted(facts['tables']) == want, 'amber-vmm tables: %r, want %r' % (facts['tables'], want))
    v.check(('PNP0103' in facts['hids']) == hpet, 'amber-vmm DSDT _HIDs %r (HPET %r)' % (facts['hids'], hpet))
    v.check('FADT flags=0x80a5 sci=9 smi=0xb2 enable=0xf1 disable=0xf0 int_model=1' in facts['fadt'],
            'amber-vmm FADT: %r' % facts['fadt'])
    v.check('PMBASE cfg=0x601' in facts['fadt'] and 'PMTMR ticks' in facts['fadt'],
            'amber-vmm PM block: %r' % facts['fadt'])
    return facts


def run_qemu(disk, cpus, machine):
    argv = [v.QEMU, '-machine', machine, '-accel', 'tcg', '-m', '128', '-smp', str(cpus),
            '-display', 'none', '-monitor', 'none', '-parallel', 'none', '-serial', 'stdio',
            '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
            '-drive', 'file=%s,format=raw' % disk]
    vm = v.Proc(argv, name='qemu')
    rc = vm.wait(TIMEOUT)
    v.check(rc == 1, 'qemu: exit status %r, want 1\n%s' % (rc, vm.describe()))
    return parse(vm.output(), 'qemu -machine %s' % machine)


def compare(amber, qemu, what):
    ours = dict(amber['tables'])
    theirs = dict(qemu['tables'])
    v.check(sorted(ours) == sorted(theirs), '%s: tables %r, QEMU %r' % (what, ours, theirs))
    for sig in [s for s in ('FACP', 'APIC', 'WAET', 'HPET') if s in theirs]:
        v.check(ours[sig] == theirs[sig], '%s: %s (length, revision) %r, QEMU %r'
                % (what, sig, ours[sig], theirs[sig]))
    v.check(amber['fadt'] == qemu['fadt'], '%s: FADT\n%s\nQEMU:\n%s'
            % (what, '\n'.join(amber['fadt']), '\n'.join(qemu['fadt'])))
    v.check(amber['madt'] == qemu['madt'], '%s: MADT\n%s\nQEMU:\n%s'
            % (what, '\n'.join(amber['madt']), '\n'.join(qemu['madt'])))
    # Device IDs: ours are QEMU's, less those of devices amber-vmm lacks
    # (fw_cfg's FWCF, the PCI/CPU hotplug port containers).
    missing = set(qemu['hids']) - set(amber['hids'])
    extra = set(amber['hids']) - set(qemu['hids'])
    v.check(not extra and missing <= {'QEMU0002'},
            '%s: DSDT _HIDs %r, QEMU %r' % (what, amber['hids'], qemu['hids']))
    v.check(amber['hids'].count('PNP0C0F') == qemu['hids'].count('PNP0C0F') == 5,
            '%s: interrupt links %r, QEMU %r' % (what, amber['hids'], qemu['hids']))
    v.check(amber['uid'] == qemu['uid'], '%s: PCI0 _UID %d, QEMU %d' % (what, amber['uid'], qemu['uid']))


def test():
    v.require_seabios()
    tmp = v.workdir('acpi')
    disk = os.path.join(tmp, 'acpi.raw')
    make_disk(disk)
    debugcon = os.path.join(tmp, 'debugcon.log')

    one = run_amber(disk, 1, None, debugcon)
    v.check(one['uid'] == 0, 'default machine: PCI0 _UID %d, want 0' % one['uid'])
    text = open(debugcon, 'rb').read().decode('latin-1')
    v.check('Moving pm_base to 0x600' in text, 'SeaBIOS did not see etc/table-loader\n' + text[-3000:])
    for legacy in ('ACPI DSDT=', 'Copying ACPI RSDP'):
        v.check(legacy not in text, 'SeaBIOS built its own tables (%r)\n%s' % (legacy, text[-3000:]))
    two = run_amber(disk, 2, 'pc-i440fx-7.2')
    old = run_amber(disk, 2, 'pc-i440fx-5.1')
    nohpet = run_amber(disk, 1, None, hpet=False)
    v.check(two['uid'] == 0 and old['uid'] == 1,
            'PCI0 _UID: pc-i440fx-7.2 %d (want 0), pc-i440fx-5.1 %d (want 1)' % (two['uid'], old['uid']))

    # --acpi off (libvirt: no <acpi/>): no tables and no PIIX4 PM function,
    # so SeaBIOS builds none either, as under QEMU's acpi=off.
    vm = v.start_vmm(disks=['path=%s,format=raw' % disk], firmware=v.SEABIOS, memory='128M',
                     cpus=1, extra=['--acpi', 'off'])
    vm.wait(TIMEOUT)
    v.check('ACPI FAIL no RSDP' in vm.output(), '--acpi off: the guest found ACPI tables\n' + vm.output())

    if shutil.which(v.QEMU) is None:
        v.log('no %s: the QEMU comparison is skipped' % v.QEMU)
        return
    compare(two, run_qemu(disk, 2, 'pc'), '-smp 2, pc')
    compare(old, run_qemu(disk, 2, 'pc-i440fx-5.1'), '-smp 2, pc-i440fx-5.1')
    compare(one, run_qemu(disk, 1, 'pc'), '-smp 1, pc')
    compare(nohpet, run_qemu(disk, 1, 'pc,hpet=off'), '--hpet off, pc,hpet=off')
    q = v.Proc([v.QEMU, '-machine', 'pc,acpi=off', '-accel', 'tcg', '-m', '128', '-display', 'none',
                '-monitor', 'none', '-parallel', 'none', '-serial', 'stdio',
                '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
                '-drive', 'file=%s,format=raw' % disk], name='qemu')
    q.wait(TIMEOUT)
    v.check('ACPI FAIL no RSDP' in q.output(), 'QEMU acpi=off: tables found (the oracle changed?)\n' + q.output())


if __name__ == '__main__':
    v.main(test)
