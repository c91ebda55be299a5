#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The domain procedures of virtamberd through the real Debian 12 clients
(virsh, python3-libvirt), with the boot-sector probe running in amber-vmm
on a qcow2 linked clone. Usage:
test_virsh_domains.py VIRTAMBERD AMBER_VMM BOOT_BIN MKDISK"""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import libvirt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd  # noqa: E402

DAEMON, VMM, BOOT_BIN, MKDISK = sys.argv[1:5]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)
    return condition




class Daemon:
    def __init__(self, tmp):
        self.tmp = tmp
        self.rw, self.ro = tmp + "/sock", tmp + "/sock-ro"
        self.process = None

    def start(self):
        for path in (self.rw, self.ro):
            if os.path.exists(path):
                os.unlink(path)
        log = open(self.tmp + "/daemon.log", "a")
        self.process = subprocess.Popen(
            [DAEMON, "--rw-socket", self.rw, "--ro-socket", self.ro, "--state-dir", self.tmp,
             "--config-dir", self.tmp + "/etc", "--run-dir", self.tmp + "/run",
             "--log-dir", self.tmp + "/log", "--vmm", VMM], stderr=log)
        for _ in range(200):
            if os.path.exists(self.ro):
                return
            time.sleep(0.05)
        check(False, "daemon did not create its sockets")

    def kill(self, sig):
        self.process.send_signal(sig)
        self.process.wait(timeout=20)


def main():
    tmp = tempfile.mkdtemp(prefix="virsh-domains-")
    base, clone = tmp + "/base.raw", tmp + "/clone.qcow2"
    subprocess.run([sys.executable, MKDISK, BOOT_BIN, base, "2", "--stay"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", clone],
                   check=True)
    clone2 = tmp + "/clone2.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", clone2],
                   check=True)
    files = {}
    for name, document in {
        "vm1": amberd.domain_xml("vm1", clone),
        # Schema-invalid: <bogus/> is no element of libvirt's domain.rng.
        "bad": amberd.domain_xml("bad", clone).replace(
            "<vcpu>1</vcpu>", "<vcpu>1</vcpu><bogus/>"),
        "vm2": amberd.domain_xml("vm2", clone),
        "transient": amberd.domain_xml("transient", clone2),
        "nic": amberd.domain_xml("nic", clone,
                          devices="<interface type='direct'><source dev='eth0' mode='vepa'/>"
                                  "</interface>"),
        "evil": amberd.domain_xml("../evil", clone),
        # virt-manager's Windows 7 enlightenments and its Hyper-V clock.
        "hyperv": amberd.domain_xml(
            "hyperv", clone2,
            features="<acpi/><hyperv mode='custom'><relaxed state='on'/><vapic state='on'/>"
                     "<spinlocks state='on' retries='8191'/></hyperv>",
            extra="<clock offset='localtime'><timer name='hypervclock' present='yes'/></clock>"),
    }.items():
        files[name] = tmp + "/" + name + ".xml"
        with open(files[name], "w") as f:
            f.write(document)

    daemon = Daemon(tmp)
    daemon.start()
    uri = "amber:///system?socket=" + daemon.rw
    ro_uri = "amber:///system?socket=" + daemon.ro
    env = dict(os.environ, LIBVIRT_AUTOSTART="0")

    def virsh(*args, connect=uri, readonly=False):
        command = ["virsh"] + (["-r"] if readonly else []) + ["-c", connect, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)

    def ok(out, what, expect=None):
        passed = out.returncode == 0 and (expect is None or expect in out.stdout)
        return check(passed, what + ": rc=%d %s%s" % (out.returncode, out.stdout, out.stderr))

    def refused(out, what, expect):
        return check(out.returncode != 0 and expect in out.stderr,
                     what + ": rc=%d %s%s" % (out.returncode, out.stdout, out.stderr))

    try:
        ok(virsh("define", files["vm1"]), "define", "Domain 'vm1' defined")
        refused(virsh("define", "--validate", files["bad"]), "define --validate", "XML error")
        refused(virsh("define", "--validate", files["bad"]), "define --validate names it", "bogus")
        out = virsh("define", files["nic"])
        refused(out, "refused interface", "unsupported configuration")
        refused(out, "refused interface names it", "/domain/devices/interface")
        refused(virsh("define", files["evil"]), "unsafe name", "'../evil'")

        # Hyper-V enlightenments: defined and kept; started where the host's
        # KVM implements them (KVM_CAP_HYPERV), refused naming it elsewhere.
        ok(virsh("define", files["hyperv"]), "define with <hyperv>", "Domain 'hyperv' defined")
        out = virsh("dumpxml", "hyperv")
        check("<vapic state='on'/>" in out.stdout and "name='hypervclock' present='yes'" in out.stdout,
              "dumpxml keeps <hyperv> and hypervclock: " + out.stdout)
        kvm = os.open("/dev/kvm", os.O_RDWR)
        host_hyperv = fcntl.ioctl(kvm, 0xAE03, 44) > 0  # KVM_CHECK_EXTENSION KVM_CAP_HYPERV
        os.close(kvm)
        out = virsh("start", "hyperv")
        if host_hyperv:
            ok(out, "start with Hyper-V on a host that has it", "Domain 'hyperv' started")
            ok(virsh("destroy", "hyperv"), "destroy hyperv")
        else:
            refused(out, "start with Hyper-V on a host without it", "KVM_CAP_HYPERV")
            ok(virsh("domstate", "hyperv"), "still defined, shut off", "shut off")
        ok(virsh("undefine", "hyperv"), "undefine hyperv")

        conn = libvirt.open(uri)
        stale = conn.lookupByName("vm1")  # id -1: cached before the start
        check(stale.ID() == -1 and not stale.isActive(), "vm1 inactive before start")
        out = virsh("list", "--all")
        ok(out, "list --all")
        check(re.search(r"-\s+vm1\s+shut off", out.stdout), "list --all row: " + out.stdout)
        check("nic" not in out.stdout and "bad" not in out.stdout, "refused ones not defined")

        ok(virsh("start", "vm1"), "start", "Domain 'vm1' started")
        out = virsh("list")
        check(re.search(r"(\d+)\s+vm1\s+running", out.stdout), "list row: " + out.stdout)
        vm_id = conn.lookupByName("vm1").ID()
        check(vm_id > 0, "running id %d" % vm_id)

        # The stale handle (id -1) still reaches the domain by its UUID.
        check(stale.isActive() == 1, "stale handle: isActive")
        check(stale.info()[0] == libvirt.VIR_DOMAIN_RUNNING, "stale handle: info state")
        ok(virsh("domstate", str(vm_id)), "domstate by id", "running")
        refused(virsh("domstate", "4242"), "unknown id", "failed to get domain '4242'")
        refused(virsh("domstate", "nosuch"), "unknown name", "failed to get domain 'nosuch'")

        out = virsh("dominfo", "vm1")
        ok(out, "dominfo", "State:          running")
        check("Max memory:     65536 KiB" in out.stdout, "dominfo memory: " + out.stdout)
        check("Persistent:     yes" in out.stdout, "dominfo persistent: " + out.stdout)
        check(re.search(r"Id:\s+%d\b" % vm_id, out.stdout), "dominfo id: " + out.stdout)
        ok(virsh("domstate", "--reason", "vm1"), "domstate --reason", "running (booted)")
        out = virsh("dumpxml", "vm1")
        ok(out, "dumpxml", "<domain type='kvm' id='%d'>" % vm_id)
        check(clone in out.stdout, "dumpxml has the disk: " + out.stdout)
        out = virsh("dumpxml", "--inactive", "vm1")
        ok(out, "dumpxml --inactive", "<name>vm1</name>")
        check("id=" not in out.stdout.splitlines()[0], "inactive XML has no id: " + out.stdout)
        out = virsh("domblklist", "vm1")
        check(re.search(r"vda\s+" + re.escape(clone), out.stdout), "domblklist: " + out.stdout)

        # The guest reads its boot sector and data tags through the clone.
        reads = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = virsh("domblkstat", "vm1", "vda")
            match = re.search(r"vda rd_req (\d+)", out.stdout)
            reads = int(match.group(1)) if match else 0
            if reads > 0:
                break
            time.sleep(0.5)
        check(reads > 0, "domblkstat rd_req > 0: " + out.stdout + out.stderr)
        out = virsh("domblkstat", "vm1")
        check(re.search(r"rd_bytes [1-9]", out.stdout), "domblkstat (all disks): " + out.stdout)
        refused(virsh("domblkstat", "vm1", "vdz"), "domblkstat unknown disk", "error")
        out = virsh("domblkinfo", "vm1", "vda")
        ok(out, "domblkinfo", "Capacity:       2097152")
        out = virsh("domstats", "vm1")
        for line in ("state.state=1", "state.reason=1", "balloon.maximum=65536",
                     "balloon.current=65536", "vcpu.current=1", "vcpu.maximum=1", "block.count=1",
                     "block.0.name=vda", "block.0.path=" + clone, "block.0.capacity=2097152"):
            check(line in out.stdout, "domstats has %s: %s" % (line, out.stdout))
        check(re.search(r"block\.0\.rd\.reqs=[1-9]", out.stdout), "domstats rd.reqs: " + out.stdout)
        check(re.search(r"cpu\.time=\d+", out.stdout), "domstats cpu.time: " + out.stdout)

        names = [d.name() for d in conn.listAllDomains()]
        check(names == ["vm1"], "listAllDomains: %r" % names)
        check(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE) == [],
              "listAllDomains(INACTIVE) is empty")
        check(len(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING |
                                      libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)) == 1,
              "listAllDomains(RUNNING|PERSISTENT)")
        records = conn.getAllDomainStats()
        check(len(records) == 1 and records[0][0].name() == "vm1", "getAllDomainStats: %r" % records)
        if records:
            stats = records[0][1]
            check(stats.get("block.count") == 1 and stats.get("block.0.name") == "vda" and
                  stats.get("block.0.rd.reqs", 0) > 0, "getAllDomainStats values: %r" % stats)
        dom = conn.lookupByName("vm1")
        block = dom.blockStats("vda")
        check(len(block) == 5 and block[0] > 0 and block[1] > 0, "blockStats: %r" % (block,))

        ok(virsh("domblkerror", "vm1"), "domblkerror", "No errors found")
        ok(virsh("domcontrol", "vm1"), "domcontrol", "ok")
        ok(virsh("vcpucount", "vm1"), "vcpucount", "current")
        ok(virsh("domifaddr", "vm1"), "domifaddr (no interfaces)")
        ok(virsh("desc", "vm1", "--title", "Probe guest"), "set title")
        ok(virsh("list", "--title"), "list --title", "Probe guest")

        # A transient domain: created, listed, not persistent, gone when destroyed.
        ok(virsh("create", files["transient"]), "create transient", "Domain 'transient' created")
        ok(virsh("dominfo", "transient"), "transient dominfo", "Persistent:     no")
        ok(virsh("destroy", "transient"), "destroy transient", "destroyed")
        out = virsh("list", "--all")
        check("transient" not in out.stdout, "transient gone after destroy: " + out.stdout)

        ok(virsh("suspend", "vm1"), "suspend", "suspended")
        ok(virsh("domstate", "vm1"), "paused state", "paused")
        ok(virsh("resume", "vm1"), "resume", "resumed")
        ok(virsh("domstate", "vm1"), "resumed state", "running")
        ok(virsh("reset", "vm1"), "reset", "was reset")
        # The probe has no ACPI: the power button is pressed and ignored
        # (test_virsh_shutdown.py has a guest that powers off).
        ok(virsh("shutdown", "vm1"), "shutdown", "is being shutdown")
        refused(virsh("shutdown", "--mode", "agent", "vm1"), "shutdown --mode agent",
                "guest agent is not configured")
        refused(virsh("shutdown", "--mode", "initctl", "vm1"), "shutdown --mode initctl",
                "unsupported flags (0x4)")
        time.sleep(1)
        ok(virsh("domstate", "vm1"), "still running after an ignored shutdown", "running")

        # The read-only socket serves queries and refuses changes.
        out = virsh("list", "--all", connect=ro_uri, readonly=True)
        check(re.search(r"\d+\s+vm1\s+running", out.stdout), "read-only list: " + out.stdout)
        ok(virsh("dumpxml", "vm1", connect=ro_uri, readonly=True), "read-only dumpxml",
           "<name>vm1</name>")
        ok(virsh("define", files["vm2"]), "define vm2", "Domain 'vm2' defined")
        for args in (("define", files["vm1"]), ("start", "vm2"), ("destroy", "vm1")):
            refused(virsh(*args, connect=ro_uri, readonly=True), "read-only " + args[0],
                    "read only")
        ok(virsh("undefine", "vm2"), "undefine vm2", "has been undefined")
        ro_conn = libvirt.open(ro_uri)  # not openReadOnly: the socket alone refuses
        try:
            ro_conn.lookupByName("vm1").destroy()
            check(False, "the read-only socket destroyed vm1")
        except libvirt.libvirtError as e:
            check(e.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED,
                  "read-only socket error: %s" % e)
        ro_conn.close()
        conn.close()

        # The daemon dies and comes back: the domain is still running, same id.
        daemon.kill(signal.SIGKILL)
        daemon.start()
        out = virsh("list")
        check(re.search(r"\b%d\s+vm1\s+running" % vm_id, out.stdout),
              "after SIGKILL and restart: " + out.stdout + out.stderr)
        ok(virsh("domstate", "vm1"), "domstate after restart", "running")

        ok(virsh("destroy", "vm1"), "destroy", "destroyed")
        ok(virsh("domstate", "vm1"), "shut off after destroy", "shut off")
        refused(virsh("suspend", "vm1"), "suspend while shut off", "domain is not running")
        ok(virsh("autostart", "vm1"), "autostart", "marked as autostarted")
        ok(virsh("dominfo", "vm1"), "autostart shown", "Autostart:      enable")
        ok(virsh("autostart", "--disable", "vm1"), "autostart --disable", "unmarked")
        ok(virsh("undefine", "vm1"), "undefine", "has been undefined")
        out = virsh("list", "--all")
        check(out.returncode == 0 and "vm1" not in out.stdout, "gone after undefine: " + out.stdout)
    finally:
        virsh("destroy", "vm1")
        virsh("destroy", "transient")
        if daemon.process.poll() is None:
            daemon.kill(signal.SIGTERM)
    if failures:
        print("%d failure(s); daemon log:" % len(failures))
        print(open(tmp + "/daemon.log").read())
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("all virsh domain checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
