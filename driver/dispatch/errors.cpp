// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/errors.h"

#include <libvirt/virterror.h>

#include <string>

namespace amber::driver::dispatch {

namespace {

protocol::RemoteError make(int32_t code, int32_t domain, std::string message) {
  protocol::RemoteError error;
  error.code = code;
  error.domain = domain;
  error.message = std::move(message);
  error.level = VIR_ERR_ERROR;
  return error;
}

// MESSAGE with PREFIX in front unless it already starts with it.
std::string prefixed(std::string_view prefix, const std::string& message) {
  if (message.starts_with(prefix)) return message;
  return std::string(prefix) + message;
}

protocol::RemoteError to_domain_error(const Error& error, protocol::ErrorFamily family) {
  const std::string message = error.message();
  switch (error.kind()) {
    case ErrorKind::kNotFound:
      if (message.starts_with("Domain snapshot not found") ||
          message.starts_with("the domain does not have a current snapshot") ||
          message.find("does not have a parent") != std::string::npos) {
        return make(VIR_ERR_NO_DOMAIN_SNAPSHOT, VIR_FROM_DOMAIN_SNAPSHOT, message);
      }
      if (message.starts_with("metadata not found")) {
        return make(VIR_ERR_NO_DOMAIN_METADATA, VIR_FROM_DOMAIN, message);
      }
      return make(VIR_ERR_NO_DOMAIN, VIR_FROM_DOMAIN, prefixed("Domain not found: ", message));
    case ErrorKind::kLocked:
      return make(VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN,
                  prefixed("Requested operation is not valid: ", message));
    case ErrorKind::kCorrupt:
      return make(VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN, prefixed("XML error: ", message));
    case ErrorKind::kUnsupported:
      if (family == protocol::ErrorFamily::kDomainOperation) {
        return make(VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_DOMAIN,
                    prefixed("Operation not supported: ", message));
      }
      return make(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_DOMAIN,
                  prefixed("unsupported configuration: ", message));
    default:
      return to_remote_error(error);
  }
}

// Pools and volumes (driver/storage/pool_manager.h): the manager's
// "Storage pool not found" / "Storage volume not found" prefix picks the
// code whatever the procedure's family; otherwise the family decides.
protocol::RemoteError to_storage_error(const Error& error, protocol::ErrorFamily family) {
  const std::string message = error.message();
  switch (error.kind()) {
    case ErrorKind::kNotFound:
      if (message.starts_with("Storage pool not found") ||
          (family == protocol::ErrorFamily::kStoragePool &&
           !message.starts_with("Storage volume not found"))) {
        return make(VIR_ERR_NO_STORAGE_POOL, VIR_FROM_STORAGE,
                    prefixed("Storage pool not found: ", message));
      }
      return make(VIR_ERR_NO_STORAGE_VOL, VIR_FROM_STORAGE,
                  prefixed("Storage volume not found: ", message));
    case ErrorKind::kLocked:
      return make(VIR_ERR_OPERATION_INVALID, VIR_FROM_STORAGE,
                  prefixed("Requested operation is not valid: ", message));
    case ErrorKind::kCorrupt:
      return make(VIR_ERR_XML_ERROR, VIR_FROM_STORAGE, prefixed("XML error: ", message));
    case ErrorKind::kUnsupported:
      if (message.starts_with("unsupported configuration: ")) {
        return make(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_STORAGE, message);
      }
      return make(VIR_ERR_NO_SUPPORT, VIR_FROM_STORAGE,
                  "this function is not supported by the connection driver: " + message);
    case ErrorKind::kInvalidArgument:
      return make(VIR_ERR_INVALID_ARG, VIR_FROM_STORAGE, "invalid argument: " + message);
    default:
      return to_remote_error(error);
  }
}

// libvirt's secret driver: VIR_FROM_SECRET throughout; a usage or private
// flag conflict is its VIR_ERR_INTERNAL_ERROR; "secret is private"
// (driver/secret/store.h) is VIR_ERR_INVALID_SECRET.
protocol::RemoteError to_secret_error(const Error& error) {
  const std::string message = error.message();
  switch (error.kind()) {
    case ErrorKind::kNotFound:
      return make(VIR_ERR_NO_SECRET, VIR_FROM_SECRET, prefixed("Secret not found: ", message));
    case ErrorKind::kCorrupt:
      return make(VIR_ERR_XML_ERROR, VIR_FROM_SECRET, prefixed("XML error: ", message));
    case ErrorKind::kUnsupported:
      return make(VIR_ERR_CONFIG_UNSUPPORTED, VIR_FROM_SECRET,
                  prefixed("unsupported configuration: ", message));
    case ErrorKind::kLocked:
      return make(VIR_ERR_INTERNAL_ERROR, VIR_FROM_SECRET, prefixed("internal error: ", message));
    case ErrorKind::kReadOnly:
      return make(VIR_ERR_OPERATION_DENIED, VIR_FROM_SECRET,
                  prefixed("operation forbidden: ", message));
    case ErrorKind::kInvalidArgument:
      if (message == "secret is private")
        return make(VIR_ERR_INVALID_SECRET, VIR_FROM_SECRET, "Invalid secret: " + message);
      return make(VIR_ERR_INVALID_ARG, VIR_FROM_SECRET, prefixed("invalid argument: ", message));
    default:
      return to_remote_error(error);
  }
}

}  // namespace

protocol::RemoteError to_remote_error(const Error& error, protocol::ErrorFamily family) {
  if (family == protocol::ErrorFamily::kGeneric) return to_remote_error(error);
  if (family == protocol::ErrorFamily::kSecret) return to_secret_error(error);
  if (family == protocol::ErrorFamily::kStorageVolume ||
      family == protocol::ErrorFamily::kStoragePool) {
    return to_storage_error(error, family);
  }
  return to_domain_error(error, family);
}

protocol::RemoteError to_remote_error(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::kInvalidArgument:
      return make(VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "invalid argument: " + error.message());
    case ErrorKind::kIo:
      return make(VIR_ERR_SYSTEM_ERROR, VIR_FROM_NONE, error.message());
    case ErrorKind::kCorrupt:
      return make(VIR_ERR_RPC, VIR_FROM_RPC, error.message());
    case ErrorKind::kUnsupported:
      return make(VIR_ERR_NO_SUPPORT, VIR_FROM_NONE,
                  "this function is not supported by the connection driver: " + error.message());
    case ErrorKind::kNotFound:
      return make(VIR_ERR_NO_DOMAIN, VIR_FROM_DOMAIN, error.message());
    case ErrorKind::kLocked:
      return make(VIR_ERR_OPERATION_INVALID, VIR_FROM_NONE,
                  "Requested operation is not valid: " + error.message());
    case ErrorKind::kReadOnly:
      return make(VIR_ERR_OPERATION_DENIED, VIR_FROM_NONE,
                  "operation forbidden: " + error.message());
    case ErrorKind::kOutOfRange:
      return make(VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "invalid argument: " + error.message());
    case ErrorKind::kNoSpace:
      return make(VIR_ERR_OPERATION_FAILED, VIR_FROM_NONE, "operation failed: " + error.message());
    case ErrorKind::kInternal:
      break;
  }
  return make(VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, "internal error: " + error.message());
}

protocol::RemoteError unknown_procedure_error(int32_t procedure) {
  return make(VIR_ERR_RPC, VIR_FROM_RPC, "unknown procedure: " + std::to_string(procedure));
}

protocol::RemoteError unknown_program_error(uint32_t program, uint32_t version) {
  return make(
      VIR_ERR_RPC, VIR_FROM_RPC,
      "Cannot find program " + std::to_string(program) + " version " + std::to_string(version));
}

protocol::RemoteError read_only_error(std::string_view procedure_name) {
  return make(VIR_ERR_OPERATION_DENIED, VIR_FROM_RPC,
              "operation forbidden: " + std::string(procedure_name) +
                  " is not allowed on a read-only connection");
}

}  // namespace amber::driver::dispatch
