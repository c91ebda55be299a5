// SPDX-License-Identifier: GPL-2.0-or-later
// Image: an open disk image of any format (raw, qcow2), with its backing
// chain. This is the block engine's public face: amber-img and amber-vmm
// use only this header, block/create.h and (for format details)
// block/qcow2/qcow2.h.
//
// Offsets and lengths are guest (virtual disk) bytes, at any byte
// granularity as in qemu's block layer: requests that are not 512-byte
// aligned (kSectorSize) are done as a read-modify-write of the partial
// sectors (block/unaligned.h); aligned ones take the fast path. Requests
// outside size() get kOutOfRange.
//
// Thread-safety: read/write/readv/writev/discard/write_zeroes/flush and
// block_status may be called from several threads at once (one per
// virtqueue). resize() and close() need exclusive use.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "block/crypto/cipher.h"
#include "block/io/file.h"
#include "common/result.h"

namespace amber::block {

inline constexpr uint64_t kSectorSize = 512;

// kLuks: a raw LUKS1 volume (qemu-img -f luks): header, key material,
// then the encrypted guest data.
enum class ImageFormat { kRaw, kQcow2, kLuks };
std::string_view to_string(ImageFormat format);
Result<ImageFormat> parse_format(std::string_view name);

// Whether to take QEMU-compatible OFD locks on the image file(s).
enum class Locking { kOn, kOff };
// qemu-img -U / --force-share: take no exclusive permissions, share all.
enum class Sharing { kExclusiveWriter, kForceShare };
// Whether to open the backing chain (qemu-img create -u and info on a
// broken chain use kNone: reads of unallocated clusters then fail).
// kDetached: not opened, and unallocated clusters read as zeros (QEMU's
// "backing": null).
enum class BackingMode { kOpen, kNone, kDetached };
// What a guest discard does: nothing (discard=ignore) or free clusters.
enum class DiscardMode { kIgnore, kUnmap };
enum class ZeroMode { kAllocate, kMayUnmap };
enum class Preallocation { kOff, kMetadata, kFalloc, kFull };
Result<Preallocation> parse_preallocation(std::string_view name);
std::string_view to_string(Preallocation mode);

struct OpenOptions {
  // Empty: probe (qcow2 magic, else raw), as qemu-img does for the image it
  // is given. Backing files use the format from the header extension and
  // are probed only when that is absent.
  std::optional<ImageFormat> format;
  io::Access access = io::Access::kReadOnly;
  io::CacheMode cache = io::CacheMode::kWriteback;
  io::AioBackend aio = io::AioBackend::kThreads;
  Locking locking = Locking::kOn;
  Sharing sharing = Sharing::kExclusiveWriter;
  BackingMode backing = BackingMode::kOpen;
  DiscardMode discard = DiscardMode::kUnmap;
  // qcow2 L2 cache in bytes; 0 = default (enough for the whole image up to
  // 32 MiB, like QEMU on Linux).
  uint64_t l2_cache_bytes = 0;
  // The backing chain is opened sharing everything (as with kForceShare)
  // while this image keeps its own sharing: for amber-img commit, which
  // then opens a level of that chain for writing itself.
  bool share_backing_writers = false;
  // qcow2: a read-write open keeps the persistent bitmaps valid (the
  // bitmaps autoclear bit stays) for a caller that maintains them itself
  // and writes no guest data (amber-img bitmap). Without it a read-write
  // open clears the bit, as a writer that does not track bitmaps must.
  bool keep_bitmaps = false;
  // Refuse chains deeper than this (loop and resource guard).
  unsigned max_chain_depth = 256;
  // The passphrase of an encrypted image (qemu-img's key-secret /
  // encrypt.key-secret); shared, never copied into logs. Backing files get
  // it too (as QEMU's secrets, one passphrase per chain for now).
  std::shared_ptr<const crypto::SecretBytes> passphrase;
  // Open an encrypted image without unlocking it (qemu-img info's
  // BDRV_O_NO_IO): metadata and info work, data I/O fails.
  bool metadata_only = false;
};

// What block_status reports for a run of guest bytes that share one state.
struct BlockStatus {
  uint64_t length = 0;   // bytes from the queried offset with this state
  bool present = false;  // allocated somewhere in the chain (or zero flag)
  bool zero = false;     // reads as zeros
  bool data = false;     // has data in a file (not only zero)
  bool compressed = false;
  unsigned depth = 0;              // chain level that answers (0 = this image)
  std::optional<uint64_t> offset;  // host offset in that level's file, if raw-readable
  std::string filename;            // the file at `depth` (for map's human output)
};

// What a caller of Image::map_direct() means to do with the bytes.
enum class DirectAccess { kRead, kOverwrite };

struct SnapshotInfo {
  std::string id;
  std::string name;
  uint64_t vm_state_size = 0;
  uint32_t date_sec = 0;
  uint32_t date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t icount = 0;
  bool has_icount = false;
  uint64_t disk_size = 0;
};

// A persistent dirty bitmap of a qcow2 image, as `info` lists it.
struct BitmapInfo {
  std::string name;
  uint64_t granularity = 65536;  // bytes per bit
  bool in_use = false;           // "in-use": not stored consistently
  bool auto_enabled = false;     // "auto": enabled when the image is opened
};

// A LUKS key slot and volume as `info` shows them (QEMU's
// QCryptoBlockInfoLUKS).
struct LuksSlotInfo {
  bool active = false;
  uint32_t iters = 0;  // active slots only
  uint32_t stripes = 0;
  uint64_t key_offset = 0;  // bytes from the start of the LUKS area
};
struct LuksInfo {
  std::string cipher_alg;      // "aes-256"
  std::string cipher_mode;     // "xts"
  std::string ivgen_alg;       // "plain64"
  std::string ivgen_hash_alg;  // essiv only, else empty
  std::string hash_alg;        // "sha256"
  uint64_t payload_offset = 0;
  uint64_t master_key_iters = 0;
  std::string uuid;
  std::vector<LuksSlotInfo> slots;
};

// Format-specific facts for `info` (qemu-img's "format-specific" block).
struct Qcow2Info {
  unsigned version = 3;  // 2 = compat 0.10, 3 = compat 1.1
  uint64_t cluster_size = 65536;
  unsigned refcount_bits = 16;
  bool lazy_refcounts = false;
  bool corrupt = false;
  bool extended_l2 = false;
  bool dirty = false;
  std::string compression_type = "zlib";  // "zlib" or "zstd"
  std::string data_file;                  // external data file name, as stored
  bool data_file_raw = false;             // autoclear bit 1
  bool has_data_file = false;             // incompatible bit 2 (the name may be missing)
  unsigned crypt_method = 0;              // 0 none, 1 aes, 2 luks
  std::optional<LuksInfo> luks;           // crypt_method 2
  std::vector<BitmapInfo> bitmaps;
};

struct ImageInfo {
  std::string filename;
  ImageFormat format = ImageFormat::kRaw;
  uint64_t virtual_size = 0;
  uint64_t actual_size = 0;  // allocated bytes of the host file
  std::optional<uint64_t> cluster_size;
  std::string backing_filename;       // as stored in the image
  std::string full_backing_filename;  // resolved path
  std::string backing_format;         // as stored (may be empty)
  bool dirty = false;
  std::optional<Qcow2Info> qcow2;
  bool encrypted = false;
  std::optional<LuksInfo> luks;  // format luks
  std::vector<SnapshotInfo> snapshots;
};

class Image {
 public:
  virtual ~Image() = default;

  virtual ImageFormat format() const = 0;
  virtual uint64_t size() const = 0;
  virtual const std::string& filename() const = 0;
  virtual bool read_only() const = 0;

  virtual Result<void> readv(uint64_t offset, std::span<const iovec> iov) = 0;
  virtual Result<void> writev(uint64_t offset, std::span<const iovec> iov) = 0;
  Result<void> read(uint64_t offset, std::span<std::byte> buffer) {
    iovec v{buffer.data(), buffer.size()};
    return readv(offset, std::span(&v, 1));
  }
  Result<void> write(uint64_t offset, std::span<const std::byte> data) {
    iovec v{const_cast<std::byte*>(data.data()), data.size()};  // writev only reads it
    return writev(offset, std::span(&v, 1));
  }

  // Direct data access, for callers that do the data I/O themselves on
  // their own descriptor of filename() (amber-img bench keeps `depth`
  // requests in flight on one io_uring this way). If the guest bytes
  // [offset, offset+length) are stored contiguously as plain data in this
  // image's own file (no backing file, zero flag, compression, allocation
  // or copy-on-write involved) and, for kOverwrite, may be written in
  // place, returns their host offset in that file; otherwise nullopt (also
  // for bad requests and lookup errors), and the caller uses readv/writev,
  // which report any error. Thread-safe like readv.
  // The answer stays true until a discard, write_zeroes, resize, snapshot
  // change or close, or a writev to the same guest cluster that moves it;
  // a caller must not run those concurrently with its direct I/O there.
  // Data written directly is made durable by flush() like any other.
  // Default: no direct access.
  virtual std::optional<uint64_t> map_direct(uint64_t offset, uint64_t length,
                                             DirectAccess access) {
    (void)offset;
    (void)length;
    (void)access;
    return std::nullopt;
  }

  // Makes every completed write durable (metadata first where needed).
  virtual Result<void> flush() = 0;
  // Advisory, as in QEMU: tells the image that the guest no longer needs
  // [offset, offset+length). Nothing happens with DiscardMode::kIgnore.
  // Otherwise:
  // - qcow2: every cluster the range covers whole (with extended L2, every
  //   whole subcluster) is freed and its host blocks punched; it then
  //   reads as zeros (v3, or no backing file), or from the backing file
  //   (v2 over a backing file: v2 has no zero flag). The parts of a
  //   cluster the range does not cover whole are left as they were.
  // - raw: the range is punched out of the host file and reads as zeros.
  // A caller that needs zeros everywhere in the range uses write_zeroes.
  virtual Result<void> discard(uint64_t offset, uint64_t length) = 0;
  virtual Result<void> write_zeroes(uint64_t offset, uint64_t length, ZeroMode mode) = 0;

  // State of the bytes starting at `offset`, for at most `max_length` bytes.
  virtual Result<BlockStatus> block_status(uint64_t offset, uint64_t max_length) = 0;

  // Grows or shrinks the virtual size; shrinking discards the tail.
  virtual Result<void> resize(uint64_t new_size, Preallocation prealloc) = 0;

  virtual Result<ImageInfo> info() = 0;

  // The open backing image, or nullptr.
  virtual Image* backing() = 0;

  // Flushes and marks the image clean (clears the dirty bit where lazy
  // refcounts set it). The destructor calls it and ignores errors.
  virtual Result<void> close() = 0;
};

Result<std::unique_ptr<Image>> open_image(const std::string& path, const OpenOptions& options);

// Probes the format from the first bytes of a file (qcow2 magic => qcow2).
Result<ImageFormat> probe_format(io::File& file);

}  // namespace amber::block
