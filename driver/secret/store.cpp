// SPDX-License-Identifier: GPL-2.0-or-later
// Store's registry: define/undefine with libvirt's usage and private-flag
// rules, values, lookups, and event delivery. Files: store_files.cpp.
#include "driver/secret/store.h"

#include <string.h>  // explicit_bzero

#include <algorithm>

namespace amber::driver::secret {

namespace {

SecretRef ref_of(const xml::Secret& def) {
  return SecretRef{def.uuid, def.usage_type, def.usage_id};
}

Error no_secret(const xml::Uuid& uuid) {
  return Error(ErrorKind::kNotFound, "no secret with matching uuid '" + uuid.to_string() + "'");
}

}  // namespace

SecretValue& SecretValue::operator=(SecretValue&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

void SecretValue::wipe() {
  if (!bytes_.empty()) explicit_bzero(bytes_.data(), bytes_.size());
  bytes_.clear();
}

Result<Store::Entry*> Store::find(const xml::Uuid& uuid) {
  auto it = secrets_.find(uuid.to_string());
  if (it == secrets_.end()) return no_secret(uuid);
  return &it->second;
}

Result<const Store::Entry*> Store::find(const xml::Uuid& uuid) const {
  auto it = secrets_.find(uuid.to_string());
  if (it == secrets_.end()) return no_secret(uuid);
  return &it->second;
}

const Store::Entry* Store::find_usage(xml::SecretUsageType type, std::string_view id) const {
  if (type == xml::SecretUsageType::kNone) return nullptr;  // libvirt never matches 'none'
  for (const auto& [key, entry] : secrets_) {
    if (entry.def.usage_type == type && entry.def.usage_id == id) return &entry;
  }
  return nullptr;
}

Result<SecretRef> Store::define(std::string_view xml) {
  AMBER_TRY_ASSIGN(xml::Secret def, xml::parse_secret(xml));
  def.uuid_given = true;  // a generated UUID is the secret's from now on
  SecretRef ref = ref_of(def);
  std::unique_lock delivery(delivery_mutex_, std::defer_lock);
  {
    std::lock_guard lock(mutex_);
    const std::string key = def.uuid.to_string();
    auto existing = secrets_.find(key);
    if (existing != secrets_.end()) {
      const xml::Secret& old = existing->second.def;
      if (old.usage_id != def.usage_id) {
        return Error(ErrorKind::kLocked, "a secret with UUID " + key +
                                             " is already defined for use with " + old.usage_id);
      }
      if (old.private_value && !def.private_value)
        return Error(ErrorKind::kLocked, "cannot change private flag on existing secret");
    } else if (const Entry* other = find_usage(def.usage_type, def.usage_id)) {
      return Error(ErrorKind::kLocked, "a secret with UUID " + other->def.uuid.to_string() +
                                           " already defined for use with " + def.usage_id);
    }
    const Entry* old = existing == secrets_.end() ? nullptr : &existing->second;
    if (!def.ephemeral) {
      // An ephemeral secret turning persistent takes its value to disk first.
      const bool move_value = old != nullptr && old->def.ephemeral && old->value;
      if (move_value) AMBER_TRY(save_value(def.uuid, *old->value));
      auto saved = save_definition(def);
      if (!saved.ok()) {
        if (move_value) (void)remove_files(def.uuid);
        return saved.error();
      }
    } else if (old != nullptr && !old->def.ephemeral) {
      AMBER_TRY(remove_files(def.uuid));
    }
    if (existing != secrets_.end()) {
      existing->second.def = std::move(def);
    } else {
      secrets_.emplace(key, Entry{std::move(def), std::nullopt});
    }
    delivery.lock();  // before the next change can happen: events keep their order
  }
  emit(SecretEvent{ref, SecretEventId::kLifecycle, kSecretEventDefined, 0});
  return ref;
}

Result<void> Store::undefine(const xml::Uuid& uuid) {
  SecretRef ref;
  std::unique_lock delivery(delivery_mutex_, std::defer_lock);
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Entry * entry, find(uuid));
    ref = ref_of(entry->def);
    if (!entry->def.ephemeral) AMBER_TRY(remove_files(uuid));
    secrets_.erase(uuid.to_string());
    delivery.lock();
  }
  emit(SecretEvent{ref, SecretEventId::kLifecycle, kSecretEventUndefined, 0});
  return ok();
}

Result<SecretRef> Store::lookup(const xml::Uuid& uuid) const {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const Entry* entry, find(uuid));
  return ref_of(entry->def);
}

Result<SecretRef> Store::lookup_usage(xml::SecretUsageType type, std::string_view usage_id) const {
  std::lock_guard lock(mutex_);
  const Entry* entry = find_usage(type, usage_id);
  if (entry == nullptr) {
    return Error(ErrorKind::kNotFound,
                 "no secret with matching usage '" + std::string(usage_id) + "'");
  }
  return ref_of(entry->def);
}

Result<std::string> Store::xml_desc(const xml::Uuid& uuid) const {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const Entry* entry, find(uuid));
  return xml::format_secret(entry->def);
}

Result<void> Store::set_value(const xml::Uuid& uuid, std::span<const uint8_t> value) {
  if (value.size() > kMaxValueBytes) {
    return Error(ErrorKind::kInvalidArgument, "a secret value of " + std::to_string(value.size()) +
                                                  " bytes is over the limit of 65536");
  }
  SecretRef ref;
  std::unique_lock delivery(delivery_mutex_, std::defer_lock);
  {
    std::lock_guard lock(mutex_);
    AMBER_TRY_ASSIGN(Entry * entry, find(uuid));
    SecretValue fresh(value);
    if (!entry->def.ephemeral) AMBER_TRY(save_value(uuid, fresh));
    entry->value = std::move(fresh);  // the old bytes are wiped
    ref = ref_of(entry->def);
    delivery.lock();
  }
  emit(SecretEvent{ref, SecretEventId::kValueChanged, 0, 0});
  return ok();
}

Result<SecretValue> Store::get_value(const xml::Uuid& uuid, ValueAccess access) const {
  std::lock_guard lock(mutex_);
  AMBER_TRY_ASSIGN(const Entry* entry, find(uuid));
  if (access == ValueAccess::kClient && entry->def.private_value)
    return Error(ErrorKind::kInvalidArgument, std::string(kPrivateMessage));
  if (!entry->value) {
    return Error(ErrorKind::kNotFound, "secret '" + uuid.to_string() + "' does not have a value");
  }
  return SecretValue(entry->value->bytes());
}

Result<SecretValue> Store::volume_passphrase(const std::optional<std::string>& uuid,
                                             const std::optional<std::string>& usage) const {
  SecretRef ref;
  if (uuid) {
    AMBER_TRY_ASSIGN(const xml::Uuid parsed, xml::Uuid::parse(*uuid));
    AMBER_TRY_ASSIGN(ref, lookup(parsed));
    if (ref.usage_type != xml::SecretUsageType::kVolume) {
      return Error(ErrorKind::kInvalidArgument, "secret with uuid " + parsed.to_string() +
                                                    " is of type '" +
                                                    std::string(xml::to_string(ref.usage_type)) +
                                                    "' not expected 'volume' type");
    }
  } else if (usage) {
    AMBER_TRY_ASSIGN(ref, lookup_usage(xml::SecretUsageType::kVolume, *usage));
  } else {
    return Error(ErrorKind::kInvalidArgument, "no secret given for the encrypted volume");
  }
  return get_value(ref.uuid, ValueAccess::kInternal);
}

std::vector<SecretSummary> Store::list() const {
  std::lock_guard lock(mutex_);
  std::vector<SecretSummary> out;
  out.reserve(secrets_.size());
  for (const auto& [key, entry] : secrets_) {
    out.push_back(SecretSummary{ref_of(entry.def), entry.def.ephemeral, entry.def.private_value});
  }
  return out;
}

SinkId Store::subscribe(SecretSink sink) {
  std::lock_guard lock(sinks_mutex_);
  const SinkId id = next_sink_++;
  sinks_.emplace(id, std::make_shared<const SecretSink>(std::move(sink)));
  return id;
}

void Store::unsubscribe(SinkId id) {
  std::lock_guard lock(sinks_mutex_);
  sinks_.erase(id);
}

void Store::emit(const SecretEvent& event) {
  std::vector<std::shared_ptr<const SecretSink>> sinks;
  {
    std::lock_guard lock(sinks_mutex_);
    for (const auto& [id, sink] : sinks_) sinks.push_back(sink);
  }
  for (const auto& sink : sinks) (*sink)(event);
}

}  // namespace amber::driver::secret
