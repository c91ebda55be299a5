// SPDX-License-Identifier: GPL-2.0-or-later
// driver/vm names, files and metadata helpers.
#include "driver/vm/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "driver/vm/metadata.h"
#include "driver/vm/names.h"

namespace amber::driver::vm {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/amber-vm-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Names, SafeNamesPass) {
  for (const char* name : {"win7", "a", "my-vm_1.2", "x..y", "名前"})
    EXPECT_TRUE(check_domain_name(name).ok()) << name;
  EXPECT_TRUE(check_domain_name(std::string(200, 'a')).ok());
}

TEST(Names, UnsafeNamesAreRefusedWithAReason) {
  const std::pair<std::string, std::string> bad[] = {
      {"", "empty"},
      {"a/b", "'/'"},
      {"..", "'.'"},
      {".hidden", "'.'"},
      {std::string("a\0b", 3), "NUL"},
      {"tab\there", "control"},
      {"del\x7f", "control"},
      {std::string(201, 'a'), "longer than 200"},
  };
  for (const auto& [name, why] : bad) {
    auto checked = check_domain_name(name);
    ASSERT_FALSE(checked.ok()) << name;
    EXPECT_EQ(checked.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(checked.error().message().find(why), std::string::npos) << checked.error().message();
  }
}

TEST(Store, AtomicWriteReplacesWholeAndLeavesNoTemp) {
  TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path(), "a.xml", "first").ok());
  ASSERT_TRUE(write_file_atomic(dir.path(), "a.xml", "second version").ok());
  auto text = read_file(dir.path() + "/a.xml");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "second version");
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "a.xml");
  }
  EXPECT_EQ(files, 1u);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/a.xml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Store, AtomicWriteIntoAMissingDirectoryFails) {
  TempDir dir;
  auto written = write_file_atomic(dir.path() + "/missing", "a.xml", "x");
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().error_number(), ENOENT);
}

TEST(Store, ConfigsAutostartLinksAndRemoval) {
  TempDir dir;
  Store store(dir.path() + "/etc", dir.path() + "/run", dir.path() + "/log");
  ASSERT_TRUE(store.create_directories().ok());
  ASSERT_TRUE(store.save_config("b", "<domain/>").ok());
  ASSERT_TRUE(store.save_config("a", "<domain/>").ok());
  auto names = store.list_configs();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a.xml", "b.xml"}));
  EXPECT_FALSE(store.autostart("a"));
  ASSERT_TRUE(store.set_autostart("a", true).ok());
  EXPECT_TRUE(store.autostart("a"));
  const std::string link = dir.path() + "/etc/autostart/a.xml";
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), dir.path() + "/etc/a.xml");
  ASSERT_TRUE(store.remove_config("a").ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/etc/a.xml"));
  EXPECT_FALSE(fs::is_symlink(link));
}

TEST(Store, StatusRoundTripsWithAwkwardPaths) {
  LiveStatus status;
  status.id = 7;
  status.pid = 4242;
  status.state = 3;
  status.reason = 1;
  status.control = "/run/it's <here> & there.sock";
  status.pty = "/dev/pts/5";
  status.domain_xml = "<domain type='kvm' id='7'>\n  <name>x</name>\n</domain>\n";
  auto parsed = Store::parse_status(Store::format_status(status));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->id, 7);
  EXPECT_EQ(parsed->pid, 4242);
  EXPECT_EQ(parsed->state, 3);
  EXPECT_EQ(parsed->reason, 1);
  EXPECT_EQ(parsed->control, status.control);
  EXPECT_EQ(parsed->pty, status.pty);
  EXPECT_EQ(parsed->domain_xml, status.domain_xml);
}

TEST(Store, BrokenStatusIsCorrupt) {
  for (const char* text : {"", "<domain/>", "<domstatus id='1' pid='2'>\n</domstatus>\n",
                           "<domstatus id='x' pid='2' state='1' reason='1' control='c'>\n"
                           "</domstatus>\n",
                           "<domstatus id='1' pid='2' state='1' reason='1' control='c'>\n"}) {
    auto parsed = Store::parse_status(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::kCorrupt);
  }
}

TEST(Store, ExitRecords) {
  TempDir dir;
  Store store(dir.path(), dir.path(), dir.path());
  EXPECT_FALSE(store.exit_record("vm"));
  std::ofstream(store.exit_path("vm")) << "status 0\n";
  auto record = store.exit_record("vm");
  ASSERT_TRUE(record);
  EXPECT_FALSE(record->signaled);
  EXPECT_EQ(record->code, 0);
  std::ofstream(store.exit_path("vm")) << "signal 9\n";
  record = store.exit_record("vm");
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->signaled);
  EXPECT_EQ(record->code, 9);
  std::ofstream(store.exit_path("vm")) << "garbage";
  EXPECT_FALSE(store.exit_record("vm"));
}

TEST(Metadata, FindByNamespaceAndRemove) {
  const std::string metadata =
      "<a:x xmlns:a=\"http://a.example/\"><a:y v='1'/></a:x>\n"
      "<b xmlns='http://b.example/'>text</b>\n"
      "<c:z xmlns:c='http://c.example/'/>";
  EXPECT_EQ(split_metadata(metadata).size(), 3u);
  EXPECT_EQ(find_metadata(metadata, "http://a.example/"),
            "<a:x xmlns:a=\"http://a.example/\"><a:y v='1'/></a:x>");
  EXPECT_EQ(find_metadata(metadata, "http://b.example/"), "<b xmlns='http://b.example/'>text</b>");
  EXPECT_EQ(find_metadata(metadata, "http://c.example/"), "<c:z xmlns:c='http://c.example/'/>");
  EXPECT_FALSE(find_metadata(metadata, "http://none.example/"));
  const std::string rest = remove_metadata(metadata, "http://b.example/");
  EXPECT_FALSE(find_metadata(rest, "http://b.example/"));
  EXPECT_TRUE(find_metadata(rest, "http://a.example/"));
}

TEST(Metadata, MakeElementPutsNamesInTheNamespace) {
  auto element = make_metadata_element("<info><owner>me</owner></info>", "app", "http://app/");
  ASSERT_TRUE(element.ok()) << element.error().message();
  EXPECT_EQ(*element, "<app:info xmlns:app='http://app/'><app:owner>me</app:owner></app:info>");
  EXPECT_EQ(element_namespace(*element), "http://app/");
  EXPECT_FALSE(make_metadata_element("<a>", "app", "http://app/").ok());
  EXPECT_FALSE(make_metadata_element("<a/><b/>", "app", "http://app/").ok());
  EXPECT_FALSE(make_metadata_element("<a/>", "", "http://app/").ok());
  EXPECT_FALSE(make_metadata_element("<a/>", "a:b", "http://app/").ok());
}

}  // namespace
}  // namespace amber::driver::vm
