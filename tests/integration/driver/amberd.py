# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the tests that drive virtamberd with Debian's own
libvirt tools (virt-install, virt-manager, virsh): a daemon in a temporary
directory with every path moved, probe-guest disks as qcow2 linked clones,
virsh with the RPC log on, and the serial console read through the pty.

A test fails by raising TestFailure (exit 1) and is skipped with exit 77.
Artifacts go to AMBER_ARTIFACT_DIR (meson sets it inside the build dir).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def log(msg):
    print(msg, flush=True)


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP)


def run(cmd, timeout=60, env=None, check_rc=False):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc and p.returncode != 0:
        raise TestFailure("%s failed (rc %d): %s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def artifact_dir():
    d = os.environ.get("AMBER_ARTIFACT_DIR") or tempfile.mkdtemp(prefix="amber-artifacts-")
    os.makedirs(d, exist_ok=True)
    return d


def workdir(name):
    return tempfile.mkdtemp(prefix="amber-%s-" % name, dir=os.environ.get("TMPDIR", "/var/tmp"))


def make_probe_disk(tmp, boot_bin, name, stay=False):
    """NAME.qcow2 in tmp holding the boot-sector probe BOOT_BIN (mkdisk.py;
    stay: the probe halts instead of exiting). Returns its path."""
    source_root = os.environ.get("SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    raw = os.path.join(tmp, name + ".raw")
    disk = os.path.join(tmp, name + ".qcow2")
    run([sys.executable, os.path.join(source_root, "tests/guest/bootsector/mkdisk.py"), boot_bin, raw, "2"]
        + (["--stay"] if stay else []), check_rc=True)
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, disk], check_rc=True)
    os.unlink(raw)
    return disk


def make_clone(tmp, boot_bin, name):
    """A qcow2 base holding the probe BOOT_BIN and a linked clone of it
    (the disk the domain gets). Returns the clone's path."""
    base = make_probe_disk(tmp, boot_bin, name + "-base")
    clone = os.path.join(tmp, name + ".qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", clone], check_rc=True)
    return clone


def domain_xml(name, disk, fmt="qcow2", uuid=None, extra="", devices="", features="<acpi/>"):
    """A small domain (64 MiB, one vCPU, pc) booting `disk` as vda, with a
    pty serial console; `extra` goes after <os>, `devices` after the disk,
    `features` inside <features>."""
    uuid_line = f"\n  <uuid>{uuid}</uuid>" if uuid else ""
    return f"""<domain type='kvm'>
  <name>{name}</name>{uuid_line}
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features>{features}</features>
  {extra}
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    {devices}
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


class Daemon:
    """build/driver/virtamberd with its sockets, state, config, run and log
    directories all under TMP."""

    def __init__(self, binary, vmm, tmp):
        self.tmp = tmp
        self.rw = os.path.join(tmp, "virtamberd-sock")
        self.ro = os.path.join(tmp, "virtamberd-sock-ro")
        self.log_dir = os.path.join(tmp, "log")
        for d in ("state", "config", "run", "log"):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        args = [binary, "--rw-socket", self.rw, "--ro-socket", self.ro,
                "--state-dir", tmp + "/state", "--config-dir", tmp + "/config",
                "--run-dir", tmp + "/run", "--log-dir", self.log_dir]
        usage = run([binary, "--help"]).stdout
        # The VMM flag is offered once the domain manager is in; its name is
        # whatever --help lists (e.g. --vmm or --vmm-binary).
        flag = re.search(r"(--vmm[a-z-]*)\s", usage)
        if flag and vmm:
            args += [flag.group(1), vmm]
        self.stderr_path = os.path.join(tmp, "virtamberd.stderr")
        self.stderr = open(self.stderr_path, "w")
        env = dict(os.environ, AMBER_VMM=vmm or "")
        self.process = subprocess.Popen(args, stderr=self.stderr, env=env)
        for _ in range(200):
            if os.path.exists(self.rw) or self.process.poll() is not None:
                break
            time.sleep(0.05)
        check(os.path.exists(self.rw), "virtamberd did not create its socket:\n" + self.log_text())
        # The qemu compatibility mode: virt-manager and virt-install turn on
        # their full feature set only for qemu* schemes.
        self.uri = "qemu+unix:///system?socket=" + self.rw
        self.env = dict(os.environ, LIBVIRT_AUTOSTART="0")

    def log_text(self):
        if not self.stderr.closed:
            self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()[-6000:]

    def virsh(self, *args, timeout=30, debug=False):
        env = dict(self.env)
        if debug:
            env.update(LIBVIRT_DEBUG="1", LIBVIRT_LOG_OUTPUTS="1:stderr")
        return run(["virsh", "-c", self.uri, *args], timeout=timeout, env=env)

    def domstate(self, name):
        out = self.virsh("domstate", name)
        return out.stdout.strip() if out.returncode == 0 else "error: " + out.stderr.strip()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()
        self.kill_leftover_vmms()

    def kill_leftover_vmms(self):
        """The daemon leaves running domains to re-attach to after a
        restart; a test's own ones are ended here (only amber-vmm processes
        whose control socket is in this daemon's run dir)."""
        run_dir = os.path.join(self.tmp, "run")
        for entry in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
            if not entry.endswith(".pid"):
                continue
            try:
                pid = int(open(os.path.join(run_dir, entry)).read().split()[0])
                cmdline = open("/proc/%d/cmdline" % pid, "rb").read().decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            if "amber-vmm" in cmdline and run_dir in cmdline:
                log("killing leftover amber-vmm %d (%s)" % (pid, entry))
                os.kill(pid, 9)


def rpc_errors(debug_stderr):
    """The failed RPC calls in a LIBVIRT_DEBUG=1 client log, as
    "PROC: error text" strings in order (PROC from the client's
    RPC_CLIENT_MSG_RX line with status=1 when the log has it)."""
    found = []
    failed_proc = None
    for line in debug_stderr.splitlines():
        m = re.search(r"RPC_CLIENT_MSG_RX: .* proc=(\d+) type=1 status=1", line)
        if m:
            failed_proc = m.group(1)
            continue
        m = re.search(r"error : virNetClientProgramDispatchError:\d+ : (.*)", line)
        if m:
            proc = failed_proc
            unknown = re.match(r"unknown procedure: (\d+)", m.group(1))
            if unknown:
                proc = unknown.group(1)
            found.append("%s: %s" % (proc or "?", m.group(1).strip()))
            failed_proc = None
    return found


def client_errors(stderr, limit=12):
    """The error lines of a client run with LIBVIRT_DEBUG=1 (its own
    'error:' lines and libvirt's ': error : ' log lines), without the
    debug noise."""
    lines = [l for l in stderr.splitlines()
             if l.startswith("error:") or " : error : " in l or l.startswith("ERROR")]
    return "\n".join(lines[-limit:])


def pty_of(daemon, name):
    """The serial pty path of a running domain, from its live XML."""
    out = daemon.virsh("dumpxml", name)
    m = re.search(r"<serial type=['\"]pty['\"]>\s*<source path=['\"]([^'\"]+)['\"]", out.stdout)
    if not m:
        m = re.search(r"<console type=['\"]pty['\"][^>]*tty=['\"]([^'\"]+)['\"]", out.stdout)
    return m.group(1) if m else None


def read_console(daemon, name, want, seconds):
    """Reads the domain's serial console through `virsh console` (the
    DOMAIN_OPEN_CONSOLE stream) until WANT appears or SECONDS pass; returns
    what was read."""
    import pty
    import select
    master, slave = pty.openpty()
    p = subprocess.Popen(["virsh", "-c", daemon.uri, "console", "--force", name],
                         stdin=slave, stdout=slave, stderr=slave, env=daemon.env)
    os.close(slave)
    data = b""
    deadline = time.time() + seconds
    try:
        while time.time() < deadline and want.encode() not in data:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            if p.poll() is not None and not r:
                break
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        os.close(master)
    return data.decode(errors="replace")


def require(program):
    path = shutil.which(program)
    if not path:
        skip("%s is not installed (scripts/install-deps.sh installs it)" % program)
    return path


def main(test):
    try:
        test()
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    print("ok", flush=True)
