// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/devices/fw_cfg.h"

#include <algorithm>
#include <cstring>

namespace amber::hv::devices {
namespace {

constexpr size_t kFileNameSize = 56;
constexpr uint32_t kIdTraditional = 1u << 0;
constexpr uint32_t kIdDma = 1u << 1;
constexpr uint32_t kDmaError = 1u << 0;
constexpr uint32_t kDmaRead = 1u << 1;
constexpr uint32_t kDmaSkip = 1u << 2;
constexpr uint32_t kDmaSelect = 1u << 3;
constexpr uint32_t kDmaWrite = 1u << 4;
constexpr uint64_t kDmaSignature = 0x51454d5520434647ULL;  // "QEMU CFG"

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void put_be16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

void FwCfg::add_key(uint16_t key, std::vector<uint8_t> bytes) {
  items_[key] = std::move(bytes);
}

void FwCfg::add_u16(uint16_t key, uint16_t value) {
  add_key(key, {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)});
}

Result<void> FwCfg::add_file(const std::string& name, std::vector<uint8_t> bytes) {
  if (name.empty() || name.size() >= kFileNameSize)
    return Error(ErrorKind::kInvalidArgument, "fw_cfg file name too long: " + name);
  files_[name] = std::move(bytes);
  return ok();
}

void FwCfg::finalize() {
  add_key(kFwCfgSignature, {'Q', 'E', 'M', 'U'});
  const uint32_t id = kIdTraditional | kIdDma;
  add_key(kFwCfgId, {static_cast<uint8_t>(id), 0, 0, 0});
  std::vector<uint8_t> directory;
  put_be32(directory, static_cast<uint32_t>(files_.size()));
  uint16_t key = kFwCfgFileFirst;
  for (auto& [name, bytes] : files_) {
    put_be32(directory, static_cast<uint32_t>(bytes.size()));
    put_be16(directory, key);
    put_be16(directory, 0);
    char padded[kFileNameSize] = {};
    std::memcpy(padded, name.data(), name.size());
    directory.insert(directory.end(), padded, padded + kFileNameSize);
    items_[key++] = bytes;
  }
  add_key(kFwCfgFileDir, std::move(directory));
}

const std::vector<uint8_t>* FwCfg::item(uint16_t key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : &it->second;
}

void FwCfg::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (offset == 1 && data.size() == 1) {
    const std::vector<uint8_t>* bytes = item(selected_);
    data[0] = (bytes != nullptr && position_ < bytes->size()) ? (*bytes)[position_] : 0;
    if (bytes != nullptr && position_ < bytes->size()) ++position_;
    return;
  }
  if (offset >= 4 && offset + data.size() <= 12) {
    // The DMA register reads back the "QEMU CFG" signature, big-endian.
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<uint8_t>(kDmaSignature >> (8 * (7 - (offset - 4 + i))));
    return;
  }
  std::fill(data.begin(), data.end(), 0);
}

void FwCfg::io_write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (offset == 0 && data.size() == 2) {
    selected_ = static_cast<uint16_t>(data[0] | (data[1] << 8));
    position_ = 0;
    return;
  }
  if (offset == 4 && data.size() == 4) {
    dma_address_ = (dma_address_ & 0xFFFFFFFFULL) | (uint64_t{get_be32(data.data())} << 32);
    return;
  }
  if (offset == 8 && data.size() == 4) {
    const uint64_t address = (dma_address_ & ~0xFFFFFFFFULL) | get_be32(data.data());
    dma_address_ = 0;
    run_dma(address);
  }
}

void FwCfg::run_dma(uint64_t address) {
  uint8_t descriptor[16];
  if (memory_ == nullptr || !memory_->read(address, descriptor, sizeof(descriptor))) return;
  uint32_t control = get_be32(descriptor);
  uint32_t length = get_be32(descriptor + 4);
  const uint64_t target = (uint64_t{get_be32(descriptor + 8)} << 32) | get_be32(descriptor + 12);
  if (control & kDmaSelect) {
    selected_ = static_cast<uint16_t>(control >> 16);
    position_ = 0;
  }
  uint32_t status = 0;
  if (control & kDmaWrite) {
    status = kDmaError;  // no writable items
  } else if (control & (kDmaRead | kDmaSkip)) {
    const std::vector<uint8_t>* bytes = item(selected_);
    const uint32_t size = bytes != nullptr ? static_cast<uint32_t>(bytes->size()) : 0;
    const uint32_t available = position_ < size ? size - position_ : 0;
    const uint32_t copied = std::min(available, length);
    if ((control & kDmaRead) && length - copied > kFwCfgMaxDmaZeroFill) {
      // QEMU zero-fills a read's whole tail past the item, however long; a
      // guest-chosen 4 GiB length would then hold this vCPU (and the device
      // mutex) for a pass over all of RAM in one exit. No firmware reads
      // past an item's end by more than a few bytes, so refuse the whole
      // transfer: error status, nothing written, the position unchanged.
      status = kDmaError;
    } else if (control & kDmaRead) {
      // Guest-chosen target/length: GuestMemory::write refuses anything that
      // is not wholly RAM; the tail beyond the item (at most kFwCfgMaxDmaZeroFill
      // bytes) reads as zeros, written a page at a time.
      static constexpr uint8_t kZeros[4096] = {};
      if (copied != 0 && !memory_->write(target, bytes->data() + position_, copied))
        status = kDmaError;
      for (uint64_t done = copied; status == 0 && done < length;) {
        const uint64_t chunk = std::min<uint64_t>(sizeof(kZeros), length - done);
        if (!memory_->write(target + done, kZeros, chunk)) status = kDmaError;
        done += chunk;
      }
    }
    if (status == 0) position_ += copied;
  }
  uint8_t result[4] = {static_cast<uint8_t>(status >> 24), static_cast<uint8_t>(status >> 16),
                       static_cast<uint8_t>(status >> 8), static_cast<uint8_t>(status)};
  memory_->write(address, result, sizeof(result));
}

}  // namespace amber::hv::devices
