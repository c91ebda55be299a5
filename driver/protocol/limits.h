// SPDX-License-Identifier: GPL-2.0-or-later
// Program numbers and wire limits of the libvirt REMOTE and KEEPALIVE
// programs (remote_protocol.x, virkeepaliveprotocol.x, libvirt 9.0).
//
// Thread-safety: constants only.
#pragma once

#include <cstdint>

namespace amber::driver::protocol {

inline constexpr uint32_t kRemoteProgram = 0x20008086;
inline constexpr uint32_t kRemoteVersion = 1;
inline constexpr uint32_t kKeepaliveProgram = 0x6b656570;  // "keep"
inline constexpr uint32_t kKeepaliveVersion = 1;
inline constexpr int32_t kKeepalivePing = 1;
inline constexpr int32_t kKeepalivePong = 2;

// REMOTE_STRING_MAX: the longest string (an XML document) a client may send.
inline constexpr uint32_t kStringMax = 4194304;
// REMOTE_DOMAIN_LIST_MAX: the most domains one list reply may carry.
inline constexpr uint32_t kDomainListMax = 16384;
// REMOTE_AUTH_TYPE_LIST_MAX.
inline constexpr uint32_t kAuthTypeListMax = 20;
// REMOTE_NODE_MEMORY_STATS_MAX.
inline constexpr uint32_t kNodeMemoryStatsMax = 16;

}  // namespace amber::driver::protocol
