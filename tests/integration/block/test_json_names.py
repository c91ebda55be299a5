#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""json:{...} pseudo file names against qemu-img / qemu-io 7.2.

Every command's output, message and exit status from amber-img is compared
with qemu-img's for the name forms libvirt and users write (nested, dotted,
single-quoted), malformed and hostile names are refused with qemu's words,
and an overlay whose stored backing file name is json:{...} is read and
written by amber-img and read back by qemu-io. Everything runs in the
test's directory: file names in a json: name are relative to it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

NAMES = [
    'json:{"file.filename":"base.qcow2"}',
    'json:{"driver":"qcow2","file":{"driver":"file","filename":"base.qcow2"}}',
    'json:{"driver":"qcow2","file.filename":"base.qcow2","file.driver":"file"}',
    "json:{'file.filename':'base.qcow2'}",
    'json:{"driver":"raw","file":{"filename":"x.raw"}}',
]

BAD = [
    'json:{', 'json:', 'json:  ', 'json:{"driver":"qcow2",}', 'json:[1]', 'json:"x"', 'json:null',
    'json:{}', 'json:{"driver":"foo","file.filename":"base.qcow2"}',
    'json:{"driver":"qcow2","file.filename":"base.qcow2","x":1}',
    'json:{"driver":"qcow2","file":{"filename":"base.qcow2","x":1}}',
    'json:{"file.filename":"nope.qcow2"}', 'json:{"driver":"qcow2"}',
    'json:{"file.filename":"base.qcow2"} x', 'json:{"a":"\\q"}',
    'json:{"file.filename":"base.qcow2","file.filename":"x.raw"}',
    'json:{"file.filename":5}', 'json:{"a":"\\u12"}', 'json:{"a":"\\uDE00"}',
    'json:{"a":01}', 'json:{"a":-}', 'json:{"a":1.5e}', 'json:{"a":"abc', 'json:{"a":1 "b":2}',
    'json:{"a":[1 2]}', 'json:{1:2}', 'json:{"a":tru}', 'json:{"a":"\x01"}', 'json:{"a":@}',
    'json:{"driver":"qcow2","file.filename":"x.raw"}',
    'json:{"driver":"raw","file.filename":"x.raw","encrypt.key-secret":"s"}',
    'json:{"driver":"qcow2","file":"base.qcow2"}', 'json:{"file.driver":"file"}',
    'json:{"a":' + "[" * 1100 + "]" * 1100 + "}",
]

# QEMU's general node options and the file driver's (on top.qcow2, an
# overlay of base.qcow2): each is checked as QEMU checks it; none of them
# changes the image's name. ("backing": 5 is left out: qemu-img 7.2 refuses
# it in info and ignores it in map, check and compare; Amber refuses it.)
NODE_OPTIONS = [
    '"backing":null', '"read-only":true', '"read-only":"on"', '"read-only":"yes"',
    '"read-only":1', '"read-only":"of"', '"auto-read-only":true', '"force-share":true',
    '"force-share":"x"', '"cache":{"direct":true}', '"cache":{"direct":false}',
    '"cache":{"direct":"x"}', '"cache":{"no-flush":true}', '"node-name":"n1"',
    '"node-name":"a.b-c_d"', '"node-name":"1bad"', '"node-name":""',
    '"node-name":"a2345678901234567890123456789012"', '"discard":"on"', '"discard":"ignore"',
    '"discard":"bogus"', '"detect-zeroes":"on"', '"detect-zeroes":"bogus"',
    '"detect-zeroes":"unmap"', '"discard":"unmap","detect-zeroes":"unmap"', '"backing":"nonode"',
]
FILE_OPTIONS = [
    '"locking":"off"', '"locking":"auto"', '"locking":true', '"locking":"bogus"',
    '"aio":"io_uring"', '"aio":"threads"', '"aio":"bogus"', '"aio":"native"',
    '"aio":"native","cache":{"direct":true}', '"x-check-cache-dropped":true',
    '"drop-cache":false', '"drop-cache":"x"', '"aio-max-batch":4', '"aio-max-batch":"x"',
    '"pr-manager":"x"',
]
TOP = '"driver":"qcow2","file":{"driver":"file","filename":"top.qcow2"'


class JsonNamesTest(bt.TempDirTest):

    def setUp(self):
        super().setUp()
        self.q("create", "-q", "-f", "qcow2", "base.qcow2", "1M")
        self.qio("base.qcow2", ["write -P 0x11 0 64k"])
        self.q("create", "-q", "-f", "raw", "x.raw", "1M")

    def q(self, *args):
        return bt.qemu_img(*args, cwd=self.dir)

    def a(self, *args):
        return bt.amber_img(*args, cwd=self.dir)

    def qio(self, img, commands, fmt="qcow2"):
        return bt.qemu_io(img, commands, fmt=fmt, cwd=self.dir)

    def assertSame(self, *args):
        q, a = self.q(*args), self.a(*args)
        self.assertEqual(a.rc, q.rc, a.describe() + q.describe())
        self.assertEqual(a.out, q.out, a.describe())
        self.assertEqual(a.err.replace("amber-img:", "qemu-img:"), q.err, a.describe())
        return a

    def test_commands_on_json_names(self):
        for name in NAMES:
            with self.subTest(name=name):
                self.assertSame("info", name)
                self.assertSame("info", "--output=json", name)
                self.assertSame("check", name)
                self.assertSame("map", name)
                self.assertSame("map", "--output=json", name)
                other = "x.raw" if "raw" in name else "base.qcow2"
                self.assertSame("compare", name, other)
                self.assertSame("compare", other, name)
        r = self.a("convert", "-O", "raw", NAMES[1], "out.raw")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertSame("compare", "-f", "raw", "out.raw", "base.qcow2")

    def test_node_options(self):
        self.q("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
        self.qio("top.qcow2", ["write -P 0x22 512k 64k"])
        with open(self.path("top.qcow2"), "rb") as f:
            pristine = f.read()
        names = ["json:{%s},%s}" % (TOP, o) for o in NODE_OPTIONS]
        names += ["json:{%s,%s}}" % (TOP, o) for o in FILE_OPTIONS]
        # Writers (check -r, resize) get "Block node is read-only" and the
        # force-share refusal; readers take every valid option.
        for name in names:
            for args in (["info"], ["map"], ["check"], ["check", "-r", "all"],
                         ["resize", name, "+64k"], ["compare", "base.qcow2"]):
                with self.subTest(name=name[55:], args=args[0:2]):
                    cmd = args if "resize" in args else args[:1] + ([name] + args[1:] if
                                                                    args[0] == "compare" else
                                                                    args[1:] + [name])
                    self.assertSame(*cmd)
                    with open(self.path("top.qcow2"), "wb") as f:
                        f.write(pristine)
        # "backing": null: the backing file is not opened, unallocated
        # clusters read as zeros (and the stored name is still shown).
        detached = "json:{%s},\"backing\":null}" % TOP
        self.assertSame("convert", "-O", "raw", detached, "q.raw")
        self.assertSame("convert", "-O", "raw", detached, "a.raw")
        self.qio("a.raw", ["read -P 0 0 512k", "read -P 0x22 512k 64k"], fmt="raw")
        self.assertSame("compare", "-f", "raw", "a.raw", "q.raw")
        self.assertSame("info", "--output=json", detached)

    def test_malformed_names_refused_as_qemu(self):
        for name in BAD:
            with self.subTest(name=name[:60]):
                r = self.assertSame("info", name)
                self.assertEqual(r.rc, 1)

    def test_targets(self):
        target = 'json:{"driver":"raw","file":{"filename":"x.raw"}}'
        self.assertSame("create", "-f", "qcow2",
                        'json:{"driver":"qcow2","file":{"filename":"new.qcow2"}}', "1M")
        self.assertSame("convert", "-O", "raw", "base.qcow2", target)
        r = self.a("convert", "-n", "-O", "raw", "base.qcow2", target)
        self.assertEqual(r.rc, 0, r.describe())
        self.qio("x.raw", ["read -P 0x11 0 64k", "read -P 0 64k 960k"], fmt="raw")

    def test_json_backing_file(self):
        backing = 'json:{"driver":"qcow2","file":{"driver":"file","filename":"base.qcow2"}}'
        q = self.q("create", "-f", "qcow2", "-b", backing, "-F", "qcow2", "q.qcow2")
        a = self.a("create", "-f", "qcow2", "-b", backing, "-F", "qcow2", "a.qcow2")
        self.assertEqual(a.out.replace("a.qcow2", "q.qcow2"), q.out)
        self.assertEqual(bt.file_bytes(self.path("a.qcow2")), bt.file_bytes(self.path("q.qcow2")))
        for args in (["info"], ["info", "--output=json"], ["info", "--backing-chain"],
                     ["info", "--backing-chain", "--output=json"], ["map"], ["check"]):
            self.assertSame(*args, "q.qcow2")
        # Writes through the overlay with amber, reads with qemu-io.
        bt.amber_io(self.path("a.qcow2"), ["write 65536 4096 34"], fmt="qcow2", cwd=self.dir)
        self.qio("a.qcow2", ["read -P 0x11 0 64k", "read -P 0x22 64k 4k"])
        self.assertSame("compare", "a.qcow2", "base.qcow2")
        # rebase -u onto a json: name.
        self.q("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "r.qcow2")
        r = self.a("rebase", "-u", "-b", backing, "-F", "qcow2", "r.qcow2")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("backing file: " + backing, self.q("info", "r.qcow2").out)
        self.qio("r.qcow2", ["read -P 0x11 0 64k"])


if __name__ == "__main__":
    bt.main()
