// SPDX-License-Identifier: GPL-2.0-or-later
// Manager::open, definitions, lookups, lists and the event worker.
#include "driver/vm/manager.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <cstdio>

#include "driver/vm/manager_impl.h"
#include "driver/vm/names.h"
#include "driver/vm/pci_addresses.h"

namespace amber::driver::vm {
namespace {

Error no_domain_uuid(const xml::Uuid& uuid) {
  return Error(ErrorKind::kNotFound,
               "Domain not found: no domain with matching uuid '" + uuid.to_string() + "'");
}

constexpr unsigned kUndefineFlags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                    VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                                    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                                    VIR_DOMAIN_UNDEFINE_TPM | VIR_DOMAIN_UNDEFINE_KEEP_TPM;

}  // namespace

Error unsupported_flags(std::string_view call, unsigned flags) {
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%x", flags);
  return Error(ErrorKind::kInvalidArgument,
               "unsupported flags (" + std::string(hex) + ") in function " + std::string(call));
}

Result<std::unique_ptr<Manager>> Manager::open(const ManagerOptions& options) {
  auto manager = std::make_unique<ManagerImpl>(options);
  AMBER_TRY(manager->load());
  return std::unique_ptr<Manager>(std::move(manager));
}

ManagerImpl::ManagerImpl(const ManagerOptions& options)
    : options_(options), store_(options.config_dir, options.run_dir, options.log_dir) {
  worker_ = std::thread([this] { worker(); });
}

ManagerImpl::~ManagerImpl() {
  // Running VMs keep running: a later open() re-attaches to them. No new
  // work (restarts) from here on; the monitors stop, then the worker.
  {
    std::lock_guard lock(worker_mutex_);
    stopping_ = true;
  }
  std::vector<std::shared_ptr<RunningVm>> vms;
  {
    std::lock_guard lock(mutex_);
    for (auto& [uuid, entry] : by_uuid_) {
      if (entry->vm) vms.push_back(entry->vm);
      entry->vm.reset();
    }
    by_uuid_.clear();
    by_name_.clear();
  }
  for (auto& vm : vms) vm->monitor.reset();
  vms.clear();
  worker_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Tasks posted after the worker left (dead VMs to free, events): freed
  // here, while every member they may touch still exists; freeing a VM
  // joins its monitor, which may post once more.
  while (true) {
    std::deque<std::function<void()>> left;
    {
      std::lock_guard lock(worker_mutex_);
      left.swap(tasks_);
    }
    if (left.empty()) break;
  }
}

Result<void> ManagerImpl::load() {
  AMBER_TRY(store_.create_directories());
  auto binary = find_vmm_binary(options_.vmm_binary);
  if (binary.ok()) {
    vmm_binary_ = *binary;
  } else {
    std::fprintf(stderr, "virtamberd: %s\n", binary.error().message().c_str());
  }
  AMBER_TRY_ASSIGN(auto files, store_.list_configs());
  for (const std::string& file : files) {
    const std::string path = options_.config_dir + "/" + file;
    auto skip = [&](const std::string& why) {
      std::fprintf(stderr, "virtamberd: skipping %s: %s\n", path.c_str(), why.c_str());
    };
    auto text = read_file(path);
    if (!text.ok()) {
      skip(text.error().message());
      continue;
    }
    auto domain = xml::parse_domain(*text);
    if (!domain.ok()) {
      skip(domain.error().message());
      continue;
    }
    // A definition stored before define assigned PCI addresses keeps the
    // slots amber-vmm gave its devices then; the same every time (a pure
    // function of the XML).
    keep_earlier_amber_vmm_slots(*domain);
    if (auto assigned = assign_pci_addresses(*domain); !assigned.ok()) {
      skip(assigned.error().message());
      continue;
    }
    domain->id.reset();
    const std::string name = file.substr(0, file.size() - 4);
    if (domain->name != name) {
      skip("it defines domain '" + domain->name + "'");
      continue;
    }
    if (auto valid = check_domain_name(name); !valid.ok()) {
      skip(valid.error().message());
      continue;
    }
    std::lock_guard lock(mutex_);
    if (find(domain->uuid)) {
      skip("uuid " + domain->uuid.to_string() + " is defined twice");
      continue;
    }
    auto entry = std::make_shared<Entry>();
    entry->name = name;
    entry->uuid = domain->uuid;
    entry->config = std::move(domain).value();
    entry->autostart = store_.autostart(name);
    by_uuid_[entry->uuid.to_string()] = entry;
    by_name_[name] = entry;
  }
  AMBER_TRY_ASSIGN(auto live, store_.list_status());
  for (const std::string& name : live) reattach(name);
  if (options_.start_autostart) start_autostart();
  return ok();
}

// --- helpers ---

std::shared_ptr<Entry> ManagerImpl::find(const xml::Uuid& uuid) {
  auto it = by_uuid_.find(uuid.to_string());
  return it == by_uuid_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Entry>> ManagerImpl::get(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  auto entry = find(uuid);
  if (!entry) return no_domain_uuid(uuid);
  return entry;
}

DomainRef ManagerImpl::ref_of(const Entry& entry) const {
  return DomainRef{entry.name, entry.uuid, entry.vm ? entry.vm->id : -1};
}

void ManagerImpl::erase(const std::shared_ptr<Entry>& entry) {
  entry->removed = true;
  by_uuid_.erase(entry->uuid.to_string());
  auto it = by_name_.find(entry->name);
  if (it != by_name_.end() && it->second == entry) by_name_.erase(it);
}

Result<xml::Domain> ManagerImpl::parse_definition(std::string_view text, unsigned flags) {
  if ((flags & ~unsigned(VIR_DOMAIN_DEFINE_VALIDATE)) != 0)
    return unsupported_flags("define", flags);
  if (flags & VIR_DOMAIN_DEFINE_VALIDATE) AMBER_TRY(xml::validate_domain(text));
  AMBER_TRY_ASSIGN(xml::Domain domain, xml::parse_domain(text));
  AMBER_TRY(check_domain_name(domain.name));
  AMBER_TRY(assign_pci_addresses(domain));
  domain.id.reset();
  return domain;
}

Result<std::shared_ptr<Entry>> ManagerImpl::claim(const xml::Domain& domain, bool& created) {
  created = false;
  auto by_uuid = find(domain.uuid);
  if (by_uuid && by_uuid->name != domain.name)
    return Error(
        ErrorKind::kLocked,
        "domain '" + by_uuid->name + "' is already defined with uuid " + domain.uuid.to_string());
  auto it = by_name_.find(domain.name);
  if (it != by_name_.end() && !(it->second->uuid == domain.uuid))
    return Error(ErrorKind::kLocked, "domain '" + domain.name + "' already exists with uuid " +
                                         it->second->uuid.to_string());
  if (by_uuid) return by_uuid;
  auto entry = std::make_shared<Entry>();
  entry->name = domain.name;
  entry->uuid = domain.uuid;
  created = true;
  return entry;
}

// --- definitions ---

Result<DomainRef> ManagerImpl::define(std::string_view text, unsigned flags) {
  AMBER_TRY_ASSIGN(xml::Domain domain, parse_definition(text, flags));
  std::lock_guard define_lock(define_mutex_);
  bool created = false;
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(auto entry, claim(domain, created));
    created = created || !entry->config;
  }
  AMBER_TRY(store_.save_config(
      domain.name,
      xml::format_domain(domain, xml::FormatFlags::kInactive | xml::FormatFlags::kSecure)));
  std::lock_guard lock(mutex_);
  bool fresh = false;
  AMBER_TRY_ASSIGN(auto entry, claim(domain, fresh));
  if (fresh) {
    by_uuid_[entry->uuid.to_string()] = entry;
    by_name_[entry->name] = entry;
  }
  entry->config = std::move(domain);
  const DomainRef ref = ref_of(*entry);
  publish(
      LifecycleEvent{ref, VIR_DOMAIN_EVENT_DEFINED,
                     created ? VIR_DOMAIN_EVENT_DEFINED_ADDED : VIR_DOMAIN_EVENT_DEFINED_UPDATED});
  return ref;
}

Result<void> ManagerImpl::undefine(const xml::Uuid& uuid, unsigned flags) {
  if ((flags & ~kUndefineFlags) != 0) return unsupported_flags("undefine", flags);
  std::lock_guard define_lock(define_mutex_);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::string name;
  {
    std::lock_guard lock(mutex_);
    if (!entry->config) return Error(ErrorKind::kLocked, "cannot undefine transient domain");
    name = entry->name;
  }
  AMBER_TRY(store_.remove_config(name));
  std::lock_guard lock(mutex_);
  entry->config.reset();
  entry->autostart = false;
  const DomainRef ref = ref_of(*entry);
  if (!entry->vm) erase(entry);
  publish(LifecycleEvent{ref, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED});
  return ok();
}

// --- lookups ---

Result<DomainRef> ManagerImpl::lookup_by_uuid(const xml::Uuid& uuid) {
  std::lock_guard lock(mutex_);
  auto entry = find(uuid);
  if (!entry) return no_domain_uuid(uuid);
  return ref_of(*entry);
}

Result<DomainRef> ManagerImpl::lookup_by_name(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end())
    return Error(ErrorKind::kNotFound,
                 "Domain not found: no domain with matching name '" + std::string(name) + "'");
  return ref_of(*it->second);
}

Result<DomainRef> ManagerImpl::lookup_by_id(int32_t id) {
  std::lock_guard lock(mutex_);
  for (const auto& [uuid, entry] : by_uuid_) {
    if (entry->vm && entry->vm->id == id) return ref_of(*entry);
  }
  return Error(ErrorKind::kNotFound,
               "Domain not found: no domain with matching id " + std::to_string(id));
}

std::vector<DomainSummary> ManagerImpl::list() {
  std::lock_guard lock(mutex_);
  std::vector<DomainSummary> out;
  for (const auto& [name, entry] : by_name_) {
    DomainSummary row;
    row.ref = ref_of(*entry);
    row.state = entry->state;
    row.reason = entry->reason;
    row.persistent = entry->config.has_value();
    row.autostart = entry->autostart;
    out.push_back(std::move(row));
  }
  return out;  // by_name_ is sorted by name
}

Result<bool> ManagerImpl::is_active(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  return entry->vm != nullptr;
}

Result<bool> ManagerImpl::is_persistent(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  return entry->config.has_value();
}

Result<bool> ManagerImpl::autostart(const xml::Uuid& uuid) {
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::lock_guard lock(mutex_);
  return entry->autostart;
}

Result<void> ManagerImpl::set_autostart(const xml::Uuid& uuid, bool on) {
  std::lock_guard define_lock(define_mutex_);
  AMBER_TRY_ASSIGN(auto entry, get(uuid));
  std::string name;
  {
    std::lock_guard lock(mutex_);
    if (!entry->config)
      return Error(ErrorKind::kLocked, "cannot set autostart for transient domain");
    name = entry->name;
  }
  AMBER_TRY(store_.set_autostart(name, on));
  std::lock_guard lock(mutex_);
  entry->autostart = on;
  return ok();
}

// --- events and the worker ---

SubscriptionId ManagerImpl::subscribe(EventSink sink) {
  std::lock_guard lock(worker_mutex_);
  const SubscriptionId id = next_subscription_++;
  sinks_[id] = std::move(sink);
  return id;
}

void ManagerImpl::unsubscribe(SubscriptionId id) {
  {
    std::lock_guard lock(worker_mutex_);
    sinks_.erase(id);
  }
  // A delivery in flight may still hold the sink: wait for it, unless this
  // is that delivery (a sink unsubscribing itself).
  if (std::this_thread::get_id() != worker_.get_id()) std::lock_guard wait(delivery_mutex_);
}

void ManagerImpl::post(std::function<void()> task) {
  {
    std::lock_guard lock(worker_mutex_);
    tasks_.push_back(std::move(task));
  }
  worker_cv_.notify_one();
}

void ManagerImpl::publish(DomainEvent event) {
  post([this, event = std::move(event)] {
    std::vector<EventSink> sinks;
    {
      std::lock_guard lock(worker_mutex_);
      for (const auto& [id, sink] : sinks_) sinks.push_back(sink);
    }
    std::lock_guard delivering(delivery_mutex_);
    for (const EventSink& sink : sinks) sink(event);
  });
}

void ManagerImpl::worker() {
  std::unique_lock lock(worker_mutex_);
  while (true) {
    worker_cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty() && stopping_) return;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace amber::driver::vm
