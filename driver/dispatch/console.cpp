// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/console.h"

#include <libvirt/libvirt.h>

#include <cstdio>
#include <string>

#include "driver/protocol/event_messages.h"
#include "driver/vm/manager.h"

namespace amber::driver::dispatch {

namespace {

// A device name is a short alias; anything longer is not ours.
constexpr uint32_t kDeviceNameMax = 256;

}  // namespace

Result<void> domain_open_console(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter&) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, protocol::read_domain(args));
  AMBER_TRY_ASSIGN(auto device, args.read_optional_string("dev_name", kDeviceNameMax));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  AMBER_TRY(args.expect_end("DOMAIN_OPEN_CONSOLE"));
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  constexpr uint32_t kKnownFlags = VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE;
  if ((flags & ~kKnownFlags) != 0) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%x", flags & ~kKnownFlags);
    return Error(ErrorKind::kInvalidArgument,
                 std::string("unsupported flags (") + text + ") in DOMAIN_OPEN_CONSOLE");
  }
  if (device && *device != "serial0" && *device != "console0") {
    return Error(ErrorKind::kInternal, "cannot find character device " + *device);
  }
  vm::Manager* manager = connection.daemon ? connection.daemon->manager : nullptr;
  if (manager == nullptr) return Error(ErrorKind::kUnsupported, "no domain manager");
  auto signal = std::make_shared<protocol::StreamSignal>();
  AMBER_TRY_ASSIGN(UniqueFd fd,
                   manager->open_console(domain.uuid, (flags & VIR_DOMAIN_CONSOLE_FORCE) != 0,
                                         [signal] { signal->revoke(); }));
  protocol::OpenedStream stream;
  stream.fd = std::move(fd);
  stream.signal = signal;
  stream.revoked_error =
      Error(ErrorKind::kLocked, "the console was taken over by another session (--force)");
  xml::Uuid uuid = domain.uuid;
  stream.on_end = [manager, uuid] { manager->release_console(uuid); };
  connection.opened_stream = std::move(stream);
  return {};
}

}  // namespace amber::driver::dispatch
