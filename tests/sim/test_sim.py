"""Seeded simulator runs of the real PBFT core.

Each seed is its own test id (tests/sim/test_sim.py::test_seed[17]); reproduce one with
`python -m tests.sim.run --seed 17 --trace`. The mutation tests at the end show the
simulator is strong enough to notice a broken core.
"""

from __future__ import annotations

import plyvel
import pytest

import chainnode.consensus.node as node_mod
from chainnode.consensus.actions import Send
from chainnode.consensus.viewchange import NewViewPlan, plan_new_view
from chainnode.store.wal import ConsensusWAL

from .harness import LinkPolicy, SafetyViolation, Simulation
from .scenarios import LivenessFailure, build, recovery_bound_ms, run_seed

SEEDS = range(300)


@pytest.mark.parametrize("seed", SEEDS)
def test_seed(seed: int) -> None:
    try:
        res = run_seed(seed)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed} failed; replay it with "
                             f"`python -m tests.sim.run --seed {seed} --trace`: {exc}") from exc
    assert res.recovery_ms <= recovery_bound_ms(build(seed)[1]["cfg"]["max_timeout_ms"])


def test_same_seed_same_run() -> None:
    lines_a: list[str] = []
    lines_b: list[str] = []
    a = run_seed(11, trace=lines_a.append)
    b = run_seed(11, trace=lines_b.append)
    assert a == b
    assert lines_a == lines_b and len(lines_a) > 100


def test_seed_mix_covers_the_faults() -> None:
    """The CI seeds include twins, permanent crashes, n=1 and n=7 clusters."""
    metas = [build(s)[1] for s in SEEDS]
    assert sum(1 for m in metas if m["twins"]) >= 20
    assert sum(1 for m in metas if m["dead"]) >= 20
    assert {1, 4, 7} <= {m["n"] for m in metas}
    assert sum(1 for m in metas if m["cfg"]["rotation_interval"]) >= 20


def _start(sim: Simulation) -> None:
    for nd in sim.nodes:
        nd.start()


def test_equivocating_twin_leader_cannot_split_honest_nodes() -> None:
    """Validator 0 leads view 0 and runs twice with one key: each twin proposes its own
    block at every height it leads, and votes for both."""
    sim = Simulation(4, 7, cfg=dict(base_timeout_ms=300, max_timeout_ms=2000), twins=(0,))
    sim.policy = LinkPolicy(max_delay=30)
    _start(sim)
    for k in range(30):
        sim.at(k * 200, lambda k=k: sim.submit(b"tx%d" % k))
    sim.run_until(30_000)
    honest = sim.honest()
    assert all(b"tx29" in nd.committed_txs for nd in honest)
    heights = {nd.head.height for nd in honest}
    top = max(heights)
    for h in range(1, top + 1):  # record_commit already raised on any conflict
        assert len({nd.chain[h].block_hash for nd in honest if nd.head.height >= h}) == 1
    # the twins really did equivocate: two different proposals for one (view, height)
    assert any(len(hashes) > 1 for (i, _, _), hashes in sim.proposals.items() if i == 0)


def test_restart_from_plyvel_wal(tmp_path) -> None:
    """A whole chaotic run with every node's WAL in a real LevelDB, torn crashes included."""
    dbs = []

    def factory(i: int) -> ConsensusWAL:
        db = plyvel.DB(str(tmp_path / f"node{i}"), create_if_missing=True)
        dbs.append(db)
        return ConsensusWAL(db)

    seed = next(s for s in SEEDS if build(s)[1]["n"] == 4 and not build(s)[1]["dead"])
    try:
        res = run_seed(seed, wal_factory=factory)
        assert res.heights and min(res.heights[:4]) > 0
        assert any(len(ConsensusWAL(db).load()) > 0 for db in dbs)
    finally:
        for db in dbs:
            db.close()


# -- the simulator notices broken cores ------------------------------------------------------


def _first_failure(seeds, errors=(SafetyViolation,)) -> int | None:
    for seed in seeds:
        try:
            run_seed(seed)
        except errors:
            return seed
    return None


def test_sim_catches_a_new_view_that_drops_the_prepared_block(monkeypatch) -> None:
    """Validators locked on the dropped block refuse the fresh proposal (so safety holds
    even then), and the run stalls: the simulator still notices."""
    def forgetful(vcs):
        p = plan_new_view(vcs)
        return NewViewPlan(p.base, p.base_cert, None)

    monkeypatch.setattr(node_mod, "plan_new_view", forgetful)
    monkeypatch.setattr(node_mod, "check_new_view_shape",
                        lambda nv, n, need: forgetful(nv.view_changes)
                        if need <= len(nv.view_changes) <= n else None)
    assert _first_failure(range(60), (SafetyViolation, LivenessFailure)) is not None


def test_sim_catches_send_before_persist(monkeypatch) -> None:
    def careless_send(self, msg, to=None):
        self._out.append(Send(msg, to))  # no flush first: a crash loses the vote

    monkeypatch.setattr(node_mod.ConsensusCore, "_send", careless_send)
    assert _first_failure(range(60)) is not None


def test_sim_catches_view_changes_that_are_never_resent(monkeypatch) -> None:
    """Without byte-identical VIEW-CHANGE resends, links that lost them never line views
    up again: the liveness bound after healing must then fail."""
    real = node_mod.ConsensusCore._on_timer

    def quiet(self, token):
        if (self.st.waiting_new_view and token == self._timer_token
                and self.vcs.support(self.view) < self.cfg.quorum):
            self._arm()  # wait again, but stay silent
            return
        real(self, token)

    monkeypatch.setattr(node_mod.ConsensusCore, "_on_timer", quiet)
    with pytest.raises(LivenessFailure):
        for seed in range(30):
            run_seed(seed)
