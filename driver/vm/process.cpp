// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

#include "driver/vm/store.h"

namespace amber::driver::vm {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

std::string read_link(const std::string& path) {
  char buffer[4096];
  const ssize_t n = ::readlink(path.c_str(), buffer, sizeof(buffer) - 1);
  if (n <= 0) return "";
  return std::string(buffer, static_cast<size_t>(n));
}

// Writes "status N\n" / "signal N\n" without allocating (after fork).
size_t format_exit(char* out, const char* word, int value) {
  size_t n = 0;
  for (const char* p = word; *p != '\0'; ++p) out[n++] = *p;
  char digits[12];
  size_t count = 0;
  unsigned v = static_cast<unsigned>(value < 0 ? 0 : value);
  do {
    digits[count++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (count != 0) out[n++] = digits[--count];
  out[n++] = '\n';
  return n;
}

// The keeper: runs in the forked child of a multi-threaded daemon, so only
// async-signal-safe calls. Never returns.
[[noreturn]] void run_keeper(int null_fd, int log_fd, int pipe_fd, int go_fd, char* const* argv,
                             char* const* envp, const char* marker, const char* marker_temp,
                             const int* inherit, int* moved, size_t inherit_count) {
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // The keeper must outlive a terminal hang-up or a stray signal to the
  // daemon's group; amber-vmm gets the default dispositions back.
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  // Inherited descriptors first go above everything the dup2s below can
  // overwrite, then to their places from kFirstInheritedFd on.
  for (size_t i = 0; i < inherit_count; ++i) {
    moved[i] = ::fcntl(inherit[i], F_DUPFD, 256);
    if (moved[i] < 0) ::_exit(126);
  }
  if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0 ||
      ::dup2(pipe_fd, 3) < 0 || ::dup2(go_fd, 4) < 0)
    ::_exit(126);
  for (size_t i = 0; i < inherit_count; ++i) {
    if (::dup2(moved[i], kFirstInheritedFd + static_cast<int>(i)) < 0) ::_exit(126);
  }
  ::syscall(SYS_close_range, static_cast<unsigned>(kFirstInheritedFd + inherit_count), ~0U, 0U);
  const pid_t vmm = ::fork();
  if (vmm == 0) {
    ::signal(SIGHUP, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    ::close(4);
    ::execve(argv[0], argv, envp);
    const int error = errno;
    [[maybe_unused]] ssize_t w = ::write(3, &error, sizeof(error));
    ::_exit(127);
  }
  const int32_t reported = vmm > 0 ? vmm : -errno;
  // The keeper holds no secret while it waits for amber-vmm.
  ::syscall(SYS_close_range, static_cast<unsigned>(kFirstInheritedFd), ~0U, 0U);
  [[maybe_unused]] ssize_t w = ::write(3, &reported, sizeof(reported));
  ::close(3);
  if (vmm < 0) ::_exit(1);
  // Not reaped before the daemon holds its pidfd (it closes fd 4's other
  // end then): until then the pid cannot be reused.
  char go = 0;
  while (::read(4, &go, 1) < 0 && errno == EINTR) {
  }
  ::close(4);
  int status = 0;
  while (::waitpid(vmm, &status, 0) < 0) {
    if (errno != EINTR) ::_exit(1);
  }
  char line[32];
  const size_t n = WIFSIGNALED(status) ? format_exit(line, "signal ", WTERMSIG(status))
                                       : format_exit(line, "status ", WEXITSTATUS(status));
  const int fd = ::open(marker_temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    w = ::write(fd, line, n);
    ::fsync(fd);
    ::close(fd);
    ::rename(marker_temp, marker);
  }
  ::_exit(0);
}

std::string timestamp() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d.%03ld+0000", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                now.tv_nsec / 1000000);
  return text;
}

Result<void> read_exact(int fd, void* out, size_t size, bool& eof) {
  auto* bytes = static_cast<char*>(out);
  size_t done = 0;
  eof = false;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "reading from the amber-vmm keeper");
    }
    if (n == 0) {
      eof = true;
      return ok();
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

}  // namespace

Result<std::string> find_vmm_binary(const std::string& configured) {
  if (!configured.empty()) {
    if (!executable(configured))
      return Error(ErrorKind::kNotFound, "amber-vmm '" + configured + "' is not executable");
    return configured;
  }
  const std::string self = read_link("/proc/self/exe");
  if (self.empty()) return Error(ErrorKind::kNotFound, "cannot read /proc/self/exe");
  const std::string dir = directory_of(self);
  for (const std::string& candidate : {dir + "/amber-vmm", dir + "/../hv/amber-vmm"}) {
    if (executable(candidate)) return candidate;
  }
  return Error(ErrorKind::kNotFound,
               "amber-vmm not found beside " + self + " (nor in ../hv/); set its path");
}

Result<Process> spawn_vmm(const SpawnRequest& request) {
  // Everything the keeper needs is prepared here: it must not allocate.
  std::vector<std::string> argv_text;
  argv_text.push_back(request.binary);
  argv_text.insert(argv_text.end(), request.args.begin(), request.args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  std::vector<char*> envp = {path_env.data(), nullptr};
  const std::string marker = request.exit_marker_path;
  const std::string marker_temp = marker + ".tmp";
  AMBER_TRY(remove_file(marker));

  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return Error::from_errno(errno, "opening /dev/null");
  UniqueFd log_fd(
      ::open(request.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log_fd) return Error::from_errno(errno, "opening log " + request.log_path);
  std::string start_line = timestamp() + ": starting up " + request.binary;
  for (const std::string& arg : request.args) start_line += " " + arg;
  start_line += "\n";
  [[maybe_unused]] const ssize_t logged =
      ::write(log_fd.get(), start_line.data(), start_line.size());
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe");
  UniqueFd go_read(pipe_fds[0]);
  UniqueFd go_write(pipe_fds[1]);

  if (request.inherit_fds.size() > kMaxInheritedFds)
    return Error(ErrorKind::kInvalidArgument, "too many descriptors for amber-vmm");
  std::vector<int> moved(request.inherit_fds.size() + 1, -1);
  const pid_t keeper = ::fork();
  if (keeper < 0) return Error::from_errno(errno, "fork");
  if (keeper == 0)
    run_keeper(null_fd.get(), log_fd.get(), write_end.get(), go_read.get(), argv.data(),
               envp.data(), marker.c_str(), marker_temp.c_str(), request.inherit_fds.data(),
               moved.data(), request.inherit_fds.size());
  write_end.reset();
  go_read.reset();
  int32_t pid = 0;
  bool eof = false;
  auto got = read_exact(read_end.get(), &pid, sizeof(pid), eof);
  if (!got.ok() || eof || pid <= 0) {
    go_write.reset();
    reap_keeper(keeper, std::chrono::milliseconds(1000));
    if (!got.ok()) return std::move(got).error();
    return Error::from_errno(pid < 0 ? -pid : EIO, "starting amber-vmm: fork");
  }
  // The keeper waits for go_write to close before it reaps amber-vmm, so
  // this pid is still ours (at worst a zombie).
  auto pidfd = open_pidfd(pid);
  go_write.reset();
  int exec_error = 0;
  got = read_exact(read_end.get(), &exec_error, sizeof(exec_error), eof);
  if (got.ok() && !eof) {
    reap_keeper(keeper, std::chrono::milliseconds(1000));
    return Error::from_errno(exec_error, "starting " + request.binary);
  }
  if (!pidfd.ok()) {
    reap_keeper(keeper, std::chrono::milliseconds(1000));
    return std::move(pidfd).error();
  }
  Process process;
  process.pid = pid;
  process.keeper = keeper;
  process.pidfd = std::move(pidfd).value();
  return process;
}

Result<UniqueFd> open_pidfd(pid_t pid) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0U);
  if (fd < 0) {
    if (errno == ESRCH)
      return Error(ErrorKind::kNotFound, "process " + std::to_string(pid) + " is gone");
    return Error::from_errno(errno, "pidfd_open " + std::to_string(pid));
  }
  return UniqueFd(static_cast<int>(fd));
}

bool send_signal(int pidfd, int signal_number) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, signal_number, nullptr, 0U) == 0;
}

bool wait_exit(int pidfd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!has_exited(pidfd)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool has_exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool is_our_vmm(pid_t pid, const std::string& control) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string exe = read_link(proc + "/exe");
  const std::string deleted = " (deleted)";
  if (exe.size() > deleted.size() &&
      exe.compare(exe.size() - deleted.size(), deleted.size(), deleted) == 0)
    exe.resize(exe.size() - deleted.size());  // the build tree replaced the binary
  const size_t slash = exe.rfind('/');
  if (exe.substr(slash == std::string::npos ? 0 : slash + 1) != "amber-vmm") return false;
  auto cmdline = read_file(proc + "/cmdline");
  if (!cmdline.ok()) return false;
  const std::string want = std::string("--control") + '\0' + control + '\0';
  return cmdline->find(want) != std::string::npos;
}

void reap_keeper(pid_t keeper, std::chrono::milliseconds timeout) {
  if (keeper <= 0) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(keeper, &status, WNOHANG);
    if (done == keeper || (done < 0 && errno != EINTR)) return;
    if (std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string log_tail(const std::string& log_path) {
  auto text = read_file(log_path);
  if (!text.ok()) return "";
  std::string tail = text->size() > 2048 ? text->substr(text->size() - 2048) : *text;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

Result<void> wait_for_socket(const std::string& socket_path, int pidfd, const std::string& log_path,
                             std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path))
    return Error(ErrorKind::kInvalidArgument, "control socket path too long: " + socket_path);
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0)
      return ok();
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0)
      return Error(ErrorKind::kInternal,
                   "internal error: amber-vmm ended while starting: " + log_tail(log_path));
    if (std::chrono::steady_clock::now() >= deadline)
      return Error(
          ErrorKind::kInternal,
          "internal error: amber-vmm did not open its control socket " + socket_path + " in time");
  }
}

}  // namespace amber::driver::vm
