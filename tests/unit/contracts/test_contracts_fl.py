"""FL receipts contract: power-domain vectors, the round chain, every refusal code, and
properties of the fixed-point epsilon check and the largest-remainder split."""

import math
from decimal import ROUND_CEILING, Decimal, getcontext

import pytest
from contracts_harness import Chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

C = "fl_receipts"
ADMIN, OPER, AGG = "admin", "oper1", "a" * 40
P1, P2, P3, OUT = "1" * 40, "2" * 40, "3" * 40, "9" * 40
H0, H1, H2, H3 = "0" * 64, "1" * 64, "2" * 64, "3" * 64
VAL = "f" * 64
DELTA = 10**13  # 1e-5 in 1e-18


def h(i):
    return f"{i:064x}"


def make_chain():
    chain = Chain()
    assert chain.deploy(C, sender=ADMIN).ok
    assert chain.call(C, "grant_role", ADMIN, account=OPER, role="operator").ok
    return chain


def create(chain, task="t1", **kw):
    args = dict(task=task, model_hash=H0, participants=[P1, P2, P3], rounds=3,
                eps_max_e6=20_000_000, delta_e18=DELTA, reward_fen=90_000,
                validation_hash=VAL, aggregator=AGG)
    args.update(kw)
    return chain.call(C, "create_task", OPER, **args)


def commit(chain, who, round_no=1, task="t1", samples=100):
    return chain.call(C, "commit_update", who, task=task, round_no=round_no,
                      update_hash=h(1000 + round_no), samples=samples)


def receipt(chain, round_no=1, prev=H0, new=H1, task="t1", sender=AGG, **kw):
    args = dict(task=task, round_no=round_no, prev_hash=prev, new_hash=new,
                participants=[P1, P2, P3], rule="fedavg", clip_e6=1_000_000,
                noise_e6=5_000_000, sampling_e6=1_000_000, delta_e18=DELTA,
                alpha_e6=3_270_000, eps_e6=5_000_000, metric="mape", metric_e6=81_000,
                contributions=[95, 185, 260])
    args.update(kw)
    return chain.call(C, "submit_receipt", sender, **args)


@pytest.fixture
def chain():
    c = make_chain()
    assert create(c).ok
    return c


def committed(chain, round_no=1, who=(P1, P2, P3)):
    for p in who:
        r = commit(chain, p, round_no)
        assert r.ok, r
    return chain


# ----------------------------------------------------------------- vectors


@pytest.mark.parametrize("z_e6,alpha_e6,shown", [
    (5_000_000, 3_270_000, "10.72"), (1_100_000, 1_520_000, "83.07"),
    (5_000_000, 2_000_000, "14.13")])
def test_eps_vectors(z_e6, alpha_e6, shown):
    chain = make_chain()
    b = chain.view(C, "eps_bound", noise_e6=z_e6, rounds=100, delta_e18=DELTA, alpha_e6=alpha_e6)
    assert f"{b / 1e6:.2f}" == shown
    assert b == {5_000_000: {3_270_000: 10_724_830, 2_000_000: 14_126_632},
                 1_100_000: {1_520_000: 83_072_310}}[z_e6][alpha_e6]


def test_reward_vector_ties_to_lowest_id():
    chain = make_chain()
    # 15.8333 / 30.8333 / 43.3333 = 95/6, 185/6, 260/6; 900.00 yuan
    assert chain.view(C, "split_rewards", budget=90_000, ids=[P1, P2, P3],
                      contributions=[95, 185, 260]) == [15_834, 30_833, 43_333]
    assert chain.view(C, "split_rewards", budget=90_000, ids=[P3, P2, P1],
                      contributions=[95, 185, 260]) == [15_833, 30_833, 43_334]


def test_fedavg_vector():
    chain = make_chain()
    assert chain.view(C, "fedavg", samples=[100, 300, 600],
                      values=[1_000_000, 2_000_000, 3_000_000]) == 2_500_000


# ----------------------------------------------------------------- flow


def test_three_rounds_chain_eps_and_rewards(chain):
    hashes = [H0, H1, H2, H3]
    for r in (1, 2, 3):
        committed(chain, r)
        eps = chain.view(C, "eps_bound", noise_e6=5_000_000, rounds=r, delta_e18=DELTA,
                         alpha_e6=3_270_000)
        res = receipt(chain, r, hashes[r - 1], hashes[r], eps_e6=eps)
        assert res.ok, res
        assert res.value["bound_e6"] == eps and res.value["paid_fen"] == 90_000
        assert res.find("receipt", round=r, new_hash=hashes[r])
        assert [f["fen"] for f in res.find("reward")] == [15_834, 30_833, 43_333]
    assert chain.view(C, "round_chain", task="t1") == [
        [r, hashes[r - 1], hashes[r], chain.view(C, "get_round", task="t1", round_no=r)["eps_e6"]]
        for r in (1, 2, 3)]
    spent = chain.view(C, "eps_spent", task="t1")
    assert spent["rounds_done"] == 3
    assert spent["eps_e6"] == chain.view(C, "eps_bound", noise_e6=5_000_000, rounds=3,
                                         delta_e18=DELTA, alpha_e6=3_270_000)
    assert chain.view(C, "eps_bound_rho", rho_sum=spent["rho_sum"], delta_e18=DELTA,
                      alpha_e6=3_270_000) == spent["eps_e6"]
    assert chain.view(C, "rewards", task="t1") == {P1: 3 * 15_834, P2: 3 * 30_833,
                                                   P3: 3 * 43_333}
    assert chain.view(C, "reward_of", task="t1", participant=P2) == 3 * 30_833
    rc = chain.view(C, "get_round", task="t1", round_no=2)
    assert rc["participants"] == [[P1, h(1002), 100], [P2, h(1002), 100], [P3, h(1002), 100]]
    assert rc["rewards"] == [[P1, 15_834], [P2, 30_833], [P3, 43_333]]
    assert chain.view(C, "get_task", task="t1")["paid_fen"] == 3 * 90_000
    # the task is complete
    assert commit(chain, P1, 4).error_code == "TASK_COMPLETE"
    assert receipt(chain, 4, H3, h(4)).error_code == "TASK_COMPLETE"


def test_changing_noise_composes_by_rho(chain):
    committed(chain, 1)
    assert receipt(chain, 1, eps_e6=5_000_000).ok
    committed(chain, 2)
    # round 2 at z = 1.10: the bound adds alpha/(2 z^2) for this round only
    rho1 = chain.view(C, "eps_spent", task="t1")["rho_sum"]
    rho2 = -(-(10**30 * 10**12) // (2 * 1_100_000**2))  # ceil(Q / (2 z^2)) at z = 1.10
    want = chain.view(C, "eps_bound_rho", rho_sum=rho1 + rho2, delta_e18=DELTA,
                      alpha_e6=3_270_000)
    assert rho1 == -(-(10**30 * 10**12) // (2 * 5_000_000**2))
    assert receipt(chain, 2, H1, H2, noise_e6=1_100_000, eps_e6=want - 1).error_code == \
        "EPS_BELOW_BOUND"
    assert receipt(chain, 2, H1, H2, noise_e6=1_100_000, eps_e6=want).ok


def test_subset_of_participants_and_no_positive_contribution(chain):
    committed(chain, 1, who=(P1, P3))
    res = receipt(chain, participants=[P3, P1], contributions=[-5, 0])
    assert res.ok and res.value["paid_fen"] == 0 and res.value["rewards"] == [[P3, 0], [P1, 0]]
    assert not res.find("reward")
    committed(chain, 2, who=(P2,))
    res = receipt(chain, 2, H1, H2, participants=[P2], contributions=[7], reward_fen=100)
    assert res.ok and res.value["rewards"] == [[P2, 100]]


# ----------------------------------------------------------------- refusals


def test_refusal_codes(chain):
    committed(chain, 1, who=(P1, P2))
    assert commit(chain, OUT).error_code == "NOT_PARTICIPANT"
    assert commit(chain, P1).error_code == "ALREADY_COMMITTED"
    assert commit(chain, P3, 2).error_code == "BAD_ROUND"
    assert commit(chain, P3, 9).error_code == "TASK_COMPLETE"
    assert commit(chain, P3, task="nope").error_code == "NOT_FOUND"
    base = dict(participants=[P1, P2], contributions=[1, 1])
    assert receipt(chain, sender=OPER, **base).error_code == "NOT_AGGREGATOR"
    assert receipt(chain, sender=ADMIN, **base).error_code == "NOT_AGGREGATOR"
    assert receipt(chain, prev=H2, **base).error_code == "BAD_PREV_HASH"
    assert receipt(chain, 2, **base).error_code == "BAD_ROUND"
    assert receipt(chain).error_code == "NOT_COMMITTED"  # P3 did not commit
    assert receipt(chain, participants=[P1, P2, P1],
                   contributions=[1, 1, 1]).error_code == "DUPLICATE_PARTICIPANT"
    assert receipt(chain, participants=[P1, OUT],
                   contributions=[1, 1]).error_code == "NOT_COMMITTED"
    assert receipt(chain, delta_e18=10**12, **base).error_code == "DELTA_MISMATCH"
    assert receipt(chain, reward_fen=90_001, **base).error_code == "REWARD_OVER_BUDGET"
    bound = chain.view(C, "eps_bound", noise_e6=5_000_000, rounds=1, delta_e18=DELTA,
                       alpha_e6=3_270_000)
    below = receipt(chain, eps_e6=bound - 1, **base)
    assert below.error_code == "EPS_BELOW_BOUND" and str(bound) in below.error_message
    assert receipt(chain, eps_e6=20_000_001, **base).error_code == "EPS_OVER_BUDGET"
    # a bound above the budget cannot be claimed at all
    assert receipt(chain, noise_e6=100_000, eps_e6=20_000_000,
                   **base).error_code == "EPS_BELOW_BOUND"
    assert receipt(chain, alpha_e6=1_000_000, **base).error_code == "BAD_INPUT"
    assert receipt(chain, contributions=[1], participants=[P1, P2]).error_code == "BAD_INPUT"
    assert receipt(chain, new_hash="XY", **base).error_code == "BAD_INPUT"
    # nothing above changed the task
    t = chain.view(C, "get_task", task="t1")
    assert t["rounds_done"] == 0 and t["paid_fen"] == 0 and t["last_hash"] == H0
    ok = receipt(chain, eps_e6=bound, **base)
    assert ok.ok, ok
    assert commit(chain, P3, 1).error_code == "ROUND_CLOSED"


def test_task_refusals():
    chain = make_chain()
    assert create(chain, participants=[P1, P1]).error_code == "DUPLICATE_PARTICIPANT"
    assert chain.call(C, "create_task", P1, task="x", model_hash=H0, participants=[P1],
                      rounds=1, eps_max_e6=1, delta_e18=DELTA, reward_fen=0,
                      validation_hash=VAL, aggregator=AGG).error_code == "PERMISSION_DENIED"
    assert create(chain, participants=["bob"]).error_code == "BAD_INPUT"
    assert create(chain, delta_e18=10**18).error_code == "BAD_INPUT"
    assert create(chain).ok
    assert create(chain).error_code == "DUPLICATE"
    assert create(chain, task="t2", init_model_hash=H3).value["last_hash"] == H3


# ----------------------------------------------------------------- properties

getcontext().prec = 60


def true_eps(z_e6, rounds, delta_e18, alpha_e6):
    z = Decimal(z_e6) / 10**6
    a = Decimal(alpha_e6) / 10**6
    d = Decimal(delta_e18) / 10**18
    return rounds * a / (2 * z * z) + ((a - 1) / a).ln() - (d.ln() + a.ln()) / (a - 1)


def float_eps(z, rounds, delta, alpha):
    return rounds * alpha / (2 * z * z) + math.log((alpha - 1) / alpha) \
        - (math.log(delta) + math.log(alpha)) / (alpha - 1)


VIEW_CHAIN = make_chain()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(z_e6=st.integers(100_000, 50_000_000), rounds=st.integers(1, 10_000),
       delta_exp=st.integers(1, 17), delta_mant=st.integers(1, 9),
       alpha_e6=st.one_of(st.integers(1_000_001, 1_000_100), st.integers(1_000_001, 200_000_000)))
def test_fixed_point_eps_never_below_true_bound(z_e6, rounds, delta_exp, delta_mant, alpha_e6):
    delta_e18 = delta_mant * 10 ** (18 - delta_exp - 1)
    b = VIEW_CHAIN.view(C, "eps_bound", noise_e6=z_e6, rounds=rounds, delta_e18=delta_e18,
                        alpha_e6=alpha_e6)
    exact = true_eps(z_e6, rounds, delta_e18, alpha_e6)
    # never accepts a claim below the true bound, and is at most one unit (plus the tiny
    # directed-rounding margins) above it
    assert Decimal(b) >= exact * 10**6
    assert Decimal(b) <= (exact * 10**6).to_integral_value(ROUND_CEILING) + 1
    ref = float_eps(z_e6 / 1e6, rounds, delta_e18 / 1e18, alpha_e6 / 1e6)
    assert b / 1e6 >= ref - 1e-9 * max(1.0, abs(ref))


@settings(max_examples=150, deadline=None)
@given(budget=st.integers(0, 10**9),
       contributions=st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=12))
def test_rewards_sum_to_budget_and_never_negative(budget, contributions):
    ids = [f"{i:040x}" for i in range(len(contributions))]
    shares = VIEW_CHAIN.view(C, "split_rewards", budget=budget, ids=ids,
                             contributions=contributions)
    assert all(s >= 0 for s in shares)
    if any(c > 0 for c in contributions):
        assert sum(shares) == budget
        total = sum(max(c, 0) for c in contributions)
        for s, c in zip(shares, contributions, strict=True):
            assert abs(s * total - budget * max(c, 0)) < total  # within one fen of the quota
    else:
        assert sum(shares) == 0


def test_gas_per_receipt():
    """The figures docs/fl-contracts.md quotes: a commitment, and a receipt with 3 and with 8
    participants (this bounds them loosely so a change of the cost model shows up)."""
    chain = make_chain()
    ps = [f"{i + 1:040x}" for i in range(8)]
    for n, task in ((3, "g3"), (8, "g8")):
        assert create(chain, task=task, participants=ps[:n]).ok
        gas_commit = [commit(chain, p, task=task).gas_used for p in ps[:n]]
        res = receipt(chain, task=task, participants=ps[:n],
                      contributions=list(range(10, 10 + n)))
        assert res.ok, res
        print(f"fl gas: commit {gas_commit[0]}, receipt with {n} participants {res.gas_used}")
        assert 5_000 < gas_commit[0] < 30_000
        assert 20_000 < res.gas_used < 40_000 + 8_000 * n


def contract_ln_q():
    """The contract's own ln_q and constants, run as plain Python (the subset is Python)."""
    import ast

    from contracts_harness import load_source

    tree = ast.parse(load_source(C))
    keep = [n for n in tree.body
            if (isinstance(n, ast.Assign) and n.targets[0].id in ("Q", "LN2_Q", "LN10_Q"))
            or (isinstance(n, ast.FunctionDef) and n.name == "ln_q")]
    ns: dict = {}
    exec(compile(ast.Module(keep, []), "fl_receipts", "exec"), ns)  # noqa: S102
    return ns


def test_ln_q_error_is_within_the_documented_bound():
    getcontext().prec = 80
    ns = contract_ln_q()
    assert ns["LN2_Q"] == int(Decimal(2).ln() * 10**30)
    assert ns["LN10_Q"] == int(Decimal(10).ln() * 10**30)
    samples = [1, 2, 3, 10**6, 10**6 + 1, 3_270_000, 2**40 - 1, 2**40 + 1, 10**13,
               10**18 - 1, 2**63 - 1]
    samples += [int(Decimal(i).exp()) % 10**18 + 1 for i in range(1, 40)]
    worst = 0
    for n in samples:
        err = abs(ns["ln_q"](n) - Decimal(n).ln() * 10**30)
        worst = max(worst, err)
    assert worst < 230  # docs/fl-contracts.md; the contract allows LN_ERR = 1000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(z_e6=st.integers(300_000, 20_000_000), alpha_e6=st.integers(1_050_000, 80_000_000))
def test_receipt_refuses_every_claim_below_the_true_bound(z_e6, alpha_e6):
    chain = make_chain()
    assert create(chain, rounds=1, eps_max_e6=10**15).ok
    committed(chain, 1)
    exact = true_eps(z_e6, 1, DELTA, alpha_e6) * 10**6
    below = int(exact.to_integral_value(ROUND_CEILING)) - 1  # the largest claim below it
    res = receipt(chain, noise_e6=z_e6, alpha_e6=alpha_e6, eps_e6=below)
    assert res.error_code == "EPS_BELOW_BOUND"
    res = receipt(chain, noise_e6=z_e6, alpha_e6=alpha_e6, eps_e6=below + 2)
    assert res.ok, res  # and one unit above the true bound (rounded up) is accepted
