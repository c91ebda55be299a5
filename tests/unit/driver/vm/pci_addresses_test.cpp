// SPDX-License-Identifier: GPL-2.0-or-later
// The PCI addresses define gives a domain, in libvirt's golden style:
// tests/data/pci/in/NAME.xml -> out/NAME.xml (the inactive XML after
// assign_pci_addresses). AMBER_REGENERATE=1 rewrites the out/ files.
#include "driver/vm/pci_addresses.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "driver/vm/launch.h"

namespace amber::driver::vm {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

xml::Domain parse(const std::string& name) {
  auto domain = xml::parse_domain(read_text(fs::path(AMBER_PCI_TEST_DATA) / "in" / name));
  EXPECT_TRUE(domain.ok()) << domain.error().message();
  return domain.ok() ? *domain : xml::Domain{};
}

TEST(PciAddressGolden, DomainsWithoutAddressesGetLibvirts) {
  const bool regenerate = std::getenv("AMBER_REGENERATE") != nullptr;
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(fs::path(AMBER_PCI_TEST_DATA) / "in"))
    cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  ASSERT_GE(cases.size(), 3u);
  for (const fs::path& in : cases) {
    SCOPED_TRACE(in.filename().string());
    xml::Domain domain = parse(in.filename().string());
    ASSERT_TRUE(assign_pci_addresses(domain).ok());
    const std::string actual = xml::format_domain(domain, xml::FormatFlags::kInactive);
    const fs::path out = fs::path(AMBER_PCI_TEST_DATA) / "out" / in.filename();
    if (regenerate) {
      std::ofstream(out) << actual;
      continue;
    }
    EXPECT_EQ(actual, read_text(out));
    // Stable: the stored XML read back gets nothing new.
    auto again = xml::parse_domain(actual);
    ASSERT_TRUE(again.ok());
    ASSERT_TRUE(assign_pci_addresses(*again).ok());
    EXPECT_EQ(xml::format_domain(*again, xml::FormatFlags::kInactive), actual);
  }
}

TEST(PciAddress, TheSlotsAreLibvirtsOrder) {
  xml::Domain domain = parse("desktop.xml");
  ASSERT_TRUE(assign_pci_addresses(domain).ok());
  const xml::Devices& d = domain.devices;
  EXPECT_EQ(d.videos[0].address->slot, 2u);
  EXPECT_EQ(d.interfaces[0].address->slot, 3u);
  EXPECT_EQ(d.interfaces[1].address->slot, 4u);
  for (const xml::Controller& c : d.controllers) {
    ASSERT_TRUE(c.address.has_value()) << c.type;
    const uint64_t want = c.type == "scsi" ? 0x50 : c.type == "ide" ? 0x11 : 0x12;
    EXPECT_EQ(c.address->slot << 4 | c.address->function, want) << c.type;
  }
  EXPECT_EQ(d.disks[0].address->slot, 6u);
  EXPECT_EQ(d.disks[1].address->slot, 7u);
  EXPECT_FALSE(d.disks[2].address.has_value());  // SCSI: a drive address
  EXPECT_FALSE(d.disks[3].address.has_value());  // IDE

  xml::Domain partial = parse("partial.xml");
  ASSERT_TRUE(assign_pci_addresses(partial).ok());
  EXPECT_EQ(partial.devices.interfaces[0].address->slot, 2u);
  EXPECT_EQ(partial.devices.videos[0].address->slot, 3u);  // 02 was taken
  EXPECT_EQ(partial.devices.interfaces[1].address->slot, 4u);
  EXPECT_EQ(partial.devices.disks[0].address->slot, 7u);
  EXPECT_EQ(partial.devices.disks[1].address->slot, 5u);
}

TEST(PciAddress, ADefinitionStoredEarlierKeepsAmberVmmsSlots) {
  // Before define assigned addresses amber-vmm placed the video at 02, the
  // virtio disks from 03 in boot order, the SCSI controller, then the NICs.
  xml::Domain domain = parse("desktop.xml");
  domain.devices.disks[1].boot_order = 1;  // vdb boots first: slot 3
  domain.devices.disks[0].boot_order = 2;
  keep_earlier_amber_vmm_slots(domain);
  ASSERT_TRUE(assign_pci_addresses(domain).ok());
  const xml::Devices& d = domain.devices;
  EXPECT_EQ(d.videos[0].address->slot, 2u);
  EXPECT_EQ(d.disks[1].address->slot, 3u);
  EXPECT_EQ(d.disks[0].address->slot, 4u);
  for (const xml::Controller& c : d.controllers) {
    if (c.type == "scsi") {
      EXPECT_EQ(c.address->slot, 5u);
    }
  }
  EXPECT_EQ(d.interfaces[0].address->slot, 6u);
  EXPECT_EQ(d.interfaces[1].address->slot, 7u);

  // Addresses it already has stay; a domain plan_launch refuses is left to
  // libvirt's assignment.
  xml::Domain partial = parse("partial.xml");
  keep_earlier_amber_vmm_slots(partial);
  EXPECT_EQ(partial.devices.disks[0].address->slot, 7u);
  EXPECT_EQ(partial.devices.interfaces[0].address->slot, 2u);
  xml::Domain refused = parse("headless.xml");
  refused.devices.disks[0].source.reset();
  keep_earlier_amber_vmm_slots(refused);
  EXPECT_FALSE(refused.devices.disks[0].address.has_value());
}

TEST(PciAddress, DoubleUseIsRefusedAtDefineAndStart) {
  xml::Domain domain = parse("partial.xml");
  domain.devices.disks[1].address = xml::PciAddress{0, 0, 7, 0};
  auto assigned = assign_pci_addresses(domain);
  ASSERT_FALSE(assigned.ok());
  EXPECT_EQ(assigned.error().message(),
            "XML error: Attempted double use of PCI Address 0000:00:07.0");
  LaunchContext context;
  context.vnc_port = 5900;
  auto plan = plan_launch(domain, context);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message(), assigned.error().message());
}

TEST(PciAddress, AFullBusIsRefused) {
  xml::Domain domain = parse("headless.xml");
  for (unsigned i = 0; i < 31; ++i) {
    xml::Interface nic;
    nic.mac = "52:54:00:00:00:" + std::to_string(10 + i);
    domain.devices.interfaces.push_back(nic);
  }
  auto assigned = assign_pci_addresses(domain);
  ASSERT_FALSE(assigned.ok());
  EXPECT_EQ(assigned.error().message(), "No more available PCI slots");
}

}  // namespace
}  // namespace amber::driver::vm
