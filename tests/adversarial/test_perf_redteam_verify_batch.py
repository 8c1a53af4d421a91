"""Red team of the verify batcher's frame requests and its per-thread key cache: a validator
with valid keys interleaves good and forged txs across frames and single checks so that they
share jobs and split across job boundaries; each verdict must reach its own tx. A key that
failed its curve check is never remembered as good, and the cache stays bounded."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from chainnode import verify_batch
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.sm2 import PrivateKey
from chainnode.verify_batch import VerifyBatcher, tx_item, verify_items

KEYS = [PrivateKey.generate() for _ in range(3)]
CHAIN = "redteam-verify"


def _tx(i: int) -> Transaction:
    return build_tx(KEYS[i % 3], CHAIN, "call", "meter", "read", {"i": i}, expires_at=100,
                    gas_limit=1000)


def _forged(tx: Transaction) -> Transaction:
    w = tx.to_wire()
    w[-1] = bytes([w[-1][0] ^ 1]) + w[-1][1:]
    return Transaction.from_wire(w)


@pytest.mark.parametrize("frames", [0.5, 0.0, 1.0])  # share of frame requests (0: RPC only)
async def test_every_verdict_reaches_its_own_tx_across_shared_and_split_jobs(frames):
    rnd = random.Random(5)
    good = [_tx(i) for i in range(40)]
    with ThreadPoolExecutor(2) as pool:
        for max_batch in (1, 3, 7, 64):
            vb = VerifyBatcher(pool, max_batch=max_batch)
            asks, want = [], []
            for _ in range(12):  # one loop iteration: frames and singles interleaved
                txs = [g if rnd.random() < 0.6 else _forged(g) for g in rnd.sample(good, 5)]
                oks = [tx in good for tx in txs]
                if rnd.random() >= frames:
                    asks.append(vb.verify(txs[0]))
                    want.append(oks[0])
                else:
                    n = rnd.randrange(1, 6)
                    asks.append(asyncio.ensure_future(vb.verify_many(txs[:n])))
                    want.append(oks[:n])
            for fut in (vb.verify(_forged(good[0])), vb.verify(good[1])):
                fut.cancel()  # checks cancelled before their job: the rest unmoved
            assert await asyncio.gather(*asks) == want, max_batch


def test_a_bad_key_is_never_cached_and_a_cached_key_still_checks_each_signature(monkeypatch):
    monkeypatch.setattr(verify_batch, "_keys", {})
    monkeypatch.setattr(verify_batch, "MAX_KEYS", 4)
    tx = _tx(0)
    pub, chain_id, body, sig = tx_item(tx)
    off_curve = bytes(64)
    bad = [(off_curve, chain_id, body, sig), (b"\x01" * 63, chain_id, body, sig),
           (bytearray(pub), chain_id, body, sig)]
    for _ in range(2):
        assert verify_items(bad[:2]) == [False, False]
        verify_items(bad[2:])  # not an exact bytes key: checked, never kept
        assert verify_batch._keys == {}
    assert verify_items([(pub, chain_id, body, sig)]) == [True]
    assert pub in verify_batch._keys
    forged = _forged(tx).signature
    assert verify_items([(pub, chain_id, body, forged), (pub, "other", body, sig),
                         (pub, chain_id, body + b"x", sig), (pub, chain_id, body, sig)]) == \
        [False, False, False, True]
    others = [tx_item(build_tx(PrivateKey.generate(), CHAIN, "call", "m", "r", {},
                               expires_at=1)) for _ in range(9)]
    assert verify_items(others) == [True] * 9
    assert len(verify_batch._keys) <= 4
