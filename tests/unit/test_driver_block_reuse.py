"""The driver validates a proposal with the txs its mempool already admitted: the block it
executes holds the pool's Transaction objects (no second decode), verifies no signature the
pool verified, and still verifies (and refuses) a tx it never saw."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from driver_util import ValidatingNode, follower_mempool

from chainnode.chain import Chain
from chainnode.consensus import actions as A
from chainnode.consensus import events as E
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.driver import ConsensusDriver
from chainnode.mempool import Mempool
from chainnode.store.db import ChainDB

CHAIN = "unit-block-reuse"
ADMIN = PrivateKey(0x7654321)
VALIDATOR = PrivateKey(0x1234567)


def genesis() -> Genesis:
    return Genesis(CHAIN, 1_700_000_000_000, (Validator("node0", VALIDATOR.public_key.raw),),
                   (Member(address_of(ADMIN.public_key), ("admin", "operator"), "admin"),))


def register(i: int, key: PrivateKey = ADMIN) -> Transaction:
    who = address_of(PrivateKey(0x1000 + i).public_key)
    return Transaction.decode(build_tx(key, CHAIN, "system", "sys.members", "register",
                                       {"address": who, "roles": ["member"]},
                                       expires_at=50, gas_limit=100_000).encode())


@asynccontextmanager
async def leader_and_follower(tmp_path, verify_pool: ThreadPoolExecutor
                              ) -> AsyncIterator[tuple[Chain, Chain, Mempool]]:
    """Two chains at genesis and the follower's mempool verifying on `verify_pool`; on the
    way out the pool is shut down (a _GatedPool opens its gate first) and the chains closed."""
    leader = Chain(ChainDB(tmp_path / "leader"), genesis())
    follower = Chain(ChainDB(tmp_path / "follower"), genesis())
    try:
        yield leader, follower, follower_mempool(follower, verify_pool)
    finally:
        verify_pool.shutdown()
        leader.db.close()
        follower.db.close()


def proposal(leader: Chain, follower: Chain, mp: Mempool, txs: list[Transaction]
             ) -> tuple[ValidatingNode, ConsensusDriver, A.ValidateBlock]:
    """The leader's block 1 of `txs`, as the follower's driver (over `mp`) is asked to
    validate it in view 0."""
    ex = leader.build(txs, 0, 0)
    node = ValidatingNode(follower, mp)
    drv = ConsensusDriver(node, core=None, wal=None, send=None)
    return node, drv, A.ValidateBlock(1, 0, ex.block.hash, ex.encoded())


def validate(tmp_path, admitted: list[Transaction], proposed: list[Transaction]):
    async def go():
        async with leader_and_follower(tmp_path, ThreadPoolExecutor(2)) as (leader, follower,
                                                                            mp):
            pooled = [await mp.add(t) for t in admitted]
            node, drv, action = proposal(leader, follower, mp, proposed)
            await drv._validate(action)
            verdict = drv.queue.get_nowait()
            assert isinstance(verdict, E.BlockValidated)
            done = drv._executed.get(action.block_hash)
            return pooled, node, verdict, done
    return asyncio.run(go())


def test_admitted_txs_are_reused_and_not_verified_again(tmp_path):
    txs = [register(i) for i in range(4)]
    fresh = register(9)  # proposed, never admitted here
    pooled, node, verdict, done = validate(tmp_path, txs, txs + [fresh])
    assert verdict.valid
    assert all(a is b for a, b in zip(done.block.txs[:4], pooled, strict=True))
    assert done.block.txs[4] is not fresh and done.block.txs[4].hash == fresh.hash
    assert node.verified == [fresh.hash]  # only the one the pool never verified


def test_a_resigned_copy_of_an_admitted_tx_is_verified_and_refused(tmp_path):
    t = register(1)
    bad = Transaction(*t.body(), bytes([t.signature[0] ^ 1]) + t.signature[1:])
    object.__setattr__(bad, "hash", bad.compute_hash())
    assert bad.hash == t.hash
    _pooled, node, verdict, done = validate(tmp_path, [t], [bad])
    assert node.verified == [bad.hash]
    assert not verdict.valid and done is None


class _GatedPool(ThreadPoolExecutor):
    """Admission's verify pool, holding every check until `gate` opens."""

    def __init__(self) -> None:
        super().__init__(2)
        self.gate = threading.Event()

    def submit(self, fn, /, *args, **kwargs):
        def run():
            self.gate.wait(30)
            return fn(*args, **kwargs)
        return super().submit(run)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self.gate.set()  # no check left waiting for a gate nobody will open
        super().shutdown(wait, **kwargs)


def race(tmp_path, monkeypatch, wait_s: float, open_gate_while_waiting: bool):
    """A proposal arrives while its tx is still in admission (its SM2 check pending)."""
    from chainnode import driver as drv_mod

    monkeypatch.setattr(drv_mod, "ADMISSION_WAIT_S", wait_s)
    t = register(3)

    async def go():
        gated = _GatedPool()
        async with leader_and_follower(tmp_path, gated) as (leader, follower, mp):
            admission = asyncio.create_task(mp.add(t, "peer"))
            while mp.admitting(t.hash) is None:
                await asyncio.sleep(0)
            node, drv, action = proposal(leader, follower, mp, [t])
            validation = asyncio.create_task(drv._validate(action))
            if open_gate_while_waiting:
                for _ in range(20):
                    await asyncio.sleep(0)
                assert not validation.done() and node.verified == []  # it waits for admission
                gated.gate.set()
            await validation
            gated.gate.set()
            await admission
            return node, drv.queue.get_nowait(), t
    return asyncio.run(go())


def test_a_tx_still_in_admission_is_not_verified_twice(tmp_path, monkeypatch):
    node, verdict, _t = race(tmp_path, monkeypatch, 30.0, True)
    assert verdict.valid
    assert node.verified == []  # admission's check answered for it


def test_an_admission_that_takes_too_long_is_not_waited_for(tmp_path, monkeypatch):
    node, verdict, t = race(tmp_path, monkeypatch, 0.01, False)
    assert verdict.valid
    assert node.verified == [t.hash]  # checked here once the wait ran out


def test_bad_signature_copies_in_admission_delay_a_proposal_once_not_per_tx(tmp_path,
                                                                           monkeypatch):
    """A hostile peer forwards a bad-signature copy of each of the next proposal's txs just
    before it arrives (their checks held in admission): the follower waits for admission once
    per proposal, at most ADMISSION_WAIT_S, then verifies the proposal's own signatures (the
    bad copies verified nothing for them) and finds the block valid."""
    from chainnode import driver as drv_mod

    monkeypatch.setattr(drv_mod, "ADMISSION_WAIT_S", 0.05)
    waits: list[tuple[int, float]] = []
    real_wait = asyncio.wait

    async def counting_wait(fs, *, timeout=None, **kw):
        waits.append((len(fs), timeout))
        return await real_wait(fs, timeout=timeout, **kw)

    monkeypatch.setattr(drv_mod.asyncio, "wait", counting_wait)
    txs = [register(10 + i) for i in range(12)]
    copies = [Transaction(*t.body(), bytes([t.signature[0] ^ 1]) + t.signature[1:])
              for t in txs]
    for c in copies:
        object.__setattr__(c, "hash", c.compute_hash())

    async def go():
        gated = _GatedPool()
        async with leader_and_follower(tmp_path, gated) as (leader, follower, mp):
            admissions = [asyncio.create_task(mp.add(c, "hostile")) for c in copies]
            while any(mp.admitting(t.hash) is None for t in txs):
                await asyncio.sleep(0)
            node, drv, action = proposal(leader, follower, mp, txs)
            await drv._validate(action)
            gated.gate.set()
            refused = await asyncio.gather(*admissions, return_exceptions=True)
            return node, drv.queue.get_nowait(), refused, len(mp)

    node, verdict, refused, pooled = asyncio.run(go())
    assert verdict.valid
    assert waits == [(len(txs), 0.05)]  # one bounded wait for the whole proposal
    assert sorted(node.verified) == sorted(t.hash for t in txs)  # each checked once, here
    assert all(isinstance(r, Exception) for r in refused) and pooled == 0
