// SPDX-License-Identifier: GPL-2.0-or-later
// The REMOTE domain event MESSAGEs (remote_protocol.x, libvirt 9.0): which
// registration an event belongs to, and the whole frame a registration
// receives, in the callback form (DOMAIN_EVENT_CALLBACK_*, carrying the
// callback id) or the legacy form (DOMAIN_EVENT_*, for REGISTER and
// REGISTER_ANY without the callback feature).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "driver/rpc/xdr.h"
#include "driver/vm/manager.h"

namespace amber::driver::protocol {

// VIR_DOMAIN_EVENT_ID_* this daemon can deliver.
inline constexpr int32_t kEventIdLifecycle = 0;
inline constexpr int32_t kEventIdReboot = 1;
inline constexpr int32_t kEventIdIoError = 4;
inline constexpr int32_t kEventIdIoErrorReason = 6;
// Every VIR_DOMAIN_EVENT_ID_* libvirt 9.0 knows (0..26) may be registered;
// ids we never raise simply never fire, as with libvirtd and a driver
// that lacks the event.
inline constexpr int32_t kEventIdCount = 27;

// Message procedures, legacy and callback forms.
inline constexpr int32_t kProcEventLifecycle = 107;
inline constexpr int32_t kProcEventReboot = 169;
inline constexpr int32_t kProcEventIoError = 172;
inline constexpr int32_t kProcEventIoErrorReason = 195;
inline constexpr int32_t kProcEventCallbackLifecycle = 318;
inline constexpr int32_t kProcEventCallbackReboot = 319;
inline constexpr int32_t kProcEventCallbackIoError = 322;
inline constexpr int32_t kProcEventCallbackIoErrorReason = 324;

// remote_nonnull_domain.
void write_domain(rpc::XdrWriter& writer, const vm::DomainRef& domain);
Result<vm::DomainRef> read_domain(rpc::XdrReader& reader);

// The domain an event is about.
const vm::DomainRef& event_domain(const vm::DomainEvent& event);

// Whether a registration for `event_id` receives `event` (an I/O error is
// seen by both IO_ERROR and IO_ERROR_REASON registrations).
bool event_matches(const vm::DomainEvent& event, int32_t event_id);

// The MESSAGE frame (length word included) that a registration for
// `event_id` receives: the callback form when `callback_id` is set, the
// legacy form otherwise. Call only when event_matches().
std::vector<uint8_t> encode_event_message(const vm::DomainEvent& event, int32_t event_id,
                                          std::optional<int32_t> callback_id);

}  // namespace amber::driver::protocol
