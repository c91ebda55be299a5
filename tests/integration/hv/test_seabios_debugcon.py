#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS (--firmware, no disk, --serial none) prints its banner on the
debugcon port (0x402) into a --debugcon file: the smallest boot there is,
run here rather than in the unit suite because it boots a VM."""
import os
import time

import vmmlib as v

BANNER_TIMEOUT = 30


def test():
    v.require_seabios()
    tmp = v.workdir('debugcon')
    log = os.path.join(tmp, 'debugcon.log')
    vm = v.start_vmm(firmware=v.SEABIOS, memory='128M', serial='none', extra=['--debugcon', 'file:' + log])
    start = time.monotonic()
    text = v.wait_file_text(vm, log, lambda t: 'SeaBIOS (version' in t, BANNER_TIMEOUT)
    v.check('SeaBIOS (version' in text, 'no SeaBIOS banner on debugcon after %.1f s\n--- debugcon ---\n%s\n%s'
            % (time.monotonic() - start, text[-4000:], vm.describe()))
    v.log('SeaBIOS banner after %.0f ms' % ((time.monotonic() - start) * 1000))


if __name__ == '__main__':
    v.main(test)
