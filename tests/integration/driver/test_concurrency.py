#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""200 concurrent clients against one virtamberd: wire-format clients each
running a short call sequence (handshake, event registration, keepalive,
list, close), python3-libvirt clients (a separate /usr/bin/python3), and
clients sending malformed packets. No crash, every good client served, the
daemon healthy afterwards. Usage: test_concurrency.py PATH/TO/virtamberd"""
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
KEEPALIVE = 0x6b656570
GOOD_WIRE = 150
MALFORMED = 30
LIBVIRT_CLIENTS = 20
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def frame(program, procedure, serial, body=b"", ptype=0, status=0):
    payload = struct.pack(">IIiIII", program, 1, procedure, ptype, serial, status) + body
    return struct.pack(">I", len(payload) + 4) + payload


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def recv_frame(sock):
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    data = recv_exact(sock, length - 4)
    if data is None:
        return None
    return struct.unpack(">IIiIII", data[:24]), data[24:]


def xdr_string(text):
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw + b"\0" * (-len(raw) % 4)


def good_wire_client(path, index, barrier, results):
    """The calls virsh and virt-manager make, checked one by one."""
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(path)
        barrier.wait(timeout=60)
        serial = 0

        def call(proc, body=b""):
            nonlocal serial
            serial += 1
            s.sendall(frame(REMOTE, proc, serial, body))
            while True:
                reply = recv_frame(s)
                if reply is None:
                    raise RuntimeError(f"connection closed waiting for {proc}")
                header, payload = reply
                if header[3] == 1:  # REPLY (events may come first)
                    if header[2] != proc or header[4] != serial or header[5] != 0:
                        raise RuntimeError(f"bad reply {header} to {proc}")
                    return payload

        call(66)
        supported = call(60, struct.pack(">i", 14))
        call(1, struct.pack(">I", 1) + xdr_string("amber:///system") + struct.pack(">I", 0))
        hostname = call(59)
        (callback,) = struct.unpack(">i", call(316, struct.pack(">iI", 0, 0)))
        s.sendall(frame(KEEPALIVE, 1, 0, ptype=2))  # PING: a PONG comes back
        pong = recv_frame(s)
        listed = call(273, struct.pack(">iI", 1, 3))
        call(317, struct.pack(">i", callback))
        call(2)
        s.close()
        ok = (supported == struct.pack(">i", 1) and
              hostname == xdr_string(socket.gethostname()) and callback > 0 and
              pong is not None and pong[0][:3] == (KEEPALIVE, 1, 2) and len(listed) >= 8)
        results[index] = ok or f"unexpected answers (client {index})"
    except Exception as error:  # noqa: BLE001 - any failure counts against the daemon
        results[index] = f"client {index}: {error!r}"


def malformed_client(path, index, barrier):
    kinds = [
        struct.pack(">I", 32 * 1024 * 1024 + 1),           # oversized length
        struct.pack(">I", 12),                             # undersized length
        b"GET / HTTP/1.0\r\n\r\n",                         # not libvirt at all
        frame(REMOTE, 1, 1, ptype=1),                      # a REPLY sent to the server
        frame(REMOTE, 66, 1)[:17],                         # truncated, then EOF
        frame(REMOTE, 1, 1, struct.pack(">II", 1, 0xfffffff0)),  # lying string length
        frame(REMOTE, 201, 1, b"\0" * 3),                  # console args cut short
        frame(REMOTE, 316, 1, struct.pack(">iI", 99, 0)),  # unknown event id, unopened
        os.urandom(512),
    ]
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        barrier.wait(timeout=60)
        s.sendall(kinds[index % len(kinds)])
        if index % 2:
            s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    except (OSError, threading.BrokenBarrierError):
        pass


LIBVIRT_SCRIPT = r"""
import sys, threading, libvirt
uri, count = sys.argv[1], int(sys.argv[2])
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)],
                 daemon=True).start()
barrier = threading.Barrier(count)
ok = []
def run():
    try:
        barrier.wait(timeout=60)
        c = libvirt.open(uri)
        cb = c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                      lambda *a: None, None)
        good = c.getHostname() and c.getLibVersion() > 0 and c.listAllDomains() is not None
        c.domainEventDeregisterAny(cb)
        c.close()
        ok.append(bool(good))
    except libvirt.libvirtError as e:
        print("libvirt client failed:", e, file=sys.stderr)
threads = [threading.Thread(target=run) for _ in range(count)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(ok))
"""


def main():
    tmp = tempfile.mkdtemp(prefix="virtamberd-conc-")
    rw, ro = tmp + "/sock", tmp + "/sock-ro"
    log = open(tmp + "/log", "w")
    daemon = subprocess.Popen([DAEMON, "--rw-socket", rw, "--ro-socket", ro,
                               "--state-dir", tmp, "--config-dir", tmp + "/etc",
                               "--run-dir", tmp + "/run", "--log-dir", tmp + "/logs"],
                              stderr=log)
    for _ in range(100):
        if os.path.exists(ro):
            break
        time.sleep(0.05)
    uri = "amber:///system?socket=" + rw
    env = dict(os.environ, LIBVIRT_AUTOSTART="0")
    try:
        path = rw if os.geteuid() == 0 else ro
        barrier = threading.Barrier(GOOD_WIRE + MALFORMED)
        results = [None] * GOOD_WIRE
        threads = [threading.Thread(target=good_wire_client, args=(path, i, barrier, results))
                   for i in range(GOOD_WIRE)]
        threads += [threading.Thread(target=malformed_client, args=(path, i, barrier))
                    for i in range(MALFORMED)]
        libvirt_clients = subprocess.Popen(
            ["/usr/bin/python3", "-c", LIBVIRT_SCRIPT, uri, str(LIBVIRT_CLIENTS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        out, err = libvirt_clients.communicate(timeout=120)
        served = results.count(True)
        check(served == GOOD_WIRE,
              f"wire clients served: {served}/{GOOD_WIRE}; failures: "
              f"{[r for r in results if r is not True][:5]}")
        check(out.strip() == str(LIBVIRT_CLIENTS),
              f"python3-libvirt clients served: {out.strip()}/{LIBVIRT_CLIENTS} {err[-2000:]}")
        check(daemon.poll() is None, "daemon still running after the storm")
        after = subprocess.run(["virsh", "-c", uri, "hostname"], capture_output=True, text=True,
                               timeout=20, env=env)
        check(after.returncode == 0 and after.stdout.strip() == socket.gethostname(),
              "virsh served after the storm: " + after.stdout + after.stderr)
    finally:
        daemon.terminate()
        rc = daemon.wait(timeout=20)
        check(rc == 0, f"daemon exit status {rc}")
    if failures:
        log.close()
        print(open(tmp + "/log").read()[-5000:])
        sys.exit(1)
    print(f"ok: {GOOD_WIRE} wire + {LIBVIRT_CLIENTS} python3-libvirt + {MALFORMED} malformed")


main()
