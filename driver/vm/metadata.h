// SPDX-License-Identifier: GPL-2.0-or-later
// <metadata> elements by namespace, as virDomainGetMetadata /
// virDomainSetMetadata address them. The domain keeps <metadata>'s
// children verbatim (xml::Domain::metadata); these functions pick one
// element out of that text, drop it or build a new one.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace amber::driver::vm {

// The top-level elements of well-formed METADATA, verbatim.
std::vector<std::string> split_metadata(std::string_view metadata);
// The namespace URI of ELEMENT's own name (from its xmlns:PREFIX or xmlns).
std::optional<std::string> element_namespace(std::string_view element);
// The element in namespace URI, or nullopt.
std::optional<std::string> find_metadata(std::string_view metadata, std::string_view uri);
// METADATA without the elements in namespace URI.
std::string remove_metadata(std::string_view metadata, std::string_view uri);
// VALUE (one XML element) with every unprefixed element name put in
// namespace URI as KEY:name; kInvalidArgument for a bad key or a value
// that is not one well-formed element.
Result<std::string> make_metadata_element(std::string_view value, std::string_view key,
                                          std::string_view uri);

}  // namespace amber::driver::vm
