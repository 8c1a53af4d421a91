"""Block.decode with a lookup: a follower reuses the Transaction it already decoded from the
very same bytes; anything else (unknown bytes, a lookup answering with a tx of other bytes)
gets the full decode and checks, so the decoded block is the one a plain decode gives."""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.core.block import NO_LAST_COMMIT, Block, BlockHeader, tx_root
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/block-lookup"), "big") % (N - 2) + 1)
CHAIN = "grid-test"


def tx(i: int) -> Transaction:
    return build_tx(KEY, CHAIN, "call", "meter", "record", {"i": i}, expires_at=10,
                    nonce=bytes([i]) * 16)


def encoded_block(txs: tuple) -> bytes:
    h = sm3(b"h")
    hdr = BlockHeader(CHAIN, 2, h, 1, 0, 0, tx_root(txs), h, h, h, h, NO_LAST_COMMIT)
    return Block(hdr, txs).encode()


def other_signature(t: Transaction) -> Transaction:
    """Same body (so the same hash), other signature bytes."""
    sig = bytes([t.signature[0] ^ 1]) + t.signature[1:]
    return Transaction.decode(codec.encode(t.body() + [sig]))


def test_byte_identical_txs_are_reused_and_the_block_equals_a_plain_decode():
    known = [Transaction.decode(tx(i).encode()) for i in range(3)]
    table = {t.encode(): t for t in known}
    asked: list[bytes] = []

    def lookup(raw: bytes):
        asked.append(raw)
        return table.get(raw)

    data = encoded_block(tuple(known))
    got = Block.decode(data, lookup=lookup)
    assert all(a is b for a, b in zip(got.txs, known, strict=True))
    assert asked == [t.encode() for t in known]
    plain = Block.decode(data)
    assert got == plain and got.hash == plain.hash
    assert [t.hash for t in got.txs] == [t.hash for t in plain.txs]


def test_a_signature_altered_copy_is_decoded_not_taken_from_the_lookup():
    original = Transaction.decode(tx(1).encode())
    forged = other_signature(original)
    assert forged.hash == original.hash and forged.encode() != original.encode()

    def by_hash(raw: bytes):  # a lookup keyed by hash alone would answer with the original
        return original

    got = Block.decode(encoded_block((forged,)), lookup=by_hash)
    assert got.txs[0] is not original
    assert got.txs[0].signature == forged.signature
    assert got.txs[0].encode() == forged.encode()


def test_unknown_txs_still_get_every_check():
    good = tx(2)
    bad_key = codec.encode(good.body()[:3] + [b"\x01" * 64] + good.body()[4:]
                           + [good.signature])  # a sender key that is not on the curve
    w = codec.decode(encoded_block((good,)))
    w[1] = [codec.decode(bad_key)]
    with pytest.raises(ValueError, match="malformed transaction"):
        Block.decode(codec.encode(w), lookup=lambda raw: good)  # the lookup is no way in
    with pytest.raises(ValueError, match="malformed transaction"):
        Block.decode(codec.encode(w), lookup=lambda raw: None)


def test_a_lookup_miss_decodes_like_no_lookup():
    txs = tuple(tx(i) for i in range(4))
    data = encoded_block(txs)
    got = Block.decode(data, lookup=lambda raw: None)
    assert got == Block.decode(data)
    assert [t.encode() for t in got.txs] == [t.encode() for t in txs]
