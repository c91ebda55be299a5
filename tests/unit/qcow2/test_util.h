// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers shared by the qcow2 unit tests: images over MemoryFile, byte
// patterns, and a refcount consistency check built on walk_references.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "block/create.h"
#include "block/image.h"
#include "block/io/memory_file.h"

namespace amber::block::qcow2::test {

std::vector<std::byte> pattern(size_t n, uint8_t seed);

// A MemoryFile that the test keeps a handle to while an image owns a
// forwarding wrapper.
struct SharedMemory {
  std::shared_ptr<io::MemoryFile> file = std::make_shared<io::MemoryFile>();
  std::unique_ptr<io::File> handle();
};

CreateOptions qcow2_options(uint64_t size);
std::unique_ptr<Image> create_and_open(SharedMemory& mem, const CreateOptions& options,
                                       OpenOptions open = {});
std::unique_ptr<Image> reopen(SharedMemory& mem, io::Access access = io::Access::kReadWrite);

struct Consistency {
  uint64_t leaks = 0;
  uint64_t corruptions = 0;
  std::string first_problem;
};
// Compares every cluster's refcount with the references the tables make.
Consistency check_refcounts(io::File& file);

// Temp directory removed at destruction.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};
bool have_qemu_img();
// Runs a shell command; returns its exit status and fills `out`.
int run(const std::string& command, std::string* out = nullptr);

}  // namespace amber::block::qcow2::test
