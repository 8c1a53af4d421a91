"""Write buffers over committed state: one per block, one per transaction inside it.

A transaction's writes land in its TxState; only a successful transaction merges them into the
block's overlay, so a failed transaction leaves no trace while the rest of the block proceeds.
"""

from __future__ import annotations

from typing import Protocol

from chainnode import codec


class StateReader(Protocol):
    def state_get(self, contract: str, key: bytes) -> bytes | None: ...


class BlockState:
    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.writes: dict[tuple[str, bytes], bytes | None] = {}
        # the committed base cannot change while a block executes (one block in flight, under
        # the chain lock), so its reads are cached for the block's lifetime
        self._reads: dict[tuple[str, bytes], bytes | None] = {}

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        k = (contract, key)
        if k in self.writes:
            return self.writes[k]
        if k in self._reads:
            return self._reads[k]
        v = self.base.state_get(contract, key)
        self._reads[k] = v
        return v

    def apply(self, writes) -> None:
        for contract, key, value in writes:
            self.writes[(contract, key)] = value

    def merge(self, writes) -> None:
        """apply() for ((contract, key), value) pairs or a dict of them: the same writes in
        the same order, in one C-level dict update (two per transaction)."""
        self.writes.update(writes)


class TxOverlay(BlockState):
    """One transaction's writes over its block's BlockState (Executor.execute_tx), merged
    into the block only once the transaction's receipt encodes. No read cache of its own:
    every read it passes down is cached by the block's state, and nothing below it changes
    while the transaction runs (all its writes land here)."""

    def __init__(self, block: BlockState) -> None:  # no _reads: see above
        self.base = block
        self.writes = {}

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        k = (contract, key)
        writes = self.writes
        if k in writes:
            return writes[k]
        return self.base.state_get(contract, key)


class TxState:
    """Typed get/set for native system contracts, buffered until the tx succeeds."""

    def __init__(self, block: BlockState, time_ms: int = 0) -> None:
        self.block = block
        self.time_ms = time_ms  # the block's BFT time (0: not in a block, e.g. a query)
        self.writes: dict[tuple[str, bytes], bytes | None] = {}

    def get_raw(self, contract: str, key: bytes) -> bytes | None:
        k = (contract, key)
        if k in self.writes:
            return self.writes[k]
        return self.block.state_get(contract, key)

    def get(self, contract: str, key: object, default: object = None) -> object:
        raw = self.get_raw(contract, codec.encode(key))
        return default if raw is None else codec.decode(raw)

    def get_at(self, contract: str, key: bytes, default: object = None) -> object:
        """get() under an already encoded key (a caller that reads, then writes, one key)."""
        raw = self.get_raw(contract, key)
        return default if raw is None else codec.decode(raw)

    def set_at(self, contract: str, key: bytes, value: object) -> None:
        """set() under an already encoded key."""
        self.writes[(contract, key)] = codec.encode(value)

    def set(self, contract: str, key: object, value: object) -> None:
        self.writes[(contract, codec.encode(key))] = codec.encode(value)

    def delete(self, contract: str, key: object) -> None:
        self.writes[(contract, codec.encode(key))] = None

    def commit(self) -> None:
        self.block.merge(sorted(self.writes.items()))
        self.writes.clear()
