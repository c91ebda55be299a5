// SPDX-License-Identifier: GPL-2.0-or-later
// XDR of the structs every domain procedure shares: remote_nonnull_domain,
// remote_uuid and remote_typed_param (libvirt's remote_protocol.x), and the
// argument decoding helpers of the domain handlers.
//
// A malformed argument is the client's fault, not an XML or config error:
// the decoders here report it as kInvalidArgument so that the domain error
// families (dispatch/errors.h) never show it as VIR_ERR_XML_ERROR.
//
// Thread-safety: pure functions over one reader or writer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "driver/protocol/procedure.h"
#include "driver/vm/manager.h"

namespace amber::driver::dispatch {

// remote_typed_param_value's discriminants (virTypedParameterType).
enum class TypedParamType : int32_t {
  kInt = 1,
  kUInt = 2,
  kLLong = 3,
  kULLong = 4,
  kDouble = 5,
  kBoolean = 6,
  kString = 7,
};

struct TypedParam {
  std::string field;
  TypedParamType type = TypedParamType::kULLong;
  int64_t integer = 0;  // every integer and boolean type
  double real = 0;
  std::string text;
  bool operator==(const TypedParam&) const = default;

  static TypedParam int32(std::string field, int32_t value);
  static TypedParam uint32(std::string field, uint32_t value);
  static TypedParam int64(std::string field, int64_t value);
  static TypedParam uint64(std::string field, uint64_t value);
  static TypedParam string(std::string field, std::string value);
};

// Upper bounds from remote_protocol.x.
inline constexpr uint32_t kTypedParamFieldMax = 80;  // VIR_TYPED_PARAM_FIELD_LENGTH
inline constexpr uint32_t kBlockStatsParametersMax = 16;
inline constexpr uint32_t kDomainStatsParamsMax =
    262144;  // REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX
inline constexpr uint32_t kDomainDiskErrorsMax = 256;

Result<vm::DomainRef> read_domain(rpc::XdrReader& reader);
void write_domain(rpc::XdrWriter& writer, const vm::DomainRef& domain);
Result<xml::Uuid> read_uuid(rpc::XdrReader& reader);
void write_uuid(rpc::XdrWriter& writer, const xml::Uuid& uuid);

void write_typed_param(rpc::XdrWriter& writer, const TypedParam& param);
void write_typed_params(rpc::XdrWriter& writer, const std::vector<TypedParam>& params);
Result<TypedParam> read_typed_param(rpc::XdrReader& reader);

// Argument readers: the XdrReader's, with kCorrupt turned into
// kInvalidArgument (see above).
Result<uint32_t> arg_u32(rpc::XdrReader& reader, std::string_view field);
Result<int32_t> arg_i32(rpc::XdrReader& reader, std::string_view field);
Result<uint64_t> arg_u64(rpc::XdrReader& reader, std::string_view field);
Result<std::string> arg_string(rpc::XdrReader& reader, std::string_view field);
Result<std::optional<std::string>> arg_optional_string(rpc::XdrReader& reader,
                                                       std::string_view field);
Result<void> arg_end(rpc::XdrReader& reader, std::string_view procedure);

// The connection's manager, or kInternal when the daemon runs without one;
// kInvalidArgument before CONNECT_OPEN.
Result<vm::Manager*> manager_of(const protocol::Connection& connection);

}  // namespace amber::driver::dispatch
