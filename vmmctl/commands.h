// SPDX-License-Identifier: GPL-2.0-or-later
// The control commands: one table (kCommands) of every command amber-vmm
// answers, and for each a type that ties its name to its request and
// reply structs, so the server (hv/control/commands.cpp) and the client
// (vmmctl/client.h) cannot disagree on a name or a member.
//
// To add a command: a CommandId, a row in kCommands (same order), a
// Command<> alias, the request/reply structs with encode/decode in
// commands.cpp, and the server's case (the compiler lists a missing one).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "vmmctl/json.h"
#include "vmmctl/launch.h"
#include "vmmctl/protocol.h"

namespace amber::vmmctl {

enum class CommandId {
  kQueryVersion,
  kQueryStatus,
  kQueryChardev,
  kQueryBlock,
  kPause,
  kResume,
  kSystemReset,
  kSystemPowerdown,
  kQuit,
  kEject,
  kBlockdevChangeMedium,
  kScreendump,
  kSendKey,
  kMouseMove,
  kQueryNics,
  kQueryVnc,
  kChangeVncPassword,
  kInputSendEvent,
};

struct CommandSpec {
  CommandId id;
  std::string_view name;
  std::string_view summary;  // one line, for doc/amber-vmm.md and errors
};

inline constexpr std::array<CommandSpec, 18> kCommands = {{
    {CommandId::kQueryVersion, "query-version", "program version and protocol version"},
    {CommandId::kQueryStatus, "query-status", "run state, VM name and process id"},
    {CommandId::kQueryChardev, "query-chardev", "the serial port's backend (the pty path)"},
    {CommandId::kQueryBlock, "query-block", "every disk with its I/O counters"},
    {CommandId::kPause, "pause", "stop the vCPUs (devices finish requests in flight)"},
    {CommandId::kResume, "resume", "run the vCPUs again"},
    {CommandId::kSystemReset, "system_reset", "reset the machine (RESET event)"},
    {CommandId::kSystemPowerdown, "system_powerdown",
     "press the ACPI power button (the guest decides)"},
    {CommandId::kQuit, "quit", "end the VM (SHUTDOWN host-quit) and the process (status 0)"},
    {CommandId::kEject, "eject", "open a CD-ROM's tray and remove its medium"},
    {CommandId::kBlockdevChangeMedium, "blockdev-change-medium",
     "put another image (read-only) into a CD-ROM"},
    {CommandId::kScreendump, "screendump", "write the display (--vga) to a PPM file"},
    {CommandId::kSendKey, "send-key",
     "press PS/2 keys (Linux keycodes) in order, hold, release in reverse"},
    {CommandId::kMouseMove, "mouse-move", "a PS/2 mouse motion/button event"},
    {CommandId::kQueryNics, "query-nics", "every network card with its traffic counters"},
    {CommandId::kQueryVnc, "query-vnc", "the VNC server (--vnc): address, auth, clients"},
    {CommandId::kChangeVncPassword, "change-vnc-password",
     "set the VNC password (--vnc password=on; empty: nobody gets in)"},
    {CommandId::kInputSendEvent, "input-send-event",
     "QMP's input events (abs, rel, btn, key) to the USB tablet, mouse, keyboard or PS/2"},
}};

// nullptr for an unknown name.
const CommandSpec* find_command(std::string_view name);
std::string_view command_name(CommandId id);

// --- request and reply structs ---

struct NoArguments {
  bool operator==(const NoArguments&) const = default;
};
struct EmptyReply {
  bool operator==(const EmptyReply&) const = default;
};

struct VersionInfo {
  std::string program = "amber-vmm";
  std::string version;
  ProtocolVersion protocol = kProtocolVersion;
  bool operator==(const VersionInfo&) const = default;
};

// kIoError: stopped because a disk with a stop policy (werror=/rerror=
// stop, or werror=enospc and ENOSPC) failed a request; "resume" retries the
// held requests. On the wire "io-error"; "running" is false.
enum class RunState { kRunning, kPaused, kShutdown, kIoError };
std::string_view to_string(RunState state);
Result<RunState> parse_run_state(std::string_view name);

struct StatusInfo {
  RunState status = RunState::kPaused;  // "running" is status == kRunning
  std::string name;
  int64_t pid = 0;
  bool operator==(const StatusInfo&) const = default;
};

struct ChardevInfo {
  std::string label;  // "serial0" (COM1)
  SerialKind backend = SerialKind::kNone;
  std::string path;  // pty: /dev/pts/N; file/unix: the path; else empty
  bool operator==(const ChardevInfo&) const = default;
};

// Counters of one kind of request; on the wire with QEMU's names
// (rd_operations, rd_bytes, rd_total_time_ns, failed_rd_operations, ...).
struct BlockOpCounters {
  uint64_t operations = 0;
  uint64_t bytes = 0;
  uint64_t total_time_ns = 0;
  uint64_t failed = 0;
  bool operator==(const BlockOpCounters&) const = default;
};

// Host I/O errors (the image or the host file failed, not a malformed
// guest request) of one operation, by errno class.
struct BlockErrorCounters {
  uint64_t eio = 0;
  uint64_t enospc = 0;
  uint64_t other = 0;
  bool operator==(const BlockErrorCounters&) const = default;
};

// On the wire "io_errors": {"read":{"eio":N,"enospc":N,"other":N}, "write",
// "flush", "discard", "write-zeroes"}; a reply without it decodes as zeros.
struct BlockIoErrors {
  BlockErrorCounters read, write, flush, discard, write_zeroes;
  bool operator==(const BlockIoErrors&) const = default;
};

struct BlockInfo {
  std::string device;  // "disk0", ...; IDE drives "ide0-BUS-UNIT" (libvirt's alias)
  std::string path;    // empty: a CD-ROM without a medium
  unsigned slot = 0;   // PCI slot on bus 0
  // IDE CD-ROMs: "removable", "tray_open", "locked" on the wire (absent:
  // false, as for every virtio disk).
  bool removable = false;
  bool tray_open = false;
  bool locked = false;
  // "discard" counts DISCARD and WRITE_ZEROES requests together.
  BlockOpCounters read, write, flush, discard;
  BlockIoErrors io_errors;
  bool operator==(const BlockInfo&) const = default;
};

// eject: {"id": "ide0-1-0", "force": false} (QEMU's qdev id form).
struct EjectRequest {
  std::string id;
  bool force = false;
  bool operator==(const EjectRequest&) const = default;
};

// blockdev-change-medium: {"id", "filename", "format" (raw | qcow2;
// absent: probe), "read-only-mode" (retain | read-only; a CD-ROM's medium
// is always read-only)}.
struct ChangeMediumRequest {
  std::string id;
  std::string filename;
  std::string format;          // empty: probe
  std::string read_only_mode;  // empty: retain
  bool operator==(const ChangeMediumRequest&) const = default;
};

// screendump's arguments, as QMP's: {"filename": PATH, "format": "ppm"}
// ("format" optional; only ppm; "device"/"head" are not taken).
struct ScreendumpArguments {
  std::string filename;
  bool operator==(const ScreendumpArguments&) const = default;
};

// send-key, as QMP's: {"keys":[30,48],"hold-time":100}. Keys are Linux
// input keycodes (KEY_*); the call returns at once and the keys go to the
// guest in the background: each press is followed by hold-time ms, the
// releases (last key first) by 10 ms each, as QEMU.
inline constexpr size_t kMaxSendKeys = 16;  // libvirt's VIR_DOMAIN_SEND_KEY_MAX_KEYS
inline constexpr unsigned kDefaultHoldTimeMs = 100;
inline constexpr unsigned kMaxHoldTimeMs = 10000;
struct SendKeyArguments {
  std::vector<unsigned> keys;
  unsigned hold_time_ms = kDefaultHoldTimeMs;
  bool operator==(const SendKeyArguments&) const = default;
};

// mouse-move: {"dx":5,"dy":-3,"dz":0,"buttons":1}: relative motion (x
// right, y down, z wheel) and the buttons held (1 left, 2 right, 4 middle).
struct MouseMoveArguments {
  int32_t dx = 0, dy = 0, dz = 0;
  unsigned buttons = 0;
  bool operator==(const MouseMoveArguments&) const = default;
};

// One row of query-nics (libvirt's domifstat): the card's id ("net0"),
// model ("e1000"), MAC ("52:54:00:12:34:56") and counters; rx is what
// reached the guest, tx what the guest sent to the host.
// A user-mode network's DHCP lease, as the card's "leases" member:
// {"ip-address":"10.0.2.15","prefix":24,"mac-address":"52:54:..",
// "expires-in":86399} (seconds; absent for an infinite lease). Cards on a
// tap have none (the host's DHCP server keeps those).
struct NicLease {
  std::string ip_address;
  unsigned prefix = 0;  // 0: the server gave no mask
  std::string mac_address;
  std::optional<uint64_t> expires_in;
  bool operator==(const NicLease&) const = default;
};
struct NicInfo {
  std::string id;
  std::string model;
  std::string mac;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_drops = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_drops = 0;
  std::vector<NicLease> leases;
  bool operator==(const NicInfo&) const = default;
};

// query-vnc, as QMP's: {"enabled":true,"host":"127.0.0.1","service":"5900",
// "family":"ipv4","auth":"vnc"|"none","clients":[{"host","service",
// "family"}]}; without --vnc just {"enabled":false}.
struct VncClientInfo {
  std::string host;
  std::string service;
  std::string family;  // "ipv4", "ipv6"
  bool operator==(const VncClientInfo&) const = default;
};
struct VncInfo {
  bool enabled = false;
  std::string host;     // the listening address, numeric
  std::string service;  // the port, as text
  std::string family;   // "ipv4", "ipv6"
  std::string auth;     // "vnc" (password=on) or "none"
  std::vector<VncClientInfo> clients;
  bool operator==(const VncInfo&) const = default;
};

// change-vnc-password, as QMP's: {"password":"..."}. VNC authentication
// uses the first 8 characters (its DES key); "" locks everybody out.
inline constexpr size_t kMaxVncPassword = 8;
struct VncPasswordArguments {
  std::string password;
  bool operator==(const VncPasswordArguments&) const = default;
};

// input-send-event, as QMP's: {"events":[{"type":"abs","data":{"axis":"x",
// "value":N}}, {"type":"rel","data":{"axis":"y","value":N}},
// {"type":"btn","data":{"down":true,"button":"left"}}, {"type":"key",
// "data":{"down":true,"key":{"type":"number","data":30}}}]} ("device" and
// "head" are accepted and ignored). Absolute values are 0..0x7FFF as
// QEMU's; buttons left, middle, right, wheel-up, wheel-down; key numbers
// are QEMU's "qnum" (scan code set 1, 0x80 | code for E0-prefixed keys).
// QKeyCode names ("qcode") are not supported.
enum class InputEventType { kKey, kButton, kRelative, kAbsolute };
enum class InputAxis { kX, kY };
enum class InputButton { kLeft, kMiddle, kRight, kWheelUp, kWheelDown };
// Events in one command (QEMU has no limit; a VNC client sends a few).
inline constexpr size_t kMaxInputEvents = 64;
inline constexpr int64_t kInputAbsoluteMax = 0x7FFF;

struct InputEvent {
  InputEventType type = InputEventType::kAbsolute;
  InputAxis axis = InputAxis::kX;           // rel, abs
  int64_t value = 0;                        // rel, abs
  InputButton button = InputButton::kLeft;  // btn
  unsigned key_number = 0;                  // key (qnum)
  bool down = false;                        // btn, key
  bool operator==(const InputEvent&) const = default;
};

struct InputSendEventArguments {
  std::vector<InputEvent> events;
  bool operator==(const InputSendEventArguments&) const = default;
};

// --- the commands as types ---

template <CommandId Id, typename RequestType, typename ReplyType>
struct Command {
  static constexpr CommandId kId = Id;
  using Request = RequestType;
  using Reply = ReplyType;
};

using QueryVersion = Command<CommandId::kQueryVersion, NoArguments, VersionInfo>;
using QueryStatus = Command<CommandId::kQueryStatus, NoArguments, StatusInfo>;
using QueryChardev = Command<CommandId::kQueryChardev, NoArguments, std::vector<ChardevInfo>>;
using QueryBlock = Command<CommandId::kQueryBlock, NoArguments, std::vector<BlockInfo>>;
using Pause = Command<CommandId::kPause, NoArguments, EmptyReply>;
using Resume = Command<CommandId::kResume, NoArguments, EmptyReply>;
using SystemReset = Command<CommandId::kSystemReset, NoArguments, EmptyReply>;
using SystemPowerdown = Command<CommandId::kSystemPowerdown, NoArguments, EmptyReply>;
using Quit = Command<CommandId::kQuit, NoArguments, EmptyReply>;
using Eject = Command<CommandId::kEject, EjectRequest, EmptyReply>;
using BlockdevChangeMedium =
    Command<CommandId::kBlockdevChangeMedium, ChangeMediumRequest, EmptyReply>;
using Screendump = Command<CommandId::kScreendump, ScreendumpArguments, EmptyReply>;
using SendKey = Command<CommandId::kSendKey, SendKeyArguments, EmptyReply>;
using MouseMove = Command<CommandId::kMouseMove, MouseMoveArguments, EmptyReply>;
using QueryNics = Command<CommandId::kQueryNics, NoArguments, std::vector<NicInfo>>;
using QueryVnc = Command<CommandId::kQueryVnc, NoArguments, VncInfo>;
using ChangeVncPassword = Command<CommandId::kChangeVncPassword, VncPasswordArguments, EmptyReply>;
using InputSendEvent = Command<CommandId::kInputSendEvent, InputSendEventArguments, EmptyReply>;

// --- JSON of the structs (decode errors are kCorrupt, or kInvalidArgument
// for a request's arguments) ---

Json encode(const NoArguments& arguments);
Result<void> decode(const Json& json, NoArguments& arguments);
Json encode(const EmptyReply& reply);
Result<void> decode(const Json& json, EmptyReply& reply);
Json encode(const VersionInfo& info);
Result<void> decode(const Json& json, VersionInfo& info);
Json encode(const StatusInfo& info);
Result<void> decode(const Json& json, StatusInfo& info);
Json encode(const ChardevInfo& info);
Result<void> decode(const Json& json, ChardevInfo& info);
Json encode(const ScreendumpArguments& arguments);
Result<void> decode(const Json& json, ScreendumpArguments& arguments);
Json encode(const BlockInfo& info);
Result<void> decode(const Json& json, BlockInfo& info);
Json encode(const EjectRequest& request);
Result<void> decode(const Json& json, EjectRequest& request);
Json encode(const ChangeMediumRequest& request);
Result<void> decode(const Json& json, ChangeMediumRequest& request);
Json encode(const SendKeyArguments& arguments);
Result<void> decode(const Json& json, SendKeyArguments& arguments);
Json encode(const MouseMoveArguments& arguments);
Result<void> decode(const Json& json, MouseMoveArguments& arguments);
Json encode(const NicLease& lease);
Result<void> decode(const Json& json, NicLease& lease);
Json encode(const NicInfo& info);
Result<void> decode(const Json& json, NicInfo& info);
Json encode(const VncClientInfo& info);
Result<void> decode(const Json& json, VncClientInfo& info);
Json encode(const VncInfo& info);
Result<void> decode(const Json& json, VncInfo& info);
Json encode(const VncPasswordArguments& arguments);
Result<void> decode(const Json& json, VncPasswordArguments& arguments);
Json encode(const InputSendEventArguments& arguments);
Result<void> decode(const Json& json, InputSendEventArguments& arguments);

template <typename T>
Json encode(const std::vector<T>& items) {
  Json array = Json::array();
  for (const T& item : items) array.push_back(encode(item));
  return array;
}

template <typename T>
Result<void> decode(const Json& json, std::vector<T>& items) {
  if (!json.is_array()) return Error(ErrorKind::kCorrupt, "expected a JSON array");
  items.clear();
  for (const Json& element : json) {
    T item;
    AMBER_TRY(decode(element, item));
    items.push_back(std::move(item));
  }
  return ok();
}

}  // namespace amber::vmmctl
