"""Red team: a Byzantine leader re-proposes an executed block's hash with a swapped body.

A follower that executed block B (the proposal of an earlier view at this height) keeps it in
the driver's `_executed`, keyed by B's hash. A new leader re-proposing that hash with another
body, B' (one tx carrying other signature bytes: same tx hashes, same header, same block hash),
used to be answered "valid" straight from that cache, without a look at the body. The core then
marks B' as THE valid body for the hash: it votes for it, re-proposes and attaches it in
view changes, hands it to CommitBlock. B' fails the tx_root check (its leaves cover the
signatures) on every node that did not execute B, so one such leader stalls the height.

Now the shortcut holds only for the exact bytes executed; any other body is validated in full
and refused. Real LevelDB, executor and SM2.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from chain_redteam_util import forgeries, register  # noqa: E402
from driver_util import ValidatingNode, follower_mempool  # noqa: E402
from gov_util import make_genesis  # noqa: E402

from chainnode.chain import Chain  # noqa: E402
from chainnode.consensus import actions as A  # noqa: E402
from chainnode.consensus import events as E  # noqa: E402
from chainnode.driver import ConsensusDriver  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402


@pytest.fixture
def chains(tmp_path):
    leader = Chain(ChainDB(tmp_path / "leader"), make_genesis())
    follower = Chain(ChainDB(tmp_path / "follower"), make_genesis())
    yield leader, follower
    leader.db.close()
    follower.db.close()


def test_a_reproposed_hash_with_a_swapped_body_is_refused_by_a_follower_that_executed_it(chains):
    leader, follower = chains
    ex = leader.build([register(i) for i in range(3)], 0, 0)
    honest, raw = ex.block, ex.encoded()
    # the follower admitted none of the block's txs: its pool never starts a verify thread
    node = ValidatingNode(follower, follower_mempool(follower, ThreadPoolExecutor(1)))

    async def main() -> list[E.BlockValidated]:
        d = ConsensusDriver(node, None, None, send=None)
        verdicts = []
        await d._validate(A.ValidateBlock(1, 0, honest.hash, raw))  # view 0: the honest body
        verdicts.append(d.queue.get_nowait())
        for view, forged in enumerate(forgeries(honest).values(), start=1):
            body = forged.encode()
            assert forged.hash == honest.hash and body != raw
            await d._validate(A.ValidateBlock(1, view, honest.hash, body))
            verdicts.append(d.queue.get_nowait())
        assert d._executed[honest.hash].encoded() == raw  # the executed body is kept
        node.verified = []
        await d._validate(A.ValidateBlock(1, 9, honest.hash, raw))  # honest again: cached
        verdicts.append(d.queue.get_nowait())
        assert node.verified == []  # ... and not checked a second time
        return verdicts

    verdicts = asyncio.run(main())
    assert all(isinstance(v, E.BlockValidated) for v in verdicts)
    assert [v.valid for v in verdicts] == [True, False, False, True]
    assert [v.view for v in verdicts] == [0, 1, 2, 9]
    assert follower.head.height == 0  # validation alone commits nothing
