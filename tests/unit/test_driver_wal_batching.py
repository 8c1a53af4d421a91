"""The driver writes Persists nothing was sent between as ONE synced WAL batch, and holds a
deletes-only Persist until the next WAL write or the next action seen outside the node; every
Send still finds all the records of the Persists before it on disk (persist-before-send).

Scripts are the real core's action lists (a single validator committing three blocks, a
replica of four through one round), with the actions that need a chain swapped for stand-ins
of the same kind for the driver: CommitBlock (durable, outside) -> Send, BuildProposal and
ValidateBlock (internal) -> CancelTimer.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "consensus"))

from cons_util import Driver, block  # noqa: E402

from chainnode import driver as drv_mod  # noqa: E402
from chainnode.consensus import (  # noqa: E402
    BlockCommitted,
    BlockValidated,
    ProposalReady,
    Start,
    TransactionsPending,
)
from chainnode.consensus import actions as A  # noqa: E402
from chainnode.consensus import events as E  # noqa: E402
from chainnode.driver import ConsensusDriver  # noqa: E402
from chainnode.store.failure import StorageFailure  # noqa: E402
from chainnode.store.wal import MemoryWAL  # noqa: E402


class _WAL(MemoryWAL):
    """Logs each synced write (a copy of the records after it) into the shared `log`."""

    def __init__(self, log: list, fail_at: int | None = None) -> None:
        super().__init__()
        self.log, self.fail_at = log, fail_at

    def apply(self, puts, deletes=()) -> None:
        if self.fail_at is not None and self.writes == self.fail_at:
            raise StorageFailure("consensus WAL write", OSError(28, "No space left on device"))
        super().apply(puts, deletes)
        self.log.append(("write", self.load()))


class _Core:
    def __init__(self, script: list[list]) -> None:
        self.script = list(script)
        self.view = self.height = self.leader = 0

    def handle(self, event) -> list:
        return self.script.pop(0) if self.script else []


class _Node:
    def __init__(self) -> None:
        self.failures: list = []

    async def run_exec(self, fn, *args):
        return fn(*args)

    def storage_failed(self, failure) -> None:
        self.failures.append(failure)


def _stand_ins(actions: list) -> list:
    out = []
    for a in actions:
        if isinstance(a, A.CommitBlock):
            out.append(A.Send(("commit-block", a.height)))
        elif isinstance(a, A.BuildProposal | A.ValidateBlock):
            out.append(A.CancelTimer())
        else:
            out.append(a)
    return out


def _run(script: list[list], fail_at: int | None = None):
    """Run the action lists through a ConsensusDriver; returns (log, wal, driver): the log
    holds ("write", records) and ("send", what, records on disk when it was sent)."""
    log: list = []
    wal = _WAL(log, fail_at)

    async def main() -> ConsensusDriver:
        async def send(to, kind, payload) -> None:
            log.append(("send", payload, wal.load()))

        d = ConsensusDriver(_Node(), _Core(script), wal, send=send)
        task = asyncio.create_task(d.run())
        for _ in range(len(script) - 1):
            d.post(E.TimerFired(0))
        while d.queue.qsize() and not task.done():
            await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
        return d

    real, drv_mod.encode_message = drv_mod.encode_message, lambda m: m  # stand-in messages
    try:
        d = asyncio.run(main())
    finally:
        drv_mod.encode_message = real
    return log, wal, d


def _check_persist_before_send(script: list[list], log: list) -> None:
    """Every Send finds on disk every record the Persists before it (in script order) left."""
    want: dict[bytes, bytes] = {}
    sends = iter([e for e in log if e[0] == "send"])
    for actions in script:
        for a in actions:
            if isinstance(a, A.Persist):
                for k in a.deletes:
                    want.pop(k, None)
                want.update(a.puts)
            elif isinstance(a, A.Send):
                _, _, on_disk = next(sends)
                puts_ok = all(on_disk.get(k) == v for k, v in want.items())
                gone_ok = all(k in want for k in on_disk)
                assert puts_ok and gone_ok, "a Send left before its Persists were on disk"


def _single_validator_script(heights: int) -> list[list]:
    d = Driver(n=1, me=0)
    script = [_stand_ins(d.feed(Start())), _stand_ins(d.feed(TransactionsPending(True)))]
    for h in range(1, heights + 1):
        bh, body = block(h, d.core.committed_hash or b"\0" * 32)
        script.append(_stand_ins(d.feed(ProposalReady(h, 0, bh, body))))
        script.append(_stand_ins(d.feed(BlockCommitted(h, bh))))
    return script


def test_single_validator_writes_one_wal_batch_per_block_instead_of_four():
    script = _single_validator_script(3)
    persists = sum(isinstance(a, A.Persist) for acts in script for a in acts)
    assert persists == 12  # the core asks for 4 per block: 3 votes' lists and the cleanup
    log, wal, d = _run(script)
    assert d.failed is None
    assert wal.writes == 3  # one per block: votes (+ the previous cleanup) before its commit
    assert [e[0] for e in log] == ["write", "send"] * 3  # each commit after its batch
    _check_persist_before_send(script, log)
    # the last cleanup is held, not lost: it only deletes, and the next write carries it
    assert d._held and all(not p.puts for p in d._held)


def test_replica_round_keeps_persist_before_send_with_fewer_writes():
    d = Driver(n=4, me=1)
    script = [_stand_ins(d.feed(Start()))]
    for h in (1, 2):
        bh, body = block(h, d.core.committed_hash or b"\0" * 32)
        script.append(_stand_ins(d.recv(d.pre_prepare(0, h, body))))
        script.append(_stand_ins(d.feed(BlockValidated(h, 0, bh, True))))
        for s in (0, 2):
            script.append(_stand_ins(d.recv(d.prepare(0, h, bh, s))))
        for s in (0, 2):
            script.append(_stand_ins(d.recv(d.commit(0, h, bh, s))))
        script.append(_stand_ins(d.feed(BlockCommitted(h, bh))))
    persists = sum(isinstance(a, A.Persist) for acts in script for a in acts)
    log, wal, drv = _run(script)
    assert drv.failed is None
    assert 0 < wal.writes < persists
    _check_persist_before_send(script, log)


def test_a_failed_batch_stops_everything_after_it():
    p1 = A.Persist(((b"vote/a", b"1"),), ())
    p2 = A.Persist(((b"vote/b", b"2"),), ())
    script = [[p1, p2, A.Send("m"), A.SetTimer(0, 10)], [A.Send("later")]]
    log, wal, d = _run(script, fail_at=0)
    assert isinstance(d.failed, StorageFailure)
    assert [e for e in log if e[0] == "send"] == [] and wal.load() == {}
    assert d._timer is None


def test_a_held_delete_is_written_before_an_unrelated_send():
    p = A.Persist(((b"vote/a", b"1"),), ())
    cleanup = A.Persist((), (b"vote/a",))
    script = [[p, A.Send("first")], [cleanup, A.SetTimer(0, 10)], [A.Send("resend")]]
    log, wal, d = _run(script)
    assert [e[0] for e in log] == ["write", "send", "write", "send"]
    assert log[-1][2] == {}  # the delete was on disk before the next Send
    _check_persist_before_send(script, log)


def test_merged_persists_end_as_applying_them_in_order():
    from chainnode.driver import _merged

    a = A.Persist(((b"k", b"1"), (b"x", b"1")), ())
    b = A.Persist((), (b"k", b"y"))
    c = A.Persist(((b"y", b"2"),), (b"x",))
    seq, one = MemoryWAL(), MemoryWAL()
    for w in (seq, one):
        w.apply(((b"y", b"0"), (b"z", b"0")))
    for p in (a, b, c):
        seq.apply(p.puts, p.deletes)
    m = _merged([a, b, c])
    one.apply(m.puts, m.deletes)
    assert one.load() == seq.load() == {b"y": b"2", b"z": b"0"}
