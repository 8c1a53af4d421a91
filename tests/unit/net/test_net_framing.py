"""Frame encoder/decoder: round trips, arbitrary split points, and hostile streams."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode import codec
from chainnode.net.framing import (
    HEADER_SIZE,
    FrameBadType,
    FrameDecoder,
    FrameMalformed,
    FrameTooLarge,
    FrameTruncated,
    Message,
    encode_frame,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.text(max_size=40)
    | st.binary(max_size=300)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)
msg_types = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=20
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(msg_types, values), min_size=1, max_size=6), st.data())
def test_round_trip_with_arbitrary_split_points(msgs, data):
    stream = b"".join(encode_frame(t, p) for t, p in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    dec = FrameDecoder()
    got: list[Message] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += dec.messages(stream[prev:cut])
        prev = cut
    dec.close()  # nothing left over
    assert [(m.msg_type, m.payload) for m in got] == [
        (t, codec.decode(codec.encode(p))) for t, p in msgs
    ]


def test_byte_at_a_time():
    stream = encode_frame("a", {"x": 1}) + encode_frame("b", [b"\x00" * 70000])
    dec = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += dec.messages(stream[i : i + 1])
    assert got == [Message("a", {"x": 1}), Message("b", [b"\x00" * 70000])]
    assert dec.buffered == 0


def test_oversize_prefix_rejected_before_body_arrives():
    dec = FrameDecoder(max_frame=1024)
    dec.feed(struct.pack(">I", 1025))
    with pytest.raises(FrameTooLarge):
        dec.next_message()
    # the decoder stays failed
    with pytest.raises(FrameTooLarge):
        dec.feed(b"more")


def test_default_limit_is_16_mib():
    dec = FrameDecoder()
    dec.feed(struct.pack(">I", 16 * 1024 * 1024) + b"\x92")
    assert dec.next_message() is None  # allowed size, waiting for the body
    dec2 = FrameDecoder()
    with pytest.raises(FrameTooLarge):
        dec2.messages(struct.pack(">I", 16 * 1024 * 1024 + 1))
    with pytest.raises(FrameTooLarge):
        dec2.messages(b"\xff\xff\xff\xff")


def test_encoder_refuses_oversize():
    with pytest.raises(FrameTooLarge):
        encode_frame("blob", b"x" * 2000, max_frame=1000)


def test_truncated_stream():
    frame = encode_frame("t", b"payload")
    dec = FrameDecoder()
    assert dec.messages(frame[:-1]) == []
    with pytest.raises(FrameTruncated):
        dec.close()
    dec2 = FrameDecoder()
    assert dec2.messages(frame[:2]) == []  # cut inside the length prefix
    with pytest.raises(FrameTruncated):
        dec2.close()


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1",  # never-used msgpack byte
        codec.encode(["t", 1]) + b"\x00",  # trailing bytes inside the frame
        codec.encode({"t": 1}),  # not a list
        codec.encode(["t"]),  # wrong arity
        codec.encode(["t", 1, 2]),
        codec.encode([7, 1]),  # type not a string
        codec.encode(["", 1]),
        codec.encode(["x" * 65, 1]),
        b"\xcc\x05",  # non-canonical int
        b"\x92\xa1t\xca\x00\x00\x00\x00",  # float payload
    ],
)
def test_malformed_bodies(body):
    dec = FrameDecoder()
    with pytest.raises(FrameMalformed):
        dec.messages(struct.pack(">I", len(body)) + body)


def test_empty_frame_is_malformed():
    with pytest.raises(FrameMalformed):
        FrameDecoder().messages(b"\x00\x00\x00\x00")


def test_deep_nesting_rejected():
    body = b"\x92\xa1t" + b"\x91" * 40 + b"\xc0"
    with pytest.raises(FrameMalformed):
        FrameDecoder().messages(struct.pack(">I", len(body)) + body)


def test_type_registry_and_limit_change_between_frames():
    stream = encode_frame("hello", 1) + encode_frame("app", b"y" * 5000)
    dec = FrameDecoder(max_frame=100, allowed_types={"hello"})
    dec.feed(stream)
    assert dec.next_message() == Message("hello", 1)
    dec.set_limits(max_frame=10_000, allowed_types={"app"})
    assert dec.next_message() == Message("app", b"y" * 5000)
    with pytest.raises(FrameBadType):
        dec.messages(encode_frame("hello", 2))


def test_unknown_type_rejected():
    with pytest.raises(FrameBadType):
        FrameDecoder(allowed_types={"a"}).messages(encode_frame("b", None))


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_other_exceptions(junk):
    dec = FrameDecoder(max_frame=1000)
    try:
        dec.messages(junk)
        dec.close()
    except (FrameMalformed, FrameTooLarge, FrameBadType):
        pass


def test_header_size_constant():
    assert HEADER_SIZE == 4
    assert encode_frame("a", None)[:4] == struct.pack(">I", len(codec.encode(["a", None])))
