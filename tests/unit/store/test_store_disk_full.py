"""A full disk under a real LevelDB (a small tmpfs): the first write error is fatal and latched.

What is proven here, each on a filesystem that really returns ENOSPC:
- a block commit or a WAL write that fails raises StorageFailure, tells the listener once, and
  every later write raises too, without touching LevelDB, even after space is freed (LevelDB
  would "accept" those and lose them on reopen);
- reads on the failed handle show exactly what a reopen finds;
- after freeing space and reopening, the last committed block, the state and the WAL are intact
  and the store accepts new blocks;
- the consensus driver drops the rest of an action list after a failed Persist (no Send);
- a validator whose disk filled mid-round never signs a different vote for a slot it voted in.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

import pytest
from tmpfs_mount import available, fill, free, mounted_tmpfs

from chainnode.chain import Chain
from chainnode.consensus import actions as A
from chainnode.consensus import events as E
from chainnode.core.certificate import CommitCertificate, vote_payload
from chainnode.core.genesis import Genesis, Member, Validator
from chainnode.core.tx import build_tx
from chainnode.crypto import domain
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey
from chainnode.driver import ConsensusDriver
from chainnode.store.db import ChainDB
from chainnode.store.failure import StorageFailure
from chainnode.store.wal import ConsensusWAL

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "consensus"))
from cons_util import Driver, block, sent  # noqa: E402

CHAIN = "unit-disk-full"


@pytest.fixture
def disk(tmp_path):
    with mounted_tmpfs(tmp_path / "mnt", "4m") as where:
        yield where


@pytest.fixture(scope="module")
def keys():
    return {"validator": PrivateKey.generate(), "admin": PrivateKey.generate()}


@pytest.fixture(scope="module")
def genesis(keys):
    admin = address_of(keys["admin"].public_key)
    return Genesis(CHAIN, 1_700_000_000_000,
                   (Validator("node0", keys["validator"].public_key.raw),),
                   (Member(admin, ("admin", "operator"), "admin"),), {})


def _txs(keys, n: int):
    return [build_tx(keys["admin"], CHAIN, "system", "sys.members", "register",
                     {"address": secrets.token_hex(20), "roles": ["member"],
                      "name": "x" * 200}, expires_at=100, gas_limit=100_000)
            for _ in range(n)]


def _produce(chain: Chain, keys, n_txs: int = 20):
    ex = chain.build(_txs(keys, n_txs), 0, 0)
    payload = vote_payload("commit", CHAIN, 0, ex.block.height, ex.block.hash)
    cert = CommitCertificate(CHAIN, ex.block.height, 0, ex.block.hash,
                             ((0, domain.sign(keys["validator"], "commit", CHAIN, payload)),))
    return ex, cert


def test_failed_block_commit_latches_and_reopen_resumes_from_the_last_block(disk, genesis, keys):
    db = ChainDB(disk / "chain.ldb")
    told: list[StorageFailure] = []
    db.guard.on_failure(told.append)
    chain = Chain(db, genesis)
    for _ in range(3):
        chain.commit(*_produce(chain, keys))
    durable = db.head()
    assert durable.height == 3

    fill(disk)
    assert available(disk) == 0
    ex, cert = _produce(chain, keys, 60)  # larger than any slack left in the log's last page
    with pytest.raises(StorageFailure) as info:
        chain.commit(ex, cert)
    failure = info.value
    assert "No space left on device" in str(failure) and "commit of block 4" in str(failure)
    assert told == [failure] and db.failure is failure
    assert chain.head == durable  # the in-memory head did not move either

    # space comes back: LevelDB itself would now "accept" writes and lose them on reopen;
    # the guard refuses every one of them without touching the handle
    free(disk)
    for attempt in (lambda: chain.commit(ex, cert),
                    lambda: ConsensusWAL(db.db, guard=db.guard).apply([(b"meta", b"x")])):
        with pytest.raises(StorageFailure) as again:
            attempt()
        assert again.value is failure
    assert told == [failure]  # told once
    # reads on the failed handle show what a reopen will find
    assert db.head() == durable and db.block(4) is None
    assert db.block(3).hash == durable.block_hash
    db.close()

    db = ChainDB(disk / "chain.ldb")
    try:
        assert db.failure is None
        assert db.head() == durable
        assert db.block(3).hash == durable.block_hash and db.certificate(3) is not None
        assert db.block(4) is None and db.db.get(b"w/meta") is None
        assert db.recompute_state_root() == durable.state_root
        chain = Chain(db, genesis)  # resumes: the next block commits on the reopened store
        chain.commit(*_produce(chain, keys))
        assert db.head().height == 4
    finally:
        db.close()


def test_failed_wal_write_latches_the_shared_guard_and_keeps_earlier_records(disk):
    db = ChainDB(disk / "chain.ldb")
    wal = ConsensusWAL(db.db, guard=db.guard)
    wal.apply([(b"meta", b"view 0"), (b"vote/a", b"signed a")])
    fill(disk)
    with pytest.raises(StorageFailure, match="consensus WAL write failed: .*No space left"):
        wal.apply([(b"vote/b", secrets.token_bytes(64 * 1024))])
    free(disk)
    with pytest.raises(StorageFailure):  # the block store shares the latch
        db.write_genesis(b"g" * 32, {})
    with pytest.raises(StorageFailure):
        wal.apply([(b"vote/c", b"small")])
    assert wal.load() == {b"meta": b"view 0", b"vote/a": b"signed a"}
    db.close()
    db = ChainDB(disk / "chain.ldb")
    try:
        assert ConsensusWAL(db.db).load() == {b"meta": b"view 0", b"vote/a": b"signed a"}
        assert db.head() is None
    finally:
        db.close()


def test_opening_a_store_on_a_full_disk_is_a_storage_failure(disk):
    db = ChainDB(disk / "chain.ldb")
    wal = ConsensusWAL(db.db, guard=db.guard)
    for i in range(40):  # a log that recovery must flush to a table file on open
        wal.apply([(b"r%d" % i, secrets.token_bytes(8 * 1024))])
    db.close()
    fill(disk)
    with pytest.raises(StorageFailure, match="opening .*No space left"):
        ChainDB(disk / "chain.ldb")
    free(disk)
    db = ChainDB(disk / "chain.ldb")
    assert len(ConsensusWAL(db.db).load()) == 40
    db.close()


# -- the consensus driver over a WAL on the full disk


class _Core:
    """Returns one scripted action list per event; counts what it was asked."""

    def __init__(self, script: list[list]) -> None:
        self.script = script
        self.handled = 0
        self.view = self.height = self.leader = 0

    def handle(self, event) -> list:
        self.handled += 1
        return self.script.pop(0) if self.script else []


class _Node:
    def __init__(self) -> None:
        self.failures: list[StorageFailure] = []

    async def run_exec(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def storage_failed(self, failure: StorageFailure) -> None:
        self.failures.append(failure)


def _msg():
    from cons_util import Keys

    from chainnode.consensus import Prepare

    return Keys(4).sign(Prepare(0, 1, b"\x01" * 32, 1))


async def _until(cond, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _driver(wal: ConsensusWAL, script: list[list]) -> tuple[ConsensusDriver, list, _Node,
                                                             _Core]:
    sends: list = []

    async def send(to, kind, payload) -> None:
        sends.append(payload)

    node, core = _Node(), _Core(script)
    return ConsensusDriver(node, core, wal, send=send), sends, node, core


async def test_driver_sends_after_a_persist_that_succeeded(disk):
    db = ChainDB(disk / "chain.ldb")
    try:
        wal = ConsensusWAL(db.db, guard=db.guard)
        msg = _msg()
        script = [[A.Persist(((b"vote/x", b"v"),), ()), A.Send(msg)],
                  [A.Send(msg)]]
        driver, sends, node, core = _driver(wal, script)
        task = asyncio.create_task(driver.run())  # Start runs the first list
        await _until(lambda: len(sends) == 1, "the first Send")
        driver.post(E.TimerFired(0))  # the next event runs the second list
        await _until(lambda: len(sends) == 2, "the second Send")
        assert not task.done()  # still running, waiting for events
        task.cancel()
        assert node.failures == [] and driver.failed is None
        assert core.handled == 2 and wal.load() == {b"vote/x": b"v"}
    finally:
        db.close()


async def test_driver_aborts_the_action_list_after_a_failed_persist(disk):
    db = ChainDB(disk / "chain.ldb")
    try:
        wal = ConsensusWAL(db.db, guard=db.guard)
        fill(disk)
        msg = _msg()
        big = secrets.token_bytes(64 * 1024)
        script = [[A.Persist(((b"vote/x", big),), ()), A.Send(msg),
                   A.SetTimer(0, 10)],
                  [A.Send(msg)]]
        driver, sends, node, core = _driver(wal, script)
        task = asyncio.create_task(driver.run())
        await asyncio.wait_for(task, 10)  # the driver returns: consensus is over for this node
        driver.post(E.TimerFired(0))
        assert sends == []  # neither the Send after the Persist nor any later one
        assert isinstance(driver.failed, StorageFailure)
        assert node.failures == [driver.failed]
        assert "No space left on device" in str(driver.failed)
        assert core.handled == 1  # the driver stopped: the next event was never handled
        assert driver._timer is None  # the SetTimer after the failed Persist never ran
        free(disk)
        assert wal.load() == {}
    finally:
        db.close()


# -- never two different votes for one slot across a disk-full stop and a restart


def test_disk_full_mid_round_then_restart_never_signs_a_conflicting_vote(disk):
    from chainnode.consensus import BlockValidated, Commit, Prepare, Start

    path = disk / "node.ldb"
    db = ChainDB(path)
    d = Driver(n=4, me=1, wal=ConsensusWAL(db.db, guard=db.guard))
    signed: dict[tuple, bytes] = {}  # (kind, view, height) -> signed payload, all ever sent

    def record(actions) -> None:
        for m in sent(actions):
            if m.sender == 1:
                key = (m.KIND, m.view, getattr(m, "height", 0))
                assert signed.setdefault(key, m.signing_payload("x")) == m.signing_payload("x"), (
                    f"signed two different {key}")

    def feed_until_failure(event) -> bool:
        """The shell's order: Persist first, nothing after a failed one. False on failure."""
        actions = d.core.handle(event)
        for i, act in enumerate(actions):
            if isinstance(act, A.Persist):
                try:
                    d.wal.apply(act.puts, act.deletes)
                except StorageFailure:
                    record([a for a in actions[:i]])
                    return False
        record(actions)
        return True

    assert feed_until_failure(Start())
    a, body_a = block(1, tag="A")
    assert feed_until_failure(E.MessageReceived(d.pre_prepare(0, 1, body_a)))
    assert feed_until_failure(BlockValidated(1, 0, a, True))  # prepare for A: durable
    assert ("prepare", 0, 1) in signed
    # reopen (a fresh, empty log file: no slack page left for a small record), then fill
    db.close()
    db = ChainDB(path)
    d.wal = ConsensusWAL(db.db, guard=db.guard)
    fill(disk)
    # the prepares that make A prepared: the commit vote's Persist hits the full disk
    ok = True
    for sender in (0, 2, 3):
        ok = feed_until_failure(E.MessageReceived(d.prepare(0, 1, a, sender))) and ok
        if not ok:
            break
    assert not ok, "the commit vote's Persist should have failed on the full disk"
    assert ("commit", 0, 1) not in signed  # nothing sent after the failed Persist
    db.close()

    # the operator frees space and restarts the node
    free(disk)
    db = ChainDB(path)
    try:
        d.wal = ConsensusWAL(db.db, guard=db.guard)
        acts = d.restart()
        record(acts)
        assert [m for m in sent(acts, Prepare) if m.sender == 1], "the WAL'd prepare is resent"
        # an equivocating leader now offers B for the same slot: no prepare for B, ever
        b, body_b = block(1, tag="B")
        acts = d.recv(d.pre_prepare(0, 1, body_b))
        record(acts)
        acts = d.feed(BlockValidated(1, 0, b, True))
        record(acts)
        assert all(m.block_hash == a for m in sent(acts, Prepare) if m.sender == 1)
        # A completes: the node's commit vote (signed now, first time) is for A
        for sender in (0, 2, 3):
            record(d.recv(d.prepare(0, 1, a, sender)))
        commits = [k for k in signed if k[0] == "commit"]
        assert commits == [("commit", 0, 1)]
        assert signed[("prepare", 0, 1)] == Prepare(0, 1, a, 1).signing_payload("x")
        assert signed[("commit", 0, 1)] == Commit(0, 1, a, 1).signing_payload("x")
    finally:
        db.close()


# -- sync's block writes: a failure leaves catch_up, it is never swallowed or retried


async def test_sync_write_on_a_full_disk_raises_out_of_catch_up(disk, tmp_path, genesis, keys):
    from chainnode.sync import BlockSync

    source_db = ChainDB(tmp_path / "source.ldb")
    source = Chain(source_db, genesis)
    for _ in range(3):
        source.commit(*_produce(source, keys, 60))
    db = ChainDB(disk / "chain.ldb")
    told: list[StorageFailure] = []
    db.guard.on_failure(told.append)
    target = Chain(db, genesis)
    committed, reported = [], []
    loop = asyncio.get_running_loop()
    serving = BlockSync(source, None, lambda: [], None, None, None)
    peer = b"\x01" * 64
    sync: BlockSync

    async def send(to: bytes, kind: str, payload) -> bool:
        loop.call_soon(sync.on_response, peer, serving.serve(payload))
        return True

    async def run_exec(fn, *args):
        return await loop.run_in_executor(None, fn, *args)

    sync = BlockSync(target, send, lambda: [peer], run_exec, committed.append,
                     lambda p, why: reported.append(why))
    try:
        fill(disk)
        with pytest.raises(StorageFailure, match="commit of block 1 failed"):
            await asyncio.wait_for(sync.catch_up(), 30)
        assert told and committed == [] and reported == []  # the peer did nothing wrong
        assert target.head.height == 0 and db.head().height == 0
        free(disk)
        with pytest.raises(StorageFailure):  # latched: no retry through this handle
            await asyncio.wait_for(sync.catch_up(), 30)
        assert db.block(1) is None
    finally:
        db.close()
        source_db.close()
