// SPDX-License-Identifier: GPL-2.0-or-later
// E1000: the Intel 82540EM gigabit NIC as QEMU 7.2's -device e1000 shows it
// (8086:100e rev 03, subsystem 1af4:1100, class 020000; BAR0 128 KiB of
// registers, BAR1 64 bytes of I/O (IOADDR/IODATA), the iPXE option ROM,
// INTA), behind any NetBackend.
//
// What the guest gets: the EEPROM (MAC, QEMU's template, checksum 0xBABA)
// by EERD and by microwire bit-banging through EECD; the PHY by MDIC (link
// up at 1000 Mb/s full duplex, autonegotiation complete); ICR (read to
// clear) / ICS / IMS / IMC driving the INTx line; RCTL filtering (our
// MAC and the other RAL/RAH, broadcast, the multicast table or MPE,
// promiscuous); legacy RX descriptors; TX legacy (with IC checksum
// insertion) and context/data descriptors with checksum offload and TSO
// as QEMU does them; the read-to-clear statistics. ITR and the other
// interrupt moderation timers are stored and ignored (interrupts are
// immediate); VLAN tag insertion and stripping are not modelled.
//
// The guest is hostile: rings outside RAM, RDLEN 0, head/tail beyond the
// ring, huge lengths, TX chains that never end (bounded at 64 KiB as QEMU)
// cost at most one pass over the ring and are counted in NicStats.
// Frames from the host that find the ring full are held (kMaxHeldFrames)
// and delivered when the guest returns buffers; beyond that they are
// dropped and counted.
//
// Split by concern: e1000.cpp (PCI, registers, EEPROM, PHY, interrupts),
// e1000_rx.cpp (filter, held frames, RX ring), e1000_tx.cpp (TX ring,
// offloads).
//
// Thread-safety: one mutex guards the device; BAR accesses come from vCPU
// threads, receive_frame()/can_receive() from the backend's thread, stats()
// from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "hv/memory/guest_memory.h"
#include "hv/net/backend.h"
#include "hv/net/e1000_regs.h"
#include "hv/net/nic_stats.h"
#include "hv/pci/interrupts.h"
#include "hv/pci/pci_config.h"

namespace amber::hv::net {

// Frames held back while the guest's RX ring is full: a burst's worth
// (slirp answers a TCP window at once); beyond it frames are dropped.
inline constexpr size_t kMaxHeldFrames = 64;

struct E1000Config {
  std::array<uint8_t, 6> mac{};
  std::vector<uint8_t> rom;  // the option ROM; empty: no ROM BAR
  unsigned pci_slot = 0;     // device number on bus 0 (INTx routing)
};

class E1000 final : public pci::PciConfigSpace, public FrameSink {
 public:
  // `backend` may be null (no host side: frames the guest sends are
  // counted and dropped).
  E1000(const E1000Config& config, const GuestMemory& memory, InterruptController& interrupts,
        std::unique_ptr<NetBackend> backend);
  ~E1000() override;  // stops the backend first
  E1000(const E1000&) = delete;
  E1000& operator=(const E1000&) = delete;

  // Starts the backend's thread (after the device is attached).
  Result<void> start();

  // PciDevice
  void bar_read(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;

  // FrameSink
  void receive_frame(std::span<const uint8_t> frame) override;
  bool can_receive() override;

  const NicStats& stats() const { return stats_; }
  const std::array<uint8_t, 6>& mac() const { return mac_; }
  // The EEPROM image (tests).
  const std::array<uint16_t, e1000::kEepromWords>& eeprom() const { return eeprom_; }
  // A 32-bit register access at a BAR0 offset, as the guest makes it.
  uint32_t read_register(uint32_t offset);
  void write_register(uint32_t offset, uint32_t value);

 protected:
  void command_written(uint16_t old, uint16_t now) override;

 private:
  // The context of a TX context descriptor (checksum and TSO fields).
  struct TxContext {
    uint8_t ipcss = 0, ipcso = 0;
    uint16_t ipcse = 0;
    uint8_t tucss = 0, tucso = 0;
    uint16_t tucse = 0;
    uint32_t paylen = 0;
    uint8_t hdr_len = 0;
    uint16_t mss = 0;
    bool ipv4 = false, tcp = false;
  };
  // The packet being gathered from TX descriptors.
  struct TxPacket {
    std::vector<uint8_t> data;  // kMaxFrameSize bytes; `size` of them used
    size_t size = 0;
    std::array<uint8_t, 256> header{};  // TSO: the headers each segment repeats
    uint8_t popts = 0;                  // IXSM / TXSM of the first data descriptor
    bool tso = false;
    unsigned tso_frames = 0;
    bool truncated = false;  // the guest gave more than kMaxFrameSize (sent cut, as QEMU)
    bool faulted = false;    // a buffer was not guest RAM (not sent)
  };

  // --- e1000.cpp ---
  void reset_registers();  // lock held
  uint32_t& reg(uint32_t offset) { return regs_[offset / 4]; }
  uint32_t read_locked(uint32_t offset);
  void write_locked(uint32_t offset, uint32_t value);
  uint32_t read_eecd() const;
  void write_eecd(uint32_t value);
  uint32_t read_eerd();
  void write_mdic(uint32_t value);
  void set_causes(uint32_t icr);  // ICR := icr, then the INTx level
  void raise(uint32_t causes) { set_causes(reg(e1000::kIcr) | causes); }
  bool bus_master() const { return bus_master_; }
  void drive_line();  // INTx = pending causes, unless COMMAND disables INTx
  void count(uint32_t offset, uint32_t by = 1);    // saturating statistic
  void count64(uint32_t low_offset, uint64_t by);  // a low/high pair

  // --- e1000_rx.cpp ---
  bool rx_ready() const;
  bool accepts(std::span<const uint8_t> frame) const;
  uint32_t rx_buffer_size() const;
  uint32_t rx_free_descriptors() const;
  bool fits(size_t total) const;
  // Lands one frame in the ring (fits() was checked); false when a
  // descriptor or buffer was not guest RAM.
  void write_frame(std::span<const uint8_t> frame);
  void deliver(std::span<const uint8_t> frame);  // filter, hold or write
  void drain_held();

  // --- e1000_tx.cpp ---
  void start_transmit();
  void process_tx_descriptor(const uint8_t (&desc)[e1000::kDescriptorSize]);
  void read_tx_data(uint64_t address, size_t length);
  void transmit_segment(bool legacy_checksum, uint8_t legacy_css, uint8_t legacy_cso);
  void put_checksum(size_t at, size_t start, size_t end);
  void send_frame(std::span<const uint8_t> frame);

  const GuestMemory& memory_;
  InterruptController& interrupts_;
  const unsigned slot_;
  const std::array<uint8_t, 6> mac_;
  const std::vector<uint8_t> rom_;
  std::unique_ptr<NetBackend> backend_;
  NicStats stats_;

  std::mutex mutex_;
  std::vector<uint32_t> regs_;  // BAR0, one dword per register
  std::array<uint16_t, e1000::kPhyRegisters> phy_{};
  std::array<uint16_t, e1000::kEepromWords> eeprom_{};
  struct Microwire {
    uint32_t last = 0;  // SK | CS | DI | FWE | REQ as last written
    uint32_t shifted_in = 0;
    unsigned bits_in = 0;
    unsigned bit_out = 0;
    bool reading = false;
  } microwire_;
  uint32_t io_address_ = 0;   // BAR1 IOADDR
  bool irq_level_ = false;    // ICR & IMS != 0
  bool line_driven_ = false;  // what set_intx() was last told
  // COMMAND's bus master and INTx disable bits, as command_written() saw
  // them (kept here so BAR accesses need not read config space).
  bool bus_master_ = false;
  bool intx_disabled_ = false;
  TxContext tx_context_, tso_context_;
  TxPacket tx_;
  bool transmitting_ = false;  // re-entry guard (PHY loopback)
  std::deque<std::vector<uint8_t>> held_;
};

}  // namespace amber::hv::net
