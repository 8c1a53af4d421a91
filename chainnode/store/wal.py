"""The consensus write-ahead log: opaque records the PBFT core asks to keep across crashes.

The core decides what the records mean (chainnode.consensus.state); this module only stores
them under one key prefix of the node's LevelDB, each Persist action as one synced
WriteBatch, so a vote is on disk before the message carrying it leaves the node. The store
layer does not import consensus: the shell passes `Persist.puts` / `Persist.deletes` in.
A write error raises StorageFailure and latches the handle's guard (shared with the ChainDB
on the same handle), so no later WAL or block write can "succeed" into a torn log.

    wal = ConsensusWAL(db, guard)           # db: plyvel.DB of the node home
    core = ConsensusCore(..., records=wal.load())
    for act in core.handle(ev):
        if isinstance(act, Persist):
            wal.apply(act.puts, act.deletes)  # returns after fsync
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chainnode.store.failure import WriteGuard

PREFIX = b"w/"


def _check(puts: Iterable[tuple[bytes, bytes]],
           deletes: Iterable[bytes]) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    puts, deletes = list(puts), list(deletes)
    for k, v in puts:
        if type(k) is not bytes or not k or type(v) is not bytes:
            raise TypeError("WAL records are non-empty bytes keys with bytes values")
    for k in deletes:
        if type(k) is not bytes or not k:
            raise TypeError("WAL keys are non-empty bytes")
    return puts, deletes


class ConsensusWAL:
    """WAL records under `prefix` in a plyvel DB; every `apply` is one synced batch."""

    def __init__(self, db: Any, prefix: bytes = PREFIX, guard: WriteGuard | None = None) -> None:
        self._db = db.prefixed_db(prefix)
        self.guard = guard if guard is not None else WriteGuard()

    def apply(self, puts: Iterable[tuple[bytes, bytes]], deletes: Iterable[bytes] = ()) -> None:
        puts, deletes = _check(puts, deletes)
        wb = self._db.write_batch(sync=True)
        for k in deletes:
            wb.delete(k)
        for k, v in puts:
            wb.put(k, v)
        self.guard.write("consensus WAL write", wb.write)

    def load(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self._db.iterator()}

    def clear(self) -> None:
        self.apply((), list(self.load()))


class MemoryWAL:
    """The same interface over a dict, for the simulator and unit tests."""

    def __init__(self) -> None:
        self._records: dict[bytes, bytes] = {}
        self.writes = 0  # batches applied, for tests that count synced writes

    def apply(self, puts: Iterable[tuple[bytes, bytes]], deletes: Iterable[bytes] = ()) -> None:
        puts, deletes = _check(puts, deletes)
        for k in deletes:
            self._records.pop(k, None)
        for k, v in puts:
            self._records[k] = v
        self.writes += 1

    def load(self) -> dict[bytes, bytes]:
        return dict(self._records)

    def clear(self) -> None:
        self._records.clear()
