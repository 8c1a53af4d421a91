"""BFT time with real blocks, real SM2 votes and a real LevelDB: a block's time is the median
of the COMMIT times in the parent certificate it carries, so the leader's clock cannot move
chain time, and every replica checks it exactly without reading its own clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

import chainnode.clock
from chainnode.chain import Chain
from chainnode.core.block import Block, last_commit_hash
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.exec.executor import InvalidBlock
from chainnode.store.db import ChainDB

CHAIN = "unit-bft-time"
GENESIS_MS = 1_700_000_000_000
HOUR = 3_600_000
KEYS = [PrivateKey.generate() for _ in range(4)]
ADMIN = PrivateKey.generate()


def genesis() -> Genesis:
    return Genesis(CHAIN, GENESIS_MS, tuple(Validator(f"node{i}", k.public_key.raw)
                                            for i, k in enumerate(KEYS)),
                   (Member(address_of(ADMIN.public_key), ("admin",), "admin"),), {})


@pytest.fixture
def chains(tmp_path):
    """A leader's and a replica's chain over their own databases."""
    dbs = [ChainDB(tmp_path / f"n{i}") for i in range(2)]
    yield [Chain(db, genesis()) for db in dbs]
    for db in dbs:
        db.close()


def certify(block: Block, times: dict[int, int]) -> CommitCertificate:
    votes = []
    for i, t in sorted(times.items()):
        p = vote_payload("commit", CHAIN, 0, block.height, block.hash, t)
        votes.append((i, t, domain.sign(KEYS[i], "commit", CHAIN, p)))
    return CommitCertificate(CHAIN, block.height, 0, block.hash, tuple(votes))


def no_clock(*_a, **_k):
    raise AssertionError("block time must not read this node's clock")


@pytest.mark.parametrize("leader_offset", [HOUR, -HOUR])
def test_a_leader_an_hour_off_cannot_move_chain_time(chains, monkeypatch, leader_offset):
    leader, replica = chains
    monkeypatch.setattr(chainnode.clock, "wall_ms", no_clock)
    now = GENESIS_MS + 60_000
    times = []
    for height in range(1, 6):
        ex = leader.build([], 0, 0)
        assert ex.block.height == height
        replica_ex = replica.validate(Block.decode(ex.block.encode()), lambda tx: True)
        times.append(ex.block.header.timestamp_ms)
        # honest validators 1..3 vote at about `now`; the leader (0) votes an hour off
        vote_times = {0: now + leader_offset, 1: now, 2: now + 7, 3: now + 3}
        signers = (0, 1, 2) if height % 2 else (0, 2, 3)  # the leader's vote always counts
        cert = certify(ex.block, {i: vote_times[i] for i in signers})
        leader.commit(ex, cert)
        replica.commit(replica_ex, cert)
        now += 1_000
    assert times[0] == GENESIS_MS + 1  # height 1: genesis time + 1 ms
    for k, t in enumerate(times[1:]):  # later heights: the honest median of the parent votes
        parent_now = GENESIS_MS + 60_000 + 1_000 * k
        assert parent_now <= t <= parent_now + 7, (k, t - parent_now)


def test_replicas_check_block_time_exactly(chains):
    leader, replica = chains
    ex1 = leader.build([], 0, 0)
    replica_ex = replica.validate(ex1.block, lambda tx: True)
    cert = certify(ex1.block, {0: GENESIS_MS + 500, 1: GENESIS_MS + 900, 3: GENESIS_MS + 700})
    leader.commit(ex1, cert)
    replica.commit(replica_ex, cert)
    block = leader.build([], 0, 1).block
    assert block.header.timestamp_ms == GENESIS_MS + 700
    replica.validate(block, lambda tx: True)

    def with_header(b: Block, **kw) -> Block:
        return Block(replace(b.header, **kw), b.txs, b.last_commit)

    for ts in (GENESIS_MS + 699, GENESIS_MS + 701, GENESIS_MS + 900 + HOUR):
        with pytest.raises(InvalidBlock, match="BFT time"):
            replica.validate(with_header(block, timestamp_ms=ts), lambda tx: True)
    # a leader that moves one vote's time (to move the median) breaks that vote's signature
    i, t, sig = block.last_commit.signatures[2]
    forged = replace(block.last_commit, signatures=block.last_commit.signatures[:2]
                     + ((i, t + HOUR, sig),))
    forged_block = Block(replace(block.header, last_commit_hash=last_commit_hash(forged)),
                         block.txs, forged)
    with pytest.raises(InvalidBlock, match="does not verify"):
        replica.validate(forged_block, lambda tx: True)
    # dropping the parent certificate, or carrying one that does not match the header
    with pytest.raises(InvalidBlock, match="no certificate"):
        replica.validate(Block(replace(block.header, last_commit_hash=last_commit_hash(None)),
                               block.txs, None), lambda tx: True)
    with pytest.raises(ValueError, match="does not match its header"):
        Block.decode(Block(block.header, block.txs, forged).encode())


def test_a_replica_with_a_slow_clock_accepts_honest_blocks(chains, monkeypatch):
    """No "too far in the future" check any more: time comes from signed votes."""
    leader, replica = chains
    monkeypatch.setattr(chainnode.clock, "OFFSET_MS", -HOUR)
    ex1 = leader.build([], 0, 0)
    replica_ex = replica.validate(ex1.block, lambda tx: True)
    far = GENESIS_MS + 10 * HOUR
    cert = certify(ex1.block, {1: far, 2: far + 1, 3: far + 2})
    leader.commit(ex1, cert)
    replica.commit(replica_ex, cert)
    block = leader.build([], 0, 1).block
    assert block.header.timestamp_ms == far + 1
    replica.validate(block, lambda tx: True)


def test_a_grown_certificate_replaces_the_stored_one_only_if_larger(chains):
    """Late COMMITs are added to the stored certificate (so every validator that voted is
    counted, and the next block's time uses its clock too); nothing smaller or foreign."""
    leader, _ = chains
    ex = leader.build([], 0, 0)
    small = certify(ex.block, {0: GENESIS_MS, 1: GENESIS_MS + 1, 2: GENESIS_MS + 2})
    leader.commit(ex, small)
    db = leader.db
    full = certify(ex.block, {0: GENESIS_MS, 1: GENESIS_MS + 1, 2: GENESIS_MS + 2,
                              3: GENESIS_MS + 3})
    other = certify(ex.block, {1: GENESIS_MS + 1, 2: GENESIS_MS + 2, 3: GENESIS_MS + 3})
    assert not db.grow_certificate(other)  # not a superset
    assert db.grow_certificate(full) and db.certificate(1) == full
    assert not db.grow_certificate(full)  # not larger
    foreign = replace(full, block_hash=bytes(32))
    assert not db.grow_certificate(foreign)
    assert leader.build([], 0, 1).block.last_commit == full


def test_a_leader_cannot_carry_a_certificate_of_another_block(chains):
    """Red team: a hostile leader pairs the parent with a certificate of something else (a
    real certificate of another block, or of the parent relabelled) to pick the time."""
    leader, replica = chains
    ex1 = leader.build([], 0, 0)
    replica_ex = replica.validate(ex1.block, lambda tx: True)
    cert = certify(ex1.block, {0: GENESIS_MS + 5, 1: GENESIS_MS + 6, 2: GENESIS_MS + 7})
    leader.commit(ex1, cert)
    replica.commit(replica_ex, cert)
    honest = leader.build([], 0, 1).block
    other_block = Block(replace(ex1.block.header, proposer=3), ())
    for bad in (certify(other_block, {0: HOUR, 1: HOUR, 2: HOUR}),
                replace(cert, block_hash=other_block.hash),
                replace(cert, height=2)):
        forged = Block(replace(honest.header, last_commit_hash=last_commit_hash(bad),
                               timestamp_ms=max(honest.header.timestamp_ms, HOUR)),
                       honest.txs, bad)
        with pytest.raises(InvalidBlock, match="parent certificate"):
            replica.validate(forged, lambda tx: True)
