// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/boot/kernel_loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "hv/boot/boot_structs.h"

namespace amber::hv::boot {
namespace {

constexpr uint64_t kBootParamsAddress = 0x7000;
constexpr uint64_t kCmdlineAddress = 0x20000;
constexpr uint64_t kStartInfoAddress = 0x6000;  // hvm_start_info, memmap, module list
constexpr uint64_t kKernelAddress = 0x100000;
constexpr uint64_t kGdtAddress = 0x5000;
// Command lines longer than this are refused (boot protocol 2.06 lets the
// kernel state its own limit; 64 KiB of low memory is what we reserve).
constexpr size_t kMaxCmdline = 0xFFFF;
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint16_t kMinBootProtocol = 0x206;
constexpr uint8_t kLoadedHigh = 0x01;
constexpr uint8_t kCanUseHeap = 0x80;
constexpr uint8_t kLoaderTypeUndefined = 0xFF;

Result<std::vector<uint8_t>> read_file(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno(errno, std::string(option) + " " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

template <typename T>
T load_le(const std::vector<uint8_t>& bytes, size_t offset) {
  T value{};
  if (offset + sizeof(T) <= bytes.size()) std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

bool is_elf(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 64 && bytes[0] == 0x7F && bytes[1] == 'E' && bytes[2] == 'L' &&
         bytes[3] == 'F';
}

}  // namespace

Result<std::unique_ptr<KernelLoader>> KernelLoader::open(const std::string& kernel,
                                                         const std::string& initrd,
                                                         const std::string& cmdline) {
  std::unique_ptr<KernelLoader> loader(new KernelLoader());
  AMBER_TRY_ASSIGN(loader->kernel_, read_file(kernel, "--kernel"));
  if (!initrd.empty()) {
    AMBER_TRY_ASSIGN(loader->initrd_, read_file(initrd, "--initrd"));
  }
  if (cmdline.size() > kMaxCmdline)
    return Error(ErrorKind::kInvalidArgument, "--cmdline: too long");
  loader->cmdline_ = cmdline;
  if (is_elf(loader->kernel_)) {
    loader->kind_ = KernelKind::kPvh;
  } else if (load_le<uint32_t>(loader->kernel_, 0x202) == kHdrSMagic) {
    loader->kind_ = KernelKind::kBzImage;
    if (load_le<uint16_t>(loader->kernel_, 0x206) < kMinBootProtocol)
      return Error(ErrorKind::kUnsupported,
                   "--kernel " + kernel + ": boot protocol older than 2.06");
  } else {
    return Error(ErrorKind::kInvalidArgument,
                 "--kernel " + kernel + ": neither a bzImage nor an ELF with a PVH entry note");
  }
  return loader;
}

Result<void> KernelLoader::put(GuestRam& ram, uint64_t gpa, const void* data, uint64_t length,
                               const char* what) {
  if (!ram.memory().write(gpa, data, length))
    return Error(ErrorKind::kOutOfRange, std::string("--kernel: ") + what +
                                             " does not fit in guest RAM at 0x" +
                                             std::to_string(gpa));
  return ok();
}

Result<void> KernelLoader::load(GuestRam& ram, const std::vector<E820Entry>& e820,
                                kvm::KvmVcpu& bsp) {
  e820_ = e820;
  // Flat GDT at kGdtAddress: null, null, code 0x10, data 0x18 (the selectors
  // the Linux boot protocol names __BOOT_CS / __BOOT_DS).
  const uint64_t gdt[4] = {0, 0, 0x00CF9B000000FFFFULL, 0x00CF93000000FFFFULL};
  AMBER_TRY(put(ram, kGdtAddress, gdt, sizeof(gdt), "the GDT"));
  AMBER_TRY(reload(ram));
  if (kind_ == KernelKind::kPvh) return enter_protected_mode(bsp, entry_, 0, boot_info_);
  return enter_protected_mode(bsp, entry_, boot_info_, 0);
}

Result<void> KernelLoader::reload(GuestRam& ram) {
  return kind_ == KernelKind::kPvh ? load_pvh(ram) : load_bzimage(ram);
}

Result<void> KernelLoader::load_bzimage(GuestRam& ram) {
  // Setup sectors: 0 in the header means 4 (boot protocol).
  unsigned setup_sects = kernel_.size() > 0x1F1 ? kernel_[0x1F1] : 0;
  if (setup_sects == 0) setup_sects = 4;
  const size_t setup_size = (setup_sects + 1) * 512ULL;
  if (kernel_.size() <= setup_size)
    return Error(ErrorKind::kCorrupt, "--kernel: bzImage shorter than its setup");
  const uint8_t loadflags = kernel_[0x211];
  if (!(loadflags & kLoadedHigh))
    return Error(ErrorKind::kUnsupported, "--kernel: zImage (not loaded high)");

  const uint64_t protected_size = kernel_.size() - setup_size;
  AMBER_TRY(put(ram, kKernelAddress, kernel_.data() + setup_size, protected_size, "the kernel"));

  // boot_params: zero page with a copy of the setup header.
  BootParams params{};
  // The setup header runs from 0x1F1 to the end given by the jump at 0x200
  // (0x202 + its 8-bit displacement), which the file may not contradict.
  const size_t header_end = std::min<size_t>({0x202u + kernel_[0x201], setup_size, sizeof(params)});
  std::memcpy(reinterpret_cast<uint8_t*>(&params) + 0x1F1, kernel_.data() + 0x1F1,
              header_end - 0x1F1);
  auto* raw = reinterpret_cast<uint8_t*>(&params);
  raw[0x210] = kLoaderTypeUndefined;                           // type_of_loader
  raw[0x211] = static_cast<uint8_t>(loadflags | kCanUseHeap);  // loadflags
  const uint16_t heap_end = 0xFE00;
  std::memcpy(raw + 0x224, &heap_end, 2);  // heap_end_ptr
  const auto cmdline_ptr = static_cast<uint32_t>(kCmdlineAddress);
  std::memcpy(raw + 0x228, &cmdline_ptr, 4);
  std::string cmdline = cmdline_;
  AMBER_TRY(put(ram, kCmdlineAddress, cmdline.c_str(), cmdline.size() + 1, "the command line"));

  if (!initrd_.empty()) {
    uint32_t max = load_le<uint32_t>(kernel_, 0x22C);  // initrd_addr_max
    if (max == 0) max = 0x37FFFFFF;
    uint64_t top = std::min<uint64_t>(ram.layout().below_4g, uint64_t{max} + 1);
    if (initrd_.size() > top)
      return Error(ErrorKind::kNoSpace, "--initrd: does not fit below initrd_addr_max");
    const uint64_t address = (top - initrd_.size()) & ~0xFFFULL;
    if (address < kKernelAddress + protected_size)
      return Error(ErrorKind::kNoSpace, "--initrd: does not fit in guest RAM above the kernel");
    AMBER_TRY(put(ram, address, initrd_.data(), initrd_.size(), "the initrd"));
    const auto address32 = static_cast<uint32_t>(address);
    const auto size32 = static_cast<uint32_t>(initrd_.size());
    std::memcpy(raw + 0x218, &address32, 4);
    std::memcpy(raw + 0x21C, &size32, 4);
  }
  const size_t entries = std::min<size_t>(e820_.size(), kE820Max);
  raw[0x1E8] = static_cast<uint8_t>(entries);  // e820_entries
  for (size_t i = 0; i < entries; ++i) {
    BootE820Entry entry{e820_[i].address, e820_[i].length, static_cast<uint32_t>(e820_[i].type)};
    std::memcpy(raw + 0x2D0 + i * sizeof(entry), &entry, sizeof(entry));
  }
  AMBER_TRY(put(ram, kBootParamsAddress, &params, sizeof(params), "boot_params"));
  entry_ = load_le<uint32_t>(kernel_, 0x214);  // code32_start
  if (entry_ == 0) entry_ = kKernelAddress;
  boot_info_ = static_cast<uint32_t>(kBootParamsAddress);
  return ok();
}

Result<void> enter_protected_mode(kvm::KvmVcpu& vcpu, uint32_t entry, uint32_t esi, uint32_t ebx) {
  AMBER_TRY_ASSIGN(kvm_sregs sregs, vcpu.get_sregs());
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xFFFFFFFF;
  code.selector = 0x10;
  code.type = 0xB;  // execute/read, accessed
  code.present = 1;
  code.db = 1;
  code.s = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = 0x18;
  data.type = 0x3;  // read/write, accessed
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = kGdtAddress;
  sregs.gdt.limit = 4 * 8 - 1;
  sregs.idt.base = 0;
  sregs.idt.limit = 0;
  sregs.tr.selector = 0;
  sregs.tr.base = 0;
  sregs.tr.limit = 0x67;
  sregs.tr.type = 0xB;  // 32-bit busy TSS
  sregs.tr.present = 1;
  sregs.cr0 = 0x11;  // PE | ET, paging off
  sregs.cr4 = 0;
  sregs.efer = 0;
  AMBER_TRY(vcpu.set_sregs(sregs));
  kvm_regs regs{};
  regs.rip = entry;
  regs.rsi = esi;
  regs.rbx = ebx;
  regs.rflags = 0x2;
  return vcpu.set_regs(regs);
}

}  // namespace amber::hv::boot
