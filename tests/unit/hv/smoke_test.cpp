// Boots SeaBIOS in the real amber-vmm (path from $AMBER_VMM) on /dev/kvm
// and waits for its banner on the debugcon log. Skipped, with the reason,
// when /dev/kvm cannot be opened or the binary is unknown.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

constexpr auto kBannerTimeout = std::chrono::seconds(30);

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Smoke, SeaBiosBannerOnDebugcon) {
  const char* vmm = std::getenv("AMBER_VMM");
  if (vmm == nullptr) GTEST_SKIP() << "AMBER_VMM not set (run through meson test)";
  const int kvm = ::open("/dev/kvm", O_RDWR);
  if (kvm < 0) GTEST_SKIP() << "/dev/kvm cannot be opened: " << std::strerror(errno);
  ::close(kvm);
  if (::access("/usr/share/seabios/bios.bin", R_OK) != 0) GTEST_SKIP() << "no /usr/share/seabios/bios.bin";

  char dir_template[] = "/tmp/amber-hv-smoke-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string log = std::string(dir_template) + "/debugcon.log";
  const std::string debugcon = "file:" + log;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execl(vmm, vmm, "--firmware", "/usr/share/seabios/bios.bin", "--memory", "128M", "--debugcon",
            debugcon.c_str(), "--serial", "none", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto start = std::chrono::steady_clock::now();
  bool found = false;
  int status = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() - start < kBannerTimeout) {
    if (slurp(log).find("SeaBIOS (version") != std::string::npos) {
      found = true;
      break;
    }
    if (::waitpid(child, &status, WNOHANG) == child) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (!exited) {
    ::kill(child, SIGTERM);
    ::waitpid(child, &status, 0);
  }
  EXPECT_TRUE(found) << "no SeaBIOS banner after " << elapsed.count() << " ms; log:\n" << slurp(log);
  if (found) std::printf("SeaBIOS banner after %lld ms\n", static_cast<long long>(elapsed.count()));
  ::unlink(log.c_str());
  ::rmdir(dir_template);
}

}  // namespace
