# SPDX-License-Identifier: GPL-2.0-or-later
"""A private network namespace with a tap device for the e1000 tap tests
(root): unshare(CLONE_NEWNET) for this process, /dev/net/tun with
TUNSETIFF (IFF_TAP | IFF_NO_PI), and an AF_PACKET socket on the host side
of the tap. The VMM gets the tap's descriptor (pass_fds). skip() when the
host allows no namespaces (exit 77)."""
import ctypes
import fcntl
import os
import socket
import struct
import subprocess
import sys

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454ca
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETHERTYPE_AMBER = 0x88B5
HOST_MAC = bytes([0x02, 0, 0, 0, 0, 0x01])


def skip(why):
    print('SKIP: %s' % why, flush=True)
    sys.exit(77)


def enter_namespace():
    """Moves this process into a new network namespace (or skips)."""
    if os.geteuid() != 0:
        skip('needs root for a network namespace and a tap device')
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        skip('unshare(CLONE_NEWNET): %s' % os.strerror(ctypes.get_errno()))
    if not os.path.exists('/dev/net/tun'):
        skip('no /dev/net/tun')


def open_tap(name):
    """Creates tap `name` in the current namespace, up, without IPv6 (no
    router solicitations); returns its descriptor (inheritable)."""
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
    os.set_inheritable(fd, True)
    ipv6 = '/proc/sys/net/ipv6/conf/%s/disable_ipv6' % name
    if os.path.exists(ipv6):
        with open(ipv6, 'w') as f:
            f.write('1')
    subprocess.run(['ip', 'link', 'set', name, 'up'], check=True)
    return fd


def packet_socket(name):
    """An AF_PACKET socket on `name` for ETHERTYPE_AMBER frames."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE_AMBER))
    s.bind((name, ETHERTYPE_AMBER))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return s


def frame_size(seq):
    """As tap_frame_size() in e1000_probe.c."""
    return 60 + (seq * 37) % 1400


def frame(dst, src, tag, seq, size):
    """As fill_frame() in e1000_probe.c."""
    f = bytearray((seq * 7 + i) & 0xff for i in range(size))
    f[0:6] = dst
    f[6:12] = src
    f[12:14] = struct.pack('>H', ETHERTYPE_AMBER)
    text = ('%s seq=%06d' % (tag, seq)).encode()
    f[14:14 + len(text)] = text
    return bytes(f)


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(':'))
