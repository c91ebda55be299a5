// SPDX-License-Identifier: GPL-2.0-or-later
// The manager's registry and persistence, without amber-vmm processes:
// define/undefine, lookups, name and UUID clashes, reopen from disk
// (broken files skipped), autostart links, metadata, events. Starting a
// domain whose "amber-vmm" is /bin/false checks the failure path.
#include "driver/vm/manager.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "block/create.h"

namespace amber::driver::vm {
namespace {

namespace fs = std::filesystem;

const char* kUuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";
const char* kOtherUuid = "11111111-2222-4333-8444-555555555555";

std::string domain_xml(const std::string& name, const std::string& uuid,
                       const std::string& disk = "/nonexistent/disk.qcow2") {
  return "<domain type='kvm'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><memory unit='MiB'>64</memory><vcpu>2</vcpu>"
         "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features><devices>"
         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
         "<source file='" +
         disk +
         "'/><target dev='vda' bus='virtio'/></disk>"
         "<serial type='pty'><target port='0'/></serial></devices></domain>";
}

// A sink that captures a test's locals must be gone before they are: the
// manager's event worker may still deliver (the SHUTOFF of a destroy, say)
// after the test body returns. unsubscribe() waits for a delivery in flight.
class Subscription {
 public:
  Subscription(Manager& manager, EventSink sink)
      : manager_(manager), id_(manager.subscribe(std::move(sink))) {}
  ~Subscription() { manager_.unsubscribe(id_); }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  Manager& manager_;
  SubscriptionId id_;
};

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/amber-manager-test-XXXXXX";
    root_ = ::mkdtemp(pattern);
    options_.config_dir = root_ + "/etc";
    options_.run_dir = root_ + "/run";
    options_.log_dir = root_ + "/log";
    options_.vmm_binary = "/bin/false";
    reopen();
  }
  void TearDown() override {
    manager_.reset();
    fs::remove_all(root_);
  }
  void reopen() {
    manager_.reset();
    auto opened = Manager::open(options_);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    manager_ = std::move(opened).value();
  }
  xml::Uuid uuid(const char* text = kUuid) { return *xml::Uuid::parse(text); }

  std::string root_;
  ManagerOptions options_;
  std::unique_ptr<Manager> manager_;
};

TEST_F(ManagerTest, DefineListLookupAndXml) {
  auto ref = manager_->define(domain_xml("alpha", kUuid), 0);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_EQ(ref->name, "alpha");
  EXPECT_EQ(ref->id, -1);
  EXPECT_TRUE(fs::exists(options_.config_dir + "/alpha.xml"));
  EXPECT_EQ(*manager_->lookup_by_name("alpha"), *ref);
  EXPECT_EQ(*manager_->lookup_by_uuid(uuid()), *ref);
  auto by_id = manager_->lookup_by_id(1);
  ASSERT_FALSE(by_id.ok());
  EXPECT_EQ(by_id.error().kind(), ErrorKind::kNotFound);
  auto missing = manager_->lookup_by_uuid(uuid(kOtherUuid));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(),
            std::string("Domain not found: no domain with matching uuid '") + kOtherUuid + "'");

  EXPECT_EQ(manager_->emulator(), "/bin/false");
  auto list = manager_->list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, VIR_DOMAIN_SHUTOFF);
  EXPECT_TRUE(list[0].persistent);
  EXPECT_FALSE(list[0].autostart);
  auto xml = manager_->xml_desc(uuid(), VIR_DOMAIN_XML_SECURE);
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("<name>alpha</name>"), std::string::npos);
  EXPECT_EQ(xml->find(" id="), std::string::npos);
  EXPECT_EQ(*manager_->is_active(uuid()), false);
  EXPECT_EQ(*manager_->is_persistent(uuid()), true);
  auto state = manager_->state(uuid());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->first, VIR_DOMAIN_SHUTOFF);
  EXPECT_EQ(
      *manager_->vcpus_flags(uuid(), unsigned(VIR_DOMAIN_VCPU_MAXIMUM) | VIR_DOMAIN_AFFECT_CONFIG),
      2);
  auto info = manager_->info(uuid());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->max_mem_kib, 65536u);
  EXPECT_EQ(info->vcpus, 2u);
}

TEST_F(ManagerTest, ClashesAndBadNamesAreRefused) {
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  auto clash = manager_->define(domain_xml("alpha", kOtherUuid), 0);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind(), ErrorKind::kLocked);
  EXPECT_EQ(clash.error().message(),
            std::string("domain 'alpha' already exists with uuid ") + kUuid);
  auto rename = manager_->define(domain_xml("beta", kUuid), 0);
  ASSERT_FALSE(rename.ok());
  EXPECT_NE(rename.error().message().find("already defined with uuid"), std::string::npos);
  for (const char* name : {".hidden", "a/b", ".."}) {
    auto bad = manager_->define(domain_xml(name, kOtherUuid), 0);
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_EQ(bad.error().kind(), ErrorKind::kInvalidArgument) << name;
  }
  auto flags = manager_->define(domain_xml("gamma", kOtherUuid), 0x80);
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(manager_->list().size(), 1u);
}

TEST_F(ManagerTest, RedefineUpdatesAndEventsAreDelivered) {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<LifecycleEvent> events;
  const Subscription subscription(*manager_, [&](const DomainEvent& event) {
    std::lock_guard lock(mutex);
    if (auto* lifecycle = std::get_if<LifecycleEvent>(&event)) events.push_back(*lifecycle);
    cv.notify_all();
  });
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid, "/other.qcow2"), 0).ok());
  ASSERT_TRUE(manager_->undefine(uuid(), 0).ok());
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return events.size() == 3; }));
  EXPECT_EQ(events[0].event, VIR_DOMAIN_EVENT_DEFINED);
  EXPECT_EQ(events[0].detail, VIR_DOMAIN_EVENT_DEFINED_ADDED);
  EXPECT_EQ(events[1].detail, VIR_DOMAIN_EVENT_DEFINED_UPDATED);
  EXPECT_EQ(events[2].event, VIR_DOMAIN_EVENT_UNDEFINED);
  EXPECT_EQ(events[2].domain.name, "alpha");
  EXPECT_FALSE(fs::exists(options_.config_dir + "/alpha.xml"));
  EXPECT_FALSE(manager_->lookup_by_name("alpha").ok());
}

TEST_F(ManagerTest, ReopenLoadsDefinitionsAndSkipsBrokenFiles) {
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  ASSERT_TRUE(manager_->set_autostart(uuid(), true).ok());
  EXPECT_TRUE(fs::is_symlink(options_.config_dir + "/autostart/alpha.xml"));
  ASSERT_TRUE(manager_->set_metadata(uuid(), VIR_DOMAIN_METADATA_TITLE, "A title", "", "", 0).ok());
  ASSERT_TRUE(manager_
                  ->set_metadata(uuid(), VIR_DOMAIN_METADATA_ELEMENT, "<owner>me</owner>", "app",
                                 "http://app.example/", VIR_DOMAIN_AFFECT_CONFIG)
                  .ok());
  std::ofstream(options_.config_dir + "/broken.xml") << "<domain><name>broken";
  std::ofstream(options_.config_dir + "/wrongname.xml") << domain_xml("other", kOtherUuid);
  options_.start_autostart = false;
  reopen();
  auto list = manager_->list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].ref.name, "alpha");
  EXPECT_TRUE(list[0].autostart);
  EXPECT_EQ(*manager_->metadata(uuid(), VIR_DOMAIN_METADATA_TITLE, "", 0), "A title");
  auto element = manager_->metadata(uuid(), VIR_DOMAIN_METADATA_ELEMENT, "http://app.example/", 0);
  ASSERT_TRUE(element.ok()) << element.error().message();
  EXPECT_EQ(*element, "<app:owner xmlns:app=\"http://app.example/\">me</app:owner>");
  auto absent = manager_->metadata(uuid(), VIR_DOMAIN_METADATA_DESCRIPTION, "", 0);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().kind(), ErrorKind::kNotFound);
  auto live = manager_->metadata(uuid(), VIR_DOMAIN_METADATA_TITLE, "", VIR_DOMAIN_AFFECT_LIVE);
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.error().message(), "domain is not running");
}

TEST_F(ManagerTest, InactiveDomainRefusesLiveOperations) {
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  for (auto result : {manager_->destroy(uuid(), 0), manager_->suspend(uuid()),
                      manager_->resume(uuid()), manager_->reset(uuid())}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().kind(), ErrorKind::kLocked);
    EXPECT_EQ(result.error().message(), "domain is not running");
  }
  EXPECT_FALSE(manager_->open_console(uuid(), false, nullptr).ok());
  EXPECT_FALSE(manager_->block_stats(uuid(), "vda").ok());
}

TEST_F(ManagerTest, BlockInfoReadsTheImageAndRefusesUnknownDisks) {
  const std::string image = root_ + "/disk.qcow2";
  block::CreateOptions create;
  create.format = block::ImageFormat::kQcow2;
  create.size = 8ULL << 20;
  ASSERT_TRUE(block::create_image(image, create).ok());
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid, image), 0).ok());
  auto info = manager_->block_info(uuid(), "vda");
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->capacity, 8ULL << 20);
  EXPECT_GT(info->physical, 0u);
  EXPECT_EQ(manager_->block_info(uuid(), image)->capacity, 8ULL << 20);
  auto unknown = manager_->block_info(uuid(), "vdz");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(unknown.error().message(), "invalid path: vdz not assigned to domain");
}

TEST_F(ManagerTest, StartFailureIsReportedWithTheLogAndLeavesItShutOff) {
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  auto started = manager_->start(uuid(), 0);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message().find("ended while starting"), std::string::npos)
      << started.error().message();
  EXPECT_EQ(manager_->state(uuid())->first, VIR_DOMAIN_SHUTOFF);
  EXPECT_EQ(manager_->lookup_by_uuid(uuid())->id, -1);
  std::ifstream log(options_.log_dir + "/alpha.log");
  std::string line;
  std::getline(log, line);
  EXPECT_NE(line.find("starting up /bin/false"), std::string::npos) << line;
  EXPECT_NE(line.find("--control"), std::string::npos);
  EXPECT_FALSE(fs::exists(options_.run_dir + "/alpha.xml"));
}

TEST_F(ManagerTest, TransientCreateFailureLeavesNothingBehind) {
  auto created = manager_->create_transient(domain_xml("temp", kOtherUuid), 0);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(manager_->list().empty());
  EXPECT_FALSE(fs::exists(options_.config_dir + "/temp.xml"));
}

// An IDE disk's error: amber-vmm names the drive ide0-0-0 (libvirt's
// alias); the event and disk_errors() name hda.
TEST_F(ManagerTest, IdeDiskErrorNamesTheDriveByItsAlias) {
  options_.vmm_binary = AMBER_FAKE_VMM;
  reopen();
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<DomainEvent> events;
  const Subscription subscription(*manager_, [&](const DomainEvent& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
    cv.notify_all();
  });
  const std::string disk = root_ + "/hda.qcow2";
  std::string xml = domain_xml("ide-alpha", kUuid, disk);
  xml.replace(xml.find("dev='vda' bus='virtio'"), 22, "dev='hda' bus='ide'   ");
  ASSERT_TRUE(manager_->define(xml, 0).ok());
  auto started = manager_->start(uuid(), 0);
  ASSERT_TRUE(started.ok()) << started.error().message();
  const auto has_error = [&] {
    for (const DomainEvent& e : events)
      if (std::holds_alternative<IoErrorEvent>(e)) return true;
    return false;
  };
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), has_error));
    for (const DomainEvent& e : events) {
      const auto* io = std::get_if<IoErrorEvent>(&e);
      if (io == nullptr) continue;
      EXPECT_EQ(io->dev_alias, "ide0-0-0");
      EXPECT_EQ(io->src_path, disk);
      EXPECT_EQ(io->action, VIR_DOMAIN_EVENT_IO_ERROR_PAUSE);
    }
  }
  for (int i = 0; i < 100 && manager_->disk_errors(uuid())->empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto errors = manager_->disk_errors(uuid());
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].disk, "hda");
  ASSERT_TRUE(manager_->destroy(uuid(), 0).ok());
}

// fake_vmm.py reports ENOSPC on disk0 with action "stop", as amber-vmm
// does with werror=stop: an IoErrorEvent, paused/ioerror, disk_errors().
TEST_F(ManagerTest, DiskErrorWithActionStopPausesAndNamesTheDisk) {
  options_.vmm_binary = AMBER_FAKE_VMM;
  reopen();
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<DomainEvent> events;
  const Subscription subscription(*manager_, [&](const DomainEvent& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
    cv.notify_all();
  });
  const std::string disk = root_ + "/disk.qcow2";
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid, disk), 0).ok());
  auto started = manager_->start(uuid(), 0);
  ASSERT_TRUE(started.ok()) << started.error().message();
  EXPECT_EQ(started->id, 1);
  const auto has_suspend = [&] {
    for (const DomainEvent& e : events) {
      const auto* l = std::get_if<LifecycleEvent>(&e);
      if (l && l->event == VIR_DOMAIN_EVENT_SUSPENDED &&
          l->detail == VIR_DOMAIN_EVENT_SUSPENDED_IOERROR)
        return true;
    }
    return false;
  };
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), has_suspend));
    const IoErrorEvent* error = nullptr;
    for (const DomainEvent& e : events)
      if (const auto* io = std::get_if<IoErrorEvent>(&e)) error = io;
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->dev_alias, "virtio-disk0");
    EXPECT_EQ(error->src_path, disk);
    EXPECT_EQ(error->action, VIR_DOMAIN_EVENT_IO_ERROR_PAUSE);
    EXPECT_EQ(error->reason, "enospc");
    EXPECT_EQ(error->domain.id, 1);
  }
  EXPECT_EQ(*manager_->state(uuid()),
            (std::pair<int, int>(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR)));
  auto errors = manager_->disk_errors(uuid());
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].disk, "vda");
  EXPECT_EQ((*errors)[0].error, VIR_DOMAIN_DISK_ERROR_NO_SPACE);
  ASSERT_TRUE(manager_->resume(uuid()).ok());
  EXPECT_EQ(*manager_->state(uuid()),
            (std::pair<int, int>(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED)));
  EXPECT_TRUE(manager_->disk_errors(uuid())->empty());
  ASSERT_TRUE(manager_->destroy(uuid(), 0).ok());
  EXPECT_EQ(*manager_->state(uuid()),
            (std::pair<int, int>(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED)));
}

// Eight clients start one domain at once: it starts once; ids go up.
TEST_F(ManagerTest, ConcurrentStartsStartOnceAndIdsIncrease) {
  options_.vmm_binary = AMBER_FAKE_VMM;
  reopen();
  ASSERT_TRUE(manager_->define(domain_xml("alpha", kUuid), 0).ok());
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::vector<Result<DomainRef>> results;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto started = manager_->start(uuid(), 0);
      std::lock_guard lock(mutex);
      results.push_back(std::move(started));
    });
  }
  for (auto& thread : threads) thread.join();
  size_t wins = 0;
  for (const auto& result : results) {
    if (result.ok()) {
      ++wins;
      EXPECT_EQ(result->id, 1);
    } else {
      EXPECT_EQ(result.error().message(), "domain is already running");
    }
  }
  EXPECT_EQ(wins, 1u);
  EXPECT_EQ(manager_->lookup_by_id(1)->name, "alpha");
  EXPECT_EQ(manager_->list()[0].ref.id, 1);
  ASSERT_TRUE(manager_->destroy(uuid(), 0).ok());
  EXPECT_FALSE(manager_->lookup_by_id(1).ok());
  auto again = manager_->start(uuid(), 0);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->id, 2);
  auto flags = manager_->start(uuid(), 0x100);
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.error().kind(), ErrorKind::kInvalidArgument);
  ASSERT_TRUE(manager_->destroy(uuid(), VIR_DOMAIN_DESTROY_GRACEFUL).ok());
}

class EventLog {
 public:
  EventSink sink() {
    return [this](const DomainEvent& event) {
      std::lock_guard lock(mutex_);
      if (auto* l = std::get_if<LifecycleEvent>(&event)) events_.emplace_back(l->event, l->detail);
      cv_.notify_all();
    };
  }
  bool wait(int event, int detail) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      return std::count(events_.begin(), events_.end(), std::make_pair(event, detail)) > 0;
    });
  }
  size_t count(int event, int detail) {
    std::lock_guard lock(mutex_);
    return std::count(events_.begin(), events_.end(), std::make_pair(event, detail));
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<int, int>> events_;
};

// A fatal vCPU exit (DEVICE_FAILED): crashed/panicked, then on_crash
// 'destroy': shut off, reason crashed.
TEST_F(ManagerTest, DeviceFailedIsACrashAndOnCrashDestroys) {
  options_.vmm_binary = AMBER_FAKE_VMM;
  reopen();
  EventLog log;
  const Subscription subscription(*manager_, log.sink());
  ASSERT_TRUE(manager_->define(domain_xml("panic", kUuid), 0).ok());
  ASSERT_TRUE(manager_->start(uuid(), 0).ok());
  EXPECT_TRUE(log.wait(VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED));
  EXPECT_TRUE(log.wait(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED));
  EXPECT_EQ(*manager_->state(uuid()),
            (std::pair<int, int>(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED)));
}

// SHUTDOWN guest-reset (on_reboot='destroy'): a clean stop, and no
// restart even though on_poweroff says restart.
TEST_F(ManagerTest, GuestResetWithOnRebootDestroyStopsForGood) {
  options_.vmm_binary = AMBER_FAKE_VMM;
  reopen();
  EventLog log;
  const Subscription subscription(*manager_, log.sink());
  std::string xml = domain_xml("reboot", kUuid);
  xml.replace(xml.find("<devices>"), 0,
              "<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot>");
  ASSERT_TRUE(manager_->define(xml, 0).ok());
  ASSERT_TRUE(manager_->start(uuid(), 0).ok());
  EXPECT_TRUE(log.wait(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(log.count(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED), 1u);
  EXPECT_EQ(*manager_->state(uuid()),
            (std::pair<int, int>(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN)));
  auto log_text = std::ifstream(options_.log_dir + "/reboot.log");
  std::string line;
  std::getline(log_text, line);
  EXPECT_NE(line.find("--no-reboot"), std::string::npos) << line;
}

}  // namespace
}  // namespace amber::driver::vm
