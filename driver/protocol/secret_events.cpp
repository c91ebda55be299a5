// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/secret_events.h"

#include <string>

#include "driver/protocol/connection_events.h"
#include "driver/protocol/limits.h"
#include "driver/rpc/packet.h"

namespace amber::driver::protocol {

namespace {

// As for domain events: a hostile client must not grow the list forever.
constexpr size_t kMaxRegistrations = 1024;

}  // namespace

void write_secret(rpc::XdrWriter& writer, const secret::SecretRef& secret) {
  writer.write_opaque_fixed(secret.uuid.bytes);
  writer.write_i32(static_cast<int32_t>(secret.usage_type));
  writer.write_string(secret.usage_id);
}

std::vector<uint8_t> encode_secret_event(const secret::SecretEvent& event, int32_t callback_id) {
  rpc::XdrWriter body;
  body.write_i32(callback_id);
  write_secret(body, event.secret);
  int32_t procedure = kProcSecretEventValueChanged;
  if (event.id == secret::SecretEventId::kLifecycle) {
    procedure = kProcSecretEventLifecycle;
    body.write_i32(event.event);
    body.write_i32(event.detail);
  }
  rpc::PacketHeader header;
  header.program = kRemoteProgram;
  header.version = kRemoteVersion;
  header.procedure = procedure;
  header.type = rpc::PacketType::kMessage;
  header.serial = 0;
  header.status = rpc::PacketStatus::kOk;
  return rpc::encode_frame(header, body.bytes());
}

std::shared_ptr<SecretEvents> SecretEvents::create(secret::Store& store,
                                                   std::weak_ptr<ConnectionEvents> output) {
  std::shared_ptr<SecretEvents> events(new SecretEvents(store, std::move(output)));
  std::weak_ptr<SecretEvents> weak = events;
  events->subscription_ = store.subscribe([weak](const secret::SecretEvent& event) {
    if (auto self = weak.lock()) self->deliver(event);
  });
  return events;
}

SecretEvents::~SecretEvents() {
  if (subscription_) store_.unsubscribe(*subscription_);
}

Result<int32_t> SecretEvents::add(int32_t event_id, std::optional<xml::Uuid> secret) {
  if (event_id < 0 || event_id >= secret::kSecretEventIdCount) {
    return Error(ErrorKind::kInvalidArgument,
                 "unsupported secret event ID " + std::to_string(event_id));
  }
  std::lock_guard lock(mutex_);
  if (registrations_.size() >= kMaxRegistrations)
    return Error(ErrorKind::kNoSpace, "too many secret event registrations on this connection");
  const int32_t id = next_callback_id_++;
  registrations_.push_back(Registration{id, event_id, secret});
  return id;
}

Result<void> SecretEvents::remove(int32_t callback_id) {
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

void SecretEvents::deliver(const secret::SecretEvent& event) {
  std::vector<std::vector<uint8_t>> frames;
  {
    std::lock_guard lock(mutex_);
    for (const Registration& registration : registrations_) {
      if (registration.event_id != static_cast<int32_t>(event.id)) continue;
      if (registration.secret && !(*registration.secret == event.secret.uuid)) continue;
      frames.push_back(encode_secret_event(event, registration.callback_id));
    }
  }
  if (frames.empty()) return;
  auto output = output_.lock();
  if (output == nullptr) return;
  for (auto& frame : frames) output->send(std::move(frame));
}

size_t SecretEvents::registration_count() const {
  std::lock_guard lock(mutex_);
  return registrations_.size();
}

}  // namespace amber::driver::protocol
