// SPDX-License-Identifier: GPL-2.0-or-later
// The secret procedures (virsh secret-*, virSecret* in python3-libvirt):
// lookups by UUID and usage, the list calls, define / undefine, the XML
// description, values, and secret event registration. The work is
// driver/secret/store.h's; errors use ErrorFamily::kSecret.
//
// SECRET_GET_VALUE is refused on the read-only socket here, with
// libvirt's own words ("read only access prevents virSecretGetValue"), and
// for a private secret ("secret is private", VIR_ERR_INVALID_SECRET).
//
// Thread-safety: called by the dispatcher; see procedure.h.
#pragma once

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

using protocol::Connection;
using rpc::XdrReader;
using rpc::XdrWriter;

Result<void> num_of_secrets(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> list_secrets(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> list_all_secrets(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_lookup_by_uuid(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_lookup_by_usage(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_define_xml(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_get_xml_desc(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_set_value(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_get_value(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_undefine(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_event_register_any(Connection& connection, XdrReader& args, XdrWriter& reply);
Result<void> secret_event_deregister_any(Connection& connection, XdrReader& args, XdrWriter& reply);

}  // namespace amber::driver::dispatch
