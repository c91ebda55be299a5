// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img check`: runs block::check_image and prints qemu-img 7.2's
// report; the exit status follows qemu-img (0, 1, 2, 3, 63).
#include <getopt.h>

#include <cstdio>

#include "block/check.h"
#include "block/image.h"
#include "block/tool/command.h"
#include "block/tool/format.h"
#include "block/tool/image_args.h"

namespace amber::block::tool {

int run_check(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"output", required_argument, nullptr, 'O'},
                                 {"repair", required_argument, nullptr, 'r'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, output = "human";
  CheckOptions options;
  bool quiet = false, image_opts = false;
  Secrets secrets;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":hf:r:T:qU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        format = optarg;
        break;
      case 'O':
        output = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'U':
        options.sharing = Sharing::kForceShare;
        break;
      case 'r':
        if (std::string_view(optarg) == "leaks")
          options.repair = RepairMode::kLeaks;
        else if (std::string_view(optarg) == "all")
          options.repair = RepairMode::kAll;
        else
          return usage_error("Unknown option value for -r (expecting 'leaks' or 'all'): " +
                             std::string(optarg));
        break;
      case 'T': {
        auto cache = io::parse_cache_mode(optarg);
        if (!cache.ok()) return report_error("Invalid source cache option: " + std::string(optarg));
        options.cache = *cache;
        break;
      }
      case 'h':
        std::fputs(usage_text().c_str(), stdout);
        return 0;
      case 'I':
        image_opts = true;
        break;
      case 'o':
        if (auto r = secrets.add_object(optarg); !r.ok()) return report_error(r.error());
        break;
      default:
        return usage_error(getopt_error(c, argv));
    }
  }
  if (int status = check_single_image_args(argc, output); status != 0) return status;
  if (options.repair != RepairMode::kNone && options.sharing == Sharing::kForceShare)
    return report_error("Cannot repair an image opened with force-share (-U)");
  auto ref = resolve_image(argv[optind], image_opts, format, secrets);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;
  options.format = ref->format;
  // The check reads metadata only, which LUKS leaves in the clear, but
  // qemu-img unlocks an encrypted image first: so does amber-img, for the
  // same refusal without (or with a wrong) key.
  {
    OpenOptions probe;
    apply(*ref, probe);
    probe.sharing = Sharing::kForceShare;
    probe.backing = BackingMode::kNone;
    auto image = open_image(filename, probe);
    if (!image.ok() && (image.error().message().find("key-secret") != std::string::npos ||
                        image.error().message().find("Invalid password") != std::string::npos))
      return report_error("Could not open '" + filename + "': " + error_text(image.error()));
  }
  auto report = check_image(filename, options);
  if (!report.ok()) {
    const std::string message = error_text(report.error());
    if (message.rfind("Check failed", 0) == 0) return report_error(message);
    return report_error("Could not open '" + filename + "': " + message);
  }
  for (const auto& line : report->messages) std::fprintf(stderr, "%s\n", line.c_str());
  if (report->not_supported) return report_error("This image format does not support checks") + 62;
  report->filename = filename;
  if (!quiet) {
    if (output == "json")
      std::printf("%s\n", to_pretty_json(check_to_json(*report)).c_str());
    else
      std::fputs(check_to_human(*report).c_str(), stdout);
  }
  return check_exit_code(*report);
}

}  // namespace amber::block::tool
