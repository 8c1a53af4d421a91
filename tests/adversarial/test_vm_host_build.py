"""The proposer's build loop never dies (issue 8, deliverable 1).

ConsensusDriver._build against a node whose Chain.build raises an unexpected error whenever a
given transaction is in the batch: the loop finds that transaction by re-building prefixes,
evicts it, logs it, and proposes the rest; InvalidBlock drops its batch and the loop goes on.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from chainnode.consensus import events as E
from chainnode.driver import ConsensusDriver
from chainnode.exec.executor import InvalidBlock


class FakeMempool:
    def __init__(self, txs) -> None:
        self.txs = list(txs)
        self.removed: list = []
        self.event = asyncio.Event()

    def __len__(self) -> int:
        return len(self.txs)

    def take(self, n, size, gas):
        return list(self.txs[:n])

    def remove(self, hashes) -> None:
        hs = set(hashes)
        self.removed.extend(hs)
        self.txs = [t for t in self.txs if t.hash not in hs]

    async def wait_nonempty(self) -> None:
        await self.event.wait()


class FakeChain:
    def __init__(self, poison: set, invalid: set, params: dict) -> None:
        self.head = SimpleNamespace(height=4)
        self.params = params
        self.param = params.__getitem__
        self.poison = poison
        self.invalid = invalid
        self.builds: list[int] = []
        self.executor = SimpleNamespace(check_tx_static=self.check_tx_static)

    def check_tx_static(self, tx, height, is_committed, params=None) -> None:
        if tx.hash in self.invalid:
            raise InvalidBlock("tx expired")

    def split_admissible(self, txs):
        return list(txs), []

    def is_committed(self, tx_hash) -> bool:
        return False

    def build(self, txs, view, index):
        self.builds.append(len(txs))
        names = {t.hash for t in txs}
        if names & self.invalid:
            raise InvalidBlock("tx expired")
        if names & self.poison:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return SimpleNamespace(block=SimpleNamespace(hash=b"h" + bytes(len(txs))),
                               encoded=lambda: b"block", txs=list(txs))


def tx(name: str):
    return SimpleNamespace(hash=name.encode())


def driver(txs, poison=(), invalid=()):
    params = {"empty_blocks": False, "block_interval_ms": 0, "max_block_txs": 100,
              "max_block_bytes": 1 << 20, "block_gas_limit": 1 << 40}
    chain = FakeChain({p.encode() for p in poison}, {p.encode() for p in invalid}, params)

    async def run_exec(fn, *args):
        return fn(*args)

    node = SimpleNamespace(genesis=SimpleNamespace(param=params.__getitem__), chain=chain,
                           mempool=FakeMempool(txs), run_exec=run_exec, index=0)

    async def send(*a):
        return None

    d = ConsensusDriver(node, SimpleNamespace(), None, send=send)
    return d, node


def proposals(d) -> list:
    out = []
    while not d.queue.empty():
        ev = d.queue.get_nowait()
        if isinstance(ev, E.ProposalReady):
            out.append(ev)
    return out


def test_unexpected_error_evicts_only_the_culprit_and_proposes_the_rest():
    txs = [tx(f"t{i}") for i in range(9)]
    d, node = driver(txs, poison={"t5"})
    asyncio.run(asyncio.wait_for(d._build(5, 0), 10))
    assert node.mempool.removed == [b"t5"]
    (p,) = proposals(d)
    assert (p.height, p.view) == (5, 0)
    ex = d._executed[p.block_hash]
    assert [t.hash for t in ex.txs] == [t.hash for t in txs if t.hash != b"t5"]
    assert len(node.chain.builds) <= 2 + 2 + 4  # a failed build, a bisection, the rebuild


def test_several_poison_transactions_are_evicted_one_by_one():
    txs = [tx(f"t{i}") for i in range(6)]
    d, node = driver(txs, poison={"t0", "t3", "t5"})
    asyncio.run(asyncio.wait_for(d._build(5, 0), 10))
    assert sorted(node.mempool.removed) == [b"t0", b"t3", b"t5"]
    (p,) = proposals(d)
    assert [t.hash for t in d._executed[p.block_hash].txs] == [b"t1", b"t2", b"t4"]


def test_invalid_block_drops_only_the_invalid_transactions():
    d, node = driver([tx("a"), tx("old"), tx("b")], invalid={"old"})
    asyncio.run(asyncio.wait_for(d._build(5, 0), 10))
    assert node.mempool.removed == [b"old"]
    (p,) = proposals(d)
    assert [t.hash for t in d._executed[p.block_hash].txs] == [b"a", b"b"]


def test_invalid_block_drops_the_batch_and_the_loop_waits_for_more_work():
    d, node = driver([tx("old")], invalid={"old"})

    async def scenario():
        task = asyncio.create_task(d._build(5, 0))
        while b"old" not in node.mempool.removed:  # deadline: the wait_for below
            await asyncio.sleep(0)
        assert not task.done()  # still alive, waiting for transactions
        node.mempool.txs.append(tx("fresh"))
        node.mempool.event.set()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    (p,) = proposals(d)
    assert [t.hash for t in d._executed[p.block_hash].txs] == [b"fresh"]


def test_the_loop_returns_when_the_height_moves_on():
    d, node = driver([tx("a")], poison={"a"})

    async def scenario():
        task = asyncio.create_task(d._build(5, 0))
        while b"a" not in node.mempool.removed:
            await asyncio.sleep(0)
        node.chain.head.height = 5  # someone else's block committed
        node.mempool.event.set()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert proposals(d) == []


def test_a_storage_fault_evicts_nothing_and_the_loop_retries():
    d, node = driver([tx("a"), tx("b")])
    calls = {"n": 0}
    real = node.chain.build

    def flaky(txs, view, index):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(5, "Input/output error")
        return real(txs, view, index)

    node.chain.build = flaky
    asyncio.run(asyncio.wait_for(d._build(5, 0), 10))
    assert node.mempool.removed == []
    (p,) = proposals(d)
    assert [t.hash for t in d._executed[p.block_hash].txs] == [b"a", b"b"]
