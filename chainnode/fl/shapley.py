"""Shapley contributions: exact for up to 8 players, Monte-Carlo permutations above that.

`value(mask)` is the utility of a coalition given as a bit mask (bit i = player i). Exact
Shapley evaluates all 2^n coalitions once (256 for 8 sites). Above EXACT_MAX players, m random
permutations estimate each φ_i as the mean marginal contribution; the stated error is the
95 % normal half-width 1.96·s_i/√m from the sample standard deviation of the marginals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EXACT_MAX = 8


def exact(n: int, value: Callable[[int], float]) -> list[float]:
    """φ_i = Σ_{S ∌ i} |S|!(n-|S|-1)!/n! · (v(S ∪ {i}) − v(S))."""
    if n > 16:
        raise ValueError("exact Shapley is exponential; use monte_carlo above 8 players")
    v = [value(m) for m in range(1 << n)]
    coef = [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    phi = [0.0] * n
    for m in range(1 << n):
        s = m.bit_count()
        for i in range(n):
            if not m >> i & 1:
                phi[i] += coef[s] * (v[m | 1 << i] - v[m])
    return phi


@dataclass(frozen=True)
class Estimate:
    phi: list[float]
    half_width: list[float]     # 95 % half-width per player
    permutations: int


def monte_carlo(n: int, value: Callable[[int], float], permutations: int,
                rng: np.random.Generator) -> Estimate:
    """Permutation sampling; coalition values are cached (a permutation's prefixes repeat)."""
    cache: dict[int, float] = {}

    def v(m: int) -> float:
        if m not in cache:
            cache[m] = value(m)
        return cache[m]

    marg = np.zeros((permutations, n))
    for p in range(permutations):
        m = 0
        prev = v(0)
        for i in rng.permutation(n):
            m |= 1 << int(i)
            cur = v(m)
            marg[p, i] = cur - prev
            prev = cur
    sd = marg.std(axis=0, ddof=1) if permutations > 1 else np.full(n, math.inf)
    return Estimate(list(marg.mean(axis=0)), list(1.96 * sd / math.sqrt(permutations)),
                    permutations)


def contributions(n: int, value: Callable[[int], float], rng: np.random.Generator,
                  permutations: int = 200) -> Estimate:
    """Exact up to EXACT_MAX players (half-width 0), Monte-Carlo above."""
    if n <= EXACT_MAX:
        return Estimate(exact(n, value), [0.0] * n, 0)
    return monte_carlo(n, value, permutations, rng)
