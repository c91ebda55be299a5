// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/smbios.h"

#include <cstdio>
#include <utility>

#include "vmmctl/option_list.h"

namespace amber::vmmctl {
namespace {

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

struct Field {
  unsigned type;
  std::string_view key;
  std::string SmbiosSettings::*member;
};

constexpr Field kFields[] = {
    {0, "vendor", &SmbiosSettings::bios_vendor},
    {0, "version", &SmbiosSettings::bios_version},
    {0, "date", &SmbiosSettings::bios_date},
    {1, "manufacturer", &SmbiosSettings::system_manufacturer},
    {1, "product", &SmbiosSettings::system_product},
    {1, "version", &SmbiosSettings::system_version},
    {1, "serial", &SmbiosSettings::system_serial},
    {1, "sku", &SmbiosSettings::system_sku},
    {1, "family", &SmbiosSettings::system_family},
    {2, "manufacturer", &SmbiosSettings::board_manufacturer},
    {2, "product", &SmbiosSettings::board_product},
    {2, "version", &SmbiosSettings::board_version},
    {2, "serial", &SmbiosSettings::board_serial},
    {2, "asset", &SmbiosSettings::board_asset},
    {2, "location", &SmbiosSettings::board_location},
    {3, "manufacturer", &SmbiosSettings::chassis_manufacturer},
    {3, "version", &SmbiosSettings::chassis_version},
    {3, "serial", &SmbiosSettings::chassis_serial},
    {3, "asset", &SmbiosSettings::chassis_asset},
    {3, "sku", &SmbiosSettings::chassis_sku},
};

constexpr std::string_view kKeys[] = {
    "vendor, version, date",
    "manufacturer, product, version, serial, uuid, sku, family",
    "manufacturer, product, version, serial, asset, location",
    "manufacturer, version, serial, asset, sku",
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text) {
  std::array<uint8_t, 16> bytes{};
  const auto refuse = [&text] {
    return bad("--uuid: '" + std::string(text) +
               "' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  };
  if (text.size() != 36) return refuse();
  size_t out = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return refuse();
      ++i;
      continue;
    }
    const int high = hex_digit(text[i]);
    const int low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0 || out == bytes.size()) return refuse();
    bytes[out++] = static_cast<uint8_t>(high << 4 | low);
    i += 2;
  }
  if (out != bytes.size()) return refuse();
  return bytes;
}

std::string format_uuid(const std::array<uint8_t, 16>& b) {
  char text[40];
  std::snprintf(text, sizeof(text),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return text;
}

Result<void> apply_smbios(std::string_view text, SmbiosSettings& settings, std::string& uuid) {
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--smbios"));
  if (items.empty() || items[0].key != "type")
    return bad("--smbios: the first key must be type=0, 1, 2 or 3");
  const std::string& type_text = items[0].value;
  if (type_text.size() != 1 || type_text[0] < '0' || type_text[0] > '3')
    return bad("--smbios type: '" + type_text + "' is not 0, 1, 2 or 3");
  const unsigned type = static_cast<unsigned>(type_text[0] - '0');
  for (size_t i = 1; i < items.size(); ++i) {
    const auto& [key, value] = items[i];
    if (type == 1 && key == "uuid") {
      AMBER_TRY_ASSIGN(auto bytes, parse_uuid(value));
      uuid = format_uuid(bytes);
      continue;
    }
    const Field* field = nullptr;
    for (const Field& f : kFields)
      if (f.type == type && f.key == key) field = &f;
    if (field == nullptr)
      return bad("--smbios type=" + type_text + ": unknown key '" + key + "' (" +
                 std::string(kKeys[type]) + ")");
    if (value.size() > kMaxSmbiosString)
      return bad("--smbios type=" + type_text + " " + key + ": at most 256 bytes");
    settings.*(field->member) = value;
  }
  return ok();
}

std::vector<std::string> format_smbios(const SmbiosSettings& settings) {
  std::vector<std::string> out;
  for (unsigned type = 0; type <= 3; ++type) {
    std::string text = "type=" + std::to_string(type);
    bool any = false;
    for (const Field& f : kFields) {
      const std::string& value = settings.*(f.member);
      if (f.type != type || value.empty()) continue;
      text += "," + std::string(f.key) + "=" + escape_option_value(value);
      any = true;
    }
    if (any) out.push_back(std::move(text));
  }
  return out;
}

}  // namespace amber::vmmctl
