#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtamberd's KEEPALIVE program against Debian's libvirt client, with the
daemon started as `--keepalive-interval 1 --keepalive-count 2`:
  1. an interactive virsh (libvirt's client with its event loop: it asks
     CONNECT_SUPPORTS_FEATURE for keepalive and answers our PINGs) idles
     for 5 s between two commands and is still connected;
  2. python3-libvirt with the default event loop running idles 5 s and
     its connection is alive and answers;
  3. python3-libvirt without an event loop (so it never asks for
     keepalive) idles 5 s and is not dropped;
  4. a raw client that asks for keepalive and then never answers gets
     PINGs about a second apart and is closed after two of them (about
     3 s), with the reason in the daemon's log; the others stay served;
  5. a config file with `keepalive_count = "5"` (a string where libvirt
     wants an integer) is refused at start, naming the file and line.
Usage: test_keepalive.py VIRTAMBERD"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

DAEMON = sys.argv[1]
REMOTE, KEEPALIVE = 0x20008086, 0x6B656570
failures = []


def check(condition, what):
    print(("ok: " if condition else "FAIL: ") + what, flush=True)
    if not condition:
        failures.append(what)


def frame(program, procedure, serial, body=b"", kind=0):
    payload = struct.pack(">IIiIII", program, 1, procedure, kind, serial, 0) + body
    return struct.pack(">I", len(payload) + 4) + payload


def read_frame(sock, timeout):
    """(program, procedure, type) of the next frame, or None on EOF/timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
        length = struct.unpack(">I", data)[0]
        rest = b""
        while len(rest) < length - 4:
            chunk = sock.recv(length - 4 - len(rest))
            if not chunk:
                return None
            rest += chunk
    except (socket.timeout, ConnectionResetError):
        return None
    program, _version, procedure, kind = struct.unpack(">IIiI", rest[:16])
    return program, procedure, kind


def python_client(uri, with_event_loop, results):
    """Runs in a child /usr/bin/python3 so each has its own libvirt state."""
    code = r"""
import sys, threading, time, libvirt
uri, loop = sys.argv[1], sys.argv[2] == "1"
if loop:
    libvirt.virEventRegisterDefaultImpl()
    def run():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=run, daemon=True).start()
conn = libvirt.open(uri)
before = conn.getHostname()
time.sleep(5)
print(conn.isAlive(), conn.getHostname() == before)
"""
    p = subprocess.run(["/usr/bin/python3", "-c", code, uri, "1" if with_event_loop else "0"],
                       capture_output=True, text=True, timeout=60)
    results.append((p.returncode, p.stdout.strip(), p.stderr.strip()))


def main():
    tmp = tempfile.mkdtemp(prefix="amber-keepalive-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    rw, ro = tmp + "/sock", tmp + "/sock-ro"
    common = ["--rw-socket", rw, "--ro-socket", ro, "--state-dir", tmp + "/state",
              "--config-dir", tmp + "/etc", "--run-dir", tmp + "/run", "--log-dir", tmp + "/log"]

    # 5. a string where an integer belongs.
    bad_conf = tmp + "/bad.conf"
    with open(bad_conf, "w") as f:
        f.write("# keepalive\nkeepalive_count = \"5\"\n")
    p = subprocess.run([DAEMON, "--config", bad_conf] + common, capture_output=True, text=True,
                       timeout=30)
    check(p.returncode != 0 and "bad.conf:2" in p.stderr and "integer" in p.stderr,
          "a quoted keepalive_count is refused naming the line: " + p.stderr.strip())

    log_path = tmp + "/daemon.log"
    log = open(log_path, "w")
    daemon = subprocess.Popen([DAEMON, "--keepalive-interval", "1", "--keepalive-count", "2"]
                              + common, stderr=log)
    for _ in range(200):
        if os.path.exists(ro) or daemon.poll() is not None:
            break
        time.sleep(0.05)
    uri = "amber:///system?socket=" + rw
    env = dict(os.environ, LIBVIRT_AUTOSTART="0")
    try:
        check(os.path.exists(rw), "the daemon listens")
        results = {}
        threads = []
        for name, loop in (("event loop", True), ("no event loop", False)):
            results[name] = []
            threads.append(threading.Thread(target=python_client,
                                            args=(uri, loop, results[name])))
        for t in threads:
            t.start()

        # 1. interactive virsh, idle 5 s between two commands.
        # libvirt's own keepalive log shows the PINGs it got and the PONGs
        # it sent.
        virsh_env = dict(env, LIBVIRT_LOG_FILTERS="1:rpc.keepalive",
                         LIBVIRT_LOG_OUTPUTS="1:stderr")
        virsh = subprocess.Popen(["virsh", "-c", uri], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=virsh_env)
        virsh.stdin.write("hostname\n")
        virsh.stdin.flush()
        time.sleep(5)
        virsh.stdin.write("uri\nquit\n")
        virsh.stdin.flush()
        out, err = virsh.communicate(timeout=30)
        check(virsh.returncode == 0 and out.count(socket.gethostname()) >= 1 and uri in out
              and "error:" not in err,
              "interactive virsh idle 5 s is still served (rc %d, out %r, err %r)"
              % (virsh.returncode, out, err[-2000:]))
        got_pings = len(re.findall(r"RPC_KEEPALIVE_RECEIVED:.* proc=1\b", err))
        check("RPC_KEEPALIVE_RECEIVED" in err and "prog=1801807216 vers=1 proc=1" in err
              and "RPC_KEEPALIVE_SEND" in err and "vers=1 proc=2" in err
              and got_pings >= 3,
              "virsh was PINGed by the daemon and answered with PONGs (%d PINGs)" % got_pings)

        # 4. a client that asks for keepalive and never answers.
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(rw)
        raw.sendall(frame(REMOTE, 1, 1, struct.pack(">II", 1, 15) + b"amber:///system\0"
                          + struct.pack(">I", 0)))  # CONNECT_OPEN(name, flags)
        check(read_frame(raw, 5) is not None, "raw client: CONNECT_OPEN answered")
        raw.sendall(frame(REMOTE, 60, 2, struct.pack(">i", 10)))  # SUPPORTS_FEATURE(KEEPALIVE)
        check(read_frame(raw, 5) is not None, "raw client: SUPPORTS_FEATURE answered")
        start = time.monotonic()
        pings = []
        while True:
            got = read_frame(raw, 6)
            if got is None:
                break
            pings.append((got, time.monotonic() - start))
        closed_after = time.monotonic() - start
        raw.close()
        check(len(pings) == 2 and all(g == (KEEPALIVE, 1, 2) for g, _ in pings),
              "silent client got exactly two PINGs: %r" % pings)
        check(len(pings) == 2 and 0.8 < pings[0][1] < 2.5 and 0.8 < pings[1][1] - pings[0][1] < 2.5,
              "PINGs about a second apart: %r" % pings)
        check(2.5 < closed_after < 6, "silent client closed after %.1f s" % closed_after)

        for t in threads:
            t.join(timeout=60)
        for name in ("event loop", "no event loop"):
            got = results[name]
            check(got and got[0][0] == 0 and got[0][1] == "1 True",
                  "python3-libvirt (%s) idle 5 s still alive and answering: %r" % (name, got))
    finally:
        daemon.terminate()
        rc = daemon.wait(timeout=10)
        log.close()
    text = open(log_path).read()
    check(rc == 0, "daemon exit status %d" % rc)
    check("no response from client after 2 keepalive messages" in text,
          "the daemon logs why it dropped the silent client")
    check(text.count("keepalive messages") == 1, "only the silent client was dropped")
    if failures:
        print(text[-4000:])
        sys.exit(1)


main()
