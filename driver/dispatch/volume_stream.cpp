// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/dispatch/volume_stream.h"

#include <libvirt/libvirt.h>

#include <utility>

#include "driver/dispatch/storage.h"
#include "driver/storage/transfer.h"

namespace amber::driver::dispatch {

namespace {

Result<void> check_no_stream(const protocol::Connection& connection) {
  if (connection.opened_stream) {
    return Error(ErrorKind::kInternal, "a stream was already opened by this call");
  }
  return {};
}

struct TransferArgs {
  storage::VolumeRef volume;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t flags = 0;
};

// remote_storage_vol_upload_args / remote_storage_vol_download_args.
Result<TransferArgs> read_transfer_args(rpc::XdrReader& args, std::string_view procedure) {
  TransferArgs out;
  AMBER_TRY_ASSIGN(out.volume, read_volume(args));
  AMBER_TRY_ASSIGN(out.offset, arg_u64(args, "offset"));
  AMBER_TRY_ASSIGN(out.length, arg_u64(args, "length"));
  AMBER_TRY_ASSIGN(out.flags, arg_u32(args, "flags"));
  AMBER_TRY(arg_end(args, procedure));
  return out;
}

}  // namespace

Result<void> storage_vol_upload(Connection& connection, XdrReader& args, XdrWriter& /*reply*/) {
  AMBER_TRY_ASSIGN(TransferArgs a, read_transfer_args(args, "STORAGE_VOL_UPLOAD"));
  AMBER_TRY_ASSIGN(storage::PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(storage::VolumeState state, manager->resolve(a.volume.pool, a.volume.name));
  // A volume in use is refused by open_upload, which takes the image's
  // write locks and holds them for the whole upload.
  // The manager outlives every connection (the daemon owns both).
  auto rescan = [manager, volume = a.volume] { manager->volume_rewritten(volume); };
  return open_volume_upload(connection, state.path, a.offset, a.length, a.flags, rescan);
}

Result<void> storage_vol_download(Connection& connection, XdrReader& args, XdrWriter& /*reply*/) {
  AMBER_TRY_ASSIGN(TransferArgs a, read_transfer_args(args, "STORAGE_VOL_DOWNLOAD"));
  AMBER_TRY_ASSIGN(storage::PoolManager * manager, storage_of(connection));
  AMBER_TRY_ASSIGN(storage::VolumeState state, manager->resolve(a.volume.pool, a.volume.name));
  return open_volume_download(connection, state.path, a.offset, a.length, a.flags);
}

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
