// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/volume_stream.h"

#include <libvirt/libvirt.h>

#include <utility>

#include "driver/storage/transfer.h"

namespace amber::driver::dispatch {

namespace {

Result<void> check_no_stream(const protocol::Connection& connection) {
  if (connection.opened_stream) {
    return Error(ErrorKind::kInternal, "a stream was already opened by this call");
  }
  return {};
}

}  // namespace

Result<void> open_volume_upload(protocol::Connection& connection, const std::string& path,
                                uint64_t offset, uint64_t length, unsigned flags,
                                std::function<void()> on_end) {
  AMBER_TRY(check_no_stream(connection));
  AMBER_TRY_ASSIGN(auto sink, storage::open_upload(path, offset, length, flags));
  protocol::OpenedStream stream;
  stream.sink = std::move(sink);
  stream.holes = (flags & VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) != 0
                     ? protocol::StreamHoles::kAllowed
                     : protocol::StreamHoles::kRefused;
  stream.on_end = std::move(on_end);
  connection.opened_stream = std::move(stream);
  return {};
}

Result<void> open_volume_download(protocol::Connection& connection, const std::string& path,
                                  uint64_t offset, uint64_t length, unsigned flags,
                                  std::function<void()> on_end) {
  AMBER_TRY(check_no_stream(connection));
  AMBER_TRY_ASSIGN(auto source, storage::open_download(path, offset, length, flags));
  protocol::OpenedStream stream;
  stream.source = std::move(source);
  stream.holes = (flags & VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) != 0
                     ? protocol::StreamHoles::kAllowed
                     : protocol::StreamHoles::kRefused;
  stream.on_end = std::move(on_end);
  connection.opened_stream = std::move(stream);
  return {};
}

}  // namespace amber::driver::dispatch
