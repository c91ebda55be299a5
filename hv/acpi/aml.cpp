// SPDX-License-Identifier: GPL-2.0-or-later
#include "hv/acpi/aml.h"

#include <cassert>

namespace amber::hv::acpi {
namespace {
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0A;
constexpr uint8_t kWordPrefix = 0x0B, kDWordPrefix = 0x0C, kStringPrefix = 0x0D;
constexpr uint8_t kQWordPrefix = 0x0E, kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14, kDualNamePrefix = 0x2E, kMultiNamePrefix = 0x2F;
constexpr uint8_t kExtOpPrefix = 0x5B, kRootChar = 0x5C, kParentPrefix = 0x5E;
constexpr uint8_t kLocal0 = 0x60, kArg0 = 0x68, kStoreOp = 0x70, kAndOp = 0x7B, kOrOp = 0x7D;
constexpr uint8_t kCreateDWordFieldOp = 0x8A, kLEqualOp = 0x93, kLLessOp = 0x95;
constexpr uint8_t kIfOp = 0xA0, kElseOp = 0xA1, kWhileOp = 0xA2, kReturnOp = 0xA4;
constexpr uint8_t kOpRegionOp = 0x80, kFieldOp = 0x81, kDeviceOp = 0x82, kProcessorOp = 0x83;

void put_le(Bytes& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Opcode(s), PkgLength, then BODY.
Bytes with_length(std::initializer_list<uint8_t> opcode, const Bytes& body) {
  Bytes out(opcode);
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

void name_segment(Bytes& out, std::string_view segment) {
  assert(!segment.empty() && segment.size() <= 4);
  for (size_t i = 0; i < 4; ++i) out.push_back(i < segment.size() ? segment[i] : '_');
}

Bytes binary(uint8_t opcode, const Bytes& a, const Bytes& b, const Bytes& target) {
  Bytes out{opcode};
  append(out, a);
  append(out, b);
  append(out, target.empty() ? Bytes{kZeroOp} : target);
  return out;
}
}  // namespace

void append(Bytes& out, const Bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) append(out, part);
  return out;
}

Bytes pkg_length(size_t length, bool include_self) {
  // The encoded value counts its own bytes when include_self is set: pick
  // the smallest encoding whose range holds the total.
  unsigned count = 1;
  size_t total = length + (include_self ? 1 : 0);
  if (total > 0x3F) {
    for (count = 2; count <= 4; ++count) {
      total = length + (include_self ? count : 0);
      if (total < (size_t{1} << (4 + 8 * (count - 1)))) break;
    }
  }
  assert(count <= 4);
  Bytes out;
  if (count == 1) {
    out.push_back(static_cast<uint8_t>(total));
    return out;
  }
  out.push_back(static_cast<uint8_t>(((count - 1) << 6) | (total & 0x0F)));
  for (unsigned i = 1; i < count; ++i)
    out.push_back(static_cast<uint8_t>(total >> (4 + 8 * (i - 1))));
  return out;
}

Bytes name_string(std::string_view path) {
  Bytes out;
  while (!path.empty() && (path.front() == '\\' || path.front() == '^')) {
    out.push_back(path.front() == '\\' ? kRootChar : kParentPrefix);
    path.remove_prefix(1);
  }
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    segments.push_back(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  if (segments.empty()) {
    out.push_back(0x00);  // NullName ("\" alone)
  } else if (segments.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segments.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segments.size()));
  }
  for (std::string_view segment : segments) name_segment(out, segment);
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  if (value <= 0xFF) {
    out.push_back(kBytePrefix);
    put_le(out, value, 1);
  } else if (value <= 0xFFFF) {
    out.push_back(kWordPrefix);
    put_le(out, value, 2);
  } else if (value <= 0xFFFFFFFF) {
    out.push_back(kDWordPrefix);
    put_le(out, value, 4);
  } else {
    out.push_back(kQWordPrefix);
    put_le(out, value, 8);
  }
  return out;
}

Bytes string(std::string_view text) {
  Bytes out(text.size() + 2, 0);
  out[0] = kStringPrefix;
  for (size_t i = 0; i < text.size(); ++i) out[i + 1] = static_cast<uint8_t>(text[i]);
  return out;
}

uint32_t eisa_id_value(std::string_view id) {
  assert(id.size() == 7);
  auto letter = [](char c) { return static_cast<uint32_t>(c - '@') & 0x1F; };
  auto hex = [](char c) {
    return static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10) & 0xF;
  };
  const uint32_t vendor = (letter(id[0]) << 10) | (letter(id[1]) << 5) | letter(id[2]);
  const uint32_t product = (hex(id[3]) << 12) | (hex(id[4]) << 8) | (hex(id[5]) << 4) | hex(id[6]);
  // Both halves are stored big-endian in a little-endian DWord.
  return ((vendor >> 8) & 0xFF) | ((vendor & 0xFF) << 8) | ((product >> 8) << 16) |
         ((product & 0xFF) << 24);
}

Bytes eisa_id(std::string_view id) {
  Bytes out{kDWordPrefix};
  put_le(out, eisa_id_value(id), 4);
  return out;
}

Bytes name(std::string_view path, const Bytes& value) {
  Bytes out{kNameOp};
  append(out, name_string(path));
  append(out, value);
  return out;
}

Bytes scope(std::string_view path, const Bytes& body) {
  return with_length({kScopeOp}, cat({name_string(path), body}));
}

Bytes device(std::string_view path, const Bytes& body) {
  return with_length({kExtOpPrefix, kDeviceOp}, cat({name_string(path), body}));
}

Bytes method(std::string_view path, unsigned args, bool serialized, const Bytes& body) {
  assert(args <= 7);
  const uint8_t flags = static_cast<uint8_t>(args | (serialized ? 0x08 : 0));
  return with_length({kMethodOp}, cat({name_string(path), Bytes{flags}, body}));
}

Bytes processor(std::string_view path, uint8_t id, uint32_t pblk, uint8_t pblk_length,
                const Bytes& body) {
  Bytes head = name_string(path);
  head.push_back(id);
  put_le(head, pblk, 4);
  head.push_back(pblk_length);
  return with_length({kExtOpPrefix, kProcessorOp}, cat({head, body}));
}

Bytes package(const std::vector<Bytes>& elements) {
  assert(elements.size() <= 0xFF);
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const Bytes& element : elements) append(body, element);
  return with_length({kPackageOp}, body);
}

Bytes buffer(const Bytes& data) {
  return with_length({kBufferOp}, cat({integer(data.size()), data}));
}

Bytes operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length) {
  Bytes out{kExtOpPrefix, kOpRegionOp};
  append(out, name_string(path));
  out.push_back(static_cast<uint8_t>(space));
  append(out, integer(offset));
  append(out, integer(length));
  return out;
}

Bytes field(std::string_view region, uint8_t access, const std::vector<FieldUnit>& units) {
  Bytes body = name_string(region);
  body.push_back(access);  // NoLock (bit 4 clear), Preserve (bits 5-6 zero)
  for (const FieldUnit& unit : units) {
    if (unit.name.empty())
      body.push_back(0x00);  // ReservedField
    else
      name_segment(body, unit.name);
    append(body, pkg_length(unit.bits, false));
  }
  return with_length({kExtOpPrefix, kFieldOp}, body);
}

Bytes arg(unsigned n) {
  assert(n <= 6);
  return {static_cast<uint8_t>(kArg0 + n)};
}

Bytes local(unsigned n) {
  assert(n <= 7);
  return {static_cast<uint8_t>(kLocal0 + n)};
}

Bytes ret(const Bytes& value) {
  return cat({Bytes{kReturnOp}, value});
}
Bytes if_(const Bytes& predicate, const Bytes& body) {
  return with_length({kIfOp}, cat({predicate, body}));
}
Bytes else_(const Bytes& body) {
  return with_length({kElseOp}, body);
}
Bytes while_(const Bytes& predicate, const Bytes& body) {
  return with_length({kWhileOp}, cat({predicate, body}));
}
Bytes store(const Bytes& source, const Bytes& target) {
  return cat({Bytes{kStoreOp}, source, target});
}
Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target) {
  return binary(kAndOp, a, b, target);
}
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target) {
  return binary(kOrOp, a, b, target);
}
Bytes lless(const Bytes& a, const Bytes& b) {
  return cat({Bytes{kLLessOp}, a, b});
}
Bytes lequal(const Bytes& a, const Bytes& b) {
  return cat({Bytes{kLEqualOp}, a, b});
}
Bytes create_dword_field(const Bytes& source, const Bytes& index, std::string_view path) {
  return cat({Bytes{kCreateDWordFieldOp}, source, index, name_string(path)});
}

ResourceTemplate& ResourceTemplate::io(uint16_t min, uint16_t max, uint8_t align, uint8_t length) {
  data_.push_back(0x47);  // small item 8 (I/O port), length 7
  data_.push_back(0x01);  // 16-bit decode
  put_le(data_, min, 2);
  put_le(data_, max, 2);
  data_.push_back(align);
  data_.push_back(length);
  return *this;
}

ResourceTemplate& ResourceTemplate::irq_no_flags(std::initializer_list<unsigned> irqs) {
  uint16_t mask = 0;
  for (unsigned irq : irqs) mask = static_cast<uint16_t>(mask | (1u << irq));
  data_.push_back(0x22);  // small item 4 (IRQ), length 2: edge, high, exclusive
  put_le(data_, mask, 2);
  return *this;
}

ResourceTemplate& ResourceTemplate::interrupt(std::initializer_list<uint32_t> gsis) {
  data_.push_back(0x89);  // large item 9 (extended interrupt)
  put_le(data_, 2 + 4 * gsis.size(), 2);
  data_.push_back(0x09);  // consumer, level, active-high, shared
  data_.push_back(static_cast<uint8_t>(gsis.size()));
  for (uint32_t gsi : gsis) put_le(data_, gsi, 4);
  return *this;
}

ResourceTemplate& ResourceTemplate::dma(uint8_t channel_mask, uint8_t flags) {
  data_.push_back(0x2A);  // small item 5 (DMA), length 2
  data_.push_back(channel_mask);
  data_.push_back(flags);
  return *this;
}

void ResourceTemplate::address_space(uint8_t tag, uint8_t type, uint8_t type_flags, unsigned width,
                                     uint64_t min, uint64_t max) {
  data_.push_back(tag);
  put_le(data_, 3 + 5 * width, 2);  // type, flags, type flags, 5 fields
  data_.push_back(type);
  data_.push_back(0x0C);  // producer, MinFixed, MaxFixed, positive decode
  data_.push_back(type_flags);
  put_le(data_, 0, width);  // granularity
  put_le(data_, min, width);
  put_le(data_, max, width);
  put_le(data_, 0, width);  // translation
  put_le(data_, max - min + 1, width);
}

ResourceTemplate& ResourceTemplate::word_bus(uint16_t min, uint16_t max) {
  address_space(0x88, 2, 0x00, 2, min, max);
  return *this;
}

ResourceTemplate& ResourceTemplate::word_io(uint16_t min, uint16_t max) {
  address_space(0x88, 1, 0x03, 2, min, max);
  return *this;
}

ResourceTemplate& ResourceTemplate::dword_memory(uint32_t min, uint32_t max, bool cacheable) {
  address_space(0x87, 0, cacheable ? 0x03 : 0x01, 4, min, max);
  return *this;
}

ResourceTemplate& ResourceTemplate::memory32_fixed(uint32_t base, uint32_t length) {
  data_.push_back(0x86);  // large item 6 (32-bit fixed memory)
  put_le(data_, 9, 2);
  data_.push_back(0x01);  // read-write
  put_le(data_, base, 4);
  put_le(data_, length, 4);
  return *this;
}

Bytes ResourceTemplate::bytes() const {
  Bytes out = data_;
  out.push_back(0x79);  // end tag
  out.push_back(0x00);  // checksum 0: "the template is valid"
  return out;
}

Bytes ResourceTemplate::buffer() const {
  return acpi::buffer(bytes());
}

}  // namespace amber::hv::acpi
