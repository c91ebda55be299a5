#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Generator of the hostile qcow2 corpus (the checks of doc/qcow2-format.md section 10).

Every image starts as a valid image made by qemu-img/qemu-io and gets a few
byte patches; nothing binary is committed. `generate(outdir)` returns the
list of Case objects; running this file as a script writes the corpus into
the folder given and prints one line per case.

Case.mode says what the engine must do with it:
  open     `amber-img info` and a read both fail, naming the problem
  read     opening may work; reading the guest data fails, naming it
  bomb     a decompression bomb: fail naming compression, or read exactly
           what qemu-img reads, in bounded time
  corrupt  corrupt bit: read-only use works, a read-write open is refused
  overlap  refcounts claim metadata is free: a write must not overwrite it
  chain    a broken backing chain: plain `info` may work (qemu-img info does
           not open backing files), `info --backing-chain` and reads fail
Case.keywords is a regular expression (case-insensitive) that the error
line must match: the field or structure at fault.
"""

import os
import struct
import subprocess
import sys
import zlib

QEMU_IMG = os.environ.get("QEMU_IMG", "/usr/bin/qemu-img")
QEMU_IO = os.environ.get("QEMU_IO", "/usr/bin/qemu-io")

COPIED = 1 << 63
COMPRESSED = 1 << 62
OFFSET_MASK = 0x00FFFFFFFFFFFE00
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857


class Case:
    def __init__(self, name, group, path, mode, keywords):
        self.name, self.group, self.path, self.mode, self.keywords = name, group, path, mode, keywords

    def __repr__(self):
        return "%s [%s, %s] %s" % (self.name, self.group, self.mode, self.keywords)


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), proc.stderr))
    return proc


class Image:
    """A valid qcow2 image's bytes plus what its header says."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = bytearray(f.read())
        (self.magic, self.version, self.backing_offset, self.backing_size, self.cluster_bits,
         self.size, self.crypt, self.l1_size, self.l1_offset, self.rt_offset, self.rt_clusters,
         self.nb_snapshots, self.snapshots_offset) = struct.unpack_from(">IIQIIQIIQQIIQ", self.data)
        self.cluster = 1 << self.cluster_bits

    def u64(self, off):
        return struct.unpack_from(">Q", self.data, off)[0]

    def put(self, off, fmt, value):
        end = off + struct.calcsize(fmt)
        if end > len(self.data):
            self.data += bytes(end - len(self.data))
        struct.pack_into(fmt, self.data, off, value)
        return self

    def l2_offset(self):
        return self.u64(self.l1_offset) & OFFSET_MASK

    def append_sector_aligned(self, blob):
        pad = (-len(self.data)) % 512
        self.data += bytes(pad)
        start = len(self.data)
        self.data += blob + bytes((-len(blob)) % 512)
        return start

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.data)
        return path


def _compressible(size):
    out = bytearray()
    n = 0
    while len(out) < size:
        out += b"hostile corpus line %08d of compressible text\n" % n
        n += 1
    return bytes(out[:size])


def _zstd_rle_bomb(declared, blocks, byte=0x42):
    frame = bytearray(b"\x28\xb5\x2f\xfd")
    frame.append(0xE0)  # 8-byte frame content size, single segment
    frame += struct.pack("<Q", declared)
    for i in range(blocks):
        last = 1 if i == blocks - 1 else 0
        header = (128 * 1024) << 3 | (1 << 1) | last  # RLE block of 128 KiB
        frame += struct.pack("<I", header)[:3] + bytes([byte])
    return bytes(frame)


def make_bases(outdir):
    """The valid images the corpus patches (also the fuzzer's templates)."""
    os.makedirs(outdir, exist_ok=True)
    b = {}

    def create(name, *args, size="64M", writes=()):
        path = os.path.join(outdir, "_base_" + name + ".qcow2")
        _run([QEMU_IMG, "create", "-q", "-f", "qcow2"] + list(args) + [path] + ([size] if size else []))
        for w in writes:
            _run([QEMU_IO, "-f", "qcow2", "-c", w, path])
        b[name] = path
        return path

    create("plain", writes=["write -P 0xab 0 128k", "write -P 0xac 1M 64k"])
    backing = create("backing", writes=["write -P 0x11 0 64k"])
    create("overlay", "-b", os.path.basename(backing), "-F", "qcow2", size=None,
           writes=["write -P 0x22 64k 64k"])
    create("extl2", "-o", "extended_l2=on", writes=["write -P 0xab 0 64k"])
    create("snapshot", writes=["write -P 0xab 0 128k"])
    _run([QEMU_IMG, "snapshot", "-c", "snap1", b["snapshot"]])
    text = os.path.join(outdir, "_text.raw")
    with open(text, "wb") as f:
        f.write(_compressible(1 << 20))
    for ctype in ("zlib", "zstd"):
        path = os.path.join(outdir, "_base_compressed_%s.qcow2" % ctype)
        _run([QEMU_IMG, "convert", "-q", "-c", "-O", "qcow2", "-o", "compression_type=" + ctype,
              text, path])
        b["compressed_" + ctype] = path
    path = os.path.join(outdir, "_base_compressed_extl2.qcow2")
    _run([QEMU_IMG, "convert", "-q", "-c", "-O", "qcow2", "-o", "extended_l2=on", text, path])
    b["compressed_extl2"] = path
    return b


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    bases = make_bases(outdir)
    cases = []

    def case(name, group, mode, keywords, base, patch):
        img = Image(bases[base])
        patch(img)
        path = img.save(os.path.join(outdir, name + ".qcow2"))
        cases.append(Case(name, group, path, mode, keywords))

    # -- 1. header --------------------------------------------------------
    h = "header"
    case("bad_magic", h, "open", r"magic|not in qcow2 format", "plain",
         lambda i: i.put(0, ">I", 0x514649FC))
    case("version_4", h, "open", r"version", "plain", lambda i: i.put(4, ">I", 4))
    case("version_1", h, "open", r"version", "plain", lambda i: i.put(4, ">I", 1))
    for bits in (8, 22, 40):
        case("cluster_bits_%d" % bits, h, "open", r"cluster.?(size|bits)", "plain",
             lambda i, bits=bits: i.put(20, ">I", bits))
    for length in (100, 108, 0x20000):
        case("header_length_%d" % length, h, "open", r"header.?(length|size)", "plain",
             lambda i, length=length: i.put(100, ">I", length))
    case("refcount_order_7", h, "open", r"refcount", "plain", lambda i: i.put(96, ">I", 7))
    case("l1_size_huge", h, "open", r"l1", "plain", lambda i: i.put(36, ">I", 0x7FFFFFFF))
    case("l1_size_over_limit", h, "open", r"l1", "plain", lambda i: i.put(36, ">I", 4 * 1024 * 1024 + 1))
    case("l1_size_too_small", h, "open", r"l1", "plain", lambda i: i.put(36, ">I", 0))
    case("l1_offset_unaligned", h, "open", r"l1", "plain",
         lambda i: i.put(40, ">Q", i.l1_offset + 8))
    case("l1_offset_beyond_file", h, "open", r"l1", "plain", lambda i: i.put(40, ">Q", 1 << 40))
    case("l1_offset_overflow", h, "open", r"l1", "plain",
         lambda i: i.put(40, ">Q", 0xFFFFFFFFFFFF0000))
    case("refcount_table_beyond_file", h, "open", r"refcount", "plain",
         lambda i: i.put(48, ">Q", 1 << 40))
    case("refcount_table_unaligned", h, "open", r"refcount", "plain",
         lambda i: i.put(48, ">Q", i.rt_offset + 512))
    case("refcount_table_too_large", h, "open", r"refcount", "plain",
         lambda i: i.put(56, ">I", 0x10000000))
    case("unknown_incompatible_bit", h, "open", r"feature|incompatible", "plain",
         lambda i: i.put(72, ">Q", 1 << 20))
    case("compression_type_without_bit", h, "open", r"compression", "plain",
         lambda i: i.put(104, ">B", 1))
    case("compression_bit_without_type", h, "open", r"compression", "plain",
         lambda i: i.put(72, ">Q", 1 << 3))
    case("compression_type_unknown", h, "open", r"compression", "plain",
         lambda i: i.put(72, ">Q", 1 << 3).put(104, ">B", 2))
    case("crypt_method_3", h, "open", r"crypt|encrypt", "plain", lambda i: i.put(32, ">I", 3))
    case("virtual_size_huge", h, "open", r"size|l1", "plain", lambda i: i.put(24, ">Q", 1 << 62))

    # -- 2. header extensions ---------------------------------------------
    e = "extensions"
    case("extension_length_past_cluster", e, "open", r"extension", "plain",
         lambda i: i.put(116, ">I", 0x10000))
    case("extension_length_overflow", e, "open", r"extension", "plain",
         lambda i: i.put(116, ">I", 0xFFFFFFF8))

    # Two backing-format extensions are accepted, as by qemu-img (the last one
    # wins): tests/integration/block/test_img_behaviour.py covers it.
    case("feature_table_length_383", e, "open", r"feature", "plain",
         lambda i: i.put(116, ">I", 383))
    case("backing_file_offset_past_cluster", e, "open", r"backing", "overlay",
         lambda i: i.put(8, ">Q", i.cluster + 8))
    case("backing_name_2000", e, "open", r"backing", "overlay", lambda i: i.put(16, ">I", 2000))

    # -- 3/4. tables and entries --------------------------------------------
    t = "entries"
    case("l1_entry_reserved_bits", t, "read", r"l1|l2 table|reserved", "plain",
         lambda i: i.put(i.l1_offset, ">Q", i.u64(i.l1_offset) | (1 << 57)))
    case("l1_entry_unaligned", t, "read", r"l1|l2 table|align", "plain",
         lambda i: i.put(i.l1_offset, ">Q", i.u64(i.l1_offset) + 0x200))
    case("l1_entry_past_eof", t, "read", r"l1|l2 table|beyond|past|end of", "plain",
         lambda i: i.put(i.l1_offset, ">Q", COPIED | (1 << 40)))
    case("l2_entry_reserved_bits", t, "read", r"l2|reserved", "plain",
         lambda i: i.put(i.l2_offset(), ">Q", i.u64(i.l2_offset()) | (1 << 57)))
    case("l2_entry_unaligned", t, "read", r"l2|align", "plain",
         lambda i: i.put(i.l2_offset(), ">Q", i.u64(i.l2_offset()) + 0x200))
    case("l2_entry_past_eof", t, "read", r"l2|beyond|past|end of", "plain",
         lambda i: i.put(i.l2_offset(), ">Q", COPIED | (1 << 40)))

    def compressed_descriptor(i, offset, sectors=None):
        x = 62 - (i.cluster_bits - 8)
        old = i.u64(i.l2_offset())
        count = (old >> x) & ((1 << (62 - x)) - 1) if sectors is None else sectors
        i.put(i.l2_offset(), ">Q", COMPRESSED | (count << x) | offset)
    case("compressed_past_eof", t, "read", r"compress", "compressed_zlib",
         lambda i: compressed_descriptor(i, 1 << 40))
    case("compressed_offset_overflow", t, "read", r"compress", "compressed_zlib",
         lambda i: compressed_descriptor(i, (1 << 54) - 512))

    def deflate_bomb(i):
        c = zlib.compressobj(9, zlib.DEFLATED, -12)
        blob = c.compress(bytes(32 << 20)) + c.flush()
        start = i.append_sector_aligned(blob)
        compressed_descriptor(i, start, (len(blob) + 511) // 512 - 1)
    case("deflate_bomb", t, "bomb", r"compress|decompress", "compressed_zlib", deflate_bomb)

    def zstd_bomb(i):
        blob = _zstd_rle_bomb(1 << 34, 2048)
        start = i.append_sector_aligned(blob)
        compressed_descriptor(i, start, (len(blob) + 511) // 512 - 1)
    case("zstd_bomb", t, "bomb", r"compress|decompress|zstd", "compressed_zstd", zstd_bomb)
    case("extl2_alloc_zero_overlap", t, "read", r"l2|bitmap|subcluster", "extl2",
         lambda i: i.put(i.l2_offset() + 8, ">Q", i.u64(i.l2_offset() + 8) | (1 << 32)))

    case("extl2_compressed_bitmap_nonzero", t, "read", r"l2|bitmap|subcluster|compress",
         "compressed_extl2",
         lambda i: i.put(i.l2_offset() + 8, ">Q", 0x00000001))

    # -- 6. snapshots --------------------------------------------------------
    s = "snapshots"
    case("nb_snapshots_huge", s, "open", r"snapshot", "snapshot",
         lambda i: i.put(60, ">I", 0x7FFFFFFF))
    case("snapshot_table_beyond_eof", s, "open", r"snapshot", "snapshot",
         lambda i: i.put(64, ">Q", 1 << 40))
    case("snapshot_table_unaligned", s, "open", r"snapshot", "snapshot",
         lambda i: i.put(64, ">Q", i.snapshots_offset + 8))
    case("snapshot_id_length_past_table", s, "open", r"snapshot", "snapshot",
         lambda i: i.put(i.snapshots_offset + 12, ">H", 0xFFFF))
    case("snapshot_name_length_past_table", s, "open", r"snapshot", "snapshot",
         lambda i: i.put(i.snapshots_offset + 14, ">H", 0xFFFF))
    case("snapshot_l1_size_huge", s, "open", r"snapshot|l1", "snapshot",
         lambda i: i.put(i.snapshots_offset + 8, ">I", 0x7FFFFFFF))
    case("snapshot_extra_data_huge", s, "open", r"snapshot|extra", "snapshot",
         lambda i: i.put(i.snapshots_offset + 36, ">I", 0x100000))

    # -- 5. refcounts / corrupt bit -----------------------------------------
    r = "refcounts"
    case("corrupt_bit", r, "corrupt", r"corrupt", "plain", lambda i: i.put(72, ">Q", 1 << 1))

    def l1_cluster_free(i):
        block = i.u64(i.rt_offset) & OFFSET_MASK
        i.put(block + 2 * (i.l1_offset >> i.cluster_bits), ">H", 0)
    case("refcount_zero_for_l1", r, "overlap", r"overlap|corrupt|refcount|metadata", "plain",
         l1_cluster_free)

    # -- 7. chains -----------------------------------------------------------
    c = "chains"

    def chain_image(name, backing):
        path = os.path.join(outdir, name + ".qcow2")
        _run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "qcow2", path,
              "64M"])
        return path
    loop_a = chain_image("backing_loop_a", "backing_loop_b.qcow2")
    chain_image("backing_loop_b", "backing_loop_a.qcow2")
    cases.append(Case("backing_loop", c, loop_a, "chain",
                      r"loop|chain|depth|circular|recurs|too (deep|long)|itself", ))

    self_ref = Image(chain_image("backing_self_tmp", "x" * len("backing_self.qcow2")))
    name_at = self_ref.backing_offset
    self_ref.data[name_at:name_at + self_ref.backing_size] = b"backing_self.qcow2"
    cases.append(Case("backing_self", c, self_ref.save(os.path.join(outdir, "backing_self.qcow2")),
                      "chain", r"loop|chain|depth|circular|recurs|too (deep|long)|itself|same"))
    cases.append(Case("backing_missing", c, chain_image("backing_missing", "no_such_base.qcow2"),
                      "chain", r"backing|no such file|not found"))
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: qcow2_corpus.py OUTDIR")
    for item in generate(sys.argv[1]):
        print(item.path, item)
