"""Pending transactions: admission, dedupe, replay window, bounds.

Admission order is cheapest first — size, decode, chain id, expiry window, duplicate/replay,
membership, quotas — and SM2 verification last, in a thread pool (Tongsuo releases the GIL), so
garbage never costs a signature check and the event loop never blocks on one. Checks are batched
(chainnode.verify_batch): one job per loop iteration's worth of txs, optionally in processes. A tx is verified
once per node: block validation asks `was_verified` and re-verifies only what the pool never saw
(by hash and signature bytes: the hash covers the body only, so a copy of a verified tx with
other signature bytes is not verified).

Transactions from one ordered source (a peer link, a /txs batch) enter the pool in arrival order
although their signatures are checked in parallel (chainnode.admission_order); `take` hands them
to the proposer in pool order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Executor

from chainnode.admission_order import ArrivalOrder
from chainnode.core.tx import Transaction
from chainnode.errors import (
    MEMPOOL_FULL,
    SENDER_QUOTA,
    TX_BAD_SIGNATURE,
    TX_DUPLICATE,
    TX_EXPIRED,
    TX_EXPIRY_TOO_FAR,
    TX_GAS_LIMIT,
    TX_NOT_MEMBER,
    TX_REPLAY,
    TX_WRONG_CHAIN,
    ChainError,
)
from chainnode.verify_batch import MAX_BATCH, VerifyBatcher

log = logging.getLogger("chainnode.mempool")


class Mempool:
    def __init__(self, *, chain_id: str, verify_pool: Executor, head_height: Callable[[], int],
                 is_committed: Callable[[bytes], bool], is_member: Callable[[str], bool],
                 max_txs: int = 50_000, max_per_sender: int = 10_000,
                 max_expiry_window: int = 1000, max_tx_bytes: int = 256 * 1024,
                 tx_gas_limit: int = 50_000_000, verify_batch: int = MAX_BATCH,
                 verify_processes: int = 0) -> None:
        self.chain_id = chain_id
        self._verifier = VerifyBatcher(verify_pool, max_batch=verify_batch,
                                       processes=verify_processes)
        self.head_height = head_height
        self.is_committed = is_committed
        self.is_member = is_member
        self.max_txs = max_txs
        self.max_per_sender = max_per_sender
        self.max_expiry_window = max_expiry_window
        self.max_tx_bytes = max_tx_bytes
        self.tx_gas_limit = tx_gas_limit
        self._txs: OrderedDict[bytes, Transaction] = OrderedDict()
        self._per_sender: dict[bytes, int] = {}
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future] = {}  # resolved once admitted or refused
        self._order = ArrivalOrder()
        self._nonempty = asyncio.Event()
        self.rejected: dict[str, int] = {}
        self.on_added: list[Callable[[Transaction], None]] = []
        # each pending tx by its exact wire bytes (chainnode.core.block.Block.decode's lookup):
        # the same entries as _txs, so bounded by max_txs
        self._by_wire: dict[bytes, Transaction] = {}
        self.on_added.append(self._index_wire)

    @property
    def verify_pool(self) -> Executor:
        return self._verifier.threads

    @verify_pool.setter
    def verify_pool(self, pool: Executor) -> None:
        self._verifier.threads = pool

    @property
    def verifier(self) -> VerifyBatcher:
        return self._verifier

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def _reject(self, code: str, message: str) -> ChainError:
        self.rejected[code] = self.rejected.get(code, 0) + 1
        return ChainError(code, message)

    def precheck(self, tx: Transaction) -> int:
        """Everything but the signature: cheap, synchronous, state read only at head (which
        it returns)."""
        if tx.chain_id != self.chain_id:
            raise self._reject(TX_WRONG_CHAIN,
                               f"transaction is for chain {tx.chain_id!r}, this is "
                               f"{self.chain_id!r}")
        head = self.head_height()
        if tx.expires_at <= head:
            raise self._reject(TX_EXPIRED, f"transaction expired at height {tx.expires_at}, "
                                           f"chain is at {head}")
        if tx.expires_at > head + self.max_expiry_window:
            raise self._reject(TX_EXPIRY_TOO_FAR,
                               f"expires_at may be at most {self.max_expiry_window} blocks "
                               f"ahead of the head ({head})")
        if tx.gas_limit > self.tx_gas_limit:
            raise self._reject(TX_GAS_LIMIT, f"gas_limit above the chain maximum "
                                             f"{self.tx_gas_limit}")
        if tx.hash in self._txs or tx.hash in self._in_flight:
            raise self._reject(TX_DUPLICATE, "transaction is already pending")
        if self.is_committed(tx.hash):
            raise self._reject(TX_REPLAY, "transaction was already committed")
        if not self.is_member(tx.sender_address):
            raise self._reject(TX_NOT_MEMBER,
                               f"sender {tx.sender_address} is not a registered member")
        if len(self._txs) + len(self._in_flight) >= self.max_txs:
            raise self._reject(MEMPOOL_FULL, f"mempool holds {self.max_txs} transactions")
        self._check_quota(tx)
        return head

    def _check_quota(self, tx: Transaction) -> None:
        """At arrival (precheck) and again at insertion: txs of one sender verified at the
        same time all pass the first check, as none of them is pooled yet."""
        if self._per_sender.get(tx.sender, 0) >= self.max_per_sender:
            raise self._reject(SENDER_QUOTA, f"sender has {self.max_per_sender} pending "
                                             "transactions")

    async def add(self, tx: Transaction, source: Hashable | None = None) -> Transaction:
        """Admit `tx`. With a `source`, it enters the pool after every tx that arrived earlier
        from that source (verified in parallel, inserted in arrival order); a tx that fails
        just gives up its place.

        A copy of a tx still being admitted (forwarded by another peer, or sent to every node by
        a client) waits for that admission to settle, holding its place in `source`: the
        answer (TX_DUPLICATE) then means the tx is in the pool, and no later tx of `source`
        overtakes it."""
        h = tx.hash
        copy = self._in_flight.get(h)
        if copy is not None:
            turn = self._order.enter(source)
            try:
                await asyncio.shield(copy)
            finally:
                turn.release()
        head = self.precheck(tx)
        self._in_flight[h] = asyncio.get_running_loop().create_future()
        turn = self._order.enter(source)
        try:
            if not self.was_verified(h, tx.signature):
                if not await self._verifier.verify(tx):
                    raise self._reject(TX_BAD_SIGNATURE, "signature does not verify for the "
                                                         "sender's public key")
                self.mark_verified(h, tx.signature)
            await turn.wait()
            self._insert(tx, head)
        finally:
            self._in_flight.pop(h).set_result(None)
            turn.release()
        self._pooled(tx)
        return tx

    async def add_batch(self, txs: list[Transaction],
                        source: Hashable | None = None) -> list[ChainError | None]:
        """Admit the txs of one ordered source's batch (a peer's `txs` frame), as `add` would
        one after the other, with one arrival turn, one verify request and one wake-up for the
        lot instead of one each: per tx, the error that refused it or None (pooled).

        The same checks in the same order: precheck at arrival, the signature (one bad tx is
        refused alone; it does not hold back the others), then, in the batch's turn, the
        duplicate/commit re-check and the insertion, in batch order. A tx whose copy is being
        admitted at arrival (another source, or the same hash earlier in this batch) waits for
        that admission in its place, as `add` does, then is admitted on its own."""
        out: list[ChainError | None] = [None] * len(txs)
        settled = asyncio.get_running_loop().create_future()  # the in-flight marker of all
        in_flight = self._in_flight
        heads: dict[int, int] = {}  # mine: registered in flight, head at precheck
        # copies: the admission each one saw in flight at arrival (as `add` does). Waiting
        # instead for whatever is in flight when the batch gets there could mean waiting for
        # a batch that arrived later and waits for this one (its turn, or its own copies):
        # both would then hang, and the hash would stay in flight for good.
        copies: dict[int, asyncio.Future] = {}
        for i, tx in enumerate(txs):
            copy = in_flight.get(tx.hash)
            if copy is not None:
                copies[i] = copy
                continue
            try:
                heads[i] = self.precheck(tx)
            except ChainError as exc:
                out[i] = exc
                continue
            in_flight[tx.hash] = settled
        turn = self._order.enter(source) if heads or copies else None
        try:
            todo = [i for i in heads
                    if not self.was_verified(txs[i].hash, txs[i].signature)]
            if todo:
                verdicts = await self._verifier.verify_many([txs[i] for i in todo])
                for i, ok in zip(todo, verdicts, strict=True):
                    if ok:
                        self.mark_verified(txs[i].hash, txs[i].signature)
                    else:
                        out[i] = self._reject(TX_BAD_SIGNATURE, "signature does not verify "
                                                                "for the sender's public key")
            if turn is not None:
                await turn.wait()
            for i, tx in enumerate(txs):
                if i in copies:
                    out[i] = await self._add_copy(tx, copies[i], settled)
                    continue
                if i not in heads:
                    continue
                h = tx.hash
                if in_flight.get(h) is settled:  # settled for this tx: a copy now sees it
                    del in_flight[h]
                if out[i] is not None:
                    continue
                try:
                    self._insert(tx, heads[i])
                except ChainError as exc:
                    out[i] = exc
                    continue
                self._pooled(tx)
        finally:
            for i in heads:  # cancelled or failed midway: nothing of this batch stays in flight
                if in_flight.get(txs[i].hash) is settled:
                    del in_flight[txs[i].hash]
            settled.set_result(None)
            if turn is not None:
                turn.release()
        return out

    async def _add_copy(self, tx: Transaction, copy: asyncio.Future,
                        mine: asyncio.Future) -> ChainError | None:
        """`add` for a tx of a batch whose copy was in flight at arrival (`copy`), in the
        batch's turn (already held: it takes none of its own). A copy earlier in the same
        batch (`mine`) has been dealt with already: waiting for it would wait for ourselves."""
        if copy is not mine:
            await asyncio.shield(copy)
        try:
            head = self.precheck(tx)
        except ChainError as exc:
            return exc
        h = tx.hash
        self._in_flight[h] = asyncio.get_running_loop().create_future()
        try:
            if not self.was_verified(h, tx.signature):
                if not await self._verifier.verify(tx):
                    return self._reject(TX_BAD_SIGNATURE, "signature does not verify for the "
                                                          "sender's public key")
                self.mark_verified(h, tx.signature)
            try:
                self._insert(tx, head)
            except ChainError as exc:
                return exc
        finally:
            self._in_flight.pop(h).set_result(None)
        self._pooled(tx)
        return None

    def _insert(self, tx: Transaction, head: int) -> None:
        """Put a verified `tx` in the pool, in its turn, unless it is pending or was committed
        meanwhile (only a commit moves the head, and only after its writes, so an unmoved
        head spares the store read), or its sender's quota filled up meanwhile. The one
        place `add`, `add_batch` and a batch's copies insert."""
        h = tx.hash
        if h in self._txs or (self.head_height() != head and self.is_committed(h)):
            raise self._reject(TX_DUPLICATE, "transaction is already pending or committed")
        self._check_quota(tx)
        self._txs[h] = tx

    def _pooled(self, tx: Transaction) -> None:
        """Bookkeeping after `tx` entered the pool."""
        self._per_sender[tx.sender] = self._per_sender.get(tx.sender, 0) + 1
        self._nonempty.set()
        for cb in self.on_added:
            cb(tx)

    def close(self) -> None:
        """Stop the verifier's worker processes (if any); pending checks fail."""
        self._verifier.close()

    def ordered_sources(self) -> int:
        """Sources with an admission in flight (bounded by the in-flight admissions)."""
        return len(self._order)

    def mark_verified(self, tx_hash: bytes, signature: bytes) -> None:
        """Remember that `signature` verified for the tx `tx_hash`: the hash covers the body
        only, so a copy with other signature bytes has not been verified."""
        self._verified[tx_hash + signature] = None
        if len(self._verified) > 4 * self.max_txs:
            self._verified.popitem(last=False)

    def was_verified(self, tx_hash: bytes, signature: bytes) -> bool:
        return tx_hash + signature in self._verified

    def admitting(self, tx_hash: bytes) -> asyncio.Future | None:
        """Settles once the admission of `tx_hash` under way (if any) is over: a follower
        whose proposal holds a tx still being admitted waits for that signature check rather
        than make a second one (the copy admitted may carry other signature bytes: ask
        was_verified afterwards)."""
        return self._in_flight.get(tx_hash)

    def _index_wire(self, tx: Transaction) -> None:
        self._by_wire[tx.encode()] = tx

    def lookup_wire(self, raw: bytes) -> Transaction | None:
        """The pending tx whose canonical encoding is exactly `raw` (signature included), so
        a follower decoding a proposal reuses what admission already decoded and checked;
        a tx with the same hash but other bytes is not it."""
        return self._by_wire.get(raw)

    def take(self, max_txs: int, max_bytes: int, max_gas: int) -> list[Transaction]:
        """Oldest first; drop what expired meanwhile, and what alone exceeds the block limits
        (admitted before governance lowered them): it could never be taken, and stopping at
        it would leave every later transaction, and every block, behind it for good."""
        self.evict_expired()
        out: list[Transaction] = []
        unfit: list[bytes] = []
        size = gas = 0
        for tx in self._txs.values():
            n = len(tx.encode())
            if n > max_bytes or tx.gas_limit > max_gas:
                unfit.append(tx.hash)
                continue
            if len(out) >= max_txs or size + n > max_bytes or gas + tx.gas_limit > max_gas:
                break
            out.append(tx)
            size += n
            gas += tx.gas_limit
        if unfit:
            log.warning("dropped %d queued txs larger than a whole block under the live "
                        "limits", len(unfit))
            self.remove(unfit)
        return out

    def evict_expired(self) -> int:
        """Drop what can no longer commit (every node, not only the leader, after each commit):
        a stale tx would keep the view timer running on a node that never leads."""
        head = self.head_height()
        stale = [h for h, tx in self._txs.items() if tx.expires_at <= head]
        for h in stale:
            self._drop(h)
        return len(stale)

    def remove(self, tx_hashes) -> None:
        for h in tx_hashes:
            self._drop(h)

    def _drop(self, h: bytes) -> None:
        tx = self._txs.pop(h, None)
        if tx is not None:
            self._by_wire.pop(tx.encode(), None)
            left = self._per_sender.get(tx.sender, 1) - 1
            if left:
                self._per_sender[tx.sender] = left
            else:
                self._per_sender.pop(tx.sender, None)
        if not self._txs:
            self._nonempty.clear()

    async def wait_nonempty(self) -> None:
        await self._nonempty.wait()

    def pending(self) -> list[Transaction]:
        return list(self._txs.values())
