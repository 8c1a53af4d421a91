"""Red team, BFT time on real blocks, SM2 votes and LevelDB: how far can a faulty leader of
height 2, with a faulty validator voting at 0 or 2**63-1, move block time by choosing which
COMMITs of height 1 its block carries? Exactly onto any honest vote time, never outside the
honest range (docs/consensus.md, "How far a faulty leader can bias it")."""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))

from test_bft_time import GENESIS_MS, certify, genesis  # noqa: E402

from chainnode.chain import Chain  # noqa: E402
from chainnode.core.block import Block, last_commit_hash  # noqa: E402
from chainnode.core.certificate import MAX_TIME_MS, bft_time  # noqa: E402
from chainnode.exec.executor import InvalidBlock  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402

HONEST = {0: GENESIS_MS + 1_000, 1: GENESIS_MS + 1_200, 2: GENESIS_MS + 1_900}
BYZ = 3


@pytest.fixture
def chains(tmp_path):
    """A faulty leader's and a correct replica's chain, each over its own LevelDB."""
    dbs = [ChainDB(tmp_path / f"n{i}") for i in range(2)]
    yield [Chain(db, genesis()) for db in dbs]
    for db in dbs:
        db.close()


def _carrying(template: Block, cert) -> Block:
    """Block 2 as a faulty leader builds it: the honest body, with its chosen certificate
    and the time that certificate gives."""
    ts = bft_time(GENESIS_MS + 1, cert, GENESIS_MS)
    return Block(replace(template.header, last_commit_hash=last_commit_hash(cert),
                         timestamp_ms=ts), template.txs, cert)


@pytest.mark.parametrize("lie", [0, MAX_TIME_MS])
def test_a_faulty_leader_picks_any_honest_time_and_nothing_outside(chains, lie):
    leader, replica = chains
    ex1 = leader.build([], 0, 0)
    replica_ex = replica.validate(ex1.block, lambda tx: True)
    stored = certify(ex1.block, HONEST)
    leader.commit(ex1, stored)
    replica.commit(replica_ex, stored)
    template = leader.build([], 0, 1).block
    votes = {**HONEST, BYZ: lie}
    reached = set()
    for k in (3, 4):
        for signers in itertools.combinations(sorted(votes), k):
            cert = certify(ex1.block, {i: votes[i] for i in signers})
            block = _carrying(template, cert)
            replica.validate(block, lambda tx: True)  # every choice is a valid block
            t = block.header.timestamp_ms
            assert min(HONEST.values()) <= t <= max(HONEST.values())
            reached.add(t)
    # the faulty vote pushes toward its side: with 2**63-1 the latest honest time is
    # reachable, with 0 the earliest; the middle one always is
    end = max(HONEST.values()) if lie else min(HONEST.values())
    assert {end, HONEST[1]} <= reached
    # one ms beyond the honest range is never accepted, whatever certificate is carried
    cert = certify(ex1.block, {i: votes[i] for i in (1, 2, BYZ)})
    block = _carrying(template, cert)
    for ts in (max(HONEST.values()) + 1, min(HONEST.values()) - 1):
        with pytest.raises(InvalidBlock, match="BFT time"):
            replica.validate(Block(replace(block.header, timestamp_ms=ts), block.txs,
                                   block.last_commit), lambda tx: True)
