// SPDX-License-Identifier: GPL-2.0-or-later
// Our error kinds -> libvirt error codes and domains (VIR_ERR_*, VIR_FROM_*),
// so virsh and python3-libvirt print and classify errors as they do with
// libvirtd. The one place where an Error becomes a remote_error.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "driver/protocol/procedure.h"
#include "driver/protocol/remote_error.h"

namespace amber::driver::dispatch {

protocol::RemoteError to_remote_error(const Error& error);
// The same for a procedure of FAMILY. The domain families use the domain
// manager's wording (driver/vm/manager.h): kNotFound is VIR_ERR_NO_DOMAIN
// ("Domain not found: ...") or, for absent metadata, VIR_ERR_NO_DOMAIN_METADATA;
// kLocked is VIR_ERR_OPERATION_INVALID; kCorrupt (from xml/) is
// VIR_ERR_XML_ERROR; kUnsupported is VIR_ERR_CONFIG_UNSUPPORTED (kDomain) or
// VIR_ERR_OPERATION_UNSUPPORTED (kDomainOperation). Messages keep a prefix
// the lower layer already wrote ("XML error: ", "unsupported configuration: ").
// kSecret is libvirt's secret driver: kNotFound VIR_ERR_NO_SECRET, kReadOnly
// VIR_ERR_OPERATION_DENIED, "secret is private" VIR_ERR_INVALID_SECRET, all
// from VIR_FROM_SECRET.
protocol::RemoteError to_remote_error(const Error& error, protocol::ErrorFamily family);

// "unknown procedure: N", shaped as libvirtd sends it (VIR_ERR_RPC from
// VIR_FROM_RPC; the client turns it into VIR_ERR_NO_SUPPORT).
protocol::RemoteError unknown_procedure_error(int32_t procedure);
// "Cannot find program P version V".
protocol::RemoteError unknown_program_error(uint32_t program, uint32_t version);
// A mutating call on the read-only socket.
protocol::RemoteError read_only_error(std::string_view procedure_name);

}  // namespace amber::driver::dispatch
