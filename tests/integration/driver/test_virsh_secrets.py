#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Secrets through Debian's virsh and python3-libvirt against virtamberd in
a temporary directory: secret-define / secret-list (with its filters) /
secret-dumpxml / secret-set-value (--base64, --file, --file --plain) /
secret-get-value (also --plain), a private secret's value refused, usage
conflicts and bad XML refused, the read-only socket refusing get/set/
define/undefine, the files' modes, a restart keeping persistent secrets
and dropping ephemeral ones, secret-undefine, and secret events.
Usage: test_virsh_secrets.py PATH/TO/virtamberd  (run by /usr/bin/python3)"""
import os
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amberd  # noqa: E402
from amberd import check, log  # noqa: E402

DAEMON = sys.argv[1]

VOLUME_UUID = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
PRIVATE_UUID = "2dd3c5d6-a6c4-4a0b-9f6d-3f4c2e57e8b1"
EPHEMERAL_UUID = "6dd3e4a5-1d76-44ce-961f-f119f5aad935"
VOLUME_PATH = "/var/lib/libvirt/images/win7.qcow2"
VALUE = "hunter2-correct-horse"  # must never show up in the daemon's log
BINARY_VALUE = b"\x00\x01luks\xfe\xff"
# virsh 9.0's secret-get-value --plain ends the raw bytes with a newline.
PLAIN_END = "\n"

VOLUME_XML = """<secret ephemeral='no' private='no'>
  <uuid>%s</uuid>
  <description>LUKS passphrase of win7</description>
  <usage type='volume'>
    <volume>%s</volume>
  </usage>
</secret>
""" % (VOLUME_UUID, VOLUME_PATH)


def b64(data):
    import base64
    return base64.b64encode(data).decode()


def ok(result, what):
    check(result.returncode == 0, "%s failed (rc %d): %s%s" % (
        what, result.returncode, result.stdout, result.stderr))
    return result


def refused(result, words, what):
    check(result.returncode != 0, what + " was not refused: " + result.stdout)
    check(words in result.stderr, "%s: expected %r in: %s" % (what, words, result.stderr))


def ro_virsh(daemon, *args):
    return amberd.run(["virsh", "-c", "qemu+unix:///system?socket=" + daemon.ro, *args],
                      env=daemon.env)


def write(tmp, name, text, mode="w"):
    path = os.path.join(tmp, name)
    with open(path, mode) as f:
        f.write(text)
    return path


def list_uuids(daemon, *flags):
    out = ok(daemon.virsh("secret-list", *flags), "secret-list " + " ".join(flags)).stdout
    return sorted(line.split()[0] for line in out.splitlines()[2:] if line.strip())


def define_and_list(daemon, tmp):
    out = ok(daemon.virsh("secret-define", write(tmp, "volume.xml", VOLUME_XML)), "secret-define")
    check("Secret %s created" % VOLUME_UUID in out.stdout, "secret-define output: " + out.stdout)
    ok(daemon.virsh("secret-define", write(tmp, "private.xml",
                    "<secret private='yes'><uuid>%s</uuid><usage type='ceph'>"
                    "<name>client.admin secret</name></usage></secret>" % PRIVATE_UUID)),
       "secret-define private")
    ok(daemon.virsh("secret-define", write(tmp, "ephemeral.xml",
                    "<secret ephemeral='yes'><uuid>%s</uuid><usage type='tls'>"
                    "<name>tls-client</name></usage></secret>" % EPHEMERAL_UUID)),
       "secret-define ephemeral")
    out = ok(daemon.virsh("secret-list"), "secret-list").stdout
    check("%s   volume %s" % (VOLUME_UUID, VOLUME_PATH) in out, "secret-list row: " + out)
    check("ceph client.admin secret" in out and "tls tls-client" in out, "secret-list: " + out)
    check(list_uuids(daemon) == sorted([VOLUME_UUID, PRIVATE_UUID, EPHEMERAL_UUID]),
          "all three listed")
    check(list_uuids(daemon, "--ephemeral") == [EPHEMERAL_UUID], "secret-list --ephemeral")
    check(list_uuids(daemon, "--no-ephemeral") == sorted([VOLUME_UUID, PRIVATE_UUID]),
          "secret-list --no-ephemeral")
    check(list_uuids(daemon, "--private") == [PRIVATE_UUID], "secret-list --private")
    check(list_uuids(daemon, "--no-private", "--no-ephemeral") == [VOLUME_UUID],
          "secret-list --no-private --no-ephemeral")
    out = ok(daemon.virsh("secret-dumpxml", VOLUME_UUID), "secret-dumpxml").stdout
    check(out.strip() == VOLUME_XML.strip(), "secret-dumpxml is libvirt's format:\n" + out)
    out = ok(daemon.virsh("secret-dumpxml", PRIVATE_UUID), "secret-dumpxml private").stdout
    check("<secret ephemeral='no' private='yes'>" in out, "private dumpxml: " + out)


def refusals(daemon, tmp):
    refused(daemon.virsh("secret-define", write(tmp, "dup.xml",
            "<secret><usage type='volume'><volume>%s</volume></usage></secret>" % VOLUME_PATH)),
            "a secret with UUID %s already defined for use with %s" % (VOLUME_UUID, VOLUME_PATH),
            "second secret for the same volume")
    refused(daemon.virsh("secret-define", write(tmp, "baduuid.xml",
            "<secret><uuid>not-a-uuid</uuid></secret>")),
            "malformed uuid 'not-a-uuid'", "bad uuid")
    refused(daemon.virsh("secret-define", write(tmp, "nfs.xml",
            "<secret><usage type='nfs'><name>x</name></usage></secret>")),
            "unknown secret usage type 'nfs'", "unknown usage type")
    # A UUID written with spaces reads (as libvirt's parser reads it) but
    # is not what the schema allows: secret-define --validate refuses it.
    spaced = write(tmp, "spaced.xml", "<secret ephemeral='yes'><uuid>0a1b2c3d 4e5f 4a6b 8c7d "
                                      "8e9f0a1b2c3d</uuid></secret>")
    refused(daemon.virsh("secret-define", "--validate", spaced), "XML error",
            "secret-define --validate of a schema-invalid document")
    ok(daemon.virsh("secret-define", "--validate", write(tmp, "valid.xml",
       "<secret ephemeral='yes'><uuid>0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d</uuid></secret>")),
       "secret-define --validate")
    out = ok(daemon.virsh("secret-define", spaced), "secret-define without --validate")
    check("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d" in out.stdout, "spaced UUID read: " + out.stdout)
    ok(daemon.virsh("secret-undefine", "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"), "undefine spaced")
    refused(daemon.virsh("secret-dumpxml", "00000000-0000-4000-8000-000000000000"),
            "Secret not found: no secret with matching uuid", "missing secret")
    refused(daemon.virsh("secret-get-value", VOLUME_UUID),
            "secret '%s' does not have a value" % VOLUME_UUID, "value before set")


def values(daemon, tmp):
    ok(daemon.virsh("secret-set-value", VOLUME_UUID, "--base64", b64(VALUE.encode())),
       "secret-set-value --base64")
    out = ok(daemon.virsh("secret-get-value", VOLUME_UUID), "secret-get-value").stdout
    check(out.strip() == b64(VALUE.encode()), "get-value gives the base64 back: " + out)
    out = ok(daemon.virsh("secret-get-value", VOLUME_UUID, "--plain"), "get-value --plain").stdout
    check(out == VALUE + PLAIN_END, "get-value --plain: %r" % out)
    secrets_dir = os.path.join(daemon.tmp, "config", "secrets")
    for name in (VOLUME_UUID + ".xml", VOLUME_UUID + ".base64"):
        mode = stat.S_IMODE(os.stat(os.path.join(secrets_dir, name)).st_mode)
        check(mode == 0o600, "%s has mode %o, not 0600" % (name, mode))
    check(stat.S_IMODE(os.stat(secrets_dir).st_mode) == 0o700, "secrets dir is 0700")
    check(sorted(os.listdir(secrets_dir)) == sorted(
        [VOLUME_UUID + ".xml", VOLUME_UUID + ".base64", PRIVATE_UUID + ".xml"]),
        "only persistent secrets on disk: %s" % os.listdir(secrets_dir))

    # --file holds base64 text; --file --plain the raw bytes.
    ok(daemon.virsh("secret-set-value", PRIVATE_UUID, "--file",
                    write(tmp, "value.b64", b64(BINARY_VALUE) + "\n")), "set-value --file")
    refused(daemon.virsh("secret-get-value", PRIVATE_UUID), "Invalid secret: secret is private",
            "private secret's value")
    ok(daemon.virsh("secret-set-value", EPHEMERAL_UUID, "--file",
                    write(tmp, "value.raw", BINARY_VALUE, "wb"), "--plain"),
       "set-value --file --plain")
    raw = amberd.subprocess.run(["virsh", "-c", daemon.uri, "secret-get-value", EPHEMERAL_UUID,
                                 "--plain"], capture_output=True, timeout=30, env=daemon.env)
    check(raw.returncode == 0 and raw.stdout == BINARY_VALUE + PLAIN_END.encode(),
          "binary value round trip: %r %r" % (raw.stdout, raw.stderr))
    with open(os.path.join(secrets_dir, PRIVATE_UUID + ".base64")) as f:
        check(f.read() == b64(BINARY_VALUE), "the private value is on disk as base64")


def read_only(daemon):
    out = ok(ro_virsh(daemon, "secret-list"), "read-only secret-list").stdout
    check(VOLUME_UUID in out, "read-only socket lists secrets")
    ok(ro_virsh(daemon, "secret-dumpxml", VOLUME_UUID), "read-only secret-dumpxml")
    refused(ro_virsh(daemon, "secret-get-value", VOLUME_UUID),
            "operation forbidden: read only access prevents virSecretGetValue",
            "read-only get-value")
    refused(ro_virsh(daemon, "secret-set-value", VOLUME_UUID, "--base64", "eA=="),
            "operation forbidden", "read-only set-value")
    refused(ro_virsh(daemon, "secret-undefine", VOLUME_UUID), "operation forbidden",
            "read-only undefine")
    refused(ro_virsh(daemon, "secret-define", os.path.join(daemon.tmp, "..", "volume.xml")),
            "operation forbidden", "read-only define")
    out = ok(daemon.virsh("secret-get-value", VOLUME_UUID, "--plain"), "value kept").stdout
    check(out == VALUE + PLAIN_END, "the read-only calls changed nothing")


def events(daemon):
    import libvirt
    libvirt.virEventRegisterDefaultImpl()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    conn = libvirt.open(daemon.uri)
    seen = []
    lock = threading.Condition()

    def on_lifecycle(_conn, secret, event, detail, _opaque):
        with lock:
            seen.append(("lifecycle", secret.UUIDString(), event, detail))
            lock.notify_all()

    def on_value(_conn, secret, _opaque):
        with lock:
            seen.append(("value", secret.UUIDString(), secret.usageID()))
            lock.notify_all()

    life_id = conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE,
                                          on_lifecycle, None)
    value_id = conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED,
                                           on_value, None)
    uuid = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    secret = conn.secretDefineXML("<secret ephemeral='yes'><uuid>%s</uuid><usage type='vtpm'>"
                                  "<name>VTPM_events</name></usage></secret>" % uuid)
    secret.setValue(b"tpm-state-key")
    check(conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VTPM,
                                   "VTPM_events").UUIDString() == uuid, "lookup by usage")
    secret.undefine()
    want = [("lifecycle", uuid, libvirt.VIR_SECRET_EVENT_DEFINED, 0),
            ("value", uuid, "VTPM_events"),
            ("lifecycle", uuid, libvirt.VIR_SECRET_EVENT_UNDEFINED, 0)]
    with lock:
        lock.wait_for(lambda: len(seen) >= 3, timeout=10)
        check(seen == want, "secret events: %s" % seen)
    conn.secretEventDeregisterAny(value_id)
    conn.secretEventDeregisterAny(life_id)
    again = conn.secretDefineXML("<secret ephemeral='yes'><uuid>%s</uuid></secret>" % uuid)
    again.undefine()
    time.sleep(0.5)
    with lock:
        check(len(seen) == 3, "no events after deregistering: %s" % seen)
    listed = sorted(s.UUIDString() for s in conn.listAllSecrets(
        libvirt.VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL))
    check(listed == sorted([VOLUME_UUID, PRIVATE_UUID]), "listAllSecrets: %s" % listed)
    conn.close()
    stop.set()


def main():
    tmp = amberd.workdir("secrets")
    daemon = amberd.Daemon(DAEMON, None, os.path.join(tmp, "d"))
    try:
        define_and_list(daemon, tmp)
        refusals(daemon, tmp)
        values(daemon, tmp)
        read_only(daemon)
        events(daemon)
    finally:
        daemon.stop()
    check(VALUE not in daemon.log_text() and b64(VALUE.encode()) not in daemon.log_text(),
          "the daemon's log never shows a value")

    log("restarting the daemon")
    daemon = amberd.Daemon(DAEMON, None, os.path.join(tmp, "d"))
    try:
        check(list_uuids(daemon) == sorted([VOLUME_UUID, PRIVATE_UUID]),
              "after a restart: persistent secrets kept, the ephemeral one gone")
        out = ok(daemon.virsh("secret-get-value", VOLUME_UUID, "--plain"), "value reloaded")
        check(out.stdout == VALUE + PLAIN_END, "the value survives the restart")
        refused(daemon.virsh("secret-get-value", PRIVATE_UUID), "secret is private",
                "still private after a restart")
        ok(daemon.virsh("secret-undefine", VOLUME_UUID), "secret-undefine")
        ok(daemon.virsh("secret-undefine", PRIVATE_UUID), "secret-undefine private")
        check(list_uuids(daemon) == [], "nothing left after undefine")
        check(os.listdir(os.path.join(daemon.tmp, "config", "secrets")) == [],
              "undefine removed the files")
        refused(daemon.virsh("secret-undefine", VOLUME_UUID), "Secret not found",
                "undefine twice")
    finally:
        daemon.stop()
    amberd.shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


try:
    main()
except amberd.TestFailure as failure:
    print("FAIL:", failure)
    sys.exit(1)
