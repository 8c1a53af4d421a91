"""Red team of contracts/fl_receipts.py as a hostile aggregator, participant or operator
holding valid keys (issue 12).

Findings fixed here:
- a cumulative epsilon claim of zero or below was accepted whenever the RDP conversion at the
  claimed alpha is negative (large z, delta near 1, alpha where ln((a-1)/a) dominates): the
  chain recorded a negative privacy cost (e.g. eps_e6 = -1,386,293 for z = 1000, alpha = 2,
  delta = 1 - 1e-18). The bound a receipt is checked against is now max(0, bound).
- a per-round reward budget near the codec's 64-byte integer limit let the first receipt pass
  and made every later one fail (the task's paid_fen no longer encodes): the task is stuck.
  reward_fen is now at most 10**15 fen.
The rest are attacks that the contract already refuses; they stay as regression tests.
"""

from __future__ import annotations

import itertools
from decimal import Decimal, getcontext

import pytest
from fl_redteam_util import harness

C = "fl_receipts"
ADMIN, OPER, AGG = "admin", "oper1", "a" * 40
P1, P2, P3, OUT = "1" * 40, "2" * 40, "3" * 40, "9" * 40
H0, H1, H2 = "0" * 64, "1" * 64, "2" * 64
VAL = "f" * 64
DELTA = 10**13
M6 = 10**6


def make(**task):
    chain = harness().Chain()
    assert chain.deploy(C, sender=ADMIN).ok
    assert chain.call(C, "grant_role", ADMIN, account=OPER, role="operator").ok
    args = dict(task="t", model_hash=H0, participants=[P1, P2, P3], rounds=5,
                eps_max_e6=10**12, delta_e18=DELTA, reward_fen=90_000,
                validation_hash=VAL, aggregator=AGG)
    args.update(task)
    res = chain.call(C, "create_task", OPER, **args)
    return chain, res


def commit(chain, who, round_no=1):
    return chain.call(C, "commit_update", who, task="t", round_no=round_no,
                      update_hash=f"{round_no:064x}", samples=100)


def receipt(chain, round_no=1, prev=H0, new=H1, **kw):
    args = dict(task="t", round_no=round_no, prev_hash=prev, new_hash=new,
                participants=[P1, P2, P3], rule="fedavg", clip_e6=M6, noise_e6=5 * M6,
                sampling_e6=M6, delta_e18=DELTA, alpha_e6=3_270_000, eps_e6=10**9,
                metric="mape", metric_e6=81_000, contributions=[95, 185, 260])
    args.update(kw)
    return chain.call(C, "submit_receipt", AGG, **args)


def all_commit(chain, round_no=1):
    for p in (P1, P2, P3):
        assert commit(chain, p, round_no).ok


# ----------------------------------------------------------------- fixed findings


@pytest.mark.parametrize("noise_e6,delta_e18,alpha_e6", [
    (1000 * M6, 10**18 - 1, 2 * M6),      # bound -1.386293
    (1000 * M6, 10**18 - 1, M6 + 1),      # bound -14.8
    (100 * M6, 9 * 10**17, 20 * M6),      # a plausible large-z task
])
def test_negative_or_zero_epsilon_is_never_recorded(noise_e6, delta_e18, alpha_e6):
    chain, res = make(delta_e18=delta_e18)
    assert res.ok
    raw = chain.view(C, "eps_bound", noise_e6=noise_e6, rounds=1, delta_e18=delta_e18,
                     alpha_e6=alpha_e6)
    assert raw < 0  # the RDP conversion itself is below zero here
    all_commit(chain)
    dp = dict(noise_e6=noise_e6, delta_e18=delta_e18, alpha_e6=alpha_e6)
    for claim in (raw, -1, raw // 2):
        res = receipt(chain, eps_e6=claim, **dp)
        assert res.error_code == "EPS_BELOW_BOUND", (claim, res)
    res = receipt(chain, eps_e6=0, **dp)  # (0, delta)-DP is what the bound proves
    assert res.ok, res
    assert res.value["bound_e6"] == 0
    assert chain.view(C, "eps_spent", task="t")["eps_e6"] == 0


def test_reward_budget_that_would_stick_the_task_is_refused():
    for budget in (2**511 - 1, 2**256, 10**15 + 1):
        assert make(reward_fen=budget)[1].error_code == "BAD_INPUT", budget
    chain, res = make(reward_fen=10**15, rounds=3)
    assert res.ok
    for r, (prev, new) in enumerate([(H0, H1), (H1, H2), (H2, H0)], start=1):
        all_commit(chain, r)
        res = receipt(chain, round_no=r, prev=prev, new=new, eps_e6=10**9)
        assert res.ok, (r, res)
    assert chain.view(C, "get_task", task="t")["paid_fen"] == 3 * 10**15


# ----------------------------------------------------------------- refused already


def test_commitments_only_for_oneself_once_and_in_the_open_round():
    chain, _ = make()
    assert commit(chain, OUT).error_code == "NOT_PARTICIPANT"
    assert commit(chain, AGG).error_code == "NOT_PARTICIPANT"
    assert commit(chain, P1, round_no=2).error_code == "BAD_ROUND"
    assert commit(chain, P1, round_no=0).error_code == "BAD_INPUT"
    assert commit(chain, P1, round_no=True).error_code == "BAD_INPUT"
    assert commit(chain, P1).ok
    assert commit(chain, P1).error_code == "ALREADY_COMMITTED"
    bad = chain.call(C, "commit_update", P2, task="t", round_no=1, update_hash=H1,
                     samples=0)
    assert bad.error_code == "BAD_INPUT"
    assert commit(chain, P2).ok and commit(chain, P3).ok
    assert receipt(chain).ok
    assert commit(chain, P1, round_no=1).error_code == "ROUND_CLOSED"  # after its receipt


def test_receipts_name_only_committed_distinct_participants_and_chain_by_hash():
    chain, _ = make()
    assert commit(chain, P1).ok and commit(chain, P2).ok
    assert receipt(chain).error_code == "NOT_COMMITTED"  # P3 did not commit
    assert receipt(chain, participants=[P1, P1], contributions=[1, 1]).error_code \
        == "DUPLICATE_PARTICIPANT"
    assert receipt(chain, participants=[P1, OUT], contributions=[1, 1]).error_code \
        == "NOT_COMMITTED"
    assert receipt(chain, round_no=2).error_code == "BAD_ROUND"  # skip a round
    assert receipt(chain, prev=H2).error_code == "BAD_PREV_HASH"  # fork the chain
    assert chain.call(C, "submit_receipt", P1, task="t", round_no=1, prev_hash=H0,
                      new_hash=H1, participants=[P1], rule="r", clip_e6=1, noise_e6=M6,
                      sampling_e6=M6, delta_e18=DELTA, alpha_e6=2 * M6, eps_e6=10**9,
                      metric="m", metric_e6=0, contributions=[1]).error_code == "NOT_AGGREGATOR"
    assert receipt(chain, participants=[P1, P2], contributions=[1, 2]).ok
    assert receipt(chain, participants=[P1, P2], contributions=[1, 2]).error_code == "BAD_ROUND"
    # round 2 must start from round 1's new hash, not from the task's first model
    all_commit(chain, 2)
    assert receipt(chain, round_no=2, prev=H0, new=H2).error_code == "BAD_PREV_HASH"
    assert receipt(chain, round_no=2, prev=H1, new=H2).ok
    assert chain.view(C, "round_chain", task="t") == [
        [1, H0, H1, 10**9], [2, H1, H2, 10**9]]


@pytest.mark.parametrize("field,value,code", [
    ("eps_e6", 10.5, "VM_BAD_ARGS"), ("eps_e6", True, "EPS_BELOW_BOUND"),
    ("noise_e6", 5.0, "VM_BAD_ARGS"), ("contributions", [1, 2, 3.0], "VM_BAD_ARGS"),
])
def test_floats_and_bools_where_ints_are_expected_are_refused(field, value, code):
    chain, _ = make()
    all_commit(chain)
    assert receipt(chain, **{field: value}).error_code == code


@pytest.mark.parametrize("field,value", [
    ("noise_e6", 0),
    ("noise_e6", -5 * M6), ("noise_e6", 10**9 + 1), ("alpha_e6", M6), ("alpha_e6", 0),
    ("alpha_e6", 10**10 + 1), ("alpha_e6", 2**500), ("delta_e18", 0), ("delta_e18", 10**18),
    ("contributions", [10**18 + 1, 0, 0]), ("contributions", [True, 1, 1]),
    ("reward_fen", -1), ("clip_e6", 0), ("sampling_e6", M6 + 1), ("participants", "x"),
])
def test_malformed_receipt_fields_are_bad_input(field, value):
    chain, _ = make()
    all_commit(chain)
    res = receipt(chain, **{field: value})
    assert res.error_code == "BAD_INPUT", res


def test_rewards_never_above_the_budget_nor_negative_and_sum_exactly():
    chain, _ = make()
    all_commit(chain)
    assert receipt(chain, reward_fen=90_001).error_code == "REWARD_OVER_BUDGET"
    res = receipt(chain, contributions=[-10**18, 10**18, 10**18 - 1])
    assert res.ok, res
    paid = dict(res.value["rewards"])
    assert paid[P1] == 0 and sum(paid.values()) == 90_000
    assert paid[P2] - paid[P3] in (0, 1)
    all_commit(chain, 2)
    res = receipt(chain, round_no=2, prev=H1, new=H2, contributions=[0, -1, 0])
    assert res.ok and res.value["paid_fen"] == 0  # nothing is created from all-zero scores
    assert chain.view(C, "get_task", task="t")["paid_fen"] == 90_000
    assert sum(chain.view(C, "rewards", task="t").values()) == 90_000


def test_largest_remainder_never_leaks_or_creates_fen():
    chain, _ = make()
    ids = [f"{i:040x}" for i in range(7)]
    for budget, cs in itertools.product((0, 1, 6, 7, 99_999, 10**15),
                                        ([1] * 7, [1, 0, 0, 0, 0, 0, 1], [3, 1, 1, 1, 1, 1, 1],
                                         [10**18, 1, 1, 1, 1, 1, -1], [2, 2, 2, 2, 2, 2, 3])):
        shares = chain.view(C, "split_rewards", budget=budget, ids=ids, contributions=cs)
        assert sum(shares) == budget and min(shares) >= 0, (budget, cs, shares)
        assert all(s == 0 for s, c in zip(shares, cs, strict=True) if c <= 0)


def test_bound_is_never_below_the_true_epsilon_at_extreme_parameters():
    """Extreme z, alpha, delta and T (beyond the hypothesis ranges of the contract tests),
    against 100-digit decimals, through the contract's own view."""
    getcontext().prec = 100
    chain, _ = make()
    assert chain.call(C, "set_param", ADMIN, name="max_alpha_e6", value=10**12).ok
    worst = None
    for z, d, a, t in itertools.product((1, 999, 10**6, 10**9), (1, 10**13, 10**18 - 1),
                                        (M6 + 1, 2 * M6, 10**10, 10**12), (1, 10_000)):
        b = chain.view(C, "eps_bound", noise_e6=z, rounds=t, delta_e18=d, alpha_e6=a)
        al, de, zz = Decimal(a) / M6, Decimal(d) / 10**18, Decimal(z) / M6
        exact = (t * al / (2 * zz * zz) + ((al - 1) / al).ln()
                 - (de.ln() + al.ln()) / (al - 1)) * M6
        gap = Decimal(b) - exact
        assert gap >= 0, (z, d, a, t, b, exact)
        worst = gap if worst is None else min(worst, gap)
    assert worst < 1
