"""Per-source arrival order for mempool admission.

Signatures are verified in parallel, so they finish in any order; a sender who sends tx1 then
tx2 over one ordered channel (one peer link, one /txs batch) must still see tx1 enter the pool
first, or ordered protocols on top (per-channel packet sequences) fail. Each admission takes a
turn at arrival; it may verify at once but inserts only after the turn before it from the same
source has inserted or given up. A turn lives only while its admission is in flight, so the
memory is bounded by the in-flight admission limit, and an idle source costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class Turn:
    """One admission's place in its source's queue."""

    __slots__ = ("_order", "_source", "_prev", "_done")

    def __init__(self, order: ArrivalOrder, source: Hashable | None,
                 prev: asyncio.Future | None, done: asyncio.Future | None) -> None:
        self._order = order
        self._source = source
        self._prev = prev
        self._done = done

    async def wait(self) -> None:
        """Until every earlier admission of this source has inserted or given up."""
        if self._prev is not None and not self._prev.done():
            # shield: a cancelled waiter must not cancel the turn it waits for
            await asyncio.shield(self._prev)

    def release(self) -> None:
        """Inserted or given up: later turns may proceed once the earlier ones have too.

        A turn released early (rejected, cancelled) passes its place on only when the turn
        before it is done, so a gap never lets a later tx overtake an earlier one."""
        done = self._done
        if done is None or done.done():
            return
        prev = self._prev
        if prev is None or prev.done():
            done.set_result(None)
        else:
            prev.add_done_callback(lambda _f: done.done() or done.set_result(None))
        self._order._released(self._source, done)


class ArrivalOrder:
    """Hands out turns per source; `source=None` means unordered (no turn to wait for)."""

    def __init__(self) -> None:
        self._tail: dict[Hashable, asyncio.Future] = {}

    def __len__(self) -> int:
        """Sources with an admission in flight."""
        return len(self._tail)

    def enter(self, source: Hashable | None) -> Turn:
        """Take the next turn of `source`, at arrival (before anything awaits)."""
        if source is None:
            return Turn(self, None, None, None)
        done = asyncio.get_running_loop().create_future()
        prev = self._tail.get(source)
        self._tail[source] = done
        return Turn(self, source, prev, done)

    def _released(self, source: Hashable | None, done: asyncio.Future) -> None:
        if self._tail.get(source) is done:
            # the last turn of this source: once it is done nothing can wait on it
            if done.done():
                del self._tail[source]
            else:
                done.add_done_callback(lambda _f: self._forget(source, done))

    def _forget(self, source: Hashable, done: asyncio.Future) -> None:
        if self._tail.get(source) is done:
            del self._tail[source]
