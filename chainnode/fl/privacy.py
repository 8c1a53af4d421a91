"""Differential privacy of a task: update clipping, Gaussian noise, and the RDP accountant.

Noise comes from the operating system's randomness (a fresh 128-bit seed from `secrets`), never
from chain data: anyone who could predict it could subtract it. An explicit seed exists only
for tests and figures (`make_rng(seed)`).

Accounting (DESIGN §14, power-domain vectors): Gaussian mechanism with noise multiplier z,
every participant in every round, T rounds, target δ. For an RDP order α > 1,
    ε(α) = T·α/(2z²) + ln((α−1)/α) − (ln δ + ln α)/(α−1)
is a valid (ε, δ) bound for every α; the best is the minimum over α. The contract checks a
claimed ε against its own fixed-point value at the claimed α, rounding against the claimant,
so the aggregator claims the larger of the float value rounded up and an exact integer replica
of the contract's bound (`chain_claim`): never less than what the contract computes.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np


def make_rng(seed: int | None = None) -> np.random.Generator:
    """The noise source: OS randomness unless a seed is given (tests and figures only)."""
    return np.random.default_rng(secrets.randbits(128) if seed is None else seed)


def clip(u: np.ndarray, c: float) -> np.ndarray:
    """Scale `u` down to L2 norm at most `c` (unchanged when already inside)."""
    n = float(np.linalg.norm(u))
    return u if n <= c or n == 0.0 else u * (c / n)


def gaussian(shape: int, std: float, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, std, size=shape) if std > 0 else np.zeros(shape)


def rdp_epsilon(z: float, rounds: int, delta: float, alpha: float) -> float:
    """ε(α) of T = `rounds` full-participation Gaussian rounds with noise multiplier z."""
    if alpha <= 1 or z <= 0 or not 0 < delta < 1 or rounds < 0:
        raise ValueError("need alpha > 1, z > 0, 0 < delta < 1, rounds >= 0")
    return (rounds * alpha / (2 * z * z) + math.log((alpha - 1) / alpha)
            - (math.log(delta) + math.log(alpha)) / (alpha - 1))


def best_alpha(z: float, rounds: int, delta: float, scale: int = 100,
               lo: float = 1.01, hi: float = 512.0) -> int:
    """The α (in units of 1/scale) minimising ε(α): golden-section search, then the best of
    the neighbouring grid points (ε(α) is convex in α on (1, ∞))."""
    f = lambda a: rdp_epsilon(z, rounds, delta, a)  # noqa: E731
    a, b = lo, hi
    g = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        c, d = b - g * (b - a), a + g * (b - a)
        if f(c) < f(d):
            b = d
        else:
            a = c
    mid = round((a + b) / 2 * scale)
    cands = [k for k in range(mid - 2, mid + 3) if k > scale]
    return min(cands, key=lambda k: f(k / scale))


class Accountant:
    """ε spent by a task so far, for a fixed noise multiplier and δ (monotone in rounds)."""

    def __init__(self, z: float, delta: float) -> None:
        self.z = z
        self.delta = delta
        self.rounds = 0

    def step(self) -> None:
        self.rounds += 1

    def epsilon(self, rounds: int | None = None) -> float:
        t = self.rounds if rounds is None else rounds
        a = best_alpha(self.z, t, self.delta)
        return rdp_epsilon(self.z, t, self.delta, a / 100)


# ---------------------------------------------------------------- the contract's fixed point
# An independent integer implementation of the documented ε check of contracts/fl_receipts.py
# (docs/fl-contracts.md, "The ε check"): the aggregator claims at least this, and
# `chainnode fl verify` recomputes it from the receipts alone.

M6 = 10**6
D18 = 10**18
Q = 10**30
LN2_Q = 693147180559945309417232121458
LN10_Q = 2302585092994045684017991454684
LN_ERR = 1000


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def ln_q(n: int) -> int:
    """Q·ln(n) for an integer n >= 1 by 2·atanh series on the mantissa, floors only."""
    k = n.bit_length() - 1
    p, d = n - (1 << k), n + (1 << k)
    t, total, j = Q * p // d, 0, 1
    while t > 0:
        total += t // j
        t = t * p * p // (d * d)
        j += 2
    return k * LN2_Q + 2 * total


def rho_e30(noise_e6: int) -> int:
    """One round's RDP slope 1/(2z²) in units of 1/Q, rounded up."""
    return _ceil_div(Q * M6 * M6, 2 * noise_e6 * noise_e6)


def bound_e6(rho_sum: int, delta_e18: int, alpha_e6: int) -> int:
    """Upper bound of ε(α) in 1e-6, every rounding against the claimant."""
    a1 = alpha_e6 - M6
    term1 = _ceil_div(rho_sum * alpha_e6, M6)
    ln_a = ln_q(alpha_e6)
    l1 = (ln_q(a1) + LN_ERR) - (ln_a - LN_ERR)
    inv_delta_hi = 18 * (LN10_Q + 1) - (ln_q(delta_e18) - LN_ERR)
    ln_alpha_lo = (ln_a - LN_ERR) - 6 * (LN10_Q + 1)
    l2 = _ceil_div((inv_delta_hi - ln_alpha_lo) * M6, a1)
    return _ceil_div(term1 + l1 + l2, Q // M6)


def to_e6(x: float) -> int:
    return int(round(x * M6))


def delta_e18(delta: float) -> int:
    return int(round(delta * D18))


@dataclass(frozen=True)
class ChainClaim:
    """A receipt's DP fields: α and the cumulative ε in 1e-6, the task's running ρ sum."""
    alpha_e6: int
    eps_e6: int
    rho_sum: int


def chain_claim(noises_e6: list[int], delta: float) -> ChainClaim:
    """The claim after rounds with these noise multipliers: α minimising the float ε, ε the
    larger of the float value rounded up and the contract's bound (so never refused)."""
    rho = sum(rho_e30(z) for z in noises_e6)
    slope = rho / Q                                       # Σ 1/(2 z_i²)
    z_eq = math.sqrt(1 / (2 * slope))                     # one z giving the same slope
    a = best_alpha(z_eq, 1, delta, 100) * (M6 // 100)
    d18 = delta_e18(delta)
    eps_float = rdp_epsilon(z_eq, 1, d18 / D18, a / M6)
    return ChainClaim(a, max(math.ceil(eps_float * M6), bound_e6(rho, d18, a)), rho)
