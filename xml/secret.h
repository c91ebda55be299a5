// SPDX-License-Identifier: GPL-2.0-or-later
// libvirt's secret XML (<secret ephemeral= private=> with <uuid>,
// <description> and <usage type=...>) to and from a plain struct, as
// libvirt's secret_conf.c reads and writes it: the format always writes
// both attributes, the UUID, the description when there is one and the
// usage unless it is 'none'. The value of a secret is never part of its
// XML.
//
// Errors: kCorrupt "XML error: ..." (malformed document, bad uuid, bad
// yes/no, a usage without its id) -> VIR_ERR_XML_ERROR; kUnsupported
// "unsupported configuration: ..." (an unknown usage type, an element or
// attribute libvirt's schema does not have) -> VIR_ERR_CONFIG_UNSUPPORTED.
//
// Thread-safety: pure functions on values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "xml/domain/domain.h"

namespace amber::xml {

// virSecretUsageType (libvirt-secret.h); the numbers travel on the wire.
enum class SecretUsageType : int {
  kNone = 0,
  kVolume = 1,  // <volume>PATH</volume>
  kCeph = 2,    // <name>NAME</name>
  kIscsi = 3,   // <target>IQN</target>
  kTls = 4,     // <name>NAME</name>
  kVtpm = 5,    // <name>NAME</name>
};

// "none", "volume", "ceph", "iscsi", "tls", "vtpm".
std::string_view to_string(SecretUsageType type);
std::optional<SecretUsageType> secret_usage_type_from_string(std::string_view text);
// A virSecretUsageType number from the wire, if it names a type.
std::optional<SecretUsageType> secret_usage_type_from_int(int value);

struct Secret {
  Uuid uuid;
  bool ephemeral = false;      // kept in memory only, never written to disk
  bool private_value = false;  // the value is never revealed to a caller
  std::optional<std::string> description;
  SecretUsageType usage_type = SecretUsageType::kNone;
  std::string usage_id;  // "" for kNone
  // Whether <uuid> was given; a secret without one gets a random UUID.
  bool uuid_given = true;
};

Result<Secret> parse_secret(std::string_view xml);
std::string format_secret(const Secret& secret);

// VIR_SECRET_DEFINE_VALIDATE: libvirt's schema check (kCorrupt with the
// schema's messages, kNotFound when the schema is not installed).
inline constexpr const char* kSecretSchemaPath = "/usr/share/libvirt/schemas/secret.rng";
Result<void> validate_secret(std::string_view xml,
                             const std::string& schema_path = kSecretSchemaPath);

}  // namespace amber::xml
