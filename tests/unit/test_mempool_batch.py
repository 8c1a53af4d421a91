"""Mempool.add_batch (a peer's `txs` frame admitted as one): the same checks and arrival order
as `add` one tx after the other, one verify job for the lot, and a bad tx refused alone."""

from __future__ import annotations

import asyncio

import pytest
from test_mempool import ALICE, BOB, CAROL, MALLORY, Env, _gated_env, _settle, tampered

from chainnode.errors import ChainError


def _codes(out: list) -> list:
    return [None if e is None else e.code for e in out]


@pytest.fixture
def env():
    e = Env()
    yield e
    e.pool.shutdown(wait=True)


async def test_a_bad_tx_is_refused_alone_and_the_rest_enter_in_batch_order(env):
    txs = [env.tx(k) for k in (ALICE, BOB, CAROL, ALICE, BOB)]
    txs[1] = tampered(txs[1])
    txs[3] = env.tx(MALLORY)  # not a member: refused before any verify
    out = await env.mp.add_batch(txs, source="link-1")
    assert _codes(out) == [None, "TX_BAD_SIGNATURE", None, "TX_NOT_MEMBER", None]
    assert env.mp.pending() == [txs[0], txs[2], txs[4]]
    assert env.pool.calls == 1  # one job for the four that needed a signature check
    assert env.mp.rejected == {"TX_BAD_SIGNATURE": 1, "TX_NOT_MEMBER": 1}
    assert env.mp.was_verified(txs[0].hash, txs[0].signature)
    assert not env.mp.was_verified(txs[1].hash, txs[1].signature)
    assert env.mp.admitting(txs[0].hash) is None and env.mp.ordered_sources() == 0


async def test_cheap_checks_duplicates_and_replays_as_add_does(env):
    pooled = env.tx(ALICE)
    await env.mp.add(pooled)
    committed = env.tx(BOB)
    env.committed.add(committed.hash)
    wrong_chain = env.tx(CAROL, chain_id="other")
    expired = env.tx(CAROL, expires_at=env.head)
    fresh = env.tx(CAROL)
    out = await env.mp.add_batch([pooled, committed, wrong_chain, expired, fresh], "link-1")
    assert _codes(out) == ["TX_DUPLICATE", "TX_REPLAY", "TX_WRONG_CHAIN", "TX_EXPIRED", None]
    assert env.mp.pending() == [pooled, fresh]


async def test_the_same_hash_twice_in_a_batch_is_admitted_at_most_once(env):
    good = env.tx(ALICE)
    out = await env.mp.add_batch([good, tampered(good)], "link-1")
    assert _codes(out) == [None, "TX_DUPLICATE"]
    # a bad copy first does not keep the good one out (it is checked on its own)
    other = env.tx(BOB)
    out = await env.mp.add_batch([tampered(other), other], "link-1")
    assert _codes(out) == ["TX_BAD_SIGNATURE", None]
    assert env.mp.pending() == [good, other]


async def test_batches_of_one_source_enter_in_arrival_order_whatever_verifies_first():
    e, gate = _gated_env()
    first = [e.tx(ALICE), e.tx(BOB)]
    second = [e.tx(CAROL), e.tx(ALICE)]
    one = asyncio.create_task(e.mp.add_batch(first, "link-1"))
    single = asyncio.create_task(e.mp.add(e.tx(BOB), "link-1"))
    two = asyncio.create_task(e.mp.add_batch(second, "link-1"))
    await _settle(lambda: len(gate.jobs) == 5)
    assert len(gate.jobs) == 5  # max_batch 1 here: every check is its own job, all at once
    for i in (4, 3, 2, 1):
        gate.finish(i)
        await _settle()
        assert len(e.mp) == 0  # the first batch's first tx is still being checked
    gate.finish(0)
    assert _codes(await one) == [None, None] and _codes(await two) == [None, None]
    tx_single = await single
    assert e.mp.pending() == [*first, tx_single, *second]
    assert e.mp.ordered_sources() == 0


async def test_a_copy_in_flight_elsewhere_holds_its_place_then_is_a_duplicate():
    e, gate = _gated_env()
    tx1, tx2 = e.tx(ALICE), e.tx(BOB)
    from_a = asyncio.create_task(e.mp.add(tx1, source="link-a"))
    await _settle(lambda: len(gate.jobs) == 1)
    from_b = asyncio.create_task(e.mp.add_batch([tx1, tx2], "link-b"))
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(1)  # tx2 verified, but tx1 (link-a's) is not pooled yet: tx2 must wait
    await _settle()
    assert e.mp.pending() == [] and not from_b.done()
    gate.finish(0)
    assert await from_a is tx1
    assert _codes(await from_b) == ["TX_DUPLICATE", None]
    assert e.mp.pending() == [tx1, tx2] and len(gate.jobs) == 2


async def test_a_client_copy_of_a_batch_tx_waits_for_the_batch_then_is_a_duplicate():
    e, gate = _gated_env()
    tx1 = e.tx(ALICE)
    batch = asyncio.create_task(e.mp.add_batch([tx1], "link-a"))
    await _settle(lambda: len(gate.jobs) == 1)
    assert e.mp.admitting(tx1.hash) is not None
    client = asyncio.create_task(e.mp.add(tx1))
    await _settle()
    assert not client.done()
    gate.finish(0)
    assert _codes(await batch) == [None]
    with pytest.raises(ChainError, match="TX_DUPLICATE"):
        await client
    assert len(gate.jobs) == 1  # verified once


async def test_a_cancelled_batch_leaves_nothing_in_flight_and_its_place_to_the_next():
    e, gate = _gated_env()
    first = [e.tx(ALICE), e.tx(BOB)]
    later = e.tx(CAROL)
    one = asyncio.create_task(e.mp.add_batch(first, "link-1"))
    two = asyncio.create_task(e.mp.add_batch([later], "link-1"))
    await _settle(lambda: len(gate.jobs) == 3)
    gate.finish(2)
    await _settle()
    assert len(e.mp) == 0  # waits for the first batch
    one.cancel()
    assert _codes(await two) == [None]
    assert e.mp.pending() == [later]
    assert all(e.mp.admitting(tx.hash) is None for tx in first)
    assert e.mp.ordered_sources() == 0
    # the cancelled txs can be admitted again later
    gate.jobs.clear()
    again = asyncio.create_task(e.mp.add_batch(first, "link-1"))
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(0)
    gate.finish(1)
    assert _codes(await again) == [None, None]


async def test_the_total_bound_counts_the_batch_in_flight():
    e = Env(max_txs=2)
    try:
        out = await e.mp.add_batch([e.tx(ALICE), e.tx(BOB), e.tx(CAROL)], "link-1")
        assert _codes(out) == [None, None, "MEMPOOL_FULL"]
    finally:
        e.pool.shutdown(wait=True)
