"""The aggregator's integer ε bound and reward split equal the contract's (run in the real VM),
and a few federated rounds off chain improve the model and pay exactly the budget."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.fl import model, privacy, rewards
from chainnode.fl.rounds import Config, Federation

_path = Path(__file__).resolve().parents[1] / "contracts" / "harness.py"
if "contracts_harness" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("contracts_harness", _path)
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["contracts_harness"] = _mod
    _spec.loader.exec_module(_mod)
Chain = sys.modules["contracts_harness"].Chain

CHAIN = Chain()
assert CHAIN.deploy("fl_receipts").ok


@settings(max_examples=25, deadline=None)
@given(st.integers(100_000, 20_000_000), st.integers(1, 500), st.integers(1, 10**17),
       st.integers(1_010_000, 200_000_000))
def test_eps_bound_equals_the_contracts(z_e6, rounds, delta_e18, alpha_e6):
    want = CHAIN.view("fl_receipts", "eps_bound", noise_e6=z_e6, rounds=rounds,
                      delta_e18=delta_e18, alpha_e6=alpha_e6)
    assert privacy.bound_e6(rounds * privacy.rho_e30(z_e6), delta_e18, alpha_e6) == want


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**8), st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=12))
def test_reward_split_equals_the_contracts(budget, contributions):
    ids = [f"{i * 7919 % 97:040x}" for i in range(len(contributions))]
    want = CHAIN.view("fl_receipts", "split_rewards", budget=budget, ids=ids,
                      contributions=contributions)
    assert rewards.split(budget, contributions, ids) == want


def test_rounds_off_chain_improve_the_model_and_pay_the_budget():
    cfg = Config(sites=5, noise=0.3)
    fed = Federation(cfg, np.random.default_rng(4), privacy.make_rng(5))
    start = model.mape(fed.w, fed.validation)
    h0 = fed.model_hash
    for _ in range(3):
        ups = fed.site_updates()
        assert all(len(u.blob) == 5 + 6 * cfg.topk for u in ups)
        res = fed.aggregate(ups)
        assert res.prev_hash == h0 and res.new_hash != h0
        h0 = res.new_hash
        assert sum(res.rewards) == cfg.budget and min(res.rewards) >= 0
        assert len(res.phi) == 5   # exact Shapley for <= 8 sites: no stated error and res.half_width == [0.0] * 5
    assert res.metric / 100 < start
