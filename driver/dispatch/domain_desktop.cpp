// SPDX-License-Identifier: GPL-2.0-or-later
// The desktop procedures: DOMAIN_SCREENSHOT (a stream of the display's
// PPM after the reply, which carries the MIME type), DOMAIN_OPEN_GRAPHICS_FD
// (a socket on the VNC server, passed to the client), DOMAIN_INTERFACE_STATS
// and DOMAIN_INTERFACE_ADDRESSES.
#include <libvirt/libvirt.h>

#include <algorithm>
#include <cstring>

#include "driver/dispatch/domain.h"
#include "driver/protocol/stream.h"

namespace amber::driver::dispatch {
namespace {

// The screenshot's bytes, sent as one download.
class BytesSource : public protocol::StreamSource {
 public:
  explicit BytesSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Result<protocol::SourceChunk> next(std::span<uint8_t> buffer) override {
    protocol::SourceChunk chunk;
    if (offset_ >= bytes_.size() || buffer.empty()) return chunk;  // kEnd
    const size_t n = std::min(buffer.size(), bytes_.size() - offset_);
    std::memcpy(buffer.data(), bytes_.data() + offset_, n);
    offset_ += n;
    chunk.kind = protocol::SourceChunk::Kind::kData;
    chunk.size = n;
    return chunk;
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t offset_ = 0;
};

// REMOTE_DOMAIN_INTERFACE_MAX / REMOTE_DOMAIN_IP_ADDR_MAX.
constexpr size_t kInterfaceMax = 2048;
constexpr size_t kIpAddrMax = 2048;

}  // namespace

// remote_domain_screenshot_args: dom, screen, flags; ret: remote_string mime.
Result<void> domain_screenshot(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t screen, arg_u32(args, "screen"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_SCREENSHOT"));
  if (connection.opened_stream)
    return Error(ErrorKind::kInternal, "a stream was already opened by this call");
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::Screenshot shot, manager->screenshot(domain.uuid, screen, flags));
  protocol::OpenedStream stream;
  stream.source = std::make_unique<BytesSource>(std::move(shot.data));
  connection.opened_stream = std::move(stream);
  reply.write_optional_string(shot.mime);
  return {};
}

// remote_domain_open_graphics_fd_args: dom, idx, flags; no ret body: the
// reply is REPLY_WITH_FDS with one socket connected to the VNC server.
Result<void> domain_open_graphics_fd(Connection& connection, XdrReader& args, XdrWriter&) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t index, arg_u32(args, "idx"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_OPEN_GRAPHICS_FD"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(UniqueFd fd, manager->open_graphics_fd(domain.uuid, index, flags));
  connection.reply_fds.push_back(std::move(fd));
  return {};
}

// remote_domain_interface_stats_args: dom, path; ret: eight hypers.
Result<void> domain_interface_stats(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(std::string device, arg_string(args, "path"));
  AMBER_TRY(arg_end(args, "DOMAIN_INTERFACE_STATS"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(vm::InterfaceStats stats, manager->interface_stats(domain.uuid, device));
  for (int64_t value : {stats.rx_bytes, stats.rx_packets, stats.rx_errs, stats.rx_drop,
                        stats.tx_bytes, stats.tx_packets, stats.tx_errs, stats.tx_drop})
    reply.write_i64(value);
  return {};
}

// remote_domain_interface_addresses_args: dom, source, flags; ret:
// ifaces<> of {name, optional hwaddr, addrs<> of {type, addr, prefix}}.
Result<void> domain_interface_addresses(Connection& connection, XdrReader& args, XdrWriter& reply) {
  AMBER_TRY_ASSIGN(vm::DomainRef domain, read_domain(args));
  AMBER_TRY_ASSIGN(uint32_t source, arg_u32(args, "source"));
  AMBER_TRY_ASSIGN(uint32_t flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, "DOMAIN_INTERFACE_ADDRESSES"));
  AMBER_TRY_ASSIGN(vm::Manager * manager, manager_of(connection));
  AMBER_TRY_ASSIGN(std::vector<vm::InterfaceAddresses> ifaces,
                   manager->interface_addresses(domain.uuid, source, flags));
  const size_t count = std::min(ifaces.size(), kInterfaceMax);
  reply.write_u32(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const vm::InterfaceAddresses& iface = ifaces[i];
    reply.write_string(iface.name);
    reply.write_optional_string(iface.hwaddr);
    const size_t addrs = std::min(iface.addresses.size(), kIpAddrMax);
    reply.write_u32(static_cast<uint32_t>(addrs));
    for (size_t j = 0; j < addrs; ++j) {
      reply.write_i32(iface.addresses[j].type);
      reply.write_string(iface.addresses[j].address);
      reply.write_u32(iface.addresses[j].prefix);
    }
  }
  return {};
}

}  // namespace amber::driver::dispatch
