"""The asyncio shell around the sans-IO PBFT core.

Events go through one queue and are handled one at a time; the actions the core returns run in
order, so a Persist is durable before the Send after it. Slow actions (build, validate, commit,
catch up) run as tasks whose answers come back through the same queue, so the core never waits
on I/O and never runs two events at once.

Persists that follow each other with no other action between are written as one synced batch
(nothing left the node between them, so all-or-none after a crash is a state a crash just
before the first of them leaves today). A Persist that only deletes (the records of a height
just committed, say) is held until the next WAL write or the next action that is seen outside
the node (`_HOLD_PAST` lists the ones that are not): a crash meanwhile leaves the records as
they were before it, the state a crash just before that Persist leaves today.

A Persist that fails aborts the rest of its action list and stops the driver for good: the core
now believes in votes the WAL does not hold, so nothing it says afterwards may leave the node.
The same holds once any write to the node's database failed (the guard is shared): the node is
stopping with EXIT_STORAGE_FAILURE (Node.storage_failed) and consensus says nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from chainnode.chain import Executed
from chainnode.consensus import actions as A
from chainnode.consensus import events as E
from chainnode.consensus.messages import decode_message, encode_message
from chainnode.core.block import Block
from chainnode.exec.executor import STORAGE_FAULTS, InvalidBlock
from chainnode.metrics import NodeMetrics
from chainnode.reconfig import sender_keys
from chainnode.store.failure import StorageFailure

log = logging.getLogger("chainnode.consensus")

MSG = "pbft"
# actions that neither leave the node nor write anything durable: a deletes-only Persist may
# wait past them for the next WAL write
_HOLD_PAST = (A.SetTimer, A.CancelTimer, A.BuildProposal, A.ValidateBlock)
LATE_TIMER_S = 1.0  # a timer this late (and later than its own delay) means we were frozen
PAUSE_GRACE_S = 1.0  # then wait this long for the messages that queued up meanwhile
# a proposal's txs still in admission here: how long to wait for their signature checks
# before checking them a second time (a fraction of any view timeout)
ADMISSION_WAIT_S = 0.2


class VerifiedSignatures:
    """The core's verifier, fronted by the signature checks the shell already made.

    A peer's consensus message is verified in a thread pool before it reaches the core (so
    SM2 stays off the event loop and a bad signature can be blamed on the peer that sent it);
    the core's check of that same signature is then a lookup. Bounded: oldest forgotten first.
    """

    def __init__(self, verify: Callable[[bytes, str, bytes, bytes], bool],
                 size: int = 4096) -> None:
        self.verify = verify
        self.size = size
        self._ok: OrderedDict[tuple[bytes, str, bytes, bytes], None] = OrderedDict()

    def remember(self, check: tuple[bytes, str, bytes, bytes]) -> None:
        self._ok[check] = None
        if len(self._ok) > self.size:
            self._ok.popitem(last=False)

    def __call__(self, member: bytes, dom: str, payload: bytes, sig: bytes) -> bool:
        if (member, dom, payload, sig) in self._ok:
            return True
        return self.verify(member, dom, payload, sig)


def _merged(persists: list[A.Persist]) -> A.Persist:
    """One Persist with the effect of applying `persists` in order (the last word on a key
    wins), for one batch: nobody sees the records between them."""
    final: dict[bytes, bytes | None] = {}
    for p in persists:
        for k in p.deletes:
            final[k] = None
        final.update(p.puts)
    return A.Persist(tuple(sorted((k, v) for k, v in final.items() if v is not None)),
                     tuple(sorted(k for k, v in final.items() if v is None)))


class ConsensusDriver:
    def __init__(self, node, core, wal, *, send: Callable[[int | None, str, object],
                                                          Awaitable[None]],
                 verified: VerifiedSignatures | None = None) -> None:
        self.node = node
        self.core = core
        self.wal = wal
        self.send = send
        self.verified = verified
        self.queue: asyncio.Queue = asyncio.Queue()
        self._timer: asyncio.TimerHandle | None = None
        self._executed: dict[bytes, Executed] = {}
        self._build_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.running = False
        self.failed: StorageFailure | None = None  # the failed Persist that stopped consensus
        self._held: list[A.Persist] = []  # Persists not yet written, in order
        self.metrics = getattr(node, "metrics", None) or NodeMetrics()  # phase times, views

    # -- inputs
    def post(self, event) -> None:
        self.queue.put_nowait(event)

    async def on_message(self, peer_index: int | None, payload: object) -> str | None:
        """A consensus frame from a peer; returns a misbehaviour reason or None.

        The sender's signature is checked here, off the event loop: honest nodes only send
        or relay messages whose signature verifies, so one that does not (forged, corrupted,
        signed in another domain) convicts the peer that sent it (DESIGN §8).
        """
        if not isinstance(payload, bytes):
            return "consensus payload is not bytes"
        try:
            msg = decode_message(payload)
        except (ValueError, TypeError) as exc:
            return f"undecodable consensus message: {exc}"
        rest = (msg.DOMAIN, msg.signing_payload(self.core.cfg.chain_id), msg.signature)
        check = None
        for key in sender_keys(self.node.chain, msg):  # the set of its height first
            if await asyncio.get_running_loop().run_in_executor(
                    self.node.block_verify_pool, self.node.chain.verify_member, key, *rest):
                check = (key, *rest)
                break
        if check is None:
            return (f"{msg.KIND} for view {msg.view} claiming validator {msg.sender} has a "
                    "bad signature")
        if self.verified is not None:
            self.verified.remember(check)
        self.post(E.MessageReceived(msg))
        return None

    async def run(self) -> None:
        self.running = True
        self.post(E.Start())
        while True:
            event = await self.queue.get()
            if self._store_failed():
                return
            view_before = self.core.view
            try:
                out = self.core.handle(event)
            except Exception:
                log.exception("consensus core failed on %s", type(event).__name__)
                continue
            if self.core.view != view_before:
                log.info("view %d -> %d at height %d (leader now validator %d)", view_before,
                         self.core.view, self.core.height, self.core.leader)
                self.metrics.view_changed()
            for action in out:
                self.metrics.consensus_action(action)
                if self._store_failed():
                    return
                if isinstance(action, A.Persist):
                    self._held.append(action)  # written with the next ones, before any Send
                    continue
                if self._held and not (self._deletes_only() and isinstance(action, _HOLD_PAST)):
                    if not await self._write_held():
                        return  # never Send (or do anything else) after a failed Persist
                try:
                    await self._do(action)
                except StorageFailure:
                    continue  # a block write failed: the node is stopping (storage_failed)
                except Exception:
                    log.exception("consensus action %s failed", type(action).__name__)
            if self._held and not self._deletes_only():
                if not await self._write_held():
                    return

    def _deletes_only(self) -> bool:
        return not any(p.puts for p in self._held)

    async def _write_held(self) -> bool:
        """Write the held Persists as one synced batch (False: it failed, consensus stopped)."""
        held, self._held = self._held, []
        return await self._persist(held[0] if len(held) == 1 else _merged(held))

    def _store_failed(self) -> bool:
        guard = getattr(self.wal, "guard", None)
        return self.failed is not None or (guard is not None and guard.failure is not None)

    async def _persist(self, a: A.Persist) -> bool:
        """Write a Persist to the WAL; on failure stop consensus and the node (False)."""
        try:
            await self.node.run_exec(self.wal.apply, a.puts, a.deletes)
            return True
        except Exception as exc:  # noqa: BLE001 - any failed Persist breaks persist-before-send
            failure = exc if isinstance(exc, StorageFailure) else StorageFailure(
                "consensus WAL write", exc)
            self.failed = failure
            log.critical("consensus stopped: %s; the rest of this action list is dropped",
                         failure)
            self.running = False
            await self.stop()
            self.node.storage_failed(failure)
            return False

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        for t in list(self._tasks):
            t.cancel()

    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # -- actions
    async def _do(self, a) -> None:
        if isinstance(a, A.Persist):
            self._held.append(a)
            if not await self._write_held():
                raise self.failed
        elif isinstance(a, A.Send):
            await self.send(a.to, MSG, encode_message(a.message))
        elif isinstance(a, A.SetTimer):
            self._set_timer(a.token, a.delay_ms / 1000)
        elif isinstance(a, A.CancelTimer):
            if self._timer:
                self._timer.cancel()
                self._timer = None
        elif isinstance(a, A.BuildProposal):
            if self._build_task and not self._build_task.done():
                self._build_task.cancel()
            self._build_task = self._spawn(self._build(a.height, a.view))
        elif isinstance(a, A.ValidateBlock):
            self._spawn(self._validate(a))
        elif isinstance(a, A.CommitBlock):
            self._spawn(self._commit(a))
        elif isinstance(a, A.GrowCertificate):
            await self.node.run_exec(self.node.db.grow_certificate, a.certificate)
        elif isinstance(a, A.CatchUp):
            log.info("consensus evidence: network is at height >= %d; catching up", a.height)
            self._spawn(self._catch_up(a.height))
        else:
            log.error("unknown consensus action %r", a)

    def _set_timer(self, token: int, delay: float) -> None:
        if self._timer:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._timer_due, token, loop.time() + delay, delay)

    def _timer_due(self, token: int, deadline: float, delay: float,
                   deferred: bool = False) -> None:
        """Deliver TimerFired, unless this process was frozen past the deadline (SIGSTOP, a
        stalled VM): then the network's messages of that time are still unread, and firing
        first would suspect a leader that has been working all along. Give them a short
        grace to arrive (the core then catches up instead of changing view). Once only: an
        event loop that is simply overloaded still gets its timer."""
        loop = asyncio.get_running_loop()
        late = loop.time() - deadline
        if not deferred and late > max(LATE_TIMER_S, delay):
            log.info("consensus timer fired %.1f s late (was this process paused?); "
                     "reading the network before acting on it", late)
            grace = min(delay, PAUSE_GRACE_S)
            self._timer = loop.call_later(grace, self._timer_due, token, loop.time() + grace,
                                          grace, True)
            return
        self._timer = None
        self.post(E.TimerFired(token))

    async def _build(self, height: int, view: int) -> None:
        """Propose a block for (height, view); this loop never dies on a transaction.

        A build that fails evicts what made it fail (InvalidBlock: the batch it names; any
        other error: the one transaction found by re-building prefixes of the batch) and the
        round goes on with the rest of the mempool."""
        node = self.node
        failures = 0
        while True:
            txs = await self._take(height)
            if txs is None:
                return
            try:
                ex = await node.run_exec(node.chain.build, txs, view, node.index)
            except asyncio.CancelledError:
                raise
            except InvalidBlock as exc:
                # only what can never be in this block (expired, committed meanwhile...)
                bad = self._invalid_now(txs, height)
                if not bad:
                    culprit = await self._culprit(txs, view)
                    bad = [culprit] if culprit is not None else list(txs)
                log.warning("could not build block %d: %s; dropping %d of its %d transactions",
                            height, exc, len(bad), len(txs))
                node.mempool.remove(tx.hash for tx in bad)
            except Exception as exc:  # noqa: BLE001 - the proposer must survive anything
                failures += 1
                # a failing disk is not a transaction's fault: evict nothing, retry later
                bad = None if isinstance(exc, STORAGE_FAULTS) else await self._culprit(txs, view)
                log.error("building block %d failed (%s: %s); evicting tx %s", height,
                          type(exc).__name__, exc, bad.hash.hex() if bad else "(none)",
                          exc_info=exc)
                if bad is not None:
                    node.mempool.remove([bad.hash])
                else:  # not any transaction's fault: back off instead of spinning
                    await asyncio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)))
            else:
                self._executed[ex.block.hash] = ex
                self.post(E.ProposalReady(height, view, ex.block.hash, ex.encoded()))
                return

    async def _take(self, height: int) -> list | None:
        """Wait for work and take a batch; None once `height` is no longer the next one."""
        node = self.node
        g = node.chain  # state-backed parameters: a decided set-param governs the next block
        interval = g.param("block_interval_ms")
        while True:
            while not g.param("empty_blocks"):
                if node.chain.head.height + 1 != height:
                    return None
                if len(node.mempool):
                    break
                await node.mempool.wait_nonempty()
            if interval:
                await asyncio.sleep(interval / 1000)
            txs = node.mempool.take(g.param("max_block_txs"), g.param("max_block_bytes"),
                                    g.param("block_gas_limit"))
            txs, refused = g.split_admissible(txs)
            if refused:  # admitted under older params (governance lowered a limit since)
                log.warning("dropping %d queued txs the live chain params refuse", len(refused))
                node.mempool.remove(tx.hash for tx in refused)
            if node.chain.head.height + 1 != height:
                return None
            if txs or g.param("empty_blocks"):
                return txs
            # everything taken had expired (take() dropped it): wait for real work again

    def _invalid_now(self, txs: list, height: int) -> list:
        """The transactions that fail the executor's static per-tx checks at `height`."""
        chain = self.node.chain
        bad = []
        for tx in txs:
            try:
                chain.executor.check_tx_static(tx, height, chain.is_committed, chain.params)
            except InvalidBlock:
                bad.append(tx)
        return bad

    async def _culprit(self, txs: list, view: int):
        """The transaction whose inclusion makes a build fail: the last of the shortest
        failing prefix (builds do not commit, so trying prefixes is harmless)."""
        if not txs:
            return None
        node = self.node

        async def builds(prefix: list) -> bool:
            try:
                await node.run_exec(node.chain.build, prefix, view, node.index)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                return False
            return True

        if not await builds([]):
            return None
        lo, hi = 0, len(txs)  # prefix lo builds, prefix hi fails
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if await builds(txs[:mid]):
                lo = mid
            else:
                hi = mid
        return txs[hi - 1]

    def _decode(self, body: bytes) -> Block:
        """A proposed or certified body; its txs this node admitted are reused, not decoded
        again (looked up by their exact bytes: chainnode.mempool.Mempool.lookup_wire)."""
        return Block.decode(body, lookup=self.node.mempool.lookup_wire)

    async def _unverified(self, txs) -> list:
        """The txs whose signatures this node has not verified yet. Those still in admission
        (a forwarded batch racing the proposal) are being verified right now: wait a little
        for that rather than verify them twice; whatever it did not verify is verified here."""
        pool = self.node.mempool
        todo = [tx for tx in txs if not pool.was_verified(tx.hash, tx.signature)]
        if todo:
            settling = {f for tx in todo if (f := pool.admitting(tx.hash)) is not None}
            if settling:
                await asyncio.wait(settling, timeout=ADMISSION_WAIT_S)  # never cancels them
                todo = [tx for tx in todo if not pool.was_verified(tx.hash, tx.signature)]
        return todo

    async def _validate(self, a: A.ValidateBlock) -> None:
        node = self.node
        valid = False
        try:
            block = self._decode(a.block)
            if block.hash != a.block_hash or block.height != a.height:
                raise InvalidBlock("block does not match its pre-prepare")
            done = self._executed.get(a.block_hash)
            if done is not None and done.encoded() == bytes(a.block):
                # the very body we executed: a body under the same header but with other
                # tx bytes (a re-proposal with swapped signatures) is validated in full,
                # which refuses it (tx_root), instead of being marked valid in the core
                valid = True
            else:
                ok = await node.verify_txs(await self._unverified(block.txs))
                ex = await node.run_exec(node.chain.validate, block,
                                         lambda tx: ok.get(tx.hash, True), False,
                                         self.verified)
                self._executed[block.hash] = ex.with_bytes(bytes(a.block))
                valid = True
        except (InvalidBlock, ValueError) as exc:
            if self._already_committed(a.height, "validating"):
                return
            log.warning("rejecting proposed block %d view %d: %s", a.height, a.view, exc)
        self.post(E.BlockValidated(a.height, a.view, a.block_hash, valid))

    def _already_committed(self, height: int, doing: str) -> bool:
        """Sync may commit a height while we validate or commit it (a benign race): then
        the answer is "already committed", never "invalid". Tell the core where the head is
        (a SyncedTo for the head; the sync task will post its own too)."""
        head = self.node.chain.head
        if head.height < height:
            return False
        log.info("block %d was committed by sync while %s it", height, doing)
        cert = self.node.db.certificate(head.height)
        if cert is not None:
            self.node.reconfig.after_head_moved(self.post)
            self.post(E.SyncedTo(head.height, head.block_hash, cert))
        return True

    async def _commit(self, a: A.CommitBlock) -> None:
        node = self.node
        ex = self._executed.get(a.block_hash)
        try:
            if self._already_committed(a.height, "committing"):
                return
            if ex is None or ex.block.height != node.chain.head.height + 1:
                block = self._decode(a.block)
                if block.hash != a.block_hash:
                    raise InvalidBlock("the body to commit is not the certified block")
                # signatures unchecked: the certificate is for block.hash, and validate checks
                # the header's tx_root (leaves: each tx's hash and signature) against the body
                ex = await node.run_exec(node.chain.validate, block, lambda tx: True, True)
                ex = ex.with_bytes(bytes(a.block))
            await node.run_exec(node.chain.commit, ex, a.certificate)
        except StorageFailure:
            return  # fatal: the node is stopping; catching up would write again
        except (InvalidBlock, ValueError) as exc:
            if self._already_committed(a.height, "committing"):
                return
            log.warning("commit of block %d failed (%s); will catch up from peers", a.height,
                        exc)
            self._spawn(self._catch_up(a.height))
            return
        except Exception:
            log.exception("commit of block %d failed; will catch up from peers", a.height)
            self._spawn(self._catch_up(a.height))
            return
        self._executed.clear()
        node.after_commit(ex)
        node.reconfig.after_head_moved(self.post)  # a NewEpoch before the height it governs
        self.post(E.BlockCommitted(a.height, a.block_hash))
        self.post(E.TransactionsPending(len(node.mempool) > 0))

    async def _catch_up(self, height: int) -> None:
        node = self.node
        try:
            h = await node.sync.catch_up(height)
        except StorageFailure:
            return  # fatal: the node is stopping
        if h > 0:
            cert = node.db.certificate(h)
            self._executed.clear()
            node.reconfig.after_head_moved(self.post)
            self.post(E.SyncedTo(h, node.chain.head.block_hash, cert))
            self.post(E.TransactionsPending(len(node.mempool) > 0))
