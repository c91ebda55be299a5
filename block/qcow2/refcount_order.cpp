// SPDX-License-Identifier: GPL-2.0-or-later
// qemu-img amend -o refcount_bits=N: rewrites the refcount structure with
// a new entry width, as QEMU's qcow2_change_refcount_order does. Passes
// over the old refcounts, one new refcount block at a time, allocate the
// new blocks (in the old structure) until a pass needs no new cluster, and
// place the new table after each pass that allocated; a last pass fills
// and writes the new blocks, then the new table. Once those and the old
// structure are durable the header names the new table and width; then
// the old blocks and table are freed in the new structure. Until the
// header changes the image is the old one (the new clusters are leaks at
// worst); a failure before that frees what was allocated.
//
// Thread-safety: takes rw_ and meta_ exclusively; no other I/O meanwhile.
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "block/qcow2/format.h"
#include "block/qcow2/image.h"
#include "block/qcow2/qcow2.h"

namespace amber::block::qcow2 {
namespace {

constexpr uint64_t kMaxReftableEntries = (8u << 20) / 8;  // QEMU's 8 MiB table limit

void store_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

Result<void> Qcow2Image::change_refcount_order(uint32_t new_order) {
  if (read_only()) return Error(ErrorKind::kReadOnly, "image is read-only", EACCES);
  if (new_order > 6) return Error(ErrorKind::kInvalidArgument, "refcount order out of range");
  if (header_.version < 3)
    return Error(ErrorKind::kUnsupported,
                 "Refcount widths other than 16 bits require compatibility level 1.1 or above "
                 "(use compat=1.1 or greater)");
  if (new_order == header_.refcount_order) return ok();
  AMBER_TRY(flush());
  std::unique_lock rw(rw_);
  std::lock_guard meta(meta_);

  const uint64_t cs = cluster_size_;
  const uint64_t new_entries = (cs * 8) >> new_order;
  const unsigned new_bits = 1u << new_order;
  std::vector<uint64_t> new_table;  // host-endian offsets of the new blocks
  uint64_t new_table_offset = 0;
  uint64_t allocated_table_entries = 0;
  std::vector<uint8_t> block(cs);

  // One pass: new block k covers clusters [k * new_entries, ...). `fill`
  // writes the blocks, else missing ones are allocated. The old refcounts
  // are read as they are now: allocating changes them.
  auto pass = [&](bool fill, bool& allocated) -> Result<void> {
    for (uint64_t k = 0;; ++k) {
      const uint64_t first = k * new_entries;
      const uint64_t old_entries = refcounts_->block_entries();
      bool empty = true;
      if (fill) std::fill(block.begin(), block.end(), uint8_t{0});
      for (uint64_t i = 0; i < new_entries;) {
        const uint64_t c = first + i;
        const uint64_t ti = c / old_entries;
        const auto& table = refcounts_->table();
        if (ti >= table.size() || table[ti] == 0) {
          i += old_entries - c % old_entries;  // no old block: all zeros
          continue;
        }
        AMBER_TRY_ASSIGN(uint64_t rc, refcounts_->get(c));
        if (new_bits < 64 && (rc >> new_bits) != 0)
          return Error(ErrorKind::kInvalidArgument,
                       "Cannot decrease refcount entry width to " + std::to_string(new_bits) +
                           " bits: Cluster at offset " + to_hex(c << cluster_bits_) +
                           " has a refcount of " + std::to_string(rc));
        if (rc != 0) {
          empty = false;
          if (fill) set_refcount_entry(block.data(), i, new_order, rc);
        }
        ++i;
      }
      // QEMU goes on past this block only if the old table reached past it
      // before the block was finished.
      const bool more =
          first + new_entries < refcounts_->table().size() * refcounts_->block_entries();
      if (!fill) {
        if (!empty && k >= new_table.size()) {
          const uint64_t size = align_up(k + 1, cs / 8);
          if (size > kMaxReftableEntries)
            return Error(ErrorKind::kUnsupported,
                         "This operation would make the refcount table grow beyond the maximum "
                         "size supported by QEMU, aborting");
          new_table.resize(size, 0);
        }
        if (!empty && new_table[k] == 0) {
          auto at = refcounts_->allocate(1);
          if (!at.ok()) return std::move(at).error();
          new_table[k] = *at;
          allocated = true;
        }
      } else if (k < new_table.size() && new_table[k] != 0) {
        AMBER_TRY(io::write_exact(*file_, new_table[k], block.data(), cs));
      }
      if (!more) return ok();
    }
  };

  auto table_clusters = [&](uint64_t entries) { return div_round_up(entries * 8, cs); };
  // What a failure before the header changed leaves: the new clusters go.
  auto abandon = [&](const Error& e) -> Result<void> {
    for (uint64_t off : new_table)
      if (off != 0) (void)refcounts_->update(off >> cluster_bits_, -1);
    if (new_table_offset != 0)
      (void)refcounts_->update_range(new_table_offset, table_clusters(allocated_table_entries) * cs,
                                     -1);
    (void)refcounts_->write_back(WriteBackOrder::kFlushBeforeTable);
    (void)file_->flush();
    return e;
  };

  bool allocated;
  do {
    allocated = false;
    if (auto r = pass(false, allocated); !r.ok()) return abandon(r.error());
    if (allocated) {
      if (new_table_offset != 0) {
        if (auto r = refcounts_->update_range(new_table_offset,
                                              table_clusters(allocated_table_entries) * cs, -1);
            !r.ok())
          return abandon(r.error());
        new_table_offset = 0;
      }
      auto at = refcounts_->allocate(table_clusters(new_table.size()));
      if (!at.ok()) return abandon(at.error());
      new_table_offset = *at;
      allocated_table_entries = new_table.size();
    }
  } while (allocated);
  bool none = false;
  if (auto r = pass(true, none); !r.ok()) return abandon(r.error());
  if (none) return abandon(Error(ErrorKind::kInternal, "refcount blocks changed while written"));

  std::vector<uint8_t> raw(table_clusters(new_table.size()) * cs, 0);
  for (size_t i = 0; i < new_table.size(); ++i) store_be64(raw.data() + 8 * i, new_table[i]);
  if (auto r = io::write_exact(*file_, new_table_offset, raw.data(), new_table.size() * 8); !r.ok())
    return abandon(r.error());
  if (auto r = refcounts_->write_back(WriteBackOrder::kFlushBeforeTable); !r.ok())
    return abandon(r.error());
  if (auto r = file_->flush(); !r.ok()) return abandon(r.error());

  Header next = header_;
  next.refcount_order = new_order;
  next.refcount_table_offset = new_table_offset;
  next.refcount_table_clusters = static_cast<uint32_t>(table_clusters(new_table.size()));
  if (auto r = write_header_of(next); !r.ok()) return abandon(r.error());
  AMBER_TRY(file_->flush());
  header_ = next;

  // The new structure is the image's: free the old one in it.
  const std::vector<uint64_t> old_table = refcounts_->table();
  const uint64_t old_table_offset = refcounts_->table_offset();
  const uint64_t old_table_bytes = uint64_t{refcounts_->table_clusters()} * cs;
  AMBER_TRY(install_refcounts(/*load_now=*/true));
  for (uint64_t e : old_table) {
    if (e != 0) AMBER_TRY(refcounts_->update(e >> cluster_bits_, -1));
  }
  AMBER_TRY(refcounts_->update_range(old_table_offset, old_table_bytes, -1));
  AMBER_TRY(refcounts_->write_back(WriteBackOrder::kFlushBeforeTable));
  return file_->flush();
}

Result<void> change_refcount_bits(Image& image, unsigned bits) {
  auto* q = dynamic_cast<Qcow2Image*>(&image);
  if (q == nullptr) return Error(ErrorKind::kUnsupported, "Operation not supported", ENOTSUP);
  if (bits == 0 || bits > 64 || (bits & (bits - 1)) != 0)
    return Error(ErrorKind::kInvalidArgument,
                 "Refcount width must be a power of two and may not exceed 64 bits");
  return q->change_refcount_order(static_cast<uint32_t>(__builtin_ctz(bits)));
}

}  // namespace amber::block::qcow2
