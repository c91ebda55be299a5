#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS runs a NIC's option ROM (iPXE, as QEMU 7.2: /usr/lib/ipxe/qemu/
efi-e1000.rom for the e1000, efi-virtio.rom for virtio-net; the model is
the first argument) from the card's ROM BAR at POST: with
--firmware default, no bootable disk and one --nic, SeaBIOS's debug console
(port 0x402) must show it scanning for option ROMs, running one, and iPXE's
boot entry for the NIC's slot (SeaBIOS searches the boot order for
/pci@i0cf8/*@3, the card at 00:03.0). iPXE itself is slow to get further
on this software KVM, so the test stops there. With romfile=none there is
no ROM to run."""
import os
import re
import sys

import vmmlib as v

MODEL = sys.argv[1] if len(sys.argv) > 1 else 'e1000'
ROM = {'e1000': '/usr/lib/ipxe/qemu/efi-e1000.rom',
       'virtio': '/usr/lib/ipxe/qemu/efi-virtio.rom'}[MODEL]


def debugcon(nic, timeout, want):
    tmp = v.workdir(MODEL + '-rom')
    log = os.path.join(tmp, 'debugcon.log')
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', serial='none',
                     extra=['--debugcon', 'file:' + log, '--nic', nic])
    try:
        text = v.wait_file_text(vm, log, want, timeout)
    finally:
        vm.kill()
    return text


def test():
    v.require_seabios()
    if not os.path.exists(ROM):
        print('SKIP: no %s (ipxe-qemu)' % ROM, flush=True)
        raise SystemExit(77)
    nic = 'model=%s,mac=52:54:00:12:34:56,backend=user' % MODEL
    text = debugcon(nic, 240, lambda t: re.search(r'Searching bootorder for: /pci@i0cf8/\*@3\b', t))
    v.check('Scan for option roms' in text, 'SeaBIOS did not scan for option ROMs:\n%s' % text[-3000:])
    rom = text[text.index('Scan for option roms'):]
    v.check(re.search(r'Running option rom at [0-9a-f]{4}:0003', rom),
            'no option ROM run after the scan:\n%s' % rom[-3000:])
    v.check(re.search(r'Searching bootorder for: /pci@i0cf8/\*@3\b', rom),
            'iPXE registered no boot entry for 00:03.0:\n%s' % rom[-3000:])
    v.log('SeaBIOS ran the %s option ROM (iPXE) of 00:03.0' % MODEL)
    # romfile=none: SeaBIOS finds no ROM on the card (and boots on to no disk).
    text = debugcon(nic + ',romfile=none', 240, lambda t: 'Booting from' in t or 'No bootable' in t)
    tail = text[text.find('Scan for option roms'):]
    v.check('/pci@i0cf8/*@3' not in tail, 'romfile=none still ran a ROM for 00:03.0:\n%s' % tail[-3000:])


if __name__ == '__main__':
    v.main(test)
