// SPDX-License-Identifier: GPL-2.0-or-later
// Statistics as libvirt sends them: the fixed block-stats struct, the
// typed-parameter block stats, and CONNECT_GET_ALL_DOMAIN_STATS records.
#include <libvirt/libvirt.h>

#include <cstdio>
#include <string>

#include "driver/dispatch/domain.h"
#include "driver/protocol/limits.h"
#include "xml/domain/domain.h"

namespace amber::driver::dispatch {

namespace {

// The typed form of one disk's counters, in the QEMU driver's order (virsh
// domblkstat prints them in the order received).
std::vector<TypedParam> block_stats_params(const vm::BlockStats& stats) {
  return {
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_WRITE_BYTES, stats.wr_bytes),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_WRITE_REQ, stats.wr_req),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_READ_BYTES, stats.rd_bytes),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_READ_REQ, stats.rd_req),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_FLUSH_REQ, stats.flush_req),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_WRITE_TOTAL_TIMES, stats.wr_total_times),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_READ_TOTAL_TIMES, stats.rd_total_times),
      TypedParam::int64(VIR_DOMAIN_BLOCK_STATS_FLUSH_TOTAL_TIMES, stats.flush_total_times),
  };
}

// The disks of a domain's current XML (live when running).
Result<std::vector<xml::Disk>> disks_of(vm::Manager& manager, const xml::Uuid& uuid, bool active) {
  AMBER_TRY_ASSIGN(std::string text, manager.xml_desc(uuid, active ? 0 : VIR_DOMAIN_XML_INACTIVE));
  AMBER_TRY_ASSIGN(xml::Domain domain, xml::parse_domain(text));
  return std::move(domain.devices.disks);
}

// One disk's counters, or with an empty PATH (virsh domblkstat without a
// device) the sum over every disk, as libvirt's QEMU driver reports it.
Result<vm::BlockStats> block_stats_of(vm::Manager& manager, const xml::Uuid& uuid,
                                      const std::string& path) {
  if (!path.empty()) return manager.block_stats(uuid, path);
  AMBER_TRY_ASSIGN(bool active, manager.is_active(uuid));
  if (!active) return Error(ErrorKind::kLocked, "domain is not running");
  AMBER_TRY_ASSIGN(auto disks, disks_of(manager, uuid, true));
  vm::BlockStats total;
  for (const auto& disk : disks) {
    AMBER_TRY_ASSIGN(vm::BlockStats one, manager.block_stats(uuid, disk.target_dev));
    total.rd_req += one.rd_req;
    total.rd_bytes += one.rd_bytes;
    total.wr_req += one.wr_req;
    total.wr_bytes += one.wr_bytes;
    total.errs += one.errs;
    total.flush_req += one.flush_req;
    total.rd_total_times += one.rd_total_times;
    total.wr_total_times += one.wr_total_times;
    total.flush_total_times += one.flush_total_times;
  }
  return total;
}

bool wants(unsigned stats, unsigned group) {
  return stats == 0 || (stats & group) != 0;
}

void add_block_stats(vm::Manager& manager, const vm::DomainSummary& summary, bool active,
                     std::vector<TypedParam>& out) {
  auto listed = disks_of(manager, summary.ref.uuid, active);
  if (!listed.ok()) return;
  const auto& disks = *listed;
  out.push_back(TypedParam::uint32("block.count", static_cast<uint32_t>(disks.size())));
  for (size_t i = 0; i < disks.size(); ++i) {
    const auto& disk = disks[i];
    const std::string prefix = "block." + std::to_string(i) + ".";
    out.push_back(TypedParam::string(prefix + "name", disk.target_dev));
    if (disk.source) out.push_back(TypedParam::string(prefix + "path", *disk.source));
    if (active) {
      auto stats = manager.block_stats(summary.ref.uuid, disk.target_dev);
      if (stats.ok()) {
        out.push_back(TypedParam::uint64(prefix + "rd.reqs", stats->rd_req));
        out.push_back(TypedParam::uint64(prefix + "rd.bytes", stats->rd_bytes));
        out.push_back(TypedParam::uint64(prefix + "rd.times", stats->rd_total_times));
        out.push_back(TypedParam::uint64(prefix + "wr.reqs", stats->wr_req));
        out.push_back(TypedParam::uint64(prefix + "wr.bytes", stats->wr_bytes));
        out.push_back(TypedParam::uint64(prefix + "wr.times", stats->wr_total_times));
        out.push_back(TypedParam::uint64(prefix + "fl.reqs", stats->flush_req));
        out.push_back(TypedParam::uint64(prefix + "fl.times", stats->flush_total_times));
      }
    }
    auto info = manager.block_info(summary.ref.uuid, disk.target_dev);
    if (info.ok()) {
      out.push_back(TypedParam::uint64(prefix + "allocation", info->allocation));
      out.push_back(TypedParam::uint64(prefix + "capacity", info->capacity));
      out.push_back(TypedParam::uint64(prefix + "physical", info->physical));
    }
  }
}

}  // namespace

std::vector<TypedParam> domain_stats(vm::Manager& manager, const vm::DomainSummary& summary,
                                     unsigned stats) {
  std::vector<TypedParam> out;
  const bool active = summary.ref.id != -1;
  if (wants(stats, VIR_DOMAIN_STATS_STATE)) {
    out.push_back(TypedParam::int32("state.state", summary.state));
    out.push_back(TypedParam::int32("state.reason", summary.reason));
  }
  auto info = manager.info(summary.ref.uuid);
  if (wants(stats, VIR_DOMAIN_STATS_CPU_TOTAL) && active && info.ok()) {
    out.push_back(TypedParam::uint64("cpu.time", info->cpu_time_ns));
  }
  if (wants(stats, VIR_DOMAIN_STATS_BALLOON) && info.ok()) {
    out.push_back(TypedParam::uint64("balloon.current", info->memory_kib));
    out.push_back(TypedParam::uint64("balloon.maximum", info->max_mem_kib));
  }
  if (wants(stats, VIR_DOMAIN_STATS_VCPU) && info.ok()) {
    const unsigned affect = active ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;
    auto maximum = manager.vcpus_flags(summary.ref.uuid, affect | VIR_DOMAIN_VCPU_MAXIMUM);
    out.push_back(TypedParam::uint32("vcpu.current", info->vcpus));
    out.push_back(TypedParam::uint32("vcpu.maximum",
                                     maximum.ok() ? static_cast<uint32_t>(*maximum) : info->vcpus));
  }
  if (wants(stats, VIR_DOMAIN_STATS_BLOCK)) add_block_stats(manager, summary, active, out);
  return out;
}

Result<void> domain_block_stats(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string path, arg_string(args, "path"));
  AMBER_TRY(arg_end(args, "DOMAIN_BLOCK_STATS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::BlockStats stats, block_stats_of(*manager, domain.uuid, path));
  reply.write_i64(stats.rd_req);
  reply.write_i64(stats.rd_bytes);
  reply.write_i64(stats.wr_req);
  reply.write_i64(stats.wr_bytes);
  reply.write_i64(stats.errs);
  return {};
}

Result<void> domain_block_stats_flags(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string path, arg_string(args, "path"));
  AMBER_TRY_ASSIGN(int32_t nparams, arg_i32(args, "nparams"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  (void)flags;  // VIR_TYPED_PARAM_STRING_OKAY: we send no strings here
  AMBER_TRY(arg_end(args, "DOMAIN_BLOCK_STATS_FLAGS"));
  if (nparams < 0 || static_cast<uint32_t>(nparams) > kBlockStatsParametersMax) {
    return Error(ErrorKind::kInvalidArgument, "nparams too large");
  }
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::BlockStats stats, block_stats_of(*manager, domain.uuid, path));
  auto params = block_stats_params(stats);
  if (nparams == 0) {  // the client asks how many there are first
    reply.write_u32(0);
    reply.write_i32(static_cast<int32_t>(params.size()));
    return {};
  }
  if (params.size() > static_cast<size_t>(nparams)) params.resize(static_cast<size_t>(nparams));
  write_typed_params(reply, params);
  reply.write_i32(static_cast<int32_t>(params.size()));
  return {};
}

Result<void> get_all_domain_stats(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(uint32_t count, [&]() -> Result<uint32_t> {
    auto n = args.read_array_count("doms", protocol::kDomainListMax, 24);
    if (!n.ok()) return Error(ErrorKind::kInvalidArgument, n.error().message());
    return *n;
  }());
  std::vector<vm::DomainRef> requested;
  for (uint32_t i = 0; i < count; ++i) {
    AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
    requested.push_back(std::move(domain));
  }
  AMBER_TRY_ASSIGN(uint32_t stats, arg_u32(args, "stats"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "CONNECT_GET_ALL_DOMAIN_STATS"));
  constexpr unsigned kSupported = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                                  VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
                                  VIR_DOMAIN_STATS_BLOCK;
  if ((flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS) != 0 &&
      (stats & ~kSupported) != 0) {
    char bits[16];
    std::snprintf(bits, sizeof(bits), "0x%x", stats & ~kSupported);
    return Error(ErrorKind::kUnsupported,
                 std::string("Stats types bits ") + bits + " are not supported by this daemon");
  }
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  auto all = manager->list();
  std::vector<vm::DomainSummary> chosen;
  if (requested.empty()) {
    constexpr unsigned kFilters = 0xff;  // the ACTIVE..OTHER list filters
    for (const auto& summary : all) {
      if (matches_list_flags(summary, flags & kFilters)) chosen.push_back(summary);
    }
  } else {
    for (const auto& domain : requested) {
      const vm::DomainSummary* found = nullptr;
      for (const auto& summary : all) {
        if (summary.ref.uuid == domain.uuid) found = &summary;
      }
      if (found == nullptr) {
        AMBER_TRY(manager->lookup_by_uuid(domain.uuid));  // gives libvirt's error
        continue;
      }
      chosen.push_back(*found);
    }
  }
  reply.write_u32(static_cast<uint32_t>(chosen.size()));
  for (const auto& summary : chosen) {
    write_domain(reply, summary.ref);
    write_typed_params(reply, domain_stats(*manager, summary, stats));
  }
  return {};
}

}  // namespace amber::driver::dispatch
