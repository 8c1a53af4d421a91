"""Red team of the per-sender bound of the mempool: a member (or a validator forwarding for it)
sends many txs of one sender at once, in a client batch, as concurrent submissions or in one
forwarded frame. Checked only at arrival, every one of them passed (none was pooled yet while
the others were verified) and the sender held as much of the pool as it liked."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.test_mempool import ALICE, BOB, Env


@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize("path", ["adds", "batch"])
async def test_one_sender_never_holds_more_than_its_quota(path, verified):
    e = Env(max_per_sender=3)
    try:
        txs = [e.tx(ALICE) for _ in range(10)]
        other = e.tx(BOB)
        if verified:  # e.g. seen before: no verify job, no suspension before the insertion
            for tx in txs:
                e.mp.mark_verified(tx.hash, tx.signature)
        if path == "adds":
            out = await asyncio.gather(*(e.mp.add(tx, "src") for tx in [*txs, other]),
                                       return_exceptions=True)
            codes = [getattr(r, "code", None) for r in out]
        else:
            codes = [None if r is None else r.code
                     for r in await e.mp.add_batch([*txs, other], "src")]
        assert codes == [None] * 3 + ["SENDER_QUOTA"] * 7 + [None]
        assert e.mp.pending() == [*txs[:3], other]  # the first three, in arrival order
        assert e.mp.rejected == {"SENDER_QUOTA": 7}
        e.mp.remove([txs[0].hash])
        assert e.mp.ordered_sources() == 0
        assert codes[:3] == [None] * 3
        await e.mp.add(txs[5])  # a freed slot is usable again
        assert len(e.mp) == 4
    finally:
        e.pool.shutdown(wait=True)
