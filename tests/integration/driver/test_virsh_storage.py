#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Storage pools and volumes of virtamberd through Debian's virsh and
python3-libvirt, against a daemon in a temporary directory:
  1. pool-define-as / pool-build / pool-start / pool-info / pool-list
     --all --details / pool-autostart / pool-refresh / pool-dumpxml;
  2. vol-create-as plain and with --backing-vol: the linked clone is under
     1 MiB, `qemu-img check` is clean, `qemu-img info --backing-chain`
     agrees with vol-dumpxml's backingStore; vol-list --details, vol-info,
     vol-clone (and vol-create-from to raw: same content as qemu-img
     compare sees it), vol-resize grow and --shrink, vol-wipe;
  3. refusals: deleting a volume whose image is locked (qemu-io holds it
     as a running QEMU would), a base with overlays (naming them), a name
     with ../, a symlink out of the pool (never listed, never deleted);
  4. a pool of images from the hostile qcow2 corpus refreshes and lists
     them, and the daemon still answers;
  5. python3-libvirt: storageVolLookupByPath and pool lifecycle/refresh
     events;
  6. with AMBER_VMM and BOOT_BIN given: a domain on a <disk type='volume'>
     (a linked clone in the pool) boots the boot-sector probe through
     `virsh start`, and its live XML shows the file the volume resolved to;
  7. vol-delete, pool-destroy / pool-delete / pool-undefine.
Usage: test_virsh_storage.py VIRTAMBERD CORPUS_GENERATOR [AMBER_VMM BOOT_BIN]"""
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

import amberd as a

DAEMON, CORPUS = sys.argv[1:3]
VMM, BOOT_BIN = (sys.argv[3:5] + [None, None])[:2]

DOMAIN_XML = """<domain type='kvm'>
  <name>vol-vm</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='p1' volume='vm.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def ok(daemon, *args):
    out = daemon.virsh(*args)
    a.check(out.returncode == 0, "virsh %s failed: %s%s\ndaemon log:\n%s" %
            (" ".join(args), out.stdout, out.stderr, daemon.log_text()))
    return out.stdout


def refused(daemon, want, *args):
    out = daemon.virsh(*args)
    a.check(out.returncode != 0, "virsh %s should have failed:\n%s" % (" ".join(args), out.stdout))
    a.check(want in out.stderr, "virsh %s: expected %r in the error, got:\n%s" %
            (" ".join(args), want, out.stderr))
    return out.stderr


def qemu_img(*args):
    return a.run(["qemu-img", *args], check_rc=True).stdout


def pools_and_volumes(daemon, tmp):
    pool = os.path.join(tmp, "images")
    ok(daemon, "pool-define-as", "p1", "dir", "--target", pool)
    ok(daemon, "pool-build", "p1")
    a.check(os.path.isdir(pool), "pool-build did not make " + pool)
    ok(daemon, "pool-start", "p1")
    ok(daemon, "pool-autostart", "p1")
    listing = ok(daemon, "pool-list", "--all", "--details")
    a.check("p1" in listing and "running" in listing and "yes" in listing, listing)
    info = ok(daemon, "pool-info", "p1")
    a.check("State:          running" in info and "Capacity" in info, info)
    a.check(os.path.islink(os.path.join(tmp, "config/storage/autostart/p1.xml")), "no autostart link")

    ok(daemon, "vol-create-as", "p1", "base.qcow2", "64M", "--format", "qcow2")
    base = os.path.join(pool, "base.qcow2")
    qemu_img("create", "-q", "-f", "raw", os.path.join(tmp, "pattern.raw"), "64M")
    a.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", base], check_rc=True)
    ok(daemon, "vol-create-as", "p1", "clone.qcow2", "0", "--format", "qcow2",
       "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2")
    clone = os.path.join(pool, "clone.qcow2")
    a.check(os.path.getsize(clone) < 1 << 20, "linked clone is %d bytes" % os.path.getsize(clone))
    check = a.run(["qemu-img", "check", clone])
    a.check(check.returncode == 0 and "No errors" in check.stdout, check.stdout + check.stderr)
    chain = json.loads(qemu_img("info", "--backing-chain", "--output=json", clone))
    xml = ok(daemon, "vol-dumpxml", "clone.qcow2", "--pool", "p1")
    a.check(chain[0]["backing-filename"] == base and "<path>%s</path>" % base in xml,
            "backing chain %s vs vol-dumpxml:\n%s" % (chain, xml))
    a.check(chain[0]["virtual-size"] == 64 << 20 and "<capacity unit='bytes'>%d<" % (64 << 20) in xml,
            "the clone's capacity is not the backing volume's:\n" + xml)
    details = ok(daemon, "vol-list", "p1", "--details")
    a.check("base.qcow2" in details and "clone.qcow2" in details and "64.00 MiB" in details, details)
    info = ok(daemon, "vol-info", "clone.qcow2", "--pool", "p1")
    a.check("Capacity:       64.00 MiB" in info, info)
    a.check(ok(daemon, "vol-path", "--pool", "p1", "clone.qcow2").strip() == clone, "vol-path")

    ok(daemon, "vol-clone", "clone.qcow2", "full.qcow2", "--pool", "p1")
    with open(os.path.join(tmp, "raw.xml"), "w") as f:
        f.write("<volume><name>full.raw</name><capacity>0</capacity>"
                "<target><format type='raw'/></target></volume>")
    ok(daemon, "vol-create-from", "p1", os.path.join(tmp, "raw.xml"), "clone.qcow2", "--inputpool", "p1")
    for copy in ("full.qcow2", "full.raw"):
        same = a.run(["qemu-img", "compare", clone, os.path.join(pool, copy)])
        a.check(same.returncode == 0, "%s differs from the clone: %s" % (copy, same.stdout))
    full_raw = os.stat(os.path.join(pool, "full.raw"))
    a.check(full_raw.st_blocks * 512 < 8 << 20, "vol-create-from wrote a non-sparse raw copy")
    a.check(json.loads(qemu_img("info", "--output=json", os.path.join(pool, "full.qcow2")))
            .get("backing-filename") is None, "vol-clone kept the backing file")

    ok(daemon, "vol-create-as", "p1", "meta.qcow2", "64M", "--format", "qcow2", "--prealloc-metadata")
    meta = json.loads(qemu_img("map", "--output=json", os.path.join(pool, "meta.qcow2")))
    a.check(all("offset" in m and m["zero"] for m in meta if m["length"] > 0),  # clusters mapped
            "--prealloc-metadata did not preallocate: %s" % meta[:4])
    ok(daemon, "vol-delete", "meta.qcow2", "--pool", "p1")
    ok(daemon, "vol-resize", "full.qcow2", "128M", "--pool", "p1")
    refused(daemon, "shrink", "vol-resize", "full.qcow2", "32M", "--pool", "p1")
    ok(daemon, "vol-resize", "full.qcow2", "32M", "--pool", "p1", "--shrink")
    size = json.loads(qemu_img("info", "--output=json", os.path.join(pool, "full.qcow2")))["virtual-size"]
    a.check(size == 32 << 20, "after --shrink qemu-img sees %d bytes" % size)
    ok(daemon, "vol-wipe", "full.raw", "--pool", "p1")
    same = a.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", os.path.join(pool, "full.raw"),
                  os.path.join(tmp, "pattern.raw")])
    a.check(same.returncode == 0, "vol-wipe left data: " + same.stdout)
    refused(daemon, "not supported", "vol-wipe", "full.raw", "--pool", "p1", "--algorithm", "dod")
    return pool


def refusals(daemon, pool, tmp):
    err = refused(daemon, "clone.qcow2", "vol-delete", "base.qcow2", "--pool", "p1")
    a.check("backing store" in err, err)
    refused(daemon, "'/'", "vol-create-as", "p1", "../escape.qcow2", "1M")
    a.check(not os.path.exists(os.path.join(tmp, "escape.qcow2")), "a volume escaped the pool")
    outside = os.path.join(tmp, "outside.raw")
    with open(outside, "wb") as f:
        f.write(b"x" * 4096)
    os.symlink(outside, os.path.join(pool, "link-out"))
    ok(daemon, "pool-refresh", "p1")
    a.check("link-out" not in ok(daemon, "vol-list", "p1"), "a symlink out of the pool is listed")
    refused(daemon, "not found", "vol-delete", "link-out", "--pool", "p1")
    a.check(os.path.exists(outside), "the symlink's target was deleted")
    # A writer holding the image as a running QEMU does: qemu-io keeps it
    # open read-write (with QEMU's locks) until stdin closes.
    holder = subprocess.Popen(["qemu-io", "-f", "qcow2", os.path.join(pool, "full.qcow2")],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        time.sleep(1)
        err = refused(daemon, "in use", "vol-delete", "full.qcow2", "--pool", "p1")
        refused(daemon, "in use", "vol-resize", "full.qcow2", "64M", "--pool", "p1")
        a.check(os.path.exists(os.path.join(pool, "full.qcow2")), "an in-use volume was deleted")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def hostile_pool(daemon, tmp):
    spec = importlib.util.spec_from_file_location("qcow2_corpus", CORPUS)
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    hostile = os.path.join(tmp, "hostile")
    cases = corpus.generate(hostile)
    ok(daemon, "pool-create-as", "hostile", "dir", "--target", hostile)
    started = time.time()
    ok(daemon, "pool-refresh", "hostile")
    listing = ok(daemon, "vol-list", "hostile", "--details")
    a.log("hostile pool: %d corpus cases, refresh took %.1f s" % (len(cases), time.time() - started))
    for case in cases[:20]:
        name = os.path.basename(case.path)
        a.check(name in listing, "corpus image %s is not listed:\n%s" % (name, listing))
    a.check("running" in ok(daemon, "pool-info", "hostile"), "the daemon stopped answering")
    ok(daemon, "pool-destroy", "hostile")
    a.check("hostile" not in ok(daemon, "pool-list", "--all"), "a destroyed transient pool is listed")


def python_api(daemon, pool):
    import libvirt
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)],
                     daemon=True).start()
    conn = libvirt.open(daemon.uri)
    try:
        vol = conn.storageVolLookupByPath(os.path.join(pool, "clone.qcow2"))
        a.check(vol.name() == "clone.qcow2" and vol.storagePoolLookupByVolume().name() == "p1",
                "storageVolLookupByPath found %s" % vol.name())
        try:
            conn.storageVolLookupByPath("/nonexistent/x.qcow2")
            raise a.TestFailure("storageVolLookupByPath of an unknown path succeeded")
        except libvirt.libvirtError as e:
            a.check(e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL, str(e))
        # The old list calls and the other lookups.
        a.check("p1" in conn.listStoragePools() and conn.numOfStoragePools() >= 1,
                "listStoragePools: %s" % conn.listStoragePools())
        a.check("p1" not in conn.listDefinedStoragePools(), "an active pool is listed as defined")
        p1 = conn.storagePoolLookupByName("p1")
        a.check(conn.storagePoolLookupByUUIDString(p1.UUIDString()).name() == "p1", "by UUID")
        a.check(conn.storagePoolLookupByTargetPath(pool).name() == "p1", "by target path")
        a.check(p1.numOfVolumes() == len(p1.listVolumes()) and "clone.qcow2" in p1.listVolumes(),
                "listVolumes: %s" % p1.listVolumes())
        a.check(conn.storageVolLookupByKey(os.path.join(pool, "base.qcow2")).name() == "base.qcow2",
                "storageVolLookupByKey")
        a.check(p1.isActive() == 1 and p1.isPersistent() == 1 and p1.autostart() == 1, "p1 flags")
        try:
            conn.storagePoolDefineXML("<pool type='logical'><name>vg</name><target><path>/dev/vg"
                                      "</path></target></pool>", 0)
            raise a.TestFailure("a logical pool was defined")
        except libvirt.libvirtError as e:
            a.check(e.get_error_code() == libvirt.VIR_ERR_CONFIG_UNSUPPORTED and
                    "'logical'" in str(e), str(e))
        try:
            conn.storagePoolLookupByName("nope")
            raise a.TestFailure("an unknown pool was found")
        except libvirt.libvirtError as e:
            a.check(e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL, str(e))
        seen = []
        got = threading.Event()

        def lifecycle(_conn, p, event, detail, _opaque):
            seen.append((p.name(), event))
            if event == libvirt.VIR_STORAGE_POOL_EVENT_UNDEFINED:
                got.set()

        def refreshed(_conn, p, _opaque):
            seen.append((p.name(), "refresh"))

        ids = [conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
                                                lifecycle, None),
               conn.storagePoolEventRegisterAny(None, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH,
                                                refreshed, None)]
        xml = ("<pool type='dir'><name>ev</name><target><path>%s</path></target></pool>" %
               os.path.join(os.path.dirname(pool), "ev"))
        p = conn.storagePoolDefineXML(xml, 0)
        p.build(0)
        p.create(0)
        p.refresh(0)
        p.destroy()
        p.undefine()
        got.wait(10)
        want = [("ev", libvirt.VIR_STORAGE_POOL_EVENT_DEFINED), ("ev", libvirt.VIR_STORAGE_POOL_EVENT_STARTED),
                ("ev", "refresh"), ("ev", libvirt.VIR_STORAGE_POOL_EVENT_STOPPED),
                ("ev", libvirt.VIR_STORAGE_POOL_EVENT_UNDEFINED)]
        a.check(seen == want, "pool events %s, expected %s" % (seen, want))
        for callback in ids:
            conn.storagePoolEventDeregisterAny(callback)
    finally:
        conn.close()


def volume_domain(daemon, pool, tmp):
    a.make_clone(pool, BOOT_BIN, "vm")  # pool/vm-base.qcow2 <- pool/vm.qcow2
    ok(daemon, "pool-refresh", "p1")
    path = os.path.join(tmp, "vol-vm.xml")
    with open(path, "w") as f:
        f.write(DOMAIN_XML)
    ok(daemon, "define", path)
    a.check("pool='p1' volume='vm.qcow2'" in ok(daemon, "dumpxml", "--inactive", "vol-vm"),
            "the inactive XML lost the volume source")
    ok(daemon, "start", "vol-vm")
    live = daemon.virsh("dumpxml", "vol-vm").stdout
    text = a.read_console(daemon, "vol-vm", "BOOT: RESULT PASS", 90)
    log_file = os.path.join(daemon.log_dir, "vol-vm.log")
    vmm_log = open(log_file, errors="replace").read() if os.path.exists(log_file) else ""
    a.check("BOOT: RESULT PASS" in text or "BOOT: RESULT PASS" in vmm_log,
            "the probe did not pass on a volume disk:\n%s\n%s" % (text[-2000:], vmm_log[-2000:]))
    a.log("live XML %s the running domain" % ("is" if " id=" in live.splitlines()[0] else "is not"))
    if "<domain type='kvm' id=" in live:
        a.check("file='%s'" % os.path.join(pool, "vm.qcow2") in live,
                "the live XML does not show the resolved path:\n" + live)
    for _ in range(60):
        if daemon.domstate("vol-vm") != "running":
            break
        time.sleep(1)
    daemon.virsh("destroy", "vol-vm")
    ok(daemon, "undefine", "vol-vm")
    a.log("volume disk: BOOT: RESULT PASS")
    # A domain that stays up (SeaBIOS finds nothing to boot on a blank
    # volume and waits) holds its image: delete and resize are refused.
    ok(daemon, "vol-create-as", "p1", "blank.qcow2", "16M", "--format", "qcow2")
    with open(path, "w") as f:
        f.write(DOMAIN_XML.replace("vol-vm", "blank-vm").replace("vm.qcow2", "blank.qcow2"))
    ok(daemon, "define", path)
    ok(daemon, "start", "blank-vm")
    a.check(daemon.domstate("blank-vm") == "running", "blank-vm is " + daemon.domstate("blank-vm"))
    refused(daemon, "in use", "vol-delete", "blank.qcow2", "--pool", "p1")
    refused(daemon, "in use", "vol-resize", "blank.qcow2", "32M", "--pool", "p1")
    ok(daemon, "destroy", "blank-vm")
    ok(daemon, "undefine", "blank-vm")
    ok(daemon, "vol-delete", "blank.qcow2", "--pool", "p1")


def teardown(daemon, pool, tmp):
    names = ["full.raw", "full.qcow2", "clone.qcow2", "base.qcow2"]
    if BOOT_BIN:
        names += ["vm.qcow2", "vm-base.qcow2"]
    for name in names:
        ok(daemon, "vol-delete", name, "--pool", "p1")
        a.check(not os.path.exists(os.path.join(pool, name)), name + " is still there")
    os.unlink(os.path.join(pool, "link-out"))
    ok(daemon, "pool-destroy", "p1")
    a.check("inactive" in ok(daemon, "pool-list", "--all"), "p1 is not inactive")
    ok(daemon, "pool-delete", "p1")
    a.check(not os.path.exists(pool), "pool-delete left " + pool)
    ok(daemon, "pool-undefine", "p1")
    a.check("p1" not in ok(daemon, "pool-list", "--all"), "p1 is still defined")
    a.check(not os.path.exists(os.path.join(tmp, "config/storage/p1.xml")), "p1.xml is still there")


def test():
    a.require("virsh")
    a.require("qemu-img")
    a.require("qemu-io")
    tmp = a.workdir("virsh-storage")
    daemon = a.Daemon(DAEMON, VMM, tmp)
    try:
        pool = pools_and_volumes(daemon, tmp)
        # The pool persists and autostarts across a daemon restart.
        daemon.stop()
        daemon = a.Daemon(DAEMON, VMM, tmp)
        a.check("running" in ok(daemon, "pool-info", "p1"), "p1 did not autostart")
        refusals(daemon, pool, tmp)
        hostile_pool(daemon, tmp)
        python_api(daemon, pool)
        if VMM and BOOT_BIN:
            volume_domain(daemon, pool, tmp)
        teardown(daemon, pool, tmp)
    finally:
        daemon.stop()
    a.log("PASS")


if __name__ == "__main__":
    a.main(test)
