// SPDX-License-Identifier: GPL-2.0-or-later
// A small ACPI Machine Language (AML) encoder: just the terms amber-vmm's
// DSDT uses (ACPI 6.x §20). Each function returns the encoded bytes of one
// term; callers concatenate them with cat() into object lists.
//  - pkg_length: PkgLength, 1..4 bytes (§20.2.4); include_self=false for
//    the bit widths in a field list, which count only the field;
//  - name_string: "\_SB.PCI0", "^LNK", "PRQ0"; segments are padded with
//    '_' to 4 characters (§20.2.2);
//  - integer: ZeroOp/OneOp or the smallest Byte/Word/DWord/QWord constant.
// Refuses nothing at run time: the inputs are amber-vmm's own constants,
// and a bad one (a name segment over 4 characters, a package of over 255
// elements) is a programming error caught by assert and the unit tests.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace amber::hv::acpi {

using Bytes = std::vector<uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts);
void append(Bytes& out, const Bytes& more);

Bytes pkg_length(size_t length, bool include_self = true);
Bytes name_string(std::string_view path);
Bytes integer(uint64_t value);
Bytes string(std::string_view text);
// EISA ID "PNP0A03" as the DWordConst it compresses to.
uint32_t eisa_id_value(std::string_view id);
Bytes eisa_id(std::string_view id);

// Named objects and scopes.
Bytes name(std::string_view path, const Bytes& value);
Bytes scope(std::string_view path, const Bytes& body);
Bytes device(std::string_view path, const Bytes& body);
Bytes method(std::string_view path, unsigned args, bool serialized, const Bytes& body);
Bytes processor(std::string_view path, uint8_t id, uint32_t pblk, uint8_t pblk_length,
                const Bytes& body);

// Data objects.
Bytes package(const std::vector<Bytes>& elements);
Bytes buffer(const Bytes& data);

// Operation regions and fields.
enum class RegionSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1, kPciConfig = 2 };
Bytes operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length);
struct FieldUnit {
  std::string_view name;  // empty: reserved (skipped) bits
  unsigned bits;
};
// Access type: 1 ByteAcc, 2 WordAcc, 3 DWordAcc; NoLock; Preserve.
Bytes field(std::string_view region, uint8_t access, const std::vector<FieldUnit>& units);

// Statements and expressions. A target of {} is the null target.
Bytes arg(unsigned n);
Bytes local(unsigned n);
Bytes ret(const Bytes& value);
Bytes if_(const Bytes& predicate, const Bytes& body);
Bytes else_(const Bytes& body);
Bytes while_(const Bytes& predicate, const Bytes& body);
Bytes store(const Bytes& source, const Bytes& target);
Bytes and_(const Bytes& a, const Bytes& b, const Bytes& target = {});
Bytes or_(const Bytes& a, const Bytes& b, const Bytes& target = {});
Bytes lless(const Bytes& a, const Bytes& b);
Bytes lequal(const Bytes& a, const Bytes& b);
Bytes create_dword_field(const Bytes& source, const Bytes& index, std::string_view path);

// A ResourceTemplate (§6.4): descriptors in order, then the end tag.
class ResourceTemplate {
 public:
  ResourceTemplate& io(uint16_t min, uint16_t max, uint8_t align, uint8_t length);
  ResourceTemplate& irq_no_flags(std::initializer_list<unsigned> irqs);
  // Extended interrupt: consumer, level, active-high, shared (0x09).
  ResourceTemplate& interrupt(std::initializer_list<uint32_t> gsis);
  ResourceTemplate& dma(uint8_t channel_mask, uint8_t flags);
  // Producer, MinFixed, MaxFixed, PosDecode (general flags 0x0C).
  ResourceTemplate& word_bus(uint16_t min, uint16_t max);
  ResourceTemplate& word_io(uint16_t min, uint16_t max);  // EntireRange
  ResourceTemplate& dword_memory(uint32_t min, uint32_t max, bool cacheable);
  ResourceTemplate& memory32_fixed(uint32_t base, uint32_t length);  // read-write
  // The descriptors plus EndTag, as the bytes of a Buffer.
  Bytes bytes() const;
  // BufferOp wrapping bytes().
  Bytes buffer() const;

 private:
  void address_space(uint8_t tag, uint8_t type, uint8_t type_flags, unsigned width, uint64_t min,
                     uint64_t max);
  Bytes data_;
};

}  // namespace amber::hv::acpi
