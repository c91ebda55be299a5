// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/node.h"

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <sys/stat.h>

#include <charconv>
#include <unordered_set>

namespace amber::xml {

Error xml_error(std::string message) {
  return Error(ErrorKind::kCorrupt, "XML error: " + std::move(message));
}

class DocumentState {
 public:
  explicit DocumentState(xmlDocPtr doc) : doc_(doc) {}
  ~DocumentState() { xmlFreeDoc(doc_); }
  DocumentState(const DocumentState&) = delete;
  DocumentState& operator=(const DocumentState&) = delete;

  xmlDocPtr doc() const { return doc_; }
  void mark(const void* p) { consumed_.insert(p); }
  bool seen(const void* p) const { return consumed_.count(p) != 0; }

 private:
  xmlDocPtr doc_;
  std::unordered_set<const void*> consumed_;
};

namespace {

const char* as_char(const xmlChar* s) {
  return reinterpret_cast<const char*>(s);
}

std::string qualified_name(const xmlNode* node) {
  std::string name;
  if (node->ns != nullptr && node->ns->prefix != nullptr) {
    name = std::string(as_char(node->ns->prefix)) + ":";
  }
  return name + as_char(node->name);
}

std::string attribute_name(const xmlAttr* attr) {
  std::string name;
  if (attr->ns != nullptr && attr->ns->prefix != nullptr) {
    name = std::string(as_char(attr->ns->prefix)) + ":";
  }
  return name + as_char(attr->name);
}

std::string attribute_value(const xmlAttr* attr) {
  xmlChar* value = xmlNodeListGetString(attr->doc, attr->children, 1);
  std::string out = value != nullptr ? as_char(value) : "";
  xmlFree(value);
  return out;
}

xmlAttr* find_attribute(xmlNode* node, std::string_view name) {
  for (xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) {
    if (attribute_name(attr) == name) return attr;
  }
  return nullptr;
}

void mark_subtree(DocumentState* state, xmlNode* node) {
  state->mark(node);
  for (xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) state->mark(attr);
  for (xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) mark_subtree(state, c);
  }
}

// The line of the prolog's first DOCTYPE, or 0. A DOCTYPE may only stand
// before the root element, after the XML declaration, comments and PIs.
int doctype_line(std::string_view text) {
  int line = 1;
  std::size_t i = 0;
  auto skip_to = [&](std::string_view end) {
    const std::size_t at = text.find(end, i);
    const std::size_t stop = at == std::string_view::npos ? text.size() : at + end.size();
    for (; i < stop; ++i) line += text[i] == '\n';
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      line += c == '\n';
      ++i;
    } else if (text.substr(i, 2) == "<?") {
      skip_to("?>");
    } else if (text.substr(i, 4) == "<!--") {
      skip_to("-->");
    } else if (text.substr(i, 9) == "<!DOCTYPE") {
      return line;
    } else {
      return 0;
    }
  }
  return 0;
}

void collect_unconsumed(const DocumentState* state, xmlNode* node, const std::string& path,
                        std::vector<Unconsumed>& out) {
  for (xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) {
    if (!state->seen(attr)) out.push_back({path, attribute_name(attr)});
  }
  for (xmlNode* c = node->children; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    const std::string child_path = path + "/" + qualified_name(c);
    if (!state->seen(c)) {
      out.push_back({child_path, ""});
    } else {
      collect_unconsumed(state, c, child_path, out);
    }
  }
}

std::string trim_message(const char* message) {
  std::string m = message != nullptr ? message : "unknown error";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// Collects RelaxNG validity messages through libxml2's structured error
// callback (per validation context, no global state).
struct SchemaMessages {
  std::vector<std::string> lines;
};

void collect_schema_error(void* data, xmlErrorPtr error) {
  auto* messages = static_cast<SchemaMessages*>(data);
  if (messages->lines.size() >= 3 || error == nullptr) return;
  std::string line = trim_message(error->message);
  if (error->node != nullptr) {
    const auto* node = static_cast<const xmlNode*>(error->node);
    line =
        "element " + qualified_name(node) + " (line " + std::to_string(node->line) + "): " + line;
  }
  messages->lines.push_back(std::move(line));
}

}  // namespace

std::string Node::name() const {
  return qualified_name(node_);
}

std::string Node::path() const {
  std::string out;
  for (const xmlNode* n = node_; n != nullptr && n->type == XML_ELEMENT_NODE; n = n->parent) {
    out = "/" + qualified_name(n) + out;
  }
  return out;
}

int Node::line() const {
  return static_cast<int>(node_->line);
}

std::optional<std::string> Node::attribute(std::string_view name) const {
  xmlAttr* attr = find_attribute(node_, name);
  if (attr == nullptr) return std::nullopt;
  state_->mark(attr);
  return attribute_value(attr);
}

bool Node::has_attribute(std::string_view name) const {
  return find_attribute(node_, name) != nullptr;
}

Result<std::string> Node::required_attribute(std::string_view name) const {
  auto value = attribute(name);
  if (!value) return xml_error("missing attribute " + path() + "/@" + std::string(name));
  return *value;
}

Result<std::optional<uint64_t>> Node::attribute_uint(std::string_view name) const {
  auto value = attribute(name);
  if (!value) return std::optional<uint64_t>();
  std::string_view digits = *value;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return xml_error("invalid number '" + *value + "' in " + path() + "/@" + std::string(name));
  }
  return std::optional<uint64_t>(out);
}

Result<std::optional<bool>> Node::attribute_bool(std::string_view name) const {
  auto value = attribute(name);
  if (!value) return std::optional<bool>();
  if (*value == "yes" || *value == "on") return std::optional<bool>(true);
  if (*value == "no" || *value == "off") return std::optional<bool>(false);
  return xml_error("invalid value '" + *value + "' in " + path() + "/@" + std::string(name) +
                   " (expected yes/no or on/off)");
}

std::string Node::text() const {
  xmlChar* content = xmlNodeGetContent(node_);
  std::string out = content != nullptr ? as_char(content) : "";
  xmlFree(content);
  return out;
}

Result<uint64_t> Node::text_uint() const {
  std::string value = text();
  std::size_t first = value.find_first_not_of(" \t\r\n");
  std::size_t last = value.find_last_not_of(" \t\r\n");
  std::string_view digits;
  if (first != std::string::npos) digits = std::string_view(value).substr(first, last - first + 1);
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return xml_error("invalid number '" + value + "' in " + path());
  }
  return out;
}

std::vector<Node> Node::raw_children() const {
  std::vector<Node> out;
  for (xmlNode* c = node_->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(Node(state_, c));
  }
  return out;
}

std::vector<Node> Node::children() const {
  std::vector<Node> out = raw_children();
  for (const Node& n : out) n.consume();
  return out;
}

std::vector<Node> Node::children(std::string_view name) const {
  std::vector<Node> out;
  for (const Node& n : raw_children()) {
    if (n.name() == name) {
      n.consume();
      out.push_back(n);
    }
  }
  return out;
}

std::optional<Node> Node::child(std::string_view name) const {
  for (const Node& n : raw_children()) {
    if (n.name() == name) {
      n.consume();
      return n;
    }
  }
  return std::nullopt;
}

Result<std::optional<Node>> Node::unique_child(std::string_view name) const {
  std::vector<Node> found = children(name);
  if (found.size() > 1) {
    return xml_error("more than one " + path() + "/" + std::string(name) + " (line " +
                     std::to_string(found[1].line()) + ")");
  }
  if (found.empty()) return std::optional<Node>();
  return std::optional<Node>(found[0]);
}

std::string Node::inner_xml(std::string_view separator) const {
  mark_subtree(state_, node_);
  std::string out;
  xmlBufferPtr buffer = xmlBufferCreate();
  for (xmlNode* c = node_->children; c != nullptr; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    xmlBufferEmpty(buffer);
    if (xmlNodeDump(buffer, node_->doc, c, 0, 0) >= 0) {
      if (!out.empty()) out += separator;
      out.append(as_char(xmlBufferContent(buffer)),
                 static_cast<std::size_t>(xmlBufferLength(buffer)));
    }
  }
  xmlBufferFree(buffer);
  return out;
}

std::string Node::outer_xml() const {
  mark_subtree(state_, node_);
  std::string out;
  xmlBufferPtr buffer = xmlBufferCreate();
  if (xmlNodeDump(buffer, node_->doc, node_, 0, 0) >= 0) {
    out.assign(as_char(xmlBufferContent(buffer)),
               static_cast<std::size_t>(xmlBufferLength(buffer)));
  }
  xmlBufferFree(buffer);
  return out;
}

void Node::consume() const {
  state_->mark(node_);
}

std::vector<std::pair<std::string, std::string>> Node::raw_attributes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (xmlAttr* attr = node_->properties; attr != nullptr; attr = attr->next) {
    out.emplace_back(attribute_name(attr), attribute_value(attr));
  }
  return out;
}

Result<Document> Document::parse(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error(ErrorKind::kInvalidArgument,
                 "XML error: document is " + std::to_string(text.size()) + " bytes, over the " +
                     std::to_string(limits.max_bytes) + "-byte limit");
  }
  if (text.size() > static_cast<std::size_t>(INT32_MAX)) return xml_error("document too large");
  if (const int line = doctype_line(text); line != 0) {
    return xml_error("line " + std::to_string(line) +
                     ": DOCTYPE declarations are not allowed (no DTDs, no entities)");
  }
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr) return Error(ErrorKind::kInternal, "XML error: out of memory");
  // No network, no DTD loading or defaulted attributes, no entity
  // substitution (XML_PARSE_NOENT stays off), no errors on stderr.
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()), "domain.xml",
                                    nullptr, options);
  if (doc == nullptr || !ctxt->wellFormed) {
    const xmlError* error = xmlCtxtGetLastError(ctxt);
    std::string message = "line " + std::to_string(error != nullptr ? error->line : 0) + ": " +
                          trim_message(error != nullptr ? error->message : nullptr);
    if (doc != nullptr) xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return xml_error(std::move(message));
  }
  xmlFreeParserCtxt(ctxt);
  auto state = std::make_unique<DocumentState>(doc);
  if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
    return xml_error("DOCTYPE declarations are not allowed (no DTDs, no entities)");
  }
  if (xmlDocGetRootElement(doc) == nullptr) return xml_error("the document has no root element");
  return Document(std::move(state));
}

Document::Document(std::unique_ptr<DocumentState> state) : state_(std::move(state)) {}
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;
Document::~Document() = default;

Node Document::root() const {
  xmlNode* root = xmlDocGetRootElement(state_->doc());
  state_->mark(root);
  return Node(state_.get(), root);
}

std::vector<Unconsumed> Document::unconsumed() const {
  std::vector<Unconsumed> out;
  xmlNode* root = xmlDocGetRootElement(state_->doc());
  const std::string path = "/" + qualified_name(root);
  if (!state_->seen(root)) {
    out.push_back({path, ""});
  } else {
    collect_unconsumed(state_.get(), root, path, out);
  }
  return out;
}

Result<void> Document::validate_relaxng(const std::string& schema_path) const {
  struct stat st {};
  if (stat(schema_path.c_str(), &st) != 0) {
    return Error(ErrorKind::kNotFound, "RelaxNG schema '" + schema_path + "' is missing", errno);
  }
  xmlRelaxNGParserCtxtPtr parser = xmlRelaxNGNewParserCtxt(schema_path.c_str());
  SchemaMessages schema_messages;
  xmlRelaxNGSetParserStructuredErrors(parser, collect_schema_error, &schema_messages);
  xmlRelaxNGPtr schema = xmlRelaxNGParse(parser);
  xmlRelaxNGFreeParserCtxt(parser);
  if (schema == nullptr) {
    return Error(ErrorKind::kInternal,
                 "cannot parse RelaxNG schema '" + schema_path + "'" +
                     (schema_messages.lines.empty() ? "" : ": " + schema_messages.lines[0]));
  }
  xmlRelaxNGValidCtxtPtr valid = xmlRelaxNGNewValidCtxt(schema);
  SchemaMessages messages;
  xmlRelaxNGSetValidStructuredErrors(valid, collect_schema_error, &messages);
  const int rc = xmlRelaxNGValidateDoc(valid, state_->doc());
  xmlRelaxNGFreeValidCtxt(valid);
  xmlRelaxNGFree(schema);
  if (rc == 0) return ok();
  std::string joined;
  for (const std::string& line : messages.lines) joined += (joined.empty() ? "" : "; ") + line;
  if (joined.empty()) joined = "validation failed";
  return xml_error("the document does not validate against the schema " + schema_path + ": " +
                   joined);
}

}  // namespace amber::xml
