// SPDX-License-Identifier: GPL-2.0-or-later
// Machine: one running VM: the KVM VM and vCPUs, guest RAM, the PIO and
// MMIO buses and the devices on them (owned here, attached by builder.cpp),
// and the run state (running / paused / io-error / shutdown) with reset.
//
// vCPU threads run vcpu_loop() (vcpu_loop.cpp); a running vCPU checks for a
// park request once per exit with two atomic loads, no lock: park_all()
// sets the request, then immediate_exit, then signals the thread, so a vCPU
// that checked just before still leaves KVM_RUN at once. Anything a vCPU thread
// wants done to the whole machine (reset, shutdown, failure) is posted with
// post() and carried out by the thread inside run(), which first parks all
// vCPUs. pause()/resume()/reset()/quit() may be called from any thread
// except a vCPU thread (the control socket thread uses them).
//
// Reset restores the vCPU and in-kernel irqchip/PIT state captured by
// capture_reset_state() right after set-up, calls every reset hook (device
// resets, re-copying the low BIOS alias or reloading a kernel) and resumes.
//
// A disk whose stop policy held a request posts kIoError (from its
// iothread): the machine thread stops the vCPUs in run state io-error and
// sends STOP. resume() (from paused or io-error) runs them again, sends
// RESUME and calls every resume hook (the disks retry what they hold).
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "hv/bus/io_bus.h"
#include "hv/kvm/kvm.h"
#include "hv/memory/ram.h"
#include "vmmctl/commands.h"
#include "vmmctl/events.h"

namespace amber::hv::vmm {

// The protocol's names (vmmctl::to_string gives the wire spelling).
using RunState = vmmctl::RunState;
using ShutdownReason = vmmctl::ShutdownReason;

enum class RebootPolicy { kReboot, kExitOnReboot };
// What a vCPU failure (KVM internal error, failed entry, guest crash event)
// does: end the process, or pause the VM for a control client to inspect.
enum class FailurePolicy { kExit, kPause };

struct Request {
  // kIoError: a disk held a request (stop policy); the VM stops in io-error.
  enum class Kind { kReset, kShutdown, kFailure, kIoError } kind;
  ShutdownReason reason = ShutdownReason::kGuestShutdown;
  int exit_code = 0;
  std::string message;
};

class Machine {
 public:
  Machine(kvm::KvmSystem system, std::unique_ptr<kvm::KvmVm> vm, GuestRam ram);
  ~Machine();

  kvm::KvmSystem& system() { return system_; }
  kvm::KvmVm& vm() { return *vm_; }
  GuestRam& ram() { return ram_; }
  bus::IoBus& pio() { return pio_; }
  bus::IoBus& mmio() { return mmio_; }

  // --- set-up (builder) ---
  void add_vcpu(std::unique_ptr<kvm::KvmVcpu> vcpu) { vcpus_.push_back(std::move(vcpu)); }
  kvm::KvmVcpu& vcpu(unsigned index) { return *vcpus_[index]; }
  unsigned vcpu_count() const { return static_cast<unsigned>(vcpus_.size()); }
  // Keeps a device alive as long as the machine.
  template <typename T>
  T* own(std::unique_ptr<T> object) {
    T* raw = object.get();
    owned_.push_back(std::shared_ptr<void>(std::move(object)));
    return raw;
  }
  void add_reset_hook(std::function<void()> hook) { reset_hooks_.push_back(std::move(hook)); }
  // Called by resume() after the vCPUs run again (control thread).
  void add_resume_hook(std::function<void()> hook) { resume_hooks_.push_back(std::move(hook)); }
  // Called once the vCPUs are parked by a stop (pause, io-error): devices
  // with their own clock (the USB frame timer) stop it until the resume
  // hooks run.
  void add_stop_hook(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }
  void set_reboot_policy(RebootPolicy policy) { reboot_policy_ = policy; }
  void set_failure_policy(FailurePolicy policy) { failure_policy_ = policy; }
  Result<void> capture_reset_state();
  // Receives event lines ({"event":...}) for the control socket.
  void set_event_sink(std::function<void(const std::string&)> sink);
  void emit_event(const vmmctl::Event& event);

  // --- from any thread ---
  void post(Request request);
  RunState state() const { return state_.load(); }

  // --- control (not from vCPU threads) ---
  void pause();
  void resume();
  void reset();
  void quit();

  // Starts the vCPUs and serves posted requests until shutdown; returns the
  // process exit status.
  int run();

  // --- vCPU side (vcpu_loop.cpp) ---
  void vcpu_loop(unsigned index);
  // Called on a vCPU thread after it posted a request that must stop it at
  // once (fatal exit, isa-debug-exit): returns when the machine parks it.
  void wait_for_park();

 private:
  struct VcpuSnapshot {
    kvm_regs regs;
    kvm_sregs sregs;
    kvm_fpu fpu;
    kvm_lapic_state lapic;
    kvm_mp_state mp_state;
  };

  void park_all();    // under control_mutex_
  void unpark_all();  // under control_mutex_
  void wait_while_parked(unsigned index);
  Result<void> restore_reset_state();
  void shutdown(ShutdownReason reason, int exit_code);
  // Stops the vCPUs in `state` (kPaused or kIoError), with a STOP event;
  // io-error also replaces paused (resume then retries the disks).
  void stop(RunState state);
  void handle(const Request& request);
  // Exit handlers (vcpu_loop.cpp).
  void handle_io(kvm::KvmVcpu& vcpu);
  void handle_mmio(kvm::KvmVcpu& vcpu);
  void report_internal_error(kvm::KvmVcpu& vcpu, const std::string& what);

  kvm::KvmSystem system_;
  std::unique_ptr<kvm::KvmVm> vm_;
  GuestRam ram_;
  bus::IoBus pio_{"pio"};
  bus::IoBus mmio_{"mmio"};
  std::vector<std::unique_ptr<kvm::KvmVcpu>> vcpus_;
  std::vector<std::thread> threads_;
  std::vector<pthread_t> thread_handles_;
  std::vector<std::shared_ptr<void>> owned_;
  std::vector<std::function<void()>> reset_hooks_;
  std::vector<std::function<void()>> resume_hooks_;
  std::vector<std::function<void()>> stop_hooks_;
  std::vector<VcpuSnapshot> snapshots_;
  kvm_irqchip chips_[3]{};
  kvm_pit_state2 pit_{};
  RebootPolicy reboot_policy_ = RebootPolicy::kReboot;
  FailurePolicy failure_policy_ = FailurePolicy::kExit;

  std::atomic<RunState> state_{RunState::kPaused};
  std::mutex control_mutex_;  // serializes pause/resume/reset/quit

  // park_requested_ and stopping_ change only under park_mutex_ (so park_cv_
  // waiters see every change) but are atomics: each vCPU reads them once per
  // exit without the mutex, and takes it only to park.
  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  std::atomic<bool> park_requested_{true};  // vCPUs start parked until run()
  std::atomic<bool> stopping_{false};
  unsigned parked_ = 0;

  std::mutex request_mutex_;
  std::condition_variable request_cv_;
  std::deque<Request> requests_;
  bool quit_requested_ = false;
  int exit_code_ = 0;

  std::mutex event_mutex_;
  std::function<void(const std::string&)> event_sink_;
};

}  // namespace amber::hv::vmm
