// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace amber::hv::kvm {
namespace {

// Most CPUID leaves KVM reports on any current host is well under 100;
// 256 leaves headroom without an unbounded retry loop.
constexpr unsigned kMaxCpuidEntries = 256;

// <linux/kvm.h> declares the variable-length ioctl arguments (kvm_cpuid2,
// kvm_msrs, kvm_irq_routing) with __DECLARE_FLEX_ARRAY, which under C++
// changes their size and the entries' offset (16 instead of 8), and the
// size is part of the ioctl number. The kernel's ABI is the C layout: an
// 8-byte header {u32 count; u32 pad/flags} followed by the entries. Build
// the buffers and the ioctl numbers from that layout.
constexpr size_t kFlexHeader = 8;
constexpr unsigned long kSetGsiRouting = _IOC(_IOC_WRITE, KVMIO, 0x6a, kFlexHeader);
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, kFlexHeader);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, kFlexHeader);
constexpr unsigned long kGetSupportedHvCpuid =
    _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0xc1, kFlexHeader);
// KVM_GET_SUPPORTED_HV_CPUID reports 0x40000000..0x40000005, 0x4000000A
// and 0x40000080..0x40000082 today; E2BIG asks for a bigger buffer.
constexpr uint32_t kMaxHvCpuidEntries = 64;

template <typename Entry>
std::vector<uint8_t> flex_buffer(uint32_t count, const Entry* entries) {
  std::vector<uint8_t> buffer(kFlexHeader + count * sizeof(Entry), 0);
  std::memcpy(buffer.data(), &count, sizeof(count));
  if (entries != nullptr) std::memcpy(buffer.data() + kFlexHeader, entries, count * sizeof(Entry));
  return buffer;
}

Error ioctl_error(const char* what) {
  return Error::from_errno(errno, what);
}

template <typename T>
Result<void> do_ioctl(int fd, unsigned long request, T arg, const char* what) {
  if (::ioctl(fd, request, arg) < 0) return ioctl_error(what);
  return ok();
}

}  // namespace

Result<KvmSystem> KvmSystem::open(const char* path) {
  const int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, std::string("opening ") + path);
  KvmSystem system;
  system.fd_ = UniqueFd(fd);
  const int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    return Error(ErrorKind::kUnsupported, "KVM API version " + std::to_string(version) +
                                              " is not the expected " +
                                              std::to_string(KVM_API_VERSION));
  return system;
}

Result<int> KvmSystem::check_extension(int capability) const {
  const int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  if (r < 0) return ioctl_error("KVM_CHECK_EXTENSION");
  return r;
}

Result<std::vector<kvm_cpuid_entry2>> KvmSystem::supported_cpuid() const {
  std::vector<uint8_t> buffer = flex_buffer<kvm_cpuid_entry2>(kMaxCpuidEntries, nullptr);
  if (::ioctl(fd_.get(), kGetSupportedCpuid, buffer.data()) < 0)
    return ioctl_error("KVM_GET_SUPPORTED_CPUID");
  uint32_t count = 0;
  std::memcpy(&count, buffer.data(), sizeof(count));
  if (count > kMaxCpuidEntries) count = kMaxCpuidEntries;
  std::vector<kvm_cpuid_entry2> entries(count);
  std::memcpy(entries.data(), buffer.data() + kFlexHeader, count * sizeof(kvm_cpuid_entry2));
  return entries;
}

namespace {

Result<std::vector<kvm_cpuid_entry2>> get_hv_cpuid(int fd) {
  std::vector<uint8_t> buffer = flex_buffer<kvm_cpuid_entry2>(kMaxHvCpuidEntries, nullptr);
  if (::ioctl(fd, kGetSupportedHvCpuid, buffer.data()) < 0)
    return ioctl_error("KVM_GET_SUPPORTED_HV_CPUID");
  uint32_t count = 0;
  std::memcpy(&count, buffer.data(), sizeof(count));
  if (count > kMaxHvCpuidEntries) count = kMaxHvCpuidEntries;
  std::vector<kvm_cpuid_entry2> entries(count);
  std::memcpy(entries.data(), buffer.data() + kFlexHeader, count * sizeof(kvm_cpuid_entry2));
  return entries;
}

}  // namespace

Result<std::vector<kvm_cpuid_entry2>> KvmSystem::supported_hv_cpuid() const {
  return get_hv_cpuid(fd_.get());
}

Result<size_t> KvmSystem::vcpu_mmap_size() const {
  const int r = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (r <= 0) return ioctl_error("KVM_GET_VCPU_MMAP_SIZE");
  return static_cast<size_t>(r);
}

Result<std::unique_ptr<KvmVm>> KvmVm::create(const KvmSystem& system) {
  int fd;
  do {
    fd = ::ioctl(system.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ioctl_error("KVM_CREATE_VM");
  return std::unique_ptr<KvmVm>(new KvmVm(fd));
}

Result<void> KvmVm::set_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host,
                               uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = guest_address;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  return do_ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
}

Result<void> KvmVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  return do_ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log, "KVM_GET_DIRTY_LOG");
}

Result<void> KvmVm::create_irqchip() {
  return do_ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
}

Result<void> KvmVm::set_pit_reinject(bool on) {
  kvm_reinject_control control{};
  control.pit_reinject = on ? 1 : 0;
  return do_ioctl(fd_.get(), KVM_REINJECT_CONTROL, &control, "KVM_REINJECT_CONTROL");
}

Result<void> KvmVm::create_pit() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  return do_ioctl(fd_.get(), KVM_CREATE_PIT2, &config, "KVM_CREATE_PIT2");
}

Result<void> KvmVm::set_tss_address(uint64_t address) {
  return do_ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address),
                  "KVM_SET_TSS_ADDR");
}

Result<void> KvmVm::set_identity_map_address(uint64_t address) {
  __u64 value = address;
  return do_ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &value, "KVM_SET_IDENTITY_MAP_ADDR");
}

Result<void> KvmVm::irq_line(uint32_t gsi, bool level) {
  kvm_irq_level request{};
  request.irq = gsi;
  request.level = level ? 1 : 0;
  return do_ioctl(fd_.get(), KVM_IRQ_LINE, &request, "KVM_IRQ_LINE");
}

Result<void> KvmVm::signal_msi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  if (::ioctl(fd_.get(), KVM_SIGNAL_MSI, &msi) < 0) return ioctl_error("KVM_SIGNAL_MSI");
  return ok();
}

Result<void> KvmVm::set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries) {
  std::vector<uint8_t> buffer = flex_buffer(static_cast<uint32_t>(entries.size()), entries.data());
  return do_ioctl(fd_.get(), kSetGsiRouting, buffer.data(), "KVM_SET_GSI_ROUTING");
}

Result<void> KvmVm::irqfd(int eventfd, uint32_t gsi, IrqfdAction action) {
  kvm_irqfd request{};
  request.fd = static_cast<uint32_t>(eventfd);
  request.gsi = gsi;
  request.flags = action == IrqfdAction::kAssign ? 0 : KVM_IRQFD_FLAG_DEASSIGN;
  return do_ioctl(fd_.get(), KVM_IRQFD, &request, "KVM_IRQFD");
}

Result<void> KvmVm::ioeventfd(const kvm_ioeventfd& request) {
  return do_ioctl(fd_.get(), KVM_IOEVENTFD, &request, "KVM_IOEVENTFD");
}

Result<void> KvmVm::get_irqchip(kvm_irqchip* chip) {
  return do_ioctl(fd_.get(), KVM_GET_IRQCHIP, chip, "KVM_GET_IRQCHIP");
}
Result<void> KvmVm::set_irqchip(const kvm_irqchip& chip) {
  return do_ioctl(fd_.get(), KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP");
}
Result<void> KvmVm::get_pit(kvm_pit_state2* state) {
  return do_ioctl(fd_.get(), KVM_GET_PIT2, state, "KVM_GET_PIT2");
}
Result<void> KvmVm::set_pit(const kvm_pit_state2& state) {
  return do_ioctl(fd_.get(), KVM_SET_PIT2, &state, "KVM_SET_PIT2");
}

Result<std::unique_ptr<KvmVcpu>> KvmVcpu::create(const KvmSystem& system, const KvmVm& vm,
                                                 unsigned id) {
  const int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return ioctl_error("KVM_CREATE_VCPU");
  UniqueFd owner(fd);
  AMBER_TRY_ASSIGN(const size_t size, system.vcpu_mmap_size());
  void* run = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return Error::from_errno(errno, "mapping kvm_run");
  return std::unique_ptr<KvmVcpu>(
      new KvmVcpu(owner.release(), id, static_cast<kvm_run*>(run), size));
}

KvmVcpu::~KvmVcpu() {
  ::munmap(run_, run_size_);
}

Result<void> KvmVcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) return ioctl_error("KVM_RUN");
  return ok();
}

Result<kvm_regs> KvmVcpu::get_regs() {
  kvm_regs regs{};
  AMBER_TRY(do_ioctl(fd_.get(), KVM_GET_REGS, &regs, "KVM_GET_REGS"));
  return regs;
}
Result<void> KvmVcpu::set_regs(const kvm_regs& regs) {
  return do_ioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS");
}
Result<kvm_sregs> KvmVcpu::get_sregs() {
  kvm_sregs sregs{};
  AMBER_TRY(do_ioctl(fd_.get(), KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
  return sregs;
}
Result<void> KvmVcpu::set_sregs(const kvm_sregs& sregs) {
  return do_ioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
}

Result<void> KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  std::vector<uint8_t> buffer = flex_buffer(static_cast<uint32_t>(entries.size()), entries.data());
  return do_ioctl(fd_.get(), kSetCpuid2, buffer.data(), "KVM_SET_CPUID2");
}

Result<std::vector<kvm_cpuid_entry2>> KvmVcpu::supported_hv_cpuid() {
  return get_hv_cpuid(fd_.get());
}

Result<void> KvmVcpu::enable_cap(uint32_t capability) {
  kvm_enable_cap cap{};
  cap.cap = capability;
  return do_ioctl(fd_.get(), KVM_ENABLE_CAP, &cap, "KVM_ENABLE_CAP");
}

Result<kvm_mp_state> KvmVcpu::get_mp_state() {
  kvm_mp_state state{};
  AMBER_TRY(do_ioctl(fd_.get(), KVM_GET_MP_STATE, &state, "KVM_GET_MP_STATE"));
  return state;
}
Result<void> KvmVcpu::set_mp_state(const kvm_mp_state& state) {
  return do_ioctl(fd_.get(), KVM_SET_MP_STATE, &state, "KVM_SET_MP_STATE");
}
Result<void> KvmVcpu::get_lapic(kvm_lapic_state* state) {
  return do_ioctl(fd_.get(), KVM_GET_LAPIC, state, "KVM_GET_LAPIC");
}
Result<void> KvmVcpu::set_lapic(const kvm_lapic_state& state) {
  return do_ioctl(fd_.get(), KVM_SET_LAPIC, &state, "KVM_SET_LAPIC");
}
Result<kvm_fpu> KvmVcpu::get_fpu() {
  kvm_fpu fpu{};
  AMBER_TRY(do_ioctl(fd_.get(), KVM_GET_FPU, &fpu, "KVM_GET_FPU"));
  return fpu;
}
Result<void> KvmVcpu::set_fpu(const kvm_fpu& fpu) {
  return do_ioctl(fd_.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

}  // namespace amber::hv::kvm
