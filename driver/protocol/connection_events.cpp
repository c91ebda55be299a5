// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/connection_events.h"

#include <string>

#include "driver/protocol/event_messages.h"

namespace amber::driver::protocol {

namespace {

// libvirtd's own bound on one client's callbacks is its event table size;
// ours keeps a hostile client from growing the list without limit.
constexpr size_t kMaxRegistrations = 1024;

Result<void> check_event_id(int32_t event_id) {
  if (event_id < 0 || event_id >= kEventIdCount) {
    return Error(ErrorKind::kInvalidArgument, "unsupported event ID " + std::to_string(event_id));
  }
  return {};
}

}  // namespace

std::shared_ptr<ConnectionEvents> ConnectionEvents::create(vm::Manager* manager, Sender sender) {
  return std::shared_ptr<ConnectionEvents>(new ConnectionEvents(manager, std::move(sender)));
}

ConnectionEvents::~ConnectionEvents() {
  if (subscription_ && manager_ != nullptr) manager_->unsubscribe(*subscription_);
}

Result<int32_t> ConnectionEvents::add_callback(int32_t event_id, std::optional<xml::Uuid> domain) {
  AMBER_TRY(check_event_id(event_id));
  return add(Registration{event_id, std::nullopt, domain}, Form::kCallback);
}

Result<int32_t> ConnectionEvents::add(Registration registration, Form form) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return Error(ErrorKind::kInvalidArgument, "the connection is closing");
    if (registrations_.size() >= kMaxRegistrations) {
      return Error(ErrorKind::kNoSpace, "too many event registrations on this connection");
    }
    if (form == Form::kCallback) {
      registration.callback_id = next_callback_id_++;
    } else {
      for (const Registration& existing : registrations_) {
        if (!existing.callback_id && existing.event_id == registration.event_id) {
          return Error(
              ErrorKind::kInvalidArgument,
              "domain event " + std::to_string(registration.event_id) + " already registered");
        }
      }
    }
    registrations_.push_back(registration);
  }
  ensure_subscribed();
  return registration.callback_id.value_or(0);
}

void ConnectionEvents::ensure_subscribed() {
  if (manager_ == nullptr) return;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || subscribing_ || subscription_) return;
    subscribing_ = true;
  }
  std::weak_ptr<ConnectionEvents> weak = weak_from_this();
  vm::SubscriptionId id = manager_->subscribe([weak](const vm::DomainEvent& event) {
    if (auto self = weak.lock()) self->deliver(event);
  });
  bool drop = false;
  {
    std::lock_guard lock(mutex_);
    subscribing_ = false;
    if (closed_) {
      drop = true;
    } else {
      subscription_ = id;
    }
  }
  // Never call the manager with our lock held: its sink may be waiting on it.
  if (drop) manager_->unsubscribe(id);
}

Result<void> ConnectionEvents::remove_callback(int32_t callback_id) {
  std::lock_guard lock(mutex_);
  auto removed = std::erase_if(registrations_, [&](const Registration& registration) {
    return registration.callback_id == callback_id;
  });
  if (removed == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "callback ID " + std::to_string(callback_id) + " is not registered");
  }
  return {};
}

Result<void> ConnectionEvents::add_legacy(int32_t event_id) {
  AMBER_TRY(check_event_id(event_id));
  AMBER_TRY(add(Registration{event_id, std::nullopt, std::nullopt}, Form::kLegacy));
  return {};
}

Result<void> ConnectionEvents::remove_legacy(int32_t event_id) {
  AMBER_TRY(check_event_id(event_id));
  std::lock_guard lock(mutex_);
  auto removed = std::erase_if(registrations_, [&](const Registration& registration) {
    return !registration.callback_id && registration.event_id == event_id;
  });
  if (removed == 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "domain event " + std::to_string(event_id) + " not registered");
  }
  return {};
}

void ConnectionEvents::deliver(const vm::DomainEvent& event) {
  std::vector<std::vector<uint8_t>> frames;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    const vm::DomainRef& domain = event_domain(event);
    for (const Registration& registration : registrations_) {
      if (!event_matches(event, registration.event_id)) continue;
      if (registration.domain && !(*registration.domain == domain.uuid)) continue;
      frames.push_back(
          encode_event_message(event, registration.event_id, registration.callback_id));
    }
  }
  for (auto& frame : frames) sender_(std::move(frame));
}

void ConnectionEvents::send(std::vector<uint8_t> frame) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
  }
  sender_(std::move(frame));
}

void ConnectionEvents::close() {
  std::optional<vm::SubscriptionId> subscription;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    registrations_.clear();
    subscription = std::exchange(subscription_, std::nullopt);
  }
  if (subscription && manager_ != nullptr) manager_->unsubscribe(*subscription);
}

size_t ConnectionEvents::registration_count() const {
  std::lock_guard lock(mutex_);
  return registrations_.size();
}

}  // namespace amber::driver::protocol
