"""codec.encode's shortcuts for the leaves the state path encodes per write (bytes keys and
values, small non-negative ints, short str) and its idle packers: the reference's bytes,
at every length and value boundary, and a packer that never leaks state between calls."""

from __future__ import annotations

import threading

import pytest

from chainnode import codec, codec_ref


def assert_same_as_reference(v, max_depth):
    """The fast encoder gives the reference encoder's bytes, or the same error code."""

    def out(fn):
        try:
            return fn(v, max_depth=max_depth)
        except codec.CodecError as exc:
            return exc.code

    assert out(codec.encode) == out(codec_ref.encode)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 0xFF, 0x100, 0xFFFF, 0x10000, 70_000])
@pytest.mark.parametrize("max_depth", [-1, 0, codec.MAX_DEPTH])
def test_bytes_leaves_match_reference(n, max_depth):
    v = bytes(range(256)) * (n // 256) + bytes(n % 256)

    assert_same_as_reference(v, max_depth)


@pytest.mark.parametrize("v", [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 2**32 - 1,
                               2**32, 2**64 - 1, 2**64, -1, -32, -33, -0x80, -0x81, True,
                               False])
@pytest.mark.parametrize("max_depth", [-1, 0, codec.MAX_DEPTH])
def test_int_leaves_match_reference(v, max_depth):
    assert_same_as_reference(v, max_depth)


@pytest.mark.parametrize("v", ["", "a", "x" * 31, "x" * 32, "é" * 15, "é" * 16, "x" * 255,
                               "x" * 256, "€" * 90, "\ud800", "a\udfffb" * 20, "\x00"])
@pytest.mark.parametrize("max_depth", [-1, 0, codec.MAX_DEPTH])
def test_str_leaves_match_reference(v, max_depth):
    def out(fn):
        try:
            return fn(v, max_depth=max_depth)
        except codec.CodecError as exc:
            return exc.code, exc.message

    assert out(codec.encode) == out(codec_ref.encode)


def test_bytes_subclasses_are_not_taken_as_bytes():
    class B(bytes):
        pass

    assert codec.encode(bytearray(b"ab")) == codec_ref.encode(bytearray(b"ab"))
    class S(str):
        pass

    with pytest.raises(codec.CodecError):
        codec.encode(B(b"ab"))
    with pytest.raises(codec.CodecError):
        codec.encode(S("ab"))


def test_spare_packer_carries_nothing_between_calls():
    """A failed pack (an int too wide even for the ext type) must not leave bytes behind for the
    next value packed on this thread, and a large value's packer is not kept."""
    codec._idle.clear()
    with pytest.raises(codec.CodecError):
        codec.encode([1, 2**10_000])
    assert codec._idle == []  # the packer that failed midway is dropped
    assert codec.encode([1, 2]) == codec_ref.encode([1, 2])
    assert len(codec._idle) == 1  # a small value's packer is kept for reuse
    big = [bytes(40_000), bytes(40_000)]
    assert codec.encode(big) == codec_ref.encode(big)
    assert codec._idle == []  # its buffer grew: dropped
    assert codec.encode({"a": [b"x"]}) == codec_ref.encode({"a": [b"x"]})
    for _ in range(3 * codec._IDLE_MAX):
        codec.encode([1])
    assert 1 <= len(codec._idle) <= codec._IDLE_MAX


def test_threads_pack_concurrently_without_mixing():
    values = [{"k": [i, bytes(i % 300), "s" * (i % 50)]} for i in range(400)]
    want = [codec_ref.encode(v) for v in values]
    errors = []

    def work() -> None:
        for _ in range(20):
            if [codec.encode(v) for v in values] != want:
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
