"""Where POST /query runs: its own worker threads, bounded, timed, on a consistent snapshot.

Queries are not consensus, so unlike transactions they may be cut by the wall clock. What this
module guarantees, so that no query (or flood of them) can stall block execution:
- queries never run on the block-execution thread: `query_workers` threads of their own;
- at most `query_max_inflight` queries are running or waiting; one more gets 429 QUERY_BUSY,
  and a slot is freed only when its worker has really finished (not when the client gave up);
- each query has a gas cap (`query_gas_limit`, far below the chain's tx cap) and a wall-clock
  limit (`query_timeout_ms`) checked inside the VM's meter;
- each reads one LevelDB snapshot, so a block committed meanwhile is seen entirely or not at
  all;
- signed queries are fresh (within `query_auth_window_ms` of this node's clock) and used once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.store.db import HEAD_KEY, P_STATE, state_key_hash

MAX_REPLAY_ENTRIES = 200_000


@dataclass(frozen=True)
class QueryLimits:
    gas_limit: int = 2_000_000
    timeout_ms: int = 2_000
    workers: int = 1
    max_inflight: int = 64
    max_body_bytes: int = 256 * 1024
    auth_window_ms: int = 60_000

    @classmethod
    def from_config(cls, cfg: Any) -> QueryLimits:
        if cfg is None:
            return cls()
        return cls(cfg.query_gas_limit, cfg.query_timeout_ms, cfg.query_workers,
                   cfg.query_max_inflight, cfg.query_max_body_bytes, cfg.query_auth_window_ms)


class SnapshotState:
    """A StateReader over one LevelDB snapshot of the chain database."""

    def __init__(self, chaindb: Any) -> None:
        self.snap = chaindb.db.snapshot()

    def head_height(self) -> int:
        raw = self.snap.get(HEAD_KEY)
        return 0 if raw is None else codec.decode(raw)[0]

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        raw = self.snap.get(P_STATE + state_key_hash(contract, key))
        return None if raw is None else codec.decode(raw)[2]

    def close(self) -> None:
        self.snap.close()


class ReplayGuard:
    """Signatures of accepted signed queries, remembered until they could no longer be fresh."""

    def __init__(self, window_ms: int, max_entries: int = MAX_REPLAY_ENTRIES) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, int] = OrderedDict()  # signature -> forget after (ms)
        self._lock = threading.Lock()

    def fresh(self, time_ms: int, now_ms: int) -> bool:
        return abs(now_ms - time_ms) <= self.window_ms

    def first_use(self, signature: bytes, time_ms: int, now_ms: int) -> bool:
        """True the first time; False for a replay. When full, refuses new entries rather than
        forgetting live ones (a forgotten signature could be replayed)."""
        with self._lock:
            while self._seen:
                sig, until = next(iter(self._seen.items()))
                if until >= now_ms:
                    break
                del self._seen[sig]
            if signature in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                return False
            # insertion order = expiry order, as every entry lives one window past its time
            self._seen[signature] = max(time_ms, now_ms) + self.window_ms
            return True


class QueryGate:
    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="query")
        self.replay = ReplayGuard(limits.auth_window_ms)
        self._inflight = 0
        self._lock = threading.Lock()
        self.busy_rejections = 0

    @property
    def inflight(self) -> int:
        return self._inflight

    def try_enter(self) -> bool:
        with self._lock:
            if self._inflight >= self.limits.max_inflight:
                self.busy_rejections += 1
                return False
            self._inflight += 1
            return True

    def leave(self, _fut: Any = None) -> None:
        with self._lock:
            self._inflight -= 1

    def submit(self, fn, *args) -> Future:
        """Run `fn(*args)` on a query worker; the slot taken by try_enter is given back when
        the worker is done with it, however the HTTP side fared."""
        try:
            fut = self.pool.submit(fn, *args)
        except RuntimeError:  # shut down
            self.leave()
            raise
        fut.add_done_callback(self.leave)
        return fut

    def deadline(self) -> float:
        return time.monotonic() + self.limits.timeout_ms / 1000

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
