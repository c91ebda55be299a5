// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for driver/storage/transfer: uploads into and downloads from
// real files in a temporary directory (offset and length, too-long uploads,
// holes punched and grown, SEEK_DATA/SEEK_HOLE downloads, refused flags and
// paths) and the image lock that refuses an upload into a file another
// open file description holds as QEMU does for a running domain.
#include "driver/storage/transfer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "block/io/image_lock.h"
#include "common/unique_fd.h"

namespace amber::driver::storage {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/amber-transfer-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/vol.img";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  // A file of `size` bytes of `fill`.
  void make_file(uint64_t size, char fill) {
    std::vector<char> bytes(size, fill);
    UniqueFd fd(open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(size));
  }
  std::string contents() {
    std::string bytes;
    UniqueFd fd(open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    char buffer[65536];
    for (ssize_t count; (count = read(fd.get(), buffer, sizeof(buffer))) > 0;)
      bytes.append(buffer, static_cast<size_t>(count));
    return bytes;
  }
  uint64_t allocated() {
    struct stat st {};
    stat(path_.c_str(), &st);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }
  // Everything a source yields: data bytes, holes as "<H n>".
  std::string drain(protocol::StreamSource& source, std::string* layout = nullptr) {
    std::string out;
    std::vector<uint8_t> buffer(256 * 1024);
    for (;;) {
      auto chunk = source.next(buffer);
      EXPECT_TRUE(chunk.ok()) << chunk.error().message();
      if (!chunk.ok() || chunk->kind == protocol::SourceChunk::Kind::kEnd) return out;
      if (chunk->kind == protocol::SourceChunk::Kind::kHole) {
        if (layout) *layout += "H" + std::to_string(chunk->hole_length) + " ";
        out.append(chunk->hole_length, '\0');
      } else {
        if (layout) *layout += "D" + std::to_string(chunk->size) + " ";
        out.append(reinterpret_cast<const char*>(buffer.data()), chunk->size);
      }
    }
  }
  std::span<const uint8_t> bytes_of(const std::string& text) {
    return std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }

  std::string dir_;
  std::string path_;
};

TEST_F(TransferTest, UploadAtAnOffsetTouchesOnlyItsRange) {
  make_file(kMiB, 'o');
  auto sink = open_upload(path_, 1000, 0, 0);
  ASSERT_TRUE(sink.ok()) << sink.error().message();
  ASSERT_TRUE((*sink)->write(bytes_of(std::string(500, 'n'))).ok());
  ASSERT_TRUE((*sink)->write(bytes_of(std::string(24, 'm'))).ok());
  ASSERT_TRUE((*sink)->finish().ok());
  sink->reset();
  std::string expected(kMiB, 'o');
  expected.replace(1000, 500, std::string(500, 'n'));
  expected.replace(1500, 24, std::string(24, 'm'));
  EXPECT_EQ(contents(), expected);  // same size: nothing truncated
}

TEST_F(TransferTest, UploadPastTheEndGrowsTheFile) {
  make_file(4096, 'o');
  auto sink = open_upload(path_, 8192, 0, 0);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->write(bytes_of("tail")).ok());
  ASSERT_TRUE((*sink)->finish().ok());
  sink->reset();
  std::string expected(4096, 'o');
  expected += std::string(4096, '\0') + "tail";
  EXPECT_EQ(contents(), expected);
}

TEST_F(TransferTest, UploadLongerThanItsLengthWritesWhatFitsThenFails) {
  make_file(4096, 'o');
  auto sink = open_upload(path_, 10, 100, 0);
  ASSERT_TRUE(sink.ok());
  auto written = (*sink)->write(bytes_of(std::string(150, 'x')));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().kind(), ErrorKind::kOutOfRange);
  EXPECT_NE(written.error().message().find("longer than the 100 bytes"), std::string::npos);
  sink->reset();
  std::string expected(4096, 'o');
  expected.replace(10, 100, std::string(100, 'x'));
  EXPECT_EQ(contents(), expected);
}

TEST_F(TransferTest, SparseUploadPunchesHolesInsideAndGrowsPastTheEnd) {
  make_file(4 * kMiB, 'o');
  const uint64_t before = allocated();
  auto sink = open_upload(path_, 0, 0, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->write(bytes_of(std::string(kMiB, 'd'))).ok());
  ASSERT_TRUE((*sink)->hole(2 * kMiB).ok());
  ASSERT_TRUE((*sink)->write(bytes_of(std::string(kMiB, 'e'))).ok());
  ASSERT_TRUE((*sink)->hole(kMiB).ok());  // past the end: the file grows
  ASSERT_TRUE((*sink)->finish().ok());
  sink->reset();
  std::string expected = std::string(kMiB, 'd') + std::string(2 * kMiB, '\0') +
                         std::string(kMiB, 'e') + std::string(kMiB, '\0');
  EXPECT_EQ(contents(), expected);
  EXPECT_LT(allocated(), before);  // the hole's blocks were freed
}

TEST_F(TransferTest, DownloadReadsTheFileWithinOffsetAndLength) {
  std::string bytes;
  for (int i = 0; i < 300000; ++i) bytes.push_back(static_cast<char>(i * 7));
  {
    UniqueFd fd(open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_EQ(write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  auto whole = open_download(path_, 0, 0, 0);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(drain(**whole), bytes);
  auto part = open_download(path_, 1234, 100000, 0);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(drain(**part), bytes.substr(1234, 100000));
  auto tail = open_download(path_, 299990, 1000, 0);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(drain(**tail), bytes.substr(299990));
  auto beyond = open_download(path_, 400000, 0, 0);
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(drain(**beyond), "");
}

TEST_F(TransferTest, SparseDownloadSendsTheFileHolesAsHoles) {
  {
    UniqueFd fd(open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
    std::string data(kMiB, 'a');
    ASSERT_EQ(pwrite(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(kMiB));
    ASSERT_EQ(pwrite(fd.get(), data.data(), data.size(), 3 * kMiB), static_cast<ssize_t>(kMiB));
    ASSERT_EQ(ftruncate(fd.get(), 6 * kMiB), 0);  // a trailing hole
  }
  auto sparse = open_download(path_, 0, 0, VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM);
  ASSERT_TRUE(sparse.ok());
  std::string layout;
  std::string got = drain(**sparse, &layout);
  EXPECT_EQ(got, contents());
  EXPECT_NE(layout.find("H2097152 "), std::string::npos) << layout;
  EXPECT_EQ(layout.substr(layout.size() - 9), "H2097152 ") << layout;  // the trailing hole
  auto plain = open_download(path_, 0, 0, 0);
  ASSERT_TRUE(plain.ok());
  layout.clear();
  EXPECT_EQ(drain(**plain, &layout), got);
  EXPECT_EQ(layout.find('H'), std::string::npos) << layout;
}

TEST_F(TransferTest, UploadIntoAnImageARunningDomainHoldsIsRefused) {
  make_file(kMiB, 'o');
  // A running domain: QEMU's locks for a writable disk.
  UniqueFd holder(open(path_.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(block::io::lock_image_file(holder.get(), path_,
                                         block::io::kPermConsistentRead | block::io::kPermWrite,
                                         block::io::kPermWrite)
                  .ok());
  auto sink = open_upload(path_, 0, 0, 0);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.error().kind(), ErrorKind::kLocked);
  EXPECT_NE(sink.error().message().find("in use by a running domain"), std::string::npos)
      << sink.error().message();
  // Reading it is allowed, as libvirt allows it.
  EXPECT_TRUE(open_download(path_, 0, 0, 0).ok());
  holder.reset();
  EXPECT_TRUE(open_upload(path_, 0, 0, 0).ok());
}

TEST_F(TransferTest, AnUploadInProgressKeepsOthersOut) {
  make_file(kMiB, 'o');
  auto first = open_upload(path_, 0, 0, 0);
  ASSERT_TRUE(first.ok());
  UniqueFd vm(open(path_.c_str(), O_RDWR | O_CLOEXEC));
  auto locked = block::io::lock_image_file(vm.get(), path_,
                                           block::io::kPermConsistentRead | block::io::kPermWrite,
                                           block::io::kPermWrite);
  EXPECT_FALSE(locked.ok());
  first->reset();
}

TEST_F(TransferTest, BadFlagsRangesAndPathsAreRefused) {
  make_file(4096, 'o');
  auto flags = open_upload(path_, 0, 0, 2);
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(flags.error().message().find("unsupported flags (0x2)"), std::string::npos);
  EXPECT_FALSE(open_download(path_, 0, 0, 4).ok());
  auto range = open_download(path_, UINT64_MAX - 5, 10, 0);
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().kind(), ErrorKind::kInvalidArgument);
  auto missing = open_upload(dir_ + "/nope.img", 0, 0, 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  auto directory = open_download(dir_, 0, 0, 0);
  EXPECT_FALSE(directory.ok());
  auto fifo_path = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo_path.c_str(), 0600), 0);
  UniqueFd keep_open(open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  auto fifo = open_download(fifo_path, 0, 0, 0);
  EXPECT_FALSE(fifo.ok());
  if (!fifo.ok()) {
    EXPECT_NE(fifo.error().message().find("neither a regular file"), std::string::npos);
  }
  unlink(fifo_path.c_str());
}

}  // namespace
}  // namespace amber::driver::storage
