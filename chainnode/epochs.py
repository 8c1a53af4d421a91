"""Which validator set (and view timeouts) governs which height, as the chain recorded it.

Governance decides a change in block h; it governs h+1 on (DESIGN §12). The chain records the
rules of every height range in its database, in the same write batch as the block that
decided them (`ChainDB.commit_block(epoch=...)`), so `EpochBook.at(height)` answers for every
committed height and after a restart. Genesis is the first epoch (start 1) and is never stored:
it is the genesis file's.

The set of h+1 is the set in `sys.validators["set"]` after executing h; it hashes to
`header(h).next_validators_hash`, which every replica re-executing h has checked.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from chainnode import codec
from chainnode.consensus.epoch import Epoch
from chainnode.core.genesis import Genesis, Validator, validators_hash


@dataclass(frozen=True)
class ChainEpoch:
    """The rules for heights `start` .. (next epoch's start - 1)."""

    start: int
    validators: tuple[Validator, ...]
    view_timeout_ms: int
    max_view_timeout_ms: int

    @property
    def vhash(self) -> bytes:
        return validators_hash(self.validators)

    def encode(self) -> bytes:
        return codec.encode([[[v.name, v.public_key] for v in self.validators],
                             self.view_timeout_ms, self.max_view_timeout_ms])

    @classmethod
    def decode(cls, start: int, raw: bytes) -> ChainEpoch:
        vals, base, top = codec.decode(raw)
        return cls(start, tuple(Validator(n, k) for n, k in vals), base, top)

    def same_rules(self, other: ChainEpoch) -> bool:
        return (self.validators, self.view_timeout_ms, self.max_view_timeout_ms) == (
            other.validators, other.view_timeout_ms, other.max_view_timeout_ms)

    def for_consensus(self) -> Epoch:
        """The core's view: member ids are the SM2 public keys (index = position)."""
        return Epoch(self.start, tuple(v.public_key for v in self.validators),
                     self.view_timeout_ms, self.max_view_timeout_ms)

    def index_of(self, public_key: bytes) -> int | None:
        for i, v in enumerate(self.validators):
            if v.public_key == public_key:
                return i
        return None


def genesis_epoch(genesis: Genesis) -> ChainEpoch:
    return ChainEpoch(1, genesis.validators, genesis.param("view_timeout_ms"),
                      genesis.param("max_view_timeout_ms"))


def set_from_state(raw: bytes) -> tuple[Validator, ...]:
    """sys.validators["set"] as stored in state: codec [[name, public key], ...]."""
    return tuple(Validator(n, k) for n, k in codec.decode(raw))


class EpochBook:
    """All epochs of one chain, in order; one entry per governance change, but it grows for
    ever and is asked on every consensus frame: lookups bisect, recent views are cached."""

    def __init__(self, first: ChainEpoch, stored: list[tuple[int, bytes]]) -> None:
        self.epochs = [first] + [ChainEpoch.decode(s, raw) for s, raw in stored if s > 1]
        self._starts = [e.start for e in self.epochs]
        self._recent: dict[int, tuple[tuple[ChainEpoch, ...], frozenset[bytes]]] = {}

    def at(self, height: int) -> ChainEpoch:
        """The epoch governing `height` (for heights past the head: the latest known)."""
        return self.epochs[max(bisect_right(self._starts, height) - 1, 0)]

    def recent(self, n: int) -> tuple[ChainEpoch, ...]:
        """The last `n` epochs, oldest first (cached until an epoch is added)."""
        return self._recent_entry(n)[0]

    def recent_keys(self, n: int) -> frozenset[bytes]:
        """Public keys of every validator of the last `n` epochs (cached likewise)."""
        return self._recent_entry(n)[1]

    def _recent_entry(self, n: int) -> tuple[tuple[ChainEpoch, ...], frozenset[bytes]]:
        entry = self._recent.get(n)
        if entry is None:
            last = tuple(self.epochs[-n:])
            entry = (last, frozenset(v.public_key for e in last for v in e.validators))
            self._recent[n] = entry
        return entry

    @property
    def latest(self) -> ChainEpoch:
        return self.epochs[-1]

    def add(self, epoch: ChainEpoch) -> None:
        if epoch.start <= self.latest.start:
            raise ValueError(f"epoch at {epoch.start} does not follow {self.latest.start}")
        self.epochs.append(epoch)
        self._starts.append(epoch.start)
        self._recent.clear()
