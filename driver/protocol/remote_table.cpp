// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/protocol/remote_table.h"

#include <algorithm>
#include <array>

#include "driver/dispatch/compat.h"
#include "driver/dispatch/connect.h"
#include "driver/dispatch/console.h"
#include "driver/dispatch/domain.h"
#include "driver/dispatch/events.h"
#include "driver/dispatch/node.h"

namespace amber::driver::protocol {

namespace {

namespace d = dispatch;
constexpr auto kHigh = Priority::kHigh;
constexpr auto kNormal = Priority::kNormal;
constexpr auto kRo = Access::kReadOnlyAllowed;
constexpr auto kRw = Access::kReadWriteOnly;
constexpr auto kDomain = ErrorFamily::kDomain;
constexpr auto kDomainOp = ErrorFamily::kDomainOperation;

// Sorted by number (checked by the unit test); numbers and struct names
// from remote_protocol.x (libvirt 9.0). kRw rows change something and are
// refused on the read-only socket; kNormal rows may wait on a VM, kHigh
// rows answer from memory.
constexpr std::array kProcedures = {
    Procedure{1, "CONNECT_OPEN", "remote_connect_open_args", "-", kHigh, kRo, d::connect_open},
    Procedure{2, "CONNECT_CLOSE", "-", "-", kHigh, kRo, d::connect_close},
    Procedure{3, "CONNECT_GET_TYPE", "-", "remote_connect_get_type_ret", kHigh, kRo, d::get_type},
    Procedure{4, "CONNECT_GET_VERSION", "-", "remote_connect_get_version_ret", kHigh, kRo,
              d::get_version},
    Procedure{5, "CONNECT_GET_MAX_VCPUS", "remote_connect_get_max_vcpus_args",
              "remote_connect_get_max_vcpus_ret", kHigh, kRo, d::get_max_vcpus},
    Procedure{6, "NODE_GET_INFO", "-", "remote_node_get_info_ret", kHigh, kRo, d::node_get_info},
    Procedure{7, "CONNECT_GET_CAPABILITIES", "-", "remote_connect_get_capabilities_ret", kNormal,
              kRo, d::get_capabilities},
    Procedure{9, "DOMAIN_CREATE", "remote_domain_create_args", "-", kNormal, kRw, d::domain_create,
              kDomain},
    Procedure{10, "DOMAIN_CREATE_XML", "remote_domain_create_xml_args",
              "remote_domain_create_xml_ret", kNormal, kRw, d::domain_create_xml, kDomain},
    Procedure{11, "DOMAIN_DEFINE_XML", "remote_domain_define_xml_args",
              "remote_domain_define_xml_ret", kNormal, kRw, d::domain_define_xml, kDomain},
    Procedure{12, "DOMAIN_DESTROY", "remote_domain_destroy_args", "-", kNormal, kRw,
              d::domain_destroy, kDomain},
    Procedure{14, "DOMAIN_GET_XML_DESC", "remote_domain_get_xml_desc_args",
              "remote_domain_get_xml_desc_ret", kNormal, kRo, d::domain_get_xml_desc, kDomain},
    Procedure{15, "DOMAIN_GET_AUTOSTART", "remote_domain_get_autostart_args",
              "remote_domain_get_autostart_ret", kHigh, kRo, d::domain_get_autostart, kDomain},
    Procedure{16, "DOMAIN_GET_INFO", "remote_domain_get_info_args", "remote_domain_get_info_ret",
              kNormal, kRo, d::domain_get_info, kDomain},
    Procedure{17, "DOMAIN_GET_MAX_MEMORY", "remote_domain_get_max_memory_args",
              "remote_domain_get_max_memory_ret", kNormal, kRo, d::domain_get_max_memory, kDomain},
    Procedure{19, "DOMAIN_GET_OS_TYPE", "remote_domain_get_os_type_args",
              "remote_domain_get_os_type_ret", kHigh, kRo, d::domain_get_os_type, kDomain},
    Procedure{21, "CONNECT_LIST_DEFINED_DOMAINS", "remote_connect_list_defined_domains_args",
              "remote_connect_list_defined_domains_ret", kHigh, kRo, d::list_defined_domains},
    Procedure{22, "DOMAIN_LOOKUP_BY_ID", "remote_domain_lookup_by_id_args",
              "remote_domain_lookup_by_id_ret", kHigh, kRo, d::domain_lookup_by_id, kDomain},
    Procedure{23, "DOMAIN_LOOKUP_BY_NAME", "remote_domain_lookup_by_name_args",
              "remote_domain_lookup_by_name_ret", kHigh, kRo, d::domain_lookup_by_name, kDomain},
    Procedure{24, "DOMAIN_LOOKUP_BY_UUID", "remote_domain_lookup_by_uuid_args",
              "remote_domain_lookup_by_uuid_ret", kHigh, kRo, d::domain_lookup_by_uuid, kDomain},
    Procedure{25, "CONNECT_NUM_OF_DEFINED_DOMAINS", "-",
              "remote_connect_num_of_defined_domains_ret", kHigh, kRo, d::num_of_defined_domains},
    Procedure{27, "DOMAIN_REBOOT", "remote_domain_reboot_args", "-", kNormal, kRw, d::domain_reboot,
              kDomainOp},
    Procedure{28, "DOMAIN_RESUME", "remote_domain_resume_args", "-", kNormal, kRw, d::domain_resume,
              kDomain},
    Procedure{29, "DOMAIN_SET_AUTOSTART", "remote_domain_set_autostart_args", "-", kNormal, kRw,
              d::domain_set_autostart, kDomain},
    Procedure{33, "DOMAIN_SHUTDOWN", "remote_domain_shutdown_args", "-", kNormal, kRw,
              d::domain_shutdown, kDomainOp},
    Procedure{34, "DOMAIN_SUSPEND", "remote_domain_suspend_args", "-", kNormal, kRw,
              d::domain_suspend, kDomain},
    Procedure{35, "DOMAIN_UNDEFINE", "remote_domain_undefine_args", "-", kNormal, kRw,
              d::domain_undefine, kDomain},
    Procedure{37, "CONNECT_LIST_DOMAINS", "remote_connect_list_domains_args",
              "remote_connect_list_domains_ret", kHigh, kRo, d::list_domains},
    Procedure{51, "CONNECT_NUM_OF_DOMAINS", "-", "remote_connect_num_of_domains_ret", kHigh, kRo,
              d::num_of_domains},
    Procedure{52, "CONNECT_NUM_OF_NETWORKS", "-", "remote_connect_num_of_networks_ret", kHigh, kRo,
              d::num_of_networks},
    Procedure{59, "CONNECT_GET_HOSTNAME", "-", "remote_connect_get_hostname_ret", kHigh, kRo,
              d::get_hostname},
    Procedure{60, "CONNECT_SUPPORTS_FEATURE", "remote_connect_supports_feature_args",
              "remote_connect_supports_feature_ret", kHigh, kRo, d::supports_feature},
    Procedure{64, "DOMAIN_BLOCK_STATS", "remote_domain_block_stats_args",
              "remote_domain_block_stats_ret", kNormal, kRo, d::domain_block_stats, kDomain},
    Procedure{66, "AUTH_LIST", "-", "remote_auth_list_ret", kHigh, kRo, d::auth_list},
    Procedure{97, "STORAGE_VOL_LOOKUP_BY_PATH", "remote_storage_vol_lookup_by_path_args",
              "remote_storage_vol_lookup_by_path_ret", kHigh, kRo, d::storage_vol_lookup_by_path,
              ErrorFamily::kStorageVolume},
    Procedure{101, "NODE_GET_CELLS_FREE_MEMORY", "remote_node_get_cells_free_memory_args",
              "remote_node_get_cells_free_memory_ret", kHigh, kRo, d::node_get_cells_free_memory},
    Procedure{102, "NODE_GET_FREE_MEMORY", "-", "remote_node_get_free_memory_ret", kHigh, kRo,
              d::node_get_free_memory},
    Procedure{105, "CONNECT_DOMAIN_EVENT_REGISTER", "-", "remote_connect_domain_event_register_ret",
              kHigh, kRo, d::domain_event_register},
    Procedure{106, "CONNECT_DOMAIN_EVENT_DEREGISTER", "-",
              "remote_connect_domain_event_deregister_ret", kHigh, kRo, d::domain_event_deregister},
    Procedure{110, "CONNECT_GET_URI", "-", "remote_connect_get_uri_ret", kHigh, kRo, d::get_uri},
    Procedure{111, "NODE_NUM_OF_DEVICES", "remote_node_num_of_devices_args",
              "remote_node_num_of_devices_ret", kHigh, kRo, d::node_num_of_devices},
    Procedure{150, "DOMAIN_IS_ACTIVE", "remote_domain_is_active_args",
              "remote_domain_is_active_ret", kHigh, kRo, d::domain_is_active, kDomain},
    Procedure{151, "DOMAIN_IS_PERSISTENT", "remote_domain_is_persistent_args",
              "remote_domain_is_persistent_ret", kHigh, kRo, d::domain_is_persistent, kDomain},
    Procedure{157, "CONNECT_GET_LIB_VERSION", "-", "remote_connect_get_lib_version_ret", kHigh, kRo,
              d::get_lib_version},
    Procedure{167, "CONNECT_DOMAIN_EVENT_REGISTER_ANY",
              "remote_connect_domain_event_register_any_args", "-", kHigh, kRo,
              d::domain_event_register_any},
    Procedure{168, "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY",
              "remote_connect_domain_event_deregister_any_args", "-", kHigh, kRo,
              d::domain_event_deregister_any},
    Procedure{183, "DOMAIN_HAS_MANAGED_SAVE_IMAGE", "remote_domain_has_managed_save_image_args",
              "remote_domain_has_managed_save_image_ret", kHigh, kRo,
              d::domain_has_managed_save_image, kDomain},
    Procedure{187, "DOMAIN_SNAPSHOT_NUM", "remote_domain_snapshot_num_args",
              "remote_domain_snapshot_num_ret", kHigh, kRo, d::domain_snapshot_num, kDomain},
    Procedure{194, "DOMAIN_GET_BLOCK_INFO", "remote_domain_get_block_info_args",
              "remote_domain_get_block_info_ret", kNormal, kRo, d::domain_get_block_info, kDomain},
    Procedure{196, "DOMAIN_CREATE_WITH_FLAGS", "remote_domain_create_with_flags_args",
              "remote_domain_create_with_flags_ret", kNormal, kRw, d::domain_create_with_flags,
              kDomain},
    Procedure{200, "DOMAIN_GET_VCPUS_FLAGS", "remote_domain_get_vcpus_flags_args",
              "remote_domain_get_vcpus_flags_ret", kNormal, kRo, d::domain_get_vcpus_flags,
              kDomain},
    Procedure{201, "DOMAIN_OPEN_CONSOLE", "remote_domain_open_console_args", "-", Priority::kNormal,
              kRw, d::domain_open_console},
    Procedure{202, "DOMAIN_IS_UPDATED", "remote_domain_is_updated_args",
              "remote_domain_is_updated_ret", kHigh, kRo, d::domain_is_updated, kDomain},
    Procedure{212, "DOMAIN_GET_STATE", "remote_domain_get_state_args",
              "remote_domain_get_state_ret", kHigh, kRo, d::domain_get_state, kDomain},
    Procedure{227, "NODE_GET_CPU_STATS", "remote_node_get_cpu_stats_args",
              "remote_node_get_cpu_stats_ret", kHigh, kRo, d::node_get_cpu_stats},
    Procedure{228, "NODE_GET_MEMORY_STATS", "remote_node_get_memory_stats_args",
              "remote_node_get_memory_stats_ret", kHigh, kRo, d::node_get_memory_stats},
    Procedure{229, "DOMAIN_GET_CONTROL_INFO", "remote_domain_get_control_info_args",
              "remote_domain_get_control_info_ret", kHigh, kRo, d::domain_get_control_info,
              kDomain},
    Procedure{231, "DOMAIN_UNDEFINE_FLAGS", "remote_domain_undefine_flags_args", "-", kNormal, kRw,
              d::domain_undefine_flags, kDomain},
    Procedure{234, "DOMAIN_DESTROY_FLAGS", "remote_domain_destroy_flags_args", "-", kNormal, kRw,
              d::domain_destroy_flags, kDomain},
    Procedure{243, "DOMAIN_BLOCK_STATS_FLAGS", "remote_domain_block_stats_flags_args",
              "remote_domain_block_stats_flags_ret", kNormal, kRo, d::domain_block_stats_flags,
              kDomain},
    Procedure{245, "DOMAIN_RESET", "remote_domain_reset_args", "-", kNormal, kRw, d::domain_reset,
              kDomain},
    Procedure{258, "DOMAIN_SHUTDOWN_FLAGS", "remote_domain_shutdown_flags_args", "-", kNormal, kRw,
              d::domain_shutdown_flags, kDomainOp},
    Procedure{263, "DOMAIN_GET_DISK_ERRORS", "remote_domain_get_disk_errors_args",
              "remote_domain_get_disk_errors_ret", kNormal, kRo, d::domain_get_disk_errors,
              kDomain},
    Procedure{264, "DOMAIN_SET_METADATA", "remote_domain_set_metadata_args", "-", kNormal, kRw,
              d::domain_set_metadata, kDomain},
    Procedure{265, "DOMAIN_GET_METADATA", "remote_domain_get_metadata_args",
              "remote_domain_get_metadata_ret", kNormal, kRo, d::domain_get_metadata, kDomain},
    Procedure{273, "CONNECT_LIST_ALL_DOMAINS", "remote_connect_list_all_domains_args",
              "remote_connect_list_all_domains_ret", kHigh, kRo, d::list_all_domains},
    Procedure{274, "DOMAIN_LIST_ALL_SNAPSHOTS", "remote_domain_list_all_snapshots_args",
              "remote_domain_list_all_snapshots_ret", kHigh, kRo, d::domain_list_all_snapshots,
              kDomain},
    Procedure{281, "CONNECT_LIST_ALL_STORAGE_POOLS", "remote_connect_list_all_storage_pools_args",
              "remote_connect_list_all_storage_pools_ret", kHigh, kRo, d::list_all_storage_pools},
    Procedure{283, "CONNECT_LIST_ALL_NETWORKS", "remote_connect_list_all_networks_args",
              "remote_connect_list_all_networks_ret", kHigh, kRo, d::list_all_networks},
    Procedure{284, "CONNECT_LIST_ALL_INTERFACES", "remote_connect_list_all_interfaces_args",
              "remote_connect_list_all_interfaces_ret", kHigh, kRo, d::list_all_interfaces},
    Procedure{285, "CONNECT_LIST_ALL_NODE_DEVICES", "remote_connect_list_all_node_devices_args",
              "remote_connect_list_all_node_devices_ret", kHigh, kRo, d::list_all_node_devices},
    Procedure{286, "CONNECT_LIST_ALL_NWFILTERS", "remote_connect_list_all_nwfilters_args",
              "remote_connect_list_all_nwfilters_ret", kHigh, kRo, d::list_all_nwfilters},
    Procedure{316, "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
              "remote_connect_domain_event_callback_register_any_args",
              "remote_connect_domain_event_callback_register_any_ret", kHigh, kRo,
              d::domain_event_callback_register_any},
    Procedure{317, "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY",
              "remote_connect_domain_event_callback_deregister_any_args", "-", kHigh, kRo,
              d::domain_event_callback_deregister_any},
    Procedure{342, "CONNECT_GET_DOMAIN_CAPABILITIES", "remote_connect_get_domain_capabilities_args",
              "remote_connect_get_domain_capabilities_ret", Priority::kNormal, kRo,
              d::get_domain_capabilities},
    Procedure{344, "CONNECT_GET_ALL_DOMAIN_STATS", "remote_connect_get_all_domain_stats_args",
              "remote_connect_get_all_domain_stats_ret", kNormal, kRo, d::get_all_domain_stats,
              kDomainOp},
    Procedure{350, "DOMAIN_DEFINE_XML_FLAGS", "remote_domain_define_xml_flags_args",
              "remote_domain_define_xml_flags_ret", kNormal, kRw, d::domain_define_xml_flags,
              kDomain},
    Procedure{353, "DOMAIN_INTERFACE_ADDRESSES", "remote_domain_interface_addresses_args",
              "remote_domain_interface_addresses_ret", kNormal, kRo, d::domain_interface_addresses,
              kDomain},
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
