#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""amber-img amend adding and erasing LUKS key slots (qcow2 encrypt.* and
raw luks), against qemu-img/qemu-io 7.2: slots amber adds open in qemu-io,
erased ones are refused; slot listings match qemu-img's for the same
commands; the payload is unchanged; every refusal prints qemu-img's words
and exit code. iter-time=10 keeps PBKDF2 cheap.
"""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blocktest as bt  # noqa: E402

OBJS = []
for i in range(4):
    OBJS += ["--object", "secret,id=s%d,data=pass%d" % (i, i)]


def opts(path, fmt, sid="s0"):
    key = "encrypt.key-secret" if fmt == "qcow2" else "key-secret"
    return "driver=%s,file.filename=%s,%s=%s" % (fmt, path, key, sid)


def pre(fmt):
    return "encrypt." if fmt == "qcow2" else ""


class LuksAmendTest(bt.TempDirTest):

    def make(self, name, fmt):
        path = self.path(name)
        o = ("encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10" if fmt == "qcow2"
             else "key-secret=s0,iter-time=10")
        for _ in range(5):
            r = bt.qemu_img("create", "-q", "-f", fmt, *OBJS, "-o", o, path, "4M")
            if "Unable to get accurate CPU usage" not in r.err:
                break
        self.assertEqual(r.rc, 0, r.describe())
        r = bt.run([bt.tool("QEMU_IO"), *OBJS[:2], "--image-opts", "-c", "write -P 0x5a 0 1M",
                    opts(path, fmt)])
        self.assertEqual(r.rc, 0, r.describe())
        return path

    def amend(self, tool, path, fmt, o, force=False, sid="s0"):
        argv = ["amend", *OBJS, "--image-opts"] + (["--force"] if force else [])
        argv += ["-o", o, opts(path, fmt, sid)]
        r = (bt.amber_img if tool == "amber" else bt.qemu_img)(*argv)
        if tool == "amber":
            bt.assert_no_crash(self, r)
        return r

    def slots(self, path):
        r = bt.qemu_img("info", "--output=json", path)
        self.assertEqual(r.rc, 0, r.describe())
        d = json.loads(r.out)["format-specific"]["data"]
        d = d.get("encrypt", d)
        return [s["active"] for s in d["slots"]]

    def opens(self, path, fmt, sid):
        r = bt.run([bt.tool("QEMU_IO"), *OBJS, "--image-opts", "-c", "read -P 0x5a 0 1M",
                    opts(path, fmt, sid)])
        return r.rc == 0 and "Pattern verification failed" not in r.out

    def payload(self, path, fmt, sid="s0"):
        out = self.path("plain.raw")
        r = bt.qemu_img("convert", *OBJS, "--image-opts", opts(path, fmt, sid), "-O", "raw", out)
        self.assertEqual(r.rc, 0, r.describe())
        return bt.file_bytes(out)

    def test_add_erase_both_ways(self):
        for fmt in ("qcow2", "luks"):
            with self.subTest(fmt=fmt):
                p = pre(fmt)
                a = self.make("a." + fmt, fmt)
                q = self.path("q." + fmt)
                shutil.copy(a, q)
                before = self.payload(a, fmt)
                steps = [("%sstate=active,%snew-secret=s1,%siter-time=10" % (p, p, p), False),
                         ("%sstate=active,%snew-secret=s2,%skeyslot=5,%siter-time=0"
                          % (p, p, p, p), False),
                         ("%sstate=inactive,%sold-secret=s0" % (p, p), False),
                         ("%sstate=inactive,%skeyslot=3" % (p, p), True)]
                for o, force in steps:
                    sid = "s1" if "old-secret=s0" in o or "keyslot=3" in o else "s0"
                    ra = self.amend("amber", a, fmt, o, force, sid)
                    rq = self.amend("qemu", q, fmt, o, force, sid)
                    self.assertEqual(ra.rc, 0, ra.describe())
                    self.assertEqual(rq.rc, 0, rq.describe())
                    self.assertEqual(self.slots(a), self.slots(q), o)
                self.assertEqual(self.slots(a), [False, True, False, False, False, True,
                                                 False, False])
                self.assertTrue(self.opens(a, fmt, "s1"))
                self.assertTrue(self.opens(a, fmt, "s2"))
                self.assertFalse(self.opens(a, fmt, "s0"))
                self.assertEqual(self.payload(a, fmt, "s1"), before)
                # qemu-img's slots read by amber: amber erases a qemu-made slot.
                r = self.amend("amber", q, fmt, "%sstate=inactive,%sold-secret=s2" % (p, p),
                               sid="s1")
                self.assertEqual(r.rc, 0, r.describe())
                self.assertFalse(self.opens(q, fmt, "s2"))
                self.assertTrue(self.opens(q, fmt, "s1"))
                r = bt.amber_img("info", q)
                self.assertEqual(r.rc, 0, r.describe())

    def test_refusals_match_qemu(self):
        for fmt in ("qcow2", "luks"):
            p = pre(fmt)
            a = self.make("r." + fmt, fmt)
            q = self.path("rq." + fmt)
            shutil.copy(a, q)
            cases = [("%sstate=active" % p, False, "s0"),
                     ("%sstate=active,%snew-secret=s1,%skeyslot=9" % (p, p, p), False, "s0"),
                     ("%sstate=active,%snew-secret=s1,%skeyslot=-1" % (p, p, p), False, "s0"),
                     ("%sstate=inactive,%skeyslot=-1" % (p, p), False, "s0"),
                     ("%sstate=active,%snew-secret=s1,%skeyslot=0" % (p, p, p), False, "s0"),
                     ("%sstate=inactive,%skeyslot=0" % (p, p), False, "s0"),
                     ("%sstate=inactive,%skeyslot=2" % (p, p), False, "s0"),
                     ("%sstate=inactive,%sold-secret=s0" % (p, p), False, "s0"),
                     ("%sstate=inactive,%sold-secret=s3" % (p, p), False, "s0"),
                     ("%sstate=inactive,%sold-secret=s3,%skeyslot=0" % (p, p, p), False, "s0"),
                     ("%sstate=inactive" % p, False, "s0"),
                     ("%sstate=inactive,%snew-secret=s1" % (p, p), False, "s0"),
                     ("%sstate=inactive,%siter-time=10,%skeyslot=0" % (p, p, p), False, "s0"),
                     ("%sstate=active,%snew-secret=s1,%sold-secret=s0" % (p, p, p), False, "s0"),
                     ("%sstate=bogus" % p, False, "s0"),
                     ("%snew-secret=s1" % p, False, "s0"),
                     ("%skeyslot=abc,%sstate=active" % (p, p), False, "s0"),
                     ("%sstate=active,%snew-secret=nosuch" % (p, p), False, "s0"),
                     ("%sstate=inactive,%sold-secret=nosuch" % (p, p), False, "s0"),
                     ("%sstate=active,%snew-secret=s1" % (p, p), False, "s3"),
                     ("%sstate=active,%snew-secret=s1" % (p, p), False, "nosuch"),
                     ("%sfoo=1" % p, False, "s0")]
            if fmt == "luks":
                cases += [("state=inactive,keyslot=0,lazy_refcounts=on", False, "s0"),
                          ("state=inactive,keyslot=0,size=2M", False, "s0"),
                          ("help", False, "s0")]
            for o, force, sid in cases:
                with self.subTest(fmt=fmt, o=o):
                    ra = self.amend("amber", a, fmt, o, force, sid)
                    rq = self.amend("qemu", q, fmt, o, force, sid)
                    self.assertEqual(ra.rc, rq.rc, ra.describe() + rq.describe())
                    self.assertEqual(ra.err.replace("amber-img", "qemu-img").replace(a, q),
                                     rq.err)
                    self.assertEqual(ra.out, rq.out)
            self.assertEqual(self.slots(a), self.slots(q))
            # --force erases the only slot, as qemu-img does.
            ra = self.amend("amber", a, fmt, "%sstate=inactive,%skeyslot=0" % (p, p), True)
            self.assertEqual(ra.rc, 0, ra.describe())
            self.assertEqual(self.slots(a), [False] * 8)
        plain = self.path("plain.qcow2")
        bt.qemu_img("create", "-q", "-f", "qcow2", plain, "1M")
        for o in ("encrypt.state=active,encrypt.new-secret=s1", "compat=bogus,encrypt.state=active"):
            ra = bt.amber_img("amend", "-o", o, plain)
            rq = bt.qemu_img("amend", "-o", o, plain)
            self.assertEqual((ra.rc, ra.err.replace("amber-img", "qemu-img")), (rq.rc, rq.err))


if __name__ == "__main__":
    bt.main()
