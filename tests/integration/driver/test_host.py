#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd as a product: config file, socket activation, host queries
through the real virsh and python3-libvirt (amber and qemu+unix URIs).
Usage: test_host.py PATH/TO/virtamberd"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DAEMON = sys.argv[1]
failures = []
ENV = dict(os.environ, LIBVIRT_AUTOSTART="0")


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def wait_for(path):
    for _ in range(200):
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def virsh(uri, *args):
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=30, env=ENV)


def stop(daemon):
    daemon.send_signal(signal.SIGTERM)
    return daemon.wait(timeout=10)


def meminfo_kib(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def config_cases(tmp):
    bad = tmp + "/bad.conf"
    with open(bad, "w") as f:
        f.write("# comment\nsocket_dir = \"/x\"\nno_such_key = \"y\"\n")
    out = subprocess.run([DAEMON, "--config", bad], capture_output=True, text=True, timeout=10)
    check(out.returncode == 2 and bad + ":3: unknown key 'no_such_key'" in out.stderr,
          "bad key names file:line: " + out.stderr)
    out = subprocess.run([DAEMON, "--config", tmp + "/missing.conf"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 2 and "missing.conf" in out.stderr,
          "missing --config is an error: " + out.stderr)
    out = subprocess.run([DAEMON, "--help"], capture_output=True, text=True, timeout=10)
    for word in ["--config", "--socket-dir", "--rw-socket", "--ro-socket", "--state-dir",
                 "--config-dir", "--run-dir", "--log-dir", "--vmm-binary",
                 "--print-vmm-binary", "socket_dir", "vmm_binary", "state_dir"]:
        check(word in out.stdout, "--help lists " + word)
    # Flags override the file.
    conf = tmp + "/vmm.conf"
    with open(conf, "w") as f:
        f.write('vmm_binary = "/from/file/amber-vmm"\n')
    out = subprocess.run([DAEMON, "--config", conf, "--print-vmm-binary"],
                         capture_output=True, text=True, timeout=10)
    check(out.stdout.strip() == "/from/file/amber-vmm", "vmm_binary from file: " + out.stdout)
    out = subprocess.run([DAEMON, "--config", conf, "--vmm-binary=/flag/vmm",
                          "--print-vmm-binary"], capture_output=True, text=True, timeout=10)
    check(out.stdout.strip() == "/flag/vmm", "flag overrides file: " + out.stdout)


def host_queries(tmp):
    sockdir = tmp + "/run"
    os.mkdir(sockdir)
    conf = tmp + "/daemon.conf"
    with open(conf, "w") as f:
        f.write(f'socket_dir = "{sockdir}"\nstate_dir = "{tmp}"\n'
                'vmm_binary = "/opt/test/amber-vmm"   # reported as the emulator\n')
    log = open(tmp + "/host.log", "w")
    daemon = subprocess.Popen([DAEMON, "--config", conf], stderr=log)
    rw = sockdir + "/virtamberd-sock"
    check(wait_for(sockdir + "/virtamberd-sock-ro"), "sockets under the configured socket_dir")
    uri = "amber:///system?socket=" + rw
    quri = "qemu+unix:///system?socket=" + rw
    try:
        out = virsh(uri, "nodememstats")
        total = meminfo_kib("MemTotal")
        check(out.returncode == 0 and f"{total} KiB" in out.stdout and "free" in out.stdout
              and "cached" in out.stdout, "virsh nodememstats: " + out.stdout + out.stderr)
        out = virsh(uri, "nodememstats", "--cell", "7")
        check(out.returncode != 0 and "out of range" in out.stderr,
              "nodememstats bad cell: " + out.stderr)
        out = virsh(uri, "nodecpustats")
        check(out.returncode == 0 and "idle" in out.stdout, "virsh nodecpustats: " + out.stdout
              + out.stderr)
        out = virsh(uri, "maxvcpus")
        check(out.returncode == 0 and out.stdout.strip() == "64", "virsh maxvcpus: " +
              out.stdout + out.stderr)
        out = virsh(uri, "maxvcpus", "--type", "kvm")
        check(out.returncode == 0 and out.stdout.strip() == "64", "maxvcpus --type kvm: " +
              out.stdout + out.stderr)
        out = virsh(uri, "freecell")
        check(out.returncode == 0 and "KiB" in out.stdout, "virsh freecell: " + out.stdout +
              out.stderr)
        out = virsh(uri, "capabilities")
        check(out.returncode == 0 and "<emulator>/opt/test/amber-vmm</emulator>" in out.stdout
              and "<domain type='kvm'/>" in out.stdout and "<uuid>" in out.stdout,
              "virsh capabilities: " + out.stdout + out.stderr)
        for extra in ([], ["--virttype", "kvm", "--arch", "x86_64"], ["--machine", "pc"]):
            out = virsh(uri, "domcapabilities", *extra)
            check(out.returncode == 0 and "<path>/opt/test/amber-vmm</path>" in out.stdout and
                  "<arch>x86_64</arch>" in out.stdout and "<domain>kvm</domain>" in out.stdout,
                  f"virsh domcapabilities {extra}: " + out.stdout + out.stderr)
        out = virsh(uri, "domcapabilities", "--arch", "armv7l")
        check(out.returncode != 0 and "invalid argument" in out.stderr,
              "domcapabilities bad arch: " + out.stderr)
        out = virsh(uri, "net-list", "--all")
        check(out.returncode == 0 and "Name" in out.stdout and
              len(out.stdout.strip().splitlines()) == 2, "net-list --all: " + out.stdout +
              out.stderr)

        if shutil.which("virt-install"):
            # qemu mode: virt-install reads capabilities and domain
            # capabilities and builds its XML from them.
            out = subprocess.run(
                ["virt-install", "--connect", quri, "--print-xml", "--name", "probe",
                 "--memory", "512", "--disk", "none", "--network", "none", "--import",
                 "--osinfo", "detect=on,require=off", "--noautoconsole"],
                capture_output=True, text=True, timeout=60, env=ENV)
            check(out.returncode == 0 and '<domain type="kvm">' in out.stdout and
                  "<emulator>/opt/test/amber-vmm</emulator>" in out.stdout and
                  'machine="pc-i440fx-' in out.stdout,
                  "virt-install --print-xml over qemu+unix: " + out.stdout + out.stderr)
        else:
            print("virt-install not installed: its check skipped")

        probe = subprocess.run(["/usr/bin/python3", "-c", f"""
import libvirt
c = libvirt.open({quri!r})
assert c.getURI().startswith("qemu+unix:///system"), c.getURI()
caps = c.getCapabilities()
assert "/opt/test/amber-vmm" in caps
dc = c.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
assert "<domain>kvm</domain>" in dc
try:
    c.getDomainCapabilities(None, "x86_64", "virt", "kvm", 0)
    raise SystemExit("machine virt accepted")
except libvirt.libvirtError as e:
    assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e.get_error_code()
stats = c.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
assert set(stats) == {{"total", "free", "buffers", "cached"}}, stats
assert c.getMaxVcpus(None) == 64 and c.getMaxVcpus("kvm") == 64
assert c.getFreeMemory() > 0
assert c.getCellsFreeMemory(0, 1)[0] > 0
assert c.listAllNetworks() == [] and c.listAllInterfaces() == []
assert c.listAllDevices() == [] and c.listAllNWFilters() == []
assert c.getCPUStats(-1, 0)["idle"] > 0
def nosupport(call):
    try:
        call()
        return False
    except libvirt.libvirtError as e:
        return e.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_RPC)
assert nosupport(lambda: c.getSysinfo(0))
assert nosupport(lambda: c.baselineCPU(["<cpu><arch>x86_64</arch></cpu>"], 0))
assert nosupport(lambda: c.compareCPU("<cpu><arch>x86_64</arch></cpu>", 0))
print("python-ok", len(c.listAllDomains()))
c.close()
"""], capture_output=True, text=True, timeout=30, env=ENV)
        check(probe.returncode == 0 and "python-ok 0" in probe.stdout,
              "python3-libvirt over qemu+unix: " + probe.stdout + probe.stderr)
    finally:
        rc = stop(daemon)
        check(rc == 0, f"daemon exit {rc}")
        check(not os.path.exists(rw), "own sockets removed on SIGTERM")


def socket_activation(tmp):
    rw_path, ro_path = tmp + "/act-sock", tmp + "/act-sock-ro"
    listeners = []
    for path, mode in ((rw_path, 0o600), (ro_path, 0o666)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        os.chmod(path, mode)
        s.listen(16)
        listeners.append(s)
    # As systemd: fds 3 and 4 (read-only first, so only the names can
    # tell them apart), LISTEN_PID the daemon's own pid.
    high = [os.dup(s.fileno()) + 100 for s in listeners]
    for s, h in zip(listeners, high):
        os.dup2(s.fileno(), h)

    def place_fds():
        os.dup2(high[1], 3)
        os.dup2(high[0], 4)

    log = open(tmp + "/act.log", "w")
    daemon = subprocess.Popen(
        ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=2 '
         'LISTEN_FDNAMES=virtamberd-ro.socket:virtamberd.socket exec "$@"', "sh", DAEMON,
         "--socket-dir", tmp + "/unused", "--vmm-binary", "/x/amber-vmm"],
        stderr=log, preexec_fn=place_fds, close_fds=False)
    for h in high:
        os.close(h)
    for s in listeners:
        s.close()  # only the daemon holds them now
    try:
        out = virsh("amber:///system?socket=" + rw_path, "hostname")
        check(out.returncode == 0 and out.stdout.strip() == socket.gethostname(),
              "activated read-write socket serves virsh: " + out.stdout + out.stderr)
        out = virsh("amber:///system?socket=" + ro_path, "-r", "maxvcpus")
        check(out.returncode == 0 and out.stdout.strip() == "64",
              "activated read-only socket serves virsh -r: " + out.stdout + out.stderr)
        out = virsh("amber:///system?socket=" + ro_path, "domcapabilities")
        check("/x/amber-vmm" in out.stdout, "read-only domcapabilities: " + out.stderr)
        check(not os.path.exists(tmp + "/unused"), "no socket bound at the configured path")
    finally:
        rc = stop(daemon)
        check(rc == 0, f"activated daemon exit {rc}")
    check(os.path.exists(rw_path) and os.path.exists(ro_path),
          "activated sockets are left for systemd to remove")
    log.close()


def main():
    tmp = tempfile.mkdtemp(prefix="virtamberd-host-")
    config_cases(tmp)
    host_queries(tmp)
    socket_activation(tmp)
    if failures:
        for name in ("host.log", "act.log"):
            if os.path.exists(tmp + "/" + name):
                print(name + ":\n" + open(tmp + "/" + name).read())
        sys.exit(1)
    print("ok")


main()
