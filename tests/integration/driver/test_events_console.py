#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd's domain events and console streams with the real clients and
the real amber-vmm: python3-libvirt receives lifecycle events (callback
registration via domainEventRegisterAny, with a virEventRegisterDefaultImpl
loop thread) for start, suspend, resume, destroy and a guest that powers
itself off (the boot-sector probe leaving through its exit port), with a
domain-filtered registration and nothing after deregister; `virsh console`
under a pty reads the probe's serial line, `--force` takes over a second
session (the first ends with an error), and a console killed mid-stream
leaves the daemon healthy with the console free again.
Usage: test_events_console.py VIRTAMBERD AMBER_VMM BOOT_BIN MKDISK"""
import json
import socket
import struct
import uuid as uuidlib
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd  # noqa: E402

DAEMON, VMM, BOOT_BIN, MKDISK = sys.argv[1:5]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return condition


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def make_disk(tmp, name, stay):
    raw, base, disk = (f"{tmp}/{name}.raw", f"{tmp}/{name}-base.qcow2", f"{tmp}/{name}.qcow2")
    run([sys.executable, MKDISK, BOOT_BIN, raw, "2"] + (["--stay"] if stay else []))
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, base])
    run(["qemu-img", "create", "-f", "qcow2", "-b", base, "-F", "qcow2", disk])
    return disk


def domain_xml(name, uuid, disk, on_poweroff="destroy"):
    return amberd.domain_xml(name, disk, uuid=uuid, extra=f"<on_poweroff>{on_poweroff}</on_poweroff>")


class Console:
    """`virsh console` under a pseudo-terminal (it insists on a tty)."""

    def __init__(self, uri, name, env, force=False):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            argv = ["virsh", "-c", uri, "console", name] + (["--force"] if force else [])
            os.execvpe("virsh", argv, env)
        self.seen = b""
        self.rc = None

    def read_until(self, text, seconds):
        deadline = time.monotonic() + seconds
        while text.encode() not in self.seen and time.monotonic() < deadline:
            if not self._read(0.2):
                break
        return text.encode() in self.seen

    def _read(self, wait):
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:
            return False
        self.seen += chunk
        return bool(chunk)

    def wait(self, seconds):
        """virsh's exit status (None if still running after SECONDS)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                self.rc = os.waitstatus_to_exitcode(status)
                return self.rc
        return None

    def detach(self):
        os.write(self.fd, b"\x1d")  # ^]: virsh finishes the stream and exits 0

    def kill(self):
        if self.rc is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.rc = -9

    def text(self):
        return self.seen.decode("utf-8", "replace").replace("\r", "")


REMOTE = 0x20008086
OPEN_CONSOLE = 201


def frame(procedure, serial, body=b"", ptype=0, status=0):
    payload = struct.pack(">IIiIII", REMOTE, 1, procedure, ptype, serial, status) + body
    return struct.pack(">I", len(payload) + 4) + payload


def xdr_string(text):
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw + b"\0" * (-len(raw) % 4)


class Wire:
    """A raw libvirt-protocol client (for the console before the domain
    procedures exist: DOMAIN_OPEN_CONSOLE needs only the name and UUID)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(path)
        self.s.sendall(frame(1, 0, struct.pack(">I", 1) + xdr_string("amber:///system") +
                             struct.pack(">I", 0)))
        self.read()

    def read(self, timeout=30):
        self.s.settimeout(timeout)
        try:
            head = self._exact(4)
            (length,) = struct.unpack(">I", head)
            data = self._exact(length - 4)
        except (socket.timeout, ConnectionError, ValueError):
            return None
        return struct.unpack(">IIiIII", data[:24]), data[24:]

    def _exact(self, size):
        data = b""
        while len(data) < size:
            chunk = self.s.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def open_console(self, serial, name, uuid, flags=0):
        body = xdr_string(name) + uuidlib.UUID(uuid).bytes + struct.pack(">i", -1)
        body += struct.pack(">I", 0) + struct.pack(">I", flags)  # dev_name NULL
        self.s.sendall(frame(OPEN_CONSOLE, serial, body))
        return self.read()

    def stream_until(self, serial, text, seconds):
        seen = b""
        deadline = time.monotonic() + seconds
        while text.encode() not in seen and time.monotonic() < deadline:
            got = self.read(max(0.1, deadline - time.monotonic()))
            if got is None:
                break
            header, body = got
            if header[3] == 3 and header[4] == serial:
                seen += body
        return seen


AUTOSTART_EVENTS_SCRIPT = r"""
import json, sys, threading, time, libvirt
uri = sys.argv[1]
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
c = libvirt.open(uri)
lock = threading.Condition()
seen = []
def callback(conn, dom, event, detail, opaque):
    with lock:
        seen.append((dom.name(), event, detail))
        lock.notify_all()
cb = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, None)
want = [("off", libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
        ("off", libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)]
deadline = time.monotonic() + 180
with lock:
    while time.monotonic() < deadline:
        stops = [i for i, e in enumerate(seen) if e == want[0]]
        if stops and want[1] in seen[stops[0]:]:
            break
        lock.wait(1)
c.domainEventDeregisterAny(cb)
with lock:
    count = len(seen)
time.sleep(1)
with lock:
    print(json.dumps({"events": seen, "after_deregister": len(seen) - count}))
c.close()
"""


EVENTS_SCRIPT = r"""
import json, sys, threading, time, libvirt
uri, ev_xml, off_xml = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
libvirt.virEventRegisterDefaultImpl()
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
names = {v: k[len("VIR_DOMAIN_EVENT_"):] for k, v in vars(libvirt).items()
         if k.startswith("VIR_DOMAIN_EVENT_") and k.count("_") == 3 and isinstance(v, int)}
c = libvirt.open(uri)
lock = threading.Condition()
seen = {"all": [], "off": []}
def callback(conn, dom, event, detail, key):
    with lock:
        seen[key].append((dom.name(), names.get(event, str(event)), detail))
        lock.notify_all()
def wait(key, name, event, seconds=60):
    deadline = time.monotonic() + seconds
    with lock:
        while (name, event) not in [(n, e) for n, e, _ in seen[key]]:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            lock.wait(left)
    return True
results = {}
all_id = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, "all")
ev = c.defineXML(ev_xml)
off = c.defineXML(off_xml)
off_id = c.domainEventRegisterAny(off, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback, "off")
ev.create();  results["started"] = wait("all", "ev", "STARTED")
ev.suspend(); results["suspended"] = wait("all", "ev", "SUSPENDED")
ev.resume();  results["resumed"] = wait("all", "ev", "RESUMED")
ev.destroy(); results["destroyed"] = wait("all", "ev", "STOPPED")
off.create(); results["off_started"] = wait("off", "poweroff", "STARTED")
results["powered_off"] = wait("off", "poweroff", "STOPPED", 180)
c.domainEventDeregisterAny(all_id)
c.domainEventDeregisterAny(off_id)
with lock:
    before = {k: len(v) for k, v in seen.items()}
ev.create(); ev.destroy()
time.sleep(2)
with lock:
    results["after_deregister"] = {k: len(v) - before[k] for k, v in seen.items()}
    results["events"] = seen
c.close()
print(json.dumps(results))
"""


def stop_vms(tmp):
    """amber-vmm processes outlive the daemon (it re-attaches after a
    restart): end the ones this test started, by the pids the daemon wrote."""
    run_dir = tmp + "/run"
    for entry in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
        if not entry.endswith(".pid"):
            continue
        try:
            with open(os.path.join(run_dir, entry)) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def start_daemon(tmp, rw, ro, log):
    daemon = subprocess.Popen([DAEMON, "--rw-socket", rw, "--ro-socket", ro,
                               "--state-dir", tmp + "/state", "--config-dir", tmp + "/etc",
                               "--run-dir", tmp + "/run", "--log-dir", tmp + "/log",
                               "--vmm", VMM], stderr=log)
    for _ in range(400):
        if os.path.exists(ro) or daemon.poll() is not None:
            break
        time.sleep(0.05)
    return daemon


def autostart_part(tmp, rw, uri, env):
    """The real Manager behind the daemon, with domains it autostarts:
    python3-libvirt sees a guest power itself off (STOPPED/SHUTDOWN, then
    on_poweroff=restart's STARTED/BOOTED) and nothing after deregister; a
    wire client reads the probe over DOMAIN_OPEN_CONSOLE, a second session
    is refused, a forced one ends the first with an error, a session killed
    mid-stream frees the console."""
    out = run(["/usr/bin/python3", "-c", AUTOSTART_EVENTS_SCRIPT, uri], env=env)
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {}
    events = [tuple(e) for e in result.get("events", [])]
    check(("off", 5, 0) in events and ("off", 2, 0) in events[events.index(("off", 5, 0)):],
          f"guest power-off: STOPPED/SHUTDOWN then STARTED/BOOTED: {events} {out.stderr[-2000:]}")
    check(result.get("after_deregister") == 0, f"nothing after deregister: {result}")

    first = Wire(rw)
    header, _ = first.open_console(1, "con", CON_UUID)
    check(header[3] == 1 and header[5] == 0, f"console opens: {header}")
    seen = first.stream_until(1, "BOOT: RESULT PASS", 60)
    check(b"BOOT: RESULT PASS" in seen, f"console stream carries the probe's serial line: {seen!r}")
    second = Wire(rw)
    reply = second.open_console(1, "con", CON_UUID)
    check(reply and reply[0][5] == 1 and b"Active console session" in reply[1],
          f"a second session without FORCE is refused: {reply}")
    reply = second.open_console(2, "con", CON_UUID, flags=1)
    check(reply and reply[0][5] == 0, f"a forced session opens: {reply}")
    got = first.read(20)
    check(got and got[0][3] == 3 and got[0][5] == 1 and b"taken over" in got[1],
          f"the first session ends with STREAM ERROR: {got}")
    second.s.sendall(frame(OPEN_CONSOLE, 2, ptype=3, status=0))  # finish
    got = second.read(20)
    check(got and got[0][3] == 3 and got[0][5] == 0 and got[1] == b"",
          f"finish is confirmed with an empty STREAM OK: {got}")
    victim = Wire(rw)
    reply = victim.open_console(1, "con", CON_UUID)
    check(reply and reply[0][5] == 0, f"the console is free after finish: {reply}")
    victim.s.close()  # killed mid-stream
    time.sleep(0.5)
    third = Wire(rw)
    reply = third.open_console(1, "con", CON_UUID)
    check(reply and reply[0][5] == 0, f"a killed session released the console: {reply}")
    third.s.close()
    first.s.close()
    second.s.close()


def procedures_part(tmp, uri, env, consoles):
    """Needs the domain procedures (define, start, suspend, ...)."""
    def virsh(*args):
        return run(["virsh", "-c", uri, *args], env=env)
    ev_disk = make_disk(tmp, "ev", stay=True)
    off_disk = make_disk(tmp, "poweroff", stay=False)
    with open(tmp + "/ev.xml", "w") as f:
        f.write(domain_xml("ev", "5d1e1a52-6c43-4c3e-9a1b-0a0a0a0a0a01", ev_disk))
    with open(tmp + "/poweroff.xml", "w") as f:
        f.write(domain_xml("poweroff", "5d1e1a52-6c43-4c3e-9a1b-0a0a0a0a0a02", off_disk))
    # --- lifecycle events through python3-libvirt ---
    out = run(["/usr/bin/python3", "-c", EVENTS_SCRIPT, uri, tmp + "/ev.xml",
               tmp + "/poweroff.xml"], env=env)
    try:
        results = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        results = {}
    check(results, "events script: " + out.stdout[-2000:] + out.stderr[-3000:])
    for key in ("started", "suspended", "resumed", "destroyed", "off_started", "powered_off"):
        check(results.get(key) is True, f"lifecycle event for {key}: {results}")
    events = results.get("events", {})
    stopped = [e for e in events.get("all", []) if e[0] == "ev" and e[1] == "STOPPED"]
    check(stopped and stopped[0][2] == 1, f"destroy gives STOPPED/DESTROYED: {stopped}")
    off_stopped = [e for e in events.get("off", []) if e[1] == "STOPPED"]
    check(off_stopped and off_stopped[0][2] == 0,
          f"the guest's own power-off gives STOPPED/SHUTDOWN: {off_stopped}")
    check(all(e[0] == "poweroff" for e in events.get("off", [])),
          f"the filtered registration sees only its domain: {events.get('off')}")
    check(results.get("after_deregister") == {"all": 0, "off": 0},
          f"nothing after deregister: {results.get('after_deregister')}")

    # --- virsh console, --force takeover ---
    out = virsh("start", "--paused", "ev")
    check(out.returncode == 0, "virsh start --paused ev: " + out.stdout + out.stderr)
    first = Console(uri, "ev", env)
    consoles.append(first)
    check(first.read_until("Escape character", 20), "first console attaches: " + first.text())
    second = Console(uri, "ev", env)
    consoles.append(second)
    rc = second.wait(20)
    check(rc not in (None, 0) and "Active console session" in second.text(),
          f"a second console without --force is refused (rc {rc}): {second.text()}")
    forced = Console(uri, "ev", env, force=True)
    consoles.append(forced)
    check(forced.read_until("Escape character", 20), "forced console attaches: " + forced.text())
    rc = first.wait(20)
    check(rc not in (None, 0) and "taken over" in first.text(),
          f"the first session ends with an error (rc {rc}): {first.text()}")
    out = virsh("resume", "ev")
    check(out.returncode == 0, "virsh resume ev: " + out.stdout + out.stderr)
    check(forced.read_until("BOOT: RESULT PASS", 60),
          "virsh console reads the probe's serial line: " + forced.text())
    forced.detach()
    rc = forced.wait(20)
    check(rc == 0, f"^] detaches with status 0 (rc {rc})")

    # --- a console killed mid-stream ---
    victim = Console(uri, "ev", env)
    consoles.append(victim)
    check(victim.read_until("Escape character", 20), "console after detach opens without --force")
    victim.kill()
    time.sleep(0.5)
    out = virsh("domstate", "ev")
    check(out.returncode == 0 and "running" in out.stdout,
          "daemon healthy after a killed console: " + out.stdout + out.stderr)
    again = Console(uri, "ev", env)
    consoles.append(again)
    check(again.read_until("Escape character", 20),
          "the killed session released the console: " + again.text())
    again.detach()
    again.wait(20)
    out = virsh("destroy", "ev")
    check(out.returncode == 0, "virsh destroy ev: " + out.stdout + out.stderr)


CON_UUID = "5d1e1a52-6c43-4c3e-9a1b-0a0a0a0a0b01"
OFF_UUID = "5d1e1a52-6c43-4c3e-9a1b-0a0a0a0a0b02"


def main():
    tmp = tempfile.mkdtemp(prefix="amber-evc-", dir="/tmp")
    rw, ro = tmp + "/sock", tmp + "/sock-ro"
    os.makedirs(tmp + "/etc/autostart")
    con_disk = make_disk(tmp, "con", stay=True)
    off_disk = make_disk(tmp, "off", stay=False)
    for name, uuid, disk, action in (("con", CON_UUID, con_disk, "destroy"),
                                     ("off", OFF_UUID, off_disk, "restart")):
        with open(f"{tmp}/etc/{name}.xml", "w") as f:
            f.write(domain_xml(name, uuid, disk, on_poweroff=action))
        os.symlink(f"{tmp}/etc/{name}.xml", f"{tmp}/etc/autostart/{name}.xml")
    log = open(tmp + "/daemon.log", "w")
    daemon = start_daemon(tmp, rw, ro, log)
    uri = "amber:///system?socket=" + rw
    env = dict(os.environ, LIBVIRT_AUTOSTART="0")
    consoles = []
    try:
        check(daemon.poll() is None, "daemon runs with the domain manager")
        autostart_part(tmp, rw, uri, env)
        probe = run(["virsh", "-c", uri, "domstate", "con"], env=env)
        if probe.returncode == 0:
            procedures_part(tmp, uri, env, consoles)
        else:
            print("SKIP: the virsh and lifecycle-call part needs the domain procedures: " +
                  probe.stderr.strip(), flush=True)
        check(daemon.poll() is None, "daemon still running")
    finally:
        for console in consoles:
            console.kill()
        daemon.terminate()
        try:
            rc = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            rc = daemon.wait()
        check(rc == 0, f"daemon exit status {rc}")
        stop_vms(tmp)
    if failures:
        log.close()
        print(open(tmp + "/daemon.log").read()[-6000:])
        sys.exit(1)
    print("ok")


main()
