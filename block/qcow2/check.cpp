// SPDX-License-Identifier: GPL-2.0-or-later
// qcow2 consistency check and repair (`qemu-img check [-r leaks|all]`),
// following qemu-img 7.2's qcow2_co_check_locked step by step:
//
// 1. The snapshot table is parsed (structure only); v3 entries with less
//    than 16 bytes of extra data are "incomplete" (a compat 0.10 -> 1.1
//    upgrade leaves them behind) and -r all rewrites the table.
// 2. Every reference to every host cluster is counted: the header, the
//    active and snapshot L1/L2 tables (entries decoded by l2_entry.h), the
//    snapshot table and the refcount table/blocks. A snapshot whose L1 is
//    unaligned or too large is reported and not walked (its clusters then
//    look leaked, as in qemu-img); the table itself stays referenced.
//    -r all rewrites an unaligned preallocated (data-less) L2 entry.
// 3. Stored refcounts are compared: a refcount of 0 for a referenced
//    cluster needs a rebuild (-r all: write_refcount_structure from these
//    counts, then count again and free the old structure); -r leaks lowers
//    leaked refcounts, -r all also raises too-low ones in place.
// 4. OFLAG_COPIED in the active tables is compared with the refcounts and
//    repaired under -r all, and under -r leaks when nothing else is left.
// 5. After a repair with no corruption left the dirty and corrupt bits
//    are cleared.
//
// Hostile images: every table size is capped before it is read; the
// reference counts live in one vector bounded by kMaxCheckedClusters.
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "block/open_file.h"
#include "block/qcow2/bitmap.h"
#include "block/qcow2/format.h"
#include "block/qcow2/header.h"
#include "block/qcow2/l2_entry.h"
#include "block/qcow2/qcow2.h"
#include "block/qcow2/refcount.h"
#include "block/qcow2/refcount_rebuild.h"
#include "block/qcow2/snapshot.h"

namespace amber::block::qcow2 {
namespace {

// Bounds the reference array (2 bytes per host cluster): 128 Mi clusters
// is 8 TiB of 64 KiB clusters and 256 MiB of memory.
constexpr uint64_t kMaxCheckedClusters = 1ull << 27;
// References per cluster saturate here (the array is 16-bit); an image
// with narrower refcounts overflows at its own maximum first.
constexpr uint64_t kMaxReferences = 0xffff;

std::string format_message(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string format_message(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

Result<void> write_be64(io::File& file, uint64_t offset, uint64_t value) {
  uint64_t be;
  store_be64(&be, value);
  return io::write_exact(file, offset, &be, 8);
}

// Stored refcounts, read block by block (sequential access in the compare
// loop keeps one block in memory) and written back when repaired.
class StoredRefcounts {
 public:
  StoredRefcounts(io::File& file, const Header& header, std::vector<uint64_t> table)
      : file_(file),
        header_(header),
        table_(std::move(table)),
        entries_(header.cluster_size() * 8 / header.refcount_bits()) {}

  Result<uint64_t> get(uint64_t cluster) {
    AMBER_TRY_ASSIGN(bool present, load(cluster / entries_));
    if (!present) return uint64_t{0};
    return get_refcount_entry(block_.data(), cluster % entries_, header_.refcount_order);
  }
  // Whether set() can store a value for `cluster` (its block exists).
  Result<bool> settable(uint64_t cluster) { return load(cluster / entries_); }
  Result<void> set(uint64_t cluster, uint64_t value) {
    AMBER_TRY_ASSIGN(bool present, load(cluster / entries_));
    if (!present) return Error(ErrorKind::kInternal, "refcount block missing");
    set_refcount_entry(block_.data(), cluster % entries_, header_.refcount_order, value);
    dirty_ = true;
    return ok();
  }
  Result<void> write_back() {
    if (!dirty_) return ok();
    AMBER_TRY(io::write_exact(file_, block_offset_, block_.data(), block_.size()));
    dirty_ = false;
    return ok();
  }

 private:
  Result<bool> load(uint64_t index) {
    if (index == loaded_index_) return block_offset_ != 0;
    AMBER_TRY(write_back());
    loaded_index_ = index;
    block_offset_ = index < table_.size() ? table_[index] & kRefTableOffsetMask : 0;
    if (block_offset_ == 0 || block_offset_ % header_.cluster_size() != 0) {
      block_offset_ = 0;
      return false;
    }
    block_.assign(header_.cluster_size(), 0);
    AMBER_TRY(io::read_exact(file_, block_offset_, block_.data(), block_.size()));
    return true;
  }

  io::File& file_;
  const Header& header_;
  std::vector<uint64_t> table_;
  uint64_t entries_;
  uint64_t loaded_index_ = UINT64_MAX;
  uint64_t block_offset_ = 0;
  std::vector<uint8_t> block_;
  bool dirty_ = false;
};

// Counters of one check step (qemu-img's BdrvCheckResult).
struct Counts {
  uint64_t check_errors = 0;
  uint64_t corruptions = 0;
  uint64_t leaks = 0;
  uint64_t corruptions_fixed = 0;
  uint64_t leaks_fixed = 0;
};

enum class TableKind { kActive, kSnapshot };

class Checker {
 public:
  Checker(io::File& file, Header& header, uint64_t file_size, RepairMode repair)
      : file_(file),
        header_(header),
        cs_(header.cluster_size()),
        file_size_(file_size),
        repair_(repair),
        max_references_(std::min<uint64_t>(
            kMaxReferences,
            header.refcount_order >= 4 ? kMaxReferences : (1ull << header.refcount_bits()) - 1)) {}

  Result<CheckReport> run();

 private:
  // Steps, in order.
  Result<void> read_snapshots();
  Result<void> count_references();
  Result<void> check_refcounts();
  Result<void> fix_snapshot_table();
  Result<void> mark_clean();

  // Counting (step 2).
  void reference(uint64_t offset, uint64_t bytes);
  void count_bitmaps();
  Result<std::vector<uint64_t>> read_table(uint64_t offset, uint64_t entries);
  Result<void> walk_l1(uint64_t l1_offset, uint32_t l1_size, TableKind kind);
  Result<void> walk_l2(uint64_t l2_offset, TableKind kind);
  Result<std::vector<uint64_t>> walk_refcount_table();

  // Refcount steps (3, 4).
  enum class CompareMode { kReport, kFixLeaks, kFixAll };
  Result<void> compare(StoredRefcounts& stored, CompareMode mode, bool& rebuild, Counts& counts);
  Result<void> rebuild(Counts& counts);
  Result<void> check_copied(StoredRefcounts& stored, Counts& counts);

  // As qemu-img (discard "always" for repairs, "snapshot" for the old
  // snapshot table): a freed cluster is discarded in the file. Failures
  // only cost space, so they are ignored, as QEMU ignores them.
  void discard(uint64_t cluster, uint64_t count) {
    (void)file_.punch_hole(cluster * cs_, count * cs_);
  }
  bool fixes_errors() const { return repair_ == RepairMode::kAll; }
  void message(std::string line) { report_.messages.push_back(std::move(line)); }

  io::File& file_;
  Header& header_;
  uint64_t cs_;
  uint64_t file_size_;
  RepairMode repair_;
  uint64_t max_references_;
  std::vector<uint16_t> refs_;
  std::vector<uint64_t> refcount_table_;  // entries of the valid refcount blocks
  std::vector<Snapshot> snapshots_;
  uint64_t snapshot_table_bytes_ = 0;
  Counts refcount_counts_;  // counting, compare and COPIED
  Counts snapshot_counts_;  // the snapshot table
  uint64_t highest_cluster_ = 0;
  bool any_cluster_ = false;
  CheckReport report_;
};

void Checker::reference(uint64_t offset, uint64_t bytes) {
  if (bytes == 0) return;
  // As qemu-img: a range reaching a cluster or more past the end of the
  // file is a corruption and is not counted (this also bounds refs_).
  if (offset > kMaxHostOffset || offset + bytes >= file_size_ + cs_) {
    message(
        format_message("ERROR: counting reference for region exceeding the end of the file "
                       "by one cluster or more: offset 0x%" PRIx64 " size 0x%" PRIx64,
                       offset, bytes));
    ++refcount_counts_.corruptions;
    return;
  }
  const uint64_t first = offset / cs_;
  const uint64_t last = (offset + bytes - 1) / cs_;
  for (uint64_t c = first; c <= last; ++c) {
    if (c >= refs_.size()) refs_.resize(c + 1, 0);
    if (refs_[c] >= max_references_) {
      message(format_message("ERROR: overflow cluster offset=0x%" PRIx64, c * cs_));
      message(
          "Use qemu-img amend to increase the refcount entry width or qemu-img convert to "
          "create a clean copy if the image cannot be opened for writing");
      ++refcount_counts_.corruptions;
      continue;
    }
    ++refs_[c];
  }
}

Result<std::vector<uint64_t>> Checker::read_table(uint64_t offset, uint64_t entries) {
  std::vector<uint64_t> table(entries);
  if (entries == 0) return table;
  AMBER_TRY(io::read_exact(file_, offset, table.data(), entries * 8));
  for (auto& e : table) e = load_be64(&e);
  return table;
}

Result<void> Checker::walk_l2(uint64_t l2_offset, TableKind kind) {
  const bool extended = header_.extended_l2();
  const uint64_t step = extended ? 2 : 1;
  const bool active = kind == TableKind::kActive;
  AMBER_TRY_ASSIGN(auto table, read_table(l2_offset, cs_ / 8));
  // As qemu-img, fragmentation is measured within one L2 table: the first
  // allocated cluster of each table never counts as fragmented.
  uint64_t next_contiguous = 0;
  for (uint64_t i = 0; i < table.size(); i += step) {
    const L2Entry e =
        decode_l2_entry(table[i], extended ? table[i + 1] : 0, header_.cluster_bits, extended);
    const uint64_t index = i / step;
    if (e.kind != L2EntryKind::kCompressed && e.reserved_bits) {
      message(format_message("ERROR found l2 entry with reserved bits set: %" PRIx64, e.word));
      ++refcount_counts_.corruptions;
    }
    switch (e.kind) {
      case L2EntryKind::kCompressed: {
        if (e.copied) {
          message(format_message("ERROR: coffset=0x%" PRIx64 ": copied flag must never be set for "
                                 "compressed clusters",
                                 e.host_offset));
          ++refcount_counts_.corruptions;
        }
        if (e.bitmap != 0) {
          message(format_message("ERROR compressed cluster %" PRIu64 " with non-zero subcluster "
                                 "allocation bitmap, entry=0x%" PRIx64,
                                 index, e.word));
          ++refcount_counts_.corruptions;
          break;
        }
        const HostRange range = referenced_range(e, header_.cluster_bits);
        reference(range.offset, range.bytes);
        if (active) {
          ++report_.allocated_clusters;
          ++report_.compressed_clusters;
          ++report_.fragmented_clusters;
        }
        break;
      }
      case L2EntryKind::kNormal:
      case L2EntryKind::kZeroAllocated: {
        const uint64_t offset = e.host_offset;
        if (e.bitmap_conflict()) {
          message(format_message("ERROR offset=%" PRIx64 ": Allocated cluster has corrupted "
                                 "subcluster allocation bitmap",
                                 offset));
          ++refcount_counts_.corruptions;
        }
        if (offset % cs_ != 0) {
          ++refcount_counts_.corruptions;
          if (e.contains_data(extended)) {
            message(format_message("ERROR offset=%" PRIx64 ": Data cluster is not properly "
                                   "aligned; L2 entry corrupted.",
                                   offset));
          } else {
            message(format_message("%s offset=%" PRIx64 ": Preallocated cluster is not properly "
                                   "aligned; L2 entry corrupted.",
                                   fixes_errors() ? "Repairing" : "ERROR", offset));
            if (fixes_errors()) {
              // Nothing is stored there: the entry becomes a plain zero
              // (extended L2: unallocated, the zero bits stay).
              auto written = write_be64(file_, l2_offset + i * 8, extended ? 0 : kOflagZero);
              if (written.ok()) written = file_.flush();
              if (written.ok()) {
                --refcount_counts_.corruptions;
                ++refcount_counts_.corruptions_fixed;
                continue;
              }
              message("ERROR: Failed to overwrite L2 table entry: " + written.error().message());
              ++refcount_counts_.check_errors;
            }
          }
        }
        if (active) {
          ++report_.allocated_clusters;
          if (next_contiguous != 0 && offset != next_contiguous) ++report_.fragmented_clusters;
          next_contiguous = offset + cs_;
        }
        // Clusters of an external data file have no refcounts.
        if (!(header_.incompatible_features & kIncompatDataFile)) reference(offset, cs_);
        break;
      }
      case L2EntryKind::kUnallocated:
        // Offset 0 with COPIED is data at 0 in an external data file.
        if (active && (header_.incompatible_features & kIncompatDataFile) && e.copied)
          ++report_.allocated_clusters;
        if (e.allocated_subclusters() != 0) {
          message("ERROR: Unallocated cluster has non-zero subcluster allocation map");
          ++refcount_counts_.corruptions;
        }
        break;
      case L2EntryKind::kZeroPlain:
        break;
    }
  }
  return ok();
}

Result<void> Checker::walk_l1(uint64_t l1_offset, uint32_t l1_size, TableKind kind) {
  const uint64_t bytes = uint64_t{l1_size} * 8;
  if (bytes > kMaxL1Bytes || (l1_size != 0 && l1_offset % cs_ != 0) || l1_offset > kMaxHostOffset) {
    message(format_message("ERROR: L1 table at 0x%" PRIx64 " with %u entries is invalid", l1_offset,
                           l1_size));
    ++refcount_counts_.corruptions;
    return ok();
  }
  reference(l1_offset, bytes);
  AMBER_TRY_ASSIGN(auto l1, read_table(l1_offset, l1_size));
  for (uint64_t i = 0; i < l1.size(); ++i) {
    if (l1[i] == 0) continue;
    if (l1[i] & kL1ReservedMask) {
      message(format_message("ERROR found L1 entry with reserved bits set: %" PRIx64, l1[i]));
      ++refcount_counts_.corruptions;
    }
    const uint64_t l2 = l1[i] & kL1OffsetMask;
    const uint64_t corruptions = refcount_counts_.corruptions;
    reference(l2, cs_);
    const bool counted = corruptions == refcount_counts_.corruptions;
    // As qemu-img: an unaligned table is reported and still walked where
    // the entry points (its clusters are counted as referenced).
    if (l2 % cs_ != 0) {
      message(format_message("ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 "
                             "entry corrupted",
                             l2));
      ++refcount_counts_.corruptions;
    }
    // Past the end of the file the table reads as zeros (empty).
    if (counted) AMBER_TRY(walk_l2(l2, kind));
  }
  return ok();
}

Result<std::vector<uint64_t>> Checker::walk_refcount_table() {
  const uint64_t bytes = uint64_t{header_.refcount_table_clusters} * cs_;
  if (bytes > kMaxRefcountTableBytes || header_.refcount_table_offset % cs_ != 0)
    return Error(ErrorKind::kCorrupt, "Refcount table is invalid");
  reference(header_.refcount_table_offset, bytes);
  AMBER_TRY_ASSIGN(auto table, read_table(header_.refcount_table_offset, bytes / 8));
  for (uint64_t i = 0; i < table.size(); ++i) {
    if (table[i] & kRefTableReservedMask) {
      message(format_message("ERROR refcount table entry %" PRIu64 " has reserved bits set", i));
      ++refcount_counts_.corruptions;
      table[i] = 0;
      continue;
    }
    const uint64_t offset = table[i] & kRefTableOffsetMask;
    if (offset == 0) continue;
    if (offset % cs_ != 0) {
      message(format_message("ERROR refcount block %" PRIu64 " is not cluster aligned; refcount "
                             "table entry corrupted",
                             i));
      ++refcount_counts_.corruptions;
      table[i] = 0;
      continue;
    }
    if (offset >= file_size_) {
      message(format_message("ERROR refcount block %" PRIu64 " is outside image", i));
      ++refcount_counts_.corruptions;
      table[i] = 0;
      continue;
    }
    reference(offset, cs_);
  }
  return table;
}

void Checker::count_bitmaps() {
  // QEMU's qcow2_check_bitmaps_refcounts: the directory, each table and its
  // data clusters are referenced; what does not parse is a corruption.
  auto dir = read_bitmap_directory(file_, header_, header_.size);
  if (!dir.ok()) {
    ++refcount_counts_.corruptions;
    return;
  }
  if (dir->bytes == 0) return;
  reference(dir->offset, dir->bytes);
  for (const StoredBitmap& bm : dir->bitmaps) {
    reference(bm.table_offset, uint64_t{bm.table_size} * 8);
    // table_size * cluster size <= 512 MiB: at most 8 MiB of table.
    std::vector<uint64_t> table(bm.table_size);
    if (bm.table_offset > file_size_ ||
        uint64_t{bm.table_size} * 8 > file_size_ - bm.table_offset ||
        !io::read_exact(file_, bm.table_offset, table.data(), table.size() * 8).ok()) {
      ++refcount_counts_.corruptions;
      continue;
    }
    for (uint64_t e : table) {
      e = __builtin_bswap64(e);
      const uint64_t offset = e & 0x00fffffffffffe00ull;
      if ((e & 0xff000000000001feull) != 0 || (offset != 0 && ((e & 1) || offset % cs_ != 0))) {
        ++refcount_counts_.corruptions;
        continue;
      }
      if (offset != 0) reference(offset, cs_);
    }
  }
}

Result<void> Checker::count_references() {
  refs_.assign(div_round_up(file_size_, cs_), 0);
  report_.allocated_clusters = report_.fragmented_clusters = report_.compressed_clusters = 0;
  reference(0, cs_);  // header, extensions and backing file name
  // The LUKS area of an encrypted image (QEMU's crypto_header).
  // (A length past any host offset is left to reference()'s bound check.)
  if (auto area = crypto_area(header_))
    reference(area->offset, std::min<uint64_t>(area->length, kMaxHostOffset + 1));
  AMBER_TRY(walk_l1(header_.l1_table_offset, header_.l1_size, TableKind::kActive));
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    const Snapshot& s = snapshots_[i];
    if (s.l1_table_offset % cs_ != 0) {
      message(format_message("ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": L1 table is not "
                             "cluster aligned; snapshot table entry corrupted",
                             s.info.id.c_str(), s.info.name.c_str(), s.l1_table_offset));
      ++refcount_counts_.corruptions;
      continue;
    }
    if (uint64_t{s.l1_size} * 8 > kMaxL1Bytes) {
      message(format_message("ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": L1 table is too large; "
                             "snapshot table entry corrupted",
                             s.info.id.c_str(), s.info.name.c_str(), s.l1_size));
      ++refcount_counts_.corruptions;
      continue;
    }
    AMBER_TRY(walk_l1(s.l1_table_offset, s.l1_size, TableKind::kSnapshot));
  }
  reference(header_.snapshots_offset, snapshot_table_bytes_);
  count_bitmaps();
  AMBER_TRY_ASSIGN(refcount_table_, walk_refcount_table());
  return ok();
}

Result<void> Checker::read_snapshots() {
  if (header_.nb_snapshots == 0) return ok();
  AMBER_TRY_ASSIGN(
      SnapshotTable table,
      read_snapshot_table(file_, header_.snapshots_offset, header_.nb_snapshots, header_.version,
                          header_.cluster_bits, SnapshotValidation::kStructure));
  snapshots_ = std::move(table.snapshots);
  snapshot_table_bytes_ = table.bytes;
  if (header_.version < 3) return ok();
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    if (snapshots_[i].extra_data_size >= kMinV3SnapshotExtraData) continue;
    message(format_message("%s snapshot table entry %zu is incomplete",
                           fixes_errors() ? "Repairing" : "ERROR", i));
    ++snapshot_counts_.corruptions;
  }
  return ok();
}

Result<void> Checker::compare(StoredRefcounts& stored, CompareMode mode, bool& rebuild,
                              Counts& counts) {
  const uint64_t file_clusters = div_round_up(file_size_, cs_);
  const uint64_t end = std::max<uint64_t>(file_clusters, refs_.size());
  highest_cluster_ = 0;
  any_cluster_ = false;
  for (uint64_t c = 0; c < end; ++c) {
    const uint64_t refs = c < refs_.size() ? refs_[c] : 0;
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(c));
    // A refcount past the end of the file with no reference is not a leak
    // (qemu-img does not look there).
    if (c >= file_clusters && refs == 0) continue;
    if (count > 0 || refs > 0) {
      highest_cluster_ = c;
      any_cluster_ = true;
    }
    if (count == refs) continue;
    uint64_t* fixed = nullptr;
    if (count == 0)
      rebuild = true;
    else if (count > refs && mode != CompareMode::kReport)
      fixed = &counts.leaks_fixed;
    else if (count < refs && mode == CompareMode::kFixAll)
      fixed = &counts.corruptions_fixed;
    message(format_message("%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64,
                           fixed != nullptr ? "Repairing"
                           : count < refs   ? "ERROR"
                                            : "Leaked",
                           c, count, refs));
    if (fixed != nullptr) {
      AMBER_TRY(stored.set(c, refs));
      if (refs == 0) discard(c, 1);
      ++*fixed;
      continue;
    }
    if (count < refs)
      ++counts.corruptions;
    else
      ++counts.leaks;
  }
  return stored.write_back();
}

Result<void> Checker::check_copied(StoredRefcounts& stored, Counts& counts) {
  // -r leaks repairs the flags only when the refcounts are now known right.
  bool fix = fixes_errors();
  if (repair_ == RepairMode::kLeaks)
    fix = counts.check_errors == 0 && counts.corruptions == 0 && counts.leaks == 0;
  const char* verb = fix ? "Repairing" : "ERROR";
  AMBER_TRY_ASSIGN(auto l1, read_table(header_.l1_table_offset, header_.l1_size));
  const bool extended = header_.extended_l2();
  const uint64_t step = extended ? 2 : 1;
  for (uint64_t i = 0; i < l1.size(); ++i) {
    const uint64_t l2 = l1[i] & kL1OffsetMask;
    if (l2 == 0) continue;
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(l2 / cs_));
    if ((count == 1) != ((l1[i] & kOflagCopied) != 0)) {
      message(format_message("%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu64 " l1_entry=%" PRIx64
                             " refcount=%" PRIu64,
                             verb, i, l1[i], count));
      if (fix) {
        AMBER_TRY(write_be64(file_, header_.l1_table_offset + i * 8,
                             count == 1 ? l1[i] | kOflagCopied : l1[i] & ~kOflagCopied));
        ++counts.corruptions_fixed;
      } else {
        ++counts.corruptions;
      }
    }
    AMBER_TRY_ASSIGN(auto table, read_table(l2, cs_ / 8));
    for (uint64_t j = 0; j < table.size(); j += step) {
      const L2Entry e = decode_l2_entry(table[j], 0, header_.cluster_bits, extended);
      if (!e.has_host_cluster()) continue;
      if (header_.incompatible_features & kIncompatDataFile) continue;  // not refcounted
      AMBER_TRY_ASSIGN(uint64_t data_count, stored.get(e.host_offset / cs_));
      if ((data_count == 1) == e.copied) continue;
      message(format_message("%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64 " refcount=%" PRIu64,
                             verb, e.word, data_count));
      if (fix) {
        AMBER_TRY(write_be64(file_, l2 + j * 8,
                             data_count == 1 ? e.word | kOflagCopied : e.word & ~kOflagCopied));
        ++counts.corruptions_fixed;
      } else {
        ++counts.corruptions;
      }
    }
  }
  return ok();
}

// qemu-img's rebuild: a new structure from the counts just made, then a
// fresh count (the new structure is referenced, the old one is not) whose
// leaks -- the old structure -- are repaired.
Result<void> Checker::rebuild(Counts& counts) {
  const Counts before = counts;
  message("Rebuilding refcount structure");
  std::vector<uint32_t> refcounts(refs_.begin(), refs_.end());
  AMBER_TRY(write_refcount_structure(file_, header_, refcounts));
  AMBER_TRY_ASSIGN(file_size_, file_.size());
  counts.corruptions = 0;
  counts.leaks = 0;
  AMBER_TRY(count_references());
  StoredRefcounts stored(file_, header_, refcount_table_);
  Counts leak_fix;
  bool again = false;
  AMBER_TRY(compare(stored, CompareMode::kFixLeaks, again, leak_fix));
  if (again) message("ERROR rebuilt refcount structure is still broken");
  if (counts.corruptions < before.corruptions)
    counts.corruptions_fixed += before.corruptions - counts.corruptions;
  if (counts.leaks < before.leaks) counts.leaks_fixed += before.leaks - counts.leaks;
  counts.leaks += leak_fix.leaks;
  return check_copied(stored, counts);
}

Result<void> Checker::check_refcounts() {
  AMBER_TRY(count_references());
  Counts& counts = refcount_counts_;
  bool need_rebuild = false;
  {
    StoredRefcounts stored(file_, header_, refcount_table_);
    const Counts before = counts;
    AMBER_TRY(compare(stored, CompareMode::kReport, need_rebuild, counts));
    if (need_rebuild && fixes_errors()) return rebuild(counts);
    if (repair_ != RepairMode::kNone) {
      if (need_rebuild) {
        message("ERROR need to rebuild refcount structures");
        // The report cannot travel with the Error: print its lines here,
        // as qemu-img does before "Check failed".
        for (const auto& line : report_.messages) std::fprintf(stderr, "%s\n", line.c_str());
        return Error(ErrorKind::kIo, "Check failed: Input/output error");
      }
      if (counts.leaks != 0 || counts.corruptions != 0) {
        counts = before;
        AMBER_TRY(compare(stored, fixes_errors() ? CompareMode::kFixAll : CompareMode::kFixLeaks,
                          need_rebuild, counts));
      }
    }
    AMBER_TRY(check_copied(stored, counts));
  }
  return ok();
}

// qemu-img's qcow2_write_snapshots: the table in new clusters, then the
// header, then the old clusters freed.
Result<void> Checker::fix_snapshot_table() {
  if (snapshot_counts_.corruptions == 0 || !fixes_errors()) return ok();
  for (auto& s : snapshots_) {
    // An incomplete entry's disk size is the image's (QEMU's default).
    if (s.extra_data_size < kMinV3SnapshotExtraData) s.info.disk_size = header_.size;
  }
  const std::vector<uint8_t> bytes = serialize_snapshot_table(snapshots_);
  const uint64_t clusters = div_round_up(bytes.size(), cs_);
  StoredRefcounts stored(file_, header_, refcount_table_);
  // The first run of free clusters whose refcounts can be stored.
  uint64_t start = 0;
  uint64_t run = 0;
  for (uint64_t c = 1; run < clusters; ++c) {
    if (c >= kMaxCheckedClusters)
      return Error(ErrorKind::kNoSpace, "no room for the snapshot table");
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(c));
    AMBER_TRY_ASSIGN(bool settable, stored.settable(c));
    if (count != 0 || !settable) {
      run = 0;
      continue;
    }
    if (run++ == 0) start = c;
  }
  for (uint64_t c = start; c < start + clusters; ++c) AMBER_TRY(stored.set(c, 1));
  AMBER_TRY(stored.write_back());
  AMBER_TRY(file_.flush());
  AMBER_TRY(io::write_exact(file_, start * cs_, bytes.data(), bytes.size()));
  AMBER_TRY(file_.flush());
  uint8_t pointer[12];
  store_be32(pointer, static_cast<uint32_t>(snapshots_.size()));
  store_be64(pointer + 4, start * cs_);
  AMBER_TRY(io::write_exact(file_, 60, pointer, sizeof pointer));
  AMBER_TRY(file_.flush());
  const uint64_t old_first = header_.snapshots_offset / cs_;
  const uint64_t old_last = (header_.snapshots_offset + snapshot_table_bytes_ - 1) / cs_;
  header_.snapshots_offset = start * cs_;
  for (uint64_t c = old_first; c <= old_last; ++c) {
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(c));
    if (count == 0) continue;
    AMBER_TRY(stored.set(c, count - 1));
    if (count == 1) discard(c, 1);
  }
  AMBER_TRY(stored.write_back());
  snapshot_counts_.corruptions_fixed += snapshot_counts_.corruptions;
  snapshot_counts_.corruptions = 0;
  return ok();
}

// qcow2_mark_clean and qcow2_mark_consistent.
Result<void> Checker::mark_clean() {
  const uint64_t bits = kIncompatDirty | kIncompatCorrupt;
  if ((header_.incompatible_features & bits) == 0) return ok();
  AMBER_TRY(file_.flush());
  uint64_t features = header_.incompatible_features & ~bits;
  AMBER_TRY(write_be64(file_, 72, features));
  header_.incompatible_features = features;
  return file_.flush();
}

Result<CheckReport> Checker::run() {
  report_.format = "qcow2";
  const uint64_t file_clusters = div_round_up(file_size_, cs_);
  if (file_clusters > kMaxCheckedClusters)
    return Error(ErrorKind::kUnsupported, "image file too large to check");
  report_.total_clusters = div_round_up(header_.size, cs_);
  AMBER_TRY(read_snapshots());
  AMBER_TRY(check_refcounts());
  AMBER_TRY(fix_snapshot_table());
  report_.check_errors = refcount_counts_.check_errors + snapshot_counts_.check_errors;
  report_.corruptions = refcount_counts_.corruptions + snapshot_counts_.corruptions;
  report_.leaks = refcount_counts_.leaks + snapshot_counts_.leaks;
  report_.corruptions_fixed =
      refcount_counts_.corruptions_fixed + snapshot_counts_.corruptions_fixed;
  report_.leaks_fixed = refcount_counts_.leaks_fixed + snapshot_counts_.leaks_fixed;
  report_.image_end_offset = any_cluster_ ? (highest_cluster_ + 1) * cs_ : 0;
  if (repair_ != RepairMode::kNone && report_.check_errors == 0 && report_.corruptions == 0)
    AMBER_TRY(mark_clean());
  if (report_.leaks_fixed != 0 || report_.corruptions_fixed != 0) AMBER_TRY(file_.flush());
  return report_;
}

}  // namespace

Result<CheckReport> check_file(io::File& file, RepairMode repair) {
  AMBER_TRY_ASSIGN(Header header, read_header(file));
  // A repair opens the image read-write, and a QEMU read-write open clears
  // the autoclear bits it does not know. The known ones stay: a check
  // changes no guest data, so bitmaps stay valid.
  const uint64_t unknown_autoclear = header.autoclear_features & ~kAutoclearKnownToQemu;
  if (repair != RepairMode::kNone && header.version >= 3 && unknown_autoclear != 0) {
    header.autoclear_features &= kAutoclearKnownToQemu;
    AMBER_TRY(write_be64(file, kAutoclearFieldOffset, header.autoclear_features));
    AMBER_TRY(file.flush());
  }
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  Checker checker(file, header, file_size, repair);
  return checker.run();
}

// qemu-img check opens the image with its backing chain, so a missing or
// broken backing file fails the check as it fails every other command
// ("Could not open backing file: ..."). A header that does not parse is
// left to the checker.
Result<void> open_backing_chain(const std::string& path, io::File& file, const OpenOptions& o) {
  auto header = read_header(file);
  if (!header.ok() || header->backing_file.empty()) return ok();
  std::optional<ImageFormat> format;
  if (!header->backing_format.empty()) {
    AMBER_TRY_ASSIGN(format, parse_format(header->backing_format));
  }
  const std::string backing = resolve_backing_path(path, header->backing_file);
  if (backing == path)
    return Error(ErrorKind::kCorrupt,
                 "backing file '" + backing + "' is the image itself (a loop)");
  auto opened = open_backing_image(backing, format, o, 1);
  if (!opened.ok()) return std::move(opened).error().with_context("Could not open backing file");
  return ok();
}

Result<CheckReport> check(const std::string& path, const CheckOptions& options) {
  OpenOptions o;
  o.access = options.repair == RepairMode::kNone ? io::Access::kReadOnly : io::Access::kReadWrite;
  o.sharing = options.sharing;
  o.cache = options.cache;
  AMBER_TRY_ASSIGN(auto file, open_host_file(path, o));
  AMBER_TRY(open_backing_chain(path, *file, o));
  AMBER_TRY_ASSIGN(CheckReport first, check_file(*file, options.repair));
  first.filename = path;
  if (options.repair == RepairMode::kNone ||
      (first.leaks_fixed == 0 && first.corruptions_fixed == 0))
    return first;
  // qemu-img checks a repaired image again and reports that state, with
  // the counts of what the repair fixed.
  AMBER_TRY_ASSIGN(CheckReport second, check_file(*file, RepairMode::kNone));
  second.filename = path;
  second.leaks_fixed = first.leaks_fixed;
  second.corruptions_fixed = first.corruptions_fixed;
  first.messages.insert(first.messages.end(), second.messages.begin(), second.messages.end());
  second.messages = std::move(first.messages);
  return second;
}

}  // namespace amber::block::qcow2
