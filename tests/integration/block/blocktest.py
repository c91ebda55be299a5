# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the block engine integration tests.

Paths to the programs under test come from the environment that
tests/integration/block/meson.build sets (AMBER_IMG, AMBER_CAT, ...,
QEMU_IMG, QEMU_IO). A missing program is a test failure, never a skip.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def tool(name):
    """The path in environment variable `name`; fails loudly when absent."""
    path = os.environ.get(name)
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("%s is not set to an executable (got %r); run through meson test"
                             % (name, path))
    return path


class Run:
    """The outcome of one command."""

    def __init__(self, argv, proc):
        self.argv = argv
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def describe(self):
        return "command: %s\nexit: %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.argv), self.rc, self.out[-3000:], self.err[-3000:])


def run(argv, stdin_text=None, timeout=300, check=False, cwd=None):
    proc = subprocess.run(argv, input=stdin_text, capture_output=True, text=True,
                          timeout=timeout, errors="replace", cwd=cwd)
    result = Run(argv, proc)
    if check and result.rc != 0:
        raise AssertionError("command failed\n" + result.describe())
    return result


def qemu_img(*args, **kw):
    return run([tool("QEMU_IMG")] + list(args), **kw)


def amber_img(*args, **kw):
    return run([tool("AMBER_IMG")] + list(args), **kw)


def qemu_io(path, commands, fmt="qcow2", extra=(), **kw):
    argv = [tool("QEMU_IO"), "-f", fmt] + list(extra)
    for c in commands:
        argv += ["-c", c]
    argv.append(path)
    r = run(argv, **kw)
    # qemu-io reports request errors on stdout and still exits 0.
    if r.rc != 0 or "error" in r.out.lower() or "failed" in r.out.lower():
        raise AssertionError("qemu-io failed\n" + r.describe())
    return r


def amber_io(path, script_lines, fmt=None, extra=(), check=True, **kw):
    argv = [tool("AMBER_IO")] + (["-f", fmt] if fmt else []) + list(extra) + [path]
    return run(argv, stdin_text="\n".join(script_lines) + "\n", check=check, **kw)


def amber_cat(path, out, fmt=None, check=True, **kw):
    argv = [tool("AMBER_CAT")] + (["-f", fmt] if fmt else []) + [path, out]
    return run(argv, check=check, **kw)


def qemu_check_json(path, fmt="qcow2", repair=None):
    args = ["check", "-f", fmt, "--output=json"] + (["-r", repair] if repair else []) + [path]
    r = qemu_img(*args)
    try:
        report = json.loads(r.out)
    except ValueError:
        report = None
    return r, report


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def first_difference(a, b):
    if len(a) != len(b):
        return "lengths differ: %d vs %d" % (len(a), len(b))
    for start in range(0, len(a), 1 << 16):
        if a[start:start + (1 << 16)] != b[start:start + (1 << 16)]:
            for i in range(start, min(len(a), start + (1 << 16))):
                if a[i] != b[i]:
                    return "first difference at byte %d (0x%x): %02x vs %02x" % (i, i, a[i], b[i])
    return None


def assert_no_crash(testcase, r):
    """The command ended by itself (no signal) and no sanitizer spoke."""
    testcase.assertGreaterEqual(r.rc, 0, "killed by signal %d\n%s" % (-r.rc, r.describe()))
    testcase.assertNotIn(r.rc, (128 + signal.SIGSEGV, 128 + signal.SIGABRT), r.describe())
    for marker in SANITIZER_MARKERS:
        testcase.assertNotIn(marker, r.err, "sanitizer report\n" + r.describe())


class TempDirTest(unittest.TestCase):
    """Each test gets its own temporary directory on a real file system."""

    def setUp(self):
        base = os.environ.get("AMBER_TEST_TMPDIR") or "/var/tmp"
        if not os.access(base, os.W_OK):
            base = None
        self.dir = tempfile.mkdtemp(prefix="amber-block-", dir=base)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertQemuCheckClean(self, path, fmt="qcow2", allow_leaks=False):
        r, report = qemu_check_json(path, fmt)
        self.assertIsNotNone(report, "qemu-img check gave no JSON\n" + r.describe())
        self.assertEqual(report.get("corruptions", 0), 0, "qemu-img check corruptions\n" + r.describe())
        self.assertEqual(report.get("check-errors", 0), 0, "qemu-img check errors\n" + r.describe())
        if not allow_leaks:
            self.assertEqual(report.get("leaks", 0), 0, "qemu-img check leaks\n" + r.describe())
            self.assertEqual(r.rc, 0, r.describe())
        return report

    def assertSameContent(self, expected_raw, actual_raw, what):
        diff = first_difference(file_bytes(expected_raw), file_bytes(actual_raw))
        self.assertIsNone(diff, "%s: %s" % (what, diff))


def main():
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout)
    program = unittest.main(testRunner=runner, exit=False, argv=[sys.argv[0]] + sys.argv[1:])
    sys.exit(0 if program.result.wasSuccessful() else 1)


# ---- the sector pattern of helpers/helper_util.h, in Python ----------------

_RAMP = bytes(i & 0xFF for i in range(1024))


def pattern(tag, offset, length):
    import struct
    parts = []
    for off in range(offset, offset + length, 512):
        base = (tag + off // 512 + 16) & 0xFF
        parts.append(struct.pack("<QQ", tag & (2**64 - 1), off) + _RAMP[base:base + 496])
    return b"".join(parts)


def sector_tag(sector, offset):
    """Tag of an intact pattern sector, 0 for zeros, None for anything else."""
    import struct
    if sector == bytes(512):
        return 0
    tag, off = struct.unpack_from("<QQ", sector)
    if off != offset:
        return None
    base = (tag + offset // 512 + 16) & 0xFF
    return tag if sector[16:] == _RAMP[base:base + 496] else None


class Model:
    """Expected guest content of an image, for the amber-io script verbs."""

    def __init__(self, size, initial=None):
        self.data = bytearray(initial if initial is not None else bytes(size))
        assert len(self.data) == size

    def apply(self, line):
        words = line.split()
        if not words or words[0] in ("flush", "echo"):
            return
        off, length = int(words[1], 0), int(words[2], 0)
        if words[0] == "write":
            self.data[off:off + length] = bytes([int(words[3], 0)]) * length
        elif words[0] == "writep":
            self.data[off:off + length] = pattern(int(words[3], 0), off, length)
        elif words[0] in ("zero", "discard"):
            self.data[off:off + length] = bytes(length)

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.data)
