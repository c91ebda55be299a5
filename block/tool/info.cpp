// SPDX-License-Identifier: GPL-2.0-or-later
// `amber-img info`: image facts in qemu-img 7.2's human and JSON formats,
// optionally for the whole backing chain.
#include <getopt.h>

#include <cstdio>

#include "block/check.h"
#include "block/image.h"
#include "block/json_name.h"
#include "block/tool/command.h"
#include "block/tool/format.h"
#include "block/tool/image_args.h"

namespace amber::block::tool {

int run_info(int argc, char** argv) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"output", required_argument, nullptr, 'O'},
                                 {"backing-chain", no_argument, nullptr, 'B'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {"image-opts", no_argument, nullptr, 'I'},
                                 {"object", required_argument, nullptr, 'o'},
                                 {nullptr, 0, nullptr, 0}};
  std::string format, output = "human";
  bool chain = false, force_share = false, image_opts = false;
  Secrets secrets;
  reset_getopt();
  int c;
  while ((c = getopt_long(argc, argv, ":f:hU", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        format = optarg;
        break;
      case 'O':
        output = optarg;
        break;
      case 'B':
        chain = true;
        break;
      case 'U':
        force_share = true;
        break;
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
  auto ref = resolve_image(argv[optind], image_opts, format, secrets, SecretUse::kIgnore);
  if (!ref.ok()) return report_error(ref.error());
  const std::string filename = ref->path;

  OpenOptions o;
  apply(*ref, o);
  // As qemu-img info (BDRV_O_NO_IO): an encrypted image opens without its
  // key, even when one is named.
  o.metadata_only = true;
  if (force_share) o.sharing = Sharing::kForceShare;
  // Without --backing-chain the backing file need not exist (qemu-img
  // info opens the image without its backing chain).
  if (!chain) o.backing = BackingMode::kNone;
  auto image = open_image(filename, o);
  if (!image.ok())
    return report_error("Could not open '" + filename + "': " + error_text(image.error()));

  std::vector<ImageInfo> infos;
  for (Image* level = image->get(); level != nullptr; level = chain ? level->backing() : nullptr) {
    auto info = level->info();
    if (!info.ok()) return report_error(info.error());
    infos.push_back(std::move(*info));
  }
  // qemu-img names an image given with a key-secret by its options.
  if (!ref->key_secret.empty()) {
    JsonImageSpec spec;
    spec.filename = ref->path;
    if (is_json_name(ref->path)) {
      auto parsed = parse_json_name(ref->path);
      if (parsed.ok()) spec.filename = parsed->filename;
    }
    spec.key_secret_key = ref->key_secret_key;
    spec.key_secret = ref->key_secret;
    infos[0].filename = display_name(spec, infos[0].format);
  }
  if (output == "json") {
    if (chain) {
      Json list = Json::array();
      for (auto& i : infos) list.push_back(info_to_json(i));
      std::printf("%s\n", to_pretty_json(list).c_str());
    } else {
      std::printf("%s\n", to_pretty_json(info_to_json(infos[0])).c_str());
    }
    return 0;
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    if (i > 0) std::printf("\n");
    std::fputs(info_to_human(infos[i]).c_str(), stdout);
  }
  return 0;
}

}  // namespace amber::block::tool
