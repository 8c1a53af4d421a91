"""Issue 9, one core at a time: stale verdicts, timers after the network moved on, the return
to the live view (and the lock and VIEW-CHANGE rules that keep it safe), late COMMITs growing
the head certificate, and the COMMIT vote time."""

from __future__ import annotations

from cons_util import Driver, block, of, sent

from chainnode.consensus import (
    BlockCommitted,
    BlockValidated,
    CatchUp,
    Commit,
    CommitBlock,
    GrowCertificate,
    Prepare,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
    ViewChange,
)
from chainnode.consensus.state import PersistedState


def _commit_height_1(d: Driver, signers=(0, 2)):
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    for i in signers:
        d.recv(d.prepare(0, 1, a, i))
    acts = []
    for i in signers:
        acts = d.recv(d.commit(0, 1, a, i, time_ms=1_000 + i))
    (cb,) = of(acts, CommitBlock)
    d.feed(BlockCommitted(1, a))
    return a, body, cb.certificate


def test_commit_votes_carry_the_injected_clock_and_resend_identically():
    d = Driver(n=4, me=1)
    d.core._clock = lambda: 123_456
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    d.recv(d.prepare(0, 1, a, 0))
    (c,) = sent(d.recv(d.prepare(0, 1, a, 2)), Commit)
    assert c.time_ms == 123_456
    d.core._clock = lambda: 999_999  # a later re-send is the first COMMIT, byte for byte
    again = d.core.st.sign_once(Commit(0, 1, a, 1, time_ms=999_999), d.keys.signer(1), "x")
    assert again == c


def test_late_commit_grows_the_head_certificate_once():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, _, cert = _commit_height_1(d)
    assert cert.signers == (0, 1, 2)
    (g,) = of(d.recv(d.commit(0, 1, a, 3, time_ms=7)), GrowCertificate)
    assert g.certificate.signers == (0, 1, 2, 3) and g.certificate.signatures[3][1] == 7
    assert d.core.committed_cert == g.certificate
    assert of(d.recv(d.commit(0, 1, a, 3, time_ms=7)), GrowCertificate) == []  # duplicate
    other, _ = block(1, tag="other")
    assert of(d.recv(d.commit(1, 1, a, 0)), GrowCertificate) == []  # another view
    assert of(d.recv(d.commit(0, 1, other, 0)), GrowCertificate) == []  # another block
    forged = Commit(0, 1, a, 3, b"\x00" * 32, 7)
    d2 = Driver(n=4, me=1)
    d2.feed(Start())
    _commit_height_1(d2)
    assert of(d2.recv(forged), GrowCertificate) == []  # bad signature


def test_invalid_verdict_for_a_height_being_synced_starts_no_view_change():
    """Sync committed the height under the validation ("does not extend head"): the core
    asked for that height itself, so the verdict says nothing about the leader."""
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    acts = []
    for i in (0, 2, 3):  # f+1 peers work two heights up: catch up
        acts += d.recv(d.prepare(0, 3, a, i))
    assert CatchUp(2) in of(acts, CatchUp)
    acts = d.feed(BlockValidated(1, 0, a, False))
    assert sent(acts, ViewChange) == [] and d.core.view == 0
    # ... while a plain invalid proposal still changes view at once
    d2 = Driver(n=4, me=1)
    d2.feed(Start())
    d2.recv(d2.pre_prepare(0, 1, body))
    assert sent(d2.feed(BlockValidated(1, 0, a, False)), ViewChange)


def test_timer_after_falling_behind_catches_up_first():
    d = Driver(n=4, me=1)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    x, _ = block(5)
    for i in (0, 2):  # f+1 peers are at height 5: we are behind
        d.recv(d.prepare(0, 5, x, i))
    acts = d.feed(TimerFired(d.core._timer_token))
    assert sent(acts, ViewChange) == [] and d.core.view == 0
    acts = d.feed(TimerFired(d.core._timer_token))  # nothing came of it: now change view
    assert sent(acts, ViewChange) and d.core.view == 1


def _alone_in_view_1(d: Driver):
    d.feed(Start())
    d.feed(TransactionsPending(True))
    acts = d.feed(TimerFired(d.core._timer_token))
    (vc,) = sent(acts, ViewChange)
    assert d.core.view == 1 and d.core.in_view_change and vc.committed_height == 0
    return vc


def test_a_certificate_for_a_later_height_brings_a_lone_node_back():
    d = Driver(n=4, me=1)
    _alone_in_view_1(d)
    # height 1 committed in view 0 (its votes may predate our leaving): not yet proof
    a, _ = block(1)
    d.feed(SyncedTo(1, a, d.commit_cert(0, 1, a, [0, 2, 3])))
    assert d.core.view == 1 and d.core.in_view_change
    # height 2 committed in view 0: 2f+1 voted there after we left; go back and vote
    b, body_b = block(2, prev=a)
    d.feed(SyncedTo(2, b, d.commit_cert(0, 2, b, [0, 2, 3])))
    assert d.core.view == 0 and not d.core.in_view_change
    c, body_c = block(3, prev=b)
    d.recv(d.pre_prepare(0, 3, body_c))
    (p,) = sent(d.feed(BlockValidated(3, 0, c, True)), Prepare)
    assert (p.view, p.height) == (0, 3)
    # the WAL agrees after a restart, and keeps the VIEW-CHANGE we signed for view 1
    d.restart(committed=(2, b, d.commit_cert(0, 2, b, [0, 2, 3])))
    assert d.core.view == 0 and ("view-change", 1, 0) in d.core.st.votes


def test_after_returning_the_old_view_change_is_resent_never_resigned():
    d = Driver(n=4, me=1)
    vc = _alone_in_view_1(d)
    a, _ = block(1)
    b, _ = block(2, prev=a)
    d.feed(SyncedTo(1, a, d.commit_cert(0, 1, a, [0, 2, 3])))
    d.feed(SyncedTo(2, b, d.commit_cert(0, 2, b, [0, 2, 3])))
    assert d.core.view == 0
    d.feed(TransactionsPending(True))
    acts = d.feed(TimerFired(d.core._timer_token))  # view 0 fails again at height 3
    (again,) = sent(acts, ViewChange)
    assert again == vc  # the same statement (committed height 0), not a second one
    # a VIEW-CHANGE record pruned meanwhile is never signed afresh: that view is skipped
    st = PersistedState()
    st.top_view = 4
    assert not st.may_sign_view_change(3) and st.may_sign_view_change(5)


def test_a_locked_validator_refuses_another_block_without_a_new_view():
    """Locked on block A at height 1 (prepared, then the view changed): a fresh proposal of
    another block at height 1 in a later view, not backed by a NEW-VIEW that re-proposes a
    block prepared at least as recently, gets no PREPARE."""
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body_a = block(1, tag="a")
    d.recv(d.pre_prepare(0, 1, body_a))
    d.feed(BlockValidated(1, 0, a, True))
    for i in (0, 2):
        d.recv(d.prepare(0, 1, a, i))
    assert d.core.st.prepared is not None and d.core.st.prepared.block_hash == a
    d.core.st.return_to_view(0)  # as if this validator had come back to a view
    d.core._reset_view_scratch()
    bh, body_b = block(1, tag="b")
    pp = d.pre_prepare(0, 1, body_b)
    d.core._accepted = None
    assert d.core._locked_against(pp)
    assert not d.core._locked_against(d.pre_prepare(0, 1, body_a))


def test_a_validator_outpaced_by_a_certificate_still_sends_its_commit():
    """The others' COMMITs reached validator 1 first: once its shell committed the block it
    sends its own COMMIT (peers add it to their certificate) and grows its own."""
    d = Driver(n=4, me=1)
    d.core._clock = lambda: 4_242
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    acts = []
    for i in (0, 2, 3):
        acts = d.recv(d.commit(0, 1, a, i))
    (cb,) = of(acts, CommitBlock)
    assert cb.certificate.signers == (0, 2, 3)
    acts = d.feed(BlockCommitted(1, a))
    (c,) = sent(acts, Commit)
    assert (c.view, c.height, c.block_hash, c.sender, c.time_ms) == (0, 1, a, 1, 4_242)
    (g,) = of(acts, GrowCertificate)
    assert g.certificate.signers == (0, 1, 2, 3)
    # a block that only came by sync (its shell executed nothing for consensus): no vote
    d2 = Driver(n=4, me=1)
    d2.feed(Start())
    assert sent(d2.feed(SyncedTo(1, a, cb.certificate)), Commit) == []
    # nor from a node waiting in a view of its own
    d3 = Driver(n=4, me=1)
    _alone_in_view_1(d3)
    acts = d3.recv(d3.pre_prepare(0, 1, body))  # view 0: not ours, dropped
    for i in (0, 2, 3):
        acts += d3.recv(d3.commit(0, 1, a, i))
    acts += d3.feed(SyncedTo(1, a, cb.certificate))
    assert d3.core.height == 2 and d3.core.in_view_change
    assert sent(acts, Commit) == []


def test_commits_that_arrive_while_the_shell_commits_grow_the_certificate():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    for i in (0, 2):
        d.recv(d.prepare(0, 1, a, i))
    acts = d.recv(d.commit(0, 1, a, 0))
    (cb,) = of(d.recv(d.commit(0, 1, a, 2)), CommitBlock)
    assert cb.certificate.signers == (0, 1, 2)
    d.recv(d.commit(0, 1, a, 3, time_ms=99))  # while the shell writes the block
    acts = d.feed(BlockCommitted(1, a))
    (g,) = of(acts, GrowCertificate)
    assert g.certificate.signers == (0, 1, 2, 3) and d.core.committed_cert == g.certificate
