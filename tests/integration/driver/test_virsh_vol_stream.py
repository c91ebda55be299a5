#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virsh vol-upload / vol-download (STORAGE_VOL_UPLOAD 208, DOWNLOAD 209)
against virtamberd with Debian's virsh and python3-libvirt: a dir pool with
a 64 MiB raw and a 64 MiB qcow2 volume; uploads of random data with holes,
plain and --sparse, downloaded back (plain and --sparse) and compared byte
for byte; --offset/--length both ways; a qcow2 volume moves its qcow2 file
(qemu-img check passes on what comes back); an upload into a volume that
qemu-io holds open (QEMU's image locks) is refused and the daemon stays
healthy; and a 256 MiB python3-libvirt stream upload and download verified
by sha256. Skips (77) while the daemon has no storage pools.
Usage: test_virsh_vol_stream.py VIRTAMBERD"""
import hashlib
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd  # noqa: E402
from amberd import check, log  # noqa: E402

MiB = 1024 * 1024


def write_pattern(path, size, data_ranges, seed):
    """A SIZE-byte sparse file with random bytes in DATA_RANGES
    [(offset, length)] and holes elsewhere."""
    rng = __import__("random").Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in data_ranges:
            f.seek(offset)
            f.write(rng.randbytes(length))


def same(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(MiB), fb.read(MiB)
            if x != y:
                return False
            if not x:
                return True


def slice_of(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def ok(daemon, *args, timeout=120):
    p = daemon.virsh(*args, timeout=timeout)
    check(p.returncode == 0, "virsh %s failed: %s%s\n%s" % (" ".join(args), p.stdout, p.stderr,
                                                           daemon.log_text()))
    return p


PYTHON_STREAMS = r"""
import hashlib, os, sys, libvirt
uri, pool_name = sys.argv[1:3]
conn = libvirt.open(uri)
pool = conn.storagePoolLookupByName(pool_name)
size = 256 * 1024 * 1024
vol = pool.createXML('''<volume><name>big.img</name><capacity>%d</capacity>
<target><format type='raw'/></target></volume>''' % size, 0)
digest = hashlib.sha256()
block = os.urandom(1024 * 1024)
st = conn.newStream(0)
vol.upload(st, 0, 0, 0)
for i in range(256):
    chunk = block[i:] + block[:i]
    digest.update(chunk)
    view = memoryview(chunk)
    while view:
        sent = st.send(view.tobytes())
        view = view[sent:]
st.finish()
got = hashlib.sha256()
st = conn.newStream(0)
vol.download(st, 0, 0, 0)
st.recvAll(lambda s, data, h: h.update(data), got)
st.finish()
with open(vol.path(), 'rb') as f:
    disk = hashlib.sha256()
    for piece in iter(lambda: f.read(1 << 20), b''):
        disk.update(piece)
print(digest.hexdigest(), got.hexdigest(), disk.hexdigest())
# An abort mid-upload leaves the connection and the daemon usable.
st = conn.newStream(0)
vol.upload(st, 0, 0, 0)
st.send(block)
st.abort()
print('after-abort', pool.name(), vol.info()[1])
"""


def test():
    binary = sys.argv[1]
    amberd.require("virsh")
    tmp = amberd.workdir("volstream")
    daemon = amberd.Daemon(binary, None, tmp)
    try:
        pool_dir = os.path.join(tmp, "pool")
        probe = daemon.virsh("pool-define-as", "streams", "dir", "--target", pool_dir)
        if probe.returncode != 0:
            if "not supported" in probe.stderr or "unknown procedure" in probe.stderr:
                amberd.skip("the daemon has no storage pools yet (virsh pool-define-as: %s)"
                            % probe.stderr.strip())
            check(False, "pool-define-as failed: " + probe.stderr)
        ok(daemon, "pool-build", "streams")
        ok(daemon, "pool-start", "streams")
        ok(daemon, "vol-create-as", "streams", "raw.img", "64M", "--format", "raw")
        ok(daemon, "vol-create-as", "streams", "disk.qcow2", "64M", "--format", "qcow2")
        raw_path = ok(daemon, "vol-path", "--pool", "streams", "raw.img").stdout.strip()

        # Random data with holes, the volume's size.
        src = os.path.join(tmp, "src.bin")
        write_pattern(src, 64 * MiB, [(0, 3 * MiB), (10 * MiB, MiB + 4097), (40 * MiB, 5 * MiB),
                                      (64 * MiB - 8192, 8192)], seed=1)
        for up_sparse in (False, True):
            for down_sparse in (False, True):
                what = "upload%s/download%s" % (" --sparse" if up_sparse else "",
                                                " --sparse" if down_sparse else "")
                # Scribble first, so a skipped hole would show.
                write_pattern(raw_path, 64 * MiB, [(0, 64 * MiB)], seed=7)
                ok(daemon, "vol-upload", "--pool", "streams", "raw.img", src,
                   *(["--sparse"] if up_sparse else []))
                out = os.path.join(tmp, "out.bin")
                if os.path.exists(out):
                    os.unlink(out)
                ok(daemon, "vol-download", "--pool", "streams", "raw.img", out,
                   *(["--sparse"] if down_sparse else []))
                check(same(src, out), what + ": the downloaded bytes differ from the uploaded")
                check(same(src, raw_path), what + ": the volume differs from the upload")
                if down_sparse:
                    blocks = os.stat(out).st_blocks * 512
                    check(blocks < 20 * MiB, what + ": the download is not sparse (%d bytes "
                          "allocated)" % blocks)
                log("ok: " + what)

        # --offset / --length, both ways.
        piece = os.path.join(tmp, "piece.bin")
        write_pattern(piece, 5000, [(0, 5000)], seed=3)
        ok(daemon, "vol-upload", "--pool", "streams", "raw.img", piece, "--offset", str(MiB + 3))
        check(slice_of(raw_path, MiB + 3, 5000) == slice_of(piece, 0, 5000),
              "upload at an offset did not land there")
        check(slice_of(raw_path, 0, MiB + 3) == slice_of(src, 0, MiB + 3),
              "upload at an offset touched bytes before it")
        check(os.path.getsize(raw_path) == 64 * MiB, "upload at an offset changed the size")
        bad = daemon.virsh("vol-upload", "--pool", "streams", "raw.img", piece,
                           "--offset", "0", "--length", "100")
        check(bad.returncode != 0, "an upload longer than --length succeeded")
        part = os.path.join(tmp, "part.bin")
        ok(daemon, "vol-download", "--pool", "streams", "raw.img", part,
           "--offset", str(10 * MiB - 7), "--length", str(2 * MiB))
        check(open(part, "rb").read() == slice_of(raw_path, 10 * MiB - 7, 2 * MiB),
              "download with --offset/--length differs")
        log("ok: offset and length")

        # The volume is rescanned when an upload ends: a 1 MiB raw volume
        # that took 3 MiB reports 3 MiB (libvirt refreshes the pool too).
        ok(daemon, "vol-create-as", "streams", "grow.img", "1M", "--format", "raw")
        three = os.path.join(tmp, "three.bin")
        write_pattern(three, 3 * MiB, [(0, 3 * MiB)], seed=5)
        ok(daemon, "vol-upload", "--pool", "streams", "grow.img", three)
        info = ok(daemon, "vol-info", "--pool", "streams", "grow.img", "--bytes").stdout
        check("Capacity:       %d bytes" % (3 * MiB) in info,
              "vol-info after an upload that grew the file:\n" + info)
        ok(daemon, "vol-delete", "--pool", "streams", "grow.img")
        log("ok: the volume is rescanned after an upload")

        # A qcow2 volume moves its qcow2 file.
        qcow_src = os.path.join(tmp, "src.qcow2")
        amberd.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, qcow_src],
                   check_rc=True)
        ok(daemon, "vol-upload", "--pool", "streams", "disk.qcow2", qcow_src)
        qcow_out = os.path.join(tmp, "out.qcow2")
        ok(daemon, "vol-download", "--pool", "streams", "disk.qcow2", qcow_out, "--sparse")
        check(slice_of(qcow_out, 0, os.path.getsize(qcow_src)) == open(qcow_src, "rb").read(),
              "the downloaded qcow2 file differs from the uploaded one")
        amberd.run(["qemu-img", "check", qcow_out], check_rc=True)
        amberd.run(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", qcow_out, src],
                   check_rc=True)
        log("ok: qcow2 volume")

        # An upload into a volume held open as a running domain holds it.
        if shutil.which("qemu-io"):
            holder = subprocess.Popen(["qemu-io", "-f", "raw", raw_path], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1)
                check(holder.poll() is None, "qemu-io could not open the volume")
                refused = daemon.virsh("vol-upload", "--pool", "streams", "raw.img", piece)
                check(refused.returncode != 0, "upload into a volume qemu-io holds succeeded")
                check("in use" in refused.stderr and "Requested operation is not valid"
                      in refused.stderr, "unclear refusal: " + refused.stderr)
                ok(daemon, "vol-download", "--pool", "streams", "raw.img", part,
                   "--length", "4096")
            finally:
                holder.communicate(b"quit\n", timeout=10)
            ok(daemon, "vol-upload", "--pool", "streams", "raw.img", piece)
            log("ok: locked volume refused")

        # python3-libvirt: 256 MiB up and down, verified by sha256.
        p = amberd.run(["/usr/bin/python3", "-c", PYTHON_STREAMS, daemon.uri, "streams"],
                       timeout=300)
        check(p.returncode == 0, "python3-libvirt streams failed: %s%s\n%s"
              % (p.stdout, p.stderr, daemon.log_text()))
        lines = p.stdout.split("\n")
        sent, received, disk = lines[0].split()
        check(sent == received == disk, "sha256 differ: sent %s received %s disk %s"
              % (sent, received, disk))
        check(lines[1].startswith("after-abort streams"), "after abort: " + p.stdout)
        ok(daemon, "pool-info", "streams")
        log("ok: python3-libvirt 256 MiB")
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    amberd.main(test)
