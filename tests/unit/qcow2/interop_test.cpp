// SPDX-License-Identifier: GPL-2.0-or-later
// Tests on real files, checked with qemu-img / qemu-io where installed.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "block/create.h"
#include "block/qcow2/image.h"
#include "test_util.h"

namespace amber::block::qcow2 {
namespace {

using test::pattern;
using test::run;

#define REQUIRE_QEMU_IMG() \
  if (!test::have_qemu_img()) GTEST_SKIP() << "qemu-img not installed"

std::unique_ptr<Image> open_rw(const std::string& path) {
  OpenOptions o;
  o.access = io::Access::kReadWrite;
  auto image = open_image(path, o);
  EXPECT_TRUE(image.ok()) << image.error().message();
  return image.ok() ? std::move(*image) : nullptr;
}

// Applies the same writes to a raw file for `qemu-img compare`.
void raw_write(const std::string& raw, uint64_t offset, const std::vector<std::byte>& data) {
  std::fstream f(raw, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

TEST(Qcow2Interop, CreatedAndWrittenImagesPassQemuCheck) {
  REQUIRE_QEMU_IMG();
  test::TempDir dir;
  struct Variant {
    const char* name;
    unsigned version;
    uint64_t cluster;
    bool ext;
    unsigned rb;
  };
  for (const Variant& v :
       {Variant{"v3", 3, 65536, false, 16}, Variant{"v2", 2, 65536, false, 16},
        Variant{"ext", 3, 65536, true, 16}, Variant{"small", 3, 512, false, 16},
        Variant{"rb1", 3, 4096, false, 1}, Variant{"rb64", 3, 2 << 20, false, 64}}) {
    const std::string img = dir.path + "/" + v.name + ".qcow2";
    const std::string raw = dir.path + "/" + v.name + ".raw";
    auto o = test::qcow2_options(32 << 20);
    o.version = v.version;
    o.cluster_size = v.cluster;
    o.extended_l2 = v.ext;
    o.refcount_bits = v.rb;
    ASSERT_TRUE(create_image(img, o).ok()) << v.name;
    ASSERT_EQ(run("qemu-img check -q " + img), 0) << v.name;
    ASSERT_EQ(run("truncate -s 32M " + raw), 0);
    auto image = open_rw(img);
    ASSERT_TRUE(image);
    for (int i = 0; i < 30; ++i) {
      const uint64_t off =
          (static_cast<uint64_t>(i) * 7919 * 512) % ((32 << 20) - 200000) / 512 * 512;
      auto data = pattern(512 * (1 + i * 13 % 300), static_cast<uint8_t>(i + 1));
      ASSERT_TRUE(image->write(off, data).ok());
      raw_write(raw, off, data);
    }
    ASSERT_TRUE(image->discard(4 << 20, 1 << 20).ok());
    raw_write(raw, 4 << 20, std::vector<std::byte>(1 << 20));
    ASSERT_TRUE(image->close().ok());
    image.reset();
    std::string out;
    EXPECT_EQ(run("qemu-img check " + img, &out), 0) << v.name << ": " << out;
    EXPECT_EQ(run("qemu-img compare -f qcow2 -F raw " + img + " " + raw, &out), 0)
        << v.name << ": " << out;
  }
}

TEST(Qcow2Interop, OverlayCowAndSubclusters) {
  REQUIRE_QEMU_IMG();
  test::TempDir dir;
  const std::string base = dir.path + "/base.qcow2";
  ASSERT_EQ(run("qemu-img create -q -f qcow2 " + base + " 8M && qemu-io -c 'write -P 0x5a 0 8M' " +
                base + " >/dev/null"),
            0);
  for (bool ext : {false, true}) {
    const std::string top = dir.path + (ext ? "/top-ext.qcow2" : "/top.qcow2");
    auto o = test::qcow2_options(8 << 20);
    o.size.reset();                 // from the backing file
    o.backing_file = "base.qcow2";  // relative to the overlay's folder
    o.backing_format = ImageFormat::kQcow2;
    o.extended_l2 = ext;
    ASSERT_TRUE(create_image(top, o).ok());
    std::ifstream f(top, std::ios::binary | std::ios::ate);
    EXPECT_LT(static_cast<uint64_t>(f.tellg()), 1u << 20);  // linked clone under 1 MB
    auto image = open_rw(top);
    ASSERT_TRUE(image);
    EXPECT_EQ(image->size(), 8u << 20);
    auto data = pattern(4096, 1);
    ASSERT_TRUE(image->write(65536 + 4096, data).ok());
    std::vector<std::byte> buf(65536);
    ASSERT_TRUE(image->read(65536, buf).ok());
    for (size_t i = 0; i < buf.size(); ++i) {
      const std::byte want = (i >= 4096 && i < 8192) ? data[i - 4096] : std::byte{0x5a};
      ASSERT_EQ(buf[i], want) << i;
    }
    auto* q = static_cast<Qcow2Image*>(image.get());
    auto m = q->lookup(65536, 65536);
    ASSERT_TRUE(m.ok());
    // With subclusters only the touched 2 KiB subclusters are allocated.
    EXPECT_EQ(m->kind, ext ? MapKind::kUnallocated : MapKind::kData);
    auto st = image->block_status(0, 65536);
    EXPECT_EQ(st->depth, 1u);
    EXPECT_TRUE(st->present);
    ASSERT_TRUE(image->discard(3 << 20, 1 << 20).ok());  // zero flag over the backing data
    ASSERT_TRUE(image->read(3 << 20, buf).ok());
    EXPECT_EQ(buf, std::vector<std::byte>(65536));
    ASSERT_TRUE(image->close().ok());
    image.reset();
    std::string out;
    EXPECT_EQ(run("qemu-img check " + top, &out), 0) << out;
    EXPECT_EQ(run("qemu-io -f qcow2 -c 'read -P 0x5a 0 64k' -c 'read -P 0 3M 1M' " + top +
                      " | grep -c 'read'",
                  &out),
              0)
        << out;
  }
}

TEST(Qcow2Interop, SnapshotSharedClustersAreCopiedOnWrite) {
  REQUIRE_QEMU_IMG();
  test::TempDir dir;
  const std::string img = dir.path + "/snap.qcow2";
  ASSERT_EQ(run("qemu-img create -q -f qcow2 " + img + " 4M && qemu-io -c 'write -P 0x11 0 4M' " +
                img + " >/dev/null && qemu-img snapshot -c s1 " + img),
            0);
  {
    auto image = open_rw(img);
    ASSERT_TRUE(image);
    auto info = image->info();
    ASSERT_EQ(info->snapshots.size(), 1u);
    EXPECT_EQ(info->snapshots[0].name, "s1");
    ASSERT_TRUE(image->write(4096, pattern(4096, 3)).ok());
    ASSERT_TRUE(image->write(2 << 20, pattern(65536, 4)).ok());
    ASSERT_TRUE(image->discard(1 << 20, 65536).ok());
    ASSERT_TRUE(image->close().ok());
  }
  std::string out;
  EXPECT_EQ(run("qemu-img check " + img, &out), 0) << out;
  EXPECT_EQ(run("qemu-img convert -O raw -l s1 " + img + " " + dir.path +
                    "/s1.raw && "
                    "qemu-io -f raw -c 'read -P 0x11 0 4M' " +
                    dir.path + "/s1.raw | grep -q '^read'",
                &out),
            0)
      << out;
}

TEST(Qcow2Interop, DeepChainReadsFallThrough) {
  REQUIRE_QEMU_IMG();
  test::TempDir dir;
  std::string prev = dir.path + "/l0.qcow2";
  ASSERT_TRUE(create_image(prev, test::qcow2_options(4 << 20)).ok());
  for (int i = 1; i <= 20; ++i) {
    const std::string cur = dir.path + "/l" + std::to_string(i) + ".qcow2";
    auto o = test::qcow2_options(4 << 20);
    o.backing_file = prev;
    o.backing_format = ImageFormat::kQcow2;
    ASSERT_TRUE(create_image(cur, o).ok());
    auto image = open_rw(cur);
    ASSERT_TRUE(image);
    ASSERT_TRUE(image->write(i * 65536ull, pattern(512, static_cast<uint8_t>(i))).ok());
    ASSERT_TRUE(image->close().ok());
    prev = cur;
  }
  auto top = open_image(prev, OpenOptions{});
  ASSERT_TRUE(top.ok()) << top.error().message();
  for (int i = 1; i <= 20; ++i) {
    std::vector<std::byte> buf(512);
    ASSERT_TRUE((*top)->read(i * 65536ull, buf).ok());
    EXPECT_EQ(buf, pattern(512, static_cast<uint8_t>(i)));
  }
  auto st = (*top)->block_status(21 * 65536ull, 1 << 20);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->present);
  EXPECT_EQ(st->depth, 20u);
  EXPECT_GE(st->length, 1u << 20);
}

}  // namespace
}  // namespace amber::block::qcow2

namespace amber::block::qcow2 {
namespace {

TEST(Qcow2Interop, ConcurrentAllocatingWritesIntoOverlay) {
  test::TempDir dir;
  const std::string base = dir.path + "/base.qcow2";
  {
    ASSERT_TRUE(create_image(base, test::qcow2_options(16 << 20)).ok());
    auto b = open_rw(base);
    ASSERT_TRUE(b->write(0, pattern(16 << 20, 1)).ok());
    ASSERT_TRUE(b->close().ok());
  }
  for (bool ext : {false, true}) {
    const std::string top = dir.path + (ext ? "/ext.qcow2" : "/std.qcow2");
    auto o = test::qcow2_options(16 << 20);
    o.backing_file = "base.qcow2";
    o.backing_format = ImageFormat::kQcow2;
    o.extended_l2 = ext;
    ASSERT_TRUE(create_image(top, o).ok());
    auto image = open_rw(top);
    ASSERT_TRUE(image);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 64; ++i) {
          // 4 KiB pieces; the threads interleave inside the same clusters.
          const uint64_t off = (static_cast<uint64_t>(i) * 16 + t * 4 + 1) * 4096;
          EXPECT_TRUE(image->write(off, pattern(4096, static_cast<uint8_t>(100 + t))).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
    const auto base_data = pattern(16 << 20, 1);
    std::vector<std::byte> all(4 << 20);
    ASSERT_TRUE(image->read(0, all).ok());
    for (uint64_t block = 0; block < all.size() / 4096; ++block) {
      const uint64_t rem = block % 16;
      std::vector<std::byte> want;
      if (rem % 4 == 1) {
        want = pattern(4096, static_cast<uint8_t>(100 + rem / 4));
      } else {
        want.assign(base_data.begin() + block * 4096, base_data.begin() + (block + 1) * 4096);
      }
      ASSERT_TRUE(std::equal(want.begin(), want.end(), all.begin() + block * 4096))
          << (ext ? "ext " : "std ") << "block " << block;
    }
    ASSERT_TRUE(image->close().ok());
    image.reset();
    if (test::have_qemu_img()) {
      std::string out;
      EXPECT_EQ(run("qemu-img check " + top, &out), 0) << out;
    }
  }
}

}  // namespace
}  // namespace amber::block::qcow2

namespace amber::block::qcow2 {
namespace {

TEST(Qcow2Interop, BackingChainLoopIsRefused) {
  test::TempDir dir;
  const std::string a = dir.path + "/a.qcow2", b = dir.path + "/b.qcow2";
  auto o = test::qcow2_options(1 << 20);
  o.backing_check = BackingMode::kNone;
  o.backing_format = ImageFormat::kQcow2;
  o.backing_file = "b.qcow2";
  ASSERT_TRUE(create_image(a, o).ok());
  o.backing_file = "a.qcow2";
  ASSERT_TRUE(create_image(b, o).ok());
  OpenOptions ro;
  ro.max_chain_depth = 16;
  auto image = open_image(a, ro);
  EXPECT_FALSE(image.ok());
  o.backing_file = "self.qcow2";
  ASSERT_TRUE(create_image(dir.path + "/self.qcow2", o).ok());
  EXPECT_FALSE(open_image(dir.path + "/self.qcow2", ro).ok());
}

TEST(Qcow2Interop, ZeroesOverBackingAndBeyondBackingEnd) {
  test::TempDir dir;
  const std::string base = dir.path + "/base.qcow2";
  ASSERT_TRUE(create_image(base, test::qcow2_options(2 << 20)).ok());
  {
    auto b = open_rw(base);
    ASSERT_TRUE(b->write(0, pattern(2 << 20, 7)).ok());
    ASSERT_TRUE(b->close().ok());
  }
  for (unsigned version : {2u, 3u}) {
    const std::string top = dir.path + "/top" + std::to_string(version) + ".qcow2";
    auto o = test::qcow2_options(4 << 20);  // bigger than the base
    o.version = version;
    o.backing_file = base;
    o.backing_format = ImageFormat::kQcow2;
    ASSERT_TRUE(create_image(top, o).ok());
    auto image = open_rw(top);
    ASSERT_TRUE(image);
    std::vector<std::byte> buf(1 << 20);
    ASSERT_TRUE(image->read(3 << 20, buf).ok());  // beyond the backing file: zeros
    EXPECT_EQ(buf, std::vector<std::byte>(buf.size()));
    ASSERT_TRUE(image->write_zeroes(0, 1 << 20, ZeroMode::kMayUnmap).ok());
    ASSERT_TRUE(image->read(0, buf).ok());
    EXPECT_EQ(buf, std::vector<std::byte>(buf.size())) << "v" << version;
    ASSERT_TRUE(image->read(1 << 20, buf).ok());
    const auto base_data = pattern(2 << 20, 7);
    EXPECT_TRUE(std::equal(buf.begin(), buf.end(), base_data.begin() + (1 << 20)));
    ASSERT_TRUE(image->close().ok());
    image.reset();
    if (test::have_qemu_img()) {
      std::string out;
      EXPECT_EQ(run("qemu-img check " + top, &out), 0) << out;
    }
  }
}

}  // namespace
}  // namespace amber::block::qcow2
