// SPDX-License-Identifier: GPL-2.0-or-later
// The one list of what libvirt's schema allows and Amber refuses (yet).
// Internal to xml/domain/; parse_domain and find_unsupported use it.
#pragma once

#include <vector>

#include "xml/domain/domain.h"
#include "xml/node.h"

namespace amber::xml {

// Every refusal in the tree under ROOT, in document order. Reads raw
// attributes only (marks nothing consumed).
std::vector<Refusal> find_refusals(const Node& root);

}  // namespace amber::xml
