// SPDX-License-Identifier: GPL-2.0-or-later
#include "tests/unit/qcow2/test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "block/qcow2/header.h"
#include "block/qcow2/image.h"
#include "block/qcow2/metadata_walk.h"
#include "block/qcow2/refcount.h"

namespace amber::block::qcow2::test {
namespace {

class SharedFile final : public io::File {
 public:
  explicit SharedFile(std::shared_ptr<io::File> f) : f_(std::move(f)) {}
  Result<void> read_at(uint64_t o, std::span<std::byte> b) override { return f_->read_at(o, b); }
  Result<void> write_at(uint64_t o, std::span<const std::byte> d) override {
    return f_->write_at(o, d);
  }
  Result<void> flush() override { return f_->flush(); }
  Result<void> punch_hole(uint64_t o, uint64_t l) override { return f_->punch_hole(o, l); }
  Result<void> write_zeroes(uint64_t o, uint64_t l) override { return f_->write_zeroes(o, l); }
  Result<io::ZeroOutcome> zero_range_no_fallback(uint64_t o, uint64_t l) override {
    return f_->zero_range_no_fallback(o, l);
  }
  Result<void> allocate(uint64_t o, uint64_t l) override { return f_->allocate(o, l); }
  Result<uint64_t> size() override { return f_->size(); }
  Result<void> truncate(uint64_t s) override { return f_->truncate(s); }
  Result<uint64_t> allocated_size() override { return f_->allocated_size(); }
  const std::string& name() const override { return f_->name(); }

 private:
  std::shared_ptr<io::File> f_;
};

}  // namespace

std::vector<std::byte> pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(seed + i * 7 + i / 512));
  return v;
}

std::unique_ptr<io::File> SharedMemory::handle() {
  return std::make_unique<SharedFile>(file);
}

CreateOptions qcow2_options(uint64_t size) {
  CreateOptions o;
  o.format = ImageFormat::kQcow2;
  o.size = size;
  return o;
}

std::unique_ptr<Image> create_and_open(SharedMemory& mem, const CreateOptions& options,
                                       OpenOptions open) {
  auto created = create_on_file(*mem.file, options);
  EXPECT_TRUE(created.ok()) << created.error().message();
  if (!created.ok()) return nullptr;
  open.access = io::Access::kReadWrite;
  auto image = open_on_file(mem.handle(), open, 0);
  EXPECT_TRUE(image.ok()) << image.error().message();
  return image.ok() ? std::move(*image) : nullptr;
}

std::unique_ptr<Image> reopen(SharedMemory& mem, io::Access access) {
  OpenOptions o;
  o.access = access;
  auto image = open_on_file(mem.handle(), o, 0);
  EXPECT_TRUE(image.ok()) << image.error().message();
  return image.ok() ? std::move(*image) : nullptr;
}

Consistency check_refcounts(io::File& file) {
  Consistency c;
  auto header = read_header(file);
  if (!header.ok()) {
    c.corruptions = 1;
    c.first_problem = header.error().message();
    return c;
  }
  std::map<uint64_t, uint64_t> refs;
  const uint64_t cs = header->cluster_size();
  auto walked = walk_references(
      file, *header, RefcountStructures::kVisit, [&](const Reference& r) -> Result<void> {
        for (uint64_t o = r.offset / cs; o <= (r.offset + r.bytes - 1) / cs; ++o) ++refs[o];
        return ok();
      });
  if (!walked.ok()) {
    c.corruptions = 1;
    c.first_problem = walked.error().message();
    return c;
  }
  Refcounts rc(file, header->cluster_bits, header->refcount_order);
  if (!rc.load(header->refcount_table_offset, header->refcount_table_clusters).ok()) {
    c.corruptions = 1;
    c.first_problem = "refcount table";
    return c;
  }
  const uint64_t clusters = (*file.size() + cs - 1) / cs;
  for (uint64_t i = 0; i < std::max(clusters, refs.empty() ? 0 : refs.rbegin()->first + 1); ++i) {
    auto got = rc.get(i);
    const uint64_t want = refs.count(i) ? refs[i] : 0;
    const uint64_t have = got.ok() ? *got : 0;
    if (have < want) {
      ++c.corruptions;
      if (c.first_problem.empty())
        c.first_problem = "cluster " + std::to_string(i) + " refcount " + std::to_string(have) +
                          " references " + std::to_string(want);
    } else if (have > want) {
      ++c.leaks;
    }
  }
  return c;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/amber-qcow2-XXXXXX";
  path = mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::filesystem::remove_all(path);
}

bool have_qemu_img() {
  return access("/usr/bin/qemu-img", X_OK) == 0;
}

int run(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace amber::block::qcow2::test
