// SPDX-License-Identifier: GPL-2.0-or-later
// Store: the daemon's libvirt secrets (virsh secret-*), as libvirt's secret
// driver keeps them. A persistent secret is DIR/UUID.xml (its secret XML)
// and, once it has a value, DIR/UUID.base64; both are written atomically
// (temp file created 0600 with O_EXCL, fsync, rename, fsync of DIR), so a
// crash leaves the old or the new file and a value is never readable by
// anyone but the daemon's user, not even for a moment. DIR itself is made
// 0700. An ephemeral secret lives in memory only and is gone when the
// daemon stops. open() loads every DIR/*.xml; a broken file is skipped
// with a log line naming it and what is wrong.
//
// A value is never logged, never put in an error message, and is wiped
// from memory when replaced or dropped. Usage ids are unique per usage
// type, as libvirt has them: a second secret for the same volume path (or
// ceph/tls/vtpm name, iscsi target) is refused.
//
// Events (VIR_SECRET_EVENT_ID_LIFECYCLE DEFINED/UNDEFINED and VALUE_CHANGED)
// go to the subscribed sinks on the calling thread, after the change and
// outside the store's lock, one event at a time in the order they happened.
//
// Thread-safety: every method may be called from any thread. A sink may
// call subscribe/unsubscribe but no other method; it may still be called
// once after unsubscribe() returns (hold only weak references in it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "xml/secret.h"

namespace amber::driver::secret {

// REMOTE_SECRET_VALUE_MAX: the largest value the protocol carries.
inline constexpr size_t kMaxValueBytes = 65536;

// What identifies a secret on the wire (remote_nonnull_secret).
struct SecretRef {
  xml::Uuid uuid;
  xml::SecretUsageType usage_type = xml::SecretUsageType::kNone;
  std::string usage_id;
  bool operator==(const SecretRef&) const = default;
};

// One row of list-all: enough for every VIR_CONNECT_LIST_SECRETS_* filter.
struct SecretSummary {
  SecretRef ref;
  bool ephemeral = false;
  bool private_value = false;
};

// A secret's bytes; zeroed when destroyed or moved from.
class SecretValue {
 public:
  SecretValue() = default;
  explicit SecretValue(std::span<const uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  SecretValue(SecretValue&& other) noexcept : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
  }
  SecretValue& operator=(SecretValue&& other) noexcept;
  SecretValue(const SecretValue&) = delete;
  SecretValue& operator=(const SecretValue&) = delete;
  ~SecretValue() { wipe(); }

  std::span<const uint8_t> bytes() const { return bytes_; }

 private:
  void wipe();
  std::vector<uint8_t> bytes_;
};

// VIR_SECRET_EVENT_ID_* (libvirt-secret.h).
enum class SecretEventId : int32_t { kLifecycle = 0, kValueChanged = 1 };
inline constexpr int32_t kSecretEventIdCount = 2;
// virSecretEventLifecycleType.
inline constexpr int32_t kSecretEventDefined = 0;
inline constexpr int32_t kSecretEventUndefined = 1;

struct SecretEvent {
  SecretRef secret;
  SecretEventId id = SecretEventId::kLifecycle;
  int32_t event = 0;  // lifecycle only: kSecretEventDefined / kSecretEventUndefined
  int32_t detail = 0;
};

using SecretSink = std::function<void(const SecretEvent&)>;
using SinkId = uint64_t;

// Who asks for a value: a client (refused for a private secret, as
// libvirt does) or the daemon itself (a LUKS volume's passphrase).
enum class ValueAccess { kClient, kInternal };

struct StoreOptions {
  std::string dir = "/etc/libvirt/amber/secrets";
  // One line per skipped file or repaired mode; default: stderr.
  std::function<void(const std::string&)> log;
};

class Store {
 public:
  // Creates DIR (0700) and loads it.
  static Result<std::unique_ptr<Store>> open(StoreOptions options);

  // Defines or redefines (same UUID) a secret from its XML. Errors as
  // libvirt's: another secret with the same usage, a redefinition that
  // changes the usage id or drops the private flag (kLocked).
  Result<SecretRef> define(std::string_view xml);
  Result<void> undefine(const xml::Uuid& uuid);
  Result<SecretRef> lookup(const xml::Uuid& uuid) const;
  Result<SecretRef> lookup_usage(xml::SecretUsageType type, std::string_view usage_id) const;
  Result<std::string> xml_desc(const xml::Uuid& uuid) const;
  // kInvalidArgument for a value over kMaxValueBytes.
  Result<void> set_value(const xml::Uuid& uuid, std::span<const uint8_t> value);
  // kNotFound "secret 'UUID' does not have a value" before set_value;
  // kInvalidArgument kPrivateMessage for a private secret and kClient.
  Result<SecretValue> get_value(const xml::Uuid& uuid, ValueAccess access) const;
  // The value of a volume passphrase named by an <encryption><secret>:
  // by UUID (the secret must be of usage type volume, as libvirt checks)
  // or by USAGE (the volume path). For the daemon itself (kInternal).
  Result<SecretValue> volume_passphrase(const std::optional<std::string>& uuid,
                                        const std::optional<std::string>& usage) const;
  // Sorted by UUID.
  std::vector<SecretSummary> list() const;

  SinkId subscribe(SecretSink sink);
  void unsubscribe(SinkId id);

  const std::string& dir() const { return options_.dir; }

  // libvirt's words for a private secret's value (VIR_ERR_INVALID_SECRET).
  static constexpr std::string_view kPrivateMessage = "secret is private";

 private:
  struct Entry {
    xml::Secret def;
    std::optional<SecretValue> value;
  };

  explicit Store(StoreOptions options) : options_(std::move(options)) {}
  void load_all();
  Result<Entry> load_one(const std::string& uuid_text);
  void log(const std::string& line) const;
  // The entry for UUID, or kNotFound with libvirt's message. Lock held.
  Result<Entry*> find(const xml::Uuid& uuid);
  Result<const Entry*> find(const xml::Uuid& uuid) const;
  // The entry using TYPE/ID, or null (never for kNone). Lock held.
  const Entry* find_usage(xml::SecretUsageType type, std::string_view id) const;
  Result<void> save_definition(const xml::Secret& def) const;
  Result<void> save_value(const xml::Uuid& uuid, const SecretValue& value) const;
  Result<void> remove_files(const xml::Uuid& uuid) const;
  // Calls every sink; the caller holds delivery_mutex_.
  void emit(const SecretEvent& event);

  const StoreOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> secrets_;  // by UUID text

  std::mutex sinks_mutex_;
  std::map<SinkId, std::shared_ptr<const SecretSink>> sinks_;
  SinkId next_sink_ = 1;
  // Taken under mutex_ by each change and held while its event is
  // delivered: one event at a time, in the order of the changes.
  std::mutex delivery_mutex_;
};

}  // namespace amber::driver::secret
