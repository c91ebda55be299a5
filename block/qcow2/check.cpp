// qcow2 consistency check and repair (`qemu-img check [-r leaks|all]`).
//
// Counts every reference to every host cluster by walking the header, the
// active and snapshot L1/L2 tables (standard, extended and compressed
// entries; a compressed cluster references each host cluster its
// sector-aligned range touches), the snapshot table and the refcount
// table/blocks, then compares with the stored refcounts. Leaks are
// refcount > references, corruptions refcount < references, bad entries
// and OFLAG_COPIED mismatches in the active tables. Messages and counters
// follow qemu-img 7.2. Repair: -r leaks lowers leaked refcounts; -r all
// also rebuilds refcounts that are too low (rebuild_refcounts) and fixes
// COPIED flags, then the image is checked again.
//
// Hostile images: every table size is capped before it is read; the
// reference counts live in one vector bounded by kMaxCheckedClusters.
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "block/open_file.h"
#include "block/qcow2/format.h"
#include "block/qcow2/header.h"
#include "block/qcow2/qcow2.h"
#include "block/qcow2/refcount.h"
#include "block/qcow2/refcount_rebuild.h"
#include "block/qcow2/snapshot.h"

namespace amber::block::qcow2 {
namespace {

// Bounds the reference array (2 bytes per host cluster): 128 Mi clusters
// is 8 TiB of 64 KiB clusters and 256 MiB of memory.
constexpr uint64_t kMaxCheckedClusters = 1ull << 27;
// References per cluster saturate here (more cannot be stored anyway in
// the common 16-bit refcounts).
constexpr uint16_t kMaxReferences = 0xffff;

std::string format_message(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string format_message(const char* format, ...) {
  char buffer[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

// Stored refcounts, read block by block (sequential access in the compare
// loop keeps one block in memory) and written back when repaired.
class StoredRefcounts {
 public:
  StoredRefcounts(io::File& file, const Header& header, std::vector<uint64_t> table)
      : file_(file), header_(header), table_(std::move(table)),
        entries_(header.cluster_size() * 8 / header.refcount_bits()) {}

  Result<uint64_t> get(uint64_t cluster) {
    AMBER_TRY_ASSIGN(bool present, load(cluster / entries_));
    if (!present) return uint64_t{0};
    return get_refcount_entry(block_.data(), cluster % entries_, header_.refcount_order);
  }
  // Only for clusters whose block exists (a leak has refcount > 0).
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

class Checker {
 public:
  Checker(io::File& file, Header& header, uint64_t file_size, RepairMode repair)
      : file_(file), header_(header), cs_(header.cluster_size()), file_size_(file_size),
        repair_(repair) {}

  Result<CheckReport> run();

 private:
  // Adds one reference to every cluster of [offset, offset + bytes); false
  // (and a corruption) when the range lies past the end of the file.
  bool reference(uint64_t offset, uint64_t bytes);
  Result<std::vector<uint64_t>> read_table(uint64_t offset, uint64_t entries);
  Result<void> walk_l1(uint64_t l1_offset, uint32_t l1_size, bool active);
  Result<void> walk_l2(uint64_t l2_offset, bool active);
  Result<std::vector<uint64_t>> walk_refcount_table();
  Result<void> compare(StoredRefcounts& stored);
  Result<void> check_copied(StoredRefcounts& stored);

  void corruption(std::string message) {
    report_.messages.push_back(std::move(message));
    ++report_.corruptions;
  }

  io::File& file_;
  Header& header_;
  uint64_t cs_;
  uint64_t file_size_;
  RepairMode repair_;
  std::vector<uint16_t> refs_;
  bool need_rebuild_ = false;
  std::vector<uint64_t> refcount_blocks_;  // host offsets of the valid refcount blocks
  CheckReport report_;
};

bool Checker::reference(uint64_t offset, uint64_t bytes) {
  if (bytes == 0) return true;
  // As qemu-img: a range reaching a cluster or more past the end of the
  // file is a corruption and is not counted (this also bounds refs_).
  if (offset > kMaxHostOffset || offset + bytes > file_size_ + cs_ - 1) {
    corruption(format_message("ERROR: counting reference for region exceeding the end of the "
                              "file by one cluster or more: offset 0x%" PRIx64 " size 0x%" PRIx64,
                              offset, bytes));
    return false;
  }
  const uint64_t first = offset / cs_;
  const uint64_t last = (offset + bytes - 1) / cs_;
  for (uint64_t c = first; c <= last; ++c) {
    if (c >= refs_.size()) refs_.resize(c + 1, 0);
    if (refs_[c] < kMaxReferences) ++refs_[c];
  }
  return true;
}

Result<std::vector<uint64_t>> Checker::read_table(uint64_t offset, uint64_t entries) {
  std::vector<uint64_t> table(entries);
  if (entries == 0) return table;
  AMBER_TRY(io::read_exact(file_, offset, table.data(), entries * 8));
  for (auto& e : table) e = load_be64(&e);
  return table;
}

Result<void> Checker::walk_l2(uint64_t l2_offset, bool active) {
  const bool extended = header_.extended_l2();
  const uint64_t step = extended ? 2 : 1;
  AMBER_TRY_ASSIGN(auto table, read_table(l2_offset, cs_ / 8));
  const uint32_t x = 62 - (header_.cluster_bits - 8);
  // As qemu-img, fragmentation is measured within one L2 table: the first
  // allocated cluster of each table never counts as fragmented.
  uint64_t next_contiguous = 0;
  for (uint64_t i = 0; i < table.size(); i += step) {
    const uint64_t e = table[i];
    const uint64_t bitmap = extended ? table[i + 1] : 0;
    const uint64_t index = i / step;
    if (e & kOflagCompressed) {
      const uint64_t offset = e & ((1ull << x) - 1);
      if (e & kOflagCopied)
        corruption(format_message("ERROR: coffset=0x%" PRIx64 ": copied flag must never be set "
                                  "for compressed clusters", offset));
      if (bitmap != 0) {
        corruption(format_message("ERROR compressed cluster %" PRIu64 " with non-zero subcluster "
                                  "allocation bitmap, entry=0x%" PRIx64, index, e));
        continue;
      }
      const uint64_t sectors = ((e >> x) & ((1ull << (header_.cluster_bits - 8)) - 1)) + 1;
      // [offset, offset + csize) touches the same clusters as the
      // sector-aligned range of nb_csectors sectors.
      const uint64_t csize = sectors * kCompressedSectorSize - (offset & (kCompressedSectorSize - 1));
      reference(offset, csize);
      if (active) {
        ++report_.allocated_clusters;
        ++report_.compressed_clusters;
        ++report_.fragmented_clusters;
      }
      continue;
    }
    if (e & kL2StdReservedMask)
      corruption(format_message("ERROR found l2 entry with reserved bits set: %" PRIx64, e));
    const uint64_t offset = e & kL2OffsetMask;
    // The zero flag is bit 0 only without subclusters (reserved with them).
    const bool zero_flag = !extended && (e & kOflagZero) != 0;
    if (offset == 0) {
      // Unallocated or zero without allocation.
      if (extended && static_cast<uint32_t>(bitmap) != 0)
        corruption("ERROR: Unallocated cluster has non-zero subcluster allocation map");
      continue;
    }
    if ((bitmap >> 32) & bitmap)
      corruption(format_message("ERROR offset=%" PRIx64 ": Allocated cluster has corrupted "
                                "subcluster allocation bitmap", offset));
    if (offset % cs_ != 0) {
      // qemu-img still counts the (unaligned) cluster below.
      const bool contains_data = extended ? static_cast<uint32_t>(bitmap) != 0 : !zero_flag;
      corruption(format_message(contains_data ? "ERROR offset=%" PRIx64 ": Data cluster is not "
                                                "properly aligned; L2 entry corrupted."
                                              : "ERROR offset=%" PRIx64 ": Preallocated cluster "
                                                "is not properly aligned; L2 entry corrupted.",
                                offset));
    }
    if (active) {
      ++report_.allocated_clusters;
      if (next_contiguous != 0 && offset != next_contiguous) ++report_.fragmented_clusters;
      next_contiguous = offset + cs_;
    }
    reference(offset, cs_);
  }
  return ok();
}

Result<void> Checker::walk_l1(uint64_t l1_offset, uint32_t l1_size, bool active) {
  const uint64_t bytes = uint64_t{l1_size} * 8;
  if (bytes > kMaxL1Bytes || (l1_size != 0 && l1_offset % cs_ != 0) ||
      l1_offset > kMaxHostOffset) {
    corruption(format_message("ERROR: L1 table at 0x%" PRIx64 " with %u entries is invalid",
                              l1_offset, l1_size));
    return ok();
  }
  reference(l1_offset, bytes);
  AMBER_TRY_ASSIGN(auto l1, read_table(l1_offset, l1_size));
  for (uint64_t i = 0; i < l1.size(); ++i) {
    if (l1[i] == 0) continue;
    if (l1[i] & kL1ReservedMask)
      corruption(format_message("ERROR found L1 entry with reserved bits set: %" PRIx64, l1[i]));
    const uint64_t l2 = l1[i] & kL1OffsetMask;
    // As qemu-img: an unaligned table is reported and still walked where
    // the entry points (its clusters are counted as referenced).
    if (l2 % cs_ != 0)
      corruption(format_message("ERROR l2_offset=%" PRIx64 ": Table is not cluster aligned; L1 "
                                "entry corrupted", l2));
    // Past the end of the file the table reads as zeros (empty).
    if (reference(l2, cs_)) AMBER_TRY(walk_l2(l2, active));
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
      corruption(format_message("ERROR refcount table entry %" PRIu64 " has reserved bits set", i));
      need_rebuild_ = true;
      table[i] = 0;
      continue;
    }
    const uint64_t offset = table[i] & kRefTableOffsetMask;
    if (offset == 0) continue;
    if (offset % cs_ != 0) {
      corruption(format_message("ERROR refcount block %" PRIu64 " is not cluster aligned; "
                                "refcount table entry corrupted", i));
      table[i] = 0;
      continue;
    }
    if (offset >= file_size_) {
      corruption(format_message("ERROR refcount block %" PRIu64 " is outside image", i));
      table[i] = 0;
      continue;
    }
    reference(offset, cs_);
    refcount_blocks_.push_back(offset);
  }
  return table;
}

Result<void> Checker::compare(StoredRefcounts& stored) {
  const uint64_t file_clusters = div_round_up(file_size_, cs_);
  const uint64_t end = std::max<uint64_t>(file_clusters, refs_.size());
  uint64_t highest = 0;
  bool any = false;
  // A refcount that is too low means a rebuild (-r all), which also takes
  // care of the leaks, or a failed check (-r leaks): find that out before
  // repairing any leak.
  if (repair_ != RepairMode::kNone) {
    for (uint64_t c = 0; c < refs_.size() && !need_rebuild_; ++c) {
      AMBER_TRY_ASSIGN(uint64_t count, stored.get(c));
      need_rebuild_ = count < refs_[c];
    }
  }
  for (uint64_t c = 0; c < end; ++c) {
    const uint64_t refs = c < refs_.size() ? refs_[c] : 0;
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(c));
    // A refcount past the end of the file with no reference is not a leak
    // (qemu-img does not look there).
    if (c >= file_clusters && refs == 0) continue;
    if (count > 0 || refs > 0) {
      highest = c;
      any = true;
    }
    if (count == refs) continue;
    if (count < refs) {
      report_.messages.push_back(format_message("ERROR cluster %" PRIu64 " refcount=%" PRIu64
                                                " reference=%" PRIu64, c, count, refs));
      ++report_.corruptions;
      need_rebuild_ = true;
      continue;
    }
    report_.messages.push_back(format_message("Leaked cluster %" PRIu64 " refcount=%" PRIu64
                                              " reference=%" PRIu64, c, count, refs));
    if (repair_ != RepairMode::kNone && !need_rebuild_) {
      report_.messages.push_back(format_message("Repairing cluster %" PRIu64 " refcount=%" PRIu64
                                                " reference=%" PRIu64, c, count, refs));
      AMBER_TRY(stored.set(c, refs));
      ++report_.leaks_fixed;
    } else {
      ++report_.leaks;
    }
  }
  AMBER_TRY(stored.write_back());
  report_.image_end_offset = any ? (highest + 1) * cs_ : 0;
  return ok();
}

Result<void> Checker::check_copied(StoredRefcounts& stored) {
  AMBER_TRY_ASSIGN(auto l1, read_table(header_.l1_table_offset, header_.l1_size));
  const bool fix = repair_ == RepairMode::kAll;
  const uint64_t step = header_.extended_l2() ? 2 : 1;
  for (uint64_t i = 0; i < l1.size(); ++i) {
    const uint64_t l2 = l1[i] & kL1OffsetMask;
    if (l2 == 0) continue;
    AMBER_TRY_ASSIGN(uint64_t count, stored.get(l2 / cs_));
    if ((count == 1) != ((l1[i] & kOflagCopied) != 0)) {
      const char* verb = fix ? "Repairing" : "ERROR";
      report_.messages.push_back(format_message("%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu64
                                                " l1_entry=%" PRIx64 " refcount=%" PRIu64,
                                                verb, i, l1[i], count));
      if (fix) {
        const uint64_t entry = count == 1 ? l1[i] | kOflagCopied : l1[i] & ~kOflagCopied;
        uint64_t be;
        store_be64(&be, entry);
        AMBER_TRY(io::write_exact(file_, header_.l1_table_offset + i * 8, &be, 8));
        ++report_.corruptions_fixed;
      } else {
        ++report_.corruptions;
      }
    }
    AMBER_TRY_ASSIGN(auto table, read_table(l2, cs_ / 8));
    for (uint64_t j = 0; j < table.size(); j += step) {
      const uint64_t e = table[j];
      if (e & kOflagCompressed) continue;
      const uint64_t offset = e & kL2OffsetMask;
      if (offset == 0) continue;
      AMBER_TRY_ASSIGN(uint64_t data_count, stored.get(offset / cs_));
      if ((data_count == 1) == ((e & kOflagCopied) != 0)) continue;
      report_.messages.push_back(format_message("%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64
                                                " refcount=%" PRIu64,
                                                fix ? "Repairing" : "ERROR", e, data_count));
      if (fix) {
        const uint64_t entry = data_count == 1 ? e | kOflagCopied : e & ~kOflagCopied;
        uint64_t be;
        store_be64(&be, entry);
        AMBER_TRY(io::write_exact(file_, l2 + j * 8, &be, 8));
        ++report_.corruptions_fixed;
      } else {
        ++report_.corruptions;
      }
    }
  }
  return ok();
}

Result<CheckReport> Checker::run() {
  report_.format = "qcow2";
  const uint64_t file_clusters = div_round_up(file_size_, cs_);
  if (file_clusters > kMaxCheckedClusters)
    return Error(ErrorKind::kUnsupported, "image file too large to check");
  refs_.assign(file_clusters, 0);
  report_.total_clusters = div_round_up(header_.size, cs_);

  reference(0, cs_);  // header, extensions and backing file name
  AMBER_TRY(walk_l1(header_.l1_table_offset, header_.l1_size, true));
  if (header_.nb_snapshots != 0) {
    auto snapshots = read_snapshot_table(file_, header_.snapshots_offset, header_.nb_snapshots,
                                         header_.version, header_.cluster_bits);
    if (!snapshots.ok()) {
      corruption("ERROR snapshot table: " + snapshots.error().message());
    } else {
      reference(header_.snapshots_offset, snapshots->bytes);
      for (const auto& s : snapshots->snapshots) AMBER_TRY(walk_l1(s.l1_table_offset, s.l1_size, false));
    }
  }
  AMBER_TRY_ASSIGN(auto table, walk_refcount_table());
  StoredRefcounts stored(file_, header_, std::move(table));
  AMBER_TRY(compare(stored));
  if (need_rebuild_) {
    if (repair_ == RepairMode::kLeaks) {
      // The report cannot travel with the Error: print its lines here, as
      // qemu-img does before "Check failed".
      report_.messages.push_back("ERROR need to rebuild refcount structures");
      for (const auto& line : report_.messages) std::fprintf(stderr, "%s\n", line.c_str());
      return Error(ErrorKind::kIo, "Check failed: Input/output error");
    }
    if (repair_ == RepairMode::kAll) {
      report_.messages.push_back("Rebuilding refcount structure");
      // The old refcount table and blocks are freed by the rebuild (it
      // places new ones at the end of the file); qemu-img lists them.
      std::vector<uint64_t> old_clusters;
      const uint64_t rt_first = header_.refcount_table_offset / cs_;
      for (uint64_t c = 0; c < header_.refcount_table_clusters; ++c) old_clusters.push_back(rt_first + c);
      for (uint64_t b : refcount_blocks_) old_clusters.push_back(b / cs_);
      std::sort(old_clusters.begin(), old_clusters.end());
      AMBER_TRY(rebuild_refcounts(file_, header_));
      for (uint64_t c : old_clusters)
        report_.messages.push_back(format_message("Repairing cluster %" PRIu64
                                                  " refcount=1 reference=0", c));
      report_.corruptions_fixed += report_.corruptions;
      report_.leaks_fixed += report_.leaks;
      report_.corruptions = 0;
      report_.leaks = 0;
      return report_;
    }
  }
  AMBER_TRY(check_copied(stored));
  if (report_.leaks_fixed || report_.corruptions_fixed) AMBER_TRY(file_.flush());
  return report_;
}

Result<CheckReport> check_file(io::File& file, RepairMode repair) {
  AMBER_TRY_ASSIGN(Header header, read_header(file));
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  Checker checker(file, header, file_size, repair);
  return checker.run();
}

}  // namespace

Result<CheckReport> check(const std::string& path, const CheckOptions& options) {
  OpenOptions o;
  o.access = options.repair == RepairMode::kNone ? io::Access::kReadOnly : io::Access::kReadWrite;
  o.sharing = options.sharing;
  o.cache = options.cache;
  AMBER_TRY_ASSIGN(auto file, open_host_file(path, o));
  AMBER_TRY_ASSIGN(CheckReport first, check_file(*file, options.repair));
  first.filename = path;
  if (options.repair == RepairMode::kNone || (first.leaks_fixed == 0 && first.corruptions_fixed == 0))
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
