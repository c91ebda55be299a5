// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/display/vnc_server.h"

#include <rfb/rfb.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <set>

#include "hv/devices/i8042.h"
#include "hv/display/vnc_keymap.h"
#include "hv/display/vnc_pointer.h"
#include "hv/display/vnc_socket.h"

namespace amber::hv::display {
namespace {

// The size of a page in KVM's dirty log.
constexpr uint64_t kDirtyPageSize = 4096;
// How long the thread waits for a connection while no client is there;
// also the longest a stop waits for the thread.
constexpr long kIdleWaitUs = 200'000;
// libvncserver blocks its thread this long on a client that stops halfway
// through a message (its default is 20 s): a stalled client delays the
// others' frames and input by at most this.
constexpr int kClientWaitMs = 5000;
// The picture before the guest set any mode.
constexpr unsigned kInitialWidth = 640, kInitialHeight = 480;

// libvncserver's log: its chatter (connections, encodings) is dropped,
// its errors go to stderr (the VM's log) under our name.
void quiet_log(const char*, ...) {}
void error_log(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  const size_t length = std::strlen(line);
  std::fprintf(stderr, "amber-vmm: vnc: %s%s", line,
               length > 0 && line[length - 1] == '\n' ? "" : "\n");
}

// A black, opaque frame of `pixels` pixels.
std::vector<uint8_t> black_frame(size_t pixels) {
  std::vector<uint8_t> frame(pixels * kFrameBytesPerPixel, 0);
  for (size_t i = 0; i < pixels; ++i) frame[i * kFrameBytesPerPixel + 3] = kFrameOpaque;
  return frame;
}

// The frame's pixel format, as QEMU's VNC server has it: 32 bpp, depth 24,
// little-endian 0x00RRGGBB (red shift 16, blue 0). libvncserver's own
// default (depth 32, red shift 0) makes gtk-vnc read the padding byte as
// alpha and draw parts of the screen transparent. Set again after every
// rfbNewFramebuffer (which restores the default), and the clients' pixel
// translation chosen again for it.
void set_format(rfbScreenInfoPtr screen) {
  screen->depth = 24;
  screen->serverFormat.depth = 24;
  screen->serverFormat.redShift = 16;
  screen->serverFormat.greenShift = 8;
  screen->serverFormat.blueShift = 0;
  rfbClientIteratorPtr clients = rfbGetClientIterator(screen);
  while (rfbClientPtr client = rfbClientIteratorNext(clients)) screen->setTranslateFunction(client);
  rfbReleaseClientIterator(clients);
}

}  // namespace

// One connected client: its pointer's state and the keys it holds.
struct VncServer::Client {
  explicit Client(PointerSinks sinks) : pointer(std::move(sinks)) {}
  VncPointer pointer;
  std::set<unsigned> keys_down;
};

struct VncCallbacks {
  static VncServer& server(rfbClientPtr client) {
    return *static_cast<VncServer*>(client->screen->screenData);
  }

  static void key(rfbBool down, rfbKeySym keysym, rfbClientPtr client) {
    auto* state = static_cast<VncServer::Client*>(client->clientData);
    const unsigned keycode = keysym_to_keycode(keysym);
    if (keycode == 0 || state == nullptr) return;
    if (down)
      state->keys_down.insert(keycode);
    else if (state->keys_down.erase(keycode) == 0)
      return;  // a release of a key this client never pressed
    server(client).devices_.ps2->key_event(keycode, down != 0);
  }

  static void pointer(int mask, int x, int y, rfbClientPtr client) {
    auto* state = static_cast<VncServer::Client*>(client->clientData);
    if (state == nullptr) return;
    const VncServer& s = server(client);
    state->pointer.event(static_cast<unsigned>(mask) & 0xFF, x, y, s.width_, s.height_);
  }

  static enum rfbNewClientAction new_client(rfbClientPtr client) {
    VncServer& s = server(client);
    devices::I8042* ps2 = s.devices_.ps2;
    PointerSinks sinks;
    sinks.relative = [ps2](int dx, int dy, int dz, unsigned buttons) {
      ps2->mouse_event(dx, dy, dz, buttons);
    };
    sinks.absolute = s.devices_.pointer_absolute;
    client->clientData = new VncServer::Client(std::move(sinks));
    client->clientGoneHook = gone;
    const SocketAddress peer = peer_address(client->sock);
    {
      std::lock_guard lock(s.mutex_);
      s.clients_[client] = vmmctl::VncClientInfo{peer.host, peer.service, peer.family};
    }
    s.force_full_ = true;
    return RFB_CLIENT_ACCEPT;
  }

  static void gone(rfbClientPtr client) {
    VncServer& s = server(client);
    auto* state = static_cast<VncServer::Client*>(client->clientData);
    if (state != nullptr) {
      for (const unsigned keycode : state->keys_down) s.devices_.ps2->key_event(keycode, false);
      delete state;
      client->clientData = nullptr;
    }
    std::lock_guard lock(s.mutex_);
    s.clients_.erase(client);
  }

  // VNC authentication: the client's answer must be the challenge
  // DES-encrypted with the password (libvncserver's rfbEncryptBytes takes
  // its first 8 characters as the key).
  static rfbBool password(rfbClientPtr client, const char* response, int length) {
    VncServer& s = server(client);
    char key[vmmctl::kMaxVncPassword + 1] = {};
    {
      std::lock_guard lock(s.mutex_);
      if (s.password_.empty()) return FALSE;
      s.password_.copy(key, vmmctl::kMaxVncPassword);
    }
    if (length != CHALLENGESIZE) return FALSE;
    unsigned char expected[CHALLENGESIZE];
    std::memcpy(expected, client->authChallenge, CHALLENGESIZE);
    rfbEncryptBytes(expected, key);
    unsigned char difference = 0;
    for (int i = 0; i < CHALLENGESIZE; ++i)
      difference |=
          static_cast<unsigned char>(expected[i] ^ static_cast<unsigned char>(response[i]));
    return difference == 0 ? TRUE : FALSE;
  }
};

VncServer::VncServer(const vmmctl::VncSettings& settings, std::string name, VncDevices devices)
    : settings_(settings), name_(std::move(name)), devices_(std::move(devices)) {}

Result<std::unique_ptr<VncServer>> VncServer::start(const vmmctl::VncSettings& settings,
                                                    const std::string& name, VncDevices devices) {
  if (devices.vga == nullptr || devices.ps2 == nullptr)
    return Error(ErrorKind::kInvalidArgument, "--vnc needs --vga std (the display it shows)");
  AMBER_TRY_ASSIGN(UniqueFd listener,
                   listen_tcp(settings.host, vmmctl::kVncBasePort + settings.display));
  rfbLog = quiet_log;
  rfbErr = error_log;
  rfbMaxClientWait = kClientWaitMs;

  std::unique_ptr<VncServer> server(new VncServer(settings, name, std::move(devices)));
  const SocketAddress local = local_address(listener.get());
  server->listen_info_ = vmmctl::VncInfo{
      true, local.host, local.service, local.family, settings.password ? "vnc" : "none", {}};
  server->frame_ = black_frame(size_t{kInitialWidth} * kInitialHeight);
  server->width_ = kInitialWidth;
  server->height_ = kInitialHeight;
  server->dirty_.assign((server->devices_.vga->vram_size() / kDirtyPageSize + 63) / 64, 0);

  rfbScreenInfoPtr screen =
      rfbGetScreen(nullptr, nullptr, kInitialWidth, kInitialHeight, 8, 3, kFrameBytesPerPixel);
  if (screen == nullptr) return Error(ErrorKind::kInternal, "--vnc: libvncserver has no screen");
  server->screen_ = screen;
  set_format(screen);
  screen->screenData = server.get();
  screen->frameBuffer = reinterpret_cast<char*>(server->frame_.data());
  screen->desktopName = server->name_.c_str();
  screen->cursor = nullptr;  // the guest draws its pointer; nothing is painted into the frame
  screen->deferUpdateTime = 0;
  screen->kbdAddEvent = VncCallbacks::key;
  screen->ptrAddEvent = VncCallbacks::pointer;
  screen->newClientHook = VncCallbacks::new_client;
  if (settings.password) {
    // Any non-null pointer makes libvncserver offer VNC authentication;
    // the check is ours.
    screen->authPasswdData = server.get();
    screen->passwordCheck = VncCallbacks::password;
  }
  // The socket is ours: libvncserver takes it as its listener (and closes
  // it at shutdown) instead of binding one itself.
  const int fd = listener.release();
  screen->listenSock = fd;
  FD_ZERO(&screen->allFds);
  FD_SET(fd, &screen->allFds);
  screen->maxFd = fd;
  screen->socketState = RFB_SOCKET_READY;
  rfbInitServer(screen);

  server->thread_ = std::thread([raw = server.get()] { raw->run(); });
  return server;
}

VncServer::~VncServer() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  if (screen_ != nullptr) {
    rfbShutdownServer(screen_, TRUE);
    rfbScreenCleanup(screen_);
  }
}

void VncServer::set_password(const std::string& password) {
  std::lock_guard lock(mutex_);
  password_ = password;
}

vmmctl::VncInfo VncServer::query() {
  vmmctl::VncInfo info = listen_info_;
  std::lock_guard lock(mutex_);
  for (const auto& [client, address] : clients_) info.clients.push_back(address);
  return info;
}

void VncServer::run() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kFrameInterval = std::chrono::microseconds(1'000'000 / kFramesPerSecond);
  auto next_frame = Clock::now();
  while (!stopping_) {
    if (screen_->clientHead == nullptr) {
      rfbProcessEvents(screen_, kIdleWaitUs);
      next_frame = Clock::now();
      continue;
    }
    const auto now = Clock::now();
    if (now >= next_frame) {
      refresh();
      rfbProcessEvents(screen_, 0);  // send what refresh marked right away
      next_frame = std::max(next_frame + kFrameInterval, now);
      continue;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(next_frame - now);
    rfbProcessEvents(screen_, static_cast<long>(wait.count()));
  }
}

bool VncServer::resize(unsigned width, unsigned height) {
  if (width == width_ && height == height_) return true;
  if (width == 0 || height == 0 || uint64_t{width} * height > kMaxFramePixels) {
    if (!too_large_noted_)
      std::fprintf(stderr, "amber-vmm: vnc: a %ux%u display is not served (at most %llu pixels)\n",
                   width, height, static_cast<unsigned long long>(kMaxFramePixels));
    too_large_noted_ = true;
    return false;
  }
  too_large_noted_ = false;
  std::vector<uint8_t> frame = black_frame(size_t{width} * height);
  // The old buffer stays alive until libvncserver holds the new one.
  rfbNewFramebuffer(screen_, reinterpret_cast<char*>(frame.data()), static_cast<int>(width),
                    static_cast<int>(height), 8, 3, kFrameBytesPerPixel);
  set_format(screen_);
  frame_.swap(frame);
  width_ = width;
  height_ = height;
  force_full_ = true;
  return true;
}

void VncServer::mark(const std::vector<Rect>& rects) {
  for (const Rect& r : rects)
    rfbMarkRectAsModified(screen_, static_cast<int>(r.x), static_cast<int>(r.y),
                          static_cast<int>(r.x + r.width), static_cast<int>(r.y + r.height));
}

void VncServer::refresh() {
  devices::StdVga& vga = *devices_.vga;
  // Order matters: the change count and the dirty log are read before
  // drawing, so whatever the guest does while we draw shows next frame.
  const devices::DisplayLayout layout = vga.display_layout();
  const uint64_t changes = vga.change_count();
  std::fill(dirty_.begin(), dirty_.end(), 0);
  const bool log_known = devices_.vram_dirty_log && devices_.vram_dirty_log(dirty_);
  const bool whole =
      force_full_ || !log_known || changes != last_changes_ || layout != last_layout_;

  if (layout.kind == devices::DisplayKind::kText) {
    const bool any_dirty =
        std::any_of(dirty_.begin(), dirty_.end(), [](uint64_t word) { return word != 0; });
    if (!whole && !any_dirty) return;
    auto screen = vga.snapshot();
    if (!screen.ok() || !resize(screen->width, screen->height)) return;
    const size_t pixels = size_t{screen->width} * screen->height;
    scratch_.resize(pixels * kFrameBytesPerPixel);
    for (size_t i = 0; i < pixels; ++i) {
      uint8_t* out = &scratch_[i * kFrameBytesPerPixel];
      const uint8_t* in = &screen->rgb[i * 3];
      out[0] = in[2];
      out[1] = in[1];
      out[2] = in[0];
      out[3] = kFrameOpaque;
    }
    mark(merge_rows(frame_, width_, height_, {0, height_}, scratch_.data()));
  } else if (layout.kind == devices::DisplayKind::kLinear) {
    if (!resize(layout.width, layout.height)) return;
    std::vector<RowRange> ranges;
    if (whole) {
      ranges.push_back({0, layout.height});
    } else {
      const LinearGeometry geometry{layout.start, layout.line_offset,
                                    uint64_t{layout.width} * ((layout.bpp + 7) / 8), layout.height};
      ranges = dirty_rows(dirty_, kDirtyPageSize, geometry);
    }
    for (const RowRange& range : ranges) {
      scratch_.resize(size_t{range.count} * layout.width * kFrameBytesPerPixel);
      if (!vga.render_rows(layout, range.first, range.count, scratch_.data())) {
        force_full_ = true;  // the mode changed under us: all of it next frame
        return;
      }
      mark(merge_rows(frame_, width_, height_, range, scratch_.data()));
    }
  } else {
    return;  // a mode nothing draws: the clients keep the last picture
  }
  last_changes_ = changes;
  last_layout_ = layout;
  force_full_ = false;
}

}  // namespace amber::hv::display
