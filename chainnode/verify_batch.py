"""Batched SM2 verification for admission: one job and one loop wake-up per batch, not per tx.

Every `Mempool.add` asks for its signature check here. The checks asked for in one event-loop
iteration (RPC requests and forwarded txs alike) are coalesced into jobs of at most `max_batch`
txs; each job is one executor submit, and its results come back to the loop in one
`call_soon_threadsafe`. Per tx that removes a concurrent Future with its Condition, a
`wrap_future` and a wake-up — the per-tx cost the event loop paid while it holds the GIL.

A job runs either on the node's verify threads (Tongsuo releases the GIL in its C calls) or, with
`processes > 0`, in spawned worker processes that never contend for the node's GIL. A worker
that dies breaks its pool: the batch it carried, and every later one until the pool is
replaced, is verified on the threads instead, so a crash costs speed, never a check (a tx is
admitted only on a True that a verifier returned for it).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from chainnode.crypto import domain
from chainnode.crypto.sm2 import PublicKey

log = logging.getLogger("chainnode.verify")

MAX_BATCH = 256  # txs per job: bounds one job's latency and a broken worker's lost work
MAX_RESTARTS = 3  # worker pools replaced after a crash; then the threads do all the checks

# (sender public key, chain id, tx body bytes, signature): plain values, cheap to send to a
# worker process, which composes them exactly as Transaction.verify_signature does
Item = tuple[bytes, str, bytes, bytes]
# (txs, future, whole): one tx's check (future of a bool) or, whole, a batch's (of a list)
Request = tuple[list, asyncio.Future, bool]


def verify_processes(configured: int = 0) -> int:
    """Worker processes for admission checks: CHAINNODE_VERIFY_PROCESSES (for A/B runs), else
    the node's `verify_processes` setting (-1: one per core on a machine with two or more)."""
    text = os.environ.get("CHAINNODE_VERIFY_PROCESSES", "")
    if text.isdigit():
        return int(text)
    if configured < 0:
        cores = os.cpu_count() or 1
        return cores if cores >= 2 else 0
    return configured


def tx_item(tx) -> Item:
    """What `Transaction.verify_signature` checks, as plain values (cheap to send to a
    worker): the same arguments it hands `domain.verify`, the key still as bytes."""
    return tx.sender, tx.chain_id, tx.body_bytes(), tx.signature


# Keys that built a PublicKey in this thread or process (checked on the curve): a chain has
# few senders, so the frozen dataclass and its check are built once per key, not per tx. Only
# exact `bytes` keys that passed are kept, and a full dict is emptied: memory stays bounded and
# a hostile key costs its full check every time.
MAX_KEYS = 4096
_keys: dict[bytes, PublicKey] = {}


def _public_key(raw: bytes) -> PublicKey:
    key = _keys.get(raw) if type(raw) is bytes else None
    if key is None:
        key = PublicKey(raw)  # SignatureError (a ValueError) for a malformed key
        if type(raw) is bytes:
            if len(_keys) >= MAX_KEYS:
                _keys.clear()
            _keys[raw] = key
    return key


def verify_items(items: Sequence[Item]) -> list[bool]:
    """Run in a verify thread or worker process: one bool per item, never an exception.
    Each check is `domain.verify(PublicKey(sender), "tx", chain_id, body, signature)`, the
    composition `Transaction.verify_signature` uses, so the two cannot drift apart (signed
    bytes, domain tag). A malformed key or chain id is a False (SignatureError and
    signing_bytes' refusals are ValueErrors)."""
    out = []
    append = out.append
    verify = domain.verify
    for pub, chain_id, body, sig in items:
        try:
            append(verify(_public_key(pub), "tx", chain_id, body, sig))
        except ValueError:
            append(False)
    return out


def _verify_timed(items: Sequence[Item], submitted: float) -> tuple[float, list[bool]]:
    """In a worker process: how long the batch waited for it (CLOCK_MONOTONIC is one clock
    for all processes on the machine), and the verdicts."""
    return time.monotonic() - submitted, verify_items(items)


def _warm_up(parent: int) -> None:
    """Worker initializer: die with the node (a node killed with -9 must not leave workers
    behind: Linux's parent-death signal), then import and load the backend before the first
    batch arrives."""
    _die_with_parent(parent)
    from chainnode.crypto import sm2  # noqa: F401


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the node died before the signal was armed
        os._exit(0)


class VerifyBatcher:
    """Coalesces signature checks into batches for `threads` (or worker processes)."""

    def __init__(self, threads: Executor, *, max_batch: int = MAX_BATCH,
                 processes: int = 0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.threads = threads
        self.max_batch = max_batch
        self.processes = processes
        self._procs: ProcessPoolExecutor | None = None
        self._queue: list[Request] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.batches = 0  # jobs submitted (for tests and the bench)
        self.fallbacks = 0  # batches re-verified on threads after a worker died
        self.restarts = 0
        # the thread pool's queue-wait histogram (metrics.TimedPool), fed for process batches
        self.waited = getattr(threads, "waited", None)

    def verify(self, tx) -> asyncio.Future:
        """A future for tx's signature check (True/False); the job starts after this loop
        iteration, together with every other check asked for in it."""
        fut = asyncio.get_running_loop().create_future()
        self._ask([tx], fut, False)
        return fut

    async def verify_many(self, txs: Sequence) -> list[bool]:
        """Every tx's signature check, in order: for a batch that is admitted as one (a peer's
        `txs` frame), one future per `max_batch` txs instead of one per tx. The checks join
        the job(s) of this loop iteration like `verify`'s, with the same verdicts."""
        loop = asyncio.get_running_loop()
        n = self.max_batch
        futs = []
        for i in range(0, len(txs), n):
            fut = loop.create_future()
            self._ask(list(txs[i:i + n]), fut, True)
            futs.append(fut)
        if len(futs) == 1:
            return await futs[0]
        return [ok for part in await asyncio.gather(*futs) for ok in part]

    def _ask(self, txs: list, fut: asyncio.Future, whole: bool) -> None:
        if not self._queue:
            self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._flush)
        self._queue.append((txs, fut, whole))

    def _flush(self) -> None:
        """This iteration's requests packed whole, in order, into jobs of at most max_batch
        txs (no request holds more)."""
        queue, self._queue = self._queue, []
        job: list[Request] = []
        size = 0
        for req in queue:
            if req[1].done():  # cancelled meanwhile
                continue
            n = len(req[0])
            if job and size + n > self.max_batch:
                self._submit(job)
                job, size = [], 0
            job.append(req)
            size += n
        if job:
            self._submit(job)

    def _submit(self, reqs: list[Request]) -> None:
        self.batches += 1
        items = [tx_item(tx) for txs, _, _ in reqs for tx in txs]
        try:
            pool = self._executor()
            if pool is self.threads:
                job = pool.submit(verify_items, items)
            else:
                job = pool.submit(_verify_timed, items, time.monotonic())
        except BrokenProcessPool:
            job = self._on_broken(items)
        except RuntimeError as exc:  # shut down: the node is stopping
            for _, fut, _ in reqs:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self._watch(job, reqs, items)

    def _watch(self, job: Future, reqs: list[Request], items: list[Item]) -> None:
        loop = self._loop

        def done(job: Future) -> None:
            try:
                loop.call_soon_threadsafe(self._settle, job, reqs, items)
            except RuntimeError:  # the loop closed: nobody waits for these any more
                pass
        job.add_done_callback(done)

    def _settle(self, job: Future, reqs: list[Request], items: list[Item]) -> None:
        if job.cancelled():  # the pool shut down (node stopping): nothing is admitted
            for _, fut, _ in reqs:
                fut.cancel()
            return
        exc = job.exception()
        if isinstance(exc, BrokenProcessPool) and not self._closed:
            try:
                self._watch(self._on_broken(items), reqs, items)
                return
            except RuntimeError as again:
                exc = again
        if exc is None:
            verdicts = job.result()
            if isinstance(verdicts, tuple):  # from a worker process: (queue wait, verdicts)
                waited, verdicts = verdicts
                if self.waited is not None:
                    self.waited.observe(waited)
            if len(verdicts) != len(items):  # never a verdict for the wrong tx
                exc = RuntimeError("a verify job answered for another number of txs")
        if exc is not None:
            for _, fut, _ in reqs:
                if not fut.done():
                    fut.set_exception(exc)
            return
        at = 0
        for txs, fut, whole in reqs:
            n = len(txs)
            if not fut.done():
                fut.set_result([ok is True for ok in verdicts[at:at + n]] if whole
                               else verdicts[at] is True)
            at += n

    def _executor(self) -> Executor:
        if self._closed:
            raise RuntimeError("verifier closed")
        if self.processes <= 0 or self.restarts > MAX_RESTARTS:
            return self.threads
        if self._procs is None:
            self._procs = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up, initargs=(os.getpid(),))
        return self._procs

    def _on_broken(self, items: list[Item]) -> Future:
        """A worker process died: replace the pool, verify this batch on the threads."""
        self.fallbacks += 1
        broken, self._procs = self._procs, None
        if broken is not None:  # the first batch to see it replaces the pool
            self.restarts += 1
            log.error("a signature-verify worker process died; %s, a batch of %d is "
                      "verified on threads", "replacing the pool" if self.restarts <= MAX_RESTARTS
                      else "verifying on threads from now on", len(items))
            broken.shutdown(wait=False, cancel_futures=True)
        return self.threads.submit(verify_items, items)

    def worker_pids(self) -> list[int]:
        procs = self._procs
        return [] if procs is None else [p.pid for p in list(procs._processes.values())]

    def close(self) -> None:
        """Stop the worker processes (waits for them to exit); later checks fail at once."""
        self._closed = True
        procs, self._procs = self._procs, None
        if procs is not None:
            procs.shutdown(wait=True, cancel_futures=True)
