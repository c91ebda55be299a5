// SPDX-License-Identifier: GPL-2.0-or-later
// The shape of one RPC procedure and the per-connection state handlers see.
//
// A handler decodes its arguments from `args` (bounded XdrReader), does the
// work and encodes its reply into `reply`. It returns an Error to send an
// error reply instead; dispatch/errors maps the Error to a libvirt code. A
// handler runs on a worker thread with its connection's mutex held.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "driver/protocol/stream.h"
#include "driver/rpc/xdr.h"

namespace amber::driver::vm {
class Manager;
}
namespace amber::driver::storage {
class PoolManager;
}
namespace amber::driver::secret {
class Store;
}
namespace amber::driver::snapshot {
class Service;
}

namespace amber::driver::protocol {

// High-priority calls run on a worker of their own so that a slow normal
// call (a domain start) never delays a keepalive or a lookup.
enum class Priority { kNormal, kHigh };
// Whether the read-only socket may call it.
enum class Access { kReadOnlyAllowed, kReadWriteOnly };
enum class SocketKind { kReadWrite, kReadOnly };
// Which libvirt codes a handler's error kinds become (dispatch/errors.h):
// kDomain turns kCorrupt into VIR_ERR_XML_ERROR and kUnsupported into
// VIR_ERR_CONFIG_UNSUPPORTED; kDomainOperation turns kUnsupported into
// VIR_ERR_OPERATION_UNSUPPORTED (a shutdown the VMM cannot do);
// kStorageVolume turns kNotFound into VIR_ERR_NO_STORAGE_VOL, kStoragePool
// into VIR_ERR_NO_STORAGE_POOL (both by the message's "Storage pool not
// found" / "Storage volume not found" prefix when the manager wrote one).
// kSecret turns kNotFound into VIR_ERR_NO_SECRET (VIR_FROM_SECRET).
enum class ErrorFamily {
  kGeneric,
  kDomain,
  kDomainOperation,
  kStorageVolume,
  kStoragePool,
  kSecret,
  // kDomain, and kNotFound "Domain snapshot not found: ..." is
  // VIR_ERR_NO_DOMAIN_SNAPSHOT (VIR_FROM_DOMAIN_SNAPSHOT).
  kSnapshot,
};

struct Procedure;

// Facts about the host and daemon that connect-level calls report.
struct DaemonInfo {
  std::string state_dir;
  std::string config_dir;
  std::string run_dir;
  // The domain manager; null when the daemon serves host queries only.
  vm::Manager* manager = nullptr;
  std::string log_dir;
  std::string vmm_binary;  // amber-vmm: the emulator capabilities report
  // Storage pools and volumes; null when the daemon serves without them.
  storage::PoolManager* storage = nullptr;
  // Procedures looked up before the REMOTE table (tests only: a stand-in
  // handler that opens a stream of the test's own). Empty in the daemon.
  std::span<const Procedure> test_procedures;
  // The secrets (config_dir/secrets); null when the daemon runs without.
  secret::Store* secrets = nullptr;
  // Domain snapshots (config_dir/snapshot); null when the daemon runs
  // without them (snapshot calls then fail, undefine does not check).
  snapshot::Service* snapshots = nullptr;
};

class ConnectionEvents;        // driver/protocol/connection_events.h
class PoolEventRegistrations;  // driver/protocol/pool_events.h
class SecretEvents;            // driver/protocol/secret_events.h

struct Connection {
  SocketKind socket = SocketKind::kReadWrite;
  bool opened = false;
  std::string uri;
  bool close_callback_registered = false;
  // The client asked about the KEEPALIVE program (CONNECT_SUPPORTS_FEATURE
  // VIR_DRV_FEATURE_PROGRAM_KEEPALIVE), so the server may PING it.
  bool keepalive_requested = false;
  const DaemonInfo* daemon = nullptr;
  // This connection's domain event registrations; set by the server (null
  // in tests that drive the dispatcher alone: event calls then fail).
  std::shared_ptr<ConnectionEvents> events;
  // Storage pool event registrations, made by the first of them.
  std::shared_ptr<PoolEventRegistrations> pool_events;
  // This connection's secret event registrations, made on its first
  // SECRET_EVENT_REGISTER_ANY; they send through `events`.
  std::shared_ptr<SecretEvents> secret_events;
  // Set by a stream-opening handler; taken by the server after the reply.
  std::optional<OpenedStream> opened_stream;
  // Descriptors a handler returns (DOMAIN_OPEN_GRAPHICS_FD): the dispatcher
  // makes the reply REPLY_WITH_FDS, the server sends them after it.
  std::vector<UniqueFd> reply_fds;
};

using Handler = Result<void> (*)(Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply);

struct Procedure {
  int32_t number;
  std::string_view name;
  std::string_view args;   // the remote_protocol.x argument struct ("-" = void)
  std::string_view reply;  // the reply struct ("-" = void)
  Priority priority;
  Access access;
  Handler handler;
  ErrorFamily family = ErrorFamily::kGeneric;
};

}  // namespace amber::driver::protocol
