// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/usb/usb_device.h"

#include <algorithm>
#include <cstring>

#include "hv/usb/msos.h"

namespace amber::hv::usb {
namespace {
constexpr uint8_t kTypeMask = 0x60;  // bits 5-6 of bmRequestType: 0 = standard
constexpr uint8_t kRecipientMask = 0x1F;
constexpr uint8_t kTypeVendor = 0x40;
constexpr uint8_t kRecipientDevice = 0;
constexpr uint8_t kRecipientInterface = 1;
constexpr uint16_t kFeatureRemoteWakeup = 1;
constexpr uint16_t kLanguageEnglishUs = 0x0409;
constexpr size_t kSetupBytes = 8;
}  // namespace

ControlPipeDevice::ControlPipeDevice(UsbDescriptors descriptors)
    : descriptors_(std::move(descriptors)) {}

void ControlPipeDevice::set_speed(UsbSpeed speed) {
  speed_ = speed == UsbSpeed::kHigh && supports_high_speed() ? UsbSpeed::kHigh : UsbSpeed::kFull;
}

void ControlPipeDevice::reset() {
  address_ = 0;
  configuration_ = 0;
  remote_wakeup_ = false;
  stage_ = Stage::kIdle;
  data_length_ = data_done_ = 0;
}

UsbResult ControlPipeDevice::handle_packet(UsbPid pid, unsigned endpoint, std::span<uint8_t> data) {
  if (endpoint != 0) {
    if (pid == UsbPid::kSetup) return {UsbStatus::kStall, 0};
    return handle_data(pid, endpoint, data);
  }
  switch (pid) {
    case UsbPid::kSetup:
      return setup_token(data);
    case UsbPid::kIn:
      return in_token(data);
    case UsbPid::kOut:
      return out_token(data);
  }
  return {UsbStatus::kStall, 0};
}

UsbResult ControlPipeDevice::setup_token(std::span<uint8_t> data) {
  // A new SETUP always aborts whatever transfer was in progress.
  stage_ = Stage::kIdle;
  if (data.size() != kSetupBytes) return {UsbStatus::kStall, 0};
  setup_.request_type = data[0];
  setup_.request = data[1];
  setup_.value = static_cast<uint16_t>(data[2] | data[3] << 8);
  setup_.index = static_cast<uint16_t>(data[4] | data[5] << 8);
  setup_.length = static_cast<uint16_t>(data[6] | data[7] << 8);
  if (setup_.length > kMaxControlData) return {UsbStatus::kStall, 0};
  data_done_ = 0;
  if (setup_.device_to_host()) {
    std::fill(buffer_.begin(), buffer_.begin() + setup_.length, 0);
    const int length = run_request();
    if (length < 0) return {UsbStatus::kStall, 0};
    data_length_ = std::min<size_t>(static_cast<size_t>(length), setup_.length);
    stage_ = Stage::kData;
  } else {
    data_length_ = setup_.length;
    stage_ = setup_.length == 0 ? Stage::kStatus : Stage::kData;
  }
  return {UsbStatus::kOk, kSetupBytes};
}

UsbResult ControlPipeDevice::in_token(std::span<uint8_t> data) {
  if (stage_ == Stage::kData && setup_.device_to_host()) {
    const size_t count = std::min(data.size(), data_length_ - data_done_);
    std::memcpy(data.data(), buffer_.data() + data_done_, count);
    data_done_ += count;
    if (data_done_ >= data_length_) stage_ = Stage::kStatus;
    return {UsbStatus::kOk, count};
  }
  if (stage_ == Stage::kStatus) {
    // Host-to-device requests run here, in the status stage (so
    // SET_ADDRESS changes the address after its own transfer). An extra
    // IN after a device-to-host data stage is an empty packet, as QEMU's.
    if (setup_.device_to_host()) return {UsbStatus::kOk, 0};
    stage_ = Stage::kIdle;
    if (run_request() < 0) return {UsbStatus::kStall, 0};
    return {UsbStatus::kOk, 0};
  }
  stage_ = Stage::kIdle;
  return {UsbStatus::kStall, 0};
}

UsbResult ControlPipeDevice::out_token(std::span<uint8_t> data) {
  if (stage_ == Stage::kData && !setup_.device_to_host()) {
    const size_t count = std::min(data.size(), data_length_ - data_done_);
    std::memcpy(buffer_.data() + data_done_, data.data(), count);
    data_done_ += count;
    if (data_done_ >= data_length_) stage_ = Stage::kStatus;
    return {UsbStatus::kOk, count};
  }
  if (stage_ == Stage::kStatus) {
    // The status stage of a device-to-host request; extra OUTs after a
    // host-to-device data stage are ignored (QEMU's do_token_out). An OUT
    // before the device-to-host data is all read stalls, as there.
    if (setup_.device_to_host()) stage_ = Stage::kIdle;
    return {UsbStatus::kOk, 0};
  }
  stage_ = Stage::kIdle;
  return {UsbStatus::kStall, 0};
}

int ControlPipeDevice::run_request() {
  bool handled = false;
  const int result = standard_request(handled);
  if (handled) return result;
  // Vendor request 'Q' to the device or interface 0: the Microsoft OS
  // descriptors named by string 0xEE.
  const uint8_t type_and_recipient = setup_.request_type & (kTypeMask | kRecipientMask);
  if (descriptors_.msos && setup_.device_to_host() && setup_.request == kMsosVendorCode &&
      (type_and_recipient == (kTypeVendor | kRecipientDevice) ||
       type_and_recipient == (kTypeVendor | kRecipientInterface))) {
    const std::vector<uint8_t> out = msos_descriptor(setup_.index);
    if (out.empty()) return -1;
    const size_t length = std::min<size_t>(out.size(), setup_.length);
    std::memcpy(buffer_.data(), out.data(), length);
    return static_cast<int>(length);
  }
  return handle_class_request(setup_, std::span<uint8_t>(buffer_.data(), setup_.length));
}

int ControlPipeDevice::standard_request(bool& handled) {
  handled = true;
  if ((setup_.request_type & kTypeMask) != 0) {
    handled = false;
    return 0;
  }
  const uint8_t recipient = setup_.request_type & kRecipientMask;
  const bool in = setup_.device_to_host();
  if (recipient == kRecipientDevice) {
    switch (setup_.request) {
      case kRequestGetDescriptor:
        if (in) return get_descriptor();
        break;
      case kRequestSetAddress:
        if (in) break;
        address_ = static_cast<uint8_t>(setup_.value & 0x7F);
        return 0;
      case kRequestGetConfiguration:
        if (!in) break;
        buffer_[0] = configuration_;
        return 1;
      case kRequestSetConfiguration:
        if (in) break;
        if (setup_.value == 0 || setup_.value == descriptors_.configuration_value) {
          configuration_ = static_cast<uint8_t>(setup_.value);
          return 0;
        }
        return -1;
      case kRequestGetStatus:
        if (!in) break;
        buffer_[0] =
            static_cast<uint8_t>((descriptors_.self_powered ? 1 : 0) | (remote_wakeup_ ? 2 : 0));
        buffer_[1] = 0;
        return 2;
      case kRequestClearFeature:
      case kRequestSetFeature:
        if (in) break;
        if (setup_.value == kFeatureRemoteWakeup) {
          remote_wakeup_ = setup_.request == kRequestSetFeature;
          return 0;
        }
        return -1;
      default:
        break;
    }
    handled = false;
    return 0;
  }
  if (recipient == kRecipientInterface) {
    if (setup_.request == kRequestGetInterface && in) {
      buffer_[0] = 0;  // one alternate setting only
      return 1;
    }
    if (setup_.request == kRequestSetInterface && !in) return setup_.value == 0 ? 0 : -1;
  }
  handled = false;
  return 0;
}

int ControlPipeDevice::get_descriptor() {
  const uint8_t type = static_cast<uint8_t>(setup_.value >> 8);
  const uint8_t index = static_cast<uint8_t>(setup_.value);
  std::vector<uint8_t> out;
  const bool high = speed_ == UsbSpeed::kHigh;
  // The other speed's descriptors (none for a full-speed only device).
  const std::vector<uint8_t>& other_device = high ? descriptors_.device : descriptors_.high_device;
  const std::vector<uint8_t>& other_configuration =
      high ? descriptors_.configuration : descriptors_.high_configuration;
  switch (type) {
    case kDescriptorDevice:
      out = high ? descriptors_.high_device : descriptors_.device;
      break;
    case kDescriptorConfiguration:
      if (index != 0) return -1;
      out = high ? descriptors_.high_configuration : descriptors_.configuration;
      break;
    case kDescriptorDeviceQualifier:
      if (!supports_high_speed()) return -1;
      // bcdUSB, class, subclass, protocol, bMaxPacketSize0 of the other
      // speed, bNumConfigurations, reserved. The full-speed device's own
      // bcdUSB (1.0 in QEMU's tables) rather than the 2.0 its device
      // descriptor reports.
      out = {10, kDescriptorDeviceQualifier};
      if (high) {
        out.insert(out.end(), {0x00, 0x01});
      } else {
        out.insert(out.end(), other_device.begin() + 2, other_device.begin() + 4);
      }
      out.insert(out.end(), other_device.begin() + 4, other_device.begin() + 8);
      out.push_back(other_device[17]);
      out.push_back(0);
      break;
    case kDescriptorOtherSpeedConfiguration:
      if (!supports_high_speed() || index != 0) return -1;
      out = other_configuration;
      out[1] = kDescriptorOtherSpeedConfiguration;
      break;
    case kDescriptorString:
      if (index == 0) {
        out = {4, kDescriptorString, kLanguageEnglishUs & 0xFF, kLanguageEnglishUs >> 8};
      } else if (index == kMsosStringIndex && descriptors_.msos) {
        out = msos_string_descriptor();
      } else if (index <= descriptors_.strings.size()) {
        const std::string& text = descriptors_.strings[index - 1];
        // bLength is one byte: at most 126 UTF-16 units fit.
        const size_t units = std::min<size_t>(text.size(), 126);
        out.push_back(static_cast<uint8_t>(2 + 2 * units));
        out.push_back(kDescriptorString);
        for (size_t i = 0; i < units; ++i) {
          out.push_back(static_cast<uint8_t>(text[i]));
          out.push_back(0);
        }
      } else {
        return -1;
      }
      break;
    default:
      return -1;  // BOS, ...
  }
  const size_t length = std::min<size_t>(out.size(), setup_.length);
  std::memcpy(buffer_.data(), out.data(), length);
  return static_cast<int>(length);
}

}  // namespace amber::hv::usb
