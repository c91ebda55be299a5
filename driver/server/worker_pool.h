// SPDX-License-Identifier: GPL-2.0-or-later
// A fixed set of threads running submitted jobs in FIFO order. The server
// keeps two: a normal pool for calls that may wait on a VM and a
// high-priority pool for libvirt's @priority:high calls, so a slow start
// never delays another client's lookup.
//
// Thread-safety: submit() from any thread; the destructor stops the pool
// (jobs already queued still run) and joins the threads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace amber::driver::server {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> job);
  // Runs what is queued, then joins; later submits are dropped.
  void stop();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace amber::driver::server
