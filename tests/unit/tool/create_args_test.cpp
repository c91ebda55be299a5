// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for `amber-img create` argument handling and its
// "Formatting ..." line (expected strings captured from qemu-img 7.2).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "block/tool/create.h"

namespace amber::block::tool {
namespace {

// Owns a mutable argv for getopt.
class Argv {
 public:
  Argv(std::initializer_list<const char*> args) {
    for (const char* a : args) storage_.emplace_back(a);
    for (auto& s : storage_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

std::string line_for(std::initializer_list<const char*> args) {
  Argv a(args);
  auto parsed = parse_create_args(a.argc(), a.argv());
  EXPECT_TRUE(parsed.ok());
  if (!parsed.ok()) return parsed.error().context();
  auto plan = plan_create(*parsed);
  EXPECT_TRUE(plan.ok());
  if (!plan.ok()) return plan.error().context();
  return formatting_line(parsed->filename, *plan, plan->options.size.value_or(0));
}

TEST(CreateArgs, DefaultQcow2Line) {
  EXPECT_EQ(line_for({"create", "-f", "qcow2", "t1.qcow2", "1G"}),
            "Formatting 't1.qcow2', fmt=qcow2 cluster_size=65536 extended_l2=off "
            "compression_type=zlib size=1073741824 lazy_refcounts=off refcount_bits=16");
}

TEST(CreateArgs, AllOptionsLine) {
  EXPECT_EQ(line_for({"create", "-f", "qcow2", "-o",
                      "cluster_size=4096,lazy_refcounts=on,extended_l2=on,compression_type=zstd,"
                      "refcount_bits=8,preallocation=metadata",
                      "b.qcow2", "100M"}),
            "Formatting 'b.qcow2', fmt=qcow2 cluster_size=4096 extended_l2=on "
            "preallocation=metadata compression_type=zstd size=104857600 lazy_refcounts=on "
            "refcount_bits=8");
}

TEST(CreateArgs, BackingAndCompatLine) {
  EXPECT_EQ(line_for({"create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "-o", "compat=0.10",
                      "d.qcow2", "2G"}),
            "Formatting 'd.qcow2', fmt=qcow2 cluster_size=65536 extended_l2=off "
            "compression_type=zlib size=2147483648 backing_file=a.qcow2 backing_fmt=qcow2 "
            "compat=0.10 lazy_refcounts=off refcount_bits=16");
}

TEST(CreateArgs, RawLineAndSizeSuffix) {
  EXPECT_EQ(line_for({"create", "-f", "raw", "r.raw", "1.5M"}),
            "Formatting 'r.raw', fmt=raw size=1572864");
  EXPECT_EQ(line_for({"create", "r.raw", "100k", "-o", "preallocation=falloc"}),
            "Formatting 'r.raw', fmt=raw size=102400 preallocation=falloc");
}

TEST(CreateArgs, LaterOptionWins) {
  EXPECT_EQ(line_for({"create", "-f", "qcow2", "-o", "cluster_size=1M", "-o", "cluster_size=2M",
                      "g.qcow2", "1M"}),
            "Formatting 'g.qcow2', fmt=qcow2 cluster_size=2097152 extended_l2=off "
            "compression_type=zlib size=1048576 lazy_refcounts=off refcount_bits=16");
}

Error plan_error(std::initializer_list<const char*> args) {
  Argv a(args);
  auto parsed = parse_create_args(a.argc(), a.argv());
  if (!parsed.ok()) return parsed.error();
  auto plan = plan_create(*parsed);
  if (!plan.ok()) return plan.error();
  auto v = validate_after_formatting(*plan);
  if (!v.ok()) return v.error();
  return Error(ErrorKind::kInternal, "no error");
}

TEST(CreateArgs, Errors) {
  EXPECT_EQ(plan_error({"create", "-f", "foo", "x", "1M"}).context(), "Unknown file format 'foo'");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-o", "bogus=1", "x", "1M"}).context(),
            "Invalid parameter 'bogus'");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2"}).context(), "Expecting image file name");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "x", "1k", "2"}).context(),
            "Unexpected argument: 2");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-x", "x"}).context(), "unrecognized option '-x'");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-o", "size=1M", "x", "2M"}).context(),
            "The image size must be specified only once");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-o", "cluster_size=1000", "x", "1M"}).context(),
            "Cluster size must be a power of two between 512 and 2048k");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "x", "1M"})
                .context(),
            "Lazy refcounts only supported with compatibility level 1.1 and above (use "
            "version=v3 or greater)");
  EXPECT_EQ(
      plan_error({"create", "-f", "qcow2", "-o", "compression_type=foo", "x", "1M"}).context(),
      "Parameter 'compression-type' does not accept value 'foo'");
  EXPECT_EQ(plan_error({"create", "-f", "qcow2", "-o", "refcount_bits=3", "x", "1M"}).context(),
            "Refcount width must be a power of two and may not exceed 64 bits");
  EXPECT_EQ(plan_error({"create", "-f", "raw", "-b", "a", "x", "1M"}).context(),
            "Backing file not supported for file format 'raw'");
}

}  // namespace
}  // namespace amber::block::tool
