"""Epochs: which validators and timer parameters govern which heights.

Governance changes the validator set and the view timeouts at a height boundary: a change
decided in block h governs h+1 on. The core learns each new epoch from the shell as an event
(`NewEpoch`, sent before the BlockCommitted/SyncedTo that reaches its start), so it never reads
the chain itself. An epoch names its validators by opaque member ids (SM2 public keys in the
node, key numbers in the simulator); a validator's index is its position in that tuple, and
the injected verifier is called with the member id, so the same index can mean another key in
another epoch and a signature is always checked against the key of the set of its height.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Epoch:
    """The rules for heights `start` .. (the next epoch's start - 1)."""

    start: int
    validators: tuple[Hashable, ...]  # member ids; index = position
    base_timeout_ms: int
    max_timeout_ms: int

    def __post_init__(self) -> None:
        if type(self.start) is not int or self.start < 1:
            raise ValueError("an epoch starts at a height >= 1")
        if not self.validators or len(set(self.validators)) != len(self.validators):
            raise ValueError("an epoch needs distinct validators")
        if not 0 < self.base_timeout_ms <= self.max_timeout_ms:
            raise ValueError("need 0 < base_timeout_ms <= max_timeout_ms")

    @property
    def n(self) -> int:
        return len(self.validators)

    def index_of(self, member: Hashable | None) -> int | None:
        if member is None:
            return None
        try:
            return self.validators.index(member)
        except ValueError:
            return None

    def same_members(self, other: Epoch) -> bool:
        return self.validators == other.validators


class EpochHistory:
    """Every epoch the core was told about, in order of start height.

    Epochs change only by governance decision, so the list is short; keeping all of them lets
    any certificate at or below the head be checked against its own height's set."""

    def __init__(self, epochs: Iterable[Epoch]) -> None:
        self._epochs: list[Epoch] = []
        self._starts: list[int] = []  # of _epochs, for bisect (asked on every vote)
        for e in epochs:
            self.add(e)
        if not self._epochs:
            raise ValueError("need at least one epoch")

    def add(self, epoch: Epoch) -> bool:
        """Record `epoch`; an epoch with the same start replaces the old one. True if new."""
        for i, e in enumerate(self._epochs):
            if e.start == epoch.start:
                if e == epoch:
                    return False
                self._epochs[i] = epoch
                return True
        self._epochs.append(epoch)
        self._epochs.sort(key=lambda e: e.start)
        self._starts = [e.start for e in self._epochs]
        return True

    def at(self, height: int) -> Epoch:
        """The epoch governing `height` as far as known (the latest one for heights beyond
        what the shell has told: the best guess until a NewEpoch says otherwise)."""
        return self._epochs[max(bisect_right(self._starts, height) - 1, 0)]

    def __iter__(self):
        return iter(self._epochs)
