// SPDX-License-Identifier: GPL-2.0-or-later
// blk_io_error.h: a host I/O error of a virtio-blk disk, as counted in
// BlkStats and reported to the disk's error sink (the VMM turns it into a
// BLOCK_IO_ERROR event), and the disk's error policy: what it does with
// the failed request (QEMU's werror= / rerror=).
//
// An I/O error here is a failed call on the host side (the image or the
// file under it), not a malformed guest request: those are answered with
// IOERR too but are the guest's fault and counted only in OpStats::failed.
//
// Plain values and pure functions; safe from any thread.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace amber::hv::virtio {

// What the guest asked for when the host failed.
enum class BlkOperation : unsigned { kRead, kWrite, kFlush, kDiscard, kWriteZeroes };
inline constexpr size_t kBlkOperationCount = 5;

// errno classes, as management tools act on them: ENOSPC (free space and
// resume), EIO (a failing disk) and everything else.
enum class IoErrorClass : unsigned { kEio, kEnospc, kOther };
inline constexpr size_t kIoErrorClassCount = 3;

inline std::string_view to_string(BlkOperation operation) {
  switch (operation) {
    case BlkOperation::kRead:
      return "read";
    case BlkOperation::kWrite:
      return "write";
    case BlkOperation::kFlush:
      return "flush";
    case BlkOperation::kDiscard:
      return "discard";
    case BlkOperation::kWriteZeroes:
      return "write-zeroes";
  }
  return "read";
}

inline IoErrorClass classify(const Error& error) {
  if (error.error_number() == ENOSPC || error.kind() == ErrorKind::kNoSpace)
    return IoErrorClass::kEnospc;
  if (error.error_number() == EIO) return IoErrorClass::kEio;
  return IoErrorClass::kOther;
}

// What was done with a request the host failed.
enum class BlkErrorAction {
  kReport,  // completed with VIRTIO_BLK_S_IOERR
  kIgnore,  // completed with VIRTIO_BLK_S_OK, as if it had succeeded
  kStop,    // held, not completed: the VM stops; retried on resume
};

inline std::string_view to_string(BlkErrorAction action) {
  switch (action) {
    case BlkErrorAction::kReport:
      return "report";
    case BlkErrorAction::kIgnore:
      return "ignore";
    case BlkErrorAction::kStop:
      return "stop";
  }
  return "report";
}

// A disk's policy for one direction (reads; or writes, flushes, discards
// and write-zeroes), QEMU's meanings: kEnospc stops on ENOSPC and reports
// everything else; kStop stops on any error; kIgnore completes the request
// as if it had succeeded (the guest's data is lost without its knowing).
enum class BlkErrorPolicy { kEnospc, kStop, kReport, kIgnore };

inline BlkErrorAction action_for(BlkErrorPolicy policy, IoErrorClass error_class) {
  switch (policy) {
    case BlkErrorPolicy::kEnospc:
      return error_class == IoErrorClass::kEnospc ? BlkErrorAction::kStop : BlkErrorAction::kReport;
    case BlkErrorPolicy::kStop:
      return BlkErrorAction::kStop;
    case BlkErrorPolicy::kReport:
      return BlkErrorAction::kReport;
    case BlkErrorPolicy::kIgnore:
      return BlkErrorAction::kIgnore;
  }
  return BlkErrorAction::kReport;
}

// Reads follow rerror=, everything that changes the disk werror= (as QEMU).
inline bool is_read(BlkOperation operation) {
  return operation == BlkOperation::kRead;
}

struct BlkIoError {
  BlkOperation operation = BlkOperation::kRead;
  BlkErrorAction action = BlkErrorAction::kReport;
  IoErrorClass error_class = IoErrorClass::kOther;
  int error_number = 0;  // 0 when the failure had no errno
  ErrorKind kind = ErrorKind::kIo;
  std::string message;
  // Errors of this disk not reported (rate limit) since the previous one.
  uint64_t suppressed = 0;
};

// Called from the disk's iothreads. Report and ignore actions at most
// kGuestLogBurst times per kGuestLogInterval per disk (common/rate_limit.h):
// a guest can retry a failing request in a loop. Stop actions every time:
// one recurs only after the host resumes the VM, and the VMM must stop it.
using BlkIoErrorSink = std::function<void(const BlkIoError&)>;

}  // namespace amber::hv::virtio
