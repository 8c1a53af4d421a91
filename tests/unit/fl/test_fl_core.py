"""The numpy pieces of the reference aggregator: Shapley, top-k with error feedback, clipping,
the accountant, FedAvg, rewards, the update encoding and the synthetic sites."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.fl import fedavg, model, privacy, rewards, shapley, sites, sparsify


def _game(n: int, seed: int):
    """A random non-additive game: v(S) = g(Σ_{i∈S} a_i) + pairwise terms."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=(n, n))

    def v(mask: int) -> float:
        s = [i for i in range(n) if mask >> i & 1]
        return float(np.tanh(sum(a[i] for i in s)) + sum(b[i, j] for i in s for j in s if i < j))
    return v


def _brute(n: int, v) -> list[float]:
    """Average marginal contribution over all n! orders."""
    phi = [0.0] * n
    perms = list(itertools.permutations(range(n)))
    for p in perms:
        m = 0
        for i in p:
            phi[i] += v(m | 1 << i) - v(m)
            m |= 1 << i
    return [x / len(perms) for x in phi]


@pytest.mark.parametrize("n,seed", [(1, 0), (3, 1), (5, 2), (6, 3)])
def test_exact_shapley_equals_the_permutation_definition(n, seed):
    v = _game(n, seed)
    assert np.allclose(shapley.exact(n, v), _brute(n, v), atol=1e-12)


def test_shapley_axioms():
    n = 6
    v = _game(n, 7)
    phi = shapley.exact(n, v)
    assert math.isclose(sum(phi), v((1 << n) - 1) - v(0), abs_tol=1e-12)   # efficiency
    # a null player (adds nothing anywhere) gets 0; two interchangeable players get the same
    w = lambda m: v(m & 0b111111) + 2.0 * (bin(m & 0b11000000).count("1") > 0)  # noqa: E731
    phi8 = shapley.exact(8, lambda m: w(m & ~(1 << 5)))
    assert abs(phi8[5]) < 1e-12
    assert math.isclose(phi8[6], phi8[7], abs_tol=1e-12) and phi8[6] > 0


def test_monte_carlo_within_its_stated_error_above_eight_sites():
    n = 10
    v = _game(n, 11)
    exact = shapley.exact(n, v)
    est = shapley.contributions(n, v, np.random.default_rng(3), permutations=400)
    assert est.permutations == 400 and all(h > 0 for h in est.half_width)
    inside = sum(abs(e - x) <= h for e, x, h in zip(est.phi, exact, est.half_width, strict=True))
    assert inside >= 8   # a 95 % interval per player: 10 of 10 expected, 8 is safe
    small = shapley.contributions(4, v, np.random.default_rng(3))
    assert small.permutations == 0 and small.half_width == [0.0] * 4


def test_top_k_with_error_feedback_loses_nothing():
    rng = np.random.default_rng(1)
    ef = sparsify.ErrorFeedback(50)
    total_in, total_sent = np.zeros(50), np.zeros(50)
    for _ in range(30):
        u = rng.normal(size=50)
        sent = ef.compress(u, 5)
        assert np.count_nonzero(sent) <= 5
        total_in += u
        total_sent += sent
    # everything not sent yet is in the residual: sent + residual == everything given
    assert np.allclose(total_sent + ef.residual, total_in)
    assert np.linalg.norm(ef.residual) < np.linalg.norm(total_in) + 50


def test_top_k_picks_the_largest_and_clipped_compression_keeps_the_rest():
    u = np.array([0.1, -3.0, 2.0, 0.0, -2.0, 1.0])
    assert list(sparsify.top_k(u, 3)) == [1, 2, 4]         # tie |2| = |-2|: both in
    ef = sparsify.ErrorFeedback(6)
    sent = ef.compress(u, 2, clip_norm=1.0)
    assert np.isclose(np.linalg.norm(sent), 1.0) and np.count_nonzero(sent) == 2
    assert np.allclose(sent + ef.residual, u)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.floats(1e-3, 1e3))
def test_clipping_bounds_the_norm(values, c):
    u = np.array(values)
    out = privacy.clip(u, c)
    assert np.linalg.norm(out) <= c * (1 + 1e-9)
    if np.linalg.norm(u) <= c:
        assert np.array_equal(out, u)
    else:  # same direction
        assert np.allclose(out * np.linalg.norm(u) / c, u)


def test_encoding_round_trip_and_sizes():
    u = np.zeros(model.DIM)
    u[[3, 77, 140]] = [0.5, -1.25, 2.0]
    for sparse in (False, True):
        blob = sparsify.encode(u, sparse)
        assert np.allclose(sparsify.decode(blob), u)
    assert len(sparsify.encode(u, False)) == 3 + 4 * model.DIM
    assert len(sparsify.encode(u, True)) == 5 + 6 * 3


def test_rdp_vectors_and_accountant_monotonicity():
    assert round(privacy.rdp_epsilon(5.0, 100, 1e-5, 3.27), 2) == 10.72
    assert round(privacy.rdp_epsilon(1.1, 100, 1e-5, 1.52), 2) == 83.07
    assert round(privacy.rdp_epsilon(5.0, 100, 1e-5, 2.0), 2) == 14.13
    acc = privacy.Accountant(1.0, 1e-5)
    eps = [acc.epsilon(t) for t in range(1, 30)]
    assert all(a < b for a, b in zip(eps, eps[1:], strict=False))          # more rounds, more ε
    assert privacy.Accountant(2.0, 1e-5).epsilon(20) < acc.epsilon(20)     # more noise, less ε
    # the best grid α is (close to) the minimum over α
    a = privacy.best_alpha(5.0, 100, 1e-5) / 100
    assert abs(a - 3.27) <= 0.02
    grid = [privacy.rdp_epsilon(5.0, 100, 1e-5, 1 + k / 100) for k in range(1, 2000)]
    assert privacy.rdp_epsilon(5.0, 100, 1e-5, a) <= min(grid) + 1e-12


def test_claims_are_never_below_the_bound_or_the_float_value():
    for z_e6, rounds in [(500_000, 1), (1_000_000, 20), (1_100_000, 100), (5_000_000, 3)]:
        c = privacy.chain_claim([z_e6] * rounds, 1e-5)
        assert c.rho_sum == rounds * privacy.rho_e30(z_e6)
        assert c.eps_e6 >= privacy.bound_e6(c.rho_sum, 10**13, c.alpha_e6)
        z = z_e6 / 1e6
        assert c.eps_e6 / 1e6 >= privacy.rdp_epsilon(z, rounds, 1e-5, c.alpha_e6 / 1e6)
        assert c.eps_e6 / 1e6 <= privacy.Accountant(z, 1e-5).epsilon(rounds) + 1e-3
    assert privacy.bound_e6(100 * privacy.rho_e30(5_000_000), 10**13, 3_270_000) == 10_724_830


def test_fedavg_vector_and_capped_weights():
    step = fedavg.aggregate([np.array([1.0]), np.array([2.0]), np.array([3.0])],
                            [100, 300, 600], cap=600)
    assert step[0] == pytest.approx(2.5)
    capped = fedavg.aggregate([np.array([1.0]), np.array([3.0])], [100, 10_000], cap=100)
    assert capped[0] == pytest.approx(2.0)       # the big site counts as much as the cap
    with pytest.raises(ValueError):
        fedavg.aggregate([np.array([1.0])], [1], cap=1, noise_std=1.0)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**9), st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=20))
def test_rewards_sum_to_the_budget_and_are_never_negative(budget, scores):
    out = rewards.split(budget, scores)
    assert all(x >= 0 for x in out)
    assert sum(out) == (budget if any(s > 0 for s in scores) else 0)
    assert all(o == 0 for o, s in zip(out, scores, strict=True) if s <= 0)


def test_reward_vector_ties_to_the_lowest_id():
    assert rewards.split(90_000, [95, 185, 260], ["a", "b", "c"]) == [15_834, 30_833, 43_333]
    assert rewards.split(90_000, [260, 185, 95], ["c", "b", "a"]) == [43_333, 30_833, 15_834]


def test_sites_heating_load_follows_the_cold():
    s = sites.make_region(3, 28, np.random.default_rng(2))
    for site in s:
        assert len(site.load) == 28 * sites.PPD and (site.load > 0).all()
        day_load = site.load.reshape(28, sites.PPD).mean(axis=1)
        day_temp = site.temp.reshape(28, sites.PPD).mean(axis=1)
        assert np.corrcoef(day_load, day_temp)[0, 1] < -0.7
    assert len({x.households for x in s}) == 3


def test_noise_rng_comes_from_the_os_unless_seeded():
    a = privacy.make_rng().normal(size=4)
    b = privacy.make_rng().normal(size=4)
    assert not np.array_equal(a, b)
    assert np.array_equal(privacy.make_rng(9).normal(size=4), privacy.make_rng(9).normal(size=4))
