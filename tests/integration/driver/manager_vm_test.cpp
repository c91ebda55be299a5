// SPDX-License-Identifier: GPL-2.0-or-later
// driver/vm's Manager against the real amber-vmm, SeaBIOS and qemu-img:
// a domain on a qcow2 linked clone holding the boot-sector probe (--stay:
// it halts after its result and keeps running) is started twice at once
// (one start wins), read through open_console, suspended and resumed with
// their events, asked for block stats and live XML, left running while the
// manager is dropped, re-attached by a second Manager::open with the same
// id, and destroyed; a VMM killed while no manager runs is reported as
// crashed; the image checks clean at the end.
//
// Environment (meson): AMBER_VMM, BOOT_BIN, MKDISK (tests/guest/bootsector).
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "driver/vm/manager.h"

namespace amber::driver::vm {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const char* kUuid = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7";
const char* kCrashUuid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command line; its exit status and output.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string domain_xml(const std::string& name, const char* uuid, const std::string& disk) {
  return "<domain type='kvm'>\n  <name>" + name + "</name>\n  <uuid>" + uuid +
         "</uuid>\n  <memory unit='MiB'>64</memory>\n  <vcpu>1</vcpu>\n"
         "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n  </os>\n"
         "  <features>\n    <acpi/>\n  </features>\n"
         "  <devices>\n    <disk type='file' device='disk'>\n"
         "      <driver name='qemu' type='qcow2'/>\n      <source file='" +
         disk +
         "'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n"
         "    <serial type='pty'><target port='0'/></serial>\n"
         "    <console type='pty'><target type='serial' port='0'/></console>\n"
         "  </devices>\n</domain>\n";
}

// Every event the manager publishes, for waiting on one.
class Events {
 public:
  void add(const DomainEvent& event) {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
    cv_.notify_all();
  }
  bool wait_lifecycle(int event, int detail, seconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const DomainEvent& e : events_) {
        const auto* l = std::get_if<LifecycleEvent>(&e);
        if (l != nullptr && l->event == event && l->detail == detail) return true;
      }
      return false;
    });
  }
  bool wait_reboot(seconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const DomainEvent& e : events_)
        if (std::holds_alternative<RebootEvent>(e)) return true;
      return false;
    });
  }
  size_t count_lifecycle(int event, int detail) {
    std::lock_guard lock(mutex_);
    size_t count = 0;
    for (const DomainEvent& e : events_) {
      const auto* l = std::get_if<LifecycleEvent>(&e);
      if (l != nullptr && l->event == event && l->detail == detail) ++count;
    }
    return count;
  }
  bool wait_count(int event, int detail, size_t count, seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count_lifecycle(event, detail) < count) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<DomainEvent> events_;
};

// Reads FD until TEXT appears or TIMEOUT passes; what was read.
std::string read_until(int fd, const std::string& text, seconds timeout) {
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (seen.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buffer[512];
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n > 0) seen.append(buffer, static_cast<size_t>(n));
  }
  return seen;
}

class ManagerVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vmm_ = env("AMBER_VMM");
    if (vmm_.empty() || env("BOOT_BIN").empty() || ::access("/dev/kvm", R_OK | W_OK) != 0)
      GTEST_SKIP() << "needs AMBER_VMM, BOOT_BIN and /dev/kvm";
    char pattern[] = "/tmp/amber-vmt-XXXXXX";  // short: socket paths are <= 107 bytes
    root_ = ::mkdtemp(pattern);
    options_.config_dir = root_ + "/etc";
    options_.run_dir = root_ + "/run";
    options_.log_dir = root_ + "/log";
    options_.vmm_binary = vmm_;
  }
  void TearDown() override {
    manager_.reset();
    if (root_.empty()) return;
    // Whatever a failed test left running.
    for (const auto& entry : fs::directory_iterator(root_ + "/run")) {
      if (entry.path().extension() != ".pid") continue;
      std::ifstream in(entry.path());
      pid_t pid = 0;
      if (in >> pid && pid > 0) ::kill(pid, SIGKILL);
    }
    if (!HasFailure()) fs::remove_all(root_);
  }
  void open() {
    manager_.reset();
    auto opened = Manager::open(options_);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    manager_ = std::move(opened).value();
    manager_->subscribe([this](const DomainEvent& event) { events_.add(event); });
  }
  std::string make_clone(const std::string& name, bool stay = true) {
    const std::string raw = root_ + "/" + name + ".raw";
    const std::string base = root_ + "/" + name + "-base.qcow2";
    const std::string clone = root_ + "/" + name + ".qcow2";
    auto made = run("python3 " + quote(env("MKDISK")) + " " + quote(env("BOOT_BIN")) + " " +
                    quote(raw) + (stay ? " 2 --stay" : " 2"));
    EXPECT_EQ(made.first, 0) << made.second;
    made = run("qemu-img convert -f raw -O qcow2 " + quote(raw) + " " + quote(base));
    EXPECT_EQ(made.first, 0) << made.second;
    made = run("qemu-img create -f qcow2 -b " + quote(base) + " -F qcow2 " + quote(clone));
    EXPECT_EQ(made.first, 0) << made.second;
    return clone;
  }
  std::string log() {
    std::ifstream in(root_ + "/log/probe.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string vmm_;
  std::string root_;
  ManagerOptions options_;
  std::unique_ptr<Manager> manager_;
  Events events_;
};

TEST_F(ManagerVmTest, RunConsoleSuspendStatsReattachDestroy) {
  const std::string clone = make_clone("probe");
  ASSERT_NO_FATAL_FAILURE(open());
  auto defined = manager_->define(domain_xml("probe", kUuid, clone), 0);
  ASSERT_TRUE(defined.ok()) << defined.error().message();
  const xml::Uuid uuid = defined->uuid;

  // Two clients start it at once: it starts once.
  Result<DomainRef> first = Error(ErrorKind::kInternal, "not run");
  Result<DomainRef> second = Error(ErrorKind::kInternal, "not run");
  std::thread a([&] { first = manager_->start(uuid, VIR_DOMAIN_START_PAUSED); });
  std::thread b([&] { second = manager_->start(uuid, VIR_DOMAIN_START_PAUSED); });
  a.join();
  b.join();
  ASSERT_NE(first.ok(), second.ok()) << (first.ok() ? "" : first.error().message()) << " / "
                                     << (second.ok() ? "" : second.error().message()) << "\n"
                                     << log();
  const Result<DomainRef>& loser = first.ok() ? second : first;
  EXPECT_EQ(loser.error().kind(), ErrorKind::kLocked);
  EXPECT_EQ(loser.error().message(), "domain is already running");
  const DomainRef running = first.ok() ? *first : *second;
  EXPECT_EQ(running.id, 1);
  EXPECT_EQ(manager_->lookup_by_id(1)->name, "probe");
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED,
                                     seconds(5)));
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
                                     seconds(5)));
  EXPECT_EQ(*manager_->state(uuid),
            (std::pair<int, int>(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER)));

  // The console: one holder; FORCE revokes the first.
  bool revoked = false;
  auto console1 = manager_->open_console(uuid, false, [&] { revoked = true; });
  ASSERT_TRUE(console1.ok()) << console1.error().message();
  auto busy = manager_->open_console(uuid, false, nullptr);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind(), ErrorKind::kLocked);
  auto console = manager_->open_console(uuid, true, nullptr);
  ASSERT_TRUE(console.ok()) << console.error().message();
  EXPECT_TRUE(revoked);
  console1->reset();

  ASSERT_TRUE(manager_->resume(uuid).ok());
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED,
                                     seconds(5)));
  const std::string serial = read_until(console->get(), "BOOT: halted", seconds(180));
  ASSERT_NE(serial.find("BOOT: RESULT PASS"), std::string::npos) << serial << "\n" << log();
  ASSERT_NE(serial.find("BOOT: halted"), std::string::npos) << serial;

  // reset: a RebootEvent, and the guest boots again.
  events_.clear();
  ASSERT_TRUE(manager_->reset(uuid).ok());
  EXPECT_TRUE(events_.wait_reboot(seconds(10)));
  const std::string rebooted = read_until(console->get(), "BOOT: halted", seconds(180));
  EXPECT_NE(rebooted.find("BOOT: stage1 loaded by BIOS"), std::string::npos) << rebooted;

  // A redefinition while running changes the next start, not the live VM.
  std::string changed = domain_xml("probe", kUuid, clone);
  changed.replace(changed.find("<vcpu>1</vcpu>"), 14, "<vcpu>2</vcpu>");
  ASSERT_TRUE(manager_->define(changed, 0).ok());
  EXPECT_EQ(*manager_->vcpus_flags(uuid, VIR_DOMAIN_AFFECT_LIVE), 1);
  EXPECT_EQ(*manager_->vcpus_flags(uuid, VIR_DOMAIN_AFFECT_CONFIG), 2);
  EXPECT_NE(manager_->xml_desc(uuid, VIR_DOMAIN_XML_INACTIVE)->find("<vcpu placement='static'>2"),
            std::string::npos);
  EXPECT_NE(manager_->xml_desc(uuid, 0)->find("<vcpu placement='static'>1"), std::string::npos);

  events_.clear();
  ASSERT_TRUE(manager_->suspend(uuid).ok());
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
                                     seconds(5)));
  EXPECT_EQ(manager_->state(uuid)->first, VIR_DOMAIN_PAUSED);
  ASSERT_TRUE(manager_->resume(uuid).ok());
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED,
                                     seconds(5)));
  EXPECT_EQ(*manager_->state(uuid),
            (std::pair<int, int>(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED)));

  auto stats = manager_->block_stats(uuid, "vda");
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_GT(stats->rd_req, 0);
  EXPECT_GT(stats->rd_bytes, 0);
  EXPECT_GT(stats->wr_req, 0);  // the probe writes sectors 32 and 33
  EXPECT_EQ(manager_->block_stats(uuid, clone)->rd_req, stats->rd_req);
  auto unknown = manager_->block_stats(uuid, "vdq");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message(), "invalid path: vdq not assigned to domain");
  auto block = manager_->block_info(uuid, "vda");
  ASSERT_TRUE(block.ok()) << block.error().message();
  EXPECT_EQ(block->capacity, 2ULL << 20);

  auto live = manager_->xml_desc(uuid, 0);
  ASSERT_TRUE(live.ok());
  EXPECT_NE(live->find("id='1'"), std::string::npos) << *live;
  EXPECT_NE(live->find("virtio-disk0"), std::string::npos) << *live;
  EXPECT_NE(live->find("/dev/pts/"), std::string::npos) << *live;
  EXPECT_NE(live->find(root_ + "/probe-base.qcow2"), std::string::npos) << *live;
  auto inactive = manager_->xml_desc(uuid, VIR_DOMAIN_XML_INACTIVE);
  ASSERT_TRUE(inactive.ok());
  EXPECT_EQ(inactive->find("id='1'"), std::string::npos);
  auto info = manager_->info(uuid);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, VIR_DOMAIN_RUNNING);
  EXPECT_GT(info->cpu_time_ns, 0u);
  EXPECT_NE(log().find("starting up " + vmm_), std::string::npos);

  // The daemon goes away; the VM does not.
  std::ifstream pid_file(root_ + "/run/probe.pid");
  pid_t pid = 0;
  ASSERT_TRUE(pid_file >> pid);
  console->reset();
  manager_.reset();
  ASSERT_EQ(::kill(pid, 0), 0) << "amber-vmm ended with its manager";
  ASSERT_NO_FATAL_FAILURE(open());
  auto again = manager_->lookup_by_uuid(uuid);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, 1);
  EXPECT_EQ(manager_->state(uuid)->first, VIR_DOMAIN_RUNNING);
  EXPECT_GT(manager_->block_stats(uuid, "vda")->rd_req, 0);
  auto reattached_console = manager_->open_console(uuid, false, nullptr);
  EXPECT_TRUE(reattached_console.ok());
  reattached_console->reset();

  events_.clear();
  ASSERT_TRUE(manager_->destroy(uuid, 0).ok());
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
                                     seconds(5)));
  EXPECT_EQ(*manager_->state(uuid),
            (std::pair<int, int>(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED)));
  EXPECT_EQ(manager_->lookup_by_uuid(uuid)->id, -1);
  EXPECT_NE(::kill(pid, 0), 0);
  EXPECT_FALSE(fs::exists(root_ + "/run/probe.xml"));
  auto destroyed_again = manager_->destroy(uuid, 0);
  ASSERT_FALSE(destroyed_again.ok());
  EXPECT_EQ(destroyed_again.error().message(), "domain is not running");

  // Autostart: a later open() starts it. Ids continue from the running
  // domains a manager re-attaches to (none here), as in libvirt.
  ASSERT_TRUE(manager_->set_autostart(uuid, true).ok());
  ASSERT_NO_FATAL_FAILURE(open());
  auto autostarted = manager_->lookup_by_uuid(uuid);
  ASSERT_TRUE(autostarted.ok());
  EXPECT_EQ(autostarted->id, 1);
  EXPECT_EQ(manager_->state(uuid)->first, VIR_DOMAIN_RUNNING);
  EXPECT_EQ(*manager_->vcpus_flags(uuid, VIR_DOMAIN_AFFECT_LIVE), 2);
  ASSERT_TRUE(manager_->destroy(uuid, 0).ok());
  manager_.reset();

  auto check = run("qemu-img check " + quote(clone));
  EXPECT_EQ(check.first, 0) << check.second;
}

TEST_F(ManagerVmTest, VmKilledWhileTheDaemonWasAwayIsCrashedAndTransientGuestShutdownVanishes) {
  const std::string clone = make_clone("crash");
  ASSERT_NO_FATAL_FAILURE(open());
  auto defined = manager_->define(domain_xml("crash", kCrashUuid, clone), 0);
  ASSERT_TRUE(defined.ok()) << defined.error().message();
  auto started = manager_->start(defined->uuid, VIR_DOMAIN_START_PAUSED);
  ASSERT_TRUE(started.ok()) << started.error().message();
  std::ifstream pid_file(root_ + "/run/crash.pid");
  pid_t pid = 0;
  ASSERT_TRUE(pid_file >> pid);
  manager_.reset();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The keeper records the signal.
  for (int i = 0; i < 100 && !fs::exists(root_ + "/run/crash.exit"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NO_FATAL_FAILURE(open());
  EXPECT_EQ(*manager_->state(defined->uuid),
            (std::pair<int, int>(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED)));
  EXPECT_EQ(manager_->lookup_by_uuid(defined->uuid)->id, -1);
  EXPECT_FALSE(fs::exists(root_ + "/run/crash.xml"));

  // A transient domain whose guest quits (SIGTERM from outside: host-quit,
  // a clean shutdown) is gone afterwards.
  ASSERT_TRUE(manager_->undefine(defined->uuid, 0).ok());
  events_.clear();
  auto transient = manager_->create_transient(domain_xml("crash", kCrashUuid, clone), 0);
  ASSERT_TRUE(transient.ok()) << transient.error().message();
  EXPECT_EQ(*manager_->is_persistent(defined->uuid), false);
  std::ifstream transient_pid(root_ + "/run/crash.pid");
  ASSERT_TRUE(transient_pid >> pid);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_HOST,
                                     seconds(20)));
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN,
                                     seconds(20)));
  for (int i = 0; i < 100 && manager_->lookup_by_uuid(defined->uuid).ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(manager_->lookup_by_uuid(defined->uuid).ok());
  manager_.reset();
  auto check = run("qemu-img check " + quote(clone));
  EXPECT_EQ(check.first, 0) << check.second;
}

TEST_F(ManagerVmTest, OnPoweroffRestartStartsAgainAfterAGuestShutdown) {
  // Without --stay the probe leaves through the exit port: SHUTDOWN
  // guest-shutdown, then the process ends; on_poweroff='restart' boots it
  // again with the next id.
  const std::string clone = make_clone("again", false);
  ASSERT_NO_FATAL_FAILURE(open());
  std::string xml = domain_xml("again", kCrashUuid, clone);
  xml.replace(xml.find("  <devices>"), 0, "  <on_poweroff>restart</on_poweroff>\n");
  auto defined = manager_->define(xml, 0);
  ASSERT_TRUE(defined.ok()) << defined.error().message();
  const xml::Uuid uuid = defined->uuid;
  ASSERT_TRUE(manager_->start(uuid, 0).ok());
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST,
                                     seconds(180)));
  EXPECT_TRUE(events_.wait_lifecycle(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN,
                                     seconds(20)));
  EXPECT_TRUE(events_.wait_count(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED, 2,
                                 seconds(30)));
  // Undefined while running it becomes transient: the next guest shutdown
  // ends it for good.
  ASSERT_TRUE(manager_->undefine(uuid, 0).ok());
  for (int i = 0; i < 600 && manager_->lookup_by_uuid(uuid).ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(manager_->lookup_by_uuid(uuid).ok());
  EXPECT_TRUE(manager_->list().empty());
  manager_.reset();
  auto check = run("qemu-img check " + quote(clone));
  EXPECT_EQ(check.first, 0) << check.second;
}

}  // namespace
}  // namespace amber::driver::vm
