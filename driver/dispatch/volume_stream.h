// SPDX-License-Identifier: GPL-2.0-or-later
// The stream half of STORAGE_VOL_UPLOAD (208) and STORAGE_VOL_DOWNLOAD
// (209): once a handler has resolved the volume to its file (and checked
// that the volume may be used: pool active, not being built), it calls one
// of these, which opens the file (driver/storage/transfer.h) and leaves the
// stream in Connection::opened_stream; the server then relays it after the
// call's REPLY (server/data_stream_relay.h). A refusal (bad flags or range,
// the file missing, an upload into an image a running domain holds) is an
// Error for the handler to return, so the client sees it as the call's
// error and no stream starts.
//
// `on_end`, if given, runs once when the transfer is over (finished,
// aborted, failed, or the client gone), after the file is closed and before
// the client's confirmation goes out: the place to refresh the volume's
// allocation and capacity, as libvirt does after an upload. It runs on the
// stream's worker thread (or the caller's, if opening fails later on).
//
// Thread-safety: called by the dispatcher, with the connection's strand.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "driver/protocol/procedure.h"

namespace amber::driver::dispatch {

// `flags`: VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM or 0.
Result<void> open_volume_upload(protocol::Connection& connection, const std::string& path,
                                uint64_t offset, uint64_t length, unsigned flags,
                                std::function<void()> on_end = {});
// `flags`: VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM or 0.
Result<void> open_volume_download(protocol::Connection& connection, const std::string& path,
                                  uint64_t offset, uint64_t length, unsigned flags,
                                  std::function<void()> on_end = {});

}  // namespace amber::driver::dispatch
