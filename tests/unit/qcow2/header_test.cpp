// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/header.h"

#include <gtest/gtest.h>

#include <functional>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

// A valid 1 GiB v3 image's first bytes (what create() writes).
std::vector<uint8_t> good_header(uint64_t file_size = 4 << 16) {
  Header h;
  h.size = 1 << 30;
  h.l1_size = 2;
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  h.has_feature_table = true;
  h.feature_names = default_feature_names();
  auto bytes = serialize_header(h);
  EXPECT_TRUE(bytes.ok());
  std::vector<uint8_t> out = *bytes;
  out.resize(file_size, 0);
  return out;
}

struct BadHeader {
  const char* name;
  std::function<void(std::vector<uint8_t>&)> mutate;
  const char* expected;  // substring of the error
};

TEST(Qcow2Header, GoodHeaderParses) {
  auto bytes = good_header();
  auto h = parse_header(bytes, bytes.size());
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ(h->cluster_bits, 16u);
  EXPECT_EQ(h->header_length, 112u);
  EXPECT_EQ(h->feature_names.size(), 8u);
}

TEST(Qcow2Header, BadHeadersAreRefusedWithTheField) {
  const std::vector<BadHeader> cases = {
      {"magic", [](auto& b) { store_be32(b.data(), 0x12345678); }, "Image is not in qcow2 format"},
      {"version", [](auto& b) { store_be32(b.data() + 4, 4); }, "version 4"},
      {"cluster_bits high", [](auto& b) { store_be32(b.data() + 20, 33); },
       "cluster_bits 33 out of range 9..21"},
      {"cluster_bits low", [](auto& b) { store_be32(b.data() + 20, 8); },
       "cluster_bits 8 out of range 9..21"},
      {"refcount_order", [](auto& b) { store_be32(b.data() + 96, 7); }, "refcount_order 7"},
      {"header_length", [](auto& b) { store_be32(b.data() + 100, 100); }, "header_length 100"},
      {"header_length unaligned", [](auto& b) { store_be32(b.data() + 100, 108); },
       "header_length 108"},
      {"crypt_method", [](auto& b) { store_be32(b.data() + 32, 3); }, "crypt_method 3"},
      {"unknown incompatible", [](auto& b) { store_be64(b.data() + 72, 1ull << 9); },
       "unknown incompatible feature bit 9"},
      {"compression bit without type", [](auto& b) { store_be64(b.data() + 72, 1ull << 3); },
       "compression_type 0"},
      {"compression type", [](auto& b) { b[104] = 2; }, "compression_type 2"},
      {"l1 unaligned", [](auto& b) { store_be64(b.data() + 40, 0x30200); },
       "l1_table offset 0x30200 is not cluster aligned"},
      {"l1 too small", [](auto& b) { store_be32(b.data() + 36, 1); }, "l1_size 1 too small"},
      {"l1 huge", [](auto& b) { store_be32(b.data() + 36, 0x10000000); }, "l1_size 268435456"},
      {"l1 beyond file", [](auto& b) { store_be64(b.data() + 40, 0x100000); },
       "beyond the end of the file"},
      {"reftable clusters", [](auto& b) { store_be32(b.data() + 56, 0x1000); },
       "refcount_table_clusters 4096"},
      {"reftable zero", [](auto& b) { store_be32(b.data() + 56, 0); }, "refcount_table_clusters 0"},
      {"snapshots", [](auto& b) { store_be32(b.data() + 60, 70000); }, "nb_snapshots 70000"},
      {"backing offset",
       [](auto& b) {
         store_be64(b.data() + 8, 0x20000);
         store_be32(b.data() + 16, 4);
       },
       "backing_file_offset 0x20000"},
      {"backing size",
       [](auto& b) {
         store_be64(b.data() + 8, 0x300);
         store_be32(b.data() + 16, 2000);
       },
       "backing_file_size 2000"},
      {"extension overrun", [](auto& b) { store_be32(b.data() + 112 + 4, 0x7fffffff); },
       "runs past"},
      {"feature table length", [](auto& b) { store_be32(b.data() + 112 + 4, 47); },
       "not a multiple of 48"},
      {"ext l2 small clusters",
       [](auto& b) {
         store_be64(b.data() + 72, 1ull << 4);
         store_be32(b.data() + 20, 12);
       },
       "too small for extended L2"},
  };
  for (const auto& c : cases) {
    auto bytes = good_header();
    c.mutate(bytes);
    auto h = parse_header(bytes, bytes.size());
    ASSERT_FALSE(h.ok()) << c.name;
    EXPECT_NE(h.error().message().find(c.expected), std::string::npos)
        << c.name << ": " << h.error().message();
  }
}

TEST(Qcow2Header, UnknownIncompatibleBitUsesFeatureTableName) {
  Header h;
  h.size = 1 << 20;
  h.l1_size = 1;
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  h.has_feature_table = true;
  h.feature_names = default_feature_names();
  h.feature_names.push_back({0, 7, "shiny new thing"});
  h.incompatible_features = 1ull << 7;
  auto bytes = *serialize_header(h);
  bytes.resize(4 << 16);
  auto parsed = parse_header(bytes, bytes.size());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().kind(), ErrorKind::kUnsupported);
  EXPECT_NE(parsed.error().message().find("shiny new thing"), std::string::npos);
}

TEST(Qcow2Header, UnknownExtensionsSurviveRewrite) {
  Header h;
  h.size = 1 << 20;
  h.l1_size = 1;
  h.l1_table_offset = 3 << 16;
  h.refcount_table_offset = 1 << 16;
  h.refcount_table_clusters = 1;
  h.backing_file = "base.img";
  h.backing_format = "raw";
  h.other_extensions.push_back({0x12345678, {1, 2, 3}});
  auto bytes = *serialize_header(h);
  bytes.resize(4 << 16);
  auto parsed = parse_header(bytes, bytes.size());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  ASSERT_EQ(parsed->other_extensions.size(), 1u);
  EXPECT_EQ(parsed->other_extensions[0].type, 0x12345678u);
  EXPECT_EQ(parsed->other_extensions[0].data, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(parsed->backing_file, "base.img");
  EXPECT_EQ(parsed->backing_format, "raw");
}

TEST(Qcow2Header, CorruptBitOpensReadOnlyOnly) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 20)).ok());
  uint8_t b[8];
  store_be64(b, kIncompatCorrupt);
  ASSERT_TRUE(io::write_exact(*mem.file, 72, b, 8).ok());
  OpenOptions rw;
  rw.access = io::Access::kReadWrite;
  auto image = open_on_file(mem.handle(), rw, 0);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.error().kind(), ErrorKind::kReadOnly);
  EXPECT_NE(image.error().message().find("corrupt bit"), std::string::npos);
  EXPECT_TRUE(open_on_file(mem.handle(), OpenOptions{}, 0).ok());
}

// A read-only open reads the refcount table only when a refcount is asked
// (pool refreshes open hundreds of images); a writer still validates it
// at open. A bad entry is an error for the writer, not for a reader.
TEST(Qcow2Header, RefcountTableIsValidatedAtOpenOnlyForWriters) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 20)).ok());
  uint8_t b[8];
  ASSERT_TRUE(io::read_exact(*mem.file, 48, b, 8).ok());  // refcount_table_offset
  uint64_t table = 0;
  for (uint8_t byte : b) table = table << 8 | byte;
  store_be64(b, 0x10001);  // not cluster aligned
  ASSERT_TRUE(io::write_exact(*mem.file, table, b, 8).ok());
  OpenOptions rw;
  rw.access = io::Access::kReadWrite;
  auto writer = open_on_file(mem.handle(), rw, 0);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(writer.error().message().find("refcount table entry 0"), std::string::npos)
      << writer.error().message();
  auto reader = open_on_file(mem.handle(), OpenOptions{}, 0);
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  std::vector<std::byte> data(4096, std::byte{1});
  ASSERT_TRUE((*reader)->read(0, data).ok());
  EXPECT_EQ(data[0], std::byte{0});
}

// read_header reads the first 4 KiB and the whole first cluster only
// when the header reaches past it: a backing file name at 40 KiB is read.
TEST(Qcow2Header, BackingNameBeyondTheFirstFourKiBIsRead) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 20)).ok());
  const std::string name = "far-away-base.qcow2";
  ASSERT_TRUE(io::write_exact(*mem.file, 40960, name.data(), name.size()).ok());
  uint8_t b[8];
  store_be64(b, 40960);
  ASSERT_TRUE(io::write_exact(*mem.file, 8, b, 8).ok());
  const uint32_t size_be = __builtin_bswap32(static_cast<uint32_t>(name.size()));
  ASSERT_TRUE(io::write_exact(*mem.file, 16, &size_be, 4).ok());
  auto header = read_header(*mem.file);
  ASSERT_TRUE(header.ok()) << header.error().message();
  EXPECT_EQ(header->backing_file, name);
}

// Legacy AES opens, but I/O needs the key (qemu-img's words); the data file
// bit without the data file's name gets QEMU's "'data-file' is required".
TEST(Qcow2Header, LegacyAesNeedsKeyAndDataFileRefused) {
  for (int which = 0; which < 2; ++which) {
    test::SharedMemory mem;
    ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 20)).ok());
    uint8_t b[8];
    if (which == 0) {
      store_be32(b, 1);
      ASSERT_TRUE(io::write_exact(*mem.file, 32, b, 4).ok());
    } else {
      store_be64(b, kIncompatDataFile);
      ASSERT_TRUE(io::write_exact(*mem.file, 72, b, 8).ok());
    }
    auto image = open_on_file(mem.handle(), OpenOptions{}, 0);
    ASSERT_FALSE(image.ok());
    EXPECT_EQ(image.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(image.error().message().find(which == 0 ? "encrypt.key-secret' is required"
                                                      : "'data-file' is required for this image"),
              std::string::npos);
  }
}

TEST(Qcow2Header, LuksWithoutItsHeaderExtensionIsCorrupt) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 20)).ok());
  uint8_t b[4];
  store_be32(b, 2);
  ASSERT_TRUE(io::write_exact(*mem.file, 32, b, 4).ok());
  auto image = open_on_file(mem.handle(), OpenOptions{}, 0);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(image.error().message().find("encryption header extension is missing"),
            std::string::npos);
}

TEST(Qcow2Create, OptionValidationUsesQemuWording) {
  auto o = test::qcow2_options(1 << 20);
  o.version = 2;
  o.lazy_refcounts = true;
  EXPECT_EQ(validate_create_options(o).error().message().find(
                "Lazy refcounts only supported with compatibility level 1.1 and above"),
            0u);
  o = test::qcow2_options(1 << 20);
  o.cluster_size = 3000;
  EXPECT_FALSE(validate_create_options(o).ok());
  o = test::qcow2_options(1 << 20);
  o.extended_l2 = true;
  o.cluster_size = 4096;
  EXPECT_NE(validate_create_options(o).error().message().find("16384"), std::string::npos);
  o = test::qcow2_options(1 << 20);
  o.refcount_bits = 3;
  EXPECT_FALSE(validate_create_options(o).ok());
  o = test::qcow2_options(1 << 20);
  o.version = 2;
  o.compression = CompressionType::kZstd;
  EXPECT_FALSE(validate_create_options(o).ok());
  o = test::qcow2_options(1 << 20);
  o.size.reset();
  EXPECT_FALSE(validate_create_options(o).ok());
}

TEST(Qcow2Create, LayoutMatchesQemu) {
  test::SharedMemory mem;
  ASSERT_TRUE(create_on_file(*mem.file, test::qcow2_options(1 << 30)).ok());
  EXPECT_EQ(*mem.file->size(), 196624u);  // 3 clusters + a 16-byte L1, not padded
  auto h = read_header(*mem.file);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->refcount_table_offset, 0x10000u);
  EXPECT_EQ(h->l1_table_offset, 0x30000u);
  EXPECT_EQ(h->l1_size, 2u);
  EXPECT_EQ(h->header_length, 112u);
  EXPECT_TRUE(h->has_feature_table);
}

}  // namespace
}  // namespace amber::block::qcow2
