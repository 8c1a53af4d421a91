"""Red team of the C-speed codec and the cached canonical bytes (issue 14): hostile input must
cost about its size, and a node's bytes must be what its fields encode to."""

from __future__ import annotations

import time

import msgpack
import pytest

from chainnode import codec, codec_ref
from chainnode.core.tx import Transaction
from chainnode.errors import ChainError


def _nested_unsorted(depth: int):
    v = {"b": 1, "a": 2}  # out of canonical key order at the bottom
    for _ in range(depth):
        v = [v]
    return v


@pytest.mark.parametrize("depth", [codec.MAX_DEPTH - 1])
def test_nested_noncanonical_input_costs_linear_time(depth):
    """A 40-byte array nest with one out-of-order map at the bottom: the container pass once
    re-walked every changed child (2^depth calls), hanging the node on one tx it decoded."""
    v = _nested_unsorted(depth)
    data = msgpack.packb(v)
    assert len(data) < 64
    t0 = time.perf_counter()
    with pytest.raises(codec.CodecError) as err:
        codec.decode(data)
    with pytest.raises(ChainError):
        Transaction.decode(msgpack.packb([v] * 10))
    assert codec.encode(v) == codec_ref.encode(v)
    assert time.perf_counter() - t0 < 2.0
    with pytest.raises(codec_ref.CodecError) as ref:
        codec_ref.decode(data)
    assert (err.value.code, err.value.message) == (ref.value.code, ref.value.message)
