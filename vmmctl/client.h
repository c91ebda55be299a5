// SPDX-License-Identifier: GPL-2.0-or-later
// Client: the daemon's end of one amber-vmm control connection. It reads
// the greeting (refusing another protocol major), then runs one command at
// a time: each request carries a fresh numeric "id" and the reply must echo
// it. Events that arrive while a reply is awaited are kept, in order, for
// take_events() / wait_event().
//
// Input is buffered: lines may arrive split or several in one read; a line
// over kMaxMessageLength, malformed JSON, a reply with another id, EOF or a
// timeout is an Error, after which the connection is unusable (broken()).
//
// Thread-safety: one thread at a time (the daemon's per-VM worker).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmmctl/commands.h"
#include "vmmctl/events.h"
#include "vmmctl/protocol.h"

namespace amber::vmmctl {

// How long a reply (or the greeting) may take: commands are answered by
// the control thread at once, so seconds mean a hung VMM.
inline constexpr std::chrono::milliseconds kDefaultReplyTimeout{10000};

class Client {
 public:
  // Takes ownership of a connected stream socket and reads the greeting.
  static Result<std::unique_ptr<Client>> attach(
      int fd, std::chrono::milliseconds timeout = kDefaultReplyTimeout);
  // Connects to amber-vmm's --control socket at `path`.
  static Result<std::unique_ptr<Client>> connect(
      const std::string& path, std::chrono::milliseconds timeout = kDefaultReplyTimeout);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Greeting& greeting() const { return greeting_; }
  bool broken() const { return broken_; }

  // A typed command: call<QueryStatus>() returns Result<StatusInfo>.
  template <typename C>
  Result<typename C::Reply> call(const typename C::Request& request = {}) {
    const std::string_view name = command_name(C::kId);
    AMBER_TRY_ASSIGN(Json value, execute(name, encode(request)));
    typename C::Reply reply{};
    if (auto decoded = decode(value, reply); !decoded.ok())
      return std::move(decoded).error().with_context(std::string(name) + " reply");
    return reply;
  }

  // Any command by name; the reply's "return" value, or its error as an
  // Error (decode_error: CommandNotFound is kNotFound, Unsupported is
  // kUnsupported, the rest kInvalidArgument).
  Result<Json> execute(std::string_view command, const Json& arguments = Json::object());

  // Events received so far, oldest first; the queue is emptied.
  std::vector<Event> take_events();
  // The oldest queued event, or the next one to arrive within `timeout`.
  Result<Event> wait_event(std::chrono::milliseconds timeout);

 private:
  Client(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  // The next line the server sends, parsed; waits until `deadline`.
  Result<Message> read_message(std::chrono::steady_clock::time_point deadline);
  Result<void> fill(std::chrono::steady_clock::time_point deadline);
  Error fail(Error error);
  Event pop_event();  // the front of events_, removed

  UniqueFd fd_;
  std::chrono::milliseconds timeout_;
  std::string input_;
  Greeting greeting_;
  uint64_t next_id_ = 1;
  std::deque<Event> events_;
  bool broken_ = false;
};

}  // namespace amber::vmmctl
