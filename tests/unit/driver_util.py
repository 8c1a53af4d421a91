"""A follower's side of ConsensusDriver._validate around a real chain and a real mempool:
shared by the driver's unit tests and the consensus red-team tests, so both drive the very
lookups (Mempool.lookup_wire, was_verified, admitting) a node's driver makes."""

from __future__ import annotations

from concurrent.futures import Executor

from chainnode.chain import Chain
from chainnode.mempool import Mempool


def follower_mempool(chain: Chain, verify_pool: Executor) -> Mempool:
    """The follower's mempool over `chain` (every sender a member), verifying on
    `verify_pool`."""
    return Mempool(chain_id=chain.genesis.chain_id, verify_pool=verify_pool,
                   head_height=lambda: chain.head.height, is_committed=chain.is_committed,
                   is_member=lambda a: True)


class ValidatingNode:
    """What ConsensusDriver._validate uses of a node; `verified` lists the hashes of the txs
    it was asked to verify, in order, so a test sees which signatures were checked again."""

    def __init__(self, chain: Chain, mempool: Mempool) -> None:
        self.chain, self.mempool = chain, mempool
        self.verified: list[bytes] = []

    async def run_exec(self, fn, *args):
        return fn(*args)

    async def verify_txs(self, txs):
        self.verified += [tx.hash for tx in txs]
        return {tx.hash: tx.verify_signature() for tx in txs}
