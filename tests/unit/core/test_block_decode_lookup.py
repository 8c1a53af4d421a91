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


def nest(depth: int):
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


def outcome(data: bytes, lookup=None):
    """What Block.decode makes of `data`: the block (hash, header, tx bytes) or 'rejected'."""
    try:
        b = Block.decode(data, lookup=lookup)
    except ValueError:
        return "rejected"
    return (b.hash, b.header, b.last_commit, [t.encode() for t in b.txs])


def raw_block(tx_raws: list[bytes], txs_head: bytes | None = None, tail: bytes = b"") -> bytes:
    """Block bytes put together by hand (Block.encode refuses what is too deep)."""
    h = sm3(b"h")
    hdr = BlockHeader(CHAIN, 2, h, 1, 0, 0, h, h, h, h, h, NO_LAST_COMMIT)
    head = codec.array_header(len(tx_raws)) if txs_head is None else txs_head
    return (codec.array_header(3) + codec.encode(hdr.to_wire()) + head + b"".join(tx_raws)
            + codec.encode(None) + tail)


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_a_known_tx_too_deep_for_a_block_is_refused_as_without_lookup(extra):
    from chainnode.core.block import TX_ARGS_NESTING

    t = Transaction.decode(tx(0).encode())
    deep = Transaction.decode(build_tx(KEY, CHAIN, "call", "meter", "record",
                                       {"v": nest(TX_ARGS_NESTING - 2 + extra)},
                                       expires_at=10).encode())  # fine on its own
    table = {x.encode(): x for x in (t, deep)}
    data = raw_block([t.encode(), deep.encode()])
    plain = outcome(data)
    assert (plain == "rejected") == (extra == 2)  # args nesting TX_ARGS_NESTING + 1
    assert outcome(data, table.get) == plain


def test_non_canonical_framing_around_known_txs_is_refused_as_without_lookup():
    known = [Transaction.decode(tx(i).encode()) for i in range(3)]
    table = {x.encode(): x for x in known}
    raws = [x.encode() for x in known]
    cases = [
        raw_block(raws, txs_head=b"\xdc\x00\x03"),  # array16 for 3 items: not minimal
        raw_block(raws, tail=b"\xc0"),  # trailing bytes
        raw_block(raws[:2], txs_head=codec.array_header(3)),  # an item short
        raw_block(raws)[:-1],  # truncated
        b"\xdc\x00\x03" + raw_block(raws)[1:],  # top-level header not minimal
    ]
    for data in cases:
        assert outcome(data) == "rejected"
        assert outcome(data, table.get) == "rejected"
    assert outcome(raw_block(raws), table.get) == outcome(raw_block(raws)) != "rejected"


def test_mutated_blocks_decode_the_same_with_and_without_lookup():
    import random

    rng = random.Random(7)
    known = [Transaction.decode(tx(i).encode()) for i in range(4)]
    table = {x.encode(): x for x in known}
    good = encoded_block(tuple(known))
    accepted = 0
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            i = rng.randrange(len(data))
            if op < 0.6:
                data[i] = rng.randrange(256)
            elif op < 0.8:
                del data[i]
            else:
                data.insert(i, rng.randrange(256))
        data = bytes(data)
        plain = outcome(data)
        accepted += plain != "rejected"
        assert outcome(data, table.get) == plain
    assert accepted > 0  # some mutations (inside a signature, say) still decode
