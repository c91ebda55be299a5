// SPDX-License-Identifier: GPL-2.0-or-later
// VncServer: the VNC (RFB) server of --vnc, on libvncserver. It shows the
// standard VGA's display and feeds the clients' keys and pointer to the
// machine's input devices.
//
//  - Listens where --vnc says (vnc_socket.h makes the socket, so a bind
//    failure is a start error naming the address and port).
//  - Frames: one thread, about 30 times a second while a client is
//    connected (nothing at all while none is): reads the VGA's mode
//    (resizing the clients, DesktopSize, when it changes), then which
//    vram pages the guest wrote (KVM's dirty log of the vram slot), draws
//    only the scan lines those pages cover, compares them with the frame
//    the clients have (vnc_frame.h) and marks only the rectangles that
//    changed. Text mode, palette/register changes and legacy-window writes
//    (StdVga::change_count) redraw the whole screen, still sending only
//    what differs.
//  - Input: KeyEvents through vnc_keymap.h to the PS/2 keyboard; pointer
//    events through vnc_pointer.h to the absolute pointer when the machine
//    has one, else the PS/2 mouse. Keys a client still holds are released
//    when it goes.
//  - password=on: VNC authentication (DES challenge); until
//    set_password() gives a non-empty password nobody gets in.
// libvncserver parses everything a client sends, in this server's thread
// only (no libvncserver threads), so the frame buffer is never swapped
// under a sender.
//
// Thread-safety: start() and the destructor from the main thread;
// set_password() and query() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "hv/devices/vga.h"
#include "hv/display/vnc_frame.h"
#include "vmmctl/commands.h"
#include "vmmctl/launch.h"

struct _rfbScreenInfo;
struct _rfbClientRec;

namespace amber::hv::devices {
class I8042;
}

namespace amber::hv::display {

// Frames larger than this are not served (the client keeps the last
// picture): 1920x1200 and 2560x1600 fit; a hostile DISPI mode (16000 x
// 12000 at 8 bpp fits a 256 MiB vram) cannot make the server allocate
// gigabytes.
inline constexpr uint64_t kMaxFramePixels = 4096ULL * 2160;
// Frames a second while a client is connected.
inline constexpr unsigned kFramesPerSecond = 30;

struct VncDevices {
  devices::StdVga* vga = nullptr;  // required
  // Fills `bitmap` with the vram pages written since the last call (one
  // bit a 4 KiB page); false when the log could not be read (everything
  // is then compared).
  std::function<bool(std::span<uint64_t> bitmap)> vram_dirty_log;
  devices::I8042* ps2 = nullptr;  // required
  // The machine's absolute pointer (x, y, width, height, buttons as
  // vnc_pointer.h); empty: PS/2 relative motion.
  std::function<void(unsigned, unsigned, unsigned, unsigned, unsigned)> pointer_absolute;
};

class VncServer {
 public:
  static Result<std::unique_ptr<VncServer>> start(const vmmctl::VncSettings& settings,
                                                  const std::string& name, VncDevices devices);
  ~VncServer();
  VncServer(const VncServer&) = delete;
  VncServer& operator=(const VncServer&) = delete;

  // change-vnc-password: the first 8 characters count; "" refuses everyone.
  void set_password(const std::string& password);
  vmmctl::VncInfo query();

 private:
  struct Client;
  VncServer(const vmmctl::VncSettings& settings, std::string name, VncDevices devices);

  void run();
  // One frame: follow the mode, find and send what changed.
  void refresh();
  // Makes the frame width x height (a new buffer, clients resized); false
  // if it is larger than kMaxFramePixels.
  bool resize(unsigned width, unsigned height);
  void mark(const std::vector<Rect>& rects);

  // libvncserver's callbacks (vnc_server.cpp), in the server thread.
  friend struct VncCallbacks;

  const vmmctl::VncSettings settings_;
  const std::string name_;
  VncDevices devices_;
  _rfbScreenInfo* screen_ = nullptr;
  vmmctl::VncInfo listen_info_;  // enabled, host, service, family, auth

  // The server thread's own state.
  std::vector<uint8_t> frame_;
  unsigned width_ = 0, height_ = 0;
  std::vector<uint8_t> scratch_;
  std::vector<uint64_t> dirty_;
  devices::DisplayLayout last_layout_;
  uint64_t last_changes_ = 0;
  bool force_full_ = true;
  bool too_large_noted_ = false;

  std::mutex mutex_;  // guards password_ and clients_
  std::string password_;
  std::map<const _rfbClientRec*, vmmctl::VncClientInfo> clients_;

  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace amber::hv::display
