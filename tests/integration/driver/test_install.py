#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`meson install --destdir` puts every program, unit, the default config
and the man pages in place, and the installed virtamberd finds the
installed amber-vmm. Usage: test_install.py BUILD_ROOT PREFIX BINDIR SBINDIR
SYSCONFDIR MANDIR UNITDIR"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

build, prefix, bindir, sbindir, sysconfdir, mandir, unitdir = sys.argv[1:8]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def under(root, path, base=prefix):
    return root + os.path.join(base, path)


def main():
    root = tempfile.mkdtemp(prefix="amber-install-")
    try:
        out = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                              "--destdir", root], capture_output=True, text=True, timeout=300)
        check(out.returncode == 0, "meson install: " + out.stdout + out.stderr)
        bin_dir, sbin_dir = under(root, bindir), under(root, sbindir)
        expected = {
            bin_dir + "/amber-img": True,
            bin_dir + "/amber-vmm": True,
            sbin_dir + "/virtamberd": True,
            under(root, sysconfdir) + "/libvirt/virtamberd.conf": False,
            under(root, mandir) + "/man1/amber-img.1": False,
            under(root, mandir) + "/man1/amber-vmm.1": False,
            under(root, mandir) + "/man8/virtamberd.8": False,
        }
        for unit in ("virtamberd.service", "virtamberd.socket", "virtamberd-ro.socket"):
            expected[root + unitdir + "/" + unit] = False
        for path, executable in expected.items():
            check(os.path.isfile(path), "installed: " + path)
            if executable:
                check(os.access(path, os.X_OK), "executable: " + path)
        units = root + unitdir
        service = open(units + "/virtamberd.service").read()
        check(f"ExecStart={os.path.join(prefix, sbindir)}/virtamberd" in service,
              "service runs the installed daemon: " + service)
        socket_unit = open(units + "/virtamberd.socket").read()
        check("ListenStream=/run/libvirt/virtamberd-sock\n" in socket_unit and
              "SocketMode=0600" in socket_unit, "rw socket unit: " + socket_unit)
        ro_unit = open(units + "/virtamberd-ro.socket").read()
        check("ListenStream=/run/libvirt/virtamberd-sock-ro" in ro_unit and
              "SocketMode=0666" in ro_unit, "ro socket unit: " + ro_unit)

        daemon = sbin_dir + "/virtamberd"
        conf = under(root, sysconfdir) + "/libvirt/virtamberd.conf"
        want = os.path.realpath(bin_dir + "/amber-vmm")
        out = subprocess.run([daemon, "--config", conf, "--print-vmm-binary"],
                             capture_output=True, text=True, timeout=10)
        check(out.returncode == 0 and out.stdout.strip() == want,
              f"installed daemon finds {want}: {out.stdout} {out.stderr}")
        sockets = root + "/sock"
        os.mkdir(sockets)
        log_path = root + "/daemon.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen([daemon, "--config", conf, "--socket-dir", sockets],
                                       stderr=log)
        for _ in range(200):
            if os.path.exists(sockets + "/virtamberd-sock-ro"):
                break
            time.sleep(0.05)
        out = subprocess.run(["virsh", "-c", "amber:///system?socket=" + sockets +
                              "/virtamberd-sock", "domcapabilities"], capture_output=True,
                             text=True, timeout=20, env=dict(os.environ, LIBVIRT_AUTOSTART="0"))
        check(f"<path>{want}</path>" in out.stdout,
              "installed daemon reports the installed amber-vmm: " + out.stdout + out.stderr)
        process.send_signal(signal.SIGTERM)
        check(process.wait(timeout=10) == 0, "installed daemon stops cleanly")
        logged = open(log_path).read()
        check("VMM binary " + want in logged, "log names the VMM binary: " + logged)
        if shutil.which("man"):
            out = subprocess.run(["man", "-l", under(root, mandir) + "/man8/virtamberd.8"],
                                 capture_output=True, text=True, timeout=20,
                                 env=dict(os.environ, MANPAGER="cat", MANWIDTH="80"))
            text = out.stdout.replace("\u2010", "-").replace("\u2212", "-")
            check(out.returncode == 0 and "print-vmm-binary" in text,
                  "man page renders: " + out.stdout[:200] + out.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        sys.exit(1)
    print("ok")


main()
