"""Vote counting and the view-change rule as pure functions."""

from __future__ import annotations

from cons_util import Driver, block

from chainnode.consensus.log import FutureBuffer, VoteLog
from chainnode.consensus.viewchange import (
    ViewChangeTracker,
    check_new_view_shape,
    plan_new_view,
    select_view_changes,
)


def test_quorum_counts_distinct_validators_for_the_exact_vote():
    d = Driver()
    a, _ = block(1, tag="a")
    b, _ = block(1, tag="b")
    log = VoteLog()
    assert log.add(d.prepare(0, 1, a, 0))
    assert not log.add(d.prepare(0, 1, a, 0))  # duplicate from one validator
    assert log.count("prepare", 0, 1, a) == 1
    assert not log.add(d.prepare(0, 1, b, 0))  # same validator, other hash: refused
    assert log.add(d.prepare(0, 1, b, 1))
    assert log.add(d.prepare(1, 1, a, 2))  # other view
    assert log.add(d.commit(0, 1, a, 3))  # other kind
    assert log.count("prepare", 0, 1, a) == 1
    assert log.count("prepare", 0, 1, b) == 1
    assert log.quorums("prepare", 1, 2) == []
    log.add(d.prepare(0, 1, a, 2))
    log.add(d.prepare(0, 1, a, 3))
    assert log.count("prepare", 0, 1, a) == 3
    assert log.quorums("prepare", 1, 3) == [(0, a)]
    assert [i for i, _ in log.signatures("prepare", 0, 1, a)] == [0, 2, 3]


def test_prune_keeps_old_view_commits_until_their_height_is_done():
    d = Driver()
    a, _ = block(1)
    log = VoteLog()
    log.add(d.prepare(0, 1, a, 0))
    log.add(d.commit(0, 1, a, 0))
    log.prune(min_height=1, min_view=3)
    assert log.count("prepare", 0, 1, a) == 0 and log.count("commit", 0, 1, a) == 1
    log.prune(min_height=2, min_view=3)
    assert len(log) == 0


def test_future_buffer_is_capped_per_sender_in_count_and_bytes():
    d = Driver()
    buf = FutureBuffer(per_sender=3, bytes_per_sender=10_000)
    for v in range(1, 10):
        buf.add(d.pre_prepare(v, 1, b"x" * 10, sender=0))
    assert len(buf) == 3
    assert buf.add(d.pre_prepare(1, 1, b"y", sender=1))  # other senders keep their share
    big = FutureBuffer(per_sender=100, bytes_per_sender=10_000)
    for v in range(1, 10):
        big.add(d.pre_prepare(v, 1, b"z" * 4000, sender=0))
    assert big.held_bytes() <= 10_000


def test_plan_chooses_the_highest_prepared_view():
    d = Driver()
    a, _ = block(1, tag="a")
    b, _ = block(1, tag="b")
    c, _ = block(2, tag="c")
    vcs = [
        d.view_change(5, 0, prepared=d.prepared_cert(1, 1, a, [0, 1, 2])),
        d.view_change(5, 1, prepared=d.prepared_cert(3, 1, b, [0, 1, 3])),
        d.view_change(5, 2),
    ]
    plan = plan_new_view(vcs)
    assert plan.base == 0 and plan.height == 1
    assert plan.choice.block_hash == b and plan.choice.view == 3
    # a prepared certificate for a height the set shows committed no longer binds
    cert = d.commit_cert(0, 1, b, [0, 1, 3])
    vcs2 = vcs[:2] + [d.view_change(5, 3, committed=(1, cert),
                                    prepared=d.prepared_cert(2, 2, c, [0, 1, 3]))]
    plan2 = plan_new_view(vcs2)
    assert plan2.base == 1 and plan2.base_cert == cert
    assert plan2.choice.block_hash == c


def test_new_view_that_drops_the_prepared_block_is_rejected():
    d = Driver()
    a, body_a = block(1, tag="a")
    b, body_b = block(1, tag="b")
    vcs = [d.view_change(1, 0, prepared=d.prepared_cert(0, 1, a, [0, 2, 3])),
           d.view_change(1, 2), d.view_change(1, 3)]
    ok = d.new_view(1, vcs, d.pre_prepare(1, 1, body_a, sender=1), 1)
    assert check_new_view_shape(ok, 4, 3) is not None
    for pp in (None, d.pre_prepare(1, 1, body_b, sender=1)):
        assert check_new_view_shape(d.new_view(1, vcs, pp, 1), 4, 3) is None
    too_few = d.new_view(1, vcs[:2], d.pre_prepare(1, 1, body_a, sender=1), 1)
    assert check_new_view_shape(too_few, 4, 3) is None


def test_select_prefers_highest_committed_then_lowest_sender():
    d = Driver()
    a, _ = block(1)
    cert = d.commit_cert(0, 1, a, [0, 1, 2])
    stored = {i: d.view_change(2, i) for i in range(4)}
    stored[3] = d.view_change(2, 3, committed=(1, cert))
    chosen = select_view_changes(stored, 3)
    assert [vc.sender for vc in chosen] == [0, 1, 3]
    assert select_view_changes(stored, 3, excluded={0, 1}) == []


def test_join_needs_f_plus_one_distinct_senders():
    t = ViewChangeTracker(n=4, weak=2, strong=3)
    t.note(0, 10**9)
    t.note(0, 10**9 + 1)
    assert t.join_target() is None
    t.note(1, 7)
    assert t.join_target() == 7  # the highest view two validators vouch for
    assert t.support(7) == 2 and t.support(8) == 1
