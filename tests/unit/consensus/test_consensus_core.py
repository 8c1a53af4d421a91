"""The PBFT core driven event by event (every action list is also checked for
persist-before-send by the Driver)."""

from __future__ import annotations

import pytest
from cons_util import CHAIN, Driver, block, of, sent

from chainnode import codec
from chainnode.consensus import (
    BlockCommitted,
    BlockValidated,
    BuildProposal,
    CancelTimer,
    CatchUp,
    Commit,
    CommitBlock,
    NewView,
    Persist,
    Prepare,
    PrePrepare,
    ProposalReady,
    SetTimer,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
    ValidateBlock,
    ViewChange,
    encode_message,
)
from chainnode.consensus.config import ConsensusConfig


def _verify_cert(d: Driver, cert, height, bh):
    cert.check(d.n, lambda i, p, s: d.keys.verify(i, "commit", p, s), chain_id=CHAIN,
               height=height, block_hash=bh)


def _timer(actions) -> SetTimer:
    timers = of(actions, SetTimer)
    assert timers, f"no timer set in {actions}"
    return timers[-1]


# -- normal case ---------------------------------------------------------------------------


def test_single_validator_commits_through_the_same_core():
    d = Driver(n=1, me=0)
    assert of(d.feed(Start()), BuildProposal) == []
    acts = d.feed(TransactionsPending(True))
    assert of(acts, BuildProposal) == [BuildProposal(1, 0)]
    for h in (1, 2, 3):
        prev = d.core.committed_hash or b"\0" * 32
        bh, body = block(h, prev)
        acts = d.feed(ProposalReady(h, 0, bh, body))
        (cb,) = of(acts, CommitBlock)
        assert (cb.height, cb.block_hash, cb.block) == (h, bh, body)
        _verify_cert(d, cb.certificate, h, bh)
        acts = d.feed(BlockCommitted(h, bh))
        assert d.core.committed_height == h
        assert of(acts, BuildProposal) == [BuildProposal(h + 1, 0)]
    # mempool drained: nothing is expected any more, so no timer runs while idle
    assert of(d.feed(TransactionsPending(False)), CancelTimer) == [CancelTimer()]


def test_replica_prepares_only_after_validation_and_commits_on_quorum():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    acts = d.recv(d.pre_prepare(0, 1, body))
    assert of(acts, ValidateBlock) == [ValidateBlock(1, 0, a, body)]
    assert sent(acts) == []
    acts = d.feed(BlockValidated(1, 0, a, True))
    (p,) = sent(acts, Prepare)
    assert (p.view, p.height, p.block_hash, p.sender) == (0, 1, a, 1)
    assert isinstance(acts[0], Persist)  # the Driver also checks the vote was in it
    other, _ = block(1, tag="other")
    assert sent(d.recv(d.prepare(0, 1, a, 2))) == []
    assert sent(d.recv(d.prepare(0, 1, a, 2))) == []  # duplicate: still two voters
    assert sent(d.recv(d.prepare(0, 1, other, 3))) == []  # another hash does not count
    assert sent(d.recv(d.prepare(1, 1, a, 3))) == []  # another view does not count
    acts = d.recv(d.prepare(0, 1, a, 0))
    (c,) = sent(acts, Commit)
    assert (c.view, c.height, c.block_hash) == (0, 1, a)
    assert of(d.recv(d.commit(0, 1, a, 0)), CommitBlock) == []
    assert of(d.recv(d.commit(0, 1, a, 0)), CommitBlock) == []
    assert of(d.recv(d.commit(0, 1, other, 3)), CommitBlock) == []
    (cb,) = of(d.recv(d.commit(0, 1, a, 2)), CommitBlock)
    _verify_cert(d, cb.certificate, 1, a)
    assert list(cb.certificate.signers) == [0, 1, 2]
    d.feed(BlockCommitted(1, a))
    assert d.core.height == 2


def test_messages_with_bad_signatures_or_senders_are_ignored():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    pp = d.pre_prepare(0, 1, body)
    forged = PrePrepare(pp.view, pp.height, pp.block_hash, pp.block, pp.sender, b"\0" * 32)
    assert d.recv(forged) == []
    assert d.recv(d.pre_prepare(0, 1, body, sender=2)) == []  # not the leader
    d.recv(pp)
    d.feed(BlockValidated(1, 0, a, True))
    out_of_range = Prepare(0, 1, a, 9, b"x")
    assert d.recv(out_of_range) == []
    signed_by_other = d.keys.sign(Prepare(0, 1, a, 2), 3)  # claims 2, signed by 3
    d.recv(signed_by_other)
    assert sent(d.recv(d.prepare(0, 1, a, 0)), Commit) == []  # only 0 and 1 count


def test_invalid_block_makes_the_replica_leave_the_view():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    acts = d.feed(BlockValidated(1, 0, a, False))
    assert sent(acts, Prepare) == []
    (vc,) = sent(acts, ViewChange)
    assert vc.view == 1 and d.core.in_view_change


def test_observer_follows_without_signing_persisting_or_timers():
    d = Driver(n=4, me=None)
    d.feed(Start())
    a, body = block(1)
    acts = d.recv(d.pre_prepare(0, 1, body))
    acts += d.feed(BlockValidated(1, 0, a, True))
    for i in (0, 2):
        acts += d.recv(d.commit(0, 1, a, i))
    assert of(acts, CommitBlock) == []
    acts += d.recv(d.commit(0, 1, a, 3))
    assert len(of(acts, CommitBlock)) == 1
    assert not any(isinstance(x, (Persist, SetTimer)) for x in acts) and sent(acts) == []


# -- idle, empty blocks, rotation, timers ------------------------------------------------------


def test_idle_chain_makes_no_blocks_unless_configured():
    idle = Driver(n=4, me=0)
    acts = idle.feed(Start())
    assert of(acts, BuildProposal) == [] and of(acts, SetTimer) == []
    busy = Driver(n=4, me=0, empty_blocks=True)
    acts = busy.feed(Start())
    assert of(acts, BuildProposal) == [BuildProposal(1, 0)] and of(acts, SetTimer)


def test_forced_rotation_changes_leader_every_k_heights():
    cfg = ConsensusConfig(n=4, own_index=0, chain_id=CHAIN, rotation_interval=2)
    assert [cfg.leader(0, h) for h in range(1, 9)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [cfg.leader(1, h) for h in range(1, 5)] == [1, 1, 2, 2]
    d = Driver(n=1, me=0, rotation_interval=1)
    d.feed(TransactionsPending(True))
    bh, body = block(1)
    d.feed(ProposalReady(1, 0, bh, body))
    assert of(d.feed(BlockCommitted(1, bh)), BuildProposal) == [BuildProposal(2, 0)]
    r = Driver(n=4, me=1, rotation_interval=1,
               committed=(1, bh, Driver(n=4).commit_cert(0, 1, bh, [0, 1, 2])))
    r.feed(Start())
    assert of(r.feed(TransactionsPending(True)), BuildProposal) == [BuildProposal(2, 0)]


def test_timeouts_back_off_capped_and_reset_on_commit():
    d = Driver(n=1, me=0, base_timeout_ms=100, max_timeout_ms=400)
    acts = d.feed(TransactionsPending(True))
    assert _timer(acts).delay_ms == 100
    delays = []
    for _ in range(4):  # the shell never answers: the leader is replaced (here: itself)
        acts = d.feed(TimerFired(_timer(acts).token))
        delays.append(_timer(acts).delay_ms)
    assert delays == [200, 400, 400, 400]
    assert d.core.view == 4 and not d.core.in_view_change
    assert of(acts, BuildProposal) == [BuildProposal(1, 4)]
    bh, body = block(1)
    d.feed(ProposalReady(1, 4, bh, body))
    acts = d.feed(BlockCommitted(1, bh))
    assert _timer(acts).delay_ms == 100


def test_leader_holding_transactions_back_is_replaced():
    d = Driver(n=4, me=1)
    d.feed(Start())
    acts = d.feed(TransactionsPending(True))  # the mempool has work, leader 0 is silent
    acts = d.feed(TimerFired(_timer(acts).token))
    (vc,) = sent(acts, ViewChange)
    assert vc.view == 1
    assert d.feed(TimerFired(12345)) == []  # a stale token is ignored


def test_stale_timer_after_commit_is_ignored():
    d = Driver(n=1, me=0)
    t1 = _timer(d.feed(TransactionsPending(True))).token
    bh, body = block(1)
    d.feed(ProposalReady(1, 0, bh, body))
    d.feed(BlockCommitted(1, bh))
    assert d.feed(TimerFired(t1)) == []
    assert d.core.view == 0


# -- view change ------------------------------------------------------------------------------


def _to_view_change(d: Driver, view: int = 1):
    acts = d.feed(TransactionsPending(True))
    return d.feed(TimerFired(_timer(acts).token))


def test_new_view_that_drops_the_prepared_block_is_rejected_by_the_core():
    d = Driver(n=4, me=2)
    d.feed(Start())
    a, body_a = block(1, tag="a")
    b, body_b = block(1, tag="b")
    vcs = [d.view_change(1, 0, prepared=d.prepared_cert(0, 1, a, [0, 1, 3]),
                         prepared_block=body_a),
           d.view_change(1, 1), d.view_change(1, 3)]
    for pp in (None, d.pre_prepare(1, 1, body_b, sender=1)):
        d.recv(d.new_view(1, vcs, pp, 1))
        assert d.core.view == 0
    wrong_leader = d.new_view(1, vcs, d.pre_prepare(1, 1, body_a, sender=3), 3)
    assert d.recv(wrong_leader) == [] and d.core.view == 0
    forged_vcs = [vcs[0], vcs[1], ViewChange(1, 0, None, None, 3, b"\0" * 32)]
    d.recv(d.new_view(1, forged_vcs, d.pre_prepare(1, 1, body_a, sender=1), 1))
    assert d.core.view == 0
    acts = d.recv(d.new_view(1, vcs, d.pre_prepare(1, 1, body_a, sender=1), 1))
    assert d.core.view == 1 and not d.core.in_view_change
    assert of(acts, ValidateBlock) == [ValidateBlock(1, 1, a, body_a)]
    assert sent(d.feed(BlockValidated(1, 1, a, True)), Prepare)


def test_replica_refuses_fresh_proposal_where_new_view_fixed_the_block():
    d = Driver(n=4, me=2)
    d.feed(Start())
    a, body_a = block(1, tag="a")
    b, body_b = block(1, tag="b")
    vcs = [d.view_change(1, 0, prepared=d.prepared_cert(0, 1, a, [0, 1, 3])),
           d.view_change(1, 1), d.view_change(1, 3)]
    nv = d.new_view(1, vcs, d.pre_prepare(1, 1, body_a, sender=1), 1)
    # the NEW-VIEW's own proposal is lost; an equivocating leader then sends another block
    nv_lost = NewView(nv.view, nv.view_changes, nv.pre_prepare, nv.sender, nv.signature)
    d.recv(nv_lost)
    assert d.core.view == 1
    assert d.recv(d.pre_prepare(1, 1, body_b, sender=1)) == []


def test_new_leader_reproposes_highest_prepared_block_checking_attachments():
    d = Driver(n=4, me=2)  # leader of view 2
    d.feed(Start())
    a, body_a = block(1, tag="a")
    old, body_old = block(1, tag="old")
    pc_a = d.prepared_cert(1, 1, a, [0, 1, 3])
    garbage = d.view_change(2, 0, prepared=pc_a, prepared_block=b"garbage")
    older = d.view_change(2, 3, prepared=d.prepared_cert(0, 1, old, [0, 1, 3]),
                          prepared_block=body_old)
    honest = d.view_change(2, 1, prepared=pc_a, prepared_block=body_a)
    d.recv(garbage)
    acts = d.recv(older)  # f+1 asked for view 2: join, and as its leader collect
    assert d.core.view == 2 and d.core.in_view_change
    (val,) = of(acts, ValidateBlock)  # the view-1 block wins over the view-0 one
    assert (val.block_hash, val.block) == (a, b"garbage")  # the only attachment for it
    acts = d.feed(BlockValidated(1, 2, a, False))
    assert sent(acts, NewView) == [] and of(acts, ValidateBlock) == []
    (val,) = of(d.recv(honest), ValidateBlock)  # a sender with a good copy
    assert val.block == body_a
    (nv,) = sent(d.feed(BlockValidated(1, 2, a, True)), NewView)
    # VIEW-CHANGEs with prepared certificates are preferred (ours has none): locked
    # validators must see the block they are locked on
    assert [vc.sender for vc in nv.view_changes] == [0, 1, 3]
    assert nv.pre_prepare.block_hash == a and nv.pre_prepare.block == body_a
    assert not d.core.in_view_change


def test_new_view_for_a_far_view_is_accepted_when_valid():
    d = Driver(n=4, me=2)
    d.feed(Start())
    v = 10**6 + 1  # leader index 1 at height 1
    vcs = [d.view_change(v, i) for i in (0, 1, 3)]
    d.recv(d.new_view(v, vcs, None, 1))
    assert d.core.view == v and not d.core.in_view_change


def test_lagging_peer_gets_the_new_view_forwarded():
    d = Driver(n=4, me=2)
    d.feed(Start())
    vcs = [d.view_change(1, i) for i in (0, 1, 3)]
    nv = d.new_view(1, vcs, None, 1)
    d.recv(nv)
    acts = d.recv(d.view_change(1, 0))  # 0 still waits for NEW-VIEW(1)
    assert [(a.to, a.message) for a in acts if hasattr(a, "message")] == [(0, nv)]
    for _ in range(5):
        acts = d.recv(d.view_change(1, 0))
    assert acts == []  # forwarding is rate-limited per peer and view


# -- bounded memory ---------------------------------------------------------------------------


def test_flood_of_future_messages_is_bounded_and_moves_no_view():
    d = Driver(n=4, me=1, buffer_per_sender=16)
    d.feed(Start())
    a, body = block(1)
    for v in range(3, 20_000, 4):  # every view validator 3 leads
        d.recv(d.pre_prepare(v, 1 + v % 3, body, sender=3))
    for k in range(2_000):
        d.recv(d.view_change(10**9 + k, 3))
        d.recv(d.prepare(10**9 + k, 1, a, 3))
        d.recv(d.commit(k % 9, 1 + k % 9, a, 3))
    core = d.core
    assert core.view == 0 and not core.in_view_change
    assert len(core.future) <= 16
    assert len(core.log) <= 2 * 9 * 9
    assert sum(len(x) for x in core.vcs.by_view.values()) == 0
    assert core.vcs.latest == {3: 10**9 + 1999}
    # a second validator vouching for a high view makes f+1: now the node follows
    d.recv(d.view_change(10**9, 2))
    assert core.view == 10**9 and core.in_view_change


# -- restart and the single-vote rule -------------------------------------------------------------


def _plyvel_wal(tmp_path):
    import plyvel

    from chainnode.store.wal import ConsensusWAL
    return ConsensusWAL(plyvel.DB(str(tmp_path / "db"), create_if_missing=True))


@pytest.fixture(params=["memory", "plyvel"])
def wal(request, tmp_path):
    if request.param == "memory":
        from chainnode.store.wal import MemoryWAL
        return MemoryWAL()
    return _plyvel_wal(tmp_path)


def test_replica_never_votes_twice_across_restart(wal):
    d = Driver(n=4, me=1, wal=wal)
    d.feed(Start())
    a, body_a = block(1, tag="a")
    b, body_b = block(1, tag="b")
    d.recv(d.pre_prepare(0, 1, body_a))
    (p1,) = sent(d.feed(BlockValidated(1, 0, a, True)), Prepare)
    acts = d.restart()
    assert sent(acts) == [p1]  # byte-identical resend
    # an equivocating leader now offers another block for the same (view, height)
    acts = d.recv(d.pre_prepare(0, 1, body_b))
    acts += d.feed(BlockValidated(1, 0, b, True))
    assert sent(acts, Prepare) == []
    # and the restarted core still completes the round for the block it voted for
    d.recv(d.prepare(0, 1, a, 0))
    (c,) = sent(d.recv(d.prepare(0, 1, a, 2)), Commit)
    assert c.block_hash == a
    acts = d.restart()
    assert sent(acts) == [p1, c]


def test_leader_repropose_after_restart_is_identical(wal):
    d = Driver(n=4, me=0, wal=wal)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    a, body_a = block(1, tag="a")
    pp = sent(d.feed(ProposalReady(1, 0, a, body_a)), PrePrepare)[0]
    acts = d.restart()
    assert sent(acts, PrePrepare) == [pp]
    acts = d.feed(TransactionsPending(True))
    assert of(acts, BuildProposal) == []
    b, body_b = block(1, tag="b")
    assert sent(d.feed(ProposalReady(1, 0, b, body_b))) == []


def test_view_change_vote_survives_restart_unchanged(wal):
    d = Driver(n=4, me=1, wal=wal)
    d.feed(Start())
    (vc,) = sent(_to_view_change(d), ViewChange)
    acts = d.restart()
    assert d.core.view == 1 and d.core.in_view_change
    assert sent(acts) == [vc]
    acts = d.feed(TimerFired(_timer(acts).token))  # nobody else moved: resend, same bytes
    assert sent(acts) == [vc] and d.core.view == 1


def test_state_refuses_to_sign_a_second_statement():
    from chainnode.consensus.state import PersistedState
    d = Driver()
    st = PersistedState()
    a, _ = block(1, tag="a")
    b, _ = block(1, tag="b")
    sign = d.keys.signer(1)
    first = st.sign_once(Prepare(0, 1, a, 1), sign, CHAIN)
    assert st.sign_once(Prepare(0, 1, a, 1), sign, CHAIN) is first
    assert st.sign_once(Prepare(0, 1, b, 1), sign, CHAIN) is None
    loaded = PersistedState.load(dict(st.take_persist().puts))
    assert loaded.sign_once(Prepare(0, 1, b, 1), sign, CHAIN) is None
    assert loaded.sign_once(Prepare(0, 1, a, 1), sign, CHAIN) == first


def test_corrupt_wal_record_is_refused():
    from chainnode.consensus.state import PersistedState
    with pytest.raises(ValueError):
        PersistedState.load({b"meta": b"\x93\x01\x02\x03"})
    with pytest.raises(ValueError):
        PersistedState.load({b"unknown": b"\xc0"})


# -- catching up ------------------------------------------------------------------------------


def test_certificate_for_a_higher_height_asks_for_catch_up_and_sync_resumes():
    d = Driver(n=4, me=1)
    d.feed(Start())
    h3, _ = block(3, tag="h3")
    cert3 = d.commit_cert(0, 3, h3, [0, 2, 3])
    h4, body4 = block(4, prev=h3)
    assert of(d.recv(d.pre_prepare(0, 4, body4)), ValidateBlock) == []  # buffered
    acts = d.recv(d.view_change(1, 2, committed=(3, cert3)))
    assert of(acts, CatchUp) == [CatchUp(3)]
    acts = d.feed(SyncedTo(3, h3, cert3))
    assert d.core.committed_height == 3
    assert of(acts, ValidateBlock) == [ValidateBlock(4, 0, h4, body4)]


def test_f_plus_one_peers_ahead_trigger_catch_up_but_one_does_not():
    d = Driver(n=4, me=1)
    d.feed(Start())
    x, _ = block(6)
    assert of(d.recv(d.prepare(0, 6, x, 2)), CatchUp) == []
    acts = d.recv(d.prepare(0, 7, x, 3))
    assert of(acts, CatchUp) == [CatchUp(5)]  # both work on >= 6: 5 is committed


def test_commit_certificate_for_the_block_in_flight_commits_directly():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    d.recv(d.pre_prepare(0, 1, body))
    d.feed(BlockValidated(1, 0, a, True))
    cert = d.commit_cert(0, 1, a, [0, 2, 3])
    acts = d.recv(d.view_change(1, 2, committed=(1, cert)))
    (cb,) = of(acts, CommitBlock)
    assert cb.certificate == cert and of(acts, CatchUp) == []


def test_commit_the_shell_never_confirms_is_fetched_by_sync_on_timeout():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, body = block(1)
    acts = d.recv(d.pre_prepare(0, 1, body))
    acts = d.feed(BlockValidated(1, 0, a, True))
    for i in (0, 2):
        acts = d.recv(d.prepare(0, 1, a, i))
    for i in (0, 2):
        acts = d.recv(d.commit(0, 1, a, i))
    assert of(acts, CommitBlock)
    acts = d.feed(TimerFired(d.core._timer_token))  # no BlockCommitted came back
    assert of(acts, CatchUp) == [CatchUp(1)]
    # a quorum certified this height: we fell behind, the leader did not fail us
    assert sent(acts, ViewChange) == [] and d.core.view == 0
    acts = d.feed(TimerFired(d.core._timer_token))  # still nothing: now suspect the leader
    assert of(acts, CatchUp) == [CatchUp(1)]
    assert sent(acts, ViewChange)


def test_one_peer_cannot_make_an_idle_node_time_out():
    d = Driver(n=4, me=1)
    d.feed(Start())
    x, _ = block(1, tag="bogus")
    assert of(d.recv(d.prepare(0, 1, x, 3)), SetTimer) == []  # a lone vote: still idle
    assert of(d.recv(d.prepare(0, 1, x, 2)), SetTimer)  # f+1 peers are at work: expect it


def test_peer_behind_our_head_gets_the_head_certificate():
    a, _ = block(1)
    helper = Driver(n=4, me=1)
    cert = helper.commit_cert(0, 1, a, [0, 1, 2])
    helper = Driver(n=4, me=1, keys=helper.keys, committed=(1, a, cert))
    helper.wal.apply([(b"vote/" + codec.encode(["commit", 0, 1]),
                       encode_message(helper.commit(0, 1, a, 1)))])  # 1 signed it, durably
    helper = Driver(n=4, me=1, keys=helper.keys, committed=(1, a, cert), wal=helper.wal)
    helper.feed(Start())
    acts = helper.recv(helper.view_change(1, 3))  # 3 still shows height 0
    forwarded = sent(acts, Commit)
    assert [(c.sender, c.height, c.block_hash) for c in forwarded] == [(0, 1, a), (1, 1, a),
                                                                       (2, 1, a)]
    # ... and those COMMITs are enough for the laggard (here: validator 3) to catch up
    lag = Driver(n=4, me=3, keys=helper.keys)
    lag.feed(Start())
    acts = [x for c in forwarded for x in lag.recv(c)]
    assert of(acts, CatchUp) == [CatchUp(1)]
    for _ in range(5):
        helper.recv(helper.view_change(1, 3))
    assert sent(helper.recv(helper.view_change(1, 3))) == []  # rate-limited


def test_prepared_block_is_written_once_and_survives_a_new_proposal():
    from chainnode.consensus.state import PREPARED, PersistedState
    d = Driver()
    st = PersistedState()
    a, body_a = block(1, tag="a")
    b, body_b = block(1, tag="b")
    st.set_accepted(d.pre_prepare(0, 1, body_a))
    st.set_prepared(d.prepared_cert(0, 1, a, [0, 1, 2]), body_a)
    records = dict(st.take_persist().puts)
    assert body_a not in records[PREPARED]  # points at the accepted record instead
    assert PersistedState.load(records).prepared_block == body_a
    st.set_accepted(d.pre_prepare(1, 1, body_b))  # a later view proposes another block
    records.update(st.take_persist().puts)
    assert body_a in records[PREPARED]
    loaded = PersistedState.load(records)
    assert loaded.prepared_block == body_a and loaded.accepted.block == body_b


def test_node_behind_in_view_asks_for_it_when_f_plus_one_peers_work_there():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, _ = block(1)
    assert sent(d.recv(d.prepare(3, 1, a, 3))) == []  # one peer in view 3: could be lying
    (vc,) = sent(d.recv(d.prepare(3, 1, a, 2)), ViewChange)  # f+1: ask (peers forward NV)
    assert vc.view == 1 and d.core.in_view_change
    assert sent(d.recv(d.prepare(3, 1, a, 0))) == []  # asked once per view
    nv = d.new_view(3, [d.view_change(3, i) for i in (0, 2, 3)], None, 3)
    d.recv(nv)
    assert d.core.view == 3 and not d.core.in_view_change


def test_catch_up_is_asked_again_on_timeout_while_the_evidence_stands():
    d = Driver(n=4, me=1)
    d.feed(Start())
    a, _ = block(1)
    acts = []
    for i in (0, 2, 3):  # a quorum committed a block we never received
        acts += d.recv(d.commit(0, 1, a, i))
    assert of(acts, CatchUp) == [CatchUp(1)]
    assert of(d.recv(d.commit(0, 1, a, 0)), CatchUp) == []  # no duplicate request
    acts = d.feed(TimerFired(d.core._timer_token))  # that sync found nothing: ask again
    assert of(acts, CatchUp) == [CatchUp(1)]
