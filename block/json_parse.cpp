// SPDX-License-Identifier: GPL-2.0-or-later
// The json: name parser (see json_parse.h). Built like QEMU's: a lexer
// cuts the input into tokens (an invalid one becomes an error token, then
// the lexer skips to the next bracket), a streamer groups tokens into
// top-level values and guards the nesting depth, and a recursive parser
// builds each value; the first error wins.
//
// Thread-safety: no shared state.
#include "block/json_parse.h"

#include <algorithm>
#include <map>
#include <optional>

namespace amber::block::json {
namespace {

enum class Tok {
  kLCurly,
  kRCurly,
  kLSquare,
  kRSquare,
  kComma,
  kColon,
  kString,
  kInteger,
  kFloat,
  kKeyword,
  kError
};

struct Token {
  Tok type;
  std::string_view text;
};

Error parse_error(const std::string& message) {
  return Error(ErrorKind::kInvalidArgument, "JSON parse error, " + message);
}

Error plain_error(const std::string& message) {
  return Error(ErrorKind::kInvalidArgument, message);
}

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
// Where the lexer starts again after an error token (QEMU's recovery
// points: brackets, control characters other than tab, 0xFE and 0xFF).
bool is_recovery_point(unsigned char c) {
  return c == '[' || c == ']' || c == '{' || c == '}' || (c < 0x20 && c != '\t') || c >= 0xFE;
}

// The lexer: next token from `in` at `pos` (after whitespace), or nullopt at
// the end. An error token ends with the byte that made it invalid (or at
// the end of the input), as QEMU prints it.
class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  std::optional<Token> next() {
    if (recovering_) {
      while (pos_ < in_.size() && !is_recovery_point(byte(pos_))) ++pos_;
      recovering_ = false;
    }
    while (pos_ < in_.size() && is_space(byte(pos_))) ++pos_;
    if (pos_ >= in_.size()) return std::nullopt;
    const size_t start = pos_;
    const unsigned char c = byte(pos_++);
    switch (c) {
      case '{':
        return make(Tok::kLCurly, start);
      case '}':
        return make(Tok::kRCurly, start);
      case '[':
        return make(Tok::kLSquare, start);
      case ']':
        return make(Tok::kRSquare, start);
      case ',':
        return make(Tok::kComma, start);
      case ':':
        return make(Tok::kColon, start);
      case '"':
      case '\'':
        return string(start, c);
      default:
        break;
    }
    if (c == '-' || is_digit(c)) return number(start, c);
    if (c >= 'a' && c <= 'z') {
      while (pos_ < in_.size() && byte(pos_) >= 'a' && byte(pos_) <= 'z') ++pos_;
      return make(Tok::kKeyword, start);
    }
    return error(start);
  }

 private:
  unsigned char byte(size_t i) const { return static_cast<unsigned char>(in_[i]); }
  Token make(Tok type, size_t start) const { return {type, in_.substr(start, pos_ - start)}; }
  // The token so far plus the byte at pos_ (if any) is an error token.
  Token error(size_t start) {
    recovering_ = true;
    return {Tok::kError, in_.substr(start, pos_ - start)};
  }
  Token error_with_current(size_t start) {
    if (pos_ < in_.size()) ++pos_;
    return error(start);
  }

  Token string(size_t start, unsigned char quote) {
    while (pos_ < in_.size()) {
      const unsigned char c = byte(pos_);
      if (c < 0x20 || c >= 0xFE) return error_with_current(start);
      ++pos_;
      if (c == quote) return make(Tok::kString, start);
      if (c == '\\') {
        if (pos_ >= in_.size()) break;
        const unsigned char e = byte(pos_);
        if (e < 0x20 || e >= 0xFE) return error_with_current(start);
        ++pos_;
      }
    }
    return error(start);  // unterminated at the end of the input
  }

  Token number(size_t start, unsigned char first) {
    auto at = [&](size_t i) -> int { return i < in_.size() ? byte(i) : -1; };
    if (first == '-') {
      const int c = at(pos_);
      if (c < '0' || c > '9') return error_with_current(start);
      first = static_cast<unsigned char>(c);
      ++pos_;
    }
    if (first == '0') {
      if (is_digit(static_cast<unsigned char>(std::max(at(pos_), 0))))
        return error_with_current(start);
    } else {
      while (at(pos_) >= '0' && at(pos_) <= '9') ++pos_;
    }
    bool is_float = false;
    if (at(pos_) == '.') {
      is_float = true;
      ++pos_;
      if (!(at(pos_) >= '0' && at(pos_) <= '9')) return error_with_current(start);
      while (at(pos_) >= '0' && at(pos_) <= '9') ++pos_;
    }
    // QEMU's lexer takes no exponent straight after a lone zero.
    const bool lone_zero =
        !is_float && pos_ - start == (in_[start] == '-' ? 2u : 1u) && in_[pos_ - 1] == '0';
    if (!lone_zero && (at(pos_) == 'e' || at(pos_) == 'E')) {
      is_float = true;
      ++pos_;
      if (at(pos_) == '+' || at(pos_) == '-') ++pos_;
      if (!(at(pos_) >= '0' && at(pos_) <= '9')) return error_with_current(start);
      while (at(pos_) >= '0' && at(pos_) <= '9') ++pos_;
    }
    return make(is_float ? Tok::kFloat : Tok::kInteger, start);
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool recovering_ = false;
};

// Text up to the first NUL byte (QEMU prints tokens as C strings).
std::string c_text(std::string_view s) {
  const size_t nul = s.find('\0');
  return std::string(nul == std::string_view::npos ? s : s.substr(0, nul));
}

int hex4(std::string_view s, size_t at) {
  if (at + 4 > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v |= c - 'A' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

// Appends code point `cp` as (modified) UTF-8; false if it is none.
bool append_utf8(std::string& out, long cp) {
  if (cp == 0) {
    out += "\xC0\x80";
    return true;
  }
  if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return true;
}

// Length of the valid UTF-8 sequence at s[i] (modified UTF-8: C0 80 is
// NUL), or 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  long cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (len == 2 && cp == 0) return 2;  // C0 80
  static constexpr long kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Decodes a string token (quotes included) as QEMU's parse_string does.
Result<std::string> decode_string(std::string_view token) {
  const std::string_view body = token.substr(1, token.size() - 2);
  std::string out;
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c != '\\') {
      const size_t len = utf8_length(body, i);
      if (len == 0) return parse_error("invalid UTF-8 sequence in string");
      out.append(body.substr(i, len));
      i += len;
      continue;
    }
    const size_t begin = i;  // the backslash
    // What QEMU's message quotes: from the backslash, at most to the end
    // of the token (closing quote included).
    auto quoted = [&](size_t length) {
      return c_text(token.substr(1 + begin, std::min(length, token.size() - 1 - begin)));
    };
    i += 2;
    switch (body[begin + 1]) {
      case '"':
        out += '"';
        break;
      case '\'':
        out += '\'';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        long cp = hex4(body, i);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < body.size() && body[i] == '\\' &&
            body[i + 1] == 'u') {
          const int trailing = hex4(body, i + 2);
          if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
            cp = 0x10000 + ((cp & 0x3FF) << 10) + (trailing & 0x3FF);
            i += 6;
          } else {
            cp = -1;
          }
        }
        if (!append_utf8(out, cp))
          return parse_error(quoted(i - begin) + " is not a valid Unicode character");
        break;
      }
      default:
        return parse_error("invalid escape sequence in string");
    }
  }
  return out;
}

// The recursive parser over one top-level value's tokens.
class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  Result<Value> value() {
    const Token* peek = this->peek();
    if (peek == nullptr) return parse_error("premature EOI");
    switch (peek->type) {
      case Tok::kLCurly:
        return object();
      case Tok::kLSquare:
        return array();
      case Tok::kString: {
        ++next_;
        Value v;
        v.kind = Value::Kind::kString;
        AMBER_TRY_ASSIGN(v.text, decode_string(peek->text));
        return v;
      }
      case Tok::kInteger:
      case Tok::kFloat: {
        ++next_;
        Value v;
        v.kind = Value::Kind::kNumber;
        v.text = std::string(peek->text);
        return v;
      }
      case Tok::kKeyword: {
        ++next_;
        Value v;
        if (peek->text == "true" || peek->text == "false") {
          v.kind = Value::Kind::kBool;
          v.boolean = peek->text == "true";
          v.text = std::string(peek->text);
        } else if (peek->text != "null") {
          return parse_error("invalid keyword '" + std::string(peek->text) + "'");
        }
        return v;
      }
      default:
        return parse_error("expecting value");
    }
  }

 private:
  const Token* peek() const { return next_ < tokens_.size() ? &tokens_[next_] : nullptr; }
  const Token* pop() { return next_ < tokens_.size() ? &tokens_[next_++] : nullptr; }

  Result<void> pair(Value& object) {
    if (peek() == nullptr) return parse_error("premature EOI");
    AMBER_TRY_ASSIGN(Value key, value());
    if (!key.is_string()) return parse_error("key is not a string in object");
    const Token* colon = pop();
    if (colon == nullptr) return parse_error("premature EOI");
    if (colon->type != Tok::kColon) return parse_error("missing : in object pair");
    AMBER_TRY_ASSIGN(Value v, value());
    if (object.find(key.text) != nullptr) return parse_error("duplicate key");
    object.members.emplace_back(std::move(key.text), std::move(v));
    return ok();
  }

  Result<Value> object() {
    ++next_;  // '{'
    Value v;
    v.kind = Value::Kind::kObject;
    const Token* peek = this->peek();
    if (peek == nullptr) return parse_error("premature EOI");
    if (peek->type == Tok::kRCurly) {
      ++next_;
      return v;
    }
    AMBER_TRY(pair(v));
    for (;;) {
      const Token* t = pop();
      if (t == nullptr) return parse_error("premature EOI");
      if (t->type == Tok::kRCurly) return v;
      if (t->type != Tok::kComma) return parse_error("expected separator in dict");
      AMBER_TRY(pair(v));
    }
  }

  Result<Value> array() {
    ++next_;  // '['
    Value v;
    v.kind = Value::Kind::kArray;
    const Token* peek = this->peek();
    if (peek == nullptr) return parse_error("premature EOI");
    if (peek->type == Tok::kRSquare) {
      ++next_;
      return v;
    }
    AMBER_TRY_ASSIGN(Value first, value());
    v.items.push_back(std::move(first));
    for (;;) {
      const Token* t = pop();
      if (t == nullptr) return parse_error("premature EOI");
      if (t->type == Tok::kRSquare) return v;
      if (t->type != Tok::kComma) return parse_error("expected separator in list");
      AMBER_TRY_ASSIGN(Value item, value());
      v.items.push_back(std::move(item));
    }
  }

  const std::vector<Token>& tokens_;
  size_t next_ = 0;
};

void flatten_into(const Value& v, const std::string& prefix, std::map<std::string, size_t>& index,
                  std::vector<std::pair<std::string, Value>>& out, bool nested) {
  auto put = [&](const std::string& key, const Value& value, bool from_nested) {
    auto it = index.find(key);
    if (it == index.end()) {
      index.emplace(key, out.size());
      out.emplace_back(key, value);
    } else if (from_nested) {
      out[it->second].second = value;
    }
  };
  auto child = [&](const std::string& key, const Value& value) {
    const std::string full = prefix.empty() ? key : prefix + "." + key;
    const bool container = (value.kind == Value::Kind::kObject && !value.members.empty()) ||
                           (value.kind == Value::Kind::kArray && !value.items.empty());
    if (container) {
      flatten_into(value, full, index, out, true);
    } else {
      put(full, value, nested);
    }
  };
  if (v.kind == Value::Kind::kObject) {
    for (const auto& [key, value] : v.members) child(key, value);
  } else {
    for (size_t i = 0; i < v.items.size(); ++i) child(std::to_string(i), v.items[i]);
  }
}

}  // namespace

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

Result<Value> parse(std::string_view text) {
  if (text.size() > kMaxInputBytes) return plain_error("JSON token size limit exceeded");
  Lexer lexer(text);
  std::vector<Token> pending;
  std::optional<Value> result;
  int braces = 0, brackets = 0;
  size_t token_count = 0;
  // One top-level value (or error) is done: QEMU's consume_json.
  auto emit = [&](Result<Value> value) -> std::optional<Result<Value>> {
    pending.clear();
    braces = brackets = 0;
    if (result) return Result<Value>(plain_error("Expecting at most one JSON value"));
    if (!value.ok()) return value;
    result = std::move(*value);
    return std::nullopt;
  };
  for (;;) {
    std::optional<Token> token = lexer.next();
    if (!token) break;
    if (++token_count > kMaxTokens) return plain_error("JSON token count limit exceeded");
    std::optional<Result<Value>> done;
    switch (token->type) {
      case Tok::kLCurly:
        ++braces;
        break;
      case Tok::kRCurly:
        --braces;
        break;
      case Tok::kLSquare:
        ++brackets;
        break;
      case Tok::kRSquare:
        --brackets;
        break;
      case Tok::kError:
        done = emit(parse_error("stray '" + c_text(token->text) + "'"));
        break;
      default:
        break;
    }
    if (!done && token->type != Tok::kError) {
      if (braces + brackets > static_cast<int>(kMaxNesting)) {
        done = emit(plain_error("JSON nesting depth limit exceeded"));
      } else {
        pending.push_back(*token);
        if (!((braces > 0 || brackets > 0) && braces >= 0 && brackets >= 0)) {
          Parser parser(pending);
          done = emit(parser.value());
        }
      }
    }
    if (done) return std::move(*done);
  }
  if (!pending.empty()) {
    Parser parser(pending);
    if (auto done = emit(parser.value())) return std::move(*done);
  }
  if (!result) return plain_error("Expecting a JSON value");
  return std::move(*result);
}

std::vector<std::pair<std::string, Value>> flatten(const Value& object) {
  std::vector<std::pair<std::string, Value>> out;
  std::map<std::string, size_t> index;
  flatten_into(object, "", index, out, false);
  return out;
}

}  // namespace amber::block::json
