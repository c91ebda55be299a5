// SPDX-License-Identifier: GPL-2.0-or-later
#include "vmmctl/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace amber::vmmctl {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

Error corrupt(std::string message) {
  return Error(ErrorKind::kCorrupt, std::move(message));
}

}  // namespace

Result<std::unique_ptr<Client>> Client::attach(int fd, std::chrono::milliseconds timeout) {
  std::unique_ptr<Client> client(new Client(fd, timeout));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    AMBER_TRY_ASSIGN(Message message, client->read_message(deadline));
    if (message.kind == Message::Kind::kEvent) {
      AMBER_TRY_ASSIGN(Event event, decode_event(message.body));
      client->events_.push_back(std::move(event));
      continue;
    }
    if (message.kind != Message::Kind::kGreeting)
      return client->fail(corrupt("control: expected the greeting, got a reply"));
    AMBER_TRY_ASSIGN(client->greeting_, decode_greeting(message.body));
    break;
  }
  if (client->greeting_.protocol.major != kProtocolVersion.major)
    return client->fail(Error(
        ErrorKind::kUnsupported,
        "control: amber-vmm speaks protocol " + std::to_string(client->greeting_.protocol.major) +
            "." + std::to_string(client->greeting_.protocol.minor) + ", this client " +
            std::to_string(kProtocolVersion.major) + "." + std::to_string(kProtocolVersion.minor)));
  return client;
}

Result<std::unique_ptr<Client>> Client::connect(const std::string& path,
                                                std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path))
    return Error(ErrorKind::kInvalidArgument, "control " + path + ": path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno(errno, "control: socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
    return Error::from_errno(errno, "control " + path);
  return attach(fd.release(), timeout);
}

Client::~Client() = default;

Error Client::fail(Error error) {
  broken_ = true;
  return error;
}

Result<void> Client::fill(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0)
    return fail(Error(ErrorKind::kIo, "control: no answer from amber-vmm (timeout)"));
  pollfd p{fd_.get(), POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(left.count()));  // left <= timeout_, fits an int
  if (ready < 0) {
    if (errno == EINTR) return ok();
    return fail(Error::from_errno(errno, "control: poll"));
  }
  if (ready == 0) return fail(Error(ErrorKind::kIo, "control: no answer from amber-vmm (timeout)"));
  char buffer[kReadChunk];
  const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return ok();
    return fail(Error::from_errno(errno, "control: read"));
  }
  if (n == 0) return fail(Error(ErrorKind::kIo, "control: amber-vmm closed the connection"));
  input_.append(buffer, static_cast<size_t>(n));
  return ok();
}

Result<Message> Client::read_message(std::chrono::steady_clock::time_point deadline) {
  if (broken_) return Error(ErrorKind::kIo, "control: the connection is broken");
  size_t newline;
  while ((newline = input_.find('\n')) == std::string::npos) {
    if (input_.size() > kMaxMessageLength)
      return fail(
          corrupt("control: a line longer than " + std::to_string(kMaxMessageLength) + " bytes"));
    AMBER_TRY(fill(deadline));
  }
  const std::string line = input_.substr(0, newline);
  input_.erase(0, newline + 1);
  auto message = decode_message(line);
  if (!message.ok()) return fail(std::move(message).error().with_context("control"));
  return message;
}

Result<Json> Client::execute(std::string_view command, const Json& arguments) {
  if (broken_) return Error(ErrorKind::kIo, "control: the connection is broken");
  const uint64_t id = next_id_++;
  const std::string line = encode_request(command, arguments, Json(id)) + "\n";
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Error::from_errno(errno, "control: " + std::string(command)));
    }
    done += static_cast<size_t>(n);  // n <= what was asked
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (true) {
    AMBER_TRY_ASSIGN(Message message, read_message(deadline));
    if (message.kind == Message::Kind::kEvent) {
      auto event = decode_event(message.body);
      if (!event.ok()) return fail(std::move(event).error().with_context("control"));
      events_.push_back(std::move(event).value());
      continue;
    }
    if (message.kind == Message::Kind::kGreeting)
      return fail(corrupt("control: a second greeting"));
    if (!message.id || *message.id != Json(id))
      return fail(corrupt("control: " + std::string(command) + ": the reply's id is " +
                          (message.id ? dump_json(*message.id) : std::string("missing")) +
                          ", expected " + std::to_string(id)));
    if (message.kind == Message::Kind::kError) return decode_error(command, message.body);
    return std::move(message.body);
  }
}

std::vector<Event> Client::take_events() {
  std::vector<Event> out(std::make_move_iterator(events_.begin()),
                         std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

Result<Event> Client::wait_event(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (events_.empty()) {
    AMBER_TRY_ASSIGN(Message message, read_message(deadline));
    if (message.kind != Message::Kind::kEvent)
      return fail(corrupt("control: a reply while no command was waiting"));
    auto event = decode_event(message.body);
    if (!event.ok()) return fail(std::move(event).error().with_context("control"));
    events_.push_back(std::move(event).value());
  }
  return pop_event();
}

// Out of line: GCC 12 at -O3 inlines the move of the variant into
// Result<Event> and then warns (-Wmaybe-uninitialized) about members of
// alternatives the variant does not hold.
[[gnu::noinline]] Event Client::pop_event() {
  Event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

}  // namespace amber::vmmctl
