// SPDX-License-Identifier: GPL-2.0-or-later
// KvmInterrupts: InterruptController and IoEventRegistry on the in-kernel
// irqchip.
//  - GSI routing is QEMU's: GSI 0 -> PIC pin 0 and IOAPIC pin 2 (the
//    firmware is told so with fw_cfg etc/irq0-override = 1), GSI 2 unrouted,
//    every other GSI n < 16 -> PIC and IOAPIC pin n, 16..23 -> IOAPIC only;
//    GSIs from 24 up are MSI routes owned by msi_irqfd().
//  - PCI INTx: slot S pin P -> PIRQ[(S-1 + P-1) & 3] -> the ISA IRQ in the
//    PIIX3 route register (set_pirq_routes; bit 7 = disabled), driven as a
//    level that is the OR of all PCI sources routed to it.
//  - set_isa_irq drives a legacy ISA line (serial, RTC, SCI); a line that
//    ISA and PCI sources share carries their OR (level-triggered sharing,
//    as on a PIIX3 with the ELCR bit set: the SCI on IRQ 9).
//
// Thread-safety: all methods may be called from any thread (one mutex).
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "hv/kvm/kvm.h"
#include "hv/pci/interrupts.h"

namespace amber::hv::vmm {

inline constexpr unsigned kIoapicPins = 24;

// PIRQ index (0 = PIRQA) for INTx pin (1..4) of the device in `slot`.
unsigned pirq_for(unsigned slot, unsigned pin);

class KvmInterrupts : public InterruptController, public IoEventRegistry {
 public:
  explicit KvmInterrupts(kvm::KvmVm& vm) : vm_(vm) {}
  Result<void> install_routing();  // once, after KVM_CREATE_IRQCHIP

  Result<void> signal_msi(const MsiMessage& message) override;
  Result<void> set_intx(unsigned slot, unsigned pin, bool level) override;
  Result<int> msi_irqfd(const MsiMessage& message) override;
  Result<void> update_msi_irqfd(int eventfd, const MsiMessage& message) override;
  Result<void> release_msi_irqfd(int eventfd) override;

  Result<void> add_ioeventfd(IoSpace space, uint64_t address, unsigned length, int eventfd,
                             std::optional<uint64_t> datamatch) override;
  Result<void> remove_ioeventfd(IoSpace space, uint64_t address, unsigned length, int eventfd,
                                std::optional<uint64_t> datamatch) override;

  void set_isa_irq(unsigned irq, bool level);
  // The PIIX3 route registers 0x60..0x63 changed.
  void set_pirq_routes(const std::array<uint8_t, 4>& routes);

 private:
  // The KVM_IOEVENTFD request for one registration (flags: 0 or DEASSIGN).
  static kvm_ioeventfd ioeventfd_request(IoSpace space, uint64_t address, unsigned length,
                                         int eventfd, std::optional<uint64_t> datamatch,
                                         uint32_t flags);
  Result<void> push_routing();    // under mutex_
  void drive_pci_irqs();          // under mutex_
  void drive_line(unsigned irq);  // under mutex_: ISA | PCI level to KVM

  kvm::KvmVm& vm_;
  std::mutex mutex_;
  std::array<uint8_t, 4> pirq_routes_{0x80, 0x80, 0x80, 0x80};
  std::map<std::pair<unsigned, unsigned>, bool> intx_levels_;  // (slot, pin) -> level
  std::array<bool, 16> pci_irq_level_{};                       // PCI INTx OR per ISA IRQ
  std::array<bool, 16> isa_irq_level_{};                       // set_isa_irq's level
  std::array<std::optional<bool>, 16> line_level_{};           // what KVM was last told
  struct MsiRoute {
    uint32_t gsi = 0;
    MsiMessage message;
    UniqueFd eventfd;  // ours until release_msi_irqfd (or our destruction)
  };
  std::map<int, MsiRoute> msi_routes_;  // by eventfd
  std::vector<uint32_t> free_gsis_;
  uint32_t next_gsi_ = kIoapicPins;
};

}  // namespace amber::hv::vmm
