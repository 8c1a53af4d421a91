"""Validator-set changes in the core: the set of h+1 arrives as a NewEpoch event before the
commit answer that reaches it; quorum, f, leaders and our own role switch at exactly that
height, and every vote is checked against the set of its own height (member ids are key
numbers here; index = position in the epoch)."""

from __future__ import annotations

from cons_util import CHAIN, Keys, block, of, sent

from chainnode.consensus import (
    BlockValidated,
    CommitBlock,
    ConsensusConfig,
    ConsensusCore,
    Epoch,
    MessageReceived,
    NewEpoch,
    Start,
    SyncedTo,
)
from chainnode.consensus.actions import CancelTimer, Persist
from chainnode.consensus.messages import Commit, Prepare, PrePrepare, ViewChange
from chainnode.core.certificate import CommitCertificate
from chainnode.store.wal import MemoryWAL

KEYS = Keys(6)
G = Epoch(1, (0, 1, 2, 3), 1000, 8000)
ADD4 = Epoch(3, (0, 1, 2, 3, 4), 1000, 8000)  # decided in block 2, governs 3 on
DROP0 = Epoch(5, (1, 2, 3, 4), 1000, 8000)  # 4 -> 5 -> 4: member 0 replaced by member 4


def signed(msg, member: int):
    return KEYS.sign(msg, member)


def cert(height: int, bh: bytes, epoch: Epoch, members) -> CommitCertificate:
    votes = []
    for m in sorted(members, key=epoch.validators.index):
        i = epoch.validators.index(m)
        votes.append((i, 0, signed(Commit(0, height, bh, i, time_ms=0), m).signature))
    return CommitCertificate(CHAIN, height, 0, bh, tuple(votes))


def core(member: int | None, epochs, height: int = 0, wal=None) -> ConsensusCore:
    cfg = ConsensusConfig(n=4, own_index=None, chain_id=CHAIN, base_timeout_ms=1000,
                          max_timeout_ms=8000)
    bh, c = (b"", None)
    if height:
        bh = block(height)[0]
        c = cert(height, bh, [e for e in epochs if e.start <= height][-1],
                 [e for e in epochs if e.start <= height][-1].validators[:3])
    sign = KEYS.signer(member) if member is not None else None
    co = ConsensusCore(cfg, sign, KEYS.verify, committed_height=height, committed_hash=bh,
                       committed_cert=c, records=(wal or MemoryWAL()).load(),
                       epochs=epochs, own_id=member)
    co.handle(Start())
    return co


def sync_to(co: ConsensusCore, height: int, epoch: Epoch) -> list:
    bh = block(height)[0]
    return co.handle(SyncedTo(height, bh, cert(height, bh, epoch, epoch.validators[:3])))


def test_switch_at_exactly_h_plus_1() -> None:
    co = core(1, [G], height=1)
    assert (co.cfg.n, co.cfg.quorum) == (4, 3)
    co.handle(NewEpoch(ADD4))  # told after block 2 committed, before the answer
    assert co.cfg.n == 4 and co.height == 2  # height 2 is still the old set's
    sync_to(co, 2, G)
    assert (co.height, co.cfg.n, co.cfg.f, co.cfg.quorum) == (3, 5, 1, 4)
    assert co.me == 1 and co.cfg.leader(0, 3) == 0 and co.cfg.leader(7, 3) == 2


def test_added_observer_becomes_validator_with_its_index_and_removed_one_observer() -> None:
    new = core(4, [G], height=2)
    assert not new.cfg.is_validator
    new.handle(NewEpoch(ADD4))
    sync_to(new, 2, G)  # (an event for a height already reached applies at once too)
    assert new.cfg.is_validator and new.me == 4
    sync_to(new, 3, ADD4)
    new.handle(NewEpoch(DROP0))
    sync_to(new, 4, ADD4)
    assert new.me == 3  # index moved: member 0 left the front of the set

    old = core(0, [G, ADD4], height=3)
    assert old.me == 0 and old.cfg.is_validator
    old.handle(NewEpoch(DROP0))
    old._timer_armed = True
    acts = sync_to(old, 4, ADD4)
    assert old.me is None and not old.cfg.is_validator and of(acts, CancelTimer)


def _round(co: ConsensusCore, epoch: Epoch, height: int) -> tuple[bytes, list]:
    """The leader's proposal and the other members' PREPAREs; returns (hash, actions)."""
    bh, body = block(height, prev=co.committed_hash, tag="x")
    leader = co.cfg.leader(co.view, height)
    pp = signed(PrePrepare(co.view, height, bh, body, leader), epoch.validators[leader])
    co.handle(MessageReceived(pp))
    acts = co.handle(BlockValidated(height, co.view, bh, True))
    for m in epoch.validators:
        i = epoch.validators.index(m)
        if i not in (leader, co.me):
            acts += co.handle(MessageReceived(signed(Prepare(co.view, height, bh, i), m)))
    return bh, acts


def test_removed_validators_commit_does_not_count_added_one_does() -> None:
    co = core(2, [G, ADD4, DROP0], height=4)  # height 5: set (1, 2, 3, 4); we are index 1
    assert (co.me, co.cfg.n, co.cfg.quorum) == (1, 4, 3)
    bh, acts = _round(co, DROP0, 5)
    assert any(isinstance(m, Commit) for m in sent(acts))  # prepared: our own COMMIT is out
    # member 0 (removed) signs with the index it had: in the set of height 5 index 0 is
    # member 1's, so the signature does not verify; and an out-of-range index is dropped
    for idx in (0, 4):
        acts = co.handle(MessageReceived(signed(Commit(0, 5, bh, idx, time_ms=0), 0)))
        assert not of(acts, CommitBlock)
    # the added member 4 (index 3) counts: with us and member 3 (index 2) that is 3 of 4
    assert not of(co.handle(MessageReceived(signed(Commit(0, 5, bh, 3, time_ms=0), 4))),
                  CommitBlock)
    done = of(co.handle(MessageReceived(signed(Commit(0, 5, bh, 2, time_ms=0), 3))),
              CommitBlock)
    assert done and done[0].certificate.signers == (1, 2, 3)


def test_view_change_for_a_height_is_checked_against_its_set() -> None:
    co = core(2, [G, ADD4, DROP0], height=4)
    # VIEW-CHANGE(1) at committed 4 (height 5): member 0 with its old index is refused, a
    # member of the set of height 5 is counted
    forged = signed(ViewChange(1, 4, co.committed_cert, None, 0), 0)
    co.handle(MessageReceived(forged))
    assert co.vcs.support(1) == 0
    good = signed(ViewChange(1, 4, co.committed_cert, None, 3), 4)
    co.handle(MessageReceived(good))
    assert co.vcs.support(1) == 1


def test_next_height_messages_of_the_new_set_are_kept_across_the_switch() -> None:
    """A PRE-PREPARE for height 5 signed by the new set arrives while we are still at 4
    (under the old set it does not verify): it is checked again once the set switches."""
    co = core(2, [G, ADD4], height=3)  # at height 4, set ADD4
    bh, body = block(5, prev=block(4)[0], tag="y")
    leader = DROP0.validators[0]  # leader of (view 0, height 5) under the new set: member 1
    pp = signed(PrePrepare(0, 5, bh, body, 0), leader)
    co.handle(MessageReceived(pp))
    co.handle(NewEpoch(DROP0))
    acts = sync_to(co, 4, ADD4)
    assert [a.block_hash for a in acts if type(a).__name__ == "ValidateBlock"] == [bh]


def test_restart_after_a_change_comes_back_with_the_right_set() -> None:
    wal = MemoryWAL()
    co = core(4, [G, ADD4], height=3, wal=wal)
    assert (co.me, co.cfg.n) == (4, 5)
    again = core(4, [G, ADD4, DROP0], height=4, wal=wal)
    assert (again.me, again.cfg.n, again.epoch.start) == (3, 4, 5)
    removed = core(0, [G, ADD4, DROP0], height=4)
    assert removed.me is None and not removed.cfg.is_validator


def test_a_validator_added_during_a_view_change_signs_its_view_change() -> None:
    wal = MemoryWAL()
    co = core(4, [G], height=2, wal=wal)
    for m in (0, 1):  # f+1 of the old set ask for view 1: the observer follows the view
        co.handle(MessageReceived(signed(ViewChange(1, 2, co.committed_cert, None, m), m)))
    assert co.view == 1 and co.in_view_change and co.me is None
    # the set of height 3 (the one in flight) adds us: told late, it applies at once
    acts = co.handle(NewEpoch(Epoch(3, (0, 1, 2, 3, 4), 1000, 8000)))
    assert co.me == 4
    vcs = [m for m in sent(acts) if isinstance(m, ViewChange)]
    assert vcs and vcs[0].sender == 4 and vcs[0].view == co.view
    assert any(isinstance(a, Persist) for a in acts)
