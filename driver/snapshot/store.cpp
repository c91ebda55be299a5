// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/snapshot/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <system_error>

#include "driver/vm/store.h"

namespace amber::driver::snapshot {

namespace {

namespace fs = std::filesystem;

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::from_errno(errno, "creating " + path);
  }
  return ok();
}

bool before(const xml::DomainSnapshot& a, const xml::DomainSnapshot& b) {
  const int64_t ta = a.creation_time.value_or(0), tb = b.creation_time.value_or(0);
  if (ta != tb) return ta < tb;
  return a.name < b.name;
}

using Snapshots = std::map<std::string, xml::DomainSnapshot>;

std::vector<const xml::DomainSnapshot*> children_of(const Snapshots& all,
                                                    const std::optional<std::string>& parent) {
  std::vector<const xml::DomainSnapshot*> out;
  for (const auto& [name, s] : all) {
    // A parent that is gone (a damaged file) makes its children roots.
    const bool root = !s.parent || all.count(*s.parent) == 0;
    if (parent ? (s.parent == parent && !root) : root) out.push_back(&s);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return before(*a, *b); });
  return out;
}

}  // namespace

Error snapshot_not_found(const std::string& name) {
  return Error(ErrorKind::kNotFound,
               "Domain snapshot not found: no domain snapshot with matching name '" + name + "'");
}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir) {
  AMBER_TRY(make_dir(dir));
  std::unique_ptr<Store> store(new Store(dir));
  std::error_code ec;
  for (const auto& domain_dir : fs::directory_iterator(dir, ec)) {
    if (!domain_dir.is_directory()) continue;
    const std::string domain = domain_dir.path().filename().string();
    if (domain.empty() || domain.front() == '.') continue;
    std::error_code inner;
    for (const auto& file : fs::directory_iterator(domain_dir.path(), inner)) {
      const std::string name = file.path().filename().string();
      if (name.front() == '.' || file.path().extension() != ".xml") continue;
      auto text = vm::read_file(file.path().string());
      auto parsed = text.ok() ? xml::parse_snapshot(*text, xml::SnapshotParse::kStored)
                              : Result<xml::DomainSnapshot>(text.error());
      if (!parsed.ok() || parsed->name + ".xml" != name) {
        std::fprintf(stderr, "virtamberd: skipping snapshot metadata %s: %s\n", file.path().c_str(),
                     parsed.ok() ? "the file name is not the snapshot's name"
                                 : parsed.error().message().c_str());
        continue;
      }
      store->domains_[domain][parsed->name] = std::move(*parsed);
    }
  }
  if (ec) return Error::from_errno(ec.value(), "listing " + dir);
  return store;
}

std::vector<xml::DomainSnapshot> Store::list(const std::string& domain) const {
  std::lock_guard lock(mutex_);
  std::vector<xml::DomainSnapshot> out;
  auto it = domains_.find(domain);
  if (it == domains_.end()) return out;
  std::function<void(const std::optional<std::string>&)> walk =
      [&](const std::optional<std::string>& parent) {
        for (const xml::DomainSnapshot* s : children_of(it->second, parent)) {
          out.push_back(*s);
          walk(s->name);
        }
      };
  walk(std::nullopt);
  return out;
}

size_t Store::count(const std::string& domain) const {
  std::lock_guard lock(mutex_);
  auto it = domains_.find(domain);
  return it == domains_.end() ? 0 : it->second.size();
}

Result<xml::DomainSnapshot> Store::find(const std::string& domain, const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = domains_.find(domain);
  if (it == domains_.end()) return snapshot_not_found(name);
  auto s = it->second.find(name);
  if (s == it->second.end()) return snapshot_not_found(name);
  return s->second;
}

std::optional<std::string> Store::current(const std::string& domain) const {
  std::lock_guard lock(mutex_);
  auto it = domains_.find(domain);
  if (it == domains_.end()) return std::nullopt;
  for (const auto& [name, s] : it->second) {
    if (s.active.value_or(false)) return name;
  }
  return std::nullopt;
}

std::vector<std::string> Store::children(const std::string& domain, const std::string& name,
                                         bool descendants) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  auto it = domains_.find(domain);
  if (it == domains_.end()) return out;
  std::function<void(const std::string&)> walk = [&](const std::string& parent) {
    for (const xml::DomainSnapshot* s : children_of(it->second, parent)) {
      out.push_back(s->name);
      if (descendants) walk(s->name);
    }
  };
  walk(name);
  return out;
}

Result<void> Store::write_locked(const std::string& domain, const xml::DomainSnapshot& snapshot) {
  const std::string dir = dir_ + "/" + domain;
  AMBER_TRY(make_dir(dir));
  xml::DomainSnapshot stored = snapshot;
  stored.active = snapshot.active.value_or(false);
  return vm::write_file_atomic(dir, snapshot.name + ".xml", xml::format_snapshot(stored));
}

Result<void> Store::add(const std::string& domain, xml::DomainSnapshot snapshot,
                        bool make_current) {
  std::lock_guard lock(mutex_);
  Snapshots& all = domains_[domain];
  if (all.count(snapshot.name) != 0) {
    return Error(ErrorKind::kLocked, "snapshot '" + snapshot.name + "' already exists");
  }
  snapshot.active = make_current;
  AMBER_TRY(write_locked(domain, snapshot));
  if (make_current) {
    for (auto& [name, other] : all) {
      if (other.active.value_or(false)) {
        other.active = false;
        AMBER_TRY(write_locked(domain, other));
      }
    }
  }
  all[snapshot.name] = std::move(snapshot);
  return ok();
}

Result<void> Store::set_current(const std::string& domain, const std::optional<std::string>& name) {
  std::lock_guard lock(mutex_);
  Snapshots& all = domains_[domain];
  if (name && all.count(*name) == 0) return snapshot_not_found(*name);
  for (auto& [n, s] : all) {
    const bool want = name && n == *name;
    if (s.active.value_or(false) != want) {
      s.active = want;
      AMBER_TRY(write_locked(domain, s));
    }
  }
  return ok();
}

Result<void> Store::remove(const std::string& domain, const std::string& name) {
  std::unique_lock lock(mutex_);
  Snapshots& all = domains_[domain];
  auto it = all.find(name);
  if (it == all.end()) return snapshot_not_found(name);
  const std::optional<std::string> parent = it->second.parent;
  const bool was_current = it->second.active.value_or(false);
  for (auto& [n, s] : all) {
    if (s.parent == name) {
      s.parent = parent;
      AMBER_TRY(write_locked(domain, s));
    }
  }
  if (was_current && parent && all.count(*parent) != 0) {
    all[*parent].active = true;
    AMBER_TRY(write_locked(domain, all[*parent]));
  }
  AMBER_TRY(vm::remove_file(dir_ + "/" + domain + "/" + name + ".xml"));
  all.erase(name);
  if (all.empty()) {
    domains_.erase(domain);
    ::rmdir((dir_ + "/" + domain).c_str());  // best effort: empty now
  }
  return ok();
}

Result<void> Store::remove_all(const std::string& domain) {
  std::lock_guard lock(mutex_);
  auto it = domains_.find(domain);
  if (it == domains_.end()) return ok();
  for (const auto& [name, s] : it->second) {
    AMBER_TRY(vm::remove_file(dir_ + "/" + domain + "/" + name + ".xml"));
  }
  domains_.erase(it);
  ::rmdir((dir_ + "/" + domain).c_str());
  return ok();
}

}  // namespace amber::driver::snapshot
