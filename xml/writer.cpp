// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/writer.h"

namespace amber::xml {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\r':  // a raw CR would read back as LF (XML line-end handling)
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Element& Element::attr(std::string name, std::string value) {
  attributes_.emplace_back(std::move(name), std::move(value));
  return *this;
}

Element& Element::attr(std::string name, uint64_t value) {
  return attr(std::move(name), std::to_string(value));
}

Element& Element::attr(std::string name, const std::optional<std::string>& value) {
  if (value) attr(std::move(name), *value);
  return *this;
}

Element& Element::attr(std::string name, const std::optional<uint64_t>& value) {
  if (value) attr(std::move(name), *value);
  return *this;
}

Element& Element::text(std::string text) {
  text_ = std::move(text);
  return *this;
}

Element& Element::raw(std::string xml) {
  raw_ = std::move(xml);
  return *this;
}

Element& Element::add(std::string name) {
  return add(Element(std::move(name)));
}

Element& Element::add(Element child) {
  children_.push_back(std::move(child));
  return children_.back();
}

Element& Element::add_text(std::string name, std::string text) {
  return add(std::move(name)).text(std::move(text));
}

std::string Element::render() const {
  std::string out;
  render_into(out, 0);
  return out;
}

void Element::render_into(std::string& out, int depth) const {
  const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
  out += indent + "<" + name_;
  for (const auto& [name, value] : attributes_) out += " " + name + "='" + escape(value) + "'";
  if (empty()) {
    out += "/>\n";
    return;
  }
  out += ">";
  if (children_.empty() && raw_.empty()) {
    out += escape(text_) + "</" + name_ + ">\n";
    return;
  }
  out += "\n";
  if (!raw_.empty()) out += std::string(static_cast<std::size_t>(depth + 1) * 2, ' ') + raw_ + "\n";
  for (const Element& child : children_) child.render_into(out, depth + 1);
  out += indent + "</" + name_ + ">\n";
}

}  // namespace amber::xml
