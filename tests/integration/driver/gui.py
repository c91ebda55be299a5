# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the tests that run Debian's virt-manager under Xvfb
(test_virt_manager.py, test_virt_manager_vnc.py,
test_virt_manager_storage.py): an X server on a display of its own, a
Desktop (Xvfb, a daemon and a virt-manager for one domain, torn down
together), the environment for clients of it, window titles
(xwininfo), a screenshot of the root window (python3-gi Gdk) with a
blankness measure, a private session D-Bus (for AT-SPI) and stopping child
processes, with the ones that D-Bus activation starts (the AT-SPI bus
launcher, its bus and registry): become_subreaper() makes them ours once
their parent is gone, and reap_orphans() ends them.
"""
import ctypes
import os
import re
import signal
import subprocess
import time

import amberd as a

# Saves the root window as PNG and prints "WIDTH HEIGHT MEAN VARIANCE
# DISTINCT" over a grid of sampled pixels (grey levels).
SCREENSHOT = r"""
import sys
import gi
gi.require_version('Gdk', '3.0')
from gi.repository import Gdk
root = Gdk.get_default_root_window()
w, h = root.get_width(), root.get_height()
pb = Gdk.pixbuf_get_from_window(root, 0, 0, w, h)
pb.savev(sys.argv[1], 'png', [], [])
px, stride, n = pb.get_pixels(), pb.get_rowstride(), pb.get_n_channels()
grey = []
for y in range(0, h, 4):
    for x in range(0, w, 4):
        o = y * stride + x * n
        grey.append((px[o] + px[o + 1] + px[o + 2]) // 3)
mean = sum(grey) / len(grey)
var = sum((g - mean) ** 2 for g in grey) / len(grey)
print(w, h, round(mean, 1), round(var, 1), len(set(grey)))
"""


def _read_line(fd, what, log_path, seconds=30):
    """The first line written to the pipe FD (closed here)."""
    data = b""
    deadline = time.time() + seconds
    while time.time() < deadline and not data.endswith(b"\n"):
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    a.check(data.strip(), "%s did not report its address: %s" % (what, open(log_path).read()))
    return data.decode().strip()


def start_xvfb(xvfb, log):
    """Xvfb on a display it picks itself (-displayfd: no race with other
    X servers on this machine); returns (process, ":N")."""
    read_end, write_end = os.pipe()
    x = subprocess.Popen([xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x900x24",
                          "-nolisten", "tcp"], stdout=log, stderr=log, pass_fds=(write_end,))
    os.close(write_end)
    try:
        number = _read_line(read_end, "Xvfb", log.name)
        a.check(number.isdigit(), "Xvfb reported %r as its display" % number)
    except Exception:
        stop(x)
        raise
    return x, ":" + number


def start_session_bus(tmp, log):
    """A private session D-Bus (dbus-daemon --session) for the AT-SPI
    registry that GTK's accessibility bridge finds through it; returns
    (process, address)."""
    read_end, write_end = os.pipe()
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                            "--print-address=%d" % write_end],
                           stdout=log, stderr=log, pass_fds=(write_end,), cwd=tmp)
    os.close(write_end)
    try:
        address = _read_line(read_end, "dbus-daemon", log.name)
    except Exception:
        stop(bus)
        raise
    return bus, address


def x_env(tmp, display, accessibility=False):
    """The environment of an X client on DISPLAY with its home, config,
    cache and runtime dirs under TMP and in-memory gsettings. Without
    ACCESSIBILITY GTK's AT-SPI bridge is off (NO_AT_BRIDGE)."""
    home = os.path.join(tmp, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, DISPLAY=display, HOME=home, XDG_CONFIG_HOME=home + "/.config",
               XDG_CACHE_HOME=home + "/.cache", XDG_RUNTIME_DIR=tmp, GSETTINGS_BACKEND="memory",
               LIBVIRT_AUTOSTART="0")
    env.pop("NO_AT_BRIDGE", None)
    if not accessibility:
        env["NO_AT_BRIDGE"] = "1"
    return env


def window_titles(env):
    out = a.run(["xwininfo", "-root", "-tree"], env=env, timeout=10).stdout
    return re.findall(r'0x[0-9a-f]+ "([^"]+)"', out)


def wait_for_window(env, want, seconds, process=None):
    """Waits until a window title contains WANT (or PROCESS exits);
    returns (found, titles)."""
    titles = []
    deadline = time.time() + seconds
    while time.time() < deadline and (process is None or process.poll() is None):
        titles = window_titles(env)
        if any(want in t for t in titles):
            return True, titles
        time.sleep(0.5)
    return False, titles


def screenshot(env, path):
    """Saves the root window to PATH (PNG); returns a list of problems
    (empty when the picture was taken and is not blank)."""
    out = a.run(["/usr/bin/python3", "-c", SCREENSHOT, path], env=env, timeout=30)
    if out.returncode != 0:
        return ["screenshot failed: " + out.stderr[-1500:]]
    w, h, mean, var, distinct = out.stdout.split()
    a.log("screenshot %s: %sx%s mean %s variance %s, %s grey levels" % (path, w, h, mean, var, distinct))
    if float(var) < 100 or int(distinct) < 8:
        return ["the screenshot looks blank (variance %s, %s grey levels)" % (var, distinct)]
    return []


def stop(process, seconds=10):
    """Terminates PROCESS (a Popen, or None) and reaps it; kills it when it
    does not end within SECONDS."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Makes this process the reaper of its orphaned descendants (Linux
    prctl), so that reap_orphans() can find and end them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children():
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % entry).read()
        except OSError:
            continue
        # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me:
            found.append(int(entry))
    return found


def reap_orphans(seconds=5):
    """Waits up to SECONDS for the children of this process that no Popen
    owns (orphans it inherited as subreaper) to end, then kills the rest;
    reaps them all. Call it once every Popen has been stopped. Returns the
    command names of those that had to be killed."""
    killed = []
    deadline = time.time() + seconds
    while True:
        alive = []
        for pid in _children():
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if not done:
                alive.append(pid)
        if not alive:
            return killed
        if time.time() >= deadline:
            for pid in alive:
                try:
                    killed.append(open("/proc/%d/comm" % pid).read().strip())
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (OSError, ChildProcessError):
                    pass
            return killed
        time.sleep(0.1)


class Desktop:
    """Xvfb on a display of its own and a virtamberd for one domain NAME;
    launch() starts virt-manager on it with libvirt's client debug log.
    close() (or leaving a with block) stops virt-manager, destroys and
    undefines NAME, runs the virsh steps in self.cleanup, stops the daemon
    and the X server."""

    def __init__(self, xvfb, tmp, daemon_bin, vmm, name):
        self.name = name
        self.manager = None
        self.cleanup = []
        self._xlog = open(os.path.join(tmp, "xvfb.log"), "w")
        self.x, display = start_xvfb(xvfb, self._xlog)
        self.env = x_env(tmp, display)
        if self.x.poll() is not None:
            raise a.TestFailure("Xvfb %s did not start: %s" % (display, open(self._xlog.name).read()))
        try:
            self.daemon = a.Daemon(daemon_bin, vmm, tmp)
        except Exception:
            self.x.terminate()
            raise

    def launch(self, uri, log_path):
        """virt-manager --show-domain-console NAME on URI, logging to LOG_PATH."""
        self._mlog = open(log_path, "w")
        env = dict(self.env, LIBVIRT_DEBUG="1", LIBVIRT_LOG_OUTPUTS="1:stderr",
                   LIBVIRT_LOG_FILTERS="4:event 4:object 4:util")
        self.manager = subprocess.Popen(["virt-manager", "--debug", "--no-fork", "--connect", uri,
                                         "--show-domain-console", self.name],
                                        stdout=self._mlog, stderr=subprocess.STDOUT, env=env)
        return self.manager

    def manager_log(self):
        self._mlog.flush()
        return open(self._mlog.name, errors="replace").read()

    def close(self):
        stop(self.manager)
        self.daemon.virsh("destroy", self.name)
        self.daemon.virsh("undefine", self.name)
        for step in self.cleanup:
            self.daemon.virsh(*step)
        self.daemon.stop()
        stop(self.x)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
