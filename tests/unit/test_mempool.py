"""Mempool admission: cheap checks first with their own codes, SM2 verification last and off the
event loop (in the executor it is given), dedupe, per-sender and total bounds, take()."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest

from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.errors import ChainError
from chainnode.mempool import Mempool

CHAIN = "unit-mempool"
SIG = bytes(64)
KEYS = [PrivateKey.generate() for _ in range(4)]
ALICE, BOB, CAROL, MALLORY = KEYS  # MALLORY is not a member


class RecordingPool(ThreadPoolExecutor):
    """A thread pool that records what was submitted to it and on which thread it ran."""

    def __init__(self, on_run=None) -> None:
        super().__init__(2, thread_name_prefix="verify")
        self.calls = 0
        self.threads: set[int] = set()
        self.on_run = on_run

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1

        def run():
            self.threads.add(threading.get_ident())
            out = fn(*args, **kwargs)
            if self.on_run is not None:
                self.on_run()
            return out

        return super().submit(run)


class Env:
    def __init__(self, **kw) -> None:
        self.head = 10
        self.committed: set[bytes] = set()
        self.members = {address_of(k.public_key) for k in (ALICE, BOB, CAROL)}
        self.pool = RecordingPool(kw.pop("on_run", None))
        self.mp = Mempool(chain_id=CHAIN, verify_pool=self.pool, head_height=lambda: self.head,
                          is_committed=lambda h: h in self.committed,
                          is_member=lambda a: a in self.members, **kw)

    def tx(self, key: PrivateKey = ALICE, *, chain_id: str = CHAIN, expires_in: int = 100,
           expires_at: int | None = None, gas: int = 100_000, size: int = 0) -> Transaction:
        args = {"pad": "x" * size}
        return build_tx(key, chain_id, "call", "meter", "read", args,
                        expires_at=self.head + expires_in if expires_at is None else expires_at,
                        gas_limit=gas)


@pytest.fixture
def env():
    e = Env()
    yield e
    e.pool.shutdown(wait=True)


def tampered(tx: Transaction) -> Transaction:
    w = tx.to_wire()
    sig = bytearray(w[-1])
    sig[7] ^= 0x20
    w[-1] = bytes(sig)
    return Transaction.from_wire(w)


async def test_valid_tx_is_verified_once_off_the_event_loop(env):
    tx = env.tx()
    assert not env.mp.was_verified(tx.hash, tx.signature)
    added = await env.mp.add(tx)
    assert added is tx
    assert tx.hash in env.mp and len(env.mp) == 1
    assert env.mp.pending() == [tx]
    assert env.mp.was_verified(tx.hash, tx.signature)
    assert env.pool.calls == 1
    assert env.pool.threads and threading.get_ident() not in env.pool.threads


async def test_bad_signature_is_rejected_by_the_verifier(env):
    bad = tampered(env.tx())
    with pytest.raises(ChainError) as ei:
        await env.mp.add(bad)
    assert ei.value.code == "TX_BAD_SIGNATURE" and ei.value.message
    assert env.pool.calls == 1  # it took the signature check to find out
    assert len(env.mp) == 0 and bad.hash not in env.mp
    assert not env.mp.was_verified(bad.hash, bad.signature)
    assert env.mp.rejected == {"TX_BAD_SIGNATURE": 1}
    # a transaction signed by a different key than its sender's also fails
    tx = env.tx()
    w = tx.to_wire()
    w[-1] = build_tx(BOB, CHAIN, "call", "meter", "read", tx.args, expires_at=tx.expires_at,
                     gas_limit=tx.gas_limit, nonce=tx.nonce).signature
    with pytest.raises(ChainError, match="TX_BAD_SIGNATURE"):
        await env.mp.add(Transaction.from_wire(w))


PRECHECK_CASES = {
    "TX_WRONG_CHAIN": lambda e: e.tx(chain_id="another-chain"),
    "TX_EXPIRED": lambda e: e.tx(expires_at=e.head),
    "TX_EXPIRY_TOO_FAR": lambda e: e.tx(expires_in=1001),
    "TX_GAS_LIMIT": lambda e: e.tx(gas=50_000_001),
    "TX_NOT_MEMBER": lambda e: e.tx(MALLORY),
}


@pytest.mark.parametrize("code", sorted(PRECHECK_CASES))
async def test_cheap_rejections_have_their_own_code_and_skip_the_verifier(env, code):
    tx = PRECHECK_CASES[code](env)
    with pytest.raises(ChainError) as ei:
        await env.mp.add(tx)
    assert ei.value.code == code and len(ei.value.message) > 5
    assert env.pool.calls == 0  # garbage never costs a signature check
    assert len(env.mp) == 0
    assert env.mp.rejected == {code: 1}


async def test_expiry_window_edges(env):
    await env.mp.add(env.tx(expires_at=env.head + 1))  # valid in the next block
    await env.mp.add(env.tx(expires_in=1000))  # exactly the maximum window
    with pytest.raises(ChainError, match="TX_EXPIRED"):
        await env.mp.add(env.tx(expires_at=env.head - 5))
    assert len(env.mp) == 2


async def test_replay_of_a_committed_tx(env):
    tx = env.tx()
    env.committed.add(tx.hash)
    with pytest.raises(ChainError) as ei:
        await env.mp.add(tx)
    assert ei.value.code == "TX_REPLAY"
    assert env.pool.calls == 0


async def test_duplicates_are_refused_and_verified_once(env):
    tx = env.tx()
    await env.mp.add(tx)
    with pytest.raises(ChainError) as ei:
        await env.mp.add(tx)
    assert ei.value.code == "TX_DUPLICATE"
    assert env.pool.calls == 1 and len(env.mp) == 1


async def test_the_same_tx_twice_at_once_is_admitted_once(env):
    tx = env.tx()
    res = await asyncio.gather(env.mp.add(tx), env.mp.add(tx), return_exceptions=True)
    oks = [r for r in res if r is tx]
    errs = [r for r in res if isinstance(r, ChainError)]
    assert len(oks) == 1 and len(errs) == 1 and errs[0].code == "TX_DUPLICATE"
    assert env.pool.calls == 1 and len(env.mp) == 1


async def test_committed_while_being_verified_is_not_admitted():
    holder: dict = {}
    def commit() -> None:  # a block with the tx commits: its writes, then the head moves
        e.committed.add(holder["tx"].hash)
        e.head += 1

    e = Env(on_run=commit)
    try:
        tx = holder["tx"] = e.tx()
        with pytest.raises(ChainError) as ei:
            await e.mp.add(tx)
        assert ei.value.code == "TX_DUPLICATE"
        assert len(e.mp) == 0
    finally:
        e.pool.shutdown(wait=True)


async def test_already_verified_tx_skips_the_verifier(env):
    tx = env.tx()
    env.mp.mark_verified(tx.hash, tx.signature)
    await env.mp.add(tx)
    assert env.pool.calls == 0 and tx.hash in env.mp


async def test_per_sender_bound_and_release_on_remove():
    e = Env(max_per_sender=3)
    try:
        alice = [e.tx(ALICE) for _ in range(4)]
        for tx in alice[:3]:
            await e.mp.add(tx)
        with pytest.raises(ChainError) as ei:
            await e.mp.add(alice[3])
        assert ei.value.code == "SENDER_QUOTA"
        await e.mp.add(e.tx(BOB))  # other senders are unaffected
        e.mp.remove([alice[0].hash])
        await e.mp.add(alice[3])
        assert len(e.mp) == 4
    finally:
        e.pool.shutdown(wait=True)


async def test_total_bound():
    e = Env(max_txs=3, max_per_sender=10)
    try:
        for k in (ALICE, BOB, CAROL):
            await e.mp.add(e.tx(k))
        with pytest.raises(ChainError) as ei:
            await e.mp.add(e.tx(ALICE))
        assert ei.value.code == "MEMPOOL_FULL"
        assert len(e.mp) == 3
        assert e.mp.rejected == {"MEMPOOL_FULL": 1}
    finally:
        e.pool.shutdown(wait=True)


async def test_take_oldest_first_within_count_bytes_and_gas(env):
    txs = [env.tx([ALICE, BOB, CAROL][i % 3], gas=1000 * (i + 1), size=100) for i in range(6)]
    for tx in txs:
        await env.mp.add(tx)
    big = 10**9
    assert env.mp.take(big, big, big) == txs
    assert env.mp.take(4, big, big) == txs[:4]
    size = len(txs[0].encode())
    assert all(len(t.encode()) == size for t in txs)
    assert env.mp.take(big, 3 * size, big) == txs[:3]
    assert env.mp.take(big, 3 * size - 1, big) == txs[:2]
    assert env.mp.take(big, big, 1000 + 2000 + 3000) == txs[:3]
    assert env.mp.take(big, big, 1000 + 2000 + 2999) == txs[:2]
    assert len(env.mp) == 6  # take() does not remove what fits; commit does
    # a tx that alone exceeds the block budget (governance lowered it) can never be taken:
    # dropped, so it cannot hold back every later tx and block (test_gov_redteam_mempool)
    assert env.mp.take(big, big, 999) == []
    assert len(env.mp) == 0


async def test_take_drops_what_expired_meanwhile(env):
    soon = [env.tx(expires_in=2) for _ in range(2)]
    later = [env.tx(expires_in=50) for _ in range(2)]
    for tx in (soon[0], later[0], soon[1], later[1]):
        await env.mp.add(tx)
    env.head += 1
    assert len(env.mp.take(100, 10**9, 10**9)) == 4  # still valid in the next block
    env.head += 1  # head == expires_at: no longer includable
    assert env.mp.take(100, 10**9, 10**9) == later
    assert len(env.mp) == 2 and all(tx.hash not in env.mp for tx in soon)


async def test_remove_clears_and_wait_nonempty_follows_contents(env):
    tx = env.tx()
    await env.mp.add(tx)
    await asyncio.wait_for(env.mp.wait_nonempty(), 1)
    seen = []
    env.mp.on_added.append(seen.append)
    tx2 = env.tx()
    await env.mp.add(tx2)
    assert seen == [tx2]
    env.mp.remove([tx.hash, tx2.hash, b"\0" * 32])
    assert len(env.mp) == 0
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(env.mp.wait_nonempty(), 0.05)
    waiter = asyncio.create_task(env.mp.wait_nonempty())
    await env.mp.add(env.tx())
    await asyncio.wait_for(waiter, 1)


def test_verified_set_is_bounded(env):
    mp = Mempool(chain_id=CHAIN, verify_pool=env.pool, head_height=lambda: 0,
                 is_committed=lambda h: False, is_member=lambda a: True, max_txs=2)
    hashes = [bytes([i]) * 32 for i in range(20)]
    for h in hashes:
        mp.mark_verified(h, SIG)
    assert sum(mp.was_verified(h, SIG) for h in hashes) == 8  # 4 * max_txs
    assert mp.was_verified(hashes[-1], SIG) and not mp.was_verified(hashes[0], SIG)


async def test_evict_expired_drops_only_what_can_no_longer_commit(tmp_path):
    """Every node evicts expired txs after a commit (not only the leader inside take())."""
    from concurrent.futures import ThreadPoolExecutor

    from chainnode.core.tx import build_tx
    from chainnode.crypto.sm2 import PrivateKey
    from chainnode.mempool import Mempool

    head = [10]
    key = PrivateKey.generate()
    with ThreadPoolExecutor(2) as pool:
        mp = Mempool(chain_id="c", verify_pool=pool, head_height=lambda: head[0],
                     is_committed=lambda h: False, is_member=lambda a: True)
        soon = build_tx(key, "c", "system", "sys.members", "get", {}, expires_at=12)
        later = build_tx(key, "c", "system", "sys.members", "get", {}, expires_at=50)
        await mp.add(soon)
        await mp.add(later)
        assert mp.evict_expired() == 0 and len(mp) == 2
        head[0] = 12  # a block at height 12 committed: `soon` can never be included now
        assert mp.evict_expired() == 1
        assert soon.hash not in mp and later.hash in mp


class GatedPool(Executor):
    """An executor whose jobs finish only when the test says so, in the order it chooses."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Future, Callable]] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        self.jobs.append((fut, lambda: fn(*args, **kwargs)))
        return fut

    def finish(self, i: int) -> None:
        fut, job = self.jobs[i]
        fut.set_result(job())


async def _settle(cond=lambda: False, rounds: int = 50) -> None:
    """Let the loop run the wake-ups a finished job causes (bounded)."""
    for _ in range(rounds):
        if cond():
            return
        await asyncio.sleep(0)


def _gated_env() -> tuple[Env, GatedPool]:
    e = Env()
    e.pool.shutdown(wait=True)
    gate = GatedPool()
    e.mp.verify_pool = gate
    e.mp.verifier.max_batch = 1  # one job per tx: the test finishes them in its own order
    return e, gate


async def test_one_source_enters_in_arrival_order_when_verifications_finish_reversed():
    e, gate = _gated_env()
    txs = [e.tx(k) for k in (ALICE, BOB, CAROL, ALICE, BOB)]
    adds = [asyncio.create_task(e.mp.add(tx, source="link-1")) for tx in txs]
    await _settle(lambda: len(gate.jobs) == len(txs))
    assert len(gate.jobs) == len(txs)  # all verifying at once: nothing serialized
    for i in reversed(range(1, len(txs))):
        gate.finish(i)
        await _settle()
        assert len(e.mp) == 0  # verified, but the first arrival is still being checked
    gate.finish(0)
    assert await asyncio.gather(*adds) == txs
    assert e.mp.pending() == txs
    assert e.mp.take(100, 10**9, 10**12) == txs  # the proposer sees arrival order
    assert e.mp.ordered_sources() == 0  # nothing kept once the source is idle


async def test_a_rejected_or_cancelled_tx_releases_its_place_without_reordering():
    e, gate = _gated_env()
    txs = [e.tx(k) for k in (ALICE, BOB, CAROL, ALICE)]
    txs[1] = tampered(txs[1])
    adds = [asyncio.create_task(e.mp.add(tx, source="link-1")) for tx in txs]
    other = e.tx(BOB)  # another source is not held up by link-1's slow first tx
    await _settle(lambda: len(gate.jobs) == len(txs))
    other_add = asyncio.create_task(e.mp.add(other, source="link-2"))
    await _settle(lambda: len(gate.jobs) == len(txs) + 1)
    gate.finish(len(txs))
    assert await other_add is other
    gate.finish(3)
    gate.finish(1)  # bad signature: gives up its place
    adds[2].cancel()  # gives up its place while tx 0 is still being verified
    await _settle()
    assert e.mp.pending() == [other]  # tx 3 must not overtake tx 0
    gate.finish(0)
    res = await asyncio.gather(*adds, return_exceptions=True)
    assert res[0] is txs[0] and res[3] is txs[3]
    assert isinstance(res[1], ChainError) and res[1].code == "TX_BAD_SIGNATURE"
    assert isinstance(res[2], asyncio.CancelledError)
    assert e.mp.pending() == [other, txs[0], txs[3]]
    assert e.mp.ordered_sources() == 0


async def test_without_a_source_a_tx_enters_when_verified():
    e, gate = _gated_env()
    txs = [e.tx(ALICE), e.tx(BOB)]
    adds = [asyncio.create_task(e.mp.add(tx)) for tx in txs]
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(1)
    await _settle(lambda: len(e.mp) == 1)
    assert e.mp.pending() == [txs[1]]  # independent clients: no order between them
    gate.finish(0)
    await asyncio.gather(*adds)
    assert e.mp.pending() == [txs[1], txs[0]]


async def test_a_copy_in_flight_elsewhere_holds_its_place_and_answers_once_pooled():
    """Node B forwards tx1 then tx2; tx1 is still being admitted from node A's link: tx2 must
    wait for it, and a client's copy is told TX_DUPLICATE only once tx1 is in the pool."""
    e, gate = _gated_env()
    tx1, tx2 = e.tx(ALICE), e.tx(BOB)
    from_a = asyncio.create_task(e.mp.add(tx1, source="link-a"))
    await _settle(lambda: len(gate.jobs) == 1)
    dup_b = asyncio.create_task(e.mp.add(tx1, source="link-b"))
    dup_client = asyncio.create_task(e.mp.add(tx1))
    then_b = asyncio.create_task(e.mp.add(tx2, source="link-b"))
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(1)
    await _settle()
    assert e.mp.pending() == [] and not dup_client.done()
    gate.finish(0)
    assert await from_a is tx1 and await then_b is tx2
    for dup in (dup_b, dup_client):
        with pytest.raises(ChainError, match="TX_DUPLICATE"):
            await dup
    assert e.mp.pending() == [tx1, tx2] and len(gate.jobs) == 2
    assert e.mp.ordered_sources() == 0


async def test_verified_once_means_this_signature_not_this_body(env):
    """The tx hash covers the body only: a copy of a verified tx carrying other signature bytes
    has the same hash. Remembering 'verified' by hash let such a copy into the pool (and let a
    leader's block carry it past validation) with its signature never checked."""
    tx = env.tx()
    await env.mp.add(tx)
    forged = tampered(tx)
    assert forged.hash == tx.hash and forged.signature != tx.signature
    assert env.mp.was_verified(tx.hash, tx.signature)
    assert not env.mp.was_verified(forged.hash, forged.signature)
    env.mp.remove([tx.hash])  # left the pool without being committed (say, a lost proposal)
    with pytest.raises(ChainError) as ei:
        await env.mp.add(forged)
    assert ei.value.code == "TX_BAD_SIGNATURE" and len(env.mp) == 0
