#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img behaves as qemu-img 7.2 on the same images (issue 7).

Each test runs qemu-img (or qemu-io) as the oracle and amber-img on copies
of one image and compares exit status, output or the guest data.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402


class ImgBehaviour(bt.TempDirTest):
    def holder(self, img):
        """qemu-io holding `img` open for writing until the test ends."""
        proc = subprocess.Popen([bt.tool("QEMU_IO"), "-f", "qcow2", "-c", "sleep 60000", img],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        inode = os.stat(img).st_ino
        deadline = time.time() + 20
        while time.time() < deadline:
            with open("/proc/locks") as locks:
                if any("OFDLCK" in line and line.split()[5].endswith(":%d" % inode)
                       for line in locks if len(line.split()) > 5):
                    return proc
            time.sleep(0.05)
        self.fail("qemu-io never took its lock")

    def both(self, *args):
        """Runs the same command line with qemu-img and amber-img."""
        return bt.qemu_img(*args), bt.amber_img(*args)

    def test_create_refuses_image_in_use(self):
        img = self.path("t.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, "64M", check=True)
        bt.qemu_io(img, ["write -P 0x5a 0 64k"])
        self.holder(img)
        for fmt in ("qcow2", "raw"):
            q, a = self.both("create", "-q", "-f", fmt, img, "64M")
            self.assertEqual(q.rc, 1, q.describe())
            self.assertEqual(a.rc, 1, a.describe())
            self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err)
        bt.qemu_io(img, ["read -P 0x5a 0 64k"], extra=["-r", "-U"])

    def test_program_name_is_argv0_basename(self):
        link = self.path("qemu-img")
        os.symlink(bt.tool("AMBER_IMG"), link)
        a = bt.run([link, "info", self.path("missing.qcow2")])
        q = bt.qemu_img("info", self.path("missing.qcow2"))
        self.assertEqual(a.rc, q.rc)
        self.assertEqual(a.err, q.err)

    def test_resize_over_larger_backing_reads_zeros(self):
        base = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base, "2M", check=True)
        bt.qemu_io(base, ["write -P 0xcd 0 2M"])
        for prealloc in ("off", "metadata", "falloc", "full"):
            images = {}
            for name, runner in (("q", bt.qemu_img), ("a", bt.amber_img)):
                img = self.path("%s-%s.qcow2" % (name, prealloc))
                bt.qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", img,
                            "1000k", check=True)
                bt.qemu_io(img, ["write -P 0x11 0 64k"])
                r = runner("resize", "-q", "--preallocation=" + prealloc, img, "1536k")
                self.assertEqual(r.rc, 0, r.describe())
                bt.qemu_io(img, ["read -P 0 1000k 536k", "read -P 0x11 0 64k"])
                self.assertQemuCheckClean(img)
                images[name] = img
            if prealloc in ("falloc", "full"):
                continue  # same content; QEMU lays falloc/full out differently (see report)
            for output in ("human", "json"):
                q = bt.qemu_img("map", "--output=" + output, images["q"])
                a = bt.amber_img("map", "--output=" + output, images["a"])
                self.assertEqual(a.out.replace(images["a"], images["q"]), q.out, prealloc)

    def map_without_zero(self, img):
        """map --output=json less the "zero" flags: over falloc'd (unwritten)
        extents SEEK_DATA's answer depends on the page cache."""
        r = bt.qemu_img("map", "--output=json", img, check=True)
        return [{k: v for k, v in e.items() if k != "zero"} for e in json.loads(r.out)]

    def test_preallocation_lays_out_host_space_as_qemu_img(self):
        # create/resize with falloc|full: the refcount table moves to the
        # file's end, the data clusters follow it with their host space
        # reserved (falloc) or written (full), so a guest write lands in
        # place; the layout, the file size and the blocks match qemu-img's.
        cases = [("create", opts, prealloc, None)
                 for opts in ("", "extended_l2=on,", "cluster_size=512,")
                 for prealloc in ("falloc", "full")]
        cases += [("resize", "", base, prealloc)
                  for base in ("off", "metadata", "falloc", "full")
                  for prealloc in ("falloc", "full")]
        for verb, opts, base, prealloc in cases:
            what = "%s %s%s %s" % (verb, opts, base, prealloc)
            images = {}
            for name, runner in (("q", bt.qemu_img), ("a", bt.amber_img)):
                img = self.path("%s.qcow2" % name)
                if os.path.exists(img):
                    os.unlink(img)
                size = "4M" if verb == "resize" else "3M"
                runner("create", "-q", "-f", "qcow2", "-o", opts + "preallocation=" + base,
                       img, size, check=True)
                if verb == "resize":
                    runner("resize", "-q", "--preallocation=" + prealloc, img, "8M", check=True)
                images[name] = img
            q, a = images["q"], images["a"]
            self.assertEqual(self.map_without_zero(a), self.map_without_zero(q), what)
            self.assertEqual(os.stat(a).st_size, os.stat(q).st_size, what)
            self.assertQemuCheckClean(a)
            # A write into the preallocated area: the file does not grow;
            # over zeros written by full no block is added either.
            before = os.stat(a)
            at = 6 << 20 if verb == "resize" else 2 << 20  # inside the preallocated area
            bt.amber_io(a, ["write %d 65536 0x5a" % at, "flush"])
            after = os.stat(a)
            self.assertEqual(after.st_size, before.st_size, what)
            if "full" in (base, prealloc) and (verb == "create" or prealloc == "full"):
                self.assertEqual(after.st_blocks, before.st_blocks, what)
            # Each tool's blocks within one 4 KiB extent block of the other's.
            self.assertLessEqual(abs(before.st_blocks - os.stat(q).st_blocks), 8, what)
            bt.qemu_io(a, ["read -P 0x5a %d 64k" % at, "read -P 0 0 2M"])

    def test_resize_v2_over_larger_backing_refused(self):
        base = self.path("base.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", base, "2M", check=True)
        img = self.path("o.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", base, "-F",
                    "qcow2", img, "1M", check=True)
        q, a = self.both("resize", img, "1536k")
        self.assertEqual(q.rc, 1)
        self.assertEqual(a.rc, 1, a.describe())
        self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err)
        self.assertEqual(json.loads(bt.qemu_img("info", "--output=json", img).out)["virtual-size"],
                         1 << 20)

    def test_shrink_then_grow_tail_is_zero(self):
        # qemu-img 7.2.22 leaves the old bytes of the last cluster visible
        # here; Amber zeroes them (never exposes discarded data).
        img = self.path("a.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
        bt.qemu_io(img, ["write -P 0xab 0 1M"])
        bt.amber_img("resize", "-q", "--shrink", img, "520k", check=True)
        bt.amber_img("resize", "-q", img, "567k", check=True)
        bt.qemu_io(img, ["read -P 0 520k 47k", "read -P 0xab 0 520k"])
        self.assertQemuCheckClean(img)

    def test_resize_v2_with_snapshots_refused(self):
        img = self.path("v2.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, "1M", check=True)
        bt.qemu_img("snapshot", "-c", "s1", img, check=True)
        for size in ("2M", "+64k"):
            q, a = self.both("resize", img, size)
            self.assertEqual((a.rc, a.err.replace("amber-img:", "qemu-img:")), (q.rc, q.err))
        self.assertEqual(json.loads(bt.qemu_img("info", "--output=json", img).out)["virtual-size"],
                         1 << 20)

    def test_info_lists_bitmaps(self):
        img = self.path("bm.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", img, "1M", check=True)
        bt.qemu_img("bitmap", "--add", img, "b1", check=True)
        bt.qemu_img("bitmap", "--add", "-g", "1M", "--disable", img, "zz2", check=True)
        for output in ("human", "json"):
            q, a = self.both("info", "--output=" + output, img)
            self.assertEqual(a.rc, 0, a.describe())
            self.assertEqual(a.out, q.out)

    def test_json_byte_identical(self):
        images = []
        plain = self.path("plain.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", plain, "1M", check=True)
        images.append(plain)
        v2 = self.path("v2.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "1G", check=True)
        bt.qemu_img("snapshot", "-c", "snap", v2, check=True)
        images.append(v2)
        odd = self.path("x\x01\u00e9\x7f\U0001F600.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", v2, "-F", "qcow2", odd, check=True)
        images.append(odd)
        huge = self.path("huge.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", huge, str(1 << 50), check=True)
        images.append(huge)
        for img in images:
            for args in (["info", "--output=json"], ["info", "--output=json", "--backing-chain"],
                         ["check", "--output=json"]):
                q, a = self.both(*(args + [img]))
                self.assertEqual((a.rc, a.out), (q.rc, q.out), " ".join(args) + " " + img)

    def test_map_human_skips_zero_data(self):
        img = self.path("m.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", img, "4M",
                    check=True)
        bt.qemu_io(img, ["write -P 1 1M 64k"])
        q, a = self.both("map", img)
        self.assertEqual(a.rc, 0, a.describe())
        self.assertEqual(a.out, q.out)

    def test_file_protocol_prefix(self):
        cwd = os.getcwd()
        os.chdir(self.dir)
        self.addCleanup(os.chdir, cwd)
        a = bt.amber_img("create", "-f", "qcow2", "file:x.qcow2", "1M")
        q = bt.qemu_img("create", "-f", "qcow2", "file:y.qcow2", "1M")
        self.assertEqual(a.out.replace("x.qcow2", "y.qcow2"), q.out)
        self.assertTrue(os.path.exists("x.qcow2"))
        colon = os.path.join(self.dir, "a:b.qcow2")
        bt.amber_img("create", "-q", "-f", "qcow2", "file:" + colon, "1M", check=True)
        self.assertTrue(os.path.exists(colon))
        for cmd in (["info"], ["check"], ["map"]):
            q, a = self.both(*(cmd + ["file:" + colon]))
            self.assertEqual((a.rc, a.out), (q.rc, q.out))

    def broken_backing_overlays(self):
        """Overlays whose backing file is missing (raw) or not qcow2 (qcow2)."""
        base = self.path("base.raw")
        bt.qemu_img("create", "-q", "-f", "raw", base, "1M", check=True)
        missing = self.path("missing.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", missing, check=True)
        os.unlink(base)
        inner = self.path("inner.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", inner, "1M", check=True)
        corrupt = self.path("corrupt.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-b", inner, "-F", "qcow2", corrupt,
                    check=True)
        with open(inner, "r+b") as f:
            f.write(b"garbage!")
        return missing, corrupt

    def test_broken_backing_file_is_named(self):
        missing, corrupt = self.broken_backing_overlays()
        for cmd in (["check"], ["map"]):
            q, a = self.both(*(cmd + [missing]))
            self.assertEqual(q.rc, 1, q.describe())
            self.assertEqual(a.rc, 1, a.describe())
            self.assertIn("Could not open backing file: Could not open '", q.err)
            self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err)
            q, a = self.both(*(cmd + [corrupt]))
            self.assertEqual((a.rc, q.rc), (1, 1), q.describe() + a.describe())
            prefix = "Could not open '%s': Could not open backing file: " % corrupt
            self.assertIn(prefix, q.err)
            self.assertIn(prefix, a.err)
            self.assertIn("Image is not in qcow2 format", q.err)
            self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err)
        # info opens no backing file; --backing-chain opens them all.
        for overlay, name in ((missing, self.path("base.raw")), (corrupt, self.path("inner.qcow2"))):
            q, a = self.both("info", overlay)
            self.assertEqual((a.rc, q.rc), (0, 0), q.describe() + a.describe())
            q, a = self.both("info", "--backing-chain", overlay)
            self.assertEqual((a.rc, q.rc), (1, 1), q.describe() + a.describe())
            self.assertIn("Could not open backing file: ", a.err)
            if overlay == missing:
                self.assertIn("Could not open '%s': No such file or directory" % name, q.err)
                self.assertIn("Could not open '%s': No such file or directory" % name, a.err)

    def test_two_backing_format_extensions(self):
        base = self.path("base.raw")
        bt.qemu_img("create", "-q", "-f", "raw", base, "1M", check=True)
        img = self.path("o.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", base, "-F", "qcow2", img, "1M",
                    check=True)
        # Insert a second backing-format extension ("raw") after the first.
        with open(img, "r+b") as f:
            data = bytearray(f.read(65536))
            pos = struct.unpack(">I", data[100:104])[0]
            typ, length = struct.unpack(">II", data[pos:pos + 8])
            self.assertEqual(typ, 0xE2792ACA)
            extra = struct.pack(">II", 0xE2792ACA, 3) + b"raw\0\0\0\0\0"
            end = pos + 8 + (length + 7) // 8 * 8
            data[end:end] = extra
            del data[65536:]
            f.seek(0)
            f.write(bytes(data))
        # The backing file name offset moved with the inserted bytes.
        with open(img, "r+b") as f:
            head = bytearray(f.read(24))
            offset = struct.unpack(">Q", head[8:16])[0]
            f.seek(8)
            f.write(struct.pack(">Q", offset + len(extra)))
        for output in ("human", "json"):
            q, a = self.both("info", "--output=" + output, img)
            self.assertEqual((a.rc, a.out), (q.rc, q.out), q.err + a.err)


    @staticmethod
    def refcount_blocks(path):
        """(refcount blocks the table names, how many of them are all zeros)."""
        with open(path, "rb") as f:
            data = f.read()
        cluster_size = 1 << struct.unpack(">I", data[20:24])[0]
        table, clusters = struct.unpack(">QI", data[48:60])
        named = zero = 0
        for i in range(clusters * cluster_size // 8):
            entry = struct.unpack(">Q", data[table + 8 * i:table + 8 * i + 8])[0]
            if entry:
                named += 1
                zero += not any(data[entry:entry + cluster_size])
        return named, zero

    def test_shrink_trims_refcount_blocks_as_qemu_img(self):
        img = self.path("s.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "16M",
                    check=True)
        bt.qemu_io(img, ["write -P 0x3c %dM 64k" % i for i in range(16)])
        q_img, a_img = self.path("q.qcow2"), self.path("a.qcow2")
        shutil.copy(img, q_img)
        shutil.copy(img, a_img)
        bt.qemu_img("resize", "-q", "--shrink", q_img, "2M", check=True)
        bt.amber_img("resize", "-q", "--shrink", a_img, "2M", check=True)
        q_report = self.assertQemuCheckClean(q_img)
        a_report = self.assertQemuCheckClean(a_img)
        self.assertEqual(a_report["image-end-offset"], q_report["image-end-offset"])
        self.assertEqual(os.path.getsize(a_img), os.path.getsize(q_img))
        self.assertEqual(self.refcount_blocks(a_img), self.refcount_blocks(q_img))
        self.assertEqual(self.refcount_blocks(a_img)[1], 0)
        r = bt.qemu_img("compare", q_img, a_img)
        self.assertEqual(r.rc, 0, r.describe())

    @staticmethod
    def unwritten_data_bytes(path):
        """Bytes of the image's data clusters (qemu-img map) that the host
        file system holds as unwritten extents (filefrag -v)."""
        r = bt.run(["filefrag", "-v", path])
        if r.rc != 0:
            raise unittest.SkipTest("filefrag -v failed: " + r.err)
        unwritten = []
        for line in r.out.splitlines():
            parts = line.replace(":", " ").replace("..", " ").split()
            if "unwritten" in line and len(parts) > 2 and parts[0].isdigit():
                unwritten.append((int(parts[1]) * 4096, (int(parts[2]) + 1) * 4096))
        data = json.loads(bt.qemu_img("map", "--output=json", path, check=True).out)
        total = 0
        for extent in data:
            if not extent.get("data") or "offset" not in extent:
                continue
            start, end = extent["offset"], extent["offset"] + extent["length"]
            for u0, u1 in unwritten:
                total += max(0, min(end, u1) - max(start, u0))
        return total

    def test_full_preallocation_writes_the_data_clusters(self):
        # qemu-img writes zero buffers for preallocation=full, so guest
        # writes land on written extents; ZERO_RANGE would leave unwritten
        # extents that the first guest write converts (and may grow).
        for label, runner in (("q", bt.qemu_img), ("a", bt.amber_img)):
            img = self.path("%s-full.qcow2" % label)
            runner("create", "-q", "-f", "qcow2", "-o", "preallocation=full", img, "4M",
                   check=True)
            self.assertEqual(self.unwritten_data_bytes(img), 0, label + " create")
            grown = self.path("%s-grown.qcow2" % label)
            bt.qemu_img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", grown,
                        "4M", check=True)
            runner("resize", "-q", "--preallocation=full", grown, "8M", check=True)
            self.assertEqual(self.unwritten_data_bytes(grown), 0, label + " resize")
            self.assertQemuCheckClean(grown)
            raw = self.path("%s-full.raw" % label)
            runner("create", "-q", "-f", "raw", "-o", "preallocation=full", raw, "4M",
                   check=True)
            r = bt.run(["filefrag", "-v", raw])
            self.assertNotIn("unwritten", r.out, label + " raw")


if __name__ == "__main__":
    bt.main()
