"""Red team: a certified block served with other signature bytes under the same tx hashes.

A tx's hash (its id) leaves out its signature. While the header's tx_root was a Merkle root of
those ids, a Byzantine leader (in the body it hands a replica for CommitBlock) or a sync peer
could swap one tx's signature for garbage, or for another valid signature by the same key: the
header, hence the block hash the certificate signs, stayed the same. The certified paths check
no tx signature (the quorum did), so the node stored and served a body no quorum ever saw, and
nodes' bodies diverged while their hashes agreed.

Now tx_root's leaves are Transaction.witness_hash (id and signature). Real LevelDB, executor and
SM2: the swapped body keeps the certified hash but fails the tx_root check on every path that
accepts a block by certificate (Chain.validate certified, BlockSync, the driver's CommitBlock);
nothing of it is stored; the honest body still commits.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from chain_redteam_util import VICTIM, forgeries, register, sync_from  # noqa: E402
from driver_util import follower_mempool  # noqa: E402
from gov_util import CHAIN, VKEYS, make_genesis  # noqa: E402

from chainnode.chain import Chain  # noqa: E402
from chainnode.consensus import actions as A  # noqa: E402
from chainnode.consensus import events as E  # noqa: E402
from chainnode.core.block import Block  # noqa: E402
from chainnode.core.certificate import CommitCertificate, vote_payload  # noqa: E402
from chainnode.crypto import domain  # noqa: E402
from chainnode.driver import ConsensusDriver  # noqa: E402
from chainnode.exec.executor import InvalidBlock  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402
from chainnode.sync import BlockSync  # noqa: E402

T0 = 1_700_000_000_000
KEY_OF = {k.public_key.raw: k for k in VKEYS}


def certify(chain: Chain, block: Block) -> CommitCertificate:
    """Every validator of the block's height signs COMMIT for it (real SM2)."""
    votes = []
    for i, v in enumerate(chain.validators_at(block.height)):
        payload = vote_payload("commit", CHAIN, 0, block.height, block.hash, T0 + 1000)
        votes.append((i, T0 + 1000, domain.sign(KEY_OF[v.public_key], "commit", CHAIN,
                                                 payload)))
    return CommitCertificate(CHAIN, block.height, 0, block.hash, tuple(votes))


@pytest.fixture
def certified(tmp_path):
    """(source chain with block 1 committed, its certificate, the honest block bytes)."""
    db = ChainDB(tmp_path / "src")
    src = Chain(db, make_genesis())
    ex = src.build([register(i) for i in range(3)], 0, 0)
    cert = certify(src, ex.block)
    src.commit(ex, cert)
    yield src, cert, src.db.block_bytes(1)
    db.close()


@pytest.fixture
def target(tmp_path):
    db = ChainDB(tmp_path / "dst")
    yield Chain(db, make_genesis())
    db.close()


def nothing_stored(chain: Chain, honest: Block) -> bool:
    return (chain.head.height == 0 and chain.db.block_bytes(1) is None
            and chain.db.certificate(1) is None
            and not any(chain.is_committed(tx.hash) for tx in honest.txs))


def test_a_swapped_signature_keeps_every_hash_the_certificate_signs(certified):
    _, cert, raw = certified
    honest = Block.decode(raw)
    for what, forged in forgeries(honest).items():
        # what made the attack possible: the certificate, the header and the ids still match
        assert forged.hash == honest.hash == cert.block_hash, what
        assert [t.hash for t in forged.txs] == [t.hash for t in honest.txs], what
        assert forged.encode() != raw, what
        # what stops it: the body's tx_root is not the certified header's any more
        back = Block.decode(forged.encode())
        assert back.computed_tx_root() != back.header.tx_root == honest.computed_tx_root(), what
    assert not forgeries(honest)["invalid signature"].txs[VICTIM].verify_signature()


def test_certified_validation_refuses_the_swapped_body_and_stores_nothing(certified, target):
    _, cert, raw = certified
    honest = Block.decode(raw)
    for what, forged in forgeries(honest).items():
        block = Block.decode(forged.encode())  # as it arrives off the wire
        with pytest.raises(InvalidBlock, match="tx_root"):
            # the certified path: no tx signature is checked
            target.validate(block, lambda tx: True, certified=True)
        assert nothing_stored(target, honest), what
    ex = target.validate(Block.decode(raw), lambda tx: True, certified=True)
    assert target.commit(ex, cert).block_hash == honest.hash
    assert target.db.block_bytes(1) == raw


def test_sync_refuses_the_swapped_body_from_a_peer_and_reports_it(certified, target):
    src, cert, raw = certified
    honest = Block.decode(raw)
    serving = BlockSync(src, None, lambda: [], None, None, None)
    for what, forged in forgeries(honest).items():
        def swap(payload, forged=forged):
            resp = serving.serve(payload)
            resp[2] = [[forged.encode(), c] if Block.decode(b).height == 1 else [b, c]
                       for b, c in resp[2]]
            return resp

        head, reported = asyncio.run(sync_from(target, swap))
        assert head == 0 and nothing_stored(target, honest), what
        assert reported and all("does not match its certified tx_root" in r
                                for r in reported), (what, reported)
        # and without the early check, the sync's own validate-and-commit refuses it too
        sync = BlockSync(target, None, lambda: [], None, None, None)
        with pytest.raises(InvalidBlock, match="tx_root"):
            sync._validate_and_commit(Block.decode(forged.encode()), cert)
        assert nothing_stored(target, honest), what

    head, reported = asyncio.run(sync_from(target, serving.serve))
    assert head == 1 and reported == []
    assert target.db.block_bytes(1) == raw


class _Sync:
    def __init__(self) -> None:
        self.asked: list[int] = []

    async def catch_up(self, height: int) -> int:
        self.asked.append(height)
        return 0  # no honest peer in this test: the head stays where it is


class _Node:
    """What ConsensusDriver._commit uses of a node, around a real chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain, self.db, self.sync = chain, chain.db, _Sync()
        # nothing is ever admitted here: its verify pool never starts a thread
        self.mempool = follower_mempool(chain, ThreadPoolExecutor(1))
        self.reconfig = self
        self.committed: list = []

    async def run_exec(self, fn, *args):
        return fn(*args)

    def after_commit(self, ex) -> None:
        self.committed.append(ex.block.hash)

    def after_head_moved(self, post) -> None:
        pass


def _commit(node: _Node, body: bytes, cert: CommitCertificate) -> list:
    """Run the driver's CommitBlock action; return the events it posted."""
    async def main() -> list:
        d = ConsensusDriver(node, None, None, send=None)
        await d._commit(A.CommitBlock(1, cert.block_hash, body, cert))
        await asyncio.gather(*d._tasks)
        out = []
        while not d.queue.empty():
            out.append(d.queue.get_nowait())
        return out
    return asyncio.run(main())


def test_the_driver_never_commits_a_swapped_body_under_the_certificate(certified, target):
    _, cert, raw = certified
    honest = Block.decode(raw)
    node = _Node(target)
    for what, forged in forgeries(honest).items():
        events = _commit(node, forged.encode(), cert)  # a Byzantine leader's body
        assert not any(isinstance(e, E.BlockCommitted) for e in events), what
        assert node.committed == [] and nothing_stored(target, honest), what
        assert node.sync.asked[-1] == 1, what  # it fetches the certified block instead
    events = _commit(node, raw, cert)
    assert any(isinstance(e, E.BlockCommitted) and e.block_hash == honest.hash
               for e in events)
    assert node.committed == [honest.hash] and target.db.block_bytes(1) == raw
