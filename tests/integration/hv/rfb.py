# SPDX-License-Identifier: GPL-2.0-or-later
"""A small RFB (VNC) client in the Python standard library, for the tests
and the benchmark: RFB 3.8 handshake with security None or VNC
authentication (DES through `openssl enc -des-ecb`, the legacy provider:
Python has no DES), ClientInit/ServerInit, SetPixelFormat (32 bpp, R G B X
bytes), SetEncodings (Raw and the DesktopSize pseudo-encoding), update
requests, raw rectangles into a frame buffer, KeyEvent and PointerEvent.
Also a minimal PNG reader (8-bit RGB/RGBA, non-interlaced) for the images
gvnccapture writes."""
import socket
import struct
import subprocess
import time
import zlib

ENCODING_RAW = 0
ENCODING_DESKTOP_SIZE = -223
SECURITY_NONE = 1
SECURITY_VNC = 2


class RfbError(Exception):
    pass


def vnc_des_response(password, challenge):
    """VNC authentication's answer: the 16-byte challenge DES-encrypted
    (ECB) with the password's first 8 bytes, each byte's bits mirrored,
    as the key (RFC 6143 7.2.2 and the VNC sources)."""
    key = password.encode('latin-1')[:8].ljust(8, b'\0')
    key = bytes(int('{:08b}'.format(b)[::-1], 2) for b in key)
    out = subprocess.run(['openssl', 'enc', '-des-ecb', '-nopad', '-K', key.hex(),
                          '-provider', 'legacy', '-provider', 'default'],
                         input=challenge, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         check=True).stdout
    if len(out) != 16:
        raise RfbError('openssl gave %d bytes for the DES response' % len(out))
    return out


class Client:
    def __init__(self, host, port, password=None, timeout=30, shared=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.width = self.height = 0
        self.frame = bytearray()
        self.name = ''
        self._handshake(password, shared)

    # -- I/O
    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise RfbError('the server closed the connection')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- handshake
    def _handshake(self, password, shared):
        version = self.recv_exact(12)
        if not version.startswith(b'RFB 003.'):
            raise RfbError('not an RFB server: %r' % version)
        self.send(b'RFB 003.008\n')
        count = self.recv_exact(1)[0]
        if count == 0:
            length = struct.unpack('>I', self.recv_exact(4))[0]
            raise RfbError('refused: %s' % self.recv_exact(length).decode('latin-1'))
        types = list(self.recv_exact(count))
        self.security_types = types
        if password is not None:
            if SECURITY_VNC not in types:
                raise RfbError('no VNC authentication offered: %s' % types)
            self.send(bytes([SECURITY_VNC]))
            challenge = self.recv_exact(16)
            self.send(vnc_des_response(password, challenge))
        else:
            if SECURITY_NONE not in types:
                raise RfbError('security None not offered: %s' % types)
            self.send(bytes([SECURITY_NONE]))
        result = struct.unpack('>I', self.recv_exact(4))[0]
        if result != 0:
            reason = ''
            try:
                length = struct.unpack('>I', self.recv_exact(4))[0]
                reason = self.recv_exact(length).decode('latin-1')
            except (RfbError, OSError):
                pass
            raise RfbError('authentication failed (%d) %s' % (result, reason))
        self.send(bytes([1 if shared else 0]))
        w, h = struct.unpack('>HH', self.recv_exact(4))
        self.server_format = self.recv_exact(16)
        length = struct.unpack('>I', self.recv_exact(4))[0]
        self.name = self.recv_exact(length).decode('latin-1')
        self._resize(w, h)
        # 32 bpp, depth 24, little endian, true colour, R at shift 0: each
        # pixel arrives as the bytes R, G, B, X.
        self.send(struct.pack('>B3xBBBBHHHBBB3x', 0, 32, 24, 0, 1, 255, 255, 255, 0, 8, 16))
        encodings = [ENCODING_RAW, ENCODING_DESKTOP_SIZE]
        self.send(struct.pack('>BxH', 2, len(encodings)) +
                  b''.join(struct.pack('>i', e) for e in encodings))

    def _resize(self, w, h):
        self.width, self.height = w, h
        self.frame = bytearray(w * h * 4)

    # -- messages
    def request(self, incremental=True, x=0, y=0, w=None, h=None):
        self.send(struct.pack('>BBHHHH', 3, 1 if incremental else 0, x, y,
                              self.width if w is None else w, self.height if h is None else h))

    def key(self, keysym, down):
        self.send(struct.pack('>BBxxI', 4, 1 if down else 0, keysym))

    def pointer(self, mask, x, y):
        self.send(struct.pack('>BBHH', 5, mask, x, y))

    def read_update(self):
        """Reads server messages up to and including one FramebufferUpdate;
        returns [(x, y, w, h, encoding)] of its rectangles (raw ones are
        drawn into self.frame, DesktopSize resizes it)."""
        while True:
            kind = self.recv_exact(1)[0]
            if kind == 0:
                break
            if kind == 1:  # SetColourMapEntries
                _, first, n = struct.unpack('>BHH', self.recv_exact(5))
                self.recv_exact(6 * n)
            elif kind == 2:  # Bell
                pass
            elif kind == 3:  # ServerCutText
                self.recv_exact(3)
                length = struct.unpack('>I', self.recv_exact(4))[0]
                self.recv_exact(length)
            else:
                raise RfbError('unknown server message %d' % kind)
        self.recv_exact(1)
        count = struct.unpack('>H', self.recv_exact(2))[0]
        rects = []
        for _ in range(count):
            x, y, w, h, enc = struct.unpack('>HHHHi', self.recv_exact(12))
            if enc == ENCODING_RAW:
                data = self.recv_exact(w * h * 4)
                if x + w > self.width or y + h > self.height:
                    raise RfbError('rectangle %dx%d+%d+%d outside %dx%d'
                                   % (w, h, x, y, self.width, self.height))
                for row in range(h):
                    start = ((y + row) * self.width + x) * 4
                    self.frame[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
            elif enc == ENCODING_DESKTOP_SIZE:
                self._resize(w, h)
            else:
                raise RfbError('unexpected encoding %d' % enc)
            rects.append((x, y, w, h, enc))
        return rects

    def rgb(self):
        """The frame as RGB bytes (3 a pixel)."""
        out = bytearray(self.width * self.height * 3)
        out[0::3] = self.frame[0::4]
        out[1::3] = self.frame[1::4]
        out[2::3] = self.frame[2::4]
        return bytes(out)

    def settle(self, timeout=10, quiet=1.0, want_size=None):
        """Requests updates until none came for `quiet` seconds (and, with
        want_size, the frame has that size); returns the frame's size."""
        deadline = time.monotonic() + timeout
        self.request(incremental=False)
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            self.sock.settimeout(0.2)
            try:
                rects = self.read_update()
            except socket.timeout:
                if (time.monotonic() - last_change >= quiet and
                        (want_size is None or (self.width, self.height) == want_size)):
                    break
                continue
            finally:
                self.sock.settimeout(30)
            if any(enc == ENCODING_DESKTOP_SIZE for *_, enc in rects):
                self.request(incremental=False)
            else:
                self.request(incremental=True)
            if rects:
                last_change = time.monotonic()
        return self.width, self.height


def read_png(path, alpha=False):
    """(width, height, RGB bytes) of an 8-bit RGB or RGBA non-interlaced PNG;
    with alpha=True also the smallest alpha value (255 without alpha)."""
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise RfbError('%s is not a PNG' % path)
    pos = 8
    idat = b''
    width = height = depth = color = interlace = None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            width, height, depth, color, _, _, interlace = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        elif kind == b'IEND':
            break
    if depth != 8 or color not in (2, 6) or interlace != 0:
        raise RfbError('%s: PNG depth %s colour type %s interlace %s not read'
                       % (path, depth, color, interlace))
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    out = bytearray(width * height * 3)
    prev = bytearray(stride)
    min_alpha = 255
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
            elif filt != 0:
                raise RfbError('%s: PNG filter %d' % (path, filt))
        for x in range(width):
            out[(y * width + x) * 3:(y * width + x) * 3 + 3] = line[x * channels:x * channels + 3]
        if channels == 4:
            min_alpha = min(min_alpha, min(line[3::4]))
        prev = line
    if alpha:
        return width, height, bytes(out), min_alpha
    return width, height, bytes(out)
