"""The C-speed codec against the pure-Python reference: same bytes, same accept/reject
decisions, same decoded values, same error codes and messages.

A fast path that silently declined everything would pass the equivalence checks trivially, so
the last tests also prove that canonical values and encodings never reach the reference.
"""

from __future__ import annotations

import enum

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainnode import codec, codec_ref

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Small(enum.IntEnum):
    ONE = 1


class Text(str):
    pass


def typed(v):
    """A structure equal only if types match too (True != 1, b"" != "", list != tuple)."""
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [typed(x) for x in v])
    if isinstance(v, dict):
        return (type(v).__name__, [(typed(k), typed(x)) for k, x in v.items()])
    return (type(v).__name__, v)


def outcome(fn, *args, **kw):
    try:
        value = fn(*args, **kw)
    except codec.CodecError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", typed(value))


def same_encode(v, **kw) -> tuple:
    fast = outcome(codec.encode, v, **kw)
    assert fast == outcome(codec_ref.encode, v, **kw)
    return fast


def same_decode(data, **kw) -> tuple:
    fast = outcome(codec.decode, data, **kw)
    assert fast == outcome(codec_ref.decode, data, **kw)
    return fast


# ---------------------------------------------------------------------------- strategies

BOUNDARY_INTS = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1,
                 2**63, 2**64 - 1, 2**64, -1, -32, -33, -128, -129, -32768, -32769, -(2**31),
                 -(2**31) - 1, -(2**63), -(2**63) - 1, 2**511 - 1, 2**511, -(2**511),
                 -(2**511) - 1, 2**600]
keys = st.text(max_size=12) | st.sampled_from(["a", "b", "é", "\U0001f600", "\ud800", "z" * 40])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(BOUNDARY_INTS)
    | st.text(max_size=40)
    | st.binary(max_size=300)
    | st.sampled_from(["x" * 31, "x" * 32, "x" * 255, "x" * 256, "\udfff", b"b" * 256])
)
odd_scalars = st.sampled_from([1.5, 0.0, Small.ONE, Text("t"), bytearray(b"ba"), memoryview(b"mv"),
                               object(), {1: 2}, {b"k": 1}, {"k": 1, 2: 3}, set()])
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=20)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=20)
    ),
    max_leaves=40,
)
values_with_odd = st.recursive(
    scalars | odd_scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6),
    max_leaves=20,
)


def nest(depth: int, leaf=None, as_map: bool = False):
    v = leaf
    for _ in range(depth):
        v = {"k": v} if as_map else [v]
    return v


# ---------------------------------------------------------------------------- encode

@SETTINGS
@given(values)
def test_encode_matches_reference(v):
    same_encode(v)


@SETTINGS
@given(values_with_odd, st.sampled_from([0, 1, 2, 3, codec.MAX_DEPTH]))
def test_encode_errors_match_reference(v, max_depth):
    same_encode(v, max_depth=max_depth)


def test_encode_edge_shapes_match_reference():
    for v in [None, True, False, 0, -1, "", b"", [], (), {}, 2**64, -(2**63) - 1, 2**512, 1.0,
              {"b": 1, "a": 2}, {"b": {"d": 1, "c": [{"y": 1, "x": 2}]}, "a": ()},
              {"\U0001f600": 1, "\uffff": 2, "z": 3}, [(1, 2), [3, (4,)]], ["\ud800"],
              {"k": 1.0}, {"k": [1, {"z": Small.ONE}]}, [bytearray(b"x")], [memoryview(b"x")],
              list(range(70000)), {str(i): i for i in range(70000)}, "é" * 40000]:
        same_encode(v)
    for depth in (codec.MAX_DEPTH - 1, codec.MAX_DEPTH, codec.MAX_DEPTH + 1, 200):
        for as_map in (False, True):
            for leaf in (None, [], {}):
                same_encode(nest(depth, leaf, as_map))
    for max_depth in (-1, 0, 1, 5, 600):
        for v in (None, [], [1], nest(5), nest(4, as_map=True)):
            same_encode(v, max_depth=max_depth)


# ---------------------------------------------------------------------------- decode

def mutations(data: bytes, rnd) -> list[bytes]:
    i = rnd.randrange(len(data))
    return [
        data[:i] + bytes([rnd.randrange(256)]) + data[i + 1:],
        data[:i] + bytes([rnd.randrange(256)]) + data[i:],
        data[:i] + data[i + 1:],
        data[:i],
        data + bytes([rnd.randrange(256)]),
        data[:i] + bytes([0xCA, 0, 0, 0, 0]) + data[i:],
    ]


@SETTINGS
@given(values, st.randoms(use_true_random=False))
def test_decode_of_canonical_and_mutated_encodings_matches_reference(v, rnd):
    try:
        data = codec_ref.encode(v)
    except codec.CodecError:
        return
    assert same_decode(data)[0] == "ok"
    for bad in mutations(data, rnd):
        same_decode(bad)
    same_decode(data, max_depth=rnd.randrange(4))
    same_decode(data, max_size=max(0, len(data) - rnd.randrange(3)))


@SETTINGS
@given(st.binary(max_size=64))
def test_decode_of_random_bytes_matches_reference(data):
    same_decode(data)


@SETTINGS
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.binary(max_size=40),
    lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=3), c, max_size=5),
    max_leaves=20))
def test_decode_of_plain_msgpack_matches_reference(v):
    """msgpack's own packer with maps in insertion order and floats: often not canonical."""
    same_decode(msgpack.packb(v, use_bin_type=True))
    same_decode(msgpack.packb(v, use_bin_type=False))


def noncanonical_and_hostile() -> list[bytes]:
    out = [
        b"\xcc\x05", b"\xcd\x00\x05", b"\xce\x00\x00\x00\x05", b"\xcf" + (5).to_bytes(8, "big"),
        b"\xd0\xff", b"\xd1\xff\x80", b"\xd2\xff\xff\xff\x80", b"\xd3" + (-5).to_bytes(8, "big",
                                                                                   signed=True),
        b"\xd9\x01a", b"\xda\x00\x01a", b"\xc5\x00\x01a", b"\xdc\x00\x01\xc0",
        b"\xde\x00\x01\xa1a\xc0", b"\x82\xa1b\x01\xa1a\x02", b"\x82\xa1a\x01\xa1a\x02",
        b"\x82\xa1a\x01\xa1a\x01", b"\x81\x01\x02", b"\x81\xc4\x01a\x01", b"\x81\xc0\x01",
        b"\xca\x00\x00\x00\x00", b"\xcb" + bytes(8), b"\x91\xcb" + bytes(8), b"\xa2\xff\xfe",
        b"\xa3\xed\xa0\x80", b"\xc0\xc0", b"\x90\x00", b"\xc1", b"\xd4\x02\x00", b"\xd4\x01\x05",
        b"\xd4\xff\x00", b"\xd6\xff" + bytes(4), b"\xd7\xff" + bytes(8), b"\xc7\x0c\xff" + bytes(12),
        b"\xc7\x01\x01\x05", b"\xc7\x00\x01", b"\xc7\x03\x01\x00\x00\x01", b"\xd8\x01" + bytes(16),
        b"\xc7\x41\x01" + b"\x7f" * 65, b"\xc7\x40\x01" + b"\x7f" * 64,
        b"\xc7\x40\x01" + b"\x00" + b"\x7f" * 63, b"\xd5\x01\x00\x80", b"\xd5\x01\xff\x7f",
        b"\xd8\x01" + b"\x00" * 16, b"\xd8\x01\x01" + bytes(15),
        b"\xdd\xff\xff\xff\xff" * 1024, b"\xdc\xff\xff" * 2000, b"\xdb\xff\xff\xff\xff",
        b"\xc6\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\x91" * 100_000 + b"\xc0",
        b"\x81\xa1k" * 100_000 + b"\xc0", b"\x91" * 1025 + b"\xc0",
        b"\xdc\x00\x41" + b"\xc0" * 0x41, b"\xdc\x00\x41" + b"\xc0" * 0x40,
        b"\xdc\x00\x41" + b"\xc0" * 0x42, b"\xdc\x00\x41" + b"\xca" + bytes(4) + b"\xc0" * 0x40,
        b"\xdc\x00\x41" + b"\x91" * 40 + b"\xc0" + b"\xc0" * 0x40,
        b"\xdc\x00\x10" + b"\xc0" * 16, b"\xdc\x00\x0f" + b"\xc0" * 15,
        # deep inside otherwise canonical containers: unsorted, bytes or int keys, a float, a
        # timestamp ext, an unknown ext, an empty key before others
        b"\x91\x82\xa1b\x01\xa1a\x02", b"\x92\x01\x81\xa1k\x82\xa1b\x01\xa1a\x02",
        b"\x91\x82\xa1a\x01\xc4\x01b\x02", b"\x81\xa1k\x81\x01\x02",
        b"\x81\xa1k\x91\xcb" + bytes(8), b"\x92\xc0\xd6\xff" + bytes(4),
        b"\x81\xa1k\xd4\x05\x00", b"\x82\xa0\x01\xa1a\x02", b"\x82\xa1a\x01\xa0\x02",
    ]
    for n, head in ((31, b"\xbf"), (32, b"\xd9\x20"), (255, b"\xd9\xff"), (256, b"\xda\x01\x00")):
        out.append(head + b"s" * n)
    for depth in (codec.MAX_DEPTH - 1, codec.MAX_DEPTH, codec.MAX_DEPTH + 1):
        out += [b"\x91" * depth + b"\xc0", b"\x81\xa1k" * depth + b"\xc0",
                b"\x91" * depth + b"\x90", b"\x81\xa1k" * depth + b"\x80"]
    return out


@pytest.mark.parametrize("data", noncanonical_and_hostile(), ids=lambda d: d[:6].hex())
def test_decode_of_noncanonical_and_hostile_input_matches_reference(data):
    same_decode(data)


def test_decode_input_types_and_limits_match_reference():
    data = codec_ref.encode({"a": [1, b"x"]})
    for arg in (data, bytearray(data), memoryview(data), "text", None, 5):
        same_decode(arg)
    for max_size in (0, len(data) - 1, len(data)):
        same_decode(data, max_size=max_size)
    for max_depth in (-1, 0, 1, 2, 3):
        same_decode(data, max_depth=max_depth)
    same_decode(b"")


# ---------------------------------------------------------------------------- the fast path is taken

@pytest.fixture
def no_reference(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the reference codec was reached")

    monkeypatch.setattr(codec._ref, "encode", refuse)
    monkeypatch.setattr(codec._ref, "decode", refuse)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(values.filter(lambda v: _encodable(v)))
def test_canonical_values_never_reach_the_reference(no_reference, v):
    assert typed(codec.decode(codec.encode(v))) == typed(as_decoded(v))


def as_decoded(v):
    if isinstance(v, (list, tuple)):
        return [as_decoded(x) for x in v]
    if isinstance(v, dict):
        return {k: as_decoded(v[k]) for k in sorted(v)}
    return v


REF_ENCODE = codec_ref.encode  # the fixture below replaces the module's


def _encodable(v) -> bool:
    try:
        REF_ENCODE(v)
    except codec.CodecError:
        return False
    return True


def test_long_arrays_and_big_ints_stay_on_the_fast_path(no_reference):
    for v in (list(range(5000)), [[b"x" * 40] * 300] * 3, {"k": [{"b": 1, "a": 2}] * 100},
              2**64, -(2**63) - 1, [2**511 - 1, -(2**511) + 1], {"a": 2**100}):
        assert codec.decode(codec.encode(v)) == v


def test_sorted_maps_at_any_depth_stay_on_the_fast_path(no_reference):
    for v in ({"": 1, "a": 2}, [{"": [{"": 0, "b": {"a": None}}], "é": b"x"}], {"a": {}, "b": []},
              [[], {}, [[{"x": [1, {"y": 2, "z": 3}]}]]]):
        assert codec.decode(codec.encode(v)) == v


def test_no_code_of_a_key_subclass_runs():
    calls = []

    class Key(str):
        def __lt__(self, other):
            calls.append("lt")
            return str.__lt__(self, other)

        __gt__ = __lt__

    assert same_encode({Key("b"): 1, Key("a"): 2})[1] == "CODEC_BAD_KEY"
    assert calls == []
