// SPDX-License-Identifier: GPL-2.0-or-later
#include "driver/vm/metadata.h"

#include <cctype>

#include "xml/node.h"

namespace amber::driver::vm {
namespace {

// The end of the tag that starts at TEXT[begin] == '<' (one past '>'),
// skipping quoted attribute values; npos when unterminated.
size_t tag_end(std::string_view text, size_t begin) {
  if (text.substr(begin, 4) == "<!--") {
    const size_t end = text.find("-->", begin);
    return end == std::string_view::npos ? end : end + 3;
  }
  char quote = 0;
  for (size_t i = begin + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == ':';
}

}  // namespace

std::vector<std::string> split_metadata(std::string_view metadata) {
  std::vector<std::string> out;
  int depth = 0;
  size_t start = std::string_view::npos;
  for (size_t i = 0; i < metadata.size();) {
    if (metadata[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = tag_end(metadata, i);
    if (end == std::string_view::npos) break;
    const std::string_view tag = metadata.substr(i, end - i);
    const bool special = tag.size() > 1 && (tag[1] == '!' || tag[1] == '?');
    if (!special) {
      if (tag[1] == '/') {
        --depth;
        if (depth == 0 && start != std::string_view::npos) {
          out.emplace_back(metadata.substr(start, end - start));
          start = std::string_view::npos;
        }
      } else {
        if (depth == 0) start = i;
        if (tag.size() >= 2 && tag[tag.size() - 2] == '/') {
          if (depth == 0) {
            out.emplace_back(tag);
            start = std::string_view::npos;
          }
        } else {
          ++depth;
        }
      }
    }
    i = end;
  }
  return out;
}

std::optional<std::string> element_namespace(std::string_view element) {
  if (element.empty() || element[0] != '<') return std::nullopt;
  const size_t end = tag_end(element, 0);
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view tag = element.substr(0, end);
  size_t name_end = 1;
  while (name_end < tag.size() && name_char(tag[name_end])) ++name_end;
  const std::string_view name = tag.substr(1, name_end - 1);
  const size_t colon = name.find(':');
  const std::string attribute =
      colon == std::string_view::npos ? "xmlns" : "xmlns:" + std::string(name.substr(0, colon));
  for (size_t at = tag.find(attribute, name_end); at != std::string_view::npos;
       at = tag.find(attribute, at + 1)) {
    size_t i = at + attribute.size();
    if (!std::isspace(static_cast<unsigned char>(tag[at - 1]))) continue;
    while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
    if (i >= tag.size() || tag[i] != '=') continue;
    ++i;
    while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
    if (i >= tag.size() || (tag[i] != '"' && tag[i] != '\'')) continue;
    const char quote = tag[i];
    const size_t close = tag.find(quote, i + 1);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(tag.substr(i + 1, close - i - 1));
  }
  return std::nullopt;
}

std::optional<std::string> find_metadata(std::string_view metadata, std::string_view uri) {
  for (std::string& element : split_metadata(metadata)) {
    if (element_namespace(element) == uri) return element;
  }
  return std::nullopt;
}

std::string remove_metadata(std::string_view metadata, std::string_view uri) {
  std::string out;
  for (const std::string& element : split_metadata(metadata)) {
    if (element_namespace(element) == uri) continue;
    if (!out.empty()) out += "\n";
    out += element;
  }
  return out;
}

Result<std::string> make_metadata_element(std::string_view value, std::string_view key,
                                          std::string_view uri) {
  const auto bad = [](std::string why) {
    return Error(ErrorKind::kInvalidArgument, std::move(why));
  };
  if (key.empty() || uri.empty()) return bad("metadata key and uri are required");
  for (const char c : key) {
    if (!name_char(c) || c == ':')
      return bad("metadata key '" + std::string(key) + "' is not an XML name");
  }
  if (std::isdigit(static_cast<unsigned char>(key[0])) || key[0] == '-' || key[0] == '.')
    return bad("metadata key '" + std::string(key) + "' is not an XML name");
  auto parsed = xml::Document::parse(value);
  if (!parsed.ok()) return std::move(parsed).error();
  if (split_metadata(value).size() != 1) return bad("metadata must be one XML element");
  std::string escaped_uri;
  for (const char c : uri) {
    if (c == '\'')
      escaped_uri += "&apos;";
    else if (c == '&')
      escaped_uri += "&amp;";
    else if (c == '<')
      escaped_uri += "&lt;";
    else
      escaped_uri += c;
  }
  std::string out;
  bool first = true;
  for (size_t i = 0; i < value.size();) {
    if (value[i] != '<') {
      out += value[i++];
      continue;
    }
    const size_t end = tag_end(value, i);
    std::string_view tag = value.substr(i, end - i);
    if (tag.size() < 2 || tag[1] == '!' || tag[1] == '?') {
      out += tag;
      i = end;
      continue;
    }
    const size_t name_at = tag[1] == '/' ? 2 : 1;
    size_t name_end = name_at;
    while (name_end < tag.size() && name_char(tag[name_end])) ++name_end;
    const std::string_view name = tag.substr(name_at, name_end - name_at);
    std::string rewritten(tag.substr(0, name_at));
    if (name.find(':') == std::string_view::npos) rewritten += std::string(key) + ":";
    rewritten += name;
    if (first && name_at == 1) {
      rewritten += " xmlns:" + std::string(key) + "='" + escaped_uri + "'";
      first = false;
    }
    rewritten += tag.substr(name_end);
    out += rewritten;
    i = end;
  }
  return out;
}

}  // namespace amber::driver::vm
