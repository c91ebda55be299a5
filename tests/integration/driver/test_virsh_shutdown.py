#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`virsh shutdown` through the ACPI power button: a domain running the
power-button probe (tests/guest/bootsector/powerbtn.S, which powers off
through S5 when it sees PWRBTN_STS) is shut down with Debian's virsh on an
amber:/// URI, plain and with --mode acpi; it must end "shut off
(shutdown)" in `virsh domstate --reason`, python3-libvirt must see the
lifecycle events SHUTDOWN/FINISHED (guest) and STOPPED/SHUTDOWN, and
<on_poweroff>restart</on_poweroff> must bring it back up (STARTED/BOOTED).
Modes amber-vmm has no means for (agent, initctl, signal, paravirt) are
refused with libvirt's words and leave the domain running.
Usage: test_virsh_shutdown.py VIRTAMBERD AMBER_VMM POWERBTN_BIN
(run by /usr/bin/python3)"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd as a  # noqa: E402
import libvirt  # noqa: E402

DAEMON, VMM, POWERBTN_BIN = sys.argv[1:4]



class Events:
    """Lifecycle events of one connection, collected by a default-impl loop."""

    def __init__(self, uri):
        libvirt.virEventRegisterDefaultImpl()
        self.conn = libvirt.open(uri)
        self.seen = []
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()
        self.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         self._callback, None)

    @staticmethod
    def _loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    def _callback(self, conn, dom, event, detail, opaque):
        with self.lock:
            self.seen.append((dom.name(), event, detail))

    def wait(self, want, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            with self.lock:
                if want in self.seen:
                    return True
            time.sleep(0.1)
        return False

    def of(self, name):
        with self.lock:
            return [e for e in self.seen if e[0] == name]


def make_disk(tmp, name):
    code = open(POWERBTN_BIN, "rb").read()
    path = os.path.join(tmp, name + ".raw")
    with open(path, "wb") as f:
        f.write(code + bytes(1024 * 1024 - len(code)))
    return path


def wait_state(daemon, virsh, name, want, seconds):
    deadline = time.time() + seconds
    out = None
    while time.time() < deadline:
        out = virsh("domstate", "--reason", name)
        if out.returncode == 0 and out.stdout.strip() == want:
            return out.stdout.strip()
        time.sleep(0.25)
    return out.stdout.strip() + out.stderr.strip() if out else ""


def test():
    a.require("virsh")
    tmp = a.workdir("virsh-shutdown")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    uri = "amber:///system?socket=" + daemon.rw

    def virsh(*args):
        return a.run(["virsh", "-c", uri, *args], timeout=60, env=daemon.env)

    try:
        events = Events(uri)
        docs = {
            "pb1": a.domain_xml("pb1", make_disk(tmp, "pb1"), fmt="raw"),
            "pb2": a.domain_xml("pb2", make_disk(tmp, "pb2"), fmt="raw",
                                 extra="<on_poweroff>restart</on_poweroff>"),
        }
        for name, doc in docs.items():
            path = os.path.join(tmp, name + ".xml")
            with open(path, "w") as f:
                f.write(doc)
            out = virsh("define", path)
            a.check(out.returncode == 0, "define %s: %s%s" % (name, out.stdout, out.stderr))

        # pb1: refused modes first (the domain keeps running), then --mode acpi.
        out = virsh("start", "pb1")
        a.check(out.returncode == 0, "start pb1: %s%s" % (out.stdout, out.stderr))
        text = a.read_console(daemon, "pb1", "PWRBTN: READY", 120)
        a.check("PWRBTN: READY" in text, "pb1 probe not ready:\n" + text[-2000:])
        for mode, words in (("agent", "guest agent is not configured"),
                            ("initctl", "unsupported flags (0x4) in function"),
                            ("signal", "unsupported flags (0x8) in function"),
                            ("paravirt", "unsupported flags (0x10) in function")):
            out = virsh("shutdown", "--mode", mode, "pb1")
            a.check(out.returncode != 0 and words in out.stderr,
                    "shutdown --mode %s: rc %d %s%s" % (mode, out.returncode, out.stdout, out.stderr))
        out = virsh("domstate", "pb1")
        a.check(out.stdout.strip() == "running", "pb1 after refused modes: " + out.stdout)
        out = virsh("shutdown", "--mode", "acpi", "pb1")
        a.check(out.returncode == 0 and "Domain 'pb1' is being shutdown" in out.stdout,
                "shutdown --mode acpi: rc %d %s%s" % (out.returncode, out.stdout, out.stderr))
        state = wait_state(daemon, virsh, "pb1", "shut off (shutdown)", 60)
        a.check(state == "shut off (shutdown)", "pb1 domstate --reason: %r\n%s"
                % (state, daemon.log_text()))
        a.check(events.wait(("pb1", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                             libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN), 10),
                "no STOPPED/SHUTDOWN event for pb1: %s" % events.of("pb1"))
        a.check(("pb1", libvirt.VIR_DOMAIN_EVENT_SHUTDOWN,
                 libvirt.VIR_DOMAIN_EVENT_SHUTDOWN_GUEST) in events.of("pb1"),
                "no SHUTDOWN/GUEST event before STOPPED: %s" % events.of("pb1"))
        out = virsh("list", "--all")
        a.check("pb1" in out.stdout and "shut off" in out.stdout, "list --all: " + out.stdout)

        # pb2: plain `virsh shutdown`, on_poweroff restart: back up again.
        out = virsh("start", "pb2")
        a.check(out.returncode == 0, "start pb2: %s%s" % (out.stdout, out.stderr))
        text = a.read_console(daemon, "pb2", "PWRBTN: READY", 120)
        a.check("PWRBTN: READY" in text, "pb2 probe not ready:\n" + text[-2000:])
        out = virsh("shutdown", "pb2")
        a.check(out.returncode == 0, "shutdown pb2: %s%s" % (out.stdout, out.stderr))
        a.check(events.wait(("pb2", libvirt.VIR_DOMAIN_EVENT_STOPPED,
                             libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN), 60),
                "no STOPPED/SHUTDOWN for pb2: %s" % events.of("pb2"))
        a.check(events.wait(("pb2", libvirt.VIR_DOMAIN_EVENT_STARTED,
                             libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED), 30),
                "on_poweroff restart did not start pb2 again: %s" % events.of("pb2"))
        state = wait_state(daemon, virsh, "pb2", "running (booted)", 30)
        a.check(state == "running (booted)", "pb2 after restart: %r" % state)
        virsh("destroy", "pb2")
    finally:
        daemon.stop()


if __name__ == "__main__":
    a.main(test)
