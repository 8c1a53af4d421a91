"""Seeded simulator runs of the real PBFT core.

Each seed is its own test id (tests/sim/test_sim.py::test_seed[17]); reproduce one with
`python -m tests.sim.run --seed 17 --trace`. The mutation tests at the end show the
simulator is strong enough to notice a broken core.
"""

from __future__ import annotations

import plyvel
import pytest

import chainnode.consensus.node as node_mod
import chainnode.consensus.views as views_mod
from chainnode.consensus.actions import Send
from chainnode.consensus.viewchange import NewViewPlan, plan_new_view
from chainnode.core.certificate import median_time
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

    for mod in (node_mod, views_mod):
        monkeypatch.setattr(mod, "plan_new_view", forgetful)
    monkeypatch.setattr(views_mod, "check_new_view_shape",
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


# -- issue 9: nobody drifts into a view of its own -------------------------------------------


def _steady(sim: Simulation, txs: int, every_ms: int = 150, tag: str = "tx") -> None:
    for k in range(txs):
        sim.at(sim.now + k * every_ms, lambda k=k: sim.submit(b"%s%d" % (tag.encode(), k)))


def _sent_view_changes(lines: list[str], node: str) -> int:
    return sum(1 for ln in lines if f"{node}" in ln and "send view-change" in ln)


def _freeze_at_work(sim: Simulation, node, after: int, pause: int) -> None:
    """Freeze `node` while its view timer runs (mid-round), for `pause` ms."""
    sim.run_until(after)
    sim.run_until(after + 5_000, stop=lambda: node.core._timer_armed)
    node.freeze()
    sim.at(sim.now + pause, node.thaw)


def _votes_in_next_heights(sim: Simulation, k: int) -> dict[int, int]:
    """Drive k more heights and count each honest validator's certificates among them."""
    honest = sim.honest()
    start = max(nd.head.height for nd in honest)
    _steady(sim, 3 * k, tag="after")
    sim.run_until(sim.now + 60_000,
                  stop=lambda: min(nd.head.height for nd in honest) >= start + k)
    assert min(nd.head.height for nd in honest) >= start + k
    return {nd.index: sum(1 for h in range(start + 1, start + k + 1)
                          if nd.index in sim.vote_signers(h, honest)) for nd in honest}


def test_a_node_frozen_past_the_view_timeout_votes_again_after_resuming() -> None:
    """SIGSTOP for 3 capped timeouts, resumed with its expired timer handled first: it
    changes view alone, then the network's certificates bring it back to the live view."""
    lines: list[str] = []
    sim = Simulation(4, 3, cfg=dict(base_timeout_ms=300, max_timeout_ms=1000),
                     trace=lines.append)
    sim.policy = LinkPolicy(min_delay=10, max_delay=10)
    _start(sim)
    _steady(sim, 40)
    _freeze_at_work(sim, sim.nodes[2], 1_000, 3_000)
    sim.run_until(8_000)
    assert _sent_view_changes(lines, "node2") >= 1  # the trigger really happened
    assert all(_sent_view_changes(lines, f"node{i}") == 0 for i in (0, 1, 3))
    votes = _votes_in_next_heights(sim, 5)
    assert votes == {0: 5, 1: 5, 2: 5, 3: 5}, votes
    assert len({nd.core.view for nd in sim.honest()}) == 1


def test_without_the_return_rule_the_frozen_node_stays_alone() -> None:
    """The same run with the return rule disabled: the resumed node never votes again
    (the failure of issue 9), so the test above shows the fix, not luck."""
    real = node_mod.ConsensusCore._should_return
    node_mod.ConsensusCore._should_return = lambda self, cert: False
    try:
        sim = Simulation(4, 3, cfg=dict(base_timeout_ms=300, max_timeout_ms=1000))
        sim.policy = LinkPolicy(min_delay=10, max_delay=10)
        _start(sim)
        _steady(sim, 40)
        _freeze_at_work(sim, sim.nodes[2], 1_000, 3_000)
        sim.run_until(8_000)
        votes = _votes_in_next_heights(sim, 5)
    finally:
        node_mod.ConsensusCore._should_return = real
    assert votes[2] == 0 and votes[0] == votes[1] == votes[3] == 5, votes


@pytest.mark.parametrize("naive", [False, True])
def test_slow_validation_racing_sync_never_changes_view(naive: bool) -> None:
    """Validator 3 validates slowly while the others commit: sync commits heights under its
    validations. Its shell answers "already committed" (naive: "invalid", as the old driver
    did); either way it never starts a view change, and votes again once fast."""
    lines: list[str] = []
    sim = Simulation(4, 5, cfg=dict(base_timeout_ms=2000, max_timeout_ms=4000),
                     trace=lines.append)
    sim.policy = LinkPolicy(min_delay=5, max_delay=30)
    _start(sim)
    slow = sim.nodes[3]
    slow.slow_validation = (300, 900)
    slow.naive_verdicts = naive
    slow.deaf_to_commits = True  # it cannot commit by quorum: it catches up by sync
    _steady(sim, 60, every_ms=100)
    sim.run_until(6_000)
    slow.deaf_to_commits = False
    raced = sum(1 for ln in lines if "node3" in ln and "already committed" in ln)
    synced = sum(1 for ln in lines if "node3" in ln and "synced to" in ln)
    assert synced >= 3 and (naive or raced >= 1)  # sync overtook its validations
    assert not naive or slow.stale_invalid >= 1  # ... and the naive shell said "invalid"
    slow.slow_validation = None
    _steady(sim, 5, tag="settle")  # its last slow validations and syncs finish
    sim.run_until(sim.now + 2_000)
    votes = _votes_in_next_heights(sim, 5)
    assert not any("send view-change" in ln for ln in lines), "a view change happened"
    assert votes == {0: 5, 1: 5, 2: 5, 3: 5}, votes


@pytest.mark.parametrize("offset", [3_600_000, -3_600_000])
def test_bft_time_a_leader_an_hour_off_cannot_move_chain_time(offset: int) -> None:
    """Validator 0 leads every height (no rotation, no faults) with its clock an hour off;
    the median COMMIT time of every certificate stays within the honest clocks."""
    sim = Simulation(4, 9, cfg=dict(base_timeout_ms=500, max_timeout_ms=2000))
    sim.policy = LinkPolicy(min_delay=5, max_delay=30)
    sim.nodes[0].clock_offset_ms = offset
    _start(sim)
    _steady(sim, 30, every_ms=200)
    sim.run_until(10_000)
    chain = sim.nodes[1].chain[1:]
    assert len(chain) >= 10
    leader_votes = 0
    for entry in chain:
        times = {i: t for i, t, _ in entry.cert.signatures}
        honest = [t for i, t in times.items() if i != 0]
        leader_votes += 0 in times
        assert min(honest) <= median_time(list(times.values())) <= max(honest)
        assert max(honest) - min(honest) < 200  # honest clocks agree to a few delays
    assert leader_votes >= len(chain) // 2  # the skewed clock was in the certificates



def test_twins_vote_with_extreme_clocks_and_medians_stay_honest() -> None:
    """Red team, BFT time: an equivocating twin pair votes with clocks at 0 and 2**63-1 (as
    scenarios.build sets up for every twin seed); its votes do get into certificates, and
    every certificate's median stays within the honest signers' clocks
    (Simulation.check_time, run on every certificate committed, synced or grown). The check
    itself fires once more than f signers lie."""
    from chainnode.core.certificate import MAX_TIME_MS, CommitCertificate, vote_payload

    sim = Simulation(4, 5, cfg=dict(base_timeout_ms=300, max_timeout_ms=2000), twins=(0,))
    sim.policy = LinkPolicy(max_delay=30, commit_loss=0.2)
    for nd in sim.nodes:
        if nd.index == 0:
            nd.clock_offset_ms = -(2**62) if nd.node_id == 0 else 2**63
    _start(sim)
    _steady(sim, 30, every_ms=150)
    sim.run_until(10_000)
    certs = [e.cert for nd in sim.honest() for e in nd.chain[1:]]
    assert len(certs) >= 20
    liar_times = {t for c in certs for i, t, _ in c.signatures if i == 0}
    assert liar_times == {0, MAX_TIME_MS}  # both instances voted: every lie was clamped
    bh = sim.nodes[1].chain[1].block_hash
    votes = tuple((i, t, sim.keys.signer(i)("commit", vote_payload("commit", sim.chain_id, 0,
                                                                    1, bh, t)))
                  for i, t in ((0, MAX_TIME_MS), (1, MAX_TIME_MS), (2, 5)))
    two_liars = CommitCertificate(sim.chain_id, 1, 0, bh, votes)
    sim.check_time(two_liars)  # validator 1 honest: 2**63-1 is an honest clock here
    sim.nodes[1].faulty = True  # now 2 > f faulty signers
    with pytest.raises(SafetyViolation, match="outside the honest clocks"):
        sim.check_time(two_liars)


REPLAY_SEEDS = [s for s in range(40) if not (lambda m: m["twins"] or m["dead"] or m["n"] < 4
                                             or m["other_faults"])(build(s)[1])][:12]


@pytest.mark.parametrize("seed", REPLAY_SEEDS)
def test_a_replaying_peer_with_stale_certificates(seed: int) -> None:
    """Red team: one validator (valid key, its own core otherwise correct) also re-broadcasts
    messages it heard earlier (old COMMITs, others' VIEW-CHANGEs and NEW-VIEWs) and signs
    VIEW-CHANGEs for views above its own that carry certificates of old heights, with its
    clock at 0 or 2**63-1. Safety, the median bound, recovery and "every correct validator
    votes in the next heights' certificates" all hold (replay more with `--replay`)."""
    res = run_seed(seed, replay=True)
    (replayed,) = [int(n.split("=")[1]) for n in res.notes if n.startswith("replayed=")]
    assert replayed > 50  # the faulty peer really flooded old messages
    assert res.recovery_ms <= recovery_bound_ms(build(seed)[1]["cfg"]["max_timeout_ms"])


def test_sim_notices_a_core_that_commits_a_body_its_shell_rejected(monkeypatch) -> None:
    """The replaying leader also pairs its proposal's hash with another body. The shell
    refuses a CommitBlock whose body is not the certified block (as the real driver and
    Chain.commit do) and counts it; a core that still offers a body its shell rejected (the
    red-team find) is asked for it far more often than the real one, which only does when a
    COMMIT quorum beats its own validation."""

    def count() -> int:
        total = 0
        for seed in range(40):
            res = run_seed(seed, replay=True)
            total += int(next((n.split("=")[1] for n in res.notes
                               if n.startswith("foreign=")), 0))
        return total

    real = count()

    def old_body(self, block_hash):
        body = self._valid.get(block_hash)
        return body if body is not None else self._bodies.get(block_hash)

    monkeypatch.setattr(node_mod.ConsensusCore, "_body", old_body)
    assert count() >= real + 3
