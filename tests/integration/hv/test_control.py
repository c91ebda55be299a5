#!/usr/bin/env python3
"""amber-vmm's control socket (line-delimited JSON): query-status,
pause/resume (the guest makes no progress while paused), query-block
counters grow with guest I/O, system_powerdown answers "not supported",
quit ends the process."""
import os
import time

import vmmlib as v


def cmd_any(c, names):
    """First of `names` the VMM knows (QMP spells pause/resume stop/cont)."""
    last = None
    for n in names:
        r = c.cmd(n)
        if 'error' not in r:
            return n, r
        last = r
    raise v.TestFailure('none of %s accepted: %s' % (names, last))


def status_of(reply):
    ret = reply.get('return', {})
    return ret.get('status') if isinstance(ret, dict) else None


def counters(reply):
    """Flattens numeric fields of a query-block reply: {'0.rd_operations': n, ...}."""
    flat = {}

    def walk(prefix, x):
        if isinstance(x, dict):
            for k, val in x.items():
                walk(prefix + '.' + k if prefix else k, val)
        elif isinstance(x, list):
            for i, val in enumerate(x):
                walk('%s%d' % (prefix + '.' if prefix else '', i), val)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            flat[prefix] = x
    walk('', reply.get('return'))
    return flat


def grew(before, after, words):
    keys = [k for k in after if any(w in k.lower() for w in words)]
    return [k for k in keys if after[k] > before.get(k, 0)]


def test():
    tmp = v.workdir('control')
    disk = os.path.join(tmp, 'd.qcow2')
    v.create_image(disk, '16M')
    sock = os.path.join(tmp, 'ctl.sock')
    vm = v.start_vmm(disks=[v.disk_arg(disk)], kernel=v.PVH, control=sock,
                     cmdline='test=probe idle=1 eventidx=0 wait=60')
    try:
        vm.wait_line(r'PROBE: waiting for host', 60)
        c = v.Control(sock)
        r = c.cmd('query-status')
        v.check(status_of(r) == 'running', 'query-status before pause: %s' % r)
        b0 = c.cmd('query-block')
        v.check('return' in b0, 'query-block failed: %s' % b0)
        before = counters(b0)
        v.log('query-block before I/O: %s' % b0)

        name, r = cmd_any(c, ['stop', 'pause'])
        r = c.cmd('query-status')
        v.check(status_of(r) == 'paused', 'query-status after %s: %s' % (name, r))
        n_lines = len(vm.output().splitlines())
        vm.send(b'g')   # the guest's go signal, which it must not see while paused
        time.sleep(3)
        v.check(len(vm.output().splitlines()) == n_lines,
                'the guest printed while paused:\n' + vm.output()[-500:])
        name, r = cmd_any(c, ['cont', 'resume'])
        r = c.cmd('query-status')
        v.check(status_of(r) == 'running', 'query-status after %s: %s' % (name, r))

        vm.wait_line(r'PROBE: idle', 120)
        b1 = c.cmd('query-block')
        after = counters(b1)
        v.log('query-block after I/O: %s' % b1)
        reads = grew(before, after, ('rd', 'read'))
        writes = grew(before, after, ('wr', 'write'))
        v.check(reads, 'no read counter grew: %s -> %s' % (before, after))
        v.check(writes, 'no write counter grew: %s -> %s' % (before, after))
        flushes = grew(before, after, ('flush',))
        v.check(flushes, 'no flush counter grew: %s -> %s' % (before, after))

        r = c.cmd('system_powerdown')
        v.check('error' in r and 'not supported' in str(r['error']).lower(),
                'system_powerdown should answer "not supported": %s' % r)
        r = c.cmd('quit')
        v.check('error' not in r, 'quit failed: %s' % r)
        rc = vm.wait(20)
        v.log('amber-vmm exited with %d after quit' % rc)
        c.close()
    finally:
        vm.kill()
    v.qemu_img_check(disk)


if __name__ == '__main__':
    v.main(test)
