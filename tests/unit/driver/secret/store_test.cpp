// SPDX-License-Identifier: GPL-2.0-or-later
// driver/secret: base64, the store's files (0600 values and definitions
// written through fresh temp files, 0700 directory, reload, ephemeral
// secrets never on disk, broken files skipped with a log line that never
// shows a value), libvirt's usage and private rules, and events.
#include "driver/secret/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "driver/secret/base64.h"

namespace amber::driver::secret {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/amber-secret-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A value no log line or error message may contain.
constexpr std::string_view kValue = "hunter2-correct-horse";

std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string text_of(std::span<const uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

constexpr const char* kUuid = "c7a5fdbd-cdaf-9455-926a-d65c16db1809";

std::string volume_secret(std::string_view attributes = "", const char* uuid = kUuid,
                          const char* path = "/var/lib/libvirt/images/win7.qcow2") {
  return "<secret " + std::string(attributes) + "><uuid>" + uuid +
         "</uuid><usage type='volume'><volume>" + path + "</volume></usage></secret>";
}

// Opens DIR with the log captured; the vector must outlive the store.
std::unique_ptr<Store> open_store(const std::string& dir, std::vector<std::string>& log) {
  StoreOptions options;
  options.dir = dir;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  auto store = Store::open(options);
  EXPECT_TRUE(store.ok()) << store.error().message();
  return std::move(*store);
}

xml::Uuid uuid(const char* text = kUuid) {
  return *xml::Uuid::parse(text);
}

TEST(Base64, RoundTripsEveryLength) {
  std::vector<uint8_t> data;
  for (int n = 0; n < 70; ++n) {
    const std::string encoded = base64_encode(data);
    EXPECT_EQ(encoded.size() % 4, 0u);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<uint8_t>(n * 37 + 5));
  }
  EXPECT_EQ(base64_encode(bytes_of("hello")), "aGVsbG8=");
  EXPECT_EQ(text_of(*base64_decode("aGVs\nbG8=\n")), "hello");
}

TEST(Base64, RefusesWithoutQuotingTheText) {
  for (const char* bad : {"aGVsbG8", "aGV*bG8=", "a===", "aG=sbG8=", "aGVsbG8=aGVs"}) {
    auto decoded = base64_decode(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.error().kind(), ErrorKind::kCorrupt);
    EXPECT_EQ(decoded.error().message().find(bad), std::string::npos);
  }
}

TEST(SecretStore, PersistentSecretIsWritten0600AndReloads) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/config/secrets";
  const mode_t old_umask = ::umask(0);  // the modes must not depend on the umask
  std::vector<std::string> log;
  {
    auto store = open_store(dir, log);
    EXPECT_EQ(mode_of(dir), 0700u);
    auto ref = store->define(volume_secret("ephemeral='no' private='no'"));
    ASSERT_TRUE(ref.ok()) << ref.error().message();
    EXPECT_EQ(ref->uuid.to_string(), kUuid);
    EXPECT_EQ(ref->usage_type, xml::SecretUsageType::kVolume);
    EXPECT_EQ(mode_of(dir + "/" + kUuid + ".xml"), 0600u);
    ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
    const std::string value_path = dir + "/" + kUuid + ".base64";
    EXPECT_EQ(mode_of(value_path), 0600u);
    EXPECT_EQ(read(value_path), base64_encode(bytes_of(kValue)));
    EXPECT_EQ(names_in(dir), (std::vector<std::string>{std::string(kUuid) + ".base64",
                                                       std::string(kUuid) + ".xml"}));
  }
  ::umask(old_umask);
  auto store = open_store(dir, log);
  EXPECT_TRUE(log.empty()) << log.front();
  auto listed = store->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ref.usage_id, "/var/lib/libvirt/images/win7.qcow2");
  auto value = store->get_value(uuid(), ValueAccess::kClient);
  ASSERT_TRUE(value.ok()) << value.error().message();
  EXPECT_EQ(text_of(value->bytes()), kValue);
  auto xml = store->xml_desc(uuid());
  ASSERT_TRUE(xml.ok());
  EXPECT_EQ(xml->find(kValue), std::string::npos);
  EXPECT_NE(xml->find("<volume>/var/lib/libvirt/images/win7.qcow2</volume>"), std::string::npos);
}

TEST(SecretStore, WritesReplaceThroughAFreshTempFile) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  ASSERT_TRUE(store->define(volume_secret()).ok());
  ASSERT_TRUE(store->set_value(uuid(), bytes_of("first")).ok());
  const std::string value_path = tmp.path() + "/" + kUuid + ".base64";
  struct stat before {};
  ASSERT_EQ(::stat(value_path.c_str(), &before), 0);
  // A leftover temp file someone made world-readable is never written into.
  const std::string temp = tmp.path() + "/." + kUuid + ".base64.tmp";
  std::ofstream(temp) << "stale";
  ASSERT_EQ(::chmod(temp.c_str(), 0644), 0);
  ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
  struct stat after {};
  ASSERT_EQ(::stat(value_path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // renamed into place, not rewritten
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read(value_path), base64_encode(bytes_of(kValue)));
  for (const std::string& name : names_in(tmp.path())) EXPECT_NE(name.front(), '.') << name;
}

TEST(SecretStore, EphemeralSecretsStayInMemory) {
  TempDir tmp;
  std::vector<std::string> log;
  {
    auto store = open_store(tmp.path(), log);
    ASSERT_TRUE(store->define(volume_secret("ephemeral='yes'")).ok());
    ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
    EXPECT_TRUE(names_in(tmp.path()).empty());
    EXPECT_EQ(text_of(store->get_value(uuid(), ValueAccess::kClient)->bytes()), kValue);
    ASSERT_EQ(store->list().size(), 1u);
    EXPECT_TRUE(store->list()[0].ephemeral);
  }
  auto store = open_store(tmp.path(), log);
  EXPECT_TRUE(store->list().empty());
}

TEST(SecretStore, EphemeralAndPersistentSwapTakeTheValueAlong) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  ASSERT_TRUE(store->define(volume_secret("ephemeral='yes'")).ok());
  ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
  ASSERT_TRUE(store->define(volume_secret("ephemeral='no'")).ok());
  EXPECT_EQ(read(tmp.path() + "/" + kUuid + ".base64"), base64_encode(bytes_of(kValue)));
  EXPECT_EQ(mode_of(tmp.path() + "/" + kUuid + ".base64"), 0600u);
  ASSERT_TRUE(store->define(volume_secret("ephemeral='yes'")).ok());
  EXPECT_TRUE(names_in(tmp.path()).empty());
  EXPECT_EQ(text_of(store->get_value(uuid(), ValueAccess::kClient)->bytes()), kValue);
}

TEST(SecretStore, UsageIsUniqueAsInLibvirt) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  ASSERT_TRUE(store->define(volume_secret()).ok());
  const char* other = "2dd3c5d6-a6c4-4a0b-9f6d-3f4c2e57e8b1";
  auto twice = store->define(volume_secret("", other));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().kind(), ErrorKind::kLocked);
  EXPECT_EQ(twice.error().message(), std::string("a secret with UUID ") + kUuid +
                                         " already defined for use with "
                                         "/var/lib/libvirt/images/win7.qcow2");
  // Another path, or the same name under another usage type, is fine.
  EXPECT_TRUE(store->define(volume_secret("", other, "/b.qcow2")).ok());
  EXPECT_TRUE(store
                  ->define("<secret><usage type='ceph'><name>/var/lib/libvirt/images/"
                           "win7.qcow2</name></usage></secret>")
                  .ok());
  // Usage-less secrets never collide.
  EXPECT_TRUE(store->define("<secret/>").ok());
  EXPECT_TRUE(store->define("<secret/>").ok());
  EXPECT_EQ(store->list().size(), 5u);
  // The same UUID may not move to another usage id.
  auto moved = store->define(volume_secret("", kUuid, "/c.qcow2"));
  ASSERT_FALSE(moved.ok());
  EXPECT_NE(moved.error().message().find("is already defined for use with"), std::string::npos);
}

TEST(SecretStore, PrivateValuesAreRefusedToClients) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  ASSERT_TRUE(store->define(volume_secret("private='yes'")).ok());
  auto none = store->get_value(uuid(), ValueAccess::kInternal);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(none.error().message(), std::string("secret '") + kUuid + "' does not have a value");
  ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
  auto refused = store->get_value(uuid(), ValueAccess::kClient);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(), Store::kPrivateMessage);
  auto internal = store->get_value(uuid(), ValueAccess::kInternal);
  ASSERT_TRUE(internal.ok());
  EXPECT_EQ(text_of(internal->bytes()), kValue);
  auto drop = store->define(volume_secret("private='no'"));
  ASSERT_FALSE(drop.ok());
  EXPECT_EQ(drop.error().message(), "cannot change private flag on existing secret");
}

TEST(SecretStore, LookupsUndefineAndLimits) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  auto missing = store->lookup(uuid());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), std::string("no secret with matching uuid '") + kUuid + "'");
  ASSERT_TRUE(store->define(volume_secret()).ok());
  auto by_usage =
      store->lookup_usage(xml::SecretUsageType::kVolume, "/var/lib/libvirt/images/win7.qcow2");
  ASSERT_TRUE(by_usage.ok());
  EXPECT_EQ(by_usage->uuid.to_string(), kUuid);
  EXPECT_FALSE(
      store->lookup_usage(xml::SecretUsageType::kCeph, "/var/lib/libvirt/images/win7.qcow2").ok());
  const std::string huge(kMaxValueBytes + 1, 'x');
  auto big = store->set_value(uuid(), bytes_of(huge));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(store->set_value(uuid(), bytes_of(std::string(kMaxValueBytes, 'y'))).ok());
  ASSERT_TRUE(store->undefine(uuid()).ok());
  EXPECT_TRUE(names_in(tmp.path()).empty());
  EXPECT_FALSE(store->undefine(uuid()).ok());
  EXPECT_FALSE(store->xml_desc(uuid()).ok());
}

TEST(SecretStore, BrokenFilesAreSkippedWithALogLineThatHidesValues) {
  TempDir tmp;
  const std::string& dir = tmp.path();
  const std::string encoded = base64_encode(bytes_of(kValue));
  const char* good = "11111111-2222-4333-8444-555555555555";
  std::ofstream(dir + "/" + good + ".xml") << volume_secret("", good, "/good.qcow2");
  std::ofstream(dir + "/" + good + ".base64") << encoded;
  ASSERT_EQ(::chmod((dir + "/" + good + ".base64").c_str(), 0644), 0);
  // Not XML; a name that is not its UUID; an ephemeral one; a bad value; a
  // second secret for a usage already taken.
  const char* garbage = "22222222-2222-4333-8444-555555555555";
  std::ofstream(dir + "/" + garbage + ".xml") << "<secret";
  std::ofstream(dir + "/" + garbage + ".base64") << encoded;
  std::ofstream(dir + "/33333333-2222-4333-8444-555555555555.xml") << volume_secret("", kUuid);
  const char* ephemeral = "44444444-2222-4333-8444-555555555555";
  std::ofstream(dir + "/" + ephemeral + ".xml")
      << volume_secret("ephemeral='yes'", ephemeral, "/e.qcow2");
  const char* bad_value = "55555555-2222-4333-8444-555555555555";
  std::ofstream(dir + "/" + bad_value + ".xml") << volume_secret("", bad_value, "/v.qcow2");
  std::ofstream(dir + "/" + bad_value + ".base64") << encoded << "*";
  ASSERT_EQ(::chmod((dir + "/" + bad_value + ".base64").c_str(), 0600), 0);
  const char* taken = "66666666-2222-4333-8444-555555555555";
  std::ofstream(dir + "/" + taken + ".xml") << volume_secret("", taken, "/good.qcow2");

  std::vector<std::string> log;
  auto store = open_store(dir, log);
  auto listed = store->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ref.uuid.to_string(), good);
  EXPECT_EQ(text_of(store->get_value(uuid(good), ValueAccess::kClient)->bytes()), kValue);
  EXPECT_EQ(mode_of(dir + "/" + good + ".base64"), 0600u);
  ASSERT_EQ(log.size(), 6u) << ::testing::PrintToString(log);
  std::string all;
  for (const std::string& line : log) all += line + "\n";
  for (const char* name : {garbage, "33333333", ephemeral, bad_value, taken})
    EXPECT_NE(all.find(name), std::string::npos) << name << " in\n" << all;
  EXPECT_NE(all.find("restricted"), std::string::npos) << all;
  EXPECT_EQ(all.find(kValue), std::string::npos) << all;
  EXPECT_EQ(all.find(encoded), std::string::npos) << all;
}

TEST(SecretStore, EventsFollowTheChangesInOrder) {
  TempDir tmp;
  std::vector<std::string> log;
  auto store = open_store(tmp.path(), log);
  std::vector<SecretEvent> events;
  const SinkId id = store->subscribe([&](const SecretEvent& e) { events.push_back(e); });
  ASSERT_TRUE(store->define(volume_secret()).ok());
  ASSERT_TRUE(store->set_value(uuid(), bytes_of(kValue)).ok());
  EXPECT_FALSE(store->set_value(uuid("2dd3c5d6-a6c4-4a0b-9f6d-3f4c2e57e8b1"), bytes_of("x")).ok());
  ASSERT_TRUE(store->undefine(uuid()).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, SecretEventId::kLifecycle);
  EXPECT_EQ(events[0].event, kSecretEventDefined);
  EXPECT_EQ(events[0].secret.usage_id, "/var/lib/libvirt/images/win7.qcow2");
  EXPECT_EQ(events[1].id, SecretEventId::kValueChanged);
  EXPECT_EQ(events[2].event, kSecretEventUndefined);
  EXPECT_EQ(events[2].secret.uuid.to_string(), kUuid);
  store->unsubscribe(id);
  ASSERT_TRUE(store->define(volume_secret()).ok());
  EXPECT_EQ(events.size(), 3u);
}

}  // namespace
}  // namespace amber::driver::secret
