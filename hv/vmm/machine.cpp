// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/vmm/machine.h"

#include <signal.h>

#include <cstdio>
#include <cstring>

namespace amber::hv::vmm {
namespace {

// The signal that knocks a vCPU thread out of KVM_RUN. The handler does
// nothing; the EINTR from KVM_RUN is what matters.
constexpr int kKickSignal = SIGUSR1;

void ignore_signal(int) {}

void install_kick_handler() {
  struct sigaction action {};
  action.sa_handler = ignore_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kKickSignal, &action, nullptr);
}

}  // namespace

Machine::Machine(kvm::KvmSystem system, std::unique_ptr<kvm::KvmVm> vm, GuestRam ram)
    : system_(std::move(system)), vm_(std::move(vm)), ram_(std::move(ram)) {}

Machine::~Machine() {
  {
    std::lock_guard lock(park_mutex_);
    stopping_ = true;
    park_requested_ = false;
  }
  park_cv_.notify_all();
  for (unsigned i = 0; i < threads_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    pthread_kill(thread_handles_[i], kKickSignal);
  }
  for (auto& thread : threads_) thread.join();
  // Devices refer to ones created before them (the interrupt controller,
  // the buses): destroy them newest first.
  while (!owned_.empty()) owned_.pop_back();
}

Result<void> Machine::capture_reset_state() {
  snapshots_.clear();
  for (auto& vcpu : vcpus_) {
    VcpuSnapshot snap{};
    AMBER_TRY_ASSIGN(snap.regs, vcpu->get_regs());
    AMBER_TRY_ASSIGN(snap.sregs, vcpu->get_sregs());
    AMBER_TRY_ASSIGN(snap.fpu, vcpu->get_fpu());
    AMBER_TRY(vcpu->get_lapic(&snap.lapic));
    AMBER_TRY_ASSIGN(snap.mp_state, vcpu->get_mp_state());
    snapshots_.push_back(snap);
  }
  for (unsigned i = 0; i < 3; ++i) {
    chips_[i].chip_id = i;  // KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC
    AMBER_TRY(vm_->get_irqchip(&chips_[i]));
  }
  AMBER_TRY(vm_->get_pit(&pit_));
  return ok();
}

Result<void> Machine::restore_reset_state() {
  for (unsigned i = 0; i < vcpus_.size() && i < snapshots_.size(); ++i) {
    const VcpuSnapshot& snap = snapshots_[i];
    AMBER_TRY(vcpus_[i]->set_sregs(snap.sregs));
    AMBER_TRY(vcpus_[i]->set_regs(snap.regs));
    AMBER_TRY(vcpus_[i]->set_fpu(snap.fpu));
    AMBER_TRY(vcpus_[i]->set_lapic(snap.lapic));
    AMBER_TRY(vcpus_[i]->set_mp_state(snap.mp_state));
  }
  for (const auto& chip : chips_) AMBER_TRY(vm_->set_irqchip(chip));
  AMBER_TRY(vm_->set_pit(pit_));
  return ok();
}

void Machine::set_event_sink(std::function<void(const std::string&)> sink) {
  std::lock_guard lock(event_mutex_);
  event_sink_ = std::move(sink);
}

void Machine::emit_event(const vmmctl::Event& event) {
  std::lock_guard lock(event_mutex_);
  if (event_sink_) event_sink_(vmmctl::format_event(event));
}

void Machine::post(Request request) {
  {
    std::lock_guard lock(request_mutex_);
    requests_.push_back(std::move(request));
  }
  request_cv_.notify_all();
}

void Machine::park_all() {
  std::unique_lock lock(park_mutex_);
  park_requested_ = true;
  park_cv_.notify_all();
  for (unsigned i = 0; i < threads_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    pthread_kill(thread_handles_[i], kKickSignal);
  }
  park_cv_.wait(lock, [&] { return parked_ == threads_.size() || stopping_; });
}

void Machine::unpark_all() {
  {
    std::lock_guard lock(park_mutex_);
    park_requested_ = false;
  }
  park_cv_.notify_all();
}

void Machine::wait_while_parked(unsigned index) {
  std::unique_lock lock(park_mutex_);
  while (park_requested_ && !stopping_) {
    ++parked_;
    park_cv_.notify_all();
    park_cv_.wait(lock);
    --parked_;
  }
  vcpus_[index]->run_struct()->immediate_exit = 0;
}

void Machine::stop(RunState state) {
  std::lock_guard lock(control_mutex_);
  if (state_ == RunState::kRunning) {
    park_all();
  } else if (state_ != RunState::kPaused || state != RunState::kIoError) {
    return;  // stopped already (or shut down)
  }
  state_ = state;
  for (auto& hook : stop_hooks_) hook();
  emit_event(vmmctl::StopEvent{state});
}

void Machine::pause() {
  stop(RunState::kPaused);
}

void Machine::resume() {
  std::lock_guard lock(control_mutex_);
  if (state_ != RunState::kPaused && state_ != RunState::kIoError) return;
  state_ = RunState::kRunning;
  unpark_all();
  emit_event(vmmctl::ResumeEvent{});
  // After RESUME: a retry that fails again gives BLOCK_IO_ERROR and STOP.
  for (auto& hook : resume_hooks_) hook();
}

void Machine::reset() {
  std::lock_guard lock(control_mutex_);
  if (state_ == RunState::kShutdown) return;
  park_all();
  for (auto& hook : reset_hooks_) hook();
  if (auto restored = restore_reset_state(); !restored.ok())
    std::fprintf(stderr, "amber-vmm: reset failed: %s\n", restored.error().message().c_str());
  emit_event(vmmctl::ResetEvent{});
  if (state_ == RunState::kRunning) unpark_all();
}

void Machine::shutdown(ShutdownReason reason, int exit_code) {
  {
    std::lock_guard lock(control_mutex_);
    if (state_ == RunState::kShutdown) return;
    park_all();
    state_ = RunState::kShutdown;
  }
  emit_event(vmmctl::ShutdownEvent{reason});
  std::lock_guard lock(request_mutex_);
  quit_requested_ = true;
  exit_code_ = exit_code;
  request_cv_.notify_all();
}

void Machine::quit() {
  post({Request::Kind::kShutdown, ShutdownReason::kHostQuit, 0, ""});
}

void Machine::handle(const Request& request) {
  switch (request.kind) {
    case Request::Kind::kReset:
      if (reboot_policy_ == RebootPolicy::kExitOnReboot) {
        shutdown(ShutdownReason::kGuestReset, 0);
      } else {
        reset();
      }
      break;
    case Request::Kind::kShutdown:
      shutdown(request.reason, request.exit_code);
      break;
    case Request::Kind::kIoError:
      stop(RunState::kIoError);
      break;
    case Request::Kind::kFailure: {
      std::fprintf(stderr, "amber-vmm: %s\n", request.message.c_str());
      emit_event(vmmctl::DeviceFailedEvent{"cpu", request.message});
      if (failure_policy_ == FailurePolicy::kExit) {
        shutdown(ShutdownReason::kGuestPanic, 1);
      } else {
        pause();
      }
      break;
    }
  }
}

int Machine::run() {
  install_kick_handler();
  {
    std::lock_guard control(control_mutex_);
    state_ = RunState::kRunning;
    {
      std::lock_guard lock(park_mutex_);
      park_requested_ = false;
    }
    threads_.reserve(vcpus_.size());
    for (unsigned i = 0; i < vcpus_.size(); ++i) {
      threads_.emplace_back([this, i] { vcpu_loop(i); });
      thread_handles_.push_back(threads_.back().native_handle());
    }
  }
  std::unique_lock lock(request_mutex_);
  while (!quit_requested_) {
    request_cv_.wait(lock, [&] { return !requests_.empty() || quit_requested_; });
    while (!requests_.empty() && !quit_requested_) {
      Request request = std::move(requests_.front());
      requests_.pop_front();
      lock.unlock();
      handle(request);
      lock.lock();
    }
  }
  return exit_code_;
}

}  // namespace amber::hv::vmm
