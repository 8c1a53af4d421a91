"""Mempool.lookup_wire: the pending tx by its exact wire bytes (signature included), for a
follower's block decode. It holds exactly the pending txs, so it is bounded like the pool."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from chainnode import codec
from chainnode.core.block import NO_LAST_COMMIT, Block, BlockHeader, tx_root
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey
from chainnode.errors import ChainError
from chainnode.mempool import Mempool

CHAIN = "unit-mempool-wire"
KEY = PrivateKey.generate()


def pool(**kw) -> Mempool:
    member = address_of(KEY.public_key)
    return Mempool(chain_id=CHAIN, verify_pool=ThreadPoolExecutor(2), head_height=lambda: 10,
                   is_committed=lambda h: False, is_member=lambda a: a == member, **kw)


def tx(i: int, expires_at: int = 100) -> Transaction:
    return Transaction.decode(build_tx(KEY, CHAIN, "call", "meter", "read", {"i": i},
                                       expires_at=expires_at).encode())


def resigned(t: Transaction) -> Transaction:
    """A copy with the same hash (same body) and other signature bytes."""
    sig = bytes([t.signature[0] ^ 1]) + t.signature[1:]
    return Transaction.decode(codec.encode(t.body() + [sig]))


def test_a_byte_identical_copy_is_found_and_a_resigned_copy_is_not():
    async def go():
        mp = pool()
        t = await mp.add(tx(1))
        copy = bytes(bytearray(t.encode()))  # equal bytes, another object
        assert mp.lookup_wire(copy) is t
        other = resigned(t)
        assert other.hash == t.hash
        assert mp.lookup_wire(other.encode()) is None
        assert not mp.was_verified(other.hash, other.signature)
        # decoding a proposal through the pool: the resigned copy is decoded, not reused
        h = sm3(b"h")
        txs = (t, other)
        hdr = BlockHeader(CHAIN, 11, h, 1, 0, 0, tx_root(txs), h, h, h, h, NO_LAST_COMMIT)
        got = Block.decode(Block(hdr, txs).encode(), lookup=mp.lookup_wire)
        assert got.txs[0] is t
        assert got.txs[1] is not t and got.txs[1].signature == other.signature
    asyncio.run(go())


def test_the_index_follows_the_pool_and_is_bounded_by_it():
    async def go():
        mp = pool(max_txs=3)
        txs = [await mp.add(tx(i, expires_at=11 + i)) for i in range(3)]
        with pytest.raises(ChainError):
            await mp.add(tx(99))  # MEMPOOL_FULL
        assert len(mp._by_wire) == len(mp) == 3
        assert mp.lookup_wire(tx(99).encode()) is None
        mp.remove([txs[0].hash])  # committed
        assert mp.lookup_wire(txs[0].encode()) is None
        mp.head_height = lambda: 12  # txs[1] expires at 12
        assert mp.evict_expired() == 1
        assert mp.lookup_wire(txs[1].encode()) is None
        assert mp.lookup_wire(txs[2].encode()) is txs[2]
        assert len(mp._by_wire) == len(mp) == 1
    asyncio.run(go())
