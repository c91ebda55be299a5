// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/events.h"

#include "driver/protocol/connection_events.h"
#include "driver/protocol/event_messages.h"

namespace amber::driver::dispatch {

namespace {

Result<protocol::ConnectionEvents*> events_of(const Connection& connection) {
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  if (connection.events == nullptr) {
    return Error(ErrorKind::kUnsupported, "domain events need the daemon's event loop");
  }
  return connection.events.get();
}

}  // namespace

Result<void> domain_event_register(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_REGISTER"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  AMBER_TRY(events->add_legacy(protocol::kEventIdLifecycle));
  reply.write_i32(1);  // cb_registered
  return {};
}

Result<void> domain_event_deregister(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_DEREGISTER"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  AMBER_TRY(events->remove_legacy(protocol::kEventIdLifecycle));
  reply.write_i32(0);  // cb_registered
  return {};
}

Result<void> domain_event_register_any(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(int32_t event_id, args.read_i32("eventID"));
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_REGISTER_ANY"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  return events->add_legacy(event_id);
}

Result<void> domain_event_deregister_any(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(int32_t event_id, args.read_i32("eventID"));
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  return events->remove_legacy(event_id);
}

Result<void> domain_event_callback_register_any(Connection& connection, XdrReader& args,
                                                XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t event_id, args.read_i32("eventID"));
  AMBER_TRY_ASSIGN(bool has_domain, args.read_bool("dom"));
  std::optional<xml::Uuid> filter;
  if (has_domain) {
    AMBER_TRY_ASSIGN(vm::DomainRef domain, protocol::read_domain(args));
    filter = domain.uuid;  // libvirt filters on the UUID; the domain need not exist yet
  }
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  AMBER_TRY_ASSIGN(int32_t callback_id, events->add_callback(event_id, filter));
  reply.write_i32(callback_id);
  return {};
}

Result<void> domain_event_callback_deregister_any(Connection& connection, XdrReader& args,
                                                  XdrWriter&) {
  AMBER_TRY_ASSIGN(int32_t callback_id, args.read_i32("callbackID"));
  AMBER_TRY(args.expect_end("CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY"));
  AMBER_TRY_ASSIGN(auto* events, events_of(connection));
  return events->remove_callback(callback_id);
}

}  // namespace amber::driver::dispatch
