"""Canonical msgpack codec: round trips, canonicality, and every rejection path.

msgpack (the reference implementation) is used as an independent oracle: for values inside
the 64-bit range and maps whose keys are inserted in sorted order, the canonical encoding must
be byte-for-byte what msgpack's own packer produces.
"""

from __future__ import annotations

import datetime
import decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainnode import codec
from chainnode.codec import MAX_BIGINT_BYTES, MAX_DEPTH, CodecError, decode, encode

BIG_MAX = 2 ** (8 * MAX_BIGINT_BYTES - 1) - 1
# -(2**511) itself is the 64-byte two's-complement minimum, but the encoder currently spends a
# redundant sign byte on negative powers of two (see the report), so it is left out here.
BIG_MIN = -(2 ** (8 * MAX_BIGINT_BYTES - 1)) + 1
I64_MIN = -(2**63)
U64_MAX = 2**64 - 1

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- helpers

def typed(v):
    """A structure that compares equal only if types match too (True != 1, b"" != "")."""
    if isinstance(v, (list, tuple)):
        return ("list", [typed(x) for x in v])
    if isinstance(v, dict):
        return ("dict", sorted((k, typed(x)) for k, x in v.items()))
    return (type(v).__name__, v)


def normalized(v):
    """What decode should return for v: tuples become lists."""
    if isinstance(v, (list, tuple)):
        return [normalized(x) for x in v]
    if isinstance(v, dict):
        return {k: normalized(x) for k, x in v.items()}
    return v


def sorted_for_msgpack(v):
    """v with every map's keys inserted in UTF-8 byte order, for msgpack.packb."""
    if isinstance(v, (list, tuple)):
        return [sorted_for_msgpack(x) for x in v]
    if isinstance(v, dict):
        return {k: sorted_for_msgpack(v[k]) for k in sorted(v, key=lambda s: s.encode())}
    return v


def code_of(data: bytes, **kw) -> str:
    with pytest.raises(CodecError) as ei:
        decode(data, **kw)
    return ei.value.code


def nest_lists(depth: int):
    v = None
    for _ in range(depth):
        v = [v]
    return v


def nest_maps(depth: int):
    v = None
    for _ in range(depth):
        v = {"k": v}
    return v


# ---------------------------------------------------------------------------- strategies

keys = st.text(max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=BIG_MIN, max_value=BIG_MAX)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=120)
    | st.binary(max_size=300)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=20)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=20)
    ),
    max_leaves=40,
)
# Same shapes but only what msgpack itself can represent (64-bit ints).
msgpack_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=I64_MIN, max_value=U64_MAX)
    | st.text(max_size=120)
    | st.binary(max_size=300)
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda children: st.lists(children, max_size=20) | st.dictionaries(keys, children, max_size=20),
    max_leaves=40,
)


# ---------------------------------------------------------------------------- round trips

@SETTINGS
@given(values)
def test_round_trip_preserves_value_and_types(v):
    data = encode(v)
    assert typed(decode(data)) == typed(normalized(v))


@SETTINGS
@given(values)
def test_encoding_is_deterministic_and_reencodes_identically(v):
    data = encode(v)
    assert encode(normalized(v)) == data
    assert encode(decode(data)) == data


def test_tuples_decode_as_lists():
    assert decode(encode((1, (2, "x"), []))) == [1, [2, "x"], []]
    assert type(decode(encode(()))) is list


@SETTINGS
@given(msgpack_values)
def test_matches_msgpack_packer_for_sorted_maps(v):
    assert encode(v) == msgpack.packb(sorted_for_msgpack(v), use_bin_type=True)
    assert msgpack.unpackb(encode(v), raw=False) == v


def test_map_keys_sorted_by_utf8_bytes_regardless_of_insertion_order():
    a = {"b": 1, "a": 2, "\u00e9": 3, "aa": 4, "": 5, "\U0001f600": 6}
    b = dict(reversed(list(a.items())))
    assert encode(a) == encode(b)
    assert list(decode(encode(a))) == sorted(a, key=lambda s: s.encode())


INT_BOUNDARIES = [
    (0, 0x00), (127, 0x7F), (128, 0xCC), (255, 0xCC), (256, 0xCD), (65535, 0xCD),
    (65536, 0xCE), (2**32 - 1, 0xCE), (2**32, 0xCF), (U64_MAX, 0xCF),
    (-1, 0xFF), (-32, 0xE0), (-33, 0xD0), (-128, 0xD0), (-129, 0xD1), (-32768, 0xD1),
    (-32769, 0xD2), (-(2**31), 0xD2), (-(2**31) - 1, 0xD3), (I64_MIN, 0xD3),
]


@pytest.mark.parametrize("value,first", INT_BOUNDARIES)
def test_int_boundaries_use_smallest_form(value, first):
    data = encode(value)
    assert data[0] == first
    assert data == msgpack.packb(value)
    assert decode(data) == value


@pytest.mark.parametrize("n", [0, 31, 32, 255, 256, 65535, 65536])
def test_str_and_bin_length_headers_match_msgpack(n):
    s, b = "x" * n, b"\x01" * n
    assert encode(s) == msgpack.packb(s, use_bin_type=True)
    assert encode(b) == msgpack.packb(b, use_bin_type=True)
    assert decode(encode(s)) == s and decode(encode(b)) == b


@pytest.mark.parametrize("n", [0, 15, 16, 65535, 65536])
def test_array_and_map_length_headers_match_msgpack(n):
    arr = [None] * n
    m = {f"{i:06d}": i % 2 == 0 for i in range(n)}
    assert encode(arr) == msgpack.packb(arr)
    assert encode(m) == msgpack.packb(m)
    assert decode(encode(arr)) == arr and decode(encode(m)) == m


def test_bytes_like_inputs_encode_as_bin():
    assert encode(bytearray(b"ab")) == encode(b"ab") == encode(memoryview(b"ab"))
    assert decode(encode(bytearray(b"ab"))) == b"ab"
    assert decode(bytearray(encode([1]))) == [1]
    assert decode(memoryview(encode([1]))) == [1]


# ---------------------------------------------------------------------------- big integers

@pytest.mark.parametrize("value", [
    2**64, U64_MAX + 2, I64_MIN - 1, -(2**64), 2**100, -(2**100), 2**120, -(2**127),
    BIG_MAX, BIG_MIN,
])
def test_big_integers_round_trip(value):
    data = encode(value)
    assert decode(data) == value
    ext = msgpack.unpackb(data)
    assert isinstance(ext, msgpack.ExtType) and ext.code == codec.BIGINT_EXT
    assert int.from_bytes(ext.data, "big", signed=True) == value


def test_big_integer_layout():
    # 2**64 needs 9 bytes two's complement: ext8 with explicit length.
    assert encode(2**64) == b"\xc7\x09\x01\x01" + b"\x00" * 8
    # 16-byte values use fixext16, never ext8 with length 16.
    assert encode(2**120)[:2] == b"\xd8\x01"
    assert encode(I64_MIN - 1) == b"\xc7\x09\x01\xff\x7f" + b"\xff" * 7


@SETTINGS
@given(st.integers(min_value=BIG_MIN, max_value=BIG_MAX))
def test_big_integer_property(v):
    data = encode(v)
    assert decode(data) == v and type(decode(data)) is int
    assert encode(decode(data)) == data


@pytest.mark.parametrize("value", [BIG_MAX + 1, BIG_MIN - 2, 2**1000, -(2**1000)])
def test_big_integers_are_bounded_on_encode(value):
    with pytest.raises(CodecError) as ei:
        encode(value)
    assert ei.value.code == "CODEC_INT_RANGE"


def test_big_integers_are_bounded_on_decode():
    n = MAX_BIGINT_BYTES + 1
    data = b"\xc7" + bytes([n, codec.BIGINT_EXT]) + b"\x01" + b"\x00" * (n - 1)
    assert code_of(data) == "CODEC_INT_RANGE"
    # the largest allowed width still decodes
    assert decode(encode(BIG_MAX)) == BIG_MAX


# ---------------------------------------------------------------------------- canonicality

def _packer_unsorted_map():
    return msgpack.packb({"b": 1, "a": 2})


NONCANONICAL = {
    # msgpack's own packer keeps insertion order, which is not canonical
    "unsorted map (msgpack.packb)": _packer_unsorted_map(),
    "unsorted nested map (msgpack.packb)": msgpack.packb([1, {"z": 0, "y": {"b": 1, "a": 2}}]),
    "unsorted by utf-8 (msgpack.packb)": msgpack.packb({"\u00e9": 1, "z": 2}),
    "duplicate keys": b"\x82\xa1a\x01\xa1a\x02",
    # non-minimal integers
    "uint16 for 5": b"\xcd\x00\x05",
    "uint8 for 5": b"\xcc\x05",
    "uint16 for 255": b"\xcd\x00\xff",
    "uint32 for 65535": b"\xce\x00\x00\xff\xff",
    "uint64 for 2**32-1": b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff",
    "int8 for 5": b"\xd0\x05",
    "int8 for -32": b"\xd0\xe0",
    "int16 for -128": b"\xd1\xff\x80",
    "int16 for 5": b"\xd1\x00\x05",
    "int32 for -32768": b"\xd2\xff\xff\x80\x00",
    "int64 for -2**31": b"\xd3\xff\xff\xff\xff\x80\x00\x00\x00",
    "int64 for 0": b"\xd3" + b"\x00" * 8,
    # non-minimal length headers
    "str8 for 3 chars": b"\xd9\x03abc",
    "str8 for 31 chars": b"\xd9\x1f" + b"a" * 31,
    "str16 for 5 chars": b"\xda\x00\x05hello",
    "str32 for 5 chars": b"\xdb\x00\x00\x00\x05hello",
    "bin16 for 3 bytes": b"\xc5\x00\x03abc",
    "bin32 for 3 bytes": b"\xc6\x00\x00\x00\x03abc",
    "array16 for 1 item": b"\xdc\x00\x01\xc0",
    "array16 for 15 items": b"\xdc\x00\x0f" + b"\xc0" * 15,
    "array32 for 1 item": b"\xdd\x00\x00\x00\x01\xc0",
    "map16 for 1 pair": b"\xde\x00\x01\xa1a\xc0",
    "map32 for 1 pair": b"\xdf\x00\x00\x00\x01\xa1a\xc0",
    # big integers that are not in their smallest form
    "bigint ext for 5": b"\xd4\x01\x05",
    "bigint ext for 2**63 (fits uint64)": b"\xc7\x09\x01\x00\x80" + b"\x00" * 7,
    "bigint with a redundant sign byte": b"\xc7\x0a\x01\x00\x01" + b"\x00" * 8,
    "bigint ext8 with fixed length 16": b"\xc7\x10\x01\x01" + b"\x00" * 15,
    "bigint ext8 with fixed length 8": b"\xc7\x08\x01" + b"\x7f" + b"\xff" * 7,
    "bigint ext8 with length 0": b"\xc7\x00\x01",
}


@pytest.mark.parametrize("data", NONCANONICAL.values(), ids=NONCANONICAL.keys())
def test_noncanonical_rejected(data):
    assert code_of(data) == "CODEC_NONCANONICAL"


def test_canonical_forms_of_the_same_values_are_accepted():
    # sanity for the table above: the minimal encodings decode
    assert decode(b"\x05") == 5
    assert decode(b"\xcc\x80") == 128
    assert decode(b"\xd0\xdf") == -33
    assert decode(b"\xa3abc") == "abc"
    assert decode(b"\x82\xa1a\x02\xa1b\x01") == {"a": 2, "b": 1}
    assert decode(msgpack.packb({"a": 2, "b": 1})) == {"a": 2, "b": 1}


@SETTINGS
@given(st.binary(max_size=64))
def test_accepted_random_bytes_are_canonical(data):
    try:
        v = decode(data)
    except CodecError:
        return
    assert encode(v) == data


@SETTINGS
@given(values, st.data())
def test_accepted_mutations_of_valid_encodings_are_canonical(v, draw):
    data = bytearray(encode(v))
    i = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    data[i] = draw.draw(st.integers(min_value=0, max_value=255))
    try:
        w = decode(bytes(data))
    except CodecError:
        return
    assert encode(w) == bytes(data)


@SETTINGS
@given(st.binary(max_size=200))
def test_decode_raises_only_codec_error_on_random_bytes(data):
    try:
        decode(data)
    except CodecError as exc:
        assert exc.code.startswith("CODEC_")


@SETTINGS
@given(values, st.data())
def test_decode_raises_only_codec_error_on_spliced_valid_encodings(v, draw):
    data = encode(v)
    cut = draw.draw(st.integers(min_value=0, max_value=len(data)))
    junk = draw.draw(st.binary(max_size=16))
    try:
        decode(data[:cut] + junk + data[cut:])
    except CodecError as exc:
        assert exc.code.startswith("CODEC_")


# ---------------------------------------------------------------------------- floats

@pytest.mark.parametrize("data", [
    msgpack.packb(1.5),
    msgpack.packb(1.5, use_single_float=True),
    msgpack.packb([1, {"a": 0.0}]),
    msgpack.packb({"a": [float("nan")]}, use_single_float=True),
    b"\xca\x00\x00\x00\x00",
    b"\xcb" + b"\x00" * 8,
], ids=["float64", "float32", "nested64", "nested32", "raw-ca", "raw-cb"])
def test_float_rejected_on_decode(data):
    assert data.count(b"\xca") + data.count(b"\xcb") >= 1
    assert code_of(data) == "CODEC_FLOAT"


@pytest.mark.parametrize("value", [
    1.5, 0.0, float("nan"), float("inf"), [1, 2.0], {"a": {"b": -0.0}},
])
def test_float_rejected_on_encode(value):
    with pytest.raises(CodecError) as ei:
        encode(value)
    assert ei.value.code == "CODEC_FLOAT"


# ---------------------------------------------------------------------------- other rejections

@pytest.mark.parametrize("data", [
    msgpack.packb(msgpack.ExtType(5, b"abc")),
    msgpack.packb(msgpack.ExtType(2, b"\x01")),
    b"\xd6\xff" + b"\x00" * 4,  # ext type -1 (timestamp32)
    msgpack.packb(msgpack.ExtType(0, b"\x00" * 16)),
    msgpack.packb(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), datetime=True),
    b"\xc8\x00\x01\x01\x05",  # ext16
    b"\xc9\x00\x00\x00\x01\x01\x05",  # ext32
    b"\xc1",  # never used
], ids=["ext5", "ext2", "ext-1", "ext0", "timestamp", "ext16", "ext32", "c1"])
def test_unknown_ext_and_type_bytes_rejected(data):
    assert code_of(data) == "CODEC_TYPE"


@pytest.mark.parametrize("value", [
    object(), {1, 2}, 1j, decimal.Decimal(1), datetime.date(2024, 1, 1), [b"ok", object()],
])
def test_unencodable_types_rejected(value):
    with pytest.raises(CodecError) as ei:
        encode(value)
    assert ei.value.code == "CODEC_TYPE"


@pytest.mark.parametrize("data", [
    encode(1) + b"\x00",
    encode([1, 2]) + encode([1, 2]),
    encode({"a": 1}) + b"\xc0",
    b"\xc0\xc0",
])
def test_trailing_bytes_rejected(data):
    assert code_of(data) == "CODEC_TRAILING"


def test_every_proper_prefix_is_truncated():
    data = encode({"a": [1, 300, -70000, 2**64, "x" * 40, b"yz", {"n": None, "t": True}],
                   "b": "\u4e2d\u6587", "c": b"\x00" * 300})
    assert code_of(b"") == "CODEC_TRUNCATED"
    for i in range(1, len(data)):
        assert code_of(data[:i]) == "CODEC_TRUNCATED", i


@pytest.mark.parametrize("data", [
    b"\xdb\xff\xff\xff\xff" + b"x",
    b"\xc6\xff\xff\xff\xff" + b"x",
    b"\xdd\xff\xff\xff\xff" + b"\xc0" * 8,
    b"\xdf\xff\xff\xff\xff" + b"\xa1a\xc0",
    b"\xcf\x00",
    b"\xd8\x01" + b"\x01" * 3,
])
def test_huge_declared_lengths_fail_fast_as_truncated(data):
    assert code_of(data) == "CODEC_TRUNCATED"


def test_nesting_depth_boundary_is_the_same_both_ways():
    for nest in (nest_lists, nest_maps):
        ok = nest(MAX_DEPTH)
        assert decode(encode(ok)) == ok
        too_deep = nest(MAX_DEPTH + 1)
        with pytest.raises(CodecError) as ei:
            encode(too_deep)
        assert ei.value.code == "CODEC_TOO_DEEP"
    assert code_of(b"\x91" * (MAX_DEPTH + 1) + b"\xc0") == "CODEC_TOO_DEEP"
    assert code_of(b"\x81\xa1k" * (MAX_DEPTH + 1) + b"\xc0") == "CODEC_TOO_DEEP"
    assert decode(b"\x91" * MAX_DEPTH + b"\xc0") == nest_lists(MAX_DEPTH)


def test_custom_depth_limits():
    v = nest_lists(3)
    assert decode(encode(v, max_depth=3), max_depth=3) == v
    with pytest.raises(CodecError):
        encode(v, max_depth=2)
    assert code_of(encode(v), max_depth=2) == "CODEC_TOO_DEEP"


def test_very_deep_input_is_a_codec_error_not_recursion_error():
    assert code_of(b"\x91" * 100_000 + b"\xc0") == "CODEC_TOO_DEEP"
    with pytest.raises(CodecError):
        encode(nest_lists(5000))


def test_oversize_input_rejected():
    data = encode("x" * 100)
    assert decode(data, max_size=len(data)) == "x" * 100
    assert code_of(data, max_size=len(data) - 1) == "CODEC_TOO_LARGE"
    assert code_of(b"\xc0" * (codec.MAX_SIZE + 1)) == "CODEC_TOO_LARGE"


@pytest.mark.parametrize("data", [
    b"\xa2\xc3\x28",  # invalid continuation
    b"\xa2\xc0\xaf",  # overlong '/'
    b"\xa3\xed\xa0\x80",  # encoded surrogate
    b"\xa1\xff",
    b"\xa4\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\x81\xa1\xff\xc0",  # invalid key
], ids=["continuation", "overlong", "surrogate", "ff", "too-high", "map-key"])
def test_invalid_utf8_rejected(data):
    assert code_of(data) == "CODEC_UTF8"


@pytest.mark.parametrize("data", [
    b"\x81\x01\x02",
    msgpack.packb({b"a": 1}, use_bin_type=True),
    b"\x81\xc0\x01",
    b"\x81\x90\x01",
    b"\x82\xa1a\x01\x05\x02",
], ids=["int", "bin", "nil", "array", "second-key"])
def test_non_str_map_keys_rejected_on_decode(data):
    assert code_of(data) == "CODEC_BAD_KEY"


@pytest.mark.parametrize("value", [{1: 2}, {b"a": 1}, {None: 1}, {"ok": {(1,): 2}}])
def test_non_str_map_keys_rejected_on_encode(value):
    with pytest.raises(CodecError) as ei:
        encode(value)
    assert ei.value.code == "CODEC_BAD_KEY"


@pytest.mark.parametrize("value", ["abc", 5, None, [1]])
def test_decode_requires_bytes(value):
    with pytest.raises(CodecError) as ei:
        decode(value)
    assert ei.value.code == "CODEC_TYPE"


def test_codec_error_is_a_value_error_with_code_and_message():
    with pytest.raises(ValueError) as ei:
        decode(b"\xc1")
    err = ei.value
    assert isinstance(err, CodecError)
    assert err.code == "CODEC_TYPE" and "0xc1" in err.message
    assert str(err).startswith("CODEC_TYPE: ")
