// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: the qcow2 implementation of block::Image, and the entry
// points that work on any io::File (so tests run over MemoryFile and
// FaultFile). Its members are implemented in several files by concern:
// image.cpp (open, header, flush, info), read.cpp (mapping, reads,
// block_status), write.cpp (allocating writes, COW), compressed_write.cpp
// (compressed cluster writes), discard.cpp
// (discard, write_zeroes, resize, preallocation).
//
// Thread-safety: as block::Image. Data-path reads and writes to allocated
// clusters hold `rw_` shared and the L2 cache's mutex only for the lookup;
// anything that changes metadata (allocation, COW, refcounts, L1) also
// holds `meta_`. discard, resize and close hold `rw_` exclusively.
// Lock order: rw_, meta_, L2 cache mutex.
//
// Crash safety: metadata is written back in QEMU's order (refcounts,
// flush, L2 slices, flush, L1) and clusters are freed only after the
// tables that dropped them are durable, so a crash can leak clusters but
// never leave a reference to a free one. Lazy refcounts drop the flushes
// between refcounts and L2 and rely on the dirty bit + rebuild on open.
//
// Known limits: qcow2 v2 cannot express zero clusters, so discard over a
// backing file reads the backing data again there (write_zeroes allocates
// zeroed data instead); the allocation guard knows the header, L1, refcount table
// and blocks and the snapshot table, not every L2 table (it relies on
// refcounts for those, as QEMU's default overlap check mostly does).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "block/create.h"
#include "block/crypto/luks.h"
#include "block/image.h"
#include "block/qcow2/bitmap.h"
#include "block/qcow2/compressed.h"
#include "block/qcow2/header.h"
#include "block/qcow2/l2_cache.h"
#include "block/qcow2/refcount.h"
#include "block/qcow2/snapshot.h"

namespace amber::block::qcow2 {

// Opens a qcow2 image on any File. `depth` as in qcow2::open().
Result<std::unique_ptr<Image>> open_on_file(std::unique_ptr<io::File> file,
                                            const OpenOptions& options, unsigned depth);
// Formats `file` (which should be empty) as a qcow2 image; `backing_size`
// is used when options.size is empty.
Result<void> create_on_file(io::File& file, const CreateOptions& options,
                            std::optional<uint64_t> backing_size = std::nullopt);
// Validates create options (qemu-img's wording); no I/O.
Result<void> validate_create_options(const CreateOptions& options);

// How one run of guest bytes is stored in this image.
enum class MapKind { kUnallocated, kZero, kData, kCompressed };
struct Mapping {
  MapKind kind = MapKind::kUnallocated;
  uint64_t length = 0;  // bytes of the run from the queried offset
  uint64_t host = 0;    // kData: host offset of the queried byte
  bool copied = false;  // kData: writable in place (refcount 1)
  uint64_t entry = 0;   // kCompressed: the L2 entry
  // `host` is valid: kData, or kZero / kUnallocated (subclusters) inside a
  // cluster that still has a host cluster (qemu-img map shows its offset).
  bool has_host = false;
};

class Qcow2Image final : public Image {
 public:
  ~Qcow2Image() override;
  static Result<std::unique_ptr<Qcow2Image>> open(std::unique_ptr<io::File> file,
                                                  const OpenOptions& options, unsigned depth);

  ImageFormat format() const override { return ImageFormat::kQcow2; }
  uint64_t size() const override { return header_.size; }
  const std::string& filename() const override { return file_->name(); }
  bool read_only() const override { return options_.access == io::Access::kReadOnly; }

  Result<void> readv(uint64_t offset, std::span<const iovec> iov) override;
  Result<void> writev(uint64_t offset, std::span<const iovec> iov) override;
  Result<void> flush() override;
  Result<void> discard(uint64_t offset, uint64_t length) override;
  Result<void> write_zeroes(uint64_t offset, uint64_t length, ZeroMode mode) override;
  Result<BlockStatus> block_status(uint64_t offset, uint64_t max_length) override;
  Result<void> resize(uint64_t new_size, Preallocation prealloc) override;
  Result<ImageInfo> info() override;
  Image* backing() override { return backing_.get(); }
  Result<void> close() override;

  // Internal snapshots (snapshot_ops.cpp; snapshot.h has the design).
  // Each takes rw_ and meta_ exclusively, so the caller must not run I/O
  // on the image meanwhile; the image stays open and usable afterwards.
  // create: a snapshot of the active state named `name` with the next
  // free id, dated as given (vm clock 0, no VM state, icount 0 as
  // qemu-img records it).
  Result<SnapshotInfo> create_snapshot(const std::string& name, uint32_t date_sec,
                                       uint32_t date_nsec);
  // apply: the active state (and the disk size) becomes snapshot `index`'s.
  Result<void> apply_snapshot(size_t index);
  // delete: drops snapshot `index` and frees what only it used.
  Result<void> delete_snapshot(size_t index);
  const std::vector<Snapshot>& snapshots() const { return snapshots_; }
  // QEMU's qcow2_snapshot_load_tmp: reads of this read-only image go
  // through snapshot `index`'s L1 table from now on (the virtual size stays
  // the current one, as in QEMU). Nothing is written; kInvalidArgument
  // when the image is writable.
  Result<void> load_snapshot_read_only(size_t index);

  // amend.cpp: every cluster of the active layer becomes unallocated (reads
  // from the backing file again), as qemu's make_empty; flushed.
  Result<void> make_empty();
  // Stores a new backing file name (empty: none) and format in the header,
  // durably. The open backing chain is not changed.
  Result<void> set_backing(const std::string& name, std::optional<ImageFormat> format);
  // amend.cpp: qemu-img amend's compat and lazy_refcounts changes. To v2
  // (compat=0.10): refused when refcounts are not 16 bits, the image has
  // snapshots, or incompatible features other than the compression type
  // (then without compressed clusters); zero clusters become data holding
  // zeros (or unallocated, without a backing file). To v3: the v3 header
  // fields and the feature-name table. Flushed and durable on return.
  Result<void> amend_features(unsigned version, bool lazy_refcounts);
  // amend.cpp: qemu-img amend's encrypt.* key slot changes on the LUKS area
  // (crypto::LuksVolume::amend), unlocked with the passphrase it was
  // opened with. Nothing else in the file changes.
  Result<void> amend_encryption(const crypto::LuksAmendOptions& options);
  // refcount_order.cpp: qemu-img amend -o refcount_bits (v3 only): the
  // refcount table and blocks rewritten with 2^order-bit entries, as QEMU's
  // qcow2_change_refcount_order; refused (nothing changed but maybe leaked
  // clusters freed again) when a refcount does not fit. Durable on return.
  Result<void> change_refcount_order(uint32_t new_order);

  // Compressed cluster writes (qemu-img convert -c, qemu-io write -c;
  // compressed_write.cpp has QEMU's packing rules). `offset` is the start of
  // a guest cluster that has no host cluster yet (unallocated or zero;
  // else kIo, EIO: compression never overwrites).
  // write_compressed: `data` is the whole cluster (the image's last one
  // may be shorter); compresses it in the calling thread and stores it, or
  // writes it uncompressed when it does not shrink.
  Result<void> write_compressed(uint64_t offset, std::span<const std::byte> data);
  // store_compressed: the storing half, for callers that compress in their
  // own threads with a ClusterCompressor(compression(), cluster_size()):
  // `packed` is the compressed data, smaller than a cluster.
  Result<void> store_compressed(uint64_t offset, std::span<const uint8_t> packed);
  // After the last compressed write: pads the file to a whole sector, as
  // qemu-img convert -c leaves it (QEMU's zero-length compressed write).
  Result<void> finish_compressed_writes();
  Compression compression() const { return compression_; }
  uint64_t cluster_size() const { return cluster_size_; }

  // bitmap_ops.cpp: persistent dirty bitmaps (bitmap.h). load_bitmaps:
  // the directory, with the bits of every bitmap not in use. store_bitmaps:
  // `bitmaps` become the directory (in that order; those with `rewrite` get
  // new data and tables, the others keep theirs), durably; old tables no
  // entry names are freed. The image must have been opened with
  // keep_bitmaps (or have none yet).
  Result<std::vector<StoredBitmap>> load_bitmaps();
  Result<void> store_bitmaps(std::vector<StoredBitmap>& bitmaps);

  // For tests and tools: the mapping of `offset` in this image only.
  Result<Mapping> lookup(uint64_t offset, uint64_t max_length);
  const Header& header() const { return header_; }
  // LUKS (crypt_method 2): data clusters are encrypted with 512-byte
  // sectors numbered by host offset, as QEMU does (crypt_physical_offset).
  bool encrypted() const { return header_.crypt_method != 0; }
  // External data file (incompatible bit 2): guest data lives in a raw
  // file at host offset == guest offset and is not refcounted; the qcow2
  // file holds metadata only. The name is the header extension's, opened
  // as QEMU 7.2 opens it (relative to the working directory).
  bool has_data_file() const { return external_; }
  const std::string& data_file_name() const { return data_file_name_; }
  // Formats a new LUKS area in free clusters after everything else and
  // points the header at it (create; the image must be fresh).
  Result<void> set_up_encryption(const EncryptOptions& options);

 private:
  Qcow2Image(std::unique_ptr<io::File> file, const OpenOptions& options, Header header);
  Result<void> init(unsigned depth);
  // Makes a Refcounts for the header's table and width the image's, wired
  // to the header; loads the table now or on first use.
  Result<void> install_refcounts(bool load_now);

  // image.cpp
  Result<void> write_header();
  // Writes `header` (not header_) and fills in its derived fields.
  Result<void> write_header_of(Header& header);
  // write_header + flush; until that succeeds, header_stale_ makes
  // write_back_metadata try again first.
  Result<void> write_header_durably();
  Result<void> mark_dirty();
  Result<void> write_back_metadata();  // meta_ held
  Result<void> apply_pending_frees();  // meta_ held, after write-back
  WriteBackOrder refcount_order() const {
    return lazy_ ? WriteBackOrder::kNoFlush : WriteBackOrder::kFlushBeforeTable;
  }
  Result<void> write_l1_dirty();
  void set_l1(uint64_t index, uint64_t entry);
  uint64_t l1(uint64_t index) const { return l1_[index].load(std::memory_order_acquire); }
  bool reserved_cluster(uint64_t cluster) const;
  void note_host_end(uint64_t end);

  // image.cpp: opens the external data file the header names.
  Result<void> open_data_file();
  // Where data clusters are read and written.
  io::File& data_io() { return data_file_ ? *data_file_ : *file_; }
  // Whether an L2 word (not compressed) maps a data cluster this image
  // owns alone; with a data file, COPIED says so (offset 0 is valid there).
  bool owns_data(uint64_t w0) const {
    return external_ && (w0 & (uint64_t{1} << 63)) != 0 && (w0 & (uint64_t{1} << 62)) == 0;
  }
  // image.cpp: opens the LUKS area the FDE extension points to.
  Result<void> open_encryption();
  Result<void> open_legacy_aes();
  // The IV sector of the data at host offset `host`, guest offset `guest`.
  uint64_t crypt_sector(uint64_t host, uint64_t guest) const {
    return (crypt_physical_offset_ ? host : guest) / 512;
  }
  // The data write every path ends in: encrypted through a bounce buffer
  // when the image is.
  Result<void> write_data(uint64_t host, uint64_t guest, std::span<const iovec> iov);

  // read.cpp
  Result<void> read_locked(uint64_t offset, std::span<const iovec> iov, uint64_t length);
  // writev's data path, sector-aligned; rw_ held (shared or exclusive).
  Result<void> writev_locked(uint64_t offset, std::span<const iovec> iov, uint64_t length);
  Result<void> read_below(uint64_t offset, std::span<const iovec> iov, uint64_t length);
  Result<void> read_compressed(uint64_t entry, uint64_t offset, std::span<const iovec> iov,
                               uint64_t length);
  Result<void> scan_slice(const uint64_t* words, uint64_t offset, uint64_t max_length,
                          uint64_t guest_cluster, uint64_t idx, uint64_t per_slice,
                          Mapping& m) const;
  Result<void> classify(uint64_t w0, uint64_t w1, uint64_t guest_cluster, unsigned sub,
                        Mapping& m) const;
  // Whether the image looks metadata-preallocated (QEMU's heuristic: more
  // clusters in use than the host file has blocks); then block_status asks
  // the host file for holes in data clusters, as qemu-img does.
  Result<bool> metadata_preallocated();

  // write.cpp
  // What the slow write path does with the caller's hold on meta_.
  enum class MetaLockMode {
    // Unlock it around an allocation's data I/O, the clusters marked in
    // flight, so allocating writes to other clusters proceed in parallel.
    kReleaseForDataIo,
    // Keep it throughout (the caller holds rw_ exclusively anyway).
    kHoldThroughout,
  };
  struct MetaLock {
    std::unique_lock<std::mutex>& lock;  // the caller's hold on meta_
    MetaLockMode mode;
  };
  // Merged COW: bytes [start, end) relative to the guest cluster at
  // `guest_base`, filled with zeros or with what the image reads there now.
  struct CowFill {
    uint64_t start = 0;
    uint64_t end = 0;
    bool zeros = false;
  };
  // Where a COW write goes: clusters just allocated, which nothing
  // references yet, or a cluster the image already maps (rewritten in place).
  enum class CowTarget { kNewClusters, kInPlace };
  // How a write into one cluster is carried out.
  struct ClusterPlan {
    uint64_t reuse = 0;  // host cluster written in place; 0: allocate a new one
    CowFill head;
    CowFill tail;
    uint64_t w1 = 0;  // the entry's second word afterwards (extended L2)
  };
  // One L2 entry in the cache: its slice and its first word there.
  struct EntryRef {
    L2Cache::Slice* slice;
    uint64_t* words;
  };
  // Writes at most up to the end of the cluster at `offset` (or of a run of
  // fresh clusters); returns the bytes written. meta_ held.
  Result<uint64_t> write_slow(uint64_t offset, std::span<const iovec> iov, uint64_t iov_pos,
                              uint64_t length, MetaLock meta);
  Result<uint64_t> write_fresh_run(uint64_t offset, std::span<const iovec> iov, uint64_t iov_pos,
                                   uint64_t length, uint64_t l2_offset, MetaLock meta);
  // The head/tail fills, target cluster and new second word for writing
  // bytes [in, in + n) of a cluster whose entry is w0/w1; `own`: its host
  // cluster has refcount 1.
  ClusterPlan plan_cluster_write(uint64_t w0, uint64_t w1, bool own, uint64_t in, uint64_t n) const;
  // The allocate-and-COW step: `cow(dest)` writes `count` host clusters at
  // `reuse`, or at newly allocated ones (freed again if it fails), with
  // meta_ released around it as `meta.mode` says. Returns dest.
  template <typename Cow>
  Result<uint64_t> allocate_and_cow(uint64_t reuse, uint64_t first_cluster, uint64_t count,
                                    MetaLock meta, Cow&& cow);
  // Bit mask of the subclusters that bytes [from, to) of a cluster touch.
  uint32_t touched_subclusters(uint64_t from, uint64_t to) const;
  Result<uint64_t> l2_for_write(uint64_t l1_index);
  // Entry `index` of the L2 table at `l2_offset`, loaded into the cache;
  // l2_cache_->mutex() held exclusively, the result valid while it is.
  Result<EntryRef> locate_entry(uint64_t l2_offset, uint64_t index);
  Result<void> read_entry(uint64_t l2_offset, uint64_t index, uint64_t& w0, uint64_t& w1);
  Result<void> write_entry(uint64_t l2_offset, uint64_t index, uint64_t w0, uint64_t w1);
  Result<uint64_t> allocate_clusters(uint64_t count);
  // Writes head fill + `data` + tail fill as one writev at `dest` +
  // head.start, after at most one read for the fills (head.end and
  // tail.start bound the data). When both fills are zeros and `target` is
  // kNewClusters, the file zeroes [head.start, tail.end) instead where it
  // can without writing zeros, and `data` is written alone. Runs without
  // meta_.
  Result<void> cow_write(uint64_t guest_base, uint64_t dest, CowTarget target, CowFill head,
                         CowFill tail, std::span<const iovec> data);
  void defer_free(uint64_t host, uint64_t bytes) { pending_frees_.push_back({host, bytes}); }
  // Host ranges to punch once the tables that stopped mapping them are
  // durable (a punch before that, then a crash, leaves a table entry over
  // zeros). Owned clusters whose refcount drop is deferred wait for
  // apply_pending_frees(); ranges that a later write could reuse at once
  // (a data file's, a subcluster's) are punched by punch_unmapped() before
  // the operation that unmapped them returns. meta_ held.
  void defer_punch(uint64_t host, uint64_t bytes, bool reusable) {
    (reusable ? pending_reusable_punches_ : pending_punches_).push_back({host, bytes});
  }
  Result<void> punch_unmapped();
  Result<void> punch_ranges(std::vector<std::pair<uint64_t, uint64_t>> ranges);
  Result<void> maybe_write_back();

  // compressed_write.cpp: `bytes` (< one cluster) of host space for
  // compressed data, packed after the previous ones; takes one reference
  // on each host cluster it touches. meta_ held.
  Result<uint64_t> allocate_compressed_bytes(uint64_t bytes);

  // discard.cpp
  // What an unmapped cluster reads as: what lies below (the backing file,
  // or zeros without one), or zeros in any case.
  enum class UnmapReads { kBelow, kZeros };
  // Whether a zeroed cluster keeps its host cluster when it owns it alone.
  enum class UnmapHost { kFree, kKeepOwned };
  Result<void> unmap_cluster(uint64_t guest_cluster_offset, UnmapReads reads, UnmapHost host);
  Result<void> grow_l1(uint64_t new_l1_size);
  Result<void> preallocate(uint64_t from, uint64_t to, Preallocation prealloc);
  // falloc/full growth laid out as QEMU lays it out: the refcount table
  // moves to the end of the used file, the new data clusters follow it as
  // one run whose host space is reserved (falloc) or written with zeros
  // (full), and only then are the L2 entries linked (new L2 tables take
  // the first free clusters). Reserving runs before the new size is in
  // memory, linking after.
  struct PreallocArea {
    uint64_t guest_first = 0;  // first guest cluster offset linked
    uint64_t clusters = 0;
    uint64_t host = 0;  // host offset of the run
  };
  Result<PreallocArea> reserve_prealloc_area(uint64_t old_size, uint64_t new_size,
                                             Preallocation prealloc);
  Result<void> link_prealloc_area(const PreallocArea& area);
  Result<void> shrink(uint64_t new_size);
  // resize to a larger size; on failure resize restores the old one.
  Result<void> grow(uint64_t old_size, uint64_t new_size, Preallocation prealloc);

  // bitmap_ops.cpp: a bitmap's table, each entry checked (QEMU's wording).
  Result<std::vector<uint64_t>> read_bitmap_table(const StoredBitmap& bm);

  // snapshot_ops.cpp
  using RefcountDelta = std::unordered_map<uint64_t, int64_t>;  // cluster -> change
  // One snapshot operation: the state after its header switch and the
  // refcount work on either side of it.
  struct SnapshotSwitch {
    uint64_t size = 0;         // virtual size afterwards
    std::vector<uint64_t> l1;  // the active L1 afterwards
    bool new_l1 = true;        // written as a new table (else unchanged)
    std::vector<std::pair<uint64_t, std::vector<uint64_t>>> l2_copies;  // offset, words
    std::vector<Snapshot> snapshots;                                    // the table afterwards
    RefcountDelta increments;                              // made durable before the switch
    RefcountDelta decrements;                              // amounts subtracted after it
    std::vector<std::pair<uint64_t, uint64_t>> frees;      // byte ranges freed after it
    std::vector<std::pair<uint64_t, uint64_t>> allocated;  // freed again on failure
  };
  Result<void> quiesce_for_snapshot();
  Result<std::vector<uint64_t>> read_l1_table(uint64_t offset, uint64_t entries);
  Result<std::vector<uint64_t>> read_l2_table(uint64_t offset);
  Result<void> check_l1_entry(uint64_t index, uint64_t entry) const;
  Result<void> count_references(const std::vector<uint64_t>& l1, RefcountDelta& counts);
  // The active L1 as a new path to `source`'s data: every L2 table whose
  // entries carry no COPIED flag is shared, the others copied without it.
  Result<void> plan_new_path(const std::vector<uint64_t>& source, SnapshotSwitch& sw);
  Result<void> run_switch(SnapshotSwitch& sw);
  void abandon_switch(SnapshotSwitch& sw, const RefcountDelta& applied);
  std::vector<uint64_t> active_l1() const;

  std::unique_ptr<io::File> file_;
  std::unique_ptr<io::File> data_file_;  // external data file, when the image has one
  std::string data_file_name_;           // as the header extension stores it
  // Incompatible bit 2 is set. Without data_file_ (info opens metadata
  // only, as qemu-img info, which needs no data file) reads and writes fail.
  bool external_ = false;
  OpenOptions options_;
  Header header_;
  std::unique_ptr<Image> backing_;
  std::unique_ptr<crypto::LuksVolume> luks_;
  uint64_t luks_offset_ = 0;
  const crypto::SectorCipher* cipher_ = nullptr;  // luks_'s, when unlocked
  // Legacy AES (crypt_method 1): its own cipher, IVs by guest offset.
  std::unique_ptr<crypto::SectorCipher> aes_cipher_;
  bool crypt_physical_offset_ = true;
  unsigned chain_below_ = 0;  // backing levels under this image

  // Geometry.
  uint32_t cluster_bits_;
  uint64_t cluster_size_;
  bool extended_;
  uint64_t entry_words_;      // 1 or 2 u64 per L2 entry
  uint64_t l2_entries_;       // entries per L2 table
  uint64_t subcluster_size_;  // cluster_size_ / 32 with extended L2, else cluster_size_
  Compression compression_;

  std::shared_mutex rw_;
  std::mutex meta_;
  std::unique_ptr<std::atomic<uint64_t>[]> l1_;
  uint64_t l1_capacity_ = 0;  // entries allocated in l1_
  std::vector<uint64_t> l1_dirty_;
  std::unique_ptr<L2Cache> l2_cache_;
  std::unique_ptr<Refcounts> refcounts_;
  std::vector<Snapshot> snapshots_;
  uint64_t snapshot_table_bytes_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> pending_frees_;
  std::vector<std::pair<uint64_t, uint64_t>> pending_punches_;
  std::vector<std::pair<uint64_t, uint64_t>> pending_reusable_punches_;
  // Guest clusters whose allocation is doing data I/O without meta_;
  // guarded by meta_, waited on with inflight_cv_.
  std::unordered_set<uint64_t> inflight_;
  std::condition_variable inflight_cv_;
  // Where the next compressed data may go (0: in a new host cluster), and
  // refcounts_->frees() when it was set (meta_ held).
  uint64_t pack_offset_ = 0;
  uint64_t pack_frees_ = 0;
  std::atomic<uint64_t> host_end_{0};
  std::atomic<int> metadata_prealloc_{-1};  // -1 unknown, else 0/1 (read.cpp)
  bool lazy_ = false;
  bool dirty_set_by_us_ = false;
  bool header_stale_ = false;  // meta_ held
  bool closed_ = false;
  bool backing_failed_ = false;  // init: the error is the backing file's
};

}  // namespace amber::block::qcow2
