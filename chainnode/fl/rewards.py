"""A round's reward budget split by contribution: largest remainder, integer fen.

Each participant gets budget · max(score, 0) / Σ max(score, 0), floored; the fen left over go
one each to the largest remainders, ties to the lowest participant id (power-domain vectors).
Integer arithmetic only, so it equals what the contract computes. If no score is positive,
nobody is paid (the budget stays unspent).
"""

from __future__ import annotations


def split(budget: int, scores: list[int], ids: list[str] | None = None) -> list[int]:
    if budget < 0:
        raise ValueError("budget must be >= 0")
    keys = ids if ids is not None else [f"{i:08d}" for i in range(len(scores))]
    pos = [max(int(s), 0) for s in scores]
    total = sum(pos)
    if total == 0:
        return [0] * len(scores)
    out = [budget * p // total for p in pos]
    rem = [budget * p % total for p in pos]
    left = budget - sum(out)
    for i in sorted(range(len(pos)), key=lambda i: (-rem[i], keys[i]))[:left]:
        out[i] += 1
    return out


def to_scores(phi: list[float], scale: int) -> list[int]:
    """Float contributions as the integers a receipt carries (units of 1/scale, half-up)."""
    return [int(round(p * scale)) for p in phi]
