"""Batched transaction forwarding between validators.

A validator that admits a client's transaction forwards it to the other validators so that
whichever one leads can propose it. One frame per transaction costs a frame encode, a queue
entry and a socket write per peer on the sender, and a frame decode and dispatch on each
receiver. `TxBatcher` coalesces the transactions admitted during one loop iteration (or a
short linger) into one `txs` frame carrying many, bounded in count and bytes; the sender
calls `add` in admission order and a batch keeps that order.

`ForwardedTxs` is the receiving side. One link is one ordered source: each batch is handed to
admission whole, in its order (it takes one arrival turn when it starts,
chainnode.admission_order), batch after batch: one task per batch, not per transaction. A hostile peer's batch costs a bounded
amount: the frame size is capped by the framing layer, the count here, and a batch that is
not a list of distinct byte strings is refused whole before anything is decoded. Once a peer
is penalised for an invalid transaction, its other batches still waiting are cancelled, so
its later batches of bad signatures do not keep the verify pool busy.

Wire: `txs` replaced the single-transaction `tx` message in protocol version 2 (the
handshake refuses a version-1 peer): a testnet is upgraded as a whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger("chainnode.net.forward")

TX_BATCH = "txs"
MAX_BATCH_TXS = 1024  # a received batch holding more is misbehaviour


@dataclass(frozen=True)
class BatchLimits:
    """When the sender closes a batch: whichever of these comes first."""

    max_txs: int = 256
    max_bytes: int = 1024 * 1024
    linger: float = 0.002  # seconds after the first tx; 0: at the end of this loop iteration

    def __post_init__(self) -> None:
        if not 1 <= self.max_txs <= MAX_BATCH_TXS:
            raise ValueError(f"max_txs must be 1..{MAX_BATCH_TXS}")
        if self.max_bytes < 1 or self.linger < 0:
            raise ValueError("max_bytes must be positive and linger not negative")


class TxBatcher:
    """Collects encoded transactions and hands them to `send` as ordered batches."""

    def __init__(self, send: Callable[[list[bytes]], object],
                 limits: BatchLimits | None = None) -> None:
        self.send = send
        self.limits = limits or BatchLimits()
        self._pending: list[bytes] = []
        self._bytes = 0
        self._timer: asyncio.Handle | None = None
        self.batches = 0  # batches sent (for the bench and tests)
        self.txs = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, raw: bytes) -> None:
        """Queue one encoded tx; it is sent at the latest after `limits.linger`."""
        lim = self.limits
        if self._pending and self._bytes + len(raw) > lim.max_bytes:
            self.flush()
        self._pending.append(raw)
        self._bytes += len(raw)
        if len(self._pending) >= lim.max_txs:
            self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = (loop.call_later(lim.linger, self.flush) if lim.linger > 0
                           else loop.call_soon(self.flush))

    def flush(self) -> None:
        """Send what is queued now (also called when the node stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._bytes = self._pending, [], 0
        if batch:
            self.batches += 1
            self.txs += len(batch)
            try:
                self.send(batch)
            except Exception:
                logger.exception("forwarding a batch of %d txs failed", len(batch))


def chunks(raws: list[bytes], limits: BatchLimits) -> list[list[bytes]]:
    """Split encoded txs into batches within `limits` (order kept), e.g. for a reconnect."""
    out: list[list[bytes]] = []
    cur: list[bytes] = []
    size = 0
    for raw in raws:
        if cur and (len(cur) >= limits.max_txs or size + len(raw) > limits.max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(raw)
        size += len(raw)
    if cur:
        out.append(cur)
    return out


def check_batch(payload: object, max_txs: int = MAX_BATCH_TXS) -> list[bytes] | str:
    """The batch's encoded txs, or why an honest peer would never have sent it."""
    if type(payload) is not list:
        return "tx batch is not a list"
    if not payload:
        return "empty tx batch"
    if len(payload) > max_txs:
        return f"tx batch of {len(payload)} txs exceeds {max_txs}"
    if any(type(raw) is not bytes for raw in payload):
        return "tx batch holds an item that is not bytes"
    if len(set(payload)) != len(payload):
        return "tx batch repeats a transaction"
    return payload


Admit = Callable[[bytes, list[bytes]], Awaitable[None]]


class ForwardedTxs:
    """Admits peers' batches concurrently, in order per peer, with a bound on work in flight."""

    def __init__(self, admit: Admit, max_in_flight: int) -> None:
        self.admit = admit  # admit(peer, raws): decode and add to the pool with source = peer
        self.max_in_flight = max_in_flight
        # one peer's share: a few hostile validators cannot take the whole budget from the rest
        self.max_per_peer = max(MAX_BATCH_TXS, max_in_flight // 4)
        self._tasks: dict[bytes, dict[asyncio.Task, int]] = {}  # peer -> batch task -> txs
        self._per_peer: dict[bytes, int] = {}  # txs in flight per peer
        self._count = 0
        self.dropped = 0  # txs not admitted because too many were in flight
        self.closed = False

    def close(self) -> None:
        """The node is stopping: batches arriving from now on are dropped, so no admission
        starts after the stop collected the running ones (it would outlive the store)."""
        self.closed = True

    def __len__(self) -> int:
        """Admissions (txs) in flight, all peers."""
        return self._count

    def tasks(self) -> list[asyncio.Task]:
        return [t for ts in self._tasks.values() for t in ts]

    def on_batch(self, peer: bytes, payload: object) -> str | None:
        """Start admitting a batch in order; returns a misbehaviour reason or None.

        A full in-flight budget, or the peer's full share of it, drops the whole batch (never
        a part of it, which would leave a gap in the peer's order): the origin keeps the txs
        and they reach a leader from there."""
        if self.closed:
            return None
        raws = check_batch(payload)
        if isinstance(raws, str):
            return raws
        n = len(raws)
        if (self._count + n > self.max_in_flight
                or self._per_peer.get(peer, 0) + n > self.max_per_peer):
            self.dropped += n
            logger.debug("dropping a forwarded batch of %d txs from %s…: %d admissions in "
                         "flight", n, peer[:4].hex(), self._count)
            return None
        t = asyncio.get_running_loop().create_task(self.admit(peer, raws))
        self._tasks.setdefault(peer, {})[t] = n
        self._per_peer[peer] = self._per_peer.get(peer, 0) + n
        self._count += n
        t.add_done_callback(lambda t, peer=peer: self._done(peer, t))
        return None

    def forget(self, peer: bytes) -> int:
        """The peer was penalised: cancel its admissions not yet done (except the caller's own
        batch); returns how many txs they held."""
        me = asyncio.current_task()
        cancelled = 0
        for t, n in list(self._tasks.get(peer, {}).items()):
            if t is not me and not t.done():
                t.cancel()
                cancelled += n
        if cancelled:
            logger.info("cancelled %d pending admissions from penalised peer %s…", cancelled,
                        peer[:4].hex())
        return cancelled

    def _done(self, peer: bytes, task: asyncio.Task) -> None:
        mine = self._tasks.get(peer)
        n = mine.pop(task, 0) if mine is not None else 0
        self._count -= n
        left = self._per_peer.get(peer, 0) - n
        if left > 0:
            self._per_peer[peer] = left
        else:
            self._per_peer.pop(peer, None)
        if mine is not None and not mine:
            del self._tasks[peer]
