// SPDX-License-Identifier: GPL-2.0-or-later
// xml/domain: golden round trips (tests/data/xml/in/NAME.xml ->
// out/NAME.xml), refusal of every unsupported element by path, the Windows
// 7 guest virt-manager writes, and RelaxNG validation.
#include "xml/domain/domain.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace amber::xml {
namespace {

const std::string kData = AMBER_XML_DATA;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, RoundTrip) {
  const std::string in = read(kData + "/in/" + GetParam() + ".xml");
  ASSERT_FALSE(in.empty());
  auto domain = parse_domain(in);
  ASSERT_TRUE(domain.ok()) << domain.error().message();
  const std::string formatted = format_domain(*domain);
  const std::string out_path = kData + "/out/" + GetParam() + ".xml";
  if (std::getenv("AMBER_REGENERATE") != nullptr) std::ofstream(out_path) << formatted;
  const std::string out = read(out_path);
  EXPECT_EQ(formatted, out);
  auto again = parse_domain(out);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(format_domain(*again), out);
}

INSTANTIATE_TEST_SUITE_P(Xml, Golden,
                         ::testing::Values("minimal", "full", "win7-amber", "ide", "scsi-sysinfo",
                                           "desktop", "win7-hyperv", "usb2"));

TEST(Domain, FieldsOfTheFullDocument) {
  auto d = parse_domain(read(kData + "/in/full.xml"));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->uuid.to_string(), "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
  EXPECT_EQ(d->memory.memory_kib, 2u * 1024 * 1024);
  EXPECT_EQ(d->memory.current_memory_kib, 1536u * 1024);
  ASSERT_EQ(d->memory.pages.size(), 1u);
  EXPECT_EQ(d->memory.pages[0].size_kib, 2048u);
  EXPECT_EQ(d->cpu.vcpus, 4u);
  EXPECT_EQ(d->cpu.current_vcpus, 2u);
  EXPECT_EQ(d->os.machine, "pc-i440fx-5.2");
  EXPECT_EQ(d->clock.offset, ClockOffset::kLocaltime);
  EXPECT_EQ(d->features.spinlock_retries, 8191u);
  ASSERT_EQ(d->devices.disks.size(), 2u);
  const Disk& disk = d->devices.disks[0];
  EXPECT_EQ(disk.cache, "none");
  EXPECT_EQ(disk.queues, 4u);
  ASSERT_EQ(disk.backing.size(), 1u);
  EXPECT_EQ(disk.backing[0].path, "/var/lib/libvirt/images/base.qcow2");
  EXPECT_TRUE(disk.backing_terminated);
  EXPECT_EQ(disk.address->slot, 7u);
  EXPECT_EQ(d->devices.disks[1].type, DiskType::kBlock);
  EXPECT_TRUE(d->devices.disks[1].readonly);
  EXPECT_EQ(d->devices.serials[0].log->file, "/var/log/libvirt/amber/full-serial0.log");
  EXPECT_EQ(d->lifecycle.on_crash, LifecycleAction::kRestart);
  EXPECT_NE(d->metadata->find("team &amp; co"), std::string::npos) << *d->metadata;
}

const char* const kBase =
    "<domain type='kvm'><name>t</name><uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
    "<memory>1024</memory><os><type>hvm</type>%OS%</os>%TOP%<devices>%DEV%</devices></domain>";

std::string make(std::string os, std::string top, std::string dev) {
  std::string s = kBase;
  s.replace(s.find("%OS%"), 4, os);
  s.replace(s.find("%TOP%"), 5, top);
  s.replace(s.find("%DEV%"), 5, dev);
  return s;
}

TEST(Domain, UuidGeneratedWhenAbsentAndValidated) {
  auto a = parse_domain(
      "<domain type='kvm'><name>a</name><memory>1024</memory><os><type>hvm</type></os></domain>");
  auto b = parse_domain(
      "<domain type='kvm'><name>a</name><memory>1024</memory><os><type>hvm</type></os></domain>");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->uuid, b->uuid);
  EXPECT_EQ(a->uuid.to_string()[14], '4');
  auto bad = parse_domain(
      "<domain "
      "type='kvm'><name>a</name><uuid>1234</uuid><memory>1</memory><os><type>hvm</type></os></"
      "domain>");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().context().find("malformed uuid"), std::string::npos);
}

TEST(Domain, QemuTypeRefusedClearly) {
  std::string xml = make("", "", "");
  xml.replace(xml.find("'kvm'"), 5, "'qemu'");
  auto d = parse_domain(xml);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(d.error().context().rfind(
                "unsupported configuration: /domain/@type='qemu' (only type='kvm'", 0),
            0u)
      << d.error().context();
}

struct RefusalCase {
  std::string os, top, dev;
  std::string expected;  // prefix of the message after "unsupported configuration: "
};

class Refused : public ::testing::TestWithParam<RefusalCase> {};

TEST_P(Refused, NamesThePath) {
  const RefusalCase& c = GetParam();
  auto d = parse_domain(make(c.os, c.top, c.dev));
  ASSERT_FALSE(d.ok()) << c.expected;
  EXPECT_EQ(d.error().kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(d.error().context().rfind("unsupported configuration: " + c.expected, 0), 0u)
      << d.error().context();
}

const char* const kDisk =
    "<disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>";

INSTANTIATE_TEST_SUITE_P(
    Xml, Refused,
    ::testing::Values(
        RefusalCase{"", "", "<graphics type='spice'/>",
                    "/domain/devices/graphics/@type='spice' (only VNC"},
        RefusalCase{"", "", "<graphics type='vnc' websocket='5700'/>",
                    "/domain/devices/graphics/@websocket='5700'"},
        RefusalCase{"", "", "<graphics type='vnc' keymap='de'/>",
                    "/domain/devices/graphics/@keymap='de'"},
        RefusalCase{"", "", "<graphics type='vnc'><listen type='network' network='x'/></graphics>",
                    "/domain/devices/graphics/listen/@type='network'"},
        RefusalCase{"", "", "<video><model type='qxl'/></video>",
                    "/domain/devices/video/model/@type='qxl' (only the standard VGA"},
        RefusalCase{"", "", "<video><model type='vga' heads='2'/></video>",
                    "/domain/devices/video/model/@heads='2'"},
        RefusalCase{"", "", "<input type='tablet' bus='virtio'/>",
                    "/domain/devices/input/@bus='virtio'"},
        RefusalCase{"", "", "<input type='passthrough' bus='virtio'/>",
                    "/domain/devices/input/@type='passthrough'"},
        RefusalCase{"", "", "<input type='tablet' bus='ps2'/>",
                    "ps2 bus does not support tablet input device"},
        RefusalCase{"", "", "<controller type='usb' model='none'/><input type='tablet' bus='usb'/>",
                    "USB is disabled for this domain"},
        RefusalCase{"", "", "<controller type='usb' model='qemu-xhci'/>",
                    "/domain/devices/controller[@type='usb'][@model='qemu-xhci']"},
        RefusalCase{"", "", "<interface type='user'><model type='rtl8139'/></interface>",
                    "/domain/devices/interface/model/@type='rtl8139' (only the e1000 and virtio"},
        RefusalCase{"", "", "<interface type='user'><link state='down'/></interface>",
                    "/domain/devices/interface/link/@state='down'"},
        RefusalCase{"", "", "<interface type='user'><boot order='1'/></interface>",
                    "/domain/devices/interface/boot (network boot"},
        RefusalCase{"", "", "<interface type='user'><driver name='vhost' queues='2'/></interface>",
                    "/domain/devices/interface/driver/@name='vhost'"},
        RefusalCase{"", "", "<interface type='direct'><source dev='eth0'/></interface>",
                    "/domain/devices/interface"},
        RefusalCase{"", "", "<sound model='ich6'/>", "/domain/devices/sound ("},
        RefusalCase{"", "", "<hostdev mode='subsystem' type='pci'/>", "/domain/devices/hostdev ("},
        RefusalCase{"", "", "<channel type='unix'/>", "/domain/devices/channel ("},
        RefusalCase{"", "", "<rng model='virtio'/>", "/domain/devices/rng ("},
        RefusalCase{"", "", "<watchdog model='i6300esb'/>", "/domain/devices/watchdog ("},
        RefusalCase{"", "",
                    "<disk type='file' device='disk'><source file='/a'/><target dev='sda' "
                    "bus='sata'/></disk>",
                    "/domain/devices/disk/target/@bus='sata' (only virtio, ide and scsi disks"},
        RefusalCase{"", "", "<controller type='scsi' index='0' model='lsilogic'/>",
                    "/domain/devices/controller[@type='scsi'][@model='lsilogic'] (the SCSI "
                    "controller model 'lsilogic' is not supported: amber-vmm has only "
                    "virtio-scsi)"},
        RefusalCase{"", "",
                    "<controller type='scsi' index='0' model='virtio-scsi'><driver "
                    "queues='63'/></controller>",
                    "/domain/devices/controller[@type='scsi']/driver/@queues='63' (amber-vmm's "
                    "virtio-scsi controller runs 1 to 62 request queues)"},
        RefusalCase{"", "",
                    "<controller type='scsi' index='0' model='virtio-scsi'><driver "
                    "queues='0'/></controller>",
                    "/domain/devices/controller[@type='scsi']/driver/@queues='0' (amber-vmm's "
                    "virtio-scsi controller runs 1 to 62 request queues)"},
        RefusalCase{"", "",
                    "<controller type='scsi' index='0' model='virtio-scsi'><driver "
                    "iothread='1'/></controller>",
                    "/domain/devices/controller[@type='scsi']/driver/@iothread='1'"},
        RefusalCase{"", "", "<controller type='scsi' index='1' model='virtio-scsi'/>",
                    "/domain/devices/controller[@type='scsi']/@index='1' (amber-vmm has one SCSI "
                    "controller"},
        RefusalCase{"<smbios mode='host'/>", "", "",
                    "/domain/os/smbios/@mode='host' (the host's SMBIOS strings are not passed"},
        RefusalCase{"", "<sysinfo type='fwcfg'><entry name='opt/a'>b</entry></sysinfo>", "",
                    "/domain/sysinfo/@type='fwcfg'"},
        RefusalCase{"",
                    "<sysinfo type='smbios'><oemStrings><entry>x</entry></oemStrings></sysinfo>",
                    "", "/domain/sysinfo/oemStrings (SMBIOS OEM strings (type 11)"},
        RefusalCase{"", "",
                    "<disk type='file' device='floppy'><target dev='fda' bus='fdc'/></disk>",
                    "/domain/devices/disk/@device='floppy'"},
        RefusalCase{"", "", "<controller type='ide' index='1'/>",
                    "/domain/devices/controller[@type='ide']/@index='1' (Only 1 IDE controller"},
        RefusalCase{"", "",
                    "<disk type='network' device='disk'><target dev='vda' bus='virtio'/></disk>",
                    "/domain/devices/disk/@type='network'"},
        RefusalCase{"", "",
                    "<disk type='file' device='disk'><driver name='qemu' type='vmdk'/><target "
                    "dev='vda'/></disk>",
                    "/domain/devices/disk/driver/@type='vmdk'"},
        RefusalCase{"", "", "<controller type='usb' index='0' model='ich9-ehci1'/>",
                    "/domain/devices/controller[@type='usb'][@model='ich9-ehci1'] without its "
                    "companion ich9-uhci1"},
        RefusalCase{
            "", "",
            "<controller type='usb' model='ich9-uhci2'><master startport='2'/></controller>",
            "/domain/devices/controller[@type='usb'] (ich9-uhci companions without their "
            "ich9-ehci1)"},
        RefusalCase{
            "", "",
            "<controller type='usb' model='ich9-ehci1'/><controller type='usb' "
            "model='ich9-uhci1'><master startport='2'/></controller>",
            "/domain/devices/controller[@type='usb'][@model='ich9-uhci1']/master/@startport"},
        RefusalCase{"", "",
                    "<controller type='usb' model='ich9-ehci1'/><controller type='usb' "
                    "model='ich9-uhci1'><master startport='0'/></controller><controller "
                    "type='usb' model='ich9-uhci2'><master startport='2'/></controller><controller "
                    "type='usb' model='ich9-uhci3'><master startport='4'/></controller><controller "
                    "type='usb' model='piix3-uhci'/>",
                    "/domain/devices/controller[@type='usb'] (piix3-uhci and the ich9 usb2 set"},
        RefusalCase{"", "", "<controller type='usb' index='1' model='piix3-uhci'/>",
                    "/domain/devices/controller[@type='usb']/@index='1'"},
        RefusalCase{"", "", "<memballoon model='virtio'/>",
                    "/domain/devices/memballoon/@model='virtio'"},
        RefusalCase{"", "", "<serial type='tcp'/>", "/domain/devices/serial/@type='tcp'"},
        RefusalCase{"", "",
                    std::string(kDisk).insert(std::string(kDisk).size() - 7, "<shareable/>"),
                    "/domain/devices/disk/shareable"},
        RefusalCase{"", "<clock offset='utc'><timer name='armvtimer'/></clock>", "",
                    "/domain/clock/timer[@name='armvtimer']"},
        RefusalCase{"", "<clock offset='variable'/>", "", "/domain/clock/@offset='variable'"},
        RefusalCase{"", "<features><hyperv><tlbflush state='on'/></hyperv></features>", "",
                    "/domain/features/hyperv/tlbflush/@state='on' (the Hyper-V enlightenment "
                    "'tlbflush'"},
        RefusalCase{"",
                    "<features><hyperv><stimer state='on'><direct state='on'/></stimer>"
                    "</hyperv></features>",
                    "", "/domain/features/hyperv/stimer/direct"},
        RefusalCase{"", "<features><smm state='on'/></features>", "", "/domain/features/smm"},
        RefusalCase{"", "<cpu mode='custom'/>", "", "/domain/cpu/@mode='custom'"},
        RefusalCase{"", "<cpu mode='host-model'><feature policy='require' name='x'/></cpu>", "",
                    "/domain/cpu/feature/@policy='require'"},
        RefusalCase{"", "<on_crash>preserve</on_crash>", "", "/domain/on_crash='preserve'"},
        RefusalCase{"", "<pm><suspend-to-mem enabled='yes'/></pm>", "",
                    "/domain/pm/suspend-to-mem/@enabled='yes'"},
        RefusalCase{"", "<cputune><shares>2048</shares></cputune>", "", "/domain/cputune"},
        RefusalCase{"", "<memoryBacking><locked/></memoryBacking>", "",
                    "/domain/memoryBacking/locked"},
        RefusalCase{"<loader type='pflash'>/x</loader>", "", "",
                    "/domain/os/loader/@type='pflash'"},
        RefusalCase{"<boot dev='network'/>", "", "", "/domain/os/boot/@dev='network'"},
        RefusalCase{"", "<foo/>", "", "/domain/foo (unknown element"},
        RefusalCase{"",
                    "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>",
                    "", "/domain/qemu:commandline (unknown element"},
        RefusalCase{"", "",
                    "<disk type='file' device='disk' snapshot='no'><target dev='vda'/></disk>",
                    "/domain/devices/disk/@snapshot (unknown attribute"}));

TEST(Domain, MachineTypes) {
  std::string q35 = make("", "", "");
  q35.replace(q35.find("<type>hvm"), 9, "<type machine='pc-q35-7.2'>hvm");
  auto d = parse_domain(q35);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().context().find("/domain/os/type/@machine='pc-q35-7.2'"), std::string::npos);
  std::string pc = make("", "", "");
  pc.replace(pc.find("<type>hvm"), 9, "<type arch='x86_64' machine='pc-i440fx-2.9'>hvm");
  EXPECT_TRUE(parse_domain(pc).ok());
}

// What `virsh -c qemu:///system dumpxml` gives for a Windows 7 guest made
// by virt-manager 4.1 on Debian 12; every part Amber refuses, listed.
TEST(Domain, Windows7FromVirtManagerRefusedParts) {
  auto refusals = find_unsupported(read(kData + "/refused/win7-virt-manager.xml"));
  ASSERT_TRUE(refusals.ok()) << refusals.error().message();
  std::vector<std::string> paths;
  for (const Refusal& r : *refusals) paths.push_back(r.path);
  const std::vector<std::string> expected = {
      "/domain/os/type/@machine='pc-q35-7.2'",
      "/domain/devices/disk/target/@bus='sata'",
      "/domain/devices/disk/target/@bus='sata'",
      "/domain/devices/controller[@type='sata']",
      "/domain/devices/controller[@type='pci'][@model='pcie-root']",
      "/domain/devices/controller[@type='pci'][@model='pcie-root-port']",
      "/domain/devices/controller[@type='virtio-serial']",
      "/domain/devices/interface/model/@type='e1000e'",
      "/domain/devices/channel",
      "/domain/devices/graphics/@type='spice'",
      "/domain/devices/sound",
      "/domain/devices/audio",
      "/domain/devices/video/model/@type='qxl'",
      "/domain/devices/video/model/@ram='65536'",
      "/domain/devices/video/model/@vgamem='16384'",
      "/domain/devices/redirdev",
      "/domain/devices/redirdev",
      "/domain/devices/memballoon/@model='virtio'",
  };
  EXPECT_EQ(paths, expected);
  // With those parts taken out (in/win7-amber.xml) the guest round trips.
  EXPECT_TRUE(parse_domain(read(kData + "/in/win7-amber.xml")).ok());
}

TEST(Domain, InactiveFormatDropsLiveState) {
  std::string xml = make("", "",
                         "<serial type='pty'><source path='/dev/pts/3'/><target port='0'/><alias "
                         "name='serial0'/></serial>");
  xml.replace(xml.find("type='kvm'"), 10, "type='kvm' id='7'");
  auto d = parse_domain(xml);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->id, 7);
  const std::string live = format_domain(*d);
  const std::string inactive = format_domain(*d, FormatFlags::kInactive);
  EXPECT_NE(live.find("id='7'"), std::string::npos);
  EXPECT_NE(live.find("/dev/pts/3"), std::string::npos);
  EXPECT_EQ(inactive.find("id='7'"), std::string::npos);
  EXPECT_EQ(inactive.find("/dev/pts/3"), std::string::npos);
}

TEST(Domain, DesktopDevicesParsedWithLibvirtsDefaults) {
  auto d = parse_domain(read(kData + "/in/desktop.xml"));
  ASSERT_TRUE(d.ok()) << d.error().message();
  const Devices& dev = d->devices;
  ASSERT_EQ(dev.interfaces.size(), 4u);
  EXPECT_EQ(dev.interfaces[0].type, InterfaceType::kUser);
  EXPECT_EQ(dev.interfaces[0].mac, "52:54:00:ab:cd:01");  // lowercased
  ASSERT_EQ(dev.interfaces[0].ips.size(), 1u);
  EXPECT_EQ(dev.interfaces[0].ips[0].prefix, 24u);
  EXPECT_EQ(dev.interfaces[1].source_bridge, "br0");
  EXPECT_EQ(dev.interfaces[1].rom_enabled, false);
  EXPECT_EQ(dev.interfaces[2].target_managed, false);
  EXPECT_EQ(dev.interfaces[3].source_network, "default");
  // A tablet given, the PS/2 mouse added (a display is there), the
  // keyboard given without a bus (ps2).
  ASSERT_EQ(dev.inputs.size(), 3u);
  EXPECT_EQ(dev.inputs[0].type, InputType::kTablet);
  EXPECT_EQ(dev.inputs[0].bus, InputBus::kUsb);
  EXPECT_EQ(dev.inputs[0].usb_port, "1");
  EXPECT_EQ(dev.inputs[1].bus, InputBus::kPs2);
  EXPECT_EQ(dev.inputs[2].type, InputType::kMouse);
  ASSERT_EQ(dev.graphics.size(), 1u);
  EXPECT_TRUE(dev.graphics[0].autoport);
  EXPECT_EQ(dev.graphics[0].port, -1);
  EXPECT_EQ(dev.graphics[0].listen, "127.0.0.1");
  EXPECT_EQ(dev.graphics[0].passwd, "s3cret");
  ASSERT_EQ(dev.videos.size(), 1u);
  EXPECT_EQ(dev.videos[0].vram_kib, 32768u);
  // The password only with kSecure, as VIR_DOMAIN_XML_SECURE.
  EXPECT_EQ(format_domain(*d).find("passwd"), std::string::npos);
  EXPECT_NE(
      format_domain(*d, FormatFlags::kInactive | FormatFlags::kSecure).find("passwd='s3cret'"),
      std::string::npos);
}

TEST(Domain, DesktopImplicitDevicesAndGeneratedMac) {
  // A display alone brings a VGA and the PS/2 mouse and keyboard; a USB
  // tablet the piix3-uhci controller; a NIC without <mac> gets 52:54:00:*.
  auto d = parse_domain(make("", "",
                             "<graphics type='vnc'/><input type='tablet'/>"
                             "<interface type='user'/><interface type='user'/>"));
  ASSERT_TRUE(d.ok()) << d.error().message();
  const Devices& dev = d->devices;
  ASSERT_EQ(dev.videos.size(), 1u);
  EXPECT_EQ(dev.videos[0].model, "vga");
  EXPECT_EQ(dev.videos[0].vram_kib, 16384u);
  ASSERT_EQ(dev.inputs.size(), 3u);
  EXPECT_EQ(dev.inputs[0].bus, InputBus::kUsb);  // a tablet's default bus
  bool uhci = false;
  for (const Controller& c : dev.controllers) uhci |= c.type == "usb" && c.model == "piix3-uhci";
  EXPECT_TRUE(uhci);
  ASSERT_EQ(dev.interfaces.size(), 2u);
  EXPECT_EQ(dev.interfaces[0].mac.rfind("52:54:00:", 0), 0u);
  EXPECT_EQ(dev.interfaces[0].mac.size(), 17u);
  EXPECT_NE(dev.interfaces[0].mac, dev.interfaces[1].mac);
  // Written out, the document parses to the same devices (no duplicates).
  auto again = parse_domain(format_domain(*d));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(format_domain(*again), format_domain(*d));
}

TEST(Domain, DesktopBadValuesAreXmlErrors) {
  for (const char* dev :
       {"<interface type='user'><mac address='52:54:00:zz:00:01'/></interface>",
        "<interface type='user'><mac address='01:54:00:00:00:01'/></interface>",
        "<interface type='bridge'/>", "<graphics type='vnc' port='5800'/>",
        "<graphics type='vnc' listen='1.2.3.4'><listen type='address' address='5.6.7.8'/>"
        "</graphics>",
        "<video/>"}) {
    auto d = parse_domain(make("", "", dev));
    EXPECT_FALSE(d.ok()) << dev;
  }
}

TEST(Domain, DiskEncryptionKeptWhereItWasGiven) {
  const std::string in_source =
      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
      "<source file='/var/lib/libvirt/images/enc.qcow2'><encryption format='luks'>"
      "<secret type='passphrase' uuid='0A81F5B2-8403-7B23-C8D6-21CCD2F80D6F'/></encryption>"
      "</source><target dev='vda' bus='virtio'/></disk>";
  auto d = parse_domain(make("", "", in_source));
  ASSERT_TRUE(d.ok()) << d.error().message();
  ASSERT_TRUE(d->devices.disks[0].encryption.has_value());
  const DiskEncryption& e = *d->devices.disks[0].encryption;
  EXPECT_EQ(e.format, "luks");
  EXPECT_TRUE(e.in_source);
  EXPECT_EQ(e.secret_uuid, "0a81f5b2-8403-7b23-c8d6-21ccd2f80d6f");
  const std::string out = format_domain(*d, FormatFlags::kInactive);
  EXPECT_NE(
      out.find("<source file='/var/lib/libvirt/images/enc.qcow2'>\n"
               "        <encryption format='luks'>\n"
               "          <secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccd2f80d6f'/>"),
      std::string::npos)
      << out;
  auto again = parse_domain(out);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->devices.disks[0].encryption, d->devices.disks[0].encryption);

  const std::string at_disk =
      "<disk type='file' device='disk'><source file='/i/enc.luks'/>"
      "<target dev='vda' bus='virtio'/><encryption format='luks'>"
      "<secret type='passphrase' usage='/i/enc.luks'/></encryption></disk>";
  auto legacy = parse_domain(make("", "", at_disk));
  ASSERT_TRUE(legacy.ok()) << legacy.error().message();
  EXPECT_FALSE(legacy->devices.disks[0].encryption->in_source);
  EXPECT_EQ(legacy->devices.disks[0].encryption->secret_usage, "/i/enc.luks");
  const std::string legacy_out = format_domain(*legacy);
  EXPECT_LT(legacy_out.find("<target dev='vda'"), legacy_out.find("<encryption format='luks'>"));

  for (const std::string& bad :
       {std::string("<encryption format='luks'><secret type='ceph' uuid='0a81f5b2-8403-7b23-c8d6-"
                    "21ccd2f80d6f'/></encryption>"),
        std::string("<encryption format='luks'><secret type='passphrase'/></encryption>"),
        std::string("<encryption format='luks'><secret type='passphrase' uuid='nope'/>"
                    "</encryption>"),
        std::string("<encryption format='rot13'/>"), std::string("<encryption/>"),
        std::string("<encryption format='luks'><cipher name='aes'/></encryption>")}) {
    const std::string disk =
        "<disk type='file' device='disk'><source file='/i/x'/>"
        "<target dev='vda' bus='virtio'/>" +
        bad + "</disk>";
    EXPECT_FALSE(parse_domain(make("", "", disk)).ok()) << bad;
  }
}

TEST(Domain, SemanticErrors) {
  EXPECT_FALSE(
      parse_domain("<domain type='kvm'><memory>1</memory><os><type>hvm</type></os></domain>").ok());
  EXPECT_FALSE(parse_domain("<network/>").ok());
  auto unit = parse_domain(
      make("", "", "").replace(make("", "", "").find("<memory>"), 8, "<memory unit='parsecs'>"));
  ASSERT_FALSE(unit.ok());
  EXPECT_NE(unit.error().context().find("unknown unit 'parsecs'"), std::string::npos);
  auto huge = parse_domain(
      make("", "", "").replace(make("", "", "").find("<memory>"), 8, "<memory unit='EiB'>"));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().context().find("too large"), std::string::npos) << huge.error().context();
  auto two = parse_domain(make("", "<vcpu>2</vcpu><vcpu>3</vcpu>", ""));
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().context().find("more than one /domain/vcpu"), std::string::npos);
}

// IDE disks: libvirt's address derivation and its refusals (same words).
TEST(Domain, IdeAddressesAndRefusals) {
  const auto disk = [](const std::string& body) {
    return make("", "", "<disk type='file' device='disk'><source file='/a'/>" + body + "</disk>");
  };
  const auto message = [](const std::string& xml) {
    auto d = parse_domain(xml);
    return d.ok() ? std::string("accepted") : d.error().message();
  };
  auto hdc = parse_domain(disk("<target dev='hdc' bus='ide'/>"));
  ASSERT_TRUE(hdc.ok()) << hdc.error().message();
  ASSERT_TRUE(hdc->devices.disks[0].drive_address.has_value());
  EXPECT_EQ(*hdc->devices.disks[0].drive_address, (DriveAddress{0, 1, 0, 0}));
  ASSERT_EQ(hdc->devices.controllers.size(), 1u);
  EXPECT_EQ(hdc->devices.controllers[0].type, "ide");
  // No bus: an "hd" name is IDE, as in libvirt.
  auto hdb = parse_domain(disk("<target dev='hdb'/>"));
  ASSERT_TRUE(hdb.ok());
  EXPECT_EQ(hdb->devices.disks[0].bus, DiskBus::kIde);
  EXPECT_EQ(*hdb->devices.disks[0].drive_address, (DriveAddress{0, 0, 0, 1}));
  EXPECT_NE(
      message(disk("<target dev='hde' bus='ide'/>")).find("Only 1 IDE controller is supported"),
      std::string::npos);
  EXPECT_NE(message(disk("<target dev='hda' bus='ide'/><address type='drive' controller='0' "
                         "bus='0' target='1' unit='0'/>"))
                .find("target must be 0 for ide controller"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='hda' bus='ide'/><address type='drive' controller='0' "
                         "bus='0' target='0' unit='2'/>"))
                .find("IDE unit 2"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='xyz' bus='ide'/>"))
                .find("Unknown disk name 'xyz' and no address specified"),
            std::string::npos);
  EXPECT_NE(
      message(
          make("", "", "<disk type='file' device='cdrom'><target dev='vdb' bus='virtio'/></disk>"))
          .find("disk type 'virtio' of 'vdb' does not support ejectable media"),
      std::string::npos);
  EXPECT_NE(message(make("", "",
                         "<disk type='file' device='disk'><source file='/a'/><target dev='hda' "
                         "bus='ide'/></disk><disk type='file' device='disk'><source file='/b'/>"
                         "<target dev='hdb' bus='ide'/><address type='drive' controller='0' "
                         "bus='0' target='0' unit='0'/></disk>"))
                .find("Found duplicate drive address for disk with target name 'hdb' "
                      "controller='0' bus='0' target='0' unit='0'"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sda' bus='usb'/>")).find("only virtio, ide and scsi disks"),
            std::string::npos);
  // A cdrom is read-only even without <readonly/>.
  auto cd =
      parse_domain(make("", "", "<disk type='file' device='cdrom'><target dev='hdc'/></disk>"));
  ASSERT_TRUE(cd.ok()) << cd.error().message();
  EXPECT_TRUE(cd->devices.disks[0].readonly);
  EXPECT_FALSE(cd->devices.disks[0].source.has_value());
}

// SCSI disks: libvirt's address derivation (7 units per controller), the
// implicit virtio-scsi controller, and the refusals.
TEST(Domain, ScsiAddressesControllerAndRefusals) {
  const auto disk = [](const std::string& body) {
    return make("", "", "<disk type='file' device='disk'><source file='/a'/>" + body + "</disk>");
  };
  const auto message = [](const std::string& xml) {
    auto d = parse_domain(xml);
    return d.ok() ? std::string("accepted") : d.error().message();
  };
  auto sdc = parse_domain(disk("<target dev='sdc' bus='scsi'/>"));
  ASSERT_TRUE(sdc.ok()) << sdc.error().message();
  EXPECT_EQ(sdc->devices.disks[0].bus, DiskBus::kScsi);
  EXPECT_EQ(*sdc->devices.disks[0].drive_address, (DriveAddress{0, 0, 0, 2}));
  ASSERT_EQ(sdc->devices.controllers.size(), 1u);
  EXPECT_EQ(sdc->devices.controllers[0].type, "scsi");
  EXPECT_EQ(sdc->devices.controllers[0].model, "virtio-scsi");
  EXPECT_NE(format_domain(*sdc).find("<controller type='scsi' index='0' model='virtio-scsi'/>"),
            std::string::npos);
  // No bus: an "sd" name is SCSI, as in libvirt.
  auto sdb = parse_domain(disk("<target dev='sdb'/>"));
  ASSERT_TRUE(sdb.ok()) << sdb.error().message();
  EXPECT_EQ(sdb->devices.disks[0].bus, DiskBus::kScsi);
  // A controller without a model is Amber's virtio-scsi; queues='1' kept.
  auto explicit_controller = parse_domain(
      make("", "",
           "<controller type='scsi' index='0'><driver queues='1'/></controller>"
           "<disk type='file' device='disk'><source file='/a'/><target dev='sda' bus='scsi'/>"
           "<address type='drive' controller='0' bus='0' target='3' unit='4'/></disk>"));
  ASSERT_TRUE(explicit_controller.ok()) << explicit_controller.error().message();
  ASSERT_EQ(explicit_controller->devices.controllers.size(), 1u);
  EXPECT_EQ(explicit_controller->devices.controllers[0].queues, 1u);
  EXPECT_EQ(*explicit_controller->devices.disks[0].drive_address, (DriveAddress{0, 0, 3, 4}));
  EXPECT_NE(format_domain(*explicit_controller)
                .find("<controller type='scsi' index='0' model='virtio-scsi'>\n      <driver "
                      "queues='1'/>"),
            std::string::npos)
      << format_domain(*explicit_controller);
  // An IDE and a SCSI disk may share the numbers of a drive address.
  EXPECT_EQ(message(make("", "",
                         "<disk type='file' device='disk'><source file='/a'/><target dev='hda' "
                         "bus='ide'/></disk><disk type='file' device='disk'><source file='/b'/>"
                         "<target dev='sda' bus='scsi'/></disk>")),
            "accepted");
  EXPECT_NE(message(disk("<target dev='sdh' bus='scsi'/>"))
                .find("address/@controller='1' (amber-vmm has one SCSI controller"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sda' bus='scsi'/><address type='drive' controller='0' "
                         "bus='1' target='0' unit='0'/>"))
                .find("(the virtio-scsi controller has one bus, 0)"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sda' bus='scsi'/><address type='drive' controller='0' "
                         "bus='0' target='256' unit='0'/>"))
                .find("virtio-scsi targets are 0..255"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sda' bus='scsi'/><address type='drive' controller='0' "
                         "bus='0' target='0' unit='16384'/>"))
                .find("virtio-scsi LUNs are 0..16383"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sda' bus='scsi'/><address type='pci' slot='5'/>"))
                .find("(a SCSI disk has a drive address)"),
            std::string::npos);
  EXPECT_NE(message(make("", "",
                         "<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/></disk>"))
                .find("SCSI CD-ROMs are not supported yet"),
            std::string::npos);
  EXPECT_NE(message(disk("<target dev='sdx1' bus='scsi'/>"))
                .find("Unknown disk name 'sdx1' and no address specified"),
            std::string::npos);
  EXPECT_NE(message(make("", "",
                         "<disk type='file' device='disk'><source file='/a'/><target dev='sda'/>"
                         "</disk><disk type='file' device='disk'><source file='/b'/><target "
                         "dev='sdb'/><address type='drive' controller='0' bus='0' target='0' "
                         "unit='0'/></disk>"))
                .find("Found duplicate drive address for disk with target name 'sdb'"),
            std::string::npos);
}

// <sysinfo type='smbios'>: entries in libvirt's order, empty ones dropped,
// the system uuid checked against <uuid> (and giving it when absent).
TEST(Domain, SysinfoParsedCheckedAndWrittenBack) {
  const std::string in = read(kData + "/in/scsi-sysinfo.xml");
  auto d = parse_domain(in);
  ASSERT_TRUE(d.ok()) << d.error().message();
  ASSERT_TRUE(d->sysinfo.has_value());
  EXPECT_EQ(d->os.smbios_mode, "sysinfo");
  ASSERT_EQ(d->sysinfo->system.size(), 3u);  // the empty family is dropped
  EXPECT_EQ(d->sysinfo->system[0], (SysinfoEntry{"manufacturer", "Amber Labs"}));
  EXPECT_EQ(d->sysinfo->system[1], (SysinfoEntry{"serial", "SN-42"}));
  EXPECT_EQ(d->sysinfo->system[2], (SysinfoEntry{"uuid", "c7a5fdbd-edaf-9455-926a-d65c16db1810"}));
  ASSERT_EQ(d->sysinfo->bios.size(), 2u);
  EXPECT_EQ(d->sysinfo->bios[0].name, "vendor");
  EXPECT_EQ(d->sysinfo->base_board[1], (SysinfoEntry{"location", "slot & 2"}));
  const auto with = [](const std::string& uuid, const std::string& sysinfo) {
    return "<domain type='kvm'><name>t</name>" + uuid +
           "<memory>1024</memory><sysinfo type='smbios'>" + sysinfo +
           "</sysinfo><os><type>hvm</type></os></domain>";
  };
  const std::string system_uuid =
      "<system><entry name='uuid'>00112233-4455-6677-8899-aabbccddeeff</entry></system>";
  auto taken = parse_domain(with("", system_uuid));
  ASSERT_TRUE(taken.ok()) << taken.error().message();
  EXPECT_EQ(taken->uuid.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
  auto mismatch =
      parse_domain(with("<uuid>00112233-4455-6677-8899-aabbccddeef0</uuid>", system_uuid));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message().find("UUID mismatch between <uuid> and <sysinfo>"),
            std::string::npos);
  auto date = parse_domain(with("", "<bios><entry name='date'>2023-01-02</entry></bios>"));
  ASSERT_FALSE(date.ok());
  EXPECT_NE(date.error().message().find("Invalid BIOS 'date' format: 2023-01-02"),
            std::string::npos);
  auto name = parse_domain(with("", "<chassis><entry name='product'>x</entry></chassis>"));
  ASSERT_FALSE(name.ok());
  auto boards = parse_domain(with("",
                                  "<baseBoard><entry name='serial'>1</entry></baseBoard>"
                                  "<baseBoard><entry name='serial'>2</entry></baseBoard>"));
  ASSERT_FALSE(boards.ok());
  EXPECT_NE(boards.error().message().find("/domain/sysinfo/baseBoard[2]"), std::string::npos);
}

bool schema_present() {
  struct stat st {};
  return stat(kDomainSchemaPath, &st) == 0;
}

TEST(Domain, RelaxNgAcceptsGoodRejectsBad) {
  if (!schema_present()) GTEST_SKIP() << kDomainSchemaPath << " is missing (install libvirt0)";
  for (const char* name : {"minimal", "full", "win7-amber", "scsi-sysinfo", "desktop"}) {
    auto v = validate_domain(read(kData + "/out/" + name + ".xml"));
    EXPECT_TRUE(v.ok()) << name << ": " << v.error().message();
  }
  auto bad = validate_domain(make("", "<vcpu>many</vcpu>", ""));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kCorrupt);
  EXPECT_NE(bad.error().context().find("does not validate"), std::string::npos)
      << bad.error().context();
  auto missing = validate_domain("<domain/>", "/nonexistent/domain.rng");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
}

}  // namespace
}  // namespace amber::xml
