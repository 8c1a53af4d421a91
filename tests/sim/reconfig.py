"""Reconfiguration runs: governance transactions add and remove validators and change the
view timeouts while links drop, partition and nodes crash.

The changes travel the real path as far as the simulator has one: a governance transaction is
a transaction in a block; every node derives the set of h+1 from its own committed chain
(tests/sim/fakes.apply_governance, with sys.governance's rails) and its shell sends the core
`NewEpoch` before the commit answer that reaches it. Candidates are extra keyed nodes that
follow as observers until a decision adds them; a removed validator follows on as an
observer, and on some seeds it turns "zombie" and goes on signing votes with its old index.

Invariants, besides the usual ones (agreement, single vote, BFT time, the marker after
healing, every correct validator of the set of each height voting on steady links): every
certificate verifies against the set of ITS height, and a removed member's genuine signature
put in a current member's place makes it fail (`Simulation.check_cert`).
"""

from __future__ import annotations

import random

from .fakes import gov_tx
from .harness import RunResult, Simulation
from .scenarios import crash, heal_and_check, schedule_chaos

RECONFIG_CHAOS_MS = 6_000


def build_reconfig(seed: int, *, trace=None) -> tuple[Simulation, dict]:
    rng = random.Random(seed * 104_729 + 3)
    n = rng.choice([4, 4, 4, 5, 5, 7, 1])
    cfg = dict(base_timeout_ms=rng.choice([200, 300, 500]),
               max_timeout_ms=rng.choice([1000, 2000]),
               rotation_interval=rng.choice([0, 0, 1, 3]), empty_blocks=False)
    cands = rng.choice([1, 1, 2])
    sim = Simulation(n, seed, cfg=cfg, candidates=cands, trace=trace)
    keys = list(range(n + cands))
    changes = []
    for k in range(rng.randint(2, 6)):
        kind = rng.choice(["add", "add", "remove", "remove", "timeout"])
        if kind == "timeout":
            base = rng.choice([150, 200, 400])
            tx = gov_tx("timeout", base, rng.choice([base, 1000, 2000]), k)
        else:
            tx = gov_tx(kind, rng.choice(keys), k)
        changes.append((rng.randint(0, RECONFIG_CHAOS_MS - 1000), tx,
                        rng.random() < 0.4))  # also crash the leader: a change mid view change
    zombie = rng.random() < 0.4
    if zombie:
        for nd in sim.nodes:
            nd.zombie = True  # every removed validator keeps voting with its old index
    meta = dict(n=n, cfg=cfg, twins=(), dead=[], other_faults={}, candidates=cands,
                changes=[c[1].decode() for c in changes], zombies=zombie)
    return sim, dict(meta, _changes=changes)


def run_reconfig_seed(seed: int, *, trace=None) -> RunResult:
    sim, meta = build_reconfig(seed, trace=trace)
    rng = random.Random(seed ^ 0xBEEF)
    for nd in sim.nodes:
        nd.start()
    schedule_chaos(sim, meta, rng, chaos_ms=RECONFIG_CHAOS_MS)
    for t, tx, crash_leader in meta.pop("_changes"):
        sim.at(t, lambda tx=tx: sim.submit(tx))
        if crash_leader:
            down = rng.randint(200, 3000)
            sim.at(t + rng.randint(0, 300), lambda down=down: crash(
                sim, None, rng.random() < 0.7, down, chaos_ms=RECONFIG_CHAOS_MS))
    sim.run_until(RECONFIG_CHAOS_MS)
    res = heal_and_check(sim, meta, seed)
    sets = [f"{s}:{e.validators}" for s, e in sorted(sim.epochs.items())]
    res.notes += [f"sets={' '.join(sets)}", f"refused_removed={sim.refused_removed}"]
    return res
