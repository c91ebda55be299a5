// SPDX-License-Identifier: GPL-2.0-or-later
// One connection's secret event registrations (CONNECT_SECRET_EVENT_
// REGISTER_ANY: an event id, an optional secret filter, a callback id we
// hand out) and the REMOTE MESSAGEs they receive: SECRET_EVENT_LIFECYCLE
// {callbackID, secret, event, detail} and SECRET_EVENT_VALUE_CHANGED
// {callbackID, secret} (remote_protocol.x, libvirt 9.0).
//
// Made on the connection's first registration, it subscribes to the
// secret store and sends its frames through the connection's
// ConnectionEvents, which drops them once the client is going away; the
// subscription ends when the connection is destroyed.
//
// Thread-safety: every method may be called from any thread; deliver()
// runs on the thread that changed the secret, with no lock of ours held
// while the frame is queued.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "driver/rpc/xdr.h"
#include "driver/secret/store.h"

namespace amber::driver::protocol {

class ConnectionEvents;

inline constexpr int32_t kProcSecretEventLifecycle = 382;
inline constexpr int32_t kProcSecretEventValueChanged = 383;

// remote_nonnull_secret {remote_uuid uuid; int usageType; string usageID}.
void write_secret(rpc::XdrWriter& writer, const secret::SecretRef& secret);

// The MESSAGE frame (length word included) for one registration.
std::vector<uint8_t> encode_secret_event(const secret::SecretEvent& event, int32_t callback_id);

class SecretEvents : public std::enable_shared_from_this<SecretEvents> {
 public:
  static std::shared_ptr<SecretEvents> create(secret::Store& store,
                                              std::weak_ptr<ConnectionEvents> output);
  ~SecretEvents();
  SecretEvents(const SecretEvents&) = delete;
  SecretEvents& operator=(const SecretEvents&) = delete;

  // kInvalidArgument for an event id libvirt 9.0 does not have.
  Result<int32_t> add(int32_t event_id, std::optional<xml::Uuid> secret);
  // kInvalidArgument when `callback_id` is not registered here.
  Result<void> remove(int32_t callback_id);
  void deliver(const secret::SecretEvent& event);
  size_t registration_count() const;

 private:
  struct Registration {
    int32_t callback_id = 0;
    int32_t event_id = 0;
    std::optional<xml::Uuid> secret;
  };

  SecretEvents(secret::Store& store, std::weak_ptr<ConnectionEvents> output)
      : store_(store), output_(std::move(output)) {}

  secret::Store& store_;
  const std::weak_ptr<ConnectionEvents> output_;
  std::optional<secret::SinkId> subscription_;  // set once by create()
  mutable std::mutex mutex_;
  std::vector<Registration> registrations_;
  int32_t next_callback_id_ = 1;
};

}  // namespace amber::driver::protocol
