// SPDX-License-Identifier: GPL-2.0-or-later
// Writer: builds XML text the way libvirt formats it.
//
// Two-space indentation, attributes in single quotes, empty elements as
// <name/>, and libvirt's escaping (< > & ' " as entities in text and
// attribute values). Pure string building: no libxml2, no I/O.
//
// Usage: Element e("disk"); e.attr("type", "file"); e.add("target")...;
// then e.render(). Thread-safety: values only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace amber::xml {

std::string escape(std::string_view text);

class Element {
 public:
  explicit Element(std::string name) : name_(std::move(name)) {}

  Element& attr(std::string name, std::string value);
  Element& attr(std::string name, const char* value) {
    return attr(std::move(name), std::string(value));
  }
  Element& attr(std::string name, uint64_t value);
  // Only when VALUE is set.
  Element& attr(std::string name, const std::optional<std::string>& value);
  Element& attr(std::string name, const std::optional<uint64_t>& value);
  Element& text(std::string text);
  // Verbatim XML written on its own line(s), indented one level as a whole
  // (<metadata>: Node::inner_xml with the matching separator).
  Element& raw(std::string xml);
  // Appends a child and returns it (a reference valid until the next add).
  Element& add(std::string name);
  Element& add(Element child);
  // A child <name>text</name>.
  Element& add_text(std::string name, std::string text);

  bool empty() const { return children_.empty() && text_.empty() && raw_.empty(); }
  std::string render() const;

 private:
  void render_into(std::string& out, int depth) const;

  std::string name_;
  std::vector<std::pair<std::string, std::string>> attributes_;
  std::string text_;
  std::string raw_;
  std::vector<Element> children_;
};

}  // namespace amber::xml
