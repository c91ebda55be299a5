// SPDX-License-Identifier: GPL-2.0-or-later
// The domain manager: every domain the daemon knows (persistent and
// transient, running or not) and the one amber-vmm process of each running
// one. This is the seam between driver/dispatch (RPC handlers, which only
// decode, call one method and encode) and driver/vm (launch translation,
// processes, monitors, persistence). Codes (states, reasons, event types
// and details, flags) are libvirt's public values from <libvirt/libvirt.h>,
// so dispatch passes them through unchanged.
//
// Domains are addressed by UUID: clients send stale ids and names, and the
// UUID is the one key that survives a rename-free redefine and a restart.
// Every method returns kNotFound "Domain not found: no domain with matching
// uuid 'UUID'" (VIR_ERR_NO_DOMAIN) for an unknown UUID, kInvalidArgument,
// kCorrupt (XML) or kUnsupported (config) for a bad request, and kLocked
// (VIR_ERR_OPERATION_INVALID) for a domain in the wrong state or a busy
// console, with libvirt's wording where it has one ("domain is not
// running", "domain is already running").
//
// Thread-safety: every method may be called from any thread at once; the
// manager serialises per domain (two clients starting one domain start it
// once) and never holds a lock while it waits on another domain.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "block/crypto/cipher.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "xml/domain/domain.h"

namespace amber::driver::vm {

// Where the manager keeps things; all overridable so tests run
// unprivileged in a temporary directory.
struct ManagerOptions {
  std::string config_dir = "/etc/libvirt/amber";   // persistent XML, autostart links
  std::string run_dir = "/run/libvirt/amber";      // live status XML, pid files, control sockets
  std::string log_dir = "/var/log/libvirt/amber";  // NAME.log per domain
  std::string vmm_binary;                          // amber-vmm; empty: found beside the daemon
  bool start_autostart = true;                     // start autostart domains in open()
  // <disk type='volume'>: the path and format ("raw", "qcow2") of VOLUME
  // in the active pool POOL (the daemon's storage::PoolManager); unset:
  // such disks are refused at start.
  std::function<Result<std::pair<std::string, std::string>>(const std::string& pool,
                                                            const std::string& volume)>
      resolve_volume;
  // The passphrase of an encrypted disk: the value of the libvirt secret
  // its <encryption><secret> names (by uuid or by usage), of usage type
  // volume. Unset: encrypted disks are refused at start.
  std::function<Result<block::crypto::SecretBytes>(const xml::DiskEncryption& encryption)>
      disk_secret;
};

// What identifies a domain on the wire (remote_nonnull_domain).
struct DomainRef {
  std::string name;
  xml::Uuid uuid;
  int32_t id = -1;  // -1 when not running
  bool operator==(const DomainRef&) const = default;
};

// One row of list-all: enough for every VIR_CONNECT_LIST_DOMAINS_* filter.
struct DomainSummary {
  DomainRef ref;
  int state = 0;  // virDomainState
  int reason = 0;
  bool persistent = false;
  bool autostart = false;
  bool has_managed_save = false;  // always false today
  size_t snapshot_count = 0;      // filled by the dispatcher from snapshot::Store
};

struct DomainInfo {  // virDomainInfo
  int state = 0;
  uint64_t max_mem_kib = 0;
  uint64_t memory_kib = 0;
  uint32_t vcpus = 0;
  uint64_t cpu_time_ns = 0;
};

struct BlockStats {  // virDomainBlockStatsStruct plus the flags-variant fields
  int64_t rd_req = 0, rd_bytes = 0, wr_req = 0, wr_bytes = 0, errs = 0;
  int64_t flush_req = 0, rd_total_times = 0, wr_total_times = 0, flush_total_times = 0;
};

struct InterfaceStats {  // virDomainInterfaceStatsStruct
  int64_t rx_bytes = 0, rx_packets = 0, rx_errs = 0, rx_drop = 0;
  int64_t tx_bytes = 0, tx_packets = 0, tx_errs = 0, tx_drop = 0;
};

struct InterfaceAddress {  // virDomainIPAddress
  int type = 0;            // VIR_IP_ADDR_TYPE_IPV4 / _IPV6
  std::string address;
  unsigned prefix = 0;
};

struct InterfaceAddresses {  // virDomainInterface
  std::string name;          // the tap (or the alias of a user NIC)
  std::optional<std::string> hwaddr;
  std::vector<InterfaceAddress> addresses;
};

struct Screenshot {  // virDomainScreenshot: the stream's bytes and their type
  std::string mime;
  std::vector<uint8_t> data;
};

struct BlockInfo {  // virDomainBlockInfo
  uint64_t capacity = 0, allocation = 0, physical = 0;
};

// One disk's last I/O error, for virsh domblkerror (virDomainDiskError).
struct DiskError {
  std::string disk;  // target dev, "vda"
  int error = 0;     // virDomainDiskErrorCode
};

// Events the manager publishes; dispatch turns them into the REMOTE event
// messages (callback and legacy forms).
struct LifecycleEvent {  // VIR_DOMAIN_EVENT_ID_LIFECYCLE
  DomainRef domain;
  int event = 0;   // virDomainEventType
  int detail = 0;  // the matching virDomainEvent*DetailType
};
struct RebootEvent {  // VIR_DOMAIN_EVENT_ID_REBOOT
  DomainRef domain;
};
struct IoErrorEvent {  // VIR_DOMAIN_EVENT_ID_IO_ERROR and _IO_ERROR_REASON
  DomainRef domain;
  std::string src_path;
  std::string dev_alias;  // "virtio-disk0"
  int action = 0;         // virDomainEventIOErrorAction
  std::string reason;     // "enospc" or ""
};
using DomainEvent = std::variant<LifecycleEvent, RebootEvent, IoErrorEvent>;

using EventSink = std::function<void(const DomainEvent&)>;
using SubscriptionId = uint64_t;

class Manager {
 public:
  // Loads persistent domains from config_dir, re-attaches to amber-vmm
  // processes left running in run_dir (same ids), reports the ones that
  // died as shut off (reason crashed or shutdown, whichever is true), and
  // starts autostart domains.
  static Result<std::unique_ptr<Manager>> open(const ManagerOptions& options);
  virtual ~Manager() = default;

  // --- definitions ---
  // VIR_DOMAIN_DEFINE_VALIDATE validates against libvirt's RelaxNG schema.
  // A redefinition of a running domain replaces the next-start config.
  // Names unsafe as file names are refused.
  virtual Result<DomainRef> define(std::string_view xml, unsigned flags) = 0;
  // VIR_DOMAIN_UNDEFINE_* flags; removes Amber's per-domain state. A
  // running domain becomes transient.
  virtual Result<void> undefine(const xml::Uuid& uuid, unsigned flags) = 0;

  // --- lookups and lists ---
  virtual Result<DomainRef> lookup_by_uuid(const xml::Uuid& uuid) = 0;
  virtual Result<DomainRef> lookup_by_name(std::string_view name) = 0;
  virtual Result<DomainRef> lookup_by_id(int32_t id) = 0;
  // Every domain, sorted by name; dispatch applies the list flags.
  virtual std::vector<DomainSummary> list() = 0;

  // --- lifecycle ---
  // VIR_DOMAIN_START_PAUSED; VIR_DOMAIN_NONE otherwise.
  virtual Result<DomainRef> start(const xml::Uuid& uuid, unsigned flags) = 0;
  // Transient: defines and starts in one step (VIR_DOMAIN_START_* flags).
  virtual Result<DomainRef> create_transient(std::string_view xml, unsigned flags) = 0;
  // VIR_DOMAIN_DESTROY_GRACEFUL asks the VMM to quit before killing it.
  virtual Result<void> destroy(const xml::Uuid& uuid, unsigned flags) = 0;
  // Presses the ACPI power button (flags 0 / ACPI_POWER_BTN, or with
  // GUEST_AGENT); returns when pressed, the guest's S5 stops the domain.
  // Agent-only is kUnsupported (no agent); never faked with a destroy.
  virtual Result<void> shutdown(const xml::Uuid& uuid, unsigned flags) = 0;
  virtual Result<void> reboot(const xml::Uuid& uuid, unsigned flags) = 0;
  virtual Result<void> reset(const xml::Uuid& uuid) = 0;
  virtual Result<void> suspend(const xml::Uuid& uuid) = 0;
  virtual Result<void> resume(const xml::Uuid& uuid) = 0;

  // --- queries ---
  // VIR_DOMAIN_XML_INACTIVE / _SECURE / _MIGRATABLE; live XML for a
  // running domain otherwise (id, pty path, aliases, the real backing chain).
  virtual Result<std::string> xml_desc(const xml::Uuid& uuid, unsigned flags) = 0;
  virtual Result<DomainInfo> info(const xml::Uuid& uuid) = 0;
  // virDomainState and its reason.
  virtual Result<std::pair<int, int>> state(const xml::Uuid& uuid) = 0;
  virtual Result<bool> is_active(const xml::Uuid& uuid) = 0;
  virtual Result<bool> is_persistent(const xml::Uuid& uuid) = 0;
  virtual Result<bool> autostart(const xml::Uuid& uuid) = 0;
  virtual Result<void> set_autostart(const xml::Uuid& uuid, bool on) = 0;
  // type is virDomainMetadataType; uri/key only for ELEMENT. flags are
  // VIR_DOMAIN_AFFECT_*. An absent value gives kNotFound
  // (VIR_ERR_NO_DOMAIN_METADATA).
  virtual Result<std::string> metadata(const xml::Uuid& uuid, int type, const std::string& uri,
                                       unsigned flags) = 0;
  virtual Result<void> set_metadata(const xml::Uuid& uuid, int type,
                                    const std::optional<std::string>& value, const std::string& key,
                                    const std::string& uri, unsigned flags) = 0;
  // VIR_DOMAIN_VCPU_* flags.
  virtual Result<int> vcpus_flags(const xml::Uuid& uuid, unsigned flags) = 0;
  // DISK is a target dev ("vda") or a source path.
  virtual Result<BlockStats> block_stats(const xml::Uuid& uuid, std::string_view disk) = 0;
  virtual Result<BlockInfo> block_info(const xml::Uuid& uuid, std::string_view disk) = 0;
  virtual Result<std::vector<DiskError>> disk_errors(const xml::Uuid& uuid) = 0;

  // --- devices ---
  // virDomainUpdateDeviceFlags / virDomainAttachDeviceFlags: only a new
  // medium (or none) for an existing IDE CD-ROM (flags VIR_DOMAIN_AFFECT_*,
  // VIR_DOMAIN_DEVICE_MODIFY_FORCE); attach changes a running domain's
  // medium only. Everything else is kUnsupported.
  virtual Result<void> update_device(const xml::Uuid& uuid, std::string_view xml, unsigned flags) {
    (void)uuid, (void)xml, (void)flags;
    return Error(ErrorKind::kUnsupported,
                 "amber-vmm cannot attach or update devices of a domain yet");
  }
  virtual Result<void> attach_device(const xml::Uuid& uuid, std::string_view xml, unsigned flags) {
    return update_device(uuid, xml, flags);
  }

  // --- console ---
  // A new fd on the serial pty of a running domain. Only one holder at a
  // time: without FORCE a second open gets kLocked ("operation failed:
  // Active console session exists for this domain"); with FORCE the old
  // holder's fd is revoked (its stream ends) and the new one gets it.
  // `on_revoked` is called (once, from any thread) when a later forced open
  // takes the console away.
  virtual Result<UniqueFd> open_console(const xml::Uuid& uuid, bool force,
                                        std::function<void()> on_revoked) = 0;
  // The holder closed its console fd (its stream ended): the next open
  // without FORCE succeeds. A no-op when nobody holds it.
  virtual void release_console(const xml::Uuid& uuid) { (void)uuid; }

  // virDomainSendKey: KEYCODES (1..16) of CODESET (VIR_KEYCODE_SET_*,
  // driver/vm/keycodes.h) pressed in order, held HOLDTIME ms (0: 100, as
  // libvirt's QEMU driver leaves it to QEMU), released in reverse; returns
  // once amber-vmm queued them. kUnsupported naming a codeset it does not
  // translate; kInvalidArgument for a code with no key.
  virtual Result<void> send_key(const xml::Uuid& uuid, unsigned codeset, unsigned holdtime,
                                const std::vector<unsigned>& keycodes, unsigned flags) {
    (void)uuid, (void)codeset, (void)holdtime, (void)keycodes, (void)flags;
    return Error(ErrorKind::kUnsupported, "send-key is not supported by this manager");
  }

  // --- desktop ---
  // virDomainScreenshot: the display of a running domain as a PPM.
  virtual Result<Screenshot> screenshot(const xml::Uuid& uuid, unsigned screen, unsigned flags) {
    (void)uuid, (void)screen, (void)flags;
    return Error(ErrorKind::kUnsupported, "screenshots are not supported by this manager");
  }
  // virDomainOpenGraphicsFD: a socket connected to graphics INDEX's VNC
  // server (the client then speaks RFB on it, password auth included).
  virtual Result<UniqueFd> open_graphics_fd(const xml::Uuid& uuid, unsigned index, unsigned flags) {
    (void)uuid, (void)index, (void)flags;
    return Error(ErrorKind::kUnsupported, "graphics are not supported by this manager");
  }
  // virDomainInterfaceStats of DEVICE (its tap name, MAC or alias).
  virtual Result<InterfaceStats> interface_stats(const xml::Uuid& uuid, const std::string& device) {
    (void)uuid, (void)device;
    return Error(ErrorKind::kUnsupported, "interface stats are not supported by this manager");
  }

  // virDomainInterfaceAddresses from SOURCE (VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_*).
  virtual Result<std::vector<InterfaceAddresses>> interface_addresses(const xml::Uuid& uuid,
                                                                      unsigned source,
                                                                      unsigned flags) {
    (void)uuid, (void)source, (void)flags;
    return std::vector<InterfaceAddresses>{};  // a manager without NICs knows no addresses
  }

  // --- host ---
  // The amber-vmm this manager runs (what capabilities should report as
  // <emulator>: a domain naming another emulator is refused at start).
  // Empty when none was found.
  virtual std::string emulator() const { return ""; }

  // --- events ---
  // SINK is called from the manager's threads, never with a manager lock
  // held, in the order events happen for one domain.
  virtual SubscriptionId subscribe(EventSink sink) = 0;
  virtual void unsubscribe(SubscriptionId id) = 0;
};

}  // namespace amber::driver::vm
