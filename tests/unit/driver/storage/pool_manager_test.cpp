// SPDX-License-Identifier: GPL-2.0-or-later
// driver/storage: the name and path rules, and the pool manager over a
// temporary directory (persistence, lifecycle, autostart, events, volumes
// made and inspected through the block engine, refusals).
#include "driver/storage/pool_manager.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "block/create.h"
#include "driver/storage/names.h"

namespace amber::driver::storage {
namespace {

namespace fs = std::filesystem;

TEST(Names, VolumeNames) {
  EXPECT_TRUE(check_volume_name("win7.qcow2").ok());
  EXPECT_TRUE(check_volume_name("a b-c_d.raw").ok());
  for (const char* bad : {"", ".", "..", "../x", "a/b", "/etc/passwd", ".hidden"}) {
    auto checked = check_volume_name(bad);
    ASSERT_FALSE(checked.ok()) << bad;
    EXPECT_EQ(checked.error().kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_NE(check_volume_name("../x").error().message().find("'/'"), std::string::npos);
  EXPECT_FALSE(check_volume_name(std::string("a\nb")).ok());
  EXPECT_FALSE(check_volume_name(std::string(256, 'a')).ok());
  EXPECT_TRUE(check_volume_name(std::string(255, 'a')).ok());
  EXPECT_FALSE(check_pool_name("a/b").ok());
}

TEST(Names, PathIsUnder) {
  EXPECT_TRUE(path_is_under("/pool", "/pool/a"));
  EXPECT_TRUE(path_is_under("/pool/", "/pool/a"));
  EXPECT_TRUE(path_is_under("/pool", "/pool"));
  EXPECT_FALSE(path_is_under("/pool", "/pool2/a"));
  EXPECT_FALSE(path_is_under("/pool", "/etc/passwd"));
  EXPECT_TRUE(path_is_under("/", "/etc"));
}

class PoolManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/amber-pool-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    pool_dir_ = root_ + "/images";
    options_.config_dir = root_ + "/config";
    auto opened = PoolManager::open(options_);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    manager_ = std::move(*opened);
  }
  void TearDown() override {
    manager_.reset();
    fs::remove_all(root_);
  }
  std::string pool_xml(const std::string& name, const std::string& path) const {
    return "<pool type='dir'><name>" + name + "</name><target><path>" + path +
           "</path><permissions><mode>0750</mode></permissions></target></pool>";
  }
  PoolRef define_started() {
    auto ref = manager_->define(pool_xml("p", pool_dir_), 0);
    EXPECT_TRUE(ref.ok());
    EXPECT_TRUE(manager_->build(ref->uuid, 0).ok());
    EXPECT_TRUE(manager_->start(ref->uuid, 0).ok());
    return *ref;
  }

  std::string root_;
  std::string pool_dir_;
  PoolManagerOptions options_;
  std::unique_ptr<PoolManager> manager_;
};

TEST_F(PoolManagerTest, LifecyclePersistenceAndEvents) {
  std::vector<int> events;
  int refreshes = 0;
  manager_->subscribe([&](const PoolEvent& event) {
    if (event.kind == PoolEventKind::kRefresh) {
      ++refreshes;
    } else {
      events.push_back(event.event);
    }
  });
  auto ref = manager_->define(pool_xml("p", pool_dir_), 0);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  EXPECT_TRUE(fs::exists(options_.config_dir + "/storage/p.xml"));
  auto started = manager_->start(ref->uuid, 0);
  ASSERT_FALSE(started.ok());  // not built yet
  ASSERT_TRUE(manager_->build(ref->uuid, 0).ok());
  struct stat st {};
  ASSERT_EQ(::stat(pool_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_TRUE(manager_->start(ref->uuid, 0).ok());
  auto info = manager_->info(ref->uuid);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, VIR_STORAGE_POOL_RUNNING);
  EXPECT_GT(info->capacity, 0u);
  ASSERT_TRUE(manager_->refresh(ref->uuid).ok());
  ASSERT_TRUE(manager_->set_autostart(ref->uuid, true).ok());
  EXPECT_TRUE(fs::is_symlink(options_.config_dir + "/storage/autostart/p.xml"));

  // A second manager on the same directory starts the autostart pool.
  manager_.reset();
  auto reopened = PoolManager::open(options_);
  ASSERT_TRUE(reopened.ok());
  manager_ = std::move(*reopened);
  auto summary = manager_->summary(ref->uuid);
  ASSERT_TRUE(summary.ok());
  EXPECT_TRUE(summary->active);
  EXPECT_TRUE(summary->persistent);
  EXPECT_TRUE(summary->autostart);
  manager_->subscribe([&](const PoolEvent& event) {
    if (event.kind == PoolEventKind::kLifecycle) events.push_back(event.event);
  });
  EXPECT_EQ(manager_->remove(ref->uuid, 0).error().kind(), ErrorKind::kLocked);  // active
  ASSERT_TRUE(manager_->destroy(ref->uuid).ok());
  ASSERT_TRUE(manager_->remove(ref->uuid, 0).ok());
  EXPECT_FALSE(fs::exists(pool_dir_));
  ASSERT_TRUE(manager_->undefine(ref->uuid).ok());
  EXPECT_FALSE(fs::exists(options_.config_dir + "/storage/p.xml"));
  EXPECT_FALSE(fs::is_symlink(options_.config_dir + "/storage/autostart/p.xml"));
  EXPECT_EQ(manager_->lookup_by_uuid(ref->uuid).error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(events,
            (std::vector<int>{VIR_STORAGE_POOL_EVENT_DEFINED, VIR_STORAGE_POOL_EVENT_STARTED,
                              VIR_STORAGE_POOL_EVENT_STOPPED, VIR_STORAGE_POOL_EVENT_DELETED,
                              VIR_STORAGE_POOL_EVENT_UNDEFINED}));
  EXPECT_EQ(refreshes, 1);
}

TEST_F(PoolManagerTest, LookupsAndErrors) {
  PoolRef ref = define_started();
  EXPECT_TRUE(manager_->lookup_by_name("p").ok());
  EXPECT_TRUE(manager_->lookup_by_target_path(pool_dir_ + "/").ok());
  auto missing = manager_->lookup_by_name("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_TRUE(missing.error().message().starts_with("Storage pool not found"));
  auto twin = manager_->define(pool_xml("q", pool_dir_), 0);
  ASSERT_FALSE(twin.ok());  // same target as p
  auto other = manager_->define(
      "<pool type='iscsi'><name>i</name><target><path>/dev/disk</path></target></pool>", 0);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind(), ErrorKind::kUnsupported);
  auto fs_pool = manager_->define(
      "<pool type='fs'><name>f</name><source><device path='/dev/x'/>"
      "</source><target><path>" +
          root_ + "/config</path></target></pool>",
      0);
  ASSERT_TRUE(fs_pool.ok());
  auto unmounted = manager_->start(fs_pool->uuid, 0);
  ASSERT_FALSE(unmounted.ok());  // a plain directory is not a mount point
  EXPECT_NE(unmounted.error().message().find("mounted"), std::string::npos);
  // Undefining an active pool leaves it running as a transient one.
  ASSERT_TRUE(manager_->undefine(ref.uuid).ok());
  auto transient = manager_->summary(ref.uuid);
  ASSERT_TRUE(transient.ok());
  EXPECT_TRUE(transient->active);
  EXPECT_FALSE(transient->persistent);
}

TEST_F(PoolManagerTest, VolumesThroughTheEngine) {
  PoolRef ref = define_started();
  auto base =
      manager_->create_volume(ref.uuid,
                              "<volume><name>base.qcow2</name><capacity unit='M'>16</capacity>"
                              "<target><format type='qcow2'/></target></volume>",
                              0);
  ASSERT_TRUE(base.ok()) << base.error().message();
  EXPECT_EQ(base->key, pool_dir_ + "/base.qcow2");
  auto clone = manager_->create_volume(
      ref.uuid,
      "<volume><name>clone.qcow2</name><capacity>0</capacity><target><format type='qcow2'/>"
      "</target><backingStore><path>" +
          base->key +
          "</path><format type='qcow2'/></backingStore>"
          "</volume>",
      0);
  ASSERT_TRUE(clone.ok()) << clone.error().message();
  auto info = manager_->volume_info(*clone);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->capacity, 16u << 20);  // from the backing volume
  auto xml = manager_->volume_xml(*clone, 0);
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("<backingStore>"), std::string::npos);
  EXPECT_NE(xml->find(base->key), std::string::npos);

  auto refused = manager_->delete_volume(*base, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("clone.qcow2"), std::string::npos);
  auto escape = manager_->create_volume(
      ref.uuid, "<volume><name>../x</name><capacity>1048576</capacity></volume>", 0);
  ASSERT_FALSE(escape.ok());
  EXPECT_FALSE(fs::exists(root_ + "/x"));
  auto luks = manager_->create_volume(
      ref.uuid,
      "<volume><name>l.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/>"
      "<encryption format='luks'/></target></volume>",
      0);
  ASSERT_FALSE(luks.ok());  // a LUKS volume needs its passphrase secret
  EXPECT_NE(luks.error().message().find("no secret provided for luks encryption"),
            std::string::npos)
      << luks.error().message();
  EXPECT_FALSE(fs::exists(pool_dir_ + "/l.qcow2"));

  // A clone to raw reads the whole chain; resize, wipe, delete.
  auto flat = manager_->clone_volume(
      ref.uuid, "<volume><name>flat.raw</name><target><format type='raw'/></target></volume>",
      *clone, 0);
  ASSERT_TRUE(flat.ok()) << flat.error().message();
  EXPECT_EQ(manager_->volume_info(*flat)->capacity, 16u << 20);
  EXPECT_FALSE(manager_->resize_volume(*clone, 8u << 20, 0).ok());
  EXPECT_TRUE(manager_->resize_volume(*clone, 32u << 20, 0).ok());
  EXPECT_EQ(manager_->volume_info(*clone)->capacity, 32u << 20);
  EXPECT_TRUE(manager_->resize_volume(*clone, 8u << 20, VIR_STORAGE_VOL_RESIZE_SHRINK).ok());
  EXPECT_TRUE(manager_->wipe_volume(*flat, VIR_STORAGE_VOL_WIPE_ALG_ZERO, 0).ok());
  EXPECT_EQ(manager_->wipe_volume(*flat, VIR_STORAGE_VOL_WIPE_ALG_DOD, 0).error().kind(),
            ErrorKind::kUnsupported);
  EXPECT_TRUE(manager_->delete_volume(*clone, 0).ok());
  EXPECT_TRUE(manager_->delete_volume(*base, 0).ok());
  EXPECT_FALSE(fs::exists(base->key));
  auto by_path = manager_->lookup_volume_by_path(pool_dir_ + "/./flat.raw");
  ASSERT_TRUE(by_path.ok());
  EXPECT_EQ(by_path->name, "flat.raw");
}

TEST_F(PoolManagerTest, RefreshSkipsSymlinksOutOfThePoolAndListsBrokenImages) {
  PoolRef ref = define_started();
  ASSERT_EQ(::symlink("/etc/passwd", (pool_dir_ + "/out").c_str()), 0);
  { std::ofstream(pool_dir_ + "/inside.raw") << std::string(4096, 'x'); }
  ASSERT_EQ(::symlink("inside.raw", (pool_dir_ + "/in-link").c_str()), 0);
  {
    std::ofstream broken(pool_dir_ + "/broken.qcow2");
    broken << "QFI\xfb" << std::string(508, '\xff');
  }
  ASSERT_EQ(::mkfifo((pool_dir_ + "/fifo").c_str(), 0600), 0);
  ASSERT_TRUE(manager_->refresh(ref.uuid).ok());
  auto volumes = manager_->list_volumes(ref.uuid);
  ASSERT_TRUE(volumes.ok());
  std::vector<std::string> names;
  for (const auto& volume : *volumes) names.push_back(volume.name);
  EXPECT_EQ(names, (std::vector<std::string>{"broken.qcow2", "in-link", "inside.raw"}));
  auto broken = manager_->resolve("p", "broken.qcow2");
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken->format, "qcow2");
  EXPECT_FALSE(broken->problem.empty());
}

// A directory big enough for the scan to use several threads: every
// file listed once, with its own format and size, and broken ones among
// them still listed with their problem.
TEST_F(PoolManagerTest, RefreshOfABigDirectoryListsEveryFileOnce) {
  PoolRef ref = define_started();
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "v" + std::to_string(i) + (i % 3 == 0 ? ".qcow2" : ".raw");
    if (i % 3 == 0) {
      block::CreateOptions options;
      options.format = block::ImageFormat::kQcow2;
      options.size = uint64_t{1 + static_cast<uint64_t>(i)} << 20;
      ASSERT_TRUE(block::create_image(pool_dir_ + "/" + name, options).ok());
    } else if (i % 3 == 1) {
      std::ofstream(pool_dir_ + "/" + name) << std::string(512 * static_cast<size_t>(i), 'r');
    } else {
      std::ofstream(pool_dir_ + "/" + name) << "QFI\xfb" << std::string(508, '\xff');
    }
  }
  ASSERT_TRUE(manager_->refresh(ref.uuid).ok());
  auto volumes = manager_->list_volumes(ref.uuid);
  ASSERT_TRUE(volumes.ok());
  ASSERT_EQ(volumes->size(), static_cast<size_t>(kFiles));
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "v" + std::to_string(i) + (i % 3 == 0 ? ".qcow2" : ".raw");
    auto state = manager_->resolve("p", name);
    ASSERT_TRUE(state.ok()) << name;
    if (i % 3 == 0) {
      EXPECT_EQ(state->format, "qcow2") << name;
      EXPECT_EQ(state->capacity, uint64_t{1 + static_cast<uint64_t>(i)} << 20) << name;
      EXPECT_TRUE(state->problem.empty()) << name << ": " << state->problem;
    } else if (i % 3 == 1) {
      EXPECT_EQ(state->format, "raw") << name;
      EXPECT_EQ(state->capacity, 512u * static_cast<uint64_t>(i)) << name;
    } else {
      EXPECT_EQ(state->format, "qcow2") << name;  // by its magic
      EXPECT_FALSE(state->problem.empty()) << name;
    }
  }
}

}  // namespace
}  // namespace amber::driver::storage
