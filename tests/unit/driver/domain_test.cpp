// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests for the domain procedures (driver/dispatch/domain*.cpp) over an
// in-memory vm::Manager: the XDR of remote_nonnull_domain and typed params,
// the list filters, the handlers through the dispatcher, the domain error
// mapping, and the table rows (read-only flags, priorities).
#include "driver/dispatch/domain.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <map>
#include <string>

#include "driver/dispatch/errors.h"
#include "driver/protocol/dispatcher.h"
#include "driver/protocol/limits.h"
#include "driver/protocol/remote_error.h"
#include "driver/protocol/remote_table.h"

namespace amber::driver::dispatch {
namespace {

using protocol::Connection;

xml::Uuid uuid_of(uint8_t seed) {
  xml::Uuid uuid;
  for (size_t i = 0; i < uuid.bytes.size(); ++i) uuid.bytes[i] = static_cast<uint8_t>(seed + i);
  return uuid;
}

// The manager as dispatch sees it: a few domains in a map, states set by
// the calls, and knobs for the errors a real one gives.
class FakeManager : public vm::Manager {
 public:
  struct Entry {
    vm::DomainSummary summary;
    bool has_title = false;
  };

  FakeManager() {
    add("alpha", 1, VIR_DOMAIN_SHUTOFF, true, false);
    add("beta", 2, VIR_DOMAIN_RUNNING, true, true);
    add("gamma", 3, VIR_DOMAIN_PAUSED, false, false);
    domains_.at("beta").summary.ref.id = 7;
    domains_.at("gamma").summary.ref.id = 8;
  }

  void add(const std::string& name, uint8_t seed, int state, bool persistent, bool autostart) {
    Entry entry;
    entry.summary.ref = {name, uuid_of(seed), -1};
    entry.summary.state = state;
    entry.summary.reason = 1;
    entry.summary.persistent = persistent;
    entry.summary.autostart = autostart;
    domains_[name] = entry;
  }

  Entry* find(const xml::Uuid& uuid) {
    for (auto& [name, entry] : domains_)
      if (entry.summary.ref.uuid == uuid) return &entry;
    return nullptr;
  }

  Result<Entry*> get(const xml::Uuid& uuid) {
    Entry* entry = find(uuid);
    if (entry == nullptr)
      return Error(ErrorKind::kNotFound,
                   "Domain not found: no domain with matching uuid '" + uuid.to_string() + "'");
    return entry;
  }

  Result<vm::DomainRef> define(std::string_view xml, unsigned flags) override {
    last_flags = flags;
    if (xml.find("<interface") != std::string_view::npos)
      return Error(ErrorKind::kUnsupported,
                   "unsupported configuration: /domain/devices/interface (not yet)");
    if (xml.find("<domain") == std::string_view::npos)
      return Error(ErrorKind::kCorrupt, "XML error: line 1: Start tag expected");
    add("delta", 4, VIR_DOMAIN_SHUTOFF, true, false);
    return domains_.at("delta").summary.ref;
  }
  Result<void> undefine(const xml::Uuid& uuid, unsigned flags) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    last_flags = flags;
    domains_.erase(entry->summary.ref.name);
    return {};
  }
  Result<vm::DomainRef> lookup_by_uuid(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return entry->summary.ref;
  }
  Result<vm::DomainRef> lookup_by_name(std::string_view name) override {
    auto it = domains_.find(std::string(name));
    if (it == domains_.end())
      return Error(ErrorKind::kNotFound,
                   "Domain not found: no domain with matching name '" + std::string(name) + "'");
    return it->second.summary.ref;
  }
  Result<vm::DomainRef> lookup_by_id(int32_t id) override {
    for (auto& [name, entry] : domains_)
      if (entry.summary.ref.id == id) return entry.summary.ref;
    return Error(ErrorKind::kNotFound, "no domain with matching id " + std::to_string(id));
  }
  std::vector<vm::DomainSummary> list() override {
    std::vector<vm::DomainSummary> out;
    for (auto& [name, entry] : domains_) out.push_back(entry.summary);
    return out;
  }
  Result<vm::DomainRef> start(const xml::Uuid& uuid, unsigned flags) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    if (entry->summary.ref.id != -1) return Error(ErrorKind::kLocked, "domain is already running");
    entry->summary.ref.id = 42;
    entry->summary.state =
        (flags & VIR_DOMAIN_START_PAUSED) ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
    return entry->summary.ref;
  }
  Result<vm::DomainRef> create_transient(std::string_view, unsigned) override {
    add("transient", 9, VIR_DOMAIN_RUNNING, false, false);
    domains_.at("transient").summary.ref.id = 50;
    return domains_.at("transient").summary.ref;
  }
  Result<void> running(const xml::Uuid& uuid) {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    if (entry->summary.ref.id == -1) return Error(ErrorKind::kLocked, "domain is not running");
    return {};
  }
  Result<void> destroy(const xml::Uuid& uuid, unsigned) override {
    AMBER_TRY(running(uuid));
    Entry* entry = find(uuid);
    entry->summary.ref.id = -1;
    entry->summary.state = VIR_DOMAIN_SHUTOFF;
    return {};
  }
  Result<void> shutdown(const xml::Uuid& uuid, unsigned flags) override {
    AMBER_TRY(running(uuid));
    last_flags = flags;
    ++shutdowns;
    if (flags == VIR_DOMAIN_SHUTDOWN_GUEST_AGENT)
      return Error(ErrorKind::kUnsupported, "guest agent is not configured");
    return {};
  }
  Result<void> reboot(const xml::Uuid& uuid, unsigned) override { return running(uuid); }
  Result<void> reset(const xml::Uuid& uuid) override { return running(uuid); }
  Result<void> suspend(const xml::Uuid& uuid) override {
    AMBER_TRY(running(uuid));
    find(uuid)->summary.state = VIR_DOMAIN_PAUSED;
    return {};
  }
  Result<void> resume(const xml::Uuid& uuid) override {
    AMBER_TRY(running(uuid));
    find(uuid)->summary.state = VIR_DOMAIN_RUNNING;
    return {};
  }
  Result<std::string> xml_desc(const xml::Uuid& uuid, unsigned flags) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    last_flags = flags;
    return "<domain type='kvm'><name>" + entry->summary.ref.name + "</name><uuid>" +
           uuid.to_string() +
           "</uuid><memory unit='KiB'>65536</memory><vcpu>2</vcpu><os><type>hvm</type></os>"
           "<devices><disk type='file' device='disk'><source file='/images/a.qcow2'/>"
           "<target dev='vda' bus='virtio'/></disk></devices></domain>";
  }
  Result<vm::DomainInfo> info(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return vm::DomainInfo{entry->summary.state, 65536, 32768, 2, 123456789};
  }
  Result<std::pair<int, int>> state(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return std::pair<int, int>(entry->summary.state, entry->summary.reason);
  }
  Result<bool> is_active(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return entry->summary.ref.id != -1;
  }
  Result<bool> is_persistent(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return entry->summary.persistent;
  }
  Result<bool> autostart(const xml::Uuid& uuid) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    return entry->summary.autostart;
  }
  Result<void> set_autostart(const xml::Uuid& uuid, bool on) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    entry->summary.autostart = on;
    return {};
  }
  Result<std::string> metadata(const xml::Uuid& uuid, int type, const std::string&,
                               unsigned) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    if (type == VIR_DOMAIN_METADATA_TITLE && entry->has_title) return std::string("A title");
    return Error(ErrorKind::kNotFound,
                 "metadata not found: Requested metadata element is not present");
  }
  Result<void> set_metadata(const xml::Uuid& uuid, int type,
                            const std::optional<std::string>& value, const std::string&,
                            const std::string&, unsigned) override {
    AMBER_TRY_ASSIGN(Entry * entry, get(uuid));
    if (type == VIR_DOMAIN_METADATA_TITLE) entry->has_title = value.has_value();
    return {};
  }
  Result<int> vcpus_flags(const xml::Uuid& uuid, unsigned flags) override {
    AMBER_TRY(get(uuid));
    return (flags & VIR_DOMAIN_VCPU_MAXIMUM) ? 4 : 2;
  }
  Result<vm::BlockStats> block_stats(const xml::Uuid& uuid, std::string_view disk) override {
    AMBER_TRY(running(uuid));
    if (disk != "vda" && disk != "/images/a.qcow2")
      return Error(ErrorKind::kInvalidArgument, "invalid path: " + std::string(disk));
    vm::BlockStats stats;
    stats.rd_req = 6;
    stats.rd_bytes = 6144;
    stats.wr_req = 2;
    stats.wr_bytes = 1024;
    stats.flush_req = 1;
    return stats;
  }
  Result<vm::BlockInfo> block_info(const xml::Uuid& uuid, std::string_view) override {
    AMBER_TRY(get(uuid));
    return vm::BlockInfo{2097152, 200704, 196616};
  }
  Result<std::vector<vm::DiskError>> disk_errors(const xml::Uuid& uuid) override {
    AMBER_TRY(get(uuid));
    return std::vector<vm::DiskError>{{"vda", VIR_DOMAIN_DISK_ERROR_NO_SPACE}};
  }
  Result<UniqueFd> open_console(const xml::Uuid&, bool, std::function<void()>) override {
    return Error(ErrorKind::kUnsupported, "no console in the fake");
  }
  vm::SubscriptionId subscribe(vm::EventSink) override { return 1; }
  void unsubscribe(vm::SubscriptionId) override {}

  std::map<std::string, Entry> domains_;
  unsigned last_flags = 0;
  int shutdowns = 0;
};

// Dispatches one call on a connection to the fake and decodes the reply.
class DomainCalls : public ::testing::Test {
 protected:
  void SetUp() override {
    info_.manager = &manager_;
    connection_.daemon = &info_;
    connection_.opened = true;
  }

  struct Reply {
    bool ok = false;
    std::vector<uint8_t> body;
    protocol::RemoteError error;
  };

  Reply call(int32_t procedure, const rpc::XdrWriter& args) {
    rpc::PacketHeader header;
    header.program = protocol::kRemoteProgram;
    header.version = protocol::kRemoteVersion;
    header.procedure = procedure;
    header.serial = 3;
    auto frame = rpc::encode_frame(header, args.bytes());
    std::vector<uint8_t> packet(frame.begin() + rpc::kLengthWordBytes, frame.end());
    auto reply = protocol::dispatch_frame(connection_, packet);
    Reply out;
    if (!reply.ok() || !reply->has_value()) return out;
    const auto& bytes = **reply;
    rpc::XdrReader reader{std::span(bytes).subspan(rpc::kLengthWordBytes)};
    auto decoded = rpc::decode_header(reader);
    out.ok = decoded->status == rpc::PacketStatus::kOk;
    out.body.assign(bytes.begin() + rpc::kMinFrameBytes, bytes.end());
    if (!out.ok) {
      rpc::XdrReader body(out.body);
      out.error = *protocol::decode_remote_error(body);
    }
    return out;
  }

  static rpc::XdrWriter dom_args(const vm::DomainRef& domain) {
    rpc::XdrWriter writer;
    write_domain(writer, domain);
    return writer;
  }

  vm::DomainRef ref(const std::string& name) { return manager_.domains_.at(name).summary.ref; }

  FakeManager manager_;
  protocol::DaemonInfo info_;
  Connection connection_;
};

TEST(DomainXdr, NonnullDomainLayoutAndRoundTrip) {
  vm::DomainRef domain{"vm1", uuid_of(0x10), 5};
  rpc::XdrWriter writer;
  write_domain(writer, domain);
  // len 3, "vm1" + 1 pad, 16 uuid bytes, id.
  ASSERT_EQ(writer.size(), 4u + 4 + 16 + 4);
  EXPECT_EQ(writer.bytes()[3], 3);
  EXPECT_EQ(writer.bytes()[8], 0x10);
  EXPECT_EQ(writer.bytes()[27], 5);
  rpc::XdrReader reader(writer.bytes());
  auto back = read_domain(reader);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, domain);
}

TEST(DomainXdr, TruncatedDomainIsAnInvalidArgumentNotXml) {
  rpc::XdrWriter writer;
  writer.write_string("vm1");
  writer.write_u32(0);  // 4 of the 16 uuid bytes
  rpc::XdrReader reader(writer.bytes());
  auto back = read_domain(reader);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(back.error().message().find("uuid"), std::string::npos);
}

TEST(DomainXdr, TypedParamsOfEveryTypeWeSendRoundTrip) {
  std::vector<TypedParam> params = {
      TypedParam::int32("state.state", -3),
      TypedParam::uint32("block.count", 2),
      TypedParam::int64("rd_bytes", -5),
      TypedParam::uint64("balloon.maximum", 0x123456789ull),
      TypedParam::string("block.0.name", "vda"),
  };
  rpc::XdrWriter writer;
  write_typed_params(writer, params);
  rpc::XdrReader reader(writer.bytes());
  ASSERT_EQ(*reader.read_u32("count"), 5u);
  for (const auto& param : params) {
    auto back = read_typed_param(reader);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, param);
  }
  EXPECT_TRUE(reader.expect_end("params").ok());
  // The u64 layout: field, type 4, high word, low word.
  rpc::XdrWriter one;
  write_typed_param(one, TypedParam::uint64("x", 0x100000002ull));
  EXPECT_EQ(one.bytes(),
            (std::vector<uint8_t>{0, 0, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2}));
}

TEST(DomainXdr, UnknownTypedParamTypeIsRefused) {
  rpc::XdrWriter writer;
  writer.write_string("x");
  writer.write_i32(99);
  rpc::XdrReader reader(writer.bytes());
  EXPECT_FALSE(read_typed_param(reader).ok());
}

TEST(ListFilters, EveryGroup) {
  vm::DomainSummary running{{"a", uuid_of(1), 3}, VIR_DOMAIN_RUNNING, 1, true, true};
  vm::DomainSummary off{{"b", uuid_of(2), -1}, VIR_DOMAIN_SHUTOFF, 1, true, false};
  vm::DomainSummary paused{{"c", uuid_of(3), 4}, VIR_DOMAIN_PAUSED, 1, false, false};
  vm::DomainSummary crashed{{"d", uuid_of(4), 5}, VIR_DOMAIN_CRASHED, 1, false, false};
  EXPECT_TRUE(matches_list_flags(off, 0));
  EXPECT_TRUE(matches_list_flags(running, VIR_CONNECT_LIST_DOMAINS_ACTIVE));
  EXPECT_FALSE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_ACTIVE));
  EXPECT_TRUE(
      matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE));
  EXPECT_TRUE(matches_list_flags(paused, VIR_CONNECT_LIST_DOMAINS_TRANSIENT));
  EXPECT_FALSE(matches_list_flags(paused, VIR_CONNECT_LIST_DOMAINS_PERSISTENT));
  EXPECT_TRUE(matches_list_flags(paused, VIR_CONNECT_LIST_DOMAINS_PAUSED));
  EXPECT_FALSE(matches_list_flags(running, VIR_CONNECT_LIST_DOMAINS_PAUSED));
  EXPECT_TRUE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_SHUTOFF));
  EXPECT_TRUE(matches_list_flags(crashed, VIR_CONNECT_LIST_DOMAINS_OTHER));
  EXPECT_FALSE(matches_list_flags(running, VIR_CONNECT_LIST_DOMAINS_OTHER));
  EXPECT_TRUE(matches_list_flags(running, VIR_CONNECT_LIST_DOMAINS_AUTOSTART));
  EXPECT_FALSE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_AUTOSTART));
  EXPECT_TRUE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART));
  EXPECT_TRUE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE));
  EXPECT_FALSE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE));
  EXPECT_TRUE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT));
  EXPECT_FALSE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT));
  EXPECT_FALSE(matches_list_flags(off, VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT));
  // Groups combine with AND: active and persistent.
  EXPECT_TRUE(matches_list_flags(
      running, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT));
  EXPECT_FALSE(matches_list_flags(
      paused, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_PERSISTENT));
}

TEST_F(DomainCalls, LookupsByNameUuidAndId) {
  rpc::XdrWriter by_name;
  by_name.write_string("beta");
  auto reply = call(23, by_name);
  ASSERT_TRUE(reply.ok) << reply.error.message.value_or("");
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*read_domain(reader), ref("beta"));

  rpc::XdrWriter by_uuid;
  write_uuid(by_uuid, uuid_of(1));
  reply = call(24, by_uuid);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader uuid_reader(reply.body);
  EXPECT_EQ(read_domain(uuid_reader)->name, "alpha");

  rpc::XdrWriter by_id;
  by_id.write_i32(7);
  reply = call(22, by_id);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader id_reader(reply.body);
  EXPECT_EQ(read_domain(id_reader)->name, "beta");
}

TEST_F(DomainCalls, UnknownDomainIsNoDomain) {
  rpc::XdrWriter by_name;
  by_name.write_string("nosuch");
  auto reply = call(23, by_name);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.error.code, VIR_ERR_NO_DOMAIN);
  EXPECT_EQ(reply.error.message, "Domain not found: no domain with matching name 'nosuch'");
  rpc::XdrWriter by_id;
  by_id.write_i32(99);
  reply = call(22, by_id);
  EXPECT_EQ(reply.error.code, VIR_ERR_NO_DOMAIN);
  EXPECT_EQ(reply.error.message, "Domain not found: no domain with matching id 99");
}

TEST_F(DomainCalls, StaleIdAndNameFallBackToTheUuid) {
  vm::DomainRef stale = ref("alpha");
  stale.name = "renamed-long-ago";
  stale.id = 1234;
  ASSERT_TRUE(call(9, dom_args(stale)).ok);  // DOMAIN_CREATE
  rpc::XdrWriter state_args = dom_args(stale);
  state_args.write_u32(0);
  auto reply = call(212, state_args);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*reader.read_i32("state"), VIR_DOMAIN_RUNNING);
}

TEST_F(DomainCalls, ListAllDomainsAppliesTheFlags) {
  auto names_for = [&](unsigned flags, int32_t need_results = 1) {
    rpc::XdrWriter args;
    args.write_i32(need_results);
    args.write_u32(flags);
    auto reply = call(273, args);
    EXPECT_TRUE(reply.ok);
    rpc::XdrReader reader(reply.body);
    uint32_t count = *reader.read_u32("count");
    std::vector<std::string> names;
    for (uint32_t i = 0; i < count; ++i) names.push_back(read_domain(reader)->name);
    names.push_back("ret=" + std::to_string(*reader.read_u32("ret")));
    return names;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names_for(0), (V{"alpha", "beta", "gamma", "ret=3"}));
  EXPECT_EQ(names_for(VIR_CONNECT_LIST_DOMAINS_ACTIVE), (V{"beta", "gamma", "ret=2"}));
  EXPECT_EQ(names_for(VIR_CONNECT_LIST_DOMAINS_INACTIVE), (V{"alpha", "ret=1"}));
  EXPECT_EQ(names_for(VIR_CONNECT_LIST_DOMAINS_TRANSIENT), (V{"gamma", "ret=1"}));
  EXPECT_EQ(names_for(VIR_CONNECT_LIST_DOMAINS_AUTOSTART), (V{"beta", "ret=1"}));
  EXPECT_EQ(names_for(0, 0), (V{"ret=3"}));
}

TEST_F(DomainCalls, LegacyListsAndCounts) {
  auto reply = call(51, {});
  rpc::XdrReader active(reply.body);
  EXPECT_EQ(*active.read_i32("num"), 2);
  reply = call(25, {});
  rpc::XdrReader defined(reply.body);
  EXPECT_EQ(*defined.read_i32("num"), 1);
  rpc::XdrWriter max;
  max.write_i32(10);
  reply = call(37, max);
  rpc::XdrReader ids(reply.body);
  ASSERT_EQ(*ids.read_u32("count"), 2u);
  EXPECT_EQ(*ids.read_i32("id"), 7);
  EXPECT_EQ(*ids.read_i32("id"), 8);
  reply = call(21, max);
  rpc::XdrReader names(reply.body);
  ASSERT_EQ(*names.read_u32("count"), 1u);
  EXPECT_EQ(*names.read_string("name", 100), "alpha");
}

TEST_F(DomainCalls, DefineErrorsBecomeXmlAndConfigErrors) {
  rpc::XdrWriter bad;
  bad.write_string("not xml");
  auto reply = call(11, bad);
  EXPECT_EQ(reply.error.code, VIR_ERR_XML_ERROR);
  EXPECT_EQ(reply.error.message, "XML error: line 1: Start tag expected");
  rpc::XdrWriter nic;
  nic.write_string("<domain><interface/></domain>");
  nic.write_u32(VIR_DOMAIN_DEFINE_VALIDATE);
  reply = call(350, nic);
  EXPECT_EQ(reply.error.code, VIR_ERR_CONFIG_UNSUPPORTED);
  EXPECT_NE(reply.error.message->find("/domain/devices/interface"), std::string::npos);
  EXPECT_EQ(manager_.last_flags, unsigned{VIR_DOMAIN_DEFINE_VALIDATE});
  rpc::XdrWriter good;
  good.write_string("<domain/>");
  reply = call(11, good);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(read_domain(reader)->name, "delta");
}

TEST_F(DomainCalls, MalformedArgumentsAreNotXmlErrors) {
  rpc::XdrWriter truncated;
  truncated.write_u32(100);  // a string length past the end
  auto reply = call(11, truncated);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.error.code, VIR_ERR_INVALID_ARG);
}

TEST_F(DomainCalls, WrongStateIsOperationInvalid) {
  auto reply = call(34, dom_args(ref("alpha")));  // suspend a shut-off domain
  EXPECT_EQ(reply.error.code, VIR_ERR_OPERATION_INVALID);
  EXPECT_EQ(reply.error.message, "Requested operation is not valid: domain is not running");
}

TEST_F(DomainCalls, ShutdownReachesTheManagerWithItsFlags) {
  EXPECT_TRUE(call(33, dom_args(ref("beta"))).ok);
  EXPECT_EQ(manager_.shutdowns, 1);
  EXPECT_EQ(manager_.last_flags, 0u);
  rpc::XdrWriter acpi = dom_args(ref("beta"));
  acpi.write_u32(VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
  EXPECT_TRUE(call(258, acpi).ok);
  EXPECT_EQ(manager_.last_flags, unsigned(VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN));
  rpc::XdrWriter agent = dom_args(ref("beta"));
  agent.write_u32(VIR_DOMAIN_SHUTDOWN_GUEST_AGENT);
  auto reply = call(258, agent);
  EXPECT_EQ(reply.error.code, VIR_ERR_OPERATION_UNSUPPORTED);
  EXPECT_NE(reply.error.message->find("guest agent"), std::string::npos);
  // A shut-off domain: not running.
  EXPECT_EQ(call(33, dom_args(ref("alpha"))).error.code, VIR_ERR_OPERATION_INVALID);
}

TEST_F(DomainCalls, LifecycleChangesState) {
  rpc::XdrWriter paused = dom_args(ref("alpha"));
  paused.write_u32(VIR_DOMAIN_START_PAUSED);
  auto reply = call(196, paused);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(read_domain(reader)->id, 42);
  EXPECT_EQ(manager_.domains_.at("alpha").summary.state, VIR_DOMAIN_PAUSED);
  EXPECT_TRUE(call(28, dom_args(ref("alpha"))).ok);  // resume
  EXPECT_EQ(manager_.domains_.at("alpha").summary.state, VIR_DOMAIN_RUNNING);
  rpc::XdrWriter reset = dom_args(ref("alpha"));
  reset.write_u32(0);
  EXPECT_TRUE(call(245, reset).ok);
  EXPECT_TRUE(call(12, dom_args(ref("alpha"))).ok);  // destroy
  EXPECT_EQ(manager_.domains_.at("alpha").summary.state, VIR_DOMAIN_SHUTOFF);
  rpc::XdrWriter undefine = dom_args(ref("alpha"));
  undefine.write_u32(VIR_DOMAIN_UNDEFINE_MANAGED_SAVE);
  EXPECT_TRUE(call(231, undefine).ok);
  EXPECT_FALSE(manager_.domains_.contains("alpha"));
}

TEST_F(DomainCalls, InfoStateAndFlags) {
  auto reply = call(16, dom_args(ref("beta")));
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader info(reply.body);
  EXPECT_EQ(*info.read_u32("state"), unsigned{VIR_DOMAIN_RUNNING});
  EXPECT_EQ(*info.read_u64("maxMem"), 65536u);
  EXPECT_EQ(*info.read_u64("memory"), 32768u);
  EXPECT_EQ(*info.read_u32("nrVirtCpu"), 2u);
  EXPECT_EQ(*info.read_u64("cpuTime"), 123456789u);
  EXPECT_TRUE(info.expect_end("info").ok());
  auto flag = [&](int32_t procedure, const std::string& name) {
    auto r = call(procedure, dom_args(ref(name)));
    EXPECT_TRUE(r.ok);
    rpc::XdrReader reader(r.body);
    return *reader.read_i32("flag");
  };
  EXPECT_EQ(flag(150, "beta"), 1);   // IS_ACTIVE
  EXPECT_EQ(flag(150, "alpha"), 0);  // IS_ACTIVE
  EXPECT_EQ(flag(151, "gamma"), 0);  // IS_PERSISTENT
  EXPECT_EQ(flag(15, "beta"), 1);    // GET_AUTOSTART
  EXPECT_EQ(flag(202, "beta"), 0);   // IS_UPDATED
  rpc::XdrWriter set = dom_args(ref("alpha"));
  set.write_i32(1);
  EXPECT_TRUE(call(29, set).ok);
  EXPECT_EQ(flag(15, "alpha"), 1);
  reply = call(19, dom_args(ref("alpha")));
  rpc::XdrReader os(reply.body);
  EXPECT_EQ(*os.read_string("type", 10), "hvm");
}

TEST_F(DomainCalls, XmlDescPassesFlags) {
  rpc::XdrWriter args = dom_args(ref("beta"));
  args.write_u32(VIR_DOMAIN_XML_INACTIVE);
  auto reply = call(14, args);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_NE(reader.read_string("xml", 10000)->find("<name>beta</name>"), std::string::npos);
  EXPECT_EQ(manager_.last_flags, unsigned{VIR_DOMAIN_XML_INACTIVE});
}

TEST_F(DomainCalls, MetadataAbsentIsNoDomainMetadata) {
  rpc::XdrWriter get = dom_args(ref("beta"));
  get.write_i32(VIR_DOMAIN_METADATA_TITLE);
  get.write_optional_string(std::nullopt);
  get.write_u32(0);
  EXPECT_EQ(call(265, get).error.code, VIR_ERR_NO_DOMAIN_METADATA);
  rpc::XdrWriter set = dom_args(ref("beta"));
  set.write_i32(VIR_DOMAIN_METADATA_TITLE);
  set.write_optional_string(std::string("A title"));
  set.write_optional_string(std::nullopt);
  set.write_optional_string(std::nullopt);
  set.write_u32(0);
  ASSERT_TRUE(call(264, set).ok);
  auto reply = call(265, get);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*reader.read_string("metadata", 100), "A title");
}

TEST_F(DomainCalls, BlockStatsFixedAndTyped) {
  rpc::XdrWriter fixed = dom_args(ref("beta"));
  fixed.write_string("vda");
  auto reply = call(64, fixed);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*reader.read_i64("rd_req"), 6);
  EXPECT_EQ(*reader.read_i64("rd_bytes"), 6144);
  EXPECT_EQ(*reader.read_i64("wr_req"), 2);
  EXPECT_EQ(*reader.read_i64("wr_bytes"), 1024);
  EXPECT_EQ(*reader.read_i64("errs"), 0);

  // First the count (nparams 0), then the values, as the client asks.
  rpc::XdrWriter count = dom_args(ref("beta"));
  count.write_string("vda");
  count.write_i32(0);
  count.write_u32(0);
  reply = call(243, count);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader count_reader(reply.body);
  EXPECT_EQ(*count_reader.read_u32("params"), 0u);
  EXPECT_EQ(*count_reader.read_i32("nparams"), 8);
  rpc::XdrWriter values = dom_args(ref("beta"));
  values.write_string("vda");
  values.write_i32(8);
  values.write_u32(VIR_TYPED_PARAM_STRING_OKAY);
  reply = call(243, values);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader values_reader(reply.body);
  ASSERT_EQ(*values_reader.read_u32("params"), 8u);
  std::map<std::string, int64_t> got;
  for (int i = 0; i < 8; ++i) {
    auto param = read_typed_param(values_reader);
    ASSERT_TRUE(param.ok());
    EXPECT_EQ(param->type, TypedParamType::kLLong);
    got[param->field] = param->integer;
  }
  EXPECT_EQ(got[VIR_DOMAIN_BLOCK_STATS_READ_REQ], 6);
  EXPECT_EQ(got[VIR_DOMAIN_BLOCK_STATS_WRITE_BYTES], 1024);
  EXPECT_EQ(got[VIR_DOMAIN_BLOCK_STATS_FLUSH_REQ], 1);

  rpc::XdrWriter inactive = dom_args(ref("alpha"));
  inactive.write_string("vda");
  EXPECT_EQ(call(64, inactive).error.code, VIR_ERR_OPERATION_INVALID);
}

TEST_F(DomainCalls, BlockInfoDiskErrorsAndEmptyAnswers) {
  rpc::XdrWriter info = dom_args(ref("beta"));
  info.write_string("vda");
  info.write_u32(0);
  auto reply = call(194, info);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  EXPECT_EQ(*reader.read_u64("allocation"), 200704u);
  EXPECT_EQ(*reader.read_u64("capacity"), 2097152u);
  EXPECT_EQ(*reader.read_u64("physical"), 196616u);

  rpc::XdrWriter errors = dom_args(ref("beta"));
  errors.write_u32(4);
  errors.write_u32(0);
  reply = call(263, errors);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader errors_reader(reply.body);
  ASSERT_EQ(*errors_reader.read_u32("errors"), 1u);
  EXPECT_EQ(*errors_reader.read_string("disk", 10), "vda");
  EXPECT_EQ(*errors_reader.read_i32("error"), VIR_DOMAIN_DISK_ERROR_NO_SPACE);

  rpc::XdrWriter managed = dom_args(ref("alpha"));
  managed.write_u32(0);
  reply = call(183, managed);
  rpc::XdrReader managed_reader(reply.body);
  EXPECT_EQ(*managed_reader.read_i32("result"), 0);
  reply = call(187, managed);  // SNAPSHOT_NUM
  rpc::XdrReader num_reader(reply.body);
  EXPECT_EQ(*num_reader.read_i32("num"), 0);
  rpc::XdrWriter snapshots = dom_args(ref("alpha"));
  snapshots.write_i32(1);
  snapshots.write_u32(0);
  reply = call(274, snapshots);
  EXPECT_EQ(reply.body, (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0}));
  rpc::XdrWriter addresses = dom_args(ref("beta"));
  addresses.write_u32(0);
  addresses.write_u32(0);
  reply = call(353, addresses);
  EXPECT_EQ(reply.body, (std::vector<uint8_t>{0, 0, 0, 0}));
}

TEST_F(DomainCalls, AllDomainStatsRecords) {
  rpc::XdrWriter args;
  args.write_u32(0);  // every domain
  args.write_u32(0);  // every group
  args.write_u32(VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING);
  auto reply = call(344, args);
  ASSERT_TRUE(reply.ok) << reply.error.message.value_or("");
  rpc::XdrReader reader(reply.body);
  ASSERT_EQ(*reader.read_u32("records"), 1u);
  EXPECT_EQ(read_domain(reader)->name, "beta");
  uint32_t count = *reader.read_u32("params");
  std::map<std::string, TypedParam> got;
  for (uint32_t i = 0; i < count; ++i) {
    auto param = read_typed_param(reader);
    ASSERT_TRUE(param.ok());
    got[param->field] = *param;
  }
  EXPECT_TRUE(reader.expect_end("stats").ok());
  EXPECT_EQ(got["state.state"].integer, VIR_DOMAIN_RUNNING);
  EXPECT_EQ(got["cpu.time"].integer, 123456789);
  EXPECT_EQ(got["balloon.current"].integer, 32768);
  EXPECT_EQ(got["balloon.maximum"].integer, 65536);
  EXPECT_EQ(got["vcpu.current"].integer, 2);
  EXPECT_EQ(got["vcpu.maximum"].integer, 4);
  EXPECT_EQ(got["block.count"].type, TypedParamType::kUInt);
  EXPECT_EQ(got["block.count"].integer, 1);
  EXPECT_EQ(got["block.0.name"].text, "vda");
  EXPECT_EQ(got["block.0.path"].text, "/images/a.qcow2");
  EXPECT_EQ(got["block.0.rd.reqs"].integer, 6);
  EXPECT_EQ(got["block.0.wr.bytes"].integer, 1024);
  EXPECT_EQ(got["block.0.fl.reqs"].integer, 1);
  EXPECT_EQ(got["block.0.capacity"].integer, 2097152);

  // One domain by its handle, only the state group (virDomainListGetStats).
  rpc::XdrWriter one;
  one.write_u32(1);
  write_domain(one, ref("alpha"));
  one.write_u32(VIR_DOMAIN_STATS_STATE);
  one.write_u32(0);
  reply = call(344, one);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader one_reader(reply.body);
  ASSERT_EQ(*one_reader.read_u32("records"), 1u);
  EXPECT_EQ(read_domain(one_reader)->name, "alpha");
  EXPECT_EQ(*one_reader.read_u32("params"), 2u);
}

TEST_F(DomainCalls, EnforcedStatsWeLackAreRefused) {
  rpc::XdrWriter args;
  args.write_u32(0);
  args.write_u32(VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_INTERFACE);
  args.write_u32(VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
  auto reply = call(344, args);
  EXPECT_EQ(reply.error.code, VIR_ERR_OPERATION_UNSUPPORTED);
  EXPECT_NE(reply.error.message->find("0x10"), std::string::npos);
}

TEST_F(DomainCalls, CreateXmlStartsATransientDomain) {
  rpc::XdrWriter args;
  args.write_string("<domain/>");
  args.write_u32(0);
  auto reply = call(10, args);
  ASSERT_TRUE(reply.ok);
  rpc::XdrReader reader(reply.body);
  auto domain = read_domain(reader);
  EXPECT_EQ(domain->name, "transient");
  EXPECT_EQ(domain->id, 50);
  EXPECT_FALSE(manager_.domains_.at("transient").summary.persistent);
}

TEST_F(DomainCalls, ReadOnlySocketRefusesChangesAndServesQueries) {
  connection_.socket = protocol::SocketKind::kReadOnly;
  for (int32_t number : {9, 12, 34, 35}) {
    auto reply = call(number, dom_args(ref("beta")));
    EXPECT_EQ(reply.error.code, VIR_ERR_OPERATION_DENIED) << number;
  }
  EXPECT_EQ(manager_.domains_.at("beta").summary.state, VIR_DOMAIN_RUNNING);
  rpc::XdrWriter xml = dom_args(ref("beta"));
  xml.write_u32(0);
  EXPECT_TRUE(call(14, xml).ok);
  rpc::XdrWriter list;
  list.write_i32(1);
  list.write_u32(0);
  EXPECT_TRUE(call(273, list).ok);
}

TEST(DomainTable, MutatingRowsAreReadWriteOnlyAndLookupsHigh) {
  for (int32_t number :
       {9, 10, 11, 12, 27, 28, 29, 33, 34, 35, 196, 231, 234, 245, 258, 264, 350}) {
    const protocol::Procedure* p = protocol::find_remote_procedure(number);
    ASSERT_NE(p, nullptr) << number;
    EXPECT_EQ(p->access, protocol::Access::kReadWriteOnly) << p->name;
    EXPECT_NE(p->family, protocol::ErrorFamily::kGeneric) << p->name;
  }
  for (int32_t number : {14, 16, 22, 23, 24, 64, 150, 151, 212, 243, 273, 344}) {
    const protocol::Procedure* p = protocol::find_remote_procedure(number);
    ASSERT_NE(p, nullptr) << number;
    EXPECT_EQ(p->access, protocol::Access::kReadOnlyAllowed) << p->name;
  }
  for (int32_t number : {22, 23, 24, 150, 151, 212, 273}) {
    EXPECT_EQ(protocol::find_remote_procedure(number)->priority, protocol::Priority::kHigh);
  }
  for (int32_t number : {9, 12, 34, 28, 245}) {
    EXPECT_EQ(protocol::find_remote_procedure(number)->priority, protocol::Priority::kNormal);
  }
  EXPECT_EQ(protocol::find_remote_procedure(33)->family, protocol::ErrorFamily::kDomainOperation);
  EXPECT_EQ(protocol::find_remote_procedure(11)->args, "remote_domain_define_xml_args");
  EXPECT_EQ(protocol::find_remote_procedure(344)->reply, "remote_connect_get_all_domain_stats_ret");
}

TEST(DomainErrors, FamiliesMapKinds) {
  using protocol::ErrorFamily;
  EXPECT_EQ(to_remote_error(Error(ErrorKind::kCorrupt, "x"), ErrorFamily::kGeneric).code,
            VIR_ERR_RPC);
  auto xml_error = to_remote_error(Error(ErrorKind::kCorrupt, "x"), ErrorFamily::kDomain);
  EXPECT_EQ(xml_error.code, VIR_ERR_XML_ERROR);
  EXPECT_EQ(xml_error.message, "XML error: x");
  EXPECT_EQ(to_remote_error(Error(ErrorKind::kUnsupported, "unsupported configuration: y"),
                            ErrorFamily::kDomain)
                .message,
            "unsupported configuration: y");
  EXPECT_EQ(
      to_remote_error(Error(ErrorKind::kUnsupported, "z"), ErrorFamily::kDomainOperation).code,
      VIR_ERR_OPERATION_UNSUPPORTED);
  auto not_found = to_remote_error(Error(ErrorKind::kNotFound, "no domain with matching id 3"),
                                   ErrorFamily::kDomain);
  EXPECT_EQ(not_found.code, VIR_ERR_NO_DOMAIN);
  EXPECT_EQ(not_found.message, "Domain not found: no domain with matching id 3");
  EXPECT_EQ(to_remote_error(Error(ErrorKind::kIo, "disk"), ErrorFamily::kDomain).code,
            VIR_ERR_SYSTEM_ERROR);
}

}  // namespace
}  // namespace amber::driver::dispatch
