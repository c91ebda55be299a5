// SPDX-License-Identifier: GPL-2.0-or-later
#include "block/qcow2/snapshot.h"

#include <algorithm>
#include <cstdlib>

#include "block/qcow2/format.h"

namespace amber::block::qcow2 {
namespace {

// Extra data QEMU 7.2 knows: vm_state_size_large, disk_size, icount.
constexpr uint32_t kKnownExtraData = 24;

Error bad(uint32_t index, const std::string& what) {
  return Error(ErrorKind::kCorrupt, "qcow2 snapshot " + std::to_string(index) + ": " + what);
}

}  // namespace

Result<SnapshotTable> read_snapshot_table(io::File& file, uint64_t offset, uint32_t count,
                                          unsigned version, uint32_t cluster_bits,
                                          SnapshotValidation validation) {
  const bool full = validation == SnapshotValidation::kFull;
  SnapshotTable table;
  if (count == 0) return table;
  const uint64_t cluster_size = uint64_t{1} << cluster_bits;
  AMBER_TRY_ASSIGN(uint64_t file_size, file.size());
  const uint64_t file_end = align_up(file_size, cluster_size);
  if (offset >= file_end)
    return Error(ErrorKind::kCorrupt,
                 "qcow2 snapshot table at " + to_hex(offset) + " is beyond the end of the file");
  // Read the table in one go, bounded by QEMU's 64 MiB limit and the file.
  const uint64_t max_bytes = std::min<uint64_t>(kMaxSnapshotTableBytes, file_end - offset);
  std::vector<uint8_t> buf;
  uint64_t pos = 0;
  auto need = [&](uint64_t end) -> Result<void> {
    if (end > max_bytes)
      return Error(ErrorKind::kCorrupt,
                   "qcow2 snapshot table exceeds " + std::to_string(max_bytes) + " bytes");
    if (end > buf.size()) {
      const uint64_t old = buf.size();
      const uint64_t grow = std::min<uint64_t>(max_bytes, std::max<uint64_t>(end, old * 2 + 4096));
      buf.resize(grow);
      AMBER_TRY(io::read_exact(file, offset + old, buf.data() + old, grow - old));
    }
    return ok();
  };
  for (uint32_t i = 0; i < count; ++i) {
    AMBER_TRY(need(pos + 40));
    const uint8_t* p = buf.data() + pos;
    Snapshot s;
    s.l1_table_offset = load_be64(p);
    s.l1_size = load_be32(p + 8);
    const uint16_t id_len = load_be16(p + 12);
    const uint16_t name_len = load_be16(p + 14);
    s.info.date_sec = load_be32(p + 16);
    s.info.date_nsec = load_be32(p + 20);
    s.info.vm_clock_nsec = load_be64(p + 24);
    s.info.vm_state_size = load_be32(p + 32);
    const uint32_t extra = load_be32(p + 36);
    s.extra_data_size = extra;
    if (extra > kMaxSnapshotExtraData)
      return bad(i, "extra_data_size " + std::to_string(extra) + " exceeds 1024");
    // A v3 entry with less extra data than v3 requires is "incomplete":
    // QEMU opens it (its disk size is the image's) and only `check` reports
    // it, so it is accepted here too.
    (void)version;
    const uint64_t entry = align_up(40 + uint64_t{extra} + id_len + name_len, 8);
    AMBER_TRY(need(pos + entry));
    p = buf.data() + pos;
    if (extra >= 8) s.info.vm_state_size = load_be64(p + 40);
    if (extra >= 16) s.info.disk_size = load_be64(p + 48);
    if (extra >= 24) {
      s.info.icount = load_be64(p + 56);
      s.info.has_icount = s.info.icount != ~uint64_t{0};
    }
    if (extra > kKnownExtraData) s.unknown_extra.assign(p + 40 + kKnownExtraData, p + 40 + extra);
    s.info.id.assign(reinterpret_cast<const char*>(p + 40 + extra), id_len);
    s.info.name.assign(reinterpret_cast<const char*>(p + 40 + extra + id_len), name_len);
    if (!full) {
      table.snapshots.push_back(std::move(s));
      pos += entry;
      continue;
    }
    if (s.l1_table_offset % cluster_size != 0)
      return bad(i, "L1 table offset " + to_hex(s.l1_table_offset) + " is not cluster aligned");
    if (uint64_t{s.l1_size} * 8 > kMaxL1Bytes)
      return bad(i, "L1 size " + std::to_string(s.l1_size) + " exceeds the 32 MiB limit");
    if (s.l1_size != 0 && (s.l1_table_offset > kMaxHostOffset ||
                           s.l1_table_offset + uint64_t{s.l1_size} * 8 > file_end))
      return bad(i, "L1 table at " + to_hex(s.l1_table_offset) + " is beyond the end of the file");
    table.snapshots.push_back(std::move(s));
    pos += entry;
  }
  table.bytes = pos;
  return table;
}

std::vector<uint8_t> serialize_snapshot_table(const std::vector<Snapshot>& snapshots) {
  std::vector<uint8_t> out;
  for (const auto& s : snapshots) {
    const uint32_t extra = kKnownExtraData + static_cast<uint32_t>(s.unknown_extra.size());
    // Each entry starts 8-byte aligned; the last one is not padded.
    const size_t at = align_up(out.size(), 8);
    out.resize(at + 40 + extra + s.info.id.size() + s.info.name.size(), 0);
    uint8_t* p = out.data() + at;
    store_be64(p, s.l1_table_offset);
    store_be32(p + 8, s.l1_size);
    // Ids and names came from 16-bit lengths, so they fit.
    store_be16(p + 12, static_cast<uint16_t>(s.info.id.size()));
    store_be16(p + 14, static_cast<uint16_t>(s.info.name.size()));
    store_be32(p + 16, s.info.date_sec);
    store_be32(p + 20, s.info.date_nsec);
    store_be64(p + 24, s.info.vm_clock_nsec);
    // A VM state too large for the old field reads as none there (QEMU).
    store_be32(p + 32,
               s.info.vm_state_size > UINT32_MAX ? 0 : static_cast<uint32_t>(s.info.vm_state_size));
    store_be32(p + 36, extra);
    store_be64(p + 40, s.info.vm_state_size);
    store_be64(p + 48, s.info.disk_size);
    store_be64(p + 56, s.info.has_icount ? s.info.icount : ~uint64_t{0});
    std::copy(s.unknown_extra.begin(), s.unknown_extra.end(), p + 40 + kKnownExtraData);
    std::copy(s.info.id.begin(), s.info.id.end(), p + 40 + extra);
    std::copy(s.info.name.begin(), s.info.name.end(), p + 40 + extra + s.info.id.size());
  }
  return out;
}

std::optional<size_t> find_snapshot_by_id_or_name(const std::vector<Snapshot>& snapshots,
                                                  std::string_view key) {
  for (size_t i = 0; i < snapshots.size(); ++i)
    if (snapshots[i].info.id == key) return i;
  return find_snapshot_by_name(snapshots, key);
}

std::optional<size_t> find_snapshot_by_name(const std::vector<Snapshot>& snapshots,
                                            std::string_view name) {
  for (size_t i = 0; i < snapshots.size(); ++i)
    if (snapshots[i].info.name == name) return i;
  return std::nullopt;
}

std::string next_snapshot_id(const std::vector<Snapshot>& snapshots) {
  unsigned long max_id = 0;
  for (const auto& s : snapshots) {
    // strtoul as QEMU: leading blanks and digits; ids hold no NUL that
    // would matter (a 16-bit length, copied into a std::string).
    const unsigned long id = std::strtoul(s.info.id.c_str(), nullptr, 10);
    max_id = std::max(max_id, id);
  }
  return std::to_string(max_id + 1);
}

}  // namespace amber::block::qcow2
