// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/domain_xdr.h"

#include <cstring>

#include "driver/protocol/limits.h"

namespace amber::driver::dispatch {

namespace {

template <typename T>
Result<T> as_argument(Result<T> result) {
  if (result.ok() || result.error().kind() != ErrorKind::kCorrupt) return result;
  return Error(ErrorKind::kInvalidArgument, "malformed arguments: " + result.error().message());
}

}  // namespace

TypedParam TypedParam::int32(std::string field, int32_t value) {
  return TypedParam{std::move(field), TypedParamType::kInt, value, 0, {}};
}
TypedParam TypedParam::uint32(std::string field, uint32_t value) {
  return TypedParam{std::move(field), TypedParamType::kUInt, value, 0, {}};
}
TypedParam TypedParam::int64(std::string field, int64_t value) {
  return TypedParam{std::move(field), TypedParamType::kLLong, value, 0, {}};
}
TypedParam TypedParam::uint64(std::string field, uint64_t value) {
  // Stored as the same 64 bits; written back unsigned.
  return TypedParam{std::move(field), TypedParamType::kULLong, static_cast<int64_t>(value), 0, {}};
}
TypedParam TypedParam::string(std::string field, std::string value) {
  return TypedParam{std::move(field), TypedParamType::kString, 0, 0, std::move(value)};
}

Result<xml::Uuid> read_uuid(rpc::XdrReader& reader) {
  AMBER_TRY_ASSIGN(auto bytes, as_argument(reader.read_opaque_fixed("uuid", 16)));
  xml::Uuid uuid;
  std::memcpy(uuid.bytes.data(), bytes.data(), uuid.bytes.size());
  return uuid;
}

void write_uuid(rpc::XdrWriter& writer, const xml::Uuid& uuid) {
  writer.write_opaque_fixed(uuid.bytes);
}

Result<vm::DomainRef> read_domain(rpc::XdrReader& reader) {
  vm::DomainRef domain;
  AMBER_TRY_ASSIGN(domain.name, as_argument(reader.read_string("dom.name", protocol::kStringMax)));
  AMBER_TRY_ASSIGN(domain.uuid, read_uuid(reader));
  AMBER_TRY_ASSIGN(domain.id, as_argument(reader.read_i32("dom.id")));
  return domain;
}

void write_domain(rpc::XdrWriter& writer, const vm::DomainRef& domain) {
  writer.write_string(domain.name);
  write_uuid(writer, domain.uuid);
  writer.write_i32(domain.id);
}

void write_typed_param(rpc::XdrWriter& writer, const TypedParam& param) {
  writer.write_string(param.field);
  writer.write_i32(static_cast<int32_t>(param.type));
  switch (param.type) {
    case TypedParamType::kInt:
    case TypedParamType::kUInt:
    case TypedParamType::kBoolean:
      writer.write_u32(static_cast<uint32_t>(param.integer));
      break;
    case TypedParamType::kLLong:
    case TypedParamType::kULLong:
      writer.write_u64(static_cast<uint64_t>(param.integer));
      break;
    case TypedParamType::kDouble: {
      uint64_t bits = 0;
      std::memcpy(&bits, &param.real, sizeof(bits));
      writer.write_u64(bits);
      break;
    }
    case TypedParamType::kString:
      writer.write_string(param.text);
      break;
  }
}

void write_typed_params(rpc::XdrWriter& writer, const std::vector<TypedParam>& params) {
  writer.write_u32(static_cast<uint32_t>(params.size()));
  for (const auto& param : params) write_typed_param(writer, param);
}

Result<TypedParam> read_typed_param(rpc::XdrReader& reader) {
  TypedParam param;
  AMBER_TRY_ASSIGN(param.field, arg_string(reader, "param.field"));
  if (param.field.size() >= kTypedParamFieldMax) {
    return Error(ErrorKind::kInvalidArgument, "typed parameter name too long");
  }
  AMBER_TRY_ASSIGN(int32_t type, arg_i32(reader, "param.type"));
  param.type = static_cast<TypedParamType>(type);
  switch (param.type) {
    case TypedParamType::kInt:
    case TypedParamType::kBoolean: {
      AMBER_TRY_ASSIGN(int32_t value, arg_i32(reader, "param.value"));
      param.integer = value;
      break;
    }
    case TypedParamType::kUInt: {
      AMBER_TRY_ASSIGN(uint32_t value, arg_u32(reader, "param.value"));
      param.integer = value;
      break;
    }
    case TypedParamType::kLLong:
    case TypedParamType::kULLong: {
      AMBER_TRY_ASSIGN(uint64_t value, as_argument(reader.read_u64("param.value")));
      param.integer = static_cast<int64_t>(value);
      break;
    }
    case TypedParamType::kDouble: {
      AMBER_TRY_ASSIGN(uint64_t bits, as_argument(reader.read_u64("param.value")));
      std::memcpy(&param.real, &bits, sizeof(bits));
      break;
    }
    case TypedParamType::kString: {
      AMBER_TRY_ASSIGN(param.text, arg_string(reader, "param.value"));
      break;
    }
    default:
      return Error(ErrorKind::kInvalidArgument,
                   "typed parameter type " + std::to_string(type) + " is unknown");
  }
  return param;
}

Result<uint32_t> arg_u32(rpc::XdrReader& reader, std::string_view field) {
  return as_argument(reader.read_u32(field));
}

Result<int32_t> arg_i32(rpc::XdrReader& reader, std::string_view field) {
  return as_argument(reader.read_i32(field));
}

Result<uint64_t> arg_u64(rpc::XdrReader& reader, std::string_view field) {
  return as_argument(reader.read_u64(field));
}

Result<std::string> arg_string(rpc::XdrReader& reader, std::string_view field) {
  return as_argument(reader.read_string(field, protocol::kStringMax));
}

Result<std::optional<std::string>> arg_optional_string(rpc::XdrReader& reader,
                                                       std::string_view field) {
  return as_argument(reader.read_optional_string(field, protocol::kStringMax));
}

Result<void> arg_end(rpc::XdrReader& reader, std::string_view procedure) {
  return as_argument(reader.expect_end(procedure));
}

Result<vm::Manager*> manager_of(const protocol::Connection& connection) {
  if (!connection.opened) {
    return Error(ErrorKind::kInvalidArgument, "the connection is not open (call CONNECT_OPEN)");
  }
  if (connection.daemon == nullptr || connection.daemon->manager == nullptr) {
    return Error(ErrorKind::kInternal, "the daemon runs without a domain manager");
  }
  return connection.daemon->manager;
}

}  // namespace amber::driver::dispatch
