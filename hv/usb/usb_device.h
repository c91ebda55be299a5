// SPDX-License-Identifier: GPL-2.0-or-later
// UsbDevice: what a USB host controller (hv/usb/uhci.h) needs from a
// device on one of its root ports, and ControlPipe, the default control
// endpoint (endpoint 0) state machine with the standard requests that
// every device answers the same way (QEMU's hw/usb/core.c and desc.c
// semantics): SETUP -> DATA -> STATUS stages over an 8-byte setup packet,
// GET_DESCRIPTOR (device, configuration, string), SET_ADDRESS (run, as
// every host-to-device request, in the status stage), GET/SET_CONFIGURATION, GET_STATUS,
// SET/CLEAR_FEATURE (remote wakeup), GET/SET_INTERFACE. Class requests
// and the other endpoints are the device's (handle_class_request,
// handle_data).
//
// Packets carry what the host controller read from (OUT, SETUP) or will
// write to (IN) guest memory; nothing here touches guest memory, so a
// hostile guest can only send odd packets, which end in STALL.
//
// Thread-safety: a device is driven by its controller under the
// controller's lock (one packet at a time); input events from other
// threads go through the device's own lock (hid_device.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace amber::hv::usb {

// Token PIDs as they appear in a UHCI TD.
enum class UsbPid : uint8_t { kSetup = 0x2D, kIn = 0x69, kOut = 0xE1 };

enum class UsbStatus {
  kOk,        // IN: `length` bytes were produced; OUT/SETUP: data taken
  kNak,       // nothing to send now (interrupt IN); the host retries
  kStall,     // request or token refused
  kBabble,    // the device had more than the packet could take
  kNoDevice,  // nobody answered (the controller's verdict, not a device's)
};

struct UsbResult {
  UsbStatus status = UsbStatus::kOk;
  size_t length = 0;  // bytes produced (IN) or consumed (OUT/SETUP)
};

// The largest control transfer data stage a device buffers (QEMU's
// USBDevice data_buf): a longer wLength is refused with STALL.
inline constexpr size_t kMaxControlData = 4096;

// Standard requests (USB 2.0 ch. 9) and descriptor types.
inline constexpr uint8_t kRequestGetStatus = 0x00;
inline constexpr uint8_t kRequestClearFeature = 0x01;
inline constexpr uint8_t kRequestSetFeature = 0x03;
inline constexpr uint8_t kRequestSetAddress = 0x05;
inline constexpr uint8_t kRequestGetDescriptor = 0x06;
inline constexpr uint8_t kRequestGetConfiguration = 0x08;
inline constexpr uint8_t kRequestSetConfiguration = 0x09;
inline constexpr uint8_t kRequestGetInterface = 0x0A;
inline constexpr uint8_t kRequestSetInterface = 0x0B;
inline constexpr uint8_t kDescriptorDevice = 0x01;
inline constexpr uint8_t kDescriptorConfiguration = 0x02;
inline constexpr uint8_t kDescriptorString = 0x03;
inline constexpr uint8_t kDescriptorDeviceQualifier = 0x06;
inline constexpr uint8_t kDescriptorOtherSpeedConfiguration = 0x07;

// The speed a device runs at on its port: full on a UHCI root port, high
// on an EHCI one when the device has high-speed descriptors (QEMU's
// usb_desc_attach picks the fastest speed both sides support).
enum class UsbSpeed { kFull, kHigh };

struct SetupPacket {
  uint8_t request_type = 0;  // bit 7: device to host; bits 5-6: type; 0-4: recipient
  uint8_t request = 0;
  uint16_t value = 0;
  uint16_t index = 0;
  uint16_t length = 0;
  bool device_to_host() const { return (request_type & 0x80) != 0; }
};

// The identity and descriptors of a device (built by hid_descriptors.cpp).
// high_device/high_configuration: the high-speed ones (empty: a full-speed
// only device); with both speeds the device also answers DEVICE_QUALIFIER
// and OTHER_SPEED_CONFIGURATION with the other speed's, as QEMU's desc.c.
struct UsbDescriptors {
  std::vector<uint8_t> device;         // 18 bytes
  std::vector<uint8_t> configuration;  // the whole configuration, wTotalLength bytes
  std::vector<uint8_t> high_device;
  std::vector<uint8_t> high_configuration;
  std::vector<std::string> strings;  // index 1.. (strings[0] is index 1)
  uint8_t configuration_value = 1;
  bool self_powered = false;
  // Microsoft OS descriptors (hv/usb/msos.h): string 0xEE and vendor
  // request 'Q', as QEMU's HID devices have them.
  bool msos = false;
};

class UsbDevice {
 public:
  virtual ~UsbDevice() = default;
  // One token addressed to this device's `endpoint`. For IN, `data` is the
  // room the TD offers (max length); the result says how much was filled.
  virtual UsbResult handle_packet(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) = 0;
  // USB bus reset (port reset, global reset): address 0, unconfigured.
  virtual void reset() = 0;
  // The address the device answers to (0 after reset).
  virtual uint8_t address() const = 0;
  // Whether the device can run at high speed, and the speed its port set
  // (the controller calls set_speed when the device appears on a port,
  // under its lock, before any packet).
  virtual bool supports_high_speed() const { return false; }
  virtual void set_speed(UsbSpeed) {}

  // Remote wakeup: the controller's port handler (set before the device
  // is used), which a device with new input calls when the host enabled
  // remote wakeup. The device calls it from its input thread and never
  // under its own lock (the controller's lock comes first).
  void set_wakeup(std::function<void()> wakeup) { wakeup_ = std::move(wakeup); }

 protected:
  void request_wakeup() const {
    if (wakeup_) wakeup_();
  }

 private:
  std::function<void()> wakeup_;
};

// Endpoint 0 and the standard requests; derive and implement the class
// part. Not thread-safe by itself (the controller serializes packets).
class ControlPipeDevice : public UsbDevice {
 public:
  explicit ControlPipeDevice(UsbDescriptors descriptors);

  UsbResult handle_packet(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) final;
  void reset() override;
  uint8_t address() const final { return address_; }
  bool supports_high_speed() const final { return !descriptors_.high_device.empty(); }
  void set_speed(UsbSpeed speed) final;
  UsbSpeed speed() const { return speed_; }
  bool configured() const { return configuration_ != 0; }
  // SET_FEATURE(DEVICE_REMOTE_WAKEUP) seen (any thread may ask).
  bool remote_wakeup() const { return remote_wakeup_; }
  const UsbDescriptors& descriptors() const { return descriptors_; }

 protected:
  // A request that is not a standard one (class or interface requests, or
  // an interface GET_DESCRIPTOR). Device-to-host: fill `data` (its size is
  // wLength) and return the length; host-to-device: `data` holds the data
  // stage. A negative value is STALL.
  virtual int handle_class_request(const SetupPacket& setup, std::span<uint8_t> data) = 0;
  // Tokens to endpoints other than 0.
  virtual UsbResult handle_data(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) = 0;

 private:
  enum class Stage { kIdle, kData, kStatus };

  UsbResult setup_token(std::span<uint8_t> data);
  UsbResult in_token(std::span<uint8_t> data);
  UsbResult out_token(std::span<uint8_t> data);
  // Runs the request over buffer_[0, setup_.length); returns the data
  // length (device-to-host) or 0, or -1 for STALL.
  int run_request();
  int standard_request(bool& handled);
  int get_descriptor();

  UsbDescriptors descriptors_;
  UsbSpeed speed_ = UsbSpeed::kFull;
  uint8_t address_ = 0;
  uint8_t configuration_ = 0;
  std::atomic<bool> remote_wakeup_{false};
  Stage stage_ = Stage::kIdle;
  SetupPacket setup_;
  size_t data_length_ = 0;  // bytes of the data stage (<= setup_.length)
  size_t data_done_ = 0;    // bytes moved so far
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxControlData);
};

}  // namespace amber::hv::usb
