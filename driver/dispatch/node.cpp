// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/node.h"

#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

namespace amber::driver::dispatch {

namespace {

// remote_node_get_info_ret.model is char[32]; rpcgen sends each char as 4 bytes.
constexpr size_t kModelChars = 32;

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

}  // namespace

Result<void> node_get_info(protocol::Connection& connection, rpc::XdrReader& args,
                           rpc::XdrWriter& reply) {
  AMBER_TRY(args.expect_end("NODE_GET_INFO"));
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
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
  if (!connection.opened) return Error(ErrorKind::kInvalidArgument, "the connection is not open");
  // A minimal valid document: the host arch and one hvm/x86_64 guest on kvm.
  reply.write_string(
      "<capabilities>\n"
      "  <host>\n"
      "    <cpu>\n"
      "      <arch>x86_64</arch>\n"
      "    </cpu>\n"
      "  </host>\n"
      "  <guest>\n"
      "    <os_type>hvm</os_type>\n"
      "    <arch name='x86_64'>\n"
      "      <wordsize>64</wordsize>\n"
      "      <emulator>/usr/bin/amber-vmm</emulator>\n"
      "      <domain type='kvm'/>\n"
      "    </arch>\n"
      "  </guest>\n"
      "</capabilities>\n");
  return {};
}

}  // namespace amber::driver::dispatch
