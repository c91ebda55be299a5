// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/smbios/smbios.h"

#include <algorithm>
#include <cstdio>

namespace amber::hv::smbios {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kMaxDimm = 16 * kGiB;

constexpr uint16_t kT0 = 0x000, kT1 = 0x100, kT2 = 0x200, kT3 = 0x300, kT4 = 0x400, kT16 = 0x1000,
                   kT17 = 0x1100, kT19 = 0x1300, kT32 = 0x2000, kT127 = 0x7F00;

// One structure: formatted area and its string set.
class Structure {
 public:
  Structure(uint8_t type, uint16_t handle) {
    bytes_ = {type, 0, static_cast<uint8_t>(handle), static_cast<uint8_t>(handle >> 8)};
  }
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v));
    u8(static_cast<uint8_t>(v >> 8));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v));
    u16(static_cast<uint16_t>(v >> 16));
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v));
    u32(static_cast<uint32_t>(v >> 32));
  }
  // A string field: its number in the set, 0 for none (empty).
  void str(const std::string& value) {
    if (value.empty()) {
      u8(0);
      return;
    }
    strings_.push_back(value);
    u8(static_cast<uint8_t>(strings_.size()));
  }
  std::vector<uint8_t> finish() {
    std::vector<uint8_t> out = bytes_;
    out[1] = static_cast<uint8_t>(bytes_.size());
    for (const std::string& s : strings_) {
      out.insert(out.end(), s.begin(), s.end());
      out.push_back(0);
    }
    if (strings_.empty()) out.push_back(0);
    out.push_back(0);
    return out;
  }

 private:
  std::vector<uint8_t> bytes_;
  std::vector<std::string> strings_;
};

const std::string& pick(const std::string& given, const std::string& fallback) {
  return given.empty() ? fallback : given;
}

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

}  // namespace

std::array<uint8_t, 16> smbios_uuid_bytes(const std::array<uint8_t, 16>& u) {
  std::array<uint8_t, 16> out = u;
  std::reverse(out.begin(), out.begin() + 4);
  std::reverse(out.begin() + 4, out.begin() + 6);
  std::reverse(out.begin() + 6, out.begin() + 8);
  return out;
}

std::string resolve_machine_name(const std::string& machine) {
  return machine.empty() || machine == "pc" ? "pc-i440fx-7.2" : machine;
}

SmbiosBlobs build_smbios(const SmbiosInputs& in) {
  const vmmctl::SmbiosSettings& s = in.strings;
  const std::string qemu = "QEMU";
  const std::string product = "Standard PC (i440FX + PIIX, 1996)";
  std::vector<std::vector<uint8_t>> list;

  if (!s.bios_vendor.empty() || !s.bios_version.empty() || !s.bios_date.empty()) {
    Structure t(0, kT0);
    t.str(s.bios_vendor);
    t.str(s.bios_version);
    t.u16(0xE800);  // starting segment, as SeaBIOS
    t.str(s.bios_date);
    t.u8(0);      // ROM size
    t.u64(0x08);  // characteristics: not supported
    t.u8(0);      // extension byte 1
    t.u8(0x14);   // extension byte 2: targeted content distribution | VM
    t.u8(0);      // system BIOS major release
    t.u8(0);      // minor
    t.u8(0xFF);   // embedded controller major
    t.u8(0xFF);   // minor
    list.push_back(t.finish());
  }
  {
    Structure t(1, kT1);
    t.str(pick(s.system_manufacturer, qemu));
    t.str(pick(s.system_product, product));
    t.str(pick(s.system_version, in.machine));
    t.str(s.system_serial);
    std::array<uint8_t, 16> uuid{};
    if (in.uuid) uuid = smbios_uuid_bytes(*in.uuid);
    for (uint8_t b : uuid) t.u8(b);
    t.u8(0x06);  // wake-up: power switch
    t.str(s.system_sku);
    t.str(s.system_family);
    list.push_back(t.finish());
  }
  if (!s.board_manufacturer.empty() || !s.board_product.empty() || !s.board_version.empty() ||
      !s.board_serial.empty() || !s.board_asset.empty() || !s.board_location.empty()) {
    Structure t(2, kT2);
    // QEMU's defaults for the three, as in type 1.
    t.str(pick(s.board_manufacturer, qemu));
    t.str(pick(s.board_product, product));
    t.str(pick(s.board_version, in.machine));
    t.str(s.board_serial);
    t.str(s.board_asset);
    t.u8(0x01);  // feature flags: motherboard
    t.str(s.board_location);
    t.u16(kT3);  // chassis handle
    t.u8(0x0A);  // board type: motherboard
    t.u8(0);     // contained elements
    list.push_back(t.finish());
  }
  {
    Structure t(3, kT3);
    t.str(pick(s.chassis_manufacturer, qemu));
    t.u8(0x01);  // type: other
    t.str(pick(s.chassis_version, in.machine));
    t.str(s.chassis_serial);
    t.str(s.chassis_asset);
    t.u8(0x03);  // boot-up state: safe
    t.u8(0x03);  // power supply state
    t.u8(0x03);  // thermal state
    t.u8(0x02);  // security status: unknown
    t.u32(0);    // OEM defined
    t.u8(0);     // height
    t.u8(0);     // power cords
    t.u8(0);     // contained elements
    t.u8(0);     // element record length
    t.str(s.chassis_sku);
    list.push_back(t.finish());
  }
  for (unsigned i = 0; i < in.sockets; ++i) {
    Structure t(4, static_cast<uint16_t>(kT4 + i));
    char socket[32];
    std::snprintf(socket, sizeof(socket), "CPU%2x", i);
    t.str(socket);
    t.u8(0x03);  // processor type: CPU
    t.u8(0x01);  // family: other
    t.str(qemu);
    t.u32(in.cpuid_version);
    t.u32(in.cpuid_features);
    t.str(in.machine);
    t.u8(0);        // voltage
    t.u16(0);       // external clock: unknown
    t.u16(2000);    // max speed (MHz)
    t.u16(2000);    // current speed
    t.u8(0x41);     // socket populated, CPU enabled
    t.u8(0x01);     // upgrade: other
    t.u16(0xFFFF);  // L1/L2/L3 cache handles: none
    t.u16(0xFFFF);
    t.u16(0xFFFF);
    t.str("");  // serial, asset tag, part number
    t.str("");
    t.str("");
    t.u8(static_cast<uint8_t>(std::min(in.cores_per_socket, 255u)));
    t.u8(static_cast<uint8_t>(std::min(in.cores_per_socket, 255u)));
    t.u8(static_cast<uint8_t>(std::min(in.threads_per_socket, 255u)));
    t.u16(0x02);  // characteristics: unknown
    t.u16(0x01);  // family 2: other
    list.push_back(t.finish());
  }
  const unsigned dimms = static_cast<unsigned>((in.ram_size + kMaxDimm - 1) / kMaxDimm);
  {
    Structure t(16, kT16);
    t.u8(0x01);  // location: other
    t.u8(0x03);  // use: system memory
    t.u8(0x06);  // error correction: multi-bit ECC
    const uint64_t kib = in.ram_size / kKiB;
    const bool small = kib < 0x80000000ULL;
    t.u32(small ? static_cast<uint32_t>(kib) : 0x80000000U);
    t.u16(0xFFFE);  // error information: not provided
    t.u16(static_cast<uint16_t>(dimms));
    t.u64(small ? 0 : in.ram_size);
    list.push_back(t.finish());
  }
  for (unsigned i = 0; i < dimms; ++i) {
    const uint64_t size = i + 1 < dimms ? kMaxDimm : ((in.ram_size - 1) % kMaxDimm) + 1;
    const uint64_t mib = (size + kMiB - 1) / kMiB;
    Structure t(17, static_cast<uint16_t>(kT17 + i));
    t.u16(kT16);    // array handle
    t.u16(0xFFFE);  // error information
    t.u16(0xFFFF);  // total width: unknown
    t.u16(0xFFFF);  // data width
    t.u16(mib < 0x7FFF ? static_cast<uint16_t>(mib) : 0x7FFF);
    t.u8(0x09);  // form factor: DIMM
    t.u8(0);     // device set
    t.str("DIMM " + std::to_string(i));
    t.str("");    // bank locator
    t.u8(0x07);   // type: RAM
    t.u16(0x02);  // type detail: other
    t.u16(0);     // speed: unknown
    t.str(qemu);  // manufacturer
    t.str("");    // serial, asset, part
    t.str("");
    t.str("");
    t.u8(0);  // attributes
    t.u32(mib < 0x7FFF ? 0 : static_cast<uint32_t>(mib));
    t.u16(0);  // configured clock speed
    t.u16(0);  // voltages
    t.u16(0);
    t.u16(0);
    list.push_back(t.finish());
  }
  for (size_t i = 0; i < in.ram_regions.size(); ++i) {
    const RamRegion& r = in.ram_regions[i];
    const uint64_t start_kib = r.start / kKiB;
    const uint64_t end_kib = (r.start + r.size - 1) / kKiB;
    const bool small = end_kib < 0xFFFFFFFFULL;
    Structure t(19, static_cast<uint16_t>(kT19 + i));
    t.u32(small ? static_cast<uint32_t>(start_kib) : 0xFFFFFFFFU);
    t.u32(small ? static_cast<uint32_t>(end_kib) : 0xFFFFFFFFU);
    t.u16(kT16);
    t.u8(1);  // partition width
    t.u64(small ? 0 : r.start);
    t.u64(small ? 0 : r.start + r.size - 1);
    list.push_back(t.finish());
  }
  {
    Structure t(32, kT32);
    for (int i = 0; i < 6; ++i) t.u8(0);
    t.u8(0);  // no errors detected
    list.push_back(t.finish());
  }
  list.push_back(Structure(127, kT127).finish());

  SmbiosBlobs out;
  size_t max_size = 0;
  for (const auto& one : list) {
    out.tables.insert(out.tables.end(), one.begin(), one.end());
    max_size = std::max(max_size, one.size());
  }
  std::vector<uint8_t>& ep = out.anchor;
  ep = {'_',
        'S',
        'M',
        '_',
        0,
        0x1F,
        2,
        8,
        static_cast<uint8_t>(max_size),
        static_cast<uint8_t>(max_size >> 8),
        0,
        0,
        0,
        0,
        0,
        0,
        '_',
        'D',
        'M',
        'I',
        '_',
        0,
        static_cast<uint8_t>(out.tables.size()),
        static_cast<uint8_t>(out.tables.size() >> 8),
        0,
        0,
        0,
        0,
        static_cast<uint8_t>(list.size()),
        static_cast<uint8_t>(list.size() >> 8),
        0x28};
  ep[0x15] = checksum(ep.data() + 0x10, 0x0F);
  ep[4] = checksum(ep.data(), 0x1F);
  return out;
}

}  // namespace amber::hv::smbios
