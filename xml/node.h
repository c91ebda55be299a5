// SPDX-License-Identifier: GPL-2.0-or-later
// An XML document read from hostile text, and its elements as Node handles.
//
// The only file in xml/ that touches libxml2 pointers (node.cpp). Parsing
// refuses what a libvirt client has no business sending: network access,
// DOCTYPE declarations (so no external entities, no DTD loading, no entity
// expansion and no entity bombs), documents over a size cap. A malformed
// document gives a kCorrupt Error "XML error: line N: <libxml2's message>",
// which the driver maps to VIR_ERR_XML_ERROR.
//
// Every element and attribute the caller reads through a Node is marked as
// consumed; unconsumed() then lists what nobody read, so the domain parser
// can refuse unknown elements and attributes by path instead of dropping
// them.
//
// Ownership: Document owns the tree; a Node is a non-owning handle valid
// while its Document lives. Thread-safety: one Document per thread; distinct
// Documents may be used from different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct _xmlNode;  // libxml2's node, opaque outside node.cpp

namespace amber::xml {

// One mebibyte: libvirt domain XML with dozens of disks is a few tens of KiB,
// so anything near this is not a real document.
inline constexpr std::size_t kMaxDocumentBytes = 1024 * 1024;

struct ParseLimits {
  std::size_t max_bytes = kMaxDocumentBytes;
};

// The error every malformed or semantically invalid document gives:
// kCorrupt, "XML error: " + message.
Error xml_error(std::string message);

class DocumentState;

class Node {
 public:
  // The qualified element name ("disk", "libosinfo:os").
  std::string name() const;
  // The element's path from the root, "/domain/devices/disk".
  std::string path() const;
  // The source line the element started on (0 when unknown).
  int line() const;

  // Attribute lookups mark the attribute consumed.
  std::optional<std::string> attribute(std::string_view name) const;
  bool has_attribute(std::string_view name) const;
  // The value or an XML error naming path/@name.
  Result<std::string> required_attribute(std::string_view name) const;
  // Unsigned decimal, or hexadecimal with 0x (libvirt's addresses).
  Result<std::optional<uint64_t>> attribute_uint(std::string_view name) const;
  // 'yes'/'no' (and 'on'/'off'), as libvirt's virTristateBool.
  Result<std::optional<bool>> attribute_bool(std::string_view name) const;

  // The concatenated text content of the element (the "4" of <vcpu>4</vcpu>).
  std::string text() const;
  Result<uint64_t> text_uint() const;

  // Child elements (not text or comments), in document order. Looking a
  // child up marks it consumed.
  std::vector<Node> children() const;
  std::vector<Node> children(std::string_view name) const;
  std::optional<Node> child(std::string_view name) const;
  // An XML error when there is more than one child of that name.
  Result<std::optional<Node>> unique_child(std::string_view name) const;

  // The serialized child elements, verbatim, joined by SEPARATOR: what
  // libvirt keeps for <metadata>. Marks the whole subtree consumed.
  std::string inner_xml(std::string_view separator = "\n") const;
  // The element itself serialized, verbatim (a snapshot's embedded
  // <domain>, handed to the domain parser). Marks the subtree consumed.
  std::string outer_xml() const;

  // Marks the element consumed without reading it (the refusal walk
  // uses raw_attributes(), which marks nothing).
  void consume() const;
  std::vector<std::pair<std::string, std::string>> raw_attributes() const;
  std::vector<Node> raw_children() const;

 private:
  friend class Document;
  Node(DocumentState* state, _xmlNode* node) : state_(state), node_(node) {}
  DocumentState* state_;
  _xmlNode* node_;
};

// What nobody read: an element (attribute empty) or one attribute of one.
struct Unconsumed {
  std::string path;
  std::string attribute;
};

class Document {
 public:
  // Parses TEXT under LIMITS. Errors: kCorrupt "XML error: ..." for a
  // malformed or DOCTYPE-carrying document, kInvalidArgument for one over
  // the size cap.
  static Result<Document> parse(std::string_view text, const ParseLimits& limits = {});

  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  Node root() const;
  // Elements and attributes under the root that were never read, in
  // document order; an unread element's subtree is not listed.
  std::vector<Unconsumed> unconsumed() const;

  // Validates against the RelaxNG schema at SCHEMA_PATH (libvirt's
  // /usr/share/libvirt/schemas/domain.rng). kNotFound when the schema file
  // is missing, kCorrupt "XML error: ..." with the schema's first messages
  // when the document does not validate.
  Result<void> validate_relaxng(const std::string& schema_path) const;

 private:
  explicit Document(std::unique_ptr<DocumentState> state);
  std::unique_ptr<DocumentState> state_;
};

}  // namespace amber::xml
