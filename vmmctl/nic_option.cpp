// SPDX-License-Identifier: GPL-2.0-or-later
// --nic: one network card per option (parse, format, validate), and the
// address pieces its user-mode settings are made of.
#include <charconv>
#include <cstdio>

#include "vmmctl/launch.h"
#include "vmmctl/option_list.h"

namespace amber::vmmctl {
namespace {

Error bad(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

// The user-mode keys, for the unknown-key message.
constexpr std::string_view kUserKeys = "net, host, dns, dhcpstart, hostfwd";

Result<uint16_t> parse_port(std::string_view text, std::string_view rule) {
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || ptr != text.data() + text.size() || port > 65535)
    return bad("--nic hostfwd: '" + std::string(rule) + "': '" + std::string(text) +
               "' is not a port");
  return static_cast<uint16_t>(port);
}

// "[ADDR]:PORT" of a hostfwd rule.
Result<std::pair<uint32_t, uint16_t>> parse_endpoint(std::string_view text, std::string_view rule) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return bad("--nic hostfwd: '" + std::string(rule) +
               "' is not [tcp|udp]:[ADDR]:PORT-[ADDR]:PORT");
  uint32_t address = 0;
  if (colon > 0) {
    AMBER_TRY_ASSIGN(address, parse_ipv4(text.substr(0, colon)));
  }
  AMBER_TRY_ASSIGN(const uint16_t port, parse_port(text.substr(colon + 1), rule));
  return std::pair{address, port};
}

}  // namespace

std::string_view to_string(NicModel model) {
  return model == NicModel::kVirtio ? "virtio" : "e1000";
}

std::string format_mac(const std::array<uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

Result<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  std::array<uint8_t, 6> mac{};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() != 17)
    return bad("--nic mac: '" + std::string(text) + "' is not XX:XX:XX:XX:XX:XX");
  for (size_t i = 0; i < 6; ++i) {
    const int high = hex(text[i * 3]), low = hex(text[i * 3 + 1]);
    if (high < 0 || low < 0 || (i < 5 && text[i * 3 + 2] != ':'))
      return bad("--nic mac: '" + std::string(text) + "' is not XX:XX:XX:XX:XX:XX");
    mac[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return mac;
}

Result<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t address = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int part = 0; part < 4; ++part) {
    unsigned byte = 0;
    auto [next, ec] = std::from_chars(p, end, byte);
    if (ec != std::errc() || byte > 255 || next - p > 3)
      return bad("--nic: '" + std::string(text) + "' is not an IPv4 address");
    address = address << 8 | byte;
    p = next;
    if (part < 3) {
      if (p == end || *p != '.')
        return bad("--nic: '" + std::string(text) + "' is not an IPv4 address");
      ++p;
    }
  }
  if (p != end) return bad("--nic: '" + std::string(text) + "' is not an IPv4 address");
  return address;
}

std::string format_ipv4(uint32_t address) {
  return std::to_string(address >> 24) + "." + std::to_string(address >> 16 & 0xff) + "." +
         std::to_string(address >> 8 & 0xff) + "." + std::to_string(address & 0xff);
}

Result<Ipv4Net> parse_ipv4_net(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos)
    return bad("--nic net: '" + std::string(text) + "' is not ADDR/BITS");
  AMBER_TRY_ASSIGN(const uint32_t address, parse_ipv4(text.substr(0, slash)));
  const std::string_view tail = text.substr(slash + 1);
  uint32_t mask = 0;
  if (tail.find('.') != std::string_view::npos) {
    AMBER_TRY_ASSIGN(mask, parse_ipv4(tail));
    if ((~mask & (~mask + 1)) != 0)
      return bad("--nic net: '" + std::string(tail) + "' is not a netmask");
  } else {
    // A network needs room for the host, the DNS and a DHCP pool: /1../30.
    AMBER_TRY_ASSIGN(const unsigned bits, parse_unsigned(tail, "--nic net prefix", 1, 30));
    mask = ~uint32_t{0} << (32 - bits);
  }
  if (mask == 0 || (~mask) < 3) return bad("--nic net: '" + std::string(text) + "' is too small");
  return Ipv4Net{address & mask, mask};
}

Result<HostForward> parse_hostfwd(std::string_view text) {
  HostForward rule;
  std::string_view rest = text;
  if (rest.rfind("tcp:", 0) == 0) {
    rest.remove_prefix(4);
  } else if (rest.rfind("udp:", 0) == 0) {
    rule.udp = true;
    rest.remove_prefix(4);
  } else if (!rest.empty() && rest[0] == ':') {
    rest.remove_prefix(1);  // QEMU: an empty protocol is tcp
  } else {
    return bad("--nic hostfwd: '" + std::string(text) + "' does not start with tcp: or udp:");
  }
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos)
    return bad("--nic hostfwd: '" + std::string(text) +
               "' is not [tcp|udp]:[ADDR]:PORT-[ADDR]:PORT");
  AMBER_TRY_ASSIGN(const auto host, parse_endpoint(rest.substr(0, dash), text));
  AMBER_TRY_ASSIGN(const auto guest, parse_endpoint(rest.substr(dash + 1), text));
  rule.host_address = host.first;
  rule.host_port = host.second;
  rule.guest_address = guest.first;
  rule.guest_port = guest.second;
  if (rule.guest_port == 0)
    return bad("--nic hostfwd: '" + std::string(text) + "': the guest port is 0");
  return rule;
}

Result<NicSettings> parse_nic(std::string_view text) {
  NicSettings nic;
  AMBER_TRY_ASSIGN(auto items, split_option_list(text, "--nic"));
  bool have_mac = false;
  bool have_fd = false;
  bool have_host = false, have_dns = false, have_dhcp_start = false;
  for (auto& [key, value] : items) {
    if (key == "model") {
      if (value == "e1000")
        nic.model = NicModel::kE1000;
      else if (value == "virtio" || value == "virtio-net")
        nic.model = NicModel::kVirtio;
      else
        return bad("--nic model: '" + value + "' is not e1000 or virtio");
    } else if (key == "mac") {
      AMBER_TRY_ASSIGN(nic.mac, parse_mac(value));
      have_mac = true;
    } else if (key == "backend") {
      if (value == "user")
        nic.backend = NetBackend::kUser;
      else if (value == "tap")
        nic.backend = NetBackend::kTap;
      else
        return bad("--nic backend: '" + value + "' is not user or tap");
    } else if (key == "fd") {
      AMBER_TRY_ASSIGN(const unsigned fd, parse_unsigned(value, "--nic fd", 3, kMaxSecretFd));
      nic.tap_fd = static_cast<int>(fd);
      have_fd = true;
    } else if (key == "net") {
      nic.net = value;
    } else if (key == "host") {
      nic.host = value;
      have_host = true;
    } else if (key == "dns") {
      nic.dns = value;
      have_dns = true;
    } else if (key == "dhcpstart") {
      nic.dhcp_start = value;
      have_dhcp_start = true;
    } else if (key == "hostfwd") {
      nic.hostfwd.push_back(value);
    } else if (key == "queues") {
      AMBER_TRY_ASSIGN(nic.queues, parse_unsigned(value, "--nic queues", 1, kMaxNicQueues));
    } else if (key == "romfile") {
      if (value.empty()) return bad("--nic romfile: must not be empty (none: no ROM)");
      nic.romfile = value;
    } else if (key == "addr") {
      AMBER_TRY_ASSIGN(nic.addr, parse_pci_slot(value, "--nic addr"));
    } else {
      return bad("--nic: unknown key '" + key +
                 "' (model, mac, backend, fd, queues, romfile, addr, " + std::string(kUserKeys) +
                 ")");
    }
  }
  if (!have_mac) return bad("--nic: mac=XX:XX:XX:XX:XX:XX is required");
  if (nic.backend == NetBackend::kTap && !have_fd)
    return bad("--nic backend=tap: fd=N is required");
  // As QEMU: addresses not given sit at .2, .3 and .15 of net=.
  if (nic.net != NicSettings{}.net) {
    AMBER_TRY_ASSIGN(const Ipv4Net net, parse_ipv4_net(nic.net));
    if (!have_host) nic.host = format_ipv4(net.address + 2);
    if (!have_dns) nic.dns = format_ipv4(net.address + 3);
    if (!have_dhcp_start) nic.dhcp_start = format_ipv4(net.address + 15);
  }
  return nic;
}

std::string format_nic(const NicSettings& nic) {
  const NicSettings defaults;
  std::string out = "model=" + std::string(to_string(nic.model)) + ",mac=" + format_mac(nic.mac);
  if (nic.backend == NetBackend::kTap) {
    out += ",backend=tap,fd=" + std::to_string(nic.tap_fd);
  } else {
    out += ",backend=user";
    if (nic.net != defaults.net) out += ",net=" + escape_option_value(nic.net);
    if (nic.host != defaults.host) out += ",host=" + escape_option_value(nic.host);
    if (nic.dns != defaults.dns) out += ",dns=" + escape_option_value(nic.dns);
    if (nic.dhcp_start != defaults.dhcp_start)
      out += ",dhcpstart=" + escape_option_value(nic.dhcp_start);
    for (const std::string& rule : nic.hostfwd) out += ",hostfwd=" + escape_option_value(rule);
  }
  if (nic.queues != 1) out += ",queues=" + std::to_string(nic.queues);
  if (!nic.romfile.empty()) out += ",romfile=" + escape_option_value(nic.romfile);
  if (nic.addr) out += ",addr=" + format_pci_slot(*nic.addr);
  return out;
}

Result<void> validate_nic(const NicSettings& nic) {
  if (nic.queues < 1 || nic.queues > kMaxNicQueues)
    return bad("--nic queues: " + std::to_string(nic.queues) + " is not 1.." +
               std::to_string(kMaxNicQueues));
  if (nic.model != NicModel::kVirtio && nic.queues != 1)
    return bad("--nic queues: only with model=virtio");
  if (nic.mac == std::array<uint8_t, 6>{})
    return bad("--nic mac: 00:00:00:00:00:00 is not a card's address");
  if (nic.mac[0] & 1) return bad("--nic mac: '" + format_mac(nic.mac) + "' is a multicast address");
  if (nic.addr) AMBER_TRY(validate_device_slot(*nic.addr, "--nic addr"));
  if (nic.backend == NetBackend::kTap) {
    if (nic.tap_fd < 3 || nic.tap_fd > static_cast<int>(kMaxSecretFd))
      return bad("--nic fd: '" + std::to_string(nic.tap_fd) +
                 "' is not a file descriptor from 3 to " + std::to_string(kMaxSecretFd));
    return ok();
  }
  if (nic.tap_fd != -1) return bad("--nic fd: only with backend=tap");
  AMBER_TRY_ASSIGN(const Ipv4Net net, parse_ipv4_net(nic.net));
  const std::pair<std::string_view, const std::string*> addresses[] = {
      {"host", &nic.host}, {"dns", &nic.dns}, {"dhcpstart", &nic.dhcp_start}};
  for (const auto& [key, text] : addresses) {
    auto address = parse_ipv4(*text);
    if (!address.ok())
      return bad("--nic " + std::string(key) + ": '" + *text + "' is not an IPv4 address");
    if ((*address & net.mask) != net.address)
      return bad("--nic " + std::string(key) + ": " + *text + " is not in net=" + nic.net);
    const uint32_t host_part = *address & ~net.mask;
    if (host_part == 0 || host_part == ~net.mask)
      return bad("--nic " + std::string(key) + ": " + *text +
                 " is the network's or broadcast address");
  }
  for (const std::string& rule : nic.hostfwd) AMBER_TRY(parse_hostfwd(rule));
  return ok();
}

}  // namespace amber::vmmctl
