#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS takes amber-vmm's SMBIOS fw_cfg files (etc/smbios/smbios-anchor
and -tables, with --uuid and --smbios strings): it copies the tables into
the BIOS area only when the anchor it read is a valid 2.x entry point, and
says so on debugcon ("Copying SMBIOS from ..."), and it prints the UUID it
reads back from our type 1 structure (SMBIOS byte order, which it turns
back into RFC 4122 text): "Machine UUID 12345678-9abc-...". Without our
files SeaBIOS builds legacy tables of its own with no UUID line.

Then the guest's view: the SMBIOS probe (tests/guest/acpi/smbios.c) booted
by SeaBIOS finds the entry point, walks every structure and prints its
strings and the type 1 UUID; with the same --uuid / --smbios (QEMU: -uuid
/ -smbios) the types 0, 1, 2, 3 and 4 and their strings, the UUID and the
set of structure types must be what QEMU 7.2 `pc` gives the guest."""
import os
import re
import shutil

import vmmlib as v

TIMEOUT = 40
SMBIOS_BIN = os.path.join(v.GUEST_DIR, 'smbios.bin')
UUID = '12345678-9abc-def0-1122-334455667788'
STRINGS = ['type=0,vendor=Amber,version=1.0,date=01/01/2026',
           'type=1,manufacturer=Clinic Ltd,product=Reception PC,version=7,serial=AMBER-1,'
           'sku=SKU-9,family=Test',
           'type=2,manufacturer=Board Co,product=B1,serial=BS-1,asset=A-1,location=Rack 3',
           'type=3,manufacturer=Case Co,version=C1,serial=CS-1,asset=TAG-7,sku=CSKU']


def structures(out, who):
    v.check('SMBIOS RESULT PASS' in out, '%s: the SMBIOS probe did not pass\n%s' % (who, out))
    rows = {}
    for m in re.finditer(r'^SMBIOS type=(\d+) handle=0x[0-9a-f]+ strings=(.*)$', out, re.M):
        rows.setdefault(int(m.group(1)), []).append(m.group(2))
    uuid = re.search(r'^SMBIOS uuid=(\S+)$', out, re.M)
    return rows, uuid.group(1) if uuid else None


def guest_walk(tmp):
    code = open(SMBIOS_BIN, 'rb').read()
    disk = os.path.join(tmp, 'smbios.raw')
    with open(disk, 'wb') as f:
        f.write(code + bytes((2 << 20) - len(code)))
    extra = ['--uuid', UUID]
    for text in STRINGS:
        extra += ['--smbios', text]
    vm = v.start_vmm(disks=[v.disk_arg(disk, 'raw')], firmware=v.SEABIOS, memory='128M',
                     extra=extra)
    rc = vm.wait(60)
    v.check(rc == 1, 'amber-vmm: SMBIOS probe exit status %r\n%s' % (rc, vm.describe()))
    ours, uuid = structures(vm.output(), 'amber-vmm')
    v.check(uuid == UUID, 'amber-vmm: the guest reads UUID %r, want %s' % (uuid, UUID))
    want = {0: ['Amber|1.0|01/01/2026'],
            1: ['Clinic Ltd|Reception PC|7|AMBER-1|SKU-9|Test'],
            2: ['Board Co|B1|pc-i440fx-7.2|BS-1|A-1|Rack 3']}
    for t, rows in want.items():
        v.check(ours.get(t) == rows, 'amber-vmm: type %d strings %r, want %r' % (t, ours.get(t), rows))
    v.check(ours.get(3) and ours[3][0].startswith('Case Co|C1|CS-1|TAG-7'),
            'amber-vmm: type 3 strings %r' % ours.get(3))
    if shutil.which(v.QEMU) is None:
        v.log('no %s: the QEMU comparison is skipped' % v.QEMU)
        return
    argv = [v.QEMU, '-machine', 'pc', '-accel', 'tcg', '-m', '128', '-display', 'none',
            '-monitor', 'none', '-parallel', 'none', '-serial', 'stdio', '-net', 'none',
            '-device', 'isa-debug-exit,iobase=0x501,iosize=1', '-uuid', UUID,
            '-drive', 'file=%s,format=raw' % disk]
    for text in STRINGS:
        argv += ['-smbios', text]
    q = v.Proc(argv, name='qemu')
    rc = q.wait(60)
    v.check(rc == 1, 'qemu: SMBIOS probe exit status %r\n%s' % (rc, q.describe()))
    theirs, quuid = structures(q.output(), 'qemu')
    v.check(quuid == uuid, 'UUID: amber %r, QEMU %r' % (uuid, quuid))
    for t in (0, 1, 2, 3, 4):
        v.check(ours.get(t) == theirs.get(t), 'type %d strings: amber %r, QEMU %r'
                % (t, ours.get(t), theirs.get(t)))
    v.check(sorted(ours) == sorted(theirs), 'structure types: amber %r, QEMU %r'
            % (sorted(ours), sorted(theirs)))


def test():
    v.require_seabios()
    tmp = v.workdir('smbios')
    log = os.path.join(tmp, 'debugcon.log')
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', serial='none',
                     extra=['--debugcon', 'file:' + log, '--uuid', '12345678-9abc-def0-1122-334455667788',
                            '--smbios', 'type=1,serial=AMBER-1,family=Test',
                            '--smbios', 'type=0,vendor=Amber,version=1.0,date=01/01/2026'])
    text = v.wait_file_text(vm, log, lambda t: 'Machine UUID' in t or 'Booting from' in t,
                            TIMEOUT, interval=0.1)
    v.check('Copying SMBIOS from' in text, 'SeaBIOS did not take the SMBIOS tables\n--- debugcon ---\n%s\n%s'
            % (text[-4000:], vm.describe()))
    v.check('Machine UUID 12345678-9abc-def0-1122-334455667788' in text,
            'SeaBIOS did not read the UUID from SMBIOS type 1\n--- debugcon ---\n%s' % text[-4000:])
    vm.kill()
    guest_walk(tmp)


if __name__ == '__main__':
    v.main(test)
