// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/net/slirp_backend.h"

#include <slirp/libslirp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "common/rate_limit.h"

namespace amber::hv::net {

struct SlirpBackend::Timer {
  void (*callback)(void*) = nullptr;  // timer_new
  void* callback_opaque = nullptr;
  int id = 0;  // timer_new_opaque: handed back to slirp_handle_timer
  bool by_id = false;
  int64_t expire_ms = -1;  // -1: not armed
};

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

SlirpBackend* self(void* opaque) {
  return static_cast<SlirpBackend*>(opaque);
}

in_addr to_in_addr(uint32_t host_order) {
  in_addr a{};
  a.s_addr = htonl(host_order);
  return a;
}

ssize_t on_send_packet(const void* buffer, size_t length, void* opaque) {
  self(opaque)->deliver(std::span<const uint8_t>(static_cast<const uint8_t*>(buffer), length));
  return static_cast<ssize_t>(length);
}

void on_guest_error(const char* message, void* /*opaque*/) {
  static RateLimiter limiter(kGuestLogBurst, kGuestLogInterval);
  if (const auto suppressed = limiter.allow())
    std::fprintf(stderr, "amber-vmm: slirp: guest error: %s%s\n", message,
                 suppressed_note(*suppressed).c_str());
}

int64_t on_clock_get_ns(void* /*opaque*/) {
  return now_ns();
}

void* on_timer_new(SlirpTimerCb callback, void* callback_opaque, void* opaque) {
  return self(opaque)->new_timer(callback, callback_opaque, 0, false);
}

void* on_timer_new_opaque(SlirpTimerId id, void* callback_opaque, void* opaque) {
  return self(opaque)->new_timer(nullptr, callback_opaque, static_cast<int>(id), true);
}

void on_timer_free(void* timer, void* opaque) {
  self(opaque)->free_timer(static_cast<SlirpBackend::Timer*>(timer));
}

void on_timer_mod(void* timer, int64_t expire_ms, void* opaque) {
  self(opaque)->modify_timer(static_cast<SlirpBackend::Timer*>(timer), expire_ms);
}

void on_register_poll_fd(int /*fd*/, void* /*opaque*/) {}
void on_unregister_poll_fd(int /*fd*/, void* /*opaque*/) {}
void on_notify(void* /*opaque*/) {}  // the thread polls every turn anyway

int on_add_poll(int fd, int events, void* opaque) {
  return self(opaque)->add_poll(fd, events);
}
int on_get_revents(int index, void* opaque) {
  return self(opaque)->revents(index);
}

const SlirpCb kCallbacks = {
    .send_packet = on_send_packet,
    .guest_error = on_guest_error,
    .clock_get_ns = on_clock_get_ns,
    .timer_new = on_timer_new,
    .timer_free = on_timer_free,
    .timer_mod = on_timer_mod,
    .register_poll_fd = on_register_poll_fd,
    .unregister_poll_fd = on_unregister_poll_fd,
    .notify = on_notify,
    .init_completed = nullptr,
    .timer_new_opaque = on_timer_new_opaque,
};

// The most slirp's thread sleeps with no timer armed: stop() and queued
// frames wake it through the eventfd anyway.
constexpr int kIdlePollMs = 1000;

}  // namespace

Result<SlirpSettings> slirp_settings(const vmmctl::NicSettings& nic) {
  SlirpSettings s;
  AMBER_TRY_ASSIGN(s.net, vmmctl::parse_ipv4_net(nic.net));
  AMBER_TRY_ASSIGN(s.host, vmmctl::parse_ipv4(nic.host));
  AMBER_TRY_ASSIGN(s.dns, vmmctl::parse_ipv4(nic.dns));
  AMBER_TRY_ASSIGN(s.dhcp_start, vmmctl::parse_ipv4(nic.dhcp_start));
  for (const std::string& rule : nic.hostfwd) {
    AMBER_TRY_ASSIGN(auto forward, vmmctl::parse_hostfwd(rule));
    s.forwards.push_back(forward);
  }
  return s;
}

Result<std::unique_ptr<SlirpBackend>> SlirpBackend::create(const SlirpSettings& settings) {
  std::unique_ptr<SlirpBackend> backend(new SlirpBackend());
  backend->wakeup_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!backend->wakeup_) return Error::from_errno(errno, "slirp: eventfd");
  SlirpConfig config{};
  config.version = 4;  // Debian 12's libslirp 4.7 (SLIRP_CONFIG_VERSION_MAX)
  config.restricted = 0;
  config.in_enabled = true;
  config.vnetwork = to_in_addr(settings.net.address);
  config.vnetmask = to_in_addr(settings.net.mask);
  config.vhost = to_in_addr(settings.host);
  config.in6_enabled = false;
  config.vdhcp_start = to_in_addr(settings.dhcp_start);
  config.vnameserver = to_in_addr(settings.dns);
  config.disable_dns = false;
  config.disable_dhcp = false;
  backend->slirp_ = slirp_new(&config, &kCallbacks, backend.get());
  if (backend->slirp_ == nullptr)
    return Error(ErrorKind::kInvalidArgument, "--nic backend=user: libslirp refused the network");
  for (const vmmctl::HostForward& rule : settings.forwards) {
    const uint32_t guest = rule.guest_address != 0 ? rule.guest_address : settings.dhcp_start;
    if (slirp_add_hostfwd(backend->slirp_, rule.udp ? 1 : 0, to_in_addr(rule.host_address),
                          rule.host_port, to_in_addr(guest), rule.guest_port) < 0)
      return Error(ErrorKind::kInvalidArgument,
                   std::string("--nic hostfwd: could not forward ") + (rule.udp ? "udp" : "tcp") +
                       " port " + std::to_string(rule.host_port) + " on " +
                       vmmctl::format_ipv4(rule.host_address) + " (in use?)");
  }
  return backend;
}

SlirpBackend::~SlirpBackend() {
  stop();
  if (slirp_ != nullptr) slirp_cleanup(slirp_);
}

Result<void> SlirpBackend::start(FrameSink& sink) {
  if (thread_.joinable()) return ok();
  sink_ = &sink;
  thread_ = std::thread([this] { run(); });
  return ok();
}

SendResult SlirpBackend::send(std::span<const uint8_t> frame) {
  {
    std::lock_guard lock(queue_mutex_);
    if (queue_.size() >= kMaxQueuedFrames) return SendResult::kDropped;
    queue_.emplace_back(frame.begin(), frame.end());
  }
  wake();
  return SendResult::kSent;
}

void SlirpBackend::wake() {
  const uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof one);
}

void SlirpBackend::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void SlirpBackend::deliver(std::span<const uint8_t> frame) {
  dhcp_.observe(frame, steady_now_ms());
  if (sink_ != nullptr) sink_->receive_frame(frame);
}

SlirpBackend::Timer* SlirpBackend::new_timer(void (*callback)(void*), void* callback_opaque, int id,
                                             bool by_id) {
  auto timer = std::make_unique<Timer>();
  timer->callback = callback;
  timer->callback_opaque = callback_opaque;
  timer->id = id;
  timer->by_id = by_id;
  timers_.push_back(std::move(timer));
  return timers_.back().get();
}

void SlirpBackend::free_timer(Timer* timer) {
  std::erase_if(timers_, [timer](const std::unique_ptr<Timer>& t) { return t.get() == timer; });
}

void SlirpBackend::modify_timer(Timer* timer, int64_t expire_ms) {
  timer->expire_ms = expire_ms;
}

int SlirpBackend::add_poll(int fd, int events) {
  pollfd p{};
  p.fd = fd;
  if (events & SLIRP_POLL_IN) p.events |= POLLIN;
  if (events & SLIRP_POLL_OUT) p.events |= POLLOUT;
  if (events & SLIRP_POLL_PRI) p.events |= POLLPRI;
  pollfds_.push_back(p);
  return static_cast<int>(pollfds_.size() - 1);
}

int SlirpBackend::revents(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= pollfds_.size()) return 0;
  const short r = pollfds_[static_cast<size_t>(index)].revents;
  int out = 0;
  if (r & POLLIN) out |= SLIRP_POLL_IN;
  if (r & POLLOUT) out |= SLIRP_POLL_OUT;
  if (r & POLLPRI) out |= SLIRP_POLL_PRI;
  if (r & POLLERR) out |= SLIRP_POLL_ERR;
  if (r & POLLHUP) out |= SLIRP_POLL_HUP;
  return out;
}

int64_t SlirpBackend::next_timer_ms() const {
  int64_t next = -1;
  for (const auto& t : timers_)
    if (t->expire_ms >= 0 && (next < 0 || t->expire_ms < next)) next = t->expire_ms;
  return next;
}

void SlirpBackend::fire_timers() {
  const int64_t now = now_ns() / 1000000;
  // A callback may free or re-arm timers: pick one expired timer at a time.
  for (bool fired = true; fired;) {
    fired = false;
    for (const auto& t : timers_) {
      if (t->expire_ms < 0 || t->expire_ms > now) continue;
      t->expire_ms = -1;
      if (t->by_id)
        slirp_handle_timer(slirp_, static_cast<SlirpTimerId>(t->id), t->callback_opaque);
      else
        t->callback(t->callback_opaque);
      fired = true;
      break;
    }
  }
}

void SlirpBackend::run() {
  std::deque<std::vector<uint8_t>> batch;
  while (!stopping_) {
    {
      std::lock_guard lock(queue_mutex_);
      batch.swap(queue_);
    }
    for (const auto& frame : batch) {
      dhcp_.observe(frame, steady_now_ms());
      slirp_input(slirp_, frame.data(), static_cast<int>(frame.size()));
    }
    batch.clear();

    pollfds_.clear();
    pollfd wakeup{};
    wakeup.fd = wakeup_.get();
    wakeup.events = POLLIN;
    pollfds_.push_back(wakeup);
    uint32_t timeout = kIdlePollMs;
    slirp_pollfds_fill(slirp_, &timeout, on_add_poll, this);
    int wait_ms = static_cast<int>(std::min<uint32_t>(timeout, kIdlePollMs));
    if (const int64_t next = next_timer_ms(); next >= 0) {
      const int64_t until = next - now_ns() / 1000000;
      wait_ms = static_cast<int>(std::clamp<int64_t>(until, 0, wait_ms));
    }
    const int ready = ::poll(pollfds_.data(), pollfds_.size(), wait_ms);
    if (ready > 0 && (pollfds_[0].revents & POLLIN)) {
      uint64_t count = 0;
      (void)!::read(wakeup_.get(), &count, sizeof count);
    }
    slirp_pollfds_poll(slirp_, ready < 0 ? 1 : 0, on_get_revents, this);
    fire_timers();
  }
}

}  // namespace amber::hv::net
