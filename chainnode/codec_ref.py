"""Reference (pure-Python) canonical msgpack codec: the specification `codec` must match.

Consensus needs one byte string per value, so the encoding is canonical: msgpack with the
smallest representation for every int and length, map keys (str only) sorted by their UTF-8
bytes, no floats, no extension types except the one for big integers. `decode` accepts only
what `encode` would produce: anything else (non-minimal ints, unsorted or duplicate keys,
floats, trailing bytes) is rejected, so two nodes can never disagree about what a message said.

Allowed values: None, bool, int, str, bytes, list/tuple (decoded as list), dict with str keys.
Integers outside the 64-bit msgpack range use ext type 1 (two's-complement big-endian, minimal
length), bounded by MAX_BIGINT_BYTES.

`chainnode.codec` is the C-speed implementation used everywhere; it falls back to this module
for every input it does not take on its fast path, so every output byte, every accept/reject
decision and every error code and message is this module's. Property tests hold the two equal.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_SIZE = 4 * 1024 * 1024  # default cap on an encoded value
MAX_DEPTH = 32
MAX_BIGINT_BYTES = 64
BIGINT_EXT = 1


class CodecError(ValueError):
    """Raised for values that cannot be encoded or bytes that are not canonical msgpack."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def encode(obj: Any, *, max_depth: int = MAX_DEPTH) -> bytes:
    out = bytearray()
    _enc(obj, out, 0, max_depth)
    return bytes(out)


def _enc(obj: Any, out: bytearray, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise CodecError("CODEC_TOO_DEEP", f"nesting deeper than {max_depth}")
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif type(obj) is int:
        _enc_int(obj, out)
    elif type(obj) is str:
        raw = _utf8(obj)
        n = len(raw)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 0x100:
            out += b"\xd9" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += raw
    elif type(obj) in (bytes, bytearray, memoryview):
        raw = bytes(obj)
        n = len(raw)
        if n < 0x100:
            out += b"\xc4" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += raw
    elif type(obj) in (list, tuple):
        n = len(obj)
        if n < 16:
            out.append(0x90 | n)
        elif n < 0x10000:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in obj:
            _enc(item, out, depth + 1, max_depth)
    elif type(obj) is dict:
        items = []
        for k, v in obj.items():
            if type(k) is not str:
                raise CodecError("CODEC_BAD_KEY", f"map keys must be str, not {type(k).__name__}")
            items.append((_utf8(k), k, v))
        items.sort(key=lambda t: t[0])
        n = len(items)
        if n < 16:
            out.append(0x80 | n)
        elif n < 0x10000:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for _, k, v in items:
            _enc(k, out, depth + 1, max_depth)
            _enc(v, out, depth + 1, max_depth)
    elif isinstance(obj, float):
        raise CodecError("CODEC_FLOAT", "floats are not allowed in canonical data")
    else:
        raise CodecError("CODEC_TYPE", f"type {type(obj).__name__} cannot be encoded")


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. from JSON "\ud800"
        raise CodecError("CODEC_UTF8", "string is not valid Unicode (lone surrogate)") from exc


def _enc_int(v: int, out: bytearray) -> None:
    if 0 <= v < 0x80:
        out.append(v)
    elif -32 <= v < 0:
        out.append(v & 0xFF)
    elif 0 <= v < 0x100:
        out += b"\xcc" + struct.pack(">B", v)
    elif 0 <= v < 0x10000:
        out += b"\xcd" + struct.pack(">H", v)
    elif 0 <= v < 0x100000000:
        out += b"\xce" + struct.pack(">I", v)
    elif 0 <= v < 0x10000000000000000:
        out += b"\xcf" + struct.pack(">Q", v)
    elif -0x80 <= v < 0:
        out += b"\xd0" + struct.pack(">b", v)
    elif -0x8000 <= v < 0:
        out += b"\xd1" + struct.pack(">h", v)
    elif -0x80000000 <= v < 0:
        out += b"\xd2" + struct.pack(">i", v)
    elif -0x8000000000000000 <= v < 0:
        out += b"\xd3" + struct.pack(">q", v)
    else:
        raw = _bigint_bytes(v)
        n = len(raw)
        if n > MAX_BIGINT_BYTES:
            raise CodecError("CODEC_INT_RANGE", f"integer wider than {MAX_BIGINT_BYTES} bytes")
        if n in (1, 2, 4, 8, 16):
            out += bytes([{1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}[n], BIGINT_EXT])
        else:
            out += b"\xc7" + struct.pack(">Bb", n, BIGINT_EXT)
        out += raw


def _bigint_bytes(v: int) -> bytes:
    n = (v if v >= 0 else ~v).bit_length() // 8 + 1  # minimal two's complement
    return v.to_bytes(n, "big", signed=True)


def decode(data: bytes, *, max_size: int = MAX_SIZE, max_depth: int = MAX_DEPTH) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError("CODEC_TYPE", "input must be bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise CodecError("CODEC_TOO_LARGE", f"{len(data)} bytes exceeds limit {max_size}")
    if not data:
        raise CodecError("CODEC_TRUNCATED", "empty input")
    dec = _Decoder(data, max_depth)
    value = dec.value(0)
    if dec.pos != len(data):
        raise CodecError("CODEC_TRAILING", f"{len(data) - dec.pos} trailing bytes")
    return value


class _Decoder:
    __slots__ = ("data", "pos", "max_depth")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CodecError("CODEC_TRUNCATED", "input ends inside a value")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def value(self, depth: int) -> Any:
        if depth > self.max_depth:
            raise CodecError("CODEC_TOO_DEEP", f"nesting deeper than {self.max_depth}")
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0xA0 <= b <= 0xBF:
            return self.string(b & 0x1F, 0)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth, 0)
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth, 0)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b in (0xCC, 0xCD, 0xCE, 0xCF):
            width = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}[b]
            v = self.uint(width)
            lo = {1: 0x80, 2: 0x100, 4: 0x10000, 8: 0x100000000}[width]
            if v < lo:
                raise CodecError("CODEC_NONCANONICAL", "integer not in its smallest form")
            return v
        if b in (0xD0, 0xD1, 0xD2, 0xD3):
            width = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[b]
            v = int.from_bytes(self.take(width), "big", signed=True)
            lo = {1: -32, 2: -0x80, 4: -0x8000, 8: -0x80000000}[width]
            if v >= lo:
                raise CodecError("CODEC_NONCANONICAL", "integer not in its smallest form")
            return v
        if b in (0xD9, 0xDA, 0xDB):
            width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
            n = self.uint(width)
            return self.string(n, {1: 32, 2: 0x100, 4: 0x10000}[width])
        if b in (0xC4, 0xC5, 0xC6):
            width = {0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
            n = self.uint(width)
            if n < {1: 0, 2: 0x100, 4: 0x10000}[width]:
                raise CodecError("CODEC_NONCANONICAL", "length not in its smallest form")
            return self.take(n)
        if b in (0xDC, 0xDD):
            width = 2 if b == 0xDC else 4
            return self.array(self.uint(width), depth, 16 if width == 2 else 0x10000)
        if b in (0xDE, 0xDF):
            width = 2 if b == 0xDE else 4
            return self.map(self.uint(width), depth, 16 if width == 2 else 0x10000)
        if b in (0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xC7):
            if b == 0xC7:
                n = self.uint(1)
                if n in (1, 2, 4, 8, 16):
                    raise CodecError("CODEC_NONCANONICAL", "ext length has a fixed form")
            else:
                n = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}[b]
            ext_type = int.from_bytes(self.take(1), "big", signed=True)
            if ext_type != BIGINT_EXT:
                raise CodecError("CODEC_TYPE", f"unknown extension type {ext_type}")
            if n > MAX_BIGINT_BYTES:
                raise CodecError("CODEC_INT_RANGE", f"integer wider than {MAX_BIGINT_BYTES} bytes")
            raw = self.take(n)
            v = int.from_bytes(raw, "big", signed=True)
            if -0x8000000000000000 <= v < 0x10000000000000000 or _bigint_bytes(v) != raw:
                raise CodecError("CODEC_NONCANONICAL", "big integer not in its smallest form")
            return v
        if b in (0xCA, 0xCB):
            raise CodecError("CODEC_FLOAT", "floats are not allowed in canonical data")
        raise CodecError("CODEC_TYPE", f"unsupported msgpack type byte 0x{b:02x}")

    def string(self, n: int, min_len: int) -> str:
        if n < min_len:
            raise CodecError("CODEC_NONCANONICAL", "length not in its smallest form")
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError("CODEC_UTF8", "string is not valid UTF-8") from exc

    def array(self, n: int, depth: int, min_len: int) -> list:
        if n < min_len:
            raise CodecError("CODEC_NONCANONICAL", "length not in its smallest form")
        if n > len(self.data) - self.pos:
            raise CodecError("CODEC_TRUNCATED", "array longer than the input")
        return [self.value(depth + 1) for _ in range(n)]

    def map(self, n: int, depth: int, min_len: int) -> dict:
        if n < min_len:
            raise CodecError("CODEC_NONCANONICAL", "length not in its smallest form")
        if 2 * n > len(self.data) - self.pos:
            raise CodecError("CODEC_TRUNCATED", "map longer than the input")
        out: dict[str, Any] = {}
        prev: bytes | None = None
        for _ in range(n):
            start = self.pos
            k = self.value(depth + 1)
            if type(k) is not str:
                raise CodecError("CODEC_BAD_KEY", "map keys must be str")
            kraw = self.data[start : self.pos]
            kbytes = k.encode("utf-8")
            if prev is not None and kbytes <= prev:
                raise CodecError("CODEC_NONCANONICAL", "map keys not strictly sorted")
            del kraw
            prev = kbytes
            out[k] = self.value(depth + 1)
        return out
