"""Seeded reconfiguration runs: governance adds and removes validators and changes view
timeouts under loss, partitions and crashes, some changes landing during a view change
(tests/sim/reconfig.py). Each seed is its own test id; replay one with
`python -m tests.sim.run --reconfig --seed N --trace`."""

from __future__ import annotations

import pytest

import chainnode.consensus.node as node_mod
from chainnode.consensus.epoch import EpochHistory

from .fakes import gov_tx
from .harness import LinkPolicy, SafetyViolation, ShellError, Simulation
from .reconfig import build_reconfig, run_reconfig_seed
from .scenarios import LivenessFailure

SEEDS = range(300)


@pytest.mark.parametrize("seed", SEEDS)
def test_reconfig_seed(seed: int) -> None:
    try:
        run_reconfig_seed(seed)
    except AssertionError as exc:
        raise AssertionError(f"reconfiguration seed {seed} failed; replay it with `python -m "
                             f"tests.sim.run --reconfig --seed {seed} --trace`: {exc}") from exc


def test_reconfig_seed_mix() -> None:
    """The CI seeds add, remove, change timeouts, crash the leader right as a change is
    submitted (so it commits through a view change), and run zombie removed validators."""
    metas = [build_reconfig(s)[1] for s in SEEDS]
    changes = [c for m in metas for c in m["changes"]]
    assert sum(c.startswith("gov:add") for c in changes) >= 300
    assert sum(c.startswith("gov:remove") for c in changes) >= 300
    assert sum(c.startswith("gov:timeout") for c in changes) >= 100
    assert sum(1 for m in metas for _, _, crash in m["_changes"] if crash) >= 300
    assert sum(1 for m in metas if m["zombies"]) >= 80
    assert {1, 4, 5, 7} <= {m["n"] for m in metas}


def _cluster(seed: int, n: int = 4, cands: int = 1) -> Simulation:
    sim = Simulation(n, seed, cfg=dict(base_timeout_ms=300, max_timeout_ms=2000),
                     candidates=cands)
    sim.policy = LinkPolicy(min_delay=5, max_delay=20)
    for nd in sim.nodes:
        nd.start()
    return sim


def _until(sim: Simulation, cond, limit_ms: int = 30_000) -> None:
    assert sim.run_until(sim.now + limit_ms, stop=cond), "condition not reached in time"


def _load(sim: Simulation, tag: str, k: int = 6) -> None:
    for i in range(k):
        sim.at(sim.now + 50 * i, lambda i=i: sim.submit(b"%s-%d" % (tag.encode(), i)))


def _signers(sim: Simulation, height: int) -> set[int]:
    return sim.vote_signers(height, [nd for nd in sim.nodes if nd.alive])


def test_four_to_five_to_four_switches_at_exactly_h_plus_1() -> None:
    """Add member 4 (a candidate following as an observer), then remove member 0: the
    certificates of each height are signed by exactly that height's set, the added
    validator signs from h+1 on, the removed one never after its removal, and a removed
    member's genuine signature put in a certificate is refused."""
    sim = _cluster(21)
    for nd in sim.nodes:
        nd.zombie = True  # the removed validator goes on voting with its old index
    sim.submit(gov_tx("add", 4, 0))
    _until(sim, lambda: len(sim.epochs) == 2)
    added = max(sim.epochs)
    _load(sim, "a")
    _until(sim, lambda: all(nd.head.height >= added + 3 for nd in sim.nodes))
    assert sim.epoch_at(added).validators == (0, 1, 2, 3, 4)
    assert all(4 not in _signers(sim, h) for h in range(1, added))
    assert any(4 in _signers(sim, h) for h in range(added, added + 4))
    sim.submit(gov_tx("remove", 0, 1))
    _until(sim, lambda: len(sim.epochs) == 3)
    removed = max(sim.epochs)
    _load(sim, "b")
    top = max(nd.head.height for nd in sim.nodes)
    _until(sim, lambda: all(nd.head.height >= top + 4 for nd in sim.nodes[1:]))
    assert sim.epoch_at(removed).validators == (1, 2, 3, 4)
    assert sim.removed == {0: removed}
    assert all(0 not in _signers(sim, h) for h in range(removed, top + 4))
    assert sim.refused_removed > 0 and sim.replayed > 0  # zombie votes were sent, never counted
    assert sim.nodes[0].head.height >= top + 4  # it follows as an observer
    assert sim.nodes[0].core.me is None and sim.nodes[4].core.me == 3


def test_change_committed_during_a_view_change() -> None:
    """The leader crashes as the change is submitted: the block deciding it commits in a
    later view, and the new set takes over at the next height all the same."""
    sim = _cluster(5)
    _load(sim, "warm", 3)
    _until(sim, lambda: all(nd.head.height >= 1 for nd in sim.nodes))
    leader = sim.nodes[sim.nodes[1].core.leader]
    sim.submit(gov_tx("add", 4, 0))
    leader.crash()
    _until(sim, lambda: len(sim.epochs) == 2)
    assert max(nd.core.view for nd in sim.nodes if nd.alive) >= 1
    sim.at(sim.now + 3000, leader.restart)
    _load(sim, "after")
    start = max(sim.epochs)
    _until(sim, lambda: all(nd.head.height >= start + 3 for nd in sim.nodes))
    assert any(4 in _signers(sim, h) for h in range(start, start + 4))


def test_timeout_change_reaches_every_core_at_h_plus_1() -> None:
    sim = _cluster(8, cands=0)
    sim.submit(gov_tx("timeout", 700, 5000, 0))
    _until(sim, lambda: len(sim.epochs) == 2)
    start = max(sim.epochs)
    _until(sim, lambda: all(nd.core.committed_height + 1 >= start for nd in sim.nodes))
    assert {(nd.core.cfg.base_timeout_ms, nd.core.cfg.max_timeout_ms)
            for nd in sim.nodes} == {(700, 5000)}


def _first_failure(seeds) -> int | None:
    for seed in seeds:
        try:
            run_reconfig_seed(seed)
        except (SafetyViolation, ShellError, LivenessFailure):
            return seed
    return None


def test_sim_catches_a_core_that_keeps_the_genesis_set(monkeypatch) -> None:
    """Mutation: a core that never switches (it answers every height with the genesis set)
    signs and counts under the wrong set: the simulator must notice."""
    monkeypatch.setattr(EpochHistory, "at", lambda self, height: self._epochs[0])
    assert _first_failure(range(40)) is not None


def test_sim_catches_a_switch_one_height_late(monkeypatch) -> None:
    """Mutation: the core enters the new set one height after it governs."""
    real = node_mod.ConsensusCore._enter_epoch

    def late(self):
        self.committed_height -= 1
        try:
            return real(self)
        finally:
            self.committed_height += 1

    monkeypatch.setattr(node_mod.ConsensusCore, "_enter_epoch", late)
    assert _first_failure(range(40)) is not None
