"""Red team, governance: queued transactions admitted under the old limits after a set-param
lowers them.

Mempool.take() hands out transactions oldest first and stopped at the first one that did not
fit the block's gas or byte budget. A transaction admitted before governance lowered
`block_gas_limit` (gas 5,000,000 is what `Client.call` signs by default; lowering
tx_gas_limit to 1,000,000 and block_gas_limit to 2,000,000 is in range) can never fit again,
so take() returned nothing forever: the leader's `_take` loop, finding the mempool non-empty
and the batch empty, spun without awaiting (event loop frozen), the head never moved, so the
transaction never expired either; each next leader froze the same way. Permanent halt, and no
proposal could undo the change. Fixed: take() evicts a transaction that alone exceeds the live
limits and goes on with the next.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gov_redteam_util import decide_param as decide  # noqa: E402
from gov_redteam_util import live_mempool  # noqa: E402
from gov_util import GOVS, MEMBER, Bench, ok  # noqa: E402

from chainnode.core.tx import build_tx  # noqa: E402


def test_a_queued_tx_over_the_new_block_gas_limit_does_not_stop_block_building(tmp_path):
    b = Bench(tmp_path / "db")
    pool = ThreadPoolExecutor(1)
    try:
        ch = b.chain
        mp = live_mempool(b, pool)
        queued = build_tx(MEMBER, ch.genesis.chain_id, "call", "meter", "read", {},
                          expires_at=b.height + 500, gas_limit=5_000_000)
        asyncio.run(mp.add(queued))  # admitted under the genesis limits
        decide(b, "delivery_gas", 500_000)  # the rail: <= tx_gas_limit - 250,000
        decide(b, "tx_gas_limit", 1_000_000)
        decide(b, "block_gas_limit", 2_000_000)
        mp.tx_gas_limit = ch.param("tx_gas_limit")  # what the node does after each commit
        vote = b.tx(GOVS[0], "propose", {"kind": "set-param", "payload": {
            "name": "block_gas_limit", "value": 2_000_000_000}})
        asyncio.run(mp.add(vote))
        taken = mp.take(ch.param("max_block_txs"), ch.param("max_block_bytes"),
                        ch.param("block_gas_limit"))
        assert taken == [vote]  # the committee's tx gets into the next block
        assert queued.hash not in mp and len(mp) == 1  # the unfit one is gone for good
        assert ok(b.block(*taken).outcome.receipts[0])
    finally:
        pool.shutdown()
        b.close()
