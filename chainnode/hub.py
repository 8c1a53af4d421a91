"""What the node tells clients about commits: `?wait=commit` waiters and /events subscribers.

On stop the hub is closed first: every pending waiter is answered at once with UNAVAILABLE
("node stopping", HTTP 503) and every subscriber gets an end marker, so the RPC server has no
request left that waits for a commit that can no longer come (a stop used to sit out each
client's `timeout`, up to 300 s).
"""

from __future__ import annotations

import asyncio

from chainnode.core.block import Block, Receipt
from chainnode.errors import UNAVAILABLE, ChainError

SUBSCRIBER_QUEUE = 10_000  # blocks buffered per /events subscriber before it misses some
CLOSED = None  # the end marker a subscriber's queue receives when the hub closes


class CommitHub:
    """Tells waiting clients and event subscribers what was committed."""

    def __init__(self) -> None:
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        self.subscribers: list[asyncio.Queue] = []
        self.closed_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    def _closed_error(self) -> ChainError:
        return ChainError(UNAVAILABLE, self.closed_reason or "node stopping")

    def wait_for(self, tx_hash: bytes) -> asyncio.Future:
        """A future for `tx_hash`'s commit; raises UNAVAILABLE once the hub is closed."""
        if self.closed:
            raise self._closed_error()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        return fut

    def pending(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    def cancel(self, tx_hash: bytes, fut: asyncio.Future) -> None:
        lst = self._waiters.get(tx_hash)
        if lst and fut in lst:
            lst.remove(fut)
            if not lst:
                del self._waiters[tx_hash]

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
        for tx, rc in zip(block.txs, receipts, strict=True):
            for fut in self._waiters.pop(tx.hash, []):
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
        for futs in waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.set_exception(self._closed_error())
                    fut.exception()  # retrieved: a handler already gone must not log it
                    answered += 1
        for q in list(self.subscribers):
            q.put_nowait(CLOSED)
        return answered
