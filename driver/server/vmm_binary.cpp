// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/server/vmm_binary.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#ifndef AMBER_BINDIR_FROM_SBINDIR
#define AMBER_BINDIR_FROM_SBINDIR "../bin"
#endif

namespace amber::driver::server {

namespace {

constexpr const char* kVmmName = "amber-vmm";

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::vector<std::string> vmm_binary_candidates(const std::string& self) {
  std::string directory = directory_of(self);
  std::string installed = AMBER_BINDIR_FROM_SBINDIR;
  if (installed.empty() || installed.front() != '/') installed = directory + "/" + installed;
  return {directory + "/" + kVmmName, directory + "/../hv/" + kVmmName, installed + "/" + kVmmName};
}

Result<std::string> find_vmm_binary() {
  char buffer[PATH_MAX] = {};
  ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return Error::from_errno(errno, "readlink /proc/self/exe");
  std::string searched;
  // length is in (0, PATH_MAX - 1] here.
  for (const std::string& candidate :
       vmm_binary_candidates(std::string(buffer, static_cast<size_t>(length)))) {
    if (access(candidate.c_str(), X_OK) == 0) {
      char resolved[PATH_MAX];  // the build tree's "driver/../hv" reads better resolved
      return realpath(candidate.c_str(), resolved) != nullptr ? std::string(resolved) : candidate;
    }
    searched += (searched.empty() ? "" : ", ") + candidate;
  }
  return Error(ErrorKind::kNotFound, "amber-vmm not found (searched " + searched +
                                         "); set vmm_binary in the config or --vmm-binary");
}

}  // namespace amber::driver::server
