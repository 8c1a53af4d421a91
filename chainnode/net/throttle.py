"""Reconnect backoff and misbehaviour bans, with the clock and randomness passed in.

Sans-IO so the growth, caps and forgetting are tested exactly, without sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass


class Backoff:
    """Capped exponential backoff with jitter in [d/2, d] ("equal jitter").

    The jitter keeps validators that lost each other at the same instant (a partition
    healing, a restart) from redialling in lockstep.
    """

    def __init__(
        self, base: float = 0.25, cap: float = 30.0, rng: Callable[[], float] = random.random
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        d = min(self.cap, self.base * (2 ** min(self.attempts, 60)))
        self.attempts += 1
        return d / 2 + self.rng() * d / 2

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class _Record:
    strikes: int
    until: float
    last: float
    reason: str


class BanBook:
    """Who is banned until when, and for what.

    Each offence doubles the ban (base, 2·base, 4·base … capped); an offender that stays
    clean for `forget_after` seconds after its ban ends starts again from `base`. The book is
    bounded: an attacker cycling through many addresses cannot grow it without limit; when
    full, expired records go first, then the ones that end soonest.
    """

    def __init__(
        self,
        base: float = 5.0,
        cap: float = 600.0,
        forget_after: float = 3600.0,
        max_entries: int = 10_000,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.forget_after = forget_after
        self.max_entries = max_entries
        self._records: dict[Hashable, _Record] = {}
        self.count = 0  # bans handed out since start (chainnode_peer_bans_total)

    def offend(self, key: Hashable, reason: str, now: float) -> float:
        """Record an offence; returns the ban's length in seconds."""
        rec = self._records.get(key)
        if rec is None or now - max(rec.until, rec.last) >= self.forget_after:
            strikes = 1
        else:
            strikes = rec.strikes + 1
        length = min(self.cap, self.base * (2 ** min(strikes - 1, 60)))
        if key not in self._records and len(self._records) >= self.max_entries:
            self._evict(now)
        self._records[key] = _Record(strikes, now + length, now, reason)
        self.count += 1
        return length

    def remaining(self, key: Hashable, now: float) -> float:
        rec = self._records.get(key)
        if rec is None:
            return 0.0
        return max(0.0, rec.until - now)

    def reason(self, key: Hashable) -> str | None:
        rec = self._records.get(key)
        return rec.reason if rec else None

    def strikes(self, key: Hashable) -> int:
        rec = self._records.get(key)
        return rec.strikes if rec else 0

    def pardon(self, key: Hashable) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _evict(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if now - max(r.until, r.last) >= self.forget_after]
        for k in stale:
            del self._records[k]
        if len(self._records) >= self.max_entries:
            # drop a tenth at once so a flood of new keys costs O(log n) each, not O(n)
            order = sorted(self._records, key=lambda k: self._records[k].until)
            for k in order[: max(1, self.max_entries // 10)]:
                del self._records[k]
