// SPDX-License-Identifier: GPL-2.0-or-later
// The SMBIOS part of the launch plan: <os><smbios mode='sysinfo'/> with
// <sysinfo type='smbios'> becomes amber-vmm's --smbios type=0/1/2/3 with
// QEMU's keys, as libvirt's QEMU driver writes -smbios
// (qemuBuildSmbiosBiosStr, ...SystemStr, ...BaseBoardStr, ...ChassisStr).
// mode='emulate' and no mode give QEMU's own strings; the domain's <uuid>
// reaches type 1 through --uuid in every mode.
//
// Thread-safety: pure function over values.
#include "driver/vm/launch.h"

namespace amber::driver::vm {
namespace {

using Field = std::string vmmctl::SmbiosSettings::*;

struct Key {
  const char* name;  // the schema's entry name = QEMU's -smbios key
  Field field;       // nullptr: amber-vmm has no such key
};

struct Block {
  const char* element;
  std::vector<xml::SysinfoEntry> xml::Sysinfo::*entries;
  std::vector<Key> keys;
};

const std::vector<Block>& blocks() {
  using S = vmmctl::SmbiosSettings;
  static const std::vector<Block> table = {
      {"bios",
       &xml::Sysinfo::bios,
       {{"vendor", &S::bios_vendor},
        {"version", &S::bios_version},
        {"date", &S::bios_date},
        {"release", nullptr}}},
      {"system",
       &xml::Sysinfo::system,
       {{"manufacturer", &S::system_manufacturer},
        {"product", &S::system_product},
        {"version", &S::system_version},
        {"serial", &S::system_serial},
        {"sku", &S::system_sku},
        {"family", &S::system_family}}},
      {"baseBoard",
       &xml::Sysinfo::base_board,
       {{"manufacturer", &S::board_manufacturer},
        {"product", &S::board_product},
        {"version", &S::board_version},
        {"serial", &S::board_serial},
        {"asset", &S::board_asset},
        {"location", &S::board_location}}},
      {"chassis",
       &xml::Sysinfo::chassis,
       {{"manufacturer", &S::chassis_manufacturer},
        {"version", &S::chassis_version},
        {"serial", &S::chassis_serial},
        {"asset", &S::chassis_asset},
        {"sku", &S::chassis_sku}}},
  };
  return table;
}

}  // namespace

Result<void> plan_smbios(const xml::Domain& domain, vmmctl::SmbiosSettings& smbios) {
  const std::string mode = domain.os.smbios_mode.value_or("emulate");
  if (mode == "emulate") return ok();
  if (mode != "sysinfo")
    return refuse("/domain/os/smbios/@mode='" + mode + "'",
                  "the host's SMBIOS strings are not passed to guests");
  if (!domain.sysinfo)
    return refuse("/domain/os/smbios/@mode='sysinfo'",
                  "Domain '" + domain.name + "' sysinfo are not available");
  for (const Block& block : blocks()) {
    for (const xml::SysinfoEntry& entry : (*domain.sysinfo).*block.entries) {
      if (block.entries == &xml::Sysinfo::system && entry.name == "uuid")
        continue;  // the domain's <uuid> (checked equal at parse), passed as --uuid
      const Key* key = nullptr;
      for (const Key& k : block.keys)
        if (entry.name == k.name) key = &k;
      const std::string path =
          std::string("/domain/sysinfo/") + block.element + "/entry[@name='" + entry.name + "']";
      if (key == nullptr || key->field == nullptr)
        return refuse(path, "amber-vmm's SMBIOS tables have no such string");
      if (entry.value.size() > vmmctl::kMaxSmbiosString)
        return refuse(path, "an SMBIOS string has at most " +
                                std::to_string(vmmctl::kMaxSmbiosString) + " bytes here");
      smbios.*key->field = entry.value;
    }
  }
  return ok();
}

}  // namespace amber::driver::vm
