#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd's storage pools against libvirt's own storage driver, side by side.

Usage (as root, from the source tree, after a build):
    tests/bench/storage_bench.py [--build DIR] [--runs N] [--images N] [--keep]

Both daemons are started by this script in a temporary directory and
stopped at the end: build/driver/virtamberd and Debian's libvirtd (its
storage driver, in libvirt-daemon; the dir backend does its volume work
with qemu-img). Each gets a transient dir pool (pool-create-as, so nothing
is left in /etc/libvirt) over its own copy of the same files:
  - vol-create-as of a qcow2 linked clone (--backing-vol) of a 4 GiB base
  - vol-clone of a qcow2 with 4 GiB virtual size holding 1 GiB of data
    (every other MiB of its first 2 GiB written)
  - vol-upload and vol-download of 1 GiB (a raw volume; file bytes)
  - pool-refresh of a second pool holding N images (default 500: qcow2,
    some of them linked clones), also as the bare STORAGE_POOL_REFRESH call
    through python3-libvirt (no virsh start-up), and vol-list /
    vol-list --details of it
Rows alternate amber / libvirtd so that load on the machine hits both alike;
each figure is the median of RUNS (default 3) wall-clock times of the whole
virsh command. Lower is better.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import (SOURCE_ROOT, Table, remove_qemu_conf, run, start_amber, start_libvirtd,
                      write_qemu_conf)

GIB = 1 << 30
MIB = 1 << 20


def make_data_image(path):
    """4 GiB virtual qcow2, 1 GiB written: MiB 0, 2, 4, ... of the first 2 GiB."""
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '4G'])
    cmds = []
    for i in range(0, 2048, 2):
        cmds += ['-c', 'write -q -P %d %dM 1M' % (1 + i % 250, i)]
    run(['qemu-io', '-f', 'qcow2'] + cmds + [path])


def make_upload_file(path):
    with open(path, 'wb') as f:
        block = os.urandom(4 * MIB)
        for _ in range(GIB // len(block)):
            f.write(block)


def make_many(directory, count):
    """COUNT small qcow2 images; every fifth a linked clone of the first."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, 'img0000.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '1G'])
    for i in range(1, count):
        p = os.path.join(directory, 'img%04d.qcow2' % i)
        if i % 5 == 0:
            run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', p])
        else:
            shutil.copyfile(base, p)


def refresh_call(uri, pool):
    """The daemon's own cost of a refresh, without virsh's start-up (about
    10 ms here, the same for both): the fastest of 5 STORAGE_POOL_REFRESH
    calls on one connection."""
    import libvirt  # Debian's python3-libvirt (run this with /usr/bin/python3)
    conn = libvirt.open(uri)
    try:
        p = conn.storagePoolLookupByName(pool)
        best = None
        for _ in range(5):
            start = time.perf_counter()
            p.refresh(0)
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
        return best
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--build', default=os.path.join(SOURCE_ROOT, 'build'))
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--images', type=int, default=500)
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory')
    parser.add_argument('--only', choices=('amber', 'qemu'), help='run one side (to debug it)')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('run as root (libvirtd serves qemu:///system)')
    tmp = tempfile.mkdtemp(prefix='amber-storage-bench-', dir='/var/tmp')
    print('preparing files in', tmp, flush=True)
    master = os.path.join(tmp, 'master')
    os.makedirs(master)
    make_data_image(os.path.join(master, 'data.qcow2'))
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', os.path.join(master, 'base.qcow2'), '4G'])
    upload = os.path.join(tmp, 'upload.raw')
    make_upload_file(upload)
    make_many(os.path.join(master, 'many'), args.images)

    daemons = []
    table = None
    wrote_conf = write_qemu_conf()
    try:
        if args.only != 'qemu':
            daemons.append(start_amber(args.build, tmp))
        if args.only != 'amber':
            daemons.append(start_libvirtd(tmp, 'libvirt-daemon'))
        table = Table(daemons)
        pools = {}
        for d in daemons:
            images = os.path.join(tmp, 'pool-' + d.label)
            many = os.path.join(tmp, 'many-' + d.label)
            os.makedirs(images)
            for f in ('data.qcow2', 'base.qcow2'):
                run(['cp', '--sparse=always', os.path.join(master, f), images])
            run(['cp', '-a', '--sparse=always', os.path.join(master, 'many'), many])
            # The clones' backing paths name the master copy's folder.
            for f in os.listdir(many):
                p = os.path.join(many, f)
                info = run(['qemu-img', 'info', '-U', p]).stdout
                if 'backing file' in info:
                    run(['qemu-img', 'rebase', '-u', '-q', '-b',
                         os.path.join(many, 'img0000.qcow2'), '-F', 'qcow2', p])
            d.virsh('pool-create-as', 'bimages', 'dir', '--target', images)
            d.virsh('pool-create-as', 'bmany', 'dir', '--target', many)
            d.virsh('vol-create-as', 'bimages', 'up.raw', '1G', '--format', 'raw')
            pools[d.label] = images

        def create_clone(d, i):
            name = 'clone%d.qcow2' % i
            t = d.timed('vol-create-as', 'bimages', name, '4G', '--format', 'qcow2',
                        '--backing-vol', 'base.qcow2', '--backing-vol-format', 'qcow2')
            d.virsh('vol-delete', name, '--pool', 'bimages')
            return t

        def clone(d, i):
            name = 'copy%d.qcow2' % i
            t = d.timed('vol-clone', 'data.qcow2', name, '--pool', 'bimages')
            d.virsh('vol-delete', name, '--pool', 'bimages')
            return t

        def download(d, _):
            out = os.path.join(tmp, 'down-' + d.label + '.raw')
            t = d.timed('vol-download', 'up.raw', out, '--pool', 'bimages')
            if os.path.getsize(out) != GIB:
                sys.exit('%s: vol-download wrote %d bytes' % (d.label, os.path.getsize(out)))
            os.unlink(out)
            return t

        table.measure('vol-create-as --backing-vol (linked clone)', 's', create_clone,
                      max(args.runs, 5))
        table.measure('vol-clone, 4 GiB qcow2 with 1 GiB of data', 's', clone, args.runs)
        table.measure('vol-upload, 1 GiB', 's',
                      lambda d, _: d.timed('vol-upload', 'up.raw', upload, '--pool', 'bimages'),
                      args.runs)
        table.measure('vol-download, 1 GiB', 's', download, args.runs)
        for d in daemons:
            got = os.path.join(tmp, 'check-' + d.label + '.raw')
            d.virsh('vol-download', 'up.raw', got, '--pool', 'bimages')
            if subprocess.run(['cmp', '-s', upload, got]).returncode != 0:
                sys.exit('%s: the downloaded volume differs from the upload' % d.label)
            os.unlink(got)
        table.measure('pool-refresh, %d images' % args.images, 's',
                      lambda d, _: d.timed('pool-refresh', 'bmany'), args.runs)
        table.measure('  the refresh call alone (python3-libvirt), %d images' % args.images, 'ms',
                      lambda d, _: refresh_call(d.uri, 'bmany') * 1000, args.runs)
        table.measure('vol-list, %d images' % args.images, 's',
                      lambda d, _: d.timed('vol-list', 'bmany'), args.runs)
        table.measure('vol-list --details, %d images' % args.images, 's',
                      lambda d, _: d.timed('vol-list', 'bmany', '--details'), args.runs)
    finally:
        for d in daemons:
            for pool in ('bimages', 'bmany'):
                d.virsh('pool-destroy', pool, check=False)
            d.stop()
        remove_qemu_conf(wrote_conf)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if table:
        table.print()
    if args.keep:
        print('files kept in', tmp)


if __name__ == '__main__':
    main()
