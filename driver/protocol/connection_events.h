// SPDX-License-Identifier: GPL-2.0-or-later
// One connection's domain event registrations and their delivery.
//
// A connection registers in the callback form (CALLBACK_REGISTER_ANY: an
// event id, an optional domain filter, a callback id we hand out) or the
// legacy form (REGISTER / REGISTER_ANY: one registration per event id, no
// filter). On its first registration the connection subscribes to the
// Manager; each Manager event is encoded once per matching registration
// and handed to the Sender (the server's per-client output queue). close()
// drops every registration and the subscription; the server calls it when
// the client goes away, whatever it was doing.
//
// Thread-safety: every method may be called from any thread. deliver() runs
// on the Manager's threads; the Sender is called without our lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "driver/vm/manager.h"

namespace amber::driver::protocol {

class ConnectionEvents : public std::enable_shared_from_this<ConnectionEvents> {
 public:
  // Queues one whole frame for the client; must not block.
  using Sender = std::function<void(std::vector<uint8_t> frame)>;

  // `manager` may be null (no domains): registrations then never fire.
  static std::shared_ptr<ConnectionEvents> create(vm::Manager* manager, Sender sender);
  ~ConnectionEvents();
  ConnectionEvents(const ConnectionEvents&) = delete;
  ConnectionEvents& operator=(const ConnectionEvents&) = delete;

  // Callback form; returns the new callback id (1, 2, ...).
  Result<int32_t> add_callback(int32_t event_id, std::optional<xml::Uuid> domain);
  Result<void> remove_callback(int32_t callback_id);
  // Legacy form: kInvalidArgument when `event_id` is already (or not) registered.
  Result<void> add_legacy(int32_t event_id);
  Result<void> remove_legacy(int32_t event_id);

  // Sends `event` to every matching registration.
  void deliver(const vm::DomainEvent& event);
  // Queues FRAME (another event family's message: storage pool or secret
  // events) unless the connection is closing.
  void send(std::vector<uint8_t> frame);
  // Drops everything; later registrations fail.
  void close();
  size_t registration_count() const;

 private:
  struct Registration {
    int32_t event_id = 0;
    std::optional<int32_t> callback_id;  // empty: legacy form
    std::optional<xml::Uuid> domain;
  };

  enum class Form { kCallback, kLegacy };

  ConnectionEvents(vm::Manager* manager, Sender sender)
      : manager_(manager), sender_(std::move(sender)) {}
  // Returns the callback id handed out (0 for the legacy form).
  Result<int32_t> add(Registration registration, Form form);
  void ensure_subscribed();

  vm::Manager* const manager_;
  const Sender sender_;
  mutable std::mutex mutex_;
  std::vector<Registration> registrations_;
  int32_t next_callback_id_ = 1;
  bool closed_ = false;
  bool subscribing_ = false;
  std::optional<vm::SubscriptionId> subscription_;
};

}  // namespace amber::driver::protocol
