// SPDX-License-Identifier: GPL-2.0-or-later
// The vCPU exit loop: one switch over KVM's exit reasons. Runs on the vCPU's
// own thread (see machine.h for how it parks and how requests leave it).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <span>

#include "hv/kvm/hyperv.h"
#include "hv/vmm/machine.h"

namespace amber::hv::vmm {

void Machine::handle_io(kvm::KvmVcpu& vcpu) {
  kvm_run* run = vcpu.run_struct();
  // data_offset and size come from the kernel, not the guest; count is at
  // most a page worth of rep-string iterations, all inside the kvm_run page.
  auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  for (uint32_t i = 0; i < run->io.count; ++i) {
    std::span<uint8_t> chunk(data + static_cast<size_t>(i) * run->io.size, run->io.size);
    if (run->io.direction == KVM_EXIT_IO_OUT) {
      pio_.write(run->io.port, chunk);
    } else {
      pio_.read(run->io.port, chunk);
    }
  }
}

void Machine::handle_mmio(kvm::KvmVcpu& vcpu) {
  kvm_run* run = vcpu.run_struct();
  // len is at most 8 (the size of mmio.data) per the KVM ABI; clamp anyway.
  const size_t length =
      run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : sizeof(run->mmio.data);
  std::span<uint8_t> data(run->mmio.data, length);
  if (run->mmio.is_write) {
    mmio_.write(run->mmio.phys_addr, data);
  } else {
    mmio_.read(run->mmio.phys_addr, data);
  }
}

void Machine::report_internal_error(kvm::KvmVcpu& vcpu, const std::string& what) {
  std::string message = "vCPU " + std::to_string(vcpu.id()) + ": " + what;
  if (auto regs = vcpu.get_regs(); regs.ok()) {
    char line[256];
    std::snprintf(
        line, sizeof(line),
        "; rip=0x%llx rsp=0x%llx rax=0x%llx rbx=0x%llx rcx=0x%llx rdx=0x%llx rflags=0x%llx",
        regs->rip, regs->rsp, regs->rax, regs->rbx, regs->rcx, regs->rdx, regs->rflags);
    message += line;
  }
  if (auto sregs = vcpu.get_sregs(); sregs.ok()) {
    char line[160];
    std::snprintf(
        line, sizeof(line), " cs=0x%x(base 0x%llx) cr0=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx",
        sregs->cs.selector, sregs->cs.base, sregs->cr0, sregs->cr3, sregs->cr4, sregs->efer);
    message += line;
  }
  post({Request::Kind::kFailure, ShutdownReason::kGuestPanic, 1, message});
}

void Machine::wait_for_park() {
  std::unique_lock lock(park_mutex_);
  park_cv_.wait(lock, [&] { return park_requested_ || stopping_; });
}

void Machine::vcpu_loop(unsigned index) {
  kvm::KvmVcpu& vcpu = *vcpus_[index];
  kvm_run* run = vcpu.run_struct();
  bool warned_unknown = false;
  while (true) {
    // The per-exit fast path: no lock unless a park or stop was asked for.
    // A request that lands after these loads is not missed: park_all() and
    // the destructor set immediate_exit and signal this thread after setting
    // the flag, so KVM_RUN returns EINTR at once and the next pass parks.
    if (park_requested_.load(std::memory_order_acquire) ||
        stopping_.load(std::memory_order_acquire)) {
      wait_while_parked(index);
      if (stopping_.load(std::memory_order_acquire)) return;
    }
    if (auto r = vcpu.run(); !r.ok()) {
      const int error = r.error().error_number();
      if (error == EINTR || error == EAGAIN) continue;  // kick, or an AP receiving INIT
      report_internal_error(vcpu, r.error().message());
      wait_for_park();
      continue;
    }
    switch (run->exit_reason) {
      case KVM_EXIT_IO:
        handle_io(vcpu);
        break;
      case KVM_EXIT_MMIO:
        handle_mmio(vcpu);
        break;
      case KVM_EXIT_HLT:
      case KVM_EXIT_IRQ_WINDOW_OPEN:
      case KVM_EXIT_INTR:
        break;
      case KVM_EXIT_SHUTDOWN:  // triple fault: a PC resets
        post({Request::Kind::kReset, ShutdownReason::kGuestReset, 0, ""});
        break;
      case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
          case KVM_SYSTEM_EVENT_RESET:
            post({Request::Kind::kReset, ShutdownReason::kGuestReset, 0, ""});
            break;
          case KVM_SYSTEM_EVENT_SHUTDOWN:
            post({Request::Kind::kShutdown, ShutdownReason::kGuestShutdown, 0, ""});
            break;
          default:
            post({Request::Kind::kFailure, ShutdownReason::kGuestPanic, 1,
                  "vCPU " + std::to_string(index) + ": guest crash event"});
            break;
        }
        break;
      case KVM_EXIT_HYPERV:
        // --hyperv: KVM passes up SynIC MSR changes (nothing to do without
        // VMBus) and the hypercalls it does not serve itself (post message,
        // signal event), which have no receiver here.
        if (run->hyperv.type == KVM_EXIT_HYPERV_HCALL)
          run->hyperv.u.hcall.result = kvm::kHvStatusInvalidHypercallCode;
        break;
      case KVM_EXIT_INTERNAL_ERROR:
        report_internal_error(vcpu, "KVM internal error, suberror " +
                                        std::to_string(run->internal.suberror) +
                                        (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                             ? " (instruction emulation failed)"
                                             : ""));
        wait_for_park();
        break;
      case KVM_EXIT_FAIL_ENTRY:
        report_internal_error(vcpu,
                              "VM entry failed, hardware reason 0x" +
                                  std::to_string(run->fail_entry.hardware_entry_failure_reason));
        wait_for_park();
        break;
      default:
        if (!warned_unknown) {
          warned_unknown = true;
          std::fprintf(stderr, "amber-vmm: vCPU %u: unhandled exit reason %u\n", index,
                       run->exit_reason);
        }
        break;
    }
  }
}

}  // namespace amber::hv::vmm
