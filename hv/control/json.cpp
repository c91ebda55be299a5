#include "hv/control/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace amber::hv::control {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<JsonValue> parse_document() {
    AMBER_TRY_ASSIGN(JsonValue value, parse_value(0));
    skip_space();
    if (pos_ != text_.size()) return fail("trailing characters after the JSON value");
    return value;
  }

 private:
  Error fail(const std::string& why) const {
    return Error(ErrorKind::kCorrupt, why + " at offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Result<JsonValue> parse_value(unsigned depth) {
    if (depth > kMaxJsonDepth) return fail("JSON nested too deeply");
    skip_space();
    if (pos_ >= text_.size()) return fail("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') {
      AMBER_TRY_ASSIGN(std::string s, parse_string());
      return JsonValue::string(std::move(s));
    }
    if (consume("true")) return JsonValue::boolean(true);
    if (consume("false")) return JsonValue::boolean(false);
    if (consume("null")) return JsonValue();
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    return fail("unexpected character");
  }

  Result<JsonValue> parse_number() {
    const size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    const size_t int_start = pos_;
    if (digits() == 0) return fail("bad number");
    if (text_[int_start] == '0' && pos_ - int_start > 1) return fail("leading zero in number");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return fail("bad fraction");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return fail("bad exponent");
    }
    const std::string number(text_.substr(start, pos_ - start));
    const double value = std::strtod(number.c_str(), nullptr);
    if (!std::isfinite(value)) return fail("number out of range");
    return JsonValue::number(value);
  }

  static void append_utf8(std::string& out, uint32_t cp) {
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
  }

  Result<uint32_t> parse_hex4() {
    if (pos_ + 4 > text_.size()) return fail("short \\u escape");
    uint32_t value = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    if (ec != std::errc() || ptr != text_.data() + pos_ + 4) return fail("bad \\u escape");
    pos_ += 4;
    return value;
  }

  Result<std::string> parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return out;
      if (c < 0x20) return fail("control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= text_.size()) return fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          AMBER_TRY_ASSIGN(uint32_t cp, parse_hex4());
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!consume("\\u")) return fail("lone high surrogate");
            AMBER_TRY_ASSIGN(uint32_t low, parse_hex4());
            if (low < 0xDC00 || low > 0xDFFF) return fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return fail("bad escape");
      }
    }
  }

  Result<JsonValue> parse_array(unsigned depth) {
    ++pos_;
    JsonValue array = JsonValue::array();
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; return array; }
    while (true) {
      AMBER_TRY_ASSIGN(JsonValue item, parse_value(depth + 1));
      array.push(std::move(item));
      skip_space();
      if (pos_ >= text_.size()) return fail("unterminated array");
      if (text_[pos_] == ',') { ++pos_; continue; }
      if (text_[pos_] == ']') { ++pos_; return array; }
      return fail("expected , or ] in array");
    }
  }

  Result<JsonValue> parse_object(unsigned depth) {
    ++pos_;
    JsonValue object = JsonValue::object();
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '}') { ++pos_; return object; }
    while (true) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return fail("expected a member name");
      AMBER_TRY_ASSIGN(std::string key, parse_string());
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ':') return fail("expected :");
      ++pos_;
      AMBER_TRY_ASSIGN(JsonValue value, parse_value(depth + 1));
      object.set(std::move(key), std::move(value));
      skip_space();
      if (pos_ >= text_.size()) return fail("unterminated object");
      if (text_[pos_] == ',') { ++pos_; continue; }
      if (text_[pos_] == '}') { ++pos_; return object; }
      return fail("expected , or } in object");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

JsonValue JsonValue::boolean(bool b) { JsonValue v; v.type_ = Type::kBool; v.bool_ = b; return v; }
JsonValue JsonValue::number(double d) { JsonValue v; v.type_ = Type::kNumber; v.number_ = d; return v; }
JsonValue JsonValue::string(std::string s) { JsonValue v; v.type_ = Type::kString; v.string_ = std::move(s); return v; }
JsonValue JsonValue::array() { JsonValue v; v.type_ = Type::kArray; return v; }
JsonValue JsonValue::object() { JsonValue v; v.type_ = Type::kObject; return v; }

const JsonValue* JsonValue::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  const JsonValue* found = nullptr;
  for (const auto& [k, v] : object_)
    if (k == key) found = &v;
  return found;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonValue::dump() const {
  switch (type_) {
    case Type::kNull: return "null";
    case Type::kBool: return bool_ ? "true" : "false";
    case Type::kNumber: {
      char buf[32];
      if (std::nearbyint(number_) == number_ && std::fabs(number_) < 9.2e18) {
        std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(number_));
      } else {
        std::snprintf(buf, sizeof(buf), "%.17g", number_);
      }
      return buf;
    }
    case Type::kString: return json_quote(string_);
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < array_.size(); ++i) out += (i ? "," : "") + array_[i].dump();
      return out + "]";
    }
    case Type::kObject: {
      std::string out = "{";
      for (size_t i = 0; i < object_.size(); ++i)
        out += (i ? "," : "") + json_quote(object_[i].first) + ":" + object_[i].second.dump();
      return out + "}";
    }
  }
  return "null";
}

Result<JsonValue> parse_json(std::string_view text) {
  if (text.size() > kMaxJsonLength) return Error(ErrorKind::kCorrupt, "JSON text too long");
  return Parser(text).parse_document();
}

}  // namespace amber::hv::control
