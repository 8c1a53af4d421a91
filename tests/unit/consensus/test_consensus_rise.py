"""Issue 10: a validator behind in view (added after the network changed view, or restarted
with an older WAL) moves UP to the view a commit certificate proves live, instead of
buffering every proposal as "future" and following by sync forever."""

from __future__ import annotations

from cons_util import Driver, block, of, sent

from chainnode.consensus import (
    BlockValidated,
    CatchUp,
    Prepare,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
    ViewChange,
)
from chainnode.consensus.state import PersistedState


def _sync(d: Driver, height: int, prev: bytes, view: int):
    bh, _ = block(height, prev=prev)
    cert = d.commit_cert(view, height, bh, [0, 1, 2])
    d.feed(SyncedTo(height, bh, cert))
    return bh, cert


def test_a_node_in_view_0_signs_again_once_it_syncs_a_view_1_block():
    d = Driver(n=4, me=3)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    a, _ = block(1)
    # the network sits at view 1: its proposal for height 1 is "future" to us
    assert sent(d.recv(d.pre_prepare(1, 1, block(1)[1])), Prepare) == []
    a, cert = _sync(d, 1, block(0)[0], view=1)  # height 1 committed in view 1 (via sync)
    assert d.core.view == 1 and not d.core.in_view_change
    b, body_b = block(2, prev=a)
    d.recv(d.pre_prepare(1, 2, body_b))
    (p,) = sent(d.feed(BlockValidated(2, 1, b, True)), Prepare)
    assert (p.view, p.height, p.sender) == (1, 2, 3)
    # persisted: a restart neither goes back to view 0 nor signs again in (1, 2)
    d.restart(committed=(1, a, cert))
    assert d.core.view == 1
    assert PersistedState.load(d.wal.load()).view == 1
    assert d.core.st.sign_once(Prepare(1, 2, block(2, tag="x")[0], 3),
                               d.keys.signer(3), "unit-chain") is None


def test_the_progress_timer_still_leads_to_a_view_change_above_the_risen_view():
    d = Driver(n=4, me=3)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    _sync(d, 1, block(0)[0], view=2)
    assert d.core.view == 2
    acts = d.feed(TimerFired(d.core._timer_token))  # first: fetch a proposal we missed
    assert sent(acts, ViewChange) == [] and of(acts, CatchUp) == [CatchUp(2)]
    (vc,) = sent(d.feed(TimerFired(d.core._timer_token)), ViewChange)
    assert vc.view == 3 and vc.committed_height == 1


def test_a_certificate_from_a_lower_or_equal_view_never_raises_it():
    d = Driver(n=4, me=3)
    d.feed(Start())
    a, _ = _sync(d, 1, block(0)[0], view=1)
    _sync(d, 2, a, view=0)  # (an old view's certificate for a later height: no change)
    assert d.core.view == 1 and not d.core.in_view_change


def test_a_node_waiting_for_a_lower_new_view_asks_first_then_moves_up():
    """Waiting in view 1, a view-3 certificate makes it re-send VIEW-CHANGE(1) at once (the
    peers of view 3 answer with NEW-VIEW(3) and their head certificate, so it joins with the
    live round); if a whole timeout passes without that, it moves up by itself."""
    d = Driver(n=4, me=1)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    (vc,) = sent(d.feed(TimerFired(d.core._timer_token)), ViewChange)
    assert d.core.view == 1 and d.core.in_view_change
    bh = block(1, prev=block(0)[0])[0]
    acts = d.feed(SyncedTo(1, bh, d.commit_cert(3, 1, bh, [0, 2, 3])))
    assert sent(acts, ViewChange) == [vc]
    assert d.core.view == 1 and d.core.in_view_change
    assert sent(d.feed(TimerFired(d.core._timer_token)), ViewChange) == [vc]
    assert d.core.in_view_change
    d.feed(TimerFired(d.core._timer_token))  # no NEW-VIEW(3) came: go there
    assert d.core.view == 3 and not d.core.in_view_change
    d.restart(committed=(1, bh, d.commit_cert(3, 1, bh, [0, 2, 3])))
    assert d.core.view == 3 and d.core.st.top_view == 1  # VIEW-CHANGE(1) never re-signed


def test_an_observer_voted_in_asks_for_the_view_it_saw_f_plus_1_peers_in():
    """As an observer it recorded members 0 and 1 voting in view 2; it was not its business
    then. Made a validator (by a view-0 certificate: no rise), those f+1 count at once."""
    from test_consensus_epochs import ADD4, G, core, signed, sync_to

    from chainnode.consensus import MessageReceived, NewEpoch

    co = core(4, [G], height=1)
    x = block(2, tag="x")[0]
    for m in (0, 1):
        co.handle(MessageReceived(signed(Prepare(2, 2, x, m), m)))
    assert not co.cfg.is_validator and co.view == 0
    co.handle(NewEpoch(ADD4))
    acts = sync_to(co, 2, G)
    assert co.cfg.is_validator and co.view == 1 and co.in_view_change
    assert [vc.view for vc in sent(acts, ViewChange)] == [1]
