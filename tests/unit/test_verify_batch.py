"""Batched admission checks (chainnode.verify_batch): one job per loop iteration's worth of txs,
the same verdicts as Transaction.verify_signature, and worker processes that start, survive a
crash without admitting anything unverified, and are gone after close."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.sm2 import PrivateKey
from chainnode.verify_batch import VerifyBatcher, tx_item, verify_items

KEY, OTHER = PrivateKey.generate(), PrivateKey.generate()
CHAIN = "unit-verify"


class CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(2, thread_name_prefix="vb")
        self.sizes: list[int] = []
        self.waits: list[float] = []
        self.waited = type("Hist", (), {"observe": lambda _h, v: self.waits.append(v)})()

    def submit(self, fn, /, *args, **kwargs):
        self.sizes.append(len(args[0]))
        return super().submit(fn, *args, **kwargs)


def _tx(i: int, key: PrivateKey = KEY) -> Transaction:
    return build_tx(key, CHAIN, "call", "meter", "read", {"i": i}, expires_at=100,
                    gas_limit=1000)


def _forged(tx: Transaction) -> Transaction:
    w = tx.to_wire()
    w[-1] = build_tx(OTHER, CHAIN, "call", "meter", "read", tx.args, expires_at=tx.expires_at,
                     gas_limit=tx.gas_limit, nonce=tx.nonce).signature
    return Transaction.from_wire(w)


GOOD = [_tx(i) for i in range(40)]
BAD = [_forged(_tx(1000 + i)) for i in range(3)]


def test_verdicts_match_verify_signature_including_bad_keys_and_signatures():
    txs = [*GOOD[:3], *BAD]
    items = [tx_item(tx) for tx in txs]
    items.append((b"\x01" * 64, *items[0][1:]))  # not a curve point
    items.append((*items[0][:-1], b"\x00" * 64))  # r = s = 0
    items.append((items[0][0], "grid-other", *items[0][2:]))  # signed for another chain
    items.append((items[0][0], "a\x00b", *items[0][2:]))  # a chain id signing_bytes refuses
    assert verify_items(items) == [tx.verify_signature() for tx in txs] + [False] * 4
    assert verify_items(items) == [True] * 3 + [False] * 7


async def test_checks_asked_in_one_iteration_share_one_job_bounded_by_max_batch():
    pool = CountingPool()
    try:
        b = VerifyBatcher(pool, max_batch=16)
        txs = [*GOOD, *BAD]
        assert await asyncio.gather(*(b.verify(tx) for tx in txs)) == [True] * 40 + [False] * 3
        assert pool.sizes == [16, 16, 11] and b.batches == 3
        # a later iteration starts a new batch; a cancelled check is dropped before the job
        first, dropped = b.verify(GOOD[0]), b.verify(BAD[0])
        dropped.cancel()
        assert await first is True and pool.sizes[-1] == 1
    finally:
        pool.shutdown(wait=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.mark.slow
async def test_worker_processes_survive_a_crash_and_leave_no_process_behind():
    threads = CountingPool()
    b = VerifyBatcher(threads, processes=2)
    seen: set[int] = set()
    try:
        assert await asyncio.gather(*(b.verify(tx) for tx in [*GOOD[:8], *BAD])) == \
            [True] * 8 + [False] * 3
        assert threads.sizes == []  # the processes did the checks
        assert threads.waits and all(0 <= w < 60 for w in threads.waits)  # queue wait, per batch
        pids = b.worker_pids()
        assert pids and all(_alive(p) for p in pids)
        seen.update(pids)
        os.kill(pids[0], signal.SIGKILL)  # a worker dies
        assert await _wait_gone(pids[:1]) == []
        # checks still come back right (on threads for the broken pool's batch), and a
        # forged tx is never passed as verified
        assert await asyncio.gather(*(b.verify(tx) for tx in [*GOOD[8:16], *BAD])) == \
            [True] * 8 + [False] * 3
        assert b.fallbacks >= 1 and b.restarts == 1 and sum(threads.sizes) >= 11
        # the next batch goes to a fresh pool of processes
        assert await asyncio.gather(*(b.verify(tx) for tx in GOOD[16:20])) == [True] * 4
        seen.update(b.worker_pids())
        assert b.worker_pids() and not set(b.worker_pids()) & set(pids)
    finally:
        b.close()
        threads.shutdown(wait=True)
    assert await _wait_gone(sorted(seen)) == []
    with pytest.raises(RuntimeError):  # closed: nothing is verified, nothing admitted
        await b.verify(GOOD[0])


async def test_verify_many_answers_in_order_with_one_job_per_max_batch():
    pool = CountingPool()
    try:
        b = VerifyBatcher(pool, max_batch=16)
        txs = [*GOOD[:20], BAD[0], *GOOD[20:30], BAD[1]]
        want = [tx.verify_signature() for tx in txs]
        assert await b.verify_many(txs) == want and want.count(False) == 2
        assert pool.sizes == [16, 16] and b.batches == 2
        assert await b.verify_many(GOOD[:3]) == [True] * 3 and pool.sizes[-1] == 3
    finally:
        pool.shutdown(wait=True)


def test_a_remembered_key_never_turns_a_bad_key_or_signature_into_true():
    from chainnode import verify_batch

    good = tx_item(GOOD[0])
    not_on_curve = (b"\x01" * 64, *good[1:])
    not_bytes = (bytearray(good[0]), *good[1:])
    for _ in range(2):  # the second round runs with the keys remembered
        assert verify_items([good, not_on_curve, not_bytes, tx_item(BAD[0])]) == \
            [True, False, False, False]  # as before the keys were remembered
    assert b"\x01" * 64 not in verify_batch._keys  # only keys that passed are kept
    assert all(type(k) is bytes for k in verify_batch._keys)
    verify_batch._keys.update({i.to_bytes(64, "big"): verify_batch._keys[good[0]]
                               for i in range(2, verify_batch.MAX_KEYS + 2)})
    assert verify_items([tx_item(_tx(1, OTHER))]) == [True]  # a new key into a full dict
    assert list(verify_batch._keys) == [OTHER.public_key.raw]  # bounded: emptied when full


async def test_frames_and_single_checks_of_one_iteration_share_jobs_packed_whole():
    pool = CountingPool()
    try:
        b = VerifyBatcher(pool, max_batch=16)
        frame1 = [*GOOD[:9], BAD[0]]
        frame2 = [BAD[1], *GOOD[12:16]]
        async def singles() -> list[bool]:
            return await asyncio.gather(b.verify(GOOD[10]), b.verify(BAD[2]), b.verify(GOOD[11]))

        # three tasks whose first steps run in one loop iteration, in this order
        res = await asyncio.gather(b.verify_many(frame1), singles(), b.verify_many(frame2))
        assert res == [[True] * 9 + [False], [True, False, True], [False] + [True] * 4]
        assert pool.sizes == [13, 5]  # 10 + 3 singles; frame2 would overflow: a job of its own
        cancelled = asyncio.ensure_future(b.verify_many(GOOD[:4]))
        await asyncio.sleep(0)
        cancelled.cancel()
        assert await b.verify_many(GOOD[4:6]) == [True, True]
        assert pool.sizes[-1] == 2  # a cancelled frame is dropped before its job
    finally:
        pool.shutdown(wait=True)
