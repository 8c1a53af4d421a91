"""Issue 10: a validator that is behind in VIEW (voted in after the network changed view, or
restarted after a view change it missed) adopts the live view and signs again, instead of
following by sync forever (docs/consensus.md, "Returning to the live view")."""

from __future__ import annotations

from .fakes import gov_tx
from .harness import Simulation
from .test_sim_reconfig import _cluster, _load, _signers, _until


def _view_change(sim: Simulation, live) -> None:
    """Crash the leader until the live nodes have committed in view >= 1, then restart it."""
    leader = sim.nodes[live[0].core.leader]
    leader.crash()
    _load(sim, "vc", 3)
    _until(sim, lambda: all(nd.core.view >= 1 and nd.head.cert is not None
                            and nd.head.cert.view >= 1 for nd in live if nd.alive))
    leader.restart()


def test_a_validator_voted_in_after_a_view_change_signs_from_h_plus_1() -> None:
    sim = _cluster(31, cands=1)
    cand = sim.nodes[4]
    cand.crash()  # it starts (as an observer) only after the view change
    _load(sim, "warm", 3)
    _until(sim, lambda: all(nd.head.height >= 2 for nd in sim.nodes[:4]))
    _view_change(sim, sim.nodes[:4])
    cand.restart()
    assert cand.core.view == 0
    live_view = max(nd.core.view for nd in sim.nodes[:4])
    assert live_view >= 1
    sim.submit(gov_tx("add", 4, 0))
    _until(sim, lambda: len(sim.epochs) == 2)
    added = max(sim.epochs)
    _load(sim, "after")
    _until(sim, lambda: all(nd.head.height >= added + 4 for nd in sim.nodes))
    assert cand.core.me is not None and cand.core.view >= live_view
    assert any(4 in _signers(sim, h) for h in range(added, added + 5))


def test_a_validator_restarted_after_a_view_change_it_missed_signs_again() -> None:
    sim = _cluster(32, n=7, cands=0)
    _load(sim, "warm", 3)
    _until(sim, lambda: all(nd.head.height >= 2 for nd in sim.nodes))
    away = sim.nodes[6]
    away.crash()  # its WAL stays at view 0
    _view_change(sim, sim.nodes[:6])
    _load(sim, "more")
    top = max(nd.head.height for nd in sim.nodes)
    _until(sim, lambda: all(nd.head.height >= top + 2 for nd in sim.nodes[:6]))
    away.restart()
    assert away.core.view == 0
    _load(sim, "back")
    start = max(nd.head.height for nd in sim.nodes)
    _until(sim, lambda: all(nd.head.height >= start + 4 for nd in sim.nodes))
    assert away.core.view >= 1
    assert any(6 in _signers(sim, h) for h in range(start + 1, start + 5))
