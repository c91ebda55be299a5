// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/secret.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "driver/dispatch/domain_xdr.h"
#include "driver/protocol/connection_events.h"
#include "driver/protocol/limits.h"
#include "driver/protocol/secret_events.h"
#include "driver/secret/store.h"

namespace amber::driver::dispatch {

namespace {

// REMOTE_SECRET_UUID_LIST_MAX and REMOTE_SECRET_LIST_MAX.
constexpr uint32_t kSecretListMax = 16384;
constexpr uint32_t kListFilters =
    VIR_CONNECT_LIST_SECRETS_EPHEMERAL | VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL |
    VIR_CONNECT_LIST_SECRETS_PRIVATE | VIR_CONNECT_LIST_SECRETS_NO_PRIVATE;

Result<secret::Store*> store_of(const Connection& connection) {
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  if (connection.daemon == nullptr || connection.daemon->secrets == nullptr) {
    return Error(ErrorKind::kInternal, "the daemon runs without a secret store");
  }
  return connection.daemon->secrets;
}

Result<void> no_flags(uint32_t flags, uint32_t allowed, std::string_view function) {
  if ((flags & ~allowed) == 0) return ok();
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%x", flags & ~allowed);
  return Error(ErrorKind::kInvalidArgument,
               "unsupported flags (" + std::string(hex) + ") in function " + std::string(function));
}

// remote_nonnull_secret; only the UUID identifies it, as with libvirtd.
Result<xml::Uuid> read_secret(XdrReader& args) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_uuid(args));
  AMBER_TRY_ASSIGN(int32_t usage_type, arg_i32(args, "secret.usageType"));
  AMBER_TRY_ASSIGN(std::string usage_id, arg_string(args, "secret.usageID"));
  (void)usage_type;
  (void)usage_id;
  return uuid;
}

bool matches(const secret::SecretSummary& s, uint32_t flags) {
  if ((flags & (VIR_CONNECT_LIST_SECRETS_EPHEMERAL | VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL)) != 0 &&
      !(((flags & VIR_CONNECT_LIST_SECRETS_EPHEMERAL) != 0 && s.ephemeral) ||
        ((flags & VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL) != 0 && !s.ephemeral)))
    return false;
  if ((flags & (VIR_CONNECT_LIST_SECRETS_PRIVATE | VIR_CONNECT_LIST_SECRETS_NO_PRIVATE)) != 0 &&
      !(((flags & VIR_CONNECT_LIST_SECRETS_PRIVATE) != 0 && s.private_value) ||
        ((flags & VIR_CONNECT_LIST_SECRETS_NO_PRIVATE) != 0 && !s.private_value)))
    return false;
  return true;
}

}  // namespace

Result<void> num_of_secrets(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(arg_end(args, "CONNECT_NUM_OF_SECRETS"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  reply.write_i32(static_cast<int32_t>(store->list().size()));
  return {};
}

Result<void> list_secrets(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t max, arg_i32(args, "maxuuids"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_SECRETS"));
  if (max < 0 || static_cast<uint32_t>(max) > kSecretListMax) {
    return Error(ErrorKind::kInvalidArgument, "maxuuids " + std::to_string(max) + " out of range");
  }
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  auto secrets = store->list();
  if (secrets.size() > static_cast<size_t>(max)) secrets.resize(static_cast<size_t>(max));
  reply.write_u32(static_cast<uint32_t>(secrets.size()));
  for (const auto& s : secrets) reply.write_string(s.ref.uuid.to_string());
  return {};
}

Result<void> list_all_secrets(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t need_results, arg_i32(args, "need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "CONNECT_LIST_ALL_SECRETS"));
  AMBER_TRY(no_flags(flags, kListFilters, "virConnectListAllSecrets"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  std::vector<secret::SecretRef> found;
  for (const auto& summary : store->list()) {
    if (matches(summary, flags)) found.push_back(summary.ref);
  }
  if (found.size() > kSecretListMax) {
    return Error(ErrorKind::kNoSpace, "too many secrets for one reply");
  }
  if (need_results != 0) {
    reply.write_u32(static_cast<uint32_t>(found.size()));
    for (const auto& ref : found) protocol::write_secret(reply, ref);
  } else {
    reply.write_u32(0);
  }
  reply.write_u32(static_cast<uint32_t>(found.size()));
  return {};
}

Result<void> secret_lookup_by_uuid(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_uuid(args));
  AMBER_TRY(arg_end(args, "SECRET_LOOKUP_BY_UUID"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  AMBER_TRY_ASSIGN(secret::SecretRef ref, store->lookup(uuid));
  protocol::write_secret(reply, ref);
  return {};
}

Result<void> secret_lookup_by_usage(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t usage_type, arg_i32(args, "usageType"));
  AMBER_TRY_ASSIGN(std::string usage_id, arg_string(args, "usageID"));
  AMBER_TRY(arg_end(args, "SECRET_LOOKUP_BY_USAGE"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  auto type = xml::secret_usage_type_from_int(usage_type);
  if (!type) {
    return Error(ErrorKind::kNotFound, "no secret with matching usage '" + usage_id + "'");
  }
  AMBER_TRY_ASSIGN(secret::SecretRef ref, store->lookup_usage(*type, usage_id));
  protocol::write_secret(reply, ref);
  return {};
}

Result<void> secret_define_xml(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(std::string text, arg_string(args, "xml"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "SECRET_DEFINE_XML"));
  AMBER_TRY(no_flags(flags, VIR_SECRET_DEFINE_VALIDATE, "virSecretDefineXML"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  if ((flags & VIR_SECRET_DEFINE_VALIDATE) != 0) AMBER_TRY(xml::validate_secret(text));
  AMBER_TRY_ASSIGN(secret::SecretRef ref, store->define(text));
  protocol::write_secret(reply, ref);
  return {};
}

Result<void> secret_get_xml_desc(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_secret(args));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "SECRET_GET_XML_DESC"));
  AMBER_TRY(no_flags(flags, 0, "virSecretGetXMLDesc"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  AMBER_TRY_ASSIGN(std::string text, store->xml_desc(uuid));
  reply.write_string(text);
  return {};
}

Result<void> secret_set_value(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_secret(args));
  auto value = args.read_opaque("value", static_cast<uint32_t>(secret::kMaxValueBytes));
  if (!value.ok()) {
    return Error(ErrorKind::kInvalidArgument, "malformed arguments: " + value.error().message());
  }
  secret::SecretValue bytes(*value);  // wiped when the handler returns
  std::fill(value->begin(), value->end(), 0);
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "SECRET_SET_VALUE"));
  AMBER_TRY(no_flags(flags, 0, "virSecretSetValue"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  return store->set_value(uuid, bytes.bytes());
}

Result<void> secret_get_value(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_secret(args));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "SECRET_GET_VALUE"));
  if (connection.socket == protocol::SocketKind::kReadOnly) {
    return Error(ErrorKind::kReadOnly, "read only access prevents virSecretGetValue");
  }
  AMBER_TRY(no_flags(flags, 0, "virSecretGetValue"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  AMBER_TRY_ASSIGN(secret::SecretValue value, store->get_value(uuid, secret::ValueAccess::kClient));
  reply.write_opaque(value.bytes());
  return {};
}

Result<void> secret_undefine(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(xml::Uuid uuid, read_secret(args));
  AMBER_TRY(arg_end(args, "SECRET_UNDEFINE"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  return store->undefine(uuid);
}

Result<void> secret_event_register_any(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t event_id, arg_i32(args, "eventID"));
  AMBER_TRY_ASSIGN(uint32_t has_secret, arg_u32(args, "secret"));
  if (has_secret > 1) return Error(ErrorKind::kInvalidArgument, "malformed optional secret");
  std::optional<xml::Uuid> filter;
  if (has_secret == 1) {
    AMBER_TRY_ASSIGN(filter, read_secret(args));  // the secret need not exist yet
  }
  AMBER_TRY(arg_end(args, "CONNECT_SECRET_EVENT_REGISTER_ANY"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  if (connection.events == nullptr) {
    return Error(ErrorKind::kInternal, "secret events need the daemon's event loop");
  }
  if (connection.secret_events == nullptr) {
    connection.secret_events = protocol::SecretEvents::create(*store, connection.events);
  }
  AMBER_TRY_ASSIGN(int32_t callback_id, connection.secret_events->add(event_id, filter));
  reply.write_i32(callback_id);
  return {};
}

Result<void> secret_event_deregister_any(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(int32_t callback_id, arg_i32(args, "callbackID"));
  AMBER_TRY(arg_end(args, "CONNECT_SECRET_EVENT_DEREGISTER_ANY"));
  AMBER_TRY_ASSIGN(secret::Store * store, store_of(connection));
  (void)store;
  if (connection.secret_events == nullptr) {
    return Error(ErrorKind::kInvalidArgument,
                 "callback ID " + std::to_string(callback_id) + " is not registered");
  }
  return connection.secret_events->remove(callback_id);
}

}  // namespace amber::driver::dispatch
