"""`chainnode fl verify`'s checks on chain data, without a node: a consistent task passes and
each kind of inconsistency is named once, precisely."""

from __future__ import annotations

import copy

import pytest

from chainnode.fl import privacy, rewards, verify

A, B = "a" * 40, "b" * 40
Z = 1_000_000
BUDGET = 1_000


def _task_and_rounds(n: int = 2):
    init = "00" * 32
    rounds, commits, earned = [], {}, {A: 0, B: 0}
    prev, rho = init, 0
    for r in range(1, n + 1):
        rho += privacy.rho_e30(Z)
        claim = privacy.chain_claim([Z] * r, 1e-5)
        contrib = [3 * r, 2]
        shares = rewards.split(BUDGET, contrib, [A, B])
        parts = [[A, f"{r:064x}", 100], [B, f"{r + 50:064x}", 200]]
        for who, uh, s in parts:
            commits[(r, who)] = {"update_hash": uh, "samples": s}
        new = f"{r + 100:064x}"
        rounds.append({"round": r, "prev_hash": prev, "new_hash": new, "participants": parts,
                       "noise_e6": Z, "delta_e18": 10**13, "alpha_e6": claim.alpha_e6,
                       "eps_e6": claim.eps_e6,
                       "bound_e6": privacy.bound_e6(rho, 10**13, claim.alpha_e6),
                       "contributions": contrib, "rewards": [[A, shares[0]], [B, shares[1]]],
                       "paid_fen": BUDGET})
        earned[A] += shares[0]
        earned[B] += shares[1]
        prev = new
    task = {"task": "t", "participants": [A, B], "init_model_hash": init, "delta_e18": 10**13,
            "eps_max_e6": 10**9, "reward_fen": BUDGET, "rounds_done": n, "last_hash": prev,
            "paid_fen": n * BUDGET, "eps_e6": rounds[-1]["eps_e6"], "rho_sum": rho}
    return task, rounds, commits, earned


def _check(task, rounds, commits, earned):
    return verify.check(task, rounds, lambda r, w: commits.get((r, w)), earned).problems


def test_a_consistent_task_passes():
    assert _check(*_task_and_rounds()) == []


@pytest.mark.parametrize("tamper,expect", [
    (lambda t, rs, c, e: rs[1].update(prev_hash="ff" * 32), "round 2: prev_hash"),
    (lambda t, rs, c, e: c[(1, B)].update(samples=999), "round 1: " + B + "'s receipt entry"),
    (lambda t, rs, c, e: c.pop((2, A)), "round 2: " + A + " has no commitment"),
    (lambda t, rs, c, e: rs[0]["participants"].append(["c" * 40, "11" * 32, 1]),
     "is not a participant"),
    (lambda t, rs, c, e: rs[1].update(eps_e6=rs[1]["bound_e6"] - 1), "is below the bound"),
    (lambda t, rs, c, e: t.update(eps_max_e6=1), "exceeds the budget"),
    (lambda t, rs, c, e: rs[0].update(rewards=[[A, 1_000], [B, 0]]), "round 1: rewards pay"),
    (lambda t, rs, c, e: e.update({A: e[A] + 1}), "is credited"),
])
def test_each_inconsistency_is_named(tamper, expect):
    task, rounds, commits, earned = copy.deepcopy(_task_and_rounds())
    tamper(task, rounds, commits, earned)
    problems = _check(task, rounds, commits, earned)
    assert any(expect in p for p in problems), problems
