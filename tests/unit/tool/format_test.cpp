// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for amber-img's output formatting, against text captured from
// qemu-img 7.2.
#include "block/tool/format.h"

#include <gtest/gtest.h>

namespace amber::block::tool {
namespace {

TEST(HumanSize, QemuStyle) {
  EXPECT_EQ(format_human_size(0), "0 B");
  EXPECT_EQ(format_human_size(512), "512 B");
  EXPECT_EQ(format_human_size(999), "999 B");
  EXPECT_EQ(format_human_size(1000), "0.977 KiB");
  EXPECT_EQ(format_human_size(4096), "4 KiB");
  EXPECT_EQ(format_human_size(200704), "196 KiB");
  EXPECT_EQ(format_human_size(413696), "404 KiB");
  EXPECT_EQ(format_human_size(1572864), "1.5 MiB");
  EXPECT_EQ(format_human_size(1073741824), "1 GiB");
  EXPECT_EQ(format_human_size(1610612736), "1.5 GiB");
  EXPECT_EQ(format_human_size(1ull << 60), "1 EiB");
  EXPECT_EQ(format_human_size(1047552), "0.999 MiB");
}

ImageInfo default_qcow2() {
  ImageInfo info;
  info.filename = "t1.qcow2";
  info.format = ImageFormat::kQcow2;
  info.virtual_size = 1073741824;
  info.actual_size = 200704;
  info.cluster_size = 65536;
  info.qcow2 = Qcow2Info{};
  return info;
}

TEST(InfoJson, DefaultQcow2) {
  EXPECT_EQ(to_pretty_json(info_to_json(default_qcow2())),
            R"({
    "virtual-size": 1073741824,
    "filename": "t1.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {
        "type": "qcow2",
        "data": {
            "compat": "1.1",
            "compression-type": "zlib",
            "lazy-refcounts": false,
            "refcount-bits": 16,
            "corrupt": false,
            "extended-l2": false
        }
    },
    "dirty-flag": false
})");
}

TEST(InfoJson, BackingKeysOrder) {
  ImageInfo info = default_qcow2();
  info.qcow2->version = 2;
  info.backing_filename = "a.qcow2";
  info.full_backing_filename = "/x/a.qcow2";
  info.backing_format = "qcow2";
  EXPECT_EQ(to_pretty_json(info_to_json(info)),
            R"({
    "backing-filename-format": "qcow2",
    "virtual-size": 1073741824,
    "filename": "t1.qcow2",
    "cluster-size": 65536,
    "format": "qcow2",
    "actual-size": 200704,
    "format-specific": {
        "type": "qcow2",
        "data": {
            "compat": "0.10",
            "compression-type": "zlib",
            "refcount-bits": 16
        }
    },
    "full-backing-filename": "/x/a.qcow2",
    "backing-filename": "a.qcow2",
    "dirty-flag": false
})");
}

TEST(InfoHuman, RawAndQcow2) {
  ImageInfo raw;
  raw.filename = "r.raw";
  raw.virtual_size = 1572864;
  raw.actual_size = 4096;
  EXPECT_EQ(info_to_human(raw),
            "image: r.raw\nfile format: raw\nvirtual size: 1.5 MiB (1572864 bytes)\n"
            "disk size: 4 KiB\n");
  ImageInfo q = default_qcow2();
  q.backing_filename = "a.qcow2";
  q.full_backing_filename = "sub/a.qcow2";
  q.backing_format = "qcow2";
  EXPECT_EQ(info_to_human(q),
            "image: t1.qcow2\nfile format: qcow2\nvirtual size: 1 GiB (1073741824 bytes)\n"
            "disk size: 196 KiB\ncluster_size: 65536\n"
            "backing file: a.qcow2 (actual path: sub/a.qcow2)\nbacking file format: qcow2\n"
            "Format specific information:\n    compat: 1.1\n    compression type: zlib\n"
            "    lazy refcounts: false\n    refcount bits: 16\n    corrupt: false\n"
            "    extended l2: false\n");
}

TEST(SnapshotTable, Header) {
  EXPECT_EQ(snapshot_table_header(),
            "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT");
}

TEST(JsonEscape, Specials) {
  EXPECT_EQ(json_escape("a\"b\\c\n/"), "a\\\"b\\\\c\\n/");
  EXPECT_EQ(json_escape(std::string("\x01", 1)), "\\u0001");
}

// qemu-img 7.2 output for "x\x01\xc3\xa9\x7f.qcow2": code points from
// 0x7F as upper-case \uXXXX; invalid UTF-8 becomes U+FFFD; past the BMP a
// surrogate pair.
TEST(JsonEscape, Utf8AsQemu) {
  EXPECT_EQ(json_escape("x\x01\xc3\xa9\x7f.qcow2"), "x\\u0001\\u00E9\\u007F.qcow2");
  EXPECT_EQ(json_escape("a\xff"
                        "b"),
            "a\\uFFFDb");
  EXPECT_EQ(json_escape("\xf0\x9f\x98\x80"), "\\uD83D\\uDE00");
  EXPECT_EQ(json_escape("\xc3"), "\\uFFFD");  // truncated sequence
}

TEST(PrettyJson, EmptyListAndExact64Bit) {
  Json value = Json::object();
  value["flags"] = Json::array();
  value["max"] = UINT64_MAX;
  value["min"] = INT64_MIN;
  EXPECT_EQ(to_pretty_json(value),
            "{\n    \"flags\": [\n    ],\n    \"max\": 18446744073709551615,\n"
            "    \"min\": -9223372036854775808\n}");
}

TEST(InfoHuman, Bitmaps) {
  ImageInfo info = default_qcow2();
  info.qcow2->bitmaps.push_back({"b1", 65536, false, true});
  info.qcow2->bitmaps.push_back({"zz2", 1048576, true, false});
  const std::string human = info_to_human(info);
  EXPECT_NE(human.find("    lazy refcounts: false\n"
                       "    bitmaps:\n"
                       "        [0]:\n"
                       "            flags:\n"
                       "                [0]: auto\n"
                       "            name: b1\n"
                       "            granularity: 65536\n"
                       "        [1]:\n"
                       "            flags:\n"
                       "                [0]: in-use\n"
                       "            name: zz2\n"
                       "            granularity: 1048576\n"
                       "    refcount bits: 16\n"),
            std::string::npos)
      << human;
}

CheckReport sample_report() {
  CheckReport r;
  r.filename = "leak.qcow2";
  r.format = "qcow2";
  r.image_end_offset = 589824;
  r.total_clusters = 256;
  r.allocated_clusters = 5;
  r.fragmented_clusters = 4;
  r.compressed_clusters = 2;
  return r;
}

TEST(CheckOutput, CleanHuman) {
  CheckReport r = sample_report();
  EXPECT_EQ(check_to_human(r),
            "No errors were found on the image.\n"
            "5/256 = 1.95% allocated, 80.00% fragmented, 40.00% compressed clusters\n"
            "Image end offset: 589824\n");
  EXPECT_EQ(check_exit_code(r), 0);
  CheckReport empty;
  empty.image_end_offset = 262144;
  empty.total_clusters = 16384;
  EXPECT_EQ(check_to_human(empty),
            "No errors were found on the image.\nImage end offset: 262144\n");
}

TEST(CheckOutput, ErrorsHumanAndJson) {
  CheckReport r = sample_report();
  r.corruptions = 1;
  r.leaks = 1;
  EXPECT_EQ(check_to_human(r),
            "\n1 errors were found on the image.\n"
            "Data may be corrupted, or further writes to the image may corrupt it.\n"
            "\n1 leaked clusters were found on the image.\n"
            "This means waste of disk space, but no harm to data.\n"
            "5/256 = 1.95% allocated, 80.00% fragmented, 40.00% compressed clusters\n"
            "Image end offset: 589824\n");
  EXPECT_EQ(check_exit_code(r), 2);
  EXPECT_EQ(to_pretty_json(check_to_json(r)),
            R"({
    "image-end-offset": 589824,
    "compressed-clusters": 2,
    "total-clusters": 256,
    "corruptions": 1,
    "check-errors": 0,
    "leaks": 1,
    "allocated-clusters": 5,
    "filename": "leak.qcow2",
    "format": "qcow2",
    "fragmented-clusters": 4
})");
  r.corruptions = 0;
  EXPECT_EQ(check_exit_code(r), 3);
  r.check_errors = 1;
  EXPECT_EQ(check_exit_code(r), 1);
}

TEST(CheckOutput, Repaired) {
  CheckReport r = sample_report();
  r.leaks_fixed = 3;
  r.corruptions_fixed = 1;
  EXPECT_EQ(check_to_human(r),
            "The following inconsistencies were found and repaired:\n\n    3 leaked clusters\n"
            "    1 corruptions\n\nDouble checking the fixed image now...\n"
            "No errors were found on the image.\n"
            "5/256 = 1.95% allocated, 80.00% fragmented, 40.00% compressed clusters\n"
            "Image end offset: 589824\n");
}

TEST(MapOutput, JsonAndHuman) {
  MapEntry e{0, 65536, 0, true, false, true, 327680, "t.qcow2"};
  EXPECT_EQ(
      map_entry_json(e),
      R"({ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680})");
  EXPECT_EQ(map_entry_human(e), "0               0x10000         0x50000         t.qcow2");
  MapEntry hole{65536, 983040, 1, false, true, false, std::nullopt, ""};
  EXPECT_EQ(
      map_entry_json(hole),
      R"({ "start": 65536, "length": 983040, "depth": 1, "present": false, "zero": true, "data": false})");
  EXPECT_EQ(map_entry_human(hole), "");
}

TEST(MapOutput, Merging) {
  MapEntry a{0, 65536, 0, true, false, true, 327680, "t"};
  MapEntry b{65536, 65536, 0, true, false, true, 393216, "t"};
  EXPECT_TRUE(map_entries_mergeable(a, b));
  b.offset = 524288;
  EXPECT_FALSE(map_entries_mergeable(a, b));
  MapEntry z1{0, 4096, 1, false, true, false, std::nullopt, ""};
  MapEntry z2{4096, 4096, 1, false, true, false, std::nullopt, ""};
  EXPECT_TRUE(map_entries_mergeable(z1, z2));
  z2.depth = 0;
  EXPECT_FALSE(map_entries_mergeable(z1, z2));
}

}  // namespace
}  // namespace amber::block::tool
