// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/kvm_interrupts.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace amber::hv::vmm {
namespace {

// KVM's default GSI limit is 1024 on x86; stay well below it.
constexpr uint32_t kMaxGsi = 1000;

kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin) {
  kvm_irq_routing_entry entry{};
  entry.gsi = gsi;
  entry.type = KVM_IRQ_ROUTING_IRQCHIP;
  entry.u.irqchip.irqchip = chip;
  entry.u.irqchip.pin = pin;
  return entry;
}

}  // namespace

unsigned pirq_for(unsigned slot, unsigned pin) {
  return (slot + pin - 2) & 3;
}

Result<void> KvmInterrupts::install_routing() {
  std::lock_guard lock(mutex_);
  return push_routing();
}

Result<void> KvmInterrupts::push_routing() {
  std::vector<kvm_irq_routing_entry> entries;
  for (uint32_t gsi = 0; gsi < 16; ++gsi) {
    if (gsi == 2) continue;
    entries.push_back(
        irqchip_route(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
  }
  for (uint32_t gsi = 0; gsi < kIoapicPins; ++gsi) {
    if (gsi == 2) continue;
    entries.push_back(irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi));
  }
  for (const auto& [fd, route] : msi_routes_) {
    kvm_irq_routing_entry entry{};
    entry.gsi = route.gsi;
    entry.type = KVM_IRQ_ROUTING_MSI;
    entry.u.msi.address_lo = static_cast<uint32_t>(route.message.address);
    entry.u.msi.address_hi = static_cast<uint32_t>(route.message.address >> 32);
    entry.u.msi.data = route.message.data;
    entries.push_back(entry);
  }
  return vm_.set_gsi_routing(entries);
}

Result<void> KvmInterrupts::signal_msi(const MsiMessage& message) {
  return vm_.signal_msi(message.address, message.data);
}

void KvmInterrupts::drive_pci_irqs() {
  std::array<bool, 16> level{};
  for (const auto& [source, high] : intx_levels_) {
    if (!high) continue;
    const uint8_t route = pirq_routes_[pirq_for(source.first, source.second)];
    if (route & 0x80) continue;
    level[route & 0x0F] = true;
  }
  for (unsigned irq = 0; irq < 16; ++irq) {
    if (level[irq] == pci_irq_level_[irq]) continue;
    pci_irq_level_[irq] = level[irq];
    drive_line(irq);
  }
}

void KvmInterrupts::drive_line(unsigned irq) {
  // KVM_IRQ_LINE keeps one level per line for all of userspace: a line
  // shared by an ISA source and PCI INTx (the SCI on IRQ 9 with a PIRQ
  // routed there) must carry their OR, or one would drop the other.
  const bool level = pci_irq_level_[irq] || isa_irq_level_[irq];
  if (line_level_[irq] && *line_level_[irq] == level) return;
  line_level_[irq] = level;
  (void)vm_.irq_line(irq, level);
}

Result<void> KvmInterrupts::set_intx(unsigned slot, unsigned pin, bool level) {
  if (slot == 0 || slot > 31 || pin == 0 || pin > 4)
    return Error(ErrorKind::kInvalidArgument, "INTx: bad slot or pin");
  std::lock_guard lock(mutex_);
  intx_levels_[{slot, pin}] = level;
  drive_pci_irqs();
  return ok();
}

void KvmInterrupts::set_pirq_routes(const std::array<uint8_t, 4>& routes) {
  std::lock_guard lock(mutex_);
  pirq_routes_ = routes;
  drive_pci_irqs();
}

void KvmInterrupts::set_isa_irq(unsigned irq, bool level) {
  if (irq >= 16) return;
  std::lock_guard lock(mutex_);
  isa_irq_level_[irq] = level;
  drive_line(irq);
}

Result<int> KvmInterrupts::msi_irqfd(const MsiMessage& message) {
  UniqueFd owned(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!owned) return Error::from_errno(errno, "eventfd for MSI");
  const int fd = owned.get();
  std::lock_guard lock(mutex_);
  uint32_t gsi;
  if (!free_gsis_.empty()) {
    gsi = free_gsis_.back();
    free_gsis_.pop_back();
  } else if (next_gsi_ < kMaxGsi) {
    gsi = next_gsi_++;
  } else {
    return Error(ErrorKind::kNoSpace, "out of GSIs for MSI routes");
  }
  msi_routes_[fd] = {gsi, message, std::move(owned)};
  Result<void> bound = push_routing();
  if (bound.ok()) bound = vm_.irqfd(fd, gsi, kvm::IrqfdAction::kAssign);
  if (!bound.ok()) {
    msi_routes_.erase(fd);  // closes the eventfd
    free_gsis_.push_back(gsi);
    return std::move(bound).error();
  }
  return fd;
}

Result<void> KvmInterrupts::update_msi_irqfd(int eventfd, const MsiMessage& message) {
  std::lock_guard lock(mutex_);
  auto it = msi_routes_.find(eventfd);
  if (it == msi_routes_.end()) return Error(ErrorKind::kNotFound, "unknown MSI irqfd");
  if (it->second.message.address == message.address && it->second.message.data == message.data)
    return ok();
  it->second.message = message;
  return push_routing();
}

Result<void> KvmInterrupts::release_msi_irqfd(int eventfd) {
  std::lock_guard lock(mutex_);
  auto it = msi_routes_.find(eventfd);
  if (it == msi_routes_.end()) return Error(ErrorKind::kNotFound, "unknown MSI irqfd");
  const uint32_t gsi = it->second.gsi;
  (void)vm_.irqfd(eventfd, gsi, kvm::IrqfdAction::kDeassign);
  msi_routes_.erase(it);  // closes the eventfd
  free_gsis_.push_back(gsi);
  return push_routing();
}

Result<void> KvmInterrupts::add_ioeventfd(IoSpace space, uint64_t address, unsigned length,
                                          int eventfd, std::optional<uint64_t> datamatch) {
  return vm_.ioeventfd(ioeventfd_request(space, address, length, eventfd, datamatch, 0));
}

Result<void> KvmInterrupts::remove_ioeventfd(IoSpace space, uint64_t address, unsigned length,
                                             int eventfd, std::optional<uint64_t> datamatch) {
  return vm_.ioeventfd(
      ioeventfd_request(space, address, length, eventfd, datamatch, KVM_IOEVENTFD_FLAG_DEASSIGN));
}

kvm_ioeventfd KvmInterrupts::ioeventfd_request(IoSpace space, uint64_t address, unsigned length,
                                               int eventfd, std::optional<uint64_t> datamatch,
                                               uint32_t flags) {
  kvm_ioeventfd request{};
  request.addr = address;
  request.len = length;
  request.fd = eventfd;
  request.flags = flags;
  if (space == IoSpace::kPio) request.flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (datamatch) {
    request.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    request.datamatch = *datamatch;
  }
  return request;
}

}  // namespace amber::hv::vmm
