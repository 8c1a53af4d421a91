"""Red team of forwarded admission per frame (Mempool.add_batch): a hostile peer with valid keys,
helped by a client that submits a bad-signature copy of a tx, must not wedge admission.

A tx of a batch that arrived as a copy of an admission in flight waits for that admission, as
`add` waits for the copy it saw at arrival. If it waited instead for whatever is in flight under
that hash when the batch reaches it, it could wait for a batch that arrived later: behind it in
the same link's order, or waiting in turn for this batch. Neither then ever settles, the link's
later txs never enter the pool, and the hash stays in flight for good (every other copy of it,
from honest peers or clients, waits for ever too)."""

from __future__ import annotations

import asyncio

from tests.unit.test_mempool import ALICE, BOB, CAROL, _gated_env, _settle, tampered


def _codes(out: list) -> list:
    return [None if e is None else e.code for e in out]


async def _finish_all(gate, done) -> None:
    """Finish every verify job, in order, until `done()` (bounded: a wedge fails the test)."""
    for _ in range(20):
        for i, (fut, _) in enumerate(gate.jobs):
            if not fut.done():
                gate.finish(i)
        await _settle(done)
        if done():
            return


async def test_a_later_batch_of_the_same_link_cannot_wedge_an_earlier_one():
    e, gate = _gated_env()
    y, t1 = e.tx(ALICE), e.tx(BOB)
    client = asyncio.create_task(e.mp.add(tampered(y)))  # same hash, bad signature
    await _settle(lambda: len(gate.jobs) == 1)
    first = asyncio.create_task(e.mp.add_batch([t1, y], "peer-p"))  # y: a copy, waits
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(0)  # the client's copy fails: y is no longer in flight
    await _settle(lambda: client.done())
    assert client.exception().code == "TX_BAD_SIGNATURE"
    assert e.mp.admitting(y.hash) is None
    second = asyncio.create_task(e.mp.add_batch([y], "peer-p"))  # y registered again, later
    await _settle(lambda: len(gate.jobs) == 3)
    tasks = [first, second]
    try:
        await _finish_all(gate, lambda: all(t.done() for t in tasks))
        assert first.done() and second.done(), "the link's admissions are wedged"
        assert _codes(await first) == [None, "TX_DUPLICATE"]  # y was pending (second's)
        assert _codes(await second) == [None]
        assert e.mp.pending() == [t1, y]
        assert e.mp.admitting(y.hash) is None and e.mp.ordered_sources() == 0
    finally:
        for t in tasks:
            t.cancel()


async def test_two_links_copying_each_others_txs_cannot_wedge_each_other():
    e, gate = _gated_env()
    x, y = e.tx(ALICE), e.tx(CAROL)
    client = asyncio.create_task(e.mp.add(tampered(y)))
    await _settle(lambda: len(gate.jobs) == 1)
    from_p = asyncio.create_task(e.mp.add_batch([y, x], "peer-p"))  # y copy, x registered
    await _settle(lambda: len(gate.jobs) == 2)
    gate.finish(0)
    await _settle(lambda: client.done())
    assert client.exception().code == "TX_BAD_SIGNATURE"
    from_q = asyncio.create_task(e.mp.add_batch([x, y], "peer-q"))  # x copy, y registered
    await _settle(lambda: len(gate.jobs) == 3)
    tasks = [from_p, from_q]
    try:
        await _finish_all(gate, lambda: all(t.done() for t in tasks))
        assert from_p.done() and from_q.done(), "two links wait for each other"
        assert sorted(e.mp.pending(), key=lambda t: t.hash) == sorted([x, y],
                                                                      key=lambda t: t.hash)
        assert e.mp.admitting(x.hash) is None and e.mp.admitting(y.hash) is None
        # a later client copy of y is answered (not parked behind a wedged batch)
        late = asyncio.create_task(e.mp.add(y))
        await _settle(lambda: late.done())
        assert late.done() and late.exception().code == "TX_DUPLICATE"
    finally:
        for t in tasks:
            t.cancel()


async def test_an_honest_copy_survives_the_cancelled_batch_of_a_front_running_peer():
    """A hostile peer forwards an honest tx first, then gets itself penalised: its batches are
    cancelled (ForwardedTxs.forget). The honest peer's copy, waiting for that batch, is then
    checked and pooled on its own, in its link's order."""
    e, gate = _gated_env()
    z, after = e.tx(ALICE), e.tx(BOB)
    hostile = asyncio.create_task(e.mp.add_batch([z], "peer-x"))
    await _settle(lambda: len(gate.jobs) == 1)
    honest = asyncio.create_task(e.mp.add_batch([z, after], "peer-h"))
    await _settle(lambda: len(gate.jobs) == 2)
    hostile.cancel()
    await _settle(lambda: hostile.done())
    await _finish_all(gate, lambda: honest.done())
    assert honest.done() and _codes(await honest) == [None, None]
    assert e.mp.pending() == [z, after]
    assert e.mp.admitting(z.hash) is None and e.mp.ordered_sources() == 0


async def test_one_tx_from_two_links_and_a_client_at_once_is_pooled_once_verified_once():
    e, gate = _gated_env()
    y = e.tx(CAROL)
    p = asyncio.create_task(e.mp.add_batch([e.tx(ALICE), y], "peer-p"))
    q = asyncio.create_task(e.mp.add_batch([y, e.tx(BOB)], "peer-q"))
    client = asyncio.create_task(e.mp.add(y))
    tasks = [p, q, client]
    await _finish_all(gate, lambda: all(t.done() for t in tasks))
    assert all(t.done() for t in tasks)
    out_p, out_q = _codes(await p), _codes(await q)
    assert out_p == [None, None] and out_q == ["TX_DUPLICATE", None]
    assert client.exception().code == "TX_DUPLICATE"
    assert len(e.mp) == 3 and e.mp.pending()[1] is y
    assert len(gate.jobs) == 3  # y verified once: its copies waited, then found it pooled
    assert e.mp.admitting(y.hash) is None and e.mp.ordered_sources() == 0
