#include "hv/vmm/config.h"

#include <charconv>

namespace amber::hv::vmm {
namespace {

constexpr const char* kDefaultFirmware = "/usr/share/seabios/bios.bin";

Error bad(std::string message) { return Error(ErrorKind::kInvalidArgument, std::move(message)); }

// Splits "a=1,b=2" into pairs; a bare first item is returned with key "".
Result<std::vector<std::pair<std::string, std::string>>> split_options(std::string_view text,
                                                                       std::string_view option) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    if (item.empty()) return bad(std::string(option) + ": empty item in '" + std::string(text) + "'");
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back("", std::string(item));
    } else {
      out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    start = end + 1;
  }
  return out;
}

Result<bool> parse_on_off(std::string_view value, std::string_view what) {
  if (value == "on" || value == "yes" || value == "true") return true;
  if (value == "off" || value == "no" || value == "false") return false;
  return bad(std::string(what) + ": '" + std::string(value) + "' is not on or off");
}

Result<unsigned> parse_unsigned(std::string_view value, std::string_view what, unsigned min, unsigned max) {
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max)
    return bad(std::string(what) + ": '" + std::string(value) + "' is not a number from " +
               std::to_string(min) + " to " + std::to_string(max));
  return n;
}

Result<void> parse_memory(std::string_view text, Config& config) {
  AMBER_TRY_ASSIGN(auto items, split_options(text, "--memory"));
  for (auto& [key, value] : items) {
    if (key.empty() || key == "size") {
      AMBER_TRY_ASSIGN(config.memory, parse_size(value));
    } else if (key == "hugepages") {
      AMBER_TRY_ASSIGN(const bool on, parse_on_off(value, "--memory hugepages"));
      config.hugepages = on ? Hugepages::kOn : Hugepages::kOff;
    } else {
      return bad("--memory: unknown key '" + key + "' (size, hugepages)");
    }
  }
  if (config.memory < kMinimumRam) return bad("--memory: at least 16M is needed");
  if (config.memory > kMaxMemory) return bad("--memory: at most 1T is supported");
  if (config.memory % (1 << 20) != 0) return bad("--memory: the size must be a multiple of 1M");
  return ok();
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data()) return bad("size '" + std::string(text) + "' is not a number");
  std::string_view suffix(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  unsigned shift = 20;  // bare numbers are MiB, like QEMU's -m
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (suffix == "T" || suffix == "t") shift = 40;
  else if (suffix == "B" || suffix == "b") shift = 0;
  else if (!suffix.empty()) return bad("size '" + std::string(text) + "': unknown suffix (K, M, G, T)");
  if (number > (UINT64_MAX >> shift)) return bad("size '" + std::string(text) + "' is too large");
  return number << shift;
}

Result<DiskSpec> parse_disk(std::string_view text) {
  DiskSpec disk;
  AMBER_TRY_ASSIGN(auto items, split_options(text, "--disk"));
  for (auto& [key, value] : items) {
    if (key == "path" || key.empty()) {
      disk.path = value;
    } else if (key == "format") {
      if (value == "qcow2") disk.format = block::ImageFormat::kQcow2;
      else if (value == "raw") disk.format = block::ImageFormat::kRaw;
      else return bad("--disk format: '" + value + "' is not qcow2 or raw");
    } else if (key == "cache") {
      using block::io::CacheMode;
      if (value == "writeback") disk.cache = CacheMode::kWriteback;
      else if (value == "none") disk.cache = CacheMode::kNone;
      else if (value == "writethrough") disk.cache = CacheMode::kWritethrough;
      else if (value == "directsync") disk.cache = CacheMode::kDirectSync;
      else if (value == "unsafe") disk.cache = CacheMode::kUnsafe;
      else return bad("--disk cache: '" + value + "' is not writeback, none, writethrough, directsync or unsafe");
    } else if (key == "aio") {
      if (value == "threads") disk.aio = block::io::AioBackend::kThreads;
      else if (value == "io_uring") disk.aio = block::io::AioBackend::kIoUring;
      else return bad("--disk aio: '" + value + "' is not threads or io_uring");
    } else if (key == "queues") {
      AMBER_TRY_ASSIGN(disk.queues, parse_unsigned(value, "--disk queues", 1, kMaxDiskQueues));
    } else if (key == "discard") {
      if (value == "unmap" || value == "on") disk.discard = block::DiscardMode::kUnmap;
      else if (value == "ignore" || value == "off") disk.discard = block::DiscardMode::kIgnore;
      else return bad("--disk discard: '" + value + "' is not unmap or ignore");
    } else if (key == "serial") {
      if (value.size() > 20) return bad("--disk serial: at most 20 characters");
      disk.serial = value;
    } else if (key == "readonly") {
      AMBER_TRY_ASSIGN(disk.readonly, parse_on_off(value, "--disk readonly"));
    } else {
      return bad("--disk: unknown key '" + key +
                 "' (path, format, cache, aio, queues, discard, serial, readonly)");
    }
  }
  if (disk.path.empty()) return bad("--disk: path=FILE is required");
  return disk;
}

Result<Config> parse_command_line(int argc, const char* const* argv) {
  Config config;
  bool firmware_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto need = [&]() -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 >= argc) return bad(arg + ": missing value");
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") { config.help = true; continue; }
    if (arg == "--version") { config.version = true; continue; }
    if (arg == "--no-reboot") { config.no_reboot = true; continue; }
    AMBER_TRY_ASSIGN(std::string v, need());
    if (arg == "--name") {
      if (v.empty()) return bad("--name: must not be empty");
      config.name = v;
    } else if (arg == "--memory" || arg == "-m") {
      AMBER_TRY(parse_memory(v, config));
    } else if (arg == "--cpus" || arg == "--smp") {
      AMBER_TRY_ASSIGN(config.cpus, parse_unsigned(v, "--cpus", 1, kMaxCpus));
    } else if (arg == "--firmware") {
      config.firmware = v;
      firmware_given = true;
    } else if (arg == "--disk") {
      if (config.disks.size() == kMaxDisks) return bad("--disk: at most 16 disks");
      AMBER_TRY_ASSIGN(DiskSpec disk, parse_disk(v));
      config.disks.push_back(std::move(disk));
    } else if (arg == "--serial") {
      AMBER_TRY_ASSIGN(config.serial, devices::parse_serial_spec(v));
    } else if (arg == "--control") {
      if (v.empty()) return bad("--control: path must not be empty");
      config.control = v;
    } else if (arg == "--kernel") {
      config.kernel = v;
    } else if (arg == "--initrd") {
      config.initrd = v;
    } else if (arg == "--cmdline" || arg == "--append") {
      config.cmdline = v;
    } else if (arg == "--debugcon") {
      if (v.rfind("file:", 0) == 0 && v.size() > 5) config.debugcon = v.substr(5);
      else if (v == "none") config.debugcon.clear();
      else return bad("--debugcon: '" + v + "' is not file:PATH or none");
    } else {
      return bad("unknown option '" + arg + "' (see --help)");
    }
  }
  if (config.help || config.version) return config;
  if (!config.kernel.empty() && firmware_given)
    return bad("--kernel and --firmware cannot be used together");
  if (config.kernel.empty() && (!config.initrd.empty() || !config.cmdline.empty()))
    return bad("--initrd and --cmdline need --kernel");
  if (config.kernel.empty() && !firmware_given) config.firmware = kDefaultFirmware;
  return config;
}

std::string help_text() {
  return R"(usage: amber-vmm [options]

Runs one virtual machine (i440FX/PIIX PC) on /dev/kvm.

  --name NAME                 VM name (logs, events)                       [amber]
  --memory [size=]SIZE[,hugepages=on|off]
                              guest RAM; SIZE with K/M/G/T (bare = MiB)    [512M]
                              hugepages=on: back RAM with 2 MiB hugepages
                              (fails if the host has too few reserved)
  --cpus N                    vCPUs, 1..64                                 [1]
  --firmware FILE             BIOS image mapped below 4 GiB
                              [/usr/share/seabios/bios.bin]
  --disk path=FILE[,format=qcow2|raw][,cache=writeback|none|writethrough|
         directsync|unsafe][,aio=threads|io_uring][,queues=N][,discard=unmap|
         ignore][,serial=ID][,readonly=on|off]
                              a virtio-blk disk (repeatable; slots 00:03.0 on)
  --serial pty|stdio|file:PATH|unix:PATH|none
                              COM1 (0x3F8, IRQ 4) backend                  [none]
  --control PATH              control socket (line-delimited JSON)
  --kernel FILE               direct boot: Linux bzImage or PVH ELF kernel
  --initrd FILE               initial ramdisk (with --kernel)
  --cmdline TEXT              kernel command line (with --kernel)
  --debugcon file:PATH|none   port 0x402 debug console log
  --no-reboot                 exit instead of resetting when the guest reboots
  --help, --version

Exit status: 0 after guest shutdown/quit, (v<<1)|1 when the guest writes v
to the isa-debug-exit port 0x501, 1 on errors.
)";
}

}  // namespace amber::hv::vmm
