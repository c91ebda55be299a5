// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/node.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "driver/protocol/limits.h"
#include "vmmctl/launch.h"
#include "xml/capabilities.h"

namespace amber::driver::dispatch {

namespace {

// remote_node_get_info_ret.model is char[32]; rpcgen sends each char as 4 bytes.
constexpr size_t kModelChars = 32;
// The most vCPUs one guest may have (amber-vmm's --cpus limit, from the VM
// contract): what capabilities, domain capabilities and
// CONNECT_GET_MAX_VCPUS report.
constexpr uint64_t kMaxVcpus = vmmctl::kMaxCpus;
// REMOTE_NODE_CPU_STATS_MAX and REMOTE_NODE_MAX_CELLS (remote_protocol.x).
constexpr int32_t kNodeCpuStatsMax = 16;
constexpr int32_t kNodeMaxCells = 1024;

struct CpuFacts {
  std::string model = "x86_64";
  int32_t mhz = 0;
  int32_t sockets = 1;
  int32_t cores_per_socket = 1;
};

CpuFacts read_cpuinfo() {
  CpuFacts facts;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> physical_ids;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "cpu MHz" && facts.mhz == 0) facts.mhz = std::atoi(value.c_str());
    if (key == "physical id") physical_ids.insert(value);
    if (key == "cpu cores") facts.cores_per_socket = std::max(1, std::atoi(value.c_str()));
  }
  if (!physical_ids.empty()) facts.sockets = static_cast<int32_t>(physical_ids.size());
  return facts;
}

struct MemInfo {
  uint64_t total_kib = 0;
  uint64_t free_kib = 0;
  uint64_t buffers_kib = 0;
  uint64_t cached_kib = 0;
};

Result<MemInfo> read_meminfo() {
  std::ifstream in("/proc/meminfo");
  if (!in) return Error::from_errno(errno, "reading /proc/meminfo");
  MemInfo info;
  std::string key;
  uint64_t value = 0;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value)) continue;
    if (key == "MemTotal:") info.total_kib = value;
    if (key == "MemFree:") info.free_kib = value;
    if (key == "Buffers:") info.buffers_kib = value;
    if (key == "Cached:") info.cached_kib = value;
  }
  if (info.total_kib == 0) return Error(ErrorKind::kIo, "/proc/meminfo has no MemTotal");
  return info;
}

struct CpuTimes {
  uint64_t kernel_ns = 0;
  uint64_t user_ns = 0;
  uint64_t idle_ns = 0;
  uint64_t iowait_ns = 0;
};

// /proc/stat's "cpu" (all) or "cpuN" line, in USER_HZ ticks, as nanoseconds.
Result<CpuTimes> read_cpu_times(int32_t cpu) {
  if (cpu < -1) {
    return Error(ErrorKind::kInvalidArgument, "Invalid cpuNum " + std::to_string(cpu));
  }
  std::string wanted = cpu == -1 ? "cpu" : "cpu" + std::to_string(cpu);
  std::ifstream in("/proc/stat");
  if (!in) return Error::from_errno(errno, "reading /proc/stat");
  long hz = std::max(1L, sysconf(_SC_CLK_TCK));
  uint64_t tick_ns = 1000000000ULL / static_cast<uint64_t>(hz);  // hz is positive
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    if (!(fields >> name) || name != wanted) continue;
    fields >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
    CpuTimes times;
    times.user_ns = (user + nice) * tick_ns;
    times.kernel_ns = (system + irq + softirq) * tick_ns;
    times.idle_ns = idle * tick_ns;
    times.iowait_ns = iowait * tick_ns;
    return times;
  }
  return Error(ErrorKind::kInvalidArgument, "Invalid cpuNum " + std::to_string(cpu));
}

// The host UUID: /sys/class/dmi/id/product_uuid, else /etc/machine-id
// written as a UUID.
std::string host_uuid() {
  std::string text;
  std::ifstream dmi("/sys/class/dmi/id/product_uuid");
  if (dmi && std::getline(dmi, text) && text.size() == 36) return text;
  std::ifstream id("/etc/machine-id");
  if (id && std::getline(id, text) && text.size() == 32) {
    return text.substr(0, 8) + "-" + text.substr(8, 4) + "-" + text.substr(12, 4) + "-" +
           text.substr(16, 4) + "-" + text.substr(20);
  }
  return "00000000-0000-0000-0000-000000000000";
}

std::string emulator_of(const protocol::Connection& connection) {
  if (connection.daemon != nullptr && !connection.daemon->vmm_binary.empty()) {
    return connection.daemon->vmm_binary;
  }
  return "amber-vmm";
}

Result<void> require_open(const protocol::Connection& connection) {
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
  return {};
}

Result<void> no_flags(uint32_t flags, std::string_view function) {
  if (flags == 0) return {};
  char text[16];
  std::snprintf(text, sizeof(text), "0x%x", flags);
  return Error(ErrorKind::kInvalidArgument, "unsupported flags (" + std::string(text) +
                                                ") in function " + std::string(function));
}

// The reply of NODE_GET_MEMORY_STATS and NODE_GET_CPU_STATS: {field, u64}
// pairs and their count. nparams 0 is libvirt's size query (no pairs, just
// how many there are); any other value must be exactly that count.
Result<void> write_node_stats(rpc::XdrWriter& reply,
                              std::span<const std::pair<const char*, uint64_t>> stats,
                              int32_t nparams, std::string_view api) {
  const auto count = static_cast<int32_t>(stats.size());
  if (nparams == 0) {
    reply.write_u32(0);
    reply.write_i32(count);
    return {};
  }
  if (nparams != count) {
    return Error(ErrorKind::kInvalidArgument,
                 "nparams in " + std::string(api) + " must be " + std::to_string(count));
  }
  reply.write_u32(static_cast<uint32_t>(count));
  for (const auto& [field, value] : stats) {
    reply.write_string(field);
    reply.write_u64(value);
  }
  reply.write_i32(count);
  return {};
}

}  // namespace

Result<void> node_get_info(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply) {
  AMBER_TRY(args.expect_end("NODE_GET_INFO"));
  AMBER_TRY(require_open(connection));
  CpuFacts facts = read_cpuinfo();
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (cpus < 1) cpus = 1;
  for (size_t i = 0; i < kModelChars; ++i) {
    reply.write_i32(i < facts.model.size() && i + 1 < kModelChars ? facts.model[i] : 0);
  }
  reply.write_u64(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / 1024);
  int32_t cpu_count = static_cast<int32_t>(cpus);  // a host CPU count fits in i32
  int32_t cores = facts.cores_per_socket;
  int32_t threads = std::max(1, cpu_count / std::max(1, facts.sockets * cores));
  reply.write_i32(cpu_count);
  reply.write_i32(facts.mhz);
  reply.write_i32(1);  // NUMA nodes
  reply.write_i32(facts.sockets);
  reply.write_i32(cores);
  reply.write_i32(threads);
  return {};
}

Result<void> get_capabilities(protocol::Connection& connection, rpc::XdrReader& args,
                              rpc::XdrWriter& reply) {
  AMBER_TRY(args.expect_end("CONNECT_GET_CAPABILITIES"));
  AMBER_TRY(require_open(connection));
  CpuFacts facts = read_cpuinfo();
  long cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  xml::HostCapabilities caps;
  caps.host_uuid = host_uuid();
  caps.emulator = emulator_of(connection);
  caps.max_vcpus = kMaxVcpus;
  caps.sockets = static_cast<uint64_t>(facts.sockets);
  caps.cores = static_cast<uint64_t>(facts.cores_per_socket);
  caps.threads = static_cast<uint64_t>(
      std::max(1L, cpus / std::max(1L, static_cast<long>(facts.sockets) * facts.cores_per_socket)));
  reply.write_string(xml::format_capabilities(caps));
  return {};
}

Result<void> get_domain_capabilities(protocol::Connection& connection, rpc::XdrReader& args,
                                     rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(auto emulator, args.read_optional_string("emulatorbin", protocol::kStringMax));
  AMBER_TRY_ASSIGN(auto arch, args.read_optional_string("arch", protocol::kStringMax));
  AMBER_TRY_ASSIGN(auto machine, args.read_optional_string("machine", protocol::kStringMax));
  AMBER_TRY_ASSIGN(auto virttype, args.read_optional_string("virttype", protocol::kStringMax));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  AMBER_TRY(args.expect_end("CONNECT_GET_DOMAIN_CAPABILITIES"));
  AMBER_TRY(require_open(connection));
  AMBER_TRY(no_flags(flags, "virConnectGetDomainCapabilities"));
  std::string ours = emulator_of(connection);
  if (emulator && !emulator->empty() && *emulator != ours) {
    return Error(ErrorKind::kInvalidArgument,
                 "emulator '" + *emulator + "' is not supported (this host runs '" + ours + "')");
  }
  auto checked = xml::check_domain_capabilities_query(arch.value_or(""), virttype.value_or(""),
                                                      machine.value_or(""));
  // libvirt reports a bad arch, virttype or machine as VIR_ERR_INVALID_ARG.
  if (!checked.ok()) {
    std::string message = checked.error().message();
    constexpr std::string_view kPrefix = "unsupported configuration: ";
    if (message.starts_with(kPrefix)) message.erase(0, kPrefix.size());
    return Error(ErrorKind::kInvalidArgument, message);
  }
  xml::DomainCapabilitiesQuery query;
  query.emulator = ours;
  query.machine = machine.value_or("");
  query.max_vcpus = kMaxVcpus;
  reply.write_string(xml::format_domain_capabilities(query));
  return {};
}

Result<void> get_max_vcpus(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(auto type, args.read_optional_string("type", protocol::kStringMax));
  AMBER_TRY(args.expect_end("CONNECT_GET_MAX_VCPUS"));
  AMBER_TRY(require_open(connection));
  // NULL, the hypervisor type virsh passes (kvm, or qemu in compatibility
  // mode) or our own connection type.
  std::string name = type.value_or("kvm");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name != "kvm" && name != "qemu" && name != "amber") {
    return Error(ErrorKind::kInvalidArgument, "unknown type '" + *type + "'");
  }
  reply.write_i32(static_cast<int32_t>(kMaxVcpus));  // 64 fits in i32
  return {};
}

Result<void> node_get_memory_stats(protocol::Connection& connection, rpc::XdrReader& args,
                                   rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t nparams, args.read_i32("nparams"));
  AMBER_TRY_ASSIGN(int32_t cell, args.read_i32("cellNum"));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  AMBER_TRY(args.expect_end("NODE_GET_MEMORY_STATS"));
  AMBER_TRY(require_open(connection));
  AMBER_TRY(no_flags(flags, "virNodeGetMemoryStats"));
  if (nparams < 0 || static_cast<uint32_t>(nparams) > protocol::kNodeMemoryStatsMax) {
    return Error(ErrorKind::kInvalidArgument, "nparams too large");
  }
  // One NUMA cell (NODE_GET_INFO says so): VIR_NODE_MEMORY_STATS_ALL_CELLS
  // (-1) or cell 0, both /proc/meminfo.
  if (cell != -1 && cell != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "cell number " + std::to_string(cell) + " is out of range (max cell is 0)");
  }
  AMBER_TRY_ASSIGN(auto meminfo, read_meminfo());
  const std::pair<const char*, uint64_t> stats[] = {
      {"total", meminfo.total_kib},
      {"free", meminfo.free_kib},
      {"buffers", meminfo.buffers_kib},
      {"cached", meminfo.cached_kib},
  };
  return write_node_stats(reply, stats, nparams, "virNodeGetMemoryStats");
}

Result<void> node_get_cpu_stats(protocol::Connection& connection, rpc::XdrReader& args,
                                rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t cpu, args.read_i32("cpuNum"));
  AMBER_TRY_ASSIGN(int32_t nparams, args.read_i32("nparams"));
  AMBER_TRY_ASSIGN(uint32_t flags, args.read_u32("flags"));
  AMBER_TRY(args.expect_end("NODE_GET_CPU_STATS"));
  AMBER_TRY(require_open(connection));
  AMBER_TRY(no_flags(flags, "virNodeGetCPUStats"));
  if (nparams < 0 || nparams > kNodeCpuStatsMax) {
    return Error(ErrorKind::kInvalidArgument, "nparams too large");
  }
  AMBER_TRY_ASSIGN(CpuTimes times, read_cpu_times(cpu));
  const std::pair<const char*, uint64_t> stats[] = {
      {"kernel", times.kernel_ns},
      {"user", times.user_ns},
      {"idle", times.idle_ns},
      {"iowait", times.iowait_ns},
  };
  return write_node_stats(reply, stats, nparams, "virNodeGetCPUStats");
}

Result<void> node_get_free_memory(protocol::Connection& connection, rpc::XdrReader& args,
                                  rpc::XdrWriter& reply) {
  AMBER_TRY(args.expect_end("NODE_GET_FREE_MEMORY"));
  AMBER_TRY(require_open(connection));
  AMBER_TRY_ASSIGN(auto meminfo, read_meminfo());
  reply.write_u64(meminfo.free_kib * 1024);  // bytes, as libvirt reports it
  return {};
}

Result<void> node_get_cells_free_memory(protocol::Connection& connection, rpc::XdrReader& args,
                                        rpc::XdrWriter& reply) {
  AMBER_TRY_ASSIGN(int32_t start, args.read_i32("startCell"));
  AMBER_TRY_ASSIGN(int32_t max_cells, args.read_i32("maxcells"));
  AMBER_TRY(args.expect_end("NODE_GET_CELLS_FREE_MEMORY"));
  AMBER_TRY(require_open(connection));
  if (max_cells <= 0 || max_cells > kNodeMaxCells) {
    return Error(ErrorKind::kInvalidArgument, "maxCells > REMOTE_NODE_MAX_CELLS");
  }
  if (start != 0) {
    return Error(ErrorKind::kInvalidArgument,
                 "start cell " + std::to_string(start) + " out of range (0-0)");
  }
  AMBER_TRY_ASSIGN(auto meminfo, read_meminfo());
  reply.write_u32(1);
  reply.write_u64(meminfo.free_kib * 1024);
  return {};
}

}  // namespace amber::driver::dispatch
