"""Batched tx forwarding without sockets: when a batch closes, what a receiver refuses, the
per-peer order of admissions, the in-flight bound and the cancellation of a penalised peer."""

from __future__ import annotations

import asyncio

import pytest

from chainnode.net.txforward import (
    MAX_BATCH_TXS,
    BatchLimits,
    ForwardedTxs,
    TxBatcher,
    check_batch,
    chunks,
)


async def test_txs_added_in_one_iteration_leave_as_one_ordered_batch():
    sent: list[list[bytes]] = []
    b = TxBatcher(sent.append, BatchLimits(linger=0))
    for i in range(10):
        b.add(bytes([i]))
    assert sent == [] and len(b) == 10
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sent == [[bytes([i]) for i in range(10)]]
    b.add(b"next")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sent[1:] == [[b"next"]] and (b.batches, b.txs) == (2, 11)


async def test_count_and_byte_caps_close_a_batch_at_once_and_linger_bounds_the_wait():
    sent: list[list[bytes]] = []
    b = TxBatcher(sent.append, BatchLimits(max_txs=3, max_bytes=10, linger=0.05))
    for raw in (b"a", b"b", b"c", b"d"):
        b.add(raw)
    assert sent == [[b"a", b"b", b"c"]]  # count cap: no waiting
    b.add(b"x" * 10)  # 1 + 10 > max_bytes with b"d": "d" leaves first
    assert sent[1:] == [[b"d"]]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while len(sent) < 3:
        assert loop.time() - t0 < 2, "linger never flushed"
        await asyncio.sleep(0.01)
    assert sent[2] == [b"x" * 10] and loop.time() - t0 >= 0.04


def test_chunks_keep_order_within_limits():
    raws = [bytes([i]) * (i + 1) for i in range(20)]
    parts = chunks(raws, BatchLimits(max_txs=4, max_bytes=30))
    assert [r for p in parts for r in p] == raws
    assert all(len(p) <= 4 and (len(p) == 1 or sum(map(len, p)) <= 30) for p in parts)


@pytest.mark.parametrize(("payload", "why"), [
    (b"tx", "not a list"), ({"a": 1}, "not a list"), ([], "empty"),
    ([b"x"] * (MAX_BATCH_TXS + 1), "exceeds"), ([b"a", "b"], "not bytes"),
    ([b"a", None], "not bytes"), ([b"a", b"b", b"a"], "repeats"),
])
def test_check_batch_refuses_what_no_honest_peer_sends(payload, why):
    out = check_batch(payload)
    assert isinstance(out, str) and why in out


async def test_batches_are_admitted_in_arrival_order_per_peer():
    started: list[tuple[bytes, bytes]] = []

    async def admit(peer: bytes, raws: list[bytes]) -> None:
        started.extend((peer, raw) for raw in raws)  # where add_batch takes its arrival turn
        await asyncio.sleep(0.001 * (raws[0][0] % 3))

    fw = ForwardedTxs(admit, max_in_flight=100)
    assert fw.on_batch(b"P", [b"\x01", b"\x02", b"\x03"]) is None
    assert fw.on_batch(b"Q", [b"\x09"]) is None
    assert fw.on_batch(b"P", [b"\x04", b"\x05"]) is None
    assert len(fw) == 6
    await asyncio.gather(*fw.tasks())
    assert [r for p, r in started if p == b"P"] == [b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"]
    assert len(fw) == 0 and fw.tasks() == []


async def test_full_budget_drops_whole_batches_and_forget_cancels_a_peer():
    gate = asyncio.Event()
    finished: list[bytes] = []

    async def admit(peer: bytes, raws: list[bytes]) -> None:
        await gate.wait()
        finished.extend(raws)

    fw = ForwardedTxs(admit, max_in_flight=4)
    assert fw.on_batch(b"P", [b"1", b"2", b"3"]) is None
    assert fw.on_batch(b"Q", [b"4", b"5"]) is None  # 5 > 4: dropped whole, not penalised
    assert fw.dropped == 2 and len(fw) == 3
    assert fw.on_batch(b"Q", [b"6"]) is None
    await asyncio.sleep(0)
    assert fw.forget(b"P") == 3
    gate.set()
    await asyncio.gather(*fw.tasks(), return_exceptions=True)
    await asyncio.sleep(0)
    assert finished == [b"6"] and len(fw) == 0


async def test_a_closed_admitter_starts_nothing():
    """The node's stop closes the door before collecting the running admissions: a frame
    still arriving while the links close must not start one that outlives the store."""
    started: list[bytes] = []

    async def admit(peer: bytes, raws: list[bytes]) -> None:
        started.extend(raws)

    fw = ForwardedTxs(admit, max_in_flight=100)
    fw.close()
    assert fw.on_batch(b"P", [b"\x01", b"\x02"]) is None  # dropped quietly: not the peer's fault
    assert fw.on_batch(b"P", "not a batch") is None  # nothing is judged once closed
    await asyncio.sleep(0)
    assert fw.tasks() == [] and len(fw) == 0 and started == []
