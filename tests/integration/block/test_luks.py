#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""LUKS encryption (qcow2 encrypt.format=luks and raw luks) against qemu-img/
qemu-io 7.2 as the oracle, in both directions: images qemu-img made and
qemu-io wrote are read by amber-img; images amber-img made and wrote are
read by qemu-io and pass `qemu-img check`. A wrong passphrase is refused by
both with the same words, and the plaintext never reaches the disk.

PBKDF2 uses encrypt.iter-time=10 (qemu-img still spends ~1 s per image
benchmarking it), so the test stays well under a minute.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

PASS = "amber-luks-test"
SECRET = "secret,id=sec0,data=" + PASS
WRONG = "secret,id=sec0,data=not-" + PASS
# A pattern byte whose runs are easy to find in the file (0x5a = 'Z').
PATTERN = 0x5A
MIB = 1 << 20


def opts(path, fmt):
    key = "encrypt.key-secret" if fmt == "qcow2" else "key-secret"
    return "driver=%s,file.filename=%s,%s=sec0" % (fmt, path, key)


def create_opts(fmt):
    if fmt == "qcow2":
        return "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
    return "key-secret=sec0,iter-time=10"


class LuksTest(bt.TempDirTest):

    def qemu_io(self, path, fmt, commands, secret=SECRET, check=True):
        argv = [bt.tool("QEMU_IO"), "--object", secret, "--image-opts"]
        for c in commands:
            argv += ["-c", c]
        argv.append(opts(path, fmt))
        r = bt.run(argv)
        if check and (r.rc != 0 or "fail" in r.out.lower() or "error" in r.out.lower()):
            raise AssertionError("qemu-io failed\n" + r.describe())
        return r

    def amber(self, *args, rc=0):
        r = bt.amber_img(*args)
        bt.assert_no_crash(self, r)
        self.assertEqual(r.rc, rc, r.describe())
        return r

    def qemu_create(self, name, fmt, size="16M"):
        path = self.path(name)
        # qemu-img's PBKDF2 benchmark reads the thread's CPU time through
        # getrusage; on a busy machine a run can measure 0 ms and fail with
        # "Unable to get accurate CPU usage". That is qemu's flake, not ours.
        for _ in range(5):
            r = bt.qemu_img("create", "-q", "-f", fmt, "--object", SECRET, "-o", create_opts(fmt),
                            path, size)
            if "Unable to get accurate CPU usage" not in r.err:
                break
        self.assertEqual(r.rc, 0, r.describe())
        return path

    def amber_create(self, name, fmt, size="16M"):
        path = self.path(name)
        r = self.amber("create", "-f", fmt, "--object", SECRET, "-o", create_opts(fmt), path, size)
        self.assertIn("Formatting '%s', fmt=%s" % (path, fmt), r.out)
        return path

    def assertNoPlaintext(self, path, byte=PATTERN):
        with open(path, "rb") as f:
            data = f.read()
        self.assertNotIn(bytes([byte]) * 64, data, "plaintext run found in " + path)

    def qemu_check_clean(self, path, fmt):
        if fmt != "qcow2":
            return
        r = bt.qemu_img("check", "--object", SECRET, "--image-opts", opts(path, fmt))
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("No errors were found on the image.", r.out)

    def amber_to_raw(self, path, fmt, name):
        raw = self.path(name)
        self.amber("convert", "--object", SECRET, "--image-opts", opts(path, fmt), "-O", "raw", raw)
        return raw

    # ---- qemu writes, amber reads --------------------------------------

    def check_qemu_to_amber(self, fmt):
        img = self.qemu_create("q." + fmt, fmt)
        self.qemu_io(img, fmt, ["write -P 0x5a 0 1M", "write -P 0x21 5M 4k", "write -P 0x22 9M 512"])
        self.assertNoPlaintext(img)
        raw = self.amber_to_raw(img, fmt, "q.raw")
        expected = self.path("expected.raw")
        bt.qemu_img("convert", "--object", SECRET, "--image-opts", opts(img, fmt), "-O", "raw",
                    expected, check=True)
        self.assertSameContent(expected, raw, "amber's read of qemu's %s image" % fmt)
        bt.qemu_io(raw, ["read -P 0x5a 0 1M", "read -P 0x21 5M 4k", "read -P 0x22 9M 512"],
                   fmt="raw")
        r = self.amber("compare", "--object", SECRET, "--image-opts", opts(img, fmt),
                       "driver=raw,file.filename=" + expected)
        self.assertIn("Images are identical.", r.out)

    def test_qcow2_qemu_writes_amber_reads(self):
        self.check_qemu_to_amber("qcow2")

    def test_luks_qemu_writes_amber_reads(self):
        self.check_qemu_to_amber("luks")

    # ---- amber writes, qemu reads --------------------------------------

    def check_amber_to_qemu(self, fmt):
        img = self.amber_create("a." + fmt, fmt)
        # Whole clusters, then 4 KiB pieces that leave copy-on-write fills
        # around them (written encrypted, so they read as zeros).
        self.amber("bench", "-w", "--pattern=90", "-c", "16", "-s", "64k", "-o", "0",
                   "--object", SECRET, "--image-opts", opts(img, fmt))
        self.amber("bench", "-w", "--pattern=33", "-c", "4", "-s", "4k", "-S", "12k",
                   "-o", str(8 * MIB + 4096), "--object", SECRET, "--image-opts", opts(img, fmt))
        self.assertNoPlaintext(img)
        self.qemu_io(img, fmt, ["read -P 0x5a 0 1M", "read -P 0x21 8196k 4k",
                                "read -P 0x21 8208k 4k", "read -P 0x21 8232k 4k"])
        if fmt == "qcow2":
            self.qemu_io(img, fmt, ["read -P 0 8M 4k", "read -P 0 8200k 8k", "read -P 0 1M 7M"])
        self.qemu_check_clean(img, fmt)
        r = (self.amber("check", "--object", SECRET, "--image-opts", opts(img, fmt))
             if fmt == "qcow2" else None)
        if r is not None:
            self.assertIn("No errors were found on the image.", r.out)

    def test_qcow2_amber_writes_qemu_reads(self):
        self.check_amber_to_qemu("qcow2")

    def test_luks_amber_writes_qemu_reads(self):
        self.check_amber_to_qemu("luks")

    # ---- passwords -------------------------------------------------------

    def test_wrong_password_refused_by_both(self):
        for fmt in ("qcow2", "luks"):
            img = self.amber_create("w." + fmt, fmt, size="1M")
            q = self.qemu_io(img, fmt, ["read 0 512"], secret=WRONG, check=False)
            self.assertIn("Invalid password, cannot unlock any keyslot", q.out + q.err)
            r = self.amber("map", "--object", WRONG, "--image-opts", opts(img, fmt), rc=1)
            self.assertIn("Invalid password, cannot unlock any keyslot", r.err)
            # No secret at all: qemu-img's "required" message.
            key = "encrypt.key-secret" if fmt == "qcow2" else "key-secret"
            r = self.amber("map", "-f", fmt, img, rc=1)
            self.assertIn("Parameter '%s' is required for cipher" % key, r.err)
            for command in (["check"], ["snapshot", "-l"]):
                q = bt.qemu_img(*(command + [img]))
                r = self.amber(*(command + [img]), rc=q.rc)
                self.assertIn("Parameter '%s' is required for cipher" % key, q.err)
                self.assertIn("Parameter '%s' is required for cipher" % key, r.err)
            # A key-secret naming no --object.
            r = self.amber("map", "--image-opts", opts(img, fmt), rc=1)
            self.assertIn("No secret with id 'sec0'", r.err)

    def test_secret_from_file(self):
        secret_file = self.path("pass.txt")
        with open(secret_file, "w") as f:
            f.write(PASS)
        img = self.qemu_create("f.qcow2", "qcow2", size="1M")
        self.qemu_io(img, "qcow2", ["write -P 0x5a 0 64k"])
        self.amber("convert", "--object", "secret,id=sec0,file=" + secret_file, "--image-opts",
                   opts(img, "qcow2"), "-O", "raw", self.path("f.raw"))
        bt.qemu_io(self.path("f.raw"), ["read -P 0x5a 0 64k"], fmt="raw")

    def test_base64_and_encrypted_secrets_as_qemu(self):
        """format=base64 and keyid=/iv= (AES-256-CBC, as libvirt hands QEMU
        its secrets): each --object form opens the image, or is refused
        with the same words, in amber-img and in qemu-io."""
        import base64
        import subprocess
        img = self.qemu_create("s.luks", "luks", size="1M")
        key = os.urandom(32)
        iv = os.urandom(16)
        key_file = self.path("key.bin")
        with open(key_file, "wb") as f:
            f.write(key)
        enc = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()],
                             input=PASS.encode(), stdout=subprocess.PIPE, check=True).stdout
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        k_file = "secret,id=k,file=" + key_file
        k_b64 = "secret,id=k,data=%s,format=base64" % b64(key)
        good = "secret,id=sec0,data=%s,format=base64,keyid=k,iv=%s" % (b64(enc), b64(iv))
        cases = [
            ([k_file, good], None),
            ([k_b64, good], None),
            (["secret,id=sec0,data=%s,format=base64" % b64(PASS.encode())], None),
            # glib decodes whole groups of four: what follows the padding of
            # a complete group is dropped, and so is a partial last group.
            (["secret,id=sec0,data=%s=x,format=base64" % b64(PASS.encode()).rstrip("=")
              if len(PASS) % 3 == 2 else
              "secret,id=sec0,data=%sx,format=base64" % b64(PASS.encode())], None),
            (["secret,id=sec0,data=%s,format=base64" % b64(PASS.encode())[:-5]],
             "Invalid password, cannot unlock any keyslot"),
            (["secret,id=sec0,data=a b,format=base64"], "Base64 data contains invalid characters"),
            (["secret,id=k,data=short", good], "Key should be 32 bytes in length"),
            ([k_file, good.split(",iv=")[0]], "IV is required to decrypt secret"),
            ([k_file, good.split(",iv=")[0] + ",iv=AAAA"], "IV should be 16 bytes in length not 3"),
            ([k_file, "secret,id=sec0,data=abcde,keyid=k,iv=" + b64(iv)],
             "Length 5 must be a multiple of block size 16"),
            ([good, k_file], "No secret with id 'k'"),
            (["secret,id=sec0,data=x,keyid=sec0"], "Secret with id 'sec0' has no data"),
            (["secret,id=sec0,data=x,format=hex"],
             "Parameter 'format' does not accept value 'hex'"),
            (["secret,id=sec0,data=x,colour=red"], "Parameter 'colour' is unexpected"),
            (["secret,id=sec0,data=x,file=" + key_file], "'file' and 'data' are mutually exclusive"),
            (["secret,id=sec0"], "Either 'file' or 'data' must be provided"),
        ]
        # Ciphertext whose decryption ends in a byte above 16 is refused
        # for its padding; find one such block under this key.
        for n in range(64):
            block = bytes([n]) * 16
            plain = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-nopad", "-K",
                                    key.hex(), "-iv", iv.hex()], input=block,
                                   stdout=subprocess.PIPE, check=True).stdout
            if plain[-1] > 16:
                cases.append(([k_file, "secret,id=sec0,data=%s,format=base64,keyid=k,iv=%s" %
                               (b64(block), b64(iv))],
                              "Incorrect number of padding bytes (%d) found on decrypted data" %
                              plain[-1]))
                break
        for objects, error in cases:
            with self.subTest(objects=objects):
                argv = []
                for o in objects:
                    argv += ["--object", o]
                q = bt.run([bt.tool("QEMU_IO")] + argv + ["--image-opts", opts(img, "luks"),
                                                          "-c", "read 0 512"])
                r = bt.amber_img("map", "--output=json", *argv, "--image-opts", opts(img, "luks"))
                bt.assert_no_crash(self, r)
                if error is None:
                    self.assertEqual(q.rc, 0, q.describe())
                    self.assertEqual(r.rc, 0, r.describe())
                else:
                    self.assertIn(error, q.out + q.err, q.describe())
                    self.assertNotEqual(r.rc, 0, r.describe())
                    self.assertIn(error, r.err, r.describe())
                # A secret is never echoed in a message.
                self.assertNotIn(PASS, r.err)
                self.assertNotIn(b64(key), r.err)

    def test_luks_area_overlapping_tables_is_refused(self):
        """A crypto header extension pointing the LUKS area at the L1 or the
        refcount table is refused (a key slot amend would overwrite them),
        with a message naming the table; the file is left as it was."""
        import struct
        for field in (40, 48):  # l1_table_offset, refcount_table_offset
            img = self.qemu_create("o.qcow2", "qcow2", size="1M")
            with open(img, "r+b") as f:
                head = bytearray(f.read(65536))
                target = struct.unpack_from(">Q", head, field)[0]
                at = struct.unpack_from(">I", head, 100)[0]
                while True:
                    kind, length = struct.unpack_from(">II", head, at)
                    self.assertNotEqual(kind, 0, "no crypto header extension")
                    if kind == 0x0537BE77:
                        struct.pack_into(">Q", head, at + 8, target)
                        break
                    at += 8 + (length + 7) // 8 * 8
                f.seek(0)
                f.write(head)
            before = open(img, "rb").read()
            r = self.amber("map", "--output=json", "--object", SECRET, "--image-opts",
                           opts(img, "qcow2"), rc=1)
            # The area is ~2 MiB long, so pointing it at either table covers
            # both; the L1 table is checked first.
            self.assertIn("overlaps the L1 table", r.err)
            # check walks the metadata instead: the doubly used cluster is a
            # refcount error there.
            r = self.amber("check", "--object", SECRET, "--image-opts", opts(img, "qcow2"), rc=2)
            self.assertIn("ERROR cluster", r.err)
            self.assertEqual(open(img, "rb").read(), before)
            os.unlink(img)

    # ---- convert both ways -------------------------------------------------

    def test_convert_plain_to_encrypted_and_back(self):
        plain = self.path("plain.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", plain, "16M", check=True)
        bt.qemu_io(plain, ["write -P 0x5a 0 2M", "write -P 0x44 10M 64k"])
        for fmt in ("qcow2", "luks"):
            enc = self.path("enc." + fmt)
            self.amber("convert", "--object", SECRET, "-f", "qcow2", plain, "-O", fmt, "-o",
                       create_opts(fmt), enc)
            self.assertNoPlaintext(enc)
            self.qemu_io(enc, fmt, ["read -P 0x5a 0 2M", "read -P 0x44 10M 64k",
                                    "read -P 0 2M 8M"])
            self.qemu_check_clean(enc, fmt)
            back = self.path("back-%s.qcow2" % fmt)
            self.amber("convert", "--object", SECRET, "--image-opts", opts(enc, fmt), "-O",
                       "qcow2", back)
            r = bt.qemu_img("compare", "-f", "qcow2", "-F", "qcow2", plain, back)
            self.assertEqual(r.rc, 0, r.describe())
        # Into an existing encrypted target named by --target-image-opts.
        target = self.qemu_create("t.qcow2", "qcow2")
        self.amber("convert", "--object", SECRET, "-n", "--target-image-opts", "-f", "qcow2",
                   plain, opts(target, "qcow2"))
        self.qemu_io(target, "qcow2", ["read -P 0x5a 0 2M", "read -P 0x44 10M 64k"])
        self.qemu_check_clean(target, "qcow2")

    # ---- info ----------------------------------------------------------------

    def test_commit_rebase_measure_take_image_opts(self):
        """commit, rebase and measure take --object / --image-opts as
        qemu-img 7.2 does: an encrypted chain committed and rebased by
        amber-img reads back through qemu-io; measure prints what qemu-img
        prints."""
        base = self.qemu_create("base.qcow2", "qcow2")
        top = self.path("top.qcow2")
        r = bt.qemu_img("create", "-q", "-f", "qcow2", "--object", SECRET, "-b", base, "-F",
                        "qcow2", "-o", create_opts("qcow2"), top)
        self.assertEqual(r.rc, 0, r.describe())
        chain = opts(top, "qcow2") + ",backing.encrypt.key-secret=sec0"
        r = bt.run([bt.tool("QEMU_IO"), "--object", SECRET, "--image-opts", "-c",
                    "write -P 90 1M 1M", chain])
        self.assertEqual(r.rc, 0, r.describe())
        for tool in (bt.qemu_img, bt.amber_img):
            q = tool("measure", "--object", SECRET, "--image-opts", chain, "-O", "qcow2")
            self.assertEqual(q.rc, 0, q.describe())
            if tool is bt.qemu_img:
                expected = q.out
        self.assertEqual(q.out, expected)
        r = self.amber("commit", "--object", SECRET, "--image-opts", chain)
        self.assertIn("Image committed.", r.out)
        self.qemu_io(base, "qcow2", ["read -P 90 1M 1M", "read -P 0 0 1M"])
        self.qemu_check_clean(base, "qcow2")
        other = self.qemu_create("other.qcow2", "qcow2")
        r = bt.run([bt.tool("QEMU_IO"), "--object", SECRET, "--image-opts", "-c",
                    "write -P 91 4M 64k", opts(top, "qcow2") + ",backing.encrypt.key-secret=sec0"])
        self.assertEqual(r.rc, 0, r.describe())
        self.amber("rebase", "--object", SECRET, "--image-opts", chain, "-b", other, "-F", "qcow2")
        info = bt.qemu_img("info", "-U", top)
        self.assertIn("backing file: " + other, info.out)
        r = bt.run([bt.tool("QEMU_IO"), "--object", SECRET, "--image-opts", "-c",
                    "read -P 90 1M 1M", "-c", "read -P 91 4M 64k",
                    opts(top, "qcow2") + ",backing.encrypt.key-secret=sec0"])
        self.assertEqual(r.rc, 0, r.describe())
        self.assertNotIn("fail", r.out.lower(), r.describe())
        for cmd in (("commit",), ("rebase", "-b", other, "-F", "qcow2"), ("measure", "-O", "qcow2")):
            q = bt.qemu_img(*cmd, "-f", "qcow2", "--image-opts", opts(top, "qcow2"))
            a = bt.amber_img(*cmd, "-f", "qcow2", "--image-opts", opts(top, "qcow2"))
            self.assertEqual((a.rc, a.err.replace("amber-img", "qemu-img")), (q.rc, q.err), cmd)

    def test_info_matches_qemu_img(self):
        for fmt in ("qcow2", "luks"):
            for img in (self.qemu_create("iq." + fmt, fmt), self.amber_create("ia." + fmt, fmt)):
                for output in ("human", "json"):
                    q = bt.qemu_img("info", "--output=" + output, img, check=True)
                    a = self.amber("info", "--output=" + output, img)
                    self.assertEqual(a.out, q.out, "info --output=%s %s" % (output, img))
                self.assertIn("encrypted: yes", self.amber("info", img).out)
                # As qemu-img info (no I/O): a wrong or absent secret is not
                # even looked at.
                r = self.amber("info", "--object", WRONG, "--image-opts", opts(img, fmt))
                self.assertIn("encrypted: yes", r.out)
                self.amber("info", "--image-opts", opts(img, fmt))
                # A key-secret makes qemu name the image "json:{...}", in its
                # own key order, from --image-opts and from a json: name.
                key = "encrypt.key-secret" if fmt == "qcow2" else "key-secret"
                json_name = 'json:{"driver":"%s","file.filename":"%s","%s":"sec0"}' % (
                    fmt, img, key)
                for name in (["--image-opts", opts(img, fmt)], [json_name]):
                    for output in ("human", "json"):
                        argv = ["info", "--output=" + output, "--object", SECRET] + name
                        q = bt.qemu_img(*argv, check=True)
                        a = self.amber(*argv)
                        self.assertIn("json:{", a.out)
                        self.assertEqual(a.out, q.out, " ".join(argv))


if __name__ == "__main__":
    bt.main()
