// SPDX-License-Identifier: GPL-2.0-or-later
// luks-mutate: a seeded mutation fuzzer for the LUKS1 header parser and
// unlock (block/crypto/luks.h), the part of an encrypted image the engine
// reads before it knows anything.
//
// The template is a volume made by LuksVolume::create in memory. Each
// iteration applies a few mutations to the header (bit flips, big-endian
// words rewritten with edge values, text fields replaced) and sometimes to
// the key material, then parses it and opens it with and without the
// passphrase, over an area that may be cut short. Errors are the expected
// outcome; this looks for a crash or a sanitizer report, and for an
// unlocked volume that does not decrypt what the template encrypted while
// its cipher fields are unchanged. Opening with the passphrase is skipped
// when a mutation raised an iteration count past kMaxFuzzIterations: that
// is slow by design (PBKDF2), not a bug. Stops after ITERATIONS or SECONDS;
// prints the seed of a failing iteration.
//
// Usage: luks-mutate [-s SEED] [-n ITERATIONS] [-t SECONDS]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "block/crypto/luks.h"
#include "block/io/memory_file.h"
#include "tests/fuzz/xml_fuzz.h"

namespace {

namespace crypto = amber::block::crypto;
namespace io = amber::block::io;
using amber::fuzz::Rng;

constexpr uint32_t kTemplateIterations = 1000;
// An iteration count the fuzzer still unlocks with (about a millisecond).
constexpr uint32_t kMaxFuzzIterations = 20000;
constexpr const char* kPassphrase = "fuzz";

const uint32_t kEdgeWords[] = {0,          1,          7,          8,          4000,       4040,
                               0x7fffffff, 0x80000000, 0xffffffff, 0x00AC71F3, 0x0000DEAD, 64};
const char* const kTexts[] = {
    "aes",        "serpent", "xts-plain64", "cbc-essiv:sha256", "cbc-plain", "ecb",
    "xts-essiv:", "sha1",    "sha256",      "ripemd160",        "",          "cbc-essiv:sha1"};
// Offsets of the big-endian words a mutation may rewrite.
std::vector<size_t> word_offsets() {
  std::vector<size_t> v = {104, 108, 164};
  for (size_t slot = 0; slot < 8; ++slot)
    for (size_t field : {0, 4, 40, 44}) v.push_back(208 + slot * 48 + field);
  return v;
}

void put_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void mutate(std::vector<uint8_t>& image, Rng& rng) {
  static const std::vector<size_t> words = word_offsets();
  const uint64_t count = 1 + rng.below(4);
  for (uint64_t i = 0; i < count; ++i) {
    switch (rng.below(5)) {
      case 0:
        image[rng.below(crypto::kLuksHeaderBytes)] ^= static_cast<uint8_t>(1u << rng.below(8));
        break;
      case 1:
      case 2:
        put_be32(image.data() + words[rng.below(words.size())],
                 rng.below(2) ? kEdgeWords[rng.below(std::size(kEdgeWords))]
                              : static_cast<uint32_t>(rng.next()));
        break;
      case 3: {
        const size_t field = 8 + 32 * rng.below(3);  // cipher name, mode, hash
        const char* text = kTexts[rng.below(std::size(kTexts))];
        std::memset(image.data() + field, 0, 32);
        std::memcpy(image.data() + field, text, std::strlen(text));
        break;
      }
      default:
        image[4096 + rng.below(256000)] ^= 0xff;  // slot 0's key material
        break;
    }
  }
}

bool slow(const crypto::LuksHeader& h) {
  if (h.mk_digest_iterations > kMaxFuzzIterations) return true;
  for (const auto& s : h.slots)
    if (s.active == crypto::kLuksSlotActive && s.iterations > kMaxFuzzIterations) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, iterations = 1000000, seconds = 3;
  int opt;
  while ((opt = getopt(argc, argv, "s:n:t:")) != -1) {
    if (opt == 's')
      seed = std::strtoull(optarg, nullptr, 0);
    else if (opt == 'n')
      iterations = std::strtoull(optarg, nullptr, 0);
    else if (opt == 't')
      seconds = std::strtoull(optarg, nullptr, 0);
    else
      return 2;
  }
  io::MemoryFile made;
  crypto::LuksCreateOptions options;
  options.fixed_iterations = kTemplateIterations;
  const crypto::SecretBytes passphrase{std::string_view(kPassphrase)};
  auto volume = crypto::LuksVolume::create(made, 0, options, passphrase);
  if (!volume.ok()) {
    std::fprintf(stderr, "luks-mutate: template: %s\n", volume.error().message().c_str());
    return 1;
  }
  const uint64_t area = (*volume)->payload_bytes();
  std::vector<uint8_t> image(area);
  if (!io::read_exact(made, 0, image.data(), image.size()).ok()) return 1;
  std::vector<uint8_t> plain(1024, 0x5a), sealed = plain;
  if (!(*volume)->cipher()->encrypt(9, sealed.data(), sealed.size()).ok()) return 1;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  uint64_t done = 0, unlocked = 0;
  for (; done < iterations && std::chrono::steady_clock::now() < deadline; ++done) {
    const uint64_t iteration_seed = seed * 1000003 + done;
    Rng rng{iteration_seed | 1};
    std::vector<uint8_t> bytes = image;
    mutate(bytes, rng);
    const uint64_t size = rng.below(4) == 0 ? rng.below(area) : area;
    bytes.resize(size);
    io::MemoryFile file;
    if (!bytes.empty() && !file.write_at(0, std::as_bytes(std::span(bytes))).ok()) return 1;
    auto header = crypto::parse_luks_header(bytes);
    (void)crypto::LuksVolume::open(file, 0, size, nullptr);
    if (!header.ok() || slow(*header)) continue;
    auto opened = crypto::LuksVolume::open(file, 0, size, &passphrase);
    if (!opened.ok()) continue;
    ++unlocked;
    const bool same_cipher = (*opened)->header().cipher_name == "aes" &&
                             (*opened)->header().cipher_mode == "xts-plain64" &&
                             (*opened)->header().key_bytes == 64;
    std::vector<uint8_t> data = sealed;
    if (!(*opened)->cipher()->decrypt(9, data.data(), data.size()).ok() ||
        (same_cipher && data != plain)) {
      std::fprintf(stderr, "luks-mutate: seed %llu: unlocked but decrypts wrongly\n",
                   static_cast<unsigned long long>(iteration_seed));
      return 1;
    }
  }
  std::printf("luks-mutate: %llu iterations, %llu unlocked\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(unlocked));
  return 0;
}
