#include "driver/protocol/procedures.h"

#include <algorithm>
#include <array>

#include "driver/protocol/limits.h"

namespace amber::driver::protocol {
namespace {

constexpr Priority kHigh = Priority::kHigh;
constexpr Priority kNormal = Priority::kNormal;
constexpr Access kRo = Access::kReadOnlyAllowed;
constexpr Access kRw = Access::kReadWriteOnly;

// Sorted by number (a test checks it), so lookup is a binary search.
// Handlers stay null until the server (a later step) supplies them.
constexpr std::array kRemote = {
    Procedure{1, "REMOTE_PROC_CONNECT_OPEN", "remote_connect_open_args", "-", kHigh, kRo, nullptr},
    Procedure{2, "REMOTE_PROC_CONNECT_CLOSE", "-", "-", kHigh, kRo, nullptr},
    Procedure{3, "REMOTE_PROC_CONNECT_GET_TYPE", "-", "remote_connect_get_type_ret", kHigh, kRo,
              nullptr},
    Procedure{4, "REMOTE_PROC_CONNECT_GET_VERSION", "-", "remote_connect_get_version_ret", kHigh,
              kRo, nullptr},
    Procedure{5, "REMOTE_PROC_CONNECT_GET_MAX_VCPUS", "remote_connect_get_max_vcpus_args",
              "remote_connect_get_max_vcpus_ret", kHigh, kRo, nullptr},
    Procedure{6, "REMOTE_PROC_NODE_GET_INFO", "-", "remote_node_get_info_ret", kHigh, kRo, nullptr},
    Procedure{7, "REMOTE_PROC_CONNECT_GET_CAPABILITIES", "-", "remote_connect_get_capabilities_ret",
              kNormal, kRo, nullptr},
    Procedure{59, "REMOTE_PROC_CONNECT_GET_HOSTNAME", "-", "remote_connect_get_hostname_ret", kHigh,
              kRo, nullptr},
    Procedure{60, "REMOTE_PROC_CONNECT_SUPPORTS_FEATURE", "remote_connect_supports_feature_args",
              "remote_connect_supports_feature_ret", kHigh, kRo, nullptr},
    Procedure{66, "REMOTE_PROC_AUTH_LIST", "-", "remote_auth_list_ret", kHigh, kRo, nullptr},
    Procedure{102, "REMOTE_PROC_NODE_GET_FREE_MEMORY", "-", "remote_node_get_free_memory_ret",
              kHigh, kRo, nullptr},
    Procedure{110, "REMOTE_PROC_CONNECT_GET_URI", "-", "remote_connect_get_uri_ret", kHigh, kRo,
              nullptr},
    Procedure{149, "REMOTE_PROC_CONNECT_IS_SECURE", "-", "remote_connect_is_secure_ret", kHigh, kRo,
              nullptr},
    Procedure{157, "REMOTE_PROC_CONNECT_GET_LIB_VERSION", "-", "remote_connect_get_lib_version_ret",
              kHigh, kRo, nullptr},
    Procedure{203, "REMOTE_PROC_CONNECT_GET_SYSINFO", "remote_connect_get_sysinfo_args",
              "remote_connect_get_sysinfo_ret", kHigh, kRw, nullptr},
    Procedure{273, "REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS", "remote_connect_list_all_domains_args",
              "remote_connect_list_all_domains_ret", kHigh, kRo, nullptr},
    Procedure{342, "REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES",
              "remote_connect_get_domain_capabilities_args",
              "remote_connect_get_domain_capabilities_ret", kNormal, kRo, nullptr},
    Procedure{360, "REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK", "-", "-", kHigh, kRo, nullptr},
    Procedure{361, "REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK", "-", "-", kHigh, kRo, nullptr},
};

// PING and PONG are type=MESSAGE with no body in either direction.
constexpr std::array kKeepalive = {
    Procedure{kKeepalivePing, "KEEPALIVE_PROC_PING", "-", "-", kHigh, kRo, nullptr},
    Procedure{kKeepalivePong, "KEEPALIVE_PROC_PONG", "-", "-", kHigh, kRo, nullptr},
};

const Procedure* find_in(std::span<const Procedure> table, int32_t number) {
  auto it = std::lower_bound(table.begin(), table.end(), number,
                             [](const Procedure& p, int32_t n) { return p.number < n; });
  if (it == table.end() || it->number != number) return nullptr;
  return &*it;
}

}  // namespace

std::span<const Procedure> remote_procedures() { return kRemote; }
std::span<const Procedure> keepalive_procedures() { return kKeepalive; }

const Procedure* find_remote_procedure(int32_t number) { return find_in(kRemote, number); }
const Procedure* find_keepalive_procedure(int32_t number) { return find_in(kKeepalive, number); }

const Procedure* find_procedure(uint32_t program, uint32_t version, int32_t number) {
  if (program == kRemoteProgram && version == kRemoteVersion) return find_remote_procedure(number);
  if (program == kKeepaliveProgram && version == kKeepaliveVersion)
    return find_keepalive_procedure(number);
  return nullptr;
}

}  // namespace amber::driver::protocol
