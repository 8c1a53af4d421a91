"""Differential privacy of a task: update clipping, Gaussian noise, and the RDP accountant.

Noise comes from the operating system's randomness (a fresh 128-bit seed from `secrets`), never
from chain data: anyone who could predict it could subtract it. An explicit seed exists only
for tests and figures (`make_rng(seed)`).

Accounting (DESIGN §14, power-domain vectors): Gaussian mechanism with noise multiplier z,
every participant in every round, T rounds, target δ. For an RDP order α > 1,
    ε(α) = T·α/(2z²) + ln((α−1)/α) − (ln δ + ln α)/(α−1)
is a valid (ε, δ) bound for every α; the best is the minimum over α. The contract checks a
claimed ε against its own fixed-point value at the claimed α, rounding against the claimant,
so the aggregator claims the float bound rounded UP to the contract's precision plus a margin
of a few units (`claim`), never less than what the contract computes.
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


@dataclass(frozen=True)
class Claim:
    """What a receipt states: the order α and ε, both as integers in units of 1/scale."""
    alpha: int
    epsilon: int
    scale: int

    @property
    def epsilon_float(self) -> float:
        return self.epsilon / self.scale


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


def claim(z: float, rounds: int, delta: float, scale: int = 10_000, alpha_scale: int = 100,
          margin: int = 2) -> Claim:
    """ε to claim after `rounds` rounds: the float bound at the best grid α, rounded up to
    1/scale and `margin` units above that (covers the contract's fixed-point rounding)."""
    a = best_alpha(z, rounds, delta, alpha_scale)
    eps = rdp_epsilon(z, rounds, delta, a / alpha_scale)
    return Claim(a, math.ceil(eps * scale) + margin, scale)


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
