#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The layer rule, checked: every `#include "..."` in our C++ sources names a
file by its path from the repository root, and that file lies in a layer the
including layer may use (LAYERS below, the one table of the rule; see
doc/architecture.md). Every .cpp that has a header of its own (same folder,
same stem, .h) includes it first, so each header is seen to compile on its
own.

The repository root is on every include path (common/meson.build), so the
compiler does not enforce any of this; this test does.

Usage: layering.py SOURCE_ROOT. Exit 0 when clean, 1 with one line per
violation ("path:line: what is wrong").
"""
import os
import re
import sys

# layer -> the layers it may include from (itself always allowed). tests/
# may include anything. A C++ file anywhere else is an error: a new top-level
# folder must be added here first.
LAYERS = {
    'common': set(),
    'block': {'common'},
    'vmmctl': {'common', 'block'},
    'hv': {'common', 'block', 'vmmctl'},
    'xml': {'common'},
    'driver': {'common', 'block', 'xml', 'vmmctl'},
}
UNRESTRICTED = {'tests'}
SOURCE_SUFFIXES = ('.cpp', '.h', '.cc', '.hpp', '.c')
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def is_build_dir(path):
    return os.path.exists(os.path.join(path, 'meson-private')) or \
        os.path.exists(os.path.join(path, 'build.ninja'))


def source_files(root):
    for top in sorted(os.listdir(root)):
        top_path = os.path.join(root, top)
        if top.startswith('.') or not os.path.isdir(top_path) or is_build_dir(top_path):
            continue
        for folder, dirs, files in os.walk(top_path):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.')
                             and not is_build_dir(os.path.join(folder, d)))
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    yield os.path.relpath(os.path.join(folder, name), root)


def exists_in_tree(root, include):
    # A generated header (configure_file) exists as its template.
    path = os.path.join(root, include)
    return os.path.isfile(path) or os.path.isfile(path + '.in')


def check_file(root, rel, problems):
    layer = rel.split(os.sep)[0]
    if layer not in LAYERS and layer not in UNRESTRICTED:
        problems.append('%s: C/C++ source outside every layer (add "%s" to LAYERS in %s)'
                        % (rel, layer, os.path.relpath(__file__, root)))
        return
    with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
        lines = f.read().splitlines()
    includes = []  # (line number, kind, name)
    for number, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if m:
            includes.append((number, m.group(1), m.group(2)))
    if layer in LAYERS:
        allowed = LAYERS[layer] | {layer}
        for number, kind, name in includes:
            if kind != '"':
                continue
            if not exists_in_tree(root, name):
                problems.append('%s:%d: #include "%s" does not name a file by its path from the '
                                'repository root' % (rel, number, name))
                continue
            target = name.split('/')[0]
            if target not in allowed:
                problems.append('%s:%d: layer %s may not include "%s" (layer %s); %s may use: %s'
                                % (rel, number, layer, name, target, layer,
                                   ', '.join(sorted(LAYERS[layer])) or 'nothing of ours'))
    stem, suffix = os.path.splitext(rel)
    own = stem + '.h'
    if suffix == '.cpp' and os.path.isfile(os.path.join(root, own)):
        own_name = own.replace(os.sep, '/')
        first = includes[0] if includes else None
        if first is None or first[1] != '"' or first[2] != own_name:
            where = '%s:%d' % (rel, first[0]) if first else rel
            problems.append('%s: the first #include must be its own header "%s"'
                            % (where, own_name))


def self_test():
    """The checker itself can fail: a small tree with one violation of each
    kind must produce exactly those problems."""
    import tempfile
    files = {
        'common/a.h': '#pragma once\n',
        'block/b.h': '#pragma once\n#include "common/a.h"\n',
        'block/b.cpp': '#include <cstdio>\n#include "block/b.h"\n',          # own header not first
        'block/c.cpp': '#include "hv/h.h"\n',                                # upward include
        'block/d.cpp': '#include "b.h"\n',                                   # relative include
        'hv/h.h': '#pragma once\n#include "block/b.h"\n#include "vmmctl/v.h"\n',
        'vmmctl/v.h': '#pragma once\n#include "hv/h.h"\n',                  # contract -> hv
        'stray/s.cpp': '\n',                                                 # no layer
        'tests/t.cpp': '#include "hv/h.h"\n#include "x.h"\n',                # anything goes
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), 'w') as f:
                f.write(text)
        problems = []
        for rel in source_files(root):
            check_file(root, rel, problems)
    expected = ['block/b.cpp:1: the first', 'block/c.cpp:1: layer block may not include',
                'block/d.cpp:1: #include "b.h" does not name', 'stray/s.cpp: C/C++ source outside',
                'vmmctl/v.h:2: layer vmmctl may not include']
    found = sorted(problems)
    ok = len(found) == len(expected) and all(p.startswith(e) for p, e in zip(found, expected))
    if not ok:
        print('layering self-test failed; got:\n  ' + '\n  '.join(found))
    return ok


def main(argv):
    if len(argv) != 2:
        print('usage: layering.py SOURCE_ROOT', file=sys.stderr)
        return 2
    if not self_test():
        return 1
    root = os.path.abspath(argv[1])
    problems = []
    count = 0
    for rel in source_files(root):
        count += 1
        check_file(root, rel, problems)
    for p in problems:
        print(p)
    print('layering: %d files, %d problems' % (count, len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
