"""Random fault schedules derived from a seed, and the invariants checked on each run.

One seed fixes everything: cluster size and config, which validators are faulty for good
(a crashed node or an equivocating twin, whose two instances also vote with clocks
at 0 and 2**63-1: at most f), and a chaos phase of message loss,
duplication, reordering delays, partitions and crash/restarts of honest nodes (some torn
part-way through an action list). Then the network heals, crashed honest nodes restart from
their WAL, and a marker transaction must be committed by every honest node within a bound
derived from the timeouts. Safety (no two commits differ at a height, every certificate
verifies) is checked at every commit, all through the run.

On some seeds an honest validator also validates slowly for a while (so sync commits heights
under its validations, answered "already committed" or, by a naive shell, "invalid"), or is
frozen for longer than a capped view timeout and resumed with its expired timer first (the two
triggers of issue 9). After the marker, on steady links, every correct validator's COMMIT must
be in the certificates of each of the next VOTE_HEIGHTS heights: nobody sits in a view of its
own.
"""

from __future__ import annotations

import random

from .harness import LinkPolicy, RunResult, Simulation

CHAOS_MS = 20_000
VOTE_HEIGHTS = 5  # after healing, correct validators vote in this many certificates in a row


def recovery_bound_ms(max_timeout_ms: int) -> int:
    """How long after healing commits must resume: a few capped timeouts to line views up
    plus one to replace a faulty leader, and slack for sync and delays."""
    return 8 * max_timeout_ms + 10_000


class LivenessFailure(AssertionError):
    pass


def build(seed: int, *, trace=None, wal_factory=None) -> tuple[Simulation, dict]:
    rng = random.Random(seed)
    n = rng.choice([4] * 10 + [1, 1, 5, 7, 7])
    f = (n - 1) // 3
    cfg = dict(base_timeout_ms=rng.choice([200, 500, 1000]),
               max_timeout_ms=rng.choice([2000, 4000, 8000]),
               rotation_interval=rng.choice([0, 0, 0, 1, 3]),
               empty_blocks=rng.random() < 0.1)
    faults = {i: rng.choice(["twin", "twin", "dead", "dead", "withhold", "invalid"])
              for i in rng.sample(range(n), rng.randint(0, f))}
    twins = tuple(i for i, k in faults.items() if k == "twin")
    kwargs = dict(cfg=cfg, twins=twins, observers=int(rng.random() < 0.2), trace=trace)
    if wal_factory is not None:
        kwargs["wal_factory"] = wal_factory
    sim = Simulation(n, seed, **kwargs)
    for i, kind in faults.items():
        nd = sim.nodes[i]
        nd.faulty = True
        nd.withhold = kind == "withhold"  # never answers BuildProposal
        nd.propose_invalid = kind == "invalid"  # proposes blocks its peers reject
    for nd in sim.nodes:
        if nd.index in twins:  # a twin pair also lies about time: one at 0, one at 2**63-1
            nd.clock_offset_ms = -(2**62) if nd.node_id < n else 2**63
    dead = [i for i, k in faults.items() if k == "dead"]
    meta = dict(n=n, cfg=cfg, twins=twins, dead=dead,
                other_faults={i: k for i, k in faults.items() if k not in ("twin", "dead")})
    return sim, meta


def schedule_chaos(sim: Simulation, meta: dict, rng: random.Random,
                   chaos_ms: int = CHAOS_MS) -> None:
    n = meta["n"]
    t = 0
    while t < chaos_ms:  # client load
        sim.at(t, lambda t=t: sim.submit(b"tx-%d" % t))
        t += rng.randint(100, 900)
    t = 0
    while t < chaos_ms:  # link weather
        pol = LinkPolicy(loss=rng.choice([0.0, 0.0, 0.05, 0.2, 0.4]),
                         dup=rng.choice([0.0, 0.05, 0.2]), min_delay=1,
                         max_delay=rng.choice([5, 30, 100, 400]),
                         commit_loss=rng.choice([0.0, 0.0, 0.3, 0.7]),
                         isolate_on_commit=rng.choice([0.0, 0.0, 0.2, 0.5]))
        sim.at(t, lambda p=pol: setattr(sim, "policy", p))
        t += rng.randint(1000, 5000)
    if n > 1:
        for _ in range(rng.randint(0, 3)):  # partitions
            start = rng.randint(0, chaos_ms - 1000)
            ids = [nd.node_id for nd in sim.nodes]
            rng.shuffle(ids)
            cut = rng.randint(1, len(ids) - 1)
            groups = [set(ids[:cut]), set(ids[cut:])]
            sim.at(start, lambda g=groups: setattr(sim, "groups", g))
            sim.at(min(start + rng.randint(500, 8000), chaos_ms),
                   lambda: setattr(sim, "groups", None))
    honest = [nd for nd in sim.nodes if not nd.faulty and nd.index is not None]
    for _ in range(rng.randint(0, 6)):  # crash and restart honest nodes, often the leader
        start = rng.randint(0, chaos_ms - 500)
        torn = rng.random() < 0.7
        down = rng.randint(200, 6000)
        pick = rng.choice(honest) if rng.random() < 0.5 else None
        sim.at(start, lambda nd=pick, torn=torn, down=down: crash(sim, nd, torn, down,
                                                                  chaos_ms=chaos_ms))
    for i in meta["dead"]:
        sim.at(rng.randint(0, chaos_ms), lambda nd=sim.nodes[i]: nd.crash())
    schedule_stalls(sim, meta, random.Random(sim.seed * 7919 + 17), chaos_ms)


def schedule_stalls(sim: Simulation, meta: dict, rng: random.Random,
                    chaos_ms: int = CHAOS_MS) -> None:
    """Issue 9's triggers, on their own random stream (the rest of a seed's chaos is as it
    was): slow validation racing sync, and a pause longer than the capped view timeout."""
    honest = [nd for nd in sim.nodes if not nd.faulty and nd.index is not None]
    if meta["n"] == 1 or not honest:
        return
    cap = meta["cfg"]["max_timeout_ms"]
    if rng.random() < 0.35:
        nd = rng.choice(honest)
        start = rng.randint(0, chaos_ms - 2000)
        slow = (rng.randint(50, 300), rng.randint(400, 3000))
        nd.naive_verdicts = rng.random() < 0.5
        sim.at(start, lambda nd=nd, slow=slow: setattr(nd, "slow_validation", slow))
        sim.at(min(start + rng.randint(2000, 10_000), chaos_ms),
               lambda nd=nd: setattr(nd, "slow_validation", None))
    if rng.random() < 0.35:
        nd = rng.choice(honest)
        start = rng.randint(0, chaos_ms - 2000)
        sim.at(start, nd.freeze)
        sim.at(min(start + cap + rng.randint(500, 2 * cap), chaos_ms), nd.thaw)


def check_everyone_votes(sim: Simulation, meta: dict, seed: int) -> None:
    """On steady links (every message takes the same time), drive VOTE_HEIGHTS more heights
    with one transaction each; every correct validator's COMMIT must be in a certificate of
    each. A validator alone in a view of its own would vote in none."""
    sim.policy = LinkPolicy(loss=0.0, dup=0.0, min_delay=10, max_delay=10)
    honest = sim.honest()
    bound = sim.now + (VOTE_HEIGHTS + 2) * recovery_bound_ms(meta["cfg"]["max_timeout_ms"])

    def settled() -> bool:
        """Everyone at one head, and every core told about it (no sync answer pending)."""
        top = max(nd.head.height for nd in honest)
        return all(nd.head.height == top and nd.core.committed_height == top for nd in honest)

    k = 0
    start = None
    while start is None or min(nd.head.height for nd in honest) < start + VOTE_HEIGHTS:
        if start is None and settled():
            start = max(nd.head.height for nd in honest)
            continue
        tx = b"steady-%d-%d" % (seed, k)
        k += 1
        sim.submit(tx)
        if not sim.run_until(bound, stop=lambda tx=tx: sim.has_committed(tx, honest)):
            raise LivenessFailure(f"seed {seed}: steady phase stalled at heights "
                                  f"{[nd.head.height for nd in honest]}")
        if start is None:
            sim.run_until(sim.now + 300, stop=settled)  # let pending sync answers land
    for h in range(start + 1, start + VOTE_HEIGHTS + 1):
        # correct validators OF THAT HEIGHT's set (member ids; the index in a static set)
        want = {nd.key_id for nd in honest if nd.key_id in sim.epoch_at(h).validators}
        missing = want - sim.vote_signers(h, honest)
        if missing:
            views = {nd.index: (nd.core.view, nd.core.in_view_change) for nd in honest}
            raise LivenessFailure(f"seed {seed}: validators {sorted(missing)} have no vote in "
                                  f"any certificate of height {h} after healing "
                                  f"(views: {views}; {meta})")


def crash(sim: Simulation, node, torn: bool, down: int, chaos_ms: int = CHAOS_MS) -> None:
    """Crash `node`, or the node the live honest majority sees as leader (None)."""
    if node is None:
        alive = [nd for nd in sim.honest() if nd.alive]
        if not alive:
            return
        leader = alive[0].core.leader
        cands = [nd for nd in alive if nd.index == leader]
        if not cands:
            return
        node = cands[0]
    node.crash(torn)
    if sim.now + down < chaos_ms:
        sim.at(sim.now + down, node.restart)


def add_replayer(sim: Simulation, meta: dict) -> None:
    """Make one validator a replaying, stale-certificate-forging peer (scenario variant,
    not in the CI seeds' mix): only where the seed has no faulty validator yet, n >= 4."""
    if meta["n"] < 4 or meta["twins"] or meta["dead"] or meta["other_faults"]:
        return
    nd = sim.nodes[random.Random(sim.seed * 31 + 7).randrange(meta["n"])]
    nd.faulty = nd.replayer = True
    nd.clock_offset_ms = 2**63 if sim.seed % 2 else -(2**62)  # and it lies about time
    meta["other_faults"] = {nd.index: "replay"}


def run_seed(seed: int, *, trace=None, wal_factory=None, replay: bool = False) -> RunResult:
    """Run one seeded scenario; raises SafetyViolation / LivenessFailure / ShellError.

    `trace`, if given, is called with one line per send, commit, crash and sync. `replay`:
    the scenario variant with a replaying faulty validator (`add_replayer`).
    """
    sim, meta = build(seed, trace=trace, wal_factory=wal_factory)
    if replay:
        add_replayer(sim, meta)
    rng = random.Random(seed ^ 0xC0FFEE)
    for nd in sim.nodes:
        nd.start()
    schedule_chaos(sim, meta, rng)
    sim.run_until(CHAOS_MS)
    return heal_and_check(sim, meta, seed)


def heal_and_check(sim: Simulation, meta: dict, seed: int) -> RunResult:
    """After the chaos: heal, restart honest nodes, then the marker must commit everywhere
    within the bound, and every correct validator must vote in the next heights."""
    # heal: reliable (still reordering, duplicating) links, no partition, honest nodes back
    sim.policy = LinkPolicy(loss=0.0, dup=0.05, min_delay=1, max_delay=50)
    sim.groups = None
    for nd in sim.nodes:
        nd.thaw()
        nd.slow_validation = None
    for nd in sim.nodes:
        if nd.key_id is None or nd.key_id not in meta["dead"]:
            nd.restart()
    marker = b"marker-%d" % seed
    healed = sim.now
    sim.at(healed + 1, lambda: sim.submit(marker))
    live = [nd for nd in sim.honest()]
    bound = recovery_bound_ms(meta["cfg"]["max_timeout_ms"])
    done = sim.run_until(healed + bound, stop=lambda: sim.has_committed(marker, live))
    if not done:
        state = ", ".join(f"{nd}: h={nd.head.height} " + (
            f"v={nd.core.view}{'*' if nd.core.in_view_change else ''}" if nd.alive else "down")
            for nd in live)
        raise LivenessFailure(f"seed {seed}: marker not committed {bound} ms after healing "
                              f"({meta}); {state}")
    check_everyone_votes(sim, meta, seed)
    views = max(nd.core.view for nd in sim.nodes if nd.alive)
    restarts = sum(nd.restarts for nd in sim.nodes)
    return RunResult(seed, meta["n"], [nd.head.height for nd in sim.nodes], sim.now - healed,
                     sim.messages_sent,
                     [f"view={views}", f"restarts={restarts}", f"syncs={sim.syncs}",
                      f"twins={meta['twins']}", f"dead={meta['dead']}",
                      f"other={meta['other_faults']}"]
                     + ([f"replayed={sim.replayed}"] if sim.replayed else [])
                     + ([f"foreign={sim.foreign_bodies}"] if sim.foreign_bodies else []))
