// SPDX-License-Identifier: GPL-2.0-or-later
// One connection's storage pool event registrations
// (CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY 368 / DEREGISTER_ANY 369) and
// their delivery as STORAGE_POOL_EVENT_LIFECYCLE (370) and
// STORAGE_POOL_EVENT_REFRESH (373) messages.
//
// Created by the first registration of a connection and kept in its
// Connection; it subscribes to the PoolManager on creation and
// unsubscribes when destroyed. Frames go through the connection's
// ConnectionEvents::send, which drops them once the client is torn down.
//
// Thread-safety: add/remove run on the connection's strand; deliver() runs
// on whichever thread changed a pool. One mutex guards the list; the sender
// is called without it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "driver/storage/pool_manager.h"

namespace amber::driver::protocol {

// VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE and _REFRESH.
inline constexpr int32_t kPoolEventIdLifecycle = 0;
inline constexpr int32_t kPoolEventIdRefresh = 1;
inline constexpr int32_t kPoolEventIdCount = 2;
inline constexpr int32_t kProcPoolEventLifecycle = 370;
inline constexpr int32_t kProcPoolEventRefresh = 373;

class PoolEventRegistrations : public std::enable_shared_from_this<PoolEventRegistrations> {
 public:
  using Sender = std::function<void(std::vector<uint8_t> frame)>;

  static std::shared_ptr<PoolEventRegistrations> create(storage::PoolManager* manager,
                                                        Sender sender);
  ~PoolEventRegistrations();
  PoolEventRegistrations(const PoolEventRegistrations&) = delete;
  PoolEventRegistrations& operator=(const PoolEventRegistrations&) = delete;

  // Returns the new callback id; POOL filters on the pool's UUID.
  Result<int32_t> add(int32_t event_id, std::optional<xml::Uuid> pool);
  Result<void> remove(int32_t callback_id);
  void deliver(const storage::PoolEvent& event);

  // The MESSAGE frame for one registration (exposed for tests).
  static std::vector<uint8_t> encode(const storage::PoolEvent& event, int32_t callback_id);

 private:
  struct Registration {
    int32_t event_id = 0;
    int32_t callback_id = 0;
    std::optional<xml::Uuid> pool;
  };
  PoolEventRegistrations(storage::PoolManager* manager, Sender sender)
      : manager_(manager), sender_(std::move(sender)) {}

  storage::PoolManager* const manager_;
  const Sender sender_;
  std::mutex mutex_;
  std::vector<Registration> registrations_;
  int32_t next_callback_id_ = 1;
  std::optional<storage::PoolSubscriptionId> subscription_;
};

}  // namespace amber::driver::protocol
