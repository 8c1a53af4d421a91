"""Red team: a faulty leader whose NEW-VIEW omits a validator's lock (n=4; validator 1 is
faulty and leads view 1; we are validator 2, leader of view 2).

We prepared block A at height 1 in view 0. The faulty leader builds a valid NEW-VIEW(1) from
three VIEW-CHANGEs that show no prepared block (it may pick any 2f+1) and proposes block B.
The lock must hold: no PREPARE for B. In view 2 our own VIEW-CHANGE carries the prepared
certificate, and as leader we re-propose A.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))

from cons_util import Driver, block, sent  # noqa: E402

from chainnode.consensus import (  # noqa: E402
    BlockValidated,
    NewView,
    Prepare,
    Start,
    TimerFired,
    TransactionsPending,
    ViewChange,
)

BYZ = 1


def test_a_new_view_that_omits_our_lock_gets_no_prepare_and_the_next_view_reproposes():
    d = Driver(n=4, me=2)
    d.feed(Start())
    d.feed(TransactionsPending(True))
    a, body_a = block(1, tag="A")
    d.recv(d.pre_prepare(0, 1, body_a))
    d.feed(BlockValidated(1, 0, a, True))
    d.recv(d.prepare(0, 1, a, 0))
    d.recv(d.prepare(0, 1, a, BYZ))
    assert d.core.st.prepared is not None and d.core.st.prepared.block_hash == a
    acts = d.feed(TimerFired(d.core._timer_token))
    (own_vc1,) = sent(acts, ViewChange)
    assert own_vc1.view == 1 and own_vc1.prepared.block_hash == a
    # the faulty leader of view 1 leaves our VIEW-CHANGE out
    vcs = [d.view_change(1, i) for i in (0, BYZ, 3)]
    b, body_b = block(1, tag="B")
    pp_b = d.pre_prepare(1, 1, body_b, sender=BYZ)
    acts = d.recv(d.new_view(1, vcs, None, BYZ))
    assert d.core.view == 1 and not d.core.in_view_change
    acts += d.recv(pp_b)
    acts += d.feed(BlockValidated(1, 1, b, True))  # B itself is a fine block
    assert not [p for p in sent(acts, Prepare) if p.block_hash == b]
    # nothing comes of view 1: on to view 2, where we lead; the lock goes along
    acts = d.feed(TimerFired(d.core._timer_token))
    (own_vc2,) = sent(acts, ViewChange)
    assert own_vc2.view == 2 and own_vc2.prepared.block_hash == a
    acts = []
    for i in (0, 3):
        acts += d.recv(d.view_change(2, i))
    (nv,) = sent(acts, NewView)
    assert nv.pre_prepare is not None and nv.pre_prepare.block_hash == a
