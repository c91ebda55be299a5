// SPDX-License-Identifier: GPL-2.0-or-later
// An in-memory vm::Manager for the server's unit tests: it records event
// subscriptions and lets the test emit events, and hands out one end of a
// socketpair as the "pty" of a console (the test holds the other end).
// Everything else answers kUnsupported.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/socket.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "driver/vm/manager.h"

namespace amber::driver::testing {

class FakeManager : public vm::Manager {
 public:
  // --- what the tests drive ---
  void emit(const vm::DomainEvent& event) {
    std::vector<vm::EventSink> sinks;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, sink] : sinks_) sinks.push_back(sink);
    }
    for (auto& sink : sinks) sink(event);
  }
  size_t subscriber_count() {
    std::lock_guard lock(mutex_);
    return sinks_.size();
  }
  // The test's end of the last console handed out.
  UniqueFd take_console_peer() {
    std::lock_guard lock(mutex_);
    return std::move(console_peer_);
  }
  // Revokes the current console holder, as a forced open would.
  void revoke_console() {
    std::function<void()> revoked;
    {
      std::lock_guard lock(mutex_);
      revoked = std::move(on_revoked_);
    }
    if (revoked) revoked();
  }
  // While blocked, open_console waits (to hold a normal worker busy).
  void block_console(bool blocked) {
    {
      std::lock_guard lock(mutex_);
      console_blocked_ = blocked;
    }
    changed_.notify_all();
  }
  bool console_waiting() {
    std::lock_guard lock(mutex_);
    return console_waiters_ > 0;
  }

  int release_count() {
    std::lock_guard lock(mutex_);
    return releases_;
  }

  // --- vm::Manager ---
  void release_console(const xml::Uuid&) override {
    std::lock_guard lock(mutex_);
    ++releases_;
    on_revoked_ = nullptr;
  }
  Result<UniqueFd> open_console(const xml::Uuid& uuid, bool force,
                                std::function<void()> on_revoked) override {
    std::unique_lock lock(mutex_);
    ++console_waiters_;
    changed_.wait(lock, [this] { return !console_blocked_; });
    --console_waiters_;
    if (uuid.bytes[0] == 0xee) {
      return Error(ErrorKind::kLocked, "domain is not running");
    }
    if (on_revoked_ && !force) {
      return Error(ErrorKind::kLocked,
                   "operation failed: Active console session exists for this domain");
    }
    std::function<void()> previous = std::move(on_revoked_);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return Error::from_errno(errno, "socketpair");
    }
    console_peer_ = UniqueFd(pair[1]);
    on_revoked_ = std::move(on_revoked);
    lock.unlock();
    if (previous) previous();
    return UniqueFd(pair[0]);
  }
  vm::SubscriptionId subscribe(vm::EventSink sink) override {
    std::lock_guard lock(mutex_);
    sinks_[++next_id_] = std::move(sink);
    return next_id_;
  }
  void unsubscribe(vm::SubscriptionId id) override {
    std::lock_guard lock(mutex_);
    sinks_.erase(id);
  }

  Result<vm::DomainRef> define(std::string_view, unsigned) override { return no(); }
  Result<void> undefine(const xml::Uuid&, unsigned) override { return no(); }
  Result<vm::DomainRef> lookup_by_uuid(const xml::Uuid&) override { return no(); }
  Result<vm::DomainRef> lookup_by_name(std::string_view) override { return no(); }
  Result<vm::DomainRef> lookup_by_id(int32_t) override { return no(); }
  std::vector<vm::DomainSummary> list() override { return {}; }
  Result<vm::DomainRef> start(const xml::Uuid&, unsigned) override { return no(); }
  Result<vm::DomainRef> create_transient(std::string_view, unsigned) override { return no(); }
  Result<void> destroy(const xml::Uuid&, unsigned) override { return no(); }
  Result<void> shutdown(const xml::Uuid&, unsigned) override { return no(); }
  Result<void> reboot(const xml::Uuid&, unsigned) override { return no(); }
  Result<void> reset(const xml::Uuid&) override { return no(); }
  Result<void> suspend(const xml::Uuid&) override { return no(); }
  Result<void> resume(const xml::Uuid&) override { return no(); }
  Result<std::string> xml_desc(const xml::Uuid&, unsigned) override { return no(); }
  Result<vm::DomainInfo> info(const xml::Uuid&) override { return no(); }
  Result<std::pair<int, int>> state(const xml::Uuid&) override { return no(); }
  Result<bool> is_active(const xml::Uuid&) override { return no(); }
  Result<bool> is_persistent(const xml::Uuid&) override { return no(); }
  Result<bool> autostart(const xml::Uuid&) override { return no(); }
  Result<void> set_autostart(const xml::Uuid&, bool) override { return no(); }
  Result<std::string> metadata(const xml::Uuid&, int, const std::string&, unsigned) override {
    return no();
  }
  Result<void> set_metadata(const xml::Uuid&, int, const std::optional<std::string>&,
                            const std::string&, const std::string&, unsigned) override {
    return no();
  }
  Result<int> vcpus_flags(const xml::Uuid&, unsigned) override { return no(); }
  Result<vm::BlockStats> block_stats(const xml::Uuid&, std::string_view) override { return no(); }
  Result<vm::BlockInfo> block_info(const xml::Uuid&, std::string_view) override { return no(); }
  Result<std::vector<vm::DiskError>> disk_errors(const xml::Uuid&) override { return no(); }

 private:
  static Error no() { return Error(ErrorKind::kUnsupported, "not in the fake"); }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<vm::SubscriptionId, vm::EventSink> sinks_;
  vm::SubscriptionId next_id_ = 0;
  UniqueFd console_peer_;
  std::function<void()> on_revoked_;
  bool console_blocked_ = false;
  int console_waiters_ = 0;
  int releases_ = 0;
};

}  // namespace amber::driver::testing
