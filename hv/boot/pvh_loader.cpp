// SPDX-License-Identifier: GPL-2.0-or-later
// KernelLoader's PVH half: an ELF (32- or 64-bit) with the Xen note
// XEN_ELFNOTE_PHYS32_ENTRY. Every header field is checked against the file
// size before use; segments must land wholly in guest RAM.
#include <cstring>

#include "hv/boot/boot_structs.h"
#include "hv/boot/kernel_loader.h"

namespace amber::hv::boot {
namespace {

constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kPtNote = 4;
constexpr uint32_t kXenElfnotePhys32Entry = 18;
constexpr uint64_t kStartInfoAddress = 0x6000;
constexpr uint64_t kModlistAddress = 0x6040;
constexpr uint64_t kMemmapAddress = 0x6080;
constexpr uint64_t kCmdlineAddress = 0x20000;
// The memory map must fit between kMemmapAddress and the GDT page.
constexpr size_t kMaxMemmap = 32;
// Program headers beyond this are refused (a real kernel has a handful).
constexpr unsigned kMaxProgramHeaders = 64;

struct Segment {
  uint32_t type;
  uint64_t offset, paddr, filesz, memsz;
};

template <typename T>
bool read_at(const std::vector<uint8_t>& bytes, uint64_t offset, T* out) {
  if (offset > bytes.size() || sizeof(T) > bytes.size() - offset) return false;
  std::memcpy(out, bytes.data() + offset, sizeof(T));
  return true;
}

Result<std::vector<Segment>> program_headers(const std::vector<uint8_t>& elf) {
  const bool is64 = elf[4] == 2;
  if (elf[4] != 1 && elf[4] != 2) return Error(ErrorKind::kCorrupt, "--kernel: bad ELF class");
  if (elf[5] != 1) return Error(ErrorKind::kUnsupported, "--kernel: big-endian ELF");
  uint64_t phoff = 0;
  uint16_t phentsize = 0, phnum = 0;
  if (is64) {
    read_at(elf, 0x20, &phoff);
    read_at(elf, 0x36, &phentsize);
    read_at(elf, 0x38, &phnum);
  } else {
    uint32_t off32 = 0;
    read_at(elf, 0x1C, &off32);
    phoff = off32;
    read_at(elf, 0x2A, &phentsize);
    read_at(elf, 0x2C, &phnum);
  }
  if (phnum > kMaxProgramHeaders || phentsize < (is64 ? 56 : 32))
    return Error(ErrorKind::kCorrupt, "--kernel: bad ELF program header table");
  std::vector<Segment> out;
  for (unsigned i = 0; i < phnum; ++i) {
    const uint64_t at = phoff + uint64_t{i} * phentsize;
    Segment s{};
    bool ok_read;
    if (is64) {
      uint64_t v[4]{};  // zero when a read fails (ok_read is checked after)
      ok_read = read_at(elf, at, &s.type) && read_at(elf, at + 8, &s.offset) &&
                read_at(elf, at + 24, &v[0]) && read_at(elf, at + 32, &v[1]) &&
                read_at(elf, at + 40, &v[2]);
      s.paddr = v[0];
      s.filesz = v[1];
      s.memsz = v[2];
    } else {
      uint32_t v[5]{};
      ok_read = read_at(elf, at, &s.type) && read_at(elf, at + 4, &v[0]) &&
                read_at(elf, at + 12, &v[1]) && read_at(elf, at + 16, &v[2]) &&
                read_at(elf, at + 20, &v[3]);
      s.offset = v[0];
      s.paddr = v[1];
      s.filesz = v[2];
      s.memsz = v[3];
    }
    if (!ok_read)
      return Error(ErrorKind::kCorrupt, "--kernel: ELF program header outside the file");
    if (s.filesz > elf.size() || s.offset > elf.size() - s.filesz || s.filesz > s.memsz)
      return Error(ErrorKind::kCorrupt, "--kernel: ELF segment outside the file");
    out.push_back(s);
  }
  return out;
}

// Finds the PVH entry in one PT_NOTE segment; 0 if absent.
uint32_t find_pvh_entry(const std::vector<uint8_t>& elf, const Segment& note) {
  uint64_t at = note.offset;
  const uint64_t end = note.offset + note.filesz;
  while (at + 12 <= end) {
    uint32_t namesz = 0, descsz = 0, type = 0;
    read_at(elf, at, &namesz);
    read_at(elf, at + 4, &descsz);
    read_at(elf, at + 8, &type);
    const uint64_t name_at = at + 12;
    const uint64_t desc_at = name_at + ((uint64_t{namesz} + 3) & ~3ULL);
    const uint64_t next = desc_at + ((uint64_t{descsz} + 3) & ~3ULL);
    if (next > end) break;
    if (type == kXenElfnotePhys32Entry && namesz == 4 &&
        std::memcmp(elf.data() + name_at, "Xen", 4) == 0 && descsz >= 4) {
      uint32_t entry = 0;
      read_at(elf, desc_at, &entry);
      return entry;
    }
    at = next;
  }
  return 0;
}

}  // namespace

Result<void> KernelLoader::load_pvh(GuestRam& ram) {
  AMBER_TRY_ASSIGN(std::vector<Segment> segments, program_headers(kernel_));
  uint32_t entry = 0;
  uint64_t kernel_end = 0;
  for (const Segment& s : segments) {
    if (s.type == kPtNote && entry == 0) entry = find_pvh_entry(kernel_, s);
    if (s.type != kPtLoad || s.memsz == 0) continue;
    AMBER_TRY(put(ram, s.paddr, kernel_.data() + s.offset, s.filesz, "an ELF segment"));
    uint8_t* bss = ram.memory().translate(s.paddr + s.filesz, s.memsz - s.filesz);
    if (bss == nullptr)
      return Error(ErrorKind::kOutOfRange, "--kernel: ELF segment outside guest RAM");
    std::memset(bss, 0, s.memsz - s.filesz);
    kernel_end = std::max(kernel_end, s.paddr + s.memsz);
  }
  if (entry == 0)
    return Error(ErrorKind::kUnsupported,
                 "--kernel: ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");

  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = 1;
  const std::string cmdline = cmdline_;
  AMBER_TRY(put(ram, kCmdlineAddress, cmdline.c_str(), cmdline.size() + 1, "the command line"));
  info.cmdline_paddr = kCmdlineAddress;
  if (!initrd_.empty()) {
    const uint64_t top = ram.layout().below_4g;
    if (initrd_.size() > top) return Error(ErrorKind::kNoSpace, "--initrd: larger than guest RAM");
    const uint64_t address = (top - initrd_.size()) & ~0xFFFULL;
    if (address < kernel_end)
      return Error(ErrorKind::kNoSpace, "--initrd: does not fit above the kernel");
    AMBER_TRY(put(ram, address, initrd_.data(), initrd_.size(), "the initrd"));
    HvmModlistEntry module{address, initrd_.size(), 0, 0};
    AMBER_TRY(put(ram, kModlistAddress, &module, sizeof(module), "the module list"));
    info.nr_modules = 1;
    info.modlist_paddr = kModlistAddress;
  }
  const size_t entries = std::min(e820_.size(), kMaxMemmap);
  for (size_t i = 0; i < entries; ++i) {
    HvmMemmapEntry m{e820_[i].address, e820_[i].length, static_cast<uint32_t>(e820_[i].type), 0};
    AMBER_TRY(put(ram, kMemmapAddress + i * sizeof(m), &m, sizeof(m), "the memory map"));
  }
  info.memmap_paddr = kMemmapAddress;
  info.memmap_entries = static_cast<uint32_t>(entries);
  AMBER_TRY(put(ram, kStartInfoAddress, &info, sizeof(info), "hvm_start_info"));
  entry_ = entry;
  boot_info_ = static_cast<uint32_t>(kStartInfoAddress);
  return ok();
}

}  // namespace amber::hv::boot
