// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/connect.h"

#include <unistd.h>

#include <string>

#include "common/version.h"
#include "driver/protocol/limits.h"

namespace amber::driver::dispatch {

namespace {

// virDrvFeature values virsh probes (libvirt src/libvirt_internal.h).
constexpr int32_t kFeatureFdPassing = 8;
constexpr int32_t kFeatureTypedParamString = 9;
constexpr int32_t kFeatureProgramKeepalive = 10;
constexpr int32_t kFeatureRemoteEventCallback = 14;
constexpr int32_t kFeatureRemoteCloseCallback = 15;

// Versions are major * 1000000 + minor * 1000 + micro, as libvirt encodes them.
uint64_t encoded_version(std::string_view text) {
  uint64_t parts[3] = {0, 0, 0};
  size_t index = 0;
  for (char c : text) {
    if (c == '.') {
      if (++index == 3) break;
    } else if (c >= '0' && c <= '9') {
      parts[index] = parts[index] * 10 + static_cast<uint64_t>(c - '0');
    } else {
      break;
    }
  }
  return parts[0] * 1000000 + parts[1] * 1000 + parts[2];
}

// The libvirt API level we speak: the Debian 12 clients' (9.0.0).
constexpr uint64_t kLibraryVersion = 9000000;

Result<void> no_args(XdrReader& args, std::string_view name) {
  return args.expect_end(name);
}

Result<void> require_open(const Connection& connection) {
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  return {};
}

}  // namespace

Result<void> auth_list(Connection&, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "AUTH_LIST"));
  reply.write_u32(1);
  reply.write_i32(0);  // REMOTE_AUTH_NONE: the socket's permissions are the policy
  return {};
}

Result<void> supports_feature(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t feature, args.read_i32("feature"));
  AMBER_TRY(args.expect_end("CONNECT_SUPPORTS_FEATURE"));  // {i32 feature}: no flags
  // Typed parameters: the client fails a typed-param getter (block stats)
  // when this probe fails, and we accept string parameters.
  if (feature == kFeatureTypedParamString) {
    reply.write_i32(1);
    return {};
  }
  // Keepalive: we answer PINGs, and (as libvirtd) PING a client that asked
  // once it falls silent (server/server.h). Close callbacks: a no-op registration.
  if (feature == kFeatureProgramKeepalive) connection.keepalive_requested = true;
  // Event callbacks: CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY and the
  // DOMAIN_EVENT_CALLBACK_* messages (dispatch/events, protocol/connection_events).
  // Fd passing: every socket is a unix socket, and DOMAIN_OPEN_GRAPHICS_FD
  // returns one (virt-manager's console asks for it on a local connection).
  bool supported = feature == kFeatureProgramKeepalive || feature == kFeatureRemoteCloseCallback ||
                   feature == kFeatureRemoteEventCallback || feature == kFeatureFdPassing;
  reply.write_i32(supported ? 1 : 0);
  return {};
}

Result<void> connect_open(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(auto name, args.read_optional_string("name", protocol::kStringMax));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  (void)flags;  // VIR_CONNECT_RO is enforced by the socket, not the flag
  AMBER_TRY(args.expect_end("CONNECT_OPEN"));
  std::string uri = name.value_or("amber:///system");
  // The client sends the URI with ?socket= stripped; accept amber:///system
  // and /session, and the qemu names used as a compatibility alias.
  std::string_view path = uri;
  auto scheme_end = path.find("://");
  if (scheme_end == std::string_view::npos) {
    return Error(ErrorKind::kInvalidArgument, "URI '" + uri + "' has no scheme");
  }
  std::string_view scheme = path.substr(0, scheme_end);
  auto plus = scheme.find('+');
  if (plus != std::string_view::npos) scheme = scheme.substr(0, plus);
  if (scheme != "amber" && scheme != "qemu") {
    return Error(ErrorKind::kInvalidArgument,
                 "URI '" + uri + "' is not served by virtamberd (use amber:///system)");
  }
  connection.opened = true;
  connection.uri = scheme == "amber" ? uri : "amber:///system";
  return {};
}

Result<void> connect_close(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY(no_args(args, "CONNECT_CLOSE"));
  connection.opened = false;
  return {};
}

Result<void> get_type(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "CONNECT_GET_TYPE"));
  AMBER_TRY(require_open(connection));
  reply.write_string("AMBER");  // virsh version prints "Running hypervisor: AMBER x.y.z"
  return {};
}

Result<void> get_version(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "CONNECT_GET_VERSION"));
  AMBER_TRY(require_open(connection));
  reply.write_u64(encoded_version(kVersion));
  return {};
}

Result<void> get_lib_version(Connection&, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "CONNECT_GET_LIB_VERSION"));
  reply.write_u64(kLibraryVersion);
  return {};
}

Result<void> get_hostname(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "CONNECT_GET_HOSTNAME"));
  AMBER_TRY(require_open(connection));
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) {
    return Error::from_errno(errno, "gethostname");
  }
  reply.write_string(name);
  return {};
}

Result<void> get_uri(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(no_args(args, "CONNECT_GET_URI"));
  AMBER_TRY(require_open(connection));
  reply.write_string(connection.uri);
  return {};
}

Result<void> register_close_callback(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY(no_args(args, "CONNECT_REGISTER_CLOSE_CALLBACK"));
  connection.close_callback_registered = true;
  return {};
}

Result<void> unregister_close_callback(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY(no_args(args, "CONNECT_UNREGISTER_CLOSE_CALLBACK"));
  connection.close_callback_registered = false;
  return {};
}

}  // namespace amber::driver::dispatch
