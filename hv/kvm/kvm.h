// SPDX-License-Identifier: GPL-2.0-or-later
// Thin owners of the KVM file descriptors: the system (/dev/kvm), one VM
// and its vCPUs. Each method is one ioctl with its error turned into a
// Result; policy (what to create, in which order) lives in hv/vmm.
//
// Thread-safety: KvmSystem and KvmVm ioctls may be issued from any thread
// (the kernel serializes what it must). A KvmVcpu is used by its own vCPU
// thread, except run_struct()->immediate_exit, which any thread may set
// (hv/vmm's Machine does, before signalling the thread out of KVM_RUN).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace amber::hv::kvm {

class KvmVcpu;

class KvmSystem {
 public:
  static Result<KvmSystem> open(const char* path = "/dev/kvm");
  int fd() const { return fd_.get(); }
  Result<int> check_extension(int capability) const;
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  // The Hyper-V leaves KVM implements (needs KVM_CAP_SYS_HYPERV_CPUID).
  Result<std::vector<kvm_cpuid_entry2>> supported_hv_cpuid() const;
  Result<size_t> vcpu_mmap_size() const;

 private:
  UniqueFd fd_;
};

// Whether KVM_IRQFD binds the eventfd to the GSI or removes that binding.
enum class IrqfdAction { kAssign, kDeassign };

class KvmVm {
 public:
  static Result<std::unique_ptr<KvmVm>> create(const KvmSystem& system);
  int fd() const { return fd_.get(); }

  Result<void> set_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host,
                          uint32_t flags);
  // KVM_GET_DIRTY_LOG: the pages of `slot` (created with
  // KVM_MEM_LOG_DIRTY_PAGES) written since the last call, one bit a page
  // from the slot's start, and clears them. `bitmap` holds at least one bit
  // per page of the slot, rounded up to 64.
  Result<void> get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap);
  Result<void> create_irqchip();
  Result<void> create_pit();
  // KVM_REINJECT_CONTROL: whether the PIT re-injects missed ticks.
  Result<void> set_pit_reinject(bool on);
  Result<void> set_tss_address(uint64_t address);
  Result<void> set_identity_map_address(uint64_t address);
  Result<void> irq_line(uint32_t gsi, bool level);
  Result<void> signal_msi(uint64_t address, uint32_t data);
  Result<void> set_gsi_routing(const std::vector<kvm_irq_routing_entry>& entries);
  Result<void> irqfd(int eventfd, uint32_t gsi, IrqfdAction action);
  Result<void> ioeventfd(const kvm_ioeventfd& request);
  Result<void> get_irqchip(kvm_irqchip* chip);
  Result<void> set_irqchip(const kvm_irqchip& chip);
  Result<void> get_pit(kvm_pit_state2* state);
  Result<void> set_pit(const kvm_pit_state2& state);

 private:
  explicit KvmVm(int fd) : fd_(fd) {}
  UniqueFd fd_;
};

class KvmVcpu {
 public:
  static Result<std::unique_ptr<KvmVcpu>> create(const KvmSystem& system, const KvmVm& vm,
                                                 unsigned id);
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  int fd() const { return fd_.get(); }
  unsigned id() const { return id_; }
  kvm_run* run_struct() { return run_; }
  // KVM_RUN; EINTR / EAGAIN come back as errors with that errno.
  Result<void> run();

  Result<kvm_regs> get_regs();
  Result<void> set_regs(const kvm_regs& regs);
  Result<kvm_sregs> get_sregs();
  Result<void> set_sregs(const kvm_sregs& sregs);
  Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  // The vCPU form of KVM_GET_SUPPORTED_HV_CPUID (KVM_CAP_HYPERV_CPUID).
  Result<std::vector<kvm_cpuid_entry2>> supported_hv_cpuid();
  // KVM_ENABLE_CAP on this vCPU with no arguments (KVM_CAP_HYPERV_SYNIC2).
  Result<void> enable_cap(uint32_t capability);
  Result<kvm_mp_state> get_mp_state();
  Result<void> set_mp_state(const kvm_mp_state& state);
  Result<void> get_lapic(kvm_lapic_state* state);
  Result<void> set_lapic(const kvm_lapic_state& state);
  Result<kvm_fpu> get_fpu();
  Result<void> set_fpu(const kvm_fpu& fpu);

 private:
  KvmVcpu(int fd, unsigned id, kvm_run* run, size_t run_size)
      : fd_(fd), id_(id), run_(run), run_size_(run_size) {}
  UniqueFd fd_;
  unsigned id_;
  kvm_run* run_;
  size_t run_size_;
};

}  // namespace amber::hv::kvm
