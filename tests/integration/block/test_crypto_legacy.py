#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Legacy qcow2 AES encryption (crypt_method 1) against qemu-img/qemu-io 7.2:
images qemu-img made and qemu-io wrote are read by amber-img; amber-img's
writes (whole clusters and COW pieces) are read back by qemu-io; info is
byte-identical; a wrong passphrase reads the same garbage as qemu's (AES has
no key check) and a missing key is refused with qemu-img's words.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

SECRET = "secret,id=sec0,data=amber-aes-passphrase-longer-than-16"
WRONG = "secret,id=sec0,data=wrong"


def opts(path):
    return "driver=qcow2,file.filename=%s,encrypt.key-secret=sec0" % path


class LegacyAesTest(bt.TempDirTest):

    def qemu_create(self, name):
        path = self.path(name)
        bt.qemu_img("create", "-q", "-f", "qcow2", "--object", SECRET, "-o",
                    "encrypt.format=aes,encrypt.key-secret=sec0", path, "8M", check=True)
        return path

    def qemu_io(self, path, commands, secret=SECRET):
        argv = [bt.tool("QEMU_IO"), "--object", secret, "--image-opts"]
        for c in commands:
            argv += ["-c", c]
        argv.append(opts(path))
        r = bt.run(argv)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertNotIn("fail", r.out.lower(), r.describe())
        return r

    def amber(self, *args, rc=0):
        r = bt.amber_img(*args)
        bt.assert_no_crash(self, r)
        self.assertEqual(r.rc, rc, r.describe())
        return r

    def to_raw(self, tool, img, name, secret=SECRET):
        raw = self.path(name)
        argv = ("convert", "--object", secret, "--image-opts", opts(img), "-O", "raw", raw)
        if tool == "qemu":
            bt.qemu_img(*argv, check=True)
        else:
            self.amber(*argv)
        return raw

    def test_create_identical_to_qemu_img(self):
        """amber-img creates AES images as qemu-img 7.2 does, with
        encrypt.format=aes and with the old encryption=on: the same bytes,
        the same Formatting line; qemu-io then writes through the key and
        amber-img reads it back. Without a key, and with both spellings,
        both tools refuse with the same words."""
        for spelling in ("encrypt.format=aes", "encryption=on"):
            q, a = self.path("q.qcow2"), self.path("a.qcow2")
            options = spelling + ",encrypt.key-secret=sec0"
            rq = bt.qemu_img("create", "-f", "qcow2", "--object", SECRET, "-o", options, q, "8M")
            ra = self.amber("create", "-f", "qcow2", "--object", SECRET, "-o", options, a, "8M")
            self.assertEqual(rq.rc, 0, rq.describe())
            self.assertEqual(ra.out.replace(a, q), rq.out)
            with open(q, "rb") as fq, open(a, "rb") as fa:
                self.assertEqual(fq.read(), fa.read(), spelling)
            self.qemu_io(a, ["write -P 0x3c 64k 128k"])
            raw = self.to_raw("amber", a, "a.raw")
            with open(raw, "rb") as f:
                data = f.read()
            self.assertEqual(data[64 << 10:192 << 10], b"\x3c" * (128 << 10))
            self.assertEqual(data[:64 << 10], bytes(64 << 10))
        for options in ("encrypt.format=aes", "encryption=on,encrypt.format=aes"):
            rq = bt.qemu_img("create", "-q", "-f", "qcow2", "-o", options, self.path("x.qcow2"), "8M")
            ra = bt.amber_img("create", "-q", "-f", "qcow2", "-o", options, self.path("y.qcow2"), "8M")
            self.assertEqual((ra.rc, ra.err.replace("amber-img", "qemu-img").replace("y.qcow2", "x.qcow2")),
                             (rq.rc, rq.err), options)

    def test_info_identical(self):
        img = self.qemu_create("i.qcow2")
        for extra in ([], ["--output=json"]):
            q = bt.qemu_img("info", *extra, img, check=True)
            a = self.amber("info", *extra, img)
            self.assertEqual(q.out, a.out)
        self.assertIn("format: aes", self.amber("info", img).out)

    def test_qemu_writes_amber_reads(self):
        img = self.qemu_create("q.qcow2")
        self.qemu_io(img, ["write -P 0x5a 0 1M", "write -P 0x21 5M 4k", "write -P 0x22 7M 512"])
        with open(img, "rb") as f:
            self.assertNotIn(b"\x5a" * 64, f.read())
        self.assertSameContent(self.to_raw("qemu", img, "e.raw"), self.to_raw("amber", img, "a.raw"),
                               "amber's read of qemu's AES image")
        # Wrong passphrase: no key check in AES, both read the same garbage.
        wa = self.to_raw("amber", img, "wa.raw", WRONG)
        wq = self.to_raw("qemu", img, "wq.raw", WRONG)
        self.assertSameContent(wq, wa, "wrong-key read")
        self.assertNotEqual(bt.file_bytes(wa), bt.file_bytes(self.path("e.raw")))
        q = bt.qemu_img("convert", "--image-opts", "driver=qcow2,file.filename=" + img, "-O", "raw",
                        self.path("x.raw"))
        a = self.amber("convert", "--image-opts", "driver=qcow2,file.filename=" + img, "-O", "raw",
                       self.path("x.raw"), rc=q.rc)
        self.assertIn("Parameter 'encrypt.key-secret' is required for cipher", q.err)
        self.assertIn("Parameter 'encrypt.key-secret' is required for cipher", a.err)

    def test_amber_writes_qemu_reads(self):
        img = self.qemu_create("w.qcow2")
        self.amber("bench", "-w", "--pattern=90", "-c", "16", "-s", "64k", "-o", "0",
                   "--object", SECRET, "--image-opts", opts(img))
        self.amber("bench", "-w", "--pattern=33", "-c", "4", "-s", "4k", "-S", "12k",
                   "-o", str(4 * (1 << 20) + 4096), "--object", SECRET, "--image-opts", opts(img))
        with open(img, "rb") as f:
            self.assertNotIn(b"\x5a" * 64, f.read())
        self.qemu_io(img, ["read -P 0x5a 0 1M", "read -P 0x21 4100k 4k", "read -P 0x21 4112k 4k",
                           "read -P 0 4M 4k", "read -P 0 1M 3M"])
        r = bt.qemu_img("check", "--object", SECRET, "--image-opts", opts(img))
        self.assertEqual(r.rc, 0, r.describe())


if __name__ == "__main__":
    bt.main()
