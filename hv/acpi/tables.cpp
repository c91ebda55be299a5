// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/acpi/tables.h"

#include <cassert>
#include <cstdio>
#include <cstring>

namespace amber::hv::acpi {
namespace {
constexpr size_t kHeaderSize = 36;
constexpr size_t kChecksumOffset = 9;
constexpr size_t kFacsSize = 64;

void put_le(Bytes& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void put_le_at(Bytes& out, size_t at, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

void put_text(Bytes& out, const char* text, size_t width) {
  const size_t n = std::strlen(text);
  for (size_t i = 0; i < width; ++i) out.push_back(i < n ? static_cast<uint8_t>(text[i]) : ' ');
}

void put_name(uint8_t* field, const std::string& name) {
  assert(name.size() < 56);
  std::memset(field, 0, 56);
  std::memcpy(field, name.data(), name.size());
}

// Tables are built in place in the blob: begin writes the header with a
// zero length and checksum, end fills the length and queues the checksum.
class Builder {
 public:
  size_t begin(const char* signature, uint8_t revision) {
    const size_t at = blob_.size();
    blob_.insert(blob_.end(), signature, signature + 4);
    put_le(blob_, 0, 4);  // length
    blob_.push_back(revision);
    blob_.push_back(0);  // checksum: the loader's
    put_text(blob_, "BOCHS", 6);
    put_text(blob_, "BXPC", 8);
    put_le(blob_, 1, 4);  // OEM revision
    put_text(blob_, "BXPC", 4);
    put_le(blob_, 1, 4);  // creator revision
    return at;
  }
  void end(size_t at) {
    const uint32_t length = static_cast<uint32_t>(blob_.size() - at);
    put_le_at(blob_, at + 4, length, 4);
    loader_.add_checksum(kTablesFile, static_cast<uint32_t>(at + kChecksumOffset),
                         static_cast<uint32_t>(at), length);
    spans_.push_back({std::string(reinterpret_cast<const char*>(&blob_[at]), 4),
                      static_cast<uint32_t>(at), length});
  }
  // A 4-byte pointer at blob offset FIELD to table offset TARGET.
  void pointer(size_t field, size_t target) {
    put_le_at(blob_, field, target, 4);
    loader_.add_pointer(kTablesFile, static_cast<uint32_t>(field), 4, kTablesFile);
  }
  Bytes& blob() { return blob_; }
  TableLoader& loader() { return loader_; }
  std::vector<TableSpan>& spans() { return spans_; }

 private:
  Bytes blob_;
  TableLoader loader_;
  std::vector<TableSpan> spans_;
};

size_t build_facs(Builder& b) {
  Bytes& blob = b.blob();
  const size_t at = blob.size();
  blob.insert(blob.end(), {'F', 'A', 'C', 'S'});
  put_le(blob, kFacsSize, 4);
  blob.resize(at + kFacsSize, 0);  // signature, waking vector, lock, flags: 0
  b.spans().push_back({"FACS", static_cast<uint32_t>(at), kFacsSize});
  return at;  // no checksum: the FACS has none
}

size_t build_dsdt(Builder& b, const AcpiSettings& settings) {
  const size_t at = b.begin("DSDT", 1);
  append(b.blob(), build_dsdt_body(settings));
  b.end(at);
  return at;
}

// FADT revision 1 (ACPI 1.0, 116 bytes) with QEMU 7.2 `pc`'s values.
size_t build_fadt(Builder& b, size_t facs, size_t dsdt) {
  const size_t at = b.begin("FACP", 1);
  Bytes& t = b.blob();
  const size_t firmware_ctrl = t.size();
  put_le(t, 0, 4);
  const size_t dsdt_field = t.size();
  put_le(t, 0, 4);
  t.push_back(1);  // INT_MODEL: multiple APIC
  t.push_back(0);  // reserved (preferred PM profile in 2.0)
  put_le(t, kSciIrq, 2);
  put_le(t, kSmiCommand, 4);
  t.push_back(kAcpiEnable);
  t.push_back(kAcpiDisable);
  t.push_back(0);                               // S4BIOS_REQ
  t.push_back(0);                               // PSTATE_CNT
  put_le(t, kPmBase, 4);                        // PM1a_EVT_BLK
  put_le(t, 0, 4);                              // PM1b_EVT_BLK
  put_le(t, kPmBase + 4, 4);                    // PM1a_CNT_BLK
  put_le(t, 0, 4);                              // PM1b_CNT_BLK
  put_le(t, 0, 4);                              // PM2_CNT_BLK
  put_le(t, kPmBase + 8, 4);                    // PM_TMR_BLK
  put_le(t, kGpe0Base, 4);                      // GPE0_BLK
  put_le(t, 0, 4);                              // GPE1_BLK
  t.insert(t.end(), {4, 2, 0, 4, 4, 0, 0, 0});  // PM1_EVT..GPE1_BASE, CST_CNT
  put_le(t, 0x0FFF, 2);                         // P_LVL2_LAT: C2 not supported
  put_le(t, 0x0FFF, 2);                         // P_LVL3_LAT: C3 not supported
  put_le(t, 0, 2);                              // FLUSH_SIZE
  put_le(t, 0, 2);                              // FLUSH_STRIDE
  t.insert(t.end(), {0, 0, 0, 0});              // DUTY_OFFSET, DUTY_WIDTH, DAY/MON_ALRM
  t.push_back(0x32);                            // CENTURY: CMOS index
  put_le(t, 0, 2);                              // IAPC_BOOT_ARCH (reserved in 1.0)
  t.push_back(0);                               // reserved
  put_le(t, kFadtFlags, 4);
  assert(t.size() - at == 116);
  b.pointer(firmware_ctrl, facs);
  b.pointer(dsdt_field, dsdt);
  b.end(at);
  return at;
}

size_t build_madt(Builder& b, const AcpiSettings& settings) {
  const size_t at = b.begin("APIC", 1);
  Bytes& t = b.blob();
  put_le(t, kLocalApicAddress, 4);
  put_le(t, 1, 4);  // PCAT_COMPAT: dual 8259s present
  for (unsigned cpu = 0; cpu < settings.cpus; ++cpu) {
    t.insert(t.end(), {0, 8, static_cast<uint8_t>(cpu), static_cast<uint8_t>(cpu)});
    put_le(t, 1, 4);  // enabled
  }
  t.insert(t.end(), {1, 12, 0, 0});  // I/O APIC id 0
  put_le(t, kIoApicAddress, 4);
  put_le(t, 0, 4);  // GSI base
  // Interrupt source overrides: IRQ0 -> GSI 2 (the routing KvmInterrupts
  // installs, announced to SeaBIOS by etc/irq0-override), and the PCI
  // link IRQs 5, 9, 10, 11 level-triggered, active high.
  auto iso = [&t](uint8_t irq, uint32_t gsi, uint16_t flags) {
    t.insert(t.end(), {2, 10, 0, irq});
    put_le(t, gsi, 4);
    put_le(t, flags, 2);
  };
  iso(0, 2, 0);
  for (uint8_t irq : {5, 9, 10, 11}) iso(irq, irq, 0x0D);
  t.insert(t.end(), {4, 6, 0xFF, 0, 0, 1});  // LAPIC NMI: all CPUs, LINT1
  b.end(at);
  return at;
}

size_t build_hpet(Builder& b) {
  const size_t at = b.begin("HPET", 1);
  Bytes& t = b.blob();
  put_le(t, 0x8086A201, 4);         // event timer block id, as QEMU's HPET
  t.insert(t.end(), {0, 0, 0, 0});  // GAS: system memory, 0 bits width as QEMU
  put_le(t, 0xFED00000, 8);
  t.push_back(0);   // HPET number
  put_le(t, 0, 2);  // minimum tick
  t.push_back(0);   // page protection
  b.end(at);
  return at;
}

size_t build_waet(Builder& b) {
  const size_t at = b.begin("WAET", 1);
  put_le(b.blob(), 1u << 1, 4);  // ACPI PM timer good: one read suffices
  b.end(at);
  return at;
}

size_t build_rsdt(Builder& b, const std::vector<size_t>& tables) {
  const size_t at = b.begin("RSDT", 1);
  for (size_t table : tables) {
    const size_t field = b.blob().size();
    put_le(b.blob(), 0, 4);
    b.pointer(field, table);
  }
  b.end(at);
  return at;
}
}  // namespace

void TableLoader::allocate(const std::string& file, uint32_t align, Zone zone) {
  uint8_t entry[kEntrySize] = {};
  entry[0] = kAllocate;
  put_name(entry + 4, file);
  std::memcpy(entry + 60, &align, 4);  // little-endian host (x86-64 only)
  entry[64] = zone;
  script_.insert(script_.end(), entry, entry + kEntrySize);
}

void TableLoader::add_pointer(const std::string& dest, uint32_t offset, uint8_t size,
                              const std::string& source) {
  uint8_t entry[kEntrySize] = {};
  entry[0] = kAddPointer;
  put_name(entry + 4, dest);
  put_name(entry + 60, source);
  std::memcpy(entry + 116, &offset, 4);
  entry[120] = size;
  script_.insert(script_.end(), entry, entry + kEntrySize);
}

void TableLoader::add_checksum(const std::string& file, uint32_t checksum_offset, uint32_t start,
                               uint32_t length) {
  uint8_t entry[kEntrySize] = {};
  entry[0] = kAddChecksum;
  put_name(entry + 4, file);
  std::memcpy(entry + 60, &checksum_offset, 4);
  std::memcpy(entry + 64, &start, 4);
  std::memcpy(entry + 68, &length, 4);
  script_.insert(script_.end(), entry, entry + kEntrySize);
}

AcpiBlobs build_acpi(const AcpiSettings& settings) {
  Builder b;
  // The tables blob first: 64-byte aligned, so the FACS at offset 0 is too.
  b.loader().allocate(kTablesFile, 64, TableLoader::kZoneHigh);
  const size_t facs = build_facs(b);
  const size_t dsdt = build_dsdt(b, settings);
  std::vector<size_t> listed;
  listed.push_back(build_fadt(b, facs, dsdt));
  listed.push_back(build_madt(b, settings));
  if (settings.hpet) listed.push_back(build_hpet(b));
  listed.push_back(build_waet(b));
  const size_t rsdt = build_rsdt(b, listed);

  AcpiBlobs out;
  Bytes& rsdp = out.rsdp;
  rsdp.insert(rsdp.end(), {'R', 'S', 'D', ' ', 'P', 'T', 'R', ' '});
  rsdp.push_back(0);  // checksum: the loader's
  put_text(rsdp, "BOCHS", 6);
  rsdp.push_back(0);  // revision 0 (ACPI 1.0): no XSDT
  put_le(rsdp, rsdt, 4);
  b.loader().allocate(kRsdpFile, 16, TableLoader::kZoneFseg);
  b.loader().add_pointer(kRsdpFile, 16, 4, kTablesFile);
  b.loader().add_checksum(kRsdpFile, 8, 0, static_cast<uint32_t>(rsdp.size()));

  out.tables = std::move(b.blob());
  out.loader = b.loader().bytes();
  out.spans = std::move(b.spans());
  return out;
}

}  // namespace amber::hv::acpi
