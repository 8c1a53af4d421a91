"""Red team of codec.encode's leaf shortcuts and its shared idle packers: a contract author picks
any value a receipt, event or state write can hold (and some it cannot); the bytes, or the
refusal with its code and message, must be the reference codec's, whichever thread encodes it
and whatever the encode before it on any thread did (failed midway or not)."""

from __future__ import annotations

import enum
import random
import sys
import threading

import msgpack
import msgpack.fallback
import pytest

from chainnode import codec, codec_ref


class _Int(int):
    pass


class _Color(enum.IntEnum):
    RED = 1


class _Bytes(bytes):
    pass


class _Str(str):
    pass


_LEAVES = [
    None, True, False, 0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 2**32, 2**64 - 1, 2**64,
    -1, -32, -33, -0x81, -(2**63), -(2**63) - 1, 2**511, -(2**511), 2**512, -(2**512) - 1,
    _Int(5), _Color.RED, b"", b"\x00" * 255, b"\x01" * 256,
    bytearray(b"ab"), memoryview(b"cd"), _Bytes(b"ef"), "", "é" * 40, "\ud800", _Str("s"),
    "x" * 31, "x" * 32, "é" * 15 + "x", "é" * 16, "中" * 85, "中" * 86, "x" * 255, "x" * 256,
    "\U0001f600" * 8, "a\udc80b", "\x00", _Str("x" * 40),
    1.5, float("nan"), object(), {1, 2},
]

_BIG = [b"\x02" * 0xFFFF, b"\x03" * 0x10000, [b"\x04" * 0x10000, 1], "x" * 0x10000]


def _outcome(fn, v, max_depth=codec.MAX_DEPTH):
    try:
        return fn(v, max_depth=max_depth)
    except codec_ref.CodecError as exc:
        return (exc.code, exc.message)


def _value(rnd: random.Random, depth: int):
    r = rnd.random()
    if depth > 3 or r < 0.5:
        return rnd.choice(_LEAVES)
    n = rnd.randrange(0, 18 if depth == 0 else 4)  # 16+ items: the longer array/map heads
    if r < 0.7:
        return [_value(rnd, depth + 1) for _ in range(n)]
    if r < 0.8:
        return tuple(_value(rnd, depth + 1) for _ in range(n))
    keys = [rnd.choice(["b", "a", "é", "zz", "", "\ud800", 1, b"k"]) for _ in range(n)]
    return {k: _value(rnd, depth + 1) for k in keys}


def _cases(seed: int, n: int) -> list:
    rnd = random.Random(seed)
    cases = [(v, codec.MAX_DEPTH) for v in _LEAVES + _BIG]
    cases += [(v, d) for v in _LEAVES[:30] for d in (-1, 0)]
    cases += [(_value(rnd, 0), rnd.choice([0, 1, 2, codec.MAX_DEPTH])) for _ in range(n)]
    return cases


def test_every_leaf_and_nest_encodes_or_fails_as_the_reference():
    for v, d in _cases(1, 1500):
        assert _outcome(codec.encode, v, d) == _outcome(codec_ref.encode, v, d), (v, d)


def test_a_failed_encode_leaves_nothing_for_the_next_on_any_packer():
    """Encodes that fail inside the C packer (a lone surrogate deep in a list, an int too wide
    for the ext type after good items), then small values: each is the reference's bytes."""
    codec._idle.clear()
    for _ in range(codec._IDLE_MAX + 2):  # every idle packer gets a failure, then a value
        for bad in ([b"x" * 100, "ok", ["\ud800"]], [1, 2, 2**600], {"a": [1, "\udfff"]}):
            assert _outcome(codec.encode, bad) == _outcome(codec_ref.encode, bad)
        for good in ([1], {"k": b"v"}, "s", 2**70, [b"\x00" * 300]):
            assert codec.encode(good) == codec_ref.encode(good)


@pytest.mark.parametrize("packer", ["c", "python"])
def test_threads_mixing_failures_and_values_never_see_each_others_bytes(packer, monkeypatch):
    """With msgpack's pure-Python packer (its fallback where the C one is missing) threads
    switch inside a pack: two encodes sharing a packer would mix their bytes."""
    if packer == "python":
        monkeypatch.setattr(codec, "_Packer", msgpack.fallback.Packer)
    codec._idle.clear()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        wrong = _hammer()
        assert len(codec._idle) <= codec._IDLE_MAX + 4  # bounded (a race may add one a thread)
    finally:
        sys.setswitchinterval(interval)
        codec._idle.clear()  # no fallback packer is left for later encodes
    assert wrong == []


def _hammer() -> list:
    """Four threads encoding the same cases in different orders: the indices that differed
    from the reference."""
    cases = _cases(2, 400)
    want = [_outcome(codec_ref.encode, v, d) for v, d in cases]
    start = threading.Barrier(4)
    wrong: list = []

    def work(seed: int) -> None:
        order = list(range(len(cases)))
        random.Random(seed).shuffle(order)
        start.wait()
        for _ in range(5):
            for i in order:
                v, d = cases[i]
                if _outcome(codec.encode, v, d) != want[i]:
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wrong
