#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's virt-manager against virtamberd in the qemu compatibility mode,
under Xvfb, on the Storage tab of the connection details window: a dir
pool is defined, built and started through virsh and given three volumes
with distinctive names (a qcow2 base, a qcow2 linked clone of it through
vol-create-as --backing-vol, and a raw one), and a "default" pool in the
temp dir (else virt-manager makes one on /var/lib/libvirt/images). Then
`virt-manager --no-fork --show-host-summary` opens the connection details
window; the test switches it to its Storage tab through AT-SPI (GTK's
accessibility bridge on a private session D-Bus: the notebook's selection
interface, which switches the page as a click on the tab does) and reads
the widgets back through AT-SPI. It checks that
  - the selected tab is "Storage", the pool list shows both pools, the pool
    details show its name and target directory, and the volume list shows
    exactly the three volumes with their sizes and formats (the clone with
    its backing volume's capacity), and both lists are on screen (AT-SPI
    state SHOWING);
  - virt-manager called STORAGE_POOL_LIST_ALL_VOLUMES (282) and
    STORAGE_VOL_GET_XML_DESC (99) successfully, and no storage call
    failed (RPC log of its libvirt client, LIBVIRT_DEBUG=1);
  - virt-manager logged no traceback, no error and none of its debug
    lines about a failed storage call, and is still running;
  - the screenshot of the screen is not blank.
The screenshot and virt-manager's debug log are kept in AMBER_ARTIFACT_DIR
(printed). Needs no VMM. Skips (77) only without Xvfb or virt-manager.
Usage: test_virt_manager_storage.py VIRTAMBERD"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import amberd as a
import gui

DAEMON = sys.argv[1]
POOL = "amber-gui-pool"
VOLUMES = {  # name -> (format, vol-create-as capacity, the size virt-manager shows)
    "amber-gui-base.qcow2": ("qcow2", "48M", "48.00 MiB"),
    "amber-gui-clone.qcow2": ("qcow2", "0", "48.00 MiB"),  # the backing volume's
    "amber-gui-scratch.img": ("raw", "8M", "8.00 MiB"),
}
# Storage procedures virt-manager must have called successfully.
WANT_CALLS = {"282": "STORAGE_POOL_LIST_ALL_VOLUMES", "99": "STORAGE_VOL_GET_XML_DESC"}
# Procedure numbers of the storage calls (the pool and volume ones, and the
# storage pool events).
STORAGE_PROCS = set(range(72, 101)) | {125, 154, 155, 165, 208, 209, 259, 260, 281, 282,
                                        368, 369, 378, 391}

# What virt-manager logs at debug level when it shows an error dialog or a
# storage call goes wrong (virtManager/error.py, connection.py,
# object/storagepool.py, hoststorage.py, virtinst/storage.py).
STORAGE_LOG_ERRORS = ("error dialog message", "Fetching volume XML failed", "XMLDesc for vol=",
                      "Error building default pool", "Building default pool failed",
                      "Error getting volume info", "Error registering storage pool events",
                      "doesn't seem to support storage", "Error selecting pool",
                      "Error looking up volume")

# Through AT-SPI: finds virt-manager's connection details window, selects
# the notebook tab named argv[1] when it is not empty, and prints one JSON
# object: the tab names, the selected one, the rows of the tables (tree
# views), the names of those on screen (SHOWING) and the texts of the
# labels and entries that have an accessible name of their own
# (virt-manager names its widgets by their builder ids).
ATSPI = r"""
import json
import sys
import gi
gi.require_version('Atspi', '2.0')
from gi.repository import Atspi

def children(obj):
    for i in range(obj.get_child_count()):
        c = obj.get_child_at_index(i)
        if c is not None:
            yield c

def walk(obj, depth=0):
    yield obj
    if depth < 40:
        for c in children(obj):
            yield from walk(c, depth + 1)

def text_of(obj):
    t = obj.get_text_iface()
    if t is None:
        return None
    return t.get_text(0, t.get_character_count())

out = {"apps": [], "frames": []}
frame = None
desktop = Atspi.get_desktop(0)
for app in children(desktop):
    out["apps"].append(app.get_name())
    for f in children(app):
        out["frames"].append(f.get_name())
        if "Connection Details" in (f.get_name() or ""):
            frame = f
if frame is not None:
    tabs = [o for o in walk(frame) if o.get_role() == Atspi.Role.PAGE_TAB_LIST][0]
    names = [c.get_name() for c in children(tabs)]
    if sys.argv[1]:
        tabs.get_selection_iface().select_child(names.index(sys.argv[1]))
    out["tabs"] = names
    out["selected"] = [c.get_name() for c in children(tabs)
                       if c.get_state_set().contains(Atspi.StateType.SELECTED)]
    out["tables"], out["texts"], out["showing"] = {}, {}, []
    for o in walk(frame):
        name = o.get_name()
        table = o.get_table_iface() if name else None
        if table is not None:
            rows = []
            for r in range(table.get_n_rows()):
                row = []
                for c in range(table.get_n_columns()):
                    # A column of several renderers is a cell of cells.
                    cell = table.get_accessible_at(r, c)
                    row.append(cell.get_name() or
                               " ".join(k.get_name() or "" for k in children(cell)))
                rows.append(row)
            out["tables"][name] = rows
            if o.get_state_set().contains(Atspi.StateType.SHOWING):
                out["showing"].append(name)
        elif name and o.get_role() in (Atspi.Role.LABEL, Atspi.Role.TEXT, Atspi.Role.ENTRY):
            text = text_of(o)
            if text != name:  # a name of its own, not the label's text
                out["texts"][name] = text
print(json.dumps(out))
"""


def atspi(env, select=""):
    """Runs ATSPI; returns (its JSON object or None, error text)."""
    try:
        out = a.run(["/usr/bin/python3", "-c", ATSPI, select], env=env, timeout=20)
    except subprocess.TimeoutExpired:
        return None, "AT-SPI query timed out"
    if out.returncode != 0:
        return None, out.stderr[-1500:]
    return json.loads(out.stdout), ""


def make_pools(daemon, tmp, problems):
    """POOL with VOLUMES, and a "default" pool in TMP: without one
    virt-manager defines, builds and autostarts its own on
    /var/lib/libvirt/images (on the host)."""
    steps = []
    for name in (POOL, "default"):
        steps += [("pool-define-as", name, "dir", "--target", os.path.join(tmp, name)),
                  ("pool-build", name), ("pool-start", name)]
    for name, (fmt, cap, _) in VOLUMES.items():
        step = ("vol-create-as", POOL, name, cap, "--format", fmt)
        if "clone" in name:
            step += ("--backing-vol", "amber-gui-base.qcow2", "--backing-vol-format", "qcow2")
        steps.append(step)
    for step in steps:
        out = daemon.virsh(*step, debug=True)
        if out.returncode != 0:
            problems.append("virsh %s: %s\nfailed RPC calls: %s" %
                            (" ".join(step), a.client_errors(out.stderr), a.rpc_errors(out.stderr)))
            return False
    listed = daemon.virsh("vol-list", POOL).stdout
    a.log("virsh vol-list %s:\n%s" % (POOL, listed.rstrip()))
    return True


def check_storage_tab(state, pool_dir):
    """The problems with what AT-SPI read from the window."""
    problems = []
    others = [f for f in state.get("frames", []) if "Connection Details" not in (f or "")]
    if others:
        problems.append("virt-manager shows other windows (an error dialog?): %s" % others)
    if state.get("selected") != ["Storage"]:
        problems.append("the selected tab is %s, not Storage (tabs %s)" %
                        (state.get("selected"), state.get("tabs")))
    tables, texts = state.get("tables", {}), state.get("texts", {})
    pools = [" ".join(row) for row in tables.get("pool-list", [])]
    for name in (POOL, "default"):
        if not any(name in row for row in pools):
            problems.append("the pool list does not show %s: %s" % (name, pools))
    if texts.get("pool-name") != POOL:
        problems.append("the pool name entry shows %r, not %r" % (texts.get("pool-name"), POOL))
    if texts.get("pool-location") != pool_dir:
        problems.append("the pool location shows %r, not %r" % (texts.get("pool-location"), pool_dir))
    vols = tables.get("vol-list")
    if vols is None:
        problems.append("no vol-list table; tables: %s" % sorted(tables))
        return problems
    for name in ("pool-list", "vol-list"):
        if name not in state.get("showing", []):
            problems.append("%s is not on screen (showing: %s)" % (name, state.get("showing")))
    shown = {row[0]: row for row in vols if row and row[0]}
    if sorted(shown) != sorted(VOLUMES):
        problems.append("the volume list shows %s, not %s" % (sorted(shown), sorted(VOLUMES)))
    for name, (fmt, _, size) in VOLUMES.items():
        if name in shown and shown[name][1:3] != [size, fmt]:
            problems.append("volume %s is not shown as %s %s: %s" % (name, size, fmt, shown[name]))
    return problems


def check_log(text):
    """The problems in virt-manager's debug log (with its libvirt client's
    RPC log)."""
    problems = []
    for proc, name in WANT_CALLS.items():
        ok = len(re.findall(r"proc=%s type=1 status=0" % proc, text))
        a.log("virt-manager: %s(%s) replies ok: %d" % (name, proc, ok))
        if ok == 0:
            problems.append("virt-manager got no successful %s(%s) reply" % (name, proc))
    failed = a.rpc_errors(text)
    a.log("virt-manager: failed RPC calls: %s" % failed)
    storage_failed = [f for f in failed if f.split(":")[0].isdigit() and
                      int(f.split(":")[0]) in STORAGE_PROCS]
    if storage_failed:
        problems.append("storage calls failed: %s" % storage_failed)
    bad = [line for line in text.splitlines()
           if "Traceback" in line or re.search(r"\] (ERROR|CRITICAL) \(", line)
           or any(m in line for m in STORAGE_LOG_ERRORS)]
    if bad:
        problems.append("virt-manager logged errors:\n" + "\n".join(bad[:20]))
    return problems


def test():
    xvfb = a.require("Xvfb")
    a.require("virt-manager")
    a.check(shutil.which("xwininfo"), "xwininfo (x11-utils) is missing: scripts/install-deps.sh")
    a.check(shutil.which("dbus-daemon"), "dbus-daemon is missing: scripts/install-deps.sh")
    has_atspi = a.run(["/usr/bin/python3", "-c", "import gi; gi.require_version('Atspi', '2.0')"])
    a.check(has_atspi.returncode == 0,
            "python3-gi's Atspi (gir1.2-atspi-2.0) is missing: scripts/install-deps.sh")
    tmp = a.workdir("virt-manager-storage")
    artifacts = a.artifact_dir()
    pool_dir = os.path.join(tmp, POOL)
    shot = os.path.join(artifacts, "virt-manager-storage.png")
    vm_log_path = os.path.join(artifacts, "virt-manager-storage-debug.log")
    side_log = open(os.path.join(tmp, "xvfb-dbus.log"), "w")
    problems = []
    x = bus = daemon = manager = vm_log = None
    started = time.time()
    gui.become_subreaper()
    try:
        x, display = gui.start_xvfb(xvfb, side_log)
        bus, bus_address = gui.start_session_bus(tmp, side_log)
        xenv = dict(gui.x_env(tmp, display, accessibility=True),
                    DBUS_SESSION_BUS_ADDRESS=bus_address)
        daemon = a.Daemon(DAEMON, None, tmp)
        if make_pools(daemon, tmp, problems):
            vm_log = open(vm_log_path, "w")
            env = dict(xenv, LIBVIRT_DEBUG="1", LIBVIRT_LOG_OUTPUTS="1:stderr",
                       LIBVIRT_LOG_FILTERS="4:event 4:object 4:util")
            manager = subprocess.Popen(["virt-manager", "--debug", "--no-fork", "--connect", daemon.uri,
                                        "--show-host-summary"],
                                       stdout=vm_log, stderr=subprocess.STDOUT, env=env)
            found, titles = gui.wait_for_window(xenv, "Connection Details", 30, manager)
            a.log("window titles: %s" % titles)
            if not found:
                problems.append("no Connection Details window within 30 s (virt-manager %s); titles: %s"
                                % ("running" if manager.poll() is None else
                                   "exited %d" % manager.returncode, titles))
            else:
                state, err = None, ""
                deadline = time.time() + 20
                selected = False
                while time.time() < deadline and manager.poll() is None:
                    state, err = atspi(xenv, "" if selected else "Storage")
                    if state and "tabs" in state:
                        selected = True
                        if not check_storage_tab(state, pool_dir):
                            break
                    time.sleep(0.5)
                a.log("AT-SPI: %s" % (json.dumps(state) if state else err))
                if not state or "tabs" not in state:
                    problems.append("AT-SPI did not find the Connection Details window: %s" %
                                    (state or err))
                else:
                    problems += check_storage_tab(state, pool_dir)
                # Let the pool's size bar and icons settle.
                time.sleep(1)
                problems += gui.screenshot(xenv, shot)
            if manager.poll() is not None:
                problems.append("virt-manager exited with %d" % manager.returncode)
            vm_log.flush()
            problems += check_log(open(vm_log_path, errors="replace").read())
    finally:
        gui.stop(manager)
        if vm_log:
            vm_log.close()
        if daemon:
            for name in (POOL, "default"):
                daemon.virsh("pool-destroy", name)
                daemon.virsh("pool-undefine", name)
            daemon.stop()
        gui.stop(bus)
        gui.stop(x)
        side_log.close()
        killed = gui.reap_orphans()
        if killed:
            a.log("killed leftover processes: %s" % killed)
    a.log("run time %.1f s; artifacts: %s, %s" % (time.time() - started, shot, vm_log_path))
    if problems:
        raise a.TestFailure("\n\n".join(problems) + "\n\n(work dir kept: %s)\ndaemon log:\n%s" %
                            (tmp, daemon.log_text() if daemon else ""))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    a.main(test)
