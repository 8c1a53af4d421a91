"""Canonical msgpack encoding for everything that is hashed, signed or stored, at C speed.

The canonical form is specified by `chainnode.codec_ref` (the pure-Python reference): msgpack
with the smallest form for every int and length, str-only map keys sorted by their UTF-8 bytes,
no floats, no extension type but 1 (big integers). msgpack's C packer already emits the smallest
forms, so this module only has to put map keys in order and refuse what the reference refuses:

- encode: one cheap pass over the containers (`_prep`: exact types only, str keys, depth),
  which re-orders only maps that are out of order, then the C packer.
- decode: the C unpacker, then a non-copying check walk (`_check`: what `_prep` would find
  nothing to re-order in and nothing to refuse) and a C re-encode that must give back the
  input bytes exactly. Canonical input re-encodes to itself;
  non-minimal ints or lengths, duplicate keys, bad ext payloads or trailing bytes do not.

Anything the fast path does not take (an error of any kind, a float, a big integer wider than
allowed, a subclass, a lone surrogate, nesting too deep...) goes to the reference, which then
decides: so every output byte, every accept/reject decision and every CodecError code and
message is the reference's by construction. tests/unit/test_codec_equivalence.py holds them
equal on random and hostile inputs.
"""

from __future__ import annotations

from typing import Any

import msgpack

from chainnode import codec_ref as _ref
from chainnode.codec_ref import (
    BIGINT_EXT,
    MAX_BIGINT_BYTES,
    MAX_DEPTH,
    MAX_SIZE,
    CodecError,
    _bigint_bytes,
)

__all__ = ["BIGINT_EXT", "MAX_BIGINT_BYTES", "MAX_DEPTH", "MAX_SIZE", "CodecError", "decode",
           "encode"]

_CONTAINERS = frozenset({dict, list, tuple})
_LEAVES = frozenset({type(None), bool, int, str, bytes})
# The C unpacker allocates a declared array before its items arrive: the first attempt caps
# declared array lengths so hostile nesting (1,024 levels of "array of 2^32 items") cannot
# make it allocate much; longer arrays take a second pass after an allocation-free skip.
SMALL_ARRAY = 64

_Packer = msgpack.Packer
_unpackb = msgpack.unpackb
# canonical heads of the leaves the state path encodes per write (state keys and values are
# bytes, small ints index txs, addresses are str): msgpack's smallest forms, written out as codec_ref does
_BIN8_HEADS = tuple(b"\xc4" + bytes((n,)) for n in range(0x100))
_FIXINTS = tuple(bytes((n,)) for n in range(0x80))
_FIXINTS_U8 = tuple(bytes((n,)) for n in range(0x100))
_FIXSTR_HEADS = tuple(bytes((0xA0 | n,)) for n in range(32))
# idle packers for reuse (making one costs about as much as packing a small value): a call
# pops one (list.pop and append are single atomic operations, so no two calls, threads or a
# re-entrant call, ever hold the same packer) and puts it back after a small output only (a
# large one grew its buffer, which would stay that large)
_idle: list = []
_IDLE_MAX = 8
_KEEP_PACKER_BYTES = 64 * 1024


class _Slow(Exception):
    """The fast path declines this value: the reference implementation decides."""


def encode(obj: Any, *, max_depth: int = MAX_DEPTH) -> bytes:
    try:
        t = type(obj)
        if t is bytes and max_depth >= 0:
            n = len(obj)
            if n < 0x100:
                return _BIN8_HEADS[n] + obj
            if n < 0x10000:
                return b"\xc5" + n.to_bytes(2, "big") + obj
        elif t is str and max_depth >= 0:
            raw = obj.encode()  # a lone surrogate raises: the reference decides (refuses)
            n = len(raw)
            if n < 32:
                return _FIXSTR_HEADS[n] + raw
            if n < 0x100:
                return b"\xd9" + _FIXINTS_U8[n] + raw
        elif t is int and 0 <= obj and max_depth >= 0:
            if obj < 0x80:
                return _FIXINTS[obj]
            if obj < 0x100:
                return b"\xcc" + _FIXINTS_U8[obj]
            if obj < 0x10000:
                return b"\xcd" + obj.to_bytes(2, "big")
        if t in _CONTAINERS:
            if max_depth < 0:
                raise _Slow
            obj = _prep(obj, 0, max_depth)
        elif t not in _LEAVES or max_depth < 0:
            raise _Slow
        return _pack(obj)
    except Exception:
        return _ref.encode(obj, max_depth=max_depth)


def decode(data: bytes, *, max_size: int = MAX_SIZE, max_depth: int = MAX_DEPTH) -> Any:
    if type(data) is not bytes and isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
    if type(data) is bytes and 0 < len(data) <= max_size and max_depth >= 0:
        try:
            return _decode_fast(data, max_depth)
        except Exception:
            pass
    return _ref.decode(data, max_size=max_size, max_depth=max_depth)


def _prep(obj: Any, depth: int, max_depth: int) -> Any:
    """obj (a dict, list or tuple at `depth`) ready for the C packer: every value of an allowed
    exact type, str keys in canonical order, nothing deeper than max_depth. Returns obj itself
    when nothing had to be re-ordered; only then builds a re-ordered copy. (A plain loop: cheaper than set/map tricks on the small
    containers transactions are made of.)"""
    if not obj:
        return obj
    if depth >= max_depth:  # its items would sit deeper than allowed
        raise _Slow
    d1 = depth + 1
    if type(obj) is dict:
        done = None  # the children whose prepared form is a copy, by key (each prepared once)
        for k, v in obj.items():
            if type(k) is not str:  # before sorting: a str subclass could run code to compare
                raise _Slow
            t = type(v)
            if t in _CONTAINERS:
                p = _prep(v, d1, max_depth)
                if p is not v:
                    if done is None:
                        done = {}
                    done[k] = p
            elif t not in _LEAVES:
                raise _Slow
        keys = list(obj)
        ordered = sorted(keys)  # code point order is UTF-8 byte order
        if done is None:
            if keys == ordered:
                return obj
            return {k: obj[k] for k in ordered}
        return {k: done[k] if k in done else obj[k] for k in ordered}
    out = None
    for i, v in enumerate(obj):
        t = type(v)
        if t in _CONTAINERS:
            p = _prep(v, d1, max_depth)
            if p is not v:
                if out is None:
                    out = list(obj)
                out[i] = p
        elif t not in _LEAVES:
            raise _Slow
    return obj if out is None else out


def _check(obj: Any, depth: int, max_depth: int) -> None:
    """Raise _Slow unless obj (a non-empty dict or list the C unpacker built at `depth`) is
    what `_prep` would hand back unchanged: str keys in strictly ascending order, every value
    of an allowed type, nothing deeper than max_depth. Decoding's share of `_prep`, without
    its bookkeeping for copies (a decoded value is never re-ordered: it is refused)."""
    if depth >= max_depth:  # its items would sit deeper than allowed
        raise _Slow
    d1 = depth + 1
    if type(obj) is dict:
        prev = ""
        first = True
        for k, v in obj.items():
            # str only (strict_map_key also lets bytes through); code point order is UTF-8
            # byte order; a dict holds no duplicates, so ascending means strictly
            if type(k) is not str or (k <= prev and not first):
                raise _Slow
            prev = k
            first = False
            t = type(v)
            if t is dict or t is list:
                if v:
                    _check(v, d1, max_depth)
            elif t not in _LEAVES:
                raise _Slow
        return
    for v in obj:
        t = type(v)
        if t is dict or t is list:
            if v:
                _check(v, d1, max_depth)
        elif t not in _LEAVES:
            raise _Slow


def _pack(obj: Any) -> bytes:
    # this packer runs no Python code of ours, and no other call holds it (see _idle)
    try:
        p = _idle.pop()
    except IndexError:
        p = _Packer(use_bin_type=True, buf_size=1024)
    try:
        out = p.pack(obj)
    except OverflowError:  # an int outside the 64-bit range: ext type 1 (p is dropped)
        return _Packer(use_bin_type=True, default=_bigint_ext).pack(obj)
    if len(out) <= _KEEP_PACKER_BYTES and len(_idle) < _IDLE_MAX:
        _idle.append(p)
    return out


def _bigint_ext(v: Any) -> msgpack.ExtType:
    if type(v) is not int:
        raise _Slow
    raw = _bigint_bytes(v)
    if len(raw) > MAX_BIGINT_BYTES:
        raise _Slow
    return msgpack.ExtType(BIGINT_EXT, raw)


def _ext_int(code: int, payload: bytes) -> int:
    if code != BIGINT_EXT or len(payload) > MAX_BIGINT_BYTES:
        raise _Slow
    return int.from_bytes(payload, "big", signed=True)


def _decode_fast(data: bytes, max_depth: int) -> Any:
    try:
        value = _unpackb(data, raw=False, strict_map_key=True, ext_hook=_ext_int,
                         max_array_len=SMALL_ARRAY)
    except ValueError as exc:
        if type(exc) is not ValueError or "max_array_len" not in str(exc):
            raise
        value = _decode_long_arrays(data)
    t = type(value)
    if t is dict or t is list:
        if value:
            _check(value, 0, max_depth)
    elif t not in _LEAVES:
        raise _Slow
    if _pack(value) != data:
        raise _Slow
    return value


def _decode_long_arrays(data: bytes) -> Any:
    """Input with an array longer than SMALL_ARRAY: skip through it first (no allocation), so
    every array the second pass allocates is really present in full."""
    u = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=len(data))
    u.feed(data)
    u.skip()
    if u.tell() != len(data):
        raise _Slow
    return _unpackb(data, raw=False, strict_map_key=True, ext_hook=_ext_int)


# ---------------------------------------------------------------------------- composing encodings
# A canonical array is its minimal header followed by its items' canonical encodings, so a
# value whose parts are already encoded (a block's transactions) can be put together or taken
# apart without encoding or decoding those parts again.

def array_header(n: int) -> bytes:
    """The canonical header of an n-item array."""
    return _Packer().pack_array_header(n)


def array_item_bytes(data: bytes, index: int) -> list[bytes]:
    """The encodings of the items of the array found at position `index` of the array that
    `data` encodes. `data` must already have passed `decode` (nothing is checked again)."""
    u = msgpack.Unpacker(max_buffer_size=len(data))
    u.feed(data)
    u.read_array_header()
    for _ in range(index):
        u.skip()
    n = u.read_array_header()
    out = []
    start = u.tell()
    for _ in range(n):
        u.skip()
        end = u.tell()
        out.append(data[start:end])
        start = end
    return out


def nesting(obj: Any, limit: int) -> int:
    """How many container levels deep `obj` goes (a scalar or an empty container is 0; `encode`
    with max_depth=m accepts it iff nesting <= m), counting no further than limit + 1."""
    t = type(obj)
    if t is dict:
        items: Any = obj.values()
    elif t is list or t is tuple:
        items = obj
    else:
        return 0
    if not obj:
        return 0
    if limit <= 0:
        return 1
    deepest = 0
    for v in items:
        if type(v) in _CONTAINERS:
            deepest = max(deepest, nesting(v, limit - 1))
    return 1 + deepest
