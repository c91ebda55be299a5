// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/display/vnc_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace amber::hv::display {
namespace {

// How many connections the kernel queues before libvncserver accepts.
constexpr int kListenBacklog = 8;

std::string where(const std::string& host, unsigned port) {
  const bool v6 = host.find(':') != std::string::npos;
  const std::string shown = host.empty() ? "*" : v6 ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

Result<UniqueFd> bind_and_listen(int family, const sockaddr* address, socklen_t length,
                                 const std::string& host, unsigned port) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Error::from_errno(errno, "--vnc: cannot make a socket for " + where(host, port));
  const int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) {
    // An explicit IPv6 address listens there only; the wildcard takes
    // IPv4 too (mapped addresses), as QEMU's -vnc :N does.
    const int v6_only = host.empty() ? 0 : 1;
    (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof(v6_only));
  }
  if (::bind(fd.get(), address, length) != 0)
    return Error::from_errno(errno, "--vnc: cannot listen on " + where(host, port));
  if (::listen(fd.get(), kListenBacklog) != 0)
    return Error::from_errno(errno, "--vnc: cannot listen on " + where(host, port));
  return fd;
}

SocketAddress describe(const sockaddr_storage& storage, socklen_t length) {
  SocketAddress out;
  char host[NI_MAXHOST] = {}, service[NI_MAXSERV] = {};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&storage), length, host, sizeof(host),
                    service, sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return out;
  out.host = host;
  out.service = service;
  out.family = storage.ss_family == AF_INET    ? "ipv4"
               : storage.ss_family == AF_INET6 ? "ipv6"
                                               : "unknown";
  // An IPv4 client of the dual-stack wildcard socket: shown as IPv4.
  if (out.family == "ipv6" && out.host.rfind("::ffff:", 0) == 0 &&
      out.host.find('.') != std::string::npos) {
    out.host = out.host.substr(7);
    out.family = "ipv4";
  }
  return out;
}

}  // namespace

Result<UniqueFd> listen_tcp(const std::string& host, unsigned port) {
  if (port > 65535)
    return Error(ErrorKind::kInvalidArgument,
                 "--vnc: port " + std::to_string(port) + " is above 65535");
  const auto net_port = htons(static_cast<uint16_t>(port));  // <= 65535, checked above
  if (host.empty() || host.find(':') != std::string::npos) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = net_port;
    address.sin6_addr = in6addr_any;
    if (!host.empty() && ::inet_pton(AF_INET6, host.c_str(), &address.sin6_addr) != 1)
      return Error(ErrorKind::kInvalidArgument, "--vnc: '" + host + "' is not an IPv6 address");
    auto v6 = bind_and_listen(AF_INET6, reinterpret_cast<const sockaddr*>(&address),
                              sizeof(address), host, port);
    // A host without IPv6 still listens on every IPv4 address.
    if (v6.ok() || !host.empty() || v6.error().error_number() != EAFNOSUPPORT) return v6;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = net_port;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  if (!host.empty() && ::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    return Error(ErrorKind::kInvalidArgument, "--vnc: '" + host + "' is not an IPv4 address");
  return bind_and_listen(AF_INET, reinterpret_cast<const sockaddr*>(&address), sizeof(address),
                         host, port);
}

SocketAddress local_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return describe(storage, length);
}

SocketAddress peer_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return describe(storage, length);
}

}  // namespace amber::hv::display
