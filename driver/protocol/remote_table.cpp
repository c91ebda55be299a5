// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/remote_table.h"

#include <algorithm>
#include <array>

#include "driver/dispatch/connect.h"
#include "driver/dispatch/console.h"
#include "driver/dispatch/events.h"
#include "driver/dispatch/node.h"

namespace amber::driver::protocol {

namespace {

namespace d = dispatch;
constexpr auto kHigh = Priority::kHigh;
constexpr auto kRo = Access::kReadOnlyAllowed;
constexpr auto kRw = Access::kReadWriteOnly;

// Sorted by number (checked by the unit test); numbers and struct names
// from remote_protocol.x (libvirt 9.0). Everything here is read-only safe.
constexpr std::array kProcedures = {
    Procedure{1, "CONNECT_OPEN", "remote_connect_open_args", "-", kHigh, kRo, d::connect_open},
    Procedure{2, "CONNECT_CLOSE", "-", "-", kHigh, kRo, d::connect_close},
    Procedure{3, "CONNECT_GET_TYPE", "-", "remote_connect_get_type_ret", kHigh, kRo, d::get_type},
    Procedure{4, "CONNECT_GET_VERSION", "-", "remote_connect_get_version_ret", kHigh, kRo,
              d::get_version},
    Procedure{6, "NODE_GET_INFO", "-", "remote_node_get_info_ret", kHigh, kRo, d::node_get_info},
    Procedure{7, "CONNECT_GET_CAPABILITIES", "-", "remote_connect_get_capabilities_ret",
              Priority::kNormal, kRo, d::get_capabilities},
    Procedure{21, "CONNECT_LIST_DEFINED_DOMAINS", "remote_connect_list_defined_domains_args",
              "remote_connect_list_defined_domains_ret", kHigh, kRo, d::list_defined_domains},
    Procedure{25, "CONNECT_NUM_OF_DEFINED_DOMAINS", "-",
              "remote_connect_num_of_defined_domains_ret", kHigh, kRo, d::num_of_domains},
    Procedure{37, "CONNECT_LIST_DOMAINS", "remote_connect_list_domains_args",
              "remote_connect_list_domains_ret", kHigh, kRo, d::list_domains},
    Procedure{51, "CONNECT_NUM_OF_DOMAINS", "-", "remote_connect_num_of_domains_ret", kHigh, kRo,
              d::num_of_domains},
    Procedure{59, "CONNECT_GET_HOSTNAME", "-", "remote_connect_get_hostname_ret", kHigh, kRo,
              d::get_hostname},
    Procedure{60, "CONNECT_SUPPORTS_FEATURE", "remote_connect_supports_feature_args",
              "remote_connect_supports_feature_ret", kHigh, kRo, d::supports_feature},
    Procedure{66, "AUTH_LIST", "-", "remote_auth_list_ret", kHigh, kRo, d::auth_list},
    Procedure{105, "CONNECT_DOMAIN_EVENT_REGISTER", "-", "remote_connect_domain_event_register_ret",
              kHigh, kRo, d::domain_event_register},
    Procedure{106, "CONNECT_DOMAIN_EVENT_DEREGISTER", "-",
              "remote_connect_domain_event_deregister_ret", kHigh, kRo, d::domain_event_deregister},
    Procedure{110, "CONNECT_GET_URI", "-", "remote_connect_get_uri_ret", kHigh, kRo, d::get_uri},
    Procedure{157, "CONNECT_GET_LIB_VERSION", "-", "remote_connect_get_lib_version_ret", kHigh, kRo,
              d::get_lib_version},
    Procedure{167, "CONNECT_DOMAIN_EVENT_REGISTER_ANY",
              "remote_connect_domain_event_register_any_args", "-", kHigh, kRo,
              d::domain_event_register_any},
    Procedure{168, "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY",
              "remote_connect_domain_event_deregister_any_args", "-", kHigh, kRo,
              d::domain_event_deregister_any},
    Procedure{201, "DOMAIN_OPEN_CONSOLE", "remote_domain_open_console_args", "-", Priority::kNormal,
              kRw, d::domain_open_console},
    Procedure{273, "CONNECT_LIST_ALL_DOMAINS", "remote_connect_list_all_domains_args",
              "remote_connect_list_all_domains_ret", kHigh, kRo, d::list_all_domains},
    Procedure{316, "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
              "remote_connect_domain_event_callback_register_any_args",
              "remote_connect_domain_event_callback_register_any_ret", kHigh, kRo,
              d::domain_event_callback_register_any},
    Procedure{317, "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY",
              "remote_connect_domain_event_callback_deregister_any_args", "-", kHigh, kRo,
              d::domain_event_callback_deregister_any},
    Procedure{360, "CONNECT_REGISTER_CLOSE_CALLBACK", "-", "-", kHigh, kRo,
              d::register_close_callback},
    Procedure{361, "CONNECT_UNREGISTER_CLOSE_CALLBACK", "-", "-", kHigh, kRo,
              d::unregister_close_callback},
};

}  // namespace

std::span<const Procedure> remote_procedures() {
  return kProcedures;
}

const Procedure* find_remote_procedure(int32_t number) {
  auto it = std::lower_bound(
      kProcedures.begin(), kProcedures.end(), number,
      [](const Procedure& procedure, int32_t value) { return procedure.number < value; });
  if (it == kProcedures.end() || it->number != number) return nullptr;
  return &*it;
}

}  // namespace amber::driver::protocol
