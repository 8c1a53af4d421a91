"""Static consensus parameters and the pure functions derived from them (quorums, leaders,
timeouts), kept apart so that every module computes them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from chainnode.core.certificate import quorum as _quorum


@dataclass(frozen=True)
class ConsensusConfig:
    """Parameters every validator must agree on, plus this node's own index.

    `own_index` is None for an observer: it follows commits but never signs, persists or
    sets timers. `rotation_interval` > 0 hands leadership to the next validator every that
    many heights without a view change; 0 keeps validators[view mod n] as the leader.
    `view_window` and `height_window` bound how far ahead of this node a message may be
    and still be buffered; `buffer_per_sender` caps what one sender can make us hold.
    """

    n: int
    own_index: int | None
    chain_id: str
    base_timeout_ms: int = 2000
    max_timeout_ms: int = 60000
    empty_blocks: bool = False
    rotation_interval: int = 0
    view_window: int = 8
    height_window: int = 8
    buffer_per_sender: int = 64
    buffer_bytes_per_sender: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if type(self.n) is not int or self.n < 1:
            raise ValueError("n must be a positive int")
        if self.own_index is not None and not 0 <= self.own_index < self.n:
            raise ValueError("own_index out of range")
        if not 0 < self.base_timeout_ms <= self.max_timeout_ms:
            raise ValueError("need 0 < base_timeout_ms <= max_timeout_ms")
        if self.rotation_interval < 0:
            raise ValueError("rotation_interval must be >= 0")
        if min(self.view_window, self.height_window, self.buffer_per_sender,
               self.buffer_bytes_per_sender) < 1:
            raise ValueError("windows and buffers must be >= 1")

    @property
    def f(self) -> int:
        return (self.n - 1) // 3

    @property
    def quorum(self) -> int:
        """2f+1: votes needed for prepared / committed / a NEW-VIEW."""
        return _quorum(self.n)

    @property
    def weak_quorum(self) -> int:
        """f+1: enough distinct senders that at least one of them is honest."""
        return self.f + 1

    @property
    def is_validator(self) -> bool:
        return self.own_index is not None

    def leader(self, view: int, height: int) -> int:
        """Index of the validator that proposes at (view, height)."""
        offset = (height - 1) // self.rotation_interval if self.rotation_interval else 0
        return (view + offset) % self.n

    def timeout_ms(self, attempt: int) -> int:
        """Exponential backoff: base * 2**attempt, capped; attempt resets on every commit."""
        if attempt >= 40:
            return self.max_timeout_ms
        return min(self.base_timeout_ms << attempt, self.max_timeout_ms)
