// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img create`: qemu-img create's command line, option echo and
// messages, on top of block::create_image.
#include "block/tool/create.h"

#include <getopt.h>

#include <algorithm>
#include <cstdio>
#include <span>

#include "block/json_name.h"
#include "block/open_file.h"
#include "block/tool/command.h"

namespace amber::block::tool {
namespace {

constexpr const char* kQcow2Help = R"(Supported qcow2 options:
  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  cluster_size=<size>    - qcow2 cluster size
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  compression_type=<str> - Compression method used for image cluster compression
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.cipher-alg=<str> - Name of encryption cipher algorithm
  encrypt.cipher-mode=<str> - Name of encryption cipher mode
  encrypt.format=<str>   - Encrypt the image, format choices: 'aes', 'luks'
  encrypt.hash-alg=<str> - Name of encryption hash algorithm
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.ivgen-alg=<str> - Name of IV generator algorithm
  encrypt.ivgen-hash-alg=<str> - Name of IV generator hash algorithm
  encrypt.key-secret=<str> - ID of secret providing qcow AES key or LUKS passphrase
  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)
  extended_l2=<bool (on/off)> - Extended L2 tables
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, falloc, full)
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size

The protocol level may support further options.
Specify the target filename to include those options.
)";

constexpr const char* kRawHelp = R"(Supported raw options:
  size=<size>            - Virtual disk size

The protocol level may support further options.
Specify the target filename to include those options.
)";

// The LUKS options, in the order qemu-img echoes them; qcow2 takes them
// with an "encrypt." prefix (after encrypt.format).
const char* const kLuksKeys[] = {"key-secret",     "cipher-alg", "cipher-mode", "ivgen-alg",
                                 "ivgen-hash-alg", "hash-alg",   "iter-time"};

const char* const kQcow2Keys[] = {
    "backing_file",           "backing_fmt",         "data_file",
    "data_file_raw",          "cluster_size",        "compat",
    "compression_type",       "extended_l2",         "lazy_refcounts",
    "preallocation",          "refcount_bits",       "size",
    "encrypt.format",         "encrypt.key-secret",  "encryption",
    "encrypt.cipher-alg",     "encrypt.cipher-mode", "encrypt.ivgen-alg",
    "encrypt.ivgen-hash-alg", "encrypt.hash-alg",    "encrypt.iter-time"};

bool in_list(const std::string& key, std::span<const char* const> list) {
  for (const char* k : list)
    if (key == k) return true;
  return false;
}

const std::string* find_given(const std::vector<KeyValue>& given, std::string_view key) {
  for (const auto& kv : given)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

Error invalid(std::string message) {
  return Error(ErrorKind::kInvalidArgument, std::move(message));
}

std::string size_param_message(std::string_view key) {
  return "Parameter '" + std::string(key) +
         "' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means "
         "kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.";
}

}  // namespace

Result<CreateArgs> parse_create_args(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"object", required_argument, nullptr, 'O'},
                                 {nullptr, 0, nullptr, 0}};
  CreateArgs args;
  std::string joined;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", kLong, nullptr)) != -1) {
    switch (c) {
      case 'F':
        args.backing_format = optarg;
        break;
      case 'b':
        args.backing_file = optarg;
        break;
      case 'f':
        args.format = optarg;
        break;
      case 'o':
        if (!joined.empty()) joined += ',';
        joined += optarg;
        break;
      case 'q':
        args.quiet = true;
        break;
      case 'u':
        args.unsafe_backing = true;
        break;
      case 'h':
        return Error(ErrorKind::kInvalidArgument, "help");
      case 'O':
        AMBER_TRY(args.secrets.add_object(optarg));
        break;
      default:
        return Error(ErrorKind::kInvalidArgument, getopt_error(c, argv));
    }
  }
  AMBER_TRY_ASSIGN(args.options, parse_option_list(joined));
  bool help = false;
  for (const auto& kv : args.options) help = help || kv.key == "help";
  if (optind >= argc) {
    if (help) return args;
    return Error(ErrorKind::kInvalidArgument, "Expecting image file name");
  }
  args.filename = argv[optind++];
  if (optind < argc) args.size_text = argv[optind++];
  if (optind < argc)
    return Error(ErrorKind::kInvalidArgument, std::string("Unexpected argument: ") + argv[optind]);
  return args;
}

Result<CreatePlan> plan_create(const CreateArgs& args) {
  CreatePlan plan;
  for (const auto& kv : args.options) plan.help = plan.help || kv.key == "help";
  AMBER_TRY_ASSIGN(plan.options.format, parse_format(args.format));
  if (plan.help) return plan;
  const bool qcow2 = plan.options.format == ImageFormat::kQcow2;
  for (const auto& kv : args.options) {
    const bool known =
        qcow2 ? in_list(kv.key, kQcow2Keys)
              : (kv.key == "size" || kv.key == "preallocation" ||
                 (plan.options.format == ImageFormat::kLuks && in_list(kv.key, kLuksKeys)));
    if (!known) return invalid("Invalid parameter '" + kv.key + "'");
    std::string value = kv.value;
    if (kv.key == "size" || kv.key == "cluster_size") {
      auto parsed = parse_size(value);
      if (!parsed.ok()) return invalid(size_param_message(kv.key));
      value = std::to_string(*parsed);
    }
    bool replaced = false;
    for (auto& g : plan.given)
      if (g.key == kv.key) {
        g.value = value;
        replaced = true;
      }
    if (!replaced) plan.given.push_back({kv.key, value});
  }
  if (!args.backing_file.empty()) {
    if (find_given(plan.given, "backing_file"))
      plan.given.erase(std::find_if(plan.given.begin(), plan.given.end(),
                                    [](const KeyValue& kv) { return kv.key == "backing_file"; }));
    plan.given.push_back({"backing_file", args.backing_file});
  }
  if (!args.backing_format.empty()) {
    if (find_given(plan.given, "backing_fmt"))
      plan.given.erase(std::find_if(plan.given.begin(), plan.given.end(),
                                    [](const KeyValue& kv) { return kv.key == "backing_fmt"; }));
    plan.given.push_back({"backing_fmt", args.backing_format});
  }
  if (const auto* size = find_given(plan.given, "size")) {
    if (args.size_text) return invalid("The image size must be specified only once");
    plan.options.size = std::stoull(*size);
  } else if (args.size_text) {
    AMBER_TRY_ASSIGN(uint64_t parsed_size, parse_image_size(*args.size_text));
    plan.options.size = parsed_size;
    plan.given.push_back({"size", std::to_string(parsed_size)});
  }
  if (const auto* b = find_given(plan.given, "backing_file")) {
    if (!qcow2)
      return invalid("Backing file not supported for file format '" +
                     std::string(to_string(plan.options.format)) + "'");
    plan.options.backing_file = *b;
  }
  if (const auto* f = find_given(plan.given, "backing_fmt")) {
    AMBER_TRY_ASSIGN(auto fmt, parse_format(*f));
    plan.options.backing_format = fmt;
  }
  plan.options.backing_check = args.unsafe_backing ? BackingMode::kNone : BackingMode::kOpen;
  plan.secrets = args.secrets;
  return plan;
}

namespace {

// The LUKS options under `prefix` ("encrypt." for qcow2, "" for luks) as
// EncryptOptions, the secret looked up; qemu-img's wording.
Result<EncryptOptions> encrypt_options(const CreatePlan& plan, const std::string& prefix) {
  const auto& g = plan.given;
  EncryptOptions e;
  const std::string* secret = find_given(g, prefix + "key-secret");
  if (secret == nullptr)
    return invalid("Parameter '" + prefix + "key-secret' is required for cipher");
  AMBER_TRY_ASSIGN(e.passphrase, plan.secrets.find(*secret));
  if (const auto* v = find_given(g, prefix + "cipher-alg")) {
    AMBER_TRY_ASSIGN(e.cipher.alg, crypto::parse_cipher_alg(*v));
  }
  if (const auto* v = find_given(g, prefix + "cipher-mode")) {
    AMBER_TRY_ASSIGN(e.cipher.mode, crypto::parse_cipher_mode(*v));
  }
  if (const auto* v = find_given(g, prefix + "ivgen-alg")) {
    AMBER_TRY_ASSIGN(e.cipher.ivgen, crypto::parse_ivgen_alg(*v));
  }
  if (const auto* v = find_given(g, prefix + "ivgen-hash-alg")) {
    AMBER_TRY_ASSIGN(e.cipher.ivgen_hash, crypto::parse_hash_alg(*v));
  }
  if (const auto* v = find_given(g, prefix + "hash-alg")) {
    AMBER_TRY_ASSIGN(e.hash, crypto::parse_hash_alg(*v));
  }
  if (const auto* v = find_given(g, prefix + "iter-time")) {
    auto ms = parse_number(*v);
    if (!ms.ok() || *ms == 0 || *ms > UINT32_MAX)
      return invalid("Parameter '" + prefix + "iter-time' expects uint64");
    e.iter_time_ms = *ms;
  }
  return e;
}

}  // namespace

Result<void> validate_after_formatting(const CreatePlan& plan) {
  CreateOptions& o = const_cast<CreateOptions&>(plan.options);
  const auto& g = plan.given;
  if (const auto* v = find_given(g, "preallocation")) {
    AMBER_TRY_ASSIGN(o.preallocation, parse_preallocation(*v));
  }
  if (o.format == ImageFormat::kLuks) {
    if (o.preallocation != Preallocation::kOff)
      return Error(ErrorKind::kUnsupported,
                   "Preallocation is not supported with encryption in amber-img");
    AMBER_TRY_ASSIGN(o.encrypt, encrypt_options(plan, ""));
    return ok();
  }
  if (o.format != ImageFormat::kQcow2) return ok();
  const std::string* legacy = find_given(g, "encryption");
  if (legacy != nullptr && *legacy != "on" && *legacy != "off")
    return invalid("Parameter 'encryption' expects 'on' or 'off'");
  if (legacy != nullptr && find_given(g, "encrypt.format") != nullptr)
    return invalid("'encrypt.format' and its alias 'encryption' can't be used at the same time");
  if (legacy != nullptr && *legacy == "on") {
    // The deprecated spelling of encrypt.format=aes.
    AMBER_TRY_ASSIGN(o.encrypt, encrypt_options(plan, "encrypt."));
    o.encrypt->legacy_aes = true;
  } else if (const auto* v = find_given(g, "encrypt.format")) {
    if (*v == "aes") {
      // Read and written for existing images; qemu-img 7.2 still creates
      // them (the system emulator refuses to run one), and so does Amber.
      AMBER_TRY_ASSIGN(o.encrypt, encrypt_options(plan, "encrypt."));
      o.encrypt->legacy_aes = true;
    } else if (*v != "luks") {
      return invalid("Parameter 'encrypt.format' does not accept value '" + *v + "'");
    } else {
      AMBER_TRY_ASSIGN(o.encrypt, encrypt_options(plan, "encrypt."));
    }
  } else {
    for (const auto& kv : g)
      if (kv.key.rfind("encrypt.", 0) == 0)
        return invalid("Parameter 'encrypt.format' is required with '" + kv.key + "'");
  }
  if (const auto* v = find_given(g, "cluster_size")) o.cluster_size = std::stoull(*v);
  if (const auto* v = find_given(g, "compat")) {
    if (*v == "0.10" || *v == "v2")
      o.version = 2;
    else if (*v == "1.1" || *v == "v3")
      o.version = 3;
    else
      return invalid("Parameter 'version' does not accept value '" + *v + "'");
  }
  if (const auto* v = find_given(g, "compression_type")) {
    if (*v == "zlib")
      o.compression = CompressionType::kZlib;
    else if (*v == "zstd")
      o.compression = CompressionType::kZstd;
    else
      return invalid("Parameter 'compression-type' does not accept value '" + *v + "'");
  }
  if (const auto* v = find_given(g, "extended_l2")) {
    AMBER_TRY_ASSIGN(o.extended_l2, parse_bool(*v, "extended_l2"));
  }
  if (const auto* v = find_given(g, "lazy_refcounts")) {
    AMBER_TRY_ASSIGN(o.lazy_refcounts, parse_bool(*v, "lazy_refcounts"));
  }
  if (const auto* v = find_given(g, "refcount_bits")) {
    auto bits = parse_number(*v);
    if (!bits.ok() || *bits == 0 || *bits > 64 || (*bits & (*bits - 1)) != 0)
      return invalid("Refcount width must be a power of two and may not exceed 64 bits");
    o.refcount_bits = static_cast<unsigned>(*bits);
  }
  const uint64_t cs = o.cluster_size;
  if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)) != 0)
    return invalid("Cluster size must be a power of two between 512 and 2048k");
  if (o.version < 3) {
    if (o.lazy_refcounts)
      return invalid(
          "Lazy refcounts only supported with compatibility level 1.1 and above "
          "(use version=v3 or greater)");
    if (o.refcount_bits != 16)
      return invalid(
          "Different refcount widths than 16 bits require compatibility level 1.1 "
          "or above (use version=v3 or greater)");
    if (o.extended_l2)
      return invalid(
          "Extended L2 entries are only supported with compatibility level 1.1 and "
          "above (use version=v3 or greater)");
    if (o.compression == CompressionType::kZstd)
      return invalid(
          "Non-zlib compression type is only supported with compatibility level "
          "1.1 and above (use version=v3 or greater)");
  }
  if (const auto* v = find_given(g, "data_file")) o.data_file = *v;
  if (const auto* v = find_given(g, "data_file_raw")) {
    AMBER_TRY_ASSIGN(o.data_file_raw, parse_bool(*v, "data_file_raw"));
  }
  if (o.data_file_raw && o.data_file.empty()) return invalid("data-file-raw requires data-file");
  if (o.data_file_raw && !o.backing_file.empty())
    return invalid("Backing file and data-file-raw cannot be used at the same time");
  if (!o.data_file.empty() && o.version < 3)
    return invalid(
        "External data files are only supported with compatibility level 1.1 and above "
        "(use version=v3 or greater)");
  if (o.extended_l2 && cs < 16384)
    return invalid(
        "Extended L2 entries are only supported with cluster sizes of at least "
        "16384 bytes");
  return ok();
}

std::string formatting_line(const std::string& filename, const CreatePlan& plan, uint64_t size) {
  std::string out =
      "Formatting '" + filename + "', fmt=" + std::string(to_string(plan.options.format));
  const auto& g = plan.given;
  auto put = [&](const char* key, const std::string& fallback) {
    const std::string* v = find_given(g, key);
    if (v)
      out += std::string(" ") + key + "=" + *v;
    else if (!fallback.empty())
      out += std::string(" ") + key + "=" + fallback;
  };
  if (plan.options.format == ImageFormat::kRaw) {
    out += " size=" + std::to_string(size);
    put("preallocation", "");
    return out;
  }
  if (plan.options.format == ImageFormat::kLuks) {
    out += " size=" + std::to_string(size);
    for (const char* key : kLuksKeys) put(key, "");
    put("preallocation", "");
    return out;
  }
  put("encrypt.format", "");
  put("encryption", "");
  for (const char* key : kLuksKeys) put(("encrypt." + std::string(key)).c_str(), "");
  put("cluster_size", "65536");
  put("extended_l2", "off");
  put("preallocation", "");
  put("compression_type", "zlib");
  out += " size=" + std::to_string(size);
  // qemu prints option values with their commas doubled.
  if (const std::string* b = find_given(g, "backing_file")) {
    std::string escaped;
    for (char c : *b) escaped += c == ',' ? std::string(",,") : std::string(1, c);
    out += " backing_file=" + escaped;
  }
  put("backing_fmt", "");
  put("compat", "");
  put("data_file", "");
  put("data_file_raw", "");
  put("lazy_refcounts", "off");
  put("refcount_bits", "16");
  return out;
}

int run_create(int argc, char** argv) {
  auto args = parse_create_args(argc, argv);
  if (!args.ok()) {
    if (args.error().context() == "help") {
      std::fputs(usage_text().c_str(), stdout);
      return 0;
    }
    return usage_error(args.error().context());
  }
  auto plan_result = plan_create(*args);
  if (!plan_result.ok()) {
    const std::string& m = plan_result.error().context();
    if (m.rfind("Invalid image size", 0) == 0) return report_error_lines(m);
    return report_error(args->filename.empty() ? m : args->filename + ": " + m);
  }
  CreatePlan& plan = *plan_result;
  if (plan.help) {
    std::fputs(plan.options.format == ImageFormat::kQcow2 ? kQcow2Help : kRawHelp, stdout);
    return 0;
  }
  const std::string& name = args->filename;
  const std::string path = host_path(name);  // messages keep the name as given
  if (is_json_name(name)) return report_error(name + ": Unknown protocol 'json'");
  CreateOptions& o = plan.options;
  // The backing file: qemu-img needs its format (it refuses to probe) and
  // opens it, unless -u, to check it and to take the size from it.
  if (!o.backing_file.empty()) {
    if (!o.backing_format) {
      report_error(name + ": Backing file specified without backing format");
      if (o.backing_check == BackingMode::kOpen) {
        OpenOptions probe;
        probe.sharing = Sharing::kForceShare;
        probe.backing = BackingMode::kNone;
        auto image = open_image(resolve_backing_path(path, o.backing_file), probe);
        // qemu-img ends this line without a newline.
        if (image.ok())
          std::fprintf(stderr, "Detected format of %s.",
                       std::string(to_string((*image)->format())).c_str());
      }
      return 1;
    }
    if (o.backing_check == BackingMode::kOpen) {
      OpenOptions bo;
      bo.format = o.backing_format;
      bo.sharing = Sharing::kForceShare;
      auto image = open_image(resolve_backing_path(path, o.backing_file), bo);
      if (!image.ok()) {
        report_error(name + ": " + error_text(image.error()));
        std::fprintf(stderr, "Could not open backing image.\n");
        return 1;
      }
      if (!o.size) {
        o.size = (*image)->size();
      }
    }
  }
  if (!o.size) return report_error(name + ": Image creation needs a size parameter");
  if (!args->quiet) std::printf("%s\n", formatting_line(name, plan, *o.size).c_str());
  std::fflush(stdout);
  // qemu-img rounds the size up to whole sectors after printing it
  // ("1.1k" is 1126 bytes, created as 1536), raw and qcow2 alike.
  if (*o.size % kSectorSize != 0 && *o.size <= UINT64_MAX - kSectorSize)
    o.size = (*o.size + kSectorSize - 1) / kSectorSize * kSectorSize;
  if (auto v = validate_after_formatting(plan); !v.ok())
    return report_error(name + ": " + v.error().context());
  if (auto r = create_image(path, o); !r.ok())
    return report_error(name + ": " + error_text(r.error()));
  return 0;
}

}  // namespace amber::block::tool
