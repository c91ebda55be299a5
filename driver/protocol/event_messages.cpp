// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/event_messages.h"

#include "driver/protocol/limits.h"
#include "driver/rpc/packet.h"

namespace amber::driver::protocol {

namespace {

// Domain names on the wire are remote_nonnull_string; a name longer than
// this cannot be a domain we defined (our names are file names).
constexpr uint32_t kDomainNameMax = 4096;

std::vector<uint8_t> message_frame(int32_t procedure, const rpc::XdrWriter& body) {
  rpc::PacketHeader header;
  header.program = kRemoteProgram;
  header.version = kRemoteVersion;
  header.procedure = procedure;
  header.type = rpc::PacketType::kMessage;
  header.serial = 0;
  header.status = rpc::PacketStatus::kOk;
  return rpc::encode_frame(header, body.bytes());
}

template <typename... Ts>
struct Overload : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overload(Ts...) -> Overload<Ts...>;

}  // namespace

void write_domain(rpc::XdrWriter& writer, const vm::DomainRef& domain) {
  writer.write_string(domain.name);
  writer.write_opaque_fixed(domain.uuid.bytes);
  writer.write_i32(domain.id);
}

Result<vm::DomainRef> read_domain(rpc::XdrReader& reader) {
  vm::DomainRef domain;
  AMBER_TRY_ASSIGN(domain.name, reader.read_string("dom.name", kDomainNameMax));
  AMBER_TRY_ASSIGN(auto uuid, reader.read_opaque_fixed("dom.uuid", domain.uuid.bytes.size()));
  std::copy(uuid.begin(), uuid.end(), domain.uuid.bytes.begin());
  AMBER_TRY_ASSIGN(domain.id, reader.read_i32("dom.id"));
  return domain;
}

const vm::DomainRef& event_domain(const vm::DomainEvent& event) {
  return std::visit([](const auto& e) -> const vm::DomainRef& { return e.domain; }, event);
}

bool event_matches(const vm::DomainEvent& event, int32_t event_id) {
  return std::visit(Overload{
                        [&](const vm::LifecycleEvent&) { return event_id == kEventIdLifecycle; },
                        [&](const vm::RebootEvent&) { return event_id == kEventIdReboot; },
                        [&](const vm::IoErrorEvent&) {
                          return event_id == kEventIdIoError || event_id == kEventIdIoErrorReason;
                        },
                    },
                    event);
}

std::vector<uint8_t> encode_event_message(const vm::DomainEvent& event, int32_t event_id,
                                          std::optional<int32_t> callback_id) {
  rpc::XdrWriter body;
  if (callback_id) body.write_i32(*callback_id);
  const bool callback = callback_id.has_value();
  int32_t procedure = 0;
  std::visit(Overload{
                 [&](const vm::LifecycleEvent& e) {
                   procedure = callback ? kProcEventCallbackLifecycle : kProcEventLifecycle;
                   write_domain(body, e.domain);
                   body.write_i32(e.event);
                   body.write_i32(e.detail);
                 },
                 [&](const vm::RebootEvent& e) {
                   procedure = callback ? kProcEventCallbackReboot : kProcEventReboot;
                   write_domain(body, e.domain);
                 },
                 [&](const vm::IoErrorEvent& e) {
                   const bool with_reason = event_id == kEventIdIoErrorReason;
                   if (with_reason) {
                     procedure =
                         callback ? kProcEventCallbackIoErrorReason : kProcEventIoErrorReason;
                   } else {
                     procedure = callback ? kProcEventCallbackIoError : kProcEventIoError;
                   }
                   write_domain(body, e.domain);
                   body.write_string(e.src_path);
                   body.write_string(e.dev_alias);
                   body.write_i32(e.action);
                   if (with_reason) body.write_string(e.reason);
                 },
             },
             event);
  return message_frame(procedure, body);
}

}  // namespace amber::driver::protocol
