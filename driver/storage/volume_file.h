// SPDX-License-Identifier: GPL-2.0-or-later
// What one file of a pool directory is, as Amber's block engine sees it,
// and the engine work behind the volume procedures (create, clone, resize,
// wipe, the in-use check).
//
// inspect_volume never follows a symlink out of the pool and never opens
// anything but regular files (a FIFO or device in the pool would block or
// be read); each level of a backing chain is opened on its own with the
// engine's full validation and BackingMode::kNone, so a hostile chain
// (a loop, a FIFO, a missing file, a corrupt header) is reported in
// `problem` instead of failing the refresh.
//
// Thread-safety: free functions; callers serialise work on one file.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "block/image.h"
#include "common/result.h"
#include "xml/storage/volume.h"

namespace amber::driver::storage {

struct VolumeState {
  std::string name;
  std::string path;                         // DIR/NAME (the key)
  std::string format;                       // raw, qcow2
  uint64_t capacity = 0;                    // virtual size
  uint64_t allocation = 0;                  // st_blocks * 512
  uint64_t physical = 0;                    // st_size
  std::optional<std::string> backing_path;  // resolved
  std::optional<std::string> backing_format;
  std::optional<std::string> compat;
  std::optional<uint64_t> cluster_size;
  bool lazy_refcounts = false;
  // "luks" for qcow2 encrypt.format=luks and raw LUKS volumes, "qcow" for
  // legacy qcow2 AES; empty when the volume is not encrypted.
  std::string encryption;
  bool extended_l2 = false;
  xml::StoragePermissions permissions;
  std::string problem;  // what the engine found wrong; empty when fine
};

// Longest backing chain inspect_volume follows (the engine's own guard is
// larger; a pool listing needs no more).
inline constexpr unsigned kMaxInspectedChain = 64;

// Backing chains found sound during one scan, shared by the threads of
// that scan, so that 100 linked clones of one base open it once: key the
// first backing level (resolved path and format), value every resolved
// path of the chain from there down. Only sound chains are kept; a hit
// still counts as a loop when the chain holds the volume itself.
struct ChainCache {
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> sound;
};

// DIR_REAL is the pool directory with symlinks resolved. Returns nullopt
// for entries that are not volumes (directories, devices, FIFOs, sockets,
// dangling symlinks and symlinks that leave the pool). CACHE may be null.
std::optional<VolumeState> inspect_volume(const std::string& dir_real, const std::string& name,
                                          ChainCache* cache = nullptr);

// The volume XML of STATE.
xml::StorageVolume describe_volume(const VolumeState& state);

// Creates PATH from DEF (format raw or qcow2; capacity from the backing
// file when zero and a backing store is given). PREALLOC_METADATA:
// VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA.
// PASSPHRASE: the value of the secret DEF's <encryption> names (required
// then, null otherwise).
Result<void> create_volume_file(const std::string& path, const xml::StorageVolume& def,
                                bool prealloc_metadata,
                                std::shared_ptr<const block::crypto::SecretBytes> passphrase = {});
// Copies SOURCE (read through its chain) into a new image PATH of DEF's
// format (SOURCE's format when absent) and at least SOURCE's size.
// Unallocated and all-zero ranges are not written, so the copy is sparse.
Result<void> clone_volume_file(const std::string& path, const xml::StorageVolume& def,
                               const VolumeState& source, bool prealloc_metadata);
// Kinds of resize: libvirt's VIR_STORAGE_VOL_RESIZE_* flags.
Result<void> resize_volume_file(const VolumeState& volume, uint64_t capacity, unsigned flags);
Result<void> wipe_volume_file(const VolumeState& volume, unsigned algorithm);
// kLocked "... is in use" when a running domain (or any writer, or a
// reader that refuses writers) holds the image, tested with the engine's
// QEMU-compatible image locks.
Result<void> check_not_in_use(const VolumeState& volume);

}  // namespace amber::driver::storage
