// SPDX-License-Identifier: GPL-2.0-or-later
// The manager's registry and persistence, without amber-vmm processes:
// define/undefine, lookups, name and UUID clashes, reopen from disk
// (broken files skipped), autostart links, metadata, events. Starting a
// domain whose "amber-vmm" is /bin/false checks the failure path.
#include "driver/vm/manager.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

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
         "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
         "<source file='" +
         disk +
         "'/><target dev='vda' bus='virtio'/></disk>"
         "<serial type='pty'><target port='0'/></serial></devices></domain>";
}

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
  manager_->subscribe([&](const DomainEvent& event) {
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

}  // namespace
}  // namespace amber::driver::vm
