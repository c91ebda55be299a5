// SPDX-License-Identifier: GPL-2.0-or-later
// Qcow2Image: internal snapshot create, apply and delete. snapshot.h says
// what each does to the tables and why the order is crash-safe; this file
// is the one place that order is written down in code (run_switch).
#include <algorithm>
#include <cerrno>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/l2_entry.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
namespace {

// qemu-img keeps the name in a 256-byte buffer; the table's 16-bit length
// is the format's own bound.
constexpr size_t kMaxSnapshotNameBytes = 65535;

Error corrupt(const std::string& what) {
  return Error(ErrorKind::kCorrupt, what);
}

}  // namespace

std::vector<uint64_t> Qcow2Image::active_l1() const {
  std::vector<uint64_t> out(header_.l1_size);
  for (uint64_t i = 0; i < out.size(); ++i) out[i] = l1(i);
  return out;
}

Result<void> Qcow2Image::quiesce_for_snapshot() {
  if (read_only()) return Error(ErrorKind::kReadOnly, "the image is opened read-only", EACCES);
  if (header_.incompatible_features & kIncompatDataFile)
    return Error(ErrorKind::kUnsupported, "snapshots of images with a data file", ENOTSUP);
  // Everything in memory goes to the file first: the operation reads the
  // tables from the file and replaces what the cache holds.
  AMBER_TRY(write_back_metadata());
  AMBER_TRY(apply_pending_frees());
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  AMBER_TRY(file_->flush());
  return ok();
}

Result<void> Qcow2Image::check_l1_entry(uint64_t index, uint64_t entry) const {
  const uint64_t off = entry & kL1OffsetMask;
  if ((entry & kL1ReservedMask) != 0)
    return corrupt("L1 entry " + std::to_string(index) + " (" + to_hex(entry) +
                   ") has reserved bits set");
  if (off != 0 && (off % cluster_size_ != 0 || off + cluster_size_ > host_end_.load()))
    return corrupt("L1 entry " + std::to_string(index) + " points to " + to_hex(off) +
                   ", not cluster aligned or beyond the end of the file");
  return ok();
}

Result<std::vector<uint64_t>> Qcow2Image::read_l1_table(uint64_t offset, uint64_t entries) {
  // Snapshot L1 sizes were bounded to 32 MiB when the table was read.
  std::vector<uint64_t> table(entries);
  if (entries == 0) return table;
  AMBER_TRY(io::read_exact(*file_, offset, table.data(), entries * 8));
  for (uint64_t i = 0; i < entries; ++i) {
    table[i] = __builtin_bswap64(table[i]);
    AMBER_TRY(check_l1_entry(i, table[i]));
  }
  return table;
}

Result<std::vector<uint64_t>> Qcow2Image::read_l2_table(uint64_t offset) {
  std::vector<uint64_t> words(cluster_size_ / 8);
  AMBER_TRY(io::read_exact(*file_, offset, words.data(), cluster_size_));
  const uint64_t end = host_end_.load();
  for (uint64_t i = 0; i < words.size(); i += entry_words_) {
    words[i] = __builtin_bswap64(words[i]);
    if (extended_) words[i + 1] = __builtin_bswap64(words[i + 1]);
    const L2Entry e =
        decode_l2_entry(words[i], extended_ ? words[i + 1] : 0, cluster_bits_, extended_);
    const HostRange r = referenced_range(e, cluster_bits_);
    const bool bad_offset =
        e.has_host_cluster() && (e.host_offset % cluster_size_ != 0 || e.host_offset >= end);
    const bool outside = r.bytes != 0 && (r.offset > kMaxHostOffset || r.offset + r.bytes > end);
    if (e.reserved_bits || bad_offset || outside)
      return corrupt("L2 table at " + to_hex(offset) + ": entry " +
                     std::to_string(i / entry_words_) + " (" + to_hex(words[i]) +
                     ") is invalid or beyond the end of the file");
  }
  return words;
}

Result<void> Qcow2Image::count_references(const std::vector<uint64_t>& l1, RefcountDelta& counts) {
  for (uint64_t i = 0; i < l1.size(); ++i) {
    const uint64_t l2 = l1[i] & kL1OffsetMask;
    if (l2 == 0) continue;
    AMBER_TRY(check_l1_entry(i, l1[i]));
    counts[l2 >> cluster_bits_] += 1;
    AMBER_TRY_ASSIGN(std::vector<uint64_t> words, read_l2_table(l2));
    for (uint64_t k = 0; k < words.size(); k += entry_words_) {
      const L2Entry e =
          decode_l2_entry(words[k], extended_ ? words[k + 1] : 0, cluster_bits_, extended_);
      const HostRange r = referenced_range(e, cluster_bits_);
      if (r.bytes == 0) continue;
      for (uint64_t c = r.offset >> cluster_bits_; c <= (r.offset + r.bytes - 1) >> cluster_bits_;
           ++c)
        counts[c] += 1;
    }
  }
  return ok();
}

Result<void> Qcow2Image::plan_new_path(const std::vector<uint64_t>& source, SnapshotSwitch& sw) {
  for (uint64_t i = 0; i < source.size() && i < sw.l1.size(); ++i) {
    const uint64_t l2 = source[i] & kL1OffsetMask;
    sw.l1[i] = 0;
    if (l2 == 0) continue;
    AMBER_TRY(check_l1_entry(i, source[i]));
    AMBER_TRY_ASSIGN(std::vector<uint64_t> words, read_l2_table(l2));
    bool any_copied = false;
    for (uint64_t k = 0; k < words.size(); k += entry_words_) {
      const L2Entry e =
          decode_l2_entry(words[k], extended_ ? words[k + 1] : 0, cluster_bits_, extended_);
      if (words[k] & kOflagCopied) any_copied = true;
      const HostRange r = referenced_range(e, cluster_bits_);
      if (r.bytes == 0) continue;
      for (uint64_t c = r.offset >> cluster_bits_; c <= (r.offset + r.bytes - 1) >> cluster_bits_;
           ++c)
        sw.increments[c] += 1;
    }
    if (!any_copied) {
      // Its entries are right for shared clusters already: one more path.
      sw.increments[l2 >> cluster_bits_] += 1;
      sw.l1[i] = l2;
      continue;
    }
    for (uint64_t k = 0; k < words.size(); k += entry_words_) words[k] &= ~kOflagCopied;
    AMBER_TRY_ASSIGN(uint64_t copy, allocate_clusters(1));
    sw.allocated.push_back({copy, cluster_size_});
    sw.l2_copies.push_back({copy, std::move(words)});
    sw.l1[i] = copy | kOflagCopied;
  }
  return ok();
}

void Qcow2Image::abandon_switch(SnapshotSwitch& sw, const RefcountDelta& applied) {
  // Nothing on disk references what we allocated or counted: take it back
  // (a failure here only leaks clusters).
  for (const auto& [cluster, n] : applied) (void)refcounts_->update(cluster, -n);
  for (const auto& [offset, bytes] : sw.allocated)
    (void)refcounts_->update_range(offset, bytes, -1);
  (void)refcounts_->write_back(WriteBackOrder::kFlushBeforeTable);
}

Result<void> Qcow2Image::run_switch(SnapshotSwitch& sw) {
  const uint64_t cs = cluster_size_;
  RefcountDelta applied;
  // 1. New tables: the active L1 (when it changes) and the snapshot table.
  uint64_t l1_offset = header_.l1_table_offset;
  if (sw.new_l1 && !sw.l1.empty()) {
    auto placed = allocate_clusters(div_round_up(sw.l1.size() * 8, cs));
    if (!placed.ok()) {
      abandon_switch(sw, applied);
      return std::move(placed).error();
    }
    l1_offset = *placed;
    sw.allocated.push_back({l1_offset, align_up(sw.l1.size() * 8, cs)});
  } else if (sw.new_l1) {
    l1_offset = 0;
  }
  const std::vector<uint8_t> table = serialize_snapshot_table(sw.snapshots);
  if (table.size() > kMaxSnapshotTableBytes) {
    abandon_switch(sw, applied);
    return Error(ErrorKind::kNoSpace, "the snapshot table would exceed 64 MiB", EFBIG);
  }
  uint64_t table_offset = 0;
  if (!table.empty()) {
    auto placed = allocate_clusters(div_round_up(table.size(), cs));
    if (!placed.ok()) {
      abandon_switch(sw, applied);
      return std::move(placed).error();
    }
    table_offset = *placed;
    sw.allocated.push_back({table_offset, align_up(table.size(), cs)});
  }
  // 2. The new tables, in clusters nothing points to yet.
  Result<void> step = ok();
  for (const auto& [offset, words] : sw.l2_copies) {
    if (!step.ok()) break;
    std::vector<uint64_t> be(words.size());
    for (size_t k = 0; k < be.size(); ++k) be[k] = __builtin_bswap64(words[k]);
    step = io::write_exact(*file_, offset, be.data(), cs);
  }
  if (step.ok() && sw.new_l1 && !sw.l1.empty()) {
    std::vector<uint64_t> be(div_round_up(sw.l1.size() * 8, cs) * cs / 8, 0);
    for (size_t k = 0; k < sw.l1.size(); ++k) be[k] = __builtin_bswap64(sw.l1[k]);
    step = io::write_exact(*file_, l1_offset, be.data(), be.size() * 8);
  }
  if (step.ok() && !table.empty()) {
    std::vector<uint8_t> padded(table);
    padded.resize(align_up(table.size(), cs), 0);
    step = io::write_exact(*file_, table_offset, padded.data(), padded.size());
  }
  if (step.ok()) step = file_->flush();
  // 3. Refcount increments (the new path's clusters), durable before the
  // switch: until then they are leaks, never references to free clusters.
  // Raising a refcount to 2 under an active entry that still has COPIED
  // (create) is the one moment `check` sees a mismatch; it is kept to one
  // flush, and fixing the leaks ends it.
  for (const auto& [cluster, n] : sw.increments) {
    if (!step.ok()) break;
    step = refcounts_->update(cluster, n);
    if (step.ok()) applied[cluster] = n;
  }
  if (step.ok()) step = refcounts_->write_back(WriteBackOrder::kFlushBeforeTable);
  if (step.ok()) step = file_->flush();
  if (!step.ok()) {
    abandon_switch(sw, applied);
    return step;
  }
  // 4. The switch: L1 offset and size, disk size, snapshot count and
  // table all live in the header's first sector, written at once.
  Header next = header_;
  next.size = sw.size;
  next.l1_size = static_cast<uint32_t>(sw.l1.size());
  next.l1_table_offset = l1_offset;
  next.nb_snapshots = static_cast<uint32_t>(sw.snapshots.size());
  next.snapshots_offset = table_offset;
  step = write_header_of(next);
  if (step.ok()) step = file_->flush();
  if (!step.ok()) {
    // The header on disk may be either; the old one is rewritten before
    // any other metadata, so what we added is leaked, never referenced.
    header_stale_ = true;
    return step;
  }
  const uint64_t old_table_offset = header_.snapshots_offset;
  const uint64_t old_table_bytes = snapshot_table_bytes_;
  header_ = next;
  auto l1_table = std::make_unique<std::atomic<uint64_t>[]>(std::max<uint64_t>(sw.l1.size(), 1));
  for (size_t k = 0; k < sw.l1.size(); ++k) l1_table[k].store(sw.l1[k], std::memory_order_relaxed);
  l1_ = std::move(l1_table);
  l1_capacity_ = sw.l1.size();
  l1_dirty_.clear();
  snapshots_ = std::move(sw.snapshots);
  snapshot_table_bytes_ = table.size();
  {
    std::lock_guard cache_lock(l2_cache_->mutex());
    l2_cache_->clear();
  }
  metadata_prealloc_ = -1;
  // 5. What the old state alone referenced, now that nothing does. A
  // failure from here on leaks clusters.
  if (old_table_bytes != 0) sw.frees.push_back({old_table_offset, align_up(old_table_bytes, cs)});
  std::vector<uint64_t> freed;
  for (const auto& [cluster, n] : sw.decrements) {
    AMBER_TRY(refcounts_->update(cluster, -n));
    freed.push_back(cluster);
  }
  for (const auto& [offset, bytes] : sw.frees) {
    AMBER_TRY(refcounts_->update_range(offset, bytes, -1));
    for (uint64_t c = offset >> cluster_bits_; c < (offset + bytes) >> cluster_bits_; ++c)
      freed.push_back(c);
  }
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  AMBER_TRY(file_->flush());
  // Give freed clusters' space back to the host, as QEMU's
  // discard-snapshot does; they are free whether or not this works.
  std::sort(freed.begin(), freed.end());
  freed.erase(std::unique(freed.begin(), freed.end()), freed.end());
  for (uint64_t c : freed) {
    AMBER_TRY_ASSIGN(uint64_t left, refcounts_->get(c));
    if (left == 0) (void)file_->punch_hole(c << cluster_bits_, cs);
  }
  return ok();
}

Result<SnapshotInfo> Qcow2Image::create_snapshot(const std::string& name, uint32_t date_sec,
                                                 uint32_t date_nsec) {
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  if (snapshots_.size() >= kMaxSnapshots)
    return Error(ErrorKind::kNoSpace, "too many snapshots", EFBIG);
  if (name.size() > kMaxSnapshotNameBytes)
    return Error(ErrorKind::kInvalidArgument, "snapshot name too long", EINVAL);
  AMBER_TRY(quiesce_for_snapshot());
  Snapshot snap;
  snap.info.id = next_snapshot_id(snapshots_);
  snap.info.name = name;
  snap.info.date_sec = date_sec;
  snap.info.date_nsec = date_nsec;
  snap.info.disk_size = header_.size;
  snap.info.has_icount = true;  // qemu-img records 0
  snap.extra_data_size = 24;
  // The active L1 table becomes the snapshot's as it is; the image gets a
  // new one (QEMU copies the other way round and rewrites the active
  // tables' COPIED flags in place, which a crash can leave half done).
  snap.l1_table_offset = header_.l1_table_offset;
  snap.l1_size = header_.l1_size;
  SnapshotSwitch sw;
  sw.size = header_.size;
  const std::vector<uint64_t> current = active_l1();
  sw.l1.assign(current.size(), 0);
  if (auto planned = plan_new_path(current, sw); !planned.ok()) {
    abandon_switch(sw, {});
    return std::move(planned).error();
  }
  sw.snapshots = snapshots_;
  sw.snapshots.push_back(snap);
  AMBER_TRY(run_switch(sw));
  return snap.info;
}

Result<void> Qcow2Image::apply_snapshot(size_t index) {
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  if (index >= snapshots_.size()) return Error(ErrorKind::kNotFound, "snapshot not found", ENOENT);
  AMBER_TRY(quiesce_for_snapshot());
  const Snapshot& snap = snapshots_[index];
  if (snap.info.disk_size != header_.size && header_.version < 3)
    return Error(ErrorKind::kUnsupported, "Can't resize a v2 image which has snapshots", ENOTSUP);
  AMBER_TRY_ASSIGN(std::vector<uint64_t> source, read_l1_table(snap.l1_table_offset, snap.l1_size));
  SnapshotSwitch sw;
  sw.size = snap.info.disk_size;
  const uint64_t needed = div_round_up(sw.size, cluster_size_ * l2_entries_);
  const uint64_t entries = std::max<uint64_t>(snap.l1_size, needed);
  if (entries * 8 > kMaxL1Bytes)
    return Error(ErrorKind::kCorrupt, "Snapshot L1 table too large", EFBIG);
  sw.l1.assign(entries, 0);
  // The old active path goes once nothing points to it.
  Result<void> planned = plan_new_path(source, sw);
  if (planned.ok()) planned = count_references(active_l1(), sw.decrements);
  if (!planned.ok()) {
    abandon_switch(sw, {});
    return planned;
  }
  if (header_.l1_table_offset != 0 && header_.l1_size != 0)
    sw.frees.push_back(
        {header_.l1_table_offset, align_up(uint64_t{header_.l1_size} * 8, cluster_size_)});
  sw.snapshots = snapshots_;
  return run_switch(sw);
}

Result<void> Qcow2Image::delete_snapshot(size_t index) {
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  if (index >= snapshots_.size()) return Error(ErrorKind::kNotFound, "snapshot not found", ENOENT);
  AMBER_TRY(quiesce_for_snapshot());
  const Snapshot snap = snapshots_[index];
  AMBER_TRY_ASSIGN(std::vector<uint64_t> source, read_l1_table(snap.l1_table_offset, snap.l1_size));
  SnapshotSwitch sw;
  sw.size = header_.size;
  AMBER_TRY(count_references(source, sw.decrements));
  if (snap.l1_table_offset != 0 && snap.l1_size != 0)
    sw.frees.push_back({snap.l1_table_offset, align_up(uint64_t{snap.l1_size} * 8, cluster_size_)});
  // COPIED in the active tables must follow the refcounts they will have:
  // tables whose flags change are copied (their old copy freed after the
  // switch), the L1 is rewritten as a new table if any entry changes.
  auto final_refcount = [&](uint64_t cluster) -> Result<uint64_t> {
    AMBER_TRY_ASSIGN(uint64_t now, refcounts_->get(cluster));
    auto found = sw.decrements.find(cluster);
    const uint64_t minus = found == sw.decrements.end() ? 0 : static_cast<uint64_t>(found->second);
    if (minus > now)
      return corrupt("refcount of cluster " + std::to_string(cluster) +
                     " is lower than its references");
    return now - minus;
  };
  const std::vector<uint64_t> current = active_l1();
  sw.l1 = current;
  RefcountDelta replaced;
  auto plan = [&]() -> Result<void> {
    for (uint64_t i = 0; i < current.size(); ++i) {
      const uint64_t l2 = current[i] & kL1OffsetMask;
      if (l2 == 0) continue;
      AMBER_TRY_ASSIGN(std::vector<uint64_t> words, read_l2_table(l2));
      bool changed = false;
      for (uint64_t k = 0; k < words.size(); k += entry_words_) {
        const L2Entry e =
            decode_l2_entry(words[k], extended_ ? words[k + 1] : 0, cluster_bits_, extended_);
        if (!e.has_host_cluster()) continue;
        AMBER_TRY_ASSIGN(uint64_t rc, final_refcount(e.host_offset >> cluster_bits_));
        const uint64_t want = rc == 1 ? (words[k] | kOflagCopied) : (words[k] & ~kOflagCopied);
        if (want != words[k]) {
          words[k] = want;
          changed = true;
        }
      }
      if (!changed) {
        AMBER_TRY_ASSIGN(uint64_t rc, final_refcount(l2 >> cluster_bits_));
        sw.l1[i] = rc == 1 ? (l2 | kOflagCopied) : l2;
        continue;
      }
      AMBER_TRY_ASSIGN(uint64_t copy, allocate_clusters(1));
      sw.allocated.push_back({copy, cluster_size_});
      sw.l2_copies.push_back({copy, std::move(words)});
      sw.l1[i] = copy | kOflagCopied;
      replaced[l2 >> cluster_bits_] += 1;
    }
    return ok();
  };
  if (auto planned = plan(); !planned.ok()) {
    abandon_switch(sw, {});
    return std::move(planned).error();
  }
  for (const auto& [cluster, n] : replaced) sw.decrements[cluster] += n;
  sw.new_l1 = sw.l1 != current;
  if (sw.new_l1 && header_.l1_table_offset != 0 && header_.l1_size != 0)
    sw.frees.push_back(
        {header_.l1_table_offset, align_up(uint64_t{header_.l1_size} * 8, cluster_size_)});
  sw.snapshots = snapshots_;
  sw.snapshots.erase(sw.snapshots.begin() + static_cast<std::ptrdiff_t>(index));
  return run_switch(sw);
}

Result<void> Qcow2Image::load_snapshot_read_only(size_t index) {
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);
  if (!read_only()) return Error(ErrorKind::kInvalidArgument, "Device is not readonly", EINVAL);
  if (index >= snapshots_.size()) return Error(ErrorKind::kNotFound, "Can't find snapshot", ENOENT);
  const Snapshot& snap = snapshots_[index];
  AMBER_TRY_ASSIGN(std::vector<uint64_t> table, read_l1_table(snap.l1_table_offset, snap.l1_size));
  auto l1_table = std::make_unique<std::atomic<uint64_t>[]>(std::max<size_t>(table.size(), 1));
  for (size_t k = 0; k < table.size(); ++k) l1_table[k].store(table[k], std::memory_order_relaxed);
  l1_ = std::move(l1_table);
  l1_capacity_ = table.size();
  l1_dirty_.clear();
  header_.l1_size = snap.l1_size;
  header_.l1_table_offset = snap.l1_table_offset;
  {
    std::lock_guard cache_lock(l2_cache_->mutex());
    l2_cache_->clear();
  }
  metadata_prealloc_ = -1;
  return {};
}

namespace {

Result<Qcow2Image*> as_qcow2(Image& image, int error_number) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr)
    return Error(ErrorKind::kUnsupported, "Block driver does not support snapshots", error_number);
  return q;
}

}  // namespace

Result<SnapshotInfo> create_snapshot(Image& image, const std::string& name, uint32_t date_sec,
                                     uint32_t date_nsec) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2(image, ENOTSUP));
  return q->create_snapshot(name, date_sec, date_nsec);
}

Result<void> apply_snapshot(Image& image, const std::string& id_or_name) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2(image, ENOTSUP));
  auto index = find_snapshot_by_id_or_name(q->snapshots(), id_or_name);
  if (!index) return Error(ErrorKind::kNotFound, "snapshot not found", ENOENT);
  return q->apply_snapshot(*index);
}

Result<void> delete_snapshot(Image& image, const std::string& name) {
  AMBER_TRY_ASSIGN(Qcow2Image * q, as_qcow2(image, ENOENT));
  auto index = find_snapshot_by_name(q->snapshots(), name);
  if (!index) return Error(ErrorKind::kNotFound, "snapshot not found", ENOENT);
  return q->delete_snapshot(*index);
}

Result<void> load_snapshot_read_only(Image& image, const std::optional<std::string>& id,
                                     const std::optional<std::string>& name) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr)
    return Error(ErrorKind::kUnsupported,
                 "Block format '" + std::string(to_string(image.format())) +
                     "' used by device '' does not support temporarily loading internal snapshots",
                 ENOTSUP);
  const auto& list = q->snapshots();
  for (size_t i = 0; i < list.size() && (id || name); ++i) {
    if (id && list[i].info.id != *id) continue;
    if (name && list[i].info.name != *name) continue;
    return q->load_snapshot_read_only(i);
  }
  return Error(ErrorKind::kNotFound, "Can't find snapshot", ENOENT);
}

Result<void> load_snapshot_read_only(Image& image, const std::string& id_or_name) {
  auto by_id = load_snapshot_read_only(image, id_or_name, std::nullopt);
  if (by_id.ok() || by_id.error().kind() != ErrorKind::kNotFound) return by_id;
  return load_snapshot_read_only(image, std::nullopt, id_or_name);
}

std::vector<SnapshotInfo> list_snapshots(Image& image) {
  std::vector<SnapshotInfo> out;
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return out;
  for (const auto& s : q->snapshots()) out.push_back(s.info);
  return out;
}

}  // namespace amber::block::qcow2
