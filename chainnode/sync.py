"""Catch-up by certified blocks (DESIGN §8).

A node that is behind (restart, partition, late join, observer) asks peers for ranges of
blocks with their commit certificates, checks each certificate against the validator set,
re-executes the block and checks its roots, and only then commits it. A failed block write
(StorageFailure) is never retried or swallowed here: it leaves `catch_up` to the caller, and
the node stops (chainnode.store.failure). Transactions inside a
certified block are not re-verified one by one: the quorum that certified the block verified
them, and at least f+1 of those validators are honest. That vouches for the certified body
only, and a peer may send another one under the same header: `Chain.validate` always checks
the header's tx_root against the body, and its leaves cover every tx's signature bytes as
well as its hash, so a body with swapped signatures is refused (`_apply` checks it first, to
report the peer).

Wire (over the peer layer, request ids pair answers with questions):
    sync/req  [req_id, from_height, max_count]
    sync/resp [req_id, peer_head_height, [[block_bytes, certificate_bytes], ...]]
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from chainnode.chain import Chain, Executed
from chainnode.core.block import Block
from chainnode.core.certificate import CommitCertificate
from chainnode.exec.executor import InvalidBlock

log = logging.getLogger("chainnode.sync")

REQ = "sync/req"
RESP = "sync/resp"
MAX_BATCH = 32
REQUEST_TIMEOUT_S = 5.0

Send = Callable[[bytes, str, object], Awaitable[bool]]


class SyncError(Exception):
    pass


class BlockSync:
    def __init__(self, chain: Chain, send: Send, peers: Callable[[], list[bytes]],
                 run_exec: Callable[..., Awaitable], on_committed: Callable[[Executed], None],
                 report: Callable[[bytes, str], None]) -> None:
        self.chain = chain
        self.send = send
        self.peers = peers
        self.run_exec = run_exec
        self.on_committed = on_committed
        self.report = report
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[bytes, asyncio.Future]] = {}
        self._lock = asyncio.Lock()
        self.target = 0
        self.syncing = False

    # -- serving
    def serve(self, payload: object) -> list | None:
        if not (isinstance(payload, list) and len(payload) == 3
                and all(type(x) is int for x in payload)):
            return None
        req_id, start, count = payload
        head = self.chain.head.height
        out = []
        for h in range(max(start, 1), min(head, start + max(0, min(count, MAX_BATCH)) - 1) + 1):
            raw = self.chain.db.block_bytes(h)
            cert = self.chain.db.certificate(h)
            if raw is None or cert is None:
                break
            out.append([raw, cert.encode()])
        return [req_id, head, out]

    def on_response(self, peer: bytes, payload: object) -> None:
        if not (isinstance(payload, list) and len(payload) == 3 and type(payload[0]) is int):
            self.report(peer, "malformed sync response")
            return
        entry = self._pending.get(payload[0])
        if entry is None or entry[0] != peer:
            return
        if not entry[1].done():
            entry[1].set_result(payload)

    async def _ask(self, peer: bytes, start: int, count: int) -> tuple[int, list]:
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (peer, fut)
        try:
            if not await self.send(peer, REQ, [req_id, start, count]):
                raise SyncError("peer not connected")
            _, head, blocks = await asyncio.wait_for(fut, REQUEST_TIMEOUT_S)
        finally:
            self._pending.pop(req_id, None)
        if type(head) is not int or not isinstance(blocks, list):
            raise SyncError("malformed response")
        return head, blocks

    # -- fetching
    async def peer_heads(self) -> dict[bytes, int]:
        peers = self.peers()
        res = await asyncio.gather(*(self._ask(p, 0, 0) for p in peers), return_exceptions=True)
        return {p: r[0] for p, r in zip(peers, res, strict=True) if not isinstance(r, Exception)}

    async def catch_up(self, target: int | None = None) -> int:
        """Fetch and commit certified blocks until no peer is ahead (or `target` reached)."""
        async with self._lock:
            heads = await self.peer_heads()
            best = max(heads.values(), default=0)
            self.target = max(best, target or 0)
            start_h = self.chain.head.height
            if self.target <= start_h:
                return start_h
            self.syncing = True
            t0 = time.monotonic()
            last_log = t0
            log.info("syncing from height %d to %d using %d peer(s)", start_h, self.target,
                     len(heads))
            try:
                order = itertools.cycle(sorted(heads, key=lambda p: -heads[p]))
                failures = 0
                while self.chain.head.height < self.target and failures < 3 * max(1, len(heads)):
                    peer = next(order)
                    nxt = self.chain.head.height + 1
                    if heads.get(peer, 0) < nxt:
                        failures += 1
                        continue
                    try:
                        head, blocks = await self._ask(peer, nxt, MAX_BATCH)
                        heads[peer] = head
                        self.target = max(self.target, head)
                        if not blocks:
                            failures += 1
                            continue
                        await self._apply(peer, nxt, blocks)
                        failures = 0
                    except InvalidBlock:
                        failures += 1  # consensus committed that height meanwhile
                    except (SyncError, TimeoutError) as exc:
                        failures += 1
                        log.warning("sync from %s failed: %s", peer[:4].hex(), exc)
                    now = time.monotonic()
                    if now - last_log >= 2.0:
                        h = self.chain.head.height
                        log.info("sync progress: height %d / %d (%.0f blocks/s)", h,
                                 self.target, (h - start_h) / (now - t0))
                        last_log = now
            finally:
                self.syncing = False
            h = self.chain.head.height
            dt = time.monotonic() - t0
            log.info("sync done: height %d / %d, %d blocks in %.1f s (%.0f blocks/s)", h,
                     self.target, h - start_h, dt, (h - start_h) / dt if dt else 0.0)
            return h

    async def _apply(self, peer: bytes, first: int, blocks: list) -> None:
        for i, entry in enumerate(blocks):
            try:
                raw, cert_raw = entry
                block = Block.decode(raw)
                cert = CommitCertificate.decode(cert_raw)
            except (ValueError, TypeError) as exc:
                self.report(peer, f"undecodable synced block: {exc}")
                raise SyncError("undecodable block") from exc
            if block.height != first + i:
                self.report(peer, "synced block out of order")
                raise SyncError("out of order")
            try:
                self.chain.check_certificate(cert, block.height, block.hash)
            except ValueError as exc:
                self.report(peer, f"synced block {block.height} has a bad certificate: {exc}")
                raise SyncError(f"bad certificate: {exc}") from exc
            if block.computed_tx_root() != block.header.tx_root:
                # the header is certified but the body is not the one it names (other txs, or
                # the same tx hashes with other signature bytes): the peer's doing, not a race
                # with consensus; validate would refuse it too, without naming the peer
                self.report(peer, f"synced block {block.height}'s body does not match its "
                            "certified tx_root")
                raise SyncError("body does not match the certified header")
            ex = await self.run_exec(self._validate_and_commit, block, cert)
            self.on_committed(ex)

    def _validate_and_commit(self, block: Block, cert: CommitCertificate) -> Executed:
        # signatures unchecked: `cert` certifies block.hash, whose tx_root (checked against
        # the body inside validate, on every path) commits to each tx's signature
        ex = self.chain.validate(block, lambda tx: True, certified=True)
        self.chain.commit(ex, cert)
        return ex
