# SPDX-License-Identifier: GPL-2.0-or-later
"""A small RFB (VNC) client in the Python standard library, for the tests
and the benchmark: RFB 3.8 handshake with security None or VNC
authentication (DES written out here: the standard library has none),
ClientInit/ServerInit, SetPixelFormat (32 bpp, R G B X
bytes), SetEncodings (Raw and the DesktopSize pseudo-encoding), update
requests, raw rectangles into a frame buffer, KeyEvent and PointerEvent.
Also a minimal PNG reader (8-bit RGB/RGBA, non-interlaced) for the images
gvnccapture writes."""
import socket
import struct
import time
import zlib

ENCODING_RAW = 0
ENCODING_DESKTOP_SIZE = -223
SECURITY_NONE = 1
SECURITY_VNC = 2


class RfbError(Exception):
    pass


# --- VNC authentication (RFB 3.8 section 7.2.2): DES-ECB of the 16-byte
# challenge with the password (8 bytes, NUL padded) as the key, each key
# byte's bits mirrored. Python's standard library has no DES, so here is a
# small one (FIPS 46-3 tables).
_PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
        60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45,
        37, 29, 21, 13, 5, 28, 20, 12, 4]
_PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36,
        29, 32]
_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
_IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
       64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
       61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7]
_FP = [40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
       37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
       34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25]
_E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17,
      18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1]
_P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
      13, 30, 6, 22, 11, 4, 25]
_S = [
    [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11,
     9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5,
     11, 3, 14, 10, 0, 6, 13],
    [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10,
     6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2,
     11, 6, 7, 12, 0, 5, 14, 9],
    [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14,
     12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7,
     4, 15, 14, 3, 11, 5, 2, 12],
    [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12,
     1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8,
     9, 4, 5, 11, 12, 7, 2, 14],
    [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10,
     3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13,
     6, 15, 0, 9, 10, 4, 5, 3],
    [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14,
     0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10,
     11, 14, 1, 7, 6, 0, 8, 13],
    [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12,
     2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7,
     9, 5, 0, 15, 14, 2, 3, 12],
    [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11,
     0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13,
     15, 12, 9, 0, 3, 5, 6, 11],
]


def _permute(value, table, width):
    out = 0
    for position in table:
        out = (out << 1) | ((value >> (width - position)) & 1)
    return out


def des_encrypt_block(key8, block8):
    key = int.from_bytes(key8, "big")
    cd = _permute(key, _PC1, 64)
    c, d = cd >> 28, cd & 0xFFFFFFF
    subkeys = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0xFFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0xFFFFFFF
        subkeys.append(_permute((c << 28) | d, _PC2, 56))
    v = _permute(int.from_bytes(block8, "big"), _IP, 64)
    left, right = v >> 32, v & 0xFFFFFFFF
    for k in subkeys:
        x = _permute(right, _E, 32) ^ k
        s = 0
        for i in range(8):
            six = (x >> (42 - 6 * i)) & 0x3F
            row = ((six & 0x20) >> 4) | (six & 1)
            s = (s << 4) | _S[i][row * 16 + ((six >> 1) & 0xF)]
        left, right = right, left ^ _permute(s, _P, 32)
    return _permute((right << 32) | left, _FP, 64).to_bytes(8, "big")


def vnc_des_response(password, challenge):
    key = (password.encode() + bytes(8))[:8]
    key = bytes(int("{:08b}".format(b)[::-1], 2) for b in key)
    return des_encrypt_block(key, challenge[:8]) + des_encrypt_block(key, challenge[8:])


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
