// SPDX-License-Identifier: GPL-2.0-or-later
// amber-vmm: parses the command line, builds the VM, serves the control
// socket and runs until the guest or the host ends it. See doc/amber-vmm.md.
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "common/version.h"
#include "hv/control/control_server.h"
#include "hv/vmm/builder.h"
#include "hv/vmm/config.h"

int main(int argc, char** argv) {
  using namespace amber::hv::vmm;
  auto command_line = parse_command_line(argc, argv);
  if (!command_line.ok()) {
    std::fprintf(stderr, "amber-vmm: %s\n", command_line.error().message().c_str());
    return 1;
  }
  if (command_line->action == Action::kHelp) {
    std::fputs(help_text().c_str(), stdout);
    return 0;
  }
  if (command_line->action == Action::kVersion) {
    std::printf("amber-vmm %s\n", std::string(amber::kVersion).c_str());
    return 0;
  }
  const Config& config = command_line->config;
  ::signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT become a clean quit: blocked here (every thread inherits
  // the mask) and taken by one waiter thread with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto vm = build_vm(config);
  if (!vm.ok()) {
    std::fprintf(stderr, "amber-vmm: %s\n", vm.error().message().c_str());
    return 1;
  }
  std::unique_ptr<amber::hv::control::ControlServer> control;
  if (!config.control.empty()) {
    auto server = amber::hv::control::ControlServer::start(config.control, config.name, **vm);
    if (!server.ok()) {
      std::fprintf(stderr, "amber-vmm: %s\n", server.error().message().c_str());
      return 1;
    }
    control = std::move(server).value();
  }
  Machine* machine = (*vm)->machine.get();
  std::thread([stop_signals, machine] {
    int signal_number = 0;
    if (sigwait(&stop_signals, &signal_number) == 0) machine->quit();
  }).detach();
  const int status = machine->run();
  control.reset();
  return status;
}
