"""Transactions and blocks reuse canonical bytes instead of encoding again: a decoded tx keeps
its input bytes and cuts its body from them; Block.encode joins the txs' cached bytes and
Block.decode slices them out. Every result must equal what the reference codec gives for the
whole value, errors included."""

from __future__ import annotations

import pytest

from chainnode import codec, codec_ref
from chainnode.core.block import NO_LAST_COMMIT, TX_ARGS_NESTING, Block, BlockHeader, tx_root
from chainnode.core.certificate import CommitCertificate
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/wire-reuse"), "big") % (N - 2) + 1)
CHAIN = "grid-test"


def nest(depth: int):
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


def tx(args: dict, i: int = 0) -> Transaction:
    return build_tx(KEY, CHAIN, "call", "meter", "record", args, expires_at=10,
                    nonce=bytes([i]) * 16)


def block(txs: tuple, last_commit: CommitCertificate | None = None) -> Block:
    h = sm3(b"h")
    lc = NO_LAST_COMMIT if last_commit is None else sm3(last_commit.encode())
    hdr = BlockHeader(CHAIN, 2, h, 1, 0, 0, tx_root(txs), h, h, h, h, lc)
    return Block(hdr, txs, last_commit)


ARGS = [{}, {"i": 1}, {"address": "ab" * 20, "roles": ["member"]}, {"big": 2**100, "b": b"\x00"},
        {"z": {"y": [1, (2, 3)], "x": None}, "a": "é" * 40}, {"n": list(range(300))}]


@pytest.mark.parametrize("args", ARGS)
def test_decoded_tx_keeps_its_bytes_and_body_bytes(args):
    t = tx(args)
    raw = codec_ref.encode(t.to_wire())
    d = Transaction.decode(raw)
    assert d.encode() == raw
    assert d.body_bytes() == codec_ref.encode(t.body())
    assert d.hash == t.hash == sm3(codec_ref.encode(t.body()))
    assert d.verify_signature()


def test_block_encode_joins_tx_bytes_exactly_as_the_reference():
    txs = tuple(tx(a, i) for i, a in enumerate(ARGS))
    for b in (block(()), block(txs[:1]), block(txs), block(txs * 3)):
        raw = b.encode()
        assert raw == codec_ref.encode(b.to_wire())
        back = Block.decode(raw)
        assert back.header == b.header and back.hash == b.hash  # tuples come back as lists
        for orig, d in zip(b.txs, back.txs, strict=True):
            assert d.hash == orig.hash
            assert d.encode() == codec_ref.encode(orig.to_wire())
            assert d.body_bytes() == codec_ref.encode(orig.body())


def test_block_with_certificate_encodes_as_the_reference():
    cert = CommitCertificate(CHAIN, 1, 0, sm3(b"b"), ((0, 5, b"s" * 64), (2, 6, b"t" * 64)))
    b = block((tx({"i": 1}),), cert)
    assert b.encode() == codec_ref.encode(b.to_wire())
    assert Block.decode(b.encode()).last_commit == cert


def test_tx_nesting_at_the_block_depth_limit():
    ok = tx({"d": nest(TX_ARGS_NESTING - 1)})  # args dict adds one level
    b = block((ok,))
    assert b.encode() == codec_ref.encode(b.to_wire())
    assert Block.decode(b.encode()) == b
    too_deep = tx({"d": nest(TX_ARGS_NESTING)})
    Transaction.decode(too_deep.encode())  # fine on its own ...
    b = block((ok, too_deep))
    with pytest.raises(codec.CodecError) as fast:
        b.encode()
    with pytest.raises(codec.CodecError) as ref:  # ... but not inside a block: same error
        codec_ref.encode(b.to_wire())
    assert (fast.value.code, fast.value.message) == (ref.value.code, ref.value.message)


def test_block_of_many_txs_round_trips():
    txs = tuple(tx({"i": i}, i % 256) for i in range(600))
    b = block(txs)
    raw = b.encode()
    assert raw == codec_ref.encode(b.to_wire())
    assert [t.hash for t in Block.decode(raw).txs] == [t.hash for t in txs]


@pytest.mark.parametrize("v", [None, 0, [], {}, {"a": 1}, [[]], [[1]], nest(5),
                               {"a": {"b": [{}]}}, [1, [2, [3]], []], (1, (2,))])
def test_nesting_is_the_depth_encode_needs(v):
    n = codec.nesting(v, 40)
    codec_ref.encode(v, max_depth=n)
    if n:
        with pytest.raises(codec.CodecError):
            codec_ref.encode(v, max_depth=n - 1)
