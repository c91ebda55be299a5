// SPDX-License-Identifier: GPL-2.0-or-later
// ManagerImpl: the Manager behind virtamberd. Internal to driver/vm/:
// manager.cpp (open, definitions, lookups, the event worker),
// lifecycle.cpp (start, stop, suspend), events.cpp (what monitors report),
// reattach.cpp (open() over VMs left running) and queries.cpp (XML, stats,
// metadata, console) implement it.
//
// Locking: mutex_ guards the maps and every Entry field except `op`; it is
// never held across a wait on amber-vmm or a file write of another domain.
// Entry::op serialises the lifecycle operations of one domain (start,
// destroy, suspend, ...): taken first, then mutex_ for short updates.
// Events go through one worker thread (in order, no lock held while a sink
// runs); it also frees dead monitors and restarts domains whose
// on_poweroff/on_crash say restart.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "driver/vm/launch.h"
#include "driver/vm/manager.h"
#include "driver/vm/monitor.h"
#include "driver/vm/process.h"
#include "driver/vm/store.h"

namespace amber::driver::vm {

// A VMM that survives SIGKILL this long is reported, not waited for.
inline constexpr std::chrono::milliseconds kKillTimeout{5000};
// The keeper writes the exit marker right after amber-vmm ends.
inline constexpr std::chrono::milliseconds kMarkerTimeout{2000};

// "unsupported flags (0x..) in function CALL" (kInvalidArgument).
Error unsupported_flags(std::string_view call, unsigned flags);
// libvirt's live alias of a disk: virtio-disk + the index of its target
// (vda -> 0), or of its position when the target is unusual.
std::string disk_alias(const xml::Disk& disk, size_t position);

// Fills every disk's live backing chain (<source index>, <backingStore>)
// from the image headers, opened read-only through block/.
void resolve_backing_chains(xml::Domain& domain);

// One running amber-vmm and what was learnt when it started.
struct RunningVm {
  int32_t id = -1;
  Process process;
  std::string control;
  std::string pty;
  xml::Domain live;                // the config it runs, with id and aliases
  std::vector<size_t> disk_index;  // vmm diskN -> live.devices.disks[index]
  std::unique_ptr<Monitor> monitor;
  bool stopping = false;                           // a destroy owns the exit
  std::optional<vmmctl::ShutdownReason> shutdown;  // the SHUTDOWN seen
  bool crashed = false;                            // DEVICE_FAILED seen
};

// What prepare_desktop set up for one start (desktop.cpp): the VNC port it
// picked (-1: none), the tap descriptors amber-vmm inherits first, and the
// tap names and bridges by interface index, for the live XML.
struct DesktopLaunch {
  int64_t vnc_port = -1;
  std::vector<UniqueFd> taps;
  std::vector<std::pair<size_t, std::string>> tap_names;
  std::vector<std::pair<size_t, std::string>> tap_bridges;
};

struct ConsoleHolder {
  uint64_t token = 0;
  std::function<void()> on_revoked;
};

struct Entry {
  std::mutex op;
  // Below: guarded by ManagerImpl::mutex_.
  std::string name;
  xml::Uuid uuid;
  std::optional<xml::Domain> config;  // persistent (next-start) definition
  std::shared_ptr<RunningVm> vm;      // set while running
  int state = 5;                      // VIR_DOMAIN_SHUTOFF
  int reason = 0;
  bool autostart = false;
  std::vector<DiskError> disk_errors;
  std::optional<ConsoleHolder> console;
  bool removed = false;  // erased from the maps (undefined transient)
};

class ManagerImpl final : public Manager {
 public:
  explicit ManagerImpl(const ManagerOptions& options);
  ~ManagerImpl() override;
  Result<void> load();

  Result<DomainRef> define(std::string_view xml, unsigned flags) override;
  Result<void> undefine(const xml::Uuid& uuid, unsigned flags) override;
  Result<DomainRef> lookup_by_uuid(const xml::Uuid& uuid) override;
  Result<DomainRef> lookup_by_name(std::string_view name) override;
  Result<DomainRef> lookup_by_id(int32_t id) override;
  std::vector<DomainSummary> list() override;
  Result<DomainRef> start(const xml::Uuid& uuid, unsigned flags) override;
  Result<DomainRef> create_transient(std::string_view xml, unsigned flags) override;
  Result<void> destroy(const xml::Uuid& uuid, unsigned flags) override;
  Result<void> shutdown(const xml::Uuid& uuid, unsigned flags) override;
  Result<void> reboot(const xml::Uuid& uuid, unsigned flags) override;
  Result<void> reset(const xml::Uuid& uuid) override;
  Result<void> send_key(const xml::Uuid& uuid, unsigned codeset, unsigned holdtime,
                        const std::vector<unsigned>& keycodes, unsigned flags) override;
  Result<Screenshot> screenshot(const xml::Uuid& uuid, unsigned screen, unsigned flags) override;
  Result<UniqueFd> open_graphics_fd(const xml::Uuid& uuid, unsigned index, unsigned flags) override;
  Result<InterfaceStats> interface_stats(const xml::Uuid& uuid, const std::string& device) override;
  Result<std::vector<InterfaceAddresses>> interface_addresses(const xml::Uuid& uuid,
                                                              unsigned source,
                                                              unsigned flags) override;
  Result<void> suspend(const xml::Uuid& uuid) override;
  Result<void> resume(const xml::Uuid& uuid) override;
  Result<std::string> xml_desc(const xml::Uuid& uuid, unsigned flags) override;
  Result<DomainInfo> info(const xml::Uuid& uuid) override;
  Result<std::pair<int, int>> state(const xml::Uuid& uuid) override;
  Result<bool> is_active(const xml::Uuid& uuid) override;
  Result<bool> is_persistent(const xml::Uuid& uuid) override;
  Result<bool> autostart(const xml::Uuid& uuid) override;
  Result<void> set_autostart(const xml::Uuid& uuid, bool on) override;
  Result<std::string> metadata(const xml::Uuid& uuid, int type, const std::string& uri,
                               unsigned flags) override;
  Result<void> set_metadata(const xml::Uuid& uuid, int type,
                            const std::optional<std::string>& value, const std::string& key,
                            const std::string& uri, unsigned flags) override;
  Result<int> vcpus_flags(const xml::Uuid& uuid, unsigned flags) override;
  Result<BlockStats> block_stats(const xml::Uuid& uuid, std::string_view disk) override;
  Result<BlockInfo> block_info(const xml::Uuid& uuid, std::string_view disk) override;
  Result<std::vector<DiskError>> disk_errors(const xml::Uuid& uuid) override;
  Result<UniqueFd> open_console(const xml::Uuid& uuid, bool force,
                                std::function<void()> on_revoked) override;
  void release_console(const xml::Uuid& uuid) override;
  Result<void> update_device(const xml::Uuid& uuid, std::string_view xml, unsigned flags) override;
  Result<void> attach_device(const xml::Uuid& uuid, std::string_view xml, unsigned flags) override;
  std::string emulator() const override { return vmm_binary_; }
  SubscriptionId subscribe(EventSink sink) override;
  void unsubscribe(SubscriptionId id) override;

 private:
  // --- manager.cpp ---
  std::shared_ptr<Entry> find(const xml::Uuid& uuid);  // under mutex_
  Result<std::shared_ptr<Entry>> get(const xml::Uuid& uuid);
  DomainRef ref_of(const Entry& entry) const;  // under mutex_
  // Parses and checks a definition (name, flags).
  Result<xml::Domain> parse_definition(std::string_view xml, unsigned flags);
  // Finds or creates the entry for DOMAIN (name clash refused); under mutex_.
  Result<std::shared_ptr<Entry>> claim(const xml::Domain& domain, bool& created);
  void erase(const std::shared_ptr<Entry>& entry);  // under mutex_
  void publish(DomainEvent event);                  // under mutex_ or not
  void post(std::function<void()> task);
  void worker();

  // --- media.cpp ---
  Result<void> change_media(const xml::Uuid& uuid, std::string_view xml, unsigned flags,
                            bool attach);

  // --- lifecycle.cpp, events.cpp, reattach.cpp ---
  Result<void> start_locked(const std::shared_ptr<Entry>& entry, const xml::Domain& domain,
                            unsigned flags);
  // The action after the process ended: restarts in the worker.
  void restart_later(const std::shared_ptr<Entry>& entry);
  Result<void> destroy_locked(const std::shared_ptr<Entry>& entry, int reason, int event_detail,
                              unsigned flags);
  // Process exit seen by the monitor (no destroy in progress).
  // VM is alive while its monitor thread runs (~RunningVm joins it first),
  // so the handlers get a plain pointer and never own it.
  void on_vm_exit(const std::weak_ptr<Entry>& weak, RunningVm* vm);
  void on_vm_event(const std::weak_ptr<Entry>& weak, RunningVm* vm, const vmmctl::Event& event);
  // Ends the running state after the process ended; under mutex_.
  void finish_stopped(const std::shared_ptr<Entry>& entry, int reason);
  Result<void> start_monitor(const std::shared_ptr<Entry>& entry,
                             const std::shared_ptr<RunningVm>& vm);
  LaunchContext launch_context(const xml::Domain& domain, const std::string& control) const;
  void reattach(const std::string& name);
  Result<std::shared_ptr<RunningVm>> running(const std::shared_ptr<Entry>& entry);
  void save_status(const Entry& entry);  // under mutex_
  // Frees a dead VM's monitor on the worker (never on its own thread).
  void bury(std::shared_ptr<RunningVm> vm);
  void start_autostart();

  // --- desktop.cpp ---
  // Picks the VNC port (autoport) and opens the tap devices; fills
  // CONTEXT's vnc_port and tap_fds.
  Result<DesktopLaunch> prepare_desktop(const xml::Domain& domain, LaunchContext& context);
  void release_vnc_port(int64_t port);
  // After amber-vmm is up: the VNC password, the live XML's port and taps.
  Result<void> finish_desktop(RunningVm& vm, const DesktopLaunch& desktop,
                              const vmmctl::LaunchSettings& settings);
  // launch_context of a re-attached VM: its port and tap count from LIVE.
  LaunchContext reattach_context(const xml::Domain& live, const std::string& control) const;

  // --- queries.cpp ---
  xml::Domain live_view(const Entry& entry) const;  // under mutex_
  // DOMAIN with every type='volume' disk resolved to its file (lifecycle.cpp).
  Result<xml::Domain> resolve_volumes(const xml::Domain& domain) const;
  // Fills secret-fd= of each encrypted disk in PLAN; the memfds returned
  // are what amber-vmm inherits.
  // FIRST_FD: the number amber-vmm gives the first of them.
  Result<std::vector<UniqueFd>> attach_disk_secrets(const xml::Domain& domain, LaunchPlan& plan,
                                                    int first_fd) const;

  ManagerOptions options_;
  Store store_;
  std::string vmm_binary_;

  std::mutex define_mutex_;  // serialises define/undefine and their file writes
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> by_uuid_;  // Uuid::to_string()
  std::map<std::string, std::shared_ptr<Entry>> by_name_;
  int32_t next_id_ = 1;
  uint64_t next_console_token_ = 1;
  std::set<int64_t> vnc_ports_pending_;  // picked by a start still under way

  std::mutex worker_mutex_;
  std::condition_variable worker_cv_;
  std::deque<std::function<void()>> tasks_;
  std::map<SubscriptionId, EventSink> sinks_;  // under worker_mutex_
  SubscriptionId next_subscription_ = 1;
  bool stopping_ = false;
  std::mutex delivery_mutex_;  // held while sinks run; unsubscribe waits on it
  std::thread worker_;
};

}  // namespace amber::driver::vm
