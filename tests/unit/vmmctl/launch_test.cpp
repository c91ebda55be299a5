// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/launch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace amber::vmmctl {
namespace {

Result<LaunchSettings> parse(const std::vector<std::string>& args) {
  return parse_argv(args);
}

LaunchSettings everything_set() {
  LaunchSettings s;
  s.name = "win7";
  s.memory = 2ULL << 30;
  s.hugepages = Hugepages::kOn;
  s.cpus = 4;
  s.firmware = "/opt/bios,v2.bin";
  DiskSettings a;
  a.path = "/var/lib/images/a,b=c.qcow2";  // a comma and an '=' in the path
  a.format = block::ImageFormat::kQcow2;
  a.cache = block::io::CacheMode::kNone;
  a.aio = block::io::AioBackend::kIoUring;
  a.discard = block::DiscardMode::kUnmap;
  a.queues = 4;
  a.serial = "S,1";
  a.write_error = DiskErrorPolicy::kStop;
  a.read_error = DiskErrorPolicy::kIgnore;
  a.secret_fd = 7;
  DiskSettings b;
  b.path = "b.raw";
  b.access = DiskAccess::kReadOnly;
  s.disks = {a, b};
  s.serial = {SerialKind::kUnix, "/run/amber/win7 serial.sock"};
  s.control = "/run/amber/win7.sock";
  s.debugcon = "/tmp/d.log";
  s.on_reboot = RebootAction::kExit;
  s.hyperv.add(HyperVFeature::kRelaxed);
  s.hyperv.add(HyperVFeature::kSpinlocks);
  s.hyperv.spinlock_retries = 8191;
  s.hyperv.add(HyperVFeature::kTime);
  s.hyperv.vendor_id = "Am,ber";  // a comma survives the option list
  return s;
}

TEST(LaunchSettings, RoundTripsThroughArgv) {
  LaunchSettings direct;
  direct.kernel = "/boot/vmlinuz";
  direct.initrd = "/boot/initrd.img";
  direct.cmdline = "console=ttyS0 root=/dev/vda1 --weird,arg=1";
  direct.memory = 64ULL << 20;
  direct.serial.kind = SerialKind::kPty;
  LaunchSettings policies;
  for (const auto werror : {DiskErrorPolicy::kEnospc, DiskErrorPolicy::kStop,
                            DiskErrorPolicy::kReport, DiskErrorPolicy::kIgnore}) {
    for (const auto rerror :
         {DiskErrorPolicy::kStop, DiskErrorPolicy::kReport, DiskErrorPolicy::kIgnore}) {
      DiskSettings disk;
      disk.path = "p" + std::to_string(policies.disks.size());
      disk.write_error = werror;
      disk.read_error = rerror;
      policies.disks.push_back(disk);
    }
  }
  for (const LaunchSettings& settings : {LaunchSettings{}, everything_set(), direct, policies}) {
    auto argv = to_argv(settings);
    ASSERT_TRUE(argv.ok()) << argv.error().message();
    auto back = parse_argv(*argv);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, settings);
  }
}

TEST(LaunchSettings, ArgvIsExplicit) {
  auto argv = to_argv(everything_set());
  ASSERT_TRUE(argv.ok());
  const std::vector<std::string> want = {
      "--name",
      "win7",
      "--memory",
      "size=2G,hugepages=on",
      "--cpus",
      "4",
      "--firmware",
      "/opt/bios,v2.bin",
      "--disk",
      "path=/var/lib/images/a,,b=c.qcow2,format=qcow2,cache=none,aio=io_uring,queues=4,"
      "discard=unmap,serial=S,,1,readonly=off,werror=stop,rerror=ignore,secret-fd=7",
      "--disk",
      "path=b.raw,cache=writeback,aio=threads,queues=1,discard=ignore,readonly=on",
      "--serial",
      "unix:/run/amber/win7 serial.sock",
      "--control",
      "/run/amber/win7.sock",
      "--debugcon",
      "file:/tmp/d.log",
      "--hyperv",
      "relaxed,spinlocks=8191,time,vendor_id=Am,,ber",
      "--no-reboot"};
  EXPECT_EQ(*argv, want);
}

TEST(LaunchSettings, ParsesTheDocumentedCommandLine) {
  auto s = parse({"--name", "win7", "--memory", "size=2G,hugepages=on", "--cpus", "2", "--firmware",
                  "/x/bios.bin", "--disk",
                  "path=a.qcow2,format=qcow2,cache=none,queues=4,discard=unmap,serial=S1", "--disk",
                  "b.raw,readonly=on", "--serial", "pty", "--control", "/run/x.sock", "--debugcon",
                  "file:/tmp/d.log", "--no-reboot"});
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->memory, 2ULL << 30);
  EXPECT_EQ(s->hugepages, Hugepages::kOn);
  ASSERT_EQ(s->disks.size(), 2u);
  EXPECT_EQ(s->disks[0].cache, block::io::CacheMode::kNone);
  EXPECT_EQ(s->disks[0].queues, 4u);
  EXPECT_EQ(s->disks[1].path, "b.raw");
  EXPECT_EQ(s->disks[1].access, DiskAccess::kReadOnly);
  EXPECT_EQ(s->serial.kind, SerialKind::kPty);
  EXPECT_EQ(s->on_reboot, RebootAction::kExit);
  EXPECT_EQ(firmware_path(*s), "/x/bios.bin");
  EXPECT_EQ(firmware_path(LaunchSettings{}), kDefaultFirmware);
  EXPECT_EQ(parse({"--memory=1G"})->memory, 1ULL << 30);
  EXPECT_EQ(parse({"--memory", "512"})->memory, 512ULL << 20);
}

// The names block accepts are accepted on --disk too: libvirt's io='native'
// and QEMU's cache=off are what a daemon sends.
TEST(LaunchSettings, DiskUsesBlocksVocabulary) {
  auto native = parse_disk("path=a,aio=native,cache=off,format=raw");
  ASSERT_TRUE(native.ok()) << native.error().message();
  EXPECT_EQ(native->aio, block::io::AioBackend::kIoUring);
  EXPECT_EQ(native->cache, block::io::CacheMode::kNone);
  EXPECT_EQ(native->format, block::ImageFormat::kRaw);
  for (const char* cache : {"writeback", "none", "writethrough", "directsync", "unsafe"}) {
    auto disk = parse_disk(std::string("path=a,cache=") + cache);
    ASSERT_TRUE(disk.ok()) << cache;
    EXPECT_EQ(block::io::to_string(disk->cache), cache);
  }
}

TEST(LaunchSettings, BadValuesGiveOneClearError) {
  const std::vector<std::vector<std::string>> bad = {
      {"--memory", "lots"},
      {"--memory", "1M"},
      {"--memory", "1025K"},
      {"--memory", "2G,hugepages=maybe"},
      {"--memory", "size=2G,color=red"},
      {"--cpus", "0"},
      {"--cpus", "65"},
      {"--cpus", "two"},
      {"--disk", "format=qcow2"},
      {"--disk", "path=a,format=vmdk"},
      {"--disk", "path=a,cache=sometimes"},
      {"--disk", "path=a,aio=posix"},
      {"--disk", "path=a,queues=0"},
      {"--disk", "path=a,queues=1000"},
      {"--disk", "path=a,,,"},
      {"--disk", "path=a,serial=012345678901234567890"},
      {"--disk", "path=a,bogus=1"},
      {"--disk", "path=a,werror=sometimes"},
      {"--disk", "path=a,werror="},
      {"--disk", "path=a,rerror=enospc"},
      {"--disk", "path=a,rerror=Stop"},
      {"--disk", "path=a,secret-fd=2"},
      {"--disk", "path=a,secret-fd=1024"},
      {"--disk", "path=a,secret-fd=x"},
      {"--serial", "telnet"},
      {"--serial", "file:"},
      {"--debugcon", "stdio"},
      {"--bogus"},
      {"--bogus", "x"},
      {"--name"},
      {"--name", ""},
      {"--control", ""},
      {"--initrd", "x"},
      {"--kernel", "k", "--firmware", "f"},
  };
  for (const auto& args : bad) {
    auto s = parse(args);
    EXPECT_FALSE(s.ok()) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    if (!s.ok()) {
      EXPECT_EQ(s.error().kind(), ErrorKind::kInvalidArgument);
      EXPECT_EQ(s.error().message().find('\n'), std::string::npos);
      EXPECT_FALSE(s.error().message().empty());
    }
  }
  std::vector<std::string> seventeen;
  for (int i = 0; i < 17; ++i)
    seventeen.insert(seventeen.end(), {"--disk", "d" + std::to_string(i)});
  EXPECT_FALSE(parse(seventeen).ok());
}

TEST(LaunchSettings, ToArgvRefusesWhatAmberVmmWouldRefuse) {
  LaunchSettings both;
  both.kernel = "k";
  both.firmware = "f";
  EXPECT_FALSE(to_argv(both).ok());
  LaunchSettings no_path;
  no_path.disks.push_back({});
  EXPECT_FALSE(to_argv(no_path).ok());
  LaunchSettings file_without_path;
  file_without_path.serial.kind = SerialKind::kFile;
  EXPECT_FALSE(to_argv(file_without_path).ok());
  LaunchSettings read_enospc;
  read_enospc.disks.push_back({});
  read_enospc.disks[0].path = "a";
  read_enospc.disks[0].read_error = DiskErrorPolicy::kEnospc;
  EXPECT_FALSE(to_argv(read_enospc).ok());
}

// QEMU's names and defaults: werror=enospc, rerror=report; a disk with the
// defaults gets no werror/rerror on its command line.
TEST(LaunchSettings, ErrorPolicies) {
  auto plain = parse_disk("path=a");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->write_error, DiskErrorPolicy::kEnospc);
  EXPECT_EQ(plain->read_error, DiskErrorPolicy::kReport);
  EXPECT_EQ(format_disk(*plain).find("error"), std::string::npos) << format_disk(*plain);
  const std::pair<const char*, DiskErrorPolicy> names[] = {{"enospc", DiskErrorPolicy::kEnospc},
                                                           {"stop", DiskErrorPolicy::kStop},
                                                           {"report", DiskErrorPolicy::kReport},
                                                           {"ignore", DiskErrorPolicy::kIgnore}};
  for (const auto& [name, policy] : names) {
    auto disk = parse_disk(std::string("path=a,werror=") + name);
    ASSERT_TRUE(disk.ok()) << name;
    EXPECT_EQ(disk->write_error, policy);
    EXPECT_EQ(to_string(policy), name);
    auto read = parse_disk(std::string("path=a,rerror=") + name);
    EXPECT_EQ(read.ok(), policy != DiskErrorPolicy::kEnospc) << name;
    if (read.ok()) {
      EXPECT_EQ(read->read_error, policy);
    }
  }
  auto both = parse_disk("path=a,werror=report,rerror=stop");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(format_disk(*both),
            "path=a,cache=writeback,aio=threads,queues=1,discard=ignore,readonly=off,"
            "werror=report,rerror=stop");
}

TEST(LaunchSettings, Sizes) {
  EXPECT_EQ(*parse_size("4k"), 4096u);
  EXPECT_EQ(*parse_size("3T"), 3ULL << 40);
  EXPECT_EQ(*parse_size("7B"), 7u);
  EXPECT_FALSE(parse_size("99999999999999T").ok());
  EXPECT_EQ(format_size(512ULL << 20), "512M");
  EXPECT_EQ(format_size(3ULL << 30), "3G");
  EXPECT_EQ(format_size((1ULL << 30) + (1ULL << 20)), "1025M");
  EXPECT_EQ(format_size(1000), "1000B");
}

}  // namespace
}  // namespace amber::vmmctl

namespace amber::vmmctl {
namespace {

TEST(LaunchSettings, IdeDrives) {
  LaunchSettings s;
  IdeDriveSettings cd;
  cd.bus = 1;
  cd.media = IdeMedia::kCdrom;
  cd.path = "/iso/win7,sp1.iso";
  cd.format = block::ImageFormat::kRaw;
  cd.access = DiskAccess::kReadOnly;
  IdeDriveSettings disk;
  disk.path = "win7.qcow2";
  disk.cache = block::io::CacheMode::kNone;
  disk.serial = "WD-1";
  IdeDriveSettings empty;  // a CD-ROM drive without media
  empty.bus = 1;
  empty.unit = 1;
  empty.media = IdeMedia::kCdrom;
  empty.access = DiskAccess::kReadOnly;
  s.ide = {cd, disk, empty};
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want_ide = {
      "--ide",
      "bus=1,unit=0,media=cdrom,path=/iso/win7,,sp1.iso,format=raw,cache=writeback,readonly=on",
      "--ide",
      "bus=0,unit=0,media=disk,path=win7.qcow2,cache=none,readonly=off,serial=WD-1",
      "--ide",
      "bus=1,unit=1,media=cdrom,cache=writeback,readonly=on"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want_ide.begin(), want_ide.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  // A CD-ROM is read-only whatever the command line says.
  auto forced = parse_argv(std::vector<std::string>{"--ide", "media=cdrom,path=x.iso"});
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->ide[0].access, DiskAccess::kReadOnly);

  const std::vector<std::vector<std::string>> bad = {
      {"--ide", "media=disk"},
      {"--ide", "path=a,bus=2"},
      {"--ide", "path=a,unit=x"},
      {"--ide", "path=a,media=floppy"},
      {"--ide", "path=a,cache=sometimes"},
      {"--ide", "path=a,queues=2"},
      {"--ide", "path=a,serial=012345678901234567890"},
      {"--ide", "path=a", "--ide", "path=b"},  // both bus 0 unit 0
      {"--ide", "path=a,unit=0", "--ide", "path=b,unit=1", "--ide", "path=c,bus=1", "--ide",
       "path=d,bus=1,unit=1", "--ide", "path=e"},
  };
  for (const auto& args : bad) {
    auto r = parse_argv(args);
    EXPECT_FALSE(r.ok()) << args[1];
    if (!r.ok()) {
      EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
    }
  }
  LaunchSettings writable_cd;
  writable_cd.ide.push_back(empty);
  writable_cd.ide[0].access = DiskAccess::kReadWrite;
  EXPECT_FALSE(to_argv(writable_cd).ok());
}

TEST(LaunchSettings, ScsiDisks) {
  LaunchSettings s;
  ScsiDiskSettings a;
  a.path = "/img/win,7.qcow2";
  a.format = block::ImageFormat::kQcow2;
  a.discard = block::DiscardMode::kUnmap;
  a.serial = "S1";
  ScsiDiskSettings b;
  b.path = "data.raw";
  b.target = 3;
  b.lun = 300;
  b.access = DiskAccess::kReadOnly;
  s.scsi = {a, b};
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want = {
      "--scsi",
      "path=/img/win,,7.qcow2,format=qcow2,cache=writeback,discard=unmap,target=0,lun=0,"
      "readonly=off,serial=S1",
      "--scsi", "path=data.raw,cache=writeback,discard=ignore,target=3,lun=300,readonly=on"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  const std::vector<std::vector<std::string>> bad = {
      {"--scsi", "target=1"},
      {"--scsi", "path=a,target=256"},
      {"--scsi", "path=a,lun=16384"},
      {"--scsi", "path=a,discard=maybe"},
      {"--scsi", "path=a,queues=2"},
      {"--scsi", "path=a,serial=012345678901234567890"},
      {"--scsi", "path=a", "--scsi", "path=b"},  // both target 0 lun 0
  };
  for (const auto& args : bad) {
    auto r = parse_argv(args);
    EXPECT_FALSE(r.ok()) << args[1];
    if (!r.ok()) {
      EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
    }
  }
}

TEST(LaunchSettings, IdeAndScsiErrorPoliciesAndScsiQueues) {
  LaunchSettings s;
  IdeDriveSettings hda;
  hda.path = "win7.img";
  hda.write_error = DiskErrorPolicy::kStop;
  hda.read_error = DiskErrorPolicy::kIgnore;
  ScsiDiskSettings sda;
  sda.path = "data.raw";
  sda.write_error = DiskErrorPolicy::kReport;
  s.ide = {hda};
  s.scsi = {sda};
  s.scsi_queues = 4;
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want = {
      "--ide",
      "bus=0,unit=0,media=disk,path=win7.img,cache=writeback,readonly=off,werror=stop,"
      "rerror=ignore",
      "--scsi",
      "path=data.raw,cache=writeback,discard=ignore,target=0,lun=0,readonly=off,werror=report",
      "--scsi-queues",
      "4"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  const std::vector<std::vector<std::string>> bad = {
      {"--ide", "path=a,rerror=enospc"},
      {"--ide", "path=a,werror=maybe"},
      {"--scsi", "path=a,rerror=enospc"},
      {"--scsi", "path=a", "--scsi-queues", "0"},
      {"--scsi", "path=a", "--scsi-queues", "63"},
      {"--scsi-queues", "2"},  // no controller without a --scsi disk
  };
  for (const auto& args : bad) EXPECT_FALSE(parse_argv(args).ok()) << args[1];
}

TEST(LaunchSettings, Vga) {
  auto plain = parse({"--vga", "std"});
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_TRUE(plain->vga);
  EXPECT_EQ(plain->vga_vram, 16ULL << 20);
  LaunchSettings s;
  s.vga = true;
  s.vga_vram = 64ULL << 20;
  s.vga_romfile = "/roms/vga,std.bin";
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want = {"--vga", "std,vram=64M,romfile=/roms/vga,,std.bin"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  // Without --vga, to_argv says nothing of it (the launch goldens stay).
  auto none = to_argv(LaunchSettings{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(std::find(none->begin(), none->end(), "--vga"), none->end());
  for (const char* bad :
       {"cirrus", "std,vram=3M", "std,vram=512K", "std,vram=512M", "std,heads=2", "std,romfile="}) {
    auto r = parse({"--vga", bad});
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message().find("--vga"), std::string::npos) << r.error().message();
    }
  }
}

TEST(LaunchSettings, Vnc) {
  auto v4 = parse({"--vga", "std", "--vnc", "127.0.0.1:3"});
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  ASSERT_TRUE(v4->vnc.has_value());
  EXPECT_EQ(*v4->vnc, (VncSettings{"127.0.0.1", 3, false}));
  auto v6 = parse({"--vga", "std", "--vnc=[::1]:0,password=on"});
  ASSERT_TRUE(v6.ok()) << v6.error().message();
  EXPECT_EQ(*v6->vnc, (VncSettings{"::1", 0, true}));
  auto any = parse({"--vga", "std", "--vnc", ":59635,password=off"});
  ASSERT_TRUE(any.ok()) << any.error().message();
  EXPECT_EQ(*any->vnc, (VncSettings{"", kMaxVncDisplay, false}));
  EXPECT_FALSE(parse({"--vga", "std"})->vnc.has_value());

  for (const VncSettings& vnc :
       {VncSettings{"127.0.0.1", 0, false}, VncSettings{"", 7, true},
        VncSettings{"fe80::1:2", 99, true}, VncSettings{"0.0.0.0", kMaxVncDisplay, false}}) {
    LaunchSettings s;
    s.vga = true;
    s.vnc = vnc;
    auto argv = to_argv(s);
    ASSERT_TRUE(argv.ok()) << argv.error().message();
    auto back = parse_argv(*argv);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, s) << format_vnc(vnc);
  }
  LaunchSettings s;
  s.vga = true;
  s.vnc = VncSettings{"::1", 1, true};
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok());
  const std::vector<std::string> want = {"--vnc", "[::1]:1,password=on"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());

  // --vnc without --vga: the message names both options.
  auto no_vga = parse({"--vnc", "127.0.0.1:0"});
  ASSERT_FALSE(no_vga.ok());
  EXPECT_NE(no_vga.error().message().find("--vnc"), std::string::npos);
  EXPECT_NE(no_vga.error().message().find("--vga"), std::string::npos);
  LaunchSettings too_high;
  too_high.vga = true;
  too_high.vnc = VncSettings{"", kMaxVncDisplay + 1, false};
  EXPECT_FALSE(validate(too_high).ok());
  EXPECT_FALSE(to_argv(too_high).ok());
  LaunchSettings bad_host;
  bad_host.vga = true;
  bad_host.vnc = VncSettings{"example", 0, false};
  EXPECT_FALSE(validate(bad_host).ok());

  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:59636", "::1:0",
                          "[::1]0", "[::1:0", "[127.0.0.1]:0", "300.1.1.1:0", "host.example:0",
                          ":0,password=maybe", ":0,share=on", ":0,:1", "password=on"}) {
    auto r = parse({"--vga", "std", "--vnc", bad});
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message().find("--vnc"), std::string::npos) << r.error().message();
      EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
    }
  }
}

TEST(LaunchSettings, UsbEhci) {
  auto parsed = parse({"--usb", "ehci,addr=0x5", "--usb-device", "tablet"});
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->usb);
  EXPECT_EQ(parsed->usb_model, UsbModel::kIch9Ehci);
  EXPECT_EQ(parsed->usb_slot, std::optional<unsigned>(5));
  auto plain = parse({"--usb=ehci"});
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_EQ(plain->usb_model, UsbModel::kIch9Ehci);
  EXPECT_FALSE(plain->usb_slot);
  auto qemu_form = parse({"--usb=ehci,addr=1d.7"});
  ASSERT_TRUE(qemu_form.ok()) << qemu_form.error().message();
  EXPECT_EQ(qemu_form->usb_slot, std::optional<unsigned>(0x1D));
  // Six root ports behind the EHCI; a round trip through to_argv.
  LaunchSettings s;
  s.usb = true;
  s.usb_model = UsbModel::kIch9Ehci;
  s.usb_slot = 0x1D;
  s.usb_devices.assign(6, UsbDeviceKind::kTablet);
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want = {"--usb", "ehci,addr=0x1d"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  s.usb_devices.push_back(UsbDeviceKind::kMouse);
  EXPECT_FALSE(validate(s).ok());
  // Bad models, slots and keys are refused naming --usb.
  for (const char* bad :
       {"ohci", "ehci,addr=0x20", "ehci,addr=2", "ehci,addr=zz", "ehci,port=1", "uhci,addr=5"}) {
    auto r = parse({"--usb", bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message().find("--usb"), std::string::npos) << r.error().message();
  }
}

TEST(LaunchSettings, Usb) {
  auto parsed = parse({"--usb", "--usb-device", "tablet", "--usb-device=keyboard"});
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_TRUE(parsed->usb);
  EXPECT_EQ(parsed->usb_devices,
            (std::vector<UsbDeviceKind>{UsbDeviceKind::kTablet, UsbDeviceKind::kKeyboard}));
  for (const auto& devices : std::vector<std::vector<UsbDeviceKind>>{
           {}, {UsbDeviceKind::kMouse}, {UsbDeviceKind::kKeyboard, UsbDeviceKind::kTablet}}) {
    LaunchSettings s;
    s.usb = true;
    s.usb_devices = devices;
    auto argv = to_argv(s);
    ASSERT_TRUE(argv.ok()) << argv.error().message();
    EXPECT_NE(std::find(argv->begin(), argv->end(), "--usb"), argv->end());
    EXPECT_EQ(static_cast<size_t>(std::count(argv->begin(), argv->end(), "--usb-device")),
              devices.size());
    auto back = parse_argv(*argv);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, s);
  }
  const std::vector<std::string> want = {"--usb", "--usb-device", "mouse"};
  LaunchSettings mouse;
  mouse.usb = true;
  mouse.usb_devices = {UsbDeviceKind::kMouse};
  auto argv = to_argv(mouse);
  ASSERT_TRUE(argv.ok());
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  // Without --usb, to_argv says nothing of it.
  auto none = to_argv(LaunchSettings{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(std::find(none->begin(), none->end(), "--usb"), none->end());

  auto no_controller = parse({"--usb-device", "tablet"});
  ASSERT_FALSE(no_controller.ok());
  EXPECT_NE(no_controller.error().message().find("needs --usb"), std::string::npos)
      << no_controller.error().message();
  auto three = parse(
      {"--usb", "--usb-device", "tablet", "--usb-device", "mouse", "--usb-device", "keyboard"});
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.error().message().find("two ports"), std::string::npos)
      << three.error().message();
  LaunchSettings too_many;
  too_many.usb = true;
  too_many.usb_devices.assign(3, UsbDeviceKind::kTablet);
  EXPECT_FALSE(validate(too_many).ok());
  LaunchSettings without_usb;
  without_usb.usb_devices = {UsbDeviceKind::kTablet};
  EXPECT_FALSE(to_argv(without_usb).ok());
  for (const char* bad : {"usb-tablet", "", "Tablet", "serial"}) {
    auto r = parse({"--usb", "--usb-device", bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message().find("--usb-device"), std::string::npos) << r.error().message();
  }
}

TEST(LaunchSettings, Nics) {
  LaunchSettings s;
  NicSettings user;
  user.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
  NicSettings custom = user;
  custom.mac[5] = 0x57;
  custom.net = "192.168.76.0/24";
  custom.host = "192.168.76.2";
  custom.dns = "192.168.76.3";
  custom.dhcp_start = "192.168.76.15";
  custom.hostfwd = {"tcp:127.0.0.1:2222-:22", "udp::5353-192.168.76.15:53"};
  custom.romfile = "none";
  NicSettings tap;
  tap.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
  tap.backend = NetBackend::kTap;
  tap.tap_fd = 9;
  tap.romfile = "/roms/e,1000.rom";
  s.nics = {user, custom, tap};
  auto argv = to_argv(s);
  ASSERT_TRUE(argv.ok()) << argv.error().message();
  const std::vector<std::string> want = {
      "--nic",
      "model=e1000,mac=52:54:00:12:34:56,backend=user",
      "--nic",
      "model=e1000,mac=52:54:00:12:34:57,backend=user,net=192.168.76.0/24,host=192.168.76.2,"
      "dns=192.168.76.3,dhcpstart=192.168.76.15,hostfwd=tcp:127.0.0.1:2222-:22,"
      "hostfwd=udp::5353-192.168.76.15:53,romfile=none",
      "--nic",
      "model=e1000,mac=52:54:00:ab:cd:ef,backend=tap,fd=9,romfile=/roms/e,,1000.rom"};
  EXPECT_NE(std::search(argv->begin(), argv->end(), want.begin(), want.end()), argv->end());
  auto back = parse_argv(*argv);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, s);
  // The model and backend default to e1000 and user; upper-case MACs read.
  auto plain = parse({"--nic", "mac=52:54:00:AA:BB:CC"});
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  ASSERT_EQ(plain->nics.size(), 1u);
  EXPECT_EQ(plain->nics[0].model, NicModel::kE1000);
  EXPECT_EQ(plain->nics[0].backend, NetBackend::kUser);
  EXPECT_EQ(format_mac(plain->nics[0].mac), "52:54:00:aa:bb:cc");
  // A dotted netmask is QEMU's other spelling of net=.
  EXPECT_TRUE(parse({"--nic",
                     "mac=52:54:00:00:00:01,net=10.1.0.0/255.255.0.0,host=10.1.0.2,"
                     "dns=10.1.0.3,dhcpstart=10.1.7.15"})
                  .ok());
  // net= alone puts the other addresses where QEMU does (.2, .3, .15).
  auto derived = parse({"--nic", "mac=52:54:00:00:00:01,net=192.168.76.0/24,dns=192.168.76.53"});
  ASSERT_TRUE(derived.ok()) << derived.error().message();
  EXPECT_EQ(derived->nics[0].host, "192.168.76.2");
  EXPECT_EQ(derived->nics[0].dns, "192.168.76.53");
  EXPECT_EQ(derived->nics[0].dhcp_start, "192.168.76.15");
  // virtio-net with queue pairs survives the round trip.
  auto virtio = parse({"--nic", "model=virtio,mac=52:54:00:00:00:02,queues=4"});
  ASSERT_TRUE(virtio.ok()) << virtio.error().message();
  EXPECT_EQ(virtio->nics[0].model, NicModel::kVirtio);
  EXPECT_EQ(virtio->nics[0].queues, 4u);
  auto virtio_argv = to_argv(*virtio);
  ASSERT_TRUE(virtio_argv.ok());
  EXPECT_NE(std::find(virtio_argv->begin(), virtio_argv->end(),
                      "model=virtio,mac=52:54:00:00:00:02,backend=user,queues=4"),
            virtio_argv->end());
  // Without --nic, to_argv says nothing of it (the launch goldens stay).
  auto none = to_argv(LaunchSettings{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(std::find(none->begin(), none->end(), "--nic"), none->end());
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"model=e1000", "mac="},
      {"mac=52:54:00:12:34", "mac"},
      {"mac=52:54:00:12:34:5g", "mac"},
      {"mac=01:00:5e:00:00:01", "multicast"},
      {"mac=00:00:00:00:00:00", "mac"},
      {"mac=52:54:00:12:34:56,queues=2", "only with model=virtio"},
      {"model=virtio,mac=52:54:00:12:34:56,queues=0", "queues"},
      {"model=virtio,mac=52:54:00:12:34:56,queues=9", "queues"},
      {"model=rtl8139,mac=52:54:00:12:34:56", "model"},
      {"mac=52:54:00:12:34:56,backend=vde", "backend"},
      {"mac=52:54:00:12:34:56,backend=tap", "fd=N"},
      {"mac=52:54:00:12:34:56,backend=tap,fd=2", "fd"},
      {"mac=52:54:00:12:34:56,backend=tap,fd=1024", "fd"},
      {"mac=52:54:00:12:34:56,fd=5", "fd"},
      {"mac=52:54:00:12:34:56,net=10.0.2.0", "net"},
      {"mac=52:54:00:12:34:56,net=10.0.2.0/31", "net"},
      {"mac=52:54:00:12:34:56,net=10.9.0.0/28,dhcpstart=10.9.0.15", "broadcast"},
      {"mac=52:54:00:12:34:56,net=10.0.2.0/255.0.255.0", "netmask"},
      {"mac=52:54:00:12:34:56,net=300.0.2.0/24", "IPv4"},
      {"mac=52:54:00:12:34:56,host=10.0.3.2", "host"},
      {"mac=52:54:00:12:34:56,dns=10.0.2.255", "dns"},
      {"mac=52:54:00:12:34:56,dhcpstart=192.168.76.15", "dhcpstart"},
      {"mac=52:54:00:12:34:56,dhcpstart=10.0.2.x", "dhcpstart"},
      {"mac=52:54:00:12:34:56,hostfwd=tcp:127.0.0.1:2222", "hostfwd"},
      {"mac=52:54:00:12:34:56,hostfwd=sctp::1-:2", "hostfwd"},
      {"mac=52:54:00:12:34:56,hostfwd=tcp::70000-:22", "hostfwd"},
      {"mac=52:54:00:12:34:56,romfile=", "romfile"},
      {"mac=52:54:00:12:34:56,speed=10", "unknown key"},
  };
  for (const auto& [value, word] : refused) {
    auto r = parse({"--nic", value});
    EXPECT_FALSE(r.ok()) << value;
    if (!r.ok()) {
      EXPECT_NE(r.error().message().find("--nic"), std::string::npos) << r.error().message();
      EXPECT_NE(r.error().message().find(word), std::string::npos) << r.error().message();
      EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
    }
  }
  std::vector<std::string> five;
  for (int i = 1; i <= 5; ++i) {
    five.push_back("--nic");
    five.push_back("mac=52:54:00:00:00:0" + std::to_string(i));
  }
  auto r = parse_argv(five);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("at most 4"), std::string::npos);
  LaunchSettings many;
  many.nics.assign(5, user);
  EXPECT_FALSE(to_argv(many).ok());
  // validate() checks what to_argv would write.
  LaunchSettings bad_fd;
  bad_fd.nics = {tap};
  bad_fd.nics[0].tap_fd = -1;
  EXPECT_FALSE(validate(bad_fd).ok());
}

TEST(LaunchSettings, HostForwardRules) {
  auto rule = parse_hostfwd("tcp:127.0.0.1:2222-:22");
  ASSERT_TRUE(rule.ok()) << rule.error().message();
  EXPECT_FALSE(rule->udp);
  EXPECT_EQ(rule->host_address, 0x7f000001u);
  EXPECT_EQ(rule->host_port, 2222);
  EXPECT_EQ(rule->guest_address, 0u);
  EXPECT_EQ(rule->guest_port, 22);
  auto udp = parse_hostfwd("udp::53-10.0.2.15:5353");
  ASSERT_TRUE(udp.ok()) << udp.error().message();
  EXPECT_TRUE(udp->udp);
  EXPECT_EQ(udp->guest_address, 0x0a00020fu);
  EXPECT_EQ(udp->guest_port, 5353);
  auto net = parse_ipv4_net("192.168.76.9/24");
  ASSERT_TRUE(net.ok());
  EXPECT_EQ(format_ipv4(net->address), "192.168.76.0");
  EXPECT_EQ(net->mask, 0xffffff00u);
}

}  // namespace
}  // namespace amber::vmmctl
