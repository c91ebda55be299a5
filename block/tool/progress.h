// SPDX-License-Identifier: GPL-2.0-or-later
// ProgressMeter: qemu-img's -p output (util/qemu-progress.c's simple
// meter), shared by convert, commit and rebase.
//
// Thread-safety: not thread-safe; callers serialise print().
#pragma once

#include <cstdio>

namespace amber::block::tool {

// qemu's simple progress meter (util/qemu-progress.c): prints when the
// share moved by more than one point, and at 0 and 100.
class ProgressMeter {
 public:
  explicit ProgressMeter(bool enabled) : enabled_(enabled) {}
  void print(double value) {
    if (!enabled_) return;
    float current = static_cast<float>(value);
    if (current > 100) current = 100;
    current_ = current;
    if (current > last_ + kMinSkip || current < last_ - kMinSkip || current == 0 ||
        current == 100) {
      last_ = current;
      std::printf("    (%3.2f/100%%)\r", double(current));
      std::fflush(stdout);
    }
  }
  void end() {
    if (enabled_) std::printf("\n");
  }

 private:
  static constexpr float kMinSkip = 1.0f;  // qemu-img convert's min_skip
  bool enabled_;
  float current_ = 0;
  float last_ = 0;
};

}  // namespace amber::block::tool
