#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Every source file we own opens with the licence tag: the first line (the
second after a `#!` line) is `SPDX-License-Identifier: GPL-2.0-or-later` in
the file's comment syntax (`//`, `#` or `/* ... */`).

Files checked: .cpp .h .c .S .py .sh .in, meson.build and meson_options.txt,
found by walking the whole tree, so a new file without the line fails this
test. Skipped: .git, build*/ at the root and any other meson build folder,
the ignored guest and example outputs, caches.

Usage: spdx_check.py SOURCE_ROOT. Exit 0 when clean, 1 with one line per
file lacking the tag. Before the tree it checks a scratch tree of its own,
so a checker that passes everything fails here.
"""
import os
import sys
import tempfile

TAG = 'SPDX-License-Identifier: GPL-2.0-or-later'
ACCEPTED = ('// ' + TAG, '# ' + TAG, '/* ' + TAG + ' */')
SUFFIXES = ('.cpp', '.h', '.c', '.S', '.py', '.sh', '.in')
NAMES = ('meson.build', 'meson_options.txt')
SKIP_NAMES = {'.git', '.cache', '__pycache__'}
# Ignored in .gitignore: built by scripts, not written by us.
SKIP_PATHS = {os.path.join('tests', 'guest', 'out'), os.path.join('examples', 'out')}


def is_build_dir(path):
    return os.path.exists(os.path.join(path, 'meson-private')) or \
        os.path.exists(os.path.join(path, 'build.ninja'))


def owned(name):
    return name in NAMES or name.endswith(SUFFIXES)


def has_tag(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            first = f.readline()
            if first.startswith('#!'):
                first = f.readline()
    except OSError as e:
        return False, 'unreadable: %s' % e.strerror
    if first.strip() in ACCEPTED:
        return True, ''
    return False, 'first comment line is not "%s"' % TAG


def check(root):
    problems = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        kept = []
        for d in sorted(dirs):
            sub = os.path.normpath(os.path.join(rel, d))
            if d in SKIP_NAMES or sub in SKIP_PATHS:
                continue
            if (rel == '.' and d.startswith('build')) or is_build_dir(os.path.join(folder, d)):
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            if not owned(name):
                continue
            path = os.path.join(folder, name)
            ok, why = has_tag(path)
            if not ok:
                problems.append('%s: %s' % (os.path.relpath(path, root), why))
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as scratch:
        def put(rel, text):
            path = os.path.join(scratch, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                f.write(text)
        put('a/good.cpp', '// %s\nint x;\n' % TAG)
        put('a/good.py', '#!/usr/bin/env python3\n# %s\n' % TAG)
        put('a/good.S', '/* %s */\n' % TAG)
        put('a/meson.build', '# %s\n' % TAG)
        put('a/bad.h', '// no licence here\n')
        put('a/late.sh', '#!/bin/sh\necho\n# %s\n' % TAG)
        put('a/deep/new.c', '')
        put('a/notes.txt', 'not a source\n')
        put('build-x/gen.h', '')
        put('.git/hook.sh', '')
        got = sorted(p.split(':')[0] for p in check(scratch))
        want = sorted(['a/bad.h', 'a/deep/new.c', 'a/late.sh'])
        if got != want:
            print('spdx_check self-test: reported %s, expected %s' % (got, want))
            return False
    return True


def main():
    if len(sys.argv) != 2:
        print('usage: spdx_check.py SOURCE_ROOT', file=sys.stderr)
        return 2
    if not self_test():
        return 1
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print('%d file(s) without the SPDX line' % len(problems))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
