// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/compat.h"

namespace amber::driver::dispatch {

namespace {

Result<void> empty_list(protocol::Connection& connection, rpc::XdrReader& args,
                        rpc::XdrWriter& reply, std::string_view name) {
  AMBER_TRY_ASSIGN(int32_t need_results, args.read_i32("need_results"));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  (void)need_results;
  (void)flags;  // every filter of an empty list is empty
  AMBER_TRY(args.expect_end(name));
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
  reply.write_u32(0);  // no items
  reply.write_u32(0);  // ret: the count
  return {};
}

}  // namespace

Result<void> list_all_networks(protocol::Connection& connection, rpc::XdrReader& args,
                               rpc::XdrWriter& reply) {
  return empty_list(connection, args, reply, "CONNECT_LIST_ALL_NETWORKS");
}

Result<void> list_all_interfaces(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply) {
  return empty_list(connection, args, reply, "CONNECT_LIST_ALL_INTERFACES");
}

Result<void> list_all_node_devices(protocol::Connection& connection, rpc::XdrReader& args,
                                   rpc::XdrWriter& reply) {
  return empty_list(connection, args, reply, "CONNECT_LIST_ALL_NODE_DEVICES");
}

Result<void> list_all_nwfilters(protocol::Connection& connection, rpc::XdrReader& args,
                                rpc::XdrWriter& reply) {
  return empty_list(connection, args, reply, "CONNECT_LIST_ALL_NWFILTERS");
}

Result<void> num_of_networks(protocol::Connection& connection, rpc::XdrReader& args,
                             rpc::XdrWriter& reply) {
  AMBER_TRY(args.expect_end("CONNECT_NUM_OF_NETWORKS"));
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
  reply.write_i32(0);
  return {};
}

Result<void> node_num_of_devices(protocol::Connection& connection, rpc::XdrReader& args,
                                 rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(auto cap, args.read_optional_string("cap", 4096));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  (void)cap;
  (void)flags;
  AMBER_TRY(args.expect_end("NODE_NUM_OF_DEVICES"));
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
  reply.write_i32(0);
  return {};
}

}  // namespace amber::driver::dispatch
