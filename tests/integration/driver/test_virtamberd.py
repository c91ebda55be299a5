#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd against the real Debian 12 clients (virsh, python3-libvirt) and
hostile raw sockets. Usage: test_virtamberd.py PATH/TO/virtamberd"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

DAEMON = sys.argv[1]
REMOTE = 0x20008086
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def frame(program, procedure, serial, body=b"", version=1, length=None):
    payload = struct.pack(">IIiIII", program, version, procedure, 0, serial, 0) + body
    return struct.pack(">I", len(payload) + 4 if length is None else length) + payload


def recv_reply(sock):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (length,) = struct.unpack(">I", head)
    data = b""
    while len(data) < length - 4:
        chunk = sock.recv(length - 4 - len(data))
        if not chunk:
            return None
        data += chunk
    return struct.unpack(">IIiIII", data[:24]), data[24:]


def closed(sock):
    sock.settimeout(3)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def main():
    tmp = tempfile.mkdtemp(prefix="virtamberd-")
    rw, ro = tmp + "/sock", tmp + "/sock-ro"
    log = open(tmp + "/log", "w")
    daemon = subprocess.Popen([DAEMON, "--rw-socket", rw, "--ro-socket", ro,
                               "--state-dir", tmp, "--config-dir", tmp + "/etc",
                               "--run-dir", tmp + "/run", "--log-dir", tmp + "/log"],
                              stderr=log)
    for _ in range(100):
        if os.path.exists(ro):
            break
        time.sleep(0.05)
    uri = "amber:///system?socket=" + rw
    env = dict(os.environ, LIBVIRT_AUTOSTART="0")

    def virsh(*args, connect=uri):
        return subprocess.run(["virsh", "-c", connect, *args], capture_output=True,
                              text=True, timeout=20, env=env)
    try:
        out = virsh("version")
        check(out.returncode == 0 and "Running hypervisor: AMBER 0.1.0" in out.stdout,
              "virsh version: " + out.stdout + out.stderr)
        out = virsh("hostname")
        check(out.stdout.strip() == socket.gethostname(), "virsh hostname: " + out.stdout)
        out = virsh("uri")
        check(out.stdout.strip() == uri, "virsh uri: " + out.stdout)
        out = virsh("nodeinfo")
        check(out.returncode == 0 and "CPU(s):" in out.stdout and
              str(os.cpu_count()) in out.stdout, "virsh nodeinfo: " + out.stdout + out.stderr)
        out = virsh("list", "--all")
        check(out.returncode == 0 and "Id   Name   State" in out.stdout and
              len(out.stdout.strip().splitlines()) == 2, "virsh list --all: " + out.stdout)
        out = virsh("-r", "hostname", connect="amber:///system?socket=" + ro)
        check(out.returncode == 0 and out.stdout.strip() == socket.gethostname(),
              "read-only hostname: " + out.stdout + out.stderr)
        out = virsh("capabilities")
        check(out.returncode == 0 and "<os_type>hvm</os_type>" in out.stdout,
              "virsh capabilities: " + out.stdout + out.stderr)

        probe = subprocess.run(["/usr/bin/python3", "-c", f"""
import libvirt
c = libvirt.open({uri!r})
print(c.getVersion(), c.getHostname(), c.getInfo()[2], len(c.listAllDomains()))
c.close()
"""], capture_output=True, text=True, timeout=20, env=env)
        fields = probe.stdout.split()
        check(probe.returncode == 0 and fields[:2] == ["1000", socket.gethostname()] and
              fields[2] == str(os.cpu_count()) and fields[3] == "0",
              "python3-libvirt: " + probe.stdout + probe.stderr)

        # A bystander stays connected while hostile clients misbehave.
        bystander = socket.socket(socket.AF_UNIX)
        bystander.connect(rw)
        hostile = {
            "oversized": struct.pack(">I", 32 * 1024 * 1024 + 1),
            "undersized": struct.pack(">I", 27),
            "garbage": b"GET / HTTP/1.0\r\n\r\n",
        }
        for name, data in hostile.items():
            s = socket.socket(socket.AF_UNIX)
            s.connect(rw)
            s.sendall(data)
            check(closed(s), name + " closes the connection")
            s.close()
        s = socket.socket(socket.AF_UNIX)
        s.connect(rw)
        s.sendall(frame(0x1234, 1, 1))
        reply = recv_reply(s)
        check(reply is not None and reply[0][5] == 1 and b"Cannot find program" in reply[1],
              "unknown program gets an error reply")
        s.sendall(frame(REMOTE, 9999, 2))
        reply = recv_reply(s)
        check(reply is not None and b"unknown procedure: 9999" in reply[1],
              "unknown procedure gets an error reply on the same connection")
        s.sendall(frame(REMOTE, 1, 3, struct.pack(">II", 1, 0xfffffff0) + b"abcd"))
        reply = recv_reply(s)
        check(reply is not None and reply[0][5] == 1 and b"name" in reply[1],
              "bad string length gets an error reply")
        s.sendall(frame(REMOTE, 66, 4)[:20])
        s.shutdown(socket.SHUT_WR)
        check(closed(s), "truncated frame then EOF closes")
        s.close()
        bystander.sendall(frame(REMOTE, 66, 7))
        reply = recv_reply(bystander)
        check(reply is not None and reply[0][4] == 7 and reply[0][5] == 0,
              "bystander still served")
        bystander.close()

        results = []

        def client():
            out = virsh("hostname")
            results.append(out.returncode == 0 and out.stdout.strip() == socket.gethostname())
        threads = [threading.Thread(target=client) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(results.count(True) == 50, f"50 concurrent clients: {results.count(True)} ok")
    finally:
        daemon.terminate()
        rc = daemon.wait(timeout=10)
        check(rc == 0, f"daemon exit status {rc}")
        check(not os.path.exists(rw) and not os.path.exists(ro), "sockets removed on SIGTERM")
    if failures:
        print(open(tmp + "/log").read())
        sys.exit(1)
    print("ok")


main()
