"""Red team: a faulty leader pairs the hash of the block the others commit with another body.

Validator 3 leads view 0 and sends validator 1 PRE-PREPARE(view 0, height 1, hash of block B,
body C): its signature covers both, so it verifies. Validator 1's shell finds C does not match
(C's hash is not B's) and says invalid. Validators 0, 2 and 3 prepare and commit B; their
2f+1 COMMITs reach validator 1. It must then fetch B (certified), never commit C: committing C
under B's certificate is a fork on a correct node (it would answer receipts of C's
transactions). Checked at the core (which body it hands to the shell) and at the chain (which
must refuse a certificate for another block).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))

from cons_util import Driver, block, of  # noqa: E402
from test_bft_time import GENESIS_MS, certify, genesis  # noqa: E402

from chainnode.chain import Chain  # noqa: E402
from chainnode.consensus import (  # noqa: E402
    BlockValidated,
    CatchUp,
    CommitBlock,
    Start,
)
from chainnode.core.block import Block  # noqa: E402
from chainnode.exec.executor import InvalidBlock  # noqa: E402
from chainnode.store.db import ChainDB  # noqa: E402

BYZ = 3


def test_a_body_the_shell_rejected_is_never_committed_under_another_blocks_certificate():
    d = Driver(n=4, me=1, rotation_interval=0)
    d.feed(Start())
    b_hash, _ = block(1, tag="B")
    _, c_body = block(1, tag="C")
    leader = d.cfg.leader(0, 1)
    pp = d.pre_prepare(0, 1, c_body, sender=leader, block_hash=b_hash)
    d.recv(pp)
    d.feed(BlockValidated(1, 0, b_hash, False))  # "block does not match its pre-prepare"
    acts = []
    for i in (0, 2, 3):
        if i != 1:
            acts += d.recv(d.commit(0, 1, b_hash, i))
    commits = of(acts, CommitBlock)
    assert all(cb.block != c_body for cb in commits), "committed the rejected body"
    assert of(acts, CatchUp), "a quorum certified a block we lack: fetch it"


@pytest.fixture
def chain(tmp_path):
    db = ChainDB(tmp_path / "db")
    yield Chain(db, genesis())
    db.close()


def test_the_chain_refuses_to_commit_a_block_under_a_certificate_for_another(chain):
    ex_b = chain.build([], 0, 0)
    other = Block(ex_b.block.header.__class__(**{**ex_b.block.header.__dict__,
                                                 "proposer": 2}), ())
    cert_other = certify(other, {0: GENESIS_MS, 1: GENESIS_MS, 2: GENESIS_MS})
    with pytest.raises(InvalidBlock, match="certificate"):
        chain.commit(ex_b, cert_other)
    assert chain.head.height == 0 and chain.db.certificate(1) is None
    cert_b = certify(ex_b.block, {0: GENESIS_MS, 1: GENESIS_MS, 2: GENESIS_MS})
    assert chain.commit(ex_b, cert_b).height == 1
