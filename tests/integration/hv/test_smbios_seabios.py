#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS takes amber-vmm's SMBIOS fw_cfg files (etc/smbios/smbios-anchor
and -tables, with --uuid and --smbios strings): it copies the tables into
the BIOS area only when the anchor it read is a valid 2.x entry point, and
says so on debugcon ("Copying SMBIOS from ..."), and it prints the UUID it
reads back from our type 1 structure (SMBIOS byte order, which it turns
back into RFC 4122 text): "Machine UUID 12345678-9abc-...". Without our
files SeaBIOS builds legacy tables of its own with no UUID line."""
import os

import vmmlib as v

TIMEOUT = 40


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


if __name__ == '__main__':
    v.main(test)
