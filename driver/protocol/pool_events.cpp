// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/pool_events.h"

#include <string>

#include "driver/protocol/limits.h"
#include "driver/rpc/packet.h"

namespace amber::driver::protocol {

namespace {

// As ConnectionEvents: a hostile client must not grow the list without end.
constexpr size_t kMaxRegistrations = 1024;

}  // namespace

std::shared_ptr<PoolEventRegistrations> PoolEventRegistrations::create(
    storage::PoolManager* manager, Sender sender) {
  std::shared_ptr<PoolEventRegistrations> self(
      new PoolEventRegistrations(manager, std::move(sender)));
  if (manager != nullptr) {
    std::weak_ptr<PoolEventRegistrations> weak = self;
    self->subscription_ = manager->subscribe([weak](const storage::PoolEvent& event) {
      if (auto alive = weak.lock()) alive->deliver(event);
    });
  }
  return self;
}

PoolEventRegistrations::~PoolEventRegistrations() {
  if (subscription_ && manager_ != nullptr) manager_->unsubscribe(*subscription_);
}

Result<int32_t> PoolEventRegistrations::add(int32_t event_id, std::optional<xml::Uuid> pool) {
  if (event_id < 0 || event_id >= kPoolEventIdCount) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported storage pool event ID " + std::to_string(event_id));
  }
  std::lock_guard lock(mutex_);
  if (registrations_.size() >= kMaxRegistrations) {
    return Error(ErrorKind::kNoSpace, "too many event registrations on this connection");
  }
  const int32_t id = next_callback_id_++;
  registrations_.push_back({event_id, id, pool});
  return id;
}

Result<void> PoolEventRegistrations::remove(int32_t callback_id) {
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

void PoolEventRegistrations::deliver(const storage::PoolEvent& event) {
  const int32_t wanted = event.kind == storage::PoolEventKind::kLifecycle ? kPoolEventIdLifecycle
                                                                          : kPoolEventIdRefresh;
  std::vector<std::vector<uint8_t>> frames;
  {
    std::lock_guard lock(mutex_);
    for (const Registration& registration : registrations_) {
      if (registration.event_id != wanted) continue;
      if (registration.pool && !(*registration.pool == event.pool.uuid)) continue;
      frames.push_back(encode(event, registration.callback_id));
    }
  }
  for (auto& frame : frames) sender_(std::move(frame));
}

std::vector<uint8_t> PoolEventRegistrations::encode(const storage::PoolEvent& event,
                                                    int32_t callback_id) {
  rpc::XdrWriter body;
  body.write_i32(callback_id);
  body.write_string(event.pool.name);
  body.write_opaque_fixed(event.pool.uuid.bytes);
  if (event.kind == storage::PoolEventKind::kLifecycle) {
    body.write_i32(event.event);
    body.write_i32(event.detail);
  }
  rpc::PacketHeader header;
  header.program = kRemoteProgram;
  header.version = kRemoteVersion;
  header.procedure = event.kind == storage::PoolEventKind::kLifecycle ? kProcPoolEventLifecycle
                                                                      : kProcPoolEventRefresh;
  header.type = rpc::PacketType::kMessage;
  header.serial = 0;
  header.status = rpc::PacketStatus::kOk;
  return rpc::encode_frame(header, body.bytes());
}

}  // namespace amber::driver::protocol
