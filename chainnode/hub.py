"""What the node tells clients about commits: `?wait=commit` waiters and /events subscribers.

On stop the hub is closed first: every pending waiter is answered at once with UNAVAILABLE
("node stopping", HTTP 503) and every subscriber gets an end marker, so the RPC server has no
request left that waits for a commit that can no longer come (a stop used to sit out each
client's `timeout`, up to 300 s).

A waiter's timeout is kept here too, in deadline slots of DEADLINE_GRAIN_S: one loop timer per
slot instead of asyncio.wait_for's timer, two futures and callbacks per request. A waiter
that times out is resolved with TIMED_OUT and dropped, never earlier than its timeout and at
most one slot later.
"""

from __future__ import annotations

import asyncio

from chainnode.core.block import Block, Receipt
from chainnode.errors import UNAVAILABLE, ChainError

SUBSCRIBER_QUEUE = 10_000  # blocks buffered per /events subscriber before it misses some
CLOSED = None  # the end marker a subscriber's queue receives when the hub closes
TIMED_OUT = object()  # what a waiter's future resolves to when its timeout passes first
DEADLINE_GRAIN_S = 0.05  # waiters whose deadlines fall in one such slot share a timer
_NO_SLOT = -1


class CommitHub:
    """Tells waiting clients and event subscribers what was committed."""

    def __init__(self) -> None:
        # per tx hash: its waiters, each with its deadline slot (_NO_SLOT: no timeout)
        self._waiters: dict[bytes, list[tuple[asyncio.Future, int]]] = {}
        self._due: dict[int, dict[asyncio.Future, bytes]] = {}  # slot -> its waiters' hashes
        self.subscribers: list[asyncio.Queue] = []
        self.closed_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    def _closed_error(self) -> ChainError:
        return ChainError(UNAVAILABLE, self.closed_reason or "node stopping")

    def wait_for(self, tx_hash: bytes) -> asyncio.Future:
        """A future for `tx_hash`'s commit: (height, receipt), or TIMED_OUT once a deadline
        set by `expire_after` has passed. Raises UNAVAILABLE once the hub is closed."""
        if self.closed:
            raise self._closed_error()
        fut = asyncio.get_running_loop().create_future()
        entries = self._waiters.get(tx_hash)
        if entries is None:
            self._waiters[tx_hash] = [(fut, _NO_SLOT)]
        else:
            entries.append((fut, _NO_SLOT))
        return fut

    def expire_after(self, tx_hash: bytes, fut: asyncio.Future, timeout: float) -> None:
        """Resolve `fut` (from wait_for) to TIMED_OUT and drop it if it is still waiting
        `timeout` seconds from now: never earlier, at most DEADLINE_GRAIN_S later."""
        entries = self._waiters.get(tx_hash)
        if not entries or fut.done():
            return  # committed already, or the hub closed
        for i, (f, _) in enumerate(entries):
            if f is fut:
                loop = asyncio.get_running_loop()
                slot = int((loop.time() + timeout) / DEADLINE_GRAIN_S) + 1
                due = self._due.get(slot)
                if due is None:
                    due = self._due[slot] = {}
                    loop.call_at(slot * DEADLINE_GRAIN_S, self._expire, slot)
                due[fut] = tx_hash
                entries[i] = (fut, slot)
                return

    def pending(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    def cancel(self, tx_hash: bytes, fut: asyncio.Future) -> None:
        """Forget one waiter (its request is answered another way)."""
        entries = self._waiters.get(tx_hash)
        if not entries:
            return
        for i, (f, slot) in enumerate(entries):
            if f is fut:
                del entries[i]
                if not entries:
                    del self._waiters[tx_hash]
                if slot != _NO_SLOT:
                    self._due.get(slot, {}).pop(fut, None)
                return

    def _expire(self, slot: int) -> None:
        due = self._due.pop(slot, None)
        if not due:
            return
        for fut, tx_hash in due.items():
            entries = self._waiters.get(tx_hash, [])
            for i, (f, _) in enumerate(entries):
                if f is fut:
                    del entries[i]
                    if not entries:
                        del self._waiters[tx_hash]
                    break
            if not fut.done():
                fut.set_result(TIMED_OUT)

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        if self.closed:
            q.put_nowait(CLOSED)
        self.subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        if q in self.subscribers:
            self.subscribers.remove(q)

    def committed(self, block: Block, receipts: tuple[Receipt, ...]) -> None:
        waiters, due = self._waiters, self._due
        for tx, rc in zip(block.txs, receipts, strict=True):
            entries = waiters.pop(tx.hash, None)
            if entries is None:
                continue
            for fut, slot in entries:
                if slot != _NO_SLOT:  # its slot must not keep the future (and receipt) alive
                    slot_waiters = due.get(slot)
                    if slot_waiters is not None:
                        slot_waiters.pop(fut, None)
                if not fut.done():
                    fut.set_result((block.height, rc))
        for q in list(self.subscribers):
            if q.qsize() < SUBSCRIBER_QUEUE:
                q.put_nowait((block, receipts))

    def close(self, reason: str = "node stopping") -> int:
        """Answer every waiter with UNAVAILABLE(reason) and end every subscription; later
        `wait_for` calls fail at once. Returns how many waiters were answered."""
        if self.closed:
            return 0
        self.closed_reason = reason
        answered = 0
        waiters, self._waiters = self._waiters, {}
        self._due.clear()  # their timers find nothing left to expire
        for entries in waiters.values():
            for fut, _ in entries:
                if not fut.done():
                    fut.set_exception(self._closed_error())
                    fut.exception()  # retrieved: a handler already gone must not log it
                    answered += 1
        for q in list(self.subscribers):
            q.put_nowait(CLOSED)
        return answered
