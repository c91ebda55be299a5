// SPDX-License-Identifier: GPL-2.0-or-later
#include "xml/capabilities.h"

#include "xml/writer.h"

namespace amber::xml {

std::string format_capabilities(const HostCapabilities& caps) {
  Element root("capabilities");
  Element& host = root.add("host");
  host.add_text("uuid", caps.host_uuid);
  Element& cpu = host.add("cpu");
  cpu.add_text("arch", "x86_64");
  if (caps.sockets && caps.cores && caps.threads) {
    cpu.add("topology")
        .attr("sockets", *caps.sockets)
        .attr("dies", uint64_t{1})
        .attr("cores", *caps.cores)
        .attr("threads", *caps.threads);
  }
  Element& guest = root.add("guest");
  guest.add_text("os_type", "hvm");
  Element& arch = guest.add("arch").attr("name", "x86_64");
  arch.add_text("wordsize", "64");
  arch.add_text("emulator", caps.emulator);
  arch.add("machine").attr("maxCpus", caps.max_vcpus).text(kCanonicalMachine);
  arch.add("machine")
      .attr("canonical", kCanonicalMachine)
      .attr("maxCpus", caps.max_vcpus)
      .text("pc");
  arch.add("domain").attr("type", "kvm");
  Element& features = guest.add("features");
  features.add("acpi").attr("default", "on").attr("toggle", "yes");
  features.add("apic").attr("default", "on").attr("toggle", "no");
  features.add("pae");
  return root.render();
}

std::string format_domain_capabilities(const DomainCapabilitiesQuery& query) {
  Element root("domainCapabilities");
  root.add_text("path", query.emulator);
  root.add_text("domain", "kvm");
  root.add_text("machine",
                query.machine.empty() || query.machine == "pc" ? kCanonicalMachine : query.machine);
  root.add_text("arch", "x86_64");
  root.add("vcpu").attr("max", query.max_vcpus);
  root.add("iothreads").attr("supported", "yes");
  Element& os = root.add("os").attr("supported", "yes");
  Element& loader = os.add("loader").attr("supported", "yes");
  for (const std::string& path : query.firmware) loader.add_text("value", path);
  loader.add("enum").attr("name", "type").add_text("value", "rom");
  Element& readonly = loader.add("enum").attr("name", "readonly");
  readonly.add_text("value", "yes");
  readonly.add_text("value", "no");
  Element& cpu = root.add("cpu");
  cpu.add("mode").attr("name", "host-passthrough").attr("supported", "yes");
  cpu.add("mode").attr("name", "maximum").attr("supported", "no");
  cpu.add("mode").attr("name", "host-model").attr("supported", "no");
  cpu.add("mode").attr("name", "custom").attr("supported", "no");
  Element& devices = root.add("devices");
  Element& disk = devices.add("disk").attr("supported", "yes");
  Element& disk_devices = disk.add("enum").attr("name", "diskDevice");
  disk_devices.add_text("value", "disk");
  disk_devices.add_text("value", "cdrom");
  Element& buses = disk.add("enum").attr("name", "bus");
  buses.add_text("value", "ide");  // libvirt lists them in its enum order
  buses.add_text("value", "scsi");
  buses.add_text("value", "virtio");
  // amber-vmm's VNC server and its standard VGA.
  devices.add("graphics")
      .attr("supported", "yes")
      .add("enum")
      .attr("name", "type")
      .add_text("value", "vnc");
  Element& video = devices.add("video").attr("supported", "yes");
  Element& models = video.add("enum").attr("name", "modelType");
  models.add_text("value", "vga");
  models.add_text("value", "none");
  for (const char* name : {"hostdev", "rng", "filesystem", "tpm", "redirdev", "channel"}) {
    devices.add(name).attr("supported", "no");
  }
  Element& features = root.add("features");
  for (const char* name : {"gic", "vmcoreinfo", "genid", "backingStoreInput", "backup", "sev"}) {
    features.add(name).attr("supported", "no");
  }
  return root.render();
}

Result<void> check_domain_capabilities_query(const std::string& arch, const std::string& virttype,
                                             const std::string& machine) {
  auto refuse = [](std::string what) {
    return Error(ErrorKind::kUnsupported, "unsupported configuration: " + std::move(what));
  };
  if (!arch.empty() && arch != "x86_64") return refuse("arch '" + arch + "' (only x86_64)");
  if (!virttype.empty() && virttype != "kvm")
    return refuse("virttype '" + virttype + "' (only kvm)");
  if (!machine.empty() && machine != "pc" && machine.rfind("pc-i440fx-", 0) != 0) {
    return refuse("machine '" + machine + "' (only pc and pc-i440fx-*)");
  }
  return ok();
}

}  // namespace amber::xml
