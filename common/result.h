// SPDX-License-Identifier: GPL-2.0-or-later
// Result<T>: the error channel of every Amber library API.
//
// A [[nodiscard]] value that holds either a T or an Error (kind, errno,
// context). Shaped like std::expected, which g++ 12 lacks in C++20. No
// exceptions cross library APIs; callers propagate with AMBER_TRY /
// AMBER_TRY_ASSIGN and the tools turn the Error into one line on stderr.
//
// Thread-safety: values only; no shared state.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace amber {

enum class ErrorKind {
  kInvalidArgument,  // a bad option, size or request from the caller
  kIo,               // the host file system or device failed
  kCorrupt,          // an image, XML document or packet breaks its format
  kUnsupported,      // valid but not implemented (yet) or refused by policy
  kNotFound,         // a file, snapshot or object does not exist
  kLocked,           // another process holds the image
  kReadOnly,         // write to something opened or marked read-only
  kOutOfRange,       // offset or length beyond the device
  kNoSpace,          // the host is out of space or a table is full
  kInternal,         // a broken invariant of our own
};

std::string_view to_string(ErrorKind kind);

class Error {
 public:
  Error(ErrorKind kind, std::string context, int error_number = 0)
      : kind_(kind), errno_(error_number), context_(std::move(context)) {}

  // An error from a failed system call: kind kIo (or kNoSpace for ENOSPC).
  static Error from_errno(int error_number, std::string context) {
    return Error(error_number == ENOSPC ? ErrorKind::kNoSpace : ErrorKind::kIo, std::move(context),
                 error_number);
  }

  ErrorKind kind() const { return kind_; }
  int error_number() const { return errno_; }
  const std::string& context() const { return context_; }

  // Prefixes the context: "opening 'a.qcow2': " + old context. Returns the
  // new Error by value (no reference into a temporary outlives the call).
  Error with_context(std::string_view prefix) && {
    context_ = std::string(prefix) + ": " + context_;
    return std::move(*this);
  }

  // The context, plus strerror(errno) when there is one.
  std::string message() const {
    if (errno_ == 0) return context_;
    return context_ + ": " + std::strerror(errno_);
  }

 private:
  ErrorKind kind_;
  int errno_;
  std::string context_;
};

namespace result_detail {

// Misuse of a Result (value() of an error, error() of a success) is a bug in
// the caller, not an error to propagate: it prints what happened and aborts,
// in every build type (the codebase has no exceptions to throw).
[[noreturn]] inline void misuse(const char* what, const Error* error) {
  if (error != nullptr) {
    std::fprintf(stderr, "amber: %s: %s\n", what, error->message().c_str());
  } else {
    std::fprintf(stderr, "amber: %s\n", what);
  }
  std::abort();
}

}  // namespace result_detail

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The value; aborts with the error's message when this holds an error.
  T& value() & {
    check_value();
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    check_value();
    return *std::get_if<0>(&state_);
  }
  T value() && {
    check_value();
    return std::move(*std::get_if<0>(&state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; aborts when this holds a value.
  const Error& error() const& {
    check_error();
    return *std::get_if<1>(&state_);
  }
  Error error() && {
    check_error();
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  void check_value() const {
    if (!ok()) result_detail::misuse("Result::value() called on an error", std::get_if<1>(&state_));
  }
  void check_error() const {
    if (ok()) result_detail::misuse("Result::error() called on a success", nullptr);
  }

  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }

  // Aborts with the error's message when this holds an error.
  void value() const {
    if (!ok()) result_detail::misuse("Result<void>::value() called on an error", &*error_);
  }

  // The error; aborts when this is a success.
  const Error& error() const& {
    check_error();
    return *error_;
  }
  Error error() && {
    check_error();
    return std::move(*error_);
  }

 private:
  void check_error() const {
    if (ok()) result_detail::misuse("Result<void>::error() called on a success", nullptr);
  }

  std::optional<Error> error_;
};

inline Result<void> ok() {
  return {};
}

inline std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "invalid argument";
    case ErrorKind::kIo:
      return "I/O error";
    case ErrorKind::kCorrupt:
      return "corrupt";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kLocked:
      return "locked";
    case ErrorKind::kReadOnly:
      return "read-only";
    case ErrorKind::kOutOfRange:
      return "out of range";
    case ErrorKind::kNoSpace:
      return "no space";
    case ErrorKind::kInternal:
      return "internal error";
  }
  return "unknown";
}

}  // namespace amber

// Evaluates a Result expression; returns its Error from the enclosing
// function on failure. A plain statement (standard C++, no GNU extension).
#define AMBER_TRY(expr)                                                       \
  do {                                                                        \
    auto amber_try_result_ = (expr);                                          \
    if (!amber_try_result_.ok()) return std::move(amber_try_result_).error(); \
  } while (false)

#define AMBER_CONCAT_INNER(a, b) a##b
#define AMBER_CONCAT(a, b) AMBER_CONCAT_INNER(a, b)

// AMBER_TRY_ASSIGN(auto x, make_x()); declares x from the value or returns
// the error.
#define AMBER_TRY_ASSIGN(decl, expr) \
  AMBER_TRY_ASSIGN_IMPL(AMBER_CONCAT(amber_try_tmp_, __LINE__), decl, expr)
#define AMBER_TRY_ASSIGN_IMPL(tmp, decl, expr)  \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
