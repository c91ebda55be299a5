// SPDX-License-Identifier: GPL-2.0-or-later
// The ACPI tables amber-vmm hands SeaBIOS, in QEMU 7.2 `pc`'s form: two
// fw_cfg blobs, etc/acpi/rsdp (RSDP rev 0, F-segment) and etc/acpi/tables
// (FACS, DSDT, FADT rev 1, MADT, WAET, RSDT, in that order; high memory),
// plus etc/table-loader, the BIOS linker/loader script (128-byte entries:
// ALLOCATE, ADD_POINTER, ADD_CHECKSUM) that makes SeaBIOS place the blobs,
// patch every pointer with the blob's guest address and fix every
// checksum. With the script present SeaBIOS builds no tables of its own
// and moves the PIIX4 PM block to 0x600, the address the FADT names.
// The checksums in the blobs are 0: only the loader knows the final bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hv/acpi/aml.h"

namespace amber::hv::acpi {

inline constexpr uint16_t kPmBase = 0x600;  // where SeaBIOS puts PMBASE with a loader
inline constexpr uint16_t kGpe0Base = 0xAFE0;
inline constexpr uint8_t kSmiCommand = 0xB2;
inline constexpr uint8_t kAcpiEnable = 0xF1, kAcpiDisable = 0xF0;
inline constexpr uint16_t kSciIrq = 9;
inline constexpr uint32_t kFadtFlags = 0x80A5;
inline constexpr uint32_t kIoApicAddress = 0xFEC00000;
inline constexpr uint32_t kLocalApicAddress = 0xFEE00000;

inline constexpr char kRsdpFile[] = "etc/acpi/rsdp";
inline constexpr char kTablesFile[] = "etc/acpi/tables";
inline constexpr char kLoaderFile[] = "etc/table-loader";

struct AcpiSettings {
  unsigned cpus = 1;
  // \_SB.PCI0._UID: 0 for pc-i440fx-5.2 and later (and "pc"), 1 before.
  unsigned pci_root_uid = 0;
  // The 32-bit PCI window in PCI0._CRS: [start, 0xFEBFFFFF]; start is
  // the end of RAM below 4 GiB, as QEMU.
  uint32_t pci_hole_start = 0xE0000000;
  // Set by whoever adds an HPET at 0xFED00000: adds the HPET table and
  // the PNP0103 device. Off: amber-vmm has no HPET yet.
  bool hpet = false;
};

// One BIOS linker/loader script (QEMU hw/acpi/bios-linker-loader.c's format).
class TableLoader {
 public:
  static constexpr size_t kEntrySize = 128;
  enum Command : uint32_t { kAllocate = 1, kAddPointer = 2, kAddChecksum = 3 };
  enum Zone : uint8_t { kZoneHigh = 1, kZoneFseg = 2 };
  void allocate(const std::string& file, uint32_t align, Zone zone);
  // Adds SOURCE's guest address to the SIZE-byte little-endian value at
  // DEST + OFFSET (which holds the offset of the target inside SOURCE).
  void add_pointer(const std::string& dest, uint32_t offset, uint8_t size,
                   const std::string& source);
  // Sets FILE[checksum_offset] so that bytes [start, start+length) sum to 0.
  void add_checksum(const std::string& file, uint32_t checksum_offset, uint32_t start,
                    uint32_t length);
  const Bytes& bytes() const { return script_; }

 private:
  Bytes script_;
};

struct TableSpan {
  std::string signature;
  uint32_t offset = 0;  // in etc/acpi/tables
  uint32_t length = 0;
};

struct AcpiBlobs {
  Bytes rsdp;
  Bytes tables;
  Bytes loader;
  std::vector<TableSpan> spans;  // every table in `tables`, in order
};

AcpiBlobs build_acpi(const AcpiSettings& settings);

// The DSDT's AML body (after the 36-byte header); dsdt.cpp.
Bytes build_dsdt_body(const AcpiSettings& settings);

}  // namespace amber::hv::acpi
