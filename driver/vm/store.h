// SPDX-License-Identifier: GPL-2.0-or-later
// Store: the manager's files. Persistent XML is config_dir/NAME.xml, written
// atomically (temp file, fsync, rename, fsync of the directory), so a crash
// leaves the old or the new file, never half of one. Autostart is a symlink
// config_dir/autostart/NAME.xml -> config_dir/NAME.xml, as libvirt does.
// Live status is run_dir/NAME.xml (<domstatus> with the id, pid, control
// socket and pty around the live domain XML) plus run_dir/NAME.pid; the
// process keeper writes run_dir/NAME.exit when amber-vmm ends.
//
// Names reaching here have passed check_domain_name().
// Thread-safety: no state of its own beyond the paths; callers serialise
// the files of one domain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace amber::driver::vm {

// Writes DIR/NAME through DIR/.NAME.tmp, fsyncs the file and DIR. The
// temp file is created anew (O_EXCL, O_NOFOLLOW) with mode 0600, so a
// leftover one (or a symlink planted there) is never reused: secret values
// go through here too.
Result<void> write_file_atomic(const std::string& dir, const std::string& name,
                               std::string_view contents);
// The whole file (at most 16 MiB: no domain XML is that large).
Result<std::string> read_file(const std::string& path);
// The rest of the open file FD (named PATH in errors), refused with
// kCorrupt once it passes MAX_BYTES.
Result<std::string> read_open_file(int fd, const std::string& path, size_t max_bytes);
// unlink(2) that treats a missing file as success.
Result<void> remove_file(const std::string& path);

// What run_dir/NAME.xml records about one running domain.
struct LiveStatus {
  int32_t id = -1;
  int64_t pid = 0;
  int state = 0;  // virDomainState / reason when written
  int reason = 0;
  std::string control;     // control socket path
  std::string pty;         // serial pty, "" when none
  std::string domain_xml;  // the live domain
};

// How the keeper saw amber-vmm end (run_dir/NAME.exit).
struct ExitRecord {
  bool signaled = false;
  int code = 0;  // exit status, or the signal number
};

class Store {
 public:
  Store(std::string config_dir, std::string run_dir, std::string log_dir)
      : config_dir_(std::move(config_dir)),
        run_dir_(std::move(run_dir)),
        log_dir_(std::move(log_dir)) {}

  // Creates the directories (mode 0700 where they are made).
  Result<void> create_directories() const;

  Result<void> save_config(const std::string& name, std::string_view xml) const;
  Result<void> remove_config(const std::string& name) const;
  // Every config_dir/*.xml file name (not path), sorted.
  Result<std::vector<std::string>> list_configs() const;
  std::string config_path(const std::string& name) const;

  bool autostart(const std::string& name) const;
  Result<void> set_autostart(const std::string& name, bool on) const;

  Result<void> save_status(const std::string& name, const LiveStatus& status) const;
  Result<LiveStatus> load_status(const std::string& name) const;
  Result<void> remove_status(const std::string& name) const;  // NAME.xml, .pid, .exit
  // Names with a run_dir/NAME.xml status file, sorted.
  Result<std::vector<std::string>> list_status() const;

  std::string pid_path(const std::string& name) const { return run_dir_ + "/" + name + ".pid"; }
  std::string exit_path(const std::string& name) const { return run_dir_ + "/" + name + ".exit"; }
  std::string log_path(const std::string& name) const { return log_dir_ + "/" + name + ".log"; }
  std::optional<ExitRecord> exit_record(const std::string& name) const;

  const std::string& run_dir() const { return run_dir_; }

  // The status file's text and back (exposed for tests).
  static std::string format_status(const LiveStatus& status);
  static Result<LiveStatus> parse_status(std::string_view text);

 private:
  std::string config_dir_;
  std::string run_dir_;
  std::string log_dir_;
};

}  // namespace amber::driver::vm
