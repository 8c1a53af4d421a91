"""Red team: a correct validator must never sign two different messages for one
(kind, view, height), not even a COMMIT that differs only in its time.

The return to the live view prunes a view's vote records when the node leaves it; coming back
to that view it may still be asked to vote at the height it left at (the COMMIT after its shell
committed the block, or the help vote for a re-proposed head), where its first vote's record is
gone. These tests drive one core through exactly that, with a faulty peer supplying the
certificate.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import plyvel
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))

from cons_util import Driver, block, of, sent  # noqa: E402

from chainnode.consensus import (  # noqa: E402
    BlockCommitted,
    BlockValidated,
    Commit,
    CommitBlock,
    Prepare,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
)
from chainnode.store.wal import ConsensusWAL  # noqa: E402

BYZ = 3  # the faulty validator; we are validator 1, the view-0 leader is 0


class Signed:
    """Every message validator 1 ever sent, by slot, across the whole run."""

    def __init__(self) -> None:
        self.by_slot: dict[tuple, object] = {}

    def note(self, actions) -> None:
        for msg in sent(actions):
            if msg.sender != 1:
                continue
            slot = (msg.KIND, msg.view, getattr(msg, "height", 0))
            first = self.by_slot.setdefault(slot, msg)
            assert first == msg, f"validator 1 signed two different {slot}: {first} / {msg}"


def _feed(d: Driver, seen: Signed, event):
    acts = d.feed(event)
    seen.note(acts)
    return acts


def _recv(d: Driver, seen: Signed, msg):
    acts = d.recv(msg)
    seen.note(acts)
    return acts


def _left_then_returned(d: Driver, seen: Signed, now: list[int]):
    """View 1 alone at height 1, then back to view 0 at committed height 2 (a stale
    VIEW-CHANGE(1) stays stored)."""
    d.core._clock = lambda: now[0]
    _feed(d, seen, Start())
    _feed(d, seen, TransactionsPending(True))
    _feed(d, seen, TimerFired(d.core._timer_token))
    assert d.core.view == 1 and d.core.in_view_change
    a, _ = block(1)
    b, _ = block(2, prev=a)
    _feed(d, seen, SyncedTo(1, a, d.commit_cert(0, 1, a, [0, 2, 3])))
    _feed(d, seen, SyncedTo(2, b, d.commit_cert(0, 2, b, [0, 2, 3])))
    assert d.core.view == 0 and not d.core.in_view_change
    return b


def test_commit_after_a_second_return_is_never_resigned_with_another_time():
    d, seen, now = Driver(n=4, me=1), Signed(), [1_000]
    b = _left_then_returned(d, seen, now)
    # height 3 in view 0: we prepare and commit-vote; the others' COMMITs do not reach us
    c, body_c = block(3, prev=b)
    _recv(d, seen, d.pre_prepare(0, 3, body_c))
    _feed(d, seen, BlockValidated(3, 0, c, True))
    _recv(d, seen, d.prepare(0, 3, c, 0))
    acts = _recv(d, seen, d.prepare(0, 3, c, 2))
    (first,) = sent(acts, Commit)
    assert (first.view, first.height, first.time_ms) == (0, 3, 1_000)
    # we time out and re-send the stored (stale) VIEW-CHANGE(1): view 0's records are pruned
    now[0] = 5_000
    token = d.core._timer_token
    _feed(d, seen, TimerFired(token))
    if not d.core.in_view_change:
        _feed(d, seen, TimerFired(d.core._timer_token))
    assert d.core.view == 1 and d.core.in_view_change
    # the faulty validator sends a VIEW-CHANGE carrying a real certificate of height 3 in
    # view 0 that lacks our vote (0, 2 and its own)
    cert3 = d.commit_cert(0, 3, c, [0, 2, BYZ])
    vc = d.view_change(2, BYZ, committed=(3, cert3))
    acts = _recv(d, seen, vc)
    (cb,) = of(acts, CommitBlock)
    acts = _feed(d, seen, BlockCommitted(3, c))  # back in view 0, height 3 final
    assert d.core.view == 0 and d.core.committed_height == 3
    # whatever it sends for (commit, 0, 3) must be the first COMMIT, byte for byte
    again = [m for m in sent(acts, Commit) if (m.view, m.height) == (0, 3)]
    assert all(m == first for m in again)


@pytest.mark.parametrize("store", ["memory", "leveldb"])
def test_the_same_holds_when_the_node_restarts_before_the_certificate_arrives(tmp_path, store):
    wal = None
    if store == "leveldb":
        db = plyvel.DB(str(tmp_path / "wal"), create_if_missing=True)
        wal = ConsensusWAL(db)
    d, seen, now = Driver(n=4, me=1, wal=wal), Signed(), [1_000]
    b = _left_then_returned(d, seen, now)
    c, body_c = block(3, prev=b)
    _recv(d, seen, d.pre_prepare(0, 3, body_c))
    _feed(d, seen, BlockValidated(3, 0, c, True))
    _recv(d, seen, d.prepare(0, 3, c, 0))
    (first,) = sent(_recv(d, seen, d.prepare(0, 3, c, 2)), Commit)
    now[0] = 5_000
    _feed(d, seen, TimerFired(d.core._timer_token))
    if not d.core.in_view_change:
        _feed(d, seen, TimerFired(d.core._timer_token))
    assert d.core.view == 1 and d.core.in_view_change
    # the pruned slot is remembered by the WAL, not by memory
    seen.note(d.restart(committed=(2, b, d.commit_cert(0, 2, b, [0, 2, 3]))))
    d.core._clock = lambda: now[0]
    cert3 = d.commit_cert(0, 3, c, [0, 2, BYZ])
    _recv(d, seen, d.view_change(2, BYZ, committed=(3, cert3)))
    acts = _feed(d, seen, BlockCommitted(3, c))
    assert d.core.view == 0 and d.core.committed_height == 3
    assert all(m == first for m in sent(acts, Commit) if (m.view, m.height) == (0, 3))
    # height 4 is above every pruned slot: the node votes normally again
    e, body_e = block(4, prev=c)
    _recv(d, seen, d.pre_prepare(0, 4, body_e))
    (p,) = sent(_feed(d, seen, BlockValidated(4, 0, e, True)), Prepare)
    assert (p.view, p.height) == (0, 4)
    if wal is not None:
        db.close()


def test_a_pruned_prepare_is_never_resigned_for_another_block():
    """The help vote's case, on the state itself: a PREPARE for one block at (view 0,
    height 3), its record pruned on leaving view 0, must not be followed by a PREPARE for
    another block in that slot, before or after a restart."""
    from chainnode.consensus.state import FLOOR, PersistedState
    from chainnode.store.wal import MemoryWAL

    d = Driver(n=4, me=1)
    sign = d.keys.signer(1)
    x, _ = block(3, tag="x")
    y, _ = block(3, tag="y")
    wal = MemoryWAL()
    st = PersistedState()

    def flush():
        act = st.take_persist()
        if act is not None:
            wal.apply(act.puts, act.deletes)

    assert st.sign_once(Prepare(0, 3, x, 1), sign, "unit-chain") is not None
    flush()
    st.prune_votes(2, 1)  # we left view 0 at height 3 (committed 2)
    flush()
    assert (0, 3) == (st.floor_view, st.floor_height) and FLOOR in wal.load()
    for state in (copy.deepcopy(st), PersistedState.load(wal.load())):  # memory, WAL
        assert state.sign_once(Prepare(0, 3, y, 1), sign, "unit-chain") is None
        assert state.sign_once(Prepare(0, 2, y, 1), sign, "unit-chain") is None
        assert state.sign_once(Prepare(1, 3, y, 1), sign, "unit-chain") is not None
        assert state.sign_once(Prepare(0, 4, y, 1), sign, "unit-chain") is not None
    st.prune_votes(4, 1)  # height 3 is final now: the floor goes, from the WAL too
    flush()
    assert st.floor_height == -1 and FLOOR not in wal.load()
