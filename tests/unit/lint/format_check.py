#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Every C/C++ source we own conforms to the root .clang-format.

Runs `clang-format --dry-run --Werror` on each .cpp .h .c file in the tree
(skipping .git and meson build folders) and lists the files that would
change. Usage: format_check.py SOURCE_ROOT. Exit 0 when all conform, 1 with
one line per non-conforming file, 77 (skip) when clang-format is missing.
"""
import os
import shutil
import subprocess
import sys

SUFFIXES = ('.cpp', '.h', '.c')
SKIP_NAMES = {'.git', '.cache', '__pycache__'}


def is_build_dir(path):
    return os.path.exists(os.path.join(path, 'meson-private')) or \
        os.path.exists(os.path.join(path, 'build.ninja'))


def sources(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES and
                             not is_build_dir(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if name.endswith(SUFFIXES):
                yield os.path.join(dirpath, name)


def main():
    if len(sys.argv) != 2:
        print('usage: format_check.py SOURCE_ROOT', file=sys.stderr)
        return 2
    root = sys.argv[1]
    tool = shutil.which('clang-format')
    if tool is None:
        print('clang-format not installed', file=sys.stderr)
        return 77
    bad = []
    files = list(sources(root))
    for path in files:
        r = subprocess.run([tool, '--dry-run', '--Werror', '--style=file', path],
                           cwd=root, capture_output=True, text=True)
        if r.returncode != 0:
            bad.append(os.path.relpath(path, root))
    for path in bad:
        print('not clang-formatted: ' + path)
    print('%d of %d files not clang-formatted' % (len(bad), len(files)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
